/*
 * composite.c -- a model spec as a model: the family behind ar_model_create_spec() whose
 * ar_model_name() is "spec", and the coordinate ascent that learns a root blend's weights.
 *
 * Semantics (docs/spec.md). For one user with history H (the items given to score):
 *
 *   base learner   s = the zoo model's scores, times damp_i = max(pop_i, 1)^-beta with
 *                  pop_i the training users of item i when the learner has pop_damp;
 *   blend          s = sum_m w_m norm(s_m), members of weight 0 skipped, where norm is per
 *                  user over the candidate items C = all items not in H:
 *                    max     s / max_{i in C} |s_i|            (unchanged when that is 0)
 *                    zscore  (s - mean_C s) / sd_C s           (0 when sd is 0)
 *                    rank    1 - r / depth for the depth best candidates (r = 0, 1, ...;
 *                            ties to the lower index), 0 elsewhere;
 *   fuse (rrf)     s_i = sum_m 1 / (k + r_m(i) + 1) over the members whose depth best
 *                  candidates contain i (Cormack, Clarke & Buettcher, SIGIR 2009);
 *   gate           s = the scores of member b, b = the number of thresholds <= |H|.
 *
 * The history's own items keep whatever the formulas give them; rankers exclude them anyway.
 * Members are visited in order and every sum runs in a fixed order, so scores are the same
 * whatever the threads. Batch scoring (the path rankers use) scores each member's block of
 * users with the member's own batch scoring (one GEMM for iALS), then normalises row by row.
 *
 * The model file is one secfile: the canonical spec (tag 100), each base learner j's damping
 * factors (tag 200 + j) and its fitted sections re-tagged 1000 (j + 1) + tag. Loading parses
 * the spec again and points every member's arrays into the one mapping.
 */
#define _POSIX_C_SOURCE 200809L
#include "models/spec_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { TAG_SPEC = 100, TAG_DAMP = 200, TAG_MEMBER = 1000 };

static int32_t depth_of(const ar__spec_node *n, int32_t n_items) {
    return n->depth < n_items ? n->depth : n_items;
}

static size_t leaf_ws(const ar_model *m) {
    return m->impl->ws_floats ? m->impl->ws_floats(m) : 0;
}

/* Scratch floats node_score needs below n (ranks are stored as int32 in float slots). */
static size_t node_ws(const ar__spec_node *n, int32_t n_items) {
    if (n->kind == AR__SPEC_LEAF)
        return leaf_ws(n->model);
    size_t child = 0;
    for (int i = 0; i < n->n; i++) {
        size_t c = node_ws(n->m[i], n_items);
        child = c > child ? c : child;
    }
    if (n->kind == AR__SPEC_GATE)
        return child;
    size_t ranks =
        n->kind == AR__SPEC_FUSE || n->norm == AR__NORM_RANK ? (size_t)depth_of(n, n_items) : 0;
    return (size_t)n_items + ranks + child;
}

static int bucket(const ar__spec_node *n, int64_t len) {
    int b = 0;
    while (b + 1 < n->n && len >= n->thr[b])
        b++;
    return b;
}

/* Normalises one user's scores s[n_items] over the candidates (items not in the sorted
 * history h[nh]); idx: depth int32 slots for rank normalisation. */
static void normalize(const ar__spec_node *n, float *s, int32_t n_items, const int32_t *h,
                      int64_t nh, int32_t *idx) {
    if (n->norm == AR__NORM_RANK) {
        int32_t d = depth_of(n, n_items);
        int32_t got = ar_topk(s, n_items, h, (int32_t)nh, d, idx);
        memset(s, 0, (size_t)n_items * sizeof *s);
        for (int32_t r = 0; r < got; r++)
            s[idx[r]] = (float)(1.0 - (double)r / d);
        return;
    }
    int64_t p = 0, c = 0;
    if (n->norm == AR__NORM_MAX) {
        float mx = 0;
        for (int32_t i = 0; i < n_items; i++) {
            if (p < nh && h[p] == i) {
                p++;
                continue;
            }
            float a = fabsf(s[i]);
            mx = a > mx ? a : mx;
        }
        if (mx > 0)
            for (int32_t i = 0; i < n_items; i++)
                s[i] /= mx;
        return;
    }
    double sum = 0, sq = 0;
    for (int32_t i = 0; i < n_items; i++) {
        if (p < nh && h[p] == i) {
            p++;
            continue;
        }
        sum += s[i];
        c++;
    }
    double mean = c ? sum / (double)c : 0;
    p = 0;
    for (int32_t i = 0; i < n_items; i++) {
        if (p < nh && h[p] == i) {
            p++;
            continue;
        }
        sq += (s[i] - mean) * (s[i] - mean);
    }
    double sd = c ? sqrt(sq / (double)c) : 0;
    for (int32_t i = 0; i < n_items; i++)
        s[i] = sd > 0 ? (float)((s[i] - mean) / sd) : 0.0f;
}

