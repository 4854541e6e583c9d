/*
 * bspm.c -- BSPM: blurring-sharpening process models, a graph filter with no training.
 *
 * Choi, Hong, Lee, Kim & Park, "Blurring-Sharpening Process Models for Collaborative
 * Filtering", SIGIR 2023. It extends GF-CF (Shen et al., "How Powerful is Graph Convolution for
 * Recommendation?", CIKM 2021), which is the case sharp_steps = 0.
 *
 * With x the user x item training matrix (summed values), d_u and d_i its row and column sums,
 *
 *     R = D_u^-1/2 x D_i^-1/2      and      P = R^T R   (item x item; never formed),
 *
 * a user with history row r (its values) scores the items as s(T_s), where
 *
 *     ideal = r D_i^-1/2 V V^T D_i^1/2    V: the top `factors` right singular vectors of R
 *     blur  = r + T_b (r P - r)           one Euler step of the heat equation ds/dt = s(P - I)
 *     s(0)  = blur + beta ideal
 *     ds/dt = -s P                        sharpening (the heat equation run backwards), by
 *                                         sharp_steps classical Runge-Kutta (RK4) steps.
 *
 * The equation is linear, so one RK4 step of length h is exactly
 * s <- s (I - hP + (hP)^2/2 - (hP)^3/6 + (hP)^4/24): four products with P, accumulated term by
 * term. The paper's Gowalla setting is factors 448, beta 0.2, T_b 1, T_s 2.5, one RK4 step.
 * The scores are linear in r, so the explanation is exact: history item j contributes
 * r_j M[j, i] to item i's score (M = the whole filter), computed by filtering the unit row e_j.
 *
 * Products with P act on a block of b histories at once, item-major: S (n_items x b, item i's
 * b values contiguous). T = R S (n_users x b) and then R^T T, each output row summed by one
 * thread in the fixed order of its CSR row, so the bits do not depend on the thread count.
 *
 * V comes from a randomized subspace iteration (Halko, Martinsson & Tropp, SIAM Review 2011)
 * on P with l = factors + oversampling columns: Q <- orth(R^T (R Q)), orthonormalised by two
 * Cholesky QR passes; then Rayleigh-Ritz: the eigenvectors E of Q^T P Q (l x l, double, LAPACK
 * dsyevd) give V = Q E[:, top factors]. A random start from a fixed seed: the fit does not
 * depend on ar_fit_options.seed. BLAS runs single-threaded on fixed tiles spread over OpenMP
 * threads (OpenBLAS's own threading changes the rounding with the thread count).
 *
 * Shapes and layouts (the state; arrays point into the model file when loaded):
 *   r    n_users x n_items CSR, float32: R      rt  n_items x n_users CSR: R^T
 *   dn   n_items float32: d_i^-1/2             dp  n_items float32: d_i^1/2 (0 where d_i = 0)
 *   v    n_items x k row-major float32: V (k = the singular vectors kept; 0 = no ideal filter)
 */
#include "models/dense.h"
#include "models/itemsim.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

enum { P_FACTORS, P_IDEAL_WEIGHT, P_BLUR_TIME, P_SHARP_TIME, P_SHARP_STEPS, P_SVD_ITERS, N_PARAMS };

static const ar_param_def params[] = {
    {"factors", AR_PARAM_INT, 0, 4096, 256, NULL, NULL,
     "singular vectors kept by the ideal low-pass filter (0 = no ideal filter)"},
    {"ideal_weight", AR_PARAM_FLOAT, 0, 2, 0.2, NULL, NULL,
     "beta: weight of the ideal low-pass filter in the sharpening's starting point"},
    {"blur_time", AR_PARAM_FLOAT, 0, 2, 1, NULL, NULL,
     "T_b: the blurring's Euler step (1 = the linear filter r R^T R)"},
    {"sharp_time", AR_PARAM_FLOAT, 0, 5, 2.5, NULL, NULL,
     "T_s: how long the sharpening runs the heat equation backwards"},
    {"sharp_steps", AR_PARAM_INT, 0, 8, 1, NULL, NULL,
     "RK4 steps of the sharpening (0 = no sharpening: GF-CF)"},
    {"svd_iters", AR_PARAM_INT, 8, 50, 8, NULL, NULL,
     "subspace iterations of the randomized SVD behind the ideal filter (accuracy, not a "
     "modelling choice: at least 8)"},
};
_Static_assert(sizeof params / sizeof params[0] == N_PARAMS, "one definition per parameter");

