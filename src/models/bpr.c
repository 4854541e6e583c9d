/*
 * bpr.c -- BPR-MF: matrix factorisation trained on Bayesian Personalised Ranking, Rendle,
 * Freudenthaler, Gantner & Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from Implicit
 * Feedback", UAI 2009.
 *
 * The score of item i for user u is x_ui = p_u . q_i + b_i. Training maximises
 *   sum over triples (u, i, j) of ln sigmoid(x_ui - x_uj) - L2 terms
 * where i is an item u interacted with and j a sampled "negative" u did not interact with, by
 * stochastic gradient ascent (ar__bpr_step; regularisation is separate for the user, the
 * positive and the negative vector, as in LibRec / MyMediaLite). Negatives are drawn uniformly
 * or in proportion to popularity^gamma (Walker alias table, O(1) a draw); with negatives = n > 1
 * each positive gets n updates ("each"), one update with the highest-scoring of the n
 * candidates ("hardest": dynamic negative sampling, Zhang et al., SIGIR 2013), or one update on
 * the loss averaged over the n negatives ("mean", ar__bpr_step_mean: the MF-BPR of the BARS
 * benchmark, Zhu et al. 2022, which averages -ln sigmoid over 300 negatives per positive). The
 * learning rate of epoch e is lr * lr_decay^e.
 *
 * Optimiser: plain SGD steps (the default), or lazy Adam (Kingma & Ba, ICLR 2015;
 * ar__bpr_step_adam): first and second moments per parameter, touched and bias-corrected row by row
 * with a step count per row, as TensorFlow's LazyAdam does for embeddings. Adam triples the memory
 * of the factors during the fit (the moments are not saved). The regularisation terms are the
 * per-step L2 penalties on the rows a step touches (reg/2 |row|^2), as in LightGCN's MF baseline.
 *
 * Two parallel schedules:
 *  - hogwild (Recht et al., NIPS 2011): each epoch draws nnz positives with replacement, in
 *    chunks of CHUNK triples whose randomness comes from stream (epoch, chunk); threads update
 *    the shared factors without locks. Results with one thread are reproducible; with more they
 *    depend on the interleaving.
 *  - deterministic (the default), a stratified schedule after DSGD (Gemulla et al., KDD 2011):
 *    each epoch the users and the items are shuffled into `blocks` groups each (stream of the
 *    epoch). Sub-epoch s processes, for every user group b at once, the positives (u, i) with u
 *    in group b and i in item group (b + s) mod blocks, each once in an order shuffled by stream
 *    (epoch, s, b), with negatives drawn from that same item group. The blocks of a sub-epoch
 *    share no user and no item row, so they run in parallel without locks or races, and the
 *    result is bitwise the same for any thread count (the parallelism is `blocks`, not the
 *    thread count). Restricting negatives to the positive's item group is a bias of 1/blocks of
 *    the catalogue per epoch; the groups are redrawn every epoch, so over epochs every item is a
 *    candidate negative for every positive. blocks = 1 is plain sequential SGD over a shuffled
 *    epoch.
 *
 * Users not seen in training (user = -1) are folded in: starting from p = 0, foldin_epochs
 * passes of SGD (Adam under optimizer = adam) over the history (uniform negatives, item factors and
 * biases fixed, lr and reg_user of the fit) from the RNG stream hashed from the history, so the
 * same history always gives the same vector.
 *
 * Explanations: the contribution of history item h to item i is q_h . q_i, the score i would get
 * from a user whose vector were q_h; for a folded-in user, whose p is a gradient-weighted sum of
 * such item vectors, it says which history items pull i up.
 *
 * State (float32, row-major): P[n_users x k] user factors, Q[n_items x k] item factors,
 * b[n_items] item biases (all zero without item_bias). Initial factors are N(0, init_std^2) from
 * the RNG stream of their row.
 * Scoring one user reads QT[k x n_items], Q transposed (built after fit and load, not saved);
 * batches of users use sgemm on Q.
 */
#include "models/bpr.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* `omp simd` is a request: unoptimised and sanitizer builds may not vectorise, which clang
 * reports as a warning (an error under -Werror). */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

enum {
    P_FACTORS,
    P_EPOCHS,
    P_LR,
    P_LR_DECAY,
    P_REG_USER,
    P_REG_POS,
    P_REG_NEG,
    P_ITEM_BIAS,
    P_REG_BIAS,
    P_INIT_STD,
    P_SAMPLING,
    P_POP_GAMMA,
    P_NEGATIVES,
    P_NEG_SELECT,
    P_MODE,
    P_BLOCKS,
    P_FOLDIN_EPOCHS,
    P_OPTIMIZER,
    P_ADAM_BETA1,
    P_ADAM_BETA2,
    N_PARAMS
};
enum { SAMPLE_UNIFORM, SAMPLE_POPULARITY };
enum { SELECT_EACH, SELECT_HARDEST, SELECT_MEAN };
enum { MODE_DETERMINISTIC, MODE_HOGWILD };
enum { OPT_SGD, OPT_ADAM };
enum { MAX_NEG = 1024, MAX_K = 1024 }; /* the ranges of negatives and factors */

static const ar_param_def params[] = {
    {"factors", AR_PARAM_INT, 1, MAX_K, 64, NULL, NULL, "latent dimensions k"},
    {"epochs", AR_PARAM_INT, 1, 5000, 100, NULL, NULL,
     "passes; an epoch draws as many positives as there are training interactions"},
    {"lr", AR_PARAM_LOGFLOAT, 1e-4, 16, 0.05, NULL, NULL,
     "learning rate of the first epoch (SGD's step, or Adam's; neg_select=mean wants a larger "
     "one)"},
    {"lr_decay", AR_PARAM_FLOAT, 0.5, 1, 1, NULL, NULL,
     "the learning rate of epoch e is lr * lr_decay^e"},
    {"reg_user", AR_PARAM_LOGFLOAT, 1e-7, 1, 0.0025, NULL, NULL, "L2 weight on user vectors"},
    {"reg_pos", AR_PARAM_LOGFLOAT, 1e-7, 1, 0.0025, NULL, NULL,
     "L2 weight on the positive item's vector"},
    {"reg_neg", AR_PARAM_LOGFLOAT, 1e-7, 1, 0.00025, NULL, NULL,
     "L2 weight on the negative item's vector"},
    {"item_bias", AR_PARAM_BOOL, 0, 1, 1, NULL, NULL, "learn an item bias b_i"},
    {"reg_bias", AR_PARAM_LOGFLOAT, 1e-7, 1, 0.001, NULL, NULL,
     "L2 weight on item biases (used with item_bias)"},
    {"init_std", AR_PARAM_LOGFLOAT, 1e-4, 1, 0.1, NULL, NULL,
     "standard deviation of the initial factors"},
    {"sampling", AR_PARAM_CATEGORICAL, 0, 0, SAMPLE_UNIFORM, "uniform|popularity", NULL,
     "negative sampling distribution"},
    {"pop_gamma", AR_PARAM_FLOAT, 0, 1.5, 0.75, NULL, "sampling=popularity",
     "negatives are drawn in proportion to popularity^pop_gamma"},
    {"negatives", AR_PARAM_INT, 1, MAX_NEG, 1, NULL, NULL, "negatives drawn per positive"},
    {"neg_select", AR_PARAM_CATEGORICAL, 0, 0, SELECT_EACH, "each|hardest|mean", NULL,
     "each: one update per negative; hardest: one update with the highest-scoring negative; "
     "mean: one update on the loss averaged over the negatives"},
    {"mode", AR_PARAM_CATEGORICAL, 0, 0, MODE_DETERMINISTIC, "deterministic|hogwild", NULL,
     "deterministic: stratified blocks, identical for any thread count; hogwild: lock-free"},
    {"blocks", AR_PARAM_INT, 1, 256, 8, NULL, "mode=deterministic",
     "user and item groups of the stratified schedule (its parallelism)"},
    {"foldin_epochs", AR_PARAM_INT, 1, 1000, 20, NULL, NULL,
     "SGD passes over a new user's history when folding it in"},
    {"optimizer", AR_PARAM_CATEGORICAL, 0, 0, OPT_SGD, "sgd|adam", NULL,
     "sgd: plain SGD steps; adam: lazy Adam, moments and bias correction per row (lr is Adam's)"},
    {"adam_beta1", AR_PARAM_FLOAT, 0, 0.999, 0.9, NULL, "optimizer=adam",
     "Adam's decay of the first moment"},
    {"adam_beta2", AR_PARAM_FLOAT, 0.9, 0.9999, 0.999, NULL, "optimizer=adam",
     "Adam's decay of the second moment"},
};

