/*
 * model.c -- the generic half of the model interface: the registry, parameters and their JSON,
 * fitting, top-K with exclusions and category filters, explanations, evaluator rankers and the
 * model file. Families implement src/models/model.h's vtable.
 */
#define _DEFAULT_SOURCE
#include "models/model.h"

#include "data/dataset.h"
#include "models/spec_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const ar__model_impl *const registry[] = {
    &ar__mostpop_impl, &ar__itemknn_impl, &ar__rp3beta_impl, &ar__ease_impl,
    &ar__ials_impl,    &ar__bpr_impl,     &ar__bspm_impl,
};
#define N_MODELS (sizeof registry / sizeof registry[0])

const char *const *ar_model_names(void) {
    static const char *names[N_MODELS + 1];
    for (size_t i = 0; i < N_MODELS; i++)
        names[i] = registry[i]->name;
    names[N_MODELS] = NULL;
    return names;
}

static const ar__model_impl *find_impl(const char *name) {
    for (size_t i = 0; i < N_MODELS; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

ar_status ar_model_create(const char *name, ar_model **out) {
    *out = NULL;
    const ar__model_impl *impl = find_impl(name);
    if (!impl)
        return AR_ENOTFOUND;
    ar_model *m = ar__calloc(1, sizeof *m);
    if (!m)
        return AR_ENOMEM;
    m->impl = impl;
    for (int i = 0; i < impl->n_params; i++)
        m->param[i] = impl->params[i].def;
    *out = m;
    return AR_OK;
}

static void drop_state(ar_model *m) {
    if (m->state && m->impl->free_state)
        m->impl->free_state(m);
    m->state = NULL;
    if (m->map && !m->map_borrowed)
        munmap(m->map, m->map_len);
    m->map = NULL;
    m->fitted = 0;
}

void ar__model_unfit(ar_model *m) {
    drop_state(m);
}

void ar_model_free(ar_model *m) {
    if (!m)
        return;
    drop_state(m);
    if (m->spec && m->impl->free_spec)
        m->impl->free_spec(m);
    ar__free(m);
}

const char *ar_model_name(const ar_model *m) {
    return m->impl->name;
}

const char *ar_model_citation(const ar_model *m) {
    return m->impl->citation;
}

double ar_model_fit_work(const ar_model *m, double users, double items, double interactions) {
    if (m->impl->fit_dataset)
        return NAN;
    return m->impl->fit_work ? m->impl->fit_work(m, users, items, interactions) : interactions;
}

int ar_model_n_params(const ar_model *m) {
    return m->impl->n_params;
}

const ar_param_def *ar_model_param_def(const ar_model *m, int i) {
    return i >= 0 && i < m->impl->n_params ? &m->impl->params[i] : NULL;
}

static int param_index(const ar_model *m, const char *name) {
    for (int i = 0; i < m->impl->n_params; i++)
        if (strcmp(m->impl->params[i].name, name) == 0)
            return i;
    return -1;
}

/* Index of `value` among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *value) {
    size_t len = strlen(value);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0)
            return idx;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* Writes choice number idx into buf. */
static void choice_name(const char *choices, int idx, char *buf, size_t n) {
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p) {
        snprintf(buf, n, "?");
        return;
    }
    const char *bar = strchr(p, '|');
    snprintf(buf, n, "%.*s", (int)(bar ? (size_t)(bar - p) : strlen(p)), p);
}

ar_status ar_model_set(ar_model *m, const char *name, const char *value, ar_error *err) {
    if (m->fitted)
        return ar__fail(err, AR_EINVAL, "%s: parameters cannot change after fitting",
                        m->impl->name);
    int i = param_index(m, name);
    if (i < 0)
        return ar__fail(err, AR_ENOTFOUND, "%s has no parameter '%s' (see its decision space)",
                        m->impl->name, name);
    const ar_param_def *d = &m->impl->params[i];
    double v;
    switch (d->type) {
    case AR_PARAM_CATEGORICAL: {
        int c = choice_index(d->choices, value);
        if (c < 0)
            return ar__fail(err, AR_EINVAL, "%s.%s: expected one of %s, got '%s'", m->impl->name,
                            name, d->choices, value);
        m->param[i] = c;
        return AR_OK;
    }
    case AR_PARAM_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            m->param[i] = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            m->param[i] = 0;
        else
            return ar__fail(err, AR_EINVAL, "%s.%s: expected true or false, got '%s'",
                            m->impl->name, name, value);
        return AR_OK;
    case AR_PARAM_INT: {
        int64_t iv;
        if (!ar__parse_i64(value, INT64_MIN, INT64_MAX, &iv))
            return ar__fail(err, AR_EINVAL, "%s.%s: expected an integer, got '%s'", m->impl->name,
                            name, value);
        v = (double)iv;
        break;
    }
    default:
        if (!ar__parse_double(value, &v))
            return ar__fail(err, AR_EINVAL, "%s.%s: expected a finite number, got '%s'",
                            m->impl->name, name, value);
    }
    if (v < d->lo || v > d->hi)
        return ar__fail(err, AR_ERANGE, "%s.%s: %s is outside [%g, %g]", m->impl->name, name, value,
                        d->lo, d->hi);
    m->param[i] = v;
    return AR_OK;
}

ar_status ar_model_set_json(ar_model *m, const char *text, ar_error *err) {
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return ar__fail(err, AR_EPARSE, "parameters: expected a JSON object (%s)",
                        o ? "got another JSON value" : je.text);
    }
    const char *key;
    json_t *v;
    ar_status st = AR_OK;
    json_object_foreach(o, key, v) {
        char buf[64];
        if (json_is_string(v))
            snprintf(buf, sizeof buf, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
            snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        else if (json_is_boolean(v))
            snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
        else {
            st = ar__fail(err, AR_EINVAL, "parameters.%s: expected a number, string or boolean",
                          key);
            break;
        }
        if ((st = ar_model_set(m, key, buf, err)))
            break;
    }
    json_decref(o);
    return st;
}

double ar_model_get(const ar_model *m, const char *name) {
    int i = param_index(m, name);
    return i < 0 ? NAN : m->param[i];
}

static json_t *param_value_json(const ar_param_def *d, double v) {
    char buf[64];
    switch (d->type) {
    case AR_PARAM_CATEGORICAL:
        choice_name(d->choices, (int)v, buf, sizeof buf);
        return json_string(buf);
    case AR_PARAM_BOOL:
        return json_boolean(v != 0);
    case AR_PARAM_INT:
        return json_integer((json_int_t)v);
    default:
        return json_real(v);
    }
}

static char *dump(json_t *j) {
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (!s)
        return NULL;
    char *out = ar__strdup(s);
    free(s);
    return out;
}

char *ar_model_params_json(const ar_model *m) {
    json_t *o = json_object();
    for (int i = 0; o && i < m->impl->n_params; i++)
        json_object_set_new(o, m->impl->params[i].name,
                            param_value_json(&m->impl->params[i], m->param[i]));
    return dump(o);
}

char *ar_model_space_json(const ar_model *m) {
    static const char *types[] = {"int", "float", "logfloat", "categorical", "bool"};
    json_t *a = json_array();
    for (int i = 0; a && i < m->impl->n_params; i++) {
        const ar_param_def *d = &m->impl->params[i];
        json_t *o =
            json_pack("{s:s,s:s,s:o,s:s}", "name", d->name, "type", types[d->type], "default",
                      param_value_json(d, d->def), "help", d->help ? d->help : "");
        if (d->type == AR_PARAM_INT || d->type == AR_PARAM_FLOAT || d->type == AR_PARAM_LOGFLOAT) {
            json_object_set_new(o, "low",
                                d->type == AR_PARAM_INT ? json_integer((json_int_t)d->lo)
                                                        : json_real(d->lo));
            json_object_set_new(o, "high",
                                d->type == AR_PARAM_INT ? json_integer((json_int_t)d->hi)
                                                        : json_real(d->hi));
        }
        if (d->type == AR_PARAM_CATEGORICAL) {
            json_t *c = json_array();
            char buf[64];
            for (int k = 0;; k++) {
                choice_name(d->choices, k, buf, sizeof buf);
                if (strcmp(buf, "?") == 0)
                    break;
                json_array_append_new(c, json_string(buf));
            }
            json_object_set_new(o, "choices", c);
        }
        if (d->cond) {
            /* "param=a|b" -> {"param": "param", "in": ["a", "b"]} */
            const char *eq = strchr(d->cond, '=');
            json_t *in = json_array();
            char buf[64];
            for (int k = 0; eq; k++) {
                choice_name(eq + 1, k, buf, sizeof buf);
                if (strcmp(buf, "?") == 0)
                    break;
                json_array_append_new(in, json_string(buf));
            }
            json_object_set_new(o, "condition",
                                json_pack("{s:s%,s:o}", "param", d->cond,
                                          eq ? (size_t)(eq - d->cond) : strlen(d->cond), "in", in));
        }
        json_array_append_new(a, o);
    }
    return dump(a);
}

/* -- fitting ----------------------------------------------------------------------------------- */

ar_fit_options ar_fit_options_default(void) {
    ar_fit_options o;
    memset(&o, 0, sizeof o);
    o.train_mask = AR_MASK_TRAIN;
    o.seed = 2026;
    o.bm25_k1 = 1.2;
    o.bm25_b = 0.75;
    return o;
}

const char *ar_fit_options_check(const ar_fit_options *o) {
    if (!o->train_mask || (o->train_mask & ~AR_MASK_ALL))
        return "train_mask must be a non-empty set of splits";
    if (o->n_threads < 0)
        return "thread count must be >= 0";
    if (o->event_weights && o->n_event_weights < 1)
        return "event weights need n_event_weights >= 1";
    for (int e = 0; o->event_weights && e < o->n_event_weights; e++)
        if (!(o->event_weights[e] >= 0) || !isfinite(o->event_weights[e]))
            return "event weights must be finite and >= 0";
    if (!(o->half_life_days >= 0) || !isfinite(o->half_life_days))
        return "half_life_days must be finite and >= 0";
    if (o->weighting != AR_WEIGHTING_NONE && o->weighting != AR_WEIGHTING_TFIDF &&
        o->weighting != AR_WEIGHTING_BM25)
        return "weighting must be none, tfidf or bm25";
    if (o->weighting == AR_WEIGHTING_BM25 &&
        (!(o->bm25_k1 > 0) || !isfinite(o->bm25_k1) || !(o->bm25_b >= 0 && o->bm25_b <= 1)))
        return "bm25 needs k1 > 0 and b in [0, 1]";
    if (o->cache &&
        (!o->cache->dir || !(o->cache->min_seconds >= 0) || !isfinite(o->cache->min_seconds)))
        return "the fit cache needs a directory and min_seconds finite and >= 0";
    return NULL;
}

size_t ar__memory_available(const ar_fit_options *o) {
    if (o && o->memory_limit)
        return o->memory_limit;
    FILE *f = fopen("/proc/meminfo", "r");
    size_t kb = 0;
    if (f) {
        char line[128];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
                break;
        fclose(f);
    }
    return kb ? kb * 1024 : (size_t)4 << 30;
}

uint64_t ar_dataset_fingerprint(const ar_dataset *ds) {
    uint64_t h = ar__hash_bytes("agentrec", 8);
    int32_t n[2] = {ar_dataset_n_users(ds), ar_dataset_n_items(ds)};
    h ^= ar__hash_bytes(n, sizeof n);
    for (int e = 0; e < 2; e++)
        for (int32_t i = 0; i < n[e]; i++) {
            const char *id = ar_dataset_id(ds, (ar_entity)e, i);
            h = (h * 0x100000001b3ull) ^ ar__hash_bytes(id, strlen(id));
        }
    return h;
}

/* Time-decay multipliers, one per row of the log: 0.5^((t_ref - t) / h) with t_ref the latest
 * time among the interactions the matrix takes (rows outside the mask get 0; they are not
 * read). */
static float *decay_weights(const ar_dataset *ds, const ar_fit_options *o) {
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    float *w = ar__alloc_array((size_t)(in.n ? in.n : 1), sizeof *w);
    if (!w)
        return NULL;
    int64_t t_ref = INT64_MIN;
    for (int64_t k = 0; k < in.n; k++)
        if (((o->train_mask >> in.split[k]) & 1u) && in.time[k] > t_ref)
            t_ref = in.time[k];
    double h = o->half_life_days * 86400.0;
    for (int64_t k = 0; k < in.n; k++)
        w[k] = ((o->train_mask >> in.split[k]) & 1u)
                   ? (float)pow(0.5, (double)(t_ref - in.time[k]) / h)
                   : 0.0f;
    return w;
}

/* TF-IDF or BM25 in place over x's values (see ar_weighting). Per item document frequencies
 * and per row sums are computed in a fixed order, so the result does not depend on threads. */
static ar_status reweight(ar_csr *x, const ar_fit_options *o) {
    int64_t *df = ar__calloc((size_t)x->n_cols + 1, sizeof *df);
    if (!df)
        return AR_ENOMEM;
    for (int64_t k = 0; k < x->nnz; k++)
        df[x->indices[k]]++;
    double n = (double)x->n_rows, avg = 0;
    for (int64_t k = 0; k < x->nnz; k++)
        avg += x->values[k];
    avg = x->n_rows ? avg / n : 0;
    for (int32_t u = 0; u < x->n_rows; u++) {
        double len = 0;
        for (int64_t k = x->indptr[u]; k < x->indptr[u + 1]; k++)
            len += x->values[k];
        for (int64_t k = x->indptr[u]; k < x->indptr[u + 1]; k++) {
            double v = x->values[k], d = (double)df[x->indices[k]];
            if (o->weighting == AR_WEIGHTING_TFIDF) {
                v *= log(1 + n / d);
            } else {
                double idf = log(1 + (n - d + 0.5) / (d + 0.5));
                double norm = 1 - o->bm25_b + (avg > 0 ? o->bm25_b * len / avg : 0);
                v = v > 0 ? idf * v * (o->bm25_k1 + 1) / (v + o->bm25_k1 * norm) : 0;
            }
            x->values[k] = (float)v;
        }
    }
    ar__free(df);
    return AR_OK;
}

ar_status ar__training_matrix(const ar_dataset *ds, const ar_fit_options *o, ar_csr **out) {
    *out = NULL;
    float *rw = NULL;
    if (o->half_life_days > 0 && !(rw = decay_weights(ds, o)))
        return AR_ENOMEM;
    ar_status st;
    if (o->event_weights || rw)
        st = ar__dataset_csr_weighted(ds, o->train_mask, o->event_weights, o->n_event_weights, rw,
                                      out);
    else
        st = ar_dataset_csr(ds, o->train_mask, 0, out);
    ar__free(rw);
    if (!st && o->weighting != AR_WEIGHTING_NONE && (st = reweight(*out, o))) {
        ar_csr_free(*out);
        *out = NULL;
    }
    return st;
}

/* -- the fit cache -----------------------------------------------------------------------------
 * One file per fit, "<dir>/<family>-<key>.model", in the model file format; the key hashes
 * everything a zoo model's fit depends on: the dataset's interactions, the options that shape
 * the training matrix, the family and its parameters, and the seed if the family reads it. A loaded
 * file must also say the same family, parameters, dataset fingerprint and sizes, so a hash
 * collision is a miss, not a wrong model. */

static uint64_t mix(uint64_t h, uint64_t x) {
    return (h ^ x) * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
}

static uint64_t cache_key(const ar_model *m, const ar_dataset *ds, const ar_fit_options *o) {
    /* The fingerprint covers the ids only: the interactions and their splits go in too. */
    ar_interactions in;
    ar_dataset_interactions(ds, &in);
    const void *cols[6] = {in.user, in.item, in.time, in.event, in.value, in.split};
    const size_t width[6] = {4, 4, 8, 1, 4, 1};
    uint64_t h = (uint64_t)in.n;
    for (int c = 0; c < 6; c++)
        h = mix(h, cols[c] ? ar__hash_bytes(cols[c], (size_t)in.n * width[c]) : 0);
    struct {
        uint64_t fingerprint, seed;
        double half_life, k1, b;
        uint32_t mask, weighting, version, n_params;
        double param[AR__MAX_PARAMS];
    } k;
    memset(&k, 0, sizeof k);
    k.fingerprint = m->fingerprint;
    k.seed = m->impl->seeded ? o->seed : 0;
    k.half_life = o->half_life_days;
    if (o->weighting != AR_WEIGHTING_NONE) {
        k.weighting = (uint32_t)o->weighting;
        k.k1 = o->bm25_k1;
        k.b = o->bm25_b;
    }
    k.mask = o->train_mask;
    k.version = AR_MODEL_FORMAT_VERSION;
    k.n_params = (uint32_t)m->impl->n_params;
    memcpy(k.param, m->param, (size_t)m->impl->n_params * sizeof k.param[0]);
    h = mix(h, ar__hash_bytes(&k, sizeof k));
    h = mix(h, ar__hash_bytes(m->impl->name, strlen(m->impl->name)));
    if (o->event_weights)
        h = mix(h, ar__hash_bytes(o->event_weights, (size_t)o->n_event_weights * sizeof(float)));
    return h;
}

/* Loads the cached fit into m (whose sizes and fingerprint are set); 1 on a hit. */
static int cache_load(ar_model *m, const char *path) {
    ar_model *c;
    ar_error e;
    if (ar_model_load(path, &c, &e))
        return 0;
    int same = c->impl == m->impl && c->n_users == m->n_users && c->n_items == m->n_items &&
               c->fingerprint == m->fingerprint &&
               memcmp(c->param, m->param, (size_t)m->impl->n_params * sizeof m->param[0]) == 0;
    if (same) { /* the state and the mapping it points into move to m */
        m->state = c->state;
        m->map = c->map;
        m->map_len = c->map_len;
        c->state = NULL;
        c->map = NULL;
        utimensat(AT_FDCWD, path, NULL, 0); /* recently used */
    }
    ar_model_free(c);
    return same;
}

typedef struct cache_file {
    char *path;
    uint64_t size;
    double mtime;
} cache_file;

static int by_mtime(const void *a, const void *b) {
    const cache_file *x = a, *y = b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* Removes the least recently used files (stale temporary files included) until the directory
 * holds at most max bytes. */
static void cache_trim(const char *dir, uint64_t max) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    cache_file *f = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".model"))
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *path = ar__malloc(len);
        struct stat st;
        if (!path || ar__grow((void **)&f, &cap, n + 1, sizeof *f)) {
            ar__free(path);
            break;
        }
        snprintf(path, len, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            ar__free(path);
            continue;
        }
        f[n++] = (cache_file){path, (uint64_t)st.st_size,
                              (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec};
        total += (uint64_t)st.st_size;
    }
    closedir(d);
    qsort(f, n, sizeof *f, by_mtime);
    for (size_t i = 0; i < n; i++) {
        if (total > max && unlink(f[i].path) == 0)
            total -= f[i].size;
        ar__free(f[i].path);
    }
    ar__free(f);
}

