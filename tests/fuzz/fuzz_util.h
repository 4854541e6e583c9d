/*
 * fuzz_util.h -- helpers shared by the importer fuzz targets (static, header-only, so each
 * fuzz_*.c stays one translation unit for libFuzzer).
 *
 * An input is cut into parts at the line "@@" ("\n@@\n"); each part goes to its own file in a
 * private temporary directory (created once per process, removed at exit), and the target
 * points ar_import's options at those files.
 */
#ifndef AR_FUZZ_UTIL_H
#define AR_FUZZ_UTIL_H

#define _DEFAULT_SOURCE
#include "agentrec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_MAX_PARTS 4

static char fuzz_dir_path[64];
static char fuzz_paths[FUZZ_MAX_PARTS][128];

static inline void fuzz_cleanup(void) {
    for (int i = 0; i < FUZZ_MAX_PARTS; i++)
        if (fuzz_paths[i][0])
            unlink(fuzz_paths[i]);
    if (fuzz_dir_path[0])
        rmdir(fuzz_dir_path);
}

/* Writes data to part file i and returns its path (NULL if the temp dir cannot be made). */
static inline const char *fuzz_write(int i, const uint8_t *data, size_t n) {
    if (!fuzz_dir_path[0]) {
        strcpy(fuzz_dir_path, "/tmp/ar_fuzz_XXXXXX");
        if (!mkdtemp(fuzz_dir_path)) {
            fuzz_dir_path[0] = '\0';
            return NULL;
        }
        atexit(fuzz_cleanup);
    }
    snprintf(fuzz_paths[i], sizeof fuzz_paths[i], "%s/part%d", fuzz_dir_path, i);
    FILE *f = fopen(fuzz_paths[i], "wb");
    if (!f)
        return NULL;
    if (n && fwrite(data, 1, n, f) != n) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return fuzz_paths[i];
}

/* Splits the input at "\n@@\n" into up to max parts and writes each to a file; path[i] is NULL
 * for parts that are absent. Returns the number of parts. */
static inline int fuzz_parts(const uint8_t *data, size_t size, int max, const char **path) {
    static const char marker[] = "\n@@\n";
    int n = 0;
    size_t start = 0;
    for (int i = 0; i < max; i++)
        path[i] = NULL;
    while (n < max) {
        size_t end = size;
        if (n < max - 1)
            for (size_t k = start; k + 4 <= size; k++)
                if (memcmp(data + k, marker, 4) == 0) {
                    end = k + 1; /* keep the part's final newline */
                    break;
                }
        path[n] = fuzz_write(n, data + start, end - start);
        if (!path[n])
            return n;
        n++;
        if (end == size)
            break;
        start = end + 3;
    }
    return n;
}

/* Imports and, on success, walks the result through a few accessors. */
static inline void fuzz_import(const ar_import_options *o) {
    ar_dataset *ds = NULL;
    ar_error err;
    err.msg[0] = '\0';
    ar_status st = ar_import(o, &ds, &err);
    if (st != AR_OK) {
        if (ds || !err.msg[0] || strchr(err.msg, '\n'))
            abort(); /* failures must set a one-line message and no dataset */
        return;
    }
    for (int e = 0; e < 2; e++) {
        int32_t n = e == AR_USERS ? ar_dataset_n_users(ds) : ar_dataset_n_items(ds);
        for (int a = 0; a < ar_dataset_n_attrs(ds, (ar_entity)e); a++)
            for (int32_t i = 0; i < n; i++) {
                int32_t k;
                (void)ar_dataset_attr_codes(ds, (ar_entity)e, a, i, &k);
                (void)ar_dataset_attr_number(ds, (ar_entity)e, a, i);
            }
    }
    ar_dataset_free(ds);
}

#endif
