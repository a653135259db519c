/* client_data.c - the data path of the client library (client.h): a read or a
 * write is cut into pieces of one chunk each, sent a window at a time to the
 * chunks' servers (placement.h). */
#include "client.h"
#include "client_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "byteorder.h"
#include "log.h"
#include "placement.h"
#include "registry.h"
#include "rpc.h"
#include "xattr.h"

/* The next window of a read or write of [off, off+len) of ino, from byte done
 * of it on: up to WINDOW calls of op, one piece each that stays within one
 * chunk and one RPC, addressed to the chunk's server, with ino, idx and off set
 * and the piece's bytes of buf as the request's bulk (WRITE) or the reply's
 * (READ: buf is the caller's, writable). Returns the number of calls; *sent is
 * where the window ends. */
static size_t stripe(const struct bfs_client *c, uint32_t op, uint64_t ino, const void *buf,
                     size_t len, uint64_t off, size_t done, struct rpc_call *calls, size_t *sent)
{
    size_t n = 0, at = done;
    for (; n < WINDOW && at < len; n++) {
        uint64_t pos = off + at, idx = pos / c->chunk_size, coff = pos % c->chunk_size;
        size_t plen = c->chunk_size - coff;
        if (plen > BFS_MAX_IO)
            plen = BFS_MAX_IO;
        if (plen > len - at)
            plen = len - at;
        struct rpc_call *call = &calls[n];
        bfs_call_prep(call, place_chunk(ino, idx, c->nodes), op);
        call->args.ino = ino;
        call->args.idx = idx;
        call->args.off = coff;
        if (op == OP_READ) {
            call->args.len = (uint32_t)plen;
            call->rbuf = (uint8_t *)buf + at;
            call->rbuf_len = plen;
        } else {
            call->data = (const uint8_t *)buf + at;
            call->data_len = plen;
        }
        at += plen;
    }
    *sent = at;
    return n;
}

/* A READ reply carries the whole piece (holes read as zeros), or, from the
 * inode's owner (flags 1), the piece cut at the size it names: any other length
 * would hand the caller bytes nobody sent. pos: the piece's place in the file. */
static int check_read_reply(const struct rpc_call *call, uint64_t pos)
{
    size_t want = call->rbuf_len;
    if (call->reply.flags & 1) {
        uint64_t size = call->reply.size;
        want = pos >= size ? 0 : (size - pos < want ? (size_t)(size - pos) : want);
    }
    if (call->rdata_len == want)
        return 0;
    log_error("READ ino %llx chunk %llu from node %u: %zu bytes in the reply, %zu expected",
              (unsigned long long)call->args.ino, (unsigned long long)call->args.idx, call->node,
              call->rdata_len, want);
    return -EIO;
}

/* access: 0, or BFS_SET_ATIME_READ[|_RELATIME] to record the access at the
 * owner with the first window (*touched says whether atime moved). */
static ssize_t read_pieces(struct bfs_client *c, uint64_t ino, void *buf, size_t len, uint64_t off,
                           uint32_t access, int *touched)
{
    if (len > SSIZE_MAX || off > (uint64_t)INT64_MAX - len)
        return -EINVAL;
    int64_t size = -1;   /* the file size once a reply (or GETATTR) told it */
    size_t done = 0;
    uint32_t owner = place_inode(ino, c->nodes);
    while (done < len && (size < 0 || off + done < (uint64_t)size)) {
        struct rpc_call calls[WINDOW + 1];
        size_t sent, n = stripe(c, OP_READ, ino, buf, len, off, done, calls, &sent);
        size_t pieces = n, i;
        /* A read that ends in this window and reaches no piece of the
         * inode's owner needs the size from the owner, and an access to
         * record needs the owner too: ask it at once, beside the pieces, not
         * one round trip after them. */
        for (i = 0; i < n && calls[i].node != owner; i++)
            ;
        if (i < n)
            calls[i].args.mask = access;
        else if (sent == len || access) {
            bfs_call_prep(&calls[n], owner, access ? OP_SETATTR : OP_GETATTR);
            calls[n].args.ino = ino;
            calls[n++].args.mask = access;
        }
        int rc = client_run(c, calls, n);
        for (i = 0; i < pieces && rc == 0; i++) {
            rc = calls[i].status;
            if (rc == 0 && (calls[i].reply.flags & 1))
                size = (int64_t)calls[i].reply.size;
            if (rc == 0 && (calls[i].reply.flags & 2))
                *touched = 1;
            if (rc == 0)
                rc = check_read_reply(&calls[i], off + (uint64_t)((uint8_t *)calls[i].rbuf - (uint8_t *)buf));
        }
        if (rc == 0 && n > pieces) {
            if (calls[pieces].status < 0)
                return calls[pieces].status;   /* as the GETATTR below would */
            size = (int64_t)calls[pieces].reply.attr.size;
            if (access && calls[pieces].reply.size == 1)
                *touched = 1;
        }
        access = 0;
        if (rc < 0)
            return done ? (ssize_t)done : rc;
        done = sent;
    }
    if (size < 0) {
        /* Every piece came from a node that does not own the inode. */
        struct bfs_attr a;
        int rc = bfs_getattr(c, ino, &a);
        if (rc < 0)
            return rc;
        size = (int64_t)a.size;
    }
    uint64_t end = off + done < (uint64_t)size ? off + done : (uint64_t)size;
    return end > off ? (ssize_t)(end - off) : 0;
}

