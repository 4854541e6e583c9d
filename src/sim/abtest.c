/*
 * abtest.c -- online A/B tests in the retail world and the outer objective that decides on
 * them (include/agentrec/world.h, "Online A/B tests" and "The outer objective").
 *
 * Assignment. A customer's arm is a salted hash of her external id: FNV-1a of the id, mixed
 * with the salt through splitmix64, compared with the share of B. The id, not the index, is
 * hashed, so the assignment is what a web shop would compute from a cookie or account id.
 *
 * Sample size. The standard two-sample formula for a difference in means (e.g. Kohavi, Tang &
 * Xu, "Trustworthy Online Controlled Experiments", 2020, ch. 17), with the per-arm variances
 * measured on an internal pilot (Wittes & Brittain 1990: the pilot looks at variances only, so
 * the level is kept to a good approximation). The main run starts again at start_day from the
 * same state, so the pilot is its prefix and costs pilot_visits extra visits of simulation.
 *
 * Inference. The customer is the unit of assignment, so she is the unit of inference: each
 * arm's mean is a ratio sum_c x_c / sum_c y_c of customer totals (x = her reward or metric
 * numerator over her visits, y = her visits or the metric's denominator); its standard error
 * comes from the delta method, Var ~ Var(x - r y) / (n ybar^2) over the n customers who
 * visited. Treating visits as independent instead would ignore that one customer's visits are
 * correlated and make an A/A test "significant" far more often than alpha. The difference B - A
 * gets Welch's interval with Welch-Satterthwaite degrees of freedom and a two-sided p-value
 * from Student's t distribution (regularised incomplete beta by Lentz's continued fraction,
 * Numerical Recipes 3rd ed. 6.4).
 *
 * CUPED (Deng, Xu, Kohavi & Walker, "Improving the Sensitivity of Online Controlled
 * Experiments by Utilizing Pre-Experiment Data", WSDM 2013). With a covariate X fixed before the
 * test, customer c's reward total Y_c is replaced by Y_c - theta (X_c - Xbar) and the ratio and
 * its delta-method interval are computed as above. For a ratio metric the quantity whose
 * variance matters is the linearisation L_c = Y_c - r n_c (r the arm's ratio, n_c her visits),
 * so theta = Cov(L, X) / Var(X), the regression of L on X: the variance-minimising coefficient
 * for the ratio, where Cov(Y, X) / Var(X) would be the one for a per-customer mean. Covariances
 * are pooled within arms (centred on each arm's means, so a treatment effect does not leak into
 * theta) and Xbar is the mean over both arms, so both arms get the same theta and the same
 * centre: since assignment is random and X precedes it, E[Xbar_B - Xbar_A] = 0 and the adjusted
 * difference estimates the same effect (up to the O(1/n) bias of an estimated theta). Every sum
 * runs in customer order, so the result does not depend on the thread count.
 */
#include "sim/world_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -- Assignment ---------------------------------------------------------------------------------
 */

static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int ar_world_ab_assign(const char *customer_id, uint64_t salt, double share) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)customer_id; p && *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h = splitmix(h ^ splitmix(salt));
    return (double)(h >> 11) * 0x1.0p-53 < share;
}

/* -- Options ------------------------------------------------------------------------------------
 */

ar_world_ab_options ar_world_ab_options_default(void) {
    ar_world_ab_options o;
    memset(&o, 0, sizeof o);
    o.salt = 0;
    o.share = 0.5;
    o.mde = 0.10;
    o.alpha = 0.05;
    o.power = 0.8;
    o.pilot_visits = 4000;
    o.sigma = 0;
    o.min_visits = 4000;
    o.max_visits = 100000;
    o.reward_weight[AR_WM_REVENUE_PER_VISIT] = 1.0;
    return o;
}

