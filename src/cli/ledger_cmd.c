#define _POSIX_C_SOURCE 200809L
/*
 * ledger_cmd.c -- `agentrec ledger init|check|example`: create or migrate a ledger, check its
 * integrity (and mark runs of dead processes interrupted), or fill it with a small example
 * search history so that the runs/decisions/models/report commands can be tried.
 */
#include "cli/ledger_common.h"

#include <stdio.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_ledger = {
    "ledger", "create, check or fill a knowledge ledger",
    "usage: agentrec ledger init|check|example [--ledger URL] [--json]\n"
    "\n"
    "init     creates the ledger (or migrates it to this version's schema)\n"
    "check    integrity check; also marks runs left 'running' by dead processes as\n"
    "         'interrupted'. Exits 1 when the ledger is damaged.\n"
    "example  adds an example model search: 10 runs in a lineage tree with metrics, adopt/\n"
    "         reject decisions, a registered model going through its stages, an A/B\n"
    "         experiment and a guardrail event.\n"
    "URLs: sqlite:///path/to/file.db (default " AR_LEDGER_DEFAULT_URL "),\n"
    "      postgres://user@host:port/db or any libpq URI.\n",
    run};

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if (call)                                                                                  \
            return cli_error("ledger", "%s", ar_ledger_errmsg(l));                                 \
    } while (0)

static int example(ar_ledger *l, int64_t *first_run) {
    ar_ledger_agent search = {"search", "model-search",
                              "{\"model\":[\"mostpop\",\"als\",\"ease\"]}",
                              "recall@20 on valid beats the champion by 1%"};
    ar_ledger_agent orch = {"orchestrator", "orchestrator", NULL,
                            "outer revenue in a canary beats production"};
    TRY(ar_ledger_agent_put(l, &search, NULL));
    TRY(ar_ledger_agent_put(l, &orch, NULL));
    static const int parent_of[10] = {-1, 0, 1, 1, 2, 4, 3, 5, 5, 7};
    static const char *configs[10] = {"{\"model\":\"mostpop\"}",
                                      "{\"model\":\"als\",\"dim\":32,\"reg\":0.1}",
                                      "{\"model\":\"als\",\"dim\":64,\"reg\":0.1}",
                                      "{\"model\":\"als\",\"dim\":32,\"reg\":0.01}",
                                      "{\"model\":\"als\",\"dim\":128,\"reg\":0.1}",
                                      "{\"model\":\"ease\",\"lambda\":250}",
                                      "{\"model\":\"als\",\"dim\":32,\"reg\":0.001}",
                                      "{\"model\":\"ease\",\"lambda\":500}",
                                      "{\"model\":\"ease\",\"lambda\":100}",
                                      "{\"model\":\"ease\",\"lambda\":400}"};
    static const double recall[10] = {0.081, 0.142, 0.155, 0.138, 0.149,
                                      0.171, 0.131, 0.176, 0.168, 0.179};
    ar_fingerprint fp = {943, 1682, 100000, 0.063, 0.62, 106.0};
    int64_t ids[10];
    double best = 0;
    for (int r = 0; r < 10; r++) {
        ar_run_spec sp = ar_run_spec_default();
        sp.agent = "search";
        sp.parent = parent_of[r] >= 0 ? ids[parent_of[r]] : 0;
        sp.config = configs[r];
        sp.dataset = "ml-100k";
        sp.dataset_fp = fp;
        sp.code_version = AR_VERSION_STRING;
        sp.seed = 42;
        TRY(ar_ledger_run_begin(l, &sp, &ids[r]));
        TRY(ar_ledger_log_param(l, ids[r], "split", "loo"));
        ar_metric_point hist[6];
        for (int s = 0; s < 5; s++)
            hist[s] =
                (ar_metric_point){"loss", 1.0 / (s + 1) + 0.1 * r / 10, s, AR_SCOPE_INNER, "train"};
        hist[5] = (ar_metric_point){"ndcg@20", recall[r] * 0.55, 0, AR_SCOPE_INNER, "valid"};
        TRY(ar_ledger_log_metrics(l, ids[r], hist, 6));
        ar_metric_point rec = {"recall@20", recall[r], 0, AR_SCOPE_INNER, "valid"};
        ar_metric_point rev = {"revenue", 1000 + 4000 * recall[r], 0, AR_SCOPE_OUTER, "sim"};
        int64_t rec_id, rev_id;
        TRY(ar_ledger_log_metric(l, ids[r], &rec, &rec_id));
        TRY(ar_ledger_log_metric(l, ids[r], &rev, &rev_id));
        TRY(ar_ledger_run_finish(l, ids[r], AR_RUN_FINISHED, 2.0 + r, (int64_t)(64 + r) << 20));
        int64_t ev[2] = {rec_id, rev_id};
        char why[160];
        int better = recall[r] > best * 1.01;
        if (better)
            snprintf(why, sizeof why, "recall@20 %.3f beats the best so far (%.3f)", recall[r],
                     best);
        else
            snprintf(why, sizeof why, "recall@20 %.3f does not beat %.3f by 1%%", recall[r], best);
        ar_decision_spec d = {
            ids[r],  better ? AR_ACTION_ADOPT : AR_ACTION_REJECT, why, ev, 2, AR_DECIDER_AGENT,
            "search"};
        TRY(ar_ledger_log_decision(l, &d, NULL));
        if (better)
            best = recall[r];
    }
    int32_t v1, v2, v3;
    TRY(ar_ledger_model_register(l, "ranker", ids[0], &v1));
    TRY(ar_ledger_model_stage(l, "ranker", v1, AR_STAGE_PRODUCTION, "the first baseline"));
    TRY(ar_ledger_model_register(l, "ranker", ids[5], &v2));
    TRY(ar_ledger_model_stage(l, "ranker", v2, AR_STAGE_SHADOW, "offline winner"));
    TRY(ar_ledger_model_stage(l, "ranker", v2, AR_STAGE_CANARY, "shadow metrics agree"));
    int64_t exp_id;
    ar_experiment_spec e = {"canary ranker v2", "[{\"name\":\"v1\"},{\"name\":\"v2\"}]",
                            "{\"v1\":0.95,\"v2\":0.05}"};
    TRY(ar_ledger_experiment_begin(l, &e, &exp_id));
    TRY(ar_ledger_experiment_end(l, exp_id, "{\"winner\":\"v2\",\"revenue_lift\":0.034}"));
    TRY(ar_ledger_model_stage(l, "ranker", v2, AR_STAGE_PRODUCTION, "canary +3.4% revenue"));
    TRY(ar_ledger_model_alias(l, "ranker", v2, "champion"));
    ar_decision_spec promote = {ids[5],
                                AR_ACTION_PROMOTE,
                                "canary beat production on revenue for 7 days",
                                NULL,
                                0,
                                AR_DECIDER_ORCHESTRATOR,
                                "orchestrator"};
    TRY(ar_ledger_log_decision(l, &promote, NULL));
    TRY(ar_ledger_model_register(l, "ranker", ids[9], &v3));
    TRY(ar_ledger_model_stage(l, "ranker", v3, AR_STAGE_CANARY, "best offline recall"));
    ar_guardrail_event g = {
        ids[9], 0, "p99_latency_ms", 240, 150, "rollback", "EASE scoring too slow at peak"};
    TRY(ar_ledger_log_guardrail(l, &g, NULL));
    TRY(ar_ledger_model_stage(l, "ranker", v3, AR_STAGE_ARCHIVED, "guardrail: p99 latency"));
    ar_decision_spec rollback = {ids[9],
                                 AR_ACTION_ROLLBACK,
                                 "p99 latency 240 ms over the 150 ms guardrail",
                                 NULL,
                                 0,
                                 AR_DECIDER_ORCHESTRATOR,
                                 "orchestrator"};
    TRY(ar_ledger_log_decision(l, &rollback, NULL));
    ar_decision_spec hold = {
        0, AR_ACTION_HOLD, "freeze before the holiday sale", NULL, 0, AR_DECIDER_PERSON, "ana"};
    TRY(ar_ledger_log_decision(l, &hold, NULL));
    *first_run = ids[0];
    return 0;
}

