/* Unit tests for src/agents: decision spaces (parsing, sampling, conditions, points as JSON)
 * and the search policies (random, TPE, RL) on synthetic objectives with known optima. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agentrec.h"
#include "agents/agents_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *SPACE =
    "[{\"name\": \"x\", \"type\": \"float\", \"low\": 0, \"high\": 1, \"default\": 0.5},"
    " {\"name\": \"lr\", \"type\": \"logfloat\", \"low\": 0.0001, \"high\": 1},"
    " {\"name\": \"k\", \"type\": \"int\", \"low\": 1, \"high\": 100, \"default\": 10},"
    " {\"name\": \"kind\", \"type\": \"categorical\", \"choices\": [\"a\", \"b\", \"c\"]},"
    " {\"name\": \"y\", \"type\": \"float\", \"low\": 0, \"high\": 1,"
    "  \"condition\": {\"param\": \"kind\", \"in\": [\"b\"]}},"
    " {\"name\": \"flag\", \"type\": \"bool\", \"default\": true}]";

static ar_space *space(void) {
    ar_space *s;
    ar_error err;
    assert_int_equal(ar_space_parse(SPACE, &s, &err), AR_OK);
    return s;
}

static void test_parse_errors(void **state) {
    (void)state;
    ar_space *s;
    ar_error err;
    struct {
        const char *json, *where;
    } cases[] = {
        {"{}", "expected a JSON array"},
        {"[{\"name\": \"a\", \"type\": \"weird\"}]", "space[0].type"},
        {"[{\"name\": \"a\", \"type\": \"float\", \"low\": 2, \"high\": 1}]", "space[0].high"},
        {"[{\"name\": \"a\", \"type\": \"logfloat\", \"low\": 0, \"high\": 1}]", "space[0].low"},
        {"[{\"name\": \"a\", \"type\": \"int\", \"low\": 0.5, \"high\": 3}]", "space[0].low"},
        {"[{\"name\": \"a\", \"type\": \"categorical\", \"choices\": [\"x\", \"x\"]}]",
         "space[0].choices"},
        {"[{\"name\": \"a\", \"type\": \"float\", \"low\": 0, \"high\": 1, \"default\": 3}]",
         "space[0].default"},
        {"[{\"name\": \"a\", \"type\": \"bool\"}, {\"name\": \"a\", \"type\": \"bool\"}]",
         "space[1].name"},
        {"[{\"name\": \"y\", \"type\": \"bool\", \"condition\": {\"param\": \"z\", \"in\": "
         "[\"b\"]}}]",
         "space[0].condition.param"},
        {"[{\"name\": \"c\", \"type\": \"categorical\", \"choices\": [\"a\"]}, {\"name\": \"y\", "
         "\"type\": \"bool\", \"condition\": {\"param\": \"c\", \"in\": [\"q\"]}}]",
         "space[1].condition.in"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ar_status st = ar_space_parse(cases[k].json, &s, &err);
        assert_true(st == AR_EINVAL || st == AR_EPARSE);
        assert_null(s);
        if (!strstr(err.msg, cases[k].where))
            fail_msg("case %zu: '%s' lacks '%s'", k, err.msg, cases[k].where);
    }
}

static void test_sample_and_points(void **state) {
    (void)state;
    ar_space *s = space();
    assert_int_equal(ar_space_n_params(s), 6);
    assert_string_equal(ar_space_param_name(s, 4), "y");
    ar_point p;
    ar_space_default(s, &p);
    assert_true(p.v[0] == 0.5 && p.v[2] == 10 && p.v[3] == 0 && p.v[5] == 1);
    assert_false(p.active[4]);                /* y exists only for kind = b */
    assert_true(fabs(p.v[1] - 0.01) < 1e-12); /* logfloat default: geometric midpoint */
    char *j = ar_space_point_json(s, &p);
    assert_non_null(strstr(j, "\"kind\":\"a\""));
    assert_null(strstr(j, "\"y\""));
    ar_free_array(j);

    ar_rng rng;
    ar_rng_seed(&rng, 1);
    int seen_b = 0, k_hist[2] = {0};
    for (int t = 0; t < 2000; t++) {
        ar_space_sample(s, &rng, &p);
        assert_true(p.v[0] >= 0 && p.v[0] <= 1);
        assert_true(p.v[1] >= 1e-4 && p.v[1] <= 1);
        assert_true(p.v[2] >= 1 && p.v[2] <= 100 && p.v[2] == floor(p.v[2]));
        assert_int_equal(p.active[4], p.v[3] == 1);
        seen_b += p.v[3] == 1;
        k_hist[p.v[1] < 0.01]++; /* log-uniform: half the mass below the geometric midpoint */
        /* Every point survives a JSON round trip. */
        char *pj = ar_space_point_json(s, &p);
        ar_point q;
        ar_error err;
        assert_int_equal(ar_space_point_parse(s, pj, &q, &err), AR_OK);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(q.active[i], p.active[i]);
            if (p.active[i])
                assert_true(fabs(q.v[i] - p.v[i]) <= 1e-9 * fmax(1, fabs(p.v[i])));
        }
        ar_free_array(pj);
    }
    assert_true(seen_b > 550 && seen_b < 780);
    assert_true(k_hist[1] > 850 && k_hist[1] < 1150);

    ar_error err;
    assert_int_equal(ar_space_point_parse(s, "{\"k\": 1000}", &p, &err), AR_ERANGE);
    assert_non_null(strstr(err.msg, "point.k"));
    assert_int_equal(ar_space_point_parse(s, "{\"kind\": \"z\"}", &p, &err), AR_EINVAL);
    assert_int_equal(ar_space_point_parse(s, "{\"nope\": 1}", &p, &err), AR_ENOTFOUND);
    assert_int_equal(ar_space_point_parse(s, "{\"kind\": \"b\", \"y\": 0.25}", &p, &err), AR_OK);
    assert_true(p.active[4] && p.v[4] == 0.25);
    ar_space_free(s);
}

