/* Unit tests for ar_trial_run: every way a worker process can end, driven with /bin/sh
 * children so each outcome is produced for real (a signal, a CPU-time limit, a wall-clock
 * limit, a memory limit) rather than simulated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agentrec.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static ar_trial_result sh(const char *script, const char *input, ar_trial_limits lim) {
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    ar_trial_result r;
    ar_error err;
    assert_int_equal(ar_trial_run(argv, input, &lim, &r, &err), AR_OK);
    return r;
}

static void test_ok_and_io(void **state) {
    (void)state;
    ar_trial_limits none = {0};
    ar_trial_result r = sh("read x; echo \"{\\\"got\\\": $x}\"", "41\n", none);
    assert_int_equal(r.status, AR_TRIAL_OK);
    assert_string_equal(r.output, "{\"got\": 41}\n");
    assert_int_equal(r.exit_code, 0);
    ar_free_array(r.output);
    /* A large input and a large output at once must not deadlock. */
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = 0;
    r = sh("cat; cat /dev/null", big, none);
    assert_int_equal(r.status, AR_TRIAL_OK);
    assert_int_equal(strlen(r.output), n);
    ar_free_array(r.output);
    free(big);
}

static void test_error_and_exit_codes(void **state) {
    (void)state;
    ar_trial_limits none = {0};
    ar_trial_result r = sh("echo noise >&2; echo 'bad parameter k' >&2; exit 1", NULL, none);
    assert_int_equal(r.status, AR_TRIAL_ERROR);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.reason, "bad parameter k"));
    assert_null(strstr(r.reason, "noise"));
    ar_free_array(r.output);
    r = sh("echo 'loss is nan' >&2; exit 3", NULL, none);
    assert_int_equal(r.status, AR_TRIAL_NAN);
    assert_non_null(strstr(r.reason, "loss is nan"));
    ar_free_array(r.output);
    r = sh("exit 4", NULL, none);
    assert_int_equal(r.status, AR_TRIAL_MEMORY);
    ar_free_array(r.output);
    /* A missing executable is a failed trial, not a failure to run one. */
    char *argv[] = {"/nonexistent/worker", NULL};
    ar_error err;
    assert_int_equal(ar_trial_run(argv, NULL, NULL, &r, &err), AR_OK);
    assert_int_equal(r.status, AR_TRIAL_ERROR);
    assert_int_equal(r.exit_code, 127);
    ar_free_array(r.output);
}

static void test_crash(void **state) {
    (void)state;
    ar_trial_limits none = {0};
    ar_trial_result r = sh("echo 'about to fail' >&2; kill -SEGV $$", NULL, none);
    assert_int_equal(r.status, AR_TRIAL_CRASH);
    assert_int_equal(r.signal, SIGSEGV);
    assert_non_null(strstr(r.reason, "about to fail"));
    ar_free_array(r.output);
}

static void test_timeout(void **state) {
    (void)state;
    /* The grandchild sleep is in the same process group and dies too. */
    ar_trial_limits lim = {.wall_seconds = 0.3};
    ar_trial_result r = sh("sleep 30 & wait", NULL, lim);
    assert_int_equal(r.status, AR_TRIAL_TIMEOUT);
    assert_true(r.wall_seconds < 10);
    assert_non_null(strstr(r.reason, "wall-clock"));
    ar_free_array(r.output);
}

static void test_cpu_limit(void **state) {
    (void)state;
    ar_trial_limits lim = {.cpu_seconds = 1, .wall_seconds = 30};
    ar_trial_result r = sh("while :; do :; done", NULL, lim);
    ar_free_array(r.output);
    assert_int_equal(r.status, AR_TRIAL_CPU);
    /* The kernel enforces RLIMIT_CPU on scheduler time, while wait4's rusage is tick-sampled
     * and may report somewhat less; it must still show the loop burnt CPU, not slept. */
    assert_true(r.cpu_seconds > 0.5);
}

static void test_memory_limit(void **state) {
    (void)state;
    /* 64 MiB of address space is too little for a shell to hold a 200 MB string. */
    ar_trial_limits lim = {.memory_bytes = (size_t)64 << 20, .wall_seconds = 30};
    ar_trial_result r = sh("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}", NULL, lim);
    assert_true(r.status == AR_TRIAL_MEMORY || r.status == AR_TRIAL_ERROR);
    assert_true(r.status != AR_TRIAL_OK);
    ar_free_array(r.output);
    assert_string_equal(ar_trial_status_name(AR_TRIAL_CPU), "cpu_limit");
    assert_string_equal(ar_trial_status_name((ar_trial_status)99), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_and_io), cmocka_unit_test(test_error_and_exit_codes),
        cmocka_unit_test(test_crash),     cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cpu_limit), cmocka_unit_test(test_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
