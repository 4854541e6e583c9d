/*
 * search.c -- search policies over a decision space: random, TPE and a learned RL policy.
 *
 * All three share one observation log. Failed trials (reward NAN) count as the worst outcome.
 *
 * TPE (Bergstra, Bardenet, Bengio & Kegl, "Algorithms for Hyper-Parameter Optimization", NIPS
 * 2011): after N_STARTUP random proposals, the best ceil(GAMMA * sqrt(n)) observations are
 * "good" and the rest "bad" (hyperopt's split); each parameter independently gets two
 * densities, l (good) and g (bad): adaptive Parzen estimators on the unit coordinate for
 * numeric parameters (hyperopt's adaptive_parzen_normal), smoothed counts for discrete ones.
 * N_EI_CANDIDATES draws from l are scored by l/g and the best is kept.
 *
 * RL (REINFORCE with a baseline, Williams 1992): the policy is a product of independent
 * distributions, a softmax over logits for each discrete parameter and a Gaussian N(mu, sigma)
 * on the unit coordinate of each numeric one. After each observation the advantage
 * A = (r - b) / s, with b and s a moving mean and deviation of the rewards, moves the logits
 * along A * (onehot - pi) and mu along A * (u - mu); sigma shrinks when good samples land close
 * to mu. The state (logits, mu, sigma) is what transfers to a new dataset: rewards there have
 * another scale, so the baseline restarts.
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_STARTUP 8
#define GAMMA 0.25
#define N_EI_CANDIDATES 24
#define RL_LR 0.25
/* Share of RL proposals drawn uniformly: REINFORCE alone commits to the first families that do
 * well (on ML-100k it lost to random search at equal budget); keeping a quarter of the draws
 * exploratory keeps what random search finds within the policy's reach. */
#define RL_EXPLORE 0.25
#define RL_RISK 0.25 /* the top quarter of the observations teaches the policy */
#define RL_WARMUP 8
#define RL_SIGMA_MIN 0.03
#define RL_SIGMA_MAX 0.5

typedef struct obs {
    ar_point p;
    double reward; /* NAN = failed */
} obs;

struct ar_search {
    const ar_space *s;
    ar_search_kind kind;
    ar_rng rng;
    obs *o;
    size_t n, cap;
    /* RL policy */
    double logits[AR_SPACE_MAX_PARAMS][64];
    double mu[AR_SPACE_MAX_PARAMS], sigma[AR_SPACE_MAX_PARAMS];
    double base_mean, base_var;
    int base_n;
};

int ar_search_kind_parse(const char *name) {
    static const char *const names[] = {"random", "tpe", "rl"};
    for (int k = 0; k < 3; k++)
        if (strcmp(name, names[k]) == 0)
            return k;
    return -1;
}

static void rl_reset(ar_search *q) {
    for (int i = 0; i < q->s->n; i++) {
        memset(q->logits[i], 0, sizeof q->logits[i]);
        /* Start at the default, with a wide spread. */
        q->mu[i] = ar__is_discrete(&q->s->p[i]) ? 0.5 : ar__to_unit(&q->s->p[i], q->s->p[i].def);
        q->sigma[i] = 0.3;
    }
}

ar_status ar_search_create(const ar_space *s, ar_search_kind kind, uint64_t seed, ar_search **out) {
    *out = NULL;
    if ((unsigned)kind > AR_SEARCH_RL)
        return AR_EINVAL;
    ar_search *q = ar__calloc(1, sizeof *q);
    if (!q)
        return AR_ENOMEM;
    q->s = s;
    q->kind = kind;
    ar_rng_seed(&q->rng, seed);
    rl_reset(q);
    *out = q;
    return AR_OK;
}

void ar_search_free(ar_search *q) {
    if (!q)
        return;
    ar__free(q->o);
    ar__free(q);
}

int ar_search_n_observed(const ar_search *q) {
    return (int)q->n;
}

