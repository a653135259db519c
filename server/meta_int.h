/* meta_int.h - what the parts of the metadata store share: the environment and
 * its LMDB transactions (meta.c), the records and their encodings
 * (meta_records.c), the namespace's shared steps (meta_ns.c), inline data
 * (meta_inline.c), marks and fences (meta_intents.c); extended attributes
 * (xattr_store.c) work in the same environment and, where an operation needs
 * it, the same transaction. Not for the rest of the server: it uses meta.h and
 * xattr_store.h. Single-threaded as the store.
 *
 * Every function taking a txn works inside the caller's transaction and
 * returns 0 or a negative errno (LMDB errors logged, through meta_db_err).
 */
#ifndef BENCHFS_META_INT_H
#define BENCHFS_META_INT_H

#include <errno.h>
#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "meta.h"

#define DKEY_HDR        16              /* dentries key: parent | hash, then the name */
#define DKEY_MAX        (DKEY_HDR + BFS_NAME_MAX)
#define HASH_LIMIT      (1ULL << 56)    /* client keeps the top 8 bits of a cookie */
#define COUNTER_LIMIT   (1ULL << BFS_INO_NODE_SHIFT)   /* of inode and intent numbers */
#define EXT_MAX         8               /* written extents a regular file's record keeps */

/* Bytes of chunk 0 kept inline. LMDB keeps a value over ~2 KiB in its own run of
 * overflow pages, copied whole by every commit that changes it: 16 KiB is 5 pages,
 * a few microseconds per write against ~260 us to create a chunk file, and covers
 * the typical small file. At 64 KiB a file growing by 4 KiB appends would rewrite
 * ~0.5 MiB before leaving, and runs of 17 contiguous free pages get hard for
 * LMDB's free list to find (the file grows instead). */
#define INLINE_MAX      (16u << 10)     /* a format limit: longer records read as corrupt */

struct meta_store {
    MDB_env *env;
    int fd;                 /* LMDB's data file */
    size_t psize;           /* LMDB's page size */
    double grow_retry;      /* after a failed growth: when to try again (CLOCK_MONOTONIC s) */
    struct meta_grow *grow; /* the growth whose space is being allocated (meta_grow.c), or NULL */
    MDB_txn *rtxn;          /* reset between reads, renewed: saves a reader slot setup */
    MDB_dbi info, inodes, dentries, orphans, inl;
    MDB_dbi intents, applied, fences, parents;   /* multi-server operations (meta_intents.c) */
    MDB_dbi xattrs;         /* extended attributes (xattr_store.c) */
    MDB_dbi dirtimes;       /* parents' times owed to other servers (meta_dirtimes.c) */
    int fences_seen;        /* the fences table has (or had, since the open) a record */
    uint32_t node_id;
    uint32_t chunk_size;
    size_t inline_max;      /* INLINE_MAX, or the chunk size if smaller */
    unsigned char *scratch; /* 1 + inline_max: an inline record being built (meta_inline.c) */
    struct meta_atimes *atimes; /* access times not written yet (meta_atime.c), or NULL */
    struct meta_copy *copy; /* a compact copy being written (meta_compact.c), or NULL */
    char path[4096];
};

static inline int meta_is_local(const struct meta_store *m, uint64_t ino)
{
    return bfs_ino_node(ino) == m->node_id;
}

static inline int meta_check_regular(const struct bfs_attr *a)
{
    if (S_ISDIR(a->mode))
        return -EISDIR;
    return S_ISREG(a->mode) ? 0 : -EINVAL;
}

/* ---- access times written in batches (meta_atime.c) ---- */

/* Records that ino was read at atime_ns (kept if later than one recorded);
 * writes the table first when it is full. 0 or -errno (-ENOMEM). */
int meta_atime_note(struct meta_store *m, uint64_t ino, int64_t atime_ns);
/* a (decoded from its record) gets the recorded access time if that is later. */
void meta_atime_overlay(const struct meta_store *m, struct bfs_attr *a);
/* An explicit atime (utimens) was set on ino: what a read recorded no longer counts. */
void meta_atime_forget(struct meta_store *m, uint64_t ino);

/* ---- the map's growth (meta_grow.c) ---- */

/* Before a write transaction (none open): takes a finished growth, starts the
 * next one when less than half of the growth is left free, waits only when the
 * map is nearly full. 0 or -errno (LMDB's). */
