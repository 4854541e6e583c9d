/*
 * spec.c -- `agentrec spec validate|canonical|hash|info|schema`: the model-spec language from
 * the command line (docs/spec.md), and cli_spec_model(), which train, eval and trial use for
 * --spec.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(int argc, char **argv);

const cli_cmd cmd_spec = {
    "spec", "validate, canonicalise and describe model specs",
    "usage: agentrec spec validate FILE|JSON [--json]   check a spec; the error names its path\n"
    "       agentrec spec canonical FILE|JSON           defaults filled, keys sorted\n"
    "       agentrec spec hash FILE|JSON                64-bit hash of the canonical form\n"
    "       agentrec spec info FILE|JSON                depth, base learners, dominant model\n"
    "       agentrec spec schema                        the JSON Schema (docs/spec.schema.json)\n"
    "\n"
    "A spec argument that starts with '{' is the JSON itself, anything else a file name.\n"
    "train and eval take --spec FILE|JSON instead of --model; see docs/spec.md.\n",
    run};

char *cli_spec_text(const char *cmd, const char *arg) {
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (*p == '{')
        return strdup(arg);
    FILE *f = fopen(arg, "rb");
    if (!f) {
        cli_error(cmd, "%s: cannot open the spec file", arg);
        return NULL;
    }
    size_t cap = AR_SPEC_MAX_BYTES + 2, n;
    char *s = malloc(cap);
    if (!s) {
        fclose(f);
        cli_error(cmd, "out of memory");
        return NULL;
    }
    n = fread(s, 1, cap - 1, f);
    fclose(f);
    s[n] = 0;
    if (n > AR_SPEC_MAX_BYTES) {
        free(s);
        cli_error(cmd, "%s: longer than %d bytes", arg, AR_SPEC_MAX_BYTES);
        return NULL;
    }
    return s;
}

ar_model *cli_spec_model(const char *cmd, const char *arg) {
    char *text = cli_spec_text(cmd, arg);
    if (!text)
        return NULL;
    ar_model *m;
    ar_error err;
    ar_status st = ar_model_create_spec(text, &m, &err);
    free(text);
    if (st) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return m;
}

static int run(int argc, char **argv) {
    bool json = false;
    const cli_opt opts[] = {{"json", OPT_FLAG, &json}, {NULL, OPT_FLAG, NULL}};
    const char *pos[2];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 2, &n_pos, &cmd_spec);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos == 1 && strcmp(pos[0], "schema") == 0) {
        printf("%s\n", ar_spec_schema());
        return 0;
    }
    static const char *const subs[] = {"validate", "canonical", "hash", "info", NULL};
    int sub = -1;
    for (int i = 0; n_pos == 2 && subs[i]; i++)
        if (strcmp(pos[0], subs[i]) == 0)
            sub = i;
    if (sub < 0) {
        fprintf(stderr, "agentrec spec: expected validate|canonical|hash|info FILE, or schema "
                        "(see --help)\n");
        return CLI_USAGE;
    }
    char *text = cli_spec_text("spec", pos[1]);
    if (!text)
        return CLI_FAIL;
    ar_error err;
    ar_status st;
    rc = 0;
    if (sub == 0) {
        st = ar_spec_validate(text, &err);
        if (json)
            cli_print_json(
                json_pack("{s:b,s:s}", "valid", st == AR_OK, "error", st ? err.msg : ""));
        else if (!st)
            printf("valid\n");
        if (st && !json)
            rc = cli_error("spec", "%s", err.msg);
        else if (st)
            rc = CLI_FAIL;
    } else if (sub == 1) {
        char *c;
        if ((st = ar_spec_canonical(text, &c, &err)))
            rc = cli_error("spec", "%s", err.msg);
        else
            printf("%s\n", c);
        ar_free_array(c);
    } else if (sub == 2) {
        uint64_t h;
        if ((st = ar_spec_hash(text, &h, &err)))
            rc = cli_error("spec", "%s", err.msg);
        else
            printf("%016llx\n", (unsigned long long)h);
    } else {
        ar_spec_info in;
        if ((st = ar_spec_info_get(text, &in, &err)))
            rc = cli_error("spec", "%s", err.msg);
        else
            cli_print_json(json_pack("{s:i,s:i,s:i,s:i,s:s,s:i}", "depth", in.depth, "leaves",
                                     in.n_leaves, "combinators", in.n_combinators, "top_members",
                                     in.top_members, "dominant", in.dominant, "transforms",
                                     in.n_transforms));
    }
    free(text);
    return rc;
}

ar_status cli_learn_weights(const char *cmd, ar_model *m, const ar_dataset *ds, unsigned fit_mask,
                            uint64_t seed, int threads, ar_blend_learn_result *out) {
    ar_blend_learn_options o = ar_blend_learn_options_default();
    o.history_mask = fit_mask;
    o.target_mask = AR_MASK_VALID;
    o.seed = seed;
    o.n_threads = threads;
    ar_error err;
    ar_status st = ar_model_learn_blend_weights(m, ds, &o, out, &err);
    if (st)
        cli_error(cmd, "%s", err.msg);
    return st;
}

json_t *cli_learn_json(const ar_blend_learn_result *r) {
    /* A blend's weights, or a stack's meta-model: one row of feature weights per member. */
    json_t *w = json_array();
    for (int j = 0; j < r->n_members; j++) {
        json_t *row = r->n_features ? json_array() : json_real(r->weights[j]);
        for (int k = 0; k < r->n_features; k++)
            json_array_append_new(row, json_real(r->meta[j][k]));
        json_array_append_new(w, row);
    }
    json_t *o = json_pack("{s:i,s:i,s:f,s:f,s:i,s:f,s:o}", "users", (int)r->users, "evaluations",
                          r->evaluations, "start_ndcg@20", r->start_ndcg, "best_single_ndcg@20",
                          r->best_single, "best_member", r->best_member, "final_ndcg@20",
                          r->final_ndcg, "weights", w);
    if (r->n_features) {
        json_t *f = json_array();
        for (int k = 0; k < r->n_features; k++)
            json_array_append_new(f, json_string(r->feature[k]));
        json_object_set_new(o, "features", f);
        json_object_set_new(o, "newton_iterations", json_integer(r->iterations));
        json_object_set_new(o, "newton_ndcg@20", json_real(r->newton_ndcg));
    }
    return o;
}

int cli_write_text(const char *cmd, const char *path, const char *text) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return cli_error(cmd, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return cli_error(cmd, "%s: cannot write", tmp);
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return cli_error(cmd, "%s: cannot write", path);
    }
    return 0;
}
