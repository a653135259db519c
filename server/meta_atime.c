/* meta_atime.c - access times kept in memory and written in batches. A read
 * that is due to record its time (relatime, or strictatime) would otherwise
 * commit a write transaction of its own: here the first read of each freshly
 * written small file paid a commit, 37 % of the server's time in a read
 * benchmark. The time goes into a small table instead; every read of the inode
 * (meta_inode_read, so getattr, lookups and any transaction that rewrites the
 * record) shows it at once, and the table is written in one transaction within
 * ATIME_FLUSH_S, when it fills, before an fsync's sync and at close. What a
 * kill -9 or a crash loses is at most that window's access times, as with
 * Linux's lazytime. */
#include "meta_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../common/log.h"

#define ATIME_SLOTS 4096          /* open addressing, a power of two */
#define ATIME_MAX (ATIME_SLOTS / 2)
#define ATIME_FLUSH_S 1.0

struct meta_atimes {
    size_t n;
    double deadline;              /* CLOCK_MONOTONIC s: write the table by then */
    struct { uint64_t ino; int64_t atime_ns; } slot[ATIME_SLOTS];   /* ino 0: empty */
};

static size_t slot_of(uint64_t ino)
{
    return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 52) & (ATIME_SLOTS - 1);
}

void meta_atime_overlay(const struct meta_store *m, struct bfs_attr *a)
{
    const struct meta_atimes *t = m->atimes;
    if (!t || t->n == 0)
        return;
    for (size_t i = slot_of(a->ino);; i = (i + 1) & (ATIME_SLOTS - 1)) {
        if (t->slot[i].ino == 0)
            return;
        if (t->slot[i].ino == a->ino) {
            if (t->slot[i].atime_ns > a->atime_ns)
                a->atime_ns = t->slot[i].atime_ns;
            return;
        }
    }
}

int meta_atime_note(struct meta_store *m, uint64_t ino, int64_t atime_ns)
{
    if (!m->atimes && !(m->atimes = calloc(1, sizeof *m->atimes)))
        return -ENOMEM;
    struct meta_atimes *t = m->atimes;
    if (t->n >= ATIME_MAX) {
        int rc = meta_atime_flush(m);
        if (rc)
            return rc;
    }
    size_t i = slot_of(ino);
    while (t->slot[i].ino != 0 && t->slot[i].ino != ino)
        i = (i + 1) & (ATIME_SLOTS - 1);
    if (t->slot[i].ino == 0) {
        if (t->n++ == 0)
            t->deadline = bfs_mono_s() + ATIME_FLUSH_S;
        t->slot[i].ino = ino;
        t->slot[i].atime_ns = atime_ns;
    } else if (atime_ns > t->slot[i].atime_ns) {
        t->slot[i].atime_ns = atime_ns;
    }
    return 0;
}

void meta_atime_forget(struct meta_store *m, uint64_t ino)
{
    struct meta_atimes *t = m->atimes;
    if (!t || t->n == 0)
        return;
    /* The slot stays (its probe chain must): a time no record is below. */
    for (size_t i = slot_of(ino); t->slot[i].ino != 0; i = (i + 1) & (ATIME_SLOTS - 1))
        if (t->slot[i].ino == ino) {
            t->slot[i].atime_ns = INT64_MIN;
            return;
        }
}

double meta_atime_deadline(const struct meta_store *m)
{
    return m->atimes && m->atimes->n ? m->atimes->deadline : 0;
}

int meta_atime_flush(struct meta_store *m)
{
    struct meta_atimes *t = m->atimes;
    if (!t || t->n == 0)
        return 0;
    MDB_txn *txn;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        goto failed;
    for (size_t i = 0; rc == 0 && i < ATIME_SLOTS; i++) {
        if (t->slot[i].ino == 0)
            continue;
        /* The get shows the table's time. One it cannot read (removed since,
         * or a damaged record, logged there) is skipped: it must not keep the
         * rest from being written, every second, for ever. */
        struct bfs_attr a;
        if (meta_inode_get(m, txn, t->slot[i].ino, &a) == 0)
            rc = meta_inode_update(m, txn, &a);
    }
    if ((rc = meta_wr_end(txn, rc)) == 0) {
        memset(t->slot, 0, sizeof t->slot);
        t->n = 0;
        return 0;
    }
failed:
    /* Kept: they are tried again at the next deadline (reads show them meanwhile). */
    log_error("meta: %s: writing %zu access times: %s", m->path, t->n, strerror(-rc));
    t->deadline = bfs_mono_s() + ATIME_FLUSH_S;
    return rc;
}
