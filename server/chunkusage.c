/* chunkusage.c - chunkstore_usage (chunkstore.h): counting the chunk files and
 * their bytes on a helper thread, so a look at a store of a million chunk
 * files (a stat each, about a second) holds up no request (issue 12).
 *
 * One count runs at a time; callers that ask while it runs get its result
 * (it is at most as old as the count takes). The thread shares one struct
 * with the loop: it fills the result, then sets done and writes the store's
 * eventfd; the loop joins it from chunkstore_poll and runs the callbacks.
 */
#include "chunkstore_int.h"

#include "../common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define USAGE_NICE 10

struct usage_waiter {
    chunk_usage_cb cb;
    void *arg;
    struct usage_waiter *next;
};

struct cs_usage {
    pthread_t tid;
    atomic_bool done;
    int loop_efd;                   /* the store's eventfd */
    char *chunks, *top;             /* DATA/chunks and DATA */
    struct chunkstore_usage u;      /* the thread's until done */
    struct usage_waiter *waiters;   /* the loop's */
};

/* Allocated bytes (holes are free) of the regular files in dir (closed here),
 * counted in *files. chunks_only: files named as chunks only. */
static void sum_dir(int dirfd, uint64_t *files, uint64_t *bytes, bool chunks_only)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    for (struct dirent *de; (de = readdir(d));) {
        uint64_t ino, idx;
        struct stat st;
        if (de->d_name[0] == '.' || (chunks_only && chunkstore_name_parse(de->d_name, &ino, &idx) < 0))
            continue;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        (*files)++;
        *bytes += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
}

static void *count(void *arg)
{
    struct cs_usage *cu = arg;
    /* A stat per chunk file: as the cut thread, below the loop and the
     * application (nice 10), never starved (a client waits for the answer). */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), USAGE_NICE) < 0)
        log_debug("chunkstore: usage count: cannot set nice %d: %s", USAGE_NICE, strerror(errno));
    struct chunkstore_usage *u = &cu->u;
    int top = open(cu->chunks, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        u->err = -errno;
        log_warn("chunkstore: cannot read %s: %s", cu->chunks, strerror(errno));
    }
    for (int b = 0; top >= 0 && b < NBUCKETS; b++) {
        char name[8];
        snprintf(name, sizeof name, "%02x", b);
        int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            sum_dir(fd, &u->chunk_files, &u->chunk_bytes, true);
    }
    if (top >= 0)
        close(top);
    int fd = open(cu->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        sum_dir(fd, &u->top_files, &u->top_bytes, false);
    atomic_store_explicit(&cu->done, true, memory_order_release);
    uint64_t one = 1;
    if (write(cu->loop_efd, &one, sizeof one) < 0)
        log_warn("chunkstore: usage count: wake the loop: %s", strerror(errno));
    return NULL;
}

static void usage_free(struct cs_usage *cu)
{
    free(cu->chunks);
    free(cu->top);
    free(cu);
}

int chunkstore_usage(struct chunkstore *cs, chunk_usage_cb cb, void *arg)
{
    struct usage_waiter *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    struct cs_usage *cu = cs->usage;
    if (!cu) {
        size_t n = strlen(cs->path) - strlen("/chunks");   /* cs->path is DATA/chunks */
        cu = calloc(1, sizeof *cu);
        if (cu) {
            cu->loop_efd = cs->efd;
            cu->chunks = strdup(cs->path);
            cu->top = strndup(cs->path, n);
        }
        int r = !cu || !cu->chunks || !cu->top ? -ENOMEM : -pthread_create(&cu->tid, NULL, count, cu);
        if (r < 0) {
            log_error("chunkstore: cannot start a usage count of %s: %s", cs->path, strerror(-r));
            if (cu)
                usage_free(cu);
            free(w);
            return r;
        }
        cs->usage = cu;
    }
    *w = (struct usage_waiter){ cb, arg, cu->waiters };
    cu->waiters = w;
    cs->inflight++;
    return 0;
}

bool cs_usage_ready(struct chunkstore *cs)
{
    return cs->usage && atomic_load_explicit(&cs->usage->done, memory_order_acquire);
}

int cs_usage_poll(struct chunkstore *cs)
{
    if (!cs_usage_ready(cs))
        return 0;
    struct cs_usage *cu = cs->usage;
    cs->usage = NULL;   /* callbacks asking again start a new count */
    pthread_join(cu->tid, NULL);
    int ran = 0;
    for (struct usage_waiter *w = cu->waiters, *next; w; w = next, ran++) {
        next = w->next;
        cs->inflight--;
        w->cb(w->arg, &cu->u);
        free(w);
    }
    usage_free(cu);
    return ran;
}

int cs_usage_wait(struct chunkstore *cs)
{
    while (cs->usage && !cs_usage_ready(cs)) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return cs_usage_poll(cs);
}
