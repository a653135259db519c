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
 * the client id the HELLO reply gave. A HELLO's cookie is the identity of the
 * client's lane (random, the same for every worker and endpoint the lane
 * has): a lane has one connection to a server, so the server forgets any
 * older one of that identity. UCX would not report those dead while the
 * process lives (a HELLO whose reply was lost, a worker replaced by
 * common/rpc_ring.c), and their locks would be held for ever.
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
 * version 2 peer would misread every attribute. 4: OP_STATUS (benchfs-status); APPEND,
 * FALLOCATE, SEEK and COPY (O_APPEND across clients, fallocate, SEEK_DATA/SEEK_HOLE,
 * copy_file_range). 5: extended attributes (GETXATTR..REMOVEXATTR), attribute
 * flags (the record's xattr/ACL bits), CREATE with the umask and inherited xattrs; OP_LOCK and
 * OP_LOCK_CANCEL (byte-range and flock locks at each inode's owner). 6: READ carries a
 * mask (BFS_SET_ATIME_READ: the owner records the access, as a read's GETATTR would).
 * 7: LOOKUP carries len, uid and mask and may bring a small file (bfs_lookup_data).
 * 8: CREATE, LINK, UNLINK and NLINK replies carry the parent's attributes after the
 * change (pattr), asked for with BFS_F_PATTR (CREATE and LINK carry flags). */
#define BFS_PROTO_VERSION  9
#define BFS_KEY_LEN        16            /* cluster key bytes in every request */
#define BFS_AM_REQUEST     1
#define BFS_AM_REPLY       2
#define BFS_AM_PROBE       3   /* a server's ping to itself (server/selfprobe.c) */
#define BFS_REQ_HDR_LEN    48
#define BFS_REP_HDR_LEN    24
#define BFS_MAX_ARGS_LEN   4608          /* largest args section: names and a symlink target fit */
#define BFS_MAX_DATA_LEN   (BFS_MAX_IO)  /* largest bulk section */
#define BFS_READDIR_MAX    256           /* entries per READDIR reply */

enum bfs_op {
    OP_LOOKUP = 1,   /* parent, name, len, uid, mask -> ino, mode(type), flags(1: attr
                        valid, 2: bulk is the whole file, 4: its atime moved), attr; bulk: a
                        small file's bytes when len > 0 (an open to read it: see
                        bfs_lookup_data, common/client.h) */
    OP_GETATTR,      /* ino                     -> attr */
    OP_SETATTR,      /* ino, mask, attr, off(SIZE_GROW: a write covered [off, attr.size))
                        -> attr, size(old size; for BFS_SET_ATIME_READ: 1 if atime changed) */
    OP_CREATE,       /* parent, name, mode, uid, gid, target, rdev, mask(umask, applied unless a
                        local parent has a default ACL), flags(PATTR); bulk: xattrs the new
                        inode gets (xattr.h's list, at most BFS_XATTR_INHERIT_MAX bytes)
                        -> attr, pattr */
    OP_READLINK,     /* ino                     -> target */
    OP_LINK,         /* ino, mode(type), parent, name, flags(PATTR) -> attr, flags(1: inode
                        remote), pattr */
    OP_UNLINK,       /* parent, name, flags(RMDIR|KEEP|PATTR) -> drop, pattr */
    OP_NLINK,        /* ino, delta, flags(KEEP|SUBDIR|PATTR) -> drop; SUBDIR: pattr (ino's) */
    OP_PURGE,        /* ino                     -> drop */
    OP_RENAME,       /* parent, name, newparent, newname, flags -> drop */
    OP_READDIR,      /* ino(dir), cookie, len(max) -> len(count), flags(1: eof); bulk: entries */
    OP_STATFS,       /*                         -> statfs */
    OP_READ,         /* ino, idx, off, len, mask(BFS_SET_ATIME_READ[|_RELATIME]: the owner
                        records the access) -> flags(1: clamped to size, 2: atime changed),
                        size; bulk: data */
    OP_WRITE,        /* ino, idx, off; bulk: data -> len, flags(1: the owner, size updated here),
                        attr (owner: after the write), pre_ctime (owner: ctime before it) */
    OP_FSYNC,        /* ino, flags(1: datasync) -> */
    OP_TRUNCATE,     /* ino, size, off(old size) -> (chunks on a node that is not the owner) */
    OP_REMOVE,       /* ino, size               -> (delete chunks on a non-owner node) */
    OP_HAS_ENTRIES,  /* ino(dir)                -> flags(1: has entries here) */
    OP_COUNTERS,     /*                         -> len(count); bulk: u64 per op */
    OP_HELLO,        /* cookie(lane identity); bulk: the client's UCX worker address
                        -> client(id for later requests) */
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
    OP_STATUS,       /*                         -> len(bytes); bulk: struct bfs_status (proto_status_*) */
    /* File data operations (server/fileops.c, common/fileops.c). */
    OP_APPEND,       /* to the owner: ino, len; bulk: the data (or none: reserve only)
                        -> off (where the bytes go), len, flags(1: stored here), attr, pre_ctime */
    OP_FALLOCATE,    /* ino, idx, off, size(length), mode(FALLOC_FL_*), flags(BFS_FALLOC_META:
                        to the owner, [off, off+size) of the file: size and st_blocks; else the
                        piece [off, off+size) of chunk idx) -> attr (the owner's, META) */
    OP_SEEK,         /* ino, off, size(file size), flags(SEEK_DATA or SEEK_HOLE): the first data or
                        hole at or after off in this node's chunks -> flags(1: found), off */
    OP_COPY,         /* dst ino, idx, off; parent(src ino), cookie(src idx), size(src off), len:
                        a piece with both chunks on this node -> len, flags(1: the dst's owner) */
    /* Extended attributes of inode ino, at its owner (server/xattr_store.h). */
    OP_GETXATTR,     /* ino, name, len(buffer; 0: the size only) -> len(value size); bulk: value */
    OP_SETXATTR,     /* ino, name, flags(BFS_XATTR_*); bulk: value -> attr */
    OP_LISTXATTR,    /* ino, len(buffer; 0: the size only) -> len(list size); bulk: names, NUL after each */
    OP_REMOVEXATTR,  /* ino, name               -> attr */
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
    BFS_SCAN_XATTRS,     /* extended attributes: key ino (u64 BE) | name, the value */
    BFS_SCAN_MAX
};

/* OP_STATUS (benchfs-status): what one server says about itself. On the wire
 * (all LE): u32 node_id, nodes, pid, chunk_size | u64 uptime_ms, inodes,
 * chunk_files, chunk_bytes, meta_bytes, free_bytes, total_bytes | 64 bytes host
 * (NUL-padded) | u32 ncounters | ncounters x u64 requests handled by op. */
#define BFS_STATUS_HOST_LEN  64
#define BFS_STATUS_FIXED_LEN (4 * 4 + 7 * 8 + BFS_STATUS_HOST_LEN + 4)
#define BFS_STATUS_MAX_COUNTERS 1024
struct bfs_status {
    uint32_t node_id, nodes, pid, chunk_size;
    uint64_t uptime_ms;
    uint64_t inodes;          /* inode records in this server's metadata store */
    uint64_t chunk_files;     /* chunk files in its data dir */
    uint64_t chunk_bytes;     /* disk space they take (allocated blocks: holes are free) */
    uint64_t meta_bytes;      /* disk space of the metadata store (inline data included) */
    uint64_t free_bytes, total_bytes;   /* of the file system holding its data dir */
    char host[BFS_STATUS_HOST_LEN];     /* NUL-terminated */
    uint32_t ncounters;                 /* counters[op] valid for op < ncounters (<= OP_MAX) */
    uint64_t counters[OP_MAX];
};
/* Bytes st takes on the wire (with OP_MAX counters). */
size_t proto_status_size(void);
/* Encodes st with its OP_MAX counters; out has proto_status_size() bytes. Returns that. */
size_t proto_status_encode(const struct bfs_status *st, uint8_t *out);
/* -EBADMSG if len does not match a status record (short, long, counter count
 * over BFS_STATUS_MAX_COUNTERS, node id not below nodes); counters of ops this
 * side does not know are dropped. */
int proto_status_decode(const void *buf, size_t len, struct bfs_status *st);

/* Flags of OP_UNLINK / OP_NLINK / OP_RENAME requests. */
/* BFS_F_SUBDIR (NLINK): a subdirectory entry of directory ino was made (+1) or
 * removed (-1) on another server: count it and touch ino, never free it.
 * BFS_F_PATTR (CREATE, LINK, UNLINK, NLINK with SUBDIR): the caller wants the
 * parent's attributes after the change in the reply's pattr (one more read).
 * BFS_F_TIMES (CREATE, LINK, UNLINK, RENAME): the entry's server gives the
 * parents that live elsewhere their new times itself, after it answered (the
 * reply says BFS_TIMES_LATER and the stamp); without it the client does so.
 * BFS_F_STAMP (NLINK with SUBDIR, delta 0): the times are the request's stamp,
 * and are set only if that is later than the directory's ctime (a touch that
 * arrives after a later change, a utimensat say, changes nothing). */
enum { BFS_F_RMDIR = 1, BFS_F_KEEP = 2, BFS_F_NOREPLACE = 4, BFS_F_SUBDIR = 8, BFS_F_PATTR = 16,
       BFS_F_TIMES = 32, BFS_F_STAMP = 64 };
/* Flags of OP_FALLOCATE: the owner's bookkeeping of the whole range (no chunk I/O). */
enum { BFS_FALLOC_META = 1 };
/* Flags of OP_FENCE: set it (empty here), lift it, or leave it as a tombstone. */
enum { BFS_FENCE_SET = 0, BFS_FENCE_LIFT = 1, BFS_FENCE_DEAD = 2 };
/* Flags of a drop (what happened to the inode that lost an entry). RENAME
 * replies add BFS_DIR_MOVED (a directory changed parents) and BFS_DIR_GONE (a
 * directory was replaced): the client counts them at parents on other servers. */
/* BFS_DROP_COORD: a coordinator did the whole operation (parents and inodes too).
 * BFS_TIMES_LATER (also in CREATE's reply): see BFS_F_TIMES. */
enum { BFS_DROP_REMOTE = 1, BFS_DROP_FREED = 2, BFS_DIR_MOVED = 4, BFS_DIR_GONE = 8,
       BFS_DROP_COORD = 16, BFS_TIMES_LATER = 32 };

/* OP_LOCK: lock types (the mode field), flags, and the largest end (OFFSET_MAX). */
enum { BFS_LOCK_UN = 0, BFS_LOCK_RD = 1, BFS_LOCK_WR = 2 };
enum { BFS_LOCK_FLOCK = 1, BFS_LOCK_WAIT = 2, BFS_LOCK_TEST = 4 };
#define BFS_LOCK_EOF 0x7fffffffffffffffull

const char *proto_op_name(uint32_t op);
/* 1 for an op that changes nothing at the server (a lookup, a read, ...): one
 * whose answer was lost with its connection may be sent again (common/client.c). */
int proto_op_safe(uint32_t op);

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
    /* NLINK with BFS_F_STAMP: the time (int64 ns) to give the directory; CREATE,
     * LINK, UNLINK and RENAME replies with BFS_TIMES_LATER: the time the entry's
     * server is giving the parents that live elsewhere (server/dirtimes.h). */
    uint64_t stamp;
    uint32_t mode, uid, gid, mask, flags, len, client, step;
    int32_t  delta;
    struct bfs_attr attr;
    /* CREATE, LINK, UNLINK replies to BFS_F_PATTR: the parent's attributes after
     * the change when the entry's server holds the parent's inode; NLINK
     * (BFS_F_SUBDIR): the directory's. ino 0: not given (not asked, the parent
     * lives elsewhere, or the change was coordinated, server/coord.h). */
    struct bfs_attr pattr;
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

/* The most bulk bytes a request of op may carry (0: none). */
size_t proto_req_data_max(uint32_t op);

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
