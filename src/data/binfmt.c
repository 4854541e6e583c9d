/*
 * binfmt.c -- the versioned binary dataset file, loaded by mmap.
 *
 * The file is a sectioned container (src/core/secfile.h, magic "AGRECDS1") whose 32 kind bytes
 * hold i32 n_users, i32 n_items, i64 n_inter, u32 flags. A section tag is
 * (kind << 16) | (entity << 12) | attribute index; docs/formats.md lists the kinds. Loading
 * maps the file read-only and points the dataset's arrays into it; nothing is copied except the
 * split labels, which stay writable. Because a file may be damaged or hostile, load validates
 * every count, offset, string table and index range before the dataset is handed out: a bad
 * file is AR_ECORRUPT, never a crash.
 */
#define _DEFAULT_SOURCE
#include "core/secfile.h"
#include "data/dataset.h"

#include <string.h>
#include <sys/mman.h>

static const char MAGIC[8] = {'A', 'G', 'R', 'E', 'C', 'D', 'S', '1'};

enum {
    K_USER = 1,
    K_ITEM,
    K_TIME,
    K_EVENT,
    K_VALUE,
    K_SPLIT,
    K_USER_OFFSETS,
    K_ID_OFFS,
    K_ID_CHARS,
    K_EVENT_OFFS,
    K_EVENT_CHARS,
    K_LAUNCH,
    K_TITLE_OFFS,
    K_TITLE_CHARS,
    K_ATTR_NAME_OFFS,
    K_ATTR_NAME_CHARS,
    K_ATTR_INDPTR, /* aux = kind */
    K_ATTR_CODES,
    K_ATTR_VALUE_OFFS,
    K_ATTR_VALUE_CHARS,
    K_ATTR_NUM, /* aux = kind */
};

static uint32_t tag(unsigned kind, unsigned entity, unsigned attr) {
    return (kind << 16) | (entity << 12) | attr;
}

/* -- save --------------------------------------------------------------------------------- */

static void add_strtab(ar__secw *w, unsigned offs_kind, unsigned chars_kind, unsigned e, unsigned a,
                       const ar__strtab *t) {
    ar__secw_add(w, tag(offs_kind, e, a), 8, (uint64_t)t->n + 1, 0, t->offs);
    ar__secw_add(w, tag(chars_kind, e, a), 1, (uint64_t)t->offs[t->n], 0, t->chars);
}

ar_status ar_dataset_save(const ar_dataset *ds, const char *path, ar_error *err) {
    ar__secw w = {0};
    uint64_t ni = (uint64_t)ds->n_inter;
    ar__secw_add(&w, tag(K_USER, 0, 0), 4, ni, 0, ds->user);
    ar__secw_add(&w, tag(K_ITEM, 0, 0), 4, ni, 0, ds->item);
    ar__secw_add(&w, tag(K_TIME, 0, 0), 8, ni, 0, ds->time);
    ar__secw_add(&w, tag(K_EVENT, 0, 0), 1, ni, 0, ds->event);
    ar__secw_add(&w, tag(K_VALUE, 0, 0), 4, ni, 0, ds->value);
    ar__secw_add(&w, tag(K_SPLIT, 0, 0), 1, ni, 0, ds->split);
    ar__secw_add(&w, tag(K_USER_OFFSETS, 0, 0), 8, (uint64_t)ds->n_users + 1, 0, ds->user_offsets);
    for (unsigned e = 0; e < 2; e++)
        add_strtab(&w, K_ID_OFFS, K_ID_CHARS, e, 0, &ds->ids[e]);
    add_strtab(&w, K_EVENT_OFFS, K_EVENT_CHARS, 0, 0, &ds->events);
    ar__secw_add(&w, tag(K_LAUNCH, 1, 0), 8, (uint64_t)ds->n_items, 0, ds->launch);
    add_strtab(&w, K_TITLE_OFFS, K_TITLE_CHARS, 1, 0, &ds->titles);
    for (unsigned e = 0; e < 2; e++) {
        if (ds->n_attrs[e] > 4095) {
            ar__free(w.s);
            return ar__fail(err, AR_ERANGE, "%s: too many attribute columns", path);
        }
        if (!ds->n_attrs[e])
            continue;
        add_strtab(&w, K_ATTR_NAME_OFFS, K_ATTR_NAME_CHARS, e, 0, &ds->attr_names[e]);
        uint64_t n_ent = (uint64_t)(e == AR_USERS ? ds->n_users : ds->n_items);
        for (unsigned a = 0; a < (unsigned)ds->n_attrs[e]; a++) {
            const ar__attr *at = &ds->attrs[e][a];
            if (at->kind == AR_ATTR_NUMERIC) {
                ar__secw_add(&w, tag(K_ATTR_NUM, e, a), 8, n_ent, AR_ATTR_NUMERIC, at->num);
                continue;
            }
            ar__secw_add(&w, tag(K_ATTR_INDPTR, e, a), 8, n_ent + 1, AR_ATTR_CATEGORICAL,
                         at->indptr);
            ar__secw_add(&w, tag(K_ATTR_CODES, e, a), 4, (uint64_t)at->indptr[n_ent], 0, at->codes);
            add_strtab(&w, K_ATTR_VALUE_OFFS, K_ATTR_VALUE_CHARS, e, a, &at->values);
        }
    }
    unsigned char extra[AR__SECFILE_EXTRA] = {0};
    memcpy(extra, &ds->n_users, 4);
    memcpy(extra + 4, &ds->n_items, 4);
    memcpy(extra + 8, &ds->n_inter, 8);
    memcpy(extra + 16, &ds->flags, 4);
    return ar__secw_write(&w, path, MAGIC, AR_DATASET_FORMAT_VERSION, extra, err);
}

