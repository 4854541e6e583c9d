/*
 * test_import.c -- ar_import() on small generated files, one test per format feature and one per
 * kind of bad input (each asserting the status and that the message names file:line), plus
 * progress/cancel and a failing-allocator sweep.
 */
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

/* Writes a file of n bytes (strlen when n is (size_t)-1) under tmpdir; returns its path, valid
 * until 16 more files are written. */
static const char *write_bytes(const char *name, const char *data, size_t n) {
    static char paths[16][512];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n == (size_t)-1)
        n = strlen(data);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_file(const char *name, const char *data) {
    return write_bytes(name, data, (size_t)-1);
}

static int setup(void **state) {
    (void)state;
    return ar_test_mkdtemp(tmpdir, sizeof tmpdir, "import");
}

static int teardown(void **state) {
    (void)state;
    return ar_test_rmtree(tmpdir);
}

static ar_import_options opts(ar_format format, const char *train) {
    ar_import_options o = ar_import_options_default();
    o.format = format;
    o.train = train;
    return o;
}

static ar_dataset *import_ok(const ar_import_options *o) {
    ar_dataset *ds = (ar_dataset *)1;
    ar_error err = {{0}};
    ar_status st = ar_import(o, &ds, &err);
    if (st)
        print_error("ar_import: %d %s\n", st, err.msg);
    assert_int_equal(st, AR_OK);
    assert_non_null(ds);
    return ds;
}

/* Asserts that the import fails with status st and a message containing `where` (the file:line
 * prefix) and `what`. */
static void import_fails(const ar_import_options *o, ar_status st, const char *where,
                         const char *what) {
    ar_dataset *ds = (ar_dataset *)1;
    ar_error err = {{0}};
    ar_status got = ar_import(o, &ds, &err);
    if (got != st || !strstr(err.msg, where) || (what && !strstr(err.msg, what)))
        print_error("status %d (want %d), message '%s' (want '%s' and '%s')\n", got, st, err.msg,
                    where, what ? what : "");
    assert_int_equal(got, st);
    assert_null(ds);
    assert_non_null(strstr(err.msg, where));
    if (what)
        assert_non_null(strstr(err.msg, what));
    assert_null(strchr(err.msg, '\n'));
}

/* "path:line:" for the last path returned by write_file. */
static const char *at(const char *path, int line) {
    static char buf[600];
    snprintf(buf, sizeof buf, "%s:%d:", path, line);
    return buf;
}

/* The categorical values of an entity, joined with ','. */
static const char *cats(const ar_dataset *ds, ar_entity which, const char *attr, int32_t index) {
    static char buf[256];
    int a = ar_dataset_attr_find(ds, which, attr);
    assert_true(a >= 0);
    assert_int_equal(ar_dataset_attr_kind(ds, which, a), AR_ATTR_CATEGORICAL);
    int32_t n;
    const int32_t *codes = ar_dataset_attr_codes(ds, which, a, index, &n);
    buf[0] = '\0';
    for (int32_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, ",");
        strcat(buf, ar_dataset_attr_value(ds, which, a, codes[i]));
    }
    return buf;
}

static double num(const ar_dataset *ds, ar_entity which, const char *attr, int32_t index) {
    int a = ar_dataset_attr_find(ds, which, attr);
    assert_true(a >= 0);
    assert_int_equal(ar_dataset_attr_kind(ds, which, a), AR_ATTR_NUMERIC);
    return ar_dataset_attr_number(ds, which, a, index);
}

/* -- options ---------------------------------------------------------------------------------- */

static void test_options(void **state) {
    (void)state;
    assert_int_equal(ar_format_parse("movielens"), AR_FORMAT_MOVIELENS);
    assert_int_equal(ar_format_parse("recbole"), AR_FORMAT_RECBOLE);
    assert_int_equal(ar_format_parse("lightgcn"), AR_FORMAT_LIGHTGCN);
    assert_int_equal(ar_format_parse("s3rec"), AR_FORMAT_S3REC);
    assert_int_equal(ar_format_parse("csv"), AR_FORMAT_CSV);
    assert_int_equal(ar_format_parse("CSV"), -1);
    assert_int_equal(ar_format_parse(NULL), -1);

    ar_import_options o = ar_import_options_default();
    assert_non_null(ar_import_options_check(NULL));
    assert_non_null(ar_import_options_check(&o)); /* no train file */
    o.train = "x";
    assert_null(ar_import_options_check(&o));
    o.attributes = "a.json";
    assert_non_null(ar_import_options_check(&o));
    o = opts(AR_FORMAT_LIGHTGCN, "x");
    o.items = "u.item";
    assert_non_null(ar_import_options_check(&o));
    o = opts(AR_FORMAT_MOVIELENS, "x");
    o.col_user = "1";
    assert_non_null(ar_import_options_check(&o));
    o = opts(AR_FORMAT_CSV, "x");
    assert_non_null(ar_import_options_check(&o)); /* no columns */
    o.col_user = "1";
    o.col_item = "2";
    assert_null(ar_import_options_check(&o));
    o.col_time = "user"; /* a name without a header */
    assert_non_null(ar_import_options_check(&o));
    o.col_time = "0";
    assert_non_null(ar_import_options_check(&o));
    o.col_time = "2"; /* same column as the item */
    assert_non_null(ar_import_options_check(&o));
    o.col_time = "3";
    o.delimiter = '"';
    assert_non_null(ar_import_options_check(&o));
    o.delimiter = ';';
    o.header = 1;
    o.col_user = "user";
    o.col_item = "item";
    o.col_time = "time";
    assert_null(ar_import_options_check(&o));

    ar_error err = {{0}};
    ar_dataset *ds = (ar_dataset *)1;
    o.col_user = NULL;
    assert_int_equal(ar_import(&o, &ds, &err), AR_EINVAL);
    assert_null(ds);
    assert_non_null(strstr(err.msg, "invalid import options"));
}

