/*
 * agentrec/spec.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The model-spec language and the evolutionary proposer over it (docs/spec.md, schema in
 * docs/spec.schema.json and ar_spec_schema()).
 *
 * A spec is a JSON tree that writes an architecture, not only parameters:
 *
 *   base learner  {"model": "ials", "params": {...}, "transforms": [...]}
 *                 any zoo model (ar_model_names()) with parameters from its decision space;
 *                 transforms: {"events": {"click": 1, "purchase": 4}}, {"time_decay":
 *                 {"half_life_days": 30}}, {"tfidf": {}}, {"bm25": {"k1": 1.2, "b": 0.75}}
 *                 (training-matrix transforms) and {"pop_damp": {"beta": 0.5}} (divides the
 *                 member's scores by popularity^beta).
 *   blend         {"blend": [{"weight": w, "spec": S}, ...], "normalize": "max"|"zscore"|"rank"}
 *                 weighted sum of each member's per-user normalised scores.
 *   rank fusion   {"fuse": "rrf", "k": 60, "members": [S, ...]}  reciprocal rank fusion.
 *   gating        {"gate": {"by": "history_length", "thresholds": [t1, ...]}, "members": [...]}
 *                 member i serves the users whose history length falls in bucket i.
 *   stacking      {"stack": {"features": ["bias", "log_history_length"]}, "members": [S, ...],
 *                  "weights": [[...], ...], "normalize": "zscore"}
 *                 feature-weighted linear stacking (Sill et al. 2009): member m's normalised
 *                 scores weigh sum_f weights[m][f] * feature_f(user), features of the user's
 *                 history ("bias" = 1, "log_history_length", "history_popularity", both
 *                 standardised over the training users); the weights are the meta-model, learned
 *                 by ar_model_learn_blend_weights() and written back into the spec.
 *
 * Limits: depth <= AR_SPEC_MAX_DEPTH, <= AR_SPEC_MAX_MEMBERS members per combinator, <=
 * AR_SPEC_MAX_LEAVES base learners, every number finite, no unknown keys. Text in a spec is
 * data: it selects among the names this build knows and is never interpreted otherwise.
 *
 * A spec is a model: ar_model_create_spec() returns an ar_model that fits, scores, recommends,
 * explains, saves and loads through the ordinary ar_model_* calls (models.h), so rankers, the
 * evaluator, the world's model policy and the CLI use it unchanged.
 *
 * Thread safety: the ar_spec_* functions are thread-safe (they share nothing). An ar_evo is
 * used from one thread at a time.
 */
#ifndef AGENTREC_SPEC_H
#define AGENTREC_SPEC_H

