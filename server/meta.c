/* meta.c - see meta.h.
 *
 * On-disk layout (one LMDB environment, <dir>/meta.lmdb, ten named DBs):
 *
 *   info      "format" (META_FORMAT), "node_id", "chunk_size", "next_ino" -> u64 LE
 *   inodes    ino (u64 BE) -> inode record (below)
 *   dentries  parent (u64 BE) | name hash (u64 BE) | name bytes -> child ino (u64 LE) | type (u32 LE)
 *   orphans   ino (u64 BE) -> empty: records kept with nlink 0, for meta_purge_orphans
 *   inline    ino (u64 BE) -> u8 state | data: the chunk-0 mode of a regular file.
 *             INLINE_DATA | chunk 0's bytes [0, n), n <= inline max: inline mode;
 *             INLINE_CHUNKS alone: chunk mode. No record: inline mode, no bytes, so
 *             a create writes nothing here (the upgrade from format 1 marks the old
 *             files INLINE_CHUNKS: their chunk 0 is a chunk file).
 *   parents   dir ino (u64 BE) -> parent ino (u64 LE): a directory's "..", kept by the
 *             directory inode's owner (loop checks of directory moves, fsck)
 *   xattrs    ino (u64 BE) | name -> value: extended attributes (xattr_store.c)
 * Multi-server operations (see meta.h, "multi-server operations"):
 *   intents   intent id (u64 BE) -> intent record (encode_intent): on the coordinator
 *   applied   intent id (u64 BE) | step (u8) -> step result (STEP_VAL bytes): on a
 *             participant, written in the step's own transaction, so a replayed
 *             step is answered from here instead of being done twice
 *   fences    dir ino (u64 BE) -> u8 state (META_FENCE_*) | u32 LE coordinator node
 *             | u64 LE intent id: a directory no entry may be added to here
 *
 * Keys are big-endian so LMDB's memcmp order groups a directory's entries and sorts
 * them by hash: readdir is a range scan and an entry's hash is its cookie.
 *
 * Inode record, little-endian, checked on every read:
 *   u8 version | u32 mode (bits 16..: BFS_ATTR_* flags, format 4) | u32 nlink | u32 uid
 *   | u32 gid | u64 size | i64 atime | i64 mtime | i64 ctime | tail, whose length the type fixes:
 *     symlink            the target, 1..4095 bytes
 *     char/block device  u64 rdev (8 bytes)
 *     regular file       nothing: all of [0, size) was written (the usual case,
 *                        and what every file of a format 1 or 2 store says);
 *                        or u32 n | n (0..EXT_MAX) written extents, u64 start |
 *                        u64 end each, sorted, disjoint, not touching (st_blocks)
 *     anything else      nothing (directory, FIFO, socket)
 * The types past regular file, directory and symlink came with format 3.
 */
#include "meta.h"
#include "meta_int.h"
#include "xattr_store.h"
#include "../common/endian.h"
#include "../common/clock.h"
#include "../common/hash.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define META_FORMAT     META_STORE_FORMAT   /* 4: extended attributes; 3: special files,
                                               written extents; 2: inline data; 1..3 are
                                               read and upgraded */
#define MODE_BITS       0177777u        /* of a record's mode word; the flags lie above */
#define FLAG_SHIFT      16
#define REC_VERSION     1               /* first byte of an inode record */
#define EXT_MAX         8               /* written extents a regular file's record keeps */
#define EXT_LEN         16              /* u64 start | u64 end */
#define META_MAP_MIN    (16ULL << 20)   /* first size of the map and of the file */
#define META_GROW_MAX   (1ULL << 30)    /* the map doubles, by at most this much */
#define REC_HDR         49              /* inode record bytes before its tail */
#define DENT_VAL        12
#define DKEY_HDR        16              /* parent | hash */
#define DKEY_MAX        (DKEY_HDR + BFS_NAME_MAX)
#define HASH_LIMIT      (1ULL << 56)    /* client keeps the top 8 bits of a cookie */
#define COUNTER_LIMIT   (1ULL << BFS_INO_NODE_SHIFT)
#define META_DBS        10              /* named databases (open_dbs) */
#define FENCE_VAL       13              /* u8 state | u32 coordinator | u64 intent */
#define STEP_VAL        24              /* u64 ino | u32 type | u32 flags | u64 size */
#define INTENT_VERSION  1               /* first byte of an intent record */
#define INTENT_HDR      64              /* intent record bytes before the names */

/* Bytes of chunk 0 kept inline. LMDB keeps a value over ~2 KiB in its own run of
 * overflow pages, copied whole by every commit that changes it: 16 KiB is 5 pages,
 * a few microseconds per write against ~260 us to create a chunk file, and covers
 * the typical small file. At 64 KiB a file growing by 4 KiB appends would rewrite
 * ~0.5 MiB before leaving, and runs of 17 contiguous free pages get hard for
 * LMDB's free list to find (the file grows instead). */
#define INLINE_MAX      (16u << 10)     /* a format limit: longer records read as corrupt */
#define INLINE_DATA     1               /* state byte: inline mode, the bytes follow */
#define INLINE_CHUNKS   2               /* state byte: chunk mode, nothing follows */

struct meta_store {
    MDB_env *env;
    int fd;                 /* LMDB's data file */
    size_t psize;           /* LMDB's page size */
    double grow_retry;      /* after a failed growth: when to try again (CLOCK_MONOTONIC s) */
    MDB_txn *rtxn;          /* reset between reads, renewed: saves a reader slot setup */
    MDB_dbi info, inodes, dentries, orphans, inl;
    MDB_dbi intents, applied, fences, parents;   /* multi-server operations (below) */
    MDB_dbi xattrs;         /* extended attributes (xattr_store.c) */
    int fences_seen;        /* the fences table has (or had, since the open) a record */
    uint32_t node_id;
    size_t inline_max;      /* INLINE_MAX, or the chunk size if smaller */
    unsigned char *scratch; /* 1 + inline_max: an inline record being built */
    char path[4096];
};

/* ---- encoding (byte order: common/endian.h) ---- */

/* FNV-1a, then murmur3's finalizer so the top bits are well mixed. Part of the
 * on-disk format: changing it orphans every stored entry. */
static uint64_t name_hash(const char *name, size_t len)
{
    uint64_t h = bfs_fnv1a(name, len, 0);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h >>= 8;
    return h < 3 ? h + 3 : h;   /* 0, 1, 2 are the client's cookies */
}

static size_t dkey(unsigned char *k, uint64_t parent, const char *name, size_t len)
{
    put_be64(k, parent);
    put_be64(k + 8, name_hash(name, len));
    memcpy(k + DKEY_HDR, name, len);
    return DKEY_HDR + len;
}

static int is_local(const struct meta_store *m, uint64_t ino)
{
    return bfs_ino_node(ino) == m->node_id;
}

static int check_name(const char *name, size_t len)
{
    if (len == 0)
        return -EINVAL;
    if (len > BFS_NAME_MAX)
        return -ENAMETOOLONG;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return -EINVAL;
    if (memchr(name, '/', len) || memchr(name, '\0', len))
        return -EINVAL;
    return 0;
}

/* ---- LMDB plumbing ---- */

/* Maps an LMDB or system error to a negative errno and logs it. MDB_NOTFOUND is
 * an answer, not a failure, so it is not logged. */
static int db_err(int rc, const char *what, uint64_t ino)
{
    int err;
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc == MDB_MAP_FULL)
        err = -ENOSPC;
    else if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
        err = -EIO;
    else
        err = rc > 0 ? -rc : -EIO;
    if (ino)
        log_error("meta: ino 0x%" PRIx64 ": %s: %s", ino, what, mdb_strerror(rc));
    else
        log_error("meta: %s: %s", what, mdb_strerror(rc));
    return err;
}

static int rd_begin(struct meta_store *m, MDB_txn **txn)
{
    int rc = m->rtxn ? mdb_txn_renew(m->rtxn)
                     : mdb_txn_begin(m->env, NULL, MDB_RDONLY, &m->rtxn);
    if (rc)
        return db_err(rc, "begin read txn", 0);
    *txn = m->rtxn;
    return 0;
}

static void rd_end(struct meta_store *m)
{
    mdb_txn_reset(m->rtxn);
}

/* The store runs with MDB_WRITEMAP: a commit writes its pages straight into a
 * shared mapping of the file instead of one pwrite per page (on this VM a
 * system call costs ~1 us; a create went from ~19 to ~5 us). A store through
 * the map into a hole the file system cannot fill would be SIGBUS, not an
 * error, so every byte of the map is allocated on disk before LMDB may use it,
 * and the map grows ahead of need, between transactions. */
static int allocate_map(struct meta_store *m, size_t from, size_t to)
{
    int rc = posix_fallocate(m->fd, (off_t)from, (off_t)(to - from));
    if (rc) {
        log_error("meta: %s: cannot allocate %zu MiB: %s", m->path, to >> 20, strerror(rc));
        return -rc;
    }
    return 0;
}

/* Before a write transaction (none is active): doubles the map when less than
 * a quarter of it is free. A disk too full to grow on is not an error yet: the
 * transaction may still fit, and if not LMDB's MDB_MAP_FULL becomes -ENOSPC.
 * After a failure the next try waits a second (space may be freed meanwhile),
 * so a full disk costs neither a fallocate nor a log line per write. */
static int ensure_room(struct meta_store *m)
{
    MDB_envinfo info;
    int rc;
    if ((rc = mdb_env_info(m->env, &info)))
        return db_err(rc, "map size", 0);
    size_t size = info.me_mapsize, used = (info.me_last_pgno + 1) * m->psize;
    if (used + size / 4 <= size)
        return 0;
    if (m->grow_retry > 0 && bfs_mono_s() < m->grow_retry)
        return 0;
    size_t grown = size + (size < META_GROW_MAX ? size : META_GROW_MAX);
    if (allocate_map(m, size, grown) < 0) {
        m->grow_retry = bfs_mono_s() + 1.0;
        return 0;
    }
    m->grow_retry = 0;
    if (m->rtxn) {      /* mdb_env_set_mapsize: no transaction may be open, even a reset one */
        mdb_txn_abort(m->rtxn);
        m->rtxn = NULL;
    }
    if ((rc = mdb_env_set_mapsize(m->env, grown)))
        return db_err(rc, "grow map", 0);
    log_info("meta: %s: map grown to %zu MiB", m->path, grown >> 20);
    return 0;
}

static int wr_begin(struct meta_store *m, MDB_txn **txn)
{
    int rc = ensure_room(m);
    if (rc)
        return rc;
    rc = mdb_txn_begin(m->env, NULL, 0, txn);
    return rc ? db_err(rc, "begin txn", 0) : 0;
}

/* The one exit of every write: commit on success, abort on error. */
static int wr_end(MDB_txn *txn, int rc)
{
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    return rc ? db_err(rc, "commit", 0) : 0;
}

/* ---- for the store's other parts (meta_int.h) ---- */

int meta_wr_begin(struct meta_store *m, MDB_txn **txn) { return wr_begin(m, txn); }
int meta_wr_end(MDB_txn *txn, int rc) { return wr_end(txn, rc); }
int meta_rd_begin(struct meta_store *m, MDB_txn **txn) { return rd_begin(m, txn); }
void meta_rd_end(struct meta_store *m) { rd_end(m); }
MDB_dbi meta_xattr_dbi(const struct meta_store *m) { return m->xattrs; }
int meta_db_err(int rc, const char *what, uint64_t ino) { return db_err(rc, what, ino); }

/* ---- inline data ---- */

