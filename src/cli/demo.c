#define _POSIX_C_SOURCE 200809L
/*
 * demo.c -- `agentrec demo`: the whole agentic loop with layered rewards, in the retail world.
 *
 *   1. Create the world (seeded), generate its history under the `popular` logging policy
 *      (clicks, carts and purchases; no impressions, so the offline ground truth is what
 *      customers did, not what they were shown), import it as a dataset and split it by time:
 *      the last 20% of the log is the validation split of the inner reward.
 *   2. Measure the baseline (popular) and the oracle online.
 *   3. Loop under a wall-clock budget: the candidate source (demo.h; AutoTrain later) proposes a
 *      model; it is fitted on the training days and must pass the inner gate (its offline score
 *      on the validation days at least (1 - tolerance) times the champion's); then it is refitted
 *      on the whole history and A/B-tested online against the champion (ar_world_ab_test); it
 *      is adopted only when the outer objective's verdict says so (significant improvement, no
 *      floor broken, no guardrail violation shown). Every step goes to the ledger: runs, inner
 *      and outer metrics, experiments, guardrail events, decisions with their evidence and
 *      rationale, the champion's model file and its registry version.
 *   4. Summarise baseline, champion and oracle online with intervals; write the ledger report.
 *
 * Resume. A session is identified by a key, a hash of the world config, the seed and the
 * objective. Every candidate run records its index and the source's point; a rerun with the
 * same ledger replays the decided candidates into the source in order (which reproduces the
 * source's state exactly), reloads the history dataset and the champion's model file recorded
 * as artifacts, and goes on with the first candidate not decided yet.
 */
#include "cli/demo.h"
#include "cli/ledger_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run(int argc, char **argv);

const cli_cmd cmd_demo = {
    "demo", "the agent loop end to end: a recommender for a simulated retailer improves itself",
    "usage: agentrec demo [--world W.json] [--seed S] [--budget T] [--ledger URL] [--json]\n"
    "\n"
    "Creates a retail world (default: the built-in one), generates its history under a\n"
    "popularity policy, measures that baseline online, then lets the agent loop propose,\n"
    "train and test recommenders until the budget is spent: a candidate must beat the\n"
    "champion offline on the last days of the history (the inner reward) before it earns an\n"
    "online A/B test against the champion (the outer reward); it is adopted only when the\n"
    "outer reward improves significantly and no floor or guardrail is broken. Ends with a\n"
    "table of baseline, champion and oracle, and an HTML report of the ledger.\n"
    "\n"
    "  --world W.json      the world config (docs/world.md); default the built-in world\n"
    "  --seed S            default: the config's \"seed\"\n"
    "  --budget T          wall-clock budget of the whole run: 90s, 5m, 1h (default 5m)\n"
    "  --ledger URL        default " AR_LEDGER_DEFAULT_URL "; rerunning with the same ledger,\n"
    "                      world, seed and objective resumes where the last run stopped\n"
    "  --objective O.json  the outer objective: reward weights, floors, inner gate, A/B\n"
    "                      statistics (docs/demo.md); default revenue per visit\n"
    "  --work DIR          history, model files and report.html (default ./agentrec-demo)\n"
    "  --visits N          visits of each final online evaluation (default 40000)\n"
    "  --max-candidates N  stop after N decisions in this run (default: no limit)\n"
    "  --threads N         results do not depend on the thread count\n"
    "  --json              last line: {baseline, champion, oracle, oracle_fraction,\n"
    "                      violations, decisions, ...}\n",
    run};

#define MAX_DECIDED 4096
#define MAX_DUPLICATES 200

typedef struct decided {
    int index;
    char *point;
    double reward; /* what the source was told (demo_source_feedback) */
} decided;

typedef struct demo {
    /* options */
    const char *world_path, *url, *work, *objective_path;
    uint64_t seed;
    double budget, t0;
    int threads, max_candidates;
    int64_t visits;
    bool json;
    /* state */
    ar_world_config *cfg;
    ar_world *w;
    char world_name[64];
    ar_world_objective obj;
    char *obj_json;
    char key[17], dataset_key[40], registry[40];
    ar_ledger *l;
    int64_t session, prev_session;
    ar_dataset *ds;
    char hist_dir[512];
    /* Online runs start the day after the history, in the state it left (the customers' and
     * the stock's), never on the history's own days; each customer's revenue in the history is
     * the A/B tests' CUPED covariate. */
    ar_world_state *start;
    double *covariate;
    demo_source *src;
    ar_world_eval_result base_res, oracle_res;
    double base_reward, oracle_reward, base_inner;
    /* the champion: run 0 = the baseline policy */
    int64_t champ_run;
    ar_model *champ_model;
    ar_world_policy champ_pol; /* popular, or the champion model's serving policy */
    int champ_is_model;
    double champ_inner, champ_reward;
    char champ_desc[600];
    /* the record */
    decided dec[MAX_DECIDED];
    int n_dec;
    json_t *decisions;
    int64_t shown_violations, served_violations;
    int next_index;
    double cand_seconds;
    double ref_seconds; /* the two reference runs of the setup (baseline and oracle) */
    char inner_name[32], recall_name[32];
} demo;

static double outer_reward_of(const demo *d, const ar_world_eval_result *r) {
    double x = 0;
    for (int m = 0; m < AR_WM_N; m++)
        x += d->obj.ab.reward_weight[m] * r->metric[m].mean;
    return x;
}

