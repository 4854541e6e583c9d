/*
 * agentrec/models.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The model zoo: one interface (ar_model) over every collaborative model -- fit, score one user
 * or a batch, exact top-K with exclusions, explain, save / load -- and each model's decision
 * space (typed hyperparameters with defaults and ranges) so agents can search it without knowing
 * the model.
 *
 * Users are scored from their history: the items they interacted with (ascending indices) and
 * the interaction values. Models with per-user state (matrix factorisation) use it for users
 * seen in training when `user` is given, and fold the history in otherwise (new users,
 * sessions). Item-based models only ever need the history.
 *
 * Thread safety: a fitted model is read-only; scoring, recommending and explaining may run
 * concurrently from several threads. Fitting and setting parameters need exclusive access.
 */
#ifndef AGENTREC_MODELS_H
#define AGENTREC_MODELS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ar_model ar_model;

/* -- Decision space --------------------------------------------------------------------------- */

typedef enum ar_param_type {
    AR_PARAM_INT = 0,
    AR_PARAM_FLOAT = 1,
    AR_PARAM_LOGFLOAT = 2, /* positive; searched on a log scale */
    AR_PARAM_CATEGORICAL = 3,
    AR_PARAM_BOOL = 4,
} ar_param_type;

typedef struct ar_param_def {
    const char *name;
    ar_param_type type;
    double lo, hi;       /* inclusive range (numeric); ignored for categorical and bool */
    double def;          /* default value; for categorical the index of the default choice */
    const char *choices; /* categorical: names separated by '|', e.g. "cosine|jaccard" */
    const char *cond;    /* NULL, or "param=choice[|choice...]": exists only for those choices */
    const char *help;
} ar_param_def;

/* Names of the models in the zoo, NULL-terminated, static. */
const char *const *ar_model_names(void);

/* Creates an unfitted model with default parameters. AR_ENOTFOUND for an unknown name. The
 * caller frees it with ar_model_free(). */
ar_status ar_model_create(const char *name, ar_model **out);
void ar_model_free(ar_model *m);
const char *ar_model_name(const ar_model *m);
/* The paper the model follows (one line, static). */
const char *ar_model_citation(const ar_model *m);

int ar_model_n_params(const ar_model *m);
const ar_param_def *ar_model_param_def(const ar_model *m, int i);
/* Sets a parameter from its text form ("0.5", "cosine", "true"); checks type and range.
 * AR_ENOTFOUND for an unknown name, AR_EINVAL/AR_ERANGE for a bad value, with a message. Only
 * before fitting (AR_EINVAL after). */
ar_status ar_model_set(ar_model *m, const char *name, const char *value, ar_error *err);
/* Sets "name=value" pairs from a JSON object string ({"k": 100, "similarity": "cosine"}). */
ar_status ar_model_set_json(ar_model *m, const char *json, ar_error *err);
/* The current value (categorical: the choice index). NAN for an unknown name. */
double ar_model_get(const ar_model *m, const char *name);
/* JSON texts the caller frees with ar_free_array(): the current parameters as an object, and
 * the decision space as an array of {name, type, low, high, default, choices, condition, help}.
 * NULL when out of memory. */
char *ar_model_params_json(const ar_model *m);
char *ar_model_space_json(const ar_model *m);

/* An estimate of the arithmetic (multiply-adds) a fit at the current parameters does on data
 * of users x items with that many interactions, from the algorithm's complexity: for cost
 * models that learn a family's seconds per unit of work from its fits and price the next
 * candidate by its parameters (BPR's epochs x factors, iALS's factors and solver). Within a
 * family it ranks fits by cost; across families it is only indicative. NAN for a composite
 * (price its members one by one). */
double ar_model_fit_work(const ar_model *m, double users, double items, double interactions);

/* -- Fitting ---------------------------------------------------------------------------------- */

/* Weighting of the user x item training matrix (ar_fit_options.weighting). With N users and
 * df_i the users of item i: TF-IDF x_ui * log(1 + N / df_i); BM25 (Robertson & Zaragoza 2009,
 * with users as documents) idf_i * x_ui (k1 + 1) / (x_ui + k1 (1 - b + b len_u / avg_len)),
 * idf_i = log(1 + (N - df_i + 0.5) / (df_i + 0.5)), len_u = the row's sum. */
typedef enum ar_weighting {
    AR_WEIGHTING_NONE = 0,
    AR_WEIGHTING_TFIDF = 1,
    AR_WEIGHTING_BM25 = 2,
} ar_weighting;

/* A cache of fitted models (docs/models.md), for searches that refit the same model (a
 * promotion to full fidelity, a seed-noise rerun, a blend of earlier candidates): a fit of a
 * zoo model first looks in dir for a file keyed by everything the fit depends on -- the
 * dataset's interactions, the options that shape the training matrix, the family, its
 * parameters and the seed when the family reads one -- and loads it instead of fitting. A fit
 * that took at least min_seconds is saved there (atomically); then the least recently used
 * files go until dir holds at most max_bytes (0 = no cap). A cache failure never fails a fit.
 * A blend's members go through the cache one by one. */
typedef struct ar_fit_cache {
    const char *dir;
    double min_seconds;
    uint64_t max_bytes;
    int hits; /* out: fits loaded from the cache */
    /* Optional: told the path of every file a fit saved, with the seconds the fit took (so a
     * caller can drop it later, and knows what refitting it costs). */
    void (*stored)(void *data, const char *path, double fit_seconds);
    /* Optional: told the path of every file a fit loaded instead of fitting. */
    void (*loaded)(void *data, const char *path);
    void *data;
} ar_fit_cache;

