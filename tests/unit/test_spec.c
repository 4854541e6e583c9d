/* test_spec.c -- the model-spec language, composite models, learned blend weights and the
 * evolutionary proposer, on small generated data. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agentrec.h"
#include "models/model.h" /* ar__training_matrix, against a naive reference */
#include "test_util.h"

#include <jansson.h>
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
    /* Stacks: feature names, the bias, the shape and the values of the meta-model. */
#define ST_MEMBERS "\"members\": [{\"model\": \"mostpop\"}, {\"model\": \"itemknn\"}]"
    expect_bad("{\"stack\": {\"features\": [\"bias\", \"age\"]}, " ST_MEMBERS "}", AR_EINVAL,
               "spec.stack.features[1]: expected \"bias\", \"log_history_length\" or "
               "\"history_popularity\"");
    expect_bad("{\"stack\": {\"features\": [\"log_history_length\"]}, " ST_MEMBERS "}", AR_EINVAL,
               "spec.stack.features: expected \"bias\" among the features");
    expect_bad("{\"stack\": {\"features\": [\"bias\", \"bias\"]}, " ST_MEMBERS "}", AR_EINVAL,
               "spec.stack.features[1]: feature \"bias\" is listed twice");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"weights\": [[1, 0]]}", AR_EINVAL,
               "spec.weights: expected one row per member (2) of 2 weights (bias, "
               "log_history_length)");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"weights\": [[1, 0], [1, 0, 0]]}", AR_EINVAL,
               "spec.weights[1]: expected an array of 2 weights");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"weights\": [[1, 0], [1, \"NaN\"]]}", AR_EINVAL,
               "spec.weights[1][1]: expected a number in [-1e6, 1e6], got a string");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"weights\": [[1, 0], [1, NaN]]}", AR_EPARSE,
               "spec: not valid JSON");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"weights\": [[1, 0], [1, -2e6]]}", AR_ERANGE,
               "spec.weights[1][1]: expected a number in [-1e6, 1e6], got -2e+06");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"weights\": [[0, 0], [0, 0]]}", AR_EINVAL,
               "spec.weights: a stack needs at least one nonzero weight");
    expect_bad("{\"stack\": {\"by\": 1}, " ST_MEMBERS "}", AR_EINVAL,
               "spec.stack.by: unknown key (expected \"features\")");
    expect_bad("{\"stack\": {}, \"members\": []}", AR_EINVAL,
               "spec.members: expected an array of 1 to 8 members");
    expect_bad("{\"stack\": {}, " ST_MEMBERS ", \"normalize\": \"l1\"}", AR_EINVAL,
               "spec.normalize: expected");
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
    /* A stack's canonical form does not depend on the order its features are written in (the
     * weights' columns follow them); the neutral meta-model is written out. */
    char *s1, *s2, *s3;
    assert_int_equal(ar_spec_canonical("{\"stack\": {\"features\": [\"history_popularity\", "
                                       "\"bias\"]}, \"members\": [{\"model\": \"mostpop\"}, "
                                       "{\"model\": \"itemknn\"}], \"weights\": [[0.5, 2], "
                                       "[-1, 1]]}",
                                       &s1, &err),
                     AR_OK);
    assert_int_equal(ar_spec_canonical("{\"weights\": [[2, 0.5], [1, -1]], \"members\": "
                                       "[{\"model\": \"mostpop\"}, {\"model\": \"itemknn\"}], "
                                       "\"stack\": {\"features\": [\"bias\", "
                                       "\"history_popularity\"]}, \"normalize\": \"zscore\"}",
                                       &s2, &err),
                     AR_OK);
    assert_string_equal(s1, s2);
    assert_non_null(strstr(s1, "\"stack\":{\"features\":[\"bias\",\"history_popularity\"]}"));
    assert_non_null(strstr(s1, "\"weights\":[[2.0,0.5],[1.0,-1.0]]"));
    assert_int_equal(ar_spec_canonical("{\"stack\": {}, \"members\": [{\"model\": "
                                       "\"mostpop\"}]}",
                                       &s3, &err),
                     AR_OK);
    assert_non_null(strstr(s3, "\"stack\":{\"features\":[\"bias\",\"log_history_length\"]},"
                               "\"weights\":[[1.0,0.0]]"));
    ar_free_array(s1);
    ar_free_array(s2);
    ar_free_array(s3);
    /* The schema is JSON and names every model. */
    const char *schema = ar_spec_schema();
    assert_non_null(strstr(schema, "\"stack\": {"));
    assert_non_null(strstr(schema, "\"$ref\": \"#/$defs/stack\""));
    assert_non_null(strstr(schema, "\"history_popularity\""));
    /* ... and the schema checker (what LLM answers are held to) accepts a canonical stack and
     * refuses an unknown feature or a weight out of range. */
    char *cs;
    assert_int_equal(ar_spec_canonical("{\"stack\": {\"features\": [\"history_popularity\", "
                                       "\"bias\"]}, \"members\": [{\"model\": \"mostpop\"}, "
                                       "{\"blend\": [{\"weight\": 1, \"spec\": {\"model\": "
                                       "\"itemknn\"}}]}], \"weights\": [[0.5, 2], [-1, 1]]}",
                                       &cs, &err),
                     AR_OK);
    if (ar_llm_schema_check(schema, cs, &err) != AR_OK)
        fail_msg("schema refuses %s: %s", cs, err.msg);
    ar_free_array(cs);
    assert_int_not_equal(ar_llm_schema_check(schema,
                                             "{\"stack\": {\"features\": [\"bias\", \"age\"]}, "
                                             "\"members\": [{\"model\": \"mostpop\"}]}",
                                             &err),
                         AR_OK);
    assert_int_not_equal(ar_llm_schema_check(schema,
                                             "{\"stack\": {}, \"members\": [{\"model\": "
                                             "\"mostpop\"}], \"weights\": [[2e6]]}",
                                             &err),
                         AR_OK);
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

