/*
 * ledger_query.c -- the ledger's read side: runs (filtered, best by a metric, lineage, similar
 * past work), metrics, params, tags, decisions, artifacts, the model registry, experiments and
 * guardrail events.
 *
 * Every list keeps the query's rows (an ar__rows) in its priv_ field and its strings point into
 * them, so one *_free() releases everything. A run's value of a metric is the value at its
 * latest step (ties: the latest logged).
 */
#define _POSIX_C_SOURCE 200809L
#include "knowledge/ledger_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lpriv {
    ar__rows rows, extra;
    int64_t *ev;
} lpriv;

static lpriv *lpriv_new(void) {
    lpriv *p = ar__calloc(1, sizeof *p);
    if (p) {
        ar__rows_init(&p->rows);
        ar__rows_init(&p->extra);
    }
    return p;
}

static void lpriv_free(void *v) {
    lpriv *p = v;
    if (!p)
        return;
    ar__rows_clear(&p->rows);
    ar__rows_clear(&p->extra);
    ar__free(p->ev);
    ar__free(p);
}

#define LIST_FREE(fn, type)                                                                        \
    void fn(type *list) {                                                                          \
        if (!list)                                                                                 \
            return;                                                                                \
        lpriv_free(list->priv_);                                                                   \
        ar__free(list->v);                                                                         \
        ar__free(list);                                                                            \
    }

LIST_FREE(ar_run_list_free, ar_run_list)
LIST_FREE(ar_metric_list_free, ar_metric_list)
LIST_FREE(ar_decision_list_free, ar_decision_list)
LIST_FREE(ar_artifact_list_free, ar_artifact_list)
LIST_FREE(ar_model_list_free, ar_model_list)
LIST_FREE(ar_stage_list_free, ar_stage_list)
LIST_FREE(ar_experiment_list_free, ar_experiment_list)
LIST_FREE(ar_guardrail_list_free, ar_guardrail_list)
LIST_FREE(ar_agent_list_free, ar_agent_list)

void ar_kv_list_free(ar_kv_list *list) {
    if (!list)
        return;
    lpriv_free(list->priv_);
    ar__free(list->key);
    ar__free(list->value);
    ar__free(list);
}

static const char *txt(const ar__rows *r, size_t row, size_t col) {
    const char *s = ar__cell_text(r, row, col);
    return s ? s : "";
}

/* Runs a query into a fresh lpriv; on success the caller owns *pp. */
static ar_status fetch(ar_ledger *l, const char *sql, const ar__val *p, int n, lpriv **pp) {
    *pp = NULL;
    l->err[0] = 0;
    lpriv *pr = lpriv_new();
    if (!pr)
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    ar_status s = ar__ledger_sql(l, sql, p, n, &pr->rows);
    if (s) {
        lpriv_free(pr);
        return s;
    }
    *pp = pr;
    return AR_OK;
}

/* -- Runs -------------------------------------------------------------------------------------- */

#define RUN_COLS                                                                                   \
    "r.id, r.parent_id, a.name, r.status, r.config, r.dataset, r.code_version, r.host, "           \
    "r.fp_users, r.fp_items, r.fp_interactions, r.fp_density, r.fp_gini, r.fp_per_user, "          \
    "r.seed, r.pid, r.started, r.ended, r.cpu_seconds, r.peak_memory"
#define N_RUN_COLS 20
#define RUN_FROM " FROM runs r JOIN agents a ON a.id = r.agent_id"

