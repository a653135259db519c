/* meta_records.c - the metadata store's records (meta_int.h): inode records
 * with their written extents, directory entries and their keys, orphan marks
 * and directories' parents, each read and checked, or written, inside the
 * caller's transaction.
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
 *
 * Directory entry: key parent (u64 BE) | name hash (u64 BE) | name bytes, value
 * child ino (u64 LE) | type (u32 LE).
 */
#include "meta.h"
#include "meta_int.h"
#include "xattr_store.h"
#include "../common/byteorder.h"
#include "../common/hash.h"
#include "../common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

#define MODE_BITS       0177777u        /* of a record's mode word; the flags lie above */
#define FLAG_SHIFT      16
#define REC_VERSION     1               /* first byte of an inode record */
#define EXT_LEN         16              /* u64 start | u64 end */
#define REC_HDR         49              /* inode record bytes before its tail */
#define DENT_VAL        12

/* ---- encoding (byte order: common/byteorder.h) ---- */

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

int meta_check_name(const char *name, size_t len)
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

/* ---- inode records ---- */

static int bad_record(uint64_t ino, size_t len, const char *why)
{
    log_error("meta: ino 0x%" PRIx64 ": corrupt inode record (%zu bytes): %s", ino, len, why);
    return -EIO;
}

/* A regular file's tail of extents, or with an empty tail all of [0, size);
 * -1 if it is not a valid list. */
static int decode_extents(const unsigned char *p, size_t len, uint64_t size, struct meta_extents *x)
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
uint64_t meta_extent_blocks(const struct meta_extents *x, uint64_t size)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < x->n && x->e[i].start < size; i++)
        bytes += (x->e[i].end < size ? x->e[i].end : size) - x->e[i].start;
    return bytes / 512 + (bytes % 512 != 0);
}

/* Past EXT_MAX extents the smallest is forgotten (st_blocks errs low). */
static void extent_trim(struct meta_extents *x)
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
void meta_extent_add(struct meta_extents *x, uint64_t s, uint64_t e)
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
void meta_extent_punch(struct meta_extents *x, uint64_t s, uint64_t e)
{
    struct meta_extents y = { 0 };
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
void meta_extent_cut(struct meta_extents *x, uint64_t size)
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
    struct meta_extents x;
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
static int decode_inode(uint64_t ino, const MDB_val *v, struct bfs_attr *a, struct meta_tail *t)
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
    struct meta_tail tail = { p + REC_HDR, v->mv_size - REC_HDR };
    if (!tail_ok(type, tail.p, tail.len, a->size))
        return bad_record(ino, v->mv_size, "bad length for its type");
    if (type == S_IFCHR || type == S_IFBLK)
        a->rdev = get_le64(tail.p);
    if (type == S_IFREG) {
        struct meta_extents x;
        decode_extents(tail.p, tail.len, a->size, &x);
        a->blocks = meta_extent_blocks(&x, a->size);
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

int meta_inode_read(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a,
                     struct meta_tail *t)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, ino);
    int rc = mdb_get(txn, m->inodes, &k, &v);
    if (rc)
        return meta_db_err(rc, "get inode", ino);
    if ((rc = decode_inode(ino, &v, a, t)) == 0)
        meta_atime_overlay(m, a);
    return rc;
}

/* A regular file's attributes and extents (copied: good across puts). */
int meta_file_get(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a,
                    struct meta_extents *x)
{
    struct meta_tail t;
    int rc = meta_inode_read(m, txn, ino, a, &t);
    x->n = 0;
    if (rc == 0 && S_ISREG(a->mode))
        decode_extents(t.p, t.len, a->size, x);
    return rc;
}

/* A regular file's tail: nothing when x is all of [0, size) (or nothing and
 * size 0), else the list. x is within size (meta_extent_cut). */
static size_t encode_extents(const struct meta_extents *x, uint64_t size, unsigned char *p)
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
int meta_inode_put(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a,
                     const char *target, size_t tlen, const struct meta_extents *x)
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
    return rc ? meta_db_err(rc, "put inode", a->ino) : 0;
}

/* Rewrites an existing record with new attributes, keeping its tail. A
 * symlink's target and a file's extents are fetched again here rather than
 * carried by callers: a pointer into a page is only good until the next put,
 * and callers put other records in between. */
int meta_inode_update(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a)
{
    struct bfs_attr old;
    struct meta_tail t = { NULL, 0 };
    struct meta_extents x = { 0 };
    if (S_ISLNK(a->mode) || S_ISREG(a->mode)) {
        int rc = meta_inode_read(m, txn, a->ino, &old, &t);
        if (rc)
            return rc;
        if (S_ISREG(a->mode))
            decode_extents(t.p, t.len, old.size, &x);
    }
    return meta_inode_put(m, txn, a, (const char *)t.p, t.len, &x);
}

