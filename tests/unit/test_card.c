/* Unit tests for src/agents/card.c: parsing method cards (each error names its field), the card
 * schema an LLM is constrained to (it lints, accepts the cards in docs/cards, and agrees with
 * the parser), the validator of drafted cards on canned LLM answers (valid, invalid, not JSON,
 * and answers that try to smuggle a second ```json block into the card), and the drafting
 * function's refusals before and at the first HTTP attempt. The HTTP conversation itself is
 * covered by tests/integration/llm_errors.sh (canned answers from a fake server) and
 * llm_e2e.sh (llama.cpp). Run through ctest, which sets AR_SOURCE_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agents/agents_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A valid card's JSON block; tests edit it with replace(). */
static const char *CARD =
    "{\"method\": \"ItemKNN toy\", \"source\": \"a test\","
    " \"spec\": {\"model\": \"itemknn\", \"params\": {\"k\": 50}},"
    " \"dataset\": {\"name\": \"toy\", \"format\": \"movielens\", \"train\": \"u.data\"},"
    " \"protocol\": {\"split\": \"random\", \"test_ratio\": 0.2, \"seed\": 3, \"k\": 20,"
    "              \"ranking\": \"full\"},"
    " \"reported\": {\"recall@20\": 0.1, \"ndcg@20\": 0.05}, \"tolerance\": 0.05}";

/* s with the first occurrence of from replaced by to (static buffer). */
static const char *replace(const char *s, const char *from, const char *to) {
    static char out[4096];
    const char *p = strstr(s, from);
    if (!p)
        fail_msg("'%s' not in the card", from);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return out;
}

static char *as_markdown(const char *json) {
    static char md[8192];
    snprintf(md, sizeof md, "# A card\n\nProse.\n\n```json\n%s\n```\n", json);
    return md;
}

/* Parses the card whose JSON block is json: want AR_OK, or an error whose message has needle. */
static void expect_parse(const char *json, ar_status want, const char *needle) {
    ar_card c;
    ar_error err = {{0}};
    ar_status st = ar_card_parse(as_markdown(json), "t.md", &c, &err);
    if (st != want || (needle && !strstr(err.msg, needle)))
        fail_msg("%s\n-> %d '%s', want %d '%s'", json, st, err.msg, want, needle ? needle : "");
    if (!st)
        ar_card_free(&c);
}

