/* locks.c - the lock table (see locks.h): a hash of files, each with its list of
 * locks (all owners, both kinds) and its queue of waiters; all waiters are also
 * on one list, for deadlock checks, cancels and a client's departure. A file
 * with neither locks nor waiters is freed. Operations are linear in the locks
 * of one file, which is what real programs hold (a few). */
#include "locks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/proto.h"

#define BUCKETS 1024            /* files hash (a power of two) */
#define MAX_DEADLK_STEPS 10     /* Linux's MAX_DEADLK_ITERATIONS */
#define TOMBSTONES 64           /* cancels that found no waiter, remembered */

struct lk_lock {
    struct lock_req q;
    struct lk_lock *next;
};

struct lk_file;

struct lk_waiter {
    struct lock_req q;
    uint64_t wait_id;
    void *ctx;
    uint32_t blk_client;        /* the owner of a lock it waits for (deadlock checks) */
    uint64_t blk_owner;
    struct lk_file *file;
    struct lk_waiter *next;     /* the file's queue, in arrival order */
    struct lk_waiter *gprev, *gnext;   /* every waiter of the table */
};

struct lk_file {
    uint64_t ino;
    struct lk_lock *locks;
    struct lk_waiter *wait_head, *wait_tail;
    struct lk_file *hnext;
};

struct tombstone {
    uint32_t client;
    uint64_t wait_id;
};

struct lock_table {
    lock_done_fn done;
    void *arg;
    size_t max, nlocks, nwaiters;
    struct lk_file *files[BUCKETS];
    struct lk_waiter *waiters;
    struct tombstone tomb[TOMBSTONES];
    unsigned tomb_next;
};

struct lock_table *locks_new(lock_done_fn done, void *arg, size_t max)
{
    struct lock_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->done = done;
    t->arg = arg;
    t->max = max;
    return t;
}

void locks_free(struct lock_table *t)
{
    if (!t)
        return;
    for (int b = 0; b < BUCKETS; b++) {
        for (struct lk_file *f = t->files[b], *fn; f; f = fn) {
            fn = f->hnext;
            for (struct lk_lock *l = f->locks, *ln; l; l = ln) {
                ln = l->next;
                free(l);
            }
            for (struct lk_waiter *w = f->wait_head, *wn; w; w = wn) {
                wn = w->next;
                free(w);
            }
            free(f);
        }
    }
    free(t);
}

size_t locks_count(const struct lock_table *t) { return t->nlocks + t->nwaiters; }
size_t locks_waiting(const struct lock_table *t) { return t->nwaiters; }

int locks_check(const struct lock_req *q)
{
    if (q->kind > LOCK_KIND_FLOCK || q->type > BFS_LOCK_WR || q->start > q->end ||
        q->end > LOCKS_MAX_END)
        return -EINVAL;
    if (q->kind == LOCK_KIND_FLOCK && (q->start != 0 || q->end != LOCKS_MAX_END))
        return -EINVAL;
    return 0;
}

/* ---- files ---- */

static size_t bucket(uint64_t ino)
{
    ino *= 0x9e3779b97f4a7c15ull;
    return (size_t)(ino >> 40) & (BUCKETS - 1);
}

static struct lk_file *find_file(struct lock_table *t, uint64_t ino)
{
    struct lk_file *f = t->files[bucket(ino)];
    while (f && f->ino != ino)
        f = f->hnext;
    return f;
}

static struct lk_file *get_file(struct lock_table *t, uint64_t ino)
{
    struct lk_file *f = find_file(t, ino);
    if (f || !(f = calloc(1, sizeof *f)))
        return f;
    f->ino = ino;
    f->hnext = t->files[bucket(ino)];
    t->files[bucket(ino)] = f;
    return f;
}

/* Frees f if nothing is left in it. */
static void put_file(struct lock_table *t, struct lk_file *f)
{
    if (!f || f->locks || f->wait_head)
        return;
    struct lk_file **p = &t->files[bucket(f->ino)];
    while (*p != f)
        p = &(*p)->hnext;
    *p = f->hnext;
    free(f);
}

