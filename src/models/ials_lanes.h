/*
 * ials_lanes.h -- the iALS solvers' lane kernels (exact and CG), a template that ials.c
 * includes once per SIMD width: LANES rows at a time, one per lane of a vector of LANES floats.
 *
 * The includer defines LANES (8 or 16), LV (a vector of LANES floats), LVU (the same, aligned to
 * 4 bytes only), L_(name) (this width's name of a function), L_FN (the kernels' attributes: the
 * target they are compiled for) and L_INL (the inline helpers' storage class and attributes), and
 * provides TRI, CHUNK, GSTRIDE, clamp_row, v8, v8u, transpose8 (and with 16 lanes v16, v16u,
 * transpose16), conf and row_reg. This file undefines its parameters at the end.
 */

/* out[q * 3 + r] = sum_{p < n} x[q][p * stride] * y[r][p * stride], q < 4, r < 3: the register
 * block of both the Gram update and the Cholesky factorisation (12 accumulators, 7 loads per
 * 12 multiply-adds). */
L_INL void L_(kernel43)(const LV *const x[4], const LV *const y[3], size_t stride, int32_t n,
                        LV out[12]) {
    LV c00 = {0}, c01 = {0}, c02 = {0}, c10 = {0}, c11 = {0}, c12 = {0};
    LV c20 = {0}, c21 = {0}, c22 = {0}, c30 = {0}, c31 = {0}, c32 = {0};
    const LV *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *y0 = y[0], *y1 = y[1], *y2 = y[2];
    for (int32_t p = 0; p < n; p++) {
        size_t o = (size_t)p * stride;
        LV b0 = y0[o], b1 = y1[o], b2 = y2[o], a;
        a = x0[o], c00 += a * b0, c01 += a * b1, c02 += a * b2;
        a = x1[o], c10 += a * b0, c11 += a * b1, c12 += a * b2;
        a = x2[o], c20 += a * b0, c21 += a * b1, c22 += a * b2;
        a = x3[o], c30 += a * b0, c31 += a * b1, c32 += a * b2;
    }
    out[0] = c00, out[1] = c01, out[2] = c02, out[3] = c10, out[4] = c11, out[5] = c12;
    out[6] = c20, out[7] = c21, out[8] = c22, out[9] = c30, out[10] = c31, out[11] = c32;
}

/* a += G^T G over the chunk's nt observations: g[t * GSTRIDE(k) + f] is factor f of observation t
 * (scaled by sqrt(c)), one lane per row. With gm, the first chunk's call: a = gm + lam I +
 * G^T G instead (gm: k x k scalars, the same for every lane; lam: each lane's regulariser).
 * Rows and columns past k are clamped to k - 1 in the kernel and not stored. */
L_FN static void L_(lanes_gram)(int32_t k, int32_t nt, const LV *g, LV *a, const float *gm,
                                const LV *lam) {
    for (int32_t i0 = 0; i0 < k; i0 += 4)
        for (int32_t j0 = 0; j0 < k && j0 <= i0 + 3; j0 += 3) {
            const LV *x[4], *y[3];
            LV acc[12];
            for (int q = 0; q < 4; q++)
                x[q] = g + clamp_row(i0 + q, k);
            for (int r = 0; r < 3; r++)
                y[r] = g + clamp_row(j0 + r, k);
            L_(kernel43)(x, y, GSTRIDE(k), nt, acc);
            for (int q = 0; q < 4; q++)
                for (int r = 0; r < 3; r++) {
                    int32_t i = i0 + q, j = j0 + r;
                    if (i >= k || j > i)
                        continue;
                    LV *e = a + TRI(i) + j;
                    if (!gm)
                        *e += acc[q * 3 + r];
                    else
                        *e = (gm[(size_t)i * (size_t)k + (size_t)j] + (i == j ? *lam : (LV){0})) +
                             acc[q * 3 + r];
                }
        }
}

/* Cholesky factorisation in place, row blocks of 4 by column blocks of 3 (left-looking): a
 * becomes L with A = L L^T, its diagonal holding 1 / L_ii. Lanes whose pivot is not positive
 * get bad[l] = 1 (and a unit pivot, so they stay finite; their result is discarded). */