static uint64_t fnv(const char *s, uint64_t h) {
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void say(const demo *d, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void say(const demo *d, const char *fmt, ...) {
    (void)d;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static int ledger_fail(demo *d, const char *what) {
    return cli_error("demo", "ledger: %s: %s", what, ar_ledger_errmsg(d->l));
}

static int mkdirs(const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

/* The baseline's offline stand-in: what `popular` serves is a Plackett-Luce sample by
 * popularity, so its inner score is that of a ranking sampled with weights (training events
 * of the item + 1), per user from RNG stream (seed, user) (Efraimidis-Spirakis keys
 * log(u) / w, the top k of which is such a sample). */
typedef struct pop_ranker {
    double *weight;
    int32_t n_items;
    uint64_t seed;
} pop_ranker;

static ar_status pop_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                          int32_t k, int32_t *items, int32_t *n_out) {
    const pop_ranker *p = ctx;
    float *key = malloc((size_t)p->n_items * sizeof *key);
    if (!key)
        return AR_ENOMEM;
    ar_rng rng;
    ar_rng_stream(&rng, p->seed, (uint64_t)user);
    for (int32_t i = 0; i < p->n_items; i++) {
        double u = ar_rng_uniform(&rng);
        key[i] = (float)(log(u > 0 ? u : 1e-300) / p->weight[i]);
    }
    *n_out = ar_topk(key, p->n_items, exclude, n_exclude, k, items);
    free(key);
    return AR_OK;
}

static ar_status pop_score(void *ctx, int32_t user, const int32_t *items, int32_t n,
                           float *scores) {
    (void)user;
    const pop_ranker *p = ctx;
    for (int32_t i = 0; i < n; i++)
        scores[i] = (float)p->weight[items[i]];
    return AR_OK;
}

/* -- Setup ------------------------------------------------------------------------------------- */

/* Reads the world and objective, and derives the session key from their canonical JSON. */
static int load_configs(demo *d, bool have_seed) {
    ar_error err;
    json_error_t je;
    json_t *wj;
    if (d->world_path) {
        if (ar_world_config_load(d->world_path, &d->cfg, &err))
            return cli_error("demo", "%s", err.msg);
        wj = json_load_file(d->world_path, 0, &je);
    } else {
        if (ar_world_config_parse(NULL, 0, &d->cfg, &err))
            return cli_error("demo", "%s", err.msg);
        wj = json_loads(ar_world_config_default_json(), 0, &je);
    }
    if (!wj)
        return cli_error("demo", "cannot re-read the world config");
    const char *name = json_string_value(json_object_get(wj, "name"));
    snprintf(d->world_name, sizeof d->world_name, "%s", name ? name : "default");
    char *canon = json_dumps(wj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(wj);
    if (d->objective_path) {
        if (ar_world_objective_load(d->objective_path, &d->obj, &err)) {
            free(canon);
            return cli_error("demo", "%s", err.msg);
        }
    } else {
        d->obj = ar_world_objective_default();
    }
    d->obj.ab.n_threads = d->threads;
    d->obj_json = ar_world_objective_json(&d->obj);
    if (!canon || !d->obj_json) {
        free(canon);
        return cli_error("demo", "out of memory");
    }
    if (!have_seed)
        d->seed = ar_world_config_seed(d->cfg);
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "|seed=%llu|", (unsigned long long)d->seed);
    uint64_t h = fnv("agentrec-demo-v1|", 0xcbf29ce484222325ull);
    h = fnv(canon, h);
    h = fnv(seed_s, h);
    h = fnv(d->obj_json, h);
    free(canon);
    snprintf(d->key, sizeof d->key, "%016llx", (unsigned long long)h);
    snprintf(d->dataset_key, sizeof d->dataset_key, "demo:%s", d->key);
    snprintf(d->registry, sizeof d->registry, "demo-%.8s", d->key);
    snprintf(d->inner_name, sizeof d->inner_name, "%s@%d", d->obj.inner_metric, d->obj.inner_k);
    snprintf(d->recall_name, sizeof d->recall_name, "recall@%d", d->obj.inner_k);
    return 0;
}

static json_t *estimate_json(const ar_world_estimate *e) {
    return json_pack("{s:f,s:f,s:f}", "mean", e->mean, "ci_low", e->ci_low, "ci_high", e->ci_high);
}

static json_t *serving_json(const ar_world_serving *sv) {
    return json_pack("{s:f,s:f,s:f,s:i,s:f,s:f,s:i,s:f}", "model_weight", sv->model_weight,
                     "popularity_weight", sv->popularity_weight, "new_weight", sv->new_weight,
                     "new_days", sv->new_days, "brand_weight", sv->brand_weight, "tail_share",
                     sv->tail_share, "pool", sv->pool, "temperature", sv->temperature);
}

/* The serving options recorded in a candidate's config (absent keys keep their defaults). */
static ar_world_serving serving_of(const json_t *j) {
    ar_world_serving sv = ar_world_serving_default();
    const json_t *x;
    if ((x = json_object_get(j, "model_weight")))
        sv.model_weight = json_number_value(x);
    if ((x = json_object_get(j, "popularity_weight")))
        sv.popularity_weight = json_number_value(x);
    if ((x = json_object_get(j, "new_weight")))
        sv.new_weight = json_number_value(x);
    if ((x = json_object_get(j, "new_days")))
        sv.new_days = (int)json_integer_value(x);
    if ((x = json_object_get(j, "brand_weight")))
        sv.brand_weight = json_number_value(x);
    if ((x = json_object_get(j, "tail_share")))
        sv.tail_share = json_number_value(x);
    if ((x = json_object_get(j, "pool")))
        sv.pool = (int)json_integer_value(x);
    if ((x = json_object_get(j, "temperature")))
        sv.temperature = json_number_value(x);
    return sv;
}

static void serving_text(const ar_world_serving *sv, char *buf, size_t n) {
    snprintf(buf, n,
             "serving: model %.2f + popularity %.2f + new %.2f + brand %.2f, long-tail %.2f, "
             "draw from top %dk at temperature %.2g",
             sv->model_weight, sv->popularity_weight, sv->new_weight, sv->brand_weight,
             sv->tail_share, sv->pool, sv->temperature);
}

/* The outer metrics of an online run, as `agentrec world eval --json` writes them. */
static json_t *result_json(const demo *d, const char *policy, const ar_world_eval_result *r) {
    json_t *j =
        json_pack("{s:s,s:I,s:i,s:I,s:I,s:I,s:f,s:I}", "policy", policy, "visits",
                  (json_int_t)r->visits, "days", r->days, "impressions", (json_int_t)r->impressions,
                  "clicks", (json_int_t)r->clicks, "purchases", (json_int_t)r->purchases, "revenue",
                  r->revenue, "violations_shown", (json_int_t)r->violations_shown);
    for (int m = 0; m < AR_WM_N; m++)
        json_object_set_new(j, ar_world_metric_name(m), estimate_json(&r->metric[m]));
    json_t *rules = json_array();
    for (int q = 0; q < r->n_rules; q++)
        json_array_append_new(rules,
                              json_pack("{s:s,s:I}", "rule", ar_world_rule_kind(d->w, q),
                                        "violations", (json_int_t)r->violations_per_rule[q]));
    json_object_set_new(j, "violations_per_rule", rules);
    json_object_set_new(j, "outer_reward", json_real(outer_reward_of(d, r)));
    return j;
}

static int fit_weights(const demo *d, const char *events, float **ew, int *n) {
    return cli_event_weights("demo", d->ds, events, ew, n);
}

/* Fits a zoo model on the splits in mask. Returns NULL after printing why (why gets a line). */
static ar_model *fit_model(demo *d, const char *model, const char *params, const char *events,
                           unsigned mask, char *why, size_t nwhy) {
    ar_model *m = NULL;
    ar_error err;
    if (ar_model_create(model, &m)) {
        snprintf(why, nwhy, "unknown model %s", model);
        return NULL;
    }
    if (params && ar_model_set_json(m, params, &err)) {
        snprintf(why, nwhy, "parameters: %s", err.msg);
        ar_model_free(m);
        return NULL;
    }
    float *ew = NULL;
    ar_fit_options fo = ar_fit_options_default();
    if (events && fit_weights(d, events, &ew, &fo.n_event_weights)) {
        snprintf(why, nwhy, "bad event weights %s", events);
        ar_model_free(m);
        return NULL;
    }
    fo.event_weights = ew;
    fo.train_mask = mask;
    fo.n_threads = d->threads;
    fo.seed = d->seed;
    ar_status st = ar_model_fit(m, d->ds, &fo, &err);
    free(ew);
    if (st) {
        snprintf(why, nwhy, "fit failed: %s", err.msg);
        ar_model_free(m);
        return NULL;
    }
    return m;
}

/* Offline inner score on the validation days: (metric@k, recall@k). */
/* The inner reward ranks as the world serves: items the model scores above 0 by their score,
 * then the rest by training popularity (the model policy's fallback). Without the fallback a
 * customer with no training history -- most of a world's customers -- would get the lowest
 * item indices offline and the most popular items online, and the two rewards would disagree
 * for no reason but the bookkeeping. */
typedef struct inner_ranker {
    const ar_model *m;
    const ar_csr *hist;
    const double *pop; /* training events per item, scaled into [0, 1) */
    int32_t n_items;
} inner_ranker;

static ar_status inner_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                            int32_t k, int32_t *items, int32_t *n_out) {
    const inner_ranker *r = ctx;
    float *s = malloc((size_t)r->n_items * sizeof *s);
    if (!s)
        return AR_ENOMEM;
    int64_t a = r->hist->indptr[user], b = r->hist->indptr[user + 1];
    ar_status st =
        ar_model_score(r->m, user, r->hist->indices + a, r->hist->values + a, (int32_t)(b - a), s);
    if (!st) {
        float mx = 0;
        for (int32_t i = 0; i < r->n_items; i++)
            mx = isfinite(s[i]) && s[i] > mx ? s[i] : mx;
        for (int32_t i = 0; i < r->n_items; i++)
            s[i] = isfinite(s[i]) && s[i] > 0 ? 2.0f + s[i] / mx : (float)r->pop[i];
        *n_out = ar_topk(s, r->n_items, exclude, n_exclude, k, items);
    }
    free(s);
    return st;
}

static ar_status inner_scores(void *ctx, int32_t user, const int32_t *items, int32_t n,
                              float *scores) {
    (void)ctx, (void)user, (void)items, (void)n, (void)scores;
    return AR_EINVAL; /* the full protocol never asks */
}

/* Offline inner score on the validation days: (metric@k, recall@k). */
static int inner_score(demo *d, const ar_model *m, double *score, double *recall, char *why,
                       size_t nwhy) {
    ar_csr *train = NULL;
    ar_status st;
    int32_t ni = ar_dataset_n_items(d->ds);
    double *pop = calloc((size_t)ni, sizeof *pop);
    if (!pop || (st = ar_dataset_csr(d->ds, AR_MASK_TRAIN, 0, &train))) {
        free(pop);
        snprintf(why, nwhy, "out of memory");
        return -1;
    }
    double mx = 0;
    for (int64_t j = 0; j < train->nnz; j++)
        mx = (pop[train->indices[j]] += 1) > mx ? pop[train->indices[j]] : mx;
    for (int32_t i = 0; i < ni; i++)
        pop[i] /= mx + 1;
    inner_ranker ir = {m, train, pop, ni};
    ar_ranker rk = {&ir, inner_topk, inner_scores, NULL};
    ar_eval_options eo = ar_eval_options_default();
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = d->obj.inner_k;
    eo.target_mask = AR_MASK_VALID;
    eo.exclude_mask = AR_MASK_TRAIN;
    eo.seed = d->seed;
    eo.n_threads = d->threads;
    ar_eval_result r;
    ar_error err;
    st = ar_evaluate(d->ds, &rk, &eo, &r, &err);
    ar_csr_free(train);
    free(pop);
    if (st) {
        snprintf(why, nwhy, "evaluation: %s", err.msg);
        return -1;
    }
    *score = r.value[ar_metric_parse(d->obj.inner_metric)][0];
    *recall = r.value[AR_METRIC_RECALL][0];
    if (!isfinite(*score)) {
        snprintf(why, nwhy, "non-finite inner score");
        return -1;
    }
    return 0;
}

static int world_eval(demo *d, const ar_world_policy *p, int64_t visits, ar_world_eval_result *r) {
    ar_world_eval_options o = ar_world_eval_options_default();
    o.visits = visits;
    o.start_day = ar_world_state_day(d->start);
    o.state = d->start;
    o.confidence = 1 - d->obj.ab.alpha;
    o.n_threads = d->threads;
    ar_error err;
    if (ar_world_eval(d->w, p, &o, r, &err))
        return cli_error("demo", "online evaluation of %s: %s", p->name, err.msg);
    d->shown_violations += r->violations_shown;
    for (int q = 0; q < r->n_rules; q++)
        d->served_violations += r->violations_per_rule[q];
    return 0;
}

static int log_outer(demo *d, int64_t run, const ar_world_eval_result *r, const char *split) {
    ar_metric_point mp[AR_WM_N + 2];
    size_t n = 0;
    for (int m = 0; m < AR_WM_N; m++)
        mp[n++] =
            (ar_metric_point){ar_world_metric_name(m), r->metric[m].mean, 0, AR_SCOPE_OUTER, split};
    mp[n++] = (ar_metric_point){"outer_reward", outer_reward_of(d, r), 0, AR_SCOPE_OUTER, split};
    mp[n++] = (ar_metric_point){"violations_shown", (double)r->violations_shown, 0, AR_SCOPE_OUTER,
                                split};
    return ar_ledger_log_metrics(d->l, run, mp, n) ? ledger_fail(d, "metrics") : 0;
}

static const char *tag_of(ar_ledger *l, int64_t run, const char *key, char *buf, size_t n) {
    ar_kv_list *kv = NULL;
    buf[0] = 0;
    if (ar_ledger_tags(l, run, &kv))
        return NULL;
    const char *v = NULL;
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->key[i], key) == 0) {
            snprintf(buf, n, "%s", kv->value[i]);
            v = buf;
        }
    ar_kv_list_free(kv);
    return v;
}

