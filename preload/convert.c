/* convert.c - the calls the library does not do on a preload fd but the
 * kernel does on a file of the mount: mmap, sendfile, splice,
 * copy_file_range, fallocate, flock, lockf, fstatfs, ioctl, f*xattr, sync_file_range, and fds passed over a socket. Each
 * first converts the fd (fdtable.c: reopened through the mount at the same
 * offset and flags onto the same number) and then calls libc: from then on
 * that fd is a plain kernel fd (fadvise and readahead are advice: a no-op on a
 * preload fd). close_range/closefrom forget what they close. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

static void conv(int fd, const char *why)
{
    if (!pl_off() && fd >= 0)
        pl_fd_convert(fd, why);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (!(flags & MAP_ANONYMOUS))
        conv(fd, "mmap");
    return REAL(mmap)(addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}
ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    conv(out, "sendfile");
    conv(in, "sendfile");
    return REAL(sendfile)(out, in, off, n);
}
ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    return sendfile(out, in, off, n);
}
ssize_t splice(int in, off_t *ioff, int out, off_t *ooff, size_t n, unsigned flags)
{
    conv(in, "splice");
    conv(out, "splice");
    return REAL(splice)(in, ioff, out, ooff, n, flags);
}
ssize_t copy_file_range(int in, off_t *ioff, int out, off_t *ooff, size_t n, unsigned flags)
{
    conv(in, "copy_file_range");
    conv(out, "copy_file_range");
    return REAL(copy_file_range)(in, ioff, out, ooff, n, flags);
}
int fallocate(int fd, int mode, off_t off, off_t len)
{
    conv(fd, "fallocate");
    return REAL(fallocate)(fd, mode, off, len);
}
int fallocate64(int fd, int mode, off_t off, off_t len)
{
    return fallocate(fd, mode, off, len);
}
int posix_fallocate(int fd, off_t off, off_t len)
{
    conv(fd, "posix_fallocate");
    return REAL(posix_fallocate)(fd, off, len);
}
int posix_fallocate64(int fd, off_t off, off_t len)
{
    return posix_fallocate(fd, off, len);
}
/* Advice only (cat asks for sequential reads): nothing to do over RPC, and
 * not worth giving up the RPC path for. */
static int advice_only(int fd)
{
    struct pl_file *f = pl_off() ? NULL : pl_fd_get(fd);
    if (f)
        pl_file_put(f);
    return f != NULL;
}
int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
    if (advice_only(fd))
        return advice >= POSIX_FADV_NORMAL && advice <= POSIX_FADV_NOREUSE ? 0 : EINVAL;
    return REAL(posix_fadvise)(fd, off, len, advice);
}
int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
    return posix_fadvise(fd, off, len, advice);
}
ssize_t readahead(int fd, off64_t off, size_t n)
{
    if (advice_only(fd))
        return 0;
    return REAL(readahead)(fd, off, n);
}
int sync_file_range(int fd, off64_t off, off64_t n, unsigned flags)
{
    conv(fd, "sync_file_range");
    return REAL(sync_file_range)(fd, off, n, flags);
}
int flock(int fd, int op)
{
    conv(fd, "flock");
    return REAL(flock)(fd, op);
}
int lockf(int fd, int cmd, off_t len)
{
    conv(fd, "lockf");
    return REAL(lockf)(fd, cmd, len);
}
int lockf64(int fd, int cmd, off_t len)
{
    return lockf(fd, cmd, len);
}
int fstatfs(int fd, struct statfs *st)
{
    conv(fd, "fstatfs");
    return REAL(fstatfs)(fd, st);
}
int fstatfs64(int fd, struct statfs64 *st)
{
    conv(fd, "fstatfs");
    return REAL(fstatfs64)(fd, st);
}
int fstatvfs(int fd, struct statvfs *st)
{
    conv(fd, "fstatvfs");
    return REAL(fstatvfs)(fd, st);
}
int fstatvfs64(int fd, struct statvfs64 *st)
{
    conv(fd, "fstatvfs");
    return REAL(fstatvfs64)(fd, st);
}
int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    conv(fd, "ioctl");
    return REAL(ioctl)(fd, req, arg);
}
ssize_t fgetxattr(int fd, const char *name, void *v, size_t n)
{
    conv(fd, "fgetxattr");
    return REAL(fgetxattr)(fd, name, v, n);
}
int fsetxattr(int fd, const char *name, const void *v, size_t n, int flags)
{
    conv(fd, "fsetxattr");
    return REAL(fsetxattr)(fd, name, v, n, flags);
}
ssize_t flistxattr(int fd, char *list, size_t n)
{
    conv(fd, "flistxattr");
    return REAL(flistxattr)(fd, list, n);
}
int fremovexattr(int fd, const char *name)
{
    conv(fd, "fremovexattr");
    return REAL(fremovexattr)(fd, name);
}

/* An fd passed to another process must be a kernel fd there. */
ssize_t sendmsg(int sock, const struct msghdr *msg, int flags)
{
    if (!pl_off() && msg && pl_fd_limit() > 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
                conv(fd, "sendmsg SCM_RIGHTS");
            }
        }
    }
    return REAL(sendmsg)(sock, msg, flags);
}

int close_range(unsigned first, unsigned last, int flags)
{
    if (!pl_off() && !(flags & CLOSE_RANGE_CLOEXEC)) {
        unsigned lim = (unsigned)pl_fd_limit();
        for (unsigned fd = first; fd <= last && fd < lim; fd++)
            pl_fd_forget((int)fd);
    }
    return REAL(close_range)(first, last, flags);
}
void closefrom(int low)
{
    if (!pl_off())
        for (int fd = low < 0 ? 0 : low; fd < pl_fd_limit(); fd++)
            pl_fd_forget(fd);
    REAL(closefrom)(low);
}
