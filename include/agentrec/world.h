/*
 * agentrec/world.h -- part of the public API; include "agentrec.h", which includes this file.
 *
 * The retail world simulator: catalogue, customers, visits, events, guardrails, policies and
 * online evaluation, in the spirit of RecSim (Ie et al. 2019), KuaiSim and Virtual Taobao, built
 * for luxury and fashion retail. A world is described by one JSON config (docs/world.md documents
 * it key by key) and a seed; the same config and seed give the same catalogue, the same customers
 * and, for the same policy, byte-identical logs whatever the thread count.
 *
 * Objects
 *   ar_world_config  a parsed, fully validated config (immutable).
 *   ar_world         the catalogue and the customers drawn from a config and a seed (immutable
 *                    once created; every accessor and every run may be used from several threads).
 *   ar_world_run     the mutable state of one simulation (stock, popularity, tastes, fatigue,
 *                    histories); internal to ar_world_eval / ar_world_generate / ar_world_stats,
 *                    visible to policies only through the read-only accessors below.
 *   ar_world_state   a frozen copy of a run's state at the start of a day (immutable), from
 *                    which evaluations and A/B tests can start: the world a history left.
 *
 * Time: day d of a run starts at config start_time + d * 86400 seconds, whatever day the run
 * started on: launches, events, promotions and the "new" window follow this calendar. Items are
 * indexed in order of launch time, so the items launched by a given time are exactly
 * 0..n_candidates-1. Whether a customer visits on day d and how she responds come from RNG
 * streams keyed by (world seed, d, customer): two runs that simulate the same day meet the same
 * visits and responses (common random numbers), so a test meant to measure what happens after
 * a logged history must start on a later day (start_day below), not replay the history's days.
 */
#ifndef AGENTREC_WORLD_H
#define AGENTREC_WORLD_H

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits of a config, checked before anything is allocated. */
#define AR_WORLD_MAX_BRANDS 64
#define AR_WORLD_MAX_CATEGORIES 32
#define AR_WORLD_MAX_COLLECTIONS 32
#define AR_WORLD_MAX_SEGMENTS 8
#define AR_WORLD_MAX_REGIONS 32
#define AR_WORLD_MAX_EVENTS 64
#define AR_WORLD_MAX_RULES 32
#define AR_WORLD_MAX_SLATE 50
#define AR_WORLD_MAX_DIMS 32
#define AR_WORLD_MAX_ITEMS 2000000
#define AR_WORLD_MAX_CUSTOMERS 5000000
#define AR_WORLD_MAX_DAYS 3650
#define AR_WORLD_MAX_CONFIG_BYTES (1u << 20)

/* -- Configs ---------------------------------------------------------------------------------- */

typedef struct ar_world_config ar_world_config;

/* The built-in default world as JSON text (static, never NULL). `agentrec world config` prints
 * it; it is also what ar_world_config_parse(NULL, 0, ...) parses. */
const char *ar_world_config_default_json(void);

/* Parses and validates a config from len bytes of JSON (NULL = the default world). Every key is
 * checked: an unknown key, a wrong type, a value out of range (a negative price, a probability
 * outside [0, 1]) or a reference to something that does not exist (a guardrail naming an unknown
 * brand) is AR_EPARSE or AR_ERANGE with the JSON path of the field and why in err, e.g.
 * "catalog.brands[2].tier: expected one of luxury, premium, contemporary". Sizes over the limits
 * above are AR_ERANGE before any allocation. The caller frees the result with
 * ar_world_config_free(). Thread-safe. */
ar_status ar_world_config_parse(const char *json, size_t len, ar_world_config **out, ar_error *err);
/* Reads a config file (at most AR_WORLD_MAX_CONFIG_BYTES) and parses it. AR_EIO when unreadable;
 * messages are prefixed with the path. */
ar_status ar_world_config_load(const char *path, ar_world_config **out, ar_error *err);
void ar_world_config_free(ar_world_config *cfg);
/* The seed the config names ("seed", default 1) and its horizon ("days"). */
uint64_t ar_world_config_seed(const ar_world_config *cfg);
int ar_world_config_days(const ar_world_config *cfg);

