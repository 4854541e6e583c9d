/*
 * split.c -- `agentrec split DIR`: relabel the interactions into train / validation / test.
 */
#include "cli/cli.h"

#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_split = {
    "split", "split DIR's interactions into train/valid/test",
    "usage: agentrec split DIR --method random|loo|temporal [options] [--out DIR2]\n"
    "\n"
    "  random     per user, a random --test-ratio (default 0.2) and --valid-ratio (default 0)\n"
    "             of the interactions, seeded (--seed, default 2026)\n"
    "  loo        leave-one-out by time: each user's last interaction is test, the\n"
    "             second-to-last validation (--no-valid keeps it for training)\n"
    "  temporal   a global time cut: the latest --test-ratio of the log is test, the\n"
    "             --valid-ratio before it validation\n"
    "\n"
    "  --within LIST only relabel interactions now in these splits (e.g. train: carve a\n"
    "                validation set from the training data, keeping the test split; use\n"
    "                --test-ratio 0 --valid-ratio R)\n"
    "  --threads N   threads (0 = all); the result does not depend on it\n"
    "  --out DIR2    write the split dataset there instead of replacing DIR's (atomically)\n"
    "  --json        print the split counts as one JSON object\n"
    "Predefined splits come from the importers' --test/--valid files.\n",
    run};

static int run(int argc, char **argv) {
    const char *method = NULL, *out = NULL, *within = NULL;
    bool no_valid = false, json = false;
    ar_split_options o = ar_split_options_default();
    const cli_opt opts[] = {
        {"method", OPT_STR, &method},
        {"test-ratio", OPT_DOUBLE, &o.test_ratio},
        {"valid-ratio", OPT_DOUBLE, &o.valid_ratio},
        {"no-valid", OPT_FLAG, &no_valid},
        {"within", OPT_STR, &within},
        {"seed", OPT_U64, &o.seed},
        {"threads", OPT_INT, &o.n_threads},
        {"out", OPT_STR, &out},
        {"json", OPT_FLAG, &json},
        {NULL, OPT_FLAG, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_split);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1 || !method) {
        fprintf(stderr, "agentrec split: expected DIR and --method (see --help)\n");
        return CLI_USAGE;
    }
    if (strcmp(method, "random") == 0)
        o.method = AR_SPLIT_RANDOM;
    else if (strcmp(method, "loo") == 0)
        o.method = AR_SPLIT_LOO;
    else if (strcmp(method, "temporal") == 0)
        o.method = AR_SPLIT_TEMPORAL;
    else {
        fprintf(stderr, "agentrec split: unknown method '%s' (random, loo, temporal)\n", method);
        return CLI_USAGE;
    }
    o.loo_valid = !no_valid;
    if (within && !(o.within = cli_parse_splits(within))) {
        fprintf(stderr, "agentrec split: --within takes train, valid, test separated by commas\n");
        return CLI_USAGE;
    }
    const char *bad = ar_split_options_check(&o);
    if (bad) {
        fprintf(stderr, "agentrec split: %s\n", bad);
        return CLI_USAGE;
    }
    ar_dataset *ds = cli_load("split", pos[0]);
    if (!ds)
        return CLI_FAIL;
    ar_error err;
    if (ar_dataset_split(ds, &o, &err)) {
        ar_dataset_free(ds);
        return cli_error("split", "%s", err.msg);
    }
    rc = cli_save("split", ds, out ? out : pos[0]);
    if (!rc) {
        int64_t tr = ar_dataset_count(ds, AR_MASK_TRAIN), va = ar_dataset_count(ds, AR_MASK_VALID),
                te = ar_dataset_count(ds, AR_MASK_TEST);
        if (json)
            cli_print_json(json_pack("{s:s,s:I,s:I,s:I}", "method", method, "train", (json_int_t)tr,
                                     "valid", (json_int_t)va, "test", (json_int_t)te));
        else
            printf("split %s: train %lld, valid %lld, test %lld -> %s\n", method, (long long)tr,
                   (long long)va, (long long)te, out ? out : pos[0]);
    }
    ar_dataset_free(ds);
    return rc;
}
