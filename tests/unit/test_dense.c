/* Unit tests for the dense models (src/models/ease.c, src/models/ials.c, src/models/bspm.c):
 * EASE against a dense double-precision inverse, one iALS half-epoch (Cholesky and CG paths)
 * against the naive normal-equation reference, BSPM against its equations in double (exact
 * eigenvectors, literal RK4 steps), 1 vs 2 threads bitwise, save / load round trips, corrupt
 * and truncated model files, EASE refusing a too small memory limit, fold-in and
 * explanations. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "core/core.h"
#include "models/dense.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static int setup(void **state) {
    (void)state;
    return ar_test_mkdtemp(tmpdir, sizeof tmpdir, "dense");
}

static int teardown(void **state) {
    (void)state;
    return ar_test_rmtree(tmpdir);
}

static const char *tmp_path(const char *name) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static ar_dataset *synthetic(void) {
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(80, 30, 6, 3, 7, &ds), AR_OK);
    return ds;
}

static ar_model *fitted(const char *name, const ar_dataset *ds, const char *params, int threads) {
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create(name, &m), AR_OK);
    if (params)
        assert_int_equal(ar_model_set_json(m, params, &err), AR_OK);
    ar_fit_options o = ar_fit_options_default();
    o.n_threads = threads;
    ar_status st = ar_model_fit(m, ds, &o, &err);
    if (st)
        fail_msg("fit %s: %s", name, err.msg);
    return m;
}

/* All users' scores, n_users x n_items, from the training history. */
static float *all_scores(const ar_model *m, const ar_csr *x) {
    size_t n = (size_t)x->n_rows * (size_t)x->n_cols;
    float *s = malloc(n * sizeof *s);
    assert_non_null(s);
    for (int32_t u = 0; u < x->n_rows; u++) {
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        assert_int_equal(ar_model_score(m, u, x->indices + b, x->values + b, (int32_t)(e - b),
                                        s + (size_t)u * x->n_cols),
                         AR_OK);
    }
    return s;
}

/* -- EASE ------------------------------------------------------------------------------------ */

/* Inverts a (n x n, double, row-major) in place by Gauss-Jordan with partial pivoting. */
static void invert_ref(double *a, int n) {
    double *inv = calloc((size_t)n * n, sizeof *inv);
    for (int i = 0; i < n; i++)
        inv[i * n + i] = 1;
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int i = c + 1; i < n; i++)
            if (fabs(a[i * n + c]) > fabs(a[p * n + c]))
                p = i;
        for (int j = 0; j < n; j++) {
            double t = a[c * n + j];
            a[c * n + j] = a[p * n + j], a[p * n + j] = t;
            t = inv[c * n + j];
            inv[c * n + j] = inv[p * n + j], inv[p * n + j] = t;
        }
        double d = a[c * n + c];
        for (int j = 0; j < n; j++)
            a[c * n + j] /= d, inv[c * n + j] /= d;
        for (int i = 0; i < n; i++) {
            if (i == c)
                continue;
            double f = a[i * n + c];
            for (int j = 0; j < n; j++)
                a[i * n + j] -= f * a[c * n + j], inv[i * n + j] -= f * inv[c * n + j];
        }
    }
    memcpy(a, inv, (size_t)n * n * sizeof *a);
    free(inv);
}

