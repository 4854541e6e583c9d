/* Unit tests for src/data: builder ordering, binary format round trip and corruption, splits,
 * CSR views, statistics, the synthetic generator, and out-of-memory handling. */
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
    return ar_test_mkdtemp(tmpdir, sizeof tmpdir, "dataset");
}

static int teardown(void **state) {
    (void)state;
    return ar_test_rmtree(tmpdir);
}

/* A small dataset whose rows arrive out of order: user "10" before "9", times shuffled. */
static ar_dataset *small(void) {
    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    assert_int_equal(ar_builder_add(b, "10", "b", 30, AR_EVENT_CLICK, 1, AR_SPLIT_TRAIN), AR_OK);
    assert_int_equal(ar_builder_add(b, "9", "a", 20, AR_EVENT_VIEW, 1, AR_SPLIT_TRAIN), AR_OK);
    assert_int_equal(ar_builder_add(b, "10", "a", 10, AR_EVENT_CLICK, 2, AR_SPLIT_TRAIN), AR_OK);
    assert_int_equal(ar_builder_add(b, "10", "c", 10, AR_EVENT_PURCHASE, 5, AR_SPLIT_TEST), AR_OK);
    assert_int_equal(ar_builder_add(b, "9", "c", 5, AR_EVENT_CLICK, 1, AR_SPLIT_TRAIN), AR_OK);
    assert_int_equal(ar_builder_add(b, "9", "c", 6, AR_EVENT_CLICK, 1, AR_SPLIT_TRAIN), AR_OK);
    int code;
    assert_int_equal(ar_builder_event(b, "wishlist", &code), AR_OK);
    assert_int_equal(code, AR_EVENT_N_BUILTIN);
    assert_int_equal(ar_builder_event(b, "click", &code), AR_OK);
    assert_int_equal(code, AR_EVENT_CLICK);
    assert_int_equal(ar_builder_add(b, "11", "d", 1, AR_EVENT_N_BUILTIN, 1, AR_SPLIT_VALID), AR_OK);
    assert_int_equal(ar_builder_touch(b, AR_ITEMS, "e"), AR_OK);
    assert_int_equal(ar_builder_attr_cat(b, AR_ITEMS, "a", "genre", "drama"), AR_OK);
    assert_int_equal(ar_builder_attr_cat(b, AR_ITEMS, "a", "genre", "comedy"), AR_OK);
    assert_int_equal(ar_builder_attr_cat(b, AR_ITEMS, "a", "genre", "drama"), AR_OK);
    assert_int_equal(ar_builder_attr_cat(b, AR_ITEMS, "c", "genre", "comedy"), AR_OK);
    assert_int_equal(ar_builder_attr_num(b, AR_ITEMS, "b", "price", 12.5), AR_OK);
    assert_int_equal(ar_builder_attr_num(b, AR_ITEMS, "b", "genre", 1), AR_EINVAL);
    assert_int_equal(ar_builder_attr_num(b, AR_ITEMS, "b", "price", NAN), AR_ERANGE);
    assert_int_equal(ar_builder_attr_cat(b, AR_USERS, "9", "segment", "vic"), AR_OK);
    assert_int_equal(ar_builder_item_launch(b, "c", 1234), AR_OK);
    assert_int_equal(ar_builder_item_title(b, "a", "Alpha"), AR_OK);
    assert_int_equal(ar_builder_add(b, "9", "a", 1, AR_EVENT_CLICK, INFINITY, AR_SPLIT_TRAIN),
                     AR_ERANGE);
    ar_builder_set_flags(b, AR_DS_HAS_TIME);
    ar_dataset *ds;
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_OK);
    ar_builder_free(b);
    return ds;
}

