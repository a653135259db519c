/* io.c - the fd calls: open & co., close, read/write and their positioned
 * and vector forms, lseek, dup & co., fcntl, and the handle calls (fstat,
 * ftruncate, fsync, fchmod, fchown, futimens). A BenchFS regular file opens
 * through libbenchfs; directories, O_PATH, O_TMPFILE and what the library
 * does not do (-EOPNOTSUPP, -EXDEV) open through the kernel, i.e. the mount. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static int kernel_open(int dirfd, const char *path, int flags, mode_t mode)
{
    int fd = REAL(openat)(dirfd, path, flags, mode);
    if (fd >= 0 && !pl_in_lib)
        pl_fd_forget(fd);   /* a number we missed being closed */
    return fd;
}

static int open_at(int dirfd, const char *path, int flags, mode_t mode, const char *call)
{
    if (pl_off())
        return REAL(openat)(dirfd, path, flags, mode);
    struct pl_path p;
    int r = pl_path_at(dirfd, path, &p);
    if (r <= 0)
        return kernel_open(dirfd, path, flags, mode);
    const char *why = NULL;
    benchfs_t *fs = NULL;
    if (flags & (O_PATH | O_DIRECTORY | __O_TMPFILE) || p.dir_only)
        why = "O_PATH, O_DIRECTORY, O_TMPFILE or a directory path";
    else if (!(fs = pl_mount_fs(p.m)))
        why = "not connected";
    if (why) {
        /* A kernel lookup of a missing name would hide it from the mount for
         * negative_timeout once created over RPC (rsync: O_PATH open, mkdir,
         * chdir): with fresh answers from libbenchfs, fail it here. */
        if (fs || (fs = pl_mount_fs(p.m)) != NULL) {
            struct stat st;
            int lr = !pl_attr_cached && !(flags & O_CREAT)
                         ? (flags & O_NOFOLLOW ? PL_LIB(BFS(lstat)(fs, p.inner, &st)) : PL_LIB(BFS(stat)(fs, p.inner, &st)))
                         : 0;
            if (lr == -ENOENT || lr == -ENOTDIR) {
                PL_DEBUG("intercepted %s %s: %s", call, p.abs, strerror(-lr));
                return (int)pl_ret(lr);
            }
        }
        PL_DEBUG("%s %s: through the mount (%s)", call, p.abs, why);
        return kernel_open(dirfd, path, flags, mode);
    }
    if (flags & O_CREAT)
        mode &= ~pl_umask();
    benchfs_file_t *bf;
    /* O_APPEND is ours (F_SETFL may clear it; a handle's would stay). */
    int rc = PL_LIB(BFS(open)(fs, p.inner, flags & ~O_APPEND, mode, &bf));
    if (rc == 0 && (flags & O_ACCMODE) == O_RDONLY && !(flags & O_CREAT)) {
        /* A directory is the kernel's: fchdir, getdents, *at with it just work. */
        struct stat st;
        if (PL_LIB(BFS(fstat)(bf, &st)) == 0 && S_ISDIR(st.st_mode)) {
            PL_LIB(BFS(close)(bf));
            rc = -EISDIR;
            why = "a directory";
        }
    }
    if (rc == -EOPNOTSUPP || rc == -EXDEV || why) {
        PL_DEBUG("%s %s: through the mount (%s)", call, p.abs, why ? why : strerror(-rc));
        return kernel_open(dirfd, path, flags, mode);
    }
    if (rc < 0) {
        PL_DEBUG("intercepted %s %s: %s", call, p.abs, strerror(-rc));
        return (int)pl_ret(rc);
    }
    int fd = pl_fd_reserve(flags & O_CLOEXEC);
    struct pl_file *f = fd >= 0 ? pl_file_new(p.m, p.inner, bf, flags & ~O_CLOEXEC) : NULL;
    if (!f) {
        int e = fd >= 0 ? ENOMEM : errno;
        PL_LIB(BFS(close)(bf));
        if (fd >= 0)
            REAL(close)(fd);
        errno = e;
        return -1;
    }
    rc = pl_fd_install(fd, f);
    if (rc < 0) {
        f->refs = 1;
        pl_file_put(f);
        REAL(close)(fd);
        return (int)pl_ret(rc);
    }
    PL_DEBUG("intercepted %s %s: fd %d", call, p.abs, fd);
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAPPER(name, call)                                                \
    int name(const char *path, int flags, ...)                                  \
    {                                                                           \
        va_list ap;                                                             \
        va_start(ap, flags);                                                    \
        mode_t mode = mode_arg(flags, ap);                                      \
        va_end(ap);                                                             \
        return open_at(AT_FDCWD, path, flags, mode, call);                      \
    }
OPEN_WRAPPER(open, "open")
OPEN_WRAPPER(open64, "open64")

#define OPENAT_WRAPPER(name, call)                                              \
    int name(int dirfd, const char *path, int flags, ...)                       \
    {                                                                           \
        va_list ap;                                                             \
        va_start(ap, flags);                                                    \
        mode_t mode = mode_arg(flags, ap);                                      \
        va_end(ap);                                                             \
        return open_at(dirfd, path, flags, mode, call);                         \
    }
OPENAT_WRAPPER(openat, "openat")
OPENAT_WRAPPER(openat64, "openat64")

int creat(const char *path, mode_t mode)
{
    return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, "creat");
}
int creat64(const char *path, mode_t mode)
{
    return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, "creat64");
}
/* _FORTIFY_SOURCE's checked opens (O_CREAT without a mode is their abort case). */
int __open_2(const char *path, int flags)
{
    return open_at(AT_FDCWD, path, flags, 0, "open");
}
int __open64_2(const char *path, int flags)
{
    return open_at(AT_FDCWD, path, flags, 0, "open64");
}
int __openat_2(int dirfd, const char *path, int flags)
{
    return open_at(dirfd, path, flags, 0, "openat");
}
int __openat64_2(int dirfd, const char *path, int flags)
{
    return open_at(dirfd, path, flags, 0, "openat64");
}

