/*
 * builder.c -- collects interactions and attributes under string ids and freezes them into an
 * ar_dataset.
 *
 * Ids are interned as they arrive; build() then assigns dense indices in ascending id order
 * (numeric when every id of the entity is a decimal integer, byte order otherwise), so the same
 * data gives the same indices whatever the order of the input lines. Interactions are stably
 * bucketed by user, then sorted by time within each user, keeping input order among equal times.
 */
#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pair_cat {
    int32_t entity, code;
} pair_cat;

typedef struct pair_num {
    int32_t entity;
    double value;
} pair_num;

typedef struct battr {
    ar_attr_kind kind;
    ar__intern values; /* categorical value strings */
    pair_cat *cat;
    pair_num *num;
    size_t n, cap;
} battr;

struct ar_builder {
    ar__intern ids[2];
    ar__intern events;
    int32_t *user, *item;
    int64_t *time;
    uint8_t *event, *split;
    float *value;
    size_t n, cap;
    ar__intern attr_names[2];
    battr *attrs[2];
    size_t attrs_cap[2];
    int32_t *launch_item; /* launch times: parallel arrays (item interner id, time) */
    int64_t *launch_time;
    size_t n_launch, launch_cap, launch_time_cap;
    ar__intern titles; /* title strings; title_of pairs below */
    pair_cat *title_of;
    size_t n_title, title_cap;
    uint32_t flags;
};

static const char *const builtin_events[AR_EVENT_N_BUILTIN] = {
    "interaction", "view", "click", "cart", "purchase", "rating", "impression"};

ar_status ar_builder_create(ar_builder **out) {
    *out = NULL;
    ar_builder *b = ar__calloc(1, sizeof *b);
    if (!b)
        return AR_ENOMEM;
    for (int e = 0; e < 2; e++) {
        ar__intern_init(&b->ids[e]);
        ar__intern_init(&b->attr_names[e]);
    }
    ar__intern_init(&b->events);
    ar__intern_init(&b->titles);
    for (int i = 0; i < AR_EVENT_N_BUILTIN; i++) {
        int32_t code;
        if (ar__intern_put(&b->events, builtin_events[i], &code, NULL)) {
            ar_builder_free(b);
            return AR_ENOMEM;
        }
    }
    *out = b;
    return AR_OK;
}

void ar_builder_free(ar_builder *b) {
    if (!b)
        return;
    for (int e = 0; e < 2; e++) {
        ar__intern_deinit(&b->ids[e]);
        for (int64_t a = 0; a < b->attr_names[e].n; a++) {
            ar__intern_deinit(&b->attrs[e][a].values);
            ar__free(b->attrs[e][a].cat);
            ar__free(b->attrs[e][a].num);
        }
        ar__free(b->attrs[e]);
        ar__intern_deinit(&b->attr_names[e]);
    }
    ar__intern_deinit(&b->events);
    ar__intern_deinit(&b->titles);
    ar__free(b->user);
    ar__free(b->item);
    ar__free(b->time);
    ar__free(b->event);
    ar__free(b->split);
    ar__free(b->value);
    ar__free(b->launch_item);
    ar__free(b->launch_time);
    ar__free(b->title_of);
    ar__free(b);
}

ar_status ar_builder_event(ar_builder *b, const char *name, int *code) {
    int32_t found = ar__intern_get(&b->events, name);
    if (found < 0 && b->events.n >= 255)
        return AR_ERANGE;
    int32_t c;
    ar_status st = ar__intern_put(&b->events, name, &c, NULL);
    if (st)
        return st;
    *code = c;
    return AR_OK;
}

void ar_builder_set_flags(ar_builder *b, uint32_t flags) {
    b->flags = flags;
}

ar_status ar_builder_touch(ar_builder *b, ar_entity which, const char *id) {
    int32_t x;
    if ((unsigned)which > 1)
        return AR_EINVAL;
    return ar__intern_put(&b->ids[which], id, &x, NULL);
}

