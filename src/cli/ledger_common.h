/*
 * ledger_common.h -- what the ledger subcommands (runs, decisions, models, report, ledger)
 * share: opening --ledger URL, time and text formatting for 80-column tables, JSON of a run.
 */
#ifndef AR_CLI_LEDGER_COMMON_H
#define AR_CLI_LEDGER_COMMON_H

#include "cli/cli.h"

/* Opens the ledger at url (NULL = AR_LEDGER_DEFAULT_URL); on failure prints the error and
 * returns NULL. Readers pass create = 0, so a typo in a path is an error, not a new file. */
ar_ledger *cli_ledger_open(const char *cmd, const char *url, int create);
/* "2024-06-07 12:34" (UTC) or "-" when t is NaN. */
void cli_fmt_time(double t, char *buf, size_t n);
/* s cut to at most w characters (with a trailing '~' when cut), into buf of n >= w + 1. */
const char *cli_fit(const char *s, int w, char *buf, size_t n);
/* A run as a JSON object (config parsed back into JSON). */
json_t *cli_run_json(const ar_run *r);
/* NaN-safe JSON number (null for NaN). */
json_t *cli_num(double v);

#endif