/* ino's chunk-0 mode: 0 in inline mode, with *data (valid until the next put in
 * txn) and *len, META_CHUNKS in chunk mode, -EIO if the record is bad. */
static int get_inline(struct meta_store *m, MDB_txn *txn, uint64_t ino,
                      const unsigned char **data, size_t *len)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, ino);
    int rc = mdb_get(txn, m->inl, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *data = NULL;
        *len = 0;
        return 0;
    }
    if (rc)
        return db_err(rc, "get inline data", ino);
    const unsigned char *p = v.mv_data;
    if (v.mv_size == 1 && p[0] == INLINE_CHUNKS)
        return META_CHUNKS;
    if (v.mv_size == 0 || p[0] != INLINE_DATA || v.mv_size - 1 > m->inline_max) {
        log_error("meta: ino 0x%" PRIx64 ": corrupt inline data (%zu bytes, state %d)", ino,
                  v.mv_size, v.mv_size ? p[0] : -1);
        return -EIO;
    }
    *data = p + 1;
    *len = v.mv_size - 1;
    return 0;
}

/* Stores ino's record: state, and len bytes that the caller built at
 * m->scratch + 1 (not read from a page: a put may move the page they came from). */
static int put_inline(struct meta_store *m, MDB_txn *txn, uint64_t ino, int state, size_t len)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v = { 1 + len, m->scratch };
    put_be64(kb, ino);
    m->scratch[0] = (unsigned char)state;
    int rc = mdb_put(txn, m->inl, &k, &v, 0);
    return rc ? db_err(rc, "put inline data", ino) : 0;
}

static int del_inline(struct meta_store *m, MDB_txn *txn, uint64_t ino)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    put_be64(kb, ino);
    int rc = mdb_del(txn, m->inl, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? db_err(rc, "delete inline data", ino) : 0;
}

/* A file shrank to size: its inline bytes past it go, so that growing it again
 * reads zeros there. */
static int cut_inline(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint64_t size)
{
    const unsigned char *data;
    size_t have;
    int rc = get_inline(m, txn, ino, &data, &have);
    if (rc)
        return rc == META_CHUNKS ? 0 : rc;
    if (size >= have)
        return 0;
    memcpy(m->scratch + 1, data, (size_t)size);
    return put_inline(m, txn, ino, INLINE_DATA, (size_t)size);
}

static int check_regular(const struct bfs_attr *a)
{
    if (S_ISDIR(a->mode))
        return -EISDIR;
    return S_ISREG(a->mode) ? 0 : -EINVAL;
}

/* ---- inode records ---- */

/* What follows a record's fixed part; valid until the next put in the txn. */
struct rec_tail {
    const unsigned char *p;
    size_t len;
};

/* The written extents of a regular file: sorted, disjoint, not touching. One
 * more than EXT_MAX fits while a new one is merged in. */
struct extents {
    size_t n;
    struct { uint64_t start, end; } e[EXT_MAX + 1];
};

static int bad_record(uint64_t ino, size_t len, const char *why)
{
    log_error("meta: ino 0x%" PRIx64 ": corrupt inode record (%zu bytes): %s", ino, len, why);
    return -EIO;
}

/* A regular file's tail of extents, or with an empty tail all of [0, size);
 * -1 if it is not a valid list. */
static int decode_extents(const unsigned char *p, size_t len, uint64_t size, struct extents *x)
{
    x->n = 0;
    if (len == 0) {
        if (size) {
            x->n = 1;
            x->e[0].start = 0;
            x->e[0].end = size < (uint64_t)INT64_MAX ? size : (uint64_t)INT64_MAX;
        }
        return 0;
    }
    if (len < 4 || get_le32(p) > EXT_MAX || len != 4 + (size_t)get_le32(p) * EXT_LEN)
        return -1;
    x->n = get_le32(p);
    p += 4;
    for (size_t i = 0; i < x->n; i++) {
        x->e[i].start = get_le64(p + i * EXT_LEN);
        x->e[i].end = get_le64(p + i * EXT_LEN + 8);
        if (x->e[i].start >= x->e[i].end || x->e[i].end > (uint64_t)INT64_MAX ||
            (i > 0 && x->e[i - 1].end >= x->e[i].start))
            return -1;
    }
    return 0;
}

/* st_blocks: the bytes of the extents below size, in 512-byte units. */
static uint64_t extent_blocks(const struct extents *x, uint64_t size)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < x->n && x->e[i].start < size; i++)
        bytes += (x->e[i].end < size ? x->e[i].end : size) - x->e[i].start;
    return bytes / 512 + (bytes % 512 != 0);
}

/* Past EXT_MAX extents the smallest is forgotten (st_blocks errs low). */
static void extent_trim(struct extents *x)
{
    size_t i, k = 0;
    if (x->n <= EXT_MAX)
        return;
    for (i = 1; i < x->n; i++)
        if (x->e[i].end - x->e[i].start < x->e[k].end - x->e[k].start)
            k = i;
    memmove(&x->e[k], &x->e[k + 1], (x->n - k - 1) * sizeof x->e[0]);
    x->n--;
}

/* [s, e) was written: merged with the extents it overlaps or touches. Past
 * EXT_MAX the smallest extent is forgotten, so st_blocks errs low, never high. */
static void extent_add(struct extents *x, uint64_t s, uint64_t e)
{
    size_t i = 0, j;
    if (s >= e)
        return;
    while (i < x->n && x->e[i].end < s)
        i++;
    for (j = i; j < x->n && x->e[j].start <= e; j++) {
        if (x->e[j].start < s)
            s = x->e[j].start;
        if (x->e[j].end > e)
            e = x->e[j].end;
    }
    memmove(&x->e[i + 1], &x->e[j], (x->n - j) * sizeof x->e[0]);
    x->n = x->n - (j - i) + 1;
    x->e[i].start = s;
    x->e[i].end = e;
    extent_trim(x);
}

/* [s, e) was punched out: nothing there is stored any more. */
static void extent_punch(struct extents *x, uint64_t s, uint64_t e)
{
    struct extents y = { 0 };
    for (size_t i = 0; i < x->n; i++) {
        uint64_t a = x->e[i].start, b = x->e[i].end;
        if (b <= s || a >= e) {
            y.e[y.n].start = a;
            y.e[y.n++].end = b;
            continue;
        }
        if (a < s) {
            y.e[y.n].start = a;
            y.e[y.n++].end = s;
        }
        if (b > e) {   /* at most one extent is split: y.n <= EXT_MAX + 1 */
            y.e[y.n].start = e;
            y.e[y.n++].end = b;
        }
    }
    *x = y;
    extent_trim(x);
}

/* The file was cut to size: nothing past it is stored any more. */
static void extent_cut(struct extents *x, uint64_t size)
{
    size_t n = 0;
    while (n < x->n && x->e[n].start < size) {
        if (x->e[n].end > size)
            x->e[n].end = size;
        n++;
    }
    x->n = n;
}

/* Whether a tail of len bytes fits type. */
static int tail_ok(uint32_t type, const unsigned char *p, size_t len, uint64_t size)
{
    struct extents x;
    switch (type) {
    case S_IFLNK:
        return len > 0 && len <= BFS_SYMLINK_MAX;
    case S_IFCHR:
    case S_IFBLK:
        return len == 8;
    case S_IFREG:
        return decode_extents(p, len, size, &x) == 0;
    default:
        return len == 0;
    }
}

/* Decodes and checks a record; *t (if not NULL) gets its tail. */
static int decode_inode(uint64_t ino, const MDB_val *v, struct bfs_attr *a, struct rec_tail *t)
{
    const unsigned char *p = v->mv_data;
    if (v->mv_size < REC_HDR)
        return bad_record(ino, v->mv_size, "too short");
    if (p[0] != REC_VERSION)
        return bad_record(ino, v->mv_size, "unknown version");
    a->ino = ino;
    a->mode = get_le32(p + 1) & MODE_BITS;
    a->flags = get_le32(p + 1) >> FLAG_SHIFT;
    a->nlink = get_le32(p + 5);
    a->uid = get_le32(p + 9);
    a->gid = get_le32(p + 13);
    a->size = get_le64(p + 17);
    a->atime_ns = (int64_t)get_le64(p + 25);
    a->mtime_ns = (int64_t)get_le64(p + 33);
    a->ctime_ns = (int64_t)get_le64(p + 41);
    a->rdev = 0;
    a->blocks = 0;
    uint32_t type = a->mode & S_IFMT;
    if (!bfs_valid_type(type))
        return bad_record(ino, v->mv_size, "bad file type");
    struct rec_tail tail = { p + REC_HDR, v->mv_size - REC_HDR };
    if (!tail_ok(type, tail.p, tail.len, a->size))
        return bad_record(ino, v->mv_size, "bad length for its type");
    if (type == S_IFCHR || type == S_IFBLK)
        a->rdev = get_le64(tail.p);
    if (type == S_IFREG) {
        struct extents x;
        decode_extents(tail.p, tail.len, a->size, &x);
        a->blocks = extent_blocks(&x, a->size);
    }
    if (t)
        *t = tail;
    return 0;
}

int meta_decode_inode(uint64_t ino, const void *rec, size_t len, struct bfs_attr *out)
{
    MDB_val v = { len, (void *)rec };
    return decode_inode(ino, &v, out, NULL);
}

static int get_inode(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a,
                     struct rec_tail *t)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, ino);
    int rc = mdb_get(txn, m->inodes, &k, &v);
    if (rc)
        return db_err(rc, "get inode", ino);
    return decode_inode(ino, &v, a, t);
}

/* A regular file's attributes and extents (copied: good across puts). */
static int get_file(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a,
                    struct extents *x)
{
    struct rec_tail t;
    int rc = get_inode(m, txn, ino, a, &t);
    x->n = 0;
    if (rc == 0 && S_ISREG(a->mode))
        decode_extents(t.p, t.len, a->size, x);
    return rc;
}

/* A regular file's tail: nothing when x is all of [0, size) (or nothing and
 * size 0), else the list. x is within size (extent_cut). */
static size_t encode_extents(const struct extents *x, uint64_t size, unsigned char *p)
{
    size_t n = x ? x->n : 0;
    if (n == 0 ? size == 0 : n == 1 && x->e[0].start == 0 && x->e[0].end == size)
        return 0;
    put_le32(p, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put_le64(p + 4 + i * EXT_LEN, x->e[i].start);
        put_le64(p + 4 + i * EXT_LEN + 8, x->e[i].end);
    }
    return 4 + n * EXT_LEN;
}

/* Stores a's record. Its tail: target for a symlink, a->rdev for a device, x's
 * extents for a regular file (NULL: none), nothing otherwise. */
static int put_inode(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a,
                     const char *target, size_t tlen, const struct extents *x)
{
    unsigned char kb[8], buf[REC_HDR + BFS_SYMLINK_MAX];
    size_t n = 0;
    buf[0] = REC_VERSION;
    put_le32(buf + 1, (a->mode & MODE_BITS) | a->flags << FLAG_SHIFT);
    put_le32(buf + 5, a->nlink);
    put_le32(buf + 9, a->uid);
    put_le32(buf + 13, a->gid);
    put_le64(buf + 17, a->size);
    put_le64(buf + 25, (uint64_t)a->atime_ns);
    put_le64(buf + 33, (uint64_t)a->mtime_ns);
    put_le64(buf + 41, (uint64_t)a->ctime_ns);
    switch (a->mode & S_IFMT) {
    case S_IFLNK:   /* copied before the put, which may move the source */
        memcpy(buf + REC_HDR, target, tlen);
        n = tlen;
        break;
    case S_IFCHR:
    case S_IFBLK:
        put_le64(buf + REC_HDR, a->rdev);
        n = 8;
        break;
    case S_IFREG:
        n = encode_extents(x, a->size, buf + REC_HDR);
        break;
    default:
        break;
    }
    put_be64(kb, a->ino);
    MDB_val k = { 8, kb }, v = { REC_HDR + n, buf };
    int rc = mdb_put(txn, m->inodes, &k, &v, 0);
    return rc ? db_err(rc, "put inode", a->ino) : 0;
}