/* ---- conflicts ---- */

static int same_owner(const struct lock_req *a, const struct lock_req *b)
{
    return a->client == b->client && a->owner == b->owner;
}

static int conflicts(const struct lock_req *held, const struct lock_req *q)
{
    return held->kind == q->kind && !same_owner(held, q) && held->start <= q->end &&
           q->start <= held->end && (held->type == BFS_LOCK_WR || q->type == BFS_LOCK_WR);
}

static const struct lk_lock *first_conflict(const struct lk_file *f, const struct lock_req *q)
{
    if (q->type == BFS_LOCK_UN)
        return NULL;
    for (const struct lk_lock *l = f ? f->locks : NULL; l; l = l->next)
        if (conflicts(&l->q, q))
            return l;
    return NULL;
}

int locks_test(struct lock_table *t, const struct lock_req *q, struct lock_req *conflict)
{
    const struct lk_lock *l = first_conflict(find_file(t, q->ino), q);
    if (l)
        *conflict = l->q;
    return l != NULL;
}

/* ---- applying a lock of one owner ---- */

static void unlink_lock(struct lock_table *t, struct lk_file *f, struct lk_lock *l)
{
    struct lk_lock **p = &f->locks;
    while (*p != l)
        p = &(*p)->next;
    *p = l->next;
    free(l);
    t->nlocks--;
}

/* Keeps the list sorted by start, so that what F_GETLK reports and
 * the order of splits do not depend on history. */
static void insert_lock(struct lock_table *t, struct lk_file *f, struct lk_lock *n)
{
    struct lk_lock **p = &f->locks;
    while (*p && (*p)->q.start <= n->q.start)
        p = &(*p)->next;
    n->next = *p;
    *p = n;
    t->nlocks++;
}

/* Applies q (no conflict checked here) for q's owner: its locks of q's kind in
 * q's range are cut away (splitting one that spans it), then q, unless an
 * unlock, is added and merged with the owner's adjacent locks of the same type.
 * -ENOLCK (nothing changed) when the two entries it may need cannot be had. */
static int apply(struct lock_table *t, struct lk_file *f, const struct lock_req *q)
{
    /* At most one of the owner's locks spans q's range (they never overlap):
     * an entry for its far end, and one for q itself. The limit is for new
     * locks: an unlock always goes (unless memory runs out for a split). */
    int add = q->type != BFS_LOCK_UN, need_split = 0;
    for (const struct lk_lock *l = f->locks; l && !need_split; l = l->next)
        need_split = l->q.kind == q->kind && same_owner(&l->q, q) && l->q.start < q->start &&
                     l->q.end > q->end;
    if (add && t->nlocks + t->nwaiters + (size_t)need_split + 1 > t->max)
        return -ENOLCK;
    struct lk_lock *split = need_split ? malloc(sizeof *split) : NULL;
    struct lk_lock *n = add ? malloc(sizeof *n) : NULL;
    if ((need_split && !split) || (add && !n)) {
        free(split);
        free(n);
        return -ENOLCK;
    }
    for (struct lk_lock *l = f->locks, *ln; l; l = ln) {
        ln = l->next;
        if (l->q.kind != q->kind || !same_owner(&l->q, q) || l->q.end < q->start ||
            l->q.start > q->end)
            continue;
        if (l->q.start < q->start && l->q.end > q->end) {
            split->q = l->q;
            split->q.start = q->end + 1;
            l->q.end = q->start - 1;
            insert_lock(t, f, split);
            split = NULL;
            ln = l->next;
        } else if (l->q.start < q->start) {
            l->q.end = q->start - 1;
        } else if (l->q.end > q->end) {
            /* Its start moves right: re-insert it to keep the order (it is
             * visited again further on, and then no longer overlaps). */
            struct lk_lock **p = &f->locks;
            while (*p != l)
                p = &(*p)->next;
            *p = l->next;
            t->nlocks--;
            l->q.start = q->end + 1;
            insert_lock(t, f, l);
        } else {
            unlink_lock(t, f, l);
        }
    }
    if (n) {
        n->q = *q;
        /* Merge with the owner's same-type neighbours (touching, no longer overlapping). */
        for (struct lk_lock *l = f->locks, *ln; l; l = ln) {
            ln = l->next;
            if (l->q.kind != q->kind || !same_owner(&l->q, q) || l->q.type != q->type)
                continue;
            if (l->q.end != LOCKS_MAX_END && l->q.end + 1 == n->q.start) {
                n->q.start = l->q.start;
                unlink_lock(t, f, l);
            } else if (n->q.end != LOCKS_MAX_END && n->q.end + 1 == l->q.start) {
                n->q.end = l->q.end;
                unlink_lock(t, f, l);
            }
        }
        insert_lock(t, f, n);
    }
    free(split);
    return 0;
}

