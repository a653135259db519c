/* pathops.c - the calls by path: stat & co., access, unlink, mkdir, rmdir,
 * rename, link, symlink, readlink, truncate, chmod, chown, utimes, chdir.
 * Each resolves its path (paths.c); a BenchFS one goes to libbenchfs, anything
 * else, and what the library hands back as -EXDEV / -EOPNOTSUPP, to the
 * kernel. stat results carry the mount's st_dev, so a program comparing
 * st_dev/st_ino of the mount and of the preload path sees one file system. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

/* glibc declares the path arguments nonnull; the kernel accepts NULL for some.
 * Hide the pointer from the optimiser so the check stays. */
#define LAUNDER(p) __asm__("" : "+r"(p))

void pl_fix_stat(const struct pl_mount *m, struct stat *st)
{
    st->st_dev = m->dev;
}

/* 1: BenchFS with a connection (*fs), 0: the kernel's. */
static int lib_path(int dirfd, const char *path, struct pl_path *p, benchfs_t **fs, const char *call)
{
    if (pl_off() || pl_path_at(dirfd, path, p) <= 0 || (p->dir_only && strcmp(call, "stat") != 0))
        return 0;
    *fs = pl_mount_fs(p->m);
    if (!*fs)
        PL_DEBUG("%s %s: through the mount (not connected)", call, p->abs);
    return *fs != NULL;
}

/* After the library call: 1 and errno/return set, or 0: let the kernel do it. */
static int lib_done(long rc, const struct pl_path *p, const char *call)
{
    if (rc == -EXDEV || rc == -EOPNOTSUPP) {
        PL_DEBUG("%s %s: through the mount (%s)", call, p->abs, strerror((int)-rc));
        return 0;
    }
    PL_DEBUG("intercepted %s %s: %s", call, p->abs, rc < 0 ? strerror((int)-rc) : "ok");
    return 1;
}

/* PATH_OP(call, dirfd, path, kernel, lib): lib may use fs and p.inner. */
#define PATH_OP(call, dirfd, path, kernel, lib)                                 \
    do {                                                                        \
        struct pl_path p;                                                       \
        benchfs_t *fs;                                                          \
        if (lib_path(dirfd, path, &p, &fs, call)) {                             \
            long rc_ = PL_LIB(lib);                                             \
            if (lib_done(rc_, &p, call))                                        \
                return pl_ret(rc_);                                             \
        }                                                                       \
        return kernel;                                                          \
    } while (0)

/* ---- stat ---- */

static int stat_at(int dirfd, const char *path, struct stat *st, int flags, const char *call)
{
    if (path && !path[0] && (flags & AT_EMPTY_PATH))
        return dirfd == AT_FDCWD ? stat(".", st) : fstat(dirfd, st);
    struct pl_path p;
    benchfs_t *fs;
    if (lib_path(dirfd, path, &p, &fs, "stat")) {
        /* "dir/" follows a final symlink and must be a directory */
        int rc = flags & AT_SYMLINK_NOFOLLOW && !p.dir_only ? PL_LIB(BFS(lstat)(fs, p.inner, st))
                                                            : PL_LIB(BFS(stat)(fs, p.inner, st));
        if (rc == 0 && p.dir_only && !S_ISDIR(st->st_mode))
            rc = -ENOTDIR;
        if (lib_done(rc, &p, call)) {
            if (rc == 0)
                pl_fix_stat(p.m, st);
            return (int)pl_ret(rc);
        }
    }
    return REAL(fstatat)(dirfd, path, st, flags);
}

int stat(const char *path, struct stat *st)
{
    return stat_at(AT_FDCWD, path, st, 0, "stat");
}
int stat64(const char *path, struct stat64 *st)
{
    return stat_at(AT_FDCWD, path, (struct stat *)st, 0, "stat64");
}
int lstat(const char *path, struct stat *st)
{
    return stat_at(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, "lstat");
}
int lstat64(const char *path, struct stat64 *st)
{
    return stat_at(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW, "lstat64");
}
int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return stat_at(dirfd, path, st, flags, "fstatat");
}
int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    return stat_at(dirfd, path, (struct stat *)st, flags, "fstatat64");
}
int newfstatat(int dirfd, const char *path, struct stat *st, int flags);
int newfstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return stat_at(dirfd, path, st, flags, "newfstatat");
}
/* The pre-2.33 entry points that older binaries still call. */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int __xstat(int ver, const char *path, struct stat *st)
{
    (void)ver;
    return stat_at(AT_FDCWD, path, st, 0, "stat");
}
int __xstat64(int ver, const char *path, struct stat64 *st)
{
    (void)ver;
    return stat_at(AT_FDCWD, path, (struct stat *)st, 0, "stat64");
}
int __lxstat(int ver, const char *path, struct stat *st)
{
    (void)ver;
    return stat_at(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, "lstat");
}
int __lxstat64(int ver, const char *path, struct stat64 *st)
{
    (void)ver;
    return stat_at(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW, "lstat64");
}
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
    (void)ver;
    return stat_at(dirfd, path, st, flags, "fstatat");
}
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
    (void)ver;
    return stat_at(dirfd, path, (struct stat *)st, flags, "fstatat64");
}

