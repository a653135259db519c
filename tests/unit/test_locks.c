/* test_locks.c - the lock table (server/locks.h): conflicts, Linux's splits and
 * merges of one owner's POSIX locks, flock apart from POSIX locks, waiters and
 * their grants, deadlocks, cancels and a client's departure. */
#include <errno.h>
#include <stdlib.h>

#include "../../common/proto.h"
#include "../../server/locks.h"
#include "../test.h"

#define EOFF LOCKS_MAX_END
enum { RD = BFS_LOCK_RD, WR = BFS_LOCK_WR, UN = BFS_LOCK_UN };

/* done() records what each waiter (ctx: an int slot) got. */
static int results[16];
static int ndone;
static void done(void *arg, void *ctx, int status)
{
    (void)arg;
    *(int *)ctx = status;
    ndone++;
}

static struct lock_req R(uint32_t client, uint64_t owner, int type, uint64_t start, uint64_t end)
{
    return (struct lock_req){ .ino = 7, .client = client, .owner = owner, .type = (uint8_t)type,
                              .start = start, .end = end, .kind = LOCK_KIND_POSIX, .pid = 100 + owner };
}

static struct lock_req F(uint32_t client, uint64_t owner, int type)
{
    struct lock_req q = R(client, owner, type, 0, EOFF);
    q.kind = LOCK_KIND_FLOCK;
    return q;
}

static struct lock_table *fresh(void)
{
    for (int i = 0; i < 16; i++)
        results[i] = 1;   /* 1: still waiting */
    ndone = 0;
    return locks_new(done, NULL, 1000);
}

/* What another owner's F_GETLK of [start, end] sees: the conflicting type or UN. */
static int probe(struct lock_table *t, int type, uint64_t start, uint64_t end, struct lock_req *c)
{
    struct lock_req q = R(9, 9, type, start, end), tmp;
    if (!c)
        c = &tmp;
    return locks_test(t, &q, c) ? c->type : UN;
}

static void test_conflicts(void)
{
    struct lock_table *t = fresh();
    REQUIRE(t);
    struct lock_req a = R(1, 1, RD, 0, 99), c;
    CHECK_EQ(locks_set(t, &a), 0);
    CHECK_EQ(probe(t, RD, 0, 10, NULL), UN);           /* readers share */
    CHECK_EQ(probe(t, WR, 50, 200, &c), RD);           /* a writer does not */
    CHECK_EQ(c.start, 0);
    CHECK_EQ(c.end, 99);
    CHECK_EQ(c.pid, 101);
    CHECK_EQ(probe(t, WR, 100, 200, NULL), UN);        /* past the range */
    struct lock_req b = R(2, 1, WR, 50, 60);           /* same owner number, other client */
    CHECK_EQ(locks_set(t, &b), -EAGAIN);
    struct lock_req own = R(1, 1, WR, 50, 60);         /* its own lock never conflicts */
    CHECK_EQ(locks_set(t, &own), 0);
    struct lock_req other_file = R(2, 1, WR, 0, EOFF);
    other_file.ino = 8;
    CHECK_EQ(locks_set(t, &other_file), 0);
    CHECK_EQ(locks_count(t), 4);                       /* [0,49] RD, [50,60] WR, [61,99] RD, ino 8 */
    locks_free(t);
}

