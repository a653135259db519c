/* dirs.c - directory streams: opendir/fdopendir of a BenchFS directory read
 * over RPC. The DIR* handed out is ours (a struct with a magic), and every
 * other directory call checks a set of the live ones before it believes the
 * pointer is ours; anything else goes to libc. dirfd() of one is a real
 * kernel fd onto the directory through the mount (opened on first use), so
 * fchdir, fstat and *at calls with it just work. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIR_MAGIC 0x62656e6368646972ULL   /* "benchdir" */

struct pl_dir {
    uint64_t magic;
    benchfs_dir_t *d;
    struct pl_mount *m;
    char *inner;
    int kfd;                 /* dirfd(): -1 until asked; closed by closedir */
    pthread_mutex_t lock;    /* guards the stream, ent, kfd, kernel */
    struct dirent ent;
    long read;               /* entries returned (for a forked child's kernel reopen) */
    int forked;              /* in a fork child: d belongs to the parent's connection */
    DIR *kernel;             /* forked: the same directory through the mount */
    struct pl_dir *next;
};

static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_dir *live;
static atomic_int nlive;

/* The preload stream dirp is, or NULL (a libc DIR*). */
static struct pl_dir *ours(const void *dirp)
{
    if (!dirp || atomic_load(&nlive) == 0)
        return NULL;
    pthread_mutex_lock(&set_lock);
    struct pl_dir *p = live;
    while (p && (const void *)p != dirp)
        p = p->next;
    pthread_mutex_unlock(&set_lock);
    return p && p->magic == DIR_MAGIC ? p : NULL;
}

static DIR *open_stream(struct pl_mount *m, const char *inner, benchfs_dir_t *d, int kfd)
{
    struct pl_dir *p = calloc(1, sizeof *p);
    char *copy = strdup(inner);
    if (!p || !copy) {
        free(p);
        free(copy);
        PL_LIB(BFS(closedir)(d));
        errno = ENOMEM;
        return NULL;
    }
    p->magic = DIR_MAGIC;
    p->d = d;
    p->m = m;
    p->inner = copy;
    p->kfd = kfd;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_lock(&set_lock);
    p->next = live;
    live = p;
    atomic_fetch_add(&nlive, 1);
    pthread_mutex_unlock(&set_lock);
    return (DIR *)(void *)p;
}

DIR *opendir(const char *path)
{
    struct pl_path p;
    if (pl_off() || pl_path_at(AT_FDCWD, path, &p) <= 0)
        return REAL(opendir)(path);
    benchfs_t *fs = pl_mount_fs(p.m);
    benchfs_dir_t *d = NULL;
    int rc = fs ? PL_LIB(BFS(opendir)(fs, p.inner, &d)) : -EOPNOTSUPP;
    if (rc == -EXDEV || rc == -EOPNOTSUPP) {
        PL_DEBUG("opendir %s: through the mount (%s)", p.abs, fs ? strerror(-rc) : "not connected");
        return REAL(opendir)(path);
    }
    PL_DEBUG("intercepted opendir %s: %s", p.abs, rc < 0 ? strerror(-rc) : "ok");
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return open_stream(p.m, p.inner, d, -1);
}

/* A kernel directory fd inside a mount: read it over RPC; the stream owns fd. */
DIR *fdopendir(int fd)
{
    struct pl_path p;
    struct pl_file *f = pl_off() ? NULL : pl_fd_get(fd);
    if (f)
        pl_file_put(f);   /* a preload fd is a regular file: the kernel says ENOTDIR */
    if (f || pl_off() || pl_path_at(fd, "", &p) <= 0)
        return REAL(fdopendir)(fd);
    struct stat st;
    int fl = REAL(fcntl)(fd, F_GETFL);
    benchfs_t *fs = pl_mount_fs(p.m);
    if (!fs || fl < 0 || (fl & O_PATH) || REAL(fstat)(fd, &st) < 0 || !S_ISDIR(st.st_mode))
        return REAL(fdopendir)(fd);
    benchfs_dir_t *d = NULL;
    int rc = PL_LIB(BFS(opendir)(fs, p.inner, &d));
    if (rc < 0) {
        PL_DEBUG("fdopendir %d (%s): through the mount (%s)", fd, p.abs, strerror(-rc));
        return REAL(fdopendir)(fd);
    }
    PL_DEBUG("intercepted fdopendir %d (%s)", fd, p.abs);
    return open_stream(p.m, p.inner, d, fd);
}

