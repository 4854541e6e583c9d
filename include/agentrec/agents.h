/*
 * agentrec/agents.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * Decision spaces and the search policies that explore them. A decision space is a list of
 * typed parameters (int, float, log-float, categorical, bool), each possibly conditional on the
 * choice of a categorical parameter, written in JSON (the format ar_model_space_json() prints,
 * see docs/agents.md). A point is one assignment of the active parameters. Search policies
 * propose points and learn from the rewards they are told; their state is a JSON text so it
 * can be stored (in the ledger) and used to warm-start a later search.
 *
 * Thread safety: spaces are immutable after creation and may be shared; a search object is
 * used from one thread at a time.
 */
#ifndef AGENTREC_AGENTS_H
#define AGENTREC_AGENTS_H

#ifdef __cplusplus
extern "C" {
#endif

#define AR_SPACE_MAX_PARAMS 64

typedef struct ar_space ar_space;

/* Parses a decision space: a JSON array of {"name", "type": int|float|logfloat|categorical|
 * bool, "low", "high" (numeric), "choices" (categorical), "default", optional "condition":
 * {"param": P, "in": [choices of P]}}. Errors name the offending element ("space[3].low: ...").
 * Conditions must refer to an earlier categorical parameter. */
ar_status ar_space_parse(const char *json, ar_space **out, ar_error *err);
/* The decision space of a model of the zoo. */
ar_status ar_space_of_model(const ar_model *m, ar_space **out, ar_error *err);
void ar_space_free(ar_space *s);
int ar_space_n_params(const ar_space *s);
const char *ar_space_param_name(const ar_space *s, int i);

/* A point of a space: v[i] is the value of parameter i (the choice index for categorical, 0/1
 * for bool); active[i] is 0 when a condition switches the parameter off. */
typedef struct ar_point {
    double v[AR_SPACE_MAX_PARAMS];
    uint8_t active[AR_SPACE_MAX_PARAMS];
} ar_point;

/* The defaults. */
void ar_space_default(const ar_space *s, ar_point *p);
/* Uniform over the space (log-uniform for logfloat; integers uniform over the range). */
void ar_space_sample(const ar_space *s, ar_rng *rng, ar_point *p);
/* Recomputes which parameters are active from the categorical choices, and clamps every value
 * into its range (integers rounded). */
void ar_space_normalize(const ar_space *s, ar_point *p);
/* Writes the active parameters as a JSON object ({"k": 100, "similarity": "cosine"}); the
 * caller frees it with ar_free_array(). NULL when out of memory. */
char *ar_space_point_json(const ar_space *s, const ar_point *p);
/* Reads a point from such an object: unknown names, wrong types and out-of-range values are
 * errors naming the key; missing parameters take their defaults. */
ar_status ar_space_point_parse(const ar_space *s, const char *json, ar_point *p, ar_error *err);

/* -- Search policies ---------------------------------------------------------------------------
 * random : independent uniform samples (the baseline every claim is compared against);
 * tpe    : tree-structured Parzen estimator (Bergstra et al. 2011), independent per parameter;
 * rl     : a learned two-level policy -- Thompson sampling over the arms of the space's first
 *          unconditional categorical that others depend on (e.g. the model family), on the
 *          chance that a trial sets a new best; TPE within the chosen arm on that arm's
 *          observations, its defaults first (see search.c). Its state persists and
 *          warm-starts. */

typedef enum ar_search_kind {
    AR_SEARCH_RANDOM = 0,
    AR_SEARCH_TPE = 1,
    AR_SEARCH_RL = 2
} ar_search_kind;

/* "random", "tpe", "rl" -> kind, or -1. */
int ar_search_kind_parse(const char *name);

typedef struct ar_search ar_search;

/* Creates a search over s (which must outlive it). Deterministic in seed. */
ar_status ar_search_create(const ar_space *s, ar_search_kind kind, uint64_t seed, ar_search **out);
void ar_search_free(ar_search *q);
/* Proposes the next point to evaluate. */
ar_status ar_search_propose(ar_search *q, ar_point *out);
/* The RL policy's next point within the arm of `like` (e.g. the incumbent's model family),
 * for a caller that chooses the arm itself; the other policies, and a space without arms,
 * propose as ar_search_propose does. */
ar_status ar_search_propose_arm(ar_search *q, const ar_point *like, ar_point *out);
/* Reports the reward of an evaluated point (higher is better; NAN marks a failed trial, which
 * the policy learns to avoid). Points need not come from propose (e.g. past runs). */
ar_status ar_search_observe(ar_search *q, const ar_point *p, double reward);
/* The same for a reward measured at a fidelity in (0, 1] (ar_search_observe: 1), e.g. on a
 * quarter of the validation users: rewards of different fidelities are on different samples,
 * so the policy compares points only at one fidelity where their differences are small (the
 * one-parameter arm's parabola). AR_EINVAL for a fidelity outside (0, 1]. */
ar_status ar_search_observe_at(ar_search *q, const ar_point *p, double reward, double fidelity);
/* Number of observations so far, and the best one (AR_ENOTFOUND when none succeeded). */
int ar_search_n_observed(const ar_search *q);
ar_status ar_search_best(const ar_search *q, ar_point *p, double *reward);
/* The policy's learned state as JSON (caller frees with ar_free_array()), and loading it into
 * a new search over the same space to warm-start it. */
char *ar_search_state_json(const ar_search *q);
ar_status ar_search_load_state(ar_search *q, const char *json, ar_error *err);

/* -- Multi-fidelity: successive halving ----------------------------------------------------
 * Evaluates n candidates cheaply first and spends the full budget only on the promising ones
 * (Jamieson & Talwalkar 2016; the rungs of Hyperband, Li et al. 2018): every candidate is scored
 * at fidelity f0 = min_fidelity, the best 1/eta go on to fidelity f0 * eta, and so on until
 * fidelity 1 (the last rung is always full fidelity). Fidelity is whatever the callback makes
 * of a number in (0, 1]: a fraction of the users, of the epochs, of the data. */

typedef ar_status (*ar_fidelity_fn)(void *ctx, int candidate, double fidelity, double *reward);

typedef struct ar_halving_result {
    int best;           /* index of the winning candidate (-1 when every evaluation failed) */
    double best_reward; /* its reward at full fidelity */
    int evaluations;    /* calls made */
    double cost;        /* sum of the fidelities evaluated (1 = one full evaluation) */
} ar_halving_result;

/* Runs successive halving over candidates 0..n-1. A callback that returns an error or a NAN
 * reward marks that candidate failed at that rung (it is not promoted); the run goes on. Ties
 * keep the lower index. Returns AR_EINVAL for bad arguments (n < 1, eta < 2, min_fidelity
 * outside (0, 1]) and AR_ENOMEM. */
ar_status ar_successive_halving(int n, double min_fidelity, int eta, ar_fidelity_fn fn, void *ctx,
                                ar_halving_result *out);

/* -- Trials in worker processes ---------------------------------------------------------------
 * A trial runs in a child process (fork, then setrlimit, then exec) so that a crash, a runaway
 * fit or an allocation storm never takes the agent down. The child reads `input` on its
 * standard input and prints its result on standard output; its exit status says how it ended:
 * 0 success, AR_TRIAL_EXIT_NAN a non-finite metric or loss, AR_TRIAL_EXIT_NOMEM out of memory,
 * anything else an error whose reason is the last line the child printed on standard error. */

#define AR_TRIAL_EXIT_NAN 3
#define AR_TRIAL_EXIT_NOMEM 4

typedef enum ar_trial_status {
    AR_TRIAL_OK = 0,
    AR_TRIAL_ERROR = 1,   /* the child reported an error */
    AR_TRIAL_CRASH = 2,   /* killed by a signal it did not ask for (SIGSEGV, SIGABRT, ...) */
    AR_TRIAL_TIMEOUT = 3, /* over the wall-clock limit: killed */
    AR_TRIAL_CPU = 4,     /* over the CPU-time limit */
    AR_TRIAL_MEMORY = 5,  /* over the memory limit */
    AR_TRIAL_NAN = 6,     /* non-finite loss or metric */
} ar_trial_status;

/* "ok", "error", "crash", "timeout", "cpu_limit", "memory_limit", "nan". */
const char *ar_trial_status_name(ar_trial_status s);

typedef struct ar_trial_limits {
    double wall_seconds; /* 0 = none */
    double cpu_seconds;  /* 0 = none (RLIMIT_CPU, whole seconds, rounded up) */
    size_t memory_bytes; /* 0 = none (RLIMIT_AS: address space) */
} ar_trial_limits;

typedef struct ar_trial_result {
    ar_trial_status status;
    char reason[512]; /* a one-line explanation when status != OK */
    char *output;     /* what the child printed on stdout (NUL-terminated; caller frees with
                         ar_free_array) */
    double wall_seconds, cpu_seconds, peak_rss_mb;
    int exit_code; /* when it exited */
    int signal;    /* when a signal ended it */
} ar_trial_result;

/* Runs argv (argv[0] is the executable's path; NULL-terminated) as a trial. Returns AR_OK when
 * the trial ran, whatever its outcome (see out->status), and an error only when it could not be
 * started (AR_EIO with a message). Output beyond 64 MiB is cut. Thread-safe. */
ar_status ar_trial_run(char *const argv[], const char *input, const ar_trial_limits *lim,
                       ar_trial_result *out, ar_error *err);

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_AGENTS_H */
