/*
 * model_policy.c -- a world policy backed by a model of the zoo.
 *
 * The model works in the dataset's item indices, the world in its own; both share string ids,
 * so two arrays translate (built once). A visit: translate the customer's recent history,
 * score every item, rule out items not launched yet, out of stock or unknown to the model, and
 * take the exact top-k of the items with a positive score. When fewer than k items have one (a
 * new customer, a history the model knows nothing about), the rest of the slate is filled with
 * the most popular allowed items so far -- the fallback every production recommender has, and
 * otherwise an empty history would get the lowest item indices. Scratch is per OpenMP thread,
 * allocated on a thread's first visit.
 */
#define _DEFAULT_SOURCE
#include "core/core.h"
#include "sim/world_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_SLOTS 256

typedef struct mpol {
    const ar_model *m;
    int32_t n_model_items, n_world_items;
    int32_t *to_model; /* world item -> dataset item, -1 unknown */
    int32_t *to_world; /* dataset item -> world item, -1 unknown */
    int32_t *user_of;  /* world customer -> dataset user, -1 unknown */
    int serving;       /* 1: the re-ranker below, 0: top k by score, then popularity */
    ar_world_serving sv;
    struct {
        float *scores, *aux, *tail;
        int32_t *hist, *top;
    } slot[MAX_SLOTS];
} mpol;

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Appends up to k items to slate/propensity at *m, in the order of vals (over the model's
 * items, -INFINITY = not a candidate), each time from the first `want` candidates that may go
 * at that position -- that break no brand rule there (the world would repair a slate that
 * does, filling the gaps with items the re-ranker did not choose; a re-ranker that keeps to
 * the rules keeps its choices, its long-tail quota among them): the best of them when
 * temperature is 0, else one drawn with weight exp(-r / temperature) for the r-th of them.
 * top has room for n_model_items entries. */
static void pick(const mpol *p, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                 const float *vals, int32_t *top, int32_t want, int32_t k, double temperature,
                 int32_t *slate, float *propensity, int32_t *m) {
    want = want < AR_WORLD_MAX_SLATE ? want : AR_WORLD_MAX_SLATE;
    want = want > 1 ? want : 1;
    int32_t len = 0, n = 0;
    for (int32_t got = 0; got < k; got++) {
        double wt[AR_WORLD_MAX_SLATE], total = 0;
        int32_t at[AR_WORLD_MAX_SLATE], r = 0;
        for (int32_t j = 0; r < want; j++) {
            if (j == n) { /* the list ran out (the rules turned it away): a longer one */
                if (len == p->n_model_items)
                    break;
                len = len ? 4 * len : 4 * (want + k);
                len = len < p->n_model_items ? len : p->n_model_items;
                n = ar_topk(vals, p->n_model_items, NULL, 0, len, top);
                while (n > 0 && vals[top[n - 1]] == -INFINITY)
                    n--;
                if (j >= n)
                    break;
            }
            if (ar__world_allowed(w, v->segment, v->time, slate, *m, p->to_world[top[j]])) {
                at[r] = j;
                total += wt[r] = temperature > 0 ? exp(-(double)r / temperature) : (r == 0);
                r++;
            }
        }
        if (r == 0)
            break;
        double u = ar_rng_uniform(rng) * total, acc = 0;
        int32_t c = 0;
        if (temperature > 0)
            for (c = 0; c < r - 1; c++)
                if (u < (acc += wt[c]))
                    break;
        propensity[*m] = (float)(wt[c] / total);
        slate[(*m)++] = p->to_world[top[at[c]]];
    }
}

/* The re-ranker (ar_world_serving): s holds the model's scores, -INFINITY for items that may
 * not be shown; top, aux and tail have room for n_model_items + 1 entries. */