L_FN static void L_(lanes_chol)(int32_t k, LV *a, int *bad) {
    for (int32_t i0 = 0; i0 < k; i0 += 4)
        for (int32_t j0 = 0; j0 < k && j0 <= i0 + 3; j0 += 3) {
            const LV *x[4], *y[3];
            LV acc[12];
            for (int q = 0; q < 4; q++)
                x[q] = a + TRI(clamp_row(i0 + q, k));
            for (int r = 0; r < 3; r++)
                y[r] = a + TRI(clamp_row(j0 + r, k));
            L_(kernel43)(x, y, 1, j0, acc);
            if (i0 + 3 < k && j0 + 3 <= i0) {
                /* the common case, all three columns left of the row block: their rows are
                 * complete, and the four rows' chains run side by side in registers */
                LV m10 = y[1][j0], m20 = y[2][j0], m21 = y[2][j0 + 1];
                LV d0 = y[0][j0], d1 = y[1][j0 + 1], d2 = y[2][j0 + 2];
                for (int q = 0; q < 4; q++) {
                    LV *li = a + TRI(i0 + q);
                    LV e0 = (li[j0] - acc[q * 3]) * d0;
                    LV e1 = (li[j0 + 1] - acc[q * 3 + 1] - e0 * m10) * d1;
                    LV e2 = (li[j0 + 2] - acc[q * 3 + 2] - e0 * m20 - e1 * m21) * d2;
                    li[j0] = e0, li[j0 + 1] = e1, li[j0 + 2] = e2;
                }
                continue;
            }
            for (int r = 0; r < 3; r++) {
                int32_t j = j0 + r;
                if (j >= k)
                    break;
                const LV *lj = a + TRI(j);
                for (int q = 0; q < 4; q++) {
                    int32_t i = i0 + q;
                    if (i >= k || j > i)
                        continue;
                    LV *li = a + TRI(i);
                    LV v = li[j] - acc[q * 3 + r];
                    for (int32_t p = j0; p < j; p++)
                        v -= li[p] * lj[p];
                    if (i > j) {
                        li[j] = v * lj[j];
                        continue;
                    }
                    LV d;
                    for (int l = 0; l < LANES; l++) {
                        if (!(v[l] > 0))
                            bad[l] = 1, v[l] = 1;
                        d[l] = 1.0f / sqrtf(v[l]);
                    }
                    li[i] = d;
                }
            }
        }
}

/* Solves L L^T x = b in place (b becomes x), L from lanes_chol. */
L_FN static void L_(lanes_solve)(int32_t k, const LV *a, LV *b) {
    for (int32_t i = 0; i < k; i++) {
        const LV *li = a + TRI(i);
        LV s0 = b[i], s1 = {0}, s2 = {0}, s3 = {0};
        int32_t p = 0;
        for (; p + 4 <= i; p += 4) {
            s0 -= li[p] * b[p], s1 -= li[p + 1] * b[p + 1];
            s2 -= li[p + 2] * b[p + 2], s3 -= li[p + 3] * b[p + 3];
        }
        for (; p < i; p++)
            s0 -= li[p] * b[p];
        b[i] = (s0 + s1 + (s2 + s3)) * li[i];
    }
    for (int32_t i = k - 1; i >= 0; i--) {
        const LV *li = a + TRI(i);
        LV xi = b[i] * li[i];
        b[i] = xi;
        for (int32_t p = 0; p < i; p++)
            b[p] -= li[p] * xi;
    }
}

/* out[f * os] (lane l) = src[l][f], f < k: LANES rows of k floats transposed into k lane
 * vectors os apart, 16 factors at a time (8 with 8 lanes) in registers. */
L_INL void L_(lanes_in)(int32_t k, const float *const src[LANES], LV *out, size_t os) {
    int32_t f = 0;
#if LANES == 16
    for (; f + 16 <= k; f += 16) {
        v16 v[16], o[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++)
            v[l] = *(const v16u *)(src[l] + f);
        transpose16(v, o);
#pragma GCC unroll 16
        for (int m = 0; m < 16; m++)
            out[(size_t)(f + m) * os] = o[m];
    }
#endif
    for (; f + 8 <= k; f += 8)
        for (int h = 0; h < LANES / 8; h++) { /* lanes 8h .. 8h + 7 */
            v8 v[8], o[8];
#pragma GCC unroll 16
            for (int l = 0; l < 8; l++)
                v[l] = *(const v8u *)(src[8 * h + l] + f);
            transpose8(v, o);
#pragma GCC unroll 16
            for (int m = 0; m < 8; m++)
                ((v8 *)(out + (size_t)(f + m) * os))[h] = o[m];
        }
    for (; f < k; f++)
        for (int l = 0; l < LANES; l++)
            out[(size_t)f * os][l] = src[l][f];
}

