/* Unit tests for the item-item models (src/models/itemsim.c, itemknn.c, rp3beta.c): the sparse
 * top-k product against its dense reference, ItemKNN's and RP3beta's similarity matrices
 * against naive dense implementations of their formulas written here from the papers, bitwise
 * equality of 1 and 2 threads, save / load round trips, rejection of corrupt, truncated and
 * forged model files, and explanations that add up to the score. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"
#include "models/itemsim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -- helpers ----------------------------------------------------------------------------------- */

static uint64_t rng_state;

static double uniform(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A random sparse matrix: each cell present with probability density, values in [0.5, 3). */
static ar_csr *random_csr(int32_t rows, int32_t cols, double density) {
    ar_csr *m = calloc(1, sizeof *m);
    m->n_rows = rows;
    m->n_cols = cols;
    m->indptr = calloc((size_t)rows + 1, sizeof *m->indptr);
    m->indices = malloc(((size_t)rows * (size_t)cols + 1) * sizeof *m->indices);
    m->values = malloc(((size_t)rows * (size_t)cols + 1) * sizeof *m->values);
    for (int32_t r = 0; r < rows; r++) {
        for (int32_t c = 0; c < cols; c++)
            if (uniform() < density) {
                m->indices[m->nnz] = c;
                m->values[m->nnz++] = (float)(0.5 + 2.5 * uniform());
            }
        m->indptr[r + 1] = m->nnz;
    }
    return m;
}

static void free_test_csr(ar_csr *m) {
    free(m->indptr);
    free(m->indices);
    free(m->values);
    free(m);
}

static void assert_close(double got, double want, double rel, const char *what, int i, int j) {
    if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
        fail_msg("%s[%d][%d] = %.9g, expected %.9g", what, i, j, got, want);
}

/* The same sparsity pattern, values within rel. */
static void assert_csr_close(const ar_csr *got, const ar_csr *want, double rel) {
    assert_int_equal(got->n_rows, want->n_rows);
    assert_int_equal(got->nnz, want->nnz);
    for (int32_t r = 0; r <= got->n_rows; r++)
        assert_int_equal(got->indptr[r], want->indptr[r]);
    for (int32_t r = 0; r < got->n_rows; r++)
        for (int64_t p = got->indptr[r]; p < got->indptr[r + 1]; p++) {
            assert_int_equal(got->indices[p], want->indices[p]);
            assert_close(got->values[p], want->values[p], rel, "value", r, got->indices[p]);
        }
}

static void assert_csr_identical(const ar_csr *a, const ar_csr *b) {
    assert_int_equal(a->nnz, b->nnz);
    assert_memory_equal(a->indptr, b->indptr, ((size_t)a->n_rows + 1) * sizeof *a->indptr);
    assert_memory_equal(a->indices, b->indices, (size_t)a->nnz * sizeof *a->indices);
    assert_memory_equal(a->values, b->values, (size_t)a->nnz * sizeof *a->values);
}

/* A small random dataset: `users` users, each with ~per items (repeats merge, summing values),
 * values in [0.5, 3) so that similarity ties are improbable. */
static ar_dataset *random_dataset(int32_t users, int32_t items, int per, uint64_t seed) {
    rng_state = seed;
    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    char u[16], it[16];
    for (int32_t i = 0; i < items; i++) { /* every item exists, in index order */
        snprintf(it, sizeof it, "%d", i);
        assert_int_equal(ar_builder_touch(b, AR_ITEMS, it), AR_OK);
    }
    for (int32_t x = 0; x < users; x++) {
        snprintf(u, sizeof u, "%d", x);
        int n = 1 + (int)(uniform() * 2 * per);
        for (int j = 0; j < n; j++) {
            /* Skewed popularity: low indices are popular. */
            int32_t i = (int32_t)(items * uniform() * uniform());
            snprintf(it, sizeof it, "%d", i);
            assert_int_equal(ar_builder_add(b, u, it, j, AR_EVENT_INTERACTION,
                                            (float)(0.5 + 2.5 * uniform()), AR_SPLIT_TRAIN),
                             AR_OK);
        }
    }
    ar_dataset *ds;
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_OK);
    ar_builder_free(b);
    return ds;
}