typedef struct state {
    int32_t k;
    uint64_t seed;
    uint64_t meta[2]; /* the model file's copy of (k, seed): sections are written from memory */
    float *P;         /* n_users x k */
    float *Q;         /* n_items x k */
    float *b;         /* n_items */
    float *QT; /* k x n_items: Q transposed for scoring; built after fit and load, always owned */
    double *loss; /* epochs; fit only */
    int32_t n_loss;
} state;

/* Stream families: each use of randomness draws from its own seed so no two coincide. */
#define SEED_USERS 0x75736572u  /* "user": P's rows */
#define SEED_ITEMS 0x6974656du  /* "item": Q's rows */
#define SEED_EPOCH 0x65706f63u  /* "epoc": the epoch's shuffles */
#define SEED_BLOCK 0x626c6f63u  /* "bloc": a block of a sub-epoch, or a Hogwild chunk */
#define SEED_FOLDIN 0x666f6c64u /* "fold": fold-in */
#define CHUNK 4096              /* Hogwild triples per chunk */
#define ADAM_TABLE 262144       /* Adam's bias-correction tables; beta2^ADAM_TABLE < 1e-11 */
#define ADAM_EPS 1e-8f          /* Adam's epsilon */
#define NEG_TRIES 16            /* redraws when a negative is one of the user's positives */

static uint64_t mix(uint64_t seed, uint64_t tag) {
    return ar__hash_bytes((uint64_t[2]){seed, tag}, 16);
}

/* -- kernels -------------------------------------------------------------------------------- */

/* a . b over k floats, summed in a fixed order (four interleaved partial sums). */
static inline float dot(const float *restrict a, const float *restrict b, int32_t k) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int32_t f = 0;
    for (; f + 4 <= k; f += 4) {
        s0 += a[f] * b[f];
        s1 += a[f + 1] * b[f + 1];
        s2 += a[f + 2] * b[f + 2];
        s3 += a[f + 3] * b[f + 3];
    }
    for (; f < k; f++)
        s0 += a[f] * b[f];
    return (s0 + s1) + (s2 + s3);
}

/* -ln sigmoid(x), without overflow. */
static inline float softplus_neg(float x) {
    return x > 0 ? log1pf(expf(-x)) : -x + log1pf(expf(x));
}

/* The step's body, compiled twice (baseline SSE2 and AVX2 + FMA, chosen at run time); `omp simd`
 * asks for vectorised loops at -O2 (the reduction's order is the compiler's, fixed per build). */
#define BPR_STEP_BODY                                                                              \
    float x = 0;                                                                                   \
    _Pragma("omp simd reduction(+ : x)") for (int32_t f = 0; f < k; f++) x +=                      \
        pu[f] * (qi[f] - qj[f]);                                                                   \
    if (bi)                                                                                        \
        x += *bi - *bj;                                                                            \
    float g = 1.0f / (1.0f + expf(x)); /* sigmoid(-x) */                                           \
    float lr = h->lr, lg = lr * g;                                                                 \
    float du = 1.0f - lr * h->reg_user, dp = 1.0f - lr * h->reg_pos, dn = 1.0f - lr * h->reg_neg;  \
    _Pragma("omp simd") for (int32_t f = 0; f < k; f++) {                                          \
        float u = pu[f], a = qi[f], c = qj[f];                                                     \
        pu[f] = du * u + lg * (a - c);                                                             \
        qi[f] = dp * a + lg * u;                                                                   \
        qj[f] = dn * c - lg * u;                                                                   \
    }                                                                                              \
    if (bi) {                                                                                      \
        float db = 1.0f - lr * h->reg_bias;                                                        \
        *bi = db * *bi + lg;                                                                       \
        *bj = db * *bj - lg;                                                                       \
    }                                                                                              \
    return softplus_neg(x);

typedef float (*step_fn)(float *restrict, float *restrict, float *restrict, float *, float *,
                         int32_t, const ar__bpr_hyper *);

