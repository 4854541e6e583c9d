/*
 * split.c -- train / validation / test splits of the interaction log.
 *
 * Every split is a deterministic function of the dataset, the options and the seed. Per-user
 * splits draw user u's randomness from ar_rng_stream(seed, u), so the labels are the same for
 * any number of threads. Interactions are already sorted by time within each user, so
 * leave-one-out takes the last rows of each user. Only rows whose current label is in
 * `within` take part; the others keep their labels (so validation can be carved out of a
 * predefined training split without touching its test split).
 */
#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

ar_split_options ar_split_options_default(void) {
    ar_split_options o = {0};
    o.method = AR_SPLIT_RANDOM;
    o.test_ratio = 0.2;
    o.valid_ratio = 0.0;
    o.loo_valid = 1;
    o.seed = 2026;
    o.within = AR_MASK_ALL;
    return o;
}

const char *ar_split_options_check(const ar_split_options *o) {
    if ((unsigned)o->method > AR_SPLIT_TEMPORAL)
        return "unknown split method";
    if (o->method != AR_SPLIT_LOO) {
        if (!(o->test_ratio >= 0 && o->test_ratio < 1))
            return "test ratio must be in [0, 1)";
        if (!(o->valid_ratio >= 0 && o->valid_ratio < 1))
            return "validation ratio must be in [0, 1)";
        if (!(o->test_ratio + o->valid_ratio > 0 && o->test_ratio + o->valid_ratio < 1))
            return "test ratio + validation ratio must be in (0, 1)";
    }
    if (!o->within || (o->within & ~AR_MASK_ALL))
        return "within must be a non-empty set of splits";
    if (o->n_threads < 0)
        return "thread count must be >= 0";
    return NULL;
}

static int takes_part(const ar_dataset *ds, int64_t row, unsigned within) {
    return (within >> ds->split[row]) & 1u;
}

/* Random per-user split: shuffle the user's rows, then the first round(n * test) go to test and
 * the next round(n * valid) to validation, always leaving at least one training row. */
static void split_user_random(ar_dataset *ds, int32_t u, const ar_split_options *o, int64_t *buf) {
    int64_t n = 0;
    for (int64_t r = ds->user_offsets[u]; r < ds->user_offsets[u + 1]; r++)
        if (takes_part(ds, r, o->within)) {
            ds->split[r] = AR_SPLIT_TRAIN;
            buf[n++] = r;
        }
    if (n < 2)
        return;
    ar_rng rng;
    ar_rng_stream(&rng, o->seed, (uint64_t)u);
    for (int64_t k = n - 1; k > 0; k--) {
        int64_t j = (int64_t)ar_rng_below(&rng, (uint64_t)k + 1);
        int64_t t = buf[k];
        buf[k] = buf[j];
        buf[j] = t;
    }
    int64_t n_test = (int64_t)floor((double)n * o->test_ratio + 0.5);
    int64_t n_valid = (int64_t)floor((double)n * o->valid_ratio + 0.5);
    if (n_test > n - 1)
        n_test = n - 1;
    if (n_valid > n - 1 - n_test)
        n_valid = n - 1 - n_test;
    for (int64_t k = 0; k < n_test; k++)
        ds->split[buf[k]] = AR_SPLIT_TEST;
    for (int64_t k = n_test; k < n_test + n_valid; k++)
        ds->split[buf[k]] = AR_SPLIT_VALID;
}

/* Leave-one-out by time: last row -> test, second-to-last -> validation (when asked and the
 * user has at least three rows); a user with one row keeps it for training. When test is not
 * among the labels being rewritten (within lacks it), the last row goes to validation. */
static void split_user_loo(ar_dataset *ds, int32_t u, const ar_split_options *o, int64_t *buf) {
    int64_t n = 0;
    for (int64_t r = ds->user_offsets[u]; r < ds->user_offsets[u + 1]; r++)
        if (takes_part(ds, r, o->within)) {
            ds->split[r] = AR_SPLIT_TRAIN;
            buf[n++] = r;
        }
    int test_ok = (o->within & AR_MASK_TEST) != 0;
    if (n >= 2)
        ds->split[buf[n - 1]] = test_ok ? AR_SPLIT_TEST : AR_SPLIT_VALID;
    if (n >= 3 && o->loo_valid && test_ok)
        ds->split[buf[n - 2]] = AR_SPLIT_VALID;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Global temporal cut over the rows that take part: those at or after the time below which
 * (1 - test) of them fall go to test; likewise the validation window just before it. Equal
 * times stay together. */
static ar_status split_temporal(ar_dataset *ds, const ar_split_options *o, ar_error *err) {
    int64_t n = 0;
    for (int64_t k = 0; k < ds->n_inter; k++)
        n += takes_part(ds, k, o->within);
    if (n == 0)
        return AR_OK;
    int64_t *t = ar__alloc_array((size_t)n, sizeof *t);
    if (!t)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    n = 0;
    for (int64_t k = 0; k < ds->n_inter; k++)
        if (takes_part(ds, k, o->within))
            t[n++] = ds->time[k];
    qsort(t, (size_t)n, sizeof *t, cmp_i64);
    int64_t i_test = (int64_t)floor((double)n * (1.0 - o->test_ratio));
    int64_t i_valid = (int64_t)floor((double)n * (1.0 - o->test_ratio - o->valid_ratio));
    int64_t cut_test = i_test >= n ? INT64_MAX : t[i_test];
    int64_t cut_valid = o->valid_ratio > 0 ? t[i_valid] : cut_test;
    ar__free(t);
    for (int64_t k = 0; k < ds->n_inter; k++) {
        if (!takes_part(ds, k, o->within))
            continue;
        ds->split[k] = ds->time[k] >= cut_test    ? AR_SPLIT_TEST
                       : ds->time[k] >= cut_valid ? AR_SPLIT_VALID
                                                  : AR_SPLIT_TRAIN;
    }
    return AR_OK;
}

ar_status ar_dataset_split(ar_dataset *ds, const ar_split_options *o, ar_error *err) {
    const char *bad = ar_split_options_check(o);
    if (bad)
        return ar__fail(err, AR_EINVAL, "split: %s", bad);
    if (o->method == AR_SPLIT_TEMPORAL)
        return split_temporal(ds, o, err);
    int nt = ar__threads(o->n_threads);
    int64_t max_row = 1;
    for (int32_t u = 0; u < ds->n_users; u++)
        if (ds->user_offsets[u + 1] - ds->user_offsets[u] > max_row)
            max_row = ds->user_offsets[u + 1] - ds->user_offsets[u];
    int64_t *bufs = ar__alloc_array((size_t)nt * (size_t)max_row, sizeof *bufs);
    if (!bufs)
        return ar__fail(err, AR_ENOMEM, "out of memory");
#pragma omp parallel for num_threads(nt) schedule(dynamic, 512)
    for (int32_t u = 0; u < ds->n_users; u++) {
#ifdef _OPENMP
        int64_t *buf = bufs + (size_t)omp_get_thread_num() * (size_t)max_row;
#else
        int64_t *buf = bufs;
#endif
        if (o->method == AR_SPLIT_LOO)
            split_user_loo(ds, u, o, buf);
        else
            split_user_random(ds, u, o, buf);
    }
    ar__free(bufs);
    return AR_OK;
}
