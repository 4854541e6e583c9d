/*
 * The ledger's API test suite. The same tests run on SQLite (by default, on files in a temporary
 * directory) and on PostgreSQL when AR_LEDGER_TEST_PGHOST / AR_LEDGER_TEST_PGPORT name a server
 * (tests/integration/ledger_postgres.sh starts a throwaway one and runs this binary); each test
 * then gets a fresh database. Tests that only make sense for a file (corrupt or foreign files,
 * a full disk) run on SQLite only.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "knowledge/ledger_internal.h"

#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static const char *pg_host, *pg_port;
static int test_no;

typedef struct fixture {
    char url[512];
    char dbname[64];
    ar_ledger *l;
} fixture;

static void pg_admin(const char *sql) {
    char conn[512];
    snprintf(conn, sizeof conn, "postgresql:///postgres?host=%s&port=%s&user=postgres", pg_host,
             pg_port);
    PGconn *c = PQconnectdb(conn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    test_no++;
    if (pg_host) {
        snprintf(f->dbname, sizeof f->dbname, "ledger_t%d_%d", (int)getpid(), test_no);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->dbname);
        pg_admin(sql);
        snprintf(f->url, sizeof f->url, "postgresql:///%s?host=%s&port=%s&user=postgres", f->dbname,
                 pg_host, pg_port);
    } else {
        snprintf(f->url, sizeof f->url, "sqlite://%s/t%d.db", tmpdir, test_no);
    }
    ar_error err;
    ar_status s = ar_ledger_open(f->url, NULL, &f->l, &err);
    if (s)
        fail_msg("open %s: %s", f->url, err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ar_ledger_free(f->l);
    if (pg_host && f->dbname[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", f->dbname);
        pg_admin(sql);
    }
    free(f);
    return 0;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        ar_status s_ = (call);                                                                     \
        if (s_)                                                                                    \
            fail_msg("%s: %s (%s)", #call, ar_strerror(s_), ar_ledger_errmsg(f->l));               \
    } while (0)

static int64_t begin_run(fixture *f, const char *agent, int64_t parent, const char *config) {
    ar_run_spec sp = ar_run_spec_default();
    sp.agent = agent;
    sp.parent = parent;
    sp.config = config;
    sp.dataset = "ml-100k";
    sp.seed = 7;
    int64_t id;
    OK(ar_ledger_run_begin(f->l, &sp, &id));
    assert_true(id > 0);
    return id;
}

static int64_t count(fixture *f, const char *table_sql) {
    ar__rows r;
    ar__rows_init(&r);
    OK(ar__ledger_sql(f->l, table_sql, NULL, 0, &r));
    int64_t n = ar__cell_int(&r, 0, 0);
    ar__rows_clear(&r);
    return n;
}

static void test_open_reopen(void **state) {
    fixture *f = *state;
    assert_string_equal(ar_ledger_backend(f->l), pg_host ? "postgres" : "sqlite");
    assert_int_equal(ar_ledger_schema_version(f->l), ar_ledger_latest_schema_version());
    OK(ar_ledger_check(f->l));
    int64_t run = begin_run(f, "a", 0, NULL);
    ar_ledger_free(f->l);
    ar_error err;
    assert_int_equal(ar_ledger_open(f->url, NULL, &f->l, &err), AR_OK);
    ar_run_list *rl;
    OK(ar_ledger_run_get(f->l, run, &rl));
    assert_int_equal(rl->n, 1);
    assert_int_equal(rl->v[0].status, AR_RUN_RUNNING); /* this process is alive */
    ar_run_list_free(rl);
    ar_ledger_options o = ar_ledger_options_default();
    o.busy_timeout_ms = -1;
    assert_non_null(ar_ledger_options_check(&o));
    ar_ledger *l2;
    assert_int_equal(ar_ledger_open("mysql://x", NULL, &l2, &err), AR_EINVAL);
    assert_null(l2);
    assert_int_equal(ar_ledger_open(f->url, &o, &l2, &err), AR_EINVAL);
}