/* dst[l][f] = in[f] (lane l) for the lanes with a dst: lanes_in's inverse. */
L_INL void L_(lanes_out)(int32_t k, const LV *in, float *const dst[LANES]) {
    int32_t f = 0;
#if LANES == 16
    for (; f + 16 <= k; f += 16) {
        v16 o[16];
        transpose16(in + f, o);
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++)
            if (dst[l])
                *(v16u *)(dst[l] + f) = o[l];
    }
#endif
    for (; f + 8 <= k; f += 8)
        for (int h = 0; h < LANES / 8; h++) { /* lanes 8h .. 8h + 7 */
            v8 v[8], o[8];
#pragma GCC unroll 16
            for (int m = 0; m < 8; m++)
                v[m] = ((const v8 *)(in + f + m))[h];
            transpose8(v, o);
#pragma GCC unroll 16
            for (int l = 0; l < 8; l++)
                if (dst[8 * h + l])
                    *(v8u *)(dst[8 * h + l] + f) = o[l];
        }
    for (; f < k; f++)
        for (int l = 0; l < LANES; l++)
            if (dst[l])
                dst[l][f] = in[f][l];
}

/* The chunk of nt observations from t0 on: (lane l) sqrt(c) y_j[f] for lane l's t-th
 * observation, zero past the row's end or in an empty lane, at g[t * GSTRIDE(k) + f] (the exact
 * solver's layout) or, blocked, at g[(t / 8) * 8k + 8f + t % 8] (CG's: blocks of 8 observations
 * factor by factor); s[t] (lane l) = sqrt(c), or 0. zero: k zeros. */
L_FN static void L_(lanes_gather)(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                  const int32_t *rows, int64_t t0, int32_t nt, const float *zero,
                                  int blocked, LV *g, LV *s) {
    int32_t k = c->k;
    const int32_t *ind = r->indices;
    const float *src[CHUNK][LANES];
    /* first where the chunk's rows of y are (the transposes then load 16 rows at a time, and
     * their misses overlap) */
    for (int l = 0; l < LANES; l++) {
        int64_t p = rows[l] < 0 ? 0 : r->indptr[rows[l]] + t0;
        int64_t end = rows[l] < 0 ? 0 : r->indptr[rows[l] + 1];
        for (int32_t t = 0; t < nt; t++, p++) {
            if (p >= end) {
                src[t][l] = zero, s[t][l] = 0;
                continue;
            }
            src[t][l] = y + (size_t)ind[p] * (size_t)k;
            s[t][l] = c->alpha == 0 ? 1.0f : sqrtf(conf(c, r->values, p));
        }
    }
    size_t os = blocked ? 8 : 1;
    for (int32_t t = 0; t < nt; t++) {
        LV *gt = blocked ? g + (size_t)(t / 8) * 8 * (size_t)k + t % 8 : g + (size_t)t * GSTRIDE(k);
        L_(lanes_in)(k, src[t], gt, os);
        if (c->alpha != 0) /* else every s is 1, or 0 with a row of zeros */
            for (int32_t f = 0; f < k; f++)
                gt[(size_t)f * os] *= s[t];
    }
}

/* Each lane's regulariser (0 in an empty lane); returns the longest row's length. Rows come
 * sorted by length, so a lane mostly repeats the last row's (and its pow). */
L_INL int64_t L_(lanes_regs)(const ar__ials_cfg *c, const ar_csr *r, const int32_t *rows, LV *lam) {
    int64_t nmax = 0, prev = -1;
    float prev_lam = 0;
    for (int l = 0; l < LANES; l++) {
        (*lam)[l] = 0;
        if (rows[l] < 0)
            continue;
        int64_t n = r->indptr[rows[l] + 1] - r->indptr[rows[l]];
        nmax = n > nmax ? n : nmax;
        prev_lam = n == prev ? prev_lam : row_reg(c, n, r->n_cols);
        (*lam)[l] = prev_lam;
        prev = n;
    }
    return nmax;
}

/* Solves the rows rows[0..LANES) (-1: an empty lane) exactly into x. Scratch: a TRI(k) lanes,
 * g CHUNK * GSTRIDE(k) lanes, s CHUNK lanes, b k lanes; zero: k zeros. */
