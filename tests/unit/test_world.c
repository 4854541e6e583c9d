/*
 * test_world.c -- the retail world: config validation with JSON paths, determinism (same seed,
 * 1 vs 2 threads), guardrail counting and repair on slates built to break each rule, the policy
 * callback, the ordering oracle > popular > random on revenue per visit, and runs that start
 * after a history (start day, states).
 */
#include "sim/world_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* A small world: two luxury brands and two others, half the items marked down, half of brand
 * A's items exclusive. */
static const char small_json[] =
    "{\"customers\": 300, \"items\": 200, \"slate_size\": 6, \"style_dims\": 4,"
    " \"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"luxury\", \"exclusivity\": 0.5},"
    "   {\"name\": \"B\", \"tier\": \"luxury\"}, {\"name\": \"C\", \"tier\": \"premium\"},"
    "   {\"name\": \"D\", \"tier\": \"contemporary\"}],"
    "  \"categories\": [{\"name\": \"bags\"}, {\"name\": \"shoes\"}],"
    "  \"collections\": [{\"name\": \"core\", \"launch_day\": -100}],"
    "  \"markdown_share\": 0.5},"
    " \"segments\": [{\"name\": \"new\"}, {\"name\": \"vic\", \"visits_per_day\": 0.5}],"
    " \"guardrails\": [{\"type\": \"max_per_brand\", \"max\": 2},"
    "   {\"type\": \"never_adjacent\", \"brands\": [\"A\", \"B\"]},"
    "   {\"type\": \"exclusive_segment\", \"segment\": \"vic\"},"
    "   {\"type\": \"no_discount_top\", \"tier\": \"luxury\", \"top\": 2}]}";

static ar_world *make_world(const char *json, uint64_t seed, int threads) {
    ar_world_config *cfg;
    ar_error err;
    ar_status st = ar_world_config_parse(json, json ? strlen(json) : 0, &cfg, &err);
    if (st)
        fail_msg("config: %s", err.msg);
    ar_world *w;
    assert_int_equal(ar_world_create(cfg, seed, threads, &w, &err), AR_OK);
    ar_world_config_free(cfg);
    return w;
}

/* A small world (seed 4, 1 thread) with a back catalogue and a second collection, `name`,
 * launched on `launch_day` with 30% of the items; one segment visiting `visits` a day. */
static ar_world *launch_world(const char *name, int launch_day, double visits) {
    char json[768];
    snprintf(json, sizeof json,
             "{\"customers\": 300, \"items\": 200, \"slate_size\": 6, \"style_dims\": 4,"
             " \"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"luxury\"},"
             "   {\"name\": \"C\", \"tier\": \"premium\"}], \"categories\": [{\"name\": \"bags\"}],"
             "  \"collections\": [{\"name\": \"core\", \"launch_day\": -100},"
             "                    {\"name\": \"%s\", \"launch_day\": %d, \"share\": 0.3}]},"
             " \"segments\": [{\"name\": \"new\", \"visits_per_day\": %g}]}",
             name, launch_day, visits);
    return make_world(json, 4, 1);
}

static void test_default_config(void **state) {
    (void)state;
    ar_world_config *cfg;
    ar_error err;
    assert_int_equal(ar_world_config_parse(NULL, 0, &cfg, &err), AR_OK);
    assert_int_equal(ar_world_config_days(cfg), 90);
    assert_int_equal(ar_world_config_seed(cfg), 1);
    assert_int_equal(cfg->customers, 10000);
    assert_int_equal(cfg->n_brands, 12);
    assert_int_equal(cfg->n_rules, 4);
    ar_world_config_free(cfg);
    ar_world_config_free(NULL);
    ar_world_free(NULL);
}