/* The generic training-matrix path: time decay, TF-IDF and BM25 against the formulas. */
static void test_training_matrix_weighting(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(19);
    ar_fit_options fo = ar_fit_options_default();
    ar_csr *x0, *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x0), AR_OK);
    double n = x0->n_rows, avg = (double)x0->nnz / n; /* values are all 1 here */
    for (int w = 1; w <= 2; w++) {
        fo.weighting = (ar_weighting)w;
        assert_null(ar_fit_options_check(&fo));
        assert_int_equal(ar__training_matrix(ds, &fo, &x), AR_OK);
        assert_int_equal(x->nnz, x0->nnz);
        for (int32_t u = 0; u < x->n_rows; u++) {
            double len = (double)(x0->indptr[u + 1] - x0->indptr[u]);
            for (int64_t k = x->indptr[u]; k < x->indptr[u + 1]; k++) {
                int32_t i = x->indices[k];
                double df = 0;
                for (int64_t q = 0; q < x0->nnz; q++)
                    df += x0->indices[q] == i;
                double want = w == AR_WEIGHTING_TFIDF ? log(1 + n / df)
                                                      : log(1 + (n - df + 0.5) / (df + 0.5)) * 2.2 /
                                                            (1 + 1.2 * (0.25 + 0.75 * len / avg));
                assert_true(fabs(x->values[k] - want) < 1e-5 * want);
            }
        }
        ar_csr_free(x);
    }
    fo.weighting = AR_WEIGHTING_NONE;
    fo.half_life_days = 10;
    assert_int_equal(ar__training_matrix(ds, &fo, &x), AR_OK);
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    int64_t t_ref = INT64_MIN;
    for (int64_t k = 0; k < in.n; k++)
        if (in.split[k] == AR_SPLIT_TRAIN && in.time[k] > t_ref)
            t_ref = in.time[k];
    for (int64_t k = 0; k < in.n; k++) {
        if (in.split[k] != AR_SPLIT_TRAIN)
            continue;
        double want = pow(0.5, (double)(t_ref - in.time[k]) / (10 * 86400.0));
        int32_t u = in.user[k], i = in.item[k];
        int64_t p = x->indptr[u];
        while (x->indices[p] != i)
            p++;
        assert_true(fabs(x->values[p] - want) < 1e-6); /* items are distinct per user here */
    }
    ar_csr_free(x);
    fo.half_life_days = 0;
    fo.weighting = AR_WEIGHTING_BM25;
    fo.bm25_k1 = 0;
    assert_non_null(ar_fit_options_check(&fo));
    ar_csr_free(x0);
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