static ar_model *fit_model(const ar_dataset *ds, const char *name, const char *json, int threads) {
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create(name, &m), AR_OK);
    if (json && ar_model_set_json(m, json, &err))
        fail_msg("%s", err.msg);
    ar_fit_options o = ar_fit_options_default();
    o.n_threads = threads;
    if (ar_model_fit(m, ds, &o, &err))
        fail_msg("%s", err.msg);
    return m;
}

/* Row i of the scoring matrix W, read through the public API: the scores of a user whose
 * history is item i alone (value 1). */
static void w_row(const ar_model *m, int32_t i, float *out) {
    float one = 1;
    assert_int_equal(ar_model_score(m, -1, &i, &one, 1, out), AR_OK);
}

/* Keeps the k largest entries of each row of a dense n x n matrix (ties: lower column; zeros
 * and the diagonal never kept) and zeroes the rest. */
static void dense_topk_rows(double *s, int32_t n, int32_t k) {
    double *row = malloc((size_t)n * sizeof *row);
    for (int32_t r = 0; r < n; r++) {
        double *x = s + (size_t)r * (size_t)n;
        x[r] = 0;
        memcpy(row, x, (size_t)n * sizeof *row);
        for (int32_t c = 0; c < n; c++) {
            int32_t better = 0; /* entries that rank above (r, c) */
            for (int32_t d = 0; d < n; d++)
                better += row[d] != 0 && (row[d] > row[c] || (row[d] == row[c] && d < c));
            if (better >= k)
                x[c] = 0;
        }
    }
    free(row);
}

/* The dense user x item matrix of ds's training interactions. */
static double *dense_x(const ar_dataset *ds) {
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    double *d = calloc((size_t)x->n_rows * (size_t)x->n_cols, sizeof *d);
    for (int32_t u = 0; u < x->n_rows; u++)
        for (int64_t p = x->indptr[u]; p < x->indptr[u + 1]; p++)
            d[(size_t)u * (size_t)x->n_cols + (size_t)x->indices[p]] = x->values[p];
    ar_csr_free(x);
    return d;
}

/* -- the kernel against its dense reference ---------------------------------------------------- */

/* A finish that depends on row and column, so a mix-up of either shows. */
static void test_finish(const void *ctx, int32_t row, const int32_t *cols, int32_t n, float *acc) {
    (void)ctx;
    for (int32_t t = 0; t < n; t++)
        acc[cols[t]] /= (float)(1 + row % 3) * (float)(2 + cols[t] % 5);
}

static void test_kernel_vs_naive(void **state) {
    (void)state;
    rng_state = 7;
    ar_csr *a = random_csr(37, 53, 0.15);
    ar_csr *b = random_csr(53, 37, 0.2);
    ar_fit_options o1 = ar_fit_options_default(), o2 = o1;
    o1.n_threads = 1;
    o2.n_threads = 2;
    int32_t ks[] = {1, 4, 37};
    for (int ki = 0; ki < 3; ki++)
        for (int fin = 0; fin < 2; fin++)
            for (int diag = 0; diag < 2; diag++) {
                ar__simprod p = {.a = a,
                                 .b = b,
                                 .k = ks[ki],
                                 .skip_diagonal = diag,
                                 .finish = fin ? test_finish : NULL,
                                 .o = &o1};
                ar_csr *fast, *fast2, *ref;
                ar_error err;
                assert_int_equal(ar__simprod_topk(&p, &fast, &err), AR_OK);
                p.o = &o2;
                assert_int_equal(ar__simprod_topk(&p, &fast2, &err), AR_OK);
                assert_int_equal(ar__simprod_topk_naive(&p, &ref), AR_OK);
                assert_csr_close(fast, ref, 1e-5);
                assert_csr_identical(fast, fast2);
                for (int32_t r = 0; r < fast->n_rows; r++)
                    assert_true(fast->indptr[r + 1] - fast->indptr[r] <= ks[ki]);
                ar_csr_free(fast);
                ar_csr_free(fast2);
                ar_csr_free(ref);
            }
    /* Shapes that do not multiply, and k < 1, are refused. */
    ar__simprod bad = {.a = a, .b = a, .k = 3};
    ar_csr *out;
    ar_error err;
    assert_int_equal(ar__simprod_topk(&bad, &out, &err), AR_EINVAL);
    assert_null(out);
    bad.b = b;
    bad.k = 0;
    assert_int_equal(ar__simprod_topk(&bad, &out, &err), AR_EINVAL);
    free_test_csr(a);
    free_test_csr(b);
}