/* flags: the record's BFS_ATTR_*: its extended attributes go too. */
int meta_inode_del(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint32_t flags)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    put_be64(kb, ino);
    int rc = mdb_del(txn, m->inodes, &k, NULL);
    if (rc)
        return meta_db_err(rc, "delete inode", ino);
    rc = mdb_del(txn, m->orphans, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return meta_db_err(rc, "delete orphan", ino);
    rc = mdb_del(txn, m->parents, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return meta_db_err(rc, "delete parent", ino);
    if ((flags & BFS_ATTR_XATTRS) && (rc = xattr_drop_all(m, txn, ino)))
        return rc;
    return meta_inline_del(m, txn, ino);
}

int meta_inode_get(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a)
{
    return meta_inode_read(m, txn, ino, a, NULL);
}

int meta_record_maybe_file(const MDB_val *v)
{
    const unsigned char *p = v->mv_data;
    return !(v->mv_size >= REC_HDR && p[0] == REC_VERSION && !S_ISREG(get_le32(p + 1)));
}

int meta_orphan_note(struct meta_store *m, MDB_txn *txn, uint64_t ino, int orphan)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v = { 0, kb };
    put_be64(kb, ino);
    int rc = orphan ? mdb_put(txn, m->orphans, &k, &v, 0) : mdb_del(txn, m->orphans, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? meta_db_err(rc, "update orphans", ino) : 0;
}

/* ---- directory entries ---- */

int meta_dent_decode(const MDB_val *v, uint64_t parent, uint64_t *ino, uint32_t *type)
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

int meta_dent_get(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                    size_t len, uint64_t *ino, uint32_t *type)
{
    unsigned char kb[DKEY_MAX];
    MDB_val k = { dkey(kb, parent, name, len), kb }, v;
    int rc = mdb_get(txn, m->dentries, &k, &v);
    if (rc)
        return meta_db_err(rc, "get entry", parent);
    return meta_dent_decode(&v, parent, ino, type);
}

int meta_dent_put(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                    size_t len, uint64_t ino, uint32_t type, unsigned flags)
{
    unsigned char kb[DKEY_MAX], vb[DENT_VAL];
    MDB_val k = { dkey(kb, parent, name, len), kb }, v = { DENT_VAL, vb };
    put_le64(vb, ino);
    put_le32(vb + 8, type);
    int rc = mdb_put(txn, m->dentries, &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return -EEXIST;
    return rc ? meta_db_err(rc, "put entry", parent) : 0;
}

int meta_dent_del(struct meta_store *m, MDB_txn *txn, uint64_t parent, const char *name,
                    size_t len)
{
    unsigned char kb[DKEY_MAX];
    MDB_val k = { dkey(kb, parent, name, len), kb };
    int rc = mdb_del(txn, m->dentries, &k, NULL);
    return rc ? meta_db_err(rc, "delete entry", parent) : 0;
}

int meta_dir_nonempty(struct meta_store *m, MDB_txn *txn, uint64_t dir)
{
    MDB_cursor *cur;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, dir);
    int rc = mdb_cursor_open(txn, m->dentries, &cur);
    if (rc)
        return meta_db_err(rc, "open cursor", dir);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return meta_db_err(rc, "seek entries", dir);
    return k.mv_size > DKEY_HDR && get_be64(k.mv_data) == dir;
}

int meta_parent_put(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t parent)
{
    unsigned char kb[8], vb[8];
    MDB_val k = { 8, kb }, v = { 8, vb };
    put_be64(kb, dir);
    put_le64(vb, parent);
    int rc = mdb_put(txn, m->parents, &k, &v, 0);
    return rc ? meta_db_err(rc, "put parent", dir) : 0;
}

int meta_parent_get(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t *parent)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, dir);
    int rc = mdb_get(txn, m->parents, &k, &v);
    if (rc)
        return meta_db_err(rc, "get parent", dir);
    if (v.mv_size != 8) {
        log_error("metadata: parent record of directory %016llx has %zu bytes, not 8",
                  (unsigned long long)dir, v.mv_size);
        return -EIO;
    }
    *parent = get_le64(v.mv_data);
    return 0;
}

size_t meta_dentry_key(uint64_t parent, const char *name, size_t len, unsigned char *out)
{
    return dkey(out, parent, name, len);
}
