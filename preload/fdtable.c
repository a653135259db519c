/* fdtable.c - which fds name a file BenchFS serves, and converting them into
 * plain kernel fds through the mount.
 *
 * Every preload fd is a real kernel fd onto /dev/null, a dup of one the
 * library keeps (so numbers never collide, fd limits, dup2 and FD_CLOEXEC keep
 * working, and a write through a raw syscall fails with EBADF instead of going
 * anywhere). The table maps its
 * number to a refcounted open-file object; dup'd fds share the object (and so
 * the offset). Lookups are lock-free: two-level array of atomic pointers, and
 * objects are type-stable (a freed object goes to a free list, never back to
 * malloc), so a lookup racing with a close takes its reference with
 * increment-if-not-zero and checks the slot still holds it. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BITS 10
#define PAGE_SIZE_FDS (1 << PAGE_BITS)
#define NPAGES 1024   /* fds up to 2^20 */

typedef struct pl_file *_Atomic slot_t;
static slot_t *_Atomic pages[NPAGES];
static atomic_int fd_limit;
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_file *free_list;
static pthread_mutex_t convert_lock = PTHREAD_MUTEX_INITIALIZER;
static void converted_add(const struct pl_mount *m, const char *inner);

static slot_t *slot_of(int fd, int create)
{
    if (fd < 0 || fd >= NPAGES * PAGE_SIZE_FDS)
        return NULL;
    slot_t *page = atomic_load_explicit(&pages[fd >> PAGE_BITS], memory_order_acquire);
    if (!page && create) {
        slot_t *fresh = calloc(PAGE_SIZE_FDS, sizeof *fresh);
        if (!fresh)
            return NULL;
        slot_t *expect = NULL;
        if (atomic_compare_exchange_strong(&pages[fd >> PAGE_BITS], &expect, fresh))
            page = fresh;
        else {
            free(fresh);
            page = expect;
        }
    }
    return page ? &page[fd & (PAGE_SIZE_FDS - 1)] : NULL;
}

int pl_fd_limit(void)
{
    return atomic_load(&fd_limit);
}

struct pl_file *pl_file_new(struct pl_mount *m, const char *inner, benchfs_file_t *bf, int flags)
{
    char *copy = strdup(inner);
    if (!copy)
        return NULL;
    pthread_mutex_lock(&free_lock);
    struct pl_file *f = free_list;
    if (f)
        free_list = f->next_free;
    pthread_mutex_unlock(&free_lock);
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f) {
            free(copy);
            return NULL;
        }
        pthread_mutex_init(&f->lock, NULL);
    }
    f->bf = bf;
    f->m = m;
    f->inner = copy;
    atomic_store(&f->flags, flags);
    f->off = 0;
    atomic_store(&f->refs, 0);
    return f;
}

struct pl_file *pl_fd_get(int fd)
{
    slot_t *s = slot_of(fd, 0);
    if (!s)
        return NULL;
    for (;;) {
        struct pl_file *f = atomic_load_explicit(s, memory_order_acquire);
        if (!f)
            return NULL;
        int r = atomic_load(&f->refs);
        while (r > 0 && !atomic_compare_exchange_weak(&f->refs, &r, r + 1))
            ;
        if (r > 0) {
            if (atomic_load(s) == f)
                return f;
            pl_file_put(f);
        }
        /* closed (and maybe reused) under us: look again */
    }
}

void pl_file_put(struct pl_file *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    if (f->bf) {
        int rc = PL_LIB(BFS(close)(f->bf));
        if (rc < 0)
            pl_warn("close of %s%s: %s", f->m->mnt, f->inner, strerror(-rc));
    }
    f->bf = NULL;
    free(f->inner);
    f->inner = NULL;
    pthread_mutex_lock(&free_lock);
    f->next_free = free_list;
    free_list = f;
    pthread_mutex_unlock(&free_lock);
}