static void check_small(const ar_dataset *ds) {
    assert_int_equal(ar_dataset_n_users(ds), 3);
    assert_int_equal(ar_dataset_n_items(ds), 5);
    assert_int_equal(ar_dataset_n_interactions(ds), 7);
    /* Numeric ids sort numerically: 9 < 10 < 11. */
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 0), "9");
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 1), "10");
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 2), "11");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 4), "e");
    assert_null(ar_dataset_id(ds, AR_ITEMS, 5));
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    const int64_t *off = ar_dataset_user_offsets(ds);
    assert_int_equal(off[0], 0);
    assert_int_equal(off[1], 3);
    assert_int_equal(off[2], 6);
    assert_int_equal(off[3], 7);
    /* user 9: times 5, 6, 20 -> items c, c, a */
    assert_int_equal(in.item[0], 2);
    assert_int_equal(in.time[0], 5);
    assert_int_equal(in.time[1], 6);
    assert_int_equal(in.item[2], 0);
    assert_int_equal(in.event[2], AR_EVENT_VIEW);
    /* user 10: (10,a) and (10,c) tie on time: input order (a first), then (30,b) */
    assert_int_equal(in.item[3], 0);
    assert_int_equal(in.item[4], 2);
    assert_int_equal(in.split[4], AR_SPLIT_TEST);
    assert_true(in.value[4] == 5.0f);
    assert_int_equal(in.item[5], 1);
    assert_int_equal(in.split[6], AR_SPLIT_VALID);
    assert_string_equal(ar_dataset_event_name(ds, in.event[6]), "wishlist");
    assert_int_equal(ar_dataset_n_events(ds), AR_EVENT_N_BUILTIN + 1);
    assert_int_equal(ar_dataset_flags(ds), AR_DS_HAS_TIME);

    int g = ar_dataset_attr_find(ds, AR_ITEMS, "genre");
    int p = ar_dataset_attr_find(ds, AR_ITEMS, "price");
    assert_true(g >= 0 && p >= 0);
    assert_int_equal(ar_dataset_attr_kind(ds, AR_ITEMS, p), AR_ATTR_NUMERIC);
    int32_t n;
    const int32_t *codes = ar_dataset_attr_codes(ds, AR_ITEMS, g, 0, &n);
    assert_int_equal(n, 2); /* drama, comedy; the repeated drama is dropped */
    assert_string_equal(ar_dataset_attr_value(ds, AR_ITEMS, g, codes[0]), "drama");
    assert_string_equal(ar_dataset_attr_value(ds, AR_ITEMS, g, codes[1]), "comedy");
    ar_dataset_attr_codes(ds, AR_ITEMS, g, 1, &n);
    assert_int_equal(n, 0);
    assert_true(ar_dataset_attr_number(ds, AR_ITEMS, p, 1) == 12.5);
    assert_true(isnan(ar_dataset_attr_number(ds, AR_ITEMS, p, 0)));
    assert_int_equal(ar_dataset_attr_find(ds, AR_USERS, "segment"), 0);
    assert_int_equal(ar_dataset_item_launch(ds, 2), 1234);
    assert_true(ar_dataset_item_launch(ds, 0) == INT64_MIN);
    assert_string_equal(ar_dataset_item_title(ds, 0), "Alpha");
    assert_null(ar_dataset_item_title(ds, 1));
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TRAIN), 5);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST | AR_MASK_VALID), 2);
}

static void test_builder(void **state) {
    (void)state;
    ar_dataset *ds = small();
    check_small(ds);
    assert_int_equal(ar_dataset_lookup(ds, AR_USERS, "10"), 1);
    assert_int_equal(ar_dataset_lookup(ds, AR_ITEMS, "c"), 2);
    assert_int_equal(ar_dataset_lookup(ds, AR_ITEMS, "zz"), -1);
    ar_dataset_free(ds);
    ar_dataset_free(NULL);

    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_EEMPTY);
    assert_null(ds);
    ar_builder_free(b);
}

