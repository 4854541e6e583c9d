/*
 * ranked.c -- recommendations read from a file, as a ranker, so lists produced by another
 * system (RecBole, a paper's released outputs, a SQL query) can be scored by the same evaluator.
 *
 * Format: one line per user, "user<TAB>item item ...", external ids, best item first. Blank
 * lines are skipped, a trailing CR is ignored, items are separated by runs of spaces or tabs,
 * and the item list may be empty. Every user and item must exist in the dataset, a user may
 * appear once and an item once per line; anything else is AR_EPARSE naming file:line. Users
 * absent from the file get empty lists.
 *
 * Storage: all items in file order in one array; per user the start and length of its run
 * (start = -1 when absent). score() finds positions by a linear scan of the user's list, which
 * is what the sampled protocol (about a hundred candidates) needs; it is not meant for scoring
 * every item.
 */
#define _POSIX_C_SOURCE 200809L
#include "eval/eval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ar_ranked_lists {
    int32_t n_users, n_items;
    int64_t *start; /* n_users; -1 when the user has no line */
    int32_t *len;   /* n_users */
    int64_t *line;  /* n_users: line number of the user's list, for duplicate messages */
    int32_t *items;
    size_t n, cap;
};

void ar_ranked_lists_free(ar_ranked_lists *r) {
    if (!r)
        return;
    ar__free(r->start);
    ar__free(r->len);
    ar__free(r->line);
    ar__free(r->items);
    ar__free(r);
}

static int is_space(char c) {
    return c == ' ' || c == '\t';
}

/* Parses one non-blank line (NUL-terminated, CR/LF removed). */
static ar_status parse_line(ar_ranked_lists *r, ar_dataset *ds, char *s, const char *path,
                            int64_t lineno, int32_t *stamp, ar_error *err) {
    char *tab = strchr(s, '\t');
    if (!tab || tab == s)
        return ar__fail(err, AR_EPARSE, "%s:%lld: expected 'user<TAB>item item ...', got '%.60s'",
                        path, (long long)lineno, s);
    *tab = '\0';
    int32_t u = ar_dataset_lookup(ds, AR_USERS, s);
    if (u < 0)
        return ar__fail(err, AR_EPARSE, "%s:%lld: expected a user id of the dataset, got '%.60s'",
                        path, (long long)lineno, s);
    if (r->start[u] >= 0)
        return ar__fail(err, AR_EPARSE,
                        "%s:%lld: expected each user once, got '%.60s' again (first on line %lld)",
                        path, (long long)lineno, s, (long long)r->line[u]);
    r->start[u] = (int64_t)r->n;
    r->line[u] = lineno;
    char *p = tab + 1;
    for (;;) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        char *tok = p;
        while (*p && !is_space(*p))
            p++;
        int more = *p != '\0';
        *p = '\0';
        int32_t i = ar_dataset_lookup(ds, AR_ITEMS, tok);
        if (i < 0)
            return ar__fail(err, AR_EPARSE,
                            "%s:%lld: expected an item id of the dataset, got '%.60s'", path,
                            (long long)lineno, tok);
        /* stamp[i] holds the last line that listed item i. */
        if (stamp[i] == (int32_t)lineno)
            return ar__fail(err, AR_EPARSE,
                            "%s:%lld: expected each item once per list, got '%.60s' again", path,
                            (long long)lineno, tok);
        stamp[i] = (int32_t)lineno;
        if (ar__grow((void **)&r->items, &r->cap, r->n + 1, sizeof *r->items))
            return ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
        r->items[r->n++] = i;
        if (more)
            p++;
    }
    int64_t len = (int64_t)r->n - r->start[u];
    if (len > INT32_MAX)
        return ar__fail(err, AR_ERANGE, "%s:%lld: expected at most %d items, got %lld", path,
                        (long long)lineno, INT32_MAX, (long long)len);
    r->len[u] = (int32_t)len;
    return AR_OK;
}

