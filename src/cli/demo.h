/*
 * demo.h -- the candidate source of `agentrec demo`: where the agent loop gets its next model
 * to try. This is the seam AutoTrain (issue 6) plugs into: a source proposes a candidate (a zoo
 * model, its parameters and the event weights it learns from), is told the candidate's inner
 * reward, and can be replayed from the ledger after a restart (propose, then feedback with the
 * recorded point and reward, in the recorded order, reproduces its state).
 */
#ifndef AR_CLI_DEMO_H
#define AR_CLI_DEMO_H

#include "cli/cli.h"

typedef struct demo_candidate {
    char model[32];  /* a zoo model name */
    char *params;    /* JSON object of its parameters (ar_model_set_json), malloc'd */
    char events[96]; /* event weights, "click=1,cart=2,purchase=4" (cli_event_weights) */
    /* How the model serves the world: the retail re-ranker (ar_world_serving, world.h) that
     * blends its scores with popularity now, new arrivals and the customer's brands, keeps
     * slots for the long tail and explores. */
    ar_world_serving serving;
    char *point; /* the source's record of the proposal (JSON, malloc'd): equal points are
                        the same candidate, and feedback takes it back on replay */
} demo_candidate;

void demo_candidate_clear(demo_candidate *c);

typedef struct demo_source demo_source;

/* A search (ar_search, kind rl) over the decision spaces of the fast zoo models -- rp3beta,
 * itemknn, ials with modest factors, mostpop with time decay, and ease when the catalogue has at
 * most 5000 items -- the weights of carts and purchases against clicks, and the serving
 * re-ranker's weights, long-tail quota and exploration. Deterministic in seed. Returns 0, or
 * CLI_FAIL after printing why. */
int demo_source_create(const ar_dataset *ds, uint64_t seed, demo_source **out);
/* The next candidate (the caller clears it). 0 or CLI_FAIL. */
int demo_source_next(demo_source *s, demo_candidate *c);
/* The reward of the candidate whose point is `point`, higher is better (NAN = it failed): the
 * demo reports its online outer reward relative to the baseline's when it was A/B-tested, 0
 * when it stopped at the inner gate. 0 or CLI_FAIL. */
int demo_source_feedback(demo_source *s, const char *point, double reward);
/* A short description of the source, for the ledger ("rl over rp3beta|itemknn|..."). */
const char *demo_source_describe(const demo_source *s);
/* Its decision space as JSON (owned by the source). */
const char *demo_source_space(const demo_source *s);
void demo_source_free(demo_source *s);

#endif
