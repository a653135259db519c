/* meta_inline.c - inline small-file data (meta.h, "inline data"): chunk 0 of a
 * small regular file kept in the metadata store, in the inode's transactions.
 *
 * Table "inline": ino (u64 BE) -> u8 state | data: the chunk-0 mode of a regular file.
 *   INLINE_DATA | chunk 0's bytes [0, n), n <= inline max: inline mode;
 *   INLINE_CHUNKS alone: chunk mode. No record: inline mode, no bytes, so a create
 *   writes nothing here (the upgrade from format 1 marks the old files
 *   INLINE_CHUNKS: their chunk 0 is a chunk file).
 * The inode's deletion (meta_inode_del), a truncate (meta_inline_cut) and a hole
 * punched or zeroed (meta_inline_zero) change the bytes in the same transaction.
 */
#include "meta.h"
#include "meta_int.h"
#include "../common/byteorder.h"
#include "../common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

#define INLINE_DATA     1               /* state byte: inline mode, the bytes follow */
#define INLINE_CHUNKS   2               /* state byte: chunk mode, nothing follows */

/* ---- in the caller's transaction (meta_int.h) ---- */

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
        return meta_db_err(rc, "get inline data", ino);
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
    return rc ? meta_db_err(rc, "put inline data", ino) : 0;
}

int meta_inline_del(struct meta_store *m, MDB_txn *txn, uint64_t ino)
{
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    put_be64(kb, ino);
    int rc = mdb_del(txn, m->inl, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? meta_db_err(rc, "delete inline data", ino) : 0;
}

/* A file shrank to size: its inline bytes past it go, so that growing it again
 * reads zeros there. */
int meta_inline_cut(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint64_t size)
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

int meta_inline_zero(struct meta_store *m, MDB_txn *txn, uint64_t ino, uint64_t off,
                     uint64_t end)
{
    const unsigned char *data;
    size_t have;
    int rc = get_inline(m, txn, ino, &data, &have);
    if (rc)
        return rc == META_CHUNKS ? 0 : rc;
    if (off >= have)
        return 0;
    size_t to = end < have ? (size_t)end : have;
    memcpy(m->scratch + 1, data, have);
    memset(m->scratch + 1 + off, 0, to - (size_t)off);
    return put_inline(m, txn, ino, INLINE_DATA, have);
}

/* Upgrade from format 1: every regular file has its chunk 0 in a chunk file, so
 * each gets a chunk-mode record (a record that cannot be decoded gets one too:
 * for any other inode it is never looked at). */
int meta_inline_upgrade(struct meta_store *m, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t n = 0;
    int rc = mdb_cursor_open(txn, m->inodes, &cur);
    if (rc)
        return meta_db_err(rc, "open cursor", 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || !meta_record_maybe_file(&v))
            continue;
        if ((rc = put_inline(m, txn, get_be64(k.mv_data), INLINE_CHUNKS, 0)))
            goto out;
        n++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : meta_db_err(rc, "scan inodes", 0);
    log_info("meta: %s: %" PRIu64 " files from before inline data marked chunk mode", m->path, n);
out:
    mdb_cursor_close(cur);
    return rc;
}

/* ---- the contract of meta.h ---- */

size_t meta_inline_max(struct meta_store *m)
{
    return m->inline_max;
}

/* Regular file ino's chunk-0 mode, as get_inline; -ENOENT, -EISDIR, -EINVAL
 * for no regular file. */
static int file_inline(struct meta_store *m, MDB_txn *txn, uint64_t ino,
                       const unsigned char **data, size_t *len)
{
    struct bfs_attr a;
    int rc = meta_inode_get(m, txn, ino, &a);
    if (rc || (rc = meta_check_regular(&a)))
        return rc;
    return get_inline(m, txn, ino, data, len);
}

int meta_inline_read(struct meta_store *m, uint64_t ino, uint64_t off, void *buf, size_t len,
                     size_t *got)
{
    MDB_txn *txn;
    const unsigned char *data;
    size_t have, n = 0;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = file_inline(m, txn, ino, &data, &have)))
        goto out;
    /* Past the stored bytes chunk 0 was never written: zeros. */
    if (off < have)
        n = have - off < len ? have - (size_t)off : len;
    if (n)
        memcpy(buf, data + off, n);
    memset((char *)buf + n, 0, len - n);
    *got = n;
out:
    meta_rd_end(m);
    return rc;
}

int meta_inline_write(struct meta_store *m, uint64_t ino, uint64_t off, const void *buf,
                      size_t len, int64_t now_ns, struct bfs_attr *out, struct bfs_attr *before)
{
    MDB_txn *txn;
    struct bfs_attr a, old_attr;
    struct meta_extents x;
    const unsigned char *old;
    size_t have;
    int res = 0;   /* what to tell the caller once the transaction went well */
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = meta_file_get(m, txn, ino, &a, &x)) || (rc = meta_check_regular(&a)))
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
    meta_extent_add(&x, off, off + len);
    a.blocks = meta_extent_blocks(&x, a.size);
    rc = meta_inode_put(m, txn, &a, NULL, 0, &x);
out:
    if ((rc = meta_wr_end(txn, rc)) == 0 && res == 0) {
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
    const unsigned char *data;
    size_t have;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = file_inline(m, txn, ino, &data, &have)))
        goto out;
    rc = put_inline(m, txn, ino, INLINE_CHUNKS, 0);
out:
    if (rc == META_CHUNKS)
        rc = 0;   /* already in chunk mode */
    return meta_wr_end(txn, rc);
}