static void test_run_roundtrip(void **state) {
    fixture *f = *state;
    ar_ledger_agent ag = {"search", "model-search", "{\"dim\": [16, 64]}", "ndcg@20 +1% on test"};
    int64_t agent_id, again;
    OK(ar_ledger_agent_put(f->l, &ag, &agent_id));
    ag.kind = "hpo";
    OK(ar_ledger_agent_put(f->l, &ag, &again));
    assert_int_equal(agent_id, again);

    ar_run_spec sp = ar_run_spec_default();
    sp.agent = "search";
    sp.config = "{\"lr\": 0.01, \"dim\": 64}";
    sp.dataset = "gowalla";
    sp.code_version = "abc123";
    sp.seed = UINT64_MAX;
    sp.dataset_fp = (ar_fingerprint){1000, 500, 20000, 0.04, 0.6, 20.0};
    int64_t run;
    OK(ar_ledger_run_begin(f->l, &sp, &run));
    OK(ar_ledger_log_param(f->l, run, "lr", "0.01"));
    OK(ar_ledger_log_param(f->l, run, "lr", "0.02"));
    OK(ar_ledger_set_tag(f->l, run, "note", "first try"));
    ar_metric_point pts[3] = {{"loss", 0.9, 0, AR_SCOPE_INNER, "train"},
                              {"loss", 0.5, 1, AR_SCOPE_INNER, "train"},
                              {"ndcg@20", 0.31, 1, AR_SCOPE_OUTER, "test"}};
    OK(ar_ledger_log_metrics(f->l, run, pts, 3));
    OK(ar_ledger_run_finish(f->l, run, AR_RUN_FINISHED, 12.5, 1 << 20));
    assert_int_equal(ar_ledger_run_finish(f->l, run, AR_RUN_FINISHED, 1, 1), AR_EINVAL);
    assert_int_equal(ar_ledger_run_finish(f->l, 999, AR_RUN_FINISHED, 1, 1), AR_ENOTFOUND);
    assert_int_equal(ar_ledger_log_param(f->l, 999, "k", "v"), AR_ENOTFOUND);

    ar_run_list *rl;
    OK(ar_ledger_run_get(f->l, run, &rl));
    const ar_run *r = &rl->v[0];
    assert_string_equal(r->agent, "search");
    assert_string_equal(r->config, "{\"dim\":64,\"lr\":0.01}");
    assert_string_equal(r->dataset, "gowalla");
    assert_string_equal(r->code_version, "abc123");
    assert_true(r->seed == UINT64_MAX);
    assert_int_equal(r->status, AR_RUN_FINISHED);
    assert_int_equal(r->dataset_fp.users, 1000);
    assert_true(fabs(r->dataset_fp.pop_gini - 0.6) < 1e-12);
    assert_true(fabs(r->cpu_seconds - 12.5) < 1e-12);
    assert_int_equal(r->peak_memory, 1 << 20);
    assert_true(r->ended >= r->started);
    assert_int_equal(r->pid, getpid());
    ar_run_list_free(rl);

    ar_kv_list *kv;
    OK(ar_ledger_params(f->l, run, &kv));
    assert_int_equal(kv->n, 1);
    assert_string_equal(kv->value[0], "0.02");
    ar_kv_list_free(kv);
    OK(ar_ledger_tags(f->l, run, &kv));
    assert_string_equal(kv->key[0], "note");
    ar_kv_list_free(kv);

    ar_metric_list *ml;
    OK(ar_ledger_metrics(f->l, run, NULL, &ml));
    assert_int_equal(ml->n, 3);
    assert_string_equal(ml->v[0].name, "loss");
    assert_int_equal(ml->v[0].step, 0);
    assert_string_equal(ml->v[2].split, "test");
    assert_int_equal(ml->v[2].scope, AR_SCOPE_OUTER);
    ar_metric_list_free(ml);
    assert_int_equal(ar_ledger_run_get(f->l, 12345, &rl), AR_ENOTFOUND);
    assert_null(rl);
}

static void log_value(fixture *f, int64_t run, const char *name, double v, int64_t step) {
    ar_metric_point m = {name, v, step, AR_SCOPE_INNER, "valid"};
    OK(ar_ledger_log_metric(f->l, run, &m, NULL));
}

