/* test_fdcache.c - the chunk store's fd cache (server/fdcache.h): hits, LRU
 * eviction order, entries in use never closed, the unsynced set (sorted, taken
 * back on reopen, bounded by a flush), invalidation by inode and range. Fds are
 * of /dev/null: the cache only keeps and closes them. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../server/fdcache.h"
#include "../test.h"

static int flushes, flush_rc;
static unsigned flush_n;

static int on_flush(void *arg, const char *why, unsigned n)
{
    (void)arg;
    (void)why;
    flushes++;
    flush_n = n;
    return flush_rc;
}

static int devnull(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static bool fd_closed(int fd)
{
    return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* Inserts (ino, idx) and leaves it idle; returns its entry. */
static struct fd_ent *add_idle(struct fdcache *fc, uint64_t ino, uint64_t idx)
{
    struct fd_ent *e = NULL;
    int fd = devnull();
    if (fd < 0 || fdcache_insert(fc, ino, idx, fd, &e) < 0)
        return NULL;
    fdcache_put(fc, e);
    return e;
}

static void test_hits(void)
{
    struct fdcache fc;
    REQUIRE(fdcache_init(&fc, 4, on_flush, NULL) == 0);
    CHECK(fdcache_find(&fc, 1, 0) == NULL);
    struct fd_ent *e = NULL;
    int fd = devnull();
    REQUIRE(fd >= 0);
    REQUIRE(fdcache_insert(&fc, 1, 0, fd, &e) == 0);
    CHECK(e->ino == 1 && e->idx == 0 && e->fd == fd && !e->dirty && !e->sync_only);
    CHECK(fdcache_find(&fc, 1, 0) == e);
    CHECK(fdcache_find(&fc, 1, 1) == NULL);   /* same ino, other chunk */
    CHECK(fdcache_find(&fc, 2, 0) == NULL);
    fdcache_put(&fc, e);
    CHECK(fdcache_find(&fc, 1, 0) == e);      /* idle entries stay open */
    CHECK(!fd_closed(fd));
    fdcache_ref(&fc, e);
    fdcache_ref(&fc, e);
    CHECK(!fdcache_evict_one(&fc));           /* in use: nothing idle to evict */
    fdcache_put(&fc, e);
    CHECK(!fdcache_evict_one(&fc));
    fdcache_put(&fc, e);
    CHECK(fdcache_evict_one(&fc));
    CHECK(fdcache_find(&fc, 1, 0) == NULL);
    CHECK(fd_closed(fd));
    CHECK_EQ(fdcache_unsynced_count(&fc), 0);  /* it was clean */
    fdcache_destroy(&fc);
}

static void test_lru_order(void)
{
    struct fdcache fc;
    REQUIRE(fdcache_init(&fc, 3, on_flush, NULL) == 0);
    struct fd_ent *a = add_idle(&fc, 1, 0), *b = add_idle(&fc, 1, 1), *c = add_idle(&fc, 2, 0);
    REQUIRE(a && b && c);
    int fa = a->fd, fb = b->fd, fcd = c->fd;
    fdcache_ref(&fc, a);   /* a used again: now the most recent */
    fdcache_put(&fc, a);
    struct fd_ent *d = add_idle(&fc, 3, 0);   /* 4 > 3: the least recent, b, goes */
    REQUIRE(d);
    CHECK(fdcache_find(&fc, 1, 1) == NULL);
    CHECK(fd_closed(fb));
    CHECK(fdcache_find(&fc, 1, 0) == a && fdcache_find(&fc, 2, 0) == c);
    CHECK(fdcache_evict_one(&fc));            /* then c, then a, then d */
    CHECK(fdcache_find(&fc, 2, 0) == NULL && fd_closed(fcd));
    CHECK(fdcache_evict_one(&fc));
    CHECK(fdcache_find(&fc, 1, 0) == NULL && fd_closed(fa));
    CHECK(fdcache_find(&fc, 3, 0) == d);

    /* Entries in use are never evicted: the cache grows past max for a while
     * and is trimmed back as they become idle. */
    struct fd_ent *held[5];
    for (int i = 0; i < 5; i++) {
        int fd = devnull();
        REQUIRE(fd >= 0 && fdcache_insert(&fc, 10, (uint64_t)i, fd, &held[i]) == 0);
    }
    CHECK(fdcache_find(&fc, 3, 0) == NULL);   /* the only idle one went */
    for (int i = 0; i < 5; i++)
        CHECK(fdcache_find(&fc, 10, (uint64_t)i) == held[i]);
    int f0 = held[0]->fd;
    for (int i = 0; i < 5; i++)
        fdcache_put(&fc, held[i]);
    CHECK_EQ(fc.nent, 3);                     /* back to max: 0 and 1 went */
    CHECK(fdcache_find(&fc, 10, 0) == NULL && fd_closed(f0));
    CHECK(fdcache_find(&fc, 10, 1) == NULL);
    CHECK(fdcache_find(&fc, 10, 4) == held[4]);
    fdcache_destroy(&fc);
}

