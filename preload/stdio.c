/* stdio.c - fopen & co. of a BenchFS file: a FILE made with fopencookie whose
 * functions are this library's read/write/lseek/close on the preload fd (so
 * buffering is glibc's and every byte goes over RPC). fileno() of such a FILE
 * is its preload fd (glibc's own answer would be -1), from a set of the live
 * cookie FILEs. A path the kernel serves gets libc's ordinary FILE. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cookie_file {
    FILE *fp;
    int fd;
    struct cookie_file *next;
};
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cookie_file *live;
static atomic_int nlive;

static int cookie_fd(FILE *fp)
{
    if (!fp || atomic_load(&nlive) == 0)
        return -1;
    int fd = -1;
    pthread_mutex_lock(&set_lock);
    for (struct cookie_file *c = live; c; c = c->next)
        if (c->fp == fp) {
            fd = c->fd;
            break;
        }
    pthread_mutex_unlock(&set_lock);
    return fd;
}

static void forget(FILE *fp)
{
    pthread_mutex_lock(&set_lock);
    for (struct cookie_file **pp = &live; *pp; pp = &(*pp)->next)
        if ((*pp)->fp == fp) {
            struct cookie_file *c = *pp;
            *pp = c->next;
            free(c);
            atomic_fetch_sub(&nlive, 1);
            break;
        }
    pthread_mutex_unlock(&set_lock);
}

static ssize_t c_read(void *cookie, char *buf, size_t size)
{
    return read((int)(intptr_t)cookie, buf, size);
}
static ssize_t c_write(void *cookie, const char *buf, size_t size)
{
    ssize_t n = write((int)(intptr_t)cookie, buf, size);
    return n < 0 ? 0 : n;   /* fopencookie: 0 is the error */
}
static int c_seek(void *cookie, off64_t *pos, int whence)
{
    off_t r = lseek((int)(intptr_t)cookie, *pos, whence);
    if (r < 0)
        return -1;
    *pos = r;
    return 0;
}
static int c_close(void *cookie)
{
    return close((int)(intptr_t)cookie);
}

/* fopen's mode string -> open flags; -1 for a bad one. */
static int mode_flags(const char *mode)
{
    int flags;
    switch (mode[0]) {
    case 'r': flags = O_RDONLY; break;
    case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return -1;
    }
    for (const char *m = mode + 1; *m && *m != ','; m++) {
        if (*m == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'x')
            flags |= O_EXCL;
        else if (*m == 'e')
            flags |= O_CLOEXEC;
    }
    return flags;
}

/* A FILE over a preload fd (owning it), or NULL with errno. */
static FILE *cookie_open(int fd, const char *mode)
{
    static const cookie_io_functions_t io = { c_read, c_write, c_seek, c_close };
    struct cookie_file *c = malloc(sizeof *c);
    FILE *fp = c ? fopencookie((void *)(intptr_t)fd, mode, io) : NULL;
    if (!fp) {
        free(c);
        errno = errno ? errno : ENOMEM;
        return NULL;
    }
    c->fp = fp;
    c->fd = fd;
    pthread_mutex_lock(&set_lock);
    c->next = live;
    live = c;
    atomic_fetch_add(&nlive, 1);
    pthread_mutex_unlock(&set_lock);
    return fp;
}

static int is_preload_fd(int fd)
{
    struct pl_file *f = pl_fd_get(fd);
    if (f)
        pl_file_put(f);
    return f != NULL;
}

static FILE *do_fopen(const char *path, const char *mode, FILE *(*real)(const char *, const char *))
{
    struct pl_path p;
    if (pl_off() || pl_path_at(AT_FDCWD, path, &p) <= 0)
        return real(path, mode);
    int flags = mode_flags(mode);
    if (flags < 0) {
        errno = EINVAL;
        return NULL;
    }
    int fd = open(path, flags, 0666);
    if (fd < 0)
        return NULL;
    if (!is_preload_fd(fd)) {   /* the kernel opened it (a fallback): libc's FILE */
        FILE *fp = REAL(fdopen)(fd, mode);
        if (!fp) {
            int e = errno;
            close(fd);
            errno = e;
        }
        return fp;
    }
    FILE *fp = cookie_open(fd, mode);
    if (!fp) {
        int e = errno;
        close(fd);
        errno = e;
    }
    PL_DEBUG("intercepted fopen %s \"%s\": fd %d", p.abs, mode, fd);
    return fp;
}

FILE *fopen(const char *path, const char *mode)
{
    return do_fopen(path, mode, REAL(fopen));
}
FILE *fopen64(const char *path, const char *mode)
{
    return do_fopen(path, mode, REAL(fopen64));
}

FILE *fdopen(int fd, const char *mode)
{
    if (pl_off() || !is_preload_fd(fd))
        return REAL(fdopen)(fd, mode);
    PL_DEBUG("intercepted fdopen %d", fd);
    return cookie_open(fd, mode);
}

/* freopen keeps the FILE* (often stdout): libc's, onto the file through the
 * mount. A cookie FILE being reopened leaves the set first. */
FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    if (cookie_fd(fp) >= 0)
        forget(fp);
    return REAL(freopen)(path, mode, fp);
}
FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    if (cookie_fd(fp) >= 0)
        forget(fp);
    return REAL(freopen64)(path, mode, fp);
}

int fclose(FILE *fp)
{
    if (cookie_fd(fp) >= 0)
        forget(fp);
    return REAL(fclose)(fp);
}

int fileno(FILE *fp)
{
    int fd = cookie_fd(fp);
    return fd >= 0 ? fd : REAL(fileno)(fp);
}
int fileno_unlocked(FILE *fp)
{
    int fd = cookie_fd(fp);
    return fd >= 0 ? fd : REAL(fileno_unlocked)(fp);
}

/* glibc's dprintf writes with its internal write: onto /dev/null. Convert first. */
int vdprintf(int fd, const char *fmt, va_list ap)
{
    if (!pl_off())
        pl_fd_convert(fd, "dprintf");
    return REAL(vdprintf)(fd, fmt, ap);
}
int dprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vdprintf(fd, fmt, ap);
    va_end(ap);
    return n;
}
