/* pagecache.c - see pagecache.h. A direct-mapped table under one mutex: each
 * call is a few loads and stores, far shorter than the RPC around it. */
#include "pagecache.h"

#include <pthread.h>
#include <stdlib.h>

struct version {
    uint64_t ino;        /* 0: empty slot */
    int64_t ctime_ns, mtime_ns;
    uint64_t size;
};

struct pagecache {
    pthread_mutex_t lock;
    size_t mask;
    struct version slot[];
};

struct pagecache *pagecache_new(size_t slots)
{
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    struct pagecache *pc = calloc(1, sizeof *pc + n * sizeof pc->slot[0]);
    if (!pc)
        return NULL;
    pc->mask = n - 1;
    pthread_mutex_init(&pc->lock, NULL);
    return pc;
}

void pagecache_free(struct pagecache *pc)
{
    if (!pc)
        return;
    pthread_mutex_destroy(&pc->lock);
    free(pc);
}

static struct version *slot_of(struct pagecache *pc, uint64_t ino)
{
    /* Inode numbers are a node id in the high bits over a counter: a
     * multiplicative hash spreads both. */
    return &pc->slot[(size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 20) & pc->mask];
}

static struct version version_of(const struct bfs_attr *a)
{
    return (struct version){ a->ino, a->ctime_ns, a->mtime_ns, a->size };
}

bool pagecache_open(struct pagecache *pc, const struct bfs_attr *a)
{
    pthread_mutex_lock(&pc->lock);
    struct version *v = slot_of(pc, a->ino);
    bool keep = v->ino == a->ino && v->ctime_ns == a->ctime_ns && v->mtime_ns == a->mtime_ns &&
                v->size == a->size;
    if (!keep)
        *v = version_of(a);
    pthread_mutex_unlock(&pc->lock);
    return keep;
}

void pagecache_wrote(struct pagecache *pc, uint64_t ino, int64_t pre_ctime, const struct bfs_attr *post)
{
    pthread_mutex_lock(&pc->lock);
    struct version *v = slot_of(pc, ino);
    if (v->ino == ino) {
        if (v->ctime_ns == pre_ctime && post->ino == ino)
            *v = version_of(post);
        else
            v->ino = 0;
    }
    pthread_mutex_unlock(&pc->lock);
}

void pagecache_forget(struct pagecache *pc, uint64_t ino)
{
    pthread_mutex_lock(&pc->lock);
    struct version *v = slot_of(pc, ino);
    if (v->ino == ino)
        v->ino = 0;
    pthread_mutex_unlock(&pc->lock);
}
