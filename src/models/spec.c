/*
 * spec.c -- the model-spec language: parsing with validation (every error names its JSON path
 * and what was expected), the canonical form, its hash, shape information and the JSON Schema.
 *
 * The grammar is in include/agentrec/spec.h and docs/spec.md. Parsing is strict: unknown keys
 * are errors, so a typo never silently falls back to a default. Base learners' parameters are
 * checked against the model's own parameter table (the decision space), so the language grows
 * with the zoo without edits here. Text in a spec (model names, event names, normalisation
 * names) is only ever compared against names this build knows, never interpreted.
 *
 * The canonical form fills every default, sorts keys, orders transforms as they are applied
 * (events, time_decay, tfidf|bm25, pop_damp) and prints numbers with 15 significant digits;
 * since parsing rounds every float to 15 digits first (spec_internal.h), canonical text parses
 * back to bit-identical numbers.
 */
#define _POSIX_C_SOURCE 200809L
#include "models/spec_internal.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const norm_names[] = {"max", "zscore", "rank"};
const char *const ar__spec_feature_names[AR_SPEC_MAX_FEATURES] = {"bias", "log_history_length",
                                                                  "history_popularity"};

double ar__r15(double v) {
    char b[40];
    snprintf(b, sizeof b, "%.15g", v);
    return strtod(b, NULL);
}

/* -- errors ------------------------------------------------------------------------------------ */

static ar_status bad(ar_error *err, ar_status st, const char *path, const char *fmt, ...)
    AR__PRINTF(4, 5);

static ar_status bad(ar_error *err, ar_status st, const char *path, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ar__fail(err, st, "%s: %s", path, msg);
}

/* path + suffix into out (truncated quietly: paths only serve messages). */
static void join(char *out, const char *path, const char *fmt, ...) AR__PRINTF(3, 4);

static void join(char *out, const char *path, const char *fmt, ...) {
    char suffix[AR__SPEC_PATH];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(suffix, sizeof suffix, fmt, ap);
    va_end(ap);
    /* out may be path itself, so assemble aside; a path too long is cut (messages only). */
    char buf[2 * AR__SPEC_PATH];
    size_t a = strnlen(path, AR__SPEC_PATH - 1), b = strlen(suffix);
    memcpy(buf, path, a);
    memcpy(buf + a, suffix, b + 1);
    size_t n = a + b < AR__SPEC_PATH ? a + b : AR__SPEC_PATH - 1;
    memcpy(out, buf, n);
    out[n] = 0;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Rejects keys of o that are not in the NULL-terminated list. */
static ar_status only_keys(json_t *o, const char *path, const char *const *allowed, ar_error *err) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char p[AR__SPEC_PATH], list[200] = "";
            for (const char *const *a = allowed; *a; a++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s\"%s\"", l ? ", " : "", *a);
            }
            join(p, path, ".%s", key);
            return bad(err, AR_EINVAL, p, "unknown key (expected %s)", list);
        }
    }
    return AR_OK;
}

/* A finite number within [lo, hi] (lo_open: > lo) at o[key], or def when absent (has_def). */
static ar_status get_num(json_t *o, const char *key, const char *path, double lo, int lo_open,
                         double hi, int has_def, double def, double *out, ar_error *err) {
    json_t *v = json_object_get(o, key);
    char p[AR__SPEC_PATH];
    join(p, path, ".%s", key);
    if (!v) {
        if (!has_def)
            return bad(err, AR_EINVAL, p, "required");
        *out = def;
        return AR_OK;
    }
    if (!json_is_number(v))
        return bad(err, AR_EINVAL, p, "expected a number in %s%g, %g], got %s", lo_open ? "(" : "[",
                   lo, hi, json_kind(v));
    double x = json_number_value(v);
    if (!isfinite(x) || (lo_open ? !(x > lo) : !(x >= lo)) || !(x <= hi))
        return bad(err, AR_ERANGE, p, "expected a number in %s%g, %g], got %g", lo_open ? "(" : "[",
                   lo, hi, x);
    *out = ar__r15(x);
    return AR_OK;
}

static ar_status get_int(json_t *o, const char *key, const char *path, int64_t lo, int64_t hi,
                         int64_t def, int32_t *out, ar_error *err) {
    json_t *v = json_object_get(o, key);
    char p[AR__SPEC_PATH];
    join(p, path, ".%s", key);
    if (!v) {
        *out = (int32_t)def;
        return AR_OK;
    }
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || x != floor(x) || x < (double)lo || x > (double)hi)
        return bad(err, json_is_number(v) ? AR_ERANGE : AR_EINVAL, p,
                   "expected an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    *out = (int32_t)x;
    return AR_OK;
}

/* -- parsing ----------------------------------------------------------------------------------- */

typedef struct pctx {
    ar__spec *s;
    ar_error *err;
} pctx;

static void node_free(ar__spec_node *n) {
    if (!n)
        return;
    for (int i = 0; i < n->n; i++)
        node_free(n->m[i]);
    ar_model_free(n->model);
    for (int e = 0; e < n->n_events; e++)
        ar__free(n->ev_name[e]);
    if (n->damp_owned)
        ar__free(n->damp);
    ar__free(n);
}

void ar__spec_free(ar__spec *s) {
    if (!s)
        return;
    node_free(s->root);
    ar__free(s->logpop_owned);
    ar__free(s->saved_text);
    ar__free(s);
}

/* Choice number idx of a '|'-separated list into buf ("" when out of range). */
static void choice_at(const char *choices, int idx, char *buf, size_t n) {
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p) {
        buf[0] = 0;
        return;
    }
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    snprintf(buf, n, "%.*s", (int)len, p);
}

