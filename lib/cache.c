/* cache.c - libbenchfs's name and attribute cache (lib_int.h): entries live
 * for attr_timeout in two set-associative tables under striped locks. What
 * this client changes is dropped at once (the callers do it); what other
 * clients change shows when an entry expires, or at once when they share the
 * node table (common/nodetab.h) with this one: an entry records the counters
 * it depends on, read before the request that filled it, and is used only
 * while they are unchanged. */
#include "lib_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/hash.h"

/* A set's keys first (one cache line), then what they map to. ino 0: empty. */
struct cache_aset {
    uint64_t ino[CACHE_WAYS];
    int64_t expires[CACHE_WAYS];
    uint8_t stale[CACHE_WAYS];  /* times and sizes are old (cache_stale_attr) */
    struct cache_stamp stamp[CACHE_WAYS];
    struct bfs_attr attr[CACHE_WAYS];
};

/* tag: the (parent, name) hash (0: empty); the name is compared on a tag match. */
struct cache_dset {
    uint64_t tag[CACHE_WAYS];
    uint64_t parent[CACHE_WAYS];
    uint64_t ino[CACHE_WAYS];
    int64_t expires[CACHE_WAYS];
    uint64_t stamp[CACHE_WAYS]; /* the entry key's counter */
    char name[CACHE_WAYS][BFS_NAME_MAX + 1];
};

/* Expiry is in attr_timeout's units (a second): the coarse clock (a tick, a few
 * ms) is precise enough and costs a fraction of the fine one, read on every get. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t hash_entry(uint64_t parent, const char *name)
{
    uint64_t h = bfs_fnv1a(name, strlen(name), parent * 0x9e3779b97f4a7c15ULL);
    return h ? h : 1;
}

static uint64_t hash_ino(uint64_t ino)
{
    uint64_t h = ino * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static size_t set_of(uint64_t h) { return (size_t)(h >> 7) % CACHE_SETS; }

static pthread_mutex_t *lock_of(struct lib_cache *k, size_t set) { return &k->mu[set % CACHE_LOCKS]; }

int cache_init(struct lib_cache *k, double timeout_s)
{
    k->ttl_ns = timeout_s > 0 ? (int64_t)(timeout_s * 1e9) : 0;
    k->attrs = NULL;
    k->dents = NULL;
    k->shared = 0;
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_init(&k->mu[i], NULL);
    if (k->ttl_ns <= 0)
        return 0;
    /* calloc'd: pages are only touched as sets fill. */
    k->attrs = calloc(CACHE_SETS, sizeof *k->attrs);
    k->dents = calloc(CACHE_SETS, sizeof *k->dents);
    if (!k->attrs || !k->dents) {
        cache_fini(k);
        return -ENOMEM;
    }
    return 0;
}

void cache_fini(struct lib_cache *k)
{
    free(k->attrs);
    free(k->dents);
    k->attrs = NULL;
    k->dents = NULL;
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_destroy(&k->mu[i]);
}

/* The way to fill in a set: an empty or expired one, else the oldest. */
static int victim(const int64_t *expires, int64_t now)
{
    int v = 0;
    for (int i = 0; i < CACHE_WAYS; i++) {
        if (expires[i] <= now)
            return i;
        if (expires[i] < expires[v])
            v = i;
    }
    return v;
}

/* ---- dentries ---- */

static int dent_find(const struct cache_dset *s, uint64_t tag, uint64_t parent, const char *name)
{
    for (int i = 0; i < CACHE_WAYS; i++)
        if (s->tag[i] == tag && s->parent[i] == parent && strcmp(s->name[i], name) == 0)
            return i;
    return -1;
}

int cache_get_entry(struct lib_cache *k, uint64_t parent, const char *name, uint64_t *ino)
{
    if (!k->dents)
        return 0;
    uint64_t tag = hash_entry(parent, name);
    size_t si = set_of(tag);
    struct cache_dset *s = &k->dents[si];
    int64_t now = now_ns();
    int hit = 0;
    pthread_mutex_lock(lock_of(k, si));
    int i = dent_find(s, tag, parent, name);
    if (i >= 0 && s->expires[i] > now &&
        (!k->shared || s->stamp[i] == nodetab_count(&k->tab, nodetab_entry_key(parent, name)))) {
        *ino = s->ino[i];
        hit = 1;
    }
    pthread_mutex_unlock(lock_of(k, si));
    return hit;
}

void cache_put_entry(struct lib_cache *k, uint64_t parent, const char *name, uint64_t ino,
                     uint64_t stamp)
{
    size_t len = strlen(name);
    if (!k->dents || len > BFS_NAME_MAX)
        return;
    uint64_t tag = hash_entry(parent, name);
    size_t si = set_of(tag);
    struct cache_dset *s = &k->dents[si];
    int64_t now = now_ns();
    pthread_mutex_lock(lock_of(k, si));
    int i = dent_find(s, tag, parent, name);
    if (i < 0) {
        i = victim(s->expires, now);
        s->tag[i] = tag;
        s->parent[i] = parent;
        memcpy(s->name[i], name, len + 1);
    }
    s->ino[i] = ino;
    s->stamp[i] = stamp;
    s->expires[i] = now + k->ttl_ns;
    pthread_mutex_unlock(lock_of(k, si));
}

