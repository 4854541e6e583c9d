/*
 * eval.c -- offline evaluation: the full-ranking and sampled protocols over a ranker.
 *
 * For each user with ground truth (distinct items of the interactions whose split is in
 * target_mask) the evaluator gets a ranked list of up to K = the largest cutoff items:
 *   - full:    ranker->topk over all items, minus the user's items in exclude_mask splits;
 *   - sampled: the truth items plus negatives (a given row, or n_negatives drawn uniformly
 *              without replacement from the items the user never touched in any split, using
 *              ar_rng_stream(seed, user)), scored with ranker->score and ordered by score
 *              descending, ties by lower item index (ar_topk over the sorted candidates).
 * metrics.c turns the list into per-user values; coverage, novelty and gini come from how often
 * each item is recommended. docs/metrics.md has the formulas.
 *
 * Determinism. Users are cut into fixed blocks of BLOCK users (independent of the thread
 * count). Each block's per-user values are summed in user order into the block's own slot, and
 * the blocks are summed in block order at the end, so every floating-point sum happens in the
 * same order whatever the number of threads. Recommendation counts are integers (atomic
 * increments commute), and everything derived from them is computed serially.
 *
 * Memory. All scratch is allocated before the parallel region, one set per thread, sized by the
 * largest user history: nothing is allocated per user, and an allocator hook that fails the
 * Nth allocation sees the same sequence of calls in every run.
 */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK 64

ar_eval_options ar_eval_options_default(void) {
    ar_eval_options o;
    memset(&o, 0, sizeof o);
    o.protocol = AR_PROTOCOL_FULL;
    o.cutoffs[0] = 10;
    o.cutoffs[1] = 20;
    o.n_cutoffs = 2;
    o.target_mask = AR_MASK_TEST;
    o.exclude_mask = AR_MASK_TRAIN;
    o.n_negatives = 100;
    o.negatives = NULL;
    o.seed = 0;
    o.user_fraction = 1.0;
    o.n_threads = 0;
    return o;
}

const char *ar_eval_options_check(const ar_eval_options *opt) {
    if (!opt)
        return "no options";
    if (opt->protocol != AR_PROTOCOL_FULL && opt->protocol != AR_PROTOCOL_SAMPLED)
        return "protocol must be full or sampled";
    if (opt->n_cutoffs < 1 || opt->n_cutoffs > AR_EVAL_MAX_CUTOFFS)
        return "n_cutoffs must be between 1 and AR_EVAL_MAX_CUTOFFS (8)";
    for (int c = 0; c < opt->n_cutoffs; c++) {
        if (opt->cutoffs[c] < 1)
            return "cutoffs must be positive";
        if (c > 0 && opt->cutoffs[c] <= opt->cutoffs[c - 1])
            return "cutoffs must be strictly ascending";
    }
    if (!opt->target_mask || (opt->target_mask & ~AR_MASK_ALL))
        return "target_mask must be a non-empty set of AR_MASK_TRAIN/VALID/TEST";
    if (opt->exclude_mask & ~AR_MASK_ALL)
        return "exclude_mask must be a set of AR_MASK_TRAIN/VALID/TEST";
    if (opt->target_mask & opt->exclude_mask)
        return "target_mask and exclude_mask overlap: the ground truth would be excluded";
    if (opt->protocol == AR_PROTOCOL_SAMPLED && opt->n_negatives < 1)
        return "the sampled protocol needs n_negatives >= 1 (the row width when negatives are "
               "given)";
    if (opt->n_negatives < 0)
        return "n_negatives must not be negative";
    if (!(opt->user_fraction > 0 && opt->user_fraction <= 1))
        return "user_fraction must be in (0, 1]";
    return NULL;
}

/* Per-thread scratch; every array is sized for the worst user. */
typedef struct scratch {
    int32_t *truth; /* max_rows: sorted distinct ground-truth items */
    int32_t *excl;  /* max_rows: sorted distinct excluded items */
    int32_t *list;  /* K: the ranked list */
    uint8_t *rel;   /* K */
    int32_t *cand;  /* sampled: max_rows + n_negatives candidates */
    float *scores;  /* sampled: as cand */
    int32_t *pool;  /* sampled: n_items, for dense sampling */
    int32_t *stamp; /* n_items: stamp[i] == user marks item i for the current user */
} scratch;

