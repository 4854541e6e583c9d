/*
 * bpr.h -- BPR-MF kernels exposed to the unit tests (internal, not API).
 *
 * The model itself is reached through the zoo interface (ar_model_create("bpr")); these are
 * the pieces a test checks on their own: the single-triple SGD step and its naive reference, the
 * alias sampler, and the per-epoch training loss.
 */
#ifndef AR_MODELS_BPR_H
#define AR_MODELS_BPR_H

#include "models/model.h"

/* Regularisation and step size of one SGD step. */
typedef struct ar__bpr_hyper {
    float lr;       /* learning rate of this epoch */
    float reg_user; /* L2 on the user vector */
    float reg_pos;  /* L2 on the positive item's vector */
    float reg_neg;  /* L2 on the negative item's vector */
    float reg_bias; /* L2 on the item biases */
} ar__bpr_hyper;

/* One stochastic gradient *ascent* step on ln sigmoid(x_uij) - regularisation for the triple
 * (u, i, j), where x_uij = pu . (qi - qj) + bi - bj:
 *   g  = sigmoid(-x_uij)
 *   pu += lr (g (qi - qj) - reg_user pu)
 *   qi += lr (g pu        - reg_pos  qi)
 *   qj += lr (-g pu       - reg_neg  qj)
 *   bi += lr (g  - reg_bias bi),  bj += lr (-g - reg_bias bj)
 * with every right-hand side using the values from before the step. pu, qi, qj: k floats each,
 * distinct rows (qi != qj). bi, bj: the item biases, or both NULL when the model has none.
 * Returns the triple's loss -ln sigmoid(x_uij) before the step. */
float ar__bpr_step(float *restrict pu, float *restrict qi, float *restrict qj, float *bi, float *bj,
                   int32_t k, const ar__bpr_hyper *h);
/* The same step written the obvious way, in double precision: the reference the test compares
 * ar__bpr_step against. */
float ar__bpr_step_ref(float *pu, float *qi, float *qj, float *bi, float *bj, int32_t k,
                       const ar__bpr_hyper *h);

/* The step of neg_select = mean: one update for the positive (u, i) against the n >= 1 negatives
 * js[0..n), on the BPR loss averaged over the negatives,
 *   L = (1/n) sum_c -ln sigmoid(x_ui - x_uj_c),   x_ui = pu . qi + b_i,
 * as in the MF-BPR of the BARS benchmark (SimpleX codebase, "PairwiseLogisticLoss", Mao et al.,
 * CIKM 2021). With w_c = sigmoid(x_uj_c - x_ui) / n and W = sum_c w_c, all scores taken before
 * the step:
 *   qj_c += lr (-w_c pu - reg_neg qj_c),  b_jc += lr (-w_c - reg_bias b_jc)   for c = 0, 1, ...
 *   qi   += lr (W pu - reg_pos qi),       b_i  += lr (W - reg_bias b_i)
 *   pu   += lr (W qi - sum_c w_c qj_c - reg_user pu)
 * where pu is the value from before the step, qi the positive's and each qj_c the negative row as
 * it is just before its own update (a negative drawn twice is updated twice, the second time
 * from the first's result). pu: k floats (a row of P, not of Q). Q: the item factors, row-major,
 * (rows > i and every js[c]) x k; b: the item biases, or NULL without them. No js[c] may equal
 * i. scratch: n + k floats. Returns the summed loss sum_c -ln sigmoid(x_ui - x_uj_c) before the
 * step. Not thread-safe on the same rows. */
float ar__bpr_step_mean(float *restrict pu, float *restrict Q, float *b, int32_t i,
                        const int32_t *js, int32_t n, int32_t k, const ar__bpr_hyper *h,
                        float *restrict scratch);
/* The same step written the obvious way, in double precision (scratch allocated inside; NAN
 * when out of memory): the reference the test compares ar__bpr_step_mean against. */
float ar__bpr_step_mean_ref(float *pu, float *Q, float *b, int32_t i, const int32_t *js, int32_t n,
                            int32_t k, const ar__bpr_hyper *h);

/* Lazy Adam state for optimizer = adam (Kingma & Ba, ICLR 2015, applied row by row as in
 * TensorFlow's LazyAdam): first and second moments for every parameter, and a step count per row
 * that drives the row's bias correction; only the rows a step touches are updated. m and v have
 * the shapes of P (n_users x k), Q (n_items x k) and b (n_items; NULL without item biases). c1,
 * c2: tables of 1 / (1 - beta1^t) and 1 / sqrt(1 - beta2^t) for t = 1..n_table (index t - 1);
 * later steps use the last entry. */
typedef struct ar__bpr_adam {
    float *mP, *vP, *mQ, *vQ, *mb, *vb;
    int32_t *tP, *tQ;
    const float *c1, *c2;
    int32_t n_table;
    float beta1, beta2, eps;
} ar__bpr_adam;

/* The step of neg_select = mean (n negatives) or of one triple (n = 1) under Adam: the gradient
 * of the loss of ar__bpr_step_mean (its regularised negative: L + reg_user/2 |pu|^2 +
 * reg_pos/2 |qi|^2 + sum_c reg_neg/2 |qj_c|^2 + reg_bias/2 (b_i^2 + sum_c b_jc^2)), taken row
 * by row in the order of ar__bpr_step_mean (negatives in order, each read just before its own
 * update, then qi, then pu from its value before the step), and each row r moved by
 *   t_r += 1,  m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
 *   row -= lr c1[t_r] m / (sqrt(v) c2[t_r] + eps).
 * pu: row u of P; Q, b: as for ar__bpr_step_mean; scratch: n + 2k floats. Returns the summed
 * loss before the step. Not thread-safe on the same rows. */
float ar__bpr_step_adam(float *restrict pu, float *restrict Q, float *b, int32_t u, int32_t i,
                        const int32_t *js, int32_t n, int32_t k, const ar__bpr_hyper *h,
                        const ar__bpr_adam *a, float *restrict scratch);
/* The same step in double precision, bias corrections from pow(): the test's reference. */
float ar__bpr_step_adam_ref(float *pu, float *Q, float *b, int32_t u, int32_t i, const int32_t *js,
                            int32_t n, int32_t k, const ar__bpr_hyper *h, const ar__bpr_adam *a);

/* Walker's alias method (Vose's construction). Builds a table over n >= 1 outcomes with weights
 * w[0..n) (non-negative; all zero means uniform) into prob[n] and alias[n]; work: n doubles and
 * n int32 of scratch. A draw then costs O(1). */
void ar__alias_build(const float *w, int32_t n, float *prob, int32_t *alias, double *work_d,
                     int32_t *work_i);
static inline int32_t ar__alias_draw(const float *prob, const int32_t *alias, int32_t n,
                                     ar_rng *rng) {
    /* One 64-bit draw: the high 32 bits pick the column (multiply-shift, bias < n / 2^32), the
     * low 24 bits the coin. */
    uint64_t r = ar_rng_next(rng);
    int32_t c = (int32_t)(((r >> 32) * (uint64_t)n) >> 32);
    float coin = (float)(r & 0xFFFFFF) * (1.0f / 16777216.0f);
    return coin < prob[c] ? c : alias[c];
}

/* Mean BPR loss (-ln sigmoid over the triples drawn) of the given epoch of the last fit, or NAN
 * when the model was loaded from a file or the epoch is out of range. */
double ar__bpr_epoch_loss(const ar_model *m, int32_t epoch);

#endif
