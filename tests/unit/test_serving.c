/*
 * test_serving.c -- the retail re-ranker of ar_world_model_policy_serving: options are checked,
 * every slate is valid and holds its long-tail quota (checked against a naive recomputation of
 * the policy's head in a wrapping policy), the weights move the exposure they are meant to
 * move, and serving is deterministic whatever the thread count.
 */
#include "agentrec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WORLD_JSON(GUARDRAILS)                                                                     \
    "{\"customers\": 400, \"items\": 300, \"slate_size\": 6, \"style_dims\": 4, \"days\": 20,"     \
    " \"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"luxury\"},"                         \
    "   {\"name\": \"B\", \"tier\": \"premium\"}, {\"name\": \"C\", \"tier\": \"contemporary\"}]," \
    "  \"categories\": [{\"name\": \"bags\"}, {\"name\": \"shoes\"}],"                             \
    "  \"collections\": [{\"name\": \"core\", \"launch_day\": -100},"                              \
    "                    {\"name\": \"new\", \"launch_day\": -3, \"share\": 0.2}]},"               \
    " \"segments\": [{\"name\": \"regular\", \"visits_per_day\": 0.3}]" GUARDRAILS "}"

static const char world_json[] = WORLD_JSON("");
/* The same shop with a brand rule: at most 2 items of a brand in a slate of 6. */
static const char ruled_json[] = WORLD_JSON(", \"guardrails\": [{\"type\": \"max_per_brand\", "
                                            "\"max\": 2}]");

typedef struct fixture {
    ar_world *w;
    ar_dataset *ds;
    ar_model *m;
} fixture;

static void setup_world(fixture *f, const char *json) {
    ar_world_config *cfg;
    ar_error err;
    if (ar_world_config_parse(json, strlen(json), &cfg, &err))
        fail_msg("config: %s", err.msg);
    assert_int_equal(ar_world_create(cfg, 5, 0, &f->w, &err), AR_OK);
    ar_world_config_free(cfg);
    ar_world_policy pop;
    ar_world_policy_builtin(f->w, "popular", &pop);
    ar_world_generate_options go = ar_world_generate_options_default();
    go.days = 20;
    go.impressions = 0;
    if (ar_world_generate(f->w, &pop, &go, &f->ds, NULL, &err))
        fail_msg("generate: %s", err.msg);
    assert_int_equal(ar_model_create("rp3beta", &f->m), AR_OK);
    ar_fit_options fo = ar_fit_options_default();
    if (ar_model_fit(f->m, f->ds, &fo, &err))
        fail_msg("fit: %s", err.msg);
}

static void setup_fixture(fixture *f) {
    setup_world(f, world_json);
}

static void teardown_fixture(fixture *f) {
    ar_model_free(f->m);
    ar_dataset_free(f->ds);
    ar_world_free(f->w);
}

static void test_check(void **state) {
    (void)state;
    ar_world_serving s = ar_world_serving_default();
    assert_null(ar_world_serving_check(&s));
    s.pool = 0;
    assert_non_null(strstr(ar_world_serving_check(&s), "pool"));
    s = ar_world_serving_default();
    s.tail_share = 0.6;
    assert_non_null(strstr(ar_world_serving_check(&s), "tail_share"));
    s = ar_world_serving_default();
    s.brand_weight = -1;
    assert_non_null(ar_world_serving_check(&s));
    s = ar_world_serving_default();
    s.model_weight = 0;
    assert_non_null(strstr(ar_world_serving_check(&s), "positive"));
    s = ar_world_serving_default();
    s.temperature = 0;
    assert_non_null(strstr(ar_world_serving_check(&s), "temperature"));
    fixture f;
    setup_fixture(&f);
    ar_world_policy p;
    ar_error err;
    s.temperature = NAN;
    assert_int_equal(ar_world_model_policy_serving(f.w, f.m, f.ds, &s, &p, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "temperature"));
    teardown_fixture(&f);
}

/* Wraps a policy and checks every slate it serves (run with one thread). */
typedef struct checker {
    ar_world_policy inner;
    double tail_share;
    int64_t slates, short_quota, tail_items, items;
} checker;

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

static ar_status check_serve(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                             int32_t *slate, float *prop, int32_t *n_out) {
    checker *c = ctx;
    ar_status st = c->inner.serve(c->inner.ctx, w, v, rng, slate, prop, n_out);
    if (st)
        return st;
    /* Naive head: sort the whole catalogue's popularity, the top fifth is the head. */
    int32_t n = ar_world_n_items(w);
    int64_t *pop = malloc((size_t)n * sizeof *pop);
    for (int32_t i = 0; i < n; i++)
        pop[i] = ar_world_run_popularity(v->run, i);
    qsort(pop, (size_t)n, sizeof *pop, cmp_desc);
    int64_t head_min = n / 5 ? pop[n / 5 - 1] : 0;
    free(pop);
    int32_t tail = 0;
    for (int32_t j = 0; j < *n_out; j++) {
        assert_true(slate[j] >= 0 && slate[j] < v->n_candidates);
        assert_true(ar_world_run_stock(v->run, slate[j]) > 0);
        for (int32_t k = 0; k < j; k++)
            assert_int_not_equal(slate[j], slate[k]);
        tail += ar_world_run_popularity(v->run, slate[j]) < head_min;
    }
    assert_int_equal(*n_out, v->k);
    c->slates++;
    c->items += *n_out;
    c->tail_items += tail;
    c->short_quota += tail < (int32_t)floor(c->tail_share * v->k + 0.5);
    return AR_OK;
}

