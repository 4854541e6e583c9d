/*
 * spec_internal.h -- the parsed form of a model spec (spec.c) shared with the composite model
 * (composite.c). See include/agentrec/spec.h for the language and docs/spec.md for its
 * semantics.
 *
 * Invariant: every floating-point number in a tree has been rounded to 15 significant digits
 * when it was parsed (r15), so printing the tree canonically (15 digits) and parsing that text
 * again gives a tree with bit-identical numbers. A composite can therefore be saved as its
 * canonical text and loaded back to score bitwise the same.
 */
#ifndef AR_SPEC_INTERNAL_H
#define AR_SPEC_INTERNAL_H

#include "models/model.h"

#define AR__SPEC_MAX_EVENTS 32
#define AR__SPEC_PATH 160

typedef enum ar__spec_kind {
    AR__SPEC_LEAF = 0,
    AR__SPEC_BLEND = 1,
    AR__SPEC_FUSE = 2,
    AR__SPEC_GATE = 3,
    AR__SPEC_STACK = 4,
} ar__spec_kind;

/* Meta-features of a stack (spec.c names them, composite.c computes them). */
typedef enum ar__spec_feature {
    AR__FEAT_BIAS = 0,    /* the constant 1 */
    AR__FEAT_LOG_LEN = 1, /* log(1 + |H|), standardised */
    AR__FEAT_POP = 2,     /* mean over H of log(1 + pop_i), standardised */
} ar__spec_feature;

extern const char *const ar__spec_feature_names[AR_SPEC_MAX_FEATURES];

typedef enum ar__spec_norm {
    AR__NORM_MAX = 0,
    AR__NORM_ZSCORE = 1,
    AR__NORM_RANK = 2,
} ar__spec_norm;

typedef struct ar__spec_node {
    ar__spec_kind kind;
    char path[AR__SPEC_PATH]; /* "spec.blend[1].spec", for messages */
    /* combinators */
    int n;
    struct ar__spec_node *m[AR_SPEC_MAX_MEMBERS];
    double w[AR_SPEC_MAX_MEMBERS];    /* blend weights (>= 0) */
    ar__spec_norm norm;               /* blend, stack */
    int32_t depth;                    /* blend, stack with rank normalisation, fuse: ranks kept */
    double rrf_k;                     /* fuse */
    int32_t thr[AR_SPEC_MAX_MEMBERS]; /* gate: n - 1 ascending history-length thresholds */
    /* stack: features feat[0..n_feat) in ascending id order (feat[0] is the bias) and the
     * meta-model v[m][k], the weight of member m's normalised scores per unit of feature k */
    int n_feat;
    ar__spec_feature feat[AR_SPEC_MAX_FEATURES];
    double v[AR_SPEC_MAX_MEMBERS][AR_SPEC_MAX_FEATURES];
    const struct ar__spec_stats *stats; /* fitted: set by the composite's fit and load */
    /* base learner */
    ar_model *model; /* parameters set; fitted with the composite */
    int leaf;        /* index among the tree's base learners, in document order */
    int n_events;
    char *ev_name[AR__SPEC_MAX_EVENTS];
    double ev_w[AR__SPEC_MAX_EVENTS];
    double half_life; /* days; 0 = no time decay */
    ar_weighting weighting;
    double k1, b; /* bm25 */
    int has_damp;
    double beta; /* pop_damp */
    float *damp; /* fitted: n_items factors max(pop, 1)^-beta, or NULL */
    int damp_owned;
} ar__spec_node;

/* What a stack's features are standardised with: each raw feature's mean and standard deviation
 * over the training users (those with a training interaction), and log(1 + pop_i) per item with
 * pop_i the training users of item i. One per composite, shared by its stack nodes. */
typedef struct ar__spec_stats {
    double mean[AR_SPEC_MAX_FEATURES], sd[AR_SPEC_MAX_FEATURES];
    const float *logpop; /* n_items */
} ar__spec_stats;

typedef struct ar__spec {
    ar__spec_node *root;
    ar__spec_node *leaves[AR_SPEC_MAX_LEAVES];
    int n_leaves;
    int n_stacks;         /* stack nodes in the tree */
    ar__spec_stats stats; /* fitted when n_stacks > 0 */
    float *logpop_owned;  /* stats.logpop when the fit computed it (else it points into a map) */
    char *saved_text;     /* the canonical text a save queued (must live until the write) */
    double saved_stats[2 * AR_SPEC_MAX_FEATURES]; /* likewise, the stats' mean and sd */
} ar__spec;

/* Parses and validates a spec text into a tree (errors as ar_spec_validate). */
ar_status ar__spec_parse(const char *json, ar__spec **out, ar_error *err);
void ar__spec_free(ar__spec *s);
/* The canonical text of a tree; the caller frees it with ar__free. NULL when out of memory. */
char *ar__spec_canonical(const ar__spec *s);
/* {"model": name, "params": {...}} of a zoo model, canonical; the caller frees it with
 * ar__free. */
char *ar__spec_model_json(const ar_model *m);
/* Rounds to 15 significant digits (see the invariant above). */
double ar__r15(double v);

/* The composite model family (composite.c); not in the zoo's registry. */
extern const ar__model_impl ar__spec_impl;
/* An empty composite for ar_model_load to fill (its load reads the spec from the file). */
ar_status ar__spec_model_shell(ar_model **out);

#endif
