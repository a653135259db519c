/* fdcache.c - see fdcache.h. */
#include "fdcache.h"

#include "../common/placement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNSYNCED_BUCKETS 16384       /* hash of ino for the unsynced set */

/* ---- table and LRU ---- */

static size_t ent_hash(const struct fdcache *fc, uint64_t ino, uint64_t idx)
{
    return (size_t)place_mix64(ino ^ (idx * 0x9e3779b97f4a7c15ULL)) & fc->table_mask;
}

struct fd_ent *fdcache_find(struct fdcache *fc, uint64_t ino, uint64_t idx)
{
    for (struct fd_ent *e = fc->table[ent_hash(fc, ino, idx)]; e; e = e->hnext)
        if (e->ino == ino && e->idx == idx)
            return e;
    return NULL;
}

static void lru_remove(struct fdcache *fc, struct fd_ent *e)
{
    if (!e->in_lru)
        return;
    if (e->prev) e->prev->next = e->next; else fc->lru_head = e->next;
    if (e->next) e->next->prev = e->prev; else fc->lru_tail = e->prev;
    e->prev = e->next = NULL;
    e->in_lru = false;
}

static void lru_push(struct fdcache *fc, struct fd_ent *e)
{
    e->prev = NULL;
    e->next = fc->lru_head;
    if (fc->lru_head) fc->lru_head->prev = e; else fc->lru_tail = e;
    fc->lru_head = e;
    e->in_lru = true;
}

