/* test_dirstash.c - when the daemon may answer a directory's GETATTR itself (fuse/dirstash.c). */
#include "../../fuse/dirstash.h"
#include "../test.h"

#include <time.h>

static struct bfs_attr dir_at(uint64_t ino, int64_t ctime, uint32_t nlink)
{
    return (struct bfs_attr){ .ino = ino, .mode = 040755, .nlink = nlink, .ctime_ns = ctime,
                              .mtime_ns = ctime };
}

/* A change's attributes answer the next GETATTR once, and only that. */
static void test_once(void)
{
    struct dirstash *ds = dirstash_new(64, 10);
    REQUIRE(ds);
    struct bfs_attr a = dir_at(5, 100, 2), out;
    CHECK(!dirstash_take(ds, 5, &out));              /* nothing kept */
    uint64_t t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    CHECK(!dirstash_take(ds, 6, &out));              /* another directory */
    CHECK(dirstash_take(ds, 5, &out) && out.ctime_ns == 100 && out.nlink == 2);
    CHECK(!dirstash_take(ds, 5, &out));              /* used up */
    dirstash_free(ds);
}

/* Not known, not the parent's, or a failed change: nothing to answer with. */
static void test_unknown_forgets(void)
{
    struct dirstash *ds = dirstash_new(64, 10);
    REQUIRE(ds);
    struct bfs_attr a = dir_at(5, 100, 2), other = dir_at(9, 200, 2), out;
    uint64_t t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, NULL);                    /* a coordinated change */
    CHECK(!dirstash_take(ds, 5, &out));
    t = dirstash_begin(ds, 5);
    struct bfs_attr none = { 0 };
    dirstash_end(ds, 5, t, &none);                   /* ino 0: the server did not say */
    CHECK(!dirstash_take(ds, 5, &out));
    t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &other);                  /* not this directory's */
    CHECK(!dirstash_take(ds, 5, &out));
    dirstash_free(ds);
}

/* A change without attributes that ran beside one with them (a setattr, an
 * xattr, a coordinated rename) makes the latter's copy unsafe, in any order. */
static void test_races(void)
{
    struct dirstash *ds = dirstash_new(64, 10);
    REQUIRE(ds);
    struct bfs_attr a = dir_at(5, 100, 2), out;
    uint64_t t = dirstash_begin(ds, 5);
    dirstash_forget(ds, 5);                          /* ended while ours was out */
    dirstash_end(ds, 5, t, &a);
    CHECK(!dirstash_take(ds, 5, &out));
    t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    dirstash_forget(ds, 5);                          /* ended after ours */
    CHECK(!dirstash_take(ds, 5, &out));
    t = dirstash_begin(ds, 5);
    dirstash_forget_all(ds);                         /* a rename anywhere */
    dirstash_end(ds, 5, t, &a);
    CHECK(!dirstash_take(ds, 5, &out));
    t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    dirstash_forget_all(ds);
    CHECK(!dirstash_take(ds, 5, &out));
    /* After the forget, a new change is kept again. */
    t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    CHECK(dirstash_take(ds, 5, &out));
    dirstash_free(ds);
}

/* Changes that overlapped: the latest of the owner's (its ctime) is kept,
 * whichever reply came back last. */
static void test_overlap_keeps_latest(void)
{
    struct dirstash *ds = dirstash_new(64, 10);
    REQUIRE(ds);
    struct bfs_attr older = dir_at(5, 100, 2), newer = dir_at(5, 200, 3), out;
    uint64_t t1 = dirstash_begin(ds, 5), t2 = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t2, &newer);
    dirstash_end(ds, 5, t1, &older);
    CHECK(dirstash_take(ds, 5, &out) && out.ctime_ns == 200 && out.nlink == 3);
    t1 = dirstash_begin(ds, 5);
    t2 = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t1, &older);
    dirstash_end(ds, 5, t2, &newer);
    CHECK(dirstash_take(ds, 5, &out) && out.ctime_ns == 200);
    dirstash_free(ds);
}

/* One slot: directories push each other out, never answer for each other. */
static void test_collisions(void)
{
    struct dirstash *ds = dirstash_new(1, 10);
    REQUIRE(ds);
    struct bfs_attr a = dir_at(5, 100, 2), b = dir_at(6, 300, 2), out;
    uint64_t ta = dirstash_begin(ds, 5);
    uint64_t tb = dirstash_begin(ds, 6);             /* takes the slot */
    dirstash_end(ds, 5, ta, &a);                     /* 5 is not there: nothing kept */
    CHECK(!dirstash_take(ds, 5, &out));
    dirstash_end(ds, 6, tb, &b);
    dirstash_forget(ds, 5);                          /* not 6's: 6 stays */
    CHECK(dirstash_take(ds, 6, &out) && out.ino == 6);
    ta = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, ta, &a);
    tb = dirstash_begin(ds, 6);                      /* pushes 5 out before its GETATTR */
    CHECK(!dirstash_take(ds, 5, &out));
    dirstash_end(ds, 6, tb, NULL);
    CHECK(!dirstash_take(ds, 6, &out));
    dirstash_free(ds);
}

/* No attr_timeout, nothing kept (a mount that caches nothing asks every
 * time); and a copy answers only within it. */
static void test_ttl(void)
{
    CHECK(dirstash_new(3, 1) == NULL);               /* not a power of two */
    struct dirstash *ds = dirstash_new(64, 0);
    REQUIRE(ds);
    struct bfs_attr a = dir_at(5, 100, 2), out;
    uint64_t t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    CHECK(!dirstash_take(ds, 5, &out));
    dirstash_free(ds);
    ds = dirstash_new(64, 0.02);
    REQUIRE(ds);
    t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    struct timespec nap = { 0, 40 * 1000 * 1000 };   /* past the 20 ms it may answer for */
    nanosleep(&nap, NULL);
    CHECK(!dirstash_take(ds, 5, &out));
    dirstash_free(ds);
}

int main(void)
{
    RUN(test_once);
    RUN(test_unknown_forgets);
    RUN(test_races);
    RUN(test_overlap_keeps_latest);
    RUN(test_collisions);
    RUN(test_ttl);
    return test_summary();
}
