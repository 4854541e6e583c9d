#define _POSIX_C_SOURCE 200809L
/*
 * decisions.c -- `agentrec decisions`: the ledger's decisions (adopt, reject, rollback, promote,
 * hold) with who made them and why, oldest first.
 */
#include "cli/ledger_common.h"

#include <stdio.h>

static int run(int argc, char **argv);

const cli_cmd cmd_decisions = {
    "decisions", "the decisions recorded in the ledger, and why",
    "usage: agentrec decisions [--run ID] [--limit N] [--ledger URL] [--json]\n"
    "\n"
    "Lists decisions oldest first (with --limit: the newest N): time, run, action (adopt,\n"
    "reject, rollback, promote, hold), who decided (agent, orchestrator or a person) and the\n"
    "rationale. --json prints an array of objects that also carry the ids of the metric\n"
    "points cited as evidence. --ledger defaults to " AR_LEDGER_DEFAULT_URL ".\n",
    run};

static int run(int argc, char **argv) {
    bool json = false;
    const char *url = NULL;
    int run_id = 0, limit = 0;
    const cli_opt opts[] = {{"json", OPT_FLAG, &json},
                            {"ledger", OPT_STR, &url},
                            {"run", OPT_INT, &run_id},
                            {"limit", OPT_INT, &limit},
                            {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 0, &n_pos, &cmd_decisions);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (run_id < 0 || limit < 0) {
        fprintf(stderr, "agentrec decisions: --run and --limit must be positive\n");
        return CLI_USAGE;
    }
    ar_ledger *l = cli_ledger_open("decisions", url, 0);
    if (!l)
        return CLI_FAIL;
    ar_decision_list *dl;
    if (ar_ledger_decisions(l, run_id, limit, &dl)) {
        rc = cli_error("decisions", "%s", ar_ledger_errmsg(l));
        ar_ledger_free(l);
        return rc;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t k = 0; k < dl->n; k++) {
            const ar_decision *d = &dl->v[k];
            json_t *ev = json_array();
            for (size_t e = 0; e < d->n_evidence; e++)
                json_array_append_new(ev, json_integer(d->evidence[e]));
            json_array_append_new(
                a, json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:f,s:o}", "id", (json_int_t)d->id, "run",
                             d->run ? json_integer(d->run) : json_null(), "action",
                             ar_action_name(d->action), "rationale", d->rationale, "decider",
                             ar_decider_name(d->decider), "decided_by", d->decided_by, "at", d->at,
                             "evidence", ev));
        }
        cli_print_json(a);
    } else {
        /* 16 + 1 + 6 + 1 + 8 + 1 + 12 + 1 + 34 = 80 */
        printf("%-16s %6s %-8s %-12s %s\n", "TIME (UTC)", "RUN", "ACTION", "BY", "RATIONALE");
        for (size_t k = 0; k < dl->n; k++) {
            const ar_decision *d = &dl->v[k];
            char t[32], r[24] = "-", by[16], why[40];
            cli_fmt_time(d->at, t, sizeof t);
            if (d->run)
                snprintf(r, sizeof r, "%lld", (long long)d->run);
            printf("%-16s %6s %-8s %-12s %s\n", t, r, ar_action_name(d->action),
                   cli_fit(d->decided_by[0] ? d->decided_by : ar_decider_name(d->decider), 12, by,
                           sizeof by),
                   cli_fit(d->rationale, 34, why, sizeof why));
        }
    }
    ar_decision_list_free(dl);
    ar_ledger_free(l);
    return 0;
}