const char *ar_world_ab_options_check(const ar_world_ab_options *o) {
    if (!o)
        return "options are NULL";
    if (!(o->share > 0 && o->share < 1))
        return "share must be in (0, 1)";
    if (!(o->mde > 0 && o->mde <= 10))
        return "mde must be in (0, 10]";
    if (!(o->alpha > 0 && o->alpha < 0.5))
        return "alpha must be in (0, 0.5)";
    if (!(o->power >= 0.5 && o->power < 1))
        return "power must be in [0.5, 1)";
    if (!(o->sigma >= 0 && isfinite(o->sigma)))
        return "sigma must be >= 0";
    if (o->sigma == 0 && o->pilot_visits < 100)
        return "pilot_visits must be >= 100 (or give sigma)";
    if (o->min_visits < 100 || o->max_visits < o->min_visits || o->max_visits > (int64_t)1 << 40)
        return "visits bounds must satisfy 100 <= min_visits <= max_visits <= 2^40";
    if (o->pilot_visits > o->max_visits)
        return "pilot_visits must be <= max_visits";
    int any = 0;
    for (int m = 0; m < AR_WM_N; m++) {
        if (!isfinite(o->reward_weight[m]))
            return "reward weights must be finite";
        any |= o->reward_weight[m] != 0;
    }
    if (!any)
        return "the reward needs at least one non-zero weight";
    if (o->reward_weight[AR_WM_AOV] != 0 ||
        o->reward_weight[AR_WM_NEW_COLLECTION_REVENUE_SHARE] != 0)
        return "aov and new_collection_revenue_share have no per-visit value and cannot weigh "
               "in the reward";
    if (o->n_threads < 0)
        return "n_threads must be >= 0";
    return ar__world_start_check(o->start_day, o->state);
}

/* -- Student's t --------------------------------------------------------------------------------
 */

/* The continued fraction of the regularised incomplete beta function (modified Lentz). */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        d = fabs(d) < tiny ? tiny : d;
        c = 1 + aa / c;
        c = fabs(c) < tiny ? tiny : c;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return h;
}

static double betai(double a, double b, double x) {
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lbt) * betacf(a, b, x) / a;
    return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

/* P(|T| >= t) for Student's t with df degrees of freedom. */
static double t_two_sided(double t, double df) {
    if (!isfinite(t))
        return 0;
    return betai(0.5 * df, 0.5, df / (df + t * t));
}

