/* chunkstore.c - see chunkstore.h: the io_uring ring, the ops in flight, the
 * registered buffers, and read, write and fallocate. Elsewhere: the fd
 * cache (fdcache.c), fsync groups (syncgroup.c), naming, removing and listing
 * chunk files, and seek (chunkfiles.c), truncates (chunkcut.c), the unlinks and
 * the background threads (chunkremove.c).
 *
 * Life of an op: chunkstore_read/write get the chunk's fd from the fd cache,
 * queue an SQE whose user_data is a struct cs_op, and return; on a miss the op
 * waits on the chunk's io_uring OPENAT instead (chunkfiles.c) and its SQE is
 * queued when that completes. chunkstore_poll reaps CQEs, resubmits short I/O
 * and runs the callback. Ops that finish without I/O (missing chunk, nothing to sync) go on
 * the done list, which poll runs first.
 *
 * With IORING_SETUP_SINGLE_ISSUER the thread that calls chunkstore_open must be
 * the thread that runs the event loop.
 *
 * Inline writes. io_uring first tries a buffered write without blocking and
 * hands it to an io-wq worker thread only if it would block; but ext4 (and any
 * file system that refuses RWF_NOWAIT on buffered writes, which the store
 * probes at open) cannot try, so there every write goes to a worker. On this
 * VM the worker's wake-up costs 15-50 us for a 4 KiB copy into the page cache
 * that takes 2-6 us (fio's 4 KiB random writes over the preload path: 39-41k/s,
 * 64-108k/s with the write done in place). So on such a file system a write of at most
 * INLINE_WRITE_MAX bytes, page-aligned (no page to read in first), to a chunk
 * with no write or fallocate of it in the ring (which would then be overtaken),
 * is a pwrite in the caller's thread; its completion runs from the next
 * chunkstore_poll like any other. A page-cache write blocks only when the page
 * cache waits for the disk (dirty-page throttling, a journal commit): an
 * inline write slower than INLINE_SLOW_NS sends every write to the ring for
 * INLINE_PAUSE_X times as long as it took, so the loop spends at most about
 * 1 % of its time behind the disk (seen: one 4 KiB write of 3.2 ms in 20,000).
 */
#include "chunkstore_int.h"

#include "../common/clock.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define REAP_BATCH 64
#define MAX_REG_BUFFERS 16384        /* kernel's IORING_MAX_REG_BUFFERS */
#define MAX_BUFFER_SIZE (1u << 30)   /* kernel's limit per registered buffer */
#define WRITEBACK_MIN (256u << 10)   /* writes this large start their write-out at once */
#define INLINE_SLOW_NS 1000000       /* an inline write this slow waited for the disk */
#define INLINE_PAUSE_X 100           /* ... and writes then go to the ring for 100x as long */
#define INLINE_WRITE_MAX (64u << 10) /* larger writes go to the ring: a worker's copy beside the loop */
#define PAGE 4096u                   /* inline writes cover whole pages */

/* ---- ops ---- */

struct cs_op *cs_op_new(struct chunkstore *cs, enum cs_op_kind kind, chunk_cb cb, void *arg)
{
    struct cs_op *op = cs->pool;
    if (op)
        cs->pool = op->next;
    else if (!(op = malloc(sizeof *op)))
        return NULL;
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->buf_index = -1;
    op->bucket = -1;
    op->cb = cb;
    op->arg = arg;
    return op;
}

void cs_op_free(struct chunkstore *cs, struct cs_op *op)
{
    if (!op)
        return;
    op->next = cs->pool;
    cs->pool = op;
}

/* Runs a user op's callback; returns 1 (a callback ran). */
int cs_op_finish(struct chunkstore *cs, struct cs_op *op, ssize_t res)
{
    if (op->ent)
        fdcache_put(&cs->fdc, op->ent);
    cs->inflight--;
    chunk_cb cb = op->cb;
    void *arg = op->arg;
    cs_op_free(cs, op);
    if (cb)
        cb(arg, res);
    return 1;
}

/* Finishes op from the next chunkstore_poll: callbacks never run inside the
 * call that queued them. */
