/*
 * ials.c -- implicit alternating least squares.
 *
 * Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008,
 * with the loss and the frequency-scaled regularisation of Rendle, Krichene, Zhang & Koren,
 * "Revisiting the Performance of iALS on Item Recommendation Benchmarks", RecSys 2022:
 *
 *   L(W, V) = sum_{(u,i) observed} c_ui (1 - w_u.v_i)^2 + alpha0 sum_{all u, i} (w_u.v_i)^2
 *             + lambda sum_u (|I_u| + alpha0 |I|)^nu |w_u|^2
 *             + lambda sum_i (|U_i| + alpha0 |U|)^nu |v_i|^2,
 *
 * with confidence c_ui = 1 + alpha * r_ui (Hu et al.; alpha = 0 is Rendle's unweighted loss).
 * Each half-epoch fixes one side and solves every row of the other in closed form:
 *
 *   (alpha0 Y^T Y + sum_{j in r} c_rj y_j y_j^T + lambda_r I) x_r = sum_{j in r} c_rj y_j.
 *
 * The Gramian trick: alpha0 Y^T Y is computed once per half-epoch (ssyrk over fixed chunks of
 * Y, summed in a fixed order), so a row costs O(nnz_r k^2 + k^3) exactly or O(steps (k^2 +
 * nnz_r k)) with conjugate gradient. The exact solver takes 8 rows at a time, one per SIMD
 * lane: it gathers their sqrt(c)-scaled observations, builds the 8 matrices and factorises
 * them (Cholesky) in lane-interleaved storage with register-blocked kernels (below). The CG
 * solver (Takacs, Pilaszy & Tikk, "Applications of the conjugate gradient method for implicit
 * feedback collaborative filtering", RecSys 2011; as in the implicit library) runs a few steps
 * per row, warm-started from the row's previous value; rows are taken in blocks of BLOCK so
 * that the Gramian products of a block are one sgemm.
 *
 * Threads: OpenMP over blocks of rows, per-thread scratch allocated before the region and
 * 64-byte aligned, BLAS single-threaded inside (openblas_set_num_threads(1)). Every row's
 * arithmetic is the same whichever thread runs it, and the random initialisation of row r
 * comes from ar_rng_stream(seed, r) (items: n_users + i), so 1 and N threads give bitwise the
 * same factors.
 *
 * Each epoch solves the items, then the users, so the stored user vectors are solutions
 * against the final item factors: folding a known user's history in reproduces the user's
 * vector (up to rounding, with the exact solver).
 *
 * State: w[n_users * k] and v[n_items * k] (float32, row-major: row = one user's / item's
 * factors), g[k * k] = V^T V (float32, symmetric), used to fold in new users.
 */
#include "models/dense.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* `omp simd` asks for vectorisation; clang warns when it cannot (at -O1, the sanitizer build). */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

enum {
    P_FACTORS,
    P_REG,
    P_ALPHA0,
    P_ALPHA,
    P_REG_EXP,
    P_EPOCHS,
    P_SOLVER,
    P_CG_STEPS,
    P_INIT_STD,
    N_PARAMS
};

static const ar_param_def params[] = {
    {"factors", AR_PARAM_INT, 1, 1024, 64, NULL, NULL, "latent dimensions k"},
    {"reg", AR_PARAM_LOGFLOAT, 1e-6, 1e3, 0.005, NULL, NULL,
     "lambda: L2 regularisation, scaled per row by (count + unobserved_weight * n)^reg_exponent"},
    {"unobserved_weight", AR_PARAM_LOGFLOAT, 1e-6, 10, 0.01, NULL, NULL,
     "alpha0: weight of every user-item pair pulled towards 0 (Rendle et al. 2022)"},
    {"alpha", AR_PARAM_FLOAT, 0, 1000, 0, NULL, NULL,
     "confidence of an observed pair: 1 + alpha * value (Hu et al. 2008)"},
    {"reg_exponent", AR_PARAM_FLOAT, 0, 2, 1, NULL, NULL,
     "nu: frequency scaling of the regularisation (0 = plain L2, 1 = proportional)"},
    {"epochs", AR_PARAM_INT, 1, 500, 16, NULL, NULL, "alternating epochs (items, then users)"},
    {"solver", AR_PARAM_CATEGORICAL, 0, 0, 0, "cg|exact", NULL,
     "cg: a few conjugate-gradient steps per row; exact: Cholesky"},
    {"cg_steps", AR_PARAM_INT, 1, 64, 3, NULL, "solver=cg", "conjugate-gradient steps per row"},
    {"init_std", AR_PARAM_LOGFLOAT, 1e-4, 1, 0.1, NULL, NULL,
     "initial factors ~ N(0, (init_std / sqrt(k))^2)"},
};

typedef struct state {
    float *w, *v, *g;
} state;

/* Rows per CG block (one sgemm each for the Gramian products). */
#define BLOCK 64
/* Users per scoring sgemm. */
#define SCORE_BLOCK 256

static inline float dot(const float *restrict a, const float *restrict b, int32_t k) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int32_t f = 0; f < k; f++)
        s += a[f] * b[f];
    return s;
}

/* y += a * x */
static inline void axpy(float a, const float *restrict x, float *restrict y, int32_t k) {
#pragma omp simd
    for (int32_t f = 0; f < k; f++)
        y[f] += a * x[f];
}

static float row_reg(const ar__ials_cfg *c, int64_t nnz, int32_t n_cols) {
    double base = (double)nnz + (double)c->alpha0 * (double)n_cols;
    return (float)(c->reg * pow(base, c->reg_exp));
}

static inline float conf(const ar__ials_cfg *c, const float *values, int64_t p) {
    return 1.0f + c->alpha * (values ? values[p] : 1.0f);
}

static size_t round_up16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