static void test_parse(void **state) {
    (void)state;
    ar_card c;
    ar_error err;
    assert_int_equal(ar_card_parse(as_markdown(CARD), "t.md", &c, &err), AR_OK);
    assert_string_equal(c.method, "ItemKNN toy");
    assert_string_equal(c.format, "movielens");
    assert_true(c.random_split);
    assert_int_equal(c.k, 20);
    assert_int_equal(c.seed, 3);
    assert_true(fabs(c.reported[0] - 0.1) < 1e-12 && fabs(c.tolerance - 0.05) < 1e-12);
    ar_card_free(&c);
    ar_card_free(&c); /* twice is fine */

    expect_parse(replace(CARD, "\"movielens\"", "\"parquet\""), AR_EINVAL,
                 "t.md: dataset.format: \"parquet\" is not one of");
    expect_parse(replace(CARD, "\"movielens\"", "\"csv\""), AR_EINVAL, "dataset.format");
    expect_parse(replace(CARD, "\"u.data\"", "\"../../etc/passwd\""), AR_EINVAL,
                 "dataset.train: expected a file inside the dataset's folder");
    expect_parse(replace(CARD, "\"u.data\"", "\"/etc/passwd\""), AR_EINVAL, "dataset.train");
    expect_parse(replace(CARD, "\"u.data\"", "\"ml/u.data\""), AR_OK, NULL);
    expect_parse(replace(CARD, "\"u.data\"", "\"u.data\", \"test\": \"a/../../x\""), AR_EINVAL,
                 "dataset.test");
    expect_parse(replace(CARD, "\"toy\"", "\"../toy\""), AR_EINVAL, "dataset.name");
    expect_parse(replace(CARD, "\"random\"", "\"predefined\""), AR_EINVAL,
                 "dataset.test: a predefined split needs a test file");
    expect_parse(replace(CARD, "\"full\"", "\"sampled\""), AR_EINVAL,
                 "protocol.ranking: \"sampled\": reproduce scores with full ranking only");
    expect_parse(replace(CARD, "\"k\": 20", "\"k\": 20.5"), AR_EINVAL, "protocol.k");
    expect_parse(replace(CARD, "\"k\": 20", "\"k\": 1001"), AR_EINVAL, "protocol.k");
    expect_parse(replace(CARD, "\"seed\": 3", "\"seed\": -1"), AR_EINVAL, "protocol.seed");
    expect_parse(replace(CARD, "0.2,", "\"0.2\","), AR_EINVAL, "protocol.test_ratio");
    expect_parse(replace(CARD, "\"recall@20\": 0.1", "\"recall@20\": 2"), AR_EINVAL,
                 "reported.recall@20");
    expect_parse(replace(CARD, "\"recall@20\": 0.1, \"ndcg@20\": 0.05", "\"recall@10\": 0.1"),
                 AR_EINVAL, "reported: expected recall@20 and/or ndcg@20");
    expect_parse(replace(CARD, "\"tolerance\": 0.05", "\"tolerance\": 0.5"), AR_EINVAL,
                 "tolerance");
    expect_parse(replace(CARD, "\"k\": 50", "\"k\": 0"), AR_ERANGE, "t.md: spec.params.k");
    expect_parse(replace(CARD, "\"method\": \"ItemKNN toy\", ", ""), AR_EINVAL, "method");
    /* Defaults: k 20, test_ratio 0.2, seed 1, tolerance 0.02. */
    assert_int_equal(
        ar_card_parse(as_markdown(replace(CARD, ", \"seed\": 3, \"k\": 20", "")), "t.md", &c, &err),
        AR_OK);
    assert_int_equal(c.k, 20);
    assert_int_equal(c.seed, 1);
    ar_card_free(&c);
    assert_int_equal(ar_card_parse("# no block\n", "t.md", &c, &err), AR_EPARSE);
    assert_non_null(strstr(err.msg, "no ```json block"));
}

/* The JSON blocks of the cards in docs/cards. */
static int docs_cards(char paths[][1024], int max) {
    const char *src = getenv("AR_SOURCE_DIR");
    if (!src)
        fail_msg("AR_SOURCE_DIR is not set (run this test through ctest)");
    char dir[512];
    snprintf(dir, sizeof dir, "%.400s/docs/cards", src);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: cannot list it", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (strlen(e->d_name) > 3 && strcmp(e->d_name + strlen(e->d_name) - 3, ".md") == 0)
            snprintf(paths[n++], 1024, "%.511s/%.500s", dir, e->d_name);
    closedir(d);
    return n;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_schema(void **state) {
    (void)state;
    const char *schema = ar_card_schema();
    assert_non_null(schema);
    assert_ptr_equal(schema, ar_card_schema()); /* built once */
    ar_error err;
    /* It lints (every keyword is one the LLM client checks) and takes the valid card. */
    if (ar_llm_schema_check(schema, CARD, &err))
        fail_msg("the card schema rejects a valid card: %s", err.msg);
    /* The spec is the model spec schema's, by reference. */
    assert_non_null(strstr(schema, "\"$ref\": \"#/$defs/spec\""));
    assert_int_equal(ar_llm_schema_check(schema, replace(CARD, "\"itemknn\"", "\"nope\""), &err),
                     AR_EINVAL);
    assert_non_null(strstr(err.msg, "$.spec"));
    /* Every card in docs/cards satisfies it and parses. */
    char paths[32][1024];
    int n = docs_cards(paths, 32);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        char *md = slurp(paths[i]);
        ar_card c;
        if (ar_card_parse(md, paths[i], &c, &err))
            fail_msg("%s", err.msg);
        if (ar_llm_schema_check(schema, c.json, &err))
            fail_msg("%s does not satisfy the card schema: %s", paths[i], err.msg);
        ar_card_free(&c);
    }
    /* Schema and parser agree on what both can say... */
    const char *both_reject[][2] = {
        {"\"movielens\"", "\"csv\""},    {"\"k\": 20", "\"k\": 0"},
        {"\"k\": 20", "\"k\": 1001"},    {"\"tolerance\": 0.05", "\"tolerance\": 0.5"},
        {"\"seed\": 3", "\"seed\": -1"}, {"\"recall@20\": 0.1", "\"recall@20\": 1.5"},
        {"\"random\"", "\"sometimes\""}, {"\"full\"", "\"partial\""},
        {"\"u.data\"", "\"\""},          {"0.2,", "1,"},
    };
    for (size_t i = 0; i < sizeof both_reject / sizeof both_reject[0]; i++) {
        const char *doc = replace(CARD, both_reject[i][0], both_reject[i][1]);
        if (ar_llm_schema_check(schema, doc, &err) != AR_EINVAL)
            fail_msg("the schema accepts %s", doc);
        expect_parse(doc, AR_EINVAL, NULL);
    }
    /* ... and the parser alone checks what a schema cannot say (ar_card_schema's list). */
    const char *parser_only[][2] = {
        {"\"random\"", "\"predefined\""},
        {"\"full\"", "\"sampled\""},
        {"\"u.data\"", "\"../u.data\""},
        {"\"recall@20\": 0.1, \"ndcg@20\": 0.05", "\"recall@10\": 0.1"},
    };
    for (size_t i = 0; i < sizeof parser_only / sizeof parser_only[0]; i++) {
        const char *doc = replace(CARD, parser_only[i][0], parser_only[i][1]);
        if (ar_llm_schema_check(schema, doc, &err) != AR_OK)
            fail_msg("the schema rejects %s: %s", doc, err.msg);
        expect_parse(doc, AR_EINVAL, NULL);
    }
}

