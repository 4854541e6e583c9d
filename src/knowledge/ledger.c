/*
 * ledger.c -- the knowledge ledger: schema and migrations, crash recovery, writes and queries.
 *
 * Invariants
 *   - Every public write is exactly one transaction (tx_begin .. tx_end), so a crash at any
 *     point leaves either all of a call's rows or none.
 *   - A run is 'running' only while the process that began it (pid + start token, on host)
 *     lives; opening the ledger repairs runs whose process is gone.
 *   - SQL text is constant; every value travels as a bound parameter. The only statements built
 *     at run time (query filters) are assembled from constant fragments.
 *   - The schema is the same on both backends; the DDL below is written once with type tokens
 *     (see db.h) and every migration is forward-only and runs inside one transaction.
 */
#define _POSIX_C_SOURCE 200809L
#include "knowledge/ledger_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* -- Enumerations ---------------------------------------------------------------------------- */

static const char *const run_status_names[] = {"running", "finished", "failed", "interrupted"};
static const char *const scope_names[] = {"inner", "outer"};
static const char *const action_names[] = {"adopt", "reject", "rollback", "promote", "hold"};
static const char *const decider_names[] = {"agent", "orchestrator", "person"};
static const char *const stage_names[] = {"candidate", "shadow", "canary", "production",
                                          "archived"};

static int parse_name(const char *const *names, int n, const char *s) {
    if (!s)
        return -1;
    for (int k = 0; k < n; k++)
        if (strcmp(names[k], s) == 0)
            return k;
    return -1;
}

#define ENUM_FUNCS(prefix, type, names)                                                            \
    const char *prefix##_name(type v) {                                                            \
        int n = (int)(sizeof names / sizeof names[0]);                                             \
        return (int)v >= 0 && (int)v < n ? names[v] : "?";                                         \
    }                                                                                              \
    int prefix##_parse(const char *s) {                                                            \
        return parse_name(names, (int)(sizeof names / sizeof names[0]), s);                        \
    }

ENUM_FUNCS(ar_run_status, ar_run_status, run_status_names)
ENUM_FUNCS(ar_scope, ar_scope, scope_names)
ENUM_FUNCS(ar_action, ar_action, action_names)
ENUM_FUNCS(ar_decider, ar_decider, decider_names)
ENUM_FUNCS(ar_stage, ar_stage, stage_names)

/* -- Schema ------------------------------------------------------------------------------------
 * migrations[v - 1] takes a ledger from version v - 1 to v. Never edit a released step; add
 * one. Tokens: @ID@ auto-increment primary key, @INT@ 64-bit integer, @REAL@ double, @STRICT@
 * SQLite's STRICT table option (type-checked columns). */

static const char *const migrations[] = {
    /* 1: the core entities */
    "CREATE TABLE ar_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)@STRICT@;"
    "CREATE TABLE agents (id @ID@, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"
    " decision_space TEXT NOT NULL, promotion_evidence TEXT NOT NULL,"
    " created @REAL@ NOT NULL)@STRICT@;"
    "CREATE TABLE runs (id @ID@, agent_id @INT@ NOT NULL REFERENCES agents(id),"
    " parent_id @INT@ REFERENCES runs(id), config TEXT NOT NULL, dataset TEXT NOT NULL,"
    " fp_users @INT@, fp_items @INT@, fp_interactions @INT@, fp_density @REAL@,"
    " fp_gini @REAL@, fp_per_user @REAL@, code_version TEXT NOT NULL, seed @INT@ NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),"
    " started @REAL@ NOT NULL, ended @REAL@, cpu_seconds @REAL@, peak_memory @INT@,"
    " pid @INT@ NOT NULL, host TEXT NOT NULL, proc_token TEXT NOT NULL)@STRICT@;"
    "CREATE INDEX runs_agent ON runs(agent_id);"
    "CREATE INDEX runs_parent ON runs(parent_id);"
    "CREATE INDEX runs_status ON runs(status, host);"
    "CREATE TABLE params (run_id @INT@ NOT NULL REFERENCES runs(id), key TEXT NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY (run_id, key))@STRICT@;"
    "CREATE TABLE tags (run_id @INT@ NOT NULL REFERENCES runs(id), key TEXT NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY (run_id, key))@STRICT@;"
    "CREATE TABLE metrics (id @ID@, run_id @INT@ NOT NULL REFERENCES runs(id),"
    " name TEXT NOT NULL, value @REAL@ NOT NULL, step @INT@ NOT NULL,"
    " scope TEXT NOT NULL CHECK (scope IN ('inner', 'outer')), split TEXT NOT NULL,"
    " at @REAL@ NOT NULL)@STRICT@;"
    "CREATE INDEX metrics_run ON metrics(run_id, name, scope, split, step);"
    "CREATE INDEX metrics_name ON metrics(name, scope, split);"
    "CREATE TABLE decisions (id @ID@, run_id @INT@ REFERENCES runs(id),"
    " action TEXT NOT NULL CHECK (action IN ('adopt', 'reject', 'rollback', 'promote', 'hold')),"
    " rationale TEXT NOT NULL,"
    " decider TEXT NOT NULL CHECK (decider IN ('agent', 'orchestrator', 'person')),"
    " decided_by TEXT NOT NULL, at @REAL@ NOT NULL)@STRICT@;"
    "CREATE INDEX decisions_run ON decisions(run_id);"
    "CREATE TABLE decision_evidence (decision_id @INT@ NOT NULL REFERENCES decisions(id),"
    " metric_id @INT@ NOT NULL REFERENCES metrics(id),"
    " PRIMARY KEY (decision_id, metric_id))@STRICT@;"
    "CREATE TABLE artifacts (id @ID@, run_id @INT@ NOT NULL REFERENCES runs(id),"
    " kind TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, bytes @INT@ NOT NULL,"
    " at @REAL@ NOT NULL)@STRICT@;"
    "CREATE INDEX artifacts_run ON artifacts(run_id);"
    "CREATE TABLE model_versions (id @ID@, name TEXT NOT NULL, version @INT@ NOT NULL,"
    " run_id @INT@ NOT NULL REFERENCES runs(id), stage TEXT NOT NULL CHECK (stage IN"
    " ('candidate', 'shadow', 'canary', 'production', 'archived')), alias TEXT,"
    " created @REAL@ NOT NULL, UNIQUE (name, version), UNIQUE (name, alias))@STRICT@;"
    "CREATE TABLE stage_history (id @ID@, model_id @INT@ NOT NULL REFERENCES model_versions(id),"
    " stage TEXT NOT NULL, reason TEXT NOT NULL, at @REAL@ NOT NULL)@STRICT@;"
    "CREATE TABLE experiments (id @ID@, name TEXT NOT NULL, variants TEXT NOT NULL,"
    " allocation TEXT NOT NULL, started @REAL@ NOT NULL, ended @REAL@, result TEXT)@STRICT@;",
    /* 2: guardrail events */
    "CREATE TABLE guardrail_events (id @ID@, run_id @INT@ REFERENCES runs(id),"
    " experiment_id @INT@ REFERENCES experiments(id), name TEXT NOT NULL,"
    " value @REAL@ NOT NULL, threshold @REAL@ NOT NULL, action TEXT NOT NULL,"
    " detail TEXT NOT NULL, at @REAL@ NOT NULL)@STRICT@;"
    "CREATE INDEX guardrail_run ON guardrail_events(run_id);",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == AR__LEDGER_SCHEMA_VERSION,
               "one migration per schema version");

