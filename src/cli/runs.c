#define _POSIX_C_SOURCE 200809L
/*
 * runs.c -- `agentrec runs list|show|compare|lineage|best`: the ledger's runs from the command
 * line, as 80-column tables or (--json) an array of objects.
 */
#include "cli/ledger_common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_runs = {
    "runs", "list, show, compare and trace runs in the ledger",
    "usage: agentrec runs list [--agent A] [--status S] [--dataset D] [--limit N]\n"
    "       agentrec runs show ID\n"
    "       agentrec runs compare ID ID...\n"
    "       agentrec runs lineage ID\n"
    "       agentrec runs best --metric NAME [--scope inner|outer] [--split S] [--min]\n"
    "                          [--agent A] [--limit N]\n"
    "common options: --ledger URL (default " AR_LEDGER_DEFAULT_URL ") --json\n"
    "\n"
    "list: newest first (status: running, finished, failed, interrupted).\n"
    "show: one run with its params, tags, metrics (latest value of each), artifacts and\n"
    "      decisions. compare: the latest value of every metric, side by side.\n"
    "lineage: the run's ancestors and descendants as a tree.\n"
    "best: runs ranked by their latest value of a metric (highest first; --min: lowest).\n"
    "--json prints an array of objects.\n",
    run};

static int bad_id(const char *s, int64_t *id) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 1)
        return 1;
    *id = v;
    return 0;
}

static void metrics_json(json_t *o, const ar_metric_list *ml) {
    json_t *a = json_array();
    for (size_t k = 0; k < ml->n; k++) {
        const ar_metric_row *m = &ml->v[k];
        json_array_append_new(a, json_pack("{s:I,s:s,s:f,s:I,s:s,s:s,s:f}", "id", (json_int_t)m->id,
                                           "name", m->name, "value", m->value, "step",
                                           (json_int_t)m->step, "scope", ar_scope_name(m->scope),
                                           "split", m->split, "at", m->at));
    }
    json_object_set_new(o, "metrics", a);
}

static json_t *kv_json(const ar_kv_list *kv) {
    json_t *o = json_object();
    for (size_t k = 0; k < kv->n; k++)
        json_object_set_new(o, kv->key[k], json_string(kv->value[k]));
    return o;
}

/* Index of the last point of each metric key in ml (the run's value), -1 otherwise. */
static int is_last(const ar_metric_list *ml, size_t k) {
    if (k + 1 == ml->n)
        return 1;
    const ar_metric_row *a = &ml->v[k], *b = &ml->v[k + 1];
    return a->run != b->run || strcmp(a->name, b->name) || a->scope != b->scope ||
           strcmp(a->split, b->split);
}

static void key_of(const ar_metric_row *m, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s%s", m->name, m->scope == AR_SCOPE_OUTER ? " [outer]" : "",
             m->split[0] ? " " : "", m->split);
}

static int do_list(ar_ledger *l, const ar_run_query *qy, bool json, int scores) {
    ar_run_list *rl;
    if (ar_ledger_runs(l, qy, &rl))
        return cli_error("runs", "%s", ar_ledger_errmsg(l));
    if (json) {
        json_t *a = json_array();
        for (size_t k = 0; k < rl->n; k++)
            json_array_append_new(a, cli_run_json(&rl->v[k]));
        cli_print_json(a);
    } else if (scores) {
        printf("%6s %-12s %-11s %10s %s\n", "ID", "AGENT", "STATUS", "SCORE", "CONFIG");
        for (size_t k = 0; k < rl->n; k++) {
            const ar_run *r = &rl->v[k];
            char a[16], c[40];
            printf("%6lld %-12s %-11s %10.5g %s\n", (long long)r->id, cli_fit(r->agent, 12, a, 16),
                   ar_run_status_name(r->status), r->score, cli_fit(r->config, 34, c, 40));
        }
    } else {
        printf("%6s  %-14s %-11s %-16s  %-14s %6s\n", "ID", "AGENT", "STATUS", "STARTED (UTC)",
               "DATASET", "PARENT");
        for (size_t k = 0; k < rl->n; k++) {
            const ar_run *r = &rl->v[k];
            char a[20], t[32], d[20], p[24] = "-";
            cli_fmt_time(r->started, t, sizeof t);
            if (r->parent)
                snprintf(p, sizeof p, "%lld", (long long)r->parent);
            printf("%6lld  %-14s %-11s %-16s  %-14s %6s\n", (long long)r->id,
                   cli_fit(r->agent, 14, a, 20), ar_run_status_name(r->status), t,
                   cli_fit(r->dataset, 14, d, 20), p);
        }
    }
    ar_run_list_free(rl);
    return 0;
}

