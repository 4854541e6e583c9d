/*
 * bench_dense.c -- speed of the dense models on Gowalla (LightGCN split), reported as fractions
 * of the machine's own sgemm measured in the same run, so the numbers survive a noisy machine.
 *
 *   bench_dense [DIR] [--threads N] [--factors K] [--epochs E] [--no-ease]
 *
 * DIR defaults to ../shared/data/gowalla-lightgcn (train.txt, test.txt); when it is absent the
 * bench says so and exits 0. Prints:
 *   - OpenBLAS sgemm GFLOP/s (2048^3, N BLAS threads, best of 3);
 *   - which SIMD copy the iALS solvers run (16 lanes with AVX-512, else 8) and which kernels
 *     OpenBLAS picked for this CPU;
 *   - iALS seconds per epoch for the CG and the exact solver (N OpenMP threads), their achieved
 *     GFLOP/s (ar__ials_solve_flops) and its fraction of sgemm -- for the 8-lane (AVX2) copy
 *     too where the CPU runs the 16-lane one -- and a full fit of E epochs;
 *   - batch scoring (W_batch V^T, every training user) in microseconds per user and its
 *     fraction of sgemm;
 *   - EASE fit seconds and the process's peak RSS (getrusage) -- minutes, skip with --no-ease.
 */
#define _POSIX_C_SOURCE 200809L
#include "agentrec.h"
#include "bench_common.h"
#include "core/core.h"
#include "models/dense.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static double sgemm_gflops(int n, int threads) {
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
          *c = malloc((size_t)n * n * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)((i * 7919) % 1000) / 1000.0f;
        b[i] = (float)((i * 104729) % 1000) / 1000.0f;
    }
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double t = bench_now() - t0;
        if (t < best)
            best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

static void randomize(float *a, size_t n, uint64_t seed) {
    ar_rng rng;
    ar_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(ar_rng_uniform(&rng) - 0.5) * 0.02f;
}