static float *align64(float *p) {
    return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

void ar__gram(const float *y, int32_t n, int32_t k, float scale, float *g, float *part, int nt) {
    size_t kk = (size_t)k * (size_t)k;
#pragma omp parallel for schedule(static, 1) num_threads(nt)
    for (int c = 0; c < AR__GRAM_CHUNKS; c++) {
        int32_t b = (int32_t)((int64_t)n * c / AR__GRAM_CHUNKS);
        int32_t e = (int32_t)((int64_t)n * (c + 1) / AR__GRAM_CHUNKS);
        float *p = part + (size_t)c * kk;
        memset(p, 0, kk * sizeof *p);
        if (e > b)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, k, e - b, 1.0f,
                        y + (size_t)b * (size_t)k, k, 0.0f, p, k);
    }
    for (int32_t i = 0; i < k; i++)
        for (int32_t j = i; j < k; j++) {
            float s = 0;
            for (int c = 0; c < AR__GRAM_CHUNKS; c++)
                s += part[(size_t)c * kk + (size_t)i * (size_t)k + (size_t)j];
            g[(size_t)i * (size_t)k + (size_t)j] = g[(size_t)j * (size_t)k + (size_t)i] = scale * s;
        }
}

/* -- the exact solver, LANES rows at a time ------------------------------------------------------
 *
 * Every scalar of the per-row algorithm becomes a vector of LANES floats, one lane per row, so
 * the Gram updates, the Cholesky factorisation and the triangular solves of LANES independent
 * k x k systems run at full SIMD width (the only shuffles are the gather's transposes) with
 * no per-row call overhead (LAPACK's spotrf on one 64 x 64 matrix reaches a fraction of the
 * machine's sgemm rate). Matrices are lane-interleaved and packed by rows: entry (i, j),
 * j <= i, of lane l is element l of a[TRI(i) + j]. Rows are batched in order of decreasing
 * length, so the lanes of a batch have similar numbers of observations; shorter rows are
 * padded with zero observations, which add exact zeros. A lane's arithmetic never depends on
 * the other lanes, so a row's solution is the same whichever batch and thread it falls in. */

#define LANES 8 /* lanes_gather's transpose is 8 x 8 */
typedef float lv __attribute__((vector_size(LANES * sizeof(float)), may_alias));

/* GCC: the lane kernels are compiled for AVX2 with FMA (x86-64-v3) and the baseline, with
 * multiply-adds contracted (the machine picks the clone, so results still ignore the thread
 * count); sqrtf is free to vectorise everywhere (the library builds with -fno-math-errno). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define LANE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#define LANES_POP_OPTIONS 1
#else
#define LANE_CLONES AR__SIMD_CLONES
#endif
#define TRI(i) ((size_t)(i) * ((size_t)(i) + 1) / 2)
/* Observations gathered at a time per lane. */
#define CHUNK 32

/* out[q * 3 + r] = sum_{p < n} x[q][p * stride] * y[r][p * stride], q < 4, r < 3: the register
 * block of both the Gram update and the Cholesky factorisation (12 accumulators, 7 loads per
 * 12 multiply-adds). */
static inline void kernel43(const lv *const x[4], const lv *const y[3], size_t stride, int32_t n,
                            lv out[12]) {
    lv c00 = {0}, c01 = {0}, c02 = {0}, c10 = {0}, c11 = {0}, c12 = {0};
    lv c20 = {0}, c21 = {0}, c22 = {0}, c30 = {0}, c31 = {0}, c32 = {0};
    const lv *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *y0 = y[0], *y1 = y[1], *y2 = y[2];
    for (int32_t p = 0; p < n; p++) {
        size_t o = (size_t)p * stride;
        lv b0 = y0[o], b1 = y1[o], b2 = y2[o], a;
        a = x0[o], c00 += a * b0, c01 += a * b1, c02 += a * b2;
        a = x1[o], c10 += a * b0, c11 += a * b1, c12 += a * b2;
        a = x2[o], c20 += a * b0, c21 += a * b1, c22 += a * b2;
        a = x3[o], c30 += a * b0, c31 += a * b1, c32 += a * b2;
    }
    out[0] = c00, out[1] = c01, out[2] = c02, out[3] = c10, out[4] = c11, out[5] = c12;
    out[6] = c20, out[7] = c21, out[8] = c22, out[9] = c30, out[10] = c31, out[11] = c32;
}

static inline int32_t clamp_row(int32_t i, int32_t k) {
    return i < k ? i : k - 1;
}

/* a += G^T G over the chunk's nt observations: g[t * k + f] is factor f of observation t
 * (scaled by sqrt(c)), one lane per row. With gm, the first chunk's call: a = gm + lam I +
 * G^T G instead (gm: k x k scalars, the same for every lane; lam: each lane's regulariser).
 * Rows and columns past k are clamped to k - 1 in the kernel and not stored. */
LANE_CLONES static void lanes_gram(int32_t k, int32_t nt, const lv *g, lv *a, const float *gm,
                                   const lv *lam) {
    for (int32_t i0 = 0; i0 < k; i0 += 4)
        for (int32_t j0 = 0; j0 < k && j0 <= i0 + 3; j0 += 3) {
            const lv *x[4], *y[3];
            lv acc[12];
            for (int q = 0; q < 4; q++)
                x[q] = g + clamp_row(i0 + q, k);
            for (int r = 0; r < 3; r++)
                y[r] = g + clamp_row(j0 + r, k);
            kernel43(x, y, (size_t)k, nt, acc);
            for (int q = 0; q < 4; q++)
                for (int r = 0; r < 3; r++) {
                    int32_t i = i0 + q, j = j0 + r;
                    if (i >= k || j > i)
                        continue;
                    lv *e = a + TRI(i) + j;
                    if (!gm)
                        *e += acc[q * 3 + r];
                    else
                        *e = (gm[(size_t)i * (size_t)k + (size_t)j] + (i == j ? *lam : (lv){0})) +
                             acc[q * 3 + r];
                }
        }
}