static void to_statx(const struct stat *st, struct statx *sx)
{
    memset(sx, 0, sizeof *sx);
    sx->stx_mask = STATX_BASIC_STATS;
    sx->stx_blksize = (uint32_t)st->st_blksize;
    sx->stx_nlink = (uint32_t)st->st_nlink;
    sx->stx_uid = st->st_uid;
    sx->stx_gid = st->st_gid;
    sx->stx_mode = (uint16_t)st->st_mode;
    sx->stx_ino = st->st_ino;
    sx->stx_size = (uint64_t)st->st_size;
    sx->stx_blocks = (uint64_t)st->st_blocks;
    sx->stx_atime = (struct statx_timestamp){ st->st_atim.tv_sec, (uint32_t)st->st_atim.tv_nsec, 0 };
    sx->stx_mtime = (struct statx_timestamp){ st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec, 0 };
    sx->stx_ctime = (struct statx_timestamp){ st->st_ctim.tv_sec, (uint32_t)st->st_ctim.tv_nsec, 0 };
    sx->stx_rdev_major = major(st->st_rdev);
    sx->stx_rdev_minor = minor(st->st_rdev);
    sx->stx_dev_major = major(st->st_dev);
    sx->stx_dev_minor = minor(st->st_dev);
}

int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
    LAUNDER(path);
    if (!pl_off() && path) {
        struct stat st;
        int rc = 1;
        if (!path[0] && (flags & AT_EMPTY_PATH)) {
            struct pl_file *f = dirfd >= 0 ? pl_fd_get(dirfd) : NULL;
            if (f) {
                pl_file_put(f);
                rc = fstat(dirfd, &st);
            }
        } else {
            struct pl_path p;
            benchfs_t *fs;
            if (lib_path(dirfd, path, &p, &fs, "statx")) {
                int lr = flags & AT_SYMLINK_NOFOLLOW ? PL_LIB(BFS(lstat)(fs, p.inner, &st))
                                                     : PL_LIB(BFS(stat)(fs, p.inner, &st));
                if (lib_done(lr, &p, "statx")) {
                    if (lr == 0)
                        pl_fix_stat(p.m, &st);
                    rc = (int)pl_ret(lr);
                }
            }
        }
        if (rc <= 0) {
            if (rc == 0)
                to_statx(&st, sx);
            return rc;
        }
    }
    return REAL(statx)(dirfd, path, flags, mask, sx);
}

/* ---- access ---- */

int faccessat(int dirfd, const char *path, int mode, int flags)
{
    PATH_OP("faccessat", dirfd, path, REAL(faccessat)(dirfd, path, mode, flags),
            BFS(access)(fs, p.inner, mode, flags));
}
int access(const char *path, int mode)
{
    PATH_OP("access", AT_FDCWD, path, REAL(access)(path, mode), BFS(access)(fs, p.inner, mode, 0));
}
int euidaccess(const char *path, int mode)
{
    PATH_OP("euidaccess", AT_FDCWD, path, REAL(euidaccess)(path, mode),
            BFS(access)(fs, p.inner, mode, AT_EACCESS));
}
int eaccess(const char *path, int mode)
{
    return euidaccess(path, mode);
}

/* ---- names ---- */