/* -- Worlds ----------------------------------------------------------------------------------- */

typedef struct ar_world ar_world;

/* Draws the catalogue and the customers of cfg with seed (item i uses RNG stream (seed, i), so
 * the result does not depend on n_threads; 0 = all threads). The world keeps its own copy of what
 * it needs from cfg. The caller frees it with ar_world_free(). */
ar_status ar_world_create(const ar_world_config *cfg, uint64_t seed, int n_threads, ar_world **out,
                          ar_error *err);
void ar_world_free(ar_world *w);

int32_t ar_world_n_items(const ar_world *w);
int32_t ar_world_n_customers(const ar_world *w);
int ar_world_n_brands(const ar_world *w);
int ar_world_n_rules(const ar_world *w);
int32_t ar_world_slate_size(const ar_world *w);
/* External ids ("i0000042", "c0000017"), names and item properties. Strings belong to the world.
 * Out-of-range indices give NULL / NaN / -1. */
const char *ar_world_item_id(const ar_world *w, int32_t item);
const char *ar_world_customer_id(const ar_world *w, int32_t customer);
const char *ar_world_brand_name(const ar_world *w, int brand);
int ar_world_item_brand(const ar_world *w, int32_t item);
double ar_world_item_price(const ar_world *w, int32_t item); /* list price, before discounts */
int64_t ar_world_item_launch(const ar_world *w, int32_t item);
/* "max_per_brand", "never_adjacent", "exclusive_segment", "no_discount_top". */
const char *ar_world_rule_kind(const ar_world *w, int rule);

/* -- Policies --------------------------------------------------------------------------------
 * Anything that recommends -- a built-in baseline, a trained model, a whole pipeline -- serves
 * the world through one callback. */

typedef struct ar_world_run ar_world_run;

/* What a policy knows about a visit. All pointers are valid for the duration of the call. */
typedef struct ar_world_visit {
    int32_t customer;        /* customer index, 0..n_customers-1 */
    const char *customer_id; /* its external id (the user id of generated datasets) */
    int segment;             /* index of the customer's segment in the config */
    const char *segment_name;
    int64_t time;           /* seconds; the visit starts at this time */
    int day;                /* day of the run */
    const int32_t *history; /* recently clicked or bought item indices, oldest first */
    int32_t n_history;
    int32_t n_candidates;    /* items 0..n_candidates-1 are launched and may be shown */
    int32_t k;               /* slate size wanted */
    const ar_world_run *run; /* read-only state for ar_world_run_* accessors */
} ar_world_visit;

/* serve: writes at most v->k distinct item indices in [0, v->n_candidates) to slate, best first,
 * and their count to *n_out. propensity[j] (never NULL) is preset to 1 and may be overwritten
 * with the probability that the policy put slate[j] at position j given positions 0..j-1 (what
 * logged impressions record). rng is a generator private to this visit (seeded from the world
 * seed, the day and the customer), so randomised policies stay deterministic. Called
 * concurrently from several threads for different customers: it must not modify shared state
 * without its own synchronisation. A non-zero status aborts the run and is returned. */
typedef struct ar_world_policy {
    const char *name;
    void *ctx;
    ar_status (*serve)(void *ctx, const ar_world *w, const ar_world_visit *v, ar_rng *rng,
                       int32_t *slate, float *propensity, int32_t *n_out);
} ar_world_policy;

/* Built-in policies (ctx is the world; they need nothing else):
 *   "random"  k uniform distinct candidates (propensity 1/(n_candidates - j));
 *   "popular" samples k in-stock candidates without replacement with probability proportional
 *             to popularity + 1 (Plackett-Luce), the popularity being clicks plus purchases so
 *             far (plus back-catalogue sales for items on sale before day 0), refreshed daily;
 *             propensity: the exact conditional probability of each draw. A realistic
 *             logging policy: mostly the best sellers, with some exposure for everything else;
 *   "mostpop" the k in-stock candidates with the highest popularity (deterministic, propensity 1);
 *   "oracle"  knows the latent tastes, fatigue, events and stock: greedy on expected revenue
 *             under the click and purchase model, respecting the guardrails; the ceiling.
 * Returns AR_ENOTFOUND for another name. */
