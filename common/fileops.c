/* fileops.c - the client library's file data operations beyond read and write:
 * O_APPEND across clients, fallocate, SEEK_DATA/SEEK_HOLE and copy_file_range
 * (see client.h for the contract, server/fileops.c for the servers' side). */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "placement.h"

#define WINDOW 4                    /* RPCs one call keeps in flight */
#define APPEND_INLINE_MAX (64 << 10) /* on a cluster, larger appends reserve first, then write */
#define FALLOC_CHECK_MIN (64 << 20)  /* larger allocations check the free space first */

static int run1(struct bfs_client *c, struct rpc_call *call)
{
    int rc = bfs_call_run(c, call, 1);
    return rc < 0 ? rc : call->status;
}

/* Runs n calls; the first error (transport or status), or 0. */
static int run_all(struct bfs_client *c, struct rpc_call *calls, size_t n)
{
    int rc = n ? bfs_call_run(c, calls, n) : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = calls[i].status;
    return rc;
}

static int regular(struct bfs_client *c, uint64_t ino, struct bfs_attr *a)
{
    int rc = bfs_getattr(c, ino, a);
    if (rc == 0 && S_ISDIR(a->mode))
        return -EISDIR;
    return rc == 0 && !S_ISREG(a->mode) ? -EINVAL : rc;
}

/* The owner learns that [off, end) of ino was stored elsewhere (size, st_blocks). */
static int size_grow(struct bfs_client *c, uint64_t ino, uint64_t off, uint64_t end)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, bfs_client_nodes(c)), OP_SETATTR);
    call.args.ino = ino;
    call.args.mask = BFS_SET_SIZE_GROW;
    call.args.attr.size = end;
    call.args.off = off;
    return run1(c, &call);
}

/* ---- O_APPEND ---- */

/* WRITEs of [off, off+len), each within one chunk and one RPC, and nothing
 * else: 0 once all are stored, or the first error. */
static int write_pieces(struct bfs_client *c, uint64_t ino, const void *buf, size_t len,
                        uint64_t off)
{
    uint32_t nodes = bfs_client_nodes(c), cs = bfs_client_chunk_size(c);
    int rc = 0;
    for (size_t done = 0; rc == 0 && done < len;) {
        struct rpc_call calls[WINDOW];
        size_t n = 0;
        for (; n < WINDOW && done < len; n++) {
            uint64_t pos = off + done, idx = pos / cs, coff = pos % cs;
            size_t plen = len - done;
            if (plen > cs - coff)
                plen = cs - coff;
            if (plen > BFS_MAX_IO)
                plen = BFS_MAX_IO;
            bfs_call_prep(&calls[n], place_chunk(ino, idx, nodes), OP_WRITE);
            calls[n].args.ino = ino;
            calls[n].args.idx = idx;
            calls[n].args.off = coff;
            calls[n].data = (const uint8_t *)buf + done;
            calls[n].data_len = plen;
            done += plen;
        }
        rc = run_all(c, calls, n);
    }
    return rc;
}

ssize_t bfs_append(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t *off,
                   struct bfs_wcc *wcc)
{
    struct rpc_call call;
    if (wcc)
        wcc->valid = 0;
    if (len == 0)
        return 0;
    if (len > UINT32_MAX)
        return -EINVAL;
    bfs_call_prep(&call, place_inode(ino, bfs_client_nodes(c)), OP_APPEND);
    call.args.ino = ino;
    call.args.len = (uint32_t)len;
    /* The bytes go along when the owner is likely to store them itself (its
     * chunk 0 and, on one server, every chunk); else they would cross twice. */
    if (len <= BFS_MAX_IO && (bfs_client_nodes(c) == 1 || len <= APPEND_INLINE_MAX)) {
        call.data = buf;
        call.data_len = len;
    }
    int rc = run1(c, &call);
    if (rc < 0)
        return rc;
    *off = call.reply.off;
    if (call.reply.flags & 1) {
        if (wcc) {
            wcc->valid = 1;
            wcc->pre_ctime = (int64_t)call.reply.pre_ctime;
            wcc->post = call.reply.attr;
        }
        return (ssize_t)len;
    }
    /* Reserved, not stored: the range is ours alone. The owner has its size and
     * st_blocks already, so the pieces go out as bare WRITEs. */
    rc = write_pieces(c, ino, buf, len, *off);
    if (rc < 0)
        log_warn("ino %llx: append of %zu bytes at %llu: reserved, but writing failed: %s "
                 "(the range reads as zeros)", (unsigned long long)ino, len,
                 (unsigned long long)*off, strerror(-rc));
    return rc < 0 ? rc : (ssize_t)len;
}

