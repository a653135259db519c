/* poke.c - a client's word that this server's shared-memory receive queue
 * may be stuck.
 *
 * The queue is watched by pinging it when a client's connection fails
 * (common/ringprobe.h). A client killed in the middle of its HELLO has no
 * connection yet, so nothing fails, and the queue it left stuck would keep
 * every later local client out for good. Those clients see their HELLO go
 * unanswered and touch this node's poke file in the registry
 * (registry_poke); the loop watches it with inotify and pings the queue. A
 * ping that arrives proves the queue fine, so a poke costs one ping.
 *
 * Loop thread only.
 */
#include "server_int.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/registry.h"
#include "../common/ringprobe.h"

int poke_open(struct server *s)
{
    s->poke_fd = -1;
    if (registry_poke_path(s->registry_dir, s->node_id, s->nodes, s->poke_path,
                           sizeof s->poke_path) < 0)
        return -ENAMETOOLONG;
    const char *slash = strrchr(s->poke_path, '/');
    s->poke_name = slash ? slash + 1 : s->poke_path;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (inotify_add_watch(fd, s->registry_dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    s->poke_fd = fd;
    return 0;
}

void poke_close(struct server *s)
{
    if (s->poke_fd >= 0)
        close(s->poke_fd);
    s->poke_fd = -1;
    if (s->poke_name)
        unlink(s->poke_path);
}

int poke_take(struct server *s)
{
    /* inotify_event records are aligned for it (inotify(7)'s example). */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int poked = 0;
    ssize_t n;
    while ((n = read(s->poke_fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->len && strcmp(ev->name, s->poke_name) == 0)
                poked = 1;
            p += sizeof *ev + ev->len;
        }
    }
    if (!poked)
        return 0;
    log_info("a client got no answer to its HELLO (%s): looking at the shared-memory receive "
             "queue", s->poke_path);
    ringprobe_kick(s->probe);
    return 1;
}
