/*
 * autotrain.c -- `agentrec autotrain`: the model-search agent on a dataset (ar_autotrain_run).
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
#include <sys/statvfs.h>
#include <unistd.h>

static int run(int argc, char **argv);

const cli_cmd cmd_autotrain = {
    "autotrain", "search models and specs on a dataset under a budget (the AutoTrain agent)",
    "usage: agentrec autotrain DIR [--budget 60m] [--ledger URL] [--policy rl|tpe|random]\n"
    "                          [--proposer evo|llm|none] [--seed S] [--k 20] [--threads N]\n"
    "                          [--max-trials N] [--batch N] [--space FILE] [--no-warm-start]\n"
    "                          [--no-test] [--no-cache] [--llm-endpoint URL]\n"
    "                          [--llm-model NAME]\n"
    "                          [--quiet] [--json]\n"
    "\n"
    "Searches the zoo's models (and, after half the budget, model specs from the proposer) on\n"
    "DIR's validation split, every trial in a worker process with limits, and records every\n"
    "trial, failure and decision in the ledger (default sqlite:///./agentrec.db). A new champion\n"
    "is adopted only when it beats the current one by more than twice its family's measured seed\n"
    "noise. At the end the champion is refitted on train + valid and scored on test once.\n"
    "When DIR has no validation split, one is carved out of its training split into\n"
    "DIR/autotrain/, which the search then uses: the test split's share of each user's\n"
    "training interactions (10% without a test split), seeded, as the test split was made.\n"
    "\n"
    "Fits that take 10 s or more are cached in DIR's fit-cache/ (a third of the free disk at\n"
    "most, 32 GiB; the least recently used go first), so promoting a candidate, measuring its\n"
    "seed noise or blending it refits nothing; --no-cache turns that off.\n"
    "\n"
    "--budget takes seconds, minutes or hours (90s, 60m, 2h; a bare number is seconds).\n"
    "--json: the last line is {champion, trials, validation: {recall@K, ndcg@K}, test: {...},\n"
    "        failures, adoptions, noise_sd, trials_to_best, seconds, run}.\n"
    "--proposer llm: an OpenAI-compatible /v1/chat/completions endpoint (llama.cpp server,\n"
    "  Ollama, vLLM, a hosted API) from AGENTREC_LLM_ENDPOINT, AGENTREC_LLM_MODEL and\n"
    "  AGENTREC_LLM_API_KEY, or --llm-endpoint/--llm-model; every answer is validated as a\n"
    "  spec, and every attempt is recorded in the ledger (params proposal.N of the session).\n",
    run};

static void log_line(void *data, const char *line) {
    (void)data;
    fprintf(stderr, "autotrain: %s\n", line);
}

/* The validation count of the dataset saved at dir, -1 when there is none. */
static int64_t saved_valid(const char *dir) {
    char path[PATH_MAX];
    struct stat sb;
    cli_dataset_path(dir, path, sizeof path);
    if (stat(path, &sb) != 0)
        return -1;
    ar_dataset *ds = cli_load("autotrain", dir);
    ar_dataset_stats s;
    int64_t n = ds && ar_dataset_stats_compute(ds, &s) == AR_OK ? s.valid : -1;
    ar_dataset_free(ds);
    return n;
}

/* DIR itself when it has a validation split, else DIR/autotrain with one carved out of train as
 * the test split was made: the test's share of each user's interactions (10% when there is no
 * test split), seeded. It is carved anew unless DIR/autotrain holds the same carve (the first
 * run's seed decides for later ones). Returns 0 or CLI_FAIL after printing the error. */
