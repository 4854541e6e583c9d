/*
 * csr.c -- compressed sparse row views of the interaction log.
 *
 * Layout: indptr[n_rows + 1] (int64), indices[nnz] (int32, ascending and unique within a row),
 * values[nnz] (float). The user x item view is built straight from the log, which is already
 * grouped by user: each user's items are copied, sorted and merged (values summed, or set to 1
 * when binary). Rows are independent, so the work is split over users with OpenMP; each row's
 * output position is known from a first counting pass, which keeps the result identical for
 * any thread count.
 */
#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static ar_csr *csr_alloc(int32_t n_rows, int32_t n_cols, int64_t nnz) {
    ar_csr *m = ar__calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n_rows = n_rows;
    m->n_cols = n_cols;
    m->nnz = nnz;
    m->indptr = ar__calloc((size_t)n_rows + 1, sizeof *m->indptr);
    m->indices = ar__alloc_array((size_t)(nnz ? nnz : 1), sizeof *m->indices);
    m->values = ar__alloc_array((size_t)(nnz ? nnz : 1), sizeof *m->values);
    if (!m->indptr || !m->indices || !m->values) {
        ar_csr_free(m);
        return NULL;
    }
    return m;
}

void ar_csr_free(ar_csr *m) {
    if (!m)
        return;
    ar__free(m->indptr);
    ar__free(m->indices);
    ar__free(m->values);
    ar__free(m);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Which interactions a view takes and what each contributes: those whose split is in mask
 * and, with event weights, whose event has a non-zero weight; each adds its value, 1 (binary),
 * or its event's weight. */
typedef struct selection {
    unsigned mask;
    int binary;
    const float *w; /* n_w weights indexed by event code, or NULL */
    int n_w;
    const float *iw; /* a multiplier per row of the log, or NULL */
} selection;

static inline int takes(const selection *sel, const ar_dataset *ds, int64_t r) {
    if (!((sel->mask >> ds->split[r]) & 1u))
        return 0;
    return !sel->w || (ds->event[r] < sel->n_w && sel->w[ds->event[r]] != 0.0f);
}

/* Collects the row's columns (the taken interactions of rows begin..end), sorts them and drops
 * repeats; returns the number of distinct columns. With cols_out set, stores them and their
 * values there. Values of repeated columns are summed in log order, in a second pass, so the
 * float sum does not depend on how qsort ordered equal keys. */
static int64_t merge_row(const ar_dataset *ds, int64_t begin, int64_t end, const selection *sel,
                         int32_t *buf, int32_t *cols_out, float *vals_out) {
    int64_t n = 0;
    for (int64_t r = begin; r < end; r++)
        if (takes(sel, ds, r))
            buf[n++] = ds->item[r];
    qsort(buf, (size_t)n, sizeof *buf, cmp_i32);
    int64_t w = 0;
    for (int64_t k = 0; k < n; k++)
        if (w == 0 || buf[w - 1] != buf[k])
            buf[w++] = buf[k];
    if (!cols_out)
        return w;
    for (int64_t k = 0; k < w; k++) {
        cols_out[k] = buf[k];
        vals_out[k] = sel->binary ? 1.0f : 0.0f;
    }
    if (!sel->binary) {
        for (int64_t r = begin; r < end; r++) {
            if (!takes(sel, ds, r))
                continue;
            int64_t lo = 0, hi = w - 1;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (cols_out[mid] < ds->item[r])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            float v = sel->w ? sel->w[ds->event[r]] : ds->value[r];
            vals_out[lo] += sel->iw ? v * sel->iw[r] : v;
        }
    }
    return w;
}

/* One pass over all users: counts[u + 1] = row length (m NULL), or fills m's rows. Each thread
 * sorts in its own slice of bufs (stride ints). */
static void rows_pass(const ar_dataset *ds, const selection *sel, int32_t *bufs, size_t stride,
                      int nt, int64_t *counts, ar_csr *m) {
    const int64_t *off = ds->user_offsets;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 256)
    for (int32_t u = 0; u < ds->n_users; u++) {
#ifdef _OPENMP
        int32_t *buf = bufs + (size_t)omp_get_thread_num() * stride;
#else
        int32_t *buf = bufs;
#endif
        if (m)
            merge_row(ds, off[u], off[u + 1], sel, buf, m->indices + m->indptr[u],
                      m->values + m->indptr[u]);
        else
            counts[u + 1] = merge_row(ds, off[u], off[u + 1], sel, buf, NULL, NULL);
    }
}