static double metric_of(ar_ledger *l, int64_t run, const char *name) {
    ar_metric_list *ml = NULL;
    double v = NAN;
    if (ar_ledger_metrics(l, run, name, &ml) == AR_OK) {
        for (size_t i = 0; i < ml->n; i++)
            v = ml->v[i].value; /* ordered by step: the latest wins */
    }
    ar_metric_list_free(ml);
    return v;
}

/* The session run: a new one per invocation, child of the previous one with the same key. */
static int open_session(demo *d) {
    ar_run_query q = ar_run_query_default();
    q.agent = "demo";
    q.dataset = d->dataset_key;
    q.limit = 1;
    ar_run_list *rl = NULL;
    if (ar_ledger_runs(d->l, &q, &rl))
        return ledger_fail(d, "runs");
    d->prev_session = rl->n ? rl->v[0].id : 0;
    ar_run_list_free(rl);
    ar_ledger_agent ag = {"demo", "orchestrator", NULL,
                          "adopt a candidate when its outer reward improves significantly in an "
                          "online A/B test, no floor is broken and no guardrail violation is "
                          "shown, after it passed the inner gate"};
    if (ar_ledger_agent_put(d->l, &ag, NULL))
        return ledger_fail(d, "agent");
    json_t *cfg =
        json_pack("{s:s,s:s,s:I,s:o,s:s}", "world", d->world_name, "world_config",
                  d->world_path ? d->world_path : "(built-in)", "seed", (json_int_t)d->seed,
                  "objective", json_loads(d->obj_json, 0, NULL), "key", d->key);
    char *cs = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(cfg);
    ar_run_spec spec = ar_run_spec_default();
    spec.agent = "demo";
    spec.parent = d->prev_session;
    spec.config = cs;
    spec.dataset = d->dataset_key;
    spec.seed = d->seed;
    ar_status st = ar_ledger_run_begin(d->l, &spec, &d->session);
    free(cs);
    if (st)
        return ledger_fail(d, "session run");
    if (d->prev_session)
        ar_ledger_set_tag(d->l, d->session, "resumes", "yes");
    return 0;
}

/* The world as the history left it (re-simulated: deterministic, so a resumed session gets the
 * same), and each customer's revenue in the history, read from its purchases. */
static int setup_after_history(demo *d) {
    ar_world_policy pop;
    ar_world_policy_builtin(d->w, "popular", &pop);
    int days = ar_world_config_days(d->cfg);
    ar_error err;
    if (ar_world_state_create(d->w, &pop, days, d->threads, &d->start, &err))
        return cli_error("demo", "the world after its history: %s", err.msg);
    int32_t nc = ar_world_n_customers(d->w), nu = ar_dataset_n_users(d->ds);
    int32_t *cust_of = malloc((size_t)(nu > 0 ? nu : 1) * sizeof *cust_of);
    d->covariate = calloc((size_t)nc, sizeof *d->covariate);
    if (!cust_of || !d->covariate) {
        free(cust_of);
        return cli_error("demo", "out of memory");
    }
    for (int32_t u = 0; u < nu; u++)
        cust_of[u] = -1;
    for (int32_t c = 0; c < nc; c++) {
        int32_t u = ar_dataset_lookup(d->ds, AR_USERS, ar_world_customer_id(d->w, c));
        if (u >= 0)
            cust_of[u] = c;
    }
    int purchase = -1;
    for (int e = 0; e < ar_dataset_n_events(d->ds); e++)
        if (strcmp(ar_dataset_event_name(d->ds, e), "purchase") == 0)
            purchase = e;
    ar_interactions in;
    ar_dataset_interactions(d->ds, &in);
    for (int64_t i = 0; purchase >= 0 && in.value && i < in.n; i++)
        if (in.event[i] == purchase && cust_of[in.user[i]] >= 0)
            d->covariate[cust_of[in.user[i]]] += in.value[i];
    free(cust_of);
    if (purchase < 0 || !in.value) { /* no revenue on record: no covariate */
        free(d->covariate);
        d->covariate = NULL;
    }
    say(d, "[setup] online runs start on day %d, in the state the history left\n", days);
    return 0;
}