ssize_t bfs_read(struct bfs_client *c, uint64_t ino, void *buf, size_t len, uint64_t off)
{
    int touched = 0;
    return read_pieces(c, ino, buf, len, off, 0, &touched);
}

ssize_t bfs_read_access(struct bfs_client *c, uint64_t ino, void *buf, size_t len, uint64_t off,
                        int relatime, int *touched)
{
    *touched = 0;
    return read_pieces(c, ino, buf, len, off,
                       BFS_SET_ATIME_READ | (relatime ? BFS_SET_ATIME_RELATIME : 0), touched);
}

ssize_t bfs_write(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t off)
{
    return bfs_write_wcc(c, ino, buf, len, off, NULL);
}

ssize_t bfs_write_wcc(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t off,
                      struct bfs_wcc *wcc)
{
    if (wcc)
        wcc->valid = 0;
    if (len > SSIZE_MAX || off > (uint64_t)INT64_MAX - len)
        return -EFBIG;
    size_t done = 0;
    int end_by_owner = 0;   /* the owner wrote the last piece and so raised the size itself */
    int elsewhere = 0;      /* some piece went to another node: the owner did not see it */
    uint32_t owner = place_inode(ino, c->nodes);
    int rc = 0;
    while (done < len && rc == 0) {
        struct rpc_call calls[WINDOW];
        size_t sent, n = stripe(c, OP_WRITE, ino, buf, len, off, done, calls, &sent);
        for (size_t i = 0; i < n; i++)
            elsewhere |= calls[i].node != owner;
        rc = client_run(c, calls, n);
        /* Only a prefix of pieces that all landed counts as written. */
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = calls[i].status;
            if (rc == 0 && calls[i].reply.len != calls[i].data_len) {
                log_error("WRITE ino %llx chunk %llu to node %u: the reply says %u of %zu bytes",
                          (unsigned long long)ino, (unsigned long long)calls[i].args.idx,
                          calls[i].node, calls[i].reply.len, calls[i].data_len);
                rc = -EIO;
            }
            if (rc == 0) {
                done += calls[i].data_len;
                end_by_owner = calls[i].reply.flags & 1;
            }
        }
        if (wcc && rc == 0 && calls[0].data_len == len && end_by_owner) {   /* one piece, the owner's */
            wcc->valid = 1;
            wcc->pre_ctime = (int64_t)calls[0].reply.pre_ctime;
            wcc->post = calls[0].reply.attr;
        }
    }
    if (done == 0)
        return rc;
    /* The owner learns the size, and which bytes are stored (st_blocks), of
     * what it did not write itself. */
    if (!end_by_owner || done < len || elsewhere) {
        struct bfs_attr in = { .size = off + done }, out;
        int rc2 = client_setattr_call(c, ino, BFS_SET_SIZE_GROW, &in, off, &out);
        if (rc2 == -ENOENT && elsewhere) {
            /* The file was freed while this wrote: its owner removed the
             * chunks it knew of, not these. (A crash here leaves them to
             * benchfs-fsck.) */
            struct bfs_msg rm = { .ino = ino, .size = off + done };
            int rc3 = client_on_all_nodes(c, owner, OP_REMOVE, &rm);
            if (rc3 < 0)
                log_warn("ino %llx: removing the chunks a write made after the file was removed: %s",
                         (unsigned long long)ino, strerror(-rc3));
        }
        if (rc2 < 0)
            return rc2;
    }
    return (ssize_t)done;
}

int bfs_fsync(struct bfs_client *c, uint64_t ino, int datasync)
{
    struct bfs_msg a = { .ino = ino, .flags = datasync ? 1 : 0 };
    return client_on_all_nodes(c, UINT32_MAX, OP_FSYNC, &a);
}
