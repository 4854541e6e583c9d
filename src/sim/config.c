/*
 * config.c -- the retail world's JSON config: the built-in default and a strict validating
 * parser.
 *
 * Every object is checked against the list of keys it may hold, every value against its type and
 * range, and every name a rule or event refers to against what the config declares. Errors name
 * the JSON path of the offending field ("catalog.brands[2].tier: ..."), so a user can fix a
 * config from the message alone. Counts (customers, items, list lengths) are checked against the
 * limits in agentrec/world.h while parsing, before the world allocates anything.
 */
#include "sim/world_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const ar__world_tier_names[N_TIERS] = {"luxury", "premium", "contemporary"};

/* The default world: 10,000 customers and 3,000 items of 12 brands over three tiers. Its
 * behaviour parameters are calibrated to fashion e-commerce figures (docs/world.md). */
static const char default_json[] =
    "{\n"
    "  \"name\": \"default\",\n"
    "  \"seed\": 1,\n"
    "  \"days\": 90,\n"
    "  \"start_time\": 1735689600,\n"
    "  \"customers\": 10000,\n"
    "  \"items\": 3000,\n"
    "  \"slate_size\": 10,\n"
    "  \"style_dims\": 8,\n"
    "  \"catalog\": {\n"
    "    \"brands\": [\n"
    "      {\"name\": \"Maison Aurel\", \"tier\": \"luxury\", \"exclusivity\": 0.3, \"share\": "
    "0.07},\n"
    "      {\"name\": \"Castellane\", \"tier\": \"luxury\", \"exclusivity\": 0.25, \"share\": "
    "0.07},\n"
    "      {\"name\": \"Orsini\", \"tier\": \"luxury\", \"exclusivity\": 0.2, \"share\": 0.07},\n"
    "      {\"name\": \"Halden\", \"tier\": \"luxury\", \"exclusivity\": 0.15, \"share\": 0.07},\n"
    "      {\"name\": \"Lindqvist\", \"tier\": \"premium\", \"exclusivity\": 0.05, \"share\": "
    "0.08},\n"
    "      {\"name\": \"Marlow & Finch\", \"tier\": \"premium\", \"exclusivity\": 0.05, \"share\": "
    "0.08},\n"
    "      {\"name\": \"Severin\", \"tier\": \"premium\", \"exclusivity\": 0.0, \"share\": 0.08},\n"
    "      {\"name\": \"Atelier Nord\", \"tier\": \"premium\", \"exclusivity\": 0.0, \"share\": "
    "0.08},\n"
    "      {\"name\": \"Kite\", \"tier\": \"contemporary\", \"exclusivity\": 0.0, \"share\": "
    "0.1},\n"
    "      {\"name\": \"Juno Street\", \"tier\": \"contemporary\", \"exclusivity\": 0.0, "
    "\"share\": "
    "0.1},\n"
    "      {\"name\": \"Alder\", \"tier\": \"contemporary\", \"exclusivity\": 0.0, \"share\": "
    "0.1},\n"
    "      {\"name\": \"Basque\", \"tier\": \"contemporary\", \"exclusivity\": 0.0, \"share\": "
    "0.1}\n"
    "    ],\n"
    "    \"categories\": [\n"
    "      {\"name\": \"bags\", \"price_factor\": 1.6, \"share\": 0.18},\n"
    "      {\"name\": \"shoes\", \"price_factor\": 1.0, \"share\": 0.18},\n"
    "      {\"name\": \"ready-to-wear\", \"price_factor\": 1.0, \"share\": 0.34},\n"
    "      {\"name\": \"jewellery\", \"price_factor\": 1.4, \"share\": 0.1},\n"
    "      {\"name\": \"accessories\", \"price_factor\": 0.45, \"share\": 0.2}\n"
    "    ],\n"
    "    \"tiers\": {\n"
    "      \"luxury\": {\"price_median\": 1400, \"price_sigma\": 0.55, \"margin\": 0.68},\n"
    "      \"premium\": {\"price_median\": 380, \"price_sigma\": 0.5, \"margin\": 0.58},\n"
    "      \"contemporary\": {\"price_median\": 120, \"price_sigma\": 0.45, \"margin\": 0.5}\n"
    "    },\n"
    "    \"collections\": [\n"
    "      {\"name\": \"core\", \"launch_day\": -400, \"share\": 0.55},\n"
    "      {\"name\": \"FW24\", \"launch_day\": -90, \"share\": 0.25},\n"
    "      {\"name\": \"SS25\", \"launch_day\": -10, \"share\": 0.1},\n"
    "      {\"name\": \"Resort25\", \"launch_day\": 30, \"share\": 0.1}\n"
    "    ],\n"
    "    \"colours\": [\"black\", \"white\", \"beige\", \"navy\", \"red\", \"green\", \"brown\", "
    "\"grey\"],\n"
    "    \"materials\": [\"leather\", \"silk\", \"cotton\", \"wool\", \"cashmere\", \"canvas\"],\n"
    "    \"lines_per_brand\": 4,\n"
    "    \"stock_mean\": 40,\n"
    "    \"markdown_share\": 0.08,\n"
    "    \"markdown\": 0.3,\n"
    "    \"brand_coherence\": 0.8,\n"
    "    \"collection_coherence\": 0.5,\n"
    "    \"quality_sigma\": 1.0\n"
    "  },\n"
    "  \"segments\": [\n"
    "    {\"name\": \"new\", \"share\": 0.55, \"visits_per_day\": 0.04, \"budget_median\": 250, "
    "\"budget_sigma\": 0.8, \"loyalty\": 0.1},\n"
    "    {\"name\": \"regular\", \"share\": 0.38, \"visits_per_day\": 0.1, \"budget_median\": 600, "
    "\"budget_sigma\": 0.7, \"loyalty\": 0.3},\n"
    "    {\"name\": \"vic\", \"share\": 0.07, \"visits_per_day\": 0.3, \"budget_median\": 3000, "
    "\"budget_sigma\": 0.6, \"loyalty\": 0.6}\n"
    "  ],\n"
    "  \"regions\": [\"EU\", \"UK\", \"US\", \"APAC\", \"ME\"],\n"
    "  \"customers_taste\": {\"brand_sigma\": 0.6, \"category_sigma\": 0.5},\n"
    "  \"behaviour\": {\n"
    "    \"position_model\": \"pbm\",\n"
    "    \"position_decay\": 0.8,\n"
    "    \"cascade_continue\": 0.85,\n"
    "    \"cascade_stop_after_click\": 0.5,\n"
    "    \"click_base\": -5.4,\n"
    "    \"style_weight\": 2.0,\n"
    "    \"brand_weight\": 1.0,\n"
    "    \"category_weight\": 1.0,\n"
    "    \"quality_weight\": 1.0,\n"
    "    \"cart_base\": -3.0,\n"
    "    \"cart_affinity\": 0.3,\n"
    "    \"price_sensitivity\": 1.2,\n"
    "    \"purchase_given_cart\": 0.45,\n"
    "    \"fatigue\": 0.4,\n"
    "    \"taste_drift\": 0.02,\n"
    "    \"new_item_boost\": 0.4,\n"
    "    \"new_days\": 30\n"
    "  },\n"
    "  \"events\": [\n"
    "    {\"type\": \"trend\", \"day\": 20, \"duration_days\": 30, \"dim\": 2, \"lift\": 0.8},\n"
    "    {\"type\": \"promotion\", \"day\": 60, \"duration_days\": 7, \"category\": "
    "\"accessories\", \"discount\": 0.2}\n"
    "  ],\n"
    "  \"guardrails\": [\n"
    "    {\"type\": \"max_per_brand\", \"max\": 3},\n"
    "    {\"type\": \"never_adjacent\", \"brands\": [\"Maison Aurel\", \"Kite\"]},\n"
    "    {\"type\": \"exclusive_segment\", \"segment\": \"vic\"},\n"
    "    {\"type\": \"no_discount_top\", \"tier\": \"luxury\", \"top\": 3}\n"
    "  ]\n"
    "}\n";