int meta_grow_room(struct meta_store *m);
/* Blocking: posix_fallocate of [from, to) of the data file. 0 or -errno (logged). */
int meta_allocate_map(struct meta_store *m, size_t from, size_t to);
/* Waits for a growth in progress and forgets it (at close). */
void meta_grow_stop(struct meta_store *m);

/* ---- compaction (meta_compact.c) ---- */

/* Waits for a compact copy being written, if any, and removes the copy's file
 * (before the map may change, at close, and at open: one a kill -9 left). */
void meta_compact_drop(struct meta_store *m);

/* ---- the environment (meta.c) ---- */

/* Opens the LMDB environment at m->path (node_id, chunk_size and path set) and its
 * tables; checks or stamps the info table. 0, or -errno with m->env NULL. */
int meta_env_open(struct meta_store *m);

/* A write transaction (the map grown first when needed), and its one exit:
 * commit when rc is 0, else abort; returns rc or the commit's error. */
int meta_wr_begin(struct meta_store *m, MDB_txn **txn);
int meta_wr_end(MDB_txn *txn, int rc);
/* The store's reusable read transaction; end it before the next begin. */
int meta_rd_begin(struct meta_store *m, MDB_txn **txn);
void meta_rd_end(struct meta_store *m);

/* An LMDB error as a negative errno, logged with what and ino (MDB_NOTFOUND is
 * -ENOENT, not logged). */
int meta_db_err(int rc, const char *what, uint64_t ino);

/* Every record of table dbi in key order, in one read transaction, into a
 * malloc'd array of elem-byte items: fn(arg, key, value, item) fills item and
 * returns 1 (keep it), 0 (skip the record) or -errno (stop: the error). On 0
 * *out (the caller frees it) and *n; else nothing. what names the table in logs. */
int meta_table_list(struct meta_store *m, MDB_dbi dbi, const char *what, size_t elem,
                    int (*fn)(void *arg, const MDB_val *k, const MDB_val *v, void *item),
                    void *arg, void **out, size_t *n);

/* The info table's u64 values: -ENOENT if absent, -EIO if not 8 bytes. */
int meta_info_get(struct meta_store *m, MDB_txn *txn, const char *key, uint64_t *val);
int meta_info_put(struct meta_store *m, MDB_txn *txn, const char *key, uint64_t val);
/* Takes the next inode number; the counter is saved in txn. */
int meta_alloc_ino(struct meta_store *m, MDB_txn *txn, uint64_t *ino);

/* The xattrs table: ino (u64 BE) | name -> value. */
MDB_dbi meta_xattr_dbi(const struct meta_store *m);

/* ---- records (meta_records.c) ---- */

/* -EINVAL (empty, ".", "..", '/' or NUL in it) or -ENAMETOOLONG for a bad name. */
int meta_check_name(const char *name, size_t len);

/* What follows a record's fixed part; valid until the next put in the txn. */
struct meta_tail {
    const unsigned char *p;
    size_t len;
};

/* The written extents of a regular file: sorted, disjoint, not touching. One
 * more than EXT_MAX fits while a new one is merged in. */
struct meta_extents {
    size_t n;
    struct { uint64_t start, end; } e[EXT_MAX + 1];
};
/* st_blocks: the bytes of the extents below size, in 512-byte units. */
uint64_t meta_extent_blocks(const struct meta_extents *x, uint64_t size);
/* [s, e) was written / punched out; the file was cut to size. Past EXT_MAX
 * extents the smallest is forgotten, so st_blocks errs low, never high. */
void meta_extent_add(struct meta_extents *x, uint64_t s, uint64_t e);
void meta_extent_punch(struct meta_extents *x, uint64_t s, uint64_t e);
void meta_extent_cut(struct meta_extents *x, uint64_t size);

/* ino's record in txn: 0, -ENOENT, -EIO (corrupt, logged). a->flags carries
 * the record's BFS_ATTR_* bits; *t (if not NULL) gets its tail. */
int meta_inode_read(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a,
                    struct meta_tail *t);
int meta_inode_get(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a);
/* A regular file's attributes and extents (copied: good across puts). */
int meta_file_get(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a,
                  struct meta_extents *x);
/* Stores a's record. Its tail: target for a symlink, a->rdev for a device, x's
 * extents for a regular file (NULL: none), nothing otherwise. */
