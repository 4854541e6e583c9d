/*
 * llm_schema.c -- the JSON Schema checker behind ar_llm_schema_check().
 *
 * An answer from a language model is checked against the schema it was asked to satisfy even
 * when the server claims to have constrained its output: servers implement different subsets
 * of JSON Schema (node-llama-cpp ignores minimum and maximum, hosted APIs differ in what
 * "strict" covers), and some ignore response_format altogether. So the schema is first linted
 * -- every keyword must be one this file checks or a pure annotation -- and then applied. A
 * schema keyword this file does not know is an error rather than something silently not
 * enforced.
 *
 * The subset is that of JSON Schema 2020-12 (https://json-schema.org/draft/2020-12) listed in
 * agentrec/llm.h. Recursion (through $ref) is bounded by a depth limit, so a schema that refers
 * to itself without consuming the document fails cleanly instead of overflowing the stack.
 */
#include "core/core.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 128

static const char *const checked_keywords[] = {
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "minLength",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "additionalProperties",
    "$defs",
    "definitions",
    "maxLength",
    "minProperties",
    "maxProperties",
};
static const char *const annotations[] = {"title",    "description", "default",  "examples",
                                          "$schema",  "$id",         "$comment", "deprecated",
                                          "readOnly", "writeOnly"};

static bool in_list(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

/* A path like "$.params.k" or "$.items[3]" that grows and shrinks with the recursion. */
typedef struct path {
    char s[256];
    size_t n;
} path;

/* Appends ".key" (idx < 0) or "[idx]" and returns the old length for path_pop. */
static size_t path_push(path *p, const char *key, long idx) {
    size_t old = p->n;
    int w = idx < 0 ? snprintf(p->s + p->n, sizeof p->s - p->n, ".%s", key)
                    : snprintf(p->s + p->n, sizeof p->s - p->n, "[%ld]", idx);
    if (w > 0)
        p->n += (size_t)w < sizeof p->s - p->n ? (size_t)w : sizeof p->s - p->n - 1;
    return old;
}

static void path_pop(path *p, size_t old) {
    p->n = old;
    p->s[old] = 0;
}

static const json_t *resolve_ref(const json_t *root, const char *ref) {
    if (strcmp(ref, "#") == 0)
        return root;
    const char *name = NULL, *group = NULL;
    if (strncmp(ref, "#/$defs/", 8) == 0)
        group = "$defs", name = ref + 8;
    else if (strncmp(ref, "#/definitions/", 14) == 0)
        group = "definitions", name = ref + 14;
    if (!name || !*name || strchr(name, '/'))
        return NULL;
    return json_object_get(json_object_get(root, group), name);
}

static bool is_schema(const json_t *s) {
    return json_is_object(s) || json_is_boolean(s);
}

static ar_status lint(const json_t *root, const json_t *s, path *p, int depth, ar_error *err);

static ar_status lint_array_of_schemas(const json_t *root, const json_t *a, const char *kw, path *p,
                                       int depth, ar_error *err) {
    if (!json_is_array(a) || json_array_size(a) == 0)
        return ar__fail(err, AR_EINVAL, "schema: %s at %s must be a non-empty array", kw, p->s);
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t old = path_push(p, NULL, (long)i);
        ar_status st = lint(root, json_array_get(a, i), p, depth + 1, err);
        path_pop(p, old);
        if (st)
            return st;
    }
    return AR_OK;
}