static ar_status parse_params(ar__spec_node *n, json_t *params, const char *path, ar_error *err) {
    char pp[AR__SPEC_PATH];
    join(pp, path, ".params");
    if (!json_is_object(params))
        return bad(err, AR_EINVAL, pp, "expected an object of parameters, got %s",
                   json_kind(params));
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v) {
        char p[AR__SPEC_PATH];
        join(p, pp, ".%s", key);
        int i = -1;
        for (int k = 0; k < ar_model_n_params(n->model) && i < 0; k++)
            if (strcmp(ar_model_param_def(n->model, k)->name, key) == 0)
                i = k;
        if (i < 0)
            return bad(err, AR_ENOTFOUND, p,
                       "%s has no such parameter (see agentrec train --space %s)",
                       ar_model_name(n->model), ar_model_name(n->model));
        const ar_param_def *d = ar_model_param_def(n->model, i);
        double x;
        switch (d->type) {
        case AR_PARAM_CATEGORICAL: {
            int c = -1;
            char buf[64];
            for (int k = 0; json_is_string(v) && c < 0; k++) {
                choice_at(d->choices, k, buf, sizeof buf);
                if (!buf[0])
                    break;
                if (strcmp(buf, json_string_value(v)) == 0)
                    c = k;
            }
            if (c < 0)
                return bad(err, AR_EINVAL, p, "expected one of %s", d->choices);
            x = c;
            break;
        }
        case AR_PARAM_BOOL:
            if (!json_is_boolean(v))
                return bad(err, AR_EINVAL, p, "expected true or false, got %s", json_kind(v));
            x = json_is_true(v);
            break;
        case AR_PARAM_INT:
            x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!json_is_number(v) || x != floor(x) || x < d->lo || x > d->hi)
                return bad(err, json_is_number(v) ? AR_ERANGE : AR_EINVAL, p,
                           "expected an int in [%g, %g], got %s%.17g", d->lo, d->hi,
                           json_is_number(v) ? "" : json_kind(v), json_is_number(v) ? x : 0.0);
            break;
        default:
            x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!json_is_number(v) || !isfinite(x) || x < d->lo || x > d->hi)
                return bad(err, json_is_number(v) ? AR_ERANGE : AR_EINVAL, p,
                           "expected a %s in [%g, %g], got %s%.17g",
                           d->type == AR_PARAM_LOGFLOAT ? "logfloat" : "float", d->lo, d->hi,
                           json_is_number(v) ? "" : json_kind(v), json_is_number(v) ? x : 0.0);
            x = ar__r15(x);
            if (x < d->lo || x > d->hi) /* rounding at the edge of the range */
                x = x < d->lo ? d->lo : d->hi;
        }
        /* The family reads m->param directly; setting it here skips re-parsing text. */
        n->model->param[i] = x;
    }
    return AR_OK;
}

static ar_status parse_transforms(ar__spec_node *n, json_t *ts, const char *path, ar_error *err) {
    char tp[AR__SPEC_PATH];
    join(tp, path, ".transforms");
    if (!json_is_array(ts) || json_array_size(ts) > 5)
        return bad(err, AR_EINVAL, tp,
                   "expected an array of at most 5 transforms (one of each kind)");
    int seen[5] = {0}; /* events, time_decay, tfidf, bm25, pop_damp */
    static const char *const kinds[] = {"events", "time_decay", "tfidf", "bm25", "pop_damp", NULL};
    for (size_t t = 0; t < json_array_size(ts); t++) {
        char p[AR__SPEC_PATH];
        join(p, tp, "[%zu]", t);
        json_t *o = json_array_get(ts, t);
        if (!json_is_object(o) || json_object_size(o) != 1)
            return bad(err, AR_EINVAL, p,
                       "expected an object with one key: events, time_decay, tfidf, bm25 or "
                       "pop_damp");
        ar_status st = only_keys(o, p, kinds, err);
        if (st)
            return st;
        const char *key = json_object_iter_key(json_object_iter(o));
        json_t *a = json_object_iter_value(json_object_iter(o));
        int k = 0;
        while (strcmp(kinds[k], key) != 0)
            k++;
        char ap[AR__SPEC_PATH];
        join(ap, p, ".%s", key);
        if (seen[k])
            return bad(err, AR_EINVAL, ap, "a base learner takes each transform at most once");
        if ((k == 2 && seen[3]) || (k == 3 && seen[2]))
            return bad(err, AR_EINVAL, ap, "tfidf and bm25 exclude each other");
        seen[k] = 1;
        if (!json_is_object(a))
            return bad(err, AR_EINVAL, ap, "expected an object, got %s", json_kind(a));
        if (k == 0) { /* events */
            size_t ne = json_object_size(a);
            if (ne < 1 || ne > AR__SPEC_MAX_EVENTS)
                return bad(err, AR_EINVAL, ap, "expected 1 to %d event weights",
                           AR__SPEC_MAX_EVENTS);
            const char *ev;
            json_t *w;
            int pos = 0;
            json_object_foreach(a, ev, w) {
                char ep[AR__SPEC_PATH];
                join(ep, ap, ".%s", ev);
                double x = json_is_number(w) ? json_number_value(w) : NAN;
                if (!*ev || strlen(ev) > 64)
                    return bad(err, AR_EINVAL, ep, "expected an event name of 1 to 64 bytes");
                if (!json_is_number(w) || !isfinite(x) || x < 0 || x > 1e6)
                    return bad(err, AR_ERANGE, ep, "expected a weight in [0, 1e6]");
                if (!(n->ev_name[n->n_events] = ar__strdup(ev)))
                    return AR_ENOMEM;
                n->ev_w[n->n_events++] = ar__r15(x);
                pos += x > 0;
            }
            if (!pos)
                return bad(err, AR_EINVAL, ap, "expected at least one positive weight");
        } else if (k == 1) {
            static const char *const keys[] = {"half_life_days", NULL};
            if ((st = only_keys(a, ap, keys, err)) ||
                (st = get_num(a, "half_life_days", ap, 0, 1, 36500, 0, 0, &n->half_life, err)))
                return st;
        } else if (k == 2) {
            static const char *const keys[] = {NULL};
            if ((st = only_keys(a, ap, keys, err)))
                return st;
            n->weighting = AR_WEIGHTING_TFIDF;
        } else if (k == 3) {
            static const char *const keys[] = {"k1", "b", NULL};
            if ((st = only_keys(a, ap, keys, err)) ||
                (st = get_num(a, "k1", ap, 0, 1, 100, 1, 1.2, &n->k1, err)) ||
                (st = get_num(a, "b", ap, 0, 0, 1, 1, 0.75, &n->b, err)))
                return st;
            n->weighting = AR_WEIGHTING_BM25;
        } else {
            static const char *const keys[] = {"beta", NULL};
            if ((st = only_keys(a, ap, keys, err)) ||
                (st = get_num(a, "beta", ap, 0, 0, 2, 1, 0.5, &n->beta, err)))
                return st;
            n->has_damp = 1;
        }
    }
    return AR_OK;
}