const char *ar_world_config_default_json(void) {
    return default_json;
}

/* -- Validation helpers ---------------------------------------------------------------------- */

typedef struct jpath {
    char s[256];
} jpath;

/* Paths are at most a few levels deep; a longer one is cut short (still NUL-terminated). */
static jpath child(const jpath *p, const char *key) {
    jpath c;
    int n = p->s[0] ? snprintf(c.s, sizeof c.s, "%s.%s", p->s, key)
                    : snprintf(c.s, sizeof c.s, "%s", key);
    if (n < 0)
        c.s[0] = 0;
    return c;
}

static jpath elem(const jpath *p, size_t i) {
    jpath c;
    if (snprintf(c.s, sizeof c.s, "%s[%zu]", p->s, i) < 0)
        c.s[0] = 0;
    return c;
}

static const char *where(const jpath *p) {
    return p->s[0] ? p->s : "(top level)";
}

static ar_status check_keys(json_t *obj, const jpath *p, const char *const *allowed,
                            ar_error *err) {
    if (!json_is_object(obj))
        return ar__fail(err, AR_EPARSE, "%s: expected an object", where(p));
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, key) == 0;
        if (!ok) {
            jpath c = child(p, key);
            char list[512] = "";
            size_t len = 0;
            for (const char *const *a = allowed; *a && len < sizeof list - 64; a++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                        a == allowed ? "" : ", ", *a);
            return ar__fail(err, AR_EPARSE, "%s: unknown key (expected one of %s)", c.s, list);
        }
    }
    return AR_OK;
}

