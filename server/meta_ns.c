/* meta_ns.c - the single-server namespace operations of the metadata store
 * (meta.h): lookups, readdir and readlink, creating, linking, unlinking and
 * renaming entries, nlink bookkeeping and orphans, each one transaction; and
 * the steps they share with the multi-server ones (meta_int.h, meta_steps.c).
 */
#include "meta.h"
#include "meta_int.h"
#include "xattr_store.h"
#include "../common/byteorder.h"
#include "../common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- shared steps of the namespace operations ---- */

/* A parent must take entries to gain one: not removed (a tombstone: -ENOENT) or
 * fenced (META_FENCED) here, and if it lives here a live directory; one that lives
 * elsewhere is checked on its owner. *a gets a local parent's attributes (a->ino
 * is 0 for a parent elsewhere). */
static int get_parent(struct meta_store *m, MDB_txn *txn, uint64_t parent, struct bfs_attr *a)
{
    a->ino = 0;
    int rc = meta_fence_of(m, txn, parent, NULL);
    if (rc == META_FENCE_DEAD)
        return -ENOENT;   /* removed: its inode may live on another node */
    if (rc == META_FENCE_HELD)
        return META_FENCED;
    if (rc < 0 || !meta_is_local(m, parent))
        return rc;
    if ((rc = meta_inode_get(m, txn, parent, a)))
        return rc;
    if (!S_ISDIR(a->mode))
        return -ENOTDIR;
    return a->nlink == 0 ? -ENOENT : 0;   /* removed, still open */
}

int meta_parent_check(struct meta_store *m, MDB_txn *txn, uint64_t parent)
{
    struct bfs_attr a;
    return get_parent(m, txn, parent, &a);
}

/* Entries of a local directory changed: mtime = ctime = now, nlink += delta
 * (subdirectories' ".."). A missing record is tolerated so that dangling entries
 * can still be removed. */
int meta_dir_changed(struct meta_store *m, MDB_txn *txn, uint64_t dir, int delta, int64_t now)
{
    struct bfs_attr a;
    if (!meta_is_local(m, dir))
        return 0;
    int rc = meta_inode_get(m, txn, dir, &a);
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
    return meta_inode_update(m, txn, &a);
}

/* ino lost one name (or, for a removed directory, all of them): drop its nlink and
 * delete it at 0 unless a client still has it open. */
int meta_link_drop(struct meta_store *m, MDB_txn *txn, uint64_t ino, int whole_dir,
                     int keep_orphan, int64_t now, struct meta_drop *drop)
{
    struct bfs_attr a;
    drop->ino = ino;
    if (!meta_is_local(m, ino)) {
        drop->remote = 1;
        return 0;
    }
    int rc = meta_inode_get(m, txn, ino, &a);
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
        return meta_inode_update(m, txn, &a);
    if (keep_orphan) {
        rc = meta_inode_update(m, txn, &a);
        return rc ? rc : meta_orphan_note(m, txn, ino, 1);
    }
    drop->freed = 1;
    return meta_inode_del(m, txn, ino, a.flags);
}

int meta_link_gain(struct bfs_attr *a, int64_t now)
{
    if (a->nlink == 0 || a->nlink == UINT32_MAX)
        return a->nlink ? -EMLINK : -ENOENT;   /* no new names for an unlinked inode */
    a->nlink++;
    a->ctime_ns = now;
    return 0;
}

/* ---- reads ---- */

int meta_lookup(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                uint64_t *ino, uint32_t *type)
{
    MDB_txn *txn;
    int rc = meta_check_name(name, len);
    if (rc || (rc = meta_rd_begin(m, &txn)))
        return rc;
    rc = meta_dent_get(m, txn, parent, name, len, ino, type);
    meta_rd_end(m);
    return rc;
}

int meta_getattr(struct meta_store *m, uint64_t ino, struct bfs_attr *out)
{
    MDB_txn *txn;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = meta_inode_get(m, txn, ino, out);
    meta_rd_end(m);
    return rc;
}

