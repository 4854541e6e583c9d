#define _POSIX_C_SOURCE 200809L
/*
 * ledger_common.c -- helpers shared by the ledger subcommands (see ledger_common.h).
 */
#include "cli/ledger_common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

ar_ledger *cli_ledger_open(const char *cmd, const char *url, int create) {
    ar_ledger_options o = ar_ledger_options_default();
    o.create = create;
    ar_ledger *l;
    ar_error err;
    if (ar_ledger_open(url ? url : AR_LEDGER_DEFAULT_URL, &o, &l, &err)) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return l;
}

void cli_fmt_time(double t, char *buf, size_t n) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (isfinite(t) && gmtime_r(&tt, &tm))
        strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
    else
        snprintf(buf, n, "-");
}

const char *cli_fit(const char *s, int w, char *buf, size_t n) {
    if (!s)
        s = "";
    if ((int)strlen(s) <= w || w < 2) {
        snprintf(buf, n, "%s", s);
        return buf;
    }
    snprintf(buf, n, "%.*s~", w - 1, s);
    return buf;
}

json_t *cli_num(double v) {
    return isnan(v) ? json_null() : json_real(v);
}

json_t *cli_run_json(const ar_run *r) {
    json_t *cfg = json_loads(r->config, JSON_DECODE_ANY, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "parent", r->parent ? json_integer(r->parent) : json_null());
    json_object_set_new(o, "agent", json_string(r->agent));
    json_object_set_new(o, "status", json_string(ar_run_status_name(r->status)));
    json_object_set_new(o, "config", cfg ? cfg : json_string(r->config));
    json_object_set_new(o, "dataset", json_string(r->dataset));
    json_object_set_new(o, "code_version", json_string(r->code_version));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
    json_object_set_new(o, "started", cli_num(r->started));
    json_object_set_new(o, "ended", cli_num(r->ended));
    json_object_set_new(o, "cpu_seconds", cli_num(r->cpu_seconds));
    json_object_set_new(o, "peak_memory",
                        r->peak_memory >= 0 ? json_integer(r->peak_memory) : json_null());
    json_object_set_new(o, "host", json_string(r->host));
    json_object_set_new(o, "pid", json_integer(r->pid));
    if (r->dataset_fp.users > 0)
        json_object_set_new(
            o, "dataset_fingerprint",
            json_pack("{s:I,s:I,s:I,s:f,s:f,s:f}", "users", (json_int_t)r->dataset_fp.users,
                      "items", (json_int_t)r->dataset_fp.items, "interactions",
                      (json_int_t)r->dataset_fp.interactions, "density", r->dataset_fp.density,
                      "pop_gini", r->dataset_fp.pop_gini, "per_user", r->dataset_fp.per_user));
    if (!isnan(r->score))
        json_object_set_new(o, "score", json_real(r->score));
    if (!isnan(r->distance))
        json_object_set_new(o, "distance", json_real(r->distance));
    return o;
}
