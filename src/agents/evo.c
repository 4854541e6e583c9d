/*
 * evo.c -- the evolutionary proposer over model specs (include/agentrec/spec.h).
 *
 * Quality-diversity search in the style of MAP-Elites (Mouret & Clune, "Illuminating search
 * spaces by mapping elites", 2015): the archive keeps, per cell, the best spec seen with that
 * cell's features -- (dominant base model, number of base learners capped at 4) -- so a strong
 * iALS does not crowd out every promising blend or item-based model. Parents are chosen by a
 * tournament among archive cells (reward decides), then mutated or crossed over.
 *
 * Specs are edited as JSON trees (jansson), starting from canonical text, so every node has all
 * of its keys; each candidate is canonicalised and validated (ar_spec_canonical) and checked
 * against the options' limits before it is returned. Numeric parameters move on the unit scale
 * the search policies use (space.c: log scale for logfloat), so one step size fits all.
 *
 * Determinism: every random choice comes from one xoshiro stream seeded by the caller, and the
 * tree walks visit nodes in document order; the same seed and the same observations give the
 * same proposals.
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 16
#define MAX_CELLS 128
#define MAX_SLOTS 64
#define RETRIES 24

typedef struct cell {
    char key[48];
    double reward;
    char *spec; /* canonical */
} cell;

struct ar_evo {
    ar_evo_options o;
    char *models[MAX_MODELS];
    ar_space *space[MAX_MODELS];
    int n_models;
    char *events[AR_SPEC_MAX_MEMBERS * 4];
    int n_events;
    ar_rng rng;
    int n_proposed, n_observed;
    cell cells[MAX_CELLS];
    int n_cells;
    uint64_t *seen;
    size_t n_seen, cap_seen;
    char *best;
    double best_reward;
};

ar_evo_options ar_evo_options_default(void) {
    ar_evo_options o;
    memset(&o, 0, sizeof o);
    o.max_members = 4;
    o.max_leaves = 6;
    o.max_depth = 3;
    o.transforms = 1;
    o.n_init = 8;
    o.tournament = 3;
    o.p_crossover = 0.25;
    return o;
}

const char *ar_evo_options_check(const ar_evo_options *o) {
    if (o->models && (o->n_models < 1 || o->n_models > MAX_MODELS))
        return "models: 1 to 16 names";
    if (o->max_members < 1 || o->max_members > AR_SPEC_MAX_MEMBERS)
        return "max_members must be in [1, 8]";
    if (o->max_leaves < 1 || o->max_leaves > AR_SPEC_MAX_LEAVES)
        return "max_leaves must be in [1, 16]";
    if (o->max_depth < 1 || o->max_depth > AR_SPEC_MAX_DEPTH)
        return "max_depth must be in [1, 4]";
    if (o->events && (o->n_events < 1 || o->n_events > AR_SPEC_MAX_MEMBERS * 4))
        return "events: 1 to 32 names";
    if (o->n_init < 0 || o->tournament < 1)
        return "n_init must be >= 0 and tournament >= 1";
    if (!(o->p_crossover >= 0 && o->p_crossover <= 1))
        return "p_crossover must be in [0, 1]";
    return NULL;
}

void ar_evo_free(ar_evo *e) {
    if (!e)
        return;
    for (int i = 0; i < e->n_models; i++) {
        ar__free(e->models[i]);
        ar_space_free(e->space[i]);
    }
    for (int i = 0; i < e->n_events; i++)
        ar__free(e->events[i]);
    for (int i = 0; i < e->n_cells; i++)
        ar__free(e->cells[i].spec);
    ar__free(e->seen);
    ar__free(e->best);
    ar__free(e);
}

