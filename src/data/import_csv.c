/*
 * import_csv.c -- generic delimited files (RFC 4180 quoting) through libcsv.
 *
 * Columns are mapped by role: user and item (required), time, value and event (optional). With
 * opt->header the first row names the columns and the roles are names in it; without, the roles
 * are 1-based column numbers. Every row must have as many fields as the first row (the header,
 * when there is one). Time is integer seconds (AR_DS_HAS_TIME is set when the column is given;
 * otherwise the time is the row number within the file). Value is a finite number, 1 when there
 * is no value column. Event names are registered with ar_builder_event (at most 255 in all,
 * including the built-in ones); without an event column the event is "interaction".
 *
 * The file is fed to libcsv one line at a time (each followed by "\n"), so line numbers in
 * messages are exact, a quoted field may still span lines, and CRLF line ends become LF inside
 * such fields. libcsv runs in strict mode: a stray quote, or an unterminated quoted field at the
 * end of the file, is AR_EPARSE. Spaces around unquoted fields are trimmed. libcsv's buffers go
 * through the library's allocator hooks.
 */
#include "data/import.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

enum { ROLE_USER, ROLE_ITEM, ROLE_TIME, ROLE_VALUE, ROLE_EVENT, N_ROLES };

static const char *const role_name[N_ROLES] = {"user", "item", "time", "value", "event"};

typedef struct csv_ctx {
    ar__reader *r;
    ar__import *im;
    ar_split split;
    ar_status st;
    bool header_pending;
    int ncols;        /* fields per row; -1 until the first row */
    int col[N_ROLES]; /* 0-based column of each role, -1 when absent */
    char *row;        /* the current row's fields, each NUL-terminated, back to back */
    size_t row_len, row_cap;
    size_t *offs; /* start of field i in row */
    size_t offs_cap;
    int nf;
    int64_t n; /* interactions added */
} csv_ctx;

static void on_field(void *data, size_t len, void *ud) {
    csv_ctx *c = ud;
    if (c->st)
        return;
    if (c->nf == INT32_MAX ||
        ar__grow((void **)&c->offs, &c->offs_cap, (size_t)c->nf + 1, sizeof *c->offs) ||
        ar__grow((void **)&c->row, &c->row_cap, c->row_len + len + 1, 1)) {
        c->st = ar__reader_fail(c->r, AR_ENOMEM, "out of memory");
        return;
    }
    c->offs[c->nf++] = c->row_len;
    if (len)
        memcpy(c->row + c->row_len, data, len);
    c->row[c->row_len + len] = '\0';
    c->row_len += len + 1;
}

static const char *field(const csv_ctx *c, int i) {
    return c->row + c->offs[i];
}

/* The header row, joined back with the delimiter for messages. */
static const char *header_text(const csv_ctx *c, char *buf, size_t cap) {
    char joined[AR__QUOTE_BUF * 2];
    size_t w = 0;
    for (int i = 0; i < c->nf && w + 1 < sizeof joined; i++) {
        if (i)
            joined[w++] = c->im->opt->delimiter ? c->im->opt->delimiter : ',';
        const char *s = field(c, i);
        size_t k = strlen(s);
        if (k > sizeof joined - 1 - w)
            k = sizeof joined - 1 - w;
        memcpy(joined + w, s, k);
        w += k;
    }
    joined[w] = '\0';
    return ar__quote(buf, cap, joined);
}

static ar_status map_header(csv_ctx *c) {
    const ar_import_options *opt = c->im->opt;
    const char *want[N_ROLES] = {opt->col_user, opt->col_item, opt->col_time, opt->col_value,
                                 opt->col_event};
    char q[AR__QUOTE_BUF];
    for (int i = 0; i < c->nf; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(field(c, i), field(c, j)) == 0)
                return ar__reader_fail(c->r, AR_EPARSE,
                                       "expected unique column names in the header, got '%s' "
                                       "twice",
                                       ar__quote(q, sizeof q, field(c, i)));
    for (int role = 0; role < N_ROLES; role++) {
        c->col[role] = -1;
        if (!want[role])
            continue;
        for (int i = 0; i < c->nf && c->col[role] < 0; i++)
            if (strcmp(field(c, i), want[role]) == 0)
                c->col[role] = i;
        if (c->col[role] < 0) {
            char w[AR__QUOTE_BUF];
            return ar__reader_fail(
                c->r, AR_EPARSE, "expected a column named '%s' (%s) in the header, got '%s'",
                ar__quote(w, sizeof w, want[role]), role_name[role], header_text(c, q, sizeof q));
        }
    }
    return AR_OK;
}

