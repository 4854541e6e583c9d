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
    /* Serving: the slate is drawn from the model's top pool x k items, position j weighing
     * exp(-j / temperature) (Plackett-Luce), so customers do not see the same slate at every
     * visit; pool 1 = the exact top k. */
    int pool;
    double temperature;
    char *point; /* the source's record of the proposal (JSON, malloc'd): equal points are
                        the same candidate, and feedback takes it back on replay */
} demo_candidate;

void demo_candidate_clear(demo_candidate *c);

typedef struct demo_source demo_source;

/* A search (ar_search, kind rl) over the decision spaces of the fast zoo models -- rp3beta,
 * itemknn, ials with modest factors, mostpop with time decay, and ease when the catalogue has at
 * most 5000 items -- the weights of carts and purchases against clicks, and the serving pool and
 * temperature. Deterministic in
 * seed. Returns 0, or CLI_FAIL after printing why. */
int demo_source_create(const ar_dataset *ds, uint64_t seed, demo_source **out);
/* The next candidate (the caller clears it). 0 or CLI_FAIL. */
int demo_source_next(demo_source *s, demo_candidate *c);
/* The inner reward of the candidate whose point is `point` (NAN = it failed). 0 or CLI_FAIL. */
int demo_source_feedback(demo_source *s, const char *point, double reward);
/* A short description of the source, for the ledger ("rl over rp3beta|itemknn|..."). */
const char *demo_source_describe(const demo_source *s);
/* Its decision space as JSON (owned by the source). */
const char *demo_source_space(const demo_source *s);
void demo_source_free(demo_source *s);

#endif
