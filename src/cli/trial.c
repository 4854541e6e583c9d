/*
 * trial.c -- `agentrec trial`: the worker that agents run in a child process (ar_trial_run).
 * It reads one JSON request on stdin, fits and evaluates, and prints one JSON result line.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_trial = {
    "trial", "run one trial (the worker agents start; reads JSON on stdin)",
    "usage: agentrec trial < request.json\n"
    "\n"
    "request: {\"dataset\": DIR, \"model\": NAME, \"params\": {...} | \"spec\": {...},\n"
    "          \"fit_splits\": \"train\", \"target\": \"valid\"|\"test\", \"k\": [20],\n"
    "          \"user_fraction\": 1.0, \"seed\": S, \"threads\": N,\n"
    "          \"learn_weights\": false (a blend spec: learn its weights on valid first),\n"
    "          \"cache\": {\"dir\": D, \"min_seconds\": 10, \"max_bytes\": N} (optional: a fit\n"
    "          cache, see ar_fit_cache)}\n"
    "result (one line): {\"model\", \"params\", \"spec\", \"users\", \"metrics\": {..},\n"
    "                    \"fit_seconds\", \"eval_seconds\", \"peak_rss_mb\", \"cache_hits\",\n"
    "                    \"cache_stored\": {file the fit cache saved: the fit's seconds},\n"
    "                    \"cache_loaded\": [files loaded from the cache instead of fitting]}\n"
    "exit status: 0 ok, 3 a non-finite metric, 4 out of memory, 1 any other error (stderr\n"
    "says which).\n",
    run};

static int fail_status(ar_status st) {
    return st == AR_ENOMEM ? AR_TRIAL_EXIT_NOMEM : CLI_FAIL;
}

/* The fit cache's traffic: {"stored": {path: fit seconds}, "loaded": [path]}. */
static void note_stored(void *data, const char *path, double fit_seconds) {
    json_object_set_new(json_object_get(data, "stored"), path, json_real(fit_seconds));
}

static void note_loaded(void *data, const char *path) {
    json_array_append_new(json_object_get(data, "loaded"), json_string(path));
}