/* Each bad config must fail with the JSON path of the offending field in the message. */
static void test_config_errors(void **state) {
    (void)state;
    static const char base[] =
        "\"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"luxury\"}, {\"name\": \"B\", "
        "\"tier\": \"premium\"}], \"categories\": [{\"name\": \"bags\"}], \"collections\": "
        "[{\"name\": \"core\"}]%s}, \"segments\": [{\"name\": \"vic\"}]";
    struct {
        const char *top, *catalog, *want;
    } cases[] = {
        {"\"colour\": 1,", "", "colour: unknown key"},
        {"\"customers\": \"many\",", "", "customers: expected an integer"},
        {"\"customers\": 1000000000,", "", "customers: must be in [1, 5000000]"},
        {"\"items\": -3,", "", "items: must be in"},
        {"", ", \"tiers\": {\"luxury\": {\"price_median\": -5}}",
         "catalog.tiers.luxury.price_median: must be > 0"},
        {"\"behaviour\": {\"purchase_given_cart\": 1.5},", "",
         "behaviour.purchase_given_cart: a probability must be in [0, 1]"},
        {"\"behaviour\": {\"position_model\": \"zigzag\"},", "",
         "behaviour.position_model: expected one of pbm, cascade"},
        {"\"guardrails\": [{\"type\": \"never_adjacent\", \"brands\": [\"A\", \"Z\"]}],", "",
         "guardrails[0].brands[1]: unknown brand 'Z'"},
        {"\"guardrails\": [{\"type\": \"max_per_brand\", \"max\": 2, \"brand\": \"Q\"}],", "",
         "guardrails[0].brand: unknown brand 'Q'"},
        {"\"guardrails\": [{\"type\": \"no_discount_top\", \"top\": 2}],", "",
         "guardrails[0]: name exactly one of brand or tier"},
        {"\"events\": [{\"type\": \"trend\", \"day\": 3, \"dim\": 99}],", "",
         "events[0].dim: must be in"},
        {"\"events\": [{\"type\": \"taste_shift\", \"day\": 3, \"toward_collection\": \"X\"}],", "",
         "events[0].toward_collection: unknown collection 'X'"},
        {"\"segments_extra\": [],", "", "segments_extra: unknown key"},
    };
    char json[2048], cat[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cat, sizeof cat, base, cases[i].catalog);
        snprintf(json, sizeof json, "{%s %s}", cases[i].top, cat);
        ar_world_config *cfg = (ar_world_config *)1;
        ar_error err = {{0}};
        ar_status st = ar_world_config_parse(json, strlen(json), &cfg, &err);
        if (st == AR_OK || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: got status %d, message '%s', wanted '%s'", i, st, err.msg,
                     cases[i].want);
        assert_null(cfg);
    }
    /* The brand tier message as documented, and malformed JSON with its position. */
    const char *bad_tier = "{\"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"cheap\"}]}}";
    ar_world_config *cfg;
    ar_error err;
    assert_int_not_equal(ar_world_config_parse(bad_tier, strlen(bad_tier), &cfg, &err), AR_OK);
    assert_string_equal(err.msg,
                        "catalog.brands[0].tier: expected one of luxury, premium, contemporary");
    assert_int_equal(ar_world_config_parse("{\"items\": ", 10, &cfg, &err), AR_EPARSE);
    assert_non_null(strstr(err.msg, "line 1"));
    assert_int_equal(ar_world_config_load("/nonexistent/w.json", &cfg, &err), AR_EIO);
}

static void test_world_deterministic(void **state) {
    (void)state;
    ar_world *a = make_world(small_json, 7, 1), *b = make_world(small_json, 7, 2);
    ar_world *c = make_world(small_json, 8, 1);
    int differs = 0;
    for (int32_t i = 0; i < a->n_items; i++) {
        assert_true(a->price[i] == b->price[i]);
        assert_int_equal(a->brand[i], b->brand[i]);
        differs |= a->price[i] != c->price[i];
        if (i)
            assert_true(a->launch[i - 1] <= a->launch[i]);
    }
    assert_true(differs);
    assert_memory_equal(a->taste, b->taste, sizeof(float) * 300 * 4);
    assert_string_equal(ar_world_item_id(a, 3), "i0000003");
    assert_string_equal(ar_world_customer_id(a, 12), "c0000012");
    assert_null(ar_world_item_id(a, 200));
    ar_world_free(a);
    ar_world_free(b);
    ar_world_free(c);
}

