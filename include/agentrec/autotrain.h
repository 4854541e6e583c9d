/*
 * agentrec/autotrain.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The agent contract, the check that promotes a module to an agent, and AutoTrain, the first
 * agent: it searches models (and, with a proposer, model specs) on a dataset's validation split
 * under a compute budget, records every trial and decision in the ledger, adopts a champion only
 * when it beats the current one by more than measured seed noise, and scores the champion on
 * the test split once at the end.
 *
 * Thread safety: an agent object is used from one thread at a time.
 */
#ifndef AGENTREC_AUTOTRAIN_H
#define AGENTREC_AUTOTRAIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* -- The agent contract ------------------------------------------------------------------------
 * An agent is a closed loop: perceive (read the dataset profile and the ledger), decide (propose
 * candidates from its decision space), execute (train and evaluate one candidate), feedback
 * (record the rewards, adopt or reject with a rationale). Candidates are JSON texts. */

typedef struct ar_agent_outcome {
    int ok;              /* 1 when the candidate was evaluated */
    double reward;       /* the inner reward (e.g. NDCG@20 on validation); NAN when it failed */
    double fidelity;     /* the fidelity it was evaluated at, in (0, 1] */
    char status[16];     /* "ok" or the trial's failure (ar_trial_status_name) */
    char reason[512];    /* why it failed, one line */
    double seconds;      /* wall time of the evaluation */
    double cold_seconds; /* what it would have taken with no fit loaded from a cache (>= seconds) */
    int64_t run;         /* the ledger run that recorded it, 0 = none */
    double metrics[4];   /* recall@K, ndcg@K, fit seconds, peak RSS (MB); NAN when unknown */
    char *spec;          /* the candidate as evaluated, with what the evaluation learned (e.g. a
                          * blend's weights), or NULL = the candidate itself; execute allocates
                          * it, whoever holds the outcome frees it with free() */
} ar_agent_outcome;

typedef struct ar_agent_ops {
    const char *name; /* unique, e.g. "autotrain" */
    const char *kind; /* e.g. "model-search" */
    /* The decision space as JSON (caller frees with free()); NULL when out of memory. */
    char *(*space_json)(void *self);
    ar_status (*perceive)(void *self, ar_error *err);
    /* Proposes up to n candidates (each a JSON text the caller frees with free()); *n_out may be
     * 0 when the agent has nothing left to propose. */
    ar_status (*decide)(void *self, int n, char **out, int *n_out, ar_error *err);
    /* Trains and evaluates one candidate at a fidelity with a seed. A failed evaluation is not
     * an error: out->ok = 0 says why. Errors are for the agent itself failing. */
    ar_status (*execute)(void *self, const char *candidate, double fidelity, uint64_t seed,
                         ar_agent_outcome *out, ar_error *err);
    /* Learns from an outcome, adopts or rejects the candidate and records why. */
    ar_status (*feedback)(void *self, const char *candidate, const ar_agent_outcome *o,
                          ar_error *err);
    /* A cheap candidate the promotion check may evaluate (caller frees with free()). */
    char *(*probe)(void *self);
} ar_agent_ops;

/* Checks the three criteria that make a module an agent and records the evidence in the ledger
 * (ar_ledger_agent_put): (1) closed loop: perceive, decide, execute and feedback all exist and
 * decide proposes a candidate; (2) independently evaluable: executing the probe candidate twice
 * with the same seed gives the same reward, bit for bit; (3) evolvable: the decision space is a
 * non-empty JSON array or object. *evidence (may be NULL; caller frees with free()) gets the
 * evidence as JSON. AR_EINVAL with the failed criterion in the message when the module is not
 * an agent (the evidence is recorded either way). */
ar_status ar_agent_promote(ar_ledger *l, const ar_agent_ops *ops, void *self, char **evidence,
                           ar_error *err);

/* -- AutoTrain --------------------------------------------------------------------------------- */

typedef enum ar_proposer_kind {
    AR_PROPOSER_NONE = 0, /* hyperparameter search only */
    AR_PROPOSER_EVO = 1,  /* built-in evolutionary proposer of model specs */
    AR_PROPOSER_LLM = 2   /* an OpenAI-compatible endpoint (see agentrec/llm.h) */
} ar_proposer_kind;

typedef void (*ar_autotrain_log_fn)(void *data, const char *line);

