/*
 * bench_bpr.c -- BPR-MF training speed: seconds per epoch on the Gowalla LightGCN split at 64
 * factors, for the Hogwild and the deterministic (stratified) schedule, on 1 and 2 threads,
 * measured in the same run so the 2-thread figures read as ratios against the 1-thread baseline;
 * then the deterministic schedule under Adam (optimizer=adam), as a ratio against plain SGD's.
 *
 * usage: bench_bpr [SHARED_DATA_DIR [EPOCHS]]
 *   SHARED_DATA_DIR defaults to ../shared/data; without gowalla-lightgcn there it says so and
 *   exits 0. EPOCHS (default 6) per fit; an epoch's time is taken from the progress callback
 *   and the median over the epochs is reported. An epoch = one pass of nnz positives (810,128), one
 * negative each.
 */
#define _POSIX_C_SOURCE 200809L
#include "agentrec.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_EPOCHS 64

typedef struct clock_log {
    double t[MAX_EPOCHS + 1];
    int n;
} clock_log;

static int on_epoch(void *data, int64_t done, int64_t total) {
    (void)done, (void)total;
    clock_log *c = data;
    if (c->n <= MAX_EPOCHS)
        c->t[c->n++] = bench_now();
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per epoch of one fit. */
static double epoch_seconds(const ar_dataset *ds, const char *mode, const char *optimizer,
                            int threads, int epochs) {
    ar_model *m;
    ar_error err;
    ar_status st = ar_model_create("bpr", &m);
    if (st)
        bench_die("bench_bpr", "create", st, NULL);
    char e[16];
    snprintf(e, sizeof e, "%d", epochs);
    if ((st = ar_model_set(m, "factors", "64", &err)) ||
        (st = ar_model_set(m, "epochs", e, &err)) || (st = ar_model_set(m, "mode", mode, &err)) ||
        (st = ar_model_set(m, "optimizer", optimizer, &err)))
        bench_die("bench_bpr", "set", st, &err);
    clock_log c = {.n = 0};
    ar_fit_options o = ar_fit_options_default();
    o.n_threads = threads;
    o.progress = on_epoch;
    o.progress_data = &c;
    /* The fit calls on_epoch after each epoch. The first interval also holds building the
     * training matrix and the initial factors, which the median leaves out. */
    double t0 = bench_now();
    if ((st = ar_model_fit(m, ds, &o, &err)))
        bench_die("bench_bpr", "fit", st, &err);
    double d[MAX_EPOCHS];
    int n = 0;
    for (int i = 0; i < c.n; i++)
        d[n++] = c.t[i] - (i ? c.t[i - 1] : t0);
    qsort(d, (size_t)n, sizeof *d, cmp_double);
    ar_model_free(m);
    return n ? d[n / 2] : 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../shared/data";
    int epochs = argc > 2 ? atoi(argv[2]) : 6;
    if (epochs < 1 || epochs > MAX_EPOCHS) {
        fprintf(stderr, "bench_bpr: EPOCHS is 1..%d\n", MAX_EPOCHS);
        return 2;
    }
    char gdir[512];
    snprintf(gdir, sizeof gdir, "%s/gowalla-lightgcn", dir);
    ar_dataset *ds;
    if (bench_load_lightgcn("bench_bpr", gdir, &ds))
        return 0;
    printf("gowalla-lightgcn: %d users, %d items, 64 factors, 1 negative, %d epochs per fit\n",
           ar_dataset_n_users(ds), ar_dataset_n_items(ds), epochs);
    const char *modes[] = {"hogwild", "deterministic"};
    double sgd2 = 0;
    for (int i = 0; i < 2; i++) {
        double t1 = epoch_seconds(ds, modes[i], "sgd", 1, epochs);
        double t2 = epoch_seconds(ds, modes[i], "sgd", 2, epochs);
        printf("bpr %-13s 1 thread %7.3f s/epoch   2 threads %7.3f s/epoch   speed-up %.2fx\n",
               modes[i], t1, t2, t1 / t2);
        sgd2 = t2;
    }
    double adam = epoch_seconds(ds, "deterministic", "adam", 2, epochs);
    printf("bpr deterministic, adam: 2 threads %7.3f s/epoch = %.2fx the sgd epoch\n", adam,
           adam / sgd2);
    ar_dataset_free(ds);
    return 0;
}
