/*
 * db_sqlite.c -- the ledger's embedded backend: one SQLite file in WAL mode.
 *
 * Connection settings, and why:
 *   - journal_mode=WAL: readers never block the writer and a killed writer leaves at most an
 *     uncommitted tail in the -wal file, which the next opener discards.
 *   - synchronous=NORMAL (FULL when durable): in WAL mode NORMAL survives any process crash;
 *     only a power loss can drop the last commits, never corrupt the file.
 *   - busy_timeout: writers wait for each other instead of failing at once; write transactions
 *     start with BEGIN IMMEDIATE so the wait happens at BEGIN, where the busy handler applies
 *     (a deferred transaction upgrading to a writer would fail with SQLITE_BUSY immediately).
 *   - foreign_keys=ON: SQLite's default is off.
 *   - Prepared statements are cached by SQL text, which is what makes batched metric logging
 *     fast (preparing costs more than stepping a small insert).
 */
#define _POSIX_C_SOURCE 200809L
#include "knowledge/db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define N_CACHE 48

typedef struct cached {
    char *sql;
    sqlite3_stmt *stmt;
    uint64_t used;
} cached;

typedef struct sqlite_db {
    ar__db base;
    sqlite3 *h;
    cached cache[N_CACHE];
    uint64_t clock;
} sqlite_db;

static ar_status map_rc(sqlite_db *d, int rc, const char *what) {
    const char *msg = d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc);
    int ext = d->h ? sqlite3_extended_errcode(d->h) : rc;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ar__db_fail(&d->base, AR_EIO,
                           "%s: database is locked (another writer held it for more than %d ms)",
                           what, d->base.busy_ms);
    case SQLITE_FULL:
        return ar__db_fail(&d->base, AR_EIO, "%s: disk full (%s)", what, msg);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return ar__db_fail(&d->base, AR_ECORRUPT, "%s: %s", what, msg);
    case SQLITE_NOMEM:
        return ar__db_fail(&d->base, AR_ENOMEM, "%s: out of memory", what);
    case SQLITE_CONSTRAINT:
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            return ar__db_fail(&d->base, AR_EDUP, "%s: %s", what, msg);
        return ar__db_fail(&d->base, AR_EINVAL, "%s: %s", what, msg);
    default:
        return ar__db_fail(&d->base, AR_EIO, "%s: %s", what, msg);
    }
}

static ar_status s_exec(ar__db *db, const char *sql) {
    sqlite_db *d = (sqlite_db *)db;
    int rc = sqlite3_exec(d->h, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? AR_OK : map_rc(d, rc, "sqlite");
}

static ar_status prepare(sqlite_db *d, const char *sql, sqlite3_stmt **out) {
    cached *victim = &d->cache[0];
    for (int k = 0; k < N_CACHE; k++) {
        cached *c = &d->cache[k];
        if (c->sql && strcmp(c->sql, sql) == 0) {
            c->used = ++d->clock;
            *out = c->stmt;
            return AR_OK;
        }
        if (c->used < victim->used)
            victim = c;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return map_rc(d, rc, "prepare");
    char *copy = ar__strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return ar__db_fail(&d->base, AR_ENOMEM, "out of memory");
    }
    sqlite3_finalize(victim->stmt);
    ar__free(victim->sql);
    victim->sql = copy;
    victim->stmt = st;
    victim->used = ++d->clock;
    *out = st;
    return AR_OK;
}

static ar_status s_query(ar__db *db, const char *sql, const ar__val *p, int np, ar__rows *out) {
    sqlite_db *d = (sqlite_db *)db;
    sqlite3_stmt *st = NULL;
    ar_status s = prepare(d, sql, &st);
    if (s)
        return s;
    int rc = SQLITE_OK;
    for (int k = 0; k < np && rc == SQLITE_OK; k++) {
        switch (p[k].t) {
        case AR__NULL:
            rc = sqlite3_bind_null(st, k + 1);
            break;
        case AR__INT:
            rc = sqlite3_bind_int64(st, k + 1, p[k].i);
            break;
        case AR__REAL:
            rc = sqlite3_bind_double(st, k + 1, p[k].d);
            break;
        case AR__TEXT:
            rc = sqlite3_bind_text(st, k + 1, p[k].s, -1, SQLITE_STATIC);
            break;
        }
    }
    if (rc != SQLITE_OK) {
        s = map_rc(d, rc, "bind");
        goto done;
    }
    ar__val row[32];
    for (;;) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            s = map_rc(d, rc, "sqlite");
            goto done;
        }
        if (!out)
            continue;
        int nc = sqlite3_column_count(st);
        if (nc > 32) {
            s = ar__db_fail(db, AR_EINVAL, "too many columns");
            goto done;
        }
        for (int c = 0; c < nc; c++) {
            row[c] = ar__vnull();
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                row[c] = ar__vint(sqlite3_column_int64(st, c));
                break;
            case SQLITE_FLOAT:
                row[c] = ar__vreal(sqlite3_column_double(st, c));
                break;
            case SQLITE_TEXT:
            case SQLITE_BLOB:
                row[c] = ar__vtext((const char *)sqlite3_column_text(st, c));
                if (!row[c].s) {
                    s = ar__db_fail(db, AR_ENOMEM, "out of memory");
                    goto done;
                }
                break;
            default:
                break;
            }
        }
        if ((s = ar__rows_push(out, row, (size_t)nc)) != AR_OK) {
            ar__db_fail(db, s, "out of memory");
            goto done;
        }
    }