/* Rewrites an existing record with new attributes, keeping its tail. A
 * symlink's target and a file's extents are fetched again here rather than
 * carried by callers: a pointer into a page is only good until the next put,
 * and callers put other records in between. */
static int update_inode(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a)
{
    struct bfs_attr old;
    struct rec_tail t = { NULL, 0 };
    struct extents x = { 0 };
    if (S_ISLNK(a->mode) || S_ISREG(a->mode)) {
        int rc = get_inode(m, txn, a->ino, &old, &t);
        if (rc)
            return rc;
        if (S_ISREG(a->mode))
            decode_extents(t.p, t.len, old.size, &x);
    }
    return put_inode(m, txn, a, (const char *)t.p, t.len, &x);
}

/* flags: the record's BFS_ATTR_*: its extended attributes go too. */
static int del_inode(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint32_t flags)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    put_be64(kb, ino);
    int rc = mdb_del(txn, m->inodes, &k, NULL);
    if (rc)
        return db_err(rc, "delete inode", ino);
    rc = mdb_del(txn, m->orphans, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return db_err(rc, "delete orphan", ino);
    rc = mdb_del(txn, m->parents, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return db_err(rc, "delete parent", ino);
    if ((flags & BFS_ATTR_XATTRS) && (rc = xattr_drop_all(m, txn, ino)))
        return rc;
    return del_inline(m, txn, ino);
}

int meta_inode_get(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a)
{
    return get_inode(m, txn, ino, a, NULL);
}

int meta_inode_update(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a)
{
    return update_inode(m, txn, a);
}

static int note_orphan(struct meta_store *m, MDB_txn *txn, uint64_t ino, int orphan)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v = { 0, kb };
    put_be64(kb, ino);
    int rc = orphan ? mdb_put(txn, m->orphans, &k, &v, 0) : mdb_del(txn, m->orphans, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? db_err(rc, "update orphans", ino) : 0;
}

/* ---- info ---- */

static int info_get(struct meta_store *m, MDB_txn *txn, const char *key, uint64_t *val)
{
    MDB_val k = { strlen(key), (void *)key }, v;
    int rc = mdb_get(txn, m->info, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? -ENOENT : db_err(rc, key, 0);
    if (v.mv_size != 8) {
        log_error("meta: %s: info '%s' has %zu bytes, want 8", m->path, key, v.mv_size);
        return -EIO;
    }
    *val = get_le64(v.mv_data);
    return 0;
}

static int info_put(struct meta_store *m, MDB_txn *txn, const char *key, uint64_t val)
{
    unsigned char b[8];
    MDB_val k = { strlen(key), (void *)key }, v = { 8, b };
    put_le64(b, val);
    int rc = mdb_put(txn, m->info, &k, &v, 0);
    return rc ? db_err(rc, key, 0) : 0;
}

/* Takes the next inode number; the counter is saved in the caller's transaction. */
static int alloc_ino(struct meta_store *m, MDB_txn *txn, uint64_t *ino)
{
    uint64_t next;
    int rc = info_get(m, txn, "next_ino", &next);
    if (rc)
        return rc == -ENOENT ? -EIO : rc;
    if (next == 0 || next >= COUNTER_LIMIT) {
        log_error("meta: %s: inode numbers exhausted (next %" PRIu64 ")", m->path, next);
        return -ENOSPC;
    }
    *ino = (uint64_t)m->node_id << BFS_INO_NODE_SHIFT | next;
    return info_put(m, txn, "next_ino", next + 1);
}

/* ---- directory entries ---- */

static int decode_dent(const MDB_val *v, uint64_t parent, uint64_t *ino, uint32_t *type)
{
    const unsigned char *p = v->mv_data;
    if (v->mv_size != DENT_VAL || !bfs_valid_type(get_le32(p + 8)) || get_le64(p) == 0) {
        log_error("meta: ino 0x%" PRIx64 ": corrupt directory entry (%zu bytes)", parent,
                  v->mv_size);
        return -EIO;
    }
    *ino = get_le64(p);
    *type = get_le32(p + 8);
    return 0;
}

static int get_dent(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                    size_t len, uint64_t *ino, uint32_t *type)
{
    unsigned char kb[DKEY_MAX];
    MDB_val k = { dkey(kb, parent, name, len), kb }, v;
    int rc = mdb_get(txn, m->dentries, &k, &v);
    if (rc)
        return db_err(rc, "get entry", parent);
    return decode_dent(&v, parent, ino, type);
}

static int put_dent(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                    size_t len, uint64_t ino, uint32_t type, unsigned flags)
{
    unsigned char kb[DKEY_MAX], vb[DENT_VAL];
    MDB_val k = { dkey(kb, parent, name, len), kb }, v = { DENT_VAL, vb };
    put_le64(vb, ino);
    put_le32(vb + 8, type);
    int rc = mdb_put(txn, m->dentries, &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return -EEXIST;
    return rc ? db_err(rc, "put entry", parent) : 0;
}

static int del_dent(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                    size_t len)
{
    unsigned char kb[DKEY_MAX];
    MDB_val k = { dkey(kb, parent, name, len), kb };
    int rc = mdb_del(txn, m->dentries, &k, NULL);
    return rc ? db_err(rc, "delete entry", parent) : 0;
}

static int has_entries(struct meta_store *m, MDB_txn *txn, uint64_t dir)
{
    MDB_cursor *cur;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, dir);
    int rc = mdb_cursor_open(txn, m->dentries, &cur);
    if (rc)
        return db_err(rc, "open cursor", dir);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return db_err(rc, "seek entries", dir);
    return k.mv_size > DKEY_HDR && get_be64(k.mv_data) == dir;
}

/* ---- shared steps of the namespace operations ---- */

/* The fence on directory dir here: 0 (none), META_FENCE_HELD or META_FENCE_DEAD,
 * with the intent holding it in *intent (if not NULL); -EIO for a bad record. */
static int fence_of(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t *intent)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    if (!m->fences_seen)
        return 0;   /* a store that never had one (every single server): no lookup */
    put_be64(kb, dir);
    int rc = mdb_get(txn, m->fences, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return db_err(rc, "get fence", dir);
    const unsigned char *p = v.mv_data;
    if (v.mv_size != FENCE_VAL || (p[0] != META_FENCE_HELD && p[0] != META_FENCE_DEAD)) {
        log_error("meta: ino 0x%" PRIx64 ": corrupt fence (%zu bytes)", dir, v.mv_size);
        return -EIO;
    }
    if (intent)
        *intent = get_le64(p + 5);
    return p[0];
}

static int put_parent(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t parent)
{
    unsigned char kb[8], vb[8];
    MDB_val k = { 8, kb }, v = { 8, vb };
    put_be64(kb, dir);
    put_le64(vb, parent);
    int rc = mdb_put(txn, m->parents, &k, &v, 0);
    return rc ? db_err(rc, "put parent", dir) : 0;
}

/* A parent must take entries to gain one: not removed (a tombstone: -ENOENT) or
 * fenced (META_FENCED) here, and if it lives here a live directory; one that lives
 * elsewhere is checked on its owner. *a gets a local parent's attributes (a->ino
 * is 0 for a parent elsewhere). */
static int get_parent(struct meta_store *m, MDB_txn *txn, uint64_t parent, struct bfs_attr *a)
{
    a->ino = 0;
    int rc = fence_of(m, txn, parent, NULL);
    if (rc == META_FENCE_DEAD)
        return -ENOENT;   /* removed: its inode may live on another node */
    if (rc == META_FENCE_HELD)
        return META_FENCED;
    if (rc < 0 || !is_local(m, parent))
        return rc;
    if ((rc = get_inode(m, txn, parent, a, NULL)))
        return rc;
    if (!S_ISDIR(a->mode))
        return -ENOTDIR;
    return a->nlink == 0 ? -ENOENT : 0;   /* removed, still open */
}

static int check_parent(struct meta_store *m, MDB_txn *txn, uint64_t parent)
{
    struct bfs_attr a;
    return get_parent(m, txn, parent, &a);
}

/* Entries of a local directory changed: mtime = ctime = now, nlink += delta
 * (subdirectories' ".."). A missing record is tolerated so that dangling entries
 * can still be removed. */
static int touch_dir(struct meta_store *m, MDB_txn *txn, uint64_t dir, int delta, int64_t now)
{
    struct bfs_attr a;
    if (!is_local(m, dir))
        return 0;
    int rc = get_inode(m, txn, dir, &a, NULL);
    if (rc == -ENOENT) {
        log_warn("meta: ino 0x%" PRIx64 ": parent directory has no record", dir);
        return 0;
    }
    if (rc)
        return rc;
    if (delta < 0 && a.nlink > 2)
        a.nlink--;
    else if (delta > 0 && a.nlink > 0)
        a.nlink++;
    a.mtime_ns = a.ctime_ns = now;
    return update_inode(m, txn, &a);
}

/* ino lost one name (or, for a removed directory, all of them): drop its nlink and
 * delete it at 0 unless a client still has it open. */
static int drop_link(struct meta_store *m, MDB_txn *txn, uint64_t ino, int whole_dir,
                     int keep_orphan, int64_t now, struct meta_drop *drop)
{
    struct bfs_attr a;
    drop->ino = ino;
    if (!is_local(m, ino)) {
        drop->remote = 1;
        return 0;
    }
    int rc = get_inode(m, txn, ino, &a, NULL);
    if (rc == -ENOENT) {
        log_warn("meta: ino 0x%" PRIx64 ": entry pointed to a missing inode", ino);
        return 0;
    }
    if (rc)
        return rc;
    drop->size = a.size;
    if (a.nlink == 0) {
        log_warn("meta: ino 0x%" PRIx64 ": link dropped from an inode with nlink 0", ino);
        return 0;
    }
    /* A directory's only name goes with its "." link: nothing is left. */
    if (whole_dir || (S_ISDIR(a.mode) && a.nlink <= 2))
        a.nlink = 0;
    else
        a.nlink--;
    a.ctime_ns = now;
    if (a.nlink > 0)
        return update_inode(m, txn, &a);
    if (keep_orphan) {
        rc = update_inode(m, txn, &a);
        return rc ? rc : note_orphan(m, txn, ino, 1);
    }
    drop->freed = 1;
    return del_inode(m, txn, ino, a.flags);
}

/* ---- open / close ---- */

static int open_dbs(struct meta_store *m, MDB_txn *txn)
{
    const struct { const char *name; MDB_dbi *dbi; } dbs[] = {
        { "info", &m->info }, { "inodes", &m->inodes },
        { "dentries", &m->dentries }, { "orphans", &m->orphans }, { "inline", &m->inl },
        { "intents", &m->intents }, { "applied", &m->applied }, { "fences", &m->fences },
        { "parents", &m->parents }, { "xattrs", &m->xattrs },
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc)
            return db_err(rc, dbs[i].name, 0);
    }
    return 0;
}

/* Upgrade from format 1: every regular file has its chunk 0 in a chunk file, so
 * each gets a chunk-mode record (a record that cannot be decoded gets one too:
 * for any other inode it is never looked at). */
static int mark_old_files(struct meta_store *m, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t n = 0;
    int rc = mdb_cursor_open(txn, m->inodes, &cur);
    if (rc)
        return db_err(rc, "open cursor", 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *p = v.mv_data;
        if (k.mv_size != 8 ||
            (v.mv_size >= REC_HDR && p[0] == REC_VERSION && !S_ISREG(get_le32(p + 1))))
            continue;
        if ((rc = put_inline(m, txn, get_be64(k.mv_data), INLINE_CHUNKS, 0)))
            goto out;
        n++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : db_err(rc, "scan inodes", 0);
    log_info("meta: %s: %" PRIu64 " files from before inline data marked chunk mode", m->path, n);
out:
    mdb_cursor_close(cur);
    return rc;
}

/* Checks an existing store against this server, or stamps a new one. */
static int init_info(struct meta_store *m, MDB_txn *txn, uint32_t chunk_size, int *fresh)
{
    uint64_t fmt, node, chunk;
    int rc = info_get(m, txn, "format", &fmt);
    if (rc == -ENOENT) {
        *fresh = 1;
        if ((rc = info_put(m, txn, "format", META_FORMAT)) ||
            (rc = info_put(m, txn, "node_id", m->node_id)) ||
            (rc = info_put(m, txn, "chunk_size", chunk_size)))
            return rc;
        /* Counter 1 on node 0 is the root, ino 1. */
        return info_put(m, txn, "next_ino", m->node_id == 0 ? 2 : 1);
    }
    if (rc)
        return rc;
    *fresh = 0;
    if (fmt > META_FORMAT || fmt == 0) {
        log_error("meta: %s: format version %" PRIu64 ", this server reads %d", m->path, fmt,
                  META_FORMAT);
        return -EINVAL;
    }
    if ((rc = info_get(m, txn, "node_id", &node)) || (rc = info_get(m, txn, "chunk_size", &chunk)))
        return rc == -ENOENT ? -EIO : rc;
    if (node != m->node_id) {
        log_error("meta: %s: store belongs to node %" PRIu64 ", not node %" PRIu32, m->path,
                  node, m->node_id);
        return -EINVAL;
    }
    if (chunk != chunk_size) {
        log_error("meta: %s: store uses chunk size %" PRIu64 ", not %" PRIu32, m->path, chunk,
                  chunk_size);
        return -EINVAL;
    }
    if (fmt == 1) {
        log_info("meta: %s: upgrading format 1 to %d (inline data)", m->path, META_FORMAT);
        if ((rc = mark_old_files(m, txn)))
            return rc;
    } else if (fmt == 2) {
        log_info("meta: %s: upgrading format 2 to %d (special files, extents)", m->path,
                 META_FORMAT);
    } else if (fmt == 3) {
        log_info("meta: %s: upgrading format 3 to %d (extended attributes)", m->path, META_FORMAT);
    }
    /* Stamped anew, so that an older server, blind to the inline data, the
     * special files and the extents written from now on, refuses the store. */
    if (fmt != META_FORMAT)
        return info_put(m, txn, "format", META_FORMAT);
    return 0;
}

static int init_root(struct meta_store *m, MDB_txn *txn, int fresh)
{
    struct bfs_attr root;
    int rc = get_inode(m, txn, BFS_ROOT_INO, &root, NULL);
    if (rc != -ENOENT)
        return rc;
    if (!fresh)
        log_warn("meta: %s: root directory missing, recreating it", m->path);
    int64_t now = bfs_wall_ns();
    root = (struct bfs_attr){ .ino = BFS_ROOT_INO, .mode = S_IFDIR | 0755, .nlink = 2,
                              .atime_ns = now, .mtime_ns = now, .ctime_ns = now };
    return put_inode(m, txn, &root, NULL, 0, NULL);
}

int meta_open(const char *dir, uint32_t node_id, uint32_t chunk_size, struct meta_store **out)
{
    struct meta_store *m;
    MDB_txn *txn;
    int rc, fresh = 0;

    *out = NULL;
    if (node_id >= 1u << (64 - BFS_INO_NODE_SHIFT) || chunk_size == 0) {
        log_error("meta: %s: bad node id %" PRIu32 " or chunk size %" PRIu32, dir, node_id,
                  chunk_size);
        return -EINVAL;
    }
    if (!(m = calloc(1, sizeof *m)))
        return -ENOMEM;
    m->node_id = node_id;
    m->inline_max = chunk_size < INLINE_MAX ? chunk_size : INLINE_MAX;
    if (!(m->scratch = malloc(1 + m->inline_max))) {
        free(m);
        return -ENOMEM;
    }
    if ((size_t)snprintf(m->path, sizeof m->path, "%s/meta.lmdb", dir) >= sizeof m->path) {
        log_error("meta: %s: path too long", dir);
        free(m->scratch);
        free(m);
        return -ENAMETOOLONG;
    }
    if ((rc = mdb_env_create(&m->env))) {
        free(m->scratch);
        free(m);
        return db_err(rc, "create env", 0);
    }
    /* The map starts at the file's size (LMDB's file is the map with MDB_WRITEMAP). */
    struct stat sb;
    size_t map = META_MAP_MIN;
    if (stat(m->path, &sb) == 0 && (size_t)sb.st_size > map)
        map = ((size_t)sb.st_size + (1u << 20) - 1) & ~(((size_t)1 << 20) - 1);
    if ((rc = mdb_env_set_maxdbs(m->env, META_DBS)) || (rc = mdb_env_set_mapsize(m->env, map)) ||
        (rc = mdb_env_open(m->env, m->path,
                           MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS | MDB_WRITEMAP, 0600)) ||
        (rc = mdb_env_get_fd(m->env, &m->fd))) {
        rc = db_err(rc, m->path, 0);
        goto fail;
    }
    MDB_envinfo info;
    MDB_stat st;
    if ((rc = mdb_env_info(m->env, &info)) || (rc = mdb_env_stat(m->env, &st))) {
        rc = db_err(rc, m->path, 0);
        goto fail;
    }
    m->psize = st.ms_psize;
    if ((rc = allocate_map(m, 0, info.me_mapsize)))
        goto fail;
    if (mdb_env_get_maxkeysize(m->env) < DKEY_MAX) {
        log_error("meta: %s: LMDB key limit %d < %d", m->path, mdb_env_get_maxkeysize(m->env),
                  DKEY_MAX);
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = wr_begin(m, &txn)))
        goto fail;
    if (!(rc = open_dbs(m, txn)) && !(rc = init_info(m, txn, chunk_size, &fresh)) && node_id == 0)
        rc = init_root(m, txn, fresh);
    MDB_stat fst;
    if (rc == 0 && (rc = mdb_stat(txn, m->fences, &fst)))
        rc = db_err(rc, "fences", 0);
    m->fences_seen = rc == 0 && fst.ms_entries > 0;
    if ((rc = wr_end(txn, rc)))
        goto fail;
    *out = m;
    return 0;
fail:
    log_error("meta: %s: cannot open metadata store: %s", m->path, strerror(-rc));
    mdb_env_close(m->env);
    free(m->scratch);
    free(m);
    return rc;
}

void meta_close(struct meta_store *m)
{
    if (!m)
        return;
    if (m->rtxn)
        mdb_txn_abort(m->rtxn);
    int rc = mdb_env_sync(m->env, 1);
    if (rc)
        log_error("meta: %s: sync: %s", m->path, mdb_strerror(rc));
    mdb_env_close(m->env);
    free(m->scratch);
    free(m);
}

int meta_fd(struct meta_store *m)
{
    return m->fd;
}

int meta_sync(struct meta_store *m)
{
    int rc = mdb_env_sync(m->env, 1);
    return rc ? db_err(rc, "sync", 0) : 0;
}

uint64_t meta_inode_count(struct meta_store *m)
{
    MDB_txn *txn;
    MDB_stat st;
    if (rd_begin(m, &txn))
        return 0;
    int rc = mdb_stat(txn, m->inodes, &st);
    rd_end(m);
    return rc ? 0 : st.ms_entries;
}

/* ---- reads ---- */

int meta_lookup(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                uint64_t *ino, uint32_t *type)
{
    MDB_txn *txn;
    int rc = check_name(name, len);
    if (rc || (rc = rd_begin(m, &txn)))
        return rc;
    rc = get_dent(m, txn, parent, name, len, ino, type);
    rd_end(m);
    return rc;
}

int meta_getattr(struct meta_store *m, uint64_t ino, struct bfs_attr *out)
{
    MDB_txn *txn;
    int rc = rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = get_inode(m, txn, ino, out, NULL);
    rd_end(m);
    return rc;
}

/* *len gets the bytes copied, so a caller never reads past what it got. */
int meta_readlink(struct meta_store *m, uint64_t ino, char *buf, size_t size, size_t *len)
{
    MDB_txn *txn;
    struct bfs_attr a;
    struct rec_tail t;
    int rc = rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = get_inode(m, txn, ino, &a, &t);
    if (rc == 0 && !S_ISLNK(a.mode))
        rc = -EINVAL;
    if (rc == 0) {
        *len = t.len < size ? t.len : size;
        if (*len)
            memcpy(buf, t.p, *len);
    }
    rd_end(m);
    return rc;
}

int meta_has_entries(struct meta_store *m, uint64_t parent)
{
    MDB_txn *txn;
    int rc = rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = has_entries(m, txn, parent);
    rd_end(m);
    return rc;
}

size_t meta_dentry_key(uint64_t parent, const char *name, size_t len, unsigned char *out)
{
    return dkey(out, parent, name, len);
}

/* The tables this store keeps; the others read as empty (fences, intents, applied,
 * parents: map them here once this store keeps them). */
static int scan_dbi(const struct meta_store *m, int table, MDB_dbi *dbi)
{
    switch (table) {
    case META_T_INFO: *dbi = m->info; return 0;
    case META_T_INODES: *dbi = m->inodes; return 0;
    case META_T_DENTRIES: *dbi = m->dentries; return 0;
    case META_T_ORPHANS: *dbi = m->orphans; return 0;
    case META_T_INLINE: *dbi = m->inl; return 0;
    case META_T_FENCES: *dbi = m->fences; return 0;
    case META_T_INTENTS: *dbi = m->intents; return 0;
    case META_T_APPLIED: *dbi = m->applied; return 0;
    case META_T_PARENTS: *dbi = m->parents; return 0;
    case META_T_XATTRS: *dbi = m->xattrs; return 0;
    default: return -EINVAL;
    }
}

#define SCAN_REC_HDR 6      /* u16 key length | u32 value length */

int meta_scan(struct meta_store *m, int table, const void *after, size_t after_len,
              void *out, size_t size, size_t *used, size_t *count, int *eof)
{
    MDB_dbi dbi;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k = { after_len, (void *)after }, v;
    unsigned char *o = out;
    *used = *count = 0;
    *eof = 1;
    int rc = scan_dbi(m, table, &dbi);
    if (rc)
        return rc == -ENOENT ? 0 : rc;
    if (after_len > 511)    /* longer than any key LMDB takes */
        return -EINVAL;
    if ((rc = rd_begin(m, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) {
        rd_end(m);
        return db_err(rc, "open cursor", 0);
    }
    if (after_len == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        /* SET_RANGE lands on the first key >= after: skip after itself */
        if (rc == 0 && k.mv_size == after_len && memcmp(k.mv_data, after, after_len) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        size_t need = SCAN_REC_HDR + k.mv_size + v.mv_size;
        if (k.mv_size > UINT16_MAX || v.mv_size > UINT32_MAX || need > size - *used) {
            *eof = 0;
            break;
        }
        unsigned char *p = o + *used;
        put_le16(p, (uint16_t)k.mv_size);
        put_le32(p + 2, (uint32_t)v.mv_size);
        memcpy(p + SCAN_REC_HDR, k.mv_data, k.mv_size);
        memcpy(p + SCAN_REC_HDR + k.mv_size, v.mv_data, v.mv_size);
        *used += need;
        ++*count;
    }
    if (rc == MDB_NOTFOUND || rc == 0)
        rc = (!*eof && *count == 0) ? -EMSGSIZE : 0;
    else
        rc = db_err(rc, "scan", 0);
    mdb_cursor_close(cur);
    rd_end(m);
    return rc;
}

/* Entries come in key order, i.e. by name hash. Resuming at cookie+1 skips every
 * entry with hash <= cookie, so entries sharing a hash (a collision) must all land
 * in the same page: a page that would split such a group ends before it instead. */
int meta_readdir(struct meta_store *m, uint64_t parent, uint64_t cookie,
                 struct bfs_dirent *out, size_t max, size_t *n, int *eof)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    unsigned char kb[DKEY_HDR];
    MDB_val k = { DKEY_HDR, kb }, v;
    size_t cnt = 0;
    int rc;

    *n = 0;
    *eof = 1;
    if (max == 0)
        return -EINVAL;
    if (cookie >= HASH_LIMIT - 1)   /* past the last possible hash */
        return 0;
    if ((rc = rd_begin(m, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, m->dentries, &cur))) {
        rc = db_err(rc, "open cursor", parent);
        goto out;
    }
    put_be64(kb, parent);
    put_be64(kb + 8, cookie + 1);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *kp = k.mv_data;
        if (k.mv_size < 8 || get_be64(kp) != parent)
            break;
        uint64_t hash = k.mv_size > DKEY_HDR ? get_be64(kp + 8) : 0;
        size_t nlen = k.mv_size - DKEY_HDR;
        if (hash < 3 || hash >= HASH_LIMIT || nlen > BFS_NAME_MAX) {
            log_error("meta: ino 0x%" PRIx64 ": corrupt directory entry key (%zu bytes)",
                      parent, k.mv_size);
            rc = -EIO;
            goto out;
        }
        if (cnt == max) {   /* full, and more follow */
            *eof = 0;
            if (hash == out[cnt - 1].cookie) {
                while (cnt > 0 && out[cnt - 1].cookie == hash)
                    cnt--;
                if (cnt == 0) {
                    log_warn("meta: ino 0x%" PRIx64 ": %zu entries share hash 0x%" PRIx64
                             ", more than a page of %zu", parent, max + 1, hash, max);
                    rc = -EOVERFLOW;
                    goto out;
                }
            }
            break;
        }
        struct bfs_dirent *d = &out[cnt];
        if ((rc = decode_dent(&v, parent, &d->ino, &d->type)))
            goto out;
        d->cookie = hash;
        memcpy(d->name, kp + DKEY_HDR, nlen);
        d->name[nlen] = '\0';
        cnt++;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    else if (rc)
        rc = db_err(rc, "read entries", parent);
out:
    if (cur)
        mdb_cursor_close(cur);
    rd_end(m);
    if (rc == 0)
        *n = cnt;
    else
        *eof = 1;
    return rc;
}

/* ---- writes ---- */

/* The size checks of a SETATTR: only a regular file has data to cut or grow,
 * and a size is an off_t (a larger one came from a broken or hostile client). */
static int check_size_change(const struct bfs_attr *a, uint32_t mask, const struct bfs_attr *in)
{
    if (!(mask & (BFS_SET_SIZE | BFS_SET_SIZE_GROW)))
        return 0;
    if (S_ISDIR(a->mode))
        return -EISDIR;
    if (!S_ISREG(a->mode))
        return -EINVAL;
    if (in->size > (uint64_t)INT64_MAX)
        return (mask & BFS_SET_SIZE) ? -EINVAL : -EFBIG;   /* as truncate(2) / write(2) */
    return 0;
}

/* meta_setattr, and with BFS_SET_SIZE_GROW the bytes [from, in->size) count as
 * written (from >= in->size: none). */
static int setattr_txn(struct meta_store *m, uint64_t ino, uint32_t mask,
                       const struct bfs_attr *in, uint64_t from, int64_t now_ns,
                       struct bfs_attr *out, struct bfs_attr *before)
{
    MDB_txn *txn;
    struct bfs_attr a, old;   /* after and before the change */
    struct extents x;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = get_file(m, txn, ino, &a, &x)) || (rc = check_size_change(&a, mask, in)))
        goto out;
    old = a;
    if (mask & BFS_SET_MODE)
        a.mode = (a.mode & S_IFMT) | (in->mode & 07777);
    if (mask & BFS_SET_UID)
        a.uid = in->uid;
    if (mask & BFS_SET_GID)
        a.gid = in->gid;
    if (mask & BFS_SET_SIZE) {
        a.size = in->size;
        a.mtime_ns = now_ns;
        extent_cut(&x, a.size);
        if ((rc = cut_inline(m, txn, ino, a.size)))
            goto out;
    }
    if ((mask & BFS_SET_SIZE_GROW)) {
        if (in->size > a.size)
            a.size = in->size;
        extent_add(&x, from, in->size);
        a.mtime_ns = now_ns;   /* a write happened even if it did not extend */
    }
    if (mask & BFS_SET_ATIME_NOW)
        a.atime_ns = now_ns;
    else if (mask & BFS_SET_ATIME)
        a.atime_ns = in->atime_ns;
    if (mask & BFS_SET_MTIME_NOW)
        a.mtime_ns = now_ns;
    else if (mask & BFS_SET_MTIME)
        a.mtime_ns = in->mtime_ns;
    if (mask)
        a.ctime_ns = (mask & BFS_SET_CTIME) ? in->ctime_ns : now_ns;
    /* The access ACL follows a chmod (posix_acl_chmod: the kernel leaves it to us). */
    if ((mask & BFS_SET_MODE) && (a.flags & BFS_ATTR_ACL) && (rc = xattr_chmod(m, txn, &a)))
        goto out;
    if (S_ISREG(a.mode)) {
        a.blocks = extent_blocks(&x, a.size);
        rc = mask ? put_inode(m, txn, &a, NULL, 0, &x) : 0;
    } else {
        rc = mask ? update_inode(m, txn, &a) : 0;
    }
out:
    if ((rc = wr_end(txn, rc)) == 0) {
        if (out)
            *out = a;
        if (before)
            *before = old;
    }
    return rc;
}

/* Linux's relatime rule: a read records its time only when the last one
 * predates the last change, or is a day old. */
static int relatime_due(const struct bfs_attr *a, int64_t now_ns)
{
    return a->atime_ns <= a->mtime_ns || a->atime_ns <= a->ctime_ns ||
           now_ns - a->atime_ns >= 24 * 3600 * 1000000000LL;
}

int meta_read_atime(struct meta_store *m, uint64_t ino, int relatime, int64_t now_ns,
                    struct bfs_attr *out, int *touched)
{
    struct bfs_attr a;
    MDB_txn *txn;
    *touched = 0;
    /* Mostly nothing is due: a read transaction, no commit. */
    int rc = meta_getattr(m, ino, &a);
    if (rc == 0 && relatime && !relatime_due(&a, now_ns)) {
        *out = a;
        return 0;
    }
    if (rc || (rc = wr_begin(m, &txn)))
        return rc;
    if ((rc = get_inode(m, txn, ino, &a, NULL)) == 0) {
        a.atime_ns = now_ns;
        rc = update_inode(m, txn, &a);
    }
    if ((rc = wr_end(txn, rc)) == 0) {
        *out = a;
        *touched = 1;
    }
    return rc;
}

int meta_setattr(struct meta_store *m, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                 int64_t now_ns, struct bfs_attr *out, struct bfs_attr *before)
{
    return setattr_txn(m, ino, mask, in, UINT64_MAX, now_ns, out, before);
}

int meta_wrote(struct meta_store *m, uint64_t ino, uint64_t off, uint64_t end, int64_t now_ns,
               struct bfs_attr *out, struct bfs_attr *before)
{
    struct bfs_attr in = { .size = end };
    if (off > end)
        return -EINVAL;
    return setattr_txn(m, ino, BFS_SET_SIZE_GROW, &in, off, now_ns, out, before);
}

int meta_fallocate(struct meta_store *m, uint64_t ino, uint64_t off, uint64_t len, int mode,
                   int64_t now_ns, struct bfs_attr *out)
{
    MDB_txn *txn;
    struct bfs_attr a;
    struct extents x;
    const unsigned char *data;
    size_t have;
    int punch = !!(mode & FALLOC_FL_PUNCH_HOLE), zero = !!(mode & FALLOC_FL_ZERO_RANGE);
    if (len == 0 || off > (uint64_t)INT64_MAX)
        return -EINVAL;
    if (len > (uint64_t)INT64_MAX - off)
        return -EFBIG;
    uint64_t end = off + len;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = get_file(m, txn, ino, &a, &x)) || (rc = check_regular(&a)))
        goto out;
    int changed = 0;
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > a.size) {
        a.size = end;
        changed = 1;
    }
    if (punch) {
        extent_punch(&x, off, end);
    } else {
        extent_add(&x, off, end < a.size ? end : a.size);
        extent_cut(&x, a.size);
    }
    if ((punch || zero) && (rc = get_inline(m, txn, ino, &data, &have)) == 0 && off < have) {
        /* Inline bytes in the range read as zeros from now on. */
        size_t to = end < have ? (size_t)end : have;
        memcpy(m->scratch + 1, data, have);
        memset(m->scratch + 1 + off, 0, to - (size_t)off);
        rc = put_inline(m, txn, ino, INLINE_DATA, have);
    }
    if (rc == META_CHUNKS)
        rc = 0;
    if (rc)
        goto out;
    if (changed || punch || zero)
        a.mtime_ns = a.ctime_ns = now_ns;
    a.blocks = extent_blocks(&x, a.size);
    rc = put_inode(m, txn, &a, NULL, 0, &x);
