/*
 * world.c -- draws a retail world (catalogue and customers) from a config and a seed, and
 * implements the brand guardrails.
 *
 * Latent structure. Every brand and every collection has a unit style vector; an item's style is
 * the normalised sum brand_coherence * brand + collection_coherence * collection + noise, so a
 * brand has a recognisable "DNA" and a collection a look. Colour, material and line are coarse
 * quantisations of the first style coordinates: they reveal part of the latent style, as real
 * catalogue attributes do. Prices are log-normal around the tier's median times the category's
 * factor. A latent quality drives both the back-catalogue sales (the popularity prior, a
 * long-tailed log-normal) and, weakly, the click model.
 *
 * Customers get a segment, a region, a log-normal budget and visit rate, a unit taste vector,
 * brand affinities (one favourite brand boosted by the segment's loyalty) and category
 * affinities. Item d and customer c draw from RNG streams (seed, tag | d) and (seed, tag | c), so
 * the world does not depend on the thread count. Items are then sorted by launch time (stable),
 * so the launched items at any time are a prefix of the catalogue.
 */
#include "sim/world_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_ITEM (1ull << 56)
#define TAG_BRAND (2ull << 56)
#define TAG_COLL (3ull << 56)
#define TAG_CUSTOMER (4ull << 56)

static double normal(ar_rng *r) {
    double u1 = ar_rng_uniform(r), u2 = ar_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

static int pick(ar_rng *r, const double *w, int n, size_t stride) {
    double total = 0;
    for (int i = 0; i < n; i++)
        total += *(const double *)((const char *)w + (size_t)i * stride);
    double x = ar_rng_uniform(r) * total;
    for (int i = 0; i < n; i++) {
        x -= *(const double *)((const char *)w + (size_t)i * stride);
        if (x < 0)
            return i;
    }
    return n - 1;
}

static void unit_vector(ar_rng *r, float *v, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) {
        v[k] = (float)normal(r);
        s += (double)v[k] * v[k];
    }
    s = s > 0 ? 1.0 / sqrt(s) : 0;
    for (int k = 0; k < d; k++)
        v[k] = (float)(v[k] * s);
}

static int sector(double y, double x, int n) {
    double a = atan2(y, x) / 6.283185307179586 + 0.5; /* [0, 1] */
    int s = (int)(a * n);
    return s >= n ? n - 1 : s < 0 ? 0 : s;
}

/* Raw items before sorting by launch time. */
typedef struct raw_item {
    int64_t launch;
    int32_t draw;
} raw_item;

static int cmp_raw(const void *a, const void *b) {
    const raw_item *x = a, *y = b;
    if (x->launch != y->launch)
        return x->launch < y->launch ? -1 : 1;
    return (x->draw > y->draw) - (x->draw < y->draw);
}

void ar_world_free(ar_world *w) {
    if (!w)
        return;
    void *arrays[] = {w->brand,    w->category,  w->collection, w->colour,      w->material,
                      w->line,     w->exclusive, w->price,      w->margin,      w->markdown,
                      w->quality,  w->style,     w->prior,      w->stock,       w->launch,
                      w->item_ids, w->segment,   w->region,     w->budget,      w->rate,
                      w->taste,    w->brand_aff, w->cat_aff,    w->customer_ids};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        ar__free(arrays[i]);
    ar__free(w);
}

/* Item fields in draw order, permuted into launch order afterwards. */
typedef struct draw_item {
    int16_t brand, category, collection, colour, material, line;
    uint8_t exclusive;
    float price, margin, markdown, quality, prior;
    int32_t stock;
    int64_t launch;
} draw_item;