/* A progress callback that asks to stop. */
static int stop_now(void *ud, int64_t done, int64_t total) {
    (void)ud, (void)done, (void)total;
    return 1;
}

static void test_cancel(void **state) {
    (void)state;
    ar_dataset *ds = random_dataset(30, 20, 4, 5);
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create("itemknn", &m), AR_OK);
    ar_fit_options o = ar_fit_options_default();
    o.progress = stop_now;
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_ECANCELED);
    assert_false(ar_model_is_fitted(m));
    volatile int flag = 1;
    o.progress = NULL;
    o.cancel = &flag;
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_ECANCELED);
    ar_model_free(m);
    ar_dataset_free(ds);
}

/* -- ItemKNN against the formulas of its file header ----------------------------------------- */

/* W[i][t] (scoring layout) of ItemKNN, computed densely from the definitions. */
static double *itemknn_reference(const ar_dataset *ds, int sim, double alpha, int weighting,
                                 double k1, double bb, double shrink, int32_t k, double q,
                                 int normalize) {
    const int32_t nu = ar_dataset_n_users(ds), ni = ar_dataset_n_items(ds);
    double *x = dense_x(ds);
    double *y = calloc((size_t)ni * (size_t)nu, sizeof *y); /* item x user */
    double total = 0;
    for (size_t c = 0; c < (size_t)nu * (size_t)ni; c++)
        total += x[c];
    for (int32_t i = 0; i < ni; i++) {
        double len = 0;
        for (int32_t u = 0; u < nu; u++)
            len += x[(size_t)u * (size_t)ni + (size_t)i];
        for (int32_t u = 0; u < nu; u++) {
            double v = x[(size_t)u * (size_t)ni + (size_t)i], df = 0;
            if (v == 0)
                continue;
            for (int32_t j = 0; j < ni; j++)
                df += x[(size_t)u * (size_t)ni + (size_t)j] != 0;
            double idf = log((ni + 1.0) / (df + 1.0));
            double w = v;
            if (weighting == 1)
                w = sqrt(v) * idf;
            else if (weighting == 2)
                w = v * (k1 + 1) / (k1 * ((1 - bb) + bb * len / (total / ni)) + v) * idf;
            y[(size_t)i * (size_t)nu + (size_t)u] = w;
        }
    }
    double *s = calloc((size_t)ni * (size_t)ni, sizeof *s); /* s[t][i]: target t, neighbour i */
    for (int32_t t = 0; t < ni; t++)
        for (int32_t i = 0; i < ni; i++) {
            double dot = 0, st = 0, si = 0;
            for (int32_t u = 0; u < nu; u++) {
                double a = y[(size_t)t * (size_t)nu + (size_t)u];
                double b = y[(size_t)i * (size_t)nu + (size_t)u];
                dot += a * b;
                st += a * a;
                si += b * b;
            }
            if (dot == 0)
                continue;
            double v;
            if (sim == 0)
                v = dot / (sqrt(st) * sqrt(si) + shrink);
            else if (sim == 1)
                v = dot / (pow(st, alpha) * pow(si, 1 - alpha) + shrink);
            else
                v = dot / (st + si - dot + shrink);
            s[(size_t)t * (size_t)ni + (size_t)i] = v;
        }
    dense_topk_rows(s, ni, k);
    double *w = calloc((size_t)ni * (size_t)ni, sizeof *w);
    for (int32_t t = 0; t < ni; t++)
        for (int32_t i = 0; i < ni; i++)
            w[(size_t)i * (size_t)ni + (size_t)t] = pow(s[(size_t)t * (size_t)ni + (size_t)i], q);
    for (int32_t i = 0; normalize && i < ni; i++) {
        double sum = 0;
        for (int32_t t = 0; t < ni; t++)
            sum += w[(size_t)i * (size_t)ni + (size_t)t];
        for (int32_t t = 0; sum > 0 && t < ni; t++)
            w[(size_t)i * (size_t)ni + (size_t)t] /= sum;
    }
    free(x);
    free(y);
    free(s);
    return w;
}

