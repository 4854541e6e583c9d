/*
 * test_abtest.c -- online A/B tests in the retail world: the salted assignment is deterministic
 * and balanced, a policy tested against itself is significant in about alpha of the salts, a
 * clearly better policy is detected, results do not depend on the thread count, the guardrails
 * are enforced in both arms, and the objective parses with JSON paths in its errors.
 *
 * CUPED (the customer's revenue in a logged history as covariate, the test running after that
 * history): the interval narrows on the same experiment, an A/A test still rejects at about
 * alpha with a mean difference near 0, a useless covariate changes (almost) nothing, and the
 * result does not depend on the thread count.
 */
#include "agentrec.h"
#include "sim/world_internal.h" /* ar__world_cuped, checked against a naive reference */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The catalogue and guardrails both test shops share. */
#define SHOP_CATALOG                                                                               \
    "{\"customers\": 400, \"items\": 300, \"slate_size\": 6, \"style_dims\": 4,"                   \
    " \"catalog\": {\"brands\": [{\"name\": \"A\", \"tier\": \"luxury\", \"exclusivity\": 0.3},"   \
    "   {\"name\": \"B\", \"tier\": \"premium\"}, {\"name\": \"C\", \"tier\": \"contemporary\"}]," \
    "  \"categories\": [{\"name\": \"bags\"}, {\"name\": \"shoes\"}],"                             \
    "  \"collections\": [{\"name\": \"core\", \"launch_day\": -100},"                              \
    "                    {\"name\": \"new\", \"launch_day\": -3, \"share\": 0.2}]},"
#define SHOP_GUARDRAILS                                                                            \
    " \"guardrails\": [{\"type\": \"max_per_brand\", \"max\": 2},"                                 \
    "   {\"type\": \"exclusive_segment\", \"segment\": \"vic\"}]}"

/* Small enough to run many experiments: 400 customers who visit often. */
static const char world_json[] =
    SHOP_CATALOG " \"segments\": [{\"name\": \"regular\", \"visits_per_day\": 0.3},"
                 "                {\"name\": \"vic\", \"visits_per_day\": 0.5, \"share\": "
                 "0.2}]," SHOP_GUARDRAILS;

/* The same shop with customers as unequal as a real one: most spend little, a few VICs much
 * (budgets 150 and 2,500, as in docs/examples/world-small.json). What a customer spent in the
 * history then says something about what she will spend, which is what CUPED uses. */
static const char shop_json[] = SHOP_CATALOG
    " \"segments\": [{\"name\": \"regular\", \"visits_per_day\": 0.3, \"budget_median\": 150},"
    "                {\"name\": \"vic\", \"visits_per_day\": 0.5, \"share\": 0.2,"
    "                 \"budget_median\": 2500, \"loyalty\": 0.6}]," SHOP_GUARDRAILS;

static ar_world *world_of(const char *json) {
    ar_world_config *cfg;
    ar_error err;
    if (ar_world_config_parse(json, strlen(json), &cfg, &err))
        fail_msg("config: %s", err.msg);
    ar_world *w;
    assert_int_equal(ar_world_create(cfg, 3, 0, &w, &err), AR_OK);
    ar_world_config_free(cfg);
    return w;
}