static void test_best(void **state) {
    fixture *f = *state;
    double vals[5] = {0.2, 0.5, 0.4, 0.1, 0.3};
    int64_t ids[5];
    for (int k = 0; k < 5; k++) {
        char cfg[32];
        snprintf(cfg, sizeof cfg, "{\"k\": %d}", k);
        ids[k] = begin_run(f, k < 3 ? "a" : "b", 0, cfg);
        log_value(f, ids[k], "recall", 0.9, 0); /* an early step: superseded */
        log_value(f, ids[k], "recall", vals[k], 5);
        OK(ar_ledger_run_finish(f->l, ids[k], AR_RUN_FINISHED, -1, -1));
    }
    ar_run_query qy = ar_run_query_default();
    qy.metric = "recall";
    qy.split = "valid";
    ar_run_list *rl;
    OK(ar_ledger_runs(f->l, &qy, &rl));
    assert_int_equal(rl->n, 5);
    assert_int_equal(rl->v[0].id, ids[1]);
    assert_true(fabs(rl->v[0].score - 0.5) < 1e-12);
    assert_int_equal(rl->v[4].id, ids[3]);
    ar_run_list_free(rl);
    qy.minimize = 1;
    qy.agent = "a";
    qy.limit = 2;
    OK(ar_ledger_runs(f->l, &qy, &rl));
    assert_int_equal(rl->n, 2);
    assert_int_equal(rl->v[0].id, ids[0]);
    assert_int_equal(rl->v[1].id, ids[2]);
    ar_run_list_free(rl);
    qy = ar_run_query_default();
    OK(ar_ledger_runs(f->l, &qy, &rl));
    assert_int_equal(rl->n, 5);
    assert_int_equal(rl->v[0].id, ids[4]); /* newest first */
    assert_true(isnan(rl->v[0].score));
    ar_run_list_free(rl);
    qy.status = 7;
    assert_int_equal(ar_ledger_runs(f->l, &qy, &rl), AR_EINVAL);
}

static void test_lineage(void **state) {
    fixture *f = *state;
    int64_t r1 = begin_run(f, "a", 0, NULL), r2 = begin_run(f, "a", r1, NULL),
            r3 = begin_run(f, "a", r2, NULL), r4 = begin_run(f, "a", r2, NULL);
    begin_run(f, "a", 0, NULL); /* unrelated */
    ar_run_list *rl;
    OK(ar_ledger_lineage(f->l, r3, AR_LINEAGE_ANCESTORS, &rl));
    assert_int_equal(rl->n, 3);
    assert_int_equal(rl->v[0].id, r1);
    assert_int_equal(rl->v[0].depth, -2);
    assert_int_equal(rl->v[2].id, r3);
    assert_int_equal(rl->v[2].depth, 0);
    ar_run_list_free(rl);
    OK(ar_ledger_lineage(f->l, r1, AR_LINEAGE_DESCENDANTS, &rl));
    assert_int_equal(rl->n, 4);
    assert_int_equal(rl->v[0].id, r1);
    assert_int_equal(rl->v[1].id, r2);
    assert_int_equal(rl->v[2].id, r3);
    assert_int_equal(rl->v[3].id, r4);
    assert_int_equal(rl->v[3].depth, 2);
    ar_run_list_free(rl);
    OK(ar_ledger_lineage(f->l, r2, AR_LINEAGE_BOTH, &rl));
    assert_int_equal(rl->n, 4);
    assert_int_equal(rl->v[0].id, r1);
    assert_int_equal(rl->v[1].id, r2);
    assert_int_equal(rl->v[1].parent, r1);
    ar_run_list_free(rl);
    assert_int_equal(ar_ledger_lineage(f->l, 999, AR_LINEAGE_BOTH, &rl), AR_ENOTFOUND);
    ar_run_spec sp = ar_run_spec_default();
    sp.agent = "a";
    sp.parent = 999;
    int64_t id;
    assert_int_equal(ar_ledger_run_begin(f->l, &sp, &id), AR_ENOTFOUND);
}

