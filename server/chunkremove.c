/* chunkremove.c - removing chunk files: the unlinks themselves (thread-safe, on a
 * directory fd only) and the store's two background threads, which do them so
 * the event loop never waits for the disk (issue 12): the removal thread
 * (files that are gone; SCHED_IDLE) and the cut thread (truncates of live
 * files: chunks past the new size unlinked, the last one cut; nice 10, as a
 * client's next op on the file waits for it: chunkcut.c).
 *
 * Crash rules. A queued removal is first appended as one 32-byte record to
 * DATA/chunk-removals (a page-cache write, no sync, by the loop), then handed
 * to the thread; the loop empties the file once every job noted in it is done
 * (cs_remover_poll). At open the store reads the records a killed server left
 * and queues them again: unlinking is idempotent (a missing chunk is fine) and
 * inode numbers are never reused, so a redone removal can only delete chunks
 * of a file that is gone. What a power loss takes from the unsynced record is
 * an orphan chunk at worst, as before: benchfs-fsck reports those.
 *
 * The cut thread's journal (DATA/chunk-cuts) holds 40-byte records (the cut
 * length too). Its inode lives on, so a redone cut must never undo a write
 * made after it: the loop holds every op on the cut's chunks until the job is
 * done and its record marked done (its magic overwritten, BFDN), and replay
 * skips marked records. A record not marked had no op after it.
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
#define CUT_REC_SIZE 40
#define REMOVE_NICE 19
#define CUT_NICE 10
#define REC_MAGIC 0x4d524642u   /* "BFRM" */
#define CUT_MAGIC 0x54434642u   /* "BFCT" */
#define DONE_MAGIC 0x4e444642u  /* "BFDN": a cut record whose job is done */

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
    uint64_t cut;                   /* cut thread: chunk first is cut to this (0: unlinked) */
    off_t jpos;                     /* cut thread: its record's offset in the journal (-1: none) */
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
    bool cuts;                      /* the cut thread (marks done records, wakes per job) */
    bool idle;                      /* SCHED_IDLE */
    uint64_t pushed;                /* jobs queued ever: the next one's sequence number */
    uint64_t marked;                /* jobs done and marked done by the loop (<= done) */
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

static uint32_t rec_check(uint64_t ino, uint64_t first, uint64_t end, uint64_t cut)
{
    uint64_t e = cut ? end ^ place_mix64(cut) : end;   /* a removal's as it always was */
    return (uint32_t)place_mix64(ino ^ place_mix64(first ^ place_mix64(e)));
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

/* Cuts chunk (ino, idx) to len bytes; a missing file is fine (a hole). 0 or
 * -errno (logged). */
static int cut_one(const char *path, int dirfd, uint64_t ino, uint64_t idx, uint64_t len)
{
    char name[48];
    cs_chunk_name(name, sizeof name, ino, idx);
    int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    int r = fd < 0 || ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
    if (r < 0)
        log_error("chunkstore: cut chunk %s of ino %016llx in %s to %llu: %s", name,
                  (unsigned long long)ino, path, (unsigned long long)len, strerror(-r));
    if (fd >= 0)
        close(fd);
    return r;
}

/* ---- the threads ---- */

/* Background work: the loop and the application come first. SCHED_IDLE runs
 * the thread on a core nobody else wants (CFS still gives it a sliver, so a
 * busy machine slows a removal down but cannot stop it); measured with
 * tests/system/rmload.sh, nice 19 alone let the unlinks' kernel time push a
 * spinning loop off its core often enough to triple the reads' p99. */
static void lower_priority(bool idle)
{
    /* The cut thread: a client's next op on the file waits for its job, so it
     * must not starve as SCHED_IDLE can on a busy machine (a 1000-chunk cut
     * took 44 s in tests/system/rmload.sh on the shared 2-core machine, 0.1-1.5 s
     * at nice 0, 0.3-15 s at nice 10); at nice 0 it took the loop's core often
     * enough to put the other reads' p99 at 3-38x idle, at nice 10 0.2-1.8x. */
    if (!idle) {
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), CUT_NICE) < 0)
            log_debug("chunkstore: cut thread: cannot set nice %d: %s", CUT_NICE, strerror(errno));
        return;
    }
    struct sched_param sp = { 0 };
    int r = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    if (r != 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), REMOVE_NICE) < 0)
        log_debug("chunkstore: removal thread: neither SCHED_IDLE (%s) nor nice %d: %s",
                  strerror(r), REMOVE_NICE, strerror(errno));
}

