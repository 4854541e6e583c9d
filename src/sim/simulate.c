/*
 * simulate.c -- the day-by-day simulation of visits: the customer response model, the built-in
 * policies, online evaluation with confidence intervals, generation of a dataset and the
 * calibration statistics.
 *
 * A run advances one day at a time. Each customer visits on a day with probability equal to her
 * visit rate, decided from RNG stream (seed, VISIT | day | customer). The day's visits are served
 * and answered in parallel: a visit reads the run state as of the start of the day and writes
 * only the visiting customer's own state (her taste drift, her fatigue and history rings), with
 * randomness from streams keyed by (day, customer). Then one sequential pass in customer order
 * resolves stock (a purchase of an item that sold out earlier that day, in that order, is lost),
 * updates popularity, accumulates the metrics and appends the events. Hence a run is a function
 * of (world, policy, options) alone: the same for 1 or N threads.
 *
 * A run need not start on day 0 in the initial state: it may start on any day from a state (a
 * copy of a run kept at the end of earlier days, ar_world_state). The day index drives the RNG
 * streams and the calendar, the state everything else, so a run from day D in the state a
 * history of D days left continues that history with fresh randomness, and a run from day 0
 * replays the history's visits and responses exactly.
 *
 * The response model follows the position-based and cascade click models (Craswell et al. 2008;
 * Chuklin, Markov and de Rijke, "Click Models for Web Search", 2015) with a logistic
 * attractiveness as in RecSim's choice models (Ie et al. 2019):
 *   a(c, i, t) = style_weight <u_c(t), z_i> + brand_weight A_c[brand(i)]
 *              + category_weight C_c[category(i)] + quality_weight q_i
 *              + trend lift(t) z_i[dim] + new_item_boost [i launched < new_days ago]
 *              - fatigue * (times i was among c's last W_SEEN impressions)
 *   P(click | examined) = sigmoid(click_base + a)
 *   P(cart | click)     = sigmoid(cart_base + cart_affinity a
 *                                 - price_sensitivity ln(price paid / budget_c))
 *   P(purchase | cart)  = purchase_given_cart, if the item is in stock.
 * u_c(t) is the customer's drifting taste moved toward a collection's style by taste-shift events.
 */
#include "sim/world_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_VISIT (5ull << 56)
#define TAG_RESP (6ull << 56)
#define TAG_POLICY (7ull << 56)