/* The t with P(|T| >= t) = p, by bisection. */
static double t_quantile(double p, double df) {
    double lo = 0, hi = 1e6;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (t_two_sided(mid, df) > p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Mean and delta-method standard error of a ratio accumulator over n visits. */
static void mean_se(const ar__wacc *a, double n, double *mean, double *se) {
    *mean = *se = 0;
    if (n <= 0 || a->sy <= 0)
        return;
    double r = a->sx / a->sy, ybar = a->sy / n;
    double ss = a->sxx - 2 * r * a->sxy + r * r * a->syy;
    double var = n > 1 && ss > 0 ? ss / (n - 1) : 0;
    *mean = r;
    *se = sqrt(var / n) / ybar;
}

/* The variance of the difference of two arms' ratio means (the square of Welch's se). */
static double diff_var(const ar__wacc *a, double na, const ar__wacc *b, double nb) {
    double ma, sa, mb, sb;
    mean_se(a, na, &ma, &sa);
    mean_se(b, nb, &mb, &sb);
    return sa * sa + sb * sb;
}

static ar_world_ab_diff welch(const ar__wacc *a, double na, const ar__wacc *b, double nb,
                              double alpha) {
    ar_world_ab_diff d;
    memset(&d, 0, sizeof d);
    double ma, sa, mb, sb;
    mean_se(a, na, &ma, &sa);
    mean_se(b, nb, &mb, &sb);
    d.diff = mb - ma;
    d.rel = ma != 0 ? d.diff / fabs(ma) : 0;
    double va = sa * sa, vb = sb * sb, se = sqrt(va + vb);
    if (!(se > 0)) {
        d.ci_low = d.ci_high = d.diff;
        d.p_value = d.diff == 0 ? 1 : 0;
        d.df = na + nb - 2;
        return d;
    }
    double den = (na > 1 ? va * va / (na - 1) : 0) + (nb > 1 ? vb * vb / (nb - 1) : 0);
    d.df = den > 0 ? (va + vb) * (va + vb) / den : na + nb - 2;
    if (d.df < 1)
        d.df = 1;
    double q = t_quantile(alpha, d.df);
    d.ci_low = d.diff - q * se;
    d.ci_high = d.diff + q * se;
    d.p_value = t_two_sided(fabs(d.diff) / se, d.df);
    return d;
}

/* -- The test -----------------------------------------------------------------------------------
 */

/* Customer-level sums of one run: per arm, a ratio accumulator over the customers who visited
 * (x = a customer's total, y = her visits or impressions, ...), and how many they were. */
typedef struct cust_sums {
    ar__wacc m[2][AR_WM_N], reward[2];
    double n[2];
} cust_sums;

static void by_customer(const double *cust, const uint8_t *arm, int32_t nc, cust_sums *cs) {
    memset(cs, 0, sizeof *cs);
    for (int32_t c = 0; c < nc; c++) {
        const double *row = cust + (size_t)c * AR__CUST_STRIDE;
        double visits = row[2 * AR_WM_N + 1];
        if (visits <= 0)
            continue;
        int a = arm[c];
        cs->n[a] += 1;
        for (int m = 0; m < AR_WM_N; m++) {
            ar__wacc *q = &cs->m[a][m];
            double x = row[2 * m], y = row[2 * m + 1];
            q->sx += x, q->sy += y, q->sxx += x * x, q->syy += y * y, q->sxy += x * y;
        }
        ar__wacc *q = &cs->reward[a];
        double x = row[2 * AR_WM_N];
        q->sx += x, q->sy += visits, q->sxx += x * x, q->syy += visits * visits;
        q->sxy += x * visits;
    }
}

/* CUPED for the reward's ratio (world_internal.h). Three passes in customer order: the arms'
 * ratios and mean covariates, the pooled within-arm moments of (x, L = y - r n), the adjusted
 * totals. */
void ar__world_cuped(int32_t n_customers, const double *y, const double *visits, size_t stride,
                     const uint8_t *arm, const double *x, ar_world_ab_cuped *cu, ar__wacc adj[2]) {
    double sy[2] = {0, 0}, sn[2] = {0, 0}, sx[2] = {0, 0}, cnt[2] = {0, 0}, r[2];
    memset(cu, 0, sizeof *cu);
    for (int32_t c = 0; c < n_customers; c++) {
        double v = visits[(size_t)c * stride];
        if (v <= 0)
            continue;
        int k = arm[c];
        sy[k] += y[(size_t)c * stride];
        sn[k] += v;
        sx[k] += x[c];
        cnt[k] += 1;
    }
    double n = cnt[0] + cnt[1], xbar = n > 0 ? (sx[0] + sx[1]) / n : 0;
    for (int k = 0; k < 2; k++) {
        r[k] = sn[k] > 0 ? sy[k] / sn[k] : 0;
        cu->covariate_mean[k] = cnt[k] > 0 ? sx[k] / cnt[k] : 0;
    }
    double sxx = 0, sxl = 0, sll = 0;
    for (int32_t c = 0; c < n_customers; c++) {
        double v = visits[(size_t)c * stride];
        if (v <= 0)
            continue;
        int k = arm[c];
        double dx = x[c] - cu->covariate_mean[k], l = y[(size_t)c * stride] - r[k] * v;
        sxx += dx * dx;
        sxl += dx * l;
        sll += l * l;
    }
    cu->used = 1;
    cu->theta = sxx > 0 ? sxl / sxx : 0;
    cu->corr = sxx > 0 && sll > 0 ? sxl / sqrt(sxx * sll) : 0;
    memset(adj, 0, 2 * sizeof *adj);
    for (int32_t c = 0; c < n_customers; c++) {
        double v = visits[(size_t)c * stride];
        if (v <= 0)
            continue;
        ar__wacc *q = &adj[arm[c]];
        double t = y[(size_t)c * stride] - cu->theta * (x[c] - xbar);
        q->sx += t, q->sy += v, q->sxx += t * t, q->syy += v * v, q->sxy += t * v;
    }
}

static void cuped(const double *cust, const uint8_t *arm, int32_t nc, const double *x,
                  ar_world_ab_cuped *cu, ar__wacc adj[2]) {
    ar__world_cuped(nc, cust + 2 * AR_WM_N, cust + 2 * AR_WM_N + 1, AR__CUST_STRIDE, arm, x, cu,
                    adj);
}

ar_status ar_world_ab_test(const ar_world *w, const ar_world_policy *a, const ar_world_policy *b,
                           const ar_world_ab_options *opt, ar_world_ab_result *out, ar_error *err) {
    memset(out, 0, sizeof *out);
    const char *bad = ar_world_ab_options_check(opt);
    if (bad)
        return ar__fail(err, AR_EINVAL, "A/B options: %s", bad);
    if (!a || !a->serve || !b || !b->serve)
        return ar__fail(err, AR_EINVAL, "A/B test: both variants need a policy");
    if (opt->state && opt->state->w != w)
        return ar__fail(err, AR_EINVAL, "A/B test: the state comes from another world");
    int32_t nc = w->n_customers;
    const double *cov = opt->covariate;
    for (int32_t c = 0; cov && c < nc; c++)
        if (!isfinite(cov[c]))
            return ar__fail(err, AR_EINVAL, "A/B test: the covariate of customer %lld is %g",
                            (long long)c, cov[c]);
    out->start_day = opt->start_day;
    uint8_t *arm = ar__alloc_array((size_t)nc, 1);
    if (!arm)
        return ar__fail(err, AR_ENOMEM, "A/B test: out of memory");
    for (int32_t c = 0; c < nc; c++) {
        arm[c] = (uint8_t)ar_world_ab_assign(w->customer_ids + (size_t)c * W_ID_LEN, opt->salt,
                                             opt->share);
        out->customers[arm[c]]++;
    }
    const ar_world_policy *pols[2] = {a, b};
    size_t cust_n = (size_t)nc * AR__CUST_STRIDE;
    double *cust = ar__alloc_array(cust_n, sizeof *cust);
    if (!cust) {
        ar__free(arm);
        return ar__fail(err, AR_ENOMEM, "A/B test: out of memory");
    }
    memset(cust, 0, cust_n * sizeof *cust);
    cust_sums cs;
    ar_world_ab_cuped cu;
    ar__wacc adj[2];
    double conf = 1 - opt->alpha;
    ar__wacc acc[2][AR_WM_N], rw[2];
    ar_world_eval_result res[2];
    ar_status st = AR_OK;
    /* Variance: the pilot, or sigma given. */
    double sd[2] = {opt->sigma, opt->sigma}, mu_a = 0;
    if (opt->sigma > 0) {
        /* control's mean still sets the effect size: measure it on a short run */
        st = ar__world_simulate_ab(w, pols, arm, opt->start_day, opt->state, opt->min_visits,
                                   opt->reward_weight, conf, opt->n_threads, NULL, NULL, NULL, res,
                                   acc, rw, err);
        if (!st)
            mu_a = res[0].visits ? rw[0].sx / (double)res[0].visits : 0;
    } else {
        st = ar__world_simulate_ab(w, pols, arm, opt->start_day, opt->state, opt->pilot_visits,
                                   opt->reward_weight, conf, opt->n_threads, NULL, NULL, cust, res,
                                   acc, rw, err);
        if (!st) {
            /* The per-visit deviation that, with visits independent, would give the standard
             * error measured at the customer level: repeat visits of one customer are
             * correlated, and this folds that in. With a covariate, the adjusted standard
             * error: CUPED shortens the test as much as it narrows the interval. */
            by_customer(cust, arm, nc, &cs);
            if (cov)
                cuped(cust, arm, nc, cov, &cu, adj);
            for (int k = 0; k < 2; k++) {
                double mean, se;
                mean_se(cov ? &adj[k] : &cs.reward[k], cs.n[k], &mean, &se);
                sd[k] = se * sqrt((double)res[k].visits);
            }
            mu_a = res[0].visits ? rw[0].sx / (double)res[0].visits : 0;
        }
    }
    if (st) {
        ar__free(arm);
        return st;
    }
    double za = ar__world_z(1 - opt->alpha), zb = ar__world_z(2 * opt->power - 1);
    double s = opt->share, delta = opt->mde * fabs(mu_a);
    double need = delta > 0 ? (za + zb) * (za + zb) *
                                  (sd[0] * sd[0] / (1 - s) + sd[1] * sd[1] / s) / (delta * delta)
                            : INFINITY;
    int64_t n = opt->max_visits;
    out->required_visits = isfinite(need) && need < 9e18 ? (int64_t)ceil(need) : INT64_MAX;
    if (out->required_visits < n)
        n = out->required_visits;
    if (n < opt->min_visits)
        n = opt->min_visits;
    out->capped = out->required_visits > opt->max_visits;
    out->sd[0] = sd[0];
    out->sd[1] = sd[1];
    memset(cust, 0, cust_n * sizeof *cust);
    st = ar__world_simulate_ab(w, pols, arm, opt->start_day, opt->state, n, opt->reward_weight,
                               conf, opt->n_threads, opt->progress, opt->progress_data, cust, res,
                               acc, rw, err);
    if (!st) {
        by_customer(cust, arm, nc, &cs);
        if (cov)
            cuped(cust, arm, nc, cov, &cu, adj);
    }
    ar__free(arm);
    ar__free(cust);
    if (st)
        return st;
    out->arm[0] = res[0];
    out->arm[1] = res[1];
    out->visits = res[0].visits + res[1].visits;
    if (res[0].visits < 2 || res[1].visits < 2)
        return ar__fail(err, AR_EEMPTY,
                        "A/B test: an arm got fewer than 2 visits in %lld (share %.3g)",
                        (long long)out->visits, s);
    /* Inference at the customer level: the customer is the unit of assignment. */
    double na = cs.n[0], nb = cs.n[1], z = ar__world_z(conf);
    out->visited[0] = (int64_t)na;
    out->visited[1] = (int64_t)nb;
    for (int k = 0; k < 2; k++) {
        out->reward[k] = ar__world_estimate(&cs.reward[k], cs.n[k], z);
        for (int m = 0; m < AR_WM_N; m++)
            out->arm[k].metric[m] = ar__world_estimate(&cs.m[k][m], cs.n[k], z);
    }
    out->reward_diff = welch(&cs.reward[0], na, &cs.reward[1], nb, opt->alpha);
    if (cov) {
        out->cuped = cu;
        for (int k = 0; k < 2; k++) {
            out->cuped.reward[k] = out->reward[k];
            out->reward[k] = ar__world_estimate(&adj[k], cs.n[k], z);
        }
        out->cuped.reward_diff = out->reward_diff;
        out->reward_diff = welch(&adj[0], na, &adj[1], nb, opt->alpha);
        double v0 = diff_var(&cs.reward[0], na, &cs.reward[1], nb),
               v1 = diff_var(&adj[0], na, &adj[1], nb);
        out->cuped.variance_reduction = v0 > 0 ? 1 - v1 / v0 : 0;
    }
    for (int m = 0; m < AR_WM_N; m++)
        out->diff[m] = welch(&cs.m[0][m], na, &cs.m[1][m], nb, opt->alpha);
    double mu = out->reward[0].mean;
    double sd_n =
        sqrt(sd[0] * sd[0] / (double)res[0].visits + sd[1] * sd[1] / (double)res[1].visits);
    out->mde_at_visits = mu != 0 ? (za + zb) * sd_n / fabs(mu) : INFINITY;
    return AR_OK;
}

/* -- The objective --------------------------------------------------------------------------------
 */

ar_world_objective ar_world_objective_default(void) {
    ar_world_objective o;
    memset(&o, 0, sizeof o);
    o.ab = ar_world_ab_options_default();
    for (int m = 0; m < AR_WM_N; m++)
        o.floor_min[m] = o.floor_baseline[m] = NAN;
    o.floor_min[AR_WM_NEW_COLLECTION_SHARE] = 0;
    o.floor_baseline[AR_WM_NEW_COLLECTION_SHARE] = 0.5;
    o.floor_min[AR_WM_LONG_TAIL_SHARE] = 0;
    o.floor_baseline[AR_WM_LONG_TAIL_SHARE] = 0.5;
    snprintf(o.inner_metric, sizeof o.inner_metric, "ndcg");
    o.inner_k = 10;
    o.inner_tolerance = 0.05;
    return o;
}

const char *ar_world_objective_check(const ar_world_objective *o) {
    if (!o)
        return "objective is NULL";
    const char *bad = ar_world_ab_options_check(&o->ab);
    if (bad)
        return bad;
    for (int m = 0; m < AR_WM_N; m++) {
        if (!isnan(o->floor_min[m]) && !isfinite(o->floor_min[m]))
            return "floors must be finite";
        if (!isnan(o->floor_baseline[m]) &&
            !(o->floor_baseline[m] >= 0 && o->floor_baseline[m] <= 10))
            return "baseline_ratio floors must be in [0, 10]";
    }
    int im = ar_metric_parse(o->inner_metric);
    if (im < 0 || im == AR_METRIC_COVERAGE || im == AR_METRIC_NOVELTY || im == AR_METRIC_GINI)
        return "inner.metric must be recall, ndcg, hr, precision, mrr or map";
    if (o->inner_k < 1 || o->inner_k > 1000)
        return "inner.k must be in [1, 1000]";
    if (!(o->inner_tolerance >= 0 && o->inner_tolerance < 1))
        return "inner.tolerance must be in [0, 1)";
    return NULL;
}

static int metric_index(const char *name) {
    for (int m = 0; m < AR_WM_N; m++)
        if (strcmp(name, ar_world_metric_name(m)) == 0)
            return m;
    return -1;
}

static ar_status only_keys(json_t *obj, const char *path, const char *const *allowed,
                           ar_error *err) {
    if (!json_is_object(obj))
        return ar__fail(err, AR_EPARSE, "%s: expected an object", path);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok)
            return ar__fail(err, AR_EPARSE, "%s%s%s: unknown key", path, *path ? "." : "", key);
    }
    return AR_OK;
}