typedef enum failure {
    FAIL_NONE = 0,
    FAIL_TOPK,     /* ranker->topk returned an error */
    FAIL_SCORE,    /* ranker->score returned an error */
    FAIL_COUNT,    /* topk wrote a count outside 0..k */
    FAIL_ITEM,     /* topk wrote an item outside 0..n_items-1 */
    FAIL_DUP,      /* topk wrote an item twice */
    FAIL_EXCLUDED, /* topk wrote an excluded item */
    FAIL_NEGATIVE, /* a given negative is outside 0..n_items-1 */
} failure;

typedef struct job {
    const ar_ranker *rk;
    const ar_eval_options *opt;
    ar_interactions log;
    const int64_t *off;
    int32_t n_users, n_items, K;
    int32_t *counts; /* n_cutoffs x n_items: users whose list has item i in bucket c (see
                        count_list) */
} job;

typedef struct user_fail {
    failure what;
    ar_status st;
    int32_t item;
} user_fail;

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts a[0..n) and drops repeats; returns the new length. */
static int32_t sort_unique(int32_t *a, int32_t n) {
    if (n < 2)
        return n;
    qsort(a, (size_t)n, sizeof *a, cmp_i32);
    int32_t m = 1;
    for (int32_t i = 1; i < n; i++)
        if (a[i] != a[m - 1])
            a[m++] = a[i];
    return m;
}

/* Items of user u's rows whose split is in mask, sorted and distinct. */
static int32_t gather(const job *j, int32_t u, unsigned mask, int32_t *dst) {
    int32_t n = 0;
    for (int64_t r = j->off[u]; r < j->off[u + 1]; r++)
        if ((mask >> j->log.split[r]) & 1u)
            dst[n++] = j->log.item[r];
    return sort_unique(dst, n);
}

/* Records the list in the recommendation counts. Position i falls in bucket c, the first
 * cutoff with i < cutoffs[c]; the count of item x in top-k lists for cutoff c is then the sum of
 * buckets 0..c (a prefix sum done once at the end), which keeps this at one increment per
 * recommended item. */
static void count_list(const job *j, const int32_t *list, int32_t n) {
    int c = 0;
    for (int32_t i = 0; i < n; i++) {
        while (i >= j->opt->cutoffs[c])
            c++;
        int32_t *p = &j->counts[(size_t)c * (size_t)j->n_items + (size_t)list[i]];
#pragma omp atomic
        (*p)++;
    }
}

/* Draws user u's negatives into s->cand[n..) and returns the new candidate count. The user's
 * items (any split) are marked in s->stamp first, so they are never drawn. */
static int32_t sample_negatives(const job *j, scratch *s, int32_t u, int32_t n) {
    int32_t n_items = j->n_items, touched = 0;
    for (int64_t r = j->off[u]; r < j->off[u + 1]; r++) {
        int32_t i = j->log.item[r];
        if (s->stamp[i] != u) {
            s->stamp[i] = u;
            touched++;
        }
    }
    int32_t avail = n_items - touched;
    int32_t want = j->opt->n_negatives < avail ? j->opt->n_negatives : avail;
    ar_rng rng;
    ar_rng_stream(&rng, j->opt->seed, (uint64_t)u);
    if (want == avail) {
        for (int32_t i = 0; i < n_items; i++)
            if (s->stamp[i] != u)
                s->cand[n++] = i;
    } else if ((int64_t)touched * 2 <= n_items && (int64_t)want * 2 <= avail) {
        /* Sparse case (the usual one): rejection sampling, expected < 4 draws per negative. */
        for (int32_t got = 0; got < want;) {
            int32_t i = (int32_t)ar_rng_below(&rng, (uint64_t)n_items);
            if (s->stamp[i] == u)
                continue;
            s->stamp[i] = u;
            s->cand[n++] = i;
            got++;
        }
    } else {
        /* Dense case: list the untouched items and draw a partial Fisher-Yates shuffle. */
        int32_t m = 0;
        for (int32_t i = 0; i < n_items; i++)
            if (s->stamp[i] != u)
                s->pool[m++] = i;
        for (int32_t g = 0; g < want; g++) {
            int32_t r = g + (int32_t)ar_rng_below(&rng, (uint64_t)(m - g));
            int32_t t = s->pool[g];
            s->pool[g] = s->pool[r];
            s->pool[r] = t;
            s->cand[n++] = s->pool[g];
        }
    }
    return n;
}