static void test_unsynced(void)
{
    struct fdcache fc;
    REQUIRE(fdcache_init(&fc, 8, on_flush, NULL) == 0);
    /* Dirty chunks evicted go into the set, sorted per ino. */
    uint64_t order[] = { 5, 1, 3 };
    for (int i = 0; i < 3; i++) {
        struct fd_ent *e = add_idle(&fc, 7, order[i]);
        REQUIRE(e);
        e->dirty = true;
        CHECK(fdcache_evict_one(&fc));
    }
    struct fd_ent *clean = add_idle(&fc, 7, 9);   /* evicted clean: not in the set */
    REQUIRE(clean);
    CHECK(fdcache_evict_one(&fc));
    CHECK_EQ(fdcache_unsynced_count(&fc), 3);

    /* Opened again: out of the set, and the entry owes the sync. */
    struct fd_ent *e = add_idle(&fc, 7, 3);
    REQUIRE(e);
    CHECK(e->dirty);
    CHECK_EQ(fdcache_unsynced_count(&fc), 2);
    /* Marking a cached chunk marks its entry; an uncached one joins the set. */
    e->dirty = false;
    fdcache_mark_unsynced(&fc, 7, 3);
    CHECK(e->dirty);
    CHECK_EQ(fdcache_unsynced_count(&fc), 2);
    fdcache_mark_unsynced(&fc, 7, 2);
    fdcache_mark_unsynced(&fc, 7, 2);         /* once only */
    fdcache_mark_unsynced(&fc, 8, 0);
    CHECK_EQ(fdcache_unsynced_count(&fc), 4);

    struct fdcache_unsynced *u = fdcache_unsynced_detach(&fc, 7);
    REQUIRE(u);
    CHECK_EQ(u->ino, 7);
    CHECK_EQ(u->n, 3);
    CHECK(u->idx[0] == 1 && u->idx[1] == 2 && u->idx[2] == 5);
    fdcache_unsynced_free(u);
    CHECK(fdcache_unsynced_detach(&fc, 7) == NULL);
    CHECK_EQ(fdcache_unsynced_count(&fc), 1);

    /* Dropping from an index cuts the tail only. */
    for (uint64_t i = 0; i < 6; i++)
        fdcache_mark_unsynced(&fc, 9, i);
    fdcache_unsynced_drop(&fc, 9, 4);
    fdcache_unsynced_drop(&fc, 42, 0);        /* no record: nothing */
    CHECK_EQ(fdcache_unsynced_count(&fc), 5);
    u = fdcache_unsynced_detach(&fc, 9);
    REQUIRE(u);
    CHECK(u->n == 4 && u->idx[3] == 3);
    fdcache_unsynced_free(u);
    fdcache_unsynced_drop(&fc, 8, 0);         /* the whole record */
    CHECK(fdcache_unsynced_detach(&fc, 8) == NULL);
    CHECK_EQ(fdcache_unsynced_count(&fc), 0);
    CHECK_EQ(flushes, 0);
    fdcache_destroy(&fc);
}