static void table_remove(struct fdcache *fc, struct fd_ent *e)
{
    struct fd_ent **pp = &fc->table[ent_hash(fc, e->ino, e->idx)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    fc->nent--;
    lru_remove(fc, e);
}

static void ent_free(struct fd_ent *e)
{
    if (e->fd >= 0)   /* -1: its open never succeeded */
        close(e->fd);
    free(e);
}

/* ---- unsynced set ---- */

/* The link that points to ino's record, or the NULL link ending its chain. */
static struct fdcache_unsynced **uns_slot(struct fdcache *fc, uint64_t ino)
{
    struct fdcache_unsynced **pp = &fc->uns[place_mix64(ino) & (UNSYNCED_BUCKETS - 1)];
    while (*pp && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

/* The first position in u->idx holding an index >= idx. */
static uint32_t uns_pos(const struct fdcache_unsynced *u, uint64_t idx)
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
static void uns_cut(struct fdcache *fc, struct fdcache_unsynced **pp, uint32_t n)
{
    struct fdcache_unsynced *u = *pp;
    fc->nuns -= u->n - n;
    u->n = n;
    if (n)
        return;
    *pp = u->next;
    fdcache_unsynced_free(u);
}

static void uns_clear(struct fdcache *fc)
{
    for (size_t h = 0; h < UNSYNCED_BUCKETS; h++)
        while (fc->uns[h])
            uns_cut(fc, &fc->uns[h], 0);
}

/* The way out when the set cannot take one more chunk: everything on disk at
 * once, then the set is empty. */
static int uns_flush(struct fdcache *fc, const char *why)
{
    int r = fc->flush_all(fc->flush_arg, why, fc->nuns);
    if (r == 0)
        uns_clear(fc);
    return r;
}

/* Remembers that chunk (ino, idx), not in the table, has unsynced data. */
static void uns_add(struct fdcache *fc, uint64_t ino, uint64_t idx)
{
    if (fc->nuns >= FDCACHE_UNSYNCED_MAX && uns_flush(fc, "unsynced set full") == 0)
        return;   /* the chunk's data is on disk too */
    struct fdcache_unsynced **pp = uns_slot(fc, ino), *u = *pp;
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
                uns_cut(fc, pp, 0);
            goto nomem;
        }
        u->idx = a;
        u->cap = cap;
    }
    memmove(&u->idx[i + 1], &u->idx[i], (u->n - i) * sizeof *u->idx);
    u->idx[i] = idx;
    u->n++;
    fc->nuns++;
    return;
nomem:
    uns_flush(fc, "out of memory for the unsynced set");
}

/* Takes chunk (ino, idx) out of the set; true if it was there. */
static bool uns_take(struct fdcache *fc, uint64_t ino, uint64_t idx)
{
    struct fdcache_unsynced **pp = uns_slot(fc, ino), *u = *pp;
    if (!u)
        return false;
    uint32_t i = uns_pos(u, idx);
    if (i == u->n || u->idx[i] != idx)
        return false;
    memmove(&u->idx[i], &u->idx[i + 1], (u->n - i - 1) * sizeof *u->idx);
    uns_cut(fc, pp, u->n - 1);
    return true;
}

void fdcache_unsynced_drop(struct fdcache *fc, uint64_t ino, uint64_t from)
{
    struct fdcache_unsynced **pp = uns_slot(fc, ino);
    if (*pp)
        uns_cut(fc, pp, uns_pos(*pp, from));
}

struct fdcache_unsynced *fdcache_unsynced_detach(struct fdcache *fc, uint64_t ino)
{
    struct fdcache_unsynced **pp = uns_slot(fc, ino), *u = *pp;
    if (u) {
        *pp = u->next;
        fc->nuns -= u->n;
    }
    return u;
}

void fdcache_unsynced_free(struct fdcache_unsynced *u)
{
    if (!u)
        return;
    free(u->idx);
    free(u);
}

unsigned fdcache_unsynced_count(const struct fdcache *fc)
{
    return fc->nuns;
}

/* (A removed chunk may leave a stale record in the set; the fsync that finds
 * no file to open drops it.) */
void fdcache_mark_unsynced(struct fdcache *fc, uint64_t ino, uint64_t idx)
{
    struct fd_ent *e = fdcache_find(fc, ino, idx);
    if (e)
        e->dirty = true;
    else
        uns_add(fc, ino, idx);
}

/* ---- entries ---- */

/* Closes an idle entry without syncing it (see fdcache.h). */
static void ent_evict(struct fdcache *fc, struct fd_ent *e)
{
    table_remove(fc, e);
    if (e->dirty)
        uns_add(fc, e->ino, e->idx);
    ent_free(e);
}

static void cache_trim(struct fdcache *fc)
{
    while (fc->nent > fc->max && fc->lru_tail)
        ent_evict(fc, fc->lru_tail);
}

bool fdcache_evict_one(struct fdcache *fc)
{
    if (!fc->lru_tail)
        return false;
    ent_evict(fc, fc->lru_tail);
    return true;
}

void fdcache_ref(struct fdcache *fc, struct fd_ent *e)
{
    if (e->refs++ == 0)
        lru_remove(fc, e);
}

void fdcache_put(struct fdcache *fc, struct fd_ent *e)
{
    if (--e->refs)
        return;
    if (e->dead) {
        ent_free(e);
        return;
    }
    lru_push(fc, e);
    cache_trim(fc);
}

/* A new entry in the table, with one reference; NULL when out of memory. */
static struct fd_ent *ent_add(struct fdcache *fc, uint64_t ino, uint64_t idx, int fd)
{
    struct fd_ent *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->ino = ino;
    e->idx = idx;
    e->fd = fd;
    e->refs = 1;
    size_t h = ent_hash(fc, ino, idx);
    e->hnext = fc->table[h];
    fc->table[h] = e;
    fc->nent++;
    cache_trim(fc);
    return e;
}

int fdcache_insert(struct fdcache *fc, uint64_t ino, uint64_t idx, int fd, struct fd_ent **out)
{
    struct fd_ent *e = ent_add(fc, ino, idx, fd);
    if (!e) {
        close(fd);
        return -ENOMEM;
    }
    /* Evicted unsynced earlier: fsync flushes the file, whichever fd wrote. */
    e->dirty = uns_take(fc, ino, idx);
    *out = e;
    return 0;
}

int fdcache_insert_opening(struct fdcache *fc, uint64_t ino, uint64_t idx, void *opening,
                           struct fd_ent **out)
{
    struct fd_ent *e = ent_add(fc, ino, idx, -1);
    if (!e)
        return -ENOMEM;
    e->opening = opening;
    *out = e;
    return 0;
}

void fdcache_opened(struct fdcache *fc, struct fd_ent *e, int fd)
{
    e->fd = fd;
    e->opening = NULL;
    /* Not at insert: a sync owed by the set must not move to an fd that does
     * not exist yet (an fsync meanwhile syncs the chunk from the set). */
    if (uns_take(fc, e->ino, e->idx))
        e->dirty = true;
}

struct fd_ent *fdcache_detached(uint64_t ino, uint64_t idx, int fd)
{
    struct fd_ent *e = calloc(1, sizeof *e);
    if (e)
        *e = (struct fd_ent){ .ino = ino, .idx = idx, .fd = fd, .refs = 1, .dead = true,
                              .sync_only = true };
    return e;
}

/* Takes e out of the table: closed now if idle, else when its last user is done. */
static void ent_drop(struct fdcache *fc, struct fd_ent *e)
{
    table_remove(fc, e);
    if (e->refs)
        e->dead = true;
    else
        ent_free(e);
}

void fdcache_open_failed(struct fdcache *fc, struct fd_ent *e)
{
    e->opening = NULL;
    ent_drop(fc, e);
}

/* An unlink must not cost a walk over the whole cache: a range shorter than
 * the table is looked up index by index. */
void fdcache_invalidate(struct fdcache *fc, uint64_t ino, uint64_t from, uint64_t end)
{
    if (fc->nent == 0 || end <= from)
        return;
    if (end - from <= fc->table_mask) {
        for (uint64_t idx = from; idx < end; idx++) {
            struct fd_ent *e = fdcache_find(fc, ino, idx);
            if (e)
                ent_drop(fc, e);
        }
        return;
    }
    for (size_t h = 0; h <= fc->table_mask; h++) {
        for (struct fd_ent *e = fc->table[h], *next; e; e = next) {
            next = e->hnext;
            if (e->ino == ino && e->idx >= from && e->idx < end)
                ent_drop(fc, e);
        }
    }
}

void fdcache_take_dirty(struct fdcache *fc, uint64_t ino,
                        void (*fn)(void *arg, struct fd_ent *e), void *arg)
{
    for (size_t h = 0; h <= fc->table_mask; h++) {
        for (struct fd_ent *e = fc->table[h]; e; e = e->hnext) {
            if (e->ino == ino && e->dirty && !e->opening) {
                e->dirty = false;
                fn(arg, e);
            }
        }
    }
}

/* ---- setup and teardown ---- */

int fdcache_init(struct fdcache *fc, unsigned max, fdcache_flush_fn flush_all, void *flush_arg)
{
    memset(fc, 0, sizeof *fc);
    fc->max = max;
    fc->flush_all = flush_all;
    fc->flush_arg = flush_arg;
    size_t nb = 16;   /* load factor <= 1/2 at max entries */
    while (nb < 2 * (size_t)max)
        nb *= 2;
    fc->table = calloc(nb, sizeof *fc->table);
    fc->table_mask = nb - 1;
    fc->uns = calloc(UNSYNCED_BUCKETS, sizeof *fc->uns);
    return fc->table && fc->uns ? 0 : -ENOMEM;
}

void fdcache_destroy(struct fdcache *fc)
{
    if (fc->table) {
        for (size_t h = 0; h <= fc->table_mask; h++) {
            for (struct fd_ent *e = fc->table[h], *next; e; e = next) {
                next = e->hnext;
                ent_free(e);
            }
        }
        free(fc->table);
        fc->table = NULL;
    }
    if (fc->uns) {
        uns_clear(fc);
        free(fc->uns);
        fc->uns = NULL;
    }
}