int pl_fd_install(int fd, struct pl_file *f)
{
    slot_t *s = slot_of(fd, 1);
    if (!s)
        return fd < 0 ? -EBADF : -ENOMEM;
    atomic_fetch_add(&f->refs, 1);
    struct pl_file *old = atomic_exchange(s, f);
    if (old)
        pl_file_put(old);
    int lim = atomic_load(&fd_limit);
    while (fd + 1 > lim && !atomic_compare_exchange_weak(&fd_limit, &lim, fd + 1))
        ;
    return 0;
}

/* The fd every reservation is a dup of: a dup costs ~0.5 us here, an open of
 * /dev/null ~2.5 us (path walk, device open, security hooks). O_CLOEXEC, so an
 * exec'd program never sees it; a fork's child shares it. fd_limit covers it,
 * so close_range and closefrom (and close, dup2, dup3) of its number reach
 * pl_fd_forget, which drops it; a reservation that finds it gone (a raw close
 * syscall) opens another. Like libc's own fds (syslog, nscd), it trusts the
 * program not to put a file of its own on that number behind libc's back (a
 * raw dup2 syscall, or a raw close and then an open): reservations would then
 * be dups of that file. */
static atomic_int null_fd = -1;

static int null_base(void)
{
    int fd = atomic_load(&null_fd);
    if (fd >= 0)
        return fd;
    fd = REAL(open)("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int expect = -1;
    if (!atomic_compare_exchange_strong(&null_fd, &expect, fd)) {
        REAL(close)(fd);   /* another thread's won */
        return expect;
    }
    int lim = atomic_load(&fd_limit);
    while (fd + 1 > lim && !atomic_compare_exchange_weak(&fd_limit, &lim, fd + 1))
        ;
    return fd;
}

void pl_fd_forget(int fd)
{
    int base = fd;
    atomic_compare_exchange_strong(&null_fd, &base, -1);
    slot_t *s = slot_of(fd, 0);
    if (!s)
        return;
    struct pl_file *old = atomic_exchange(s, NULL);
    if (old)
        pl_file_put(old);
}

int pl_fd_reserve(int cloexec)
{
    for (int tries = 0; tries < 2; tries++) {
        int base = null_base();
        if (base < 0)
            return -1;
        int fd = REAL(fcntl)(base, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
        if (fd >= 0 || errno != EBADF)
            return fd;
        atomic_compare_exchange_strong(&null_fd, &base, -1);   /* closed behind our back */
    }
    return -1;
}

/* Converts the object of fd: every fd naming it becomes a kernel fd. Under convert_lock. */
static int convert_locked(int fd, const char *why)
{
    struct pl_file *f = pl_fd_get(fd);
    if (!f)
        return 0;
    char path[8192];
    int rc = pl_path_kernel(f->m, f->inner, path, sizeof path);
    int kfd = -1;
    pthread_mutex_lock(&f->lock);
    if (rc == 0) {
        int flags = atomic_load(&f->flags) & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
        pl_in_lib++;
        /* The mount may not see a file made over RPC yet: a name it looked up
         * before stays missing (or names the old inode) for its
         * negative_timeout/entry_timeout (1 s by default). Wait that out,
         * bounded, while the open says so. */
        for (int tries = 0;; tries++) {
            kfd = REAL(open)(path, flags | O_CLOEXEC);
            rc = kfd < 0 ? -errno : 0;
            if ((rc != -ENOENT && rc != -ESTALE) || tries == 75)
                break;
            struct timespec ts = { 0, 20 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        struct stat st;
        if (rc == 0 && REAL(fstat)(kfd, &st) == 0 && (uint64_t)st.st_ino != BFS(file_ino)(f->bf))
            rc = -ESTALE;   /* renamed or unlinked since: that path is another file now */
        if (rc == 0 && REAL(lseek)(kfd, f->off, SEEK_SET) < 0)
            rc = -errno;
        pl_in_lib--;
    }
    if (rc < 0) {
        pthread_mutex_unlock(&f->lock);
        pl_warn("cannot convert fd %d (%s%s) to a kernel fd for %s: %s; it stays a preload fd", fd,
                f->m->mnt, f->inner, why, strerror(-rc));
        if (kfd >= 0)
            REAL(close)(kfd);
        pl_file_put(f);
        return rc;
    }
    converted_add(f->m, f->inner);
    int lim = pl_fd_limit();
    for (int n = 0; n < lim; n++) {
        slot_t *s = slot_of(n, 0);
        if (!s || atomic_load(s) != f)
            continue;
        int fdflags = REAL(fcntl)(n, F_GETFD);
        if (REAL(dup3)(kfd, n, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
            pl_warn("converting fd %d: dup3: %s", n, strerror(errno));
            continue;
        }
        PL_DEBUG("fd %d (%s%s) is a kernel fd now (%s)", n, f->m->mnt, f->inner, why);
        pl_fd_forget(n);
    }
    pthread_mutex_unlock(&f->lock);
    REAL(close)(kfd);
    pl_file_put(f);
    return 0;
}

int pl_fd_convert(int fd, const char *why)
{
    if (!slot_of(fd, 0) || !atomic_load(slot_of(fd, 0)))
        return 0;
    pthread_mutex_lock(&convert_lock);
    int rc = convert_locked(fd, why);
    pthread_mutex_unlock(&convert_lock);
    return rc;
}

void pl_fd_convert_all(int only_inherited, const char *why)
{
    pthread_mutex_lock(&convert_lock);
    int lim = pl_fd_limit();
    for (int n = 0; n < lim; n++) {
        slot_t *s = slot_of(n, 0);
        if (!s || !atomic_load(s))
            continue;
        if (only_inherited) {
            int fdflags = REAL(fcntl)(n, F_GETFD);
            if (fdflags < 0 || (fdflags & FD_CLOEXEC))
                continue;
        }
        convert_locked(n, why);
    }
    pthread_mutex_unlock(&convert_lock);
}

void pl_fd_orphan_all(void)
{
    /* fork child: files that could not be converted belong to the parent's
     * connection, which the child does not have. Their fds stay (reserved
     * /dev/null); the objects are dropped unclosed. */
    int lim = pl_fd_limit();
    for (int n = 0; n < lim; n++) {
        slot_t *s = slot_of(n, 0);
        if (s && atomic_exchange(s, NULL))
            pl_warn("fd %d is not usable in the child (it could not be converted before fork)", n);
    }
    pthread_mutex_init(&convert_lock, NULL);
    pthread_mutex_init(&free_lock, NULL);
    free_list = NULL;
}

/* Files converted to kernel fds: from then on every call on their path goes
 * through the kernel too, so that this process sees one view of the file (the
 * mount's caches and libbenchfs's would each miss the other's changes for up
 * to attr_timeout). Never shrinks: a handful of files per process. */
struct converted {
    struct converted *next;
    const struct pl_mount *m;
    char inner[];
};
static struct converted *_Atomic conv_head;
static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;

static void converted_add(const struct pl_mount *m, const char *inner)
{
    if (pl_converted(m, inner))
        return;
    size_t n = strlen(inner) + 1;
    struct converted *c = malloc(sizeof *c + n);
    if (!c)
        return;
    c->m = m;
    memcpy(c->inner, inner, n);
    pthread_mutex_lock(&conv_lock);
    c->next = atomic_load(&conv_head);
    atomic_store(&conv_head, c);
    pthread_mutex_unlock(&conv_lock);
}

int pl_converted(const struct pl_mount *m, const char *inner)
{
    for (struct converted *c = atomic_load(&conv_head); c; c = c->next)
        if (c->m == m && strcmp(c->inner, inner) == 0)
            return 1;
    return 0;
}
