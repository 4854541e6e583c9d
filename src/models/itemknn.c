/*
 * itemknn.c -- item-based k-nearest-neighbour collaborative filtering.
 *
 * Sarwar, Karypis, Konstan & Riedl, "Item-based collaborative filtering recommendation
 * algorithms", WWW 2001; Deshpande & Karypis, "Item-based top-N recommendation algorithms",
 * TOIS 2004 (top-k neighbours per item, scores summed over the history); Aiolli, "Efficient
 * top-N recommendation for very large scale binary rated datasets", RecSys 2013 (asymmetric
 * cosine); the weighting and shrinkage follow Dacrema, Cremonesi & Jannach, "Are we really
 * making much progress?", RecSys 2019 (ItemKNNCF).
 *
 * Items are vectors over users. With x the user x item training matrix (summed values) and
 * y[i, u] = weight(x[u, i]) the item x user matrix after the optional feature weighting, where
 * users are the terms and items the documents,
 *
 *     none   y = x
 *     tfidf  y = sqrt(x) * log((n_items + 1) / (n_items_of_u + 1))
 *     bm25   y = x (k1 + 1) / (k1 ((1 - b) + b len_i / avg_len) + x) * idf_u
 *            (len_i = sum of item i's values, idf_u as for tfidf; Robertson & Zaragoza 2009)
 *
 * and s_i = sum_u y[i, u]^2, the similarity of a target item t and a neighbour i is
 *
 *     cosine      <y_t, y_i> / (sqrt(s_t) sqrt(s_i) + shrink)
 *     asymmetric  <y_t, y_i> / (s_t^alpha s_i^(1 - alpha) + shrink)   (alpha 0.5 = cosine)
 *     jaccard     <y_t, y_i> / (s_t + s_i - <y_t, y_i> + shrink)     (Tanimoto; Jaccard on 0/1)
 *
 * Each target t keeps its k most similar items N_k(t) (never itself; ties: lower index). A user
 * with history H and values r scores t as sum_{i in H and i in N_k(t)} r_i sim(t, i)^q, where
 * q is Aiolli's locality exponent (applied after the top-k, which it does not change since the
 * similarities are positive). With normalize, each row of W (the votes of one history item) is
 * rescaled to sum to 1, as RP3beta's row normalisation does.
 *
 * Shapes and layouts:
 *   y    n_items x n_users CSR, float32 (A of the product; freed after the fit)
 *   yt   n_users x n_items CSR, float32 (B)
 *   S    n_items x n_items CSR, row t = the k neighbours of target t (kernel output)
 *   W    S transposed: row i = the targets item i is a neighbour of, with sim(t, i) -- the
 *        state, in the scoring layout of itemsim.h (float32 values, int64 row offsets).
 */
#include "models/itemsim.h"

#include <math.h>
#include <string.h>

enum { P_K, P_SHRINK, P_SIM, P_ALPHA, P_WEIGHT, P_K1, P_B, P_LOCALITY, P_NORMALIZE, N_PARAMS };
enum { SIM_COSINE, SIM_ASYMMETRIC, SIM_JACCARD };
enum { W_NONE, W_TFIDF, W_BM25 };

static const ar_param_def params[] = {
    {"k", AR_PARAM_INT, 1, 5000, 100, NULL, NULL, "neighbours kept per target item"},
    {"shrink", AR_PARAM_FLOAT, 0, 1000, 10, NULL, NULL,
     "added to the similarity's denominator: damps similarities built on few users"},
    {"similarity", AR_PARAM_CATEGORICAL, 0, 0, SIM_COSINE, "cosine|asymmetric|jaccard", NULL,
     "item-item similarity"},
    {"alpha", AR_PARAM_FLOAT, 0, 1, 0.5, NULL, "similarity=asymmetric",
     "asymmetric cosine: exponent on the target's norm (0.5 = cosine)"},
    {"weighting", AR_PARAM_CATEGORICAL, 0, 0, W_NONE, "none|tfidf|bm25", NULL,
     "feature weighting of the item x user matrix (users are the terms)"},
    {"bm25_k1", AR_PARAM_FLOAT, 0, 10, 1.2, NULL, "weighting=bm25", "BM25 saturation k1"},
    {"bm25_b", AR_PARAM_FLOAT, 0, 1, 0.75, NULL, "weighting=bm25", "BM25 length normalisation b"},
    {"locality", AR_PARAM_FLOAT, 0.25, 8, 1, NULL, NULL,
     "exponent q on the kept similarities: q > 1 lets the closest neighbours dominate"},
    {"normalize", AR_PARAM_BOOL, 0, 1, 0, NULL, NULL,
     "rescale each history item's votes (row of W) to sum to 1"},
};
_Static_assert(sizeof params / sizeof params[0] == N_PARAMS, "one definition per parameter");

typedef struct weights {
    int kind;
    const float *idf;  /* per user */
    const float *lnrm; /* bm25: k1 ((1 - b) + b len_i / avg_len), per item */
    float k1;
} weights;

/* y[i, u] from x[u, i]; called on the item x user matrix (r = item, c = user). */
static float weigh(const void *ctx, int32_t r, int32_t c, float v) {
    const weights *w = ctx;
    switch (w->kind) {
    case W_TFIDF:
        return sqrtf(v > 0 ? v : 0) * w->idf[c];
    case W_BM25:
        return v * (w->k1 + 1) / (w->lnrm[r] + v) * w->idf[c];
    default:
        return v;
    }
}

