#define _POSIX_C_SOURCE 200809L
/*
 * agents_cmd.c -- `agentrec agents`: the registered agents and the evidence of their promotion.
 */
#include "cli/ledger_common.h"

#include <stdio.h>

static int run(int argc, char **argv);

const cli_cmd cmd_agents = {
    "agents", "the registered agents and the evidence that made them agents",
    "usage: agentrec agents [--ledger URL] [--json]\n"
    "\n"
    "Lists every agent registered in the ledger: name, kind, runs, and whether its promotion\n"
    "checks passed -- (1) closed loop (perceive/decide/execute/feedback present and decide\n"
    "proposes), (2) independently evaluable (the same candidate and seed score the same twice),\n"
    "(3) evolvable (a non-empty decision space) -- with the evidence recorded at registration.\n"
    "--json prints an array of objects. --ledger defaults to " AR_LEDGER_DEFAULT_URL ".\n",
    run};

static json_t *parse_or_string(const char *s) {
    json_t *j = s && *s ? json_loads(s, 0, NULL) : NULL;
    return j ? j : json_string(s ? s : "");
}

static int run(int argc, char **argv) {
    bool as_json = false;
    const char *url = NULL;
    const cli_opt opts[] = {
        {"json", OPT_FLAG, &as_json}, {"ledger", OPT_STR, &url}, {NULL, OPT_FLAG, NULL}};
    int n_pos, rc = cli_parse(argc, argv, opts, NULL, 0, &n_pos, &cmd_agents);
    if (rc)
        return rc < 0 ? 0 : rc;
    ar_ledger *l = cli_ledger_open("agents", url, 0);
    if (!l)
        return CLI_FAIL;
    ar_agent_list *al;
    if (ar_ledger_agents(l, &al)) {
        rc = cli_error("agents", "%s", ar_ledger_errmsg(l));
        ar_ledger_free(l);
        return rc;
    }
    if (as_json) {
        json_t *a = json_array();
        for (size_t k = 0; k < al->n; k++) {
            const ar_agent_row *r = &al->v[k];
            json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:o,s:o,s:f}", "name", r->name, "kind",
                                               r->kind, "runs", (json_int_t)r->runs,
                                               "decision_space", parse_or_string(r->decision_space),
                                               "promotion", parse_or_string(r->promotion_evidence),
                                               "created", r->created));
        }
        cli_print_json(a);
    } else {
        printf("%-16s %-14s %6s  %-8s %s\n", "AGENT", "KIND", "RUNS", "PROMOTED", "EVIDENCE");
        for (size_t k = 0; k < al->n; k++) {
            const ar_agent_row *r = &al->v[k];
            json_t *ev = json_loads(r->promotion_evidence, 0, NULL);
            char nb[20], kb[20];
            printf("%-16s %-14s %6lld  %-8s", cli_fit(r->name, 16, nb, sizeof nb),
                   cli_fit(r->kind, 14, kb, sizeof kb), (long long)r->runs,
                   !ev                                             ? "-"
                   : json_is_true(json_object_get(ev, "promoted")) ? "yes"
                                                                   : "NO");
            static const char *const crit[] = {"closed_loop", "independently_evaluable",
                                               "evolvable"};
            for (int c = 0; ev && c < 3; c++)
                printf(" %s=%s", crit[c],
                       json_is_true(json_object_get(json_object_get(ev, crit[c]), "pass"))
                           ? "pass"
                           : "FAIL");
            printf("\n");
            json_decref(ev);
        }
    }
    ar_agent_list_free(al);
    ar_ledger_free(l);
    return 0;
}