/* EASE (dropout 0) or EDLAE against the closed form in double. */
static void check_ease(int32_t n_users, int32_t n_items, double dropout) {
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(n_users, n_items, 25, 5, 3, &ds), AR_OK);
    char params[64];
    snprintf(params, sizeof params, "{\"lambda\": 5, \"dropout\": %g}", dropout);
    ar_model *m = fitted("ease", ds, params, 2);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int n = x->n_cols;
    /* B = -P / diag(P), P = (X^T X + D)^-1, D_ii = lambda + dropout / (1 - dropout) G_ii,
     * all in double from the dense X. */
    double *g = calloc((size_t)n * n, sizeof *g), *b = calloc((size_t)n * n, sizeof *b);
    for (int32_t u = 0; u < x->n_rows; u++)
        for (int64_t p = x->indptr[u]; p < x->indptr[u + 1]; p++)
            for (int64_t q = x->indptr[u]; q < x->indptr[u + 1]; q++)
                g[x->indices[p] * n + x->indices[q]] += (double)x->values[p] * x->values[q];
    for (int i = 0; i < n; i++)
        g[i * n + i] += 5 + dropout / (1 - dropout) * g[i * n + i];
    invert_ref(g, n);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++)
            b[j * n + i] = i == j ? 0 : -g[j * n + i] / g[i * n + i];
    float *s = all_scores(m, x);
    for (int32_t u = 0; u < x->n_rows; u++)
        for (int i = 0; i < n; i++) {
            double ref = 0;
            for (int64_t p = x->indptr[u]; p < x->indptr[u + 1]; p++)
                ref += x->values[p] * b[x->indices[p] * n + i];
            if (fabs(ref - s[(size_t)u * n + i]) > 1e-4 * (1 + fabs(ref)))
                fail_msg("user %d item %d: %g, reference %g", u, i, s[(size_t)u * n + i], ref);
        }
    /* explanations are the history rows of B */
    int32_t items[64];
    float w[64];
    int32_t got;
    int64_t b0 = x->indptr[3], e0 = x->indptr[4];
    assert_int_equal(ar_model_explain(m, 3, x->indices + b0, x->values + b0, (int32_t)(e0 - b0), 0,
                                      64, items, w, &got),
                     AR_OK);
    assert_int_equal(got, e0 - b0);
    double sum = 0;
    for (int32_t j = 0; j < got; j++)
        sum += w[j];
    assert_true(fabs(sum - s[3 * (size_t)n + 0]) < 1e-4);
    free(s);
    free(g);
    free(b);
    ar_csr_free(x);
    ar_model_free(m);
    ar_dataset_free(ds);
}

static void test_ease_matches_dense_inverse(void **state) {
    (void)state;
    /* 700 items: three pivot blocks and two tiles of the sweep; the first dataset has fewer
     * users than items (the dual path), the second more (the primal path) */
    check_ease(300, 700, 0);
    check_ease(800, 600, 0);
    check_ease(300, 700, 0.25); /* EDLAE on both paths */
    check_ease(800, 600, 0.5);
}

static void test_ease_refuses_without_memory(void **state) {
    (void)state;
    ar_dataset *ds = synthetic();
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create("ease", &m), AR_OK);
    ar_fit_options o = ar_fit_options_default();
    o.memory_limit = 4096;
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_ENOMEM);
    assert_non_null(strstr(err.msg, "EASE needs"));
    assert_non_null(strstr(err.msg, "30 items"));
    assert_non_null(strstr(err.msg, "available"));
    assert_false(ar_model_is_fitted(m));
    ar_model_free(m);
    ar_dataset_free(ds);
}

/* -- iALS kernels ----------------------------------------------------------------------------- */

static void random_fill(float *a, size_t n, uint64_t seed) {
    ar_rng rng;
    ar_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(ar_rng_uniform(&rng) - 0.5);
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double scale = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(b[i]));
        d = fmax(d, fabs((double)a[i] - b[i]));
    }
    return d / (scale > 0 ? scale : 1);
}

/* One half-epoch of the solver against the reference: k factors, the user side (each row
 * has fewer observations than the exact solver's chunk) or the item side (popular items span
 * several chunks; 30 rows leave lanes of the last batch empty), on the solvers' widest copy and
 * their 8-lane copy (the same copy where the CPU has no AVX-512). */
static void check_half_step_lanes(const ar_dataset *ds, int solver, int cg_steps, float alpha,
                                  double tol, int32_t k, int items, int lanes, int gather) {
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    if (items) {
        ar_csr *xt;
        assert_int_equal(ar_csr_transpose(x, &xt), AR_OK);
        ar_csr_free(x);
        x = xt;
        int64_t longest = 0;
        for (int32_t i = 0; i < x->n_rows; i++)
            if (x->indptr[i + 1] - x->indptr[i] > longest)
                longest = x->indptr[i + 1] - x->indptr[i];
        assert_true(longest > 32); /* the exact solver gathers 32 observations at a time */
    }
    ar__ials_cfg c = {k, alpha, 0.05f, 0.02f, 1.0f, solver, cg_steps, lanes, gather};
    size_t nu = (size_t)x->n_rows * k, ni = (size_t)x->n_cols * k;
    float *y = malloc(ni * sizeof *y), *x0 = malloc(nu * sizeof *x0);
    float *fast = malloc(nu * sizeof *fast), *ref = malloc(nu * sizeof *ref);
    random_fill(y, ni, 1);
    random_fill(x0, nu, 2);
    memcpy(fast, x0, nu * sizeof *fast);
    memcpy(ref, x0, nu * sizeof *ref);
    assert_int_equal(ar__ials_solve(&c, x, y, fast, 2), AR_OK);
    ar__ials_solve_ref(&c, x, y, ref);
    double d = max_rel_diff(fast, ref, nu);
    if (!(d < tol))
        fail_msg("solver %d, %d steps, k %d, %s, lanes %d: max relative difference %g (tolerance "
                 "%g)",
                 solver, cg_steps, k, items ? "items" : "users", lanes, d, tol);
    /* a CG step from the warm start moves towards the solution */
    if (solver == AR__IALS_CG && cg_steps == 1) {
        assert_true(max_rel_diff(fast, ref, nu) < max_rel_diff(x0, ref, nu));
    }
    free(y), free(x0), free(fast), free(ref);
    ar_csr_free(x);
}