/* Adds member scores t into out: weighted (blend) or as reciprocal ranks (fuse). */
static void fold(const ar__spec_node *n, int i, float *out, float *t, int32_t n_items,
                 const int32_t *h, int64_t nh, int32_t *idx) {
    if (n->kind == AR__SPEC_FUSE) {
        int32_t got = ar_topk(t, n_items, h, (int32_t)nh, depth_of(n, n_items), idx);
        for (int32_t r = 0; r < got; r++)
            out[idx[r]] += (float)(1.0 / (n->rrf_k + (double)r + 1.0));
        return;
    }
    normalize(n, t, n_items, h, nh, idx);
    float w = (float)n->w[i];
    for (int32_t k = 0; k < n_items; k++)
        out[k] += w * t[k];
}

static void node_score(const ar__spec_node *n, int32_t n_items, int32_t user, const int32_t *items,
                       const float *values, int32_t cnt, float *out, float *ws) {
    if (n->kind == AR__SPEC_LEAF) {
        n->model->impl->score(n->model, user, items, values, cnt, out, ws);
        if (n->damp)
            for (int32_t i = 0; i < n_items; i++)
                out[i] *= n->damp[i];
        return;
    }
    if (n->kind == AR__SPEC_GATE) {
        node_score(n->m[bucket(n, cnt)], n_items, user, items, values, cnt, out, ws);
        return;
    }
    int32_t d = n->kind == AR__SPEC_FUSE || n->norm == AR__NORM_RANK ? depth_of(n, n_items) : 0;
    float *t = ws;
    int32_t *idx = (int32_t *)(ws + n_items);
    float *rest = ws + n_items + d;
    memset(out, 0, (size_t)n_items * sizeof *out);
    for (int i = 0; i < n->n; i++) {
        if (n->kind == AR__SPEC_BLEND && n->w[i] == 0)
            continue;
        node_score(n->m[i], n_items, user, items, values, cnt, t, rest);
        fold(n, i, out, t, n_items, items, cnt, idx);
    }
}

/* Scores users[0..nu) into out (nu x n_items) from their rows of hist. */
static ar_status node_batch(const ar__spec_node *n, int32_t n_items, const ar_csr *hist,
                            const int32_t *users, int32_t nu, float *out) {
    size_t row = (size_t)n_items;
    if (n->kind == AR__SPEC_LEAF) {
        ar_status st = ar_model_score_batch(n->model, hist, users, nu, out);
        if (!st && n->damp)
            for (int32_t r = 0; r < nu; r++)
                for (int32_t i = 0; i < n_items; i++)
                    out[(size_t)r * row + (size_t)i] *= n->damp[i];
        return st;
    }
    ar_status st = AR_OK;
    if (n->kind == AR__SPEC_GATE) {
        int32_t *sub = ar__alloc_array((size_t)nu, sizeof *sub);
        int32_t *pos = ar__alloc_array((size_t)nu, sizeof *pos);
        float *t = ar__alloc_array((size_t)nu * row, sizeof *t);
        if (!sub || !pos || !t)
            st = AR_ENOMEM;
        for (int b = 0; !st && b < n->n; b++) {
            int32_t k = 0;
            for (int32_t r = 0; r < nu; r++)
                if (bucket(n, hist->indptr[users[r] + 1] - hist->indptr[users[r]]) == b) {
                    sub[k] = users[r];
                    pos[k++] = r;
                }
            if (k && !(st = node_batch(n->m[b], n_items, hist, sub, k, t)))
                for (int32_t r = 0; r < k; r++)
                    memcpy(out + (size_t)pos[r] * row, t + (size_t)r * row, row * sizeof *t);
        }
        ar__free(sub);
        ar__free(pos);
        ar__free(t);
        return st;
    }
    float *t = ar__alloc_array((size_t)nu * row, sizeof *t);
    int32_t *idx = ar__alloc_array((size_t)depth_of(n, n_items) + 1, sizeof *idx);
    if (!t || !idx)
        st = AR_ENOMEM;
    if (!st)
        memset(out, 0, (size_t)nu * row * sizeof *out);
    for (int i = 0; !st && i < n->n; i++) {
        if (n->kind == AR__SPEC_BLEND && n->w[i] == 0)
            continue;
        if ((st = node_batch(n->m[i], n_items, hist, users, nu, t)))
            break;
        for (int32_t r = 0; r < nu; r++) {
            int64_t b = hist->indptr[users[r]], e = hist->indptr[users[r] + 1];
            fold(n, i, out + (size_t)r * row, t + (size_t)r * row, n_items, hist->indices + b,
                 e - b, idx);
        }
    }
    ar__free(t);
    ar__free(idx);
    return st;
}

