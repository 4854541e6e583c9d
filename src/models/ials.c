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
 * The Gramian trick: alpha0 Y^T Y is computed once per half-epoch (over fixed chunks of Y,
 * summed in a fixed order; a register-blocked lane kernel, 1.8x OpenBLAS's ssyrk here, when k
 * is a multiple of 32), so a row costs O(nnz_r k^2 + k^3) exactly or O(steps (k^2 +
 * nnz_r k)) with conjugate gradient (Takacs, Pilaszy & Tikk, "Applications of the conjugate
 * gradient method for implicit feedback collaborative filtering", RecSys 2011; as in the
 * implicit library: a few steps per row, warm-started from the row's previous value).
 *
 * Both solvers take rows in batches of LANES (8, or 16 where the CPU has AVX-512), one row per
 * SIMD lane, in order of decreasing length (a counting sort), so that a batch's rows have
 * similar lengths: every scalar of the per-row algorithm becomes a vector of LANES floats, and
 * the only shuffles are the transposes that gather each row's observations (its rows of Y)
 * into the lanes. The exact solver then builds the LANES Gram matrices and factorises them
 * (Cholesky) with register-blocked kernels; CG multiplies by Y^T Y with a 16-row register
 * block and by the observations with their dot products side by side (ials_lanes.h holds the
 * kernels, compiled once per width). A lane's arithmetic never depends on the other lanes nor
 * on the longest row of its batch, so the 16-lane copy gives the 8-lane copy's bits (tested,
 * GCC).
 *
 * Threads: OpenMP over batches of rows, per-thread scratch allocated before the region and
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
    /* a fit's w and v start on a 64-byte boundary (the solvers load whole rows as 64-byte
     * vectors: misaligned, every load spans two cache lines, 6% slower): w_mem and v_mem are
     * what was allocated; NULL for a loaded model */
    float *w_mem, *v_mem;
} state;

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

/* -- the solvers, LANES rows at a time ---------------------------------------------------------
 *
 * Every scalar of the per-row algorithm becomes a vector of LANES floats, one lane per row, so
 * LANES independent k x k systems are solved at full SIMD width with no per-row call overhead
 * (LAPACK's spotrf on one 64 x 64 matrix reaches a fraction of the machine's sgemm rate).
 * Exact: the Gram updates, the Cholesky factorisation and the triangular solves; matrices are
 * lane-interleaved and packed by rows: entry (i, j), j <= i, of lane l is element l of
 * a[TRI(i) + j]. CG: Y^T Y times the lanes' vectors, and the observations' dot products and
 * updates, in blocks of 8 observations. Rows are batched in order of decreasing length, so the
 * lanes of a batch have similar numbers of observations; shorter rows are padded with zero
 * observations, which add exact zeros. A lane's arithmetic never depends on the other lanes,
 * so a row's solution is the same whichever batch and thread it falls in. */

/* GCC: the lane kernels are compiled with multiply-adds contracted (the machine picks the
 * width and the clone, never the thread count, so results still ignore the thread count);
 * sqrtf is free to vectorise everywhere (the library builds with -fno-math-errno). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define LANE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#define LANES_POP_OPTIONS 1
#else
#define LANE_CLONES AR__SIMD_CLONES
#endif
/* With AVX-512 (GCC or clang on x86-64 Linux), a second copy runs 16 lanes: twice the work per
 * instruction of the 8-lane AVX2 copy, with the same per-lane arithmetic. */
#if defined(__x86_64__) && defined(__linux__) &&                                                   \
    ((defined(__GNUC__) && !defined(__clang__)) || (defined(__clang__) && __clang_major__ >= 14))
#define HAVE_LANES16 1
#define AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#endif
/* The lane kernels' helpers are inlined into them, so that they run in their callers' clone
 * (a helper compiled on its own would get the baseline target). */
#define ALWAYS_INLINE __attribute__((always_inline))
#define TRI(i) ((size_t)(i) * ((size_t)(i) + 1) / 2)
/* Observations gathered at a time per lane. */
#define CHUNK 32
/* The CG solver keeps a batch's observations gathered for all its steps, up to the longest
 * row's, in at most GATHER_FLOATS floats per thread (16 MiB; a batch with a longer row gathers
 * them again, that many at a time, on each step), or cfg->gather per row. */
#define GATHER_FLOATS ((size_t)1 << 22)
/* The row stride of the gathered observations, in lanes: one more than k, so that a column (one
 * factor of every observation) does not map onto one cache set when k x 64 bytes is a
 * multiple of 4 KiB (k = 64 with 16 lanes); that made the Gram kernel read from L2. */
#define GSTRIDE(k) ((size_t)(k) + 1)