/* Reads a number in [lo, hi] into *out; absent keys keep *out unless required. */
static ar_status get_num(json_t *obj, const jpath *p, const char *key, double lo, double hi,
                         int required, double *out, ar_error *err) {
    json_t *v = json_object_get(obj, key);
    jpath c = child(p, key);
    if (!v)
        return required ? ar__fail(err, AR_EPARSE, "%s: missing", c.s) : AR_OK;
    if (!json_is_number(v))
        return ar__fail(err, AR_EPARSE, "%s: expected a number", c.s);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) {
        if (lo == 0 && hi == 1)
            return ar__fail(err, AR_ERANGE, "%s: a probability must be in [0, 1] (got %g)", c.s, x);
        if (hi >= 1e300)
            return ar__fail(err, AR_ERANGE, "%s: must be >= %g (got %g)", c.s, lo, x);
        return ar__fail(err, AR_ERANGE, "%s: must be in [%g, %g] (got %g)", c.s, lo, hi, x);
    }
    *out = x;
    return AR_OK;
}

static ar_status get_pos(json_t *obj, const jpath *p, const char *key, int required, double *out,
                         ar_error *err) {
    json_t *v = json_object_get(obj, key);
    if (v && json_is_number(v) && !(json_number_value(v) > 0)) {
        jpath c = child(p, key);
        return ar__fail(err, AR_ERANGE, "%s: must be > 0 (got %g)", c.s, json_number_value(v));
    }
    return get_num(obj, p, key, 0, 1e300, required, out, err);
}

static ar_status get_int(json_t *obj, const jpath *p, const char *key, int64_t lo, int64_t hi,
                         int required, int64_t *out, ar_error *err) {
    json_t *v = json_object_get(obj, key);
    jpath c = child(p, key);
    if (!v)
        return required ? ar__fail(err, AR_EPARSE, "%s: missing", c.s) : AR_OK;
    if (!json_is_integer(v))
        return ar__fail(err, AR_EPARSE, "%s: expected an integer", c.s);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ar__fail(err, AR_ERANGE, "%s: must be in [%lld, %lld] (got %lld)", c.s,
                        (long long)lo, (long long)hi, (long long)x);
    *out = x;
    return AR_OK;
}

static ar_status get_int32(json_t *obj, const jpath *p, const char *key, int64_t lo, int64_t hi,
                           int required, int *out, ar_error *err) {
    int64_t x = *out;
    ar_status st = get_int(obj, p, key, lo, hi, required, &x, err);
    if (!st)
        *out = (int)x;
    return st;
}

static ar_status as_string(json_t *v, const jpath *c, char *buf, ar_error *err) {
    if (!json_is_string(v))
        return ar__fail(err, AR_EPARSE, "%s: expected a string", c->s);
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0 || n >= W_NAME)
        return ar__fail(err, AR_ERANGE, "%s: names are 1 to %d bytes (got %zu)", c->s, W_NAME - 1,
                        n);
    memcpy(buf, s, n + 1);
    return AR_OK;
}

static ar_status get_str(json_t *obj, const jpath *p, const char *key, int required, char *buf,
                         ar_error *err) {
    json_t *v = json_object_get(obj, key);
    jpath c = child(p, key);
    if (!v)
        return required ? ar__fail(err, AR_EPARSE, "%s: missing", c.s) : AR_OK;
    return as_string(v, &c, buf, err);
}

/* Looks a string value up in a table of names (stride bytes apart); *out = index or -1 when the
 * key is absent and optional. `what` names the kind of thing for the message. */
static ar_status get_ref(json_t *obj, const jpath *p, const char *key, const char *table,
                         size_t stride, int n, const char *what, int required, int *out,
                         ar_error *err) {
    char name[W_NAME];
    json_t *v = json_object_get(obj, key);
    jpath c = child(p, key);
    if (!v) {
        if (required)
            return ar__fail(err, AR_EPARSE, "%s: missing", c.s);
        *out = -1;
        return AR_OK;
    }
    ar_status st = as_string(v, &c, name, err);
    if (st)
        return st;
    for (int i = 0; i < n; i++)
        if (strcmp(table + (size_t)i * stride, name) == 0) {
            *out = i;
            return AR_OK;
        }
    return ar__fail(err, AR_EPARSE, "%s: unknown %s '%s'", c.s, what, name);
}

static ar_status get_enum(json_t *obj, const jpath *p, const char *key, const char *const *names,
                          int n, int required, int *out, ar_error *err) {
    json_t *v = json_object_get(obj, key);
    jpath c = child(p, key);
    if (!v)
        return required ? ar__fail(err, AR_EPARSE, "%s: missing", c.s) : AR_OK;
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    if (json_is_string(v))
        for (int i = 0; i < n; i++)
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return AR_OK;
            }
    return ar__fail(err, AR_EPARSE, "%s: expected one of %s", c.s, list);
}

/* An array of at most max elements; *n gets its length (0 when absent and optional). */
static ar_status get_array(json_t *obj, const jpath *p, const char *key, size_t min, size_t max,
                           int required, json_t **arr, ar_error *err) {
    json_t *v = json_object_get(obj, key);
    jpath c = child(p, key);
    *arr = NULL;
    if (!v)
        return required ? ar__fail(err, AR_EPARSE, "%s: missing", c.s) : AR_OK;
    if (!json_is_array(v))
        return ar__fail(err, AR_EPARSE, "%s: expected an array", c.s);
    size_t n = json_array_size(v);
    if (n < min || n > max)
        return ar__fail(err, AR_ERANGE, "%s: expected %zu to %zu entries (got %zu)", c.s, min, max,
                        n);
    *arr = v;
    return AR_OK;
}