ar_status ar_evo_create(uint64_t seed, const ar_evo_options *o, ar_evo **out, ar_error *err) {
    *out = NULL;
    const char *bad = ar_evo_options_check(o);
    if (bad)
        return ar__fail(err, AR_EINVAL, "evo: %s", bad);
    ar_evo *e = ar__calloc(1, sizeof *e);
    if (!e)
        return ar__fail(err, AR_ENOMEM, "evo: out of memory");
    e->o = *o;
    e->o.models = NULL;
    e->o.events = NULL;
    ar_rng_seed(&e->rng, seed);
    e->best_reward = -INFINITY;
    const char *const *names = o->models ? o->models : ar_model_names();
    int n = o->models ? o->n_models : 0;
    if (!o->models)
        while (names[n])
            n++;
    ar_status st = AR_OK;
    for (int i = 0; i < n && !st; i++) {
        ar_model *m;
        if (ar_model_create(names[i], &m)) {
            st = ar__fail(err, AR_EINVAL, "evo: models[%d]: unknown model '%s'", i, names[i]);
            break;
        }
        st = ar_space_of_model(m, &e->space[e->n_models], err);
        ar_model_free(m);
        if (!st && !(e->models[e->n_models++] = ar__strdup(names[i])))
            st = ar__fail(err, AR_ENOMEM, "evo: out of memory");
    }
    for (int i = 0; !st && o->events && i < o->n_events; i++)
        if (!(e->events[e->n_events++] = ar__strdup(o->events[i])))
            st = ar__fail(err, AR_ENOMEM, "evo: out of memory");
    if (st) {
        ar_evo_free(e);
        return st;
    }
    *out = e;
    return AR_OK;
}

/* -- bookkeeping ------------------------------------------------------------------------------- */

