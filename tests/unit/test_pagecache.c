/* test_pagecache.c - when open may keep a file's cached pages (fuse/pagecache.c). */
#include "../../fuse/pagecache.h"
#include "../test.h"

static struct bfs_attr ver(uint64_t ino, int64_t ctime, uint64_t size)
{
    return (struct bfs_attr){ .ino = ino, .ctime_ns = ctime, .mtime_ns = ctime, .size = size };
}

static void test_first_open_drops_second_keeps(void)
{
    struct pagecache *pc = pagecache_new(64);
    REQUIRE(pc);
    struct bfs_attr a = ver(7, 100, 10);
    CHECK(!pagecache_open(pc, &a));      /* nothing known: drop */
    CHECK(pagecache_open(pc, &a));       /* unchanged since: keep */
    a.ctime_ns = 101;                    /* another client changed it */
    CHECK(!pagecache_open(pc, &a));
    CHECK(pagecache_open(pc, &a));
    a.size = 11;                         /* any field of the version counts */
    CHECK(!pagecache_open(pc, &a));
    a.mtime_ns = 5;
    CHECK(!pagecache_open(pc, &a));
    pagecache_free(pc);
}

static void test_own_writes_keep_pages(void)
{
    struct pagecache *pc = pagecache_new(64);
    REQUIRE(pc);
    struct bfs_attr a = ver(7, 100, 0), b = ver(7, 200, 4096), c = ver(7, 300, 8192);
    CHECK(!pagecache_open(pc, &a));
    pagecache_wrote(pc, 7, 100, &b);     /* only our write in between */
    pagecache_wrote(pc, 7, 200, &c);
    CHECK(pagecache_open(pc, &c));
    /* someone else wrote between our version and our write (pre 250, not 300) */
    struct bfs_attr d = ver(7, 400, 8192);
    pagecache_wrote(pc, 7, 250, &d);
    CHECK(!pagecache_open(pc, &d));
    /* a write the owner could not vouch for, or a setattr here: forget */
    pagecache_forget(pc, 7);
    CHECK(!pagecache_open(pc, &d));
    CHECK(pagecache_open(pc, &d));
    pagecache_free(pc);
}

static void test_other_inodes_and_collisions(void)
{
    struct pagecache *pc = pagecache_new(1);   /* one slot: every inode collides */
    REQUIRE(pc);
    struct bfs_attr a = ver(1, 10, 1), b = ver(2, 20, 2);
    CHECK(!pagecache_open(pc, &a));
    CHECK(!pagecache_open(pc, &b));      /* takes a's slot */
    CHECK(!pagecache_open(pc, &a));      /* a was forgotten: drop, never keep wrongly */
    struct bfs_attr b2 = ver(2, 21, 2);
    pagecache_wrote(pc, 2, 20, &b2);     /* b is not remembered: nothing to update */
    CHECK(pagecache_open(pc, &a));
    pagecache_forget(pc, 2);             /* not a's: a stays */
    CHECK(pagecache_open(pc, &a));
    pagecache_free(pc);
    pagecache_free(NULL);
}

int main(void)
{
    RUN(test_first_open_drops_second_keeps);
    RUN(test_own_writes_keep_pages);
    RUN(test_other_inodes_and_collisions);
    return test_summary();
}