static void run_from_row(const ar__rows *r, size_t k, ar_run *o, int score_col, int depth_col) {
    memset(o, 0, sizeof *o);
    o->id = ar__cell_int(r, k, 0);
    o->parent = ar__cell_int(r, k, 1);
    o->agent = txt(r, k, 2);
    int st = ar_run_status_parse(ar__cell_text(r, k, 3));
    o->status = st < 0 ? AR_RUN_INTERRUPTED : (ar_run_status)st;
    o->config = txt(r, k, 4);
    o->dataset = txt(r, k, 5);
    o->code_version = txt(r, k, 6);
    o->host = txt(r, k, 7);
    o->dataset_fp.users = ar__cell_int(r, k, 8);
    o->dataset_fp.items = ar__cell_int(r, k, 9);
    o->dataset_fp.interactions = ar__cell_int(r, k, 10);
    double d = ar__cell_real(r, k, 11), g = ar__cell_real(r, k, 12), pu = ar__cell_real(r, k, 13);
    o->dataset_fp.density = isnan(d) ? 0 : d;
    o->dataset_fp.pop_gini = isnan(g) ? 0 : g;
    o->dataset_fp.per_user = isnan(pu) ? 0 : pu;
    o->seed = (uint64_t)ar__cell_int(r, k, 14);
    o->pid = ar__cell_int(r, k, 15);
    o->started = ar__cell_real(r, k, 16);
    o->ended = ar__cell_real(r, k, 17);
    o->cpu_seconds = ar__cell_real(r, k, 18);
    o->peak_memory = ar__cell(r, k, 19)->t == AR__NULL ? -1 : ar__cell_int(r, k, 19);
    o->score = score_col >= 0 ? ar__cell_real(r, k, (size_t)score_col) : NAN;
    o->distance = NAN;
    o->depth = depth_col >= 0 ? (int)ar__cell_int(r, k, (size_t)depth_col) : 0;
}

static ar_status make_run_list(ar_ledger *l, lpriv *pr, int score_col, int depth_col,
                               ar_run_list **out) {
    ar_run_list *list = ar__calloc(1, sizeof *list);
    size_t n = pr->rows.n_rows;
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof(ar_run)))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++)
        run_from_row(&pr->rows, k, &list->v[k], score_col, depth_col);
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_run_query ar_run_query_default(void) {
    ar_run_query qy;
    memset(&qy, 0, sizeof qy);
    qy.status = -1;
    return qy;
}

const char *ar_run_query_check(const ar_run_query *qy) {
    if (!qy)
        return "query is NULL";
    if (qy->status < -1 || qy->status > AR_RUN_INTERRUPTED)
        return "status must be -1 or an ar_run_status";
    if (qy->scope != AR_SCOPE_INNER && qy->scope != AR_SCOPE_OUTER)
        return "scope must be inner or outer";
    if (qy->limit < 0)
        return "limit must be >= 0";
    if (qy->parent < 0)
        return "parent must be >= 0";
    return NULL;
}

/* Builds the filtered run query. Only constant fragments are concatenated; values go to p. */
static int build_runs_sql(const ar_run_query *qy, int similar, char *sql, size_t n, ar__val *p) {
    int np = 0;
    size_t len = 0;
#define ADD(str) len += (size_t)snprintf(sql + len, len < n ? n - len : 0, "%s", str)
    ADD("SELECT " RUN_COLS);
    if (qy->metric) {
        ADD(", m.value" RUN_FROM " JOIN metrics m ON m.run_id = r.id AND m.name = ? AND "
            "m.scope = ? AND m.split = ? AND m.id = (SELECT m2.id FROM metrics m2 WHERE "
            "m2.run_id = r.id AND m2.name = m.name AND m2.scope = m.scope AND m2.split = m.split "
            "ORDER BY m2.step DESC, m2.id DESC LIMIT 1)");
        p[np++] = ar__vtext(qy->metric);
        p[np++] = ar__vtext(ar_scope_name(qy->scope));
        p[np++] = ar__vtext(qy->split ? qy->split : "");
    } else {
        ADD(RUN_FROM);
    }
    ADD(" WHERE 1 = 1");
    if (qy->agent) {
        ADD(" AND a.name = ?");
        p[np++] = ar__vtext(qy->agent);
    }
    if (similar) {
        ADD(" AND r.status = 'finished' AND r.fp_users IS NOT NULL");
    } else {
        if (qy->status >= 0) {
            ADD(" AND r.status = ?");
            p[np++] = ar__vtext(ar_run_status_name((ar_run_status)qy->status));
        }
        if (qy->dataset) {
            ADD(" AND r.dataset = ?");
            p[np++] = ar__vtext(qy->dataset);
        }
        if (qy->parent) {
            ADD(" AND r.parent_id = ?");
            p[np++] = ar__vint(qy->parent);
        }
    }
    if (qy->metric)
        ADD(qy->minimize ? " ORDER BY m.value ASC, r.id ASC" : " ORDER BY m.value DESC, r.id ASC");
    else
        ADD(" ORDER BY r.id DESC");
    if (qy->limit > 0 && !similar) {
        ADD(" LIMIT ?");
        p[np++] = ar__vint(qy->limit);
    }
#undef ADD
    return len < n ? np : -1;
}