/* Finds an item matching the predicate, not in avoid[0..n). */
static int32_t find_item(const ar_world *w, int brand, int discounted, int exclusive,
                         const int32_t *avoid, int n) {
    for (int32_t i = 0; i < w->n_items; i++) {
        int skip = 0;
        for (int j = 0; j < n; j++)
            skip |= avoid[j] == i;
        if (skip || (brand >= 0 && w->brand[i] != brand))
            continue;
        if (discounted >= 0 && (w->markdown[i] > 0) != discounted)
            continue;
        if (exclusive >= 0 && w->exclusive[i] != exclusive)
            continue;
        return i;
    }
    fail_msg("no item with brand %d discounted %d exclusive %d", brand, discounted, exclusive);
    return -1;
}

static void test_guardrails(void **state) {
    (void)state;
    ar_world *w = make_world(small_json, 3, 1);
    int64_t t = w->cfg.start_time;
    int32_t per[4], s[6], out[6];
    enum { A = 0, B = 1, C = 2, D = 3 };
    int vic = 1, newc = 0;
    assert_int_equal(ar_world_n_rules(w), 4);
    assert_string_equal(ar_world_rule_kind(w, 1), "never_adjacent");
    /* max_per_brand 2: three plain items of brand C -> the third violates. */
    s[0] = find_item(w, C, 0, 0, NULL, 0);
    s[1] = find_item(w, C, 0, 0, s, 1);
    s[2] = find_item(w, C, 0, 0, s, 2);
    assert_int_equal(ar_world_guardrail_count(w, vic, t, s, 3, per), 1);
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1] + per[2] + per[3], 0);
    /* never_adjacent A, B: A next to B violates; with D between it does not. */
    s[0] = find_item(w, A, 0, 0, NULL, 0);
    s[1] = find_item(w, B, 0, 0, NULL, 0);
    assert_int_equal(ar_world_guardrail_count(w, vic, t, s, 2, per), 1);
    assert_int_equal(per[1], 1);
    s[2] = s[1];
    s[1] = find_item(w, D, 0, 0, NULL, 0);
    assert_int_equal(ar_world_guardrail_count(w, vic, t, s, 3, per), 0);
    /* exclusive_segment vic: an exclusive item shown to a new customer violates. */
    s[0] = find_item(w, D, 0, 0, NULL, 0);
    s[1] = find_item(w, A, 0, 1, NULL, 0);
    assert_int_equal(ar_world_guardrail_count(w, newc, t, s, 2, per), 1);
    assert_int_equal(per[2], 1);
    assert_int_equal(ar_world_guardrail_count(w, vic, t, s, 2, NULL), 0);
    /* no_discount_top luxury top 2: a discounted luxury item at position 1 violates, at
     * position 2 it does not; a discounted premium item is fine anywhere. */
    s[0] = find_item(w, D, 0, 0, NULL, 0);
    s[1] = find_item(w, B, 1, -1, NULL, 0);
    assert_int_equal(ar_world_guardrail_count(w, vic, t, s, 2, per), 1);
    assert_int_equal(per[3], 1);
    s[2] = s[1];
    s[1] = find_item(w, C, 1, -1, NULL, 0);
    assert_int_equal(ar_world_guardrail_count(w, vic, t, s, 3, per), 0);

    /* Repair: a slate breaking every rule comes back clean, as long as asked, and keeps the
     * allowed items in order. */
    s[0] = find_item(w, B, 1, -1, NULL, 0); /* discounted luxury on top */
    s[1] = find_item(w, A, 0, 1, NULL, 0);  /* exclusive, and A next to B */
    s[2] = find_item(w, C, 0, 0, NULL, 0);
    s[3] = find_item(w, C, 0, 0, s + 2, 1);
    s[4] = find_item(w, C, 0, 0, s + 2, 2); /* third C */
    s[5] = find_item(w, D, 0, 0, NULL, 0);
    assert_true(ar_world_guardrail_count(w, newc, t, s, 6, NULL) >= 4);
    int32_t fill[200], from[6];
    for (int32_t i = 0; i < w->n_items; i++)
        fill[i] = i;
    int32_t n = ar_world_guardrail_repair(w, newc, t, s, 6, fill, w->n_items, 6, out, from);
    assert_int_equal(n, 6);
    assert_int_equal(ar_world_guardrail_count(w, newc, t, out, n, NULL), 0);
    assert_int_equal(out[0], s[2]); /* the first allowed item moves up */
    assert_int_equal(from[0], 2);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            assert_int_not_equal(out[i], out[j]);
    /* Without fill, items that fit nowhere are dropped. */
    n = ar_world_guardrail_repair(w, newc, t, s, 6, NULL, 0, 6, out, NULL);
    assert_true(n < 6);
    assert_int_equal(ar_world_guardrail_count(w, newc, t, out, n, NULL), 0);
    ar_world_free(w);
}

