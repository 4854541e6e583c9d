/*
 * ease.c -- EASE^R: an item-item model with a closed-form solution.
 *
 * Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019. With X the user x
 * item training matrix, G = X^T X + D and P = G^{-1}, the weights are
 *
 *     B_ji = -P_ji / P_ii  (j != i),   B_ii = 0,
 *
 * and a user with history row x scores item i as (x B)_i = sum_j x_j B_ji. EASE has D =
 * lambda I; with `dropout` p > 0, D_ii = lambda + p / (1 - p) (X^T X)_ii, the emphasised
 * denoising linear autoencoder (EDLAE) of Steck, "Autoencoders that don't overfit towards the
 * Identity", NeurIPS 2020: the closed form of training on inputs with dropout rate p.
 *
 * Fit: the Gram matrix is built sparse -- row i of G is the sum over the users u of item i of
 * x_ui * x_u (a walk over X^T's row i and X's rows), one row per OpenMP task, so each entry is
 * written by one thread in a fixed order. The inverse is a block sweep (Gauss-Jordan) of the
 * symmetric positive definite matrix in place, n^3 flops like LAPACK's spotrf + spotri, all
 * level-3 BLAS -- but every BLAS call is single-threaded on a fixed tile and the tiles are
 * spread over OpenMP threads, because OpenBLAS's own threading changes the rounding with the
 * thread count (spotrf, spotri, even sgemm) and a fit must give the same bits on 1 and N
 * threads. With fewer users than items the fit takes the dual path (Woodbury identity,
 * fit_dual): it inverts the n_users^2 user Gram instead, n_users^3 flops.
 *
 * Memory: n_items^2 float32 for B (plus n_users^2 on the dual path), computed and checked
 * against ar__memory_available() before anything is allocated.
 *
 * State: b[n_items * n_items] float32, row-major, row j = the weights history item j gives
 * every item (so scoring a user is a sum of the user's history rows; diagonal zero).
 */
#include "models/model.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* `omp simd` asks for vectorisation; clang warns when it cannot (at -O1, the sanitizer build). */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

enum { P_LAMBDA, P_DROPOUT, N_PARAMS };

static const ar_param_def params[] = {
    {"lambda", AR_PARAM_LOGFLOAT, 1e-2, 1e6, 500, NULL, NULL,
     "L2 regularisation added to the Gram matrix's diagonal"},
    {"dropout", AR_PARAM_FLOAT, 0, 0.95, 0, NULL, NULL,
     "EDLAE's emphasised denoising (Steck 2020): the diagonal gets lambda + dropout / (1 - "
     "dropout) * G_ii, so popular items' weights shrink more; 0 = EASE"},
};
_Static_assert(sizeof params / sizeof params[0] == N_PARAMS, "one definition per parameter");

typedef struct state {
    float *b; /* n x n row-major */
} state;

#define GIB (1024.0 * 1024.0 * 1024.0)
/* Item columns per block of the dual path's product. */
#define DUAL_COLS 256

static size_t sweep_scratch_floats(int32_t n);
/* Bytes the fit allocates: B (n_items^2) always; the primal path inverts it in place, the dual
 * path (fewer users than items) also holds the n_users^2 user Gram and a panel. */
static size_t need_bytes(int32_t n_items, int32_t n_users) {
    size_t f = (size_t)n_items * (size_t)n_items + (size_t)n_items;
    if (n_users < n_items)
        f += (size_t)n_users * (size_t)n_users + sweep_scratch_floats(n_users) +
             2 * (size_t)DUAL_COLS * (size_t)n_users;
    else
        f += sweep_scratch_floats(n_items);
    return f * sizeof(float) + (64u << 20);
}

/* G = X^T X for a user x item matrix x and its transpose xt (item x user), into g (n x n,
 * row-major, fully filled). Row i is built by one thread: for each user u of item i, add
 * x_ui * x_u. */