static void test_unsynced_bound(void)
{
    struct fdcache fc;
    REQUIRE(fdcache_init(&fc, 8, on_flush, NULL) == 0);
    flushes = 0;
    flush_rc = 0;
    for (uint64_t i = 0; i < FDCACHE_UNSYNCED_MAX; i++)
        fdcache_mark_unsynced(&fc, i % 1000, i);
    CHECK_EQ(fdcache_unsynced_count(&fc), FDCACHE_UNSYNCED_MAX);
    CHECK_EQ(flushes, 0);
    /* Full: one flush puts everything on disk, this chunk's data too. */
    fdcache_mark_unsynced(&fc, 5000, 0);
    CHECK_EQ(flushes, 1);
    CHECK_EQ(flush_n, FDCACHE_UNSYNCED_MAX);
    CHECK_EQ(fdcache_unsynced_count(&fc), 0);
    CHECK(fdcache_unsynced_detach(&fc, 5) == NULL);

    /* A flush that fails keeps the set (each fsync still tries), and the chunk. */
    for (uint64_t i = 0; i < FDCACHE_UNSYNCED_MAX; i++)
        fdcache_mark_unsynced(&fc, 1, i);
    flush_rc = -EIO;
    fdcache_mark_unsynced(&fc, 2, 0);
    CHECK_EQ(flushes, 2);
    CHECK_EQ(fdcache_unsynced_count(&fc), FDCACHE_UNSYNCED_MAX + 1);
    struct fdcache_unsynced *u = fdcache_unsynced_detach(&fc, 2);
    CHECK(u && u->n == 1);
    fdcache_unsynced_free(u);
    flush_rc = 0;
    flushes = 0;
    fdcache_destroy(&fc);   /* frees the set still held */
}

static void test_invalidate(void)
{
    struct fdcache fc;
    REQUIRE(fdcache_init(&fc, 64, on_flush, NULL) == 0);
    int fds[10];
    for (uint64_t i = 0; i < 10; i++) {
        struct fd_ent *e = add_idle(&fc, 7, i);
        REQUIRE(e);
        fds[i] = e->fd;
    }
    struct fd_ent *other = add_idle(&fc, 8, 3);
    REQUIRE(other);
    struct fd_ent *busy = fdcache_find(&fc, 7, 5);
    fdcache_ref(&fc, busy);
    busy->dirty = true;

    fdcache_invalidate(&fc, 7, 2, 6);         /* short range: by index */
    for (uint64_t i = 0; i < 10; i++)
        CHECK((fdcache_find(&fc, 7, i) == NULL) == (i >= 2 && i < 6));
    CHECK(fd_closed(fds[2]) && fd_closed(fds[4]));
    CHECK(!fd_closed(fds[5]));                /* in use: closed when done */
    CHECK(fdcache_find(&fc, 8, 3) == other);
    fdcache_put(&fc, busy);                   /* dead: closed, not into the set */
    CHECK(fd_closed(fds[5]));
    CHECK_EQ(fdcache_unsynced_count(&fc), 0);

    fdcache_invalidate(&fc, 7, 7, UINT64_MAX);   /* long range: walks the table */
    CHECK(fdcache_find(&fc, 7, 6) != NULL);
    CHECK(fdcache_find(&fc, 7, 7) == NULL && fdcache_find(&fc, 7, 9) == NULL);
    CHECK(fd_closed(fds[9]));
    CHECK(fdcache_find(&fc, 8, 3) == other);
    fdcache_invalidate(&fc, 7, 3, 3);         /* empty range */
    CHECK(fdcache_find(&fc, 7, 6) != NULL);
    fdcache_destroy(&fc);
}

static int seen[4];

static void on_dirty(void *arg, struct fd_ent *e)
{
    (void)arg;
    if (e->idx < 4)
        seen[e->idx]++;
}