/* -- stacking --------------------------------------------------------------------------------- */

/* With its feature weights 0, a stack scores bitwise as the blend of its bias weights, one user
 * at a time and in batches, for every normalisation. */
static void test_stack_equals_blend(void **state) {
    (void)state;
    ar_dataset *ds = make_ds(21);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    static const char *const norms[] = {"zscore", "max", "rank"};
    for (int k = 0; k < 3; k++) {
        char b[1024], st[1024];
        snprintf(b, sizeof b,
                 "{\"blend\": [{\"weight\": 0.3, \"spec\": %s}, {\"weight\": 1.7, \"spec\": %s}, "
                 "{\"weight\": 0, \"spec\": %s}], \"normalize\": \"%s\", \"depth\": 40}",
                 RP3, IALS, KNN, norms[k]);
        snprintf(st, sizeof st,
                 "{\"stack\": {\"features\": [\"bias\", \"log_history_length\", "
                 "\"history_popularity\"]}, \"members\": [%s, %s, %s], \"weights\": [[0.3, 0, 0], "
                 "[1.7, 0, 0], [0, 0, 0]], \"normalize\": \"%s\", \"depth\": 40}",
                 RP3, IALS, KNN, norms[k]);
        ar_model *mb = fit_spec(b, ds, 2), *ms = fit_spec(st, ds, 2);
        size_t sz = (size_t)x->n_rows * (size_t)ar_model_n_items(mb);
        float *sa = malloc(sizeof *sa * sz), *sb = malloc(sizeof *sb * sz);
        all_scores(mb, x, sa);
        all_scores(ms, x, sb);
        assert_memory_equal(sa, sb, sizeof *sa * sz);
        int32_t users[5] = {0, 3, 77, 150, 299};
        assert_int_equal(ar_model_score_batch(mb, x, users, 5, sa), AR_OK);
        assert_int_equal(ar_model_score_batch(ms, x, users, 5, sb), AR_OK);
        assert_memory_equal(sa, sb, sizeof *sa * 5 * (size_t)ar_model_n_items(mb));
        free(sa), free(sb);
        ar_model_free(mb);
        ar_model_free(ms);
    }
    ar_csr_free(x);
    ar_dataset_free(ds);
}

static ar_dataset *make_two_regimes(void);

/* A stack with feature weights against a naive reference: the features recomputed here from
 * the training matrix (log history length and mean log popularity, standardised over the
 * training users), per-user weights, z-scored members. Histories are prefixes of the users'
 * (lengths 0 .. all), so the weights vary and change sign. (make_ds gives every user the same
 * number of training items, so its length feature would be constant: sd 0, feature 0.) */