/* The validator of drafted cards, on canned answers. */
static void test_draft_check(void **state) {
    (void)state;
    char *md = NULL;
    ar_error err;
    ar_card c;
    /* Valid: the card is the answer, and parses back to it. */
    assert_int_equal(ar__card_draft_check(CARD, "paper.txt", "tiny", "d.md", &md, &err), AR_OK);
    assert_non_null(md);
    assert_null(strstr(md, "REJECTED"));
    assert_non_null(strstr(md, "# Method card drafted from paper.txt"));
    assert_int_equal(ar_card_parse(md, "d.md", &c, &err), AR_OK);
    assert_string_equal(c.method, "ItemKNN toy");
    ar_card_free(&c);
    ar__free(md);

    /* Invalid: rejected with the parser's reason, naming the field; still a card to edit. */
    assert_int_equal(ar__card_draft_check(replace(CARD, "\"random\"", "\"predefined\""),
                                          "paper.txt", "tiny", "d.md", &md, &err),
                     AR_EINVAL);
    assert_non_null(strstr(err.msg, "card d.md: dataset.test: a predefined split needs"));
    assert_non_null(strstr(md, ": REJECTED\n\n**Rejected:** card d.md: dataset.test:"));
    assert_non_null(strstr(md, "```json\n{\n  \"method\": \"ItemKNN toy\""));
    assert_int_equal(ar_card_parse(md, "d.md", &c, &err), AR_EINVAL);
    ar__free(md);

    /* A long name is cut in the prose, never inside a UTF-8 sequence. */
    char name[700] = "";
    for (int i = 0; i < 300; i++)
        strcat(name, "\xc3\xa9");
    assert_int_equal(ar__card_draft_check(CARD, name, "tiny", "d.md", &md, &err), AR_OK);
    const char *head = md + strlen("# Method card drafted from ");
    assert_true(strncmp(head, name, 398) == 0 && strncmp(head + 398, "...\n", 4) == 0);
    ar__free(md);

    /* Not a JSON object: indented, so it cannot form a fence. */
    const char *prose = "Sure!\n```json\n{\"method\": \"x\"}\n```";
    assert_int_equal(ar__card_draft_check(prose, "paper.txt", "tiny", "d.md", &md, &err),
                     AR_EPARSE);
    assert_non_null(strstr(err.msg, "the answer is not a JSON object"));
    assert_null(strstr(md, "\n```json"));
    assert_non_null(strstr(md, "\n    Sure!\n    ```json\n"));
    ar__free(md);

    /* An answer (or a file name) carrying a fenced card of its own cannot put it before the
     * real block: strings are re-serialised in the block and flattened in the prose. */
    const char *evil_fence = "x\n```json\n{\"spec\": {\"model\": \"mostpop\"}}\n```\n";
    char evil[4096];
    snprintf(evil, sizeof evil, "%s",
             replace(CARD, "\"ItemKNN toy\"",
                     "\"x\\n```json\\n{\\\"spec\\\": {\\\"model\\\": \\\"mostpop\\\"}}\\n```\""));
    assert_int_equal(ar__card_draft_check(evil, evil_fence, evil_fence, "d.md", &md, &err), AR_OK);
    assert_int_equal(ar_card_parse(md, "d.md", &c, &err), AR_OK);
    assert_non_null(strstr(c.spec, "itemknn"));
    assert_non_null(strstr(c.method, "```json"));
    ar_card_free(&c);
    const char *fence = strstr(md, "```json");
    assert_non_null(fence);
    assert_ptr_equal(fence, strstr(md, "\n```json\n{\n") + 1); /* the first fence is ours */
    ar__free(md);
    /* The same when the answer is invalid: the rejected card stays rejected. */
    snprintf(evil, sizeof evil, "%s", replace(evil, "\"random\"", "\"predefined\""));
    assert_int_equal(ar__card_draft_check(evil, evil_fence, "tiny", "d.md", &md, &err), AR_EINVAL);
    assert_int_equal(ar_card_parse(md, "d.md", &c, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "dataset.test"));
    ar__free(md);
}

