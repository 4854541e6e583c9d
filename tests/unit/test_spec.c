/* test_spec.c -- the model-spec language, composite models, learned blend weights and the
 * evolutionary proposer, on small generated data. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agentrec.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A synthetic dataset with train / valid / test (60 / 20 / 20 per user). */
static ar_dataset *make_ds(uint64_t seed) {
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(300, 120, 15, 4, seed, &ds), AR_OK);
    ar_split_options so = ar_split_options_default();
    so.method = AR_SPLIT_RANDOM;
    so.test_ratio = 0.2;
    so.valid_ratio = 0.2;
    so.seed = 7;
    ar_error err;
    assert_int_equal(ar_dataset_split(ds, &so, &err), AR_OK);
    return ds;
}

static ar_model *fit_spec(const char *json, const ar_dataset *ds, int threads) {
    ar_model *m;
    ar_error err;
    ar_status st = ar_model_create_spec(json, &m, &err);
    if (st)
        fail_msg("create: %s", err.msg);
    ar_fit_options fo = ar_fit_options_default();
    fo.n_threads = threads;
    st = ar_model_fit(m, ds, &fo, &err);
    if (st)
        fail_msg("fit: %s", err.msg);
    return m;
}

/* One user's history from the train view. */
typedef struct hist {
    ar_csr *x;
} hist;

static void user_scores(const ar_model *m, const ar_csr *x, int32_t u, float *out) {
    int64_t b = x->indptr[u], e = x->indptr[u + 1];
    assert_int_equal(ar_model_score(m, u, x->indices + b, x->values + b, (int32_t)(e - b), out),
                     AR_OK);
}

/* -- validation ------------------------------------------------------------------------------ */

static void expect_bad(const char *json, ar_status st, const char *needle) {
    ar_error err;
    memset(&err, 0, sizeof err);
    ar_status got = ar_spec_validate(json, &err);
    if (got != st || !strstr(err.msg, needle))
        fail_msg("spec %s: got %d '%s', expected %d with '%s'", json, got, err.msg, st, needle);
}

