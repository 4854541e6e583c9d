/* Unit tests for src/core: status table, RNG streams, interning, number parsing, progress. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"

#include <stdio.h>
#include <string.h>

static void test_strerror(void **state) {
    (void)state;
    assert_string_equal(ar_strerror(AR_OK), "success");
    assert_string_equal(ar_strerror(AR_EPARSE), "malformed input");
    assert_string_equal(ar_strerror((ar_status)-999), "unknown status");
}

static void test_rng_streams(void **state) {
    (void)state;
    ar_rng a, b;
    ar_rng_stream(&a, 42, 7);
    ar_rng_stream(&b, 42, 7);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ar_rng_next(&a), ar_rng_next(&b));
    ar_rng_stream(&b, 42, 8);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += ar_rng_next(&a) == ar_rng_next(&b);
    assert_true(same < 2);
    /* below() covers its range roughly uniformly and never reaches n. */
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t x = ar_rng_below(&a, 7);
        assert_true(x < 7);
        hist[x]++;
    }
    for (int k = 0; k < 7; k++)
        assert_true(hist[k] > 9000 && hist[k] < 11000);
    for (int i = 0; i < 1000; i++) {
        double u = ar_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
}

static void test_intern(void **state) {
    (void)state;
    ar__intern t;
    ar__intern_init(&t);
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf, "id-%d", i);
        int32_t id;
        int added;
        assert_int_equal(ar__intern_put(&t, buf, &id, &added), AR_OK);
        assert_int_equal(id, i);
        assert_int_equal(added, 1);
    }
    int32_t id;
    int added;
    assert_int_equal(ar__intern_put(&t, "id-17", &id, &added), AR_OK);
    assert_int_equal(id, 17);
    assert_int_equal(added, 0);
    assert_int_equal(ar__intern_get(&t, "id-4999"), 4999);
    assert_int_equal(ar__intern_get(&t, "missing"), -1);
    assert_string_equal(ar__intern_str(&t, 123), "id-123");
    ar__intern_deinit(&t);
}

static void test_parse(void **state) {
    (void)state;
    int64_t v;
    assert_true(ar__parse_i64("123", 0, INT32_MAX, &v) && v == 123);
    assert_true(ar__parse_i64("-5", -10, 10, &v) && v == -5);
    assert_false(ar__parse_i64("2147483648", 0, INT32_MAX, &v));
    assert_false(ar__parse_i64("12x", 0, 100, &v));
    assert_false(ar__parse_i64("", 0, 100, &v));
    assert_false(ar__parse_i64(" 1", 0, 100, &v));
    assert_false(ar__parse_i64("99999999999999999999999", INT64_MIN, INT64_MAX, &v));
    double d;
    assert_true(ar__parse_double("3.5", &d) && d == 3.5);
    assert_false(ar__parse_double("nan", &d));
    assert_false(ar__parse_double("inf", &d));
    assert_false(ar__parse_double("1e999", &d));
    assert_false(ar__parse_double("4.0abc", &d));
}

static void test_grow_overflow(void **state) {
    (void)state;
    size_t out;
    assert_false(ar__mul_ok(SIZE_MAX / 2, 4, &out));
    assert_null(ar__alloc_array(SIZE_MAX / 2, 4));
    void *p = NULL;
    size_t cap = 0;
    assert_int_equal(ar__grow(&p, &cap, 100, 8), AR_OK);
    assert_true(cap >= 100);
    ar__free(p);
}

static void test_progress_disabled_is_silent(void **state) {
    (void)state;
    char buf[256] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    ar_progress *p = ar_progress_create(f, "x", 0);
    for (int i = 0; i <= 10; i++)
        assert_int_equal(ar_progress_update(p, i, 10), 0);
    ar_progress_free(p);
    fclose(f);
    assert_int_equal(strlen(buf), 0);

    memset(buf, 0, sizeof buf);
    f = fmemopen(buf, sizeof buf, "w");
    p = ar_progress_create(f, "load", 1);
    ar_progress_update(p, 10, 10);
    ar_progress_free(p);
    fclose(f);
    assert_non_null(strstr(buf, "load ["));
    assert_non_null(strstr(buf, "100%"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),      cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_intern),        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_grow_overflow), cmocka_unit_test(test_progress_disabled_is_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