static void check_half_step_side(int solver, int cg_steps, float alpha, double tol, int32_t k,
                                 int items) {
    ar_dataset *ds = synthetic();
    for (int lanes = 0; lanes <= 8; lanes += 8)
        check_half_step_lanes(ds, solver, cg_steps, alpha, tol, k, items, lanes, 0);
    ar_dataset_free(ds);
}

static void check_half_step(int solver, int cg_steps, float alpha, double tol) {
    check_half_step_side(solver, cg_steps, alpha, tol, 8, 0);
}

static void test_ials_exact_matches_reference(void **state) {
    (void)state;
    check_half_step(AR__IALS_EXACT, 0, 0.0f, 1e-4);
    check_half_step(AR__IALS_EXACT, 0, 2.5f, 1e-4);
    /* the lane solver's edges: k not a multiple of its 8 x 8 transposes nor of its 4 x 3
     * register blocks, rows longer than a chunk, empty lanes */
    check_half_step_side(AR__IALS_EXACT, 0, 2.5f, 1e-4, 13, 1);
    check_half_step_side(AR__IALS_EXACT, 0, 0.0f, 1e-4, 24, 1);
    check_half_step_side(AR__IALS_EXACT, 0, 0.0f, 1e-4, 5, 0);
}

static void test_ials_cg_matches_reference(void **state) {
    (void)state;
    /* k = 8 steps of CG solve a k x k system exactly in exact arithmetic; in float a few more
     * steps make up for the lost orthogonality */
    check_half_step(AR__IALS_CG, 24, 0.0f, 1e-3);
    check_half_step(AR__IALS_CG, 24, 2.5f, 1e-3);
    check_half_step(AR__IALS_CG, 1, 0.0f, 10.0);
    /* rows with more observations than CG keeps gathered (here 16), gathered again on every
     * step, in both SIMD copies */
    ar_dataset *ds = synthetic();
    for (int lanes = 0; lanes <= 8; lanes += 8)
        check_half_step_lanes(ds, AR__IALS_CG, 24, 2.5f, 1e-3, 8, 1, lanes, 16);
    ar_dataset_free(ds);
}

/* ar__gram against sums in double: k 32 and 64 (the lane kernel; 9,000 rows span blocks of
 * rows at k = 64), and 24 and 96 (ssyrk); the result is symmetric and scaled. */
static void test_gram(void **state) {
    (void)state;
    int32_t ks[4] = {24, 32, 64, 96}, n = 9001;
    for (int t = 0; t < 4; t++) {
        int32_t k = ks[t];
        float *y = malloc((size_t)n * k * sizeof *y), *g = malloc((size_t)k * k * sizeof *g);
        float *part = malloc((size_t)AR__GRAM_CHUNKS * k * k * sizeof *part);
        random_fill(y, (size_t)n * k, 5);
        ar__gram(y, n, k, 0.5f, g, part, 2);
        double worst = 0;
        for (int32_t i = 0; i < k; i++)
            for (int32_t j = 0; j < k; j++) {
                double s = 0, scale = 0;
                for (int32_t r = 0; r < n; r++) {
                    s += (double)y[(size_t)r * k + i] * y[(size_t)r * k + j];
                    scale += fabs((double)y[(size_t)r * k + i] * y[(size_t)r * k + j]);
                }
                worst = fmax(worst, fabs(g[(size_t)i * k + j] - 0.5 * s) / (0.5 * scale));
            }
        if (!(worst < 1e-6))
            fail_msg("k %d: worst relative error %g", k, worst);
        free(y), free(g), free(part);
    }
}

