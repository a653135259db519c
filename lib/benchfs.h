/* benchfs.h - libbenchfs: the BenchFS client as a C library, by path and by handle.
 *
 * A program links it (`cc app.c $(pkg-config --cflags --libs benchfs)`) and
 * talks to the servers over RPC with no FUSE in between; libbenchfs-preload.so
 * is built on it. The calls behave as their POSIX namesakes on a BenchFS
 * mount, with the differences stated here.
 *
 * Paths are absolute inside the file system: "/" is its root (what a mount
 * point shows), "/a/b" an entry below it. "." and ".." components and
 * repeated slashes are resolved; ".." of the root is the root. Symbolic links
 * are followed as the kernel follows them (at most 40), except that a link
 * whose target is absolute leaves the file system: the call then returns
 * -EXDEV, and a caller that knows where the file system is mounted (the
 * preload library) resolves that path through the kernel itself.
 *
 * Errors: every call returns 0 (or a count) or a negative errno: the ones its
 * POSIX namesake documents (-ENOENT, -EEXIST, -EACCES, -ENOTDIR, -EISDIR,
 * -ENOTEMPTY, -ELOOP, -ENAMETOOLONG, -EINVAL, ...), plus
 *   -ETIMEDOUT  a server did not answer within the RPC timeout,
 *   -ENOTCONN   a server is gone (the next call re-reads the registry and
 *               reconnects: a restarted server is picked up by itself),
 *   -EXDEV      as above (an absolute symlink), and for a rename or link
 *               between two benchfs_t,
 *   -EOPNOTSUPP what this library does not do (open of a FIFO, socket or
 *               device; RENAME_EXCHANGE; ...): the mount does it.
 * Nothing is logged on an ordinary error; BENCHFS_LOG=debug logs each call.
 *
 * Permissions: every call is checked as the kernel checks it on the mount
 * (default_permissions): against the calling thread's effective uid, gid and
 * supplementary groups, with the file's mode bits and its POSIX ACL; root
 * passes every check but execute. BENCHFS_OPT_NO_PERMS turns the checks off.
 *
 * Consistency (the mount's rules, docs/DESIGN.md "libbenchfs"): file data is
 * not cached: every write is an RPC, and so is every read, so what one client
 * wrote is what any other reads next; except that with a node table an open
 * for reading only of a small file (8 KiB at most) brings its bytes, and that
 * handle's reads are served from them until a client of the node changes the
 * file or attr_timeout has passed since the open (as the mount's page cache
 * would serve them); such an open records the access time, as the mount's
 * does. Names and attributes may be cached for attr_timeout
 * (default 1 s, as the mount's -o attr_timeout): a stat or a path lookup may
 * show another client's change that late, except the changes of clients that
 * share a node table with this one (benchfs_node_table), which show at once.
 * An open (close-to-open) always asks the file's server for its attributes;
 * calls this client makes drop what they change from its cache at once.
 *
 * Threads: a benchfs_t and everything it hands out may be used by any number
 * of threads at once (many calls in flight), except that benchfs_close,
 * benchfs_closedir and benchfs_disconnect must be the last call on their
 * object. Objects do not survive fork(): a child process must connect anew.
 */
#ifndef BENCHFS_H
#define BENCHFS_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCHFS_API_VERSION 1

typedef struct benchfs benchfs_t;            /* a connection to one cluster */
typedef struct benchfs_file benchfs_file_t;  /* an open file or directory */
typedef struct benchfs_dir benchfs_dir_t;    /* a directory being read */

enum {
    BENCHFS_OPT_NO_PERMS = 1u << 0,   /* do not check permissions (the caller does) */
    BENCHFS_OPT_CACHE_IDS = 1u << 1,  /* each thread reads its fsuid and fsgid once per
                                         benchfs_ids_changed (see there) */
};

struct benchfs_opts {
    double connect_timeout_s;   /* wait this long for the servers to register (0: 30) */
    double rpc_timeout_s;       /* one RPC's deadline (0: 30) */
    double attr_timeout_s;      /* how long names and attributes may be cached (0: 1.0;
                                   negative: not at all) */
    unsigned flags;             /* BENCHFS_OPT_* */
};

/* Connects to the cluster whose servers register in registry_dir (opts may be
 * NULL: the defaults). 0 and *out, or -errno after logging why, e.g. no server
 * registered within connect_timeout_s (-ETIMEDOUT) or a registry that cannot be
 * read (-EACCES, -ENOENT). */
