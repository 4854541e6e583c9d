/*
 * trial.c -- run one trial in a child process with wall-clock, CPU and memory limits.
 *
 * fork(), then in the child: new process group, setrlimit, dup2 the pipes, execv. Nothing else
 * runs between fork and exec, so it is safe in a process that uses OpenMP or BLAS threads. The
 * parent writes the input, reads stdout and the tail of stderr with poll() until the child
 * closes them or the deadline passes (then the whole process group is killed), and reaps the
 * child with wait4() for its CPU time and peak memory. How it ended decides the status:
 *
 *   exit 0                        ok
 *   exit AR_TRIAL_EXIT_NAN        nan
 *   exit AR_TRIAL_EXIT_NOMEM      memory_limit (an allocation failed)
 *   other exit code               error, reason = last stderr line
 *   killed by us at the deadline  timeout
 *   SIGXCPU / SIGKILL past the CPU limit   cpu_limit
 *   other signals                 crash (memory_limit when a memory limit was set and the
 *                                 crash is SIGSEGV/SIGBUS/SIGABRT: a failed mmap or a
 *                                 library's abort on allocation failure)
 */
#define _DEFAULT_SOURCE
#include "agents/agents_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_OUTPUT ((size_t)64 << 20)
#define ERR_TAIL 4096

const char *ar_trial_status_name(ar_trial_status s) {
    static const char *const names[] = {"ok",        "error",        "crash", "timeout",
                                        "cpu_limit", "memory_limit", "nan"};
    return (unsigned)s <= AR_TRIAL_NAN ? names[s] : "unknown";
}

static void set_limits(const ar_trial_limits *lim) {
    struct rlimit r;
    if (lim->cpu_seconds > 0) {
        r.rlim_cur = (rlim_t)ceil(lim->cpu_seconds);
        r.rlim_max = r.rlim_cur + 2; /* SIGXCPU first, SIGKILL two seconds later */
        setrlimit(RLIMIT_CPU, &r);
    }
    if (lim->memory_bytes > 0) {
        r.rlim_cur = r.rlim_max = (rlim_t)lim->memory_bytes;
        setrlimit(RLIMIT_AS, &r);
    }
    r.rlim_cur = r.rlim_max = 0; /* no core files from crashing trials */
    setrlimit(RLIMIT_CORE, &r);
}

