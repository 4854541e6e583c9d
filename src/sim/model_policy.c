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
    struct {
        float *scores;
        int32_t *hist, *top;
    } slot[MAX_SLOTS];
} mpol;

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static ar_status serve(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                       int32_t *slate, float *propensity, int32_t *n_out) {
    (void)w, (void)rng, (void)propensity;
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
        if (!p->slot[t].scores || !p->slot[t].hist || !p->slot[t].top)
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
    }
    ar__free(p->to_model);
    ar__free(p->to_world);
    ar__free(p->user_of);
    ar__free(p);
    pol->ctx = NULL;
}

ar_status ar_world_model_policy(const ar_world *w, const ar_model *m, ar_dataset *ds,
                                ar_world_policy *out, ar_error *err) {
    memset(out, 0, sizeof *out);
    ar_status st = ar_model_check_dataset(m, ds, err);
    if (st)
        return st;
    mpol *p = ar__calloc(1, sizeof *p);
    if (!p)
        return ar__fail(err, AR_ENOMEM, "model policy: out of memory");
    out->ctx = p;
    p->m = m;
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
