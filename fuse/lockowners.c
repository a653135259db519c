/* lockowners.c - see lockowners.h. A chained hash of (ino, owner, fh) pairs
 * under one mutex, and a direct-mapped set of inodes that saw a lock. */
#include "lockowners.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define BUCKETS 256       /* pairs hash (a power of two) */
#define USED_SLOTS 4096   /* inodes that saw a lock (a power of two) */

struct pair {
    uint64_t ino, owner, fh;
    struct pair *next;
};

struct lockowners {
    pthread_mutex_t lock;
    struct pair *b[BUCKETS];
    _Atomic uint64_t used[USED_SLOTS];
};

static size_t slot(uint64_t ino, size_t n)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 17) & (n - 1);
}

struct lockowners *lockowners_new(void)
{
    struct lockowners *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

void lockowners_free(struct lockowners *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (struct pair *p = t->b[i], *n; p; p = n) {
            n = p->next;
            free(p);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

bool lockowners_used(struct lockowners *t, uint64_t ino)
{
    return atomic_load_explicit(&t->used[slot(ino, USED_SLOTS)], memory_order_relaxed) == ino;
}

int lockowners_note(struct lockowners *t, uint64_t ino, uint64_t owner, uint64_t fh)
{
    atomic_store_explicit(&t->used[slot(ino, USED_SLOTS)], ino, memory_order_relaxed);
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    struct pair **head = &t->b[slot(ino, BUCKETS)], *p = *head;
    while (p && !(p->ino == ino && p->owner == owner && p->fh == fh))
        p = p->next;
    if (!p) {
        if ((p = malloc(sizeof *p))) {
            *p = (struct pair){ .ino = ino, .owner = owner, .fh = fh, .next = *head };
            *head = p;
        } else {
            rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

bool lockowners_flush(struct lockowners *t, uint64_t ino, uint64_t owner)
{
    bool had = false;
    pthread_mutex_lock(&t->lock);
    for (struct pair **pp = &t->b[slot(ino, BUCKETS)]; *pp;) {
        struct pair *p = *pp;
        if (p->ino == ino && p->owner == owner) {
            *pp = p->next;
            free(p);
            had = true;
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return had;
}

int lockowners_release(struct lockowners *t, uint64_t ino, uint64_t fh, uint64_t **out)
{
    size_t n = 0;
    *out = NULL;
    pthread_mutex_lock(&t->lock);
    struct pair **head = &t->b[slot(ino, BUCKETS)];
    for (struct pair *p = *head; p; p = p->next)
        n += p->ino == ino && p->fh == fh;
    if (n && !(*out = malloc(n * sizeof **out))) {
        pthread_mutex_unlock(&t->lock);
        return -ENOMEM;
    }
    size_t k = 0;
    for (struct pair **pp = head; *pp;) {
        struct pair *p = *pp;
        if (p->ino == ino && p->fh == fh) {
            (*out)[k++] = p->owner;
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return (int)n;
}
