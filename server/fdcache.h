/* fdcache.h - the chunk store's open chunk files: an fd cache with an LRU of idle
 * entries, and the unsynced set of chunks closed with data not yet on disk.
 *
 * A pure data structure: it opens nothing (the caller opens a chunk file and
 * hands the fd over with fdcache_insert) and queues no I/O. It closes the fds it
 * owns: an entry's fd belongs to the cache from fdcache_insert (or
 * fdcache_detached) on.
 *
 * Entries: a hash table (ino, idx) -> entry. An entry in use holds a reference
 * and is never closed; only idle entries (no reference) sit on the LRU list and
 * can be evicted, least recently used first, once the table holds more than max.
 * An entry taken out of the table (invalidated: its chunk file is being
 * removed) is "dead": no lookup finds it, and it is closed when its last
 * reference goes.
 *
 * Eviction only closes the fd (a flush there would stall the event loop on the
 * disk). A chunk closed while dirty goes into the unsynced set (per ino, a
 * sorted array of idx), so the next fsync of its ino can open it again to sync
 * it; a chunk is in the table or in the set, never both. The set is bounded
 * (FDCACHE_UNSYNCED_MAX): when it is full, or memory for it runs out, the
 * owner's flush_all callback puts everything on disk (the chunk store: syncfs)
 * and, if that succeeds, the set is emptied.
 *
 * Not thread-safe: the chunk store's event-loop thread only.
 */
#ifndef BENCHFS_FDCACHE_H
#define BENCHFS_FDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDCACHE_UNSYNCED_MAX 65536   /* chunks in the unsynced set before a flush_all */

/* The caller reads ino, idx, fd, sync_only and opening, and reads and sets
 * dirty; the other fields are fdcache.c's. */
struct fd_ent {
    uint64_t ino, idx;
    int fd;
    bool dirty;             /* written since its last sync */
    unsigned ring_mods;     /* chunkstore's writes and fallocates of it in the ring */
    bool sync_only;         /* from fdcache_detached: opened to sync an evicted chunk */
    unsigned refs;          /* users of fd: never closed while > 0 */
    bool dead;              /* out of the table: closed at refs 0 */
    bool in_lru;
    void *opening;          /* the owner's open in flight (fd -1 until fdcache_opened), or NULL */
    struct fd_ent *hnext;           /* hash chain */
    struct fd_ent *prev, *next;     /* LRU of idle entries, most recent first */
};

/* The evicted unsynced chunks of one ino: idx[0..n) ascending. */
struct fdcache_unsynced {
    uint64_t ino;
    struct fdcache_unsynced *next;   /* fdcache.c's: hash chain */
    uint64_t *idx;
    uint32_t n, cap;
};

/* Puts everything written on disk (why: for the log line; n: chunks in the
 * set). 0 empties the unsynced set; a negative errno keeps it (each ino's next
 * fsync still tries its chunks). */
typedef int (*fdcache_flush_fn)(void *arg, const char *why, unsigned n);

/* Embedded in its owner; fields are fdcache.c's. */
struct fdcache {
    struct fd_ent **table;
    size_t table_mask;
    unsigned nent;                      /* entries in the table */
    unsigned max;                       /* idle entries are evicted beyond this many */
    struct fd_ent *lru_head, *lru_tail;
    struct fdcache_unsynced **uns;      /* chains by ino */
    unsigned nuns;                      /* chunks in the unsynced set */
    fdcache_flush_fn flush_all;
    void *flush_arg;
};

/* Keeps up to max idle entries (> 0). 0 or -ENOMEM (then fdcache_destroy is
 * still safe). */
int fdcache_init(struct fdcache *fc, unsigned max, fdcache_flush_fn flush_all, void *flush_arg);
/* Closes every fd in the table (referenced or not: the owner has stopped using
 * them) and forgets the unsynced set. Entries already dead are the holders'. */
void fdcache_destroy(struct fdcache *fc);

/* The entry of (ino, idx) in the table, or NULL. Takes no reference. */
struct fd_ent *fdcache_find(struct fdcache *fc, uint64_t ino, uint64_t idx);
/* Takes a reference (an idle entry leaves the LRU). */
void fdcache_ref(struct fdcache *fc, struct fd_ent *e);
/* Drops a reference; at 0 a dead entry is closed and freed, a live one becomes
 * the most recently used idle entry, and the cache is trimmed to max. */
void fdcache_put(struct fdcache *fc, struct fd_ent *e);

/* Adds (ino, idx) -> fd, not in the table yet, with one reference taken, into
 * *out. The entry is dirty if the chunk was in the unsynced set (taken out of
 * it: the sync it owes is now this fd's). Trims the cache (if every entry is in
 * use, it grows for a while). -ENOMEM: fd is closed. */
int fdcache_insert(struct fdcache *fc, uint64_t ino, uint64_t idx, int fd, struct fd_ent **out);
/* An entry for (ino, idx), not in the table yet, whose file the owner is still
 * opening (asynchronously): fd -1, opening set, one reference taken, into *out.
 * It is never idle while the owner holds that reference, so never evicted;
 * fdcache_take_dirty skips it. The unsynced set is left alone until
 * fdcache_opened. -ENOMEM. */
int fdcache_insert_opening(struct fdcache *fc, uint64_t ino, uint64_t idx, void *opening,
                           struct fd_ent **out);
/* The open of e succeeded: e takes fd (and, as fdcache_insert, the sync that
 * the unsynced set owed the chunk). */
void fdcache_opened(struct fdcache *fc, struct fd_ent *e, int fd);
/* The open of e failed: e leaves the table (dead, freed when its last
 * reference goes). */
void fdcache_open_failed(struct fdcache *fc, struct fd_ent *e);
/* An entry for fd outside the table (dead, sync_only, one reference): closed
 * when the reference goes. NULL (fd not closed) when out of memory. */
struct fd_ent *fdcache_detached(uint64_t ino, uint64_t idx, int fd);

/* Evicts the least recently used idle entry (e.g. to free an fd on EMFILE):
 * false if there is none. */
bool fdcache_evict_one(struct fdcache *fc);

/* Takes the entries of ino with from <= idx < end out of the table (closed now
 * if idle, else when their last reference goes). A short range is looked up
 * index by index, a long one walks the table. The unsynced set is not touched
 * (fdcache_unsynced_drop). */
void fdcache_invalidate(struct fdcache *fc, uint64_t ino, uint64_t from, uint64_t end);

/* For each entry of ino in the table that is dirty and open (not opening): clears dirty, then calls
 * fn(arg, e). fn may take references and set dirty, not insert or remove. */
void fdcache_take_dirty(struct fdcache *fc, uint64_t ino,
                        void (*fn)(void *arg, struct fd_ent *e), void *arg);

/* Chunk (ino, idx) may have data not on disk: marks its entry dirty if it has
 * one, else adds it to the unsynced set. */
void fdcache_mark_unsynced(struct fdcache *fc, uint64_t ino, uint64_t idx);
/* Drops the chunks of ino with idx >= from from the unsynced set. */
void fdcache_unsynced_drop(struct fdcache *fc, uint64_t ino, uint64_t from);
/* Takes ino's record out of the unsynced set (the caller owns it: free it with
 * fdcache_unsynced_free); NULL if ino has none. */
struct fdcache_unsynced *fdcache_unsynced_detach(struct fdcache *fc, uint64_t ino);
void fdcache_unsynced_free(struct fdcache_unsynced *u);
/* Chunks in the unsynced set. */
unsigned fdcache_unsynced_count(const struct fdcache *fc);

#endif
