/* preload.h - the parts of libbenchfs-preload.so and what each owns.
 *
 * The library defines libc's file calls; each wrapper decides whether its
 * path or fd is BenchFS (then libbenchfs does it over RPC) or not (then the
 * real libc function, found with dlsym(RTLD_NEXT), does it: the kernel, and
 * for a BenchFS path the FUSE mount, which is always correct).
 *
 * Threads: every function here may be called by any thread at once.
 * While a thread runs inside libbenchfs (PL_LIB) every wrapper passes
 * straight through, so the library's own open/read of the registry, /proc,
 * UCX's config files never come back here.
 */
#ifndef BENCHFS_PRELOAD_H
#define BENCHFS_PRELOAD_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../common/nodetab.h"
#include "../lib/benchfs.h"

/* Nothing of the library's own is exported: only the libc names it defines. */
#pragma GCC visibility push(hidden)

/* ---- init.c: switches, log, real functions ---- */

extern __thread int pl_in_lib;   /* > 0: this thread runs inside libbenchfs */
extern int pl_disabled;          /* BENCHFS_PRELOAD=0 */
extern int pl_debug;             /* BENCHFS_LOG=debug */

/* Whether wrappers must pass straight through (disabled, or inside the library). */
static inline int pl_off(void)
{
    return pl_disabled || pl_in_lib > 0;
}
/* Once per process: the switches, the umask, the fork handlers. */
void pl_init(void);
/* The next definition of name after this library (libc's); NULL if none. */
void *pl_dlsym(const char *name);
/* The real fn, looked up once per call site. */
#define REAL(fn)                                                                  \
    ({                                                                            \
        static __typeof__(fn) *real_;                                             \
        __typeof__(fn) *r_ = __atomic_load_n(&real_, __ATOMIC_RELAXED);           \
        if (!r_) {                                                                \
            r_ = (__typeof__(fn) *)pl_dlsym(#fn);                                 \
            __atomic_store_n(&real_, r_, __ATOMIC_RELAXED);                       \
        }                                                                         \
        r_;                                                                       \
    })
/* Runs a libbenchfs call with the wrappers passing through. */
#define PL_LIB(expr)                                                              \
    ({                                                                            \
        pl_in_lib++;                                                              \
        __typeof__(expr) lr_ = (expr);                                            \
        pl_in_lib--;                                                              \
        lr_;                                                                      \
    })
/* One line on stderr ("benchfs-preload: ..."), errno kept: always (a warning
 * the user must see), or with PL_DEBUG only under BENCHFS_LOG=debug. */
void pl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define PL_DEBUG(...)                                                             \
    do {                                                                          \
        if (pl_debug)                                                             \
            pl_warn(__VA_ARGS__);                                                 \
    } while (0)
/* The process's umask as tracked (read at init, kept by the umask wrapper). */
mode_t pl_umask(void);
/* Sets errno from a negative rc and returns -1; a count passes through. */
static inline long pl_ret(long rc)
{
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

/* ---- api.c: libbenchfs, loaded on first use ---- */

/* The calls of lib/benchfs.h this library makes, as pointers into the
 * loaded libbenchfs.so: BFS(open)(...) is benchfs_open(...). */
#define PL_API_FUNCS(X) X(pwrite) X(pread) X(fstat) X(close) X(chown) X(access) X(unlink) X(symlink) X(stat) X(rmdir) X(readlink) X(opendir) X(mkdir) X(lstat) X(ftruncate) X(fsync) X(closedir) X(chmod) X(append) X(utimens) X(truncate) X(telldir) X(seekdir) X(rewinddir) X(rename) X(readdir) X(open) X(link) X(futimens) X(file_ino) X(fchown) X(fchmod) X(connect) X(on_change) X(node_table) X(ids_changed)
struct pl_api {
#define PL_API_FIELD(name) __typeof__(benchfs_##name) *name;
    PL_API_FUNCS(PL_API_FIELD)
#undef PL_API_FIELD
};
extern struct pl_api pl_api;
#define BFS(name) (pl_api.name)
/* Loads libbenchfs once; 0, or -1 (logged once: the kernel does everything). */
int pl_api_load(void);
/* 1 once pl_api_load has loaded it (then BFS() may be called without loading). */
int pl_api_loaded(void);

/* ---- mounts.c: which paths are BenchFS, and the connection to each ---- */

struct pl_mount {
    char mnt[4096];        /* mount point (clean, absolute) */
    size_t mnt_len;
    char registry[4096];
    pthread_mutex_t lock;  /* guards connecting */
    benchfs_t *_Atomic fs; /* NULL until connected (and again in a forked child) */
    int failed;            /* could not connect: the kernel does everything, for good */
    dev_t dev;             /* the mount's st_dev, what stat must show */
    atomic_int kinval;     /* the mount takes cache invalidations (kinval.c) */
    int kinval_ok;         /* the mount answered the table's getxattr (no -o noxattr) */
    int tab_tried;         /* pl_kinval_table ran (the mapping outlives fork) */
    int has_tab;           /* tab maps the mount's node table (common/nodetab.h) */
    struct nodetab tab;
};
/* ---- kinval.c: the node table; the mount's kernel caches forget what this process changes ---- */
/* Maps m's node table (once per process tree: a fork child keeps the
 * mapping). 1 when there is one, 0 when not (an older daemon, no /dev/shm:
 * logged under BENCHFS_LOG=debug). */
int pl_kinval_table(struct pl_mount *m);
/* After connecting fs to m: fs shares the table, and its changes go on to m's
 * kernel caches. */
void pl_kinval_attach(struct pl_mount *m, benchfs_t *fs);
/* fork child, before connecting anew. */
void pl_kinval_forget(struct pl_mount *m);
/* Whether libbenchfs caches names and attributes without a node table
 * (BENCHFS_ATTR_TIMEOUT=S>0 with an older daemon): then its answers may be
 * attr_timeout old even for this node's changes. */
extern int pl_attr_cached;
/* The deepest BenchFS mount holding abs (absolute, clean); *inner gets the
 * path inside it (a pointer into abs, or "/"). NULL when none: re-reads the
 * mount table first if the kernel says it changed. */
struct pl_mount *pl_mount_find(const char *abs, const char **inner);
/* The mount's connection, connecting on first use; NULL when it cannot (logged
 * once; the caller then lets the kernel do the call). */
benchfs_t *pl_mount_fs(struct pl_mount *m);
/* fork child: every connection is unusable (UCX does not survive fork). */
void pl_mounts_forget(void);

/* ---- paths.c: (dirfd, path) -> BenchFS mount and inner path ---- */

struct pl_path {
    char abs[4096];          /* absolute, lexically clean */
    struct pl_mount *m;      /* NULL: not BenchFS */
    const char *inner;       /* inside m */
    int dir_only;            /* the path ended in '/': it must be a directory */
};
/* Resolves path relative to dirfd (AT_FDCWD: the cwd). 1: a BenchFS path
 * (p->m, p->inner), 0: not (the kernel's), -errno when it cannot tell. */
int pl_path_at(int dirfd, const char *path, struct pl_path *p);
/* The kernel's path of a BenchFS file: mount point + inner. */
int pl_path_kernel(const struct pl_mount *m, const char *inner, char *out, size_t size);
/* fd was closed or replaced: forget where it pointed. */
void pl_dirfd_forget(int fd);
/* chdir/fchdir happened: forget the cached cwd. */
void pl_cwd_changed(void);

/* ---- fdtable.c: fds whose file BenchFS serves ---- */

struct pl_file {
    atomic_int refs;          /* fds naming it + calls in flight */
    benchfs_file_t *bf;
    struct pl_mount *m;
    char *inner;              /* path at open (for converting), malloc'd */
    atomic_int flags;         /* O_ACCMODE and status flags (F_SETFL may change O_APPEND) */
    pthread_mutex_t lock;     /* guards off */
    off_t off;
    struct pl_file *next_free;
};
/* A new object (refs 0) for an open benchfs file; NULL on ENOMEM. */
struct pl_file *pl_file_new(struct pl_mount *m, const char *inner, benchfs_file_t *bf, int flags);
/* The file fd names, with a reference (pl_file_put), or NULL: a kernel fd. Lock-free. */
struct pl_file *pl_fd_get(int fd);
void pl_file_put(struct pl_file *f);
/* Makes fd (a reserved kernel fd) name f; takes a reference on f. -errno. */
int pl_fd_install(int fd, struct pl_file *f);
/* fd no longer names its file (closed or replaced by the kernel): drops it. */
void pl_fd_forget(int fd);
/* A kernel fd to reserve a number with: a dup of the library's /dev/null fd,
 * FD_CLOEXEC as asked. -1 with errno. */
int pl_fd_reserve(int cloexec);
/* Makes fd a plain kernel fd onto the same file through the mount (same
 * offset, flags), and every fd sharing its object too. 0 (also when fd is not
 * a preload fd) or -errno (then fd is left as it was). */
int pl_fd_convert(int fd, const char *why);
/* Converts every preload fd (only_inherited: those without FD_CLOEXEC). */
void pl_fd_convert_all(int only_inherited, const char *why);
/* Whether a file at this path was converted: then the kernel does every call on it. */
int pl_converted(const struct pl_mount *m, const char *inner);
/* fork child: forget every preload fd left (its connection is the parent's). */
void pl_fd_orphan_all(void);
/* The highest fd number ever installed, +1. */
int pl_fd_limit(void);

/* ---- dirs.c ---- */
/* fork child: every preload directory stream goes on through the mount. */
void pl_dirs_forked(void);

/* ---- stat helpers (pathops.c) ---- */
/* What the mount shows: st_dev of the mount. */
void pl_fix_stat(const struct pl_mount *m, struct stat *st);

#pragma GCC visibility pop

#endif