ar_status ar_world_policy_builtin(const ar_world *w, const char *name, ar_world_policy *out);

/* A policy served by a model of the zoo (include/agentrec/models.h). ds is the dataset the
 * model was fitted on, generated from this world (its user and item ids are the world's): it
 * maps ids between the two. Each visit is scored from the customer's recent history in the
 * world (and the customer's learned state when the model has one), over the launched, in-stock
 * items; the world then applies the guardrails as for any policy. Thread-safe per visit. The
 * caller frees it with ar_world_model_policy_free(); m and ds must outlive it. AR_EINVAL with
 * a message when the model was not fitted on ds or ds does not come from this world. */
ar_status ar_world_model_policy(const ar_world *w, const ar_model *m, ar_dataset *ds,
                                ar_world_policy *out, ar_error *err);
void ar_world_model_policy_free(ar_world_policy *p);

/* How a model's scores become a slate: a retail re-ranker over the model. For each launched,
 * in-stock item the policy computes
 *   value = model_weight x (the model's score / the visit's largest positive score, 0 when the
 *                           score is not positive)
 *         + popularity_weight x ln(1 + popularity now) / ln(1 + the largest popularity now)
 *         + new_weight x [launched in the last new_days days]
 *         + brand_weight x (share of the customer's recent history in the item's brand),
 * each term in [0, 1], and fills the slate position by position, each time from the best
 * pool x k items by value that may go there -- not shown yet and breaking no brand rule of the
 * world at that position (the world would repair a slate that broke one, filling the gaps with
 * items the re-ranker did not choose) -- drawing one with weight exp(-rank / temperature) among
 * them (Plackett-Luce, from the visit's RNG stream, so serving stays deterministic; the
 * propensities are exact). With tail_share > 0, round(tail_share x k) slots are kept for the
 * long tail (the items outside the top fifth of the catalogue by popularity, ar_world_run_in_tail,
 * as the world counts it): the first k minus that many positions are filled as above, then the long
 * tail's best while the slate holds fewer long-tail items than the quota, then the rest from
 * everything (popularity-aware re-ranking with an exposure quota, as in Abdollahpouri, Burke and
 * Mobasher 2019). Popularity is the run's (clicks and purchases so far, refreshed daily), so a
 * trend or a sold-out item is seen as it happens; the draw keeps a returning customer from
 * meeting the same slate at every visit. pool 1 is the exact top k. The world still applies
 * the guardrails afterwards, as for any policy. */
typedef struct ar_world_serving {
    double model_weight;      /* >= 0 (default 1) */
    double popularity_weight; /* >= 0 (default 0) */
    double new_weight;        /* >= 0 (default 0) */
    int new_days;             /* 1..365 (default 30) */
    double brand_weight;      /* >= 0 (default 0) */
    double tail_share;        /* 0..0.5: slots kept for long-tail items (default 0) */
    int pool;                 /* 1..5 (default 1) */
    double temperature;       /* > 0 (default 1) */
} ar_world_serving;

ar_world_serving ar_world_serving_default(void);
/* NULL when valid, else a static message naming the bad field (all weights 0 is invalid). */
const char *ar_world_serving_check(const ar_world_serving *s);

/* Like ar_world_model_policy, serving the model through the re-ranker s (copied). With s NULL
 * it is ar_world_model_policy: the exact top k of the items the model scores above 0, then the
 * most popular. AR_EINVAL with a message for invalid serving options. */
ar_status ar_world_model_policy_serving(const ar_world *w, const ar_model *m, ar_dataset *ds,
                                        const ar_world_serving *s, ar_world_policy *out,
                                        ar_error *err);

