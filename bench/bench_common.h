/*
 * bench_common.h -- what every benchmark in bench/ needs: clocks, a fatal error, and loading
 * the Gowalla LightGCN split from ../shared/data when it is there.
 */
#ifndef AR_BENCH_COMMON_H
#define AR_BENCH_COMMON_H

#include "agentrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Seconds on a clock (CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID for CPU). */
static inline double bench_clock(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double bench_now(void) {
    return bench_clock(CLOCK_MONOTONIC);
}

static inline void bench_die(const char *bench, const char *what, ar_status st,
                             const ar_error *err) {
    fprintf(stderr, "%s: %s: %s (%s)\n", bench, what, ar_strerror(st), err ? err->msg : "");
    exit(1);
}

/* Imports DIR/train.txt and DIR/test.txt (a LightGCN-format split) into *out. Returns 0, or 1
 * after printing "BENCH: skipped (...)" when the files are absent; exits on import errors. */
static inline int bench_load_lightgcn(const char *bench, const char *dir, ar_dataset **out) {
    char train[1100], test[1100];
    snprintf(train, sizeof train, "%s/train.txt", dir);
    snprintf(test, sizeof test, "%s/test.txt", dir);
    if (access(train, R_OK) != 0 || access(test, R_OK) != 0) {
        printf("%s: skipped (%s not found)\n", bench, train);
        return 1;
    }
    ar_import_options io = ar_import_options_default();
    io.format = AR_FORMAT_LIGHTGCN;
    io.train = train;
    io.test = test;
    ar_error err;
    ar_status st = ar_import(&io, out, &err);
    if (st)
        bench_die(bench, "import", st, &err);
    return 0;
}

#endif