/* History: generated (and recorded) on the first run, reloaded from the artifact after. */
static int setup_history(demo *d) {
    snprintf(d->hist_dir, sizeof d->hist_dir, "%s/history-%.8s", d->work, d->key);
    char path[600], buf[600];
    cli_dataset_path(d->hist_dir, path, sizeof path);
    const char *recorded =
        d->prev_session ? tag_of(d->l, d->prev_session, "history", buf, sizeof buf) : NULL;
    if (recorded) {
        char fp[64];
        const char *want = tag_of(d->l, d->prev_session, "history_sha", fp, sizeof fp);
        ar_artifact_list *al = NULL;
        int ok = 0;
        ar_error err;
        if (ar_dataset_load(recorded, 1, &d->ds, &err) == AR_OK) {
            char got[40];
            snprintf(got, sizeof got, "%016llx:%lld",
                     (unsigned long long)ar_dataset_fingerprint(d->ds),
                     (long long)ar_dataset_n_interactions(d->ds));
            ok = want && strcmp(got, want) == 0;
            if (!ok) {
                ar_dataset_free(d->ds);
                d->ds = NULL;
            }
        }
        ar_artifact_list_free(al);
        if (ok) {
            snprintf(d->hist_dir, sizeof d->hist_dir, "%s", recorded);
            char *slash = strrchr(d->hist_dir, '/');
            if (slash)
                *slash = 0;
            say(d, "[resume] history reloaded from %s (%lld events)\n", recorded,
                (long long)ar_dataset_n_interactions(d->ds));
        } else {
            say(d, "[resume] the recorded history %s is missing or differs; regenerating it\n",
                recorded);
        }
    }
    if (!d->ds) {
        ar_world_policy pop;
        ar_world_policy_builtin(d->w, "popular", &pop);
        ar_world_generate_options go = ar_world_generate_options_default();
        go.days = ar_world_config_days(d->cfg);
        go.impressions = 0; /* ground truth = what customers did, not what they saw */
        go.n_threads = d->threads;
        ar_error err;
        ar_world_eval_result gr;
        if (ar_world_generate(d->w, &pop, &go, &d->ds, &gr, &err))
            return cli_error("demo", "generating the history: %s", err.msg);
        d->shown_violations += gr.violations_shown;
        ar_split_options so = ar_split_options_default();
        so.method = AR_SPLIT_TEMPORAL;
        so.test_ratio = 0;
        so.valid_ratio = 0.2;
        so.seed = d->seed;
        so.n_threads = d->threads;
        if (ar_dataset_split(d->ds, &so, &err))
            return cli_error("demo", "splitting the history: %s", err.msg);
        if (cli_save("demo", d->ds, d->hist_dir))
            return CLI_FAIL;
        say(d,
            "[setup] history: %d days of the world under 'popular' -> %lld clicks, carts and "
            "purchases (%s)\n",
            go.days, (long long)ar_dataset_n_interactions(d->ds), d->hist_dir);
    }
    char fp[40];
    snprintf(fp, sizeof fp, "%016llx:%lld", (unsigned long long)ar_dataset_fingerprint(d->ds),
             (long long)ar_dataset_n_interactions(d->ds));
    if (ar_ledger_set_tag(d->l, d->session, "history", path) ||
        ar_ledger_set_tag(d->l, d->session, "history_sha", fp) ||
        ar_ledger_log_artifact(d->l, d->session, "dataset", path, NULL))
        return ledger_fail(d, "history artifact");
    say(d,
        "[setup] inner reward: %s on the last 20%% of the history by time (%lld train / %lld "
        "valid events)\n",
        d->inner_name, (long long)ar_dataset_count(d->ds, AR_MASK_TRAIN),
        (long long)ar_dataset_count(d->ds, AR_MASK_VALID));
    return setup_after_history(d);
}

/* Logs a reference run (baseline or oracle) the first time. */
static int reference_run(demo *d, const char *agent, const char *policy,
                         const ar_world_eval_result *r, double inner, int64_t *id) {
    ar_run_query q = ar_run_query_default();
    q.agent = agent;
    q.dataset = d->dataset_key;
    q.limit = 1;
    ar_run_list *rl = NULL;
    if (ar_ledger_runs(d->l, &q, &rl))
        return ledger_fail(d, "runs");
    *id = rl->n ? rl->v[0].id : 0;
    ar_run_list_free(rl);
    if (*id)
        return 0;
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"policy\":\"%s\"}", policy);
    ar_run_spec spec = ar_run_spec_default();
    spec.agent = agent;
    spec.parent = d->session;
    spec.config = cfg;
    spec.dataset = d->dataset_key;
    spec.seed = d->seed;
    if (ar_ledger_run_begin(d->l, &spec, id) || log_outer(d, *id, r, "online"))
        return ledger_fail(d, "reference run");
    if (isfinite(inner)) {
        ar_metric_point mp = {d->inner_name, inner, 0, AR_SCOPE_INNER, "valid"};
        if (ar_ledger_log_metric(d->l, *id, &mp, NULL))
            return ledger_fail(d, "reference inner");
    }
    return ar_ledger_run_finish(d->l, *id, AR_RUN_FINISHED, -1, -1) ? ledger_fail(d, "finish") : 0;
}

static int setup_references(demo *d) {
    ar_world_policy pop, orc;
    ar_world_policy_builtin(d->w, "popular", &pop);
    ar_world_policy_builtin(d->w, "oracle", &orc);
    int64_t v = d->obj.ab.max_visits < 20000 ? d->obj.ab.max_visits : 20000;
    double t = cli_now();
    if (world_eval(d, &pop, v, &d->base_res) || world_eval(d, &orc, v, &d->oracle_res))
        return CLI_FAIL;
    d->ref_seconds = (cli_now() - t) * 20000.0 / (double)v;
    d->base_reward = outer_reward_of(d, &d->base_res);
    d->oracle_reward = outer_reward_of(d, &d->oracle_res);
    /* The baseline's inner score: popularity sampling, ranked offline. */
    pop_ranker pr = {NULL, ar_dataset_n_items(d->ds), d->seed};
    pr.weight = malloc((size_t)pr.n_items * sizeof *pr.weight);
    if (!pr.weight)
        return cli_error("demo", "out of memory");
    for (int32_t i = 0; i < pr.n_items; i++)
        pr.weight[i] = 1;
    ar_interactions in;
    ar_dataset_interactions(d->ds, &in);
    for (int64_t i = 0; i < in.n; i++)
        if (in.split[i] == AR_SPLIT_TRAIN)
            pr.weight[in.item[i]] += 1;
    ar_ranker rk = {&pr, pop_topk, pop_score, NULL};
    ar_eval_options eo = ar_eval_options_default();
    eo.n_cutoffs = 1;
    eo.cutoffs[0] = d->obj.inner_k;
    eo.target_mask = AR_MASK_VALID;
    eo.exclude_mask = AR_MASK_TRAIN;
    eo.seed = d->seed;
    eo.n_threads = d->threads;
    ar_eval_result er;
    ar_error err;
    ar_status st = ar_evaluate(d->ds, &rk, &eo, &er, &err);
    free(pr.weight);
    if (st)
        return cli_error("demo", "the baseline's inner score: %s", err.msg);
    d->base_inner = er.value[ar_metric_parse(d->obj.inner_metric)][0];
    int64_t id;
    if (reference_run(d, "demo-baseline", "popular", &d->base_res, d->base_inner, &id) ||
        reference_run(d, "demo-oracle", "oracle", &d->oracle_res, NAN, &id))
        return CLI_FAIL;
    const ar_world_estimate *b = &d->base_res.metric[AR_WM_REVENUE_PER_VISIT];
    say(d,
        "[setup] baseline 'popular' online: revenue/visit %.2f [%.2f, %.2f], outer reward "
        "%.3f; offline %s %.4f (popularity sampling)\n",
        b->mean, b->ci_low, b->ci_high, d->base_reward, d->inner_name, d->base_inner);
    say(d, "[setup] oracle online: revenue/visit %.2f (the ceiling)\n",
        d->oracle_res.metric[AR_WM_REVENUE_PER_VISIT].mean);
    d->champ_run = 0;
    d->champ_inner = d->base_inner;
    d->champ_reward = d->base_reward;
    d->champ_pol = pop;
    d->champ_is_model = 0;
    snprintf(d->champ_desc, sizeof d->champ_desc, "popular (baseline)");
    return 0;
}

static int set_champion(demo *d, int64_t run, ar_model *m, const ar_world_serving *sv,
                        const char *desc, double inner) {
    if (d->champ_is_model)
        ar_world_model_policy_free(&d->champ_pol);
    ar_model_free(d->champ_model);
    d->champ_model = m;
    d->champ_run = run;
    d->champ_inner = inner;
    d->champ_is_model = 1;
    snprintf(d->champ_desc, sizeof d->champ_desc, "%s", desc);
    ar_error err;
    if (ar_world_model_policy_serving(d->w, m, d->ds, sv, &d->champ_pol, &err)) {
        d->champ_is_model = 0;
        ar_world_policy_builtin(d->w, "popular", &d->champ_pol);
        return cli_error("demo", "champion policy: %s", err.msg);
    }
    return 0;
}

/* Replays the decided candidates of earlier runs with this key into the source, and restores
 * the champion. */