/* -- the family's vtable ----------------------------------------------------------------------- */

static ar__spec *spec_of(const ar_model *m) {
    return m->spec;
}

static size_t ws_floats(const ar_model *m) {
    return node_ws(spec_of(m)->root, m->n_items);
}

static void score(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                  int32_t n, float *scores, float *ws) {
    node_score(spec_of(m)->root, m->n_items, user, items, values, n, scores, ws);
}

static ar_status score_batch(const ar_model *m, const ar_csr *hist, const int32_t *users, int32_t n,
                             float *scores) {
    return node_batch(spec_of(m)->root, m->n_items, hist, users, n, scores);
}

/* The base learner that answers explanations for a user with cnt history items. */
static const ar__spec_node *explainer(const ar__spec_node *n, int32_t cnt) {
    while (n->kind != AR__SPEC_LEAF) {
        int pick = 0;
        if (n->kind == AR__SPEC_GATE)
            pick = bucket(n, cnt);
        else if (n->kind == AR__SPEC_BLEND)
            for (int i = 1; i < n->n; i++)
                if (n->w[i] > n->w[pick])
                    pick = i;
        n = n->m[pick];
    }
    return n;
}

static void explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws) {
    const ar__spec_node *leaf = explainer(spec_of(m)->root, n);
    if (!leaf->model->impl->explain) {
        memset(weights, 0, (size_t)n * sizeof *weights);
        return;
    }
    leaf->model->impl->explain(leaf->model, user, items, values, n, item, weights, ws);
    if (leaf->damp)
        for (int32_t j = 0; j < n; j++)
            weights[j] *= leaf->damp[item];
}

static ar_status fit_dataset(ar_model *m, const ar_dataset *ds, const ar_fit_options *o,
                             ar_error *err) {
    ar__spec *s = spec_of(m);
    m->state = s; /* from here a failure drops what was fitted (free_state) */
    int32_t *pop = NULL;
    ar_status st = AR_OK;
    for (int j = 0; !st && j < s->n_leaves; j++) {
        ar__spec_node *leaf = s->leaves[j];
        ar_fit_options lo = *o;
        float *ew = NULL;
        if (leaf->n_events) {
            int ne = ar_dataset_n_events(ds), matched = 0;
            if (!(ew = ar__calloc((size_t)ne, sizeof *ew))) {
                st = ar__fail(err, AR_ENOMEM, "spec: out of memory");
                break;
            }
            for (int k = 0; k < leaf->n_events; k++)
                for (int e = 0; e < ne; e++)
                    if (strcmp(ar_dataset_event_name(ds, e), leaf->ev_name[k]) == 0)
                        ew[e] = (float)leaf->ev_w[k];
            /* Names the dataset knows are not enough: some training interaction must count. */
            ar_interactions in;
            ar_dataset_interactions(ds, &in);
            for (int64_t k = 0; k < in.n && !matched; k++)
                matched = ((o->train_mask >> in.split[k]) & 1u) && in.event[k] < ne &&
                          ew[in.event[k]] > 0;
            if (!matched) {
                ar__free(ew);
                st = ar__fail(err, AR_EINVAL,
                              "%s.transforms: no training interaction has an event of positive "
                              "weight (agentrec info lists the dataset's events)",
                              leaf->path);
                break;
            }
            lo.event_weights = ew;
            lo.n_event_weights = ne;
        }
        lo.half_life_days = leaf->half_life;
        lo.weighting = leaf->weighting;
        lo.bm25_k1 = leaf->k1;
        lo.bm25_b = leaf->b;
        ar_error e2;
        st = ar_model_fit(leaf->model, ds, &lo, &e2);
        ar__free(ew);
        if (st) {
            ar__fail(err, st, "%s: %s", leaf->path, e2.msg);
            break;
        }
        if (!leaf->has_damp)
            continue;
        if (!pop) {
            ar_csr *x = NULL;
            if (!(pop = ar__calloc((size_t)m->n_items, sizeof *pop)) ||
                ar_dataset_csr(ds, o->train_mask, 1, &x)) {
                st = ar__fail(err, AR_ENOMEM, "spec: out of memory");
                break;
            }
            for (int64_t k = 0; k < x->nnz; k++)
                pop[x->indices[k]]++;
            ar_csr_free(x);
        }
        if (!(leaf->damp = ar__alloc_array((size_t)m->n_items, sizeof *leaf->damp))) {
            st = ar__fail(err, AR_ENOMEM, "spec: out of memory");
            break;
        }
        leaf->damp_owned = 1;
        for (int32_t i = 0; i < m->n_items; i++)
            leaf->damp[i] = (float)pow(pop[i] > 1 ? (double)pop[i] : 1.0, -leaf->beta);
    }
    ar__free(pop);
    return st;
}

