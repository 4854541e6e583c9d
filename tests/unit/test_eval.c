/* Unit tests for src/eval: top-k selection against a naive reference, the metric math against
 * hand-computed values, MostPop, ranked-list files, the sampled protocol, thread determinism,
 * error propagation, cancellation and allocation failures. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EPS 1e-12

/* cmocka's assert_float_equal is missing from older releases; this says which value differed. */
#define assert_double_equal(a, b, eps)                                                             \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)))                                                             \
            fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);                                    \
    } while (0)

/* -- helpers ----------------------------------------------------------------------------------- */

typedef struct row {
    const char *user, *item;
    ar_split split;
} row;

static ar_dataset *build(const row *rows, size_t n) {
    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    for (size_t r = 0; r < n; r++)
        assert_int_equal(ar_builder_add(b, rows[r].user, rows[r].item, (int64_t)r,
                                        AR_EVENT_INTERACTION, 1.0f, rows[r].split),
                         AR_OK);
    ar_dataset *ds;
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_OK);
    ar_builder_free(b);
    return ds;
}

/* The small dataset of the hand-computed tests. Ids are numeric, so index == id.
 *   user 0: train {0, 1}, test {2, 3}
 *   user 1: train {0},    test {4}
 *   user 2: train {1, 2}, no test (not evaluated)
 * Item 5 has no interaction but must exist: user 2 touches it in the validation split. */
static ar_dataset *small_dataset(void) {
    static const row rows[] = {
        {"0", "0", AR_SPLIT_TRAIN}, {"0", "1", AR_SPLIT_TRAIN}, {"0", "2", AR_SPLIT_TEST},
        {"0", "3", AR_SPLIT_TEST},  {"0", "3", AR_SPLIT_TEST},  {"1", "0", AR_SPLIT_TRAIN},
        {"1", "4", AR_SPLIT_TEST},  {"2", "1", AR_SPLIT_TRAIN}, {"2", "2", AR_SPLIT_TRAIN},
        {"2", "5", AR_SPLIT_VALID},
    };
    ar_dataset *ds = build(rows, sizeof rows / sizeof rows[0]);
    assert_int_equal(ar_dataset_n_users(ds), 3);
    assert_int_equal(ar_dataset_n_items(ds), 6);
    return ds;
}

/* A hand-written ranker: fixed lists per user (minus excluded items) and a fixed score table. */
typedef struct fixed_ranker {
    const int32_t *lists[3];
    int32_t lens[3];
    float scores[3][6];
    int calls;
} fixed_ranker;

static int in_sorted(const int32_t *a, int32_t n, int32_t x) {
    for (int32_t i = 0; i < n; i++)
        if (a[i] == x)
            return 1;
    return 0;
}

static ar_status fixed_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                            int32_t k, int32_t *items, int32_t *n_out) {
    fixed_ranker *f = ctx;
    f->calls++;
    /* The evaluator passes each user's training items, sorted and distinct. */
    if (user == 0) {
        assert_int_equal(n_exclude, 2);
        assert_int_equal(exclude[0], 0);
        assert_int_equal(exclude[1], 1);
    } else if (user == 1) {
        assert_int_equal(n_exclude, 1);
        assert_int_equal(exclude[0], 0);
    } else {
        fail_msg("user 2 has no ground truth and must not be ranked");
    }
    int32_t n = 0;
    for (int32_t j = 0; j < f->lens[user] && n < k; j++)
        if (!in_sorted(exclude, n_exclude, f->lists[user][j]))
            items[n++] = f->lists[user][j];
    *n_out = n;
    return AR_OK;
}

static ar_status fixed_score(void *ctx, int32_t user, const int32_t *items, int32_t n,
                             float *scores) {
    fixed_ranker *f = ctx;
    for (int32_t j = 0; j < n; j++)
        scores[j] = f->scores[user][items[j]];
    return AR_OK;
}

static const int32_t list_u0[] = {4, 2, 5, 3};
static const int32_t list_u1[] = {4, 1, 2};

static fixed_ranker make_fixed(void) {
    fixed_ranker f;
    memset(&f, 0, sizeof f);
    f.lists[0] = list_u0;
    f.lens[0] = 4;
    f.lists[1] = list_u1;
    f.lens[1] = 3;
    return f;
}

/* -- ar_topk ------------------------------------------------------------------------------------
 */

/* Naive reference: sort all non-excluded indices by (score desc, NaN last, index asc). */
static const float *naive_scores;

static float naive_key(int32_t i) {
    return isnan(naive_scores[i]) ? -INFINITY : naive_scores[i];
}

static int naive_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float sx = naive_key(x), sy = naive_key(y);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return (x > y) - (x < y);
}

