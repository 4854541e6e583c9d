/*
 * agentrec/ledger.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The knowledge ledger: runs, params, metrics, decisions, artifacts, model registry and
 * experiments, on SQLite or PostgreSQL.
 *
 * The ledger is the agents' shared memory and audit trail. Its model follows MLflow tracking:
 * an agent starts a *run* (a configuration tried on a dataset), logs params, tags and metrics
 * (with a step history, an inner/outer scope and a split), artifacts (files with their sha256),
 * and *decisions* about it (adopt / reject / rollback / promote / hold, with a rationale and the
 * metrics that were the evidence). A model registry keeps versions of named models with a stage
 * (candidate -> shadow -> canary -> production -> archived), aliases and the stage history.
 *
 * Storage
 *   ar_ledger_open() takes a URL: "sqlite:///path/to/file.db" (or "sqlite://relative.db", or a
 *   bare path) for the embedded store, "postgres://..." or "postgresql://..." (any libpq URI)
 *   for a PostgreSQL server shared by several machines. Both backends hold the same schema
 *   (docs/ledger.md) and pass the same test suite. The schema is versioned: an older ledger is
 *   migrated forward on open; a newer one is refused with AR_EVERSION.
 *
 * Guarantees
 *   - Every write call is one transaction: it happens completely or not at all, also when the
 *     process is killed (SIGKILL) at any point. A SQLite ledger stays intact
 *     (PRAGMA integrity_check passes) after such a kill.
 *   - Runs left 'running' by a process that no longer exists are marked 'interrupted' the next
 *     time any process opens the ledger on the same machine. A process is identified by its pid
 *     *and* its start time and boot id, so a recycled pid is not mistaken for the old process.
 *   - Several processes (or threads, each with its own handle) may write at once. A writer that
 *     waits for a lock longer than busy_timeout_ms gets AR_EIO with "database is locked".
 *   - All SQL is parameterised: names and JSON from agents or LLMs are data, never SQL.
 *
 * Threads: an ar_ledger handle must be used by one thread at a time. Open one per thread.
 *
 * Errors: ar_ledger_open() explains failures in the ar_error it is given; every other call
 * leaves its explanation in the handle, readable with ar_ledger_errmsg() until the next call.
 * Results of queries are lists the caller owns and frees with the matching *_free(), which
 * accepts NULL; all strings in a list belong to the list.
 */
#ifndef AGENTREC_LEDGER_H
#define AGENTREC_LEDGER_H