#ifdef __cplusplus
extern "C" {
#endif

#define AR_SPEC_MAX_DEPTH 4
#define AR_SPEC_MAX_MEMBERS 8
#define AR_SPEC_MAX_LEAVES 16
/* Meta-features a stack can use (bias, log_history_length, history_popularity). */
#define AR_SPEC_MAX_FEATURES 3
/* Largest spec text accepted, in bytes. */
#define AR_SPEC_MAX_BYTES (64 * 1024)

/* -- The language ------------------------------------------------------------------------------ */

/* The JSON Schema (draft 2020-12) of a spec, as static NUL-terminated text -- the same
 * document as docs/spec.schema.json. It is what an LLM proposer puts in its prompt and in
 * `response_format`; it cannot express everything ar_spec_validate() checks (parameter ranges
 * per model, total leaf count), so answers are always validated as well. */
const char *ar_spec_schema(void);

/* Validates a spec: JSON syntax, structure, known models and parameters (name, type, range
 * from the model's decision space), transforms, combinator arguments and the limits. Returns
 * AR_OK, or AR_EPARSE (not JSON) / AR_EINVAL / AR_ERANGE / AR_ENOTFOUND with a message that
 * starts with the JSON path of the problem and says what was expected, e.g.
 * "spec.blend[1].spec.params.k: expected an int in [1, 5000], got 0". */
ar_status ar_spec_validate(const char *json, ar_error *err);

/* The canonical form of a valid spec: every default filled in (all of a base learner's
 * parameters, transform arguments, normalisation), keys sorted, transforms in a fixed order,
 * numbers rounded to 15 significant digits, compact. Two specs that build the same model have
 * the same canonical text. *out is the caller's, freed with ar_free_array(); NULL on error. */
ar_status ar_spec_canonical(const char *json, char **out, ar_error *err);

/* A 64-bit hash of the canonical text (FNV-1a), for deduplication in the ledger. Errors as
 * ar_spec_validate; *out is 0 on error. */
ar_status ar_spec_hash(const char *json, uint64_t *out, ar_error *err);

/* Shape of a valid spec, for archives and reports. */
typedef struct ar_spec_info {
    int depth;         /* 1 for a base learner */
    int n_leaves;      /* base learners */
    int n_combinators; /* blend, fuse, gate and stack nodes */
    int top_members;   /* members of the root combinator (1 for a base learner) */
    char dominant[32]; /* the base model with the largest share of the root (blend weight,
                          else member count), e.g. "ials" */
    int n_transforms;  /* transforms over all base learners */
} ar_spec_info;

ar_status ar_spec_info_get(const char *json, ar_spec_info *out, ar_error *err);

/* -- A spec is a model ------------------------------------------------------------------------- */

/* Builds an unfitted model from a spec (validated first; errors as ar_spec_validate). A bare
 * base learner without transforms gives the plain zoo model; anything else a composite whose
 * ar_model_name() is "spec". The caller frees it with ar_model_free().
 *
 * Fitting a composite fits its base learners one after the other, each with all of the fit
 * options' threads, on the training matrix its transforms make; the same seed gives the same
 * model for any thread count. The options' event weights apply to base learners without an
 * "events" transform. Scoring is deterministic and the result does not depend on threads.
 * explain() delegates to the member with the largest weight (blend; for a stack, the largest of
 * the user's own weights), the member serving the user (gate), or the first member (fuse). The
 * model file stores the canonical spec and every member's fitted state in one checksummed
 * container. A base learner's own transforms replace the fit options' time decay and
 * weighting; the others use the options'. */
ar_status ar_model_create_spec(const char *json, ar_model **out, ar_error *err);

/* The spec of any model as canonical JSON: a composite's spec, or {"model": name, "params":
 * {...}} for a plain zoo model. The caller frees it with ar_free_array(); NULL when out of
 * memory. */
char *ar_model_spec_json(const ar_model *m);

/* 1 when m was built from a spec that is not a bare base learner. */
int ar_model_is_composite(const ar_model *m);

/* -- Learned blend weights and stacking meta-models ----------------------------------------------
 * Learns the combination at the root of a fitted composite on a target split: the members are
 * fitted on the history splits (the fit), and a seeded sample of the users who have items in
 * the target split supplies their normalised member scores.
 *
 * Blend root: coordinate ascent on NDCG@k over the sample, starting from the better of the
 * spec's weights and the best single member, each weight in turn tried on a fixed grid and the
 * best value kept, until a round changes nothing. Only strict improvements are taken, so the
 * result is never worse on the sample than the best single member or the starting weights.
 * The sample's NDCG is computed with the same arithmetic and tie-breaking as scoring, so with
 * every user sampled it equals the evaluator's NDCG@k.
 *
 * Stack root: the meta-model (the M x F weights). Its structure comes from a pairwise
 * logistic loss with an L2 penalty, (1/S) sum_u mean_{p,n} log(1 + exp(-(s_up - s_un))) +
 * l2/2 |v|^2, over the pairs of each sampled user's candidate pool (the members' top `pool`
 * candidates, round robin): target items p against the others n. Newton's method minimises it
 * (convex: deterministic and unique). The sample's NDCG@k then decides, keeping only
 * strict improvements: the better of the spec's meta-model and the best single member, then
 * the blend's coordinate ascent on the bias weights (from a neutral start this is the learned
 * blend), then the loss's minimiser, then coordinate ascent of every weight. So the result is
 * never worse on the sample than the starting meta-model, any single member or, from a neutral
 * start, the learned blend of the same members.
 *
 * The learned weights are written into the model, and its spec (ar_model_spec_json) says them,
 * so the saved spec rebuilds the model. Deterministic in seed, whatever the threads. */

typedef struct ar_blend_learn_options {
    unsigned history_mask; /* splits that make the users' histories (AR_MASK_TRAIN) */
    unsigned target_mask;  /* ground truth (AR_MASK_VALID) */
    int32_t k;             /* cutoff of NDCG (20) */
    int32_t max_users;     /* users sampled (2000); fewer when memory would exceed
                              memory_limit */
    size_t memory_limit;   /* bytes for the sampled users' member scores (512 MiB) */
    int max_rounds;        /* passes over the members (6) */
    double l2;             /* stack: L2 penalty of the meta-model (1e-3) */
    int32_t pool;          /* stack: candidates per user the loss ranks (100) */
    uint64_t seed;
    int n_threads; /* 0 = all */
} ar_blend_learn_options;

ar_blend_learn_options ar_blend_learn_options_default(void);
const char *ar_blend_learn_options_check(const ar_blend_learn_options *o);

typedef struct ar_blend_learn_result {
    int32_t users;                       /* users in the sample */
    int evaluations;                     /* weight vectors scored */
    double start_ndcg;                   /* with the spec's own weights */
    double best_single;                  /* the best single member */
    int best_member;                     /* its index */
    double final_ndcg;                   /* with the learned weights */
    double weights[AR_SPEC_MAX_MEMBERS]; /* blend: the weights; stack: the bias column */
    int n_members;
    /* stack roots only (n_features = 0 for a blend): the meta-model meta[m][f] for the
     * features named feature[f], and the Newton iterations taken */
    int n_features;
    const char *feature[AR_SPEC_MAX_FEATURES]; /* static strings */
    double meta[AR_SPEC_MAX_MEMBERS][AR_SPEC_MAX_FEATURES];
    int iterations;     /* Newton steps on the pairwise loss */
    double newton_ndcg; /* the sample's NDCG@k at the loss's minimiser (-1 when none) */
} ar_blend_learn_result;

/* AR_EINVAL when m is not a fitted composite whose root is a blend or a stack, or ds is not
 * the dataset it was fitted on; AR_EEMPTY when no user has target items. Not thread-safe on m (it
 * changes the model's weights); out may be NULL. */
ar_status ar_model_learn_blend_weights(ar_model *m, const ar_dataset *ds,
                                       const ar_blend_learn_options *o, ar_blend_learn_result *out,
                                       ar_error *err);

/* -- The evolutionary proposer -------------------------------------------------------------------
 * Proposes specs by mutation and crossover of the best ones it was told about, keeping an
 * archive of elites for diversity (MAP-Elites, Mouret & Clune 2015): one cell per (dominant
 * base model, number of base learners capped at 4), each holding the best spec seen with those
 * features. A parent is chosen by a tournament among the cells, by reward.
 *
 * Mutations: perturb one base learner's parameter within its decision space (Gaussian on the
 * unit scale the search policies use, or another choice), swap a base model for another
 * allowed model, add a member (a base learner becomes a blend of two, sometimes a stack), drop
 * a member, change a blend or stack weight or the normalisation, turn a blend into a stack of
 * the same members and back, add or remove a transform. Crossover: blend two elites,
 * or replace a subtree of one with a subtree of the other. The first proposals (n_init) are
 * each allowed model with its default parameters, then random base learners. Every proposal
 * passes ar_spec_validate() and respects the options; a proposal identical (canonically) to
 * one already observed or proposed is retried a few times before being returned anyway.
 * Deterministic in seed and the sequence of observations. */

typedef struct ar_evo_options {
    /* Base models proposals may use (names from ar_model_names()); NULL = every zoo model.
     * AutoTrain leaves out slow ones (ease on large catalogues) for cheap rounds. */
    const char *const *models;
    int n_models;
    int max_members; /* per combinator, 1..AR_SPEC_MAX_MEMBERS (4) */
    int max_leaves;  /* base learners per spec, 1..AR_SPEC_MAX_LEAVES (6) */
    int max_depth;   /* 1..AR_SPEC_MAX_DEPTH (3) */
    /* Event names the dataset has, for the "events" transform (NULL = never propose it), and
     * whether it has real timestamps (time_decay). */
    const char *const *events;
    int n_events;
    int has_time;
    int transforms;     /* 1 = may add or remove transforms (1) */
    int n_init;         /* proposals before evolution starts: one per model, then random (8) */
    int tournament;     /* cells drawn per parent selection (3) */
    double p_crossover; /* (0.25) */
} ar_evo_options;

ar_evo_options ar_evo_options_default(void);
const char *ar_evo_options_check(const ar_evo_options *o);

typedef struct ar_evo ar_evo;

/* Copies what it needs from o (model and event names included). AR_EINVAL with a message for
 * bad options or an unknown model name. Free with ar_evo_free(). */
ar_status ar_evo_create(uint64_t seed, const ar_evo_options *o, ar_evo **out, ar_error *err);
void ar_evo_free(ar_evo *e);
/* Reports a spec's reward (higher is better; NAN = the trial failed). The spec need not come
 * from propose (past runs, another proposer); an invalid spec is AR_EINVAL and ignored. */
ar_status ar_evo_observe(ar_evo *e, const char *spec_json, double reward, ar_error *err);
/* The next spec to evaluate, canonical JSON the caller frees with ar_free_array(). */
ar_status ar_evo_propose(ar_evo *e, char **spec_json, ar_error *err);
int ar_evo_n_observed(const ar_evo *e);
/* The best observed spec (caller frees) and its reward; AR_ENOTFOUND when none succeeded. */
ar_status ar_evo_best(const ar_evo *e, char **spec_json, double *reward);
/* The archive as JSON [{"cell": "ials/2", "reward": r, "spec": {...}}, ...] (caller frees with
 * ar_free_array(); NULL when out of memory). */
char *ar_evo_archive_json(const ar_evo *e);

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_SPEC_H */