static int32_t naive_topk(const float *scores, int32_t n, const int32_t *exclude, int32_t n_exclude,
                          int32_t k, int32_t *out) {
    int32_t *idx = malloc(((size_t)n + 1) * sizeof *idx);
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (!in_sorted(exclude, n_exclude, i))
            idx[m++] = i;
    naive_scores = scores;
    qsort(idx, (size_t)m, sizeof *idx, naive_cmp);
    int32_t r = k < m ? k : m;
    if (r < 0)
        r = 0;
    memcpy(out, idx, (size_t)r * sizeof *out);
    free(idx);
    return r;
}

static void test_topk_vs_naive(void **state) {
    (void)state;
    ar_rng rng;
    ar_rng_seed(&rng, 7);
    float scores[300];
    int32_t exclude[300], got[310], want[310];
    for (int trial = 0; trial < 3000; trial++) {
        int32_t n = (int32_t)ar_rng_below(&rng, 300) + 1;
        /* Few distinct values make ties common; some trials include NaN and infinities. */
        int distinct = (int)ar_rng_below(&rng, 6) + 1;
        for (int32_t i = 0; i < n; i++) {
            scores[i] = (float)ar_rng_below(&rng, (uint64_t)distinct);
            if (trial % 7 == 0 && ar_rng_below(&rng, 10) == 0)
                scores[i] = NAN;
            if (trial % 11 == 0 && ar_rng_below(&rng, 10) == 0)
                scores[i] = -INFINITY;
            if (trial % 5 == 0)
                scores[i] = (float)ar_rng_uniform(&rng);
        }
        int32_t n_ex = 0;
        int64_t p = (int64_t)ar_rng_below(&rng, 4);
        for (int32_t i = 0; i < n; i++)
            if ((int64_t)ar_rng_below(&rng, 10) < p)
                exclude[n_ex++] = i;
        int32_t k = (int32_t)ar_rng_below(&rng, (uint64_t)n + 10);
        int32_t a = ar_topk(scores, n, exclude, n_ex, k, got);
        int32_t b = naive_topk(scores, n, exclude, n_ex, k, want);
        assert_int_equal(a, b);
        for (int32_t i = 0; i < a; i++)
            assert_int_equal(got[i], want[i]);
    }
}

static void test_topk_edges(void **state) {
    (void)state;
    float s[5] = {1, 3, 3, 2, 3};
    int32_t out[5];
    /* Ties at 3 go to the lower index. */
    assert_int_equal(ar_topk(s, 5, NULL, 0, 2, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    int32_t ex[] = {1, 4};
    assert_int_equal(ar_topk(s, 5, ex, 2, 10, out), 3);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 0);
    assert_int_equal(ar_topk(s, 5, NULL, 0, 0, out), 0);
    assert_int_equal(ar_topk(s, 0, NULL, 0, 3, out), 0);
}

/* -- metric names --------------------------------------------------------------------------------
 */

static void test_metric_names(void **state) {
    (void)state;
    for (int m = 0; m < AR_METRIC_N; m++)
        assert_int_equal(ar_metric_parse(ar_metric_name((ar_metric)m)), m);
    assert_string_equal(ar_metric_name(AR_METRIC_NDCG), "ndcg");
    assert_int_equal(ar_metric_parse("hit"), AR_METRIC_HR);
    assert_int_equal(ar_metric_parse("nope"), -1);
    assert_null(ar_metric_name(AR_METRIC_N));
}

static void test_options(void **state) {
    (void)state;
    ar_eval_options o = ar_eval_options_default();
    assert_null(ar_eval_options_check(&o));
    o.cutoffs[1] = o.cutoffs[0];
    assert_non_null(ar_eval_options_check(&o));
    o = ar_eval_options_default();
    o.n_cutoffs = 0;
    assert_non_null(ar_eval_options_check(&o));
    o = ar_eval_options_default();
    o.exclude_mask |= AR_MASK_TEST;
    assert_non_null(ar_eval_options_check(&o));
    o = ar_eval_options_default();
    o.protocol = AR_PROTOCOL_SAMPLED;
    o.n_negatives = 0;
    assert_non_null(ar_eval_options_check(&o));
    o.cutoffs[0] = 0;
    ar_eval_result r;
    ar_error err;
    ar_dataset *ds = small_dataset();
    fixed_ranker f = make_fixed();
    ar_ranker rk = {&f, fixed_topk, fixed_score, NULL};
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_EINVAL);
    assert_int_equal(r.users, 0);
    ar_dataset_free(ds);
}

/* -- full protocol, hand-computed ----------------------------------------------------------------
 */