/* *len gets the bytes copied, so a caller never reads past what it got. */
int meta_readlink(struct meta_store *m, uint64_t ino, char *buf, size_t size, size_t *len)
{
    MDB_txn *txn;
    struct bfs_attr a;
    struct meta_tail t;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = meta_inode_read(m, txn, ino, &a, &t);
    if (rc == 0 && !S_ISLNK(a.mode))
        rc = -EINVAL;
    if (rc == 0) {
        *len = t.len < size ? t.len : size;
        if (*len)
            memcpy(buf, t.p, *len);
    }
    meta_rd_end(m);
    return rc;
}

int meta_has_entries(struct meta_store *m, uint64_t parent)
{
    MDB_txn *txn;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = meta_dir_nonempty(m, txn, parent);
    meta_rd_end(m);
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
    if ((rc = meta_rd_begin(m, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, m->dentries, &cur))) {
        rc = meta_db_err(rc, "open cursor", parent);
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
        if ((rc = meta_dent_decode(&v, parent, &d->ino, &d->type)))
            goto out;
        d->cookie = hash;
        memcpy(d->name, kp + DKEY_HDR, nlen);
        d->name[nlen] = '\0';
        cnt++;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    else if (rc)
        rc = meta_db_err(rc, "read entries", parent);
out:
    if (cur)
        mdb_cursor_close(cur);
    meta_rd_end(m);
    if (rc == 0)
        *n = cnt;
    else
        *eof = 1;
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
    int rc = meta_check_name(name, len);
    if (rc || (rc = new_inode(mode, rdev, target, target_len, &a)))
        return rc;
    if (type != S_IFLNK)
        target_len = 0;

    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    struct bfs_attr p;
    if ((rc = get_parent(m, txn, parent, &p)))
        goto out;
    if (p.ino && (p.mode & S_ISGID)) {
        a.gid = p.gid;
        if (type == S_IFDIR)
            a.mode |= S_ISGID;
    }
    if ((rc = meta_alloc_ino(m, txn, &a.ino)) ||
        (rc = meta_dent_put(m, txn, parent, name, len, a.ino, type, MDB_NOOVERWRITE)) ||
        (rc = xattr_inherit(m, txn, &p, &a, ih)) ||
        (rc = meta_inode_put(m, txn, &a, target, target_len, NULL)) ||
        (type == S_IFDIR && (rc = meta_parent_put(m, txn, a.ino, parent))))
        goto out;
    rc = meta_dir_changed(m, txn, parent, type == S_IFDIR, now_ns);
out:
    if ((rc = meta_wr_end(txn, rc)) == 0 && out)
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
    int rc = meta_check_name(name, len);
    if (rc)
        return rc;
    *remote = !meta_is_local(m, ino);
    if (ino == 0 || !bfs_valid_type(type & S_IFMT))
        return -EINVAL;
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = meta_parent_check(m, txn, parent)))
        goto out;
    if (!*remote) {
        if ((rc = meta_inode_get(m, txn, ino, &a)))
            goto out;
        type = a.mode & S_IFMT;   /* the record knows better than the caller */
        if ((rc = meta_link_gain(&a, now_ns)))
            goto out;
    }
    if ((type & S_IFMT) == S_IFDIR) {
        rc = -EPERM;
        goto out;
    }
    if ((rc = meta_dent_put(m, txn, parent, name, len, ino, type & S_IFMT, MDB_NOOVERWRITE)))
        goto out;
    if (!*remote && (rc = meta_inode_update(m, txn, &a)))
        goto out;
    rc = meta_dir_changed(m, txn, parent, 0, now_ns);