/* A flock conversion drops the owner's old lock first (Linux's flock_lock_inode). */
static void drop_flock(struct lock_table *t, struct lk_file *f, const struct lock_req *q)
{
    for (struct lk_lock *l = f->locks, *ln; l; l = ln) {
        ln = l->next;
        if (l->q.kind == LOCK_KIND_FLOCK && same_owner(&l->q, q))
            unlink_lock(t, f, l);
    }
}

/* ---- waiters ---- */

static void unqueue(struct lock_table *t, struct lk_waiter *w)
{
    struct lk_file *f = w->file;
    struct lk_waiter **p = &f->wait_head, *prev = NULL;
    while (*p != w) {
        prev = *p;
        p = &(*p)->next;
    }
    *p = w->next;
    if (f->wait_tail == w)
        f->wait_tail = prev;
    if (w->gprev)
        w->gprev->gnext = w->gnext;
    else
        t->waiters = w->gnext;
    if (w->gnext)
        w->gnext->gprev = w->gprev;
    t->nwaiters--;
}

/* Something of f went away: grant, in arrival order, every waiter that no
 * longer conflicts (each grant counts for the ones after it). */
static void wake(struct lock_table *t, struct lk_file *f)
{
    for (struct lk_waiter *w = f->wait_head, *wn; w; w = wn) {
        wn = w->next;
        const struct lk_lock *c = first_conflict(f, &w->q);
        if (c) {
            w->blk_client = c->q.client;
            w->blk_owner = c->q.owner;
            continue;
        }
        unqueue(t, w);
        int rc = apply(t, f, &w->q);
        void *ctx = w->ctx;
        free(w);
        t->done(t->arg, ctx, rc);
    }
    put_file(t, f);
}

/* 1 if q's owner waiting for blocker's lock would close a cycle of waits. */
static int deadlock(const struct lock_table *t, const struct lock_req *q, uint32_t client,
                    uint64_t owner)
{
    for (int step = 0; step < MAX_DEADLK_STEPS; step++) {
        if (client == q->client && owner == q->owner)
            return 1;
        const struct lk_waiter *w = t->waiters;
        while (w && !(w->q.kind == LOCK_KIND_POSIX && w->q.client == client && w->q.owner == owner))
            w = w->gnext;
        if (!w)
            return 0;
        client = w->blk_client;
        owner = w->blk_owner;
    }
    return 0;
}

int locks_set(struct lock_table *t, const struct lock_req *q)
{
    struct lk_file *f = q->type == BFS_LOCK_UN ? find_file(t, q->ino) : get_file(t, q->ino);
    if (!f)
        return q->type == BFS_LOCK_UN ? 0 : -ENOLCK;
    size_t before = t->nlocks;
    int rc = 0;
    if (q->kind == LOCK_KIND_FLOCK)
        drop_flock(t, f, q);
    if (first_conflict(f, q))
        rc = -EAGAIN;
    else
        rc = apply(t, f, q);
    /* Anything given up (an unlock, a downgrade, a split away) may let others in. */
    if (t->nlocks < before || q->type != BFS_LOCK_WR)
        wake(t, f);
    else
        put_file(t, f);
    return rc;
}