static int run(int argc, char **argv) {
    const cli_opt opts[] = {{NULL, OPT_FLAG, NULL}};
    int n_pos, rc = cli_parse(argc, argv, opts, NULL, 0, &n_pos, &cmd_trial);
    if (rc)
        return rc < 0 ? 0 : rc;
    char *text = cli_read_stream(stdin);
    if (!text)
        return cli_error("trial", "cannot read the request");
    json_error_t je;
    json_t *req = json_loads(text, 0, &je);
    free(text);
    if (!json_is_object(req)) {
        json_decref(req);
        return cli_error("trial", "request: expected a JSON object (line %d: %s)", je.line,
                         je.text);
    }
    const char *dir = json_string_value(json_object_get(req, "dataset"));
    const char *name = json_string_value(json_object_get(req, "model"));
    const char *fit_splits = json_string_value(json_object_get(req, "fit_splits"));
    const char *target = json_string_value(json_object_get(req, "target"));
    json_t *params = json_object_get(req, "params"), *ks = json_object_get(req, "k");
    json_t *spec = json_object_get(req, "spec");
    ar_dataset *ds = NULL;
    ar_model *m = NULL;
    json_t *traffic = json_pack("{s:o,s:o}", "stored", json_object(), "loaded", json_array());
    ar_csr *hist = NULL;
    ar_ranker rk = {0};
    ar_error err;
    ar_status st;
    rc = CLI_FAIL;
    ar_fit_options fo = ar_fit_options_default();
    ar_eval_options eo = ar_eval_options_default();
    if (!dir || (!name) == (!spec) || (spec && params)) {
        cli_error("trial", "request: \"dataset\" and either \"model\" (with \"params\") or "
                           "\"spec\" are required");
        goto done;
    }
    if (fit_splits && !(fo.train_mask = cli_parse_splits(fit_splits))) {
        cli_error("trial", "request.fit_splits: expected splits like \"train\" or \"train,valid\"");
        goto done;
    }
    eo.target_mask = target && strcmp(target, "test") == 0 ? AR_MASK_TEST : AR_MASK_VALID;
    if (target && strcmp(target, "test") != 0 && strcmp(target, "valid") != 0) {
        cli_error("trial", "request.target: expected \"valid\" or \"test\"");
        goto done;
    }
    eo.exclude_mask = fo.train_mask & ~eo.target_mask;
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = 20;
    if (ks) {
        eo.n_cutoffs = 0;
        for (size_t i = 0; json_is_array(ks) && i < json_array_size(ks) && i < AR_EVAL_MAX_CUTOFFS;
             i++)
            eo.cutoffs[eo.n_cutoffs++] = (int32_t)json_integer_value(json_array_get(ks, i));
    }
    json_t *v;
    if ((v = json_object_get(req, "user_fraction")))
        eo.user_fraction = json_number_value(v);
    if ((v = json_object_get(req, "seed")))
        eo.seed = fo.seed = (uint64_t)json_integer_value(v);
    if ((v = json_object_get(req, "threads")))
        eo.n_threads = fo.n_threads = (int)json_integer_value(v);
    ar_fit_cache fc = {0};
    json_t *cache = json_object_get(req, "cache");
    if (cache) {
        fc.dir = json_string_value(json_object_get(cache, "dir"));
        fc.min_seconds = json_number_value(json_object_get(cache, "min_seconds"));
        fc.max_bytes = (uint64_t)json_integer_value(json_object_get(cache, "max_bytes"));
        fc.stored = note_stored;
        fc.loaded = note_loaded;
        fc.data = traffic;
        fo.cache = &fc;
        if (!fc.dir || !(fc.min_seconds >= 0)) {
            cli_error("trial", "request.cache: expected {\"dir\": a directory, "
                               "\"min_seconds\": >= 0, \"max_bytes\": bytes}");
            goto done;
        }
    }
    const char *bad = ar_eval_options_check(&eo);
    if (bad) {
        cli_error("trial", "request: %s", bad);
        goto done;
    }
    if (spec) {
        char *sj = json_dumps(spec, JSON_COMPACT);
        if (sj && ar_model_create_spec(sj, &m, &err))
            cli_error("trial", "request.%s", err.msg); /* "request.spec.blend[0]...: ..." */
        else if (!sj)
            cli_error("trial", "out of memory");
        free(sj);
        if (m)
            name = ar_model_name(m);
    } else {
        char *pj = params ? json_dumps(params, JSON_COMPACT) : NULL;
        m = cli_model("trial", name, NULL, pj);
        free(pj);
    }
    if (!m || !(ds = cli_load("trial", dir)))
        goto done;
    double t0 = cli_now();
    if ((st = ar_model_fit(m, ds, &fo, &err))) {
        cli_error("trial", "%s", err.msg);
        rc = fail_status(st);
        goto done;
    }
    double fit_s = cli_now() - t0;
    /* A blend learns its weights, a stack its meta-model, on the validation split (a seeded
     * sample of its users). */
    if (json_is_true(json_object_get(req, "learn_weights")) && spec &&
        (json_object_get(spec, "blend") || json_object_get(spec, "stack")) &&
        (eo.target_mask & AR_MASK_VALID)) {
        ar_blend_learn_result lr;
        if ((st = cli_learn_weights("trial", m, ds, fo.train_mask, fo.seed, fo.n_threads, &lr))) {
            rc = fail_status(st);
            goto done;
        }
    }
    ar_eval_result r;
    if ((st = ar_dataset_csr(ds, fo.train_mask, 0, &hist)) ||
        (st = ar_model_ranker(m, hist, &rk)) || (st = ar_evaluate(ds, &rk, &eo, &r, &err))) {
        cli_error("trial", "%s", st == AR_ENOMEM ? "out of memory" : err.msg);
        rc = fail_status(st);
        goto done;
    }
    json_t *metrics = json_object();
    int finite = 1;
    for (int k = 0; k < AR_METRIC_N; k++)
        for (int c = 0; c < r.n_cutoffs; c++) {
            char key[64];
            snprintf(key, sizeof key, "%s@%d", ar_metric_name((ar_metric)k), r.cutoffs[c]);
            finite &= isfinite(r.value[k][c]) != 0;
            json_object_set_new(metrics, key,
                                isfinite(r.value[k][c]) ? json_real(r.value[k][c]) : json_null());
        }
    char *pout = ar_model_params_json(m);
    json_t *po = pout ? json_loads(pout, 0, &je) : NULL;
    ar_free_array(pout);
    char *sout = ar_model_spec_json(m);
    json_t *so = sout ? json_loads(sout, 0, &je) : NULL;
    ar_free_array(sout);
    cli_print_json(json_pack(
        "{s:s,s:o,s:o,s:i,s:o,s:f,s:f,s:f,s:i,s:O,s:O}", "model", name, "params",
        po ? po : json_null(), "spec", so ? so : json_null(), "users", (int)r.users, "metrics",
        metrics, "fit_seconds", fit_s, "eval_seconds", cli_now() - t0 - fit_s, "peak_rss_mb",
        cli_peak_rss_mb(), "cache_hits", fc.hits, "cache_stored",
        json_object_get(traffic, "stored"), "cache_loaded", json_object_get(traffic, "loaded")));
    if (!finite) {
        fprintf(stderr, "agentrec trial: a metric is not finite\n");
        rc = AR_TRIAL_EXIT_NAN;
        goto done;
    }
    rc = 0;
done:
    if (m)
        ar_model_ranker_free(&rk);
    ar_csr_free(hist);
    ar_model_free(m);
    ar_dataset_free(ds);
    json_decref(traffic);
    json_decref(req);
    return rc;
}
