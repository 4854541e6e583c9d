/*
 * dense.h -- the kernels of the dense model families (internal; the tests and bench/ call them
 * directly to compare them with their naive references and to count flops).
 */
#ifndef AR_DENSE_H
#define AR_DENSE_H

#include "models/model.h"

/* -- iALS (ials.c) ------------------------------------------------------------------------------
 */

enum { AR__IALS_CG = 0, AR__IALS_EXACT = 1 };

typedef struct ar__ials_cfg {
    int32_t k;     /* factors */
    float alpha;   /* confidence of an observed pair: c = 1 + alpha * value */
    float alpha0;  /* weight of every (row, column) pair pulled towards 0 */
    float reg;     /* lambda */
    float reg_exp; /* nu: row r's regulariser is lambda * (nnz_r + alpha0 * n_cols)^nu */
    int solver;    /* AR__IALS_CG or AR__IALS_EXACT */
    int cg_steps;  /* conjugate-gradient steps per row and half-epoch */
    int lanes;     /* 0 = the widest SIMD copy of the solvers the CPU runs, 8 = the 8-lane copy */
    int gather;    /* CG: observations per row kept gathered over the steps (longer rows gather
                      again on each step), a multiple of 8; 0 = up to 16 MiB per thread */
} ar__ials_cfg;

/* One half-epoch of iALS: every row r of x (n_rows x k, row-major) becomes the minimiser of
 *
 *   sum_{j in r} c_rj (1 - x_r.y_j)^2 + alpha0 sum_{all j} (x_r.y_j)^2 + lambda_r |x_r|^2
 *
 * i.e. the solution of (alpha0 Y^T Y + sum_{j in r} c_rj y_j y_j^T + lambda_r I) x_r =
 * sum_{j in r} c_rj y_j, exactly (Cholesky) or by cfg->cg_steps conjugate-gradient steps
 * warm-started from x_r's current value. r: n_rows x n_cols CSR (its values are the
 * interaction strengths); y: n_cols x k, row-major. Runs on n_threads OpenMP threads with
 * single-threaded BLAS (it sets OpenBLAS to 1 thread); the result does not depend on n_threads.
 * AR_ENOMEM when the scratch cannot be allocated (x is then unchanged). */
ar_status ar__ials_solve(const ar__ials_cfg *cfg, const ar_csr *r, const float *y, float *x,
                         int n_threads);
/* The naive reference of ar__ials_solve with solver=exact: per row, the normal equations built
 * densely in double precision and solved by Gaussian elimination. Same arguments. */
void ar__ials_solve_ref(const ar__ials_cfg *cfg, const ar_csr *r, const float *y, float *x);
/* The rows ar__ials_solve takes at a time, one per SIMD lane: 16 where the CPU has AVX-512 (and
 * the compiler can target it) unless cfg->lanes is 8, else 8. */
int ar__ials_lanes(const ar__ials_cfg *cfg);
/* Floating-point operations one ar__ials_solve call performs (for the benchmark). */
double ar__ials_solve_flops(const ar__ials_cfg *cfg, const ar_csr *r);

/* -- shared -------------------------------------------------------------------------------- */

/* Fixed chunks of ar__gram's reduction, so its summation order ignores the thread count. */
#define AR__GRAM_CHUNKS 8

/* g (k x k, full, row-major) = scale * Y^T Y for y (n x k row-major), as the fixed-order sum of
 * AR__GRAM_CHUNKS single-threaded products spread over nt threads: the iALS lane kernel when k
 * is 32 or 64 (every entry summed over the rows in order, so SIMD width does not change the
 * bits), else OpenBLAS's ssyrk. part: AR__GRAM_CHUNKS * k * k floats. */
void ar__gram(const float *y, int32_t n, int32_t k, float scale, float *g, float *part, int nt);

#endif