out:
    if ((rc = meta_wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}

int meta_unlink(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                int is_dir, int keep_orphan, int64_t now_ns, struct meta_drop *drop)
{
    MDB_txn *txn;
    uint64_t ino;
    uint32_t type;
    int rc = meta_check_name(name, len);
    memset(drop, 0, sizeof *drop);
    if (rc || (rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = meta_dent_get(m, txn, parent, name, len, &ino, &type)))
        goto out;
    if (is_dir && type != S_IFDIR) {
        rc = -ENOTDIR;
        goto out;
    }
    if (!is_dir && type == S_IFDIR) {
        rc = -EISDIR;
        goto out;
    }
    if (is_dir && (rc = meta_dir_nonempty(m, txn, ino)) != 0) {
        if (rc > 0)
            rc = -ENOTEMPTY;
        goto out;
    }
    if ((rc = meta_dent_del(m, txn, parent, name, len)) ||
        (rc = meta_link_drop(m, txn, ino, is_dir, keep_orphan, now_ns, drop)))
        goto out;
    rc = meta_dir_changed(m, txn, parent, is_dir ? -1 : 0, now_ns);
out:
    rc = meta_wr_end(txn, rc);
    if (rc)
        memset(drop, 0, sizeof *drop);
    return rc;
}

/* meta_touch_dir, or with stamp_only meta_stamp_dir. */
static int touch_dir(struct meta_store *m, uint64_t ino, int delta, int64_t now_ns, int stamp_only)
{
    MDB_txn *txn;
    struct bfs_attr a;
    if (delta < -1 || delta > 1 || !meta_is_local(m, ino))
        return -EINVAL;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = meta_inode_get(m, txn, ino, &a)) == 0) {
        if (!S_ISDIR(a.mode))
            rc = -ENOTDIR;
        else if (a.nlink == 0)
            rc = -ENOENT;   /* removed, kept only while open */
        else if (!stamp_only || now_ns > a.ctime_ns)
            rc = meta_dir_changed(m, txn, ino, delta, now_ns);
    }
    return meta_wr_end(txn, rc);
}

int meta_touch_dir(struct meta_store *m, uint64_t ino, int delta, int64_t now_ns)
{
    return touch_dir(m, ino, delta, now_ns, 0);
}

int meta_stamp_dir(struct meta_store *m, uint64_t ino, int64_t stamp_ns)
{
    return touch_dir(m, ino, 0, stamp_ns, 1);
}

int meta_nlink(struct meta_store *m, uint64_t ino, int delta, int keep_orphan,
               int64_t now_ns, struct meta_drop *drop)
{
    MDB_txn *txn;
    struct bfs_attr a;
    int rc;
    memset(drop, 0, sizeof *drop);
    if ((delta != 1 && delta != -1) || !meta_is_local(m, ino))
        return -EINVAL;
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    /* meta_link_drop tolerates a missing record (a dangling entry); here it is an error. */
    if ((rc = meta_inode_get(m, txn, ino, &a)))
        goto out;
    if (delta < 0) {
        rc = meta_link_drop(m, txn, ino, 0, keep_orphan, now_ns, drop);
        goto out;
    }
    if ((rc = meta_link_gain(&a, now_ns)))
        goto out;
    drop->ino = ino;
    drop->size = a.size;
    rc = meta_inode_update(m, txn, &a);
out:
    rc = meta_wr_end(txn, rc);
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
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = meta_inode_get(m, txn, ino, &a)))
        goto out;
    drop->ino = ino;
    drop->size = a.size;
    if (a.nlink == 0) {
        drop->freed = 1;
        rc = meta_inode_del(m, txn, ino, a.flags);
    }