static void gram_sparse(const ar_csr *x, const ar_csr *xt, float *g, int nt) {
    int32_t n = xt->n_rows;
#pragma omp parallel for schedule(dynamic, 16) num_threads(nt)
    for (int32_t i = 0; i < n; i++) {
        float *row = g + (size_t)i * (size_t)n;
        memset(row, 0, (size_t)n * sizeof *row);
        for (int64_t p = xt->indptr[i]; p < xt->indptr[i + 1]; p++) {
            int32_t u = xt->indices[p];
            float xui = xt->values[p];
            for (int64_t q = x->indptr[u]; q < x->indptr[u + 1]; q++)
                row[x->indices[q]] += xui * x->values[q];
        }
    }
}

/* Copies the upper triangle (row-major, j > i) of an n x n array onto the lower one, in tiles
 * so both sides stay in cache. */
static void mirror_upper(float *a, int32_t n, int nt) {
    enum { T = 64 };
    int32_t nb = (n + T - 1) / T;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int32_t bi = 0; bi < nb; bi++)
        for (int32_t bj = 0; bj <= bi; bj++)
            for (int32_t i = bi * T; i < n && i < (bi + 1) * T; i++)
                for (int32_t j = bj * T; j < (bj + 1) * T && j < i; j++)
                    a[(size_t)i * (size_t)n + (size_t)j] = a[(size_t)j * (size_t)n + (size_t)i];
}

/* Pivot block of the sweep and tile edge of its symmetric update. */
#define NB 256
#define TILE 512

/* Bytes of scratch the sweep needs besides the matrix: two kb x n panels and three kb x kb. */
static size_t sweep_scratch_floats(int32_t n) {
    return 2 * (size_t)NB * (size_t)n + 3 * (size_t)NB * NB + 16;
}

/* Inverts the symmetric positive definite a (n x n, column-major, lower triangle used, ld n)
 * in place by the block sweep operator (Gauss-Jordan without pivoting, which positive
 * definiteness makes safe): for each pivot block k with panel C = A(:, k), L L^T = A_kk,
 *
 *     A -= C A_kk^{-1} C^T  (= F F^T with F = C L^{-T}),  A(:, k) = C A_kk^{-1},
 *     A_kk = -A_kk^{-1},
 *
 * which leaves -A^{-1} after the last block. It costs n^3 flops like LAPACK's spotrf + spotri
 * and is all level-3 BLAS, but every call is single-threaded on a fixed tile and the tiles are
 * spread over OpenMP threads: OpenBLAS's own threading changes rounding with the thread count
 * (spotrf/spotri, and even sgemm), and a fit must not. ws: sweep_scratch_floats(n).
 * Returns AR_ERANGE when a pivot block is not positive definite, AR_ECANCELED when asked. */