typedef struct ar_autotrain_options {
    const char *dataset;       /* dataset directory (required); it needs a validation split (the CLI
                                * carves one out of the training split when it has none) */
    const char *worker;        /* the agentrec executable that runs trials (required) */
    double budget_seconds;     /* wall clock for the whole run, final test included (> 0) */
    ar_search_kind policy;     /* default AR_SEARCH_RL */
    ar_proposer_kind proposer; /* default AR_PROPOSER_EVO */
    const void *llm;           /* an ar_llm_config when proposer is LLM */
    const char *space;         /* the search space as JSON; NULL = the built-in one
                                * (ar_autotrain_default_space) */
    uint64_t seed;             /* default 1 */
    int k;                     /* the cutoff of the inner reward (default 20) */
    int n_threads;             /* threads per trial (0 = all) */
    size_t memory_limit;       /* per trial (0 = 90% of the available memory) */
    int warm_start;            /* use similar past work in the ledger (default 1) */
    int max_trials;            /* stop after this many trials (0 = budget only) */
    int batch;                 /* candidates per successive-halving batch (default 4) */
    double min_fidelity;       /* first rung of successive halving (default 0.25) */
    double search_fraction;    /* share of the budget for hyperparameter search before the
                                * proposer takes over (default 0.4) */
    int final_test;            /* refit the champion on train+valid and score it on test
                                * (default 1) */
    const char *fit_cache;     /* directory where the trials cache fits that took 10 s or more
                                * (ar_fit_options.cache_dir), so a promotion, a seed-noise rerun
                                * or a blend of earlier candidates loads them; NULL = none */
    uint64_t fit_cache_bytes;  /* the cache's size cap (0 = none) */
    ar_autotrain_log_fn log;   /* progress lines; may be NULL */
    void *log_data;
} ar_autotrain_options;

ar_autotrain_options ar_autotrain_options_default(void);
const char *ar_autotrain_options_check(const ar_autotrain_options *o);

/* The built-in search space: a categorical "model" over the zoo and each model's parameters,
 * prefixed with its name ("ials.factors"), over ranges curated for implicit-feedback data
 * (static JSON, docs/autotrain.md). */
const char *ar_autotrain_default_space(void);

typedef struct ar_autotrain_result {
    char *champion;       /* the champion's spec as JSON (caller frees with free()); NULL when
                           * no trial succeeded */
    int trials, failures; /* evaluations run (every rung counts), and how many failed */
    int adoptions;        /* how many times the champion changed */
    double valid[2];      /* champion's recall@K, ndcg@K on validation */
    double test[2];       /* recall@K, ndcg@K on test (NAN when not run) */
    double noise_sd;      /* the champion family's measured seed noise (sd of the reward) */
    int trials_to_best;   /* trials until the champion's reward was first reached */
    double seconds;       /* wall time used */
    int64_t run;          /* the ledger run of this AutoTrain session */
} ar_autotrain_result;

/* Runs AutoTrain with ledger l (required). Trials run as `worker trial` child processes with
 * wall, CPU and memory limits; a crashed, timed-out or non-finite trial is a recorded failure,
 * never an error of the run. Returns AR_OK when the search ran (even if every trial failed: then
 * out->champion is NULL), AR_EINVAL for bad options, AR_EIO when the ledger fails. */
ar_status ar_autotrain_run(ar_ledger *l, const ar_autotrain_options *o, ar_autotrain_result *out,
                           ar_error *err);
void ar_autotrain_result_free(ar_autotrain_result *r);

/* -- Method cards -------------------------------------------------------------------------------
 * A method card (a Markdown file in docs/cards) describes a published result so it can be
 * reproduced: Markdown for people with one ```json block for agentrec:
 *   {"method": "ItemCF", "source": "where the number was published",
 *    "spec": {model spec, see agentrec/spec.h},
 *    "dataset": {"name": "gowalla-lightgcn",
 *                "format": "lightgcn" | "movielens" | "recbole" | "s3rec",
 *                "train": FILE, "test": FILE (optional; paths inside the data root's NAME/)},
 *    "protocol": {"split": "predefined" | "random", "test_ratio": 0.2, "seed": 1, "k": 20,
 *                 "ranking": "full" (optional; the only ranking reproduce scores with)},
 *    "reported": {"recall@20": 0.157, "ndcg@20": 0.1214},
 *    "tolerance": 0.02}
 * The result is reproduced when every reported metric is reached within the relative
 * tolerance (ours >= reported * (1 - tolerance)). */

typedef struct ar_card {
    char *method, *source, *spec; /* spec: canonical JSON */
    char *dataset, *format, *train, *test;
    int random_split; /* protocol.split "random" (else predefined) */
    double test_ratio;
    uint64_t seed;
    int k;
    double reported[2]; /* recall@k, ndcg@k; NAN when not reported */
    double tolerance;
    char *json; /* the card's JSON block, compact */
} ar_card;

/* Parses a card from its Markdown text; `name` (the file) prefixes errors, which name the
 * field ("card.cards/x.md: reported.ndcg@20: expected a number in (0, 1]"). The spec is
 * validated with ar_spec_validate. Free with ar_card_free(). */