/* Cutoffs {1, 3}; the ranker returns u0 [4, 2, 5] (rel 0 1 0, |T| = 2) and u1 [4, 1, 2]
 * (rel 1 0 0, |T| = 1).
 *   u0 @1: everything 0.
 *   u0 @3: recall 1/2, precision 1/3, hr 1, ndcg (1/log2 3) / (1 + 1/log2 3), mrr 1/2,
 *          map = P@2 / min(2, 3) = (1/2) / 2 = 1/4.
 *   u1 @1 and @3: recall 1, hr 1, ndcg 1, mrr 1, map 1; precision 1 and 1/3.
 * Coverage: @1 {4} -> 1/6; @3 {1, 2, 4, 5} -> 4/6.
 * Gini: @1 counts sorted [0 0 0 0 0 2]: (2*6-6-1)*2 / (6*2) = 10/12.
 *       @3 counts sorted [0 0 1 1 2 2]: (-1*1 + 1*1 + 3*2 + 5*2) / (6*6) = 16/36.
 * Novelty: training users per item: 0 -> 2, 1 -> 2, 2 -> 1, others 0; p = (c + 1) / (3 + 1).
 *       @1: pairs (u0, 4), (u1, 4): -log2(1/4) = 2 each -> 2.
 *       @3: u0: 4 -> 2, 2 -> 1, 5 -> 2; u1: 4 -> 2, 1 -> log2(4/3), 2 -> 1; mean of six. */
static void check_small_full(const ar_eval_result *r) {
    double g = 1.0 / log2(3.0);
    assert_int_equal(r->users, 2);
    assert_int_equal(r->n_cutoffs, 2);
    assert_int_equal(r->cutoffs[1], 3);
    for (int m = 0; m < AR_METRIC_MAP + 1; m++)
        assert_double_equal(r->value[m][0], 0.5, EPS);
    assert_double_equal(r->value[AR_METRIC_RECALL][1], 0.75, EPS);
    assert_double_equal(r->value[AR_METRIC_PRECISION][1], 1.0 / 3.0, EPS);
    assert_double_equal(r->value[AR_METRIC_HR][1], 1.0, EPS);
    assert_double_equal(r->value[AR_METRIC_NDCG][1], (g / (1.0 + g) + 1.0) / 2.0, EPS);
    assert_double_equal(r->value[AR_METRIC_MRR][1], 0.75, EPS);
    assert_double_equal(r->value[AR_METRIC_MAP][1], 0.625, EPS);
    assert_double_equal(r->value[AR_METRIC_COVERAGE][0], 1.0 / 6.0, EPS);
    assert_double_equal(r->value[AR_METRIC_COVERAGE][1], 4.0 / 6.0, EPS);
    assert_double_equal(r->value[AR_METRIC_GINI][0], 10.0 / 12.0, EPS);
    assert_double_equal(r->value[AR_METRIC_GINI][1], 16.0 / 36.0, EPS);
    assert_double_equal(r->value[AR_METRIC_NOVELTY][0], 2.0, EPS);
    assert_double_equal(r->value[AR_METRIC_NOVELTY][1], (8.0 + log2(4.0 / 3.0)) / 6.0, EPS);
}

static ar_eval_options small_options(void) {
    ar_eval_options o = ar_eval_options_default();
    o.cutoffs[0] = 1;
    o.cutoffs[1] = 3;
    o.n_cutoffs = 2;
    o.n_threads = 1;
    return o;
}

static void test_full_hand(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    fixed_ranker f = make_fixed();
    ar_ranker rk = {&f, fixed_topk, fixed_score, NULL};
    ar_eval_options o = small_options();
    ar_eval_result r;
    ar_error err;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_OK);
    assert_int_equal(f.calls, 2);
    check_small_full(&r);
    ar_dataset_free(ds);
}

/* Metrics at a cutoff beyond the list length: the list of u1 stops at 3 items, and precision
 * still divides by k (RecBole, LightGCN). */
static void test_short_lists(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    fixed_ranker f = make_fixed();
    ar_ranker rk = {&f, fixed_topk, fixed_score, NULL};
    ar_eval_options o = small_options();
    o.cutoffs[0] = 10;
    o.n_cutoffs = 1;
    ar_eval_result r;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, NULL), AR_OK);
    /* u0 list [4 2 5 3]: hits at 2 and 4; u1 [4 1 2]: hit at 1. (K is clamped to 6 items.) */
    assert_double_equal(r.value[AR_METRIC_PRECISION][0], (2.0 / 10 + 1.0 / 10) / 2, EPS);
    assert_double_equal(r.value[AR_METRIC_RECALL][0], 1.0, EPS);
    /* MAP u0: (P@2 + P@4) / min(2, 10) = (1/2 + 2/4) / 2 = 1/2; u1: 1. */
    assert_double_equal(r.value[AR_METRIC_MAP][0], 0.75, EPS);
    ar_dataset_free(ds);
}

/* -- sampled protocol with given negatives ----------------------------------------------------- */