static void test_take_dirty_and_detached(void)
{
    struct fdcache fc;
    REQUIRE(fdcache_init(&fc, 16, on_flush, NULL) == 0);
    for (uint64_t i = 0; i < 4; i++) {
        struct fd_ent *e = add_idle(&fc, 7, i);
        REQUIRE(e);
        e->dirty = i % 2 == 1;
    }
    struct fd_ent *o = add_idle(&fc, 8, 0);
    REQUIRE(o);
    o->dirty = true;
    fdcache_take_dirty(&fc, 7, on_dirty, NULL);
    CHECK(seen[0] == 0 && seen[1] == 1 && seen[2] == 0 && seen[3] == 1);
    CHECK(!fdcache_find(&fc, 7, 1)->dirty && !fdcache_find(&fc, 7, 3)->dirty);
    CHECK(o->dirty);                          /* another ino: untouched */

    /* An entry outside the table: no lookup finds it, closed with its last user. */
    int fd = devnull();
    REQUIRE(fd >= 0);
    struct fd_ent *d = fdcache_detached(9, 4, fd);
    REQUIRE(d);
    CHECK(d->sync_only && d->fd == fd);
    CHECK(fdcache_find(&fc, 9, 4) == NULL);
    fdcache_ref(&fc, d);
    fdcache_put(&fc, d);
    CHECK(!fd_closed(fd));
    fdcache_put(&fc, d);
    CHECK(fd_closed(fd));
    fdcache_destroy(&fc);
}

/* An opening entry (fd -1 until fdcache_opened) is found, never evicted while
 * its opener holds it, skipped by take_dirty, and takes the unsynced set's
 * sync only once opened; a failed one leaves the table. */
static void test_opening(void)
{
    struct fdcache fc;
    int marker;
    REQUIRE(fdcache_init(&fc, 1, on_flush, NULL) == 0);
    fdcache_mark_unsynced(&fc, 5, 0);   /* evicted dirty earlier */
    struct fd_ent *e = NULL;
    REQUIRE(fdcache_insert_opening(&fc, 5, 0, &marker, &e) == 0);
    CHECK(e->fd == -1 && e->opening == &marker && !e->dirty);
    CHECK(fdcache_find(&fc, 5, 0) == e);
    CHECK_EQ(fdcache_unsynced_count(&fc), 1);   /* the set keeps it until opened */
    for (uint64_t i = 1; i <= 3; i++)
        REQUIRE(add_idle(&fc, 6, i));            /* max 1: evicts idle ones only */
    CHECK(!fdcache_evict_one(&fc) || fdcache_find(&fc, 5, 0) == e);
    CHECK(fdcache_find(&fc, 5, 0) == e);
    e->dirty = true;
    memset(seen, 0, sizeof seen);
    fdcache_take_dirty(&fc, 5, on_dirty, NULL);
    CHECK(seen[0] == 0 && e->dirty);           /* no fd to sync yet */
    e->dirty = false;
    int fd = devnull();
    REQUIRE(fd >= 0);
    fdcache_opened(&fc, e, fd);
    CHECK(e->fd == fd && !e->opening && e->dirty);
    CHECK_EQ(fdcache_unsynced_count(&fc), 0);
    fdcache_put(&fc, e);

    struct fd_ent *f = NULL;
    REQUIRE(fdcache_insert_opening(&fc, 5, 1, &marker, &f) == 0);
    fdcache_ref(&fc, f);                        /* a waiter */
    fdcache_open_failed(&fc, f);
    CHECK(fdcache_find(&fc, 5, 1) == NULL && !f->opening);
    fdcache_put(&fc, f);
    fdcache_put(&fc, f);                        /* freed with its last user (ASan) */
    fdcache_destroy(&fc);
}

int main(void)
{
    RUN(test_hits);
    RUN(test_lru_order);
    RUN(test_unsynced);
    RUN(test_unsynced_bound);
    RUN(test_invalidate);
    RUN(test_take_dirty_and_detached);
    RUN(test_opening);
    return test_summary();
}