static void test_missing_file(void **state) {
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/does-not-exist", tmpdir);
    for (int f = 0; f <= AR_FORMAT_CSV; f++) {
        ar_import_options o = opts((ar_format)f, path);
        if (f == AR_FORMAT_CSV) {
            o.col_user = "1";
            o.col_item = "2";
        }
        import_fails(&o, AR_EIO, path, "cannot open");
    }
}

/* -- movielens -------------------------------------------------------------------------------- */

static void test_movielens_udata(void **state) {
    (void)state;
    /* ids 10 > 2 numerically: indices follow numeric order, not byte order; CRLF, a blank line
     * and no final newline are fine. */
    const char *train = write_file("u1.base", "10\t5\t4\t300\r\n2\t07\t3.5\t100\n\n"
                                              "2\t5\t1\t50\r\n1\t100\t5\t10");
    const char *test = write_file("u1.test", "1\t5\t2\t20\n");
    ar_import_options o = opts(AR_FORMAT_MOVIELENS, train);
    o.test = test;
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 3);
    assert_int_equal(ar_dataset_n_items(ds), 3);
    assert_int_equal(ar_dataset_n_interactions(ds), 5);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TRAIN), 4);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST), 1);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, AR_DS_HAS_TIME);
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 0), "1");
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 1), "2");
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 2), "10");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 0), "5");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 1), "7"); /* "07" canonicalised */
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 2), "100");
    assert_string_equal(ar_dataset_event_name(ds, AR_EVENT_RATING), "rating");

    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    /* user 1: (100, t=10, train), (5, t=20, test) */
    assert_int_equal(in.user[0], 0);
    assert_int_equal(in.item[0], 2);
    assert_int_equal(in.time[0], 10);
    assert_true(in.value[0] == 5.0f);
    assert_int_equal(in.split[0], AR_SPLIT_TRAIN);
    assert_int_equal(in.item[1], 0);
    assert_int_equal(in.split[1], AR_SPLIT_TEST);
    /* user 2: (5, t=50, 1.0), (7, t=100, 3.5) sorted by time */
    assert_int_equal(in.user[2], 1);
    assert_int_equal(in.item[2], 0);
    assert_int_equal(in.time[2], 50);
    assert_int_equal(in.item[3], 1);
    assert_true(in.value[3] == 3.5f);
    for (int64_t k = 0; k < in.n; k++)
        assert_int_equal(in.event[k], AR_EVENT_RATING);
    ar_dataset_free(ds);
}

static void test_movielens_100k_side_files(void **state) {
    (void)state;
    const char *data = write_file("u.data", "1\t1\t5\t1\n2\t2\t3\t2\n");
    char item_line[512];
    /* item 1: Animation + Comedy; item 2: no date; item 3 not rated, one-digit day. */
    snprintf(item_line, sizeof item_line,
             "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
             "2|Caf\xe9 (1990)|||http://y|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
             "3|Old|4-Feb-1971||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1\n");
    const char *items = write_file("u.item", item_line);
    const char *users = write_file("u.user", "1|24|M|technician|85711\n2|53|F|other|\n");
    ar_import_options o = opts(AR_FORMAT_MOVIELENS, data);
    o.items = items;
    o.users = users;
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_items(ds), 3);
    assert_string_equal(ar_dataset_item_title(ds, 0), "Toy Story (1995)");
    assert_string_equal(ar_dataset_item_title(ds, 1), "Caf\xe9 (1990)"); /* Latin-1 bytes kept */
    assert_int_equal(ar_dataset_item_launch(ds, 0), 788918400);          /* 1995-01-01 UTC */
    assert_int_equal(ar_dataset_item_launch(ds, 1), INT64_MIN);
    assert_int_equal(ar_dataset_item_launch(ds, 2), 34473600); /* 1971-02-04 UTC */
    assert_string_equal(cats(ds, AR_ITEMS, "genre", 0), "Animation,Comedy");
    assert_string_equal(cats(ds, AR_ITEMS, "genre", 1), "unknown");
    assert_string_equal(cats(ds, AR_ITEMS, "genre", 2), "Western");
    assert_true(num(ds, AR_USERS, "age", 0) == 24);
    assert_true(num(ds, AR_USERS, "age", 1) == 53);
    assert_string_equal(cats(ds, AR_USERS, "gender", 1), "F");
    assert_string_equal(cats(ds, AR_USERS, "occupation", 0), "technician");
    assert_string_equal(cats(ds, AR_USERS, "zip", 0), "85711");
    assert_string_equal(cats(ds, AR_USERS, "zip", 1), ""); /* empty zip: no value */
    ar_dataset_free(ds);
}