static void test_validation_paths(void **state) {
    (void)state;
    expect_bad("{", AR_EPARSE, "spec: not valid JSON");
    expect_bad("[]", AR_EINVAL, "spec: expected an object");
    expect_bad("{\"model\": \"nope\"}", AR_ENOTFOUND, "spec.model: expected a model of the zoo");
    expect_bad("{\"model\": \"ials\", \"params\": {\"factors\": 0}}", AR_ERANGE,
               "spec.params.factors: expected an int in [1, 1024], got 0");
    expect_bad("{\"model\": \"ials\", \"params\": {\"factors\": 1.5}}", AR_ERANGE,
               "spec.params.factors: expected an int");
    expect_bad("{\"model\": \"ials\", \"params\": {\"reg\": \"big\"}}", AR_EINVAL,
               "spec.params.reg: expected a logfloat");
    expect_bad("{\"model\": \"itemknn\", \"params\": {\"similarity\": \"euclid\"}}", AR_EINVAL,
               "spec.params.similarity: expected one of");
    expect_bad("{\"model\": \"ials\", \"params\": {\"lr\": 1}}", AR_ENOTFOUND,
               "spec.params.lr: ials has no such parameter");
    expect_bad("{\"blend\": [{\"weight\": 1, \"spec\": {\"model\": \"ials\"}}, {\"weight\": 1, "
               "\"spec\": {\"model\": \"rp3beta\", \"params\": {\"k\": 0}}}]}",
               AR_ERANGE, "spec.blend[1].spec.params.k: expected an int in [1, 5000]");
    expect_bad("{\"fuse\": \"rrf\", \"members\": [{\"model\": \"ials\"}, {\"model\": "
               "\"rp3beta\", \"params\": {\"k\": 0}}]}",
               AR_ERANGE, "spec.members[1].params.k:");
    expect_bad("{\"blend\": [{\"weight\": -1, \"spec\": {\"model\": \"ials\"}}]}", AR_ERANGE,
               "spec.blend[0].weight: expected a number in [0, 1e+06]");
    expect_bad("{\"blend\": [{\"weight\": 0, \"spec\": {\"model\": \"ials\"}}]}", AR_EINVAL,
               "spec: a blend needs at least one positive weight");
    expect_bad("{\"blend\": [{\"weight\": 1, \"spec\": {\"model\": \"ials\"}}], \"normalize\": "
               "\"l2\"}",
               AR_EINVAL, "spec.normalize: expected \"max\", \"zscore\" or \"rank\"");
    expect_bad("{\"model\": \"ials\", \"colour\": 1}", AR_EINVAL, "spec.colour: unknown key");
    expect_bad("{\"model\": \"ials\", \"blend\": []}", AR_EINVAL, "spec: expected exactly one of");
    expect_bad("{\"gate\": {\"by\": \"history_length\", \"thresholds\": [5]}, \"members\": "
               "[{\"model\": \"ials\"}, {\"model\": \"ials\"}, {\"model\": \"ials\"}]}",
               AR_EINVAL, "spec.members: expected 2 members");
    expect_bad("{\"gate\": {\"by\": \"history_length\", \"thresholds\": [5, 5]}, \"members\": "
               "[{\"model\": \"ials\"}, {\"model\": \"ials\"}, {\"model\": \"ials\"}]}",
               AR_EINVAL, "spec.gate.thresholds[1]: expected ascending integers");
    expect_bad("{\"gate\": {\"by\": \"age\", \"thresholds\": [5]}, \"members\": []}", AR_EINVAL,
               "spec.gate.by: expected \"history_length\"");
    expect_bad("{\"model\": \"ials\", \"transforms\": [{\"tfidf\": {}}, {\"bm25\": {}}]}",
               AR_EINVAL, "spec.transforms[1].bm25: tfidf and bm25 exclude each other");
    expect_bad("{\"model\": \"ials\", \"transforms\": [{\"time_decay\": {}}]}", AR_EINVAL,
               "spec.transforms[0].time_decay.half_life_days: required");
    expect_bad("{\"model\": \"ials\", \"transforms\": [{\"events\": {\"click\": 0}}]}", AR_EINVAL,
               "spec.transforms[0].events: expected at least one positive weight");
    expect_bad("{\"model\": \"ials\", \"transforms\": [{\"sharpen\": {}}]}", AR_EINVAL,
               "spec.transforms[0].sharpen: unknown key");
    /* The limits: depth, members, base learners. */
    const char *leaf = "{\"model\": \"mostpop\"}";
    char deep[1024], wide[2048];
    snprintf(deep, sizeof deep,
             "{\"fuse\": \"rrf\", \"members\": [{\"fuse\": \"rrf\", \"members\": [{\"fuse\": "
             "\"rrf\", \"members\": [{\"fuse\": \"rrf\", \"members\": [%s]}]}]}]}",
             leaf);
    expect_bad(deep, AR_EINVAL,
               "spec.members[0].members[0].members[0].members[0]: nested deeper than 4");
    strcpy(wide, "{\"fuse\": \"rrf\", \"members\": [");
    for (int i = 0; i < 9; i++)
        snprintf(wide + strlen(wide), sizeof wide - strlen(wide), "%s%s", i ? "," : "", leaf);
    strcat(wide, "]}");
    expect_bad(wide, AR_EINVAL, "spec.members: expected an array of 1 to 8 members");
    /* 17 base learners in 3 levels: 8 + 8 + 1. */
    char many[4096] = "{\"fuse\": \"rrf\", \"members\": [";
    for (int g = 0; g < 3; g++) {
        strcat(many,
               g ? ",{\"fuse\": \"rrf\", \"members\": [" : "{\"fuse\": \"rrf\", \"members\": [");
        for (int i = 0; i < (g < 2 ? 8 : 1); i++)
            snprintf(many + strlen(many), sizeof many - strlen(many), "%s%s", i ? "," : "", leaf);
        strcat(many, "]}");
    }
    strcat(many, "]}");
    expect_bad(many, AR_EINVAL, "spec.members[2].members[0]: more than 16 base learners");
    /* NaN and infinities cannot be written in JSON; jansson rejects overflowing numbers. */
    expect_bad("{\"model\": \"ials\", \"params\": {\"reg\": 1e999}}", AR_EPARSE, "not valid JSON");
    ar_error err;
    assert_int_equal(ar_spec_validate(leaf, &err), AR_OK);
}