static ar_status sweep_inverse(float *a, int32_t n, float *ws, int nt, const ar_fit_options *o) {
    float *base = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    float *ct = base, *ft = ct + (size_t)NB * n; /* kb x n, ld NB: C^T, then F^T, E^T */
    float *li = ft + (size_t)NB * n, *d = li + (size_t)NB * NB;
    size_t ld = (size_t)n;
    int32_t n_tiles = (n + TILE - 1) / TILE, n_chunks = n_tiles;
    int64_t n_pairs = (int64_t)n_tiles * (n_tiles + 1) / 2;
    openblas_set_num_threads(1);
    for (int32_t k0 = 0, step = 0; k0 < n; k0 += NB, step++) {
        int32_t kb = n - k0 < NB ? n - k0 : NB;
        if (ar__canceled(o) ||
            (o->progress && o->progress(o->progress_data, 1 + step, 2 + (n + NB - 1) / NB)))
            return AR_ECANCELED;
            /* C^T[r, i] = A(i, k0 + r), read from whichever triangle holds it. */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int32_t i = 0; i < n; i++) {
            float *dst = ct + (size_t)i * NB;
            if (i < k0) /* row k0 + r of column i: contiguous */
                memcpy(dst, a + (size_t)k0 + (size_t)i * ld, (size_t)kb * sizeof *dst);
            else
                for (int32_t r = 0; r < kb; r++) {
                    int32_t c = k0 + r;
                    dst[r] = i >= c ? a[(size_t)i + (size_t)c * ld] : a[(size_t)c + (size_t)i * ld];
                }
        }
        /* L^{-1} of the pivot block (lower, upper part zeroed) and D = A_kk^{-1} = L^-T L^-1 */
        for (int32_t r = 0; r < kb; r++)
            for (int32_t c = 0; c < kb; c++)
                li[(size_t)c + (size_t)r * NB] = c >= r ? ct[(size_t)c + (size_t)(k0 + r) * NB] : 0;
        if (LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', kb, li, NB) != 0 ||
            LAPACKE_strtri_work(LAPACK_COL_MAJOR, 'L', 'N', kb, li, NB) != 0)
            return AR_ERANGE;
        for (int32_t r = 0; r < kb; r++)
            for (int32_t c = 0; c < r; c++)
                li[(size_t)c + (size_t)r * NB] = 0;
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, kb, kb, kb, 1.0f, li, NB, li, NB, 0.0f,
                    d, NB);
        /* F^T = L^{-1} C^T, in fixed column chunks */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int32_t ch = 0; ch < n_chunks; ch++) {
            int32_t j0 = ch * TILE, w = n - j0 < TILE ? n - j0 : TILE;
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, kb, w, kb, 1.0f, li, NB,
                        ct + (size_t)j0 * NB, NB, 0.0f, ft + (size_t)j0 * NB, NB);
        }
        /* A(lower) -= F F^T, tile by tile */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t t = 0; t < n_pairs; t++) {
            int32_t ti = (int32_t)((sqrt(8.0 * (double)t + 1.0) - 1.0) / 2.0);
            while ((int64_t)ti * (ti + 1) / 2 > t)
                ti--;
            while ((int64_t)(ti + 1) * (ti + 2) / 2 <= t)
                ti++;
            int32_t tj = (int32_t)(t - (int64_t)ti * (ti + 1) / 2);
            int32_t i0 = ti * TILE, j0 = tj * TILE;
            int32_t mi = n - i0 < TILE ? n - i0 : TILE, mj = n - j0 < TILE ? n - j0 : TILE;
            float *c = a + (size_t)i0 + (size_t)j0 * ld;
            if (ti == tj)
                cblas_ssyrk(CblasColMajor, CblasLower, CblasTrans, mi, kb, -1.0f,
                            ft + (size_t)i0 * NB, NB, 1.0f, c, n);
            else
                cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, mi, mj, kb, -1.0f,
                            ft + (size_t)i0 * NB, NB, ft + (size_t)j0 * NB, NB, 1.0f, c, n);
        }
        /* E^T = L^{-T} F^T (into ct), written back as column k of A; A_kk = -D */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int32_t ch = 0; ch < n_chunks; ch++) {
            int32_t j0 = ch * TILE, w = n - j0 < TILE ? n - j0 : TILE;
            cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, kb, w, kb, 1.0f, li, NB,
                        ft + (size_t)j0 * NB, NB, 0.0f, ct + (size_t)j0 * NB, NB);
            for (int32_t i = j0; i < j0 + w; i++) {
                const float *src = ct + (size_t)i * NB;
                if (i < k0)
                    memcpy(a + (size_t)k0 + (size_t)i * ld, src, (size_t)kb * sizeof *src);
                else if (i >= k0 + kb)
                    for (int32_t r = 0; r < kb; r++)
                        a[(size_t)i + (size_t)(k0 + r) * ld] = src[r];
            }
        }
        for (int32_t r = 0; r < kb; r++)
            for (int32_t c = r; c < kb; c++)
                a[(size_t)(k0 + c) + (size_t)(k0 + r) * ld] = -d[(size_t)c + (size_t)r * NB];
    }
    return AR_OK;
}

/* The dual path, for fewer users than items (Woodbury): with K = X X^T + lambda I (users x
 * users) and W = K^{-1},
 *
 *     P = (X^T X + lambda I)^{-1} = (I - X^T W X) / lambda,
 *
 * so with S = X^T W X, B_ji = -P_ji / P_ii = S_ji / (1 - S_ii) for j != i. The inverse costs
 * n_users^3 instead of n_items^3; S is built in blocks of DUAL_COLS item columns by two sparse
 * x dense products (T = W X_block, then S_block = X^T T), each output row written by one
 * thread. b: n_items x n_items (row-major) output.
 *
 * A diagonal D (EDLAE) comes in as x and xt with column i scaled by D_ii^-1/2, lambda = 1
 * and d = D^1/2 (the square roots, taken once): then X^T X + D = D^1/2 (X~^T X~ + I) D^1/2,
 * and B_ji = S~_ji sqrt(D_ii / D_jj) / (1 - S~_ii) = S~_ji d_i / d_j / (1 - S~_ii). d NULL:
 * no scaling. */