static void free_state(ar_model *m) {
    ar__spec *s = m->state;
    for (int j = 0; j < s->n_leaves; j++) {
        ar__spec_node *leaf = s->leaves[j];
        ar__model_unfit(leaf->model);
        leaf->model->map = NULL;
        leaf->model->map_borrowed = 0;
        if (leaf->damp_owned)
            ar__free(leaf->damp);
        leaf->damp = NULL;
        leaf->damp_owned = 0;
    }
}

static void free_spec(ar_model *m) {
    ar__spec_free(m->spec);
    m->spec = NULL;
}

static void save(const ar_model *m, ar__secw *w) {
    ar__spec *s = spec_of(m);
    ar__free(s->saved_text);
    s->saved_text = ar__spec_canonical(s);
    if (!s->saved_text) {
        w->failed = 1;
        return;
    }
    ar__secw_add(w, TAG_SPEC, 1, strlen(s->saved_text) + 1, 0, s->saved_text);
    for (int j = 0; j < s->n_leaves; j++) {
        const ar__spec_node *leaf = s->leaves[j];
        if (leaf->damp)
            ar__secw_add(w, TAG_DAMP + (uint32_t)j, 4, (uint64_t)m->n_items, 0, leaf->damp);
        ar__secw sub = {0};
        leaf->model->impl->save(leaf->model, &sub);
        for (size_t k = 0; k < sub.n; k++) {
            const ar__sec *e = &sub.s[k];
            if (e->tag >= TAG_MEMBER) /* families use tags 100.. (model.h); never this high */
                w->failed = 1;
            ar__secw_add(w, TAG_MEMBER * (uint32_t)(j + 1) + e->tag, e->elem_size, e->count, e->aux,
                         e->data);
        }
        if (sub.failed)
            w->failed = 1;
        ar__free(sub.s);
    }
}

static ar_status load(ar_model *m, const ar__secfile *f) {
    const ar__sec *t = ar__secfile_find(f, TAG_SPEC);
    const char *text = t ? t->data : NULL;
    if (!t || t->elem_size != 1 || t->count < 2 || text[t->count - 1] != 0 ||
        strlen(text) != t->count - 1)
        return ar__secfile_corrupt(f, "no model spec");
    ar__spec *s;
    ar_error e2;
    if (ar__spec_parse(text, &s, &e2)) {
        char msg[600];
        snprintf(msg, sizeof msg, "invalid model spec (%s)", e2.msg);
        return ar__secfile_corrupt(f, msg);
    }
    m->spec = s;
    m->state = s;
    for (int j = 0; j < s->n_leaves; j++) {
        ar__spec_node *leaf = s->leaves[j];
        ar_model *lm = leaf->model;
        lm->n_users = m->n_users;
        lm->n_items = m->n_items;
        lm->fingerprint = m->fingerprint;
        lm->map = m->map;
        lm->map_len = m->map_len;
        lm->map_borrowed = 1;
        uint32_t lo = TAG_MEMBER * (uint32_t)(j + 1), hi = lo + TAG_MEMBER;
        ar__secfile sub = *f;
        sub.s = ar__calloc(f->n ? f->n : 1, sizeof *sub.s);
        if (!sub.s)
            return AR_ENOMEM;
        sub.n = 0;
        for (uint32_t k = 0; k < f->n; k++)
            if (f->s[k].tag >= lo && f->s[k].tag < hi) {
                sub.s[sub.n] = f->s[k];
                sub.s[sub.n++].tag -= lo;
            }
        ar_status st = lm->impl->load(lm, &sub);
        ar__free(sub.s);
        if (st)
            return st;
        lm->fitted = 1;
        if (leaf->has_damp) {
            const void *p;
            if ((st = ar__model_array(f, TAG_DAMP + (uint32_t)j, 4, (uint64_t)m->n_items, &p)))
                return st;
            leaf->damp = (float *)p;
            for (int32_t i = 0; i < m->n_items; i++)
                if (!isfinite(leaf->damp[i]) || leaf->damp[i] < 0)
                    return ar__secfile_corrupt(f, "bad popularity damping factors");
        }
    }
    return AR_OK;
}

