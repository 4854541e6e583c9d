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
 * nnz_r k)) with conjugate gradient. The exact solver builds the matrix with ssyrk on the
 * gathered, sqrt(c)-scaled rows and solves with LAPACK spotrf/spotrs. The CG solver (Takacs,
 * Pilaszy & Tikk, "Applications of the conjugate gradient method for implicit feedback
 * collaborative filtering", RecSys 2011; as in the implicit library) runs a few steps per row,
 * warm-started from the row's previous value; rows are taken in blocks of BLOCK so that the
 * Gramian products of a block are one sgemm.
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

/* Exact solve of row r: A = gm + lambda_r I + Yg^T Yg (Yg = gathered sqrt(c)-scaled rows),
 * Cholesky. a: k*k, yg: nnz*k scratch. Leaves x unchanged if A is not positive definite. */
static void solve_row_exact(const ar__ials_cfg *c, const ar_csr *r, const float *y, int32_t row,
                            const float *gm, float *x, float *a, float *b, float *yg) {
    int32_t k = c->k;
    int64_t p0 = r->indptr[row], p1 = r->indptr[row + 1];
    int32_t nnz = (int32_t)(p1 - p0);
    float lam = row_reg(c, nnz, r->n_cols);
    memcpy(a, gm, (size_t)k * (size_t)k * sizeof *a);
    for (int32_t f = 0; f < k; f++)
        a[(size_t)f * (size_t)k + (size_t)f] += lam;
    memset(b, 0, (size_t)k * sizeof *b);
    for (int64_t p = p0; p < p1; p++) {
        const float *yj = y + (size_t)r->indices[p] * (size_t)k;
        float cj = conf(c, r->values, p), sc = sqrtf(cj);
        float *dst = yg + (size_t)(p - p0) * (size_t)k;
        for (int32_t f = 0; f < k; f++)
            dst[f] = sc * yj[f];
        axpy(cj, yj, b, k);
    }
    if (nnz > 0) /* column-major: yg is k x nnz; A += yg yg^T (lower) */
        cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, k, nnz, 1.0f, yg, k, 1.0f, a, k);
    if (LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', k, a, k) != 0)
        return;
    LAPACKE_spotrs_work(LAPACK_COL_MAJOR, 'L', k, 1, a, k, b, k);
    memcpy(x, b, (size_t)k * sizeof *x);
}

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

/* Observations gathered per CG block: a block closes at BLOCK rows or when adding a row would
 * pass this many (a single longer row makes a block of its own). */
#define GATHER_ROWS 1024

ar_status ar__ials_solve(const ar__ials_cfg *c, const ar_csr *r, const float *y, float *x,
                         int n_threads) {
    int32_t k = c->k, n_rows = r->n_rows;
    int nt = ar__threads(n_threads);
    size_t kk = (size_t)k * (size_t)k;
    int64_t max_nnz = 0;
    for (int32_t i = 0; i < n_rows; i++)
        if (r->indptr[i + 1] - r->indptr[i] > max_nnz)
            max_nnz = r->indptr[i + 1] - r->indptr[i];
    /* Blocks of consecutive rows: a function of r only, never of the thread count. */
    int32_t *bstart = ar__alloc_array((size_t)n_rows + 1, sizeof *bstart);
    if (!bstart)
        return AR_ENOMEM;
    int32_t n_blocks = 0;
    for (int32_t i = 0; i < n_rows;) {
        int32_t j = i + 1;
        int64_t sum = r->indptr[j] - r->indptr[i];
        while (j < n_rows && j - i < BLOCK &&
               sum + (r->indptr[j + 1] - r->indptr[j]) <= GATHER_ROWS)
            sum += r->indptr[j + 1] - r->indptr[j], j++;
        bstart[n_blocks++] = i;
        i = j;
    }
    bstart[n_blocks] = n_rows;
    size_t gather = (size_t)(max_nnz > GATHER_ROWS ? max_nnz : GATHER_ROWS);
    /* Per-thread slot: exact: a (k*k), b (k), yg (max_nnz*k); cg: rr, pp, ap (BLOCK*k), rs,
     * yg (gather*k), cv (gather). */
    size_t bk = round_up16((size_t)BLOCK * k);
    size_t slot = c->solver == AR__IALS_EXACT
                      ? round_up16(kk) + round_up16((size_t)k) + round_up16((size_t)max_nnz * k)
                      : 3 * bk + round_up16(BLOCK) + round_up16(gather * k) + round_up16(gather);
    size_t shared = round_up16(kk) + (size_t)AR__GRAM_CHUNKS * kk;
    float *mem = ar__alloc_array(shared + (size_t)nt * slot + 16, sizeof *mem);
    if (!mem) {
        ar__free(bstart);
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
#pragma omp for schedule(dynamic, 1)
        for (int32_t bl = 0; bl < n_blocks; bl++) {
            int32_t r0 = bstart[bl], r1 = bstart[bl + 1];
            if (c->solver == AR__IALS_EXACT) {
                float *a = my, *b = my + round_up16(kk), *yg = b + round_up16((size_t)k);
                for (int32_t row = r0; row < r1; row++)
                    solve_row_exact(c, r, y, row, gm, x + (size_t)row * (size_t)k, a, b, yg);
            } else {
                float *rs = my + 3 * bk, *yg = rs + round_up16(BLOCK);
                solve_block_cg(c, r, y, r0, r1, gm, x, my, my + bk, my + 2 * bk, rs, yg,
                               yg + round_up16(gather * k));
            }
        }
    }
    ar__free(mem);
    ar__free(bstart);
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
};
