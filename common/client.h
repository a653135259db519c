/* client.h - the BenchFS client library: the RPCs a client makes, as functions.
 *
 * A client finds the servers in the registry directory, connects to each over
 * UCX and routes every call by placement (common/placement.h). Calls are
 * synchronous and thread-safe: many threads may have calls in flight at once
 * (that is how the FUSE client uses it), and a call that spans several chunks
 * sends its RPCs together and waits for all.
 *
 * Every function returns 0 (or a byte count) or a negative errno:
 *   the file system's own errors (-ENOENT, -EEXIST, -ENOTEMPTY, ...), or
 *   -ETIMEDOUT when a server did not answer within the RPC timeout, or
 *   -ENOTCONN when a server is gone; the next call re-reads the registry and
 *   reconnects, so a restarted server is picked up without a remount.
 * Names are NUL-terminated, at most BFS_NAME_MAX bytes, no '/'.
 * Nothing here caches: every call crosses the wire.
 */
#ifndef BENCHFS_CLIENT_H
#define BENCHFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include "rpc.h"
#include "types.h"

struct bfs_client;

struct bfs_client_opts {
    const char *registry_dir;   /* required */
    double registry_timeout_s;  /* how long to wait for the servers to register (default 30) */
    double rpc_timeout_s;       /* how long one RPC may take (default 30) */
};

/* Waits for the servers' registry files, reads the cluster key, connects.
 * On failure returns a negative errno and has logged why, e.g.
 * "RegistryError: no server registered in /r (waited 30 s for /r/server.addr)". */
int bfs_client_open(const struct bfs_client_opts *opts, struct bfs_client **out);
/* Waits for no call (the caller makes sure none is running) and disconnects. NULL is fine. */
void bfs_client_close(struct bfs_client *c);

/* Cluster facts learned from the registry. */
uint32_t bfs_client_nodes(const struct bfs_client *c);
uint32_t bfs_client_chunk_size(const struct bfs_client *c);
/* See rpc_client_set_wait_hook (rpc.h): fn(arg) when a call has waited after_s. */
void bfs_client_set_wait_hook(struct bfs_client *c, void (*fn)(void *), void *arg, double after_s);

int bfs_lookup(struct bfs_client *c, uint64_t parent, const char *name, struct bfs_attr *out);

/* A lookup for an open that will read the file: when the name is a regular
 * file of at most cap bytes kept inline at its owner, on the server the name
 * is on, and uid may read it whatever its groups (root; the owner with
 * its read bit; anyone else with the group and other read bits, no ACL), the
 * answer brings the whole file along: the open's first read costs no request.
 * With atime, the owner records that read's access time (relatime) as a READ
 * would: at the lookup, which is when the server reads the file. */
struct bfs_lookup_data {
    void *buf;                  /* in: where the bytes go (cap bytes) */
    size_t cap;
    uint32_t uid;               /* in: who opens the file */
    int atime;                  /* in: 1: relatime access time at the owner */
    ssize_t len;                /* out: the file's size and bytes in buf, or -1: not brought */
};
/* As bfs_lookup; d->len says whether the bytes came. */
int bfs_lookup_data(struct bfs_client *c, uint64_t parent, const char *name, struct bfs_attr *out,
                    struct bfs_lookup_data *d);
int bfs_getattr(struct bfs_client *c, uint64_t ino, struct bfs_attr *out);
/* mask: BFS_SET_* fields taken from in. A size change also cuts or extends the
 * data (regular files only: -EISDIR for a directory, -EINVAL for other types and
 * for a size above INT64_MAX). out->blocks is what the file stores (st_blocks). */
int bfs_setattr(struct bfs_client *c, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                struct bfs_attr *out);

/* GETATTR for an open that will read: also records the access (atime = now,
 * ctime kept) on the owner, always, or with relatime only when atime <= mtime
 * or ctime or is 24 h old. *touched = 1 when atime changed. One RPC, as GETATTR. */
int bfs_getattr_read(struct bfs_client *c, uint64_t ino, int relatime, struct bfs_attr *out,
                     int *touched);

/* 1 when the server that holds entry (parent, name) also holds parent's inode:
 * a create there gives a setgid parent's group to the new inode itself. */
int bfs_parent_is_local(const struct bfs_client *c, uint64_t parent, const char *name);

/* mode carries the type: S_IFREG or S_IFDIR, plus permission bits. -EEXIST if taken. */
int bfs_create(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
               uint32_t uid, uint32_t gid, struct bfs_attr *out);