int unlinkat(int dirfd, const char *path, int flags)
{
    PATH_OP("unlinkat", dirfd, path, REAL(unlinkat)(dirfd, path, flags),
            flags & AT_REMOVEDIR ? BFS(rmdir)(fs, p.inner) : BFS(unlink)(fs, p.inner));
}
int unlink(const char *path)
{
    PATH_OP("unlink", AT_FDCWD, path, REAL(unlink)(path), BFS(unlink)(fs, p.inner));
}
int rmdir(const char *path)
{
    PATH_OP("rmdir", AT_FDCWD, path, REAL(rmdir)(path), BFS(rmdir)(fs, p.inner));
}
int mkdirat(int dirfd, const char *path, mode_t mode)
{
    PATH_OP("mkdirat", dirfd, path, REAL(mkdirat)(dirfd, path, mode),
            BFS(mkdir)(fs, p.inner, mode & ~pl_umask()));
}
int mkdir(const char *path, mode_t mode)
{
    PATH_OP("mkdir", AT_FDCWD, path, REAL(mkdir)(path, mode), BFS(mkdir)(fs, p.inner, mode & ~pl_umask()));
}
int symlinkat(const char *target, int dirfd, const char *path)
{
    PATH_OP("symlinkat", dirfd, path, REAL(symlinkat)(target, dirfd, path), BFS(symlink)(fs, target, p.inner));
}
int symlink(const char *target, const char *path)
{
    PATH_OP("symlink", AT_FDCWD, path, REAL(symlink)(target, path), BFS(symlink)(fs, target, p.inner));
}
ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
    PATH_OP("readlinkat", dirfd, path, REAL(readlinkat)(dirfd, path, buf, size),
            BFS(readlink)(fs, p.inner, buf, size));
}
ssize_t readlink(const char *path, char *buf, size_t size)
{
    PATH_OP("readlink", AT_FDCWD, path, REAL(readlink)(path, buf, size), BFS(readlink)(fs, p.inner, buf, size));
}
int truncate(const char *path, off_t len)
{
    PATH_OP("truncate", AT_FDCWD, path, REAL(truncate)(path, len), BFS(truncate)(fs, p.inner, len));
}
int truncate64(const char *path, off_t len)
{
    return truncate(path, len);
}

/* Two paths: both on one BenchFS mount, else the kernel (which says EXDEV
 * across file systems). 1 and *rc, or 0. */
static int two_paths(int d1, const char *p1, int d2, const char *p2, unsigned flags, int link, long *rc,
                     const char *call)
{
    struct pl_path a, b;
    benchfs_t *fs;
    if (!lib_path(d1, p1, &a, &fs, call) || pl_path_at(d2, p2, &b) <= 0 || a.m != b.m)
        return 0;
    *rc = link ? PL_LIB(BFS(link)(fs, a.inner, b.inner)) : PL_LIB(BFS(rename)(fs, a.inner, b.inner, flags));
    return lib_done(*rc, &a, call);
}

int renameat2(int d1, const char *p1, int d2, const char *p2, unsigned flags)
{
    long rc;
    if (two_paths(d1, p1, d2, p2, flags, 0, &rc, "rename"))
        return (int)pl_ret(rc);
    return REAL(renameat2)(d1, p1, d2, p2, flags);
}
int renameat(int d1, const char *p1, int d2, const char *p2)
{
    long rc;
    if (two_paths(d1, p1, d2, p2, 0, 0, &rc, "rename"))
        return (int)pl_ret(rc);
    return REAL(renameat)(d1, p1, d2, p2);
}
int rename(const char *p1, const char *p2)
{
    long rc;
    if (two_paths(AT_FDCWD, p1, AT_FDCWD, p2, 0, 0, &rc, "rename"))
        return (int)pl_ret(rc);
    return REAL(rename)(p1, p2);
}
int linkat(int d1, const char *p1, int d2, const char *p2, int flags)
{
    long rc;
    /* link(2) does not follow a final symlink; AT_SYMLINK_FOLLOW and AT_EMPTY_PATH are the kernel's. */
    if (!(flags & (AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) && two_paths(d1, p1, d2, p2, 0, 1, &rc, "link"))
        return (int)pl_ret(rc);
    return REAL(linkat)(d1, p1, d2, p2, flags);
}
int link(const char *p1, const char *p2)
{
    long rc;
    if (two_paths(AT_FDCWD, p1, AT_FDCWD, p2, 0, 1, &rc, "link"))
        return (int)pl_ret(rc);
    return REAL(link)(p1, p2);
}

/* ---- attributes ---- */

int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
    PATH_OP("fchmodat", dirfd, path, REAL(fchmodat)(dirfd, path, mode, flags),
            BFS(chmod)(fs, p.inner, mode, flags));
}
int chmod(const char *path, mode_t mode)
{
    PATH_OP("chmod", AT_FDCWD, path, REAL(chmod)(path, mode), BFS(chmod)(fs, p.inner, mode, 0));
}
int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    LAUNDER(path);
    if (path && !path[0] && (flags & AT_EMPTY_PATH))
        return fchown(dirfd, uid, gid);
    PATH_OP("fchownat", dirfd, path, REAL(fchownat)(dirfd, path, uid, gid, flags),
            BFS(chown)(fs, p.inner, uid, gid, flags));
}
int chown(const char *path, uid_t uid, gid_t gid)
{
    PATH_OP("chown", AT_FDCWD, path, REAL(chown)(path, uid, gid), BFS(chown)(fs, p.inner, uid, gid, 0));
}
int lchown(const char *path, uid_t uid, gid_t gid)
{
    PATH_OP("lchown", AT_FDCWD, path, REAL(lchown)(path, uid, gid),
            BFS(chown)(fs, p.inner, uid, gid, AT_SYMLINK_NOFOLLOW));
}
int utimensat(int dirfd, const char *path, const struct timespec t[2], int flags)
{
    LAUNDER(path);
    if (!path)   /* Linux: the file dirfd names */
        return futimens(dirfd, t);
    PATH_OP("utimensat", dirfd, path, REAL(utimensat)(dirfd, path, t, flags),
            BFS(utimens)(fs, p.inner, t, flags));
}
int utimes(const char *path, const struct timeval tv[2])
{
    struct timespec t[2], *tp = NULL;
    if (tv) {
        for (int i = 0; i < 2; i++)
            t[i] = (struct timespec){ tv[i].tv_sec, tv[i].tv_usec * 1000 };
        tp = t;
    }
    return utimensat(AT_FDCWD, path, tp, 0);
}
int utime(const char *path, const struct utimbuf *b)
{
    struct timespec t[2], *tp = NULL;
    if (b) {
        t[0] = (struct timespec){ b->actime, 0 };
        t[1] = (struct timespec){ b->modtime, 0 };
        tp = t;
    }
    return utimensat(AT_FDCWD, path, tp, 0);
}

