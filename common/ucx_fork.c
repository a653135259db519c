/* ucx_fork.c - see ucx_fork.h */
#include "ucx_fork.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

enum fd_kind { FD_OTHER, FD_EPOLL, FD_PIPE };

/* UCX's thread's epoll fd (low 32 bits) and the inode of the wake-up pipe it
 * watches (high 32: pipe inodes are 32-bit), in one word: no lock, so that a
 * fork while another thread records it cannot leave the child a held mutex.
 * 0: none. */
static _Atomic uint64_t record;
static atomic_bool registered;

/* What fd is; for a pipe, *ino is its inode. */
static enum fd_kind fd_kind(int fd, unsigned long *ino)
{
    char path[40], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0)
        return FD_OTHER;
    link[n] = '\0';
    if (strcmp(link, "anon_inode:[eventpoll]") == 0)
        return FD_EPOLL;
    if (strncmp(link, "pipe:[", 6) == 0) {
        if (ino)
            *ino = strtoul(link + 6, NULL, 10);
        return FD_PIPE;
    }
    return FD_OTHER;
}

static bool noted(const struct ucx_fork_scan *s, int fd)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->fds[i] == fd)
            return true;
    return false;
}

/* Calls fn(fd, arg) for each fd of the process; false if it cannot list them. */
static bool each_fd(void (*fn)(int fd, void *arg), void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    int self = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end == '\0' && end != e->d_name && fd != self)
            fn((int)fd, arg);
    }
    closedir(d);
    return true;
}

static void note_fd(int fd, void *arg)
{
    struct ucx_fork_scan *s = arg;
    if (s->n == SIZE_MAX || fd_kind(fd, NULL) == FD_OTHER)
        return;
    int *more = realloc(s->fds, (s->n + 1) * sizeof *more);
    if (!more) {
        s->n = SIZE_MAX;   /* a missed fd could look new: find nothing this time */
        return;
    }
    s->fds = more;
    s->fds[s->n++] = fd;
}

void ucx_fork_scan_begin(struct ucx_fork_scan *s)
{
    s->fds = NULL;
    s->n = 0;
    s->active = each_fd(note_fd, s) && s->n != SIZE_MAX;
    if (!s->active)
        log_debug("ucx fork guard: cannot list /proc/self/fd");
}

/* Reads /proc/self/fdinfo/FD into buf (NUL-terminated); false on failure. */
static bool read_fdinfo(int fd, char *buf, size_t size)
{
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return false;
    size_t got = 0;
    for (ssize_t r; got < size - 1 && (r = read(f, buf + got, size - 1 - got)) != 0;) {
        if (r < 0) {
            close(f);
            return false;
        }
        got += (size_t)r;
    }
    close(f);
    buf[got] = '\0';
    return true;
}

/* Calls fn(tfd, ino, arg) for each fd the epoll's fdinfo text watches, until
 * fn returns true; returns whether one did. */
static bool each_watched(const char *info, bool (*fn)(int tfd, unsigned long ino, void *arg),
                         void *arg)
{
    for (const char *l = info; (l = strstr(l, "tfd:")); l += 4) {
        const char *i = strstr(l, " ino:");
        const char *eol = strchr(l, '\n');
        if (!i || (eol && i > eol))
            continue;
        int tfd = (int)strtol(l + 4, NULL, 10);
        if (fn(tfd, strtoul(i + 5, NULL, 16), arg))
            return true;
    }
    return false;
}

struct find { const struct ucx_fork_scan *before; unsigned long pipe_ino; };

/* A pipe made since the scan began: the async thread's wake-up pipe. */
static bool is_new_pipe(int tfd, unsigned long ino, void *arg)
{
    struct find *f = arg;
    unsigned long pino = 0;
    if (noted(f->before, tfd) || fd_kind(tfd, &pino) != FD_PIPE || pino != ino)
        return false;
    f->pipe_ino = ino;
    return true;
}

static bool is_pipe_ino(int tfd, unsigned long ino, void *arg)
{
    (void)tfd;
    return ino == *(unsigned long *)arg;
}

/* In the child (one thread, after fork): a fresh epoll at UCX's thread's fd. */
static void child_after_fork(void)
{
    /* Static: the child's stack may be small, and one thread runs here. Room
     * for ~900 watched fds; a longer list is cut, may miss the pipe, and the
     * fd is then left alone (as without this guard). */
    static char info[65536];
    uint64_t r = atomic_load(&record);
    int epfd = (int)(uint32_t)r;
    unsigned long pipe_ino = (unsigned long)(r >> 32);
    if (!r || fd_kind(epfd, NULL) != FD_EPOLL || !read_fdinfo(epfd, info, sizeof info) ||
        !each_watched(info, is_pipe_ino, &pipe_ino))
        return;   /* UCX's thread is gone, or it is not ours: leave the fd alone */
    int flags = fcntl(epfd, F_GETFD);
    int fresh = epoll_create1(flags >= 0 && (flags & FD_CLOEXEC) ? EPOLL_CLOEXEC : 0);
    if (fresh < 0)
        return;
    /* On failure the child's events still reach the parent's thread, as
     * without this guard. */
    (void)dup3(fresh, epfd, flags >= 0 && (flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
    close(fresh);
}

static void register_handler(void)
{
    if (pthread_atfork(NULL, NULL, child_after_fork) != 0)
        log_warn("ucx fork guard: pthread_atfork failed; a forked child that connects "
                 "will keep its parent's UCX thread busy");
}

struct end_arg { struct ucx_fork_scan *s; int epfd; unsigned long pipe_ino; };

static void look_at(int fd, void *arg)
{
    struct end_arg *a = arg;
    char info[4096];
    if (a->epfd >= 0 || noted(a->s, fd) || fd_kind(fd, NULL) != FD_EPOLL ||
        !read_fdinfo(fd, info, sizeof info))
        return;
    struct find f = { a->s, 0 };
    if (each_watched(info, is_new_pipe, &f)) {
        a->epfd = fd;
        a->pipe_ino = f.pipe_ino;
    }
}

void ucx_fork_scan_end(struct ucx_fork_scan *s)
{
    struct end_arg a = { s, -1, 0 };
    if (s->active)
        each_fd(look_at, &a);
    free(s->fds);
    s->fds = NULL;
    s->n = 0;
    s->active = false;
    if (a.epfd < 0 || a.pipe_ino > UINT32_MAX)
        return;   /* UCX's thread was running already (its fd is recorded) or not found */
    if (!atomic_exchange(&registered, true))
        register_handler();
    atomic_store(&record, (uint64_t)a.pipe_ino << 32 | (uint32_t)a.epfd);
    log_debug("ucx fork guard: UCX's async thread epolls fd %d (wake-up pipe inode %lu)",
              a.epfd, a.pipe_ino);
}