/* mknod(2): mode carries the type, S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR or
 * S_IFBLK (-EINVAL for any other), plus permission bits; rdev is the device
 * number of a character or block device (ignored for the others). The servers
 * only keep what stat shows: the kernel gives a special file its behaviour. */
int bfs_mknod(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
              uint64_t rdev, uint32_t uid, uint32_t gid, struct bfs_attr *out);
/* What a new inode inherits (POSIX ACLs, server/xattr_store.h): the umask the
 * server applies unless it holds the parent and the parent has a default ACL,
 * and the attributes of xattrs (common/xattr.h's list, at most
 * BFS_XATTR_INHERIT_MAX bytes) it stores with the inode in the same transaction. */
struct bfs_inherit {
    uint32_t umask;
    const void *xattrs;
    size_t xattrs_len;
};
/* parent_out, in the calls below that take it (NULL: not wanted): the parent's
 * attributes as the change left them, from the server that holds the parent's
 * inode (the times it set, an nlink a subdirectory changed), so that a cache of
 * them need not ask again; ino 0 when they are not known (a failed call, or a
 * change the servers coordinated, server/coord.h). A parent that lives on
 * another server than the new or removed entry is given its new times by the
 * entry's server after the call returns (server/dirtimes.h): then only those
 * are known, and parent_out has ino 0 and mtime_ns = ctime_ns = that time
 * (every other field 0). This client's own reads of the parent show that time
 * at once (bfs_getattr, bfs_lookup); other clients' within about 10 ms.
 * BENCHFS_PARENT_TIMES=client makes the client set them itself before it
 * returns, as before (one more round trip to the parent's server). */
/* bfs_create (a directory) or bfs_mknod (the others) with ih (NULL: none). */
int bfs_make(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
             uint32_t uid, uint32_t gid, const struct bfs_inherit *ih, struct bfs_attr *out,
             struct bfs_attr *parent_out);
int bfs_symlink(struct bfs_client *c, uint64_t parent, const char *name, const char *target,
                uint32_t uid, uint32_t gid, struct bfs_attr *out, struct bfs_attr *parent_out);
/* Copies at most size bytes of the target (no NUL added); returns its length. */
ssize_t bfs_readlink(struct bfs_client *c, uint64_t ino, char *buf, size_t size);
int bfs_link(struct bfs_client *c, uint64_t ino, uint64_t newparent, const char *newname,
             struct bfs_attr *out, struct bfs_attr *parent_out);

enum { BFS_UNLINK_KEEP = 1 };   /* the caller still has the file open: keep it at nlink 0 */
int bfs_unlink(struct bfs_client *c, uint64_t parent, const char *name, unsigned flags,
               struct bfs_attr *parent_out);
/* As bfs_unlink; *ino gets the inode the name was of (0 if the server did not say). */
int bfs_unlink_ino(struct bfs_client *c, uint64_t parent, const char *name, unsigned flags,
                   uint64_t *ino);
/* -ENOTEMPTY if the directory has an entry on any server; in a cluster no entry
 * can be made in it from the moment that check begins (server/coord.h, fences). */
int bfs_rmdir(struct bfs_client *c, uint64_t parent, const char *name);
/* Frees an inode that was kept open at nlink 0 (BFS_UNLINK_KEEP), once closed. */
int bfs_purge(struct bfs_client *c, uint64_t ino);

enum { BFS_RENAME_NOREPLACE = 1 };
/* rename(2) on any number of servers, files and directories alike: one
 * transaction on one server, or coordinated by the source entry's server
 * (server/coord.h): the target's name is never missing, and a failure leaves the
 * old state or the new one. -ENOTEMPTY for a directory target with entries on any
 * server, -EINVAL for a directory moved below itself. With BFS_UNLINK_KEEP in
 * keep, a replaced file stays at nlink 0 (as for unlink). An operation that met
 * another one on the same entries is tried again (the server said -EBUSY) within
 * the RPC timeout. */
int bfs_rename(struct bfs_client *c, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, unsigned flags, unsigned keep);

/* Calls fn for each entry of dir after cookie (0: from the start; "." and ".."
 * are not included), in pages, until fn returns non-zero or the entries end.
 * A cookie passed back later resumes after that entry, even if the directory
 * changed in between. Returns 0 or a negative errno. */
typedef int (*bfs_dirent_fn)(void *arg, const struct bfs_dirent *d);
int bfs_readdir(struct bfs_client *c, uint64_t dir, uint64_t cookie, bfs_dirent_fn fn, void *arg);

int bfs_statfs(struct bfs_client *c, struct statvfs *out);