ar_status ar_ledger_runs(ar_ledger *l, const ar_run_query *qy, ar_run_list **out) {
    *out = NULL;
    ar_run_query def = ar_run_query_default();
    if (!qy)
        qy = &def;
    const char *bad = ar_run_query_check(qy);
    if (bad)
        return ar__ledger_fail(l, AR_EINVAL, "run query: %s", bad);
    char sql[2048];
    ar__val p[16];
    int np = build_runs_sql(qy, 0, sql, sizeof sql, p);
    if (np < 0)
        return ar__ledger_fail(l, AR_EINVAL, "run query too long");
    lpriv *pr;
    ar_status s = fetch(l, sql, p, np, &pr);
    if (s)
        return s;
    return make_run_list(l, pr, qy->metric ? N_RUN_COLS : -1, -1, out);
}

ar_status ar_ledger_run_get(ar_ledger *l, int64_t id, ar_run_list **out) {
    *out = NULL;
    lpriv *pr;
    ar__val p = ar__vint(id);
    ar_status s = fetch(l, "SELECT " RUN_COLS RUN_FROM " WHERE r.id = ?", &p, 1, &pr);
    if (s)
        return s;
    if (pr->rows.n_rows == 0) {
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOTFOUND, "run %lld does not exist", (long long)id);
    }
    return make_run_list(l, pr, -1, -1, out);
}

ar_status ar_ledger_lineage(ar_ledger *l, int64_t run, ar_lineage_dir dir, ar_run_list **out) {
    *out = NULL;
    if (dir < AR_LINEAGE_ANCESTORS || dir > AR_LINEAGE_BOTH)
        return ar__ledger_fail(l, AR_EINVAL, "bad lineage direction");
    lpriv *pr;
    ar__val p = ar__vint(run);
    ar_status s = fetch(l, "SELECT id FROM runs WHERE id = ?", &p, 1, &pr);
    if (s)
        return s;
    int found = pr->rows.n_rows > 0;
    lpriv_free(pr);
    if (!found)
        return ar__ledger_fail(l, AR_ENOTFOUND, "run %lld does not exist", (long long)run);
    /* Ancestors (depth <= 0, oldest first) then descendants (depth > 0), each by depth, id. */
    static const char *anc =
        "WITH RECURSIVE anc(id, depth) AS (SELECT r0.id, 0 FROM runs r0 WHERE r0.id = ? "
        "UNION ALL SELECT r.parent_id, anc.depth - 1 FROM runs r JOIN anc ON r.id = anc.id "
        "WHERE r.parent_id IS NOT NULL AND anc.depth > -100000) "
        "SELECT " RUN_COLS ", anc.depth FROM anc JOIN runs r ON r.id = anc.id "
        "JOIN agents a ON a.id = r.agent_id ORDER BY anc.depth, r.id";
    static const char *des =
        "WITH RECURSIVE des(id, depth) AS (SELECT r0.id, 0 FROM runs r0 WHERE r0.id = ? "
        "UNION ALL SELECT r.id, des.depth + 1 FROM runs r JOIN des ON r.parent_id = des.id "
        "WHERE des.depth < 100000) "
        "SELECT " RUN_COLS ", des.depth FROM des JOIN runs r ON r.id = des.id "
        "JOIN agents a ON a.id = r.agent_id WHERE des.depth > ? ORDER BY des.depth, r.id";
    if (!(pr = lpriv_new()))
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    if (dir & AR_LINEAGE_ANCESTORS)
        s = ar__ledger_sql(l, anc, &p, 1, &pr->rows);
    if (!s && (dir & AR_LINEAGE_DESCENDANTS)) {
        ar__val pd[2] = {ar__vint(run), ar__vint(dir & AR_LINEAGE_ANCESTORS ? 0 : -1)};
        s = ar__ledger_sql(l, des, pd, 2, &pr->rows);
    }
    if (s) {
        lpriv_free(pr);
        return s;
    }
    return make_run_list(l, pr, -1, N_RUN_COLS, out);
}

