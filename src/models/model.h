/*
 * model.h -- the model vtable every model family implements (internal).
 *
 * A family provides its parameter table and the functions below; model.c does everything
 * generic: parameter parsing and JSON, the training matrix, top-K with exclusions and filters,
 * explanations' ranking, rankers for the evaluator, and the model file.
 *
 * State ownership: m->state belongs to the family. A model loaded from a file keeps the file
 * mapped (m->map) and the family may point its arrays into it (ar__model_array); free_state
 * must then free only what it allocated -- test `m->map == NULL` to know whether arrays are
 * owned.
 */
#ifndef AR_MODEL_H
#define AR_MODEL_H

#include "core/core.h"
#include "core/secfile.h"

#define AR__MAX_PARAMS 24
/* Section tags from this value on belong to the model family. */
#define AR__MODEL_TAG_STATE 100

typedef struct ar__model_impl {
    const char *name;
    const char *citation;
    const ar_param_def *params;
    int n_params;
    /* Fits m->state. x is the user x item training matrix (values of repeated interactions
     * summed), xt its transpose; both stay owned by the caller. m->n_users/n_items are set. */
    ar_status (*fit)(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err);
    /* Scratch floats score/explain need for one call (may be 0). */
    size_t (*ws_floats)(const ar_model *m);
    /* Scores all items for one user (see ar_model_score); ws: ws_floats() floats. */
    void (*score)(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws);
    /* Optional batch scoring; NULL = one user at a time. */
    ar_status (*score_batch)(const ar_model *m, const ar_csr *hist, const int32_t *users, int32_t n,
                             float *scores);
    /* Optional: the contribution of each history item items[j] to `item`'s score, into
     * weights[j]. NULL = the model has no item-level explanation. */
    void (*explain)(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws);
    /* Adds the fitted state's sections (tags >= AR__MODEL_TAG_STATE). */
    void (*save)(const ar_model *m, ar__secw *w);
    /* Restores the state from a mapped file; validates sizes and values it relies on. */
    ar_status (*load)(ar_model *m, const ar__secfile *f);
    void (*free_state)(ar_model *m);
    /* Composites only (else NULL): fits from the dataset, without the generic training matrix
     * (fit is then unused). m->n_users/n_items/fingerprint are set. */
    ar_status (*fit_dataset)(ar_model *m, const ar_dataset *ds, const ar_fit_options *o,
                             ar_error *err);
    /* Composites only: frees m->spec, which outlives fits (free_state drops fitted state). */
    void (*free_spec)(ar_model *m);
    /* Optional: the multiply-adds of a fit at the current parameters on users x items with
     * that many interactions, from the algorithm's complexity (ar_model_fit_work). NULL =
     * proportional to the interactions. */
    double (*fit_work)(const ar_model *m, double users, double items, double interactions);
    /* 1 when the fit reads ar_fit_options.seed (random initialisation or sampling); the fits
     * of the others are the same for every seed (tested), so the fit cache ignores it. */
    int seeded;
} ar__model_impl;

struct ar_model {
    const ar__model_impl *impl;
    double param[AR__MAX_PARAMS];
    int fitted;
    int32_t n_users, n_items;
    uint64_t fingerprint;
    void *state;
    void *map; /* the model file, when loaded */
    size_t map_len;
    int map_borrowed; /* a member of a composite: map is the composite's, not unmapped here */
    void *spec;       /* a composite's parsed spec (composite.c); NULL for zoo models */
};

/* Drops a model's fitted state (and its mapping unless borrowed): it becomes unfitted. */
void ar__model_unfit(ar_model *m);

/* The value of the family's i-th parameter. */
static inline double ar__p(const ar_model *m, int i) {
    return m->param[i];
}

/* A section of the model file that must exist with this size and count. */
ar_status ar__model_array(const ar__secfile *f, uint32_t tag, uint32_t elem_size, uint64_t count,
                          const void **out);

/* The training matrix ar_model_fit gives a family: the interactions of o->train_mask, with
 * o's event weights, time decay and TF-IDF / BM25 weighting. The caller frees it. */
ar_status ar__training_matrix(const ar_dataset *ds, const ar_fit_options *o, ar_csr **out);

/* Bytes of memory available to a fit: o->memory_limit, or MemAvailable from /proc/meminfo. */
size_t ar__memory_available(const ar_fit_options *o);

/* The rows and columns of a CSR matrix as three sections: tag (indptr, int64), tag + 1
 * (indices, int32) and tag + 2 (values, float32). */
void ar__model_csr_save(ar__secw *w, uint32_t tag, const ar_csr *x);
/* The model file's container (ar_model_save): magic, and the sections every file has before
 * the family's own (the tests write old-format files with them). */
extern const char ar__model_magic[8];
enum { AR__MODEL_TAG_NAME = 1, AR__MODEL_TAG_PARAMS = 2 };

/* Points out's arrays into f's sections saved by ar__model_csr_save, after checking them:
 * n_rows x n_cols, offsets from 0 and non-decreasing, columns in range and strictly ascending
 * per row, finite values. */
ar_status ar__model_csr(const ar__secfile *f, uint32_t tag, int32_t n_rows, int32_t n_cols,
                        ar_csr *out);

/* The hot loops marked so are compiled twice, for AVX2 and for the baseline, and picked at
 * load time (the default build flags target plain x86-64). The choice depends on the machine
 * only, so results stay the same for any thread count. */
#if defined(__x86_64__) && defined(__linux__) &&                                                   \
    ((defined(__GNUC__) && !defined(__clang__)) || (defined(__clang__) && __clang_major__ >= 14))
#define AR__SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AR__SIMD_CLONES
#endif

/* Polls the cancel flag. */
static inline int ar__canceled(const ar_fit_options *o) {
    return o->cancel && *o->cancel;
}

extern const ar__model_impl ar__mostpop_impl, ar__itemknn_impl, ar__rp3beta_impl, ar__ease_impl,
    ar__ials_impl, ar__bpr_impl, ar__bspm_impl;

#endif
