/*
 * itemsim.c -- the sparse top-k similarity product and the item-item model state shared by
 * ItemKNN (itemknn.c) and RP3beta (rp3beta.c). See itemsim.h for the contract.
 *
 * Kernel: Gustavson's row-by-row sparse product with a dense accumulator (Gustavson, "Two fast
 * algorithms for sparse matrices: multiplication and permuted transposition", ACM TOMS 1978),
 * followed per row by an exact top-k selection (a branch-free filter on block maxima, then a
 * bounded heap; ties go to the lower column):
 *
 *   a        n_rows x n_inner CSR (rows sorted), float32 values
 *   b        n_inner x n_cols CSR, float32 values
 *   per thread: acc[n_cols] float32 (the row's products) and mark[n_cols] bytes (columns the
 *            row touched), both zero between rows because each row clears what it touched;
 *            touched[n_cols + 1] int32 (the row's columns, first-touched order); cand[n_cols + 1]
 *            (value, column) pairs: the row's candidates, then in place its k best
 *   output   rows are processed in blocks; each row writes at most k entries into its own slots
 *            of a per-block staging area, which is appended to the result in row order.
 *
 * Work is sum over rows r of sum_{u in a[r]} |b[u]| multiply-adds; memory is O(threads * n_cols
 * + block * k + nnz(result)), never O(n_rows * n_cols).
 */
#include "models/itemsim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct cand {
    float v;
    int32_t c;
} cand;

/* x ranks below y: smaller value, or the same value and a higher column. */
static inline int below(cand x, cand y) {
    return x.v < y.v || (x.v == y.v && x.c > y.c);
}