static uint64_t hash_text(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int seen(const ar_evo *e, uint64_t h) {
    for (size_t i = 0; i < e->n_seen; i++)
        if (e->seen[i] == h)
            return 1;
    return 0;
}

static ar_status remember(ar_evo *e, uint64_t h) {
    if (seen(e, h))
        return AR_OK;
    ar_status st = ar__grow((void **)&e->seen, &e->cap_seen, e->n_seen + 1, sizeof *e->seen);
    if (!st)
        e->seen[e->n_seen++] = h;
    return st;
}

int ar_evo_n_observed(const ar_evo *e) {
    return e->n_observed;
}

ar_status ar_evo_observe(ar_evo *e, const char *spec_json, double reward, ar_error *err) {
    char *c;
    ar_status st = ar_spec_canonical(spec_json, &c, err);
    if (st)
        return st == AR_ENOMEM ? st : ar__fail(err, AR_EINVAL, "evo: observe: %s", err->msg);
    ar_spec_info in;
    if ((st = ar_spec_info_get(c, &in, err)) || (st = remember(e, hash_text(c)))) {
        ar__free(c);
        return st;
    }
    e->n_observed++;
    if (!isfinite(reward)) { /* a failed trial: remembered (not proposed again), not an elite */
        ar__free(c);
        return AR_OK;
    }
    if (reward > e->best_reward) {
        char *b = ar__strdup(c);
        if (!b) {
            ar__free(c);
            return ar__fail(err, AR_ENOMEM, "evo: out of memory");
        }
        ar__free(e->best);
        e->best = b;
        e->best_reward = reward;
    }
    char key[48];
    snprintf(key, sizeof key, "%s/%d", in.dominant, in.n_leaves < 4 ? in.n_leaves : 4);
    int i = 0;
    while (i < e->n_cells && strcmp(e->cells[i].key, key) != 0)
        i++;
    if (i == e->n_cells) {
        if (e->n_cells == MAX_CELLS) {
            ar__free(c);
            return AR_OK;
        }
        snprintf(e->cells[i].key, sizeof e->cells[i].key, "%s", key);
        e->cells[i].reward = -INFINITY;
        e->n_cells++;
    }
    if (reward > e->cells[i].reward) {
        ar__free(e->cells[i].spec);
        e->cells[i].spec = c;
        e->cells[i].reward = reward;
    } else {
        ar__free(c);
    }
    return AR_OK;
}

ar_status ar_evo_best(const ar_evo *e, char **spec_json, double *reward) {
    *spec_json = NULL;
    *reward = NAN;
    if (!e->best)
        return AR_ENOTFOUND;
    if (!(*spec_json = ar__strdup(e->best)))
        return AR_ENOMEM;
    *reward = e->best_reward;
    return AR_OK;
}

char *ar_evo_archive_json(const ar_evo *e) {
    json_t *a = json_array();
    for (int i = 0; a && i < e->n_cells; i++) {
        json_error_t je;
        json_t *s = e->cells[i].spec ? json_loads(e->cells[i].spec, 0, &je) : json_null();
        json_array_append_new(a, json_pack("{s:s,s:f,s:o}", "cell", e->cells[i].key, "reward",
                                           e->cells[i].reward, "spec", s ? s : json_null()));
    }
    char *t = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(a);
    char *out = t ? ar__strdup(t) : NULL;
    free(t);
    return out;
}

/* -- random pieces ---------------------------------------------------------------------------- */

static double gauss(ar_rng *r) {
    double u1 = ar_rng_uniform(r), u2 = ar_rng_uniform(r);
    return sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
}

static int below(ar_evo *e, int n) {
    return n > 0 ? (int)ar_rng_below(&e->rng, (uint64_t)n) : 0;
}

/* A number rounded to 3 significant digits, so proposals stay readable. */
static double round3(double v) {
    char b[32];
    snprintf(b, sizeof b, "%.3g", v);
    return strtod(b, NULL);
}

static int model_index(const ar_evo *e, const char *name) {
    for (int i = 0; i < e->n_models; i++)
        if (strcmp(e->models[i], name) == 0)
            return i;
    return -1;
}

/* A base learner of model k: defaults, or (sampled) a uniform point of its space. */
static json_t *leaf_of(ar_evo *e, int k, int sampled) {
    json_t *params = NULL;
    if (sampled) {
        ar_point pt;
        ar_space_sample(e->space[k], &e->rng, &pt);
        char *pj = ar_space_point_json(e->space[k], &pt);
        json_error_t je;
        params = pj ? json_loads(pj, 0, &je) : NULL;
        ar_free_array(pj);
    }
    return json_pack("{s:s,s:o}", "model", e->models[k], "params", params ? params : json_object());
}

/* The draws are sequenced one statement at a time throughout this file: the order in which a
 * call's arguments are evaluated is unspecified, and gcc and clang differ, so draws inside one
 * argument list would make a seed propose differently in the two builds. */
static json_t *random_leaf(ar_evo *e) {
    int k = below(e, e->n_models);
    int defaults = ar_rng_uniform(&e->rng) < 0.5;
    return leaf_of(e, k, defaults);
}

/* -- tree walks ------------------------------------------------------------------------------- */

/* Where a node sits: the root (container NULL), the "spec" of a blend entry (key), or a
 * member of a fuse/gate (index). */
typedef struct slot {
    json_t *node, *container;
    const char *key;
    size_t index;
    int depth;
} slot;

static void collect(json_t *n, json_t *container, const char *key, size_t index, int depth, slot *s,
                    int *ns) {
    if (*ns < MAX_SLOTS)
        s[(*ns)++] = (slot){n, container, key, index, depth};
    json_t *a;
    if ((a = json_object_get(n, "blend"))) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *entry = json_array_get(a, i);
            collect(json_object_get(entry, "spec"), entry, "spec", 0, depth + 1, s, ns);
        }
    } else if ((a = json_object_get(n, "members"))) {
        for (size_t i = 0; i < json_array_size(a); i++)
            collect(json_array_get(a, i), a, NULL, i, depth + 1, s, ns);
    }
}

/* Puts v (a new reference is taken over) where sl is; returns the (possibly new) root. */
static json_t *replace(json_t *root, const slot *sl, json_t *v) {
    if (!sl->container) {
        json_decref(root);
        return v;
    }
    if (sl->key)
        json_object_set_new(sl->container, sl->key, v);
    else
        json_array_set_new(sl->container, sl->index, v);
    return root;
}

static int is_leaf(const json_t *n) {
    return json_object_get(n, "model") != NULL;
}

/* The members array of a combinator (blend entries or members). */
static json_t *members_of(json_t *n) {
    json_t *a = json_object_get(n, "blend");
    return a ? a : json_object_get(n, "members");
}

/* Picks a random slot satisfying want (0 = any, 1 = leaf, 2 = combinator, 3 = blend or
 * stack). */