/* Read-only run state for policies (thread-safe during serve). */
int32_t ar_world_run_stock(const ar_world_run *r, int32_t item);
/* Clicks plus purchases so far (with back-catalogue sales for items launched before day 0). */
int64_t ar_world_run_popularity(const ar_world_run *r, int32_t item);
/* 1 when the item is in the long tail: outside the top fifth of the catalogue by popularity at
 * the start of the day (what the world counts a run's long-tail share by, at its first day). */
int ar_world_run_in_tail(const ar_world_run *r, int32_t item);

/* -- Guardrails -------------------------------------------------------------------------------
 * Declarative brand rules from the config. The world applies them as a hard filter to every
 * slate a policy serves (the customer sees the repaired slate) and counts the violations in what
 * the policy served. A slate is checked for a customer of `segment` at `time` (promotions make
 * items discounted only while they run). */

/* Counts the violations of slate[0..n): one per offending item (an item over a brand's
 * maximum, an item adjacent to a forbidden brand's item, an exclusive item shown outside its
 * segment, a discounted item in a protected top position). When per_rule is not NULL it gets
 * ar_world_n_rules() counts. Thread-safe. */
int32_t ar_world_guardrail_count(const ar_world *w, int segment, int64_t time, const int32_t *slate,
                                 int32_t n, int32_t *per_rule);
/* Builds a slate of at most k items that breaks no rule: positions are filled in order with the
 * first item of slate[0..n) (in the given order) that is allowed there; when none is, with the
 * first allowed item of `fill[0..n_fill)` (may be NULL) not yet used. Items that fit nowhere are
 * dropped. Writes the result to out (k entries of room; out must not alias slate) and returns its
 * length. When from_slate is not NULL, from_slate[j] is the index in slate of out[j], or -1 when
 * it came from fill. Thread-safe. */
int32_t ar_world_guardrail_repair(const ar_world *w, int segment, int64_t time,
                                  const int32_t *slate, int32_t n, const int32_t *fill,
                                  int32_t n_fill, int32_t k, int32_t *out, int32_t *from_slate);

/* -- World states ----------------------------------------------------------------------------
 * What a run has changed by the start of a day: stock, popularity (clicks and purchases so far),
 * the customers' drifted tastes, their recent histories (what policies see in ar_world_visit)
 * and recent impressions (fatigue). An evaluation or an A/B test that starts from a state runs
 * in the world that state describes, on days it has not simulated yet. */

typedef struct ar_world_state ar_world_state;

/* Simulates days 0..days-1 served by `policy`, with the guardrails enforced, and returns the
 * state at the start of day `days`; days 0 is the world's initial state (full stock, popularity
 * = back-catalogue sales, initial tastes, empty histories; policy may then be NULL). With the
 * policy and days of an ar_world_generate call that enforced the guardrails (its default), this
 * is exactly the state that generated history left: the same visits, purchases and sell-outs.
 * The state refers to w, which must outlive it; it is immutable, so any number of runs may start
 * from it, concurrently too. Deterministic whatever n_threads (0 = all). The caller frees it with
 * ar_world_state_free(). AR_EINVAL for days outside 0..AR_WORLD_MAX_DAYS or no policy; a
 * policy's failure is returned. */
ar_status ar_world_state_create(const ar_world *w, const ar_world_policy *policy, int days,
                                int n_threads, ar_world_state **out, ar_error *err);
void ar_world_state_free(ar_world_state *s);
/* The day the state is the start of. */
int ar_world_state_day(const ar_world_state *s);
/* Its stock and popularity, through ar_world_run_stock / ar_world_run_popularity (owned by s). */
const ar_world_run *ar_world_state_run(const ar_world_state *s);

/* -- Online evaluation ------------------------------------------------------------------------ */

typedef enum ar_world_metric_id {
    AR_WM_REVENUE_PER_VISIT = 0,
    AR_WM_CONVERSION, /* visits with a purchase / visits */
    AR_WM_CTR,        /* clicks / impressions */
    AR_WM_AOV,        /* revenue / purchases */
    AR_WM_MARGIN_PER_VISIT,
    AR_WM_NEW_COLLECTION_SHARE, /* share of impressions on items launched in the last new_days */
    AR_WM_NEW_COLLECTION_REVENUE_SHARE,
    AR_WM_LONG_TAIL_SHARE, /* share of impressions outside the head (the top fifth of the
                            * catalogue by popularity when the run started) */
    AR_WM_VIOLATIONS,      /* guardrail violations per visit in the served slates */
    AR_WM_N
} ar_world_metric_id;