static double tv_seconds(struct timeval tv) {
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* The last non-empty line of s (in place). */
static const char *last_line(char *s, size_t n) {
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    char *nl = strrchr(s, '\n');
    return nl ? nl + 1 : s;
}

ar_status ar_trial_run(char *const argv[], const char *input, const ar_trial_limits *lim,
                       ar_trial_result *out, ar_error *err) {
    memset(out, 0, sizeof *out);
    ar_trial_limits none = {0};
    if (!lim)
        lim = &none;
    int in[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (pipe(in) || pipe(po) || pipe(pe)) {
        int e = errno;
        for (int k = 0; k < 2; k++) {
            if (in[k] >= 0)
                close(in[k]);
            if (po[k] >= 0)
                close(po[k]);
            if (pe[k] >= 0)
                close(pe[k]);
        }
        return ar__fail(err, AR_EIO, "trial: pipe failed: %s", strerror(e));
    }
    char *buf = ar__malloc(65536);
    if (!buf) {
        for (int k = 0; k < 2; k++)
            close(in[k]), close(po[k]), close(pe[k]);
        return ar__fail(err, AR_ENOMEM, "trial: out of memory");
    }
    double t0 = ar__now();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        for (int k = 0; k < 2; k++)
            close(in[k]), close(po[k]), close(pe[k]);
        ar__free(buf);
        return ar__fail(err, AR_EIO, "trial: fork failed: %s", strerror(e));
    }
    if (pid == 0) {
        setpgid(0, 0);
        set_limits(lim);
        dup2(in[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        for (int k = 0; k < 2; k++)
            close(in[k]), close(po[k]), close(pe[k]);
        execv(argv[0], argv);
        static const char msg[] = "trial: cannot execute the worker\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
            /* nothing more to say */
        }
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent, so the group exists before any kill */
    close(in[0]);
    close(po[1]);
    close(pe[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN); /* a child that exits early must not kill the agent */

    size_t in_len = input ? strlen(input) : 0, in_done = 0;
    char *outp = NULL, tail[ERR_TAIL + 1];
    size_t out_len = 0, out_cap = 0, tail_len = 0;
    int timed_out = 0, fd_in = in[1], fd_out = po[0], fd_err = pe[0];
    if (in_len == 0) {
        close(fd_in);
        fd_in = -1;
    }
    ar_status st = AR_OK;
    while (fd_out >= 0 || fd_err >= 0) {
        struct pollfd fds[3];
        int nf = 0;
        if (fd_in >= 0)
            fds[nf++] = (struct pollfd){fd_in, POLLOUT, 0};
        if (fd_out >= 0)
            fds[nf++] = (struct pollfd){fd_out, POLLIN, 0};
        if (fd_err >= 0)
            fds[nf++] = (struct pollfd){fd_err, POLLIN, 0};
        int wait_ms = -1;
        if (lim->wall_seconds > 0) {
            double left = lim->wall_seconds - (ar__now() - t0);
            if (left <= 0) {
                timed_out = 1;
                kill(-pid, SIGKILL);
                break;
            }
            wait_ms = (int)(left * 1000) + 1;
        }
        int r = poll(fds, (nfds_t)nf, wait_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            kill(-pid, SIGKILL);
            st = ar__fail(err, AR_EIO, "trial: poll failed: %s", strerror(errno));
            break;
        }
        for (int k = 0; k < nf; k++) {
            if (!fds[k].revents)
                continue;
            int fd = fds[k].fd;
            if (fd == fd_in) {
                ssize_t w = write(fd, input + in_done, in_len - in_done);
                if (w > 0)
                    in_done += (size_t)w;
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                    in_done = in_len; /* the child stopped reading: give up on the rest */
                if (in_done == in_len) {
                    close(fd_in);
                    fd_in = -1;
                }
                continue;
            }
            ssize_t got = read(fd, buf, 65536);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                close(fd);
                if (fd == fd_out)
                    fd_out = -1;
                else
                    fd_err = -1;
                continue;
            }
            if (fd == fd_out) {
                size_t take =
                    out_len + (size_t)got > MAX_OUTPUT ? MAX_OUTPUT - out_len : (size_t)got;
                if (take && !ar__grow((void **)&outp, &out_cap, out_len + take + 1, 1)) {
                    memcpy(outp + out_len, buf, take);
                    out_len += take;
                }
            } else {
                /* Keep the last ERR_TAIL bytes of stderr. */
                size_t g = (size_t)got;
                if (g >= ERR_TAIL) {
                    memcpy(tail, buf + g - ERR_TAIL, ERR_TAIL);
                    tail_len = ERR_TAIL;
                } else {
                    size_t keep = tail_len + g > ERR_TAIL ? ERR_TAIL - g : tail_len;
                    memmove(tail, tail + tail_len - keep, keep);
                    memcpy(tail + keep, buf, g);
                    tail_len = keep + g;
                }
            }
        }
    }
    if (fd_in >= 0)
        close(fd_in);
    if (fd_out >= 0)
        close(fd_out);
    if (fd_err >= 0)
        close(fd_err);
    ar__free(buf);

    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    out->wall_seconds = ar__now() - t0;
    out->cpu_seconds = tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime);
    out->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
    tail[tail_len] = 0;
    const char *why = last_line(tail, tail_len);
    if (!outp)
        outp = ar__calloc(1, 1);
    else
        outp[out_len] = 0;
    out->output = outp;
    if (st)
        return st;

    if (timed_out) {
        out->status = AR_TRIAL_TIMEOUT;
        out->signal = SIGKILL;
        snprintf(out->reason, sizeof out->reason, "killed after the %.1f s wall-clock limit",
                 lim->wall_seconds);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        out->signal = sig;
        int cpu_over = lim->cpu_seconds > 0 && out->cpu_seconds >= ceil(lim->cpu_seconds) - 0.05;
        if (sig == SIGXCPU || (sig == SIGKILL && cpu_over)) {
            out->status = AR_TRIAL_CPU;
            snprintf(out->reason, sizeof out->reason, "stopped at the %.0f s CPU-time limit",
                     ceil(lim->cpu_seconds));
        } else if (lim->memory_bytes > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT)) {
            out->status = AR_TRIAL_MEMORY;
            snprintf(out->reason, sizeof out->reason,
                     "died of %s under the %.0f MiB memory limit%s%.300s", strsignal(sig),
                     (double)lim->memory_bytes / 1048576.0, *why ? ": " : "", why);
        } else {
            out->status = AR_TRIAL_CRASH;
            snprintf(out->reason, sizeof out->reason, "crashed: %s%s%.300s", strsignal(sig),
                     *why ? ": " : "", why);
        }
    } else {
        int code = WEXITSTATUS(status);
        out->exit_code = code;
        if (code == 0) {
            out->status = AR_TRIAL_OK;
        } else if (code == AR_TRIAL_EXIT_NAN) {
            out->status = AR_TRIAL_NAN;
            snprintf(out->reason, sizeof out->reason, "non-finite result%s%.300s", *why ? ": " : "",
                     why);
        } else if (code == AR_TRIAL_EXIT_NOMEM) {
            out->status = AR_TRIAL_MEMORY;
            snprintf(out->reason, sizeof out->reason, "out of memory%s%.300s", *why ? ": " : "",
                     why);
        } else {
            out->status = AR_TRIAL_ERROR;
            snprintf(out->reason, sizeof out->reason, "exit status %d%s%.300s", code,
                     *why ? ": " : "", why);
        }
    }
    return AR_OK;
}