typedef struct state {
    ar_csr r, rt;
    float *dn, *dp, *v;
    int32_t k;
} state;

/* Rows of the tiles BLAS works on; fixed, so results ignore the thread count. */
#define TILE 2048
/* Histories filtered together by score_batch. */
#define BLOCK 64
#define SVD_SEED 0x42535044u

/* -- kernels --------------------------------------------------------------------------------- */

/* o (b) = sum over row r of a: value * in[column] (b floats each). */
AR__SIMD_CLONES static void spmm_row(const ar_csr *a, int32_t r, const float *restrict in,
                                     int32_t b, float *restrict o) {
    memset(o, 0, (size_t)b * sizeof *o);
    for (int64_t p = a->indptr[r]; p < a->indptr[r + 1]; p++) {
        const float *restrict x = in + (size_t)a->indices[p] * (size_t)b;
        float v = a->values[p];
#pragma omp simd
        for (int32_t c = 0; c < b; c++)
            o[c] += v * x[c];
    }
}

/* out (a->n_rows x b) = a . in (a->n_cols x b), rows over nt threads. */
static void spmm(const ar_csr *a, const float *in, int32_t b, float *out, int nt) {
#pragma omp parallel for schedule(dynamic, 64) num_threads(nt)
    for (int32_t r = 0; r < a->n_rows; r++)
        spmm_row(a, r, in, b, out + (size_t)r * (size_t)b);
}

/* y += a x over n floats. */
static void axpy_all(float a, const float *restrict x, float *restrict y, size_t n, int nt) {
#pragma omp parallel for simd schedule(static) num_threads(nt)
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* out (n x c) = a (n x k) . b^T (b: c x k), all row-major, on fixed tiles of rows. */
static void gemm_nt(const float *a, int32_t n, int32_t k, const float *b, int32_t c, float *out,
                    int nt) {
    int32_t n_tiles = (n + TILE - 1) / TILE;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int32_t t = 0; t < n_tiles; t++) {
        int32_t r0 = t * TILE, rows = n - r0 < TILE ? n - r0 : TILE;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, c, k, 1.0f,
                    a + (size_t)r0 * (size_t)k, k, b, k, 0.0f, out + (size_t)r0 * (size_t)c, c);
    }
}

/* -- scoring --------------------------------------------------------------------------------- */

typedef struct hist {
    const int32_t *items;
    const float *values; /* NULL = all 1 */
    int32_t n;
} hist;

static inline float hval(const hist *h, int32_t t) {
    return h->values ? h->values[t] : 1.0f;
}

/* Scratch floats for filtering b histories at once. */
static size_t block_floats(const ar_model *m, int32_t b) {
    const state *s = m->state;
    return (3 * (size_t)m->n_items + (size_t)s->r.n_rows + (size_t)s->k) * (size_t)b;
}

