#define _POSIX_C_SOURCE 200809L
/*
 * demo_source.c -- the demo's candidate source until AutoTrain exists: one learned search
 * policy (ar_search kind rl: Thompson sampling over the models, TPE within each) over a joint
 * decision space. Its first parameter picks the model; every model's own parameters are
 * prefixed with the model's name ("rp3beta.k") and exist only when that model is picked; two
 * more set the weights of carts and purchases against clicks (impressions are never learned
 * from), and the rest how the model serves (the re-ranker of ar_world_model_policy_serving).
 * The ranges are narrowed to what trains in seconds on a world's history (ials at most 96
 * factors, 20 epochs). The reward is what the demo reports back: the online outer reward
 * relative to the baseline's for the candidates that earned an A/B test, 0 for those stopped
 * at the inner gate -- so the policy learns both which models pass the gate and which serving
 * wins online.
 */
#include "cli/demo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EASE_MAX_ITEMS 5000

struct demo_source {
    ar_space *space;
    ar_search *search;
    const char *models[6]; /* the models, in the order of the first proposals */
    int n_models, n_proposed;
    char *space_json;
    char describe[160];
};

void demo_candidate_clear(demo_candidate *c) {
    free(c->params);
    free(c->point);
    memset(c, 0, sizeof *c);
}

/* Narrowed ranges ({model, param, low, high}); a parameter of a model that is not listed here
 * and appears in `fixed` keeps its default. */
static const struct {
    const char *model, *param;
    double lo, hi;
} ranges[] = {
    {"rp3beta", "k", 10, 500},     {"rp3beta", "alpha", 0.2, 2},
    {"rp3beta", "beta", 0, 1},     {"itemknn", "k", 10, 500},
    {"itemknn", "shrink", 0, 200}, {"itemknn", "locality", 0.5, 4},
    {"ials", "factors", 8, 96},    {"ials", "epochs", 4, 20},
    {"ials", "reg", 1e-4, 10},     {"ials", "unobserved_weight", 1e-4, 1},
    {"ials", "alpha", 0, 50},      {"mostpop", "half_life_days", 0, 60},
    {"ease", "lambda", 10, 20000},
};
static const struct {
    const char *name, *type;
    double lo, hi, def;
} serving[] = {
    {"serve_model_weight", "float", 0.0, 2.0, 0.5},
    {"serve_popularity_weight", "float", 0.0, 2.0, 1.0},
    {"serve_new_weight", "float", 0.0, 2.0, 0.5},
    {"serve_brand_weight", "float", 0.0, 2.0, 1.0},
    {"serve_tail_share", "float", 0.0, 0.4, 0.2},
    {"serve_temperature", "logfloat", 0.5, 20.0, 3.0},
};

static const char *const fixed[] = {"ials.reg_exponent", "ials.solver", "ials.cg_steps",
                                    "ials.init_std", NULL};

static int is_fixed(const char *model, const char *param) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", model, param);
    for (const char *const *f = fixed; *f; f++)
        if (strcmp(*f, full) == 0)
            return 1;
    return 0;
}

