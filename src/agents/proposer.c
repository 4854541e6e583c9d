/*
 * proposer.c -- where AutoTrain's model specs come from once hyperparameter search has had its
 * share of the budget: the evolutionary proposer or an LLM.
 */
#include "agents/agents_internal.h"

ar_status ar__autotrain_propose_spec(const ar_autotrain_options *o, const char *history_json,
                                     uint64_t seed, char **out, ar_error *err) {
    (void)o;
    (void)history_json;
    (void)seed;
    *out = NULL;
    return ar__fail(err, AR_ENOTFOUND, "no spec proposer is built in yet");
}
