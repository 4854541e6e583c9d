/*
 * import_recbole.c -- RecBole atomic files (Zhao et al., "RecBole", CIKM 2021).
 *
 * Each file is TAB-separated; its first line is a header of `name:type` fields with type one of
 * token, token_seq, float, float_seq (a token_seq / float_seq value is space-separated).
 *
 *   .inter  user_id:token and item_id:token (required), timestamp and rating (optional, numbers:
 *           rating -> value with the event "rating"; otherwise the event is "interaction" with
 *           value 1). Without a timestamp column the time is the row number within the file and
 *           the dataset loses AR_DS_HAS_TIME. Other columns are ignored.
 *   .item   item_id:token plus attribute columns: token -> categorical, token_seq -> multi-valued
 *           categorical, float -> numeric, float_seq -> ignored. A column named title or
 *           movie_title gives the item's title instead.
 *   .user   user_id:token plus attribute columns, as for .item.
 *
 * Ids are tokens (strings); empty attribute values are skipped. Errors: a header field without
 * ":type", an unknown type, a duplicate name, a missing or mistyped id column, rows whose field
 * count differs from the header's, and non-numeric float values.
 */
#include "data/import.h"

#include <string.h>

typedef enum rb_type { RB_TOKEN, RB_TOKEN_SEQ, RB_FLOAT, RB_FLOAT_SEQ } rb_type;

typedef struct rb_header {
    int n;
    char **name; /* n copied names, without ":type" */
    rb_type *type;
    char **field; /* scratch: one row's fields */
} rb_header;

static void header_free(rb_header *h) {
    if (h->name)
        for (int i = 0; i < h->n; i++)
            ar__free(h->name[i]);
    ar__free(h->name);
    ar__free(h->type);
    ar__free(h->field);
    memset(h, 0, sizeof *h);
}

/* Index of the column called name among the first n, or -1. */
static int header_find(const rb_header *h, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(h->name[i], name) == 0)
            return i;
    return -1;
}

/* Reads the header line (the first line of the file). */
static ar_status header_read(ar__reader *r, rb_header *h) {
    char q[AR__QUOTE_BUF];
    char *line;
    size_t len;
    memset(h, 0, sizeof *h);
    ar_status st = ar__reader_next(r, &line, &len);
    if (st)
        return st;
    if (!line)
        return ar__fail(r->im->err, AR_EEMPTY, "%s: empty file, expected a header line", r->path);
    if (!len)
        return ar__reader_fail(r, AR_EPARSE, "expected a header of name:type fields, got ''");
    int n = ar__count_fields(line, "\t");
    h->name = ar__calloc((size_t)n, sizeof *h->name);
    h->type = ar__alloc_array((size_t)n, sizeof *h->type);
    h->field = ar__alloc_array((size_t)n, sizeof *h->field);
    if (!h->name || !h->type || !h->field)
        return ar__reader_fail(r, AR_ENOMEM, "out of memory");
    h->n = n;
    ar__split(line, "\t", h->field, n);
    static const char *const types[] = {"token", "token_seq", "float", "float_seq"};
    for (int i = 0; i < n; i++) {
        char *f = h->field[i];
        char *colon = strrchr(f, ':');
        if (!colon || colon == f)
            return ar__reader_fail(r, AR_EPARSE, "expected a header field name:type, got '%s'",
                                   ar__quote(q, sizeof q, f));
        *colon = '\0';
        int t = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(colon + 1, types[k]) == 0)
                t = k;
        if (t < 0)
            return ar__reader_fail(r, AR_EPARSE,
                                   "expected a type token, token_seq, float or float_seq for "
                                   "field '%s', got '%s'",
                                   ar__quote(q, sizeof q, f), colon + 1);
        if (header_find(h, i, f) >= 0)
            return ar__reader_fail(r, AR_EPARSE, "expected unique field names, got '%s' twice",
                                   ar__quote(q, sizeof q, f));
        h->type[i] = (rb_type)t;
        if (!(h->name[i] = ar__strdup(f)))
            return ar__reader_fail(r, AR_ENOMEM, "out of memory");
    }
    return AR_OK;
}

/* Index of a required token column. */
static ar_status header_need(ar__reader *r, const rb_header *h, const char *name, int *out) {
    int i = header_find(h, h->n, name);
    if (i < 0 || h->type[i] != RB_TOKEN)
        return ar__reader_fail(r, AR_EPARSE, "expected a header field %s:token, got %s", name,
                               i < 0 ? "none" : "another type");
    *out = i;
    return AR_OK;
}

