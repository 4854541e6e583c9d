/*
 * fuzz_import_movielens.c -- ar_import(AR_FORMAT_MOVIELENS) on parts "ratings @@ items @@ users".
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path[3];
    if (fuzz_parts(data, size, 3, path) < 1)
        return 0;
    ar_import_options o = ar_import_options_default();
    o.format = AR_FORMAT_MOVIELENS;
    o.train = path[0];
    o.items = path[1];
    o.users = path[2];
    fuzz_import(&o);
    return 0;
}