#define APPLICATION "agentrec-ledger"

/* Expands the type tokens. The caller frees the result. */
static char *expand(const ar__db *db, const char *ddl) {
    const char *tok[4] = {"@ID@", "@INT@", "@REAL@", "@STRICT@"};
    const char *rep[4] = {db->tok_id, db->tok_int, db->tok_real, db->tok_strict};
    size_t cap = strlen(ddl) * 4 + 1, n = 0;
    char *out = ar__malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = ddl; *p;) {
        int hit = -1;
        for (int k = 0; k < 4 && hit < 0; k++)
            if (strncmp(p, tok[k], strlen(tok[k])) == 0)
                hit = k;
        if (hit >= 0) {
            size_t m = strlen(rep[hit]);
            memcpy(out + n, rep[hit], m);
            n += m;
            p += strlen(tok[hit]);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

/* -- Helpers ----------------------------------------------------------------------------------- */

double ar__wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

ar_status ar__ledger_fail(ar_ledger *l, ar_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    return status;
}

static ar_status q(ar_ledger *l, const char *sql, const ar__val *p, int n, ar__rows *out) {
    ar_status s = l->db->vt->query(l->db, sql, p, n, out);
    if (s)
        ar__ledger_fail(l, s, "%s", l->db->err);
    return s;
}

ar_status ar__ledger_sql(ar_ledger *l, const char *sql, const ar__val *params, int n,
                         ar__rows *out) {
    return q(l, sql, params, n, out);
}

static ar_status tx_begin(ar_ledger *l) {
    l->err[0] = 0;
    ar_status s = l->db->vt->begin(l->db);
    if (s)
        ar__ledger_fail(l, s, "%s", l->db->err);
    return s;
}

/* Commits when s is AR_OK, else rolls back; returns the first failure. */
static ar_status tx_end(ar_ledger *l, ar_status s) {
    if (!s) {
        s = l->db->vt->commit(l->db);
        if (s)
            ar__ledger_fail(l, s, "commit: %s", l->db->err);
    }
    if (s)
        l->db->vt->rollback(l->db);
    return s;
}

/* One-value query: the first column of the first row as an integer; AR_ENOTFOUND when no row. */
static ar_status q_int(ar_ledger *l, const char *sql, const ar__val *p, int n, int64_t *out) {
    ar__rows r;
    ar__rows_init(&r);
    ar_status s = q(l, sql, p, n, &r);
    if (!s && r.n_rows == 0)
        s = AR_ENOTFOUND;
    if (!s)
        *out = ar__cell_int(&r, 0, 0);
    ar__rows_clear(&r);
    return s;
}

/* Validates JSON and re-serialises it compactly with sorted keys. The caller frees the result
 * with free() (jansson's allocator). */
static ar_status norm_json(ar_ledger *l, const char *what, const char *text, int want_object,
                           char **out) {
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        return ar__ledger_fail(l, AR_EPARSE, "%s is not valid JSON: %s (column %d)", what, e.text,
                               e.column);
    if (want_object && !json_is_object(v)) {
        json_decref(v);
        return ar__ledger_fail(l, AR_EPARSE, "%s must be a JSON object", what);
    }
    *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    json_decref(v);
    return *out ? AR_OK : ar__ledger_fail(l, AR_ENOMEM, "out of memory");
}

static ar_status need_text(ar_ledger *l, const char *v, const char *what) {
    if (!v || !*v)
        return ar__ledger_fail(l, AR_EINVAL, "%s is required", what);
    return AR_OK;
}

static ar_status run_exists(ar_ledger *l, int64_t run) {
    int64_t one;
    ar__val p = ar__vint(run);
    ar_status s = q_int(l, "SELECT 1 FROM runs WHERE id = ?", &p, 1, &one);
    if (s == AR_ENOTFOUND)
        return ar__ledger_fail(l, AR_ENOTFOUND, "run %lld does not exist", (long long)run);
    return s;
}

/* -- Options and opening --------------------------------------------------------------------- */

ar_ledger_options ar_ledger_options_default(void) {
    ar_ledger_options o = {5000, 1, 0, 1};
    return o;
}

const char *ar_ledger_options_check(const ar_ledger_options *o) {
    if (!o)
        return "options are NULL";
    if (o->busy_timeout_ms < 0 || o->busy_timeout_ms > 3600000)
        return "busy_timeout_ms must be in [0, 3600000]";
    return NULL;
}

int ar_ledger_latest_schema_version(void) {
    return AR__LEDGER_SCHEMA_VERSION;
}

static ar_status read_version(ar_ledger *l, int *version, ar_error *err, const char *url) {
    int yes;
    ar_status s = l->db->vt->has_table(l->db, "ar_meta", &yes);
    if (s)
        return ar__fail(err, s, "%s: %s", url, l->db->err);
    if (!yes) {
        *version = 0;
        return AR_OK;
    }
    ar__rows r;
    ar__rows_init(&r);
    s = q(l, "SELECT key, value FROM ar_meta WHERE key IN ('application', 'schema_version')", NULL,
          0, &r);
    if (s) {
        ar__rows_clear(&r);
        return ar__fail(err, s, "%s: %s", url, l->err);
    }
    const char *app = NULL, *ver = NULL;
    for (size_t k = 0; k < r.n_rows; k++) {
        const char *key = ar__cell_text(&r, k, 0);
        if (key && strcmp(key, "application") == 0)
            app = ar__cell_text(&r, k, 1);
        else if (key && strcmp(key, "schema_version") == 0)
            ver = ar__cell_text(&r, k, 1);
    }
    int64_t v = 0;
    if (!app || strcmp(app, APPLICATION) != 0 || !ver || !ar__parse_i64(ver, 1, 1000000, &v))
        s = ar__fail(err, AR_ECORRUPT, "%s: not an agentrec ledger (its ar_meta table is foreign)",
                     url);
    ar__rows_clear(&r);
    *version = (int)v;
    return s;
}

static ar_status migrate(ar_ledger *l, int max_version, ar_error *err, const char *url) {
    int version;
    ar_status s = read_version(l, &version, err, url);
    if (s)
        return s;
    if (version > AR__LEDGER_SCHEMA_VERSION)
        return ar__fail(err, AR_EVERSION,
                        "%s: ledger schema version %d is newer than this agentrec knows (%d); "
                        "upgrade agentrec",
                        url, version, AR__LEDGER_SCHEMA_VERSION);
    if (version >= max_version) {
        l->version = version;
        return AR_OK;
    }
    if (version == 0 && l->db->vt == NULL)
        return AR_EINVAL;
    if (version == 0) {
        int64_t n_tables;
        if ((s = l->db->vt->n_tables(l->db, &n_tables)) != AR_OK)
            return ar__fail(err, s, "%s: %s", url, l->db->err);
        if (n_tables > 0 && strcmp(l->db->vt->name, "sqlite") == 0)
            return ar__fail(err, AR_ECORRUPT,
                            "%s: an SQLite database but not an agentrec ledger (it has other "
                            "tables and no ar_meta)",
                            url);
    }
    /* Upgrade under the write lock, re-reading the version: another process may have done it. */
    if ((s = tx_begin(l)) != AR_OK)
        return ar__fail(err, s, "%s: %s", url, l->err);
    if ((s = l->db->vt->lock_schema(l->db)) != AR_OK) {
        ar__ledger_fail(l, s, "%s", l->db->err);
        tx_end(l, s);
        return ar__fail(err, s, "%s: %s", url, l->err);
    }
    if ((s = read_version(l, &version, err, url)) != AR_OK) {
        tx_end(l, s);
        return s;
    }
    if (version > AR__LEDGER_SCHEMA_VERSION) {
        tx_end(l, AR_EVERSION);
        return ar__fail(err, AR_EVERSION, "%s: ledger schema version %d is newer than %d", url,
                        version, AR__LEDGER_SCHEMA_VERSION);
    }
    for (int v = version + 1; v <= max_version && !s; v++) {
        char *ddl = expand(l->db, migrations[v - 1]);
        if (!ddl) {
            s = ar__ledger_fail(l, AR_ENOMEM, "out of memory");
            break;
        }
        s = l->db->vt->exec(l->db, ddl);
        ar__free(ddl);
        if (s)
            ar__ledger_fail(l, s, "migration to schema %d: %s", v, l->db->err);
    }
    if (!s && version == 0) {
        ar__val p[2] = {ar__vtext("application"), ar__vtext(APPLICATION)};
        s = q(l, "INSERT INTO ar_meta (key, value) VALUES (?, ?)", p, 2, NULL);
    }
    if (!s) {
        char vbuf[24];
        snprintf(vbuf, sizeof vbuf, "%d", max_version);
        ar__val p[2] = {ar__vtext("schema_version"), ar__vtext(vbuf)};
        s = q(l,
              "INSERT INTO ar_meta (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
              p, 2, NULL);
    }
    if (!s && strcmp(l->db->vt->name, "sqlite") == 0)
        s = q(l, "PRAGMA application_id = 1095912519", NULL, 0, NULL); /* "ARLG" */
    s = tx_end(l, s);
    if (s)
        return ar__fail(err, s, "%s: %s", url, l->err);
    l->version = max_version;
    return AR_OK;
}

ar_status ar_ledger_recover(ar_ledger *l, int64_t *n_out) {
    if (n_out)
        *n_out = 0;
    ar_status s = tx_begin(l);
    if (s)
        return s;
    ar__rows r;
    ar__rows_init(&r);
    ar__val p = ar__vtext(l->host);
    s = q(l, "SELECT id, pid, proc_token FROM runs WHERE status = 'running' AND host = ?", &p, 1,
          &r);
    int64_t n = 0;
    double now = ar__wall_now();
    for (size_t k = 0; !s && k < r.n_rows; k++) {
        const char *tok = ar__cell_text(&r, k, 2);
        if (ar__proc_alive(ar__cell_int(&r, k, 1), tok ? tok : ""))
            continue;
        ar__val u[2] = {ar__vreal(now), ar__vint(ar__cell_int(&r, k, 0))};
        s = q(l, "UPDATE runs SET status = 'interrupted', ended = ? WHERE id = ?", u, 2, NULL);
        n++;
    }
    ar__rows_clear(&r);
    s = tx_end(l, s);
    if (!s && n_out)
        *n_out = n;
    return s;
}

/* Splits a URL into backend and location. */
static ar_status parse_url(const char *url, int *is_pg, const char **path, ar_error *err) {
    if (!url || !*url)
        return ar__fail(err, AR_EINVAL, "empty ledger URL");
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        *is_pg = 1;
        *path = url;
        return AR_OK;
    }
    *is_pg = 0;
    if (strncmp(url, "sqlite://", 9) == 0) {
        /* sqlite:///abs -> /abs and sqlite://rel -> rel; but sqlite:///./rel and
         * sqlite:///../rel are relative, as in SQLAlchemy and MLflow (the default URL,
         * sqlite:///./agentrec.db, is the working directory's agentrec.db). */
        *path = url + 9;
        if (strncmp(*path, "/./", 3) == 0 || strncmp(*path, "/../", 4) == 0)
            (*path)++;
        if (!**path)
            return ar__fail(err, AR_EINVAL, "%s: no path after sqlite://", url);
        return AR_OK;
    }
    if (strstr(url, "://"))
        return ar__fail(err, AR_EINVAL,
                        "%s: unknown ledger URL scheme (use sqlite:///path or postgres://...)",
                        url);
    *path = url;
    return AR_OK;
}

ar_status ar__ledger_open_version(const char *url, const ar_ledger_options *opt, int max_version,
                                  ar_ledger **out, ar_error *err) {
    *out = NULL;
    ar_ledger_options o = opt ? *opt : ar_ledger_options_default();
    const char *bad = ar_ledger_options_check(&o);
    if (bad)
        return ar__fail(err, AR_EINVAL, "ledger options: %s", bad);
    int is_pg = 0;
    const char *path = NULL;
    ar_status s = parse_url(url, &is_pg, &path, err);
    if (s)
        return s;
    if (!is_pg && !o.create && access(path, F_OK) != 0)
        return ar__fail(err, AR_ENOTFOUND, "%s: no ledger there", url);
    ar_ledger *l = ar__calloc(1, sizeof *l);
    if (!l)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    s = is_pg ? ar__db_pg_open(path, o.busy_timeout_ms, &l->db, err)
              : ar__db_sqlite_open(path, o.busy_timeout_ms, o.durable, o.create, &l->db, err);
    if (s) {
        ar__free(l);
        return s;
    }
    ar__proc_self(l->host, sizeof l->host, l->token, sizeof l->token);
    l->pid = (int64_t)getpid();
    if (!o.create && is_pg) {
        int yes = 0;
        if ((s = l->db->vt->has_table(l->db, "ar_meta", &yes)) != AR_OK || !yes) {
            if (!s)
                s = ar__fail(err, AR_ENOTFOUND, "%s: no ledger there", url);
            else
                ar__fail(err, s, "%s: %s", url, l->db->err);
            ar_ledger_free(l);
            return s;
        }
    }
    if ((s = migrate(l, max_version, err, url)) != AR_OK) {
        ar_ledger_free(l);
        return s;
    }
    if (o.recover && (s = ar_ledger_recover(l, &l->recovered)) != AR_OK) {
        ar__fail(err, s, "%s: recovering runs of dead processes: %s", url, l->err);
        ar_ledger_free(l);
        return s;
    }
    *out = l;
    return AR_OK;
}

ar_status ar_ledger_open(const char *url, const ar_ledger_options *opt, ar_ledger **out,
                         ar_error *err) {
    return ar__ledger_open_version(url, opt, AR__LEDGER_SCHEMA_VERSION, out, err);
}

void ar_ledger_free(ar_ledger *l) {
    if (!l)
        return;
    if (l->db)
        l->db->vt->close(l->db);
    ar__free(l);
}

const char *ar_ledger_errmsg(const ar_ledger *l) {
    return l ? l->err : "no ledger";
}
const char *ar_ledger_backend(const ar_ledger *l) {
    return l->db->vt->name;
}
int ar_ledger_schema_version(const ar_ledger *l) {
    return l->version;
}
int64_t ar_ledger_recovered(const ar_ledger *l) {
    return l->recovered;
}

ar_status ar_ledger_check(ar_ledger *l) {
    l->err[0] = 0;
    ar_status s = l->db->vt->check(l->db);
    if (s)
        ar__ledger_fail(l, s, "%s", l->db->err);
    return s;
}

/* -- Fingerprints ---------------------------------------------------------------------------- */

ar_fingerprint ar_fingerprint_from_stats(const ar_dataset_stats *st) {
    ar_fingerprint f;
    memset(&f, 0, sizeof f);
    f.users = st->users;
    f.items = st->items;
    f.interactions = st->interactions;
    f.density = st->density;
    f.pop_gini = st->pop_gini;
    f.per_user = st->users > 0 ? (double)st->interactions / st->users : 0;
    return f;
}

static double lg(double x) {
    return log(x > 1e-12 ? x : 1e-12);
}

double ar_fingerprint_distance(const ar_fingerprint *a, const ar_fingerprint *b) {
    double d[6] = {lg((double)a->users) - lg((double)b->users),
                   lg((double)a->items) - lg((double)b->items),
                   lg((double)a->interactions) - lg((double)b->interactions),
                   lg(a->density) - lg(b->density),
                   4.0 * (a->pop_gini - b->pop_gini),
                   lg(a->per_user) - lg(b->per_user)};
    double s = 0;
    for (int k = 0; k < 6; k++)
        s += d[k] * d[k];
    return sqrt(s);
}

/* -- Writes ------------------------------------------------------------------------------------ */

ar_status ar_ledger_agent_put(ar_ledger *l, const ar_ledger_agent *a, int64_t *id) {
    if (id)
        *id = 0;
    ar_status s = need_text(l, a ? a->name : NULL, "agent name");
    if (s)
        return s;
    char *space = NULL;
    if (a->decision_space && (s = norm_json(l, "decision_space", a->decision_space, 0, &space)))
        return s;
    if ((s = tx_begin(l)) != AR_OK) {
        free(space);
        return s;
    }
    ar__val p[5] = {
        ar__vtext(a->name), ar__vtext(a->kind ? a->kind : "agent"), ar__vtext(space ? space : "{}"),
        ar__vtext(a->promotion_evidence ? a->promotion_evidence : ""), ar__vreal(ar__wall_now())};
    int64_t v = 0;
    s = q_int(l,
              "INSERT INTO agents (name, kind, decision_space, promotion_evidence, created) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
              "decision_space = excluded.decision_space, "
              "promotion_evidence = excluded.promotion_evidence RETURNING id",
              p, 5, &v);
    free(space);
    s = tx_end(l, s);
    if (!s && id)
        *id = v;
    return s;
}

ar_run_spec ar_run_spec_default(void) {
    ar_run_spec s;
    memset(&s, 0, sizeof s);
    return s;
}

const char *ar_run_spec_check(const ar_run_spec *s) {
    if (!s)
        return "run spec is NULL";
    if (!s->agent || !*s->agent)
        return "agent is required";
    if (s->parent < 0)
        return "parent must be a run id or 0";
    const ar_fingerprint *f = &s->dataset_fp;
    if (f->users < 0 || f->items < 0 || f->interactions < 0 || !(f->density >= 0) ||
        !(f->pop_gini >= 0) || !(f->per_user >= 0) || !isfinite(f->density) ||
        !isfinite(f->per_user))
        return "dataset_fp has a negative or non-finite field";
    return NULL;
}

ar_status ar_ledger_run_begin(ar_ledger *l, const ar_run_spec *spec, int64_t *run) {
    *run = 0;
    const char *bad = ar_run_spec_check(spec);
    if (bad)
        return ar__ledger_fail(l, AR_EINVAL, "run spec: %s", bad);
    char *config;
    ar_status s = norm_json(l, "config", spec->config ? spec->config : "{}", 1, &config);
    if (s)
        return s;
    if ((s = tx_begin(l)) != AR_OK) {
        free(config);
        return s;
    }
    double now = ar__wall_now();
    ar__val pa[2] = {ar__vtext(spec->agent), ar__vreal(now)};
    s = q(l,
          "INSERT INTO agents (name, kind, decision_space, promotion_evidence, created) "
          "VALUES (?, 'agent', '{}', '', ?) ON CONFLICT (name) DO NOTHING",
          pa, 2, NULL);
    int64_t agent_id = 0;
    if (!s)
        s = q_int(l, "SELECT id FROM agents WHERE name = ?", pa, 1, &agent_id);
    if (!s && spec->parent)
        s = run_exists(l, spec->parent);
    if (!s) {
        const ar_fingerprint *f = &spec->dataset_fp;
        int has_fp = f->users > 0 || f->items > 0 || f->interactions > 0;
        ar__val p[16] = {
            ar__vint(agent_id),
            ar__vid(spec->parent),
            ar__vtext(config),
            ar__vtext(spec->dataset ? spec->dataset : ""),
            has_fp ? ar__vint(f->users) : ar__vnull(),
            has_fp ? ar__vint(f->items) : ar__vnull(),
            has_fp ? ar__vint(f->interactions) : ar__vnull(),
            has_fp ? ar__vreal(f->density) : ar__vnull(),
            has_fp ? ar__vreal(f->pop_gini) : ar__vnull(),
            has_fp ? ar__vreal(f->per_user) : ar__vnull(),
            ar__vtext(spec->code_version ? spec->code_version : ""),
            ar__vint((int64_t)spec->seed),
            ar__vreal(now),
            ar__vint(l->pid),
            ar__vtext(l->host),
            ar__vtext(l->token),
        };
        s = q_int(l,
                  "INSERT INTO runs (agent_id, parent_id, config, dataset, fp_users, fp_items, "
                  "fp_interactions, fp_density, fp_gini, fp_per_user, code_version, seed, "
                  "status, started, pid, host, proc_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                  "?, ?, ?, 'running', ?, ?, ?, ?) RETURNING id",
                  p, 16, run);
    }
    free(config);
    s = tx_end(l, s);
    if (s)
        *run = 0;
    return s;
}