static inline int32_t clamp_row(int32_t i, int32_t k) {
    return i < k ? i : k - 1;
}

typedef float v8 __attribute__((vector_size(8 * sizeof(float)), may_alias));
typedef float v8u __attribute__((vector_size(8 * sizeof(float)), aligned(4), may_alias));

/* out[m] = (v[0][m], ..., v[7][m]): an 8 x 8 transpose in registers (unpack, then 64-bit and
 * 128-bit shuffles, as with AVX intrinsics). */
static inline ALWAYS_INLINE void transpose8(const v8 v[8], v8 *out) {
    v8 t[8], u[8];
#pragma GCC unroll 16
    for (int m = 0; m < 8; m += 2) {
        t[m] = __builtin_shufflevector(v[m], v[m + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[m + 1] = __builtin_shufflevector(v[m], v[m + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
#pragma GCC unroll 16
    for (int m = 0; m < 8; m += 4) {
        u[m] = __builtin_shufflevector(t[m], t[m + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[m + 1] = __builtin_shufflevector(t[m], t[m + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[m + 2] = __builtin_shufflevector(t[m + 1], t[m + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[m + 3] = __builtin_shufflevector(t[m + 1], t[m + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
#pragma GCC unroll 16
    for (int m = 0; m < 4; m++) {
        out[m] = __builtin_shufflevector(u[m], u[m + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        out[m + 4] = __builtin_shufflevector(u[m], u[m + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* The same for 16 x 16 in 512-bit vectors: the 8 x 8 steps within each 128-bit block, then a
 * 4 x 4 transpose of the blocks (out[4q + j] gathers block q of the vectors 4m + j). */
#ifdef HAVE_LANES16
typedef float v16 __attribute__((vector_size(16 * sizeof(float)), may_alias));
typedef float v16u __attribute__((vector_size(16 * sizeof(float)), aligned(4), may_alias));

static inline ALWAYS_INLINE AVX512_TARGET void transpose16(const v16 v[16], v16 *out) {
    v16 t[16], u[16];
#pragma GCC unroll 16
    for (int m = 0; m < 16; m += 2) {
        t[m] = __builtin_shufflevector(v[m], v[m + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12,
                                       28, 13, 29);
        t[m + 1] = __builtin_shufflevector(v[m], v[m + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11,
                                           27, 14, 30, 15, 31);
    }
#pragma GCC unroll 16
    for (int m = 0; m < 16; m += 4) {
        u[m] = __builtin_shufflevector(t[m], t[m + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12,
                                       13, 28, 29);
        u[m + 1] = __builtin_shufflevector(t[m], t[m + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26,
                                           27, 14, 15, 30, 31);
        u[m + 2] = __builtin_shufflevector(t[m + 1], t[m + 3], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24,
                                           25, 12, 13, 28, 29);
        u[m + 3] = __builtin_shufflevector(t[m + 1], t[m + 3], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11,
                                           26, 27, 14, 15, 30, 31);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        /* blocks: w0 = a0 a1 b0 b1, w1 = a2 a3 b2 b3, w2 = c0 c1 d0 d1, w3 = c2 c3 d2 d3 */
        v16 w0 = __builtin_shufflevector(u[j], u[4 + j], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20,
                                         21, 22, 23);
        v16 w1 = __builtin_shufflevector(u[j], u[4 + j], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26,
                                         27, 28, 29, 30, 31);
        v16 w2 = __builtin_shufflevector(u[8 + j], u[12 + j], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18,
                                         19, 20, 21, 22, 23);
        v16 w3 = __builtin_shufflevector(u[8 + j], u[12 + j], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25,
                                         26, 27, 28, 29, 30, 31);
        out[j] = __builtin_shufflevector(w0, w2, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25,
                                         26, 27);
        out[4 + j] = __builtin_shufflevector(w0, w2, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28,
                                             29, 30, 31);
        out[8 + j] = __builtin_shufflevector(w1, w3, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24,
                                             25, 26, 27);
        out[12 + j] = __builtin_shufflevector(w1, w3, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23,
                                              28, 29, 30, 31);
    }
}
#endif

/* Loads a byte from p and drops it: a prefetch that cannot be dropped. Here software
 * prefetches of the next batch's data measured no faster than none, loads of it 2-4% faster
 * (the gather's stalls on the column indices went away); a likely reason is that the rows of x
 * and y and the indices together overrun the TLB's reach, and a prefetch that misses the TLB
 * may be dropped. The loads are independent: the arithmetic after them does not wait. */
static inline void touch(const void *p) {
    __asm__ volatile("" : : "r"(*(const volatile char *)p));
}

/* Touches what the batch next (NULL: none) reads first, its rows of x (which CG reads and both
 * solvers write) and its column indices (up to gcap a row), and the row pointers of the batch
 * after it (after, or NULL): these are scattered, and a miss on them stalls the batch's start.
 * (Its rows of y are left to the gather's transposes, whose 16 loads at a time overlap their
 * misses.) */
static void touch_batch(const ar_csr *r, const float *x, int32_t k, int lanes, int64_t gcap,
                        const int32_t *next, const int32_t *after) {
    for (int l = 0; next && l < lanes; l++)
        if (next[l] >= 0) {
            const int32_t *ind = r->indices + r->indptr[next[l]];
            int64_t n = r->indptr[next[l] + 1] - r->indptr[next[l]];
            for (int64_t p = 0; p < (n < gcap ? n : gcap); p += 16)
                touch(ind + p);
            for (int32_t f = 0; f < k; f += 16)
                touch(x + (size_t)next[l] * (size_t)k + f);
        }
    for (int l = 0; after && l < lanes; l++)
        if (after[l] >= 0)
            touch(r->indptr + after[l]);
}

#define LANES 8
#define LV v8
#define LVU v8u
#define L_(name) name##_8
#define L_FN LANE_CLONES
#define L_INL static inline ALWAYS_INLINE
#include "models/ials_lanes.h"

#ifdef HAVE_LANES16
#define LANES 16
#define LV v16
#define LVU v16u
#define L_(name) name##_16
#define L_FN AVX512_TARGET
#define L_INL static inline ALWAYS_INLINE AVX512_TARGET
#include "models/ials_lanes.h"
#endif

#ifdef LANES_POP_OPTIONS
#pragma GCC pop_options
#endif

/* 16 where the CPU has AVX-512 (and the compiler can target it), else 8. */
static int widest_lanes(void) {
#ifdef HAVE_LANES16
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return 16;
#endif
    return 8;
}

int ar__ials_lanes(const ar__ials_cfg *c) {
    return c->lanes == 8 ? 8 : widest_lanes();
}

void ar__gram(const float *y, int32_t n, int32_t k, float scale, float *g, float *part, int nt) {
    size_t kk = (size_t)k * (size_t)k;
    /* the lane kernel for small k (at k = 960, BSPM's, ssyrk's blocking wins: 1.6x) */
    int lanes = k % 32 == 0 && k <= 64 ? widest_lanes() : 0;
#pragma omp parallel for schedule(static, 1) num_threads(nt)
    for (int c = 0; c < AR__GRAM_CHUNKS; c++) {
        int32_t b = (int32_t)((int64_t)n * c / AR__GRAM_CHUNKS);
        int32_t e = (int32_t)((int64_t)n * (c + 1) / AR__GRAM_CHUNKS);
        float *p = part + (size_t)c * kk;
        memset(p, 0, kk * sizeof *p);
        if (e <= b)
            continue;
#ifdef HAVE_LANES16
        if (lanes == 16) {
            gram_rows_16(y, b, e, k, p); /* p is zero */
            continue;
        }
#endif
        if (lanes == 8)
            gram_rows_8(y, b, e, k, p);
        else
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

/* The solvers' batches: rows in order of decreasing length (ties by row), lanes at a time,
 * the last batch padded with -1; *longest_out: the longest row's length. Returns NULL when out
 * of memory. */
static int32_t *lane_batches(const ar_csr *r, int lanes, int32_t *n_batches, int64_t *longest_out) {
    int32_t n_rows = r->n_rows, nb = (n_rows + lanes - 1) / lanes;
    int64_t longest = 0;
    for (int32_t i = 0; i < n_rows; i++)
        if (r->indptr[i + 1] - r->indptr[i] > longest)
            longest = r->indptr[i + 1] - r->indptr[i];
    /* a counting sort: start[longest - n] = where the rows of length n begin */
    int64_t *start = ar__alloc_array((size_t)longest + 2, sizeof *start);
    int32_t *rows = ar__alloc_array((size_t)nb * lanes + 1, sizeof *rows);
    if (!start || !rows) {
        ar__free(start), ar__free(rows);
        return NULL;
    }
    memset(start, 0, ((size_t)longest + 2) * sizeof *start);
    for (int32_t i = 0; i < n_rows; i++)
        start[longest - (r->indptr[i + 1] - r->indptr[i]) + 1]++;
    for (int64_t n = 1; n <= longest + 1; n++)
        start[n] += start[n - 1];
    for (int32_t i = 0; i < n_rows; i++)
        rows[start[longest - (r->indptr[i + 1] - r->indptr[i])]++] = i;
    for (int32_t i = n_rows; i < nb * lanes; i++)
        rows[i] = -1;
    ar__free(start);
    *n_batches = nb;
    *longest_out = longest;
    return rows;
}

/* Batches a thread takes at a time. */
#define RUN 16

ar_status ar__ials_solve(const ar__ials_cfg *c, const ar_csr *r, const float *y, float *x,
                         int n_threads) {
    int32_t k = c->k;
    int nt = ar__threads(n_threads), exact = c->solver == AR__IALS_EXACT, lanes = ar__ials_lanes(c);
    size_t kk = (size_t)k * (size_t)k, gs = GSTRIDE(k);
    int32_t n_batches = 0;
    int64_t longest;
    int32_t *batches = lane_batches(r, lanes, &n_batches, &longest);
    if (!batches)
        return AR_ENOMEM;
    /* CG: observations kept gathered per lane, a multiple of 8 */
    int64_t gcap = c->gather > 0 ? (c->gather + 7) & ~7
                                 : (int64_t)(GATHER_FLOATS / ((size_t)k * (size_t)lanes)) & ~7;
    gcap = gcap < 8 ? 8 : gcap < ((longest + 7) & ~7) ? gcap : (longest + 7) & ~7;
    /* Per-thread slot, in lane vectors: exact: a (TRI(k)), g (CHUNK * gs), s (CHUNK), b (k);
     * cg: g (gcap * k), s (gcap), x, r, p, Ap (k each). Then k zero floats for empty lanes. */
    size_t len[6] = {TRI(k), CHUNK * gs, CHUNK, (size_t)k, 0, 0}, at[6] = {0}, slot = 0;
    if (!exact)
        len[0] = (size_t)gcap * (size_t)k, len[1] = (size_t)gcap,
        len[2] = len[3] = len[4] = len[5] = (size_t)k;
    for (int i = 0; i < 6; i++)
        at[i] = slot, slot += len[i];
    slot = round_up16(slot * (size_t)lanes + (size_t)k);
    size_t shared = round_up16(kk) + round_up16((size_t)AR__GRAM_CHUNKS * kk);
    float *mem = ar__alloc_array(shared + (size_t)nt * slot + 16, sizeof *mem);
    if (!mem) {
        ar__free(batches);
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
        float *zero = my + slot - k;
        memset(zero, 0, (size_t)k * sizeof *zero);
        /* a thread takes RUN batches in a row, so it knows which batches come next */
#pragma omp for schedule(dynamic, RUN)
        for (int32_t u = 0; u < n_batches; u++) {
            const int32_t *rows = batches + (size_t)u * (size_t)lanes;
            int more = RUN - 1 - u % RUN; /* batches left in this thread's run */
            if (more > n_batches - 1 - u)
                more = n_batches - 1 - u;
            touch_batch(r, x, k, lanes, gcap, more >= 1 ? rows + lanes : NULL,
                        more >= 2 ? rows + 2 * lanes : NULL);
#ifdef HAVE_LANES16
            if (lanes == 16) {
                v16 *v = (v16 *)my;
                if (exact)
                    solve_lanes_exact_16(c, r, y, rows, gm, zero, x, v + at[0], v + at[1],
                                         v + at[2], v + at[3]);
                else
                    solve_lanes_cg_16(c, r, y, rows, gm, zero, x, gcap, v + at[0], v + at[1],
                                      v + at[2], v + at[3], v + at[4], v + at[5]);
                continue;
            }
#endif
            v8 *v = (v8 *)my;
            if (exact)
                solve_lanes_exact_8(c, r, y, rows, gm, zero, x, v + at[0], v + at[1], v + at[2],
                                    v + at[3]);
            else
                solve_lanes_cg_8(c, r, y, rows, gm, zero, x, gcap, v + at[0], v + at[1], v + at[2],
                                 v + at[3], v + at[4], v + at[5]);
        }
    }
    ar__free(mem);
    ar__free(batches);
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
    ar__ials_cfg c = {0};
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
    s->w_mem = ar__alloc_array((size_t)m->n_users * (size_t)k + 16, sizeof *s->w);
    s->v_mem = ar__alloc_array((size_t)m->n_items * (size_t)k + 16, sizeof *s->v);
    s->g = ar__alloc_array((size_t)k * (size_t)k, sizeof *s->g);
    float *part = ar__alloc_array((size_t)AR__GRAM_CHUNKS * (size_t)k * (size_t)k, sizeof *part);
    if (!s->w_mem || !s->v_mem || !s->g || !part) {
        ar__free(part);
        return ar__fail(err, AR_ENOMEM, "ials: out of memory for the factors");
    }
    s->w = align64(s->w_mem), s->v = align64(s->v_mem);
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
        ar__free(s->w_mem ? s->w_mem : s->w);
        ar__free(s->v_mem ? s->v_mem : s->v);
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
