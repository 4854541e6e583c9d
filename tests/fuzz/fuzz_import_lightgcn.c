/*
 * fuzz_import_lightgcn.c -- ar_import(AR_FORMAT_LIGHTGCN) on parts "train @@ test".
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path[2];
    if (fuzz_parts(data, size, 2, path) < 1)
        return 0;
    ar_import_options o = ar_import_options_default();
    o.format = AR_FORMAT_LIGHTGCN;
    o.train = path[0];
    o.test = path[1];
    fuzz_import(&o);
    return 0;
}