int meta_inode_put(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a,
                   const char *target, size_t tlen, const struct meta_extents *x);
/* Rewrites an existing record with a's attributes and flags, keeping its tail. */
int meta_inode_update(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a);
/* Deletes ino's record and what hangs on it (orphan mark, parent, inline data,
 * and its extended attributes if flags, the record's BFS_ATTR_*, say so). */
int meta_inode_del(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint32_t flags);
/* Whether a raw inodes-table value may be a regular file's: all but a record
 * of a known version that says another type (the format 1 upgrade). */
int meta_record_maybe_file(const MDB_val *v);
/* Marks ino as an orphan (nlink 0, kept open) or not. */
int meta_orphan_note(struct meta_store *m, MDB_txn *txn, uint64_t ino, int orphan);
/* The parents table: dir's "..". get: -ENOENT when none is recorded (a store
 * from before parents were kept), -EIO for a malformed value. */
int meta_parent_put(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t parent);
int meta_parent_get(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t *parent);

/* Directory entries: decode a dentries value (-EIO if corrupt), get (-ENOENT),
 * put (flags MDB_NOOVERWRITE: -EEXIST if taken), delete. */
int meta_dent_decode(const MDB_val *v, uint64_t parent, uint64_t *ino, uint32_t *type);
int meta_dent_get(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                  size_t len, uint64_t *ino, uint32_t *type);
int meta_dent_put(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                  size_t len, uint64_t ino, uint32_t type, unsigned flags);
int meta_dent_del(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                  size_t len);
/* 1 if directory dir has an entry here, 0 if none. */
int meta_dir_nonempty(struct meta_store *m, MDB_txn *txn, uint64_t dir);

/* ---- shared steps of the namespace operations (meta_ns.c) ---- */

/* A parent must take entries to gain one: -ENOENT (removed), META_FENCED,
 * -ENOTDIR, as meta_mknod says. */
int meta_parent_check(struct meta_store *m, MDB_txn *txn, uint64_t parent);
/* Entries of a local directory changed: mtime = ctime = now, nlink += delta
 * (-1..1, never below 2). Nothing for a directory elsewhere or without a record. */
int meta_dir_changed(struct meta_store *m, MDB_txn *txn, uint64_t dir, int delta, int64_t now);
/* ino lost one name (or, whole_dir, all): nlink drops, at 0 the record goes
 * unless keep_orphan; *drop says what happened (remote for an inode elsewhere). */
int meta_link_drop(struct meta_store *m, MDB_txn *txn, uint64_t ino, int whole_dir,
                   int keep_orphan, int64_t now, struct meta_drop *drop);
/* Local inode a gains a name: nlink + 1, ctime = now (a not stored: the caller
 * does). -ENOENT once unlinked (nlink 0), -EMLINK at the limit. */
int meta_link_gain(struct bfs_attr *a, int64_t now);

/* ---- inline data (meta_inline.c) ---- */

/* ino's inline bytes go (nothing if it has none). */
int meta_inline_del(struct meta_store *m, MDB_txn *txn, uint64_t ino);
/* A file shrank to size: its inline bytes past it go. */
int meta_inline_cut(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint64_t size);
/* Inline bytes in [off, end) read as zeros from now on (nothing in chunk mode). */
int meta_inline_zero(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint64_t off,
                     uint64_t end);
/* The upgrade from format 1: every regular file is marked chunk mode. */
int meta_inline_upgrade(struct meta_store *m, MDB_txn *txn);

/* ---- marks and fences (meta_intents.c) ---- */

/* The fence on directory dir here: 0 (none), META_FENCE_HELD or META_FENCE_DEAD,
 * with the intent holding it in *intent (if not NULL); -EIO for a bad record. */
int meta_fence_of(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t *intent);
/* Begins the write transaction of a marked step: 0 with *txn open (do the step,
 * meta_step_put, meta_wr_end), 1 if it was done already (*done filled, nothing
 * open), or -errno (nothing open). */
int meta_marked_begin(struct meta_store *m, MDB_txn **txn, uint64_t intent, uint32_t step,
                      struct meta_step *done);
/* Stores the mark of (intent, step). */
int meta_step_put(struct meta_store *m, MDB_txn *txn, uint64_t intent, uint32_t step,
                  const struct meta_step *st);

#endif
