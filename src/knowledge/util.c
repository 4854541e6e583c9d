/*
 * util.c -- the ledger's small helpers: result rows, SHA-256 (FIPS 180-4) for artifacts, and
 * the process identity used to tell a dead run's process from a live one.
 */
#define _POSIX_C_SOURCE 200809L
#include "knowledge/db.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

ar_status ar__db_fail(ar__db *db, ar_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof db->err, fmt, ap);
    va_end(ap);
    return status;
}

void ar__rows_init(ar__rows *r) {
    memset(r, 0, sizeof *r);
}

void ar__rows_clear(ar__rows *r) {
    for (size_t k = 0; k < r->n_rows * r->n_cols; k++)
        if (r->cells[k].t == AR__TEXT)
            ar__free((char *)r->cells[k].s);
    ar__free(r->cells);
    ar__rows_init(r);
}

ar_status ar__rows_push(ar__rows *r, const ar__val *row, size_t n_cols) {
    if (r->n_rows && r->n_cols != n_cols)
        return AR_EINVAL;
    r->n_cols = n_cols;
    if (ar__grow((void **)&r->cells, &r->cap, (r->n_rows + 1) * (n_cols ? n_cols : 1),
                 sizeof(ar__val)))
        return AR_ENOMEM;
    ar__val *dst = &r->cells[r->n_rows * n_cols];
    for (size_t c = 0; c < n_cols; c++) {
        dst[c] = row[c];
        if (row[c].t == AR__TEXT) {
            dst[c].s = ar__strdup(row[c].s);
            if (!dst[c].s) {
                for (size_t k = 0; k < c; k++)
                    if (dst[k].t == AR__TEXT)
                        ar__free((char *)dst[k].s);
                return AR_ENOMEM;
            }
        }
    }
    r->n_rows++;
    return AR_OK;
}

int64_t ar__cell_int(const ar__rows *r, size_t row, size_t col) {
    const ar__val *v = ar__cell(r, row, col);
    return v->t == AR__INT ? v->i : v->t == AR__REAL ? (int64_t)v->d : 0;
}

double ar__cell_real(const ar__rows *r, size_t row, size_t col) {
    const ar__val *v = ar__cell(r, row, col);
    return v->t == AR__REAL ? v->d : v->t == AR__INT ? (double)v->i : NAN;
}

const char *ar__cell_text(const ar__rows *r, size_t row, size_t col) {
    const ar__val *v = ar__cell(r, row, col);
    return v->t == AR__TEXT ? v->s : NULL;
}

/* -- SHA-256 --------------------------------------------------------------------------------- */

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(sha256_ctx *c, const unsigned char *p) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ROR(w[t - 15], 7) ^ ROR(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ROR(w[t - 2], 17) ^ ROR(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5],
             g = c->h[6], h = c->h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 =
            h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha_init(sha256_ctx *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
    c->n = 0;
}

static void sha_update(sha256_ctx *c, const unsigned char *p, size_t n) {
    c->len += n;
    while (n) {
        size_t take = 64 - c->n < n ? 64 - c->n : n;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        n -= take;
        if (c->n == 64) {
            sha_block(c, c->buf);
            c->n = 0;
        }
    }
}

static void sha_final(sha256_ctx *c, unsigned char out[32]) {
    uint64_t bits = c->len * 8;
    unsigned char pad = 0x80, zero = 0, lenb[8];
    sha_update(c, &pad, 1);
    while (c->n != 56)
        sha_update(c, &zero, 1);
    for (int k = 0; k < 8; k++)
        lenb[k] = (unsigned char)(bits >> (56 - 8 * k));
    sha_update(c, lenb, 8);
    for (int k = 0; k < 8; k++) {
        out[4 * k] = (unsigned char)(c->h[k] >> 24);
        out[4 * k + 1] = (unsigned char)(c->h[k] >> 16);
        out[4 * k + 2] = (unsigned char)(c->h[k] >> 8);
        out[4 * k + 3] = (unsigned char)c->h[k];
    }
}

void ar__sha256(const void *data, size_t n, unsigned char out[32]) {
    sha256_ctx c;
    sha_init(&c);
    sha_update(&c, data, n);
    sha_final(&c, out);
}

ar_status ar__sha256_file(const char *path, char hex[65], int64_t *bytes, ar_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return ar__fail(err, AR_EIO, "%s: %s", path, strerror(errno));
    sha256_ctx c;
    sha_init(&c);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha_update(&c, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return ar__fail(err, AR_EIO, "%s: read error", path);
    unsigned char d[32];
    *bytes = (int64_t)c.len;
    sha_final(&c, d);
    for (int k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", d[k]);
    return AR_OK;
}

/* -- Process identity ------------------------------------------------------------------------ */

/* Reads /proc/<pid>/stat: the state letter and the start time (field 22, clock ticks since
 * boot). Returns 0 on success. The command name (field 2) may contain spaces and parentheses,
 * so parsing starts after the last ')'. */
static int proc_stat(long pid, char *state, unsigned long long *start) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    *state = *p;
    /* fields 3.. : state is field 3; skip to field 22 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

static void boot_id(char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (fgets(out, (int)n, f)) {
        size_t k = strlen(out);
        while (k && (out[k - 1] == '\n' || out[k - 1] == ' '))
            out[--k] = 0;
    }
    fclose(f);
}

static void token_of(long pid, char *token, size_t n) {
    char boot[64], state;
    unsigned long long start;
    boot_id(boot, sizeof boot);
    if (proc_stat(pid, &state, &start) == 0)
        snprintf(token, n, "%s:%llu", boot, start);
    else
        snprintf(token, n, "%s:?", boot);
}

void ar__proc_self(char *host, size_t host_n, char *token, size_t token_n) {
    if (gethostname(host, host_n) != 0)
        snprintf(host, host_n, "localhost");
    host[host_n - 1] = 0;
    token_of((long)getpid(), token, token_n);
}

int ar__proc_alive(int64_t pid, const char *token) {
    if (pid <= 0)
        return 0;
    char state;
    unsigned long long start;
    if (proc_stat((long)pid, &state, &start) == 0) {
        if (state == 'Z' || state == 'X')
            return 0; /* exited, not yet reaped */
        char now[128];
        token_of((long)pid, now, sizeof now);
        return strcmp(now, token) == 0;
    }
    /* No /proc (not Linux): fall back to whether the pid exists at all. */
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
        FILE *f = fopen("/proc/self/stat", "r");
        if (f) { /* /proc works, so the pid really is gone */
            fclose(f);
            return 0;
        }
        return 1;
    }
    return 0;
}