static struct pl_file *file_of(int fd)
{
    return pl_off() ? NULL : pl_fd_get(fd);
}

int close(int fd)
{
    if (!pl_off()) {
        pl_fd_forget(fd);
        pl_dirfd_forget(fd);
    }
    return REAL(close)(fd);
}

/* ---- data ---- */

static ssize_t file_read(struct pl_file *f, void *buf, size_t len)
{
    pthread_mutex_lock(&f->lock);
    ssize_t n = PL_LIB(BFS(pread)(f->bf, buf, len, f->off));
    if (n > 0)
        f->off += n;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static ssize_t file_write(struct pl_file *f, const void *buf, size_t len)
{
    ssize_t n;
    pthread_mutex_lock(&f->lock);
    if (atomic_load(&f->flags) & O_APPEND) {
        off_t at = 0;
        n = PL_LIB(BFS(append)(f->bf, buf, len, &at));
        if (n >= 0)
            f->off = at + n;
    } else {
        n = PL_LIB(BFS(pwrite)(f->bf, buf, len, f->off));
        if (n > 0)
            f->off += n;
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

ssize_t read(int fd, void *buf, size_t len)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(read)(fd, buf, len);
    ssize_t n = file_read(f, buf, len);
    pl_file_put(f);
    return pl_ret(n);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(write)(fd, buf, len);
    ssize_t n = file_write(f, buf, len);
    pl_file_put(f);
    return pl_ret(n);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(pread)(fd, buf, len, off);
    ssize_t n = off < 0 ? -EINVAL : PL_LIB(BFS(pread)(f->bf, buf, len, off));
    pl_file_put(f);
    return pl_ret(n);
}
ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
    return pread(fd, buf, len, off);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(pwrite)(fd, buf, len, off);
    ssize_t n = off < 0                                ? -EINVAL
                : atomic_load(&f->flags) & O_APPEND ? PL_LIB(BFS(append)(f->bf, buf, len, NULL))
                                                    : PL_LIB(BFS(pwrite)(f->bf, buf, len, off));
    pl_file_put(f);
    return pl_ret(n);
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

/* Vectors go as one call through a bounce buffer (one RPC, and atomic as
 * writev(2) is for a regular file). */
static ssize_t iov_total(const struct iovec *iov, int cnt)
{
    if (cnt < 0 || cnt > IOV_MAX)
        return -EINVAL;
    size_t t = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - t)
            return -EINVAL;
        t += iov[i].iov_len;
    }
    return (ssize_t)t;
}

/* off < 0: at (and moving) the file's offset. */
static ssize_t vec_read(struct pl_file *f, const struct iovec *iov, int cnt, off_t off)
{
    ssize_t total = iov_total(iov, cnt);
    if (total < 0)
        return total;
    if (cnt == 1)
        return off < 0 ? file_read(f, iov[0].iov_base, iov[0].iov_len)
                       : PL_LIB(BFS(pread)(f->bf, iov[0].iov_base, iov[0].iov_len, off));
    char *buf = malloc(total ? (size_t)total : 1);
    if (!buf)
        return -ENOMEM;
    ssize_t n = off < 0 ? file_read(f, buf, (size_t)total) : PL_LIB(BFS(pread)(f->bf, buf, (size_t)total, off));
    for (ssize_t done = 0, i = 0; n > 0 && done < n; i++) {
        size_t c = iov[i].iov_len < (size_t)(n - done) ? iov[i].iov_len : (size_t)(n - done);
        memcpy(iov[i].iov_base, buf + done, c);
        done += (ssize_t)c;
    }
    free(buf);
    return n;
}