/* An optional numeric column (float, or token holding numbers); -1 when absent. */
static ar_status header_opt_number(ar__reader *r, const rb_header *h, const char *name, int *out) {
    int i = header_find(h, h->n, name);
    if (i >= 0 && (h->type[i] == RB_TOKEN_SEQ || h->type[i] == RB_FLOAT_SEQ))
        return ar__reader_fail(r, AR_EPARSE, "expected %s:float, got a sequence type", name);
    *out = i;
    return AR_OK;
}

/* Splits a data row into h->field; the field count must match the header. */
static ar_status row_split(ar__reader *r, rb_header *h, char *line) {
    int n = ar__count_fields(line, "\t");
    if (n != h->n) {
        char q[AR__QUOTE_BUF];
        return ar__reader_fail(r, AR_EPARSE,
                               "expected %d TAB-separated fields as in the header, got %d in '%s'",
                               h->n, n, ar__quote(q, sizeof q, line));
    }
    ar__split(line, "\t", h->field, n);
    return AR_OK;
}

ar_status ar__import_recbole(ar__import *im, const char *path, ar_split split) {
    ar__reader r;
    rb_header h;
    memset(&h, 0, sizeof h);
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    int cu = -1, ci = -1, ct = -1, cr = -1;
    st = header_read(&r, &h);
    if (st == AR_EEMPTY)
        st = ar__import_empty(im, path);
    if (st || (st = header_need(&r, &h, "user_id", &cu)) ||
        (st = header_need(&r, &h, "item_id", &ci)) ||
        (st = header_opt_number(&r, &h, "timestamp", &ct)) ||
        (st = header_opt_number(&r, &h, "rating", &cr)))
        goto done;
    if (ct < 0)
        im->flags &= ~AR_DS_HAS_TIME;
    int64_t n = 0;
    char *line;
    size_t len;
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        if (!len)
            continue;
        if ((st = row_split(&r, &h, line)))
            break;
        char **f = h.field;
        int64_t t = n;
        double value = 1;
        if ((st = ar__reader_str_id(&r, f[cu], "a user_id")) ||
            (st = ar__reader_str_id(&r, f[ci], "an item_id")) ||
            (ct >= 0 && (st = ar__reader_time_float(&r, f[ct], "a timestamp", &t))) ||
            (cr >= 0 && (st = ar__reader_number(&r, f[cr], "a rating", 1, &value))))
            break;
        st = ar_builder_add(im->b, f[cu], f[ci], t,
                            cr >= 0 ? AR_EVENT_RATING : AR_EVENT_INTERACTION, (float)value, split);
        if ((st = ar__reader_builder(&r, st)))
            break;
        n++;
    }
    if (!st && n == 0)
        st = ar__import_empty(im, path);
done:
    header_free(&h);
    ar__reader_close(&r);
    return st;
}

ar_status ar__import_recbole_side(ar__import *im, const char *path, ar_entity which) {
    ar__reader r;
    rb_header h;
    memset(&h, 0, sizeof h);
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    const char *id_name = which == AR_ITEMS ? "item_id" : "user_id";
    int cid = -1;
    if ((st = header_read(&r, &h)) || (st = header_need(&r, &h, id_name, &cid)))
        goto done;
    char *line;
    size_t len;
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        if (!len)
            continue;
        if ((st = row_split(&r, &h, line)))
            break;
        char **f = h.field;
        const char *id = f[cid];
        if ((st = ar__reader_str_id(&r, id, which == AR_ITEMS ? "an item_id" : "a user_id")))
            break;
        st = ar__reader_builder(&r, ar_builder_touch(im->b, which, id));
        for (int c = 0; c < h.n && !st; c++) {
            const char *name = h.name[c];
            char *v = f[c];
            if (c == cid || !*v)
                continue;
            if (which == AR_ITEMS &&
                (strcmp(name, "title") == 0 || strcmp(name, "movie_title") == 0)) {
                st = ar__reader_builder(&r, ar_builder_item_title(im->b, id, v));
                continue;
            }
            switch (h.type[c]) {
            case RB_TOKEN:
                st = ar_builder_attr_cat(im->b, which, id, name, v);
                break;
            case RB_TOKEN_SEQ: {
                char *cur = v, *tok;
                while (!st && (tok = ar__next_token(&cur)))
                    st = ar_builder_attr_cat(im->b, which, id, name, tok);
                break;
            }
            case RB_FLOAT: {
                double x;
                char what[AR__QUOTE_BUF + 16];
                snprintf(what, sizeof what, "a number for %s", name);
                if ((st = ar__reader_number(&r, v, what, 0, &x)))
                    goto done;
                st = ar_builder_attr_num(im->b, which, id, name, x);
                break;
            }
            case RB_FLOAT_SEQ:
                break; /* a vector per entity has no column kind to go to */
            }
            st = ar__reader_builder(&r, st);
        }
        if (st)
            break;
    }
done:
    header_free(&h);
    ar__reader_close(&r);
    return st;
}