int benchfs_connect(const char *registry_dir, const struct benchfs_opts *opts, benchfs_t **out);
/* Closes the connections. Open files and directories must be closed first. NULL is fine. */
void benchfs_disconnect(benchfs_t *fs);
/* The process's ids changed (after any setuid, seteuid, setreuid, setresuid,
 * setfsuid or their gid twins, in any thread). Without BENCHFS_OPT_CACHE_IDS
 * every checked call reads the thread's fsuid and fsgid itself (two system
 * calls); once a connection of the process was made with it, each thread keeps
 * them until this is called, so a program (like the preload library, which
 * wraps those calls) sets it only when it calls this after every change. Any
 * thread, any time; async-signal-safe. */
void benchfs_ids_changed(void);

/* ---- files by handle ---- */

/* open(2): flags O_RDONLY, O_WRONLY or O_RDWR with O_CREAT, O_EXCL, O_TRUNC,
 * O_APPEND, O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_SYNC/O_DSYNC (each write is
 * made durable before it returns); O_CLOEXEC, O_NONBLOCK, O_LARGEFILE and
 * O_NOCTTY are accepted and mean nothing here. mode (with O_CREAT): the
 * permission bits, umask already applied by the caller, except that under a
 * directory with a default ACL the ACL is inherited and mode is only limited
 * by it (as open(2) does). A directory opens with O_RDONLY (-EISDIR with write
 * access): its handle serves benchfs_fstat, benchfs_fsync and benchfs_fdopendir.
 * -EOPNOTSUPP for a FIFO, socket or device (and for O_PATH, O_TMPFILE);
 * -EINVAL for O_CREAT|O_DIRECTORY (as Linux). 0 and *out, or -errno. */
int benchfs_open(benchfs_t *fs, const char *path, int flags, mode_t mode, benchfs_file_t **out);
/* Frees f. 0, or the error of a write made durable late (O_SYNC never has one). */
int benchfs_close(benchfs_file_t *f);

/* pread(2)/pwrite(2): a count (short only at end of file) or -errno
 * (-EBADF: the handle was not opened for it; -EISDIR). A pwrite on an O_APPEND
 * handle appends, as on Linux, wherever off points. */
ssize_t benchfs_pread(benchfs_file_t *f, void *buf, size_t len, off_t off);
ssize_t benchfs_pwrite(benchfs_file_t *f, const void *buf, size_t len, off_t off);
/* An append (O_APPEND semantics, whatever f's flags): the bytes go at the end
 * of the file as its server sees it, atomically with respect to other
 * appenders on any client; *off (may be NULL) gets where they went. */
ssize_t benchfs_append(benchfs_file_t *f, const void *buf, size_t len, off_t *off);

int benchfs_fstat(benchfs_file_t *f, struct stat *st);
int benchfs_ftruncate(benchfs_file_t *f, off_t size);
int benchfs_fsync(benchfs_file_t *f, int datasync);
int benchfs_fchmod(benchfs_file_t *f, mode_t mode);
int benchfs_fchown(benchfs_file_t *f, uid_t uid, gid_t gid);    /* -1: leave as is */
/* times as futimens(2): NULL, UTIME_NOW, UTIME_OMIT. */
int benchfs_futimens(benchfs_file_t *f, const struct timespec times[2]);
/* What f was opened with (its O_* flags) and its inode number. */
int benchfs_file_flags(const benchfs_file_t *f);
uint64_t benchfs_file_ino(const benchfs_file_t *f);

/* ---- by path ---- */

/* stat(2) (follows a final symlink) and lstat(2). st_dev is the same for every
 * file of one benchfs_t; st_ino is BenchFS's inode number (the mount's too). */
int benchfs_stat(benchfs_t *fs, const char *path, struct stat *st);
int benchfs_lstat(benchfs_t *fs, const char *path, struct stat *st);
/* access(2) / faccessat(2): mode F_OK or R_OK|W_OK|X_OK; flags AT_EACCESS
 * (check the effective ids, else the real ones) and AT_SYMLINK_NOFOLLOW. */