static ar_world *make_world(void) {
    return world_of(world_json);
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

/* -- CUPED after a logged history --------------------------------------------------------------
 */

#define HISTORY_DAYS 60

/* A world, the state its history of HISTORY_DAYS days under `popular` left, and each customer's
 * revenue in that history, read from the generated dataset as a caller would: the purchase
 * events' values summed per user, mapped to world customers by external id. */
typedef struct after_history {
    ar_world *w;
    ar_world_state *st;
    double *revenue; /* n_customers */
    int32_t buyers;  /* customers with revenue > 0 */
} after_history;

static void after_history_init(after_history *h) {
    h->w = world_of(shop_json);
    ar_world_policy pop;
    assert_int_equal(ar_world_policy_builtin(h->w, "popular", &pop), AR_OK);
    ar_world_generate_options go = ar_world_generate_options_default();
    go.days = HISTORY_DAYS;
    go.impressions = 0;
    go.n_threads = 1;
    ar_dataset *ds;
    ar_error err;
    assert_int_equal(ar_world_generate(h->w, &pop, &go, &ds, NULL, &err), AR_OK);
    assert_int_equal(ar_world_state_create(h->w, &pop, HISTORY_DAYS, 1, &h->st, &err), AR_OK);
    int32_t nc = ar_world_n_customers(h->w), nu = ar_dataset_n_users(ds);
    h->revenue = calloc((size_t)nc, sizeof *h->revenue);
    int32_t *cust_of = malloc((size_t)nu * sizeof *cust_of);
    assert_non_null(h->revenue);
    assert_non_null(cust_of);
    for (int32_t u = 0; u < nu; u++)
        cust_of[u] = -1;
    for (int32_t c = 0; c < nc; c++) {
        int32_t u = ar_dataset_lookup(ds, AR_USERS, ar_world_customer_id(h->w, c));
        assert_true(u >= 0);
        cust_of[u] = c;
    }
    int purchase = -1;
    for (int e = 0; e < ar_dataset_n_events(ds); e++)
        if (strcmp(ar_dataset_event_name(ds, e), "purchase") == 0)
            purchase = e;
    assert_true(purchase >= 0);
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    for (int64_t i = 0; i < in.n; i++)
        if (in.event[i] == purchase)
            h->revenue[cust_of[in.user[i]]] += in.value[i];
    h->buyers = 0;
    for (int32_t c = 0; c < nc; c++)
        h->buyers += h->revenue[c] > 0;
    free(cust_of);
    ar_dataset_free(ds);
}

static void after_history_free(after_history *h) {
    ar_world_state_free(h->st);
    ar_world_free(h->w);
    free(h->revenue);
}

static ar_world_ab_options after_options(const after_history *h, uint64_t salt,
                                         const double *covariate) {
    ar_world_ab_options o = quick_options(salt);
    o.start_day = HISTORY_DAYS;
    o.state = h->st;
    o.covariate = covariate;
    return o;
}

static double width(const ar_world_ab_diff *d) {
    return d->ci_high - d->ci_low;
}

/* The same experiment with and without the covariate: the unadjusted part is bit for bit the
 * plain result, the adjusted interval is narrower, theta and the correlation are positive, and
 * the adjusted arm means are consistent with the adjusted difference. Also the trap the test
 * must avoid: replaying the history's days (start_day 0) makes the same covariate look far
 * better, because it then shares the test's random streams. */
static void test_cuped_narrower(void **state) {
    (void)state;
    after_history h;
    after_history_init(&h);
    print_message("history: %d of %d customers bought\n", (int)h.buyers,
                  (int)ar_world_n_customers(h.w));
    assert_true(h.buyers > 40);
    ar_world_policy a, b;
    ar_world_policy_builtin(h.w, "popular", &a);
    ar_world_policy_builtin(h.w, "mostpop", &b);
    ar_world_ab_options o = after_options(&h, 21, NULL);
    o.max_visits = o.min_visits = 6000;
    ar_world_ab_result plain, cu;
    ar_error err;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &plain, &err), AR_OK);
    assert_false(plain.cuped.used);
    assert_int_equal(plain.start_day, HISTORY_DAYS);
    o.covariate = h.revenue;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &cu, &err), AR_OK);
    assert_true(cu.cuped.used);
    assert_int_equal(cu.visits, plain.visits);
    assert_true(memcmp(&cu.cuped.reward_diff, &plain.reward_diff, sizeof plain.reward_diff) == 0);
    assert_true(memcmp(cu.cuped.reward, plain.reward, sizeof plain.reward) == 0);
    assert_true(memcmp(cu.diff, plain.diff, sizeof plain.diff) == 0); /* metrics unadjusted */
    double wp = width(&plain.reward_diff), wc = width(&cu.reward_diff);
    print_message("after the history: theta %.4g, corr %.3f, variance reduction %.1f%%, width "
                  "%.3f -> %.3f; diff %.3f -> %.3f\n",
                  cu.cuped.theta, cu.cuped.corr, 100 * cu.cuped.variance_reduction, wp, wc,
                  plain.reward_diff.diff, cu.reward_diff.diff);
    assert_true(cu.cuped.theta > 0 && cu.cuped.corr > 0.1);
    assert_true(cu.cuped.variance_reduction > 0.02);
    assert_true(wc < wp);
    assert_true(fabs(wc / wp - sqrt(1 - cu.cuped.variance_reduction)) < 1e-3);
    assert_true(fabs(cu.reward_diff.diff - (cu.reward[1].mean - cu.reward[0].mean)) <
                1e-9 * (1 + fabs(cu.reward_diff.diff)));
    /* The adjustment, recomputed naively: each arm's mean moves by theta times its customers'
     * covariate excess over the pooled mean, per visit. */
    double n0 = (double)cu.visited[0], n1 = (double)cu.visited[1];
    assert_true(n0 > 0 && n1 > 0 && n0 <= (double)cu.customers[0]);
    double xbar = (n0 * cu.cuped.covariate_mean[0] + n1 * cu.cuped.covariate_mean[1]) / (n0 + n1);
    for (int k = 0; k < 2; k++) {
        double want =
            cu.cuped.reward[k].mean - cu.cuped.theta * (cu.cuped.covariate_mean[k] - xbar) *
                                          (double)cu.visited[k] / (double)cu.arm[k].visits;
        assert_true(fabs(cu.reward[k].mean - want) < 1e-9 * (1 + fabs(want)));
    }
    /* theta is the variance-minimising coefficient for the linearised ratio: the reduction is
     * then about the squared correlation (a wrong theta reduces less). */
    /* about the squared correlation */
    assert_true(fabs(cu.cuped.variance_reduction - cu.cuped.corr * cu.cuped.corr) <
                0.3 * cu.cuped.variance_reduction);
    assert_true(cu.reward_diff.ci_low <= cu.reward_diff.diff &&
                cu.reward_diff.diff <= cu.reward_diff.ci_high);
    /* The pilot's variance is adjusted too: the power analysis asks for fewer visits. */
    assert_true(cu.required_visits < plain.required_visits);
    /* The trap: the same covariate on a test that replays the history's days. */
    ar_world_ab_options o0 = quick_options(21);
    o0.max_visits = o0.min_visits = 6000;
    o0.covariate = h.revenue;
    ar_world_ab_result replay;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o0, &replay, &err), AR_OK);
    print_message("replaying the history's days: variance reduction %.1f%% (corr %.3f)\n",
                  100 * replay.cuped.variance_reduction, replay.cuped.corr);
    assert_true(replay.cuped.variance_reduction > cu.cuped.variance_reduction);
    after_history_free(&h);
}

