/* Unit tests for the generic model interface (src/models/model.c), exercised through MostPop:
 * parameters and the decision space, fitting, scoring, recommending with filters, rankers, model
 * files (round trip, corruption, foreign files, dataset fingerprints). Each family has its own
 * test file for its kernels. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "agentrec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    return ar_test_mkdtemp(tmpdir, sizeof tmpdir, "models");
}

static int teardown(void **state) {
    (void)state;
    return ar_test_rmtree(tmpdir);
}

/* Items 0..4; popularity over train users: item 2 by 3 users, item 0 by 2, items 1, 3 by 1,
 * item 4 by none (it only appears in test). Item 1 is "bags", the others "shoes". Times: user
 * 0's interactions are old, the others recent. */
static ar_dataset *small(void) {
    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    struct {
        const char *u, *i;
        int64_t t;
        ar_split s;
    } rows[] = {
        {"0", "0", 0, AR_SPLIT_TRAIN},          {"0", "2", 0, AR_SPLIT_TRAIN},
        {"1", "2", 86400 * 10, AR_SPLIT_TRAIN}, {"1", "1", 86400 * 10, AR_SPLIT_TRAIN},
        {"2", "2", 86400 * 10, AR_SPLIT_TRAIN}, {"2", "0", 86400 * 10, AR_SPLIT_TRAIN},
        {"2", "3", 86400 * 10, AR_SPLIT_TRAIN}, {"0", "4", 86400 * 11, AR_SPLIT_TEST},
        {"1", "3", 86400 * 11, AR_SPLIT_TEST},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        assert_int_equal(
            ar_builder_add(b, rows[k].u, rows[k].i, rows[k].t, AR_EVENT_CLICK, 1, rows[k].s),
            AR_OK);
    const char *cat[] = {"shoes", "bags", "shoes", "shoes", "shoes"};
    char id[8];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "%d", i);
        assert_int_equal(ar_builder_attr_cat(b, AR_ITEMS, id, "category", cat[i]), AR_OK);
    }
    ar_builder_set_flags(b, AR_DS_HAS_TIME);
    ar_dataset *ds;
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_OK);
    ar_builder_free(b);
    return ds;
}

static ar_model *fitted(const ar_dataset *ds, const char *half_life) {
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create("mostpop", &m), AR_OK);
    if (half_life)
        assert_int_equal(ar_model_set(m, "half_life_days", half_life, &err), AR_OK);
    ar_fit_options o = ar_fit_options_default();
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_OK);
    return m;
}