ar_status ar_card_parse(const char *markdown, const char *name, ar_card *out, ar_error *err);
void ar_card_free(ar_card *c);

typedef struct ar_card_verdict {
    int reproduced;     /* every reported metric reached within the tolerance */
    double gap[2];      /* ours - reported (recall, ndcg); NAN when not reported */
    double relative[2]; /* gap / reported */
    char text[512];     /* the verdict in words, for the ledger */
} ar_card_verdict;

/* Judges measured recall@k and ndcg@k against the card. */
ar_card_verdict ar_card_judge(const ar_card *c, double recall, double ndcg);

/* The JSON Schema of a card's json block (static text, never NULL after the first call unless
 * memory ran out; thread-safe): what an LLM drafting a card is constrained to. It is built from
 * the bounds ar_card_parse checks, with the model spec schema's definitions (ar_spec_schema,
 * without the parameters' descriptions) under $defs. Every document it accepts passes
 * ar_card_parse except for what a schema cannot say: reported's keys must be recall@K and/or
 * ndcg@K for protocol.k, a predefined split needs dataset.test, files must lie inside the
 * dataset's folder, protocol.ranking "sampled" is refused (with the reason), and the spec's
 * checks beyond its schema. */
const char *ar_card_schema(void);

/* -- Drafting a card from a method's description ----------------------------------------------
 * An LLM reads a method's description (text from a paper) and drafts a card. The text is data:
 * it goes to the model inside the data block of ar_llm_propose's prompt, declared to be a
 * description to summarise and never instructions. The answer is constrained by
 * response_format (ar_card_schema), checked against that schema, then rendered as a card
 * (Markdown with the answer in the ```json block) and validated by ar_card_parse exactly as a
 * hand-written card is; a rejected answer is sent back with the parser's reason and the model
 * is asked again, up to llm->max_retries times. Nothing in the text or in an answer can change
 * the schema, the validator or the number of attempts. */

typedef struct ar_card_draft_options {
    const ar_llm_config *llm; /* the endpoint (required); its log callback, if any, still gets
                               * every attempt */
    const char *datasets;     /* the datasets a card can name, as a JSON array given to the model
                               * as data, e.g. [{"name": "ml-100k", "files": ["u.data"]}];
                               * NULL = none listed */
    const char *text_name;    /* where the text came from (a file name), for the prompt's data
                               * and the draft's heading; NULL = "the text" */
    const char *card_name;    /* the draft's name in validation messages (its file); NULL =
                               * "(card)" */
    size_t max_text_bytes;    /* longest text accepted (default 64 KiB; at most 16 MiB) */
} ar_card_draft_options;

ar_card_draft_options ar_card_draft_options_default(void);
/* NULL when the options are usable, otherwise a static message saying what is wrong. */
const char *ar_card_draft_options_check(const ar_card_draft_options *o);

typedef struct ar_card_draft {
    int valid;              /* 1 when the draft passed ar_card_parse */
    char *markdown;         /* the draft card, valid or not: when not, marked REJECTED with the
                             * reason, the last answer in it for inspection (in the ```json
                             * block when it is a JSON object, else indented); NULL when no
                             * answer came back */
    char reason[512];       /* why there is no valid draft: the parser's message naming the
                             * field, the schema violation, or the endpoint's failure; "" when
                             * valid */
    ar_llm_outcome outcome; /* how the last attempt ended (when attempts > 0) */
    int attempts;           /* HTTP attempts made */
    size_t prompt_bytes;    /* bytes of the first attempt's messages */
    char *attempts_json;    /* every attempt as a JSON array of {attempt, outcome, http,
                             * latency_s, prompt_bytes, message, retry}; NULL when none */
} ar_card_draft;

/* Drafts a card from text (a method's description, UTF-8, at most o->max_text_bytes). Returns
 * AR_OK with out->valid = 1 and the card in out->markdown; AR_EINVAL for bad options or text
 * (out->attempts = 0) or when every answer was rejected (out->reason says why, out->markdown
 * holds the last one); AR_EIO when the endpoint could not be reached or answered with an HTTP
 * error; AR_EPARSE when its answers were malformed; AR_ENOMEM. err says which. out is filled
 * in every case and freed with ar_card_draft_free(). Thread-safe for distinct outputs. */
ar_status ar_card_draft_from_text(const ar_card_draft_options *o, const char *text,
                                  ar_card_draft *out, ar_error *err);
/* Frees what a draft holds (not the struct); NULL is a no-op. */
void ar_card_draft_free(ar_card_draft *d);

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_AUTOTRAIN_H */
