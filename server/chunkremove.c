/* chunkremove.c - removing chunk files: the unlinks themselves (thread-safe, on a
 * directory fd only) and the store's removal thread, which does them in the
 * background so the event loop never waits for a file's removal (issue 12).
 *
 * Crash rules. A queued removal is first appended as one 32-byte record to
 * DATA/chunk-removals (a page-cache write, no sync, by the loop), then handed
 * to the thread; the loop empties the file once every job noted in it is done
 * (cs_remover_poll). At open the store reads the records a killed server left
 * and queues them again: unlinking is idempotent (a missing chunk is fine) and
 * inode numbers are never reused, so a redone removal can only delete chunks
 * of a file that is gone. What a power loss takes from the unsynced record is
 * an orphan chunk at worst, as before: benchfs-fsck reports those.
 */
#include "chunkstore_int.h"

#include "../common/byteorder.h"
#include "../common/log.h"
#include "../common/placement.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REC_SIZE 32
#define REMOVE_NICE 19
#define REC_MAGIC 0x4d524642u   /* "BFRM" */

/* Beyond this many chunk indices, listing the bucket is cheaper than trying
 * every index: a sparse file's size says nothing about how many chunks exist
 * (one byte written at 1 PiB would mean 2^28 unlinks of 4 MiB chunks). */
#define REMOVE_BY_INDEX_MAX 256

/* Jobs go to the thread through a ring (one producer, the loop; one consumer,
 * the thread) and nothing else is shared: the thread runs SCHED_IDLE and may
 * wait long for a core, so it must never hold anything the loop could wait
 * for (a mutex, malloc's arena lock). What does not fit in the ring waits in
 * the loop's backlog. */
#define RING 1024   /* a power of 2 */

struct rm_job {
    uint64_t ino, first, end;
};

struct rm_more {   /* the backlog: the loop's only */
    struct rm_job job;
    struct rm_more *next;
};

struct cs_remover {
    pthread_t tid;
    bool started;
    struct rm_job ring[RING];
    _Atomic uint64_t head;          /* jobs put in the ring (the loop writes) */
    _Atomic uint64_t done;          /* jobs finished (the thread writes) */
    atomic_bool stop;               /* exit once the ring is empty */
    int efd;                        /* the loop wakes the thread */
    int loop_efd;                   /* the thread wakes the loop (the store's eventfd) */
    struct rm_more *more, *more_tail;
    unsigned nmore;
    int dirfd;                      /* DATA/chunks (the store's; not ours to close) */
    const char *path;               /* DATA/chunks, for log lines (the store's) */
    int jfd;                        /* DATA/chunk-removals */
    char *jpath;
    off_t jlen;                     /* bytes of records in it */
};

/* ---- the unlinks (any thread) ---- */

static uint32_t rec_check(uint64_t ino, uint64_t first, uint64_t end)
{
    return (uint32_t)place_mix64(ino ^ place_mix64(first ^ place_mix64(end)));
}

/* Deletes one chunk file (name relative to dfd); ENOENT is fine (a hole, or
 * another server's chunk). 1 if it was deleted, 0 if missing, or -errno (logged). */
static int remove_one(const char *path, int dfd, const char *name, uint64_t ino)
{
    if (unlinkat(dfd, name, 0) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    int r = -errno;
    log_error("chunkstore: unlink chunk %s of ino %016llx in %s: %s", name,
              (unsigned long long)ino, path, strerror(-r));
    return r;
}

/* Deletes the chunk files [first, end) of ino found in its bucket directory. */
static int remove_listed(const char *path, int chunks_fd, uint64_t ino, uint64_t first,
                         uint64_t end)
{
    char bname[4];
    snprintf(bname, sizeof bname, "%02x", cs_bucket_of(ino));
    int lfd = openat(chunks_fd, bname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd < 0 ? NULL : fdopendir(lfd);
    if (!d) {
        int r = -errno;
        if (lfd >= 0)
            close(lfd);
        if (r == -ENOENT)
            return 0;
        log_error("chunkstore: list bucket %s of %s: %s", bname, path, strerror(-r));
        return r;
    }
    char prefix[24];
    int plen = snprintf(prefix, sizeof prefix, "%016llx.", (unsigned long long)ino);
    int err = 0, n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t fino, idx;
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0 ||
            chunkstore_name_parse(e->d_name, &fino, &idx) < 0 || fino != ino || idx < first ||
            idx >= end)
            continue;
        int r = remove_one(path, dirfd(d), e->d_name, ino);
        if (r < 0 && !err)
            err = r;
        n += r > 0;
    }
    closedir(d);
    return err ? err : n;
}

int cs_unlink_range(const char *path, int dirfd, uint64_t ino, uint64_t first, uint64_t end)
{
    if (end > first && end - first > REMOVE_BY_INDEX_MAX)
        return remove_listed(path, dirfd, ino, first, end);
    int err = 0, n = 0;
    char name[48];
    for (uint64_t idx = first; idx < end; idx++) {
        cs_chunk_name(name, sizeof name, ino, idx);
        int r = remove_one(path, dirfd, name, ino);
        if (r < 0 && !err)
            err = r;
        n += r > 0;
    }
    return err ? err : n;
}

