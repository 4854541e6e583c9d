/*
 * rng.c -- xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
 * 2021) seeded through splitmix64. Streams: the generator for (seed, stream) is seeded from a
 * splitmix64 hash of both, so streams are independent for all practical purposes and parallel
 * code can give row r its own stream whatever thread runs it.
 */
#include "core.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ar_rng_seed(ar_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

void ar_rng_stream(ar_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    x = stream ^ a;
    uint64_t b = splitmix64(&x);
    ar_rng_seed(rng, a ^ (b * 0xd1342543de82ef95ull));
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t ar_rng_next(ar_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ar_rng_below(ar_rng *rng, uint64_t n) {
    /* Rejection sampling on the top of the range keeps the result unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = ar_rng_next(rng);
    } while (x >= limit);
    return x % n;
}

double ar_rng_uniform(ar_rng *rng) {
    return (double)(ar_rng_next(rng) >> 11) * 0x1.0p-53;
}