static void path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void test_binary_roundtrip(void **state) {
    (void)state;
    char path[300];
    path_in(path, sizeof path, "small.ards");
    ar_dataset *ds = small();
    ar_error err;
    assert_int_equal(ar_dataset_save(ds, path, &err), AR_OK);
    ar_dataset_free(ds);
    assert_int_equal(ar_dataset_load(path, 1, &ds, &err), AR_OK);
    check_small(ds);
    /* Split labels of a mapped dataset are private and writable. */
    ar_split_options o = ar_split_options_default();
    o.method = AR_SPLIT_LOO;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_OK);
    char path2[300];
    path_in(path2, sizeof path2, "small2.ards");
    assert_int_equal(ar_dataset_save(ds, path2, &err), AR_OK);
    ar_dataset_free(ds);
    assert_int_equal(ar_dataset_load(path2, 1, &ds, &err), AR_OK);
    /* users 9 and 10 have three rows each (test + valid), user 11 one (kept for training) */
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST), 2);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_VALID), 2);
    ar_dataset_free(ds);
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_binary_corrupt(void **state) {
    (void)state;
    char path[300], bad[300];
    path_in(path, sizeof path, "c.ards");
    path_in(bad, sizeof bad, "bad.ards");
    ar_dataset *ds = small();
    ar_error err;
    assert_int_equal(ar_dataset_save(ds, path, &err), AR_OK);
    ar_dataset_free(ds);
    long n = file_size(path);
    unsigned char *buf = malloc((size_t)n);
    FILE *f = fopen(path, "rb");
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);

    /* Every single-byte flip is caught (by the checksum or the structure checks), and every
     * truncation too; none crashes. */
    for (long pos = 0; pos < n; pos += 7) {
        buf[pos] ^= 0x5a;
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)n, f);
        fclose(f);
        ar_status st = ar_dataset_load(bad, 1, &ds, &err);
        assert_true(st == AR_ECORRUPT || st == AR_EVERSION);
        assert_null(ds);
        /* Without the checksum, damaged structure is still refused or loads safely. */
        if (ar_dataset_load(bad, 0, &ds, &err) == AR_OK)
            ar_dataset_free(ds);
        buf[pos] ^= 0x5a;
    }
    for (long len = 0; len < n; len += n / 13 + 1) {
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)len, f);
        fclose(f);
        assert_int_equal(ar_dataset_load(bad, 1, &ds, &err), AR_ECORRUPT);
        assert_non_null(strstr(err.msg, bad));
    }
    free(buf);
    assert_int_equal(ar_dataset_load("/nonexistent/x.ards", 1, &ds, &err), AR_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.ards"));
}

static void test_save_atomic(void **state) {
    (void)state;
    ar_dataset *ds = small();
    ar_error err;
    /* A directory that does not exist: the save fails and leaves nothing behind. */
    assert_int_equal(ar_dataset_save(ds, "/nonexistent-dir/x.ards", &err), AR_EIO);
    char path[300];
    path_in(path, sizeof path, "atomic.ards");
    assert_int_equal(ar_dataset_save(ds, path, &err), AR_OK);
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    ar_dataset_free(ds);
}

static ar_dataset *synth(void) {
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(300, 120, 15, 4, 11, &ds), AR_OK);
    return ds;
}

static void labels(const ar_dataset *ds, uint8_t *out) {
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    memcpy(out, in.split, (size_t)in.n);
}

static void test_split_random_deterministic(void **state) {
    (void)state;
    ar_dataset *ds = synth();
    int64_t n = ar_dataset_n_interactions(ds);
    uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
    ar_split_options o = ar_split_options_default();
    o.test_ratio = 0.2;
    o.valid_ratio = 0.1;
    o.seed = 5;
    o.n_threads = 1;
    ar_error err;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_OK);
    labels(ds, a);
    o.n_threads = 2;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_OK);
    labels(ds, b);
    assert_memory_equal(a, b, (size_t)n);
    /* 15 per user -> round(3) test and round(1.5)=2 valid per user. */
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST), 300 * 3);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_VALID), 300 * 2);
    o.seed = 6;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_OK);
    labels(ds, b);
    assert_memory_not_equal(a, b, (size_t)n);
    o.test_ratio = 1.5;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "test ratio"));
    free(a);
    free(b);
    ar_dataset_free(ds);
}