L_FN static void L_(solve_lanes_exact)(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                       const int32_t *rows, const float *gm, const float *zero,
                                       float *x, LV *a, LV *g, LV *s, LV *b) {
    int32_t k = c->k;
    LV lam;
    int64_t nmax = L_(lanes_regs)(c, r, rows, &lam);
    for (int32_t f = 0; f < k; f++)
        b[f] = (LV){0};
    int64_t t0 = 0;
    do {
        int32_t nt = (int32_t)(nmax - t0 < CHUNK ? nmax - t0 : CHUNK);
        L_(lanes_gather)(c, r, y, rows, t0, nt, zero, 0, g, s);
        for (int32_t t = 0; t < nt; t++) /* b = sum c y = sum sqrt(c) g */
            for (int32_t f = 0; f < k; f++)
                b[f] += s[t] * g[(size_t)t * GSTRIDE(k) + (size_t)f];
        L_(lanes_gram)(k, nt, g, a, t0 == 0 ? gm : NULL, &lam);
        t0 += nt;
    } while (t0 < nmax);
    int bad[LANES] = {0};
    L_(lanes_chol)(k, a, bad);
    L_(lanes_solve)(k, a, b);
    float *dst[LANES];
    for (int l = 0; l < LANES; l++)
        dst[l] = rows[l] >= 0 && !bad[l] ? x + (size_t)rows[l] * (size_t)k : NULL;
    L_(lanes_out)(k, b, dst);
}

/* -- conjugate gradient, LANES rows at a time -- */

/* Rows of gm per block of lanes_gemv: as many accumulators as the registers hold. */
#define GEMV_IB (LANES == 16 ? 16 : 8)

/* out = gm v + lam v (lam: one regulariser per lane; gm: k x k scalars, symmetric, the same for
 * every lane), GEMV_IB rows of out at a time: each v[j] loaded once feeds GEMV_IB multiply-adds,
 * whose scalars gm[j][i0 .. i0 + GEMV_IB) (= gm[i][j]) lie side by side in one row. */
L_INL void L_(lanes_gemv)(int32_t k, const float *gm, const LV *lam, const LV *v, LV *out) {
    int32_t i0 = 0;
    for (; i0 + GEMV_IB <= k; i0 += GEMV_IB) {
        LV a[GEMV_IB];
#pragma GCC unroll 16
        for (int q = 0; q < GEMV_IB; q++)
            a[q] = (LV){0};
        const float *gj = gm + i0;
        for (int32_t j = 0; j < k; j++, gj += k) {
            LV vj = v[j];
#pragma GCC unroll 16
            for (int q = 0; q < GEMV_IB; q++)
                a[q] += vj * gj[q];
        }
#pragma GCC unroll 16
        for (int q = 0; q < GEMV_IB; q++)
            out[i0 + q] = a[q] + *lam * v[i0 + q];
    }
    for (; i0 < k; i0++) { /* the rows left, one at a time */
        LV a = {0};
        for (int32_t j = 0; j < k; j++)
            a += v[j] * gm[(size_t)j * (size_t)k + (size_t)i0];
        out[i0] = a + *lam * v[i0];
    }
}

#undef GEMV_IB

/* d[q] = g_{8b+q} . v - sigma s_{8b+q}, q < 8: the dot products of block b (q: the block's
 * 8k lanes vectors, factor-major), side by side. */
L_INL void L_(lanes_dots)(int32_t k, const LV *q, const LV *s, float sigma, const LV *v, LV d[8]) {
    LV d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0}, d5 = {0}, d6 = {0}, d7 = {0};
    for (int32_t f = 0; f < k; f++) {
        const LV *qf = q + 8 * (size_t)f;
        LV vf = v[f];
        d0 += qf[0] * vf, d1 += qf[1] * vf, d2 += qf[2] * vf, d3 += qf[3] * vf;
        d4 += qf[4] * vf, d5 += qf[5] * vf, d6 += qf[6] * vf, d7 += qf[7] * vf;
    }
    d[0] = d0 - sigma * s[0], d[1] = d1 - sigma * s[1], d[2] = d2 - sigma * s[2];
    d[3] = d3 - sigma * s[3], d[4] = d4 - sigma * s[4], d[5] = d5 - sigma * s[5];
    d[6] = d6 - sigma * s[6], d[7] = d7 - sigma * s[7];
}

/* out += sum_t (g_t . v - sigma s_t) g_t over the blocks of 8 observations that hold the first
 * nt (lanes_gather's blocked layout; the last block may be half a block; past nt, zeros, which
 * add exact zeros): the dot products of a block side by side, then its update of out, which finds
 * the block in L1. (Running the update of block b in the same pass over f as the dot products of
 * block b + 1 measured 12% slower.) */
