#define _POSIX_C_SOURCE 200809L
/*
 * recommend.c -- `agentrec recommend DIR --model-file M --user U`: top-N for one user, with
 * explanations.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_recommend = {
    "recommend", "recommend items for a user with a saved model",
    "usage: agentrec recommend DIR --model-file M (--user U | --history I1,I2,...) [options]\n"
    "\n"
    "  --user U          a user of DIR (external id); their training items are the history\n"
    "  --history LIST    score a new user from these item ids instead (fold-in)\n"
    "  -n N, --n N       how many items (default 10)\n"
    "  --explain         list the history items that contribute most to each recommendation\n"
    "  --keep-seen       allow items of the history (excluded by default)\n"
    "  --category A=V    only items whose attribute A has value V (e.g. category=bags)\n"
    "  --json            one JSON object {user, items: [{item, score, because: [...]}]}\n",
    run};

static int run(int argc, char **argv) {
    const char *file = NULL, *user = NULL, *history = NULL, *category = NULL;
    int n = 10;
    bool explain = false, keep_seen = false, json = false;
    const cli_opt opts[] = {
        {"model-file", OPT_STR, &file},   {"user", OPT_STR, &user},
        {"history", OPT_STR, &history},   {"n", OPT_INT, &n},
        {"explain", OPT_FLAG, &explain},  {"keep-seen", OPT_FLAG, &keep_seen},
        {"category", OPT_STR, &category}, {"json", OPT_FLAG, &json},
        {NULL, OPT_FLAG, NULL},
    };
    /* Accept -n N as well as --n N. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-n") == 0)
            argv[i] = "--n";
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_recommend);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1 || !file || (!user) == (!history) || n < 1 || n > 100000) {
        fprintf(stderr, "agentrec recommend: expected DIR, --model-file, one of --user or "
                        "--history, and 1 <= n <= 100000 (see --help)\n");
        return CLI_USAGE;
    }
    ar_dataset *ds = cli_load("recommend", pos[0]);
    if (!ds)
        return CLI_FAIL;
    ar_model *m = NULL;
    ar_csr *train = NULL;
    int32_t *hist = NULL, *top = NULL, *because = NULL;
    float *vals = NULL, *scores = NULL, *weights = NULL;
    int32_t nh = 0, u = -1;
    ar_error err;
    rc = CLI_FAIL;
    if (ar_model_load(file, &m, &err) || ar_model_check_dataset(m, ds, &err)) {
        cli_error("recommend", "%s", err.msg);
        goto done;
    }
    if (user) {
        if ((u = ar_dataset_lookup(ds, AR_USERS, user)) < 0) {
            cli_error("recommend", "unknown user '%s' in %s", user, pos[0]);
            goto done;
        }
        if (ar_dataset_csr(ds, AR_MASK_TRAIN, 0, &train)) {
            cli_error("recommend", "out of memory");
            goto done;
        }
        nh = (int32_t)(train->indptr[u + 1] - train->indptr[u]);
        hist = train->indices + train->indptr[u];
        vals = train->values + train->indptr[u];
    } else {
        /* Parse, map, sort and deduplicate the given item ids. */
        int32_t cap = 1;
        for (const char *p = history; *p; p++)
            cap += *p == ',';
        hist = malloc((size_t)cap * sizeof *hist);
        char *copy = strdup(history);
        if (!hist || !copy) {
            free(copy);
            cli_error("recommend", "out of memory");
            goto done;
        }
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            int32_t i = ar_dataset_lookup(ds, AR_ITEMS, t);
            if (i < 0) {
                cli_error("recommend", "--history: unknown item '%s'", t);
                free(copy);
                goto done;
            }
            hist[nh++] = i;
        }
        free(copy);
        for (int32_t a = 1; a < nh; a++) /* insertion sort: histories are short */
            for (int32_t b = a; b > 0 && hist[b - 1] > hist[b]; b--) {
                int32_t t = hist[b];
                hist[b] = hist[b - 1];
                hist[b - 1] = t;
            }
        int32_t w = 0;
        for (int32_t a = 0; a < nh; a++)
            if (!w || hist[w - 1] != hist[a])
                hist[w++] = hist[a];
        nh = w;
    }
    ar_rec_filter f = {.exclude_history = !keep_seen};
    if (category) {
        const char *eq = strchr(category, '=');
        char attr[128];
        if (!eq || (size_t)(eq - category) >= sizeof attr) {
            cli_error("recommend", "--category expects ATTRIBUTE=VALUE");
            goto done;
        }
        snprintf(attr, sizeof attr, "%.*s", (int)(eq - category), category);
        f.attr = ar_dataset_attr_find(ds, AR_ITEMS, attr);
        if (f.attr < 0 || ar_dataset_attr_kind(ds, AR_ITEMS, f.attr) != AR_ATTR_CATEGORICAL) {
            cli_error("recommend", "no categorical item attribute '%s'", attr);
            goto done;
        }
        f.code = -1;
        for (int32_t c = 0; c < ar_dataset_attr_n_values(ds, AR_ITEMS, f.attr); c++)
            if (strcmp(ar_dataset_attr_value(ds, AR_ITEMS, f.attr, c), eq + 1) == 0)
                f.code = c;
        if (f.code < 0) {
            cli_error("recommend", "attribute '%s' has no value '%s'", attr, eq + 1);
            goto done;
        }
        f.ds = ds;
    }
    top = malloc((size_t)n * sizeof *top);
    scores = malloc((size_t)n * sizeof *scores);
    because = malloc(5 * sizeof *because);
    weights = malloc(5 * sizeof *weights);
    int32_t got;
    if (!top || !scores || !because || !weights ||
        ar_model_recommend(m, u, hist, user ? vals : NULL, nh, n, &f, top, scores, &got)) {
        cli_error("recommend", "cannot score: %s", top ? "invalid history" : "out of memory");
        goto done;
    }
    json_t *items = json_array();
    if (!json)
        printf("%-4s %-20s %12s%s\n", "rank", "item", "score", explain ? "  because of" : "");
    for (int32_t j = 0; j < got; j++) {
        int32_t nb = 0;
        if (explain)
            ar_model_explain(m, u, hist, user ? vals : NULL, nh, top[j], 5, because, weights, &nb);
        const char *id = ar_dataset_id(ds, AR_ITEMS, top[j]);
        if (json) {
            json_t *b = json_array();
            for (int32_t k = 0; k < nb; k++)
                json_array_append_new(b, json_pack("{s:s,s:f}", "item",
                                                   ar_dataset_id(ds, AR_ITEMS, because[k]),
                                                   "weight", (double)weights[k]));
            json_array_append_new(items, json_pack("{s:s,s:f,s:o}", "item", id, "score",
                                                   (double)scores[j], "because", b));
            continue;
        }
        const char *title = ar_dataset_item_title(ds, top[j]);
        printf("%-4d %-20.20s %12.5g", j + 1, title ? title : id, (double)scores[j]);
        for (int32_t k = 0; k < nb; k++)
            printf("%s%s (%.3g)", k ? ", " : "  ", ar_dataset_id(ds, AR_ITEMS, because[k]),
                   (double)weights[k]);
        printf("\n");
    }
    if (json)
        cli_print_json(json_pack("{s:s,s:s,s:o}", "user", user ? user : "", "model",
                                 ar_model_name(m), "items", items));
    else
        json_decref(items);
    rc = 0;
done:
    if (!user)
        free(hist);
    free(top);
    free(scores);
    free(because);
    free(weights);
    ar_csr_free(train);
    ar_model_free(m);
    ar_dataset_free(ds);
    return rc;
}