static void compare_w(const ar_model *m, const double *w, const char *what) {
    int32_t n = ar_model_n_items(m);
    float *row = malloc((size_t)n * sizeof *row);
    for (int32_t i = 0; i < n; i++) {
        w_row(m, i, row);
        for (int32_t j = 0; j < n; j++)
            assert_close(row[j], w[(size_t)i * (size_t)n + (size_t)j], 1e-4, what, i, j);
    }
    free(row);
}

static void test_itemknn_vs_reference(void **state) {
    (void)state;
    ar_dataset *ds = random_dataset(60, 25, 5, 11);
    static const char *sims[] = {"cosine", "asymmetric", "jaccard"};
    static const char *wts[] = {"none", "tfidf", "bm25"};
    int32_t ks[] = {4, 25};
    for (int sim = 0; sim < 3; sim++)
        for (int wt = 0; wt < 3; wt++)
            for (int ki = 0; ki < 2; ki++) {
                char json[256];
                int norm = (sim + wt + ki) % 2;
                snprintf(json, sizeof json,
                         "{\"k\": %d, \"shrink\": 3.5, \"similarity\": \"%s\", \"alpha\": 0.3, "
                         "\"weighting\": \"%s\", \"bm25_k1\": 0.9, \"bm25_b\": 0.6, "
                         "\"locality\": %g, \"normalize\": %s}",
                         ks[ki], sims[sim], wts[wt], ki ? 2.5 : 1.0, norm ? "true" : "false");
                ar_model *m = fit_model(ds, "itemknn", json, 2);
                double *w = itemknn_reference(ds, sim, sim == 1 ? 0.3 : 0.5, wt, 0.9, 0.6, 3.5,
                                              ks[ki], ki ? 2.5 : 1.0, norm);
                compare_w(m, w, json);
                free(w);
                ar_model_free(m);
            }
    ar_dataset_free(ds);
}

/* -- RP3beta against its definition ------------------------------------------------------------ */

static double *rp3beta_reference(const ar_dataset *ds, double alpha, double beta, int32_t k,
                                 int normalize) {
    const int32_t nu = ar_dataset_n_users(ds), ni = ar_dataset_n_items(ds);
    double *x = dense_x(ds);
    double *pui = calloc((size_t)nu * (size_t)ni, sizeof *pui);
    double *piu = calloc((size_t)ni * (size_t)nu, sizeof *piu);
    double *deg = calloc((size_t)ni, sizeof *deg);
    for (int32_t u = 0; u < nu; u++) {
        double sum = 0;
        for (int32_t i = 0; i < ni; i++)
            sum += x[(size_t)u * (size_t)ni + (size_t)i];
        for (int32_t i = 0; i < ni; i++) {
            double v = x[(size_t)u * (size_t)ni + (size_t)i];
            pui[(size_t)u * (size_t)ni + (size_t)i] = v > 0 ? pow(v / sum, alpha) : 0;
        }
    }
    for (int32_t i = 0; i < ni; i++) {
        double sum = 0;
        for (int32_t u = 0; u < nu; u++) {
            sum += x[(size_t)u * (size_t)ni + (size_t)i];
            deg[i] += x[(size_t)u * (size_t)ni + (size_t)i] != 0;
        }
        for (int32_t u = 0; u < nu; u++) {
            double v = x[(size_t)u * (size_t)ni + (size_t)i];
            piu[(size_t)i * (size_t)nu + (size_t)u] = v > 0 ? pow(v / sum, alpha) : 0;
        }
    }
    double *w = calloc((size_t)ni * (size_t)ni, sizeof *w);
    for (int32_t i = 0; i < ni; i++)
        for (int32_t j = 0; j < ni; j++) {
            double s = 0;
            for (int32_t u = 0; u < nu; u++)
                s += piu[(size_t)i * (size_t)nu + (size_t)u] *
                     pui[(size_t)u * (size_t)ni + (size_t)j];
            w[(size_t)i * (size_t)ni + (size_t)j] = s > 0 ? s / pow(deg[j], beta) : 0;
        }
    dense_topk_rows(w, ni, k);
    if (normalize)
        for (int32_t i = 0; i < ni; i++) {
            double s = 0;
            for (int32_t j = 0; j < ni; j++)
                s += w[(size_t)i * (size_t)ni + (size_t)j];
            for (int32_t j = 0; s > 0 && j < ni; j++)
                w[(size_t)i * (size_t)ni + (size_t)j] /= s;
        }
    free(x);
    free(pui);
    free(piu);
    free(deg);
    return w;
}