static ar_status unique_names(const char *table, size_t stride, int n, const jpath *p,
                              ar_error *err) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(table + (size_t)i * stride, table + (size_t)j * stride) == 0) {
                jpath c = elem(p, (size_t)i);
                return ar__fail(err, AR_EDUP, "%s: duplicate name '%s'", c.s,
                                table + (size_t)i * stride);
            }
    return AR_OK;
}

static ar_status string_list(json_t *obj, const jpath *p, const char *key, size_t max,
                             char (*out)[W_NAME], int *n, ar_error *err) {
    json_t *arr;
    ar_status st = get_array(obj, p, key, 1, max, 0, &arr, err);
    if (st || !arr)
        return st;
    jpath c = child(p, key);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        jpath e = elem(&c, i);
        if ((st = as_string(json_array_get(arr, i), &e, out[i], err)))
            return st;
    }
    *n = (int)json_array_size(arr);
    return unique_names(out[0], W_NAME, *n, &c, err);
}

/* -- The sections ------------------------------------------------------------------------------ */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        ar_status st_ = (x);                                                                       \
        if (st_)                                                                                   \
            return st_;                                                                            \
    } while (0)

static ar_status parse_catalog(json_t *o, const jpath *p, ar_world_config *c, ar_error *err) {
    static const char *const keys[] = {
        "brands",         "categories", "tiers",           "collections",
        "colours",        "materials",  "lines_per_brand", "stock_mean",
        "markdown_share", "markdown",   "brand_coherence", "collection_coherence",
        "quality_sigma",  NULL};
    TRY(check_keys(o, p, keys, err));
    json_t *arr;
    jpath ap = child(p, "brands");
    TRY(get_array(o, p, "brands", 1, AR_WORLD_MAX_BRANDS, 1, &arr, err));
    c->n_brands = (int)json_array_size(arr);
    for (int i = 0; i < c->n_brands; i++) {
        static const char *const bk[] = {"name", "tier", "exclusivity", "share", NULL};
        json_t *b = json_array_get(arr, (size_t)i);
        jpath e = elem(&ap, (size_t)i);
        wbrand *br = &c->brands[i];
        br->share = 1;
        br->exclusivity = 0;
        TRY(check_keys(b, &e, bk, err));
        TRY(get_str(b, &e, "name", 1, br->name, err));
        TRY(get_enum(b, &e, "tier", ar__world_tier_names, N_TIERS, 1, &br->tier, err));
        TRY(get_num(b, &e, "exclusivity", 0, 1, 0, &br->exclusivity, err));
        TRY(get_pos(b, &e, "share", 0, &br->share, err));
    }
    TRY(unique_names(c->brands[0].name, sizeof(wbrand), c->n_brands, &ap, err));

    ap = child(p, "categories");
    TRY(get_array(o, p, "categories", 1, AR_WORLD_MAX_CATEGORIES, 1, &arr, err));
    c->n_categories = (int)json_array_size(arr);
    for (int i = 0; i < c->n_categories; i++) {
        static const char *const ck[] = {"name", "price_factor", "share", NULL};
        json_t *b = json_array_get(arr, (size_t)i);
        jpath e = elem(&ap, (size_t)i);
        wcategory *ca = &c->categories[i];
        ca->share = 1;
        ca->price_factor = 1;
        TRY(check_keys(b, &e, ck, err));
        TRY(get_str(b, &e, "name", 1, ca->name, err));
        TRY(get_pos(b, &e, "price_factor", 0, &ca->price_factor, err));
        TRY(get_pos(b, &e, "share", 0, &ca->share, err));
    }
    TRY(unique_names(c->categories[0].name, sizeof(wcategory), c->n_categories, &ap, err));

    json_t *tiers = json_object_get(o, "tiers");
    if (tiers) {
        jpath tp = child(p, "tiers");
        static const char *const tk[] = {"luxury", "premium", "contemporary", NULL};
        TRY(check_keys(tiers, &tp, tk, err));
        for (int t = 0; t < N_TIERS; t++) {
            json_t *x = json_object_get(tiers, ar__world_tier_names[t]);
            if (!x)
                continue;
            static const char *const xk[] = {"price_median", "price_sigma", "margin", NULL};
            jpath e = child(&tp, ar__world_tier_names[t]);
            TRY(check_keys(x, &e, xk, err));
            TRY(get_pos(x, &e, "price_median", 0, &c->tiers[t].price_median, err));
            TRY(get_num(x, &e, "price_sigma", 0, 3, 0, &c->tiers[t].price_sigma, err));
            TRY(get_num(x, &e, "margin", 0, 1, 0, &c->tiers[t].margin, err));
        }
    }

    ap = child(p, "collections");
    TRY(get_array(o, p, "collections", 1, AR_WORLD_MAX_COLLECTIONS, 1, &arr, err));
    c->n_collections = (int)json_array_size(arr);
    for (int i = 0; i < c->n_collections; i++) {
        static const char *const ck[] = {"name", "launch_day", "share", NULL};
        json_t *b = json_array_get(arr, (size_t)i);
        jpath e = elem(&ap, (size_t)i);
        wcollection *co = &c->collections[i];
        co->share = 1;
        co->launch_day = 0;
        TRY(check_keys(b, &e, ck, err));
        TRY(get_str(b, &e, "name", 1, co->name, err));
        TRY(get_int32(b, &e, "launch_day", -AR_WORLD_MAX_DAYS, AR_WORLD_MAX_DAYS, 0,
                      &co->launch_day, err));
        TRY(get_pos(b, &e, "share", 0, &co->share, err));
    }
    TRY(unique_names(c->collections[0].name, sizeof(wcollection), c->n_collections, &ap, err));

    TRY(string_list(o, p, "colours", W_MAX_ATTR_VALUES, c->colours, &c->n_colours, err));
    TRY(string_list(o, p, "materials", W_MAX_ATTR_VALUES, c->materials, &c->n_materials, err));
    TRY(get_int32(o, p, "lines_per_brand", 1, 26, 0, &c->lines_per_brand, err));
    TRY(get_num(o, p, "stock_mean", 1, 1e6, 0, &c->stock_mean, err));
    TRY(get_num(o, p, "markdown_share", 0, 1, 0, &c->markdown_share, err));
    TRY(get_num(o, p, "markdown", 0, 1, 0, &c->markdown, err));
    TRY(get_num(o, p, "brand_coherence", 0, 10, 0, &c->brand_coherence, err));
    TRY(get_num(o, p, "collection_coherence", 0, 10, 0, &c->collection_coherence, err));
    TRY(get_num(o, p, "quality_sigma", 0, 5, 0, &c->quality_sigma, err));
    return AR_OK;
}