ar_status ar_builder_add(ar_builder *b, const char *user, const char *item, int64_t time, int event,
                         float value, ar_split split) {
    if (!isfinite(value))
        return AR_ERANGE;
    if (event < 0 || event >= b->events.n || (unsigned)split > AR_SPLIT_TEST)
        return AR_EINVAL;
    int32_t u, i;
    ar_status st = ar__intern_put(&b->ids[AR_USERS], user, &u, NULL);
    if (!st)
        st = ar__intern_put(&b->ids[AR_ITEMS], item, &i, NULL);
    if (st)
        return st;
    if (b->n == b->cap) {
        size_t cap = b->cap, need = b->n + 1;
        /* Grow every column to the same capacity; only commit cap when all succeed. */
        size_t c1 = cap, c2 = cap, c3 = cap, c4 = cap, c5 = cap, c6 = cap;
        if (ar__grow((void **)&b->user, &c1, need, sizeof *b->user) ||
            ar__grow((void **)&b->item, &c2, need, sizeof *b->item) ||
            ar__grow((void **)&b->time, &c3, need, sizeof *b->time) ||
            ar__grow((void **)&b->event, &c4, need, sizeof *b->event) ||
            ar__grow((void **)&b->split, &c5, need, sizeof *b->split) ||
            ar__grow((void **)&b->value, &c6, need, sizeof *b->value))
            return AR_ENOMEM;
        b->cap = c1;
    }
    b->user[b->n] = u;
    b->item[b->n] = i;
    b->time[b->n] = time;
    b->event[b->n] = (uint8_t)event;
    b->split[b->n] = (uint8_t)split;
    b->value[b->n] = value;
    b->n++;
    return AR_OK;
}

static ar_status get_attr(ar_builder *b, ar_entity which, const char *id, const char *attr,
                          ar_attr_kind kind, int32_t *entity, battr **out) {
    if ((unsigned)which > 1)
        return AR_EINVAL;
    int32_t a;
    int added;
    /* Room for one more column first, so a name is never interned without its column. */
    ar_status st = ar__grow((void **)&b->attrs[which], &b->attrs_cap[which],
                            (size_t)b->attr_names[which].n + 1, sizeof(battr));
    if (!st)
        st = ar__intern_put(&b->ids[which], id, entity, NULL);
    if (!st)
        st = ar__intern_put(&b->attr_names[which], attr, &a, &added);
    if (st)
        return st;
    if (added) {
        battr *ba = &b->attrs[which][a];
        memset(ba, 0, sizeof *ba);
        ba->kind = kind;
        ar__intern_init(&ba->values);
    }
    if (b->attrs[which][a].kind != kind)
        return AR_EINVAL;
    *out = &b->attrs[which][a];
    return AR_OK;
}

ar_status ar_builder_attr_cat(ar_builder *b, ar_entity which, const char *id, const char *attr,
                              const char *value) {
    int32_t e, code;
    battr *a;
    ar_status st = get_attr(b, which, id, attr, AR_ATTR_CATEGORICAL, &e, &a);
    if (!st)
        st = ar__intern_put(&a->values, value, &code, NULL);
    if (!st)
        st = ar__grow((void **)&a->cat, &a->cap, a->n + 1, sizeof *a->cat);
    if (st)
        return st;
    a->cat[a->n++] = (pair_cat){e, code};
    return AR_OK;
}

ar_status ar_builder_attr_num(ar_builder *b, ar_entity which, const char *id, const char *attr,
                              double value) {
    if (!isfinite(value))
        return AR_ERANGE;
    int32_t e;
    battr *a;
    ar_status st = get_attr(b, which, id, attr, AR_ATTR_NUMERIC, &e, &a);
    if (!st)
        st = ar__grow((void **)&a->num, &a->cap, a->n + 1, sizeof *a->num);
    if (st)
        return st;
    a->num[a->n++] = (pair_num){e, value};
    return AR_OK;
}

