/* test_reconnect.c - one client outlives its server: calls fail with an error
 * (never hang) while the server is gone, and work again once it is back,
 * without reopening the client; a server replaced while the client looked
 * elsewhere costs it no failed call.   test_reconnect REGISTRY
 * Protocol with the calling script: prints "up", waits for a line (the script
 * kills the server), checks a call fails, prints "down", waits for a line (the
 * script restarts the server), checks calls work again. Then prints "replace"
 * twice, each time waiting for a line (the script kills the server and starts
 * a new one): after the first the client's first call is a change, after the
 * second a lookup, and each must work.
 *   test_reconnect REGISTRY idle: a call, "up", a wait for a line (the script
 * looks at the server meanwhile, and may stop and continue this process),
 * then a call that must be answered within 2 s. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../common/client.h"
#include "../test.h"
#include "../testutil.h"

static struct bfs_client *c;


static void test_server_loss_and_return(void)
{
    struct bfs_attr a;
    REQUIRE(bfs_getattr(c, BFS_ROOT_INO, &a) == 0);
    tu_wait_line("up");
    time_t t0 = time(NULL);
    int rc = bfs_getattr(c, BFS_ROOT_INO, &a);
    CHECK(rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -EIO);
    CHECK(time(NULL) - t0 <= 5);   /* within the RPC timeout (3 s) and a little */
    tu_wait_line("down");
    /* back: the first call may still see the old connection fail; soon they work */
    int ok = 0;
    for (int i = 0; i < 30 && !ok; i++) {
        ok = bfs_getattr(c, BFS_ROOT_INO, &a) == 0;
        if (!ok) {
            struct timespec ts = { 0, 200000000 };
            nanosleep(&ts, NULL);
        }
    }
    CHECK(ok);
    CHECK_EQ(bfs_create(c, BFS_ROOT_INO, "after-restart", S_IFREG | 0644, 0, 0, &a), 0);
}

/* Idle longer than the client's registry look (IDLE_RECHECK_NS in
 * common/client.c, 1 s): even a change, which may not be sent twice, reaches
 * the new process, as the client reads the registry before it sends. */
static void test_replaced_while_idle(void)
{
    struct bfs_attr a;
    REQUIRE(bfs_getattr(c, BFS_ROOT_INO, &a) == 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tu_wait_line("replace");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double idle = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (idle < 1.5) {   /* the condition under test is this idleness itself */
        long ns = (long)((1.5 - idle) * 1e9);
        struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(bfs_create(c, BFS_ROOT_INO, "after-idle", S_IFREG | 0644, 0, 0, &a), 0);
}

/* At once after the restart: a lookup whose answer was lost with the old
 * process is sent again to the new one. */
static void test_replaced_lookup(void)
{
    struct bfs_attr a;
    REQUIRE(bfs_getattr(c, BFS_ROOT_INO, &a) == 0);
    tu_wait_line("replace");
    CHECK_EQ(bfs_lookup(c, BFS_ROOT_INO, "after-idle", &a), 0);
    CHECK_EQ(bfs_create(c, BFS_ROOT_INO, "after-lookup", S_IFREG | 0644, 0, 0, &a), 0);
}

/* However long the client sat idle, or stopped, its next call is answered at once. */
static void test_idle(void)
{
    struct bfs_attr a;
    REQUIRE(bfs_getattr(c, BFS_ROOT_INO, &a) == 0);
    tu_wait_line("up");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(bfs_getattr(c, BFS_ROOT_INO, &a), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(t1.tv_sec - t0.tv_sec <= 2);
}

int main(int argc, char **argv)
{
    struct bfs_client_opts o = { .registry_dir = argc > 1 ? argv[1] : "", .registry_timeout_s = 10,
                                 .rpc_timeout_s = 3 };
    int idle = argc == 3 && strcmp(argv[2], "idle") == 0;
    if ((argc != 2 && !idle) || bfs_client_open(&o, &c) < 0) {
        fprintf(stderr, "usage: %s REGISTRY [idle] (with a server running)\n", argv[0]);
        return 1;
    }
    if (idle) {
        RUN(test_idle);
        bfs_client_close(c);
        return test_summary();
    }
    RUN(test_server_loss_and_return);
    RUN(test_replaced_while_idle);
    RUN(test_replaced_lookup);
    bfs_client_close(c);
    return test_summary();
}