ar_status ar_search_best(const ar_search *q, ar_point *p, double *reward) {
    const obs *best = NULL;
    for (size_t k = 0; k < q->n; k++)
        if (!isnan(q->o[k].reward) && (!best || q->o[k].reward > best->reward))
            best = &q->o[k];
    if (!best)
        return AR_ENOTFOUND;
    *p = best->p;
    *reward = best->reward;
    return AR_OK;
}

static double gauss(ar_rng *rng) {
    /* Box-Muller; u1 in (0, 1]. */
    double u1 = 1.0 - ar_rng_uniform(rng), u2 = ar_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* -- RL ------------------------------------------------------------------------------------- */

static int cmp_asc_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void softmax(const double *logits, int n, double *pi) {
    double mx = logits[0], z = 0;
    for (int c = 1; c < n; c++)
        if (logits[c] > mx)
            mx = logits[c];
    for (int c = 0; c < n; c++)
        z += pi[c] = exp(logits[c] - mx);
    for (int c = 0; c < n; c++)
        pi[c] /= z;
}

static void rl_propose(ar_search *q, ar_point *pt) {
    if (ar_rng_uniform(&q->rng) < RL_EXPLORE) {
        ar_space_sample(q->s, &q->rng, pt);
        return;
    }
    double pi[64];
    for (int i = 0; i < q->s->n; i++) {
        const ar__sparam *p = &q->s->p[i];
        if (ar__is_discrete(p)) {
            int n = ar__n_levels(p);
            softmax(q->logits[i], n, pi);
            double x = ar_rng_uniform(&q->rng), acc = 0;
            int c = 0;
            for (; c < n - 1; c++)
                if ((acc += pi[c]) > x)
                    break;
            pt->v[i] = c;
        } else {
            pt->v[i] = ar__from_unit(p, q->mu[i] + q->sigma[i] * gauss(&q->rng));
        }
    }
    ar_space_normalize(q->s, pt);
}

/* The reward a failed trial counts as: a bit below the worst success so far. */
static double failure_reward(const ar_search *q) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < q->n; k++)
        if (!isnan(q->o[k].reward)) {
            lo = fmin(lo, q->o[k].reward);
            hi = fmax(hi, q->o[k].reward);
        }
    if (!isfinite(lo))
        return 0;
    return lo - 0.1 * (hi - lo + 1e-12);
}

/* The (1 - RL_RISK) quantile of the rewards observed so far (failures excluded). */
static double top_quantile(const ar_search *q) {
    double *v = malloc(q->n * sizeof *v);
    size_t m = 0;
    for (size_t k = 0; v && k < q->n; k++)
        if (!isnan(q->o[k].reward))
            v[m++] = q->o[k].reward;
    double t = -INFINITY;
    if (m) {
        qsort(v, m, sizeof *v, cmp_asc_d);
        t = v[(size_t)floor((1 - RL_RISK) * (double)(m - 1))];
    }
    free(v);
    return t;
}

/* Risk-seeking policy gradient (Petersen et al., "Deep symbolic regression", ICLR 2021): a
 * search is judged by the best it finds, not by its average, so only observations in the top
 * RL_RISK fraction so far pull the policy towards themselves, with an advantage of their
 * distance above that quantile (scaled by the rewards' spread); the rest leave it alone. Plain
 * REINFORCE, which optimises the mean, settled on whatever family was reliably decent early
 * (EASE on ML-100k) and stopped looking for the best. Until RL_WARMUP observations exist, the
 * moving-baseline update below applies. */
