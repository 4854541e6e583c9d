/*
 * secfile.c -- the sectioned binary container (see secfile.h).
 */
#define _DEFAULT_SOURCE
#include "core/secfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 64
#define ENTRY_SIZE 32
#define ALIGN 64

/* A 64-bit checksum over 8-byte words in four lanes (fast enough to verify a file at memory
 * speed), finished with a splitmix mix. It detects damage, not tampering. */
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

/* The header with its checksum field zeroed, then the rest. */
static uint64_t file_checksum(const unsigned char *file, size_t size) {
    unsigned char head[HEADER_SIZE];
    memcpy(head, file, HEADER_SIZE);
    memset(head + 24, 0, 8);
    return checksum(head, HEADER_SIZE) ^
           (checksum(file + HEADER_SIZE, size - HEADER_SIZE) * 0x9e3779b97f4a7c15ull);
}

void ar__secw_add(ar__secw *w, uint32_t tag, uint32_t elem_size, uint64_t count, uint64_t aux,
                  const void *data) {
    if (w->failed || ar__grow((void **)&w->s, &w->cap, w->n + 1, sizeof *w->s)) {
        w->failed = 1;
        return;
    }
    w->s[w->n++] = (ar__sec){tag, elem_size, 0, count, aux, data};
}

static ar_status write_all(const char *path, const unsigned char *buf, size_t size, ar_error *err) {
    size_t plen = strlen(path);
    char *tmp = ar__malloc(plen + 32);
    if (!tmp)
        return ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    ar_status st = AR_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = ar__fail(err, AR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        size_t done = 0;
        while (done < size) {
            ssize_t k = write(fd, buf + done, size - done);
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
    return st;
}

ar_status ar__secw_write(ar__secw *w, const char *path, const char magic[8], uint32_t version,
                         const void *extra, ar_error *err) {
    ar_status st = AR_OK;
    unsigned char *buf = NULL;
    if (w->failed) {
        st = ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    uint64_t pos = HEADER_SIZE + (uint64_t)w->n * ENTRY_SIZE;
    for (size_t i = 0; i < w->n; i++) {
        pos = (pos + ALIGN - 1) / ALIGN * ALIGN;
        w->s[i].offset = pos;
        pos += w->s[i].count * w->s[i].elem_size;
    }
    uint64_t size = pos;
    if (!(buf = ar__calloc((size_t)size, 1))) {
        st = ar__fail(err, AR_ENOMEM, "%s: out of memory for %llu bytes", path,
                      (unsigned long long)size);
        goto done;
    }
    for (size_t i = 0; i < w->n; i++) {
        unsigned char *e = buf + HEADER_SIZE + i * ENTRY_SIZE;
        memcpy(e, &w->s[i].tag, 4);
        memcpy(e + 4, &w->s[i].elem_size, 4);
        memcpy(e + 8, &w->s[i].offset, 8);
        memcpy(e + 16, &w->s[i].count, 8);
        memcpy(e + 24, &w->s[i].aux, 8);
        if (w->s[i].count)
            memcpy(buf + w->s[i].offset, w->s[i].data, w->s[i].count * w->s[i].elem_size);
    }
    uint32_t n_sections = (uint32_t)w->n;
    memcpy(buf, magic, 8);
    memcpy(buf + 8, &version, 4);
    memcpy(buf + 12, &n_sections, 4);
    memcpy(buf + 16, &size, 8);
    if (extra)
        memcpy(buf + 32, extra, AR__SECFILE_EXTRA);
    uint64_t sum = file_checksum(buf, (size_t)size);
    memcpy(buf + 24, &sum, 8);
    st = write_all(path, buf, (size_t)size, err);
done:
    ar__free(buf);
    ar__free(w->s);
    memset(w, 0, sizeof *w);
    return st;
}

ar_status ar__secfile_corrupt(const ar__secfile *f, const char *msg) {
    return ar__fail(f->err, AR_ECORRUPT, "%s: corrupt file: %s", f->path, msg);
}

ar_status ar__secfile_open(ar__secfile *f, const char *path, const char magic[8], uint32_t version,
                           int verify, const char *what, ar_error *err) {
    memset(f, 0, sizeof *f);
    f->path = path;
    f->err = err;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ar__fail(err, AR_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < HEADER_SIZE) {
        close(fd);
        return ar__fail(err, AR_ECORRUPT, "%s: not an agentrec %s file (too short)", path, what);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return ar__fail(err, AR_EIO, "%s: mmap failed: %s", path, strerror(errno));
    const unsigned char *b = map;
    f->base = b;
    f->size = size;
    ar_status st;
    uint32_t ver, n_sections;
    uint64_t fsize, sum;
    memcpy(&ver, b + 8, 4);
    memcpy(&n_sections, b + 12, 4);
    memcpy(&fsize, b + 16, 8);
    memcpy(&sum, b + 24, 8);
    memcpy(f->extra, b + 32, AR__SECFILE_EXTRA);
    if (memcmp(b, magic, 8) != 0) {
        st = ar__fail(err, AR_ECORRUPT, "%s: not an agentrec %s file (bad magic)", path, what);
        goto fail;
    }
    if (ver != version) {
        st = ar__fail(err, AR_EVERSION, "%s: %s format version %u, this build reads %u", path, what,
                      ver, version);
        goto fail;
    }
    if (fsize != size || n_sections > 100000 ||
        HEADER_SIZE + (uint64_t)n_sections * ENTRY_SIZE > size) {
        st = ar__secfile_corrupt(f, "size does not match header (truncated?)");
        goto fail;
    }
    if (verify && file_checksum(b, size) != sum) {
        st = ar__secfile_corrupt(f, "checksum mismatch");
        goto fail;
    }
    if (!(f->s = ar__calloc(n_sections ? n_sections : 1, sizeof *f->s))) {
        st = ar__fail(err, AR_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    f->n = n_sections;
    for (uint32_t i = 0; i < n_sections; i++) {
        const unsigned char *e = b + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
        ar__sec *s = &f->s[i];
        memcpy(&s->tag, e, 4);
        memcpy(&s->elem_size, e + 4, 4);
        memcpy(&s->offset, e + 8, 8);
        memcpy(&s->count, e + 16, 8);
        memcpy(&s->aux, e + 24, 8);
        if (s->elem_size == 0 || s->elem_size > 8 || s->offset % ALIGN != 0 || s->offset > size ||
            s->count > (size - s->offset) / s->elem_size) {
            st = ar__secfile_corrupt(f, "section out of bounds");
            goto fail;
        }
        s->data = b + s->offset;
    }
    return AR_OK;
fail:
    ar__secfile_close(f);
    return st;
}

void ar__secfile_detach(ar__secfile *f, void **map, size_t *size) {
    *map = (void *)f->base;
    *size = f->size;
    ar__free(f->s);
    f->s = NULL;
    f->base = NULL;
    f->size = 0;
}

void ar__secfile_close(ar__secfile *f) {
    if (f->base)
        munmap((void *)f->base, f->size);
    ar__free(f->s);
    f->s = NULL;
    f->base = NULL;
}

const ar__sec *ar__secfile_find(const ar__secfile *f, uint32_t tag) {
    for (uint32_t i = 0; i < f->n; i++)
        if (f->s[i].tag == tag)
            return &f->s[i];
    return NULL;
}

ar_status ar__secfile_need(const ar__secfile *f, uint32_t tag, uint32_t elem_size, uint64_t count,
                           const void **out, const char *what) {
    const ar__sec *s = ar__secfile_find(f, tag);
    if (!s || s->elem_size != elem_size || s->count != count)
        return ar__secfile_corrupt(f, what);
    *out = s->data;
    return AR_OK;
}
