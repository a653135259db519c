/* chunkfiles.c - the chunk files on disk: their names, opening one (through the
 * fd cache), removing and listing them, and seeking in one (chunkstore.h). The
 * unlinks and the background threads are in chunkremove.c, truncates in chunkcut.c.
 *
 * On-disk layout (a format: do not change it casually):
 *   DATA/chunks/XX/<ino as %016llx>.<idx as %llu>
 * XX is the top byte of a 64-bit mix (place_mix64) of ino, in hex. All chunks
 * of one file share a directory, and any inode numbering (sequential, node id in
 * the high bits) spreads evenly over the 256 directories.
 *
 * Opening a chunk file for a read, write or fallocate does not block: on an fd
 * cache miss an entry in state "opening" goes into the cache and an io_uring
 * OPENAT is queued; ops on that chunk wait on the entry and are started when
 * it completes (cs_ent_get_async). Everything else here is blocking (openat,
 * unlinkat, readdir, lseek) except chunkstore_remove_later, which only queues;
 * seek and chunkstore_chunks use nothing of the loop's, so the server runs
 * them on the store's worker (chunkstore_offload).
 */
#include "chunkstore_int.h"

#include "../common/log.h"
#include "../common/placement.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- naming ---- */

int cs_bucket_of(uint64_t ino)
{
    return (int)(place_mix64(ino) >> 56);
}