static ar_status fit_matrix(ar_model *m, const ar_dataset *ds, const ar_fit_options *o,
                            ar_error *err);

/* Fits a zoo model through the cache: load, or fit and save. */
static ar_status fit_cached(ar_model *m, const ar_dataset *ds, const ar_fit_options *o,
                            ar_error *err) {
    ar_fit_cache *c = o->cache;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s-%016llx.model", c->dir, m->impl->name,
                     (unsigned long long)cache_key(m, ds, o));
    if (n < 0 || n >= (int)sizeof path)
        return fit_matrix(m, ds, o, err);
    if (cache_load(m, path)) {
        c->hits++;
        if (c->loaded)
            c->loaded(c->data, path);
        return AR_OK;
    }
    double t0 = ar__now();
    ar_status st = fit_matrix(m, ds, o, err);
    double seconds = ar__now() - t0;
    if (st || seconds < c->min_seconds)
        return st;
    m->fitted = 1;
    ar_error e;
    mkdir(c->dir, 0755);
    if (ar_model_save(m, path, &e) == AR_OK) {
        if (c->stored)
            c->stored(c->data, path, seconds);
        if (c->max_bytes)
            cache_trim(c->dir, c->max_bytes);
    }
    return AR_OK;
}

ar_status ar_model_fit(ar_model *m, const ar_dataset *ds, const ar_fit_options *o, ar_error *err) {
    const char *bad = ar_fit_options_check(o);
    if (bad)
        return ar__fail(err, AR_EINVAL, "fit: %s", bad);
    if (o->half_life_days > 0 && !(ar_dataset_flags(ds) & AR_DS_HAS_TIME))
        return ar__fail(err, AR_EINVAL,
                        "%s: time decay needs real timestamps; this dataset has sequence "
                        "positions only",
                        m->impl->name);
    drop_state(m);
    m->n_users = ar_dataset_n_users(ds);
    m->n_items = ar_dataset_n_items(ds);
    m->fingerprint = ar_dataset_fingerprint(ds);
    ar_status st = m->impl->fit_dataset ? m->impl->fit_dataset(m, ds, o, err) /* composites */
                   : o->cache           ? fit_cached(m, ds, o, err)
                                        : fit_matrix(m, ds, o, err);
    if (st) {
        drop_state(m);
        return st;
    }
    m->fitted = 1;
    return AR_OK;
}