/* Evaluates user u: adds its metric values into acc and sets *counted when it has ground
 * truth. Returns a non-zero status (with *f filled) when the ranker fails or misbehaves. */
static ar_status eval_user(const job *j, scratch *s, int32_t u,
                           double acc[AR__USER_METRICS][AR_EVAL_MAX_CUTOFFS], int *counted,
                           user_fail *f) {
    const ar_eval_options *opt = j->opt;
    *counted = 0;
    if (opt->user_fraction < 1) {
        uint64_t key[2] = {opt->seed, (uint64_t)u};
        if ((double)(ar__hash_bytes(key, sizeof key) >> 11) * 0x1.0p-53 >= opt->user_fraction)
            return AR_OK;
    }
    int32_t n_truth = gather(j, u, opt->target_mask, s->truth);
    if (n_truth == 0)
        return AR_OK;
    int32_t n = 0;
    ar_status st;
    if (opt->protocol == AR_PROTOCOL_FULL) {
        int32_t n_excl = gather(j, u, opt->exclude_mask, s->excl);
        st = j->rk->topk(j->rk->ctx, u, s->excl, n_excl, j->K, s->list, &n);
        if (st) {
            *f = (user_fail){FAIL_TOPK, st, -1};
            return st;
        }
        if (n < 0 || n > j->K) {
            *f = (user_fail){FAIL_COUNT, AR_ERANGE, n};
            return AR_ERANGE;
        }
        /* A ranker that breaks its contract would silently inflate the metrics; check it. */
        for (int32_t i = 0; i < n; i++) {
            int32_t x = s->list[i];
            failure why = FAIL_NONE;
            if (x < 0 || x >= j->n_items)
                why = FAIL_ITEM;
            else if (s->stamp[x] == u)
                why = FAIL_DUP;
            else if (ar__contains_sorted(s->excl, n_excl, x))
                why = FAIL_EXCLUDED;
            if (why) {
                *f = (user_fail){why, AR_ERANGE, x};
                return AR_ERANGE;
            }
            s->stamp[x] = u;
        }
    } else {
        int32_t n_cand = 0;
        for (int32_t t = 0; t < n_truth; t++) {
            s->cand[n_cand++] = s->truth[t];
            s->stamp[s->truth[t]] = u;
        }
        if (opt->negatives) {
            const int32_t *row = opt->negatives + (size_t)u * (size_t)opt->n_negatives;
            for (int32_t g = 0; g < opt->n_negatives; g++) {
                int32_t x = row[g];
                if (x == -1)
                    continue;
                if (x < 0 || x >= j->n_items) {
                    *f = (user_fail){FAIL_NEGATIVE, AR_ERANGE, x};
                    return AR_ERANGE;
                }
                /* A negative that repeats a truth item or another negative is dropped. */
                if (s->stamp[x] == u)
                    continue;
                s->stamp[x] = u;
                s->cand[n_cand++] = x;
            }
        } else {
            n_cand = sample_negatives(j, s, u, n_cand);
        }
        /* Sorted candidates make ar_topk's "lower index first" mean "lower item first". */
        qsort(s->cand, (size_t)n_cand, sizeof *s->cand, cmp_i32);
        st = j->rk->score(j->rk->ctx, u, s->cand, n_cand, s->scores);
        if (st) {
            *f = (user_fail){FAIL_SCORE, st, -1};
            return st;
        }
        n = ar_topk(s->scores, n_cand, NULL, 0, j->K, s->list);
        for (int32_t i = 0; i < n; i++)
            s->list[i] = s->cand[s->list[i]];
    }
    for (int32_t i = 0; i < n; i++)
        s->rel[i] = (uint8_t)ar__contains_sorted(s->truth, n_truth, s->list[i]);
    ar__user_metrics(s->rel, n, n_truth, opt->cutoffs, opt->n_cutoffs, acc);
    count_list(j, s->list, n);
    *counted = 1;
    return AR_OK;
}

