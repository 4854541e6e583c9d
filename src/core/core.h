/*
 * core.h -- internal helpers shared by every part of libagentrec (not API).
 *
 * Allocation goes through ar__malloc/ar__realloc/ar__free so that the allocator hooks (and the
 * tests' "fail the Nth allocation" hook) see every byte. Overflow-checked size arithmetic lives
 * here too, because every array size in the library comes from untrusted input somewhere.
 */
#ifndef AR_CORE_H
#define AR_CORE_H

#include "agentrec.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define AR__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AR__PRINTF(f, a)
#endif

void *ar__malloc(size_t size);
void *ar__calloc(size_t n, size_t size);
void *ar__realloc(void *ptr, size_t size);
void ar__free(void *ptr);
char *ar__strdup(const char *s);
/* n * size, or NULL/0 on overflow: returns false when the product does not fit. */
bool ar__mul_ok(size_t n, size_t size, size_t *out);
/* Allocates n elements of size bytes, or NULL on overflow or out of memory. */
void *ar__alloc_array(size_t n, size_t size);
/* Grows *ptr (of *cap elements of size bytes) to hold at least need elements, doubling.
 * Returns AR_ENOMEM on failure and leaves *ptr as it was. */
ar_status ar__grow(void **ptr, size_t *cap, size_t need, size_t size);

/* A growable NUL-terminated string: s is NULL until the first append; free s with ar__free. */
typedef struct ar__buf {
    char *s;
    size_t n, cap;
} ar__buf;
/* Appends n bytes of s (ar__buf_str: a C string); false when out of memory (b unchanged). */
bool ar__buf_add(ar__buf *b, const char *s, size_t n);
bool ar__buf_str(ar__buf *b, const char *s);

/* Writes a formatted message into err (when non-NULL) and returns status, so error paths read
 * `return ar__fail(err, AR_EPARSE, "%s:%lld: expected ...", ...);`. */
ar_status ar__fail(ar_error *err, ar_status status, const char *fmt, ...) AR__PRINTF(3, 4);

/* Number of threads to use for a request of n (0 = all available). Always >= 1. */
int ar__threads(int n);

/* Monotonic clock in seconds. */
double ar__now(void);

/* 64-bit hash of a byte string (FNV-1a, then a splitmix finaliser). */
uint64_t ar__hash_bytes(const void *data, size_t n);

/* A string interner: maps NUL-terminated strings to dense ids 0..n-1 in insertion order.
 * Strings are copied into one growing pool. */
typedef struct ar__intern {
    char *pool;
    size_t pool_len, pool_cap;
    size_t *offs; /* offset of string i in pool */
    int64_t n;
    size_t offs_cap;
    int64_t *slots; /* open addressing: id + 1, 0 = empty */
    size_t n_slots; /* power of two */
} ar__intern;

void ar__intern_init(ar__intern *t);
void ar__intern_deinit(ar__intern *t);
/* Returns the id of s, adding it when new (*added = 1). AR_ENOMEM or AR_ERANGE (over 2^31-1
 * strings) on failure. */
ar_status ar__intern_put(ar__intern *t, const char *s, int32_t *id, int *added);
/* The id of s or -1. */
int32_t ar__intern_get(const ar__intern *t, const char *s);
static inline const char *ar__intern_str(const ar__intern *t, int32_t id) {
    return t->pool + t->offs[id];
}

/* 1 if x is among the n ascending values of a (binary search). */
static inline int ar__contains_sorted(const int32_t *a, int64_t n, int32_t x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

/* Parses a whole decimal integer in [lo, hi]. Returns false on anything else (sign allowed,
 * no spaces, no trailing characters). */
bool ar__parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* Parses a whole finite floating-point number. */
bool ar__parse_double(const char *s, double *out);

#endif
