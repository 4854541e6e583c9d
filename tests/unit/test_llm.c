/* Unit tests for src/agents/llm*.c that need no server: the JSON Schema checker applied to LLM
 * answers, configuration checks, and argument errors; and AutoTrain's LLM proposals
 * (src/agents/proposer.c) from answer to spec. The HTTP paths are covered by
 * tests/integration/llm_errors.sh (a misbehaving fake endpoint) and llm_e2e.sh (llama.cpp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agentrec.h"
#include "agents/agents_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA =
    "{\"type\": \"object\", \"title\": \"spec\","
    " \"properties\": {"
    "  \"model\": {\"enum\": [\"itemknn\", \"ease\"]},"
    "  \"k\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000},"
    "  \"alpha\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1},"
    "  \"name\": {\"type\": \"string\", \"minLength\": 2, \"maxLength\": 4},"
    "  \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"minItems\": 1,"
    "            \"maxItems\": 3, \"uniqueItems\": true},"
    "  \"child\": {\"anyOf\": [{\"type\": \"null\"}, {\"$ref\": \"#/$defs/leaf\"}]}},"
    " \"required\": [\"model\", \"k\"], \"additionalProperties\": false,"
    " \"$defs\": {\"leaf\": {\"type\": \"object\", \"properties\": {\"w\": {\"const\": 1}},"
    "                      \"required\": [\"w\"], \"additionalProperties\": false}}}";

static void expect(const char *doc, ar_status want, const char *needle) {
    ar_error err = {{0}};
    ar_status st = ar_llm_schema_check(SCHEMA, doc, &err);
    if (st != want || (needle && !strstr(err.msg, needle)))
        fail_msg("%s: got %d '%s', want %d '%s'", doc, st, err.msg, want, needle ? needle : "");
}

static void test_schema_accepts(void **state) {
    (void)state;
    expect("{\"model\": \"ease\", \"k\": 10}", AR_OK, NULL);
    expect("{\"model\": \"ease\", \"k\": 10.0, \"alpha\": 0.5, \"name\": \"\xc3\xa9t\xc3\xa9\","
           " \"tags\": [\"a\", \"b\"], \"child\": {\"w\": 1.0}}",
           AR_OK, NULL);
    expect("{\"model\": \"itemknn\", \"k\": 1000, \"child\": null}", AR_OK, NULL);
}

static void test_schema_rejects(void **state) {
    (void)state;
    expect("{\"model\": \"ease\"", AR_EPARSE, "not JSON");
    expect("{\"model\": \"ease\", \"k\": 1} trailing", AR_EPARSE, "not JSON");
    expect("{\"model\": \"ease\", \"model\": \"itemknn\", \"k\": 1}", AR_EPARSE, "duplicate");
    expect("[]", AR_EINVAL, "$: expected type \"object\", got array");
    expect("{\"model\": \"bpr\", \"k\": 1}", AR_EINVAL, "$.model: \"bpr\" is not one of");
    expect("{\"model\": \"ease\"}", AR_EINVAL, "required property \"k\" is missing");
    expect("{\"model\": \"ease\", \"k\": 1.5}", AR_EINVAL, "$.k: expected type \"integer\"");
    expect("{\"model\": \"ease\", \"k\": 0}", AR_EINVAL, "$.k: 0 is below the minimum 1");
    expect("{\"model\": \"ease\", \"k\": 5000}", AR_EINVAL, "above the maximum 1000");
    expect("{\"model\": \"ease\", \"k\": 1, \"alpha\": 1}", AR_EINVAL, "$.alpha: 1 must be below");
    expect("{\"model\": \"ease\", \"k\": 1, \"alpha\": 0}", AR_EINVAL, "must be above 0");
    expect("{\"model\": \"ease\", \"k\": 1, \"name\": \"\xc3\xa9\"}", AR_EINVAL, "under minLength");
    expect("{\"model\": \"ease\", \"k\": 1, \"name\": \"abcde\"}", AR_EINVAL, "over maxLength");
    expect("{\"model\": \"ease\", \"k\": 1, \"tags\": []}", AR_EINVAL, "fewer than minItems");
    expect("{\"model\": \"ease\", \"k\": 1, \"tags\": [\"a\", \"a\"]}", AR_EINVAL,
           "items 0 and 1 are equal");
    expect("{\"model\": \"ease\", \"k\": 1, \"tags\": [\"a\", 2]}", AR_EINVAL, "$.tags[1]:");
    expect("{\"model\": \"ease\", \"k\": 1, \"extra\": true}", AR_EINVAL,
           "unexpected property \"extra\"");
    expect("{\"model\": \"ease\", \"k\": 1, \"child\": {\"w\": 2}}", AR_EINVAL,
           "$.child: matches none of the anyOf alternatives");
}

static void test_schema_lint(void **state) {
    (void)state;
    ar_error err;
    assert_int_equal(
        ar_llm_schema_check("{\"type\": \"string\", \"pattern\": \"a+\"}", "\"a\"", &err),
        AR_EINVAL);
    assert_non_null(strstr(err.msg, "keyword 'pattern' is not supported at $"));
    assert_int_equal(
        ar_llm_schema_check("{\"properties\": {\"x\": {\"format\": \"date\"}}}", "{}", &err),
        AR_EINVAL);
    assert_non_null(strstr(err.msg, "'format' is not supported at $.x"));
    assert_int_equal(ar_llm_schema_check("{\"$ref\": \"#/$defs/missing\"}", "1", &err), AR_EINVAL);
    assert_int_equal(ar_llm_schema_check("{\"type\": \"float\"}", "1", &err), AR_EINVAL);
    assert_int_equal(ar_llm_schema_check("{\"type\": [\"integer\", \"null\"]}", "null", &err),
                     AR_OK);
    assert_int_equal(ar_llm_schema_check("{\"type\": [\"integer\", \"nope\"]}", "1", &err),
                     AR_EINVAL);
    assert_int_equal(ar_llm_schema_check("[1]", "1", &err), AR_EINVAL);
    /* A schema that refers to itself without consuming the document fails cleanly. */
    assert_int_equal(ar_llm_schema_check("{\"$ref\": \"#\"}", "1", &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "recurses too deeply"));
    /* A recursive schema over a finite document is fine. */
    const char *tree = "{\"type\": \"object\", \"properties\": {\"kids\": {\"type\": \"array\","
                       " \"items\": {\"$ref\": \"#\"}}}}";
    assert_int_equal(ar_llm_schema_check(tree, "{\"kids\": [{\"kids\": [{}]}, {}]}", &err), AR_OK);
    assert_int_equal(ar_llm_schema_check(tree, "{\"kids\": [{\"kids\": [1]}]}", &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "$.kids[0].kids[0]"));
    /* oneOf: exactly one. */
    const char *one = "{\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\"}]}";
    assert_int_equal(ar_llm_schema_check(one, "1.5", &err), AR_OK);
    assert_int_equal(ar_llm_schema_check(one, "1", &err), AR_EINVAL);
}