static ssize_t vec_write(struct pl_file *f, const struct iovec *iov, int cnt, off_t off)
{
    ssize_t total = iov_total(iov, cnt);
    if (total < 0)
        return total;
    if (cnt == 1)
        return off < 0 || (atomic_load(&f->flags) & O_APPEND) ? file_write(f, iov[0].iov_base, iov[0].iov_len)
                       : PL_LIB(BFS(pwrite)(f->bf, iov[0].iov_base, iov[0].iov_len, off));
    char *buf = malloc(total ? (size_t)total : 1);
    if (!buf)
        return -ENOMEM;
    for (ssize_t done = 0, i = 0; i < cnt; i++) {
        memcpy(buf + done, iov[i].iov_base, iov[i].iov_len);
        done += (ssize_t)iov[i].iov_len;
    }
    ssize_t n = off < 0 || (atomic_load(&f->flags) & O_APPEND) ? file_write(f, buf, (size_t)total)
                                                               : PL_LIB(BFS(pwrite)(f->bf, buf, (size_t)total, off));
    free(buf);
    return n;
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(readv)(fd, iov, cnt);
    ssize_t n = vec_read(f, iov, cnt, -1);
    pl_file_put(f);
    return pl_ret(n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(writev)(fd, iov, cnt);
    ssize_t n = vec_write(f, iov, cnt, -1);
    pl_file_put(f);
    return pl_ret(n);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(preadv)(fd, iov, cnt, off);
    ssize_t n = off < 0 ? -EINVAL : vec_read(f, iov, cnt, off);
    pl_file_put(f);
    return pl_ret(n);
}
ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return preadv(fd, iov, cnt, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(pwritev)(fd, iov, cnt, off);
    ssize_t n = off < 0 ? -EINVAL : vec_write(f, iov, cnt, off);
    pl_file_put(f);
    return pl_ret(n);
}
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return pwritev(fd, iov, cnt, off);
}

/* RWF_* flags the library cannot honour: the kernel does the call. */
ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    struct pl_file *f = file_of(fd);
    if (f && flags != 0) {
        pl_file_put(f);
        pl_fd_convert(fd, "preadv2 with flags");
        f = NULL;
    }
    if (!f)
        return REAL(preadv2)(fd, iov, cnt, off, flags);
    ssize_t n = off < -1 ? -EINVAL : vec_read(f, iov, cnt, off);
    pl_file_put(f);
    return pl_ret(n);
}
ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    return preadv2(fd, iov, cnt, off, flags);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    struct pl_file *f = file_of(fd);
    if (f && flags != 0) {
        pl_file_put(f);
        pl_fd_convert(fd, "pwritev2 with flags");
        f = NULL;
    }
    if (!f)
        return REAL(pwritev2)(fd, iov, cnt, off, flags);
    ssize_t n = off < -1 ? -EINVAL : vec_write(f, iov, cnt, off);
    pl_file_put(f);
    return pl_ret(n);
}
ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    return pwritev2(fd, iov, cnt, off, flags);
}

off_t lseek(int fd, off_t off, int whence)
{
    struct pl_file *f = file_of(fd);
    if (f && whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) {
        pl_file_put(f);
        pl_fd_convert(fd, "lseek SEEK_DATA/SEEK_HOLE");
        f = NULL;
    }
    if (!f)
        return REAL(lseek)(fd, off, whence);
    off_t rc = 0;
    pthread_mutex_lock(&f->lock);
    off_t base = whence == SEEK_SET ? 0 : f->off;
    if (whence == SEEK_END) {
        struct stat st;
        rc = PL_LIB(BFS(fstat)(f->bf, &st));
        base = st.st_size;
    }
    if (rc == 0) {
        if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
            rc = -EINVAL;
        else
            rc = f->off = base + off;
    }
    pthread_mutex_unlock(&f->lock);
    pl_file_put(f);
    return pl_ret(rc);
}
off_t lseek64(int fd, off_t off, int whence)
{
    return lseek(fd, off, whence);
}

/* ---- fds ---- */

int dup(int fd)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(dup)(fd);
    int nfd = REAL(dup)(fd);
    if (nfd >= 0) {
        int rc = pl_fd_install(nfd, f);
        if (rc < 0) {
            REAL(close)(nfd);
            nfd = (int)pl_ret(rc);
        }
    }
    pl_file_put(f);
    return nfd;
}

