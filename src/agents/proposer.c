/*
 * proposer.c -- where AutoTrain's model specs come from once hyperparameter search has had its
 * share of the budget: the built-in evolutionary proposer (ar_evo) or an LLM behind an
 * OpenAI-compatible endpoint (ar_llm_propose). Both see every evaluated spec with its reward;
 * both answers are validated as specs before anything runs.
 *
 * The LLM's prompt carries the spec schema, the dataset profile and the best and worst specs
 * so far with their rewards. All of that is data (delimited as such by ar_llm_propose): an
 * answer can only ever be a spec, which ar_spec_validate checks like any other proposal, so it
 * cannot widen the decision space, skip validation or reach the guardrails.
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLM_SHOW_BEST 6
#define LLM_SHOW_WORST 3

typedef struct llm_seen {
    char *spec;
    double reward;
} llm_seen;

struct ar__proposer {
    ar_proposer_kind kind;
    ar_evo *evo;
    /* LLM */
    const ar_llm_config *llm;
    char *profile; /* JSON */
    llm_seen *seen;
    int n_seen, cap_seen;
    json_t *attempts; /* the attempts of the last proposal */
};

static const char llm_system[] =
    "You design recommender models for implicit-feedback data. Propose ONE new model that is "
    "likely to score a higher reward (NDCG@K on the validation split) than the specs already "
    "tried: one base learner of the zoo with its parameters, or 2 to 4 complementary ones and "
    "how to combine them (combine): \"blend\" (a weighted sum, weights learned), \"fuse\" "
    "(reciprocal rank fusion) or \"stack\" (weights that depend on the user's history length "
    "and popularity, learned: for members that serve different users best). Build on what "
    "worked: tune the best base learners' parameters, or combine models that fail differently. "
    "Do not repeat a spec that was already tried. Answer with JSON that satisfies the schema, "
    "nothing else.";

ar_status ar__proposer_create(const ar_autotrain_options *o, const char *profile_json,
                              ar__proposer **out, ar_error *err) {
    *out = NULL;
    ar__proposer *p = calloc(1, sizeof *p);
    if (!p)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    p->kind = o->proposer;
    ar_status st = AR_OK;
    if (p->kind == AR_PROPOSER_EVO) {
        ar_evo_options eo = ar_evo_options_default();
        eo.n_init = 0; /* the search phase has tried the models already: evolve from there */
        st = ar_evo_create(o->seed, &eo, &p->evo, err);
    } else if (p->kind == AR_PROPOSER_LLM) {
        p->llm = o->llm;
        const char *bad = ar_llm_config_check(p->llm);
        if (bad)
            st = ar__fail(err, AR_EINVAL, "llm: %s", bad);
        else if (!(p->profile = ar__strdup(profile_json ? profile_json : "{}")))
            st = ar__fail(err, AR_ENOMEM, "out of memory");
    }
    if (st) {
        ar__proposer_free(p);
        return st;
    }
    *out = p;
    return AR_OK;
}

void ar__proposer_free(ar__proposer *p) {
    if (!p)
        return;
    ar_evo_free(p->evo);
    for (int i = 0; i < p->n_seen; i++)
        free(p->seen[i].spec);
    free(p->seen);
    free(p->profile);
    json_decref(p->attempts);
    free(p);
}

ar_status ar__proposer_observe(ar__proposer *p, const char *spec, double reward) {
    ar_error err;
    if (p->evo) /* an invalid spec is ignored there, and cannot be proposed from */
        return ar_evo_observe(p->evo, spec, reward, &err) == AR_ENOMEM ? AR_ENOMEM : AR_OK;
    if (p->kind != AR_PROPOSER_LLM)
        return AR_OK;
    if (p->n_seen == p->cap_seen) {
        int cap = p->cap_seen ? 2 * p->cap_seen : 32;
        llm_seen *s = realloc(p->seen, (size_t)cap * sizeof *s);
        if (!s)
            return AR_ENOMEM;
        p->seen = s;
        p->cap_seen = cap;
    }
    if (!(p->seen[p->n_seen].spec = ar__strdup(spec)))
        return AR_ENOMEM;
    p->seen[p->n_seen++].reward = reward;
    return AR_OK;
}

