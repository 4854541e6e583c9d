#define _POSIX_C_SOURCE 200809L
/*
 * info.c -- `agentrec info DIR`: the dataset's size, density, activity and popularity skew.
 */
#include "cli/cli.h"

#include <time.h>

static int run(int argc, char **argv);

const cli_cmd cmd_info = {"info", "describe the dataset in DIR",
                          "usage: agentrec info DIR [--json]\n"
                          "\n"
                          "Prints users, items, interactions per split, density, quantiles of\n"
                          "interactions per user and per item (min 25% 50% 75% 90% 99% max),\n"
                          "the Gini index of item popularity, the time span, event types and\n"
                          "attribute columns. --json prints one object with the same fields.\n",
                          run};

static json_t *qjson(const double *q) {
    static const char *names[7] = {"min", "p25", "p50", "p75", "p90", "p99", "max"};
    json_t *o = json_object();
    for (int k = 0; k < 7; k++)
        json_object_set_new(o, names[k], json_real(q[k]));
    return o;
}

static void fmt_time(int64_t t, char *buf, size_t n) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    else
        snprintf(buf, n, "%lld", (long long)t);
}

static json_t *attrs_json(const ar_dataset *ds, ar_entity e) {
    json_t *a = json_array();
    for (int k = 0; k < ar_dataset_n_attrs(ds, e); k++) {
        int cat = ar_dataset_attr_kind(ds, e, k) == AR_ATTR_CATEGORICAL;
        json_t *o = json_pack("{s:s,s:s}", "name", ar_dataset_attr_name(ds, e, k), "kind",
                              cat ? "categorical" : "numeric");
        if (cat)
            json_object_set_new(o, "values", json_integer(ar_dataset_attr_n_values(ds, e, k)));
        json_array_append_new(a, o);
    }
    return a;
}

static int run(int argc, char **argv) {
    bool json = false;
    const cli_opt opts[] = {{"json", OPT_FLAG, &json}, {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_info);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "agentrec info: expected a dataset directory (see --help)\n");
        return CLI_USAGE;
    }
    ar_dataset *ds = cli_load("info", pos[0]);
    if (!ds)
        return CLI_FAIL;
    ar_dataset_stats s;
    if (ar_dataset_stats_compute(ds, &s)) {
        ar_dataset_free(ds);
        return cli_error("info", "out of memory");
    }
    json_t *events = json_array();
    for (int e = 0; e < ar_dataset_n_events(ds); e++)
        json_array_append_new(events, json_string(ar_dataset_event_name(ds, e)));
    if (json) {
        json_t *o =
            json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:f,s:o,s:o,s:f,s:b,s:I,s:I,s:o,s:o,s:o}", "users",
                      s.users, "items", s.items, "interactions", (json_int_t)s.interactions,
                      "train", (json_int_t)s.train, "valid", (json_int_t)s.valid, "test",
                      (json_int_t)s.test, "density", s.density, "per_user", qjson(s.user_q),
                      "per_item", qjson(s.item_q), "popularity_gini", s.pop_gini, "has_time",
                      s.has_time, "time_min", (json_int_t)s.time_min, "time_max",
                      (json_int_t)s.time_max, "events", events, "item_attributes",
                      attrs_json(ds, AR_ITEMS), "user_attributes", attrs_json(ds, AR_USERS));
        cli_print_json(o);
        ar_dataset_free(ds);
        return 0;
    }
    printf("dataset       %s\n", pos[0]);
    printf("users         %d\n", s.users);
    printf("items         %d\n", s.items);
    printf("interactions  %lld (train %lld, valid %lld, test %lld)\n", (long long)s.interactions,
           (long long)s.train, (long long)s.valid, (long long)s.test);
    printf("density       %.6f%%\n", 100.0 * s.density);
    printf("per user      min %.0f  p25 %.0f  p50 %.0f  p75 %.0f  p90 %.0f  p99 %.0f  max %.0f\n",
           s.user_q[0], s.user_q[1], s.user_q[2], s.user_q[3], s.user_q[4], s.user_q[5],
           s.user_q[6]);
    printf("per item      min %.0f  p25 %.0f  p50 %.0f  p75 %.0f  p90 %.0f  p99 %.0f  max %.0f\n",
           s.item_q[0], s.item_q[1], s.item_q[2], s.item_q[3], s.item_q[4], s.item_q[5],
           s.item_q[6]);
    printf("pop. Gini     %.4f\n", s.pop_gini);
    if (s.has_time) {
        char a[32], b[32];
        fmt_time(s.time_min, a, sizeof a);
        fmt_time(s.time_max, b, sizeof b);
        printf("time span     %s .. %s UTC (%.1f days)\n", a, b,
               (double)(s.time_max - s.time_min) / 86400.0);
    } else {
        printf("time span     no timestamps (order within each user's sequence only)\n");
    }
    printf("events       ");
    for (size_t e = 0; e < json_array_size(events); e++)
        printf(" %s", json_string_value(json_array_get(events, e)));
    printf("\n");
    for (int e = 0; e < 2; e++) {
        int n = ar_dataset_n_attrs(ds, (ar_entity)e);
        if (!n)
            continue;
        printf("%s attrs  ", e == AR_ITEMS ? "item" : "user");
        for (int k = 0; k < n; k++) {
            if (ar_dataset_attr_kind(ds, (ar_entity)e, k) == AR_ATTR_CATEGORICAL)
                printf(" %s(%d values)", ar_dataset_attr_name(ds, (ar_entity)e, k),
                       ar_dataset_attr_n_values(ds, (ar_entity)e, k));
            else
                printf(" %s(numeric)", ar_dataset_attr_name(ds, (ar_entity)e, k));
        }
        printf("\n");
    }
    json_decref(events);
    ar_dataset_free(ds);
    return 0;
}