/* Cholesky factorisation in place, row blocks of 4 by column blocks of 3 (left-looking): a
 * becomes L with A = L L^T, its diagonal holding 1 / L_ii. Lanes whose pivot is not positive
 * get bad[l] = 1 (and a unit pivot, so they stay finite; their result is discarded). */
LANE_CLONES static void lanes_chol(int32_t k, lv *a, int *bad) {
    for (int32_t i0 = 0; i0 < k; i0 += 4)
        for (int32_t j0 = 0; j0 < k && j0 <= i0 + 3; j0 += 3) {
            const lv *x[4], *y[3];
            lv acc[12];
            for (int q = 0; q < 4; q++)
                x[q] = a + TRI(clamp_row(i0 + q, k));
            for (int r = 0; r < 3; r++)
                y[r] = a + TRI(clamp_row(j0 + r, k));
            kernel43(x, y, 1, j0, acc);
            if (i0 + 3 < k && j0 + 3 <= i0) {
                /* the common case, all three columns left of the row block: their rows are
                 * complete, and the four rows' chains run side by side in registers */
                lv m10 = y[1][j0], m20 = y[2][j0], m21 = y[2][j0 + 1];
                lv d0 = y[0][j0], d1 = y[1][j0 + 1], d2 = y[2][j0 + 2];
                for (int q = 0; q < 4; q++) {
                    lv *li = a + TRI(i0 + q);
                    lv e0 = (li[j0] - acc[q * 3]) * d0;
                    lv e1 = (li[j0 + 1] - acc[q * 3 + 1] - e0 * m10) * d1;
                    lv e2 = (li[j0 + 2] - acc[q * 3 + 2] - e0 * m20 - e1 * m21) * d2;
                    li[j0] = e0, li[j0 + 1] = e1, li[j0 + 2] = e2;
                }
                continue;
            }
            for (int r = 0; r < 3; r++) {
                int32_t j = j0 + r;
                if (j >= k)
                    break;
                const lv *lj = a + TRI(j);
                for (int q = 0; q < 4; q++) {
                    int32_t i = i0 + q;
                    if (i >= k || j > i)
                        continue;
                    lv *li = a + TRI(i);
                    lv v = li[j] - acc[q * 3 + r];
                    for (int32_t p = j0; p < j; p++)
                        v -= li[p] * lj[p];
                    if (i > j) {
                        li[j] = v * lj[j];
                        continue;
                    }
                    lv d;
                    for (int l = 0; l < LANES; l++) {
                        if (!(v[l] > 0))
                            bad[l] = 1, v[l] = 1;
                        d[l] = 1.0f / sqrtf(v[l]);
                    }
                    li[i] = d;
                }
            }
        }
}

/* Solves L L^T x = b in place (b becomes x), L from lanes_chol. */
LANE_CLONES static void lanes_solve(int32_t k, const lv *a, lv *b) {
    for (int32_t i = 0; i < k; i++) {
        const lv *li = a + TRI(i);
        lv s0 = b[i], s1 = {0}, s2 = {0}, s3 = {0};
        int32_t p = 0;
        for (; p + 4 <= i; p += 4) {
            s0 -= li[p] * b[p], s1 -= li[p + 1] * b[p + 1];
            s2 -= li[p + 2] * b[p + 2], s3 -= li[p + 3] * b[p + 3];
        }
        for (; p < i; p++)
            s0 -= li[p] * b[p];
        b[i] = (s0 + s1 + (s2 + s3)) * li[i];
    }
    for (int32_t i = k - 1; i >= 0; i--) {
        const lv *li = a + TRI(i);
        lv xi = b[i] * li[i];
        b[i] = xi;
        for (int32_t p = 0; p < i; p++)
            b[p] -= li[p] * xi;
    }
}

typedef float lvu __attribute__((vector_size(LANES * sizeof(float)), aligned(4), may_alias));

/* out[m] = (v[0][m], ..., v[7][m]): an 8 x 8 transpose in registers (unpack, then 64-bit and
 * 128-bit shuffles, as with AVX intrinsics). */
