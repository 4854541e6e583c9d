/*
 * halving.c -- successive halving over candidates at increasing fidelity (see agents.h).
 */
#include "agents/agents_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
    int idx;
    double reward;
} scored;

/* Best first; failures (NAN) last; ties by lower index. */
static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    int fx = isnan(x->reward), fy = isnan(y->reward);
    if (fx != fy)
        return fx - fy;
    if (!fx && x->reward != y->reward)
        return x->reward < y->reward ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

ar_status ar_successive_halving(int n, double min_fidelity, int eta, ar_fidelity_fn fn, void *ctx,
                                ar_halving_result *out) {
    out->best = -1;
    out->best_reward = NAN;
    out->evaluations = 0;
    out->cost = 0;
    if (n < 1 || eta < 2 || !(min_fidelity > 0 && min_fidelity <= 1) || !fn)
        return AR_EINVAL;
    scored *alive = ar__alloc_array((size_t)n, sizeof *alive);
    if (!alive)
        return AR_ENOMEM;
    int m = n;
    for (int i = 0; i < n; i++)
        alive[i].idx = i;
    double f = min_fidelity;
    for (;;) {
        int last = f >= 1 || m == 1;
        if (last)
            f = 1;
        for (int k = 0; k < m; k++) {
            double r = NAN;
            if (fn(ctx, alive[k].idx, f, &r) != AR_OK || isinf(r))
                r = NAN;
            alive[k].reward = r;
            out->evaluations++;
            out->cost += f;
        }
        qsort(alive, (size_t)m, sizeof *alive, cmp_scored);
        if (last)
            break;
        /* Keep the best ceil(m / eta) that did not fail. */
        int keep = (m + eta - 1) / eta, ok = 0;
        while (ok < m && !isnan(alive[ok].reward))
            ok++;
        m = keep < ok ? keep : ok;
        if (m == 0)
            break;
        f = fmin(1, f * eta);
    }
    if (m > 0 && !isnan(alive[0].reward)) {
        out->best = alive[0].idx;
        out->best_reward = alive[0].reward;
    }
    ar__free(alive);
    return AR_OK;
}