done:
    sqlite3_reset(st); /* every parameter is bound again on the next use */
    return s;
}

static ar_status s_begin(ar__db *db) {
    return s_query(db, "BEGIN IMMEDIATE", NULL, 0, NULL);
}
static ar_status s_commit(ar__db *db) {
    return s_query(db, "COMMIT", NULL, 0, NULL);
}
static void s_rollback(ar__db *db) {
    sqlite_db *d = (sqlite_db *)db;
    if (!sqlite3_get_autocommit(d->h))
        sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
}

static ar_status s_has_table(ar__db *db, const char *table, int *yes) {
    ar__rows r;
    ar__rows_init(&r);
    ar__val p = ar__vtext(table);
    ar_status s = s_query(
        db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", &p, 1, &r);
    *yes = !s && r.n_rows && ar__cell_int(&r, 0, 0) > 0;
    ar__rows_clear(&r);
    return s;
}

static ar_status s_n_tables(ar__db *db, int64_t *n) {
    ar__rows r;
    ar__rows_init(&r);
    ar_status s = s_query(db, "SELECT count(*) FROM sqlite_schema", NULL, 0, &r);
    *n = !s && r.n_rows ? ar__cell_int(&r, 0, 0) : 0;
    ar__rows_clear(&r);
    return s;
}

static ar_status s_check(ar__db *db) {
    ar__rows r;
    ar__rows_init(&r);
    ar_status s = s_query(db, "PRAGMA integrity_check", NULL, 0, &r);
    if (!s &&
        (r.n_rows != 1 || !ar__cell_text(&r, 0, 0) || strcmp(ar__cell_text(&r, 0, 0), "ok") != 0))
        s = ar__db_fail(db, AR_ECORRUPT, "integrity check failed: %s",
                        r.n_rows && ar__cell_text(&r, 0, 0) ? ar__cell_text(&r, 0, 0) : "?");
    ar__rows_clear(&r);
    if (s)
        return s;
    s = s_query(db, "PRAGMA foreign_key_check", NULL, 0, &r);
    if (!s && r.n_rows)
        s = ar__db_fail(db, AR_ECORRUPT, "foreign key check failed in table %s",
                        ar__cell_text(&r, 0, 0) ? ar__cell_text(&r, 0, 0) : "?");
    ar__rows_clear(&r);
    return s;
}

static ar_status s_lock_schema(ar__db *db) {
    (void)db; /* BEGIN IMMEDIATE already holds the only write lock */
    return AR_OK;
}

static void s_close(ar__db *db) {
    sqlite_db *d = (sqlite_db *)db;
    for (int k = 0; k < N_CACHE; k++) {
        sqlite3_finalize(d->cache[k].stmt);
        ar__free(d->cache[k].sql);
    }
    sqlite3_close(d->h);
    ar__free(d);
}

static const ar__db_vt vt = {"sqlite",    s_exec,     s_query, s_begin,       s_commit, s_rollback,
                             s_has_table, s_n_tables, s_check, s_lock_schema, s_close};

ar_status ar__db_sqlite_open(const char *path, int busy_ms, int durable, int create, ar__db **out,
                             ar_error *err) {
    *out = NULL;
    sqlite_db *d = ar__calloc(1, sizeof *d);
    if (!d)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    d->base.vt = &vt;
    d->base.busy_ms = busy_ms;
    d->base.tok_id = "INTEGER PRIMARY KEY";
    d->base.tok_int = "INTEGER";
    d->base.tok_real = "REAL";
    d->base.tok_strict = " STRICT";
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &d->h, flags, NULL);
    if (rc != SQLITE_OK) {
        ar__fail(err, AR_EIO, "%s: cannot open: %s", path,
                 d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
        s_close(&d->base);
        return AR_EIO;
    }
    sqlite3_extended_result_codes(d->h, 1);
    sqlite3_busy_timeout(d->h, busy_ms);
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;",
             durable ? "FULL" : "NORMAL");
    ar_status s = s_exec(&d->base, sql);
    if (s) {
        ar__fail(err, s, "%s: %s", path, d->base.err);
        s_close(&d->base);
        return s;
    }
    *out = &d->base;
    return AR_OK;
}