static int tombstoned(struct lock_table *t, uint32_t client, uint64_t wait_id)
{
    for (int i = 0; i < TOMBSTONES; i++) {
        if (t->tomb[i].client == client && t->tomb[i].wait_id == wait_id && wait_id) {
            t->tomb[i].wait_id = 0;
            return 1;
        }
    }
    return 0;
}

int locks_wait(struct lock_table *t, const struct lock_req *q, uint64_t wait_id, void *ctx)
{
    if (tombstoned(t, q->client, wait_id))
        return -EINTR;
    if (q->type == BFS_LOCK_UN)
        return locks_set(t, q);
    struct lk_file *f = get_file(t, q->ino);
    if (!f)
        return -ENOLCK;
    size_t before = t->nlocks;
    if (q->kind == LOCK_KIND_FLOCK)
        drop_flock(t, f, q);
    const struct lk_lock *c = first_conflict(f, q);
    int rc;
    if (!c) {
        rc = apply(t, f, q);
    } else if (q->kind == LOCK_KIND_POSIX && deadlock(t, q, c->q.client, c->q.owner)) {
        rc = -EDEADLK;
    } else if (t->nlocks + t->nwaiters >= t->max) {
        rc = -ENOLCK;
    } else {
        struct lk_waiter *w = calloc(1, sizeof *w);
        if (!w) {
            rc = -ENOLCK;
        } else {
            w->q = *q;
            w->wait_id = wait_id;
            w->ctx = ctx;
            w->blk_client = c->q.client;
            w->blk_owner = c->q.owner;
            w->file = f;
            if (f->wait_tail)
                f->wait_tail->next = w;
            else
                f->wait_head = w;
            f->wait_tail = w;
            w->gnext = t->waiters;
            if (t->waiters)
                t->waiters->gprev = w;
            t->waiters = w;
            t->nwaiters++;
            rc = 1;
        }
    }
    if (t->nlocks < before)
        wake(t, f);   /* a dropped flock: others may go (not this one: it is queued behind) */
    else
        put_file(t, f);
    return rc;
}

int locks_cancel(struct lock_table *t, uint32_t client, uint64_t wait_id)
{
    struct lk_waiter *w = t->waiters;
    while (w && !(w->q.client == client && w->wait_id == wait_id))
        w = w->gnext;
    if (!w) {
        t->tomb[t->tomb_next] = (struct tombstone){ client, wait_id };
        t->tomb_next = (t->tomb_next + 1) % TOMBSTONES;
        return 0;
    }
    struct lk_file *f = w->file;
    void *ctx = w->ctx;
    unqueue(t, w);
    free(w);
    t->done(t->arg, ctx, -EINTR);
    /* Those behind it may have waited for nothing else (readers behind a writer). */
    wake(t, f);
    return 1;
}

size_t locks_drop_client(struct lock_table *t, uint32_t client)
{
    size_t gone = 0;
    for (struct lk_waiter *w = t->waiters, *wn; w; w = wn) {
        wn = w->gnext;
        if (w->q.client != client)
            continue;
        void *ctx = w->ctx;
        unqueue(t, w);
        free(w);
        gone++;
        t->done(t->arg, ctx, -ECONNRESET);
    }
    for (int b = 0; b < BUCKETS; b++) {
        for (struct lk_file *f = t->files[b], *fn; f; f = fn) {
            fn = f->hnext;
            size_t before = gone;
            for (struct lk_lock *l = f->locks, *ln; l; l = ln) {
                ln = l->next;
                if (l->q.client == client) {
                    unlink_lock(t, f, l);
                    gone++;
                }
            }
            if (gone != before || !f->locks)
                wake(t, f);   /* may free f: fn was taken before */
        }
    }
    return gone;
}

void locks_end_waiters(struct lock_table *t, int status)
{
    while (t->waiters) {
        struct lk_waiter *w = t->waiters;
        struct lk_file *f = w->file;
        void *ctx = w->ctx;
        unqueue(t, w);
        free(w);
        put_file(t, f);
        t->done(t->arg, ctx, status);
    }
}
