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
 *   gate           s = the scores of member b, b = the number of thresholds <= |H|;
 *   stack          s = sum_m w_m(H) norm(s_m), w_m(H) = sum_f v_mf f_f(H), with the
 *                  meta-features f of the history only: 1 (bias), log(1 + |H|) and the mean
 *                  of log(1 + pop_i) over H, the last two standardised with their mean and sd
 *                  over the training users (fitted with the members). Feature-weighted linear
 *                  stacking: Sill, Takacs, Mackey & Lin, arXiv 0911.0460 (2009). With the
 *                  feature weights 0, w_m = v_m,bias exactly, so the stack scores bitwise as
 *                  the blend of those weights (tested).
 *
 * The history's own items keep whatever the formulas give them; rankers exclude them anyway.
 * Members are visited in order and every sum runs in a fixed order, so scores are the same
 * whatever the threads. Batch scoring (the path rankers use) scores each member's block of
 * users with the member's own batch scoring (one GEMM for iALS), then normalises row by row.
 *
 * The model file is one secfile: the canonical spec (tag 100), each base learner j's damping
 * factors (tag 200 + j), the stacks' feature statistics (tags 300, 301) and each base learner's
 * fitted sections re-tagged 1000 (j + 1) + tag. Loading parses the spec again and points every
 * member's arrays into the one mapping.
 *
 * Learning (the end of this file): a root blend's weights by coordinate ascent on NDCG@k, a
 * root stack's meta-model by Newton's method on a pairwise logistic loss, both on a seeded
 * sample of the target split's users.
 */
#define _POSIX_C_SOURCE 200809L
#include "models/spec_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { TAG_SPEC = 100, TAG_DAMP = 200, TAG_STATS = 300, TAG_LOGPOP = 301, TAG_MEMBER = 1000 };

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

/* The raw meta-features of a history h[nh] (indexed by feature id): 1, log(1 + nh) and the mean
 * of logpop over h (0 for an empty history). */
static void raw_features(const float *logpop, const int32_t *h, int64_t nh, double *raw) {
    raw[AR__FEAT_BIAS] = 1;
    raw[AR__FEAT_LOG_LEN] = log1p((double)nh);
    double sum = 0;
    for (int64_t j = 0; j < nh; j++)
        sum += logpop[h[j]];
    raw[AR__FEAT_POP] = nh ? sum / (double)nh : 0;
}

/* A stack's features f[0..n_feat) for a history: standardised (0 when the training users'
 * sd is 0, and the popularity feature of an empty history is 0, the average). */
static void stack_features(const ar__spec_node *n, const int32_t *h, int64_t nh, double *f) {
    const ar__spec_stats *st = n->stats;
    double raw[AR_SPEC_MAX_FEATURES];
    raw_features(st->logpop, h, nh, raw);
    for (int k = 0; k < n->n_feat; k++) {
        int id = n->feat[k];
        if (id == AR__FEAT_BIAS)
            f[k] = 1.0;
        else if (st->sd[id] > 0 && (nh || id != AR__FEAT_POP))
            f[k] = (raw[id] - st->mean[id]) / st->sd[id];
        else
            f[k] = 0.0;
    }
}

/* Per-member weights w[m] = sum_k v[m][k] f[k] of a meta-model of n members and nf features,
 * v row-major with AR_SPEC_MAX_FEATURES columns (ar__spec_node.v). Terms of weight 0 are
 * skipped, so with only the bias column set w[m] is v[m][0] exactly. */
static void combine(const double *v, int n, int nf, const double *f, double *w) {
    for (int m = 0; m < n; m++) {
        double s = 0;
        for (int k = 0; k < nf; k++)
            if (v[m * AR_SPEC_MAX_FEATURES + k] != 0)
                s += v[m * AR_SPEC_MAX_FEATURES + k] * f[k];
        w[m] = s;
    }
}