static void test_movielens_1m(void **state) {
    (void)state;
    const char *data = write_file("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"
                                                 "2::1193::4::978298413\n");
    const char *items = write_file("movies.dat", "661::James (1996)::Animation|Children's\n"
                                                 "1193::Cuckoo (1975)::Drama\n"
                                                 "5::Unrated::\n");
    const char *users = write_file("users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n");
    ar_import_options o = opts(AR_FORMAT_MOVIELENS, data);
    o.items = items;
    o.users = users;
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 2);
    assert_int_equal(ar_dataset_n_items(ds), 3); /* 5 comes from movies.dat only */
    assert_int_equal(ar_dataset_n_interactions(ds), 3);
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 0), "5");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 1), "661");
    assert_string_equal(ar_dataset_item_title(ds, 1), "James (1996)");
    assert_string_equal(cats(ds, AR_ITEMS, "genre", 1), "Animation,Children's");
    assert_string_equal(cats(ds, AR_ITEMS, "genre", 2), "Drama");
    assert_string_equal(cats(ds, AR_ITEMS, "genre", 0), "");
    assert_true(num(ds, AR_USERS, "age", 1) == 56);
    assert_string_equal(cats(ds, AR_USERS, "gender", 0), "F");
    assert_string_equal(cats(ds, AR_USERS, "occupation", 0), "10");
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    assert_int_equal(in.time[0], 978300760);
    ar_dataset_free(ds);
}

