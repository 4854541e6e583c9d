/*
 * reproduce.c -- `agentrec reproduce CARD`: train a method card's spec on its dataset with its
 * protocol, compare with the reported number and with the current champion, and record the
 * verdict in the ledger. `agentrec reproduce --from-text FILE` first has an LLM draft the card
 * from a method's description (ar_card_draft_from_text), writes the draft for people to read,
 * records the drafting in the ledger, and reproduces the draft when it is valid.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "cli/ledger_common.h"

#include <dirent.h>
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
    "       agentrec reproduce --from-text FILE [--draft-out CARD] [--draft-only]\n"
    "                          [--llm-endpoint URL] [--llm-model NAME] [--llm-retries N]\n"
    "                          [--llm-timeout S] [--llm-max-tokens N] [options above]\n"
    "       agentrec reproduce --schema\n"
    "\n"
    "Reads the card's JSON block (method, spec, dataset, protocol, reported metrics, tolerance),\n"
    "imports the dataset from DATA-ROOT/NAME (default ../shared/data, or $AGENTREC_DATA) into\n"
    "CACHE/NAME (default ./agentrec-cache) once, trains the spec on the training split, scores\n"
    "the test split with full ranking, and says whether the reported numbers are reproduced\n"
    "within the card's tolerance, and how the result compares with the best test score in the\n"
    "ledger on the same dataset (the champion). The run, its metrics and the verdict (a decision\n"
    "with its rationale) go to the ledger (default " AR_LEDGER_DEFAULT_URL ").\n"
    "--json: the last line is {method, reproduced, measured: {recall@K, ndcg@K}, reported,\n"
    "        gap, tolerance, champion, fit_seconds, run}.\n"
    "\n"
    "--from-text FILE: an LLM drafts the card from the method description in FILE (text from a\n"
    "  paper, at most 64 KiB; it is data, never instructions). The endpoint is configured as\n"
    "  for `autotrain --proposer llm`: AGENTREC_LLM_ENDPOINT, AGENTREC_LLM_MODEL and\n"
    "  AGENTREC_LLM_API_KEY (or the OPENAI_* names), or --llm-endpoint/--llm-model. The answer\n"
    "  is constrained to the card schema (--schema prints it) and validated as any card is;\n"
    "  a rejected answer is sent back with the reason, --llm-retries times (default 3). The\n"
    "  draft is written to --draft-out (default FILE.card.md), marked REJECTED when invalid,\n"
    "  and the drafting (prompt size, model, attempts, outcome, reason) goes to the ledger. A\n"
    "  valid draft is then reproduced like any card, unless --draft-only. With --json the last\n"
    "  line carries \"draft\": {text, card, valid, outcome, reason, attempts, prompt_bytes,\n"
    "  model, run}. Exit status 1 when the draft is rejected or no answer came.\n",
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
    io.format = (ar_format)ar_format_parse(c->format); /* one of the card's, ar_card_parse says */
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
                  double fit_s, const ar_card_verdict *v, int64_t parent, int64_t *run) {
    ar_run_spec rs = ar_run_spec_default();
    rs.agent = "reproduce";
    rs.parent = parent;
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

typedef struct repro_opts {
    const char *root, *cache, *url;
    int threads;
    bool as_json;
} repro_opts;

/* The ordinary path: reads the card at path, trains, scores, judges and records. parent (0 =
 * none) is the ledger run the card comes from (its drafting); draft (may be NULL; not taken)
 * is added to the --json line as "draft". */
static int reproduce_card(const char *path, const repro_opts *o, int64_t parent, json_t *draft) {
    char *md = cli_read_text("reproduce", "card", path);
    if (!md)
        return CLI_FAIL;
    ar_card c;
    ar_error err;
    ar_status st = ar_card_parse(md, path, &c, &err);
    free(md);
    if (st)
        return cli_error("reproduce", "%s", err.msg);
    char dir[PATH_MAX];
    ar_dataset *ds = card_dataset(&c, o->root, o->cache, dir, sizeof dir);
    ar_model *m = NULL;
    ar_csr *hist = NULL;
    ar_ranker rk = {0};
    ar_ledger *l = NULL;
    int rc = CLI_FAIL;
    if (!ds)
        goto done;
    if ((st = ar_model_create_spec(c.spec, &m, &err))) {
        cli_error("reproduce", "%s", err.msg);
        goto done;
    }
    ar_fit_options fo = ar_fit_options_default();
    fo.seed = c.seed;
    fo.n_threads = o->threads;
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
    eo.n_threads = o->threads;
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
    if (!(l = cli_ledger_open("reproduce", o->url, 1)) ||
        record(l, &c, &fp, got, fit_s, &v, parent, &runid))
        goto done;
    char kn[32];
    snprintf(kn, sizeof kn, "ndcg@%d", c.k);
    int has_champ = champion(l, &fp, kn, runid, &champ_run, &champ);
    if (o->as_json) {
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
        json_t *out = json_pack("{s:s,s:b,s:o,s:o,s:o,s:f,s:o,s:f,s:I,s:s}", "method", c.method,
                                "reproduced", v.reproduced, "measured", meas, "reported", rep,
                                "gap", gap, "tolerance", c.tolerance, "champion", ch, "fit_seconds",
                                fit_s, "run", (json_int_t)runid, "verdict", v.text);
        if (out && draft) {
            json_object_set(out, "draft", draft);
        }
        cli_print_json(out);
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

/* -- --from-text ------------------------------------------------------------------------------ */

#define DATASETS_LISTED 64
#define FILES_LISTED 16

static int by_name(const void *a, const void *b) {
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

/* The datasets under the data root, [{"name", "files"}] sorted by name, for the model to pick
 * from (names and files are data like the text). NULL when the root cannot be listed. */
static char *list_datasets(const char *root) {
    DIR *d = opendir(root);
    if (!d)
        return NULL;
    json_t *v[DATASETS_LISTED];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < DATASETS_LISTED) {
        char sub[PATH_MAX];
        struct stat sb;
        if (e->d_name[0] == '.' ||
            snprintf(sub, sizeof sub, "%s/%s", root, e->d_name) >= (int)sizeof sub ||
            stat(sub, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        json_t *files = json_array();
        DIR *fd = opendir(sub);
        struct dirent *f;
        while (fd && (f = readdir(fd)) && json_array_size(files) < FILES_LISTED) {
            char fp[PATH_MAX];
            if (f->d_name[0] != '.' &&
                snprintf(fp, sizeof fp, "%s/%s", sub, f->d_name) < (int)sizeof fp &&
                stat(fp, &sb) == 0 && S_ISREG(sb.st_mode))
                json_array_append_new(files, json_string(f->d_name));
        }
        if (fd)
            closedir(fd);
        json_t *name = json_string(e->d_name), *o = name ? json_object() : NULL;
        if (!o || json_object_set_new(o, "name", name) || json_object_set_new(o, "files", files)) {
            json_decref(o);
            continue;
        }
        v[n++] = o;
    }
    closedir(d);
    qsort(v, n, sizeof v[0], by_name);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, v[i]);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void on_attempt(void *ud, const ar_llm_attempt *a) {
    (void)ud;
    fprintf(stderr, "reproduce: draft attempt %d: %s", a->attempt, ar_llm_outcome_name(a->outcome));
    if (a->http_status)
        fprintf(stderr, ", HTTP %ld", a->http_status);
    fprintf(stderr, ", %.3f s: %s", a->latency_seconds, a->message);
    if (a->will_retry && a->retry_in_seconds > 0)
        fprintf(stderr, "; retrying in %.1f s", a->retry_in_seconds);
    else if (a->will_retry)
        fprintf(stderr, "; asking again");
    fputc('\n', stderr);
}

/* The drafting goes to the ledger as its own run (tag role=draft): the prompt's size, the
 * model, every attempt, the outcome and the reason as params, the draft card as an artifact,
 * and a decision -- adopt (the draft is reproduced next, in a child run) or reject, with why. */
static int record_draft(ar_ledger *l, const char *text_path, const char *card_path, int written,
                        const char *model, const ar_card_draft *d, int64_t *run) {
    json_t *cfg =
        json_pack("{s:s,s:s,s:s}", "from_text", text_path, "draft", card_path, "model", model);
    char *config = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(cfg);
    ar_run_spec rs = ar_run_spec_default();
    rs.agent = "reproduce";
    rs.config = config;
    char bytes[32], attempts[16];
    snprintf(bytes, sizeof bytes, "%zu", d->prompt_bytes);
    snprintf(attempts, sizeof attempts, "%d", d->attempts);
    const char *outcome = d->attempts ? ar_llm_outcome_name(d->outcome) : "none";
    char why[1024];
    if (d->valid)
        snprintf(why, sizeof why, "card drafted from %.300s by %.100s is valid: reproducing it",
                 text_path, model);
    else
        snprintf(why, sizeof why, "card drafted from %.300s by %.100s rejected (%s): %.500s",
                 text_path, model, outcome, d->reason);
    int bad = !config || ar_ledger_run_begin(l, &rs, run) ||
              ar_ledger_set_tag(l, *run, "role", "draft") ||
              ar_ledger_set_tag(l, *run, "draft", d->valid ? "valid" : "rejected") ||
              ar_ledger_log_param(l, *run, "draft.text", text_path) ||
              ar_ledger_log_param(l, *run, "draft.card", card_path) ||
              ar_ledger_log_param(l, *run, "draft.model", model) ||
              ar_ledger_log_param(l, *run, "draft.prompt_bytes", bytes) ||
              ar_ledger_log_param(l, *run, "draft.attempts", attempts) ||
              ar_ledger_log_param(l, *run, "draft.outcome", outcome) ||
              ar_ledger_log_param(l, *run, "draft.reason", d->reason) ||
              ar_ledger_log_param(l, *run, "draft.attempt_log",
                                  d->attempts_json ? d->attempts_json : "[]") ||
              (written && ar_ledger_log_artifact(l, *run, "card", card_path, NULL));
    free(config);
    if (!bad) {
        ar_decision_spec dec = {*run,       d->valid ? AR_ACTION_ADOPT : AR_ACTION_REJECT,
                                why,        NULL,
                                0,          AR_DECIDER_AGENT,
                                "reproduce"};
        bad = ar_ledger_log_decision(l, &dec, NULL) ||
              ar_ledger_run_finish(l, *run, d->valid ? AR_RUN_FINISHED : AR_RUN_FAILED, -1, -1);
    }
    return bad ? cli_error("reproduce", "ledger: %s", ar_ledger_errmsg(l)) : 0;
}

static int from_text(const char *text_path, const char *draft_out, bool draft_only,
                     ar_llm_config *llm, const repro_opts *o) {
    /* The text first (a local mistake is cheaper to report), then the endpoint. */
    struct stat sb;
    int regular = stat(text_path, &sb) == 0 && S_ISREG(sb.st_mode);
    if (!regular && stat(text_path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_error("reproduce", "--from-text %s: a directory, not a text file", text_path);
    ar_card_draft_options dopt = ar_card_draft_options_default();
    if (regular && (size_t)sb.st_size > dopt.max_text_bytes)
        return cli_error("reproduce",
                         "--from-text %s: %lld bytes, more than the %zu a draft takes (give the "
                         "method's description, not the whole paper)",
                         text_path, (long long)sb.st_size, dopt.max_text_bytes);
    char *text = cli_read_text("reproduce", "--from-text", text_path);
    if (!text)
        return CLI_FAIL;
    if (regular && strlen(text) != (size_t)sb.st_size) {
        free(text);
        return cli_error("reproduce", "--from-text %s: contains NUL bytes (not a text file)",
                         text_path);
    }
    const char *bad = ar_llm_config_check(llm);
    if (bad) {
        free(text);
        if (!llm->endpoint || !*llm->endpoint || !llm->model || !*llm->model)
            return cli_error("reproduce",
                             "--from-text needs an LLM: %s (set AGENTREC_LLM_ENDPOINT and "
                             "AGENTREC_LLM_MODEL, or --llm-endpoint/--llm-model)",
                             bad);
        return cli_error("reproduce", "LLM options: %s", bad);
    }
    char card_path[PATH_MAX];
    if (snprintf(card_path, sizeof card_path, "%s", draft_out ? draft_out : text_path) >=
            (int)sizeof card_path ||
        (!draft_out && strlen(card_path) + 8 >= sizeof card_path)) {
        free(text);
        return cli_error("reproduce", "%s: path too long", text_path);
    }
    if (!draft_out)
        strcat(card_path, ".card.md");
    struct stat cb;
    if (strcmp(card_path, text_path) == 0 || (regular && stat(card_path, &cb) == 0 &&
                                              cb.st_ino == sb.st_ino && cb.st_dev == sb.st_dev)) {
        free(text);
        return cli_error("reproduce", "--draft-out %s: that is the text itself", card_path);
    }
    char *datasets = list_datasets(o->root);
    llm->log = on_attempt;
    dopt.llm = llm;
    dopt.datasets = datasets;
    dopt.text_name = text_path;
    dopt.card_name = card_path;
    ar_card_draft d;
    ar_error err;
    fprintf(stderr, "reproduce: drafting a card from %s with %s\n", text_path, llm->model);
    ar_status st = ar_card_draft_from_text(&dopt, text, &d, &err);
    free(text);
    free(datasets);
    if (st && d.attempts == 0) { /* nothing was sent: the text itself */
        ar_card_draft_free(&d);
        return st == AR_ENOMEM ? cli_error("reproduce", "out of memory")
                               : cli_error("reproduce", "--from-text %s: %s", text_path, err.msg);
    }
    int written = d.markdown && cli_write_text("reproduce", card_path, d.markdown) == 0;
    if (written)
        fprintf(stderr, "reproduce: %s draft written to %s\n", d.valid ? "valid" : "REJECTED",
                card_path);
    else if (!d.markdown)
        fprintf(stderr, "reproduce: no answer came back, so no draft was written\n");
    int64_t run = 0;
    ar_ledger *l = cli_ledger_open("reproduce", o->url, 1);
    int rc = !l || record_draft(l, text_path, card_path, written, llm->model, &d, &run);
    ar_ledger_free(l);
    json_t *dj =
        json_pack("{s:s,s:s,s:b,s:s,s:s?,s:i,s:I,s:s,s:I}", "text", text_path, "card", card_path,
                  "valid", d.valid, "outcome", d.attempts ? ar_llm_outcome_name(d.outcome) : "none",
                  "reason", d.valid ? NULL : d.reason, "attempts", d.attempts, "prompt_bytes",
                  (json_int_t)d.prompt_bytes, "model", llm->model, "run", (json_int_t)run);
    if (!d.valid || !written || rc) {
        if (o->as_json && dj)
            cli_print_json(json_pack("{s:o}", "draft", dj));
        else
            json_decref(dj);
        if (!d.valid && d.markdown)
            cli_error("reproduce", "the drafted card was rejected: %s%s%s", d.reason,
                      written ? "; the draft is in " : "", written ? card_path : "");
        else if (!d.valid)
            cli_error("reproduce", "no card was drafted: %s", d.reason);
        ar_card_draft_free(&d);
        return CLI_FAIL;
    }
    ar_card_draft_free(&d);
    if (draft_only) {
        if (o->as_json)
            cli_print_json(json_pack("{s:o}", "draft", dj));
        else {
            json_decref(dj);
            printf(
                "drafted %s (valid; ledger run %lld); reproduce it with: agentrec reproduce %s\n",
                card_path, (long long)run, card_path);
        }
        return 0;
    }
    if (!o->as_json)
        printf("drafted %s (valid; ledger run %lld)\n", card_path, (long long)run);
    rc = reproduce_card(card_path, o, run, dj);
    if (rc && o->as_json && dj) /* the last line says what happened to the draft either way */
        cli_print_json(json_pack("{s:O}", "draft", dj));
    json_decref(dj);
    return rc;
}

static int run(int argc, char **argv) {
    repro_opts o = {getenv("AGENTREC_DATA"), "agentrec-cache", NULL, 0, false};
    const char *text = NULL, *draft_out = NULL, *llm_endpoint = NULL, *llm_model = NULL;
    bool draft_only = false, schema = false;
    ar_llm_config llm = ar_llm_config_default();
    int retries = llm.max_retries, max_tokens = llm.max_tokens;
    double timeout = llm.timeout_seconds;
    const cli_opt opts[] = {{"data-root", OPT_STR, &o.root},
                            {"cache", OPT_STR, &o.cache},
                            {"ledger", OPT_STR, &o.url},
                            {"threads", OPT_INT, &o.threads},
                            {"json", OPT_FLAG, &o.as_json},
                            {"from-text", OPT_STR, &text},
                            {"draft-out", OPT_STR, &draft_out},
                            {"draft-only", OPT_FLAG, &draft_only},
                            {"llm-endpoint", OPT_STR, &llm_endpoint},
                            {"llm-model", OPT_STR, &llm_model},
                            {"llm-retries", OPT_INT, &retries},
                            {"llm-timeout", OPT_DOUBLE, &timeout},
                            {"llm-max-tokens", OPT_INT, &max_tokens},
                            {"schema", OPT_FLAG, &schema},
                            {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_reproduce);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (schema) {
        if (n_pos || text) {
            fprintf(stderr, "agentrec reproduce: --schema takes no card\n");
            return CLI_USAGE;
        }
        const char *s = ar_card_schema();
        if (!s)
            return cli_error("reproduce", "out of memory");
        printf("%s\n", s);
        return 0;
    }
    if (text ? n_pos != 0 : n_pos != 1) {
        fprintf(stderr, "agentrec reproduce: expected %s\n%s",
                text ? "no method card with --from-text" : "one method card (or --from-text FILE)",
                cmd_reproduce.usage);
        return CLI_USAGE;
    }
    if (!text && (draft_out || draft_only)) {
        fprintf(stderr, "agentrec reproduce: --draft-out and --draft-only need --from-text\n");
        return CLI_USAGE;
    }
    if (!o.root)
        o.root = "../shared/data";
    if (!text)
        return reproduce_card(pos[0], &o, 0, NULL);
    /* The same configuration as the autotrain LLM proposer: the environment, then options. */
    ar_llm_config_from_env(&llm);
    if (llm_endpoint)
        llm.endpoint = llm_endpoint;
    if (llm_model)
        llm.model = llm_model;
    llm.max_retries = retries;
    llm.timeout_seconds = timeout;
    llm.max_tokens = max_tokens;
    return from_text(text, draft_out, draft_only, &llm, &o);
}