void cs_done_push(struct chunkstore *cs, struct cs_op *op, ssize_t res)
{
    op->res = res;
    op->next = NULL;
    if (cs->done_tail) cs->done_tail->next = op; else cs->done_head = op;
    cs->done_tail = op;
    /* No eventfd write: the owner polls before it sleeps, and chunkstore_ready
     * sees this list. */
}

static int done_run(struct chunkstore *cs)
{
    /* Take the list: ops that callbacks finish early wait for the next poll. */
    struct cs_op *op = cs->done_head;
    cs->done_head = cs->done_tail = NULL;
    int n = 0;
    while (op) {
        struct cs_op *next = op->next;
        n += cs_op_finish(cs, op, op->res);
        op = next;
    }
    return n;
}

void cs_maybe_submit(struct chunkstore *cs)
{
    if (io_uring_sq_ready(&cs->ring) < cs->o.submit_depth)
        return;
    int r = io_uring_submit(&cs->ring);
    if (r < 0)   /* they stay queued; chunkstore_flush tries again */
        log_warn("chunkstore: io_uring_submit: %s", strerror(-r));
}

struct io_uring_sqe *cs_get_sqe(struct chunkstore *cs)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&cs->ring);
    if (!sqe) {
        /* SQ full: hand what is queued to the kernel and take a fresh slot. */
        int r = io_uring_submit(&cs->ring);
        if (r < 0)
            log_error("chunkstore: io_uring_submit with a full SQ: %s", strerror(-r));
        sqe = io_uring_get_sqe(&cs->ring);
    }
    return sqe;
}

/* Writes op's rest with pwrite if the rules of "Inline writes" allow; its
 * completion goes to the held list. Returns whether it did. */
