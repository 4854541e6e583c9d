/* test_util.h -- scratch directories for the unit tests (include after <cmocka.h>). */
#ifndef AR_TEST_UTIL_H
#define AR_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Creates /tmp/ar_test_NAME_XXXXXX into buf; 0 on success (a cmocka setup's return value). */
static inline int ar_test_mkdtemp(char *buf, size_t n, const char *name) {
    if (snprintf(buf, n, "/tmp/ar_test_%s_XXXXXX", name) >= (int)n)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

/* Removes a scratch directory and everything in it; 0 on success. */
static inline int ar_test_rmtree(const char *dir) {
    char cmd[600];
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) >= (int)sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

#endif