static ar_status num(json_t *obj, const char *path, const char *key, double lo, double hi,
                     double *out, ar_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v)
        return AR_OK;
    if (!json_is_number(v))
        return ar__fail(err, AR_EPARSE, "%s.%s: expected a number", path, key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return ar__fail(err, AR_ERANGE, "%s.%s: expected a number in [%g, %g] (got %g)", path, key,
                        lo, hi, x);
    *out = x;
    return AR_OK;
}

static ar_status integer(json_t *obj, const char *path, const char *key, int64_t lo, int64_t hi,
                         int64_t *out, ar_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v)
        return AR_OK;
    if (!json_is_integer(v))
        return ar__fail(err, AR_EPARSE, "%s.%s: expected an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ar__fail(err, AR_ERANGE, "%s.%s: expected an integer in [%lld, %lld] (got %lld)",
                        path, key, (long long)lo, (long long)hi, (long long)x);
    *out = x;
    return AR_OK;
}

static ar_status parse_obj(json_t *root, ar_world_objective *o, ar_error *err) {
    static const char *const top[] = {"reward", "floors", "inner", "ab", NULL};
    ar_status st = only_keys(root, "", top, err);
    if (st)
        return st;
    json_t *rw = json_object_get(root, "reward");
    if (rw) {
        if (!json_is_object(rw))
            return ar__fail(err, AR_EPARSE, "reward: expected an object of metric weights");
        for (int m = 0; m < AR_WM_N; m++)
            o->ab.reward_weight[m] = 0;
        const char *key;
        json_t *v;
        json_object_foreach(rw, key, v) {
            int m = metric_index(key);
            if (m < 0)
                return ar__fail(err, AR_EPARSE, "reward.%s: unknown metric", key);
            if (m == AR_WM_AOV || m == AR_WM_NEW_COLLECTION_REVENUE_SHARE)
                return ar__fail(err, AR_EINVAL, "reward.%s: has no per-visit value", key);
            if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
                fabs(json_number_value(v)) > 1e9)
                return ar__fail(err, AR_EPARSE, "reward.%s: expected a finite number", key);
            o->ab.reward_weight[m] = json_number_value(v);
        }
    }
    json_t *fl = json_object_get(root, "floors");
    if (fl) {
        if (!json_is_object(fl))
            return ar__fail(err, AR_EPARSE, "floors: expected an object");
        for (int m = 0; m < AR_WM_N; m++)
            o->floor_min[m] = o->floor_baseline[m] = NAN;
        const char *key;
        json_t *v;
        json_object_foreach(fl, key, v) {
            int m = metric_index(key);
            char path[96];
            snprintf(path, sizeof path, "floors.%s", key);
            if (m < 0)
                return ar__fail(err, AR_EPARSE, "%s: unknown metric", path);
            static const char *const fk[] = {"min", "baseline_ratio", NULL};
            if ((st = only_keys(v, path, fk, err)) ||
                (st = num(v, path, "min", -1e12, 1e12, &o->floor_min[m], err)) ||
                (st = num(v, path, "baseline_ratio", 0, 10, &o->floor_baseline[m], err)))
                return st;
        }
    }
    json_t *in = json_object_get(root, "inner");
    if (in) {
        static const char *const ik[] = {"metric", "k", "tolerance", NULL};
        if ((st = only_keys(in, "inner", ik, err)))
            return st;
        json_t *m = json_object_get(in, "metric");
        if (m) {
            int im = json_is_string(m) ? ar_metric_parse(json_string_value(m)) : -1;
            if (im < 0 || im == AR_METRIC_COVERAGE || im == AR_METRIC_NOVELTY ||
                im == AR_METRIC_GINI)
                return ar__fail(err, AR_EPARSE,
                                "inner.metric: expected one of recall, ndcg, hr, precision, mrr, "
                                "map");
            snprintf(o->inner_metric, sizeof o->inner_metric, "%s", json_string_value(m));
        }
        int64_t k = o->inner_k;
        if ((st = integer(in, "inner", "k", 1, 1000, &k, err)) ||
            (st = num(in, "inner", "tolerance", 0, 0.999, &o->inner_tolerance, err)))
            return st;
        o->inner_k = (int)k;
    }
    json_t *ab = json_object_get(root, "ab");
    if (ab) {
        static const char *const ak[] = {"mde",          "alpha",      "power",
                                         "pilot_visits", "min_visits", "max_visits",
                                         "share",        "sigma",      NULL};
        ar_world_ab_options *a = &o->ab;
        if ((st = only_keys(ab, "ab", ak, err)) ||
            (st = num(ab, "ab", "mde", 1e-6, 10, &a->mde, err)) ||
            (st = num(ab, "ab", "alpha", 1e-9, 0.49, &a->alpha, err)) ||
            (st = num(ab, "ab", "power", 0.5, 0.9999, &a->power, err)) ||
            (st = num(ab, "ab", "share", 0.001, 0.999, &a->share, err)) ||
            (st = num(ab, "ab", "sigma", 0, 1e12, &a->sigma, err)) ||
            (st =
                 integer(ab, "ab", "pilot_visits", 100, (int64_t)1 << 40, &a->pilot_visits, err)) ||
            (st = integer(ab, "ab", "min_visits", 100, (int64_t)1 << 40, &a->min_visits, err)) ||
            (st = integer(ab, "ab", "max_visits", 100, (int64_t)1 << 40, &a->max_visits, err)))
            return st;
    }
    const char *bad = ar_world_objective_check(o);
    if (bad)
        return ar__fail(err, AR_ERANGE, "%s", bad);
    return AR_OK;
}