static double normal(ar_rng *r) {
    double u1 = ar_rng_uniform(r), u2 = ar_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

static uint64_t stream_id(uint64_t tag, int day, int32_t c) {
    return tag | ((uint64_t)(uint32_t)day << 28) | (uint64_t)(uint32_t)c;
}

/* -- Run state ------------------------------------------------------------------------------- */

static void run_free(ar_world_run *r) {
    if (!r)
        return;
    ar__free(r->stock);
    ar__free(r->pop);
    ar__free(r->pop_order);
    ar__free(r->pop_cum);
    ar__free(r->taste);
    ar__free(r->history);
    ar__free(r->n_hist);
    ar__free(r->hist_pos);
    ar__free(r->seen);
    ar__free(r->seen_pos);
    ar__free(r);
}

static ar_world_run *run_create(const ar_world *w) {
    ar_world_run *r = ar__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t ni = (size_t)w->n_items, nc = (size_t)w->n_customers;
    r->w = w;
    r->stock = ar__alloc_array(ni, sizeof *r->stock);
    r->pop = ar__alloc_array(ni, sizeof *r->pop);
    r->pop_order = ar__alloc_array(ni, sizeof *r->pop_order);
    r->pop_cum = ar__alloc_array(ni, sizeof *r->pop_cum);
    r->taste = ar__alloc_array(nc * (size_t)w->dims, sizeof *r->taste);
    r->history = ar__alloc_array(nc * W_HISTORY, sizeof *r->history);
    r->n_hist = ar__calloc(nc, 1);
    r->hist_pos = ar__calloc(nc, 1);
    r->seen = ar__alloc_array(nc * W_SEEN, sizeof *r->seen);
    r->seen_pos = ar__calloc(nc, 1);
    if (!r->stock || !r->pop || !r->pop_order || !r->pop_cum || !r->taste || !r->history ||
        !r->n_hist || !r->hist_pos || !r->seen || !r->seen_pos) {
        run_free(r);
        return NULL;
    }
    memcpy(r->stock, w->stock, ni * sizeof *r->stock);
    for (size_t i = 0; i < ni; i++)
        r->pop[i] = (int64_t)w->prior[i];
    memcpy(r->taste, w->taste, nc * (size_t)w->dims * sizeof *r->taste);
    for (size_t i = 0; i < nc * W_SEEN; i++)
        r->seen[i] = -1;
    return r;
}

/* A copy of src (a state to start a run from): everything a run changes. The per-day fields
 * (day, time0, n_candidates, the popularity order, the head) are derived by run_start_day, not
 * copied. */
static ar_world_run *run_clone(const ar_world_run *src) {
    const ar_world *w = src->w;
    ar_world_run *r = run_create(w);
    if (!r)
        return NULL;
    size_t ni = (size_t)w->n_items, nc = (size_t)w->n_customers;
    memcpy(r->stock, src->stock, ni * sizeof *r->stock);
    memcpy(r->pop, src->pop, ni * sizeof *r->pop);
    memcpy(r->taste, src->taste, nc * (size_t)w->dims * sizeof *r->taste);
    memcpy(r->history, src->history, nc * W_HISTORY * sizeof *r->history);
    memcpy(r->n_hist, src->n_hist, nc);
    memcpy(r->hist_pos, src->hist_pos, nc);
    memcpy(r->seen, src->seen, nc * W_SEEN * sizeof *r->seen);
    memcpy(r->seen_pos, src->seen_pos, nc);
    return r;
}

typedef struct pop_key {
    int64_t pop;
    int32_t item;
} pop_key;

static int cmp_pop(const void *a, const void *b) {
    const pop_key *x = a, *y = b;
    if (x->pop != y->pop)
        return x->pop > y->pop ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Starts day d: launched items, popularity order, the head. scratch (n_items pop_keys) is left
 * holding the whole catalogue by popularity (ties: the lower index). */
static void run_start_day(ar_world_run *r, int day, pop_key *scratch) {
    const ar_world *w = r->w;
    r->day = day;
    r->time0 = w->cfg.start_time + (int64_t)day * W_DAY;
    int32_t n = 0, ni = w->n_items;
    while (n < ni && w->launch[n] <= r->time0)
        n++;
    r->n_candidates = n;
    for (int32_t i = 0; i < ni; i++)
        scratch[i].pop = r->pop[i], scratch[i].item = i;
    qsort(scratch, (size_t)ni, sizeof *scratch, cmp_pop);
    r->head_min = ni / 5 ? scratch[ni / 5 - 1].pop : INT64_MAX;
    double cum = 0;
    for (int32_t i = 0, m = 0; i < ni; i++) {
        int32_t it = scratch[i].item;
        if (it >= n)
            continue; /* not launched yet */
        r->pop_order[m] = it;
        cum += r->stock[it] > 0 ? (double)r->pop[it] + 1.0 : 0.0;
        r->pop_cum[m++] = cum;
    }
}

int32_t ar_world_run_stock(const ar_world_run *r, int32_t item) {
    return item < 0 || item >= r->w->n_items ? 0 : r->stock[item];
}

int64_t ar_world_run_popularity(const ar_world_run *r, int32_t item) {
    return item < 0 || item >= r->w->n_items ? 0 : r->pop[item];
}

int ar_world_run_in_tail(const ar_world_run *r, int32_t item) {
    return ar_world_run_popularity(r, item) < r->head_min;
}

/* -- The response model ----------------------------------------------------------------------- */

/* What every attractiveness computation of one visit shares. */
typedef struct visit_env {
    float u[AR_WORLD_MAX_DIMS]; /* effective taste */
    double trend[AR_WORLD_MAX_DIMS];
    int64_t t;
    int32_t c;
} visit_env;

static void make_env(const ar_world_run *r, int32_t c, int64_t t, visit_env *e) {
    const ar_world *w = r->w;
    const ar_world_config *cfg = &w->cfg;
    int d = w->dims;
    const float *tu = r->taste + (size_t)c * d;
    double u[AR_WORLD_MAX_DIMS];
    for (int k = 0; k < d; k++) {
        u[k] = tu[k];
        e->trend[k] = 0;
    }
    for (int k = 0; k < cfg->n_events; k++) {
        const wevent *ev = &cfg->events[k];
        int64_t from = cfg->start_time + (int64_t)ev->day * W_DAY;
        if (t < from)
            continue;
        if (ev->type == EV_TASTE_SHIFT) {
            double ramp = ev->ramp > 0 ? (double)(t - from) / ((double)ev->ramp * W_DAY) : 1.0;
            double s = ev->strength * (ramp > 1 ? 1 : ramp);
            for (int j = 0; j < d; j++)
                u[j] += s * w->coll_style[ev->collection][j];
        } else if (ev->type == EV_TREND && t < from + (int64_t)ev->duration * W_DAY) {
            e->trend[ev->dim] += ev->strength;
        }
    }
    double n = 0;
    for (int k = 0; k < d; k++)
        n += u[k] * u[k];
    n = n > 0 ? 1.0 / sqrt(n) : 0;
    for (int k = 0; k < d; k++)
        e->u[k] = (float)(u[k] * n);
    e->t = t;
    e->c = c;
}

static int seen_count(const ar_world_run *r, int32_t c, int32_t item) {
    const int32_t *s = r->seen + (size_t)c * W_SEEN;
    int n = 0;
    for (int k = 0; k < W_SEEN; k++)
        n += s[k] == item;
    return n;
}

static double attract(const ar_world *w, const visit_env *e, int32_t item, int seen) {
    const ar_world_config *cfg = &w->cfg;
    const wbehaviour *b = &cfg->b;
    int d = w->dims;
    const float *z = w->style + (size_t)item * d;
    double dot = 0, tr = 0;
    for (int k = 0; k < d; k++) {
        dot += (double)e->u[k] * z[k];
        tr += e->trend[k] * z[k];
    }
    double a =
        b->style_weight * dot +
        b->brand_weight * w->brand_aff[(size_t)e->c * cfg->n_brands + w->brand[item]] +
        b->category_weight * w->cat_aff[(size_t)e->c * cfg->n_categories + w->category[item]] +
        b->quality_weight * cfg->quality_sigma * w->quality[item] + tr - b->fatigue * seen;
    if (e->t - w->launch[item] < (int64_t)b->new_days * W_DAY)
        a += b->new_item_boost;
    return a;
}

static double p_cart(const ar_world *w, const visit_env *e, double a, double paid) {
    const wbehaviour *b = &w->cfg.b;
    return sigmoid(b->cart_base + b->cart_affinity * a -
                   b->price_sensitivity * log(paid / (double)w->budget[e->c]));
}

/* -- Built-in policies ------------------------------------------------------------------------ */

static ar_status serve_random(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                              int32_t *slate, float *prop, int32_t *n_out) {
    (void)ctx;
    (void)w;
    int32_t n = 0, k = v->k < v->n_candidates ? v->k : v->n_candidates;
    while (n < k) {
        int32_t it = (int32_t)ar_rng_below(rng, (uint64_t)v->n_candidates);
        int dup = 0;
        for (int32_t j = 0; j < n; j++)
            dup |= slate[j] == it;
        if (dup)
            continue;
        prop[n] = (float)(1.0 / (double)(v->n_candidates - n));
        slate[n++] = it;
    }
    *n_out = n;
    return AR_OK;
}

/* Weight of the candidate at position p of the popularity order. */
static double pop_weight(const ar_world_run *r, int32_t p) {
    return r->pop_cum[p] - (p > 0 ? r->pop_cum[p - 1] : 0.0);
}

/* Plackett-Luce sampling without replacement, weights popularity + 1 (0 when sold out), by
 * inverse CDF over the day's cumulative weights with rejection of items already drawn; the
 * propensity is the exact conditional probability w_i / (W - weights already drawn). */
static ar_status serve_popular(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                               int32_t *slate, float *prop, int32_t *n_out) {
    (void)ctx;
    (void)w;
    const ar_world_run *r = v->run;
    int32_t n = 0, nc = r->n_candidates, pos[AR_WORLD_MAX_SLATE];
    double total = nc ? r->pop_cum[nc - 1] : 0, taken = 0;
    while (n < v->k && total - taken > 1e-9 * total && total > 0) {
        int32_t p = -1;
        for (int attempt = 0; attempt < 256 && p < 0; attempt++) {
            double x = ar_rng_uniform(rng) * total;
            int32_t lo = 0, hi = nc - 1;
            while (lo < hi) {
                int32_t mid = lo + (hi - lo) / 2;
                if (r->pop_cum[mid] > x)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            p = lo;
            for (int32_t j = 0; j < n; j++)
                if (pos[j] == p)
                    p = -1;
            if (p >= 0 && pop_weight(r, p) <= 0)
                p = -1;
        }
        for (int32_t q = 0; q < nc && p < 0; q++) { /* nearly all weight drawn: first left */
            p = q;
            for (int32_t j = 0; j < n; j++)
                if (pos[j] == q || pop_weight(r, q) <= 0)
                    p = -1;
        }
        if (p < 0)
            break;
        double wt = pop_weight(r, p);
        prop[n] = (float)(wt / (total - taken));
        taken += wt;
        pos[n] = p;
        slate[n++] = r->pop_order[p];
    }
    *n_out = n;
    return AR_OK;
}

/* The k in-stock candidates with the highest popularity (ties: lower index). */
static ar_status serve_mostpop(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                               int32_t *slate, float *prop, int32_t *n_out) {
    (void)ctx;
    (void)w;
    (void)rng;
    (void)prop;
    const ar_world_run *r = v->run;
    int32_t n = 0;
    for (int32_t i = 0; i < r->n_candidates && n < v->k; i++)
        if (r->stock[r->pop_order[i]] > 0)
            slate[n++] = r->pop_order[i];
    *n_out = n;
    return AR_OK;
}

/* Expected revenue of showing `item` (given examination): P(click) P(cart|click) P(buy|cart)
 * times the price paid; 0 when out of stock. */
static ar_status serve_oracle(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                              int32_t *slate, float *prop, int32_t *n_out) {
    (void)ctx;
    (void)rng;
    (void)prop;
    const ar_world_run *r = v->run;
    int32_t n = v->n_candidates;
    *n_out = 0;
    if (n == 0)
        return AR_OK;
    float *val = ar__alloc_array((size_t)n, sizeof *val);
    int32_t m = v->k * 8, *top = ar__alloc_array((size_t)m, sizeof *top);
    if (!val || !top) {
        ar__free(val);
        ar__free(top);
        return AR_ENOMEM;
    }
    visit_env e;
    make_env(r, v->customer, v->time, &e);
    const wbehaviour *b = &w->cfg.b;
    const int32_t *seen = r->seen + (size_t)v->customer * W_SEEN;
    for (int32_t i = 0; i < n; i++) {
        if (r->stock[i] <= 0) {
            val[i] = -1;
            continue;
        }
        int s = 0;
        for (int k = 0; k < W_SEEN; k++)
            s += seen[k] == i;
        double a = attract(w, &e, i, s);
        double paid = w->price[i] * (1.0 - ar__world_discount(w, i, v->time));
        if (paid < 0.01)
            paid = 0.01;
        val[i] = (float)(sigmoid(b->click_base + a) * p_cart(w, &e, a, paid) *
                         b->purchase_given_cart * paid);
    }
    int32_t nt = ar_topk(val, n, NULL, 0, m, top);
    *n_out = ar_world_guardrail_repair(w, v->segment, v->time, top, nt, NULL, 0, v->k, slate, NULL);
    ar__free(val);
    ar__free(top);
    return AR_OK;
}

ar_status ar_world_policy_builtin(const ar_world *w, const char *name, ar_world_policy *out) {
    memset(out, 0, sizeof *out);
    out->ctx = (void *)w;
    if (strcmp(name, "random") == 0)
        out->serve = serve_random, out->name = "random";
    else if (strcmp(name, "popular") == 0)
        out->serve = serve_popular, out->name = "popular";
    else if (strcmp(name, "mostpop") == 0)
        out->serve = serve_mostpop, out->name = "mostpop";
    else if (strcmp(name, "oracle") == 0)
        out->serve = serve_oracle, out->name = "oracle";
    else
        return AR_ENOTFOUND;
    return AR_OK;
}

/* -- Metrics ---------------------------------------------------------------------------------- */

const char *ar_world_metric_name(int metric) {
    static const char *const names[AR_WM_N] = {"revenue_per_visit",
                                               "conversion",
                                               "ctr",
                                               "aov",
                                               "margin_per_visit",
                                               "new_collection_share",
                                               "new_collection_revenue_share",
                                               "long_tail_share",
                                               "violations"};
    return metric >= 0 && metric < AR_WM_N ? names[metric] : NULL;
}

typedef ar__wacc ratio_acc;

static void acc_add(ratio_acc *a, double x, double y);

/* Adds a visit's (x, y) of metric m to its arm's sums and, for A/B tests, to the customer's
 * own sums (crow: AR__CUST_STRIDE doubles, x and y per metric then the reward). */
static void visit_add(ratio_acc *acc, double *crow, int m, double x, double y) {
    acc_add(&acc[m], x, y);
    if (crow) {
        crow[2 * m] += x;
        crow[2 * m + 1] += y;
    }
}

static void acc_add(ratio_acc *a, double x, double y) {
    a->sx += x;
    a->sy += y;
    a->sxx += x * x;
    a->syy += y * y;
    a->sxy += x * y;
}

/* The two-sided normal quantile for `confidence`, by bisection on erfc. */
double ar__world_z(double confidence) {
    double lo = 0, hi = 10, target = 1.0 - confidence;
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo + hi);
        if (erfc(mid / sqrt(2.0)) > target)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Delta-method interval for the ratio of means: Var(r) ~ Var(x - r y) / (n ybar^2). */
ar_world_estimate ar__world_estimate(const ar__wacc *a, double n, double z) {
    ar_world_estimate e = {0, 0, 0};
    if (n <= 0 || a->sy <= 0)
        return e;
    double r = a->sx / a->sy, ybar = a->sy / n;
    double ss = a->sxx - 2 * r * a->sxy + r * r * a->syy; /* sum (x - r y)^2 */
    double var = n > 1 ? ss / (n - 1) : 0;
    double se = var > 0 ? sqrt(var / n) / ybar : 0;
    e.mean = r;
    e.ci_low = r - z * se;
    e.ci_high = r + z * se;
    return e;
}

/* -- The simulation loop ------------------------------------------------------------------------
 */

typedef struct slot {
    int32_t item;
    float prop, paid;
    uint8_t clicked, carted, bought;
} slot;

typedef struct visit_rec {
    int32_t c;
    int64_t t;
    int32_t n, examined, violations, shown_violations;
    uint8_t arm; /* the A/B variant the customer is assigned to (0 outside experiments) */
    ar_status st;
} visit_rec;

typedef struct sim_opts {
    int first_day; /* the first day simulated (its RNG streams, calendar and day index) */
    const ar_world_run *init; /* the state to start from (copied), or NULL: the initial one */
    ar_world_run **keep;      /* when not NULL, gets the run's final state instead of freeing it */
    int days;                 /* at most this many days */
    int64_t max_visits;       /* stop after this many visits (0 = no limit) */
    int enforce;
    int n_threads;
    double confidence;
    ar_builder *b; /* generate: events go here */
    int impressions;
    int64_t *item_events;  /* stats: clicks + purchases per item, or NULL */
    int64_t *session_hist; /* stats: visits by positions examined (slate_size + 1), or NULL */
    /* A/B tests: customer c is served by pols[arm[c]] and counted in res[arm[c]]; arm NULL =
     * everyone in arm 0. reward_w (AR_WM_N weights, or NULL) defines the per-visit outer reward
     * accumulated in reward[arm]; acc_out (n_arms x AR_WM_N, or NULL) gets the raw sums. */
    const ar_world_policy *const *pols;
    int n_arms;
    const uint8_t *arm;
    const double *reward_w;
    ar__wacc *reward;
    ar__wacc *acc_out;
    double *cust; /* A/B: per-customer sums (n_customers x AR__CUST_STRIDE), or NULL */
    ar_progress_fn progress;
    void *progress_data;
} sim_opts;

typedef struct day_buf {
    visit_rec *v;
    slot *s;
    int32_t *per_rule;
    pop_key *keys;
} day_buf;

static void one_visit(const ar_world *w, ar_world_run *r, const ar_world_policy *pol,
                      const sim_opts *o, visit_rec *rec, slot *out, int32_t *per_rule) {
    const ar_world_config *cfg = &w->cfg;
    const wbehaviour *b = &cfg->b;
    int32_t c = rec->c, k = cfg->slate_size;
    int d = w->dims;
    ar_rng rng, prng;
    ar_rng_stream(&rng, w->seed, stream_id(TAG_RESP, r->day, c));
    ar_rng_stream(&prng, w->seed, stream_id(TAG_POLICY, r->day, c));
    /* Taste drift: a small random step on the unit sphere at every visit. */
    float *tu = r->taste + (size_t)c * d;
    if (b->taste_drift > 0) {
        double n = 0;
        for (int j = 0; j < d; j++) {
            tu[j] = (float)(tu[j] + b->taste_drift * normal(&rng));
            n += (double)tu[j] * tu[j];
        }
        n = n > 0 ? 1.0 / sqrt(n) : 0;
        for (int j = 0; j < d; j++)
            tu[j] = (float)(tu[j] * n);
    }
    int32_t hist[W_HISTORY];
    int nh = r->n_hist[c];
    for (int j = 0; j < nh; j++)
        hist[j] = r->history[(size_t)c * W_HISTORY +
                             (size_t)((r->hist_pos[c] + W_HISTORY - nh + j) % W_HISTORY)];
    ar_world_visit v = {c,
                        w->customer_ids + (size_t)c * W_ID_LEN,
                        w->segment[c],
                        cfg->segments[w->segment[c]].name,
                        rec->t,
                        r->day,
                        hist,
                        nh,
                        r->n_candidates,
                        k,
                        r};
    int32_t served[AR_WORLD_MAX_SLATE], shown[AR_WORLD_MAX_SLATE], from[AR_WORLD_MAX_SLATE];
    float prop[AR_WORLD_MAX_SLATE];
    for (int j = 0; j < k; j++)
        prop[j] = 1.0f;
    int32_t n = 0;
    rec->st = pol->serve(pol->ctx, w, &v, &prng, served, prop, &n);
    if (!rec->st && (n < 0 || n > k))
        rec->st = AR_EINVAL;
    for (int32_t j = 0; !rec->st && j < n; j++) {
        if (served[j] < 0 || served[j] >= r->n_candidates)
            rec->st = AR_EINVAL;
        for (int32_t i = 0; i < j; i++)
            if (served[i] == served[j])
                rec->st = AR_EINVAL;
    }
    if (rec->st) {
        rec->n = 0;
        return;
    }
    rec->violations = ar_world_guardrail_count(w, v.segment, rec->t, served, n, per_rule);
    int32_t m = n;
    if (o->enforce) {
        m = ar_world_guardrail_repair(w, v.segment, rec->t, served, n, r->pop_order,
                                      r->n_candidates, k, shown, from);
        /* The hard filter is checked, not trusted: what the customer sees is counted too. */
        rec->shown_violations = ar_world_guardrail_count(w, v.segment, rec->t, shown, m, NULL);
    } else {
        rec->shown_violations = rec->violations;
        for (int32_t j = 0; j < n; j++)
            shown[j] = served[j], from[j] = j;
    }
    rec->n = m;
    visit_env e;
    make_env(r, c, rec->t, &e);
    int examining = 1;
    rec->examined = 0;
    for (int32_t j = 0; j < m; j++) {
        slot *s = &out[j];
        int32_t it = shown[j];
        s->item = it;
        s->prop = from[j] >= 0 ? prop[from[j]] : 1.0f;
        s->clicked = s->carted = s->bought = 0;
        double disc = ar__world_discount(w, it, rec->t);
        s->paid = (float)(w->price[it] * (1.0 - disc));
        int examined;
        if (b->position_model == POS_PBM) {
            examined = ar_rng_uniform(&rng) < pow(1.0 + j, -b->position_decay);
        } else {
            examined = examining;
        }
        if (!examined)
            continue;
        rec->examined = b->position_model == POS_PBM ? rec->examined + 1 : j + 1;
        double a = attract(w, &e, it, seen_count(r, c, it));
        if (ar_rng_uniform(&rng) < sigmoid(b->click_base + a)) {
            s->clicked = 1;
            double paid = s->paid < 0.01 ? 0.01 : s->paid;
            if (ar_rng_uniform(&rng) < p_cart(w, &e, a, paid)) {
                s->carted = 1;
                s->bought = ar_rng_uniform(&rng) < b->purchase_given_cart && r->stock[it] > 0;
            }
            if (b->position_model == POS_CASCADE &&
                ar_rng_uniform(&rng) < b->cascade_stop_after_click)
                examining = 0;
        } else if (b->position_model == POS_CASCADE &&
                   ar_rng_uniform(&rng) >= b->cascade_continue) {
            examining = 0;
        }
    }
    /* The customer's own state: fatigue ring and history. */
    int32_t *seen = r->seen + (size_t)c * W_SEEN;
    for (int32_t j = 0; j < m; j++) {
        seen[r->seen_pos[c]] = shown[j];
        r->seen_pos[c] = (uint8_t)((r->seen_pos[c] + 1) % W_SEEN);
        if (out[j].clicked) {
            r->history[(size_t)c * W_HISTORY + r->hist_pos[c]] = shown[j];
            r->hist_pos[c] = (uint8_t)((r->hist_pos[c] + 1) % W_HISTORY);
            if (r->n_hist[c] < W_HISTORY)
                r->n_hist[c]++;
        }
    }
}

static ar_status emit(ar_builder *b, const ar_world *w, const visit_rec *v, const slot *s,
                      int impressions, const int *codes) {
    const char *user = w->customer_ids + (size_t)v->c * W_ID_LEN;
    for (int32_t j = 0; j < v->n; j++) {
        const char *item = w->item_ids + (size_t)s[j].item * W_ID_LEN;
        int64_t t = v->t + j;
        ar_status st = AR_OK;
        if (impressions)
            st = ar_builder_add(b, user, item, t, codes[0], s[j].prop, AR_SPLIT_TRAIN);
        if (!st && s[j].clicked)
            st = ar_builder_add(b, user, item, t, codes[1], 1.0f, AR_SPLIT_TRAIN);
        if (!st && s[j].carted)
            st = ar_builder_add(b, user, item, t, codes[2], s[j].paid, AR_SPLIT_TRAIN);
        if (!st && s[j].bought)
            st = ar_builder_add(b, user, item, t, codes[3], s[j].paid, AR_SPLIT_TRAIN);
        if (st)
            return st;
    }
    return AR_OK;
}

/* Runs the simulation. res has o->n_arms entries (1 unless an A/B test); pol is arm 0's policy
 * when o->pols is NULL. Visits are counted against max_visits over all arms together. */
static ar_status simulate(const ar_world *w, const ar_world_policy *pol, const sim_opts *o,
                          ar_world_eval_result *res, ar_error *err) {
    const ar_world_config *cfg = &w->cfg;
    int32_t k = cfg->slate_size, nc = w->n_customers;
    int nr = cfg->n_rules, n_arms = o->n_arms > 0 ? o->n_arms : 1;
    const ar_world_policy *single[1] = {pol};
    const ar_world_policy *const *pols = o->pols ? o->pols : single;
    for (int a = 0; a < n_arms; a++) {
        memset(&res[a], 0, sizeof res[a]);
        res[a].n_rules = nr;
        res[a].n_brands = cfg->n_brands;
    }
    int64_t total_visits = 0;
    ar_world_run *r = o->init ? run_clone(o->init) : run_create(w);
    day_buf db = {0};
    db.v = ar__alloc_array((size_t)nc, sizeof *db.v);
    db.s = ar__alloc_array((size_t)nc * (size_t)k, sizeof *db.s);
    db.per_rule = ar__alloc_array((size_t)nc * (size_t)(nr > 0 ? nr : 1), sizeof(int32_t));
    db.keys = ar__alloc_array((size_t)w->n_items, sizeof *db.keys);
    uint8_t *head = ar__calloc((size_t)w->n_items, 1);
    ar_status st = AR_OK;
    int codes[4] = {AR_EVENT_IMPRESSION, AR_EVENT_CLICK, AR_EVENT_CART, AR_EVENT_PURCHASE};
    if (!r || !db.v || !db.s || !db.per_rule || !db.keys || !head) {
        st = ar__fail(err, AR_ENOMEM, "out of memory for the simulation state");
        goto done;
    }
    ratio_acc acc[AR__MAX_ARMS][AR_WM_N], racc[AR__MAX_ARMS];
    memset(acc, 0, sizeof acc);
    memset(racc, 0, sizeof racc);
    int64_t brand_imps[AR__MAX_ARMS][AR_WORLD_MAX_BRANDS];
    memset(brand_imps, 0, sizeof brand_imps);
    int nt = ar__threads(o->n_threads);
    int64_t new_window = (int64_t)cfg->b.new_days * W_DAY;
    int day = o->first_day, end = o->first_day + o->days;
    for (; day < end && (o->max_visits == 0 || total_visits < o->max_visits); day++) {
        run_start_day(r, day, db.keys);
        /* The head the run's long-tail share counts by: the top fifth of the catalogue by
         * popularity when it starts (back-catalogue sales on day 0; after a logged history,
         * what the history sold too -- as a shop counts its long tail by its own sales). */
        for (int32_t i = 0; day == o->first_day && i < w->n_items / 5; i++)
            head[db.keys[i].item] = 1;
        /* Who visits today, in customer order. */
        int32_t nv = 0;
        for (int32_t c = 0; c < nc; c++) {
            if (o->max_visits && total_visits + nv >= o->max_visits)
                break;
            ar_rng vr;
            ar_rng_stream(&vr, w->seed, stream_id(TAG_VISIT, day, c));
            if (ar_rng_uniform(&vr) >= w->rate[c])
                continue;
            db.v[nv].c = c;
            db.v[nv].t = r->time0 + 60 * (int64_t)ar_rng_below(&vr, 1440);
            db.v[nv].violations = 0;
            db.v[nv].shown_violations = 0;
            db.v[nv].arm = o->arm ? o->arm[c] : 0;
            nv++;
        }
#pragma omp parallel for schedule(dynamic, 16) num_threads(nt)
        for (int32_t i = 0; i < nv; i++)
            one_visit(w, r, pols[db.v[i].arm], o, &db.v[i], db.s + (size_t)i * k,
                      db.per_rule + (size_t)i * (nr > 0 ? nr : 1));
        /* Sequential pass in customer order: stock, popularity, metrics, events. */
        for (int32_t i = 0; i < nv; i++) {
            visit_rec *v = &db.v[i];
            slot *s = db.s + (size_t)i * k;
            ar_world_eval_result *res_a = &res[v->arm];
            if (v->st) {
                const ar_world_policy *p = pols[v->arm];
                st = ar__fail(err, v->st,
                              v->st == AR_EINVAL
                                  ? "policy '%s' served an invalid slate (an item outside the "
                                    "candidates, a duplicate or more than k items)"
                                  : "policy '%s' failed",
                              p->name ? p->name : "?");
                goto done;
            }
            double rev = 0, margin = 0, newrev = 0;
            int64_t clicks = 0, buys = 0, newimp = 0, tail = 0;
            for (int32_t j = 0; j < v->n; j++) {
                int32_t it = s[j].item;
                if (s[j].bought) {
                    if (r->stock[it] > 0) {
                        r->stock[it]--;
                    } else {
                        s[j].bought = 0;
                        res_a->stockouts++;
                    }
                }
                int is_new = v->t - w->launch[it] < new_window;
                brand_imps[v->arm][w->brand[it]]++;
                newimp += is_new;
                tail += !head[it];
                clicks += s[j].clicked;
                res_a->carts += s[j].carted;
                if (s[j].bought) {
                    buys++;
                    rev += s[j].paid;
                    margin += s[j].paid - w->price[it] * (1.0 - w->margin[it]);
                    if (is_new)
                        newrev += s[j].paid;
                }
                r->pop[it] += s[j].clicked + s[j].bought;
                if (o->item_events)
                    o->item_events[it] += s[j].clicked + s[j].bought;
            }
            if (o->session_hist)
                o->session_hist[v->examined]++;
            const int32_t *pr = db.per_rule + (size_t)i * (nr > 0 ? nr : 1);
            for (int q = 0; q < nr; q++)
                res_a->violations_per_rule[q] += pr[q];
            res_a->visits++;
            res_a->impressions += v->n;
            res_a->clicks += clicks;
            res_a->purchases += buys;
            res_a->revenue += rev;
            res_a->margin += margin;
            double *crow = o->cust ? o->cust + (size_t)v->c * AR__CUST_STRIDE : NULL;
            visit_add(acc[v->arm], crow, AR_WM_REVENUE_PER_VISIT, rev, 1);
            visit_add(acc[v->arm], crow, AR_WM_CONVERSION, buys > 0, 1);
            visit_add(acc[v->arm], crow, AR_WM_CTR, (double)clicks, v->n);
            visit_add(acc[v->arm], crow, AR_WM_AOV, rev, (double)buys);
            visit_add(acc[v->arm], crow, AR_WM_MARGIN_PER_VISIT, margin, 1);
            visit_add(acc[v->arm], crow, AR_WM_NEW_COLLECTION_SHARE, (double)newimp, v->n);
            visit_add(acc[v->arm], crow, AR_WM_NEW_COLLECTION_REVENUE_SHARE, newrev, rev);
            visit_add(acc[v->arm], crow, AR_WM_LONG_TAIL_SHARE, (double)tail, v->n);
            visit_add(acc[v->arm], crow, AR_WM_VIOLATIONS, v->violations, 1);
            res_a->violations_shown += v->shown_violations;
            total_visits++;
            if (o->reward_w) {
                /* The per-visit outer reward: shares are the visit's own shares. */
                const double *rw = o->reward_w;
                double dn = v->n > 0 ? (double)v->n : 1.0;
                double x = rw[AR_WM_REVENUE_PER_VISIT] * rev + rw[AR_WM_CONVERSION] * (buys > 0) +
                           rw[AR_WM_CTR] * (double)clicks / dn +
                           rw[AR_WM_MARGIN_PER_VISIT] * margin +
                           rw[AR_WM_NEW_COLLECTION_SHARE] * (double)newimp / dn +
                           rw[AR_WM_LONG_TAIL_SHARE] * (double)tail / dn +
                           rw[AR_WM_VIOLATIONS] * v->violations;
                acc_add(&racc[v->arm], x, 1);
                if (crow)
                    crow[2 * AR_WM_N] += x, crow[2 * AR_WM_N + 1] += 1;
            }
            if (o->b && (st = emit(o->b, w, v, s, o->impressions, codes))) {
                ar__fail(err, st, "cannot add events to the dataset: %s", ar_strerror(st));
                goto done;
            }
        }
        if (o->progress && o->progress(o->progress_data, day - o->first_day + 1, o->days)) {
            st = ar__fail(err, AR_ECANCELED, "canceled");
            goto done;
        }
    }
    double z = ar__world_z(o->confidence);
    for (int a = 0; a < n_arms; a++) {
        ar_world_eval_result *ra = &res[a];
        ra->days = day - o->first_day;
        for (int m = 0; m < AR_WM_N; m++)
            ra->metric[m] = ar__world_estimate(&acc[a][m], (double)ra->visits, z);
        for (int b = 0; b < cfg->n_brands; b++)
            ra->brand_exposure[b] =
                ra->impressions ? (double)brand_imps[a][b] / (double)ra->impressions : 0;
        if (o->reward)
            o->reward[a] = racc[a];
        if (o->acc_out)
            memcpy(o->acc_out + (size_t)a * AR_WM_N, acc[a], sizeof acc[a]);
    }
done:
    if (!st && o->keep) {
        *o->keep = r;
        r = NULL;
    }
    run_free(r);
    ar__free(head);
    ar__free(db.v);
    ar__free(db.s);
    ar__free(db.per_rule);
    ar__free(db.keys);
    return st;
}

ar_status ar__world_simulate_ab(const ar_world *w, const ar_world_policy *const pols[2],
                                const uint8_t *arm, int first_day, const ar_world_state *start,
                                int64_t max_visits, const double *reward_w, double confidence,
                                int n_threads, ar_progress_fn progress, void *progress_data,
                                double *cust, ar_world_eval_result res[2], ar__wacc acc[2][AR_WM_N],
                                ar__wacc reward[2], ar_error *err) {
    sim_opts o = {0};
    o.first_day = first_day;
    o.init = start ? start->run : NULL;
    o.cust = cust;
    o.days = AR_WORLD_MAX_DAYS;
    o.max_visits = max_visits;
    o.enforce = 1; /* an experiment can never switch the guardrails off */
    o.n_threads = n_threads;
    o.confidence = confidence;
    o.pols = pols;
    o.n_arms = 2;
    o.arm = arm;
    o.reward_w = reward_w;
    o.reward = reward;
    o.acc_out = &acc[0][0];
    o.progress = progress;
    o.progress_data = progress_data;
    return simulate(w, pols[0], &o, res, err);
}

/* -- Evaluation ---------------------------------------------------------------------------------
 */

ar_world_eval_options ar_world_eval_options_default(void) {
    ar_world_eval_options o;
    memset(&o, 0, sizeof o);
    o.visits = 20000;
    o.confidence = 0.95;
    o.enforce_guardrails = 1;
    return o;
}

const char *ar__world_start_check(int start_day, const ar_world_state *state) {
    if (start_day < 0 || start_day > AR_WORLD_MAX_DAYS)
        return "start_day must be between 0 and 3650";
    if (state && state->day != start_day)
        return "start_day must be the day of the state the run starts from";
    return NULL;
}

const char *ar_world_eval_options_check(const ar_world_eval_options *opt) {
    if (opt->visits < 1 || opt->visits > (int64_t)1 << 40)
        return "visits must be between 1 and 2^40";
    if (!(opt->confidence > 0 && opt->confidence < 1))
        return "confidence must be in (0, 1)";
    if (opt->n_threads < 0)
        return "n_threads must be >= 0";
    return ar__world_start_check(opt->start_day, opt->state);
}

ar_status ar_world_eval(const ar_world *w, const ar_world_policy *policy,
                        const ar_world_eval_options *opt, ar_world_eval_result *out,
                        ar_error *err) {
    memset(out, 0, sizeof *out);
    const char *bad = ar_world_eval_options_check(opt);
    if (bad)
        return ar__fail(err, AR_EINVAL, "%s", bad);
    if (!policy || !policy->serve)
        return ar__fail(err, AR_EINVAL, "no policy");
    if (opt->state && opt->state->w != w)
        return ar__fail(err, AR_EINVAL, "the state comes from another world");
    sim_opts o = {0};
    o.first_day = opt->start_day;
    o.init = opt->state ? opt->state->run : NULL;
    o.days = AR_WORLD_MAX_DAYS;
    o.max_visits = opt->visits;
    o.enforce = opt->enforce_guardrails;
    o.n_threads = opt->n_threads;
    o.confidence = opt->confidence;
    o.progress = opt->progress;
    o.progress_data = opt->progress_data;
    ar_status st = simulate(w, policy, &o, out, err);
    if (!st && out->visits == 0)
        st = ar__fail(err, AR_EEMPTY, "no customer visited in %d days", AR_WORLD_MAX_DAYS);
    return st;
}

/* -- States -------------------------------------------------------------------------------------
 */

ar_status ar_world_state_create(const ar_world *w, const ar_world_policy *policy, int days,
                                int n_threads, ar_world_state **out, ar_error *err) {
    *out = NULL;
    if (days < 0 || days > AR_WORLD_MAX_DAYS)
        return ar__fail(err, AR_EINVAL, "days must be between 0 and 3650");
    if (n_threads < 0)
        return ar__fail(err, AR_EINVAL, "n_threads must be >= 0");
    if (days > 0 && (!policy || !policy->serve))
        return ar__fail(err, AR_EINVAL, "no policy");
    ar_world_state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    s->w = w;
    s->day = days;
    ar_status st = AR_OK;
    if (days == 0) {
        if (!(s->run = run_create(w)))
            st = ar__fail(err, AR_ENOMEM, "out of memory for the simulation state");
    } else {
        /* As ar_world_generate simulates a history (guardrails enforced), without the log. */
        sim_opts o = {0};
        o.days = days;
        o.enforce = 1;
        o.n_threads = n_threads;
        o.confidence = 0.95;
        o.keep = &s->run;
        ar_world_eval_result res;
        st = simulate(w, policy, &o, &res, err);
    }
    if (st) {
        ar_world_state_free(s);
        return st;
    }
    *out = s;
    return AR_OK;
}

void ar_world_state_free(ar_world_state *s) {
    if (!s)
        return;
    run_free(s->run);
    ar__free(s);
}

int ar_world_state_day(const ar_world_state *s) {
    return s->day;
}

const ar_world_run *ar_world_state_run(const ar_world_state *s) {
    return s->run;
}

/* -- Generation -----------------------------------------------------------------------------------
 */

ar_world_generate_options ar_world_generate_options_default(void) {
    ar_world_generate_options o = {90, 1, 1, 0, NULL, NULL};
    return o;
}

const char *ar_world_generate_options_check(const ar_world_generate_options *opt) {
    if (opt->days < 1 || opt->days > AR_WORLD_MAX_DAYS)
        return "days must be between 1 and 3650";
    if (opt->n_threads < 0)
        return "n_threads must be >= 0";
    return NULL;
}

static ar_status add_catalog(ar_builder *b, const ar_world *w) {
    const ar_world_config *c = &w->cfg;
    ar_status st = AR_OK;
    char buf[256];
    for (int32_t i = 0; i < w->n_items && !st; i++) {
        const char *id = w->item_ids + (size_t)i * W_ID_LEN;
        const wbrand *br = &c->brands[w->brand[i]];
        snprintf(buf, sizeof buf, "%s %c", br->name, 'A' + w->line[i]);
        if ((st = ar_builder_touch(b, AR_ITEMS, id)) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "brand", br->name)) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "tier", ar__world_tier_names[br->tier])) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "category",
                                      c->categories[w->category[i]].name)) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "collection",
                                      c->collections[w->collection[i]].name)) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "colour", c->colours[w->colour[i]])) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "material", c->materials[w->material[i]])) ||
            (st = ar_builder_attr_cat(b, AR_ITEMS, id, "line", buf)) ||
            (st = ar_builder_attr_num(b, AR_ITEMS, id, "price", w->price[i])) ||
            (st = ar_builder_attr_num(b, AR_ITEMS, id, "margin", w->margin[i])) ||
            (st = ar_builder_attr_num(b, AR_ITEMS, id, "stock", w->stock[i])) ||
            (st = ar_builder_attr_num(b, AR_ITEMS, id, "markdown", w->markdown[i])) ||
            (st = ar_builder_item_launch(b, id, w->launch[i])))
            break;
        if (w->exclusive[i] && (st = ar_builder_attr_cat(b, AR_ITEMS, id, "flags", "exclusive")))
            break;
        snprintf(buf, sizeof buf, "%s %s %s %s", br->name, c->colours[w->colour[i]],
                 c->materials[w->material[i]], c->categories[w->category[i]].name);
        st = ar_builder_item_title(b, id, buf);
    }
    for (int32_t u = 0; u < w->n_customers && !st; u++) {
        const char *id = w->customer_ids + (size_t)u * W_ID_LEN;
        if ((st = ar_builder_touch(b, AR_USERS, id)) ||
            (st = ar_builder_attr_cat(b, AR_USERS, id, "segment", c->segments[w->segment[u]].name)))
            break;
        st = ar_builder_attr_cat(b, AR_USERS, id, "region", c->regions[w->region[u]]);
    }
    return st;
}