const ar__model_impl ar__spec_impl = {
    .name = "spec",
    .citation = "agentrec model spec: a composite of zoo models (docs/spec.md)",
    .params = NULL,
    .n_params = 0,
    .ws_floats = ws_floats,
    .score = score,
    .score_batch = score_batch,
    .explain = explain,
    .save = save,
    .load = load,
    .free_state = free_state,
    .fit_dataset = fit_dataset,
    .free_spec = free_spec,
};

ar_status ar__spec_model_shell(ar_model **out) {
    *out = ar__calloc(1, sizeof **out);
    if (!*out)
        return AR_ENOMEM;
    (*out)->impl = &ar__spec_impl;
    return AR_OK;
}

ar_status ar_model_create_spec(const char *json, ar_model **out, ar_error *err) {
    *out = NULL;
    ar__spec *s;
    ar_status st = ar__spec_parse(json, &s, err);
    if (st)
        return st;
    const ar__spec_node *r = s->root;
    if (r->kind == AR__SPEC_LEAF && !r->n_events && r->half_life == 0 &&
        r->weighting == AR_WEIGHTING_NONE && !r->has_damp) {
        *out = s->root->model; /* a bare base learner is the zoo model itself */
        s->root->model = NULL;
        ar__spec_free(s);
        return AR_OK;
    }
    ar_model *m;
    if ((st = ar__spec_model_shell(&m))) {
        ar__spec_free(s);
        return ar__fail(err, st, "spec: out of memory");
    }
    m->spec = s;
    *out = m;
    return AR_OK;
}

char *ar_model_spec_json(const ar_model *m) {
    return m->spec ? ar__spec_canonical(m->spec) : ar__spec_model_json(m);
}

int ar_model_is_composite(const ar_model *m) {
    return m->impl == &ar__spec_impl;
}

/* -- learned blend weights ------------------------------------------------------------------- */

ar_blend_learn_options ar_blend_learn_options_default(void) {
    ar_blend_learn_options o;
    memset(&o, 0, sizeof o);
    o.history_mask = AR_MASK_TRAIN;
    o.target_mask = AR_MASK_VALID;
    o.k = 20;
    o.max_users = 2000;
    o.memory_limit = (size_t)512 << 20;
    o.max_rounds = 6;
    o.seed = 2026;
    return o;
}

const char *ar_blend_learn_options_check(const ar_blend_learn_options *o) {
    if (!o->history_mask || (o->history_mask & ~AR_MASK_ALL) || !o->target_mask ||
        (o->target_mask & ~AR_MASK_ALL))
        return "history_mask and target_mask must be non-empty sets of splits";
    if (o->history_mask & o->target_mask)
        return "the target split must not be part of the history";
    if (o->k < 1 || o->k > 10000)
        return "k must be in [1, 10000]";
    if (o->max_users < 1)
        return "max_users must be >= 1";
    if (o->max_rounds < 1 || o->max_rounds > 100)
        return "max_rounds must be in [1, 100]";
    if (o->n_threads < 0)
        return "thread count must be >= 0";
    return NULL;
}

/* The sampled users' normalised member scores, and NDCG@k of a weight vector over them. */
typedef struct learner {
    const ar__spec_node *root;
    int32_t n_items, n_users, k;
    int n_members;
    const int32_t *users; /* sampled, ascending */
    const float *p;       /* users x members x n_items */
    const ar_csr *hist, *tgt;
    int nt;
    float *buf; /* nt x (n_items + k) */
    double *per_user;
} learner;