/* Appends model `name`'s parameters, prefixed and conditional on "model", to the space. */
static int add_model(json_t *space, const char *name) {
    ar_model *m;
    if (ar_model_create(name, &m))
        return cli_error("demo", "the zoo has no model '%s'", name);
    char *sj = ar_model_space_json(m);
    ar_model_free(m);
    json_error_t je;
    json_t *params = sj ? json_loads(sj, 0, &je) : NULL;
    ar_free_array(sj);
    if (!json_is_array(params)) {
        json_decref(params);
        return cli_error("demo", "cannot read the decision space of '%s'", name);
    }
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p) {
        const char *pn = json_string_value(json_object_get(p, "name"));
        if (!pn || is_fixed(name, pn))
            continue;
        json_t *q = json_deep_copy(p);
        char full[96];
        snprintf(full, sizeof full, "%s.%s", name, pn);
        json_object_set_new(q, "name", json_string(full));
        json_object_del(q, "help");
        for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
            if (strcmp(ranges[r].model, name) || strcmp(ranges[r].param, pn))
                continue;
            int is_int = strcmp(json_string_value(json_object_get(q, "type")), "int") == 0;
            json_object_set_new(q, "low",
                                is_int ? json_integer((json_int_t)ranges[r].lo)
                                       : json_real(ranges[r].lo));
            json_object_set_new(q, "high",
                                is_int ? json_integer((json_int_t)ranges[r].hi)
                                       : json_real(ranges[r].hi));
            json_t *d = json_object_get(q, "default");
            double dv = d ? json_number_value(d) : ranges[r].lo;
            dv = dv < ranges[r].lo ? ranges[r].lo : dv > ranges[r].hi ? ranges[r].hi : dv;
            json_object_set_new(q, "default",
                                is_int ? json_integer((json_int_t)dv) : json_real(dv));
        }
        json_t *cond = json_object_get(q, "condition");
        if (cond) { /* a condition on the model's own parameter: prefix it */
            char cp[96];
            snprintf(cp, sizeof cp, "%s.%s", name,
                     json_string_value(json_object_get(cond, "param")));
            json_object_set_new(cond, "param", json_string(cp));
        } else {
            json_object_set_new(q, "condition",
                                json_pack("{s:s,s:[s]}", "param", "model", "in", name));
        }
        json_array_append_new(space, q);
    }
    json_decref(params);
    return 0;
}

int demo_source_create(const ar_dataset *ds, uint64_t seed, demo_source **out) {
    *out = NULL;
    demo_source *s = calloc(1, sizeof *s);
    if (!s)
        return cli_error("demo", "out of memory");
    const char **models = s->models;
    models[0] = "ials";
    models[1] = "rp3beta";
    models[2] = "itemknn";
    models[3] = "mostpop";
    if (ar_dataset_n_items(ds) <= EASE_MAX_ITEMS)
        models[4] = "ease";
    while (s->models[s->n_models])
        s->n_models++;
    json_t *space = json_array(), *choices = json_array();
    for (int i = 0; models[i]; i++)
        json_array_append_new(choices, json_string(models[i]));
    json_array_append_new(space,
                          json_pack("{s:s,s:s,s:o,s:s}", "name", "model", "type", "categorical",
                                    "choices", choices, "default", models[0]));
    json_array_append_new(space, json_pack("{s:s,s:s,s:f,s:f,s:f}", "name", "cart_weight", "type",
                                           "float", "low", 1.0, "high", 4.0, "default", 2.0));
    json_array_append_new(space,
                          json_pack("{s:s,s:s,s:f,s:f,s:f}", "name", "purchase_weight", "type",
                                    "float", "low", 1.0, "high", 10.0, "default", 4.0));
    /* The serving re-ranker. The defaults are a retailer's prior, not a fit to one world: the
     * popularity now weighs twice the model (a world's history is sparse: most customers have
     * clicked little), the customer's own brands as much as popularity, new arrivals get a
     * nudge, two slots in ten go to the long tail, and the draw from the best 3k items keeps a
     * returning customer from seeing the same slate. */
    for (size_t i = 0; i < sizeof serving / sizeof serving[0]; i++)
        json_array_append_new(space, json_pack("{s:s,s:s,s:f,s:f,s:f}", "name", serving[i].name,
                                               "type", serving[i].type, "low", serving[i].lo,
                                               "high", serving[i].hi, "default", serving[i].def));
    json_array_append_new(space, json_pack("{s:s,s:s,s:i,s:i,s:i}", "name", "serve_pool", "type",
                                           "int", "low", 1, "high", 5, "default", 3));
    int rc = 0;
    for (int i = 0; models[i] && !rc; i++)
        rc = add_model(space, models[i]);
    char *text = rc ? NULL : json_dumps(space, JSON_COMPACT);
    json_decref(space);
    ar_error err;
    if (!rc && (!text || ar_space_parse(text, &s->space, &err)))
        rc = cli_error("demo", "the candidate space does not parse: %s",
                       text ? err.msg : "out of memory");
    if (!rc && ar_search_create(s->space, AR_SEARCH_RL, seed, &s->search))
        rc = cli_error("demo", "cannot create the search policy");
    if (rc) {
        free(text);
        demo_source_free(s);
        return rc;
    }
    s->space_json = text;
    snprintf(s->describe, sizeof s->describe,
             "each model at its defaults, then rl search over %s%s%s%s%s%s%s%s%s", models[0],
             models[1] ? "|" : "", models[1] ? models[1] : "", models[2] ? "|" : "",
             models[2] ? models[2] : "", models[3] ? "|" : "", models[3] ? models[3] : "",
             models[4] ? "|" : "", models[4] ? models[4] : "");
    *out = s;
    return 0;
}