/* Reads up to len bytes at off; returns the byte count (short only at end of file). */
ssize_t bfs_read(struct bfs_client *c, uint64_t ino, void *buf, size_t len, uint64_t off);
/* bfs_read that also records the access at the owner, in the same round trip
 * when a piece of the read is the owner's (else beside the pieces): what
 * bfs_getattr_read does, done by a file's first read instead of its open.
 * *touched = 1 when atime changed (cached attributes are stale then). */
ssize_t bfs_read_access(struct bfs_client *c, uint64_t ino, void *buf, size_t len, uint64_t off,
                        int relatime, int *touched);
/* Writes len bytes at off; returns len or a negative errno. */
ssize_t bfs_write(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t off);

/* What the owner of a file said about a write ("weak cache consistency", as
 * NFS calls it): its ctime before the write and its attributes after. Only a
 * write that was one request to the owner has it; valid is 0 otherwise. */
struct bfs_wcc {
    int valid;
    int64_t pre_ctime;
    struct bfs_attr post;
};
/* bfs_write that also fills *wcc. */
ssize_t bfs_write_wcc(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t off,
                      struct bfs_wcc *wcc);
/* ---- file data operations beyond read and write (common/fileops.c) ---- */

/* O_APPEND: writes len bytes at the end of the file as its owner server sees
 * it, whoever else appends at the same time: the owner reserves [size,
 * size+len) in one step (so no two appends overlap) and *off gets where the
 * bytes went; they are stored in the same RPC when they land on the owner's
 * chunks, else written there afterwards (meanwhile, and if that write fails or
 * the client dies first, the range reads as zeros). Returns len or -errno;
 * *wcc (may be NULL) as bfs_write_wcc when the owner stored the bytes. */
ssize_t bfs_append(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t *off,
                   struct bfs_wcc *wcc);

/* fallocate(2) on a regular file: mode 0 or FALLOC_FL_KEEP_SIZE (allocate),
 * FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE with or without
 * KEEP_SIZE; -EOPNOTSUPP for any other mode, -EINVAL for len 0, -EFBIG past
 * INT64_MAX, -ENOSPC, -EISDIR / -EINVAL for other types. Each chunk's server
 * does its piece; then the owner sets the size and st_blocks (allocated and
 * zeroed ranges count, punched ones do not). *out (may be NULL): attributes after. */
int bfs_fallocate(struct bfs_client *c, uint64_t ino, int mode, uint64_t off, uint64_t len,
                  struct bfs_attr *out);

/* lseek(2) SEEK_DATA / SEEK_HOLE from off: 0 and *out, -ENXIO when off is at
 * or past the end (or, for SEEK_DATA, no data follows). A missing chunk is a
 * hole, and so is what the servers' file systems report as holes in chunk files;
 * the end of the file is a hole. One RPC to every server. */
int bfs_seek(struct bfs_client *c, uint64_t ino, uint64_t off, int whence, uint64_t *out);

/* copy_file_range(2) of up to len bytes from src at soff to dst at doff (regular
 * files; src may be dst, but -EINVAL if the ranges overlap). Returns the bytes
 * copied: short only at src's end (0 at or past it), or -errno. A piece whose
 * source and destination chunks live on one server is copied by that server
 * (OP_COPY: the bytes do not cross the network); the others go through this
 * client (read, then write). */
ssize_t bfs_copy_range(struct bfs_client *c, uint64_t src, uint64_t soff, uint64_t dst,
                       uint64_t doff, size_t len);

/* Makes the file's data and metadata (and the entries of the namespace) durable. */
int bfs_fsync(struct bfs_client *c, uint64_t ino, int datasync);

/* ---- extended attributes (common/xattr.h), one RPC to the inode's owner ----
 * Names are NUL-terminated: -ERANGE beyond BFS_XATTR_NAME_MAX bytes,
 * -EOPNOTSUPP for an unknown namespace; -ENODATA for a missing name. */
/* The value of name: with size 0 only its length, else copied into buf
 * (-ERANGE when buf has fewer bytes). Returns the length. */
ssize_t bfs_getxattr(struct bfs_client *c, uint64_t ino, const char *name, void *buf, size_t size);
/* flags: BFS_XATTR_CREATE, BFS_XATTR_REPLACE (-EEXIST, -ENODATA). -E2BIG past
 * BFS_XATTR_SIZE_MAX. *out (if not NULL): the attributes after (new ctime; the
 * mode an access ACL sets). */
int bfs_setxattr(struct bfs_client *c, uint64_t ino, const char *name, const void *val, size_t len,
                 int flags, struct bfs_attr *out);