static void test_canonical_and_hash(void **state) {
    (void)state;
    const char *a = "{\"blend\": [{\"weight\": 0.5, \"spec\": {\"model\": \"rp3beta\"}}, "
                    "{\"spec\": {\"model\": \"ials\", \"params\": {\"factors\": 8}}, \"weight\": "
                    "1}]}";
    const char *b = "{\"normalize\": \"zscore\", \"depth\": 1000, \"blend\": [{\"spec\": "
                    "{\"params\": {\"k\": 100}, \"model\": \"rp3beta\"}, \"weight\": 0.50}, "
                    "{\"weight\": 1.0, \"spec\": {\"model\": \"ials\", \"params\": {\"factors\": "
                    "8, \"epochs\": 16}}}]}";
    char *ca, *cb, *cc;
    ar_error err;
    assert_int_equal(ar_spec_canonical(a, &ca, &err), AR_OK);
    assert_int_equal(ar_spec_canonical(b, &cb, &err), AR_OK);
    assert_string_equal(ca, cb);
    assert_int_equal(ar_spec_canonical(ca, &cc, &err), AR_OK); /* idempotent */
    assert_string_equal(ca, cc);
    uint64_t ha, hb, hc;
    assert_int_equal(ar_spec_hash(a, &ha, &err), AR_OK);
    assert_int_equal(ar_spec_hash(b, &hb, &err), AR_OK);
    assert_int_equal(ha, hb);
    assert_int_equal(
        ar_spec_hash("{\"blend\": [{\"weight\": 0.6, \"spec\": {\"model\": \"rp3beta\"}}, "
                     "{\"spec\": {\"model\": \"ials\", \"params\": {\"factors\": 8}}, "
                     "\"weight\": 1}]}",
                     &hc, &err),
        AR_OK);
    assert_true(hc != ha);
    ar_spec_info in;
    assert_int_equal(ar_spec_info_get(a, &in, &err), AR_OK);
    assert_int_equal(in.depth, 2);
    assert_int_equal(in.n_leaves, 2);
    assert_int_equal(in.top_members, 2);
    assert_string_equal(in.dominant, "ials");
    ar_free_array(ca);
    ar_free_array(cb);
    ar_free_array(cc);
    /* A plain model's spec is its name and every parameter, and builds the same model. */
    ar_model *m, *m2;
    assert_int_equal(ar_model_create("itemknn", &m), AR_OK);
    assert_int_equal(ar_model_set(m, "k", "37", &err), AR_OK);
    char *sj = ar_model_spec_json(m);
    assert_non_null(strstr(sj, "\"model\":\"itemknn\""));
    assert_int_equal(ar_model_create_spec(sj, &m2, &err), AR_OK);
    assert_false(ar_model_is_composite(m2));
    assert_true(ar_model_get(m2, "k") == 37);
    char *sj2 = ar_model_spec_json(m2);
    assert_string_equal(sj, sj2);
    ar_free_array(sj);
    ar_free_array(sj2);
    ar_model_free(m);
    ar_model_free(m2);
    /* The schema is JSON and names every model. */
    const char *schema = ar_spec_schema();
    for (const char *const *n = ar_model_names(); *n; n++) {
        char key[64];
        snprintf(key, sizeof key, "\"leaf_%s\"", *n);
        assert_non_null(strstr(schema, key));
    }
}

/* -- composite scoring against naive references ------------------------------------------------ */

static const char *RP3 = "{\"model\": \"rp3beta\", \"params\": {\"k\": 50, \"beta\": 0.3}}";
static const char *KNN = "{\"model\": \"itemknn\", \"params\": {\"k\": 40}}";
static const char *IALS = "{\"model\": \"ials\", \"params\": {\"factors\": 8, \"epochs\": 4}}";

/* norm over the candidates (items not in h), in double. */
static void ref_norm(const char *how, const float *s, int32_t n, const int32_t *h, int64_t nh,
                     double *out) {
    double mx = 0, sum = 0, sq = 0;
    int64_t c = 0;
    for (int32_t i = 0; i < n; i++) {
        int in_h = 0;
        for (int64_t k = 0; k < nh; k++)
            in_h |= h[k] == i;
        if (in_h)
            continue;
        mx = fmax(mx, fabs(s[i]));
        sum += s[i];
        c++;
    }
    double mean = sum / (double)c;
    for (int32_t i = 0; i < n; i++) {
        int in_h = 0;
        for (int64_t k = 0; k < nh; k++)
            in_h |= h[k] == i;
        if (!in_h)
            sq += (s[i] - mean) * (s[i] - mean);
    }
    double sd = sqrt(sq / (double)c);
    for (int32_t i = 0; i < n; i++)
        out[i] = strcmp(how, "max") == 0 ? s[i] / mx : (s[i] - mean) / sd;
}

