/*
 * autotrain.c -- AutoTrain, the model-search agent.
 *
 * The loop (perceive -> decide -> execute -> feedback, see ar_agent_ops):
 *   perceive  profiles the dataset (its fingerprint) and reads the ledger: the best
 *             configuration of each of the nearest past dataset's best families is queued to
 *             be evaluated first, the RL policy's state from its session warm-starts it, and
 *             the families whose seed noise past sessions measured as zero are known to have
 *             none.
 *   decide    proposes candidates: transferred configurations, then points of the search space
 *             from the policy (random / TPE / RL), then -- after `search_fraction` of the
 *             budget -- model specs from the proposer (evolutionary or LLM) built on the
 *             best candidates seen so far.
 *   execute   trains and evaluates a candidate on the validation split in a worker process
 *             (`agentrec trial`) with wall, CPU and memory limits; fidelity < 1 scores it on a
 *             seeded fraction of the validation users and scales its epochs, the rungs of
 *             successive halving over each batch of candidates.
 *   feedback  teaches the policy, and adopts a candidate as champion only when its full-
 *             fidelity reward beats the champion's by more than twice the seed noise of its
 *             model family, measured by re-running it with another seed (the first time a
 *             family contends). Every trial, failure and decision goes to the ledger.
 * At the end the champion is refitted on train + valid and scored on test once.
 *
 * Candidates are model specs (JSON): {"model": NAME, "params": {...}} for a zoo model, or a
 * composite spec when the trial worker supports it. Low-fidelity metrics are logged under the
 * split "valid@F" so queries for the best "valid" runs only ever see full evaluations.
 */
#define _POSIX_C_SOURCE 200809L
#include "agents/agents_internal.h"
#include "models/model.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char default_space[] =
    "["
    "{\"name\":\"model\",\"type\":\"categorical\",\"default\":\"rp3beta\","
    "\"choices\":[\"mostpop\",\"itemknn\",\"rp3beta\",\"ease\",\"bspm\",\"ials\",\"bpr\"]},"
    "{\"name\":\"mostpop.half_life_days\",\"type\":\"float\",\"low\":0,\"high\":365,"
    "\"default\":0,\"condition\":{\"param\":\"model\",\"in\":[\"mostpop\"]}},"
    "{\"name\":\"itemknn.k\",\"type\":\"int\",\"low\":10,\"high\":1000,\"log\":true,"
    "\"default\":100,\"condition\":{\"param\":\"model\",\"in\":[\"itemknn\"]}},"
    "{\"name\":\"itemknn.shrink\",\"type\":\"float\",\"low\":0,\"high\":200,\"default\":10,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"itemknn\"]}},"
    "{\"name\":\"itemknn.similarity\",\"type\":\"categorical\","
    "\"choices\":[\"cosine\",\"asymmetric\",\"jaccard\"],"
    "\"condition\":{\"param\":\"model\",\"in\":[\"itemknn\"]}},"
    "{\"name\":\"itemknn.alpha\",\"type\":\"float\",\"low\":0,\"high\":1,\"default\":0.5,"
    "\"condition\":{\"param\":\"itemknn.similarity\",\"in\":[\"asymmetric\"]}},"
    "{\"name\":\"itemknn.weighting\",\"type\":\"categorical\","
    "\"choices\":[\"none\",\"tfidf\",\"bm25\"],"
    "\"condition\":{\"param\":\"model\",\"in\":[\"itemknn\"]}},"
    "{\"name\":\"itemknn.normalize\",\"type\":\"bool\","
    "\"condition\":{\"param\":\"model\",\"in\":[\"itemknn\"]}},"
    "{\"name\":\"rp3beta.k\",\"type\":\"int\",\"low\":10,\"high\":1000,\"log\":true,"
    "\"default\":100,\"condition\":{\"param\":\"model\",\"in\":[\"rp3beta\"]}},"
    "{\"name\":\"rp3beta.alpha\",\"type\":\"float\",\"low\":0.1,\"high\":2,\"default\":1,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"rp3beta\"]}},"
    "{\"name\":\"rp3beta.beta\",\"type\":\"float\",\"low\":0,\"high\":1,\"default\":0.5,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"rp3beta\"]}},"
    "{\"name\":\"rp3beta.normalize\",\"type\":\"bool\","
    "\"condition\":{\"param\":\"model\",\"in\":[\"rp3beta\"]}},"
    "{\"name\":\"ease.lambda\",\"type\":\"logfloat\",\"low\":1,\"high\":10000,\"default\":300,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"ease\"]}},"
    "{\"name\":\"bspm.factors\",\"type\":\"int\",\"low\":64,\"high\":1024,\"log\":true,"
    "\"default\":256,\"condition\":{\"param\":\"model\",\"in\":[\"bspm\"]}},"
    "{\"name\":\"bspm.ideal_weight\",\"type\":\"float\",\"low\":0.05,\"high\":0.4,"
    "\"default\":0.2,\"condition\":{\"param\":\"model\",\"in\":[\"bspm\"]}},"
    "{\"name\":\"bspm.sharp_time\",\"type\":\"float\",\"low\":1,\"high\":3.5,"
    "\"default\":2.5,\"condition\":{\"param\":\"model\",\"in\":[\"bspm\"]}},"
    "{\"name\":\"ials.factors\",\"type\":\"int\",\"low\":16,\"high\":1024,\"log\":true,"
    "\"default\":128,\"condition\":{\"param\":\"model\",\"in\":[\"ials\"]}},"
    "{\"name\":\"ials.reg\",\"type\":\"logfloat\",\"low\":0.0001,\"high\":0.1,"
    "\"default\":0.005,\"condition\":{\"param\":\"model\",\"in\":[\"ials\"]}},"
    "{\"name\":\"ials.unobserved_weight\",\"type\":\"logfloat\",\"low\":0.001,\"high\":1,"
    "\"default\":0.01,\"condition\":{\"param\":\"model\",\"in\":[\"ials\"]}},"
    "{\"name\":\"ials.reg_exponent\",\"type\":\"float\",\"low\":0,\"high\":1.5,\"default\":1,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"ials\"]}},"
    "{\"name\":\"ials.epochs\",\"type\":\"int\",\"low\":4,\"high\":24,\"default\":16,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"ials\"]}},"
    "{\"name\":\"bpr.factors\",\"type\":\"int\",\"low\":16,\"high\":256,\"log\":true,"
    "\"default\":64,\"condition\":{\"param\":\"model\",\"in\":[\"bpr\"]}},"
    "{\"name\":\"bpr.epochs\",\"type\":\"int\",\"low\":10,\"high\":200,\"log\":true,"
    "\"default\":60,\"condition\":{\"param\":\"model\",\"in\":[\"bpr\"]}},"
    "{\"name\":\"bpr.lr\",\"type\":\"logfloat\",\"low\":0.005,\"high\":0.3,\"default\":0.05,"
    "\"condition\":{\"param\":\"model\",\"in\":[\"bpr\"]}},"
    "{\"name\":\"bpr.negatives\",\"type\":\"int\",\"low\":1,\"high\":32,\"log\":true,"
    "\"default\":4,\"condition\":{\"param\":\"model\",\"in\":[\"bpr\"]}}"
    "]";

const char *ar_autotrain_default_space(void) {
    return default_space;
}

ar_autotrain_options ar_autotrain_options_default(void) {
    ar_autotrain_options o;
    memset(&o, 0, sizeof o);
    o.policy = AR_SEARCH_RL;
    o.proposer = AR_PROPOSER_EVO;
    o.seed = 1;
    o.k = 20;
    o.warm_start = 1;
    o.batch = 4;
    o.min_fidelity = 0.25;
    o.search_fraction = 0.4;
    o.final_test = 1;
    return o;
}

