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
    uint32_t busy;         /* changes of ino begun and not ended */
    bool kept;             /* attr answers the next GETATTR */
    bool known;            /* attr is the directory as a server told it (and this
                            * mount's changes since), until expires_ns */
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
        s->busy = 0;
        s->kept = s->known = false;
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
    s->busy++;
    uint64_t t = TICKET(ds->epoch, s->gen);
    pthread_mutex_unlock(&ds->lock);
    return t;
}

/* The times alone (a->ino 0) on top of the copy the slot knows: kept if that
 * copy is still valid and no other change of the directory ran meanwhile (its
 * result might be missing from it); the copy's age stays what it was. */
static bool add_times(struct dirstash *ds, struct slot *s, const struct bfs_attr *a, int64_t now)
{
    if (a->ino != 0 || a->ctime_ns == 0 || s->busy != 1 || !s->known || s->epoch != ds->epoch ||
        now >= s->expires_ns)
        return false;
    if (a->mtime_ns > s->attr.mtime_ns)
        s->attr.mtime_ns = a->mtime_ns;
    if (a->ctime_ns > s->attr.ctime_ns)
        s->attr.ctime_ns = a->ctime_ns;
    s->kept = true;
    return true;
}

void dirstash_end(struct dirstash *ds, uint64_t ino, uint64_t ticket, const struct bfs_attr *a)
{
    int64_t now = bfs_mono_ns();
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, ino);
    if (s->ino == ino) {
        bool current = a && ds->ttl_ns != 0 && ticket == TICKET(ds->epoch, s->gen);
        if (current && a->ino == 0 && add_times(ds, s, a, now)) {
            /* kept */
        } else if (!current || a->ino != ino) {
            s->gen++;
            s->kept = s->known = false;
        } else if (!s->kept || s->epoch != ds->epoch || a->ctime_ns >= s->attr.ctime_ns) {
            /* Changes that overlapped all bring the parent's owner's ctime: the
             * latest is what the server did last, the others before it. */
            s->attr = *a;
            s->kept = s->known = true;
            s->epoch = ds->epoch;
            s->expires_ns = now + ds->ttl_ns;
        }
        if (s->busy)
            s->busy--;
    }
    pthread_mutex_unlock(&ds->lock);
}

struct dirstash_look dirstash_look(struct dirstash *ds, uint64_t ino)
{
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, ino);
    struct dirstash_look look = { s->ino, ds->epoch, s->gen };
    pthread_mutex_unlock(&ds->lock);
    return look;
}

void dirstash_seen(struct dirstash *ds, struct dirstash_look look, const struct bfs_attr *a)
{
    if (ds->ttl_ns == 0)
        return;
    int64_t now = bfs_mono_ns();
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, a->ino);
    /* A change of the directory since the look claimed the slot for it or
     * moved its generation (unless it brought its attributes, which the ctime
     * check below then sees), and one still running keeps it busy: either may
     * be missing from the answer. */
    bool calm = look.epoch == ds->epoch && s->ino == look.ino && s->gen == look.gen &&
                s->busy == 0;
    if (calm)
        s = claim(ds, a->ino);
    /* An answer older than what the slot knows (a change that ended while it
     * was on its way) does not replace it. */
    if (calm && (!s->known || s->epoch != ds->epoch || a->ctime_ns > s->attr.ctime_ns)) {
        s->attr = *a;
        s->known = true;
        s->kept = false;
        s->epoch = ds->epoch;
        s->expires_ns = now + ds->ttl_ns;
    }
    pthread_mutex_unlock(&ds->lock);
}

void dirstash_forget(struct dirstash *ds, uint64_t ino)
{
    pthread_mutex_lock(&ds->lock);
    struct slot *s = slot_of(ds, ino);
    if (s->ino == ino) {
        s->gen++;
        s->kept = s->known = false;
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