static void test_split_and_merge(void)
{
    struct lock_table *t = fresh();
    REQUIRE(t);
    struct lock_req q = R(1, 1, WR, 0, EOFF), c;
    CHECK_EQ(locks_set(t, &q), 0);
    q = R(1, 1, UN, 100, 199);                          /* a hole in the middle: two locks */
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 2);
    CHECK_EQ(probe(t, WR, 100, 199, NULL), UN);
    CHECK_EQ(probe(t, RD, 99, 99, &c), WR);
    CHECK_EQ(c.start, 0);
    CHECK_EQ(c.end, 99);
    CHECK_EQ(probe(t, RD, 150, 300, &c), WR);
    CHECK_EQ(c.start, 200);
    CHECK_EQ(c.end, EOFF);
    q = R(1, 1, RD, 50, 249);                           /* a read lock across the hole */
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 3);                        /* WR [0,49] RD [50,249] WR [250,EOF] */
    CHECK_EQ(probe(t, RD, 0, EOFF, NULL), WR);
    CHECK_EQ(probe(t, RD, 50, 249, NULL), UN);
    CHECK_EQ(probe(t, WR, 120, 130, &c), RD);
    CHECK_EQ(c.start, 50);
    CHECK_EQ(c.end, 249);
    q = R(1, 1, WR, 50, 249);                           /* the same type as both sides: one lock */
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 1);
    CHECK_EQ(probe(t, RD, 5, 5, &c), WR);
    CHECK_EQ(c.start, 0);
    CHECK_EQ(c.end, EOFF);
    /* Adjacent ranges of one type merge; of another type they stay apart. */
    q = R(1, 1, UN, 0, EOFF);
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 0);
    q = R(1, 1, RD, 10, 19);
    CHECK_EQ(locks_set(t, &q), 0);
    q = R(1, 1, RD, 20, 29);
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 1);
    q = R(1, 1, WR, 30, 39);
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 2);
    /* Unlocking the first part and the last part leaves the middle. */
    q = R(1, 1, UN, 0, 14);
    CHECK_EQ(locks_set(t, &q), 0);
    q = R(1, 1, UN, 35, EOFF);
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(probe(t, WR, 0, 14, NULL), UN);
    CHECK_EQ(probe(t, WR, 15, 15, &c), RD);
    CHECK_EQ(c.start, 15);
    CHECK_EQ(c.end, 29);
    CHECK_EQ(probe(t, RD, 0, EOFF, &c), WR);
    CHECK_EQ(c.start, 30);
    CHECK_EQ(c.end, 34);
    /* An unlock of what is not held is fine, also on a file with no locks. */
    q = R(1, 1, UN, 1000, 2000);
    CHECK_EQ(locks_set(t, &q), 0);
    q.ino = 99;
    CHECK_EQ(locks_set(t, &q), 0);
    /* A request is all or nothing: a conflict leaves the owner's locks as they were. */
    struct lock_req other = R(2, 2, RD, 500, 500);
    CHECK_EQ(locks_set(t, &other), 0);
    q = R(1, 1, WR, 0, 600);
    CHECK_EQ(locks_set(t, &q), -EAGAIN);
    CHECK_EQ(probe(t, WR, 0, 14, NULL), UN);
    CHECK_EQ(locks_count(t), 3);
    locks_free(t);
}

static void test_checks(void)
{
    struct lock_req q = R(1, 1, WR, 10, 5);
    CHECK_EQ(locks_check(&q), -EINVAL);
    q = R(1, 1, 7, 0, 5);
    CHECK_EQ(locks_check(&q), -EINVAL);
    q = R(1, 1, RD, 0, EOFF + 1);
    CHECK_EQ(locks_check(&q), -EINVAL);
    q = F(1, 1, WR);
    CHECK_EQ(locks_check(&q), 0);
    q.start = 1;
    CHECK_EQ(locks_check(&q), -EINVAL);
    q = R(1, 1, RD, EOFF, EOFF);
    CHECK_EQ(locks_check(&q), 0);
}

static void test_flock_apart(void)
{
    struct lock_table *t = fresh();
    REQUIRE(t);
    struct lock_req f1 = F(1, 1, WR), p2 = R(2, 2, WR, 0, EOFF), f2 = F(2, 2, RD);
    CHECK_EQ(locks_set(t, &f1), 0);
    CHECK_EQ(locks_set(t, &p2), 0);                    /* POSIX and flock never meet */
    CHECK_EQ(locks_set(t, &f2), -EAGAIN);
    /* A conversion drops the old lock first: a failed upgrade leaves none. */
    struct lock_req s1 = F(1, 1, RD);
    CHECK_EQ(locks_set(t, &s1), 0);                    /* downgrade */
    CHECK_EQ(locks_set(t, &f2), 0);                    /* now shared */
    struct lock_req x1 = F(1, 1, WR);
    CHECK_EQ(locks_set(t, &x1), -EAGAIN);
    struct lock_req x3 = F(3, 3, WR);
    f2.type = UN;
    CHECK_EQ(locks_set(t, &f2), 0);
    CHECK_EQ(locks_set(t, &x3), 0);                    /* owner 1's shared lock went with its upgrade */
    locks_free(t);
}

