/* meta_steps.c - the participants' steps of multi-server operations (meta.h,
 * "Steps"): each one transaction that also stores its mark (meta_intents.c), so
 * that a step the coordinator replays is answered from the mark, not done twice.
 */
#include "meta.h"
#include "meta_int.h"
#include "../common/byteorder.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

int meta_install(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                 uint64_t ino, uint32_t type, uint64_t expect, uint64_t intent, uint32_t step,
                 struct meta_step *replaced)
{
    MDB_txn *txn;
    uint64_t cur = 0;
    uint32_t ctype = 0;
    int rc = meta_check_name(name, len);
    if (rc)
        return rc;
    if (ino == 0 || !bfs_valid_type(type))
        return -EINVAL;
    if ((rc = meta_marked_begin(m, &txn, intent, step, replaced)))
        return rc < 0 ? rc : (replaced->flags & META_STEP_ABORTED) ? -ECANCELED : 0;
    if ((rc = meta_parent_check(m, txn, parent)))
        goto out;
    rc = meta_dent_get(m, txn, parent, name, len, &cur, &ctype);
    if (rc == -ENOENT)
        rc = 0;
    if (rc)
        goto out;
    if (cur != expect) {
        rc = -ESTALE;   /* the target changed since the coordinator looked */
        goto out;
    }
    *replaced = (struct meta_step){ .ino = cur, .type = ctype };
    if ((rc = meta_dent_put(m, txn, parent, name, len, ino, type, 0)) == 0)
        rc = meta_step_put(m, txn, intent, step, replaced);
out:
    return meta_wr_end(txn, rc);
}

int meta_drop_entry(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                    uint64_t ino)
{
    MDB_txn *txn;
    uint64_t cur;
    uint32_t type;
    int rc = meta_check_name(name, len);
    if (rc || (rc = meta_wr_begin(m, &txn)))
        return rc;
    rc = meta_dent_get(m, txn, parent, name, len, &cur, &type);
    if (rc == 0 && cur == ino)
        rc = meta_dent_del(m, txn, parent, name, len);
    else if (rc == 0 || rc == -ENOENT)
        rc = 0;   /* gone or replaced already: a replayed step */
    return meta_wr_end(txn, rc);
}

/* What a step on one local inode needs besides it. */
struct local_args {
    int delta;              /* dir_adjust */
    uint64_t newparent;     /* moved */
    int64_t now;
};

/* A marked step on local inode ino: fn does it in the step's transaction, whose
 * mark (ino alone) is stored when fn succeeds; a step done already is 0. */
static int local_step(struct meta_store *m, uint64_t ino, uint64_t intent, uint32_t step,
                      int (*fn)(struct meta_store *, MDB_txn *, uint64_t, const struct local_args *),
                      const struct local_args *args)
{
    MDB_txn *txn;
    struct meta_step done = { .ino = ino };
    if (!meta_is_local(m, ino))
        return -EINVAL;
    int rc = meta_marked_begin(m, &txn, intent, step, &done);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = fn(m, txn, ino, args)) == 0)
        rc = meta_step_put(m, txn, intent, step, &done);
    return meta_wr_end(txn, rc);
}

static int dir_adjust(struct meta_store *m, MDB_txn *txn, uint64_t dir, const struct local_args *x)
{
    struct bfs_attr a;
    int rc = meta_inode_get(m, txn, dir, &a);
    if (rc == 0 && S_ISDIR(a.mode) && a.nlink > 0)
        return meta_dir_changed(m, txn, dir, x->delta, x->now);
    return rc == 0 || rc == -ENOENT ? 0 : rc;   /* removed meanwhile: nothing to count */
}

int meta_dir_adjust(struct meta_store *m, uint64_t dir, int delta, uint64_t intent,
                    uint32_t step, int64_t now_ns)
{
    struct local_args x = { .delta = delta, .now = now_ns };
    if (delta < -1 || delta > 1)
        return -EINVAL;
    return local_step(m, dir, intent, step, dir_adjust, &x);
}

int meta_drop(struct meta_store *m, uint64_t ino, int whole_dir, int keep_orphan,
              uint64_t intent, uint32_t step, int64_t now_ns, struct meta_drop *drop)
{
    MDB_txn *txn;
    struct meta_step done;
    memset(drop, 0, sizeof *drop);
    if (!meta_is_local(m, ino))
        return -EINVAL;
    int rc = meta_marked_begin(m, &txn, intent, step, &done);
    if (rc == 1) {
        drop->ino = ino;
        drop->freed = done.flags & 1;
        drop->size = done.size;
        return 0;
    }
    if (rc)
        return rc;
    if ((rc = meta_link_drop(m, txn, ino, whole_dir, keep_orphan, now_ns, drop)))
        goto out;
    done = (struct meta_step){ .ino = ino, .flags = drop->freed ? 1 : 0, .size = drop->size };
    rc = meta_step_put(m, txn, intent, step, &done);
out:
    rc = meta_wr_end(txn, rc);
    if (rc)
        memset(drop, 0, sizeof *drop);
    return rc;
}

static int gain(struct meta_store *m, MDB_txn *txn, uint64_t ino, const struct local_args *x)
{
    struct bfs_attr a;
    int rc = meta_inode_get(m, txn, ino, &a);
    if (rc == 0)
        rc = S_ISDIR(a.mode) ? -EPERM : meta_link_gain(&a, x->now);
    return rc ? rc : meta_inode_update(m, txn, &a);
}

int meta_gain(struct meta_store *m, uint64_t ino, uint64_t intent, uint32_t step, int64_t now_ns)
{
    struct local_args x = { .now = now_ns };
    return local_step(m, ino, intent, step, gain, &x);
}

static int moved(struct meta_store *m, MDB_txn *txn, uint64_t ino, const struct local_args *x)
{
    struct bfs_attr a;
    int rc = meta_inode_get(m, txn, ino, &a);
    if (rc == -ENOENT)
        return 0;   /* removed meanwhile */
    if (rc)
        return rc;
    a.ctime_ns = x->now;
    rc = meta_inode_update(m, txn, &a);
    if (rc == 0 && S_ISDIR(a.mode))
        rc = meta_parent_put(m, txn, ino, x->newparent);
    return rc;
}

int meta_moved(struct meta_store *m, uint64_t ino, uint64_t newparent, uint64_t intent,
               uint32_t step, int64_t now_ns)
{
    struct local_args x = { .newparent = newparent, .now = now_ns };
    return local_step(m, ino, intent, step, moved, &x);
}

int meta_get_parent(struct meta_store *m, uint64_t dir, uint64_t *parent)
{
    MDB_txn *txn;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = meta_parent_get(m, txn, dir, parent);
    meta_rd_end(m);
    return rc;
}