static int do_show(ar_ledger *l, int64_t id, bool json) {
    ar_run_list *rl = NULL;
    ar_kv_list *params = NULL, *tags = NULL;
    ar_metric_list *ml = NULL;
    ar_artifact_list *al = NULL;
    ar_decision_list *dl = NULL;
    int rc = 0;
    if (ar_ledger_run_get(l, id, &rl) || ar_ledger_params(l, id, &params) ||
        ar_ledger_tags(l, id, &tags) || ar_ledger_metrics(l, id, NULL, &ml) ||
        ar_ledger_artifacts(l, id, &al) || ar_ledger_decisions(l, id, 0, &dl)) {
        rc = cli_error("runs", "%s", ar_ledger_errmsg(l));
        goto done;
    }
    const ar_run *r = &rl->v[0];
    if (json) {
        json_t *o = cli_run_json(r);
        json_object_set_new(o, "params", kv_json(params));
        json_object_set_new(o, "tags", kv_json(tags));
        metrics_json(o, ml);
        json_t *arts = json_array(), *decs = json_array();
        for (size_t k = 0; k < al->n; k++)
            json_array_append_new(arts,
                                  json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)al->v[k].id,
                                            "kind", al->v[k].kind, "path", al->v[k].path, "sha256",
                                            al->v[k].sha256, "bytes", (json_int_t)al->v[k].bytes));
        for (size_t k = 0; k < dl->n; k++)
            json_array_append_new(
                decs, json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)dl->v[k].id, "action",
                                ar_action_name(dl->v[k].action), "rationale", dl->v[k].rationale,
                                "decider", ar_decider_name(dl->v[k].decider), "decided_by",
                                dl->v[k].decided_by));
        json_object_set_new(o, "artifacts", arts);
        json_object_set_new(o, "decisions", decs);
        json_t *a = json_array();
        json_array_append_new(a, o);
        cli_print_json(a);
        goto done;
    }
    char t0[32], t1[32], buf[80];
    cli_fmt_time(r->started, t0, sizeof t0);
    cli_fmt_time(r->ended, t1, sizeof t1);
    printf("run           %lld\n", (long long)r->id);
    printf("agent         %s\n", cli_fit(r->agent, 64, buf, sizeof buf));
    printf("status        %s\n", ar_run_status_name(r->status));
    if (r->parent)
        printf("parent        %lld\n", (long long)r->parent);
    printf("started       %s UTC\n", t0);
    printf("ended         %s UTC\n", t1);
    printf("dataset       %s\n", cli_fit(r->dataset, 64, buf, sizeof buf));
    printf("code version  %s\n", cli_fit(r->code_version, 64, buf, sizeof buf));
    printf("seed          %llu\n", (unsigned long long)r->seed);
    printf("config        %s\n", cli_fit(r->config, 64, buf, sizeof buf));
    if (!isnan(r->cpu_seconds))
        printf("cpu seconds   %.3f\n", r->cpu_seconds);
    if (r->peak_memory >= 0)
        printf("peak memory   %.1f MiB\n", (double)r->peak_memory / 1048576.0);
    printf("process       %lld on %s\n", (long long)r->pid, cli_fit(r->host, 40, buf, 48));
    for (size_t k = 0; k < params->n; k++) {
        char kb[32], vb[64];
        printf("param  %-24s %s\n", cli_fit(params->key[k], 24, kb, sizeof kb),
               cli_fit(params->value[k], 47, vb, sizeof vb));
    }
    for (size_t k = 0; k < tags->n; k++) {
        char kb[32], vb[64];
        printf("tag    %-24s %s\n", cli_fit(tags->key[k], 24, kb, sizeof kb),
               cli_fit(tags->value[k], 47, vb, sizeof vb));
    }
    size_t points = 0;
    for (size_t k = 0; k < ml->n; k++) {
        points++;
        if (!is_last(ml, k))
            continue;
        char key[160], kb[40];
        key_of(&ml->v[k], key, sizeof key);
        printf("metric %-36s %12.6g  step %lld (%zu points)\n", cli_fit(key, 36, kb, sizeof kb),
               ml->v[k].value, (long long)ml->v[k].step, points);
        points = 0;
    }
    for (size_t k = 0; k < al->n; k++) {
        char pb[48];
        printf("artifact %-10.10s %s %.12s %lld B\n", al->v[k].kind,
               cli_fit(al->v[k].path, 36, pb, sizeof pb), al->v[k].sha256,
               (long long)al->v[k].bytes);
    }
    for (size_t k = 0; k < dl->n; k++) {
        char rb[64];
        printf("decision %-8s %-12s %s\n", ar_action_name(dl->v[k].action),
               ar_decider_name(dl->v[k].decider), cli_fit(dl->v[k].rationale, 50, rb, sizeof rb));
    }