static void test_registry_and_params(void **state) {
    (void)state;
    const char *const *names = ar_model_names();
    int found = 0;
    for (; *names; names++)
        found |= strcmp(*names, "mostpop") == 0;
    assert_true(found);
    ar_model *m;
    assert_int_equal(ar_model_create("no-such-model", &m), AR_ENOTFOUND);
    assert_null(m);
    assert_int_equal(ar_model_create("mostpop", &m), AR_OK);
    assert_string_equal(ar_model_name(m), "mostpop");
    assert_true(ar_model_n_params(m) >= 1);
    assert_string_equal(ar_model_param_def(m, 0)->name, "half_life_days");
    assert_null(ar_model_param_def(m, 99));
    ar_error err;
    assert_int_equal(ar_model_set(m, "half_life_days", "7.5", &err), AR_OK);
    assert_true(ar_model_get(m, "half_life_days") == 7.5);
    assert_int_equal(ar_model_set(m, "half_life_days", "-1", &err), AR_ERANGE);
    assert_non_null(strstr(err.msg, "half_life_days"));
    assert_int_equal(ar_model_set(m, "half_life_days", "abc", &err), AR_EINVAL);
    assert_int_equal(ar_model_set(m, "half_life_days", "nan", &err), AR_EINVAL);
    assert_int_equal(ar_model_set(m, "nope", "1", &err), AR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    assert_true(isnan(ar_model_get(m, "nope")));
    assert_int_equal(ar_model_set_json(m, "{\"half_life_days\": 3}", &err), AR_OK);
    assert_true(ar_model_get(m, "half_life_days") == 3);
    assert_int_equal(ar_model_set_json(m, "[1]", &err), AR_EPARSE);
    assert_int_equal(ar_model_set_json(m, "{\"half_life_days\": [1]}", &err), AR_EINVAL);
    char *p = ar_model_params_json(m);
    assert_string_equal(p, "{\"half_life_days\":3.0}");
    ar_free_array(p);
    char *s = ar_model_space_json(m);
    assert_non_null(strstr(s, "\"name\":\"half_life_days\""));
    assert_non_null(strstr(s, "\"type\":\"float\""));
    assert_non_null(strstr(s, "\"high\":3650"));
    ar_free_array(s);
    ar_model_free(m);
    ar_model_free(NULL);
}

static void test_fit_score_recommend(void **state) {
    (void)state;
    ar_dataset *ds = small();
    ar_model *m = fitted(ds, NULL);
    assert_true(ar_model_is_fitted(m));
    assert_int_equal(ar_model_n_items(m), 5);
    assert_int_equal(ar_model_n_users(m), 3);
    ar_error err;
    assert_int_equal(ar_model_set(m, "half_life_days", "1", &err), AR_EINVAL);
    float s[5];
    assert_int_equal(ar_model_score(m, -1, NULL, NULL, 0, s), AR_OK);
    assert_true(s[0] == 2 && s[1] == 1 && s[2] == 3 && s[3] == 1 && s[4] == 0);

    /* User 0 has history {0, 2}: top-3 excluding it = 1, 3 (tie, lower index first), 4. */
    int32_t hist[] = {0, 2}, items[5], n;
    float sc[5];
    ar_rec_filter f = {.exclude_history = 1};
    assert_int_equal(ar_model_recommend(m, 0, hist, NULL, 2, 3, &f, items, sc, &n), AR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(items[0], 1);
    assert_int_equal(items[1], 3);
    assert_int_equal(items[2], 4);
    /* Category filter "bags" leaves only item 1; an explicit exclusion removes it. */
    f.ds = ds;
    f.attr = ar_dataset_attr_find(ds, AR_ITEMS, "category");
    f.code = -1;
    for (int32_t c = 0; c < ar_dataset_attr_n_values(ds, AR_ITEMS, f.attr); c++)
        if (strcmp(ar_dataset_attr_value(ds, AR_ITEMS, f.attr, c), "bags") == 0)
            f.code = c;
    assert_int_equal(ar_model_recommend(m, 0, hist, NULL, 2, 3, &f, items, sc, &n), AR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], 1);
    int32_t ex[] = {1};
    f.exclude = ex;
    f.n_exclude = 1;
    assert_int_equal(ar_model_recommend(m, 0, hist, NULL, 2, 3, &f, items, sc, &n), AR_OK);
    assert_int_equal(n, 0);
    /* Without a filter everything is eligible. */
    assert_int_equal(ar_model_recommend(m, 0, hist, NULL, 2, 2, NULL, items, NULL, &n), AR_OK);
    assert_int_equal(items[0], 2);
    assert_int_equal(items[1], 0);
    /* Bad histories are refused. */
    int32_t unsorted[] = {2, 0}, out_of_range[] = {7};
    assert_int_equal(ar_model_recommend(m, 0, unsorted, NULL, 2, 2, NULL, items, NULL, &n),
                     AR_EINVAL);
    assert_int_equal(ar_model_score(m, -1, out_of_range, NULL, 1, s), AR_EINVAL);
    assert_int_equal(ar_model_score(m, 3, NULL, NULL, 0, s), AR_ERANGE);
    /* MostPop has no item-level explanation. */
    assert_int_equal(ar_model_explain(m, 0, hist, NULL, 2, 1, 3, items, sc, &n), AR_OK);
    assert_int_equal(n, 0);

    /* Batch scoring equals one-at-a-time scoring. */
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    int32_t users[] = {2, 0};
    float batch[10];
    assert_int_equal(ar_model_score_batch(m, x, users, 2, batch), AR_OK);
    assert_memory_equal(batch, s, sizeof s);
    assert_memory_equal(batch + 5, s, sizeof s);
    ar_csr_free(x);
    ar_model_free(m);

    /* A 1-day half-life: user 0's old interactions (10 days before the rest) count ~0.001. */
    m = fitted(ds, "1");
    assert_int_equal(ar_model_score(m, -1, NULL, NULL, 0, s), AR_OK);
    assert_true(fabsf(s[2] - (2 + powf(0.5f, 10))) < 1e-5f);
    assert_true(fabsf(s[0] - (1 + powf(0.5f, 10))) < 1e-5f);
    assert_true(s[1] == 1 && s[3] == 1 && s[4] == 0);
    ar_model_free(m);
    ar_dataset_free(ds);
}

static void test_ranker_matches_eval_mostpop(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(400, 150, 12, 5, 3, &ds), AR_OK);
    ar_split_options so = ar_split_options_default();
    ar_error err;
    assert_int_equal(ar_dataset_split(ds, &so, &err), AR_OK);
    ar_model *m = fitted(ds, NULL);
    ar_csr *x;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
    ar_ranker zoo, ref;
    assert_int_equal(ar_model_ranker(m, x, &zoo), AR_OK);
    ar_mostpop *mp;
    assert_int_equal(ar_mostpop_fit(ds, AR_MASK_TRAIN, &mp), AR_OK);
    ref = ar_mostpop_ranker(mp);
    ar_eval_options eo = ar_eval_options_default();
    ar_eval_result a, b;
    assert_int_equal(ar_evaluate(ds, &zoo, &eo, &a, &err), AR_OK);
    assert_int_equal(ar_evaluate(ds, &ref, &eo, &b, &err), AR_OK);
    assert_int_equal(a.users, b.users);
    for (int k = 0; k < AR_METRIC_N; k++)
        for (int c = 0; c < a.n_cutoffs; c++)
            assert_true(a.value[k][c] == b.value[k][c]);
    ar_model_ranker_free(&zoo);
    ar_model_ranker_free(&zoo); /* idempotent */
    ar_mostpop_free(mp);
    ar_csr_free(x);
    ar_model_free(m);
    ar_dataset_free(ds);
}