char *ar__canonical_spec(const char *json, ar_error *err) {
    char *canon = NULL;
    if (ar_spec_canonical(json, &canon, err))
        return NULL;
    char *s = ar__strdup(canon); /* ar_free_array's memory -> the caller's free() */
    ar_free_array(canon);
    if (!s)
        ar__fail(err, AR_ENOMEM, "out of memory");
    return s;
}

static int by_reward_desc(const void *a, const void *b) {
    double x = ((const llm_seen *)a)->reward, y = ((const llm_seen *)b)->reward;
    if (isnan(x) != isnan(y))
        return isnan(x) ? 1 : -1;
    return x < y ? 1 : x > y ? -1 : 0;
}

static json_t *entries(const llm_seen *s, int from, int to) {
    json_t *a = json_array();
    for (int i = from; i < to; i++) {
        json_t *spec = json_loads(s[i].spec, 0, NULL);
        if (spec)
            json_array_append_new(a, json_pack("{s:o,s:o}", "spec", spec, "reward",
                                               isfinite(s[i].reward) ? json_real(s[i].reward)
                                                                     : json_string("failed")));
    }
    return a;
}

/* What the LLM is asked for: {"members": [1 to 4 base learners], "combine": "blend" | "fuse" |
 * "stack"}, each base learner inlined from the spec schema's leaf definitions (without
 * transforms and descriptions). It is the part of the spec language a proposal needs -- a
 * model, or a combination of models whose weights (a stack's meta-model) the trial learns --
 * written without recursion or references, which grammar-constrained decoders (llama.cpp's
 * JSON-schema grammar) handle poorly. */
char *ar__proposal_schema(void) {
    json_t *full = json_loads(ar_spec_schema(), 0, NULL), *defs = json_object_get(full, "$defs");
    json_t *alts = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(defs, key, v) {
        if (strncmp(key, "leaf_", 5) != 0)
            continue;
        json_t *leaf = json_deep_copy(v), *props = json_object_get(leaf, "properties");
        json_object_del(leaf, "description");
        json_object_del(props, "transforms");
        json_t *pp = json_object_get(json_object_get(props, "params"), "properties");
        const char *pk;
        json_t *pv;
        json_object_foreach(pp, pk, pv) {
            json_object_del(pv, "description");
        }
        json_object_set_new(leaf, "required", json_pack("[s,s]", "model", "params"));
        json_array_append_new(alts, leaf);
    }
    json_t *schema = json_pack(
        "{s:s,s:s,s:b,s:[s],s:{s:{s:s,s:i,s:i,s:{s:o}},s:{s:s,s:[s,s,s]}}}", "title",
        "agentrec model proposal", "type", "object", "additionalProperties", 0, "required",
        "members", "properties", "members", "type", "array", "minItems", 1, "maxItems", 4, "items",
        "oneOf", alts, "combine", "type", "string", "enum", "blend", "fuse", "stack");
    char *text = schema ? json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(schema);
    json_decref(full);
    return text;
}

char *ar__proposal_to_spec(const char *json) {
    json_t *p = json_loads(json, 0, NULL), *m = json_object_get(p, "members"), *spec = NULL;
    json_t *how = json_object_get(p, "combine");
    const char *c = how ? json_string_value(how) : "blend";
    size_t n = json_is_array(m) ? json_array_size(m) : 0;
    if (n == 1) {
        spec = json_incref(json_array_get(m, 0));
    } else if (n > 1 && c && strcmp(c, "blend") == 0) {
        json_t *b = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                b, json_pack("{s:f,s:O}", "weight", 1.0, "spec", json_array_get(m, i)));
        spec = json_pack("{s:o,s:s}", "blend", b, "normalize", "zscore");
    } else if (n > 1 && c && strcmp(c, "fuse") == 0) {
        spec = json_pack("{s:s,s:O}", "fuse", "rrf", "members", m);
    } else if (n > 1 && c && strcmp(c, "stack") == 0) {
        spec = json_pack("{s:{s:[s,s,s]},s:O}", "stack", "features", "bias", "log_history_length",
                         "history_popularity", "members", m);
    }
    char *text = spec ? json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(spec);
    json_decref(p);
    return text;
}

