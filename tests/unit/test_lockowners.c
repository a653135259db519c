/* test_lockowners.c - which lock owners close must release (fuse/lockowners.h). */
#include <errno.h>
#include <stdlib.h>

#include "../../fuse/lockowners.h"
#include "../test.h"

static void test_flush_forgets_an_owner_on_every_handle(void)
{
    struct lockowners *t = lockowners_new();
    REQUIRE(t);
    CHECK(!lockowners_used(t, 5));
    CHECK_EQ(lockowners_note(t, 5, 100, 1), 0);
    CHECK_EQ(lockowners_note(t, 5, 100, 2), 0);        /* the same process through another fd */
    CHECK_EQ(lockowners_note(t, 5, 100, 2), 0);        /* noted once */
    CHECK(lockowners_used(t, 5));
    CHECK(!lockowners_flush(t, 5, 200));               /* another process: nothing to release */
    CHECK(!lockowners_flush(t, 6, 100));               /* another file */
    CHECK(lockowners_flush(t, 5, 100));                /* any close of the file: all of it */
    CHECK(!lockowners_flush(t, 5, 100));
    uint64_t *o;
    CHECK_EQ(lockowners_release(t, 5, 1, &o), 0);      /* flushed: release has nothing left */
    CHECK(o == NULL);
    CHECK(lockowners_used(t, 5));                      /* "used" stays */
    lockowners_free(t);
}

static void test_release_lists_what_was_never_flushed(void)
{
    struct lockowners *t = lockowners_new();
    REQUIRE(t);
    /* OFD locks: the owner is the open file, which no flush names. */
    CHECK_EQ(lockowners_note(t, 7, 0xf11e1, 10), 0);
    CHECK_EQ(lockowners_note(t, 7, 0xf11e2, 11), 0);
    CHECK_EQ(lockowners_note(t, 7, 300, 10), 0);       /* and a process's POSIX lock via handle 10 */
    CHECK(lockowners_flush(t, 7, 300));
    uint64_t *o;
    int n = lockowners_release(t, 7, 10, &o);
    CHECK_EQ(n, 1);
    CHECK(n == 1 && o[0] == 0xf11e1);
    free(o);
    n = lockowners_release(t, 7, 11, &o);
    CHECK_EQ(n, 1);
    CHECK(n == 1 && o[0] == 0xf11e2);
    free(o);
    CHECK_EQ(lockowners_release(t, 7, 11, &o), 0);
    lockowners_free(t);
}

static void test_many(void)
{
    enum { N = 5000 };
    struct lockowners *t = lockowners_new();
    REQUIRE(t);
    for (uint64_t i = 1; i <= N; i++)
        CHECK_EQ(lockowners_note(t, i, i * 3, i), 0);
    for (uint64_t i = 1; i <= N; i += 2)
        CHECK(lockowners_flush(t, i, i * 3));
    for (uint64_t i = 1; i <= N; i++) {
        uint64_t *o;
        int n = lockowners_release(t, i, i, &o);
        CHECK_EQ(n, i % 2 ? 0 : 1);
        if (n == 1)
            CHECK_EQ(o[0], i * 3);
        free(o);
    }
    lockowners_free(t);   /* (LeakSanitizer: nothing left behind) */
}

int main(void)
{
    RUN(test_flush_forgets_an_owner_on_every_handle);
    RUN(test_release_lists_what_was_never_flushed);
    RUN(test_many);
    return test_summary();
}
