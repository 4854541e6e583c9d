/*
 * import.c -- ar_import() and the machinery its format readers share: a line reader over FILE*
 * that counts lines, strips "\n" / "\r\n", accepts a missing final newline and reports progress;
 * field splitting; and the number/id parsers that turn bad tokens into one-line messages of the
 * form `path:LINE: expected ..., got '...'`.
 *
 * The readers for each format live in import_<format>.c and only ever add to the builder, so
 * a failure anywhere leaves nothing behind but the builder, which ar_import() frees.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/import.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bytes read from the file at a time. Progress is reported at most once per chunk. */
#define CHUNK ((size_t)1 << 16)

/* -- options ---------------------------------------------------------------------------------- */

ar_import_options ar_import_options_default(void) {
    ar_import_options o;
    memset(&o, 0, sizeof o);
    o.format = AR_FORMAT_MOVIELENS;
    o.delimiter = 0; /* ',' */
    o.header = 0;
    return o;
}

/* A 1-based column number as the CSV reader takes it without a header. */
static bool is_column_number(const char *s) {
    int64_t v;
    return ar__parse_i64(s, 1, 1000000, &v) && s[0] != '+';
}

const char *ar_import_options_check(const ar_import_options *opt) {
    if (!opt)
        return "no options given";
    if ((unsigned)opt->format > AR_FORMAT_CSV)
        return "unknown format";
    if (!opt->train || !*opt->train)
        return "no interaction (train) file given";
    if ((opt->test && !*opt->test) || (opt->valid && !*opt->valid) ||
        (opt->items && !*opt->items) || (opt->users && !*opt->users) ||
        (opt->attributes && !*opt->attributes))
        return "a file name is empty";
    bool movielens_or_recbole =
        opt->format == AR_FORMAT_MOVIELENS || opt->format == AR_FORMAT_RECBOLE;
    if ((opt->items || opt->users) && !movielens_or_recbole)
        return "item and user files are read only by the movielens and recbole formats";
    if (opt->attributes && opt->format != AR_FORMAT_S3REC)
        return "an attribute file is read only by the s3rec format";
    const char *cols[5] = {opt->col_user, opt->col_item, opt->col_time, opt->col_value,
                           opt->col_event};
    if (opt->format != AR_FORMAT_CSV) {
        for (int i = 0; i < 5; i++)
            if (cols[i])
                return "column options apply only to the csv format";
        return NULL;
    }
    if (!opt->col_user || !opt->col_item)
        return "csv needs the user and item columns";
    char d = opt->delimiter;
    if (d == '"' || d == '\n' || d == '\r')
        return "the csv delimiter cannot be a quote or a line break";
    for (int i = 0; i < 5; i++) {
        if (!cols[i])
            continue;
        if (!*cols[i])
            return "a csv column name is empty";
        if (!opt->header && !is_column_number(cols[i]))
            return "without a header, csv columns are 1-based column numbers";
        for (int j = 0; j < i; j++)
            if (cols[j] && strcmp(cols[i], cols[j]) == 0)
                return "two csv roles name the same column";
    }
    return NULL;
}