int main(int argc, char **argv) {
    const char *dir = "../shared/data/gowalla-lightgcn";
    int threads = 2, k = 64, epochs = 15, ease = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--factors") == 0 && i + 1 < argc)
            k = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-ease") == 0)
            ease = 0;
        else
            dir = argv[i];
    }
    ar_dataset *ds;
    ar_error err;
    if (bench_load_lightgcn("bench_dense", dir, &ds))
        return 0;
    ar_csr *x, *xt;
    if (ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x) || ar_csr_transpose(x, &xt))
        return 1;
    printf("dataset: %s: %d users, %d items, %lld training interactions; %d threads, %d factors\n",
           dir, x->n_rows, x->n_cols, (long long)x->nnz, threads, k);

    double peak = sgemm_gflops(2048, threads);
    printf("sgemm 2048^3 (OpenBLAS, %d threads): %.1f GFLOP/s\n", threads, peak);

    /* iALS half-epochs timed directly: the widest lane copy the CPU runs, and the 8-lane (AVX2)
     * copy when that is not it. */
    /* 64-byte aligned, as the model allocates its factors */
    float *w = aligned_alloc(64, ((size_t)x->n_rows * k * sizeof *w + 63) & ~(size_t)63),
          *v = aligned_alloc(64, ((size_t)x->n_cols * k * sizeof *v + 63) & ~(size_t)63);
    const char *names[2] = {"cg (3 steps)", "exact"};
    ar__ials_cfg wide = {k, 0.0f, 0.01f, 0.005f, 1.0f, AR__IALS_CG, 3, 0, 0};
    printf("ials solvers: %d rows at a time (%s); OpenBLAS kernels: %s\n", ar__ials_lanes(&wide),
           ar__ials_lanes(&wide) == 16 ? "AVX-512" : "AVX2 or baseline", openblas_get_corename());
    for (int lanes = 0; lanes <= 8; lanes += 8) {
        if (lanes == 8 && ar__ials_lanes(&wide) == 8)
            break;
        for (int solver = 0; solver < 2; solver++) {
            ar__ials_cfg c = {k, 0.0f,  0.01f, 0.005f, 1.0f, solver ? AR__IALS_EXACT : AR__IALS_CG,
                              3, lanes, 0};
            randomize(w, (size_t)x->n_rows * k, 1);
            randomize(v, (size_t)x->n_cols * k, 2);
            double flops = ar__ials_solve_flops(&c, x) + ar__ials_solve_flops(&c, xt);
            int reps = 5;
            double best = 1e30;
            for (int e = 0; e < reps; e++) {
                double t0 = bench_now();
                ar__ials_solve(&c, xt, w, v, threads);
                ar__ials_solve(&c, x, v, w, threads);
                double t = bench_now() - t0;
                if (t < best)
                    best = t;
            }
            printf("ials %-12s%s: %.3f s/epoch (best of %d), %.1f GFLOP/s = %.0f%% of sgemm\n",
                   names[solver], lanes == 8 ? " (8 lanes)" : "", best, reps, flops / best / 1e9,
                   100.0 * flops / best / 1e9 / peak);
        }
    }
    free(w);
    free(v);

    /* Whole fits through the public API, as the implicit comparison measures them. */
    ar_model *m = NULL;
    for (int solver = 0; solver < 2; solver++) {
        ar_model_free(m);
        ar_model_create("ials", &m);
        char kb[32], eb[32];
        snprintf(kb, sizeof kb, "%d", k);
        snprintf(eb, sizeof eb, "%d", epochs);
        ar_model_set(m, "factors", kb, NULL);
        ar_model_set(m, "epochs", eb, NULL);
        ar_model_set(m, "solver", solver ? "exact" : "cg", NULL);
        ar_fit_options fo = ar_fit_options_default();
        fo.n_threads = threads;
        double t0 = bench_now();
        if (ar_model_fit(m, ds, &fo, &err)) {
            fprintf(stderr, "bench_dense: %s\n", err.msg);
            return 1;
        }
        double t = bench_now() - t0;
        printf("ials fit %-12s: %d epochs in %.2f s (%.3f s/epoch); implicit 0.7.3 reference: cg "
               "3.6 s, exact ~10 s at sgemm 236 GFLOP/s\n",
               names[solver], epochs, t, t / epochs);
    }

    /* Batch scoring: every training user, in chunks of 1024 users. */
    {
        int32_t chunk = 1024, nu = x->n_rows, ni = x->n_cols;
        float *scores = malloc((size_t)chunk * ni * sizeof *scores);
        int32_t *users = malloc((size_t)chunk * sizeof *users);
        double best = 1e30;
        for (int rep = 0; rep < 2; rep++) {
            double t0 = bench_now();
            for (int32_t u0 = 0; u0 < nu; u0 += chunk) {
                int32_t n = u0 + chunk < nu ? chunk : nu - u0;
                for (int32_t i = 0; i < n; i++)
                    users[i] = u0 + i;
                ar_model_score_batch(m, x, users, n, scores);
            }
            double t = bench_now() - t0;
            if (t < best)
                best = t;
        }
        double gf = 2.0 * nu * (double)ni * k / best / 1e9;
        printf("ials batch scoring: %.2f us/user, %.1f GFLOP/s = %.0f%% of sgemm\n",
               best / nu * 1e6, gf, 100.0 * gf / peak);
        free(scores);
        free(users);
    }
    ar_model_free(m);

    if (ease) {
        double before = peak_rss_mb();
        ar_model_create("ease", &m);
        ar_model_set(m, "lambda", "500", NULL);
        ar_fit_options fo = ar_fit_options_default();
        fo.n_threads = threads;
        double t0 = bench_now();
        ar_status st = ar_model_fit(m, ds, &fo, &err);
        double t = bench_now() - t0;
        if (st)
            printf("ease: %s\n", err.msg);
        else {
            /* the sweep inverts the smaller Gram (n^3); the dual path adds two sparse products */
            double nu = x->n_rows, ni = x->n_cols, n = nu < ni ? nu : ni;
            double flops = n * n * n + (nu < ni ? 2.0 * (double)x->nnz * (nu + ni) : 0);
            double gf = flops / t / 1e9;
            printf("ease fit: %.1f s, peak RSS %.0f MB (%.0f MB before), %.1f GFLOP/s = %.0f%% of "
                   "sgemm\n",
                   t, peak_rss_mb(), before, gf, 100.0 * gf / peak);
        }
        ar_model_free(m);
    }
    ar_csr_free(x);
    ar_csr_free(xt);
    ar_dataset_free(ds);
    return 0;
}