static void test_wait_and_grant(void)
{
    struct lock_table *t = fresh();
    REQUIRE(t);
    struct lock_req a = R(1, 1, WR, 0, 99);
    CHECK_EQ(locks_set(t, &a), 0);
    struct lock_req b = R(2, 2, WR, 50, 150), c = R(3, 3, RD, 120, 130), d = R(4, 4, RD, 60, 60);
    CHECK_EQ(locks_wait(t, &b, 11, &results[0]), 1);
    CHECK_EQ(locks_wait(t, &c, 12, &results[1]), 0);   /* no conflict: granted at once */
    CHECK_EQ(locks_wait(t, &d, 13, &results[2]), 1);
    CHECK_EQ(locks_waiting(t), 2);
    /* Freeing [0, 49] helps nobody. */
    struct lock_req u = R(1, 1, UN, 0, 49);
    CHECK_EQ(locks_set(t, &u), 0);
    CHECK_EQ(ndone, 0);
    /* Freeing the rest: b still meets c's read lock, d goes. */
    u = R(1, 1, UN, 0, EOFF);
    CHECK_EQ(locks_set(t, &u), 0);
    CHECK_EQ(results[0], 1);
    CHECK_EQ(results[2], 0);
    CHECK_EQ(probe(t, WR, 60, 60, NULL), RD);          /* d holds it now */
    c.type = UN;
    CHECK_EQ(locks_set(t, &c), 0);
    CHECK_EQ(results[0], 1);                           /* d's read lock at 60 still in the way */
    d.type = UN;
    CHECK_EQ(locks_set(t, &d), 0);
    CHECK_EQ(results[0], 0);
    CHECK_EQ(locks_waiting(t), 0);
    CHECK_EQ(probe(t, RD, 50, 50, NULL), WR);
    locks_free(t);
}

static void test_deadlock(void)
{
    struct lock_table *t = fresh();
    REQUIRE(t);
    struct lock_req a1 = R(1, 1, WR, 0, 9), b1 = R(2, 2, WR, 10, 19), c1 = R(3, 3, WR, 20, 29);
    CHECK_EQ(locks_set(t, &a1), 0);
    CHECK_EQ(locks_set(t, &b1), 0);
    CHECK_EQ(locks_set(t, &c1), 0);
    struct lock_req a_wants_b = R(1, 1, WR, 10, 10), b_wants_c = R(2, 2, WR, 20, 20);
    struct lock_req c_wants_a = R(3, 3, WR, 0, 0);
    CHECK_EQ(locks_wait(t, &a_wants_b, 1, &results[0]), 1);
    CHECK_EQ(locks_wait(t, &b_wants_c, 2, &results[1]), 1);
    CHECK_EQ(locks_wait(t, &c_wants_a, 3, &results[2]), -EDEADLK);   /* c -> a -> b -> c */
    /* flock waits are not deadlock-checked (Linux's neither). */
    struct lock_req fa = F(1, 5, WR), fb = F(2, 6, WR);
    fa.ino = fb.ino = 8;
    CHECK_EQ(locks_set(t, &fa), 0);
    CHECK_EQ(locks_wait(t, &fb, 4, &results[3]), 1);
    /* c gives up its lock: b is granted, then a still waits for b. */
    c1.type = UN;
    CHECK_EQ(locks_set(t, &c1), 0);
    CHECK_EQ(results[1], 0);
    CHECK_EQ(results[0], 1);
    locks_free(t);
}