/* A custom policy through the callback: always the first k candidates. */
static ar_status serve_first(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                             int32_t *slate, float *prop, int32_t *n_out) {
    (void)w;
    (void)rng;
    (void)prop;
    int *calls = ctx;
    __atomic_fetch_add(calls, 1, __ATOMIC_RELAXED);
    assert_true(v->k == 6 && v->n_candidates > 0 && v->customer_id && v->segment_name);
    assert_true(v->n_history >= 0 && v->n_history <= W_HISTORY);
    int32_t n = v->k < v->n_candidates ? v->k : v->n_candidates;
    for (int32_t j = 0; j < n; j++)
        slate[j] = j;
    *n_out = n;
    return AR_OK;
}

static ar_status serve_bad(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                           int32_t *slate, float *prop, int32_t *n_out) {
    (void)ctx;
    (void)w;
    (void)rng;
    (void)prop;
    slate[0] = v->n_candidates; /* outside the candidates */
    *n_out = 1;
    return AR_OK;
}

static void test_policy_callback(void **state) {
    (void)state;
    ar_world *w = make_world(small_json, 5, 2);
    int calls = 0;
    ar_world_policy p = {"first", &calls, serve_first};
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 500;
    ar_world_eval_result r;
    ar_error err;
    assert_int_equal(ar_world_eval(w, &p, &o, &r, &err), AR_OK);
    assert_int_equal(r.visits, 500);
    assert_int_equal(calls, 500);
    assert_true(r.impressions > 0 && r.impressions <= 500 * 6);
    ar_world_policy bad = {"bad", NULL, serve_bad};
    assert_int_equal(ar_world_eval(w, &bad, &o, &r, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "bad"));
    ar_world_policy none;
    assert_int_equal(ar_world_policy_builtin(w, "nosuch", &none), AR_ENOTFOUND);
    o.confidence = 1.5;
    assert_non_null(ar_world_eval_options_check(&o));
    ar_world_free(w);
}

/* Same world, policy and options -> identical results for 1 and 2 threads; generation gives
 * identical datasets. */
static void test_run_deterministic(void **state) {
    (void)state;
    ar_world *w = make_world(small_json, 11, 0);
    ar_world_policy pol;
    assert_int_equal(ar_world_policy_builtin(w, "popular", &pol), AR_OK);
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 1500;
    ar_world_eval_result r1, r2;
    ar_error err;
    o.n_threads = 1;
    assert_int_equal(ar_world_eval(w, &pol, &o, &r1, &err), AR_OK);
    o.n_threads = 2;
    assert_int_equal(ar_world_eval(w, &pol, &o, &r2, &err), AR_OK);
    assert_memory_equal(&r1, &r2, sizeof r1);

    ar_world_generate_options g = ar_world_generate_options_default();
    g.days = 10;
    ar_dataset *d1, *d2;
    g.n_threads = 1;
    assert_int_equal(ar_world_generate(w, &pol, &g, &d1, NULL, &err), AR_OK);
    g.n_threads = 2;
    assert_int_equal(ar_world_generate(w, &pol, &g, &d2, NULL, &err), AR_OK);
    ar_interactions a, b;
    ar_dataset_interactions(d1, &a);
    ar_dataset_interactions(d2, &b);
    assert_int_equal(a.n, b.n);
    assert_true(a.n > 0);
    assert_memory_equal(a.item, b.item, sizeof(int32_t) * (size_t)a.n);
    assert_memory_equal(a.time, b.time, sizeof(int64_t) * (size_t)a.n);
    assert_memory_equal(a.value, b.value, sizeof(float) * (size_t)a.n);
    /* The layout: every item and customer, impressions with propensities in (0, 1], positions
     * from time % 60, purchases worth the price paid. */
    assert_int_equal(ar_dataset_n_items(d1), 200);
    assert_int_equal(ar_dataset_n_users(d1), 300);
    assert_true(ar_dataset_attr_find(d1, AR_ITEMS, "brand") >= 0);
    assert_true(ar_dataset_attr_find(d1, AR_ITEMS, "price") >= 0);
    assert_true(ar_dataset_attr_find(d1, AR_USERS, "segment") >= 0);
    int64_t imps = 0, buys = 0;
    for (int64_t i = 0; i < a.n; i++) {
        assert_true(a.time[i] % 60 < 6);
        if (a.event[i] == AR_EVENT_IMPRESSION) {
            imps++;
            assert_true(a.value[i] > 0 && a.value[i] <= 1);
        } else if (a.event[i] == AR_EVENT_PURCHASE) {
            buys++;
            assert_true(a.value[i] > 0);
        }
    }
    assert_true(imps > 0 && buys > 0);
    ar_dataset_free(d1);
    ar_dataset_free(d2);
    ar_world_free(w);
}