static int resume(demo *d) {
    ar_run_query q = ar_run_query_default();
    q.agent = "demo-candidate";
    q.dataset = d->dataset_key;
    ar_run_list *rl = NULL;
    if (ar_ledger_runs(d->l, &q, &rl))
        return ledger_fail(d, "runs");
    int64_t champ = 0;
    int champ_index = -1;
    char buf[4096];
    for (size_t i = 0; i < rl->n; i++) {
        const ar_run *r = &rl->v[i];
        ar_decision_list *dl = NULL;
        if (ar_ledger_decisions(d->l, r->id, 0, &dl)) {
            ar_run_list_free(rl);
            return ledger_fail(d, "decisions");
        }
        int has = dl->n > 0, adopt = has && dl->v[dl->n - 1].action == AR_ACTION_ADOPT;
        char rationale[1024];
        snprintf(rationale, sizeof rationale, "%s", has ? dl->v[dl->n - 1].rationale : "");
        ar_decision_list_free(dl);
        if (!has)
            continue; /* interrupted before its decision: it will be redone */
        char ib[32];
        const char *idx = tag_of(d->l, r->id, "index", ib, sizeof ib);
        const char *point = tag_of(d->l, r->id, "point", buf, sizeof buf);
        if (!idx || !point || d->n_dec >= MAX_DECIDED)
            continue;
        decided *x = &d->dec[d->n_dec++];
        x->index = atoi(idx);
        x->point = strdup(point);
        x->reward = metric_of(d->l, r->id, "source_reward");
        double inner = metric_of(d->l, r->id, d->inner_name);
        if (adopt && x->index > champ_index) {
            champ_index = x->index;
            champ = r->id;
        }
        json_t *cfg = json_loads(r->config, 0, NULL);
        json_array_append_new(d->decisions,
                              json_pack("{s:i,s:I,s:o,s:s,s:o,s:s,s:b}", "index", x->index, "run",
                                        (json_int_t)r->id, "candidate", cfg ? cfg : json_null(),
                                        "action", adopt ? "adopt" : "reject", "inner",
                                        cli_num(inner), "rationale", rationale, "resumed", 1));
    }
    ar_run_list_free(rl);
    /* index order */
    for (int i = 1; i < d->n_dec; i++)
        for (int j = i; j > 0 && d->dec[j - 1].index > d->dec[j].index; j--) {
            decided t = d->dec[j];
            d->dec[j] = d->dec[j - 1];
            d->dec[j - 1] = t;
        }
    d->next_index = d->n_dec ? d->dec[d->n_dec - 1].index + 1 : 1;
    /* Replay: the source proposes exactly what it proposed before, duplicates included. */
    int k = 0, dups = 0;
    while (k < d->n_dec) {
        demo_candidate c;
        if (demo_source_next(d->src, &c))
            return CLI_FAIL;
        int dup = -1;
        for (int j = 0; j < k; j++)
            if (strcmp(d->dec[j].point, c.point) == 0)
                dup = j;
        if (dup >= 0 && strcmp(d->dec[k].point, c.point) != 0) {
            demo_candidate_clear(&c);
            if (demo_source_feedback(d->src, d->dec[dup].point, d->dec[dup].reward))
                return CLI_FAIL;
            if (++dups > 100000)
                break;
            continue;
        }
        if (strcmp(d->dec[k].point, c.point) != 0) {
            say(d, "[resume] the source proposes differently from the ledger (another "
                   "agentrec?); it learns from the recorded candidates and goes on\n");
            demo_candidate_clear(&c);
            for (; k < d->n_dec; k++)
                if (demo_source_feedback(d->src, d->dec[k].point, d->dec[k].reward))
                    return CLI_FAIL;
            break;
        }
        demo_candidate_clear(&c);
        if (demo_source_feedback(d->src, d->dec[k].point, d->dec[k].reward))
            return CLI_FAIL;
        k++;
    }
    if (d->n_dec)
        say(d,
            "[resume] %d decisions recovered from the ledger (not redone); the search policy "
            "replayed them\n",
            d->n_dec);
    if (!champ)
        return 0;
    /* The champion: its model file, or a refit from its recorded configuration. */
    ar_run_list *cr = NULL;
    if (ar_ledger_run_get(d->l, champ, &cr))
        return ledger_fail(d, "champion run");
    json_t *cfg = json_loads(cr->v[0].config, 0, NULL);
    ar_run_list_free(cr);
    const char *model = json_string_value(json_object_get(cfg, "model"));
    const char *events = json_string_value(json_object_get(cfg, "events"));
    json_t *serving = json_object_get(cfg, "serving");
    ar_world_serving sv = serving_of(serving);
    char *params = json_dumps(json_object_get(cfg, "params"), JSON_COMPACT | JSON_SORT_KEYS);
    ar_artifact_list *al = NULL;
    ar_model *m = NULL;
    ar_error err;
    if (ar_ledger_artifacts(d->l, champ, &al) == AR_OK) {
        for (size_t i = 0; i < al->n && !m; i++)
            if (strcmp(al->v[i].kind, "model") == 0 &&
                ar_model_load(al->v[i].path, &m, &err) == AR_OK &&
                ar_model_check_dataset(m, d->ds, &err) != AR_OK) {
                ar_model_free(m);
                m = NULL;
            }
    }
    ar_artifact_list_free(al);
    char why[512];
    if (!m && model)
        m = fit_model(d, model, params, events, AR_MASK_ALL, why, sizeof why);
    int rc = 0;
    if (!m) {
        rc = cli_error("demo", "cannot restore the champion (run %lld)", (long long)champ);
    } else {
        char desc[600];
        snprintf(desc, sizeof desc, "%s %s (run %lld)", model ? model : "?", params ? params : "",
                 (long long)champ);
        rc = set_champion(d, champ, m, &sv, desc, metric_of(d->l, champ, d->inner_name));
        double r = metric_of(d->l, champ, "outer_reward");
        d->champ_reward = isfinite(r) ? r : d->base_reward;
        say(d, "[resume] champion restored: %s\n", desc);
    }
    free(params);
    json_decref(cfg);
    return rc;
}

/* -- One candidate -------------------------------------------------------------------------- */

static double elapsed(const demo *d) {
    return cli_now() - d->t0;
}

static int decide(demo *d, int64_t run, ar_action action, const char *rationale,
                  const int64_t *evidence, size_t n_ev) {
    ar_decision_spec ds = {run, action, rationale, evidence, n_ev, AR_DECIDER_AGENT, "demo"};
    return ar_ledger_log_decision(d->l, &ds, NULL) ? ledger_fail(d, "decision") : 0;
}

/* Tells the source how the candidate did, and records it (the replay on resume reads it). */
static int feedback(demo *d, int64_t run, json_t *rec, const char *point, double reward) {
    if (isfinite(reward)) {
        ar_metric_point mp = {"source_reward", reward, 0, AR_SCOPE_OUTER, "online"};
        if (ar_ledger_log_metric(d->l, run, &mp, NULL))
            return ledger_fail(d, "source reward");
    }
    json_object_set_new(rec, "source_reward", cli_num(reward));
    return demo_source_feedback(d->src, point, reward);
}