static int pick(ar_evo *e, slot *s, int ns, int want) {
    int cand[MAX_SLOTS], nc = 0;
    for (int i = 0; i < ns; i++) {
        int leaf = is_leaf(s[i].node);
        if (want == 0 || (want == 1 && leaf) || (want == 2 && !leaf) ||
            (want == 3 &&
             (json_object_get(s[i].node, "blend") || json_object_get(s[i].node, "stack"))))
            cand[nc++] = i;
    }
    return nc ? cand[below(e, nc)] : -1;
}

/* -- mutations ---------------------------------------------------------------------------------
 * Each edits the tree in place (or returns a new root) and returns it; NULL = not applicable. */

static json_t *mut_param(ar_evo *e, json_t *root, slot *s, int ns) {
    int i = pick(e, s, ns, 1);
    json_t *leaf = s[i].node;
    int k = model_index(e, json_string_value(json_object_get(leaf, "model")));
    if (k < 0 || ar_space_n_params(e->space[k]) == 0)
        return NULL;
    const ar_space *sp = e->space[k];
    char *pj = json_dumps(json_object_get(leaf, "params"), JSON_COMPACT);
    ar_point pt;
    ar_error err;
    int bad = !pj || ar_space_point_parse(sp, pj, &pt, &err);
    free(pj);
    if (bad)
        return NULL;
    int act[AR_SPACE_MAX_PARAMS], na = 0;
    for (int q = 0; q < sp->n; q++)
        if (pt.active[q] && sp->p[q].lo < sp->p[q].hi)
            act[na++] = q;
    if (!na)
        return NULL;
    int q = act[below(e, na)];
    const ar__sparam *p = &sp->p[q];
    if (ar__is_discrete(p)) {
        int levels = ar__n_levels(p), cur = (int)pt.v[q];
        pt.v[q] = (cur + 1 + below(e, levels - 1)) % levels;
    } else {
        double u = ar__to_unit(p, pt.v[q]) + 0.15 * gauss(&e->rng);
        double v = ar__from_unit(p, u);
        pt.v[q] = p->type == AR_PARAM_INT ? v : round3(v);
    }
    ar_space_normalize(sp, &pt);
    char *np = ar_space_point_json(sp, &pt);
    json_error_t je;
    json_t *params = np ? json_loads(np, 0, &je) : NULL;
    ar_free_array(np);
    if (!params)
        return NULL;
    json_object_set_new(leaf, "params", params);
    return root;
}

static json_t *mut_swap(ar_evo *e, json_t *root, slot *s, int ns) {
    if (e->n_models < 2)
        return NULL;
    int i = pick(e, s, ns, 1);
    int cur = model_index(e, json_string_value(json_object_get(s[i].node, "model")));
    int k = below(e, e->n_models - 1);
    if (cur >= 0 && k >= cur)
        k++;
    json_t *leaf = leaf_of(e, k, ar_rng_uniform(&e->rng) < 0.5);
    json_t *tr = json_object_get(s[i].node, "transforms");
    if (tr)
        json_object_set(leaf, "transforms", tr);
    return replace(root, &s[i], leaf);
}

static const char *const norms[] = {"max", "zscore", "rank"};

/* A stack's meta-model rows ("weights"; canonical specs always have them). */
static json_t *stack_rows(json_t *n) {
    return json_object_get(n, "weights");
}

/* The neutral row for a new stack member: bias weight 1, feature weights 0. */
static json_t *neutral_row(json_t *n) {
    size_t nf = json_array_size(json_object_get(json_object_get(n, "stack"), "features"));
    json_t *r = json_array();
    for (size_t k = 0; k < (nf ? nf : 1); k++)
        json_array_append_new(r, json_real(k == 0 ? 1 : 0));
    return r;
}

/* Keeps a stack valid after an edit: at least one nonzero weight. */
static void stack_fix(json_t *n) {
    json_t *rows = stack_rows(n);
    for (size_t m = 0; m < json_array_size(rows); m++)
        for (size_t k = 0; k < json_array_size(json_array_get(rows, m)); k++)
            if (json_number_value(json_array_get(json_array_get(rows, m), k)) != 0)
                return;
    json_array_set_new(json_array_get(rows, 0), 0, json_real(1));
}