static void scratch_free(scratch *s) {
    ar__free(s->truth);
    ar__free(s->excl);
    ar__free(s->list);
    ar__free(s->rel);
    ar__free(s->cand);
    ar__free(s->scores);
    ar__free(s->pool);
    ar__free(s->stamp);
}

static ar_status scratch_init(scratch *s, const job *j, int32_t max_rows) {
    memset(s, 0, sizeof *s);
    size_t rows = (size_t)max_rows + 1, k = (size_t)j->K + 1, items = (size_t)j->n_items + 1;
    s->truth = ar__alloc_array(rows, sizeof *s->truth);
    s->excl = ar__alloc_array(rows, sizeof *s->excl);
    s->list = ar__alloc_array(k, sizeof *s->list);
    s->rel = ar__alloc_array(k, sizeof *s->rel);
    s->stamp = ar__alloc_array(items, sizeof *s->stamp);
    if (!s->truth || !s->excl || !s->list || !s->rel || !s->stamp)
        return AR_ENOMEM;
    for (int32_t i = 0; i < j->n_items; i++)
        s->stamp[i] = -1;
    if (j->opt->protocol == AR_PROTOCOL_SAMPLED) {
        size_t cand = rows + (size_t)j->opt->n_negatives;
        s->cand = ar__alloc_array(cand, sizeof *s->cand);
        s->scores = ar__alloc_array(cand, sizeof *s->scores);
        if (!j->opt->negatives)
            s->pool = ar__alloc_array(items, sizeof *s->pool);
        if (!s->cand || !s->scores || (!j->opt->negatives && !s->pool))
            return AR_ENOMEM;
    }
    return AR_OK;
}

/* Coverage, novelty and gini for every cutoff from the recommendation counts (serial). */
static ar_status list_metrics(const ar_dataset *ds, const job *j, ar_eval_result *out) {
    int32_t n_items = j->n_items, n_users = j->n_users;
    int32_t *pop = ar__alloc_array((size_t)n_items + 1, sizeof *pop);
    int32_t *sorted = ar__alloc_array((size_t)n_items + 1, sizeof *sorted);
    if (!pop || !sorted || ar__item_user_counts(ds, AR_MASK_TRAIN, pop)) {
        ar__free(pop);
        ar__free(sorted);
        return AR_ENOMEM;
    }
    for (int c = 0; c < j->opt->n_cutoffs; c++) {
        int32_t *cnt = j->counts + (size_t)c * (size_t)n_items;
        if (c > 0) {
            const int32_t *prev = cnt - n_items;
            for (int32_t i = 0; i < n_items; i++)
                cnt[i] += prev[i];
        }
        int64_t covered = 0, pairs = 0;
        double info = 0.0;
        for (int32_t i = 0; i < n_items; i++) {
            if (!cnt[i])
                continue;
            covered++;
            pairs += cnt[i];
            double p = ((double)pop[i] + 1.0) / ((double)n_users + 1.0);
            info += (double)cnt[i] * -log2(p);
        }
        memcpy(sorted, cnt, (size_t)n_items * sizeof *sorted);
        qsort(sorted, (size_t)n_items, sizeof *sorted, cmp_i32);
        double gini = 0.0;
        for (int32_t i = 0; i < n_items; i++)
            gini += (2.0 * (double)(i + 1) - (double)n_items - 1.0) * (double)sorted[i];
        out->value[AR_METRIC_COVERAGE][c] = (double)covered / (double)n_items;
        out->value[AR_METRIC_NOVELTY][c] = pairs ? info / (double)pairs : 0.0;
        out->value[AR_METRIC_GINI][c] = pairs ? gini / ((double)n_items * (double)pairs) : 0.0;
    }
    ar__free(pop);
    ar__free(sorted);
    return AR_OK;
}