/* ---- fallocate ---- */

int bfs_fallocate(struct bfs_client *c, uint64_t ino, int mode, uint64_t off, uint64_t len,
                  struct bfs_attr *out)
{
    struct bfs_attr a;
    const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE && mode != punch && mode != FALLOC_FL_ZERO_RANGE &&
        mode != (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE))
        return -EOPNOTSUPP;
    if (len == 0 || off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX)
        return -EINVAL;
    if (len > (uint64_t)INT64_MAX - off)
        return -EFBIG;
    int rc = regular(c, ino, &a);
    if (rc < 0)
        return rc;
    uint32_t nodes = bfs_client_nodes(c), cs = bfs_client_chunk_size(c);
    uint64_t end = off + len;
    /* A range the cluster cannot hold fails at once, not after filling its disks. */
    if (mode != punch && len > FALLOC_CHECK_MIN) {
        struct statvfs v;
        if ((rc = bfs_statfs(c, &v)) < 0)
            return rc;
        if (len / v.f_frsize >= v.f_bavail)
            return -ENOSPC;
    }
    if (mode == punch && end > a.size)
        end = a.size;   /* nothing is stored past the end */
    else if ((mode & FALLOC_FL_KEEP_SIZE) && end > (a.size + cs - 1) / cs * cs)
        end = (a.size + cs - 1) / cs * cs;   /* no chunk file lies past the file's last chunk */
    /* Each chunk's server does its piece (io_uring), then the owner the size and
     * st_blocks: a size is never raised over blocks that failed to allocate. */
    for (uint64_t pos = off; rc == 0 && pos < end;) {
        struct rpc_call calls[WINDOW];
        size_t n = 0;
        for (; n < WINDOW && pos < end; n++) {
            uint64_t idx = pos / cs, coff = pos % cs, plen = cs - coff;
            if (plen > end - pos)
                plen = end - pos;
            bfs_call_prep(&calls[n], place_chunk(ino, idx, nodes), OP_FALLOCATE);
            calls[n].args.ino = ino;
            calls[n].args.idx = idx;
            calls[n].args.off = coff;
            calls[n].args.size = plen;
            calls[n].args.mode = (uint32_t)mode;
            pos += plen;
        }
        rc = run_all(c, calls, n);
    }
    if (rc < 0)
        return rc;
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, nodes), OP_FALLOCATE);
    call.args.ino = ino;
    call.args.off = off;
    call.args.size = len;
    call.args.mode = (uint32_t)mode;
    call.args.flags = BFS_FALLOC_META;
    if ((rc = run1(c, &call)) == 0 && out)
        *out = call.reply.attr;
    return rc;
}

/* ---- SEEK_DATA / SEEK_HOLE ---- */