const char *ar_autotrain_options_check(const ar_autotrain_options *o) {
    if (!o->dataset || !*o->dataset)
        return "dataset: a dataset directory is required";
    if (!o->worker || !*o->worker)
        return "worker: the agentrec executable is required";
    if (!(o->budget_seconds > 0) || !isfinite(o->budget_seconds))
        return "budget_seconds: expected a positive number of seconds";
    if (o->policy < AR_SEARCH_RANDOM || o->policy > AR_SEARCH_RL)
        return "policy: expected random, tpe or rl";
    if (o->proposer < AR_PROPOSER_NONE || o->proposer > AR_PROPOSER_LLM)
        return "proposer: expected none, evo or llm";
    if (o->proposer == AR_PROPOSER_LLM && !o->llm)
        return "llm: the LLM proposer needs an endpoint configuration";
    if (o->k < 1 || o->k > 1000)
        return "k: expected a cutoff in [1, 1000]";
    if (o->n_threads < 0 || o->max_trials < 0)
        return "n_threads, max_trials: expected >= 0";
    if (o->batch < 1 || o->batch > 64)
        return "batch: expected 1 to 64 candidates";
    if (!(o->min_fidelity > 0 && o->min_fidelity <= 1))
        return "min_fidelity: expected a number in (0, 1]";
    if (!(o->search_fraction >= 0 && o->search_fraction <= 1))
        return "search_fraction: expected a number in [0, 1]";
    return NULL;
}

void ar_autotrain_result_free(ar_autotrain_result *r) {
    if (r) {
        free(r->champion);
        r->champion = NULL;
    }
}

/* AddressSanitizer reserves terabytes of address space for its shadow memory, so a sanitized
 * worker cannot run under RLIMIT_AS: in such a build trials get no default memory limit. */
#if defined(__SANITIZE_ADDRESS__)
#define AR__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AR__ASAN 1
#endif
#endif
#ifndef AR__ASAN
#define AR__ASAN 0
#endif

/* -- State --------------------------------------------------------------------------------- */

#define ETA 4 /* successive halving keeps the best quarter of each rung */
#define MAX_FAMILIES 32

typedef struct seen {
    char *spec;    /* canonical JSON */
    double reward; /* at the highest fidelity evaluated; NAN failed */
    double fidelity;
} seen;