static void test_movielens_errors(void **state) {
    (void)state;
    ar_import_options o;
    const char *p;

    p = write_file("bad1", "1\t2\t3\t4\n1\t2\t3\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 2), "expected 4 fields");

    p = write_file("bad2", "1\t2\tfive\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'five'");

    p = write_file("bad3", "1\t2\t3\t4\n1\t3\tnan\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 2), "got 'nan'");

    p = write_file("bad4", "1\t2\tinf\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "finite");

    p = write_file("bad5", "1\t2\t1e300\t4\n"); /* finite as a double, not as a float */
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "got '1e300'");

    p = write_file("bad6", "2147483648\t2\t3\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "got '2147483648'");

    p = write_file("bad7", "1\t99999999999999999999999\t3\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "0..2147483647");

    p = write_file("bad8", "1\tx7\t3\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'x7'");

    p = write_file("bad9", "-1\t2\t3\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "got '-1'");

    p = write_file("bad10", "1\t2\t3\t4.5\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got '4.5'");

    p = write_file("bad11", "1\t2\t3\t99999999999999999999\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "99999999999999999999");

    p = write_file("bad12", "1::2::3::4\n1\t2\t3\t4\n"); /* the layout is fixed by line 1 */
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 2), "user::item::rating::time");

    p = write_file("bad13", "1\t2\t\t4\n"); /* empty rating */
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "a rating");

    p = write_file("bad14", "1\t2\t 3\t4\n"); /* a space is not part of a number */
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got ' 3'");

    p = write_bytes("bad15", "1\t2\t3\t4\n1\t2\0\t3\t4\n", 17);
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 2), "NUL byte");

    p = write_file("empty", "");
    o = opts(AR_FORMAT_MOVIELENS, p);
    char want[600];
    snprintf(want, sizeof want, "%s: no interactions", p);
    import_fails(&o, AR_EEMPTY, want, NULL);

    p = write_file("blank", "\n\r\n\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    snprintf(want, sizeof want, "%s: no interactions", p);
    import_fails(&o, AR_EEMPTY, want, NULL);

    /* An empty test file is an error too. */
    const char *good = write_file("good", "1\t2\t3\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, good);
    o.test = write_file("empty-test", "");
    import_fails(&o, AR_EEMPTY, "empty-test: no interactions", NULL);

    /* Control bytes in the quoted token are escaped. */
    p = write_file("bad16", "1\t2\tx\x1b\x01\t4\n");
    o = opts(AR_FORMAT_MOVIELENS, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'x\\x1b\\x01'");
}

static void test_movielens_side_errors(void **state) {
    (void)state;
    const char *good = write_file("good.data", "1\t1\t5\t1\n");
    ar_import_options o = opts(AR_FORMAT_MOVIELENS, good);
    const char *p;

    o.items = p =
        write_file("bad.item", "1|A|01-Jan-1995||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "expected 24 fields");

    o.items = p =
        write_file("bad2.item", "1|A|1995-01-01||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "got '1995-01-01'");

    o.items = p =
        write_file("bad3.item", "1|A|31-Feb-1995||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "release date");

    o.items = p = write_file("bad4.item", "1|A|||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                                          "2|B|||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|yes|0\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "got 'yes'");

    o.items = p = write_file("bad5.item", "x::A::Drama\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "an item id");

    o.items = p = write_file("bad6.item", "1::A::Drama\n2::B\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "expected 3 fields");

    o.items = NULL;
    o.users = p = write_file("bad.user", "1|young|M|x|1\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'young'");

    o.users = p = write_file("bad2.user", "1|20|M|x\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "expected 5 fields");

    o.users = p = write_file("bad3.user", "1::M::nan::1::2\n");
    import_fails(&o, AR_ERANGE, at(p, 1), "got 'nan'");
}

/* -- recbole ---------------------------------------------------------------------------------- */

static void test_recbole(void **state) {
    (void)state;
    const char *inter = write_file("ml.inter", "user_id:token\titem_id:token\trating:float\t"
                                               "timestamp:float\tlabel:float\n"
                                               "u2\tb\t4\t881250949\t1\n"
                                               "u1\ta\t3.5\t881250950.7\t0\n"
                                               "u1\tb\t1\t12\t1\n");
    const char *test = write_file("ml.test.inter", "user_id:token\titem_id:token\trating:float\t"
                                                   "timestamp:float\tlabel:float\n"
                                                   "u2\tc\t5\t881250999\t1\n");
    const char *item = write_file("ml.item", "item_id:token\tmovie_title:token_seq\t"
                                             "release_year:token\tclass:token_seq\tprice:float\t"
                                             "emb:float_seq\n"
                                             "a\tToy Story\t1995\tAnimation Comedy\t9.5\t1 2\n"
                                             "b\t\t\t\t\t\n"
                                             "z\tZeta\t2001\tDrama\t1e3\t\n");
    const char *user = write_file("ml.user", "user_id:token\tage:float\tgender:token\n"
                                             "u1\t24\tM\n"
                                             "u3\t\tF\n");
    ar_import_options o = opts(AR_FORMAT_RECBOLE, inter);
    o.test = test;
    o.items = item;
    o.users = user;
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 3); /* u3 only in .user */
    assert_int_equal(ar_dataset_n_items(ds), 4); /* z only in .item */
    assert_int_equal(ar_dataset_n_interactions(ds), 4);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST), 1);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, AR_DS_HAS_TIME);
    /* string ids: byte order */
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 0), "u1");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 3), "z");
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    /* u1: b at 12, then a at 881250950 (truncated) */
    assert_int_equal(in.item[0], 1);
    assert_int_equal(in.time[0], 12);
    assert_int_equal(in.item[1], 0);
    assert_int_equal(in.time[1], 881250950);
    assert_true(in.value[1] == 3.5f);
    assert_int_equal(in.event[1], AR_EVENT_RATING);
    assert_int_equal(in.split[3], AR_SPLIT_TEST);

    assert_string_equal(ar_dataset_item_title(ds, 0), "Toy Story");
    assert_null(ar_dataset_item_title(ds, 1)); /* empty: unknown */
    assert_int_equal(ar_dataset_attr_find(ds, AR_ITEMS, "movie_title"), -1);
    assert_int_equal(ar_dataset_attr_find(ds, AR_ITEMS, "emb"), -1);
    assert_string_equal(cats(ds, AR_ITEMS, "release_year", 0), "1995");
    assert_string_equal(cats(ds, AR_ITEMS, "class", 0), "Animation,Comedy");
    assert_string_equal(cats(ds, AR_ITEMS, "class", 1), "");
    assert_true(num(ds, AR_ITEMS, "price", 3) == 1000);
    assert_true(isnan(num(ds, AR_ITEMS, "price", 1)));
    assert_true(num(ds, AR_USERS, "age", 0) == 24);
    assert_true(isnan(num(ds, AR_USERS, "age", 2)));
    assert_string_equal(cats(ds, AR_USERS, "gender", 2), "F");
    ar_dataset_free(ds);

    /* Without rating and timestamp: implicit events, positions as times, no AR_DS_HAS_TIME. */
    inter = write_file("plain.inter", "item_id:token\tuser_id:token\n"
                                      "x\t1\ny\t1\n");
    o = opts(AR_FORMAT_RECBOLE, inter);
    ds = import_ok(&o);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, 0);
    ar_dataset_interactions(ds, &in);
    assert_int_equal(in.n, 2);
    assert_int_equal(in.event[0], AR_EVENT_INTERACTION);
    assert_true(in.value[0] == 1.0f);
    assert_int_equal(in.time[0], 0);
    assert_int_equal(in.time[1], 1);
    ar_dataset_free(ds);
}

static void test_recbole_errors(void **state) {
    (void)state;
    ar_import_options o;
    const char *p;
    const char *hdr = "user_id:token\titem_id:token\trating:float\n";
    char buf[256];

    p = write_file("dup.inter", "user_id:token\titem_id:token\tuser_id:token\n1\t2\t3\n");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'user_id' twice");

    p = write_file("type.inter", "user_id:token\titem_id:token\tr:double\n1\t2\t3\n");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'double'");

    p = write_file("notype.inter", "user_id:token\titem_id\n1\t2\n");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'item_id'");

    p = write_file("noitem.inter", "user_id:token\trating:float\n1\t2\n");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "item_id:token");

    p = write_file("seqid.inter", "user_id:token_seq\titem_id:token\n1\t2\n");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "user_id:token");

    snprintf(buf, sizeof buf, "%s1\t2\t3\n1\t2\n", hdr);
    p = write_file("count.inter", buf);
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 3), "expected 3 TAB-separated fields");

    snprintf(buf, sizeof buf, "%s1\t2\t3\t4\n", hdr);
    p = write_file("count2.inter", buf);
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 2), "got 4");

    snprintf(buf, sizeof buf, "%s1\t2\tgood\n", hdr);
    p = write_file("rating.inter", buf);
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 2), "got 'good'");

    snprintf(buf, sizeof buf, "%s1\t2\t-inf\n", hdr);
    p = write_file("inf.inter", buf);
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_ERANGE, at(p, 2), "got '-inf'");

    p = write_file("ts.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t1e30\n");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_ERANGE, at(p, 2), "got '1e30'");

    snprintf(buf, sizeof buf, "%s\t2\t3\n", hdr);
    p = write_file("emptyid.inter", buf);
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EPARSE, at(p, 2), "a user_id");

    p = write_file("empty.inter", "");
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EEMPTY, "empty.inter: no interactions", NULL);

    p = write_file("hdronly.inter", hdr);
    o = opts(AR_FORMAT_RECBOLE, p);
    import_fails(&o, AR_EEMPTY, "hdronly.inter: no interactions", NULL);

    snprintf(buf, sizeof buf, "%s1\t2\t3\n", hdr);
    o = opts(AR_FORMAT_RECBOLE, write_file("good.inter", buf));
    o.items = p = write_file("bad.item", "item_id:token\tprice:float\n2\tcheap\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "got 'cheap'");

    o.items = p = write_file("noid.item", "id:token\tprice:float\n2\t1\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "item_id:token");

    o.items = p = write_file("count.item", "item_id:token\tprice:float\n2\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "expected 2 TAB-separated fields");

    o.items = NULL;
    o.users = p = write_file("dup.user", "user_id:token\ta:float\ta:token\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "twice");

    o.users = p = write_file("empty.user", "");
    import_fails(&o, AR_EEMPTY, "empty.user: empty file", NULL);
}

/* -- lightgcn --------------------------------------------------------------------------------- */

static void test_lightgcn(void **state) {
    (void)state;
    const char *train = write_file("train.txt", "0 5 3 9\n2 3 \n1\n10\t4  5\r\n");
    const char *test = write_file("test.txt", "0 7\n2 9");
    ar_import_options o = opts(AR_FORMAT_LIGHTGCN, train);
    o.test = test;
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 4); /* user 1 has no items */
    assert_int_equal(ar_dataset_n_items(ds), 5);
    assert_int_equal(ar_dataset_n_interactions(ds), 8);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TRAIN), 6);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TEST), 2);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, 0);
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 1), "1");
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 3), "10");
    const int64_t *off = ar_dataset_user_offsets(ds);
    assert_int_equal(off[2] - off[1], 0);
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    /* user 0: 5@0 3@1 9@2 (train), 7@0 (test): sorted by (time, input order) */
    assert_int_equal(in.time[0], 0);
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, in.item[0]), "5");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, in.item[1]), "7");
    assert_int_equal(in.split[1], AR_SPLIT_TEST);
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, in.item[3]), "9");
    assert_int_equal(in.time[3], 2);
    assert_int_equal(in.event[0], AR_EVENT_INTERACTION);
    assert_true(in.value[0] == 1.0f);
    ar_dataset_free(ds);
}

