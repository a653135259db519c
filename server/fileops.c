/* fileops.c - the server's file data operations beyond READ and WRITE (proto.h):
 * APPEND (O_APPEND across clients), FALLOCATE, SEEK (SEEK_DATA / SEEK_HOLE) and
 * COPY (a piece of copy_file_range whose source and destination chunks both live
 * here). The client library (common/fileops.c) cuts each call into these.
 *
 * Data goes through handlers.c's write path (inline data, migration, chunk
 * files), so an append or a copied piece is stored exactly as a WRITE would be. */
#include "server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/placement.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int owner(const struct server *s, uint64_t ino)
{
    return bfs_ino_node(ino) == s->node_id;
}

static int mine(const struct server *s, uint64_t ino, uint64_t idx)
{
    return place_chunk(ino, idx, s->nodes) == s->node_id;
}

/* A piece of one chunk: in-chunk offset and length within it, chunk index within off_t. */
static int check_piece(const struct server *s, uint64_t idx, uint64_t off, uint64_t len)
{
    if (len == 0 || off >= s->chunk_size || len > s->chunk_size - off)
        return -EINVAL;
    return idx >= (uint64_t)INT64_MAX / s->chunk_size ? -EFBIG : 0;
}

/* Inline state of the owner's chunk 0: 0 and *have (bytes stored inline), or
 * META_CHUNKS, or -errno. */
static int inline_have(struct server *s, uint64_t ino, size_t *have)
{
    size_t max = meta_inline_max(s->meta);
    void *buf = malloc(max);
    if (!buf)
        return -ENOMEM;
    int rc = meta_inline_read(s->meta, ino, 0, buf, max, have);
    free(buf);
    return rc;
}

/* ---- APPEND ----
 *
 * The owner reserves [size, size + len) by raising the size in this event-loop
 * turn (no other request runs in between: appends never overlap), and stores the
 * bytes at once when they fit one chunk of its own; otherwise the client writes
 * them at the offset it was given, by the ordinary write path. */
int fileops_append(struct server *s, struct srv_req *r)
{
    struct bfs_attr a, after;
    uint64_t len = r->a.len;
    /* A reservation alone may be larger than one RPC's data (the client writes it). */
    /* (r->a.ino is ours: the handlers' table checks it, H_OWNER) */
    if (len == 0 || (r->data_len && r->data_len != len))
        return -EINVAL;
    int rc = handlers_file_attr(s, r->a.ino, &a);
    if (rc < 0)
        return rc;
    if (a.size > (uint64_t)INT64_MAX - len)
        return -EFBIG;
    /* Counted as stored at once (st_blocks): the client's WRITE elsewhere then
     * needs no SETATTR after it. A write that never comes leaves zeros counted. */
    if ((rc = meta_wrote(s->meta, r->a.ino, a.size, a.size + len, now_ns(), &after, NULL)) < 0)
        return rc;
    r->r.off = a.size;
    r->r.len = (uint32_t)len;
    r->r.attr = after;
    r->r.pre_ctime = (uint64_t)a.ctime_ns;
    uint64_t idx = a.size / s->chunk_size, coff = a.size % s->chunk_size;
    if (!r->data_len || coff + len > s->chunk_size || !mine(s, r->a.ino, idx))
        return 0;   /* flags 0: the client writes the bytes at r.off */
    r->a.idx = idx;
    r->a.off = coff;
    /* The write path's reply says flags 1 (stored, size and st_blocks here). */
    return handlers_write(s, r);
}

/* ---- FALLOCATE ---- */

/* The modes fallocate(2) gives meaning to on a regular file that BenchFS does. */
static int falloc_mode_ok(uint32_t mode)
{
    return mode == 0 || mode == FALLOC_FL_KEEP_SIZE ||
           mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || mode == FALLOC_FL_ZERO_RANGE ||
           mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
}

/* What a chunk file gets: its own size never matters (the file's is the owner's
 * record), so always KEEP_SIZE; a zeroed range is punched and allocated again
 * where the local file system has no ZERO_RANGE (r.step counts those stages). */
static int falloc_chunk(struct server *s, struct srv_req *r);

static void falloc_done(void *arg, ssize_t res)
{
    struct srv_req *r = arg;
    if (res == -EOPNOTSUPP && (r->a.mode & FALLOC_FL_ZERO_RANGE) && r->r.step == 0) {
        r->r.step = 1;
        int rc = falloc_chunk(r->srv, r);
        if (rc < 0)
            srv_reply(r, rc);
        return;
    }
    if (res >= 0 && r->r.step == 1) {
        r->r.step = 2;
        int rc = falloc_chunk(r->srv, r);
        if (rc < 0)
            srv_reply(r, rc);
        return;
    }
    srv_reply(r, res < 0 ? (int)res : 0);
}

