/*
 * reproduce.c -- `agentrec reproduce CARD`: train a method card's spec on its dataset with its
 * protocol, compare with the reported number and with the current champion, and record the
 * verdict in the ledger.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "cli/ledger_common.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run(int argc, char **argv);

const cli_cmd cmd_reproduce = {
    "reproduce", "reproduce a published result from a method card (docs/cards)",
    "usage: agentrec reproduce CARD [--data-root DIR] [--cache DIR] [--ledger URL]\n"
    "                          [--threads N] [--json]\n"
    "\n"
    "Reads the card's JSON block (method, spec, dataset, protocol, reported metrics, tolerance),\n"
    "imports the dataset from DATA-ROOT/NAME (default ../shared/data, or $AGENTREC_DATA) into\n"
    "CACHE/NAME (default ./agentrec-cache) once, trains the spec on the training split, scores\n"
    "the test split with full ranking, and says whether the reported numbers are reproduced\n"
    "within the card's tolerance, and how the result compares with the best test score in the\n"
    "ledger on the same dataset (the champion). The run, its metrics and the verdict (a decision\n"
    "with its rationale) go to the ledger (default " AR_LEDGER_DEFAULT_URL ").\n"
    "--json: the last line is {method, reproduced, measured: {recall@K, ndcg@K}, reported,\n"
    "        gap, tolerance, champion, fit_seconds, run}.\n",
    run};

/* CACHE/NAME with the card's dataset and split, imported on first use. */
static ar_dataset *card_dataset(const ar_card *c, const char *root, const char *cache, char *dir,
                                size_t cap) {
    snprintf(dir, cap, "%s/%s", cache, c->dataset);
    char path[PATH_MAX];
    struct stat sb;
    cli_dataset_path(dir, path, sizeof path);
    if (stat(path, &sb) == 0)
        return cli_load("reproduce", dir);
    char train[PATH_MAX], test[PATH_MAX];
    snprintf(train, sizeof train, "%s/%s/%s", root, c->dataset, c->train);
    if (c->test)
        snprintf(test, sizeof test, "%s/%s/%s", root, c->dataset, c->test);
    if (stat(train, &sb) != 0) {
        cli_error("reproduce",
                  "%s: not found (the card's dataset; set --data-root or "
                  "AGENTREC_DATA to the folder that holds %s/)",
                  train, c->dataset);
        return NULL;
    }
    ar_import_options io = ar_import_options_default();
    int fmt = ar_format_parse(c->format);
    if (fmt < 0 || fmt == AR_FORMAT_CSV) {
        cli_error("reproduce", "dataset.format %s: expected movielens, recbole, lightgcn or s3rec",
                  c->format);
        return NULL;
    }
    io.format = (ar_format)fmt;
    io.train = train;
    io.test = c->test && !c->random_split ? test : NULL;
    ar_dataset *ds;
    ar_error err;
    ar_status st = ar_import(&io, &ds, &err);
    if (st) {
        cli_error("reproduce", "%s", err.msg);
        return NULL;
    }
    if (c->random_split) {
        ar_split_options so = ar_split_options_default();
        so.method = AR_SPLIT_RANDOM;
        so.test_ratio = c->test_ratio;
        so.seed = c->seed;
        if (ar_dataset_split(ds, &so, &err)) {
            ar_dataset_free(ds);
            cli_error("reproduce", "%s", err.msg);
            return NULL;
        }
    }
    if (cli_save("reproduce", ds, dir)) {
        ar_dataset_free(ds);
        return NULL;
    }
    fprintf(stderr, "reproduce: imported %s into %s\n", c->dataset, dir);
    return ds;
}