static bool is_count(const json_t *v) {
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

static ar_status lint(const json_t *root, const json_t *s, path *p, int depth, ar_error *err) {
    if (depth > MAX_DEPTH)
        return ar__fail(err, AR_EINVAL, "schema: nested too deeply at %s", p->s);
    if (json_is_boolean(s))
        return AR_OK;
    if (!json_is_object(s))
        return ar__fail(err, AR_EINVAL, "schema: expected an object or a boolean at %s", p->s);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(k, annotations, sizeof annotations / sizeof *annotations))
            continue;
        if (!in_list(k, checked_keywords, sizeof checked_keywords / sizeof *checked_keywords))
            return ar__fail(err, AR_EINVAL, "schema: keyword '%s' is not supported at %s", k, p->s);
        ar_status st = AR_OK;
        size_t old = p->n;
        if (strcmp(k, "type") == 0) {
            static const char *const types[] = {"object",  "array",   "string", "number",
                                                "integer", "boolean", "null"};
            bool ok = json_is_string(v) ? in_list(json_string_value(v), types, 7)
                                        : json_is_array(v) && json_array_size(v) > 0;
            for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
                ok = ok && json_is_string(json_array_get(v, i)) &&
                     in_list(json_string_value(json_array_get(v, i)), types, 7);
            if (!ok)
                st = ar__fail(err, AR_EINVAL, "schema: bad type at %s", p->s);
        } else if (strcmp(k, "enum") == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0)
                st = ar__fail(err, AR_EINVAL, "schema: enum at %s must be a non-empty array", p->s);
        } else if (strcmp(k, "properties") == 0 || strcmp(k, "$defs") == 0 ||
                   strcmp(k, "definitions") == 0) {
            if (!json_is_object(v))
                return ar__fail(err, AR_EINVAL, "schema: %s at %s must be an object", k, p->s);
            const char *pk;
            const json_t *pv;
            json_object_foreach((json_t *)v, pk, pv) {
                size_t o2 = path_push(p, pk, -1);
                st = lint(root, pv, p, depth + 1, err);
                path_pop(p, o2);
                if (st)
                    return st;
            }
        } else if (strcmp(k, "required") == 0) {
            for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
                if (!json_is_string(json_array_get(v, i)))
                    st =
                        ar__fail(err, AR_EINVAL, "schema: required at %s lists a non-string", p->s);
            if (!json_is_array(v))
                st = ar__fail(err, AR_EINVAL, "schema: required at %s must be an array", p->s);
        } else if (strcmp(k, "items") == 0 || strcmp(k, "additionalProperties") == 0) {
            if (!is_schema(v))
                return ar__fail(err, AR_EINVAL, "schema: %s at %s must be a schema", k, p->s);
            path_push(p, k, -1);
            st = lint(root, v, p, depth + 1, err);
        } else if (strcmp(k, "prefixItems") == 0 || strcmp(k, "anyOf") == 0 ||
                   strcmp(k, "oneOf") == 0 || strcmp(k, "allOf") == 0) {
            path_push(p, k, -1);
            st = lint_array_of_schemas(root, v, k, p, depth, err);
        } else if (strcmp(k, "minItems") == 0 || strcmp(k, "maxItems") == 0 ||
                   strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0 ||
                   strcmp(k, "minProperties") == 0 || strcmp(k, "maxProperties") == 0) {
            if (!is_count(v))
                st = ar__fail(err, AR_EINVAL, "schema: %s at %s must be a count", k, p->s);
        } else if (strcmp(k, "uniqueItems") == 0) {
            if (!json_is_boolean(v))
                st = ar__fail(err, AR_EINVAL, "schema: uniqueItems at %s must be a boolean", p->s);
        } else if (strcmp(k, "$ref") == 0) {
            if (!json_is_string(v) || !resolve_ref(root, json_string_value(v)))
                st = ar__fail(err, AR_EINVAL,
                              "schema: $ref at %s must name \"#\", \"#/$defs/NAME\" or "
                              "\"#/definitions/NAME\" of this schema",
                              p->s);
        } else if (strcmp(k, "const") != 0) { /* the numeric bounds */
            if (!json_is_number(v))
                st = ar__fail(err, AR_EINVAL, "schema: %s at %s must be a number", k, p->s);
        }
        path_pop(p, old);
        if (st)
            return st;
    }
    return AR_OK;
}

/* -- applying a schema ----------------------------------------------------------------------- */

/* A short rendering of a value for messages. */
static void brief(const json_t *v, char *buf, size_t n) {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(buf, n, "(value)");
        return;
    }
    if (strlen(s) > 60)
        snprintf(buf, n, "%.57s...", s);
    else
        snprintf(buf, n, "%s", s);
    free(s);
}

static const char *type_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

static bool has_type(const json_t *v, const char *t) {
    if (strcmp(t, "integer") == 0) {
        if (json_is_integer(v))
            return true;
        double x = json_is_real(v) ? json_real_value(v) : NAN;
        return isfinite(x) && x == floor(x);
    }
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    return strcmp(t, type_of(v)) == 0;
}