int ar_format_parse(const char *name) {
    static const char *const names[] = {"movielens", "recbole", "lightgcn", "s3rec", "csv"};
    if (!name)
        return -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* -- the line reader -------------------------------------------------------------------------- */

/* Errno as text without strerror(), which is not thread-safe. */
static const char *errno_text(int e) {
    switch (e) {
    case ENOENT:
        return "no such file or directory";
    case EACCES:
        return "permission denied";
    case EISDIR:
        return "is a directory";
    case ENOTDIR:
        return "a path component is not a directory";
    case EMFILE:
    case ENFILE:
        return "too many open files";
    default:
        return "input/output error";
    }
}

ar_status ar__reader_open(ar__reader *r, ar__import *im, const char *path) {
    memset(r, 0, sizeof *r);
    r->im = im;
    r->path = path;
    r->f = fopen(path, "rb");
    if (!r->f)
        return ar__fail(im->err, AR_EIO, "%s: cannot open: %s", path, errno_text(errno));
    r->buf = ar__malloc(CHUNK);
    if (!r->buf) {
        ar__reader_close(r);
        return ar__fail(im->err, AR_ENOMEM, "%s: out of memory", path);
    }
    return AR_OK;
}

void ar__reader_close(ar__reader *r) {
    if (r->f)
        fclose(r->f);
    r->f = NULL;
    ar__free(r->buf);
    ar__free(r->line);
    r->buf = r->line = NULL;
}

/* Counts bytes read and calls the progress callback every ~1/200 of the total. */
static ar_status report(ar__reader *r, size_t got) {
    ar__import *im = r->im;
    im->done += (int64_t)got;
    if (!im->opt->progress || im->done < im->next_report)
        return AR_OK;
    int64_t step = im->total / 200;
    if (step < (int64_t)CHUNK)
        step = (int64_t)CHUNK;
    im->next_report = im->done + step;
    if (im->opt->progress(im->opt->progress_data, im->done, im->total))
        return ar__fail(im->err, AR_ECANCELED, "%s: import canceled", r->path);
    return AR_OK;
}

ar_status ar__reader_next(ar__reader *r, char **line, size_t *len) {
    *line = NULL;
    *len = 0;
    size_t n = 0;
    bool any = false;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                break;
            size_t got = fread(r->buf, 1, CHUNK, r->f);
            if (got < CHUNK) {
                if (ferror(r->f))
                    return ar__fail(r->im->err, AR_EIO, "%s:%lld: read error", r->path,
                                    (long long)r->lineno + 1);
                r->eof = 1;
            }
            r->pos = 0;
            r->len = got;
            ar_status st = report(r, got);
            if (st)
                return st;
            if (!got)
                break;
        }
        char *start = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        if (ar__grow((void **)&r->line, &r->line_cap, n + take + 1, 1))
            return ar__fail(r->im->err, AR_ENOMEM, "%s:%lld: out of memory", r->path,
                            (long long)r->lineno + 1);
        memcpy(r->line + n, start, take);
        n += take;
        any = true;
        r->pos += take + (nl ? 1 : 0);
        if (nl)
            break;
    }
    if (!any)
        return AR_OK;
    r->lineno++;
    if (n > 0 && r->line[n - 1] == '\r')
        n--;
    r->line[n] = '\0';
    const char *nul = memchr(r->line, '\0', n);
    if (nul)
        return ar__reader_fail(r, AR_EPARSE, "expected text, got a NUL byte at column %zu",
                               (size_t)(nul - r->line) + 1);
    *line = r->line;
    *len = n;
    return AR_OK;
}

/* -- messages and parsers --------------------------------------------------------------------- */

ar_status ar__reader_fail(ar__reader *r, ar_status st, const char *fmt, ...) {
    ar_error *err = r->im->err;
    if (!err)
        return st;
    size_t cap = sizeof err->msg;
    /* Line 0 means "no line known" (e.g. a position inside a parsed JSON document). */
    int k = r->lineno > 0 ? snprintf(err->msg, cap, "%s:%lld: ", r->path, (long long)r->lineno)
                          : snprintf(err->msg, cap, "%s: ", r->path);
    if (k < 0 || (size_t)k >= cap)
        return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + k, cap - (size_t)k, fmt, ap);
    va_end(ap);
    return st;
}

const char *ar__quote(char *dst, size_t cap, const char *s) {
    size_t w = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = (c < 0x20 || c == 0x7f) ? 4 : 1;
        if (w + need + 4 > cap) {
            memcpy(dst + w, "...", 4);
            return dst;
        }
        if (need == 4)
            snprintf(dst + w, 5, "\\x%02x", c);
        else
            dst[w] = (char)c;
        w += need;
    }
    dst[w] = '\0';
    return dst;
}