int chunkstore_bucket(uint64_t ino)
{
    return cs_bucket_of(ino);
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

void cs_chunk_name(char *name, size_t size, uint64_t ino, uint64_t idx)
{
    snprintf(name, size, "%02x/%016llx.%llu", cs_bucket_of(ino), (unsigned long long)ino,
             (unsigned long long)idx);
}

/* Opens chunk (ino, idx) read-write (an fd opened for a read may serve a write
 * later). With create, a new file is made with O_EXCL so we know its bucket
 * directory changed and must be synced. */
int cs_chunk_open(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create)
{
    char name[48];
    cs_chunk_name(name, sizeof name, ino, idx);
    for (;;) {
        int fd = openat(cs->dirfd, name, O_RDWR | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == ENOENT && create) {
            fd = openat(cs->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                cs->bucket_dirty[cs_bucket_of(ino)] = true;
                cs->wrote = true;
                return fd;
            }
            if (errno == EEXIST)
                continue;
        }
        /* Out of fds: give back an idle cached one and try again. */
        if ((errno == EMFILE || errno == ENFILE) && fdcache_evict_one(&cs->fdc))
            continue;
        int r = -errno;
        if (r != -ENOENT)
            log_error("chunkstore: open %s/%s: %s", cs->path, name, strerror(-r));
        return r;
    }
}

int cs_ent_get(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create,
               struct fd_ent **out)
{
    struct fd_ent *e;
    while ((e = fdcache_find(&cs->fdc, ino, idx)) != NULL) {
        fdcache_ref(&cs->fdc, e);
        if (!e->opening) {
            *out = e;
            return 0;
        }
        int r = cs_open_wait(cs, e);
        bool failed = e->fd < 0;
        if (r < 0 || failed)
            fdcache_put(&cs->fdc, e);
        if (r < 0)
            return r;
        if (!failed) {
            *out = e;
            return 0;
        }
        /* That open failed (and left the table): try our own below. */
    }
    int fd = cs_chunk_open(cs, ino, idx, create);
    return fd < 0 ? fd : fdcache_insert(&cs->fdc, ino, idx, fd, out);
}

/* ---- opening without blocking: one io_uring OPENAT per chunk, ops queued on it ---- */

/* Queues the open's next attempt: O_CREAT|O_EXCL if excl (then we know we
 * made the file and its bucket must be synced), else a plain open. */
static int open_queue(struct chunkstore *cs, struct cs_op *op, bool excl)
{
    struct io_uring_sqe *sqe = cs_get_sqe(cs);
    if (!sqe)
        return -EBUSY;
    op->excl = excl;
    int flags = O_RDWR | O_CLOEXEC | (excl ? O_CREAT | O_EXCL : 0);
    io_uring_prep_openat(sqe, cs->dirfd, op->name, flags, 0600);
    io_uring_sqe_set_data(sqe, op);
    cs->sqes_out++;
    cs_maybe_submit(cs);
    return 0;
}

static void waiter_add(struct chunkstore *cs, struct cs_op *open, struct cs_op *op, bool create)
{
    fdcache_ref(&cs->fdc, open->ent);
    op->ent = open->ent;
    op->next = NULL;
    if (open->wtail) open->wtail->next = op; else open->waiters = op;
    open->wtail = op;
    open->create |= create;
}

int cs_ent_get_async(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create,
                     struct cs_op *op)
{
    struct fd_ent *e = fdcache_find(&cs->fdc, ino, idx);
    if (e && e->opening) {
        waiter_add(cs, e->opening, op, create);
        return 1;
    }
    if (e) {
        fdcache_ref(&cs->fdc, e);
        op->ent = e;
        return 0;
    }
    struct cs_op *open = cs_op_new(cs, CS_OPEN, NULL, NULL);
    if (!open)
        return -ENOMEM;
    int r = fdcache_insert_opening(&cs->fdc, ino, idx, open, &open->ent);
    if (r < 0) {
        cs_op_free(cs, open);
        return r;
    }
    cs_chunk_name(open->name, sizeof open->name, ino, idx);
    /* A writer tries the create first: a new chunk then costs one openat. */
    if ((r = open_queue(cs, open, create)) < 0) {
        fdcache_open_failed(&cs->fdc, open->ent);
        fdcache_put(&cs->fdc, open->ent);
        cs_op_free(cs, open);
        return r;
    }
    open->onext = cs->opens;
    cs->opens = open;
    waiter_add(cs, open, op, create);
    return 1;
}

/* The open op waited on failed with err: finishes op from the next poll as a
 * synchronous open's error would have. */
static void op_unopened(struct chunkstore *cs, struct cs_op *op, int err)
{
    fdcache_put(&cs->fdc, op->ent);
    op->ent = NULL;
    ssize_t res = err;
    if (err == -ENOENT && op->kind == CS_READ) {
        /* No chunk file: the chunk was never written, so it reads as zeros. */
        memset(op->buf, 0, op->len);
        res = (ssize_t)op->len;
    } else if (err == -ENOENT && op->kind == CS_FALLOC) {
        res = 0;   /* a punched hole in a missing chunk file is there already */
    }
    cs_done_push(cs, op, res);
}

/* The open is over (fd, or -errno): hands the result to every waiter. */
static void open_finish(struct chunkstore *cs, struct cs_op *op, int res)
{
    struct fd_ent *e = op->ent;
    struct cs_op **pp = &cs->opens;
    while (*pp != op)
        pp = &(*pp)->onext;
    *pp = op->onext;
    if (res >= 0) {
        fdcache_opened(&cs->fdc, e, res);
    } else {
        if (res != -ENOENT)
            log_error("chunkstore: open %s/%s: %s", cs->path, op->name, strerror(-res));
        fdcache_open_failed(&cs->fdc, e);
    }
    for (struct cs_op *w = op->waiters, *next; w; w = next) {
        next = w->next;
        int r = res < 0 ? res : cs_op_start(cs, w);
        if (r < 0)
            op_unopened(cs, w, r);
    }
    cs->resubmitted = true;   /* from a completion: poll submits what was queued */
    fdcache_put(&cs->fdc, e);
    cs_op_free(cs, op);
}

int cs_open_done(struct chunkstore *cs, struct cs_op *op, int res)
{
    if (res >= 0 && op->excl) {
        cs->bucket_dirty[cs_bucket_of(op->ent->ino)] = true;
        cs->wrote = true;
    }
    int again = 0;   /* 0: done; 1: plain open next; 2: create next */
    if (res == -EEXIST && op->excl)
        again = 1;   /* someone made it meanwhile: open it */
    else if (res == -ENOENT && !op->excl && op->create)
        again = 2;   /* a writer joined after the plain open was queued */
    else if ((res == -EMFILE || res == -ENFILE) && fdcache_evict_one(&cs->fdc))
        again = op->excl ? 2 : 1;   /* an idle cached fd was given back */
    if (again) {
        int r = open_queue(cs, op, again == 2);
        if (r == 0) {
            cs->resubmitted = true;
            return 0;
        }
        res = r;
    }
    open_finish(cs, op, res);
    return 0;
}

void cs_opens_wait(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end)
{
    for (;;) {
        struct cs_op *op = cs->opens;
        while (op && !(op->ent->ino == ino && op->ent->idx >= first && op->ent->idx < end))
            op = op->onext;
        if (!op)
            return;
        struct fd_ent *e = op->ent;
        fdcache_ref(&cs->fdc, e);
        int r = cs_open_wait(cs, e);
        fdcache_put(&cs->fdc, e);
        if (r < 0)
            return;   /* logged; the ring is broken, nothing will complete */
    }
}

int cs_bucket_dir_fd(struct chunkstore *cs, int b)
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

/* A listing of ino's bucket directory through an fd of its own (any thread),
 * or NULL and *err. */
static DIR *list_bucket_of(struct chunkstore *cs, uint64_t ino, int *err)
{
    char name[4];
    int b = cs_bucket_of(ino);
    snprintf(name, sizeof name, "%02x", b);
    int lfd = openat(cs->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd < 0 ? NULL : fdopendir(lfd);
    if (!d) {
        *err = -errno;
        log_error("chunkstore: list bucket %02x of %s: %s", b, cs->path, strerror(errno));
        if (lfd >= 0)
            close(lfd);
    }
    return d;
}

void cs_forget_range(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end)
{
    /* An open in flight may still create a file: let it, then remove that too. */
    cs_opens_wait(cs, ino, first, end);
    fdcache_invalidate(&cs->fdc, ino, first, end);
    fdcache_unsynced_drop(&cs->fdc, ino, first);
}

/* Deletes chunk files [first, end) of ino, here and now. Returns the first error. */
static int remove_range(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end)
{
    cs_forget_range(cs, ino, first, end);
    if (end <= first)
        return 0;
    int r = cs_unlink_range(cs->path, cs->dirfd, ino, first, end);
    if (r != 0) {   /* names went (or may have gone) */
        cs->bucket_dirty[cs_bucket_of(ino)] = true;
        cs->wrote = true;
    }
    return r < 0 ? r : 0;
}

/* Queues the deletion of chunk files [first, end) of ino for the removal thread. */
static int remove_range_later(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end)
{
    cs_forget_range(cs, ino, first, end);
    if (end <= first)
        return 0;
    /* Marked now: the names go soon, and a close syncs them (it waits for the thread). */
    cs->bucket_dirty[cs_bucket_of(ino)] = true;
    cs->wrote = true;
    uint64_t seq;
    return cs_remover_queue(cs->remover, ino, first, end, 0, &seq);
}

/* Inserts v into the ascending list out[0..*n) of at most max values, dropping the largest. */
static void insert_lowest(uint64_t *out, size_t max, size_t *n, uint64_t v)
{
    size_t i = *n;
    if (i == max) {
        if (v >= out[max - 1])
            return;
        i--;
    } else {
        (*n)++;
    }
    for (; i > 0 && out[i - 1] > v; i--)
        out[i] = out[i - 1];
    out[i] = v;
}

int chunkstore_chunks(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end,
                      uint64_t *out, size_t max, size_t *n)
{
    char name[48];
    *n = 0;
    if (end <= first || max == 0)
        return 0;
    if (end - first <= REMOVE_BY_INDEX_MAX) {
        for (uint64_t i = first; i < end && *n < max; i++) {
            cs_chunk_name(name, sizeof name, ino, i);
            if (faccessat(cs->dirfd, name, F_OK, 0) == 0)
                out[(*n)++] = i;
            else if (errno != ENOENT)
                return -errno;
        }
        return 0;
    }
    int lerr;
    DIR *d = list_bucket_of(cs, ino, &lerr);
    if (!d)
        return lerr;
    char prefix[24];
    int plen = snprintf(prefix, sizeof prefix, "%016llx.", (unsigned long long)ino);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t fino, fidx;
        if (strncmp(de->d_name, prefix, (size_t)plen) == 0 &&
            chunkstore_name_parse(de->d_name, &fino, &fidx) == 0 && fino == ino &&
            fidx >= first && fidx < end)
            insert_lowest(out, max, n, fidx);
    }
    closedir(d);
    return 0;
}

int chunkstore_first_chunk(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end,
                           uint64_t *idx)
{
    size_t n;
    int rc = chunkstore_chunks(cs, ino, first, end, idx, 1, &n);
    return rc < 0 ? rc : n ? 0 : -ENOENT;
}

static uint64_t chunks_for(const struct chunkstore *cs, uint64_t size)
{
    return size / cs->o.chunk_size + (size % cs->o.chunk_size != 0);
}

int chunkstore_remove(struct chunkstore *cs, uint64_t ino, uint64_t size)
{
    return remove_range(cs, ino, 0, chunks_for(cs, size));
}

int chunkstore_remove_chunk(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    return remove_range(cs, ino, idx, idx + 1);
}

int chunkstore_remove_later(struct chunkstore *cs, uint64_t ino, uint64_t size)
{
    return remove_range_later(cs, ino, 0, chunks_for(cs, size));
}

int chunkstore_remove_chunk_later(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    return remove_range_later(cs, ino, idx, idx + 1 > idx ? idx + 1 : idx);
}

unsigned chunkstore_removals(struct chunkstore *cs)
{
    return cs_remover_pending(cs->remover) + cs_remover_pending(cs->cutter);
}

void chunkstore_removals_wait(struct chunkstore *cs)
{
    cs_remover_wait(cs->remover);
    cs_cuts_wait(cs);
}

/* ---- SEEK_DATA / SEEK_HOLE inside one chunk ---- */

int chunkstore_seek(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off, int whence,
                    uint64_t *out)
{
    char name[48];
    if (off >= cs->o.chunk_size || (whence != SEEK_DATA && whence != SEEK_HOLE))
        return -EINVAL;
    /* An fd of its own (the cache is the loop's); the file system answers from
     * its extent tree. */
    cs_chunk_name(name, sizeof name, ino, idx);
    int fd = openat(cs->dirfd, name, O_RDONLY | O_CLOEXEC), r = 0;
    if (fd < 0 && errno == ENOENT) {   /* no chunk file: all hole */
        *out = off;
        return whence == SEEK_HOLE ? 0 : -ENXIO;
    }
    if (fd < 0) {
        r = -errno;
        log_error("chunkstore: open %s/%s to seek: %s", cs->path, name, strerror(-r));
        return r;
    }
    off_t p = lseek(fd, (off_t)off, whence);
    if (p < 0) {
        r = -errno;
        /* Past the chunk file's end: no data there, and all of it a hole. */
        if (r == -ENXIO && whence == SEEK_HOLE) {
            *out = off;
            r = 0;
        } else if (r != -ENXIO) {
            log_error("chunkstore: lseek of chunk ino %016llx idx %llu: %s",
                      (unsigned long long)ino, (unsigned long long)idx, strerror(-r));
        }
    } else {
        *out = (uint64_t)p < cs->o.chunk_size ? (uint64_t)p : cs->o.chunk_size;
        r = whence == SEEK_DATA && *out >= cs->o.chunk_size ? -ENXIO : 0;
    }
    close(fd);
    return r;
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

static int cmp_ino(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int chunkstore_scan(struct chunkstore *cs, int first, uint64_t after_ino, uint64_t after_idx,
                    void *out, size_t size, size_t *used, size_t *count, int *eof)
{
    unsigned char *o = out;
    *used = *count = 0;
    *eof = 1;
    /* A chunk whose removal is queued is gone already: its inode is (a listing
     * taken while the thread works must not show the files it is deleting). */
    uint64_t *going;
    size_t ngoing;
    int gr = cs_remover_inos(cs->remover, &going, &ngoing);
    if (gr < 0)
        return gr;
    for (int b = first ? 0 : cs_bucket_of(after_ino); b < NBUCKETS; b++) {
        struct chunk_id *ids;
        size_t n;
        /* only the cursor's own bucket holds chunks before the cursor */
        int after = !first && b == cs_bucket_of(after_ino);
        int rc = list_bucket(cs, b, after, after_ino, after_idx, &ids, &n);
        if (rc < 0) {
            free(going);
            return rc;
        }
        for (size_t i = 0; i < n; i++) {
            if (ngoing && bsearch(&ids[i].ino, going, ngoing, sizeof *going, cmp_ino))
                continue;
            if (cs->cuts && cs_cut_gone(cs, ids[i].ino, ids[i].idx))
                continue;   /* being cut away */
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
    free(going);
    return *eof || *count ? 0 : -EMSGSIZE;
}