static int dup_onto(int old, int new, int flags, int three)
{
    if (!pl_off() && old != new)
        pl_dirfd_forget(new);
    struct pl_file *f = file_of(old);
    if (f && new >= 0 && new <= 2 && old != new) {
        /* stdin/out/err: other programs (after exec) and raw writes use them. */
        pl_file_put(f);
        pl_fd_convert(old, "dup onto 0, 1 or 2");
        f = NULL;
    }
    if (!f || old == new) {
        if (f)
            pl_file_put(f);
        if (old != new && !pl_off() && REAL(fcntl)(old, F_GETFD) >= 0)
            pl_fd_forget(new);
        return three ? REAL(dup3)(old, new, flags) : REAL(dup2)(old, new);
    }
    pl_fd_forget(new);
    int rc = three ? REAL(dup3)(old, new, flags) : REAL(dup2)(old, new);
    if (rc >= 0) {
        int e = pl_fd_install(new, f);
        if (e < 0)
            rc = (int)pl_ret(e);
    }
    pl_file_put(f);
    return rc;
}

int dup2(int old, int new)
{
    return dup_onto(old, new, 0, 0);
}
int dup3(int old, int new, int flags)
{
    return dup_onto(old, new, flags, 1);
}

#define SETFL_OURS (O_APPEND | O_NONBLOCK | O_NOATIME)
#define GETFL_SHOWN (O_ACCMODE | O_APPEND | O_NONBLOCK | O_NOATIME | O_SYNC | O_DSYNC | O_DIRECT)

static int do_fcntl(int fd, int cmd, void *arg)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(fcntl)(fd, cmd, arg);
    int rc;
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        rc = REAL(fcntl)(fd, cmd, arg);
        if (rc >= 0) {
            int e = pl_fd_install(rc, f);
            if (e < 0) {
                REAL(close)(rc);
                rc = (int)pl_ret(e);
            }
        }
        break;
    case F_GETFD:
    case F_SETFD:
        rc = REAL(fcntl)(fd, cmd, arg);
        break;
    case F_GETFL:
        rc = (atomic_load(&f->flags) & GETFL_SHOWN) | O_LARGEFILE;
        break;
    case F_SETFL: {
        int want = (int)(long)arg, have = atomic_load(&f->flags);
        if ((want ^ have) & (O_DIRECT | O_ASYNC) & ~SETFL_OURS) {
            pl_file_put(f);
            pl_fd_convert(fd, "fcntl F_SETFL O_DIRECT/O_ASYNC");
            return REAL(fcntl)(fd, cmd, arg);
        }
        atomic_store(&f->flags, (have & ~SETFL_OURS) | (want & SETFL_OURS));
        rc = 0;
        break;
    }
    default:   /* locks, leases, notify, pipe sizes...: the mount's */
        pl_file_put(f);
        pl_fd_convert(fd, "fcntl");
        return REAL(fcntl)(fd, cmd, arg);
    }
    pl_file_put(f);
    return rc;
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}
int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}
int __fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

/* ---- handle calls ---- */

int fstat(int fd, struct stat *st)
{
    struct pl_file *f = file_of(fd);
    if (!f)
        return REAL(fstat)(fd, st);
    int rc = PL_LIB(BFS(fstat)(f->bf, st));
    if (rc == 0)
        pl_fix_stat(f->m, st);
    pl_file_put(f);
    return (int)pl_ret(rc);
}
int fstat64(int fd, struct stat64 *st)
{
    return fstat(fd, (struct stat *)st);
}
int __fxstat(int ver, int fd, struct stat *st)
{
    (void)ver;
    return fstat(fd, st);
}
int __fxstat64(int ver, int fd, struct stat64 *st)
{
    (void)ver;
    return fstat(fd, (struct stat *)st);
}

#define HANDLE_CALL(decl, real_call, lib_call)                                  \
    decl                                                                        \
    {                                                                           \
        struct pl_file *f = file_of(fd);                                        \
        if (!f)                                                                 \
            return real_call;                                                   \
        int rc = PL_LIB(lib_call);                                              \
        pl_file_put(f);                                                         \
        return (int)pl_ret(rc);                                                 \
    }
HANDLE_CALL(int ftruncate(int fd, off_t len), REAL(ftruncate)(fd, len), BFS(ftruncate)(f->bf, len))
HANDLE_CALL(int ftruncate64(int fd, off_t len), REAL(ftruncate)(fd, len), BFS(ftruncate)(f->bf, len))
HANDLE_CALL(int fsync(int fd), REAL(fsync)(fd), BFS(fsync)(f->bf, 0))
HANDLE_CALL(int fdatasync(int fd), REAL(fdatasync)(fd), BFS(fsync)(f->bf, 1))
HANDLE_CALL(int fchmod(int fd, mode_t mode), REAL(fchmod)(fd, mode), BFS(fchmod)(f->bf, mode))
HANDLE_CALL(int fchown(int fd, uid_t uid, gid_t gid), REAL(fchown)(fd, uid, gid), BFS(fchown)(f->bf, uid, gid))
HANDLE_CALL(int futimens(int fd, const struct timespec t[2]), REAL(futimens)(fd, t), BFS(futimens)(f->bf, t))