static void test_rp3beta_vs_reference(void **state) {
    (void)state;
    ar_dataset *ds = random_dataset(60, 25, 5, 13);
    int32_t ks[] = {5, 25};
    for (int ki = 0; ki < 2; ki++)
        for (int norm = 0; norm < 2; norm++) {
            char json[160];
            snprintf(json, sizeof json,
                     "{\"k\": %d, \"alpha\": 0.8, \"beta\": 0.35, \"normalize\": %s}", ks[ki],
                     norm ? "true" : "false");
            ar_model *m = fit_model(ds, "rp3beta", json, 2);
            double *w = rp3beta_reference(ds, 0.8, 0.35, ks[ki], norm);
            compare_w(m, w, json);
            free(w);
            ar_model_free(m);
        }
    ar_dataset_free(ds);
}

/* -- threads, persistence, explanations ------------------------------------------------------- */

static const char *configs[][2] = {
    {"itemknn", "{\"k\": 20, \"similarity\": \"cosine\"}"},
    {"itemknn", "{\"k\": 15, \"similarity\": \"asymmetric\", \"alpha\": 0.7, \"weighting\": "
                "\"bm25\"}"},
    {"itemknn", "{\"k\": 30, \"similarity\": \"jaccard\", \"weighting\": \"tfidf\"}"},
    {"rp3beta", "{\"k\": 25, \"alpha\": 0.9, \"beta\": 0.4, \"normalize\": true}"},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

/* Scores every training user; the caller frees the n_users x n_items result. */
static float *all_scores(const ar_model *m, const ar_dataset *ds) {
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int32_t nu = x->n_rows, ni = ar_model_n_items(m);
    float *s = malloc((size_t)nu * (size_t)ni * sizeof *s);
    int32_t *users = malloc((size_t)nu * sizeof *users);
    for (int32_t u = 0; u < nu; u++)
        users[u] = u;
    assert_int_equal(ar_model_score_batch(m, x, users, nu, s), AR_OK);
    free(users);
    ar_csr_free(x);
    return s;
}

static void test_threads_bitwise(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(400, 300, 15, 8, 3, &ds), AR_OK);
    size_t n = (size_t)ar_dataset_n_users(ds) * (size_t)ar_dataset_n_items(ds);
    for (size_t c = 0; c < N_CONFIGS; c++) {
        ar_model *m1 = fit_model(ds, configs[c][0], configs[c][1], 1);
        ar_model *m2 = fit_model(ds, configs[c][0], configs[c][1], 2);
        const ar_csr *w1 = &((const ar__itemsim_state *)m1->state)->w;
        const ar_csr *w2 = &((const ar__itemsim_state *)m2->state)->w;
        assert_true(w1->nnz > 0);
        assert_csr_identical(w1, w2);
        float *s1 = all_scores(m1, ds), *s2 = all_scores(m2, ds);
        assert_memory_equal(s1, s2, n * sizeof *s1);
        free(s1);
        free(s2);
        ar_model_free(m1);
        ar_model_free(m2);
    }
    ar_dataset_free(ds);
}

static char tmpdir[64];