ar_status ar_world_generate(const ar_world *w, const ar_world_policy *policy,
                            const ar_world_generate_options *opt, ar_dataset **out,
                            ar_world_eval_result *stats, ar_error *err) {
    *out = NULL;
    const char *bad = ar_world_generate_options_check(opt);
    if (bad)
        return ar__fail(err, AR_EINVAL, "%s", bad);
    if (!policy || !policy->serve)
        return ar__fail(err, AR_EINVAL, "no policy");
    ar_builder *b;
    if (ar_builder_create(&b))
        return ar__fail(err, AR_ENOMEM, "out of memory");
    ar_builder_set_flags(b, AR_DS_HAS_TIME);
    ar_status st = add_catalog(b, w);
    if (st) {
        ar_builder_free(b);
        return ar__fail(err, st, "cannot build the catalogue: %s", ar_strerror(st));
    }
    sim_opts o = {0};
    o.days = opt->days;
    o.enforce = opt->enforce_guardrails;
    o.n_threads = opt->n_threads;
    o.confidence = 0.95;
    o.b = b;
    o.impressions = opt->impressions;
    o.progress = opt->progress;
    o.progress_data = opt->progress_data;
    ar_world_eval_result res;
    st = simulate(w, policy, &o, &res, err);
    if (!st && (st = ar_builder_build(b, out, NULL, NULL)))
        ar__fail(err, st,
                 st == AR_EEMPTY ? "the simulation produced no events (no visits in %d days)"
                                 : "cannot build the dataset (%d days)",
                 opt->days);
    ar_builder_free(b);
    if (!st && stats)
        *stats = res;
    return st;
}