static ar_status parse_segments(json_t *o, const jpath *top, ar_world_config *c, ar_error *err) {
    json_t *arr;
    jpath ap = child(top, "segments");
    TRY(get_array(o, top, "segments", 1, AR_WORLD_MAX_SEGMENTS, 1, &arr, err));
    c->n_segments = (int)json_array_size(arr);
    for (int i = 0; i < c->n_segments; i++) {
        static const char *const sk[] = {
            "name", "share", "visits_per_day", "budget_median", "budget_sigma", "loyalty", NULL};
        json_t *b = json_array_get(arr, (size_t)i);
        jpath e = elem(&ap, (size_t)i);
        wsegment *s = &c->segments[i];
        s->share = 1;
        s->visits_per_day = 0.1;
        s->budget_median = 500;
        s->budget_sigma = 0.7;
        s->loyalty = 0.3;
        TRY(check_keys(b, &e, sk, err));
        TRY(get_str(b, &e, "name", 1, s->name, err));
        TRY(get_pos(b, &e, "share", 0, &s->share, err));
        TRY(get_num(b, &e, "visits_per_day", 0, 1, 0, &s->visits_per_day, err));
        TRY(get_pos(b, &e, "budget_median", 0, &s->budget_median, err));
        TRY(get_num(b, &e, "budget_sigma", 0, 3, 0, &s->budget_sigma, err));
        TRY(get_num(b, &e, "loyalty", 0, 1, 0, &s->loyalty, err));
    }
    return unique_names(c->segments[0].name, sizeof(wsegment), c->n_segments, &ap, err);
}

static ar_status parse_behaviour(json_t *o, const jpath *p, ar_world_config *c, ar_error *err) {
    static const char *const keys[] = {"position_model",
                                       "position_decay",
                                       "cascade_continue",
                                       "cascade_stop_after_click",
                                       "click_base",
                                       "style_weight",
                                       "brand_weight",
                                       "category_weight",
                                       "quality_weight",
                                       "cart_base",
                                       "cart_affinity",
                                       "price_sensitivity",
                                       "purchase_given_cart",
                                       "fatigue",
                                       "taste_drift",
                                       "new_item_boost",
                                       "new_days",
                                       NULL};
    static const char *const models[] = {"pbm", "cascade"};
    wbehaviour *b = &c->b;
    TRY(check_keys(o, p, keys, err));
    TRY(get_enum(o, p, "position_model", models, 2, 0, &b->position_model, err));
    TRY(get_num(o, p, "position_decay", 0, 10, 0, &b->position_decay, err));
    TRY(get_num(o, p, "cascade_continue", 0, 1, 0, &b->cascade_continue, err));
    TRY(get_num(o, p, "cascade_stop_after_click", 0, 1, 0, &b->cascade_stop_after_click, err));
    TRY(get_num(o, p, "click_base", -20, 20, 0, &b->click_base, err));
    TRY(get_num(o, p, "style_weight", -20, 20, 0, &b->style_weight, err));
    TRY(get_num(o, p, "brand_weight", -20, 20, 0, &b->brand_weight, err));
    TRY(get_num(o, p, "category_weight", -20, 20, 0, &b->category_weight, err));
    TRY(get_num(o, p, "quality_weight", -20, 20, 0, &b->quality_weight, err));
    TRY(get_num(o, p, "cart_base", -20, 20, 0, &b->cart_base, err));
    TRY(get_num(o, p, "cart_affinity", -20, 20, 0, &b->cart_affinity, err));
    TRY(get_num(o, p, "price_sensitivity", 0, 20, 0, &b->price_sensitivity, err));
    TRY(get_num(o, p, "purchase_given_cart", 0, 1, 0, &b->purchase_given_cart, err));
    TRY(get_num(o, p, "fatigue", 0, 20, 0, &b->fatigue, err));
    TRY(get_num(o, p, "taste_drift", 0, 1, 0, &b->taste_drift, err));
    TRY(get_num(o, p, "new_item_boost", -20, 20, 0, &b->new_item_boost, err));
    TRY(get_int32(o, p, "new_days", 0, AR_WORLD_MAX_DAYS, 0, &b->new_days, err));
    return AR_OK;
}

