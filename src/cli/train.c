#define _POSIX_C_SOURCE 200809L
/*
 * train.c -- `agentrec train DIR --model NAME --out M`: fit a zoo model on DIR's training split
 * and save it; `--list` and `--space NAME` describe the zoo.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_train = {
    "train", "fit a model of the zoo on DIR and save it",
    "usage: agentrec train DIR --model NAME [--param key=value ...] --out MODEL_FILE\n"
    "       agentrec train DIR --spec FILE|JSON [--learn-weights] --out MODEL_FILE\n"
    "       agentrec train --list                 the models of the zoo\n"
    "       agentrec train --space NAME           a model's decision space as JSON\n"
    "\n"
    "  --param key=value     a hyperparameter (repeatable; see --space for names and ranges)\n"
    "  --params JSON         hyperparameters as one JSON object, e.g. '{\"k\": 100}'\n"
    "  --splits LIST         splits to learn from: train (default), or train,valid\n"
    "  --events LIST         learn from these events with these weights, e.g.\n"
    "                        click=1,cart=2,purchase=4 (others ignored; default: all, values)\n"
    "  --spec FILE|JSON      a model spec instead of --model (docs/spec.md)\n"
    "  --learn-weights       with --spec: learn the root blend's weights, or the root stack's\n"
    "                        meta-model, on the valid split (seeded sample of users) after\n"
    "                        fitting\n"
    "  --spec-out FILE       write the model's spec (learned weights included) to FILE\n"
    "  --threads N, --seed S results do not depend on the thread count (except Hogwild BPR)\n"
    "  --json                print {model, params, spec, fit_seconds, peak_rss_mb, out}\n"
    "The model file is written atomically and records the dataset's fingerprint, so\n"
    "'agentrec recommend' refuses to use it with another dataset.\n",
    run};

static int run(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *space = NULL, *params_json = NULL, *splits = "train",
               *events = NULL, *spec = NULL, *spec_out = NULL;
    bool list = false, json = false, learn = false;
    cli_list params = {0};
    ar_fit_options fo = ar_fit_options_default();
    const cli_opt opts[] = {
        {"model", OPT_STR, &model},
        {"param", OPT_LIST, &params},
        {"params", OPT_STR, &params_json},
        {"out", OPT_STR, &out},
        {"list", OPT_FLAG, &list},
        {"space", OPT_STR, &space},
        {"splits", OPT_STR, &splits},
        {"threads", OPT_INT, &fo.n_threads},
        {"seed", OPT_U64, &fo.seed},
        {"events", OPT_STR, &events},
        {"json", OPT_FLAG, &json},
        {"spec", OPT_STR, &spec},
        {"spec-out", OPT_STR, &spec_out},
        {"learn-weights", OPT_FLAG, &learn},
        {NULL, OPT_FLAG, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_train);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (list) {
        for (const char *const *n = ar_model_names(); *n; n++) {
            ar_model *m;
            if (ar_model_create(*n, &m) == AR_OK) {
                printf("%-10s %s\n", *n, ar_model_citation(m));
                ar_model_free(m);
            }
        }
        return 0;
    }
    if (space) {
        ar_model *m = cli_model("train", space, NULL, NULL);
        if (!m)
            return CLI_FAIL;
        char *s = ar_model_space_json(m);
        if (s)
            printf("%s\n", s);
        ar_free_array(s);
        ar_model_free(m);
        return s ? 0 : CLI_FAIL;
    }
    if (n_pos != 1 || (!model) == (!spec) || !out || (learn && !spec)) {
        fprintf(stderr,
                "agentrec train: expected DIR, --model or --spec, and --out (see --help)\n");
        return CLI_USAGE;
    }
    if (!(fo.train_mask = cli_parse_splits(splits))) {
        fprintf(stderr, "agentrec train: --splits takes train, valid, test separated by commas\n");
        return CLI_USAGE;
    }
    ar_model *m =
        spec ? cli_spec_model("train", spec) : cli_model("train", model, &params, params_json);
    if (!m)
        return CLI_FAIL;
    if (!model)
        model = ar_model_name(m);
    ar_dataset *ds = cli_load("train", pos[0]);
    if (!ds) {
        ar_model_free(m);
        return CLI_FAIL;
    }
    float *ew = NULL;
    if (events && cli_event_weights("train", ds, events, &ew, &fo.n_event_weights)) {
        ar_model_free(m);
        ar_dataset_free(ds);
        return CLI_FAIL;
    }
    fo.event_weights = ew;
    ar_progress *p = cli_progress(model);
    fo.progress = ar_progress_update;
    fo.progress_data = p;
    ar_error err;
    double t0 = cli_now();
    ar_status st = ar_model_fit(m, ds, &fo, &err);
    double fit_s = cli_now() - t0;
    ar_progress_free(p);
    ar_blend_learn_result lr;
    if (st)
        rc = cli_error("train", "%s", err.msg);
    else if (learn &&
             (st = cli_learn_weights("train", m, ds, fo.train_mask, fo.seed, fo.n_threads, &lr)))
        rc = CLI_FAIL;
    else if (ar_model_save(m, out, &err))
        rc = cli_error("train", "%s", err.msg);
    char *sj = rc ? NULL : ar_model_spec_json(m);
    if (sj && spec_out && cli_write_text("train", spec_out, sj))
        rc = CLI_FAIL;
    if (!rc) {
        char *pj = ar_model_params_json(m);
        if (json) {
            json_error_t je;
            json_t *o = json_pack("{s:s,s:o,s:o,s:f,s:f,s:s}", "model", model, "params",
                                  pj ? json_loads(pj, 0, &je) : json_null(), "spec",
                                  sj ? json_loads(sj, 0, &je) : json_null(), "fit_seconds", fit_s,
                                  "peak_rss_mb", cli_peak_rss_mb(), "out", out);
            if (learn)
                json_object_set_new(o, "learned", cli_learn_json(&lr));
            cli_print_json(o);
        } else {
            printf("trained %s %s in %.2f s (peak %.0f MiB) -> %s\n", model,
                   spec ? (sj ? sj : "") : (pj ? pj : ""), fit_s, cli_peak_rss_mb(), out);
        }
        ar_free_array(pj);
    }
    ar_free_array(sj);
    free(ew);
    ar_model_free(m);
    ar_dataset_free(ds);
    return rc;
}