static void draw_one_item(const ar_world *w, int32_t d, draw_item *it, float *style) {
    const ar_world_config *c = &w->cfg;
    ar_rng r;
    ar_rng_stream(&r, w->seed, TAG_ITEM | (uint64_t)d);
    it->brand = (int16_t)pick(&r, &c->brands[0].share, c->n_brands, sizeof(wbrand));
    it->category = (int16_t)pick(&r, &c->categories[0].share, c->n_categories, sizeof(wcategory));
    it->collection =
        (int16_t)pick(&r, &c->collections[0].share, c->n_collections, sizeof(wcollection));
    const wbrand *b = &c->brands[it->brand];
    const wtier *t = &c->tiers[b->tier];
    int dims = w->dims;
    float noise[AR_WORLD_MAX_DIMS];
    unit_vector(&r, noise, dims);
    /* Brand and collection styles were drawn first (see ar_world_create): style = normalised
     * mix. The brand style lives in style[] of the brand table passed through coll_style's
     * neighbour; to keep this function pure we recompute it from its stream. */
    float bs[AR_WORLD_MAX_DIMS];
    ar_rng br;
    ar_rng_stream(&br, w->seed, TAG_BRAND | (uint64_t)it->brand);
    unit_vector(&br, bs, dims);
    double s = 0;
    for (int k = 0; k < dims; k++) {
        style[k] = (float)(c->brand_coherence * bs[k] +
                           c->collection_coherence * w->coll_style[it->collection][k] + noise[k]);
        s += (double)style[k] * style[k];
    }
    s = s > 0 ? 1.0 / sqrt(s) : 0;
    for (int k = 0; k < dims; k++)
        style[k] = (float)(style[k] * s);
    double price = t->price_median * c->categories[it->category].price_factor *
                   exp(t->price_sigma * normal(&r));
    it->price = (float)(price < 1 ? 1 : round(price));
    double m = t->margin + 0.05 * normal(&r);
    it->margin = (float)(m < 0.02 ? 0.02 : m > 0.95 ? 0.95 : m);
    double st = c->stock_mean * exp(0.5 * normal(&r) - 0.125);
    it->stock = (int32_t)(st < 1 ? 1 : st > 1e6 ? 1e6 : round(st));
    it->quality = (float)normal(&r);
    it->exclusive = ar_rng_uniform(&r) < b->exclusivity;
    it->markdown = ar_rng_uniform(&r) < c->markdown_share ? (float)c->markdown : 0.0f;
    int launch_day = c->collections[it->collection].launch_day;
    it->launch = c->start_time + (int64_t)launch_day * W_DAY;
    /* Back-catalogue sales: long-tailed in quality, growing with time on sale (capped at half a
     * year); items launched on or after day 0 start with none. */
    double age = launch_day < 0 ? -launch_day : 0;
    if (age > 180)
        age = 180;
    it->prior = (float)floor(2.0 * exp(1.5 * c->quality_sigma * it->quality) * age / 30.0);
    it->colour = (int16_t)sector(style[1], style[0], c->n_colours);
    it->material = (int16_t)sector(style[3 % dims], style[2 % dims], c->n_materials);
    int line = (int)((style[4 % dims] + 1.0) * 0.5 * c->lines_per_brand);
    it->line = (int16_t)(line < 0 ? 0 : line >= c->lines_per_brand ? c->lines_per_brand - 1 : line);
}

static ar_status draw_items(ar_world *w, int n_threads) {
    int32_t n = w->n_items;
    int dims = w->dims;
    draw_item *tmp = ar__alloc_array((size_t)n, sizeof *tmp);
    float *tstyle = ar__alloc_array((size_t)n * (size_t)dims, sizeof *tstyle);
    raw_item *order = ar__alloc_array((size_t)n, sizeof *order);
    ar_status st = AR_ENOMEM;
    if (!tmp || !tstyle || !order)
        goto done;
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int32_t d = 0; d < n; d++)
        draw_one_item(w, d, &tmp[d], tstyle + (size_t)d * dims);
    for (int32_t d = 0; d < n; d++) {
        order[d].launch = tmp[d].launch;
        order[d].draw = d;
    }
    qsort(order, (size_t)n, sizeof *order, cmp_raw);
    for (int32_t i = 0; i < n; i++) {
        const draw_item *it = &tmp[order[i].draw];
        w->brand[i] = it->brand;
        w->category[i] = it->category;
        w->collection[i] = it->collection;
        w->colour[i] = it->colour;
        w->material[i] = it->material;
        w->line[i] = it->line;
        w->exclusive[i] = it->exclusive;
        w->price[i] = it->price;
        w->margin[i] = it->margin;
        w->markdown[i] = it->markdown;
        w->quality[i] = it->quality;
        w->prior[i] = it->prior;
        w->stock[i] = it->stock;
        w->launch[i] = it->launch;
        memcpy(w->style + (size_t)i * dims, tstyle + (size_t)order[i].draw * dims,
               sizeof(float) * (size_t)dims);
        snprintf(w->item_ids + (size_t)i * W_ID_LEN, W_ID_LEN, "i%07d", (int)i);
    }
    st = AR_OK;