out:
    rc = meta_wr_end(txn, rc);
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

    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, m->orphans, &cur))) {
        rc = meta_db_err(rc, "open cursor", 0);
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
        int r = meta_inode_get(m, txn, ino, &a);
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
        rc = meta_db_err(rc, "scan orphans", 0);
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    rc = 0;
    for (size_t i = 0; i < cnt && rc == 0; i++)
        rc = meta_inode_del(m, txn, list[i].ino, list[i].flags);
    if (rc == 0 && (rc = mdb_drop(txn, m->orphans, 0)))
        rc = meta_db_err(rc, "clear orphans", 0);
out:
    if (cur)
        mdb_cursor_close(cur);
    rc = meta_wr_end(txn, rc);
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

/* -EINVAL if directory np is dir or lies below it (the parents records up to the
 * root, in txn), -ELOOP past a depth no tree has (a damaged parents table); a
 * directory with no parent record (a store from before they were kept) ends the walk. */
static int below_itself(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t np)
{
    for (int depth = 0; np != BFS_ROOT_INO; depth++) {
        if (np == dir)
            return -EINVAL;
        if (depth == META_DEPTH_MAX)
            return -ELOOP;
        int rc = meta_parent_get(m, txn, np, &np);
        if (rc == -ENOENT)
            return 0;
        if (rc)
            return rc;
    }
    return 0;
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
    if ((rc = meta_check_name(on, onlen)) || (rc = meta_check_name(nn, nnlen)))
        return rc;
    if (flags & ~(unsigned)(META_RENAME_NOREPLACE | META_RENAME_CLUSTER))
        return -EINVAL;
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = meta_dent_get(m, txn, op, on, onlen, &ino, &type)))
        goto out;
    rc = meta_dent_get(m, txn, np, nn, nnlen, &tino, &ttype);
    if (rc == 0) {
        if (flags & META_RENAME_NOREPLACE)
            rc = -EEXIST;
        else if (tino == ino)
            ;   /* same entry, or two names of one inode: rename(2) does nothing */
        else if (type == S_IFDIR && ttype != S_IFDIR)
            rc = -ENOTDIR;
        else if (type != S_IFDIR && ttype == S_IFDIR)
            rc = -EISDIR;
        else if (ttype == S_IFDIR && (rc = meta_dir_nonempty(m, txn, tino)) > 0)
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
        rc = -EINVAL;   /* into itself */
        goto out;
    }
    /* In a cluster a directory moved between parents or replaced has state on other
     * nodes (its "..", its parents' counts, the replaced one's entries). */
    if ((flags & META_RENAME_CLUSTER) && ((type == S_IFDIR && (op != np || tino)) ||
                                          (tino && !meta_is_local(m, tino)) || !meta_is_local(m, ino))) {
        rc = META_COORD;
        goto out;
    }
    /* Below itself: the parents of np, all on this server here (a move between
     * parents in a cluster went to the coordinator above, which walks them over
     * the network), checked in this transaction, so that two moves at once (a
     * into b/, b into a/, from two clients) cannot close a cycle. */
    if (type == S_IFDIR && op != np && (rc = below_itself(m, txn, ino, np)))
        goto out;
    if ((rc = meta_parent_check(m, txn, np)) || (rc = meta_dent_del(m, txn, op, on, onlen)) ||
        (rc = meta_dent_put(m, txn, np, nn, nnlen, ino, type, 0)))
        goto out;
    if (tino && (rc = meta_link_drop(m, txn, tino, ttype == S_IFDIR, keep_orphan, now_ns, replaced)))
        goto out;
    /* A moved directory's ".." now counts for np; a replaced one's no longer does. */
    int moved = type == S_IFDIR && op != np;
    int gone = tino && ttype == S_IFDIR;
    replaced->dir_moved = moved;   /* parents on other nodes: the caller's job */
    replaced->dir_gone = gone;
    if ((rc = meta_dir_changed(m, txn, op, -moved, now_ns)) ||
        (rc = meta_dir_changed(m, txn, np, moved - gone, now_ns)))
        goto out;
    if (meta_is_local(m, ino)) {
        struct bfs_attr a;
        rc = meta_inode_get(m, txn, ino, &a);
        if (rc == 0) {
            a.ctime_ns = now_ns;
            rc = meta_inode_update(m, txn, &a);
            if (rc == 0 && moved)
                rc = meta_parent_put(m, txn, ino, np);
        } else if (rc == -ENOENT) {
            rc = 0;   /* dangling entry: moving it is still fine */
        }
    }
out:
    rc = meta_wr_end(txn, rc);
    if (rc)
        memset(replaced, 0, sizeof *replaced);
    return rc;
}
