/* init.c - the preload library's switches (BENCHFS_PRELOAD, BENCHFS_LOG),
 * its log, the real libc functions, the tracked umask, and once-per-process
 * set-up. Connecting to a cluster is lazy and per mount (mounts.c). */
#include "preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__thread int pl_in_lib;
/* Until our constructor ran, everything passes through (the libraries we
 * link run their constructors first). */
int pl_disabled = 1;
int pl_debug;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static atomic_int umask_now = -1;

void pl_fork_register(void);   /* fork.c */

/* Read the switches before main(): every wrapper tests pl_disabled first.
 */
__attribute__((constructor)) static void read_switches(void)
{
    const char *e = getenv("BENCHFS_PRELOAD");
    pl_disabled = e && strcmp(e, "0") == 0;
    const char *l = getenv("BENCHFS_LOG");
    pl_debug = l && strcmp(l, "debug") == 0;
}

void *pl_dlsym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p)
        pl_warn("no libc function %s", name);
    return p;
}

static void vlog(const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "benchfs-preload[%d]: ", (int)getpid());
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + ((size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2);
    line[len++] = '\n';
    /* write(2) of ours would only pass through; the real one avoids the lookup. */
    ssize_t (*w)(int, const void *, size_t) = REAL(write);
    if (w)
        (void)!w(2, line, len);
}

void pl_warn(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
    errno = e;
}

/* /proc/self/status "Umask:" (Linux 4.7+), else the umask(2) round trip. */
static void read_umask(void)
{
    int fd = REAL(open)("/proc/self/status", O_RDONLY | O_CLOEXEC);
    char buf[4096];
    ssize_t n = fd >= 0 ? REAL(read)(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        REAL(close)(fd);
    const char *p = NULL;
    if (n > 0) {
        buf[n] = '\0';
        p = strstr(buf, "\nUmask:");
    }
    if (p) {
        umask_now = (int)strtol(p + 7, NULL, 8);
    } else {
        mode_t m = REAL(umask)(022);
        REAL(umask)(m);
        umask_now = (int)m;
    }
}

static void init_once_fn(void)
{
    pl_in_lib++;
    if (umask_now < 0)
        read_umask();
    pl_fork_register();
    pl_in_lib--;
}

void pl_init(void)
{
    pthread_once(&init_once, init_once_fn);
}

mode_t pl_umask(void)
{
    if (umask_now < 0) {
        pl_in_lib++;
        read_umask();
        pl_in_lib--;
    }
    return (mode_t)umask_now;
}

mode_t umask(mode_t mask)
{
    mode_t old = REAL(umask)(mask);
    umask_now = (int)(mask & 0777);
    return old;
}