/* n_negatives = 3; rows: u0 [5, -1, 4], u1 [3, 4, -1] (4 is u1's truth: dropped), u2 unused.
 * Candidates: u0 [2 3 4 5], u1 [3 4]. Scores: u0 2:.5 3:.9 4:.9 5:.1 -> ranking 3 4 2 5
 * (tie at .9 to the lower item) = rel 1 0 1 0, |T| = 2; u1 3:1 4:1 -> 3 4 = rel 0 1, |T| = 1.
 *   u0 @1: recall 1/2, precision 1, hr 1, ndcg 1 (IDCG over min(2, 1) = 1), mrr 1, map 1.
 *   u0 @3: [3 4 2]: recall 1, precision 2/3, hr 1, ndcg (1 + 1/2) / (1 + 1/log2 3), mrr 1,
 *          map (1 + 2/3) / 2 = 5/6.
 *   u1 @1: all 0.  u1 @3: recall 1, precision 1/3, hr 1, ndcg 1/log2 3, mrr 1/2, map 1/2. */
static void test_sampled_given(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    fixed_ranker f = make_fixed();
    f.scores[0][2] = 0.5f;
    f.scores[0][3] = 0.9f;
    f.scores[0][4] = 0.9f;
    f.scores[0][5] = 0.1f;
    f.scores[1][3] = 1.0f;
    f.scores[1][4] = 1.0f;
    static const int32_t neg[] = {5, -1, 4, 3, 4, -1, -1, -1, -1};
    ar_ranker rk = {&f, NULL, fixed_score, NULL};
    ar_eval_options o = small_options();
    o.protocol = AR_PROTOCOL_SAMPLED;
    o.n_negatives = 3;
    o.negatives = neg;
    ar_eval_result r;
    ar_error err;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_OK);
    double g = 1.0 / log2(3.0);
    assert_int_equal(r.users, 2);
    assert_double_equal(r.value[AR_METRIC_RECALL][0], 0.25, EPS);
    assert_double_equal(r.value[AR_METRIC_PRECISION][0], 0.5, EPS);
    assert_double_equal(r.value[AR_METRIC_HR][0], 0.5, EPS);
    assert_double_equal(r.value[AR_METRIC_NDCG][0], 0.5, EPS);
    assert_double_equal(r.value[AR_METRIC_MRR][0], 0.5, EPS);
    assert_double_equal(r.value[AR_METRIC_MAP][0], 0.5, EPS);
    assert_double_equal(r.value[AR_METRIC_RECALL][1], 1.0, EPS);
    assert_double_equal(r.value[AR_METRIC_PRECISION][1], 0.5, EPS);
    assert_double_equal(r.value[AR_METRIC_HR][1], 1.0, EPS);
    assert_double_equal(r.value[AR_METRIC_NDCG][1], (1.5 / (1.0 + g) + g) / 2.0, EPS);
    assert_double_equal(r.value[AR_METRIC_MRR][1], 0.75, EPS);
    assert_double_equal(r.value[AR_METRIC_MAP][1], 2.0 / 3.0, EPS);

    /* A given negative outside the item range is an error. */
    static const int32_t bad[] = {5, -1, 9, 3, 4, -1, -1, -1, -1};
    o.negatives = bad;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_ERANGE);
    assert_non_null(strstr(err.msg, "negatives of user '0'"));
    ar_dataset_free(ds);
}

/* Sampled negatives: the candidates are the truth plus min(n, untouched) items the user never
 * touched in any split. */
typedef struct check_ctx {
    const ar_dataset *ds;
    int32_t n_neg;
} check_ctx;

static ar_status check_score(void *ctx, int32_t user, const int32_t *items, int32_t n,
                             float *scores) {
    const check_ctx *c = ctx;
    const int64_t *off = ar_dataset_user_offsets(c->ds);
    ar_interactions log;
    ar_dataset_interactions(c->ds, &log);
    int32_t truth = 0, neg = 0, n_items = ar_dataset_n_items(c->ds);
    uint8_t *touched = calloc((size_t)n_items, 1), *is_truth = calloc((size_t)n_items, 1);
    for (int64_t r = off[user]; r < off[user + 1]; r++) {
        touched[log.item[r]] = 1;
        if (log.split[r] == AR_SPLIT_TEST)
            is_truth[log.item[r]] = 1;
    }
    int32_t n_truth = 0, n_touched = 0;
    for (int32_t i = 0; i < n_items; i++) {
        n_truth += is_truth[i];
        n_touched += touched[i];
    }
    for (int32_t j = 0; j < n; j++) {
        if (j > 0 && items[j] <= items[j - 1])
            return AR_EINVAL; /* candidates must be sorted and distinct */
        if (is_truth[items[j]])
            truth++;
        else if (!touched[items[j]])
            neg++;
        else
            return AR_EINVAL;
        scores[j] = (float)((items[j] * 2654435761u + (uint32_t)user) % 1000u);
    }
    int32_t avail = n_items - n_touched;
    int32_t want = c->n_neg < avail ? c->n_neg : avail;
    free(touched);
    free(is_truth);
    return truth == n_truth && neg == want ? AR_OK : AR_EINVAL;
}