int demo_source_next(demo_source *s, demo_candidate *c) {
    memset(c, 0, sizeof *c);
    ar_point p;
    if (s->n_proposed < s->n_models) {
        /* First every model once at its defaults with the default serving: the prior a
         * practitioner would try first, and a fair start for each model in the policy. */
        char text[64];
        ar_error err;
        snprintf(text, sizeof text, "{\"model\":\"%s\"}", s->models[s->n_proposed]);
        if (ar_space_point_parse(s->space, text, &p, &err))
            return cli_error("demo", "the default candidate does not fit the space: %s", err.msg);
        ar_space_normalize(s->space, &p);
    } else if (ar_search_propose(s->search, &p)) {
        return cli_error("demo", "the search policy failed to propose");
    }
    s->n_proposed++;
    char *pj = ar_space_point_json(s->space, &p);
    json_error_t je;
    json_t *obj = pj ? json_loads(pj, 0, &je) : NULL;
    if (!obj) {
        ar_free_array(pj);
        return cli_error("demo", "out of memory");
    }
    c->point = strdup(pj);
    ar_free_array(pj);
    const char *model = json_string_value(json_object_get(obj, "model"));
    snprintf(c->model, sizeof c->model, "%s", model ? model : "");
    snprintf(c->events, sizeof c->events, "click=1,cart=%.3g,purchase=%.3g",
             json_number_value(json_object_get(obj, "cart_weight")),
             json_number_value(json_object_get(obj, "purchase_weight")));
    ar_world_serving *sv = &c->serving;
    *sv = ar_world_serving_default();
    sv->model_weight = json_number_value(json_object_get(obj, "serve_model_weight"));
    sv->popularity_weight = json_number_value(json_object_get(obj, "serve_popularity_weight"));
    sv->new_weight = json_number_value(json_object_get(obj, "serve_new_weight"));
    sv->brand_weight = json_number_value(json_object_get(obj, "serve_brand_weight"));
    sv->tail_share = json_number_value(json_object_get(obj, "serve_tail_share"));
    sv->pool = (int)json_integer_value(json_object_get(obj, "serve_pool"));
    sv->temperature = json_number_value(json_object_get(obj, "serve_temperature"));
    if (ar_world_serving_check(sv)) /* all weights 0: the model alone */
        sv->model_weight = 1;
    json_t *params = json_object();
    size_t plen = strlen(c->model);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (strncmp(key, c->model, plen) == 0 && key[plen] == '.')
            json_object_set(params, key + plen + 1, v);
    }
    char *ps = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(params);
    json_decref(obj);
    c->params = ps ? strdup(ps) : NULL;
    free(ps);
    if (!c->point || !c->params) {
        demo_candidate_clear(c);
        return cli_error("demo", "out of memory");
    }
    return 0;
}

int demo_source_feedback(demo_source *s, const char *point, double reward) {
    ar_point p;
    ar_error err;
    if (ar_space_point_parse(s->space, point, &p, &err))
        return cli_error("demo", "a recorded candidate does not fit the space: %s", err.msg);
    ar_space_normalize(s->space, &p);
    if (ar_search_observe(s->search, &p, reward))
        return cli_error("demo", "the search policy refused an observation");
    return 0;
}

const char *demo_source_describe(const demo_source *s) {
    return s->describe;
}

const char *demo_source_space(const demo_source *s) {
    return s->space_json;
}

void demo_source_free(demo_source *s) {
    if (!s)
        return;
    ar_search_free(s->search);
    ar_space_free(s->space);
    free(s->space_json);
    free(s);
}