static void test_lightgcn_errors(void **state) {
    (void)state;
    ar_import_options o;
    const char *p;

    p = write_file("big.txt", "0 1 2\n1 2 2147483648\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_ERANGE, at(p, 2), "got '2147483648'");

    p = write_file("big2.txt", "4294967296 1\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "got '4294967296'");

    p = write_file("neg.txt", "0 1 -2\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_ERANGE, at(p, 1), "got '-2'");

    p = write_file("alpha.txt", "0 1\n\n1 2 x3\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_EPARSE, at(p, 3), "got 'x3'");

    p = write_file("frac.txt", "0 1.5\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got '1.5'");

    p = write_file("comma.txt", "0,1,2\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_EPARSE, at(p, 1), "got '0,1,2'");

    p = write_file("empty.txt", "");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_EEMPTY, "empty.txt: no interactions", NULL);

    p = write_file("users-only.txt", "0\n1\n");
    o = opts(AR_FORMAT_LIGHTGCN, p);
    import_fails(&o, AR_EEMPTY, "users-only.txt: no interactions", NULL);

    o = opts(AR_FORMAT_LIGHTGCN, write_file("ok.txt", "0 1\n"));
    o.test = p = write_file("badtest.txt", "0 1\n0 1 +\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "got '+'");
}

/* -- s3rec ------------------------------------------------------------------------------------ */

static void test_s3rec(void **state) {
    (void)state;
    const char *seq = write_file("Beauty.txt", "1 1 2 3\n2 4 1\n");
    const char *attrs = write_file("attrs.json", "{\"1\": [1, 2, 3], \"2\": [], \"3\": [\"7\"],\n"
                                                 " \"4\": [2, 2], \"9\": [5]}\n");
    ar_import_options o = opts(AR_FORMAT_S3REC, seq);
    o.attributes = attrs;
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 2);
    assert_int_equal(ar_dataset_n_items(ds), 5); /* item 9 only in the JSON */
    assert_int_equal(ar_dataset_n_interactions(ds), 5);
    assert_int_equal(ar_dataset_count(ds, AR_MASK_TRAIN), 5);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, 0);
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 4), "9");
    assert_string_equal(cats(ds, AR_ITEMS, "attribute", 0), "1,2,3");
    assert_string_equal(cats(ds, AR_ITEMS, "attribute", 1), "");
    assert_string_equal(cats(ds, AR_ITEMS, "attribute", 2), "7");
    assert_string_equal(cats(ds, AR_ITEMS, "attribute", 3), "2");
    assert_string_equal(cats(ds, AR_ITEMS, "attribute", 4), "5");
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    /* user 2: 4@0 then 1@1 */
    assert_int_equal(in.user[3], 1);
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, in.item[3]), "4");
    assert_int_equal(in.time[4], 1);
    ar_dataset_free(ds);
}