static void test_config(void **state) {
    (void)state;
    ar_llm_config c = ar_llm_config_default();
    assert_non_null(ar_llm_config_check(&c)); /* no endpoint */
    c.endpoint = "ftp://x";
    c.model = "m";
    assert_non_null(strstr(ar_llm_config_check(&c), "http"));
    c.endpoint = "http://127.0.0.1:1/v1";
    assert_null(ar_llm_config_check(&c));
    c.timeout_seconds = 0;
    assert_non_null(ar_llm_config_check(&c));
    c.timeout_seconds = 1;
    c.max_retries = -1;
    assert_non_null(ar_llm_config_check(&c));
    c.max_retries = 0;
    c.temperature = 3;
    assert_non_null(ar_llm_config_check(&c));
    c.temperature = 0;
    c.max_tokens = 0;
    assert_non_null(ar_llm_config_check(&c));
    assert_string_equal(ar_llm_outcome_name(AR_LLM_INVALID), "invalid");
    assert_string_equal(ar_llm_outcome_name((ar_llm_outcome)99), "unknown");
}

static void test_bad_arguments(void **state) {
    (void)state;
    ar_llm_config c = ar_llm_config_default();
    c.endpoint = "http://127.0.0.1:1/v1";
    c.model = "m";
    ar_error err;
    char *out = (char *)1;
    /* Refused before anything is sent: bad schema, bad context, bad configuration. */
    assert_int_equal(ar_llm_propose(&c, "{\"pattern\": 1}", NULL, NULL, NULL, NULL, &out, &err),
                     AR_EINVAL);
    assert_null(out);
    assert_int_equal(ar_llm_propose(&c, "{}", NULL, "{oops", NULL, NULL, &out, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "context: not JSON"));
    ar_llm_message m = {"user", "hi"};
    assert_int_equal(ar_llm_chat(&c, &m, 1, "bad name!", "{}", &out, &err), AR_EINVAL);
    ar_llm_message bad = {"tool", "hi"};
    assert_int_equal(ar_llm_chat(&c, &bad, 1, "x", "{}", &out, &err), AR_EINVAL);
    c.model = NULL;
    assert_int_equal(ar_llm_chat(&c, &m, 1, "x", "{}", &out, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "model is required"));
}

