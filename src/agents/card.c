/*
 * card.c -- method cards: a published result written so agentrec can reproduce it.
 *
 * The card is Markdown for people; agentrec reads its first ```json fenced block and nothing
 * else, so the prose can say anything (text is data, never instructions).
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ar_card_free(ar_card *c) {
    if (!c)
        return;
    char **f[] = {&c->method, &c->source, &c->spec, &c->dataset,
                  &c->format, &c->train,  &c->test, &c->json};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
}

static ar_status bad(ar_error *err, const char *name, const char *field, const char *what) {
    return ar__fail(err, AR_EINVAL, "card %s: %s: %s", name, field, what);
}

static char *str_field(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? ar__strdup(s) : NULL;
}

/* The text of the first ```json block, NUL-terminated, malloc'd; NULL when there is none. */
static char *json_block(const char *md) {
    const char *p = md;
    while ((p = strstr(p, "```json")) != NULL) {
        if (p == md || p[-1] == '\n')
            break;
        p += 7;
    }
    if (!p)
        return NULL;
    p = strchr(p, '\n');
    const char *end = p ? strstr(p, "\n```") : NULL;
    if (!end)
        return NULL;
    size_t n = (size_t)(end - p);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

ar_status ar_card_parse(const char *md, const char *name, ar_card *c, ar_error *err) {
    memset(c, 0, sizeof *c);
    c->reported[0] = c->reported[1] = NAN;
    if (!name)
        name = "(card)";
    char *block = md ? json_block(md) : NULL;
    if (!block)
        return ar__fail(err, AR_EPARSE, "card %s: no ```json block", name);
    json_error_t je;
    json_t *j = json_loads(block, 0, &je);
    free(block);
    if (!json_is_object(j)) {
        json_decref(j);
        return ar__fail(err, AR_EPARSE, "card %s: the json block, line %d: %s", name, je.line,
                        j ? "expected an object" : je.text);
    }
    ar_status st = AR_OK;
    json_t *ds = json_object_get(j, "dataset"), *pr = json_object_get(j, "protocol"),
           *rep = json_object_get(j, "reported"), *spec = json_object_get(j, "spec"),
           *tol = json_object_get(j, "tolerance");
    c->method = str_field(j, "method");
    c->source = str_field(j, "source");
    if (!c->method)
        st = bad(err, name, "method", "expected the method's name");
    else if (!c->source)
        st = bad(err, name, "source", "expected where the reported number was published");
    else if (!json_is_object(spec))
        st = bad(err, name, "spec", "expected a model spec object");
    else if (!json_is_object(ds) || !(c->dataset = str_field(ds, "name")) ||
             !(c->format = str_field(ds, "format")) || !(c->train = str_field(ds, "train")))
        st = bad(err, name, "dataset", "expected {\"name\", \"format\", \"train\"[, \"test\"]}");
    else if (strchr(c->dataset, '/') || strstr(c->dataset, ".."))
        st = bad(err, name, "dataset.name", "expected a plain directory name");
    if (st)
        goto done;
    c->test = str_field(ds, "test");
    const char *split = json_string_value(json_object_get(pr, "split"));
    c->k = json_is_integer(json_object_get(pr, "k"))
               ? (int)json_integer_value(json_object_get(pr, "k"))
               : 20;
    if (!json_is_object(pr) || !split ||
        (strcmp(split, "predefined") != 0 && strcmp(split, "random") != 0)) {
        st = bad(err, name, "protocol.split", "expected \"predefined\" or \"random\"");
        goto done;
    }
    c->random_split = strcmp(split, "random") == 0;
    if (!c->random_split && !c->test) {
        st = bad(err, name, "dataset.test", "a predefined split needs a test file");
        goto done;
    }
    c->test_ratio = json_is_number(json_object_get(pr, "test_ratio"))
                        ? json_number_value(json_object_get(pr, "test_ratio"))
                        : 0.2;
    c->seed = json_is_integer(json_object_get(pr, "seed"))
                  ? (uint64_t)json_integer_value(json_object_get(pr, "seed"))
                  : 1;
    if (c->k < 1 || c->k > 1000 || !(c->test_ratio > 0 && c->test_ratio < 1)) {
        st = bad(err, name, "protocol", "expected k in [1, 1000] and test_ratio in (0, 1)");
        goto done;
    }
    char kr[32], kn[32];
    snprintf(kr, sizeof kr, "recall@%d", c->k);
    snprintf(kn, sizeof kn, "ndcg@%d", c->k);
    const char *keys[2] = {kr, kn};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(rep, keys[i]);
        if (!v)
            continue;
        double x = json_number_value(v);
        if (!json_is_number(v) || !(x > 0 && x <= 1)) {
            char field[64];
            snprintf(field, sizeof field, "reported.%s", keys[i]);
            st = bad(err, name, field, "expected a number in (0, 1]");
            goto done;
        }
        c->reported[i] = x;
    }
    if (isnan(c->reported[0]) && isnan(c->reported[1])) {
        char what[96];
        snprintf(what, sizeof what, "expected %s and/or %s", kr, kn);
        st = bad(err, name, "reported", what);
        goto done;
    }
    c->tolerance = tol ? json_number_value(tol) : 0.02;
    if (tol && (!json_is_number(tol) || !(c->tolerance >= 0 && c->tolerance < 0.5))) {
        st = bad(err, name, "tolerance", "expected a relative tolerance in [0, 0.5)");
        goto done;
    }
    char *spec_text = json_dumps(spec, JSON_COMPACT);
    if (!spec_text) {
        st = ar__fail(err, AR_ENOMEM, "out of memory");
        goto done;
    }
    ar_error serr;
    st = ar_spec_canonical(spec_text, &c->spec, &serr);
    free(spec_text);
    if (st) {
        st = ar__fail(err, st, "card %s: %s", name, serr.msg);
        goto done;
    }
    if (!(c->json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)))
        st = ar__fail(err, AR_ENOMEM, "out of memory");
done:
    json_decref(j);
    if (st)
        ar_card_free(c);
    return st;
}

ar_card_verdict ar_card_judge(const ar_card *c, double recall, double ndcg) {
    ar_card_verdict v;
    memset(&v, 0, sizeof v);
    double ours[2] = {recall, ndcg};
    const char *names[2] = {"recall", "ndcg"};
    v.reproduced = 1;
    for (int i = 0; i < 2; i++) {
        v.gap[i] = v.relative[i] = NAN;
        if (isnan(c->reported[i]))
            continue;
        v.gap[i] = ours[i] - c->reported[i];
        v.relative[i] = v.gap[i] / c->reported[i];
        v.reproduced &= isfinite(ours[i]) && ours[i] >= c->reported[i] * (1 - c->tolerance);
    }
    int n = snprintf(v.text, sizeof v.text,
                     "%s within %.0f%%: ", v.reproduced ? "reproduced" : "not reproduced",
                     100 * c->tolerance);
    for (int i = 0; i < 2 && n > 0 && (size_t)n < sizeof v.text; i++)
        if (!isnan(c->reported[i]))
            n += snprintf(v.text + n, sizeof v.text - (size_t)n,
                          "%s%s@%d %.4f vs reported %.4f (%+.1f%%)",
                          i && !isnan(c->reported[0]) ? "; " : "", names[i], c->k, ours[i],
                          c->reported[i], 100 * v.relative[i]);
    return v;
}