/* forked child: the rest of the stream through the mount, skipping what was read. */
static int reopen_kernel(struct pl_dir *p)
{
    if (p->kernel)
        return 0;
    char path[8192];
    if (pl_path_kernel(p->m, p->inner, path, sizeof path) < 0)
        return -ENAMETOOLONG;
    p->kernel = REAL(opendir)(path);
    if (!p->kernel)
        return -errno;
    for (long i = 0; i < p->read && REAL(readdir)(p->kernel); i++)
        ;
    return 0;
}

static struct dirent *next_entry(struct pl_dir *p)
{
    struct dirent *r = NULL;
    int e = errno;
    pthread_mutex_lock(&p->lock);
    if (p->forked) {
        int rc = reopen_kernel(p);
        if (rc < 0)
            e = -rc;
        else if ((r = REAL(readdir)(p->kernel)))
            p->ent = *r, r = &p->ent;
        else
            e = errno;
    } else {
        int rc = PL_LIB(BFS(readdir)(p->d, &p->ent));
        if (rc > 0) {
            r = &p->ent;
            p->read++;
        } else if (rc < 0) {
            e = -rc;
        }
    }
    pthread_mutex_unlock(&p->lock);
    errno = e;
    return r;
}

struct dirent *readdir(DIR *dirp)
{
    struct pl_dir *p = ours(dirp);
    return p ? next_entry(p) : REAL(readdir)(dirp);
}

/* x86-64: struct dirent64 is struct dirent. */
struct dirent64 *readdir64(DIR *dirp)
{
    struct pl_dir *p = ours(dirp);
    return p ? (struct dirent64 *)(void *)next_entry(p) : REAL(readdir64)(dirp);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
int readdir_r(DIR *dirp, struct dirent *entry, struct dirent **result)
{
    struct pl_dir *p = ours(dirp);
    if (!p)
        return REAL(readdir_r)(dirp, entry, result);
    errno = 0;
    struct dirent *e = next_entry(p);
    if (!e && errno)
        return errno;
    if (e)
        *entry = *e;
    *result = e ? entry : NULL;
    return 0;
}
#pragma GCC diagnostic pop

int closedir(DIR *dirp)
{
    struct pl_dir *p = ours(dirp);
    if (!p)
        return REAL(closedir)(dirp);
    pthread_mutex_lock(&set_lock);
    for (struct pl_dir **pp = &live; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    atomic_fetch_sub(&nlive, 1);
    pthread_mutex_unlock(&set_lock);
    int rc = 0;
    if (p->kernel)
        REAL(closedir)(p->kernel);
    if (!p->forked)
        rc = PL_LIB(BFS(closedir)(p->d));
    if (p->kfd >= 0)
        REAL(close)(p->kfd);
    p->magic = 0;
    free(p->inner);
    free(p);
    return (int)pl_ret(rc);
}

void rewinddir(DIR *dirp)
{
    struct pl_dir *p = ours(dirp);
    if (!p) {
        REAL(rewinddir)(dirp);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (p->forked && p->kernel)
        REAL(rewinddir)(p->kernel);
    else if (!p->forked)
        PL_LIB((BFS(rewinddir)(p->d), 0));
    p->read = 0;
    pthread_mutex_unlock(&p->lock);
}

long telldir(DIR *dirp)
{
    struct pl_dir *p = ours(dirp);
    if (!p)
        return REAL(telldir)(dirp);
    pthread_mutex_lock(&p->lock);
    long pos = p->forked ? (reopen_kernel(p) == 0 ? REAL(telldir)(p->kernel) : -1)
                         : PL_LIB(BFS(telldir)(p->d));
    pthread_mutex_unlock(&p->lock);
    return pos;
}

void seekdir(DIR *dirp, long pos)
{
    struct pl_dir *p = ours(dirp);
    if (!p) {
        REAL(seekdir)(dirp, pos);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (p->forked) {
        if (reopen_kernel(p) == 0)
            REAL(seekdir)(p->kernel, pos);
    } else {
        PL_LIB((BFS(seekdir)(p->d, pos), 0));
    }
    pthread_mutex_unlock(&p->lock);
}

int dirfd(DIR *dirp)
{
    struct pl_dir *p = ours(dirp);
    if (!p)
        return REAL(dirfd)(dirp);
    pthread_mutex_lock(&p->lock);
    if (p->kfd < 0) {
        char path[8192];
        if (pl_path_kernel(p->m, p->inner, path, sizeof path) == 0)
            p->kfd = REAL(open)(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else
            errno = ENAMETOOLONG;
    }
    int fd = p->kfd;
    pthread_mutex_unlock(&p->lock);
    return fd;
}

void pl_dirs_forked(void)
{
    pthread_mutex_init(&set_lock, NULL);
    for (struct pl_dir *p = live; p; p = p->next) {
        pthread_mutex_init(&p->lock, NULL);
        p->forked = 1;
    }
}
