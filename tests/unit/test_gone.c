/* test_gone.c - the table of inodes whose chunks a server removed lately (server/gone.h). */
#include "../../server/gone.h"
#include "../test.h"

static void test_note_and_expire(void)
{
    struct gone *g = gone_new();
    REQUIRE(g);
    CHECK(!gone_recent(g, 5, 100.0));
    gone_note(g, 5, 100.0);
    CHECK(gone_recent(g, 5, 100.0));
    CHECK(gone_recent(g, 5, 100.0 + GONE_KEEP_S));
    CHECK(!gone_recent(g, 5, 100.0 + GONE_KEEP_S + 1));   /* forgotten in time */
    CHECK(!gone_recent(g, 6, 100.0));
    gone_note(g, 5, 500.0);                               /* noted again: fresh */
    CHECK(gone_recent(g, 5, 501.0));
    gone_note(g, 0, 1.0);                                  /* no inode 0 */
    CHECK(!gone_recent(g, 0, 1.0));
    gone_free(g);
}

/* Far more removals at once than the table holds: the newest are remembered,
 * nothing is ever called gone that was not noted. */
static void test_many(void)
{
    struct gone *g = gone_new();
    REQUIRE(g);
    enum { N = 100000 };
    for (uint64_t i = 1; i <= N; i++)
        gone_note(g, (2ULL << 48) | i, (double)i / 1000);
    int newest = 0, strangers = 0;
    for (uint64_t i = N - 999; i <= N; i++)
        newest += gone_recent(g, (2ULL << 48) | i, N / 1000.0);
    for (uint64_t i = N + 1; i <= N + 10000; i++)
        strangers += gone_recent(g, (2ULL << 48) | i, N / 1000.0);
    CHECK(newest >= 990);    /* the last thousand: nearly all kept */
    CHECK_EQ(strangers, 0);
    gone_free(g);
}

int main(void)
{
    RUN(test_note_and_expire);
    RUN(test_many);
    return test_summary();
}