static int candidate(demo *d, demo_candidate *c, int index) {
    double t_start = cli_now();
    json_error_t je;
    json_t *cfg =
        json_pack("{s:s,s:o,s:s,s:o}", "model", c->model, "params", json_loads(c->params, 0, &je),
                  "events", c->events, "serving", serving_json(&c->serving));
    char *cs = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    ar_run_spec spec = ar_run_spec_default();
    spec.agent = "demo-candidate";
    spec.parent = d->champ_run ? d->champ_run : d->session;
    spec.config = cs;
    spec.dataset = d->dataset_key;
    spec.seed = d->seed;
    int64_t run;
    ar_status st = ar_ledger_run_begin(d->l, &spec, &run);
    free(cs);
    if (st) {
        json_decref(cfg);
        return ledger_fail(d, "candidate run");
    }
    char ib[16];
    snprintf(ib, sizeof ib, "%d", index);
    if (ar_ledger_set_tag(d->l, run, "index", ib) ||
        ar_ledger_set_tag(d->l, run, "point", c->point) ||
        ar_ledger_set_tag(d->l, run, "session", d->key) ||
        ar_ledger_log_param(d->l, run, "model", c->model) ||
        ar_ledger_log_param(d->l, run, "params", c->params) ||
        ar_ledger_log_param(d->l, run, "events", c->events)) {
        json_decref(cfg);
        return ledger_fail(d, "candidate tags");
    }
    char why[768], rationale[1536];
    double inner = NAN, recall = NAN;
    ar_model *m = fit_model(d, c->model, c->params, c->events, AR_MASK_TRAIN, why, sizeof why);
    int rc = 0;
    json_t *rec = json_pack("{s:i,s:I,s:o,s:s}", "index", index, "run", (json_int_t)run,
                            "candidate", cfg, "champion", d->champ_desc);
    if (!m || inner_score(d, m, &inner, &recall, why, sizeof why)) {
        ar_model_free(m);
        snprintf(rationale, sizeof rationale, "reject: the candidate failed (%s)", why);
        ar_ledger_run_finish(d->l, run, AR_RUN_FAILED, -1, -1);
        rc = decide(d, run, AR_ACTION_REJECT, rationale, NULL, 0);
        say(d, "#%-3d %5.0fs %-8s %s -> failed: %s\n", index, elapsed(d), c->model, c->params, why);
        json_object_set_new(rec, "action", json_string("reject"));
        json_object_set_new(rec, "rationale", json_string(rationale));
        json_array_append_new(d->decisions, rec);
        if (!rc)
            rc = feedback(d, run, rec, c->point, NAN);
        return rc;
    }
    ar_model_free(m);
    int64_t ev[8];
    size_t nev = 0;
    ar_metric_point ip[2] = {{d->inner_name, inner, 0, AR_SCOPE_INNER, "valid"},
                             {d->recall_name, recall, 0, AR_SCOPE_INNER, "valid"}};
    if (ar_ledger_log_metric(d->l, run, &ip[0], &ev[nev++]) ||
        ar_ledger_log_metric(d->l, run, &ip[1], NULL))
        return ledger_fail(d, "inner metrics");
    json_object_set_new(rec, "inner", json_real(inner));
    double gate = d->champ_inner * (1 - d->obj.inner_tolerance);
    if (!(inner >= gate)) {
        snprintf(rationale, sizeof rationale,
                 "reject at the inner gate: %s %.4f on the validation days < %.4f = (1 - %.2f) x "
                 "the champion's %.4f (%s); no A/B test",
                 d->inner_name, inner, gate, d->obj.inner_tolerance, d->champ_inner, d->champ_desc);
        ar_ledger_run_finish(d->l, run, AR_RUN_FINISHED, -1, -1);
        rc = decide(d, run, AR_ACTION_REJECT, rationale, ev, nev);
        say(d, "#%-3d %5.0fs %-8s %s\n       inner %s %.4f < gate %.4f -> reject (inner gate)\n",
            index, elapsed(d), c->model, c->params, d->inner_name, inner, gate);
        json_object_set_new(rec, "action", json_string("reject"));
        json_object_set_new(rec, "rationale", json_string(rationale));
        json_array_append_new(d->decisions, rec);
        if (!rc)
            rc = feedback(d, run, rec, c->point, 0);
        return rc;
    }
    /* The outer evaluation: refit on the whole history and test online against the champion. */
    m = fit_model(d, c->model, c->params, c->events, AR_MASK_ALL, why, sizeof why);
    ar_world_policy mpol = {0};
    ar_error err;
    if (!m || ar_world_model_policy_serving(d->w, m, d->ds, &c->serving, &mpol, &err)) {
        if (m)
            snprintf(why, sizeof why, "%s", err.msg);
        ar_model_free(m);
        json_decref(rec);
        return cli_error("demo", "candidate %d: %s", index, why);
    }
    ar_world_objective obj = d->obj;
    obj.ab.salt = mix(d->seed * 0x100000001b3ull + (uint64_t)index);
    obj.ab.start_day = ar_world_state_day(d->start);
    obj.ab.state = d->start;
    obj.ab.covariate = d->covariate;
    char variants[256], exp_name[96];
    snprintf(variants, sizeof variants,
             "[{\"name\":\"A\",\"run\":%lld,\"policy\":\"champion\"},{\"name\":\"B\",\"run\":%lld,"
             "\"policy\":\"candidate\"}]",
             (long long)d->champ_run, (long long)run);
    char alloc[96];
    snprintf(alloc, sizeof alloc, "{\"A\":%.6g,\"B\":%.6g}", 1 - obj.ab.share, obj.ab.share);
    snprintf(exp_name, sizeof exp_name, "demo-%.8s-candidate-%d", d->key, index);
    ar_experiment_spec es = {exp_name, variants, alloc};
    int64_t exp_id;
    if (ar_ledger_experiment_begin(d->l, &es, &exp_id)) {
        ar_world_model_policy_free(&mpol);
        ar_model_free(m);
        json_decref(rec);
        return ledger_fail(d, "experiment");
    }
    ar_world_policy pol = mpol;
    ar_world_ab_result ab;
    if (ar_world_ab_test(d->w, &d->champ_pol, &pol, &obj.ab, &ab, &err)) {
        ar_world_model_policy_free(&mpol);
        ar_model_free(m);
        json_decref(rec);
        return cli_error("demo", "A/B test of candidate %d: %s", index, err.msg);
    }
    ar_world_model_policy_free(&mpol);
    for (int k = 0; k < 2; k++) {
        d->shown_violations += ab.arm[k].violations_shown;
        for (int q = 0; q < ab.arm[k].n_rules; q++)
            d->served_violations += ab.arm[k].violations_per_rule[q];
    }
    ar_world_verdict v;
    ar_world_ab_verdict(&d->obj, &ab, &d->base_res, &v);
    /* The ledger: outer metrics of the candidate's arm, the test's result, the guardrail. */
    const ar_world_ab_diff *rd = &ab.reward_diff;
    ar_metric_point op[] = {
        {"outer_reward", ab.reward[1].mean, 0, AR_SCOPE_OUTER, "online"},
        {"outer_reward_diff", rd->diff, 0, AR_SCOPE_OUTER, "online"},
        {"outer_reward_diff_ci_low", rd->ci_low, 0, AR_SCOPE_OUTER, "online"},
        {"outer_reward_diff_ci_high", rd->ci_high, 0, AR_SCOPE_OUTER, "online"},
        {"p_value", rd->p_value, 0, AR_SCOPE_OUTER, "online"},
        {"violations_shown", (double)(ab.arm[0].violations_shown + ab.arm[1].violations_shown), 0,
         AR_SCOPE_OUTER, "online"},
    };
    for (size_t i = 0; i < sizeof op / sizeof op[0]; i++)
        if (ar_ledger_log_metric(d->l, run, &op[i], &ev[nev++]))
            return ledger_fail(d, "outer metrics");
    static const int secondary[] = {AR_WM_REVENUE_PER_VISIT, AR_WM_CONVERSION,
                                    AR_WM_NEW_COLLECTION_SHARE, AR_WM_LONG_TAIL_SHARE,
                                    AR_WM_VIOLATIONS};
    for (size_t i = 0; i < sizeof secondary / sizeof secondary[0]; i++) {
        ar_metric_point p = {ar_world_metric_name(secondary[i]),
                             ab.arm[1].metric[secondary[i]].mean, 0, AR_SCOPE_OUTER, "online"};
        if (ar_ledger_log_metric(d->l, run, &p, NULL))
            return ledger_fail(d, "outer metrics");
    }
    json_t *res = json_pack(
        "{s:I,s:I,s:b,s:f,s:o,s:o,s:{s:f,s:f,s:f,s:f,s:f},s:I,s:I,s:b,s:b,s:b}", "visits",
        (json_int_t)ab.visits, "required_visits", (json_int_t)ab.required_visits, "capped",
        ab.capped, "mde_at_visits", ab.mde_at_visits, "A", estimate_json(&ab.reward[0]), "B",
        estimate_json(&ab.reward[1]), "difference", "diff", rd->diff, "ci_low", rd->ci_low,
        "ci_high", rd->ci_high, "rel", rd->rel, "p_value", rd->p_value, "customers_A",
        (json_int_t)ab.customers[0], "customers_B", (json_int_t)ab.customers[1], "significant",
        v.significant, "floors_ok", v.floors_ok, "guardrails_ok", v.guardrails_ok);
    char *rs = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    st = ar_ledger_experiment_end(d->l, exp_id, rs);
    free(rs);
    int64_t served = 0;
    for (int q = 0; q < ab.arm[1].n_rules; q++)
        served += ab.arm[1].violations_per_rule[q] + ab.arm[0].violations_per_rule[q];
    char detail[256];
    snprintf(detail, sizeof detail,
             "%lld violations served by the two variants were repaired before display; %lld "
             "shown",
             (long long)served,
             (long long)(ab.arm[0].violations_shown + ab.arm[1].violations_shown));
    ar_guardrail_event ge = {run,
                             exp_id,
                             "brand_rule_violations_shown",
                             (double)(ab.arm[0].violations_shown + ab.arm[1].violations_shown),
                             0,
                             "hard filter (ar_world_guardrail_repair)",
                             detail};
    if (st || ar_ledger_log_guardrail(d->l, &ge, NULL)) {
        ar_model_free(m);
        json_decref(res);
        json_decref(rec);
        return ledger_fail(d, "experiment result");
    }
    snprintf(rationale, sizeof rationale,
             "%s | inner %s %.4f vs champion %.4f (gate %.4f) | A/B vs %s, %lld visits "
             "(power analysis asked %lld)",
             v.rationale, d->inner_name, inner, d->champ_inner, gate, d->champ_desc,
             (long long)ab.visits, (long long)ab.required_visits);
    char mpath[700];
    if (v.adopt) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/models-%.8s", d->work, d->key);
        snprintf(mpath, sizeof mpath, "%s/candidate-%d.model", dir, index);
        int32_t version;
        if (mkdirs(dir) || ar_model_save(m, mpath, &err)) {
            ar_model_free(m);
            json_decref(res);
            json_decref(rec);
            return cli_error("demo", "saving the champion: %s", mkdirs(dir) ? dir : err.msg);
        }
        if (ar_ledger_log_artifact(d->l, run, "model", mpath, NULL) ||
            ar_ledger_model_register(d->l, d->registry, run, &version) ||
            ar_ledger_model_stage(d->l, d->registry, version, AR_STAGE_PRODUCTION, rationale) ||
            ar_ledger_model_alias(d->l, d->registry, version, "champion")) {
            ar_model_free(m);
            json_decref(res);
            json_decref(rec);
            return ledger_fail(d, "registry");
        }
    }
    ar_ledger_run_finish(d->l, run, AR_RUN_FINISHED, -1, -1);
    if (decide(d, run, v.adopt ? AR_ACTION_ADOPT : AR_ACTION_REJECT, rationale, ev, nev)) {
        ar_model_free(m);
        json_decref(res);
        json_decref(rec);
        return CLI_FAIL;
    }
    char stext[256], vs[64];
    serving_text(&c->serving, stext, sizeof stext);
    if (d->champ_run)
        snprintf(vs, sizeof vs, "the champion (run %lld)", (long long)d->champ_run);
    else
        snprintf(vs, sizeof vs, "popular");
    say(d,
        "#%-3d %5.0fs %-8s %s\n       %s\n       inner %s %.4f (gate %.4f) | A/B vs %s: reward "
        "%.3f vs %.3f, %+.1f%% [%+.1f%%, %+.1f%%] p=%.3g, %lld visits | %s\n",
        index, elapsed(d), c->model, c->params, stext, d->inner_name, inner, gate, vs,
        ab.reward[1].mean, ab.reward[0].mean, 100 * rd->rel,
        ab.reward[0].mean ? 100 * rd->ci_low / fabs(ab.reward[0].mean) : 0,
        ab.reward[0].mean ? 100 * rd->ci_high / fabs(ab.reward[0].mean) : 0, rd->p_value,
        (long long)ab.visits,
        v.adopt          ? "ADOPT"
        : !v.significant ? "reject (not significant)"
        : !v.floors_ok   ? "reject (floor broken)"
                         : "reject (guardrail)");
    json_object_set_new(rec, "ab", res);
    json_object_set_new(rec, "action", json_string(v.adopt ? "adopt" : "reject"));
    json_object_set_new(rec, "rationale", json_string(rationale));
    json_array_append_new(d->decisions, rec);
    if (v.adopt) {
        char desc[600];
        snprintf(desc, sizeof desc, "%s %s; %s (run %lld)", c->model, c->params, stext,
                 (long long)run);
        if (set_champion(d, run, m, &c->serving, desc, inner))
            return CLI_FAIL;
        d->champ_reward = ab.reward[1].mean;
    } else {
        ar_model_free(m);
    }
    /* The outer reward over time against the baseline and the oracle, for the report. */
    ar_metric_point tp[] = {
        {"champion_outer_reward", d->champ_reward, 0, AR_SCOPE_OUTER, "online"},
        {"baseline_outer_reward", d->base_reward, 0, AR_SCOPE_OUTER, "online"},
        {"oracle_outer_reward", d->oracle_reward, 0, AR_SCOPE_OUTER, "online"},
    };
    if (ar_ledger_log_metrics(d->l, run, tp, 3))
        return ledger_fail(d, "reward history");
    double took = cli_now() - t_start;
    if (took > d->cand_seconds)
        d->cand_seconds = took;
    return feedback(d, run, rec, c->point,
                    d->base_reward > 0 ? ab.reward[1].mean / d->base_reward : NAN);
}