/* Filters b histories into scores (b x n_items, row-major). w: block_floats(m, b). */
static void filter(const ar_model *m, const hist *h, int32_t b, float *scores, float *w, int nt) {
    const state *s = m->state;
    const size_t ni = (size_t)m->n_items, nu = (size_t)s->r.n_rows, bb = (size_t)b;
    const int32_t k = s->k;
    const float beta = (float)ar__p(m, P_IDEAL_WEIGHT), tb = (float)ar__p(m, P_BLUR_TIME);
    float *S = w, *T = S + ni * bb, *O = T + ni * bb, *TU = O + ni * bb, *C = TU + nu * bb;

    /* Ideal low-pass: C (b x k) = r D^-1/2 V, then S = D^1/2 V C^T beta. */
    if (k > 0 && beta != 0) {
        memset(C, 0, (size_t)k * bb * sizeof *C);
        for (int32_t j = 0; j < b; j++)
            for (int32_t t = 0; t < h[j].n; t++) {
                int32_t i = h[j].items[t];
                float a = hval(&h[j], t) * s->dn[i];
                const float *restrict vi = s->v + (size_t)i * (size_t)k;
                float *restrict cj = C + (size_t)j * (size_t)k;
                for (int32_t f = 0; f < k; f++)
                    cj[f] += a * vi[f];
            }
        gemm_nt(s->v, m->n_items, k, C, b, S, nt);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (size_t i = 0; i < ni; i++) {
            float a = beta * s->dp[i];
            for (size_t j = 0; j < bb; j++)
                S[i * bb + j] *= a;
        }
    } else {
        memset(S, 0, ni * bb * sizeof *S);
    }

    /* Blurring: S += T_b r P + (1 - T_b) r. The first product is sparse (r is), so R r^T is
     * gathered from R^T's rows of the history items. */
    if (tb != 0) {
        memset(TU, 0, nu * bb * sizeof *TU);
        for (int32_t j = 0; j < b; j++)
            for (int32_t t = 0; t < h[j].n; t++) {
                int32_t i = h[j].items[t];
                float a = hval(&h[j], t);
                for (int64_t p = s->rt.indptr[i]; p < s->rt.indptr[i + 1]; p++)
                    TU[(size_t)s->rt.indices[p] * bb + (size_t)j] += a * s->rt.values[p];
            }
        spmm(&s->rt, TU, b, O, nt);
        axpy_all(tb, O, S, ni * bb, nt);
    }
    for (int32_t j = 0; j < b; j++)
        for (int32_t t = 0; t < h[j].n; t++)
            S[(size_t)h[j].items[t] * bb + (size_t)j] += (1 - tb) * hval(&h[j], t);

    /* Sharpening: per RK4 step, S += sum_{q=1..4} S (-hP)^q / q!. */
    int steps = (int)ar__p(m, P_SHARP_STEPS);
    float hs = steps > 0 ? (float)(ar__p(m, P_SHARP_TIME) / steps) : 0;
    for (int st = 0; st < steps && hs != 0; st++) {
        memcpy(T, S, ni * bb * sizeof *T);
        for (int q = 1; q <= 4; q++) {
            spmm(&s->r, T, b, TU, nt);
            spmm(&s->rt, TU, b, O, nt);
            float c = -hs / (float)q;
#pragma omp parallel for simd schedule(static) num_threads(nt)
            for (size_t i = 0; i < ni * bb; i++) {
                O[i] *= c;
                S[i] += O[i];
            }
            float *x = T;
            T = O;
            O = x;
        }
    }

#pragma omp parallel for schedule(static) num_threads(nt)
    for (int32_t j = 0; j < b; j++)
        for (size_t i = 0; i < ni; i++)
            scores[(size_t)j * ni + i] = S[i * bb + (size_t)j];
}

/* Threads for a filter call: all of them at the top level, one inside a parallel region (the
 * evaluator's workers each filter their own block). */
static int filter_threads(void) {
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
#endif
    return ar__threads(0);
}

static size_t ws_floats(const ar_model *m) {
    return block_floats(m, 1) + (size_t)m->n_items;
}

static void score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws) {
    (void)user;
    hist h = {items, values, n};
    openblas_set_num_threads(1);
    filter(m, &h, 1, scores, ws, filter_threads());
}

static ar_status score_batch(const ar_model *m, const ar_csr *hist_m, const int32_t *users,
                             int32_t n, float *scores) {
    int32_t b = n < BLOCK ? n : BLOCK;
    float *w = ar__alloc_array(block_floats(m, b), sizeof *w);
    hist h[BLOCK];
    if (!w)
        return AR_ENOMEM;
    openblas_set_num_threads(1);
    int nt = filter_threads();
    for (int32_t r0 = 0; r0 < n; r0 += BLOCK) {
        int32_t nb = n - r0 < BLOCK ? n - r0 : BLOCK;
        for (int32_t j = 0; j < nb; j++) {
            int64_t p = hist_m->indptr[users[r0 + j]], e = hist_m->indptr[users[r0 + j] + 1];
            h[j] = (hist){hist_m->indices + p, hist_m->values + p, (int32_t)(e - p)};
        }
        filter(m, h, nb, scores + (size_t)r0 * (size_t)m->n_items, w, nt);
    }
    ar__free(w);
    return AR_OK;
}