int bfs_seek(struct bfs_client *c, uint64_t ino, uint64_t off, int whence, uint64_t *out)
{
    struct bfs_attr a;
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    int rc = regular(c, ino, &a);
    if (rc < 0)
        return rc;
    if (off >= a.size)
        return -ENXIO;
    /* Every node answers for its own chunks; the lowest answer is the file's.
     * The end of the file is a hole. */
    uint64_t best = whence == SEEK_HOLE ? a.size : UINT64_MAX;
    uint32_t nodes = bfs_client_nodes(c);
    for (uint32_t base = 0; rc == 0 && base < nodes; base += WINDOW) {
        struct rpc_call calls[WINDOW];
        size_t n = 0;
        for (uint32_t node = base; node < nodes && n < WINDOW; node++, n++) {
            bfs_call_prep(&calls[n], node, OP_SEEK);
            calls[n].args.ino = ino;
            calls[n].args.off = off;
            calls[n].args.size = a.size;
            calls[n].args.flags = (uint32_t)whence;
        }
        rc = run_all(c, calls, n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if ((calls[i].reply.flags & 1) && calls[i].reply.off >= off && calls[i].reply.off < best)
                best = calls[i].reply.off;
    }
    if (rc < 0)
        return rc;
    if (best == UINT64_MAX)
        return -ENXIO;
    *out = best;
    return 0;
}

/* ---- copy_file_range ---- */

/* The next piece at source s and destination d: within one chunk of each file
 * and one RPC. */
static size_t piece_len(uint32_t cs, uint64_t s, uint64_t d, size_t left)
{
    size_t n = left;
    if (n > cs - s % cs)
        n = cs - s % cs;
    if (n > cs - d % cs)
        n = cs - d % cs;
    return n > BFS_MAX_IO ? BFS_MAX_IO : n;
}

/* A piece the client copies itself: its two chunks are on different servers. */
static ssize_t copy_through(struct bfs_client *c, uint64_t src, uint64_t soff, uint64_t dst,
                            uint64_t doff, size_t len, void **buf)
{
    if (!*buf && !(*buf = malloc(BFS_MAX_IO)))
        return -ENOMEM;
    ssize_t n = bfs_read(c, src, *buf, len, soff);
    if (n > 0)
        n = bfs_write(c, dst, *buf, (size_t)n, doff);
    return n;
}

ssize_t bfs_copy_range(struct bfs_client *c, uint64_t src, uint64_t soff, uint64_t dst,
                       uint64_t doff, size_t len)
{
    struct bfs_attr sa, da;
    if (soff > (uint64_t)INT64_MAX || doff > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX)
        return -EINVAL;
    int rc = regular(c, src, &sa);
    if (rc == 0)
        rc = regular(c, dst, &da);
    if (rc < 0)
        return rc;
    if (soff >= sa.size || len == 0)
        return 0;
    if (len > sa.size - soff)
        len = (size_t)(sa.size - soff);
    /* As copy_file_range(2), on the range clamped to the source's end. */
    if (src == dst && soff < doff + len && doff < soff + len)
        return -EINVAL;
    if (len > (uint64_t)INT64_MAX - doff)
        return -EFBIG;
    uint32_t nodes = bfs_client_nodes(c), cs = bfs_client_chunk_size(c);
    void *buf = NULL;
    size_t done = 0;
    int remote = 0;   /* a server that is not dst's owner stored a piece */
    while (rc == 0 && done < len) {
        struct rpc_call calls[WINDOW];
        size_t n = 0, sent = done;
        /* A window of pieces, each within one chunk of each file; one whose
         * chunks are on two servers ends the window and is copied here. */
        while (n < WINDOW && sent < len) {
            uint64_t s = soff + sent, d = doff + sent;
            size_t plen = piece_len(cs, s, d, len - sent);
            uint32_t node = place_chunk(dst, d / cs, nodes);
            if (place_chunk(src, s / cs, nodes) != node)
                break;
            bfs_call_prep(&calls[n], node, OP_COPY);
            calls[n].args.ino = dst;
            calls[n].args.idx = d / cs;
            calls[n].args.off = d % cs;
            calls[n].args.parent = src;
            calls[n].args.cookie = s / cs;
            calls[n].args.size = s % cs;
            calls[n].args.len = (uint32_t)plen;
            n++;
            sent += plen;
        }
        if (n) {
            rc = bfs_call_run(c, calls, n);
            /* Only a prefix of pieces that all landed counts as copied. */
            for (size_t i = 0; rc == 0 && i < n; i++) {
                if ((rc = calls[i].status) == 0) {
                    done += calls[i].args.len;
                    remote |= !(calls[i].reply.flags & 1);
                }
            }
            continue;
        }
        uint64_t s = soff + done, d = doff + done;
        ssize_t k = copy_through(c, src, s, dst, d, piece_len(cs, s, d, len - done), &buf);
        if (k < 0)
            rc = (int)k;
        else if (k == 0)
            break;   /* the source shrank meanwhile */
        else
            done += (size_t)k;
    }
    free(buf);
    if (done && remote) {
        int rc2 = size_grow(c, dst, doff, doff + done);
        if (rc2 < 0)
            return rc2;
    }
    return done ? (ssize_t)done : rc;
}