static ar_status parse_events(json_t *arr, const jpath *ap, ar_world_config *c, ar_error *err) {
    static const char *const types[] = {"taste_shift", "trend", "promotion"};
    static const char *const keys[3][9] = {
        {"type", "day", "ramp_days", "toward_collection", "strength", NULL},
        {"type", "day", "duration_days", "dim", "lift", NULL},
        {"type", "day", "duration_days", "brand", "category", "tier", "discount", NULL},
    };
    c->n_events = (int)json_array_size(arr);
    for (int i = 0; i < c->n_events; i++) {
        json_t *o = json_array_get(arr, (size_t)i);
        jpath e = elem(ap, (size_t)i);
        wevent *ev = &c->events[i];
        memset(ev, 0, sizeof *ev);
        ev->brand = ev->category = ev->tier = ev->collection = -1;
        ev->duration = 7;
        ev->ramp = 14;
        ev->strength = 0.5;
        if (!json_is_object(o))
            return ar__fail(err, AR_EPARSE, "%s: expected an object", e.s);
        TRY(get_enum(o, &e, "type", types, 3, 1, &ev->type, err));
        TRY(check_keys(o, &e, keys[ev->type], err));
        TRY(get_int32(o, &e, "day", -AR_WORLD_MAX_DAYS, AR_WORLD_MAX_DAYS, 1, &ev->day, err));
        switch (ev->type) {
        case EV_TASTE_SHIFT:
            TRY(get_int32(o, &e, "ramp_days", 0, AR_WORLD_MAX_DAYS, 0, &ev->ramp, err));
            TRY(get_ref(o, &e, "toward_collection", c->collections[0].name, sizeof(wcollection),
                        c->n_collections, "collection", 1, &ev->collection, err));
            TRY(get_num(o, &e, "strength", 0, 10, 0, &ev->strength, err));
            break;
        case EV_TREND:
            TRY(get_int32(o, &e, "duration_days", 1, AR_WORLD_MAX_DAYS, 0, &ev->duration, err));
            TRY(get_int32(o, &e, "dim", 0, c->dims - 1, 1, &ev->dim, err));
            TRY(get_num(o, &e, "lift", -10, 10, 0, &ev->strength, err));
            break;
        default:
            ev->discount = 0.2;
            TRY(get_int32(o, &e, "duration_days", 1, AR_WORLD_MAX_DAYS, 0, &ev->duration, err));
            TRY(get_ref(o, &e, "brand", c->brands[0].name, sizeof(wbrand), c->n_brands, "brand", 0,
                        &ev->brand, err));
            TRY(get_ref(o, &e, "category", c->categories[0].name, sizeof(wcategory),
                        c->n_categories, "category", 0, &ev->category, err));
            if (json_object_get(o, "tier"))
                TRY(get_enum(o, &e, "tier", ar__world_tier_names, N_TIERS, 0, &ev->tier, err));
            TRY(get_num(o, &e, "discount", 0, 1, 0, &ev->discount, err));
        }
    }
    return AR_OK;
}