static void test_similar(void **state) {
    fixture *f = *state;
    ar_fingerprint small = {1000, 2000, 50000, 0.025, 0.5, 50};
    ar_fingerprint big = {1000000, 100000, 50000000, 0.0005, 0.8, 50};
    struct {
        ar_fingerprint *fp;
        const char *cfg;
        double v;
    } runs[] = {{&small, "{\"m\":\"ease\"}", 0.30},
                {&small, "{\"m\":\"als\"}", 0.35},
                {&small, "{\"m\":\"als\"}", 0.33},
                {&big, "{\"m\":\"lightgcn\"}", 0.5},
                {&big, "{\"m\":\"als\"}", 0.2}};
    for (size_t k = 0; k < 5; k++) {
        ar_run_spec sp = ar_run_spec_default();
        sp.agent = "s";
        sp.config = runs[k].cfg;
        sp.dataset_fp = *runs[k].fp;
        int64_t id;
        OK(ar_ledger_run_begin(f->l, &sp, &id));
        log_value(f, id, "ndcg", runs[k].v, 0);
        OK(ar_ledger_run_finish(f->l, id, AR_RUN_FINISHED, 1, 1));
    }
    ar_fingerprint near_small = {1200, 2100, 60000, 0.024, 0.52, 50};
    ar_run_query qy = ar_run_query_default();
    qy.metric = "ndcg";
    qy.split = "valid";
    ar_run_list *rl;
    OK(ar_ledger_similar(f->l, &near_small, &qy, &rl));
    assert_int_equal(rl->n, 3); /* one run per config: als (small), ease, lightgcn (big) */
    assert_string_equal(rl->v[0].config, "{\"m\":\"als\"}");
    assert_true(fabs(rl->v[0].score - 0.35) < 1e-12);
    assert_string_equal(rl->v[1].config, "{\"m\":\"ease\"}");
    assert_true(rl->v[2].distance > rl->v[1].distance);
    assert_string_equal(rl->v[2].config, "{\"m\":\"lightgcn\"}");
    ar_run_list_free(rl);
    assert_true(ar_fingerprint_distance(&small, &small) == 0);
}

static void test_decisions(void **state) {
    fixture *f = *state;
    int64_t run = begin_run(f, "a", 0, NULL);
    int64_t m1, m2;
    ar_metric_point m = {"ndcg", 0.3, 0, AR_SCOPE_OUTER, "test"};
    OK(ar_ledger_log_metric(f->l, run, &m, &m1));
    OK(ar_ledger_log_metric(f->l, run, &m, &m2));
    int64_t ev[2] = {m1, m2};
    ar_decision_spec d = {
        run,           AR_ACTION_ADOPT, "beats the baseline by 3%", ev, 2, AR_DECIDER_ORCHESTRATOR,
        "orchestrator"};
    int64_t id;
    OK(ar_ledger_log_decision(f->l, &d, &id));
    d.action = AR_ACTION_HOLD;
    d.run = 0;
    d.n_evidence = 0;
    d.decider = AR_DECIDER_PERSON;
    d.decided_by = "ana";
    OK(ar_ledger_log_decision(f->l, &d, NULL));
    int64_t bad[1] = {424242};
    d.evidence = bad;
    d.n_evidence = 1;
    assert_int_equal(ar_ledger_log_decision(f->l, &d, NULL), AR_ENOTFOUND);
    assert_non_null(strstr(ar_ledger_errmsg(f->l), "424242"));
    assert_int_equal(count(f, "SELECT count(*) FROM decisions"), 2); /* nothing half-written */
    d.rationale = "";
    assert_int_equal(ar_ledger_log_decision(f->l, &d, NULL), AR_EINVAL);
    ar_decision_list *dl;
    OK(ar_ledger_decisions(f->l, 0, 0, &dl));
    assert_int_equal(dl->n, 2);
    assert_int_equal(dl->v[0].id, id);
    assert_int_equal(dl->v[0].action, AR_ACTION_ADOPT);
    assert_int_equal(dl->v[0].n_evidence, 2);
    assert_int_equal(dl->v[0].evidence[1], m2);
    assert_string_equal(dl->v[1].decided_by, "ana");
    assert_int_equal(dl->v[1].run, 0);
    ar_decision_list_free(dl);
    OK(ar_ledger_decisions(f->l, 0, 1, &dl));
    assert_int_equal(dl->n, 1);
    assert_int_equal(dl->v[0].action, AR_ACTION_HOLD);
    ar_decision_list_free(dl);
}