static ar_status fit_dual(const ar_csr *x, const ar_csr *xt, float lambda, const float *d, float *b,
                          int nt, const ar_fit_options *o) {
    int32_t nu = x->n_rows, n = x->n_cols;
    size_t ldk = (size_t)nu;
    float *k = ar__alloc_array((size_t)nu * (size_t)nu, sizeof *k);
    float *ws = ar__alloc_array(sweep_scratch_floats(nu) + 2 * (size_t)DUAL_COLS * (size_t)nu + 16,
                                sizeof *ws);
    ar_status st = AR_OK;
    if (!k || !ws) {
        st = AR_ENOMEM;
        goto out;
    }
    gram_sparse(xt, x, k, nt); /* X X^T */
    for (int32_t u = 0; u < nu; u++)
        k[(size_t)u * ldk + (size_t)u] += lambda;
    if ((st = sweep_inverse(k, nu, ws, nt, o)))
        goto out;
    mirror_upper(k, nu, nt);                                  /* k = -W, full */
    float *tc = ws, *t = ws + (size_t)DUAL_COLS * (size_t)nu; /* b x nu, then nu x b */
    for (int32_t c0 = 0; c0 < n; c0 += DUAL_COLS) {
        int32_t bw = n - c0 < DUAL_COLS ? n - c0 : DUAL_COLS;
        if (ar__canceled(o)) {
            st = AR_ECANCELED;
            goto out;
        }
        /* tc[c][u] = sum over users v of item c0 + c of x_vc * (-W)[v][u] */
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
        for (int32_t c = 0; c < bw; c++) {
            float *restrict dst = tc + (size_t)c * ldk;
            memset(dst, 0, ldk * sizeof *dst);
            for (int64_t p = xt->indptr[c0 + c]; p < xt->indptr[c0 + c + 1]; p++) {
                const float *restrict src = k + (size_t)xt->indices[p] * ldk;
                float v = xt->values[p];
#pragma omp simd
                for (size_t u = 0; u < ldk; u++)
                    dst[u] += v * src[u];
            }
        }
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int32_t u = 0; u < nu; u++)
            for (int32_t c = 0; c < bw; c++)
                t[(size_t)u * DUAL_COLS + (size_t)c] = tc[(size_t)c * ldk + (size_t)u];
                /* S[i][c0 + c] = sum over users u of item i of x_ui * W X = -(x_ui * t[u][c]) */
#pragma omp parallel for schedule(dynamic, 64) num_threads(nt)
        for (int32_t i = 0; i < n; i++) {
            float *restrict dst = b + (size_t)i * (size_t)n + (size_t)c0;
            memset(dst, 0, (size_t)bw * sizeof *dst);
            for (int64_t p = xt->indptr[i]; p < xt->indptr[i + 1]; p++) {
                const float *restrict src = t + (size_t)xt->indices[p] * DUAL_COLS;
                float v = -xt->values[p];
#pragma omp simd
                for (int32_t c = 0; c < bw; c++)
                    dst[c] += v * src[c];
            }
        }
        /* B_ic = S_ic / (1 - S_cc) */
        for (int32_t c = 0; c < bw; c++)
            ws[sweep_scratch_floats(nu) + (size_t)c] =
                1.0f - b[(size_t)(c0 + c) * (size_t)n + (size_t)(c0 + c)];
        const float *den = ws + sweep_scratch_floats(nu);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int32_t i = 0; i < n; i++) {
            float *row = b + (size_t)i * (size_t)n + (size_t)c0;
            for (int32_t c = 0; c < bw; c++)
                row[c] = c0 + c == i ? 0.0f : row[c] / den[c];
            if (d) {
                float di = 1.0f / d[i];
                for (int32_t c = 0; c < bw; c++)
                    row[c] *= d[c0 + c] * di;
            }
        }
    }