/* Rankers of models with batch scoring score whole blocks of users at once (ar_ranker.block);
 * the evaluation must be exactly what one-user-at-a-time scoring gives, with 1 or 3 threads. */
static void test_ranker_blocks_match_single_scoring(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(300, 80, 10, 4, 5, &ds), AR_OK);
    ar_split_options so = ar_split_options_default();
    ar_error err;
    assert_int_equal(ar_dataset_split(ds, &so, &err), AR_OK);
    const char *names[] = {"ials", "ease", "bspm"};
    for (int k = 0; k < 3; k++) {
        ar_model *m;
        if (ar_model_create(names[k], &m) != AR_OK)
            continue; /* not in this build */
        ar_fit_options fo = ar_fit_options_default();
        assert_int_equal(ar_model_fit(m, ds, &fo, &err), AR_OK);
        ar_csr *x;
        assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &x), AR_OK);
        ar_ranker rk;
        assert_int_equal(ar_model_ranker(m, x, &rk), AR_OK);
        assert_non_null(rk.block);
        ar_eval_options eo = ar_eval_options_default();
        ar_eval_result a, b, c;
        eo.n_threads = 1;
        assert_int_equal(ar_evaluate(ds, &rk, &eo, &a, &err), AR_OK);
        eo.n_threads = 3;
        assert_int_equal(ar_evaluate(ds, &rk, &eo, &c, &err), AR_OK);
        ar_ranker single = rk;
        single.block = NULL;
        assert_int_equal(ar_evaluate(ds, &single, &eo, &b, &err), AR_OK);
        for (int q = 0; q < AR_METRIC_N; q++)
            for (int cut = 0; cut < a.n_cutoffs; cut++) {
                assert_true(a.value[q][cut] == b.value[q][cut]);
                assert_true(a.value[q][cut] == c.value[q][cut]);
            }
        ar_model_ranker_free(&rk);
        ar_csr_free(x);
        ar_model_free(m);
    }
    ar_dataset_free(ds);
}

static void path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void test_save_load(void **state) {
    (void)state;
    ar_dataset *ds = small();
    ar_model *m = fitted(ds, "2"), *l;
    char path[300];
    path_in(path, sizeof path, "m.bin");
    ar_error err;
    assert_int_equal(ar_model_save(m, path, &err), AR_OK);
    assert_int_equal(ar_model_load(path, &l, &err), AR_OK);
    assert_string_equal(ar_model_name(l), "mostpop");
    assert_true(ar_model_get(l, "half_life_days") == 2);
    assert_int_equal(ar_model_check_dataset(l, ds, &err), AR_OK);
    float a[5], b[5];
    assert_int_equal(ar_model_score(m, -1, NULL, NULL, 0, a), AR_OK);
    assert_int_equal(ar_model_score(l, -1, NULL, NULL, 0, b), AR_OK);
    assert_memory_equal(a, b, sizeof a);
    ar_model_free(l);

    /* Another dataset: the fingerprint differs. */
    ar_dataset *other;
    assert_int_equal(ar_dataset_synthetic(10, 5, 2, 1, 1, &other), AR_OK);
    assert_int_equal(ar_model_load(path, &l, &err), AR_OK);
    assert_int_equal(ar_model_check_dataset(l, other, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "other users or items"));
    ar_model_free(l);
    ar_dataset_free(other);

    /* An unfitted model cannot be saved. */
    ar_model *u;
    assert_int_equal(ar_model_create("mostpop", &u), AR_OK);
    assert_int_equal(ar_model_save(u, path, &err), AR_EINVAL);
    ar_model_free(u);
    ar_model_free(m);
    ar_dataset_free(ds);
}

