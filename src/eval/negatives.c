/*
 * negatives.c -- fixed negative samples for the sampled protocol, read from a file of lines
 * "user neg_1 ... neg_N" (external ids separated by spaces or tabs), e.g. S3-Rec's
 * LastFM_sample.txt.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ar_free_array(void *p) {
    ar__free(p);
}

ar_status ar_negatives_read(ar_dataset *ds, const char *path, int32_t *n_per_user, int32_t **out,
                            ar_error *err) {
    *out = NULL;
    *n_per_user = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return ar__fail(err, AR_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    int32_t width = -1;
    int32_t *neg = NULL;
    ar_status st = AR_OK;
    uint8_t *seen = ar__calloc((size_t)ds->n_users + 1, 1);
    if (!seen) {
        fclose(f);
        return ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
    }
    while (!st && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        char *save = NULL, *tok = strtok_r(line, " \t", &save);
        int32_t u = ar_dataset_lookup(ds, AR_USERS, tok);
        if (u < 0) {
            st = ar__fail(err, AR_EPARSE, "%s:%lld: expected a known user id, got '%s'", path,
                          (long long)lineno, tok);
            break;
        }
        if (seen[u]) {
            st = ar__fail(err, AR_EPARSE, "%s:%lld: user '%s' listed twice", path,
                          (long long)lineno, tok);
            break;
        }
        seen[u] = 1;
        int32_t k = 0;
        while (!st && (tok = strtok_r(NULL, " \t", &save)) != NULL) {
            int32_t i = ar_dataset_lookup(ds, AR_ITEMS, tok);
            if (i < 0) {
                st = ar__fail(err, AR_EPARSE, "%s:%lld: expected a known item id, got '%s'", path,
                              (long long)lineno, tok);
                break;
            }
            if (width < 0) {
                /* The first line fixes the width; count its tokens before allocating. */
                width = 1;
                for (char *p = save; p && *p; p++)
                    if ((*p != ' ' && *p != '\t') && (p == save || p[-1] == ' ' || p[-1] == '\t'))
                        width++;
                neg = ar__alloc_array((size_t)ds->n_users * (size_t)width, sizeof *neg);
                if (!neg) {
                    st = ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
                    break;
                }
                for (int64_t j = 0; j < (int64_t)ds->n_users * width; j++)
                    neg[j] = -1;
            }
            if (k >= width) {
                st = ar__fail(err, AR_EPARSE, "%s:%lld: expected %d negatives, got more", path,
                              (long long)lineno, width);
                break;
            }
            neg[(int64_t)u * width + k++] = i;
        }
        if (!st && k != width && width >= 0) {
            st = ar__fail(err, AR_EPARSE, "%s:%lld: expected %d negatives, got %d", path,
                          (long long)lineno, width, k);
        } else if (!st && width < 0) {
            st = ar__fail(err, AR_EPARSE, "%s:%lld: expected negatives after the user id", path,
                          (long long)lineno);
        }
    }
    free(line);
    fclose(f);
    ar__free(seen);
    if (!st && width < 0)
        st = ar__fail(err, AR_EEMPTY, "%s: no negatives", path);
    if (st) {
        ar__free(neg);
        return st;
    }
    *n_per_user = width;
    *out = neg;
    return AR_OK;
}
