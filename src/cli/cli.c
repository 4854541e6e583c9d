/*
 * cli.c -- option parsing and the helpers every subcommand shares.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "agentrec %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

static int usage_error(const cli_cmd *cmd, const char *what, const char *arg) {
    fprintf(stderr, "agentrec %s: %s '%s' (see 'agentrec %s --help')\n", cmd->name, what, arg,
            cmd->name);
    return CLI_USAGE;
}

static bool set_value(const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)o->dst = v;
        return true;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || x < INT_MIN || x > INT_MAX)
            return false;
        *(int *)o->dst = (int)x;
        return true;
    }
    case OPT_U64: {
        if (*v == '-')
            return false;
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end || errno)
            return false;
        *(uint64_t *)o->dst = x;
        return true;
    }
    case OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || x != x)
            return false;
        *(double *)o->dst = x;
        return true;
    }
    case OPT_LIST: {
        cli_list *l = o->dst;
        if (l->n >= CLI_LIST_MAX)
            return false;
        l->v[l->n++] = v;
        return true;
    }
    case OPT_FLAG:
        break;
    }
    return false;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char **pos, int max_pos, int *n_pos,
              const cli_cmd *cmd) {
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s", cmd->usage);
            return -1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (*n_pos >= max_pos)
                return usage_error(cmd, "unexpected argument", a);
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (const cli_opt *p = opts; p->name; p++)
            if (strlen(p->name) == len && strncmp(p->name, name, len) == 0)
                o = p;
        if (!o)
            return usage_error(cmd, "unknown option", a);
        if (o->kind == OPT_FLAG) {
            if (eq)
                return usage_error(cmd, "option takes no value", a);
            *(bool *)o->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v)
            return usage_error(cmd, "option needs a value", a);
        if (!set_value(o, v)) {
            fprintf(stderr, "agentrec %s: bad value '%s' for --%.*s\n", cmd->name, v, (int)len,
                    name);
            return CLI_USAGE;
        }
    }
    return 0;
}

ar_progress *cli_progress(const char *label) {
    int enabled = isatty(STDERR_FILENO) && !getenv("CI");
    return ar_progress_create(stderr, label, enabled);
}

void cli_dataset_path(const char *dir, char *buf, size_t n) {
    snprintf(buf, n, "%s/dataset.ards", dir);
}

ar_dataset *cli_load(const char *cmd, const char *dir) {
    char path[PATH_MAX];
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        cli_error(cmd, "%s: no such dataset directory (create one with 'agentrec import')", dir);
        return NULL;
    }
    cli_dataset_path(dir, path, sizeof path);
    ar_error err;
    ar_dataset *ds;
    ar_status st = ar_dataset_load(path, 1, &ds, &err);
    if (st) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return ds;
}

static int mkdirs(const char *dir) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int cli_save(const char *cmd, const ar_dataset *ds, const char *dir) {
    if (mkdirs(dir) != 0)
        return cli_error(cmd, "%s: cannot create directory: %s", dir, strerror(errno));
    char path[PATH_MAX];
    cli_dataset_path(dir, path, sizeof path);
    ar_error err;
    if (ar_dataset_save(ds, path, &err))
        return cli_error(cmd, "%s", err.msg);
    return 0;
}

void cli_print_json(json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (s) {
        printf("%s\n", s);
        free(s);
    }
    json_decref(v);
}

unsigned cli_parse_splits(const char *s) {
    unsigned mask = 0;
    char buf[64];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
        return 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "train") == 0)
            mask |= AR_MASK_TRAIN;
        else if (strcmp(t, "valid") == 0)
            mask |= AR_MASK_VALID;
        else if (strcmp(t, "test") == 0)
            mask |= AR_MASK_TEST;
        else
            return 0;
    }
    return mask;
}

bool cli_parse_cutoffs(const char *s, int32_t *k, int *n, int max) {
    *n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 1 || v > 100000 || *n >= max)
            return false;
        if (*n > 0 && v <= k[*n - 1])
            return false;
        k[(*n)++] = (int32_t)v;
        if (*end == ',')
            end++;
        else if (*end)
            return false;
        s = end;
    }
    return *n > 0;
}

ar_model *cli_model(const char *cmd, const char *name, const cli_list *params,
                    const char *params_json) {
    ar_model *m;
    ar_status st = ar_model_create(name, &m);
    if (st) {
        char list[256] = "";
        for (const char *const *n = ar_model_names(); *n; n++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                     *n);
        cli_error(cmd, "unknown model '%s' (available: %s)", name, list);
        return NULL;
    }
    ar_error err;
    if (params_json && ar_model_set_json(m, params_json, &err)) {
        cli_error(cmd, "%s", err.msg);
        ar_model_free(m);
        return NULL;
    }
    for (int i = 0; params && i < params->n; i++) {
        char key[128];
        const char *eq = strchr(params->v[i], '=');
        if (!eq || eq == params->v[i] || (size_t)(eq - params->v[i]) >= sizeof key) {
            cli_error(cmd, "--param expects key=value, got '%s'", params->v[i]);
            ar_model_free(m);
            return NULL;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - params->v[i]), params->v[i]);
        if (ar_model_set(m, key, eq + 1, &err)) {
            cli_error(cmd, "%s", err.msg);
            ar_model_free(m);
            return NULL;
        }
    }
    return m;
}

double cli_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_event_weights(const char *cmd, const ar_dataset *ds, const char *spec, float **w, int *n) {
    *n = ar_dataset_n_events(ds);
    *w = calloc((size_t)*n, sizeof **w);
    char *copy = strdup(spec);
    if (!*w || !copy) {
        free(*w);
        free(copy);
        *w = NULL;
        return cli_error(cmd, "out of memory");
    }
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && !rc;
         t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        double v = 1;
        if (eq) {
            *eq = 0;
            char *end;
            v = strtod(eq + 1, &end);
            if (!eq[1] || *end || !(v >= 0) || v > 1e6) {
                rc = cli_error(cmd, "--events: bad weight '%s' for %s (expected 0 to 1e6)", eq + 1,
                               t);
                break;
            }
        }
        int code = -1;
        for (int e = 0; e < *n; e++)
            if (strcmp(ar_dataset_event_name(ds, e), t) == 0)
                code = e;
        if (code < 0)
            rc = cli_error(cmd, "--events: the dataset has no event '%s'", t);
        else
            (*w)[code] = (float)v;
    }
    free(copy);
    if (rc) {
        free(*w);
        *w = NULL;
    }
    return rc;
}

char *cli_read_stream(FILE *f) {
    size_t cap = 4096, n = 0, got;
    char *s = malloc(cap);
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *t = cap < CLI_READ_MAX ? realloc(s, cap *= 2) : NULL;
            if (!t)
                free(s);
            s = t;
        }
    }
    if (s && ferror(f)) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    return s;
}

char *cli_read_text(const char *cmd, const char *what, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(cmd, "%s %s: cannot open", what, path);
        return NULL;
    }
    char *s = cli_read_stream(f);
    fclose(f);
    if (!s)
        cli_error(cmd, "%s %s: cannot read it (or larger than 16 MiB)", what, path);
    return s;
}

double cli_parse_duration(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || errno || !(v > 0) || !isfinite(v))
        return NAN;
    if (*end == 0 || strcmp(end, "s") == 0)
        return v;
    if (strcmp(end, "m") == 0)
        return v * 60;
    if (strcmp(end, "h") == 0)
        return v * 3600;
    return NAN;
}