/* A dataset of random interactions with random splits. */
static ar_dataset *random_dataset(uint64_t seed, int32_t users, int32_t items, int per_user) {
    ar_builder *b;
    assert_int_equal(ar_builder_create(&b), AR_OK);
    ar_rng rng;
    ar_rng_seed(&rng, seed);
    char us[16], is[16];
    int64_t t = 0;
    for (int32_t u = 0; u < users; u++) {
        int n = 1 + (int)ar_rng_below(&rng, (uint64_t)per_user);
        for (int k = 0; k < n; k++) {
            /* Skewed item choice so popularity varies. */
            double x = ar_rng_uniform(&rng);
            int32_t i = (int32_t)(x * x * items);
            uint64_t s = ar_rng_below(&rng, 10);
            ar_split sp = s < 7 ? AR_SPLIT_TRAIN : s < 8 ? AR_SPLIT_VALID : AR_SPLIT_TEST;
            snprintf(us, sizeof us, "%d", u);
            snprintf(is, sizeof is, "%d", i);
            assert_int_equal(ar_builder_add(b, us, is, t++, 0, 1.0f, sp), AR_OK);
        }
    }
    ar_dataset *ds;
    assert_int_equal(ar_builder_build(b, &ds, NULL, NULL), AR_OK);
    ar_builder_free(b);
    return ds;
}

static void test_sampled_drawn(void **state) {
    (void)state;
    ar_dataset *ds = random_dataset(3, 300, 80, 60);
    check_ctx c = {ds, 25};
    ar_ranker rk = {&c, NULL, check_score, NULL};
    ar_eval_options o = ar_eval_options_default();
    o.protocol = AR_PROTOCOL_SAMPLED;
    o.n_negatives = 25;
    o.seed = 11;
    ar_eval_result r1, r2;
    ar_error err;
    /* Users with dense histories exercise the Fisher-Yates path, sparse ones rejection. */
    for (int threads = 1; threads <= 3; threads++) {
        o.n_threads = threads;
        assert_int_equal(ar_evaluate(ds, &rk, &o, threads == 1 ? &r1 : &r2, &err), AR_OK);
        if (threads > 1)
            assert_memory_equal(&r1, &r2, sizeof r1);
    }
    assert_true(r1.users > 100);
    /* More negatives than untouched items: all untouched items are taken. */
    c.n_neg = o.n_negatives = 1000;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r2, &err), AR_OK);
    assert_double_equal(r2.value[AR_METRIC_RECALL][1] <= 1.0, 1.0, 0);
    /* A different seed draws different negatives. */
    c.n_neg = o.n_negatives = 25;
    o.seed = 12;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r2, &err), AR_OK);
    assert_true(memcmp(&r1, &r2, sizeof r1) != 0);
    ar_dataset_free(ds);
}

/* -- thread determinism --------------------------------------------------------------------------
 */

typedef struct hash_ranker {
    int32_t n_items;
} hash_ranker;

static float hash_score(int32_t u, int32_t i) {
    uint64_t x = ((uint64_t)(uint32_t)u << 32) | (uint32_t)i;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    /* Few distinct values: plenty of ties. */
    return (float)(x % 50u) / 7.0f;
}

static ar_status hash_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                           int32_t k, int32_t *items, int32_t *n_out) {
    const hash_ranker *h = ctx;
    float *s = malloc((size_t)h->n_items * sizeof *s);
    if (!s)
        return AR_ENOMEM;
    for (int32_t i = 0; i < h->n_items; i++)
        s[i] = hash_score(user, i);
    *n_out = ar_topk(s, h->n_items, exclude, n_exclude, k, items);
    free(s);
    return AR_OK;
}

static ar_status hash_scores(void *ctx, int32_t user, const int32_t *items, int32_t n,
                             float *scores) {
    (void)ctx;
    for (int32_t j = 0; j < n; j++)
        scores[j] = hash_score(user, items[j]);
    return AR_OK;
}

static void test_threads_deterministic(void **state) {
    (void)state;
    ar_dataset *ds = random_dataset(5, 2000, 500, 40);
    hash_ranker h = {ar_dataset_n_items(ds)};
    ar_ranker rk = {&h, hash_topk, hash_scores, NULL};
    for (int proto = 0; proto < 2; proto++) {
        ar_eval_options o = ar_eval_options_default();
        o.protocol = (ar_protocol)proto;
        o.cutoffs[0] = 5;
        o.cutoffs[1] = 10;
        o.cutoffs[2] = 50;
        o.n_cutoffs = 3;
        o.n_negatives = 99;
        ar_eval_result r1, r2;
        o.n_threads = 1;
        assert_int_equal(ar_evaluate(ds, &rk, &o, &r1, NULL), AR_OK);
        o.n_threads = 2;
        assert_int_equal(ar_evaluate(ds, &rk, &o, &r2, NULL), AR_OK);
        assert_memory_equal(&r1, &r2, sizeof r1);
        o.n_threads = 7;
        assert_int_equal(ar_evaluate(ds, &rk, &o, &r2, NULL), AR_OK);
        assert_memory_equal(&r1, &r2, sizeof r1);
        assert_true(r1.users > 500);
        assert_true(r1.value[AR_METRIC_RECALL][2] > r1.value[AR_METRIC_RECALL][0]);
    }
    ar_dataset_free(ds);
}