static void run_checked(fixture *f, const ar_world_serving *s, checker *c,
                        ar_world_eval_result *r) {
    ar_error err;
    memset(c, 0, sizeof *c);
    c->tail_share = s->tail_share;
    assert_int_equal(ar_world_model_policy_serving(f->w, f->m, f->ds, s, &c->inner, &err), AR_OK);
    ar_world_policy p = {"checked", c, check_serve};
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 3000;
    o.n_threads = 1;
    assert_int_equal(ar_world_eval(f->w, &p, &o, r, &err), AR_OK);
    assert_int_equal(r->violations_shown, 0);
    for (int q = 0; q < r->n_rules; q++) /* the re-ranker keeps to the rules itself */
        assert_int_equal(r->violations_per_rule[q], 0);
    ar_world_model_policy_free(&c->inner);
}

static void test_quota_and_weights(void **state) {
    (void)state;
    fixture f;
    setup_fixture(&f);
    ar_world_serving s = ar_world_serving_default();
    s.popularity_weight = 1;
    s.pool = 3;
    s.temperature = 2;
    checker c0, c1, c2;
    ar_world_eval_result r0, r1, r2;
    run_checked(&f, &s, &c0, &r0);
    assert_true(c0.slates > 1000);
    s.tail_share = 0.5;
    run_checked(&f, &s, &c1, &r1);
    /* Every slate holds its quota of the policy's long tail (3 of 6). */
    assert_int_equal(c1.short_quota, 0);
    assert_true(c1.tail_items * 2 >= c1.items);
    assert_true(c1.tail_items > c0.tail_items);
    assert_true(r1.metric[AR_WM_LONG_TAIL_SHARE].mean > r0.metric[AR_WM_LONG_TAIL_SHARE].mean);
    /* New arrivals weighed far above the rest fill the slates with the new collection. */
    s.tail_share = 0;
    s.new_weight = 10;
    run_checked(&f, &s, &c2, &r2);
    assert_true(r2.metric[AR_WM_NEW_COLLECTION_SHARE].mean >
                r0.metric[AR_WM_NEW_COLLECTION_SHARE].mean + 0.3);
    teardown_fixture(&f);
}

/* Under a brand rule and a strong pull towards the customer's own brands, whose items crowd the
 * top of the ranking, the slates are still full, hold their quota and break no rule: the
 * re-ranker walks down the ranking past what the rule turns away (a slate that broke it would
 * be repaired with items it did not choose, its long-tail quota lost). */
static void test_rules(void **state) {
    (void)state;
    fixture f;
    setup_world(&f, ruled_json);
    ar_world_serving s = ar_world_serving_default();
    s.brand_weight = 5;
    s.popularity_weight = 1;
    s.tail_share = 0.5;
    s.pool = 3;
    s.temperature = 2;
    checker c;
    ar_world_eval_result r;
    run_checked(&f, &s, &c, &r);
    assert_int_equal(r.n_rules, 1);
    assert_true(c.slates > 1000);
    assert_int_equal(c.short_quota, 0);
    teardown_fixture(&f);
}

static void test_threads(void **state) {
    (void)state;
    fixture f;
    setup_fixture(&f);
    ar_world_serving s = ar_world_serving_default();
    s.model_weight = 0.5;
    s.popularity_weight = 1;
    s.new_weight = 0.5;
    s.brand_weight = 1;
    s.tail_share = 0.2;
    s.pool = 3;
    s.temperature = 3;
    ar_world_policy p;
    ar_error err;
    assert_int_equal(ar_world_model_policy_serving(f.w, f.m, f.ds, &s, &p, &err), AR_OK);
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = 4000;
    ar_world_eval_result r1, r2;
    o.n_threads = 1;
    assert_int_equal(ar_world_eval(f.w, &p, &o, &r1, &err), AR_OK);
    o.n_threads = 2;
    assert_int_equal(ar_world_eval(f.w, &p, &o, &r2, &err), AR_OK);
    assert_true(memcmp(r1.metric, r2.metric, sizeof r1.metric) == 0);
    assert_true(r1.revenue == r2.revenue && r1.clicks == r2.clicks);
    ar_world_model_policy_free(&p);
    teardown_fixture(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_quota_and_weights),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