static float step_base(float *restrict pu, float *restrict qi, float *restrict qj, float *bi,
                       float *bj, int32_t k, const ar__bpr_hyper *h) {
    BPR_STEP_BODY
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_CLONE 1
__attribute__((target("avx2,fma"))) static float step_avx2(float *restrict pu, float *restrict qi,
                                                           float *restrict qj, float *bi, float *bj,
                                                           int32_t k, const ar__bpr_hyper *h) {
    BPR_STEP_BODY
}
#endif

/* Whether the AVX2 + FMA clones may run (a read of the CPU model libgcc/compiler-rt fill at
 * start-up: cheap, and free of shared mutable state, so safe from any thread). */
static int use_avx2(void) {
#ifdef HAVE_AVX2_CLONE
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static step_fn pick_step(void) {
#ifdef HAVE_AVX2_CLONE
    if (use_avx2())
        return step_avx2;
#endif
    return step_base;
}

float ar__bpr_step(float *restrict pu, float *restrict qi, float *restrict qj, float *bi, float *bj,
                   int32_t k, const ar__bpr_hyper *h) {
    return pick_step()(pu, qi, qj, bi, bj, k, h);
}

/* The step of neg_select = mean (see ar__bpr_step_mean in bpr.h), compiled twice like the step
 * above. Pass 1 scores the positive and the n negatives; pass 2 walks the negatives in order,
 * accumulating the user's gradient into gu and updating each negative row; then the positive row
 * and the user row. */
#define BPR_MEAN_BODY                                                                              \
    float *xs = scratch, *gu = scratch + n;                                                        \
    float *qi = Q + (size_t)i * (size_t)k;                                                         \
    float xi = 0;                                                                                  \
    _Pragma("omp simd reduction(+ : xi)") for (int32_t f = 0; f < k; f++) xi += pu[f] * qi[f];     \
    if (b)                                                                                         \
        xi += b[i];                                                                                \
    float loss = 0, wsum = 0, lr = h->lr, inv = 1.0f / (float)n;                                   \
    for (int32_t c = 0; c < n; c++) {                                                              \
        const float *qj = Q + (size_t)js[c] * (size_t)k;                                           \
        float xj = 0;                                                                              \
        _Pragma("omp simd reduction(+ : xj)") for (int32_t f = 0; f < k; f++) xj += pu[f] * qj[f]; \
        if (b)                                                                                     \
            xj += b[js[c]];                                                                        \
        float x = xi - xj;                                                                         \
        loss += softplus_neg(x);                                                                   \
        xs[c] = inv / (1.0f + expf(x)); /* w_c = sigmoid(-x) / n */                                \
        wsum += xs[c];                                                                             \
    }                                                                                              \
    _Pragma("omp simd") for (int32_t f = 0; f < k; f++) gu[f] = wsum * qi[f];                      \
    float dn = 1.0f - lr * h->reg_neg;                                                             \
    for (int32_t c = 0; c < n; c++) {                                                              \
        float *qj = Q + (size_t)js[c] * (size_t)k;                                                 \
        float w = xs[c], lw = lr * w;                                                              \
        _Pragma("omp simd") for (int32_t f = 0; f < k; f++) {                                      \
            float t = qj[f];                                                                       \
            gu[f] -= w * t;                                                                        \
            qj[f] = dn * t - lw * pu[f];                                                           \
        }                                                                                          \
        if (b)                                                                                     \
            b[js[c]] = (1.0f - lr * h->reg_bias) * b[js[c]] - lw;                                  \
    }                                                                                              \
    float dp = 1.0f - lr * h->reg_pos, du = 1.0f - lr * h->reg_user, lws = lr * wsum;              \
    _Pragma("omp simd") for (int32_t f = 0; f < k; f++) {                                          \
        float u = pu[f];                                                                           \
        qi[f] = dp * qi[f] + lws * u;                                                              \
        pu[f] = du * u + lr * gu[f];                                                               \
    }                                                                                              \
    if (b)                                                                                         \
        b[i] = (1.0f - lr * h->reg_bias) * b[i] + lws;                                             \
    return loss;

typedef float (*mean_fn)(float *restrict, float *restrict, float *, int32_t, const int32_t *,
                         int32_t, int32_t, const ar__bpr_hyper *, float *restrict);

static float mean_base(float *restrict pu, float *restrict Q, float *b, int32_t i,
                       const int32_t *js, int32_t n, int32_t k, const ar__bpr_hyper *h,
                       float *restrict scratch) {
    BPR_MEAN_BODY
}

#ifdef HAVE_AVX2_CLONE
__attribute__((target("avx2,fma"))) static float
mean_avx2(float *restrict pu, float *restrict Q, float *b, int32_t i, const int32_t *js, int32_t n,
          int32_t k, const ar__bpr_hyper *h, float *restrict scratch) {
    BPR_MEAN_BODY
}
#endif

static mean_fn pick_mean(void) {
#ifdef HAVE_AVX2_CLONE
    if (use_avx2())
        return mean_avx2;
#endif
    return mean_base;
}

float ar__bpr_step_mean(float *restrict pu, float *restrict Q, float *b, int32_t i,
                        const int32_t *js, int32_t n, int32_t k, const ar__bpr_hyper *h,
                        float *restrict scratch) {
    return pick_mean()(pu, Q, b, i, js, n, k, h, scratch);
}

/* One Adam update of the k parameters x with gradient g and moments m, v; a = lr c1[t],
 * r = c2[t] (see ar__bpr_adam). */
#define ADAM_ROW(x, m, v, g, k, a, r, b1, b2, eps)                                                 \
    _Pragma("omp simd") for (int32_t f = 0; f < (k); f++) {                                        \
        float g_ = (g)[f];                                                                         \
        (m)[f] = (b1) * (m)[f] + (1.0f - (b1)) * g_;                                               \
        (v)[f] = (b2) * (v)[f] + (1.0f - (b2)) * g_ * g_;                                          \
        (x)[f] -= (a) * (m)[f] / (sqrtf((v)[f]) * (r) + (eps));                                    \
    }

/* Bias corrections of a row's t-th step (t >= 1) into a (times lr) and r; t is read once. */
#define ADAM_T(t, a, r)                                                                            \
    do {                                                                                           \
        int32_t t_ = (t);                                                                          \
        t_ = t_ < ad->n_table ? t_ : ad->n_table;                                                  \
        a = lr * ad->c1[t_ - 1];                                                                   \
        r = ad->c2[t_ - 1];                                                                        \
    } while (0)

#define BPR_ADAM_BODY                                                                              \
    float *xs = scratch, *gu = scratch + n, *g = scratch + n + k;                                  \
    float *qi = Q + (size_t)i * (size_t)k;                                                         \
    const ar__bpr_adam *ad = a;                                                                    \
    float b1 = ad->beta1, b2 = ad->beta2, eps = ad->eps, lr = h->lr, at, rt;                       \
    float xi = 0;                                                                                  \
    _Pragma("omp simd reduction(+ : xi)") for (int32_t f = 0; f < k; f++) xi += pu[f] * qi[f];     \
    if (b)                                                                                         \
        xi += b[i];                                                                                \
    float loss = 0, wsum = 0, inv = 1.0f / (float)n;                                               \
    for (int32_t c = 0; c < n; c++) {                                                              \
        const float *qj = Q + (size_t)js[c] * (size_t)k;                                           \
        float xj = 0;                                                                              \
        _Pragma("omp simd reduction(+ : xj)") for (int32_t f = 0; f < k; f++) xj += pu[f] * qj[f]; \
        if (b)                                                                                     \
            xj += b[js[c]];                                                                        \
        float x = xi - xj;                                                                         \
        loss += softplus_neg(x);                                                                   \
        xs[c] = inv / (1.0f + expf(x));                                                            \
        wsum += xs[c];                                                                             \
    }                                                                                              \
    float ru = h->reg_user, rp = h->reg_pos, rn = h->reg_neg, rb = h->reg_bias;                    \
    _Pragma("omp simd") for (int32_t f = 0; f < k; f++) gu[f] = ru * pu[f] - wsum * qi[f];         \
    for (int32_t c = 0; c < n; c++) {                                                              \
        int32_t j = js[c];                                                                         \
        float *qj = Q + (size_t)j * (size_t)k, w = xs[c];                                          \
        _Pragma("omp simd") for (int32_t f = 0; f < k; f++) {                                      \
            gu[f] += w * qj[f];                                                                    \
            g[f] = w * pu[f] + rn * qj[f];                                                         \
        }                                                                                          \
        int32_t t = ++ad->tQ[j];                                                                   \
        ADAM_T(t, at, rt);                                                                         \
        size_t o = (size_t)j * (size_t)k;                                                          \
        ADAM_ROW(qj, ad->mQ + o, ad->vQ + o, g, k, at, rt, b1, b2, eps)                            \
        if (b) {                                                                                   \
            float gb = w + rb * b[j];                                                              \
            ADAM_ROW(b + j, ad->mb + j, ad->vb + j, &gb, 1, at, rt, b1, b2, eps)                   \
        }                                                                                          \
    }                                                                                              \
    _Pragma("omp simd") for (int32_t f = 0; f < k; f++) g[f] = rp * qi[f] - wsum * pu[f];          \
    ADAM_T(++ad->tQ[i], at, rt);                                                                   \
    size_t oi = (size_t)i * (size_t)k, ou = (size_t)u * (size_t)k;                                 \
    ADAM_ROW(qi, ad->mQ + oi, ad->vQ + oi, g, k, at, rt, b1, b2, eps)                              \
    if (b) {                                                                                       \
        float gb = rb * b[i] - wsum;                                                               \
        ADAM_ROW(b + i, ad->mb + i, ad->vb + i, &gb, 1, at, rt, b1, b2, eps)                       \
    }                                                                                              \
    ADAM_T(++ad->tP[u], at, rt);                                                                   \
    ADAM_ROW(pu, ad->mP + ou, ad->vP + ou, gu, k, at, rt, b1, b2, eps)                             \
    return loss;

typedef float (*adam_fn)(float *restrict, float *restrict, float *, int32_t, int32_t,
                         const int32_t *, int32_t, int32_t, const ar__bpr_hyper *,
                         const ar__bpr_adam *, float *restrict);

static float adam_base(float *restrict pu, float *restrict Q, float *b, int32_t u, int32_t i,
                       const int32_t *js, int32_t n, int32_t k, const ar__bpr_hyper *h,
                       const ar__bpr_adam *a, float *restrict scratch) {
    BPR_ADAM_BODY
}

#ifdef HAVE_AVX2_CLONE
__attribute__((target("avx2,fma"))) static float
adam_avx2(float *restrict pu, float *restrict Q, float *b, int32_t u, int32_t i, const int32_t *js,
          int32_t n, int32_t k, const ar__bpr_hyper *h, const ar__bpr_adam *a,
          float *restrict scratch) {
    BPR_ADAM_BODY
}
#endif

static adam_fn pick_adam(void) {
#ifdef HAVE_AVX2_CLONE
    if (use_avx2())
        return adam_avx2;
#endif
    return adam_base;
}

float ar__bpr_step_adam(float *restrict pu, float *restrict Q, float *b, int32_t u, int32_t i,
                        const int32_t *js, int32_t n, int32_t k, const ar__bpr_hyper *h,
                        const ar__bpr_adam *a, float *restrict scratch) {
    return pick_adam()(pu, Q, b, u, i, js, n, k, h, a, scratch);
}

/* scores[i] = b[i] + sum_f p[f] QT[f][i] for the n items, QT the item factors transposed
 * (k x n, row-major): items run along the vector lanes, so the kernel streams QT once with no
 * horizontal sums, in blocks of SCORE_BLOCK items whose partial scores stay in L1. Each score is
 * summed in the order b, f = 0, 1, ..., k-1. */
#define SCORE_BLOCK 1024
#define SCORE_BODY                                                                                 \
    for (int32_t i0 = 0; i0 < n; i0 += SCORE_BLOCK) {                                              \
        int32_t m = n - i0 < SCORE_BLOCK ? n - i0 : SCORE_BLOCK;                                   \
        float *restrict out = scores + i0;                                                         \
        _Pragma("omp simd") for (int32_t i = 0; i < m; i++) out[i] = b[i0 + i];                    \
        for (int32_t f = 0; f < k; f++) {                                                          \
            const float *restrict row = QT + (size_t)f * (size_t)n + i0;                           \
            float pf = p[f];                                                                       \
            _Pragma("omp simd") for (int32_t i = 0; i < m; i++) out[i] += pf * row[i];             \
        }                                                                                          \
    }

static void score_rows_base(const float *restrict QT, const float *restrict b,
                            const float *restrict p, int32_t n, int32_t k, float *restrict scores) {
    SCORE_BODY
}

#ifdef HAVE_AVX2_CLONE
__attribute__((target("avx2,fma"))) static void score_rows_avx2(const float *restrict QT,
                                                                const float *restrict b,
                                                                const float *restrict p, int32_t n,
                                                                int32_t k, float *restrict scores) {
    SCORE_BODY
}
#endif

static void score_rows(const float *QT, const float *b, const float *p, int32_t n, int32_t k,
                       float *scores) {
#ifdef HAVE_AVX2_CLONE
    if (use_avx2()) {
        score_rows_avx2(QT, b, p, n, k, scores);
        return;
    }
#endif
    score_rows_base(QT, b, p, n, k, scores);
}

float ar__bpr_step_ref(float *pu, float *qi, float *qj, float *bi, float *bj, int32_t k,
                       const ar__bpr_hyper *h) {
    double x = 0;
    for (int32_t f = 0; f < k; f++)
        x += (double)pu[f] * ((double)qi[f] - (double)qj[f]);
    if (bi)
        x += (double)*bi - (double)*bj;
    double g = 1.0 / (1.0 + exp(x));
    for (int32_t f = 0; f < k; f++) {
        double u = pu[f], a = qi[f], c = qj[f];
        pu[f] = (float)(u + h->lr * (g * (a - c) - h->reg_user * u));
        qi[f] = (float)(a + h->lr * (g * u - h->reg_pos * a));
        qj[f] = (float)(c + h->lr * (-g * u - h->reg_neg * c));
    }
    if (bi) {
        double b1 = *bi, b2 = *bj;
        *bi = (float)(b1 + h->lr * (g - h->reg_bias * b1));
        *bj = (float)(b2 + h->lr * (-g - h->reg_bias * b2));
    }
    return (float)log1p(exp(-x));
}

float ar__bpr_step_mean_ref(float *pu, float *Q, float *b, int32_t i, const int32_t *js, int32_t n,
                            int32_t k, const ar__bpr_hyper *h) {
    double *u0 = ar__alloc_array((size_t)k, sizeof *u0),
           *gu = ar__alloc_array((size_t)k, sizeof *gu);
    double *w = ar__alloc_array((size_t)n, sizeof *w);
    if (!u0 || !gu || !w) {
        ar__free(u0), ar__free(gu), ar__free(w);
        return NAN;
    }
    float *qi = Q + (size_t)i * (size_t)k;
    double xi = b ? b[i] : 0, loss = 0, wsum = 0;
    for (int32_t f = 0; f < k; f++)
        u0[f] = pu[f], xi += (double)pu[f] * (double)qi[f];
    for (int32_t c = 0; c < n; c++) {
        const float *qj = Q + (size_t)js[c] * (size_t)k;
        double xj = b ? b[js[c]] : 0;
        for (int32_t f = 0; f < k; f++)
            xj += u0[f] * (double)qj[f];
        loss += log1p(exp(-(xi - xj)));
        w[c] = 1.0 / (1.0 + exp(xi - xj)) / n;
        wsum += w[c];
    }
    for (int32_t f = 0; f < k; f++)
        gu[f] = wsum * (double)qi[f];
    for (int32_t c = 0; c < n; c++) { /* in order: a repeated negative sees its earlier update */
        float *qj = Q + (size_t)js[c] * (size_t)k;
        for (int32_t f = 0; f < k; f++) {
            double t = qj[f];
            gu[f] -= w[c] * t;
            qj[f] = (float)(t + h->lr * (-w[c] * u0[f] - h->reg_neg * t));
        }
        if (b)
            b[js[c]] = (float)(b[js[c]] + h->lr * (-w[c] - h->reg_bias * b[js[c]]));
    }
    for (int32_t f = 0; f < k; f++) {
        qi[f] = (float)(qi[f] + h->lr * (wsum * u0[f] - h->reg_pos * qi[f]));
        pu[f] = (float)(u0[f] + h->lr * (gu[f] - h->reg_user * u0[f]));
    }
    if (b)
        b[i] = (float)(b[i] + h->lr * (wsum - h->reg_bias * b[i]));
    ar__free(u0), ar__free(gu), ar__free(w);
    return (float)loss;
}

/* One Adam update in double precision of the row x (k floats) with gradient g, at step t. */
static void adam_row_ref(float *x, float *m, float *v, const double *g, int32_t k, int32_t t,
                         double lr, const ar__bpr_adam *a) {
    double bc1 = 1.0 - pow(a->beta1, t), bc2 = 1.0 - pow(a->beta2, t);
    for (int32_t f = 0; f < k; f++) {
        double mm = a->beta1 * (double)m[f] + (1.0 - a->beta1) * g[f];
        double vv = a->beta2 * (double)v[f] + (1.0 - a->beta2) * g[f] * g[f];
        m[f] = (float)mm, v[f] = (float)vv;
        x[f] = (float)(x[f] - lr / bc1 * mm / (sqrt(vv / bc2) + a->eps));
    }
}

float ar__bpr_step_adam_ref(float *pu, float *Q, float *b, int32_t u, int32_t i, const int32_t *js,
                            int32_t n, int32_t k, const ar__bpr_hyper *h, const ar__bpr_adam *a) {
    double *u0 = ar__alloc_array((size_t)k, sizeof *u0),
           *gu = ar__alloc_array((size_t)k, sizeof *gu);
    double *g = ar__alloc_array((size_t)k, sizeof *g), *w = ar__alloc_array((size_t)n, sizeof *w);
    if (!u0 || !gu || !g || !w) {
        ar__free(u0), ar__free(gu), ar__free(g), ar__free(w);
        return NAN;
    }
    float *qi = Q + (size_t)i * (size_t)k;
    double xi = b ? b[i] : 0, loss = 0, wsum = 0;
    for (int32_t f = 0; f < k; f++)
        u0[f] = pu[f], xi += (double)pu[f] * (double)qi[f];
    for (int32_t c = 0; c < n; c++) {
        const float *qj = Q + (size_t)js[c] * (size_t)k;
        double xj = b ? b[js[c]] : 0;
        for (int32_t f = 0; f < k; f++)
            xj += u0[f] * (double)qj[f];
        loss += log1p(exp(-(xi - xj)));
        w[c] = 1.0 / (1.0 + exp(xi - xj)) / n;
        wsum += w[c];
    }
    for (int32_t f = 0; f < k; f++)
        gu[f] = h->reg_user * u0[f] - wsum * (double)qi[f];
    for (int32_t c = 0; c < n; c++) {
        int32_t j = js[c];
        float *qj = Q + (size_t)j * (size_t)k;
        for (int32_t f = 0; f < k; f++) {
            gu[f] += w[c] * (double)qj[f];
            g[f] = w[c] * u0[f] + h->reg_neg * (double)qj[f];
        }
        int32_t t = ++a->tQ[j];
        adam_row_ref(qj, a->mQ + (size_t)j * (size_t)k, a->vQ + (size_t)j * (size_t)k, g, k, t,
                     h->lr, a);
        if (b) {
            double gb = w[c] + h->reg_bias * (double)b[j];
            adam_row_ref(b + j, a->mb + j, a->vb + j, &gb, 1, t, h->lr, a);
        }
    }
    for (int32_t f = 0; f < k; f++)
        g[f] = h->reg_pos * (double)qi[f] - wsum * u0[f];
    int32_t t = ++a->tQ[i];
    adam_row_ref(qi, a->mQ + (size_t)i * (size_t)k, a->vQ + (size_t)i * (size_t)k, g, k, t, h->lr,
                 a);
    if (b) {
        double gb = h->reg_bias * (double)b[i] - wsum;
        adam_row_ref(b + i, a->mb + i, a->vb + i, &gb, 1, t, h->lr, a);
    }
    adam_row_ref(pu, a->mP + (size_t)u * (size_t)k, a->vP + (size_t)u * (size_t)k, gu, k,
                 ++a->tP[u], h->lr, a);
    ar__free(u0), ar__free(gu), ar__free(g), ar__free(w);
    return (float)loss;
}

void ar__alias_build(const float *w, int32_t n, float *prob, int32_t *alias, double *work_d,
                     int32_t *work_i) {
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += w[i] > 0 ? w[i] : 0;
    /* Scaled weights average 1; "small" outcomes (< 1) fill the front of work_i, "large" ones
     * the back. Each small column is topped up from one large outcome. */
    int32_t ns = 0, nl = 0;
    for (int32_t i = 0; i < n; i++) {
        work_d[i] = sum > 0 ? (w[i] > 0 ? w[i] : 0) * (double)n / sum : 1.0;
        if (work_d[i] < 1.0)
            work_i[ns++] = i;
        else
            work_i[n - 1 - nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        int32_t s = work_i[--ns], l = work_i[n - nl];
        prob[s] = (float)work_d[s];
        alias[s] = l;
        work_d[l] -= 1.0 - work_d[s];
        if (work_d[l] < 1.0) {
            nl--;
            work_i[ns++] = l;
        }
    }
    /* What is left has weight 1 up to rounding. */
    while (nl > 0) {
        int32_t l = work_i[n - nl--];
        prob[l] = 1.0f, alias[l] = l;
    }
    while (ns > 0) {
        int32_t s = work_i[--ns];
        prob[s] = 1.0f, alias[s] = s;
    }
}

/* 1 if sorted a[0..n) contains v. */
static int contains(const int32_t *a, int32_t n, int32_t v) {
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == v;
}

/* Builds s->QT from s->Q. */
static ar_status build_qt(state *s, int32_t ni) {
    int32_t k = s->k;
    s->QT = ar__alloc_array((size_t)ni * (size_t)k + 1, sizeof(float));
    if (!s->QT)
        return AR_ENOMEM;
    for (int32_t i = 0; i < ni; i++)
        for (int32_t f = 0; f < k; f++)
            s->QT[(size_t)f * (size_t)ni + i] = s->Q[(size_t)i * (size_t)k + f];
    return AR_OK;
}

/* -- training ------------------------------------------------------------------------------- */

/* What one training pass needs, shared read-only by the threads. */
typedef struct trainer {
    const ar_csr *x;
    state *s;
    int32_t k;
    int negatives, select, has_bias;
    ar__bpr_hyper h;
    step_fn step;
    mean_fn step_mean;
    adam_fn step_adam;
    const ar__bpr_adam *adam; /* NULL: SGD */
} trainer;

/* A negative sampler over items cand[0..n) (cand NULL: the items 0..n-1 themselves), uniform
 * or by the alias table prob/alias (n entries each, NULL for uniform). */
typedef struct sampler {
    const int32_t *cand;
    int32_t n;
    const float *prob;
    const int32_t *alias;
} sampler;

static inline int32_t draw(const sampler *sm, ar_rng *rng) {
    int32_t c = sm->prob ? ar__alias_draw(sm->prob, sm->alias, sm->n, rng)
                         : (int32_t)(((ar_rng_next(rng) >> 32) * (uint64_t)sm->n) >> 32);
    return sm->cand ? sm->cand[c] : c;
}

/* Draws a negative for u (not among u's positives); -1 when NEG_TRIES draws all hit positives. */
static inline int32_t draw_negative(const trainer *t, const sampler *sm, int32_t u, ar_rng *rng) {
    const int32_t *row = t->x->indices + t->x->indptr[u];
    int32_t len = (int32_t)(t->x->indptr[u + 1] - t->x->indptr[u]);
    for (int tries = 0; tries < NEG_TRIES; tries++) {
        int32_t j = draw(sm, rng);
        if (!contains(row, len, j))
            return j;
    }
    return -1;
}

static inline void prefetch_row(const float *r, int32_t k) {
#if defined(__GNUC__) || defined(__clang__)
    for (int32_t f = 0; f < k; f += 16)
        __builtin_prefetch(r + f, 1, 3);
#else
    (void)r, (void)k;
#endif
}

/* The updates for one positive (u, i). Returns the summed loss and adds the triples to *n.
 * The negatives are drawn first and their rows prefetched, so their cache misses overlap. */
static double train_positive(const trainer *t, const sampler *sm, int32_t u, int32_t i, ar_rng *rng,
                             int64_t *n) {
    state *s = t->s;
    int32_t k = t->k;
    float *pu = s->P + (size_t)u * (size_t)k, *qi = s->Q + (size_t)i * (size_t)k;
    float *bi = t->has_bias ? &s->b[i] : NULL;
    int32_t js[MAX_NEG];
    int nj = 0;
    for (int c = 0; c < t->negatives; c++) {
        int32_t j = draw_negative(t, sm, u, rng);
        if (j >= 0) {
            js[nj++] = j;
            prefetch_row(s->Q + (size_t)j * (size_t)k, k);
            if (t->adam) { /* and the row's moments, which the Adam step reads too */
                prefetch_row(t->adam->mQ + (size_t)j * (size_t)k, k);
                prefetch_row(t->adam->vQ + (size_t)j * (size_t)k, k);
            }
        }
    }
    if (nj == 0)
        return 0;
    if (t->adam && t->select == SELECT_MEAN) {
        float scratch[MAX_NEG + 2 * MAX_K];
        *n += nj;
        return t->step_adam(pu, s->Q, t->has_bias ? s->b : NULL, u, i, js, nj, k, &t->h, t->adam,
                            scratch);
    }
    if (t->select == SELECT_MEAN) {
        float scratch[MAX_NEG + MAX_K];
        *n += nj;
        return t->step_mean(pu, s->Q, t->has_bias ? s->b : NULL, i, js, nj, k, &t->h, scratch);
    }
    double loss = 0;
    if (t->select == SELECT_HARDEST && nj > 1) {
        int32_t best = js[0];
        float best_x = -INFINITY;
        for (int c = 0; c < nj; c++) {
            float xj = dot(pu, s->Q + (size_t)js[c] * (size_t)k, k) + s->b[js[c]];
            if (xj > best_x)
                best_x = xj, best = js[c];
        }
        js[0] = best;
        nj = 1;
    }
    for (int c = 0; c < nj; c++) {
        int32_t j = js[c];
        if (t->adam) { /* the one-negative case of the Adam step */
            float scratch[1 + 2 * MAX_K];
            loss += t->step_adam(pu, s->Q, t->has_bias ? s->b : NULL, u, i, &js[c], 1, k, &t->h,
                                 t->adam, scratch);
        } else {
            loss += t->step(pu, qi, s->Q + (size_t)j * (size_t)k, bi, t->has_bias ? &s->b[j] : NULL,
                            k, &t->h);
        }
        ++*n;
    }
    return loss;
}

/* Fills rows of a (rows x k) with N(0, std^2), row r from stream (seed, r). */
static void init_rows(float *a, int32_t rows, int32_t k, double std, uint64_t seed, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int32_t r = 0; r < rows; r++) {
        ar_rng rng;
        ar_rng_stream(&rng, seed, (uint64_t)r);
        float *row = a + (size_t)r * (size_t)k;
        for (int32_t f = 0; f < k; f += 2) {
            /* Box-Muller: two normals from two uniforms in (0, 1]. */
            double u1 = 1.0 - ar_rng_uniform(&rng), u2 = ar_rng_uniform(&rng);
            double rad = sqrt(-2.0 * log(u1)) * std;
            row[f] = (float)(rad * cos(6.283185307179586 * u2));
            if (f + 1 < k)
                row[f + 1] = (float)(rad * sin(6.283185307179586 * u2));
        }
    }
}

static void shuffle(int32_t *a, int64_t n, ar_rng *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ar_rng_below(rng, (uint64_t)i + 1);
        int32_t tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
    }
}

/* Shuffles two parallel arrays the same way. */
static void shuffle2(int32_t *a, int32_t *b, int64_t n, ar_rng *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ar_rng_below(rng, (uint64_t)i + 1);
        int32_t t1 = a[i], t2 = b[i];
        a[i] = a[j], b[i] = b[j];
        a[j] = t1, b[j] = t2;
    }
}