/* -- MostPop
 * ----------------------------------------------------------------------------------------- */

static void test_mostpop(void **state) {
    (void)state;
    /* Training users per item: 0 -> 3 (user a twice counts once), 1 -> 1, 2 -> 2, 3 -> 2,
     * 4 -> 0 (only in test: not counted), 5 -> 1. Order: 0, 2, 3, 1, 5, 4. */
    static const row rows[] = {
        {"a", "0", AR_SPLIT_TRAIN}, {"a", "0", AR_SPLIT_TRAIN}, {"b", "0", AR_SPLIT_TRAIN},
        {"c", "0", AR_SPLIT_TRAIN}, {"a", "1", AR_SPLIT_TRAIN}, {"a", "2", AR_SPLIT_TRAIN},
        {"b", "2", AR_SPLIT_TRAIN}, {"b", "3", AR_SPLIT_TRAIN}, {"c", "3", AR_SPLIT_TRAIN},
        {"c", "4", AR_SPLIT_TEST},  {"b", "4", AR_SPLIT_TEST},  {"c", "5", AR_SPLIT_TRAIN},
        {"a", "4", AR_SPLIT_TEST},
    };
    ar_dataset *ds = build(rows, sizeof rows / sizeof rows[0]);
    ar_mostpop *m;
    assert_int_equal(ar_mostpop_fit(ds, AR_MASK_TRAIN, &m), AR_OK);
    ar_ranker rk = ar_mostpop_ranker(m);
    int32_t items[8], n;
    assert_int_equal(rk.topk(rk.ctx, 0, NULL, 0, 8, items, &n), AR_OK);
    static const int32_t order[] = {0, 2, 3, 1, 5, 4};
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(items[i], order[i]);
    int32_t ex[] = {0, 3, 5};
    assert_int_equal(rk.topk(rk.ctx, 0, ex, 3, 2, items, &n), AR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], 2);
    assert_int_equal(items[1], 1);
    int32_t q[] = {4, 0, 3};
    float s[3];
    assert_int_equal(rk.score(rk.ctx, 1, q, 3, s), AR_OK);
    assert_true(s[0] == 0.0f && s[1] == 3.0f && s[2] == 2.0f);
    q[0] = 6;
    assert_int_equal(rk.score(rk.ctx, 1, q, 1, s), AR_ERANGE);

    /* Full evaluation: every user's truth is item 4, which is last -> @1 and @2 all miss, except
     * that user a has train {0 1 2} excluded -> list [3, 5, 4]: hit at 3. */
    ar_eval_options o = ar_eval_options_default();
    o.cutoffs[0] = 2;
    o.cutoffs[1] = 3;
    ar_eval_result r;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, NULL), AR_OK);
    assert_int_equal(r.users, 3);
    assert_double_equal(r.value[AR_METRIC_RECALL][0], 0.0, EPS);
    /* @3: a [3 5 4] hit; b train {0 2 3} -> [1 5 4] hit; c train {0 3 5} -> [2 1 4] hit. */
    assert_double_equal(r.value[AR_METRIC_RECALL][1], 1.0, EPS);
    assert_double_equal(r.value[AR_METRIC_MRR][1], 1.0 / 3.0, EPS);
    ar_mostpop_free(m);
    ar_mostpop_free(NULL);
    ar_dataset_free(ds);
}

/* -- ranked lists
 * ------------------------------------------------------------------------------------ */

static char tmpdir[64];