static ar_status parse_node(pctx *c, json_t *j, const char *path, int depth, ar__spec_node **out);

static ar_status parse_members(pctx *c, ar__spec_node *n, json_t *a, const char *path,
                               const char *name, int depth, int min) {
    char ap[AR__SPEC_PATH];
    join(ap, path, ".%s", name);
    if (!json_is_array(a) || (int)json_array_size(a) < min ||
        json_array_size(a) > AR_SPEC_MAX_MEMBERS)
        return bad(c->err, AR_EINVAL, ap, "expected an array of %d to %d members", min,
                   AR_SPEC_MAX_MEMBERS);
    for (size_t i = 0; i < json_array_size(a); i++) {
        char p[AR__SPEC_PATH];
        join(p, ap, "[%zu]", i);
        json_t *e = json_array_get(a, i);
        json_t *sub = e;
        if (n->kind == AR__SPEC_BLEND) {
            static const char *const keys[] = {"weight", "spec", NULL};
            if (!json_is_object(e))
                return bad(c->err, AR_EINVAL, p, "expected {\"weight\": w, \"spec\": {...}}");
            ar_status st = only_keys(e, p, keys, c->err);
            if (st || (st = get_num(e, "weight", p, 0, 0, 1e6, 1, 1.0, &n->w[i], c->err)))
                return st;
            sub = json_object_get(e, "spec");
            join(p, p, ".spec");
            if (!sub)
                return bad(c->err, AR_EINVAL, p, "required");
        }
        ar_status st = parse_node(c, sub, p, depth + 1, &n->m[i]);
        n->n = (int)i + 1;
        if (st)
            return st;
    }
    return AR_OK;
}

/* The "normalize" of a blend or stack (zscore when absent). */
static ar_status get_norm(ar__spec_node *n, json_t *j, const char *path, ar_error *err) {
    json_t *nm = json_object_get(j, "normalize");
    n->norm = AR__NORM_ZSCORE;
    if (!nm)
        return AR_OK;
    int k = -1;
    for (int i = 0; i < 3 && json_is_string(nm); i++)
        if (strcmp(norm_names[i], json_string_value(nm)) == 0)
            k = i;
    char p[AR__SPEC_PATH];
    join(p, path, ".normalize");
    if (k < 0)
        return bad(err, AR_EINVAL, p, "expected \"max\", \"zscore\" or \"rank\"");
    n->norm = (ar__spec_norm)k;
    return AR_OK;
}

/* A stack: {"stack": {"features": [...]}, "members": [...], "weights": [[...], ...],
 * "normalize": ..., "depth": ...}. Features are stored in ascending id order and the weights'
 * columns permuted to match, so the canonical form does not depend on the order written. */