L_INL void L_(lanes_rank)(int32_t k, int32_t nt, const LV *g, const LV *s, float sigma, const LV *v,
                          LV *out) {
    int32_t t = 0;
    for (; t + 4 < nt; t += 8) {
        const LV *q = g + (size_t)t * (size_t)k;
        LV d[8];
        L_(lanes_dots)(k, q, s + t, sigma, v, d);
        LV d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3], d4 = d[4], d5 = d[5], d6 = d[6], d7 = d[7];
        for (int32_t f = 0; f < k; f++) {
            const LV *qf = q + 8 * (size_t)f;
            out[f] += (d0 * qf[0] + d1 * qf[1] + d2 * qf[2] + d3 * qf[3]) +
                      (d4 * qf[4] + d5 * qf[5] + d6 * qf[6] + d7 * qf[7]);
        }
    }
    if (t < nt) { /* 1 to 4 left: half a block, summed as the full block sums its first half (its
                     second half would add exact zeros), so a row's result does not depend on
                     the longest row of its batch */
        const LV *q = g + (size_t)t * (size_t)k;
        LV d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0};
        for (int32_t f = 0; f < k; f++) {
            const LV *qf = q + 8 * (size_t)f;
            LV vf = v[f];
            d0 += qf[0] * vf, d1 += qf[1] * vf, d2 += qf[2] * vf, d3 += qf[3] * vf;
        }
        d0 -= sigma * s[t], d1 -= sigma * s[t + 1], d2 -= sigma * s[t + 2];
        d3 -= sigma * s[t + 3];
        for (int32_t f = 0; f < k; f++) {
            const LV *qf = q + 8 * (size_t)f;
            out[f] += d0 * qf[0] + d1 * qf[1] + d2 * qf[2] + d3 * qf[3];
        }
    }
}

/* The lanes' observations [t0, t0 + nt) into g and s in the blocked layout, up to a multiple
 * of 4 with zeros (lanes_gather, CHUNK at a time). */
L_INL void L_(lanes_gather_all)(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                const int32_t *rows, int64_t t0, int32_t nt, const float *zero,
                                LV *g, LV *s) {
    int32_t n4 = (nt + 3) & ~3; /* past every lane's end: zeros */
    for (int32_t u = 0; u < n4; u += CHUNK) {
        int32_t m = n4 - u < CHUNK ? n4 - u : CHUNK;
        L_(lanes_gather)(c, r, y, rows, t0 + u, m, zero, 1, g + (size_t)u * (size_t)c->k, s + u);
    }
}

/* out = gm v + lam v + sum_t (g_t . v - sigma s_t) g_t over the lanes' n observations: with
 * sigma = 0, A v for each lane's system A; with sigma = 1 and v = x, A x - b. g and s hold all
 * n observations when n <= gcap; longer rows are gathered gcap at a time on every call. */
L_INL void L_(lanes_apply)(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                           const int32_t *rows, const float *zero, int64_t n, int64_t gcap, LV *g,
                           LV *s, const float *gm, const LV *lam, float sigma, const LV *v,
                           LV *out) {
    L_(lanes_gemv)(c->k, gm, lam, v, out);
    for (int64_t t0 = 0; t0 < n; t0 += gcap) {
        int32_t nt = (int32_t)(n - t0 < gcap ? n - t0 : gcap);
        if (n > gcap)
            L_(lanes_gather_all)(c, r, y, rows, t0, nt, zero, g, s);
        L_(lanes_rank)(c->k, nt, g, s, sigma, v, out);
    }
}

/* c->cg_steps conjugate-gradient steps on the rows rows[0..LANES) (-1: an empty lane) of x,
 * warm-started from their current values: the algorithm of the row-at-a-time solver, its
 * scalars lane vectors. A lane stops (its step size 0 from then on) once its residual is
 * 1e-20 or less, or when p.Ap is not positive. Scratch: g gcap * k lanes, s gcap lanes, xv,
 * rv, pv, ap k lanes each; zero: k zeros. */