/* "revenue_per_visit", "conversion", "ctr", "aov", "margin_per_visit", "new_collection_share",
 * "new_collection_revenue_share", "long_tail_share", "violations". */
const char *ar_world_metric_name(int metric);

typedef struct ar_world_eval_options {
    int64_t visits;         /* visits to simulate (default 20000), day by day from start_day */
    double confidence;      /* of the intervals, in (0, 1) (default 0.95) */
    int enforce_guardrails; /* 1 (default): repair served slates; 0: show them as served */
    int n_threads;          /* 0 = all; results do not depend on it */
    ar_progress_fn progress;
    void *progress_data;
    /* The first day simulated, 0..AR_WORLD_MAX_DAYS (default 0), and the state the run starts
     * from: NULL (default) = the world's initial state, whatever start_day (a fresh stock and
     * back-catalogue popularity; items launched between day 0 and start_day have no sales yet);
     * else a state of this world whose day is start_day. To evaluate after a logged history of
     * D days: start_day = D and state = ar_world_state_create(w, logging policy, D). Days
     * start_day, start_day + 1, ... use their own RNG streams and calendar. */
    int start_day;
    const ar_world_state *state;
} ar_world_eval_options;

ar_world_eval_options ar_world_eval_options_default(void);
const char *ar_world_eval_options_check(const ar_world_eval_options *opt);

typedef struct ar_world_estimate {
    double mean, ci_low, ci_high;
} ar_world_estimate;

typedef struct ar_world_eval_result {
    int64_t visits, impressions, clicks, carts, purchases, stockouts;
    double revenue, margin;
    int days; /* days simulated */
    /* Means over visits with normal-approximation intervals; ratio metrics (ctr, aov, shares)
     * use the delta method over visits. */
    ar_world_estimate metric[AR_WM_N];
    int n_rules;
    int64_t violations_per_rule[AR_WORLD_MAX_RULES];
    int n_brands;
    double brand_exposure[AR_WORLD_MAX_BRANDS]; /* share of impressions per brand */
    /* Violations in the slates customers were shown, after the guardrail repair: 0 whenever
     * guardrails are enforced (counted to check the filter, not assumed). */
    int64_t violations_shown;
} ar_world_eval_result;

/* Runs `policy` for opt->visits visits from day opt->start_day and measures the outer metrics
 * (result days = the days simulated). The world and the state are not modified; two
 * evaluations with the same world, policy and options give identical results (customers'
 * visits, tastes and responses come from per-(day, customer) RNG streams, so two policies see
 * the same customers on the same days). AR_EINVAL for a state of another world. */
ar_status ar_world_eval(const ar_world *w, const ar_world_policy *policy,
                        const ar_world_eval_options *opt, ar_world_eval_result *out, ar_error *err);

/* -- Generating history ------------------------------------------------------------------------ */

typedef struct ar_world_generate_options {
    int days;        /* days to simulate (default 90) */
    int impressions; /* 1 (default): log every impression with its propensity */
    int enforce_guardrails;
    int n_threads;
    ar_progress_fn progress;
    void *progress_data;
} ar_world_generate_options;

ar_world_generate_options ar_world_generate_options_default(void);
const char *ar_world_generate_options_check(const ar_world_generate_options *opt);

/* Simulates opt->days days of visits served by `policy` and returns them as a dataset (all
 * interactions in the train split; split it with ar_dataset_split). Layout (docs/world.md):
 * events impression, click, cart, purchase; a visit starting at time T logs the events of slate
 * position j at time T + j (visits start on whole minutes, so position = time % 60); impression
 * values are the logging propensity, click values 1, cart values the price paid, purchase values
 * the revenue. Items carry brand, tier, category, collection, colour, material, line
 * (categorical), price, margin, stock (numeric), launch time and title; users carry segment and
 * region. Every item and customer appears, even without events. The caller frees the result with
 * ar_dataset_free(). The stats of the run go to *stats when not NULL. */