done:
    ar__free(tmp);
    ar__free(tstyle);
    ar__free(order);
    return st;
}

static void draw_customer(ar_world *w, int32_t cidx) {
    const ar_world_config *c = &w->cfg;
    ar_rng r;
    ar_rng_stream(&r, w->seed, TAG_CUSTOMER | (uint64_t)cidx);
    int g = pick(&r, &c->segments[0].share, c->n_segments, sizeof(wsegment));
    const wsegment *s = &c->segments[g];
    w->segment[cidx] = (uint8_t)g;
    w->region[cidx] = (uint8_t)ar_rng_below(&r, (uint64_t)c->n_regions);
    w->budget[cidx] = (float)(s->budget_median * exp(s->budget_sigma * normal(&r)));
    double rate = s->visits_per_day * exp(0.5 * normal(&r) - 0.125);
    w->rate[cidx] = (float)(rate > 1 ? 1 : rate);
    unit_vector(&r, w->taste + (size_t)cidx * w->dims, w->dims);
    int fav = pick(&r, &c->brands[0].share, c->n_brands, sizeof(wbrand));
    float *ba = w->brand_aff + (size_t)cidx * c->n_brands;
    for (int b = 0; b < c->n_brands; b++)
        ba[b] = (float)(c->brand_sigma * normal(&r) + (b == fav ? 3.0 * s->loyalty : 0.0));
    float *ca = w->cat_aff + (size_t)cidx * c->n_categories;
    for (int k = 0; k < c->n_categories; k++)
        ca[k] = (float)(c->category_sigma * normal(&r));
    snprintf(w->customer_ids + (size_t)cidx * W_ID_LEN, W_ID_LEN, "c%07d", (int)cidx);
}