static ar_status parse_stack(pctx *c, ar__spec_node *n, json_t *j, const char *path, int depth) {
    static const char *const keys[] = {"stack", "members", "weights", "normalize", "depth", NULL};
    static const char *const skeys[] = {"features", NULL};
    ar_error *err = c->err;
    char p[AR__SPEC_PATH], q[AR__SPEC_PATH];
    n->kind = AR__SPEC_STACK;
    c->s->n_stacks++;
    ar_status st;
    json_t *sv = json_object_get(j, "stack");
    join(p, path, ".stack");
    if ((st = only_keys(j, path, keys, err)))
        return st;
    if (!json_is_object(sv))
        return bad(err, AR_EINVAL, p, "expected {\"features\": [\"bias\", ...]}, got %s",
                   json_kind(sv));
    if ((st = only_keys(sv, p, skeys, err)) ||
        (st = get_int(j, "depth", path, 1, 100000, 1000, &n->depth, err)) ||
        (st = get_norm(n, j, path, err)))
        return st;
    /* Features as written (col[k] = the id of column k of "weights"), default bias + length. */
    int col[AR_SPEC_MAX_FEATURES], nf = 0, seen[AR_SPEC_MAX_FEATURES] = {0};
    json_t *fs = json_object_get(sv, "features");
    join(q, p, ".features");
    if (!fs) {
        col[nf++] = AR__FEAT_BIAS;
        col[nf++] = AR__FEAT_LOG_LEN;
    } else if (!json_is_array(fs) || json_array_size(fs) < 1 ||
               json_array_size(fs) > AR_SPEC_MAX_FEATURES) {
        return bad(err, AR_EINVAL, q, "expected an array of 1 to %d feature names",
                   AR_SPEC_MAX_FEATURES);
    } else {
        for (size_t i = 0; i < json_array_size(fs); i++) {
            json_t *f = json_array_get(fs, i);
            char r[AR__SPEC_PATH];
            join(r, q, "[%zu]", i);
            int k = -1;
            for (int t = 0; t < AR_SPEC_MAX_FEATURES && json_is_string(f); t++)
                if (strcmp(ar__spec_feature_names[t], json_string_value(f)) == 0)
                    k = t;
            if (k < 0)
                return bad(err, AR_EINVAL, r,
                           "expected \"bias\", \"log_history_length\" or \"history_popularity\"");
            if (seen[k])
                return bad(err, AR_EINVAL, r, "feature \"%s\" is listed twice",
                           ar__spec_feature_names[k]);
            seen[k] = 1;
            col[nf++] = k;
        }
        if (!seen[AR__FEAT_BIAS])
            return bad(err, AR_EINVAL, q, "expected \"bias\" among the features (the intercept)");
    }
    n->n_feat = 0;
    for (int k = 0; k < AR_SPEC_MAX_FEATURES; k++)
        for (int i = 0; i < nf; i++)
            if (col[i] == k)
                n->feat[n->n_feat++] = (ar__spec_feature)k;
    json_t *mem = json_object_get(j, "members");
    if (!mem) {
        join(q, path, ".members");
        return bad(err, AR_EINVAL, q, "required");
    }
    if ((st = parse_members(c, n, mem, path, "members", depth, 1)))
        return st;
    /* The meta-model: absent = the neutral start, which scores as a blend of weights 1. */
    json_t *w = json_object_get(j, "weights");
    join(q, path, ".weights");
    int pos_of[AR_SPEC_MAX_FEATURES]; /* column as written -> position in n->feat */
    for (int i = 0; i < nf; i++)
        for (int k = 0; k < n->n_feat; k++)
            if (n->feat[k] == (ar__spec_feature)col[i])
                pos_of[i] = k;
    if (!w) {
        for (int m = 0; m < n->n; m++)
            n->v[m][0] = 1; /* feat[0] is the bias */
        return AR_OK;
    }
    char fl[96] = "";
    for (int i = 0; i < nf; i++) {
        size_t l = strlen(fl);
        snprintf(fl + l, sizeof fl - l, "%s%s", i ? ", " : "", ar__spec_feature_names[col[i]]);
    }
    if (!json_is_array(w) || (int)json_array_size(w) != n->n)
        return bad(err, AR_EINVAL, q, "expected one row per member (%d) of %d weights (%s)", n->n,
                   nf, fl);
    int nonzero = 0;
    for (int m = 0; m < n->n; m++) {
        json_t *row = json_array_get(w, (size_t)m);
        char r[AR__SPEC_PATH];
        join(r, q, "[%d]", m);
        if (!json_is_array(row) || (int)json_array_size(row) != nf)
            return bad(err, AR_EINVAL, r, "expected an array of %d weights (%s)", nf, fl);
        for (int i = 0; i < nf; i++) {
            json_t *x = json_array_get(row, (size_t)i);
            double y = json_is_number(x) ? json_number_value(x) : NAN;
            char e[AR__SPEC_PATH];
            join(e, r, "[%d]", i);
            if (!json_is_number(x))
                return bad(err, AR_EINVAL, e, "expected a number in [-1e6, 1e6], got %s",
                           json_kind(x));
            if (!isfinite(y) || y < -1e6 || y > 1e6)
                return bad(err, AR_ERANGE, e, "expected a number in [-1e6, 1e6], got %g", y);
            n->v[m][pos_of[i]] = ar__r15(y);
            nonzero |= n->v[m][pos_of[i]] != 0;
        }
    }
    if (!nonzero)
        return bad(err, AR_EINVAL, q, "a stack needs at least one nonzero weight");
    return AR_OK;
}