static void test_log_int(void **state) {
    (void)state;
    ar_space *s;
    ar_error err;
    assert_int_equal(
        ar_space_parse("[{\"name\": \"f\", \"type\": \"int\", \"low\": 8, \"high\": 1024, "
                       "\"log\": true}]",
                       &s, &err),
        AR_OK);
    ar_point p;
    ar_space_default(s, &p);
    assert_true(p.v[0] == 90); /* floor of the geometric midpoint sqrt(8 * 1024) */
    ar_rng rng;
    ar_rng_seed(&rng, 3);
    int below = 0, seen_lo = 0, seen_hi = 0; /* the top cell [1024, 1025) is tiny: >= 1000 */
    for (int t = 0; t < 4000; t++) {
        ar_space_sample(s, &rng, &p);
        assert_true(p.v[0] >= 8 && p.v[0] <= 1024 && p.v[0] == floor(p.v[0]));
        below += p.v[0] < 91;
        seen_lo |= p.v[0] == 8;
        seen_hi |= p.v[0] >= 1000;
    }
    /* Log-uniform: about half the mass below the geometric midpoint; both ends reachable. */
    assert_true(below > 1800 && below < 2200);
    assert_true(seen_lo && seen_hi);
    ar_space_free(s);
    assert_int_equal(ar_space_parse("[{\"name\": \"f\", \"type\": \"float\", \"low\": 1, "
                                    "\"high\": 2, \"log\": true}]",
                                    &s, &err),
                     AR_EINVAL);
    assert_non_null(strstr(err.msg, "space[0].log"));
    assert_int_equal(ar_space_parse("[{\"name\": \"f\", \"type\": \"int\", \"low\": 0, "
                                    "\"high\": 2, \"log\": true}]",
                                    &s, &err),
                     AR_EINVAL);
}

static void test_space_of_model(void **state) {
    (void)state;
    ar_model *m;
    assert_int_equal(ar_model_create("mostpop", &m), AR_OK);
    ar_space *s;
    ar_error err;
    assert_int_equal(ar_space_of_model(m, &s, &err), AR_OK);
    assert_int_equal(ar_space_n_params(s), ar_model_n_params(m));
    ar_point p;
    ar_space_default(s, &p);
    char *j = ar_space_point_json(s, &p);
    /* A point of the model's space is a valid parameter object for the model. */
    assert_int_equal(ar_model_set_json(m, j, &err), AR_OK);
    ar_free_array(j);
    ar_space_free(s);
    ar_model_free(m);
}

