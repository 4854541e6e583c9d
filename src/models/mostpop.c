/*
 * mostpop.c -- MostPop: every user gets the items ranked by training popularity.
 *
 * Popularity of item i = the number of distinct training users who interacted with it, or, with
 * a half-life h > 0, the sum over those users of 0.5^((t_ref - t_ui) / h) where t_ui is the
 * user's latest training interaction with i and t_ref the latest training time (so recent
 * popularity counts more; times are in the dataset's unit, days = 86,400 s). Ties rank the lower
 * item index first. Cremonesi, Koren & Turrin, "Performance of recommender algorithms on top-N
 * recommendation tasks", RecSys 2010 (the popularity baseline).
 *
 * State: pop[n_items] (float32).
 */
#include "models/model.h"

#include <math.h>
#include <string.h>

enum { P_HALF_LIFE };

static const ar_param_def params[] = {
    {"half_life_days", AR_PARAM_FLOAT, 0, 3650, 0, NULL, NULL,
     "popularity half-life in days; 0 counts every user equally"},
};

typedef struct state {
    float *pop;
} state;

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)x;
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return ar__fail(err, AR_ENOMEM, "mostpop: out of memory");
    m->state = s;
    s->pop = ar__calloc((size_t)m->n_items, sizeof *s->pop);
    if (!s->pop)
        return ar__fail(err, AR_ENOMEM, "mostpop: out of memory");
    double h = ar__p(m, P_HALF_LIFE) * 86400.0;
    if (h <= 0) {
        for (int32_t i = 0; i < m->n_items; i++)
            s->pop[i] = (float)(xt->indptr[i + 1] - xt->indptr[i]);
        return AR_OK;
    }
    /* Latest training time per (user, item): walk each user's rows, which are in time order,
     * and keep the last time seen for each item. */
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    /* Only what the training matrix counts: the train splits and, with event weights, the
     * events of non-zero weight (x has the same rule, so xt's counts agree with this loop). */
#define TAKES(k)                                                                                   \
    (((o->train_mask >> in.split[k]) & 1u) &&                                                      \
     (!o->event_weights ||                                                                         \
      (in.event[k] < o->n_event_weights && o->event_weights[in.event[k]] != 0.0f)))
    const int64_t *off = ar_dataset_user_offsets(ds);
    int64_t t_ref = INT64_MIN;
    for (int64_t k = 0; k < in.n; k++)
        if (TAKES(k) && in.time[k] > t_ref)
            t_ref = in.time[k];
    int64_t *last = ar__alloc_array((size_t)m->n_items, sizeof *last);
    if (!last)
        return ar__fail(err, AR_ENOMEM, "mostpop: out of memory");
    double *acc = ar__calloc((size_t)m->n_items, sizeof *acc);
    if (!acc) {
        ar__free(last);
        return ar__fail(err, AR_ENOMEM, "mostpop: out of memory");
    }
    for (int32_t u = 0; u < m->n_users; u++) {
        for (int64_t k = off[u]; k < off[u + 1]; k++)
            if (TAKES(k))
                last[in.item[k]] = INT64_MIN;
        for (int64_t k = off[u]; k < off[u + 1]; k++)
            if (TAKES(k))
                last[in.item[k]] = in.time[k];
        for (int64_t k = off[u]; k < off[u + 1]; k++) {
            int32_t i = in.item[k];
            if (!TAKES(k) || last[i] == INT64_MIN)
                continue;
            acc[i] += pow(0.5, (double)(t_ref - last[i]) / h);
            last[i] = INT64_MIN; /* count each (user, item) once */
        }
    }
#undef TAKES
    for (int32_t i = 0; i < m->n_items; i++)
        s->pop[i] = (float)acc[i];
    ar__free(last);
    ar__free(acc);
    return AR_OK;
}

static void score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws) {
    (void)user, (void)items, (void)values, (void)n, (void)ws;
    const state *s = m->state;
    memcpy(scores, s->pop, (size_t)m->n_items * sizeof *scores);
}

enum { TAG_POP = AR__MODEL_TAG_STATE };

static void save(const ar_model *m, ar__secw *w) {
    const state *s = m->state;
    ar__secw_add(w, TAG_POP, 4, (uint64_t)m->n_items, 0, s->pop);
}

static ar_status load(ar_model *m, const ar__secfile *f) {
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return AR_ENOMEM;
    m->state = s;
    const void *p;
    ar_status st = ar__model_array(f, TAG_POP, 4, (uint64_t)m->n_items, &p);
    if (st)
        return st;
    s->pop = (float *)p;
    for (int32_t i = 0; i < m->n_items; i++)
        if (!isfinite(s->pop[i]))
            return ar__secfile_corrupt(f, "non-finite popularity");
    return AR_OK;
}

static void free_state(ar_model *m) {
    state *s = m->state;
    if (!m->map)
        ar__free(s->pop);
    ar__free(s);
}

const ar__model_impl ar__mostpop_impl = {
    .name = "mostpop",
    .citation = "Cremonesi, Koren & Turrin, Performance of recommender algorithms on top-N "
                "recommendation tasks, RecSys 2010",
    .params = params,
    .n_params = 1,
    .fit = fit,
    .score = score,
    .save = save,
    .load = load,
    .free_state = free_state,
};
