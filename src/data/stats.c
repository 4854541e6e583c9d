/*
 * stats.c -- the summary that `agentrec info` prints, and the synthetic example dataset.
 */
#include "data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Quantiles of sorted values by the nearest-rank rule (value at ceil(q * n) - 1). */
static void quantiles(const int64_t *sorted, int64_t n, double *q) {
    static const double at[7] = {0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0};
    for (int k = 0; k < 7; k++) {
        if (n == 0) {
            q[k] = 0;
            continue;
        }
        int64_t idx = (int64_t)ceil(at[k] * (double)n) - 1;
        if (idx < 0)
            idx = 0;
        q[k] = (double)sorted[idx];
    }
}

ar_status ar_dataset_stats_compute(const ar_dataset *ds, ar_dataset_stats *s) {
    *s = (ar_dataset_stats){0};
    s->users = ds->n_users;
    s->items = ds->n_items;
    s->interactions = ds->n_inter;
    for (int64_t k = 0; k < ds->n_inter; k++) {
        s->train += ds->split[k] == AR_SPLIT_TRAIN;
        s->valid += ds->split[k] == AR_SPLIT_VALID;
        s->test += ds->split[k] == AR_SPLIT_TEST;
    }
    if (ds->n_users && ds->n_items)
        s->density = (double)ds->n_inter / ((double)ds->n_users * (double)ds->n_items);
    int64_t *u = ar__alloc_array((size_t)ds->n_users + 1, sizeof *u);
    int64_t *it = ar__calloc((size_t)ds->n_items + 1, sizeof *it);
    if (!u || !it) {
        ar__free(u);
        ar__free(it);
        return AR_ENOMEM;
    }
    for (int32_t i = 0; i < ds->n_users; i++)
        u[i] = ds->user_offsets[i + 1] - ds->user_offsets[i];
    for (int64_t k = 0; k < ds->n_inter; k++)
        it[ds->item[k]]++;
    qsort(u, (size_t)ds->n_users, sizeof *u, cmp_i64);
    qsort(it, (size_t)ds->n_items, sizeof *it, cmp_i64);
    quantiles(u, ds->n_users, s->user_q);
    quantiles(it, ds->n_items, s->item_q);
    /* Gini of item popularity over sorted counts c_1 <= ... <= c_n:
     * G = sum_j (2j - n - 1) c_j / (n sum_j c_j). */
    double num = 0, total = 0, n = (double)ds->n_items;
    for (int32_t j = 0; j < ds->n_items; j++) {
        num += (2.0 * (j + 1) - n - 1.0) * (double)it[j];
        total += (double)it[j];
    }
    s->pop_gini = total > 0 ? num / (n * total) : 0;
    ar__free(u);
    ar__free(it);
    s->has_time = (ds->flags & AR_DS_HAS_TIME) != 0;
    s->time_min = INT64_MAX;
    s->time_max = INT64_MIN;
    for (int64_t k = 0; k < ds->n_inter; k++) {
        if (ds->time[k] < s->time_min)
            s->time_min = ds->time[k];
        if (ds->time[k] > s->time_max)
            s->time_max = ds->time[k];
    }
    if (!ds->n_inter)
        s->time_min = s->time_max = 0;
    return AR_OK;
}

/* Draws from a Zipf(1) law over n ranks by inverting the cumulative weights (binary search). */
static int32_t zipf_draw(ar_rng *rng, const double *cdf, int32_t n) {
    double x = ar_rng_uniform(rng) * cdf[n - 1];
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

ar_status ar_dataset_synthetic(int32_t users, int32_t items, int32_t per_user, int clusters,
                               uint64_t seed, ar_dataset **out) {
    *out = NULL;
    if (users < 1 || items < 2 || per_user < 1 || per_user > items || clusters < 1 ||
        clusters > items)
        return AR_EINVAL;
    ar_builder *b;
    ar_status st = ar_builder_create(&b);
    if (st)
        return st;
    double *cdf = ar__alloc_array((size_t)items, sizeof *cdf);
    uint8_t *seen = ar__calloc((size_t)items, 1);
    int32_t *picked = ar__alloc_array((size_t)per_user, sizeof *picked);
    if (!cdf || !seen || !picked) {
        st = AR_ENOMEM;
        goto done;
    }
    double acc = 0;
    for (int32_t i = 0; i < items; i++)
        cdf[i] = acc += 1.0 / (i + 1);
    char uid[16], iid[16], buf[32];
    ar_builder_set_flags(b, AR_DS_HAS_TIME);
    ar_rng rng;
    ar_rng_seed(&rng, seed);
    /* Item catalogue: category = the taste cluster the item belongs to; a log-normal price. */
    for (int32_t i = 0; i < items && !st; i++) {
        snprintf(iid, sizeof iid, "%d", i);
        snprintf(buf, sizeof buf, "c%d", i % clusters);
        st = ar_builder_attr_cat(b, AR_ITEMS, iid, "category", buf);
        if (!st)
            st = ar_builder_attr_num(b, AR_ITEMS, iid, "price",
                                     round(100.0 * exp(ar_rng_uniform(&rng) * 2.0)) / 100.0);
    }
    /* Users: 80% of each user's picks come from their cluster's items (popular ones more
     * often), the rest from the whole catalogue. Items are distinct per user. */
    for (int32_t u = 0; u < users && !st; u++) {
        int c = u % clusters;
        snprintf(uid, sizeof uid, "%d", u);
        int32_t n = 0;
        for (int tries = 0; n < per_user && tries < per_user * 50; tries++) {
            int32_t i;
            if (ar_rng_uniform(&rng) < 0.8) {
                int32_t span = (items - 1 - c) / clusters + 1;
                i = c + clusters * zipf_draw(&rng, cdf, span);
            } else {
                i = zipf_draw(&rng, cdf, items);
            }
            if (seen[i])
                continue;
            seen[i] = 1;
            picked[n++] = i;
        }
        for (int32_t k = 0; k < n && !st; k++) {
            seen[picked[k]] = 0;
            snprintf(iid, sizeof iid, "%d", picked[k]);
            st = ar_builder_add(b, uid, iid, 1700000000 + (int64_t)u * 60 + (int64_t)k * 86400,
                                AR_EVENT_CLICK, 1.0f, AR_SPLIT_TRAIN);
        }
    }
    for (int32_t i = 0; i < items && !st; i++) {
        snprintf(iid, sizeof iid, "%d", i);
        st = ar_builder_touch(b, AR_ITEMS, iid);
    }
    if (!st)
        st = ar_builder_build(b, out, NULL, NULL);
done:
    ar__free(cdf);
    ar__free(seen);
    ar__free(picked);
    ar_builder_free(b);
    return st;
}