static size_t utf8_length(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* json_equal treats 1 and 1.0 as different; JSON Schema does not. */
static bool same_value(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static ar_status check(const json_t *root, const json_t *s, const json_t *v, path *p, int depth,
                       ar_error *err);

static ar_status check_numbers(const json_t *s, const json_t *v, path *p, ar_error *err) {
    if (!json_is_number(v))
        return AR_OK;
    double x = json_number_value(v), b;
    char vb[80];
    const json_t *k;
    brief(v, vb, sizeof vb);
    if ((k = json_object_get(s, "minimum")) && x < (b = json_number_value(k)))
        return ar__fail(err, AR_EINVAL, "%s: %s is below the minimum %g", p->s, vb, b);
    if ((k = json_object_get(s, "maximum")) && x > (b = json_number_value(k)))
        return ar__fail(err, AR_EINVAL, "%s: %s is above the maximum %g", p->s, vb, b);
    if ((k = json_object_get(s, "exclusiveMinimum")) && x <= (b = json_number_value(k)))
        return ar__fail(err, AR_EINVAL, "%s: %s must be above %g", p->s, vb, b);
    if ((k = json_object_get(s, "exclusiveMaximum")) && x >= (b = json_number_value(k)))
        return ar__fail(err, AR_EINVAL, "%s: %s must be below %g", p->s, vb, b);
    return AR_OK;
}

static ar_status check_array(const json_t *root, const json_t *s, const json_t *v, path *p,
                             int depth, ar_error *err) {
    if (!json_is_array(v))
        return AR_OK;
    size_t n = json_array_size(v);
    const json_t *k;
    if ((k = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(k))
        return ar__fail(err, AR_EINVAL, "%s: %zu items, fewer than minItems %lld", p->s, n,
                        (long long)json_integer_value(k));
    if ((k = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(k))
        return ar__fail(err, AR_EINVAL, "%s: %zu items, more than maxItems %lld", p->s, n,
                        (long long)json_integer_value(k));
    if (json_is_true(json_object_get(s, "uniqueItems")))
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (same_value(json_array_get(v, i), json_array_get(v, j)))
                    return ar__fail(err, AR_EINVAL, "%s: items %zu and %zu are equal", p->s, i, j);
    const json_t *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    size_t np = json_array_size(prefix);
    for (size_t i = 0; i < n; i++) {
        const json_t *sub = i < np ? json_array_get(prefix, i) : items;
        if (!sub)
            continue;
        size_t old = path_push(p, NULL, (long)i);
        ar_status st = check(root, sub, json_array_get(v, i), p, depth + 1, err);
        path_pop(p, old);
        if (st)
            return st;
    }
    return AR_OK;
}

static ar_status check_object(const json_t *root, const json_t *s, const json_t *v, path *p,
                              int depth, ar_error *err) {
    if (!json_is_object(v))
        return AR_OK;
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *extra = json_object_get(s, "additionalProperties"), *k;
    size_t n = json_object_size(v);
    if ((k = json_object_get(s, "minProperties")) && n < (size_t)json_integer_value(k))
        return ar__fail(err, AR_EINVAL, "%s: %zu properties, fewer than minProperties %lld", p->s,
                        n, (long long)json_integer_value(k));
    if ((k = json_object_get(s, "maxProperties")) && n > (size_t)json_integer_value(k))
        return ar__fail(err, AR_EINVAL, "%s: %zu properties, more than maxProperties %lld", p->s, n,
                        (long long)json_integer_value(k));
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *name = json_string_value(json_array_get(req, i));
        if (!json_object_get(v, name))
            return ar__fail(err, AR_EINVAL, "%s: the required property \"%s\" is missing", p->s,
                            name);
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        const json_t *sub = json_object_get(props, key);
        if (!sub && json_is_false(extra))
            return ar__fail(err, AR_EINVAL, "%s: unexpected property \"%.80s\"", p->s, key);
        if (!sub)
            sub = extra;
        if (!sub)
            continue;
        size_t old = path_push(p, key, -1);
        ar_status st = check(root, sub, val, p, depth + 1, err);
        path_pop(p, old);
        if (st)
            return st;
    }
    return AR_OK;
}

static ar_status check(const json_t *root, const json_t *s, const json_t *v, path *p, int depth,
                       ar_error *err) {
    if (depth > MAX_DEPTH)
        return ar__fail(err, AR_EINVAL, "%s: the schema recurses too deeply here", p->s);
    if (json_is_true(s))
        return AR_OK;
    if (json_is_false(s))
        return ar__fail(err, AR_EINVAL, "%s: no value is allowed here", p->s);
    char vb[80];
    const json_t *k;
    ar_status st;
    if ((k = json_object_get(s, "$ref")) &&
        (st = check(root, resolve_ref(root, json_string_value(k)), v, p, depth + 1, err)))
        return st;
    if ((k = json_object_get(s, "type"))) {
        bool ok = json_is_string(k) && has_type(v, json_string_value(k));
        for (size_t i = 0; json_is_array(k) && i < json_array_size(k); i++)
            ok = ok || has_type(v, json_string_value(json_array_get(k, i)));
        if (!ok) {
            char tb[80];
            brief(k, tb, sizeof tb);
            brief(v, vb, sizeof vb);
            return ar__fail(err, AR_EINVAL, "%s: expected type %s, got %s %s", p->s, tb, type_of(v),
                            vb);
        }
    }
    if ((k = json_object_get(s, "enum"))) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(k) && !ok; i++)
            ok = same_value(json_array_get(k, i), v);
        if (!ok) {
            brief(v, vb, sizeof vb);
            return ar__fail(err, AR_EINVAL, "%s: %s is not one of the allowed values", p->s, vb);
        }
    }
    if ((k = json_object_get(s, "const")) && !same_value(k, v)) {
        char cb[80];
        brief(v, vb, sizeof vb);
        brief(k, cb, sizeof cb);
        return ar__fail(err, AR_EINVAL, "%s: %s is not the constant %s", p->s, vb, cb);
    }
    if (json_is_string(v)) {
        size_t n = utf8_length(json_string_value(v));
        if ((k = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(k))
            return ar__fail(err, AR_EINVAL, "%s: a string of %zu characters, under minLength %lld",
                            p->s, n, (long long)json_integer_value(k));
        if ((k = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(k))
            return ar__fail(err, AR_EINVAL, "%s: a string of %zu characters, over maxLength %lld",
                            p->s, n, (long long)json_integer_value(k));
    }
    if ((st = check_numbers(s, v, p, err)) || (st = check_array(root, s, v, p, depth, err)) ||
        (st = check_object(root, s, v, p, depth, err)))
        return st;
    if ((k = json_object_get(s, "allOf")))
        for (size_t i = 0; i < json_array_size(k); i++)
            if ((st = check(root, json_array_get(k, i), v, p, depth + 1, err)))
                return st;
    const json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    for (int which = 0; which < 2; which++) {
        const json_t *alts = which ? one : any;
        if (!alts)
            continue;
        int matched = 0;
        ar_error first = {{0}}, tmp;
        for (size_t i = 0; i < json_array_size(alts); i++) {
            st = check(root, json_array_get(alts, i), v, p, depth + 1, &tmp);
            if (st == AR_ENOMEM)
                return ar__fail(err, st, "out of memory");
            if (st == AR_OK)
                matched++;
            else if (!first.msg[0])
                first = tmp;
        }
        if (matched == 0)
            return ar__fail(err, AR_EINVAL, "%s: matches none of the %s alternatives (first: %s)",
                            p->s, which ? "oneOf" : "anyOf", first.msg);
        if (which && matched > 1)
            return ar__fail(err, AR_EINVAL, "%s: matches %d of the oneOf alternatives, not one",
                            p->s, matched);
    }
    return AR_OK;
}

/* Shared with llm.c: lints a parsed schema. */
ar_status ar__llm_schema_lint(const json_t *schema, ar_error *err);
ar_status ar__llm_schema_apply(const json_t *schema, const json_t *doc, ar_error *err);

ar_status ar__llm_schema_lint(const json_t *schema, ar_error *err) {
    path p = {"$", 1};
    if (!json_is_object(schema))
        return ar__fail(err, AR_EINVAL, "schema: expected a JSON object");
    return lint(schema, schema, &p, 0, err);
}

ar_status ar__llm_schema_apply(const json_t *schema, const json_t *doc, ar_error *err) {
    path p = {"$", 1};
    return check(schema, schema, doc, &p, 0, err);
}

ar_status ar_llm_schema_check(const char *schema_json, const char *doc, ar_error *err) {
    if (!schema_json || !doc)
        return ar__fail(err, AR_EINVAL, "schema and document are required");
    json_error_t je;
    json_t *s = json_loads(schema_json, JSON_REJECT_DUPLICATES, &je);
    if (!s)
        return ar__fail(err, AR_EINVAL, "schema: not JSON (line %d: %s)", je.line, je.text);
    ar_status st = ar__llm_schema_lint(s, err);
    if (!st) {
        json_t *d = json_loads(doc, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!d)
            st = ar__fail(err, AR_EPARSE, "not JSON (line %d column %d: %s)", je.line, je.column,
                          je.text);
        else
            st = ar__llm_schema_apply(s, d, err);
        json_decref(d);
    }
    json_decref(s);
    return st;
}
