/*
 * eval.h -- helpers shared by the files of src/eval (internal, not API).
 *
 * The evaluator (eval.c) gathers each user's ranked list and ground truth; metrics.c turns them
 * into per-user metric values; mostpop.c also supplies the item popularity that the novelty
 * metric needs. The definitions are written out in docs/metrics.md.
 */
#ifndef AR_EVAL_H
#define AR_EVAL_H

#include "core/core.h"

/* The metrics that are averages of per-user values (the first AR__USER_METRICS of ar_metric);
 * coverage, novelty and gini are computed from the recommended lists as a whole. */
#define AR__USER_METRICS (AR_METRIC_MAP + 1)

/* Adds one user's metric values into acc[m][c] for m < AR__USER_METRICS and c < n_cutoffs.
 *   rel      n entries: rel[i] is 1 when the item at rank i (0 = best) is in the ground truth
 *   n        length of the ranked list (may be below the largest cutoff)
 *   n_truth  number of distinct ground-truth items, >= 1
 *   cutoffs  n_cutoffs ascending K values, each >= 1
 * The values are added, not stored, so callers sum users in a fixed order to stay
 * deterministic. */
void ar__user_metrics(const uint8_t *rel, int32_t n, int32_t n_truth, const int32_t *cutoffs,
                      int n_cutoffs, double acc[AR__USER_METRICS][AR_EVAL_MAX_CUTOFFS]);

/* Counts, for each item, the distinct users with an interaction whose split is in mask.
 * counts has n_items entries. AR_ENOMEM when the scratch array cannot be allocated. */
ar_status ar__item_user_counts(const ar_dataset *ds, unsigned mask, int32_t *counts);

#endif