static int run(int argc, char **argv) {
    bool json = false;
    const char *url = NULL;
    const cli_opt opts[] = {
        {"json", OPT_FLAG, &json}, {"ledger", OPT_STR, &url}, {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_ledger);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1 ||
        (strcmp(pos[0], "init") && strcmp(pos[0], "check") && strcmp(pos[0], "example"))) {
        fprintf(stderr, "agentrec ledger: expected init, check or example (see --help)\n");
        return CLI_USAGE;
    }
    int check = strcmp(pos[0], "check") == 0;
    ar_ledger *l = cli_ledger_open("ledger", url, !check);
    if (!l)
        return CLI_FAIL;
    json_t *o =
        json_pack("{s:s,s:s,s:i,s:I}", "ledger", url ? url : AR_LEDGER_DEFAULT_URL, "backend",
                  ar_ledger_backend(l), "schema_version", ar_ledger_schema_version(l), "recovered",
                  (json_int_t)ar_ledger_recovered(l));
    if (check) {
        if (ar_ledger_check(l))
            rc = cli_error("ledger", "%s", ar_ledger_errmsg(l));
        json_object_set_new(o, "ok", json_boolean(rc == 0));
    } else if (strcmp(pos[0], "example") == 0) {
        int64_t first = 0;
        rc = example(l, &first);
        json_object_set_new(o, "first_run", json_integer(first));
    }
    if (rc == 0) {
        if (json) {
            json_t *a = json_array();
            json_array_append(a, o);
            cli_print_json(a);
        } else {
            printf("%s: %s ledger, schema %d", json_string_value(json_object_get(o, "ledger")),
                   ar_ledger_backend(l), ar_ledger_schema_version(l));
            if (ar_ledger_recovered(l))
                printf(", %lld interrupted runs recovered", (long long)ar_ledger_recovered(l));
            printf(check ? ", intact\n" : "\n");
        }
    }
    json_decref(o);
    ar_ledger_free(l);
    return rc;
}
