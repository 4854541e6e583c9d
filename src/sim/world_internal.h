/*
 * world_internal.h -- the retail world's structures, shared by the files of src/sim (not API).
 *
 * A config is parsed once into plain arrays (config.c); a world draws the catalogue and the
 * customers from it (world.c); a run holds what changes while days pass (simulate.c). Brands,
 * categories, collections, segments and rules are referred to by index everywhere.
 */
#ifndef AR_SIM_WORLD_INTERNAL_H
#define AR_SIM_WORLD_INTERNAL_H

#include "core/core.h"

#define W_NAME 64
#define W_MAX_ATTR_VALUES 16
#define W_HISTORY 20 /* items kept in a customer's recent history */
#define W_SEEN 32    /* recent impressions remembered for fatigue */
#define W_DAY 86400

enum { TIER_LUXURY = 0, TIER_PREMIUM, TIER_CONTEMPORARY, N_TIERS };
enum { POS_PBM = 0, POS_CASCADE = 1 };
enum { EV_TASTE_SHIFT = 0, EV_TREND, EV_PROMOTION };
enum { RULE_MAX_PER_BRAND = 0, RULE_NEVER_ADJACENT, RULE_EXCLUSIVE_SEGMENT, RULE_NO_DISCOUNT_TOP };

extern const char *const ar__world_tier_names[N_TIERS];

typedef struct wbrand {
    char name[W_NAME];
    int tier;
    double exclusivity, share;
} wbrand;

typedef struct wcategory {
    char name[W_NAME];
    double price_factor, share;
} wcategory;

typedef struct wcollection {
    char name[W_NAME];
    int launch_day;
    double share;
} wcollection;

typedef struct wtier {
    double price_median, price_sigma, margin;
} wtier;

typedef struct wsegment {
    char name[W_NAME];
    double share, visits_per_day, budget_median, budget_sigma, loyalty;
} wsegment;

typedef struct wevent {
    int type;
    int day, duration, ramp;
    int collection;            /* taste_shift: toward this collection's style */
    int dim;                   /* trend: the lifted style dimension */
    double strength;           /* taste_shift strength, trend lift */
    int brand, category, tier; /* promotion scope, -1 = any */
    double discount;
} wevent;

typedef struct wrule {
    int kind;
    int brand, brand2; /* -1 = every brand (max_per_brand, exclusive_segment) */
    int tier;          /* no_discount_top: -1 unless scoped by tier */
    int max;           /* max_per_brand */
    int segment;       /* exclusive_segment */
    int top;           /* no_discount_top */
} wrule;

typedef struct wbehaviour {
    int position_model;
    double position_decay, cascade_continue, cascade_stop_after_click;
    double click_base, style_weight, brand_weight, category_weight, quality_weight;
    double cart_base, cart_affinity, price_sensitivity, purchase_given_cart;
    double fatigue, taste_drift, new_item_boost;
    int new_days;
} wbehaviour;

struct ar_world_config {
    uint64_t seed;
    int days;
    int64_t start_time;
    int32_t customers, items;
    int slate_size, dims;
    int n_brands, n_categories, n_collections, n_segments, n_regions, n_events, n_rules;
    int n_colours, n_materials, lines_per_brand;
    wbrand brands[AR_WORLD_MAX_BRANDS];
    wcategory categories[AR_WORLD_MAX_CATEGORIES];
    wcollection collections[AR_WORLD_MAX_COLLECTIONS];
    wtier tiers[N_TIERS];
    char colours[W_MAX_ATTR_VALUES][W_NAME], materials[W_MAX_ATTR_VALUES][W_NAME];
    double stock_mean, markdown_share, markdown, brand_coherence, collection_coherence;
    double quality_sigma, brand_sigma, category_sigma;
    wsegment segments[AR_WORLD_MAX_SEGMENTS];
    char regions[AR_WORLD_MAX_REGIONS][W_NAME];
    wbehaviour b;
    wevent events[AR_WORLD_MAX_EVENTS];
    wrule rules[AR_WORLD_MAX_RULES];
};

/* The catalogue and the customers: immutable once created. Arrays are per item / per customer;
 * style vectors are row-major n x dims. */