static void test_corrupt_model_files(void **state) {
    (void)state;
    ar_dataset *ds = small();
    ar_model *m = fitted(ds, NULL), *l;
    char path[300], bad[300];
    path_in(path, sizeof path, "c.bin");
    path_in(bad, sizeof bad, "bad.bin");
    ar_error err;
    assert_int_equal(ar_model_save(m, path, &err), AR_OK);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    for (long pos = 0; pos < n; pos += 5) {
        buf[pos] ^= 0x21;
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)n, f);
        fclose(f);
        ar_status st = ar_model_load(bad, &l, &err);
        assert_true(st == AR_ECORRUPT || st == AR_EVERSION);
        assert_null(l);
        assert_non_null(strstr(err.msg, bad));
        buf[pos] ^= 0x21;
    }
    for (long len = 0; len < n; len += n / 9 + 1) {
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)len, f);
        fclose(f);
        assert_int_equal(ar_model_load(bad, &l, &err), AR_ECORRUPT);
    }
    /* A dataset file is not a model file (foreign magic). */
    char dpath[300];
    path_in(dpath, sizeof dpath, "d.ards");
    assert_int_equal(ar_dataset_save(ds, dpath, &err), AR_OK);
    assert_int_equal(ar_model_load(dpath, &l, &err), AR_ECORRUPT);
    assert_non_null(strstr(err.msg, "not an agentrec model file"));
    assert_int_equal(ar_model_load("/nonexistent/m.bin", &l, &err), AR_EIO);
    free(buf);
    ar_model_free(m);
    ar_dataset_free(ds);
}

/* -- the fit cache ---------------------------------------------------------------------------- */

static int n_cache_files(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null | grep -c '\\.model$'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* Fits family with one parameter set through the cache; returns the model and adds its scores
 * for user 0 to out. */
static ar_model *cache_fit(const ar_dataset *ds, const char *family, const char *param,
                           const char *value, uint64_t seed, ar_fit_cache *cache, float *out) {
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create(family, &m), AR_OK);
    if (param)
        assert_int_equal(ar_model_set(m, param, value, &err), AR_OK);
    ar_fit_options o = ar_fit_options_default();
    o.seed = seed;
    o.cache = cache;
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_OK);
    assert_int_equal(ar_model_score(m, 0, NULL, NULL, 0, out), AR_OK);
    return m;
}

/* data: {files stored, files loaded} */
static void count_stored(void *data, const char *path, double fit_seconds) {
    assert_non_null(strstr(path, ".model"));
    assert_true(fit_seconds >= 0 && fit_seconds < 60);
    ++((int *)data)[0];
}

static void count_loaded(void *data, const char *path) {
    assert_non_null(strstr(path, ".model"));
    ++((int *)data)[1];
}

/* The families that do not read the seed fit the same model for every seed (what lets the
 * cache ignore their seed); iALS and BPR do read it. */
static void test_seed_independent_families(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(60, 40, 8, 3, 5, &ds), AR_OK);
    const char *fams[] = {"mostpop", "itemknn", "rp3beta", "ease", "bspm", "ials", "bpr"};
    for (int f = 0; f < 7; f++) {
        float a[40], b[40];
        ar_model *m1 = cache_fit(ds, fams[f], NULL, NULL, 1, NULL, a);
        ar_model *m2 = cache_fit(ds, fams[f], NULL, NULL, 2, NULL, b);
        if (f < 5)
            assert_memory_equal(a, b, sizeof a);
        else
            assert_memory_not_equal(a, b, sizeof a);
        ar_model_free(m1);
        ar_model_free(m2);
    }
    ar_dataset_free(ds);
}

