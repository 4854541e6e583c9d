/*
 * mostpop.c -- the MostPop baseline: every user gets the items with the most distinct training
 * users, minus the items they already have.
 *
 * Popularity counts distinct users (not interactions), as LightGCN's and RecBole's Pop
 * baselines do on deduplicated data; ties go to the lower item index so the ranking is a total
 * order. fit() sorts the items once; topk() walks that order and skips the user's excluded items
 * (binary search in the sorted exclude list), so it costs O((k + n_exclude) log n_exclude) per
 * user rather than O(n_items). The object is read-only after fit, so the ranker is thread-safe.
 */
#include "eval/eval.h"

#include <stdlib.h>

struct ar_mostpop {
    int32_t n_items;
    int32_t *pop;   /* n_items: distinct users per item */
    int32_t *order; /* n_items: items by pop descending, index ascending */
};

ar_status ar__item_user_counts(const ar_dataset *ds, unsigned mask, int32_t *counts) {
    int32_t n_items = ar_dataset_n_items(ds), n_users = ar_dataset_n_users(ds);
    const int64_t *off = ar_dataset_user_offsets(ds);
    ar_interactions log;
    ar_dataset_interactions(ds, &log);
    /* last[i] = the last user counted for item i; a user's rows are contiguous, so this
     * counts each (user, item) pair once however often the user repeated the item. */
    int32_t *last = ar__alloc_array((size_t)n_items + 1, sizeof *last);
    if (!last)
        return AR_ENOMEM;
    for (int32_t i = 0; i < n_items; i++) {
        counts[i] = 0;
        last[i] = -1;
    }
    for (int32_t u = 0; u < n_users; u++) {
        for (int64_t r = off[u]; r < off[u + 1]; r++) {
            int32_t i = log.item[r];
            if (!((mask >> log.split[r]) & 1u) || last[i] == u)
                continue;
            last[i] = u;
            counts[i]++;
        }
    }
    ar__free(last);
    return AR_OK;
}

/* qsort has no context argument, so the sort runs over (pop, item) pairs. */
typedef struct pop_item {
    int32_t pop, item;
} pop_item;

static int cmp_pop_item(const void *a, const void *b) {
    const pop_item *x = a, *y = b;
    if (x->pop != y->pop)
        return x->pop > y->pop ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

ar_status ar_mostpop_fit(const ar_dataset *ds, unsigned mask, ar_mostpop **out) {
    *out = NULL;
    if (!ds)
        return AR_EINVAL;
    int32_t n = ar_dataset_n_items(ds);
    ar_mostpop *m = ar__calloc(1, sizeof *m);
    pop_item *tmp = ar__alloc_array((size_t)n + 1, sizeof *tmp);
    if (!m || !tmp)
        goto oom;
    m->n_items = n;
    m->pop = ar__alloc_array((size_t)n + 1, sizeof *m->pop);
    m->order = ar__alloc_array((size_t)n + 1, sizeof *m->order);
    if (!m->pop || !m->order || ar__item_user_counts(ds, mask, m->pop))
        goto oom;
    for (int32_t i = 0; i < n; i++)
        tmp[i] = (pop_item){m->pop[i], i};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_pop_item);
    for (int32_t i = 0; i < n; i++)
        m->order[i] = tmp[i].item;
    ar__free(tmp);
    *out = m;
    return AR_OK;
oom:
    ar__free(tmp);
    ar_mostpop_free(m);
    return AR_ENOMEM;
}

void ar_mostpop_free(ar_mostpop *m) {
    if (!m)
        return;
    ar__free(m->pop);
    ar__free(m->order);
    ar__free(m);
}

static ar_status mostpop_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                              int32_t k, int32_t *items, int32_t *n_out) {
    const ar_mostpop *m = ctx;
    (void)user;
    int32_t n = 0;
    if (!exclude || n_exclude < 0)
        n_exclude = 0;
    for (int32_t j = 0; j < m->n_items && n < k; j++) {
        int32_t i = m->order[j];
        if (!ar__contains_sorted(exclude, n_exclude, i))
            items[n++] = i;
    }
    *n_out = n;
    return AR_OK;
}

static ar_status mostpop_score(void *ctx, int32_t user, const int32_t *items, int32_t n,
                               float *scores) {
    const ar_mostpop *m = ctx;
    (void)user;
    for (int32_t j = 0; j < n; j++) {
        if (items[j] < 0 || items[j] >= m->n_items)
            return AR_ERANGE;
        scores[j] = (float)m->pop[items[j]];
    }
    return AR_OK;
}

ar_ranker ar_mostpop_ranker(ar_mostpop *m) {
    return (ar_ranker){m, mostpop_topk, mostpop_score, NULL};
}
