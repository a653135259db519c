/* side_local.c - the local side of a stage copy: POSIX calls on paths (see side.h). */
#include "side_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static void to_sattr(const struct stat *st, struct sattr *a)
{
    *a = (struct sattr){ .mode = st->st_mode, .uid = st->st_uid, .gid = st->st_gid,
                         .nlink = (uint32_t)st->st_nlink, .size = (uint64_t)st->st_size,
                         .id = st->st_ino, .dev = st->st_dev, .rdev = st->st_rdev,
                         .atime_ns = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec,
                         .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec };
}

int sl_stat(struct side *s, const struct shandle *h, struct sattr *out)
{
    (void)s;
    struct stat st;
    if (lstat(h->path, &st) < 0)
        return -errno;
    to_sattr(&st, out);
    return 0;
}

int sl_lookup(struct side *s, const struct shandle *dir, const char *name, struct shandle *out,
              struct sattr *a)
{
    struct shandle h = { .path = join(dir->path, name) };
    struct sattr tmp;
    if (!h.path)
        return -ENOMEM;
    int rc = sl_stat(s, &h, a ? a : &tmp);
    if (rc == 0 && out)
        *out = h;
    else
        free(h.path);
    return rc;
}

int sl_list(struct side *s, const struct shandle *dir, side_list_fn fn, void *arg)
{
    DIR *d = opendir(dir->path);
    if (!d)
        return -errno;
    int rc = 0;
    errno = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(d)); errno = 0) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct shandle h;
        struct sattr a;
        int r = sl_lookup(s, dir, de->d_name, &h, &a);
        if (r == -ENOENT)
            continue;
        if (r < 0) {
            rc = r;
            break;
        }
        rc = fn(arg, de->d_name, &h, &a);
    }
    if (rc == 0 && errno)
        rc = -errno;
    closedir(d);
    return rc;
}

static int made(const struct shandle *dir, const char *name, struct shandle *out)
{
    if (!out)
        return 0;
    out->ino = 0;
    return (out->path = join(dir->path, name)) ? 0 : -ENOMEM;
}

int sl_mkdir(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
             struct shandle *out)
{
    (void)s, (void)a;
    char *p = join(dir->path, name);
    if (!p)
        return -ENOMEM;
    int rc = mkdir(p, 0700) < 0 ? -errno : 0;
    free(p);
    return rc < 0 ? rc : made(dir, name, out);
}

int sl_create(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
              struct shandle *out, struct sfile *f)
{
    (void)s, (void)a;
    char *p = join(dir->path, name);
    if (!p)
        return -ENOMEM;
    /* 0600 until the data is in: the mode (setuid bits too) is set last. */
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    free(p);
    if (fd < 0)
        return -errno;
    f->fd = fd;
    int rc = made(dir, name, out);
    if (rc < 0) {
        close(fd);
        f->fd = -1;
    }
    return rc;
}

int sl_symlink(struct side *s, const struct shandle *dir, const char *name, const char *target,
               const struct sattr *a, struct shandle *out)
{
    (void)s, (void)a;
    char *p = join(dir->path, name);
    if (!p)
        return -ENOMEM;
    int rc = symlink(target, p) < 0 ? -errno : 0;
    free(p);
    return rc < 0 ? rc : made(dir, name, out);
}

int sl_mknod(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
             struct shandle *out)
{
    (void)s;
    char *p = join(dir->path, name);
    if (!p)
        return -ENOMEM;
    int rc = mknod(p, (a->mode & S_IFMT) | 0600, (dev_t)a->rdev) < 0 ? -errno : 0;
    free(p);
    return rc < 0 ? rc : made(dir, name, out);
}

int sl_readlink(struct side *s, const struct shandle *h, char *buf, size_t size)
{
    (void)s;
    ssize_t n = readlink(h->path, buf, size);
    if (n < 0)
        return -errno;
    if ((size_t)n >= size)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    return 0;
}

int sl_link(struct side *s, const struct shandle *h, const struct shandle *dir, const char *name)
{
    (void)s;
    char *p = join(dir->path, name);
    if (!p)
        return -ENOMEM;
    int rc = link(h->path, p) < 0 ? -errno : 0;
    free(p);
    return rc;
}

int sl_unlink(struct side *s, const struct shandle *dir, const char *name, int is_dir)
{
    (void)s;
    char *p = join(dir->path, name);
    if (!p)
        return -ENOMEM;
    int rc = (is_dir ? rmdir(p) : unlink(p)) < 0 ? -errno : 0;
    free(p);
    return rc;
}

int sl_setattr(struct side *s, const struct shandle *h, struct sfile *f, const struct sattr *a,
               unsigned what, uint32_t type)
{
    int fd = f && f->fd >= 0 ? f->fd : -1;
    if ((what & SA_SIZE) && fd >= 0 && ftruncate(fd, (off_t)a->size) < 0)
        return -errno;
    /* The owner first: chown clears the setuid and setgid bits. */
    if ((what & SA_OWNER) && s->keep_owner &&
        (fd >= 0 ? fchown(fd, a->uid, a->gid) : lchown(h->path, a->uid, a->gid)) < 0)
        return -errno;
    if ((what & SA_MODE) && type != S_IFLNK &&
        (fd >= 0 ? fchmod(fd, a->mode & 07777) : chmod(h->path, a->mode & 07777)) < 0)
        return -errno;
    if (what & SA_TIMES) {
        struct timespec ts[2] = {
            { .tv_sec = a->atime_ns / 1000000000, .tv_nsec = a->atime_ns % 1000000000 },
            { .tv_sec = a->mtime_ns / 1000000000, .tv_nsec = a->mtime_ns % 1000000000 },
        };
        for (int i = 0; i < 2; i++)
            if (ts[i].tv_nsec < 0) {   /* before 1970 */
                ts[i].tv_sec--;
                ts[i].tv_nsec += 1000000000;
            }
        if ((fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, h->path, ts, AT_SYMLINK_NOFOLLOW)) < 0)
            return -errno;
    }
    return 0;
}

int sl_open(struct side *s, const struct shandle *h, int write, struct sfile *f)
{
    (void)s;
    f->fd = open(h->path, (write ? O_WRONLY : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    return f->fd < 0 ? -errno : 0;
}

void sl_close(struct side *s, struct sfile *f)
{
    (void)s;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

ssize_t sl_pread(struct side *s, struct sfile *f, void *buf, size_t len, uint64_t off)
{
    (void)s;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t sl_pwrite(struct side *s, struct sfile *f, const void *buf, size_t len, uint64_t off)
{
    (void)s;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int sl_next_data(struct side *s, struct sfile *f, uint64_t off, uint64_t size, uint64_t *start,
                 uint64_t *end)
{
    (void)s;
    if (off >= size)
        return 1;
    off_t d = lseek(f->fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO)
            return 1;   /* only a hole up to the end */
        /* A file system without SEEK_DATA: all of it is data. */
        *start = off;
        *end = size;
        return 0;
    }
    if ((uint64_t)d >= size)
        return 1;
    off_t h = lseek(f->fd, d, SEEK_HOLE);
    *start = (uint64_t)d;
    *end = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
    return 0;
}
