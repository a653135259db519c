/* dircache.c - directories' (gid, setgid, default ACL) as last replied to the kernel (dircache.h). */
#include "dircache.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/clock.h"

#define DIRCACHE_SLOTS 4096   /* power of two; 32 bytes each */

struct slot {
    uint64_t ino;        /* 0: empty */
    int64_t expires_ns;  /* CLOCK_MONOTONIC */
    struct dircache_info info;
};

struct dircache {
    pthread_mutex_t lock;
    struct slot slots[DIRCACHE_SLOTS];
};

static struct slot *slot_of(struct dircache *dc, uint64_t ino)
{
    /* Inode numbers are per-server counters: mix the node bits in. */
    uint64_t h = ino * 0x9e3779b97f4a7c15ULL;
    return &dc->slots[(h >> 32) & (DIRCACHE_SLOTS - 1)];
}

struct dircache *dircache_new(void)
{
    struct dircache *dc = calloc(1, sizeof *dc);
    if (dc)
        pthread_mutex_init(&dc->lock, NULL);
    return dc;
}

void dircache_free(struct dircache *dc)
{
    if (!dc)
        return;
    pthread_mutex_destroy(&dc->lock);
    free(dc);
}

void dircache_put(struct dircache *dc, const struct bfs_attr *a, double ttl_s)
{
    if (ttl_s <= 0)
        return;
    int64_t expires = bfs_mono_ns() + (int64_t)(ttl_s * 1e9);
    pthread_mutex_lock(&dc->lock);
    struct slot *s = slot_of(dc, a->ino);
    *s = (struct slot){ .ino = a->ino, .expires_ns = expires,
                        .info = { .setgid = (a->mode & S_ISGID) != 0, .gid = a->gid,
                                  .defacl = (a->flags & BFS_ATTR_DEFACL) != 0 } };
    pthread_mutex_unlock(&dc->lock);
}

bool dircache_get(struct dircache *dc, uint64_t ino, struct dircache_info *out)
{
    int64_t now = bfs_mono_ns();
    bool hit = false;
    pthread_mutex_lock(&dc->lock);
    struct slot *s = slot_of(dc, ino);
    if (s->ino == ino && now < s->expires_ns) {
        *out = s->info;
        hit = true;
    }
    pthread_mutex_unlock(&dc->lock);
    return hit;
}