static void test_fit_cache(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(60, 40, 8, 3, 5, &ds), AR_OK);
    char dir[300];
    path_in(dir, sizeof dir, "cache");
    float a[40], b[40];
    int n_stored[2] = {0, 0};
    ar_fit_cache fc = {dir, 0, 0, 0, count_stored, count_loaded, n_stored};

    /* A miss fits and stores; the same fit again loads the same model. */
    ar_model *m1 = cache_fit(ds, "ials", "factors", "8", 1, &fc, a);
    assert_int_equal(fc.hits, 0);
    assert_int_equal(n_cache_files(dir), 1);
    ar_model *m2 = cache_fit(ds, "ials", "factors", "8", 1, &fc, b);
    assert_int_equal(fc.hits, 1);
    assert_memory_equal(a, b, sizeof a);
    ar_error err;
    assert_int_equal(ar_model_check_dataset(m2, ds, &err), AR_OK);
    /* A loaded model is a fitted model like any other. */
    char path[300];
    path_in(path, sizeof path, "again.bin");
    assert_int_equal(ar_model_save(m2, path, &err), AR_OK);
    ar_model_free(m1);
    ar_model_free(m2);

    /* iALS reads the seed: another seed or other parameters are another fit. */
    ar_model_free(cache_fit(ds, "ials", "factors", "8", 2, &fc, b));
    ar_model_free(cache_fit(ds, "ials", "factors", "9", 1, &fc, b));
    assert_int_equal(fc.hits, 1);
    assert_int_equal(n_cache_files(dir), 3);
    /* EASE does not: another seed loads the same fit. */
    ar_model_free(cache_fit(ds, "ease", "lambda", "50", 1, &fc, a));
    ar_model_free(cache_fit(ds, "ease", "lambda", "50", 7, &fc, b));
    assert_int_equal(fc.hits, 2);
    assert_memory_equal(a, b, sizeof a);

    /* Other training splits are another fit. */
    ar_model *m;
    assert_int_equal(ar_model_create("ease", &m), AR_OK);
    assert_int_equal(ar_model_set(m, "lambda", "50", &err), AR_OK);
    ar_fit_options o = ar_fit_options_default();
    o.train_mask = AR_MASK_TRAIN | AR_MASK_VALID;
    o.cache = &fc;
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_OK);
    assert_int_equal(fc.hits, 2);
    ar_model_free(m);
    assert_int_equal(n_cache_files(dir), 5);

    /* Same ids (the fingerprint), other interactions: another fit. */
    ar_dataset *other;
    assert_int_equal(ar_dataset_synthetic(60, 40, 8, 3, 6, &other), AR_OK);
    assert_true(ar_dataset_fingerprint(other) == ar_dataset_fingerprint(ds));
    ar_model_free(cache_fit(other, "ease", "lambda", "50", 1, &fc, b));
    assert_int_equal(fc.hits, 2);
    ar_dataset_free(other);
    assert_int_equal(n_cache_files(dir), 6);

    /* A blend's members come from the cache like any fit. */
    assert_int_equal(ar_model_create_spec(
                         "{\"blend\":[{\"spec\":{\"model\":\"ease\",\"params\":{\"lambda\":50}}},"
                         "{\"spec\":{\"model\":\"ials\",\"params\":{\"factors\":8}}}]}",
                         &m, &err),
                     AR_OK);
    o = ar_fit_options_default();
    o.seed = 1;
    o.cache = &fc;
    assert_int_equal(ar_model_fit(m, ds, &o, &err), AR_OK);
    assert_int_equal(fc.hits, 4);
    ar_model_free(m);

    /* A damaged file is a miss: the fit runs again and replaces it. */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "for f in %s/ease-*.model; do truncate -s 100 \"$f\"; done", dir);
    assert_int_equal(system(cmd), 0);
    ar_model_free(cache_fit(ds, "ease", "lambda", "50", 1, &fc, b));
    assert_int_equal(fc.hits, 4);
    assert_memory_equal(a, b, sizeof a);
    ar_model_free(cache_fit(ds, "ease", "lambda", "50", 1, &fc, b));
    assert_int_equal(fc.hits, 5);
    assert_int_equal(n_stored[1], fc.hits); /* every load is told */

    /* Fits shorter than min_seconds are not stored. */
    ar_fit_cache slow = {dir, 1e9, 0, 0, count_stored, count_loaded, n_stored};
    int before = n_cache_files(dir), stored_before = n_stored[0];
    ar_model_free(cache_fit(ds, "ease", "lambda", "60", 1, &slow, b));
    assert_int_equal(n_cache_files(dir), before);
    assert_int_equal(n_stored[0], stored_before);
    assert_true(n_stored[0] >= 7);

    /* The size cap: the least recently used files go first. */
    char dir2[300];
    path_in(dir2, sizeof dir2, "cache2");
    ar_fit_cache lru = {dir2, 0, 0, 0, NULL, NULL, NULL};
    ar_model_free(cache_fit(ds, "ease", "lambda", "60", 1, &lru, a));
    ar_model_free(cache_fit(ds, "ease", "lambda", "70", 1, &lru, b));
    char cmd2[400];
    /* both made old (file times have a coarse tick), then 60 used again */
    snprintf(cmd2, sizeof cmd2, "touch -d 2020-01-01 %s/*.model", dir2);
    assert_int_equal(system(cmd2), 0);
    ar_model_free(cache_fit(ds, "ease", "lambda", "60", 1, &lru, b));
    assert_int_equal(lru.hits, 1);
    snprintf(cmd2, sizeof cmd2, "stat -c %%s %s/ease-*.model | head -1", dir2);
    FILE *p = popen(cmd2, "r");
    long size = 0;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%ld", &size), 1);
    pclose(p);
    lru.max_bytes = (uint64_t)(2.5 * (double)size);
    ar_model_free(cache_fit(ds, "ease", "lambda", "80", 1, &lru, b)); /* 70 goes */
    assert_int_equal(n_cache_files(dir2), 2);
    ar_model_free(cache_fit(ds, "ease", "lambda", "60", 1, &lru, b));
    assert_int_equal(lru.hits, 2);
    ar_model_free(cache_fit(ds, "ease", "lambda", "80", 1, &lru, b));
    assert_int_equal(lru.hits, 3);
    lru.max_bytes = 1;
    ar_model_free(cache_fit(ds, "ease", "lambda", "90", 1, &lru, b));
    assert_int_equal(n_cache_files(dir2), 0);
    ar_dataset_free(ds);
}