out:
    if ((rc = wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}

/* What a new inode of mode's type is: mode and size (a symlink's is its
 * target's length), rdev for a device. -ENOENT, -ENAMETOOLONG, -EINVAL for bad
 * targets, as symlink(2) says them. */
static int new_inode(uint32_t mode, uint64_t rdev, const char *target, size_t target_len,
                     struct bfs_attr *a)
{
    uint32_t type = mode & S_IFMT;
    if (!bfs_valid_type(type))
        return -EINVAL;
    if (type == S_IFLNK) {
        if (target_len == 0)
            return -ENOENT;   /* what symlink(2) says of "" */
        if (target_len > BFS_SYMLINK_MAX)
            return -ENAMETOOLONG;
        if (memchr(target, '\0', target_len))
            return -EINVAL;
        a->mode = S_IFLNK | 0777;   /* a symlink's permissions are never used */
        a->size = target_len;
    } else {
        a->mode = type | (mode & 07777);
    }
    a->rdev = (type == S_IFCHR || type == S_IFBLK) ? rdev : 0;
    a->nlink = type == S_IFDIR ? 2 : 1;
    return 0;
}

int meta_mknod(struct meta_store *m, uint64_t parent, const char *name, size_t len,
               uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
               const char *target, size_t target_len, int64_t now_ns, struct bfs_attr *out)
{
    return meta_mknod_inherit(m, parent, name, len, mode, rdev, uid, gid, target, target_len,
                              NULL, now_ns, out);
}

int meta_mknod_inherit(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                       uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
                       const char *target, size_t target_len, const struct meta_inherit *ih,
                       int64_t now_ns, struct bfs_attr *out)
{
    MDB_txn *txn;
    struct bfs_attr a = { .uid = uid, .gid = gid, .atime_ns = now_ns, .mtime_ns = now_ns,
                          .ctime_ns = now_ns };
    uint32_t type = mode & S_IFMT;
    int rc = check_name(name, len);
    if (rc || (rc = new_inode(mode, rdev, target, target_len, &a)))
        return rc;
    if (type != S_IFLNK)
        target_len = 0;

    if ((rc = wr_begin(m, &txn)))
        return rc;
    struct bfs_attr p;
    if ((rc = get_parent(m, txn, parent, &p)))
        goto out;
    if (p.ino && (p.mode & S_ISGID)) {
        a.gid = p.gid;
        if (type == S_IFDIR)
            a.mode |= S_ISGID;
    }
    if ((rc = alloc_ino(m, txn, &a.ino)) ||
        (rc = put_dent(m, txn, parent, name, len, a.ino, type, MDB_NOOVERWRITE)) ||
        (rc = xattr_inherit(m, txn, &p, &a, ih)) ||
        (rc = put_inode(m, txn, &a, target, target_len, NULL)) ||
        (type == S_IFDIR && (rc = put_parent(m, txn, a.ino, parent))))
        goto out;
    rc = touch_dir(m, txn, parent, type == S_IFDIR, now_ns);
out:
    if ((rc = wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}

int meta_create(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                uint32_t mode, uint32_t uid, uint32_t gid,
                const char *target, size_t target_len, int64_t now_ns, struct bfs_attr *out)
{
    return meta_mknod(m, parent, name, len, mode, 0, uid, gid, target, target_len, now_ns, out);
}

int meta_link(struct meta_store *m, uint64_t ino, uint32_t type, uint64_t parent,
              const char *name, size_t len, int64_t now_ns, struct bfs_attr *out, int *remote)
{
    MDB_txn *txn;
    struct bfs_attr a = { .ino = ino };
    int rc = check_name(name, len);
    if (rc)
        return rc;
    *remote = !is_local(m, ino);
    if (ino == 0 || !bfs_valid_type(type & S_IFMT))
        return -EINVAL;
    if ((rc = wr_begin(m, &txn)))
        return rc;
    if ((rc = check_parent(m, txn, parent)))
        goto out;
    if (!*remote) {
        if ((rc = get_inode(m, txn, ino, &a, NULL)))
            goto out;
        type = a.mode & S_IFMT;   /* the record knows better than the caller */
        if (a.nlink == 0 || a.nlink == UINT32_MAX) {
            rc = a.nlink ? -EMLINK : -ENOENT;
            goto out;
        }
    }
    if ((type & S_IFMT) == S_IFDIR) {
        rc = -EPERM;
        goto out;
    }
    if ((rc = put_dent(m, txn, parent, name, len, ino, type & S_IFMT, MDB_NOOVERWRITE)))
        goto out;
    if (!*remote) {
        a.nlink++;
        a.ctime_ns = now_ns;
        if ((rc = update_inode(m, txn, &a)))
            goto out;
    }
    rc = touch_dir(m, txn, parent, 0, now_ns);
out:
    if ((rc = wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}

int meta_unlink(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                int is_dir, int keep_orphan, int64_t now_ns, struct meta_drop *drop)
{
    MDB_txn *txn;
    uint64_t ino;
    uint32_t type;
    int rc = check_name(name, len);
    memset(drop, 0, sizeof *drop);
    if (rc || (rc = wr_begin(m, &txn)))
        return rc;
    if ((rc = get_dent(m, txn, parent, name, len, &ino, &type)))
        goto out;
    if (is_dir && type != S_IFDIR) {
        rc = -ENOTDIR;
        goto out;
    }
    if (!is_dir && type == S_IFDIR) {
        rc = -EISDIR;
        goto out;
    }
    if (is_dir && (rc = has_entries(m, txn, ino)) != 0) {
        if (rc > 0)
            rc = -ENOTEMPTY;
        goto out;
    }
    if ((rc = del_dent(m, txn, parent, name, len)) ||
        (rc = drop_link(m, txn, ino, is_dir, keep_orphan, now_ns, drop)))
        goto out;
    rc = touch_dir(m, txn, parent, is_dir ? -1 : 0, now_ns);
out:
    rc = wr_end(txn, rc);
    if (rc)
        memset(drop, 0, sizeof *drop);
    return rc;
}

int meta_touch_dir(struct meta_store *m, uint64_t ino, int delta, int64_t now_ns)
{
    MDB_txn *txn;
    struct bfs_attr a;
    if (delta < -1 || delta > 1 || !is_local(m, ino))
        return -EINVAL;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = get_inode(m, txn, ino, &a, NULL)) == 0) {
        if (!S_ISDIR(a.mode))
            rc = -ENOTDIR;
        else if (a.nlink == 0)
            rc = -ENOENT;   /* removed, kept only while open */
        else
            rc = touch_dir(m, txn, ino, delta, now_ns);
    }
    return wr_end(txn, rc);
}

int meta_nlink(struct meta_store *m, uint64_t ino, int delta, int keep_orphan,
               int64_t now_ns, struct meta_drop *drop)
{
    MDB_txn *txn;
    struct bfs_attr a;
    int rc;
    memset(drop, 0, sizeof *drop);
    if ((delta != 1 && delta != -1) || !is_local(m, ino))
        return -EINVAL;
    if ((rc = wr_begin(m, &txn)))
        return rc;
    /* drop_link tolerates a missing record (a dangling entry); here it is an error. */
    if ((rc = get_inode(m, txn, ino, &a, NULL)))
        goto out;
    if (delta < 0) {
        rc = drop_link(m, txn, ino, 0, keep_orphan, now_ns, drop);
        goto out;
    }
    if (a.nlink == 0 || a.nlink == UINT32_MAX) {
        rc = a.nlink ? -EMLINK : -ENOENT;   /* no new names for an unlinked inode */
        goto out;
    }
    a.nlink++;
    a.ctime_ns = now_ns;
    drop->ino = ino;
    drop->size = a.size;
    rc = update_inode(m, txn, &a);
out:
    rc = wr_end(txn, rc);
    if (rc)
        memset(drop, 0, sizeof *drop);
    return rc;
}

int meta_purge(struct meta_store *m, uint64_t ino, struct meta_drop *drop)
{
    MDB_txn *txn;
    struct bfs_attr a;
    int rc;
    memset(drop, 0, sizeof *drop);
    if ((rc = wr_begin(m, &txn)))
        return rc;
    if ((rc = get_inode(m, txn, ino, &a, NULL)))
        goto out;
    drop->ino = ino;
    drop->size = a.size;
    if (a.nlink == 0) {
        drop->freed = 1;
        rc = del_inode(m, txn, ino, a.flags);
    }
out:
    rc = wr_end(txn, rc);
    if (rc)
        memset(drop, 0, sizeof *drop);
    return rc;
}

struct purged { uint64_t ino, size; uint32_t flags; };

int meta_purge_orphans(struct meta_store *m, void (*cb)(void *arg, uint64_t ino, uint64_t size),
                       void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct purged *list = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    if ((rc = wr_begin(m, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, m->orphans, &cur))) {
        rc = db_err(rc, "open cursor", 0);
        goto out;
    }
    /* Collect first: deleting inode records does not disturb the orphans cursor. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct bfs_attr a;
        if (k.mv_size != 8) {
            log_error("meta: %s: corrupt orphan key (%zu bytes)", m->path, k.mv_size);
            rc = -EIO;
            goto out;
        }
        uint64_t ino = get_be64(k.mv_data);
        int r = get_inode(m, txn, ino, &a, NULL);
        if (r == -ENOENT || (r == 0 && a.nlink > 0))
            continue;   /* already gone, or linked again */
        if (r) {
            rc = r;
            goto out;
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct purged *nl = realloc(list, ncap * sizeof *nl);
            if (!nl) {
                rc = -ENOMEM;
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        list[cnt++] = (struct purged){ ino, a.size, a.flags };
    }
    if (rc != MDB_NOTFOUND) {
        rc = db_err(rc, "scan orphans", 0);
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    rc = 0;
    for (size_t i = 0; i < cnt && rc == 0; i++)
        rc = del_inode(m, txn, list[i].ino, list[i].flags);
    if (rc == 0 && (rc = mdb_drop(txn, m->orphans, 0)))
        rc = db_err(rc, "clear orphans", 0);
out:
    if (cur)
        mdb_cursor_close(cur);
    rc = wr_end(txn, rc);
    /* Chunks go only once the records are gone, and outside the transaction so
     * cb may use the store. */
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        log_debug("meta: ino 0x%" PRIx64 ": purged orphan (size %" PRIu64 ")", list[i].ino,
                  list[i].size);
        if (cb)
            cb(arg, list[i].ino, list[i].size);
    }
    free(list);
    return rc ? rc : (int)cnt;
}

int meta_rename(struct meta_store *m, uint64_t op, const char *on, size_t onlen,
                uint64_t np, const char *nn, size_t nnlen, unsigned flags, int keep_orphan,
                int64_t now_ns, struct meta_drop *replaced)
{
    MDB_txn *txn;
    uint64_t ino, tino = 0;
    uint32_t type, ttype = 0;
    int rc;

    memset(replaced, 0, sizeof *replaced);
    if ((rc = check_name(on, onlen)) || (rc = check_name(nn, nnlen)))
        return rc;
    if (flags & ~(unsigned)(META_RENAME_NOREPLACE | META_RENAME_CLUSTER))
        return -EINVAL;
    if ((rc = wr_begin(m, &txn)))
        return rc;
    if ((rc = get_dent(m, txn, op, on, onlen, &ino, &type)))
        goto out;
    rc = get_dent(m, txn, np, nn, nnlen, &tino, &ttype);
    if (rc == 0) {
        if (flags & META_RENAME_NOREPLACE)
            rc = -EEXIST;
        else if (tino == ino)
            ;   /* same entry, or two names of one inode: rename(2) does nothing */
        else if (type == S_IFDIR && ttype != S_IFDIR)
            rc = -ENOTDIR;
        else if (type != S_IFDIR && ttype == S_IFDIR)
            rc = -EISDIR;
        else if (ttype == S_IFDIR && (rc = has_entries(m, txn, tino)) > 0)
            rc = -ENOTEMPTY;
        if (rc || tino == ino)
            goto out;
    } else if (rc == -ENOENT) {
        tino = 0;
        rc = 0;
    } else {
        goto out;
    }
    if (type == S_IFDIR && np == ino) {
        rc = -EINVAL;   /* into itself; deeper loops need the path, the client's job */
        goto out;
    }
    /* In a cluster a directory moved between parents or replaced has state on other
     * nodes (its "..", its parents' counts, the replaced one's entries). */
    if ((flags & META_RENAME_CLUSTER) && ((type == S_IFDIR && (op != np || tino)) ||
                                          (tino && !is_local(m, tino)) || !is_local(m, ino))) {
        rc = META_COORD;
        goto out;
    }
    if ((rc = check_parent(m, txn, np)) || (rc = del_dent(m, txn, op, on, onlen)) ||
        (rc = put_dent(m, txn, np, nn, nnlen, ino, type, 0)))
        goto out;
    if (tino && (rc = drop_link(m, txn, tino, ttype == S_IFDIR, keep_orphan, now_ns, replaced)))
        goto out;
    /* A moved directory's ".." now counts for np; a replaced one's no longer does. */
    int moved = type == S_IFDIR && op != np;
    int gone = tino && ttype == S_IFDIR;
    replaced->dir_moved = moved;   /* parents on other nodes: the caller's job */
    replaced->dir_gone = gone;
    if ((rc = touch_dir(m, txn, op, -moved, now_ns)) ||
        (rc = touch_dir(m, txn, np, moved - gone, now_ns)))
        goto out;
    if (is_local(m, ino)) {
        struct bfs_attr a;
        rc = get_inode(m, txn, ino, &a, NULL);
        if (rc == 0) {
            a.ctime_ns = now_ns;
            rc = update_inode(m, txn, &a);
            if (rc == 0 && moved)
                rc = put_parent(m, txn, ino, np);
        } else if (rc == -ENOENT) {
            rc = 0;   /* dangling entry: moving it is still fine */
        }
    }
out:
    rc = wr_end(txn, rc);
    if (rc)
        memset(replaced, 0, sizeof *replaced);
    return rc;
}

/* ---- inline data ---- */

size_t meta_inline_max(struct meta_store *m)
{
    return m->inline_max;
}

int meta_inline_read(struct meta_store *m, uint64_t ino, uint64_t off, void *buf, size_t len,
                     size_t *got)
{
    MDB_txn *txn;
    struct bfs_attr a;
    const unsigned char *data;
    size_t have, n = 0;
    int rc = rd_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = get_inode(m, txn, ino, &a, NULL)) || (rc = check_regular(&a)) ||
        (rc = get_inline(m, txn, ino, &data, &have)))
        goto out;
    /* Past the stored bytes chunk 0 was never written: zeros. */
    if (off < have)
        n = have - off < len ? have - (size_t)off : len;
    if (n)
        memcpy(buf, data + off, n);
    memset((char *)buf + n, 0, len - n);
    *got = n;
out:
    rd_end(m);
    return rc;
}

int meta_inline_write(struct meta_store *m, uint64_t ino, uint64_t off, const void *buf,
                      size_t len, int64_t now_ns, struct bfs_attr *out, struct bfs_attr *before)
{
    MDB_txn *txn;
    struct bfs_attr a, old_attr;
    struct extents x;
    const unsigned char *old;
    size_t have;
    int res = 0;   /* what to tell the caller once the transaction went well */
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = get_file(m, txn, ino, &a, &x)) || (rc = check_regular(&a)))
        goto out;
    if ((rc = get_inline(m, txn, ino, &old, &have))) {
        if (rc == META_CHUNKS) {
            res = rc;
            rc = 0;
        }
        goto out;
    }
    if (off > m->inline_max || len > m->inline_max - off) {
        /* With nothing stored inline nothing has to move: chunk mode right away. */
        if (have)
            res = META_MIGRATE;
        else if ((rc = put_inline(m, txn, ino, INLINE_CHUNKS, 0)) == 0)
            res = META_CHUNKS;
        goto out;
    }
    size_t end = off + len > have ? (size_t)off + len : have;
    if (have)
        memcpy(m->scratch + 1, old, have);
    if (off > have)
        memset(m->scratch + 1 + have, 0, (size_t)off - have);
    memcpy(m->scratch + 1 + off, buf, len);
    if ((rc = put_inline(m, txn, ino, INLINE_DATA, end)))
        goto out;
    old_attr = a;
    if (off + len > a.size)
        a.size = off + len;
    a.mtime_ns = a.ctime_ns = now_ns;
    extent_add(&x, off, off + len);
    a.blocks = extent_blocks(&x, a.size);
    rc = put_inode(m, txn, &a, NULL, 0, &x);
out:
    if ((rc = wr_end(txn, rc)) == 0 && res == 0) {
        if (out)
            *out = a;
        if (before)
            *before = old_attr;
    }
    return rc ? rc : res;
}