done:
    ar_run_list_free(rl);
    ar_kv_list_free(params);
    ar_kv_list_free(tags);
    ar_metric_list_free(ml);
    ar_artifact_list_free(al);
    ar_decision_list_free(dl);
    return rc;
}

static int do_compare(ar_ledger *l, const int64_t *ids, int n, bool json) {
    ar_metric_list *ml[16] = {0};
    int rc = 0;
    for (int k = 0; k < n; k++) {
        ar_run_list *rl;
        if (ar_ledger_run_get(l, ids[k], &rl) || ar_ledger_metrics(l, ids[k], NULL, &ml[k])) {
            rc = cli_error("runs", "%s", ar_ledger_errmsg(l));
            goto done;
        }
        ar_run_list_free(rl);
    }
    if (json) {
        json_t *a = json_array();
        for (int k = 0; k < n; k++) {
            json_t *m = json_object();
            for (size_t j = 0; j < ml[k]->n; j++)
                if (is_last(ml[k], j)) {
                    char key[160];
                    key_of(&ml[k]->v[j], key, sizeof key);
                    json_object_set_new(m, key, json_real(ml[k]->v[j].value));
                }
            json_array_append_new(a,
                                  json_pack("{s:I,s:o}", "run", (json_int_t)ids[k], "metrics", m));
        }
        cli_print_json(a);
        goto done;
    }
    /* Blocks of four runs: 28 + 4 * 12 = 76 columns. */
    for (int b = 0; b < n; b += 4) {
        int e = b + 4 < n ? b + 4 : n;
        printf("%-28s", "METRIC");
        for (int k = b; k < e; k++) {
            char h[24];
            snprintf(h, sizeof h, "run %lld", (long long)ids[k]);
            printf("%12s", h);
        }
        printf("\n");
        /* every key of any run in the block, in the order first seen */
        for (int k = b; k < e; k++)
            for (size_t j = 0; j < ml[k]->n; j++) {
                if (!is_last(ml[k], j))
                    continue;
                char key[160], kb[32];
                key_of(&ml[k]->v[j], key, sizeof key);
                int seen = 0;
                for (int p = b; p <= k && !seen; p++)
                    for (size_t q = 0; q < ml[p]->n && !seen; q++) {
                        if ((p == k && q >= j) || !is_last(ml[p], q))
                            continue;
                        char other[160];
                        key_of(&ml[p]->v[q], other, sizeof other);
                        seen = strcmp(other, key) == 0;
                    }
                if (seen)
                    continue;
                printf("%-28s", cli_fit(key, 27, kb, sizeof kb));
                for (int p = b; p < e; p++) {
                    double v = NAN;
                    for (size_t q = 0; q < ml[p]->n; q++) {
                        char other[160];
                        key_of(&ml[p]->v[q], other, sizeof other);
                        if (is_last(ml[p], q) && strcmp(other, key) == 0)
                            v = ml[p]->v[q].value;
                    }
                    if (isnan(v))
                        printf("%12s", "-");
                    else
                        printf("%12.6g", v);
                }
                printf("\n");
            }
        if (e < n)
            printf("\n");
    }
done:
    for (int k = 0; k < n; k++)
        ar_metric_list_free(ml[k]);
    return rc;
}

static int do_lineage(ar_ledger *l, int64_t id, bool json) {
    ar_run_list *rl;
    if (ar_ledger_lineage(l, id, AR_LINEAGE_BOTH, &rl))
        return cli_error("runs", "%s", ar_ledger_errmsg(l));
    if (json) {
        json_t *a = json_array();
        for (size_t k = 0; k < rl->n; k++) {
            json_t *o = cli_run_json(&rl->v[k]);
            json_object_set_new(o, "depth", json_integer(rl->v[k].depth));
            json_array_append_new(a, o);
        }
        cli_print_json(a);
        ar_run_list_free(rl);
        return 0;
    }
    int min_depth = rl->n ? rl->v[0].depth : 0;
    for (size_t k = 0; k < rl->n; k++) {
        const ar_run *r = &rl->v[k];
        int indent = 2 * (r->depth - min_depth);
        if (indent > 40)
            indent = 40;
        char a[24], c[48];
        printf("%*s%s%lld %s %s %s%s\n", indent, "", r->depth ? "" : "*", (long long)r->id,
               cli_fit(r->agent, 16, a, sizeof a), ar_run_status_name(r->status),
               cli_fit(r->config, 60 - indent > 8 ? 60 - indent - 20 : 8, c, sizeof c),
               r->depth ? "" : "  <- this run");
    }
    ar_run_list_free(rl);
    return 0;
}