static void test_stack_matches_reference(void **state) {
    (void)state;
    ar_dataset *ds = make_two_regimes();
    ar_csr *x, *xt;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    assert_int_equal(ar_csr_transpose(x, &xt), AR_OK);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"stack\": {\"features\": [\"bias\", \"log_history_length\", "
             "\"history_popularity\"]}, \"members\": [%s, %s], \"weights\": [[0.5, 0.8, -0.3], "
             "[0.2, -0.9, 0.4]]}",
             RP3, KNN);
    ar_model *st = fit_spec(json, ds, 2), *m1 = fit_spec(RP3, ds, 2), *m2 = fit_spec(KNN, ds, 2);
    int32_t n = ar_model_n_items(st);
    double *lp = malloc(sizeof *lp * (size_t)n);
    for (int32_t i = 0; i < n; i++)
        lp[i] = log(1.0 + (double)(xt->indptr[i + 1] - xt->indptr[i]));
    double mean[2] = {0}, sq[2] = {0}, c = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int32_t u = 0; u < x->n_rows; u++) {
            int64_t b = x->indptr[u], e = x->indptr[u + 1];
            if (b == e)
                continue;
            double pop = 0;
            for (int64_t k = b; k < e; k++)
                pop += lp[x->indices[k]];
            double raw[2] = {log(1.0 + (double)(e - b)), pop / (double)(e - b)};
            for (int k = 0; k < 2; k++) {
                if (pass == 0)
                    mean[k] += raw[k];
                else
                    sq[k] += (raw[k] - mean[k] / c) * (raw[k] - mean[k] / c);
            }
            c += pass == 0;
        }
    double sd[2] = {sqrt(sq[0] / c), sqrt(sq[1] / c)};
    mean[0] /= c;
    mean[1] /= c;
    float *s = malloc(sizeof *s * (size_t)n), *s1 = malloc(sizeof *s1 * (size_t)n),
          *s2 = malloc(sizeof *s2 * (size_t)n);
    double *n1 = malloc(sizeof *n1 * (size_t)n), *n2 = malloc(sizeof *n2 * (size_t)n);
    int signs = 0;
    for (int32_t u = 0; u < x->n_rows; u += 23) { /* long, short and trend users */
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        for (int64_t len = 0; len <= e - b; len++) {
            const int32_t *h = x->indices + b;
            assert_int_equal(ar_model_score(st, u, h, NULL, (int32_t)len, s), AR_OK);
            assert_int_equal(ar_model_score(m1, u, h, NULL, (int32_t)len, s1), AR_OK);
            assert_int_equal(ar_model_score(m2, u, h, NULL, (int32_t)len, s2), AR_OK);
            ref_norm("zscore", s1, n, h, len, n1);
            ref_norm("zscore", s2, n, h, len, n2);
            double pop = 0;
            for (int64_t k = 0; k < len; k++)
                pop += lp[h[k]];
            double f1 = (log(1.0 + (double)len) - mean[0]) / sd[0];
            double f2 = len ? (pop / (double)len - mean[1]) / sd[1] : 0;
            double w1 = 0.5 + 0.8 * f1 - 0.3 * f2, w2 = 0.2 - 0.9 * f1 + 0.4 * f2;
            signs |= (w1 < 0) | (w2 < 0) << 1;
            for (int32_t i = 0; i < n; i++) {
                /* a member with constant scores (an empty history) normalises to 0 */
                double want =
                    w1 * (isfinite(n1[i]) ? n1[i] : 0) + w2 * (isfinite(n2[i]) ? n2[i] : 0);
                int in_h = 0;
                for (int64_t k = 0; k < len; k++)
                    in_h |= h[k] == i;
                if (!in_h && !(fabs(s[i] - want) <= 2e-4 * (1 + fabs(want))))
                    fail_msg("user %d len %lld item %d: %g, want %g", u, (long long)len, i, s[i],
                             want);
            }
        }
    }
    assert_int_equal(signs, 3); /* both members get negative weights for some histories */
    free(s), free(s1), free(s2), free(n1), free(n2), free(lp);
    ar_csr_free(x);
    ar_csr_free(xt);
    ar_model_free(st);
    ar_model_free(m1);
    ar_model_free(m2);
    ar_dataset_free(ds);
}

/* Short- and long-history users want different members, so no fixed blend serves both:
 * 6 clusters of 40 items and 20 trend items. Long users (40 a cluster) have 15 items of their
 * cluster in train and 3 more each in valid and test; short users (40 a cluster) 2 in train
 * and 2 trend items each in valid and test; 150 trend users make the trend items the most
 * popular (8 trend items each, train only). itemknn serves long users, mostpop short ones. */
