/*
 * main.c -- the agentrec command: dispatches to one subcommand per file in src/cli/.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* clang-format off */
static const cli_cmd *const commands[] = {
    &cmd_import,
    &cmd_info,
    &cmd_split,
    &cmd_eval,
    &cmd_train,
    &cmd_recommend,
    &cmd_demo,
    &cmd_trial,
    &cmd_world,
    &cmd_runs,
    &cmd_decisions,
    &cmd_models,
    &cmd_report,
    &cmd_ledger,
    &cmd_spec,
    &cmd_llm,
    &cmd_autotrain,
    &cmd_agents,
    &cmd_reproduce,
    &cmd_example,
};
/* clang-format on */
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void help(FILE *f) {
    fprintf(f,
            "agentrec %s -- a recommender system whose modules improve themselves\n\n"
            "usage: agentrec <command> [options]   (agentrec <command> --help for details)\n\n"
            "commands:\n",
            AR_VERSION_STRING);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "  %-10s %s\n", "help", "this text, or 'agentrec help CMD' for one command");
    fprintf(
        f, "\nscriptable forms (stable):\n"
           "  agentrec import --format lightgcn --train T --test V --out DIR\n"
           "  agentrec import --format movielens --ratings FILE [--items F] [--users F] --out DIR\n"
           "  agentrec import --format recbole --inter FILE [--item FILE] [--user FILE] --out DIR\n"
           "  agentrec import --format s3rec --sequences FILE [--attributes FILE] --out DIR\n"
           "  agentrec import --format csv --file F --user-col C --item-col C [...] --out DIR\n"
           "  agentrec info DIR --json         -> {users, items, interactions, train, test, ...}\n"
           "  agentrec split DIR --method random|loo|temporal [--test-ratio R] [--seed S]\n"
           "  agentrec eval DIR --model mostpop --k 20 --json -> {recall@20, ndcg@20, users, ...}\n"
           "  agentrec eval DIR --ranked FILE --k 20 --json   (lines 'user<TAB>item item ...')\n"
           "  agentrec world generate --config W.json --seed S --days N --policy NAME --out DIR\n"
           "  agentrec world eval --config W.json --seed S --policy NAME --visits N --json\n"
           "  agentrec world stats --config W.json --seed S --json;  agentrec world config\n"
           "\nEvery command exits 0 on success, 1 on failure and 2 on bad usage, with a one-line\n"
           "error on stderr.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc > 2) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i]->name) == 0) {
                    printf("%s", commands[i]->usage);
                    return 0;
                }
            fprintf(stderr, "agentrec: unknown command '%s' (see 'agentrec help')\n", argv[2]);
            return CLI_USAGE;
        }
        help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("agentrec %s\n", AR_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i]->name) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "agentrec: unknown command '%s' (see 'agentrec help')\n", name);
    return CLI_USAGE;
}