/* -- Summary -------------------------------------------------------------------------------- */

static void print_table(const demo *d, const ar_world_eval_result *r[3]) {
    static const char *const heads[3] = {"baseline (popular)", "champion", "oracle"};
    say(d, "\n%-24s %-24s %-24s %-24s\n", "metric", heads[0], heads[1], heads[2]);
    static const int rows[] = {AR_WM_REVENUE_PER_VISIT,
                               AR_WM_CONVERSION,
                               AR_WM_CTR,
                               AR_WM_AOV,
                               AR_WM_MARGIN_PER_VISIT,
                               AR_WM_NEW_COLLECTION_SHARE,
                               AR_WM_LONG_TAIL_SHARE,
                               AR_WM_VIOLATIONS};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int m = rows[i];
        say(d, "%-24s",
            m == AR_WM_VIOLATIONS ? "violations served/visit" : ar_world_metric_name(m));
        for (int k = 0; k < 3; k++) {
            char cell[64];
            const ar_world_estimate *e = &r[k]->metric[m];
            int big = fabs(e->mean) >= 10;
            snprintf(cell, sizeof cell, big ? "%.2f [%.2f, %.2f]" : "%.4f [%.4f, %.4f]", e->mean,
                     e->ci_low, e->ci_high);
            say(d, " %-24s", cell);
        }
        say(d, "\n");
    }
    say(d, "%-24s", "violations shown");
    for (int k = 0; k < 3; k++)
        say(d, " %-24lld", (long long)r[k]->violations_shown);
    say(d, "\n");
}

/* -- The command ---------------------------------------------------------------------------- */

static void demo_free(demo *d) {
    if (d->champ_is_model)
        ar_world_model_policy_free(&d->champ_pol);
    ar_model_free(d->champ_model);
    demo_source_free(d->src);
    ar_dataset_free(d->ds);
    ar_world_state_free(d->start);
    free(d->covariate);
    ar_world_free(d->w);
    ar_world_config_free(d->cfg);
    ar_free_array(d->obj_json);
    ar_ledger_free(d->l);
    for (int i = 0; i < d->n_dec; i++)
        free(d->dec[i].point);
    json_decref(d->decisions);
}