static ar_status parse_rules(json_t *arr, const jpath *ap, ar_world_config *c, ar_error *err) {
    static const char *const kinds[] = {"max_per_brand", "never_adjacent", "exclusive_segment",
                                        "no_discount_top"};
    static const char *const keys[4][5] = {
        {"type", "max", "brand", NULL},
        {"type", "brands", NULL},
        {"type", "segment", "brand", NULL},
        {"type", "top", "brand", "tier", NULL},
    };
    c->n_rules = (int)json_array_size(arr);
    for (int i = 0; i < c->n_rules; i++) {
        json_t *o = json_array_get(arr, (size_t)i);
        jpath e = elem(ap, (size_t)i);
        wrule *r = &c->rules[i];
        memset(r, 0, sizeof *r);
        r->brand = r->brand2 = r->tier = r->segment = -1;
        if (!json_is_object(o))
            return ar__fail(err, AR_EPARSE, "%s: expected an object", e.s);
        TRY(get_enum(o, &e, "type", kinds, 4, 1, &r->kind, err));
        TRY(check_keys(o, &e, keys[r->kind], err));
        switch (r->kind) {
        case RULE_MAX_PER_BRAND:
            TRY(get_int32(o, &e, "max", 1, AR_WORLD_MAX_SLATE, 1, &r->max, err));
            TRY(get_ref(o, &e, "brand", c->brands[0].name, sizeof(wbrand), c->n_brands, "brand", 0,
                        &r->brand, err));
            break;
        case RULE_NEVER_ADJACENT: {
            json_t *b;
            jpath bp = child(&e, "brands");
            TRY(get_array(o, &e, "brands", 2, 2, 1, &b, err));
            int idx[2];
            for (int k = 0; k < 2; k++) {
                jpath kp = elem(&bp, (size_t)k);
                char name[W_NAME];
                TRY(as_string(json_array_get(b, (size_t)k), &kp, name, err));
                idx[k] = -1;
                for (int j = 0; j < c->n_brands; j++)
                    if (strcmp(c->brands[j].name, name) == 0)
                        idx[k] = j;
                if (idx[k] < 0)
                    return ar__fail(err, AR_EPARSE, "%s: unknown brand '%s'", kp.s, name);
            }
            if (idx[0] == idx[1])
                return ar__fail(err, AR_EINVAL, "%s: the two brands must differ", bp.s);
            r->brand = idx[0];
            r->brand2 = idx[1];
            break;
        }
        case RULE_EXCLUSIVE_SEGMENT:
            TRY(get_ref(o, &e, "segment", c->segments[0].name, sizeof(wsegment), c->n_segments,
                        "segment", 1, &r->segment, err));
            TRY(get_ref(o, &e, "brand", c->brands[0].name, sizeof(wbrand), c->n_brands, "brand", 0,
                        &r->brand, err));
            break;
        default:
            TRY(get_int32(o, &e, "top", 1, AR_WORLD_MAX_SLATE, 1, &r->top, err));
            TRY(get_ref(o, &e, "brand", c->brands[0].name, sizeof(wbrand), c->n_brands, "brand", 0,
                        &r->brand, err));
            if (json_object_get(o, "tier"))
                TRY(get_enum(o, &e, "tier", ar__world_tier_names, N_TIERS, 0, &r->tier, err));
            if ((r->brand < 0) == (r->tier < 0))
                return ar__fail(err, AR_EPARSE, "%s: name exactly one of brand or tier", e.s);
        }
    }
    return AR_OK;
}

static void set_defaults(ar_world_config *c) {
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->days = 90;
    c->start_time = 1735689600; /* 2025-01-01 00:00 UTC */
    c->customers = 10000;
    c->items = 3000;
    c->slate_size = 10;
    c->dims = 8;
    const wtier tiers[N_TIERS] = {{1400, 0.55, 0.68}, {380, 0.5, 0.58}, {120, 0.45, 0.5}};
    memcpy(c->tiers, tiers, sizeof tiers);
    c->lines_per_brand = 4;
    c->stock_mean = 40;
    c->markdown_share = 0.08;
    c->markdown = 0.3;
    c->brand_coherence = 0.8;
    c->collection_coherence = 0.5;
    c->quality_sigma = 1.0;
    c->brand_sigma = 0.6;
    c->category_sigma = 0.5;
    static const char *const colours[] = {"black", "white", "beige", "navy"};
    static const char *const materials[] = {"leather", "cotton", "wool"};
    c->n_colours = 4;
    c->n_materials = 3;
    for (int i = 0; i < 4; i++)
        snprintf(c->colours[i], W_NAME, "%s", colours[i]);
    for (int i = 0; i < 3; i++)
        snprintf(c->materials[i], W_NAME, "%s", materials[i]);
    c->n_regions = 1;
    snprintf(c->regions[0], W_NAME, "EU");
    wbehaviour *b = &c->b;
    b->position_model = POS_PBM;
    b->position_decay = 0.8;
    b->cascade_continue = 0.85;
    b->cascade_stop_after_click = 0.5;
    b->click_base = -5.4;
    b->style_weight = 2.0;
    b->brand_weight = 1.0;
    b->category_weight = 1.0;
    b->quality_weight = 1.0;
    b->cart_base = -3.0;
    b->cart_affinity = 0.3;
    b->price_sensitivity = 1.2;
    b->purchase_given_cart = 0.45;
    b->fatigue = 0.4;
    b->taste_drift = 0.02;
    b->new_item_boost = 0.4;
    b->new_days = 30;
}