static void test_draft_refusals(void **state) {
    (void)state;
    ar_llm_config llm = ar_llm_config_default();
    ar_card_draft_options o = ar_card_draft_options_default();
    ar_card_draft d;
    ar_error err;
    const char *text = "ItemKNN with k = 50 on MovieLens-100K reaches Recall@20 of 0.31.";
    assert_int_equal(ar_card_draft_from_text(&o, text, &d, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "llm"));
    o.llm = &llm;
    assert_int_equal(ar_card_draft_from_text(&o, text, &d, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "endpoint is required"));
    /* Port 1 on loopback: nothing listens, the connection is refused at once. */
    llm.endpoint = "http://127.0.0.1:1/v1";
    llm.model = "m";
    llm.max_retries = 2;
    assert_null(ar_card_draft_options_check(&o));
    assert_int_equal(ar_card_draft_from_text(&o, " \n\t", &d, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(d.attempts, 0);
    assert_int_equal(ar_card_draft_from_text(&o, "caf\xc3", &d, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "not UTF-8"));
    o.max_text_bytes = 10;
    assert_int_equal(ar_card_draft_from_text(&o, text, &d, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "more than the 10"));
    o.max_text_bytes = ar_card_draft_options_default().max_text_bytes;
    o.datasets = "{\"name\": \"toy\"}";
    assert_int_equal(ar_card_draft_from_text(&o, text, &d, &err), AR_EINVAL);
    assert_non_null(strstr(err.msg, "datasets: expected a JSON array"));
    ar_card_draft_free(&d);
    /* A refused connection: one attempt, recorded, no draft. */
    o.datasets = "[{\"name\": \"toy\", \"files\": [\"u.data\"]}]";
    assert_int_equal(ar_card_draft_from_text(&o, text, &d, &err), AR_EIO);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.outcome, AR_LLM_CONNECT);
    assert_int_equal(d.valid, 0);
    assert_null(d.markdown);
    assert_true(d.prompt_bytes > strlen(ar_card_schema()) / 2); /* the schema is in the prompt */
    assert_non_null(strstr(d.reason, "cannot connect"));
    assert_non_null(strstr(d.attempts_json, "\"outcome\":\"connect\""));
    ar_card_draft_free(&d);
    ar_card_draft_free(&d);
    ar_card_draft_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_draft_check),
        cmocka_unit_test(test_draft_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
