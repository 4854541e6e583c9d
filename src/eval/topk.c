/*
 * topk.c -- exact top-k selection over a dense score vector.
 *
 * A bounded heap of k indices holds the best candidates seen so far, with the *worst* of them at
 * the root, so each new index costs one comparison with the root and, when it wins, one sift
 * down: O(n log k) time, no memory beyond the output array, which doubles as the heap. At the
 * end the heap is sorted in place (heap sort), best first.
 *
 * Order: higher score first; equal scores by lower index. NaN ranks like -INFINITY (below every
 * number), so a model that produces NaN for some items still gets a well-defined, deterministic
 * ranking instead of an order that depends on the comparison sequence.
 *
 * The exclude list must be sorted ascending; it is walked in step with the scan, so it costs
 * O(n_exclude) in total. Duplicates and out-of-range entries in it are harmless.
 */
#include "core/core.h"

#include <math.h>

static inline float key(const float *scores, int32_t i) {
    float s = scores[i];
    return isnan(s) ? -INFINITY : s;
}

/* 1 when index a ranks below index b. */
static inline int worse(const float *scores, int32_t a, int32_t b) {
    float sa = key(scores, a), sb = key(scores, b);
    return sa < sb || (sa == sb && a > b);
}

/* Restores the heap property below position pos: the root is the worst of heap[0..n). */
static void sift_down(const float *scores, int32_t *heap, int32_t n, int32_t pos) {
    int32_t x = heap[pos];
    for (;;) {
        int32_t child = 2 * pos + 1;
        if (child >= n)
            break;
        if (child + 1 < n && worse(scores, heap[child + 1], heap[child]))
            child++;
        if (!worse(scores, heap[child], x))
            break;
        heap[pos] = heap[child];
        pos = child;
    }
    heap[pos] = x;
}

static void sift_up(const float *scores, int32_t *heap, int32_t pos) {
    int32_t x = heap[pos];
    while (pos > 0) {
        int32_t parent = (pos - 1) / 2;
        if (!worse(scores, x, heap[parent]))
            break;
        heap[pos] = heap[parent];
        pos = parent;
    }
    heap[pos] = x;
}

int32_t ar_topk(const float *scores, int32_t n, const int32_t *exclude, int32_t n_exclude,
                int32_t k, int32_t *out) {
    if (k <= 0 || n <= 0)
        return 0;
    if (!exclude || n_exclude < 0)
        n_exclude = 0;
    int32_t size = 0, e = 0;
    for (int32_t i = 0; i < n; i++) {
        while (e < n_exclude && exclude[e] < i)
            e++;
        if (e < n_exclude && exclude[e] == i)
            continue;
        if (size < k) {
            out[size] = i;
            sift_up(scores, out, size++);
        } else if (worse(scores, out[0], i)) {
            out[0] = i;
            sift_down(scores, out, size, 0);
        }
    }
    /* Heap sort: move the worst to the back, shrink, repeat; leaves the best at out[0]. */
    for (int32_t end = size - 1; end > 0; end--) {
        int32_t t = out[0];
        out[0] = out[end];
        out[end] = t;
        sift_down(scores, out, end, 0);
    }
    return size;
}
