/* openfiles.c - see openfiles.h. A chained hash table under one mutex: the
 * critical sections are a few pointer steps, far shorter than any RPC, so one
 * lock does not limit the FUSE threads. */
#include "openfiles.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct of_entry {
    struct of_entry *next;
    uint64_t ino;
    uint32_t opens;      /* open handles on this mount */
    uint32_t unlinking;  /* unlink RPCs in flight that passed BFS_UNLINK_KEEP */
    bool unlinked;       /* a name of it was removed while it was open */
};

struct openfiles {
    pthread_mutex_t lock;
    struct of_entry **buckets;
    size_t nbuckets;     /* a power of two */
    size_t count;        /* entries in the table */
};

enum { OF_MIN_BUCKETS = 256 };

static size_t of_slot(uint64_t ino, size_t nbuckets)
{
    /* Inode numbers are a node id in the high bits and a counter in the low
     * bits; a multiplicative hash spreads both over the buckets. */
    return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 17) & (nbuckets - 1);
}

struct openfiles *openfiles_new(void)
{
    struct openfiles *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->buckets = calloc(OF_MIN_BUCKETS, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->nbuckets = OF_MIN_BUCKETS;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void openfiles_free(struct openfiles *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct of_entry *e = t->buckets[i];
        while (e) {
            struct of_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Returns the link that points at ino's entry (or the NULL at the chain's end). */
static struct of_entry **of_find(struct openfiles *t, uint64_t ino)
{
    struct of_entry **pp = &t->buckets[of_slot(ino, t->nbuckets)];
    while (*pp && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

/* Doubles the bucket array when chains get long; on allocation failure the
 * table keeps working with longer chains. */
static void of_grow(struct openfiles *t)
{
    size_t n = t->nbuckets * 2;
    struct of_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct of_entry *e = t->buckets[i];
        while (e) {
            struct of_entry *next = e->next;
            size_t s = of_slot(e->ino, n);
            e->next = b[s];
            b[s] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

/* Unlinks and frees the entry at *pp once nothing refers to it any more. */
static void of_drop_if_unused(struct openfiles *t, struct of_entry **pp)
{
    struct of_entry *e = *pp;
    if (e->opens || e->unlinking)
        return;
    *pp = e->next;
    free(e);
    t->count--;
}

int openfiles_open(struct openfiles *t, uint64_t ino)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    struct of_entry **pp = of_find(t, ino);
    if (*pp) {
        (*pp)->opens++;
    } else {
        struct of_entry *e = calloc(1, sizeof *e);
        if (!e) {
            rc = -ENOMEM;
        } else {
            e->ino = ino;
            e->opens = 1;
            *pp = e;
            if (++t->count > 2 * t->nbuckets)
                of_grow(t);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

bool openfiles_release(struct openfiles *t, uint64_t ino)
{
    bool purge = false;
    pthread_mutex_lock(&t->lock);
    struct of_entry **pp = of_find(t, ino);
    struct of_entry *e = *pp;
    if (e && e->opens > 0) {
        e->opens--;
        /* With an unlink in flight, unlink_end decides instead. */
        purge = e->opens == 0 && e->unlinking == 0 && e->unlinked;
        of_drop_if_unused(t, pp);
    }
    pthread_mutex_unlock(&t->lock);
    return purge;
}

bool openfiles_empty(struct openfiles *t)
{
    pthread_mutex_lock(&t->lock);
    bool empty = t->count == 0;
    pthread_mutex_unlock(&t->lock);
    return empty;
}

bool openfiles_unlink_begin(struct openfiles *t, uint64_t ino)
{
    bool open = false;
    pthread_mutex_lock(&t->lock);
    struct of_entry *e = *of_find(t, ino);
    if (e && e->opens > 0) {
        e->unlinked = true;
        e->unlinking++;
        open = true;
    }
    pthread_mutex_unlock(&t->lock);
    return open;
}

bool openfiles_unlink_end(struct openfiles *t, uint64_t ino)
{
    bool purge = false;
    pthread_mutex_lock(&t->lock);
    struct of_entry **pp = of_find(t, ino);
    struct of_entry *e = *pp;
    if (e && e->unlinking > 0) {
        e->unlinking--;
        purge = e->opens == 0 && e->unlinking == 0;
        of_drop_if_unused(t, pp);
    }
    pthread_mutex_unlock(&t->lock);
    return purge;
}

size_t openfiles_drain_unlinked(struct openfiles *t, uint64_t **out)
{
    size_t n = 0;
    *out = NULL;
    pthread_mutex_lock(&t->lock);
    uint64_t *inos = t->count ? malloc(t->count * sizeof *inos) : NULL;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct of_entry *e = t->buckets[i];
        while (e) {
            struct of_entry *next = e->next;
            if (e->unlinked && inos)
                inos[n++] = e->ino;
            free(e);
            e = next;
        }
        t->buckets[i] = NULL;
    }
    t->count = 0;
    pthread_mutex_unlock(&t->lock);
    if (n == 0)
        free(inos);
    else
        *out = inos;
    return n;
}