static json_t *mut_add(ar_evo *e, json_t *root, slot *s, int ns) {
    int i = pick(e, s, ns, 0);
    json_t *n = s[i].node;
    if (is_leaf(n)) { /* a base learner becomes a blend of itself and a new one */
        double w = round3(0.25 + 0.75 * ar_rng_uniform(&e->rng));
        json_t *leaf = random_leaf(e);
        const char *norm = norms[below(e, 3)];
        json_t *b = json_pack("{s:[{s:f,s:O},{s:f,s:o}],s:s}", "blend", "weight", 1.0, "spec", n,
                              "weight", w, "spec", leaf, "normalize", norm);
        return replace(root, &s[i], b);
    }
    json_t *a = members_of(n);
    if (json_object_get(n, "gate")) { /* a new bucket above the last threshold */
        json_t *th = json_object_get(json_object_get(n, "gate"), "thresholds");
        json_int_t last = json_integer_value(json_array_get(th, json_array_size(th) - 1));
        json_array_append_new(th, json_integer(last * 2 + 1));
        json_array_append_new(a, random_leaf(e));
        return root;
    }
    if (json_object_get(n, "blend")) {
        double w = round3(0.1 + 0.9 * ar_rng_uniform(&e->rng));
        json_array_append_new(a, json_pack("{s:f,s:o}", "weight", w, "spec", random_leaf(e)));
    } else {
        json_array_append_new(a, random_leaf(e));
        if (json_object_get(n, "stack")) /* the new member starts neutral */
            json_array_append_new(stack_rows(n), neutral_row(n));
    }
    return root;
}

static json_t *mut_drop(ar_evo *e, json_t *root, slot *s, int ns) {
    int i = pick(e, s, ns, 2);
    if (i < 0)
        return NULL;
    json_t *n = s[i].node, *a = members_of(n);
    size_t cnt = json_array_size(a);
    size_t d = (size_t)below(e, (int)cnt);
    if (json_object_get(n, "gate")) {
        json_t *th = json_object_get(json_object_get(n, "gate"), "thresholds");
        if (cnt <= 2) { /* a gate of one member is that member */
            json_t *keep = json_array_get(a, 1 - d);
            json_incref(keep);
            return replace(root, &s[i], keep);
        }
        json_array_remove(a, d);
        json_array_remove(th, d < json_array_size(th) ? d : json_array_size(th) - 1);
        return root;
    }
    if (cnt <= 1)
        return NULL;
    if (json_object_get(n, "stack") && cnt > 2) { /* the member and its row of the meta-model */
        json_array_remove(a, d);
        json_array_remove(stack_rows(n), d);
        stack_fix(n);
        return root;
    }
    if (cnt == 2) { /* collapse to the remaining member */
        json_t *keep = json_array_get(a, 1 - d);
        if (json_object_get(n, "blend"))
            keep = json_object_get(keep, "spec");
        json_incref(keep);
        return replace(root, &s[i], keep);
    }
    json_array_remove(a, d);
    if (json_object_get(n, "blend")) { /* keep a positive weight */
        double sum = 0;
        for (size_t q = 0; q < json_array_size(a); q++)
            sum += json_number_value(json_object_get(json_array_get(a, q), "weight"));
        if (!(sum > 0))
            json_object_set_new(json_array_get(a, 0), "weight", json_real(1));
    }
    return root;
}

/* Copies "normalize" and "depth" from n to o where n has them (a blend made by a mutation or a
 * crossover in this round is not canonical yet and may lack them). */
static void copy_norm(json_t *o, json_t *n) {
    static const char *const keys[] = {"normalize", "depth"};
    for (int k = 0; o && k < 2; k++)
        if (json_object_get(n, keys[k]))
            json_object_set(o, keys[k], json_object_get(n, keys[k]));
}

/* A blend as a stack of the same members (bias weights = the blend's, the history length's 0),
 * which scores the same until its meta-model is learned; or a stack as the blend of its bias
 * weights (negative ones dropped). */
