/* chunkstore.c - see chunkstore.h.
 *
 * On-disk layout (a format: do not change it casually):
 *   DATA/chunks/XX/<ino as %016llx>.<idx as %llu>
 * XX is the top byte of a 64-bit mix (place_mix64) of ino, in hex. All chunks
 * of one file share a directory, and any inode numbering (sequential, node id in
 * the high bits) spreads evenly over the 256 directories.
 *
 * Life of an op: chunkstore_read/write get the chunk's fd from the fd cache (a
 * blocking openat on a miss), queue an SQE whose user_data is a struct op, and
 * return. chunkstore_poll reaps CQEs, resubmits short I/O and runs the callback.
 * Ops that finish without I/O (missing chunk, nothing to sync) go on the done
 * list, which poll runs first; the eventfd is bumped so the owner wakes up.
 *
 * fd cache: a hash table (ino, idx) -> entry. An entry in use by an op holds a
 * reference and is never closed; only idle entries sit on the LRU list and can be
 * evicted. An entry whose chunk file was removed is taken out of the table at
 * once ("dead": no later op can find it) and closed when its last op finishes.
 *
 * Eviction only closes the fd: a flush there would stall the event loop on the
 * disk for every new file once the cache is full. A chunk closed with unsynced
 * data goes into the unsynced set (per ino, a sorted array of idx) and the next
 * fsync of its ino opens it again to sync it; a chunk is in the cache or in the
 * set, never both. The set is bounded: when full, one syncfs puts everything on
 * disk and empties it.
 *
 * With IORING_SETUP_SINGLE_ISSUER the thread that calls chunkstore_open must be
 * the thread that runs the event loop.
 */
#include "chunkstore.h"

#include "../common/log.h"
#include "../common/placement.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define NBUCKETS 256
#define REAP_BATCH 64
#define MAX_REG_BUFFERS 16384        /* kernel's IORING_MAX_REG_BUFFERS */
#define MAX_BUFFER_SIZE (1u << 30)   /* kernel's limit per registered buffer */
#define UNSYNCED_MAX 65536           /* chunks in the unsynced set before a syncfs */
#define UNSYNCED_BUCKETS 16384       /* hash of ino for the unsynced set */
#define SYNC_OPEN_MAX 64             /* evicted chunk files one fsync has open at once */
#define WRITEBACK_MIN (256u << 10)   /* writes this large start their write-out at once */

struct fd_ent {
    uint64_t ino, idx;
    int fd;
    unsigned refs;          /* ops using fd: never closed while > 0 */
    bool dirty;             /* written since its last sync */
    bool dead;              /* out of the table (chunk removed, or sync_only): close at refs 0 */
    bool sync_only;         /* opened by an fsync to sync an evicted chunk */
    bool in_lru;
    struct fd_ent *hnext;           /* hash chain */
    struct fd_ent *prev, *next;     /* LRU of idle entries, most recent first */
};

/* The chunks of one ino evicted from the fd cache with unsynced data. Sorted, so
 * truncate cuts the tail and lookups are binary searches. */
struct unsynced {
    uint64_t ino;
    struct unsynced *next;  /* hash chain */
    uint64_t *idx;
    uint32_t n, cap;
};

enum op_kind { OP_READ, OP_WRITE, OP_SYNC, OP_SYNC_PART, OP_WRITEBACK };

struct op {
    enum op_kind kind;
    struct fd_ent *ent;     /* READ/WRITE/WRITEBACK, and SYNC_PART of a chunk file */
    char *buf;
    size_t len, done;
    uint64_t off;
    int buf_index;
    ssize_t res;            /* SYNC: first error; done list: the result */
    unsigned pending;       /* SYNC: parts not completed (+1 while queueing) */
    int bucket;             /* SYNC_PART of a bucket dir, else -1 */
    struct op *parent;      /* SYNC_PART: its SYNC */
    struct unsynced *todo;  /* SYNC: evicted chunks of the ino, not opened yet */
    uint32_t todo_pos;      /* SYNC: next one in todo */
    unsigned nopen;         /* SYNC: parts on sync_only entries in flight */
    unsigned sync_flags;    /* SYNC: IORING_FSYNC_DATASYNC or 0 */
    chunk_cb cb;
    void *arg;
    struct op *next;        /* done list, free pool */
};

struct chunkstore {
    struct io_uring ring;
    bool ring_ok;
    int efd;
    int dirfd;                          /* DATA/chunks */
    char *path;                         /* DATA/chunks, for log lines */
    int bucket_fd[NBUCKETS];            /* opened when first synced */
    bool bucket_dirty[NBUCKETS];        /* names created/removed since its last sync */
    struct chunkstore_opts o;

    char *bufmem;
    size_t buf_stride;
    bool registered;
    bool *buf_used;
    int *buf_free;
    unsigned nfree;