typedef struct ar_fit_options {
    unsigned train_mask; /* splits to learn from (AR_MASK_TRAIN) */
    /* Optional event-type weights (see ar_dataset_csr_events): the training matrix then sums
     * weights[event] instead of the interaction values, and events of weight 0 are ignored.
     * NULL (default) = the values as they are. */
    const float *event_weights;
    int n_event_weights;
    /* Optional weighting of the training matrix, for every model (docs/spec.md): time decay
     * first -- each interaction weighs 0.5^(age / half_life), its age measured from the latest
     * training interaction; needs real timestamps (AR_DS_HAS_TIME), else AR_EINVAL -- then
     * TF-IDF or BM25 over the user x item matrix. 0 / AR_WEIGHTING_NONE (default) = off. */
    double half_life_days;
    ar_weighting weighting;
    double bm25_k1, bm25_b; /* BM25 saturation and length normalisation (1.2, 0.75) */
    int n_threads;          /* 0 = all; results do not depend on it (except Hogwild BPR) */
    uint64_t seed;
    /* Memory the fit may use, in bytes; 0 = the machine's available memory. Models that know
     * their need up front (EASE) refuse with AR_ENOMEM and a message before allocating. */
    size_t memory_limit;
    ar_progress_fn progress; /* called with (epoch or step, total) */
    void *progress_data;
    const volatile int *cancel; /* when non-NULL and set, the fit stops with AR_ECANCELED */
    /* Optional cache of fitted models (ar_fit_cache); NULL = none. */
    struct ar_fit_cache *cache;
} ar_fit_options;

ar_fit_options ar_fit_options_default(void);
const char *ar_fit_options_check(const ar_fit_options *o);

/* Fits the model on ds. On failure the model stays unfitted. */
ar_status ar_model_fit(ar_model *m, const ar_dataset *ds, const ar_fit_options *o, ar_error *err);
int ar_model_is_fitted(const ar_model *m);
int32_t ar_model_n_items(const ar_model *m);
int32_t ar_model_n_users(const ar_model *m);

/* -- Scoring ---------------------------------------------------------------------------------- */

/* Scores every item for one user. items/values: the user's history (ascending indices; values
 * may be NULL for all ones); user: the training user's index, or -1 to fold the history in.
 * scores has ar_model_n_items() entries. */
ar_status ar_model_score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                         int32_t n, float *scores);

/* Scores a batch: row r of scores (n x n_items, row-major) is user users[r], whose history is
 * row users[r] of hist (a user x item matrix such as ar_dataset_csr(train)). Uses blocked
 * matrix products where the model allows. */
ar_status ar_model_score_batch(const ar_model *m, const ar_csr *hist, const int32_t *users,
                               int32_t n, float *scores);

typedef struct ar_rec_filter {
    int exclude_history;    /* never recommend items in the given history */
    const int32_t *exclude; /* and these (sorted ascending) */
    int32_t n_exclude;
    /* Only items whose categorical attribute `attr` (item column of `ds`) contains `code`;
     * ds NULL = no category filter. */
    const ar_dataset *ds;
    int attr;
    int32_t code;
} ar_rec_filter;

/* Exact top-k for one user (ties by lower index). Writes up to k items and their scores, best
 * first; *n_out says how many. filter may be NULL (nothing excluded). */
ar_status ar_model_recommend(const ar_model *m, int32_t user, const int32_t *items,
                             const float *values, int32_t n, int32_t k, const ar_rec_filter *filter,
                             int32_t *out_items, float *out_scores, int32_t *n_out);

/* Explains item's score for a user: the history items that contribute most, with their
 * contributions (same scale as the score), largest first. Up to max entries; models without
 * item-level contributions (mostpop) return 0 entries. */
ar_status ar_model_explain(const ar_model *m, int32_t user, const int32_t *items,
                           const float *values, int32_t n, int32_t item, int32_t max,
                           int32_t *out_items, float *out_weights, int32_t *n_out);

/* A ranker for the evaluator: scores users of ds from their history in `hist` (which the
 * ranker borrows; e.g. the train view). Valid while m and hist live. */
ar_status ar_model_ranker(const ar_model *m, const ar_csr *hist, ar_ranker *out);
/* Frees what ar_model_ranker allocated (per-thread scratch). */
void ar_model_ranker_free(ar_ranker *r);

/* -- Persistence -------------------------------------------------------------------------------
 * A model file (magic "AGRECMD1") holds the model name, its parameters, a fingerprint of the
 * dataset it was fitted on, and the fitted state, with a checksum; it is written atomically and
 * loaded by mmap. A corrupt, truncated or foreign file is refused with AR_ECORRUPT /
 * AR_EVERSION and a message naming the file. */

#define AR_MODEL_FORMAT_VERSION 1

ar_status ar_model_save(const ar_model *m, const char *path, ar_error *err);
ar_status ar_model_load(const char *path, ar_model **out, ar_error *err);
/* A fingerprint of a dataset's users and items (counts and ids). ar_model_check_dataset says
 * whether a model was fitted on a dataset with the same users and items (AR_EINVAL with a
 * message otherwise). */
uint64_t ar_dataset_fingerprint(const ar_dataset *ds);
ar_status ar_model_check_dataset(const ar_model *m, const ar_dataset *ds, ar_error *err);

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_MODELS_H */