/* oracle > popular > random on revenue per visit, with intervals that do not overlap; the
 * oracle never breaks a guardrail. */
static void test_policy_ordering(void **state) {
    (void)state;
    ar_world_config *cfg;
    ar_error err;
    assert_int_equal(ar_world_config_parse(NULL, 0, &cfg, &err), AR_OK);
    cfg->customers = 2000;
    cfg->items = 600;
    ar_world *w;
    assert_int_equal(ar_world_create(cfg, 1, 0, &w, &err), AR_OK);
    ar_world_config_free(cfg);
    const char *names[3] = {"random", "popular", "oracle"};
    ar_world_eval_result r[3];
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 8000;
    for (int i = 0; i < 3; i++) {
        ar_world_policy p;
        assert_int_equal(ar_world_policy_builtin(w, names[i], &p), AR_OK);
        assert_int_equal(ar_world_eval(w, &p, &o, &r[i], &err), AR_OK);
    }
    const ar_world_estimate *rv = &r[0].metric[AR_WM_REVENUE_PER_VISIT],
                            *pv = &r[1].metric[AR_WM_REVENUE_PER_VISIT],
                            *ov = &r[2].metric[AR_WM_REVENUE_PER_VISIT];
    if (!(rv->ci_high < pv->ci_low && pv->ci_high < ov->ci_low))
        fail_msg("random %.2f [%.2f, %.2f], popular %.2f [%.2f, %.2f], oracle %.2f [%.2f, %.2f]",
                 rv->mean, rv->ci_low, rv->ci_high, pv->mean, pv->ci_low, pv->ci_high, ov->mean,
                 ov->ci_low, ov->ci_high);
    assert_true(r[2].metric[AR_WM_VIOLATIONS].mean == 0);
    assert_true(r[0].metric[AR_WM_VIOLATIONS].mean > 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].visits, 8000);
        double s = 0;
        for (int b = 0; b < r[i].n_brands; b++)
            s += r[i].brand_exposure[b];
        assert_true(s > 0.999 && s < 1.001);
        const ar_world_estimate *c = &r[i].metric[AR_WM_CTR];
        assert_true(c->ci_low <= c->mean && c->mean <= c->ci_high);
    }
    ar_world_free(w);
}

/* A policy that serves the first candidates and notes the days and candidates it saw (run on
 * one thread). */
typedef struct day_probe {
    int first_day, last_day;
    int32_t candidates_first, candidates_last;
} day_probe;

static ar_status serve_probe(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                             int32_t *slate, float *prop, int32_t *n_out) {
    (void)w, (void)rng, (void)prop;
    day_probe *p = ctx;
    if (p->first_day < 0 || v->day < p->first_day)
        p->first_day = v->day, p->candidates_first = v->n_candidates;
    if (v->day >= p->last_day)
        p->last_day = v->day, p->candidates_last = v->n_candidates;
    *n_out = v->k < v->n_candidates ? v->k : v->n_candidates;
    for (int32_t j = 0; j < *n_out; j++)
        slate[j] = j;
    return AR_OK;
}

/* Runs that start after a history: the state a history of 10 days leaves is what the generated
 * dataset says (stock less its purchases, popularity plus its clicks and purchases); a run from
 * day 10 sees day 10's calendar (a collection launched on day 12 appears on day 12) and fresh
 * random streams; state 0 on day 0 is the default run, bit for bit; options are checked. */