static ar_status validate_proposal(void *ctx, const char *json, ar_error *err) {
    (void)ctx;
    char *spec = ar__proposal_to_spec(json);
    if (!spec)
        return ar__fail(err, AR_EINVAL,
                        "expected {\"members\": [1 to 4 base learners], \"combine\": \"blend\" "
                        "| \"fuse\" | \"stack\"}");
    ar_status st = ar_spec_validate(spec, err);
    free(spec);
    return st;
}

static void record_attempt(void *data, const ar_llm_attempt *a) {
    ar__proposer *p = data;
    if (!p->attempts)
        p->attempts = json_array();
    json_array_append_new(p->attempts,
                          json_pack("{s:i,s:s,s:i,s:f,s:s,s:b}", "attempt", a->attempt, "outcome",
                                    ar_llm_outcome_name(a->outcome), "http", (int)a->http_status,
                                    "latency_s", a->latency_seconds, "message", a->message, "retry",
                                    a->will_retry));
}

static ar_status llm_propose(ar__proposer *p, uint64_t seed, double seconds, char **out,
                             ar_error *err) {
    llm_seen *sorted = malloc((size_t)(p->n_seen ? p->n_seen : 1) * sizeof *sorted);
    if (!sorted)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    memcpy(sorted, p->seen, (size_t)p->n_seen * sizeof *sorted);
    qsort(sorted, (size_t)p->n_seen, sizeof *sorted, by_reward_desc);
    int nb = p->n_seen < LLM_SHOW_BEST ? p->n_seen : LLM_SHOW_BEST;
    int nw = p->n_seen - nb < LLM_SHOW_WORST ? p->n_seen - nb : LLM_SHOW_WORST;
    json_t *profile = json_loads(p->profile, 0, NULL);
    json_t *ctx = json_pack("{s:o,s:i,s:o,s:o}", "dataset", profile ? profile : json_object(),
                            "specs_tried", p->n_seen, "best", entries(sorted, 0, nb), "worst",
                            entries(sorted, p->n_seen - nw, p->n_seen));
    free(sorted);
    char *context = ctx ? json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ctx);
    if (!context)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    ar_llm_config cfg = *p->llm;
    cfg.seed = (int64_t)(seed & 0x7fffffff);
    /* Every attempt may take the whole timeout: share what is left of the budget. */
    double per = seconds / (1 + cfg.max_retries);
    if (per < cfg.timeout_seconds)
        cfg.timeout_seconds = per > 1 ? per : 1;
    cfg.log = record_attempt;
    cfg.log_data = p;
    json_decref(p->attempts);
    p->attempts = NULL;
    char *answer = NULL, *schema = ar__proposal_schema();
    ar_status st = schema ? ar_llm_propose(&cfg, schema, llm_system, context, validate_proposal,
                                           NULL, &answer, err)
                          : ar__fail(err, AR_ENOMEM, "out of memory");
    free(context);
    free(schema);
    if (st)
        return st;
    char *spec = ar__proposal_to_spec(answer);
    free(answer);
    *out = spec ? ar__canonical_spec(spec, err) : NULL;
    free(spec);
    if (!*out)
        return spec ? AR_EINVAL : ar__fail(err, AR_ENOMEM, "out of memory");
    return AR_OK;
}

ar_status ar__proposer_propose(ar__proposer *p, uint64_t seed, double seconds, char **out,
                               ar_error *err) {
    *out = NULL;
    if (p->kind == AR_PROPOSER_LLM)
        return llm_propose(p, seed, seconds, out, err);
    if (!p->evo)
        return ar__fail(err, AR_ENOTFOUND, "no spec proposer configured");
    char *s = NULL;
    ar_status st = ar_evo_propose(p->evo, &s, err);
    if (st)
        return st;
    /* ar_free_array's memory -> the caller's free() */
    *out = s ? ar__strdup(s) : NULL;
    ar_free_array(s);
    return *out ? AR_OK : ar__fail(err, AR_ENOMEM, "out of memory");
}

char *ar__proposer_attempts_json(const ar__proposer *p) {
    return p->attempts ? json_dumps(p->attempts, JSON_COMPACT) : NULL;
}