/* The fit itself, from the training matrix. */
static ar_status fit_matrix(ar_model *m, const ar_dataset *ds, const ar_fit_options *o,
                            ar_error *err) {
    ar_csr *x = NULL, *xt = NULL;
    ar_status st = ar__training_matrix(ds, o, &x);
    if (!st)
        st = ar_csr_transpose(x, &xt);
    if (st) {
        ar_csr_free(x);
        return ar__fail(err, st, "%s: out of memory building the training matrix", m->impl->name);
    }
    st = m->impl->fit(m, ds, x, xt, o, err);
    ar_csr_free(x);
    ar_csr_free(xt);
    return st;
}

int ar_model_is_fitted(const ar_model *m) {
    return m->fitted;
}

int32_t ar_model_n_items(const ar_model *m) {
    return m->n_items;
}

int32_t ar_model_n_users(const ar_model *m) {
    return m->n_users;
}

ar_status ar_model_check_dataset(const ar_model *m, const ar_dataset *ds, ar_error *err) {
    if (!m->fitted)
        return ar__fail(err, AR_EINVAL, "%s: the model is not fitted", m->impl->name);
    if (m->fingerprint != ar_dataset_fingerprint(ds))
        return ar__fail(err, AR_EINVAL,
                        "%s: the model was fitted on other users or items (%d users, %d items; "
                        "this dataset has %d and %d)",
                        m->impl->name, m->n_users, m->n_items, ar_dataset_n_users(ds),
                        ar_dataset_n_items(ds));
    return AR_OK;
}

