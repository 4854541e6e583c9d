/*
 * import_movielens.c -- GroupLens MovieLens files (Harper & Konstan, TiiS 2015).
 *
 *   ratings   u.data       user TAB item TAB rating TAB unix_time          (ML-100K)
 *             ratings.dat  user::item::rating::time                        (ML-1M, ML-10M)
 *   items     u.item       id|title|release date|video date|url|19 genre flags
 *             movies.dat   id::title::Genre1|Genre2|...
 *   users     u.user       id|age|gender|occupation|zip
 *             users.dat    id::gender::age::occupation::zip
 *
 * The variant is chosen per file from its first non-empty line: "::" means the ML-1M layout.
 * Ids are integers (canonicalised, so "007" is item 7); every line must have exactly the number
 * of fields of its layout. The files are Latin-1: titles and values are kept as raw bytes.
 * u.genre is not read: u.item's flags name the genres of the fixed ML-100K list below.
 */
#include "data/import.h"

#include <string.h>

static const char *const ml100k_genres[19] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};

ar_status ar__import_movielens(ar__import *im, const char *path, ar_split split) {
    ar__reader r;
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    const char *sep = NULL;
    bool first = true;
    int64_t n = 0;
    char *line;
    size_t len;
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        if (!len)
            continue;
        char *f[4], user[AR__ID_BUF], item[AR__ID_BUF];
        double rating;
        int64_t t;
        if (first) {
            sep = strstr(line, "::") ? "::" : "\t";
            first = false;
        }
        const char *layout =
            sep[0] == ':' ? "user::item::rating::time" : "user TAB item TAB rating TAB time";
        int nf = ar__count_fields(line, sep);
        if (nf != 4) {
            char q[AR__QUOTE_BUF];
            st = ar__reader_fail(&r, AR_EPARSE, "expected 4 fields (%s), got %d in '%s'", layout,
                                 nf, ar__quote(q, sizeof q, line));
            break;
        }
        ar__split(line, sep, f, 4);
        if ((st = ar__reader_int_id(&r, f[0], "a user id", user)) ||
            (st = ar__reader_int_id(&r, f[1], "an item id", item)) ||
            (st = ar__reader_number(&r, f[2], "a rating", 1, &rating)) ||
            (st = ar__reader_time(&r, f[3], "a unix time", &t)))
            break;
        st = ar_builder_add(im->b, user, item, t, AR_EVENT_RATING, (float)rating, split);
        if ((st = ar__reader_builder(&r, st)))
            break;
        n++;
    }
    ar__reader_close(&r);
    if (!st && n == 0)
        st = ar__import_empty(im, path);
    return st;
}

/* "01-Jan-1995" (or "4-Feb-1971": u.item has a few one-digit days) -> seconds since the epoch
 * at UTC midnight. */
static bool parse_date(const char *s, int64_t *out) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int d = 0, k = 0;
    while (k < 2 && s[k] >= '0' && s[k] <= '9')
        d = d * 10 + (s[k++] - '0');
    if (k == 0 || s[k] != '-' || strlen(s + k) != 9 || s[k + 4] != '-')
        return false;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + k + 1, months + 3 * i, 3) == 0)
            m = i + 1;
    int64_t y = 0;
    for (int i = k + 5; i < k + 9; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        y = y * 10 + (s[i] - '0');
    }
    if (m < 0 || d < 1 || d > mdays[m - 1])
        return false;
    /* Days from 1970-01-01 (H. Hinnant's days_from_civil). */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = (era * 146097 + doe - 719468) * 86400;
    return true;
}

