/*
 * ledger_internal.h -- the ledger's internals shared with report.c and the tests (not API).
 */
#ifndef AR_KNOWLEDGE_LEDGER_INTERNAL_H
#define AR_KNOWLEDGE_LEDGER_INTERNAL_H

#include "knowledge/db.h"

#define AR__LEDGER_SCHEMA_VERSION 2

struct ar_ledger {
    ar__db *db;
    int version;
    int64_t recovered;
    int64_t pid;
    char host[256], token[128];
    char err[512];
};

/* Opens like ar_ledger_open but migrates only up to schema version max_version (tests create
 * old ledgers with it). */
ar_status ar__ledger_open_version(const char *url, const ar_ledger_options *opt, int max_version,
                                  ar_ledger **out, ar_error *err);

/* Runs one statement on the ledger's connection, outside the API (tests and diagnostics). */
ar_status ar__ledger_sql(ar_ledger *l, const char *sql, const ar__val *params, int n,
                         ar__rows *out);

/* Copies the backend's message into the handle and returns status. */
ar_status ar__ledger_fail(ar_ledger *l, ar_status status, const char *fmt, ...) AR__PRINTF(3, 4);

/* Wall clock, seconds since the epoch. */
double ar__wall_now(void);

#endif
