/*
 * core.c -- status codes, allocator hooks, error messages, string interning, number parsing.
 */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const char *ar_strerror(ar_status status) {
    switch (status) {
#define AR__STATUS_TEXT(name, code, text)                                                          \
    case AR_##name:                                                                                \
        return text;
        AR_STATUS_MAP(AR__STATUS_TEXT)
#undef AR__STATUS_TEXT
    }
    return "unknown status";
}

static ar_allocator allocator = {malloc, realloc, free};

void ar_set_allocator(const ar_allocator *a) {
    if (a && a->malloc_fn && a->realloc_fn && a->free_fn)
        allocator = *a;
    else
        allocator = (ar_allocator){malloc, realloc, free};
}

void *ar__malloc(size_t size) {
    return allocator.malloc_fn(size ? size : 1);
}

void *ar__realloc(void *ptr, size_t size) {
    return allocator.realloc_fn(ptr, size ? size : 1);
}

void ar__free(void *ptr) {
    if (ptr)
        allocator.free_fn(ptr);
}

bool ar__mul_ok(size_t n, size_t size, size_t *out) {
    if (size && n > SIZE_MAX / size)
        return false;
    *out = n * size;
    return true;
}

void *ar__alloc_array(size_t n, size_t size) {
    size_t bytes;
    if (!ar__mul_ok(n, size, &bytes))
        return NULL;
    return ar__malloc(bytes);
}

void *ar__calloc(size_t n, size_t size) {
    size_t bytes;
    if (!ar__mul_ok(n, size, &bytes))
        return NULL;
    void *p = ar__malloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

char *ar__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ar__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

ar_status ar__grow(void **ptr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return AR_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return AR_ENOMEM;
        ncap *= 2;
    }
    size_t bytes;
    if (!ar__mul_ok(ncap, size, &bytes))
        return AR_ENOMEM;
    void *p = ar__realloc(*ptr, bytes);
    if (!p)
        return AR_ENOMEM;
    *ptr = p;
    *cap = ncap;
    return AR_OK;
}

bool ar__buf_add(ar__buf *b, const char *s, size_t n) {
    if (ar__grow((void **)&b->s, &b->cap, b->n + n + 1, 1))
        return false;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return true;
}

bool ar__buf_str(ar__buf *b, const char *s) {
    return ar__buf_add(b, s, strlen(s));
}

ar_status ar__fail(ar_error *err, ar_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

int ar__threads(int n) {
#ifdef _OPENMP
    if (n <= 0)
        n = omp_get_max_threads();
#else
    n = 1;
#endif
    return n < 1 ? 1 : n;
}

double ar__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t ar__hash_bytes(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* -- string interning ------------------------------------------------------------------------ */

void ar__intern_init(ar__intern *t) {
    memset(t, 0, sizeof *t);
}

void ar__intern_deinit(ar__intern *t) {
    if (!t)
        return;
    ar__free(t->pool);
    ar__free(t->offs);
    ar__free(t->slots);
    memset(t, 0, sizeof *t);
}

static ar_status intern_rehash(ar__intern *t, size_t n_slots) {
    int64_t *slots = ar__calloc(n_slots, sizeof *slots);
    if (!slots)
        return AR_ENOMEM;
    for (int64_t id = 0; id < t->n; id++) {
        const char *s = t->pool + t->offs[id];
        size_t h = (size_t)ar__hash_bytes(s, strlen(s)) & (n_slots - 1);
        while (slots[h])
            h = (h + 1) & (n_slots - 1);
        slots[h] = id + 1;
    }
    ar__free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return AR_OK;
}

int32_t ar__intern_get(const ar__intern *t, const char *s) {
    if (!t->n_slots)
        return -1;
    size_t h = (size_t)ar__hash_bytes(s, strlen(s)) & (t->n_slots - 1);
    while (t->slots[h]) {
        int64_t id = t->slots[h] - 1;
        if (strcmp(t->pool + t->offs[id], s) == 0)
            return (int32_t)id;
        h = (h + 1) & (t->n_slots - 1);
    }
    return -1;
}

ar_status ar__intern_put(ar__intern *t, const char *s, int32_t *id, int *added) {
    if (added)
        *added = 0;
    int32_t found = ar__intern_get(t, s);
    if (found >= 0) {
        *id = found;
        return AR_OK;
    }
    if (t->n >= INT32_MAX)
        return AR_ERANGE;
    /* Keep the load factor under 1/2. */
    if ((size_t)(t->n + 1) * 2 > t->n_slots) {
        ar_status st = intern_rehash(t, t->n_slots ? t->n_slots * 2 : 1024);
        if (st)
            return st;
    }
    size_t len = strlen(s) + 1;
    ar_status st = ar__grow((void **)&t->pool, &t->pool_cap, t->pool_len + len, 1);
    if (!st)
        st = ar__grow((void **)&t->offs, &t->offs_cap, (size_t)t->n + 1, sizeof *t->offs);
    if (st)
        return st;
    memcpy(t->pool + t->pool_len, s, len);
    t->offs[t->n] = t->pool_len;
    t->pool_len += len;
    size_t h = (size_t)ar__hash_bytes(s, len - 1) & (t->n_slots - 1);
    while (t->slots[h])
        h = (h + 1) & (t->n_slots - 1);
    t->slots[h] = t->n + 1;
    *id = (int32_t)t->n++;
    if (added)
        *added = 1;
    return AR_OK;
}

/* -- number parsing --------------------------------------------------------------------------- */

bool ar__parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool ar__parse_double(const char *s, double *out) {
    if (!*s || *s == ' ' || *s == '\t')
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}