static void test_split_loo_and_temporal(void **state) {
    (void)state;
    ar_dataset *ds = synth();
    ar_error err;
    ar_split_options o = ar_split_options_default();
    o.method = AR_SPLIT_LOO;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_OK);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST), 300);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_VALID), 300);
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    const int64_t *off = ar_dataset_user_offsets(ds);
    for (int32_t u = 0; u < ar_dataset_n_users(ds); u++) {
        int64_t last = off[u + 1] - 1;
        assert_int_equal(in.split[last], AR_SPLIT_TEST);
        assert_int_equal(in.split[last - 1], AR_SPLIT_VALID);
        for (int64_t k = off[u]; k < last; k++)
            assert_true(in.time[k] <= in.time[last]);
    }
    o.method = AR_SPLIT_TEMPORAL;
    o.test_ratio = 0.25;
    o.valid_ratio = 0.1;
    assert_int_equal(ar_dataset_split(ds, &o, &err), AR_OK);
    int64_t max_train = INT64_MIN, min_test = INT64_MAX;
    for (int64_t k = 0; k < in.n; k++) {
        if (in.split[k] == AR_SPLIT_TRAIN && in.time[k] > max_train)
            max_train = in.time[k];
        if (in.split[k] == AR_SPLIT_TEST && in.time[k] < min_test)
            min_test = in.time[k];
    }
    assert_true(max_train < min_test);
    double frac = (double)ar_dataset_count(ds, AR_MASK_TEST) / (double)in.n;
    assert_true(frac > 0.2 && frac < 0.3);
    ar_dataset_free(ds);
}

static void test_csr(void **state) {
    (void)state;
    ar_dataset *ds = small();
    ar_csr *m, *t;
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &m), AR_OK);
    assert_int_equal(m->n_rows, 3);
    assert_int_equal(m->n_cols, 5);
    /* user 9: a(1) c(1+1); user 10: a(2) b(1) (c is test); user 11: nothing in train. */
    assert_int_equal(m->nnz, 4);
    assert_int_equal(m->indptr[1], 2);
    assert_int_equal(m->indices[0], 0);
    assert_int_equal(m->indices[1], 2);
    assert_true(m->values[1] == 2.0f);
    assert_true(m->values[2] == 2.0f);
    assert_int_equal(m->indptr[3], 4);
    assert_true(ar_csr_contains(m, 1, 1));
    assert_false(ar_csr_contains(m, 1, 2));
    assert_int_equal(ar_csr_transpose(m, &t), AR_OK);
    assert_int_equal(t->n_rows, 5);
    assert_int_equal(t->indptr[1] - t->indptr[0], 2); /* item a: users 9 and 10 */
    assert_true(ar_csr_contains(t, 2, 0));
    ar_csr_free(t);
    ar_csr_free(m);
    /* Event weights: views count 0 (dropped), clicks 1, purchases 4. */
    float w[AR_EVENT_N_BUILTIN + 1] = {0};
    w[AR_EVENT_CLICK] = 1;
    w[AR_EVENT_PURCHASE] = 4;
    assert_int_equal(ar_dataset_csr_events(ds, AR_MASK_ALL, w, AR_EVENT_N_BUILTIN + 1, &m), AR_OK);
    /* user 9: c clicked twice (a only viewed); user 10: a, b clicked, c purchased; user 11's
     * wishlist event weighs 0. */
    assert_int_equal(m->nnz, 4);
    assert_int_equal(m->indptr[1], 1);
    assert_int_equal(m->indices[0], 2);
    assert_true(m->values[0] == 2.0f);
    assert_true(m->values[3] == 4.0f);
    assert_int_equal(m->indptr[3] - m->indptr[2], 0);
    ar_csr_free(m);
    w[AR_EVENT_VIEW] = -1;
    assert_int_equal(ar_dataset_csr_events(ds, AR_MASK_ALL, w, AR_EVENT_N_BUILTIN + 1, &m),
                     AR_EINVAL);
    assert_null(m);
    assert_int_equal(ar_dataset_csr(ds, AR_MASK_ALL, 1, &m), AR_OK);
    assert_int_equal(m->nnz, 6);
    for (int64_t k = 0; k < m->nnz; k++)
        assert_true(m->values[k] == 1.0f);
    ar_csr_free(m);
    ar_csr_free(NULL);
    ar_dataset_free(ds);
}

