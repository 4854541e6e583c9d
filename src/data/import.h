/*
 * import.h -- shared machinery of the importers (internal, not API).
 *
 * ar_import() (import.c) creates a builder and an ar__import context, then calls one reader per
 * input file. Every reader goes through ar__reader, which yields the file one line at a time
 * (without "\n" or "\r\n"; a missing final newline is fine), counts lines for error messages and
 * reports progress as bytes read over the total size of all input files.
 *
 * Error messages follow one shape, `path:LINE: expected ..., got '...'`, written by
 * ar__reader_fail() and the ar__reader_* parse helpers, which quote the offending token with
 * control bytes escaped so the message stays on one line.
 */
#ifndef AR_IMPORT_H
#define AR_IMPORT_H

#include "core/core.h"

#include <stdio.h>

/* State shared by all readers of one ar_import() call. */
typedef struct ar__import {
    const ar_import_options *opt;
    ar_builder *b;
    ar_error *err;
    int64_t done, total; /* bytes read so far / over all input files */
    int64_t next_report; /* call the progress callback when done reaches this */
    uint32_t flags;      /* dataset flags collected by the readers */
} ar__import;

/* A line reader over one file. */
typedef struct ar__reader {
    ar__import *im;
    const char *path;
    FILE *f;
    char *buf; /* read buffer: bytes buf[pos..len) are not consumed yet */
    size_t pos, len;
    char *line; /* the current line, NUL-terminated */
    size_t line_cap;
    int64_t lineno; /* 1-based number of the current line; 0 before the first */
    int eof;
} ar__reader;

/* Size of the buffers that hold a canonical integer id ("2147483647" + NUL, with room). */
#define AR__ID_BUF 16

/* Opens path for reading. AR_EIO (message "path: cannot open: reason") when it cannot. */
ar_status ar__reader_open(ar__reader *r, ar__import *im, const char *path);
/* Closes the file and frees the buffers. Safe on a reader whose open failed. */
void ar__reader_close(ar__reader *r);
/* Reads the next line. On success *line points to it (NUL-terminated, owned by the reader, valid
 * until the next call) and *len is its length; at end of file *line is NULL. A line containing a
 * NUL byte is AR_EPARSE; read errors are AR_EIO; a progress callback that asks to stop gives
 * AR_ECANCELED. */
ar_status ar__reader_next(ar__reader *r, char **line, size_t *len);

/* Writes "path:LINE: " (just "path: " while r->lineno is 0, i.e. no line is known) followed by
 * the formatted text into the error and returns st. */
ar_status ar__reader_fail(ar__reader *r, ar_status st, const char *fmt, ...) AR__PRINTF(3, 4);
/* Copies s into dst (cap bytes) for quoting in a message: control bytes become \xNN and long
 * strings are cut with "...". Returns dst. */
const char *ar__quote(char *dst, size_t cap, const char *s);
#define AR__QUOTE_BUF 96

/* Turns a builder failure into a message naming the line (AR_ENOMEM stays AR_ENOMEM). */
ar_status ar__reader_builder(ar__reader *r, ar_status st);

/* Parses an integer id in 0..2147483647 (digits with an optional sign) into its canonical
 * decimal form in buf (AR__ID_BUF bytes), so "007" and "7" are the same id. `what` names the
 * field in the message. AR_EPARSE when s is not an integer, AR_ERANGE when it is out of range. */
ar_status ar__reader_int_id(ar__reader *r, const char *s, const char *what, char *buf);
/* Parses a finite number that fits a float when as_float is set. AR_EPARSE when s is not a
 * number, AR_ERANGE for NaN, infinities and overflow. */
ar_status ar__reader_number(ar__reader *r, const char *s, const char *what, int as_float,
                            double *out);
/* Parses a decimal integer time in int64 range (AR_EPARSE / AR_ERANGE as above). */
ar_status ar__reader_time(ar__reader *r, const char *s, const char *what, int64_t *out);
/* Parses a number and converts it to whole seconds (truncating), for float-typed timestamps. */
ar_status ar__reader_time_float(ar__reader *r, const char *s, const char *what, int64_t *out);
/* Checks that s is a non-empty string id. */
ar_status ar__reader_str_id(ar__reader *r, const char *s, const char *what);

/* Number of fields of line separated by sep (a non-empty string): occurrences + 1. */
int ar__count_fields(const char *line, const char *sep);
/* Splits line in place at sep, writing at most max field pointers; returns the field count. */
int ar__split(char *line, const char *sep, char **fields, int max);
/* The next token of a string of tokens separated by runs of spaces and tabs, or NULL when there
 * is none. *cursor advances; the token is NUL-terminated in place. */
char *ar__next_token(char **cursor);

/* The end-of-file check every interaction reader does: AR_EEMPTY "path: no interactions". */
ar_status ar__import_empty(ar__import *im, const char *path);

/* Format readers. Interaction readers add the file's interactions with the given split label;
 * the others add item or user attributes. All report errors through im->err. */
ar_status ar__import_movielens(ar__import *im, const char *path, ar_split split);
ar_status ar__import_movielens_items(ar__import *im, const char *path);
ar_status ar__import_movielens_users(ar__import *im, const char *path);
ar_status ar__import_recbole(ar__import *im, const char *path, ar_split split);
ar_status ar__import_recbole_side(ar__import *im, const char *path, ar_entity which);
ar_status ar__import_lightgcn(ar__import *im, const char *path, ar_split split);
/* "user item item ..." lines: items at positions 0, 1, 2, ... (shared by lightgcn and s3rec). */
ar_status ar__import_user_lines(ar__import *im, const char *path, ar_split split);
ar_status ar__import_s3rec(ar__import *im, const char *path, ar_split split);
ar_status ar__import_s3rec_attributes(ar__import *im, const char *path);
ar_status ar__import_csv(ar__import *im, const char *path, ar_split split);

#endif