static json_t *blend_to_stack(json_t *n) {
    json_t *members = json_array(), *rows = json_array(), *a = json_object_get(n, "blend");
    for (size_t q = 0; q < json_array_size(a); q++) {
        json_t *entry = json_array_get(a, q);
        json_array_append(members, json_object_get(entry, "spec"));
        json_array_append_new(
            rows, json_pack("[f,f]", json_number_value(json_object_get(entry, "weight")), 0.0));
    }
    json_t *st = json_pack("{s:{s:[s,s]},s:o,s:o}", "stack", "features", "bias",
                           "log_history_length", "members", members, "weights", rows);
    copy_norm(st, n);
    return st;
}

static json_t *stack_to_blend(json_t *n) {
    json_t *b = json_array(), *a = json_object_get(n, "members"), *rows = stack_rows(n);
    int pos = 0;
    for (size_t q = 0; q < json_array_size(a); q++) {
        double w = json_number_value(json_array_get(json_array_get(rows, q), 0));
        w = w > 0 ? w : 0;
        pos += w > 0;
        json_array_append_new(b, json_pack("{s:f,s:O}", "weight", w, "spec", json_array_get(a, q)));
    }
    if (!pos)
        json_object_set_new(json_array_get(b, 0), "weight", json_real(1));
    json_t *bl = json_pack("{s:o}", "blend", b);
    copy_norm(bl, n);
    return bl;
}

static json_t *mut_blend(ar_evo *e, json_t *root, slot *s, int ns) {
    int i = pick(e, s, ns, 3);
    if (i < 0)
        return NULL;
    json_t *n = s[i].node, *a = json_object_get(n, "blend");
    double r = ar_rng_uniform(&e->rng);
    if (r < 0.3) {
        const char *cur = json_string_value(json_object_get(n, "normalize"));
        int k = 0;
        while (k < 3 && cur && strcmp(norms[k], cur) != 0)
            k++;
        json_object_set_new(n, "normalize", json_string(norms[(k + 1 + below(e, 2)) % 3]));
        return root;
    }
    if (r < 0.4) { /* the same members, combined the other way */
        json_t *c = a ? blend_to_stack(n) : stack_to_blend(n);
        return c ? replace(root, &s[i], c) : NULL;
    }
    if (!a) { /* a stack: one weight of its meta-model */
        json_t *rows = stack_rows(n);
        json_t *row = json_array_get(rows, (size_t)below(e, (int)json_array_size(rows)));
        size_t k = (size_t)below(e, (int)json_array_size(row));
        double w = json_number_value(json_array_get(row, k));
        w = k == 0 && w > 0 ? w * exp(0.7 * gauss(&e->rng)) : w + 0.5 * gauss(&e->rng);
        w = round3(w < -1e3 ? -1e3 : w > 1e3 ? 1e3 : w);
        json_array_set_new(row, k, json_real(w));
        stack_fix(n);
        return root;
    }
    json_t *entry = json_array_get(a, (size_t)below(e, (int)json_array_size(a)));
    double w = json_number_value(json_object_get(entry, "weight"));
    w = w > 0 ? w * exp(0.7 * gauss(&e->rng)) : 0.1;
    w = round3(w < 1e-3 ? 1e-3 : w > 1e3 ? 1e3 : w);
    json_object_set_new(entry, "weight", json_real(w));
    return root;
}