    struct fd_ent **table;
    size_t table_mask;
    unsigned nent;                      /* entries in the table */
    struct fd_ent *lru_head, *lru_tail;
    struct unsynced **uns;              /* UNSYNCED_BUCKETS chains, by ino */
    unsigned nuns;                      /* chunks in the unsynced set */

    struct op *done_head, *done_tail;
    struct op *pool;
    unsigned inflight;                  /* user ops whose callback has not run */
    unsigned sqes_out;                  /* SQEs queued or in the kernel, not reaped */
    bool resubmitted;                   /* poll queued SQEs itself: submit them */
    bool wrote;                         /* anything to sync at close */
};

/* ---- naming ---- */

static int bucket_of(uint64_t ino)
{
    return (int)(place_mix64(ino) >> 56);
}

int chunkstore_bucket(uint64_t ino)
{
    return bucket_of(ino);
}

/* Exactly what chunk_name writes: 16 hex digits, a dot, a decimal index. */
int chunkstore_name_parse(const char *name, uint64_t *ino, uint64_t *idx)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -EINVAL;
        v = v << 4 | (uint64_t)d;
    }
    if (name[16] != '.' || name[17] < '0' || name[17] > '9' || (name[17] == '0' && name[18]))
        return -EINVAL;
    uint64_t x = 0;
    for (const char *p = name + 17; *p; p++) {
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *ino = v;
    *idx = x;
    return 0;
}

/* Name relative to DATA/chunks; 2 + 1 + 16 + 1 + 20 + NUL fits in 48. */
static void chunk_name(char *name, size_t size, uint64_t ino, uint64_t idx)
{
    snprintf(name, size, "%02x/%016llx.%llu", bucket_of(ino), (unsigned long long)ino,
             (unsigned long long)idx);
}

/* ---- fd cache ---- */

static size_t ent_hash(const struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    return (size_t)place_mix64(ino ^ (idx * 0x9e3779b97f4a7c15ULL)) & cs->table_mask;
}

static struct fd_ent *ent_find(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    for (struct fd_ent *e = cs->table[ent_hash(cs, ino, idx)]; e; e = e->hnext)
        if (e->ino == ino && e->idx == idx)
            return e;
    return NULL;
}

static void lru_remove(struct chunkstore *cs, struct fd_ent *e)
{
    if (!e->in_lru)
        return;
    if (e->prev) e->prev->next = e->next; else cs->lru_head = e->next;
    if (e->next) e->next->prev = e->prev; else cs->lru_tail = e->prev;
    e->prev = e->next = NULL;
    e->in_lru = false;
}

static void lru_push(struct chunkstore *cs, struct fd_ent *e)
{
    e->prev = NULL;
    e->next = cs->lru_head;
    if (cs->lru_head) cs->lru_head->prev = e; else cs->lru_tail = e;
    cs->lru_head = e;
    e->in_lru = true;
}