/* -- load --------------------------------------------------------------------------------- */

typedef ar__secfile reader;

static const ar__sec *find(const reader *r, uint32_t t) {
    return ar__secfile_find(r, t);
}

static ar_status corrupt(const reader *r, const char *what) {
    return ar__secfile_corrupt(r, what);
}

static ar_status need(const reader *r, uint32_t t, uint32_t elem_size, uint64_t count,
                      const void **out, const char *what) {
    return ar__secfile_need(r, t, elem_size, count, out, what);
}

static ar_status need_strtab(const reader *r, unsigned ko, unsigned kc, unsigned e, unsigned a,
                             int64_t n, ar__strtab *t, const char *what) {
    const void *offs, *chars;
    const ar__sec *sc = find(r, tag(kc, e, a));
    ar_status st = need(r, tag(ko, e, a), 8, (uint64_t)n + 1, &offs, what);
    if (st)
        return st;
    if (!sc || sc->elem_size != 1)
        return corrupt(r, what);
    chars = sc->data;
    const int64_t *o = offs;
    const char *c = chars;
    if (o[0] != 0 || (uint64_t)o[n] != sc->count)
        return corrupt(r, what);
    for (int64_t i = 0; i < n; i++)
        if (o[i + 1] <= o[i] || (uint64_t)o[i + 1] > sc->count || c[o[i + 1] - 1] != 0)
            return corrupt(r, what);
    *t = (ar__strtab){n, o, c};
    return AR_OK;
}

static ar_status load_attrs(reader *r, ar_dataset *ds, unsigned e) {
    int32_t n_ent = e == AR_USERS ? ds->n_users : ds->n_items;
    const ar__sec *names = find(r, tag(K_ATTR_NAME_OFFS, e, 0));
    if (!names)
        return AR_OK;
    if (names->elem_size != 8 || names->count < 2 || names->count > 4096)
        return corrupt(r, "attribute names");
    int na = (int)names->count - 1;
    ar_status st =
        need_strtab(r, K_ATTR_NAME_OFFS, K_ATTR_NAME_CHARS, e, 0, na, &ds->attr_names[e], "names");
    if (st)
        return st;
    ds->attrs[e] = ar__calloc((size_t)na, sizeof(ar__attr));
    if (!ds->attrs[e])
        return ar__fail(r->err, AR_ENOMEM, "%s: out of memory", r->path);
    ds->n_attrs[e] = na;
    for (int a = 0; a < na; a++) {
        ar__attr *at = &ds->attrs[e][a];
        at->name = ar__strtab_get(&ds->attr_names[e], a);
        const void *p;
        if (find(r, tag(K_ATTR_NUM, e, (unsigned)a))) {
            at->kind = AR_ATTR_NUMERIC;
            if ((st = need(r, tag(K_ATTR_NUM, e, (unsigned)a), 8, (uint64_t)n_ent, &p, "attr")))
                return st;
            at->num = p;
            continue;
        }
        at->kind = AR_ATTR_CATEGORICAL;
        if ((st = need(r, tag(K_ATTR_INDPTR, e, (unsigned)a), 8, (uint64_t)n_ent + 1, &p, "attr")))
            return st;
        at->indptr = p;
        const ar__sec *vo = find(r, tag(K_ATTR_VALUE_OFFS, e, (unsigned)a));
        if (!vo || vo->count < 1 || vo->count > INT32_MAX)
            return corrupt(r, "attribute values");
        int64_t nv = (int64_t)vo->count - 1;
        if ((st = need_strtab(r, K_ATTR_VALUE_OFFS, K_ATTR_VALUE_CHARS, e, (unsigned)a, nv,
                              &at->values, "attribute values")))
            return st;
        if (at->indptr[0] != 0)
            return corrupt(r, "attribute index");
        for (int32_t i = 0; i < n_ent; i++)
            if (at->indptr[i + 1] < at->indptr[i])
                return corrupt(r, "attribute index");
        if ((st = need(r, tag(K_ATTR_CODES, e, (unsigned)a), 4, (uint64_t)at->indptr[n_ent], &p,
                       "attribute codes")))
            return st;
        at->codes = p;
        for (int64_t k = 0; k < at->indptr[n_ent]; k++)
            if (at->codes[k] < 0 || at->codes[k] >= nv)
                return corrupt(r, "attribute code out of range");
    }
    return AR_OK;
}