/* The naive reference of the CUPED kernel, straight from the definitions on per-customer
 * arrays: r_k = sum y / sum n over arm k's visitors, L = y - r_k n, theta by least squares of L
 * on x with one intercept per arm (given, or NAN to estimate), adjusted totals y - theta (x -
 * pooled mean x), each arm's ratio and its delta-method variance from the residuals. Returns the
 * variance of the difference; theta and the adjusted ratios go to *theta_out and rk. */
static double cuped_reference(int32_t n, const double *y, const double *v, const uint8_t *arm,
                              const double *x, double theta, double *theta_out, double rk[2]) {
    double r[2], xm[2], xbar = 0, cnt = 0;
    for (int k = 0; k < 2; k++) {
        double sy = 0, sv = 0, sx = 0, m = 0;
        for (int32_t c = 0; c < n; c++)
            if (v[c] > 0 && arm[c] == k)
                sy += y[c], sv += v[c], sx += x[c], m += 1;
        r[k] = sy / sv;
        xm[k] = sx / m;
        xbar += sx;
        cnt += m;
    }
    xbar /= cnt;
    if (isnan(theta)) {
        double num = 0, den = 0;
        for (int32_t c = 0; c < n; c++)
            if (v[c] > 0) {
                int k = arm[c];
                num += (x[c] - xm[k]) * (y[c] - r[k] * v[c]);
                den += (x[c] - xm[k]) * (x[c] - xm[k]);
            }
        theta = num / den;
    }
    *theta_out = theta;
    double var = 0;
    for (int k = 0; k < 2; k++) {
        double sy = 0, sv = 0, m = 0, ss = 0;
        for (int32_t c = 0; c < n; c++)
            if (v[c] > 0 && arm[c] == k)
                sy += y[c] - theta * (x[c] - xbar), sv += v[c], m += 1;
        rk[k] = sy / sv;
        for (int32_t c = 0; c < n; c++)
            if (v[c] > 0 && arm[c] == k) {
                double e = y[c] - theta * (x[c] - xbar) - rk[k] * v[c];
                ss += e * e;
            }
        double vbar = sv / m;
        var += ss / (m - 1) / m / (vbar * vbar);
    }
    return var;
}

/* The kernel against the reference on synthetic customers whose covariate tracks their visits
 * (as a pre-period total does): theta must be that of the linearised ratio, not Cov(y, x) /
 * Var(x), which here is far off and leaves more variance. */