static void table_remove(struct chunkstore *cs, struct fd_ent *e)
{
    struct fd_ent **pp = &cs->table[ent_hash(cs, e->ino, e->idx)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    cs->nent--;
    lru_remove(cs, e);
}

static void ent_free(struct fd_ent *e)
{
    close(e->fd);
    free(e);
}

/* ---- unsynced set ---- */

/* The link that points to ino's record, or the NULL link ending its chain. */
static struct unsynced **uns_slot(struct chunkstore *cs, uint64_t ino)
{
    struct unsynced **pp = &cs->uns[place_mix64(ino) & (UNSYNCED_BUCKETS - 1)];
    while (*pp && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

/* The first position in u->idx holding an index >= idx. */
static uint32_t uns_pos(const struct unsynced *u, uint64_t idx)
{
    uint32_t lo = 0, hi = u->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u->idx[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Keeps the first n indexes of the record *pp points to; frees it if none is left. */
static void uns_cut(struct chunkstore *cs, struct unsynced **pp, uint32_t n)
{
    struct unsynced *u = *pp;
    cs->nuns -= u->n - n;
    u->n = n;
    if (n)
        return;
    *pp = u->next;
    free(u->idx);
    free(u);
}

static void uns_clear(struct chunkstore *cs)
{
    for (size_t h = 0; h < UNSYNCED_BUCKETS; h++)
        while (cs->uns[h])
            uns_cut(cs, &cs->uns[h], 0);
}

/* Puts everything written on disk at once (blocking) so the set can be emptied:
 * the way out when it cannot take one more chunk. */
static int uns_syncfs(struct chunkstore *cs, const char *why)
{
    log_info("chunkstore: %s; syncfs of %s instead of syncing %u evicted chunks one by one",
             why, cs->path, cs->nuns);
    if (syncfs(cs->dirfd) < 0) {
        int r = -errno;
        log_error("chunkstore: syncfs of %s: %s", cs->path, strerror(errno));
        return r;   /* keep the set: the next fsync of each ino still tries */
    }
    uns_clear(cs);
    return 0;
}

/* Remembers that chunk (ino, idx), not in the fd cache, has unsynced data. */
static void uns_add(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    if (cs->nuns >= UNSYNCED_MAX && uns_syncfs(cs, "unsynced set full") == 0)
        return;   /* the chunk's data is on disk too */
    struct unsynced **pp = uns_slot(cs, ino), *u = *pp;
    if (!u) {
        if (!(u = calloc(1, sizeof *u)))
            goto nomem;
        u->ino = ino;
        *pp = u;
    }
    uint32_t i = uns_pos(u, idx);
    if (i < u->n && u->idx[i] == idx)
        return;
    if (u->n == u->cap) {
        uint32_t cap = u->cap ? 2 * u->cap : 4;
        uint64_t *a = realloc(u->idx, cap * sizeof *a);
        if (!a) {
            if (!u->n)
                uns_cut(cs, pp, 0);
            goto nomem;
        }
        u->idx = a;
        u->cap = cap;
    }
    memmove(&u->idx[i + 1], &u->idx[i], (u->n - i) * sizeof *u->idx);
    u->idx[i] = idx;
    u->n++;
    cs->nuns++;
    return;
nomem:
    uns_syncfs(cs, "out of memory for the unsynced set");
}

/* Takes chunk (ino, idx) out of the set; true if it was there. */
static bool uns_take(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    struct unsynced **pp = uns_slot(cs, ino), *u = *pp;
    if (!u)
        return false;
    uint32_t i = uns_pos(u, idx);
    if (i == u->n || u->idx[i] != idx)
        return false;
    memmove(&u->idx[i], &u->idx[i + 1], (u->n - i - 1) * sizeof *u->idx);
    uns_cut(cs, pp, u->n - 1);
    return true;
}

/* Drops the chunks of ino with idx >= from (their files are being removed). */
static void uns_drop(struct chunkstore *cs, uint64_t ino, uint64_t from)
{
    struct unsynced **pp = uns_slot(cs, ino);
    if (*pp)
        uns_cut(cs, pp, uns_pos(*pp, from));
}

/* Takes ino's record out of the set, for an fsync to work through; NULL if none. */
static struct unsynced *uns_detach(struct chunkstore *cs, uint64_t ino)
{
    struct unsynced **pp = uns_slot(cs, ino), *u = *pp;
    if (u) {
        *pp = u->next;
        cs->nuns -= u->n;
    }
    return u;
}

/* The data of chunk (ino, idx) may not be on disk (its sync failed or was not
 * queued): the next fsync of ino must sync it, through its cached fd if it has
 * one, else through the set. (A removed chunk leaves a stale entry there, which
 * that fsync drops when the open finds no file.) */
static void mark_unsynced(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    struct fd_ent *e = ent_find(cs, ino, idx);
    if (e)
        e->dirty = true;
    else
        uns_add(cs, ino, idx);
}

/* Closes an idle entry without syncing it (see the top of the file). */
static void ent_evict(struct chunkstore *cs, struct fd_ent *e)
{
    table_remove(cs, e);
    if (e->dirty)
        uns_add(cs, e->ino, e->idx);
    ent_free(e);
}

static void cache_trim(struct chunkstore *cs)
{
    while (cs->nent > cs->o.fd_cache && cs->lru_tail)
        ent_evict(cs, cs->lru_tail);
}

static void ent_ref(struct chunkstore *cs, struct fd_ent *e)
{
    if (e->refs++ == 0)
        lru_remove(cs, e);
}

static void ent_put(struct chunkstore *cs, struct fd_ent *e)
{
    if (--e->refs)
        return;
    if (e->dead) {
        ent_free(e);
        return;
    }
    lru_push(cs, e);
    cache_trim(cs);
}

/* Opens chunk (ino, idx) read-write (an fd opened for a read may serve a write
 * later). With create, a new file is made with O_EXCL so we know its bucket
 * directory changed and must be synced. */
static int chunk_open(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create)
{
    char name[48];
    chunk_name(name, sizeof name, ino, idx);
    for (;;) {
        int fd = openat(cs->dirfd, name, O_RDWR | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == ENOENT && create) {
            fd = openat(cs->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                cs->bucket_dirty[bucket_of(ino)] = true;
                cs->wrote = true;
                return fd;
            }
            if (errno == EEXIST)
                continue;
        }
        if ((errno == EMFILE || errno == ENFILE) && cs->lru_tail) {
            /* Out of fds: give back an idle cached one and try again. */
            ent_evict(cs, cs->lru_tail);
            continue;
        }
        int r = -errno;
        if (r != -ENOENT)
            log_error("chunkstore: open %s/%s: %s", cs->path, name, strerror(-r));
        return r;
    }
}

/* The cached entry of (ino, idx), opened if needed, with a reference taken. */
static int ent_get(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create,
                   struct fd_ent **out)
{
    struct fd_ent *e = ent_find(cs, ino, idx);
    if (e) {
        ent_ref(cs, e);
        *out = e;
        return 0;
    }
    e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    int fd = chunk_open(cs, ino, idx, create);
    if (fd < 0) {
        free(e);
        return fd;
    }
    e->ino = ino;
    e->idx = idx;
    e->fd = fd;
    e->refs = 1;
    /* Evicted unsynced earlier: the sync it owes is now this fd's to do (fsync
     * flushes the file, whichever fd wrote). */
    e->dirty = uns_take(cs, ino, idx);
    size_t h = ent_hash(cs, ino, idx);
    e->hnext = cs->table[h];
    cs->table[h] = e;
    cs->nent++;
    cache_trim(cs);   /* if every entry is in use, the cache grows for a while */
    *out = e;
    return 0;
}

/* Takes e out of the table: closed now if idle, else when its last op finishes. */
static void ent_drop(struct chunkstore *cs, struct fd_ent *e)
{
    table_remove(cs, e);
    if (e->refs)
        e->dead = true;
    else
        ent_free(e);
}

/* Takes the entries of ino with from <= idx < end out of the table. A short
 * range is looked up index by index (an unlink must not cost a walk over the
 * whole cache); a long one walks the table. */
static void cache_invalidate(struct chunkstore *cs, uint64_t ino, uint64_t from, uint64_t end)
{
    if (cs->nent == 0 || end <= from)
        return;
    if (end - from <= cs->table_mask) {
        for (uint64_t idx = from; idx < end; idx++) {
            struct fd_ent *e = ent_find(cs, ino, idx);
            if (e)
                ent_drop(cs, e);
        }
        return;
    }
    for (size_t h = 0; h <= cs->table_mask; h++) {
        for (struct fd_ent *e = cs->table[h], *next; e; e = next) {
            next = e->hnext;
            if (e->ino == ino && e->idx >= from && e->idx < end)
                ent_drop(cs, e);
        }
    }
}

/* ---- ops ---- */

static struct op *op_new(struct chunkstore *cs, enum op_kind kind, chunk_cb cb, void *arg)
{
    struct op *op = cs->pool;
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

static void op_free(struct chunkstore *cs, struct op *op)
{
    if (!op)
        return;
    op->next = cs->pool;
    cs->pool = op;
}

/* Runs a user op's callback; returns 1 (a callback ran). */
static int op_finish(struct chunkstore *cs, struct op *op, ssize_t res)
{
    if (op->ent)
        ent_put(cs, op->ent);
    cs->inflight--;
    chunk_cb cb = op->cb;
    void *arg = op->arg;
    op_free(cs, op);
    if (cb)
        cb(arg, res);
    return 1;
}

/* Finishes op from the next chunkstore_poll: callbacks never run inside the
 * call that queued them. */
static void done_push(struct chunkstore *cs, struct op *op, ssize_t res)
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
    struct op *op = cs->done_head;
    cs->done_head = cs->done_tail = NULL;
    int n = 0;
    while (op) {
        struct op *next = op->next;
        n += op_finish(cs, op, op->res);
        op = next;
    }
    return n;
}

static void maybe_submit(struct chunkstore *cs)
{
    if (io_uring_sq_ready(&cs->ring) < cs->o.submit_depth)
        return;
    int r = io_uring_submit(&cs->ring);
    if (r < 0)   /* they stay queued; chunkstore_flush tries again */
        log_warn("chunkstore: io_uring_submit: %s", strerror(-r));
}

static struct io_uring_sqe *get_sqe(struct chunkstore *cs)
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

/* Queues the part of a read or write not done yet. */
static int op_queue_io(struct chunkstore *cs, struct op *op)
{
    struct io_uring_sqe *sqe = get_sqe(cs);
    if (!sqe)
        return -EBUSY;
    char *p = op->buf + op->done;
    unsigned n = (unsigned)(op->len - op->done);
    uint64_t off = op->off + op->done;
    int fd = op->ent->fd;
    bool fixed = op->buf_index >= 0 && cs->registered;
    if (op->kind == OP_READ) {
        if (fixed)
            io_uring_prep_read_fixed(sqe, fd, p, n, off, op->buf_index);
        else
            io_uring_prep_read(sqe, fd, p, n, off);
    } else {
        if (fixed)
            io_uring_prep_write_fixed(sqe, fd, p, n, off, op->buf_index);
        else
            io_uring_prep_write(sqe, fd, p, n, off);
    }
    io_uring_sqe_set_data(sqe, op);
    cs->sqes_out++;
    maybe_submit(cs);
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
    struct op *op = op_new(cs, OP_WRITEBACK, NULL, NULL);
    struct io_uring_sqe *sqe = op ? get_sqe(cs) : NULL;
    if (!sqe) {
        op_free(cs, op);
        return;
    }
    ent_ref(cs, e);   /* the fd stays open until the kernel is done with it */
    op->ent = e;
    io_uring_prep_sync_file_range(sqe, e->fd, (unsigned)len, off, SYNC_FILE_RANGE_WRITE);
    io_uring_sqe_set_data(sqe, op);
    cs->sqes_out++;
    maybe_submit(cs);
}

static void sync_evicted(struct chunkstore *cs, struct op *p);

static int sync_part_done(struct chunkstore *cs, struct op *part, int res)
{
    struct op *p = part->parent;
    if (res < 0) {
        if (part->ent) {
            log_error("chunkstore: fsync of chunk ino %016llx idx %llu: %s",
                      (unsigned long long)part->ent->ino, (unsigned long long)part->ent->idx,
                      strerror(-res));
            mark_unsynced(cs, part->ent->ino, part->ent->idx);   /* a later fsync tries again */
        } else if (part->bucket >= 0) {
            log_error("chunkstore: fsync of %s/%02x: %s", cs->path, part->bucket, strerror(-res));
            cs->bucket_dirty[part->bucket] = true;
        } else {
            log_error("chunkstore: fsync of extra fd: %s", strerror(-res));
        }
        if (!p->res)
            p->res = res;
    }
    if (part->ent) {
        if (part->ent->sync_only)
            p->nopen--;
        ent_put(cs, part->ent);   /* closes a sync_only fd */
    }
    op_free(cs, part);
    sync_evicted(cs, p);   /* the fd slot is free for the next evicted chunk */
    if (--p->pending)
        return 0;
    return op_finish(cs, p, p->res);
}

/* Handles one CQE; returns how many callbacks ran (0 or 1). */
static int op_complete(struct chunkstore *cs, struct op *op, int res)
{
    if (op->kind == OP_SYNC_PART)
        return sync_part_done(cs, op, res);
    if (op->kind == OP_WRITEBACK) {
        if (res < 0)
            log_debug("chunkstore: write-out of chunk ino %016llx idx %llu: %s",
                      (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx,
                      strerror(-res));
        ent_put(cs, op->ent);
        op_free(cs, op);
        return 0;
    }
    const char *what = op->kind == OP_READ ? "read" : "write";
    if (res == -EINTR || res == -EAGAIN)
        goto again;
    if (res < 0) {
        log_error("chunkstore: %s of chunk ino %016llx idx %llu off %llu len %zu: %s", what,
                  (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx,
                  (unsigned long long)(op->off + op->done), op->len - op->done, strerror(-res));
        return op_finish(cs, op, res);
    }
    if (op->kind == OP_WRITE) {
        /* Set on completion, not on queueing, so an fsync queued meanwhile,
         * which clears the flag, cannot hide this write from the next fsync. */
        op->ent->dirty = true;
        cs->wrote = true;
        if (res == 0) {
            log_error("chunkstore: write of chunk ino %016llx idx %llu wrote nothing",
                      (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx);
            return op_finish(cs, op, -EIO);
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
        if (op->kind == OP_WRITE)
            start_writeback(cs, op->ent, op->off, op->len);
        return op_finish(cs, op, (ssize_t)op->len);
    }
again:;
    int r = op_queue_io(cs, op);   /* short I/O: queue the rest */
    if (r < 0) {
        log_error("chunkstore: cannot requeue %s of chunk ino %016llx idx %llu: %s", what,
                  (unsigned long long)op->ent->ino, (unsigned long long)op->ent->idx,
                  strerror(-r));
        return op_finish(cs, op, r);
    }
    cs->resubmitted = true;
    return 0;
}

static int reap(struct chunkstore *cs)
{
    struct io_uring_cqe *cqes[REAP_BATCH];
    struct op *ops[REAP_BATCH];
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
        for (unsigned i = 0; i < n; i++)
            ran += op_complete(cs, ops[i], res[i]);
    }
    return ran;
}

/* ---- setup and teardown ---- */

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
    if (cs->table) {
        for (size_t h = 0; h <= cs->table_mask; h++) {
            for (struct fd_ent *e = cs->table[h], *next; e; e = next) {
                next = e->hnext;
                ent_free(e);
            }
        }
        free(cs->table);
    }
    if (cs->uns) {
        uns_clear(cs);
        free(cs->uns);
    }
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
        struct op *op = cs->pool;
        cs->pool = op->next;
        free(op);
    }
    free(cs->bufmem);
    free(cs->buf_used);
    free(cs->buf_free);
    free(cs->path);
    free(cs);
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
    size_t nb = 16;
    while (nb < 2 * (size_t)o.fd_cache)
        nb *= 2;
    cs->table = calloc(nb, sizeof *cs->table);
    cs->table_mask = nb - 1;
    cs->uns = calloc(UNSYNCED_BUCKETS, sizeof *cs->uns);
    if (asprintf(&cs->path, "%s/chunks", data_dir) < 0)
        cs->path = NULL;
    if (!cs->table || !cs->uns || !cs->path) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = make_dirs(cs, data_dir)) < 0 || (r = ring_init(cs)) < 0 ||
        (r = buffers_init(cs)) < 0)
        goto fail;
    log_debug("chunkstore: open %s: chunk %u, queue %u, %u buffers of %u bytes (%s), "
              "submit depth %u, fd cache %u", cs->path, o.chunk_size, o.queue_size,
              o.buffer_count, o.buffer_size, cs->registered ? "registered" : "plain",
              o.submit_depth, o.fd_cache);
    *out = cs;
    return 0;
fail:
    destroy(cs);
    return r;
}

void chunkstore_drain(struct chunkstore *cs)
{
    while (cs->inflight || cs->sqes_out) {
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
    destroy(cs);
}

/* ---- loop interface ---- */

int chunkstore_eventfd(struct chunkstore *cs)
{
    return cs->efd;
}

bool chunkstore_ready(struct chunkstore *cs)
{
    return cs->done_head || io_uring_cq_ready(&cs->ring) ||
           (IO_URING_READ_ONCE(*cs->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW));
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
    int n = done_run(cs);
    n += reap(cs);
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

static int io_start(struct chunkstore *cs, enum op_kind kind, uint64_t ino, uint64_t idx,
                    uint64_t off, void *buf, int buf_index, size_t len, chunk_cb cb, void *arg)
{
    bool rd = kind == OP_READ;
    int r = io_check(cs, rd ? "read" : "write", ino, idx, off, buf, buf_index, len);
    if (r < 0)
        return r;
    struct op *op = op_new(cs, kind, cb, arg);
    if (!op)
        return -ENOMEM;
    op->buf = buf;
    op->buf_index = buf_index;
    op->len = len;
    op->off = off;
    if (!len) {
        cs->inflight++;
        done_push(cs, op, 0);
        return 0;
    }
    r = ent_get(cs, ino, idx, !rd, &op->ent);
    if (r == -ENOENT && rd) {
        /* No chunk file: the chunk was never written, so it reads as zeros. */
        memset(buf, 0, len);
        cs->inflight++;
        done_push(cs, op, (ssize_t)len);
        return 0;
    }
    if (r < 0)
        goto fail;
    if ((r = op_queue_io(cs, op)) < 0) {
        log_error("chunkstore: cannot queue %s of chunk ino %016llx idx %llu: %s",
                  rd ? "read" : "write", (unsigned long long)ino, (unsigned long long)idx,
                  strerror(-r));
        ent_put(cs, op->ent);
        goto fail;
    }
    cs->inflight++;
    return 0;
fail:
    op_free(cs, op);
    return r;
}

int chunkstore_write(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                     const void *buf, int buf_index, size_t len, chunk_cb cb, void *arg)
{
    /* The buffer is only read; op keeps one pointer type for both directions. */
    return io_start(cs, OP_WRITE, ino, idx, off, (void *)buf, buf_index, len, cb, arg);
}

int chunkstore_read(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                    void *buf, int buf_index, size_t len, chunk_cb cb, void *arg)
{
    return io_start(cs, OP_READ, ino, idx, off, buf, buf_index, len, cb, arg);
}

static int bucket_dir_fd(struct chunkstore *cs, int b)
{
    if (cs->bucket_fd[b] < 0) {
        char name[4];
        snprintf(name, sizeof name, "%02x", b);
        cs->bucket_fd[b] = openat(cs->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cs->bucket_fd[b] < 0) {
            int r = -errno;
            log_error("chunkstore: open %s/%s: %s", cs->path, name, strerror(errno));
            return r;
        }
    }
    return cs->bucket_fd[b];
}

/* Queues one fsync of a group; a failure to queue counts as the group's error.
 * 0 if queued. */
static int sync_part(struct chunkstore *cs, struct op *p, int fd, unsigned flags,
                     struct fd_ent *e, int bucket)
{
    struct op *part = op_new(cs, OP_SYNC_PART, NULL, NULL);
    struct io_uring_sqe *sqe = part ? get_sqe(cs) : NULL;
    if (!sqe) {
        int r = part ? -EBUSY : -ENOMEM;
        log_error("chunkstore: cannot queue fsync: %s", strerror(-r));
        if (e) mark_unsynced(cs, e->ino, e->idx);
        if (bucket >= 0) cs->bucket_dirty[bucket] = true;
        if (!p->res) p->res = r;
        op_free(cs, part);
        return r;
    }
    if (e)
        ent_ref(cs, e);
    part->ent = e;
    part->bucket = bucket;
    part->parent = p;
    p->pending++;
    io_uring_prep_fsync(sqe, fd, flags);
    io_uring_sqe_set_data(sqe, part);
    cs->sqes_out++;
    maybe_submit(cs);
    return 0;
}

/* Queues syncs of the evicted chunks in p->todo, opening each file again. At
 * most SYNC_OPEN_MAX are open at once (a big file may have thousands): each
 * completion calls this again for the next. */
static void sync_evicted(struct chunkstore *cs, struct op *p)
{
    struct unsynced *u = p->todo;
    if (!u)
        return;
    while (p->todo_pos < u->n && p->nopen < SYNC_OPEN_MAX) {
        uint64_t idx = u->idx[p->todo_pos++];
        int fd = chunk_open(cs, u->ino, idx, false);
        if (fd == -ENOENT)
            continue;   /* removed since: nothing to sync */
        struct fd_ent *e = fd >= 0 ? calloc(1, sizeof *e) : NULL;
        if (!e) {
            if (fd >= 0)
                close(fd);
            if (!p->res)
                p->res = fd >= 0 ? -ENOMEM : fd;
            mark_unsynced(cs, u->ino, idx);
            continue;
        }
        /* Out of the table, so closed when its sync completes. */
        *e = (struct fd_ent){ .ino = u->ino, .idx = idx, .fd = fd, .refs = 1,
                              .dead = true, .sync_only = true };
        if (sync_part(cs, p, fd, p->sync_flags, e, -1) == 0)
            p->nopen++;
        ent_put(cs, e);
    }
    cs->resubmitted = true;   /* from a completion: poll submits what was queued */
    if (p->todo_pos == u->n) {
        free(u->idx);
        free(u);
        p->todo = NULL;
    }
}

int chunkstore_fsync(struct chunkstore *cs, uint64_t ino, int datasync, int extra_fd,
                     chunk_cb cb, void *arg)
{
    struct op *p = op_new(cs, OP_SYNC, cb, arg);
    if (!p)
        return -ENOMEM;
    p->pending = 1;   /* held while queueing, so no part can finish the group early */
    cs->inflight++;
    unsigned flags = datasync ? IORING_FSYNC_DATASYNC : 0;

    /* The cached chunk files of ino written since their last sync. The flag is
     * cleared now: a write completing later sets it again for the next fsync. */
    for (size_t h = 0; h <= cs->table_mask; h++) {
        for (struct fd_ent *e = cs->table[h]; e; e = e->hnext) {
            if (e->ino == ino && e->dirty) {
                e->dirty = false;
                sync_part(cs, p, e->fd, flags, e, -1);
            }
        }
    }
    /* Then those evicted unsynced. After the loop above, not before: its dirty
     * entries are now held by their syncs, so an eviction by the opens below
     * (on EMFILE) cannot move one of them into the set behind our back. */
    p->todo = uns_detach(cs, ino);
    p->sync_flags = flags;
    sync_evicted(cs, p);
    /* All chunks of ino live in one bucket: sync it if names changed there, so
     * new chunk files are found after a crash. Directories get a full fsync. */
    int b = bucket_of(ino);
    if (cs->bucket_dirty[b]) {
        int dfd = bucket_dir_fd(cs, b);
        if (dfd < 0) {
            if (!p->res)
                p->res = dfd;
        } else {
            cs->bucket_dirty[b] = false;
            sync_part(cs, p, dfd, 0, NULL, b);
        }
    }
    if (extra_fd >= 0)
        sync_part(cs, p, extra_fd, flags, NULL, -1);
    if (--p->pending == 0)
        done_push(cs, p, p->res);
    return 0;
}

/* Deletes one chunk file (name relative to dfd); ENOENT is fine (a hole, or
 * another server's chunk). 0 or -errno. */
static int remove_one(struct chunkstore *cs, int dfd, const char *name, uint64_t ino)
{
    if (unlinkat(dfd, name, 0) == 0) {
        cs->bucket_dirty[bucket_of(ino)] = true;
        cs->wrote = true;
        return 0;
    }
    if (errno == ENOENT)
        return 0;
    int r = -errno;
    log_error("chunkstore: unlink chunk %s of ino %016llx in %s: %s", name,
              (unsigned long long)ino, cs->path, strerror(-r));
    return r;
}

/* Beyond this many chunk indices, listing the bucket is cheaper than trying
 * every index: a sparse file's size says nothing about how many chunks exist
 * (one byte written at 1 PiB would mean 2^28 unlinks of 4 MiB chunks). */
#define REMOVE_BY_INDEX_MAX 256

/* Deletes the chunk files [first, end) of ino found in its bucket directory. */
static int remove_listed(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end)
{
    int b = bucket_of(ino);
    int dfd = bucket_dir_fd(cs, b);
    if (dfd < 0)
        return dfd;
    /* fdopendir takes the fd it is given: list through a copy of ours. */
    int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd < 0 ? NULL : fdopendir(lfd);
    if (!d) {
        int r = -errno;
        log_error("chunkstore: list bucket %02x of %s: %s", b, cs->path, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return r;
    }
    char prefix[24];
    int plen = snprintf(prefix, sizeof prefix, "%016llx.", (unsigned long long)ino);
    int err = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *endp;
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0 || e->d_name[plen] < '0' ||
            e->d_name[plen] > '9')
            continue;
        errno = 0;
        unsigned long long idx = strtoull(e->d_name + plen, &endp, 10);
        if (errno || *endp || idx < first || idx >= end)
            continue;
        int r = remove_one(cs, dfd, e->d_name, ino);
        if (r < 0 && !err)
            err = r;
    }
    closedir(d);
    return err;
}

/* Deletes chunk files [first, end) of ino. Returns the first error. */
static int remove_range(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end)
{
    cache_invalidate(cs, ino, first, end);
    uns_drop(cs, ino, first);
    if (end > first && end - first > REMOVE_BY_INDEX_MAX)
        return remove_listed(cs, ino, first, end);
    int err = 0;
    char name[48];
    for (uint64_t idx = first; idx < end; idx++) {
        chunk_name(name, sizeof name, ino, idx);
        int r = remove_one(cs, cs->dirfd, name, ino);
        if (r < 0 && !err)
            err = r;
    }
    return err;
}

static uint64_t chunks_for(const struct chunkstore *cs, uint64_t size)
{
    return size / cs->o.chunk_size + (size % cs->o.chunk_size != 0);
}

int chunkstore_truncate(struct chunkstore *cs, uint64_t ino, uint64_t old_size, uint64_t new_size)
{
    if (new_size >= old_size)   /* growing: the new bytes are a hole and read as zeros */
        return 0;
    int err = remove_range(cs, ino, chunks_for(cs, new_size), chunks_for(cs, old_size));
    uint64_t cut = new_size % cs->o.chunk_size;
    if (!cut)
        return err;
    uint64_t idx = new_size / cs->o.chunk_size;
    struct fd_ent *e;
    int r = ent_get(cs, ino, idx, false, &e);
    if (r == -ENOENT)
        return err;
    if (r == 0) {
        if (ftruncate(e->fd, (off_t)cut) == 0) {
            e->dirty = true;   /* the new length must reach the disk on fsync */
            cs->wrote = true;
        } else {
            r = -errno;
            log_error("chunkstore: truncate chunk ino %016llx idx %llu to %llu: %s",
                      (unsigned long long)ino, (unsigned long long)idx,
                      (unsigned long long)cut, strerror(errno));
        }
        ent_put(cs, e);
    }
    return err ? err : r;
}

int chunkstore_remove(struct chunkstore *cs, uint64_t ino, uint64_t size)
{
    return remove_range(cs, ino, 0, chunks_for(cs, size));
}

int chunkstore_remove_chunk(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    return remove_range(cs, ino, idx, idx + 1);
}

/* ---- listing (OP_SCAN) ---- */

struct chunk_id { uint64_t ino, idx; };

static int chunk_id_cmp(const void *a, const void *b)
{
    const struct chunk_id *x = a, *y = b;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The chunks of bucket b after (ino, idx) (all if !after), sorted: *ids (malloc'd), *n. */
static int list_bucket(struct chunkstore *cs, int b, int after, uint64_t ino, uint64_t idx,
                       struct chunk_id **ids, size_t *n)
{
    char name[4];
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    snprintf(name, sizeof name, "%02x", b);
    int lfd = openat(cs->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd < 0 ? NULL : fdopendir(lfd);
    if (!d) {
        int r = -errno;
        if (lfd >= 0)
            close(lfd);
        return r == -ENOENT ? 0 : r;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct chunk_id c;
        if (chunkstore_name_parse(e->d_name, &c.ino, &c.idx) < 0)
            continue;
        if (after && chunk_id_cmp(&c, &(struct chunk_id){ ino, idx }) <= 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct chunk_id *p = realloc(*ids, ncap * sizeof *p);
            if (!p) {
                closedir(d);
                free(*ids);
                *ids = NULL;
                return -ENOMEM;
            }
            *ids = p;
            cap = ncap;
        }
        (*ids)[(*n)++] = c;
    }
    closedir(d);
    if (*n)
        qsort(*ids, *n, sizeof **ids, chunk_id_cmp);
    return 0;
}

int chunkstore_scan(struct chunkstore *cs, int first, uint64_t after_ino, uint64_t after_idx,
                    void *out, size_t size, size_t *used, size_t *count, int *eof)
{
    unsigned char *o = out;
    *used = *count = 0;
    *eof = 1;
    for (int b = first ? 0 : bucket_of(after_ino); b < NBUCKETS; b++) {
        struct chunk_id *ids;
        size_t n;
        /* only the cursor's own bucket holds chunks before the cursor */
        int after = !first && b == bucket_of(after_ino);
        int rc = list_bucket(cs, b, after, after_ino, after_idx, &ids, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            if (size - *used < 22) {
                *eof = 0;
                break;
            }
            unsigned char *p = o + *used;
            p[0] = 16, p[1] = 0;
            memset(p + 2, 0, 4);
            for (int k = 0; k < 8; k++) {
                p[6 + k] = (unsigned char)(ids[i].ino >> (56 - 8 * k));
                p[14 + k] = (unsigned char)(ids[i].idx >> (56 - 8 * k));
            }
            *used += 22;
            ++*count;
        }
        free(ids);
        if (!*eof)
            break;
    }
    return *eof || *count ? 0 : -EMSGSIZE;
}
