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
 * RL: a two-level policy. The arm parameter -- the first unconditional discrete parameter that
 * others are conditional on, e.g. the model family -- is a bandit arm chosen by Thompson
 * sampling (Thompson 1933; Chapelle & Li 2011) from a Beta posterior of the probability that a
 * trial of the arm beats the best reward found so far (by a twentieth of the rewards' spread):
 * a search is judged by the best it finds (the "max k-armed bandit", Cicirello & Smith 2005), so
 * a family on a plateau -- however good -- stops earning successes and cedes its draws to the
 * families still able to set a new best, while the arms that keep setting one are drawn more.
 * Within the chosen arm, the other parameters come from TPE fitted on that arm's observations
 * only, so each family learns its own good region. An arm's first trial takes the space's
 * defaults (as SMAC starts from the default configuration: a curated space's defaults are
 * prior knowledge); until the arm has RL_ARM_STARTUP trials the rest are uniform, or near the
 * past dataset's best of the arm when the search was warm-started. An arm with a single
 * numeric parameter (EASE's lambda) first tries the vertex of a parabola through its three
 * best points (successive parabolic interpolation); warm-started, it steps outward from its own
 * best after its first point (near the past best). A share RL_EXPLORE of the draws is uniform
 * over the whole space.
 *
 * What transfers to a new dataset (ar_search_state_json / ar_search_load_state) is the arms'
 * posteriors, shrunk to a prior worth RL_TRANSFER trials, and the observations with their
 * rewards as ranks.
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_STARTUP 8
#define GAMMA 0.25
#define N_EI_CANDIDATES 24
/* Share of RL proposals drawn uniformly over the whole space: keeps what random search finds
 * within the policy's reach. */
#define RL_EXPLORE 0.25
#define RL_ARM_STARTUP 4 /* an arm's trials before TPE proposes its parameters */
#define RL_TRANSFER 8.0  /* trials a transferred arm posterior is worth */

typedef struct obs {
    ar_point p;
    double reward;   /* NAN = failed */
    double fidelity; /* what the reward was measured at, (0, 1] */
} obs;

struct ar_search {
    const ar_space *s;
    ar_search_kind kind;
    ar_rng rng;
    obs *o;
    size_t n, cap;
    /* RL policy */
    int arm;    /* the arm parameter, -1 = none (one arm) */
    obs *prior; /* transferred observations, rewards as ranks in [0, 1] */
    size_t n_prior;
    double arm_a[64], arm_b[64]; /* Beta(1 + new bests, 1 + other trials) per arm */
};

int ar_search_kind_parse(const char *name) {
    static const char *const names[] = {"random", "tpe", "rl"};
    for (int k = 0; k < 3; k++)
        if (strcmp(name, names[k]) == 0)
            return k;
    return -1;
}

/* The first unconditional discrete parameter that some other parameter depends on. */
static int find_arm(const ar_space *s) {
    for (int i = 0; i < s->n; i++) {
        if (s->p[i].cond_param >= 0 || !ar__is_discrete(&s->p[i]))
            continue;
        for (int j = 0; j < s->n; j++)
            if (s->p[j].cond_param == i)
                return i;
    }
    return -1;
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
    q->arm = find_arm(s);
    for (int c = 0; c < 64; c++)
        q->arm_a[c] = q->arm_b[c] = 1;
    *out = q;
    return AR_OK;
}

void ar_search_free(ar_search *q) {
    if (!q)
        return;
    ar__free(q->o);
    ar__free(q->prior);
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

/* Gamma(a, 1) for a >= 1 (Marsaglia & Tsang 2000). */
static double gamma_draw(ar_rng *rng, double a) {
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = gauss(rng), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - ar_rng_uniform(rng);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

/* Thompson sampling: the arm whose draw from its Beta posterior is highest. */
static int rl_pick_arm(ar_search *q) {
    int L = ar__n_levels(&q->s->p[q->arm]), pick = 0;
    double top = -1;
    for (int c = 0; c < L; c++) {
        double x = gamma_draw(&q->rng, q->arm_a[c]), y = gamma_draw(&q->rng, q->arm_b[c]);
        if (x / (x + y) > top) {
            top = x / (x + y);
            pick = c;
        }
    }
    return pick;
}

/* The arm posterior's update for the newest observation o[n - 1]: did it beat the best before
 * it by a twentieth of the rewards' standard deviation? (The first success always does.) */
static void rl_observe(ar_search *q) {
    const obs *o = &q->o[q->n - 1];
    int c = (int)o->p.v[q->arm];
    double best = -INFINITY, sum = 0, sum2 = 0;
    int m = 0;
    for (size_t k = 0; k + 1 < q->n; k++)
        if (!isnan(q->o[k].reward)) {
            best = fmax(best, q->o[k].reward);
            sum += q->o[k].reward;
            sum2 += q->o[k].reward * q->o[k].reward;
            m++;
        }
    double mean = m ? sum / m : 0, sd = m > 1 ? sqrt(fmax(0, sum2 / m - mean * mean)) : 0;
    if (!isnan(o->reward) && (m == 0 || o->reward > best + 0.05 * sd))
        q->arm_a[c] += 1;
    else
        q->arm_b[c] += 1;
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

/* TPE over the observations o[0..n) (n >= 1). */
static ar_status tpe_propose(ar_search *q, const obs *o, size_t n, ar_point *pt) {
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
        r[k] = isnan(o[k].reward) ? fail : o[k].reward;
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
            if (!o[k].p.active[i])
                continue;
            double v = ar__is_discrete(p) ? o[k].p.v[i] : ar__to_unit(p, o[k].p.v[i]);
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

/* -- RL: the proposal (see the top of the file) ------------------------------------------- */

/* A point near one of the best quarter of the transferred observations of arm c (mp of them;
 * q->prior is sorted by rank, best last): numeric coordinates move by N(0, 0.05) in unit space,
 * discrete ones stay. */
static void prior_propose(ar_search *q, int c, size_t mp, ar_point *pt) {
    size_t top = mp / 4 ? mp / 4 : 1, pick = (size_t)ar_rng_below(&q->rng, top), seen = 0;
    for (size_t k = q->n_prior; k-- > 0;) {
        if ((int)q->prior[k].p.v[q->arm] != c || seen++ < pick)
            continue;
        *pt = q->prior[k].p;
        break;
    }
    for (int i = 0; i < q->s->n; i++) {
        const ar__sparam *p = &q->s->p[i];
        if (pt->active[i] && !ar__is_discrete(p))
            pt->v[i] = ar__from_unit(
                p, fmin(1, fmax(0, ar__to_unit(p, pt->v[i]) + 0.05 * gauss(&q->rng))));
    }
}

/* An arm with a single numeric parameter (EASE's lambda) is a one-dimensional search, which
 * Brent's method does better than TPE (whose densities propose near the best points, not
 * between two good ones). It works on the unit scale with the points of one fidelity, the
 * highest with three distinct points (mixing fidelities would not do: a quarter of the users is
 * another sample, off by more than neighbouring lambdas differ, and the full evaluation is the
 * one that decides, so its points are used as soon as they can make a parabola). With
 * the best point b and its nearest neighbours a < b < c it proposes the vertex of the parabola
 * through them (successive parabolic interpolation), or, when that was tried (within
 * PARABOLA_GAP), the golden-section point of the larger of [a, b] and [b, c]; when b has a
 * neighbour on one side only, the peak is beyond it and the step goes outward by the golden
 * ratio times its distance to that neighbour (bracketing, Numerical Recipes' mnbrak), at least
 * MIN_STEP (two close points must not make it crawl), inside the range. Nothing is proposed
 * (returns 0) within PARABOLA_GAP of any observation of the arm: converged. */
#define PARABOLA_GAP 0.005
#define GOLDEN 1.618034
#define MIN_STEP 0.1 /* the smallest outward step: a tenth of the range (0.4 decades of lambda) */

/* The observations of dim at fidelity fid: how many distinct points; the best (x[0], y[0],
 * *best) and its nearest neighbours below (x[1], y[1]) and above (x[2], y[2]), NAN when none. */
static int bracket(const ar_search *q, const obs *o, size_t n, int dim, double fid, double x[3],
                   double y[3], size_t *best) {
    int distinct = 0;
    x[0] = x[1] = x[2] = y[0] = y[1] = y[2] = NAN;
    for (size_t k = 0; k < n; k++) {
        if (isnan(o[k].reward) || !o[k].p.active[dim] || o[k].fidelity != fid)
            continue;
        double u = ar__to_unit(&q->s->p[dim], o[k].p.v[dim]);
        int seen = 0;
        for (size_t j = 0; j < k && !seen; j++)
            seen = !isnan(o[j].reward) && o[j].p.active[dim] && o[j].fidelity == fid &&
                   fabs(ar__to_unit(&q->s->p[dim], o[j].p.v[dim]) - u) < 1e-9;
        distinct += !seen;
        if (!(o[k].reward <= y[0])) /* also when y[0] is NAN */
            x[0] = u, y[0] = o[k].reward, *best = k;
    }
    for (size_t k = 0; distinct && k < n; k++) {
        if (isnan(o[k].reward) || !o[k].p.active[dim] || o[k].fidelity != fid)
            continue;
        double u = ar__to_unit(&q->s->p[dim], o[k].p.v[dim]), r = o[k].reward;
        int side = u < x[0] - 1e-9 ? 1 : u > x[0] + 1e-9 ? 2 : 0;
        if (!side)
            continue;
        double d = fabs(u - x[0]), dn = fabs(x[side] - x[0]);
        if (isnan(x[side]) || d < dn - 1e-9)
            x[side] = u, y[side] = r;
        else if (d < dn + 1e-9 && r > y[side])
            y[side] = r;
    }
    return distinct;
}

static int tried_near(const ar_search *q, const obs *o, size_t n, int dim, double v) {
    for (size_t k = 0; k < n; k++)
        if (o[k].p.active[dim] &&
            fabs(ar__to_unit(&q->s->p[dim], o[k].p.v[dim]) - v) < PARABOLA_GAP)
            return 1;
    return 0;
}

static int parabola_propose(ar_search *q, const obs *o, size_t n, int min_points, ar_point *pt) {
    int dim = -1;
    for (int i = 0; i < q->s->n; i++) {
        if (i == q->arm || !o[0].p.active[i])
            continue;
        if (dim >= 0 || ar__is_discrete(&q->s->p[i]))
            return 0;
        dim = i;
    }
    if (dim < 0)
        return 0;
    /* The highest fidelity with at least min_points distinct points. */
    double x[3], y[3];
    size_t best = 0;
    int found = 0;
    for (double f = 2; !found;) {
        double next = 0;
        for (size_t k = 0; k < n; k++)
            if (o[k].fidelity < f && o[k].fidelity > next)
                next = o[k].fidelity;
        if (!(next > 0))
            break;
        f = next;
        found = bracket(q, o, n, dim, f, x, y, &best) >= min_points;
    }
    if (!found)
        return 0;
    double v;
    if (!isnan(x[1]) && !isnan(x[2])) {
        /* y = a u^2 + b u + c through the three points: concave (the middle one is the best),
         * its vertex between the outer two */
        double d01 = (y[0] - y[1]) / (x[0] - x[1]), d02 = (y[0] - y[2]) / (x[0] - x[2]);
        double a = (d01 - d02) / (x[1] - x[2]), b = d01 - a * (x[0] + x[1]);
        v = a < 0 ? -b / (2 * a) : NAN;
        if (!(v > x[1] && v < x[2]) || tried_near(q, o, n, dim, v))
            v = x[2] - x[0] > x[0] - x[1] ? x[0] + (2 - GOLDEN) * (x[2] - x[0])
                                          : x[0] - (2 - GOLDEN) * (x[0] - x[1]);
    } else if (isnan(x[1]) && isnan(x[2])) { /* one point: a first step, either way */
        double dir = ar_rng_uniform(&q->rng) < 0.5 ? -1 : 1;
        v = x[0] + dir * MIN_STEP;
        if (v < 0 || v > 1)
            v = x[0] - dir * MIN_STEP;
    } else {
        double near = isnan(x[1]) ? x[2] : x[1];
        double step = fmax(GOLDEN * fabs(x[0] - near), MIN_STEP);
        v = fmin(1, fmax(0, x[0] + (x[0] > near ? step : -step)));
    }
    if (tried_near(q, o, n, dim, v))
        return 0;
    *pt = o[best].p;
    pt->v[dim] = ar__from_unit(&q->s->p[dim], v);
    return 1;
}

/* A proposal within arm c. */
static ar_status rl_propose_in(ar_search *q, int c, ar_point *pt) {
    obs *sub = ar__alloc_array(q->n, sizeof *sub);
    if (!sub)
        return AR_ENOMEM;
    size_t m = 0, mp = 0;
    for (size_t k = 0; k < q->n; k++)
        if ((int)q->o[k].p.v[q->arm] == c)
            sub[m++] = q->o[k];
    for (size_t k = 0; m < RL_ARM_STARTUP && k < q->n_prior; k++)
        if ((int)q->prior[k].p.v[q->arm] == c)
            mp++;
    ar_status st = AR_OK;
    if (m >= 3 && parabola_propose(q, sub, m, 3, pt)) {
        /* between the best points of a one-parameter arm */
    } else if (m >= 1 && mp > 0 && parabola_propose(q, sub, m, 1, pt)) {
        /* warm-started: outward from the best of the new dataset's own points, which began
         * at the past dataset's best (a past dataset's optimum of a scale parameter such as
         * lambda is a start, not a neighbourhood: it moves with the data's size) */
    } else if (m >= RL_ARM_STARTUP) {
        st = tpe_propose(q, sub, m, pt);
    } else if (mp > 0) { /* near one of the past dataset's best of this arm */
        prior_propose(q, c, mp, pt);
    } else if (m == 0) { /* the space's default first, as SMAC starts from the default */
        ar_space_default(q->s, pt);
    } else {
        ar_space_sample(q->s, &q->rng, pt);
    }
    ar__free(sub);
    pt->v[q->arm] = c;
    ar_space_normalize(q->s, pt);
    return st;
}

static ar_status rl_propose(ar_search *q, ar_point *pt) {
    if (ar_rng_uniform(&q->rng) < RL_EXPLORE) {
        ar_space_sample(q->s, &q->rng, pt);
        return AR_OK;
    }
    if (q->arm < 0) {
        if (q->n < N_STARTUP) {
            ar_space_sample(q->s, &q->rng, pt);
            return AR_OK;
        }
        return tpe_propose(q, q->o, q->n, pt);
    }
    return rl_propose_in(q, rl_pick_arm(q), pt);
}

/* -- the interface ---------------------------------------------------------------------------- */

ar_status ar_search_propose(ar_search *q, ar_point *out) {
    size_t ok = 0;
    for (size_t k = 0; k < q->n; k++)
        ok += !isnan(q->o[k].reward);
    switch (q->kind) {
    case AR_SEARCH_TPE:
        if (ok >= N_STARTUP)
            return tpe_propose(q, q->o, q->n, out);
        break;
    case AR_SEARCH_RL:
        return rl_propose(q, out);
    case AR_SEARCH_RANDOM:
        break;
    }
    ar_space_sample(q->s, &q->rng, out);
    return AR_OK;
}

ar_status ar_search_propose_arm(ar_search *q, const ar_point *like, ar_point *out) {
    if (q->kind != AR_SEARCH_RL || q->arm < 0)
        return ar_search_propose(q, out);
    return rl_propose_in(q, (int)like->v[q->arm], out);
}

ar_status ar_search_observe(ar_search *q, const ar_point *p, double reward) {
    return ar_search_observe_at(q, p, reward, 1);
}

ar_status ar_search_observe_at(ar_search *q, const ar_point *p, double reward, double fidelity) {
    if (isinf(reward) || !(fidelity > 0 && fidelity <= 1))
        return AR_EINVAL;
    ar_status st = ar__grow((void **)&q->o, &q->cap, q->n + 1, sizeof *q->o);
    if (st)
        return st;
    q->o[q->n].p = *p;
    ar_space_normalize(q->s, &q->o[q->n].p);
    q->o[q->n].reward = reward;
    q->o[q->n].fidelity = fidelity;
    q->n++;
    if (q->kind == AR_SEARCH_RL && q->arm >= 0)
        rl_observe(q);
    return AR_OK;
}

/* State: {"kind": K,
 *         "arms": {"param": name, "alpha": [...], "beta": [...]} (when there is an arm),
 *         "observations": [{"point": {...}, "reward": r | null, "fidelity": f (if < 1)}]}. */
char *ar_search_state_json(const ar_search *q) {
    static const char *const kinds[] = {"random", "tpe", "rl"};
    json_t *root = json_object(), *obs_a = json_array();
    for (size_t k = 0; k < q->n; k++) {
        char *pj = ar_space_point_json(q->s, &q->o[k].p);
        json_error_t je;
        json_t *pt = pj ? json_loads(pj, 0, &je) : NULL;
        ar__free(pj);
        json_t *ob = json_pack("{s:o,s:o}", "point", pt ? pt : json_null(), "reward",
                               isnan(q->o[k].reward) ? json_null() : json_real(q->o[k].reward));
        if (q->o[k].fidelity < 1)
            json_object_set_new(ob, "fidelity", json_real(q->o[k].fidelity));
        json_array_append_new(obs_a, ob);
    }
    if (q->arm >= 0) {
        json_t *al = json_array(), *be = json_array();
        for (int c = 0; c < ar__n_levels(&q->s->p[q->arm]); c++) {
            json_array_append_new(al, json_real(q->arm_a[c]));
            json_array_append_new(be, json_real(q->arm_b[c]));
        }
        json_object_set_new(
            root, "arms",
            json_pack("{s:s,s:o,s:o}", "param", q->s->p[q->arm].name, "alpha", al, "beta", be));
    }
    json_object_set_new(root, "kind", json_string(kinds[q->kind]));
    json_object_set_new(root, "observations", obs_a);
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(root);
    char *out = text ? ar__strdup(text) : NULL;
    free(text);
    return out;
}

static int cmp_obs_reward(const void *a, const void *b) {
    double x = ((const obs *)a)->reward, y = ((const obs *)b)->reward;
    return (x > y) - (x < y);
}

/* What transfers from a past dataset: the arms' posteriors, shrunk to a prior worth
 * RL_TRANSFER trials (the new dataset gets to disagree quickly), and the observations, their
 * rewards replaced by their rank among that dataset's rewards in [0, 1], failures lowest
 * (another dataset's rewards have another scale). Points outside this space are skipped;
 * anything else malformed is refused. */
ar_status ar_search_load_state(ar_search *q, const char *text, ar_error *err) {
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return ar__fail(err, AR_EPARSE, "search state: expected a JSON object (%s)",
                        root ? "wrong shape" : je.text);
    }
    ar_status st = AR_OK;
    json_t *arms = json_object_get(root, "arms"), *obs_a = json_object_get(root, "observations");
    json_t *aa = json_object_get(arms, "alpha"), *ab = json_object_get(arms, "beta");
    const char *an = json_string_value(json_object_get(arms, "param"));
    if (arms && (!json_is_object(arms) || !an))
        st = ar__fail(err, AR_EINVAL, "search state: arms needs a \"param\" name");
    else if (obs_a && !json_is_array(obs_a))
        st = ar__fail(err, AR_EINVAL, "search state: observations must be an array");
    if (!st && q->arm >= 0 && an && strcmp(an, q->s->p[q->arm].name) == 0) {
        int L = ar__n_levels(&q->s->p[q->arm]);
        if (!json_is_array(aa) || !json_is_array(ab) || (int)json_array_size(aa) != L ||
            (int)json_array_size(ab) != L) {
            st = ar__fail(err, AR_EINVAL, "search state: arms.alpha and arms.beta need %d values",
                          L);
        } else {
            double tot = 0, x[64], y[64];
            for (int c = 0; c < L; c++) {
                x[c] = json_number_value(json_array_get(aa, (size_t)c)) - 1;
                y[c] = json_number_value(json_array_get(ab, (size_t)c)) - 1;
                x[c] = isfinite(x[c]) && x[c] > 0 ? x[c] : 0;
                y[c] = isfinite(y[c]) && y[c] > 0 ? y[c] : 0;
                tot += x[c] + y[c];
            }
            double f = tot > RL_TRANSFER ? RL_TRANSFER / tot : 1;
            for (int c = 0; c < L; c++) {
                q->arm_a[c] = 1 + f * x[c];
                q->arm_b[c] = 1 + f * y[c];
            }
        }
    }
    size_t n = json_array_size(obs_a), m = 0;
    obs *pr = !st && n ? ar__alloc_array(n, sizeof *pr) : NULL;
    if (!st && n && !pr)
        st = AR_ENOMEM;
    for (size_t k = 0; pr && k < n; k++) {
        json_t *o = json_array_get(obs_a, k), *r = json_object_get(o, "reward");
        char *pj = json_dumps(json_object_get(o, "point"), JSON_COMPACT);
        ar_error e2;
        if (pj && ar_space_point_parse(q->s, pj, &pr[m].p, &e2) == AR_OK) {
            pr[m].reward = json_is_number(r) ? json_number_value(r) : -INFINITY; /* failed */
            pr[m].fidelity = 1;
            m++;
        }
        free(pj);
    }
    if (pr && m) {
        qsort(pr, m, sizeof *pr, cmp_obs_reward);
        for (size_t k = 0; k < m; k++) /* ties keep distinct ranks: harmless for TPE */
            pr[k].reward = m > 1 ? (double)k / (double)(m - 1) : 1;
        ar__free(q->prior);
        q->prior = pr;
        q->n_prior = m;
        pr = NULL;
    }
    ar__free(pr);
    json_decref(root);
    return st;
}
