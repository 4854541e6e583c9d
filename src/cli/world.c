/*
 * world.c -- `agentrec world generate|eval|stats|config`: the retail world simulator from the
 * command line (docs/world.md).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_world = {
    "world", "the retail world simulator: generate history, evaluate policies online",
    "usage: agentrec world generate|eval|stats|config [options]\n"
    "\n"
    "  agentrec world config                 print the default world config (JSON)\n"
    "  agentrec world generate --out DIR     simulate days of visits into a dataset\n"
    "      --days N          days to simulate (default: the config's \"days\")\n"
    "      --policy NAME     logging policy: random, popular (default), mostpop, oracle\n"
    "      --no-impressions  do not log impressions (only clicks, carts, purchases)\n"
    "  agentrec world eval                   run a policy online, metrics with intervals\n"
    "      --policy NAME     random, popular (default), mostpop, oracle\n"
    "      --model-file M --dataset DIR\n"
    "                        serve with a model of the zoo fitted on DIR (a dataset\n"
    "                        generated from this world), e.g. by 'agentrec train'\n"
    "      --visits N        visits to simulate (default 20000)\n"
    "      --after-history N start on day N, in the state N days of the 'popular' logging\n"
    "                        policy leave (what 'generate --days N' logged); default:\n"
    "                        day 0 from the initial state\n"
    "      --confidence C    of the intervals (default 0.95)\n"
    "      --json            one object: each metric as {mean, ci_low, ci_high}, and\n"
    "                        oracle_fraction (revenue per visit relative to the oracle)\n"
    "  agentrec world stats                  calibration of the world (popular policy)\n"
    "\n"
    "common options:\n"
    "  --config W.json     the world (default: the built-in world, see 'world config')\n"
    "  --seed S            default: the config's \"seed\"\n"
    "  --threads N         results do not depend on the thread count\n"
    "  --no-guardrails     show slates as served (violations are counted either way)\n"
    "  --json              machine-readable output\n"
    "\n"
    "The config format is documented key by key in docs/world.md.\n",
    run};

static json_t *estimate_json(const ar_world_estimate *e) {
    return json_pack("{s:f,s:f,s:f}", "mean", e->mean, "ci_low", e->ci_low, "ci_high", e->ci_high);
}

static json_t *result_json(const ar_world *w, const char *policy, const ar_world_eval_result *r) {
    json_t *j = json_pack("{s:s,s:I,s:i,s:I,s:I,s:I,s:I,s:I,s:f,s:f}", "policy", policy, "visits",
                          (json_int_t)r->visits, "days", r->days, "impressions",
                          (json_int_t)r->impressions, "clicks", (json_int_t)r->clicks, "carts",
                          (json_int_t)r->carts, "purchases", (json_int_t)r->purchases, "stockouts",
                          (json_int_t)r->stockouts, "revenue", r->revenue, "margin", r->margin);
    for (int m = 0; m < AR_WM_N; m++)
        json_object_set_new(j, ar_world_metric_name(m), estimate_json(&r->metric[m]));
    json_t *rules = json_array();
    for (int q = 0; q < r->n_rules; q++)
        json_array_append_new(rules,
                              json_pack("{s:s,s:I}", "rule", ar_world_rule_kind(w, q), "violations",
                                        (json_int_t)r->violations_per_rule[q]));
    json_object_set_new(j, "violations_per_rule", rules);
    json_t *brands = json_object();
    for (int b = 0; b < r->n_brands; b++)
        json_object_set_new(brands, ar_world_brand_name(w, b), json_real(r->brand_exposure[b]));
    json_object_set_new(j, "brand_exposure", brands);
    return j;
}

static void print_result(const char *policy, const ar_world_eval_result *r) {
    printf("%s: %lld visits over %d days, %lld impressions, %lld clicks, %lld purchases\n", policy,
           (long long)r->visits, r->days, (long long)r->impressions, (long long)r->clicks,
           (long long)r->purchases);
    for (int m = 0; m < AR_WM_N; m++)
        printf("  %-30s %12.4f  [%.4f, %.4f]\n", ar_world_metric_name(m), r->metric[m].mean,
               r->metric[m].ci_low, r->metric[m].ci_high);
}

static int do_config(int argc, char **argv) {
    const cli_opt opts[] = {{NULL, OPT_FLAG, NULL}};
    int n_pos, rc = cli_parse(argc, argv, opts, NULL, 0, &n_pos, &cmd_world);
    if (rc)
        return rc < 0 ? 0 : rc;
    fputs(ar_world_config_default_json(), stdout);
    return 0;
}

static int run(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "agentrec world: expected generate, eval, stats or config (see "
                        "'agentrec world --help')\n");
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        printf("%s", cmd_world.usage);
        return 0;
    }
    if (strcmp(sub, "config") == 0)
        return do_config(argc - 1, argv + 1);
    int is_gen = strcmp(sub, "generate") == 0, is_eval = strcmp(sub, "eval") == 0,
        is_stats = strcmp(sub, "stats") == 0;
    if (!is_gen && !is_eval && !is_stats) {
        fprintf(stderr,
                "agentrec world: unknown subcommand '%s' (generate, eval, stats, "
                "config)\n",
                sub);
        return CLI_USAGE;
    }
    const char *config = NULL, *policy_name = "popular", *out = NULL, *model_file = NULL,
               *dataset_dir = NULL;
    uint64_t seed = 0;
    bool have_seed = false, json = false, no_imp = false, no_guard = false;
    int threads = 0, days = 0, after = 0;
    int64_t visits = 20000;
    double confidence = 0.95;
    const char *seed_arg = NULL, *visits_arg = NULL;
    const cli_opt opts[] = {
        {"config", OPT_STR, &config},
        {"seed", OPT_STR, &seed_arg},
        {"threads", OPT_INT, &threads},
        {"policy", OPT_STR, &policy_name},
        {"model-file", OPT_STR, &model_file},
        {"dataset", OPT_STR, &dataset_dir},
        {"out", OPT_STR, &out},
        {"days", OPT_INT, &days},
        {"after-history", OPT_INT, &after},
        {"visits", OPT_STR, &visits_arg},
        {"confidence", OPT_DOUBLE, &confidence},
        {"json", OPT_FLAG, &json},
        {"no-impressions", OPT_FLAG, &no_imp},
        {"no-guardrails", OPT_FLAG, &no_guard},
        {NULL, OPT_FLAG, NULL},
    };
    int n_pos, rc = cli_parse(argc - 1, argv + 1, opts, NULL, 0, &n_pos, &cmd_world);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (seed_arg) {
        char *end;
        if (*seed_arg == '-' || !*seed_arg || (seed = strtoull(seed_arg, &end, 10), *end)) {
            fprintf(stderr, "agentrec world: bad value '%s' for --seed\n", seed_arg);
            return CLI_USAGE;
        }
        have_seed = true;
    }
    if (visits_arg) {
        char *end;
        long long v = strtoll(visits_arg, &end, 10);
        if (!*visits_arg || *end || v < 1) {
            fprintf(stderr, "agentrec world: --visits expects a positive integer\n");
            return CLI_USAGE;
        }
        visits = v;
    }
    if ((model_file != NULL) != (dataset_dir != NULL) || (model_file && !is_eval)) {
        fprintf(stderr, "agentrec world: --model-file and --dataset go together, with eval\n");
        return CLI_USAGE;
    }
    if (is_gen && !out) {
        fprintf(stderr, "agentrec world generate: --out DIR is required\n");
        return CLI_USAGE;
    }
    if (days < 0 || threads < 0 || after < 0 || after > AR_WORLD_MAX_DAYS) {
        fprintf(stderr, "agentrec world: --days and --threads must not be negative, "
                        "--after-history must be in [0, 3650]\n");
        return CLI_USAGE;
    }
    if (after && !is_eval) {
        fprintf(stderr, "agentrec world: --after-history goes with eval\n");
        return CLI_USAGE;
    }

    ar_error err;
    ar_world_config *cfg = NULL;
    ar_status st = config ? ar_world_config_load(config, &cfg, &err)
                          : ar_world_config_parse(NULL, 0, &cfg, &err);
    if (st)
        return cli_error("world", "%s", err.msg);
    if (!have_seed)
        seed = ar_world_config_seed(cfg);
    if (days == 0)
        days = ar_world_config_days(cfg);
    ar_world *w = NULL;
    ar_model *model = NULL;
    ar_dataset *mds = NULL;
    ar_world_policy pol = {0};
    ar_world_state *start = NULL;
    rc = CLI_FAIL;
    if ((st = ar_world_create(cfg, seed, threads, &w, &err))) {
        cli_error("world", "%s", err.msg);
        goto done;
    }
    if (model_file) {
        if (ar_model_load(model_file, &model, &err) || !(mds = cli_load("world", dataset_dir)) ||
            ar_world_model_policy(w, model, mds, &pol, &err)) {
            if (model && !mds)
                goto done; /* cli_load printed why */
            cli_error("world", "%s", err.msg);
            goto done;
        }
    } else if (!is_stats && ar_world_policy_builtin(w, policy_name, &pol)) {
        fprintf(stderr, "agentrec world: unknown policy '%s' (random, popular, mostpop, oracle)\n",
                policy_name);
        rc = CLI_USAGE;
        goto done;
    }
    if (is_gen) {
        ar_world_generate_options o = ar_world_generate_options_default();
        o.days = days;
        o.impressions = !no_imp;
        o.enforce_guardrails = !no_guard;
        o.n_threads = threads;
        const char *bad = ar_world_generate_options_check(&o);
        if (bad) {
            cli_error("world", "%s", bad);
            goto done;
        }
        ar_progress *p = cli_progress("generate");
        o.progress = ar_progress_update;
        o.progress_data = p;
        ar_dataset *ds;
        ar_world_eval_result r;
        st = ar_world_generate(w, &pol, &o, &ds, &r, &err);
        ar_progress_free(p);
        if (st) {
            cli_error("world", "%s", err.msg);
            goto done;
        }
        int sr = cli_save("world", ds, out);
        int64_t n_inter = ar_dataset_n_interactions(ds);
        ar_dataset_free(ds);
        if (sr)
            goto done;
        if (json) {
            json_t *j = result_json(w, pol.name, &r);
            json_object_set_new(j, "out", json_string(out));
            json_object_set_new(j, "interactions", json_integer((json_int_t)n_inter));
            json_object_set_new(j, "seed", json_integer((json_int_t)seed));
            cli_print_json(j);
        } else {
            printf("generated %d days of the world (seed %llu, policy %s) into %s: %lld "
                   "interactions\n",
                   days, (unsigned long long)seed, pol.name, out, (long long)n_inter);
            print_result(pol.name, &r);
        }
        rc = 0;
    } else if (is_eval) {
        ar_world_eval_options o = ar_world_eval_options_default();
        o.visits = visits;
        o.confidence = confidence;
        o.enforce_guardrails = !no_guard;
        o.n_threads = threads;
        if (after) {
            /* The history is logged with the guardrails enforced, as generate does. */
            ar_world_policy lp;
            ar_world_policy_builtin(w, "popular", &lp);
            if ((st = ar_world_state_create(w, &lp, after, threads, &start, &err))) {
                cli_error("world", "%s", err.msg);
                goto done;
            }
            o.start_day = after;
            o.state = start;
        }
        const char *bad = ar_world_eval_options_check(&o);
        if (bad) {
            cli_error("world", "%s", bad);
            goto done;
        }
        ar_world_eval_result r, orc;
        if ((st = ar_world_eval(w, &pol, &o, &r, &err))) {
            cli_error("world", "%s", err.msg);
            goto done;
        }
        if (strcmp(pol.name, "oracle") == 0) {
            orc = r;
        } else {
            ar_world_policy op;
            ar_world_policy_builtin(w, "oracle", &op);
            if ((st = ar_world_eval(w, &op, &o, &orc, &err))) {
                cli_error("world", "oracle: %s", err.msg);
                goto done;
            }
        }
        double ov = orc.metric[AR_WM_REVENUE_PER_VISIT].mean;
        double frac = ov > 0 ? r.metric[AR_WM_REVENUE_PER_VISIT].mean / ov : 0;
        if (json) {
            json_t *j = result_json(w, pol.name, &r);
            json_object_set_new(j, "seed", json_integer((json_int_t)seed));
            json_object_set_new(j, "start_day", json_integer(after));
            json_object_set_new(j, "oracle_fraction", json_real(frac));
            json_object_set_new(j, "oracle_revenue_per_visit",
                                estimate_json(&orc.metric[AR_WM_REVENUE_PER_VISIT]));
            cli_print_json(j);
        } else {
            print_result(pol.name, &r);
            printf("  %-30s %12.4f\n", "oracle_fraction", frac);
        }
        rc = 0;
    } else {
        ar_world_stats s;
        if ((st = ar_world_stats_compute(w, threads, &s, &err))) {
            cli_error("world", "%s", err.msg);
            goto done;
        }
        static const char *const tiers[AR_WORLD_MAX_TIERS] = {"luxury", "premium", "contemporary"};
        if (json) {
            json_t *j = result_json(w, "popular", &s.run);
            json_object_set_new(j, "seed", json_integer((json_int_t)seed));
            json_object_set_new(j, "cart_per_click", json_real(s.cart_rate));
            json_object_set_new(j, "purchase_per_click", json_real(s.purchase_per_click));
            json_object_set_new(j, "popularity_gini", json_real(s.popularity_gini));
            json_object_set_new(j, "top1_share", json_real(s.top1_share));
            json_object_set_new(j, "session_mean", json_real(s.session_mean));
            json_object_set_new(j, "session_quantiles",
                                json_pack("[f,f,f,f,f]", s.session_q[0], s.session_q[1],
                                          s.session_q[2], s.session_q[3], s.session_q[4]));
            json_object_set_new(j, "visits_per_customer", json_real(s.visits_per_customer));
            json_t *pt = json_object();
            for (int t = 0; t < AR_WORLD_MAX_TIERS; t++)
                json_object_set_new(pt, tiers[t],
                                    json_pack("{s:i,s:[f,f,f,f,f]}", "items", (int)s.tier_items[t],
                                              "quantiles", s.tier_price_q[t][0],
                                              s.tier_price_q[t][1], s.tier_price_q[t][2],
                                              s.tier_price_q[t][3], s.tier_price_q[t][4]));
            json_object_set_new(j, "price_by_tier", pt);
            cli_print_json(j);
        } else {
            print_result("popular", &s.run);
            printf("  cart/click %.3f, purchase/click %.3f, popularity Gini %.3f, top 1%% of "
                   "items get %.1f%% of clicks\n",
                   s.cart_rate, s.purchase_per_click, s.popularity_gini, 100 * s.top1_share);
            printf("  positions examined per visit: mean %.2f, median %.0f; visits per "
                   "customer %.2f\n",
                   s.session_mean, s.session_q[2], s.visits_per_customer);
            for (int t = 0; t < AR_WORLD_MAX_TIERS; t++)
                printf("  %-13s %5d items, price p10 %.0f  p50 %.0f  p90 %.0f\n", tiers[t],
                       (int)s.tier_items[t], s.tier_price_q[t][0], s.tier_price_q[t][2],
                       s.tier_price_q[t][4]);
        }
        rc = 0;
    }
done:
    ar_world_state_free(start);
    if (model_file)
        ar_world_model_policy_free(&pol);
    ar_model_free(model);
    ar_dataset_free(mds);
    ar_world_free(w);
    ar_world_config_free(cfg);
    return rc;
}
