/*
 * fuzz_import_csv.c -- ar_import(AR_FORMAT_CSV). The first byte picks the options: bit 0 header,
 * bits 1-2 the delimiter (',' TAB ';' ' '), bits 3-5 whether the time, value and event columns
 * are mapped. Columns are named user,item,time,value,event with a header and are 1..5 without.
 * The rest is the file.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static const char delims[4] = {',', '\t', ';', ' '};
    unsigned flags = data[0];
    const char *path = fuzz_write(0, data + 1, size - 1);
    if (!path)
        return 0;
    ar_import_options o = ar_import_options_default();
    o.format = AR_FORMAT_CSV;
    o.train = path;
    o.header = flags & 1;
    o.delimiter = delims[(flags >> 1) & 3];
    o.col_user = o.header ? "user" : "1";
    o.col_item = o.header ? "item" : "2";
    if (flags & 8)
        o.col_time = o.header ? "time" : "3";
    if (flags & 16)
        o.col_value = o.header ? "value" : "4";
    if (flags & 32)
        o.col_event = o.header ? "event" : "5";
    fuzz_import(&o);
    return 0;
}