/* -- scoring -------------------------------------------------------------------------------- */

static ar_status check_history(const ar_model *m, int32_t user, const int32_t *items, int32_t n) {
    if (!m->fitted)
        return AR_EINVAL;
    if (user >= m->n_users || user < -1 || n < 0)
        return AR_ERANGE;
    for (int32_t j = 0; j < n; j++)
        if (items[j] < 0 || items[j] >= m->n_items || (j && items[j] <= items[j - 1]))
            return AR_EINVAL;
    return AR_OK;
}

static size_t ws_size(const ar_model *m) {
    return m->impl->ws_floats ? m->impl->ws_floats(m) : 0;
}

ar_status ar_model_score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                         int32_t n, float *scores) {
    ar_status st = check_history(m, user, items, n);
    if (st)
        return st;
    size_t ws_n = ws_size(m);
    float *ws = ws_n ? ar__alloc_array(ws_n, sizeof *ws) : NULL;
    if (ws_n && !ws)
        return AR_ENOMEM;
    m->impl->score(m, user, items, values, n, scores, ws);
    ar__free(ws);
    return AR_OK;
}

ar_status ar_model_score_batch(const ar_model *m, const ar_csr *hist, const int32_t *users,
                               int32_t n, float *scores) {
    if (!m->fitted)
        return AR_EINVAL;
    if (hist->n_cols != m->n_items)
        return AR_EINVAL;
    for (int32_t r = 0; r < n; r++)
        if (users[r] < 0 || users[r] >= hist->n_rows || users[r] >= m->n_users)
            return AR_ERANGE;
    if (m->impl->score_batch)
        return m->impl->score_batch(m, hist, users, n, scores);
    size_t ws_n = ws_size(m);
    float *ws = ws_n ? ar__alloc_array(ws_n, sizeof *ws) : NULL;
    if (ws_n && !ws)
        return AR_ENOMEM;
    for (int32_t r = 0; r < n; r++) {
        int64_t b = hist->indptr[users[r]], e = hist->indptr[users[r] + 1];
        m->impl->score(m, users[r], hist->indices + b, hist->values + b, (int32_t)(e - b),
                       scores + (size_t)r * (size_t)m->n_items, ws);
    }
    ar__free(ws);
    return AR_OK;
}