static const char *write_file(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup_tmp(void **state) {
    (void)state;
    return ar_test_mkdtemp(tmpdir, sizeof tmpdir, "eval");
}

static int teardown_tmp(void **state) {
    (void)state;
    return ar_test_rmtree(tmpdir);
}

static void test_ranked_lists(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    /* The same lists as the fixed ranker, so the metrics must match check_small_full. */
    const char *path = write_file("ok.tsv", "\n0\t4 2 5  3\r\n1\t4 1\t2\n\n");
    ar_ranked_lists *rl;
    ar_error err;
    assert_int_equal(ar_ranked_lists_read(ds, path, &rl, &err), AR_OK);
    ar_ranker rk = ar_ranked_lists_ranker(rl);
    int32_t items[6], n;
    int32_t ex[] = {2, 4};
    assert_int_equal(rk.topk(rk.ctx, 0, ex, 2, 6, items, &n), AR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], 5);
    assert_int_equal(items[1], 3);
    assert_int_equal(rk.topk(rk.ctx, 0, NULL, 0, 1, items, &n), AR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rk.topk(rk.ctx, 2, NULL, 0, 5, items, &n), AR_OK);
    assert_int_equal(n, 0);
    int32_t q[] = {3, 4, 0};
    float s[3];
    assert_int_equal(rk.score(rk.ctx, 0, q, 3, s), AR_OK);
    assert_true(s[0] == -4.0f && s[1] == -1.0f && s[2] == -INFINITY);

    ar_eval_options o = small_options();
    o.n_threads = 2;
    ar_eval_result r;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_OK);
    check_small_full(&r);
    ar_ranked_lists_free(rl);
    ar_ranked_lists_free(NULL);
    ar_dataset_free(ds);
}

static void expect_read_error(ar_dataset *ds, const char *text, ar_status want,
                              const char *msg_part) {
    const char *path = write_file("bad.tsv", text);
    ar_ranked_lists *rl = (ar_ranked_lists *)1;
    ar_error err = {{0}};
    assert_int_equal(ar_ranked_lists_read(ds, path, &rl, &err), want);
    assert_null(rl);
    if (!strstr(err.msg, msg_part))
        fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void test_ranked_errors(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    expect_read_error(ds, "0\t1 2\n9\t1\n", AR_EPARSE,
                      "bad.tsv:2: expected a user id of the dataset, got '9'");
    expect_read_error(ds, "0\t1 7\n", AR_EPARSE,
                      "bad.tsv:1: expected an item id of the dataset, got '7'");
    expect_read_error(ds, "0\t1\n1\t2\n\n0\t3\n", AR_EPARSE,
                      "bad.tsv:4: expected each user once, got '0' again (first on line 1)");
    expect_read_error(ds, "0 1 2\n", AR_EPARSE,
                      "bad.tsv:1: expected 'user<TAB>item item ...', got '0 1 2'");
    expect_read_error(ds, "0\t1 2 1\n", AR_EPARSE, "bad.tsv:1: expected each item once");
    expect_read_error(ds, "", AR_EEMPTY, "got an empty file");
    expect_read_error(ds, "\n  \n", AR_EEMPTY, "got only blank lines");
    ar_ranked_lists *rl;
    ar_error err;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.tsv", tmpdir);
    assert_int_equal(ar_ranked_lists_read(ds, missing, &rl, &err), AR_EIO);
    /* An empty list after the tab is allowed. */
    const char *path = write_file("empty_list.tsv", "0\t\n");
    assert_int_equal(ar_ranked_lists_read(ds, path, &rl, &err), AR_OK);
    ar_ranked_lists_free(rl);
    ar_dataset_free(ds);
}

/* -- errors, cancellation, allocation failures ------------------------------------------------ */

static ar_status failing_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                              int32_t k, int32_t *items, int32_t *n_out) {
    (void)ctx;
    (void)exclude;
    (void)n_exclude;
    (void)k;
    (void)items;
    *n_out = 0;
    return user == 1 ? AR_EIO : AR_OK;
}

static ar_status excluded_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                               int32_t k, int32_t *items, int32_t *n_out) {
    (void)ctx;
    (void)user;
    (void)k;
    assert_true(n_exclude > 0);
    items[0] = exclude[0];
    *n_out = 1;
    return AR_OK;
}

static ar_status dup_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                          int32_t k, int32_t *items, int32_t *n_out) {
    (void)ctx;
    (void)user;
    (void)exclude;
    (void)n_exclude;
    (void)k;
    items[0] = items[1] = 4;
    *n_out = 2;
    return AR_OK;
}

static int cancel_progress(void *ud, int64_t done, int64_t total) {
    int *calls = ud;
    assert_true(done <= total);
    return ++*calls >= 2;
}

static void test_errors(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    ar_eval_options o = small_options();
    ar_eval_result r;
    ar_error err;
    ar_ranker rk = {NULL, failing_topk, NULL, NULL};
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_EIO);
    assert_non_null(strstr(err.msg, "user '1'"));
    rk.topk = excluded_topk;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_ERANGE);
    assert_non_null(strstr(err.msg, "exclude list"));
    rk.topk = dup_topk;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_ERANGE);
    assert_non_null(strstr(err.msg, "twice"));
    /* Sampled protocol without a score function. */
    o.protocol = AR_PROTOCOL_SAMPLED;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_EINVAL);
    /* No ground truth at all. */
    o = small_options();
    o.target_mask = AR_MASK_VALID;
    o.exclude_mask = 0;
    fixed_ranker f = make_fixed();
    rk = (ar_ranker){&f, hash_topk, NULL, NULL};
    hash_ranker h = {6};
    rk.ctx = &h;
    /* user 2 has a validation item (5); hash_topk ignores the dataset. */
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_OK);
    assert_int_equal(r.users, 1);
    ar_dataset_free(ds);

    /* Cancellation: a dataset large enough for several progress calls. */
    ds = random_dataset(9, 3000, 100, 10);
    h.n_items = ar_dataset_n_items(ds);
    o = ar_eval_options_default();
    int calls = 0;
    o.progress = cancel_progress;
    o.progress_data = &calls;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &r, &err), AR_ECANCELED);
    assert_int_equal(r.users, 0);
    ar_dataset_free(ds);
}