ar_status ar_world_objective_parse(const char *json, size_t len, ar_world_objective *out,
                                   ar_error *err) {
    *out = ar_world_objective_default();
    if (!json)
        return AR_OK;
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ar__fail(err, AR_EPARSE, "line %d: %s", je.line, je.text);
    ar_world_objective o = *out;
    ar_status st = parse_obj(root, &o, err);
    json_decref(root);
    if (!st)
        *out = o;
    return st;
}

ar_status ar_world_objective_load(const char *path, ar_world_objective *out, ar_error *err) {
    *out = ar_world_objective_default();
    FILE *f = fopen(path, "rb");
    if (!f)
        return ar__fail(err, AR_EIO, "%s: %s", path, strerror(errno));
    size_t cap = (size_t)1 << 20;
    char *buf = ar__malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return AR_ENOMEM;
    }
    size_t n = fread(buf, 1, cap + 1, f);
    int rd = ferror(f);
    fclose(f);
    ar_status st;
    if (rd)
        st = ar__fail(err, AR_EIO, "%s: read error", path);
    else if (n > cap)
        st = ar__fail(err, AR_ERANGE, "%s: larger than 1 MiB", path);
    else {
        ar_error inner;
        st = ar_world_objective_parse(buf, n, out, &inner);
        if (st)
            ar__fail(err, st, "%s: %s", path, inner.msg);
    }
    ar__free(buf);
    return st;
}