static int with_validation(const char *dir, uint64_t seed, char *out, size_t cap) {
    ar_dataset *ds = cli_load("autotrain", dir);
    if (!ds)
        return CLI_FAIL;
    ar_dataset_stats s;
    ar_status st = ar_dataset_stats_compute(ds, &s);
    if (!st && s.valid > 0) {
        ar_dataset_free(ds);
        snprintf(out, cap, "%s", dir);
        return 0;
    }
    snprintf(out, cap, "%s/autotrain", dir);
    ar_split_options so = ar_split_options_default();
    so.within = AR_MASK_TRAIN;
    so.method = AR_SPLIT_RANDOM;
    so.test_ratio = 0;
    so.valid_ratio = !st && s.test > 0 ? (double)s.test / (double)(s.train + s.test) : 0.1;
    so.seed = seed;
    ar_error err;
    if (!st && (st = ar_dataset_split(ds, &so, &err)) != AR_OK) {
        ar_dataset_free(ds);
        return cli_error("autotrain", "%s: carving a validation split: %s", dir, err.msg);
    }
    if (!st && (st = ar_dataset_stats_compute(ds, &s)) == AR_OK && saved_valid(out) == s.valid) {
        ar_dataset_free(ds); /* carved before */
        return 0;
    }
    int rc = st ? cli_error("autotrain", "%s: %s", dir, ar_strerror(st))
                : cli_save("autotrain", ds, out);
    ar_dataset_free(ds);
    if (!rc)
        fprintf(stderr,
                "autotrain: %s has no validation split; carved %.1f%% of each user's training "
                "interactions (the test split's share; seed %llu) into %s\n",
                dir, 100 * so.valid_ratio, (unsigned long long)seed, out);
    return rc;
}

static json_t *pair(int k, const double v[2]) {
    char kr[32], kn[32];
    snprintf(kr, sizeof kr, "recall@%d", k);
    snprintf(kn, sizeof kn, "ndcg@%d", k);
    json_t *o = json_object();
    json_object_set_new(o, kr, cli_num(v[0]));
    json_object_set_new(o, kn, cli_num(v[1]));
    return o;
}

