/* proto.h - the BenchFS wire protocol: message headers and per-operation fields.
 *
 * A request is one UCP Active Message (id BFS_AM_REQUEST):
 *   AM header = struct bfs_req_hdr (BFS_REQ_HDR_LEN bytes) || args (hdr.args_len
 *               bytes: the op's fields);
 *   AM data   = bulk (hdr.data_len bytes: write payload), so UCX can move it
 *               zero-copy (rendezvous) straight from and into the callers' buffers.
 * A client introduces itself to each server with OP_HELLO (its worker address
 * as bulk); the server connects back to it and sends every reply on that
 * endpoint, which it owns and so knows when it fails. Later requests carry
 * the client id the HELLO reply gave.
 * A reply is one AM (id BFS_AM_REPLY) sent on the server's endpoint to the client:
 *   AM header = struct bfs_rep_hdr (BFS_REP_HDR_LEN bytes) || args,
 *               status 0 or a negative errno;
 *   AM data   = bulk (read data, readdir entries, counters).
 * Everything is little-endian and explicitly encoded; decoding checks every
 * length against the buffer, so a truncated, oversized or foreign message is
 * rejected with -EPROTO/-EBADMSG before anything uses it. Which fields an op
 * carries is a table in proto.c, the single place that defines the format.
 */
#ifndef BENCHFS_PROTO_H
#define BENCHFS_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "types.h"

#define BFS_PROTO_MAGIC    0x31534642u   /* "BFS1" */
/* 2: WRITE replies carry the owner's attributes. 3: attributes carry rdev and
 * blocks, CREATE carries rdev (special files), SETATTR carries the start of a
 * write's extent (off), steps of multi-server operations (server/coord.h): a
 * version 2 peer would misread every attribute. 4: OP_LOCK and OP_LOCK_CANCEL
 * (byte-range and flock locks at each inode's owner). */
#define BFS_PROTO_VERSION  4
#define BFS_KEY_LEN        16            /* cluster key bytes in every request */
#define BFS_AM_REQUEST     1
#define BFS_AM_REPLY       2
#define BFS_REQ_HDR_LEN    48
#define BFS_REP_HDR_LEN    24
#define BFS_MAX_ARGS_LEN   4608          /* largest args section: names and a symlink target fit */
#define BFS_MAX_DATA_LEN   (BFS_MAX_IO)  /* largest bulk section */
#define BFS_READDIR_MAX    256           /* entries per READDIR reply */