/* The names, each followed by a NUL; with size 0 only the length. */
ssize_t bfs_listxattr(struct bfs_client *c, uint64_t ino, char *buf, size_t size);
int bfs_removexattr(struct bfs_client *c, uint64_t ino, const char *name, struct bfs_attr *out);

/* Per-opcode request counters of server node (for tests and benchmarks):
 * counts[op] for op < n. Returns the number of counters filled or -errno. */
int bfs_server_counters(struct bfs_client *c, uint32_t node, uint64_t *counts, size_t n);

/* ---- locks (client_locks.c), held in memory by each inode's owner server ----
 * A lock owner is the caller's number (benchfs-fuse passes the kernel's
 * lock_owner); the server pairs it with this client's connection, so the
 * owners of two clients never meet. POSIX record locks (byte ranges; OFD locks
 * too, whose owner is the open file) and flock locks (whole file) are apart, as
 * on Linux; server/locks.h has the rules. A client's locks last as long as its
 * connection to that server: bfs_client_close, the client's death or a lost
 * connection release them all, and a server's restart loses them (the client
 * logs it when it connects anew; docs/DESIGN.md, "Locks"). */
struct bfs_lock {
    uint64_t ino;
    uint64_t owner;
    uint64_t start, end;   /* bytes [start, end], end included, at most BFS_LOCK_EOF (to the end) */
    uint32_t type;         /* BFS_LOCK_RD, BFS_LOCK_WR or BFS_LOCK_UN (proto.h) */
    uint32_t pid;          /* who asks: bfs_getlk shows it to others */
    int flock;             /* 1: a flock(2) lock: start 0, end BFS_LOCK_EOF */
};

/* A lock wait another thread may end: bfs_lock_wait_init it before bfs_lock. */
struct bfs_lock_wait {
    uint64_t id;
    uint64_t ino;
    _Atomic int cancelled;
};
void bfs_lock_wait_init(struct bfs_lock_wait *w, uint64_t ino);

/* Takes, converts or drops (BFS_LOCK_UN: never fails for want of space) a lock.
 * w NULL (F_SETLK): 0, or -EAGAIN when another owner's lock is in the way.
 * w set (F_SETLKW): waits with no RPC deadline until the server grants it (0);
 * -EDEADLK when the wait would close a cycle of POSIX lock waits on that server;
 * -EINTR when bfs_lock_cancel(w) came first or meanwhile (no lock then);
 * -ENOTCONN when the server was lost meanwhile (keepalive: a few seconds).
 * Either: -ENOLCK (the server's table is full, or it is stopping), -ENOENT (no
 * such inode), -EINVAL (a malformed range or type). Any thread. */
int bfs_lock(struct bfs_client *c, const struct bfs_lock *l, struct bfs_lock_wait *w);
/* bfs_lock that, when it grants a lock (not for BFS_LOCK_UN), also fills *attr
 * with the file's attributes at the grant (attr->ino 0: unknown), so the caller
 * can drop what it cached of an older version: a lock orders the data of the
 * clients that use it, as NFS's close-to-open does at open. */
int bfs_lock_attr(struct bfs_client *c, const struct bfs_lock *l, struct bfs_lock_wait *w,
                  struct bfs_attr *attr);
/* Ends a bfs_lock(..., w) waiting in another thread: it returns -EINTR, or 0 if
 * the grant crossed the cancel (the lock is then held). May run before that
 * bfs_lock has sent its request. 0 or a transport error. Any thread. */
int bfs_lock_cancel(struct bfs_client *c, struct bfs_lock_wait *w);
/* F_GETLK: l is the lock wanted; on return l->type is BFS_LOCK_UN if it could be
 * had now, or l is a lock in its way (type, start, end, pid; owner 0). */
int bfs_getlk(struct bfs_client *c, struct bfs_lock *l);
/* Drops every POSIX lock (flock 0) or the flock lock (flock 1) of owner on ino:
 * what close does. */
int bfs_unlock_owner(struct bfs_client *c, uint64_t ino, uint64_t owner, int flock);

/* ---- raw calls, for the servers' coordinators (server/coord.c) and tools ---- */
/* Prepares call for op to node: zeroed fields, no buffers. */
void bfs_call_prep(struct rpc_call *call, uint32_t node, uint32_t op);
/* Sends calls (reconnecting to nodes that were lost) and waits for all of them:
 * 0 when each got an answer (see its status), or a transport error. */
int bfs_call_run(struct bfs_client *c, struct rpc_call *calls, size_t n);

#endif
