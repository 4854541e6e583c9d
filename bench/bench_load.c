/*
 * bench_load.c -- how long a 1M-interaction dataset takes to import from text versus to load
 * from the binary format (mmap), measured in the same run.
 *
 * usage: bench_load [SHARED_DATA_DIR]
 *   Always: a generated dataset of 1,000,000 interactions (50,000 users x 20) written as CSV,
 *   imported with the CSV importer (libcsv), saved, and loaded back with and without checksum
 *   verification. With SHARED_DATA_DIR (e.g. ../shared/data) also the Gowalla LightGCN split.
 *   Each timing is the best of 3 runs. Prints one line per measurement and the ratios.
 */
#define _POSIX_C_SOURCE 200809L
#include "agentrec.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double best_import(const ar_import_options *o) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        ar_dataset *ds;
        ar_error err;
        double t0 = bench_now();
        ar_status st = ar_import(o, &ds, &err);
        double t = bench_now() - t0;
        if (st)
            bench_die("bench_load", "import", st, &err);
        ar_dataset_free(ds);
        if (t < best)
            best = t;
    }
    return best;
}

static double best_load(const char *path, int verify) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        ar_dataset *ds;
        ar_error err;
        double t0 = bench_now();
        ar_status st = ar_dataset_load(path, verify, &ds, &err);
        double t = bench_now() - t0;
        if (st)
            bench_die("bench_load", "load", st, &err);
        ar_dataset_free(ds);
        if (t < best)
            best = t;
    }
    return best;
}

static void compare(const char *name, const ar_import_options *o, const char *bin) {
    ar_dataset *ds;
    ar_error err;
    ar_status st = ar_import(o, &ds, &err);
    if (st)
        bench_die("bench_load", "import", st, &err);
    long long n = (long long)ar_dataset_n_interactions(ds);
    if ((st = ar_dataset_save(ds, bin, &err)))
        bench_die("bench_load", "save", st, &err);
    ar_dataset_free(ds);
    double t_text = best_import(o);
    double t_load = best_load(bin, 1);
    double t_fast = best_load(bin, 0);
    printf("%-28s %9lld interactions  text import %8.3f s  binary load %7.4f s (%.1f%%, "
           "%.0fx faster)  without checksum %7.4f s (%.1f%%)\n",
           name, n, t_text, t_load, 100.0 * t_load / t_text, t_text / t_load, t_fast,
           100.0 * t_fast / t_text);
}

int main(int argc, char **argv) {
    char dir[] = "/tmp/ar_bench_load_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char csv[256], bin[256];
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(bin, sizeof bin, "%s/dataset.ards", dir);

    ar_dataset *ds;
    ar_status st = ar_dataset_synthetic(50000, 40000, 20, 32, 1, &ds);
    if (st)
        bench_die("bench_load", "synthetic", st, NULL);
    FILE *f = fopen(csv, "w");
    if (!f) {
        perror(csv);
        return 1;
    }
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    fprintf(f, "user_id,item_id,timestamp,rating\n");
    for (int64_t k = 0; k < in.n; k++)
        fprintf(f, "%s,%s,%lld,%g\n", ar_dataset_id(ds, AR_USERS, in.user[k]),
                ar_dataset_id(ds, AR_ITEMS, in.item[k]), (long long)in.time[k], in.value[k]);
    fclose(f);
    ar_dataset_free(ds);

    ar_import_options o = ar_import_options_default();
    o.format = AR_FORMAT_CSV;
    o.train = csv;
    o.header = 1;
    o.col_user = "user_id";
    o.col_item = "item_id";
    o.col_time = "timestamp";
    o.col_value = "rating";
    compare("generated CSV (libcsv)", &o, bin);

    if (argc > 1) {
        char train[512], test[512];
        snprintf(train, sizeof train, "%s/gowalla-lightgcn/train.txt", argv[1]);
        snprintf(test, sizeof test, "%s/gowalla-lightgcn/test.txt", argv[1]);
        if (access(train, R_OK) == 0 && access(test, R_OK) == 0) {
            ar_import_options g = ar_import_options_default();
            g.format = AR_FORMAT_LIGHTGCN;
            g.train = train;
            g.test = test;
            compare("gowalla-lightgcn (text)", &g, bin);
        } else {
            printf("gowalla-lightgcn: skipped (%s not found)\n", train);
        }
    }
    unlink(csv);
    unlink(bin);
    rmdir(dir);
    return 0;
}
