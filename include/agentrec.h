/*
 * agentrec.h -- the public API of libagentrec.
 *
 * This header is the manual. Every function says what it returns, who owns what, and whether it
 * may be called from several threads at once. Nothing outside include/ is API.
 *
 * Conventions
 *   - Fallible calls return ar_status: AR_OK (0) on success, a negative code otherwise. Results
 *     go to trailing OUT parameters, which are set to NULL (or zero) on error.
 *   - Functions that fail may leave a human-readable explanation (naming the file, line and
 *     field where that applies) in a caller-supplied ar_error; pass NULL if you don't want it.
 *   - Objects are created with ar_<noun>_create/_open/_load and freed with ar_<noun>_free, which
 *     accepts NULL.
 *   - Unless stated otherwise, a function is thread-safe with respect to other calls on
 *     *different* objects, and read-only accessors on one object may run concurrently.
 *   - Library code never prints, never exits and never reads environment variables.
 *
 * The header compiles as C11 and as C++.
 */
#ifndef AGENTREC_H
#define AGENTREC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AR_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------------
 * Status codes. One table generates the enum and ar_strerror().
 * ------------------------------------------------------------------------------------------- */

#define AR_STATUS_MAP(X)                                                                           \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EIO, -2, "input/output error")                                                               \
    X(EPARSE, -3, "malformed input")                                                               \
    X(EINVAL, -4, "invalid argument")                                                              \
    X(ERANGE, -5, "value out of range")                                                            \
    X(ECORRUPT, -6, "corrupt or truncated file")                                                   \
    X(EVERSION, -7, "unsupported file version")                                                    \
    X(ENOTFOUND, -8, "not found")                                                                  \
    X(EEMPTY, -9, "empty input")                                                                   \
    X(ECANCELED, -10, "operation canceled")                                                        \
    X(EDUP, -11, "duplicate entry")

typedef enum ar_status {
#define AR__STATUS_ENUM(name, code, text) AR_##name = code,
    AR_STATUS_MAP(AR__STATUS_ENUM)
#undef AR__STATUS_ENUM
} ar_status;

/* Returns a static, never-NULL description of a status code. Thread-safe. */
const char *ar_strerror(ar_status status);

/* An error message buffer the caller owns. Functions that take an ar_error * write a one-line
 * explanation into it when they fail (and leave it untouched when they succeed). */
typedef struct ar_error {
    char msg[512];
} ar_error;

/* ---------------------------------------------------------------------------------------------
 * Allocator hooks. All of the library's heap memory goes through these. Not thread-safe: set
 * them once before any other call. Passing NULLs restores malloc/realloc/free.
 * ------------------------------------------------------------------------------------------- */