/* ---- the cwd: the kernel's, but relative paths need it ---- */

int chdir(const char *path)
{
    /* A name the kernel looks up and misses stays missing in the mount's
     * cache for negative_timeout, even once created over RPC (rsync: chdir,
     * mkdir, chdir): a BenchFS name that does not exist fails here, when
     * libbenchfs's answer is fresh (no attribute caching). */
    struct pl_path p;
    benchfs_t *fs;
    if (lib_path(AT_FDCWD, path, &p, &fs, "chdir") && !pl_attr_cached) {
        struct stat st;
        int lr = PL_LIB(BFS(stat)(fs, p.inner, &st));
        if (lr == 0 && !S_ISDIR(st.st_mode))
            lr = -ENOTDIR;
        if (lr == -ENOENT || lr == -ENOTDIR) {
            PL_DEBUG("intercepted chdir %s: %s", p.abs, strerror(-lr));
            return (int)pl_ret(lr);
        }
    }
    int rc = REAL(chdir)(path);
    if (rc == 0)
        pl_cwd_changed();
    return rc;
}
int fchdir(int fd)
{
    int rc = REAL(fchdir)(fd);
    if (rc == 0)
        pl_cwd_changed();
    return rc;
}

/* ---- realpath: glibc's walks the path with its internal readlink, which
 * this library does not see: on a name that does not exist yet it would leave
 * a negative entry in the mount's cache, hiding the file from the kernel
 * (exec, plain processes) for negative_timeout after we create it over RPC.
 * A BenchFS path that does not exist fails here; one without symlinks is its
 * clean form; one with a symlink is the kernel's to resolve (it exists). */
static char *real_path(const char *path, char *out, char *(*real)(const char *, char *))
{
    struct pl_path p;
    benchfs_t *fs;
    if (!path || !lib_path(AT_FDCWD, path, &p, &fs, "realpath") || pl_attr_cached)
        return real(path, out);
    struct stat st;
    int rc = PL_LIB(BFS(stat)(fs, p.inner, &st));
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES || rc == -ELOOP) {
        PL_DEBUG("intercepted realpath %s: %s", p.abs, strerror(-rc));
        errno = -rc;
        return NULL;
    }
    if (rc < 0)
        return real(path, out);
    /* any symlink on the way? */
    char prefix[4096];
    size_t n = strlen(p.inner);
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p.inner[i] != '/')
            continue;
        memcpy(prefix, p.inner, i);
        prefix[i] = '\0';
        if (PL_LIB(BFS(lstat)(fs, prefix, &st)) < 0 || S_ISLNK(st.st_mode))
            return real(path, out);
    }
    size_t len = strlen(p.abs);
    if (len >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    char *r = out ? out : malloc(len + 1);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(r, p.abs, len + 1);
    PL_DEBUG("intercepted realpath %s", p.abs);
    return r;
}

char *realpath(const char *path, char *out)
{
    return real_path(path, out, REAL(realpath));
}
static char *canon_real(const char *path, char *out)
{
    (void)out;
    return REAL(canonicalize_file_name)(path);
}
char *canonicalize_file_name(const char *path)
{
    return real_path(path, NULL, canon_real);
}
