/*
 * bench_world.c -- how long the retail world takes to generate 90 days of history for 50,000
 * customers and 20,000 items (the target: under a minute on 2 cores), measured against
 * the same simulation without building a dataset in the same run.
 *
 * usage: bench_world [THREADS] [DAYS]   (default: all threads, 90 days)
 *   Prints the time to draw the world, to simulate the days with the popular policy (no
 *   dataset), to generate the dataset (simulation + every impression, click, cart and purchase
 *   through the dataset builder) and to save it, and the ratio generate / simulate.
 */
#define _POSIX_C_SOURCE 200809L
#include "agentrec.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0, days = argc > 2 ? atoi(argv[2]) : 90;
    const char *json = ar_world_config_default_json();
    char buf[16384];
    /* The default world, resized: 50,000 customers and 20,000 items. */
    const char *c = strstr(json, "\"customers\": 10000"), *i = strstr(json, "\"items\": 3000");
    if (!c || !i || i < c) {
        fprintf(stderr, "bench_world: unexpected default config\n");
        return 1;
    }
    snprintf(buf, sizeof buf, "%.*s\"customers\": 50000%.*s\"items\": 20000%s", (int)(c - json),
             json, (int)(i - (c + 18)), c + 18, i + 13);
    ar_world_config *cfg;
    ar_error err;
    ar_status st = ar_world_config_parse(buf, strlen(buf), &cfg, &err);
    if (st)
        bench_die("bench_world", "config", st, &err);
    double t0 = bench_now();
    ar_world *w;
    if ((st = ar_world_create(cfg, 1, threads, &w, &err)))
        bench_die("bench_world", "create", st, &err);
    double t_create = bench_now() - t0;
    ar_world_policy pol;
    ar_world_policy_builtin(w, "popular", &pol);

    ar_world_eval_options eo = ar_world_eval_options_default();
    eo.visits = (int64_t)1 << 40;
    eo.n_threads = threads;
    /* Simulation alone: as many visits as `days` days hold (measured by the generate run). */
    ar_world_generate_options go = ar_world_generate_options_default();
    go.days = days;
    go.n_threads = threads;
    ar_world_eval_result r;
    ar_dataset *ds;
    t0 = bench_now();
    if ((st = ar_world_generate(w, &pol, &go, &ds, &r, &err)))
        bench_die("bench_world", "generate", st, &err);
    double t_gen = bench_now() - t0;
    eo.visits = r.visits;
    ar_world_eval_result r2;
    t0 = bench_now();
    if ((st = ar_world_eval(w, &pol, &eo, &r2, &err)))
        bench_die("bench_world", "simulate", st, &err);
    double t_sim = bench_now() - t0;
    char path[] = "/tmp/bench_world_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    t0 = bench_now();
    if ((st = ar_dataset_save(ds, path, &err)))
        bench_die("bench_world", "save", st, &err);
    double t_save = bench_now() - t0;
    unlink(path);
    printf("world 50000 customers x 20000 items, %d days, %d threads (0 = all)\n", days, threads);
    printf("  draw world        %8.3f s\n", t_create);
    printf("  simulate only     %8.3f s  (%lld visits, %.0f visits/s)\n", t_sim,
           (long long)r2.visits, (double)r2.visits / t_sim);
    printf("  generate dataset  %8.3f s  (%lld interactions; %.2fx the simulation alone)\n", t_gen,
           (long long)ar_dataset_n_interactions(ds), t_gen / t_sim);
    printf("  save              %8.3f s\n", t_save);
    printf("  total             %8.3f s  (target: under 60 s on 2 cores)\n",
           t_create + t_gen + t_save);
    ar_dataset_free(ds);
    ar_world_free(w);
    ar_world_config_free(cfg);
    return 0;
}