static void rl_update(ar_search *q, const ar_point *pt, double r) {
    /* Moving baseline: exponential mean and variance, warmed up with plain averages. */
    q->base_n++;
    double alpha = q->base_n < 10 ? 1.0 / q->base_n : 0.1;
    double d = r - q->base_mean;
    q->base_mean += alpha * d;
    q->base_var = (1 - alpha) * (q->base_var + alpha * d * d);
    if (q->base_n < 2)
        return;
    double a;
    if (q->base_n >= RL_WARMUP) {
        double t = top_quantile(q);
        if (!(r > t))
            return;
        a = (r - t) / (sqrt(q->base_var) + 1e-12);
    } else {
        a = (r - q->base_mean) / (sqrt(q->base_var) + 1e-12);
    }
    if (a > 3)
        a = 3;
    if (a < -3)
        a = -3;
    double pi[64];
    for (int i = 0; i < q->s->n; i++) {
        if (!pt->active[i])
            continue;
        const ar__sparam *p = &q->s->p[i];
        if (ar__is_discrete(p)) {
            int n = ar__n_levels(p), c = (int)pt->v[i];
            softmax(q->logits[i], n, pi);
            for (int k = 0; k < n; k++)
                q->logits[i][k] += RL_LR * a * ((k == c) - pi[k]);
        } else {
            double u = ar__to_unit(p, pt->v[i]), z = (u - q->mu[i]) / q->sigma[i];
            q->mu[i] += RL_LR * a * (u - q->mu[i]);
            q->mu[i] = fmin(1, fmax(0, q->mu[i]));
            q->sigma[i] *= exp(0.5 * RL_LR * a * (z * z - 1) / (1 + z * z));
            q->sigma[i] = fmin(RL_SIGMA_MAX, fmax(RL_SIGMA_MIN, q->sigma[i]));
        }
    }
}