ar_status ar_ledger_run_finish(ar_ledger *l, int64_t run, ar_run_status status, double cpu_seconds,
                               int64_t peak_memory) {
    if (status != AR_RUN_FINISHED && status != AR_RUN_FAILED)
        return ar__ledger_fail(l, AR_EINVAL, "a run finishes as 'finished' or 'failed'");
    ar_status s = tx_begin(l);
    if (s)
        return s;
    ar__val p[5] = {ar__vtext(ar_run_status_name(status)), ar__vreal(ar__wall_now()),
                    cpu_seconds >= 0 && isfinite(cpu_seconds) ? ar__vreal(cpu_seconds)
                                                              : ar__vnull(),
                    peak_memory >= 0 ? ar__vint(peak_memory) : ar__vnull(), ar__vint(run)};
    int64_t id;
    s = q_int(l,
              "UPDATE runs SET status = ?, ended = ?, cpu_seconds = ?, peak_memory = ? "
              "WHERE id = ? AND status = 'running' RETURNING id",
              p, 5, &id);
    if (s == AR_ENOTFOUND) {
        s = run_exists(l, run);
        if (!s)
            s = ar__ledger_fail(l, AR_EINVAL, "run %lld is not running", (long long)run);
    }
    return tx_end(l, s);
}

static ar_status put_kv(ar_ledger *l, const char *sql, int64_t run, const char *key,
                        const char *value) {
    ar_status s = need_text(l, key, "key");
    if (s)
        return s;
    if (!value)
        return ar__ledger_fail(l, AR_EINVAL, "value is NULL");
    if ((s = tx_begin(l)) != AR_OK)
        return s;
    s = run_exists(l, run);
    ar__val p[3] = {ar__vint(run), ar__vtext(key), ar__vtext(value)};
    if (!s)
        s = q(l, sql, p, 3, NULL);
    return tx_end(l, s);
}

