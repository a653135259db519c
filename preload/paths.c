/* paths.c - from (dirfd, path) to "is it BenchFS, and which path inside it":
 * the absolute path (the cwd for a relative one, a kernel dirfd through
 * /proc/self/fd/N), cleaned lexically ("." and ".." and repeated slashes),
 * then looked up in the mount table (mounts.c). A path that reaches a mount
 * only through a symlink outside it is not seen as BenchFS: the kernel (and
 * so the mount) does it, correctly. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;
static char cwd[4096];
static int cwd_valid;

void pl_cwd_changed(void)
{
    pthread_mutex_lock(&cwd_lock);
    cwd_valid = 0;
    pthread_mutex_unlock(&cwd_lock);
}

static int get_cwd(char *out, size_t size)
{
    int rc = 0;
    pthread_mutex_lock(&cwd_lock);
    if (!cwd_valid) {
        if (REAL(getcwd)(cwd, sizeof cwd))
            cwd_valid = 1;
        else
            rc = -errno;
    }
    if (rc == 0 && snprintf(out, size, "%s", cwd) >= (int)size)
        rc = -ENAMETOOLONG;
    pthread_mutex_unlock(&cwd_lock);
    return rc;
}

/* Where a kernel dirfd points, remembered: readlink of /proc/self/fd/N costs
 * more than the rest of an *at call. An entry is trusted only while an fstat
 * of the fd still shows its inode (a close the library did not see, then a
 * reuse of the number, shows another). */
#define DIRFD_CACHE 64
static struct {
    int fd;                 /* -1: empty */
    dev_t dev;
    ino_t ino;
    char path[4096];
} dirfds[DIRFD_CACHE];
static pthread_mutex_t dirfd_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int dirfd_init;

static int dirfd_path(int dirfd, char *out, size_t size)
{
    struct stat st;
    if (REAL(fstat)(dirfd, &st) < 0)
        return -errno;
    int slot = dirfd % DIRFD_CACHE, hit = 0;
    pthread_mutex_lock(&dirfd_lock);
    if (!atomic_load(&dirfd_init)) {
        for (int i = 0; i < DIRFD_CACHE; i++)
            dirfds[i].fd = -1;
        atomic_store(&dirfd_init, 1);
    }
    if (dirfds[slot].fd == dirfd && dirfds[slot].dev == st.st_dev && dirfds[slot].ino == st.st_ino &&
        snprintf(out, size, "%s", dirfds[slot].path) < (int)size)
        hit = 1;
    pthread_mutex_unlock(&dirfd_lock);
    if (hit)
        return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = REAL(readlink)(link, out, size - 1);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    if (out[0] == '/' && S_ISDIR(st.st_mode) && (size_t)n < sizeof dirfds[0].path) {
        pthread_mutex_lock(&dirfd_lock);
        dirfds[slot].fd = dirfd;
        dirfds[slot].dev = st.st_dev;
        dirfds[slot].ino = st.st_ino;
        memcpy(dirfds[slot].path, out, (size_t)n + 1);
        pthread_mutex_unlock(&dirfd_lock);
    }
    return 0;
}

void pl_dirfd_forget(int fd)
{
    if (fd < 0 || !atomic_load(&dirfd_init))
        return;
    pthread_mutex_lock(&dirfd_lock);
    if (dirfds[fd % DIRFD_CACHE].fd == fd)
        dirfds[fd % DIRFD_CACHE].fd = -1;
    pthread_mutex_unlock(&dirfd_lock);
}

/* Lexical clean-up in place: abs starts with '/'. The output ("/c1/c2")
 * never overtakes the input: each kept component is written after a '/'
 * that the input had before it. */
static void clean(char *abs)
{
    char *w = abs;
    const char *r = abs;
    while (*r) {
        while (*r == '/')
            r++;
        size_t n = strcspn(r, "/");
        if (n == 0)
            break;
        if (n == 2 && r[0] == '.' && r[1] == '.') {
            while (w > abs && *--w != '/')
                ;
        } else if (!(n == 1 && r[0] == '.')) {
            *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r += n;
    }
    if (w == abs)
        *w++ = '/';
    *w = '\0';
}

/* "/" itself: the root mount's, if BenchFS is mounted on "/". */
static int pl_path_root(struct pl_path *p)
{
    strcpy(p->abs, "/");
    p->m = pl_mount_find(p->abs, &p->inner);
    return p->m != NULL;
}

int pl_path_at(int dirfd, const char *path, struct pl_path *p)
{
    int rc;
    p->m = NULL;
    p->dir_only = 0;
    if (!path)
        return -EFAULT;
    /* "d/." and "d/..": the kernel's rules for them (EINVAL for rmdir of
     * ".", ...) are not worth copying: the mount does them. "dir/" must name
     * a directory: p->dir_only (stat checks it; other calls go to the mount). */
    size_t len = strlen(path);
    p->dir_only = len > 1 && path[len - 1] == '/';
    if (len && path[len - 1] == '.' && (len == 1 || path[len - 2] == '/' ||
                                        (path[len - 2] == '.' && (len == 2 || path[len - 3] == '/'))))
        return 0;
    if (len == 1 && path[0] == '/')
        return pl_path_root(p);
    if (path[0] == '/') {
        if (snprintf(p->abs, sizeof p->abs, "%s", path) >= (int)sizeof p->abs)
            return -ENAMETOOLONG;
    } else {
        char base[4096];
        if (dirfd == AT_FDCWD) {
            rc = get_cwd(base, sizeof base);
        } else {
            struct pl_file *f = pl_fd_get(dirfd);
            if (f) {   /* preload fds are regular files */
                pl_file_put(f);
                return path[0] ? -ENOTDIR : 0;
            }
            rc = dirfd_path(dirfd, base, sizeof base);
            if (rc == 0 && base[0] != '/')
                return 0;   /* a pipe, socket, anon inode: the kernel's business */
        }
        if (rc < 0)
            return rc == -ENOENT || rc == -EBADF ? 0 : rc;
        if (snprintf(p->abs, sizeof p->abs, "%s/%s", base, path) >= (int)sizeof p->abs)
            return -ENAMETOOLONG;
    }
    clean(p->abs);
    p->m = pl_mount_find(p->abs, &p->inner);
    if (p->m && pl_converted(p->m, p->inner)) {
        PL_DEBUG("%s: through the mount (converted to a kernel fd before)", p->abs);
        p->m = NULL;
    }
    return p->m != NULL;
}

int pl_path_kernel(const struct pl_mount *m, const char *inner, char *out, size_t size)
{
    int n = snprintf(out, size, "%s%s", m->mnt_len ? m->mnt : "", inner);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