/* A smooth objective with its optimum at x = 0.7, lr = 0.01, k = 60, kind = b, y = 0.3;
 * points with flag = false and x < 0.2 "crash" (NAN). */
static double objective(const ar_point *p) {
    if (p->v[5] == 0 && p->v[0] < 0.2)
        return NAN;
    double f = -(p->v[0] - 0.7) * (p->v[0] - 0.7) - pow(log10(p->v[1]) + 2, 2) / 8 -
               pow((p->v[2] - 60) / 100, 2);
    if (p->v[3] == 1)
        f += 0.3 - (p->v[4] - 0.3) * (p->v[4] - 0.3);
    return f;
}

static double run(ar_search_kind kind, uint64_t seed, int budget, const char *warm,
                  char **state_out, double *first_mean) {
    ar_space *s = space();
    ar_search *q;
    assert_int_equal(ar_search_create(s, kind, seed, &q), AR_OK);
    ar_error err;
    if (warm)
        assert_int_equal(ar_search_load_state(q, warm, &err), AR_OK);
    double sum_first = 0;
    for (int t = 0; t < budget; t++) {
        ar_point p;
        assert_int_equal(ar_search_propose(q, &p), AR_OK);
        double r = objective(&p);
        if (t < 10)
            sum_first += isnan(r) ? -2 : r;
        assert_int_equal(ar_search_observe(q, &p, r), AR_OK);
    }
    if (first_mean)
        *first_mean = sum_first / 10;
    assert_int_equal(ar_search_n_observed(q), budget);
    ar_point best;
    double r;
    assert_int_equal(ar_search_best(q, &best, &r), AR_OK);
    if (state_out)
        *state_out = ar_search_state_json(q);
    ar_search_free(q);
    ar_space_free(s);
    return r;
}

static void test_policies_beat_random(void **state) {
    (void)state;
    double mean[3] = {0};
    const int seeds = 8, budget = 60;
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 1; seed <= (uint64_t)seeds; seed++)
            mean[k] += run((ar_search_kind)k, seed, budget, NULL, NULL, NULL) / seeds;
    print_message("mean best reward over %d seeds, %d trials: random %.4f tpe %.4f rl %.4f\n",
                  seeds, budget, mean[0], mean[1], mean[2]);
    assert_true(mean[AR_SEARCH_TPE] > mean[AR_SEARCH_RANDOM]);
    assert_true(mean[AR_SEARCH_RL] > mean[AR_SEARCH_RANDOM]);
    /* Same seed, same proposals. */
    assert_true(run(AR_SEARCH_TPE, 3, 30, NULL, NULL, NULL) ==
                run(AR_SEARCH_TPE, 3, 30, NULL, NULL, NULL));
}

static void test_rl_warm_start(void **state) {
    (void)state;
    char *st = NULL;
    /* The donor search runs long enough to find the best arm (kind = b), which 80 trials did
     * not on this seed: a warm start can only pass on what the donor learned. */
    run(AR_SEARCH_RL, 11, 200, NULL, &st, NULL);
    assert_non_null(st);
    assert_non_null(strstr(st, "\"arms\""));
    double cold = 0, warm = 0, m;
    for (uint64_t seed = 20; seed < 26; seed++) {
        run(AR_SEARCH_RL, seed, 10, NULL, NULL, &m);
        cold += m;
        run(AR_SEARCH_RL, seed, 10, st, NULL, &m);
        warm += m;
    }
    print_message("mean reward of the first 10 proposals: cold %.4f warm %.4f\n", cold / 6,
                  warm / 6);
    assert_true(warm > cold);
    /* Bad states are refused with a message. */
    ar_space *s = space();
    ar_search *q;
    ar_error err;
    assert_int_equal(ar_search_create(s, AR_SEARCH_RL, 1, &q), AR_OK);
    assert_int_equal(ar_search_load_state(q, "[]", &err), AR_EPARSE);
    assert_int_equal(
        ar_search_load_state(q, "{\"arms\": {\"param\": \"kind\", \"alpha\": [1]}}", &err),
        AR_EINVAL);
    assert_non_null(strstr(err.msg, "arms.alpha"));
    assert_int_equal(ar_search_load_state(q, "{\"observations\": 3}", &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "observations"));
    ar_search_free(q);
    ar_space_free(s);
    ar_free_array(st);
}