static int run(int argc, char **argv) {
    bool json = false, minimize = false;
    const char *url = NULL, *agent = NULL, *status = NULL, *dataset = NULL, *metric = NULL,
               *scope = "inner", *split = NULL;
    int limit = 0;
    const cli_opt opts[] = {
        {"json", OPT_FLAG, &json},    {"ledger", OPT_STR, &url},      {"agent", OPT_STR, &agent},
        {"status", OPT_STR, &status}, {"dataset", OPT_STR, &dataset}, {"limit", OPT_INT, &limit},
        {"metric", OPT_STR, &metric}, {"scope", OPT_STR, &scope},     {"split", OPT_STR, &split},
        {"min", OPT_FLAG, &minimize}, {NULL, OPT_FLAG, NULL}};
    const char *pos[17];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 17, &n_pos, &cmd_runs);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos < 1) {
        fprintf(stderr, "agentrec runs: expected list, show, compare, lineage or best (see "
                        "--help)\n");
        return CLI_USAGE;
    }
    const char *sub = pos[0];
    int64_t ids[16];
    for (int k = 1; k < n_pos; k++)
        if (bad_id(pos[k], &ids[k - 1])) {
            fprintf(stderr, "agentrec runs: '%s' is not a run id\n", pos[k]);
            return CLI_USAGE;
        }
    int n_ids = n_pos - 1;
    ar_run_query qy = ar_run_query_default();
    qy.agent = agent;
    qy.dataset = dataset;
    qy.limit = limit;
    if (limit < 0) {
        fprintf(stderr, "agentrec runs: --limit must be >= 0\n");
        return CLI_USAGE;
    }
    if (status && (qy.status = ar_run_status_parse(status)) < 0) {
        fprintf(stderr, "agentrec runs: unknown status '%s'\n", status);
        return CLI_USAGE;
    }
    int sc = ar_scope_parse(scope);
    if (sc < 0) {
        fprintf(stderr, "agentrec runs: --scope must be inner or outer\n");
        return CLI_USAGE;
    }
    int is_list = strcmp(sub, "list") == 0, is_best = strcmp(sub, "best") == 0;
    int want_ids = strcmp(sub, "compare") == 0
                       ? -1
                       : (strcmp(sub, "show") == 0 || strcmp(sub, "lineage") == 0);
    if (!is_list && !is_best && strcmp(sub, "show") && strcmp(sub, "compare") &&
        strcmp(sub, "lineage")) {
        fprintf(stderr, "agentrec runs: unknown subcommand '%s' (see --help)\n", sub);
        return CLI_USAGE;
    }
    if ((is_list || is_best) && n_ids) {
        fprintf(stderr, "agentrec runs %s: takes no run ids\n", sub);
        return CLI_USAGE;
    }
    if (want_ids == 1 && n_ids != 1) {
        fprintf(stderr, "agentrec runs %s: expected one run id\n", sub);
        return CLI_USAGE;
    }
    if (want_ids == -1 && n_ids < 2) {
        fprintf(stderr, "agentrec runs compare: expected two or more run ids\n");
        return CLI_USAGE;
    }
    if (is_best && !metric) {
        fprintf(stderr, "agentrec runs best: --metric is required\n");
        return CLI_USAGE;
    }
    ar_ledger *l = cli_ledger_open("runs", url, 0);
    if (!l)
        return CLI_FAIL;
    if (is_list) {
        rc = do_list(l, &qy, json, 0);
    } else if (is_best) {
        qy.metric = metric;
        qy.scope = (ar_scope)sc;
        qy.split = split;
        qy.minimize = minimize;
        if (!limit)
            qy.limit = 10;
        rc = do_list(l, &qy, json, 1);
    } else if (strcmp(sub, "show") == 0) {
        rc = do_show(l, ids[0], json);
    } else if (strcmp(sub, "compare") == 0) {
        rc = do_compare(l, ids, n_ids, json);
    } else {
        rc = do_lineage(l, ids[0], json);
    }
    ar_ledger_free(l);
    return rc;
}
