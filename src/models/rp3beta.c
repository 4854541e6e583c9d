/*
 * rp3beta.c -- RP3beta: a three-step random walk on the user-item graph with a popularity
 * penalty.
 *
 * Christoffel, Paudel, Newell & Bernstein, "Blockbusters and wallflowers: accurate, diverse,
 * and scalable recommendations with random walks", RecSys 2015 (P^3_alpha); Paudel,
 * Christoffel, Newell & Bernstein, "Updatable, accurate, diverse, and scalable recommendations
 * for interactive applications", TiiS 2017 (RP^3_beta); the top-k and row normalisation follow
 * Dacrema, Cremonesi & Jannach, RecSys 2019 (RP3betaRecommender).
 *
 * With x the user x item training matrix (summed values), the walk's transition probabilities
 * are
 *
 *     P_ui[u, i] = (x[u, i] / sum_j x[u, j])^alpha     user -> item   (n_users x n_items)
 *     P_iu[i, u] = (x[u, i] / sum_v x[v, i])^alpha     item -> user   (n_items x n_users)
 *
 * and item i reaches item j in two steps with weight
 *
 *     W[i, j] = (P_iu P_ui)[i, j] / deg_j^beta          (deg_j = users of item j; i != j)
 *
 * keeping the k largest per row i, optionally rescaled so each row sums to 1. A user with
 * history H and values r scores j as sum_{i in H} r_i W[i, j] (the first step of the walk,
 * user -> history item, up to a per-user constant that does not change the ranking).
 *
 * Shapes and layouts:
 *   P_iu  n_items x n_users CSR, float32 (A of the product; freed after the fit)
 *   P_ui  n_users x n_items CSR, float32 (B)
 *   W     n_items x n_items CSR, row i = the items a walk from i reaches (top k), float32 --
 *         the state, already in the scoring layout of itemsim.h.
 */
#include "models/itemsim.h"

#include <math.h>

enum { P_K, P_ALPHA, P_BETA, P_NORMALIZE, N_PARAMS };

static const ar_param_def params[] = {
    {"k", AR_PARAM_INT, 1, 5000, 100, NULL, NULL, "items kept per row of the walk matrix"},
    {"alpha", AR_PARAM_FLOAT, 0, 3, 1, NULL, NULL,
     "exponent on the transition probabilities (1 = the plain random walk)"},
    {"beta", AR_PARAM_FLOAT, 0, 2, 0.5, NULL, NULL,
     "popularity penalty: the walk's end item is divided by its degree^beta"},
    {"normalize", AR_PARAM_BOOL, 0, 1, 0, NULL, NULL,
     "rescale each row of the walk matrix to sum to 1 after the top-k"},
};
_Static_assert(sizeof params / sizeof params[0] == N_PARAMS, "one definition per parameter");

typedef struct walk {
    const double *row_sum; /* per row of the matrix being mapped */
    double alpha;
} walk;

static float transition(const void *ctx, int32_t r, int32_t c, float v) {
    (void)c;
    const walk *w = ctx;
    double p = w->row_sum[r] > 0 ? (double)v / w->row_sum[r] : 0;
    return (float)pow(p > 0 ? p : 0, w->alpha);
}

static void penalise(const void *ctx, int32_t row, const int32_t *cols, int32_t n, float *acc) {
    (void)row;
    const float *pen = ctx;
    for (int32_t t = 0; t < n; t++)
        acc[cols[t]] *= pen[cols[t]];
}

static double *row_sums(const ar_csr *x) {
    double *s = ar__calloc((size_t)x->n_rows + 1, sizeof *s);
    if (s)
        for (int32_t r = 0; r < x->n_rows; r++)
            for (int64_t p = x->indptr[r]; p < x->indptr[r + 1]; p++)
                s[r] += x->values[p];
    return s;
}

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)ds;
    const int32_t n_items = m->n_items;
    double *su = row_sums(x), *si = row_sums(xt);
    float *pen = ar__calloc((size_t)n_items + 1, sizeof *pen);
    ar_csr *piu = NULL, *pui = NULL, *w = NULL;
    ar_status st = AR_OK;
    if (!su || !si || !pen) {
        st = ar__fail(err, AR_ENOMEM, "rp3beta: out of memory");
        goto done;
    }
    walk wu = {su, ar__p(m, P_ALPHA)}, wi = {si, ar__p(m, P_ALPHA)};
    if ((st = ar__csr_map(x, transition, &wu, o->n_threads, &pui)) ||
        (st = ar__csr_map(xt, transition, &wi, o->n_threads, &piu))) {
        st = ar__fail(err, st, "rp3beta: out of memory");
        goto done;
    }
    double beta = ar__p(m, P_BETA);
    for (int32_t i = 0; i < n_items; i++) {
        int64_t deg = xt->indptr[i + 1] - xt->indptr[i];
        pen[i] = deg > 0 ? (float)pow((double)deg, -beta) : 0;
    }
    ar__simprod p = {.a = piu,
                     .b = pui,
                     .k = (int32_t)ar__p(m, P_K),
                     .skip_diagonal = 1,
                     .finish = penalise,
                     .ctx = pen,
                     .o = o};
    if ((st = ar__simprod_topk(&p, &w, err)))
        goto done;
    if (ar__p(m, P_NORMALIZE) != 0)
        ar__csr_normalize_rows(w);
    st = ar__itemsim_adopt(m, w, err);
done:
    ar__free(su);
    ar__free(si);
    ar__free(pen);
    ar_csr_free(piu);
    ar_csr_free(pui);
    return st;
}

/* The sparse product X^T X: each user's history pairs, about nnz^2 / users. */
static double fit_work(const ar_model *m, double users, double items, double nnz) {
    (void)m, (void)items;
    return nnz * nnz / users;
}

const ar__model_impl ar__rp3beta_impl = {
    .name = "rp3beta",
    .citation = "Paudel, Christoffel, Newell & Bernstein, Updatable, accurate, diverse, and "
                "scalable recommendations for interactive applications, TiiS 2017",
    .params = params,
    .n_params = N_PARAMS,
    .fit = fit,
    .score = ar__itemsim_score,
    .explain = ar__itemsim_explain,
    .save = ar__itemsim_save,
    .load = ar__itemsim_load,
    .free_state = ar__itemsim_free_state,
    .fit_work = fit_work,
};