int meta_inline_end(struct meta_store *m, uint64_t ino)
{
    MDB_txn *txn;
    struct bfs_attr a;
    const unsigned char *data;
    size_t have;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = get_inode(m, txn, ino, &a, NULL)) || (rc = check_regular(&a)) ||
        (rc = get_inline(m, txn, ino, &data, &have)))
        goto out;
    rc = put_inline(m, txn, ino, INLINE_CHUNKS, 0);
out:
    if (rc == META_CHUNKS)
        rc = 0;   /* already in chunk mode */
    return wr_end(txn, rc);
}

/* ---- multi-server operations ----
 *
 * Marks make a participant's steps idempotent: a step and its mark commit in one
 * transaction, and a step whose mark exists is answered from the mark. */

static void step_key(unsigned char kb[9], uint64_t intent, uint32_t step)
{
    put_be64(kb, intent);
    kb[8] = (unsigned char)step;
}

static int get_step(struct meta_store *m, MDB_txn *txn, uint64_t intent, uint32_t step,
                    struct meta_step *out)
{
    unsigned char kb[9];
    MDB_val k = { 9, kb }, v;
    step_key(kb, intent, step);
    int rc = mdb_get(txn, m->applied, &k, &v);
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc)
        return db_err(rc, "get step mark", intent);
    if (v.mv_size != STEP_VAL) {
        log_error("meta: intent 0x%" PRIx64 " step %u: corrupt mark (%zu bytes)", intent, step,
                  v.mv_size);
        return -EIO;
    }
    const unsigned char *p = v.mv_data;
    out->ino = get_le64(p);
    out->type = get_le32(p + 8);
    out->flags = get_le32(p + 12);
    out->size = get_le64(p + 16);
    return 0;
}