/* Marks items the filter rules out with -INFINITY. */
static void apply_filter(const ar_model *m, const int32_t *items, int32_t n, const ar_rec_filter *f,
                         float *scores) {
    if (!f)
        return;
    if (f->exclude_history)
        for (int32_t j = 0; j < n; j++)
            scores[items[j]] = -INFINITY;
    for (int32_t j = 0; j < f->n_exclude; j++)
        if (f->exclude[j] >= 0 && f->exclude[j] < m->n_items)
            scores[f->exclude[j]] = -INFINITY;
    if (f->ds) {
        for (int32_t i = 0; i < m->n_items; i++) {
            int32_t nc;
            const int32_t *codes = ar_dataset_attr_codes(f->ds, AR_ITEMS, f->attr, i, &nc);
            int hit = 0;
            for (int32_t c = 0; c < nc && !hit; c++)
                hit = codes[c] == f->code;
            if (!hit)
                scores[i] = -INFINITY;
        }
    }
}

ar_status ar_model_recommend(const ar_model *m, int32_t user, const int32_t *items,
                             const float *values, int32_t n, int32_t k, const ar_rec_filter *filter,
                             int32_t *out_items, float *out_scores, int32_t *n_out) {
    *n_out = 0;
    ar_status st = check_history(m, user, items, n);
    if (st)
        return st;
    if (k < 0)
        return AR_EINVAL;
    if (filter && filter->ds && ar_dataset_n_items(filter->ds) != m->n_items)
        return AR_EINVAL;
    size_t ws_n = ws_size(m);
    float *buf = ar__alloc_array((size_t)m->n_items + ws_n, sizeof *buf);
    int32_t *top = ar__alloc_array((size_t)(k ? k : 1), sizeof *top);
    if (!buf || !top) {
        ar__free(buf);
        ar__free(top);
        return AR_ENOMEM;
    }
    m->impl->score(m, user, items, values, n, buf, buf + m->n_items);
    apply_filter(m, items, n, filter, buf);
    int32_t got = ar_topk(buf, m->n_items, NULL, 0, k, top);
    int32_t w = 0;
    for (int32_t j = 0; j < got; j++) {
        if (buf[top[j]] == -INFINITY) /* ruled out by the filter */
            break;
        out_items[w] = top[j];
        if (out_scores)
            out_scores[w] = buf[top[j]];
        w++;
    }
    *n_out = w;
    ar__free(buf);
    ar__free(top);
    return AR_OK;
}

