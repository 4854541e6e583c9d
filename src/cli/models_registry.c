#define _POSIX_C_SOURCE 200809L
/*
 * models_registry.c -- `agentrec models`: the ledger's model registry (versions, stages,
 * aliases) and, with --history, each version's stage changes.
 */
#include "cli/ledger_common.h"

#include <stdio.h>

static int run(int argc, char **argv);

const cli_cmd cmd_models = {
    "models", "the model registry: versions, stages, aliases",
    "usage: agentrec models [NAME] [--history] [--ledger URL] [--json]\n"
    "\n"
    "Lists the registered versions of every model (or of NAME): version, the run that made it,\n"
    "its stage (candidate, shadow, canary, production, archived) and alias. --history lists\n"
    "the stage changes instead, oldest first, with their reasons. --json prints an array of\n"
    "objects. --ledger defaults to " AR_LEDGER_DEFAULT_URL ".\n",
    run};

static int run(int argc, char **argv) {
    bool json = false, history = false;
    const char *url = NULL;
    const cli_opt opts[] = {{"json", OPT_FLAG, &json},
                            {"ledger", OPT_STR, &url},
                            {"history", OPT_FLAG, &history},
                            {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_models);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *name = n_pos ? pos[0] : NULL;
    ar_ledger *l = cli_ledger_open("models", url, 0);
    if (!l)
        return CLI_FAIL;
    if (history) {
        ar_stage_list *sl;
        if (ar_ledger_stage_history(l, name, &sl)) {
            rc = cli_error("models", "%s", ar_ledger_errmsg(l));
            ar_ledger_free(l);
            return rc;
        }
        if (json) {
            json_t *a = json_array();
            for (size_t k = 0; k < sl->n; k++)
                json_array_append_new(a, json_pack("{s:s,s:i,s:s,s:s,s:f}", "name", sl->v[k].name,
                                                   "version", (int)sl->v[k].version, "stage",
                                                   ar_stage_name(sl->v[k].stage), "reason",
                                                   sl->v[k].reason, "at", sl->v[k].at));
            cli_print_json(a);
        } else {
            /* 16 + 1 + 16 + 1 + 4 + 1 + 10 + 1 + 30 = 80 */
            printf("%-16s %-16s %4s %-10s %s\n", "TIME (UTC)", "MODEL", "VER", "STAGE", "REASON");
            for (size_t k = 0; k < sl->n; k++) {
                char t[32], nb[20], rb[36];
                cli_fmt_time(sl->v[k].at, t, sizeof t);
                printf("%-16s %-16s %4d %-10s %s\n", t, cli_fit(sl->v[k].name, 16, nb, sizeof nb),
                       (int)sl->v[k].version, ar_stage_name(sl->v[k].stage),
                       cli_fit(sl->v[k].reason, 30, rb, sizeof rb));
            }
        }
        ar_stage_list_free(sl);
        ar_ledger_free(l);
        return 0;
    }
    ar_model_list *ml;
    if (ar_ledger_models(l, name, &ml)) {
        rc = cli_error("models", "%s", ar_ledger_errmsg(l));
        ar_ledger_free(l);
        return rc;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t k = 0; k < ml->n; k++) {
            const ar_model_version *m = &ml->v[k];
            json_array_append_new(
                a,
                json_pack("{s:s,s:i,s:I,s:s,s:o,s:f}", "name", m->name, "version", (int)m->version,
                          "run", (json_int_t)m->run, "stage", ar_stage_name(m->stage), "alias",
                          m->alias ? json_string(m->alias) : json_null(), "created", m->created));
        }
        cli_print_json(a);
    } else {
        /* 24 + 1 + 4 + 1 + 7 + 1 + 10 + 1 + 14 + 1 + 16 = 80 */
        printf("%-24s %4s %7s %-10s %-14s %s\n", "MODEL", "VER", "RUN", "STAGE", "ALIAS",
               "CREATED (UTC)");
        for (size_t k = 0; k < ml->n; k++) {
            const ar_model_version *m = &ml->v[k];
            char t[32], nb[28], ab[20];
            cli_fmt_time(m->created, t, sizeof t);
            printf("%-24s %4d %7lld %-10s %-14s %s\n", cli_fit(m->name, 24, nb, sizeof nb),
                   (int)m->version, (long long)m->run, ar_stage_name(m->stage),
                   cli_fit(m->alias ? m->alias : "-", 14, ab, sizeof ab), t);
        }
    }
    ar_model_list_free(ml);
    ar_ledger_free(l);
    return 0;
}