static ar_dataset *make_two_regimes(void) {
    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    enum { CL = 6, CS = 40, TREND = 20, PER = 40 };
    char id[32], user[32];
    for (int i = 0; i < CL * CS + TREND; i++) { /* item index = number */
        snprintf(id, sizeof id, "i%03d", i);
        assert_int_equal(ar_builder_touch(b, AR_ITEMS, id), AR_OK);
    }
    ar_rng r;
    ar_rng_seed(&r, 99);
    int perm[CS > TREND ? CS : TREND];
    int64_t t = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int u = 0; u < (kind < 2 ? CL * PER : 150); u++) {
            int c = u % CL, n = kind == 2 ? TREND : kind == 1 ? TREND : CS;
            for (int i = 0; i < n; i++)
                perm[i] = i;
            for (int i = 0; i < n - 1; i++) { /* shuffle */
                int j = i + (int)ar_rng_below(&r, (uint64_t)(n - i));
                int x = perm[i];
                perm[i] = perm[j];
                perm[j] = x;
            }
            snprintf(user, sizeof user, "%c%d", "lst"[kind], u);
            int ntrain = kind == 0 ? 15 : kind == 1 ? 2 : 8;
            for (int i = 0; i < ntrain; i++) {
                int item = kind == 2 ? CL * CS + perm[i] : c * CS + perm[i];
                snprintf(id, sizeof id, "i%03d", item);
                assert_int_equal(
                    ar_builder_add(b, user, id, t++, AR_EVENT_INTERACTION, 1, AR_SPLIT_TRAIN),
                    AR_OK);
            }
            for (int i = 0; kind < 2 && i < (kind == 0 ? 6 : 4); i++) {
                /* long: more cluster items; short: trend items (perm over the trend here) */
                int item = kind == 0 ? c * CS + perm[15 + i] : CL * CS + perm[i];
                int nh = kind == 0 ? 3 : 2;
                snprintf(id, sizeof id, "i%03d", item);
                assert_int_equal(ar_builder_add(b, user, id, t++, AR_EVENT_INTERACTION, 1,
                                                i < nh ? AR_SPLIT_VALID : AR_SPLIT_TEST),
                                 AR_OK);
            }
        }
    ar_dataset *ds;
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_OK);
    ar_builder_free(b);
    return ds;
}

/* NDCG@20 on `target` of a fitted model, histories from train; train (and valid when the target
 * is test) excluded. */
static double ndcg_on(const ar_model *m, const ar_dataset *ds, const ar_csr *x, unsigned target) {
    ar_ranker rk;
    assert_int_equal(ar_model_ranker(m, x, &rk), AR_OK);
    ar_eval_options eo = ar_eval_options_default();
    eo.target_mask = target;
    eo.exclude_mask = AR_MASK_TRAIN | (target == AR_MASK_TEST ? AR_MASK_VALID : 0);
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = 20;
    ar_eval_result r;
    ar_error err;
    assert_int_equal(ar_evaluate(ds, &rk, &eo, &r, &err), AR_OK);
    ar_model_ranker_free(&rk);
    return r.value[AR_METRIC_NDCG][0];
}