ar_status ar_world_generate(const ar_world *w, const ar_world_policy *policy,
                            const ar_world_generate_options *opt, ar_dataset **out,
                            ar_world_eval_result *stats, ar_error *err);

/* -- Online A/B tests -------------------------------------------------------------------------
 * Two policies served side by side in one simulated period: each customer is assigned to
 * variant A (control) or B (treatment) by a salted hash of her external id, so a fresh salt
 * gives every experiment a fresh assignment, and a customer stays in her variant for the whole
 * test. Both variants share the world state (stock, popularity) as real variants do; a
 * customer's visits and responses come from the same (day, customer) RNG streams whatever
 * variant she is in, so re-running an experiment with another treatment meets the control
 * customers exactly as before (common random numbers across experiments). The brand guardrails
 * are applied to every slate of both variants as a hard filter that cannot be switched off;
 * the violations in what customers were shown are counted (and must be 0).
 *
 * When: from day start_day (default 0) in the state given (default the world's initial state),
 * as for ar_world_eval. A test of what a recommender does after a logged history of D days
 * starts on day D from the state the history left; starting on day 0 would replay the
 * history's days, visits and responses.
 *
 * How many visits: a pilot of pilot_visits measures the standard deviation of the outer reward
 * per visit in each arm (or sigma is given); the test then runs for the visits that detect a
 * relative effect of `mde` on control's reward with two-sided level `alpha` and `power`:
 *   N = (z_{1-alpha/2} + z_{power})^2 (sd_A^2 / (1 - share) + sd_B^2 / share) / (mde mu_A)^2
 * clamped to [min_visits, max_visits] (capped results say so). The main run restarts from
 * start_day in the same state, so the pilot is its prefix (an internal pilot that looks at
 * variances, never at the effect).
 *
 * Estimates, at the customer level (the unit of assignment): per-arm means with normal
 * intervals (a ratio of customer sums, delta method), the difference B - A with a Welch interval
 * (Welch-Satterthwaite degrees of freedom) and its two-sided p-value.
 *
 * Variance reduction (CUPED, Deng, Xu, Kohavi & Walker, WSDM 2013): with a covariate -- one
 * value per customer fixed before the test, typically her revenue in the logged history -- the
 * outer reward is adjusted. Customer c's reward total Y_c (over her n_c visits) becomes
 *   Y_c - theta (X_c - mean X),   theta = Cov(Y - r n, X) / Var(X),
 * where r is her arm's reward per visit (Y - r n linearises the ratio, the delta method) and
 * the covariances are pooled within arms over the customers who visited, so one theta serves
 * both arms and mean X is that of both arms together. Assignment is random and independent of
 * X, so the adjusted difference estimates the same effect, with its variance reduced by about
 * the squared correlation of X with the linearised reward. The sample size uses the adjusted
 * variance of the pilot. Only the outer reward is adjusted; the other metrics are not. */

typedef struct ar_world_ab_options {
    uint64_t salt;        /* assignment salt: a new one for every experiment */
    double share;         /* share of customers in B, in (0, 1) (default 0.5) */
    double mde;           /* minimum detectable relative effect on the reward (default 0.10) */
    double alpha;         /* two-sided significance level (default 0.05); intervals 1 - alpha */
    double power;         /* in (0, 1) (default 0.8) */
    int64_t pilot_visits; /* visits of the variance pilot (default 4000) */
    double sigma;         /* > 0: the reward's per-visit standard deviation, no pilot (default 0) */
    int64_t min_visits, max_visits; /* bounds on the visits of the test (4000, 100000) */
    /* The outer reward per visit: sum over metrics of reward_weight[m] times the visit's value
     * of m (revenue, purchase 0/1, clicks / impressions, margin, shares of the visit's
     * impressions, violations served). aov and new_collection_revenue_share have no per-visit
     * value and must weigh 0. Default: revenue_per_visit 1. */
    double reward_weight[AR_WM_N];
    int n_threads; /* 0 = all; results do not depend on it */
    ar_progress_fn progress;
    void *progress_data;
    /* The first day simulated and the state the test starts from, as in ar_world_eval_options
     * (default 0 and NULL: the world's initial state). Not part of an objective's JSON. */
    int start_day;
    const ar_world_state *state;
    /* The CUPED covariate: n_customers finite values indexed like the world's customers, fixed
     * before the test (e.g. each customer's revenue in the logged history), or NULL (default)
     * for none. Read during the call only; the caller keeps ownership. */
    const double *covariate;
} ar_world_ab_options;

