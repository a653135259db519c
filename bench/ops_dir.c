/* ops_dir.c - the benchmark's operations as system calls on a directory: a
 * BenchFS mount, or a local directory to compare against.
 *
 * Directory handles are open directory descriptors and files are reached with
 * the *at() calls relative to them, so each timed operation costs the same
 * system calls an application makes on a file of that directory (open, I/O,
 * close), without re-walking the path to the run directory every time.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd_of(bench_handle h) { return (int)h; }

static int dir_mkdir(void *ctx, bench_handle parent, const char *name, bench_handle *out)
{
    (void)ctx;
    if (mkdirat(fd_of(parent), name, 0755) < 0)
        return -errno;
    int fd = openat(fd_of(parent), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        unlinkat(fd_of(parent), name, AT_REMOVEDIR);   /* do not leave it behind */
        return err;
    }
    *out = (bench_handle)fd;
    return 0;
}

static void dir_put_dir(void *ctx, bench_handle dir)
{
    (void)ctx;
    close(fd_of(dir));
}

static int dir_rmdir(void *ctx, bench_handle parent, const char *name)
{
    (void)ctx;
    return unlinkat(fd_of(parent), name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* close() reports errors too (a network file system's flush, for one): they count. */
static int close_checked(int fd, int rc)
{
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

static int dir_create(void *ctx, bench_handle dir, const char *name)
{
    (void)ctx;
    int fd = openat(fd_of(dir), name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    return close_checked(fd, 0);
}

static int dir_prepare(void *ctx, bench_handle dir, const char *name, bench_handle *file)
{
    (void)ctx, (void)dir, (void)name;
    *file = 0;   /* the timed write opens the file by name */
    return 0;
}

static int dir_write(void *ctx, bench_handle dir, const char *name, bench_handle file,
                     const void *buf, size_t n)
{
    (void)ctx, (void)file;
    int fd = openat(fd_of(dir), name, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *p = buf;
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (w == 0) {   /* no progress and no error: do not spin */
            rc = -EIO;
            break;
        }
        done += (size_t)w;
    }
    return close_checked(fd, rc);
}

static ssize_t dir_read(void *ctx, bench_handle dir, const char *name, bench_handle file,
                        void *buf, size_t n)
{
    (void)ctx, (void)file;
    int fd = openat(fd_of(dir), name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *p = buf;
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (r == 0)
            break;      /* end of file: the caller sees the short count */
        done += (size_t)r;
    }
    rc = close_checked(fd, rc);
    return rc < 0 ? rc : (ssize_t)done;
}

static int dir_unlink(void *ctx, bench_handle dir, const char *name)
{
    (void)ctx;
    return unlinkat(fd_of(dir), name, 0) < 0 ? -errno : 0;
}

static void dir_close(void *ctx, bench_handle root)
{
    (void)ctx;
    close(fd_of(root));
}

static int dir_stat(void *ctx, bench_handle dir, const char *name)
{
    (void)ctx;
    struct stat st;
    return fstatat(fd_of(dir), name, &st, 0) < 0 ? -errno : 0;
}

static const struct bench_ops dir_ops = {
    .mkdir = dir_mkdir,
    .put_dir = dir_put_dir,
    .rmdir = dir_rmdir,
    .create = dir_create,
    .prepare = dir_prepare,
    .write = dir_write,
    .read = dir_read,
    .unlink = dir_unlink,
    .stat = dir_stat,
    .close = dir_close,
};

int bench_target_dir(const char *path, struct bench_target *t)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    t->ops = &dir_ops;
    t->ctx = NULL;
    t->root = (bench_handle)fd;
    return 0;
}
