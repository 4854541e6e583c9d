/*
 * import.c -- `agentrec import`: read a dataset in one of the supported text formats and write
 * it as DIR/dataset.ards.
 */
#include "cli/cli.h"

#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_import = {
    "import", "read a dataset from text files into DIR",
    "usage: agentrec import --format FORMAT [files] [options] --out DIR\n"
    "\n"
    "formats and their files:\n"
    "  movielens  --ratings FILE (u.data or ratings.dat) [--items u.item|movies.dat]\n"
    "             [--users u.user|users.dat]\n"
    "  recbole    --inter FILE.inter [--item FILE.item] [--user FILE.user]\n"
    "  lightgcn   --train train.txt [--test test.txt]   (lines 'user item item ...')\n"
    "  s3rec      --sequences FILE.txt [--attributes item2attributes.json]\n"
    "  csv        --file FILE --user-col C --item-col C [--time-col C] [--value-col C]\n"
    "             [--event-col C] [--delimiter ','|tab] [--no-header]\n"
    "             (columns by name with a header, by 1-based number without)\n"
    "\n"
    "options:\n"
    "  --test FILE, --valid FILE  predefined test / validation interactions (same format)\n"
    "  --out DIR                  where to write the dataset (created if missing)\n"
    "  --json                     print the summary as one JSON object\n"
    "\n"
    "Interactions of the main file are labelled train. Ids map to dense indices in ascending\n"
    "order (numeric when all ids are integers). The output is written to a temporary file and\n"
    "renamed, so a failed import never leaves a half-written dataset.\n",
    run};

static int run(int argc, char **argv) {
    const char *format = NULL, *train = NULL, *ratings = NULL, *inter = NULL, *sequences = NULL,
               *file = NULL, *out = NULL, *delim = NULL;
    bool no_header = false, json = false;
    ar_import_options o = ar_import_options_default();
    const cli_opt opts[] = {
        {"format", OPT_STR, &format},
        {"train", OPT_STR, &train},
        {"ratings", OPT_STR, &ratings},
        {"inter", OPT_STR, &inter},
        {"sequences", OPT_STR, &sequences},
        {"file", OPT_STR, &file},
        {"test", OPT_STR, &o.test},
        {"valid", OPT_STR, &o.valid},
        {"items", OPT_STR, &o.items},
        {"item", OPT_STR, &o.items},
        {"users", OPT_STR, &o.users},
        {"user", OPT_STR, &o.users},
        {"attributes", OPT_STR, &o.attributes},
        {"delimiter", OPT_STR, &delim},
        {"no-header", OPT_FLAG, &no_header},
        {"user-col", OPT_STR, &o.col_user},
        {"item-col", OPT_STR, &o.col_item},
        {"time-col", OPT_STR, &o.col_time},
        {"value-col", OPT_STR, &o.col_value},
        {"event-col", OPT_STR, &o.col_event},
        {"out", OPT_STR, &out},
        {"json", OPT_FLAG, &json},
        {NULL, OPT_FLAG, NULL},
    };
    int n_pos, rc = cli_parse(argc, argv, opts, NULL, 0, &n_pos, &cmd_import);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!format || !out) {
        fprintf(stderr, "agentrec import: --format and --out are required (see --help)\n");
        return CLI_USAGE;
    }
    int f = ar_format_parse(format);
    if (f < 0) {
        fprintf(stderr,
                "agentrec import: unknown format '%s' (movielens, recbole, lightgcn, "
                "s3rec, csv)\n",
                format);
        return CLI_USAGE;
    }
    o.format = (ar_format)f;
    const char *mains[] = {train, ratings, inter, sequences, file};
    int n_main = 0;
    for (int i = 0; i < 5; i++)
        if (mains[i]) {
            o.train = mains[i];
            n_main++;
        }
    if (n_main != 1) {
        fprintf(stderr, "agentrec import: give exactly one of --train, --ratings, --inter, "
                        "--sequences, --file\n");
        return CLI_USAGE;
    }
    if (delim) {
        if (strcmp(delim, "tab") == 0 || strcmp(delim, "\\t") == 0)
            o.delimiter = '\t';
        else if (strlen(delim) == 1)
            o.delimiter = delim[0];
        else {
            fprintf(stderr, "agentrec import: --delimiter takes one character or 'tab'\n");
            return CLI_USAGE;
        }
    }
    o.header = !no_header;
    const char *bad = ar_import_options_check(&o);
    if (bad) {
        fprintf(stderr, "agentrec import: %s\n", bad);
        return CLI_USAGE;
    }
    ar_progress *p = cli_progress("import");
    o.progress = ar_progress_update;
    o.progress_data = p;
    ar_dataset *ds;
    ar_error err;
    ar_status st = ar_import(&o, &ds, &err);
    ar_progress_free(p);
    if (st)
        return cli_error("import", "%s", err.msg);
    rc = cli_save("import", ds, out);
    if (!rc) {
        int64_t tr = ar_dataset_count(ds, AR_MASK_TRAIN), va = ar_dataset_count(ds, AR_MASK_VALID),
                te = ar_dataset_count(ds, AR_MASK_TEST);
        if (json) {
            json_t *j =
                json_pack("{s:s,s:i,s:i,s:I,s:I,s:I,s:I}", "out", out, "users",
                          (int)ar_dataset_n_users(ds), "items", (int)ar_dataset_n_items(ds),
                          "interactions", (json_int_t)ar_dataset_n_interactions(ds), "train",
                          (json_int_t)tr, "valid", (json_int_t)va, "test", (json_int_t)te);
            cli_print_json(j);
        } else {
            printf("imported %d users, %d items, %lld interactions (train %lld, valid %lld, "
                   "test %lld) into %s\n",
                   ar_dataset_n_users(ds), ar_dataset_n_items(ds),
                   (long long)ar_dataset_n_interactions(ds), (long long)tr, (long long)va,
                   (long long)te, out);
        }
    }
    ar_dataset_free(ds);
    return rc;
}
