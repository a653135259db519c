/* xattr_store.c - extended attributes in the metadata store (see xattr_store.h).
 *
 * Table "xattrs": ino (u64 BE) | name bytes -> value bytes (0..64 KiB). The key
 * order groups an inode's attributes, so listing or deleting them is one range
 * of the table. The inode record's BFS_ATTR_* flags say whether the range is
 * empty (no lookup at all for the inodes that have none: their deletes cost
 * nothing more) and whether it holds an access or default ACL (a chmod, a
 * create in the directory).
 */
#include "xattr_store.h"
#include "meta_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/acl.h"
#include "../common/byteorder.h"
#include "../common/log.h"
#include "../common/xattr.h"

#define XKEY_MAX (8 + BFS_XATTR_NAME_MAX)

static size_t xkey(unsigned char *k, uint64_t ino, const char *name, size_t nlen)
{
    put_be64(k, ino);
    memcpy(k + 8, name, nlen);
    return 8 + nlen;
}

/* The flag a name's namespace sets besides BFS_ATTR_XATTRS. */
static uint32_t ns_flag(int ns)
{
    return ns == BFS_XNS_ACL_ACCESS ? BFS_ATTR_ACL : ns == BFS_XNS_ACL_DEFAULT ? BFS_ATTR_DEFACL : 0;
}

/* What the inode's type allows of namespace ns (Linux's xattr_permission and
 * set_posix_acl rules that do not depend on the caller). */
static int type_allows(const struct bfs_attr *a, int ns)
{
    if (ns == BFS_XNS_USER && !S_ISREG(a->mode) && !S_ISDIR(a->mode))
        return -EPERM;
    if (ns == BFS_XNS_ACL_DEFAULT && !S_ISDIR(a->mode))
        return -EACCES;
    return 0;
}

/* Walks ino's attributes in txn: fn(arg, name, nlen, vlen) for each until it
 * returns non-zero (that is returned); 0 at the end. */
static int each_xattr(struct meta_store *m, MDB_txn *txn, uint64_t ino,
                      int (*fn)(void *arg, const char *name, size_t nlen, size_t vlen), void *arg)
{
    MDB_cursor *cur;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, ino);
    int rc = mdb_cursor_open(txn, meta_xattr_dbi(m), &cur), stop = 0;
    if (rc)
        return meta_db_err(rc, "open xattr cursor", ino);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 8 || get_be64(k.mv_data) != ino)
            break;
        if (k.mv_size == 8 || k.mv_size > XKEY_MAX) {
            log_error("meta: ino 0x%llx: corrupt xattr key (%zu bytes)", (unsigned long long)ino,
                      k.mv_size);
            stop = -EIO;
            break;
        }
        stop = fn(arg, (const char *)k.mv_data + 8, k.mv_size - 8, v.mv_size);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return meta_db_err(rc, "scan xattrs", ino);
    return stop;
}

struct listing { char *buf; size_t size, len; };

static int list_one(void *arg, const char *name, size_t nlen, size_t vlen)
{
    struct listing *l = arg;
    (void)vlen;
    if (l->buf && l->len + nlen + 1 <= l->size) {
        memcpy(l->buf + l->len, name, nlen);
        l->buf[l->len + nlen] = '\0';
    }
    l->len += nlen + 1;
    return 0;
}

static int stop_at_first(void *arg, const char *name, size_t nlen, size_t vlen)
{
    (void)arg, (void)name, (void)nlen, (void)vlen;
    return 1;
}