static ar_status parse_node(pctx *c, json_t *j, const char *path, int depth, ar__spec_node **out) {
    ar_error *err = c->err;
    *out = NULL;
    if (!json_is_object(j))
        return bad(err, AR_EINVAL, path,
                   "expected an object (a base learner or a combinator), got %s", json_kind(j));
    if (depth > AR_SPEC_MAX_DEPTH)
        return bad(err, AR_EINVAL, path, "nested deeper than %d levels", AR_SPEC_MAX_DEPTH);
    int kinds = (json_object_get(j, "model") != NULL) + (json_object_get(j, "blend") != NULL) +
                (json_object_get(j, "fuse") != NULL) + (json_object_get(j, "gate") != NULL) +
                (json_object_get(j, "stack") != NULL);
    if (kinds != 1)
        return bad(err, AR_EINVAL, path,
                   "expected exactly one of \"model\", \"blend\", \"fuse\", \"gate\" or "
                   "\"stack\"");
    ar__spec_node *n = ar__calloc(1, sizeof *n);
    if (!n)
        return ar__fail(err, AR_ENOMEM, "spec: out of memory");
    *out = n;
    snprintf(n->path, sizeof n->path, "%s", path);
    ar_status st;
    json_t *v;
    if ((v = json_object_get(j, "model"))) {
        static const char *const keys[] = {"model", "params", "transforms", NULL};
        n->kind = AR__SPEC_LEAF;
        if ((st = only_keys(j, path, keys, err)))
            return st;
        char p[AR__SPEC_PATH];
        join(p, path, ".model");
        if (!json_is_string(v) || ar_model_create(json_string_value(v), &n->model)) {
            char list[200] = "";
            for (const char *const *nm = ar_model_names(); *nm; nm++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", *nm);
            }
            return bad(err, json_is_string(v) ? AR_ENOTFOUND : AR_EINVAL, p,
                       "expected a model of the zoo (%s)", list);
        }
        if (c->s->n_leaves >= AR_SPEC_MAX_LEAVES)
            return bad(err, AR_EINVAL, path, "more than %d base learners in the spec",
                       AR_SPEC_MAX_LEAVES);
        n->leaf = c->s->n_leaves;
        c->s->leaves[c->s->n_leaves++] = n;
        n->k1 = 1.2;
        n->b = 0.75;
        if ((v = json_object_get(j, "params")) && (st = parse_params(n, v, path, err)))
            return st;
        if ((v = json_object_get(j, "transforms")) && (st = parse_transforms(n, v, path, err)))
            return st;
        return AR_OK;
    }
    if ((v = json_object_get(j, "blend"))) {
        static const char *const keys[] = {"blend", "normalize", "depth", NULL};
        n->kind = AR__SPEC_BLEND;
        if ((st = only_keys(j, path, keys, err)) ||
            (st = get_int(j, "depth", path, 1, 100000, 1000, &n->depth, err)))
            return st;
        if ((st = get_norm(n, j, path, err)) ||
            (st = parse_members(c, n, v, path, "blend", depth, 1)))
            return st;
        double sum = 0;
        for (int i = 0; i < n->n; i++)
            sum += n->w[i];
        if (!(sum > 0))
            return bad(err, AR_EINVAL, path, "a blend needs at least one positive weight");
        return AR_OK;
    }
    if (json_object_get(j, "stack"))
        return parse_stack(c, n, j, path, depth);
    if ((v = json_object_get(j, "fuse"))) {
        static const char *const keys[] = {"fuse", "k", "depth", "members", NULL};
        n->kind = AR__SPEC_FUSE;
        char p[AR__SPEC_PATH];
        join(p, path, ".fuse");
        if ((st = only_keys(j, path, keys, err)))
            return st;
        if (!json_is_string(v) || strcmp(json_string_value(v), "rrf") != 0)
            return bad(err, AR_EINVAL, p, "expected \"rrf\" (reciprocal rank fusion)");
        if ((st = get_num(j, "k", path, 0, 1, 10000, 1, 60, &n->rrf_k, err)) ||
            (st = get_int(j, "depth", path, 1, 100000, 1000, &n->depth, err)))
            return st;
        json_t *mem = json_object_get(j, "members");
        if (!mem) {
            join(p, path, ".members");
            return bad(err, AR_EINVAL, p, "required");
        }
        return parse_members(c, n, mem, path, "members", depth, 1);
    }
    static const char *const keys[] = {"gate", "members", NULL};
    v = json_object_get(j, "gate");
    n->kind = AR__SPEC_GATE;
    char p[AR__SPEC_PATH];
    join(p, path, ".gate");
    if ((st = only_keys(j, path, keys, err)))
        return st;
    static const char *const gkeys[] = {"by", "thresholds", NULL};
    if (!json_is_object(v))
        return bad(err, AR_EINVAL, p,
                   "expected {\"by\": \"history_length\", \"thresholds\": [...]}");
    if ((st = only_keys(v, p, gkeys, err)))
        return st;
    json_t *by = json_object_get(v, "by"), *th = json_object_get(v, "thresholds");
    char q[AR__SPEC_PATH];
    join(q, p, ".by");
    if (!json_is_string(by) || strcmp(json_string_value(by), "history_length") != 0)
        return bad(err, AR_EINVAL, q, "expected \"history_length\"");
    join(q, p, ".thresholds");
    if (!json_is_array(th) || json_array_size(th) < 1 ||
        json_array_size(th) > AR_SPEC_MAX_MEMBERS - 1)
        return bad(err, AR_EINVAL, q, "expected an array of 1 to %d thresholds",
                   AR_SPEC_MAX_MEMBERS - 1);
    int nt = (int)json_array_size(th);
    for (int i = 0; i < nt; i++) {
        json_t *t = json_array_get(th, (size_t)i);
        double x = json_is_number(t) ? json_number_value(t) : NAN;
        char r[AR__SPEC_PATH];
        join(r, q, "[%d]", i);
        if (!json_is_number(t) || x != floor(x) || x < 1 || x > 1e9 || (i && x <= n->thr[i - 1]))
            return bad(err, AR_EINVAL, r, "expected ascending integers >= 1");
        n->thr[i] = (int32_t)x;
    }
    json_t *mem = json_object_get(j, "members");
    if (!mem) {
        join(q, path, ".members");
        return bad(err, AR_EINVAL, q, "required");
    }
    if ((st = parse_members(c, n, mem, path, "members", depth, 2)))
        return st;
    if (n->n != nt + 1) {
        join(q, path, ".members");
        return bad(err, AR_EINVAL, q, "expected %d members (one more than the thresholds), got %d",
                   nt + 1, n->n);
    }
    return AR_OK;
}

ar_status ar__spec_parse(const char *text, ar__spec **out, ar_error *err) {
    *out = NULL;
    if (!text)
        return ar__fail(err, AR_EINVAL, "spec: no text");
    if (strlen(text) > AR_SPEC_MAX_BYTES)
        return ar__fail(err, AR_ERANGE, "spec: longer than %d bytes", AR_SPEC_MAX_BYTES);
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return ar__fail(err, AR_EPARSE, "spec: not valid JSON (line %d, column %d: %s)", je.line,
                        je.column, je.text);
    ar__spec *s = ar__calloc(1, sizeof *s);
    if (!s) {
        json_decref(j);
        return ar__fail(err, AR_ENOMEM, "spec: out of memory");
    }
    pctx c = {s, err};
    ar_status st = parse_node(&c, j, "spec", 1, &s->root);
    json_decref(j);
    if (st) {
        if (st == AR_ENOMEM)
            ar__fail(err, st, "spec: out of memory");
        ar__spec_free(s);
        return st;
    }
    *out = s;
    return AR_OK;
}

/* -- canonical form ---------------------------------------------------------------------------- */

static json_t *params_json(const ar_model *m) {
    json_t *o = json_object();
    for (int i = 0; o && i < ar_model_n_params(m); i++) {
        const ar_param_def *d = ar_model_param_def(m, i);
        double v = m->param[i];
        json_t *x;
        char buf[64];
        switch (d->type) {
        case AR_PARAM_CATEGORICAL:
            choice_at(d->choices, (int)v, buf, sizeof buf);
            x = json_string(buf);
            break;
        case AR_PARAM_BOOL:
            x = json_boolean(v != 0);
            break;
        case AR_PARAM_INT:
            x = json_integer((json_int_t)v);
            break;
        default:
            x = json_real(ar__r15(v));
        }
        json_object_set_new(o, d->name, x);
    }
    return o;
}