enum bfs_op {
    OP_LOOKUP = 1,   /* parent, name            -> ino, mode(type), flags(1: attr valid), attr */
    OP_GETATTR,      /* ino                     -> attr */
    OP_SETATTR,      /* ino, mask, attr, off(SIZE_GROW: a write covered [off, attr.size))
                        -> attr, size(old size; for BFS_SET_ATIME_READ: 1 if atime changed) */
    OP_CREATE,       /* parent, name, mode, uid, gid, target, rdev -> attr */
    OP_READLINK,     /* ino                     -> target */
    OP_LINK,         /* ino, mode(type), parent, name -> attr, flags(1: inode remote) */
    OP_UNLINK,       /* parent, name, flags(RMDIR|KEEP) -> drop */
    OP_NLINK,        /* ino, delta, flags(KEEP) -> drop */
    OP_PURGE,        /* ino                     -> drop */
    OP_RENAME,       /* parent, name, newparent, newname, flags -> drop */
    OP_READDIR,      /* ino(dir), cookie, len(max) -> len(count), flags(1: eof); bulk: entries */
    OP_STATFS,       /*                         -> statfs */
    OP_READ,         /* ino, idx, off, len      -> flags(1: clamped to size), size; bulk: data */
    OP_WRITE,        /* ino, idx, off; bulk: data -> len, flags(1: the owner, size updated here),
                        attr (owner: after the write), pre_ctime (owner: ctime before it) */
    OP_FSYNC,        /* ino, flags(1: datasync) -> */
    OP_TRUNCATE,     /* ino, size, off(old size) -> (chunks on a node that is not the owner) */
    OP_REMOVE,       /* ino, size               -> (delete chunks on a non-owner node) */
    OP_HAS_ENTRIES,  /* ino(dir)                -> flags(1: has entries here) */
    OP_COUNTERS,     /*                         -> len(count); bulk: u64 per op */
    OP_HELLO,        /* bulk: the client's UCX worker address -> client(id for later requests) */
    OP_BYE,          /*                         -> (the server forgets the client) */
    OP_NOP,          /*                         -> (nothing: a probe, see rpc.c) */
    /* Steps of multi-server operations, from a coordinator (server/coord.h). Each
     * carries the intent id; the marked ones (step) are done at most once. */
    OP_FENCE,        /* ino(dir), intent, flags(BFS_FENCE_*) -> (-ENOTEMPTY, -EBUSY, -ENOENT) */
    OP_INSTALL,      /* parent, name, ino, mode(type), size(expected old ino), intent, step
                        -> ino, mode (what was replaced; -ESTALE: not what was expected) */
    OP_DROP_ENTRY,   /* parent, name, ino       -> (removes the entry if it still names ino) */
    OP_DIR_ADJUST,   /* ino(dir), delta, intent, step -> (nlink += delta, mtime, ctime) */
    OP_DROP,         /* ino, flags(RMDIR|KEEP), intent, step -> drop */
    OP_MOVED,        /* ino, newparent, intent, step -> (ctime; a directory's parent) */
    OP_PARENT,       /* ino(dir)                -> parent */
    OP_STEP,         /* intent, step, flags(1: claim) -> ino, mode, flags, size (the mark; -ENOENT) */
    OP_FORGET,       /* intent                  -> (marks of the intent deleted) */
    OP_NOTE,         /* intent, ino             -> (the coordinator's intent notes a fenced dir) */
    OP_GAIN,         /* ino, intent, step       -> (nlink + 1: a new name elsewhere) */
    OP_MOVE_LOCK,    /* intent, flags(1: take, 0: give back) -> (node 0's directory-move lock; -EBUSY) */
    OP_SCAN,         /* idx(table), len(max bulk bytes), target(after key; empty: from the first)
                        -> len(count), flags(1: eof), target(last key); bulk: records */
    /* Locks (server/locks.h), at the inode's owner: owner is the client's lock
     * owner, [off, size] the byte range (size inclusive, BFS_LOCK_EOF: to the end),
     * mode BFS_LOCK_*, uid the caller's pid, intent the wait's id (BFS_LOCK_WAIT). */
    OP_LOCK,         /* ino, cookie(owner), off, size, mode, flags(BFS_LOCK_FLOCK|WAIT|TEST), uid(pid),
                        intent -> mode, off, size, uid (TEST: the conflicting lock, or BFS_LOCK_UN),
                        attr (a lock granted: the file's at the grant; ino 0 if unknown);
                        -EAGAIN (conflict), -EDEADLK, -EINTR (cancelled), -ENOLCK */
    OP_LOCK_CANCEL,  /* ino, intent(the wait's id) -> (the waiting OP_LOCK ends with -EINTR) */
    OP_MAX
};

/* OP_SCAN (benchfs-fsck): a page of the raw records of one table of the server,
 * read-only, in key order. The bulk holds count records, each u16 LE key length
 * | u32 LE value length | key | value (the bytes as the store keeps them, see
 * server/meta.c). To continue, pass the reply's target (the last key) as the next
 * request's. Tables (the idx field): */
enum bfs_scan_table {
    BFS_SCAN_INFO, BFS_SCAN_INODES, BFS_SCAN_DENTRIES, BFS_SCAN_ORPHANS, BFS_SCAN_INLINE,
    BFS_SCAN_FENCES, BFS_SCAN_INTENTS, BFS_SCAN_APPLIED, BFS_SCAN_PARENTS,
    BFS_SCAN_CHUNKS,     /* the chunk files: key ino (u64 BE) | idx (u64 BE), empty value */
    BFS_SCAN_MAX
};

/* Flags of OP_UNLINK / OP_NLINK / OP_RENAME requests. */
/* BFS_F_SUBDIR (NLINK): a subdirectory entry of directory ino was made (+1) or
 * removed (-1) on another server: count it and touch ino, never free it. */
enum { BFS_F_RMDIR = 1, BFS_F_KEEP = 2, BFS_F_NOREPLACE = 4, BFS_F_SUBDIR = 8 };
/* Flags of OP_FENCE: set it (empty here), lift it, or leave it as a tombstone. */
enum { BFS_FENCE_SET = 0, BFS_FENCE_LIFT = 1, BFS_FENCE_DEAD = 2 };
/* Flags of a drop (what happened to the inode that lost an entry). RENAME
 * replies add BFS_DIR_MOVED (a directory changed parents) and BFS_DIR_GONE (a
 * directory was replaced): the client counts them at parents on other servers. */