/* Buffers of the deterministic schedule, allocated once per fit. */
typedef struct strata {
    int32_t nb;
    int32_t *uperm, *ublk; /* n_users */
    int32_t *iperm, *iblk; /* n_items; iperm holds item group c at [ioff[c], ioff[c+1]) */
    int32_t *ioff;         /* nb + 1 */
    int64_t *boff;         /* nb * nb + 1: bucket (b, c) at [boff[b nb + c], ...) */
    int32_t *pu, *pi;      /* nnz: the positives, bucketed */
    float *wblk, *prob;    /* n_items: popularity weights in iperm order; alias tables */
    int32_t *alias, *work_i;
    double *work_d;
    double *loss;   /* nb: the loss of each block of a sub-epoch */
    int64_t *count; /* nb */
} strata;

static void strata_free(strata *t) {
    ar__free(t->uperm), ar__free(t->ublk), ar__free(t->iperm), ar__free(t->iblk);
    ar__free(t->ioff), ar__free(t->boff), ar__free(t->pu), ar__free(t->pi);
    ar__free(t->wblk), ar__free(t->prob), ar__free(t->alias), ar__free(t->work_i);
    ar__free(t->work_d), ar__free(t->loss), ar__free(t->count);
}

static ar_status strata_alloc(strata *t, int32_t nb, int32_t nu, int32_t ni, int64_t nnz, int pop) {
    memset(t, 0, sizeof *t);
    t->nb = nb;
    size_t nn = (size_t)(nnz > 0 ? nnz : 1);
    t->uperm = ar__alloc_array((size_t)nu + 1, sizeof(int32_t));
    t->ublk = ar__alloc_array((size_t)nu + 1, sizeof(int32_t));
    t->iperm = ar__alloc_array((size_t)ni, sizeof(int32_t));
    t->iblk = ar__alloc_array((size_t)ni, sizeof(int32_t));
    t->ioff = ar__alloc_array((size_t)nb + 1, sizeof(int32_t));
    t->boff = ar__alloc_array((size_t)nb * (size_t)nb + 1, sizeof(int64_t));
    t->pu = ar__alloc_array(nn, sizeof(int32_t));
    t->pi = ar__alloc_array(nn, sizeof(int32_t));
    t->loss = ar__alloc_array((size_t)nb, sizeof(double));
    t->count = ar__alloc_array((size_t)nb, sizeof(int64_t));
    int ok = t->uperm && t->ublk && t->iperm && t->iblk && t->ioff && t->boff && t->pu && t->pi &&
             t->loss && t->count;
    if (pop) {
        t->wblk = ar__alloc_array((size_t)ni, sizeof(float));
        t->prob = ar__alloc_array((size_t)ni, sizeof(float));
        t->alias = ar__alloc_array((size_t)ni, sizeof(int32_t));
        t->work_i = ar__alloc_array((size_t)ni, sizeof(int32_t));
        t->work_d = ar__alloc_array((size_t)ni, sizeof(double));
        ok = ok && t->wblk && t->prob && t->alias && t->work_i && t->work_d;
    }
    if (!ok) {
        strata_free(t);
        return AR_ENOMEM;
    }
    return AR_OK;
}