ar_status ar_builder_item_launch(ar_builder *b, const char *item, int64_t time) {
    int32_t e;
    ar_status st = ar__intern_put(&b->ids[AR_ITEMS], item, &e, NULL);
    if (!st)
        st = ar__grow((void **)&b->launch_item, &b->launch_cap, b->n_launch + 1,
                      sizeof *b->launch_item);
    if (!st)
        st = ar__grow((void **)&b->launch_time, &b->launch_time_cap, b->n_launch + 1,
                      sizeof *b->launch_time);
    if (st)
        return st;
    b->launch_item[b->n_launch] = e;
    b->launch_time[b->n_launch++] = time;
    return AR_OK;
}

ar_status ar_builder_item_title(ar_builder *b, const char *item, const char *title) {
    int32_t e, t;
    ar_status st = ar__intern_put(&b->ids[AR_ITEMS], item, &e, NULL);
    if (!st)
        st = ar__intern_put(&b->titles, title, &t, NULL);
    if (!st)
        st = ar__grow((void **)&b->title_of, &b->title_cap, b->n_title + 1, sizeof *b->title_of);
    if (st)
        return st;
    b->title_of[b->n_title++] = (pair_cat){e, t};
    return AR_OK;
}

/* -- build ------------------------------------------------------------------------------------ */

typedef struct id_key {
    int64_t num;
    const char *s;
    int32_t id;
} id_key;

static int cmp_num(const void *a, const void *b) {
    const id_key *x = a, *y = b;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return strcmp(x->s, y->s); /* "007" and "7" are different ids with equal value */
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(((const id_key *)a)->s, ((const id_key *)b)->s);
}

/* Computes order[index] = interner id and rank[interner id] = index. */
static ar_status order_ids(const ar__intern *in, int32_t *order, int32_t *rank) {
    int64_t n = in->n;
    id_key *keys = ar__alloc_array((size_t)n, sizeof *keys);
    if (!keys)
        return AR_ENOMEM;
    bool numeric = true;
    for (int64_t i = 0; i < n; i++) {
        keys[i].s = ar__intern_str(in, (int32_t)i);
        keys[i].id = (int32_t)i;
        if (numeric && !ar__parse_i64(keys[i].s, INT64_MIN, INT64_MAX, &keys[i].num))
            numeric = false;
    }
    qsort(keys, (size_t)n, sizeof *keys, numeric ? cmp_num : cmp_str);
    for (int64_t i = 0; i < n; i++) {
        order[i] = keys[i].id;
        rank[keys[i].id] = (int32_t)i;
    }
    ar__free(keys);
    return AR_OK;
}

typedef struct row_key {
    int64_t time;
    int64_t row;
} row_key;