static void test_cuped_kernel(void **state) {
    (void)state;
    enum { N = 3000 };
    static double y[N], v[N], x[N];
    static uint8_t arm[N];
    ar_rng rng;
    ar_rng_stream(&rng, 5, 0);
    for (int32_t c = 0; c < N; c++) {
        double rate = 1 + 19 * ar_rng_uniform(&rng), spend = 5 + 20 * ar_rng_uniform(&rng);
        arm[c] = ar_rng_uniform(&rng) < 0.5;
        v[c] = ar_rng_uniform(&rng) < 0.1 ? 0 : floor(rate * (0.5 + ar_rng_uniform(&rng)));
        y[c] = v[c] * spend * (arm[c] ? 1.1 : 1.0) * (0.8 + 0.4 * ar_rng_uniform(&rng));
        x[c] = rate * spend * (0.8 + 0.4 * ar_rng_uniform(&rng)) + 20 * rate;
    }
    ar_world_ab_cuped cu;
    ar__wacc adj[2];
    ar__world_cuped(N, y, v, 1, arm, x, &cu, adj);
    double theta, rk[2];
    double var = cuped_reference(N, y, v, arm, x, NAN, &theta, rk);
    assert_true(cu.used);
    assert_true(fabs(cu.theta - theta) < 1e-9 * fabs(theta));
    double got_var = 0;
    for (int k = 0; k < 2; k++) {
        double m = 0;
        for (int32_t c = 0; c < N; c++)
            m += v[c] > 0 && arm[c] == k;
        const ar__wacc *a = &adj[k];
        double r = a->sx / a->sy, ybar = a->sy / m;
        assert_true(fabs(r - rk[k]) < 1e-9 * fabs(rk[k]));
        got_var += (a->sxx - 2 * r * a->sxy + r * r * a->syy) / (m - 1) / m / (ybar * ybar);
    }
    assert_true(fabs(got_var - var) < 1e-6 * var);
    /* theta minimises the variance; Cov(y, x) / Var(x) does not. */
    double t2, naive_num = 0, naive_den = 0, mx = 0, my = 0, m = 0;
    for (int32_t c = 0; c < N; c++)
        if (v[c] > 0)
            mx += x[c], my += y[c], m += 1;
    mx /= m, my /= m;
    for (int32_t c = 0; c < N; c++)
        if (v[c] > 0)
            naive_num += (x[c] - mx) * (y[c] - my), naive_den += (x[c] - mx) * (x[c] - mx);
    double v_lo = cuped_reference(N, y, v, arm, x, 0.8 * theta, &t2, rk);
    double v_hi = cuped_reference(N, y, v, arm, x, 1.2 * theta, &t2, rk);
    double v_naive = cuped_reference(N, y, v, arm, x, naive_num / naive_den, &t2, rk);
    double v_raw = cuped_reference(N, y, v, arm, x, 0, &t2, rk);
    print_message("kernel: theta %.4f (naive %.4f), variance %.4g (0.8 theta %.4g, 1.2 theta "
                  "%.4g, naive %.4g, none %.4g)\n",
                  theta, naive_num / naive_den, var, v_lo, v_hi, v_naive, v_raw);
    assert_true(var < v_lo && var < v_hi && var < 0.5 * v_naive && var < 0.95 * v_raw);
}

/* A/A with CUPED: the level holds and the adjusted difference is centred on 0. At alpha 0.05
 * over 40 salts, at most 4 significant (2 x alpha); the mean difference over the salts within
 * 3.5 standard errors of 0. */
static void test_cuped_aa(void **state) {
    (void)state;
    after_history h;
    after_history_init(&h);
    ar_world_policy p;
    ar_world_policy_builtin(h.w, "popular", &p);
    enum { SALTS = 40 };
    double d[SALTS], sum = 0, ss = 0, wsum_c = 0, wsum_p = 0, vr = 0;
    int significant = 0, significant_plain = 0;
    ar_error err;
    for (int i = 0; i < SALTS; i++) {
        ar_world_ab_options o = after_options(&h, 100 + (uint64_t)i, h.revenue);
        ar_world_ab_result r;
        assert_int_equal(ar_world_ab_test(h.w, &p, &p, &o, &r, &err), AR_OK);
        const ar_world_ab_diff *x = &r.reward_diff;
        assert_true(x->p_value >= 0 && x->p_value <= 1);
        int excl = x->ci_low > 0 || x->ci_high < 0;
        assert_int_equal(excl, x->p_value < o.alpha);
        significant += excl;
        significant_plain += r.cuped.reward_diff.ci_low > 0 || r.cuped.reward_diff.ci_high < 0;
        d[i] = x->diff;
        sum += x->diff;
        wsum_c += width(x);
        wsum_p += width(&r.cuped.reward_diff);
        vr += r.cuped.variance_reduction;
    }
    double mean = sum / SALTS;
    for (int i = 0; i < SALTS; i++)
        ss += (d[i] - mean) * (d[i] - mean);
    double se = sqrt(ss / (SALTS - 1) / SALTS);
    print_message("A/A with CUPED: %d of %d salts significant (%d without), mean difference "
                  "%.4f (se %.4f), mean variance reduction %.1f%%, mean width %.3f vs %.3f\n",
                  significant, SALTS, significant_plain, mean, se, 100 * vr / SALTS, wsum_c / SALTS,
                  wsum_p / SALTS);
    assert_true(significant <= 4);
    assert_true(fabs(mean) < 3.5 * se);
    assert_true(wsum_c < wsum_p);
    after_history_free(&h);
}