static ar_status fail_message(const ar_dataset *ds, ar_error *err, int32_t u, user_fail f,
                              int32_t k, int32_t n_items) {
    const char *uid = ar_dataset_id(ds, AR_USERS, u);
    switch (f.what) {
    case FAIL_TOPK:
    case FAIL_SCORE:
        return ar__fail(err, f.st, "evaluate: ranker %s failed for user '%s': %s",
                        f.what == FAIL_TOPK ? "topk" : "score", uid, ar_strerror(f.st));
    case FAIL_COUNT:
        return ar__fail(err, f.st,
                        "evaluate: ranker topk for user '%s': expected 0..%d items, got %d", uid, k,
                        f.item);
    case FAIL_ITEM:
        return ar__fail(err, f.st,
                        "evaluate: ranker topk for user '%s': expected items in 0..%d, got %d", uid,
                        n_items - 1, f.item);
    case FAIL_DUP:
        return ar__fail(err, f.st, "evaluate: ranker topk for user '%s': item '%s' listed twice",
                        uid, ar_dataset_id(ds, AR_ITEMS, f.item));
    case FAIL_EXCLUDED:
        return ar__fail(err, f.st,
                        "evaluate: ranker topk for user '%s': item '%s' is in the exclude list",
                        uid, ar_dataset_id(ds, AR_ITEMS, f.item));
    case FAIL_NEGATIVE:
        return ar__fail(err, f.st,
                        "evaluate: negatives of user '%s': expected -1 or items in 0..%d, got %d",
                        uid, n_items - 1, f.item);
    case FAIL_NONE:
        break;
    }
    return ar__fail(err, f.st, "evaluate: %s", ar_strerror(f.st));
}