ar_status ar_ranked_lists_read(ar_dataset *ds, const char *path, ar_ranked_lists **out,
                               ar_error *err) {
    *out = NULL;
    if (!ds || !path)
        return ar__fail(err, AR_EINVAL, "ranked lists: no dataset or path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return ar__fail(err, AR_EIO, "%s: %s", path, strerror(errno));
    ar_status st = AR_ENOMEM;
    char *buf = NULL;
    size_t buf_cap = 0;
    int32_t *stamp = NULL;
    ar_ranked_lists *r = ar__calloc(1, sizeof *r);
    if (!r)
        goto fail_oom;
    r->n_users = ar_dataset_n_users(ds);
    r->n_items = ar_dataset_n_items(ds);
    r->start = ar__alloc_array((size_t)r->n_users + 1, sizeof *r->start);
    r->len = ar__calloc((size_t)r->n_users + 1, sizeof *r->len);
    r->line = ar__calloc((size_t)r->n_users + 1, sizeof *r->line);
    stamp = ar__alloc_array((size_t)r->n_items + 1, sizeof *stamp);
    if (!r->start || !r->len || !r->line || !stamp)
        goto fail_oom;
    for (int32_t u = 0; u < r->n_users; u++)
        r->start[u] = -1;
    for (int32_t i = 0; i < r->n_items; i++)
        stamp[i] = 0;

    int64_t lineno = 0, n_lists = 0;
    for (;;) {
        /* getline() would allocate with malloc, bypassing the allocator hooks; read by hand. */
        size_t n = 0;
        int c;
        while ((c = getc(f)) != EOF && c != '\n') {
            if (ar__grow((void **)&buf, &buf_cap, n + 2, 1))
                goto fail_oom;
            buf[n++] = (char)c;
        }
        if (c == EOF && n == 0) {
            if (ferror(f)) {
                st = ar__fail(err, AR_EIO, "%s: read error", path);
                goto fail;
            }
            break;
        }
        lineno++;
        if (lineno > INT32_MAX) {
            st = ar__fail(err, AR_ERANGE, "%s: more than %d lines", path, INT32_MAX);
            goto fail;
        }
        if (n && buf[n - 1] == '\r')
            n--;
        if (ar__grow((void **)&buf, &buf_cap, n + 1, 1))
            goto fail_oom;
        buf[n] = '\0';
        if (memchr(buf, '\0', n)) {
            st = ar__fail(err, AR_EPARSE, "%s:%lld: expected text, got a NUL byte", path,
                          (long long)lineno);
            goto fail;
        }
        size_t skip = 0;
        while (skip < n && (buf[skip] == ' ' || buf[skip] == '\t'))
            skip++;
        if (skip == n)
            continue;
        if ((st = parse_line(r, ds, buf, path, lineno, stamp, err)))
            goto fail;
        n_lists++;
        if (c == EOF)
            break;
    }
    if (n_lists == 0) {
        st =
            ar__fail(err, AR_EEMPTY, "%s:%lld: expected at least one 'user<TAB>items' line, got %s",
                     path, (long long)lineno, lineno ? "only blank lines" : "an empty file");
        goto fail;
    }
    fclose(f);
    ar__free(buf);
    ar__free(stamp);
    *out = r;
    return AR_OK;

fail_oom:
    st = ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
fail:
    fclose(f);
    ar__free(buf);
    ar__free(stamp);
    ar_ranked_lists_free(r);
    return st;
}

static ar_status ranked_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                             int32_t k, int32_t *items, int32_t *n_out) {
    const ar_ranked_lists *r = ctx;
    *n_out = 0;
    if (user < 0 || user >= r->n_users)
        return AR_ERANGE;
    if (r->start[user] < 0)
        return AR_OK;
    if (!exclude || n_exclude < 0)
        n_exclude = 0;
    const int32_t *list = r->items + r->start[user];
    int32_t n = 0;
    for (int32_t j = 0; j < r->len[user] && n < k; j++)
        if (!ar__contains_sorted(exclude, n_exclude, list[j]))
            items[n++] = list[j];
    *n_out = n;
    return AR_OK;
}

static ar_status ranked_score(void *ctx, int32_t user, const int32_t *items, int32_t n,
                              float *scores) {
    const ar_ranked_lists *r = ctx;
    if (user < 0 || user >= r->n_users)
        return AR_ERANGE;
    const int32_t *list = r->start[user] >= 0 ? r->items + r->start[user] : NULL;
    int32_t len = r->len[user];
    for (int32_t j = 0; j < n; j++) {
        /* -(1-based rank) for listed items, so earlier is better; -inf for the rest. */
        scores[j] = -INFINITY;
        for (int32_t p = 0; p < len; p++) {
            if (list[p] == items[j]) {
                scores[j] = -(float)(p + 1);
                break;
            }
        }
    }
    return AR_OK;
}

ar_ranker ar_ranked_lists_ranker(ar_ranked_lists *r) {
    return (ar_ranker){r, ranked_topk, ranked_score, NULL};
}