int xattr_get(struct meta_store *m, uint64_t ino, const char *name, size_t nlen, void *buf,
              size_t size, size_t *vlen)
{
    MDB_txn *txn;
    struct bfs_attr a;
    unsigned char kb[XKEY_MAX];
    int rc = bfs_xattr_ns(name, nlen);
    *vlen = 0;
    if (rc < 0 || (rc = meta_rd_begin(m, &txn)))
        return rc;
    if ((rc = meta_inode_get(m, txn, ino, &a)) == 0) {
        MDB_val k = { xkey(kb, ino, name, nlen), kb }, v;
        rc = (a.flags & BFS_ATTR_XATTRS) ? mdb_get(txn, meta_xattr_dbi(m), &k, &v) : MDB_NOTFOUND;
        if (rc == MDB_NOTFOUND) {
            rc = -ENODATA;
        } else if (rc) {
            rc = meta_db_err(rc, "get xattr", ino);
        } else {
            *vlen = v.mv_size;
            if (size && v.mv_size > size)
                rc = -ERANGE;
            else if (size && v.mv_size)
                memcpy(buf, v.mv_data, v.mv_size);
        }
    }
    meta_rd_end(m);
    return rc;
}

int xattr_list(struct meta_store *m, uint64_t ino, char *buf, size_t size, size_t *len)
{
    MDB_txn *txn;
    struct bfs_attr a;
    struct listing l = { size ? buf : NULL, size, 0 };
    int rc = meta_rd_begin(m, &txn);
    *len = 0;
    if (rc)
        return rc;
    if ((rc = meta_inode_get(m, txn, ino, &a)) == 0 && (a.flags & BFS_ATTR_XATTRS))
        rc = each_xattr(m, txn, ino, list_one, &l);
    meta_rd_end(m);
    if (rc)
        return rc;
    *len = l.len;
    return size && l.len > size ? -ERANGE : 0;
}

/* Whether ino still has any attribute: its BFS_ATTR_XATTRS. */
static int any_left(struct meta_store *m, MDB_txn *txn, uint64_t ino)
{
    int rc = each_xattr(m, txn, ino, stop_at_first, NULL);
    return rc < 0 ? rc : rc == 1;
}

static int put_xattr(struct meta_store *m, MDB_txn *txn, uint64_t ino, const char *name,
                     size_t nlen, const void *val, size_t vlen)
{
    unsigned char kb[XKEY_MAX];
    MDB_val k = { xkey(kb, ino, name, nlen), kb }, v = { vlen, (void *)(val ? val : "") };
    int rc = mdb_put(txn, meta_xattr_dbi(m), &k, &v, 0);
    return rc ? meta_db_err(rc, "put xattr", ino) : 0;
}

/* 0 deleted, -ENODATA absent. */
static int del_xattr(struct meta_store *m, MDB_txn *txn, uint64_t ino, const char *name, size_t nlen)
{
    unsigned char kb[XKEY_MAX];
    MDB_val k = { xkey(kb, ino, name, nlen), kb };
    int rc = mdb_del(txn, meta_xattr_dbi(m), &k, NULL);
    if (rc == MDB_NOTFOUND)
        return -ENODATA;
    return rc ? meta_db_err(rc, "delete xattr", ino) : 0;
}

/* After a change of ino's attributes: flags and ctime, in its record. */
static int settle(struct meta_store *m, MDB_txn *txn, struct bfs_attr *a, int ns, int present,
                  int64_t now_ns)
{
    int left = present ? 1 : any_left(m, txn, a->ino);
    if (left < 0)
        return left;
    a->flags = present ? a->flags | ns_flag(ns) : a->flags & ~ns_flag(ns);
    a->flags = left ? a->flags | BFS_ATTR_XATTRS : a->flags & ~(uint32_t)BFS_ATTR_XATTRS;
    a->ctime_ns = now_ns;
    return meta_inode_update(m, txn, a);
}

/* Whether a new name of nlen bytes still fits ino's list. */
static int room_for(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a, size_t nlen)
{
    struct listing l = { NULL, 0, 0 };
    int rc = (a->flags & BFS_ATTR_XATTRS) ? each_xattr(m, txn, a->ino, list_one, &l) : 0;
    if (rc < 0)
        return rc;
    return l.len + nlen + 1 > BFS_XATTR_LIST_MAX ? -ENOSPC : 0;
}

