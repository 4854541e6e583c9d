#define _POSIX_C_SOURCE 200809L
/*
 * report.c -- `agentrec report --out report.html`: the ledger as one self-contained HTML page
 * with SVG charts (see ar_ledger_report in agentrec/ledger.h).
 */
#include "cli/ledger_common.h"

#include <stdio.h>

static int run(int argc, char **argv);

const cli_cmd cmd_report = {
    "report", "write an HTML report of the ledger",
    "usage: agentrec report --out FILE.html [--metric NAME] [--scope inner|outer]\n"
    "                       [--split S] [--min] [--title T] [--ledger URL] [--json]\n"
    "\n"
    "Writes one self-contained HTML file (no scripts, no network) with SVG charts: each metric\n"
    "over runs and time, the lineage tree of the champion (the production model's run, else\n"
    "the best run by --metric), the decision timeline with rationales, and the registry's\n"
    "stage history. The file is written atomically. --json prints [{\"out\": FILE}].\n"
    "--ledger defaults to " AR_LEDGER_DEFAULT_URL ".\n",
    run};

static int run(int argc, char **argv) {
    bool json = false, minimize = false;
    const char *url = NULL, *out = NULL, *metric = NULL, *scope = "inner", *split = NULL,
               *title = NULL;
    const cli_opt opts[] = {
        {"json", OPT_FLAG, &json},    {"ledger", OPT_STR, &url},  {"out", OPT_STR, &out},
        {"metric", OPT_STR, &metric}, {"scope", OPT_STR, &scope}, {"split", OPT_STR, &split},
        {"min", OPT_FLAG, &minimize}, {"title", OPT_STR, &title}, {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 0, &n_pos, &cmd_report);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!out) {
        fprintf(stderr, "agentrec report: --out FILE is required\n");
        return CLI_USAGE;
    }
    ar_report_options o = ar_report_options_default();
    int sc = ar_scope_parse(scope);
    if (sc < 0) {
        fprintf(stderr, "agentrec report: --scope must be inner or outer\n");
        return CLI_USAGE;
    }
    o.scope = (ar_scope)sc;
    o.metric = metric;
    o.split = split;
    o.minimize = minimize;
    if (title)
        o.title = title;
    ar_ledger *l = cli_ledger_open("report", url, 0);
    if (!l)
        return CLI_FAIL;
    if (ar_ledger_report(l, out, &o))
        rc = cli_error("report", "%s", ar_ledger_errmsg(l));
    else if (json)
        cli_print_json(json_pack("[{s:s}]", "out", out));
    else
        printf("wrote %s\n", out);
    ar_ledger_free(l);
    return rc;
}