static ar_status rerank(const mpol *p, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                        float *s, float *aux, float *tail, int32_t *top, int32_t *slate,
                        float *propensity, int32_t *n_out) {
    const ar_world_serving *sv = &p->sv;
    float smax = 0;
    double pmax = 0;
    int32_t n_ok = 0;
    for (int32_t i = 0; i < p->n_model_items; i++) {
        if (s[i] == -INFINITY)
            continue;
        smax = s[i] > smax ? s[i] : smax;
        double pop = (double)ar_world_run_popularity(v->run, p->to_world[i]);
        pmax = pop > pmax ? pop : pmax;
        n_ok++;
    }
    *n_out = 0;
    if (n_ok == 0)
        return AR_OK;
    int32_t k = v->k < n_ok ? v->k : n_ok;
    int32_t n_tail_slots = (int32_t)floor(sv->tail_share * k + 0.5);
    int brands[AR_WORLD_MAX_BRANDS] = {0}, nb = ar_world_n_brands(w), nh = 0;
    for (int32_t j = 0; j < v->n_history; j++) {
        int b = ar_world_item_brand(w, v->history[j]);
        if (b >= 0 && b < nb) {
            brands[b]++;
            nh++;
        }
    }
    double lpmax = log1p(pmax), window = (double)sv->new_days * 86400.0;
    for (int32_t i = 0; i < p->n_model_items; i++) {
        if (s[i] == -INFINITY)
            continue;
        int32_t wi = p->to_world[i];
        double x = smax > 0 && s[i] > 0 ? sv->model_weight * (double)(s[i] / smax) : 0;
        double pop = (double)ar_world_run_popularity(v->run, wi);
        if (sv->popularity_weight > 0 && lpmax > 0)
            x += sv->popularity_weight * log1p(pop) / lpmax;
        if (sv->new_weight > 0 && (double)(v->time - ar_world_item_launch(w, wi)) < window)
            x += sv->new_weight;
        if (sv->brand_weight > 0 && nh > 0)
            x += sv->brand_weight * brands[ar_world_item_brand(w, wi)] / (double)nh;
        s[i] = (float)x;
        /* The long tail as the world counts it: outside the catalogue's top fifth by popularity
         * (of the catalogue, not of the items the model can show: after a history logged by a
         * popularity policy those are mostly head items, and their own bottom 80% would be). */
        aux[i] = n_tail_slots > 0 && ar_world_run_in_tail(v->run, wi) ? 1.0f : 0.0f;
    }
    /* The slate: k - quota from everything, then the quota from the tail items (fewer when the
     * first part holds some), then the rest from everything. */
    double temp = sv->pool <= 1 ? 0 : sv->temperature;
    int32_t m = 0, main_k = k - n_tail_slots;
    pick(p, w, v, rng, s, top, k * sv->pool, main_k, temp, slate, propensity, &m);
    int32_t tail_in = 0;
    for (int32_t j = 0; j < m; j++)
        tail_in += aux[p->to_model[slate[j]]] > 0;
    if (tail_in < n_tail_slots) {
        float *t = tail;
        for (int32_t i = 0; i < p->n_model_items; i++)
            t[i] = aux[i] > 0 ? s[i] : -INFINITY;
        int32_t q = n_tail_slots - tail_in;
        pick(p, w, v, rng, t, top, q * sv->pool, q, temp, slate, propensity, &m);
    }
    if (m < k)
        pick(p, w, v, rng, s, top, (k - m) * sv->pool, k - m, temp, slate, propensity, &m);
    *n_out = m;
    return AR_OK;
}

static ar_status serve(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                       int32_t *slate, float *propensity, int32_t *n_out) {
    mpol *p = ctx;
    *n_out = 0;
#ifdef _OPENMP
    int t = omp_get_thread_num();
#else
    int t = 0;
#endif
    if (t >= MAX_SLOTS)
        return AR_EINVAL;
    if (!p->slot[t].scores) { /* only thread t touches slot t */
        p->slot[t].scores = ar__alloc_array((size_t)p->n_model_items, sizeof(float));
        p->slot[t].hist = ar__alloc_array((size_t)p->n_world_items + 1, sizeof(int32_t));
        p->slot[t].top = ar__alloc_array((size_t)p->n_model_items + 1, sizeof(int32_t));
        p->slot[t].aux = ar__alloc_array((size_t)p->n_model_items + 1, sizeof(float));
        p->slot[t].tail = ar__alloc_array((size_t)p->n_model_items + 1, sizeof(float));
        if (!p->slot[t].scores || !p->slot[t].hist || !p->slot[t].top || !p->slot[t].aux ||
            !p->slot[t].tail)
            return AR_ENOMEM;
    }
    float *s = p->slot[t].scores;
    int32_t *h = p->slot[t].hist, *top = p->slot[t].top, nh = 0;
    for (int32_t j = 0; j < v->n_history && nh < p->n_world_items; j++) {
        int32_t i = v->history[j] >= 0 && v->history[j] < p->n_world_items
                        ? p->to_model[v->history[j]]
                        : -1;
        if (i >= 0)
            h[nh++] = i;
    }
    qsort(h, (size_t)nh, sizeof *h, cmp_i32);
    int32_t w_ = 0;
    for (int32_t j = 0; j < nh; j++)
        if (!w_ || h[w_ - 1] != h[j])
            h[w_++] = h[j];
    nh = w_;
    int32_t user =
        v->customer >= 0 && v->customer < ar_world_n_customers(w) ? p->user_of[v->customer] : -1;
    ar_status st = ar_model_score(p->m, user, h, NULL, nh, s);
    if (st)
        return st;
    for (int32_t i = 0; i < p->n_model_items; i++) {
        int32_t wi = p->to_world[i];
        if (wi < 0 || wi >= v->n_candidates || ar_world_run_stock(v->run, wi) <= 0 ||
            !isfinite(s[i]))
            s[i] = -INFINITY;
    }
    if (p->serving)
        return rerank(p, w, v, rng, s, p->slot[t].aux, p->slot[t].tail, top, slate, propensity,
                      n_out);
    int32_t k = v->k < p->n_model_items ? v->k : p->n_model_items;
    int32_t got = ar_topk(s, p->n_model_items, NULL, 0, k, top);
    for (int32_t j = 0; j < got && s[top[j]] > 0; j++) {
        slate[(*n_out)++] = p->to_world[top[j]];
        s[top[j]] = -INFINITY; /* used */
    }
    if (*n_out < k) {
        /* Popularity fallback over the allowed items not used yet. */
        for (int32_t i = 0; i < p->n_model_items; i++)
            s[i] = s[i] == -INFINITY ? -INFINITY
                                     : (float)ar_world_run_popularity(v->run, p->to_world[i]);
        got = ar_topk(s, p->n_model_items, NULL, 0, k - *n_out, top);
        for (int32_t j = 0; j < got && s[top[j]] != -INFINITY; j++)
            slate[(*n_out)++] = p->to_world[top[j]];
    }
    return AR_OK;
}