static void test_start_day(void **state) {
    (void)state;
    ar_world *w = launch_world("late", 12, 0.3);
    ar_world_policy pop;
    assert_int_equal(ar_world_policy_builtin(w, "popular", &pop), AR_OK);
    ar_error err;
    ar_world_state *s0, *s10;
    assert_int_equal(ar_world_state_create(w, NULL, 0, 1, &s0, &err), AR_OK);
    assert_int_equal(ar_world_state_create(w, &pop, 10, 2, &s10, &err), AR_OK);
    assert_int_equal(ar_world_state_day(s10), 10);
    /* The state the history left. */
    ar_world_generate_options g = ar_world_generate_options_default();
    g.days = 10;
    g.impressions = 0;
    ar_dataset *ds;
    assert_int_equal(ar_world_generate(w, &pop, &g, &ds, NULL, &err), AR_OK);
    int32_t ni = ar_world_n_items(w);
    int64_t *bought = calloc((size_t)ni, sizeof *bought), *events = calloc((size_t)ni, 8);
    int32_t *world_of = calloc((size_t)ni, sizeof *world_of); /* dataset item -> world item */
    assert_non_null(bought);
    assert_non_null(events);
    assert_non_null(world_of);
    assert_int_equal(ar_dataset_n_items(ds), ni);
    for (int32_t j = 0; j < ni; j++)
        world_of[ar_dataset_lookup(ds, AR_ITEMS, ar_world_item_id(w, j))] = j;
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    for (int64_t i = 0; i < in.n; i++) {
        int32_t wi = world_of[in.item[i]];
        bought[wi] += in.event[i] == AR_EVENT_PURCHASE;
        events[wi] += in.event[i] == AR_EVENT_PURCHASE || in.event[i] == AR_EVENT_CLICK;
    }
    free(world_of);
    int64_t total = 0;
    const ar_world_run *r0 = ar_world_state_run(s0), *r10 = ar_world_state_run(s10);
    for (int32_t j = 0; j < ni; j++) {
        assert_int_equal(ar_world_run_stock(r0, j) - ar_world_run_stock(r10, j), bought[j]);
        assert_int_equal(ar_world_run_popularity(r10, j) - ar_world_run_popularity(r0, j),
                         events[j]);
        total += bought[j];
    }
    assert_true(total > 0);
    free(bought);
    free(events);
    ar_dataset_free(ds);
    /* Day 0 from the initial state is the default run. */
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 1500;
    o.n_threads = 1;
    ar_world_eval_result a, b, c, d;
    assert_int_equal(ar_world_eval(w, &pop, &o, &a, &err), AR_OK);
    o.state = s0;
    assert_int_equal(ar_world_eval(w, &pop, &o, &b, &err), AR_OK);
    assert_memory_equal(&a, &b, sizeof a);
    /* From day 10: new streams (other visits), and the state matters; deterministic. */
    o.state = NULL;
    o.start_day = 10;
    assert_int_equal(ar_world_eval(w, &pop, &o, &c, &err), AR_OK);
    assert_true(c.revenue != a.revenue || c.clicks != a.clicks);
    o.state = s10;
    assert_int_equal(ar_world_eval(w, &pop, &o, &d, &err), AR_OK);
    assert_true(d.revenue != c.revenue || d.clicks != c.clicks);
    assert_int_equal(d.visits, 1500);
    o.n_threads = 2;
    assert_int_equal(ar_world_eval(w, &pop, &o, &b, &err), AR_OK);
    assert_memory_equal(&b, &d, sizeof b);
    /* The calendar: the run's days are 10, 11, ...; the late collection shows up on day 12. */
    day_probe p = {-1, -1, 0, 0};
    ar_world_policy probe = {"probe", &p, serve_probe};
    o.n_threads = 1;
    assert_int_equal(ar_world_eval(w, &probe, &o, &b, &err), AR_OK);
    assert_int_equal(p.first_day, 10);
    assert_int_equal(p.last_day, 10 + b.days - 1);
    assert_true(b.days > 2);
    assert_true(p.candidates_last > p.candidates_first);
    /* Checks. */
    o.start_day = 11;
    assert_non_null(ar_world_eval_options_check(&o));
    assert_int_equal(ar_world_eval(w, &pop, &o, &b, &err), AR_EINVAL);
    o.start_day = 10;
    ar_world *other = launch_world("late", 12, 0.3);
    assert_int_equal(ar_world_eval(other, &pop, &o, &b, &err), AR_EINVAL);
    ar_world_free(other);
    ar_world_state *bad = NULL;
    assert_int_equal(ar_world_state_create(w, &pop, -1, 1, &bad, &err), AR_EINVAL);
    assert_int_equal(ar_world_state_create(w, NULL, 3, 1, &bad, &err), AR_EINVAL);
    assert_null(bad);
    ar_world_state_free(NULL);
    ar_world_state_free(s0);
    ar_world_state_free(s10);
    ar_world_free(w);
}