static ar_status load_sections(reader *r, ar_dataset *ds) {
    const void *p;
    ar_status st;
    uint64_t ni = (uint64_t)ds->n_inter;
#define NEED(kind, size, count, field, what)                                                       \
    do {                                                                                           \
        if ((st = need(r, tag(kind, 0, 0), size, count, &p, what)))                                \
            return st;                                                                             \
        ds->field = p;                                                                             \
    } while (0)
    NEED(K_USER, 4, ni, user, "users");
    NEED(K_ITEM, 4, ni, item, "items");
    NEED(K_TIME, 8, ni, time, "times");
    NEED(K_EVENT, 1, ni, event, "events");
    NEED(K_VALUE, 4, ni, value, "values");
    NEED(K_USER_OFFSETS, 8, (uint64_t)ds->n_users + 1, user_offsets, "user offsets");
#undef NEED
    if ((st = need(r, tag(K_SPLIT, 0, 0), 1, ni, &p, "splits")))
        return st;
    uint8_t *split = ar__dataset_block(ds, (size_t)ni, 1);
    if (!split)
        return ar__fail(r->err, AR_ENOMEM, "%s: out of memory", r->path);
    memcpy(split, p, (size_t)ni);
    ds->split = split;
    if ((st = need(r, tag(K_LAUNCH, 1, 0), 8, (uint64_t)ds->n_items, &p, "launch times")))
        return st;
    ds->launch = p;
    for (unsigned e = 0; e < 2; e++) {
        int64_t n = e == AR_USERS ? ds->n_users : ds->n_items;
        if ((st = need_strtab(r, K_ID_OFFS, K_ID_CHARS, e, 0, n, &ds->ids[e], "ids")))
            return st;
    }
    const ar__sec *ev = find(r, tag(K_EVENT_OFFS, 0, 0));
    if (!ev || ev->count < 2 || ev->count > 256)
        return corrupt(r, "event names");
    if ((st = need_strtab(r, K_EVENT_OFFS, K_EVENT_CHARS, 0, 0, (int64_t)ev->count - 1, &ds->events,
                          "event names")))
        return st;
    if ((st =
             need_strtab(r, K_TITLE_OFFS, K_TITLE_CHARS, 1, 0, ds->n_items, &ds->titles, "titles")))
        return st;
    /* The log must be grouped by user exactly as user_offsets says, with indices in range. */
    if (ds->user_offsets[0] != 0 || (uint64_t)ds->user_offsets[ds->n_users] != ni)
        return corrupt(r, "user offsets");
    for (int32_t u = 0; u < ds->n_users; u++) {
        if (ds->user_offsets[u + 1] < ds->user_offsets[u])
            return corrupt(r, "user offsets");
        for (int64_t k = ds->user_offsets[u]; k < ds->user_offsets[u + 1]; k++)
            if (ds->user[k] != u)
                return corrupt(r, "user column does not match offsets");
    }
    for (uint64_t k = 0; k < ni; k++)
        if (ds->item[k] < 0 || ds->item[k] >= ds->n_items || ds->split[k] > AR_SPLIT_TEST ||
            ds->event[k] >= ds->events.n)
            return corrupt(r, "interaction out of range");
    for (unsigned e = 0; e < 2; e++)
        if ((st = load_attrs(r, ds, e)))
            return st;
    return AR_OK;
}

ar_status ar_dataset_load(const char *path, int verify, ar_dataset **out, ar_error *err) {
    *out = NULL;
    reader r;
    ar_status st =
        ar__secfile_open(&r, path, MAGIC, AR_DATASET_FORMAT_VERSION, verify, "dataset", err);
    if (st)
        return st;
    ar_dataset *ds = ar__dataset_new();
    if (!ds) {
        ar__secfile_close(&r);
        return ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
    }
    memcpy(&ds->n_users, r.extra, 4);
    memcpy(&ds->n_items, r.extra + 4, 4);
    memcpy(&ds->n_inter, r.extra + 8, 8);
    memcpy(&ds->flags, r.extra + 16, 4);
    if (ds->n_users < 0 || ds->n_items < 0 || ds->n_inter < 0)
        st = corrupt(&r, "negative counts");
    if (!st)
        st = load_sections(&r, ds);
    if (st) {
        ar_dataset_free(ds);
        ar__secfile_close(&r);
        return st;
    }
    ar__secfile_detach(&r, &ds->map, &ds->map_len);
    *out = ds;
    return AR_OK;
}