/* The best test score in the ledger on a dataset with this fingerprint: the champion. */
static int champion(ar_ledger *l, const ar_fingerprint *fp, const char *metric, int64_t self,
                    int64_t *run, double *value) {
    ar_run_query q = ar_run_query_default();
    q.metric = metric;
    q.split = "test";
    q.limit = 1000;
    ar_run_list *rl;
    if (ar_ledger_runs(l, &q, &rl))
        return 0;
    int found = 0;
    for (size_t i = 0; i < rl->n && !found; i++)
        if (rl->v[i].id != self && ar_fingerprint_distance(&rl->v[i].dataset_fp, fp) < 1e-9) {
            *run = rl->v[i].id;
            *value = rl->v[i].score;
            found = 1;
        }
    ar_run_list_free(rl);
    return found;
}

static int record(ar_ledger *l, const ar_card *c, const ar_fingerprint *fp, const double m[2],
                  double fit_s, const ar_card_verdict *v, int64_t *run) {
    ar_run_spec rs = ar_run_spec_default();
    rs.agent = "reproduce";
    rs.config = c->json;
    rs.dataset = c->dataset;
    rs.dataset_fp = *fp;
    rs.seed = c->seed;
    char kr[32], kn[32];
    snprintf(kr, sizeof kr, "recall@%d", c->k);
    snprintf(kn, sizeof kn, "ndcg@%d", c->k);
    ar_metric_point mp[3] = {{kr, m[0], 0, AR_SCOPE_INNER, "test"},
                             {kn, m[1], 0, AR_SCOPE_INNER, "test"},
                             {"fit_seconds", fit_s, 0, AR_SCOPE_INNER, "test"}};
    int64_t ev[2] = {0, 0};
    if (ar_ledger_run_begin(l, &rs, run) || ar_ledger_log_param(l, *run, "method", c->method) ||
        ar_ledger_log_param(l, *run, "spec", c->spec) ||
        ar_ledger_set_tag(l, *run, "verdict", v->reproduced ? "reproduced" : "not-reproduced") ||
        ar_ledger_log_metric(l, *run, &mp[0], &ev[0]) ||
        ar_ledger_log_metric(l, *run, &mp[1], &ev[1]) ||
        ar_ledger_log_metric(l, *run, &mp[2], NULL))
        return cli_error("reproduce", "ledger: %s", ar_ledger_errmsg(l));
    char why[768];
    snprintf(why, sizeof why, "%s (source: %.200s)", v->text, c->source);
    ar_decision_spec d = {*run,       v->reproduced ? AR_ACTION_ADOPT : AR_ACTION_REJECT,
                          why,        ev,
                          2,          AR_DECIDER_AGENT,
                          "reproduce"};
    if (ar_ledger_log_decision(l, &d, NULL) ||
        ar_ledger_run_finish(l, *run, AR_RUN_FINISHED, -1, -1))
        return cli_error("reproduce", "ledger: %s", ar_ledger_errmsg(l));
    return 0;
}