out:
    ar__free(k);
    ar__free(ws);
    return st;
}

/* fit_dual with EDLAE's diagonal D_ii = lambda + emph (X^T X)_ii: the matrices' values
 * scaled by D^-1/2 per item (copies; the structure is shared). */
static ar_status fit_dual_edlae(const ar_csr *x, const ar_csr *xt, float lambda, float emph,
                                float *b, int nt, const ar_fit_options *o) {
    int32_t n = x->n_cols;
    float *d = ar__alloc_array((size_t)n, sizeof *d);
    float *xv = ar__alloc_array((size_t)x->nnz + 1, sizeof *xv);
    float *xtv = ar__alloc_array((size_t)xt->nnz + 1, sizeof *xtv);
    ar_status st = AR_ENOMEM;
    if (d && xv && xtv) {
        for (int32_t i = 0; i < n; i++) {
            double g = 0;
            for (int64_t q = xt->indptr[i]; q < xt->indptr[i + 1]; q++)
                g += (double)xt->values[q] * xt->values[q];
            d[i] = sqrtf((float)(lambda + emph * g)); /* D_ii^1/2 */
        }
        for (int64_t q = 0; q < x->nnz; q++)
            xv[q] = x->values[q] / d[x->indices[q]];
        for (int32_t i = 0; i < n; i++)
            for (int64_t q = xt->indptr[i]; q < xt->indptr[i + 1]; q++)
                xtv[q] = xt->values[q] / d[i];
        ar_csr xs = *x, xts = *xt;
        xs.values = xv, xts.values = xtv;
        st = fit_dual(&xs, &xts, 1.0f, d, b, nt, o);
    }
    ar__free(d), ar__free(xv), ar__free(xtv);
    return st;
}

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)ds;
    int32_t n = m->n_items, nu = x->n_rows;
    int dual = nu < n;
    size_t need = need_bytes(n, nu), avail = ar__memory_available(o);
    if (need > avail)
        return ar__fail(err, AR_ENOMEM,
                        "EASE needs %.2f GiB for %d items (an n_items^2 float32 matrix%s); %.2f "
                        "GiB available; fit it on fewer items (e.g. drop rare ones) or use "
                        "itemknn / ials",
                        (double)need / GIB, n, dual ? " and the n_users^2 user Gram" : "",
                        (double)avail / GIB);
    int nt = ar__threads(o->n_threads);
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return ar__fail(err, AR_ENOMEM, "ease: out of memory");
    m->state = s;
    s->b = ar__alloc_array((size_t)n * (size_t)n, sizeof *s->b);
    if (!s->b)
        return ar__fail(err, AR_ENOMEM, "ease: out of memory for %.2f GiB", (double)need / GIB);
    float lambda = (float)ar__p(m, P_LAMBDA);
    double p = ar__p(m, P_DROPOUT), emph = p / (1.0 - p);
    ar_status st;
    if (dual && p > 0) {
        st = fit_dual_edlae(x, xt, lambda, (float)emph, s->b, nt, o);
    } else if (dual) {
        st = fit_dual(x, xt, lambda, NULL, s->b, nt, o);
    } else {
        float *ws = ar__alloc_array(sweep_scratch_floats(n) + (size_t)n, sizeof *ws);
        if (!ws)
            return ar__fail(err, AR_ENOMEM, "ease: out of memory");
        float *diag = ws + sweep_scratch_floats(n), *g = s->b;
        gram_sparse(x, xt, g, nt);
        for (int32_t i = 0; i < n; i++) {
            float *gi = g + (size_t)i * (size_t)n + (size_t)i;
            *gi += lambda + (float)emph * *gi;
        }
        /* G is symmetric: its row-major array is also the column-major matrix. */
        st = sweep_inverse(g, n, ws, nt, o);
        if (!st) {
            /* -P is in the column-major lower = row-major upper triangle; make it full, then
             * B_ji = -P_ji / P_ii = -A_ji / A_ii with A = -P. */
            mirror_upper(g, n, nt);
            for (int32_t i = 0; i < n; i++)
                diag[i] = g[(size_t)i * (size_t)n + (size_t)i];
#pragma omp parallel for schedule(static) num_threads(nt)
            for (int32_t j = 0; j < n; j++) {
                float *row = g + (size_t)j * (size_t)n;
                for (int32_t i = 0; i < n; i++)
                    row[i] = -row[i] / diag[i];
                row[j] = 0;
            }
        }
        ar__free(ws);
    }
    if (st == AR_ERANGE)
        return ar__fail(err, st, "ease: the Gram matrix is not positive definite; raise lambda");
    if (st == AR_ENOMEM)
        return ar__fail(err, st, "ease: out of memory for the user Gram matrix");
    if (st)
        return ar__fail(err, st, "ease: canceled");
    if (o->progress)
        o->progress(o->progress_data, 1, 1);
    return AR_OK;
}

