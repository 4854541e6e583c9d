/*
 * space.c -- typed decision spaces and their points.
 *
 * A space is a list of parameters in a fixed order; a conditional parameter depends on an
 * earlier categorical one, so activity is resolved in one pass from left to right. Numeric
 * values map to a unit coordinate u in [0, 1] (log scale for logfloat; integers by cells of
 * equal width) which is what the search policies model.
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"int", "float", "logfloat", "categorical", "bool"};

static void free_param(ar__sparam *p) {
    ar__free(p->name);
    for (int c = 0; c < p->n_choices; c++)
        ar__free(p->choices[c]);
}

void ar_space_free(ar_space *s) {
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free_param(&s->p[i]);
    ar__free(s);
}

int ar_space_n_params(const ar_space *s) {
    return s->n;
}

const char *ar_space_param_name(const ar_space *s, int i) {
    return i >= 0 && i < s->n ? s->p[i].name : NULL;
}

int ar__space_find(const ar_space *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->p[i].name, name) == 0)
            return i;
    return -1;
}

int ar__choice_find(const ar__sparam *p, const char *name) {
    for (int c = 0; c < p->n_choices; c++)
        if (strcmp(p->choices[c], name) == 0)
            return c;
    return -1;
}

static ar_status bad(ar_error *err, int i, const char *field, const char *what) {
    return ar__fail(err, AR_EINVAL, "space[%d]%s%s: %s", i, field ? "." : "", field ? field : "",
                    what);
}

static ar_status parse_param(const ar_space *s, int i, json_t *o, ar__sparam *p, ar_error *err) {
    if (!json_is_object(o))
        return bad(err, i, NULL, "expected an object");
    json_t *name = json_object_get(o, "name"), *type = json_object_get(o, "type");
    if (!json_is_string(name) || !*json_string_value(name))
        return bad(err, i, "name", "expected a non-empty string");
    if (ar__space_find(s, json_string_value(name)) >= 0)
        return bad(err, i, "name", "duplicate parameter name");
    if (!(p->name = ar__strdup(json_string_value(name))))
        return AR_ENOMEM;
    int t = -1;
    for (int k = 0; json_is_string(type) && k < 5; k++)
        if (strcmp(json_string_value(type), type_names[k]) == 0)
            t = k;
    if (t < 0)
        return bad(err, i, "type", "expected int, float, logfloat, categorical or bool");
    p->type = (ar_param_type)t;
    p->cond_param = -1;
    json_t *def = json_object_get(o, "default");
    if (p->type == AR_PARAM_CATEGORICAL) {
        json_t *ch = json_object_get(o, "choices");
        if (!json_is_array(ch) || json_array_size(ch) < 1 || json_array_size(ch) > 64)
            return bad(err, i, "choices", "expected an array of 1 to 64 strings");
        for (size_t c = 0; c < json_array_size(ch); c++) {
            json_t *v = json_array_get(ch, c);
            if (!json_is_string(v) || ar__choice_find(p, json_string_value(v)) >= 0)
                return bad(err, i, "choices", "expected distinct strings");
            if (!(p->choices[p->n_choices] = ar__strdup(json_string_value(v))))
                return AR_ENOMEM;
            p->n_choices++;
        }
        p->lo = 0;
        p->hi = p->n_choices - 1;
        p->def = 0;
        if (def) {
            int c = json_is_string(def) ? ar__choice_find(p, json_string_value(def)) : -1;
            if (c < 0)
                return bad(err, i, "default", "expected one of the choices");
            p->def = c;
        }
    } else if (p->type == AR_PARAM_BOOL) {
        p->lo = 0;
        p->hi = 1;
        if (def && !json_is_boolean(def))
            return bad(err, i, "default", "expected true or false");
        p->def = def ? json_is_true(def) : 0;
    } else {
        json_t *lo = json_object_get(o, "low"), *hi = json_object_get(o, "high");
        if (!json_is_number(lo) || !json_is_number(hi))
            return bad(err, i, "low", "expected numbers low and high");
        p->lo = json_number_value(lo);
        p->hi = json_number_value(hi);
        if (!isfinite(p->lo) || !isfinite(p->hi) || p->lo > p->hi)
            return bad(err, i, "high", "expected finite low <= high");
        if (p->type == AR_PARAM_LOGFLOAT && p->lo <= 0)
            return bad(err, i, "low", "a logfloat range must be positive");
        if (p->type == AR_PARAM_INT && (p->lo != floor(p->lo) || p->hi != floor(p->hi)))
            return bad(err, i, "low", "an int range must have integer bounds");
        json_t *lg = json_object_get(o, "log");
        if (lg && (!json_is_boolean(lg) || (json_is_true(lg) && p->type != AR_PARAM_INT)))
            return bad(err, i, "log", "expected true or false, and only on an int parameter");
        p->log = json_is_true(lg);
        if (p->log && p->lo < 1)
            return bad(err, i, "low", "a log-scale int range must start at 1 or more");
        p->def = p->type == AR_PARAM_LOGFLOAT || p->log ? sqrt(p->lo * p->hi) : (p->lo + p->hi) / 2;
        if (p->type == AR_PARAM_INT)
            p->def = floor(p->def);
        if (def) {
            if (!json_is_number(def) || json_number_value(def) < p->lo ||
                json_number_value(def) > p->hi)
                return bad(err, i, "default", "expected a number within [low, high]");
            p->def = json_number_value(def);
        }
    }
    json_t *cond = json_object_get(o, "condition");
    if (cond) {
        json_t *cp = json_object_get(cond, "param"), *in = json_object_get(cond, "in");
        int c = json_is_string(cp) ? ar__space_find(s, json_string_value(cp)) : -1;
        if (c < 0 || s->p[c].type != AR_PARAM_CATEGORICAL)
            return bad(err, i, "condition.param", "expected an earlier categorical parameter");
        if (!json_is_array(in) || json_array_size(in) == 0)
            return bad(err, i, "condition.in", "expected a non-empty array of choices");
        for (size_t k = 0; k < json_array_size(in); k++) {
            json_t *v = json_array_get(in, k);
            int ch = json_is_string(v) ? ar__choice_find(&s->p[c], json_string_value(v)) : -1;
            if (ch < 0)
                return bad(err, i, "condition.in", "expected choices of the condition parameter");
            p->cond_mask |= 1ull << ch;
        }
        p->cond_param = c;
    }
    return AR_OK;
}

ar_status ar_space_parse(const char *text, ar_space **out, ar_error *err) {
    *out = NULL;
    json_error_t je;
    json_t *a = json_loads(text, 0, &je);
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return ar__fail(err, AR_EPARSE, "space: expected a JSON array of parameters (%s)",
                        a ? "got another value" : je.text);
    }
    if (json_array_size(a) > AR_SPACE_MAX_PARAMS) {
        json_decref(a);
        return ar__fail(err, AR_ERANGE, "space: more than %d parameters", AR_SPACE_MAX_PARAMS);
    }
    ar_space *s = ar__calloc(1, sizeof *s);
    ar_status st = s ? AR_OK : AR_ENOMEM;
    for (size_t i = 0; !st && i < json_array_size(a); i++) {
        st = parse_param(s, (int)i, json_array_get(a, i), &s->p[i], err);
        s->n = (int)i + 1; /* so ar_space_free sees the partly parsed parameter */
    }
    json_decref(a);
    if (st) {
        if (st == AR_ENOMEM)
            ar__fail(err, st, "space: out of memory");
        ar_space_free(s);
        return st;
    }
    *out = s;
    return AR_OK;
}

