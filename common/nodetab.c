/* nodetab.c - the node table's file: its layout, the header check every
 * reader makes, and creating or mapping it (nodetab.h). Nothing is logged
 * here (the preload library links this file): callers say what failed. */
#include "nodetab.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

static uint64_t header_bytes(void) { return ALIGN64(sizeof(struct nodetab_header)); }
static uint64_t marks_off(void) { return header_bytes() + 64; }   /* gen has its own line */
static uint64_t counts_off(void) { return marks_off() + ((uint64_t)1 << (NODETAB_MARK_LOG2 - 3)); }

size_t nodetab_bytes(void)
{
    return (size_t)(counts_off() + ((uint64_t)8 << NODETAB_COUNT_LOG2));
}

void nodetab_format(void *base, double attr_timeout_s)
{
    memset(base, 0, nodetab_bytes());
    struct nodetab_header *h = base;
    h->version = NODETAB_VERSION;
    h->header_bytes = (uint32_t)header_bytes();
    h->file_bytes = nodetab_bytes();
    h->mark_log2 = NODETAB_MARK_LOG2;
    h->count_log2 = NODETAB_COUNT_LOG2;
    h->marks_off = marks_off();
    h->counts_off = counts_off();
    h->attr_timeout_ms = attr_timeout_s <= 0 ? 0 : attr_timeout_s > 86400 ? 86400000u
                                                    : (uint32_t)(attr_timeout_s * 1000 + 0.5);
    /* The magic last: a reader that sees it sees a whole header. */
    atomic_thread_fence(memory_order_release);
    h->magic = NODETAB_MAGIC;
}

int nodetab_attach(void *base, size_t bytes, struct nodetab *t)
{
    const struct nodetab_header *h = base;
    memset(t, 0, sizeof *t);
    if (!base || bytes < sizeof *h || h->magic != NODETAB_MAGIC || h->version != NODETAB_VERSION)
        return -EPROTO;
    atomic_thread_fence(memory_order_acquire);
    uint64_t hb = h->header_bytes;
    if (hb < sizeof *h || hb % 64 || h->file_bytes != bytes)
        return -EINVAL;
    if (h->mark_log2 < 6 || h->mark_log2 > 32 || h->count_log2 < 1 || h->count_log2 > 28)
        return -EINVAL;
    uint64_t mark_bytes = (uint64_t)1 << (h->mark_log2 - 3), count_bytes = (uint64_t)8 << h->count_log2;
    /* gen's line, then the marks, then the counters, inside the file, aligned. */
    if (h->marks_off % 64 || h->counts_off % 64 || h->marks_off < hb + 64 ||
        h->counts_off < h->marks_off + mark_bytes || h->counts_off > bytes ||
        bytes - h->counts_off < count_bytes)
        return -EINVAL;
    t->base = base;
    t->bytes = bytes;
    t->gen = (_Atomic uint64_t *)((char *)base + hb);
    t->marks = (_Atomic uint64_t *)((char *)base + h->marks_off);
    t->counts = (_Atomic uint64_t *)((char *)base + h->counts_off);
    t->mark_log2 = h->mark_log2;
    t->count_log2 = h->count_log2;
    t->attr_timeout_s = h->attr_timeout_ms / 1000.0;
    return 0;
}

int nodetab_sweep(void)
{
    int removed = 0;
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int dfd = dirfd(d);
    for (struct dirent *de; (de = readdir(d));) {
        int pid, end = 0;
        struct stat st;
        /* benchfs-kcache.: what the table was called before it had counters. */
        if ((sscanf(de->d_name, NODETAB_PREFIX "%d.%*6[A-Za-z0-9]%n", &pid, &end) != 1 &&
             sscanf(de->d_name, "benchfs-kcache.%d.%*6[A-Za-z0-9]%n", &pid, &end) != 1) ||
            end == 0 || de->d_name[end] != '\0' || pid <= 0 || pid == getpid())
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        if (unlinkat(dfd, de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int nodetab_create(char *path, size_t path_size, double attr_timeout_s, int shared, struct nodetab *t)
{
    memset(t, 0, sizeof *t);
    int n = snprintf(path, path_size, "/dev/shm/" NODETAB_PREFIX "%d.XXXXXX", (int)getpid());
    if (n < 0 || (size_t)n >= path_size)
        return -ENAMETOOLONG;
    int fd = mkstemp(path);
    if (fd < 0)
        return -errno;
    size_t bytes = nodetab_bytes();
    void *p = MAP_FAILED;
    /* fchmod: mkstemp's 0600 is what a private mount wants; the umask does not apply. */
    if (fchmod(fd, shared ? 0666 : 0600) == 0 && ftruncate(fd, (off_t)bytes) == 0)
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) {
        unlink(path);
        return -err;
    }
    nodetab_format(p, attr_timeout_s);
    return nodetab_attach(p, bytes, t);
}

int nodetab_map(const char *path, struct nodetab *t)
{
    memset(t, 0, sizeof *t);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    void *p = MAP_FAILED;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct nodetab_header) ||
             st.st_size > (off_t)1 << 30)
        rc = -EPROTO;
    else if ((p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        rc = -errno;
    close(fd);
    if (rc == 0 && (rc = nodetab_attach(p, (size_t)st.st_size, t)) < 0)
        munmap(p, (size_t)st.st_size);
    return rc;
}

void nodetab_unmap(struct nodetab *t)
{
    if (t->base)
        munmap(t->base, t->bytes);
    memset(t, 0, sizeof *t);
}
