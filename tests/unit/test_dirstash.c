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

static struct bfs_attr times_only(int64_t t)
{
    return (struct bfs_attr){ .mtime_ns = t, .ctime_ns = t };
}

static void nap_ms(long ms)
{
    struct timespec nap = { 0, ms * 1000 * 1000 };
    nanosleep(&nap, NULL);
}

/* One change of directory 5 that brought a alone: true and *out if the next
 * GETATTR is answered from the stash. */
static bool change_answers(struct dirstash *ds, struct bfs_attr a, struct bfs_attr *out)
{
    uint64_t t = dirstash_begin(ds, 5);
    dirstash_end(ds, 5, t, &a);
    return dirstash_take(ds, 5, out);
}

/* A change that brings only the parent's times (its entry on another server
 * than the parent) builds on the copy the daemon last kept or saw: never
 * without one, never beside another change, never older than it was. */
static void test_times_only(void)
{
    struct dirstash *ds = dirstash_new(64, 10);
    REQUIRE(ds);
    struct bfs_attr out, seen = dir_at(5, 100, 3), full = dir_at(5, 400, 4);
    CHECK(!change_answers(ds, times_only(200), &out));   /* nothing known to build on */
    dirstash_seen(ds, dirstash_look(ds, 5), &seen);
    CHECK(!dirstash_take(ds, 5, &out));                   /* seen is not kept */
    CHECK(change_answers(ds, times_only(200), &out) && out.nlink == 3 && out.ctime_ns == 200 &&
          out.mtime_ns == 200 && out.ino == 5);
    CHECK(!dirstash_take(ds, 5, &out));
    CHECK(change_answers(ds, times_only(300), &out) && out.ctime_ns == 300 && out.nlink == 3);
    CHECK(change_answers(ds, times_only(50), &out) && out.ctime_ns == 300);   /* none back */
    /* Beside another change: its result may be missing from the copy, and
     * ours (on its way to the parent's server) from its: neither is kept. */
    uint64_t t1 = dirstash_begin(ds, 5), t2 = dirstash_begin(ds, 5);
    struct bfs_attr t200 = times_only(200);
    dirstash_end(ds, 5, t1, &t200);
    CHECK(!dirstash_take(ds, 5, &out));
    dirstash_end(ds, 5, t2, &full);
    CHECK(!dirstash_take(ds, 5, &out));
    CHECK(change_answers(ds, full, &out) && out.ctime_ns == 400 && out.nlink == 4);
    /* An answer older than what is known does not replace it. */
    struct bfs_attr old = dir_at(5, 350, 2);
    dirstash_seen(ds, dirstash_look(ds, 5), &old);
    CHECK(change_answers(ds, times_only(500), &out) && out.nlink == 4 && out.ctime_ns == 500);
    /* An answer asked for before a change that ran meanwhile is not taken:
     * it may predate the change (a forget, one in flight, one that claimed
     * the slot). */
    dirstash_forget(ds, 5);
    struct dirstash_look look = dirstash_look(ds, 5);
    dirstash_forget(ds, 5);                               /* a chmod, meanwhile */
    struct bfs_attr later = dir_at(5, 900, 2);
    dirstash_seen(ds, look, &later);
    CHECK(!change_answers(ds, times_only(950), &out));
    look = dirstash_look(ds, 5);
    uint64_t tb = dirstash_begin(ds, 5);                  /* one still running */
    dirstash_seen(ds, look, &later);
    dirstash_end(ds, 5, tb, NULL);
    CHECK(!change_answers(ds, times_only(950), &out));
    look = dirstash_look(ds, 5);
    dirstash_seen(ds, look, &later);                      /* none: taken */
    CHECK(change_answers(ds, times_only(950), &out) && out.ctime_ns == 950);
    /* A forget (a setattr, an xattr) leaves nothing to build on. */
    dirstash_forget(ds, 5);
    CHECK(!change_answers(ds, times_only(600), &out));
    dirstash_free(ds);

    /* The copy is as old as what it was built on. */
    ds = dirstash_new(64, 0.06);
    REQUIRE(ds);
    dirstash_seen(ds, dirstash_look(ds, 5), &seen);
    nap_ms(30);
    CHECK(change_answers(ds, times_only(200), &out) && out.ctime_ns == 200);
    nap_ms(45);                                           /* 75 ms after it was seen */
    CHECK(!change_answers(ds, times_only(300), &out));
    dirstash_free(ds);
    /* With no attr_timeout nothing is seen either. */
    ds = dirstash_new(64, 0);
    REQUIRE(ds);
    dirstash_seen(ds, dirstash_look(ds, 5), &seen);
    CHECK(!change_answers(ds, times_only(200), &out));
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
    RUN(test_times_only);
    return test_summary();
}