static ar_status build(const ar_dataset *ds, const selection *sel, ar_csr **out) {
    *out = NULL;
    int32_t nu = ds->n_users;
    const int64_t *off = ds->user_offsets;
    size_t stride = 1;
    for (int32_t u = 0; u < nu; u++)
        if ((size_t)(off[u + 1] - off[u]) > stride)
            stride = (size_t)(off[u + 1] - off[u]);
    int nt = ar__threads(0);
    int64_t *counts = ar__calloc((size_t)nu + 1, sizeof *counts);
    int32_t *bufs = ar__alloc_array((size_t)nt * stride, sizeof *bufs);
    ar_csr *m = NULL;
    if (counts && bufs) {
        rows_pass(ds, sel, bufs, stride, nt, counts, NULL);
        for (int32_t u = 0; u < nu; u++)
            counts[u + 1] += counts[u];
        if ((m = csr_alloc(nu, ds->n_items, counts[nu]))) {
            memcpy(m->indptr, counts, ((size_t)nu + 1) * sizeof *counts);
            rows_pass(ds, sel, bufs, stride, nt, NULL, m);
        }
    }
    ar__free(counts);
    ar__free(bufs);
    if (!m)
        return AR_ENOMEM;
    *out = m;
    return AR_OK;
}

ar_status ar_dataset_csr(const ar_dataset *ds, unsigned mask, int binary, ar_csr **out) {
    selection sel = {mask, binary, NULL, 0, NULL};
    return build(ds, &sel, out);
}

ar_status ar_dataset_csr_events(const ar_dataset *ds, unsigned mask, const float *weights,
                                int n_weights, ar_csr **out) {
    *out = NULL;
    for (int e = 0; e < n_weights; e++)
        if (!isfinite(weights[e]) || weights[e] < 0)
            return AR_EINVAL;
    selection sel = {mask, 0, weights, n_weights, NULL};
    return build(ds, &sel, out);
}

ar_status ar__dataset_csr_weighted(const ar_dataset *ds, unsigned mask, const float *weights,
                                   int n_weights, const float *row_weights, ar_csr **out) {
    *out = NULL;
    for (int e = 0; weights && e < n_weights; e++)
        if (!isfinite(weights[e]) || weights[e] < 0)
            return AR_EINVAL;
    selection sel = {mask, 0, weights, weights ? n_weights : 0, row_weights};
    return build(ds, &sel, out);
}

ar_status ar_csr_transpose(const ar_csr *m, ar_csr **out) {
    *out = NULL;
    ar_csr *t = csr_alloc(m->n_cols, m->n_rows, m->nnz);
    if (!t)
        return AR_ENOMEM;
    for (int64_t k = 0; k < m->nnz; k++)
        t->indptr[m->indices[k] + 1]++;
    for (int32_t c = 0; c < m->n_cols; c++)
        t->indptr[c + 1] += t->indptr[c];
    int64_t *fill = ar__alloc_array((size_t)m->n_cols + 1, sizeof *fill);
    if (!fill) {
        ar_csr_free(t);
        return AR_ENOMEM;
    }
    memcpy(fill, t->indptr, ((size_t)m->n_cols + 1) * sizeof *fill);
    /* Rows are visited in order, so each transposed row comes out sorted. */
    for (int32_t r = 0; r < m->n_rows; r++) {
        for (int64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++) {
            int64_t pos = fill[m->indices[k]]++;
            t->indices[pos] = r;
            t->values[pos] = m->values[k];
        }
    }
    ar__free(fill);
    *out = t;
    return AR_OK;
}

int ar_csr_contains(const ar_csr *m, int32_t r, int32_t c) {
    if (r < 0 || r >= m->n_rows)
        return 0;
    return ar__contains_sorted(m->indices + m->indptr[r], m->indptr[r + 1] - m->indptr[r], c);
}