char *ar_world_objective_json(const ar_world_objective *o) {
    json_t *rw = json_object(), *fl = json_object();
    for (int m = 0; m < AR_WM_N; m++) {
        if (o->ab.reward_weight[m] != 0)
            json_object_set_new(rw, ar_world_metric_name(m), json_real(o->ab.reward_weight[m]));
        if (!isnan(o->floor_min[m]) || !isnan(o->floor_baseline[m])) {
            json_t *f = json_object();
            if (!isnan(o->floor_min[m]))
                json_object_set_new(f, "min", json_real(o->floor_min[m]));
            if (!isnan(o->floor_baseline[m]))
                json_object_set_new(f, "baseline_ratio", json_real(o->floor_baseline[m]));
            json_object_set_new(fl, ar_world_metric_name(m), f);
        }
    }
    const ar_world_ab_options *a = &o->ab;
    json_t *root = json_pack(
        "{s:o,s:o,s:{s:s,s:i,s:f},s:{s:f,s:f,s:f,s:I,s:I,s:I,s:f,s:f}}", "reward", rw, "floors", fl,
        "inner", "metric", o->inner_metric, "k", o->inner_k, "tolerance", o->inner_tolerance, "ab",
        "mde", a->mde, "alpha", a->alpha, "power", a->power, "pilot_visits",
        (json_int_t)a->pilot_visits, "min_visits", (json_int_t)a->min_visits, "max_visits",
        (json_int_t)a->max_visits, "share", a->share, "sigma", a->sigma);
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (!s)
        return NULL;
    char *copy = ar__strdup(s);
    free(s);
    return copy;
}

