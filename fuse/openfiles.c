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
    /* Plain unlinks in flight (openfiles.h), oldest first, by ticket. */
    struct openfiles_plain *plain_head, *plain_tail;
    uint64_t next_ticket;
    pthread_cond_t plain_done;   /* broadcast when one ends */
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
    pthread_cond_init(&t->plain_done, NULL);
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
    pthread_cond_destroy(&t->plain_done);
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
    /* Counted: the unlinks from now on see it. Those before, still in flight,
     * are waited for (no deadline: each is an RPC with its own). */
    uint64_t before = t->next_ticket;
    while (rc == 0 && t->plain_head && t->plain_head->ticket < before)
        pthread_cond_wait(&t->plain_done, &t->lock);
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

/* Appends p to the plain unlinks in flight (lock held). */
static void plain_add(struct openfiles *t, struct openfiles_plain *p)
{
    p->ticket = t->next_ticket++;
    p->next = NULL;
    p->prev = t->plain_tail;
    if (t->plain_tail)
        t->plain_tail->next = p;
    else
        t->plain_head = p;
    t->plain_tail = p;
}

bool openfiles_unlink_fast(struct openfiles *t, struct openfiles_plain *p)
{
    pthread_mutex_lock(&t->lock);
    bool empty = t->count == 0;
    if (empty)
        plain_add(t, p);
    pthread_mutex_unlock(&t->lock);
    return empty;
}

void openfiles_unlink_plain_end(struct openfiles *t, struct openfiles_plain *p)
{
    pthread_mutex_lock(&t->lock);
    if (p->prev)
        p->prev->next = p->next;
    else
        t->plain_head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        t->plain_tail = p->prev;
    pthread_cond_broadcast(&t->plain_done);
    pthread_mutex_unlock(&t->lock);
}

bool openfiles_unlink_begin(struct openfiles *t, uint64_t ino, struct openfiles_plain *p)
{
    bool open = false;
    pthread_mutex_lock(&t->lock);
    struct of_entry *e = *of_find(t, ino);
    if (e && e->opens > 0) {
        e->unlinked = true;
        e->unlinking++;
        open = true;
    } else {
        plain_add(t, p);
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
