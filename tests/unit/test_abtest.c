/*
 * test_abtest.c -- online A/B tests in the retail world: the salted assignment is deterministic
 * and balanced, a policy tested against itself is significant in about alpha of the salts, a
 * clearly better policy is detected, results do not depend on the thread count, the guardrails
 * are enforced in both arms, and the objective parses with JSON paths in its errors.
 */
#include "agentrec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Small enough to run many experiments: 400 customers who visit often. */
static const char world_json[] =
    "{\"customers\": 400, \"items\": 300, \"slate_size\": 6, \"style_dims\": 4,"
    " \"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"luxury\", \"exclusivity\": 0.3},"
    "   {\"name\": \"B\", \"tier\": \"premium\"}, {\"name\": \"C\", \"tier\": \"contemporary\"}],"
    "  \"categories\": [{\"name\": \"bags\"}, {\"name\": \"shoes\"}],"
    "  \"collections\": [{\"name\": \"core\", \"launch_day\": -100},"
    "                    {\"name\": \"new\", \"launch_day\": -3, \"share\": 0.2}]},"
    " \"segments\": [{\"name\": \"regular\", \"visits_per_day\": 0.3},"
    "                {\"name\": \"vic\", \"visits_per_day\": 0.5, \"share\": 0.2}],"
    " \"guardrails\": [{\"type\": \"max_per_brand\", \"max\": 2},"
    "   {\"type\": \"exclusive_segment\", \"segment\": \"vic\"}]}";

static ar_world *make_world(void) {
    ar_world_config *cfg;
    ar_error err;
    if (ar_world_config_parse(world_json, strlen(world_json), &cfg, &err))
        fail_msg("config: %s", err.msg);
    ar_world *w;
    assert_int_equal(ar_world_create(cfg, 3, 0, &w, &err), AR_OK);
    ar_world_config_free(cfg);
    return w;
}

static void test_assignment(void **state) {
    (void)state;
    char id[32];
    int n1 = 0, agree = 0, n30 = 0;
    for (int c = 0; c < 10000; c++) {
        snprintf(id, sizeof id, "c%07d", c);
        int a = ar_world_ab_assign(id, 42, 0.5);
        assert_int_equal(a, ar_world_ab_assign(id, 42, 0.5)); /* deterministic */
        n1 += a;
        agree += a == ar_world_ab_assign(id, 43, 0.5);
        n30 += ar_world_ab_assign(id, 42, 0.3);
    }
    /* Balanced: 5000 +- 4 sd (sd 50); another salt is a fresh assignment (about half agree);
     * the share is honoured. */
    assert_true(n1 > 4800 && n1 < 5200);
    assert_true(agree > 4800 && agree < 5200);
    assert_true(n30 > 2816 && n30 < 3184);
}

static ar_world_ab_options quick_options(uint64_t salt) {
    ar_world_ab_options o = ar_world_ab_options_default();
    o.salt = salt;
    o.pilot_visits = 1000;
    o.min_visits = 3000;
    o.max_visits = 3000;
    o.n_threads = 1;
    return o;
}

/* A policy against itself: the difference is significant in about alpha = 5% of the salts.
 * With 60 salts, P(more than 8 significant | 5%) < 0.4%. Inference at the customer level is
 * what keeps this honest: repeat visits of a customer are correlated. */
static void test_aa(void **state) {
    (void)state;
    ar_world *w = make_world();
    ar_world_policy p;
    assert_int_equal(ar_world_policy_builtin(w, "popular", &p), AR_OK);
    int significant = 0;
    ar_error err;
    for (uint64_t salt = 1; salt <= 60; salt++) {
        ar_world_ab_options o = quick_options(salt);
        ar_world_ab_result r;
        assert_int_equal(ar_world_ab_test(w, &p, &p, &o, &r, &err), AR_OK);
        assert_true(r.visits == 3000);
        assert_true(r.reward_diff.p_value >= 0 && r.reward_diff.p_value <= 1);
        assert_true(r.reward_diff.ci_low <= r.reward_diff.diff &&
                    r.reward_diff.diff <= r.reward_diff.ci_high);
        /* consistent: the interval excludes 0 exactly when p < alpha */
        int excl = r.reward_diff.ci_low > 0 || r.reward_diff.ci_high < 0;
        assert_int_equal(excl, r.reward_diff.p_value < o.alpha);
        significant += excl;
    }
    print_message("A/A: %d of 60 salts significant at 5%%\n", significant);
    assert_true(significant <= 8);
    ar_world_free(w);
}