/* Serves the k most popular launched items from index `first` on (the late collection). */
static ar_status serve_late(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                            int32_t *slate, float *prop, int32_t *n_out) {
    (void)w, (void)rng, (void)prop;
    int32_t first = *(const int32_t *)ctx;
    *n_out = 0;
    for (int32_t i = first; i < v->n_candidates; i++) { /* insertion into the top k */
        int32_t j = *n_out < v->k ? (*n_out)++ : v->k;
        for (; j > 0 &&
               ar_world_run_popularity(v->run, i) > ar_world_run_popularity(v->run, slate[j - 1]);
             j--)
            if (j < v->k)
                slate[j] = slate[j - 1];
        if (j < v->k)
            slate[j] = i;
    }
    return AR_OK;
}

/* The long tail is the catalogue outside the top fifth by popularity when a run starts: on day 0
 * the back-catalogue sales, after a history what it sold too. A collection launched on day 1
 * has no back-catalogue sales, all tail on day 0; after 30 days in which it was all the shop
 * showed, its best sellers are the head. */
static void test_long_tail_after_history(void **state) {
    (void)state;
    ar_world *w = launch_world("drop", 1, 0.5);
    int32_t first = ar_world_n_items(w);
    while (first > 0 && ar_world_item_launch(w, first - 1) > ar_world_item_launch(w, 0))
        first--; /* items are indexed in launch order */
    assert_true(first < ar_world_n_items(w));
    ar_world_policy late = {"late", &first, serve_late};
    ar_error err;
    ar_world_state *st;
    assert_int_equal(ar_world_state_create(w, &late, 30, 1, &st, &err), AR_OK);
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 1000;
    o.n_threads = 1;
    o.start_day = 1; /* the drop's launch, from the initial state: all tail */
    ar_world_eval_result day1, after;
    assert_int_equal(ar_world_eval(w, &late, &o, &day1, &err), AR_OK);
    assert_true(day1.metric[AR_WM_LONG_TAIL_SHARE].mean == 1.0);
    o.start_day = 30;
    o.state = st;
    assert_int_equal(ar_world_eval(w, &late, &o, &after, &err), AR_OK);
    print_message("long-tail share of the drop's best sellers: %.3f on day 1, %.3f after 30 days\n",
                  day1.metric[AR_WM_LONG_TAIL_SHARE].mean,
                  after.metric[AR_WM_LONG_TAIL_SHARE].mean);
    assert_true(after.metric[AR_WM_LONG_TAIL_SHARE].mean < 0.9); /* 1 by back-catalogue sales */
    ar_world_state_free(st);
    ar_world_free(w);
}

static void test_stats(void **state) {
    (void)state;
    ar_world *w = make_world(small_json, 2, 0);
    ar_world_stats s;
    ar_error err;
    assert_int_equal(ar_world_stats_compute(w, 0, &s, &err), AR_OK);
    assert_int_equal(s.run.days, 90);
    assert_true(s.run.visits > 0);
    assert_true(s.popularity_gini > 0 && s.popularity_gini < 1);
    assert_true(s.tier_items[0] > 0 && s.tier_price_q[0][0] <= s.tier_price_q[0][4]);
    assert_true(s.session_mean > 0 && s.session_mean <= 6);
    ar_world_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_config),      cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_world_deterministic), cmocka_unit_test(test_guardrails),
        cmocka_unit_test(test_policy_callback),     cmocka_unit_test(test_run_deterministic),
        cmocka_unit_test(test_policy_ordering),     cmocka_unit_test(test_stats),
        cmocka_unit_test(test_start_day),           cmocka_unit_test(test_long_tail_after_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
