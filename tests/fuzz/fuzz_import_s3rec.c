/*
 * fuzz_import_s3rec.c -- ar_import(AR_FORMAT_S3REC) on parts "sequences @@ item2attributes.json".
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path[2];
    if (fuzz_parts(data, size, 2, path) < 1)
        return 0;
    ar_import_options o = ar_import_options_default();
    o.format = AR_FORMAT_S3REC;
    o.train = path[0];
    o.attributes = path[1];
    fuzz_import(&o);
    return 0;
}