static void test_artifacts(void **state) {
    fixture *f = *state;
    char path[300];
    snprintf(path, sizeof path, "%s/art%d.txt", tmpdir, test_no);
    FILE *fp = fopen(path, "w");
    fputs("abc", fp);
    fclose(fp);
    int64_t run = begin_run(f, "a", 0, NULL);
    OK(ar_ledger_log_artifact(f->l, run, "model", path, NULL));
    ar_artifact_list *al;
    OK(ar_ledger_artifacts(f->l, run, &al));
    assert_int_equal(al->n, 1);
    assert_string_equal(al->v[0].sha256,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(al->v[0].bytes, 3);
    assert_string_equal(al->v[0].path, path);
    ar_artifact_list_free(al);
    assert_int_equal(ar_ledger_log_artifact(f->l, run, "model", "/nonexistent/x", NULL), AR_EIO);
    unsigned char d[32];
    ar__sha256("", 0, d);
    assert_int_equal(d[0], 0xe3);
    assert_int_equal(d[31], 0x55);
}

static void test_registry(void **state) {
    fixture *f = *state;
    int64_t r1 = begin_run(f, "a", 0, NULL), r2 = begin_run(f, "a", r1, NULL);
    int32_t v1, v2;
    OK(ar_ledger_model_register(f->l, "ranker", r1, &v1));
    OK(ar_ledger_model_register(f->l, "ranker", r2, &v2));
    assert_int_equal(v1, 1);
    assert_int_equal(v2, 2);
    OK(ar_ledger_model_stage(f->l, "ranker", 1, AR_STAGE_PRODUCTION, "first"));
    OK(ar_ledger_model_alias(f->l, "ranker", 1, "champion"));
    OK(ar_ledger_model_stage(f->l, "ranker", 2, AR_STAGE_SHADOW, "shadow traffic"));
    OK(ar_ledger_model_stage(f->l, "ranker", 2, AR_STAGE_CANARY, "5%"));
    OK(ar_ledger_model_stage(f->l, "ranker", 2, AR_STAGE_PRODUCTION, "canary won"));
    OK(ar_ledger_model_alias(f->l, "ranker", 2, "champion"));
    assert_int_equal(ar_ledger_model_stage(f->l, "ranker", 9, AR_STAGE_SHADOW, ""), AR_ENOTFOUND);
    ar_model_list *ml;
    OK(ar_ledger_models(f->l, NULL, &ml));
    assert_int_equal(ml->n, 2);
    assert_int_equal(ml->v[0].stage, AR_STAGE_ARCHIVED);
    assert_null(ml->v[0].alias);
    assert_int_equal(ml->v[1].stage, AR_STAGE_PRODUCTION);
    assert_string_equal(ml->v[1].alias, "champion");
    assert_int_equal(ml->v[1].run, r2);
    ar_model_list_free(ml);
    ar_stage_list *sl;
    OK(ar_ledger_stage_history(f->l, "ranker", &sl));
    /* v1: candidate, production, archived; v2: candidate, shadow, canary, production */
    assert_int_equal(sl->n, 7);
    assert_int_equal(sl->v[0].stage, AR_STAGE_CANDIDATE);
    assert_int_equal(sl->v[5].stage, AR_STAGE_ARCHIVED);
    assert_int_equal(sl->v[5].version, 1);
    assert_int_equal(sl->v[6].stage, AR_STAGE_PRODUCTION);
    assert_string_equal(sl->v[6].reason, "canary won");
    ar_stage_list_free(sl);
}

static void test_experiments_guardrails(void **state) {
    fixture *f = *state;
    int64_t run = begin_run(f, "a", 0, NULL);
    ar_experiment_spec e = {"ab-1", "[{\"name\":\"A\"},{\"name\":\"B\"}]", "{\"B\":0.5,\"A\":0.5}"};
    int64_t id;
    OK(ar_ledger_experiment_begin(f->l, &e, &id));
    ar_guardrail_event g = {run, id, "p99_ms", 250, 200, "rollback", "latency"};
    OK(ar_ledger_log_guardrail(f->l, &g, NULL));
    OK(ar_ledger_experiment_end(f->l, id, "{\"winner\":\"B\"}"));
    assert_int_equal(ar_ledger_experiment_end(f->l, id, "{}"), AR_EINVAL);
    e.allocation = "{not json";
    assert_int_equal(ar_ledger_experiment_begin(f->l, &e, NULL), AR_EPARSE);
    ar_experiment_list *el;
    OK(ar_ledger_experiments(f->l, &el));
    assert_int_equal(el->n, 1);
    assert_string_equal(el->v[0].allocation, "{\"A\":0.5,\"B\":0.5}");
    assert_string_equal(el->v[0].result, "{\"winner\":\"B\"}");
    assert_false(isnan(el->v[0].ended));
    ar_experiment_list_free(el);
    ar_guardrail_list *gl;
    OK(ar_ledger_guardrails(f->l, &gl));
    assert_int_equal(gl->n, 1);
    assert_int_equal(gl->v[0].experiment, id);
    assert_true(gl->v[0].value == 250);
    ar_guardrail_list_free(gl);
}

static void test_injection_and_bad_input(void **state) {
    fixture *f = *state;
    const char *evil = "x'); DROP TABLE runs; --";
    ar_run_spec sp = ar_run_spec_default();
    sp.agent = evil;
    sp.dataset = "\"; DELETE FROM metrics; --";
    sp.config = "{\"'; DROP TABLE metrics; --\": \"?\"}";
    int64_t run;
    OK(ar_ledger_run_begin(f->l, &sp, &run));
    ar_metric_point m = {"name' OR '1'='1", 1.0, 0, AR_SCOPE_INNER, "? ?"};
    OK(ar_ledger_log_metric(f->l, run, &m, NULL));
    OK(ar_ledger_log_param(f->l, run, "?", "$1"));
    ar_run_query qy = ar_run_query_default();
    qy.agent = evil;
    ar_run_list *rl;
    OK(ar_ledger_runs(f->l, &qy, &rl));
    assert_int_equal(rl->n, 1);
    assert_string_equal(rl->v[0].agent, evil);
    assert_string_equal(rl->v[0].dataset, sp.dataset);
    ar_run_list_free(rl);
    ar_kv_list *kv;
    OK(ar_ledger_params(f->l, run, &kv));
    assert_string_equal(kv->key[0], "?");
    assert_string_equal(kv->value[0], "$1");
    ar_kv_list_free(kv);
    OK(ar_ledger_check(f->l));

    /* Bad input is refused with a message, and a batch is all or nothing. */
    sp.config = "{\"lr\": 0.1";
    assert_int_equal(ar_ledger_run_begin(f->l, &sp, &run), AR_EPARSE);
    assert_true(strlen(ar_ledger_errmsg(f->l)) > 0);
    sp.config = "[1, 2]";
    assert_int_equal(ar_ledger_run_begin(f->l, &sp, &run), AR_EPARSE);
    sp.agent = NULL;
    assert_int_equal(ar_ledger_run_begin(f->l, &sp, &run), AR_EINVAL);
    int64_t before = count(f, "SELECT count(*) FROM metrics");
    ar_metric_point batch[3] = {{"a", 1, 0, AR_SCOPE_INNER, NULL},
                                {"b", NAN, 0, AR_SCOPE_INNER, NULL},
                                {"c", 1, 0, AR_SCOPE_INNER, NULL}};
    int64_t r2 = begin_run(f, "ok", 0, NULL);
    assert_int_equal(ar_ledger_log_metrics(f->l, r2, batch, 3), AR_EINVAL);
    batch[1].value = 2;
    assert_int_equal(ar_ledger_log_metrics(f->l, 4242, batch, 3), AR_ENOTFOUND);
    assert_int_equal(count(f, "SELECT count(*) FROM metrics"), before);
}

static void test_versions(void **state) {
    fixture *f = *state;
    ar_ledger_free(f->l);
    f->l = NULL;
    if (pg_host) { /* a fresh database for the old-version ledger */
        char sql[160];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", f->dbname);
        pg_admin(sql);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->dbname);
        pg_admin(sql);
    } else {
        snprintf(f->url, sizeof f->url, "sqlite://%s/v%d.db", tmpdir, test_no);
    }
    ar_error err;
    /* A version-1 ledger is migrated forward, keeping its data. */
    OK(ar__ledger_open_version(f->url, NULL, 1, &f->l, &err));
    assert_int_equal(ar_ledger_schema_version(f->l), 1);
    int64_t run = begin_run(f, "old", 0, NULL);
    ar_ledger_free(f->l);
    OK(ar_ledger_open(f->url, NULL, &f->l, &err));
    assert_int_equal(ar_ledger_schema_version(f->l), AR__LEDGER_SCHEMA_VERSION);
    ar_guardrail_event g = {run, 0, "x", 1, 2, "alert", NULL};
    OK(ar_ledger_log_guardrail(f->l, &g, NULL));
    /* A ledger from the future is refused. */
    OK(ar__ledger_sql(f->l, "UPDATE ar_meta SET value = '99' WHERE key = 'schema_version'", NULL, 0,
                      NULL));
    ar_ledger_free(f->l);
    f->l = NULL;
    assert_int_equal(ar_ledger_open(f->url, NULL, &f->l, &err), AR_EVERSION);
    assert_non_null(strstr(err.msg, "99"));
    assert_null(f->l);
}