/* The same on the user x item matrix (r = user, c = item). */
static float weigh_t(const void *ctx, int32_t r, int32_t c, float v) {
    return weigh(ctx, c, r, v);
}

typedef struct finisher {
    int kind;
    float shrink;
    const float *nt; /* per item: the target-side norm factor (or s_i for jaccard) */
    const float *ni; /* per item: the neighbour-side factor */
} finisher;

static void finish(const void *ctx, int32_t row, const int32_t *cols, int32_t n, float *acc) {
    const finisher *f = ctx;
    if (f->kind == SIM_JACCARD) {
        float st = f->nt[row];
        for (int32_t t = 0; t < n; t++) {
            float d = acc[cols[t]];
            acc[cols[t]] = d / (st + f->nt[cols[t]] - d + f->shrink);
        }
    } else {
        float a = f->nt[row];
        for (int32_t t = 0; t < n; t++)
            acc[cols[t]] /= a * f->ni[cols[t]] + f->shrink;
    }
}

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)ds;
    const int32_t n_items = m->n_items, n_users = m->n_users;
    const int kind = (int)ar__p(m, P_SIM), wkind = (int)ar__p(m, P_WEIGHT);
    float *idf = ar__calloc((size_t)n_users + 1, sizeof *idf);
    float *lnrm = ar__calloc((size_t)n_items + 1, sizeof *lnrm);
    float *nt = ar__calloc((size_t)n_items + 1, sizeof *nt);
    float *ni = ar__calloc((size_t)n_items + 1, sizeof *ni);
    ar_csr *y = NULL, *yt = NULL, *s = NULL, *w = NULL;
    ar_status st = AR_OK;
    if (!idf || !lnrm || !nt || !ni) {
        st = ar__fail(err, AR_ENOMEM, "itemknn: out of memory");
        goto done;
    }

    /* Feature weighting. Users are terms: idf from the number of items each user touched. */
    for (int32_t u = 0; u < n_users; u++) {
        double df = (double)(x->indptr[u + 1] - x->indptr[u]);
        idf[u] = (float)log(((double)n_items + 1) / (df + 1));
    }
    double k1 = ar__p(m, P_K1), b = ar__p(m, P_B), total = 0;
    for (int64_t p = 0; p < xt->nnz; p++)
        total += xt->values[p];
    double avg = n_items ? total / n_items : 0;
    for (int32_t i = 0; i < n_items; i++) {
        double len = 0;
        for (int64_t p = xt->indptr[i]; p < xt->indptr[i + 1]; p++)
            len += xt->values[p];
        lnrm[i] = (float)(k1 * ((1 - b) + (avg > 0 ? b * len / avg : 0)));
    }
    weights wt = {wkind, idf, lnrm, (float)k1};
    /* y from xt and yt from x by the same formula, which is cheaper than a transpose. */
    if ((st = ar__csr_map(xt, weigh, &wt, o->n_threads, &y)) ||
        (st = ar__csr_map(x, weigh_t, &wt, o->n_threads, &yt))) {
        st = ar__fail(err, st, "itemknn: out of memory");
        goto done;
    }

    /* Norm factors. */
    double alpha = kind == SIM_ASYMMETRIC ? ar__p(m, P_ALPHA) : 0.5;
    for (int32_t i = 0; i < n_items; i++) {
        double sq = 0;
        for (int64_t p = y->indptr[i]; p < y->indptr[i + 1]; p++)
            sq += (double)y->values[p] * y->values[p];
        if (kind == SIM_JACCARD) {
            nt[i] = ni[i] = (float)sq;
        } else {
            nt[i] = (float)pow(sq, alpha);
            ni[i] = (float)pow(sq, 1 - alpha);
        }
    }
    finisher fn = {kind, (float)ar__p(m, P_SHRINK), nt, ni};
    ar__simprod p = {.a = y,
                     .b = yt,
                     .k = (int32_t)ar__p(m, P_K),
                     .skip_diagonal = 1,
                     .finish = finish,
                     .ctx = &fn,
                     .o = o};
    if ((st = ar__simprod_topk(&p, &s, err)))
        goto done;
    double q = ar__p(m, P_LOCALITY);
    if (q != 1)
        for (int64_t e = 0; e < s->nnz; e++)
            s->values[e] = (float)pow(s->values[e], q);
    /* Rows of s are targets; scoring wants rows = history items. */
    if ((st = ar_csr_transpose(s, &w))) {
        st = ar__fail(err, st, "itemknn: out of memory");
        goto done;
    }
    if (ar__p(m, P_NORMALIZE) != 0)
        ar__csr_normalize_rows(w);
    st = ar__itemsim_adopt(m, w, err);
done:
    ar__free(idf);
    ar__free(lnrm);
    ar__free(nt);
    ar__free(ni);
    ar_csr_free(y);
    ar_csr_free(yt);
    ar_csr_free(s);
    return st;
}

/* The sparse product X^T X: each user's history pairs, about nnz^2 / users. */
static double fit_work(const ar_model *m, double users, double items, double nnz) {
    (void)m, (void)items;
    return nnz * nnz / users;
}

const ar__model_impl ar__itemknn_impl = {
    .name = "itemknn",
    .citation = "Sarwar, Karypis, Konstan & Riedl, Item-based collaborative filtering "
                "recommendation algorithms, WWW 2001; Aiolli, Efficient top-N recommendation for "
                "very large scale binary rated datasets, RecSys 2013",
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