static void test_stats(void **state) {
    (void)state;
    ar_dataset *ds = small();
    ar_dataset_stats s;
    assert_int_equal(ar_dataset_stats_compute(ds, &s), AR_OK);
    assert_int_equal(s.users, 3);
    assert_int_equal(s.items, 5);
    assert_int_equal(s.train, 5);
    assert_int_equal(s.valid, 1);
    assert_int_equal(s.test, 1);
    assert_float_equal(s.density, 7.0 / 15.0, 1e-12);
    /* per user 1, 3, 3 */
    assert_float_equal(s.user_q[0], 1, 0);
    assert_float_equal(s.user_q[2], 3, 0);
    assert_float_equal(s.user_q[6], 3, 0);
    /* item counts sorted: e0 d1 b1 a2 c3 -> Gini = (-4*0 -2*1 +0*1 +2*2 +4*3)/(5*7) = 14/35 */
    assert_float_equal(s.pop_gini, 14.0 / 35.0, 1e-12);
    assert_int_equal(s.time_min, 1);
    assert_int_equal(s.time_max, 30);
    ar_dataset_free(ds);
}

static void test_synthetic(void **state) {
    (void)state;
    ar_dataset *a = synth(), *b = synth();
    assert_int_equal(ar_dataset_n_interactions(a), 300 * 15);
    assert_int_equal(ar_dataset_n_items(a), 120);
    ar_interactions x, y;
    ar_dataset_interactions(a, &x);
    ar_dataset_interactions(b, &y);
    assert_memory_equal(x.item, y.item, (size_t)x.n * sizeof *x.item);
    ar_dataset_stats s;
    assert_int_equal(ar_dataset_stats_compute(a, &s), AR_OK);
    assert_true(s.pop_gini > 0.2); /* Zipf popularity is skewed */
    ar_dataset_free(a);
    ar_dataset_free(b);
    ar_dataset *c;
    assert_int_equal(ar_dataset_synthetic(0, 10, 1, 1, 1, &c), AR_EINVAL);
}

/* Fails every allocation after the first `budget` ones. */
static long budget;
static void *fail_malloc(size_t n) {
    return budget-- > 0 ? malloc(n) : NULL;
}
static void *fail_realloc(void *p, size_t n) {
    return budget-- > 0 ? realloc(p, n) : NULL;
}

static void test_out_of_memory(void **state) {
    (void)state;
    char path[300];
    path_in(path, sizeof path, "oom.ards");
    ar_dataset *ds = small();
    ar_error err;
    assert_int_equal(ar_dataset_save(ds, path, &err), AR_OK);
    ar_dataset_free(ds);
    const ar_allocator failing = {fail_malloc, fail_realloc, free};
    int ok_synth = 0, ok_load = 0, ok_csr = 0;
    for (long n = 0; n < 400 && !(ok_synth && ok_load && ok_csr); n++) {
        ar_set_allocator(&failing);
        budget = n;
        ar_status st = ar_dataset_synthetic(30, 20, 5, 2, 3, &ds);
        ar_set_allocator(NULL);
        assert_true(st == AR_OK || st == AR_ENOMEM);
        if (st == AR_OK) {
            ok_synth = 1;
            ar_csr *m = NULL;
            ar_set_allocator(&failing);
            budget = n;
            st = ar_dataset_csr(ds, AR_MASK_ALL, 0, &m);
            ar_set_allocator(NULL);
            assert_true(st == AR_OK || st == AR_ENOMEM);
            ok_csr |= st == AR_OK;
            ar_csr_free(m);
            ar_dataset_free(ds);
        }
        ar_set_allocator(&failing);
        budget = n;
        st = ar_dataset_load(path, 1, &ds, &err);
        ar_set_allocator(NULL);
        assert_true(st == AR_OK || st == AR_ENOMEM);
        if (st == AR_OK) {
            ok_load = 1;
            ar_dataset_free(ds);
        }
    }
    assert_true(ok_synth && ok_load && ok_csr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_binary_roundtrip),
        cmocka_unit_test(test_binary_corrupt),
        cmocka_unit_test(test_save_atomic),
        cmocka_unit_test(test_split_random_deterministic),
        cmocka_unit_test(test_split_loo_and_temporal),
        cmocka_unit_test(test_csr),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
