/*
 * binfmt.c -- the versioned binary dataset file, loaded by mmap.
 *
 * Layout (all integers little-endian, as written by this machine; see docs/formats.md):
 *
 *   header   64 bytes: magic "AGRECDS1", u32 version, u32 n_sections, u64 file_size,
 *            u64 checksum of the whole file (read with this field as zero), i32 n_users,
 *            i32 n_items, i64 n_inter,
 *            u32 flags, zero padding
 *   table    n_sections entries of 32 bytes: u32 tag, u32 elem_size, u64 offset, u64 count,
 *            u64 aux
 *   sections each 64-byte aligned, `count` elements of `elem_size` bytes
 *
 * A tag is (kind << 16) | (entity << 12) | attribute index. Loading maps the file read-only and
 * points the dataset's arrays into it; nothing is copied except the split labels, which stay
 * writable. Because a file may be damaged or hostile, load validates every count, offset,
 * string table and index range before the dataset is handed out: a bad file is AR_ECORRUPT,
 * never a crash.
 */
#define _DEFAULT_SOURCE
#include "data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 64
#define ENTRY_SIZE 32
#define ALIGN 64
static const char MAGIC[8] = {'A', 'G', 'R', 'E', 'C', 'D', 'S', '1'};

enum {
    K_USER = 1,
    K_ITEM,
    K_TIME,
    K_EVENT,
    K_VALUE,
    K_SPLIT,
    K_USER_OFFSETS,
    K_ID_OFFS,
    K_ID_CHARS,
    K_EVENT_OFFS,
    K_EVENT_CHARS,
    K_LAUNCH,
    K_TITLE_OFFS,
    K_TITLE_CHARS,
    K_ATTR_NAME_OFFS,
    K_ATTR_NAME_CHARS,
    K_ATTR_INDPTR, /* aux = kind */
    K_ATTR_CODES,
    K_ATTR_VALUE_OFFS,
    K_ATTR_VALUE_CHARS,
    K_ATTR_NUM, /* aux = kind */
};

static uint32_t tag(unsigned kind, unsigned entity, unsigned attr) {
    return (kind << 16) | (entity << 12) | attr;
}

typedef struct section {
    uint32_t tag, elem_size;
    uint64_t offset, count, aux;
    const void *data;
} section;

/* A 64-bit checksum over 8-byte words in four lanes (fast enough to verify a file at memory
 * speed), finished with a splitmix mix. Not cryptographic: it detects damage, not tampering. */
static uint64_t checksum(const unsigned char *p, size_t n) {
    uint64_t h[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                     0x27d4eb2f165667c5ull};
    const uint64_t m = 0x9fb21c651e98df25ull;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * (size_t)l, 8);
            h[l] = (h[l] ^ w) * m;
            h[l] ^= h[l] >> 29;
        }
    }
    uint64_t r = h[0] ^ (h[1] << 1) ^ (h[2] << 2) ^ (h[3] << 3) ^ (uint64_t)n;
    for (; i < n; i++)
        r = (r ^ p[i]) * 0x100000001b3ull;
    r ^= r >> 30;
    r *= 0xbf58476d1ce4e5b9ull;
    r ^= r >> 27;
    r *= 0x94d049bb133111ebull;
    return r ^ (r >> 31);
}

/* The file's checksum: the header with its checksum field zeroed, then the rest. */
static uint64_t file_checksum(const unsigned char *file, size_t size) {
    unsigned char head[HEADER_SIZE];
    memcpy(head, file, HEADER_SIZE);
    memset(head + 24, 0, 8);
    return checksum(head, HEADER_SIZE) ^
           (checksum(file + HEADER_SIZE, size - HEADER_SIZE) * 0x9e3779b97f4a7c15ull);
}

/* -- save --------------------------------------------------------------------------------- */

typedef struct writer {
    section *s;
    size_t n, cap;
    int failed;
} writer;

static void add(writer *w, uint32_t t, uint32_t elem_size, uint64_t count, uint64_t aux,
                const void *data) {
    if (w->failed || ar__grow((void **)&w->s, &w->cap, w->n + 1, sizeof *w->s)) {
        w->failed = 1;
        return;
    }
    w->s[w->n++] = (section){t, elem_size, 0, count, aux, data};
}