static void test_kind_parse(void **state) {
    (void)state;
    assert_int_equal(ar_search_kind_parse("rl"), AR_SEARCH_RL);
    assert_int_equal(ar_search_kind_parse("tpe"), AR_SEARCH_TPE);
    assert_int_equal(ar_search_kind_parse("random"), AR_SEARCH_RANDOM);
    assert_int_equal(ar_search_kind_parse("grid"), -1);
}

/* Candidates with true quality q[i]; a low-fidelity score is q plus noise that shrinks as
 * fidelity grows; candidate 5 fails (NAN) at every fidelity. */
typedef struct hv {
    double q[27];
    int calls_full;
    ar_rng rng;
} hv;

static ar_status hv_eval(void *ctx, int i, double f, double *r) {
    hv *h = ctx;
    if (i == 5) {
        *r = NAN;
        return AR_OK;
    }
    if (i == 6)
        return AR_EIO; /* a crashed trial */
    *r = h->q[i] + (1 - f) * 0.05 * (ar_rng_uniform(&h->rng) - 0.5);
    h->calls_full += f == 1;
    return AR_OK;
}

static ar_status fail_eval(void *ctx, int i, double f, double *r) {
    (void)ctx, (void)i, (void)f;
    *r = NAN;
    return AR_OK;
}

static void test_successive_halving(void **state) {
    (void)state;
    hv h = {.calls_full = 0};
    ar_rng_seed(&h.rng, 4);
    for (int i = 0; i < 27; i++)
        h.q[i] = (double)((i * 7) % 27) / 27.0; /* a permutation of 0..26/27 */
    ar_halving_result r;
    assert_int_equal(ar_successive_halving(27, 1.0 / 9, 3, hv_eval, &h, &r), AR_OK);
    /* The best is i with (7 i) mod 27 = 26, i.e. i = 23. Rungs: 27 at 1/9, 9 at 1/3, 3 at 1. */
    assert_int_equal(r.best, 23);
    assert_true(fabs(r.best_reward - 26.0 / 27) < 1e-12);
    assert_int_equal(r.evaluations, 27 + 9 + 3);
    assert_true(fabs(r.cost - (27.0 / 9 + 9.0 / 3 + 3)) < 1e-9);
    assert_int_equal(h.calls_full, 3);
    /* Far cheaper than evaluating everything at full fidelity (27). */
    assert_true(r.cost < 10);
    assert_int_equal(ar_successive_halving(0, 0.5, 3, hv_eval, &h, &r), AR_EINVAL);
    assert_int_equal(ar_successive_halving(3, 0, 3, hv_eval, &h, &r), AR_EINVAL);
    assert_int_equal(ar_successive_halving(3, 0.5, 1, hv_eval, &h, &r), AR_EINVAL);
    /* A single candidate goes straight to full fidelity. */
    assert_int_equal(ar_successive_halving(1, 0.1, 3, hv_eval, &h, &r), AR_OK);
    assert_int_equal(r.best, 0);
    assert_int_equal(r.evaluations, 1);
    /* Only failing candidates: no winner. */
    assert_int_equal(ar_successive_halving(1, 1, 3, fail_eval, &h, &r), AR_OK);
    assert_int_equal(r.best, -1);
}

/* An arm with one numeric parameter (EASE's lambda), its peak at log10(lambda) = peak (a
 * flat-topped parabola), pop worse than most. Runs `trials` trials of the arm for each of 16
 * seeds, warm-started from a past session whose peak was at donor_peak unless that is NAN, and
 * returns the mean distance (decades) from the peak to the closest. biased: each point is
 * also observed at fidelity 0.25 with a reward that grows with lambda (another sample of
 * users), through ar_search_observe_at when aware, else as if it were a full evaluation;
 * biased == 2: every point at 0.25, every second one (the promoted) also in full. */
