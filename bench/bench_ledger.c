/*
 * bench_ledger.c -- logging 100,000 metric points into a SQLite ledger in batches of 1,000
 * (one transaction per batch), against the baseline of one transaction per point (measured on
 * 10,000 points in the same run). The bar: the batched 100,000 under 2 seconds.
 * usage: bench_ledger [DIR]   (a scratch directory, default /tmp)
 */
#define _POSIX_C_SOURCE 200809L
#include "agentrec.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { TOTAL = 100000, BATCH = 1000, SINGLE = 10000 };

static int64_t new_run(ar_ledger *l) {
    ar_run_spec sp = ar_run_spec_default();
    sp.agent = "bench";
    int64_t id;
    if (ar_ledger_run_begin(l, &sp, &id)) {
        fprintf(stderr, "bench_ledger: %s\n", ar_ledger_errmsg(l));
        exit(1);
    }
    return id;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[512], url[600];
    snprintf(path, sizeof path, "%s/bench_ledger_%d.db", dir, (int)getpid());
    snprintf(url, sizeof url, "sqlite://%s", path);
    ar_ledger *l;
    ar_error err;
    if (ar_ledger_open(url, NULL, &l, &err)) {
        fprintf(stderr, "bench_ledger: %s\n", err.msg);
        return 1;
    }
    static ar_metric_point m[BATCH];
    static const char *names[4] = {"loss", "recall@20", "ndcg@20", "revenue"};

    int64_t run = new_run(l);
    double t0 = bench_now();
    clock_t c0 = clock();
    for (int b = 0; b < TOTAL / BATCH; b++) {
        for (int k = 0; k < BATCH; k++) {
            int i = b * BATCH + k;
            m[k] = (ar_metric_point){names[i % 4], 1.0 / (i + 1), i / 4,
                                     i % 4 == 3 ? AR_SCOPE_OUTER : AR_SCOPE_INNER, "valid"};
        }
        if (ar_ledger_log_metrics(l, run, m, BATCH)) {
            fprintf(stderr, "bench_ledger: %s\n", ar_ledger_errmsg(l));
            return 1;
        }
    }
    double batched = bench_now() - t0;
    double batched_cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;

    run = new_run(l);
    t0 = bench_now();
    for (int i = 0; i < SINGLE; i++) {
        ar_metric_point p = {names[i % 4], 1.0 / (i + 1), i / 4, AR_SCOPE_INNER, "valid"};
        if (ar_ledger_log_metric(l, run, &p, NULL)) {
            fprintf(stderr, "bench_ledger: %s\n", ar_ledger_errmsg(l));
            return 1;
        }
    }
    double single = (bench_now() - t0) * (TOTAL / SINGLE);

    t0 = bench_now();
    ar_run_query qy = ar_run_query_default();
    qy.metric = "recall@20";
    qy.split = "valid";
    ar_run_list *best;
    if (ar_ledger_runs(l, &qy, &best))
        return 1;
    double query = bench_now() - t0;
    ar_run_list_free(best);

    printf("ledger (sqlite, WAL, synchronous=NORMAL): %d metric points\n", TOTAL);
    printf("  batched (%d per transaction)   %8.3f s  %6.2f us/point  %s 2 s\n", BATCH, batched,
           1e6 * batched / TOTAL, batched < 2.0 ? "under" : "OVER");
    printf("  batched, CPU time of this process %6.3f s (wall time includes waiting for the disk\n"
           "  and for other processes on a shared machine)\n",
           batched_cpu);
    printf("  one transaction per point       %8.3f s  (from %d points)\n", single, SINGLE);
    printf("  ratio single / batched          %8.1fx\n", single / batched);
    printf("  best-run query over them        %8.4f s\n", query);
    ar_ledger_free(l);
    char side[620];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return batched < 2.0 ? 0 : 2;
}