ar_status ar_model_explain(const ar_model *m, int32_t user, const int32_t *items,
                           const float *values, int32_t n, int32_t item, int32_t max,
                           int32_t *out_items, float *out_weights, int32_t *n_out) {
    *n_out = 0;
    ar_status st = check_history(m, user, items, n);
    if (st)
        return st;
    if (item < 0 || item >= m->n_items || max < 0)
        return AR_ERANGE;
    if (!m->impl->explain || n == 0 || max == 0)
        return AR_OK;
    size_t ws_n = ws_size(m);
    float *w = ar__alloc_array((size_t)n + ws_n, sizeof *w);
    int32_t *top = ar__alloc_array((size_t)max, sizeof *top);
    if (!w || !top) {
        ar__free(w);
        ar__free(top);
        return AR_ENOMEM;
    }
    m->impl->explain(m, user, items, values, n, item, w, w + n);
    int32_t got = ar_topk(w, n, NULL, 0, max, top);
    for (int32_t j = 0; j < got; j++) {
        out_items[j] = items[top[j]];
        out_weights[j] = w[top[j]];
    }
    *n_out = got;
    ar__free(w);
    ar__free(top);
    return AR_OK;
}

/* -- rankers for the evaluator --------------------------------------------------------------- */

/* Scratch per OpenMP thread, allocated the first time a thread uses the ranker -- once per
 * thread, never per user -- because the evaluator may run more threads than the ranker's
 * creator could know: one user's scores plus the model's workspace, and, for models with batch
 * scoring, the scores of the block of users the thread was told about (ar_ranker.block). */
#define MAX_SLOTS 256
#define MAX_BLOCK 64
#define MAX_BLOCK_BYTES ((size_t)64 << 20) /* per thread; larger catalogues score one by one */

typedef struct slot {
    float *one;         /* n_items scores + workspace */
    float *block;       /* MAX_BLOCK x n_items, or NULL */
    int32_t first, end; /* users whose scores are in block */
} slot;

typedef struct model_ranker {
    const ar_model *m;
    const ar_csr *hist;
    size_t one; /* floats of slot.one */
    slot slots[MAX_SLOTS];
} model_ranker;

static slot *slot_of(model_ranker *r) {
#ifdef _OPENMP
    int t = omp_get_thread_num();
#else
    int t = 0;
#endif
    if (t >= MAX_SLOTS)
        return NULL;
    slot *sl = &r->slots[t]; /* only thread t touches slot t */
    if (!sl->one && !(sl->one = ar__alloc_array(r->one, sizeof *sl->one)))
        return NULL;
    return sl;
}