static void test_s3rec_errors(void **state) {
    (void)state;
    ar_import_options o = opts(AR_FORMAT_S3REC, write_file("seq.txt", "1 1 2\n"));
    const char *p;

    o.attributes = p = write_file("syntax.json", "{\"1\": [1, 2],\n \"2\": [3,, 4]}\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "2:10:"); /* line 2, column of the error */

    o.attributes = p = write_file("trunc.json", "{\"1\": [1");
    import_fails(&o, AR_EPARSE, at(p, 1), "valid JSON");

    o.attributes = p = write_file("dupkey.json", "{\"1\": [1],\n\"1\": [2]}");
    import_fails(&o, AR_EPARSE, at(p, 2), "duplicate");

    o.attributes = p = write_file("empty.json", "");
    import_fails(&o, AR_EPARSE, p, "valid JSON");

    o.attributes = p = write_file("array.json", "[1, 2]");
    import_fails(&o, AR_EPARSE, p, "expected a JSON object");

    o.attributes = p = write_file("notarray.json", "{\"1\": 5}");
    import_fails(&o, AR_EPARSE, p, "item \"1\": expected an array");

    o.attributes = p = write_file("elem.json", "{\"1\": [1, true]}");
    import_fails(&o, AR_EPARSE, p, "got a boolean");

    o.attributes = p = write_file("real.json", "{\"1\": [1.5]}");
    import_fails(&o, AR_EPARSE, p, "got a real number");

    o.attributes = p = write_file("key.json", "{\"abc\": [1]}");
    import_fails(&o, AR_EPARSE, p, "got 'abc'");

    o.attributes = p = write_file("bigkey.json", "{\"3000000000\": [1]}");
    import_fails(&o, AR_ERANGE, p, "got '3000000000'");

    o.attributes = NULL;
    o.train = p = write_file("seqbad.txt", "1 1 2\n2 3 99999999999\n");
    import_fails(&o, AR_ERANGE, at(p, 2), "got '99999999999'");

    o.train = p = write_file("seqempty.txt", "\n");
    import_fails(&o, AR_EEMPTY, "seqempty.txt: no interactions", NULL);
}

/* -- csv -------------------------------------------------------------------------------------- */

static void test_csv_header(void **state) {
    (void)state;
    const char *p = write_file("log.csv", "ts,user,item,what,amount,extra\n"
                                          "100,\"Smith, J\",a,click,1,x\r\n"
                                          "50,\"Smith, J\",\"b \"\"q\"\"\",purchase,2.5,\"multi\n"
                                          "line\"\n"
                                          " 70 , bob , a , zoom ,-1,\n");
    ar_import_options o = opts(AR_FORMAT_CSV, p);
    o.header = 1;
    o.col_user = "user";
    o.col_item = "item";
    o.col_time = "ts";
    o.col_value = "amount";
    o.col_event = "what";
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 2);
    assert_int_equal(ar_dataset_n_items(ds), 2);
    assert_int_equal(ar_dataset_n_interactions(ds), 3);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, AR_DS_HAS_TIME);
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 0), "Smith, J");
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 1), "bob"); /* spaces trimmed */
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, 1), "b \"q\"");
    int zoom = -1;
    for (int e = 0; e < ar_dataset_n_events(ds); e++)
        if (strcmp(ar_dataset_event_name(ds, e), "zoom") == 0)
            zoom = e;
    assert_true(zoom >= AR_EVENT_N_BUILTIN);
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    assert_int_equal(in.time[0], 50);
    assert_int_equal(in.event[0], AR_EVENT_PURCHASE);
    assert_true(in.value[0] == 2.5f);
    assert_int_equal(in.event[1], AR_EVENT_CLICK);
    assert_int_equal(in.event[2], zoom);
    assert_true(in.value[2] == -1.0f);
    assert_int_equal(in.time[2], 70);
    ar_dataset_free(ds);
}