struct ar_world {
    ar_world_config cfg;
    uint64_t seed;
    int32_t n_items, n_customers;
    int dims;
    /* items, sorted by launch time */
    int16_t *brand, *category, *collection, *colour, *material, *line;
    uint8_t *exclusive;
    float *price, *margin, *markdown, *quality, *style, *prior;
    int32_t *stock;
    int64_t *launch;
    char *item_ids; /* n_items x W_ID_LEN */
    /* customers */
    uint8_t *segment, *region;
    float *budget, *rate, *taste, *brand_aff, *cat_aff;
    char *customer_ids; /* n_customers x W_ID_LEN */
    float coll_style[AR_WORLD_MAX_COLLECTIONS][AR_WORLD_MAX_DIMS];
};

#define W_ID_LEN 16

/* The mutable state of one run. */
struct ar_world_run {
    const ar_world *w;
    int day;
    int64_t time0; /* start of the current day */
    int32_t n_candidates;
    int32_t *stock;
    int64_t *pop;
    int32_t *pop_order; /* candidates by popularity (ties: lower index), refreshed daily */
    double *pop_cum;    /* cumulative popularity weights along pop_order (0 when sold out) */
    int64_t head_min;   /* the popularity of the head's last item (top fifth), refreshed daily */
    float *taste;       /* drifting tastes, n_customers x dims */
    int32_t *history;   /* n_customers x W_HISTORY ring */
    uint8_t *n_hist, *hist_pos;
    int32_t *seen; /* n_customers x W_SEEN ring of recent impressions */
    uint8_t *seen_pos;
};

/* A run's state at the start of a day (ar_world_state_create): runs that start from it copy
 * run, which is never modified after creation. */
struct ar_world_state {
    const ar_world *w;
    int day;
    ar_world_run *run;
};

/* NULL when a run may start on start_day from state (NULL = the initial state), else why not. */
const char *ar__world_start_check(int start_day, const ar_world_state *state);

/* The effective discount of an item at time t (markdown or the best running promotion). */
double ar__world_discount(const ar_world *w, int32_t item, int64_t t);

/* Sums for a ratio estimator sum(x) / sum(y) over visits (y = 1 for plain means). */
typedef struct ar__wacc {
    double sx, sy, sxx, syy, sxy;
} ar__wacc;

#define AR__MAX_ARMS 2
/* Per-customer sums of an A/B run: (x, y) for each metric, then (reward, visits). */
#define AR__CUST_STRIDE (2 * AR_WM_N + 2)

/* The two-sided normal quantile of `confidence`. */
double ar__world_z(double confidence);
/* The ratio estimate sum(x) / sum(y) over n visits with its delta-method interval (z wide). */
ar_world_estimate ar__world_estimate(const ar__wacc *a, double n, double z);
/* One run of two policies side by side (simulate.c): customer c is served by pols[arm[c]];
 * guardrails always enforced; days first_day, first_day + 1, ... from start (NULL = the initial
 * state); max_visits over both arms. res, acc (raw sums per metric) and reward (sums of the
 * per-visit outer reward sum_m reward_w[m] x_m) per arm; cust (zeroed by the caller,
 * n_customers x AR__CUST_STRIDE, or NULL) gets each customer's sums. */
ar_status ar__world_simulate_ab(const ar_world *w, const ar_world_policy *const pols[2],
                                const uint8_t *arm, int first_day, const ar_world_state *start,
                                int64_t max_visits, const double *reward_w, double confidence,
                                int n_threads, ar_progress_fn progress, void *progress_data,
                                double *cust, ar_world_eval_result res[2], ar__wacc acc[2][AR_WM_N],
                                ar__wacc reward[2], ar_error *err);

/* Whether item may go at position j of out[0..j): not already there, and breaking no brand rule
 * (world.c; what ar_world_guardrail_repair places by). */
int ar__world_allowed(const ar_world *w, int segment, int64_t time, const int32_t *out, int32_t j,
                      int32_t item);

/* CUPED for a ratio metric (abtest.c; Deng et al. 2013): customer c, in arm arm[c], has the
 * total y[c * stride] over visits[c * stride] visits (customers with none are skipped) and the
 * covariate x[c]. theta = Cov(L, X) / Var(X) pooled within arms, with L = y - r_arm visits the
 * ratio's linearisation; the adjusted totals y - theta (x - mean x over both arms) go into adj
 * (ratio sums per arm: sx, sxx, sxy of the adjusted totals, sy, syy of the visits). Fills cu's
 * used, theta, corr and covariate_mean; the rest is zeroed. */
void ar__world_cuped(int32_t n_customers, const double *y, const double *visits, size_t stride,
                     const uint8_t *arm, const double *x, ar_world_ab_cuped *cu, ar__wacc adj[2]);

#endif