ar_status ar_world_create(const ar_world_config *cfg, uint64_t seed, int n_threads, ar_world **out,
                          ar_error *err) {
    *out = NULL;
    if (!cfg)
        return ar__fail(err, AR_EINVAL, "no config");
    ar_world *w = ar__calloc(1, sizeof *w);
    if (!w)
        return ar__fail(err, AR_ENOMEM, "out of memory creating the world");
    w->cfg = *cfg;
    w->seed = seed;
    w->n_items = cfg->items;
    w->n_customers = cfg->customers;
    w->dims = cfg->dims;
    size_t ni = (size_t)cfg->items, nc = (size_t)cfg->customers, d = (size_t)cfg->dims;
    w->brand = ar__alloc_array(ni, sizeof(int16_t));
    w->category = ar__alloc_array(ni, sizeof(int16_t));
    w->collection = ar__alloc_array(ni, sizeof(int16_t));
    w->colour = ar__alloc_array(ni, sizeof(int16_t));
    w->material = ar__alloc_array(ni, sizeof(int16_t));
    w->line = ar__alloc_array(ni, sizeof(int16_t));
    w->exclusive = ar__alloc_array(ni, 1);
    w->price = ar__alloc_array(ni, sizeof(float));
    w->margin = ar__alloc_array(ni, sizeof(float));
    w->markdown = ar__alloc_array(ni, sizeof(float));
    w->quality = ar__alloc_array(ni, sizeof(float));
    w->prior = ar__alloc_array(ni, sizeof(float));
    w->style = ar__alloc_array(ni * d, sizeof(float));
    w->stock = ar__alloc_array(ni, sizeof(int32_t));
    w->launch = ar__alloc_array(ni, sizeof(int64_t));
    w->item_ids = ar__alloc_array(ni, W_ID_LEN);
    w->segment = ar__alloc_array(nc, 1);
    w->region = ar__alloc_array(nc, 1);
    w->budget = ar__alloc_array(nc, sizeof(float));
    w->rate = ar__alloc_array(nc, sizeof(float));
    w->taste = ar__alloc_array(nc * d, sizeof(float));
    w->brand_aff = ar__alloc_array(nc * (size_t)cfg->n_brands, sizeof(float));
    w->cat_aff = ar__alloc_array(nc * (size_t)cfg->n_categories, sizeof(float));
    w->customer_ids = ar__alloc_array(nc, W_ID_LEN);
    if (!w->brand || !w->category || !w->collection || !w->colour || !w->material || !w->line ||
        !w->exclusive || !w->price || !w->margin || !w->markdown || !w->quality || !w->prior ||
        !w->style || !w->stock || !w->launch || !w->item_ids || !w->segment || !w->region ||
        !w->budget || !w->rate || !w->taste || !w->brand_aff || !w->cat_aff || !w->customer_ids) {
        ar_world_free(w);
        return ar__fail(err, AR_ENOMEM, "out of memory for %d items and %d customers",
                        (int)cfg->items, (int)cfg->customers);
    }
    for (int k = 0; k < cfg->n_collections; k++) {
        ar_rng r;
        ar_rng_stream(&r, seed, TAG_COLL | (uint64_t)k);
        unit_vector(&r, w->coll_style[k], w->dims);
    }
    int nt = ar__threads(n_threads);
    if (draw_items(w, nt)) {
        ar_world_free(w);
        return ar__fail(err, AR_ENOMEM, "out of memory drawing the catalogue");
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int32_t c = 0; c < w->n_customers; c++)
        draw_customer(w, c);
    *out = w;
    return AR_OK;
}

int32_t ar_world_n_items(const ar_world *w) {
    return w->n_items;
}

int32_t ar_world_n_customers(const ar_world *w) {
    return w->n_customers;
}

int ar_world_n_brands(const ar_world *w) {
    return w->cfg.n_brands;
}

int ar_world_n_rules(const ar_world *w) {
    return w->cfg.n_rules;
}

int32_t ar_world_slate_size(const ar_world *w) {
    return w->cfg.slate_size;
}

const char *ar_world_item_id(const ar_world *w, int32_t item) {
    if (item < 0 || item >= w->n_items)
        return NULL;
    return w->item_ids + (size_t)item * W_ID_LEN;
}

const char *ar_world_customer_id(const ar_world *w, int32_t customer) {
    if (customer < 0 || customer >= w->n_customers)
        return NULL;
    return w->customer_ids + (size_t)customer * W_ID_LEN;
}

const char *ar_world_brand_name(const ar_world *w, int brand) {
    if (brand < 0 || brand >= w->cfg.n_brands)
        return NULL;
    return w->cfg.brands[brand].name;
}

int ar_world_item_brand(const ar_world *w, int32_t item) {
    return item < 0 || item >= w->n_items ? -1 : w->brand[item];
}

double ar_world_item_price(const ar_world *w, int32_t item) {
    return item < 0 || item >= w->n_items ? NAN : (double)w->price[item];
}

int64_t ar_world_item_launch(const ar_world *w, int32_t item) {
    return item < 0 || item >= w->n_items ? -1 : w->launch[item];
}

const char *ar_world_rule_kind(const ar_world *w, int rule) {
    static const char *const names[] = {"max_per_brand", "never_adjacent", "exclusive_segment",
                                        "no_discount_top"};
    if (rule < 0 || rule >= w->cfg.n_rules)
        return NULL;
    return names[w->cfg.rules[rule].kind];
}