/* ---- the thread ---- */

/* Background work: the loop and the application come first. SCHED_IDLE runs
 * the thread on a core nobody else wants (CFS still gives it a sliver, so a
 * busy machine slows a removal down but cannot stop it); measured with
 * tests/system/rmload.sh, nice 19 alone let the unlinks' kernel time push a
 * spinning loop off its core often enough to triple the reads' p99. */
static void lower_priority(void)
{
    struct sched_param sp = { 0 };
    int r = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    if (r != 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), REMOVE_NICE) < 0)
        log_debug("chunkstore: removal thread: neither SCHED_IDLE (%s) nor nice %d: %s",
                  strerror(r), REMOVE_NICE, strerror(errno));
}

static void *run(void *arg)
{
    struct cs_remover *rm = arg;
    lower_priority();
    for (;;) {
        uint64_t t = atomic_load_explicit(&rm->done, memory_order_relaxed);
        if (t == atomic_load_explicit(&rm->head, memory_order_acquire)) {
            if (atomic_load(&rm->stop))
                break;
            uint64_t v;
            if (read(rm->efd, &v, sizeof v) < 0 && errno != EINTR) {
                log_error("chunkstore: removal thread: read of its eventfd: %s", strerror(errno));
                break;
            }
            continue;
        }
        const struct rm_job *j = &rm->ring[t % RING];
        int r = cs_unlink_range(rm->path, rm->dirfd, j->ino, j->first, j->end);
        if (r < 0)
            log_warn("chunkstore: ino %016llx: removing chunks [%llu, %llu): %s (benchfs-fsck "
                     "reports what is left)", (unsigned long long)j->ino,
                     (unsigned long long)j->first, (unsigned long long)j->end, strerror(-r));
        else
            log_debug("chunkstore: ino %016llx: removed %d chunk files in the background",
                      (unsigned long long)j->ino, r);
        atomic_store_explicit(&rm->done, t + 1, memory_order_release);
        /* All done for now: wake the loop (it may sleep) to feed the backlog
         * or empty the journal (cs_remover_poll). */
        uint64_t one = 1;
        if (t + 1 == atomic_load_explicit(&rm->head, memory_order_acquire) &&
            write(rm->loop_efd, &one, sizeof one) < 0)
            log_warn("chunkstore: removal thread: wake the loop: %s", strerror(errno));
    }
    return NULL;
}

static void wake(struct cs_remover *rm)
{
    uint64_t one = 1;
    if (rm->started && write(rm->efd, &one, sizeof one) < 0)
        log_error("chunkstore: wake the removal thread: %s", strerror(errno));
}

/* Moves what fits from the backlog into the ring; true if anything moved. */
static bool feed(struct cs_remover *rm)
{
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    bool moved = false;
    while (rm->more && h - d < RING) {
        struct rm_more *m = rm->more;
        rm->ring[h % RING] = m->job;
        h++;
        rm->more = m->next;
        if (!rm->more)
            rm->more_tail = NULL;
        rm->nmore--;
        free(m);
        moved = true;
    }
    if (moved)
        atomic_store_explicit(&rm->head, h, memory_order_release);
    return moved;
}

/* Into the ring, or the backlog behind what waits there. -ENOMEM only. */
static int push(struct cs_remover *rm, uint64_t ino, uint64_t first, uint64_t end)
{
    struct rm_more *m = malloc(sizeof *m);
    if (!m)
        return -ENOMEM;
    *m = (struct rm_more){ .job = { ino, first, end } };
    if (rm->more_tail)
        rm->more_tail->next = m;
    else
        rm->more = m;
    rm->more_tail = m;
    rm->nmore++;
    if (feed(rm))
        wake(rm);
    return 0;
}

int cs_remover_queue(struct cs_remover *rm, uint64_t ino, uint64_t first, uint64_t end)
{
    if (end <= first)
        return 0;
    uint8_t rec[REC_SIZE];
    put_le32(rec, REC_MAGIC);
    put_le32(rec + 4, rec_check(ino, first, end));
    put_le64(rec + 8, ino);
    put_le64(rec + 16, first);
    put_le64(rec + 24, end);
    ssize_t w = pwrite(rm->jfd, rec, REC_SIZE, rm->jlen);
    if (w == REC_SIZE)
        rm->jlen += REC_SIZE;
    else
        log_warn("chunkstore: ino %016llx: cannot note its chunk removal in %s (%s): a crash "
                 "before it is done leaves orphan chunks", (unsigned long long)ino, rm->jpath,
                 w < 0 ? strerror(errno) : "short write");
    return push(rm, ino, first, end);
}

unsigned cs_remover_pending(struct cs_remover *rm)
{
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    return (unsigned)(h - d) + rm->nmore;
}