ar_status ar__reader_builder(ar__reader *r, ar_status st) {
    if (!st)
        return AR_OK;
    if (st == AR_ENOMEM)
        return ar__reader_fail(r, st, "out of memory");
    if (st == AR_ERANGE)
        return ar__reader_fail(r, st, "expected at most 2147483647 distinct ids or values");
    return ar__reader_fail(r, st, "cannot add this line: %s", ar_strerror(st));
}

ar_status ar__reader_str_id(ar__reader *r, const char *s, const char *what) {
    if (!*s)
        return ar__reader_fail(r, AR_EPARSE, "expected %s, got ''", what);
    return AR_OK;
}

ar_status ar__reader_int_id(ar__reader *r, const char *s, const char *what, char *buf) {
    char q[AR__QUOTE_BUF];
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!*p)
        goto not_int;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto not_int;
        if (v <= INT32_MAX) /* stays below 2^35, so no overflow */
            v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > INT32_MAX || (neg && v != 0))
        return ar__reader_fail(r, AR_ERANGE, "expected %s in 0..2147483647, got '%s'", what,
                               ar__quote(q, sizeof q, s));
    snprintf(buf, AR__ID_BUF, "%u", (unsigned)v);
    return AR_OK;
not_int:
    return ar__reader_fail(r, AR_EPARSE, "expected %s (an integer in 0..2147483647), got '%s'",
                           what, ar__quote(q, sizeof q, s));
}

ar_status ar__reader_number(ar__reader *r, const char *s, const char *what, int as_float,
                            double *out) {
    char q[AR__QUOTE_BUF];
    char *end = NULL;
    double v = 0;
    /* strtod skips leading white space; a field that starts with it is malformed here. */
    if (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\v' && *s != '\f')
        v = strtod(s, &end);
    if (!end || end == s || *end)
        return ar__reader_fail(r, AR_EPARSE, "expected %s (a number), got '%s'", what,
                               ar__quote(q, sizeof q, s));
    if (!isfinite(v) || (as_float && fabs(v) > FLT_MAX))
        return ar__reader_fail(r, AR_ERANGE, "expected %s (a finite number), got '%s'", what,
                               ar__quote(q, sizeof q, s));
    *out = v;
    return AR_OK;
}

ar_status ar__reader_time(ar__reader *r, const char *s, const char *what, int64_t *out) {
    char q[AR__QUOTE_BUF];
    const char *p = s + (*s == '+' || *s == '-');
    bool digits = *p != '\0';
    for (; *p && digits; p++)
        digits = *p >= '0' && *p <= '9';
    if (!digits)
        return ar__reader_fail(r, AR_EPARSE, "expected %s (an integer), got '%s'", what,
                               ar__quote(q, sizeof q, s));
    int64_t v;
    if (!ar__parse_i64(s, INT64_MIN, INT64_MAX, &v))
        return ar__reader_fail(r, AR_ERANGE, "expected %s in 64-bit range, got '%s'", what,
                               ar__quote(q, sizeof q, s));
    *out = v;
    return AR_OK;
}

ar_status ar__reader_time_float(ar__reader *r, const char *s, const char *what, int64_t *out) {
    double v = 0;
    ar_status st = ar__reader_number(r, s, what, 0, &v);
    if (st)
        return st;
    if (v < -9.2e18 || v > 9.2e18) {
        char q[AR__QUOTE_BUF];
        return ar__reader_fail(r, AR_ERANGE, "expected %s in 64-bit range, got '%s'", what,
                               ar__quote(q, sizeof q, s));
    }
    *out = (int64_t)v;
    return AR_OK;
}

/* -- splitting -------------------------------------------------------------------------------- */

int ar__count_fields(const char *line, const char *sep) {
    size_t k = strlen(sep);
    int n = 1;
    for (const char *p = strstr(line, sep); p; p = strstr(p + k, sep))
        if (n < INT32_MAX)
            n++;
    return n;
}

int ar__split(char *line, const char *sep, char **fields, int max) {
    size_t k = strlen(sep);
    int n = 0;
    char *p = line;
    for (;;) {
        char *q = strstr(p, sep);
        if (n < max)
            fields[n] = p;
        n++;
        if (!q)
            break;
        memset(q, 0, k);
        p = q + k;
    }
    return n;
}

char *ar__next_token(char **cursor) {
    char *p = *cursor;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p) {
        *cursor = p;
        return NULL;
    }
    char *tok = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    *cursor = p;
    return tok;
}