static json_t *mut_transform(ar_evo *e, json_t *root, slot *s, int ns) {
    if (!e->o.transforms)
        return NULL;
    int i = pick(e, s, ns, 1);
    json_t *leaf = s[i].node, *tr = json_object_get(leaf, "transforms");
    if (tr && json_array_size(tr) && ar_rng_uniform(&e->rng) < 0.5) {
        json_array_remove(tr, (size_t)below(e, (int)json_array_size(tr)));
        return root;
    }
    int have[5] = {0}; /* events, time_decay, tfidf, bm25, pop_damp */
    static const char *const kinds[] = {"events", "time_decay", "tfidf", "bm25", "pop_damp"};
    for (size_t q = 0; tr && q < json_array_size(tr); q++)
        for (int k = 0; k < 5; k++)
            if (json_object_get(json_array_get(tr, q), kinds[k]))
                have[k] = 1;
    int cand[5], nc = 0;
    for (int k = 0; k < 5; k++) {
        if (have[k] || ((k == 2 || k == 3) && (have[2] || have[3])))
            continue;
        if ((k == 0 && !e->n_events) || (k == 1 && !e->o.has_time))
            continue;
        cand[nc++] = k;
    }
    if (!nc)
        return NULL;
    int k = cand[below(e, nc)];
    json_t *t;
    if (k == 0) {
        static const double levels[] = {0, 1, 2, 4};
        json_t *w = json_object();
        int pos = 0;
        for (int q = 0; q < e->n_events; q++) {
            double v = levels[below(e, 4)];
            pos += v > 0;
            json_object_set_new(w, e->events[q], json_real(v));
        }
        if (!pos)
            json_object_set_new(w, e->events[below(e, e->n_events)], json_real(1));
        t = json_pack("{s:o}", "events", w);
    } else if (k == 1) {
        t = json_pack("{s:{s:f}}", "time_decay", "half_life_days",
                      round3(exp(log(7.0) + ar_rng_uniform(&e->rng) * log(365.0 / 7.0))));
    } else if (k == 2) {
        t = json_pack("{s:{}}", "tfidf");
    } else if (k == 3) {
        double k1 = round3(0.5 + 2.5 * ar_rng_uniform(&e->rng));
        double b = round3(0.3 + 0.6 * ar_rng_uniform(&e->rng));
        t = json_pack("{s:{s:f,s:f}}", "bm25", "k1", k1, "b", b);
    } else {
        t = json_pack("{s:{s:f}}", "pop_damp", "beta",
                      round3(0.05 + 0.75 * ar_rng_uniform(&e->rng)));
    }
    if (!tr) {
        tr = json_array();
        json_object_set_new(leaf, "transforms", tr);
    }
    json_array_append_new(tr, t);
    return root;
}

/* -- parents and crossover ----------------------------------------------------------------------
 */

static const cell *tournament(ar_evo *e) {
    const cell *best = NULL;
    int filled[MAX_CELLS], nf = 0;
    for (int i = 0; i < e->n_cells; i++)
        if (e->cells[i].spec)
            filled[nf++] = i;
    for (int t = 0; nf && t < e->o.tournament; t++) {
        const cell *c = &e->cells[filled[below(e, nf)]];
        if (!best || c->reward > best->reward)
            best = c;
    }
    return best;
}

static json_t *load(const char *text) {
    json_error_t je;
    return text ? json_loads(text, 0, &je) : NULL;
}

static json_t *crossover(ar_evo *e, const cell *a, const cell *b) {
    json_t *x = load(a->spec), *y = load(b->spec);
    if (!x || !y) {
        json_decref(x);
        json_decref(y);
        return NULL;
    }
    if (ar_rng_uniform(&e->rng) < 0.5) { /* blend the two elites */
        double w = round3(0.3 + 0.7 * ar_rng_uniform(&e->rng));
        const char *norm = norms[below(e, 3)];
        json_t *r = json_pack("{s:[{s:f,s:o},{s:f,s:o}],s:s}", "blend", "weight", 1.0, "spec", x,
                              "weight", w, "spec", y, "normalize", norm);
        return r;
    }
    /* A subtree of y replaces a subtree of x. */
    slot sx[MAX_SLOTS], sy[MAX_SLOTS];
    int nx = 0, ny = 0;
    collect(x, NULL, NULL, 0, 1, sx, &nx);
    collect(y, NULL, NULL, 0, 1, sy, &ny);
    const slot *from = &sy[below(e, ny)];
    json_t *sub = json_deep_copy(from->node);
    json_decref(y);
    return replace(x, &sx[below(e, nx)], sub);
}

/* -- proposals ------------------------------------------------------------------------------- */

/* The i-th member's spec in a combinator's members array (a blend entry holds it as "spec"). */
static json_t *member_spec(json_t *a, size_t i, int blend) {
    json_t *c = json_array_get(a, i);
    return blend ? json_object_get(c, "spec") : c;
}