static void test_csv_no_header(void **state) {
    (void)state;
    const char *p = write_file("log.tsv", "7\t3\n7\t1\n2\t3");
    ar_import_options o = opts(AR_FORMAT_CSV, p);
    o.delimiter = '\t';
    o.col_user = "1";
    o.col_item = "2";
    o.test = write_file("log-test.tsv", "2\t8\n");
    ar_dataset *ds = import_ok(&o);
    assert_int_equal(ar_dataset_n_users(ds), 2);
    assert_int_equal(ar_dataset_n_items(ds), 3);
    assert_int_equal(ar_dataset_flags(ds) & AR_DS_HAS_TIME, 0);
    assert_string_equal(ar_dataset_id(ds, AR_USERS, 0), "2");
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    assert_int_equal(in.n, 4);
    assert_true(in.value[0] == 1.0f);
    assert_int_equal(in.event[0], AR_EVENT_INTERACTION);
    /* user 7: rows in input order (times 0, 1) */
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, in.item[2]), "3");
    assert_string_equal(ar_dataset_id(ds, AR_ITEMS, in.item[3]), "1");
    /* user 2: the test row (time 0 in its file) sorts before the train row (time 2) */
    assert_int_equal(in.split[0], AR_SPLIT_TEST);
    assert_int_equal(in.time[1], 2);
    ar_dataset_free(ds);
}