/* With GCC both SIMD copies of the solvers contract the same multiply-adds, and a row's
 * arithmetic does not depend on the other rows of its batch: the 16-lane (AVX-512) copy gives
 * the 8-lane copy's bits. (Where the CPU has no AVX-512 both runs take the 8-lane copy.) */
static void test_ials_lanes_agree(void **state) {
    (void)state;
#if defined(__GNUC__) && !defined(__clang__)
    ar_dataset *ds = synthetic();
    ar_csr *x, *xt;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    assert_int_equal(ar_csr_transpose(x, &xt), AR_OK);
    int32_t k = 24;
    size_t n = (size_t)xt->n_rows * k, ny = (size_t)xt->n_cols * k;
    float *y = malloc(ny * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    random_fill(y, ny, 3);
    for (int solver = 0; solver < 2; solver++) {
        /* CG keeps 8 observations gathered: the longer rows take the gather-again path too */
        ar__ials_cfg wide = {k, 2.5f, 0.05f, 0.02f, 1.0f, solver, 3, 0, 8}, narrow = wide;
        narrow.lanes = 8;
        random_fill(a, n, 4);
        memcpy(b, a, n * sizeof *b);
        assert_int_equal(ar__ials_solve(&wide, xt, y, a, 2), AR_OK);
        assert_int_equal(ar__ials_solve(&narrow, xt, y, b, 1), AR_OK);
        assert_memory_equal(a, b, n * sizeof *a);
    }
    free(y), free(a), free(b);
    ar_csr_free(x);
    ar_csr_free(xt);
    ar_dataset_free(ds);
#endif
}

/* -- BSPM ------------------------------------------------------------------------------------ */

/* out (n) = in (n) P, P = R^T R (r: n_users x n dense, double). */
static void times_p(const double *r, int nu, int n, const double *in, double *out) {
    for (int i = 0; i < n; i++)
        out[i] = 0;
    for (int u = 0; u < nu; u++) {
        double t = 0;
        for (int j = 0; j < n; j++)
            t += in[j] * r[u * n + j];
        for (int i2 = 0; i2 < n; i2++)
            out[i2] += t * r[u * n + i2];
    }
}

/* The BSPM scores of every user from its equations (bspm.c's header) in double: the exact
 * eigenvectors of P (LAPACK dsyevd), the blurring's Euler step, the sharpening's RK4 steps
 * taken literally (k1..k4). */
static double *bspm_ref(const ar_csr *x, int k, double beta, double tb, double ts, int steps) {
    int nu = x->n_rows, n = x->n_cols;
    double *r = calloc((size_t)nu * n, sizeof *r), *du = calloc((size_t)nu, sizeof *du),
           *di = calloc((size_t)n, sizeof *di), *p = calloc((size_t)n * n, sizeof *p),
           *ev = calloc((size_t)n, sizeof *ev), *out = calloc((size_t)nu * n, sizeof *out);
    for (int u = 0; u < nu; u++)
        for (int64_t q = x->indptr[u]; q < x->indptr[u + 1]; q++) {
            r[u * n + x->indices[q]] = x->values[q];
            du[u] += x->values[q];
            di[x->indices[q]] += x->values[q];
        }
    for (int u = 0; u < nu; u++)
        for (int i = 0; i < n; i++)
            if (r[u * n + i] != 0)
                r[u * n + i] /= sqrt(du[u]) * sqrt(di[i]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int u = 0; u < nu; u++)
                p[i * n + j] += r[u * n + i] * r[u * n + j];
    assert_int_equal(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', n, p, n, ev), 0);
    double s[64], hist[64], t[64], k1[64], k2[64], k3[64], k4[64], tmp[64];
    assert_true(n <= 64);
    for (int u = 0; u < nu; u++) {
        for (int i = 0; i < n; i++)
            hist[i] = 0;
        for (int64_t q = x->indptr[u]; q < x->indptr[u + 1]; q++)
            hist[x->indices[q]] = x->values[q];
        /* ideal: hist D^-1/2 V V^T D^1/2 over the k largest eigenvalues with energy */
        for (int i = 0; i < n; i++)
            s[i] = 0;
        for (int c = n - 1; c >= n - k && c >= 0; c--) {
            if (!(ev[c] > 1e-6 * ev[n - 1]))
                break;
            double a = 0;
            for (int j = 0; j < n; j++)
                if (di[j] > 0)
                    a += hist[j] / sqrt(di[j]) * p[j * n + c];
            for (int i = 0; i < n; i++)
                s[i] += beta * a * p[i * n + c] * sqrt(di[i]);
        }
        times_p(r, nu, n, hist, t);
        for (int i = 0; i < n; i++)
            s[i] += hist[i] + tb * (t[i] - hist[i]);
        double h = steps > 0 ? ts / steps : 0;
        for (int st = 0; st < steps; st++) {
            times_p(r, nu, n, s, k1);
            for (int i = 0; i < n; i++)
                k1[i] = -k1[i], tmp[i] = s[i] + h / 2 * k1[i];
            times_p(r, nu, n, tmp, k2);
            for (int i = 0; i < n; i++)
                k2[i] = -k2[i], tmp[i] = s[i] + h / 2 * k2[i];
            times_p(r, nu, n, tmp, k3);
            for (int i = 0; i < n; i++)
                k3[i] = -k3[i], tmp[i] = s[i] + h * k3[i];
            times_p(r, nu, n, tmp, k4);
            for (int i = 0; i < n; i++)
                s[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] - k4[i]); /* k4 = -(tmp P) */
        }
        for (int i = 0; i < n; i++)
            out[(size_t)u * n + i] = s[i];
    }
    free(r), free(du), free(di), free(p), free(ev);
    return out;
}

static void check_bspm(const char *params, int k, double beta, double tb, double ts, int steps) {
    ar_dataset *ds = synthetic();
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_model *m = fitted("bspm", ds, params, 2);
    size_t n = (size_t)x->n_cols;
    float *got = all_scores(m, x);
    double *want = bspm_ref(x, k, beta, tb, ts, steps);
    for (int32_t u = 0; u < x->n_rows; u++) {
        float w[64];
        for (size_t i = 0; i < n; i++)
            w[i] = (float)want[u * n + i];
        double d = max_rel_diff(got + u * n, w, n);
        if (!(d < 1e-4))
            fail_msg("bspm %s user %d: %g from the reference", params, u, d);
        /* fold-in is the same filter; explanations sum to the score */
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        float fold[64];
        assert_int_equal(
            ar_model_score(m, -1, x->indices + b, x->values + b, (int32_t)(e - b), fold), AR_OK);
        assert_memory_equal(fold, got + u * n, n * sizeof *fold);
        int32_t items[64];
        float wt[64];
        int32_t n_got;
        assert_int_equal(ar_model_explain(m, u, x->indices + b, x->values + b, (int32_t)(e - b),
                                          (int32_t)(u % n), 64, items, wt, &n_got),
                         AR_OK);
        double sum = 0;
        for (int32_t j = 0; j < n_got; j++)
            sum += wt[j];
        assert_int_equal(n_got, e - b);
        double sc = got[u * n + (size_t)(u % n)];
        if (!(fabs(sum - sc) < 1e-4 * (1 + fabs(sc))))
            fail_msg("bspm %s user %d: explanations sum to %g, score %g", params, u, sum, sc);
    }
    free(got), free(want);
    ar_model_free(m);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

static void test_bspm_matches_reference(void **state) {
    (void)state;
    /* the paper's Gowalla shape at a small rank; many subspace iterations, so the randomized
     * SVD has converged to the exact eigenvectors */
    check_bspm("{\"factors\": 6, \"svd_iters\": 50}", 6, 0.2, 1, 2.5, 1);
    /* GF-CF (no sharpening), more vectors than the rank (all kept), two RK4 steps */
    check_bspm("{\"factors\": 100, \"ideal_weight\": 0.3, \"sharp_steps\": 0}", 100, 0.3, 1, 0, 0);
    check_bspm("{\"factors\": 0, \"blur_time\": 0.5, \"sharp_time\": 1, \"sharp_steps\": 2}", 0, 0,
               0.5, 1, 2);
}

/* -- models: determinism, persistence, fold-in ------------------------------------------------ */

static void check_threads(const char *name, const char *params, ar_dataset *ds) {
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_model *m1 = fitted(name, ds, params, 1), *m2 = fitted(name, ds, params, 2);
    float *s1 = all_scores(m1, x), *s2 = all_scores(m2, x);
    if (memcmp(s1, s2, (size_t)x->n_rows * x->n_cols * sizeof *s1) != 0)
        fail_msg("%s %s: 1 and 2 threads differ", name, params);
    free(s1), free(s2);
    ar_model_free(m1), ar_model_free(m2);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

static void test_threads_bitwise(void **state) {
    (void)state;
    check_threads("ials", "{\"factors\": 12, \"epochs\": 4, \"solver\": \"cg\"}", synthetic());
    check_threads("ials", "{\"factors\": 12, \"epochs\": 4, \"solver\": \"exact\", \"alpha\": 1}",
                  synthetic());
    /* several pivot blocks and tiles, so the tiles really go to different threads */
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(200, 1100, 20, 4, 5, &ds), AR_OK);
    check_threads("ease", "{\"lambda\": 20}", ds);
    assert_int_equal(ar_dataset_synthetic(300, 2500, 20, 4, 5, &ds), AR_OK);
    check_threads("bspm", "{\"factors\": 24}", ds);
}

static void check_round_trip(const char *name, const char *params) {
    ar_dataset *ds = synthetic();
    ar_csr *x;
    ar_error err;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_model *m = fitted(name, ds, params, 2), *l;
    const char *path = tmp_path("model.bin");
    assert_int_equal(ar_model_save(m, path, &err), AR_OK);
    assert_int_equal(ar_model_load(path, &l, &err), AR_OK);
    assert_string_equal(ar_model_name(l), name);
    assert_int_equal(ar_model_check_dataset(l, ds, &err), AR_OK);
    float *s1 = all_scores(m, x), *s2 = all_scores(l, x);
    assert_memory_equal(s1, s2, (size_t)x->n_rows * x->n_cols * sizeof *s1);
    /* batch scoring agrees with one-at-a-time scoring */
    int32_t users[5] = {0, 7, 3, 79, 7};
    float *bs = malloc(5 * (size_t)x->n_cols * sizeof *bs);
    assert_int_equal(ar_model_score_batch(l, x, users, 5, bs), AR_OK);
    for (int r = 0; r < 5; r++)
        for (int32_t i = 0; i < x->n_cols; i++) {
            float a = bs[(size_t)r * x->n_cols + i], b = s1[(size_t)users[r] * x->n_cols + i];
            if (fabsf(a - b) > 1e-5f * (1 + fabsf(b)))
                fail_msg("%s batch user %d item %d: %g vs %g", name, users[r], i, a, b);
        }
    free(bs);
    free(s1), free(s2);
    ar_model_free(l);

    /* a flipped byte in the state: checksum */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size - 40, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, size - 40, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
    l = (ar_model *)1;
    assert_int_equal(ar_model_load(path, &l, &err), AR_ECORRUPT);
    assert_null(l);
    assert_non_null(strstr(err.msg, path));
    /* truncated */
    assert_int_equal(ar_model_save(m, path, &err), AR_OK);
    assert_int_equal(truncate(path, size / 2), 0);
    assert_int_equal(ar_model_load(path, &l, &err), AR_ECORRUPT);
    /* foreign */
    f = fopen(path, "wb");
    fputs("user item\n1 2\n", f);
    fclose(f);
    assert_int_not_equal(ar_model_load(path, &l, &err), AR_OK);
    ar_model_free(m);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

/* m's file as a build whose family had only its first n_params parameters wrote it. */
static void save_with_params(const ar_model *m, int n_params, const char *path) {
    ar__secw w = {0};
    const char *name = ar_model_name(m);
    ar__secw_add(&w, AR__MODEL_TAG_NAME, 1, strlen(name) + 1, 0, name);
    ar__secw_add(&w, AR__MODEL_TAG_PARAMS, 8, (uint64_t)n_params, 0, m->param);
    m->impl->save(m, &w);
    unsigned char extra[AR__SECFILE_EXTRA] = {0};
    memcpy(extra, &m->n_users, 4);
    memcpy(extra + 4, &m->n_items, 4);
    memcpy(extra + 8, &m->fingerprint, 8);
    ar_error err;
    assert_int_equal(
        ar__secw_write(&w, path, ar__model_magic, AR_MODEL_FORMAT_VERSION, extra, &err), AR_OK);
}

static void test_save_load(void **state) {
    (void)state;
    check_round_trip("ials", "{\"factors\": 10, \"epochs\": 3}");
    check_round_trip("ease", "{\"lambda\": 20}");
    check_round_trip("ease", "{\"lambda\": 20, \"dropout\": 0.3}");
    check_round_trip("bspm", "{\"factors\": 8}");
    /* A file written before ease gained `dropout` (its table then: lambda only) loads with
     * dropout at its default, 0, and scores as written; a table longer than this build's is
     * refused. */
    ar_dataset *ds = synthetic();
    ar_csr *x;
    ar_error err;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_model *m = fitted("ease", ds, "{\"lambda\": 20}", 1), *l;
    const char *path = tmp_path("old.bin");
    save_with_params(m, 1, path);
    assert_int_equal(ar_model_load(path, &l, &err), AR_OK);
    assert_true(ar_model_get(l, "lambda") == 20 && ar_model_get(l, "dropout") == 0);
    float *s1 = all_scores(m, x), *s2 = all_scores(l, x);
    assert_memory_equal(s1, s2, (size_t)x->n_rows * x->n_cols * sizeof *s1);
    free(s1), free(s2);
    ar_model_free(l);
    m->param[2] = 0; /* a third parameter this build does not have */
    save_with_params(m, 3, path);
    assert_int_equal(ar_model_load(path, &l, &err), AR_ECORRUPT);
    assert_non_null(strstr(err.msg, "newer agentrec"));
    ar_model_free(m);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

static void test_ials_fold_in(void **state) {
    (void)state;
    ar_dataset *ds = synthetic();
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_model *m = fitted("ials", ds,
                         "{\"factors\": 8, \"epochs\": 6, \"solver\": \"exact\", \"alpha\": 1}", 2);
    int32_t n = x->n_cols;
    float *known = malloc((size_t)n * sizeof *known), *fold = malloc((size_t)n * sizeof *fold);
    for (int32_t u = 0; u < x->n_rows; u += 9) {
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        assert_int_equal(
            ar_model_score(m, u, x->indices + b, x->values + b, (int32_t)(e - b), known), AR_OK);
        assert_int_equal(
            ar_model_score(m, -1, x->indices + b, x->values + b, (int32_t)(e - b), fold), AR_OK);
        double d = max_rel_diff(fold, known, (size_t)n);
        if (!(d < 1e-3))
            fail_msg("user %d: fold-in differs from the learned vector by %g", u, d);
        /* explanations of the fold-in sum to its score */
        int32_t items[64];
        float w[64];
        int32_t got;
        assert_int_equal(ar_model_explain(m, -1, x->indices + b, x->values + b, (int32_t)(e - b), 5,
                                          64, items, w, &got),
                         AR_OK);
        double sum = 0;
        for (int32_t j = 0; j < got; j++)
            sum += w[j];
        assert_int_equal(got, e - b);
        assert_true(fabs(sum - fold[5]) < 1e-4 * (1 + fabs(fold[5])));
    }
    /* an empty history folds in to a zero vector */
    assert_int_equal(ar_model_score(m, -1, NULL, NULL, 0, fold), AR_OK);
    for (int32_t i = 0; i < n; i++)
        assert_true(fold[i] == 0);
    free(known), free(fold);
    ar_model_free(m);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

static void test_decision_space(void **state) {
    (void)state;
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create("ials", &m), AR_OK);
    char *space = ar_model_space_json(m);
    assert_non_null(strstr(space, "\"cg_steps\""));
    assert_non_null(strstr(space, "\"condition\""));
    ar_free_array(space);
    assert_int_equal(ar_model_set(m, "solver", "cholesky", &err), AR_EINVAL);
    assert_int_equal(ar_model_set(m, "solver", "exact", &err), AR_OK);
    assert_int_equal(ar_model_set(m, "factors", "0", &err), AR_ERANGE);
    ar_model_free(m);
    assert_int_equal(ar_model_create("ease", &m), AR_OK);
    assert_int_equal(ar_model_set(m, "lambda", "-1", &err), AR_ERANGE);
    ar_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ease_matches_dense_inverse),
        cmocka_unit_test(test_ease_refuses_without_memory),
        cmocka_unit_test(test_ials_exact_matches_reference),
        cmocka_unit_test(test_ials_cg_matches_reference),
        cmocka_unit_test(test_ials_lanes_agree),
        cmocka_unit_test(test_gram),
        cmocka_unit_test(test_bspm_matches_reference),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_ials_fold_in),
        cmocka_unit_test(test_decision_space),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