int xattr_set(struct meta_store *m, uint64_t ino, const char *name, size_t nlen, const void *val,
              size_t vlen, uint32_t flags, int64_t now_ns, struct bfs_attr *out)
{
    MDB_txn *txn;
    struct bfs_attr a;
    unsigned char kb[XKEY_MAX];
    int ns = bfs_xattr_ns(name, nlen), rc;
    if (ns < 0)
        return ns;
    if (vlen > BFS_XATTR_SIZE_MAX)
        return -E2BIG;
    if (flags & ~(uint32_t)(BFS_XATTR_CREATE | BFS_XATTR_REPLACE) ||
        flags == (BFS_XATTR_CREATE | BFS_XATTR_REPLACE))
        return -EINVAL;
    if ((ns == BFS_XNS_ACL_ACCESS || ns == BFS_XNS_ACL_DEFAULT) && bfs_acl_valid(val, vlen))
        return -EINVAL;
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = meta_inode_get(m, txn, ino, &a)) || (rc = type_allows(&a, ns)))
        goto out;
    MDB_val k = { xkey(kb, ino, name, nlen), kb }, v;
    rc = (a.flags & BFS_ATTR_XATTRS) ? mdb_get(txn, meta_xattr_dbi(m), &k, &v) : MDB_NOTFOUND;
    if (rc && rc != MDB_NOTFOUND) {
        rc = meta_db_err(rc, "get xattr", ino);
        goto out;
    }
    int exists = rc == 0;
    rc = 0;
    if ((flags & BFS_XATTR_CREATE) && exists) {
        rc = -EEXIST;
        goto out;
    }
    if ((flags & BFS_XATTR_REPLACE) && !exists) {
        rc = -ENODATA;
        goto out;
    }
    int keep = 1;
    if (ns == BFS_XNS_ACL_ACCESS)
        keep = bfs_acl_to_mode(val, vlen, &a.mode);   /* 0: the mode says it all */
    if (keep && !exists && (rc = room_for(m, txn, &a, nlen)))
        goto out;
    if (keep)
        rc = put_xattr(m, txn, ino, name, nlen, val, vlen);
    else if (exists)
        rc = del_xattr(m, txn, ino, name, nlen);
    if (rc == 0)
        rc = settle(m, txn, &a, ns, keep, now_ns);