/* -- TPE ------------------------------------------------------------------------------------ */

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* An adaptive Parzen estimator on [0, 1] (hyperopt's adaptive_parzen_normal): one Gaussian per
 * point, whose width is the larger gap to its sorted neighbours, clipped to
 * [1 / min(100, n + 1), 1], plus a prior component N(0.5, 1) of the same weight. */
typedef struct parzen {
    double mu[512], sigma[512];
    int n; /* components, the prior included */
} parzen;

static int cmp_asc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void parzen_fit(parzen *pz, double *pts, int n) {
    if (n > 511)
        n = 511;
    qsort(pts, (size_t)n, sizeof *pts, cmp_asc);
    double lo = 1.0 / fmin(100, n + 1);
    for (int k = 0; k < n; k++) {
        double left = k ? pts[k] - pts[k - 1] : pts[k];
        double right = k + 1 < n ? pts[k + 1] - pts[k] : 1 - pts[k];
        pz->mu[k] = pts[k];
        pz->sigma[k] = fmin(1, fmax(lo, fmax(left, right)));
    }
    pz->mu[n] = 0.5;
    pz->sigma[n] = 1;
    pz->n = n + 1;
}

static double parzen_pdf(const parzen *pz, double u) {
    double s = 0;
    for (int k = 0; k < pz->n; k++) {
        double z = (u - pz->mu[k]) / pz->sigma[k];
        s += exp(-0.5 * z * z) / pz->sigma[k];
    }
    return s / pz->n;
}

static double parzen_draw(const parzen *pz, ar_rng *rng) {
    int k = (int)ar_rng_below(rng, (uint64_t)pz->n);
    for (int tries = 0; tries < 16; tries++) {
        double u = pz->mu[k] + pz->sigma[k] * gauss(rng);
        if (u >= 0 && u <= 1)
            return u;
    }
    return fmin(1, fmax(0, pz->mu[k]));
}

static ar_status tpe_propose(ar_search *q, ar_point *pt) {
    size_t n = q->n;
    double *r = ar__alloc_array(n, sizeof *r);
    double *good = ar__alloc_array(n, sizeof *good), *badv = ar__alloc_array(n, sizeof *badv);
    if (!r || !good || !badv) {
        ar__free(r);
        ar__free(good);
        ar__free(badv);
        return AR_ENOMEM;
    }
    double fail = failure_reward(q);
    for (size_t k = 0; k < n; k++)
        r[k] = isnan(q->o[k].reward) ? fail : q->o[k].reward;
    memcpy(good, r, n * sizeof *r);
    qsort(good, n, sizeof *good, cmp_desc);
    size_t n_good = (size_t)ceil(GAMMA * sqrt((double)n));
    double cut = good[n_good - 1];
    ar_status st = AR_OK;
    for (int i = 0; i < q->s->n; i++) {
        const ar__sparam *p = &q->s->p[i];
        int ng = 0, nb = 0;
        /* Observations where the parameter was active, split at the cut (ties: good, but at
         * most n_good of them). */
        for (size_t k = 0; k < n; k++) {
            if (!q->o[k].p.active[i])
                continue;
            double v = ar__is_discrete(p) ? q->o[k].p.v[i] : ar__to_unit(p, q->o[k].p.v[i]);
            if (r[k] >= cut && (size_t)ng < n_good)
                good[ng++] = v;
            else
                badv[nb++] = v;
        }
        if (ar__is_discrete(p)) {
            int L = ar__n_levels(p);
            double lc[64], gc[64];
            for (int c = 0; c < L; c++)
                lc[c] = gc[c] = 1.0; /* smoothing prior */
            for (int k = 0; k < ng; k++)
                lc[(int)good[k]] += 1;
            for (int k = 0; k < nb; k++)
                gc[(int)badv[k]] += 1;
            double best = -1;
            for (int t = 0; t < N_EI_CANDIDATES; t++) {
                /* draw from l */
                double tot = 0, acc = 0;
                for (int c = 0; c < L; c++)
                    tot += lc[c];
                double x = ar_rng_uniform(&q->rng) * tot;
                int c = 0;
                for (; c < L - 1; c++)
                    if ((acc += lc[c]) > x)
                        break;
                double score = (lc[c] / (ng + L)) / (gc[c] / (nb + L));
                if (score > best) {
                    best = score;
                    pt->v[i] = c;
                }
            }
        } else {
            parzen *l = ar__malloc(sizeof *l), *g = ar__malloc(sizeof *g);
            if (!l || !g) {
                ar__free(l);
                ar__free(g);
                st = AR_ENOMEM;
                break;
            }
            parzen_fit(l, good, ng);
            parzen_fit(g, badv, nb);
            double best = -1;
            for (int t = 0; t < N_EI_CANDIDATES; t++) {
                double u = parzen_draw(l, &q->rng);
                double score = parzen_pdf(l, u) / parzen_pdf(g, u);
                if (score > best) {
                    best = score;
                    pt->v[i] = ar__from_unit(p, u);
                }
            }
            ar__free(l);
            ar__free(g);
        }
    }
    ar__free(r);
    ar__free(good);
    ar__free(badv);
    ar_space_normalize(q->s, pt);
    return st;
}

/* -- the interface ---------------------------------------------------------------------------- */

ar_status ar_search_propose(ar_search *q, ar_point *out) {
    size_t ok = 0;
    for (size_t k = 0; k < q->n; k++)
        ok += !isnan(q->o[k].reward);
    switch (q->kind) {
    case AR_SEARCH_TPE:
        if (ok >= N_STARTUP)
            return tpe_propose(q, out);
        break;
    case AR_SEARCH_RL:
        rl_propose(q, out);
        return AR_OK;
    case AR_SEARCH_RANDOM:
        break;
    }
    ar_space_sample(q->s, &q->rng, out);
    return AR_OK;
}

ar_status ar_search_observe(ar_search *q, const ar_point *p, double reward) {
    if (isinf(reward))
        return AR_EINVAL;
    ar_status st = ar__grow((void **)&q->o, &q->cap, q->n + 1, sizeof *q->o);
    if (st)
        return st;
    double r = isnan(reward) ? failure_reward(q) : reward;
    q->o[q->n].p = *p;
    ar_space_normalize(q->s, &q->o[q->n].p);
    q->o[q->n].reward = reward;
    q->n++;
    if (q->kind == AR_SEARCH_RL)
        rl_update(q, &q->o[q->n - 1].p, r);
    return AR_OK;
}

/* State: {"kind": K, "params": {name: {"logits": [...]} | {"mu": m, "sigma": s}},
 *         "observations": [{"point": {...}, "reward": r | null}]}. */
char *ar_search_state_json(const ar_search *q) {
    static const char *const kinds[] = {"random", "tpe", "rl"};
    json_t *root = json_object(), *params = json_object(), *obs_a = json_array();
    for (int i = 0; i < q->s->n; i++) {
        const ar__sparam *p = &q->s->p[i];
        json_t *o;
        if (ar__is_discrete(p)) {
            json_t *l = json_array();
            for (int c = 0; c < ar__n_levels(p); c++)
                json_array_append_new(l, json_real(q->logits[i][c]));
            o = json_pack("{s:o}", "logits", l);
        } else {
            o = json_pack("{s:f,s:f}", "mu", q->mu[i], "sigma", q->sigma[i]);
        }
        json_object_set_new(params, p->name, o);
    }
    for (size_t k = 0; k < q->n; k++) {
        char *pj = ar_space_point_json(q->s, &q->o[k].p);
        json_error_t je;
        json_t *pt = pj ? json_loads(pj, 0, &je) : NULL;
        ar__free(pj);
        json_array_append_new(
            obs_a, json_pack("{s:o,s:o}", "point", pt ? pt : json_null(), "reward",
                             isnan(q->o[k].reward) ? json_null() : json_real(q->o[k].reward)));
    }
    json_object_set_new(root, "kind", json_string(kinds[q->kind]));
    json_object_set_new(root, "params", params);
    json_object_set_new(root, "observations", obs_a);
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(root);
    char *out = text ? ar__strdup(text) : NULL;
    free(text);
    return out;
}

ar_status ar_search_load_state(ar_search *q, const char *text, ar_error *err) {
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    json_t *params = json_object_get(root, "params");
    if (!json_is_object(root) || !json_is_object(params)) {
        json_decref(root);
        return ar__fail(err, AR_EPARSE, "search state: expected {\"params\": {...}} (%s)",
                        root ? "wrong shape" : je.text);
    }
    ar_status st = AR_OK;
    const char *key;
    json_t *v;
    /* Only the policy transfers: parameters unknown to this space are ignored, values are
     * clamped into range. The observations of another dataset are not replayed, because their
     * rewards are on another scale. */
    json_object_foreach(params, key, v) {
        int i = ar__space_find(q->s, key);
        if (i < 0)
            continue;
        const ar__sparam *p = &q->s->p[i];
        if (ar__is_discrete(p)) {
            json_t *l = json_object_get(v, "logits");
            if (!json_is_array(l) || (int)json_array_size(l) != ar__n_levels(p)) {
                st = ar__fail(err, AR_EINVAL, "search state: params.%s.logits has the wrong size",
                              key);
                break;
            }
            for (int c = 0; c < ar__n_levels(p); c++) {
                double x = json_number_value(json_array_get(l, (size_t)c));
                q->logits[i][c] = isfinite(x) ? fmin(20, fmax(-20, x)) : 0;
            }
        } else {
            double mu = json_number_value(json_object_get(v, "mu"));
            double sg = json_number_value(json_object_get(v, "sigma"));
            if (!isfinite(mu) || !isfinite(sg)) {
                st = ar__fail(err, AR_EINVAL, "search state: params.%s needs mu and sigma", key);
                break;
            }
            q->mu[i] = fmin(1, fmax(0, mu));
            /* Keep some exploration on the new dataset. */
            q->sigma[i] = fmin(RL_SIGMA_MAX, fmax(2 * RL_SIGMA_MIN, sg));
        }
    }
    json_decref(root);
    return st;
}