static inline void transpose8(const lv v[8], lv *out) {
    lv t[8], u[8];
    for (int m = 0; m < 8; m += 2) {
        t[m] = __builtin_shufflevector(v[m], v[m + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[m + 1] = __builtin_shufflevector(v[m], v[m + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int m = 0; m < 8; m += 4) {
        u[m] = __builtin_shufflevector(t[m], t[m + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[m + 1] = __builtin_shufflevector(t[m], t[m + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[m + 2] = __builtin_shufflevector(t[m + 1], t[m + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[m + 3] = __builtin_shufflevector(t[m + 1], t[m + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int m = 0; m < 4; m++) {
        out[m] = __builtin_shufflevector(u[m], u[m + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        out[m + 4] = __builtin_shufflevector(u[m], u[m + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* The chunk of nt observations from t0 on: g[t * k + f] (lane l) = sqrt(c) y_j[f] for lane l's
 * t-th observation, zero past the row's end or in an empty lane; s[t] (lane l) = sqrt(c), or 0.
 * Rows are read 8 factors at a time and transposed into the lanes. zero: k zeros. */
LANE_CLONES static void lanes_gather(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                     const int32_t *rows, int64_t t0, int32_t nt, const float *zero,
                                     lv *g, lv *s) {
    int32_t k = c->k, k8 = k & ~7;
    const float *src[CHUNK][LANES];
    /* first the chunk's rows of y, prefetched: they are scattered over y, and the misses
     * overlap when they are all asked for at once */
    for (int32_t t = 0; t < nt; t++)
        for (int l = 0; l < LANES; l++) {
            int64_t p = rows[l] < 0 ? -1 : r->indptr[rows[l]] + t0 + t;
            if (p < 0 || p >= r->indptr[rows[l] + 1]) {
                src[t][l] = zero, s[t][l] = 0;
                continue;
            }
            src[t][l] = y + (size_t)r->indices[p] * (size_t)k;
            s[t][l] = sqrtf(conf(c, r->values, p));
            for (int32_t f = 0; f < k; f += 16)
                __builtin_prefetch(src[t][l] + f);
        }
    for (int32_t t = 0; t < nt; t++) {
        lv *gt = g + (size_t)t * (size_t)k, sc = s[t];
        const float *const *q = src[t];
        for (int32_t f = 0; f < k8; f += 8) {
#define ROW(l) (*(const lvu *)(q[l] + f) * sc[l])
            lv v[8] = {ROW(0), ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6), ROW(7)};
#undef ROW
            transpose8(v, gt + f);
        }
        for (int32_t f = k8; f < k; f++)
            for (int l = 0; l < LANES; l++)
                gt[f][l] = sc[l] * src[t][l][f];
    }
}

/* Solves the rows rows[0..LANES) (-1: an empty lane) exactly into x. Scratch: a TRI(k) lanes,
 * g CHUNK * k lanes, s CHUNK lanes, b k lanes; zero: k zeros. */
LANE_CLONES static void solve_lanes_exact(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                          const int32_t *rows, const float *gm, const float *zero,
                                          float *x, lv *a, lv *g, lv *s, lv *b) {
    int32_t k = c->k;
    int64_t nmax = 0;
    lv lam = {0};
    for (int l = 0; l < LANES; l++)
        if (rows[l] >= 0) {
            int64_t n = r->indptr[rows[l] + 1] - r->indptr[rows[l]];
            nmax = n > nmax ? n : nmax;
            lam[l] = row_reg(c, n, r->n_cols);
        }
    for (int32_t f = 0; f < k; f++)
        b[f] = (lv){0};
    int64_t t0 = 0;
    do {
        int32_t nt = (int32_t)(nmax - t0 < CHUNK ? nmax - t0 : CHUNK);
        lanes_gather(c, r, y, rows, t0, nt, zero, g, s);
        for (int32_t t = 0; t < nt; t++) /* b = sum c y = sum sqrt(c) g */
            for (int32_t f = 0; f < k; f++)
                b[f] += s[t] * g[(size_t)t * (size_t)k + (size_t)f];
        lanes_gram(k, nt, g, a, t0 == 0 ? gm : NULL, &lam);
        t0 += nt;
    } while (t0 < nmax);
    int bad[LANES] = {0};
    lanes_chol(k, a, bad);
    lanes_solve(k, a, b);
    for (int l = 0; l < LANES; l++)
        if (rows[l] >= 0 && !bad[l])
            for (int32_t f = 0; f < k; f++)
                x[(size_t)rows[l] * (size_t)k + (size_t)f] = b[f][l];
}

#ifdef LANES_POP_OPTIONS
#pragma GCC pop_options
#endif

/* ap += lambda p + sum_j c_j (y_j . p) y_j over the row's n gathered observations (yg: n x k,
 * cv: n confidences). */
AR__SIMD_CLONES static void sparse_apply(int32_t k, const float *yg, const float *cv, int64_t n,
                                         float lam, const float *p, float *ap) {
    axpy(lam, p, ap, k);
    for (int64_t q = 0; q < n; q++) {
        const float *yj = yg + (size_t)q * (size_t)k;
        axpy(cv[q] * dot(yj, p, k), yj, ap, k);
    }
}

/* cfg->cg_steps conjugate-gradient steps for the block of rows [r0, r1) of x, warm-started.
 * The block's observations are first gathered into yg (nnz x k) and cv (nnz), so the steps
 * read contiguous memory instead of missing the cache on y's rows every step, and the
 * Gramian products of the whole block are one sgemm per step. gm: k x k; rr, pp, ap:
 * BLOCK x k scratch each; rs: BLOCK. */
AR__SIMD_CLONES static void solve_block_cg(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                           int32_t r0, int32_t r1, const float *gm, float *x,
                                           float *rr, float *pp, float *ap, float *rs, float *yg,
                                           float *cv) {
    int32_t k = c->k, bs = r1 - r0;
    int64_t base = r->indptr[r0];
    for (int64_t q = base; q < r->indptr[r1]; q++) {
        memcpy(yg + (size_t)(q - base) * (size_t)k, y + (size_t)r->indices[q] * (size_t)k,
               (size_t)k * sizeof *yg);
        cv[q - base] = conf(c, r->values, q);
    }
    float *xb = x + (size_t)r0 * (size_t)k;
    /* residual r = b - A x = sum_j c_j (1 - y_j.x) y_j - gm x - lambda x */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bs, k, k, 1.0f, xb, k, gm, k, 0.0f, ap,
                k);
    for (int32_t i = 0; i < bs; i++) {
        int32_t row = r0 + i;
        int64_t q0 = r->indptr[row] - base, n = r->indptr[row + 1] - r->indptr[row];
        const float *xi = xb + (size_t)i * (size_t)k, *ygi = yg + (size_t)q0 * (size_t)k;
        float *ri = rr + (size_t)i * (size_t)k, *api = ap + (size_t)i * (size_t)k;
        float lam = row_reg(c, n, r->n_cols);
        for (int32_t f = 0; f < k; f++)
            ri[f] = -api[f] - lam * xi[f];
        for (int64_t q = 0; q < n; q++) {
            const float *yj = ygi + (size_t)q * (size_t)k;
            axpy(cv[q0 + q] * (1.0f - dot(yj, xi, k)), yj, ri, k);
        }
        memcpy(pp + (size_t)i * (size_t)k, ri, (size_t)k * sizeof *ri);
        rs[i] = dot(ri, ri, k);
    }
    for (int s = 0; s < c->cg_steps; s++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bs, k, k, 1.0f, pp, k, gm, k, 0.0f,
                    ap, k);
        for (int32_t i = 0; i < bs; i++) {
            if (!(rs[i] > 1e-20f))
                continue; /* converged */
            int32_t row = r0 + i;
            int64_t q0 = r->indptr[row] - base, n = r->indptr[row + 1] - r->indptr[row];
            float *xi = xb + (size_t)i * (size_t)k, *ri = rr + (size_t)i * (size_t)k;
            float *pi = pp + (size_t)i * (size_t)k, *api = ap + (size_t)i * (size_t)k;
            sparse_apply(k, yg + (size_t)q0 * (size_t)k, cv + q0, n, row_reg(c, n, r->n_cols), pi,
                         api);
            float pap = dot(pi, api, k);
            if (!(pap > 0)) {
                rs[i] = 0;
                continue;
            }
            float a = rs[i] / pap;
            axpy(a, pi, xi, k);
            axpy(-a, api, ri, k);
            float rsn = dot(ri, ri, k), beta = rsn / rs[i];
            for (int32_t f = 0; f < k; f++)
                pi[f] = ri[f] + beta * pi[f];
            rs[i] = rsn;
        }
    }
}

/* Observations gathered per CG block (a single longer row makes a block of its own). */
#define GATHER_ROWS 1024

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The exact solver's batches: rows in order of decreasing length (ties by row), LANES at a
 * time, the last batch padded with -1. Returns NULL when out of memory. */
static int32_t *exact_batches(const ar_csr *r, int32_t *n_batches) {
    int32_t n_rows = r->n_rows, nb = (n_rows + LANES - 1) / LANES;
    uint64_t *key = ar__alloc_array((size_t)n_rows + 1, sizeof *key);
    int32_t *rows = ar__alloc_array((size_t)nb * LANES + 1, sizeof *rows);
    if (!key || !rows) {
        ar__free(key), ar__free(rows);
        return NULL;
    }
    for (int32_t i = 0; i < n_rows; i++) {
        uint64_t n = (uint64_t)(r->indptr[i + 1] - r->indptr[i]);
        key[i] = (UINT64_C(0xffffffff) - (n < 0xffffffff ? n : 0xffffffff)) << 32 | (uint32_t)i;
    }
    qsort(key, (size_t)n_rows, sizeof *key, cmp_u64);
    for (int32_t i = 0; i < nb * LANES; i++)
        rows[i] = i < n_rows ? (int32_t)(key[i] & 0xffffffff) : -1;
    ar__free(key);
    *n_batches = nb;
    return rows;
}

/* CG blocks: consecutive rows, closed at BLOCK rows or when adding a row would pass
 * GATHER_ROWS observations (a function of r only, never of the thread count). */
static int32_t *cg_blocks(const ar_csr *r, int32_t *n_blocks) {
    int32_t n_rows = r->n_rows, nb = 0;
    int32_t *bstart = ar__alloc_array((size_t)n_rows + 1, sizeof *bstart);
    if (!bstart)
        return NULL;
    for (int32_t i = 0; i < n_rows;) {
        int32_t j = i + 1;
        int64_t sum = r->indptr[j] - r->indptr[i];
        while (j < n_rows && j - i < BLOCK &&
               sum + (r->indptr[j + 1] - r->indptr[j]) <= GATHER_ROWS)
            sum += r->indptr[j + 1] - r->indptr[j], j++;
        bstart[nb++] = i;
        i = j;
    }
    bstart[nb] = n_rows;
    *n_blocks = nb;
    return bstart;
}

ar_status ar__ials_solve(const ar__ials_cfg *c, const ar_csr *r, const float *y, float *x,
                         int n_threads) {
    int32_t k = c->k, n_rows = r->n_rows;
    int nt = ar__threads(n_threads), exact = c->solver == AR__IALS_EXACT;
    size_t kk = (size_t)k * (size_t)k;
    int64_t max_nnz = 0;
    for (int32_t i = 0; i < n_rows; i++)
        if (r->indptr[i + 1] - r->indptr[i] > max_nnz)
            max_nnz = r->indptr[i + 1] - r->indptr[i];
    int32_t n_units = 0;
    int32_t *units = exact ? exact_batches(r, &n_units) : cg_blocks(r, &n_units);
    if (!units)
        return AR_ENOMEM;
    size_t gather = (size_t)(max_nnz > GATHER_ROWS ? max_nnz : GATHER_ROWS);
    /* Per-thread slot: exact: a (TRI(k) lanes), g (CHUNK * k lanes), s (CHUNK lanes), b (k lanes);
     * cg: rr, pp, ap (BLOCK*k), rs, yg (gather*k), cv (gather). */
    size_t bk = round_up16((size_t)BLOCK * k);
    size_t slot = exact ? (TRI(k) + (size_t)CHUNK * k + CHUNK + (size_t)k) * LANES + (size_t)k
                        : 3 * bk + round_up16(BLOCK) + round_up16(gather * k) + round_up16(gather);
    slot = round_up16(slot);
    size_t shared = round_up16(kk) + (size_t)AR__GRAM_CHUNKS * kk;
    float *mem = ar__alloc_array(shared + (size_t)nt * slot + 16, sizeof *mem);
    if (!mem) {
        ar__free(units);
        return AR_ENOMEM;
    }
    float *base = align64(mem);
    float *gm = base, *part = base + round_up16(kk), *slots = base + shared;
    openblas_set_num_threads(1);
    ar__gram(y, r->n_cols, k, c->alpha0, gm, part, nt);
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        float *my = slots + (size_t)omp_get_thread_num() * slot;
#else
        float *my = slots;
#endif
        if (exact) /* the last k floats of the slot: zeros for the gather's empty lanes */
            memset(my + slot - k, 0, (size_t)k * sizeof *my);
#pragma omp for schedule(dynamic, 1)
        for (int32_t u = 0; u < n_units; u++) {
            if (exact) {
                lv *a = (lv *)my, *g = a + TRI(k), *s = g + (size_t)CHUNK * k, *b = s + CHUNK;
                solve_lanes_exact(c, r, y, units + (size_t)u * LANES, gm, my + slot - k, x, a, g, s,
                                  b);
            } else {
                float *rs = my + 3 * bk, *yg = rs + round_up16(BLOCK);
                solve_block_cg(c, r, y, units[u], units[u + 1], gm, x, my, my + bk, my + 2 * bk, rs,
                               yg, yg + round_up16(gather * k));
            }
        }
    }
    ar__free(mem);
    ar__free(units);
    return AR_OK;
}

void ar__ials_solve_ref(const ar__ials_cfg *c, const ar_csr *r, const float *y, float *x) {
    int32_t k = c->k, n_cols = r->n_cols;
    double *a = ar__alloc_array((size_t)k * (size_t)(k + 1), sizeof *a);
    if (!a)
        return;
    for (int32_t row = 0; row < r->n_rows; row++) {
        /* augmented system [A | b], k x (k+1) */
        memset(a, 0, (size_t)k * (size_t)(k + 1) * sizeof *a);
        for (int32_t j = 0; j < n_cols; j++)
            for (int32_t f = 0; f < k; f++)
                for (int32_t g = 0; g < k; g++)
                    a[f * (k + 1) + g] +=
                        (double)c->alpha0 * y[(size_t)j * k + f] * y[(size_t)j * k + g];
        for (int64_t p = r->indptr[row]; p < r->indptr[row + 1]; p++) {
            const float *yj = y + (size_t)r->indices[p] * (size_t)k;
            double cj = 1.0 + (double)c->alpha * (r->values ? r->values[p] : 1.0);
            for (int32_t f = 0; f < k; f++) {
                for (int32_t g = 0; g < k; g++)
                    a[f * (k + 1) + g] += cj * yj[f] * yj[g];
                a[f * (k + 1) + k] += cj * yj[f];
            }
        }
        double lam =
            c->reg * pow((double)(r->indptr[row + 1] - r->indptr[row]) + (double)c->alpha0 * n_cols,
                         c->reg_exp);
        for (int32_t f = 0; f < k; f++)
            a[f * (k + 1) + f] += lam;
        /* Gaussian elimination with partial pivoting */
        for (int32_t col = 0; col < k; col++) {
            int32_t piv = col;
            for (int32_t i = col + 1; i < k; i++)
                if (fabs(a[i * (k + 1) + col]) > fabs(a[piv * (k + 1) + col]))
                    piv = i;
            for (int32_t g = 0; g <= k; g++) {
                double t = a[col * (k + 1) + g];
                a[col * (k + 1) + g] = a[piv * (k + 1) + g];
                a[piv * (k + 1) + g] = t;
            }
            for (int32_t i = col + 1; i < k; i++) {
                double f = a[i * (k + 1) + col] / a[col * (k + 1) + col];
                for (int32_t g = col; g <= k; g++)
                    a[i * (k + 1) + g] -= f * a[col * (k + 1) + g];
            }
        }
        for (int32_t i = k - 1; i >= 0; i--) {
            double s = a[i * (k + 1) + k];
            for (int32_t g = i + 1; g < k; g++)
                s -= a[i * (k + 1) + g] * x[(size_t)row * k + g];
            x[(size_t)row * k + i] = (float)(s / a[i * (k + 1) + i]);
        }
    }
    ar__free(a);
}

double ar__ials_solve_flops(const ar__ials_cfg *c, const ar_csr *r) {
    double k = c->k, nnz = (double)r->nnz, rows = r->n_rows;
    double f = (double)r->n_cols * k * (k + 1); /* Gramian */
    if (c->solver == AR__IALS_EXACT)
        f += nnz * (k * (k + 1) + 2 * k) + rows * (k * k * k / 3 + 2 * k * k);
    else /* residual + steps, each: Gramian sgemm (2k^2), 4k per observation, ~10k vector ops */
        f += (c->cg_steps + 1) * (rows * (2 * k * k + 10 * k) + nnz * 4 * k);
    return f;
}

/* -- the model ----------------------------------------------------------------------------------
 */

static ar__ials_cfg cfg_of(const ar_model *m) {
    ar__ials_cfg c;
    c.k = (int32_t)ar__p(m, P_FACTORS);
    c.reg = (float)ar__p(m, P_REG);
    c.alpha0 = (float)ar__p(m, P_ALPHA0);
    c.alpha = (float)ar__p(m, P_ALPHA);
    c.reg_exp = (float)ar__p(m, P_REG_EXP);
    c.solver = (int)ar__p(m, P_SOLVER);
    c.cg_steps = (int)ar__p(m, P_CG_STEPS);
    return c;
}

/* Rows ~ N(0, std^2), row r from ar_rng_stream(seed, stream0 + r) (Box-Muller). */
static void init_rows(float *a, int32_t n, int32_t k, double std, uint64_t seed, uint64_t stream0,
                      int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int32_t r = 0; r < n; r++) {
        ar_rng rng;
        ar_rng_stream(&rng, seed, stream0 + (uint64_t)r);
        float *row = a + (size_t)r * (size_t)k;
        for (int32_t f = 0; f < k; f += 2) {
            double u1 = 1.0 - ar_rng_uniform(&rng), u2 = ar_rng_uniform(&rng);
            double rad = std * sqrt(-2.0 * log(u1));
            row[f] = (float)(rad * cos(6.283185307179586 * u2));
            if (f + 1 < k)
                row[f + 1] = (float)(rad * sin(6.283185307179586 * u2));
        }
    }
}

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)ds;
    ar__ials_cfg c = cfg_of(m);
    int32_t k = c.k, epochs = (int32_t)ar__p(m, P_EPOCHS);
    int nt = ar__threads(o->n_threads);
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return ar__fail(err, AR_ENOMEM, "ials: out of memory");
    m->state = s;
    s->w = ar__alloc_array((size_t)m->n_users * (size_t)k, sizeof *s->w);
    s->v = ar__alloc_array((size_t)m->n_items * (size_t)k, sizeof *s->v);
    s->g = ar__alloc_array((size_t)k * (size_t)k, sizeof *s->g);
    float *part = ar__alloc_array((size_t)AR__GRAM_CHUNKS * (size_t)k * (size_t)k, sizeof *part);
    if (!s->w || !s->v || !s->g || !part) {
        ar__free(part);
        return ar__fail(err, AR_ENOMEM, "ials: out of memory for the factors");
    }
    double std = ar__p(m, P_INIT_STD) / sqrt((double)k);
    init_rows(s->w, m->n_users, k, std, o->seed, 0, nt);
    init_rows(s->v, m->n_items, k, std, o->seed, (uint64_t)m->n_users, nt);
    ar_status st = AR_OK;
    for (int32_t e = 0; e < epochs && !st; e++) {
        if ((st = ar__ials_solve(&c, xt, s->w, s->v, nt)) ||
            (st = ar__ials_solve(&c, x, s->v, s->w, nt))) {
            st = ar__fail(err, st, "ials: out of memory for the solver's scratch");
            break;
        }
        if (ar__canceled(o) || (o->progress && o->progress(o->progress_data, e + 1, epochs)))
            st = ar__fail(err, AR_ECANCELED, "ials: canceled after %d epochs", e + 1);
    }
    if (!st) {
        openblas_set_num_threads(1);
        ar__gram(s->v, m->n_items, k, 1.0f, s->g, part, nt);
    }
    ar__free(part);
    return st;
}

static size_t ws_floats(const ar_model *m) {
    size_t k = (size_t)ar__p(m, P_FACTORS);
    return k * k + 3 * k;
}

/* Cholesky factorisation in place of a (k x k, row-major, lower triangle used); naive, for the
 * one-off fold-in systems. Returns 0 when a is not positive definite. */
static int chol(float *a, int32_t k) {
    for (int32_t j = 0; j < k; j++) {
        double d = a[j * k + j];
        for (int32_t p = 0; p < j; p++)
            d -= (double)a[j * k + p] * a[j * k + p];
        if (!(d > 0))
            return 0;
        float l = (float)sqrt(d);
        a[j * k + j] = l;
        for (int32_t i = j + 1; i < k; i++) {
            double t = a[i * k + j];
            for (int32_t p = 0; p < j; p++)
                t -= (double)a[i * k + p] * a[j * k + p];
            a[i * k + j] = (float)(t / l);
        }
    }
    return 1;
}

/* Solves L L^T z = b in place (b becomes z). */
static void chol_solve(const float *l, int32_t k, float *b) {
    for (int32_t i = 0; i < k; i++) {
        double t = b[i];
        for (int32_t p = 0; p < i; p++)
            t -= (double)l[i * k + p] * b[p];
        b[i] = (float)(t / l[i * k + i]);
    }
    for (int32_t i = k - 1; i >= 0; i--) {
        double t = b[i];
        for (int32_t p = i + 1; p < k; p++)
            t -= (double)l[p * k + i] * b[p];
        b[i] = (float)(t / l[i * k + i]);
    }
}

/* The fold-in system of a history: a (k x k) = factor of alpha0 G + sum c v v^T + lambda_u I,
 * w = its solution for b = sum c v. Returns 0 if the system is singular (w = 0). */
static int fold_in(const ar_model *m, const int32_t *items, const float *values, int32_t n,
                   float *a, float *w) {
    const state *s = m->state;
    ar__ials_cfg c = cfg_of(m);
    int32_t k = c.k;
    float lam = row_reg(&c, n, m->n_items);
    for (int32_t i = 0; i < k * k; i++)
        a[i] = c.alpha0 * s->g[i];
    for (int32_t f = 0; f < k; f++)
        a[f * k + f] += lam;
    memset(w, 0, (size_t)k * sizeof *w);
    for (int32_t j = 0; j < n; j++) {
        const float *vj = s->v + (size_t)items[j] * (size_t)k;
        float cj = 1.0f + c.alpha * (values ? values[j] : 1.0f);
        for (int32_t f = 0; f < k; f++)
            for (int32_t g = 0; g <= f; g++)
                a[f * k + g] += cj * vj[f] * vj[g];
        axpy(cj, vj, w, k);
    }
    if (!chol(a, k)) {
        memset(w, 0, (size_t)k * sizeof *w);
        return 0;
    }
    chol_solve(a, k, w);
    return 1;
}

/* scores[i] = v_i . w for every item. */
AR__SIMD_CLONES static void score_vec(const ar_model *m, const float *w, float *scores) {
    const state *s = m->state;
    int32_t k = (int32_t)ar__p(m, P_FACTORS);
    for (int32_t i = 0; i < m->n_items; i++)
        scores[i] = dot(s->v + (size_t)i * (size_t)k, w, k);
}

static void score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws) {
    const state *s = m->state;
    int32_t k = (int32_t)ar__p(m, P_FACTORS);
    if (user >= 0) {
        score_vec(m, s->w + (size_t)user * (size_t)k, scores);
        return;
    }
    float *w = ws + (size_t)k * (size_t)k;
    fold_in(m, items, values, n, ws, w);
    score_vec(m, w, scores);
}

/* Rows of users in blocks of SCORE_BLOCK: scores_block = W_block V^T, one single-threaded sgemm
 * per block, blocks spread over OpenMP threads. The block is taller than the CG's: every sgemm
 * call packs all of V again, so fewer, taller calls pack it less often. */
static ar_status score_batch(const ar_model *m, const ar_csr *hist, const int32_t *users, int32_t n,
                             float *scores) {
    (void)hist;
    const state *s = m->state;
    int32_t k = (int32_t)ar__p(m, P_FACTORS);
    int nt = ar__threads(0);
    size_t slot = round_up16((size_t)SCORE_BLOCK * (size_t)k);
    float *mem = ar__alloc_array((size_t)nt * slot + 16, sizeof *mem);
    if (!mem)
        return AR_ENOMEM;
    float *base = align64(mem);
    int32_t n_blocks = (n + SCORE_BLOCK - 1) / SCORE_BLOCK;
    openblas_set_num_threads(1);
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        float *ub = base + (size_t)omp_get_thread_num() * slot;
#else
        float *ub = base;
#endif
#pragma omp for schedule(dynamic, 1)
        for (int32_t bl = 0; bl < n_blocks; bl++) {
            int32_t r0 = bl * SCORE_BLOCK, bs = r0 + SCORE_BLOCK < n ? SCORE_BLOCK : n - r0;
            for (int32_t i = 0; i < bs; i++)
                memcpy(ub + (size_t)i * (size_t)k, s->w + (size_t)users[r0 + i] * (size_t)k,
                       (size_t)k * sizeof *ub);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bs, m->n_items, k, 1.0f, ub, k,
                        s->v, k, 0.0f, scores + (size_t)r0 * (size_t)m->n_items, m->n_items);
        }
    }
    ar__free(mem);
    return AR_OK;
}

/* Contribution of history item j to item's fold-in score: c_j v_item^T A^{-1} v_j, so the
 * contributions sum to the fold-in score. */
static void explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws) {
    (void)user;
    const state *s = m->state;
    ar__ials_cfg c = cfg_of(m);
    int32_t k = c.k;
    float *a = ws, *w = ws + (size_t)k * (size_t)k, *z = w + k;
    if (!fold_in(m, items, values, n, a, w)) {
        memset(weights, 0, (size_t)n * sizeof *weights);
        return;
    }
    memcpy(z, s->v + (size_t)item * (size_t)k, (size_t)k * sizeof *z);
    chol_solve(a, k, z);
    for (int32_t j = 0; j < n; j++)
        weights[j] = (1.0f + c.alpha * (values ? values[j] : 1.0f)) *
                     dot(z, s->v + (size_t)items[j] * (size_t)k, k);
}

enum { TAG_W = AR__MODEL_TAG_STATE, TAG_V, TAG_G };

static void save(const ar_model *m, ar__secw *w) {
    const state *s = m->state;
    uint64_t k = (uint64_t)ar__p(m, P_FACTORS);
    ar__secw_add(w, TAG_W, 4, (uint64_t)m->n_users * k, 0, s->w);
    ar__secw_add(w, TAG_V, 4, (uint64_t)m->n_items * k, 0, s->v);
    ar__secw_add(w, TAG_G, 4, k * k, 0, s->g);
}

static ar_status load_array(const ar__secfile *f, uint32_t tag, uint64_t count, float **out) {
    const void *p;
    ar_status st = ar__model_array(f, tag, 4, count, &p);
    if (st)
        return st;
    const float *a = p;
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(a[i]))
            return ar__secfile_corrupt(f, "non-finite factor");
    *out = (float *)p;
    return AR_OK;
}

static ar_status load(ar_model *m, const ar__secfile *f) {
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return AR_ENOMEM;
    m->state = s;
    uint64_t k = (uint64_t)ar__p(m, P_FACTORS);
    ar_status st;
    if ((st = load_array(f, TAG_W, (uint64_t)m->n_users * k, &s->w)) ||
        (st = load_array(f, TAG_V, (uint64_t)m->n_items * k, &s->v)) ||
        (st = load_array(f, TAG_G, k * k, &s->g)))
        return st;
    for (uint64_t i = 0; i < k; i++)
        if (!(s->g[i * k + i] >= 0))
            return ar__secfile_corrupt(f, "Gramian with a negative diagonal");
    return AR_OK;
}

static void free_state(ar_model *m) {
    state *s = m->state;
    if (!m->map) {
        ar__free(s->w);
        ar__free(s->v);
        ar__free(s->g);
    }
    ar__free(s);
}

/* Per epoch: the Gramian of the fixed side ((users + items) k^2 over both halves), then per
 * row either the exact system (k^2 per interaction, k^3 / 3 for Cholesky) or cg_steps
 * products with it (k per interaction, k^2 for the Gramian). */
static double fit_work(const ar_model *m, double users, double items, double nnz) {
    double k = ar__p(m, P_FACTORS), rows = users + items, solve;
    if ((int)ar__p(m, P_SOLVER) == AR__IALS_EXACT)
        solve = 2 * nnz * k * k + rows * k * k * k / 3;
    else
        solve = ar__p(m, P_CG_STEPS) * (2 * nnz * k + rows * k * k);
    return ar__p(m, P_EPOCHS) * (rows * k * k + solve);
}

const ar__model_impl ar__ials_impl = {
    .name = "ials",
    .seeded = 1,
    .citation = "Hu, Koren & Volinsky, Collaborative Filtering for Implicit Feedback Datasets, "
                "ICDM 2008; Rendle et al., Revisiting the Performance of iALS on Item "
                "Recommendation Benchmarks, RecSys 2022",
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