static void test_locked(void **state) {
    fixture *f = *state;
    int64_t run = begin_run(f, "a", 0, NULL);
    ar_ledger_options o = ar_ledger_options_default();
    o.busy_timeout_ms = 200;
    ar_ledger *other;
    ar_error err;
    OK(ar_ledger_open(f->url, &o, &other, &err));
    OK(f->l->db->vt->begin(f->l->db)); /* hold the write lock */
    double t0 = ar__now();
    ar_status s = ar_ledger_log_param(other, run, "k", "v");
    double waited = ar__now() - t0;
    assert_int_equal(s, AR_EIO);
    assert_non_null(strstr(ar_ledger_errmsg(other), "locked"));
    assert_true(waited >= 0.1);
    f->l->db->vt->rollback(f->l->db);
    OK(ar_ledger_log_param(other, run, "k", "v"));
    ar_ledger_free(other);
}

static void test_recovery(void **state) {
    fixture *f = *state;
    int64_t dead = begin_run(f, "a", 0, NULL), reused = begin_run(f, "a", 0, NULL),
            alive = begin_run(f, "a", 0, NULL), other_host = begin_run(f, "a", 0, NULL);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    ar__val p1[2] = {ar__vint(child), ar__vint(dead)};
    OK(ar__ledger_sql(f->l, "UPDATE runs SET pid = ? WHERE id = ?", p1, 2, NULL));
    /* Our pid, but another process's start token: the pid was recycled. */
    ar__val p2 = ar__vint(reused);
    OK(ar__ledger_sql(f->l, "UPDATE runs SET proc_token = 'x:1' WHERE id = ?", &p2, 1, NULL));
    ar__val p3 = ar__vint(other_host);
    OK(ar__ledger_sql(f->l, "UPDATE runs SET host = 'elsewhere', pid = 1 WHERE id = ?", &p3, 1,
                      NULL));
    ar_ledger *l2;
    ar_error err;
    OK(ar_ledger_open(f->url, NULL, &l2, &err));
    assert_int_equal(ar_ledger_recovered(l2), 2);
    int64_t ids[4] = {dead, reused, alive, other_host};
    ar_run_status want[4] = {AR_RUN_INTERRUPTED, AR_RUN_INTERRUPTED, AR_RUN_RUNNING,
                             AR_RUN_RUNNING};
    for (int k = 0; k < 4; k++) {
        ar_run_list *rl;
        OK(ar_ledger_run_get(l2, ids[k], &rl));
        assert_int_equal(rl->v[0].status, want[k]);
        ar_run_list_free(rl);
    }
    ar_ledger_free(l2);
    assert_int_equal(ar_ledger_run_finish(f->l, dead, AR_RUN_FINISHED, 1, 1), AR_EINVAL);
}