/* One epoch of the stratified schedule. popw: per-item sampling weights, or NULL (uniform). */
static double epoch_deterministic(const trainer *tr, strata *t, const float *popw, uint64_t seed,
                                  int32_t e, int nt, int64_t *n_triples) {
    const ar_csr *x = tr->x;
    int32_t nu = x->n_rows, ni = x->n_cols, nb = t->nb;
    ar_rng rng;
    ar_rng_stream(&rng, mix(seed, SEED_EPOCH), (uint64_t)e);
    /* Groups: contiguous ranges of a random permutation. */
    for (int32_t u = 0; u < nu; u++)
        t->uperm[u] = u;
    shuffle(t->uperm, nu, &rng);
    for (int32_t r = 0; r < nu; r++)
        t->ublk[t->uperm[r]] = (int32_t)((int64_t)r * nb / nu);
    for (int32_t i = 0; i < ni; i++)
        t->iperm[i] = i;
    shuffle(t->iperm, ni, &rng);
    for (int32_t c = 0; c <= nb; c++)
        t->ioff[c] = (int32_t)(((int64_t)c * ni + nb - 1) / nb);
    for (int32_t c = 0; c < nb; c++)
        for (int32_t r = t->ioff[c]; r < t->ioff[c + 1]; r++)
            t->iblk[t->iperm[r]] = c;
    /* Bucket the positives by (user group, item group): a counting sort. */
    size_t nbk = (size_t)nb * (size_t)nb;
    memset(t->boff, 0, (nbk + 1) * sizeof *t->boff);
    for (int32_t u = 0; u < nu; u++)
        for (int64_t p = x->indptr[u]; p < x->indptr[u + 1]; p++)
            t->boff[(size_t)t->ublk[u] * (size_t)nb + (size_t)t->iblk[x->indices[p]] + 1]++;
    for (size_t q = 0; q < nbk; q++)
        t->boff[q + 1] += t->boff[q];
    for (int32_t u = 0; u < nu; u++)
        for (int64_t p = x->indptr[u]; p < x->indptr[u + 1]; p++) {
            int32_t i = x->indices[p];
            size_t q = (size_t)t->ublk[u] * (size_t)nb + (size_t)t->iblk[i];
            int64_t at = t->boff[q]++;
            t->pu[at] = u, t->pi[at] = i;
        }
    for (size_t q = nbk; q > 0; q--) /* undo the fill's advance */
        t->boff[q] = t->boff[q - 1];
    t->boff[0] = 0;
    if (popw) {
        for (int32_t r = 0; r < ni; r++)
            t->wblk[r] = popw[t->iperm[r]];
        for (int32_t c = 0; c < nb; c++) {
            int32_t o = t->ioff[c], len = t->ioff[c + 1] - o;
            if (len > 0)
                ar__alias_build(t->wblk + o, len, t->prob + o, t->alias + o, t->work_d, t->work_i);
        }
    }
    double loss = 0;
    for (int32_t s = 0; s < nb; s++) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int32_t b = 0; b < nb; b++) {
            int32_t c = (b + s) % nb;
            int32_t o = t->ioff[c], len = t->ioff[c + 1] - o;
            size_t q = (size_t)b * (size_t)nb + (size_t)c;
            int64_t lo = t->boff[q], hi = t->boff[q + 1];
            double l = 0;
            int64_t n = 0;
            if (len > 0 && hi > lo) {
                ar_rng r;
                ar_rng_stream(&r, mix(seed, SEED_BLOCK),
                              ((uint64_t)e * (uint64_t)nb + (uint64_t)s) * (uint64_t)nb +
                                  (uint64_t)b);
                shuffle2(t->pu + lo, t->pi + lo, hi - lo, &r);
                sampler sm = {t->iperm + o, len, popw ? t->prob + o : NULL,
                              popw ? t->alias + o : NULL};
                for (int64_t p = lo; p < hi; p++) {
                    if (p + 1 < hi) {
                        prefetch_row(tr->s->P + (size_t)t->pu[p + 1] * (size_t)tr->k, tr->k);
                        prefetch_row(tr->s->Q + (size_t)t->pi[p + 1] * (size_t)tr->k, tr->k);
                    }
                    l += train_positive(tr, &sm, t->pu[p], t->pi[p], &r, &n);
                }
            }
            t->loss[b] = l;
            t->count[b] = n;
        }
        for (int32_t b = 0; b < nb; b++) /* fixed order */
            loss += t->loss[b], *n_triples += t->count[b];
    }
    return loss;
}

