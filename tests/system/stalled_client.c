/* stalled_client.c - a client that sends a large READ and stops itself
 * (SIGSTOP) before it takes the reply, so that the server holds a reply it
 * cannot finish sending: what a client that stops progressing (hung, stopped,
 * swapped out) does to a server that is asked to stop (tests/system/shutdown.sh).
 *
 *   stalled_client REGISTRY
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../common/client.h"

static void stop_now(void *arg)
{
    (void)arg;
    printf("stalled\n");
    fflush(stdout);
    raise(SIGSTOP);   /* never runs again: the test kills it */
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s REGISTRY\n", argv[0]);
        return 2;
    }
    struct bfs_client *c;
    struct bfs_client_opts o = { .registry_dir = argv[1], .registry_timeout_s = 10 };
    if (bfs_client_open(&o, &c) < 0)
        return 1;
    size_t len = bfs_client_chunk_size(c) < BFS_MAX_IO ? bfs_client_chunk_size(c) : BFS_MAX_IO;
    char *buf = malloc(len);
    struct bfs_attr a;
    int rc = buf ? bfs_create(c, BFS_ROOT_INO, "stalled", S_IFREG | 0644, 0, 0, &a) : -ENOMEM;
    if (rc == 0) {
        memset(buf, 's', len);
        rc = bfs_write(c, a.ino, buf, len, 0) == (ssize_t)len ? 0 : -EIO;
    }
    if (rc < 0) {
        fprintf(stderr, "stalled_client: setup: %s\n", strerror(-rc));
        return 1;
    }
    /* Stop as soon as the READ is sent: its reply (rendezvous, len bytes) waits
     * for this process to take it. */
    bfs_client_set_wait_hook(c, stop_now, NULL, 0);
    bfs_read(c, a.ino, buf, len, 0);
    fprintf(stderr, "stalled_client: was not stopped\n");
    return 1;
}