typedef struct ar_allocator {
    void *(*malloc_fn)(size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} ar_allocator;

void ar_set_allocator(const ar_allocator *allocator);

/* ---------------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded through splitmix64. ar_rng_stream() derives an independent
 * generator from (seed, stream), which is how parallel code gets results that do not depend on
 * the thread count: row r always uses stream r.
 * ------------------------------------------------------------------------------------------- */

typedef struct ar_rng {
    uint64_t s[4];
} ar_rng;

void ar_rng_seed(ar_rng *rng, uint64_t seed);
void ar_rng_stream(ar_rng *rng, uint64_t seed, uint64_t stream);
uint64_t ar_rng_next(ar_rng *rng);
/* Uniform integer in [0, n), unbiased. n must be > 0. */
uint64_t ar_rng_below(ar_rng *rng, uint64_t n);
/* Uniform double in [0, 1). */
double ar_rng_uniform(ar_rng *rng);

/* ---------------------------------------------------------------------------------------------
 * Progress reporting. Long operations take an optional callback; they call it with the work done
 * so far and the total (total may be 0 when unknown). The callback must be cheap; operations call
 * it at most a few hundred times. Returning non-zero asks the operation to stop, which it does
 * by returning AR_ECANCELED.
 * ------------------------------------------------------------------------------------------- */

typedef int (*ar_progress_fn)(void *user_data, int64_t done, int64_t total);

/* A terminal progress bar that implements ar_progress_fn. It draws "label [####   ] 42% 1.2M/s
 * ETA 0:13" on the given stream, redrawing at most 10 times a second, and draws nothing at all
 * when `enabled` is 0 (the CLI enables it only when stderr is a terminal and CI is not set). */
typedef struct ar_progress ar_progress;

/* Returns NULL when out of memory. The caller frees it with ar_progress_free(). */
ar_progress *ar_progress_create(FILE *stream, const char *label, int enabled);
/* Finishes the line (when anything was drawn) and frees. NULL is a no-op. */
void ar_progress_free(ar_progress *p);
/* The callback to pass to long operations together with the ar_progress * as user_data. */
int ar_progress_update(void *progress, int64_t done, int64_t total);

/* ---------------------------------------------------------------------------------------------
 * Datasets.
 *
 * A dataset is a log of interactions (user, item, time, event type, value, split), an item
 * catalogue and user attributes. Users and items have string ids that map to dense indices
 * 0..n-1; indices are assigned in ascending id order (numeric order when every id is a decimal
 * integer, byte order otherwise), so they do not depend on the order of the input files.
 *
 * Interactions are stored sorted by (user, time, input order). Each carries a split label.
 * Attributes are columns over items or users: categorical ones are multi-valued (an entity may
 * have several codes, e.g. genres), numeric ones hold one double (NaN when missing).
 *
 * A dataset is immutable once built, except for its split labels (ar_dataset_split_*), and all
 * read-only accessors are thread-safe.
 * ------------------------------------------------------------------------------------------- */

typedef struct ar_dataset ar_dataset;

typedef enum ar_split {
    AR_SPLIT_TRAIN = 0,
    AR_SPLIT_VALID = 1,
    AR_SPLIT_TEST = 2,
} ar_split;

/* Bit masks of splits, for views. */
#define AR_MASK_TRAIN (1u << AR_SPLIT_TRAIN)
#define AR_MASK_VALID (1u << AR_SPLIT_VALID)
#define AR_MASK_TEST (1u << AR_SPLIT_TEST)
#define AR_MASK_ALL (AR_MASK_TRAIN | AR_MASK_VALID | AR_MASK_TEST)

/* Event types every dataset knows; importers may add more names (up to 255 in total). */
typedef enum ar_event {
    AR_EVENT_INTERACTION = 0, /* implicit feedback of unknown kind */
    AR_EVENT_VIEW = 1,
    AR_EVENT_CLICK = 2,
    AR_EVENT_CART = 3,
    AR_EVENT_PURCHASE = 4,
    AR_EVENT_RATING = 5,
    AR_EVENT_IMPRESSION = 6,
    AR_EVENT_N_BUILTIN = 7
} ar_event;

typedef enum ar_entity { AR_USERS = 0, AR_ITEMS = 1 } ar_entity;

typedef enum ar_attr_kind { AR_ATTR_CATEGORICAL = 0, AR_ATTR_NUMERIC = 1 } ar_attr_kind;

/* Dataset-wide flags. */
#define AR_DS_HAS_TIME 1u /* timestamps are real times (seconds), not sequence positions */

/* Read-only view of the interaction log. Arrays have n entries; all pointers belong to the
 * dataset and stay valid until it is freed. */
typedef struct ar_interactions {
    int64_t n;
    const int32_t *user;
    const int32_t *item;
    const int64_t *time; /* seconds since the epoch, or the position in a sequence */
    const uint8_t *event;
    const float *value;
    const uint8_t *split; /* ar_split */
} ar_interactions;

int32_t ar_dataset_n_users(const ar_dataset *ds);
int32_t ar_dataset_n_items(const ar_dataset *ds);
int64_t ar_dataset_n_interactions(const ar_dataset *ds);
uint32_t ar_dataset_flags(const ar_dataset *ds);
/* Fills *out with the interaction arrays. Never fails. */
void ar_dataset_interactions(const ar_dataset *ds, ar_interactions *out);
/* First interaction of each user: user u owns rows user_offsets[u] .. user_offsets[u+1]-1 of the
 * log. Array of n_users + 1 entries owned by the dataset. */
const int64_t *ar_dataset_user_offsets(const ar_dataset *ds);
/* Number of interactions whose split is in mask. */
int64_t ar_dataset_count(const ar_dataset *ds, unsigned mask);

/* The external id of a user or item (NUL-terminated, owned by the dataset), or NULL when the
 * index is out of range. */
const char *ar_dataset_id(const ar_dataset *ds, ar_entity which, int32_t index);
/* Looks up an external id. Returns the index or -1. The first call for each entity builds a hash
 * index (not thread-safe); later calls are. Call it once from one thread before sharing. */
int32_t ar_dataset_lookup(ar_dataset *ds, ar_entity which, const char *id);

/* Event type names: ar_dataset_n_events() names, index = the code stored in the log. */
int ar_dataset_n_events(const ar_dataset *ds);
const char *ar_dataset_event_name(const ar_dataset *ds, int code);

/* Items' launch time (seconds; INT64_MIN when unknown) and title (NULL when unknown). */
int64_t ar_dataset_item_launch(const ar_dataset *ds, int32_t item);
const char *ar_dataset_item_title(const ar_dataset *ds, int32_t item);

/* Attribute columns. ar_dataset_n_attrs() columns per entity, addressed by index. */
int ar_dataset_n_attrs(const ar_dataset *ds, ar_entity which);
/* Index of the named column, or -1. */
int ar_dataset_attr_find(const ar_dataset *ds, ar_entity which, const char *name);
const char *ar_dataset_attr_name(const ar_dataset *ds, ar_entity which, int attr);
ar_attr_kind ar_dataset_attr_kind(const ar_dataset *ds, ar_entity which, int attr);
/* Categorical: the codes of entity `index` (count in *n, pointer owned by the dataset) and the
 * string of a code. */
const int32_t *ar_dataset_attr_codes(const ar_dataset *ds, ar_entity which, int attr, int32_t index,
                                     int32_t *n);
int32_t ar_dataset_attr_n_values(const ar_dataset *ds, ar_entity which, int attr);
const char *ar_dataset_attr_value(const ar_dataset *ds, ar_entity which, int attr, int32_t code);
/* Numeric: the value (NaN when missing or when the column is categorical). */
double ar_dataset_attr_number(const ar_dataset *ds, ar_entity which, int attr, int32_t index);

/* Frees a dataset and everything it owns (unmaps it when loaded by mmap). NULL is a no-op. */
void ar_dataset_free(ar_dataset *ds);

/* -- Building datasets ------------------------------------------------------------------------
 * A builder collects interactions and attributes under string ids and produces a dataset.
 * Not thread-safe. Every add call copies its strings. */

typedef struct ar_builder ar_builder;

ar_status ar_builder_create(ar_builder **out);
void ar_builder_free(ar_builder *b);
/* Registers an event type name and returns its code in *code (the existing code when the name
 * is known; the built-in names are "interaction", "view", "click", "cart", "purchase",
 * "rating", "impression"). AR_ERANGE past 255 names. */
ar_status ar_builder_event(ar_builder *b, const char *name, int *code);
/* Adds one interaction. value must be finite (AR_ERANGE otherwise). */
ar_status ar_builder_add(ar_builder *b, const char *user, const char *item, int64_t time, int event,
                         float value, ar_split split);
/* Makes sure an entity exists even without interactions (e.g. a catalogue item never bought). */
ar_status ar_builder_touch(ar_builder *b, ar_entity which, const char *id);
/* Adds one categorical code (string) to entity `id`'s column `attr`, creating the column and the
 * entity as needed. AR_EINVAL if the column exists as numeric. */
ar_status ar_builder_attr_cat(ar_builder *b, ar_entity which, const char *id, const char *attr,
                              const char *value);
/* Sets a numeric attribute (finite; AR_ERANGE otherwise). */
ar_status ar_builder_attr_num(ar_builder *b, ar_entity which, const char *id, const char *attr,
                              double value);
ar_status ar_builder_item_launch(ar_builder *b, const char *item, int64_t time);
ar_status ar_builder_item_title(ar_builder *b, const char *item, const char *title);
/* Declares whether timestamps are real times (sets AR_DS_HAS_TIME). */
void ar_builder_set_flags(ar_builder *b, uint32_t flags);
/* Builds the dataset. The builder stays valid (and must still be freed). AR_EEMPTY when there
 * are no interactions. The caller frees the result with ar_dataset_free(). */
ar_status ar_builder_build(ar_builder *b, ar_dataset **out, ar_progress_fn progress, void *ud);

/* -- Binary format -----------------------------------------------------------------------------
 * A single file: a header (magic "AGRECDS1", format version, counts, a 64-bit checksum of the
 * payload) followed by a section table and 64-byte-aligned sections. ar_dataset_load() maps the
 * file and points the dataset's arrays into the mapping; nothing is parsed or copied. The format
 * is described in docs/formats.md. */

#define AR_DATASET_FORMAT_VERSION 1

/* Writes the dataset to path atomically (a temporary name in the same directory, then
 * rename). */
ar_status ar_dataset_save(const ar_dataset *ds, const char *path, ar_error *err);
/* Maps a dataset file. Verifies magic, version, sizes and (when verify is non-zero) the
 * checksum. Split labels are copied into private memory so they can be changed. */
ar_status ar_dataset_load(const char *path, int verify, ar_dataset **out, ar_error *err);

/* -- Importers -----------------------------------------------------------------------------------
 * Every importer reports malformed input as AR_EPARSE (or AR_ERANGE for out-of-range numbers)
 * with "file:line: what was expected" in err. Missing files are AR_EIO. */

typedef enum ar_format {
    AR_FORMAT_MOVIELENS = 0, /* u.data (TAB) or ratings.dat ("::"), optional u.item/u.user */
    AR_FORMAT_RECBOLE = 1,   /* .inter/.item/.user atomic files with name:type headers */
    AR_FORMAT_LIGHTGCN = 2,  /* "user item item ..." lines, train and test files */
    AR_FORMAT_S3REC = 3,     /* "user item item ..." chronological sequences + attributes */
    AR_FORMAT_CSV = 4,       /* generic delimited file with a column mapping */
} ar_format;

typedef struct ar_import_options {
    ar_format format;
    const char *train;      /* main interaction file (ratings, .inter, train, sequences, csv) */
    const char *test;       /* optional predefined test file (same format as train) */
    const char *valid;      /* optional predefined validation file */
    const char *items;      /* optional item file (u.item, movies.dat, .item) */
    const char *users;      /* optional user file (u.user, users.dat, .user) */
    const char *attributes; /* S3-Rec item2attributes.json */
    /* CSV: column names (with a header) or 1-based column numbers (without). NULL = absent. */
    char delimiter; /* 0 = ',' */
    int header;     /* CSV: 1 when the first row names the columns */
    const char *col_user, *col_item, *col_time, *col_value, *col_event;
    ar_progress_fn progress;
    void *progress_data;
} ar_import_options;

ar_import_options ar_import_options_default(void);
/* NULL when the options are consistent, otherwise a static message saying what is wrong. */
const char *ar_import_options_check(const ar_import_options *opt);
ar_status ar_import(const ar_import_options *opt, ar_dataset **out, ar_error *err);
/* Parses a format name ("movielens", "recbole", "lightgcn", "s3rec", "csv"); -1 if unknown. */
int ar_format_parse(const char *name);

/* -- Splits --------------------------------------------------------------------------------------
 * All splits are deterministic functions of (dataset, options, seed), whatever the thread count:
 * randomness for user u comes from ar_rng_stream(seed, u). They overwrite the split labels. */

typedef enum ar_split_method {
    AR_SPLIT_RANDOM = 0,   /* per user, a random test_ratio (and valid_ratio) of interactions */
    AR_SPLIT_LOO = 1,      /* per user by time: last -> test, second-to-last -> valid */
    AR_SPLIT_TEMPORAL = 2, /* global time cut: the latest test_ratio of the log -> test */
} ar_split_method;

typedef struct ar_split_options {
    ar_split_method method;
    double test_ratio;  /* RANDOM, TEMPORAL: fraction in [0, 1) */
    double valid_ratio; /* RANDOM, TEMPORAL: fraction in [0, 1); 0 < test+valid < 1 */
    int loo_valid;      /* LOO: also hold out a validation item (default 1) */
    /* Only interactions whose split is in this mask are relabelled; the others keep theirs.
     * AR_MASK_ALL (default) splits the whole log; AR_MASK_TRAIN with test_ratio 0 carves a
     * validation set out of the training data and leaves a predefined test split alone. */
    unsigned within;
    uint64_t seed;
    int n_threads; /* 0 = all */
} ar_split_options;

ar_split_options ar_split_options_default(void);
const char *ar_split_options_check(const ar_split_options *opt);
ar_status ar_dataset_split(ar_dataset *ds, const ar_split_options *opt, ar_error *err);

/* -- Sparse views ------------------------------------------------------------------------------
 * A compressed sparse row matrix. For a user x item view rows are users and columns items;
 * its transpose (CSC of the same matrix) has rows = items. Column indices within a row are
 * sorted ascending and unique; value is the sum of the values of the merged interactions, or 1
 * when binary. */

typedef struct ar_csr {
    int32_t n_rows, n_cols;
    int64_t nnz;
    int64_t *indptr;  /* n_rows + 1 */
    int32_t *indices; /* nnz */
    float *values;    /* nnz */
} ar_csr;

/* Builds the user x item matrix of the interactions whose split is in mask. The caller owns
 * the result and frees it with ar_csr_free(). */
ar_status ar_dataset_csr(const ar_dataset *ds, unsigned mask, int binary, ar_csr **out);
/* Like ar_dataset_csr, but every interaction contributes weights[its event code] instead of
 * its value (n_weights entries; finite and >= 0, else AR_EINVAL); interactions whose event has
 * weight 0, or a code >= n_weights, are left out -- e.g. clicks 1, carts 2, purchases 4 and
 * impressions 0 for a log generated by the retail world. */
ar_status ar_dataset_csr_events(const ar_dataset *ds, unsigned mask, const float *weights,
                                int n_weights, ar_csr **out);
/* The transpose (n_cols x n_rows), e.g. item x user from user x item. */
ar_status ar_csr_transpose(const ar_csr *m, ar_csr **out);
void ar_csr_free(ar_csr *m);
/* 1 if row r contains column c (binary search). */
int ar_csr_contains(const ar_csr *m, int32_t r, int32_t c);

/* -- Statistics (agentrec info) --------------------------------------------------------------- */

typedef struct ar_dataset_stats {
    int32_t users, items;
    int64_t interactions, train, valid, test;
    double density;
    /* quantiles of interactions per user / per item (all splits): min, 25%, 50%, 75%, 90%, 99%,
     * max */
    double user_q[7], item_q[7];
    double pop_gini; /* Gini index of item popularity (interaction counts) */
    int64_t time_min, time_max;
    int has_time;
} ar_dataset_stats;

ar_status ar_dataset_stats_compute(const ar_dataset *ds, ar_dataset_stats *out);

/* A small synthetic dataset with a known structure: users in `clusters` taste groups, item
 * popularity following a Zipf law, timestamps increasing. Deterministic in seed. Used by the
 * built-in example and the tests. */
ar_status ar_dataset_synthetic(int32_t users, int32_t items, int32_t per_user, int clusters,
                               uint64_t seed, ar_dataset **out);

/* ---------------------------------------------------------------------------------------------
 * Offline evaluation.
 * ------------------------------------------------------------------------------------------- */

/* A ranker produces recommendations for the evaluator. Both calls must be thread-safe for
 * concurrent calls on different users. */
typedef struct ar_ranker {
    void *ctx;
    /* Writes up to k items, best first, for user u into items (and *n_out), never an item in
     * exclude (sorted ascending, n_exclude entries). */
    ar_status (*topk)(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude, int32_t k,
                      int32_t *items, int32_t *n_out);
    /* Scores the given items for user u (higher = better). Needed by the sampled protocol. */
    ar_status (*score)(void *ctx, int32_t user, const int32_t *items, int32_t n, float *scores);
    /* Optional (NULL = none): called by an evaluator thread before it ranks users first ..
     * end - 1 (at most 64 of them), all from that same thread, so a ranker can score them
     * together (one matrix product instead of end - first). */
    ar_status (*block)(void *ctx, int32_t first, int32_t end);
} ar_ranker;

typedef enum ar_metric {
    AR_METRIC_RECALL = 0,
    AR_METRIC_NDCG,
    AR_METRIC_HR,
    AR_METRIC_PRECISION,
    AR_METRIC_MRR,
    AR_METRIC_MAP,
    AR_METRIC_COVERAGE,
    AR_METRIC_NOVELTY,
    AR_METRIC_GINI,
    AR_METRIC_N
} ar_metric;

/* "recall", "ndcg", "hr", "precision", "mrr", "map", "coverage", "novelty", "gini". */
const char *ar_metric_name(ar_metric m);
int ar_metric_parse(const char *name);

#define AR_EVAL_MAX_CUTOFFS 8

typedef enum ar_protocol {
    AR_PROTOCOL_FULL = 0,    /* rank all items except the user's training items */
    AR_PROTOCOL_SAMPLED = 1, /* rank the held-out items among sampled or given negatives */
} ar_protocol;

typedef struct ar_eval_options {
    ar_protocol protocol;
    int32_t cutoffs[AR_EVAL_MAX_CUTOFFS]; /* K values, ascending; n_cutoffs of them */
    int n_cutoffs;
    unsigned target_mask;  /* split whose interactions are the ground truth (AR_MASK_TEST) */
    unsigned exclude_mask; /* splits whose items are never recommended (AR_MASK_TRAIN) */
    /* sampled protocol */
    int32_t n_negatives;      /* per user, sampled uniformly from items the user never touched */
    const int32_t *negatives; /* or given: n_users * n_negatives item indices, -1 = none */
    uint64_t seed;
    /* Evaluate only this fraction of the users, chosen by a hash of (seed, user) so the subset
     * is the same in every run: the cheap low-fidelity score of multi-fidelity search. 1 = all
     * users (default). */
    double user_fraction;
    int n_threads; /* 0 = all */
    ar_progress_fn progress;
    void *progress_data;
} ar_eval_options;

ar_eval_options ar_eval_options_default(void);
const char *ar_eval_options_check(const ar_eval_options *opt);

typedef struct ar_eval_result {
    int32_t users; /* users with at least one ground-truth item */
    int n_cutoffs;
    int32_t cutoffs[AR_EVAL_MAX_CUTOFFS];
    /* value[m][c]: metric m at cutoff c, averaged over users (coverage, novelty and gini are
     * properties of the recommended lists as a whole) */
    double value[AR_METRIC_N][AR_EVAL_MAX_CUTOFFS];
} ar_eval_result;

/* Evaluates the ranker on ds. Deterministic: the same result for any n_threads. */
ar_status ar_evaluate(const ar_dataset *ds, const ar_ranker *ranker, const ar_eval_options *opt,
                      ar_eval_result *out, ar_error *err);

/* Exact top-k of scores[0..n), ties broken by lower index, skipping the sorted exclude list.
 * Writes min(k, n - excluded) indices to out, best first, and returns that count. Uses a bounded
 * heap: O(n log k). Thread-safe. */
int32_t ar_topk(const float *scores, int32_t n, const int32_t *exclude, int32_t n_exclude,
                int32_t k, int32_t *out);

/* -- MostPop: items ranked by training popularity (ties: lower index first). -- */
typedef struct ar_mostpop ar_mostpop;
/* Counts distinct users per item over the interactions whose split is in mask. */
ar_status ar_mostpop_fit(const ar_dataset *ds, unsigned mask, ar_mostpop **out);
void ar_mostpop_free(ar_mostpop *m);
/* A ranker view; valid while m lives. */
ar_ranker ar_mostpop_ranker(ar_mostpop *m);

/* -- Negatives for the sampled protocol from a file ("user neg neg ...", external ids, as in
 * S3-Rec's *_sample.txt). Writes an n_users x *n_per_user array (-1 where a user has fewer or
 * no line) that the caller frees with ar_free_array(). Every line must list the same number of
 * negatives; unknown ids are AR_EPARSE with file:line. Builds ds's id index like
 * ar_ranked_lists_read. */
ar_status ar_negatives_read(ar_dataset *ds, const char *path, int32_t *n_per_user, int32_t **out,
                            ar_error *err);
/* Frees an array the library allocated for the caller. NULL is a no-op. */
void ar_free_array(void *p);

/* -- Ranked lists from a file ("user<TAB>item item ...", external ids) -- */
typedef struct ar_ranked_lists ar_ranked_lists;
/* Reads the file, mapping ids through ds (which must have been used with ar_dataset_lookup
 * from one thread or not at all: this call builds the id index). Unknown users or items, or a
 * user listed twice, are AR_EPARSE with file:line. */
ar_status ar_ranked_lists_read(ar_dataset *ds, const char *path, ar_ranked_lists **out,
                               ar_error *err);
void ar_ranked_lists_free(ar_ranked_lists *r);
ar_ranker ar_ranked_lists_ranker(ar_ranked_lists *r);

#ifdef __cplusplus
}
#endif

/* The rest of the API, one header per part (each usable only through this one). */
#include "agentrec/models.h"
#include "agentrec/world.h"
#include "agentrec/ledger.h"
#include "agentrec/agents.h"
#include "agentrec/spec.h"
#include "agentrec/llm.h"
#include "agentrec/autotrain.h"

#endif /* AGENTREC_H */
