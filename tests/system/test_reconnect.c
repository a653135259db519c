/* test_reconnect.c - one client outlives its server: calls fail with an error
 * (never hang) while the server is gone, and work again once it is back,
 * without reopening the client.   test_reconnect REGISTRY
 * Protocol with the calling script: prints "up", waits for a line (the script
 * kills the server), checks a call fails, prints "down", waits for a line (the
 * script restarts the server), checks calls work again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../common/client.h"
#include "../test.h"

static struct bfs_client *c;

static void wait_line(const char *say)
{
    char line[64];
    printf("%s\n", say);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        line[0] = 0;
}

static void test_server_loss_and_return(void)
{
    struct bfs_attr a;
    REQUIRE(bfs_getattr(c, BFS_ROOT_INO, &a) == 0);
    wait_line("up");
    time_t t0 = time(NULL);
    int rc = bfs_getattr(c, BFS_ROOT_INO, &a);
    CHECK(rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -EIO);
    CHECK(time(NULL) - t0 <= 5);   /* within the RPC timeout (3 s) and a little */
    wait_line("down");
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

int main(int argc, char **argv)
{
    struct bfs_client_opts o = { .registry_dir = argc > 1 ? argv[1] : "", .registry_timeout_s = 10,
                                 .rpc_timeout_s = 3 };
    if (argc != 2 || bfs_client_open(&o, &c) < 0) {
        fprintf(stderr, "usage: %s REGISTRY (with a server running)\n", argv[0]);
        return 1;
    }
    RUN(test_server_loss_and_return);
    bfs_client_close(c);
    return test_summary();
}