ar_status ar_space_of_model(const ar_model *m, ar_space **out, ar_error *err) {
    char *json = ar_model_space_json(m);
    if (!json)
        return ar__fail(err, AR_ENOMEM, "space: out of memory");
    ar_status st = ar_space_parse(json, out, err);
    ar_free_array(json);
    return st;
}

/* -- unit coordinates ------------------------------------------------------------------------ */

double ar__to_unit(const ar__sparam *p, double v) {
    if (p->hi == p->lo)
        return 0.5;
    switch (p->type) {
    case AR_PARAM_LOGFLOAT:
        return (log(v) - log(p->lo)) / (log(p->hi) - log(p->lo));
    case AR_PARAM_INT:
        /* Cells of equal width on the (log) scale: value v owns [v, v + 1). */
        if (p->log)
            return (log(v + 0.5) - log(p->lo)) / (log(p->hi + 1) - log(p->lo));
        return (v - p->lo + 0.5) / (p->hi - p->lo + 1);
    default:
        return (v - p->lo) / (p->hi - p->lo);
    }
}

double ar__from_unit(const ar__sparam *p, double u) {
    if (u < 0)
        u = 0;
    if (u > 1)
        u = 1;
    switch (p->type) {
    case AR_PARAM_LOGFLOAT:
        return exp(log(p->lo) + u * (log(p->hi) - log(p->lo)));
    case AR_PARAM_INT: {
        double v = p->log ? floor(exp(log(p->lo) + u * (log(p->hi + 1) - log(p->lo))))
                          : p->lo + floor(u * (p->hi - p->lo + 1));
        return v > p->hi ? p->hi : v;
    }
    default:
        return p->lo + u * (p->hi - p->lo);
    }
}