static void test_csv_errors(void **state) {
    (void)state;
    ar_import_options o = opts(AR_FORMAT_CSV, NULL);
    o.header = 1;
    o.col_user = "user";
    o.col_item = "item";
    const char *p;

    o.train = p = write_file("nocol.csv", "u,item\n1,2\n");
    import_fails(&o, AR_EPARSE, at(p, 1),
                 "expected a column named 'user' (user) in the header, "
                 "got 'u,item'");

    o.train = p = write_file("dup.csv", "user,item,user\n1,2,3\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "got 'user' twice");

    o.train = p = write_file("count.csv", "user,item\n1,2\n1,2,3\n");
    import_fails(&o, AR_EPARSE, at(p, 3), "expected 2 fields as in the first row, got 3");

    o.train = p = write_file("quote.csv", "user,item\n1,2\n1,a\"b\n");
    import_fails(&o, AR_EPARSE, at(p, 3), "got '1,a\"b'");

    o.train = p = write_file("unterminated.csv", "user,item\n1,2\n1,\"abc\n\n");
    import_fails(&o, AR_EPARSE, at(p, 4), "closing quote");

    o.train = p = write_file("emptyid.csv", "user,item\n,2\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "a user id");

    o.train = p = write_file("empty.csv", "");
    import_fails(&o, AR_EEMPTY, "empty.csv: no interactions", NULL);

    o.train = p = write_file("hdronly.csv", "user,item\n");
    import_fails(&o, AR_EEMPTY, "hdronly.csv: no interactions", NULL);

    o.col_time = "t";
    o.train = p = write_file("time.csv", "user,item,t\n1,2,3\n1,2,yesterday\n");
    import_fails(&o, AR_EPARSE, at(p, 3), "got 'yesterday'");
    o.train = p = write_file("time2.csv", "user,item,t\n1,2,1.5\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "got '1.5'");
    o.col_time = NULL;

    o.col_value = "v";
    o.train = p = write_file("value.csv", "user,item,v\n1,2,NaN\n");
    import_fails(&o, AR_ERANGE, at(p, 2), "got 'NaN'");
    o.train = p = write_file("value2.csv", "user,item,v\n1,2,lots\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "got 'lots'");
    o.col_value = NULL;

    /* 7 built-in event names + 248 new ones = 255; the 249th new name is one too many. */
    o.col_event = "e";
    char *big = malloc(300 * 32);
    assert_non_null(big);
    size_t w = (size_t)sprintf(big, "user,item,e\n");
    for (int i = 0; i < 249; i++)
        w += (size_t)sprintf(big + w, "1,2,ev%d\n", i);
    o.train = p = write_file("events.csv", big);
    import_fails(&o, AR_ERANGE, at(p, 250), "got 'ev248'");
    free(big);
    o.train = p = write_file("event.csv", "user,item,e\n1,2,\n");
    import_fails(&o, AR_EPARSE, at(p, 2), "an event name");
    o.col_event = NULL;

    /* Without a header: a column number past the end of the rows. */
    o.header = 0;
    o.col_user = "1";
    o.col_item = "3";
    o.train = p = write_file("short.csv", "1,2\n");
    import_fails(&o, AR_EPARSE, at(p, 1), "expected at least 3 fields");
}

/* -- progress and allocation failures --------------------------------------------------------- */

static int progress_calls;
static int64_t progress_last;

static int count_progress(void *ud, int64_t done, int64_t total) {
    (void)total;
    progress_calls++;
    progress_last = done;
    return ud != NULL; /* non-NULL user data asks to stop */
}

static void test_progress(void **state) {
    (void)state;
    /* About 1.4 MB, so the reader crosses several 64 KiB chunks. */
    size_t cap = 1500000, w = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; w + 64 < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%d\t%d\t4\t%d\n", i % 500, i % 977, i);
    const char *p = write_bytes("big.data", buf, w);
    free(buf);
    ar_import_options o = opts(AR_FORMAT_MOVIELENS, p);
    o.progress = count_progress;
    progress_calls = 0;
    ar_dataset *ds = import_ok(&o);
    assert_true(progress_calls >= 2);
    assert_true(progress_calls <= 400);
    ar_dataset_free(ds);

    int stop = 1;
    o.progress_data = &stop;
    progress_calls = 0;
    import_fails(&o, AR_ECANCELED, "canceled", NULL);
    assert_int_equal(progress_calls, 1);
}

static long alloc_budget = -1; /* allocations left; -1 = unlimited */

static void *fail_malloc(size_t n) {
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(n);
}

static void *fail_realloc(void *p, size_t n) {
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return realloc(p, n);
}

/* Imports with the Nth allocation failing, for N = 0, 1, 2, ... until it succeeds: every failure
 * must be a clean AR_ENOMEM (the ASan build checks for leaks). */
static void sweep(const ar_import_options *o) {
    ar_allocator a = {fail_malloc, fail_realloc, free};
    ar_set_allocator(&a);
    long n;
    for (n = 0; n < 100000; n++) {
        alloc_budget = n;
        ar_dataset *ds = (ar_dataset *)1;
        ar_error err = {{0}};
        ar_status st = ar_import(o, &ds, &err);
        alloc_budget = -1;
        if (st == AR_OK) {
            assert_non_null(ds);
            ar_dataset_free(ds);
            break;
        }
        if (st != AR_ENOMEM)
            print_error("after %ld allocations: %d %s\n", n, st, err.msg);
        assert_int_equal(st, AR_ENOMEM);
        assert_null(ds);
    }
    ar_set_allocator(NULL);
    assert_true(n > 3 && n < 100000);
}

static void test_alloc_failures(void **state) {
    (void)state;
    ar_import_options o = opts(AR_FORMAT_MOVIELENS, write_file("a.data", "1\t1\t5\t1\n2\t2\t3\t2\n"
                                                                         "2\t1\t4\t3\n"));
    o.items = write_file("a.item", "1|A|01-Jan-1995||u|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1\n"
                                   "3|B|||u|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    o.users = write_file("a.user", "1|24|M|technician|85711\n");
    sweep(&o);

    o = opts(AR_FORMAT_RECBOLE, write_file("a.inter", "user_id:token\titem_id:token\t"
                                                      "rating:float\n1\t2\t3\n2\t2\t4\n"));
    o.items = write_file("a2.item", "item_id:token\tc:token_seq\tp:float\tt:token\n"
                                    "2\tx y\t1\tz\n");
    sweep(&o);

    o = opts(AR_FORMAT_LIGHTGCN, write_file("a.txt", "0 1 2\n1\n2 2 3\n"));
    o.test = write_file("a-test.txt", "0 3\n");
    sweep(&o);

    o = opts(AR_FORMAT_S3REC, write_file("a-seq.txt", "1 1 2\n2 2 3\n"));
    o.attributes = write_file("a.json", "{\"1\": [1, 2], \"4\": [\"x\"]}");
    sweep(&o);

    o = opts(AR_FORMAT_CSV, write_file("a.csv", "u,i,t,v,e\n1,2,3,4,zoom\n\"2\",\"long item "
                                                "name that grows the field buffer of libcsv "
                                                "beyond its first block\",5,6,click\n"));
    o.header = 1;
    o.col_user = "u";
    o.col_item = "i";
    o.col_time = "t";
    o.col_value = "v";
    o.col_event = "e";
    sweep(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_movielens_udata),
        cmocka_unit_test(test_movielens_100k_side_files),
        cmocka_unit_test(test_movielens_1m),
        cmocka_unit_test(test_movielens_errors),
        cmocka_unit_test(test_movielens_side_errors),
        cmocka_unit_test(test_recbole),
        cmocka_unit_test(test_recbole_errors),
        cmocka_unit_test(test_lightgcn),
        cmocka_unit_test(test_lightgcn_errors),
        cmocka_unit_test(test_s3rec),
        cmocka_unit_test(test_s3rec_errors),
        cmocka_unit_test(test_csv_header),
        cmocka_unit_test(test_csv_no_header),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