static double ndcg_of(const learner *L, const double *w) {
    size_t row = (size_t)L->n_items, stride = row + (size_t)L->k;
#pragma omp parallel for num_threads(L->nt) schedule(dynamic, 16)
    for (int32_t s = 0; s < L->n_users; s++) {
#ifdef _OPENMP
        float *b = L->buf + (size_t)omp_get_thread_num() * stride;
#else
        float *b = L->buf;
#endif
        int32_t *idx = (int32_t *)(b + row);
        int32_t u = L->users[s];
        memset(b, 0, row * sizeof *b);
        for (int j = 0; j < L->n_members; j++) {
            if (w[j] == 0)
                continue;
            const float *pj = L->p + ((size_t)s * (size_t)L->n_members + (size_t)j) * row;
            float wj = (float)w[j]; /* the same arithmetic as fold() */
            for (size_t i = 0; i < row; i++)
                b[i] += wj * pj[i];
        }
        int64_t hb = L->hist->indptr[u], he = L->hist->indptr[u + 1];
        int32_t got = ar_topk(b, L->n_items, L->hist->indices + hb, (int32_t)(he - hb), L->k, idx);
        const int32_t *t = L->tgt->indices + L->tgt->indptr[u];
        int64_t nt = L->tgt->indptr[u + 1] - L->tgt->indptr[u];
        double dcg = 0, idcg = 0;
        for (int32_t r = 0; r < got; r++)
            if (ar__contains_sorted(t, nt, idx[r]))
                dcg += 1.0 / log2((double)r + 2.0);
        for (int64_t r = 0; r < nt && r < L->k; r++)
            idcg += 1.0 / log2((double)r + 2.0);
        L->per_user[s] = idcg > 0 ? dcg / idcg : 0;
    }
    double sum = 0;
    for (int32_t s = 0; s < L->n_users; s++)
        sum += L->per_user[s];
    return L->n_users ? sum / L->n_users : 0;
}

