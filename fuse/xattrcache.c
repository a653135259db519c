/* xattrcache.c - inodes known to have no extended attributes (xattrcache.h). */
#include "xattrcache.h"

#include <pthread.h>
#include <stdlib.h>

#include "../common/clock.h"

#define XATTRCACHE_SLOTS 4096   /* power of two; 24 bytes each */

struct slot {
    uint64_t ino;        /* 0: empty */
    int64_t seen_ns;     /* CLOCK_MONOTONIC */
    bool none;           /* no extended attributes */
};

struct xattrcache {
    pthread_mutex_t lock;
    struct slot slots[XATTRCACHE_SLOTS];
};

static struct slot *slot_of(struct xattrcache *xc, uint64_t ino)
{
    uint64_t h = ino * 0x9e3779b97f4a7c15ULL;   /* mixes the node bits in */
    return &xc->slots[(h >> 32) & (XATTRCACHE_SLOTS - 1)];
}

struct xattrcache *xattrcache_new(void)
{
    struct xattrcache *xc = calloc(1, sizeof *xc);
    if (xc)
        pthread_mutex_init(&xc->lock, NULL);
    return xc;
}

void xattrcache_free(struct xattrcache *xc)
{
    if (!xc)
        return;
    pthread_mutex_destroy(&xc->lock);
    free(xc);
}

void xattrcache_put(struct xattrcache *xc, const struct bfs_attr *a)
{
    if (a->ino == 0)
        return;
    int64_t now = bfs_mono_ns();
    pthread_mutex_lock(&xc->lock);
    *slot_of(xc, a->ino) = (struct slot){ .ino = a->ino, .seen_ns = now,
                                          .none = !(a->flags & BFS_ATTR_XATTRS) };
    pthread_mutex_unlock(&xc->lock);
}

void xattrcache_touch(struct xattrcache *xc, uint64_t ino)
{
    int64_t now = bfs_mono_ns();
    pthread_mutex_lock(&xc->lock);
    struct slot *s = slot_of(xc, ino);
    if (s->ino == ino)
        s->seen_ns = now;
    pthread_mutex_unlock(&xc->lock);
}

bool xattrcache_none(struct xattrcache *xc, uint64_t ino, double max_age_s)
{
    int64_t now = bfs_mono_ns();
    pthread_mutex_lock(&xc->lock);
    struct slot *s = slot_of(xc, ino);
    bool none = s->ino == ino && s->none && now - s->seen_ns < (int64_t)(max_age_s * 1e9);
    pthread_mutex_unlock(&xc->lock);
    return none;
}