/* History item j's share of `item`'s score: the filter of the unit row e_j at `item`, times
 * r_j. The shares sum to the score. */
static void explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws) {
    (void)user;
    float *row = ws + block_floats(m, 1);
    openblas_set_num_threads(1);
    for (int32_t j = 0; j < n; j++) {
        hist h = {items + j, NULL, 1};
        filter(m, &h, 1, row, ws, filter_threads());
        weights[j] = (values ? values[j] : 1.0f) * row[item];
    }
}

/* -- fit ------------------------------------------------------------------------------------- */

typedef struct norm {
    const double *row, *col; /* inverse square roots of the degrees */
} norm;

static float normalise(const void *ctx, int32_t r, int32_t c, float v) {
    const norm *d = ctx;
    return (float)((double)v * d->row[r] * d->col[c]);
}

/* 1/sqrt of each row sum of x (0 for rows summing to 0 or less). */
static double *inv_sqrt_sums(const ar_csr *x) {
    double *d = ar__calloc((size_t)x->n_rows + 1, sizeof *d);
    if (!d)
        return NULL;
    for (int32_t r = 0; r < x->n_rows; r++) {
        double sum = 0;
        for (int64_t p = x->indptr[r]; p < x->indptr[r + 1]; p++)
            sum += x->values[p];
        d[r] = sum > 0 ? 1 / sqrt(sum) : 0;
    }
    return d;
}

/* Orthonormalises the columns of q (n x l, row-major) in place by Cholesky QR:
 * G = Q^T Q = L L^T, Q <- Q L^-T. g: l*l floats, part: AR__GRAM_CHUNKS*l*l, gd: l*l doubles.
 * AR_ERANGE when G is not positive definite (the columns are dependent). */
static ar_status chol_qr(float *q, int32_t n, int32_t l, float *g, float *part, double *gd,
                         int nt) {
    ar__gram(q, n, l, 1.0f, g, part, nt);
    for (size_t i = 0; i < (size_t)l * (size_t)l; i++)
        gd[i] = g[i];
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', l, gd, l) != 0)
        return AR_ERANGE;
    for (int32_t i = 0; i < l; i++)
        for (int32_t j = 0; j < l; j++)
            g[(size_t)i * (size_t)l + (size_t)j] =
                j <= i ? (float)gd[(size_t)i * (size_t)l + (size_t)j] : 0;
    int32_t n_tiles = (n + TILE - 1) / TILE;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int32_t t = 0; t < n_tiles; t++) {
        int32_t r0 = t * TILE, rows = n - r0 < TILE ? n - r0 : TILE;
        cblas_strsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, rows, l, 1.0f,
                    g, l, q + (size_t)r0 * (size_t)l, l);
    }
    return AR_OK;
}