static void test_cancel_and_client_gone(void)
{
    struct lock_table *t = fresh();
    REQUIRE(t);
    struct lock_req a = R(1, 1, WR, 0, EOFF);
    CHECK_EQ(locks_set(t, &a), 0);
    struct lock_req b = R(2, 2, WR, 0, 0), c = R(3, 3, RD, 5, 5);
    CHECK_EQ(locks_wait(t, &b, 21, &results[0]), 1);
    CHECK_EQ(locks_wait(t, &c, 22, &results[1]), 1);
    CHECK_EQ(locks_cancel(t, 2, 21), 1);
    CHECK_EQ(results[0], -EINTR);
    CHECK_EQ(locks_cancel(t, 2, 21), 0);               /* no longer there */
    /* A cancel that overtook its request: the request is refused when it comes. */
    CHECK_EQ(locks_cancel(t, 2, 23), 0);
    CHECK_EQ(locks_wait(t, &b, 23, &results[2]), -EINTR);
    CHECK_EQ(locks_wait(t, &b, 24, &results[2]), 1);   /* ... only that one */
    /* Client 1 goes: its lock with it, and the waiters get in. */
    CHECK_EQ(locks_drop_client(t, 1), 1);
    CHECK_EQ(results[1], 0);
    CHECK_EQ(results[2], 0);
    /* Client 2 goes while it waits for client 3. */
    struct lock_req w2 = R(2, 2, WR, 5, 5);
    CHECK_EQ(locks_wait(t, &w2, 25, &results[3]), 1);
    CHECK_EQ(locks_drop_client(t, 2), 2);              /* its lock at 0 and its waiter */
    CHECK_EQ(results[3], -ECONNRESET);
    CHECK_EQ(locks_drop_client(t, 3), 1);
    CHECK_EQ(locks_count(t), 0);
    /* A stopping server ends every waiter. */
    CHECK_EQ(locks_set(t, &a), 0);
    CHECK_EQ(locks_wait(t, &b, 26, &results[4]), 1);
    locks_end_waiters(t, -ENOLCK);
    CHECK_EQ(results[4], -ENOLCK);
    CHECK_EQ(locks_count(t), 1);
    locks_free(t);
}

static void test_limit(void)
{
    for (int i = 0; i < 16; i++)
        results[i] = 1;
    struct lock_table *t = locks_new(done, NULL, 1);
    REQUIRE(t);
    struct lock_req q = R(1, 1, WR, 0, 9);
    CHECK_EQ(locks_set(t, &q), 0);
    q = R(1, 2, WR, 20, 29);
    CHECK_EQ(locks_set(t, &q), -ENOLCK);               /* one lock is all it may hold */
    q = R(1, 1, UN, 3, 4);                             /* an unlock always goes, splits too */
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 2);
    q = R(1, 1, UN, 6, 6);
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 3);
    q = R(1, 3, RD, 100, 100);                         /* new locks do not */
    CHECK_EQ(locks_set(t, &q), -ENOLCK);
    CHECK_EQ(locks_wait(t, &q, 1, &results[0]), -ENOLCK);
    q = R(1, 1, UN, 0, EOFF);
    CHECK_EQ(locks_set(t, &q), 0);
    CHECK_EQ(locks_count(t), 0);
    locks_free(t);
}

/* Many owners and ranges against a byte map: the table's answers must match it. */
static void test_against_model(void)
{
    enum { N = 64, OWNERS = 4 };
    int map[OWNERS][N];   /* per owner per byte: UN, RD or WR */
    memset(map, 0, sizeof map);
    struct lock_table *t = fresh();
    REQUIRE(t);
    srand(7);
    for (int it = 0; it < 20000; it++) {
        int o = rand() % OWNERS, type = rand() % 3;
        uint64_t s = (uint64_t)(rand() % N), e = s + (uint64_t)(rand() % (N - s));
        struct lock_req q = R(1, (uint64_t)o, type, s, e);
        int conflict = 0;
        for (int k = 0; k < OWNERS; k++)
            for (uint64_t b = s; k != o && type != UN && b <= e; b++)
                if (map[k][b] && (map[k][b] == WR || type == WR))
                    conflict = 1;
        int rc = locks_set(t, &q);
        CHECK_EQ(rc, conflict ? -EAGAIN : 0);
        if (rc == 0)
            for (uint64_t b = s; b <= e; b++)
                map[o][b] = type;
        /* The table holds one entry per maximal run of one type of one owner. */
        size_t runs = 0;
        for (int k = 0; k < OWNERS; k++)
            for (int b = 0; b < N; b++)
                runs += map[k][b] && (b == 0 || map[k][b - 1] != map[k][b]);
        CHECK_EQ(locks_count(t), runs);
        if (test_failed_checks)
            break;
    }
    locks_free(t);
}

int main(void)
{
    RUN(test_conflicts);
    RUN(test_split_and_merge);
    RUN(test_checks);
    RUN(test_flock_apart);
    RUN(test_wait_and_grant);
    RUN(test_deadlock);
    RUN(test_cancel_and_client_gone);
    RUN(test_limit);
    RUN(test_against_model);
    return test_summary();
}