static double one_parameter_gap_from(ar_search_kind kind, double peak, int biased, int aware,
                                     double donor_peak, int trials) {
    const char *json =
        "[{\"name\": \"model\", \"type\": \"categorical\", \"choices\": [\"ease\", \"pop\"]},"
        " {\"name\": \"ease.lambda\", \"type\": \"logfloat\", \"low\": 1, \"high\": 10000,"
        "  \"default\": 300, \"condition\": {\"param\": \"model\", \"in\": [\"ease\"]}}]";
    ar_space *s;
    ar_error err;
    assert_int_equal(ar_space_parse(json, &s, &err), AR_OK);
    double gap = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        ar_search *q;
        assert_int_equal(ar_search_create(s, kind, seed, &q), AR_OK);
        if (!isnan(donor_peak)) { /* a past dataset's session, its best point at donor_peak */
            char state[512];
            snprintf(state, sizeof state,
                     "{\"kind\": \"rl\", \"arms\": {\"param\": \"model\", \"alpha\": [5, 1],"
                     " \"beta\": [3, 4]}, \"observations\": ["
                     "{\"point\": {\"model\": \"ease\", \"ease.lambda\": %g}, \"reward\": 0},"
                     "{\"point\": {\"model\": \"ease\", \"ease.lambda\": %g}, \"reward\": -1},"
                     "{\"point\": {\"model\": \"pop\"}, \"reward\": -4}]}",
                     pow(10, donor_peak), pow(10, donor_peak + 1));
            assert_int_equal(ar_search_load_state(q, state, &err), AR_OK);
        }
        double closest = 10;
        for (int t = 0, ease = 0; ease < trials && t < 200; t++) {
            ar_point p;
            assert_int_equal(ar_search_propose(q, &p), AR_OK);
            double r = -4;
            if (p.v[0] == 0) {
                double d = log10(p.v[1]) - peak;
                r = -d * d;
                closest = fmin(closest, fabs(d));
                ease++;
                if (biased) {
                    double low = r + 0.5 * log10(p.v[1]);
                    assert_int_equal(aware ? ar_search_observe_at(q, &p, low, 0.25)
                                           : ar_search_observe(q, &p, low),
                                     AR_OK);
                }
            }
            if (biased < 2 || p.v[0] != 0 || ease % 2 == 0)
                assert_int_equal(ar_search_observe(q, &p, r), AR_OK);
        }
        gap += closest / 16;
        ar_search_free(q);
    }
    ar_space_free(s);
    return gap;
}

static double one_parameter_gap(ar_search_kind kind, double peak, int biased, int aware) {
    return one_parameter_gap_from(kind, peak, biased, aware, NAN, 8);
}

/* After the default and two other points the RL policy proposes the vertex of the parabola
 * through the best point and its neighbours (or a golden-section point between them), or steps
 * outward past the best when it is at an end, so it gets near the peak in a few trials -- also
 * when the peak lies outside the first points' span; TPE's densities propose near the best
 * points. Rewards at a lower fidelity
 * (another sample) do not pull the parabola off the full evaluations' peak, also when most
 * points have only those. */