/* -- Calibration
 * ----------------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static const double quantiles[5] = {0.1, 0.25, 0.5, 0.75, 0.9};

ar_status ar_world_stats_compute(const ar_world *w, int n_threads, ar_world_stats *out,
                                 ar_error *err) {
    memset(out, 0, sizeof *out);
    int32_t k = w->cfg.slate_size, ni = w->n_items;
    int64_t *ev = ar__calloc((size_t)ni, sizeof *ev);
    int64_t *hist = ar__calloc((size_t)k + 1, sizeof *hist);
    float *prices = ar__alloc_array((size_t)ni, sizeof *prices);
    if (!ev || !hist || !prices) {
        ar__free(ev);
        ar__free(hist);
        ar__free(prices);
        return ar__fail(err, AR_ENOMEM, "out of memory");
    }
    ar_world_policy pol;
    ar_world_policy_builtin(w, "popular", &pol);
    sim_opts o = {0};
    o.days = w->cfg.days;
    o.enforce = 1;
    o.n_threads = n_threads;
    o.confidence = 0.95;
    o.item_events = ev;
    o.session_hist = hist;
    ar_status st = simulate(w, &pol, &o, &out->run, err);
    if (!st) {
        const ar_world_eval_result *r = &out->run;
        out->cart_rate = r->clicks ? (double)r->carts / (double)r->clicks : 0;
        out->purchase_per_click = r->clicks ? (double)r->purchases / (double)r->clicks : 0;
        out->visits_per_customer = (double)r->visits / (double)w->n_customers;
        /* Session lengths: quantiles of positions examined from the histogram. */
        int64_t total = 0, acc = 0;
        double sum = 0;
        for (int32_t j = 0; j <= k; j++)
            total += hist[j], sum += (double)j * (double)hist[j];
        out->session_mean = total ? sum / (double)total : 0;
        int q = 0;
        for (int32_t j = 0; j <= k && q < 5; j++) {
            acc += hist[j];
            while (q < 5 && total && (double)acc >= quantiles[q] * (double)total)
                out->session_q[q++] = j;
        }
        /* Popularity Gini over items (clicks + purchases), ascending order formula. */
        qsort(ev, (size_t)ni, sizeof *ev, cmp_i64);
        double s = 0, ws = 0;
        for (int32_t i = 0; i < ni; i++) {
            s += (double)ev[i];
            ws += (double)(i + 1) * (double)ev[i];
        }
        out->popularity_gini = s > 0 ? (2 * ws) / ((double)ni * s) - (ni + 1.0) / ni : 0;
        int32_t top = ni / 100 > 0 ? ni / 100 : 1;
        double ts = 0;
        for (int32_t i = ni - top; i < ni; i++)
            ts += (double)ev[i];
        out->top1_share = s > 0 ? ts / s : 0;
        for (int t = 0; t < AR_WORLD_MAX_TIERS; t++) {
            int32_t n = 0;
            for (int32_t i = 0; i < ni; i++)
                if (w->cfg.brands[w->brand[i]].tier == t)
                    prices[n++] = w->price[i];
            out->tier_items[t] = n;
            qsort(prices, (size_t)n, sizeof *prices, cmp_float);
            for (int j = 0; j < 5 && n > 0; j++)
                out->tier_price_q[t][j] = prices[(int32_t)(quantiles[j] * (n - 1) + 0.5)];
        }
    }
    ar__free(ev);
    ar__free(hist);
    ar__free(prices);
    return st;
}
