#define _POSIX_C_SOURCE 200809L
/*
 * eval.c -- `agentrec eval DIR`: fit a model of the zoo on the training split (or load a saved
 * one) or read a file of ranked lists, and score it with the offline evaluator.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_eval = {
    "eval", "evaluate a model or a ranked-list file on DIR",
    "usage: agentrec eval DIR (--model NAME | --spec S | --model-file M | --ranked FILE) "
    "[options]\n"
    "\n"
    "  --model NAME          fit NAME on the train split and evaluate it (agentrec train --list)\n"
    "  --param key=value     a hyperparameter of NAME (repeatable); --params JSON for many\n"
    "  --spec FILE|JSON      fit a model spec (docs/spec.md) and evaluate it\n"
    "  --learn-weights       with --spec: learn the root blend's weights (or the root stack's\n"
    "                        meta-model) on the valid split after fitting (then evaluate\n"
    "                        --target as usual)\n"
    "  --spec-out FILE       with --spec: write the spec (learned weights included) to FILE\n"
    "  --splits LIST         with --model/--spec: fit on these splits (default train), which\n"
    "                        are also the histories excluded from the ranking\n"
    "  --model-file M        evaluate a model saved by 'agentrec train'\n"
    "  --events LIST         with --model: fit on these events and weights (see train --help)\n"
    "  --ranked FILE         evaluate lists 'user<TAB>item item ...' (external ids, best first)\n"
    "  --k LIST              cutoffs, e.g. 20 or 10,20,50 (default 20)\n"
    "  --metrics LIST        recall,ndcg,hr,precision,mrr,map,coverage,novelty,gini\n"
    "                        (default all)\n"
    "  --protocol P          full (default): rank all items except the user's training items;\n"
    "                        sampled: rank the held-out items among negatives\n"
    "  --negatives N         sampled protocol: N uniform negatives per user (default 100)\n"
    "  --negatives-file F    sampled protocol: given negatives, lines 'user neg neg ...'\n"
    "  --target SPLIT        test (default) or valid: the ground truth\n"
    "  --seed S, --threads N the result does not depend on the thread count\n"
    "  --user-fraction F     evaluate a fixed, seeded subset of the users (cheap estimate)\n"
    "  --json                one JSON object: users, recall@20, ndcg@20, ... (metric@k keys),\n"
    "                        fit_seconds and peak_rss_mb\n"
    "\n"
    "Definitions: docs/metrics.md (they match RecBole and LightGCN).\n",
    run};

static int run(int argc, char **argv) {
    const char *events = NULL, *spec = NULL, *spec_out = NULL, *splits = "train";
    bool learn = false;
    const char *model = NULL, *model_file = NULL, *params_json = NULL, *ranked = NULL, *ks = "20",
               *metrics = NULL, *protocol = "full", *negfile = NULL, *target = "test";
    bool json = false;
    int negatives = 100;
    cli_list params = {0};
    ar_eval_options o = ar_eval_options_default();
    o.seed = ar_fit_options_default().seed; /* one --seed for the fit and the evaluation */
    const cli_opt opts[] = {
        {"model", OPT_STR, &model},
        {"model-file", OPT_STR, &model_file},
        {"param", OPT_LIST, &params},
        {"params", OPT_STR, &params_json},
        {"ranked", OPT_STR, &ranked},
        {"k", OPT_STR, &ks},
        {"metrics", OPT_STR, &metrics},
        {"protocol", OPT_STR, &protocol},
        {"negatives", OPT_INT, &negatives},
        {"negatives-file", OPT_STR, &negfile},
        {"target", OPT_STR, &target},
        {"seed", OPT_U64, &o.seed},
        {"events", OPT_STR, &events},
        {"user-fraction", OPT_DOUBLE, &o.user_fraction},
        {"threads", OPT_INT, &o.n_threads},
        {"json", OPT_FLAG, &json},
        {"spec", OPT_STR, &spec},
        {"spec-out", OPT_STR, &spec_out},
        {"splits", OPT_STR, &splits},
        {"learn-weights", OPT_FLAG, &learn},
        {NULL, OPT_FLAG, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_eval);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1 ||
        (model != NULL) + (spec != NULL) + (model_file != NULL) + (ranked != NULL) != 1 ||
        ((learn || spec_out) && !spec)) {
        fprintf(stderr, "agentrec eval: expected DIR and one of --model, --spec, --model-file or "
                        "--ranked (see --help)\n");
        return CLI_USAGE;
    }
    unsigned fit_mask = cli_parse_splits(splits);
    if (!fit_mask) {
        fprintf(stderr, "agentrec eval: --splits takes train, valid, test separated by commas\n");
        return CLI_USAGE;
    }
    if (!cli_parse_cutoffs(ks, o.cutoffs, &o.n_cutoffs, AR_EVAL_MAX_CUTOFFS)) {
        fprintf(stderr, "agentrec eval: --k expects ascending positive integers like 10,20,50\n");
        return CLI_USAGE;
    }
    bool want[AR_METRIC_N];
    for (int m = 0; m < AR_METRIC_N; m++)
        want[m] = metrics == NULL;
    if (metrics) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", metrics);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int m = ar_metric_parse(t);
            if (m < 0) {
                fprintf(stderr, "agentrec eval: unknown metric '%s'\n", t);
                return CLI_USAGE;
            }
            want[m] = true;
        }
    }
    if (strcmp(protocol, "full") == 0)
        o.protocol = AR_PROTOCOL_FULL;
    else if (strcmp(protocol, "sampled") == 0)
        o.protocol = AR_PROTOCOL_SAMPLED;
    else {
        fprintf(stderr, "agentrec eval: unknown protocol '%s' (full, sampled)\n", protocol);
        return CLI_USAGE;
    }
    if (strcmp(target, "test") == 0)
        o.target_mask = AR_MASK_TEST;
    else if (strcmp(target, "valid") == 0)
        o.target_mask = AR_MASK_VALID;
    else {
        fprintf(stderr, "agentrec eval: --target is test or valid\n");
        return CLI_USAGE;
    }
    o.n_negatives = negatives;

    ar_dataset *ds = cli_load("eval", pos[0]);
    if (!ds)
        return CLI_FAIL;
    ar_error err;
    ar_model *mdl = NULL;
    float *ew = NULL;
    ar_csr *train = NULL;
    double fit_s = 0;
    ar_ranked_lists *rl = NULL;
    int32_t *neg = NULL;
    ar_ranker ranker = {0};
    ar_status st = AR_OK;
    ar_blend_learn_result learned;
    rc = CLI_FAIL;
    if (negfile && o.protocol == AR_PROTOCOL_SAMPLED) {
        int32_t width;
        if ((st = ar_negatives_read(ds, negfile, &width, &neg, &err))) {
            cli_error("eval", "%s", err.msg);
            goto done;
        }
        o.negatives = neg;
        o.n_negatives = width;
    }
    if (model || spec || model_file) {
        if (model || spec) {
            if (!(mdl = spec ? cli_spec_model("eval", spec)
                             : cli_model("eval", model, &params, params_json)))
                goto done;
            if (!model)
                model = ar_model_name(mdl);
            ar_fit_options fo = ar_fit_options_default();
            fo.train_mask = fit_mask;
            if (events && cli_event_weights("eval", ds, events, &ew, &fo.n_event_weights))
                goto done;
            fo.event_weights = ew;
            fo.n_threads = o.n_threads;
            fo.seed = o.seed;
            ar_progress *fp = cli_progress(model);
            fo.progress = ar_progress_update;
            fo.progress_data = fp;
            double t0 = cli_now();
            st = ar_model_fit(mdl, ds, &fo, &err);
            fit_s = cli_now() - t0;
            ar_progress_free(fp);
            if (!st && learn &&
                (st = cli_learn_weights("eval", mdl, ds, fit_mask, o.seed, o.n_threads, &learned)))
                goto done;
            if (!st && spec_out) {
                char *sj = ar_model_spec_json(mdl);
                int bad_write = !sj || cli_write_text("eval", spec_out, sj);
                ar_free_array(sj);
                if (bad_write)
                    goto done;
            }
        } else if (!(st = ar_model_load(model_file, &mdl, &err))) {
            st = ar_model_check_dataset(mdl, ds, &err);
        }
        if (st) {
            cli_error("eval", "%s", err.msg);
            goto done;
        }
        if (model_file)
            fit_mask = AR_MASK_TRAIN;
        o.exclude_mask = fit_mask;
        if ((st = ar_dataset_csr(ds, fit_mask, 0, &train)) ||
            (st = ar_model_ranker(mdl, train, &ranker))) {
            cli_error("eval", "cannot build the ranker: %s", ar_strerror(st));
            goto done;
        }
    } else {
        if ((st = ar_ranked_lists_read(ds, ranked, &rl, &err))) {
            cli_error("eval", "%s", err.msg);
            goto done;
        }
        ranker = ar_ranked_lists_ranker(rl);
    }
    const char *bad = ar_eval_options_check(&o);
    if (bad) {
        cli_error("eval", "%s", bad);
        goto done;
    }
    ar_progress *p = cli_progress("eval");
    o.progress = ar_progress_update;
    o.progress_data = p;
    ar_eval_result r;
    st = ar_evaluate(ds, &ranker, &o, &r, &err);
    ar_progress_free(p);
    if (st) {
        cli_error("eval", "%s", err.msg);
        goto done;
    }
    if (json) {
        json_t *j = json_pack("{s:s,s:s,s:i,s:f,s:f}", "model", mdl ? ar_model_name(mdl) : "ranked",
                              "protocol", protocol, "users", (int)r.users, "fit_seconds", fit_s,
                              "peak_rss_mb", cli_peak_rss_mb());
        if (mdl) {
            char *pj = ar_model_params_json(mdl);
            json_error_t je;
            json_object_set_new(j, "params", pj ? json_loads(pj, 0, &je) : json_null());
            ar_free_array(pj);
            char *sj = ar_model_spec_json(mdl);
            json_object_set_new(j, "spec", sj ? json_loads(sj, 0, &je) : json_null());
            ar_free_array(sj);
            if (learn)
                json_object_set_new(j, "learned", cli_learn_json(&learned));
        }
        for (int m = 0; m < AR_METRIC_N; m++) {
            if (!want[m])
                continue;
            for (int c = 0; c < r.n_cutoffs; c++) {
                char key[64];
                snprintf(key, sizeof key, "%s@%d", ar_metric_name((ar_metric)m), r.cutoffs[c]);
                json_object_set_new(j, key, json_real(r.value[m][c]));
            }
        }
        cli_print_json(j);
    } else {
        printf("%s, %s protocol, %d users", mdl ? ar_model_name(mdl) : ranked, protocol, r.users);
        if (model)
            printf(", fit %.2f s", fit_s);
        printf("\n");
        printf("%-10s", "metric");
        for (int c = 0; c < r.n_cutoffs; c++)
            printf("  @%-8d", r.cutoffs[c]);
        printf("\n");
        for (int m = 0; m < AR_METRIC_N; m++) {
            if (!want[m])
                continue;
            printf("%-10s", ar_metric_name((ar_metric)m));
            for (int c = 0; c < r.n_cutoffs; c++)
                printf("  %-9.4f", r.value[m][c]);
            printf("\n");
        }
    }
    rc = 0;
done:
    if (mdl)
        ar_model_ranker_free(&ranker);
    ar_model_free(mdl);
    free(ew);
    ar_csr_free(train);
    ar_ranked_lists_free(rl);
    ar_free_array(neg);
    ar_dataset_free(ds);
    return rc;
}
