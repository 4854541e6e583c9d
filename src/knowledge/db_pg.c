/*
 * db_pg.c -- the ledger's PostgreSQL backend (libpq), for a ledger shared by several machines.
 *
 * The ledger's SQL uses '?' placeholders; they are renumbered $1..$n here (outside quoted
 * strings) and every value is bound as text with an explicit type (int8, float8, text), so the
 * server never has to guess a parameter's type and never parses a value as SQL.
 *
 * Write transactions take one transaction-scoped advisory lock: writers are serialised the way
 * SQLite serialises them, which keeps read-then-write steps (the next model version, the
 * recovery of dead runs) correct under READ COMMITTED without retry loops. lock_timeout bounds
 * the wait, so a stuck writer yields "database is locked" like SQLite's busy timeout.
 * Notices are swallowed: library code never prints.
 */
#define _POSIX_C_SOURCE 200809L
#include "knowledge/db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_LOCK_KEY "7206155200314981"

typedef struct pg_db {
    ar__db base;
    PGconn *c;
    char *sql_buf;
    size_t sql_cap;
} pg_db;

static void quiet(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

static ar_status map_result(pg_db *d, PGresult *res, const char *what) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[400];
    snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(d->c));
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = 0;
    if (!state)
        return ar__db_fail(&d->base, AR_EIO, "%s: %s", what, msg);
    if (strcmp(state, "23505") == 0)
        return ar__db_fail(&d->base, AR_EDUP, "%s: %s", what, msg);
    if (strncmp(state, "23", 2) == 0)
        return ar__db_fail(&d->base, AR_EINVAL, "%s: %s", what, msg);
    if (strcmp(state, "55P03") == 0)
        return ar__db_fail(&d->base, AR_EIO,
                           "%s: database is locked (another writer held it for more than %d ms)",
                           what, d->base.busy_ms);
    if (strcmp(state, "53100") == 0)
        return ar__db_fail(&d->base, AR_EIO, "%s: disk full (%s)", what, msg);
    if (strcmp(state, "53200") == 0)
        return ar__db_fail(&d->base, AR_ENOMEM, "%s: %s", what, msg);
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "42", 2) == 0)
        return ar__db_fail(&d->base, AR_EINVAL, "%s: %s", what, msg);
    return ar__db_fail(&d->base, AR_EIO, "%s: %s", what, msg);
}

static ar_status p_exec(ar__db *db, const char *sql) {
    pg_db *d = (pg_db *)db;
    PGresult *res = PQexec(d->c, sql);
    ExecStatusType st = PQresultStatus(res);
    ar_status s = AR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        s = map_result(d, res, "postgres");
    PQclear(res);
    return s;
}

/* Rewrites '?' to $n outside string literals and quoted identifiers. */
static const char *renumber(pg_db *d, const char *sql) {
    size_t need = strlen(sql) * 4 + 1;
    if (need > d->sql_cap) {
        char *b = ar__realloc(d->sql_buf, need);
        if (!b)
            return NULL;
        d->sql_buf = b;
        d->sql_cap = need;
    }
    char *o = d->sql_buf;
    int n = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?') {
            o += sprintf(o, "$%d", ++n);
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return d->sql_buf;
}

