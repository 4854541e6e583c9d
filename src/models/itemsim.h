/*
 * itemsim.h -- the item-item similarity kernel and model state shared by ItemKNN and RP3beta
 * (internal).
 *
 * Both families learn one sparse item x item matrix W and score a user by the sparse product of
 * their history with it; they differ only in how W is computed. The kernel here computes
 *
 *     W[r, c] = finish(r, c, sum_u A[r, u] * B[u, c])      keeping the k largest per row r
 *
 * for sparse A (n_rows x n_inner) and B (n_inner x n_cols) without ever forming a dense
 * n_rows x n_cols matrix: rows of the output are independent, so they are spread over OpenMP
 * threads, each with a dense accumulator of n_cols floats, a stamp array that says which
 * columns the current row touched, and a bounded heap for the top-k. Nothing is allocated
 * inside the row loop. Each row's products are summed in the fixed order of A's row and B's
 * rows, so the result is bitwise the same for any thread count.
 *
 * The fitted state of both families is W in the scoring layout: row i holds the items that
 * history item i votes for, so a user's scores are sum_{i in history} value_i * W[i, :].
 */
#ifndef AR_ITEMSIM_H
#define AR_ITEMSIM_H

#include "models/model.h"

/* Turns the raw products of output row `row` into similarities, in place: for t < n,
 * acc[cols[t]] holds sum_u A[row, u] * B[u, cols[t]] on entry and the similarity on return.
 * cols are in first-touched order (not sorted). Called concurrently from several threads. */
typedef void (*ar__sim_finish_fn)(const void *ctx, int32_t row, const int32_t *cols, int32_t n,
                                  float *acc);

typedef struct ar__simprod {
    const ar_csr *a; /* n_rows x n_inner, rows sorted, e.g. item x user */
    const ar_csr *b; /* n_inner x n_cols, e.g. user x item */
    int32_t k;       /* neighbours kept per output row (>= 1) */
    int skip_diagonal;
    ar__sim_finish_fn finish; /* NULL = keep the raw products */
    const void *ctx;
    const ar_fit_options *o; /* threads, progress and cancel */
} ar__simprod;

/* Computes the top-k product described by p into *out (n_rows x n_cols; per row the kept
 * columns ascending). Kept entries are the k largest finite non-zero values, ties broken by the
 * lower column index. AR_ENOMEM or AR_ECANCELED (message in err). The caller frees *out with
 * ar_csr_free(). */
ar_status ar__simprod_topk(const ar__simprod *p, ar_csr **out, ar_error *err);

/* The reference the kernel is tested against: the same product through a dense n_rows x n_cols
 * double matrix, the same finish (applied to every touched column of a row), the same top-k
 * rule. Slow and memory-hungry; for tests only. */
ar_status ar__simprod_topk_naive(const ar__simprod *p, ar_csr **out);

/* A copy of x's structure with values f(row, col, value), rows spread over n_threads (0 = all;
 * f is called concurrently). The caller frees the result with ar_csr_free(). */
ar_status ar__csr_map(const ar_csr *x, float (*f)(const void *ctx, int32_t r, int32_t c, float v),
                      const void *ctx, int n_threads, ar_csr **out);

/* Rescales each row of x to sum to 1 (rows summing to 0 or less are left alone). */
void ar__csr_normalize_rows(ar_csr *x);

/* -- the shared state and vtable entries ----------------------------------------------------- */

typedef struct ar__itemsim_state {
    /* W in the scoring layout: n_items x n_items, row i = the targets item i votes for. When
     * the model was loaded from a file the arrays point into the mapping (m->map). */
    ar_csr w;
} ar__itemsim_state;

/* Takes ownership of w (its arrays move into the state; the struct itself is freed). */
ar_status ar__itemsim_adopt(ar_model *m, ar_csr *w, ar_error *err);
void ar__itemsim_score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                       int32_t n, float *scores, float *ws);
void ar__itemsim_explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                         int32_t n, int32_t item, float *weights, float *ws);
void ar__itemsim_save(const ar_model *m, ar__secw *w);
/* Loads and validates W (ar__model_csr's checks; ar_model_load has checked the parameters). */
ar_status ar__itemsim_load(ar_model *m, const ar__secfile *f);
void ar__itemsim_free_state(ar_model *m);

#endif