/* A fit's work grows with the parameters that make it dearer, and composites have none of
 * their own. */
static double work(const char *model, const char *params) {
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create(model, &m), AR_OK);
    if (params)
        assert_int_equal(ar_model_set_json(m, params, &err), AR_OK);
    double w = ar_model_fit_work(m, 30000, 40000, 820000);
    ar_model_free(m);
    return w;
}

static void test_fit_work(void **state) {
    (void)state;
    const char *const *names = ar_model_names();
    for (; *names; names++) {
        double w = work(*names, NULL);
        assert_true(isfinite(w) && w > 0);
    }
    double b = work("bpr", "{\"epochs\": 10, \"factors\": 64}");
    assert_true(fabs(work("bpr", "{\"epochs\": 20, \"factors\": 64}") - 2 * b) < 1e-6 * b);
    assert_true(fabs(work("bpr", "{\"epochs\": 10, \"factors\": 128}") - 2 * b) < 1e-6 * b);
    assert_true(work("bpr", "{\"epochs\": 10, \"factors\": 64, \"optimizer\": \"adam\"}") > b);
    double cg = work("ials", "{\"factors\": 128}");
    assert_true(work("ials", "{\"factors\": 128, \"solver\": \"exact\"}") > cg);
    assert_true(work("ials", "{\"factors\": 256}") > 2 * cg);
    assert_true(work("bspm", "{\"factors\": 512}") > work("bspm", "{\"factors\": 256}"));
    ar_model *m;
    ar_error err;
    assert_int_equal(ar_model_create_spec("{\"blend\": [{\"weight\": 1, \"spec\": {\"model\": "
                                          "\"mostpop\"}}]}",
                                          &m, &err),
                     AR_OK);
    assert_true(isnan(ar_model_fit_work(m, 10, 10, 100)));
    ar_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_and_params),
        cmocka_unit_test(test_fit_score_recommend),
        cmocka_unit_test(test_ranker_matches_eval_mostpop),
        cmocka_unit_test(test_ranker_blocks_match_single_scoring),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_corrupt_model_files),
        cmocka_unit_test(test_seed_independent_families),
        cmocka_unit_test(test_fit_cache),
        cmocka_unit_test(test_fit_work),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