static ar_status p_query(ar__db *db, const char *sql, const ar__val *p, int np, ar__rows *out) {
    pg_db *d = (pg_db *)db;
    if (np > 64)
        return ar__db_fail(db, AR_EINVAL, "too many parameters");
    const char *q = renumber(d, sql);
    if (!q)
        return ar__db_fail(db, AR_ENOMEM, "out of memory");
    Oid types[64];
    const char *values[64];
    char bufs[64][40];
    for (int k = 0; k < np; k++) {
        switch (p[k].t) {
        case AR__NULL:
            types[k] = 0;
            values[k] = NULL;
            break;
        case AR__INT:
            types[k] = 20; /* int8 */
            snprintf(bufs[k], sizeof bufs[k], "%lld", (long long)p[k].i);
            values[k] = bufs[k];
            break;
        case AR__REAL:
            types[k] = 701; /* float8 */
            snprintf(bufs[k], sizeof bufs[k], "%.17g", p[k].d);
            values[k] = bufs[k];
            break;
        case AR__TEXT:
            types[k] = 25; /* text */
            values[k] = p[k].s;
            break;
        }
    }
    PGresult *res = PQexecParams(d->c, q, np, types, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    ar_status s = AR_OK;
    if (st == PGRES_COMMAND_OK) {
        /* no rows */
    } else if (st == PGRES_TUPLES_OK) {
        int nr = PQntuples(res), nc = PQnfields(res);
        if (nc > 32)
            s = ar__db_fail(db, AR_EINVAL, "too many columns");
        ar__val row[32];
        for (int r = 0; out && !s && r < nr; r++) {
            for (int c = 0; c < nc; c++) {
                row[c] = ar__vnull();
                if (PQgetisnull(res, r, c))
                    continue;
                const char *v = PQgetvalue(res, r, c);
                switch (PQftype(res, c)) {
                case 20:
                case 21:
                case 23:
                    row[c] = ar__vint(strtoll(v, NULL, 10));
                    break;
                case 16: /* bool */
                    row[c] = ar__vint(v[0] == 't');
                    break;
                case 700:
                case 701:
                case 1700:
                    row[c] = ar__vreal(strtod(v, NULL));
                    break;
                default:
                    row[c] = ar__vtext(v);
                }
            }
            if (ar__rows_push(out, row, (size_t)nc))
                s = ar__db_fail(db, AR_ENOMEM, "out of memory");
        }
    } else {
        s = map_result(d, res, "postgres");
    }
    PQclear(res);
    return s;
}

static ar_status p_begin(ar__db *db) {
    ar_status s = p_exec(db, "BEGIN");
    if (!s)
        s = p_exec(db, "SELECT pg_advisory_xact_lock(" LEDGER_LOCK_KEY ")");
    if (s) {
        char keep[sizeof db->err];
        memcpy(keep, db->err, sizeof keep);
        p_exec(db, "ROLLBACK");
        memcpy(db->err, keep, sizeof keep);
    }
    return s;
}
static ar_status p_commit(ar__db *db) {
    return p_exec(db, "COMMIT");
}
static void p_rollback(ar__db *db) {
    pg_db *d = (pg_db *)db;
    if (PQtransactionStatus(d->c) != PQTRANS_IDLE) {
        PGresult *res = PQexec(d->c, "ROLLBACK");
        PQclear(res);
    }
}

static ar_status p_has_table(ar__db *db, const char *table, int *yes) {
    ar__rows r;
    ar__rows_init(&r);
    ar__val p = ar__vtext(table);
    ar_status s = p_query(db,
                          "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema = current_schema() AND table_name = ?",
                          &p, 1, &r);
    *yes = !s && r.n_rows && ar__cell_int(&r, 0, 0) > 0;
    ar__rows_clear(&r);
    return s;
}

static ar_status p_n_tables(ar__db *db, int64_t *n) {
    ar__rows r;
    ar__rows_init(&r);
    ar_status s = p_query(db,
                          "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema = current_schema()",
                          NULL, 0, &r);
    *n = !s && r.n_rows ? ar__cell_int(&r, 0, 0) : 0;
    ar__rows_clear(&r);
    return s;
}

static ar_status p_check(ar__db *db) {
    /* The server enforces foreign keys and checksums its own pages; what can be wrong from
     * here is a missing table. */
    static const char *tables[] = {"ar_meta",
                                   "agents",
                                   "runs",
                                   "params",
                                   "tags",
                                   "metrics",
                                   "decisions",
                                   "decision_evidence",
                                   "artifacts",
                                   "model_versions",
                                   "stage_history",
                                   "experiments",
                                   "guardrail_events"};
    for (size_t k = 0; k < sizeof tables / sizeof tables[0]; k++) {
        int yes;
        ar_status s = p_has_table(db, tables[k], &yes);
        if (s)
            return s;
        if (!yes)
            return ar__db_fail(db, AR_ECORRUPT, "table %s is missing", tables[k]);
    }
    return AR_OK;
}

static ar_status p_lock_schema(ar__db *db) {
    (void)db;
    return AR_OK; /* p_begin already holds the ledger's advisory lock */
}

static void p_close(ar__db *db) {
    pg_db *d = (pg_db *)db;
    PQfinish(d->c);
    ar__free(d->sql_buf);
    ar__free(d);
}

static const ar__db_vt vt = {"postgres",  p_exec,     p_query, p_begin,       p_commit, p_rollback,
                             p_has_table, p_n_tables, p_check, p_lock_schema, p_close};

ar_status ar__db_pg_open(const char *conninfo, int busy_ms, ar__db **out, ar_error *err) {
    *out = NULL;
    pg_db *d = ar__calloc(1, sizeof *d);
    if (!d)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    d->base.vt = &vt;
    d->base.busy_ms = busy_ms;
    d->base.tok_id = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
    d->base.tok_int = "BIGINT";
    d->base.tok_real = "DOUBLE PRECISION";
    d->base.tok_strict = "";
    d->c = PQconnectdb(conninfo);
    if (!d->c || PQstatus(d->c) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", d->c ? PQerrorMessage(d->c) : "out of memory");
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = 0;
        ar__fail(err, AR_EIO, "cannot connect to PostgreSQL: %s", msg);
        p_close(&d->base);
        return AR_EIO;
    }
    PQsetNoticeProcessor(d->c, quiet, NULL);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SET client_min_messages = warning; SET lock_timeout = %d; "
             "SET extra_float_digits = 3",
             busy_ms);
    ar_status s = p_exec(&d->base, sql);
    if (s) {
        ar__fail(err, s, "%s", d->base.err);
        p_close(&d->base);
        return s;
    }
    *out = &d->base;
    return AR_OK;
}