ar_status ar__import_empty(ar__import *im, const char *path) {
    return ar__fail(im->err, AR_EEMPTY, "%s: no interactions", path);
}

/* -- ar_import -------------------------------------------------------------------------------- */

static int64_t file_size(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    return (int64_t)sb.st_size;
}

static ar_status read_interactions(ar__import *im, const char *path, ar_split split) {
    switch (im->opt->format) {
    case AR_FORMAT_MOVIELENS:
        return ar__import_movielens(im, path, split);
    case AR_FORMAT_RECBOLE:
        return ar__import_recbole(im, path, split);
    case AR_FORMAT_LIGHTGCN:
        return ar__import_lightgcn(im, path, split);
    case AR_FORMAT_S3REC:
        return ar__import_s3rec(im, path, split);
    case AR_FORMAT_CSV:
        return ar__import_csv(im, path, split);
    }
    return AR_EINVAL;
}

static ar_status read_all(ar__import *im) {
    const ar_import_options *opt = im->opt;
    ar_status st = read_interactions(im, opt->train, AR_SPLIT_TRAIN);
    if (!st && opt->test)
        st = read_interactions(im, opt->test, AR_SPLIT_TEST);
    if (!st && opt->valid)
        st = read_interactions(im, opt->valid, AR_SPLIT_VALID);
    if (st)
        return st;
    bool ml = opt->format == AR_FORMAT_MOVIELENS;
    if (opt->items)
        st = ml ? ar__import_movielens_items(im, opt->items)
                : ar__import_recbole_side(im, opt->items, AR_ITEMS);
    if (!st && opt->users)
        st = ml ? ar__import_movielens_users(im, opt->users)
                : ar__import_recbole_side(im, opt->users, AR_USERS);
    if (!st && opt->attributes)
        st = ar__import_s3rec_attributes(im, opt->attributes);
    return st;
}

ar_status ar_import(const ar_import_options *opt, ar_dataset **out, ar_error *err) {
    if (!out)
        return ar__fail(err, AR_EINVAL, "ar_import: no output pointer");
    *out = NULL;
    const char *msg = ar_import_options_check(opt);
    if (msg)
        return ar__fail(err, AR_EINVAL, "invalid import options: %s", msg);

    ar__import im;
    memset(&im, 0, sizeof im);
    im.opt = opt;
    im.err = err;
    const char *files[] = {opt->train, opt->test,  opt->valid,
                           opt->items, opt->users, opt->attributes};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        im.total += file_size(files[i]);
    /* Readers clear AR_DS_HAS_TIME when a file turns out to have no times. */
    if (opt->format == AR_FORMAT_MOVIELENS || opt->format == AR_FORMAT_RECBOLE ||
        (opt->format == AR_FORMAT_CSV && opt->col_time))
        im.flags = AR_DS_HAS_TIME;

    ar_status st = ar_builder_create(&im.b);
    if (st)
        return ar__fail(err, st, "out of memory");
    st = read_all(&im);
    if (!st) {
        ar_builder_set_flags(im.b, im.flags);
        st = ar_builder_build(im.b, out, opt->progress, opt->progress_data);
        if (st == AR_EEMPTY)
            ar__fail(err, st, "%s: no interactions", opt->train);
        else if (st == AR_ECANCELED)
            ar__fail(err, st, "import canceled while building the dataset");
        else if (st)
            ar__fail(err, st, "building the dataset: %s", ar_strerror(st));
    }
    ar_builder_free(im.b);
    return st;
}