/* One Hogwild epoch: nnz positives drawn with replacement. rowof: the user of each nonzero. */
static double epoch_hogwild(const trainer *tr, const sampler *sm, const int32_t *rowof,
                            uint64_t seed, int32_t e, int nt, double *closs, int64_t *ccount,
                            int64_t *n_triples) {
    const ar_csr *x = tr->x;
    int64_t nnz = x->nnz, n_chunks = (nnz + CHUNK - 1) / CHUNK;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        ar_rng r;
        ar_rng_stream(&r, mix(seed, SEED_BLOCK), (uint64_t)e * (uint64_t)n_chunks + (uint64_t)ch);
        int64_t m = ch + 1 < n_chunks ? CHUNK : nnz - ch * CHUNK;
        double l = 0;
        int64_t n = 0;
        for (int64_t t = 0; t < m; t++) {
            int64_t p = (int64_t)ar_rng_below(&r, (uint64_t)nnz);
            l += train_positive(tr, sm, rowof[p], x->indices[p], &r, &n);
        }
        closs[ch] = l;
        ccount[ch] = n;
    }
    double loss = 0;
    for (int64_t ch = 0; ch < n_chunks; ch++)
        loss += closs[ch], *n_triples += ccount[ch];
    return loss;
}

static ar_status fit(ar_model *m, const ar_dataset *ds, const ar_csr *x, const ar_csr *xt,
                     const ar_fit_options *o, ar_error *err) {
    (void)ds;
    int32_t k = (int32_t)ar__p(m, P_FACTORS), epochs = (int32_t)ar__p(m, P_EPOCHS);
    int32_t nu = m->n_users, ni = m->n_items;
    int nt = ar__threads(o->n_threads);
    int pop = (int)ar__p(m, P_SAMPLING) == SAMPLE_POPULARITY;
    int hog = (int)ar__p(m, P_MODE) == MODE_HOGWILD;
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return ar__fail(err, AR_ENOMEM, "bpr: out of memory");
    m->state = s;
    s->k = k;
    s->seed = o->seed;
    s->P = ar__alloc_array((size_t)nu * (size_t)k + 1, sizeof(float));
    s->Q = ar__alloc_array((size_t)ni * (size_t)k, sizeof(float));
    s->b = ar__calloc((size_t)ni, sizeof(float));
    s->loss = ar__calloc((size_t)epochs, sizeof(double));
    if (!s->P || !s->Q || !s->b || !s->loss)
        return ar__fail(err, AR_ENOMEM, "bpr: out of memory for %d x %d factors", nu + ni, k);
    s->n_loss = epochs;
    init_rows(s->P, nu, k, ar__p(m, P_INIT_STD), mix(o->seed, SEED_USERS), nt);
    init_rows(s->Q, ni, k, ar__p(m, P_INIT_STD), mix(o->seed, SEED_ITEMS), nt);
    if (x->nnz == 0) /* nothing to learn from: the initial factors */
        return build_qt(s, ni) ? ar__fail(err, AR_ENOMEM, "bpr: out of memory") : AR_OK;

    trainer tr = {.x = x,
                  .s = s,
                  .k = k,
                  .negatives = (int)ar__p(m, P_NEGATIVES),
                  .select = (int)ar__p(m, P_NEG_SELECT),
                  .has_bias = ar__p(m, P_ITEM_BIAS) != 0,
                  .step = pick_step(),
                  .step_mean = pick_mean(),
                  .step_adam = pick_adam()};
    tr.h.reg_user = (float)ar__p(m, P_REG_USER);
    tr.h.reg_pos = (float)ar__p(m, P_REG_POS);
    tr.h.reg_neg = (float)ar__p(m, P_REG_NEG);
    tr.h.reg_bias = (float)ar__p(m, P_REG_BIAS);

    ar_status st = AR_OK;
    float *popw = NULL, *prob = NULL;
    int32_t *alias = NULL, *work_i = NULL, *rowof = NULL;
    double *work_d = NULL, *closs = NULL;
    int64_t *ccount = NULL;
    strata t;
    memset(&t, 0, sizeof t);
    ar__bpr_adam ad;
    memset(&ad, 0, sizeof ad);
    float *tables = NULL;
    if ((int)ar__p(m, P_OPTIMIZER) == OPT_ADAM) {
        size_t pn = (size_t)nu * (size_t)k + 1, qn = (size_t)ni * (size_t)k;
        ad.mP = ar__calloc(pn, sizeof(float)), ad.vP = ar__calloc(pn, sizeof(float));
        ad.mQ = ar__calloc(qn, sizeof(float)), ad.vQ = ar__calloc(qn, sizeof(float));
        ad.mb = ar__calloc((size_t)ni, sizeof(float)),
        ad.vb = ar__calloc((size_t)ni, sizeof(float));
        ad.tP = ar__calloc((size_t)nu + 1, sizeof(int32_t));
        ad.tQ = ar__calloc((size_t)ni, sizeof(int32_t));
        tables = ar__alloc_array(2 * (size_t)ADAM_TABLE, sizeof(float));
        if (!ad.mP || !ad.vP || !ad.mQ || !ad.vQ || !ad.mb || !ad.vb || !ad.tP || !ad.tQ || !tables)
            goto oom;
        ad.beta1 = (float)ar__p(m, P_ADAM_BETA1);
        ad.beta2 = (float)ar__p(m, P_ADAM_BETA2);
        ad.eps = ADAM_EPS;
        ad.n_table = ADAM_TABLE;
        for (int32_t q = 0; q < ADAM_TABLE; q++) {
            tables[q] = (float)(1.0 / (1.0 - pow(ad.beta1, q + 1)));
            tables[ADAM_TABLE + q] = (float)(1.0 / sqrt(1.0 - pow(ad.beta2, q + 1)));
        }
        ad.c1 = tables, ad.c2 = tables + ADAM_TABLE;
        tr.adam = &ad;
    }
    if (pop) {
        double gamma = ar__p(m, P_POP_GAMMA);
        if (!(popw = ar__alloc_array((size_t)ni, sizeof *popw)))
            goto oom;
        for (int32_t i = 0; i < ni; i++)
            popw[i] = (float)pow((double)(xt->indptr[i + 1] - xt->indptr[i]), gamma);
    }
    sampler global = {NULL, ni, NULL, NULL};
    if (hog) {
        int64_t n_chunks = (x->nnz + CHUNK - 1) / CHUNK;
        rowof = ar__alloc_array((size_t)x->nnz, sizeof *rowof);
        closs = ar__alloc_array((size_t)n_chunks, sizeof *closs);
        ccount = ar__alloc_array((size_t)n_chunks, sizeof *ccount);
        if (!rowof || !closs || !ccount)
            goto oom;
        for (int32_t u = 0; u < nu; u++)
            for (int64_t p = x->indptr[u]; p < x->indptr[u + 1]; p++)
                rowof[p] = u;
        if (pop) {
            prob = ar__alloc_array((size_t)ni, sizeof *prob);
            alias = ar__alloc_array((size_t)ni, sizeof *alias);
            work_i = ar__alloc_array((size_t)ni, sizeof *work_i);
            work_d = ar__alloc_array((size_t)ni, sizeof *work_d);
            if (!prob || !alias || !work_i || !work_d)
                goto oom;
            ar__alias_build(popw, ni, prob, alias, work_d, work_i);
            global.prob = prob, global.alias = alias;
        }
    } else {
        int32_t nb = (int32_t)ar__p(m, P_BLOCKS);
        if (nb > ni)
            nb = ni;
        if (nb > nu)
            nb = nu;
        if (strata_alloc(&t, nb, nu, ni, x->nnz, pop))
            goto oom;
    }

    for (int32_t e = 0; e < epochs; e++) {
        if (ar__canceled(o)) {
            st = ar__fail(err, AR_ECANCELED, "bpr: canceled");
            break;
        }
        tr.h.lr = (float)(ar__p(m, P_LR) * pow(ar__p(m, P_LR_DECAY), e));
        int64_t n = 0;
        double l = hog ? epoch_hogwild(&tr, &global, rowof, o->seed, e, nt, closs, ccount, &n)
                       : epoch_deterministic(&tr, &t, popw, o->seed, e, nt, &n);
        s->loss[e] = n ? l / (double)n : NAN;
        if (!isfinite(s->loss[e]) && n) {
            st = ar__fail(err, AR_ERANGE,
                          "bpr: the loss diverged in epoch %d (lower lr or raise the "
                          "regularisation)",
                          e + 1);
            break;
        }
        if (o->progress && o->progress(o->progress_data, e + 1, epochs)) {
            st = ar__fail(err, AR_ECANCELED, "bpr: canceled");
            break;
        }
    }
    if (!st && build_qt(s, ni))
        goto oom;
    goto done;
oom:
    st = ar__fail(err, AR_ENOMEM, "bpr: out of memory");
done:
    strata_free(&t);
    ar__free(ad.mP), ar__free(ad.vP), ar__free(ad.mQ), ar__free(ad.vQ), ar__free(ad.mb);
    ar__free(ad.vb), ar__free(ad.tP), ar__free(ad.tQ), ar__free(tables);
    ar__free(popw), ar__free(prob), ar__free(alias), ar__free(work_i), ar__free(work_d);
    ar__free(rowof), ar__free(closs), ar__free(ccount);
    return st;
}