void ar_world_model_policy_free(ar_world_policy *pol) {
    mpol *p = pol ? pol->ctx : NULL;
    if (!p)
        return;
    for (int t = 0; t < MAX_SLOTS; t++) {
        ar__free(p->slot[t].scores);
        ar__free(p->slot[t].hist);
        ar__free(p->slot[t].top);
        ar__free(p->slot[t].aux);
        ar__free(p->slot[t].tail);
    }
    ar__free(p->to_model);
    ar__free(p->to_world);
    ar__free(p->user_of);
    ar__free(p);
    pol->ctx = NULL;
}

ar_world_serving ar_world_serving_default(void) {
    ar_world_serving s = {1.0, 0.0, 0.0, 30, 0.0, 0.0, 1, 1.0};
    return s;
}

const char *ar_world_serving_check(const ar_world_serving *s) {
    if (!s)
        return "serving options: NULL";
    if (!(s->model_weight >= 0) || !(s->popularity_weight >= 0) || !(s->new_weight >= 0) ||
        !(s->brand_weight >= 0) ||
        !isfinite(s->model_weight + s->popularity_weight + s->new_weight + s->brand_weight))
        return "serving: weights must be finite and >= 0";
    if (s->model_weight + s->popularity_weight + s->new_weight + s->brand_weight <= 0)
        return "serving: at least one weight must be positive";
    if (s->new_days < 1 || s->new_days > 365)
        return "serving: new_days must be in [1, 365]";
    if (!(s->tail_share >= 0 && s->tail_share <= 0.5))
        return "serving: tail_share must be in [0, 0.5]";
    if (s->pool < 1 || s->pool > 5)
        return "serving: pool must be in [1, 5]";
    if (!(s->temperature > 0) || !isfinite(s->temperature))
        return "serving: temperature must be > 0";
    return NULL;
}

ar_status ar_world_model_policy(const ar_world *w, const ar_model *m, ar_dataset *ds,
                                ar_world_policy *out, ar_error *err) {
    return ar_world_model_policy_serving(w, m, ds, NULL, out, err);
}

ar_status ar_world_model_policy_serving(const ar_world *w, const ar_model *m, ar_dataset *ds,
                                        const ar_world_serving *sv, ar_world_policy *out,
                                        ar_error *err) {
    memset(out, 0, sizeof *out);
    const char *bad = sv ? ar_world_serving_check(sv) : NULL;
    if (bad)
        return ar__fail(err, AR_EINVAL, "%s", bad);
    ar_status st = ar_model_check_dataset(m, ds, err);
    if (st)
        return st;
    mpol *p = ar__calloc(1, sizeof *p);
    if (!p)
        return ar__fail(err, AR_ENOMEM, "model policy: out of memory");
    out->ctx = p;
    p->m = m;
    p->serving = sv != NULL;
    if (sv)
        p->sv = *sv;
    p->n_model_items = ar_dataset_n_items(ds);
    p->n_world_items = ar_world_n_items(w);
    int32_t nc = ar_world_n_customers(w);
    p->to_model = ar__alloc_array((size_t)p->n_world_items + 1, sizeof *p->to_model);
    p->to_world = ar__alloc_array((size_t)p->n_model_items + 1, sizeof *p->to_world);
    p->user_of = ar__alloc_array((size_t)nc + 1, sizeof *p->user_of);
    if (!p->to_model || !p->to_world || !p->user_of) {
        ar_world_model_policy_free(out);
        return ar__fail(err, AR_ENOMEM, "model policy: out of memory");
    }
    for (int32_t i = 0; i < p->n_model_items; i++)
        p->to_world[i] = -1;
    int32_t known = 0;
    for (int32_t wi = 0; wi < p->n_world_items; wi++) {
        int32_t i = ar_dataset_lookup(ds, AR_ITEMS, ar_world_item_id(w, wi));
        p->to_model[wi] = i;
        if (i >= 0) {
            p->to_world[i] = wi;
            known++;
        }
    }
    for (int32_t c = 0; c < nc; c++)
        p->user_of[c] = ar_dataset_lookup(ds, AR_USERS, ar_world_customer_id(w, c));
    if (known == 0) {
        ar_world_model_policy_free(out);
        return ar__fail(err, AR_EINVAL,
                        "model policy: the dataset shares no item with the world (was it "
                        "generated from another world config?)");
    }
    out->name = ar_model_name(m);
    out->serve = serve;
    return AR_OK;
}
