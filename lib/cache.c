/* cache.c - libbenchfs's name and attribute cache (lib_int.h): entries live
 * for attr_timeout, each bucket a short chain under a striped lock. What this
 * client changes is dropped at once (the callers do it); what other clients
 * change shows when an entry expires. */
#include "lib_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../common/hash.h"

struct cache_ent {
    struct cache_ent *next;
    int64_t expires_ns;
    uint64_t parent;            /* a dentry: parent != 0; an attribute entry: parent 0 */
    uint64_t ino;
    struct bfs_attr attr;       /* attribute entries only */
    char name[];                /* dentries only */
};

static uint64_t key_entry(uint64_t parent, const char *name)
{
    return bfs_fnv1a(name, strlen(name), parent * 0x9e3779b97f4a7c15ULL);
}

static uint64_t key_attr(uint64_t ino) { return ino * 0x9e3779b97f4a7c15ULL ^ (ino >> 29); }

static pthread_mutex_t *lock_of(struct lib_cache *k, uint64_t h)
{
    return &k->mu[(h / CACHE_BUCKETS) % CACHE_LOCKS];
}

int cache_init(struct lib_cache *k, double timeout_s)
{
    memset(k->b, 0, sizeof k->b);
    k->ttl_ns = timeout_s > 0 ? (int64_t)(timeout_s * 1e9) : 0;
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_init(&k->mu[i], NULL);
    return 0;
}

void cache_fini(struct lib_cache *k)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        struct cache_ent *e = k->b[i];
        while (e) {
            struct cache_ent *n = e->next;
            free(e);
            e = n;
        }
        k->b[i] = NULL;
    }
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_destroy(&k->mu[i]);
}

static int match(const struct cache_ent *e, uint64_t parent, uint64_t ino, const char *name)
{
    if (e->parent != parent)
        return 0;
    return parent ? strcmp(e->name, name) == 0 : e->ino == ino;
}

/* Unlinks the matching entry of bucket h (lock held) and returns it, or NULL. */
static struct cache_ent *take(struct lib_cache *k, uint64_t h, uint64_t parent, uint64_t ino,
                              const char *name)
{
    for (struct cache_ent **p = &k->b[h % CACHE_BUCKETS]; *p; p = &(*p)->next) {
        if (match(*p, parent, ino, name)) {
            struct cache_ent *e = *p;
            *p = e->next;
            return e;
        }
    }
    return NULL;
}

/* Puts e first in bucket h (lock held), dropping the chain's tail beyond CACHE_CHAIN. */
static void insert(struct lib_cache *k, uint64_t h, struct cache_ent *e)
{
    struct cache_ent **head = &k->b[h % CACHE_BUCKETS];
    e->next = *head;
    *head = e;
    int n = 0;
    for (struct cache_ent **p = head; *p; p = &(*p)->next) {
        if (++n > CACHE_CHAIN) {
            struct cache_ent *rest = *p;
            *p = NULL;
            while (rest) {
                struct cache_ent *x = rest->next;
                free(rest);
                rest = x;
            }
            break;
        }
    }
}

static int get(struct lib_cache *k, uint64_t h, uint64_t parent, uint64_t ino, const char *name,
               struct cache_ent *out)
{
    if (k->ttl_ns <= 0)
        return 0;
    int64_t now = bfs_mono_ns();
    int hit = 0;
    pthread_mutex_t *mu = lock_of(k, h);
    pthread_mutex_lock(mu);
    for (struct cache_ent *e = k->b[h % CACHE_BUCKETS]; e; e = e->next) {
        if (match(e, parent, ino, name)) {
            if (e->expires_ns > now) {
                out->ino = e->ino;
                out->attr = e->attr;
                hit = 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(mu);
    return hit;
}

static void put(struct lib_cache *k, uint64_t h, uint64_t parent, const char *name,
                const struct bfs_attr *a, uint64_t ino)
{
    if (k->ttl_ns <= 0)
        return;
    size_t nlen = parent ? strlen(name) + 1 : 0;
    pthread_mutex_t *mu = lock_of(k, h);
    pthread_mutex_lock(mu);
    struct cache_ent *e = take(k, h, parent, ino, name);
    if (e && nlen) {
        free(e);   /* a dentry's name stays; simpler to make it anew */
        e = NULL;
    }
    if (!e)
        e = malloc(sizeof *e + nlen);
    if (e) {
        e->parent = parent;
        e->ino = ino;
        if (a)
            e->attr = *a;
        if (nlen)
            memcpy(e->name, name, nlen);
        e->expires_ns = bfs_mono_ns() + k->ttl_ns;
        insert(k, h, e);
    }   /* out of memory: simply not cached */
    pthread_mutex_unlock(mu);
}

static void drop(struct lib_cache *k, uint64_t h, uint64_t parent, uint64_t ino, const char *name)
{
    if (k->ttl_ns <= 0)
        return;
    pthread_mutex_t *mu = lock_of(k, h);
    pthread_mutex_lock(mu);
    free(take(k, h, parent, ino, name));
    pthread_mutex_unlock(mu);
}

int cache_get_entry(struct lib_cache *k, uint64_t parent, const char *name, uint64_t *ino)
{
    struct cache_ent e;
    if (!get(k, key_entry(parent, name), parent, 0, name, &e))
        return 0;
    *ino = e.ino;
    return 1;
}

void cache_put_entry(struct lib_cache *k, uint64_t parent, const char *name, uint64_t ino)
{
    put(k, key_entry(parent, name), parent, name, NULL, ino);
}

void cache_drop_entry(struct lib_cache *k, uint64_t parent, const char *name)
{
    drop(k, key_entry(parent, name), parent, 0, name);
}

int cache_get_attr(struct lib_cache *k, uint64_t ino, struct bfs_attr *a)
{
    struct cache_ent e;
    if (!get(k, key_attr(ino), 0, ino, NULL, &e))
        return 0;
    *a = e.attr;
    return 1;
}

void cache_put_attr(struct lib_cache *k, const struct bfs_attr *a)
{
    put(k, key_attr(a->ino), 0, NULL, a, a->ino);
}

void cache_drop_attr(struct lib_cache *k, uint64_t ino)
{
    drop(k, key_attr(ino), 0, ino, NULL);
}