#ifdef __cplusplus
extern "C" {
#endif

/* The default location used by the CLI. */
#define AR_LEDGER_DEFAULT_URL "sqlite:///./agentrec.db"

typedef struct ar_ledger ar_ledger;

/* -- Enumerations. Each has a name (the text stored in the database) and a parser that returns
 * the value or -1. --------------------------------------------------------------------------- */

typedef enum ar_run_status {
    AR_RUN_RUNNING = 0,
    AR_RUN_FINISHED = 1,
    AR_RUN_FAILED = 2,
    AR_RUN_INTERRUPTED = 3 /* its process died before finishing it */
} ar_run_status;

typedef enum ar_scope {
    AR_SCOPE_INNER = 0, /* the agent's own objective (e.g. offline recall on validation) */
    AR_SCOPE_OUTER = 1  /* the system's reward (e.g. simulated or online revenue) */
} ar_scope;

typedef enum ar_action {
    AR_ACTION_ADOPT = 0,
    AR_ACTION_REJECT = 1,
    AR_ACTION_ROLLBACK = 2,
    AR_ACTION_PROMOTE = 3,
    AR_ACTION_HOLD = 4
} ar_action;

typedef enum ar_decider {
    AR_DECIDER_AGENT = 0,
    AR_DECIDER_ORCHESTRATOR = 1,
    AR_DECIDER_PERSON = 2
} ar_decider;

typedef enum ar_stage {
    AR_STAGE_CANDIDATE = 0,
    AR_STAGE_SHADOW = 1,
    AR_STAGE_CANARY = 2,
    AR_STAGE_PRODUCTION = 3,
    AR_STAGE_ARCHIVED = 4
} ar_stage;

/* "running", "finished", "failed", "interrupted" */
const char *ar_run_status_name(ar_run_status s);
int ar_run_status_parse(const char *name);
/* "inner", "outer" */
const char *ar_scope_name(ar_scope s);
int ar_scope_parse(const char *name);
/* "adopt", "reject", "rollback", "promote", "hold" */
const char *ar_action_name(ar_action a);
int ar_action_parse(const char *name);
/* "agent", "orchestrator", "person" */
const char *ar_decider_name(ar_decider d);
int ar_decider_parse(const char *name);
/* "candidate", "shadow", "canary", "production", "archived" */
const char *ar_stage_name(ar_stage s);
int ar_stage_parse(const char *name);

/* -- Opening ---------------------------------------------------------------------------------- */

typedef struct ar_ledger_options {
    int busy_timeout_ms; /* how long a write waits for another writer's lock (default 5000) */
    int recover;         /* mark runs of dead processes 'interrupted' on open (default 1) */
    int durable;         /* SQLite: fsync every commit (synchronous=FULL) so that committed runs
                          * also survive a power loss; default 0 = synchronous=NORMAL, which
                          * survives any process crash but may lose the last commits on power
                          * loss (the file stays intact either way) */
    int create;          /* create the ledger when it does not exist (default 1) */
} ar_ledger_options;

ar_ledger_options ar_ledger_options_default(void);
/* NULL when opt is valid, else a static message naming the bad field. */
const char *ar_ledger_options_check(const ar_ledger_options *opt);

/* Opens (creating or migrating as needed) the ledger at url; opt may be NULL for the defaults.
 * Errors: AR_EINVAL bad URL or options; AR_EIO cannot open/connect, locked, disk full;
 * AR_ECORRUPT not a database, or a database that is not a ledger; AR_EVERSION the ledger was
 * written by a newer agentrec. The caller frees the handle with ar_ledger_free(). */
ar_status ar_ledger_open(const char *url, const ar_ledger_options *opt, ar_ledger **out,
                         ar_error *err);
/* Closes the connection and frees the handle. NULL is a no-op. Runs still 'running' in this
 * process stay 'running' (the process is alive) until finished or recovered after it exits. */
void ar_ledger_free(ar_ledger *l);
/* The explanation of the last failed call on l ("" when none). Owned by l. */
const char *ar_ledger_errmsg(const ar_ledger *l);
/* "sqlite" or "postgres". */
const char *ar_ledger_backend(const ar_ledger *l);
/* The schema version of the open ledger (always the latest this library knows). */
int ar_ledger_schema_version(const ar_ledger *l);
/* The schema version this library writes. */
int ar_ledger_latest_schema_version(void);
/* How many runs this handle marked 'interrupted' when it was opened. */
int64_t ar_ledger_recovered(const ar_ledger *l);
/* Marks runs of dead processes on this machine 'interrupted' now (ar_ledger_open does it too);
 * *n (may be NULL) gets how many. */
ar_status ar_ledger_recover(ar_ledger *l, int64_t *n);
/* Checks the store's integrity: SQLite runs PRAGMA integrity_check and a foreign key check;
 * PostgreSQL checks the foreign keys the server cannot (none) and that the schema is present.
 * AR_ECORRUPT with the first problem in the message when anything is wrong. */
ar_status ar_ledger_check(ar_ledger *l);

/* -- Writing ----------------------------------------------------------------------------------
 * Every call below is one transaction. Text arguments are copied; JSON arguments must be valid
 * JSON (AR_EPARSE otherwise) and are stored re-serialised with sorted keys, so that equal
 * configurations are equal strings. */

typedef struct ar_ledger_agent {
    const char *name;               /* unique; required */
    const char *kind;               /* e.g. "model-search", "feature", "orchestrator" */
    const char *decision_space;     /* JSON describing what the agent may change, or NULL */
    const char *promotion_evidence; /* what evidence it needs to promote, or NULL */
} ar_ledger_agent;

/* Registers an agent, or updates the description of an existing one with that name. *id (may be
 * NULL) gets its id. */
ar_status ar_ledger_agent_put(ar_ledger *l, const ar_ledger_agent *agent, int64_t *id);

/* A dataset's fingerprint: what "similar past work" compares. All zero = unknown. */
typedef struct ar_fingerprint {
    int64_t users, items, interactions;
    double density;  /* interactions / (users * items) */
    double pop_gini; /* Gini index of item popularity, the popularity skew */
    double per_user; /* mean interactions per user */
} ar_fingerprint;

/* The fingerprint of a dataset, from its statistics. */
ar_fingerprint ar_fingerprint_from_stats(const ar_dataset_stats *s);
/* Distance between fingerprints: Euclidean over log sizes, log density, log interactions per
 * user and the Gini index (scaled by 4, so 0.25 Gini counts like a factor e in size). */
double ar_fingerprint_distance(const ar_fingerprint *a, const ar_fingerprint *b);

typedef struct ar_run_spec {
    const char *agent;   /* agent name; registered with kind "agent" when unknown */
    int64_t parent;      /* the run this one derives from, 0 = none */
    const char *config;  /* JSON object of the configuration; NULL = {} */
    const char *dataset; /* dataset name or path; NULL = "" */
    ar_fingerprint dataset_fp;
    const char *code_version; /* e.g. a git commit; NULL = "" */
    uint64_t seed;
} ar_run_spec;

ar_run_spec ar_run_spec_default(void);
const char *ar_run_spec_check(const ar_run_spec *spec);

/* Starts a run in state 'running', owned by this process, and writes its id to *run. */
ar_status ar_ledger_run_begin(ar_ledger *l, const ar_run_spec *spec, int64_t *run);
/* Ends a running run with status finished/failed. cpu_seconds and peak_memory (bytes) may be
 * negative when unknown. AR_EINVAL when the run is not running any more. */
ar_status ar_ledger_run_finish(ar_ledger *l, int64_t run, ar_run_status status, double cpu_seconds,
                               int64_t peak_memory);

/* Sets a parameter or tag of a run (a later value for the same key replaces the earlier). */
ar_status ar_ledger_log_param(ar_ledger *l, int64_t run, const char *key, const char *value);
ar_status ar_ledger_set_tag(ar_ledger *l, int64_t run, const char *key, const char *value);

typedef struct ar_metric_point {
    const char *name; /* e.g. "ndcg@20" */
    double value;     /* finite */
    int64_t step;     /* position in the history (epoch, iteration); the latest step is the
                       * run's value of the metric */
    ar_scope scope;
    const char *split; /* "valid", "test", ... or NULL = "" */
} ar_metric_point;

/* Logs one metric point; *id (may be NULL) gets its id, to cite as evidence in a decision. */
ar_status ar_ledger_log_metric(ar_ledger *l, int64_t run, const ar_metric_point *m, int64_t *id);
/* Logs n points in one transaction: all of them or none. */
ar_status ar_ledger_log_metrics(ar_ledger *l, int64_t run, const ar_metric_point *m, size_t n);

typedef struct ar_decision_spec {
    int64_t run; /* the run decided about (0 = none, e.g. a global hold) */
    ar_action action;
    const char *rationale;   /* why, in words; required */
    const int64_t *evidence; /* ids of the metric points the decision rests on */
    size_t n_evidence;
    ar_decider decider;
    const char *decided_by; /* agent name, "orchestrator" or the person; NULL = "" */
} ar_decision_spec;

ar_status ar_ledger_log_decision(ar_ledger *l, const ar_decision_spec *d, int64_t *id);

/* Records a file produced by a run: reads it to compute its sha256 and size. *id may be NULL. */
ar_status ar_ledger_log_artifact(ar_ledger *l, int64_t run, const char *kind, const char *path,
                                 int64_t *id);

/* Registers a new version (1, 2, ...) of the named model, made by run, in stage 'candidate'. */
ar_status ar_ledger_model_register(ar_ledger *l, const char *name, int64_t run, int32_t *version);
/* Moves a model version to a stage, recording reason in its stage history. Promoting a version
 * to production archives the version that was in production. */
ar_status ar_ledger_model_stage(ar_ledger *l, const char *name, int32_t version, ar_stage stage,
                                const char *reason);
/* Points alias (e.g. "champion") at a version, taking it from the version that had it. */
ar_status ar_ledger_model_alias(ar_ledger *l, const char *name, int32_t version, const char *alias);

typedef struct ar_experiment_spec {
    const char *name;
    const char *variants;   /* JSON, e.g. [{"name":"A","run":3},{"name":"B","run":7}] */
    const char *allocation; /* JSON, e.g. {"A":0.5,"B":0.5} */
} ar_experiment_spec;

ar_status ar_ledger_experiment_begin(ar_ledger *l, const ar_experiment_spec *e, int64_t *id);
/* Ends an experiment with its result (JSON). AR_EINVAL if it already ended. */
ar_status ar_ledger_experiment_end(ar_ledger *l, int64_t id, const char *result);

typedef struct ar_guardrail_event {
    int64_t run;        /* 0 = none */
    int64_t experiment; /* 0 = none */
    const char *name;   /* e.g. "p99_latency_ms" */
    double value, threshold;
    const char *action; /* what was done: "rollback", "alert", ... */
    const char *detail; /* NULL = "" */
} ar_guardrail_event;

ar_status ar_ledger_log_guardrail(ar_ledger *l, const ar_guardrail_event *g, int64_t *id);

/* -- Reading ---------------------------------------------------------------------------------- */

typedef struct ar_run {
    int64_t id, parent; /* parent 0 = none */
    const char *agent;
    ar_run_status status;
    const char *config, *dataset, *code_version, *host;
    ar_fingerprint dataset_fp;
    uint64_t seed;
    int64_t pid;
    double started, ended; /* seconds since the epoch; ended is NaN while running */
    double cpu_seconds;    /* NaN when unknown */
    int64_t peak_memory;   /* bytes, -1 when unknown */
    double score;          /* best/similar queries: the run's value of the metric; else NaN */
    double distance;       /* similar: fingerprint distance; else NaN */
    int depth; /* lineage: generations from the run asked about, negative for ancestors */
} ar_run;

typedef struct ar_run_list {
    size_t n;
    ar_run *v;
    void *priv_;
} ar_run_list;
void ar_run_list_free(ar_run_list *list);

typedef struct ar_run_query {
    const char *agent;   /* NULL = any */
    int status;          /* an ar_run_status, or -1 = any */
    const char *dataset; /* NULL = any */
    int64_t parent;      /* runs derived from this one; 0 = any */
    /* With a metric, only runs that logged it are returned, best first by their value (the
     * latest step); without, newest first. */
    const char *metric;
    ar_scope scope;
    const char *split; /* NULL = "" */
    int minimize;      /* lower is better */
    int64_t limit;     /* 0 = no limit */
} ar_run_query;

ar_run_query ar_run_query_default(void);
const char *ar_run_query_check(const ar_run_query *q);

ar_status ar_ledger_runs(ar_ledger *l, const ar_run_query *q, ar_run_list **out);
/* One run; AR_ENOTFOUND when there is none with that id. */
ar_status ar_ledger_run_get(ar_ledger *l, int64_t id, ar_run_list **out);

typedef enum ar_lineage_dir {
    AR_LINEAGE_ANCESTORS = 1,
    AR_LINEAGE_DESCENDANTS = 2,
    AR_LINEAGE_BOTH = 3
} ar_lineage_dir;

/* The run itself (depth 0), its ancestors (depth -1 the parent, -2 ...) and/or descendants
 * (depth 1 its children, ...), ordered by depth then id. */
ar_status ar_ledger_lineage(ar_ledger *l, int64_t run, ar_lineage_dir dir, ar_run_list **out);

/* "Similar past work" for warm starts: finished runs that logged q->metric on datasets with a
 * fingerprint, ordered by the distance of their dataset's fingerprint to fp, then by score; one
 * run per distinct configuration (its best), at most q->limit (0 = 10). q's agent filter
 * applies; its status and dataset are ignored. */
ar_status ar_ledger_similar(ar_ledger *l, const ar_fingerprint *fp, const ar_run_query *q,
                            ar_run_list **out);

typedef struct ar_metric_row {
    int64_t id, run;
    const char *name, *split;
    double value;
    int64_t step;
    ar_scope scope;
    double at;
} ar_metric_row;

typedef struct ar_metric_list {
    size_t n;
    ar_metric_row *v;
    void *priv_;
} ar_metric_list;
void ar_metric_list_free(ar_metric_list *list);

/* Metric points of a run (0 = all runs), optionally only one name (NULL = all), ordered by run,
 * name, scope, split, step. */
ar_status ar_ledger_metrics(ar_ledger *l, int64_t run, const char *name, ar_metric_list **out);

typedef struct ar_kv_list {
    size_t n;
    const char **key, **value;
    void *priv_;
} ar_kv_list;
void ar_kv_list_free(ar_kv_list *list);

/* Params or tags of a run, ordered by key. */
ar_status ar_ledger_params(ar_ledger *l, int64_t run, ar_kv_list **out);
ar_status ar_ledger_tags(ar_ledger *l, int64_t run, ar_kv_list **out);

typedef struct ar_decision {
    int64_t id, run; /* run 0 = none */
    ar_action action;
    const char *rationale, *decided_by;
    ar_decider decider;
    double at;
    const int64_t *evidence; /* metric ids */
    size_t n_evidence;
} ar_decision;

typedef struct ar_decision_list {
    size_t n;
    ar_decision *v;
    void *priv_;
} ar_decision_list;
void ar_decision_list_free(ar_decision_list *list);

/* Decisions about a run (0 = all), oldest first; limit 0 = all (the newest `limit` otherwise). */
ar_status ar_ledger_decisions(ar_ledger *l, int64_t run, int64_t limit, ar_decision_list **out);

typedef struct ar_artifact {
    int64_t id, run;
    const char *kind, *path, *sha256; /* sha256 as 64 lowercase hex digits */
    int64_t bytes;
    double at;
} ar_artifact;

typedef struct ar_artifact_list {
    size_t n;
    ar_artifact *v;
    void *priv_;
} ar_artifact_list;
void ar_artifact_list_free(ar_artifact_list *list);

ar_status ar_ledger_artifacts(ar_ledger *l, int64_t run, ar_artifact_list **out);

typedef struct ar_model_version {
    const char *name;
    int32_t version;
    int64_t run;
    ar_stage stage;
    const char *alias; /* NULL when none */
    double created;
} ar_model_version;

typedef struct ar_model_list {
    size_t n;
    ar_model_version *v;
    void *priv_;
} ar_model_list;
void ar_model_list_free(ar_model_list *list);

/* Versions of the named model (NULL = all models), by name then version. */
ar_status ar_ledger_models(ar_ledger *l, const char *name, ar_model_list **out);

typedef struct ar_stage_change {
    const char *name;
    int32_t version;
    ar_stage stage;
    const char *reason;
    double at;
} ar_stage_change;

typedef struct ar_stage_list {
    size_t n;
    ar_stage_change *v;
    void *priv_;
} ar_stage_list;
void ar_stage_list_free(ar_stage_list *list);

/* The stage history of the named model (NULL = all), oldest first. Registering a version is its
 * first entry (stage candidate). */
ar_status ar_ledger_stage_history(ar_ledger *l, const char *name, ar_stage_list **out);

typedef struct ar_experiment {
    int64_t id;
    const char *name, *variants, *allocation, *result; /* result NULL while running */
    double started, ended;                             /* ended NaN while running */
} ar_experiment;

typedef struct ar_experiment_list {
    size_t n;
    ar_experiment *v;
    void *priv_;
} ar_experiment_list;
void ar_experiment_list_free(ar_experiment_list *list);

ar_status ar_ledger_experiments(ar_ledger *l, ar_experiment_list **out);

typedef struct ar_guardrail_row {
    int64_t id, run, experiment; /* 0 = none */
    const char *name, *action, *detail;
    double value, threshold, at;
} ar_guardrail_row;

typedef struct ar_guardrail_list {
    size_t n;
    ar_guardrail_row *v;
    void *priv_;
} ar_guardrail_list;
void ar_guardrail_list_free(ar_guardrail_list *list);

ar_status ar_ledger_guardrails(ar_ledger *l, ar_guardrail_list **out);

typedef struct ar_agent_row {
    int64_t id;
    const char *name, *kind, *decision_space, *promotion_evidence;
    double created;
    int64_t runs; /* runs the agent made */
} ar_agent_row;

typedef struct ar_agent_list {
    size_t n;
    ar_agent_row *v;
    void *priv_;
} ar_agent_list;
void ar_agent_list_free(ar_agent_list *list);

/* The registered agents, by name. */
ar_status ar_ledger_agents(ar_ledger *l, ar_agent_list **out);

/* -- The HTML report ---------------------------------------------------------------------------
 * One self-contained HTML file (no scripts, no network) whose SVG charts are drawn here: each
 * metric over runs (by start time), the lineage tree of the champion (the run of the production
 * version of a registered model, else the best run of the first metric), the decision timeline
 * with rationales, and each model's stage history. Written to a temporary file and renamed. */

typedef struct ar_report_options {
    const char *title;  /* default "agentrec ledger report" */
    const char *metric; /* the metric that picks the champion when no model is in production;
                         * NULL = the first metric name in the ledger */
    ar_scope scope;
    const char *split; /* NULL = any split: the first one that has the metric */
    int minimize;
    int max_metrics; /* charts for at most this many metric names (default 12) */
    /* Optional: up to 8 metric names (of `scope`, and `split` when set) drawn together on one
     * chart over time, titled overlay_title, before the per-metric charts. */
    const char *const *overlay;
    int n_overlay;
    const char *overlay_title;
} ar_report_options;

ar_report_options ar_report_options_default(void);
const char *ar_report_options_check(const ar_report_options *opt);

ar_status ar_ledger_report(ar_ledger *l, const char *path, const ar_report_options *opt);

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_LEDGER_H */