static int put_step(struct meta_store *m, MDB_txn *txn, uint64_t intent, uint32_t step,
                    const struct meta_step *st)
{
    unsigned char kb[9], vb[STEP_VAL];
    MDB_val k = { 9, kb }, v = { STEP_VAL, vb };
    step_key(kb, intent, step);
    put_le64(vb, st->ino);
    put_le32(vb + 8, st->type);
    put_le32(vb + 12, st->flags);
    put_le64(vb + 16, st->size);
    int rc = mdb_put(txn, m->applied, &k, &v, 0);
    return rc ? db_err(rc, "put step mark", intent) : 0;
}

/* Begins a marked step: 1 and *done filled when it was done already (the caller
 * ends the transaction without changes), 0 when it is to be done now. */
static int step_begin(struct meta_store *m, MDB_txn *txn, uint64_t intent, uint32_t step,
                      struct meta_step *done)
{
    int rc = get_step(m, txn, intent, step, done);
    if (rc == 0)
        return 1;
    return rc == -ENOENT ? 0 : rc;
}

/* Begins the write transaction of a marked step: 0 with *txn open (do the step,
 * put_step, wr_end), 1 if it was done already (*done filled, nothing open), or
 * -errno (nothing open). */
static int marked_begin(struct meta_store *m, MDB_txn **txn, uint64_t intent, uint32_t step,
                        struct meta_step *done)
{
    int rc = wr_begin(m, txn);
    if (rc)
        return rc;
    if ((rc = step_begin(m, *txn, intent, step, done)))
        mdb_txn_abort(*txn);
    return rc;
}

