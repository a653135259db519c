/* meta_attr.c - attribute changes in the metadata store (meta.h): setattr,
 * a read's atime, the size and written extents after a write, fallocate's
 * bookkeeping; each one transaction on one inode record.
 */
#include "meta.h"
#include "meta_int.h"
#include "xattr_store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

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
    struct meta_extents x;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = meta_file_get(m, txn, ino, &a, &x)) || (rc = check_size_change(&a, mask, in)))
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
        meta_extent_cut(&x, a.size);
        if ((rc = meta_inline_cut(m, txn, ino, a.size)))
            goto out;
    }
    if ((mask & BFS_SET_SIZE_GROW)) {
        if (in->size > a.size)
            a.size = in->size;
        meta_extent_add(&x, from, in->size);
        a.mtime_ns = now_ns;   /* a write happened even if it did not extend */
    }
    if (mask & BFS_SET_ATIME_NOW)
        a.atime_ns = now_ns;
    else if (mask & BFS_SET_ATIME)
        a.atime_ns = in->atime_ns;
    if (mask & (BFS_SET_ATIME | BFS_SET_ATIME_NOW))
        meta_atime_forget(m, ino);
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
        a.blocks = meta_extent_blocks(&x, a.size);
        rc = mask ? meta_inode_put(m, txn, &a, NULL, 0, &x) : 0;
    } else {
        rc = mask ? meta_inode_update(m, txn, &a) : 0;
    }
out:
    if ((rc = meta_wr_end(txn, rc)) == 0) {
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
    *touched = 0;
    /* A read transaction; a time that is due goes to the table (meta_atime.c).
     * A read never fails for its atime: one the table cannot take (no memory,
     * a full table that could not be written: logged there) is not recorded. */
    int rc = meta_getattr(m, ino, &a);
    if (rc == 0 && (!relatime || relatime_due(&a, now_ns)) && meta_atime_note(m, ino, now_ns) == 0) {
        a.atime_ns = now_ns;
        *touched = 1;
    }
    if (rc == 0)
        *out = a;
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
    struct meta_extents x;
    int punch = !!(mode & FALLOC_FL_PUNCH_HOLE), zero = !!(mode & FALLOC_FL_ZERO_RANGE);
    if (len == 0 || off > (uint64_t)INT64_MAX)
        return -EINVAL;
    if (len > (uint64_t)INT64_MAX - off)
        return -EFBIG;
    uint64_t end = off + len;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = meta_file_get(m, txn, ino, &a, &x)) || (rc = meta_check_regular(&a)))
        goto out;
    int changed = 0;
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > a.size) {
        a.size = end;
        changed = 1;
    }
    if (punch) {
        meta_extent_punch(&x, off, end);
    } else {
        meta_extent_add(&x, off, end < a.size ? end : a.size);
        meta_extent_cut(&x, a.size);
    }
    if ((punch || zero) && (rc = meta_inline_zero(m, txn, ino, off, end)))
        goto out;
    if (changed || punch || zero)
        a.mtime_ns = a.ctime_ns = now_ns;
    a.blocks = meta_extent_blocks(&x, a.size);
    rc = meta_inode_put(m, txn, &a, NULL, 0, &x);
out:
    if ((rc = meta_wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}