out:
    if ((rc = meta_wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}

int xattr_remove(struct meta_store *m, uint64_t ino, const char *name, size_t nlen, int64_t now_ns,
                 struct bfs_attr *out)
{
    MDB_txn *txn;
    struct bfs_attr a;
    int ns = bfs_xattr_ns(name, nlen), rc;
    if (ns < 0)
        return ns;
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    if ((rc = meta_inode_get(m, txn, ino, &a)) == 0) {
        rc = (a.flags & BFS_ATTR_XATTRS) ? del_xattr(m, txn, ino, name, nlen) : -ENODATA;
        if (rc == 0)
            rc = settle(m, txn, &a, ns, 0, now_ns);
    }
    if ((rc = meta_wr_end(txn, rc)) == 0 && out)
        *out = a;
    return rc;
}

int xattr_drop_all(struct meta_store *m, MDB_txn *txn, uint64_t ino)
{
    MDB_cursor *cur;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    put_be64(kb, ino);
    int rc = mdb_cursor_open(txn, meta_xattr_dbi(m), &cur);
    if (rc)
        return meta_db_err(rc, "open xattr cursor", ino);
    /* Sought again after each delete: where a cursor stands after one is LMDB's detail. */
    for (;;) {
        k = (MDB_val){ 8, kb };
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) ||
            k.mv_size < 8 || get_be64(k.mv_data) != ino || (rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : meta_db_err(rc, "delete xattrs", ino);
}

/* A copy of ino's value of name in a malloc'd buffer (a pointer into a page is
 * only good until the next put): 0, -ENODATA, -ENOMEM. */
static int copy_xattr(struct meta_store *m, MDB_txn *txn, uint64_t ino, const char *name,
                      void **val, size_t *vlen)
{
    unsigned char kb[XKEY_MAX];
    MDB_val k = { xkey(kb, ino, name, strlen(name)), kb }, v;
    int rc = mdb_get(txn, meta_xattr_dbi(m), &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? -ENODATA : meta_db_err(rc, "get xattr", ino);
    if (!(*val = malloc(v.mv_size ? v.mv_size : 1)))
        return -ENOMEM;
    memcpy(*val, v.mv_data, v.mv_size);
    *vlen = v.mv_size;
    return 0;
}

int xattr_chmod(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a)
{
    void *acl;
    size_t len;
    int rc = copy_xattr(m, txn, a->ino, BFS_ACL_ACCESS, &acl, &len);
    if (rc)
        return rc == -ENODATA ? 0 : rc;   /* the flag was stale: nothing to keep in step */
    if ((rc = bfs_acl_chmod(acl, len, a->mode)) == 0)
        rc = put_xattr(m, txn, a->ino, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), acl, len);
    else
        log_error("meta: ino 0x%llx: corrupt access ACL (%zu bytes)", (unsigned long long)a->ino,
                  len);
    free(acl);
    return rc ? (rc == -EINVAL ? -EIO : rc) : 0;
}

/* The local parent's default ACL into child: access ACL and mode, and for a
 * directory the default ACL too. */
static int inherit_default(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *parent,
                           struct bfs_attr *child)
{
    void *def, *acc = NULL;
    size_t len;
    int rc = copy_xattr(m, txn, parent->ino, BFS_ACL_DEFAULT, &def, &len), need;
    if (rc)
        return rc;
    if (!(acc = malloc(len))) {
        rc = -ENOMEM;
    } else if ((need = bfs_acl_inherit(def, len, &child->mode, acc)) < 0) {
        log_error("meta: ino 0x%llx: corrupt default ACL (%zu bytes)",
                  (unsigned long long)parent->ino, len);
        rc = -EIO;
    } else if (need &&
               !(rc = put_xattr(m, txn, child->ino, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), acc, len))) {
        child->flags |= BFS_ATTR_XATTRS | BFS_ATTR_ACL;
    }
    if (rc == 0 && S_ISDIR(child->mode) &&
        !(rc = put_xattr(m, txn, child->ino, BFS_ACL_DEFAULT, strlen(BFS_ACL_DEFAULT), def, len)))
        child->flags |= BFS_ATTR_XATTRS | BFS_ATTR_DEFACL;
    free(acc);
    free(def);
    return rc;
}

/* The attributes a client inherited for child (list of records). */
static int store_list(struct meta_store *m, MDB_txn *txn, struct bfs_attr *child,
                      const struct meta_inherit *ih)
{
    const char *name;
    const void *val;
    size_t pos = 0, nlen, vlen;
    int rc;
    while ((rc = bfs_xattr_rec_next(ih->xattrs, ih->xattrs_len, &pos, &name, &nlen, &val, &vlen)) > 0) {
        int ns = bfs_xattr_ns(name, nlen);
        if (ns < 0 || type_allows(child, ns) ||
            ((ns == BFS_XNS_ACL_ACCESS || ns == BFS_XNS_ACL_DEFAULT) && bfs_acl_valid(val, vlen)))
            return -EINVAL;
        if ((rc = put_xattr(m, txn, child->ino, name, nlen, val, vlen)))
            return rc;
        child->flags |= BFS_ATTR_XATTRS | ns_flag(ns);
    }
    return rc < 0 ? -EINVAL : 0;
}

int xattr_inherit(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *parent,
                  struct bfs_attr *child, const struct meta_inherit *ih)
{
    int rc = 0;
    child->flags = 0;
    if (!ih || S_ISLNK(child->mode))
        return 0;
    if (parent->ino && (parent->flags & BFS_ATTR_DEFACL))
        rc = inherit_default(m, txn, parent, child);
    else
        child->mode &= ~(ih->umask & 0777);
    if (rc == -ENODATA)   /* the flag was stale: as without a default ACL */
        child->mode &= ~(ih->umask & 0777), rc = 0;
    if (rc == 0 && ih->xattrs_len)
        rc = store_list(m, txn, child, ih);
    return rc;
}