static json_t *node_json(const ar__spec_node *n) {
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (n->kind == AR__SPEC_LEAF) {
        json_object_set_new(o, "model", json_string(ar_model_name(n->model)));
        json_object_set_new(o, "params", params_json(n->model));
        json_t *ts = json_array();
        if (n->n_events) {
            json_t *e = json_object();
            for (int k = 0; k < n->n_events; k++)
                json_object_set_new(e, n->ev_name[k], json_real(n->ev_w[k]));
            json_array_append_new(ts, json_pack("{s:o}", "events", e));
        }
        if (n->half_life > 0)
            json_array_append_new(
                ts, json_pack("{s:{s:f}}", "time_decay", "half_life_days", n->half_life));
        if (n->weighting == AR_WEIGHTING_TFIDF)
            json_array_append_new(ts, json_pack("{s:{}}", "tfidf"));
        if (n->weighting == AR_WEIGHTING_BM25)
            json_array_append_new(ts, json_pack("{s:{s:f,s:f}}", "bm25", "k1", n->k1, "b", n->b));
        if (n->has_damp)
            json_array_append_new(ts, json_pack("{s:{s:f}}", "pop_damp", "beta", n->beta));
        if (json_array_size(ts))
            json_object_set_new(o, "transforms", ts);
        else
            json_decref(ts);
        return o;
    }
    json_t *a = json_array();
    for (int i = 0; i < n->n; i++) {
        json_t *c = node_json(n->m[i]);
        if (n->kind == AR__SPEC_BLEND)
            c = json_pack("{s:f,s:o}", "weight", n->w[i], "spec", c);
        json_array_append_new(a, c);
    }
    if (n->kind == AR__SPEC_BLEND) {
        json_object_set_new(o, "blend", a);
        json_object_set_new(o, "normalize", json_string(norm_names[n->norm]));
        json_object_set_new(o, "depth", json_integer(n->depth));
    } else if (n->kind == AR__SPEC_STACK) {
        json_t *fs = json_array(), *w = json_array();
        for (int k = 0; k < n->n_feat; k++)
            json_array_append_new(fs, json_string(ar__spec_feature_names[n->feat[k]]));
        for (int m = 0; m < n->n; m++) {
            json_t *row = json_array();
            for (int k = 0; k < n->n_feat; k++)
                json_array_append_new(row, json_real(n->v[m][k]));
            json_array_append_new(w, row);
        }
        json_object_set_new(o, "stack", json_pack("{s:o}", "features", fs));
        json_object_set_new(o, "members", a);
        json_object_set_new(o, "weights", w);
        json_object_set_new(o, "normalize", json_string(norm_names[n->norm]));
        json_object_set_new(o, "depth", json_integer(n->depth));
    } else if (n->kind == AR__SPEC_FUSE) {
        json_object_set_new(o, "fuse", json_string("rrf"));
        json_object_set_new(o, "k", json_real(n->rrf_k));
        json_object_set_new(o, "depth", json_integer(n->depth));
        json_object_set_new(o, "members", a);
    } else {
        json_t *th = json_array();
        for (int i = 0; i + 1 < n->n; i++)
            json_array_append_new(th, json_integer(n->thr[i]));
        json_object_set_new(o, "gate",
                            json_pack("{s:s,s:o}", "by", "history_length", "thresholds", th));
        json_object_set_new(o, "members", a);
    }
    return o;
}

char *ar__spec_canonical(const ar__spec *s) {
    json_t *j = node_json(s->root);
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    char *out = t ? ar__strdup(t) : NULL;
    free(t);
    return out;
}

char *ar__spec_model_json(const ar_model *m) {
    json_t *j = json_pack("{s:s,s:o}", "model", ar_model_name(m), "params", params_json(m));
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    char *out = t ? ar__strdup(t) : NULL;
    free(t);
    return out;
}

ar_status ar_spec_validate(const char *json, ar_error *err) {
    ar__spec *s;
    ar_status st = ar__spec_parse(json, &s, err);
    ar__spec_free(s);
    return st;
}

ar_status ar_spec_canonical(const char *json, char **out, ar_error *err) {
    *out = NULL;
    ar__spec *s;
    ar_status st = ar__spec_parse(json, &s, err);
    if (st)
        return st;
    *out = ar__spec_canonical(s);
    ar__spec_free(s);
    return *out ? AR_OK : ar__fail(err, AR_ENOMEM, "spec: out of memory");
}

ar_status ar_spec_hash(const char *json, uint64_t *out, ar_error *err) {
    *out = 0;
    char *c;
    ar_status st = ar_spec_canonical(json, &c, err);
    if (st)
        return st;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)c; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    ar__free(c);
    *out = h;
    return AR_OK;
}

/* -- shape ------------------------------------------------------------------------------------- */

/* Adds each base model's share of n (weight share for blends, equal shares otherwise). */
static void shares(const ar__spec_node *n, double share, const char *const *names, double *acc) {
    if (n->kind == AR__SPEC_LEAF) {
        for (int k = 0; names[k]; k++)
            if (strcmp(names[k], ar_model_name(n->model)) == 0)
                acc[k] += share;
        return;
    }
    /* A member's share: its blend weight, its stack bias weight (the weight of the average
     * user, whose standardised features are 0) when positive, else equal. */
    double w[AR_SPEC_MAX_MEMBERS], sum = 0;
    for (int i = 0; i < n->n; i++) {
        w[i] = n->kind == AR__SPEC_BLEND   ? n->w[i]
               : n->kind == AR__SPEC_STACK ? (n->v[i][0] > 0 ? n->v[i][0] : 0)
                                           : 1;
        sum += w[i];
    }
    for (int i = 0; i < n->n; i++)
        shares(n->m[i], sum > 0 ? share * w[i] / sum : share / n->n, names, acc);
}