/* BFS_DROP_COORD: a coordinator did the whole operation (parents and inodes too). */
enum { BFS_DROP_REMOTE = 1, BFS_DROP_FREED = 2, BFS_DIR_MOVED = 4, BFS_DIR_GONE = 8,
       BFS_DROP_COORD = 16 };

/* OP_LOCK: lock types (the mode field), flags, and the largest end (OFFSET_MAX). */
enum { BFS_LOCK_UN = 0, BFS_LOCK_RD = 1, BFS_LOCK_WR = 2 };
enum { BFS_LOCK_FLOCK = 1, BFS_LOCK_WAIT = 2, BFS_LOCK_TEST = 4 };
#define BFS_LOCK_EOF 0x7fffffffffffffffull

const char *proto_op_name(uint32_t op);

struct bfs_req_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint64_t id;
    uint32_t flags;      /* reserved, 0 */
    uint32_t args_len;
    uint32_t data_len;
    uint32_t client;     /* the id OP_HELLO gave this client (0 in a HELLO) */
    uint8_t  key[BFS_KEY_LEN];
};

struct bfs_rep_hdr {
    uint32_t magic;
    int32_t  status;
    uint64_t id;
    uint32_t args_len;
    uint32_t data_len;
};

struct bfs_statfs {
    uint64_t bsize, blocks, bfree, bavail, files, ffree, namemax;
};

/* The fields of one request or reply. Strings point into the decoded buffer and
 * are NOT NUL-terminated: use the _len fields. Which fields are meaningful
 * depends on the op (see enum bfs_op). */
struct bfs_msg {
    uint64_t ino, parent, newparent, idx, off, size, cookie;
    uint64_t pre_ctime;   /* WRITE reply from the owner: its ctime (int64 ns) before the write */
    uint64_t intent;      /* steps: the multi-server operation they belong to */
    uint64_t rdev;        /* CREATE of a character or block device: its device number */
    uint32_t mode, uid, gid, mask, flags, len, client, step;
    int32_t  delta;
    struct bfs_attr attr;
    struct bfs_statfs st;
    const char *name, *newname, *target;
    uint32_t name_len, newname_len, target_len;
};

void proto_req_hdr_encode(const struct bfs_req_hdr *h, uint8_t out[BFS_REQ_HDR_LEN]);
/* -EPROTO if len is wrong or magic is not ours, -EPROTONOSUPPORT for another
 * version, -EBADMSG for lengths over the limits. The header is filled in any
 * case where at least the id could be read (so an error reply can be sent). */
int proto_req_hdr_decode(const void *buf, size_t len, struct bfs_req_hdr *h);

void proto_rep_hdr_encode(const struct bfs_rep_hdr *h, uint8_t out[BFS_REP_HDR_LEN]);
int proto_rep_hdr_decode(const void *buf, size_t len, struct bfs_rep_hdr *h);

/* Size of op's args section for m (request or reply side), or 0 for an unknown op. */
size_t proto_args_size(uint32_t op, int reply, const struct bfs_msg *m);
/* Encodes op's fields of m into out (at least proto_args_size bytes); returns bytes written. */
size_t proto_args_encode(uint32_t op, int reply, const struct bfs_msg *m, uint8_t *out);
/* Decodes op's fields from exactly len bytes into m (zeroed first).
 * -EBADMSG if the bytes do not match the op's layout (short, long, bad string
 * length), -ENOSYS for an unknown op. */
int proto_args_decode(uint32_t op, int reply, const void *buf, size_t len, struct bfs_msg *m);

/* Readdir entries in a bulk section: 8 ino, 8 cookie, 4 type (st_mode type bits,
 * bfs_valid_type), 2 name length, name. */
size_t proto_dirent_size(const struct bfs_dirent *d);
size_t proto_dirent_encode(const struct bfs_dirent *d, uint8_t *out);
/* Decodes the entry at *pos, advancing it. 1 = decoded, 0 = end, -EBADMSG = malformed
 * (also an unknown type). */
int proto_dirent_decode(const void *buf, size_t len, size_t *pos, struct bfs_dirent *d);

#endif