/* A proposal's members and combinator become the spec's root: the schema admits the three
 * combinators and nothing else, and each answer's spec validates. */
static void test_proposal_combinators(void **state) {
    (void)state;
    char *schema = ar__proposal_schema();
    assert_non_null(schema);
    const char *two = "[{\"model\": \"rp3beta\", \"params\": {}}, {\"model\": \"ease\", "
                      "\"params\": {\"lambda\": 100}}]";
    static const char *const combine[] = {NULL, "blend", "fuse", "stack"};
    static const char *const root[] = {"blend", "blend", "fuse", "stack"};
    char answer[512];
    ar_error err;
    for (int i = 0; i < 4; i++) {
        if (combine[i])
            snprintf(answer, sizeof answer, "{\"members\": %s, \"combine\": \"%s\"}", two,
                     combine[i]);
        else
            snprintf(answer, sizeof answer, "{\"members\": %s}", two);
        if (ar_llm_schema_check(schema, answer, &err) != AR_OK)
            fail_msg("%s: %s", answer, err.msg);
        char *spec = ar__proposal_to_spec(answer);
        assert_non_null(spec);
        if (ar_spec_validate(spec, &err) != AR_OK)
            fail_msg("%s: %s", spec, err.msg);
        json_t *j = json_loads(spec, 0, NULL);
        assert_non_null(json_object_get(j, root[i]));
        json_decref(j);
        free(spec);
    }
    snprintf(answer, sizeof answer, "{\"members\": %s, \"combine\": \"gate\"}", two);
    assert_int_not_equal(ar_llm_schema_check(schema, answer, &err), AR_OK);
    assert_null(ar__proposal_to_spec(answer));
    /* one member is the member itself, whatever the combinator */
    char *one = ar__proposal_to_spec("{\"members\": [{\"model\": \"mostpop\", \"params\": {}}], "
                                     "\"combine\": \"stack\"}");
    assert_non_null(one);
    assert_non_null(strstr(one, "\"model\""));
    assert_null(strstr(one, "stack"));
    free(one);
    free(schema);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_accepts), cmocka_unit_test(test_schema_rejects),
        cmocka_unit_test(test_schema_lint),    cmocka_unit_test(test_config),
        cmocka_unit_test(test_bad_arguments),  cmocka_unit_test(test_proposal_combinators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