double ar__bpr_epoch_loss(const ar_model *m, int32_t epoch) {
    if (!m || m->impl != &ar__bpr_impl || !m->state)
        return NAN;
    const state *s = m->state;
    return s->loss && epoch >= 0 && epoch < s->n_loss ? s->loss[epoch] : NAN;
}

/* -- scoring -------------------------------------------------------------------------------- */

static size_t ws_floats(const ar_model *m) {
    return 3 * (size_t)((const state *)m->state)->k; /* fold-in's vector and Adam moments */
}

/* The vector of a user known only by the history items[0..n) (ascending), into p[k]; p[k..3k) is
 * scratch (Adam's moments under optimizer = adam). */
static void fold_in(const ar_model *m, const int32_t *items, int32_t n, float *p) {
    const state *s = m->state;
    int32_t k = s->k, ni = m->n_items;
    memset(p, 0, 3 * (size_t)k * sizeof *p);
    int adam = (int)ar__p(m, P_OPTIMIZER) == OPT_ADAM;
    double b1 = ar__p(m, P_ADAM_BETA1), b2 = ar__p(m, P_ADAM_BETA2);
    float *mo = p + k, *vo = p + 2 * k;
    int64_t step = 0;
    if (n == 0 || n >= ni)
        return;
    int has_bias = ar__p(m, P_ITEM_BIAS) != 0;
    float lr = (float)ar__p(m, P_LR), ru = (float)ar__p(m, P_REG_USER);
    int32_t passes = (int32_t)ar__p(m, P_FOLDIN_EPOCHS);
    ar_rng rng;
    ar_rng_stream(&rng, mix(s->seed, SEED_FOLDIN), ar__hash_bytes(items, (size_t)n * 4));
    for (int32_t e = 0; e < passes; e++)
        for (int32_t t = 0; t < n; t++) {
            int32_t i = items[t], j = -1;
            for (int tries = 0; tries < NEG_TRIES && j < 0; tries++) {
                j = (int32_t)(((ar_rng_next(&rng) >> 32) * (uint64_t)ni) >> 32);
                if (contains(items, n, j))
                    j = -1;
            }
            if (j < 0)
                continue;
            const float *qi = s->Q + (size_t)i * (size_t)k, *qj = s->Q + (size_t)j * (size_t)k;
            float xv = 0;
            for (int32_t f = 0; f < k; f++)
                xv += p[f] * (qi[f] - qj[f]);
            if (has_bias)
                xv += s->b[i] - s->b[j];
            if (adam) { /* the same Adam update as training's (ADAM_ROW), bias terms from pow */
                step++;
                float g = 1.0f / (1.0f + expf(xv)), fb1 = (float)b1, fb2 = (float)b2;
                float at = (float)(lr / (1.0 - pow(b1, (double)step)));
                float rt = (float)(1.0 / sqrt(1.0 - pow(b2, (double)step)));
                for (int32_t f = 0; f < k; f++) {
                    float gr = ru * p[f] - g * (qi[f] - qj[f]);
                    mo[f] = fb1 * mo[f] + (1.0f - fb1) * gr;
                    vo[f] = fb2 * vo[f] + (1.0f - fb2) * gr * gr;
                    p[f] -= at * mo[f] / (sqrtf(vo[f]) * rt + ADAM_EPS);
                }
                continue;
            }
            float lg = lr / (1.0f + expf(xv)), d = 1.0f - lr * ru;
            for (int32_t f = 0; f < k; f++)
                p[f] = d * p[f] + lg * (qi[f] - qj[f]);
        }
}