void cs_remover_poll(struct cs_remover *rm)
{
    if (rm->more && feed(rm))
        wake(rm);
    /* Every job noted is done: the records can go (the loop's: the thread
     * never touches the file). */
    if (rm->jlen && cs_remover_pending(rm) == 0) {
        if (ftruncate(rm->jfd, 0) == 0)
            rm->jlen = 0;
        else
            log_warn("chunkstore: empty %s: %s (its removals will be redone at the next start)",
                     rm->jpath, strerror(errno));
    }
}

bool cs_remover_wants_poll(struct cs_remover *rm)
{
    if (!rm || (!rm->jlen && !rm->more))
        return false;
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    return rm->more ? h - d < RING : h == d;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int cs_remover_inos(struct cs_remover *rm, uint64_t **inos, size_t *n)
{
    *inos = NULL;
    *n = 0;
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    size_t cap = (size_t)(h - d) + rm->nmore;
    if (!cap)
        return 0;
    uint64_t *v = malloc(cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    size_t k = 0;
    /* Slots in [d, h) stay as they are until the loop (this thread) reuses them. */
    for (uint64_t i = d; i < h; i++)
        v[k++] = rm->ring[i % RING].ino;
    for (struct rm_more *m = rm->more; m; m = m->next)
        v[k++] = m->job.ino;
    qsort(v, k, sizeof *v, cmp_u64);
    *inos = v;
    *n = k;
    return 0;
}

void cs_remover_wait(struct cs_remover *rm)
{
    /* The loop's own wait (a clean stop, tests): it polls, so it never
     * sleeps on anything the idle-class thread holds. */
    while (cs_remover_pending(rm)) {
        if (!rm->started)
            break;
        cs_remover_poll(rm);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    cs_remover_poll(rm);
}

/* Queues the records a killed server left (each checked; a torn or damaged
 * tail is dropped) and cuts the file to the good ones. */
static int replay(struct cs_remover *rm)
{
    struct stat st;
    if (fstat(rm->jfd, &st) < 0)
        return -errno;
    off_t good = 0;
    unsigned n = 0;
    uint8_t rec[REC_SIZE];
    while (good + REC_SIZE <= st.st_size) {
        ssize_t got = pread(rm->jfd, rec, REC_SIZE, good);
        if (got < 0)
            return -errno;
        if (got != REC_SIZE)
            break;
        uint64_t ino = get_le64(rec + 8), first = get_le64(rec + 16), end = get_le64(rec + 24);
        if (get_le32(rec) != REC_MAGIC || get_le32(rec + 4) != rec_check(ino, first, end) ||
            end <= first)
            break;
        if (push(rm, ino, first, end) < 0)
            return -ENOMEM;
        good += REC_SIZE;
        n++;
    }
    if (good != st.st_size) {
        log_warn("chunkstore: %s: ignoring %lld bytes after its %u good records", rm->jpath,
                 (long long)(st.st_size - good), n);
        if (ftruncate(rm->jfd, good) < 0)
            return -errno;
    }
    rm->jlen = good;
    if (n)
        log_info("chunkstore: finishing %u chunk removals left by the last run (%s)", n, rm->jpath);
    return 0;
}

void cs_remover_stop(struct cs_remover *rm)
{
    if (!rm)
        return;
    if (rm->started) {
        cs_remover_wait(rm);
        atomic_store(&rm->stop, true);
        wake(rm);
        pthread_join(rm->tid, NULL);
    }
    while (rm->more) {   /* only when the thread never started */
        struct rm_more *m = rm->more;
        rm->more = m->next;
        free(m);
    }
    if (rm->jfd >= 0)
        close(rm->jfd);
    if (rm->efd >= 0)
        close(rm->efd);
    free(rm->jpath);
    free(rm);
}

int cs_remover_start(const char *data_dir, const char *path, int dirfd, int loop_efd,
                     struct cs_remover **out)
{
    *out = NULL;
    struct cs_remover *rm = calloc(1, sizeof *rm);
    if (!rm)
        return -ENOMEM;
    rm->dirfd = dirfd;
    rm->loop_efd = loop_efd;
    rm->path = path;
    rm->jfd = -1;
    int r;
    if ((rm->efd = eventfd(0, EFD_CLOEXEC)) < 0) {
        r = -errno;
        log_error("chunkstore: removal thread: eventfd: %s", strerror(-r));
        goto fail;
    }
    if (asprintf(&rm->jpath, "%s/chunk-removals", data_dir) < 0) {
        rm->jpath = NULL;
        r = -ENOMEM;
        goto fail;
    }
    if ((rm->jfd = open(rm->jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        r = -errno;
        log_error("chunkstore: open %s: %s", rm->jpath, strerror(-r));
        goto fail;
    }
    if ((r = replay(rm)) < 0) {
        log_error("chunkstore: read %s: %s", rm->jpath, strerror(-r));
        goto fail;
    }
    if ((r = -pthread_create(&rm->tid, NULL, run, rm)) < 0) {
        log_error("chunkstore: cannot start the chunk removal thread: %s", strerror(-r));
        goto fail;
    }
    rm->started = true;
    wake(rm);   /* for what replay queued */
    *out = rm;
    return 0;
fail:
    cs_remover_stop(rm);
    return r;
}
