/*
 * cli.h -- shared pieces of the agentrec command line: option tables, error reporting, JSON
 * output and the dataset directory convention (DIR/dataset.ards).
 *
 * Exit codes: 0 success, 1 the command failed (bad input, I/O), 2 usage error.
 */
#ifndef AR_CLI_H
#define AR_CLI_H

#include "agentrec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define CLI_FAIL 1
#define CLI_USAGE 2

typedef enum cli_kind { OPT_FLAG, OPT_STR, OPT_INT, OPT_U64, OPT_DOUBLE, OPT_LIST } cli_kind;

/* A repeatable option (OPT_LIST): every value given, in order. */
#define CLI_LIST_MAX 64
typedef struct cli_list {
    const char *v[CLI_LIST_MAX];
    int n;
} cli_list;

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_kind kind;
    void *dst; /* bool *, const char **, int *, uint64_t *, double *, cli_list * */
} cli_opt;

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    const char *usage; /* printed by `agentrec CMD --help` */
    int (*run)(int argc, char **argv);
} cli_cmd;

/* Parses argv[1..] (argv[0] is the command name) against opts, collecting up to max_pos
 * positional arguments. Prints a one-line error and returns CLI_USAGE on bad usage, -1 when
 * --help was given (usage already printed), 0 otherwise. */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char **pos, int max_pos, int *n_pos,
              const cli_cmd *cmd);

/* Prints "agentrec CMD: message" on stderr and returns CLI_FAIL. */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A progress bar on stderr, enabled only when stderr is a terminal and CI is unset. */
ar_progress *cli_progress(const char *label);

/* DIR/dataset.ards into buf. */
void cli_dataset_path(const char *dir, char *buf, size_t n);
/* Loads DIR's dataset; on failure prints the error and returns NULL. */
ar_dataset *cli_load(const char *cmd, const char *dir);
/* Creates DIR (and parents) when missing and writes the dataset atomically. Returns 0 or
 * CLI_FAIL after printing the error. */
int cli_save(const char *cmd, const ar_dataset *ds, const char *dir);

/* Prints a JSON value on one line to stdout and frees it. */
void cli_print_json(json_t *v);

/* Parses "train,valid" into a split mask; 0 on error. */
unsigned cli_parse_splits(const char *s);

/* Parses "10,20,50" into ascending cutoffs; returns false on anything else. */
bool cli_parse_cutoffs(const char *s, int32_t *k, int *n, int max);

/* Creates model `name` and applies "key=value" parameters (and a JSON object of parameters
 * when params_json is non-NULL). Prints the error and returns NULL on failure. */
ar_model *cli_model(const char *cmd, const char *name, const cli_list *params,
                    const char *params_json);
/* Parses event weights "click=1,cart=2,purchase=4" (a bare name weighs 1; events not listed
 * weigh 0) against ds's event names into *w (ar_dataset_n_events(ds) entries, caller frees with
 * free()). Prints the error and returns CLI_FAIL on an unknown event or a bad weight. */
int cli_event_weights(const char *cmd, const ar_dataset *ds, const char *spec, float **w, int *n);
/* The whole of a stream as a NUL-terminated string (caller frees with free()); NULL when it
 * cannot be read, memory runs out or it is larger than CLI_READ_MAX. */
#define CLI_READ_MAX ((size_t)16 << 20)
char *cli_read_stream(FILE *f);
/* The same for a file; prints "agentrec CMD: WHAT PATH: ..." and returns NULL on failure. */
char *cli_read_text(const char *cmd, const char *what, const char *path);
/* A duration: "90s", "5m", "2h" or a bare number of seconds -> seconds; NAN when malformed. */
double cli_parse_duration(const char *s);
/* Peak resident memory of this process in MiB. */
double cli_peak_rss_mb(void);
/* Seconds on a monotonic clock. */
double cli_now(void);

/* The subcommands, one file each in src/cli/. */
extern const cli_cmd cmd_import, cmd_info, cmd_split, cmd_eval, cmd_demo, cmd_train, cmd_recommend,
    cmd_trial, cmd_world, cmd_runs, cmd_decisions, cmd_models, cmd_report, cmd_ledger, cmd_spec,
    cmd_autotrain, cmd_agents, cmd_reproduce, cmd_llm, cmd_example;
/* A spec argument (JSON text when it starts with '{', else a file) as malloc'd text, and the
 * model it builds (src/cli/spec.c); both print the error and return NULL on failure. */
char *cli_spec_text(const char *cmd, const char *arg);
ar_model *cli_spec_model(const char *cmd, const char *arg);
/* Learns m's root blend weights on the valid split (histories: fit_mask), printing any error;
 * the result as JSON; and writing text + newline to path atomically (0 or CLI_FAIL). */
ar_status cli_learn_weights(const char *cmd, ar_model *m, const ar_dataset *ds, unsigned fit_mask,
                            uint64_t seed, int threads, ar_blend_learn_result *out);
json_t *cli_learn_json(const ar_blend_learn_result *r);
int cli_write_text(const char *cmd, const char *path, const char *text);

#endif