int ar__is_discrete(const ar__sparam *p) {
    return p->type == AR_PARAM_CATEGORICAL || p->type == AR_PARAM_BOOL;
}

int ar__n_levels(const ar__sparam *p) {
    return p->type == AR_PARAM_CATEGORICAL ? p->n_choices : 2;
}

void ar_space_normalize(const ar_space *s, ar_point *pt) {
    for (int i = 0; i < s->n; i++) {
        const ar__sparam *p = &s->p[i];
        double v = pt->v[i];
        if (!isfinite(v))
            v = p->def;
        if (v < p->lo)
            v = p->lo;
        if (v > p->hi)
            v = p->hi;
        if (p->type != AR_PARAM_FLOAT && p->type != AR_PARAM_LOGFLOAT)
            v = floor(v + 0.5);
        pt->v[i] = v;
        int c = p->cond_param;
        pt->active[i] = c < 0 || (pt->active[c] && ((p->cond_mask >> (int)pt->v[c]) & 1u));
    }
    for (int i = s->n; i < AR_SPACE_MAX_PARAMS; i++) {
        pt->v[i] = 0;
        pt->active[i] = 0;
    }
}

void ar_space_default(const ar_space *s, ar_point *pt) {
    for (int i = 0; i < s->n; i++)
        pt->v[i] = s->p[i].def;
    ar_space_normalize(s, pt);
}

void ar_space_sample(const ar_space *s, ar_rng *rng, ar_point *pt) {
    for (int i = 0; i < s->n; i++) {
        const ar__sparam *p = &s->p[i];
        if (ar__is_discrete(p))
            pt->v[i] = (double)ar_rng_below(rng, (uint64_t)ar__n_levels(p));
        else
            pt->v[i] = ar__from_unit(p, ar_rng_uniform(rng));
    }
    ar_space_normalize(s, pt);
}

static json_t *value_json(const ar__sparam *p, double v) {
    switch (p->type) {
    case AR_PARAM_CATEGORICAL:
        return json_string(p->choices[(int)v]);
    case AR_PARAM_BOOL:
        return json_boolean(v != 0);
    case AR_PARAM_INT:
        return json_integer((json_int_t)v);
    default:
        return json_real(v);
    }
}

char *ar_space_point_json(const ar_space *s, const ar_point *pt) {
    json_t *o = json_object();
    for (int i = 0; o && i < s->n; i++)
        if (pt->active[i])
            json_object_set_new(o, s->p[i].name, value_json(&s->p[i], pt->v[i]));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    char *out = text ? ar__strdup(text) : NULL;
    free(text);
    return out;
}

ar_status ar_space_point_parse(const ar_space *s, const char *text, ar_point *pt, ar_error *err) {
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return ar__fail(err, AR_EPARSE, "point: expected a JSON object (%s)",
                        o ? "got another value" : je.text);
    }
    ar_space_default(s, pt);
    const char *key;
    json_t *v;
    ar_status st = AR_OK;
    json_object_foreach(o, key, v) {
        int i = ar__space_find(s, key);
        if (i < 0) {
            st = ar__fail(err, AR_ENOTFOUND, "point.%s: not a parameter of the space", key);
            break;
        }
        const ar__sparam *p = &s->p[i];
        if (p->type == AR_PARAM_CATEGORICAL) {
            int c = json_is_string(v) ? ar__choice_find(p, json_string_value(v)) : -1;
            if (c < 0) {
                st = ar__fail(err, AR_EINVAL, "point.%s: expected one of the choices", key);
                break;
            }
            pt->v[i] = c;
        } else if (p->type == AR_PARAM_BOOL) {
            if (!json_is_boolean(v)) {
                st = ar__fail(err, AR_EINVAL, "point.%s: expected true or false", key);
                break;
            }
            pt->v[i] = json_is_true(v);
        } else {
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!(x >= p->lo && x <= p->hi) ||
                (p->type == AR_PARAM_INT && (!json_is_integer(v) && x != floor(x)))) {
                st = ar__fail(err, AR_ERANGE, "point.%s: expected a %s in [%g, %g]", key,
                              type_names[p->type], p->lo, p->hi);
                break;
            }
            pt->v[i] = x;
        }
    }
    json_decref(o);
    if (!st)
        ar_space_normalize(s, pt);
    return st;
}