ar_world_ab_options ar_world_ab_options_default(void);
/* NULL when valid, else a static message naming the bad field. */
const char *ar_world_ab_options_check(const ar_world_ab_options *opt);

/* B - A for one quantity. */
typedef struct ar_world_ab_diff {
    double diff;            /* B - A */
    double ci_low, ci_high; /* Welch interval at 1 - alpha */
    double rel;             /* diff / A (0 when A is 0) */
    double p_value;         /* two-sided Welch t test of "no difference" */
    double df;              /* Welch-Satterthwaite degrees of freedom */
} ar_world_ab_diff;

/* What the CUPED adjustment did (ar_world_ab_result.cuped). */
typedef struct ar_world_ab_cuped {
    int used;     /* 1 when a covariate was given; the rest is 0 otherwise */
    double theta; /* reward per unit of covariate, per customer (pooled within arms) */
    double corr;  /* correlation of the covariate with the linearised reward Y - r n */
    /* 1 - Var(adjusted difference) / Var(unadjusted difference): the share of the variance of
     * the reward difference removed (about corr^2; near 0, possibly slightly negative, for a
     * useless covariate). The interval is sqrt(1 - variance_reduction) times as wide. */
    double variance_reduction;
    double covariate_mean[2];     /* over the customers of A and B who visited */
    ar_world_estimate reward[2];  /* the unadjusted reward per arm */
    ar_world_ab_diff reward_diff; /* the unadjusted difference */
} ar_world_ab_cuped;

typedef struct ar_world_ab_result {
    int64_t visits;                 /* simulated, both arms */
    int64_t required_visits;        /* what the power analysis asked for, before the bounds */
    int capped;                     /* 1 when required_visits > max_visits */
    double sd[2];                   /* per-visit reward standard deviation used (pilot or sigma) */
    double mde_at_visits;           /* relative effect detectable with `power` at the visits run */
    int64_t customers[2];           /* customers assigned to A and B */
    int64_t visited[2];             /* of them, those who visited: the units of inference */
    ar_world_eval_result arm[2];    /* A and B: every outer metric with intervals */
    ar_world_estimate reward[2];    /* the outer reward per visit, per arm */
    ar_world_ab_diff reward_diff;   /* its difference: the primary result */
    ar_world_ab_diff diff[AR_WM_N]; /* each metric's difference (secondary and guardrail) */
    int start_day;                  /* the first day simulated */
    /* With a covariate, reward and reward_diff are CUPED-adjusted (each arm's mean taken at the
     * mean covariate of both arms); what the adjustment did and the unadjusted ones are here. */
    ar_world_ab_cuped cuped;
} ar_world_ab_result;

/* The arm (0 = A, 1 = B) of a customer's external id under salt and share. Thread-safe. */
int ar_world_ab_assign(const char *customer_id, uint64_t salt, double share);

/* Runs an A/B test of policy b against policy a on world w. Deterministic in (world, policies,
 * options) whatever n_threads. Errors: AR_EINVAL bad options (message; also a state of another
 * world or a covariate that is not finite), a policy's failure. */
ar_status ar_world_ab_test(const ar_world *w, const ar_world_policy *a, const ar_world_policy *b,
                           const ar_world_ab_options *opt, ar_world_ab_result *out, ar_error *err);

