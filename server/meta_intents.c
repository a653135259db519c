/* meta_intents.c - the store's side of multi-server operations (meta.h,
 * "multi-server operations"; the coordinator is server/coord.c): intents on the
 * coordinator, step marks on the participants, fences on directories.
 *
 *   intents   intent id (u64 BE) -> intent record: u8 version | u8 kind | u8 state
 *             | u8 0 | u32 flags | u64 ino | u32 type | u32 0 | u64 parent
 *             | u64 newparent | u16 name_len | u16 newname_len | u32 0 | u64 fenced
 *             | u64 size | name | newname (little-endian)
 *   applied   intent id (u64 BE) | step (u8) -> u64 ino | u32 type | u32 flags
 *             | u64 size: a step's mark, written in the step's own transaction
 *   fences    dir ino (u64 BE) -> u8 state (META_FENCE_*) | u32 LE coordinator node
 *             | u64 LE intent id
 * Intent numbers come from the info table's "next_intent".
 */
#include "meta.h"
#include "meta_int.h"
#include "../common/byteorder.h"
#include "../common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FENCE_VAL       13              /* u8 state | u32 coordinator | u64 intent */
#define STEP_VAL        24              /* u64 ino | u32 type | u32 flags | u64 size */
#define INTENT_VERSION  1               /* first byte of an intent record */
#define INTENT_HDR      64              /* intent record bytes before the names */

/* ---- fences, for the namespace operations (meta_int.h) ---- */

/* The fence on directory dir here: 0 (none), META_FENCE_HELD or META_FENCE_DEAD,
 * with the intent holding it in *intent (if not NULL); -EIO for a bad record. */
int meta_fence_of(struct meta_store *m, MDB_txn *txn, uint64_t dir, uint64_t *intent)
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
        return meta_db_err(rc, "get fence", dir);
    const unsigned char *p = v.mv_data;
    if (v.mv_size != FENCE_VAL || (p[0] != META_FENCE_HELD && p[0] != META_FENCE_DEAD)) {
        log_error("meta: ino 0x%" PRIx64 ": corrupt fence (%zu bytes)", dir, v.mv_size);
        return -EIO;
    }
    if (intent)
        *intent = get_le64(p + 5);
    return p[0];
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
        return meta_db_err(rc, "get step mark", intent);
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

int meta_step_put(struct meta_store *m, MDB_txn *txn, uint64_t intent, uint32_t step,
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
    return rc ? meta_db_err(rc, "put step mark", intent) : 0;
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
 * meta_step_put, meta_wr_end), 1 if it was done already (*done filled, nothing open), or
 * -errno (nothing open). */
int meta_marked_begin(struct meta_store *m, MDB_txn **txn, uint64_t intent, uint32_t step,
                        struct meta_step *done)
{
    int rc = meta_wr_begin(m, txn);
    if (rc)
        return rc;
    if ((rc = step_begin(m, *txn, intent, step, done)))
        mdb_txn_abort(*txn);
    return rc;
}

int meta_step_get(struct meta_store *m, uint64_t intent, uint32_t step, struct meta_step *out)
{
    MDB_txn *txn;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    rc = get_step(m, txn, intent, step, out);
    meta_rd_end(m);
    return rc;
}

int meta_step_claim(struct meta_store *m, uint64_t intent, uint32_t step, struct meta_step *out)
{
    MDB_txn *txn;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    rc = get_step(m, txn, intent, step, out);
    if (rc == -ENOENT) {
        *out = (struct meta_step){ .flags = META_STEP_ABORTED };
        rc = meta_step_put(m, txn, intent, step, out);
    }
    return meta_wr_end(txn, rc);
}

