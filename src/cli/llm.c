/*
 * llm.c -- `agentrec llm ping|propose`: talks to an OpenAI-compatible chat endpoint.
 *
 * The endpoint, model and key come from --endpoint/--model or the environment
 * (AGENTREC_LLM_ENDPOINT, AGENTREC_LLM_MODEL, AGENTREC_LLM_API_KEY, or the OPENAI_* names); the
 * key is deliberately not an option, so it never shows in a process listing. Every HTTP attempt
 * is reported on stderr (and appended to --log as a JSON line); the answer goes to stdout.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const cli_cmd cmd_llm = {
    "llm", "talk to an LLM endpoint: ping it, or have it propose a validated JSON document",
    "usage: agentrec llm ping [options] [--json]\n"
    "       agentrec llm propose --schema FILE [--context FILE] [--system FILE]\n"
    "                            [--validator none|zoo|spec] [options]\n"
    "\n"
    "ping sends a tiny schema-constrained request and prints the latency and the answer.\n"
    "propose asks for one JSON document that satisfies the JSON schema in FILE, giving the model\n"
    "--context (a JSON file: dataset profile, past proposals and their scores) as data and\n"
    "--system as its instructions; the answer is checked against the schema and the validator\n"
    "(zoo: {\"model\": NAME, \"params\": {...}} must name a model of the zoo with valid\n"
    "parameters; spec: a valid model spec, docs/spec.md) and asked again with the reason when it\n"
    "fails. It prints the accepted document. --schema spec: the model-spec language's schema.\n"
    "\n"
    "options:\n"
    "  --endpoint URL     base URL, e.g. http://127.0.0.1:8080/v1 (env AGENTREC_LLM_ENDPOINT,\n"
    "                     then OPENAI_BASE_URL)\n"
    "  --model NAME       model name (env AGENTREC_LLM_MODEL, then OPENAI_MODEL)\n"
    "                     the API key is read from AGENTREC_LLM_API_KEY or OPENAI_API_KEY only\n"
    "  --timeout S        seconds per HTTP attempt (default 120)\n"
    "  --retries N        attempts after the first (default 3)\n"
    "  --backoff S        first backoff after a transient failure, doubling (default 1)\n"
    "  --temperature T    (default 0.7)      --max-tokens N   (default 1024)\n"
    "  --seed S           sampling seed sent to the server (default 0)\n"
    "  --log FILE         append one JSON line per HTTP attempt\n"
    "  --quiet            do not report attempts on stderr\n"
    "\n"
    "exit status: 0 an accepted answer, 1 none (stderr says why), 2 bad usage.\n",
    run};

typedef struct log_state {
    FILE *file;
    bool quiet;
    int attempts;
} log_state;

static void on_attempt(void *ud, const ar_llm_attempt *a) {
    log_state *ls = ud;
    ls->attempts = a->attempt;
    if (!ls->quiet) {
        fprintf(stderr, "agentrec llm: attempt %d: %s", a->attempt,
                ar_llm_outcome_name(a->outcome));
        if (a->http_status)
            fprintf(stderr, ", HTTP %ld", a->http_status);
        fprintf(stderr, ", %.3f s: %s", a->latency_seconds, a->message);
        if (a->excerpt[0] && a->outcome != AR_LLM_HTTP)
            fprintf(stderr, " | %s", a->excerpt);
        if (a->will_retry && a->retry_in_seconds > 0)
            fprintf(stderr, "; retrying in %.1f s", a->retry_in_seconds);
        else if (a->will_retry)
            fprintf(stderr, "; asking again");
        fputc('\n', stderr);
    }
    if (ls->file) {
        json_t *o = json_pack("{s:i, s:s, s:I, s:f, s:s, s:s, s:b, s:f}", "attempt", a->attempt,
                              "outcome", ar_llm_outcome_name(a->outcome), "http_status",
                              (json_int_t)a->http_status, "latency_seconds", a->latency_seconds,
                              "message", a->message, "excerpt", a->excerpt, "will_retry",
                              a->will_retry, "retry_in_seconds", a->retry_in_seconds);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) {
            fprintf(ls->file, "%s\n", s);
            fflush(ls->file);
        }
        free(s);
        json_decref(o);
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static ar_status
reject(ar_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return AR_EINVAL;
}

/* --validator zoo: the answer names a model of the zoo and parameters it accepts. */
static ar_status validate_zoo(void *ctx, const char *text, ar_error *err) {
    (void)ctx;
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    const char *name = json_string_value(json_object_get(doc, "model"));
    json_t *params = json_object_get(doc, "params");
    ar_status st = AR_OK;
    ar_model *m = NULL;
    if (!name) {
        st = reject(err, "expected an object with a string \"model\"");
    } else if (ar_model_create(name, &m)) {
        char list[256] = "";
        for (const char *const *n = ar_model_names(); *n; n++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                     *n);
        st = reject(err, "model: \"%.60s\" is not a model of the zoo (%s)", name, list);
    } else if (params && !json_is_object(params)) {
        st = reject(err, "params: expected an object");
    } else if (params) {
        char *pj = json_dumps(params, JSON_COMPACT);
        st = pj ? ar_model_set_json(m, pj, err) : AR_ENOMEM;
        free(pj);
    }
    ar_model_free(m);
    json_decref(doc);
    return st;
}

/* --validator spec: the answer is a valid model spec (docs/spec.md). */
static ar_status validate_spec(void *ctx, const char *text, ar_error *err) {
    (void)ctx;
    return ar_spec_validate(text, err);
}

