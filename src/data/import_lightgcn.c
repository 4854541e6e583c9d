/*
 * import_lightgcn.c -- "user item item ..." files of LightGCN (He et al., SIGIR 2020) and NGCF.
 *
 * One line per user: the user id, then the items it interacted with, separated by spaces (tabs
 * are accepted too). Ids are 0-based remapped integers in 0..2147483647. train.txt feeds the
 * train split and test.txt the test split. A user line with no items is allowed (Gowalla's
 * files have some): the user is created without interactions. The files carry no times, so an
 * item's time is its position in the line and AR_DS_HAS_TIME is not set. The event is
 * "interaction" with value 1.
 *
 * ar__import_user_lines() is shared with the S3-Rec reader, whose sequence files have the same
 * shape (there the position is the chronological order).
 */
#include "data/import.h"

ar_status ar__import_user_lines(ar__import *im, const char *path, ar_split split) {
    ar__reader r;
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    int64_t n = 0;
    char *line;
    size_t len;
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        char *cur = line, *tok = ar__next_token(&cur);
        if (!tok)
            continue; /* blank line */
        char user[AR__ID_BUF], item[AR__ID_BUF];
        if ((st = ar__reader_int_id(&r, tok, "a user id", user)))
            break;
        if ((st = ar__reader_builder(&r, ar_builder_touch(im->b, AR_USERS, user))))
            break;
        for (int64_t pos = 0; (tok = ar__next_token(&cur)); pos++) {
            if ((st = ar__reader_int_id(&r, tok, "an item id", item)))
                break;
            st = ar_builder_add(im->b, user, item, pos, AR_EVENT_INTERACTION, 1.0f, split);
            if ((st = ar__reader_builder(&r, st)))
                break;
            n++;
        }
        if (st)
            break;
    }
    ar__reader_close(&r);
    if (!st && n == 0)
        st = ar__import_empty(im, path);
    return st;
}

ar_status ar__import_lightgcn(ar__import *im, const char *path, ar_split split) {
    return ar__import_user_lines(im, path, split);
}