/* A useless covariate: a constant gives theta 0 and exactly the plain result; independent noise
 * moves the variance by a few percent at most. */
static void test_cuped_useless(void **state) {
    (void)state;
    after_history h;
    after_history_init(&h);
    int32_t nc = ar_world_n_customers(h.w);
    double *konst = malloc((size_t)nc * sizeof *konst), *noise = malloc((size_t)nc * sizeof *noise);
    assert_non_null(konst);
    assert_non_null(noise);
    ar_rng rng;
    ar_rng_stream(&rng, 99, 1);
    for (int32_t c = 0; c < nc; c++) {
        konst[c] = 250;
        noise[c] = 1000 * ar_rng_uniform(&rng);
    }
    ar_world_policy a, b;
    ar_world_policy_builtin(h.w, "popular", &a);
    ar_world_policy_builtin(h.w, "mostpop", &b);
    ar_world_ab_options o = after_options(&h, 31, NULL);
    ar_world_ab_result plain, k, n;
    ar_error err;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &plain, &err), AR_OK);
    o.covariate = konst;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &k, &err), AR_OK);
    assert_true(k.cuped.used);
    assert_true(k.cuped.theta == 0 && k.cuped.variance_reduction == 0);
    assert_true(memcmp(&k.reward_diff, &plain.reward_diff, sizeof plain.reward_diff) == 0);
    o.covariate = noise;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &n, &err), AR_OK);
    print_message("noise covariate: corr %.3f, variance reduction %.2f%%, diff %.3f vs %.3f\n",
                  n.cuped.corr, 100 * n.cuped.variance_reduction, n.reward_diff.diff,
                  plain.reward_diff.diff);
    assert_true(fabs(n.cuped.variance_reduction) < 0.03);
    assert_true(fabs(width(&n.reward_diff) / width(&plain.reward_diff) - 1) < 0.02);
    assert_true(fabs(n.reward_diff.diff - plain.reward_diff.diff) <
                0.2 * width(&plain.reward_diff));
    /* A covariate that is not finite is refused. */
    noise[7] = NAN;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &n, &err), AR_EINVAL);
    free(konst);
    free(noise);
    after_history_free(&h);
}

/* Same bits with 1 and 2 threads, adjustment included; the start options are checked. */
static void test_cuped_threads(void **state) {
    (void)state;
    after_history h;
    after_history_init(&h);
    ar_world_policy a, b;
    ar_world_policy_builtin(h.w, "popular", &a);
    ar_world_policy_builtin(h.w, "mostpop", &b);
    ar_world_ab_options o = after_options(&h, 41, h.revenue);
    ar_world_ab_result r1, r2;
    ar_error err;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &r1, &err), AR_OK);
    o.n_threads = 2;
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &r2, &err), AR_OK);
    assert_int_equal(r1.visits, r2.visits);
    assert_int_equal(r1.required_visits, r2.required_visits);
    assert_true(memcmp(&r1.reward_diff, &r2.reward_diff, sizeof r1.reward_diff) == 0);
    assert_true(memcmp(r1.reward, r2.reward, sizeof r1.reward) == 0);
    assert_true(memcmp(&r1.cuped, &r2.cuped, sizeof r1.cuped) == 0);
    assert_true(memcmp(r1.diff, r2.diff, sizeof r1.diff) == 0);
    /* The state's day must be start_day; a state of another world is refused. */
    o.start_day = HISTORY_DAYS + 1;
    assert_non_null(ar_world_ab_options_check(&o));
    assert_int_equal(ar_world_ab_test(h.w, &a, &b, &o, &r1, &err), AR_EINVAL);
    assert_true(strstr(err.msg, "start_day") != NULL);
    o.start_day = HISTORY_DAYS;
    ar_world *other = make_world();
    assert_int_equal(ar_world_ab_test(other, &a, &b, &o, &r1, &err), AR_EINVAL);
    ar_world_free(other);
    o.state = NULL;
    o.start_day = -1;
    assert_non_null(ar_world_ab_options_check(&o));
    after_history_free(&h);
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
        cmocka_unit_test(test_cuped_kernel),   cmocka_unit_test(test_cuped_narrower),
        cmocka_unit_test(test_cuped_aa),       cmocka_unit_test(test_cuped_useless),
        cmocka_unit_test(test_cuped_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