int meta_forget(struct meta_store *m, uint64_t intent)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    unsigned char kb[9];
    MDB_val k = { 8, kb }, v;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, m->applied, &cur))) {
        rc = meta_db_err(rc, "open cursor", intent);
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
    rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : meta_db_err(rc, "forget step marks", intent);
out:
    return meta_wr_end(txn, rc);
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
    return rc ? meta_db_err(rc, "put intent", in->id) : 0;
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
    if (mode != META_BEGIN_NOENTRY && (rc = meta_check_name(in->name, in->name_len)))
        return rc;
    if (in->newname_len && (rc = meta_check_name(in->newname, in->newname_len)))
        return rc;
    if ((rc = meta_wr_begin(m, &txn)))
        return rc;
    switch (mode) {
    case META_BEGIN_ENTRY:
    case META_BEGIN_DIR:
        if ((rc = meta_dent_get(m, txn, in->parent, in->name, in->name_len, &in->ino, &in->type)))
            goto out;
        if (mode == META_BEGIN_DIR && in->type != S_IFDIR)
            rc = -ENOTDIR;
        break;
    case META_BEGIN_NEW:
        rc = meta_dent_get(m, txn, in->parent, in->name, in->name_len, &ino, &type);
        rc = rc == 0 ? -EEXIST : rc == -ENOENT ? meta_parent_check(m, txn, in->parent) : rc;
        break;
    case META_BEGIN_NOENTRY:
        break;
    default:
        rc = -EINVAL;
    }
    if (rc)
        goto out;
    rc = meta_info_get(m, txn, "next_intent", &next);
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
    if ((rc = meta_info_put(m, txn, "next_intent", next + 1)) == 0)
        rc = put_intent(m, txn, in);
out:
    return meta_wr_end(txn, rc);
}

/* Rewrites stored intent id through fn (one transaction). */
static int intent_update(struct meta_store *m, uint64_t id, void (*fn)(struct meta_intent *, uint64_t),
                         uint64_t arg)
{
    MDB_txn *txn;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    struct meta_intent in;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    put_be64(kb, id);
    if ((rc = mdb_get(txn, m->intents, &k, &v))) {
        rc = meta_db_err(rc, "get intent", id);
        goto out;
    }
    if ((rc = decode_intent(&k, &v, &in)))
        goto out;
    fn(&in, arg);
    rc = put_intent(m, txn, &in);
out:
    return meta_wr_end(txn, rc);
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
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    put_be64(kb, id);
    rc = mdb_del(txn, m->intents, &k, NULL);
    rc = rc && rc != MDB_NOTFOUND ? meta_db_err(rc, "delete intent", id) : 0;
    return meta_wr_end(txn, rc);
}

/* A record as a meta_intent (meta_table_list's fn). */
static int intent_item(void *arg, const MDB_val *k, const MDB_val *v, void *item)
{
    (void)arg;
    int rc = decode_intent(k, v, item);
    return rc < 0 ? rc : 1;
}

int meta_intent_list(struct meta_store *m, struct meta_intent **out, size_t *n)
{
    void *list;
    int rc = meta_table_list(m, m->intents, "scan intents", sizeof **out, intent_item, NULL,
                             &list, n);
    *out = list;
    return rc;
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
    return rc ? meta_db_err(rc, "put fence", dir) : 0;
}

int meta_fence(struct meta_store *m, uint64_t dir, uint64_t intent)
{
    MDB_txn *txn;
    uint64_t holder = 0;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    int st = meta_fence_of(m, txn, dir, &holder);
    if (st < 0)
        rc = st;
    else if (st == META_FENCE_DEAD)
        rc = -ENOENT;
    else if (st == META_FENCE_HELD)
        rc = holder == intent ? 0 : -EBUSY;
    else if ((rc = meta_dir_nonempty(m, txn, dir)) > 0)
        rc = -ENOTEMPTY;
    else if (rc == 0)
        rc = put_fence(m, txn, dir, META_FENCE_HELD, intent);
    return meta_wr_end(txn, rc);
}

int meta_unfence(struct meta_store *m, uint64_t dir, uint64_t intent, int dead)
{
    MDB_txn *txn;
    unsigned char kb[8];
    MDB_val k = { 8, kb };
    uint64_t holder = 0;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    int st = meta_fence_of(m, txn, dir, &holder);
    put_be64(kb, dir);
    if (st < 0)
        rc = st;
    else if (st == META_FENCE_HELD && holder != intent)
        rc = -EBUSY;
    else if (dead)
        rc = st == META_FENCE_DEAD ? 0 : put_fence(m, txn, dir, META_FENCE_DEAD, intent);
    else if (st == META_FENCE_HELD && (rc = mdb_del(txn, m->fences, &k, NULL)))
        rc = meta_db_err(rc, "delete fence", dir);
    return meta_wr_end(txn, rc);
}