ar_status ar_ledger_log_param(ar_ledger *l, int64_t run, const char *key, const char *value) {
    return put_kv(l,
                  "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) "
                  "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                  run, key, value);
}

ar_status ar_ledger_set_tag(ar_ledger *l, int64_t run, const char *key, const char *value) {
    return put_kv(l,
                  "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
                  "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                  run, key, value);
}

static ar_status check_point(ar_ledger *l, const ar_metric_point *m, size_t k) {
    if (!m->name || !*m->name)
        return ar__ledger_fail(l, AR_EINVAL, "metric %zu: name is required", k);
    if (!isfinite(m->value))
        return ar__ledger_fail(l, AR_EINVAL, "metric %s: value is not finite", m->name);
    if (m->scope != AR_SCOPE_INNER && m->scope != AR_SCOPE_OUTER)
        return ar__ledger_fail(l, AR_EINVAL, "metric %s: bad scope", m->name);
    return AR_OK;
}

#define INSERT_METRIC                                                                              \
    "INSERT INTO metrics (run_id, name, value, step, scope, split, at) "                           \
    "VALUES (?, ?, ?, ?, ?, ?, ?)"

ar_status ar_ledger_log_metrics(ar_ledger *l, int64_t run, const ar_metric_point *m, size_t n) {
    if (n && !m)
        return ar__ledger_fail(l, AR_EINVAL, "metrics are NULL");
    for (size_t k = 0; k < n; k++) {
        ar_status s = check_point(l, &m[k], k);
        if (s)
            return s;
    }
    ar_status s = tx_begin(l);
    if (s)
        return s;
    s = run_exists(l, run);
    double now = ar__wall_now();
    for (size_t k = 0; k < n && !s; k++) {
        ar__val p[7] = {ar__vint(run),
                        ar__vtext(m[k].name),
                        ar__vreal(m[k].value),
                        ar__vint(m[k].step),
                        ar__vtext(ar_scope_name(m[k].scope)),
                        ar__vtext(m[k].split ? m[k].split : ""),
                        ar__vreal(now)};
        s = q(l, INSERT_METRIC, p, 7, NULL);
    }
    return tx_end(l, s);
}

ar_status ar_ledger_log_metric(ar_ledger *l, int64_t run, const ar_metric_point *m, int64_t *id) {
    if (id)
        *id = 0;
    if (!m)
        return ar__ledger_fail(l, AR_EINVAL, "metric is NULL");
    ar_status s = check_point(l, m, 0);
    if (s || (s = tx_begin(l)) != AR_OK)
        return s;
    s = run_exists(l, run);
    ar__val p[7] = {ar__vint(run),
                    ar__vtext(m->name),
                    ar__vreal(m->value),
                    ar__vint(m->step),
                    ar__vtext(ar_scope_name(m->scope)),
                    ar__vtext(m->split ? m->split : ""),
                    ar__vreal(ar__wall_now())};
    int64_t v = 0;
    if (!s)
        s = q_int(l, INSERT_METRIC " RETURNING id", p, 7, &v);
    s = tx_end(l, s);
    if (!s && id)
        *id = v;
    return s;
}

ar_status ar_ledger_log_decision(ar_ledger *l, const ar_decision_spec *d, int64_t *id) {
    if (id)
        *id = 0;
    if (!d)
        return ar__ledger_fail(l, AR_EINVAL, "decision is NULL");
    ar_status s = need_text(l, d->rationale, "rationale");
    if (s)
        return s;
    if ((int)d->action < 0 || d->action > AR_ACTION_HOLD || (int)d->decider < 0 ||
        d->decider > AR_DECIDER_PERSON)
        return ar__ledger_fail(l, AR_EINVAL, "bad action or decider");
    if (d->n_evidence && !d->evidence)
        return ar__ledger_fail(l, AR_EINVAL, "evidence is NULL");
    if ((s = tx_begin(l)) != AR_OK)
        return s;
    if (d->run)
        s = run_exists(l, d->run);
    int64_t v = 0;
    if (!s) {
        ar__val p[6] = {ar__vid(d->run),
                        ar__vtext(ar_action_name(d->action)),
                        ar__vtext(d->rationale),
                        ar__vtext(ar_decider_name(d->decider)),
                        ar__vtext(d->decided_by ? d->decided_by : ""),
                        ar__vreal(ar__wall_now())};
        s = q_int(l,
                  "INSERT INTO decisions (run_id, action, rationale, decider, decided_by, at) "
                  "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                  p, 6, &v);
    }
    for (size_t k = 0; k < d->n_evidence && !s; k++) {
        int64_t one;
        ar__val pm = ar__vint(d->evidence[k]);
        s = q_int(l, "SELECT 1 FROM metrics WHERE id = ?", &pm, 1, &one);
        if (s == AR_ENOTFOUND) {
            s = ar__ledger_fail(l, AR_ENOTFOUND, "evidence: metric %lld does not exist",
                                (long long)d->evidence[k]);
            break;
        }
        ar__val p[2] = {ar__vint(v), ar__vint(d->evidence[k])};
        if (!s)
            s = q(l,
                  "INSERT INTO decision_evidence (decision_id, metric_id) VALUES (?, ?) "
                  "ON CONFLICT DO NOTHING",
                  p, 2, NULL);
    }
    s = tx_end(l, s);
    if (!s && id)
        *id = v;
    return s;
}

ar_status ar_ledger_log_artifact(ar_ledger *l, int64_t run, const char *kind, const char *path,
                                 int64_t *id) {
    if (id)
        *id = 0;
    ar_status s = need_text(l, kind, "artifact kind");
    if (s || (s = need_text(l, path, "artifact path")) != AR_OK)
        return s;
    char hex[65];
    int64_t bytes;
    ar_error e;
    if ((s = ar__sha256_file(path, hex, &bytes, &e)) != AR_OK)
        return ar__ledger_fail(l, s, "%s", e.msg);
    if ((s = tx_begin(l)) != AR_OK)
        return s;
    s = run_exists(l, run);
    ar__val p[6] = {ar__vint(run),  ar__vtext(kind), ar__vtext(path),
                    ar__vtext(hex), ar__vint(bytes), ar__vreal(ar__wall_now())};
    int64_t v = 0;
    if (!s)
        s = q_int(l,
                  "INSERT INTO artifacts (run_id, kind, path, sha256, bytes, at) "
                  "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                  p, 6, &v);
    s = tx_end(l, s);
    if (!s && id)
        *id = v;
    return s;
}

static ar_status add_history(ar_ledger *l, int64_t model_id, ar_stage stage, const char *reason) {
    ar__val p[4] = {ar__vint(model_id), ar__vtext(ar_stage_name(stage)),
                    ar__vtext(reason ? reason : ""), ar__vreal(ar__wall_now())};
    return q(l, "INSERT INTO stage_history (model_id, stage, reason, at) VALUES (?, ?, ?, ?)", p, 4,
             NULL);
}

ar_status ar_ledger_model_register(ar_ledger *l, const char *name, int64_t run, int32_t *version) {
    if (version)
        *version = 0;
    ar_status s = need_text(l, name, "model name");
    if (s || (s = tx_begin(l)) != AR_OK)
        return s;
    s = run_exists(l, run);
    int64_t v = 0, id = 0;
    ar__val pn = ar__vtext(name);
    if (!s)
        s = q_int(l, "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?", &pn,
                  1, &v);
    if (!s) {
        ar__val p[4] = {ar__vtext(name), ar__vint(v), ar__vint(run), ar__vreal(ar__wall_now())};
        s = q_int(l,
                  "INSERT INTO model_versions (name, version, run_id, stage, created) "
                  "VALUES (?, ?, ?, 'candidate', ?) RETURNING id",
                  p, 4, &id);
    }
    if (!s)
        s = add_history(l, id, AR_STAGE_CANDIDATE, "registered");
    s = tx_end(l, s);
    if (!s && version)
        *version = (int32_t)v;
    return s;
}

static ar_status model_id(ar_ledger *l, const char *name, int32_t version, int64_t *id) {
    ar__val p[2] = {ar__vtext(name), ar__vint(version)};
    ar_status s =
        q_int(l, "SELECT id FROM model_versions WHERE name = ? AND version = ?", p, 2, id);
    if (s == AR_ENOTFOUND)
        return ar__ledger_fail(l, AR_ENOTFOUND, "model %s has no version %d", name, (int)version);
    return s;
}

ar_status ar_ledger_model_stage(ar_ledger *l, const char *name, int32_t version, ar_stage stage,
                                const char *reason) {
    ar_status s = need_text(l, name, "model name");
    if (s)
        return s;
    if ((int)stage < 0 || stage > AR_STAGE_ARCHIVED)
        return ar__ledger_fail(l, AR_EINVAL, "bad stage");
    if ((s = tx_begin(l)) != AR_OK)
        return s;
    int64_t id = 0;
    s = model_id(l, name, version, &id);
    if (!s && stage == AR_STAGE_PRODUCTION) {
        /* One production version per model: the previous one is archived. */
        ar__rows r;
        ar__rows_init(&r);
        ar__val p[2] = {ar__vtext(name), ar__vint(id)};
        s = q(l,
              "UPDATE model_versions SET stage = 'archived' WHERE name = ? AND "
              "stage = 'production' AND id <> ? RETURNING id, version",
              p, 2, &r);
        for (size_t k = 0; k < r.n_rows && !s; k++) {
            char why[96];
            snprintf(why, sizeof why, "replaced in production by version %d", (int)version);
            s = add_history(l, ar__cell_int(&r, k, 0), AR_STAGE_ARCHIVED, why);
        }
        ar__rows_clear(&r);
    }
    if (!s) {
        ar__val p[2] = {ar__vtext(ar_stage_name(stage)), ar__vint(id)};
        s = q(l, "UPDATE model_versions SET stage = ? WHERE id = ?", p, 2, NULL);
    }
    if (!s)
        s = add_history(l, id, stage, reason);
    return tx_end(l, s);
}

ar_status ar_ledger_model_alias(ar_ledger *l, const char *name, int32_t version,
                                const char *alias) {
    ar_status s = need_text(l, name, "model name");
    if (s || (s = need_text(l, alias, "alias")) != AR_OK || (s = tx_begin(l)) != AR_OK)
        return s;
    int64_t id = 0;
    s = model_id(l, name, version, &id);
    ar__val p[2] = {ar__vtext(name), ar__vtext(alias)};
    if (!s)
        s = q(l, "UPDATE model_versions SET alias = NULL WHERE name = ? AND alias = ?", p, 2, NULL);
    ar__val p2[2] = {ar__vtext(alias), ar__vint(id)};
    if (!s)
        s = q(l, "UPDATE model_versions SET alias = ? WHERE id = ?", p2, 2, NULL);
    return tx_end(l, s);
}

ar_status ar_ledger_experiment_begin(ar_ledger *l, const ar_experiment_spec *e, int64_t *id) {
    if (id)
        *id = 0;
    ar_status s = need_text(l, e ? e->name : NULL, "experiment name");
    if (s)
        return s;
    char *variants = NULL, *alloc = NULL;
    if ((s = norm_json(l, "variants", e->variants ? e->variants : "[]", 0, &variants)) ||
        (s = norm_json(l, "allocation", e->allocation ? e->allocation : "{}", 0, &alloc)) ||
        (s = tx_begin(l))) {
        free(variants);
        free(alloc);
        return s;
    }
    ar__val p[4] = {ar__vtext(e->name), ar__vtext(variants), ar__vtext(alloc),
                    ar__vreal(ar__wall_now())};
    int64_t v = 0;
    s = q_int(l,
              "INSERT INTO experiments (name, variants, allocation, started) VALUES (?, ?, ?, ?) "
              "RETURNING id",
              p, 4, &v);
    free(variants);
    free(alloc);
    s = tx_end(l, s);
    if (!s && id)
        *id = v;
    return s;
}

ar_status ar_ledger_experiment_end(ar_ledger *l, int64_t id, const char *result) {
    char *res = NULL;
    ar_status s = norm_json(l, "result", result ? result : "{}", 0, &res);
    if (s)
        return s;
    if ((s = tx_begin(l)) != AR_OK) {
        free(res);
        return s;
    }
    ar__val p[3] = {ar__vreal(ar__wall_now()), ar__vtext(res), ar__vint(id)};
    int64_t v;
    s = q_int(l,
              "UPDATE experiments SET ended = ?, result = ? WHERE id = ? AND ended IS NULL "
              "RETURNING id",
              p, 3, &v);
    free(res);
    if (s == AR_ENOTFOUND)
        s = ar__ledger_fail(l, AR_EINVAL, "experiment %lld does not exist or already ended",
                            (long long)id);
    return tx_end(l, s);
}

ar_status ar_ledger_log_guardrail(ar_ledger *l, const ar_guardrail_event *g, int64_t *id) {
    if (id)
        *id = 0;
    ar_status s = need_text(l, g ? g->name : NULL, "guardrail name");
    if (s || (s = need_text(l, g->action, "guardrail action")) != AR_OK)
        return s;
    if (!isfinite(g->value) || !isfinite(g->threshold))
        return ar__ledger_fail(l, AR_EINVAL, "guardrail %s: value and threshold must be finite",
                               g->name);
    if ((s = tx_begin(l)) != AR_OK)
        return s;
    if (g->run)
        s = run_exists(l, g->run);
    ar__val p[8] = {ar__vid(g->run),
                    ar__vid(g->experiment),
                    ar__vtext(g->name),
                    ar__vreal(g->value),
                    ar__vreal(g->threshold),
                    ar__vtext(g->action),
                    ar__vtext(g->detail ? g->detail : ""),
                    ar__vreal(ar__wall_now())};
    int64_t v = 0;
    if (!s)
        s = q_int(l,
                  "INSERT INTO guardrail_events (run_id, experiment_id, name, value, threshold, "
                  "action, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                  p, 8, &v);
    s = tx_end(l, s);
    if (!s && id)
        *id = v;
    return s;
}