static int falloc_chunk(struct server *s, struct srv_req *r)
{
    int mode = FALLOC_FL_KEEP_SIZE;
    if (r->a.mode & FALLOC_FL_PUNCH_HOLE)
        mode |= FALLOC_FL_PUNCH_HOLE;
    else if (r->a.mode & FALLOC_FL_ZERO_RANGE)
        mode |= r->r.step == 0 ? FALLOC_FL_ZERO_RANGE : r->r.step == 1 ? FALLOC_FL_PUNCH_HOLE : 0;
    int rc = chunkstore_fallocate(s->cs, r->a.ino, r->a.idx, r->a.off, (size_t)r->a.size, mode,
                                  falloc_done, r);
    return rc < 0 ? rc : 1;
}

int fileops_migrated(struct server *s, struct srv_req *r)
{
    return falloc_chunk(s, r);
}

int fileops_fallocate(struct server *s, struct srv_req *r)
{
    struct bfs_attr a;
    size_t have;
    if (!falloc_mode_ok(r->a.mode))
        return -EOPNOTSUPP;
    if (r->a.flags & ~(uint32_t)BFS_FALLOC_META)
        return -EINVAL;
    if (r->a.flags & BFS_FALLOC_META)
        return owner(s, r->a.ino) ? meta_fallocate(s->meta, r->a.ino, r->a.off, r->a.size,
                                                   (int)r->a.mode, now_ns(), &r->r.attr)
                                  : -EINVAL;
    int rc = check_piece(s, r->a.idx, r->a.off, r->a.size);
    if (rc == 0 && owner(s, r->a.ino))
        rc = handlers_file_attr(s, r->a.ino, &a);
    if (rc < 0)
        return rc;
    /* No chunk file past the file's last chunk (the client does not ask for one). */
    if (owner(s, r->a.ino) && (r->a.mode & FALLOC_FL_KEEP_SIZE) && r->a.idx * s->chunk_size >= a.size)
        return 0;
    if (owner(s, r->a.ino) && r->a.idx == 0) {
        if ((rc = inline_have(s, r->a.ino, &have)) < 0)
            return rc;
        /* Inline bytes live in LMDB (the owner's FALLOCATE META zeroes them);
         * an allocation past the inline limit moves the file to a chunk file first. */
        if (rc == 0) {
            if ((r->a.mode & FALLOC_FL_PUNCH_HOLE) || r->a.off + r->a.size <= meta_inline_max(s->meta))
                return 0;
            return handlers_migrate(s, r);
        }
    }
    return falloc_chunk(s, r);
}

/* ---- SEEK ----
 *
 * Each node answers for its own chunks: the first data (or hole) at or after
 * off, below size, that its chunk files (or the owner's inline bytes) show; the
 * client takes the lowest answer of all nodes. A chunk that has no file is a
 * hole; the local file system reports the holes inside a chunk file (lseek).
 * io_uring has no lseek, and the listings are readdir or an faccessat per
 * chunk: the owner's inline state is read in the loop, then seek_data or
 * seek_hole runs on the chunk store's worker thread (chunkstore_offload, after
 * the inode's cuts), touching only the request and the chunk files. */

#define SEEK_BATCH 64   /* chunk indices one listing yields (seek_data) */

static int seek_data(struct server *s, struct srv_req *r, int inl, size_t have)
{
    uint64_t cs = s->chunk_size, pos = r->a.off, end = (r->a.size - 1) / cs + 1;
    uint64_t idx = pos / cs, coff = pos % cs, out, found[SEEK_BATCH];
    size_t n;
    if (inl == 0 && idx == 0) {   /* inline: [0, have) of chunk 0 is data */
        if (coff < have) {
            r->r.flags = 1;
            r->r.off = coff;
            return 0;
        }
        idx = 1;   /* a chunk file 0 is a leftover of an unfinished migration: not data */
        coff = 0;
    }
    /* Chunk files in batches: a file of many allocated but unwritten chunks
     * (holes to SEEK_DATA) costs one listing per batch, not one per chunk. */
    for (;;) {
        int rc = chunkstore_chunks(s->cs, r->a.ino, idx, end, found, SEEK_BATCH, &n);
        if (rc < 0 || n == 0)
            return rc;
        for (size_t k = 0; k < n; k++) {
            uint64_t i = found[k];
            rc = chunkstore_seek(s->cs, r->a.ino, i, i == idx ? coff : 0, SEEK_DATA, &out);
            if (rc == 0) {
                if (i * cs + out < r->a.size) {
                    r->r.flags = 1;
                    r->r.off = i * cs + out;
                }
                return 0;
            }
            if (rc != -ENXIO)
                return rc;
        }
        idx = found[n - 1] + 1;
        coff = 0;
    }
}