ar_status ar_model_learn_blend_weights(ar_model *m, const ar_dataset *ds,
                                       const ar_blend_learn_options *o, ar_blend_learn_result *out,
                                       ar_error *err) {
    ar_blend_learn_result res;
    memset(&res, 0, sizeof res);
    const char *badopt = ar_blend_learn_options_check(o);
    if (badopt)
        return ar__fail(err, AR_EINVAL, "learn weights: %s", badopt);
    if (!ar_model_is_composite(m) || !m->fitted || spec_of(m)->root->kind != AR__SPEC_BLEND)
        return ar__fail(err, AR_EINVAL,
                        "learn weights: the model must be a fitted spec whose root is a blend");
    ar_status st = ar_model_check_dataset(m, ds, err);
    if (st)
        return st;
    ar__spec_node *root = spec_of(m)->root;
    const int M = root->n;
    const int32_t n_items = m->n_items;
    ar_csr *hist = NULL, *tgt = NULL;
    int32_t *cand = NULL;
    float *p = NULL, *t = NULL, *buf = NULL;
    double *per_user = NULL;
    int32_t *idx = NULL;
    if ((st = ar_dataset_csr(ds, o->history_mask, 0, &hist)) ||
        (st = ar_dataset_csr(ds, o->target_mask, 1, &tgt)))
        goto oom;
    int32_t nc = 0;
    if (!(cand = ar__alloc_array((size_t)tgt->n_rows + 1, sizeof *cand)))
        goto oom;
    for (int32_t u = 0; u < tgt->n_rows; u++)
        if (tgt->indptr[u + 1] > tgt->indptr[u])
            cand[nc++] = u;
    if (!nc) {
        st = ar__fail(err, AR_EEMPTY, "learn weights: no user has items in the target split");
        goto done;
    }
    /* A seeded sample (partial Fisher-Yates), then ascending for locality. */
    size_t per = (size_t)M * (size_t)n_items * sizeof(float);
    int64_t cap = (int64_t)(o->memory_limit / (per ? per : 1));
    int32_t S = nc < o->max_users ? nc : o->max_users;
    if (cap < S)
        S = (int32_t)(cap > 1 ? cap : 1);
    ar_rng rng;
    ar_rng_seed(&rng, o->seed);
    for (int32_t i = 0; i < S; i++) {
        int32_t j = i + (int32_t)ar_rng_below(&rng, (uint64_t)(nc - i));
        int32_t x = cand[i];
        cand[i] = cand[j];
        cand[j] = x;
    }
    for (int32_t i = 1; i < S; i++) { /* insertion sort: S is small */
        int32_t x = cand[i], j = i;
        for (; j > 0 && cand[j - 1] > x; j--)
            cand[j] = cand[j - 1];
        cand[j] = x;
    }
    size_t row = (size_t)n_items;
    int nt = ar__threads(o->n_threads);
    if (!(p = ar__alloc_array((size_t)S * (size_t)M, row * sizeof *p)) ||
        !(t = ar__alloc_array((size_t)64 * row, sizeof *t)) ||
        !(idx = ar__alloc_array((size_t)depth_of(root, n_items) + 1, sizeof *idx)) ||
        !(buf = ar__alloc_array((size_t)nt, (row + (size_t)o->k) * sizeof *buf)) ||
        !(per_user = ar__calloc((size_t)S, sizeof *per_user)))
        goto oom;
    for (int32_t b0 = 0; b0 < S; b0 += 64) {
        int32_t nb = S - b0 < 64 ? S - b0 : 64;
        for (int j = 0; j < M; j++) {
            if ((st = node_batch(root->m[j], n_items, hist, cand + b0, nb, t))) {
                ar__fail(err, st, "learn weights: scoring member %d failed", j);
                goto done;
            }
            for (int32_t r = 0; r < nb; r++) {
                int32_t u = cand[b0 + r];
                float *dst = p + ((size_t)(b0 + r) * (size_t)M + (size_t)j) * row;
                memcpy(dst, t + (size_t)r * row, row * sizeof *dst);
                normalize(root, dst, n_items, hist->indices + hist->indptr[u],
                          hist->indptr[u + 1] - hist->indptr[u], idx);
            }
        }
    }
    learner L = {root, n_items, S, o->k, M, cand, p, hist, tgt, nt, buf, per_user};
    double w[AR_SPEC_MAX_MEMBERS], best_w[AR_SPEC_MAX_MEMBERS];
    for (int j = 0; j < M; j++)
        w[j] = root->w[j];
    res.start_ndcg = ndcg_of(&L, w);
    res.evaluations = 1;
    double best = res.start_ndcg;
    memcpy(best_w, w, sizeof w);
    res.best_single = -1;
    for (int j = 0; j < M; j++) {
        double e[AR_SPEC_MAX_MEMBERS] = {0};
        e[j] = 1;
        double v = ndcg_of(&L, e);
        res.evaluations++;
        if (v > res.best_single) {
            res.best_single = v;
            res.best_member = j;
        }
    }
    if (res.best_single > best) {
        best = res.best_single;
        memset(best_w, 0, sizeof best_w);
        best_w[res.best_member] = 1;
    }
    /* Coordinate ascent on a fixed grid; only ratios matter, so absolute values suffice. */
    static const double grid[] = {0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5};
    for (int round = 0; round < o->max_rounds && M > 1; round++) {
        int changed = 0;
        for (int j = 0; j < M; j++) {
            for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
                if (grid[g] == best_w[j])
                    continue;
                memcpy(w, best_w, sizeof w);
                w[j] = grid[g];
                double sum = 0;
                for (int q = 0; q < M; q++)
                    sum += w[q];
                if (!(sum > 0))
                    continue;
                double v = ndcg_of(&L, w);
                res.evaluations++;
                if (v > best + 1e-12) {
                    best = v;
                    memcpy(best_w, w, sizeof w);
                    changed = 1;
                }
            }
        }
        if (!changed)
            break;
    }
    for (int j = 0; j < M; j++) {
        root->w[j] = best_w[j]; /* grid values and starting weights are already r15 */
        res.weights[j] = best_w[j];
    }
    res.n_members = M;
    res.final_ndcg = best;
    res.users = S;
    st = AR_OK;
    goto done;
oom:
    st = ar__fail(err, AR_ENOMEM, "learn weights: out of memory");
done:
    ar_csr_free(hist);
    ar_csr_free(tgt);
    ar__free(cand);
    ar__free(p);
    ar__free(t);
    ar__free(idx);
    ar__free(buf);
    ar__free(per_user);
    if (out)
        *out = res;
    return st;
}