static void test_rl_one_parameter_arm(void **state) {
    (void)state;
    static const double peaks[] = {1.7, 0.5, 3.7};
    double tpe = 0, rl = 0;
    for (int i = 0; i < 3; i++) {
        double t = one_parameter_gap(AR_SEARCH_TPE, peaks[i], 0, 0);
        double r = one_parameter_gap(AR_SEARCH_RL, peaks[i], 0, 0);
        print_message("one-parameter arm, peak at 10^%.1f, 8 trials of it: mean distance to the "
                      "peak (decades) tpe %.3f rl %.3f\n",
                      peaks[i], t, r);
        assert_true(r < 0.15);
        tpe += t, rl += r;
    }
    assert_true(rl < tpe);
    double aware = one_parameter_gap(AR_SEARCH_RL, 1.7, 1, 1);
    double unaware = one_parameter_gap(AR_SEARCH_RL, 1.7, 1, 0);
    print_message("with biased low-fidelity rewards: rl %.3f (fidelity-aware) vs %.3f\n", aware,
                  unaware);
    assert_true(aware < unaware);
    assert_true(aware < 0.15);
    /* Most points seen at the low fidelity only, as successive halving leaves them: once three
     * were evaluated in full, those decide. */
    double promoted = one_parameter_gap(AR_SEARCH_RL, 1.7, 2, 1);
    print_message("with half the points at the biased low fidelity only: rl %.3f\n", promoted);
    assert_true(promoted < 0.07); /* 0.097 when the level with the most points decided */
    /* Warm-started from a past dataset whose peak was 1.3 decades lower (or higher), 5 trials
     * of the arm: it starts at the past best and brackets outward from it, instead of
     * sampling around it. */
    double up = one_parameter_gap_from(AR_SEARCH_RL, 3.0, 0, 0, 1.7, 5);
    double down = one_parameter_gap_from(AR_SEARCH_RL, 1.7, 0, 0, 3.0, 5);
    print_message("warm-started from a peak 1.3 decades off, 5 trials: rl %.3f (peak above), "
                  "%.3f (below)\n",
                  up, down);
    assert_true(up + down < 0.35); /* 0.477 when the arm sampled around the past best */
    ar_search *q;
    ar_space *s = space();
    assert_int_equal(ar_search_create(s, AR_SEARCH_RL, 1, &q), AR_OK);
    ar_point p;
    assert_int_equal(ar_search_propose(q, &p), AR_OK);
    assert_int_equal(ar_search_observe_at(q, &p, 0.5, 0), AR_EINVAL);
    assert_int_equal(ar_search_observe_at(q, &p, 0.5, 1.5), AR_EINVAL);
    ar_search_free(q);
    ar_space_free(s);
}

/* A warm start on a new dataset where the past dataset's favourite arm (pop1) is not the best:
 * the transferred configurations -- EASE at the past best lambda, 1.3 decades from the new peak,
 * and the pop arms -- are evaluated first, then `trials` proposals follow, in batches of 4
 * whose first comes from the incumbent's arm when `incumbent` is set (as AutoTrain does after
 * a warm start). Returns the mean over 16 seeds of the closest distance (decades) to EASE's
 * peak and the share of proposals that went to EASE, the incumbent's arm. */
static double warm_incumbent_gap(int trials, int incumbent, double *ease_share) {
    const char *json =
        "[{\"name\": \"model\", \"type\": \"categorical\","
        "  \"choices\": [\"ease\", \"pop1\", \"pop2\", \"pop3\", \"pop4\", \"pop5\"]},"
        " {\"name\": \"ease.lambda\", \"type\": \"logfloat\", \"low\": 1, \"high\": 10000,"
        "  \"default\": 300, \"condition\": {\"param\": \"model\", \"in\": [\"ease\"]}}]";
    const char *state =
        "{\"kind\": \"rl\", \"arms\": {\"param\": \"model\", \"alpha\": [1, 3, 1, 1, 1, 1],"
        " \"beta\": [6, 5, 8, 8, 8, 8]}, \"observations\": ["
        "{\"point\": {\"model\": \"pop1\"}, \"reward\": 1},"
        "{\"point\": {\"model\": \"ease\", \"ease.lambda\": 50}, \"reward\": 0.5}]}";
    const double peak = 3.0, start = log10(50);
    ar_space *s;
    ar_error err;
    assert_int_equal(ar_space_parse(json, &s, &err), AR_OK);
    double gap = 0, share = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        ar_search *q;
        assert_int_equal(ar_search_create(s, AR_SEARCH_RL, seed, &q), AR_OK);
        assert_int_equal(ar_search_load_state(q, state, &err), AR_OK);
        /* The transferred batch, the past favourite first: EASE at the past best beats every
         * pop arm here. */
        for (int k = 1; k <= 6; k++) {
            int arm = k % 6;
            char pj[96];
            snprintf(pj, sizeof pj,
                     arm ? "{\"model\": \"pop%d\"}" : "{\"model\": \"ease\", \"ease.lambda\": 50}",
                     arm);
            ar_point p;
            assert_int_equal(ar_space_point_parse(s, pj, &p, &err), AR_OK);
            double d = start - peak;
            assert_int_equal(ar_search_observe(q, &p, arm ? -2 - 0.1 * arm : -d * d), AR_OK);
        }
        double closest = peak - start;
        for (int t = 0; t < trials; t++) {
            ar_point p, best;
            double top;
            assert_int_equal(ar_search_best(q, &best, &top), AR_OK);
            assert_int_equal(incumbent && t % 4 == 0 ? ar_search_propose_arm(q, &best, &p)
                                                     : ar_search_propose(q, &p),
                             AR_OK);
            double r = -2 - 0.1 * p.v[0];
            if (p.v[0] == 0) {
                double d = log10(p.v[1]) - peak;
                r = -d * d;
                closest = fmin(closest, fabs(d));
                share += 1.0 / trials / 16;
            }
            assert_int_equal(ar_search_observe(q, &p, r), AR_OK);
        }
        gap += closest / 16;
        ar_search_free(q);
    }
    ar_space_free(s);
    *ease_share = share;
    return gap;
}