static int seek_hole(struct server *s, struct srv_req *r, int inl, size_t have)
{
    uint64_t cs = s->chunk_size, pos = r->a.off, last = (r->a.size - 1) / cs;
    for (uint64_t idx = pos / cs; idx <= last; idx++) {
        uint64_t coff = idx == pos / cs ? pos % cs : 0, out;
        if (!mine(s, r->a.ino, idx))
            continue;
        if (idx == 0 && inl == 0) {
            if (have >= cs)
                continue;
            out = coff > have ? coff : have;
        } else {
            int rc = chunkstore_seek(s->cs, r->a.ino, idx, coff, SEEK_HOLE, &out);
            if (rc == -ENXIO)
                continue;
            if (rc < 0)
                return rc;
            if (out >= cs)
                continue;
        }
        if (idx * cs + out < r->a.size) {
            r->r.flags = 1;
            r->r.off = idx * cs + out;
        }
        return 0;
    }
    return 0;
}

struct seek_job {
    struct srv_req *r;
    int inl;            /* inline_have's answer (META_CHUNKS when not the owner) */
    size_t have;
    int rc;
};

static void seek_work(void *arg)   /* the worker thread */
{
    struct seek_job *j = arg;
    struct srv_req *r = j->r;
    j->rc = r->a.flags == SEEK_DATA ? seek_data(r->srv, r, j->inl, j->have)
                                    : seek_hole(r->srv, r, j->inl, j->have);
}

static void seek_done(void *arg)   /* the loop */
{
    struct seek_job *j = arg;
    struct srv_req *r = j->r;
    int rc = j->rc;
    free(j);
    srv_reply(r, rc);
}

int fileops_seek(struct server *s, struct srv_req *r)
{
    struct bfs_attr a;
    size_t have = 0;
    int inl = META_CHUNKS, rc;
    if ((r->a.flags != SEEK_DATA && r->a.flags != SEEK_HOLE) || r->a.size > (uint64_t)INT64_MAX)
        return -EINVAL;
    if (r->a.off >= r->a.size)
        return 0;   /* nothing at or after off: not found */
    if (owner(s, r->a.ino)) {
        if ((rc = handlers_file_attr(s, r->a.ino, &a)) < 0 || (rc = inl = inline_have(s, r->a.ino, &have)) < 0)
            return rc;
    }
    struct seek_job *j = malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    *j = (struct seek_job){ r, inl, have, 0 };
    if ((rc = chunkstore_offload(s->cs, r->a.ino, seek_work, seek_done, j)) < 0) {
        free(j);
        return rc;
    }
    return 1;
}

/* ---- COPY ----
 *
 * The source piece is read into a buffer (the owner's inline bytes, or the chunk
 * file through io_uring) and written to the destination piece by the write path:
 * the bytes never leave this server. */

enum { COPY_READ = 1 };   /* r->stage: the bytes are in r->data */

/* The piece's bytes go to the destination. A migration of the destination's
 * chunk 0 that began while they were read from the chunk store comes first:
 * it copies the inline bytes as they were, so a write into them now would be
 * undone at its end. r then waits in its queue and comes back to
 * fileops_copy at COPY_READ. */
static int copy_store(struct server *s, struct srv_req *r)
{
    r->stage = COPY_READ;
    if (r->a.idx == 0 && handlers_migration_wait(s, r))
        return 1;
    return handlers_write(s, r);
}

static void copy_read_done(void *arg, ssize_t res)
{
    struct srv_req *r = arg;
    int rc = res < 0 ? (int)res : copy_store(r->srv, r);
    if (rc <= 0)
        srv_reply(r, rc);
}

int fileops_copy(struct server *s, struct srv_req *r)
{
    struct bfs_attr a;
    uint64_t src = r->a.parent, sidx = r->a.cookie, soff = r->a.size, len = r->a.len;
    size_t got;
    if (r->stage == COPY_READ)   /* back from a migration's queue (copy_store) */
        return handlers_write(s, r);
    int rc = check_piece(s, r->a.idx, r->a.off, len);
    if (rc == 0)
        rc = check_piece(s, sidx, soff, len);
    if (rc == 0 && (len > BFS_MAX_IO || r->data_len))
        rc = -EINVAL;
    /* Not both here: the client copies the piece itself. */
    if (rc == 0 && (!mine(s, src, sidx) || !mine(s, r->a.ino, r->a.idx)))
        rc = -EXDEV;
    if (rc == 0 && owner(s, src))
        rc = handlers_file_attr(s, src, &a);
    if (rc < 0)
        return rc;
    if (!(r->data = handlers_buf_get(s, len, &r->data_buf)))
        return -ENOMEM;
    r->data_len = len;
    if (owner(s, src) && sidx == 0) {
        rc = meta_inline_read(s->meta, src, soff, r->data, len, &got);
        if (rc == 0)
            return handlers_write(s, r);
        if (rc < 0)
            return rc;
    }
    rc = chunkstore_read(s->cs, src, sidx, soff, r->data, r->data_buf, len, copy_read_done, r);
    return rc < 0 ? rc : 1;
}