static int make_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ar_test_knn_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_save_load(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(200, 150, 12, 6, 4, &ds), AR_OK);
    size_t n = (size_t)ar_dataset_n_users(ds) * (size_t)ar_dataset_n_items(ds);
    char path[128];
    snprintf(path, sizeof path, "%s/model.armd", tmpdir);
    for (size_t c = 0; c < N_CONFIGS; c++) {
        ar_model *m = fit_model(ds, configs[c][0], configs[c][1], 2), *l;
        ar_error err;
        if (ar_model_save(m, path, &err))
            fail_msg("%s", err.msg);
        if (ar_model_load(path, &l, &err))
            fail_msg("%s", err.msg);
        assert_string_equal(ar_model_name(l), configs[c][0]);
        assert_int_equal(ar_model_check_dataset(l, ds, &err), AR_OK);
        char *p1 = ar_model_params_json(m), *p2 = ar_model_params_json(l);
        assert_string_equal(p1, p2);
        ar_free_array(p1);
        ar_free_array(p2);
        float *s1 = all_scores(m, ds), *s2 = all_scores(l, ds);
        assert_memory_equal(s1, s2, n * sizeof *s1);
        free(s1);
        free(s2);
        /* Recommendations and explanations from the mapped file work too. */
        int32_t hist[] = {0, 3, 7}, top[5], n_top, ex[3];
        float sc[5], wt[3];
        assert_int_equal(ar_model_recommend(l, -1, hist, NULL, 3, 5, NULL, top, sc, &n_top), AR_OK);
        assert_true(n_top > 0);
        assert_int_equal(ar_model_explain(l, -1, hist, NULL, 3, top[0], 3, ex, wt, &n_top), AR_OK);
        ar_model_free(m);
        ar_model_free(l);
    }
    ar_dataset_free(ds);
}

static void write_file(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*n);
    assert_int_equal(fread(d, 1, *n, f), *n);
    fclose(f);
    return d;
}

static void expect_corrupt(const char *path) {
    ar_model *l = (ar_model *)1;
    ar_error err;
    err.msg[0] = 0;
    assert_int_equal(ar_model_load(path, &l, &err), AR_ECORRUPT);
    assert_null(l);
    assert_non_null(strstr(err.msg, path));
}

/* Writes a model file with a valid checksum whose content lies: the generic header sections as
 * model.c writes them (tag 1 name, tag 2 parameters) and the given state sections. */
static void forge(const char *path, const char *name, const double *params, int n_params,
                  int32_t n_items, const int64_t *indptr, const int32_t *indices,
                  const float *values, int64_t nnz) {
    static const char magic[8] = {'A', 'G', 'R', 'E', 'C', 'M', 'D', '1'};
    ar__secw w = {0};
    ar__secw_add(&w, 1, 1, strlen(name) + 1, 0, name);
    ar__secw_add(&w, 2, 8, (uint64_t)n_params, 0, params);
    ar__secw_add(&w, AR__MODEL_TAG_STATE, 8, (uint64_t)n_items + 1, 0, indptr);
    ar__secw_add(&w, AR__MODEL_TAG_STATE + 1, 4, (uint64_t)nnz, 0, indices);
    ar__secw_add(&w, AR__MODEL_TAG_STATE + 2, 4, (uint64_t)nnz, 0, values);
    unsigned char extra[AR__SECFILE_EXTRA] = {0};
    int32_t nu = 2;
    memcpy(extra, &nu, 4);
    memcpy(extra + 4, &n_items, 4);
    ar_error err;
    assert_int_equal(ar__secw_write(&w, path, magic, AR_MODEL_FORMAT_VERSION, extra, &err), AR_OK);
}