static int run(int argc, char **argv) {
    const char *llm_endpoint = NULL, *llm_model = NULL;
    const char *budget = "60m", *url = NULL, *policy = "rl", *proposer = "evo", *space_file = NULL;
    uint64_t seed = 1;
    int k = 20, threads = 0, max_trials = 0, batch = 4;
    bool no_warm = false, no_test = false, no_cache = false, quiet = false, as_json = false;
    const cli_opt opts[] = {
        {"budget", OPT_STR, &budget},
        {"ledger", OPT_STR, &url},
        {"policy", OPT_STR, &policy},
        {"proposer", OPT_STR, &proposer},
        {"space", OPT_STR, &space_file},
        {"seed", OPT_U64, &seed},
        {"k", OPT_INT, &k},
        {"threads", OPT_INT, &threads},
        {"max-trials", OPT_INT, &max_trials},
        {"batch", OPT_INT, &batch},
        {"llm-endpoint", OPT_STR, &llm_endpoint},
        {"llm-model", OPT_STR, &llm_model},
        {"no-warm-start", OPT_FLAG, &no_warm},
        {"no-test", OPT_FLAG, &no_test},
        {"no-cache", OPT_FLAG, &no_cache},
        {"quiet", OPT_FLAG, &quiet},
        {"json", OPT_FLAG, &as_json},
        {NULL, OPT_FLAG, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_autotrain);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "agentrec autotrain: expected one dataset directory\n%s",
                cmd_autotrain.usage);
        return CLI_USAGE;
    }
    ar_autotrain_options o = ar_autotrain_options_default();
    o.budget_seconds = cli_parse_duration(budget);
    if (!isfinite(o.budget_seconds))
        return cli_error("autotrain",
                         "--budget %s: expected seconds, minutes or hours such as "
                         "90s, 60m or 2h",
                         budget);
    int pk = ar_search_kind_parse(policy);
    if (pk < 0)
        return cli_error("autotrain", "--policy %s: expected rl, tpe or random", policy);
    o.policy = (ar_search_kind)pk;
    if (strcmp(proposer, "evo") == 0)
        o.proposer = AR_PROPOSER_EVO;
    else if (strcmp(proposer, "none") == 0)
        o.proposer = AR_PROPOSER_NONE;
    else if (strcmp(proposer, "llm") == 0)
        o.proposer = AR_PROPOSER_LLM;
    else
        return cli_error("autotrain", "--proposer %s: expected evo, llm or none", proposer);
    char *space = NULL;
    if (space_file) {
        if (!(space = cli_read_text("autotrain", "--space", space_file)))
            return CLI_FAIL;
        o.space = space;
    }
    char worker[PATH_MAX], dir[PATH_MAX];
    ssize_t wn = readlink("/proc/self/exe", worker, sizeof worker - 1);
    if (wn <= 0) {
        free(space);
        return cli_error("autotrain", "cannot find the agentrec executable for the workers");
    }
    worker[wn] = 0;
    if ((rc = with_validation(pos[0], seed, dir, sizeof dir))) {
        free(space);
        return rc;
    }
    o.dataset = dir;
    o.worker = worker;
    o.seed = seed;
    o.k = k;
    o.n_threads = threads;
    o.max_trials = max_trials;
    o.batch = batch;
    o.warm_start = !no_warm;
    o.final_test = !no_test;
    /* The fit cache beside the dataset, capped at a third of the free disk (at most 32 GiB). */
    char cache[PATH_MAX + 16];
    struct statvfs fs;
    snprintf(cache, sizeof cache, "%s/fit-cache", dir);
    if (!no_cache && statvfs(dir, &fs) == 0) {
        uint64_t free_bytes = (uint64_t)fs.f_bavail * fs.f_frsize, cap = (uint64_t)32 << 30;
        o.fit_cache = cache;
        o.fit_cache_bytes = free_bytes / 3 < cap ? free_bytes / 3 : cap;
    }
    o.log = quiet ? NULL : log_line;
    ar_llm_config llm = ar_llm_config_default();
    ar_llm_config_from_env(&llm);
    if (llm_endpoint)
        llm.endpoint = llm_endpoint;
    if (llm_model)
        llm.model = llm_model;
    if (o.proposer == AR_PROPOSER_LLM) {
        const char *lbad = ar_llm_config_check(&llm);
        if (lbad) {
            free(space);
            return cli_error("autotrain",
                             "--proposer llm: %s (set AGENTREC_LLM_ENDPOINT and "
                             "AGENTREC_LLM_MODEL, or --llm-endpoint/--llm-model)",
                             lbad);
        }
        o.llm = &llm;
    }
    const char *bad = ar_autotrain_options_check(&o);
    if (bad) {
        free(space);
        return cli_error("autotrain", "%s", bad);
    }
    ar_ledger *l = cli_ledger_open("autotrain", url, 1);
    if (!l) {
        free(space);
        return CLI_FAIL;
    }
    ar_autotrain_result r;
    ar_error err;
    ar_status st = ar_autotrain_run(l, &o, &r, &err);
    ar_ledger_free(l);
    free(space);
    if (st) {
        ar_autotrain_result_free(&r);
        return cli_error("autotrain", "%s", err.msg);
    }
    if (!r.champion) {
        cli_error("autotrain", "no trial succeeded in %d trials (see 'agentrec runs')", r.trials);
        return CLI_FAIL;
    }
    if (as_json) {
        json_t *champ = json_loads(r.champion, 0, NULL);
        cli_print_json(json_pack(
            "{s:o,s:i,s:o,s:o,s:i,s:i,s:o,s:i,s:f,s:I}", "champion", champ ? champ : json_null(),
            "trials", r.trials, "validation", pair(k, r.valid), "test", pair(k, r.test), "failures",
            r.failures, "adoptions", r.adoptions, "noise_sd", cli_num(r.noise_sd), "trials_to_best",
            r.trials_to_best, "seconds", r.seconds, "run", (json_int_t)r.run));
    } else {
        printf("champion: %s\n", r.champion);
        printf("validation: recall@%d %.4f  ndcg@%d %.4f   (%d trials, %d failed, %d adoptions, "
               "%.0f s)\n",
               k, r.valid[0], k, r.valid[1], r.trials, r.failures, r.adoptions, r.seconds);
        if (isfinite(r.test[1]))
            printf("test:       recall@%d %.4f  ndcg@%d %.4f\n", k, r.test[0], k, r.test[1]);
        printf("ledger run %lld: 'agentrec runs --parent %lld', 'agentrec decisions'\n",
               (long long)r.run, (long long)r.run);
    }
    ar_autotrain_result_free(&r);
    return 0;
}