static ar_status ranker_block(void *ctx, int32_t first, int32_t end) {
    model_ranker *r = ctx;
    const ar_model *m = r->m;
    slot *sl = slot_of(r);
    if (!sl)
        return AR_ENOMEM;
    sl->first = sl->end = 0;
    if (end - first > MAX_BLOCK || end > m->n_users || first < 0 ||
        (size_t)MAX_BLOCK * (size_t)m->n_items * sizeof(float) > MAX_BLOCK_BYTES)
        return AR_OK; /* scored one by one */
    if (!sl->block &&
        !(sl->block = ar__alloc_array((size_t)MAX_BLOCK * (size_t)m->n_items, sizeof(float))))
        return AR_ENOMEM;
    int32_t users[MAX_BLOCK];
    for (int32_t u = first; u < end; u++)
        users[u - first] = u;
    ar_status st = m->impl->score_batch(m, r->hist, users, end - first, sl->block);
    if (!st) {
        sl->first = first;
        sl->end = end;
    }
    return st;
}

static ar_status ranker_scores(model_ranker *r, int32_t user, float **out) {
    const ar_model *m = r->m;
    if (user < 0 || user >= r->hist->n_rows)
        return AR_ERANGE;
    slot *sl = slot_of(r);
    if (!sl)
        return AR_ENOMEM;
    if (user >= sl->first && user < sl->end) {
        *out = sl->block + (size_t)(user - sl->first) * (size_t)m->n_items;
        return AR_OK;
    }
    float *s = sl->one;
    int64_t b = r->hist->indptr[user], e = r->hist->indptr[user + 1];
    m->impl->score(m, user < m->n_users ? user : -1, r->hist->indices + b, r->hist->values + b,
                   (int32_t)(e - b), s, s + m->n_items);
    *out = s;
    return AR_OK;
}

static ar_status ranker_topk(void *ctx, int32_t user, const int32_t *exclude, int32_t n_exclude,
                             int32_t k, int32_t *items, int32_t *n_out) {
    float *s;
    ar_status st = ranker_scores(ctx, user, &s);
    if (st)
        return st;
    *n_out = ar_topk(s, ((model_ranker *)ctx)->m->n_items, exclude, n_exclude, k, items);
    return AR_OK;
}

static ar_status ranker_score(void *ctx, int32_t user, const int32_t *items, int32_t n,
                              float *scores) {
    float *s;
    ar_status st = ranker_scores(ctx, user, &s);
    if (st)
        return st;
    for (int32_t j = 0; j < n; j++)
        scores[j] = s[items[j]];
    return AR_OK;
}

ar_status ar_model_ranker(const ar_model *m, const ar_csr *hist, ar_ranker *out) {
    memset(out, 0, sizeof *out);
    if (!m->fitted || hist->n_cols != m->n_items)
        return AR_EINVAL;
    model_ranker *r = ar__calloc(1, sizeof *r);
    if (!r)
        return AR_ENOMEM;
    r->m = m;
    r->hist = hist;
    r->one = (size_t)m->n_items + ws_size(m);
    out->ctx = r;
    out->topk = ranker_topk;
    out->score = ranker_score;
    out->block = m->impl->score_batch ? ranker_block : NULL;
    return AR_OK;
}

void ar_model_ranker_free(ar_ranker *rk) {
    model_ranker *r = rk ? rk->ctx : NULL;
    if (!r)
        return;
    for (int t = 0; t < MAX_SLOTS; t++) {
        ar__free(r->slots[t].one);
        ar__free(r->slots[t].block);
    }
    ar__free(r);
    rk->ctx = NULL;
}

/* -- persistence ------------------------------------------------------------------------------ */

const char ar__model_magic[8] = {'A', 'G', 'R', 'E', 'C', 'M', 'D', '1'};
enum { TAG_NAME = AR__MODEL_TAG_NAME, TAG_PARAMS = AR__MODEL_TAG_PARAMS };

ar_status ar_model_save(const ar_model *m, const char *path, ar_error *err) {
    if (!m->fitted)
        return ar__fail(err, AR_EINVAL, "%s: only a fitted model can be saved", path);
    ar__secw w = {0};
    ar__secw_add(&w, TAG_NAME, 1, strlen(m->impl->name) + 1, 0, m->impl->name);
    ar__secw_add(&w, TAG_PARAMS, 8, (uint64_t)m->impl->n_params, 0, m->param);
    m->impl->save(m, &w);
    unsigned char extra[AR__SECFILE_EXTRA] = {0};
    memcpy(extra, &m->n_users, 4);
    memcpy(extra + 4, &m->n_items, 4);
    memcpy(extra + 8, &m->fingerprint, 8);
    return ar__secw_write(&w, path, ar__model_magic, AR_MODEL_FORMAT_VERSION, extra, err);
}

ar_status ar__model_array(const ar__secfile *f, uint32_t tag, uint32_t elem_size, uint64_t count,
                          const void **out) {
    return ar__secfile_need(f, tag, elem_size, count, out, "model state has the wrong size");
}

/* Whether v is a value parameter d can take: in range, whole for integers, a choice's index. */
static int param_valid(const ar_param_def *d, double v) {
    if (!isfinite(v))
        return 0;
    switch (d->type) {
    case AR_PARAM_CATEGORICAL: {
        int n = 1;
        for (const char *c = d->choices; *c; c++)
            n += *c == '|';
        return v == floor(v) && v >= 0 && v < n;
    }
    case AR_PARAM_BOOL:
        return v == 0 || v == 1;
    case AR_PARAM_INT:
        return v == floor(v) && v >= d->lo && v <= d->hi;
    default:
        return v >= d->lo && v <= d->hi;
    }
}