/* V (n_items x k) = the top k right singular vectors of R, as described at the top. */
static ar_status top_singular(ar_model *m, state *s, int32_t k, const ar_fit_options *o,
                              ar_error *err) {
    const int32_t ni = m->n_items, nu = s->r.n_rows;
    int32_t cap = ni < nu ? ni : nu;
    int32_t l = k + (k / 2 > 16 ? k / 2 : 16);
    if (l > cap)
        l = cap;
    if (k > l)
        k = l;
    int nt = ar__threads(o->n_threads), iters = (int)ar__p(m, P_SVD_ITERS);
    size_t ll = (size_t)l * (size_t)l;
    size_t need = ((size_t)ni * (size_t)l + (size_t)nu * (size_t)l + (size_t)ni * (size_t)k +
                   (1 + AR__GRAM_CHUNKS) * ll) *
                      sizeof(float) +
                  2 * ll * sizeof(double) + ((size_t)64 << 20);
    size_t avail = ar__memory_available(o);
    if (need > avail)
        return ar__fail(err, AR_ENOMEM,
                        "bspm needs %.2f GiB for %d singular vectors of a %d x %d matrix; %.2f GiB "
                        "available; lower factors",
                        (double)need / (1 << 30), k, nu, ni, (double)avail / (1 << 30));
    float *q = ar__alloc_array((size_t)ni * (size_t)l, sizeof *q);
    float *z = ar__alloc_array((size_t)nu * (size_t)l, sizeof *z);
    float *g = ar__alloc_array((1 + AR__GRAM_CHUNKS) * ll, sizeof *g);
    double *gd = ar__alloc_array(2 * ll, sizeof *gd);
    s->v = ar__alloc_array((size_t)ni * (size_t)k, sizeof *s->v);
    ar_status st = AR_OK;
    if (!q || !z || !g || !gd || !s->v) {
        st = ar__fail(err, AR_ENOMEM, "bspm: out of memory for the singular vectors");
        goto done;
    }
    float *part = g + ll;
    double *ev = gd + ll;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int32_t i = 0; i < ni; i++) {
        ar_rng rng;
        ar_rng_stream(&rng, SVD_SEED, (uint64_t)i);
        for (int32_t c = 0; c < l; c++)
            q[(size_t)i * (size_t)l + (size_t)c] = (float)(ar_rng_uniform(&rng) - 0.5);
    }
    for (int it = 0; it <= iters; it++) {
        if (ar__canceled(o)) {
            st = ar__fail(err, AR_ECANCELED, "bspm: canceled");
            goto done;
        }
        /* The first pass only orthonormalises the random start. */
        if (it > 0) {
            spmm(&s->r, q, l, z, nt);
            spmm(&s->rt, z, l, q, nt);
        }
        for (int pass = 0; pass < 2; pass++)
            if (chol_qr(q, ni, l, g, part, gd, nt)) {
                st = ar__fail(err, AR_ERANGE,
                              "bspm: the training matrix has fewer than %d independent "
                              "directions; lower factors",
                              l);
                goto done;
            }
        if (o->progress)
            o->progress(o->progress_data, it + 1, iters + 2);
    }
    /* Rayleigh-Ritz: Q^T P Q = (R Q)^T (R Q) = E diag(ev) E^T, ascending. */
    spmm(&s->r, q, l, z, nt);
    ar__gram(z, nu, l, 1.0f, g, part, nt);
    for (size_t i = 0; i < ll; i++)
        gd[i] = g[i];
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', l, gd, l, ev) != 0) {
        st = ar__fail(err, AR_ERANGE, "bspm: the eigensolver did not converge");
        goto done;
    }
    /* Keep the k largest, largest first; directions with (numerically) no energy are dropped,
     * so a matrix of low rank gives fewer columns, never noise. */
    int32_t kept = 0;
    for (int32_t c = 0; c < k; c++) {
        int32_t src = l - 1 - c;
        if (!(ev[src] > 1e-6 * ev[l - 1]))
            break;
        for (int32_t r = 0; r < l; r++)
            g[(size_t)kept * (size_t)l + (size_t)r] =
                (float)gd[(size_t)r * (size_t)l + (size_t)src];
        kept++;
    }
    s->k = kept;
    if (kept > 0)
        gemm_nt(q, ni, l, g, kept, s->v, nt);
done:
    ar__free(q);
    ar__free(z);
    ar__free(g);
    ar__free(gd);
    return st;
}

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)ds;
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return ar__fail(err, AR_ENOMEM, "bspm: out of memory");
    m->state = s;
    openblas_set_num_threads(1);
    double *du = inv_sqrt_sums(x), *di = inv_sqrt_sums(xt);
    ar_csr *r = NULL, *rt = NULL;
    ar_status st = AR_OK;
    s->dn = ar__alloc_array((size_t)m->n_items + 1, sizeof *s->dn);
    s->dp = ar__alloc_array((size_t)m->n_items + 1, sizeof *s->dp);
    norm nr = {du, di}, nc = {di, du};
    if (!du || !di || !s->dn || !s->dp || ar__csr_map(x, normalise, &nr, o->n_threads, &r) ||
        ar__csr_map(xt, normalise, &nc, o->n_threads, &rt)) {
        st = ar__fail(err, AR_ENOMEM, "bspm: out of memory");
        goto done;
    }
    s->r = *r;
    s->rt = *rt;
    ar__free(r);
    ar__free(rt);
    r = rt = NULL;
    for (int32_t i = 0; i < m->n_items; i++) {
        s->dn[i] = (float)di[i];
        s->dp[i] = di[i] > 0 ? (float)(1 / di[i]) : 0;
    }
    int32_t k = (int32_t)ar__p(m, P_FACTORS);
    if (k > 0 && ar__p(m, P_IDEAL_WEIGHT) != 0)
        st = top_singular(m, s, k, o, err);
