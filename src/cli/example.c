/*
 * example.c -- `agentrec example`: a small generated dataset for trying the data and evaluation
 * path (and for tests): build, save and reload through the binary format, describe, split,
 * evaluate MostPop. (`agentrec demo` is the agent loop in the retail world.)
 */
#include "cli/cli.h"

#include <limits.h>
#include <stdlib.h>

static int run(int argc, char **argv);

const cli_cmd cmd_example = {
    "example", "write a small synthetic dataset and evaluate MostPop on it",
    "usage: agentrec example [--out DIR] [--seed S] [--users N] [--items N]\n"
    "\n"
    "Generates a small seeded dataset (users in taste clusters, Zipf item popularity), writes\n"
    "it to DIR (default ./agentrec-example), reloads it, splits it per user 80/20 and evaluates "
    "the\n"
    "MostPop baseline with the offline evaluator. Nothing is downloaded.\n",
    run};

static int run(int argc, char **argv) {
    const char *out = "agentrec-example";
    uint64_t seed = 7;
    int users = 2000, items = 500;
    const cli_opt opts[] = {
        {"out", OPT_STR, &out},     {"seed", OPT_U64, &seed}, {"users", OPT_INT, &users},
        {"items", OPT_INT, &items}, {NULL, OPT_FLAG, NULL},
    };
    int n_pos, rc = cli_parse(argc, argv, opts, NULL, 0, &n_pos, &cmd_example);
    if (rc)
        return rc < 0 ? 0 : rc;
    ar_dataset *ds;
    ar_status st = ar_dataset_synthetic(users, items, 20, 8, seed, &ds);
    if (st)
        return cli_error("example", "cannot generate the example: %s", ar_strerror(st));
    ar_split_options so = ar_split_options_default();
    so.seed = seed;
    ar_error err;
    if (ar_dataset_split(ds, &so, &err) || (rc = cli_save("example", ds, out))) {
        ar_dataset_free(ds);
        return rc ? rc : cli_error("example", "%s", err.msg);
    }
    ar_dataset_free(ds);
    if (!(ds = cli_load("example", out)))
        return CLI_FAIL;
    ar_dataset_stats s;
    if (ar_dataset_stats_compute(ds, &s) == AR_OK)
        printf("example dataset in %s: %d users, %d items, %lld interactions (train %lld, test "
               "%lld), popularity Gini %.3f\n",
               out, s.users, s.items, (long long)s.interactions, (long long)s.train,
               (long long)s.test, s.pop_gini);
    ar_mostpop *mp;
    if ((st = ar_mostpop_fit(ds, AR_MASK_TRAIN, &mp))) {
        ar_dataset_free(ds);
        return cli_error("example", "mostpop: %s", ar_strerror(st));
    }
    ar_ranker rk = ar_mostpop_ranker(mp);
    ar_eval_options eo = ar_eval_options_default();
    eo.n_cutoffs = 2;
    eo.cutoffs[0] = 10;
    eo.cutoffs[1] = 20;
    ar_eval_result r;
    st = ar_evaluate(ds, &rk, &eo, &r, &err);
    ar_mostpop_free(mp);
    ar_dataset_free(ds);
    if (st)
        return cli_error("example", "%s", err.msg);
    printf("MostPop on the example (%d test users, full ranking):\n", r.users);
    for (int c = 0; c < r.n_cutoffs; c++)
        printf("  recall@%d %.4f  ndcg@%d %.4f  hr@%d %.4f  coverage@%d %.4f\n", r.cutoffs[c],
               r.value[AR_METRIC_RECALL][c], r.cutoffs[c], r.value[AR_METRIC_NDCG][c], r.cutoffs[c],
               r.value[AR_METRIC_HR][c], r.cutoffs[c], r.value[AR_METRIC_COVERAGE][c]);
    printf("next: 'agentrec info %s', 'agentrec eval %s --model mostpop --k 10,20'\n", out, out);
    return 0;
}
