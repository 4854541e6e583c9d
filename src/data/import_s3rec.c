/*
 * import_s3rec.c -- the preprocessed data of S3-Rec (Zhou et al., CIKM 2020).
 *
 *   sequences   Beauty.txt etc.: "user item item ..." with each user's items in chronological
 *               order. Times are positions 0, 1, 2, ... (AR_DS_HAS_TIME is not set). Everything
 *               goes to the train split: S3-Rec's leave-one-out split is ar_dataset_split(LOO).
 *   attributes  *_item2attributes.json: {"item_id": [attr_id, ...], ...} -> the multi-valued
 *               categorical item attribute "attribute". Items listed there but absent from the
 *               sequences are still created.
 *
 * Item ids in both files are integers in 0..2147483647, canonicalised so "0012" in the JSON is
 * item 12 of the sequences. Attribute ids may be JSON integers or strings. JSON syntax errors
 * are reported with the line and column jansson gives; errors in the structure name the key,
 * since jansson does not keep positions of values.
 */
#include "data/import.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

ar_status ar__import_s3rec(ar__import *im, const char *path, ar_split split) {
    return ar__import_user_lines(im, path, split);
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

ar_status ar__import_s3rec_attributes(ar__import *im, const char *path) {
    ar__reader r;
    ar_status st = ar__reader_open(&r, im, path); /* for the file handle and the messages */
    if (st)
        return st;
    char q[AR__QUOTE_BUF];
    json_error_t jerr;
    json_t *root = json_loadf(r.f, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st = ar__fail(im->err, AR_EPARSE, "%s:%d:%d: expected valid JSON, got an error: %s", path,
                      jerr.line, jerr.column, jerr.text);
        goto done;
    }
    /* Structure errors: jansson keeps no positions of values, so name the key instead. */
    r.lineno = 0;
    if (!json_is_object(root)) {
        st =
            ar__reader_fail(&r, AR_EPARSE, "expected a JSON object {\"item\": [attr, ...]}, got %s",
                            json_kind(root));
        goto done;
    }
    const char *key;
    json_t *arr;
    json_object_foreach(root, key, arr) {
        char item[AR__ID_BUF];
        char what[AR__QUOTE_BUF + 16];
        if ((st = ar__reader_int_id(&r, key, "an item id as a key", item)))
            goto done;
        if (!json_is_array(arr)) {
            st = ar__fail(im->err, AR_EPARSE,
                          "%s: item \"%s\": expected an array of attribute ids, got %s", path,
                          ar__quote(q, sizeof q, key), json_kind(arr));
            goto done;
        }
        if ((st = ar__reader_builder(&r, ar_builder_touch(im->b, AR_ITEMS, item))))
            goto done;
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            char buf[32];
            const char *s;
            if (json_is_integer(v)) {
                snprintf(buf, sizeof buf, "%" PRId64, (int64_t)json_integer_value(v));
                s = buf;
            } else if (json_is_string(v) && json_string_length(v) > 0 &&
                       strlen(json_string_value(v)) == json_string_length(v)) {
                s = json_string_value(v);
            } else {
                snprintf(what, sizeof what, "%s", ar__quote(q, sizeof q, key));
                st = ar__fail(im->err, AR_EPARSE,
                              "%s: item \"%s\": expected attribute ids (integers or non-empty "
                              "strings), got %s",
                              path, what, json_kind(v));
                goto done;
            }
            st = ar_builder_attr_cat(im->b, AR_ITEMS, item, "attribute", s);
            if ((st = ar__reader_builder(&r, st)))
                goto done;
        }
    }
done:
    json_decref(root);
    ar__reader_close(&r);
    return st;
}