static ar_status data_row(csv_ctx *c) {
    ar__reader *r = c->r;
    if (c->nf != c->ncols) {
        char q[AR__QUOTE_BUF];
        return ar__reader_fail(r, AR_EPARSE, "expected %d fields as in the first row, got %d%s%s%s",
                               c->ncols, c->nf, c->nf ? " starting '" : "",
                               c->nf ? ar__quote(q, sizeof q, field(c, 0)) : "", c->nf ? "'" : "");
    }
    const char *user = field(c, c->col[ROLE_USER]), *item = field(c, c->col[ROLE_ITEM]);
    int64_t t = c->n;
    double value = 1;
    int event = AR_EVENT_INTERACTION;
    ar_status st;
    if ((st = ar__reader_str_id(r, user, "a user id")) ||
        (st = ar__reader_str_id(r, item, "an item id")))
        return st;
    if (c->col[ROLE_TIME] >= 0 &&
        (st = ar__reader_time(r, field(c, c->col[ROLE_TIME]), "a time in seconds", &t)))
        return st;
    if (c->col[ROLE_VALUE] >= 0 &&
        (st = ar__reader_number(r, field(c, c->col[ROLE_VALUE]), "a value", 1, &value)))
        return st;
    if (c->col[ROLE_EVENT] >= 0) {
        const char *name = field(c, c->col[ROLE_EVENT]);
        if ((st = ar__reader_str_id(r, name, "an event name")))
            return st;
        st = ar_builder_event(c->im->b, name, &event);
        if (st == AR_ERANGE) {
            char q[AR__QUOTE_BUF];
            return ar__reader_fail(r, st, "expected at most 255 event types, got '%s' as one more",
                                   ar__quote(q, sizeof q, name));
        }
        if ((st = ar__reader_builder(r, st)))
            return st;
    }
    st = ar_builder_add(c->im->b, user, item, t, event, (float)value, c->split);
    if ((st = ar__reader_builder(r, st)))
        return st;
    c->n++;
    return AR_OK;
}

static void on_row(int term, void *ud) {
    (void)term;
    csv_ctx *c = ud;
    if (c->st)
        return;
    if (c->header_pending) {
        c->header_pending = false;
        c->ncols = c->nf;
        c->st = map_header(c);
    } else {
        if (c->ncols < 0) {
            c->ncols = c->nf;
            for (int role = 0; role < N_ROLES && !c->st; role++)
                if (c->col[role] >= c->ncols)
                    c->st = ar__reader_fail(c->r, AR_EPARSE,
                                            "expected at least %d fields (the %s column), got %d",
                                            c->col[role] + 1, role_name[role], c->nf);
        }
        if (!c->st)
            c->st = data_row(c);
    }
    c->nf = 0;
    c->row_len = 0;
}

static int is_lf(unsigned char ch) {
    return ch == '\n';
}
static int space_or_tab(unsigned char ch) {
    return ch == ' ' || ch == '\t';
}
static int space_only(unsigned char ch) {
    return ch == ' ';
}
static int no_space(unsigned char ch) {
    (void)ch;
    return 0;
}

/* Turns a libcsv failure into a message. */
static ar_status csv_failure(csv_ctx *c, struct csv_parser *p, const char *line) {
    char q[AR__QUOTE_BUF];
    switch (csv_error(p)) {
    case CSV_ENOMEM:
        return ar__reader_fail(c->r, AR_ENOMEM, "out of memory");
    case CSV_ETOOBIG:
        return ar__reader_fail(c->r, AR_ERANGE, "expected a smaller field");
    default:
        if (!line)
            return ar__reader_fail(c->r, AR_EPARSE,
                                   "expected a closing quote, got the end of the file");
        return ar__reader_fail(c->r, AR_EPARSE,
                               "expected CSV fields (a quote may only open or close a field), "
                               "got '%s'",
                               ar__quote(q, sizeof q, line));
    }
}

ar_status ar__import_csv(ar__import *im, const char *path, ar_split split) {
    const ar_import_options *opt = im->opt;
    ar__reader r;
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    csv_ctx c;
    memset(&c, 0, sizeof c);
    c.r = &r;
    c.im = im;
    c.split = split;
    c.header_pending = opt->header != 0;
    c.ncols = -1;
    const char *want[N_ROLES] = {opt->col_user, opt->col_item, opt->col_time, opt->col_value,
                                 opt->col_event};
    for (int role = 0; role < N_ROLES; role++) /* checked by ar_import_options_check */
        c.col[role] = want[role] && !opt->header ? atoi(want[role]) - 1 : -1;

    unsigned char delim = (unsigned char)(opt->delimiter ? opt->delimiter : ',');
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        ar__reader_close(&r);
        return ar__fail(im->err, AR_ENOMEM, "%s: out of memory", path);
    }
    csv_set_realloc_func(&p, ar__realloc);
    csv_set_free_func(&p, ar__free);
    csv_set_delim(&p, delim);
    csv_set_term_func(&p, is_lf);
    csv_set_space_func(&p, delim == '\t' ? space_only : delim == ' ' ? no_space : space_or_tab);

    char *line;
    size_t len;
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        if (csv_parse(&p, line, len, on_field, on_row, &c) != len ||
            csv_parse(&p, "\n", 1, on_field, on_row, &c) != 1) {
            st = c.st ? c.st : csv_failure(&c, &p, line);
            break;
        }
        if ((st = c.st))
            break;
    }
    if (!st) {
        if (csv_fini(&p, on_field, on_row, &c) != 0)
            st = c.st ? c.st : csv_failure(&c, &p, NULL);
        else
            st = c.st;
    }
    if (!st && c.n == 0)
        st = ar__import_empty(im, path);
    csv_free(&p);
    ar__free(c.row);
    ar__free(c.offs);
    ar__reader_close(&r);
    return st;
}