typedef struct sim_key {
    double dist, score;
    int64_t id;
    size_t idx;
} sim_key;

static int sim_cmp(const void *a, const void *b) {
    const sim_key *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

ar_status ar_ledger_similar(ar_ledger *l, const ar_fingerprint *fp, const ar_run_query *qy,
                            ar_run_list **out) {
    *out = NULL;
    const char *bad = ar_run_query_check(qy);
    if (bad || !fp || !qy->metric)
        return ar__ledger_fail(l, AR_EINVAL, "similar: %s",
                               bad   ? bad
                               : !fp ? "fingerprint is NULL"
                                     : "metric is required");
    char sql[2048];
    ar__val p[16];
    int np = build_runs_sql(qy, 1, sql, sizeof sql, p);
    lpriv *pr;
    ar_status s = fetch(l, sql, p, np, &pr);
    if (s)
        return s;
    ar_run_list *all;
    if ((s = make_run_list(l, pr, N_RUN_COLS, -1, &all)) != AR_OK)
        return s;
    sim_key *keys = ar__alloc_array(all->n ? all->n : 1, sizeof *keys);
    ar_run *sorted = ar__alloc_array(all->n ? all->n : 1, sizeof *sorted);
    if (!keys || !sorted) {
        ar__free(keys);
        ar__free(sorted);
        ar_run_list_free(all);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < all->n; k++) {
        all->v[k].distance = ar_fingerprint_distance(fp, &all->v[k].dataset_fp);
        /* Datasets closer than 1e-9 count as the same dataset: order them by score. */
        keys[k].dist = floor(all->v[k].distance * 1e9) / 1e9;
        keys[k].score = qy->minimize ? -all->v[k].score : all->v[k].score;
        keys[k].id = all->v[k].id;
        keys[k].idx = k;
    }
    qsort(keys, all->n, sizeof *keys, sim_cmp);
    size_t limit = qy->limit > 0 ? (size_t)qy->limit : 10, n = 0;
    for (size_t k = 0; k < all->n && n < limit; k++) {
        const ar_run *r = &all->v[keys[k].idx];
        int dup = 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strcmp(sorted[j].config, r->config) == 0;
        if (!dup)
            sorted[n++] = *r;
    }
    ar__free(all->v);
    all->v = sorted;
    all->n = n;
    ar__free(keys);
    *out = all;
    return AR_OK;
}

/* -- Metrics, params, tags ------------------------------------------------------------------- */

ar_status ar_ledger_metrics(ar_ledger *l, int64_t run, const char *name, ar_metric_list **out) {
    *out = NULL;
    char sql[512];
    ar__val p[2];
    int np = 0;
    snprintf(sql, sizeof sql,
             "SELECT id, run_id, name, split, value, step, scope, at FROM metrics WHERE 1 = 1%s%s "
             "ORDER BY run_id, name, scope, split, step, id",
             run ? " AND run_id = ?" : "", name ? " AND name = ?" : "");
    if (run)
        p[np++] = ar__vint(run);
    if (name)
        p[np++] = ar__vtext(name);
    lpriv *pr;
    ar_status s = fetch(l, sql, p, np, &pr);
    if (s)
        return s;
    ar_metric_list *list = ar__calloc(1, sizeof *list);
    size_t n = pr->rows.n_rows;
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    const ar__rows *r = &pr->rows;
    for (size_t k = 0; k < n; k++) {
        ar_metric_row *m = &list->v[k];
        m->id = ar__cell_int(r, k, 0);
        m->run = ar__cell_int(r, k, 1);
        m->name = txt(r, k, 2);
        m->split = txt(r, k, 3);
        m->value = ar__cell_real(r, k, 4);
        m->step = ar__cell_int(r, k, 5);
        m->scope = ar_scope_parse(ar__cell_text(r, k, 6)) == 1 ? AR_SCOPE_OUTER : AR_SCOPE_INNER;
        m->at = ar__cell_real(r, k, 7);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

static ar_status kv(ar_ledger *l, const char *sql, int64_t run, ar_kv_list **out) {
    *out = NULL;
    lpriv *pr;
    ar__val p = ar__vint(run);
    ar_status s = fetch(l, sql, &p, 1, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_kv_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->key = ar__alloc_array(n ? n : 1, sizeof(char *))) ||
        !(list->value = ar__alloc_array(n ? n : 1, sizeof(char *)))) {
        if (list)
            ar__free(list->key);
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        list->key[k] = txt(&pr->rows, k, 0);
        list->value[k] = txt(&pr->rows, k, 1);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_status ar_ledger_params(ar_ledger *l, int64_t run, ar_kv_list **out) {
    return kv(l, "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", run, out);
}

ar_status ar_ledger_tags(ar_ledger *l, int64_t run, ar_kv_list **out) {
    return kv(l, "SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", run, out);
}

/* -- Decisions --------------------------------------------------------------------------------- */

ar_status ar_ledger_decisions(ar_ledger *l, int64_t run, int64_t limit, ar_decision_list **out) {
    *out = NULL;
    char sql[512];
    ar__val p[2];
    int np = 0;
    snprintf(sql, sizeof sql,
             "SELECT id, run_id, action, rationale, decided_by, decider, at FROM decisions "
             "WHERE 1 = 1%s ORDER BY id DESC%s",
             run ? " AND run_id = ?" : "", limit > 0 ? " LIMIT ?" : "");
    if (run)
        p[np++] = ar__vint(run);
    if (limit > 0)
        p[np++] = ar__vint(limit);
    lpriv *pr;
    ar_status s = fetch(l, sql, p, np, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    if (n) {
        /* Evidence of the decisions fetched (ids between the oldest and newest of them). */
        ar__val pe[2] = {ar__vint(ar__cell_int(&pr->rows, n - 1, 0)),
                         ar__vint(ar__cell_int(&pr->rows, 0, 0))};
        s = ar__ledger_sql(l,
                           "SELECT decision_id, metric_id FROM decision_evidence WHERE "
                           "decision_id >= ? AND decision_id <= ? ORDER BY decision_id, metric_id",
                           pe, 2, &pr->extra);
        if (!s && pr->extra.n_rows &&
            !(pr->ev = ar__alloc_array(pr->extra.n_rows, sizeof(int64_t))))
            s = ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    ar_decision_list *list = NULL;
    if (!s && (!(list = ar__calloc(1, sizeof *list)) ||
               !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))))
        s = ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    if (s) {
        if (list)
            ar__free(list->v);
        ar__free(list);
        lpriv_free(pr);
        return s;
    }
    for (size_t e = 0; e < pr->extra.n_rows; e++)
        pr->ev[e] = ar__cell_int(&pr->extra, e, 1);
    const ar__rows *r = &pr->rows;
    for (size_t k = 0; k < n; k++) {
        size_t row = n - 1 - k; /* oldest first */
        ar_decision *d = &list->v[k];
        memset(d, 0, sizeof *d);
        d->id = ar__cell_int(r, row, 0);
        d->run = ar__cell_int(r, row, 1);
        int a = ar_action_parse(ar__cell_text(r, row, 2));
        d->action = a < 0 ? AR_ACTION_HOLD : (ar_action)a;
        d->rationale = txt(r, row, 3);
        d->decided_by = txt(r, row, 4);
        int w = ar_decider_parse(ar__cell_text(r, row, 5));
        d->decider = w < 0 ? AR_DECIDER_AGENT : (ar_decider)w;
        d->at = ar__cell_real(r, row, 6);
        for (size_t e = 0; e < pr->extra.n_rows; e++)
            if (ar__cell_int(&pr->extra, e, 0) == d->id) {
                if (!d->n_evidence)
                    d->evidence = &pr->ev[e];
                d->n_evidence++;
            }
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

/* -- Artifacts, registry, experiments, guardrails -------------------------------------------- */

ar_status ar_ledger_artifacts(ar_ledger *l, int64_t run, ar_artifact_list **out) {
    *out = NULL;
    lpriv *pr;
    ar__val p = ar__vint(run);
    ar_status s = run ? fetch(l,
                              "SELECT id, run_id, kind, path, sha256, bytes, at FROM artifacts "
                              "WHERE run_id = ? ORDER BY id",
                              &p, 1, &pr)
                      : fetch(l,
                              "SELECT id, run_id, kind, path, sha256, bytes, at FROM artifacts "
                              "ORDER BY id",
                              NULL, 0, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_artifact_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        ar_artifact *a = &list->v[k];
        a->id = ar__cell_int(&pr->rows, k, 0);
        a->run = ar__cell_int(&pr->rows, k, 1);
        a->kind = txt(&pr->rows, k, 2);
        a->path = txt(&pr->rows, k, 3);
        a->sha256 = txt(&pr->rows, k, 4);
        a->bytes = ar__cell_int(&pr->rows, k, 5);
        a->at = ar__cell_real(&pr->rows, k, 6);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_status ar_ledger_models(ar_ledger *l, const char *name, ar_model_list **out) {
    *out = NULL;
    lpriv *pr;
    ar__val p = ar__vtext(name);
    ar_status s = name ? fetch(l,
                               "SELECT name, version, run_id, stage, alias, created FROM "
                               "model_versions WHERE name = ? ORDER BY name, version",
                               &p, 1, &pr)
                       : fetch(l,
                               "SELECT name, version, run_id, stage, alias, created FROM "
                               "model_versions ORDER BY name, version",
                               NULL, 0, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_model_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        ar_model_version *m = &list->v[k];
        m->name = txt(&pr->rows, k, 0);
        m->version = (int32_t)ar__cell_int(&pr->rows, k, 1);
        m->run = ar__cell_int(&pr->rows, k, 2);
        int st = ar_stage_parse(ar__cell_text(&pr->rows, k, 3));
        m->stage = st < 0 ? AR_STAGE_CANDIDATE : (ar_stage)st;
        m->alias = ar__cell_text(&pr->rows, k, 4);
        m->created = ar__cell_real(&pr->rows, k, 5);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_status ar_ledger_stage_history(ar_ledger *l, const char *name, ar_stage_list **out) {
    *out = NULL;
    lpriv *pr;
    ar__val p = ar__vtext(name);
    ar_status s =
        name ? fetch(l,
                     "SELECT mv.name, mv.version, h.stage, h.reason, h.at FROM stage_history h "
                     "JOIN model_versions mv ON mv.id = h.model_id WHERE mv.name = ? ORDER BY h.id",
                     &p, 1, &pr)
             : fetch(l,
                     "SELECT mv.name, mv.version, h.stage, h.reason, h.at FROM stage_history h "
                     "JOIN model_versions mv ON mv.id = h.model_id ORDER BY h.id",
                     NULL, 0, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_stage_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        ar_stage_change *c = &list->v[k];
        c->name = txt(&pr->rows, k, 0);
        c->version = (int32_t)ar__cell_int(&pr->rows, k, 1);
        int st = ar_stage_parse(ar__cell_text(&pr->rows, k, 2));
        c->stage = st < 0 ? AR_STAGE_CANDIDATE : (ar_stage)st;
        c->reason = txt(&pr->rows, k, 3);
        c->at = ar__cell_real(&pr->rows, k, 4);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_status ar_ledger_experiments(ar_ledger *l, ar_experiment_list **out) {
    *out = NULL;
    lpriv *pr;
    ar_status s = fetch(l,
                        "SELECT id, name, variants, allocation, result, started, ended FROM "
                        "experiments ORDER BY id",
                        NULL, 0, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_experiment_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        ar_experiment *e = &list->v[k];
        e->id = ar__cell_int(&pr->rows, k, 0);
        e->name = txt(&pr->rows, k, 1);
        e->variants = txt(&pr->rows, k, 2);
        e->allocation = txt(&pr->rows, k, 3);
        e->result = ar__cell_text(&pr->rows, k, 4);
        e->started = ar__cell_real(&pr->rows, k, 5);
        e->ended = ar__cell_real(&pr->rows, k, 6);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_status ar_ledger_guardrails(ar_ledger *l, ar_guardrail_list **out) {
    *out = NULL;
    lpriv *pr;
    ar_status s = fetch(l,
                        "SELECT id, run_id, experiment_id, name, action, detail, value, "
                        "threshold, at FROM guardrail_events ORDER BY id",
                        NULL, 0, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_guardrail_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        ar_guardrail_row *g = &list->v[k];
        g->id = ar__cell_int(&pr->rows, k, 0);
        g->run = ar__cell_int(&pr->rows, k, 1);
        g->experiment = ar__cell_int(&pr->rows, k, 2);
        g->name = txt(&pr->rows, k, 3);
        g->action = txt(&pr->rows, k, 4);
        g->detail = txt(&pr->rows, k, 5);
        g->value = ar__cell_real(&pr->rows, k, 6);
        g->threshold = ar__cell_real(&pr->rows, k, 7);
        g->at = ar__cell_real(&pr->rows, k, 8);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}

ar_status ar_ledger_agents(ar_ledger *l, ar_agent_list **out) {
    *out = NULL;
    lpriv *pr;
    ar_status s = fetch(l,
                        "SELECT a.id, a.name, a.kind, a.decision_space, a.promotion_evidence, "
                        "a.created, (SELECT COUNT(*) FROM runs r WHERE r.agent_id = a.id) FROM "
                        "agents a ORDER BY a.name",
                        NULL, 0, &pr);
    if (s)
        return s;
    size_t n = pr->rows.n_rows;
    ar_agent_list *list = ar__calloc(1, sizeof *list);
    if (!list || !(list->v = ar__alloc_array(n ? n : 1, sizeof *list->v))) {
        ar__free(list);
        lpriv_free(pr);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        ar_agent_row *a = &list->v[k];
        a->id = ar__cell_int(&pr->rows, k, 0);
        a->name = txt(&pr->rows, k, 1);
        a->kind = txt(&pr->rows, k, 2);
        a->decision_space = txt(&pr->rows, k, 3);
        a->promotion_evidence = txt(&pr->rows, k, 4);
        a->created = ar__cell_real(&pr->rows, k, 5);
        a->runs = ar__cell_int(&pr->rows, k, 6);
    }
    list->n = n;
    list->priv_ = pr;
    *out = list;
    return AR_OK;
}