static ar_status parse_root(json_t *root, ar_world_config *c, ar_error *err) {
    static const char *const keys[] = {"name",      "seed",     "days",       "start_time",
                                       "customers", "items",    "slate_size", "style_dims",
                                       "catalog",   "segments", "regions",    "customers_taste",
                                       "behaviour", "events",   "guardrails", NULL};
    jpath top = {""};
    TRY(check_keys(root, &top, keys, err));
    char name[W_NAME];
    TRY(get_str(root, &top, "name", 0, name, err));
    int64_t x = (int64_t)c->seed;
    TRY(get_int(root, &top, "seed", 0, INT64_MAX, 0, &x, err));
    c->seed = (uint64_t)x;
    TRY(get_int32(root, &top, "days", 1, AR_WORLD_MAX_DAYS, 0, &c->days, err));
    TRY(get_int(root, &top, "start_time", 0, (int64_t)1 << 40, 0, &c->start_time, err));
    TRY(get_int32(root, &top, "customers", 1, AR_WORLD_MAX_CUSTOMERS, 0, &c->customers, err));
    TRY(get_int32(root, &top, "items", 1, AR_WORLD_MAX_ITEMS, 0, &c->items, err));
    TRY(get_int32(root, &top, "slate_size", 1, AR_WORLD_MAX_SLATE, 0, &c->slate_size, err));
    TRY(get_int32(root, &top, "style_dims", 2, AR_WORLD_MAX_DIMS, 0, &c->dims, err));
    jpath p = child(&top, "catalog");
    json_t *cat = json_object_get(root, "catalog");
    if (!cat)
        return ar__fail(err, AR_EPARSE, "catalog: missing");
    TRY(parse_catalog(cat, &p, c, err));
    TRY(parse_segments(root, &top, c, err));
    TRY(string_list(root, &top, "regions", AR_WORLD_MAX_REGIONS, c->regions, &c->n_regions, err));
    json_t *ct = json_object_get(root, "customers_taste");
    if (ct) {
        static const char *const tk[] = {"brand_sigma", "category_sigma", NULL};
        p = child(&top, "customers_taste");
        TRY(check_keys(ct, &p, tk, err));
        TRY(get_num(ct, &p, "brand_sigma", 0, 10, 0, &c->brand_sigma, err));
        TRY(get_num(ct, &p, "category_sigma", 0, 10, 0, &c->category_sigma, err));
    }
    json_t *b = json_object_get(root, "behaviour");
    if (b) {
        p = child(&top, "behaviour");
        TRY(parse_behaviour(b, &p, c, err));
    }
    json_t *arr;
    TRY(get_array(root, &top, "events", 0, AR_WORLD_MAX_EVENTS, 0, &arr, err));
    if (arr) {
        p = child(&top, "events");
        TRY(parse_events(arr, &p, c, err));
    }
    TRY(get_array(root, &top, "guardrails", 0, AR_WORLD_MAX_RULES, 0, &arr, err));
    if (arr) {
        p = child(&top, "guardrails");
        TRY(parse_rules(arr, &p, c, err));
    }
    return AR_OK;
}

ar_status ar_world_config_parse(const char *json, size_t len, ar_world_config **out,
                                ar_error *err) {
    *out = NULL;
    if (!json) {
        json = default_json;
        len = sizeof default_json - 1;
    }
    if (len > AR_WORLD_MAX_CONFIG_BYTES)
        return ar__fail(err, AR_ERANGE, "config is %zu bytes; the limit is %u", len,
                        AR_WORLD_MAX_CONFIG_BYTES);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ar__fail(err, AR_EPARSE, "line %d, column %d: %s", je.line, je.column, je.text);
    ar_world_config *c = ar__malloc(sizeof *c);
    if (!c) {
        json_decref(root);
        return AR_ENOMEM;
    }
    set_defaults(c);
    ar_status st = parse_root(root, c, err);
    json_decref(root);
    if (st) {
        ar__free(c);
        return st;
    }
    *out = c;
    return AR_OK;
}

ar_status ar_world_config_load(const char *path, ar_world_config **out, ar_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ar__fail(err, AR_EIO, "%s: %s", path, strerror(errno));
    char *buf = ar__malloc(AR_WORLD_MAX_CONFIG_BYTES + 1);
    if (!buf) {
        fclose(f);
        return AR_ENOMEM;
    }
    size_t n = fread(buf, 1, AR_WORLD_MAX_CONFIG_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    ar_status st;
    if (bad)
        st = ar__fail(err, AR_EIO, "%s: read error", path);
    else if (n > AR_WORLD_MAX_CONFIG_BYTES)
        st = ar__fail(err, AR_ERANGE, "%s: config larger than %u bytes", path,
                      AR_WORLD_MAX_CONFIG_BYTES);
    else {
        ar_error inner;
        st = ar_world_config_parse(buf, n, out, &inner);
        if (st)
            ar__fail(err, st, "%s: %s", path, inner.msg);
    }
    ar__free(buf);
    return st;
}

void ar_world_config_free(ar_world_config *cfg) {
    ar__free(cfg);
}

uint64_t ar_world_config_seed(const ar_world_config *cfg) {
    return cfg->seed;
}

int ar_world_config_days(const ar_world_config *cfg) {
    return cfg->days;
}