/* The oracle against random: a large effect, detected, and the verdict adopts it. */
static void test_detects_better(void **state) {
    (void)state;
    ar_world *w = make_world();
    ar_world_policy a, b;
    assert_int_equal(ar_world_policy_builtin(w, "random", &a), AR_OK);
    assert_int_equal(ar_world_policy_builtin(w, "oracle", &b), AR_OK);
    ar_world_ab_options o = quick_options(7);
    o.max_visits = 20000;
    ar_world_ab_result r;
    ar_error err;
    assert_int_equal(ar_world_ab_test(w, &a, &b, &o, &r, &err), AR_OK);
    assert_true(r.reward_diff.ci_low > 0);
    assert_true(r.reward_diff.p_value < 1e-4);
    assert_true(r.diff[AR_WM_REVENUE_PER_VISIT].diff > 0);
    assert_true(r.arm[0].visits > 0 && r.arm[1].visits > 0);
    assert_true(r.customers[0] + r.customers[1] == 400);
    /* Guardrails: both arms served only repaired slates. random breaks rules; nothing shown
     * does. */
    assert_int_equal(r.arm[0].violations_shown, 0);
    assert_int_equal(r.arm[1].violations_shown, 0);
    assert_true(r.arm[0].metric[AR_WM_VIOLATIONS].mean > 0);
    ar_world_objective obj = ar_world_objective_default();
    obj.ab = o;
    ar_world_verdict v;
    ar_world_ab_verdict(&obj, &r, NULL, &v);
    assert_true(v.significant && v.guardrails_ok);
    assert_true(strstr(v.rationale, "significant") != NULL);
    /* the other way round: not adopted */
    assert_int_equal(ar_world_ab_test(w, &b, &a, &o, &r, &err), AR_OK);
    ar_world_ab_verdict(&obj, &r, NULL, &v);
    assert_false(v.adopt);
    assert_true(strstr(v.rationale, "reject") != NULL);
    ar_world_free(w);
}

/* The number of visits follows the power analysis: a smaller mde asks for more visits; a cap
 * is reported. */
static void test_power(void **state) {
    (void)state;
    ar_world *w = make_world();
    ar_world_policy p;
    ar_world_policy_builtin(w, "popular", &p);
    ar_world_ab_options o = quick_options(5);
    o.max_visits = 1000000;
    o.mde = 0.5;
    ar_world_ab_result big, small;
    ar_error err;
    assert_int_equal(ar_world_ab_test(w, &p, &p, &o, &big, &err), AR_OK);
    o.mde = 1.0;
    assert_int_equal(ar_world_ab_test(w, &p, &p, &o, &small, &err), AR_OK);
    /* required visits scale as 1/mde^2 (same pilot) */
    double ratio = (double)big.required_visits / (double)small.required_visits;
    assert_true(ratio > 3.9 && ratio < 4.1);
    assert_false(big.capped);
    o.mde = 0.01;
    o.max_visits = 5000;
    assert_int_equal(ar_world_ab_test(w, &p, &p, &o, &big, &err), AR_OK);
    assert_true(big.capped);
    assert_true(big.visits == 5000);
    assert_true(big.mde_at_visits > 0.01);
    ar_world_free(w);
}