static void test_stack_learns(void **state) {
    (void)state;
    ar_dataset *ds = make_two_regimes();
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    const char *members = "[{\"model\": \"mostpop\"}, {\"model\": \"itemknn\"}]";
    char blend[512], stack[512];
    snprintf(blend, sizeof blend,
             "{\"blend\": [{\"weight\": 1, \"spec\": {\"model\": \"mostpop\"}}, {\"weight\": 1, "
             "\"spec\": {\"model\": \"itemknn\"}}]}");
    snprintf(stack, sizeof stack, "{\"stack\": {}, \"members\": %s}", members);
    ar_blend_learn_options o = ar_blend_learn_options_default();
    o.max_users = 100000; /* every validation user: the learner's NDCG is the evaluator's */
    ar_error err;
    /* The learned blend: the best fixed combination. */
    ar_model *mb = fit_spec(blend, ds, 2);
    ar_blend_learn_result rb;
    assert_int_equal(ar_model_learn_blend_weights(mb, ds, &o, &rb, &err), AR_OK);
    double blend_test = ndcg_on(mb, ds, x, AR_MASK_TEST);
    /* The stack: neutral (= the 1:1 blend) before learning, then learned. */
    ar_model *ms = fit_spec(stack, ds, 2);
    double start_test = ndcg_on(ms, ds, x, AR_MASK_TEST);
    ar_blend_learn_result rs;
    assert_int_equal(ar_model_learn_blend_weights(ms, ds, &o, &rs, &err), AR_OK);
    double stack_test = ndcg_on(ms, ds, x, AR_MASK_TEST);
    print_message("stack: valid NDCG@20 start %.4f, best single %.4f, learned %.4f (learned "
                  "blend %.4f); test: neutral %.4f, learned blend %.4f, stack %.4f; "
                  "%d Newton steps; v = [[%g, %g], [%g, %g]]\n",
                  rs.start_ndcg, rs.best_single, rs.final_ndcg, rb.final_ndcg, start_test,
                  blend_test, stack_test, rs.iterations, rs.meta[0][0], rs.meta[0][1],
                  rs.meta[1][0], rs.meta[1][1]);
    assert_int_equal(rs.n_features, 2);
    assert_string_equal(rs.feature[1], "log_history_length");
    assert_true(rs.iterations > 0);
    assert_true(rs.final_ndcg >= rs.start_ndcg && rs.final_ndcg >= rs.best_single);
    assert_true(rs.final_ndcg > rb.final_ndcg + 0.05);
    /* On held-out data: better than before learning and than the learned blend. */
    assert_true(stack_test >= start_test);
    assert_true(stack_test > blend_test + 0.05);
    /* Learning is on the history length: mostpop's weight falls with it, itemknn's rises. */
    assert_true(rs.meta[0][1] < rs.meta[1][1]);
    /* The evaluator agrees with the learner on the validation users. */
    double valid = ndcg_on(ms, ds, x, AR_MASK_VALID);
    if (!(fabs(valid - rs.final_ndcg) < 1e-9))
        fail_msg("evaluator %.12f learner %.12f", valid, rs.final_ndcg);
    /* The spec says the meta-model; it rebuilds the model, and learning on 1 thread gives the
     * same bits as on 2 (a sample of users this time). */
    char *sj = ar_model_spec_json(ms);
    char want[128];
    snprintf(want, sizeof want, "\"weights\":[[");
    assert_non_null(strstr(sj, want));
    ar_model *again = fit_spec(sj, ds, 1);
    size_t sz = (size_t)x->n_rows * (size_t)ar_model_n_items(ms);
    float *sa = malloc(sizeof *sa * sz), *sb = malloc(sizeof *sb * sz);
    all_scores(ms, x, sa);
    all_scores(again, x, sb);
    assert_memory_equal(sa, sb, sizeof *sa * sz);
    ar_model_free(again);
    o.max_users = 200;
    ar_model *t1 = fit_spec(stack, ds, 1), *t2 = fit_spec(stack, ds, 2);
    ar_blend_learn_result r1, r2;
    o.n_threads = 1;
    assert_int_equal(ar_model_learn_blend_weights(t1, ds, &o, &r1, &err), AR_OK);
    o.n_threads = 2;
    assert_int_equal(ar_model_learn_blend_weights(t2, ds, &o, &r2, &err), AR_OK);
    assert_memory_equal(r1.meta, r2.meta, sizeof r1.meta);
    assert_true(r1.final_ndcg == r2.final_ndcg && r1.iterations == r2.iterations);
    char *j1 = ar_model_spec_json(t1), *j2 = ar_model_spec_json(t2);
    assert_string_equal(j1, j2);
    /* Save and load: the same spec and bitwise the same scores, batch and explain included. */
    char dir[128], path[256];
    assert_int_equal(ar_test_mkdtemp(dir, sizeof dir, "stack"), 0);
    snprintf(path, sizeof path, "%s/s.model", dir);
    assert_int_equal(ar_model_save(ms, path, &err), AR_OK);
    ar_model *l;
    assert_int_equal(ar_model_load(path, &l, &err), AR_OK);
    char *lj = ar_model_spec_json(l);
    assert_string_equal(sj, lj);
    all_scores(l, x, sb);
    assert_memory_equal(sa, sb, sizeof *sa * sz);
    int32_t users[3] = {1, 250, 600};
    float *ba = malloc(sizeof *ba * 3 * (size_t)ar_model_n_items(ms)),
          *bb = malloc(sizeof *bb * 3 * (size_t)ar_model_n_items(ms));
    assert_int_equal(ar_model_score_batch(ms, x, users, 3, ba), AR_OK);
    assert_int_equal(ar_model_score_batch(l, x, users, 3, bb), AR_OK);
    assert_memory_equal(ba, bb, sizeof *ba * 3 * (size_t)ar_model_n_items(ms));
    /* explain delegates to the member the user weighs most: itemknn (item-level reasons) for a
     * long-history user, mostpop (no item-level reasons: all 0) for a short one. */
    int32_t ex[5], n_ex, rec[1], n_rec;
    float w[5], sc[1];
    for (int k = 0; k < 2; k++) {
        int32_t u = ar_dataset_lookup(ds, AR_USERS, k ? "s10" : "l1"); /* short, long */
        assert_true(u >= 0);
        int64_t hb = x->indptr[u], he = x->indptr[u + 1];
        assert_int_equal(ar_model_recommend(l, u, x->indices + hb, NULL, (int32_t)(he - hb), 1,
                                            NULL, rec, sc, &n_rec),
                         AR_OK);
        assert_int_equal(ar_model_explain(l, u, x->indices + hb, NULL, (int32_t)(he - hb), rec[0],
                                          5, ex, w, &n_ex),
                         AR_OK);
        if (k == 0)
            assert_true(n_ex > 0 && w[0] > 0);
        else
            assert_true(n_ex == 0 || w[0] == 0);
    }
    ar_model_free(l);
    assert_int_equal(ar_test_rmtree(dir), 0);
    /* From a neutral start a learned stack is never below the learned blend of the same members
     * on the sample (it runs the blend's ascent first), here on data without two regimes. */
    ar_dataset *d2 = make_ds(23);
    char b2[512], s2[512];
    snprintf(b2, sizeof b2,
             "{\"blend\": [{\"weight\": 1, \"spec\": %s}, {\"weight\": 1, \"spec\": %s}]}", RP3,
             IALS);
    snprintf(s2, sizeof s2,
             "{\"stack\": {\"features\": [\"bias\", \"history_popularity\"]}, \"members\": [%s, "
             "%s]}",
             RP3, IALS);
    ar_model *mb2 = fit_spec(b2, d2, 2), *ms2 = fit_spec(s2, d2, 2);
    o = ar_blend_learn_options_default();
    assert_int_equal(ar_model_learn_blend_weights(mb2, d2, &o, &rb, &err), AR_OK);
    assert_int_equal(ar_model_learn_blend_weights(ms2, d2, &o, &rs, &err), AR_OK);
    assert_true(rs.final_ndcg >= rb.final_ndcg);
    assert_true(rs.newton_ndcg > 0 && rs.final_ndcg >= rs.newton_ndcg);
    ar_model_free(mb2);
    ar_model_free(ms2);
    ar_dataset_free(d2);
    free(sa), free(sb), free(ba), free(bb);
    ar_free_array(sj);
    ar_free_array(lj);
    ar_free_array(j1);
    ar_free_array(j2);
    ar_model_free(t1);
    ar_model_free(t2);
    ar_model_free(mb);
    ar_model_free(ms);
    ar_csr_free(x);
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

/* 1 when a blend, fuse or stack anywhere in n holds the same member twice. */
static int repeats_member(json_t *n) {
    if (!json_is_object(n) || json_object_get(n, "model"))
        return 0;
    json_t *blend = json_object_get(n, "blend");
    json_t *a = blend ? blend : json_object_get(n, "members");
    int gate = json_object_get(n, "gate") != NULL;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *ci = blend ? json_object_get(json_array_get(a, i), "spec") : json_array_get(a, i);
        if (repeats_member(ci))
            return 1;
        for (size_t j = 0; j < i && !gate; j++)
            if (json_equal(ci, blend ? json_object_get(json_array_get(a, j), "spec")
                                     : json_array_get(a, j)))
                return 1;
    }
    return 0;
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
    int kinds[5] = {0}, leaves_max = 0;
    for (int t = 0; t < 150; t++) {
        char *sa, *sb;
        assert_int_equal(ar_evo_propose(a, &sa, &err), AR_OK);
        assert_int_equal(ar_evo_propose(b, &sb, &err), AR_OK);
        assert_string_equal(sa, sb);
        if (ar_spec_validate(sa, &err) != AR_OK)
            fail_msg("proposal %d invalid: %s (%s)", t, sa, err.msg);
        assert_null(strstr(sa, "\"ials\""));
        json_t *tree = json_loads(sa, 0, NULL);
        if (repeats_member(tree))
            fail_msg("proposal %d repeats a member: %s", t, sa);
        json_decref(tree);
        assert_null(strstr(sa, "\"ease\""));
        ar_spec_info in;
        assert_int_equal(ar_spec_info_get(sa, &in, &err), AR_OK);
        assert_true(in.n_leaves <= 5 && in.depth <= 3);
        leaves_max = in.n_leaves > leaves_max ? in.n_leaves : leaves_max;
        kinds[0] += strstr(sa, "\"blend\"") != NULL;
        kinds[1] += strstr(sa, "\"fuse\"") != NULL;
        kinds[2] += strstr(sa, "\"transforms\"") != NULL;
        kinds[3] += in.n_leaves == 1;
        kinds[4] += strstr(sa, "\"stack\"") != NULL;
        /* every 10th trial "fails" */
        double r = t % 10 == 9 ? NAN : fake_reward(sa);
        assert_int_equal(ar_evo_observe(a, sa, r, &err), AR_OK);
        assert_int_equal(ar_evo_observe(b, sb, r, &err), AR_OK);
        ar_free_array(sa);
        ar_free_array(sb);
    }
    /* The search explores structure, not only parameters. */
    print_message("evo: of 150 proposals %d have a blend, %d a fuse, %d a stack, %d transforms\n",
                  kinds[0], kinds[1], kinds[4], kinds[2]);
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
    /* With a stack as the elite, its mutations (members with their rows of the meta-model,
     * weights, normalisation, stack <-> blend) stay valid. */
    assert_int_equal(ar_evo_create(5, &o, &a, &err), AR_OK);
    assert_int_equal(ar_evo_observe(a,
                                    "{\"stack\": {\"features\": [\"bias\", "
                                    "\"history_popularity\"]}, \"members\": [{\"model\": "
                                    "\"mostpop\"}, {\"model\": \"rp3beta\"}, {\"model\": "
                                    "\"itemknn\"}], \"weights\": [[1, -0.5], [0.5, 0], [0, 1]]}",
                                    2.0, &err),
                     AR_OK);
    int stacks = 0;
    for (int t = 0; t < 60; t++) {
        char *sa;
        assert_int_equal(ar_evo_propose(a, &sa, &err), AR_OK);
        if (ar_spec_validate(sa, &err) != AR_OK)
            fail_msg("proposal %d invalid: %s (%s)", t, sa, err.msg);
        stacks += strstr(sa, "\"stack\"") != NULL;
        assert_int_equal(ar_evo_observe(a, sa, t < 8 ? fake_reward(sa) : 0.5, &err), AR_OK);
        ar_free_array(sa);
    }
    assert_true(stacks > 10);
    ar_evo_free(a);
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
     * run is deterministic; seeds 1..7 each gain 0.012 to 0.019 within 40 proposals
     * (EVO_SEED=S EVO_TRACE=1 shows a run). */
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
        cmocka_unit_test(test_training_matrix_weighting),
        cmocka_unit_test(test_learned_weights),
        cmocka_unit_test(test_stack_equals_blend),
        cmocka_unit_test(test_stack_matches_reference),
        cmocka_unit_test(test_stack_learns),
        cmocka_unit_test(test_evo_valid_and_deterministic),
        cmocka_unit_test(test_evo_improves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