static int within_limits(const ar_evo *e, json_t *n, int depth) {
    if (depth > e->o.max_depth)
        return 0;
    if (is_leaf(n))
        return model_index(e, json_string_value(json_object_get(n, "model"))) >= 0;
    json_t *a = members_of(n);
    if ((int)json_array_size(a) > e->o.max_members)
        return 0;
    int blend = json_object_get(n, "blend") != NULL, gate = json_object_get(n, "gate") != NULL;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *ci = member_spec(a, i, blend);
        if (!within_limits(e, ci, depth + 1))
            return 0;
        /* The same member twice adds nothing a combination can learn (a gate's buckets are
         * segments, so there it may repeat). */
        for (size_t j = 0; j < i && !gate; j++)
            if (json_equal(ci, member_spec(a, j, blend)))
                return 0;
    }
    return 1;
}

/* Canonical text of a candidate that passes validation and the options' limits, or NULL. */
static char *accept(ar_evo *e, json_t *cand) {
    if (!cand || !within_limits(e, cand, 1))
        return NULL;
    char *t = json_dumps(cand, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!t)
        return NULL;
    char *c = NULL;
    ar_error err;
    ar_spec_info in;
    if (ar_spec_canonical(t, &c, &err) == AR_OK &&
        (ar_spec_info_get(c, &in, &err) != AR_OK || in.n_leaves > e->o.max_leaves)) {
        ar__free(c);
        c = NULL;
    }
    free(t);
    return c;
}

static json_t *mutate(ar_evo *e, json_t *root) {
    if (!root)
        return NULL;
    slot s[MAX_SLOTS];
    int ns = 0;
    collect(root, NULL, NULL, 0, 1, s, &ns);
    typedef json_t *(*mutation)(ar_evo *, json_t *, slot *, int);
    static const mutation ops[] = {mut_param, mut_param, mut_param, mut_swap,
                                   mut_add,   mut_drop,  mut_blend, mut_transform};
    json_t *r = ops[below(e, (int)(sizeof ops / sizeof ops[0]))](e, root, s, ns);
    if (!r)
        json_decref(root);
    return r;
}

ar_status ar_evo_propose(ar_evo *e, char **spec_json, ar_error *err) {
    *spec_json = NULL;
    char *fallback = NULL, *c = NULL;
    for (int attempt = 0; attempt < RETRIES && !c; attempt++) {
        json_t *cand;
        int n = e->n_proposed;
        const cell *p = tournament(e);
        if (n < e->o.n_init || !p) {
            /* First every allowed model with its defaults, then random base learners. */
            cand = n < e->n_models && attempt == 0 ? leaf_of(e, n, 0) : random_leaf(e);
        } else {
            const cell *q = e->n_cells > 1 ? tournament(e) : NULL;
            if (q && q != p && ar_rng_uniform(&e->rng) < e->o.p_crossover)
                cand = crossover(e, p, q);
            else
                cand = mutate(e, load(p->spec));
            /* Sometimes a second step, so a round can reach farther than one edit. */
            if (cand && ar_rng_uniform(&e->rng) < 0.25)
                cand = mutate(e, cand);
        }
        char *t = accept(e, cand);
        json_decref(cand);
        if (!t)
            continue;
        if (seen(e, hash_text(t))) {
            if (!fallback)
                fallback = t;
            else
                ar__free(t);
            continue;
        }
        c = t;
    }
    if (!c) {
        c = fallback; /* everything nearby was seen already: repeat rather than fail */
        fallback = NULL;
    }
    ar__free(fallback);
    if (!c) {
        json_t *leaf = leaf_of(e, below(e, e->n_models), 1);
        c = accept(e, leaf);
        json_decref(leaf);
    }
    if (!c)
        return ar__fail(err, AR_ENOMEM, "evo: no valid proposal (out of memory?)");
    ar_status st = remember(e, hash_text(c));
    if (st) {
        ar__free(c);
        return ar__fail(err, st, "evo: out of memory");
    }
    e->n_proposed++;
    *spec_json = c;
    return AR_OK;
}