static int fail_after = -1;

static void *counting_malloc(size_t n) {
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return malloc(n);
}

static void *counting_realloc(void *p, size_t n) {
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return realloc(p, n);
}

static void test_alloc_failures(void **state) {
    (void)state;
    ar_dataset *ds = small_dataset();
    const char *path = write_file("ok.tsv", "0\t4 2 5 3\n1\t4 1 2\n");
    ar_allocator a = {counting_malloc, counting_realloc, free};
    for (int proto = 0; proto < 2; proto++) {
        int ok = 0;
        for (int n = 0; n < 200 && !ok; n++) {
            ar_set_allocator(&a);
            fail_after = n;
            ar_mostpop *m = NULL;
            ar_status st = ar_mostpop_fit(ds, AR_MASK_TRAIN, &m);
            if (st == AR_OK) {
                ar_ranker rk = ar_mostpop_ranker(m);
                ar_eval_options o = small_options();
                o.protocol = (ar_protocol)proto;
                o.n_negatives = 2;
                ar_eval_result r;
                st = ar_evaluate(ds, &rk, &o, &r, NULL);
                ok = st == AR_OK;
            }
            fail_after = -1;
            ar_set_allocator(NULL);
            if (!ok)
                assert_int_equal(st, AR_ENOMEM);
            ar_mostpop_free(m);
        }
        assert_true(ok);
    }
    int ok = 0;
    for (int n = 0; n < 200 && !ok; n++) {
        ar_dataset *fresh = small_dataset();
        ar_set_allocator(&a);
        fail_after = n;
        ar_ranked_lists *rl;
        ar_status st = ar_ranked_lists_read(fresh, path, &rl, NULL);
        fail_after = -1;
        ar_set_allocator(NULL);
        ok = st == AR_OK;
        /* The id index of a dataset fails as "unknown id", which is the documented -1. */
        if (!ok)
            assert_true(st == AR_ENOMEM || st == AR_EPARSE);
        ar_ranked_lists_free(rl);
        ar_dataset_free(fresh);
    }
    assert_true(ok);
    ar_dataset_free(ds);
}

/* A user fraction evaluates a fixed, seeded subset: about the asked share of the users, the
 * same subset every time, and a different one for another seed. */
static void test_user_fraction(void **state) {
    (void)state;
    ar_dataset *ds;
    assert_int_equal(ar_dataset_synthetic(2000, 100, 6, 4, 9, &ds), AR_OK);
    ar_split_options so = ar_split_options_default();
    ar_error err;
    assert_int_equal(ar_dataset_split(ds, &so, &err), AR_OK);
    ar_mostpop *mp;
    assert_int_equal(ar_mostpop_fit(ds, AR_MASK_TRAIN, &mp), AR_OK);
    ar_ranker rk = ar_mostpop_ranker(mp);
    ar_eval_options o = ar_eval_options_default();
    ar_eval_result all, a, b, c;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &all, &err), AR_OK);
    o.user_fraction = 0.25;
    o.seed = 5;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &a, &err), AR_OK);
    assert_int_equal(ar_evaluate(ds, &rk, &o, &b, &err), AR_OK);
    o.seed = 6;
    assert_int_equal(ar_evaluate(ds, &rk, &o, &c, &err), AR_OK);
    assert_true(a.users > 0.2 * all.users && a.users < 0.3 * all.users);
    assert_int_equal(a.users, b.users);
    assert_true(a.value[AR_METRIC_RECALL][0] == b.value[AR_METRIC_RECALL][0]);
    assert_true(a.value[AR_METRIC_RECALL][0] != c.value[AR_METRIC_RECALL][0]);
    o.user_fraction = 0;
    assert_non_null(ar_eval_options_check(&o));
    ar_mostpop_free(mp);
    ar_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_vs_naive),
        cmocka_unit_test(test_topk_edges),
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_full_hand),
        cmocka_unit_test(test_short_lists),
        cmocka_unit_test(test_sampled_given),
        cmocka_unit_test(test_sampled_drawn),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_mostpop),
        cmocka_unit_test(test_ranked_lists),
        cmocka_unit_test(test_ranked_errors),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_user_fraction),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