static void test_corrupt_files(void **state) {
    (void)state;
    ar_dataset *ds = random_dataset(40, 20, 4, 17);
    ar_model *m = fit_model(ds, "itemknn", "{\"k\": 5}", 1);
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/good.armd", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.armd", tmpdir);
    ar_error err;
    assert_int_equal(ar_model_save(m, path, &err), AR_OK);
    size_t n;
    unsigned char *d = read_file(path, &n);

    /* Truncated at several points. */
    size_t cuts[] = {0, 10, 64, n / 2, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_file(bad, d, cuts[c]);
        expect_corrupt(bad);
    }
    /* One flipped byte in the state (the checksum catches it). */
    d[n - 5] ^= 0x40;
    write_file(bad, d, n);
    expect_corrupt(bad);
    d[n - 5] ^= 0x40;
    /* A foreign file. */
    unsigned char junk[256];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 37);
    write_file(bad, junk, sizeof junk);
    expect_corrupt(bad);

    /* Files with a valid checksum but impossible content. */
    enum { NP = 9 };
    assert_int_equal(ar_model_n_params(m), NP);
    double params[NP];
    for (int i = 0; i < NP; i++)
        params[i] = ar_model_param_def(m, i)->def;
    int64_t indptr[4] = {0, 2, 3, 4};
    int32_t idx[4] = {1, 2, 0, 1};
    float val[4] = {0.5f, 0.25f, 0.5f, 0.125f};
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4); /* a valid file first */
    ar_model *l;
    assert_int_equal(ar_model_load(bad, &l, &err), AR_OK);
    ar_model_free(l);
    idx[1] = 3; /* column out of range */
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    idx[1] = 1; /* columns out of order within a row */
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    idx[1] = 2;
    val[2] = NAN;
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    val[2] = 0.5f;
    indptr[2] = 1; /* offsets go down */
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    indptr[2] = 3;
    indptr[3] = 5; /* more entries than the sections hold */
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    indptr[3] = 4;
    params[2] = 7; /* no such similarity */
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    params[2] = 0;
    params[0] = 2.5; /* k not an integer */
    forge(bad, "itemknn", params, NP, 3, indptr, idx, val, 4);
    expect_corrupt(bad);
    free(d);
    ar_model_free(m);
    ar_dataset_free(ds);
}

static void test_explain_sums_to_score(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(120, 90, 10, 5, 6, &ds), AR_OK);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int32_t ni = ar_dataset_n_items(ds);
    float *scores = malloc((size_t)ni * sizeof *scores);
    int32_t *ex = malloc((size_t)ni * sizeof *ex);
    float *wt = malloc((size_t)ni * sizeof *wt);
    for (size_t c = 0; c < N_CONFIGS; c++) {
        ar_model *m = fit_model(ds, configs[c][0], configs[c][1], 2);
        int checked = 0;
        for (int32_t u = 0; u < x->n_rows; u += 7) {
            const int32_t *h = x->indices + x->indptr[u];
            const float *v = x->values + x->indptr[u];
            int32_t n = (int32_t)(x->indptr[u + 1] - x->indptr[u]), n_ex;
            assert_int_equal(ar_model_score(m, u, h, v, n, scores), AR_OK);
            for (int32_t i = 0; i < ni; i += 3) {
                assert_int_equal(ar_model_explain(m, u, h, v, n, i, n, ex, wt, &n_ex), AR_OK);
                assert_int_equal(n_ex, n);
                double sum = 0;
                for (int32_t j = 0; j < n_ex; j++) {
                    sum += wt[j];
                    if (j)
                        assert_true(wt[j] <= wt[j - 1]);
                }
                assert_close(sum, scores[i], 1e-5, "explain", u, i);
                checked += scores[i] != 0;
            }
        }
        assert_true(checked > 20);
        ar_model_free(m);
    }
    free(scores);
    free(ex);
    free(wt);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

static void test_decision_space(void **state) {
    (void)state;
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create("itemknn", &m), AR_OK);
    char *space = ar_model_space_json(m);
    assert_non_null(strstr(space, "\"condition\""));
    assert_non_null(strstr(space, "asymmetric"));
    ar_free_array(space);
    assert_int_equal(ar_model_set(m, "similarity", "dice", &err), AR_EINVAL);
    assert_int_equal(ar_model_set(m, "k", "0", &err), AR_ERANGE);
    assert_int_equal(ar_model_set(m, "weighting", "bm25", &err), AR_OK);
    ar_model_free(m);
    assert_int_equal(ar_model_create("rp3beta", &m), AR_OK);
    assert_int_equal(ar_model_set(m, "beta", "-1", &err), AR_ERANGE);
    assert_int_equal(ar_model_set(m, "normalize", "true", &err), AR_OK);
    ar_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_vs_naive),      cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_itemknn_vs_reference), cmocka_unit_test(test_rp3beta_vs_reference),
        cmocka_unit_test(test_threads_bitwise),      cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_corrupt_files),        cmocka_unit_test(test_explain_sums_to_score),
        cmocka_unit_test(test_decision_space),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