static int cmp_row(const void *a, const void *b) {
    const row_key *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static ar_status build_attrs(ar_builder *b, ar_dataset *ds, ar_entity e, const int32_t *rank) {
    int64_t na = b->attr_names[e].n;
    int32_t n_ent = e == AR_USERS ? ds->n_users : ds->n_items;
    ds->n_attrs[e] = (int)na;
    if (!na)
        return AR_OK;
    ds->attrs[e] = ar__calloc((size_t)na, sizeof(ar__attr));
    if (!ds->attrs[e])
        return AR_ENOMEM;
    ar_status st = ar__strtab_from_intern(ds, &ds->attr_names[e], &b->attr_names[e], NULL);
    if (st)
        return st;
    for (int64_t a = 0; a < na; a++) {
        battr *ba = &b->attrs[e][a];
        ar__attr *da = &ds->attrs[e][a];
        da->name = ar__strtab_get(&ds->attr_names[e], a);
        da->kind = ba->kind;
        if (ba->kind == AR_ATTR_NUMERIC) {
            double *num = ar__dataset_block(ds, (size_t)n_ent, sizeof *num);
            if (!num)
                return AR_ENOMEM;
            for (int32_t i = 0; i < n_ent; i++)
                num[i] = NAN;
            for (size_t k = 0; k < ba->n; k++) /* later values win */
                num[rank[ba->num[k].entity]] = ba->num[k].value;
            da->num = num;
            continue;
        }
        /* Counting sort by dense entity index (stable), then drop repeated codes. */
        pair_cat *tmp = ar__alloc_array(ba->n, sizeof *tmp);
        int64_t *indptr = ar__dataset_block(ds, (size_t)n_ent + 1, sizeof *indptr);
        if (!tmp || !indptr) {
            ar__free(tmp);
            return AR_ENOMEM;
        }
        for (size_t k = 0; k < ba->n; k++)
            indptr[rank[ba->cat[k].entity] + 1]++;
        for (int32_t i = 0; i < n_ent; i++)
            indptr[i + 1] += indptr[i];
        int64_t *fill = ar__alloc_array((size_t)n_ent + 1, sizeof *fill);
        if (!fill) {
            ar__free(tmp);
            return AR_ENOMEM;
        }
        memcpy(fill, indptr, ((size_t)n_ent + 1) * sizeof *fill);
        for (size_t k = 0; k < ba->n; k++)
            tmp[fill[rank[ba->cat[k].entity]]++] = ba->cat[k];
        int32_t *codes = ar__dataset_block(ds, ba->n, sizeof *codes);
        if (!codes) {
            ar__free(tmp);
            ar__free(fill);
            return AR_ENOMEM;
        }
        int64_t w = 0;
        for (int32_t i = 0; i < n_ent; i++) {
            int64_t start = w;
            for (int64_t k = indptr[i]; k < indptr[i + 1]; k++) {
                bool dup = false;
                for (int64_t j = start; j < w && !dup; j++)
                    dup = codes[j] == tmp[k].code;
                if (!dup)
                    codes[w++] = tmp[k].code;
            }
            indptr[i] = start;
        }
        indptr[n_ent] = w;
        ar__free(tmp);
        ar__free(fill);
        da->indptr = indptr;
        da->codes = codes;
        st = ar__strtab_from_intern(ds, &da->values, &ba->values, NULL);
        if (st)
            return st;
    }
    return AR_OK;
}

ar_status ar_builder_build(ar_builder *b, ar_dataset **out, ar_progress_fn progress, void *ud) {
    *out = NULL;
    if (b->n == 0)
        return AR_EEMPTY;
    ar_dataset *ds = ar__dataset_new();
    if (!ds)
        return AR_ENOMEM;
    ar_status st = AR_ENOMEM;
    int32_t *order[2] = {NULL, NULL}, *rank[2] = {NULL, NULL};
    row_key *keys = NULL;
    int64_t n = (int64_t)b->n;

    ds->flags = b->flags;
    ds->n_users = (int32_t)b->ids[AR_USERS].n;
    ds->n_items = (int32_t)b->ids[AR_ITEMS].n;
    ds->n_inter = n;
    for (int e = 0; e < 2; e++) {
        size_t cnt = (size_t)b->ids[e].n;
        order[e] = ar__alloc_array(cnt + 1, sizeof(int32_t));
        rank[e] = ar__alloc_array(cnt + 1, sizeof(int32_t));
        st = AR_ENOMEM;
        if (!order[e] || !rank[e])
            goto done;
        if ((st = order_ids(&b->ids[e], order[e], rank[e])))
            goto done;
        if ((st = ar__strtab_from_intern(ds, &ds->ids[e], &b->ids[e], order[e])))
            goto done;
    }
    st = AR_ENOMEM;

    /* Counting sort by user keeps input order; then sort each user's rows by (time, row). */
    int64_t *offsets = ar__dataset_block(ds, (size_t)ds->n_users + 1, sizeof *offsets);
    keys = ar__alloc_array((size_t)n, sizeof *keys);
    int32_t *user = ar__dataset_block(ds, (size_t)n, sizeof *user);
    int32_t *item = ar__dataset_block(ds, (size_t)n, sizeof *item);
    int64_t *time = ar__dataset_block(ds, (size_t)n, sizeof *time);
    uint8_t *event = ar__dataset_block(ds, (size_t)n, 1);
    uint8_t *split = ar__dataset_block(ds, (size_t)n, 1);
    float *value = ar__dataset_block(ds, (size_t)n, sizeof *value);
    if (!offsets || !keys || !user || !item || !time || !event || !split || !value)
        goto done;
    for (int64_t r = 0; r < n; r++)
        offsets[rank[AR_USERS][b->user[r]] + 1]++;
    for (int32_t u = 0; u < ds->n_users; u++)
        offsets[u + 1] += offsets[u];
    {
        int64_t *fill = ar__alloc_array((size_t)ds->n_users, sizeof *fill);
        if (!fill)
            goto done;
        memcpy(fill, offsets, (size_t)ds->n_users * sizeof *fill);
        for (int64_t r = 0; r < n; r++) {
            int64_t pos = fill[rank[AR_USERS][b->user[r]]]++;
            keys[pos].time = b->time[r];
            keys[pos].row = r;
        }
        ar__free(fill);
    }
    for (int32_t u = 0; u < ds->n_users; u++) {
        qsort(keys + offsets[u], (size_t)(offsets[u + 1] - offsets[u]), sizeof *keys, cmp_row);
        if (progress && (u & 4095) == 0 && progress(ud, u, ds->n_users)) {
            st = AR_ECANCELED;
            goto done;
        }
    }
    for (int64_t pos = 0; pos < n; pos++) {
        int64_t r = keys[pos].row;
        user[pos] = rank[AR_USERS][b->user[r]];
        item[pos] = rank[AR_ITEMS][b->item[r]];
        time[pos] = b->time[r];
        event[pos] = b->event[r];
        split[pos] = b->split[r];
        value[pos] = b->value[r];
    }
    ds->user_offsets = offsets;
    ds->user = user;
    ds->item = item;
    ds->time = time;
    ds->event = event;
    ds->split = split;
    ds->value = value;

    if ((st = ar__strtab_from_intern(ds, &ds->events, &b->events, NULL)))
        goto done;
    st = AR_ENOMEM;
    int64_t *launch = ar__dataset_block(ds, (size_t)ds->n_items, sizeof *launch);
    if (!launch)
        goto done;
    for (int32_t i = 0; i < ds->n_items; i++)
        launch[i] = INT64_MIN;
    for (size_t k = 0; k < b->n_launch; k++)
        launch[rank[AR_ITEMS][b->launch_item[k]]] = b->launch_time[k];
    ds->launch = launch;

    /* Titles: a string table over items, "" where unknown. */
    {
        int32_t *title_id = ar__alloc_array((size_t)ds->n_items, sizeof *title_id);
        if (!title_id)
            goto done;
        for (int32_t i = 0; i < ds->n_items; i++)
            title_id[i] = -1;
        for (size_t k = 0; k < b->n_title; k++)
            title_id[rank[AR_ITEMS][b->title_of[k].entity]] = b->title_of[k].code;
        size_t bytes = 0;
        for (int32_t i = 0; i < ds->n_items; i++)
            bytes += (title_id[i] >= 0 ? strlen(ar__intern_str(&b->titles, title_id[i])) : 0) + 1;
        int64_t *offs = ar__dataset_block(ds, (size_t)ds->n_items + 1, sizeof *offs);
        char *chars = ar__dataset_block(ds, bytes, 1);
        if (!offs || !chars) {
            ar__free(title_id);
            goto done;
        }
        size_t pos = 0;
        for (int32_t i = 0; i < ds->n_items; i++) {
            const char *s = title_id[i] >= 0 ? ar__intern_str(&b->titles, title_id[i]) : "";
            size_t len = strlen(s) + 1;
            memcpy(chars + pos, s, len);
            offs[i] = (int64_t)pos;
            pos += len;
        }
        offs[ds->n_items] = (int64_t)pos;
        ds->titles = (ar__strtab){ds->n_items, offs, chars};
        ar__free(title_id);
    }

    for (int e = 0; e < 2; e++)
        if ((st = build_attrs(b, ds, (ar_entity)e, rank[e])))
            goto done;
    if (progress)
        progress(ud, ds->n_users, ds->n_users);
    st = AR_OK;
done:
    for (int e = 0; e < 2; e++) {
        ar__free(order[e]);
        ar__free(rank[e]);
    }
    ar__free(keys);
    if (st) {
        ar_dataset_free(ds);
        return st;
    }
    *out = ds;
    return AR_OK;
}