ar_status ar_evaluate(const ar_dataset *ds, const ar_ranker *ranker, const ar_eval_options *opt,
                      ar_eval_result *out, ar_error *err) {
    if (out)
        memset(out, 0, sizeof *out);
    if (!ds || !ranker || !opt || !out)
        return ar__fail(err, AR_EINVAL, "evaluate: missing dataset, ranker, options or result");
    const char *why = ar_eval_options_check(opt);
    if (why)
        return ar__fail(err, AR_EINVAL, "evaluate: %s", why);
    if (opt->protocol == AR_PROTOCOL_FULL ? !ranker->topk : !ranker->score)
        return ar__fail(err, AR_EINVAL, "evaluate: the ranker has no %s function",
                        opt->protocol == AR_PROTOCOL_FULL ? "topk" : "score");

    job j;
    memset(&j, 0, sizeof j);
    j.rk = ranker;
    j.opt = opt;
    ar_dataset_interactions(ds, &j.log);
    j.off = ar_dataset_user_offsets(ds);
    j.n_users = ar_dataset_n_users(ds);
    j.n_items = ar_dataset_n_items(ds);
    int32_t kmax = opt->cutoffs[opt->n_cutoffs - 1];
    j.K = kmax < j.n_items ? kmax : j.n_items;
    if (j.n_users <= 0 || j.n_items <= 0)
        return ar__fail(err, AR_EEMPTY, "evaluate: the dataset has no users or items");
    int32_t max_rows = 0;
    for (int32_t u = 0; u < j.n_users; u++) {
        int64_t rows = j.off[u + 1] - j.off[u];
        if (rows > INT32_MAX - (int64_t)opt->n_negatives - 1)
            return ar__fail(err, AR_ERANGE, "evaluate: user '%s' has too many interactions",
                            ar_dataset_id(ds, AR_USERS, u));
        if (rows > max_rows)
            max_rows = (int32_t)rows;
    }

    int nt = ar__threads(opt->n_threads);
    int64_t n_blocks = ((int64_t)j.n_users + BLOCK - 1) / BLOCK;
    ar_status st = AR_ENOMEM;
    double(*block_acc)[AR__USER_METRICS][AR_EVAL_MAX_CUTOFFS] =
        ar__calloc((size_t)n_blocks, sizeof *block_acc);
    int32_t *block_users = ar__calloc((size_t)n_blocks, sizeof *block_users);
    j.counts = ar__calloc((size_t)opt->n_cutoffs * (size_t)j.n_items, sizeof *j.counts);
    scratch *sc = ar__calloc((size_t)nt, sizeof *sc);
    int n_sc = 0;
    if (!block_acc || !block_users || !j.counts || !sc)
        goto done;
    for (; n_sc < nt; n_sc++)
        if (scratch_init(&sc[n_sc], &j, max_rows)) {
            n_sc++;
            goto done;
        }

    /* Shared state of the parallel loop: the first failure (lowest user wins, so the message
     * does not depend on scheduling when several users fail), a stop flag, the progress. */
    int stop = 0, canceled = 0;
    int32_t fail_user = INT32_MAX;
    user_fail fail = {FAIL_NONE, AR_OK, -1};
    int64_t done_users = 0;
    int64_t step = j.n_users / 200 > 0 ? j.n_users / 200 : 1;

#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        scratch *s = &sc[t];
        int64_t next_report = step;
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < n_blocks; b++) {
            int halt;
#pragma omp atomic read
            halt = stop;
            if (halt)
                continue;
            int32_t u0 = (int32_t)(b * BLOCK);
            int32_t u1 = j.n_users - u0 < BLOCK ? j.n_users : u0 + BLOCK;
            ar_status bst = j.rk->block ? j.rk->block(j.rk->ctx, u0, u1) : AR_OK;
            if (bst) {
#pragma omp critical(ar_eval_fail)
                {
                    if (u0 < fail_user) {
                        fail_user = u0;
                        fail = (user_fail){FAIL_TOPK, bst, -1};
                    }
                }
#pragma omp atomic write
                stop = 1;
                continue;
            }
            for (int32_t u = u0; u < u1; u++) {
                int counted;
                user_fail f;
                if (eval_user(&j, s, u, block_acc[b], &counted, &f)) {
#pragma omp critical(ar_eval_fail)
                    {
                        if (u < fail_user) {
                            fail_user = u;
                            fail = f;
                        }
                    }
#pragma omp atomic write
                    stop = 1;
                    break;
                }
                block_users[b] += counted;
            }
            int64_t done_now;
#pragma omp atomic capture
            done_now = done_users += u1 - u0;
            /* Only thread 0 reports, so the callback never runs concurrently. */
            if (t == 0 && opt->progress && done_now >= next_report) {
                next_report = done_now + step;
                if (opt->progress(opt->progress_data, done_now, j.n_users)) {
#pragma omp atomic write
                    canceled = 1;
#pragma omp atomic write
                    stop = 1;
                }
            }
        }
    }

    if (fail.what != FAIL_NONE) {
        st = fail_message(ds, err, fail_user, fail, j.K, j.n_items);
        goto done;
    }
    if (canceled) {
        st = ar__fail(err, AR_ECANCELED, "evaluate: canceled");
        goto done;
    }
    if (opt->progress)
        opt->progress(opt->progress_data, j.n_users, j.n_users);

    int64_t users = 0;
    for (int64_t b = 0; b < n_blocks; b++)
        users += block_users[b];
    if (users == 0) {
        st = ar__fail(err, AR_EEMPTY,
                      "evaluate: no user has an interaction in the target splits (mask %u)",
                      opt->target_mask);
        goto done;
    }
    out->users = (int32_t)users;
    out->n_cutoffs = opt->n_cutoffs;
    for (int c = 0; c < opt->n_cutoffs; c++)
        out->cutoffs[c] = opt->cutoffs[c];
    for (int m = 0; m < AR__USER_METRICS; m++) {
        for (int c = 0; c < opt->n_cutoffs; c++) {
            double sum = 0.0;
            for (int64_t b = 0; b < n_blocks; b++)
                sum += block_acc[b][m][c];
            out->value[m][c] = sum / (double)users;
        }
    }
    if ((st = list_metrics(ds, &j, out)))
        goto done;
    st = AR_OK;

done:
    if (st == AR_ENOMEM)
        ar__fail(err, st, "evaluate: out of memory");
    if (st)
        memset(out, 0, sizeof *out);
    for (int i = 0; i < n_sc; i++)
        scratch_free(&sc[i]);
    ar__free(sc);
    ar__free(j.counts);
    ar__free(block_users);
    ar__free(block_acc);
    return st;
}