void ar__model_csr_save(ar__secw *w, uint32_t tag, const ar_csr *x) {
    ar__secw_add(w, tag, 8, (uint64_t)x->n_rows + 1, 0, x->indptr);
    ar__secw_add(w, tag + 1, 4, (uint64_t)x->nnz, 0, x->indices);
    ar__secw_add(w, tag + 2, 4, (uint64_t)x->nnz, 0, x->values);
}

ar_status ar__model_csr(const ar__secfile *f, uint32_t tag, int32_t n_rows, int32_t n_cols,
                        ar_csr *out) {
    out->n_rows = n_rows;
    out->n_cols = n_cols;
    const void *p;
    ar_status st = ar__model_array(f, tag, 8, (uint64_t)n_rows + 1, &p);
    if (st)
        return st;
    out->indptr = (int64_t *)p;
    if (out->indptr[0] != 0)
        return ar__secfile_corrupt(f, "sparse matrix row offsets do not start at 0");
    for (int32_t r = 0; r < n_rows; r++)
        if (out->indptr[r + 1] < out->indptr[r] || out->indptr[r + 1] - out->indptr[r] > n_cols)
            return ar__secfile_corrupt(f, "sparse matrix row offsets are not increasing");
    out->nnz = out->indptr[n_rows];
    if ((st = ar__model_array(f, tag + 1, 4, (uint64_t)out->nnz, &p)))
        return st;
    out->indices = (int32_t *)p;
    if ((st = ar__model_array(f, tag + 2, 4, (uint64_t)out->nnz, &p)))
        return st;
    out->values = (float *)p;
    for (int32_t r = 0; r < n_rows; r++)
        for (int64_t i = out->indptr[r]; i < out->indptr[r + 1]; i++) {
            int32_t c = out->indices[i];
            if (c < 0 || c >= n_cols || (i > out->indptr[r] && c <= out->indices[i - 1]))
                return ar__secfile_corrupt(f, "sparse matrix column out of range or out of order");
            if (!isfinite(out->values[i]))
                return ar__secfile_corrupt(f, "non-finite value in a sparse matrix");
        }
    return AR_OK;
}

ar_status ar_model_load(const char *path, ar_model **out, ar_error *err) {
    *out = NULL;
    ar__secfile f;
    ar_status st =
        ar__secfile_open(&f, path, ar__model_magic, AR_MODEL_FORMAT_VERSION, 1, "model", err);
    if (st)
        return st;
    const ar__sec *name = ar__secfile_find(&f, TAG_NAME);
    const char *nm = name ? name->data : NULL;
    ar_model *m = NULL;
    if (!name || name->count < 2 || name->count > 64 || nm[name->count - 1] != 0 ||
        strlen(nm) != name->count - 1) {
        st = ar__secfile_corrupt(&f, "no model name");
        goto fail;
    }
    if (strcmp(nm, ar__spec_impl.name) == 0 ? ar__spec_model_shell(&m) : ar_model_create(nm, &m)) {
        st = ar__fail(err, AR_ECORRUPT,
                      "%s: unknown model '%s' (this build has: see 'agentrec "
                      "train --help')",
                      path, nm);
        goto fail;
    }
    /* A family only ever appends parameters, each with a default that keeps its old behaviour,
     * so a file written before the family gained some has a shorter table: the rest keep the
     * defaults ar_model_create set. A longer table comes from a newer build. */
    const ar__sec *ps = ar__secfile_find(&f, TAG_PARAMS);
    if (!ps || ps->elem_size != 8 || ps->count > (uint64_t)m->impl->n_params) {
        st = ar__secfile_corrupt(&f, ps && ps->elem_size == 8
                                         ? "more parameters than this build's model has "
                                           "(written by a newer agentrec?)"
                                         : "parameters");
        goto fail;
    }
    memcpy(m->param, ps->data, (size_t)ps->count * sizeof(double));
    for (int i = 0; i < m->impl->n_params; i++) {
        if (!param_valid(&m->impl->params[i], m->param[i])) {
            st = ar__secfile_corrupt(&f, "parameter out of range");
            goto fail;
        }
    }
    memcpy(&m->n_users, f.extra, 4);
    memcpy(&m->n_items, f.extra + 4, 4);
    memcpy(&m->fingerprint, f.extra + 8, 8);
    if (m->n_users < 0 || m->n_items < 1) {
        st = ar__secfile_corrupt(&f, "bad user or item count");
        goto fail;
    }
    /* From here the mapping belongs to the model, so free_state knows arrays may point in it. */
    m->map = (void *)f.base;
    m->map_len = f.size;
    f.base = NULL;
    st = m->impl->load(m, &f);
    ar__secfile_close(&f); /* the table only: the mapping is the model's */
    if (st) {
        ar_model_free(m);
        return st;
    }
    m->fitted = 1;
    *out = m;
    return AR_OK;
fail:
    ar_model_free(m);
    ar__secfile_close(&f);
    return st;
}