L_FN static void L_(solve_lanes_cg)(const ar__ials_cfg *c, const ar_csr *r, const float *y,
                                    const int32_t *rows, const float *gm, const float *zero,
                                    float *x, int64_t gcap, LV *g, LV *s, LV *xv, LV *rv, LV *pv,
                                    LV *ap) {
    int32_t k = c->k;
    LV lam;
    int64_t nmax = L_(lanes_regs)(c, r, rows, &lam);
    const float *src[LANES];
    float *dst[LANES];
    for (int l = 0; l < LANES; l++) {
        dst[l] = rows[l] >= 0 ? x + (size_t)rows[l] * (size_t)k : NULL;
        src[l] = dst[l] ? dst[l] : zero;
    }
    L_(lanes_in)(k, src, xv, 1);
    if (nmax <= gcap)
        L_(lanes_gather_all)(c, r, y, rows, 0, (int32_t)nmax, zero, g, s);
    /* r = b - A x, p = r */
    L_(lanes_apply)(c, r, y, rows, zero, nmax, gcap, g, s, gm, &lam, 1.0f, xv, ap);
    LV rs = {0};
    for (int32_t f = 0; f < k; f++) {
        rv[f] = pv[f] = -ap[f];
        rs += rv[f] * rv[f];
    }
    for (int step = 0; step < c->cg_steps; step++) {
        L_(lanes_apply)(c, r, y, rows, zero, nmax, gcap, g, s, gm, &lam, 0.0f, pv, ap);
        LV pap = {0}, alpha, rsn = {0}, beta;
        for (int32_t f = 0; f < k; f++)
            pap += pv[f] * ap[f];
        for (int l = 0; l < LANES; l++) {
            int live = rs[l] > 1e-20f && pap[l] > 0;
            alpha[l] = live ? rs[l] / pap[l] : 0.0f;
            rs[l] = live ? rs[l] : 0.0f; /* a stopped lane stays stopped */
        }
        for (int32_t f = 0; f < k; f++) {
            xv[f] += alpha * pv[f];
            rv[f] -= alpha * ap[f];
            rsn += rv[f] * rv[f];
        }
        for (int l = 0; l < LANES; l++) {
            beta[l] = rs[l] > 0 ? rsn[l] / rs[l] : 0.0f;
            rs[l] = rs[l] > 0 ? rsn[l] : 0.0f;
        }
        for (int32_t f = 0; f < k; f++)
            pv[f] = rv[f] + beta * pv[f];
    }
    L_(lanes_out)(k, xv, dst);
}

/* -- the Gramian -- */

/* Rows of the Gramian's tile; each tile is GRAM_IB rows by 2 LANES columns of accumulators. */
#define GRAM_IB (LANES == 16 ? 8 : 4)

/* p[i * k + j] += sum_{b <= r < e} y[r][i] y[r][j] for every j >= i (tiles of GRAM_IB x 2 LANES
 * on or right of the diagonal; the few entries left of it in the diagonal tiles too), each
 * entry summed over the rows in order with multiply-adds, so both widths give the same bits.
 * The rows are taken 256 KiB at a time, each block read once per tile from L2 (a tile carries
 * its running sums over from the block before). k: a multiple of 2 LANES, small (p stays in L1
 * and the tiles re-read the block k^2 / (4 GRAM_IB LANES) times). */
L_FN static void L_(gram_rows)(const float *y, int32_t b, int32_t e, int32_t k, float *p) {
    const int32_t jb = 2 * LANES, rb = (int32_t)(((size_t)1 << 16) / (size_t)k);
    for (int32_t r0 = b; r0 < e; r0 += rb) {
        int32_t r1 = e - r0 < rb ? e : r0 + rb;
        for (int32_t i0 = 0; i0 < k; i0 += GRAM_IB)
            for (int32_t j0 = i0 / jb * jb; j0 < k; j0 += jb) {
                LV acc[GRAM_IB][2];
#pragma GCC unroll 8
                for (int q = 0; q < GRAM_IB; q++) {
                    const float *pq = p + (size_t)(i0 + q) * (size_t)k + j0;
                    acc[q][0] = *(const LVU *)pq, acc[q][1] = *(const LVU *)(pq + LANES);
                }
                for (int32_t r = r0; r < r1; r++) {
                    const float *yr = y + (size_t)r * (size_t)k;
                    LV v0 = *(const LVU *)(yr + j0), v1 = *(const LVU *)(yr + j0 + LANES);
#pragma GCC unroll 8
                    for (int q = 0; q < GRAM_IB; q++) {
                        float a = yr[i0 + q];
                        acc[q][0] += a * v0, acc[q][1] += a * v1;
                    }
                }
#pragma GCC unroll 8
                for (int q = 0; q < GRAM_IB; q++) {
                    float *pq = p + (size_t)(i0 + q) * (size_t)k + j0;
                    *(LVU *)pq = acc[q][0], *(LVU *)(pq + LANES) = acc[q][1];
                }
            }
    }
}

#undef GRAM_IB

#undef LANES
#undef LV
#undef LVU
#undef L_
#undef L_FN
#undef L_INL
