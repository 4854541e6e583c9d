/*
 * metrics.c -- metric names and the per-user ranking metrics.
 *
 * Definitions follow RecBole (recbole/evaluator/metrics.py) and LightGCN (utils.py), so numbers
 * are comparable with the tables published with them; docs/metrics.md writes out the formulas.
 * For a ranked list with relevance rel_i (i = 0 is the best position), |T| ground-truth items and
 * a cutoff k:
 *   Recall@k    = hits@k / |T|
 *   Precision@k = hits@k / k                       (k, even when the list is shorter)
 *   HR@k        = 1 if hits@k > 0
 *   NDCG@k      = sum_{i<k} rel_i / log2(i + 2)  /  sum_{i<min(|T|,k)} 1 / log2(i + 2)
 *   MRR@k       = 1 / (rank of the first hit), 0 when no hit within k
 *   MAP@k       = sum_{i<k} rel_i * Precision@(i+1)  /  min(|T|, k)
 */
#include "eval/eval.h"

#include <math.h>
#include <string.h>

static const char *const metric_names[AR_METRIC_N] = {
    "recall", "ndcg", "hr", "precision", "mrr", "map", "coverage", "novelty", "gini"};

const char *ar_metric_name(ar_metric m) {
    if ((unsigned)m >= AR_METRIC_N)
        return NULL;
    return metric_names[m];
}

int ar_metric_parse(const char *name) {
    if (!name)
        return -1;
    for (int m = 0; m < AR_METRIC_N; m++)
        if (strcmp(name, metric_names[m]) == 0)
            return m;
    /* Common aliases in papers and in RecBole configs. */
    if (strcmp(name, "hit") == 0)
        return AR_METRIC_HR;
    if (strcmp(name, "itemcoverage") == 0)
        return AR_METRIC_COVERAGE;
    if (strcmp(name, "giniindex") == 0)
        return AR_METRIC_GINI;
    return -1;
}

void ar__user_metrics(const uint8_t *rel, int32_t n, int32_t n_truth, const int32_t *cutoffs,
                      int n_cutoffs, double acc[AR__USER_METRICS][AR_EVAL_MAX_CUTOFFS]) {
    /* One pass over the list; the running sums are read off whenever a cutoff is reached.
     * Positions past the end of a short list contribute nothing but still count in k. */
    int32_t hits = 0, first_hit = -1;
    double dcg = 0.0, idcg = 0.0, ap = 0.0;
    int32_t i = 0;
    for (int c = 0; c < n_cutoffs; c++) {
        int32_t k = cutoffs[c];
        for (; i < k; i++) {
            double disc = 1.0 / log2((double)i + 2.0);
            if (i < n_truth)
                idcg += disc;
            if (i < n && rel[i]) {
                hits++;
                dcg += disc;
                ap += (double)hits / (double)(i + 1);
                if (first_hit < 0)
                    first_hit = i;
            }
            /* Nothing changes once both the list and the ideal list are exhausted. */
            if (i >= n && i >= n_truth) {
                i = k;
                break;
            }
        }
        int32_t denom = n_truth < k ? n_truth : k;
        acc[AR_METRIC_RECALL][c] += (double)hits / (double)n_truth;
        acc[AR_METRIC_NDCG][c] += dcg / idcg;
        acc[AR_METRIC_HR][c] += hits > 0 ? 1.0 : 0.0;
        acc[AR_METRIC_PRECISION][c] += (double)hits / (double)k;
        acc[AR_METRIC_MRR][c] += first_hit >= 0 ? 1.0 / (double)(first_hit + 1) : 0.0;
        acc[AR_METRIC_MAP][c] += ap / (double)denom;
    }
}