done:
    ar__free(du);
    ar__free(di);
    ar_csr_free(r);
    ar_csr_free(rt);
    return st;
}

/* -- the model file -------------------------------------------------------------------------- */

enum { TAG_K = AR__MODEL_TAG_STATE, TAG_DN, TAG_DP, TAG_V, TAG_R, TAG_RT = TAG_R + 3 };

static void save(const ar_model *m, ar__secw *w) {
    const state *s = m->state;
    ar__secw_add(w, TAG_K, 4, 1, 0, &s->k);
    ar__secw_add(w, TAG_DN, 4, (uint64_t)m->n_items, 0, s->dn);
    ar__secw_add(w, TAG_DP, 4, (uint64_t)m->n_items, 0, s->dp);
    ar__secw_add(w, TAG_V, 4, (uint64_t)m->n_items * (uint64_t)s->k, 0, s->v);
    ar__model_csr_save(w, TAG_R, &s->r);
    ar__model_csr_save(w, TAG_RT, &s->rt);
}

static ar_status finite_array(const ar__secfile *f, uint32_t tag, uint64_t n, float **out) {
    const void *p;
    ar_status st = ar__model_array(f, tag, 4, n, &p);
    if (st)
        return st;
    *out = (float *)p;
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            return ar__secfile_corrupt(f, "non-finite value in the filter");
    return AR_OK;
}

static ar_status load(ar_model *m, const ar__secfile *f) {
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return AR_ENOMEM;
    m->state = s;
    const void *p;
    ar_status st = ar__model_array(f, TAG_K, 4, 1, &p);
    if (st)
        return st;
    memcpy(&s->k, p, sizeof s->k);
    if (s->k < 0 || s->k > ar__p(m, P_FACTORS) || s->k > m->n_items)
        return ar__secfile_corrupt(f, "singular vector count out of range");
    uint64_t ni = (uint64_t)m->n_items;
    if ((st = finite_array(f, TAG_DN, ni, &s->dn)) || (st = finite_array(f, TAG_DP, ni, &s->dp)) ||
        (st = finite_array(f, TAG_V, ni * (uint64_t)s->k, &s->v)) ||
        (st = ar__model_csr(f, TAG_R, m->n_users, m->n_items, &s->r)) ||
        (st = ar__model_csr(f, TAG_RT, m->n_items, m->n_users, &s->rt)))
        return st;
    if (s->r.nnz != s->rt.nnz)
        return ar__secfile_corrupt(f, "the matrix and its transpose differ");
    return AR_OK;
}

static void free_state(ar_model *m) {
    state *s = m->state;
    if (!m->map) {
        ar__free(s->r.indptr);
        ar__free(s->r.indices);
        ar__free(s->r.values);
        ar__free(s->rt.indptr);
        ar__free(s->rt.indices);
        ar__free(s->rt.values);
        ar__free(s->dn);
        ar__free(s->dp);
        ar__free(s->v);
    }
    ar__free(s);
}

/* The randomized SVD: per subspace iteration a product with R and one with R^T (2 nnz k) and
 * the re-orthogonalisation ((users + items) k^2); without an ideal filter, the normalisation. */
static double fit_work(const ar_model *m, double users, double items, double nnz) {
    double k = ar__p(m, P_FACTORS);
    return nnz + ar__p(m, P_SVD_ITERS) * (2 * nnz * k + (users + items) * k * k);
}

const ar__model_impl ar__bspm_impl = {
    .name = "bspm",
    .citation = "Choi, Hong, Lee, Kim & Park, Blurring-Sharpening Process Models for "
                "Collaborative Filtering, SIGIR 2023",
    .params = params,
    .n_params = N_PARAMS,
    .fit = fit,
    .ws_floats = ws_floats,
    .score = score,
    .score_batch = score_batch,
    .explain = explain,
    .save = save,
    .load = load,
    .free_state = free_state,
    .fit_work = fit_work,
};