int meta_step_get(struct meta_store *m, uint64_t intent, uint32_t step, struct meta_step *out)
{
    MDB_txn *txn;
    int rc = rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = get_step(m, txn, intent, step, out);
    rd_end(m);
    return rc;
}

int meta_step_claim(struct meta_store *m, uint64_t intent, uint32_t step, struct meta_step *out)
{
    MDB_txn *txn;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    rc = get_step(m, txn, intent, step, out);
    if (rc == -ENOENT) {
        *out = (struct meta_step){ .flags = META_STEP_ABORTED };
        rc = put_step(m, txn, intent, step, out);
    }
    return wr_end(txn, rc);
}

int meta_forget(struct meta_store *m, uint64_t intent)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    unsigned char kb[9];
    MDB_val k = { 8, kb }, v;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, m->applied, &cur))) {
        rc = db_err(rc, "open cursor", intent);
        goto out;
    }
    put_be64(kb, intent);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 8 || get_be64(k.mv_data) != intent)
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : db_err(rc, "forget step marks", intent);
out:
    return wr_end(txn, rc);
}

/* -- intents -- */

static int put_intent(struct meta_store *m, MDB_txn *txn, const struct meta_intent *in)
{
    unsigned char kb[8], vb[INTENT_HDR + 2 * BFS_NAME_MAX];
    memset(vb, 0, INTENT_HDR);
    vb[0] = INTENT_VERSION;
    vb[1] = (unsigned char)in->kind;
    vb[2] = (unsigned char)in->state;
    put_le32(vb + 4, in->flags);
    put_le64(vb + 8, in->ino);
    put_le32(vb + 16, in->type);
    put_le64(vb + 24, in->parent);
    put_le64(vb + 32, in->newparent);
    put_le16(vb + 40, (uint16_t)in->name_len);
    put_le16(vb + 42, (uint16_t)in->newname_len);
    put_le64(vb + 48, in->fenced);
    put_le64(vb + 56, in->size);
    memcpy(vb + INTENT_HDR, in->name, in->name_len);
    memcpy(vb + INTENT_HDR + in->name_len, in->newname, in->newname_len);
    put_be64(kb, in->id);
    MDB_val k = { 8, kb }, v = { INTENT_HDR + in->name_len + in->newname_len, vb };
    int rc = mdb_put(txn, m->intents, &k, &v, 0);
    return rc ? db_err(rc, "put intent", in->id) : 0;
}

static int decode_intent(const MDB_val *k, const MDB_val *v, struct meta_intent *in)
{
    const unsigned char *p = v->mv_data;
    memset(in, 0, sizeof *in);
    if (k->mv_size != 8 || v->mv_size < INTENT_HDR || p[0] != INTENT_VERSION)
        goto bad;
    in->id = get_be64(k->mv_data);
    in->kind = p[1];
    in->state = p[2];
    in->flags = get_le32(p + 4);
    in->ino = get_le64(p + 8);
    in->type = get_le32(p + 16);
    in->parent = get_le64(p + 24);
    in->newparent = get_le64(p + 32);
    in->name_len = get_le16(p + 40);
    in->newname_len = get_le16(p + 42);
    in->fenced = get_le64(p + 48);
    in->size = get_le64(p + 56);
    if (in->name_len > BFS_NAME_MAX || in->newname_len > BFS_NAME_MAX ||
        v->mv_size != INTENT_HDR + in->name_len + in->newname_len ||
        (in->state != META_INTENT_ACTIVE && in->state != META_INTENT_DONE))
        goto bad;
    memcpy(in->name, p + INTENT_HDR, in->name_len);
    memcpy(in->newname, p + INTENT_HDR + in->name_len, in->newname_len);
    return 0;
bad:
    log_error("meta: corrupt intent record (%zu bytes)", v->mv_size);
    return -EIO;
}