/* A min-heap in rank order: h[0] is the lowest-ranked kept entry. */
static void heap_down(cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && below(h[l], h[m]))
            m = l;
        if (r < n && below(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Max-heap on the column, for sort_by_col. */
static void sift_col(cand *h, int32_t n, int32_t j) {
    for (;;) {
        int32_t l = 2 * j + 1, m = j;
        if (l < n && h[l].c > h[m].c)
            m = l;
        if (l + 1 < n && h[l + 1].c > h[m].c)
            m = l + 1;
        if (m == j)
            return;
        cand t = h[j];
        h[j] = h[m];
        h[m] = t;
        j = m;
    }
}

/* Sorts h[0..n) by column ascending in place (heapsort: glibc's qsort may call malloc). */
static void sort_by_col(cand *h, int32_t n) {
    for (int32_t i = n / 2 - 1; i >= 0; i--)
        sift_col(h, n, i);
    for (int32_t end = n - 1; end > 0; end--) {
        cand t = h[0];
        h[0] = h[end];
        h[end] = t;
        sift_col(h, end, 0);
    }
}

typedef struct worker {
    float *acc;          /* n_cols, all zero between rows */
    unsigned char *mark; /* n_cols, all zero between rows */
    int32_t *touched;    /* n_cols + 1 */
    cand *cand;          /* n_cols + 1: the row's candidates, then its k best */
} worker;

/* One output row: products, finish, selection. Writes *n_out <= k entries sorted by column. */
static void one_row(const ar__simprod *p, worker *w, int32_t r, int32_t *out_c, float *out_v,
                    int32_t *n_out) {
    const ar_csr *a = p->a, *b = p->b;
    float *acc = w->acc;
    unsigned char *mark = w->mark;
    int32_t *touched = w->touched;
    /* Locals, not b->..., inside the loop: stores through the byte array `mark` may alias
     * anything, which would make the compiler reload every field on each iteration. */
    const int64_t *bp = b->indptr;
    const int32_t *bc = b->indices;
    const float *bv = b->values;
    const int64_t ie = a->indptr[r + 1];
    int32_t nt = 0;
    for (int64_t i = a->indptr[r]; i < ie; i++) {
        const int32_t u = a->indices[i];
        const float av = a->values[i];
        const int64_t je = bp[u + 1];
        /* Branch-free: every column is written to touched[nt], which only advances the first
         * time the column is seen, so the unpredictable "new column?" test costs no jumps. */
        for (int64_t j = bp[u]; j < je; j++) {
            const int32_t c = bc[j];
            touched[nt] = c;
            nt += mark[c] == 0;
            mark[c] = 1;
            acc[c] += av * bv[j];
        }
    }
    if (p->finish && nt)
        p->finish(p->ctx, r, touched, nt, acc);
    /* Compact the candidates (clearing the accumulator for the next row), then keep the k best
     * in place: a heap of the first k, which later candidates replace when they rank above its
     * lowest entry. */
    cand *all = w->cand;
    int32_t m = 0;
    for (int32_t t = 0; t < nt; t++) {
        const int32_t c = touched[t];
        const float v = acc[c];
        acc[c] = 0;
        mark[c] = 0;
        if ((p->skip_diagonal && c == r) || v == 0 || !isfinite(v))
            continue;
        all[m].v = v;
        all[m++].c = c;
    }
    const int32_t k = p->k;
    while (m >= 4 * (int64_t)k) {
        /* Split the candidates into k blocks: the smallest block maximum t is a lower bound on
         * the k-th best value (the k maxima are k entries >= t), so entries below t can never be
         * kept. Repeated while it pays, this branch-free filter leaves few survivors for the
         * heap, which would otherwise see many replacements in a popular item's row. */
        float t = INFINITY;
        for (int64_t blk = 0; blk < k; blk++) {
            int64_t lo = blk * m / k, hi = (blk + 1) * m / k;
            float mx = all[lo].v;
            for (int64_t i = lo + 1; i < hi; i++)
                mx = all[i].v > mx ? all[i].v : mx;
            t = mx < t ? mx : t;
        }
        int32_t keep = 0;
        for (int32_t i = 0; i < m; i++) {
            all[keep] = all[i];
            keep += all[i].v >= t;
        }
        if (keep > m - m / 8) /* under 1/8 removed: ties or a flat tail; let the heap finish */
            m = keep, keep = -1;
        else
            m = keep;
        if (keep < 0)
            break;
    }
    if (m > k) {
        for (int32_t i = k / 2 - 1; i >= 0; i--)
            heap_down(all, k, i);
        for (int32_t i = k; i < m; i++)
            if (below(all[0], all[i])) {
                all[0] = all[i];
                heap_down(all, k, 0);
            }
        m = k;
    }
    sort_by_col(all, m);
    for (int32_t t = 0; t < m; t++) {
        out_c[t] = all[t].c;
        out_v[t] = all[t].v;
    }
    *n_out = m;
}

static ar_csr *csr_new(int32_t rows, int32_t cols) {
    ar_csr *m = ar__calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n_rows = rows;
    m->n_cols = cols;
    m->indptr = ar__calloc((size_t)rows + 1, sizeof *m->indptr);
    if (!m->indptr) {
        ar__free(m);
        return NULL;
    }
    return m;
}

ar_status ar__simprod_topk(const ar__simprod *p, ar_csr **out, ar_error *err) {
    *out = NULL;
    const ar_csr *a = p->a, *b = p->b;
    const int32_t n_rows = a->n_rows, n_cols = b->n_cols, k = p->k;
    if (a->n_cols != b->n_rows || k < 1)
        return ar__fail(err, AR_EINVAL, "similarity: shapes %dx%d and %dx%d, k %d", a->n_rows,
                        a->n_cols, b->n_rows, b->n_cols, k);
    const int nth = ar__threads(p->o ? p->o->n_threads : 0);
    /* Rows per block: enough to keep threads busy, few enough that the staging area stays
     * around 4M entries whatever k is. */
    int32_t block = (int32_t)((1 << 22) / k);
    if (block > 4096)
        block = 4096;
    if (block < 64)
        block = 64;
    if (block > n_rows)
        block = n_rows > 0 ? n_rows : 1;

    ar_csr *res = csr_new(n_rows, n_cols);
    worker *ws = ar__calloc((size_t)nth, sizeof *ws);
    int32_t *cnt = ar__alloc_array((size_t)block, sizeof *cnt);
    int32_t *st_c = ar__alloc_array((size_t)block * (size_t)k, sizeof *st_c);
    float *st_v = ar__alloc_array((size_t)block * (size_t)k, sizeof *st_v);
    int ok = res && ws && cnt && st_c && st_v;
    for (int t = 0; ok && t < nth; t++) {
        ws[t].acc = ar__calloc((size_t)n_cols + 1, sizeof *ws[t].acc);
        ws[t].mark = ar__calloc((size_t)n_cols + 1, sizeof *ws[t].mark);
        ws[t].touched = ar__alloc_array((size_t)n_cols + 1, sizeof *ws[t].touched);
        ws[t].cand = ar__alloc_array((size_t)n_cols + 1, sizeof *ws[t].cand);
        ok = ws[t].acc && ws[t].mark && ws[t].touched && ws[t].cand;
    }
    ar_status st = ok ? AR_OK : AR_ENOMEM;
    size_t cap_i = 0, cap_v = 0;
    for (int32_t r0 = 0; !st && r0 < n_rows; r0 += block) {
        int32_t r1 = r0 + block < n_rows ? r0 + block : n_rows;
#pragma omp parallel for num_threads(nth) schedule(dynamic, 16)
        for (int32_t r = r0; r < r1; r++) {
#ifdef _OPENMP
            worker *w = &ws[omp_get_thread_num()];
#else
            worker *w = &ws[0];
#endif
            size_t off = (size_t)(r - r0) * (size_t)k;
            one_row(p, w, r, st_c + off, st_v + off, &cnt[r - r0]);
        }
        /* Append the block in row order. */
        int64_t need = res->nnz;
        for (int32_t r = r0; r < r1; r++)
            need += cnt[r - r0];
        if ((st = ar__grow((void **)&res->indices, &cap_i, (size_t)need, sizeof *res->indices)))
            break;
        if ((st = ar__grow((void **)&res->values, &cap_v, (size_t)need, sizeof *res->values)))
            break;
        for (int32_t r = r0; r < r1; r++) {
            size_t off = (size_t)(r - r0) * (size_t)k;
            int32_t c = cnt[r - r0];
            memcpy(res->indices + res->nnz, st_c + off, (size_t)c * sizeof *st_c);
            memcpy(res->values + res->nnz, st_v + off, (size_t)c * sizeof *st_v);
            res->nnz += c;
            res->indptr[r + 1] = res->nnz;
        }
        if (ar__canceled(p->o))
            st = AR_ECANCELED;
        else if (p->o && p->o->progress && p->o->progress(p->o->progress_data, r1, n_rows))
            st = AR_ECANCELED;
    }
    for (int t = 0; ws && t < nth; t++) {
        ar__free(ws[t].acc);
        ar__free(ws[t].mark);
        ar__free(ws[t].touched);
        ar__free(ws[t].cand);
    }
    ar__free(ws);
    ar__free(cnt);
    ar__free(st_c);
    ar__free(st_v);
    if (!st && res->nnz == 0) {
        /* Keep the arrays non-NULL so the state is uniform. */
        res->indices = ar__malloc(sizeof *res->indices);
        res->values = ar__malloc(sizeof *res->values);
        if (!res->indices || !res->values)
            st = AR_ENOMEM;
    }
    if (st) {
        ar_csr_free(res);
        return st == AR_ECANCELED ? ar__fail(err, st, "similarity: canceled")
                                  : ar__fail(err, st, "similarity: out of memory");
    }
    *out = res;
    return AR_OK;
}

ar_status ar__simprod_topk_naive(const ar__simprod *p, ar_csr **out) {
    *out = NULL;
    const ar_csr *a = p->a, *b = p->b;
    const int32_t n_rows = a->n_rows, n_cols = b->n_cols;
    size_t cells = (size_t)n_rows * (size_t)n_cols;
    double *d = ar__calloc(cells ? cells : 1, sizeof *d);
    unsigned char *hit = ar__calloc(cells ? cells : 1, 1);
    int32_t *cols = ar__alloc_array((size_t)n_cols + 1, sizeof *cols);
    float *acc = ar__alloc_array((size_t)n_cols + 1, sizeof *acc);
    cand *all = ar__alloc_array((size_t)n_cols + 1, sizeof *all);
    ar_csr *res = csr_new(n_rows, n_cols);
    size_t maxnnz = (size_t)n_rows * (size_t)(p->k < n_cols ? p->k : n_cols);
    if (res) {
        res->indices = ar__alloc_array(maxnnz + 1, sizeof *res->indices);
        res->values = ar__alloc_array(maxnnz + 1, sizeof *res->values);
    }
    if (!d || !hit || !cols || !acc || !all || !res || !res->indices || !res->values) {
        ar__free(d), ar__free(hit), ar__free(cols), ar__free(acc), ar__free(all);
        ar_csr_free(res);
        return AR_ENOMEM;
    }
    /* D = A B by the definition of the matrix product, in double. */
    for (int32_t r = 0; r < n_rows; r++)
        for (int64_t i = a->indptr[r]; i < a->indptr[r + 1]; i++)
            for (int64_t j = b->indptr[a->indices[i]]; j < b->indptr[a->indices[i] + 1]; j++) {
                size_t cell = (size_t)r * (size_t)n_cols + (size_t)b->indices[j];
                d[cell] += (double)a->values[i] * (double)b->values[j];
                hit[cell] = 1;
            }
    for (int32_t r = 0; r < n_rows; r++) {
        int32_t n = 0;
        for (int32_t c = 0; c < n_cols; c++)
            if (hit[(size_t)r * (size_t)n_cols + (size_t)c]) {
                cols[n++] = c;
                acc[c] = (float)d[(size_t)r * (size_t)n_cols + (size_t)c];
            }
        if (p->finish && n)
            p->finish(p->ctx, r, cols, n, acc);
        /* Top-k by sorting every candidate: value descending, then column ascending. */
        int32_t m = 0;
        for (int32_t t = 0; t < n; t++) {
            int32_t c = cols[t];
            if ((p->skip_diagonal && c == r) || acc[c] == 0 || !isfinite(acc[c]))
                continue;
            all[m].v = acc[c];
            all[m++].c = c;
        }
        for (int32_t i = 1; i < m; i++) /* insertion sort: best first */
            for (int32_t j = i; j > 0 && below(all[j - 1], all[j]); j--) {
                cand t = all[j];
                all[j] = all[j - 1];
                all[j - 1] = t;
            }
        if (m > p->k)
            m = p->k;
        sort_by_col(all, m);
        for (int32_t t = 0; t < m; t++) {
            res->indices[res->nnz] = all[t].c;
            res->values[res->nnz++] = all[t].v;
        }
        res->indptr[r + 1] = res->nnz;
    }
    ar__free(d), ar__free(hit), ar__free(cols), ar__free(acc), ar__free(all);
    *out = res;
    return AR_OK;
}

ar_status ar__csr_map(const ar_csr *x, float (*f)(const void *ctx, int32_t r, int32_t c, float v),
                      const void *ctx, int n_threads, ar_csr **out) {
    *out = NULL;
    ar_csr *m = csr_new(x->n_rows, x->n_cols);
    if (!m)
        return AR_ENOMEM;
    size_t nnz = (size_t)x->nnz;
    m->nnz = x->nnz;
    m->indices = ar__alloc_array(nnz + 1, sizeof *m->indices);
    m->values = ar__alloc_array(nnz + 1, sizeof *m->values);
    if (!m->indices || !m->values) {
        ar_csr_free(m);
        return AR_ENOMEM;
    }
    memcpy(m->indptr, x->indptr, ((size_t)x->n_rows + 1) * sizeof *m->indptr);
    memcpy(m->indices, x->indices, nnz * sizeof *m->indices);
#pragma omp parallel for num_threads(ar__threads(n_threads)) schedule(static, 256)
    for (int32_t r = 0; r < x->n_rows; r++)
        for (int64_t i = x->indptr[r]; i < x->indptr[r + 1]; i++)
            m->values[i] = f(ctx, r, x->indices[i], x->values[i]);
    *out = m;
    return AR_OK;
}

void ar__csr_normalize_rows(ar_csr *x) {
    for (int32_t r = 0; r < x->n_rows; r++) {
        double sum = 0;
        for (int64_t q = x->indptr[r]; q < x->indptr[r + 1]; q++)
            sum += x->values[q];
        if (sum > 0)
            for (int64_t q = x->indptr[r]; q < x->indptr[r + 1]; q++)
                x->values[q] = (float)(x->values[q] / sum);
    }
}

/* -- state ------------------------------------------------------------------------------------ */

ar_status ar__itemsim_adopt(ar_model *m, ar_csr *w, ar_error *err) {
    ar__itemsim_state *s = ar__calloc(1, sizeof *s);
    if (!s) {
        ar_csr_free(w);
        return ar__fail(err, AR_ENOMEM, "%s: out of memory", m->impl->name);
    }
    s->w = *w;
    ar__free(w);
    m->state = s;
    return AR_OK;
}

void ar__itemsim_score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                       int32_t n, float *scores, float *ws) {
    (void)user, (void)ws;
    const ar_csr *w = &((const ar__itemsim_state *)m->state)->w;
    memset(scores, 0, (size_t)m->n_items * sizeof *scores);
    for (int32_t j = 0; j < n; j++) {
        float v = values ? values[j] : 1.0f;
        int32_t i = items[j];
        for (int64_t p = w->indptr[i]; p < w->indptr[i + 1]; p++)
            scores[w->indices[p]] += v * w->values[p];
    }
}

void ar__itemsim_explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                         int32_t n, int32_t item, float *weights, float *ws) {
    (void)user, (void)ws;
    const ar_csr *w = &((const ar__itemsim_state *)m->state)->w;
    for (int32_t j = 0; j < n; j++) {
        float v = values ? values[j] : 1.0f;
        int64_t lo = w->indptr[items[j]], hi = w->indptr[items[j] + 1];
        weights[j] = 0;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (w->indices[mid] < item)
                lo = mid + 1;
            else if (w->indices[mid] > item)
                hi = mid;
            else {
                weights[j] = v * w->values[mid];
                break;
            }
        }
    }
}

enum { TAG_W = AR__MODEL_TAG_STATE };

void ar__itemsim_save(const ar_model *m, ar__secw *w) {
    ar__model_csr_save(w, TAG_W, &((const ar__itemsim_state *)m->state)->w);
}

ar_status ar__itemsim_load(ar_model *m, const ar__secfile *f) {
    ar__itemsim_state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return AR_ENOMEM;
    m->state = s;
    return ar__model_csr(f, TAG_W, m->n_items, m->n_items, &s->w);
}

void ar__itemsim_free_state(ar_model *m) {
    ar__itemsim_state *s = m->state;
    if (!m->map) {
        ar__free(s->w.indptr);
        ar__free(s->w.indices);
        ar__free(s->w.values);
    }
    ar__free(s);
}
