/*
 * agents_internal.h -- shared internals of src/agents (not API).
 */
#ifndef AR_AGENTS_INTERNAL_H
#define AR_AGENTS_INTERNAL_H

#include "core/core.h"

typedef struct ar__sparam {
    char *name;
    ar_param_type type;
    double lo, hi, def; /* categorical/bool: 0 .. levels-1, default index */
    int log;            /* int: searched on a log scale ("log": true; needs low >= 1) */
    int n_choices;
    char *choices[64];
    int cond_param;     /* -1 = unconditional */
    uint64_t cond_mask; /* choices of cond_param that switch this parameter on */
} ar__sparam;

struct ar_space {
    int n;
    ar__sparam p[AR_SPACE_MAX_PARAMS];
};

int ar__space_find(const ar_space *s, const char *name);
int ar__choice_find(const ar__sparam *p, const char *name);
/* Numeric value <-> unit coordinate in [0, 1]. */
double ar__to_unit(const ar__sparam *p, double v);
double ar__from_unit(const ar__sparam *p, double u);
int ar__is_discrete(const ar__sparam *p);
int ar__n_levels(const ar__sparam *p);

/* The canonical form of a spec (ar_spec_canonical) in memory the caller frees with free();
 * NULL (err set) when the spec is invalid or memory runs out. */
char *ar__canonical_spec(const char *json, ar_error *err);

/* AutoTrain's cost model for one model family (autotrain.c): a trial of fit work w
 * (ar_model_fit_work) costs about c + r w seconds, c and r fitted by least squares to the
 * family's past fits -- through the origin while their work has not varied enough to separate
 * the two, and their mean when it has not varied at all. */
typedef struct ar__cost {
    int n;               /* fits seen */
    double s, w, ww, ws; /* sums of seconds, work, work^2 and work x seconds */
} ar__cost;
void ar__cost_add(ar__cost *c, double work, double seconds);
/* Seconds for work; NAN before any fit, the mean when work is NAN. */
double ar__cost_predict(const ar__cost *c, double work);

/* AutoTrain's spec proposers (proposer.c): the evolutionary one or an LLM, behind one interface.
 * profile_json describes the dataset (for the LLM's prompt). Proposals are canonical, validated
 * specs the caller frees with free(). */
typedef struct ar__proposer ar__proposer;
ar_status ar__proposer_create(const ar_autotrain_options *o, const char *profile_json,
                              ar__proposer **out, ar_error *err);
void ar__proposer_free(ar__proposer *p);
ar_status ar__proposer_observe(ar__proposer *p, const char *spec, double reward);
/* seconds: how long the proposal may take (an LLM's attempts share it). */
ar_status ar__proposer_propose(ar__proposer *p, uint64_t seed, double seconds, char **out,
                               ar_error *err);
/* The LLM attempts behind the last proposal as a JSON array (caller frees with free()), or NULL
 * when there were none. */
char *ar__proposer_attempts_json(const ar__proposer *p);

/* An LLM's proposal ({"members": [...], "combine": ...}, proposer.c) as a spec: one member is
 * the spec itself; several are a blend (equal starting weights, z-scored; the default), a
 * reciprocal rank fusion or a stack over every history feature, neutral -- the trial learns
 * the weights. NULL (malloc'd otherwise) when it is not a proposal. */
char *ar__proposal_to_spec(const char *json);
/* The JSON Schema of such a proposal (malloc'd text; NULL when out of memory). */
char *ar__proposal_schema(void);

/* Renders a drafted card's JSON (an LLM's answer) as a card and validates it with
 * ar_card_parse under card_name: AR_OK, or the parser's error, with *markdown (ar__free) the
 * card either way -- marked REJECTED with the reason when invalid. NULL on AR_ENOMEM. The
 * validator behind ar_card_draft_from_text (card.c), here for the tests. */
ar_status ar__card_draft_check(const char *answer, const char *text_name, const char *model,
                               const char *card_name, char **markdown, ar_error *err);

#endif