double ar__world_discount(const ar_world *w, int32_t item, int64_t t) {
    double d = w->markdown[item];
    const ar_world_config *c = &w->cfg;
    for (int e = 0; e < c->n_events; e++) {
        const wevent *ev = &c->events[e];
        if (ev->type != EV_PROMOTION)
            continue;
        int64_t from = c->start_time + (int64_t)ev->day * W_DAY;
        int64_t to = from + (int64_t)ev->duration * W_DAY;
        if (t < from || t >= to)
            continue;
        int b = w->brand[item];
        if ((ev->brand >= 0 && ev->brand != b) ||
            (ev->category >= 0 && ev->category != w->category[item]) ||
            (ev->tier >= 0 && ev->tier != c->brands[b].tier))
            continue;
        if (ev->discount > d)
            d = ev->discount;
    }
    return d;
}

/* -- Guardrails ------------------------------------------------------------------------------ */

static int rule_brand_match(const ar_world *w, const wrule *r, int b) {
    if (r->brand >= 0)
        return r->brand == b;
    if (r->tier >= 0)
        return w->cfg.brands[b].tier == r->tier;
    return 1;
}

/* Does placing `item` at position j after prefix[0..j) break rule r? */
static int breaks(const ar_world *w, const wrule *r, int segment, int64_t time,
                  const int32_t *prefix, int32_t j, int32_t item) {
    int b = w->brand[item];
    switch (r->kind) {
    case RULE_MAX_PER_BRAND: {
        if (r->brand >= 0 && r->brand != b)
            return 0;
        int n = 1;
        for (int32_t i = 0; i < j; i++)
            n += w->brand[prefix[i]] == b;
        return n > r->max;
    }
    case RULE_NEVER_ADJACENT: {
        if (j == 0)
            return 0;
        int a = w->brand[prefix[j - 1]];
        return (a == r->brand && b == r->brand2) || (a == r->brand2 && b == r->brand);
    }
    case RULE_EXCLUSIVE_SEGMENT:
        return w->exclusive[item] && segment != r->segment && (r->brand < 0 || r->brand == b);
    default:
        return j < r->top && rule_brand_match(w, r, b) && ar__world_discount(w, item, time) > 0;
    }
}

int32_t ar_world_guardrail_count(const ar_world *w, int segment, int64_t time, const int32_t *slate,
                                 int32_t n, int32_t *per_rule) {
    int32_t total = 0;
    for (int k = 0; k < w->cfg.n_rules; k++) {
        int32_t v = 0;
        for (int32_t j = 0; j < n; j++)
            if (slate[j] >= 0 && slate[j] < w->n_items)
                v += breaks(w, &w->cfg.rules[k], segment, time, slate, j, slate[j]);
        if (per_rule)
            per_rule[k] = v;
        total += v;
    }
    return total;
}

int ar__world_allowed(const ar_world *w, int segment, int64_t time, const int32_t *out, int32_t j,
                      int32_t item) {
    if (item < 0 || item >= w->n_items)
        return 0;
    for (int32_t i = 0; i < j; i++)
        if (out[i] == item)
            return 0;
    for (int k = 0; k < w->cfg.n_rules; k++)
        if (breaks(w, &w->cfg.rules[k], segment, time, out, j, item))
            return 0;
    return 1;
}

int32_t ar_world_guardrail_repair(const ar_world *w, int segment, int64_t time,
                                  const int32_t *slate, int32_t n, const int32_t *fill,
                                  int32_t n_fill, int32_t k, int32_t *out, int32_t *from_slate) {
    int32_t j = 0;
    for (; j < k; j++) {
        int32_t got = -1, src = -1;
        for (int32_t i = 0; i < n && got < 0; i++)
            if (ar__world_allowed(w, segment, time, out, j, slate[i]))
                got = slate[i], src = i;
        for (int32_t i = 0; fill && i < n_fill && got < 0; i++)
            if (ar__world_allowed(w, segment, time, out, j, fill[i]))
                got = fill[i];
        if (got < 0)
            break;
        out[j] = got;
        if (from_slate)
            from_slate[j] = src;
    }
    return j;
}