static void shape(const ar__spec_node *n, int depth, ar_spec_info *info) {
    if (depth > info->depth)
        info->depth = depth;
    if (n->kind == AR__SPEC_LEAF) {
        info->n_leaves++;
        info->n_transforms += (n->n_events > 0) + (n->half_life > 0) +
                              (n->weighting != AR_WEIGHTING_NONE) + n->has_damp;
        return;
    }
    info->n_combinators++;
    for (int i = 0; i < n->n; i++)
        shape(n->m[i], depth + 1, info);
}

ar_status ar_spec_info_get(const char *json, ar_spec_info *out, ar_error *err) {
    memset(out, 0, sizeof *out);
    ar__spec *s;
    ar_status st = ar__spec_parse(json, &s, err);
    if (st)
        return st;
    shape(s->root, 1, out);
    out->top_members = s->root->kind == AR__SPEC_LEAF ? 1 : s->root->n;
    const char *const *names = ar_model_names();
    double acc[32] = {0};
    shares(s->root, 1.0, names, acc);
    int best = 0;
    for (int k = 1; names[k] && k < 32; k++)
        if (acc[k] > acc[best])
            best = k;
    snprintf(out->dominant, sizeof out->dominant, "%s", names[best]);
    ar__spec_free(s);
    return AR_OK;
}

/* -- the JSON Schema ---------------------------------------------------------------------------
 * Generated once from the zoo's parameter tables, so each model's parameters appear with their
 * types and ranges (which is what lets a constrained decoder write valid parameters). */

static json_t *param_schema(const ar_param_def *d) {
    switch (d->type) {
    case AR_PARAM_CATEGORICAL: {
        json_t *e = json_array();
        char buf[64];
        for (int k = 0;; k++) {
            choice_at(d->choices, k, buf, sizeof buf);
            if (!buf[0])
                break;
            json_array_append_new(e, json_string(buf));
        }
        return json_pack("{s:o,s:s}", "enum", e, "description", d->help ? d->help : "");
    }
    case AR_PARAM_BOOL:
        return json_pack("{s:s,s:s}", "type", "boolean", "description", d->help ? d->help : "");
    case AR_PARAM_INT:
        return json_pack("{s:s,s:I,s:I,s:s}", "type", "integer", "minimum", (json_int_t)d->lo,
                         "maximum", (json_int_t)d->hi, "description", d->help ? d->help : "");
    default:
        return json_pack("{s:s,s:f,s:f,s:s}", "type", "number", "minimum", d->lo, "maximum", d->hi,
                         "description", d->help ? d->help : "");
    }
}

static json_t *num(double lo, double hi, const char *exclusive_lo) {
    json_t *o = json_pack("{s:s,s:f}", "type", "number", "maximum", hi);
    json_object_set_new(o, exclusive_lo ? "exclusiveMinimum" : "minimum", json_real(lo));
    return o;
}