void cache_drop_entry(struct lib_cache *k, uint64_t parent, const char *name)
{
    if (!k->dents)
        return;
    uint64_t tag = hash_entry(parent, name);
    size_t si = set_of(tag);
    struct cache_dset *s = &k->dents[si];
    pthread_mutex_lock(lock_of(k, si));
    int i = dent_find(s, tag, parent, name);
    if (i >= 0) {
        s->tag[i] = 0;
        s->expires[i] = 0;
    }
    pthread_mutex_unlock(lock_of(k, si));
}

/* ---- attributes ---- */

static int attr_find(const struct cache_aset *s, uint64_t ino)
{
    for (int i = 0; i < CACHE_WAYS; i++)
        if (s->ino[i] == ino)
            return i;
    return -1;
}

int cache_get_attr(struct lib_cache *k, uint64_t ino, int all, struct bfs_attr *a)
{
    if (!k->attrs || ino == 0)
        return 0;
    size_t si = set_of(hash_ino(ino));
    struct cache_aset *s = &k->attrs[si];
    int64_t now = now_ns();
    int hit = 0;
    pthread_mutex_lock(lock_of(k, si));
    int i = attr_find(s, ino);
    if (i >= 0 && s->expires[i] > now && !(all && s->stale[i]) &&
        (!k->shared || (s->stamp[i].ino == nodetab_count(&k->tab, nodetab_ino_key(ino)) &&
                        (!all || s->stamp[i].dir == nodetab_count(&k->tab, nodetab_dir_key(ino)))))) {
        *a = s->attr[i];
        hit = 1;
    }
    pthread_mutex_unlock(lock_of(k, si));
    return hit;
}

void cache_put_attr(struct lib_cache *k, const struct bfs_attr *a, const struct cache_stamp *st)
{
    if (!k->attrs || a->ino == 0)
        return;
    size_t si = set_of(hash_ino(a->ino));
    struct cache_aset *s = &k->attrs[si];
    int64_t now = now_ns();
    pthread_mutex_lock(lock_of(k, si));
    int i = attr_find(s, a->ino);
    if (i < 0) {
        i = victim(s->expires, now);
        s->ino[i] = a->ino;
    }
    s->attr[i] = *a;
    s->stamp[i] = *st;
    s->stale[i] = 0;
    s->expires[i] = now + k->ttl_ns;
    pthread_mutex_unlock(lock_of(k, si));
}

void cache_drop_attr(struct lib_cache *k, uint64_t ino)
{
    if (!k->attrs || ino == 0)
        return;
    size_t si = set_of(hash_ino(ino));
    struct cache_aset *s = &k->attrs[si];
    pthread_mutex_lock(lock_of(k, si));
    int i = attr_find(s, ino);
    if (i >= 0) {
        s->ino[i] = 0;
        s->expires[i] = 0;
    }
    pthread_mutex_unlock(lock_of(k, si));
}

void cache_stale_attr(struct lib_cache *k, uint64_t ino)
{
    if (!k->attrs || ino == 0)
        return;
    size_t si = set_of(hash_ino(ino));
    struct cache_aset *s = &k->attrs[si];
    pthread_mutex_lock(lock_of(k, si));
    int i = attr_find(s, ino);
    if (i >= 0)
        s->stale[i] = 1;
    pthread_mutex_unlock(lock_of(k, si));
}

/* ---- the node table ---- */

void cache_share(struct lib_cache *k, const struct nodetab *t)
{
    k->tab = *t;
    k->shared = 1;
}

uint64_t cache_gen(const struct lib_cache *k)
{
    return k->shared ? nodetab_gen(&k->tab) : 0;
}

uint64_t cache_entry_stamp(const struct lib_cache *k, uint64_t parent, const char *name)
{
    return k->shared ? nodetab_count(&k->tab, nodetab_entry_key(parent, name)) : 0;
}

void cache_attr_stamp(const struct lib_cache *k, uint64_t ino, struct cache_stamp *st)
{
    st->ino = k->shared ? nodetab_count(&k->tab, nodetab_ino_key(ino)) : 0;
    st->dir = k->shared ? nodetab_count(&k->tab, nodetab_dir_key(ino)) : 0;
}

void cache_put_attr_since(struct lib_cache *k, const struct bfs_attr *a, uint64_t gen)
{
    struct cache_stamp st;
    cache_attr_stamp(k, a->ino, &st);
    /* The stamps were read after the answer: good only if nothing changed on
     * the node since before the request (writers bump gen first). */
    if (cache_gen(k) == gen)
        cache_put_attr(k, a, &st);
}

void cache_changed(struct lib_cache *k, uint64_t ino)
{
    if (k->shared && ino)
        nodetab_bump(&k->tab, nodetab_ino_key(ino));
}

int cache_changed_own(struct lib_cache *k, uint64_t ino, struct cache_stamp *st)
{
    if (!k->shared)
        return 1;
    if (!nodetab_bump_own(&k->tab, nodetab_ino_key(ino), st->ino))
        return 0;
    st->ino++;
    return 1;
}

void cache_entry_changed(struct lib_cache *k, uint64_t parent, const char *name)
{
    if (!k->shared)
        return;
    nodetab_bump(&k->tab, nodetab_entry_key(parent, name));
    nodetab_bump(&k->tab, nodetab_dir_key(parent));
}

int cache_entry_changed_own(struct lib_cache *k, uint64_t parent, const char *name, uint64_t *stamp)
{
    if (!k->shared)
        return 1;
    int own = nodetab_bump_own(&k->tab, nodetab_entry_key(parent, name), *stamp);
    nodetab_bump(&k->tab, nodetab_dir_key(parent));
    if (own)
        ++*stamp;
    return own;
}