static void test_rl_warm_incumbent(void **state) {
    (void)state;
    double share, gap = warm_incumbent_gap(12, 0, &share), share_inc,
                  gap_inc = warm_incumbent_gap(12, 1, &share_inc);
    print_message("warm-started, the incumbent's arm 1.3 decades from its peak, 12 trials: "
                  "distance %.3f decades (%.2f of the proposals in its arm) from the policy "
                  "alone, %.3f (%.2f) with one proposal of each batch in it\n",
                  gap, share, gap_inc, share_inc);
    assert_true(share_inc > share + 0.1);
    assert_true(gap_inc < 0.75 * gap);
    /* The other policies have no arms to choose: they propose as usual. */
    ar_space *s = space();
    ar_search *q;
    assert_int_equal(ar_search_create(s, AR_SEARCH_RANDOM, 1, &q), AR_OK);
    ar_point p, like;
    ar_space_default(s, &like);
    assert_int_equal(ar_search_propose_arm(q, &like, &p), AR_OK);
    ar_search_free(q);
    ar_space_free(s);
}

/* The cost model: seconds = fixed part + rate x work once the work has varied, through the
 * origin before, the mean when the work never varies (EASE); a candidate is priced by its
 * work, so ten times the work of the past fits costs about ten times their variable part. */
static void test_cost_model(void **state) {
    (void)state;
    ar__cost c = {0};
    assert_true(isnan(ar__cost_predict(&c, 1)));
    ar__cost_add(&c, 100, 12);
    assert_true(fabs(ar__cost_predict(&c, 1000) - 120) < 1e-9); /* one fit: a pure rate */
    assert_true(fabs(ar__cost_predict(&c, NAN) - 12) < 1e-9);
    ar__cost_add(&c, 300, 22); /* 7 s fixed + 0.05 s per unit */
    assert_true(fabs(ar__cost_predict(&c, 1000) - 57) < 1e-9);
    assert_true(fabs(ar__cost_predict(&c, 0) - 7) < 1e-9);
    ar__cost_add(&c, 200, 17);
    assert_true(fabs(ar__cost_predict(&c, 2000) - 107) < 1e-6);
    /* work that grows while seconds shrink (noise): no negative rate, the ratio instead */
    ar__cost d = {0};
    ar__cost_add(&d, 100, 20);
    ar__cost_add(&d, 200, 10);
    assert_true(fabs(ar__cost_predict(&d, 300) - 30) < 1e-9);
    /* constant work (EASE at any fidelity): the mean */
    ar__cost e = {0};
    ar__cost_add(&e, 5e12, 200);
    ar__cost_add(&e, 5e12, 240);
    assert_true(fabs(ar__cost_predict(&e, 5e12) - 220) < 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),         cmocka_unit_test(test_sample_and_points),
        cmocka_unit_test(test_space_of_model),       cmocka_unit_test(test_policies_beat_random),
        cmocka_unit_test(test_rl_warm_start),        cmocka_unit_test(test_successive_halving),
        cmocka_unit_test(test_kind_parse),           cmocka_unit_test(test_log_int),
        cmocka_unit_test(test_rl_one_parameter_arm), cmocka_unit_test(test_cost_model),
        cmocka_unit_test(test_rl_warm_incumbent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