int meta_intent_begin(struct meta_store *m, struct meta_intent *in, int mode)
{
    MDB_txn *txn;
    uint64_t next, ino;
    uint32_t type;
    int rc = 0;
    if (mode != META_BEGIN_NOENTRY && (rc = check_name(in->name, in->name_len)))
        return rc;
    if (in->newname_len && (rc = check_name(in->newname, in->newname_len)))
        return rc;
    if ((rc = wr_begin(m, &txn)))
        return rc;
    switch (mode) {
    case META_BEGIN_ENTRY:
    case META_BEGIN_DIR:
        if ((rc = get_dent(m, txn, in->parent, in->name, in->name_len, &in->ino, &in->type)))
            goto out;
        if (mode == META_BEGIN_DIR && in->type != S_IFDIR)
            rc = -ENOTDIR;
        break;
    case META_BEGIN_NEW:
        rc = get_dent(m, txn, in->parent, in->name, in->name_len, &ino, &type);
        rc = rc == 0 ? -EEXIST : rc == -ENOENT ? check_parent(m, txn, in->parent) : rc;
        break;
    case META_BEGIN_NOENTRY:
        break;
    default:
        rc = -EINVAL;
    }
    if (rc)
        goto out;
    rc = info_get(m, txn, "next_intent", &next);
    if (rc == -ENOENT) {
        next = 1;
        rc = 0;
    }
    if (rc)
        goto out;
    if (next >= COUNTER_LIMIT) {
        rc = -ENOSPC;
        goto out;
    }
    in->id = (uint64_t)m->node_id << BFS_INO_NODE_SHIFT | next;
    in->state = META_INTENT_ACTIVE;
    if ((rc = info_put(m, txn, "next_intent", next + 1)) == 0)
        rc = put_intent(m, txn, in);
out:
    return wr_end(txn, rc);
}

/* Rewrites stored intent id through fn (one transaction). */
static int intent_update(struct meta_store *m, uint64_t id, void (*fn)(struct meta_intent *, uint64_t),
                         uint64_t arg)
{
    MDB_txn *txn;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    struct meta_intent in;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    put_be64(kb, id);
    if ((rc = mdb_get(txn, m->intents, &k, &v))) {
        rc = db_err(rc, "get intent", id);
        goto out;
    }
    if ((rc = decode_intent(&k, &v, &in)))
        goto out;
    fn(&in, arg);
    rc = put_intent(m, txn, &in);
out:
    return wr_end(txn, rc);
}

static void set_done(struct meta_intent *in, uint64_t arg)
{
    (void)arg;
    in->state = META_INTENT_DONE;
}

static void set_fenced(struct meta_intent *in, uint64_t dir)
{
    in->fenced = dir;
}

int meta_intent_done(struct meta_store *m, const struct meta_intent *in)
{
    return intent_update(m, in->id, set_done, 0);
}

int meta_intent_note(struct meta_store *m, uint64_t id, uint64_t fenced)
{
    return intent_update(m, id, set_fenced, fenced);
}

int meta_intent_end(struct meta_store *m, uint64_t id)
{
    MDB_txn *txn;
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    put_be64(kb, id);
    rc = mdb_del(txn, m->intents, &k, NULL);
    rc = rc && rc != MDB_NOTFOUND ? db_err(rc, "delete intent", id) : 0;
    return wr_end(txn, rc);
}

int meta_intent_list(struct meta_store *m, struct meta_intent **out, size_t *n)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct meta_intent *list = NULL;
    size_t cnt = 0, cap = 0;
    int rc = rd_begin(m, &txn);
    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, m->intents, &cur))) {
        rc = db_err(rc, "open cursor", 0);
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct meta_intent *nl = realloc(list, ncap * sizeof *nl);
            if (!nl) {
                rc = -ENOMEM;
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        if ((rc = decode_intent(&k, &v, &list[cnt])))
            goto out;
        cnt++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : db_err(rc, "scan intents", 0);
out:
    if (cur)
        mdb_cursor_close(cur);
    rd_end(m);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *n = cnt;
    return 0;
}

/* -- fences -- */

static int put_fence(struct meta_store *m, MDB_txn *txn, uint64_t dir, int state, uint64_t intent)
{
    unsigned char kb[8], vb[FENCE_VAL];
    MDB_val k = { 8, kb }, v = { FENCE_VAL, vb };
    put_be64(kb, dir);
    vb[0] = (unsigned char)state;
    put_le32(vb + 1, bfs_ino_node(intent));
    put_le64(vb + 5, intent);
    m->fences_seen = 1;   /* (an aborted transaction only costs later lookups) */
    int rc = mdb_put(txn, m->fences, &k, &v, 0);
    return rc ? db_err(rc, "put fence", dir) : 0;
}

int meta_fence(struct meta_store *m, uint64_t dir, uint64_t intent)
{
    MDB_txn *txn;
    uint64_t holder = 0;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    int st = fence_of(m, txn, dir, &holder);
    if (st < 0)
        rc = st;
    else if (st == META_FENCE_DEAD)
        rc = -ENOENT;
    else if (st == META_FENCE_HELD)
        rc = holder == intent ? 0 : -EBUSY;
    else if ((rc = has_entries(m, txn, dir)) > 0)
        rc = -ENOTEMPTY;
    else if (rc == 0)
        rc = put_fence(m, txn, dir, META_FENCE_HELD, intent);
    return wr_end(txn, rc);
}

int meta_unfence(struct meta_store *m, uint64_t dir, uint64_t intent, int dead)
{
    MDB_txn *txn;
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    uint64_t holder = 0;
    int rc = wr_begin(m, &txn);
    if (rc)
        return rc;
    int st = fence_of(m, txn, dir, &holder);
    put_be64(kb, dir);
    if (st < 0)
        rc = st;
    else if (st == META_FENCE_HELD && holder != intent)
        rc = -EBUSY;
    else if (dead)
        rc = st == META_FENCE_DEAD ? 0 : put_fence(m, txn, dir, META_FENCE_DEAD, intent);
    else if (st == META_FENCE_HELD && (rc = mdb_del(txn, m->fences, &k, NULL)))
        rc = db_err(rc, "delete fence", dir);
    return wr_end(txn, rc);
}

/* -- steps of participants -- */

int meta_install(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                 uint64_t ino, uint32_t type, uint64_t expect, uint64_t intent, uint32_t step,
                 struct meta_step *replaced)
{
    MDB_txn *txn;
    uint64_t cur = 0;
    uint32_t ctype = 0;
    int rc = check_name(name, len);
    if (rc)
        return rc;
    if (ino == 0 || !bfs_valid_type(type))
        return -EINVAL;
    if ((rc = marked_begin(m, &txn, intent, step, replaced)))
        return rc < 0 ? rc : (replaced->flags & META_STEP_ABORTED) ? -ECANCELED : 0;
    if ((rc = check_parent(m, txn, parent)))
        goto out;
    rc = get_dent(m, txn, parent, name, len, &cur, &ctype);
    if (rc == -ENOENT)
        rc = 0;
    if (rc)
        goto out;
    if (cur != expect) {
        rc = -ESTALE;   /* the target changed since the coordinator looked */
        goto out;
    }
    *replaced = (struct meta_step){ .ino = cur, .type = ctype };
    if ((rc = put_dent(m, txn, parent, name, len, ino, type, 0)) == 0)
        rc = put_step(m, txn, intent, step, replaced);
out:
    return wr_end(txn, rc);
}

int meta_drop_entry(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                    uint64_t ino)
{
    MDB_txn *txn;
    uint64_t cur;
    uint32_t type;
    int rc = check_name(name, len);
    if (rc || (rc = wr_begin(m, &txn)))
        return rc;
    rc = get_dent(m, txn, parent, name, len, &cur, &type);
    if (rc == 0 && cur == ino)
        rc = del_dent(m, txn, parent, name, len);
    else if (rc == 0 || rc == -ENOENT)
        rc = 0;   /* gone or replaced already: a replayed step */
    return wr_end(txn, rc);
}

int meta_dir_adjust(struct meta_store *m, uint64_t dir, int delta, uint64_t intent,
                    uint32_t step, int64_t now_ns)
{
    MDB_txn *txn;
    struct meta_step done = { .ino = dir };
    struct bfs_attr a;
    if (delta < -1 || delta > 1 || !is_local(m, dir))
        return -EINVAL;
    int rc = marked_begin(m, &txn, intent, step, &done);
    if (rc)
        return rc == 1 ? 0 : rc;
    rc = get_inode(m, txn, dir, &a, NULL);
    if (rc == 0 && S_ISDIR(a.mode) && a.nlink > 0)
        rc = touch_dir(m, txn, dir, delta, now_ns);
    else if (rc == 0 || rc == -ENOENT)
        rc = 0;   /* removed meanwhile: nothing to count */
    if (rc == 0)
        rc = put_step(m, txn, intent, step, &done);
    return wr_end(txn, rc);
}

int meta_drop(struct meta_store *m, uint64_t ino, int whole_dir, int keep_orphan,
              uint64_t intent, uint32_t step, int64_t now_ns, struct meta_drop *drop)
{
    MDB_txn *txn;
    struct meta_step done;
    memset(drop, 0, sizeof *drop);
    if (!is_local(m, ino))
        return -EINVAL;
    int rc = marked_begin(m, &txn, intent, step, &done);
    if (rc == 1) {
        drop->ino = ino;
        drop->freed = done.flags & 1;
        drop->size = done.size;
        return 0;
    }
    if (rc)
        return rc;
    if ((rc = drop_link(m, txn, ino, whole_dir, keep_orphan, now_ns, drop)))
        goto out;
    done = (struct meta_step){ .ino = ino, .flags = drop->freed ? 1 : 0, .size = drop->size };
    rc = put_step(m, txn, intent, step, &done);
out:
    rc = wr_end(txn, rc);
    if (rc)
        memset(drop, 0, sizeof *drop);
    return rc;
}

int meta_gain(struct meta_store *m, uint64_t ino, uint64_t intent, uint32_t step, int64_t now_ns)
{
    MDB_txn *txn;
    struct meta_step done = { .ino = ino };
    struct bfs_attr a;
    if (!is_local(m, ino))
        return -EINVAL;
    int rc = marked_begin(m, &txn, intent, step, &done);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = get_inode(m, txn, ino, &a, NULL)))
        goto out;
    if (S_ISDIR(a.mode))
        rc = -EPERM;
    else if (a.nlink == 0 || a.nlink == UINT32_MAX)
        rc = a.nlink ? -EMLINK : -ENOENT;   /* no new names for an unlinked inode */
    if (rc)
        goto out;
    a.nlink++;
    a.ctime_ns = now_ns;
    if ((rc = update_inode(m, txn, &a)) == 0)
        rc = put_step(m, txn, intent, step, &done);
out:
    return wr_end(txn, rc);
}

int meta_moved(struct meta_store *m, uint64_t ino, uint64_t newparent, uint64_t intent,
               uint32_t step, int64_t now_ns)
{
    MDB_txn *txn;
    struct meta_step done = { .ino = ino };
    struct bfs_attr a;
    if (!is_local(m, ino))
        return -EINVAL;
    int rc = marked_begin(m, &txn, intent, step, &done);
    if (rc)
        return rc == 1 ? 0 : rc;
    rc = get_inode(m, txn, ino, &a, NULL);
    if (rc == 0) {
        a.ctime_ns = now_ns;
        rc = update_inode(m, txn, &a);
        if (rc == 0 && S_ISDIR(a.mode))
            rc = put_parent(m, txn, ino, newparent);
    } else if (rc == -ENOENT) {
        rc = 0;   /* removed meanwhile */
    }
    if (rc == 0)
        rc = put_step(m, txn, intent, step, &done);
    return wr_end(txn, rc);
}

int meta_get_parent(struct meta_store *m, uint64_t dir, uint64_t *parent)
{
    MDB_txn *txn;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    int rc = rd_begin(m, &txn);
    if (rc)
        return rc;
    put_be64(kb, dir);
    rc = mdb_get(txn, m->parents, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        *parent = get_le64(v.mv_data);
    else if (rc == 0)
        rc = -EIO;
    else
        rc = db_err(rc, "get parent", dir);
    rd_end(m);
    return rc;
}
