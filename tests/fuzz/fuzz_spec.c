/*
 * fuzz_spec.c -- the model-spec parser (ar_spec_validate and friends). The input is the spec
 * text. A valid spec must canonicalise to text that is itself valid and canonical (the same
 * text again), hash like it, and build a model; an invalid one must be refused with a message.
 * Any broken invariant aborts, so libFuzzer reports it.
 */
#include "agentrec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > AR_SPEC_MAX_BYTES + 1)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0; /* an embedded NUL just ends the text early */
    ar_error err;
    err.msg[0] = 0;
    ar_status st = ar_spec_validate(text, &err);
    if (st != AR_OK) {
        if (!err.msg[0])
            abort(); /* every refusal says why */
        free(text);
        return 0;
    }
    char *c = NULL, *c2 = NULL;
    uint64_t h1 = 0, h2 = 0;
    if (ar_spec_canonical(text, &c, &err) != AR_OK || ar_spec_canonical(c, &c2, &err) != AR_OK ||
        strcmp(c, c2) != 0 || ar_spec_hash(text, &h1, &err) != AR_OK ||
        ar_spec_hash(c, &h2, &err) != AR_OK || h1 != h2)
        abort();
    ar_spec_info in;
    if (ar_spec_info_get(c, &in, &err) != AR_OK || in.depth < 1 || in.n_leaves < 1)
        abort();
    ar_model *m = NULL;
    if (ar_model_create_spec(c, &m, &err) != AR_OK)
        abort();
    ar_model_free(m);
    ar_free_array(c);
    ar_free_array(c2);
    free(text);
    return 0;
}