void ar_world_ab_verdict(const ar_world_objective *o, const ar_world_ab_result *r,
                         const ar_world_eval_result *baseline, ar_world_verdict *out) {
    memset(out, 0, sizeof *out);
    const ar_world_ab_diff *d = &r->reward_diff;
    out->significant = d->ci_low > 0;
    out->guardrails_ok = r->arm[0].violations_shown == 0 && r->arm[1].violations_shown == 0;
    out->floors_ok = 1;
    char floors[384] = "";
    size_t fl = 0;
    for (int m = 0; m < AR_WM_N; m++) {
        double need = -INFINITY;
        if (!isnan(o->floor_min[m]))
            need = o->floor_min[m];
        if (!isnan(o->floor_baseline[m]) && baseline) {
            double b = o->floor_baseline[m] * baseline->metric[m].mean;
            need = b > need ? b : need;
        }
        if (need == -INFINITY)
            continue;
        double got = r->arm[1].metric[m].mean;
        int ok = got >= need;
        out->floors_ok &= ok;
        if (fl < sizeof floors)
            fl += (size_t)snprintf(floors + fl, sizeof floors - fl, "%s%s %.4g %s %.4g",
                                   fl ? ", " : "", ar_world_metric_name(m), got, ok ? ">=" : "<",
                                   need);
    }
    out->adopt = out->significant && out->floors_ok && out->guardrails_ok;
    int64_t served = 0; /* by the candidate, before the hard filter */
    for (int q = 0; q < r->arm[1].n_rules; q++)
        served += r->arm[1].violations_per_rule[q];
    char cv[96] = "";
    if (r->cuped.used)
        snprintf(cv, sizeof cv, ", CUPED theta %.3g, variance %+.0f%%", r->cuped.theta,
                 -100 * r->cuped.variance_reduction);
    snprintf(out->rationale, sizeof out->rationale,
             "%s: outer reward %.4g vs %.4g, difference %+.4g [%+.4g, %+.4g] (%+.1f%%, p=%.3g, "
             "%lld visits%s%s) %s; floors %s (%s); violations shown %lld (%lld served, repaired)",
             out->adopt          ? "adopt"
             : !out->significant ? "reject, no significant improvement"
             : !out->floors_ok   ? "reject, a floor is broken"
                                 : "reject, guardrail violation shown",
             r->reward[1].mean, r->reward[0].mean, d->diff, d->ci_low, d->ci_high, 100 * d->rel,
             d->p_value, (long long)r->visits, r->capped ? ", capped" : "", cv,
             out->significant ? "significant" : "not significant",
             out->floors_ok ? "hold" : "broken", floors[0] ? floors : "none",
             (long long)(r->arm[0].violations_shown + r->arm[1].violations_shown),
             (long long)served);
}