static void check_blend(const char *norm) {
    ar_dataset *ds = make_ds(11);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"blend\": [{\"weight\": 0.3, \"spec\": %s}, {\"weight\": 1.7, \"spec\": %s}], "
             "\"normalize\": \"%s\"}",
             RP3, IALS, norm);
    ar_model *bl = fit_spec(json, ds, 2), *m1 = fit_spec(RP3, ds, 2), *m2 = fit_spec(IALS, ds, 2);
    assert_true(ar_model_is_composite(bl));
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int32_t n = ar_model_n_items(bl);
    float *s = malloc(sizeof *s * (size_t)n), *s1 = malloc(sizeof *s1 * (size_t)n),
          *s2 = malloc(sizeof *s2 * (size_t)n), *sb = malloc(sizeof *sb * (size_t)n * 3);
    double *n1 = malloc(sizeof *n1 * (size_t)n), *n2 = malloc(sizeof *n2 * (size_t)n);
    int32_t users[3] = {0, 17, 123};
    assert_int_equal(ar_model_score_batch(bl, x, users, 3, sb), AR_OK);
    for (int t = 0; t < 3; t++) {
        int32_t u = users[t];
        user_scores(bl, x, u, s);
        user_scores(m1, x, u, s1);
        user_scores(m2, x, u, s2);
        const int32_t *h = x->indices + x->indptr[u];
        int64_t nh = x->indptr[u + 1] - x->indptr[u];
        ref_norm(norm, s1, n, h, nh, n1);
        ref_norm(norm, s2, n, h, nh, n2);
        for (int32_t i = 0; i < n; i++) {
            double want = 0.3 * n1[i] + 1.7 * n2[i];
            assert_true(fabs(s[i] - want) <= 1e-5 * (1 + fabs(want)));
            /* batch scoring (the rankers' path) agrees up to the members' batch arithmetic */
            assert_true(fabs(sb[(size_t)t * (size_t)n + (size_t)i] - want) <=
                        1e-4 * (1 + fabs(want)));
        }
    }
    free(s), free(s1), free(s2), free(sb), free(n1), free(n2);
    ar_csr_free(x);
    ar_model_free(bl);
    ar_model_free(m1);
    ar_model_free(m2);
    ar_dataset_free(ds);
}

static void test_blend_matches_reference(void **state) {
    (void)state;
    check_blend("max");
    check_blend("zscore");
}

static void test_gate_routes_by_history(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(12);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
#define GATE_FMT                                                                                   \
    "{\"gate\": {\"by\": \"history_length\", \"thresholds\": [%d, %d]}, \"members\": "             \
    "[{\"model\": \"mostpop\"}, %s, %s]}"
    char json[512];
    snprintf(json, sizeof json, GATE_FMT, 3, 6, RP3, KNN);
    ar_model *g = fit_spec(json, ds, 2), *m[3] = {fit_spec("{\"model\": \"mostpop\"}", ds, 2),
                                                  fit_spec(RP3, ds, 2), fit_spec(KNN, ds, 2)};
    int32_t n = ar_model_n_items(g);
    float *s = malloc(sizeof *s * (size_t)n), *r = malloc(sizeof *r * (size_t)n);
    /* Histories of every length 0..9 (prefixes of the user's): bucket 0 below 3, 1 below 6. */
    for (int32_t u = 0; u < 20; u++) {
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        for (int32_t len = 0; len <= (int32_t)(e - b); len++) {
            int want = len < 3 ? 0 : len < 6 ? 1 : 2;
            assert_int_equal(ar_model_score(g, u, x->indices + b, NULL, len, s), AR_OK);
            assert_int_equal(ar_model_score(m[want], u, x->indices + b, NULL, len, r), AR_OK);
            assert_memory_equal(s, r, sizeof *s * (size_t)n);
        }
    }
    /* Batch scoring routes by the length of each user's row (9 here): bucket 2, or bucket 1
     * when the thresholds move above it. */
    ar_model_free(g);
    for (int v = 0; v < 2; v++) {
        snprintf(json, sizeof json, GATE_FMT, 3, v ? 10 : 6, RP3, KNN);
        g = fit_spec(json, ds, 2);
        int32_t users[4] = {0, 5, 50, 299};
        float *sb = malloc(sizeof *sb * (size_t)n * 4);
        assert_int_equal(ar_model_score_batch(g, x, users, 4, sb), AR_OK);
        for (int t = 0; t < 4; t++) {
            user_scores(m[v ? 1 : 2], x, users[t], r);
            assert_memory_equal(sb + (size_t)t * (size_t)n, r, sizeof *r * (size_t)n);
        }
        free(sb);
        ar_model_free(g);
    }
    free(s), free(r);
    ar_csr_free(x);
    for (int k = 0; k < 3; k++)
        ar_model_free(m[k]);
    ar_dataset_free(ds);
}