typedef struct autotrain {
    ar_ledger *l;
    ar_autotrain_options o;
    ar_space *space;
    ar_search *search;
    char dataset_path[4096];
    ar_fingerprint fp;
    int64_t run;
    double t0, deadline;
    char **queue; /* transferred candidates, evaluated first */
    int n_queue, next_queue;
    seen *hist;
    int n_hist, cap_hist;
    /* The champion. */
    char *champ;
    double champ_reward, champ_recall, champ_seconds;
    int64_t champ_run, champ_metric;
    /* What is known of each model family: its seed noise and its cost. */
    struct family {
        char name[32];
        double sd;     /* seed noise, NAN until measured */
        int64_t sd_id; /* the ledger metric that measured it */
        ar__cost cost; /* of its trials that fitted (one whose fit was loaded is not one) */
    } fam[MAX_FAMILIES];
    int n_fam;
    int cost_skips; /* policy proposals skipped as too expensive for the budget left */
    uint64_t cost_rng;
    int trials, failures, adoptions, trials_to_best;
    ar__proposer *proposer;
    char *profile;       /* the dataset profile (JSON) */
    int proposals;       /* specs the proposer made */
    int ensembled;       /* the elites' ensemble was proposed */
    int full_batch;      /* the batch decide returned skips the low-fidelity rung */
    int proposer_failed; /* how many proposals failed (only the first is logged) */
    const char *role;    /* the ledger tag of trials that have none of their own */
    json_t *stored;      /* candidate spec -> the fit-cache files its trials saved */
    json_t *fit_seconds; /* fit-cache file -> the seconds the fit that saved it took */
    uint64_t rng_state;
} autotrain;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void logf_(autotrain *a, const char *fmt, ...) AR__PRINTF(2, 3);
static void logf_(autotrain *a, const char *fmt, ...) {
    if (!a->o.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    a->o.log(a->o.log_data, line);
}

static char *dumps(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return s;
}

/* A spec (consumed) as canonical text; its plain text when it does not validate (the trial
 * then fails with the reason); NULL when out of memory. */
static char *canonical(json_t *spec) {
    char *s = dumps(spec), *c;
    ar_error err;
    if (s && (c = ar__canonical_spec(s, &err))) {
        free(s);
        return c;
    }
    return s;
}

/* The model family of a parsed spec: its "model", or "composite" for a blend, fuse, gate or
 * stack. */
static void family_of_json(json_t *spec, char *out, size_t cap) {
    const char *m = json_string_value(json_object_get(spec, "model"));
    snprintf(out, cap, "%s", m ? m : "composite");
}

static void family_of(const char *spec, char *out, size_t cap) {
    json_t *j = json_loads(spec, 0, NULL);
    family_of_json(j, out, cap);
    json_decref(j);
}

/* A point of the search space -> a spec {"model": M, "params": {p: v}}. */
static char *point_to_spec(const autotrain *a, const ar_point *p) {
    char *pj = ar_space_point_json(a->space, p);
    json_t *flat = pj ? json_loads(pj, 0, NULL) : NULL;
    ar_free_array(pj);
    const char *model = json_string_value(json_object_get(flat, "model"));
    if (!model) {
        json_decref(flat);
        return NULL;
    }
    json_t *params = json_object();
    size_t ml = strlen(model);
    const char *key;
    json_t *v;
    json_object_foreach(flat, key, v) {
        if (strncmp(key, model, ml) == 0 && key[ml] == '.')
            json_object_set(params, key + ml + 1, v);
    }
    /* Canonical, so that the same model from the policy and from the proposer is one spec. */
    char *spec = canonical(json_pack("{s:s,s:o}", "model", model, "params", params));
    json_decref(flat); /* model points into it */
    return spec;
}

/* A plain-model spec -> its point in the search space; 0 when it has none (a composite, or a
 * value outside the curated ranges). */
static int spec_to_point(const autotrain *a, const char *spec, ar_point *p) {
    json_t *j = json_loads(spec, 0, NULL), *params = json_object_get(j, "params");
    const char *model = json_string_value(json_object_get(j, "model"));
    int ok = 0;
    if (model && (!params || json_is_object(params)) && json_object_size(j) <= 2 &&
        !json_object_get(j, "transforms")) {
        json_t *flat = json_pack("{s:s}", "model", model);
        const char *key;
        json_t *v;
        json_object_foreach(params, key, v) {
            char name[256];
            snprintf(name, sizeof name, "%s.%s", model, key);
            if (ar__space_find(a->space, name) >= 0) /* the space may leave parameters fixed */
                json_object_set(flat, name, v);
        }
        char *fj = dumps(flat);
        ar_error err;
        ok = fj && ar_space_point_parse(a->space, fj, p, &err) == AR_OK;
        free(fj);
    }
    json_decref(j);
    return ok;
}

static void remember(autotrain *a, const char *spec, double reward, double fidelity) {
    for (int i = 0; i < a->n_hist; i++)
        if (strcmp(a->hist[i].spec, spec) == 0) {
            if (fidelity >= a->hist[i].fidelity) {
                a->hist[i].reward = reward;
                a->hist[i].fidelity = fidelity;
            }
            return;
        }
    if (a->n_hist == a->cap_hist) {
        int cap = a->cap_hist ? 2 * a->cap_hist : 64;
        seen *h = realloc(a->hist, (size_t)cap * sizeof *h);
        if (!h)
            return;
        a->hist = h;
        a->cap_hist = cap;
    }
    char *s = ar__strdup(spec);
    if (!s)
        return;
    a->hist[a->n_hist++] = (seen){s, reward, fidelity};
}

static int seen_before(const autotrain *a, const char *spec) {
    for (int i = 0; i < a->n_hist; i++)
        if (strcmp(a->hist[i].spec, spec) == 0)
            return 1;
    return 0;
}

/* The record of a family, created on first use; NULL when the table is full. */
static struct family *family_get(autotrain *a, const char *name) {
    for (int i = 0; i < a->n_fam; i++)
        if (strcmp(a->fam[i].name, name) == 0)
            return &a->fam[i];
    if (a->n_fam == MAX_FAMILIES)
        return NULL;
    struct family *f = &a->fam[a->n_fam++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->sd = NAN;
    f->sd_id = 0;
    f->cost = (ar__cost){0};
    return f;
}

/* The fit work of one base learner (a spec node with "model"), NAN when it has none. */
static double learner_work(const autotrain *a, json_t *node) {
    ar_model *m = NULL;
    if (ar_model_create(json_string_value(json_object_get(node, "model")), &m))
        return NAN;
    json_t *params = json_object_get(node, "params");
    char *pj = json_is_object(params) ? json_dumps(params, JSON_COMPACT) : NULL;
    ar_error err;
    double w = !params || (pj && ar_model_set_json(m, pj, &err) == AR_OK)
                   ? ar_model_fit_work(m, (double)a->fp.users, (double)a->fp.items,
                                       (double)a->fp.interactions)
                   : NAN;
    free(pj);
    ar_model_free(m);
    return w;
}

/* The cost model prices a candidate by its parameters: a BPR of 1,000 epochs and 250 factors
 * costs what its fit work says, not the family's mean (fidelity shrinks some families' work --
 * epochs -- and not others': EASE inverts the same Gram matrix at any fidelity). */
void ar__cost_add(ar__cost *c, double work, double seconds) {
    c->n++;
    c->s += seconds;
    c->w += work;
    c->ww += work * work;
    c->ws += work * seconds;
}

double ar__cost_predict(const ar__cost *c, double work) {
    if (!c->n)
        return NAN;
    double mw = c->w / c->n, ms = c->s / c->n;
    double var = c->ww / c->n - mw * mw, cov = c->ws / c->n - mw * ms;
    if (!(mw > 0) || !isfinite(work))
        return ms;
    if (var > 1e-4 * mw * mw && cov > 0) {
        double r = cov / var, base = ms - r * mw;
        if (base >= 0)
            return base + r * work;
    }
    return ms / mw * work;
}

/* The cost of a spec (a trial request, or a candidate at full fidelity): the sum over its base
 * learners of their family's cost at their work; *unknown is set when a learner's family has
 * no fitted trial yet (it counts 0). */
static double fit_cost(autotrain *a, json_t *node, int *unknown) {
    const char *model = json_string_value(json_object_get(node, "model"));
    if (model) {
        const struct family *f = family_get(a, model);
        if (f && f->cost.n)
            return ar__cost_predict(&f->cost, learner_work(a, node));
        *unknown = 1;
        return 0;
    }
    double sum = 0;
    const char *key;
    size_t i;
    json_t *v;
    if (json_is_object(node))
        json_object_foreach(node, key, v) sum += fit_cost(a, v, unknown);
    else if (json_is_array(node))
        json_array_foreach(node, i, v) sum += fit_cost(a, v, unknown);
    return sum;
}

static double spec_cost(autotrain *a, const char *spec) {
    json_t *s = json_loads(spec, 0, NULL);
    int unknown = 0;
    double c = s ? fit_cost(a, s, &unknown) : 0;
    json_decref(s);
    return c;
}

/* The time to keep for the final refit and test of a champion (spec) whose trial would have
 * taken cold seconds with nothing cached: the refit on train + valid never comes from the fit
 * cache, so it costs what that trial costs cold (its members' fits as they were timed when
 * they were saved), however fast the (cached) trial was; the cost model's estimate is the
 * floor. The final fit learns from about a tenth more data, and a machine shared with other
 * work runs slower, hence the margin. */
static double refit_reserve(autotrain *a, const char *spec, double cold) {
    return 1.5 * fmax(cold, spec_cost(a, spec)) + 5;
}

static double reserve(autotrain *a) {
    return a->champ && a->o.final_test ? refit_reserve(a, a->champ, a->champ_seconds) : 0;
}

/* A trial's wall time plus the recorded fit time of every cache file it loaded: what it would
 * cost cold. A file saved before this session (not timed here) costs at least the load. */
static double cold_seconds(autotrain *a, double seconds, json_t *loaded) {
    size_t i;
    json_t *f;
    json_array_foreach(loaded, i, f) {
        json_t *s = a->fit_seconds ? json_object_get(a->fit_seconds, json_string_value(f)) : NULL;
        seconds += json_is_number(s) ? json_number_value(s) : 0;
    }
    return seconds;
}

/* -- perceive -------------------------------------------------------------------------------- */

/* What a warm start queues: the best configuration of each of the nearest past dataset's best
 * families, up to a batch of them (a donor's best runs are often variants of one family, and
 * the next family may be the one that wins on the new dataset), read from its WARM_RUNS best
 * runs. */
#define WARM_RUNS 256
#define WARM_MAX 16

/* The families whose seed noise past sessions measured as exactly zero on every dataset: their
 * fit does not read the seed (EASE, ItemKNN, RP3beta), so a rerun with another seed would
 * measure zero again and is not spent. A non-zero noise does not transfer: its size depends on
 * the dataset. */
static ar_status known_noise(autotrain *a, ar_error *err) {
    ar_metric_list *ml = NULL;
    if (ar_ledger_metrics(a->l, 0, "seed_noise_sd", &ml))
        return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
    for (size_t i = 0; i < ml->n; i++) {
        ar_run_list *r = NULL;
        if (ar_ledger_run_get(a->l, ml->v[i].run, &r) != AR_OK)
            continue;
        char name[32];
        family_of(r->v[0].config, name, sizeof name);
        struct family *f = strcmp(r->v[0].agent, "autotrain") == 0 ? family_get(a, name) : NULL;
        ar_run_list_free(r);
        if (f && ml->v[i].value != 0)
            f->sd_id = -1; /* its fit reads the seed */
        else if (f && f->sd_id == 0)
            f->sd_id = ml->v[i].id;
    }
    ar_metric_list_free(ml);
    char names[256] = "";
    for (int i = 0; i < a->n_fam; i++) {
        struct family *f = &a->fam[i];
        size_t len = strlen(names);
        if (f->sd_id <= 0) {
            f->sd_id = 0;
            continue;
        }
        f->sd = 0;
        snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", f->name);
    }
    if (names[0])
        logf_(a, "warm start: the seed noise of %s is zero, as past sessions measured it", names);
    return AR_OK;
}

static ar_status at_perceive(void *self, ar_error *err) {
    autotrain *a = self;
    if (!a->o.warm_start)
        return AR_OK;
    ar_run_query q = ar_run_query_default();
    q.agent = "autotrain";
    char metric[32];
    snprintf(metric, sizeof metric, "ndcg@%d", a->o.k);
    q.metric = metric;
    q.split = "valid";
    q.limit = WARM_RUNS;
    ar_run_list *runs = NULL;
    if (ar_ledger_similar(a->l, &a->fp, &q, &runs))
        return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
    int64_t parent = 0;
    double nearest = NAN;
    int want = a->o.batch < WARM_MAX ? a->o.batch : WARM_MAX;
    char taken[WARM_MAX][32];
    if (!(a->queue = calloc((size_t)want, sizeof *a->queue))) {
        ar_run_list_free(runs);
        return ar__fail(err, AR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < runs->n && a->n_queue < want; i++) {
        const ar_run *r = &runs->v[i];
        if (!isnan(nearest) && r->distance > nearest + 1e-9)
            break; /* runs come nearest dataset first, best first within it */
        json_t *c = json_loads(r->config, 0, NULL);
        int is_spec =
            json_is_object(c) && (json_object_get(c, "model") || json_object_get(c, "blend") ||
                                  json_object_get(c, "fuse") || json_object_get(c, "gate") ||
                                  json_object_get(c, "stack"));
        family_of_json(c, taken[a->n_queue], sizeof taken[0]);
        json_decref(c);
        if (!is_spec || r->parent == a->run)
            continue;
        int dup = 0;
        for (int j = 0; j < a->n_queue && !dup; j++)
            dup = strcmp(taken[j], taken[a->n_queue]) == 0;
        if (dup || !(a->queue[a->n_queue] = ar__strdup(r->config)))
            continue;
        a->n_queue++;
        if (!parent) {
            parent = r->parent;
            nearest = r->distance;
        }
    }
    ar_run_list_free(runs);
    if (a->n_queue)
        logf_(a,
              "warm start: the best configuration of %d model families of the nearest past "
              "dataset (at distance %.3f)",
              a->n_queue, nearest);
    ar_status st = known_noise(a, err);
    if (st)
        return st;
    /* The nearest session's learned policy. */
    ar_kv_list *kv = NULL;
    if (parent && a->o.policy == AR_SEARCH_RL && ar_ledger_params(a->l, parent, &kv) == AR_OK) {
        for (size_t i = 0; i < kv->n; i++)
            if (strcmp(kv->key[i], "policy_state") == 0) {
                ar_error e2;
                if (ar_search_load_state(a->search, kv->value[i], &e2) == AR_OK)
                    logf_(a, "warm start: RL policy state from session run %lld",
                          (long long)parent);
            }
        ar_kv_list_free(kv);
    }
    return AR_OK;
}

/* -- decide ---------------------------------------------------------------------------------- */

static int in_search_phase(const autotrain *a) {
    return a->o.proposer == AR_PROPOSER_NONE ||
           now() - a->t0 < a->o.search_fraction * a->o.budget_seconds || a->n_hist < 2;
}

/* Every proposal of the spec proposer, with the LLM's attempts when there were any, goes to the
 * session run's params ("proposal.N"), so timeouts, retries and malformed answers are on
 * record. */
static ar_status log_proposal(autotrain *a, ar_status st, const char *what) {
    char *attempts = ar__proposer_attempts_json(a->proposer);
    json_t *attempts_j = attempts ? json_loads(attempts, 0, NULL) : NULL;
    free(attempts);
    char *v =
        dumps(json_pack("{s:s,s:s,s:o}", "status", st ? "failed" : "ok", st ? "error" : "spec",
                        what ? what : "", "attempts", attempts_j ? attempts_j : json_array()));
    char key[32];
    snprintf(key, sizeof key, "proposal.%d", ++a->proposals);
    ar_status ls = v ? ar_ledger_log_param(a->l, a->run, key, v) : AR_ENOMEM;
    free(v);
    return ls;
}

/* The ensemble of the elites (as AutoML systems end with an ensemble of their best models, e.g.
 * Caruana et al. 2004, auto-sklearn, AutoGluon): a blend of the best spec of each of the best
 * ELITE_FAMILIES model families, z-scored, its weights learned by the trial. A spec counts with
 * its score at the highest fidelity it reached: the blend's own trial is a full evaluation, and
 * a family that lost every low-fidelity rung to EASE (BSPM on Gowalla) may still add to it.
 * NULL when fewer than two families have a score. */
#define ELITE_FAMILIES 4
static char *elite_blend(const autotrain *a) {
    int best[ELITE_FAMILIES], nb = 0;
    char fam[ELITE_FAMILIES][32];
    for (int k = 0; k < ELITE_FAMILIES; k++) {
        int pick = -1;
        for (int i = 0; i < a->n_hist; i++) {
            const seen *h = &a->hist[i];
            char f[32];
            family_of(h->spec, f, sizeof f);
            int taken = strcmp(f, "composite") == 0 || strcmp(f, "mostpop") == 0;
            for (int j = 0; j < nb && !taken; j++)
                taken = strcmp(fam[j], f) == 0;
            if (!taken && isfinite(h->reward) && (pick < 0 || h->reward > a->hist[pick].reward))
                pick = i;
        }
        if (pick < 0)
            break;
        best[nb] = pick;
        family_of(a->hist[pick].spec, fam[nb++], sizeof fam[0]);
    }
    if (nb < 2)
        return NULL;
    json_t *members = json_array();
    for (int k = 0; k < nb; k++)
        json_array_append_new(members, json_pack("{s:f,s:o}", "weight", 1.0, "spec",
                                                 json_loads(a->hist[best[k]].spec, 0, NULL)));
    return canonical(json_pack("{s:o,s:s}", "blend", members, "normalize", "zscore"));
}

/* Cost-aware acceptance of proposals (after "expected improvement per second", Snoek et al.
 * 2012): a trial should cost at most COST_SHARE of the budget left, so a candidate whose fit
 * is priced c is kept with probability min(1, COST_SHARE * left / c). Cheap candidates are
 * unaffected; one that costs minutes (EASE on 40k items, a BPR of a thousand epochs) is tried
 * less often as the budget runs down instead of eating it. */
#define COST_SHARE (1.0 / 20)
static int too_costly(autotrain *a, const char *spec) {
    double c = spec_cost(a, spec), left = a->deadline - now() - reserve(a);
    if (!(c > 0) || COST_SHARE * left >= c)
        return 0;
    ar_rng r;
    ar_rng_seed(&r, a->cost_rng++);
    if (ar_rng_uniform(&r) < COST_SHARE * left / c)
        return 0;
    a->cost_skips++;
    return 1;
}

static ar_status at_decide(void *self, int n, char **out, int *n_out, ar_error *err) {
    autotrain *a = self;
    *n_out = 0;
    /* Configurations transferred from similar datasets come first, in a batch of their own that
     * is evaluated in full: they earned it elsewhere, and a low-fidelity rung (a quarter of the
     * validation users) is too noisy to tell close candidates apart. */
    a->full_batch = a->next_queue < a->n_queue;
    while (a->full_batch && *n_out < n && a->next_queue < a->n_queue) {
        char *spec = a->queue[a->next_queue];
        a->queue[a->next_queue++] = NULL;
        if (seen_before(a, spec))
            free(spec);
        else
            out[(*n_out)++] = spec;
    }
    if (*n_out)
        return AR_OK;
    for (int tries = 0; *n_out < n && tries < 20 * n; tries++) {
        char *spec = NULL;
        int ensemble = 0;
        if (!a->ensembled && a->proposer && !in_search_phase(a) && *n_out == 0) {
            a->ensembled = 1; /* once, when generate-and-select begins */
            if ((spec = elite_blend(a))) {
                ensemble = 1;
                logf_(a, "proposing the ensemble of the best model families: %s", spec);
            }
        }
        if (!spec && !in_search_phase(a) && a->proposer) {
            /* A proposal may use at most a tenth of the budget, and never the time kept for
             * the final test. */
            double left = fmin(a->deadline - now() - reserve(a), 0.1 * a->o.budget_seconds);
            ar_status st = left > 1
                               ? ar__proposer_propose(a->proposer, a->rng_state++, left, &spec, err)
                               : ar__fail(err, AR_ECANCELED, "no time left to propose");
            if (st == AR_ENOMEM)
                return st;
            ar_status ls = log_proposal(a, st, st ? err->msg : spec);
            if (ls)
                return ar__fail(err, ls, "ledger: %s", ar_ledger_errmsg(a->l));
            if (st) {
                if (!a->proposer_failed++)
                    logf_(a, "proposer: %s (the search policy proposes instead)", err->msg);
                spec = NULL;
            }
        }
        if (!spec) {
            /* After a warm start the batch's first candidate comes from the champion's family,
             * which the transferred configurations found (SMAC's intensification around the
             * incumbent): they did the exploring a cold search begins with. */
            ar_point p, champ;
            int local = tries == 0 && a->n_queue && a->champ && spec_to_point(a, a->champ, &champ);
            ar_status st = local ? ar_search_propose_arm(a->search, &champ, &p)
                                 : ar_search_propose(a->search, &p);
            if (st)
                return ar__fail(err, st, "search policy: %s", ar_strerror(st));
            spec = point_to_spec(a, &p);
            if (!spec)
                return ar__fail(err, AR_ENOMEM, "out of memory");
        }
        if (!ensemble && tries < 10 * n && too_costly(a, spec)) {
            free(spec);
            continue;
        }
        int dup = seen_before(a, spec);
        for (int i = 0; i < *n_out && !dup; i++)
            dup = strcmp(out[i], spec) == 0;
        if (dup) {
            free(spec);
            continue;
        }
        out[(*n_out)++] = spec;
        if (ensemble) /* alone, so it is evaluated at full fidelity straight away */
            break;
    }
    return AR_OK;
}

/* -- execute --------------------------------------------------------------------------------- */

/* A trial is stopped at this multiple of its price (plus a minute); see run_trial. */
#define TRIAL_SLACK 4.0

/* Fits shorter than this are not worth a file in the fit cache. */
#define FIT_CACHE_MIN_SECONDS 10.0

/* The trial request for a candidate at a fidelity (NULL when spec is not a JSON object). Epoch
 * counts scale with the fidelity (at least 1), and a fraction of the validation users is
 * scored. */
static json_t *trial_request(const autotrain *a, const char *spec, double fidelity, uint64_t seed,
                             int final) {
    json_t *s = json_loads(spec, 0, NULL);
    if (!json_is_object(s))
        return NULL;
    json_t *req =
        json_pack("{s:s,s:s,s:s,s:[i],s:f,s:I,s:i}", "dataset", a->o.dataset, "fit_splits",
                  final ? "train,valid" : "train", "target", final ? "test" : "valid", "k", a->o.k,
                  "user_fraction", fidelity, "seed", (json_int_t)seed, "threads", a->o.n_threads);
    json_t *model = json_object_get(s, "model"), *params = json_object_get(s, "params");
    if (json_is_string(model) && json_object_size(s) <= 2) {
        json_t *p = params ? json_deep_copy(params) : json_object();
        json_t *ep = json_object_get(p, "epochs");
        if (fidelity < 1 && json_is_integer(ep)) {
            json_int_t e = (json_int_t)ceil((double)json_integer_value(ep) * fidelity);
            json_object_set_new(p, "epochs", json_integer(e < 1 ? 1 : e));
        }
        json_object_set(req, "model", model);
        json_object_set_new(req, "params", p);
    } else {
        json_object_set(req, "spec", s);
        /* A blend's weights (a stack's meta-model) are learned on validation; the final refit
         * keeps them. */
        if (!final && (json_object_get(s, "blend") || json_object_get(s, "stack")))
            json_object_set_new(req, "learn_weights", json_true());
    }
    if (a->o.fit_cache && !final)
        json_object_set_new(req, "cache",
                            json_pack("{s:s,s:f,s:I}", "dir", a->o.fit_cache, "min_seconds",
                                      FIT_CACHE_MIN_SECONDS, "max_bytes",
                                      (json_int_t)a->o.fit_cache_bytes));
    json_decref(s);
    return req;
}

static double json_num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The fit-cache files a trial of spec saved, remembered so they can be dropped if the candidate
 * fails or is eliminated: only fully evaluated candidates can be a champion or a blend's member,
 * and the cache's room is best kept for them. */
static void note_stored(autotrain *a, const char *spec, json_t *files) {
    if (!json_is_object(files) || !json_object_size(files) ||
        (!a->stored && !(a->stored = json_object())) ||
        (!a->fit_seconds && !(a->fit_seconds = json_object())))
        return;
    json_t *have = json_object_get(a->stored, spec);
    if (!have)
        json_object_set_new(a->stored, spec, have = json_array());
    const char *path;
    json_t *sec;
    json_object_foreach(files, path, sec) {
        json_array_append_new(have, json_string(path));
        json_object_set(a->fit_seconds, path, sec);
    }
}

static void drop_stored(autotrain *a, const char *spec) {
    json_t *files = a->stored ? json_object_get(a->stored, spec) : NULL;
    size_t i, n = a->o.fit_cache ? strlen(a->o.fit_cache) : 0;
    json_t *f;
    json_array_foreach(files, i, f) {
        const char *path = json_string_value(f);
        if (n && path && strncmp(path, a->o.fit_cache, n) == 0 && path[n] == '/')
            remove(path);
        if (path && a->fit_seconds)
            json_object_del(a->fit_seconds, path);
    }
    if (files)
        json_object_del(a->stored, spec);
}

/* Runs one trial in a worker and records it as a child run of the session. */
static ar_status run_trial(autotrain *a, const char *spec, double fidelity, uint64_t seed,
                           int final, const char *tag, ar_agent_outcome *out, ar_error *err) {
    memset(out, 0, sizeof *out);
    out->fidelity = fidelity;
    out->reward = NAN;
    for (int i = 0; i < 4; i++)
        out->metrics[i] = NAN;
    json_t *rj = trial_request(a, spec, fidelity, seed, final);
    if (!rj)
        return ar__fail(err, AR_EINVAL, "candidate: not a JSON object: %.200s", spec);
    /* The request priced by the cost model (its epochs scaled to the fidelity), and the work
     * of a plain model's fit, which teaches the cost model. */
    int unknown = 0;
    double price = fit_cost(a, rj, &unknown);
    double work = json_is_string(json_object_get(rj, "model")) ? learner_work(a, rj) : NAN;
    char *req = dumps(rj);
    if (!req)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    ar_trial_limits lim = {0};
    double left = a->deadline - now() - (final ? 0 : reserve(a));
    lim.wall_seconds = final ? fmax(left, 1) : fmin(fmax(left, 1), 0.4 * a->o.budget_seconds);
    /* A trial running far past its price is not worth the rest of the budget: the limit is a
     * few times the price (machine noise and the cost model's error fit well inside). */
    if (!final && !unknown && price > 0)
        lim.wall_seconds = fmin(lim.wall_seconds, TRIAL_SLACK * price + 60);
    lim.memory_bytes = a->o.memory_limit;
    char *argv[] = {(char *)a->o.worker, "trial", NULL};
    ar_trial_result tr;
    int cached = 0; /* fits the worker loaded from the fit cache */
    ar_status st = ar_trial_run(argv, req, &lim, &tr, err);
    free(req);
    if (st)
        return st;
    a->trials++;
    out->seconds = tr.wall_seconds;
    snprintf(out->status, sizeof out->status, "%s", ar_trial_status_name(tr.status));
    json_t *res = NULL;
    if (tr.status == AR_TRIAL_OK) {
        /* The result is the last line the worker printed that is a JSON object. */
        const char *last = NULL;
        for (const char *line = tr.output; line && *line; line = strchr(line, '\n')) {
            line += *line == '\n';
            if (*line == '{')
                last = line;
        }
        res = last ? json_loads(last, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        json_t *m = json_object_get(res, "metrics");
        char kr[32], kn[32];
        snprintf(kr, sizeof kr, "recall@%d", a->o.k);
        snprintf(kn, sizeof kn, "ndcg@%d", a->o.k);
        out->metrics[0] = json_num(m, kr);
        out->metrics[1] = json_num(m, kn);
        out->metrics[2] = json_num(res, "fit_seconds");
        out->metrics[3] = json_num(res, "peak_rss_mb");
        cached = (int)json_integer_value(json_object_get(res, "cache_hits"));
        note_stored(a, spec, json_object_get(res, "cache_stored"));
        out->cold_seconds = cold_seconds(a, out->seconds, json_object_get(res, "cache_loaded"));
        out->reward = out->metrics[1];
        out->ok = isfinite(out->reward);
        json_t *evaluated = json_object_get(res, "spec");
        if (out->ok && json_is_object(evaluated) &&
            (json_object_get(evaluated, "blend") || json_object_get(evaluated, "stack")))
            out->spec = dumps(json_incref(evaluated));
        if (!out->ok)
            snprintf(out->reason, sizeof out->reason, "the worker's result has no %s", kn);
    } else {
        snprintf(out->reason, sizeof out->reason, "%s", tr.reason);
    }
    if (!out->ok) {
        a->failures++;
        if (tr.status == AR_TRIAL_OK)
            snprintf(out->status, sizeof out->status, "error");
    }
    ar_free_array(tr.output);
    json_decref(res);

    /* The ledger: one run per trial. */
    ar_run_spec rs = ar_run_spec_default();
    rs.agent = "autotrain";
    rs.parent = a->run;
    rs.config = spec;
    rs.dataset = a->o.dataset;
    rs.dataset_fp = a->fp;
    rs.seed = seed;
    int64_t run = 0;
    if (ar_ledger_run_begin(a->l, &rs, &run))
        return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
    char fid[32], split[32], kr[32], kn[32];
    snprintf(fid, sizeof fid, "%.4g", fidelity);
    snprintf(split, sizeof split, final ? "test" : fidelity < 1 ? "valid@%s" : "valid", fid);
    snprintf(kr, sizeof kr, "recall@%d", a->o.k);
    snprintf(kn, sizeof kn, "ndcg@%d", a->o.k);
    ar_status ls = ar_ledger_log_param(a->l, run, "fidelity", fid);
    if (!ls && cached) {
        char nc[16];
        snprintf(nc, sizeof nc, "%d", cached);
        ls = ar_ledger_log_param(a->l, run, "fit_cache_hits", nc);
    }
    if (!tag)
        tag = a->role;
    if (!ls && tag)
        ls = ar_ledger_set_tag(a->l, run, "role", tag);
    if (!ls && !out->ok) {
        ls = ar_ledger_set_tag(a->l, run, "failure", out->status);
        if (!ls)
            ls = ar_ledger_set_tag(a->l, run, "reason", out->reason);
    }
    if (!ls && out->ok) {
        ar_metric_point mp[2] = {{kr, out->metrics[0], 0, AR_SCOPE_INNER, split},
                                 {kn, out->metrics[1], 0, AR_SCOPE_INNER, split}};
        ls = ar_ledger_log_metrics(a->l, run, mp, 2);
        if (!ls && isfinite(out->metrics[2])) {
            ar_metric_point fs = {"fit_seconds", out->metrics[2], 0, AR_SCOPE_INNER, split};
            ls = ar_ledger_log_metric(a->l, run, &fs, NULL);
        }
    }
    if (!ls)
        ls = ar_ledger_run_finish(
            a->l, run, out->ok ? AR_RUN_FINISHED : AR_RUN_FAILED, tr.cpu_seconds,
            isfinite(tr.peak_rss_mb) ? (int64_t)(tr.peak_rss_mb * 1048576) : -1);
    if (ls)
        return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
    out->run = run;
    char fam[32];
    family_of(spec, fam, sizeof fam);
    struct family *fr = family_get(a, fam);
    if (fr && !cached && isfinite(work)) /* what a new candidate costs: a fit, not a load */
        ar__cost_add(&fr->cost, work, out->seconds);
    if (out->ok)
        logf_(a, "trial %3d  %-9s fidelity %.2f  recall@%d %.4f  ndcg@%d %.4f  (%.1f s%s)%s%s",
              a->trials, fam, fidelity, a->o.k, out->metrics[0], a->o.k, out->metrics[1],
              out->seconds, cached ? ", fit cached" : "", tag ? "  " : "", tag ? tag : "");
    else
        logf_(a, "trial %3d  %-9s fidelity %.2f  failed: %s: %.200s", a->trials, fam, fidelity,
              out->status, out->reason);
    return AR_OK;
}

static ar_status at_execute(void *self, const char *candidate, double fidelity, uint64_t seed,
                            ar_agent_outcome *out, ar_error *err) {
    return run_trial(self, candidate, fidelity, seed, 0, NULL, out, err);
}

/* -- feedback -------------------------------------------------------------------------------- */

static int64_t metric_id(autotrain *a, int64_t run) {
    char kn[32];
    snprintf(kn, sizeof kn, "ndcg@%d", a->o.k);
    ar_metric_list *ml = NULL;
    int64_t id = 0;
    if (run && ar_ledger_metrics(a->l, run, kn, &ml) == AR_OK && ml->n)
        id = ml->v[ml->n - 1].id;
    ar_metric_list_free(ml);
    return id;
}

static ar_status decide_log(autotrain *a, int64_t run, ar_action act, const int64_t *ev, size_t n,
                            const char *why, ar_error *err) {
    ar_decision_spec d = {run, act, why, ev, n, AR_DECIDER_AGENT, "autotrain"};
    if (ar_ledger_log_decision(a->l, &d, NULL))
        return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
    return AR_OK;
}

/* The seed noise of a family: measured once, by re-running the candidate with another seed. */
static ar_status seed_noise(autotrain *a, const char *spec, const ar_agent_outcome *o, double *sd,
                            int64_t *evidence, ar_error *err) {
    char fam[32];
    family_of(spec, fam, sizeof fam);
    struct family *f = family_get(a, fam);
    if (f && isfinite(f->sd)) {
        *sd = f->sd;
        *evidence = f->sd_id;
        return AR_OK;
    }
    ar_agent_outcome again;
    ar_status st = run_trial(a, spec, 1.0, a->o.seed + 7919, 0, "seed-noise", &again, err);
    if (st)
        return st;
    free(again.spec);
    *sd = again.ok ? fabs(again.reward - o->reward) / sqrt(2.0) : NAN;
    if (again.ok) {
        ar_metric_point mp = {"seed_noise_sd", *sd, 0, AR_SCOPE_INNER, "valid"};
        if (ar_ledger_log_metric(a->l, again.run, &mp, evidence))
            return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
        logf_(a, "seed noise of %s: sd %.5f (two seeds: %.5f, %.5f)", fam, *sd, o->reward,
              again.reward);
    }
    if (f) {
        f->sd = *sd;
        f->sd_id = *evidence;
    }
    return AR_OK;
}

static ar_status at_feedback(void *self, const char *candidate, const ar_agent_outcome *o,
                             ar_error *err) {
    autotrain *a = self;
    ar_point p;
    if (spec_to_point(a, candidate, &p))
        ar_search_observe_at(a->search, &p, o->ok ? o->reward : NAN, o->fidelity);
    remember(a, candidate, o->ok ? o->reward : NAN, o->fidelity);
    const char *evaluated = o->spec ? o->spec : candidate;
    if (a->proposer && (o->fidelity >= 1 || !o->ok) &&
        ar__proposer_observe(a->proposer, evaluated, o->ok ? o->reward : NAN) == AR_ENOMEM)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    char why[1024];
    int64_t ev[2] = {metric_id(a, o->run), 0};
    if (!o->ok) {
        drop_stored(a, candidate);
        snprintf(why, sizeof why, "rejected: the trial failed (%s: %.400s)", o->status, o->reason);
        return decide_log(a, o->run, AR_ACTION_REJECT, NULL, 0, why, err);
    }
    if (o->fidelity < 1) {
        drop_stored(a, candidate);
        snprintf(why, sizeof why,
                 "rejected: ndcg@%d %.4f at fidelity %.2f was not in the best 1/%d of its "
                 "successive-halving batch",
                 a->o.k, o->reward, o->fidelity, ETA);
        return decide_log(a, o->run, AR_ACTION_REJECT, ev, ev[0] ? 1 : 0, why, err);
    }
    int adopt = 0;
    double cold = fmax(o->seconds, o->cold_seconds), need = 0;
    if (!a->champ) {
        adopt = 1;
        snprintf(why, sizeof why, "adopted: first successful full evaluation (ndcg@%d %.4f)",
                 a->o.k, o->reward);
    } else if (o->reward <= a->champ_reward) {
        snprintf(why, sizeof why, "rejected: ndcg@%d %.4f does not beat the champion's %.4f",
                 a->o.k, o->reward, a->champ_reward);
    } else if (a->o.final_test &&
               (need = refit_reserve(a, evaluated, cold)) > a->deadline - now()) {
        /* A champion is only as good as the test score the run can deliver. */
        snprintf(why, sizeof why,
                 "rejected: ndcg@%d %.4f beats the champion's %.4f, but its final refit on train "
                 "+ valid (%.0f s kept for it) cannot finish in the %.0f s the budget has left",
                 a->o.k, o->reward, a->champ_reward, need, a->deadline - now());
    } else {
        double sd;
        ar_status st = seed_noise(a, candidate, o, &sd, &ev[1], err);
        if (st)
            return st;
        double margin = isfinite(sd) ? 2 * sd : 0;
        adopt = o->reward > a->champ_reward + margin;
        snprintf(why, sizeof why,
                 "%s: ndcg@%d %.4f vs the champion's %.4f; margin %.5f = 2 x the measured seed "
                 "noise of this family (sd %.5f)",
                 adopt ? "adopted" : "rejected (within seed noise)", a->o.k, o->reward,
                 a->champ_reward, margin, sd);
    }
    size_t nev = (ev[0] != 0) + (ev[1] != 0);
    if (!ev[0])
        ev[0] = ev[1];
    ar_status st =
        decide_log(a, o->run, adopt ? AR_ACTION_ADOPT : AR_ACTION_REJECT, ev, nev, why, err);
    if (st || !adopt)
        return st;
    char *c = ar__strdup(evaluated);
    if (!c)
        return ar__fail(err, AR_ENOMEM, "out of memory");
    free(a->champ);
    a->champ = c;
    a->champ_reward = o->reward;
    a->champ_recall = o->metrics[0];
    a->champ_seconds = cold;
    a->champ_run = o->run;
    a->adoptions++;
    a->trials_to_best = a->trials;
    logf_(a, "champion: %s (%.0f s kept for its final refit)", why, reserve(a));
    return AR_OK;
}

static char *at_space_json(void *self) {
    autotrain *a = self;
    return ar__strdup(a->o.space ? a->o.space : default_space);
}

static char *at_probe(void *self) {
    (void)self;
    return ar__strdup("{\"model\":\"mostpop\",\"params\":{}}");
}

static const ar_agent_ops autotrain_ops = {"autotrain", "model-search", at_space_json, at_perceive,
                                           at_decide,   at_execute,     at_feedback,   at_probe};

/* -- The loop -------------------------------------------------------------------------------- */

typedef struct batch_ctx {
    autotrain *a;
    char **cand;
    ar_agent_outcome *out;
    ar_status st;
    ar_error *err;
} batch_ctx;

static ar_status rung(void *ctx, int i, double fidelity, double *reward) {
    batch_ctx *b = ctx;
    *reward = NAN;
    if (b->st || now() >= b->a->deadline - reserve(b->a))
        return AR_ECANCELED;
    ar_status st = AR_OK;
    const ar_agent_outcome *prev = &b->out[i];
    if (prev->fidelity > 0 && prev->run) { /* the earlier rung earned this one */
        char why[256];
        int64_t ev = metric_id(b->a, prev->run);
        snprintf(why, sizeof why,
                 "promoted from fidelity %.2f to %.2f: ndcg@%d %.4f was in the best 1/%d of its "
                 "successive-halving rung",
                 prev->fidelity, fidelity, b->a->o.k, prev->reward, ETA);
        st = decide_log(b->a, prev->run, AR_ACTION_PROMOTE, &ev, ev ? 1 : 0, why, b->err);
    }
    if (!st) {
        free(b->out[i].spec);
        st = at_execute(b->a, b->cand[i], fidelity, b->a->o.seed, &b->out[i], b->err);
    }
    if (st) {
        b->st = st;
        return st;
    }
    *reward = b->out[i].ok ? b->out[i].reward : NAN;
    return AR_OK;
}

static ar_status final_test(autotrain *a, ar_autotrain_result *res, ar_error *err) {
    ar_agent_outcome o;
    logf_(a, "final: refitting the champion on train + valid and scoring it on test");
    ar_status st = run_trial(a, a->champ, 1.0, a->o.seed, 1, "final-test", &o, err);
    if (st)
        return st;
    free(o.spec);
    if (!o.ok) {
        logf_(a, "final test failed: %s: %s", o.status, o.reason);
        return AR_OK;
    }
    res->test[0] = o.metrics[0];
    res->test[1] = o.metrics[1];
    char kr[32], kn[32];
    snprintf(kr, sizeof kr, "recall@%d", a->o.k);
    snprintf(kn, sizeof kn, "ndcg@%d", a->o.k);
    ar_metric_point mp[2] = {{kr, o.metrics[0], 0, AR_SCOPE_INNER, "test"},
                             {kn, o.metrics[1], 0, AR_SCOPE_INNER, "test"}};
    if (ar_ledger_log_metrics(a->l, a->run, mp, 2))
        return ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l));
    return AR_OK;
}

/* A batch evaluated in full as one (the transferred configurations) reaches feedback best
 * first: only its best sets a new best -- for the champion and for the policy's arms -- which
 * in the queue's order would be whichever the past dataset liked most. */
static double batch_reward(const ar_agent_outcome *o) {
    return o->fidelity > 0 && o->ok ? o->reward : -INFINITY;
}

static void best_first(char **cand, ar_agent_outcome *out, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && batch_reward(&out[j]) > batch_reward(&out[j - 1]); j--) {
            char *c = cand[j];
            ar_agent_outcome o = out[j];
            cand[j] = cand[j - 1], out[j] = out[j - 1];
            cand[j - 1] = c, out[j - 1] = o;
        }
}

static ar_status loop(autotrain *a, ar_autotrain_result *res, ar_error *err) {
    ar_status st = AR_OK;
    int n = a->o.batch;
    char **cand = calloc((size_t)n, sizeof *cand);
    ar_agent_outcome *out = calloc((size_t)n, sizeof *out);
    if (!cand || !out) {
        free(cand);
        free(out);
        return ar__fail(err, AR_ENOMEM, "out of memory");
    }
    while (now() < a->deadline - reserve(a) - 1 &&
           (!a->o.max_trials || a->trials < a->o.max_trials)) {
        int got = 0;
        if ((st = at_decide(a, n, cand, &got, err)) || got == 0)
            break;
        for (int i = 0; i < got; i++) {
            memset(&out[i], 0, sizeof out[i]);
            out[i].fidelity = -1; /* not evaluated */
        }
        batch_ctx b = {a, cand, out, AR_OK, err};
        ar_halving_result hr;
        double minf = got > 1 && !a->full_batch ? a->o.min_fidelity : 1.0;
        st = ar_successive_halving(got, minf, ETA, rung, &b, &hr);
        if (!st)
            st = b.st;
        if (a->full_batch)
            best_first(cand, out, got);
        for (int i = 0; i < got; i++) {
            if (!st && out[i].fidelity > 0)
                st = at_feedback(a, cand[i], &out[i], err);
            free(out[i].spec);
            free(cand[i]);
            cand[i] = NULL;
        }
        if (st)
            break;
    }
    free(cand);
    free(out);
    if (st)
        return st;
    if (a->cost_skips)
        logf_(a, "cost model: %d proposals skipped as too expensive for the budget left",
              a->cost_skips);
    if (a->champ && a->o.final_test && (st = final_test(a, res, err)))
        return st;
    return AR_OK;
}

static ar_status session_begin(autotrain *a, ar_error *err) {
    json_t *cfg =
        json_pack("{s:s,s:f,s:s,s:s,s:I,s:i,s:i,s:f,s:f}", "dataset", a->o.dataset,
                  "budget_seconds", a->o.budget_seconds, "policy",
                  a->o.policy == AR_SEARCH_RL    ? "rl"
                  : a->o.policy == AR_SEARCH_TPE ? "tpe"
                                                 : "random",
                  "proposer",
                  a->o.proposer == AR_PROPOSER_EVO   ? "evo"
                  : a->o.proposer == AR_PROPOSER_LLM ? "llm"
                                                     : "none",
                  "seed", (json_int_t)a->o.seed, "k", a->o.k, "batch", a->o.batch, "min_fidelity",
                  a->o.min_fidelity, "search_fraction", a->o.search_fraction);
    char *c = dumps(cfg);
    ar_run_spec rs = ar_run_spec_default();
    rs.agent = "autotrain";
    rs.config = c;
    rs.dataset = a->o.dataset;
    rs.dataset_fp = a->fp;
    rs.seed = a->o.seed;
    ar_status st = c ? ar_ledger_run_begin(a->l, &rs, &a->run) : AR_ENOMEM;
    free(c);
    if (!st)
        st = ar_ledger_set_tag(a->l, a->run, "role", "session");
    return st ? ar__fail(err, st == AR_ENOMEM ? st : AR_EIO, "ledger: %s", ar_ledger_errmsg(a->l))
              : AR_OK;
}

static ar_status session_end(autotrain *a, ar_autotrain_result *res, int ok) {
    ar_status st = AR_OK;
    char *state = ar_search_state_json(a->search);
    if (state) {
        st = ar_ledger_log_param(a->l, a->run, "policy_state", state);
        ar_free_array(state);
    }
    char skips[32];
    snprintf(skips, sizeof skips, "%d", a->cost_skips);
    if (!st)
        st = ar_ledger_log_param(a->l, a->run, "cost_skips", skips);
    if (!st && res->champion) {
        st = ar_ledger_log_param(a->l, a->run, "champion", res->champion);
        char kr[32], kn[32];
        snprintf(kr, sizeof kr, "recall@%d", a->o.k);
        snprintf(kn, sizeof kn, "ndcg@%d", a->o.k);
        ar_metric_point mp[2] = {{kr, res->valid[0], 0, AR_SCOPE_INNER, "valid"},
                                 {kn, res->valid[1], 0, AR_SCOPE_INNER, "valid"}};
        if (!st)
            st = ar_ledger_log_metrics(a->l, a->run, mp, 2);
    }
    ar_status fs = ar_ledger_run_finish(a->l, a->run, ok ? AR_RUN_FINISHED : AR_RUN_FAILED, -1, -1);
    return st ? st : fs;
}

ar_status ar_autotrain_run(ar_ledger *l, const ar_autotrain_options *o, ar_autotrain_result *out,
                           ar_error *err) {
    memset(out, 0, sizeof *out);
    out->valid[0] = out->valid[1] = out->test[0] = out->test[1] = out->noise_sd = NAN;
    const char *bad = l ? ar_autotrain_options_check(o) : "a ledger is required";
    if (bad)
        return ar__fail(err, AR_EINVAL, "autotrain: %s", bad);
    autotrain a;
    memset(&a, 0, sizeof a);
    a.l = l;
    a.o = *o;
    a.t0 = now();
    a.deadline = a.t0 + o->budget_seconds;
    a.rng_state = o->seed * 0x9E3779B97F4A7C15ull + 1;
    a.cost_rng = o->seed * 0xD1B54A32D192ED03ull + 7;
    if (!a.o.memory_limit && !AR__ASAN) {
        ar_fit_options fo = ar_fit_options_default();
        a.o.memory_limit = (size_t)(0.9 * (double)ar__memory_available(&fo));
    }
    ar_status st = ar_space_parse(o->space ? o->space : default_space, &a.space, err);
    if (st)
        return st;
    if ((st = ar_search_create(a.space, o->policy, o->seed, &a.search))) {
        ar_space_free(a.space);
        return ar__fail(err, st, "autotrain: cannot create the search policy");
    }
    /* The dataset's profile, for the ledger and for finding similar past work. */
    snprintf(a.dataset_path, sizeof a.dataset_path, "%s/dataset.ards", o->dataset);
    ar_dataset *ds = NULL;
    ar_dataset_stats s;
    if ((st = ar_dataset_load(a.dataset_path, 0, &ds, err)) ||
        (st = ar_dataset_stats_compute(ds, &s))) {
        ar_dataset_free(ds);
        ar_search_free(a.search);
        ar_space_free(a.space);
        return st;
    }
    ar_dataset_free(ds);
    if (s.valid == 0) {
        ar_search_free(a.search);
        ar_space_free(a.space);
        return ar__fail(err, AR_EINVAL,
                        "autotrain: %s has no validation split (carve one with 'agentrec split "
                        "DIR --within train --test-ratio 0 --valid-ratio 0.1')",
                        o->dataset);
    }
    a.fp = ar_fingerprint_from_stats(&s);
    a.profile =
        dumps(json_pack("{s:i,s:i,s:I,s:f,s:f,s:f}", "users", (int)s.users, "items", (int)s.items,
                        "interactions", (json_int_t)s.interactions, "density", a.fp.density,
                        "popularity_gini", a.fp.pop_gini, "interactions_per_user", a.fp.per_user));
    if (o->proposer != AR_PROPOSER_NONE &&
        (st = ar__proposer_create(o, a.profile, &a.proposer, err))) {
        free(a.profile);
        ar_search_free(a.search);
        ar_space_free(a.space);
        return st;
    }
    char *evidence = NULL;
    if (!(st = session_begin(&a, err))) {
        a.role = "promotion-probe";
        st = ar_agent_promote(l, &autotrain_ops, &a, &evidence, err);
        a.role = "search";
        if (!st)
            logf_(&a, "promotion to agent: %s", evidence);
        free(evidence);
    }
    /* The promotion probe is not part of the search. */
    a.trials = a.failures = 0;
    if (!st)
        st = at_perceive(&a, err);
    if (!st)
        st = loop(&a, out, err);
    if (a.champ) {
        out->champion = a.champ;
        a.champ = NULL;
        out->valid[0] = a.champ_recall;
        out->valid[1] = a.champ_reward;
        char fam[32];
        family_of(out->champion, fam, sizeof fam);
        struct family *f = family_get(&a, fam);
        if (f)
            out->noise_sd = f->sd;
    }
    out->trials = a.trials;
    out->failures = a.failures;
    out->adoptions = a.adoptions;
    out->trials_to_best = a.trials_to_best;
    out->seconds = now() - a.t0;
    out->run = a.run;
    if (a.run) {
        ar_status es = session_end(&a, out, st == AR_OK);
        if (!st && es)
            st = ar__fail(err, AR_EIO, "ledger: %s", ar_ledger_errmsg(l));
    }
    for (int i = 0; i < a.n_queue; i++)
        free(a.queue[i]);
    free(a.queue);
    for (int i = 0; i < a.n_hist; i++)
        free(a.hist[i].spec);
    free(a.hist);
    free(a.champ);
    free(a.profile);
    json_decref(a.stored);
    json_decref(a.fit_seconds);
    ar__proposer_free(a.proposer);
    ar_search_free(a.search);
    ar_space_free(a.space);
    return st;
}