static int run(int argc, char **argv) {
    const char *root = getenv("AGENTREC_DATA"), *cache = "agentrec-cache", *url = NULL;
    int threads = 0;
    bool as_json = false;
    const cli_opt opts[] = {{"data-root", OPT_STR, &root}, {"cache", OPT_STR, &cache},
                            {"ledger", OPT_STR, &url},     {"threads", OPT_INT, &threads},
                            {"json", OPT_FLAG, &as_json},  {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_reproduce);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "agentrec reproduce: expected one method card\n%s", cmd_reproduce.usage);
        return CLI_USAGE;
    }
    if (!root)
        root = "../shared/data";
    char *md = cli_read_text("reproduce", "card", pos[0]);
    if (!md)
        return CLI_FAIL;
    ar_card c;
    ar_error err;
    ar_status st = ar_card_parse(md, pos[0], &c, &err);
    free(md);
    if (st)
        return cli_error("reproduce", "%s", err.msg);
    char dir[PATH_MAX];
    ar_dataset *ds = card_dataset(&c, root, cache, dir, sizeof dir);
    ar_model *m = NULL;
    ar_csr *hist = NULL;
    ar_ranker rk = {0};
    ar_ledger *l = NULL;
    rc = CLI_FAIL;
    if (!ds)
        goto done;
    if ((st = ar_model_create_spec(c.spec, &m, &err))) {
        cli_error("reproduce", "%s", err.msg);
        goto done;
    }
    ar_fit_options fo = ar_fit_options_default();
    fo.seed = c.seed;
    fo.n_threads = threads;
    fo.progress = NULL;
    fprintf(stderr, "reproduce: %s -- training %s on %s\n", c.method, c.spec, dir);
    double t0 = cli_now();
    if ((st = ar_model_fit(m, ds, &fo, &err))) {
        cli_error("reproduce", "%s", err.msg);
        goto done;
    }
    double fit_s = cli_now() - t0;
    ar_eval_options eo = ar_eval_options_default();
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = c.k;
    eo.n_threads = threads;
    ar_eval_result r;
    if ((st = ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &hist)) ||
        (st = ar_model_ranker(m, hist, &rk)) || (st = ar_evaluate(ds, &rk, &eo, &r, &err))) {
        cli_error("reproduce", "%s", st == AR_ENOMEM ? "out of memory" : err.msg);
        goto done;
    }
    double got[2] = {r.value[AR_METRIC_RECALL][0], r.value[AR_METRIC_NDCG][0]};
    ar_card_verdict v = ar_card_judge(&c, got[0], got[1]);
    ar_dataset_stats s;
    ar_fingerprint fp = {0};
    if (ar_dataset_stats_compute(ds, &s) == AR_OK)
        fp = ar_fingerprint_from_stats(&s);
    int64_t runid = 0, champ_run = 0;
    double champ = NAN;
    if (!(l = cli_ledger_open("reproduce", url, 1)) || record(l, &c, &fp, got, fit_s, &v, &runid))
        goto done;
    char kn[32];
    snprintf(kn, sizeof kn, "ndcg@%d", c.k);
    int has_champ = champion(l, &fp, kn, runid, &champ_run, &champ);
    if (as_json) {
        char kr[32];
        snprintf(kr, sizeof kr, "recall@%d", c.k);
        json_t *meas = json_object(), *rep = json_object(), *gap = json_object();
        json_object_set_new(meas, kr, cli_num(got[0]));
        json_object_set_new(meas, kn, cli_num(got[1]));
        json_object_set_new(rep, kr, cli_num(c.reported[0]));
        json_object_set_new(rep, kn, cli_num(c.reported[1]));
        json_object_set_new(gap, kr, cli_num(v.gap[0]));
        json_object_set_new(gap, kn, cli_num(v.gap[1]));
        json_t *ch = has_champ
                         ? json_pack("{s:I,s:o}", "run", (json_int_t)champ_run, kn, cli_num(champ))
                         : json_null();
        cli_print_json(json_pack(
            "{s:s,s:b,s:o,s:o,s:o,s:f,s:o,s:f,s:I,s:s}", "method", c.method, "reproduced",
            v.reproduced, "measured", meas, "reported", rep, "gap", gap, "tolerance", c.tolerance,
            "champion", ch, "fit_seconds", fit_s, "run", (json_int_t)runid, "verdict", v.text));
    } else {
        printf("%s: %s\n", c.method, v.text);
        if (has_champ)
            printf("champion on this dataset: run %lld, %s %.4f (%s)\n", (long long)champ_run, kn,
                   champ, got[1] > champ ? "this result is better" : "this result is not better");
        else
            printf("no champion on this dataset in the ledger yet\n");
        printf("fit %.1f s; ledger run %lld\n", fit_s, (long long)runid);
    }
    rc = 0;
done:
    ar_ledger_free(l);
    if (m)
        ar_model_ranker_free(&rk);
    ar_csr_free(hist);
    ar_model_free(m);
    ar_dataset_free(ds);
    ar_card_free(&c);
    return rc;
}
