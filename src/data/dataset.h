/*
 * dataset.h -- the in-memory layout of ar_dataset (internal).
 *
 * Invariants
 *   - Interactions are sorted by (user, time, input order); user u owns rows
 *     user_offsets[u] .. user_offsets[u+1]-1.
 *   - Every array is either a heap block listed in `blocks` (built datasets) or points into the
 *     read-only mapping `map` (loaded datasets). The split labels are always a heap block so a
 *     loaded dataset can be re-split.
 *   - A string table holds n strings back to back, each NUL-terminated; string i starts at
 *     chars + offs[i] (offs has n + 1 entries; offs[n] is the pool size).
 */
#ifndef AR_DATASET_H
#define AR_DATASET_H

#include "core/core.h"

typedef struct ar__strtab {
    int64_t n;
    const int64_t *offs;
    const char *chars;
} ar__strtab;

static inline const char *ar__strtab_get(const ar__strtab *t, int64_t i) {
    return t->chars + t->offs[i];
}

typedef struct ar__attr {
    const char *name;
    ar_attr_kind kind;
    const int64_t *indptr; /* categorical: n_entities + 1 */
    const int32_t *codes;  /* categorical: indptr[n] codes */
    ar__strtab values;     /* categorical: code -> string */
    const double *num;     /* numeric: n_entities values, NaN = missing */
} ar__attr;

struct ar_dataset {
    int32_t n_users, n_items;
    int64_t n_inter;
    uint32_t flags;

    const int32_t *user, *item;
    const int64_t *time;
    const uint8_t *event;
    const float *value;
    uint8_t *split;
    const int64_t *user_offsets;

    ar__strtab ids[2]; /* AR_USERS, AR_ITEMS */
    ar__strtab events;
    const int64_t *launch; /* n_items */
    ar__strtab titles;     /* n_items; "" = unknown */
    int n_attrs[2];
    ar__attr *attrs[2];
    ar__strtab attr_names[2];

    void **blocks;
    size_t n_blocks, blocks_cap;
    void *map;
    size_t map_len;
    ar__intern *lookup[2];
};

/* Allocates an empty dataset. */
ar_dataset *ar__dataset_new(void);
/* Allocates a block that the dataset owns (freed by ar_dataset_free). NULL when out of memory
 * or on overflow. */
void *ar__dataset_block(ar_dataset *ds, size_t n, size_t size);
/* Fills a string table from an interner, with the strings in the order given by order[i] (the
 * interner id of string i), or in interner order when order is NULL. */
ar_status ar__strtab_from_intern(ar_dataset *ds, ar__strtab *t, const ar__intern *in,
                                 const int32_t *order);

/* The user x item matrix of the interactions in mask, each contributing (weights ? weights[its
 * event] : its value) * (row_weights ? row_weights[its row of the log] : 1); events of weight 0
 * are left out as in ar_dataset_csr_events. The training-matrix path of ar_model_fit. */
ar_status ar__dataset_csr_weighted(const ar_dataset *ds, unsigned mask, const float *weights,
                                   int n_weights, const float *row_weights, ar_csr **out);

#endif