/* Naive RRF: full sort of each member's candidates, ties to the lower index, ranks < depth. */
static void test_rrf_matches_reference(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(13);
    char json[512];
    const int depth = 30;
    snprintf(json, sizeof json,
             "{\"fuse\": \"rrf\", \"k\": 10, \"depth\": %d, \"members\": [%s, %s]}", depth, RP3,
             KNN);
    ar_model *f = fit_spec(json, ds, 2), *m[2] = {fit_spec(RP3, ds, 2), fit_spec(KNN, ds, 2)};
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int32_t n = ar_model_n_items(f);
    float *s = malloc(sizeof *s * (size_t)n), *t = malloc(sizeof *t * (size_t)n);
    double *want = malloc(sizeof *want * (size_t)n);
    for (int32_t u = 0; u < 40; u++) {
        user_scores(f, x, u, s);
        for (int32_t i = 0; i < n; i++)
            want[i] = 0;
        const int32_t *h = x->indices + x->indptr[u];
        int64_t nh = x->indptr[u + 1] - x->indptr[u];
        for (int k = 0; k < 2; k++) {
            user_scores(m[k], x, u, t);
            for (int32_t i = 0; i < n; i++) {
                int in_h = 0;
                for (int64_t q = 0; q < nh; q++)
                    in_h |= h[q] == i;
                if (in_h)
                    continue;
                int32_t rank = 0; /* candidates strictly ahead of i */
                for (int32_t j = 0; j < n; j++) {
                    int jh = 0;
                    for (int64_t q = 0; q < nh; q++)
                        jh |= h[q] == j;
                    if (!jh && (t[j] > t[i] || (t[j] == t[i] && j < i)))
                        rank++;
                }
                if (rank < depth)
                    want[i] += 1.0 / (10.0 + rank + 1.0);
            }
        }
        for (int32_t i = 0; i < n; i++)
            assert_true(fabs(s[i] - want[i]) < 1e-6);
    }
    free(s), free(t), free(want);
    ar_csr_free(x);
    ar_model_free(f);
    ar_model_free(m[0]);
    ar_model_free(m[1]);
    ar_dataset_free(ds);
}

/* -- persistence ------------------------------------------------------------------------------ */

static const char *COMPOSITE =
    "{\"blend\": [{\"weight\": 0.4, \"spec\": {\"model\": \"rp3beta\", \"params\": {\"k\": 50}, "
    "\"transforms\": [{\"tfidf\": {}}, {\"pop_damp\": {\"beta\": 0.3}}]}}, {\"weight\": 0.9, "
    "\"spec\": {\"gate\": {\"by\": \"history_length\", \"thresholds\": [9]}, \"members\": "
    "[{\"model\": \"mostpop\"}, {\"model\": \"ials\", \"params\": {\"factors\": 8, \"epochs\": 3}, "
    "\"transforms\": [{\"time_decay\": {\"half_life_days\": 20}}, {\"events\": {\"click\": "
    "2}}]}]}}, "
    "{\"weight\": 0.2, \"spec\": {\"fuse\": \"rrf\", \"members\": [{\"model\": \"itemknn\"}, "
    "{\"model\": \"ease\", \"transforms\": [{\"bm25\": {\"k1\": 2}}]}]}}], \"normalize\": "
    "\"rank\", \"depth\": 50}";

static void all_scores(const ar_model *m, const ar_csr *x, float *out) {
    int32_t n = ar_model_n_items(m);
    for (int32_t u = 0; u < x->n_rows; u++)
        user_scores(m, x, u, out + (size_t)u * (size_t)n);
}