int benchfs_access(benchfs_t *fs, const char *path, int mode, int flags);
int benchfs_mkdir(benchfs_t *fs, const char *path, mode_t mode);
int benchfs_rmdir(benchfs_t *fs, const char *path);
int benchfs_unlink(benchfs_t *fs, const char *path);
/* rename(2) / renameat2(2) with flags 0 or RENAME_NOREPLACE (-EOPNOTSUPP for
 * RENAME_EXCHANGE, as said above; -EINVAL for any other flag). */
int benchfs_rename(benchfs_t *fs, const char *from, const char *to, unsigned flags);
int benchfs_link(benchfs_t *fs, const char *from, const char *to);
int benchfs_symlink(benchfs_t *fs, const char *target, const char *path);
/* readlink(2): at most size bytes, no NUL added; the length copied. */
ssize_t benchfs_readlink(benchfs_t *fs, const char *path, char *buf, size_t size);
int benchfs_truncate(benchfs_t *fs, const char *path, off_t size);
/* flags: 0 or AT_SYMLINK_NOFOLLOW (chmod of a symlink itself: -EOPNOTSUPP, as Linux). */
int benchfs_chmod(benchfs_t *fs, const char *path, mode_t mode, int flags);
int benchfs_chown(benchfs_t *fs, const char *path, uid_t uid, gid_t gid, int flags);
int benchfs_utimens(benchfs_t *fs, const char *path, const struct timespec times[2], int flags);
int benchfs_statvfs(benchfs_t *fs, const char *path, struct statvfs *st);

/* ---- directories ---- */

/* A directory stream, as opendir(3)/readdir(3): "." and ".." come first, then
 * the entries of every server. Entries made or removed while the stream is read
 * may or may not show; none shows twice. */
int benchfs_opendir(benchfs_t *fs, const char *path, benchfs_dir_t **out);
/* Reads f's directory (f stays f's caller's: benchfs_closedir does not close it). */
int benchfs_fdopendir(benchfs_file_t *f, benchfs_dir_t **out);
/* 1 and *ent filled (d_ino, d_off: a position for benchfs_seekdir, d_type,
 * d_name), 0 at the end, or -errno. */
int benchfs_readdir(benchfs_dir_t *d, struct dirent *ent);
long benchfs_telldir(benchfs_dir_t *d);
void benchfs_seekdir(benchfs_dir_t *d, long pos);
void benchfs_rewinddir(benchfs_dir_t *d);
int benchfs_closedir(benchfs_dir_t *d);

/* ---- changes, for caches beside this connection's ---- */

/* Told after each change of a name or of an inode's metadata this connection
 * made (also after a failed attempt, which may have changed it): name != NULL:
 * the entry name of directory ino was made, removed or replaced (and so the
 * directory's times and link count changed); name NULL: ino's attributes
 * (mode, owner, times, size set by truncate, link count). Not for writes (their
 * size and times follow close-to-open). Called on the calling thread before the
 * call returns; fn must not call into fs. For a cache that shares inode numbers
 * with BenchFS, e.g. a FUSE mount's kernel cache on the same node. */
typedef void benchfs_change_fn(void *arg, uint64_t ino, const char *name);
/* Sets (fn NULL: clears) the change hook. Set it before other threads use fs. */
void benchfs_on_change(benchfs_t *fs, benchfs_change_fn *fn, void *arg);

/* Shares the node table of a BenchFS mount on this node with fs: map is a
 * read-write MAP_SHARED mapping (size bytes) of the file whose path
 * getxattr(mount root, "benchfs.nodetab") gives (its format: common/nodetab.h
 * in the sources; the header is checked here). From then on every change fs
 * makes (names, attributes, data, xattrs; also a failed attempt) bumps the
 * table's counters of what it changed, as the mount's daemon does for changes
 * made through the mount, and a cached name or attribute is used only while
 * the counters it depends on are unchanged: every process of the node that
 * shares the table sees every other's changes, and the mount's, at once;
 * other nodes' changes show within attr_timeout, as on the mount. The caller
 * keeps map mapped until benchfs_disconnect; call it before other threads
 * use fs. 0, or -EPROTO (not a table of this version: nothing changes),
 * -EINVAL (its sizes disagree with size). */
int benchfs_node_table(benchfs_t *fs, void *map, size_t size);

/* "benchfs 0.x.y": the version of the library, for programs to print. */
const char *benchfs_version(void);

#ifdef __cplusplus
}
#endif

#endif