static void *run(void *arg)
{
    struct cs_remover *rm = arg;
    lower_priority(rm->idle);
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
        int r = j->cut ? cut_one(rm->path, rm->dirfd, j->ino, j->first, j->cut) : 0;
        int u = cs_unlink_range(rm->path, rm->dirfd, j->ino, j->first + !!j->cut, j->end);
        r = r < 0 ? r : u;
        if (r < 0)
            log_warn("chunkstore: ino %016llx: removing chunks [%llu, %llu): %s (benchfs-fsck "
                     "reports what is left)", (unsigned long long)j->ino,
                     (unsigned long long)j->first, (unsigned long long)j->end, strerror(-r));
        else
            log_debug("chunkstore: ino %016llx: removed %d chunk files in the background",
                      (unsigned long long)j->ino, r);
        atomic_store_explicit(&rm->done, t + 1, memory_order_release);
        /* All done for now: wake the loop (it may sleep) to feed the backlog
         * or empty the journal (cs_remover_poll); each cut: ops wait for it. */
        uint64_t one = 1;
        if ((rm->cuts || t + 1 == atomic_load_explicit(&rm->head, memory_order_acquire)) &&
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
    bool moved = false;
    /* Up to the jobs marked: the loop reads a done job's slot until then. */
    while (rm->more && h - rm->marked < RING) {
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
static int push(struct cs_remover *rm, const struct rm_job *job)
{
    struct rm_more *m = malloc(sizeof *m);
    if (!m)
        return -ENOMEM;
    *m = (struct rm_more){ .job = *job };
    rm->pushed++;
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

int cs_remover_queue(struct cs_remover *rm, uint64_t ino, uint64_t first, uint64_t end,
                     uint64_t cut, uint64_t *seq)
{
    *seq = rm->pushed;
    if (end <= first || (cut && !rm->cuts))
        return end <= first ? 0 : -EINVAL;
    uint8_t rec[CUT_REC_SIZE];
    size_t len = rm->cuts ? CUT_REC_SIZE : REC_SIZE;
    put_le32(rec, rm->cuts ? CUT_MAGIC : REC_MAGIC);
    put_le32(rec + 4, rec_check(ino, first, end, cut));
    put_le64(rec + 8, ino);
    put_le64(rec + 16, first);
    put_le64(rec + 24, end);
    put_le64(rec + 32, cut);   /* (past a removal record's end) */
    struct rm_job job = { ino, first, end, cut, rm->jlen };
    ssize_t w = pwrite(rm->jfd, rec, len, rm->jlen);
    if (w == (ssize_t)len) {
        rm->jlen += (off_t)len;
    } else {
        job.jpos = -1;   /* no record: the next one goes there, and must not be marked for this */
        log_warn("chunkstore: ino %016llx: cannot note its chunk %s in %s (%s): a crash "
                 "before it is done leaves %s", (unsigned long long)ino,
                 rm->cuts ? "cut" : "removal", rm->jpath, w < 0 ? strerror(errno) : "short write",
                 rm->cuts ? "chunks past the file's size" : "orphan chunks");
    }
    return push(rm, &job);
}

uint64_t cs_remover_marked(struct cs_remover *rm)
{
    return rm->marked;
}

void cs_remover_each(struct cs_remover *rm, void (*fn)(void *arg, uint64_t seq, uint64_t ino,
                                                      uint64_t first, uint64_t end, uint64_t cut),
                     void *arg)
{
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed), seq = rm->marked;
    for (uint64_t i = rm->marked; i < h; i++, seq++) {
        const struct rm_job *j = &rm->ring[i % RING];
        fn(arg, seq, j->ino, j->first, j->end, j->cut);
    }
    for (struct rm_more *m = rm->more; m; m = m->next, seq++)
        fn(arg, seq, m->job.ino, m->job.first, m->job.end, m->job.cut);
}

/* Marks the jobs done since the last call (the cut thread: in the journal,
 * before anyone may touch their chunks again). */
static void mark_done(struct cs_remover *rm)
{
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    for (; rm->marked < d; rm->marked++) {
        const struct rm_job *j = &rm->ring[rm->marked % RING];
        uint8_t m[4];
        put_le32(m, DONE_MAGIC);
        if (rm->cuts && j->jpos >= 0 && rm->jlen > j->jpos &&
            pwrite(rm->jfd, m, sizeof m, j->jpos) != sizeof m)
            log_warn("chunkstore: ino %016llx: cannot mark its cut done in %s (%s): a crash "
                     "before the journal empties redoes it", (unsigned long long)j->ino,
                     rm->jpath, strerror(errno));
    }
}

unsigned cs_remover_pending(struct cs_remover *rm)
{
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    return (unsigned)(h - d) + rm->nmore;
}

void cs_remover_poll(struct cs_remover *rm)
{
    mark_done(rm);
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
    if (!rm)
        return false;
    uint64_t h = atomic_load_explicit(&rm->head, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&rm->done, memory_order_acquire);
    if (d != rm->marked)
        return true;
    if (!rm->jlen && !rm->more)
        return false;
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
    const off_t len = rm->cuts ? CUT_REC_SIZE : REC_SIZE;
    uint8_t rec[CUT_REC_SIZE] = { 0 };
    while (good + len <= st.st_size) {
        ssize_t got = pread(rm->jfd, rec, (size_t)len, good);
        if (got < 0)
            return -errno;
        if (got != len)
            break;
        uint32_t magic = get_le32(rec);
        struct rm_job j = { get_le64(rec + 8), get_le64(rec + 16), get_le64(rec + 24),
                            rm->cuts ? get_le64(rec + 32) : 0, good };
        bool ok = rm->cuts ? magic == CUT_MAGIC || magic == DONE_MAGIC : magic == REC_MAGIC;
        if (!ok || get_le32(rec + 4) != rec_check(j.ino, j.first, j.end, j.cut) || j.end <= j.first)
            break;
        good += len;
        if (magic == DONE_MAGIC)
            continue;   /* done, and files may have been written since */
        if (push(rm, &j) < 0)
            return -ENOMEM;
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
        log_info("chunkstore: finishing %u chunk %s left by the last run (%s)", n,
                 rm->cuts ? "cuts" : "removals", rm->jpath);
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

int cs_remover_start(const char *data_dir, const char *journal, bool cuts, const char *path,
                     int dirfd, int loop_efd, struct cs_remover **out)
{
    *out = NULL;
    struct cs_remover *rm = calloc(1, sizeof *rm);
    if (!rm)
        return -ENOMEM;
    rm->cuts = cuts;
    rm->idle = !cuts;
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
    if (asprintf(&rm->jpath, "%s/%s", data_dir, journal) < 0) {
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