static void add_strtab(writer *w, unsigned offs_kind, unsigned chars_kind, unsigned e, unsigned a,
                       const ar__strtab *t) {
    add(w, tag(offs_kind, e, a), 8, (uint64_t)t->n + 1, 0, t->offs);
    add(w, tag(chars_kind, e, a), 1, (uint64_t)t->offs[t->n], 0, t->chars);
}

ar_status ar_dataset_save(const ar_dataset *ds, const char *path, ar_error *err) {
    writer w = {0};
    uint64_t ni = (uint64_t)ds->n_inter;
    add(&w, tag(K_USER, 0, 0), 4, ni, 0, ds->user);
    add(&w, tag(K_ITEM, 0, 0), 4, ni, 0, ds->item);
    add(&w, tag(K_TIME, 0, 0), 8, ni, 0, ds->time);
    add(&w, tag(K_EVENT, 0, 0), 1, ni, 0, ds->event);
    add(&w, tag(K_VALUE, 0, 0), 4, ni, 0, ds->value);
    add(&w, tag(K_SPLIT, 0, 0), 1, ni, 0, ds->split);
    add(&w, tag(K_USER_OFFSETS, 0, 0), 8, (uint64_t)ds->n_users + 1, 0, ds->user_offsets);
    for (unsigned e = 0; e < 2; e++)
        add_strtab(&w, K_ID_OFFS, K_ID_CHARS, e, 0, &ds->ids[e]);
    add_strtab(&w, K_EVENT_OFFS, K_EVENT_CHARS, 0, 0, &ds->events);
    add(&w, tag(K_LAUNCH, 1, 0), 8, (uint64_t)ds->n_items, 0, ds->launch);
    add_strtab(&w, K_TITLE_OFFS, K_TITLE_CHARS, 1, 0, &ds->titles);
    for (unsigned e = 0; e < 2; e++) {
        if (ds->n_attrs[e] > 4095)
            return ar__fail(err, AR_ERANGE, "%s: too many attribute columns", path);
        if (!ds->n_attrs[e])
            continue;
        add_strtab(&w, K_ATTR_NAME_OFFS, K_ATTR_NAME_CHARS, e, 0, &ds->attr_names[e]);
        uint64_t n_ent = (uint64_t)(e == AR_USERS ? ds->n_users : ds->n_items);
        for (unsigned a = 0; a < (unsigned)ds->n_attrs[e]; a++) {
            const ar__attr *at = &ds->attrs[e][a];
            if (at->kind == AR_ATTR_NUMERIC) {
                add(&w, tag(K_ATTR_NUM, e, a), 8, n_ent, AR_ATTR_NUMERIC, at->num);
                continue;
            }
            add(&w, tag(K_ATTR_INDPTR, e, a), 8, n_ent + 1, AR_ATTR_CATEGORICAL, at->indptr);
            add(&w, tag(K_ATTR_CODES, e, a), 4, (uint64_t)at->indptr[n_ent], 0, at->codes);
            add_strtab(&w, K_ATTR_VALUE_OFFS, K_ATTR_VALUE_CHARS, e, a, &at->values);
        }
    }
    if (w.failed) {
        ar__free(w.s);
        return ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
    }

    uint64_t pos = HEADER_SIZE + (uint64_t)w.n * ENTRY_SIZE;
    for (size_t i = 0; i < w.n; i++) {
        pos = (pos + ALIGN - 1) / ALIGN * ALIGN;
        w.s[i].offset = pos;
        pos += w.s[i].count * w.s[i].elem_size;
    }
    uint64_t size = pos;
    unsigned char *buf = ar__calloc((size_t)size, 1);
    if (!buf) {
        ar__free(w.s);
        return ar__fail(err, AR_ENOMEM, "%s: out of memory for %llu bytes", path,
                        (unsigned long long)size);
    }
    for (size_t i = 0; i < w.n; i++) {
        unsigned char *e = buf + HEADER_SIZE + i * ENTRY_SIZE;
        memcpy(e, &w.s[i].tag, 4);
        memcpy(e + 4, &w.s[i].elem_size, 4);
        memcpy(e + 8, &w.s[i].offset, 8);
        memcpy(e + 16, &w.s[i].count, 8);
        memcpy(e + 24, &w.s[i].aux, 8);
        if (w.s[i].count)
            memcpy(buf + w.s[i].offset, w.s[i].data, w.s[i].count * w.s[i].elem_size);
    }
    uint32_t version = AR_DATASET_FORMAT_VERSION, n_sections = (uint32_t)w.n;
    memcpy(buf, MAGIC, 8);
    memcpy(buf + 8, &version, 4);
    memcpy(buf + 12, &n_sections, 4);
    memcpy(buf + 16, &size, 8);
    memcpy(buf + 32, &ds->n_users, 4);
    memcpy(buf + 36, &ds->n_items, 4);
    memcpy(buf + 40, &ds->n_inter, 8);
    memcpy(buf + 48, &ds->flags, 4);
    uint64_t sum = file_checksum(buf, (size_t)size);
    memcpy(buf + 24, &sum, 8);
    ar__free(w.s);

    /* Temporary file in the same directory, fsync, rename: readers see the old file or the new
     * one, never a half-written one. */
    size_t plen = strlen(path);
    char *tmp = ar__malloc(plen + 32);
    if (!tmp) {
        ar__free(buf);
        return ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    ar_status st = AR_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = ar__fail(err, AR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        size_t done = 0;
        while (done < size) {
            ssize_t k = write(fd, buf + done, (size_t)(size - done));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                st = ar__fail(err, AR_EIO, "%s: write failed: %s", tmp, strerror(errno));
                break;
            }
            done += (size_t)k;
        }
        if (!st && fsync(fd) != 0)
            st = ar__fail(err, AR_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
        if (close(fd) != 0 && !st)
            st = ar__fail(err, AR_EIO, "%s: close failed: %s", tmp, strerror(errno));
        if (!st && rename(tmp, path) != 0)
            st = ar__fail(err, AR_EIO, "%s: rename failed: %s", path, strerror(errno));
        if (st)
            unlink(tmp);
    }
    ar__free(tmp);
    ar__free(buf);
    return st;
}

/* -- load --------------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *base;
    uint64_t size;
    section *s;
    uint32_t n;
    const char *path;
    ar_error *err;
} reader;

static const section *find(const reader *r, uint32_t t) {
    for (uint32_t i = 0; i < r->n; i++)
        if (r->s[i].tag == t)
            return &r->s[i];
    return NULL;
}

static ar_status corrupt(const reader *r, const char *what) {
    return ar__fail(r->err, AR_ECORRUPT, "%s: corrupt dataset file: %s", r->path, what);
}

/* Fetches a section that must exist with this element size and count. */
static ar_status need(const reader *r, uint32_t t, uint32_t elem_size, uint64_t count,
                      const void **out, const char *what) {
    const section *s = find(r, t);
    if (!s || s->elem_size != elem_size || s->count != count)
        return corrupt(r, what);
    *out = r->base + s->offset;
    return AR_OK;
}

static ar_status need_strtab(const reader *r, unsigned ko, unsigned kc, unsigned e, unsigned a,
                             int64_t n, ar__strtab *t, const char *what) {
    const void *offs, *chars;
    const section *sc = find(r, tag(kc, e, a));
    ar_status st = need(r, tag(ko, e, a), 8, (uint64_t)n + 1, &offs, what);
    if (st)
        return st;
    if (!sc || sc->elem_size != 1)
        return corrupt(r, what);
    chars = r->base + sc->offset;
    const int64_t *o = offs;
    const char *c = chars;
    if (o[0] != 0 || (uint64_t)o[n] != sc->count)
        return corrupt(r, what);
    for (int64_t i = 0; i < n; i++)
        if (o[i + 1] <= o[i] || (uint64_t)o[i + 1] > sc->count || c[o[i + 1] - 1] != 0)
            return corrupt(r, what);
    *t = (ar__strtab){n, o, c};
    return AR_OK;
}

static ar_status load_attrs(reader *r, ar_dataset *ds, unsigned e) {
    int32_t n_ent = e == AR_USERS ? ds->n_users : ds->n_items;
    const section *names = find(r, tag(K_ATTR_NAME_OFFS, e, 0));
    if (!names)
        return AR_OK;
    if (names->elem_size != 8 || names->count < 2 || names->count > 4096)
        return corrupt(r, "attribute names");
    int na = (int)names->count - 1;
    ar_status st =
        need_strtab(r, K_ATTR_NAME_OFFS, K_ATTR_NAME_CHARS, e, 0, na, &ds->attr_names[e], "names");
    if (st)
        return st;
    ds->attrs[e] = ar__calloc((size_t)na, sizeof(ar__attr));
    if (!ds->attrs[e])
        return ar__fail(r->err, AR_ENOMEM, "%s: out of memory", r->path);
    ds->n_attrs[e] = na;
    for (int a = 0; a < na; a++) {
        ar__attr *at = &ds->attrs[e][a];
        at->name = ar__strtab_get(&ds->attr_names[e], a);
        const void *p;
        if (find(r, tag(K_ATTR_NUM, e, (unsigned)a))) {
            at->kind = AR_ATTR_NUMERIC;
            if ((st = need(r, tag(K_ATTR_NUM, e, (unsigned)a), 8, (uint64_t)n_ent, &p, "attr")))
                return st;
            at->num = p;
            continue;
        }
        at->kind = AR_ATTR_CATEGORICAL;
        if ((st = need(r, tag(K_ATTR_INDPTR, e, (unsigned)a), 8, (uint64_t)n_ent + 1, &p, "attr")))
            return st;
        at->indptr = p;
        const section *vo = find(r, tag(K_ATTR_VALUE_OFFS, e, (unsigned)a));
        if (!vo || vo->count < 1 || vo->count > INT32_MAX)
            return corrupt(r, "attribute values");
        int64_t nv = (int64_t)vo->count - 1;
        if ((st = need_strtab(r, K_ATTR_VALUE_OFFS, K_ATTR_VALUE_CHARS, e, (unsigned)a, nv,
                              &at->values, "attribute values")))
            return st;
        if (at->indptr[0] != 0)
            return corrupt(r, "attribute index");
        for (int32_t i = 0; i < n_ent; i++)
            if (at->indptr[i + 1] < at->indptr[i])
                return corrupt(r, "attribute index");
        if ((st = need(r, tag(K_ATTR_CODES, e, (unsigned)a), 4, (uint64_t)at->indptr[n_ent], &p,
                       "attribute codes")))
            return st;
        at->codes = p;
        for (int64_t k = 0; k < at->indptr[n_ent]; k++)
            if (at->codes[k] < 0 || at->codes[k] >= nv)
                return corrupt(r, "attribute code out of range");
    }
    return AR_OK;
}

static ar_status load_sections(reader *r, ar_dataset *ds) {
    const void *p;
    ar_status st;
    uint64_t ni = (uint64_t)ds->n_inter;
#define NEED(kind, size, count, field, what)                                                       \
    do {                                                                                           \
        if ((st = need(r, tag(kind, 0, 0), size, count, &p, what)))                                \
            return st;                                                                             \
        ds->field = p;                                                                             \
    } while (0)
    NEED(K_USER, 4, ni, user, "users");
    NEED(K_ITEM, 4, ni, item, "items");
    NEED(K_TIME, 8, ni, time, "times");
    NEED(K_EVENT, 1, ni, event, "events");
    NEED(K_VALUE, 4, ni, value, "values");
    NEED(K_USER_OFFSETS, 8, (uint64_t)ds->n_users + 1, user_offsets, "user offsets");
#undef NEED
    if ((st = need(r, tag(K_SPLIT, 0, 0), 1, ni, &p, "splits")))
        return st;
    uint8_t *split = ar__dataset_block(ds, (size_t)ni, 1);
    if (!split)
        return ar__fail(r->err, AR_ENOMEM, "%s: out of memory", r->path);
    memcpy(split, p, (size_t)ni);
    ds->split = split;
    if ((st = need(r, tag(K_LAUNCH, 1, 0), 8, (uint64_t)ds->n_items, &p, "launch times")))
        return st;
    ds->launch = p;
    for (unsigned e = 0; e < 2; e++) {
        int64_t n = e == AR_USERS ? ds->n_users : ds->n_items;
        if ((st = need_strtab(r, K_ID_OFFS, K_ID_CHARS, e, 0, n, &ds->ids[e], "ids")))
            return st;
    }
    const section *ev = find(r, tag(K_EVENT_OFFS, 0, 0));
    if (!ev || ev->count < 2 || ev->count > 256)
        return corrupt(r, "event names");
    if ((st = need_strtab(r, K_EVENT_OFFS, K_EVENT_CHARS, 0, 0, (int64_t)ev->count - 1, &ds->events,
                          "event names")))
        return st;
    if ((st =
             need_strtab(r, K_TITLE_OFFS, K_TITLE_CHARS, 1, 0, ds->n_items, &ds->titles, "titles")))
        return st;
    /* The log must be grouped by user exactly as user_offsets says, with indices in range. */
    if (ds->user_offsets[0] != 0 || (uint64_t)ds->user_offsets[ds->n_users] != ni)
        return corrupt(r, "user offsets");
    for (int32_t u = 0; u < ds->n_users; u++) {
        if (ds->user_offsets[u + 1] < ds->user_offsets[u])
            return corrupt(r, "user offsets");
        for (int64_t k = ds->user_offsets[u]; k < ds->user_offsets[u + 1]; k++)
            if (ds->user[k] != u)
                return corrupt(r, "user column does not match offsets");
    }
    for (uint64_t k = 0; k < ni; k++)
        if (ds->item[k] < 0 || ds->item[k] >= ds->n_items || ds->split[k] > AR_SPLIT_TEST ||
            ds->event[k] >= ds->events.n)
            return corrupt(r, "interaction out of range");
    for (unsigned e = 0; e < 2; e++)
        if ((st = load_attrs(r, ds, e)))
            return st;
    return AR_OK;
}

ar_status ar_dataset_load(const char *path, int verify, ar_dataset **out, ar_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ar__fail(err, AR_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < HEADER_SIZE) {
        close(fd);
        return ar__fail(err, AR_ECORRUPT, "%s: not an agentrec dataset (too short)", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return ar__fail(err, AR_EIO, "%s: mmap failed: %s", path, strerror(errno));
    const unsigned char *b = map;
    reader r = {b, size, NULL, 0, path, err};
    ar_dataset *ds = NULL;
    ar_status st;
    uint32_t version, n_sections;
    uint64_t fsize, sum;
    memcpy(&version, b + 8, 4);
    memcpy(&n_sections, b + 12, 4);
    memcpy(&fsize, b + 16, 8);
    memcpy(&sum, b + 24, 8);
    if (memcmp(b, MAGIC, 8) != 0) {
        st = ar__fail(err, AR_ECORRUPT, "%s: not an agentrec dataset (bad magic)", path);
        goto fail;
    }
    if (version != AR_DATASET_FORMAT_VERSION) {
        st = ar__fail(err, AR_EVERSION, "%s: dataset format version %u, this build reads %d", path,
                      version, AR_DATASET_FORMAT_VERSION);
        goto fail;
    }
    if (fsize != size || n_sections > 100000 ||
        HEADER_SIZE + (uint64_t)n_sections * ENTRY_SIZE > size) {
        st = corrupt(&r, "size does not match header (truncated?)");
        goto fail;
    }
    if (verify && file_checksum(b, size) != sum) {
        st = corrupt(&r, "checksum mismatch");
        goto fail;
    }
    r.s = ar__calloc(n_sections ? n_sections : 1, sizeof *r.s);
    ds = ar__dataset_new();
    if (!r.s || !ds) {
        st = ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    r.n = n_sections;
    for (uint32_t i = 0; i < n_sections; i++) {
        const unsigned char *e = b + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
        section *s = &r.s[i];
        memcpy(&s->tag, e, 4);
        memcpy(&s->elem_size, e + 4, 4);
        memcpy(&s->offset, e + 8, 8);
        memcpy(&s->count, e + 16, 8);
        memcpy(&s->aux, e + 24, 8);
        if (s->elem_size == 0 || s->elem_size > 8 || s->offset % ALIGN != 0 || s->offset > size ||
            s->count > (size - s->offset) / s->elem_size) {
            st = corrupt(&r, "section out of bounds");
            goto fail;
        }
    }
    memcpy(&ds->n_users, b + 32, 4);
    memcpy(&ds->n_items, b + 36, 4);
    memcpy(&ds->n_inter, b + 40, 8);
    memcpy(&ds->flags, b + 48, 4);
    if (ds->n_users < 0 || ds->n_items < 0 || ds->n_inter < 0) {
        st = corrupt(&r, "negative counts");
        goto fail;
    }
    if ((st = load_sections(&r, ds)))
        goto fail;
    ar__free(r.s);
    ds->map = map;
    ds->map_len = size;
    *out = ds;
    return AR_OK;
fail:
    ar__free(r.s);
    ar_dataset_free(ds);
    munmap(map, size);
    return st;
}