static void test_save_load_roundtrip(void **state) {
    (void)state;
    char dir[128], path[256];
    assert_int_equal(ar_test_mkdtemp(dir, sizeof dir, "spec"), 0);
    snprintf(path, sizeof path, "%s/m.model", dir);
    ar_dataset *ds = make_ds(14);
    ar_model *m = fit_spec(COMPOSITE, ds, 2), *l = NULL;
    ar_error err;
    assert_int_equal(ar_model_save(m, path, &err), AR_OK);
    assert_int_equal(ar_model_load(path, &l, &err), AR_OK);
    assert_true(ar_model_is_composite(l));
    assert_int_equal(ar_model_check_dataset(l, ds, &err), AR_OK);
    char *s1 = ar_model_spec_json(m), *s2 = ar_model_spec_json(l);
    assert_string_equal(s1, s2);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    size_t sz = (size_t)x->n_rows * (size_t)ar_model_n_items(m);
    float *a = malloc(sizeof *a * sz), *b = malloc(sizeof *b * sz);
    all_scores(m, x, a);
    all_scores(l, x, b);
    assert_memory_equal(a, b, sizeof *a * sz);
    /* Recommend and explain go through the ordinary calls. */
    int32_t items[10], n_out, ex[5], n_ex;
    float sc[10], w[5];
    int64_t hb = x->indptr[3], he = x->indptr[4];
    assert_int_equal(ar_model_recommend(l, 3, x->indices + hb, NULL, (int32_t)(he - hb), 10, NULL,
                                        items, sc, &n_out),
                     AR_OK);
    assert_int_equal(n_out, 10);
    assert_int_equal(ar_model_explain(l, 3, x->indices + hb, NULL, (int32_t)(he - hb), items[0], 5,
                                      ex, w, &n_ex),
                     AR_OK);
    /* The evaluator's ranker works on the loaded composite. */
    ar_ranker rk;
    assert_int_equal(ar_model_ranker(l, x, &rk), AR_OK);
    ar_eval_options eo = ar_eval_options_default();
    eo.target_mask = AR_MASK_TEST;
    eo.exclude_mask = AR_MASK_TRAIN;
    ar_eval_result r;
    assert_int_equal(ar_evaluate(ds, &rk, &eo, &r, &err), AR_OK);
    assert_true(r.value[AR_METRIC_RECALL][0] > 0);
    ar_model_ranker_free(&rk);
    ar_model_free(l);
    /* Corruption anywhere is refused with a message naming the file. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
    assert_int_equal(ar_model_load(path, &l, &err), AR_ECORRUPT);
    assert_null(l);
    assert_non_null(strstr(err.msg, path));
    free(a), free(b);
    ar_free_array(s1);
    ar_free_array(s2);
    ar_csr_free(x);
    ar_model_free(m);
    ar_dataset_free(ds);
    assert_int_equal(ar_test_rmtree(dir), 0);
}

static void test_threads_bitwise_equal(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(15);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"blend\": [{\"weight\": 0.5, \"spec\": %s}, {\"weight\": 1, \"spec\": %s}, "
             "{\"weight\": 0.25, \"spec\": %s}]}",
             RP3, IALS, KNN);
    ar_model *a = fit_spec(json, ds, 1), *b = fit_spec(json, ds, 2);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    size_t sz = (size_t)x->n_rows * (size_t)ar_model_n_items(a);
    float *sa = malloc(sizeof *sa * sz), *sb = malloc(sizeof *sb * sz);
    all_scores(a, x, sa);
    all_scores(b, x, sb);
    assert_memory_equal(sa, sb, sizeof *sa * sz);
    free(sa), free(sb);
    ar_csr_free(x);
    ar_model_free(a);
    ar_model_free(b);
    ar_dataset_free(ds);
}

static void test_transforms(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(16);
    ar_error err;
    /* Events that do not occur in the data are a clear fit error naming the base learner. */
    ar_model *m;
    assert_int_equal(ar_model_create_spec("{\"model\": \"mostpop\", \"transforms\": [{\"events\": "
                                          "{\"purchase\": 1}}]}",
                                          &m, &err),
                     AR_OK);
    ar_fit_options fo = ar_fit_options_default();
    assert_int_equal(ar_model_fit(m, ds, &fo, &err), AR_EINVAL);
    assert_non_null(
        strstr(err.msg, "spec.transforms: no training interaction has an event of positive"));
    ar_model_free(m);
    /* Each matrix transform changes a model that reads values (itemknn cosine); pop_damp
     * divides by popularity^beta. */
    const char *variants[] = {
        "{\"model\": \"rp3beta\"}",
        "{\"model\": \"rp3beta\", \"transforms\": [{\"tfidf\": {}}]}",
        "{\"model\": \"rp3beta\", \"transforms\": [{\"bm25\": {}}]}",
        "{\"model\": \"rp3beta\", \"transforms\": [{\"time_decay\": {\"half_life_days\": 5}}]}",
    };
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int32_t n = 120;
    float s[4][120];
    for (int v = 0; v < 4; v++) {
        ar_model *mv = fit_spec(variants[v], ds, 2);
        user_scores(mv, x, 5, s[v]);
        ar_model_free(mv);
        if (v)
            assert_true(memcmp(s[0], s[v], sizeof s[0]) != 0);
    }
    ar_model *pd = fit_spec("{\"model\": \"rp3beta\", \"transforms\": [{\"pop_damp\": {\"beta\": "
                            "1}}]}",
                            ds, 2);
    float sp[120];
    user_scores(pd, x, 5, sp);
    ar_csr *xt;
    assert_int_equal(ar_csr_transpose(x, &xt), AR_OK);
    for (int32_t i = 0; i < n; i++) {
        int64_t pop = xt->indptr[i + 1] - xt->indptr[i];
        assert_true(fabs(sp[i] - s[0][i] / (double)(pop > 1 ? pop : 1)) <=
                    1e-6 * (1 + fabs(sp[i])));
    }
    ar_model_free(pd);
    ar_csr_free(xt);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

/* -- learned weights ----------------------------------------------------------------------------
 */

static void test_learned_weights(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(17);
    char json[1024];
    /* A deliberately bad start: almost all weight on the weaker member. */
    snprintf(json, sizeof json,
             "{\"blend\": [{\"weight\": 1, \"spec\": {\"model\": \"mostpop\"}}, {\"weight\": 0.05, "
             "\"spec\": %s}, {\"weight\": 0.05, \"spec\": %s}]}",
             RP3, IALS);
    ar_model *m = fit_spec(json, ds, 2);
    ar_blend_learn_options o = ar_blend_learn_options_default();
    o.max_users = 100000; /* every user, so the sample's NDCG is the evaluator's */
    ar_blend_learn_result r;
    ar_error err;
    assert_int_equal(ar_model_learn_blend_weights(m, ds, &o, &r, &err), AR_OK);
    assert_int_equal(r.n_members, 3);
    assert_true(r.final_ndcg >= r.best_single);
    assert_true(r.final_ndcg >= r.start_ndcg);
    char *sj = ar_model_spec_json(m);
    char w0[64];
    snprintf(w0, sizeof w0, "\"weight\":%s", r.weights[0] == 0 ? "0.0" : "");
    /* The evaluator agrees with the learner's NDCG on the same users and split. */
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_ranker rk;
    assert_int_equal(ar_model_ranker(m, x, &rk), AR_OK);
    ar_eval_options eo = ar_eval_options_default();
    eo.target_mask = AR_MASK_VALID;
    eo.exclude_mask = AR_MASK_TRAIN;
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = 20;
    ar_eval_result er;
    assert_int_equal(ar_evaluate(ds, &rk, &eo, &er, &err), AR_OK);
    assert_int_equal(er.users, r.users);
    if (!(fabs(er.value[AR_METRIC_NDCG][0] - r.final_ndcg) < 1e-9))
        fail_msg("evaluator %.12f learner %.12f (start %.6f single %.6f, w %g %g %g)",
                 er.value[AR_METRIC_NDCG][0], r.final_ndcg, r.start_ndcg, r.best_single,
                 r.weights[0], r.weights[1], r.weights[2]);
    ar_model_ranker_free(&rk);
    /* Deterministic: learning again from the same spec gives the same weights. */
    ar_model *m2 = fit_spec(json, ds, 1);
    ar_blend_learn_result r2;
    o.n_threads = 1;
    assert_int_equal(ar_model_learn_blend_weights(m2, ds, &o, &r2, &err), AR_OK);
    assert_memory_equal(r.weights, r2.weights, sizeof r.weights);
    char *sj2 = ar_model_spec_json(m2);
    assert_string_equal(sj, sj2);
    /* Not a blend: refused. */
    ar_model *knn = fit_spec(KNN, ds, 2);
    assert_int_equal(ar_model_learn_blend_weights(knn, ds, &o, NULL, &err), AR_EINVAL);
    ar_model_free(knn);
    ar_free_array(sj);
    ar_free_array(sj2);
    ar_csr_free(x);
    ar_model_free(m);
    ar_model_free(m2);
    ar_dataset_free(ds);
}

/* -- the evolutionary proposer -------------------------------------------------------------- */

/* A deterministic stand-in reward for a spec text (no fitting): its hash on [0, 1). */
static double fake_reward(const char *spec) {
    uint64_t h = 0;
    ar_error err;
    assert_int_equal(ar_spec_hash(spec, &h, &err), AR_OK);
    return (double)(h >> 11) * 0x1.0p-53;
}

static void test_evo_valid_and_deterministic(void **state) {
    (void)state;
    static const char *const models[] = {"rp3beta", "itemknn", "mostpop"};
    static const char *const events[] = {"click", "purchase"};
    ar_evo_options o = ar_evo_options_default();
    o.models = models;
    o.n_models = 3;
    o.max_members = 3;
    o.max_leaves = 5;
    o.events = events;
    o.n_events = 2;
    o.has_time = 1;
    ar_evo *a, *b;
    ar_error err;
    assert_int_equal(ar_evo_create(42, &o, &a, &err), AR_OK);
    assert_int_equal(ar_evo_create(42, &o, &b, &err), AR_OK);
    int kinds[4] = {0}, leaves_max = 0;
    for (int t = 0; t < 150; t++) {
        char *sa, *sb;
        assert_int_equal(ar_evo_propose(a, &sa, &err), AR_OK);
        assert_int_equal(ar_evo_propose(b, &sb, &err), AR_OK);
        assert_string_equal(sa, sb);
        if (ar_spec_validate(sa, &err) != AR_OK)
            fail_msg("proposal %d invalid: %s (%s)", t, sa, err.msg);
        assert_null(strstr(sa, "\"ials\""));
        assert_null(strstr(sa, "\"ease\""));
        ar_spec_info in;
        assert_int_equal(ar_spec_info_get(sa, &in, &err), AR_OK);
        assert_true(in.n_leaves <= 5 && in.depth <= 3);
        leaves_max = in.n_leaves > leaves_max ? in.n_leaves : leaves_max;
        kinds[0] += strstr(sa, "\"blend\"") != NULL;
        kinds[1] += strstr(sa, "\"fuse\"") != NULL;
        kinds[2] += strstr(sa, "\"transforms\"") != NULL;
        kinds[3] += in.n_leaves == 1;
        /* every 10th trial "fails" */
        double r = t % 10 == 9 ? NAN : fake_reward(sa);
        assert_int_equal(ar_evo_observe(a, sa, r, &err), AR_OK);
        assert_int_equal(ar_evo_observe(b, sb, r, &err), AR_OK);
        ar_free_array(sa);
        ar_free_array(sb);
    }
    /* The search explores structure, not only parameters. */
    assert_true(kinds[0] > 0 && kinds[2] > 0 && kinds[3] > 0);
    assert_true(leaves_max >= 2);
    assert_int_equal(ar_evo_n_observed(a), 150);
    char *best;
    double r;
    assert_int_equal(ar_evo_best(a, &best, &r), AR_OK);
    assert_true(r > 0.9); /* 135 hashes: the best is high */
    char *arch = ar_evo_archive_json(a);
    assert_non_null(arch);
    assert_non_null(strstr(arch, "\"cell\":\"rp3beta/1\""));
    assert_int_equal(ar_evo_observe(a, "{\"model\": \"nope\"}", 1, &err), AR_EINVAL);
    ar_free_array(best);
    ar_free_array(arch);
    ar_evo_free(a);
    ar_evo_free(b);
    /* Bad options are refused. */
    static const char *const unknown[] = {"svd"};
    o.models = unknown;
    o.n_models = 1;
    assert_int_equal(ar_evo_create(1, &o, &a, &err), AR_EINVAL);
    assert_null(a);
    o = ar_evo_options_default();
    o.max_members = 9;
    assert_int_equal(ar_evo_create(1, &o, &a, &err), AR_EINVAL);
}

/* NDCG@20 on the valid split of a spec fitted on train. */
static double ndcg_valid(const char *spec, const ar_dataset *ds, const ar_csr *x) {
    ar_model *m = fit_spec(spec, ds, 2);
    ar_ranker rk;
    assert_int_equal(ar_model_ranker(m, x, &rk), AR_OK);
    ar_eval_options eo = ar_eval_options_default();
    eo.target_mask = AR_MASK_VALID;
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = 20;
    ar_eval_result r;
    ar_error err;
    assert_int_equal(ar_evaluate(ds, &rk, &eo, &r, &err), AR_OK);
    ar_model_ranker_free(&rk);
    ar_model_free(m);
    return r.value[AR_METRIC_NDCG][0];
}

static void test_evo_improves(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(18);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    /* rp3beta's defaults are not its best here (itemknn's nearly are, so it is left out). The
     * run is deterministic; not every seed gains within 40 proposals (of seeds 1..7, six gain
     * 0.004 to 0.017 and seed 5 none; EVO_SEED=S EVO_TRACE=1 shows a run). */
    static const char *const models[] = {"mostpop", "rp3beta"};
    ar_evo_options o = ar_evo_options_default();
    o.models = models;
    o.n_models = 2;
    o.n_init = 2; /* the two models with their defaults */
    o.has_time = 1;
    ar_evo *e;
    ar_error err;
    uint64_t seed = getenv("EVO_SEED") ? strtoull(getenv("EVO_SEED"), NULL, 10) : 7;
    assert_int_equal(ar_evo_create(seed, &o, &e, &err), AR_OK);
    double first = -1, best = -1;
    for (int t = 0; t < 40; t++) {
        char *s;
        assert_int_equal(ar_evo_propose(e, &s, &err), AR_OK);
        double r = ndcg_valid(s, ds, x);
        if (getenv("EVO_TRACE"))
            print_message("%2d %.4f %s\n", t, r, s);
        if (t < 2)
            first = r > first ? r : first;
        best = r > best ? r : best;
        assert_int_equal(ar_evo_observe(e, s, r, &err), AR_OK);
        ar_free_array(s);
    }
    print_message("evo: best of the 2 defaults %.4f, best after 40 proposals %.4f\n", first, best);
    assert_true(best > first + 0.005);
    ar_evo_free(e);
    ar_csr_free(x);
    ar_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_paths),
        cmocka_unit_test(test_canonical_and_hash),
        cmocka_unit_test(test_blend_matches_reference),
        cmocka_unit_test(test_gate_routes_by_history),
        cmocka_unit_test(test_rrf_matches_reference),
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_threads_bitwise_equal),
        cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_learned_weights),
        cmocka_unit_test(test_evo_valid_and_deterministic),
        cmocka_unit_test(test_evo_improves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