static void test_concurrent_writers(void **state) {
    fixture *f = *state;
    enum { PROCS = 4, RUNS = 10, METRICS = 20 };
    pid_t kids[PROCS];
    for (int c = 0; c < PROCS; c++) {
        kids[c] = fork();
        if (kids[c] == 0) {
            ar_ledger *l;
            ar_error err;
            ar_ledger_options o = ar_ledger_options_default();
            o.busy_timeout_ms = 30000;
            if (ar_ledger_open(f->url, &o, &l, &err))
                _exit(1);
            for (int r = 0; r < RUNS; r++) {
                ar_run_spec sp = ar_run_spec_default();
                sp.agent = "w";
                int64_t id;
                ar_metric_point m[METRICS];
                for (int k = 0; k < METRICS; k++)
                    m[k] = (ar_metric_point){"loss", 1.0 / (k + 1), k, AR_SCOPE_INNER, "train"};
                if (ar_ledger_run_begin(l, &sp, &id) || ar_ledger_log_metrics(l, id, m, METRICS) ||
                    ar_ledger_run_finish(l, id, AR_RUN_FINISHED, 0, 0))
                    _exit(2);
            }
            ar_ledger_free(l);
            _exit(0);
        }
    }
    for (int c = 0; c < PROCS; c++) {
        int st;
        waitpid(kids[c], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE status = 'finished'"), PROCS * RUNS);
    assert_int_equal(count(f, "SELECT count(*) FROM metrics"), PROCS * RUNS * METRICS);
    OK(ar_ledger_check(f->l));
}

/* -- SQLite only ----------------------------------------------------------------------------- */

static void test_bad_files(void **state) {
    fixture *f = *state;
    if (pg_host)
        skip();
    char path[300], url[320];
    ar_ledger *l;
    ar_error err;
    snprintf(path, sizeof path, "%s/garbage.db", tmpdir);
    FILE *fp = fopen(path, "w");
    for (int k = 0; k < 4096; k++)
        fputc("not a database"[k % 14], fp);
    fclose(fp);
    snprintf(url, sizeof url, "sqlite://%s", path);
    assert_int_equal(ar_ledger_open(url, NULL, &l, &err), AR_ECORRUPT);
    assert_non_null(strstr(err.msg, path));

    snprintf(path, sizeof path, "%s/foreign.db", tmpdir);
    snprintf(url, sizeof url, "sqlite://%s", path);
    ar__db *db;
    OK(ar__db_sqlite_open(path, 100, 0, 1, &db, &err));
    assert_int_equal(db->vt->exec(db, "CREATE TABLE customers (id INTEGER)"), AR_OK);
    db->vt->close(db);
    assert_int_equal(ar_ledger_open(url, NULL, &l, &err), AR_ECORRUPT);
    assert_non_null(strstr(err.msg, "not an agentrec ledger"));

    ar_ledger_options o = ar_ledger_options_default();
    o.create = 0;
    snprintf(url, sizeof url, "sqlite://%s/absent.db", tmpdir);
    assert_int_equal(ar_ledger_open(url, &o, &l, &err), AR_ENOTFOUND);
    assert_int_equal(ar_ledger_open("sqlite:///nonexistent-dir/x/y.db", NULL, &l, &err), AR_EIO);

    /* sqlite:///./rel (the default URL's form) is relative to the working directory. */
    char cwd[4096], there[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    assert_int_equal(ar_ledger_open("sqlite:///./rel.db", NULL, &l, &err), AR_OK);
    ar_ledger_free(l);
    assert_int_equal(chdir(cwd), 0);
    snprintf(there, sizeof there, "%s/rel.db", tmpdir);
    assert_int_equal(access(there, F_OK), 0);
}

static void test_disk_full(void **state) {
    fixture *f = *state;
    if (pg_host)
        skip();
    int64_t run = begin_run(f, "a", 0, NULL);
    /* Cap the file at its current size: the next growth fails like a full disk. */
    ar__rows r;
    ar__rows_init(&r);
    OK(ar__ledger_sql(f->l, "PRAGMA page_count", NULL, 0, &r));
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)ar__cell_int(&r, 0, 0));
    ar__rows_clear(&r);
    OK(ar__ledger_sql(f->l, sql, NULL, 0, &r));
    ar__rows_clear(&r);
    static ar_metric_point m[2000];
    char name[64] = "a-rather-long-metric-name-that-takes-space-in-every-row";
    for (int k = 0; k < 2000; k++)
        m[k] = (ar_metric_point){name, k, k, AR_SCOPE_INNER, "train"};
    ar_status s = ar_ledger_log_metrics(f->l, run, m, 2000);
    assert_int_equal(s, AR_EIO);
    assert_non_null(strstr(ar_ledger_errmsg(f->l), "full"));
    assert_int_equal(count(f, "SELECT count(*) FROM metrics"), 0);
    OK(ar_ledger_check(f->l));
}

int main(void) {
    pg_host = getenv("AR_LEDGER_TEST_PGHOST");
    pg_port = getenv("AR_LEDGER_TEST_PGPORT");
    if (pg_host && !pg_port)
        pg_port = "5432";
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ar_ledger_test_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_best, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_similar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_artifacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_experiments_guardrails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injection_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name(pg_host ? "ledger (postgres)" : "ledger (sqlite)",
                                             tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