static int run(int argc, char **argv) {
    static demo dd;
    demo *d = &dd;
    memset(d, 0, sizeof *d);
    d->t0 = cli_now();
    d->work = "agentrec-demo";
    d->visits = 40000;
    const char *budget = "5m", *seed_arg = NULL;
    const cli_opt opts[] = {
        {"world", OPT_STR, &d->world_path},
        {"seed", OPT_STR, &seed_arg},
        {"budget", OPT_STR, &budget},
        {"ledger", OPT_STR, &d->url},
        {"objective", OPT_STR, &d->objective_path},
        {"work", OPT_STR, &d->work},
        {"threads", OPT_INT, &d->threads},
        {"max-candidates", OPT_INT, &d->max_candidates},
        {"json", OPT_FLAG, &d->json},
        {NULL, OPT_FLAG, NULL},
    };
    int n_pos, rc;
    {
        /* --visits is 64-bit: taken out of argv before the generic parser */
        char **av = malloc(sizeof(char *) * (size_t)(argc + 1));
        if (!av)
            return cli_error("demo", "out of memory");
        int ac = 0;
        for (int i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--visits") == 0 && i + 1 < argc) {
                char *end;
                long long v = strtoll(argv[i + 1], &end, 10);
                if (!*argv[i + 1] || *end || v < 100) {
                    free(av);
                    fprintf(stderr, "agentrec demo: --visits expects an integer >= 100\n");
                    return CLI_USAGE;
                }
                d->visits = v;
                i++;
                continue;
            }
            av[ac++] = argv[i];
        }
        av[ac] = NULL;
        rc = cli_parse(ac, av, opts, NULL, 0, &n_pos, &cmd_demo);
        free(av);
    }
    if (rc)
        return rc < 0 ? 0 : rc;
    bool have_seed = false;
    if (seed_arg) {
        char *end;
        if (*seed_arg == '-' || !*seed_arg || (d->seed = strtoull(seed_arg, &end, 10), *end)) {
            fprintf(stderr, "agentrec demo: bad value '%s' for --seed\n", seed_arg);
            return CLI_USAGE;
        }
        have_seed = true;
    }
    if (!isfinite(d->budget = cli_parse_duration(budget))) {
        fprintf(stderr, "agentrec demo: --budget takes seconds, minutes or hours: 90s, 5m, 1h\n");
        return CLI_USAGE;
    }
    if (d->threads < 0 || d->max_candidates < 0) {
        fprintf(stderr, "agentrec demo: --threads and --max-candidates must not be negative\n");
        return CLI_USAGE;
    }
    d->decisions = json_array();
    rc = CLI_FAIL;
    ar_error err;
    if (load_configs(d, have_seed))
        goto done;
    if (ar_world_create(d->cfg, d->seed, d->threads, &d->w, &err)) {
        cli_error("demo", "%s", err.msg);
        goto done;
    }
    if (mkdirs(d->work)) {
        cli_error("demo", "cannot create %s: %s", d->work, strerror(errno));
        goto done;
    }
    const char *url = d->url ? d->url : AR_LEDGER_DEFAULT_URL;
    if (!(d->l = cli_ledger_open("demo", url, 1)))
        goto done;
    say(d,
        "agentrec demo: world '%s' (seed %llu): %d customers, %d items, slate of %d; budget "
        "%.0f s; ledger %s\n",
        d->world_name, (unsigned long long)d->seed, (int)ar_world_n_customers(d->w),
        (int)ar_world_n_items(d->w), (int)ar_world_slate_size(d->w), d->budget, url);
    if (open_session(d) || setup_history(d) || setup_references(d))
        goto done;
    if (demo_source_create(d->ds, d->seed, &d->src))
        goto done;
    ar_ledger_set_tag(d->l, d->session, "candidate_source", demo_source_describe(d->src));
    if (d->prev_session && resume(d))
        goto done;
    if (!d->prev_session)
        d->next_index = 1;
    say(d,
        "[loop] candidates from: %s; each must pass the inner gate (%s >= %.2f x the "
        "champion's) before an online A/B test\n",
        demo_source_describe(d->src), d->inner_name, 1 - d->obj.inner_tolerance);
    /* The time the final evaluations take (baseline, champion and oracle), estimated from the
     * setup's two reference runs of 20,000 visits each, with a margin. */
    double reserve = d->ref_seconds / 40000.0 * (double)d->visits * 3 * 1.5 + 2;
    int made = 0, dups = 0;
    const char *stop = "the budget is spent";
    for (;;) {
        if (d->max_candidates && made >= d->max_candidates) {
            stop = "--max-candidates reached";
            break;
        }
        if (elapsed(d) + d->cand_seconds + reserve > d->budget)
            break;
        demo_candidate c;
        if (demo_source_next(d->src, &c))
            goto done;
        int dup = -1;
        for (int j = 0; j < d->n_dec; j++)
            if (strcmp(d->dec[j].point, c.point) == 0)
                dup = j;
        if (dup >= 0) { /* tried already: the source hears its score again, nothing is redone */
            int frc = demo_source_feedback(d->src, c.point, d->dec[dup].reward);
            demo_candidate_clear(&c);
            if (frc)
                goto done;
            if (++dups >= MAX_DUPLICATES) {
                stop = "the search proposes only candidates it has tried";
                break;
            }
            continue;
        }
        dups = 0;
        int index = d->next_index++;
        int crc = candidate(d, &c, index);
        if (!crc && d->n_dec < MAX_DECIDED) {
            decided *x = &d->dec[d->n_dec++];
            x->index = index;
            x->point = c.point;
            c.point = NULL;
            json_t *last = json_array_get(d->decisions, json_array_size(d->decisions) - 1);
            json_t *in = last ? json_object_get(last, "source_reward") : NULL;
            x->reward = in ? json_number_value(in) : NAN;
        }
        demo_candidate_clear(&c);
        if (crc)
            goto done;
        made++;
    }
    say(d, "[loop] stopped after %.0f s: %s; %d decisions in this run, %zu in all\n", elapsed(d),
        stop, made, json_array_size(d->decisions));

    /* The summary: baseline, champion and oracle online on the same world and visits. */
    ar_world_policy pop, orc;
    ar_world_policy_builtin(d->w, "popular", &pop);
    ar_world_policy_builtin(d->w, "oracle", &orc);
    ar_world_eval_result rb, rc_, ro;
    if (world_eval(d, &pop, d->visits, &rb) || world_eval(d, &d->champ_pol, d->visits, &rc_) ||
        world_eval(d, &orc, d->visits, &ro))
        goto done;
    const ar_world_eval_result *rows[3] = {&rb, &rc_, &ro};
    say(d, "\nchampion: %s\nonline, %lld visits each (same customers, days and responses):",
        d->champ_desc, (long long)d->visits);
    print_table(d, rows);
    double cv = rc_.metric[AR_WM_REVENUE_PER_VISIT].mean,
           bv = rb.metric[AR_WM_REVENUE_PER_VISIT].mean,
           ov = ro.metric[AR_WM_REVENUE_PER_VISIT].mean;
    double frac = ov > 0 ? cv / ov : 0;
    int separated =
        rc_.metric[AR_WM_REVENUE_PER_VISIT].ci_low > rb.metric[AR_WM_REVENUE_PER_VISIT].ci_high;
    say(d, "\nchampion / baseline revenue per visit: %.2fx (%s); champion / oracle: %.3f\n",
        bv > 0 ? cv / bv : 0, separated ? "intervals do not overlap" : "intervals overlap", frac);
    say(d,
        "guardrail violations shown to customers: %lld (the policies served %lld; all "
        "repaired by the hard filter)\n",
        (long long)d->shown_violations, (long long)d->served_violations);
    /* The summary in the ledger, and the report. */
    log_outer(d, d->session, &rc_, "summary");
    {
        ar_metric_point sp[] = {
            {"oracle_fraction", frac, 0, AR_SCOPE_OUTER, "summary"},
            {"champion_over_baseline", bv > 0 ? cv / bv : 0, 0, AR_SCOPE_OUTER, "summary"},
        };
        ar_ledger_log_metrics(d->l, d->session, sp, 2);
    }
    ar_ledger_run_finish(d->l, d->session, AR_RUN_FINISHED, -1, -1);
    char report[600];
    snprintf(report, sizeof report, "%s/report.html", d->work);
    ar_report_options ro_ = ar_report_options_default();
    ro_.title = "agentrec demo: the agent loop in the retail world";
    ro_.metric = "outer_reward";
    ro_.scope = AR_SCOPE_OUTER;
    ro_.split = "online";
    static const char *const over_time[] = {"champion_outer_reward", "baseline_outer_reward",
                                            "oracle_outer_reward"};
    ro_.overlay = over_time;
    ro_.n_overlay = 3;
    ro_.overlay_title = "Outer reward over time: champion against baseline and oracle";
    if (ar_ledger_report(d->l, report, &ro_)) {
        cli_error("demo", "report: %s", ar_ledger_errmsg(d->l));
        goto done;
    }
    say(d,
        "report: %s (the ledger: runs, decisions with their evidence, the outer reward over "
        "time)\n",
        report);
    if (d->json) {
        json_t *j = json_object();
        json_object_set_new(j, "world", json_string(d->world_name));
        json_object_set_new(j, "seed", json_integer((json_int_t)d->seed));
        json_object_set_new(j, "ledger", json_string(url));
        json_object_set_new(j, "report", json_string(report));
        json_object_set_new(j, "resumed", json_boolean(d->prev_session != 0));
        json_object_set_new(j, "baseline", result_json(d, "popular", &rb));
        json_t *cj =
            result_json(d, d->champ_is_model ? ar_model_name(d->champ_model) : "popular", &rc_);
        json_object_set_new(cj, "description", json_string(d->champ_desc));
        json_object_set_new(cj, "run", json_integer((json_int_t)d->champ_run));
        json_object_set_new(j, "champion", cj);
        json_object_set_new(j, "oracle", result_json(d, "oracle", &ro));
        json_object_set_new(j, "oracle_fraction", json_real(frac));
        json_object_set_new(j, "champion_over_baseline", json_real(bv > 0 ? cv / bv : 0));
        json_object_set_new(j, "violations", json_integer((json_int_t)d->shown_violations));
        json_object_set_new(j, "violations_repaired",
                            json_integer((json_int_t)d->served_violations));
        json_object_set_new(j, "decisions", json_incref(d->decisions));
        json_object_set_new(j, "elapsed_seconds", json_real(elapsed(d)));
        json_object_set_new(j, "budget_seconds", json_real(d->budget));
        cli_print_json(j);
    }
    rc = 0;
done:
    if (rc && d->l && d->session)
        ar_ledger_run_finish(d->l, d->session, AR_RUN_FAILED, -1, -1);
    demo_free(d);
    return rc;
}