static void test_threads(void **state) {
    (void)state;
    ar_world *w = make_world();
    ar_world_policy a, b;
    ar_world_policy_builtin(w, "popular", &a);
    ar_world_policy_builtin(w, "mostpop", &b);
    ar_world_ab_options o = quick_options(11);
    ar_world_ab_result r1, r2;
    ar_error err;
    assert_int_equal(ar_world_ab_test(w, &a, &b, &o, &r1, &err), AR_OK);
    o.n_threads = 2;
    assert_int_equal(ar_world_ab_test(w, &a, &b, &o, &r2, &err), AR_OK);
    assert_int_equal(r1.visits, r2.visits);
    assert_true(memcmp(&r1.reward_diff, &r2.reward_diff, sizeof r1.reward_diff) == 0);
    assert_true(memcmp(r1.diff, r2.diff, sizeof r1.diff) == 0);
    assert_true(memcmp(&r1.arm[1].metric, &r2.arm[1].metric, sizeof r1.arm[1].metric) == 0);
    ar_world_free(w);
}

static void test_objective(void **state) {
    (void)state;
    ar_world_objective o;
    ar_error err;
    assert_int_equal(ar_world_objective_parse(NULL, 0, &o, &err), AR_OK);
    assert_null(ar_world_objective_check(&o));
    assert_true(o.ab.reward_weight[AR_WM_REVENUE_PER_VISIT] == 1.0);
    assert_true(o.floor_baseline[AR_WM_LONG_TAIL_SHARE] == 0.5);
    const char *ok = "{\"reward\": {\"revenue_per_visit\": 1, \"margin_per_visit\": 0.5},"
                     " \"floors\": {\"long_tail_share\": {\"min\": 0.1}},"
                     " \"inner\": {\"metric\": \"recall\", \"k\": 20},"
                     " \"ab\": {\"mde\": 0.2, \"max_visits\": 50000}}";
    assert_int_equal(ar_world_objective_parse(ok, strlen(ok), &o, &err), AR_OK);
    assert_true(o.ab.reward_weight[AR_WM_MARGIN_PER_VISIT] == 0.5);
    assert_true(o.floor_min[AR_WM_LONG_TAIL_SHARE] == 0.1);
    assert_true(isnan(o.floor_baseline[AR_WM_LONG_TAIL_SHARE]));
    assert_true(isnan(o.floor_min[AR_WM_NEW_COLLECTION_SHARE])); /* floors replaced */
    assert_string_equal(o.inner_metric, "recall");
    assert_int_equal(o.ab.max_visits, 50000);
    char *j = ar_world_objective_json(&o);
    assert_non_null(j);
    ar_world_objective back;
    assert_int_equal(ar_world_objective_parse(j, strlen(j), &back, &err), AR_OK);
    assert_true(back.ab.mde == 0.2 && back.inner_k == 20);
    ar_free_array(j);
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"rewards\": {}}", "rewards: unknown key"},
        {"{\"reward\": {\"aov\": 1}}", "reward.aov"},
        {"{\"reward\": {\"revenue\": 1}}", "reward.revenue: unknown metric"},
        {"{\"floors\": {\"long_tail_share\": {\"baseline_ratio\": -1}}}",
         "floors.long_tail_share.baseline_ratio"},
        {"{\"floors\": {\"long_tail_share\": {\"max\": 1}}}", "floors.long_tail_share.max"},
        {"{\"inner\": {\"metric\": \"gini\"}}", "inner.metric"},
        {"{\"ab\": {\"alpha\": 0.7}}", "ab.alpha"},
        {"{\"ab\": {\"max_visits\": 1.5}}", "ab.max_visits: expected an integer"},
        {"{\"ab\": {\"min_visits\": 9000, \"max_visits\": 5000}}", "min_visits"},
        {"{\"reward\": {\"revenue_per_visit\": 0}}", "non-zero weight"},
        {"[1]", "expected an object"},
        {"{", "line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        assert_int_not_equal(ar_world_objective_parse(bad[i].json, strlen(bad[i].json), &o, &err),
                             AR_OK);
        if (!strstr(err.msg, bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].json, err.msg, bad[i].needle);
    }
    ar_world_ab_options ao = ar_world_ab_options_default();
    ao.share = 1;
    assert_non_null(ar_world_ab_options_check(&ao));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment),     cmocka_unit_test(test_aa),
        cmocka_unit_test(test_detects_better), cmocka_unit_test(test_power),
        cmocka_unit_test(test_threads),        cmocka_unit_test(test_objective),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
