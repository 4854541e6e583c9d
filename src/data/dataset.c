/*
 * dataset.c -- accessors and lifetime of ar_dataset.
 */
#define _DEFAULT_SOURCE
#include "data/dataset.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>

ar_dataset *ar__dataset_new(void) {
    return ar__calloc(1, sizeof(ar_dataset));
}

void *ar__dataset_block(ar_dataset *ds, size_t n, size_t size) {
    if (ar__grow((void **)&ds->blocks, &ds->blocks_cap, ds->n_blocks + 1, sizeof(void *)))
        return NULL;
    void *p = ar__calloc(n ? n : 1, size);
    if (p)
        ds->blocks[ds->n_blocks++] = p;
    return p;
}

ar_status ar__strtab_from_intern(ar_dataset *ds, ar__strtab *t, const ar__intern *in,
                                 const int32_t *order) {
    int64_t n = in->n;
    int64_t *offs = ar__dataset_block(ds, (size_t)n + 1, sizeof *offs);
    char *chars = ar__dataset_block(ds, in->pool_len, 1);
    if (!offs || !chars)
        return AR_ENOMEM;
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *s = ar__intern_str(in, order ? order[i] : (int32_t)i);
        size_t len = strlen(s) + 1;
        memcpy(chars + pos, s, len);
        offs[i] = (int64_t)pos;
        pos += len;
    }
    offs[n] = (int64_t)pos;
    t->n = n;
    t->offs = offs;
    t->chars = chars;
    return AR_OK;
}

void ar_dataset_free(ar_dataset *ds) {
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n_blocks; i++)
        ar__free(ds->blocks[i]);
    ar__free(ds->blocks);
    for (int e = 0; e < 2; e++) {
        ar__free(ds->attrs[e]);
        if (ds->lookup[e]) {
            ar__intern_deinit(ds->lookup[e]);
            ar__free(ds->lookup[e]);
        }
    }
    if (ds->map)
        munmap(ds->map, ds->map_len);
    ar__free(ds);
}

int32_t ar_dataset_n_users(const ar_dataset *ds) {
    return ds->n_users;
}

int32_t ar_dataset_n_items(const ar_dataset *ds) {
    return ds->n_items;
}

int64_t ar_dataset_n_interactions(const ar_dataset *ds) {
    return ds->n_inter;
}

uint32_t ar_dataset_flags(const ar_dataset *ds) {
    return ds->flags;
}

void ar_dataset_interactions(const ar_dataset *ds, ar_interactions *out) {
    out->n = ds->n_inter;
    out->user = ds->user;
    out->item = ds->item;
    out->time = ds->time;
    out->event = ds->event;
    out->value = ds->value;
    out->split = ds->split;
}

const int64_t *ar_dataset_user_offsets(const ar_dataset *ds) {
    return ds->user_offsets;
}

int64_t ar_dataset_count(const ar_dataset *ds, unsigned mask) {
    int64_t n = 0;
    for (int64_t i = 0; i < ds->n_inter; i++)
        n += (mask >> ds->split[i]) & 1u;
    return n;
}

const char *ar_dataset_id(const ar_dataset *ds, ar_entity which, int32_t index) {
    if ((unsigned)which > 1 || index < 0 || index >= ds->ids[which].n)
        return NULL;
    return ar__strtab_get(&ds->ids[which], index);
}

int32_t ar_dataset_lookup(ar_dataset *ds, ar_entity which, const char *id) {
    if ((unsigned)which > 1)
        return -1;
    if (!ds->lookup[which]) {
        ar__intern *t = ar__malloc(sizeof *t);
        if (!t)
            return -1;
        ar__intern_init(t);
        /* Inserting in index order makes interner id == dataset index. */
        for (int64_t i = 0; i < ds->ids[which].n; i++) {
            int32_t id32;
            if (ar__intern_put(t, ar__strtab_get(&ds->ids[which], i), &id32, NULL)) {
                ar__intern_deinit(t);
                ar__free(t);
                return -1;
            }
        }
        ds->lookup[which] = t;
    }
    return ar__intern_get(ds->lookup[which], id);
}

int ar_dataset_n_events(const ar_dataset *ds) {
    return (int)ds->events.n;
}

const char *ar_dataset_event_name(const ar_dataset *ds, int code) {
    if (code < 0 || code >= ds->events.n)
        return NULL;
    return ar__strtab_get(&ds->events, code);
}

int64_t ar_dataset_item_launch(const ar_dataset *ds, int32_t item) {
    if (item < 0 || item >= ds->n_items)
        return INT64_MIN;
    return ds->launch[item];
}

const char *ar_dataset_item_title(const ar_dataset *ds, int32_t item) {
    if (item < 0 || item >= ds->n_items)
        return NULL;
    const char *t = ar__strtab_get(&ds->titles, item);
    return *t ? t : NULL;
}

static const ar__attr *get_attr(const ar_dataset *ds, ar_entity which, int attr) {
    if ((unsigned)which > 1 || attr < 0 || attr >= ds->n_attrs[which])
        return NULL;
    return &ds->attrs[which][attr];
}

int ar_dataset_n_attrs(const ar_dataset *ds, ar_entity which) {
    return (unsigned)which > 1 ? 0 : ds->n_attrs[which];
}

int ar_dataset_attr_find(const ar_dataset *ds, ar_entity which, const char *name) {
    for (int a = 0; a < ar_dataset_n_attrs(ds, which); a++)
        if (strcmp(ds->attrs[which][a].name, name) == 0)
            return a;
    return -1;
}

const char *ar_dataset_attr_name(const ar_dataset *ds, ar_entity which, int attr) {
    const ar__attr *a = get_attr(ds, which, attr);
    return a ? a->name : NULL;
}

ar_attr_kind ar_dataset_attr_kind(const ar_dataset *ds, ar_entity which, int attr) {
    const ar__attr *a = get_attr(ds, which, attr);
    return a ? a->kind : AR_ATTR_CATEGORICAL;
}

static int32_t n_entities(const ar_dataset *ds, ar_entity which) {
    return which == AR_USERS ? ds->n_users : ds->n_items;
}

const int32_t *ar_dataset_attr_codes(const ar_dataset *ds, ar_entity which, int attr, int32_t index,
                                     int32_t *n) {
    const ar__attr *a = get_attr(ds, which, attr);
    *n = 0;
    if (!a || a->kind != AR_ATTR_CATEGORICAL || index < 0 || index >= n_entities(ds, which))
        return NULL;
    *n = (int32_t)(a->indptr[index + 1] - a->indptr[index]);
    return a->codes + a->indptr[index];
}

int32_t ar_dataset_attr_n_values(const ar_dataset *ds, ar_entity which, int attr) {
    const ar__attr *a = get_attr(ds, which, attr);
    return a && a->kind == AR_ATTR_CATEGORICAL ? (int32_t)a->values.n : 0;
}

const char *ar_dataset_attr_value(const ar_dataset *ds, ar_entity which, int attr, int32_t code) {
    const ar__attr *a = get_attr(ds, which, attr);
    if (!a || a->kind != AR_ATTR_CATEGORICAL || code < 0 || code >= a->values.n)
        return NULL;
    return ar__strtab_get(&a->values, code);
}

double ar_dataset_attr_number(const ar_dataset *ds, ar_entity which, int attr, int32_t index) {
    const ar__attr *a = get_attr(ds, which, attr);
    if (!a || a->kind != AR_ATTR_NUMERIC || index < 0 || index >= n_entities(ds, which))
        return NAN;
    return a->num[index];
}