static int run(int argc, char **argv) {
    const char *endpoint = NULL, *model = NULL, *schema_path = NULL, *context_path = NULL;
    const char *system_path = NULL, *validator = "none", *log_path = NULL;
    double timeout = 120, backoff = 1, temperature = 0.7;
    int retries = 3, max_tokens = 1024;
    uint64_t seed = 0;
    bool json = false, quiet = false;
    const cli_opt opts[] = {{"endpoint", OPT_STR, &endpoint},
                            {"model", OPT_STR, &model},
                            {"timeout", OPT_DOUBLE, &timeout},
                            {"retries", OPT_INT, &retries},
                            {"backoff", OPT_DOUBLE, &backoff},
                            {"temperature", OPT_DOUBLE, &temperature},
                            {"max-tokens", OPT_INT, &max_tokens},
                            {"seed", OPT_U64, &seed},
                            {"schema", OPT_STR, &schema_path},
                            {"context", OPT_STR, &context_path},
                            {"system", OPT_STR, &system_path},
                            {"validator", OPT_STR, &validator},
                            {"log", OPT_STR, &log_path},
                            {"quiet", OPT_FLAG, &quiet},
                            {"json", OPT_FLAG, &json},
                            {NULL, OPT_FLAG, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse(argc, argv, opts, pos, 1, &n_pos, &cmd_llm);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (n_pos != 1 || (strcmp(pos[0], "ping") && strcmp(pos[0], "propose"))) {
        fprintf(stderr, "agentrec llm: expected 'ping' or 'propose' (see 'agentrec llm --help')\n");
        return CLI_USAGE;
    }
    bool ping = strcmp(pos[0], "ping") == 0;
    if (!ping && !schema_path) {
        fprintf(stderr, "agentrec llm: propose needs --schema FILE\n");
        return CLI_USAGE;
    }
    if (strcmp(validator, "none") && strcmp(validator, "zoo") && strcmp(validator, "spec")) {
        fprintf(stderr, "agentrec llm: --validator must be none, zoo or spec\n");
        return CLI_USAGE;
    }

    ar_llm_config cfg = ar_llm_config_default();
    ar_llm_config_from_env(&cfg);
    if (endpoint)
        cfg.endpoint = endpoint;
    if (model)
        cfg.model = model;
    cfg.timeout_seconds = timeout;
    cfg.max_retries = retries;
    cfg.backoff_seconds = backoff;
    cfg.temperature = temperature;
    cfg.max_tokens = max_tokens;
    cfg.seed = seed > INT64_MAX ? -1 : (int64_t)seed;
    const char *bad = ar_llm_config_check(&cfg);
    if (bad)
        return cli_error("llm",
                         "%s (set --endpoint/--model or AGENTREC_LLM_ENDPOINT/"
                         "AGENTREC_LLM_MODEL)",
                         bad);
    log_state ls = {NULL, quiet, 0};
    if (log_path && !(ls.file = fopen(log_path, "a")))
        return cli_error("llm", "--log %s: cannot open for appending", log_path);
    cfg.log = on_attempt;
    cfg.log_data = &ls;

    char *schema = NULL, *context = NULL, *sys = NULL, *answer = NULL;
    ar_error err;
    ar_status st;
    rc = CLI_FAIL;
    double t0 = cli_now();
    if (ping) {
        static const char ping_schema[] =
            "{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}},"
            " \"required\": [\"ok\"], \"additionalProperties\": false}";
        ar_llm_message msgs[2] = {
            {"system", "You answer health checks. Reply with the JSON object {\"ok\": true}."},
            {"user", "ping"}};
        st = ar_llm_chat(&cfg, msgs, 2, "ping", ping_schema, &answer, &err);
    } else {
        if (strcmp(schema_path, "spec") == 0) /* the model-spec language's own schema */
            schema_path = NULL;
        if ((schema_path && !(schema = cli_read_text("llm", "--schema", schema_path))) ||
            (context_path && !(context = cli_read_text("llm", "--context", context_path))) ||
            (system_path && !(sys = cli_read_text("llm", "--system", system_path))))
            goto done;
        st = ar_llm_propose(&cfg, schema ? schema : ar_spec_schema(), sys, context,
                            strcmp(validator, "zoo") == 0    ? validate_zoo
                            : strcmp(validator, "spec") == 0 ? validate_spec
                                                             : NULL,
                            NULL, &answer, &err);
    }
    double latency = cli_now() - t0;
    if (st) {
        cli_error("llm", "%s", err.msg);
        goto done;
    }
    if (ping && json) {
        json_error_t je;
        json_t *o = json_pack("{s:s, s:s, s:f, s:i, s:o}", "endpoint", cfg.endpoint, "model",
                              cfg.model, "latency_seconds", latency, "attempts", ls.attempts,
                              "answer", json_loads(answer, JSON_DECODE_ANY, &je));
        cli_print_json(o);
    } else {
        /* One line, keys in the order the model wrote them. */
        json_error_t je;
        json_t *doc = json_loads(answer, JSON_DECODE_ANY, &je);
        char *line = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(doc);
        if (ping)
            printf("%s (model %s): answered in %.3f s after %d attempt%s: %s\n", cfg.endpoint,
                   cfg.model, latency, ls.attempts, ls.attempts == 1 ? "" : "s",
                   line ? line : answer);
        else
            printf("%s\n", line ? line : answer);
        free(line);
    }
    rc = 0;
done:
    ar_free_array(answer);
    free(schema);
    free(context);
    free(sys);
    if (ls.file)
        fclose(ls.file);
    return rc;
}
