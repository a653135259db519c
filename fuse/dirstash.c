/* dirstash.c - directories' attributes after this mount's changes (dirstash.h). */
#include "dirstash.h"

#include <pthread.h>
#include <stdlib.h>

#include "../common/clock.h"

/* A ticket: the epoch (dirstash_forget_all) in the high half, the slot's
 * generation (bumped by every forget of its directory) in the low half. */
#define TICKET(epoch, gen) (((uint64_t)(epoch) << 32) | (gen))

struct slot {
    uint64_t ino;          /* 0: free */
    uint32_t gen;          /* changes whose result is unknown, so far */
    uint32_t epoch;        /* the epoch the copy was kept in */
    bool kept;
    int64_t expires_ns;    /* CLOCK_MONOTONIC */
    struct bfs_attr attr;
};

struct dirstash {
    pthread_mutex_t lock;
    int64_t ttl_ns;
    uint32_t epoch;
    size_t mask;           /* slots - 1 */
    struct slot slots[];
};

static struct slot *slot_of(struct dirstash *ds, uint64_t ino)
{
    /* Inode numbers are per-server counters: mix the node bits in. */
    uint64_t h = ino * 0x9e3779b97f4a7c15ULL;
    return &ds->slots[(h >> 32) & ds->mask];
}

/* A slot another directory had: its copy goes, and its tickets with it. */
static struct slot *claim(struct dirstash *ds, uint64_t ino)
{
    struct slot *s = slot_of(ds, ino);
    if (s->ino != ino) {
        s->ino = ino;
        s->gen++;
        s->kept = false;
    }
    return s;
}

struct dirstash *dirstash_new(unsigned slots, double ttl_s)
{
    if (slots == 0 || (slots & (slots - 1)))
        return NULL;
    struct dirstash *ds = calloc(1, sizeof *ds + slots * sizeof ds->slots[0]);
    if (!ds)
        return NULL;
    ds->mask = slots - 1;
    pthread_mutex_init(&ds->lock, NULL);
    ds->ttl_ns = ttl_s > 0 ? (int64_t)(ttl_s * 1e9) : 0;
    return ds;
}

void dirstash_free(struct dirstash *ds)
{
    if (!ds)
        return;
    pthread_mutex_destroy(&ds->lock);
    free(ds);
}

uint64_t dirstash_begin(struct dirstash *ds, uint64_t ino)
{
    pthread_mutex_lock(&ds->lock);
    struct slot *s = claim(ds, ino);
    uint64_t t = TICKET(ds->epoch, s->gen);
    pthread_mutex_unlock(&ds->lock);
    return t;
}

void dirstash_end(struct dirstash *ds, uint64_t ino, uint64_t ticket, const struct bfs_attr *a)
{
    int64_t now = bfs_mono_ns();
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, ino);
    if (s->ino == ino) {
        if (!a || a->ino != ino || ds->ttl_ns == 0 || ticket != TICKET(ds->epoch, s->gen)) {
            s->gen++;
            s->kept = false;
        } else if (!s->kept || s->epoch != ds->epoch || a->ctime_ns >= s->attr.ctime_ns) {
            /* Changes that overlapped all bring the parent's owner's ctime: the
             * latest is what the server did last, the others before it. */
            s->attr = *a;
            s->kept = true;
            s->epoch = ds->epoch;
            s->expires_ns = now + ds->ttl_ns;
        }
    }
    pthread_mutex_unlock(&ds->lock);
}

void dirstash_forget(struct dirstash *ds, uint64_t ino)
{
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, ino);
    if (s->ino == ino) {
        s->gen++;
        s->kept = false;
    }
    pthread_mutex_unlock(&ds->lock);
}

void dirstash_forget_all(struct dirstash *ds)
{
    pthread_mutex_lock(&ds->lock);
    ds->epoch++;
    pthread_mutex_unlock(&ds->lock);
}

bool dirstash_take(struct dirstash *ds, uint64_t ino, struct bfs_attr *out)
{
    int64_t now = bfs_mono_ns();
    bool hit = false;
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, ino);
    if (s->ino == ino && s->kept && s->epoch == ds->epoch && now < s->expires_ns) {
        *out = s->attr;
        hit = true;
    }
    if (s->ino == ino)
        s->kept = false;
    pthread_mutex_unlock(&ds->lock);
    return hit;
}
