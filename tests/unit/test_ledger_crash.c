/*
 * Crash test: a child process logs runs in a loop (begin, metrics in batches and one by one,
 * a decision, finish) and reports each completed run on a pipe; the parent kills it with SIGKILL
 * at a random moment, 60 times. After every kill the ledger must pass PRAGMA integrity_check,
 * every run the child reported complete must be there, finished, with all its metrics, and the
 * run it was in the middle of must be marked 'interrupted' when the ledger is reopened.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "knowledge/ledger_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { KILLS = 60, BATCH = 10, BATCHES = 3, SINGLES = 5 };
#define METRICS_PER_RUN (BATCH * BATCHES + SINGLES)

static void child(const char *url, int fd) {
    ar_ledger *l;
    ar_error err;
    if (ar_ledger_open(url, NULL, &l, &err))
        _exit(3);
    for (int r = 0; r < 1000000; r++) {
        ar_run_spec sp = ar_run_spec_default();
        sp.agent = "crashy";
        sp.config = "{\"lr\": 0.1}";
        int64_t id;
        if (ar_ledger_run_begin(l, &sp, &id))
            _exit(4);
        ar_metric_point m[BATCH];
        for (int b = 0; b < BATCHES; b++) {
            for (int k = 0; k < BATCH; k++)
                m[k] = (ar_metric_point){"loss", 1.0 / (b * BATCH + k + 1), b * BATCH + k,
                                         AR_SCOPE_INNER, "train"};
            if (ar_ledger_log_metrics(l, id, m, BATCH))
                _exit(5);
        }
        int64_t last = 0;
        for (int k = 0; k < SINGLES; k++) {
            ar_metric_point one = {"ndcg", 0.1 * k, k, AR_SCOPE_OUTER, "test"};
            if (ar_ledger_log_metric(l, id, &one, &last))
                _exit(6);
        }
        ar_decision_spec d = {id, AR_ACTION_ADOPT, "better", &last, 1, AR_DECIDER_AGENT, "crashy"};
        if (ar_ledger_log_decision(l, &d, NULL) ||
            ar_ledger_run_finish(l, id, AR_RUN_FINISHED, 0.1, 1000))
            _exit(7);
        char line[32];
        int n = snprintf(line, sizeof line, "%lld\n", (long long)id);
        if (write(fd, line, (size_t)n) != n) /* one small write to a pipe is atomic */
            _exit(8);
    }
    _exit(0);
}

static int64_t scalar(ar_ledger *l, const char *sql, int64_t arg) {
    ar__rows r;
    ar__rows_init(&r);
    ar__val p = ar__vint(arg);
    assert_int_equal(ar__ledger_sql(l, sql, &p, strstr(sql, "?") ? 1 : 0, &r), AR_OK);
    int64_t v = ar__cell_int(&r, 0, 0);
    ar__rows_clear(&r);
    return v;
}

static void test_kill9(void **state) {
    (void)state;
    char dir[] = "/tmp/ar_ledger_crash_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite://%s/crash.db", dir);
    ar_ledger *l;
    ar_error err;
    assert_int_equal(ar_ledger_open(url, NULL, &l, &err), AR_OK);
    ar_ledger_free(l);

    ar_rng rng;
    ar_rng_seed(&rng, 20240607);
    int64_t *done = NULL;
    size_t n_done = 0, cap = 0;
    int64_t interrupted_total = 0;
    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(url, fds[1]);
        }
        close(fds[1]);
        struct timespec ts = {0, (long)(1000000 + ar_rng_below(&rng, 25000000))};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st)); /* killed, not failed */
        char buf[65536];
        size_t len = 0;
        ssize_t got;
        while ((got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
            len += (size_t)got;
        close(fds[0]);
        buf[len] = 0;
        for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n")) {
            if (n_done == cap) {
                cap = cap ? 2 * cap : 256;
                done = realloc(done, cap * sizeof *done);
            }
            done[n_done++] = strtoll(p, NULL, 10);
        }

        assert_int_equal(ar_ledger_open(url, NULL, &l, &err), AR_OK);
        if (ar_ledger_check(l))
            fail_msg("after kill %d: %s", kill_no, ar_ledger_errmsg(l));
        interrupted_total += ar_ledger_recovered(l);
        assert_int_equal(scalar(l, "SELECT count(*) FROM runs WHERE status = 'running'", 0), 0);
        for (size_t k = 0; k < n_done; k++) {
            int64_t id = done[k];
            assert_int_equal(scalar(l,
                                    "SELECT count(*) FROM runs WHERE id = ? AND status = "
                                    "'finished'",
                                    id),
                             1);
            assert_int_equal(scalar(l, "SELECT count(*) FROM metrics WHERE run_id = ?", id),
                             METRICS_PER_RUN);
            assert_int_equal(scalar(l, "SELECT count(*) FROM decisions WHERE run_id = ?", id), 1);
        }
        /* Batches are atomic: every run holds a whole number of batches plus singles. */
        assert_int_equal(scalar(l,
                                "SELECT count(*) FROM (SELECT run_id, count(*) AS n FROM metrics "
                                "WHERE name = 'loss' GROUP BY run_id) t WHERE n % ? <> 0",
                                BATCH),
                         0);
        ar_ledger_free(l);
    }
    printf("crash test: %d kills, %zu completed runs verified, %lld interrupted runs recovered\n",
           KILLS, n_done, (long long)interrupted_total);
    assert_true(n_done > 0);
    free(done);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill9)};
    return cmocka_run_group_tests_name("ledger crash", tests, NULL, NULL);
}