/* scores[i] = p . q_i + b_i for every item: Q (n_items x k) times p (k). */
static void score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws) {
    (void)values;
    const state *s = m->state;
    int32_t k = s->k;
    const float *p = ws;
    if (user >= 0)
        p = s->P + (size_t)user * (size_t)k;
    else
        fold_in(m, items, n, ws);
    score_rows(s->QT, s->b, p, m->n_items, k, scores);
}

/* Scores (n x n_items, row-major) = P[users] (n x k) Q^T (k x n_items) + b, one sgemm per block
 * of users. */
static ar_status score_batch(const ar_model *m, const ar_csr *hist, const int32_t *users, int32_t n,
                             float *scores) {
    (void)hist;
    const state *s = m->state;
    int32_t k = s->k, ni = m->n_items;
    enum { BLOCK = 256 };
    float *U = ar__alloc_array((size_t)BLOCK * (size_t)k, sizeof *U);
    if (!U)
        return AR_ENOMEM;
#ifdef _OPENMP
    /* Threaded BLAS only outside OpenMP regions (the evaluator's ranker calls this from one, of
     * any team size). */
    openblas_set_num_threads(omp_get_level() > 0 ? 1 : ar__threads(0));
#else
    openblas_set_num_threads(1);
#endif
    for (int32_t r0 = 0; r0 < n; r0 += BLOCK) {
        int32_t nr = n - r0 < BLOCK ? n - r0 : BLOCK;
        for (int32_t r = 0; r < nr; r++)
            memcpy(U + (size_t)r * (size_t)k, s->P + (size_t)users[r0 + r] * (size_t)k,
                   (size_t)k * sizeof *U);
        float *out = scores + (size_t)r0 * (size_t)ni;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, ni, k, 1.0f, U, k, s->Q, k, 0.0f,
                    out, ni);
        for (int32_t r = 0; r < nr; r++)
            for (int32_t i = 0; i < ni; i++)
                out[(size_t)r * (size_t)ni + i] += s->b[i];
    }
    ar__free(U);
    return AR_OK;
}

static void explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws) {
    (void)user, (void)values, (void)ws;
    const state *s = m->state;
    int32_t k = s->k;
    const float *qi = s->Q + (size_t)item * (size_t)k;
    for (int32_t j = 0; j < n; j++)
        weights[j] = dot(s->Q + (size_t)items[j] * (size_t)k, qi, k);
}

/* -- persistence ---------------------------------------------------------------------------- */

enum { TAG_META = AR__MODEL_TAG_STATE, TAG_P, TAG_Q, TAG_B };

static void save(const ar_model *m, ar__secw *w) {
    const state *s = m->state;
    /* meta: k, seed (fold-in's randomness); the writer reads it at write time, so it lives in
     * the state. */
    state *ms = m->state;
    ms->meta[0] = (uint64_t)s->k;
    ms->meta[1] = s->seed;
    ar__secw_add(w, TAG_META, 8, 2, 0, ms->meta);
    ar__secw_add(w, TAG_P, 4, (uint64_t)m->n_users * (uint64_t)s->k, 0, s->P);
    ar__secw_add(w, TAG_Q, 4, (uint64_t)m->n_items * (uint64_t)s->k, 0, s->Q);
    ar__secw_add(w, TAG_B, 4, (uint64_t)m->n_items, 0, s->b);
}

static int all_finite(const float *a, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return 0;
    return 1;
}

static ar_status load(ar_model *m, const ar__secfile *f) {
    state *s = ar__calloc(1, sizeof *s);
    if (!s)
        return AR_ENOMEM;
    m->state = s;
    const void *p;
    ar_status st = ar__model_array(f, TAG_META, 8, 2, &p);
    if (st)
        return st;
    uint64_t meta[2];
    memcpy(meta, p, sizeof meta);
    if (meta[0] != (uint64_t)ar__p(m, P_FACTORS))
        return ar__secfile_corrupt(f, "factor count differs from the parameters");
    s->k = (int32_t)meta[0];
    s->seed = meta[1];
    uint64_t nu = (uint64_t)m->n_users, ni = (uint64_t)m->n_items, k = (uint64_t)s->k;
    if ((st = ar__model_array(f, TAG_P, 4, nu * k, &p)))
        return st;
    s->P = (float *)p;
    if ((st = ar__model_array(f, TAG_Q, 4, ni * k, &p)))
        return st;
    s->Q = (float *)p;
    if ((st = ar__model_array(f, TAG_B, 4, ni, &p)))
        return st;
    s->b = (float *)p;
    if (!all_finite(s->P, nu * k) || !all_finite(s->Q, ni * k) || !all_finite(s->b, ni))
        return ar__secfile_corrupt(f, "non-finite factors");
    if (ar__p(m, P_ITEM_BIAS) == 0)
        for (uint64_t i = 0; i < ni; i++)
            if (s->b[i] != 0)
                return ar__secfile_corrupt(f, "item biases in a model without them");
    return build_qt(s, m->n_items);
}

static void free_state(ar_model *m) {
    state *s = m->state;
    if (!m->map) {
        ar__free(s->P);
        ar__free(s->Q);
        ar__free(s->b);
    }
    ar__free(s->QT);
    ar__free(s->loss);
    ar__free(s);
}

/* Per drawn pair: the positive's and each negative's dot product and update, 3k each; Adam's
 * step reads and writes two moments per parameter as well (3x SGD's epoch in bench_bpr). */
static double fit_work(const ar_model *m, double users, double items, double nnz) {
    (void)users, (void)items;
    double adam = (int)ar__p(m, P_OPTIMIZER) == OPT_ADAM ? 3 : 1;
    return ar__p(m, P_EPOCHS) * nnz * ar__p(m, P_NEGATIVES) * 3 * ar__p(m, P_FACTORS) * adam;
}

const ar__model_impl ar__bpr_impl = {
    .name = "bpr",
    .seeded = 1,
    .citation = "Rendle, Freudenthaler, Gantner & Schmidt-Thieme, BPR: Bayesian Personalized "
                "Ranking from Implicit Feedback, UAI 2009",
    .params = params,
    .n_params = N_PARAMS,
    .fit = fit,
    .ws_floats = ws_floats,
    .score = score,
    .score_batch = score_batch,
    .explain = explain,
    .save = save,
    .load = load,
    .free_state = free_state,
    .fit_work = fit_work,
};