static char *schema_text;
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void build_schema(void) {
    json_t *defs = json_object();
    json_t *leaves = json_array();
    for (const char *const *nm = ar_model_names(); *nm; nm++) {
        ar_model *m;
        if (ar_model_create(*nm, &m))
            continue;
        json_t *props = json_object();
        for (int i = 0; i < ar_model_n_params(m); i++)
            json_object_set_new(props, ar_model_param_def(m, i)->name,
                                param_schema(ar_model_param_def(m, i)));
        char ref[64];
        snprintf(ref, sizeof ref, "leaf_%s", *nm);
        json_object_set_new(defs, ref,
                            json_pack("{s:s,s:s,s:[s],s:{s:{s:s},s:{s:s,s:o,s:b},s:{s:s}},s:b}",
                                      "description", ar_model_citation(m), "type", "object",
                                      "required", "model", "properties", "model", "const", *nm,
                                      "params", "type", "object", "properties", props,
                                      "additionalProperties", 0, "transforms", "$ref",
                                      "#/$defs/transforms", "additionalProperties", 0));
        char r[80];
        snprintf(r, sizeof r, "#/$defs/%s", ref);
        json_array_append_new(leaves, json_pack("{s:s}", "$ref", r));
        ar_model_free(m);
    }
    json_object_set_new(defs, "leaf", json_pack("{s:o}", "anyOf", leaves));
    json_t *events =
        json_pack("{s:s,s:i,s:i,s:o}", "type", "object", "minProperties", 1, "maxProperties",
                  AR__SPEC_MAX_EVENTS, "additionalProperties", num(0, 1e6, NULL));
    json_t *tr = json_pack(
        "{s:[{s:s,s:[s],s:{s:o},s:b},{s:s,s:[s],s:{s:{s:s,s:[s],s:{s:o},s:b}},s:b},"
        "{s:s,s:[s],s:{s:{s:s,s:b}},s:b},"
        "{s:s,s:[s],s:{s:{s:s,s:{s:o,s:o},s:b}},s:b},"
        "{s:s,s:[s],s:{s:{s:s,s:{s:o},s:b}},s:b}]}",
        "anyOf", "type", "object", "required", "events", "properties", "events", events,
        "additionalProperties", 0, "type", "object", "required", "time_decay", "properties",
        "time_decay", "type", "object", "required", "half_life_days", "properties",
        "half_life_days", num(0, 36500, "x"), "additionalProperties", 0, "additionalProperties", 0,
        "type", "object", "required", "tfidf", "properties", "tfidf", "type", "object",
        "additionalProperties", 0, "additionalProperties", 0, "type", "object", "required", "bm25",
        "properties", "bm25", "type", "object", "properties", "k1", num(0, 100, "x"), "b",
        num(0, 1, NULL), "additionalProperties", 0, "additionalProperties", 0, "type", "object",
        "required", "pop_damp", "properties", "pop_damp", "type", "object", "properties", "beta",
        num(0, 2, NULL), "additionalProperties", 0, "additionalProperties", 0);
    json_object_set_new(defs, "transform", tr);
    json_object_set_new(defs, "transforms",
                        json_pack("{s:s,s:i,s:{s:s}}", "type", "array", "maxItems", 5, "items",
                                  "$ref", "#/$defs/transform"));
    json_t *members = json_pack("{s:s,s:i,s:i,s:{s:s}}", "type", "array", "minItems", 1, "maxItems",
                                AR_SPEC_MAX_MEMBERS, "items", "$ref", "#/$defs/spec");
    json_object_set_new(
        defs, "blend",
        json_pack("{s:s,s:[s],s:{s:{s:s,s:i,s:i,s:{s:s,s:[s,s],s:{s:o,s:{s:s}},s:b}},"
                  "s:{s:[s,s,s]},s:{s:s,s:i,s:i}},s:b}",
                  "type", "object", "required", "blend", "properties", "blend", "type", "array",
                  "minItems", 1, "maxItems", AR_SPEC_MAX_MEMBERS, "items", "type", "object",
                  "required", "weight", "spec", "properties", "weight", num(0, 1e6, NULL), "spec",
                  "$ref", "#/$defs/spec", "additionalProperties", 0, "normalize", "enum", "max",
                  "zscore", "rank", "depth", "type", "integer", "minimum", 1, "maximum", 100000,
                  "additionalProperties", 0));
    json_object_set_new(defs, "fuse",
                        json_pack("{s:s,s:[s,s],s:{s:{s:s},s:o,s:{s:s,s:i,s:i},s:O},s:b}", "type",
                                  "object", "required", "fuse", "members", "properties", "fuse",
                                  "const", "rrf", "k", num(0, 10000, "x"), "depth", "type",
                                  "integer", "minimum", 1, "maximum", 100000, "members", members,
                                  "additionalProperties", 0));
    json_t *gmembers = json_deep_copy(members);
    json_object_set_new(gmembers, "minItems", json_integer(2));
    json_object_set_new(
        defs, "gate",
        json_pack("{s:s,s:[s,s],s:{s:{s:s,s:[s,s],s:{s:{s:s},s:{s:s,s:i,s:i,s:{s:s,s:i}}},s:b},"
                  "s:o},s:b}",
                  "type", "object", "required", "gate", "members", "properties", "gate", "type",
                  "object", "required", "by", "thresholds", "properties", "by", "const",
                  "history_length", "thresholds", "type", "array", "minItems", 1, "maxItems",
                  AR_SPEC_MAX_MEMBERS - 1, "items", "type", "integer", "minimum", 1,
                  "additionalProperties", 0, "members", gmembers, "additionalProperties", 0));
    /* Stack: the bias first (the canonical order; the validator takes any order that has it). */
    json_t *feats =
        json_pack("{s:s,s:i,s:i,s:b,s:[{s:s}],s:{s:[s,s]}}", "type", "array", "minItems", 1,
                  "maxItems", AR_SPEC_MAX_FEATURES, "uniqueItems", 1, "prefixItems", "const",
                  "bias", "items", "enum", "log_history_length", "history_popularity");
    json_t *wrow = json_pack(
        "{s:s,s:i,s:i,s:o}", "type", "array", "minItems", 1, "maxItems", AR_SPEC_MAX_FEATURES,
        "items", json_pack("{s:s,s:f,s:f}", "type", "number", "minimum", -1e6, "maximum", 1e6));
    json_object_set_new(
        defs, "stack",
        json_pack("{s:s,s:s,s:[s,s],s:{s:{s:s,s:{s:o},s:b},s:O,s:{s:s,s:i,s:i,s:o,s:s},"
                  "s:{s:[s,s,s]},s:{s:s,s:i,s:i}},s:b}",
                  "description",
                  "Feature-weighted linear stacking (Sill et al. 2009): member m's normalised "
                  "scores weigh sum_f weights[m][f] * feature_f(user history).",
                  "type", "object", "required", "stack", "members", "properties", "stack", "type",
                  "object", "properties", "features", feats, "additionalProperties", 0, "members",
                  members, "weights", "type", "array", "minItems", 1, "maxItems",
                  AR_SPEC_MAX_MEMBERS, "items", wrow, "description",
                  "one row per member, one weight per feature (absent: bias 1, others 0)",
                  "normalize", "enum", "max", "zscore", "rank", "depth", "type", "integer",
                  "minimum", 1, "maximum", 100000, "additionalProperties", 0));
    json_decref(members);
    json_object_set_new(defs, "spec",
                        json_pack("{s:[{s:s},{s:s},{s:s},{s:s},{s:s}]}", "anyOf", "$ref",
                                  "#/$defs/leaf", "$ref", "#/$defs/blend", "$ref", "#/$defs/fuse",
                                  "$ref", "#/$defs/gate", "$ref", "#/$defs/stack"));
    json_t *root = json_pack(
        "{s:s,s:s,s:s,s:s,s:o}", "$schema", "https://json-schema.org/draft/2020-12/schema", "title",
        "agentrec model spec", "description",
        "A recommender architecture: a base learner of the zoo, or a blend, rank fusion, gate or "
        "stack of specs. Also checked beyond this schema: depth <= 4, <= 16 base learners, gate "
        "members = thresholds + 1, a blend has a positive weight, a stack has one weights row "
        "per member and one weight per feature, not all 0, an events transform has a positive "
        "weight, tfidf and bm25 exclude each other. See docs/spec.md.",
        "$ref", "#/$defs/spec", "$defs", defs);
    char *t =
        root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    schema_text = t; /* lives as long as the process, like a static string */
}

const char *ar_spec_schema(void) {
    pthread_once(&schema_once, build_schema);
    return schema_text ? schema_text : "{}";
}