/* -- The outer objective ------------------------------------------------------------------------
 * What the business wants, declared in JSON (docs/demo.md):
 *   {"reward": {"revenue_per_visit": 1.0},
 *    "floors": {"new_collection_share": {"min": 0, "baseline_ratio": 0.5},
 *               "long_tail_share": {"min": 0, "baseline_ratio": 0.5}},
 *    "inner": {"metric": "ndcg", "k": 10, "tolerance": 0.05},
 *    "ab": {"mde": 0.1, "alpha": 0.05, "power": 0.8, "pilot_visits": 4000,
 *           "min_visits": 4000, "max_visits": 100000, "share": 0.5}}
 * Every key is optional (absent = the default above). A candidate is adopted only when the
 * reward's difference against the champion is significantly positive (the interval's low end
 * above 0), every floor holds for the candidate's arm (its point estimate >= max(min,
 * baseline_ratio x the baseline's value)), and no guardrail violation was shown. */

typedef struct ar_world_objective {
    ar_world_ab_options ab;         /* reward weights and the test's statistics */
    double floor_min[AR_WM_N];      /* NAN = no absolute floor */
    double floor_baseline[AR_WM_N]; /* NAN = no floor relative to the baseline */
    char inner_metric[16];          /* offline metric of the inner gate (ar_metric_parse) */
    int inner_k;                    /* its cutoff */
    double inner_tolerance;         /* pass when inner >= champion's inner x (1 - tolerance) */
} ar_world_objective;

ar_world_objective ar_world_objective_default(void);
const char *ar_world_objective_check(const ar_world_objective *o);
/* Parses len bytes of JSON over the defaults (json NULL = the defaults). Unknown keys, wrong
 * types and values out of range are AR_EPARSE / AR_ERANGE with the JSON path in err
 * ("floors.long_tail_share.baseline_ratio: expected a number in [0, 10]"). Thread-safe. */
ar_status ar_world_objective_parse(const char *json, size_t len, ar_world_objective *out,
                                   ar_error *err);
/* Reads a file (at most 1 MiB) and parses it; messages are prefixed with the path. */
ar_status ar_world_objective_load(const char *path, ar_world_objective *out, ar_error *err);
/* The objective as JSON (every key, defaults filled in); caller frees with ar_free_array(). */
char *ar_world_objective_json(const ar_world_objective *o);

typedef struct ar_world_verdict {
    int adopt;         /* all three below */
    int significant;   /* reward difference's interval above 0 */
    int floors_ok;     /* every floor held */
    int guardrails_ok; /* no violation shown in either arm */
    char rationale[768];
} ar_world_verdict;

/* Applies the adoption rule to an A/B result (B = the candidate). baseline (may be NULL: then
 * only absolute floors apply) is the baseline policy's online result. Thread-safe. */
void ar_world_ab_verdict(const ar_world_objective *o, const ar_world_ab_result *r,
                         const ar_world_eval_result *baseline, ar_world_verdict *out);

/* -- Calibration ---------------------------------------------------------------------------------
 */

#define AR_WORLD_MAX_TIERS 3

typedef struct ar_world_stats {
    ar_world_eval_result run;  /* the popular policy over the config's horizon */
    double cart_rate;          /* carts / clicks */
    double purchase_per_click; /* purchases / clicks */
    double popularity_gini;    /* Gini of clicks + purchases over items */
    double top1_share;         /* share of clicks on the top 1% of items */
    double session_mean;       /* positions examined per visit */
    double session_q[5];       /* quantiles 10, 25, 50, 75, 90% of positions examined */
    double visits_per_customer;
    int32_t tier_items[AR_WORLD_MAX_TIERS];     /* luxury, premium, contemporary */
    double tier_price_q[AR_WORLD_MAX_TIERS][5]; /* price quantiles 10, 25, 50, 75, 90% */
} ar_world_stats;

/* Simulates the config's horizon with the popular policy and describes the result: how the
 * generated world compares with fashion e-commerce (docs/world.md gives the target ranges). */
ar_status ar_world_stats_compute(const ar_world *w, int n_threads, ar_world_stats *out,
                                 ar_error *err);

#ifdef __cplusplus
}
#endif

#endif /* AGENTREC_WORLD_H */