/* scores (n_items) = sum_j values[j] * B[items[j], :]: the history rows of B. */
static void score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws) {
    (void)user, (void)ws;
    const state *s = m->state;
    size_t ni = (size_t)m->n_items;
    memset(scores, 0, ni * sizeof *scores);
    for (int32_t j = 0; j < n; j++) {
        const float *restrict row = s->b + (size_t)items[j] * ni;
        float v = values ? values[j] : 1.0f;
        float *restrict out = scores;
#pragma omp simd
        for (size_t i = 0; i < ni; i++)
            out[i] += v * row[i];
    }
}

static ar_status score_batch(const ar_model *m, const ar_csr *hist, const int32_t *users, int32_t n,
                             float *scores) {
    int nt = ar__threads(0);
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (int32_t r = 0; r < n; r++) {
        int64_t b = hist->indptr[users[r]], e = hist->indptr[users[r] + 1];
        score(m, users[r], hist->indices + b, hist->values + b, (int32_t)(e - b),
              scores + (size_t)r * (size_t)m->n_items, NULL);
    }
    return AR_OK;
}

static void explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws) {
    (void)user, (void)ws;
    const state *s = m->state;
    for (int32_t j = 0; j < n; j++)
        weights[j] =
            (values ? values[j] : 1.0f) * s->b[(size_t)items[j] * (size_t)m->n_items + item];
}

enum { TAG_B = AR__MODEL_TAG_STATE };

static void save(const ar_model *m, ar__secw *w) {
    const state *s = m->state;
    ar__secw_add(w, TAG_B, 4, (uint64_t)m->n_items * (uint64_t)m->n_items, 0, s->b);
}

static ar_status load(ar_model *m, const ar__secfile *f) {
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return AR_ENOMEM;
    m->state = s;
    const void *p;
    size_t n = (size_t)m->n_items;
    ar_status st = ar__model_array(f, TAG_B, 4, (uint64_t)n * n, &p);
    if (st)
        return st;
    s->b = (float *)p;
    for (size_t i = 0; i < n * n; i++)
        if (!isfinite(s->b[i]))
            return ar__secfile_corrupt(f, "non-finite weight");
    for (size_t i = 0; i < n; i++)
        if (s->b[i * n + i] != 0)
            return ar__secfile_corrupt(f, "non-zero diagonal weight");
    return AR_OK;
}

static void free_state(ar_model *m) {
    state *s = m->state;
    if (!m->map)
        ar__free(s->b);
    ar__free(s);
}

/* The Gram matrix (the users' history pairs, about nnz^2 / users) and its inversion (items^3). */
static double fit_work(const ar_model *m, double users, double items, double nnz) {
    (void)m;
    return nnz * nnz / users + items * items * items;
}

const ar__model_impl ar__ease_impl = {
    .name = "ease",
    .citation = "Steck, Embarrassingly Shallow Autoencoders for Sparse Data, WWW 2019; EDLAE: "
                "Steck, Autoencoders that don't overfit towards the Identity, NeurIPS 2020",
    .params = params,
    .n_params = N_PARAMS,
    .fit = fit,
    .score = score,
    .score_batch = score_batch,
    .explain = explain,
    .save = save,
    .load = load,
    .free_state = free_state,
    .fit_work = fit_work,
};