static bool write_inline(struct chunkstore *cs, struct cs_op *op)
{
    size_t n = op->len - op->done;
    uint64_t off = op->off + op->done;
    if (!cs->inline_ok || n > INLINE_WRITE_MAX || (off | n) % PAGE || op->ent->ring_mods)
        return false;
    int64_t t0 = bfs_mono_ns();
    if (t0 < cs->inline_pause_until)
        return false;
    ssize_t w = pwrite(op->ent->fd, op->buf + op->done, n, (off_t)off);
    op->res = w < 0 ? -errno : w;
    int64_t took = bfs_mono_ns() - t0;
    cs->inline_writes++;
    if (took > INLINE_SLOW_NS) {
        cs->inline_slow++;
        cs->inline_pause_until = t0 + took * (1 + INLINE_PAUSE_X);
        log_info("chunkstore: an inline write of %zu bytes to chunk ino %016llx idx %llu took "
                 "%.1f ms; writes go through io_uring for %.0f ms", n,
                 (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx, took / 1e6,
                 took * INLINE_PAUSE_X / 1e6);
    }
    op->inlined = true;
    op->next = NULL;
    if (cs->held_tail) cs->held_tail->next = op; else cs->held_head = op;
    cs->held_tail = op;
    return true;
}

/* Queues the part of a read or write not done yet. */
static int op_queue_io(struct chunkstore *cs, struct cs_op *op)
{
    if (op->kind == CS_WRITE && write_inline(cs, op))
        return 0;
    struct io_uring_sqe *sqe = cs_get_sqe(cs);
    if (!sqe)
        return -EBUSY;
    char *p = op->buf + op->done;
    unsigned n = (unsigned)(op->len - op->done);
    uint64_t off = op->off + op->done;
    int fd = op->ent->fd;
    bool fixed = op->buf_index >= 0 && cs->registered;
    if (op->kind == CS_READ) {
        if (fixed)
            io_uring_prep_read_fixed(sqe, fd, p, n, off, op->buf_index);
        else
            io_uring_prep_read(sqe, fd, p, n, off);
    } else {
        if (fixed)
            io_uring_prep_write_fixed(sqe, fd, p, n, off, op->buf_index);
        else
            io_uring_prep_write(sqe, fd, p, n, off);
        op->ent->ring_mods++;
    }
    io_uring_sqe_set_data(sqe, op);
    cs->sqes_out++;
    cs_maybe_submit(cs);
    return 0;
}

/* Starts the write-out of a large write's pages at once (SYNC_FILE_RANGE_WRITE
 * does not wait for it): a stream of writes then reaches the disk as it comes
 * instead of all at the next fsync, which has little left to do. Small writes
 * are left to the page cache; most small files die young. Best effort: a
 * failure only loses the head start, fsync still writes everything. */
static void start_writeback(struct chunkstore *cs, struct fd_ent *e, uint64_t off, size_t len)
{
    if (len < WRITEBACK_MIN)
        return;
    struct cs_op *op = cs_op_new(cs, CS_WRITEBACK, NULL, NULL);
    struct io_uring_sqe *sqe = op ? cs_get_sqe(cs) : NULL;
    if (!sqe) {
        cs_op_free(cs, op);
        return;
    }
    fdcache_ref(&cs->fdc, e);   /* the fd stays open until the kernel is done with it */
    op->ent = e;
    io_uring_prep_sync_file_range(sqe, e->fd, (unsigned)len, off, SYNC_FILE_RANGE_WRITE);
    io_uring_sqe_set_data(sqe, op);
    cs->sqes_out++;
    cs_maybe_submit(cs);
}

/* Handles one CQE; returns how many callbacks ran (0 or 1). */
static int op_complete(struct chunkstore *cs, struct cs_op *op, int res)
{
    if (op->kind == CS_OPEN)
        return cs_open_done(cs, op, res);
    if (op->kind == CS_SYNC_PART)
        return cs_sync_part_done(cs, op, res);
    if (op->kind == CS_SYNC_OPEN)
        return cs_sync_open_done(cs, op, res);
    if (op->kind == CS_WRITEBACK) {
        if (res < 0)
            log_debug("chunkstore: write-out of chunk ino %016llx idx %llu: %s",
                      (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx,
                      strerror(-res));
        fdcache_put(&cs->fdc, op->ent);
        cs_op_free(cs, op);
        return 0;
    }
    if ((op->kind == CS_WRITE || op->kind == CS_FALLOC) && !op->inlined)
        op->ent->ring_mods--;
    op->inlined = false;
    if (op->kind == CS_FALLOC) {
        if (res >= 0) {   /* blocks changed: the next fsync of the ino flushes them */
            op->ent->dirty = true;
            cs->wrote = true;
        } else if (res != -EOPNOTSUPP) {
            log_error("chunkstore: fallocate (mode %d) of chunk ino %016llx idx %llu off %llu "
                      "len %zu: %s", (int)op->buf_index, (unsigned long long)op->ent->ino,
                      (unsigned long long)op->ent->idx, (unsigned long long)op->off, op->len,
                      strerror(-res));
        }
        return cs_op_finish(cs, op, res < 0 ? res : 0);
    }
    const char *what = op->kind == CS_READ ? "read" : "write";
    if (res == -EINTR || res == -EAGAIN)
        goto again;
    if (res < 0) {
        log_error("chunkstore: %s of chunk ino %016llx idx %llu off %llu len %zu: %s", what,
                  (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx,
                  (unsigned long long)(op->off + op->done), op->len - op->done, strerror(-res));
        return cs_op_finish(cs, op, res);
    }
    if (op->kind == CS_WRITE) {
        /* Set on completion, not on queueing, so an fsync queued meanwhile,
         * which clears the flag, cannot hide this write from the next fsync. */
        op->ent->dirty = true;
        cs->wrote = true;
        if (res == 0) {
            log_error("chunkstore: write of chunk ino %016llx idx %llu wrote nothing",
                      (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx);
            return cs_op_finish(cs, op, -EIO);
        }
        op->done += (size_t)res;
    } else if (res == 0) {
        /* End of the chunk file: the rest of the chunk was never written. */
        memset(op->buf + op->done, 0, op->len - op->done);
        op->done = op->len;
    } else {
        op->done += (size_t)res;
    }
    if (op->done == op->len) {
        if (op->kind == CS_WRITE)
            start_writeback(cs, op->ent, op->off, op->len);
        return cs_op_finish(cs, op, (ssize_t)op->len);
    }
again:;
    int r = op_queue_io(cs, op);   /* short I/O: queue the rest */
    if (r < 0) {
        log_error("chunkstore: cannot requeue %s of chunk ino %016llx idx %llu: %s", what,
                  (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx,
                  strerror(-r));
        return cs_op_finish(cs, op, r);
    }
    cs->resubmitted = true;
    return 0;
}

static int reap(struct chunkstore *cs)
{
    struct io_uring_cqe *cqes[REAP_BATCH];
    struct cs_op *ops[REAP_BATCH];
    int res[REAP_BATCH];
    int ran = 0;
    unsigned n;
    /* peek_batch also flushes overflowed CQEs and pending task work. */
    while ((n = io_uring_peek_batch_cqe(&cs->ring, cqes, REAP_BATCH)) > 0) {
        /* Copy and release the CQEs first: callbacks may queue and submit. */
        for (unsigned i = 0; i < n; i++) {
            ops[i] = io_uring_cqe_get_data(cqes[i]);
            res[i] = cqes[i]->res;
        }
        io_uring_cq_advance(&cs->ring, n);
        cs->sqes_out -= n;
        for (unsigned i = 0; i < n; i++) {
            if (cs->holding && ops[i]->kind != CS_OPEN) {
                ops[i]->res = res[i];   /* for held_run */
                ops[i]->next = NULL;
                if (cs->held_tail) cs->held_tail->next = ops[i]; else cs->held_head = ops[i];
                cs->held_tail = ops[i];
                continue;
            }
            ran += op_complete(cs, ops[i], res[i]);
        }
    }
    return ran;
}

/* Handles the completions cs_open_wait held back. */
static int held_run(struct chunkstore *cs)
{
    struct cs_op *op = cs->held_head;
    cs->held_head = cs->held_tail = NULL;
    int ran = 0;
    while (op) {
        struct cs_op *next = op->next;
        ran += op_complete(cs, op, (int)op->res);
        op = next;
    }
    return ran;
}

int cs_open_wait(struct chunkstore *cs, struct fd_ent *e)
{
    int r = 0;
    bool was = cs->holding;
    cs->holding = true;
    while (e->opening) {
        r = io_uring_submit_and_wait(&cs->ring, 1);
        if (r < 0 && r != -EINTR) {
            log_error("chunkstore: waiting for the open of chunk ino %016llx idx %llu: "
                      "io_uring_submit_and_wait: %s", (unsigned long long)e->ino,
                      (unsigned long long)e->idx, strerror(-r));
            break;
        }
        r = 0;
        reap(cs);
    }
    cs->holding = was;
    return r;
}

/* ---- setup and teardown ---- */

/* Whether the chunks' file system refuses non-blocking buffered writes, so that
 * io_uring sends each write to a worker thread ("Inline writes" above): a
 * 1-byte RWF_NOWAIT write to an unnamed file in DATA/chunks. Anything but
 * EOPNOTSUPP, or no O_TMPFILE, leaves the writes to io_uring. */
static bool writes_punted(struct chunkstore *cs)
{
    int fd = openat(cs->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_debug("chunkstore: cannot probe %s for non-blocking writes (O_TMPFILE: %s)",
                  cs->path, strerror(errno));
        return false;
    }
    char c = 0;
    struct iovec iov = { &c, 1 };
    bool punted = pwritev2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
    close(fd);
    return punted;
}

static int make_dirs(struct chunkstore *cs, const char *data_dir)
{
    int r = 0;
    bool created = false;
    char name[4];
    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = -errno;
        log_error("chunkstore: open data dir %s: %s", data_dir, strerror(errno));
        return r;
    }
    if (mkdirat(dfd, "chunks", 0700) == 0)
        created = true;
    else if (errno != EEXIST) {
        r = -errno;
        log_error("chunkstore: mkdir %s: %s", cs->path, strerror(errno));
        goto out;
    }
    cs->dirfd = openat(dfd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cs->dirfd < 0) {
        r = -errno;
        log_error("chunkstore: open %s: %s", cs->path, strerror(errno));
        goto out;
    }
    for (int b = 0; b < NBUCKETS; b++) {
        snprintf(name, sizeof name, "%02x", b);
        if (mkdirat(cs->dirfd, name, 0700) == 0)
            created = true;
        else if (errno != EEXIST) {
            r = -errno;
            log_error("chunkstore: mkdir %s/%s: %s", cs->path, name, strerror(errno));
            goto out;
        }
    }
    /* New directories must survive a crash before any chunk in them can. */
    if (created && (fsync(cs->dirfd) < 0 || fsync(dfd) < 0)) {
        r = -errno;
        log_error("chunkstore: fsync of %s: %s", cs->path, strerror(errno));
    }
out:
    close(dfd);
    return r;
}

static int ring_init(struct chunkstore *cs)
{
    /* Newest flags first; older kernels reject unknown ones with EINVAL. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
            IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0] && r == -EINVAL; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flag_sets[i];
        r = io_uring_queue_init_params(cs->o.queue_size, &cs->ring, &p);
    }
    if (r < 0) {
        log_error("chunkstore: io_uring_queue_init(%u): %s", cs->o.queue_size, strerror(-r));
        return r;
    }
    cs->ring_ok = true;
    cs->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cs->efd < 0) {
        r = -errno;
        log_error("chunkstore: eventfd: %s", strerror(errno));
        return r;
    }
    r = io_uring_register_eventfd(&cs->ring, cs->efd);
    if (r < 0)
        log_error("chunkstore: io_uring_register_eventfd: %s", strerror(-r));
    return r;
}

static int buffers_init(struct chunkstore *cs)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t n = cs->o.buffer_count;
    cs->buf_stride = (cs->o.buffer_size + (size_t)page - 1) / (size_t)page * (size_t)page;
    void *mem = NULL;
    int r = posix_memalign(&mem, (size_t)page, cs->buf_stride * n);
    cs->bufmem = mem;
    cs->buf_used = calloc(n, sizeof *cs->buf_used);
    cs->buf_free = calloc(n, sizeof *cs->buf_free);
    struct iovec *iov = calloc(n, sizeof *iov);
    if (r || !cs->buf_used || !cs->buf_free || !iov) {
        log_error("chunkstore: cannot allocate %zu buffers of %u bytes", n, cs->o.buffer_size);
        free(iov);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = cs->bufmem + i * cs->buf_stride;
        iov[i].iov_len = cs->o.buffer_size;
        cs->buf_free[i] = (int)(n - 1 - i);   /* buf_get hands out index 0 first */
    }
    cs->nfree = (unsigned)n;
    r = io_uring_register_buffers(&cs->ring, iov, (unsigned)n);
    free(iov);
    if (r < 0)
        log_warn("chunkstore: cannot register %zu buffers of %u bytes with io_uring (%s; "
                 "RLIMIT_MEMLOCK too low? see ulimit -l); going on with plain buffers",
                 n, cs->o.buffer_size, strerror(-r));
    cs->registered = r == 0;
    return 0;
}

static void destroy(struct chunkstore *cs)
{
    cs_usage_wait(cs);   /* callbacks owed run: a close after a failed open has none */
    cs_jobs_stop(cs);
    cs_remover_stop(cs->remover);   /* before dirfd closes: the threads use it */
    cs_cuts_stop(cs);
    fdcache_destroy(&cs->fdc);
    for (int b = 0; b < NBUCKETS; b++)
        if (cs->bucket_fd[b] >= 0)
            close(cs->bucket_fd[b]);
    if (cs->ring_ok) {
        if (cs->registered)
            io_uring_unregister_buffers(&cs->ring);
        if (cs->efd >= 0)
            io_uring_unregister_eventfd(&cs->ring);
        io_uring_queue_exit(&cs->ring);
    }
    if (cs->efd >= 0)
        close(cs->efd);
    if (cs->dirfd >= 0)
        close(cs->dirfd);
    while (cs->pool) {
        struct cs_op *op = cs->pool;
        cs->pool = op->next;
        free(op);
    }
    free(cs->bufmem);
    free(cs->buf_used);
    free(cs->buf_free);
    free(cs->path);
    free(cs);
}

/* The fd cache's way out when its unsynced set is full: everything written on
 * disk at once (blocking), so the set can be emptied. */
static int syncfs_all(void *arg, const char *why, unsigned n)
{
    struct chunkstore *cs = arg;
    log_info("chunkstore: %s; syncfs of %s instead of syncing %u evicted chunks one by one",
             why, cs->path, n);
    if (syncfs(cs->dirfd) < 0) {
        int r = -errno;
        log_error("chunkstore: syncfs of %s: %s", cs->path, strerror(errno));
        return r;   /* the set is kept: the next fsync of each ino still tries */
    }
    return 0;
}

static int opts_check(const struct chunkstore_opts *in, struct chunkstore_opts *o)
{
    *o = *in;
    if (!o->queue_size) o->queue_size = 256;
    if (!o->buffer_size) o->buffer_size = 1u << 20;
    if (!o->buffer_count) o->buffer_count = 32;
    if (!o->submit_depth) o->submit_depth = 32;
    if (!o->fd_cache) o->fd_cache = 512;
    const char *bad = NULL;
    if (!o->chunk_size)
        bad = "chunk_size must be > 0";
    else if (o->buffer_size < 4096 || o->buffer_size > MAX_BUFFER_SIZE)
        bad = "buffer_size must be in [4096, 1 GiB]";
    else if (o->buffer_count > MAX_REG_BUFFERS)
        bad = "buffer_count must be <= 16384";
    else if (o->queue_size > 32768 || (o->queue_size & (o->queue_size - 1)))
        bad = "queue_size must be a power of two <= 32768";
    if (bad) {
        log_error("chunkstore: bad options (chunk_size %u queue_size %u buffer_size %u "
                  "buffer_count %u): %s", o->chunk_size, o->queue_size, o->buffer_size,
                  o->buffer_count, bad);
        return -EINVAL;
    }
    if (o->submit_depth > o->queue_size)   /* the SQ would fill first anyway */
        o->submit_depth = o->queue_size;
    return 0;
}

int chunkstore_open(const char *data_dir, const struct chunkstore_opts *opts, struct chunkstore **out)
{
    *out = NULL;
    struct chunkstore_opts o;
    int r = opts_check(opts, &o);
    if (r < 0)
        return r;
    struct chunkstore *cs = calloc(1, sizeof *cs);
    if (!cs)
        return -ENOMEM;
    cs->o = o;
    cs->efd = cs->dirfd = -1;
    for (int b = 0; b < NBUCKETS; b++)
        cs->bucket_fd[b] = -1;
    int fr = fdcache_init(&cs->fdc, o.fd_cache, syncfs_all, cs);
    if (asprintf(&cs->path, "%s/chunks", data_dir) < 0)
        cs->path = NULL;
    if (fr < 0 || !cs->path) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = make_dirs(cs, data_dir)) < 0 || (r = ring_init(cs)) < 0 ||
        (r = buffers_init(cs)) < 0 ||
        (r = cs_remover_start(data_dir, "chunk-removals", false, cs->path, cs->dirfd, cs->efd,
                              &cs->remover)) < 0 ||
        (r = cs_cuts_start(cs, data_dir)) < 0)
        goto fail;
    cs->inline_ok = !o.no_inline_writes && writes_punted(cs);
    log_debug("chunkstore: open %s: chunk %u, queue %u, %u buffers of %u bytes (%s), "
              "submit depth %u, fd cache %u, inline writes up to %u bytes", cs->path,
              o.chunk_size, o.queue_size, o.buffer_count, o.buffer_size,
              cs->registered ? "registered" : "plain", o.submit_depth, o.fd_cache,
              cs->inline_ok ? INLINE_WRITE_MAX : 0);
    *out = cs;
    return 0;
fail:
    destroy(cs);
    return r;
}

void chunkstore_drain(struct chunkstore *cs)
{
    while (cs->inflight || cs->sqes_out || cs->held_head) {
        if (!cs->sqes_out && !cs->done_head && !cs->held_head &&
            (cs_cuts_pending(cs) || cs->usage || cs_jobs_pending(cs))) {
            cs_cuts_wait(cs);   /* ops held by cuts, usage counts and jobs have no I/O */
            cs_usage_wait(cs);
            cs_jobs_wait(cs);
            continue;
        }
        if (cs->held_head) {
            held_run(cs);
            continue;
        }
        if (cs->done_head) {
            done_run(cs);
            continue;
        }
        if (!cs->sqes_out) {
            log_error("chunkstore: close: %u ops in flight but no I/O queued", cs->inflight);
            break;
        }
        int r = io_uring_submit_and_wait(&cs->ring, 1);
        if (r < 0 && r != -EINTR) {
            log_error("chunkstore: close: io_uring_submit_and_wait: %s", strerror(-r));
            break;
        }
        reap(cs);
    }
    /* Removals of gone files and cuts are finished by a clean stop, then synced. */
    cs_remover_wait(cs->remover);
    cs_cuts_wait(cs);
    /* A clean stop leaves everything on disk, not only what was fsynced. */
    if (cs->wrote && syncfs(cs->dirfd) < 0)
        log_error("chunkstore: syncfs of %s: %s", cs->path, strerror(errno));
    cs->wrote = false;
}

void chunkstore_close(struct chunkstore *cs)
{
    if (!cs)
        return;
    chunkstore_drain(cs);
    if (cs->inline_writes)
        log_info("chunkstore: %llu writes done inline, %llu of them slow",
                 (unsigned long long)cs->inline_writes, (unsigned long long)cs->inline_slow);
    destroy(cs);
}

/* ---- loop interface ---- */

int chunkstore_eventfd(struct chunkstore *cs)
{
    return cs->efd;
}

bool chunkstore_ready(struct chunkstore *cs)
{
    return cs->done_head || cs->held_head || io_uring_cq_ready(&cs->ring) ||
           (IO_URING_READ_ONCE(*cs->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) ||
           cs_remover_wants_poll(cs->remover) || cs_cuts_wants_poll(cs) || cs_usage_ready(cs) ||
           cs_jobs_ready(cs);
}

bool chunkstore_arm(struct chunkstore *cs)
{
    uint64_t v;
    if (read(cs->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_warn("chunkstore: eventfd read: %s", strerror(errno));
    return chunkstore_ready(cs);
}

int chunkstore_poll(struct chunkstore *cs)
{
    int n = held_run(cs);
    n += done_run(cs);
    n += reap(cs);
    cs_remover_poll(cs->remover);
    n += cs_cuts_poll(cs);
    n += cs_usage_poll(cs);
    n += cs_jobs_poll(cs);
    if (cs->resubmitted) {
        /* Rests of short I/O were queued here; don't leave them to the owner. */
        cs->resubmitted = false;
        chunkstore_flush(cs);
    }
    return n;
}

int chunkstore_flush(struct chunkstore *cs)
{
    if (!io_uring_sq_ready(&cs->ring))
        return 0;
    int r = io_uring_submit(&cs->ring);
    if (r < 0) {
        log_error("chunkstore: io_uring_submit: %s", strerror(-r));
        return r;
    }
    return 0;
}

unsigned chunkstore_inflight(struct chunkstore *cs)
{
    return cs->inflight;
}

/* ---- buffers ---- */

void *chunkstore_buf_get(struct chunkstore *cs, size_t len, int *buf_index)
{
    *buf_index = -1;
    if (len > cs->o.buffer_size || !cs->nfree)
        return NULL;
    int i = cs->buf_free[--cs->nfree];
    cs->buf_used[i] = true;
    *buf_index = i;
    return cs->bufmem + (size_t)i * cs->buf_stride;
}

void chunkstore_buf_put(struct chunkstore *cs, int buf_index)
{
    if (buf_index < 0 || (unsigned)buf_index >= cs->o.buffer_count || !cs->buf_used[buf_index]) {
        log_error("chunkstore: buf_put of buffer %d, which is not handed out", buf_index);
        return;
    }
    cs->buf_used[buf_index] = false;
    cs->buf_free[cs->nfree++] = buf_index;
}

/* ---- operations ---- */

static int io_check(struct chunkstore *cs, const char *what, uint64_t ino, uint64_t idx,
                    uint64_t off, const void *buf, int buf_index, size_t len)
{
    const char *bad = NULL;
    if (off > cs->o.chunk_size || len > cs->o.chunk_size - off)
        bad = "past the chunk end";
    else if (!buf && len)
        bad = "no buffer";
    else if (buf_index != -1) {
        if (buf_index < 0 || (unsigned)buf_index >= cs->o.buffer_count || !cs->buf_used[buf_index]) {
            bad = "buffer index not handed out";
        } else {
            uintptr_t b = (uintptr_t)(cs->bufmem + (size_t)buf_index * cs->buf_stride);
            uintptr_t p = (uintptr_t)buf;
            if (p < b || p + len > b + cs->o.buffer_size)
                bad = "buffer outside its registered buffer";
        }
    }
    if (bad) {
        log_warn("chunkstore: %s of chunk ino %016llx idx %llu off %llu len %zu buf %d: %s",
                 what, (unsigned long long)ino, (unsigned long long)idx,
                 (unsigned long long)off, len, buf_index, bad);
        return -EINVAL;
    }
    return 0;
}

int cs_op_start(struct chunkstore *cs, struct cs_op *op)
{
    if (op->kind != CS_FALLOC) {
        int r = op_queue_io(cs, op);
        if (r < 0)
            log_error("chunkstore: cannot queue %s of chunk ino %016llx idx %llu: %s",
                      op->kind == CS_READ ? "read" : "write", (unsigned long long)op->ent->ino,
                      (unsigned long long)op->ent->idx, strerror(-r));
        return r;
    }
    struct io_uring_sqe *sqe = cs_get_sqe(cs);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_fallocate(sqe, op->ent->fd, op->buf_index, (off_t)op->off, (off_t)op->len);
    io_uring_sqe_set_data(sqe, op);
    op->ent->ring_mods++;
    cs->sqes_out++;
    cs_maybe_submit(cs);
    return 0;
}

int cs_op_launch(struct chunkstore *cs, struct cs_op *op, uint64_t ino, uint64_t idx, bool create)
{
    int r = cs_ent_get_async(cs, ino, idx, create, op);
    if (r == 0 && (r = cs_op_start(cs, op)) < 0) {
        fdcache_put(&cs->fdc, op->ent);
        op->ent = NULL;
    }
    return r < 0 ? r : 0;
}

/* Gets op's chunk file (ino, idx) and queues its I/O now, once the file is
 * open, or once a cut of it is done. 0 (op counted in inflight) or -errno (op freed). */
static int op_begin(struct chunkstore *cs, struct cs_op *op, uint64_t ino, uint64_t idx,
                    bool create)
{
    int r = cs_op_park(cs, op, ino, idx, create) ? 0 : cs_op_launch(cs, op, ino, idx, create);
    if (r < 0) {
        cs_op_free(cs, op);
        return r;
    }
    cs->inflight++;
    return 0;
}

static int io_start(struct chunkstore *cs, enum cs_op_kind kind, uint64_t ino, uint64_t idx,
                    uint64_t off, void *buf, int buf_index, size_t len, chunk_cb cb, void *arg)
{
    bool rd = kind == CS_READ;
    int r = io_check(cs, rd ? "read" : "write", ino, idx, off, buf, buf_index, len);
    if (r < 0)
        return r;
    struct cs_op *op = cs_op_new(cs, kind, cb, arg);
    if (!op)
        return -ENOMEM;
    op->buf = buf;
    op->buf_index = buf_index;
    op->len = len;
    op->off = off;
    if (!len) {
        cs->inflight++;
        cs_done_push(cs, op, 0);
        return 0;
    }
    return op_begin(cs, op, ino, idx, !rd);
}

int chunkstore_write(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                     const void *buf, int buf_index, size_t len, chunk_cb cb, void *arg)
{
    /* The buffer is only read; op keeps one pointer type for both directions. */
    return io_start(cs, CS_WRITE, ino, idx, off, (void *)buf, buf_index, len, cb, arg);
}

int chunkstore_read(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                    void *buf, int buf_index, size_t len, chunk_cb cb, void *arg)
{
    return io_start(cs, CS_READ, ino, idx, off, buf, buf_index, len, cb, arg);
}

int chunkstore_fallocate(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                         size_t len, int mode, chunk_cb cb, void *arg)
{
    int r = io_check(cs, "fallocate", ino, idx, off, NULL, -1, 0);
    if (r == 0 && (len == 0 || len > cs->o.chunk_size - off))
        r = -EINVAL;
    if (r < 0)
        return r;
    struct cs_op *op = cs_op_new(cs, CS_FALLOC, cb, arg);
    if (!op)
        return -ENOMEM;
    op->off = off;
    op->len = len;
    op->buf_index = mode;   /* for the log line: a fallocate has no buffer */
    /* A punched hole in a missing chunk file is there already (op_unopened in chunkfiles.c). */
    return op_begin(cs, op, ino, idx, !(mode & FALLOC_FL_PUNCH_HOLE));
}
