/* client_times.c - the parent times this client changed and its servers have
 * not all set yet (client_int.h).
 *
 * A create, link, unlink or rename whose parent directory lives on another
 * server than the entry is answered before the parent's owner has the new
 * times: the entry's server sends them a little later (server/dirtimes.h). So
 * that this client never reads a parent older than its own change, it keeps
 * each such parent's stamp and lays it over the parent's attributes it reads:
 * mtime and ctime are at least the stamp, until a read shows the owner has it
 * (ctime at or past the stamp) or TIMES_KEEP_S have passed (the touch was
 * lost; the old times then show, as they would to everyone). A setattr of the
 * directory forgets it (the owner's answer is newer than the stamp, and the late
 * touch is a no-op there). A client that remembers TIMES_SLOTS directories
 * already has no room for another: the caller then sets its times itself.
 */
#include "client_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define TIMES_KEEP_S 2          /* well past the servers' window (dirtimes.h) */

void client_times_init(struct bfs_client *c)
{
    pthread_mutex_init(&c->times_lock, NULL);
    const char *env = getenv("BENCHFS_PARENT_TIMES");
    c->times_by_client = env && strcmp(env, "client") == 0;
}

void client_times_fini(struct bfs_client *c)
{
    pthread_mutex_destroy(&c->times_lock);
}

uint32_t client_times_flag(const struct bfs_client *c)
{
    return c->times_by_client ? 0 : BFS_F_TIMES;
}

int client_times_note(struct bfs_client *c, uint64_t dir, int64_t stamp)
{
    int64_t now = bfs_mono_ns();
    struct client_stamp *free_slot = NULL, *s = NULL;
    pthread_mutex_lock(&c->times_lock);
    for (unsigned i = 0; i < TIMES_SLOTS && !s; i++) {
        struct client_stamp *t = &c->times[i];
        if (t->dir == dir)
            s = t;
        else if (!free_slot && (t->dir == 0 || t->until < now))
            free_slot = t;
    }
    if (!s && (s = free_slot) != NULL && s->dir == 0)
        atomic_fetch_add(&c->ntimes, 1);
    if (s) {
        if (s->dir != dir || stamp > s->stamp)
            s->stamp = stamp;
        s->dir = dir;
        s->until = now + TIMES_KEEP_S * 1000000000LL;
    }
    pthread_mutex_unlock(&c->times_lock);
    return s ? 0 : -ENOSPC;
}

/* The slot of dir, or NULL (lock held). */
static struct client_stamp *find(struct bfs_client *c, uint64_t dir)
{
    for (unsigned i = 0; i < TIMES_SLOTS; i++)
        if (c->times[i].dir == dir)
            return &c->times[i];
    return NULL;
}

static void clear(struct bfs_client *c, struct client_stamp *s)
{
    memset(s, 0, sizeof *s);
    atomic_fetch_sub(&c->ntimes, 1);
}

void client_times_apply(struct bfs_client *c, struct bfs_attr *a)
{
    if (atomic_load_explicit(&c->ntimes, memory_order_relaxed) == 0 || !a->ino)
        return;
    pthread_mutex_lock(&c->times_lock);
    struct client_stamp *s = find(c, a->ino);
    if (s && (a->ctime_ns >= s->stamp || s->until < bfs_mono_ns())) {
        clear(c, s);   /* the owner has it, or it was lost */
    } else if (s) {
        if (a->mtime_ns < s->stamp)
            a->mtime_ns = s->stamp;
        a->ctime_ns = s->stamp;
    }
    pthread_mutex_unlock(&c->times_lock);
}

void client_times_forget(struct bfs_client *c, uint64_t dir)
{
    if (atomic_load_explicit(&c->ntimes, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&c->times_lock);
    struct client_stamp *s = find(c, dir);
    if (s)
        clear(c, s);
    pthread_mutex_unlock(&c->times_lock);
}