static void stack_weights(const ar__spec_node *n, const int32_t *h, int64_t nh, double *w) {
    double f[AR_SPEC_MAX_FEATURES];
    stack_features(n, h, nh, f);
    combine(&n->v[0][0], n->n, n->n_feat, f, w);
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

/* Adds member scores t into out: normalised and times w (blend, stack) or as reciprocal ranks
 * (fuse). */
static void fold(const ar__spec_node *n, float w, float *out, float *t, int32_t n_items,
                 const int32_t *h, int64_t nh, int32_t *idx) {
    if (n->kind == AR__SPEC_FUSE) {
        int32_t got = ar_topk(t, n_items, h, (int32_t)nh, depth_of(n, n_items), idx);
        for (int32_t r = 0; r < got; r++)
            out[idx[r]] += (float)(1.0 / (n->rrf_k + (double)r + 1.0));
        return;
    }
    normalize(n, t, n_items, h, nh, idx);
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
    double w[AR_SPEC_MAX_MEMBERS];
    for (int i = 0; i < n->n; i++)
        w[i] = n->kind == AR__SPEC_BLEND ? n->w[i] : 1;
    if (n->kind == AR__SPEC_STACK)
        stack_weights(n, items, cnt, w);
    memset(out, 0, (size_t)n_items * sizeof *out);
    for (int i = 0; i < n->n; i++) {
        if (n->kind != AR__SPEC_FUSE && w[i] == 0)
            continue;
        node_score(n->m[i], n_items, user, items, values, cnt, t, rest);
        fold(n, (float)w[i], out, t, n_items, items, cnt, idx);
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
    /* w: each user's weight of each member (nu x n; a blend's are everyone's). */
    float *t = ar__alloc_array((size_t)nu * row, sizeof *t);
    int32_t *idx = ar__alloc_array((size_t)depth_of(n, n_items) + 1, sizeof *idx);
    double *w = ar__alloc_array((size_t)nu * AR_SPEC_MAX_MEMBERS, sizeof *w);
    if (!t || !idx || !w)
        st = AR_ENOMEM;
    for (int32_t r = 0; !st && r < nu; r++) {
        double *wr = w + (size_t)r * AR_SPEC_MAX_MEMBERS;
        int64_t b = hist->indptr[users[r]], e = hist->indptr[users[r] + 1];
        for (int i = 0; i < n->n; i++)
            wr[i] = n->kind == AR__SPEC_BLEND ? n->w[i] : 1;
        if (n->kind == AR__SPEC_STACK)
            stack_weights(n, hist->indices + b, e - b, wr);
    }
    if (!st)
        memset(out, 0, (size_t)nu * row * sizeof *out);
    for (int i = 0; !st && i < n->n; i++) {
        int used = n->kind == AR__SPEC_FUSE;
        for (int32_t r = 0; r < nu && !used; r++)
            used = w[(size_t)r * AR_SPEC_MAX_MEMBERS + (size_t)i] != 0;
        if (!used)
            continue;
        if ((st = node_batch(n->m[i], n_items, hist, users, nu, t)))
            break;
        for (int32_t r = 0; r < nu; r++) {
            double wi = w[(size_t)r * AR_SPEC_MAX_MEMBERS + (size_t)i];
            if (n->kind != AR__SPEC_FUSE && wi == 0)
                continue;
            int64_t b = hist->indptr[users[r]], e = hist->indptr[users[r] + 1];
            fold(n, (float)wi, out + (size_t)r * row, t + (size_t)r * row, n_items,
                 hist->indices + b, e - b, idx);
        }
    }
    ar__free(t);
    ar__free(idx);
    ar__free(w);
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

/* The base learner that answers explanations for a user with history items[0..cnt): the member
 * serving the user (gate), of the largest weight (blend) or of the largest of the user's own
 * weights (stack; ties to the first), or the first (fuse). */
static const ar__spec_node *explainer(const ar__spec_node *n, const int32_t *items, int32_t cnt) {
    while (n->kind != AR__SPEC_LEAF) {
        int pick = 0;
        double w[AR_SPEC_MAX_MEMBERS];
        if (n->kind == AR__SPEC_GATE) {
            pick = bucket(n, cnt);
        } else if (n->kind == AR__SPEC_BLEND || n->kind == AR__SPEC_STACK) {
            for (int i = 0; i < n->n; i++)
                w[i] = n->w[i];
            if (n->kind == AR__SPEC_STACK)
                stack_weights(n, items, cnt, w);
            for (int i = 1; i < n->n; i++)
                if (w[i] > w[pick])
                    pick = i;
        }
        n = n->m[pick];
    }
    return n;
}

static void explain(const ar_model *m, int32_t user, const int32_t *items, const float *values,
                    int32_t n, int32_t item, float *weights, float *ws) {
    const ar__spec_node *leaf = explainer(spec_of(m)->root, items, n);
    if (!leaf->model->impl->explain) {
        memset(weights, 0, (size_t)n * sizeof *weights);
        return;
    }
    leaf->model->impl->explain(leaf->model, user, items, values, n, item, weights, ws);
    if (leaf->damp)
        for (int32_t j = 0; j < n; j++)
            weights[j] *= leaf->damp[item];
}

/* Points every stack node below n at the composite's statistics. */
static void set_stats(ar__spec_node *n, const ar__spec_stats *st) {
    if (n->kind == AR__SPEC_STACK)
        n->stats = st;
    for (int i = 0; i < n->n; i++)
        set_stats(n->m[i], st);
}

/* The stacks' statistics from the training interactions (o->train_mask): log(1 + pop_i), and
 * each raw feature's mean and sd (population, two passes, in user order) over the users with a
 * training interaction. */
static ar_status fit_stats(ar_model *m, const ar_dataset *ds, const ar_fit_options *o) {
    ar__spec *s = spec_of(m);
    ar_csr *x = NULL;
    ar_status st = ar_dataset_csr(ds, o->train_mask, 1, &x);
    if (st)
        return st;
    float *lp = ar__calloc((size_t)m->n_items, sizeof *lp);
    if (!lp) {
        ar_csr_free(x);
        return AR_ENOMEM;
    }
    for (int64_t k = 0; k < x->nnz; k++)
        lp[x->indices[k]] += 1;
    for (int32_t i = 0; i < m->n_items; i++)
        lp[i] = (float)log1p((double)lp[i]);
    double mean[AR_SPEC_MAX_FEATURES] = {0}, sq[AR_SPEC_MAX_FEATURES] = {0};
    double raw[AR_SPEC_MAX_FEATURES];
    int64_t c = 0;
    for (int32_t u = 0; u < x->n_rows; u++) {
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        if (b == e)
            continue;
        raw_features(lp, x->indices + b, e - b, raw);
        for (int k = 0; k < AR_SPEC_MAX_FEATURES; k++)
            mean[k] += raw[k];
        c++;
    }
    for (int k = 0; k < AR_SPEC_MAX_FEATURES; k++)
        mean[k] = c ? mean[k] / (double)c : 0;
    for (int32_t u = 0; u < x->n_rows; u++) {
        int64_t b = x->indptr[u], e = x->indptr[u + 1];
        if (b == e)
            continue;
        raw_features(lp, x->indices + b, e - b, raw);
        for (int k = 0; k < AR_SPEC_MAX_FEATURES; k++)
            sq[k] += (raw[k] - mean[k]) * (raw[k] - mean[k]);
    }
    /* A feature every training user shares (rounding aside) says nothing: sd 0, feature 0. */
    for (int k = 0; k < AR_SPEC_MAX_FEATURES; k++) {
        double sd = c ? sqrt(sq[k] / (double)c) : 0;
        s->stats.mean[k] = k == AR__FEAT_BIAS ? 0 : mean[k];
        s->stats.sd[k] = k == AR__FEAT_BIAS || !(sd > 1e-9 * (1 + fabs(mean[k]))) ? 0 : sd;
    }
    ar_csr_free(x);
    s->logpop_owned = lp;
    s->stats.logpop = lp;
    set_stats(s->root, &s->stats);
    return AR_OK;
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
        /* A learner's own transforms replace the options' (which apply to the others). */
        if (leaf->half_life > 0)
            lo.half_life_days = leaf->half_life;
        if (leaf->weighting != AR_WEIGHTING_NONE) {
            lo.weighting = leaf->weighting;
            lo.bm25_k1 = leaf->k1;
            lo.bm25_b = leaf->b;
        }
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
    if (!st && s->n_stacks && fit_stats(m, ds, o))
        st = ar__fail(err, AR_ENOMEM, "spec: out of memory");
    return st;
}

static void free_state(ar_model *m) {
    ar__spec *s = m->state;
    ar__free(s->logpop_owned);
    s->logpop_owned = NULL;
    s->stats.logpop = NULL;
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
    if (s->n_stacks) {
        /* mean[0..F) then sd[0..F) */
        memcpy(s->saved_stats, s->stats.mean, sizeof s->stats.mean);
        memcpy(s->saved_stats + AR_SPEC_MAX_FEATURES, s->stats.sd, sizeof s->stats.sd);
        ar__secw_add(w, TAG_STATS, 8, 2 * AR_SPEC_MAX_FEATURES, 0, s->saved_stats);
        ar__secw_add(w, TAG_LOGPOP, 4, (uint64_t)m->n_items, 0, s->stats.logpop);
    }
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
    if (s->n_stacks) {
        const void *p;
        ar_status st;
        if ((st = ar__model_array(f, TAG_STATS, 8, 2 * AR_SPEC_MAX_FEATURES, &p)))
            return st;
        memcpy(s->stats.mean, p, sizeof s->stats.mean);
        memcpy(s->stats.sd, (const double *)p + AR_SPEC_MAX_FEATURES, sizeof s->stats.sd);
        for (int k = 0; k < AR_SPEC_MAX_FEATURES; k++)
            if (!isfinite(s->stats.mean[k]) || !isfinite(s->stats.sd[k]) || s->stats.sd[k] < 0)
                return ar__secfile_corrupt(f, "bad stacking feature statistics");
        if ((st = ar__model_array(f, TAG_LOGPOP, 4, (uint64_t)m->n_items, &p)))
            return st;
        s->stats.logpop = p;
        for (int32_t i = 0; i < m->n_items; i++)
            if (!isfinite(s->stats.logpop[i]) || s->stats.logpop[i] < 0)
                return ar__secfile_corrupt(f, "bad stacking popularity");
        set_stats(s->root, &s->stats);
    }
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

/* -- learning the root's combination ----------------------------------------------------------
 * Both learners share the sample: up to max_users users with target items (a seeded partial
 * Fisher-Yates, then ascending) and each one's normalised member scores, computed through
 * node_batch and normalize exactly as scoring computes them, so the sample's NDCG is the
 * evaluator's. A blend's weights: coordinate ascent on that NDCG. A stack's meta-model: Newton's
 * method on a pairwise logistic loss (below), kept only if the sample's NDCG says so. */

ar_blend_learn_options ar_blend_learn_options_default(void) {
    ar_blend_learn_options o;
    memset(&o, 0, sizeof o);
    o.history_mask = AR_MASK_TRAIN;
    o.target_mask = AR_MASK_VALID;
    o.k = 20;
    o.max_users = 2000;
    o.memory_limit = (size_t)512 << 20;
    o.max_rounds = 6;
    o.l2 = 1e-3;
    o.pool = 100;
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
    if (!(o->l2 > 0 && o->l2 <= 1000))
        return "l2 must be in (0, 1000]";
    if (o->pool < 2 || o->pool > 10000)
        return "pool must be in [2, 10000]";
    if (o->n_threads < 0)
        return "thread count must be >= 0";
    return NULL;
}

/* The sampled users' normalised member scores, and NDCG@k of weights over them. */
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

/* NDCG@k over the sample when user s weighs member j by w[s * stride + j] (stride 0: the same
 * weights for everyone). */
static double ndcg_of(const learner *L, const double *w, size_t stride) {
    size_t row = (size_t)L->n_items, bstride = row + (size_t)L->k;
#pragma omp parallel for num_threads(L->nt) schedule(dynamic, 16)
    for (int32_t s = 0; s < L->n_users; s++) {
#ifdef _OPENMP
        float *b = L->buf + (size_t)omp_get_thread_num() * bstride;
#else
        float *b = L->buf;
#endif
        int32_t *idx = (int32_t *)(b + row);
        int32_t u = L->users[s];
        const double *ws = w + (size_t)s * stride;
        memset(b, 0, row * sizeof *b);
        for (int j = 0; j < L->n_members; j++) {
            if (ws[j] == 0)
                continue;
            const float *pj = L->p + ((size_t)s * (size_t)L->n_members + (size_t)j) * row;
            float wj = (float)ws[j]; /* the same arithmetic as fold() */
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

/* The grid of a blend weight (and of a stack's bias column) for coordinate ascent: only ratios
 * matter, so absolute values suffice. */
static const double blend_grid[] = {0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5};
#define N_BLEND_GRID (sizeof blend_grid / sizeof *blend_grid)

/* Coordinate ascent of a root blend's weights on blend_grid, from the better of the spec's
 * weights and the best single member. */
static void learn_blend(const learner *L, ar__spec_node *root, const ar_blend_learn_options *o,
                        ar_blend_learn_result *res) {
    const int M = root->n;
    double w[AR_SPEC_MAX_MEMBERS], best_w[AR_SPEC_MAX_MEMBERS];
    for (int j = 0; j < M; j++)
        w[j] = root->w[j];
    res->start_ndcg = ndcg_of(L, w, 0);
    res->evaluations = 1;
    double best = res->start_ndcg;
    memcpy(best_w, w, sizeof w);
    res->best_single = -1;
    for (int j = 0; j < M; j++) {
        double e[AR_SPEC_MAX_MEMBERS] = {0};
        e[j] = 1;
        double v = ndcg_of(L, e, 0);
        res->evaluations++;
        if (v > res->best_single) {
            res->best_single = v;
            res->best_member = j;
        }
    }
    if (res->best_single > best) {
        best = res->best_single;
        memset(best_w, 0, sizeof best_w);
        best_w[res->best_member] = 1;
    }
    for (int round = 0; round < o->max_rounds && M > 1; round++) {
        int changed = 0;
        for (int j = 0; j < M; j++) {
            for (size_t g = 0; g < N_BLEND_GRID; g++) {
                if (blend_grid[g] == best_w[j])
                    continue;
                memcpy(w, best_w, sizeof w);
                w[j] = blend_grid[g];
                double sum = 0;
                for (int q = 0; q < M; q++)
                    sum += w[q];
                if (!(sum > 0))
                    continue;
                double v = ndcg_of(L, w, 0);
                res->evaluations++;
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
        res->weights[j] = best_w[j];
    }
    res->final_ndcg = best;
}

/* -- the stack's meta-model ---------------------------------------------------------------------
 * A stack has M x F signed weights, and NDCG is piecewise constant in them: a grid search alone
 * costs grid x M x F full rankings of the sample per round, stalls on plateaus and cannot find
 * sign changes far from its start. So the structure comes from a smooth convex surrogate, the
 * pairwise logistic loss
 *
 *   L(v) = (1/S) sum_u 1/(P_u N_u) sum_{p, n} log(1 + exp(-(y_up - y_un))) + l2/2 |v|^2,
 *   y_ui = sum_m w_m(u) z_umi,  w_m(u) = sum_f v_mf f_f(u)
 *
 * (z: normalised member scores; p, n: the user's target and other items among its candidate
 * pool, the members' top candidates taken round robin), a logistic regression on
 * f(u) (x) (z_p - z_n) that Newton's method solves in a few steps, deterministically. The pool
 * puts the loss where NDCG@k is decided, and it picks positives and negatives by the same rule:
 * negatives taken from a member's top list alone (hard negatives) would teach the loss that
 * that member's high scores are bad. Sums run over fixed blocks of users, reduced in block
 * order, so any thread count gives the same bits.
 *
 * The loss is a surrogate (on ML-100k its minimiser alone ranks worse than the learned blend),
 * so the metric decides: the blend's coordinate ascent on the bias column first (from a neutral
 * start it reproduces the learned blend exactly, so a learned stack is never worse than the
 * learned blend on the sample), then the minimiser if it is better, then coordinate ascent of
 * every weight from the best so far. */

#define STACK_MAX_POS 50 /* target items used per user */
#define STACK_BLOCK 64   /* users per partial sum */
#define NEWTON_MAX_IT 50

typedef struct pairs {
    int M, nf, D;        /* members, features, D = M nf unknowns (index m nf + k) */
    int32_t S, cap, act; /* users, items per user, users with pairs */
    const double *f;     /* S x nf features */
    const float *z;      /* S x cap x M normalised member scores of the chosen items */
    const int32_t *np;   /* per user: the first np[s] chosen items are targets ... */
    const int32_t *nn;   /* ... the next nn[s] negatives */
    int nt;
    double l2;
    double *blk; /* blocks x (1 + D + D D) partial sums */
} pairs;

/* The penalised loss at v, and (g not NULL) its gradient g[D] and Hessian h[D x D]. */
static double pair_loss(const pairs *P, const double *v, double *g, double *h) {
    const int M = P->M, nf = P->nf, D = P->D;
    const int32_t nb = (P->S + STACK_BLOCK - 1) / STACK_BLOCK;
    const size_t bs = 1 + (size_t)D + (size_t)D * (size_t)D;
    const int need = g != NULL;
#pragma omp parallel for num_threads(P->nt) schedule(dynamic, 1)
    for (int32_t b = 0; b < nb; b++) {
        double *acc = P->blk + (size_t)b * bs, *ga = acc + 1, *ha = acc + 1 + D;
        memset(acc, 0, bs * sizeof *acc);
        for (int32_t s = b * STACK_BLOCK; s < P->S && s < (b + 1) * STACK_BLOCK; s++) {
            int32_t np = P->np[s], nn = P->nn[s];
            if (!np || !nn)
                continue;
            const double *f = P->f + (size_t)s * (size_t)nf;
            const float *z = P->z + (size_t)s * (size_t)P->cap * (size_t)M;
            double w[AR_SPEC_MAX_MEMBERS], gu[AR_SPEC_MAX_MEMBERS] = {0};
            double hu[AR_SPEC_MAX_MEMBERS * AR_SPEC_MAX_MEMBERS] = {0}, lu = 0;
            for (int m = 0; m < M; m++) {
                w[m] = 0;
                for (int k = 0; k < nf; k++)
                    w[m] += v[m * nf + k] * f[k];
            }
            for (int32_t a = 0; a < np; a++)
                for (int32_t q = np; q < np + nn; q++) {
                    double d[AR_SPEC_MAX_MEMBERS], x = 0;
                    for (int m = 0; m < M; m++) {
                        d[m] = (double)z[a * M + m] - (double)z[q * M + m];
                        x += w[m] * d[m];
                    }
                    lu += x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
                    if (!need)
                        continue;
                    double sn = 1.0 / (1.0 + exp(x)), c = sn * (1.0 - sn); /* sigma(-x) */
                    for (int m = 0; m < M; m++) {
                        gu[m] -= sn * d[m];
                        for (int m2 = 0; m2 < M; m2++)
                            hu[m * M + m2] += c * d[m] * d[m2];
                    }
                }
            double c = 1.0 / ((double)np * (double)nn);
            acc[0] += c * lu;
            if (!need)
                continue;
            for (int m = 0; m < M; m++)
                for (int k = 0; k < nf; k++) {
                    ga[m * nf + k] += c * gu[m] * f[k];
                    for (int m2 = 0; m2 < M; m2++)
                        for (int k2 = 0; k2 < nf; k2++)
                            ha[(size_t)(m * nf + k) * (size_t)D + (size_t)(m2 * nf + k2)] +=
                                c * hu[m * M + m2] * f[k] * f[k2];
                }
        }
    }
    double loss = 0, inv = P->act ? 1.0 / P->act : 0;
    if (need) {
        memset(g, 0, (size_t)D * sizeof *g);
        memset(h, 0, (size_t)D * (size_t)D * sizeof *h);
    }
    for (int32_t b = 0; b < nb; b++) { /* in block order: the same sum for any thread count */
        const double *acc = P->blk + (size_t)b * bs;
        loss += acc[0];
        for (int i = 0; need && i < D; i++)
            g[i] += acc[1 + i];
        for (size_t i = 0; need && i < (size_t)D * (size_t)D; i++)
            h[i] += acc[1 + D + i];
    }
    double reg = 0;
    for (int i = 0; i < D; i++)
        reg += v[i] * v[i];
    loss = loss * inv + 0.5 * P->l2 * reg;
    for (int i = 0; need && i < D; i++) {
        g[i] = g[i] * inv + P->l2 * v[i];
        for (int j = 0; j < D; j++)
            h[i * D + j] = h[i * D + j] * inv + (i == j ? P->l2 : 0);
    }
    return loss;
}

/* Solves a x = b in place of b for a symmetric positive definite a (n x n, row-major; its lower
 * triangle is overwritten by the Cholesky factor). 0 on success, -1 when a is not positive
 * definite in floating point. */
static int cholesky_solve(double *a, double *b, int n) {
    for (int j = 0; j < n; j++) {
        double d = a[j * n + j];
        for (int k = 0; k < j; k++)
            d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0))
            return -1;
        d = sqrt(d);
        a[j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double x = a[i * n + j];
            for (int k = 0; k < j; k++)
                x -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = x / d;
        }
    }
    for (int i = 0; i < n; i++) { /* L y = b */
        for (int k = 0; k < i; k++)
            b[i] -= a[i * n + k] * b[k];
        b[i] /= a[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* L^T x = y */
        for (int k = i + 1; k < n; k++)
            b[i] -= a[k * n + i] * b[k];
        b[i] /= a[i * n + i];
    }
    return 0;
}

/* Newton's method with a backtracking (Armijo) line search from v = 0; v[D] receives the
 * minimiser. Returns the iterations taken, or -1 when out of memory. */
static int newton(const pairs *P, double *v) {
    const int D = P->D;
    double *g = ar__alloc_array((size_t)D, sizeof *g);
    double *h = ar__alloc_array((size_t)D * (size_t)D, sizeof *h);
    double *d = ar__alloc_array((size_t)D, sizeof *d), *vt = ar__alloc_array((size_t)D, sizeof *vt);
    int it = 0;
    if (!g || !h || !d || !vt)
        it = -1;
    memset(v, 0, (size_t)D * sizeof *v);
    for (; it >= 0 && it < NEWTON_MAX_IT;) {
        double loss = pair_loss(P, v, g, h), dec = 0;
        for (int i = 0; i < D; i++)
            d[i] = -g[i];
        if (cholesky_solve(h, d, D))
            break;
        for (int i = 0; i < D; i++)
            dec -= g[i] * d[i]; /* the squared Newton decrement g' H^-1 g */
        if (!(dec > 1e-14))
            break;
        double t = 1;
        int ok = 0;
        for (int ls = 0; ls < 40 && !ok; ls++, t *= 0.5) {
            for (int i = 0; i < D; i++)
                vt[i] = v[i] + t * d[i];
            ok = pair_loss(P, vt, NULL, NULL) <= loss - 1e-4 * t * dec;
        }
        if (!ok)
            break;
        memcpy(v, vt, (size_t)D * sizeof *v);
        it++;
    }
    ar__free(g);
    ar__free(h);
    ar__free(d);
    ar__free(vt);
    return it;
}

/* Sampled user s's candidate pool: the members' top candidates (history excluded), round robin
 * over the members' rankings -- each member's best, then each one's second, ... -- until `pool`
 * distinct items. Its target items are the positives (the first STACK_MAX_POS of them in pool
 * order), the rest the negatives; their normalised member scores go to z (positives first), the
 * user's features to f. Positives and negatives are chosen by the same rule, so the choice
 * favours no member. idx: scratch of M x pool int32. */
static void choose_items(const learner *L, const ar__spec_node *root, int32_t s, int32_t pool,
                         int32_t *sel, int32_t *idx, float *z, double *f, int32_t *np_out,
                         int32_t *nn_out) {
    const int M = L->n_members;
    const int32_t u = L->users[s], n_items = L->n_items;
    const size_t row = (size_t)n_items;
    const int32_t *h = L->hist->indices + L->hist->indptr[u];
    const int64_t nh = L->hist->indptr[u + 1] - L->hist->indptr[u];
    const int32_t *t = L->tgt->indices + L->tgt->indptr[u];
    const int64_t ntg = L->tgt->indptr[u + 1] - L->tgt->indptr[u];
    int32_t got[AR_SPEC_MAX_MEMBERS], most = 0;
    for (int j = 0; j < M; j++) {
        const float *pj = L->p + ((size_t)s * (size_t)M + (size_t)j) * row;
        got[j] = ar_topk(pj, n_items, h, (int32_t)nh, pool, idx + (size_t)j * (size_t)pool);
        most = got[j] > most ? got[j] : most;
    }
    /* sel: positives from the front, negatives from the back (then moved up, last first). */
    int32_t np = 0, nn = 0;
    for (int32_t r = 0; r < most && np + nn < pool; r++)
        for (int j = 0; j < M && np + nn < pool; j++) {
            if (r >= got[j])
                continue;
            int32_t it = idx[(size_t)j * (size_t)pool + (size_t)r], dup = 0;
            for (int32_t q = 0; q < np && !dup; q++)
                dup = sel[q] == it;
            for (int32_t q = pool - nn; q < pool && !dup; q++)
                dup = sel[q] == it;
            if (dup)
                continue;
            if (!ar__contains_sorted(t, ntg, it))
                sel[pool - 1 - nn++] = it;
            else if (np < STACK_MAX_POS)
                sel[np++] = it;
        }
    memmove(sel + np, sel + pool - nn, (size_t)nn * sizeof *sel); /* after the positives */
    for (int32_t c = 0; c < np + nn; c++)
        for (int m = 0; m < M; m++)
            z[((size_t)s * (size_t)pool + (size_t)c) * (size_t)M + (size_t)m] =
                L->p[((size_t)s * (size_t)M + (size_t)m) * row + (size_t)sel[c]];
    stack_features(root, h, nh, f + (size_t)s * (size_t)root->n_feat);
    *np_out = np;
    *nn_out = nn;
}

/* v rounded to 6 significant digits: readable, and exact in every printed form of the spec (the
 * CLI's JSON has 10 digits, the canonical text 15), so whichever is refitted is this model. */
static double round6(double v) {
    char b[32];
    snprintf(b, sizeof b, "%.6g", v);
    return ar__r15(strtod(b, NULL));
}

/* NDCG@k of the sample under a stack meta-model v (node layout); W: S x AR_SPEC_MAX_MEMBERS. */
static double stack_ndcg(const learner *L, const ar__spec_node *root, const double *v,
                         const double *f, double *W) {
    for (int32_t s = 0; s < L->n_users; s++)
        combine(v, root->n, root->n_feat, f + (size_t)s * (size_t)root->n_feat,
                W + (size_t)s * AR_SPEC_MAX_MEMBERS);
    return ndcg_of(L, W, AR_SPEC_MAX_MEMBERS);
}

/* Coordinate ascent of the sample's NDCG over the first ncol columns of a stack's meta-model v
 * (node layout): each weight in turn tried on its grid -- blend_grid for the bias, a signed
 * one for feature weights (in units of the largest bias weight, 1 after scaling) -- keeping
 * strict improvements, until a round changes nothing. Returns the best NDCG (v holds it). */
static double ascend(const learner *L, const ar__spec_node *root, const double *f, double *W,
                     double *v, double best, int ncol, int rounds, int *evals) {
    static const double feat_grid[] = {-2,   -1,  -0.5, -0.2, -0.1, -0.05, 0,
                                       0.05, 0.1, 0.2,  0.5,  1,    2};
    enum { MF = AR_SPEC_MAX_MEMBERS * AR_SPEC_MAX_FEATURES };
    for (int round = 0; round < rounds; round++) {
        int changed = 0;
        for (int m = 0; m < root->n; m++)
            for (int k = 0; k < ncol; k++) {
                const double *grid = k ? feat_grid : blend_grid;
                size_t ng = k ? sizeof feat_grid / sizeof *feat_grid : N_BLEND_GRID;
                for (size_t g = 0; g < ng; g++) {
                    double t[MF];
                    int at = m * AR_SPEC_MAX_FEATURES + k, nonzero = 0;
                    if (grid[g] == v[at])
                        continue;
                    memcpy(t, v, sizeof t);
                    t[at] = grid[g];
                    for (int q = 0; q < MF; q++)
                        nonzero |= t[q] != 0;
                    if (!nonzero)
                        continue;
                    double x = stack_ndcg(L, root, t, f, W);
                    (*evals)++;
                    if (x > best + 1e-12) {
                        best = x;
                        memcpy(v, t, sizeof t);
                        changed = 1;
                    }
                }
            }
        if (!changed)
            break;
    }
    return best;
}

static ar_status learn_stack(const learner *L, ar__spec_node *root, const ar_blend_learn_options *o,
                             ar_blend_learn_result *res) {
    const int M = root->n, nf = root->n_feat;
    const int32_t S = L->n_users, cap = o->pool;
    const int32_t nb = (S + STACK_BLOCK - 1) / STACK_BLOCK;
    const int D = M * nf;
    ar_status st = AR_OK;
    int32_t *sel = ar__alloc_array((size_t)L->nt, (size_t)cap * sizeof *sel);
    int32_t *idx = ar__alloc_array((size_t)L->nt * (size_t)M, (size_t)cap * sizeof *idx);
    int32_t *np = ar__alloc_array((size_t)S, sizeof *np),
            *nn = ar__alloc_array((size_t)S, sizeof *nn);
    float *z = ar__alloc_array((size_t)S * (size_t)cap, (size_t)M * sizeof *z);
    double *f = ar__alloc_array((size_t)S, (size_t)nf * sizeof *f);
    double *W = ar__alloc_array((size_t)S, AR_SPEC_MAX_MEMBERS * sizeof *W);
    double *blk =
        ar__alloc_array((size_t)nb, (1 + (size_t)D + (size_t)D * (size_t)D) * sizeof *blk);
    double *x = ar__alloc_array((size_t)D, sizeof *x);
    if (!sel || !idx || !np || !nn || !z || !f || !W || !blk || !x) {
        st = AR_ENOMEM;
        goto done;
    }
#pragma omp parallel for num_threads(L->nt) schedule(dynamic, 16)
    for (int32_t s = 0; s < S; s++) {
#ifdef _OPENMP
        int th = omp_get_thread_num();
#else
        int th = 0;
#endif
        choose_items(L, root, s, cap, sel + (size_t)th * (size_t)cap,
                     idx + (size_t)th * (size_t)M * (size_t)cap, z, f, &np[s], &nn[s]);
    }
    pairs P = {M, nf, D, S, cap, 0, f, z, np, nn, L->nt, o->l2, blk};
    for (int32_t s = 0; s < S; s++)
        P.act += np[s] > 0 && nn[s] > 0;
    res->iterations = P.act ? newton(&P, x) : 0;
    if (res->iterations < 0) {
        st = AR_ENOMEM;
        goto done;
    }
    /* By the sample's NDCG, each stage keeping only strict improvements: the better of the
     * spec's meta-model and the best single member; coordinate ascent of the bias column (the
     * blend's learner: from a neutral start it reaches the learned blend); the loss's minimiser,
     * scaled to a largest |bias| of 1; coordinate ascent of every weight. */
    enum { MF = AR_SPEC_MAX_MEMBERS * AR_SPEC_MAX_FEATURES };
    double best_v[MF];
    res->newton_ndcg = -1;
    memcpy(best_v, root->v, sizeof best_v);
    res->start_ndcg = stack_ndcg(L, root, best_v, f, W);
    double best = res->start_ndcg;
    res->evaluations = 1;
    res->best_single = -1;
    for (int j = 0; j < M; j++) {
        double e[MF] = {0};
        e[j * AR_SPEC_MAX_FEATURES] = 1;
        double v = stack_ndcg(L, root, e, f, W);
        res->evaluations++;
        if (v > res->best_single) {
            res->best_single = v;
            res->best_member = j;
        }
    }
    if (res->best_single > best) {
        best = res->best_single;
        memset(best_v, 0, sizeof best_v);
        best_v[res->best_member * AR_SPEC_MAX_FEATURES] = 1;
    }
    if (M > 1)
        best = ascend(L, root, f, W, best_v, best, 1, o->max_rounds, &res->evaluations);
    if (res->iterations > 0) {
        double e[MF] = {0}, scale = 0;
        for (int m = 0; m < M; m++)
            scale = fmax(scale, fabs(x[m * nf]));
        scale = scale > 0 ? scale : 1;
        int nonzero = 0;
        for (int m = 0; m < M; m++)
            for (int k = 0; k < nf; k++) {
                e[m * AR_SPEC_MAX_FEATURES + k] = round6(x[m * nf + k] / scale);
                nonzero |= e[m * AR_SPEC_MAX_FEATURES + k] != 0;
            }
        double v = nonzero ? stack_ndcg(L, root, e, f, W) : -1;
        res->evaluations += nonzero;
        res->newton_ndcg = v;
        if (v > best + 1e-12) {
            best = v;
            memcpy(best_v, e, sizeof e);
        }
    }
    if (nf > 1)
        best = ascend(L, root, f, W, best_v, best, nf, o->max_rounds, &res->evaluations);
    memcpy(root->v, best_v, sizeof best_v);
    res->final_ndcg = best;
    res->n_features = nf;
    for (int k = 0; k < nf; k++)
        res->feature[k] = ar__spec_feature_names[root->feat[k]];
    for (int m = 0; m < M; m++) {
        res->weights[m] = root->v[m][0];
        for (int k = 0; k < nf; k++)
            res->meta[m][k] = root->v[m][k];
    }
done:
    ar__free(sel);
    ar__free(idx);
    ar__free(np);
    ar__free(nn);
    ar__free(z);
    ar__free(f);
    ar__free(W);
    ar__free(blk);
    ar__free(x);
    return st;
}

ar_status ar_model_learn_blend_weights(ar_model *m, const ar_dataset *ds,
                                       const ar_blend_learn_options *o, ar_blend_learn_result *out,
                                       ar_error *err) {
    ar_blend_learn_result res;
    memset(&res, 0, sizeof res);
    const char *badopt = ar_blend_learn_options_check(o);
    if (badopt)
        return ar__fail(err, AR_EINVAL, "learn weights: %s", badopt);
    if (!ar_model_is_composite(m) || !m->fitted ||
        (spec_of(m)->root->kind != AR__SPEC_BLEND && spec_of(m)->root->kind != AR__SPEC_STACK))
        return ar__fail(err, AR_EINVAL,
                        "learn weights: the model must be a fitted spec whose root is a blend or "
                        "a stack");
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
    if (root->kind == AR__SPEC_BLEND)
        learn_blend(&L, root, o, &res);
    else if ((st = learn_stack(&L, root, o, &res)))
        goto oom;
    res.n_members = M;
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
