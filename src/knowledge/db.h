/*
 * db.h -- the ledger's storage backends behind one small vtable (internal).
 *
 * The ledger writes its SQL once, with '?' placeholders and a few type tokens in the DDL; each
 * backend adapts it: SQLite takes it as is, PostgreSQL numbers the placeholders ($1, $2, ...)
 * and binds each value with an explicit type. A query's rows are copied out into an ar__rows
 * (every statement the ledger runs returns at most a few thousand rows, and copying keeps the
 * backends' cursor lifetimes out of the ledger code).
 *
 * Errors are written into db->err; the status says what kind: AR_EIO (I/O, locked, disk full,
 * connection lost), AR_ECORRUPT (not a database, corrupt), AR_EDUP (a unique constraint),
 * AR_EINVAL (a check or foreign key constraint).
 */
#ifndef AR_KNOWLEDGE_DB_H
#define AR_KNOWLEDGE_DB_H

#include "core/core.h"

typedef enum ar__vtype { AR__NULL = 0, AR__INT, AR__REAL, AR__TEXT } ar__vtype;

typedef struct ar__val {
    ar__vtype t;
    int64_t i;
    double d;
    const char *s; /* parameters: borrowed; rows: owned by the ar__rows */
} ar__val;

static inline ar__val ar__vint(int64_t i) {
    ar__val v = {AR__INT, i, 0, NULL};
    return v;
}
static inline ar__val ar__vreal(double d) {
    ar__val v = {AR__REAL, 0, d, NULL};
    return v;
}
static inline ar__val ar__vtext(const char *s) {
    ar__val v = {s ? AR__TEXT : AR__NULL, 0, 0, s};
    return v;
}
static inline ar__val ar__vnull(void) {
    ar__val v = {AR__NULL, 0, 0, NULL};
    return v;
}
/* An id parameter: 0 means "none" and becomes NULL. */
static inline ar__val ar__vid(int64_t id) {
    return id ? ar__vint(id) : ar__vnull();
}

typedef struct ar__rows {
    size_t n_rows, n_cols, cap;
    ar__val *cells; /* row-major */
} ar__rows;

void ar__rows_init(ar__rows *r);
void ar__rows_clear(ar__rows *r);
/* Appends a row of n_cols cells, copying texts. AR_ENOMEM on failure. */
ar_status ar__rows_push(ar__rows *r, const ar__val *row, size_t n_cols);
static inline const ar__val *ar__cell(const ar__rows *r, size_t row, size_t col) {
    return &r->cells[row * r->n_cols + col];
}
int64_t ar__cell_int(const ar__rows *r, size_t row, size_t col);      /* 0 for NULL */
double ar__cell_real(const ar__rows *r, size_t row, size_t col);      /* NaN for NULL */
const char *ar__cell_text(const ar__rows *r, size_t row, size_t col); /* NULL for NULL */

typedef struct ar__db ar__db;

typedef struct ar__db_vt {
    const char *name;
    /* Runs statements without parameters or results (DDL; several separated by ';'). */
    ar_status (*exec)(ar__db *db, const char *sql);
    /* Runs one statement; rows (when out is non-NULL) are appended to out, which the caller
     * initialised. */
    ar_status (*query)(ar__db *db, const char *sql, const ar__val *params, int n_params,
                       ar__rows *out);
    /* Starts a write transaction (SQLite: BEGIN IMMEDIATE, so the write lock is taken up front
     * and waits at most the busy timeout). */
    ar_status (*begin)(ar__db *db);
    ar_status (*commit)(ar__db *db);
    void (*rollback)(ar__db *db);
    /* 1 when the named table exists (in the current schema). */
    ar_status (*has_table)(ar__db *db, const char *table, int *yes);
    /* Number of tables of any kind (foreign-database detection). */
    ar_status (*n_tables)(ar__db *db, int64_t *n);
    /* Integrity check; AR_ECORRUPT with the first problem. */
    ar_status (*check)(ar__db *db);
    /* Serialises schema creation/migration between processes (inside a transaction). */
    ar_status (*lock_schema)(ar__db *db);
    void (*close)(ar__db *db);
} ar__db_vt;

struct ar__db {
    const ar__db_vt *vt;
    int busy_ms;
    /* DDL type tokens: @ID@ (an auto-increment primary key), @INT@, @REAL@, @STRICT@. */
    const char *tok_id, *tok_int, *tok_real, *tok_strict;
    char err[512];
};

ar_status ar__db_sqlite_open(const char *path, int busy_ms, int durable, int create, ar__db **out,
                             ar_error *err);
ar_status ar__db_pg_open(const char *conninfo, int busy_ms, ar__db **out, ar_error *err);

/* Formats into db->err and returns status. */
ar_status ar__db_fail(ar__db *db, ar_status status, const char *fmt, ...) AR__PRINTF(3, 4);

/* SHA-256 of a file as 64 hex digits (+NUL); bytes gets its size. */
ar_status ar__sha256_file(const char *path, char hex[65], int64_t *bytes, ar_error *err);
/* SHA-256 of a buffer. */
void ar__sha256(const void *data, size_t n, unsigned char out[32]);

/* This process's identity for crash recovery: host name and a start token (boot id and the
 * process start time) that differs between two processes that had the same pid. */
void ar__proc_self(char *host, size_t host_n, char *token, size_t token_n);
/* 1 when process pid on this host is alive and has the given start token. */
int ar__proc_alive(int64_t pid, const char *token);

#endif