ar_status ar__import_movielens_items(ar__import *im, const char *path) {
    ar__reader r;
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    const char *sep = NULL;
    bool first = true;
    char *line;
    size_t len;
    char q[AR__QUOTE_BUF];
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        if (!len)
            continue;
        if (first) {
            sep = strstr(line, "::") ? "::" : "|";
            first = false;
        }
        bool dat = sep[0] == ':';
        int want = dat ? 3 : 24;
        int nf = ar__count_fields(line, sep);
        if (nf != want) {
            st = ar__reader_fail(&r, AR_EPARSE, "expected %d fields (%s), got %d in '%s'", want,
                                 dat ? "id::title::genres"
                                     : "id|title|release date|video date|url|19 genre flags",
                                 nf, ar__quote(q, sizeof q, line));
            break;
        }
        char *f[24], item[AR__ID_BUF];
        ar__split(line, sep, f, want);
        if ((st = ar__reader_int_id(&r, f[0], "an item id", item)))
            break;
        st = ar_builder_touch(im->b, AR_ITEMS, item);
        if (!st && *f[1])
            st = ar_builder_item_title(im->b, item, f[1]);
        if ((st = ar__reader_builder(&r, st)))
            break;
        if (dat) {
            /* Genres: "Action|Comedy" (may be empty). */
            char *p = f[2];
            while (!st && p) {
                char *bar = strchr(p, '|');
                if (bar)
                    *bar = '\0';
                if (*p)
                    st = ar__reader_builder(&r,
                                            ar_builder_attr_cat(im->b, AR_ITEMS, item, "genre", p));
                p = bar ? bar + 1 : NULL;
            }
            if (st)
                break;
            continue;
        }
        if (*f[2]) {
            int64_t t;
            if (!parse_date(f[2], &t)) {
                st = ar__reader_fail(&r, AR_EPARSE,
                                     "expected a release date like 01-Jan-1995, got '%s'",
                                     ar__quote(q, sizeof q, f[2]));
                break;
            }
            if ((st = ar__reader_builder(&r, ar_builder_item_launch(im->b, item, t))))
                break;
        }
        for (int g = 0; g < 19 && !st; g++) {
            const char *flag = f[5 + g];
            if (strcmp(flag, "0") != 0 && strcmp(flag, "1") != 0) {
                st = ar__reader_fail(&r, AR_EPARSE, "expected a genre flag 0 or 1 (%s), got '%s'",
                                     ml100k_genres[g], ar__quote(q, sizeof q, flag));
                break;
            }
            if (flag[0] == '1')
                st = ar__reader_builder(
                    &r, ar_builder_attr_cat(im->b, AR_ITEMS, item, "genre", ml100k_genres[g]));
        }
        if (st)
            break;
    }
    ar__reader_close(&r);
    return st;
}

ar_status ar__import_movielens_users(ar__import *im, const char *path) {
    ar__reader r;
    ar_status st = ar__reader_open(&r, im, path);
    if (st)
        return st;
    const char *sep = NULL;
    bool first = true;
    char *line;
    size_t len;
    while (!(st = ar__reader_next(&r, &line, &len)) && line) {
        if (!len)
            continue;
        if (first) {
            sep = strstr(line, "::") ? "::" : "|";
            first = false;
        }
        bool dat = sep[0] == ':';
        int nf = ar__count_fields(line, sep);
        if (nf != 5) {
            char q[AR__QUOTE_BUF];
            st = ar__reader_fail(&r, AR_EPARSE, "expected 5 fields (%s), got %d in '%s'",
                                 dat ? "id::gender::age::occupation::zip"
                                     : "id|age|gender|occupation|zip",
                                 nf, ar__quote(q, sizeof q, line));
            break;
        }
        char *f[5], user[AR__ID_BUF];
        ar__split(line, sep, f, 5);
        const char *age = dat ? f[2] : f[1], *gender = dat ? f[1] : f[2];
        if ((st = ar__reader_int_id(&r, f[0], "a user id", user)))
            break;
        st = ar_builder_touch(im->b, AR_USERS, user);
        if (!st && *age) {
            double a;
            if ((st = ar__reader_number(&r, age, "an age", 0, &a)))
                break;
            st = ar_builder_attr_num(im->b, AR_USERS, user, "age", a);
        }
        if (!st && *gender)
            st = ar_builder_attr_cat(im->b, AR_USERS, user, "gender", gender);
        if (!st && *f[3])
            st = ar_builder_attr_cat(im->b, AR_USERS, user, "occupation", f[3]);
        if (!st && *f[4])
            st = ar_builder_attr_cat(im->b, AR_USERS, user, "zip", f[4]);
        if ((st = ar__reader_builder(&r, st)))
            break;
    }
    ar__reader_close(&r);
    return st;
}
