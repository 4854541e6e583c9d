/*
 * secfile.h -- the container shared by agentrec's binary files (datasets, models): a 64-byte
 * header, a section table and 64-byte-aligned sections, written atomically and read by mmap.
 *
 *   header   magic[8], u32 version, u32 n_sections, u64 file_size, u64 checksum (of the whole
 *            file with this field read as zero), 32 bytes that belong to the file kind
 *   table    n_sections entries of 32 bytes: u32 tag, u32 elem_size, u64 offset, u64 count,
 *            u64 aux
 *   sections each 64-byte aligned, count elements of elem_size bytes
 *
 * Opening checks magic, version, size, the checksum (optional) and that every section lies
 * inside the file; what the sections mean is checked by the file kind.
 */
#ifndef AR_SECFILE_H
#define AR_SECFILE_H

#include "core/core.h"

#define AR__SECFILE_EXTRA 32

typedef struct ar__sec {
    uint32_t tag, elem_size;
    uint64_t offset, count, aux;
    const void *data; /* writer: the bytes to write; reader: points into the mapping */
} ar__sec;

typedef struct ar__secw {
    ar__sec *s;
    size_t n, cap;
    int failed; /* an add ran out of memory; write() then fails */
} ar__secw;

/* Queues a section (data is not copied: it must live until write). */
void ar__secw_add(ar__secw *w, uint32_t tag, uint32_t elem_size, uint64_t count, uint64_t aux,
                  const void *data);
/* Writes the file to a temporary name beside path, fsyncs and renames. Frees the queue. */
ar_status ar__secw_write(ar__secw *w, const char *path, const char magic[8], uint32_t version,
                         const void *extra, ar_error *err);

typedef struct ar__secfile {
    const unsigned char *base;
    size_t size;
    ar__sec *s;
    uint32_t n;
    unsigned char extra[AR__SECFILE_EXTRA];
    const char *path; /* borrowed, for messages */
    ar_error *err;
} ar__secfile;

/* Maps path and validates the container. what names the file kind in messages ("dataset").
 * On success the caller owns the mapping and closes it with ar__secfile_close(). */
ar_status ar__secfile_open(ar__secfile *f, const char *path, const char magic[8], uint32_t version,
                           int verify, const char *what, ar_error *err);
void ar__secfile_close(ar__secfile *f);
/* Releases the table but keeps the mapping alive (it now belongs to whoever points into it);
 * returns the mapping's address and size for munmap. */
void ar__secfile_detach(ar__secfile *f, void **map, size_t *size);
const ar__sec *ar__secfile_find(const ar__secfile *f, uint32_t tag);
/* AR_ECORRUPT "path: corrupt <what> file: <msg>". */
ar_status ar__secfile_corrupt(const ar__secfile *f, const char *msg);
/* Fetches a section that must exist with this element size and count. */
ar_status ar__secfile_need(const ar__secfile *f, uint32_t tag, uint32_t elem_size, uint64_t count,
                           const void **out, const char *what);

#endif
