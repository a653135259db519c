/* meta_dirtimes.c - the parents' times this server owes other servers (meta.h,
 * "parents' times owed"; the touches themselves: server/dirtimes.c).
 *
 *   dirtimes  dir ino (u64 BE) -> stamp (i64 LE): a directory on another server
 *             whose touch this server had queued when the record was written;
 *             removed once a touch at least as late was taken there
 */
#include "meta.h"
#include "meta_int.h"
#include "../common/byteorder.h"
#include "../common/log.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>

int meta_dirtime_put(struct meta_store *m, uint64_t dir, int64_t stamp_ns)
{
    MDB_txn *txn;
    unsigned char kb[8], vb[8];
    MDB_val k = { 8, kb }, v = { 8, vb };
    put_be64(kb, dir);
    put_le64(vb, (uint64_t)stamp_ns);
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_put(txn, m->dirtimes, &k, &v, 0)))
        rc = meta_db_err(rc, "put dirtime", dir);
    return meta_wr_end(txn, rc);
}

int meta_dirtimes_settle(struct meta_store *m, const struct meta_dirtime *d, size_t n)
{
    MDB_txn *txn;
    int rc = meta_wr_begin(m, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char kb[8];
        MDB_val k = { 8, kb }, v;
        put_be64(kb, d[i].dir);
        rc = mdb_get(txn, m->dirtimes, &k, &v);
        if (rc == MDB_NOTFOUND) {
            rc = 0;   /* settled twice, or never written (the table was full) */
        } else if (rc) {
            rc = meta_db_err(rc, "get dirtime", d[i].dir);
        } else if (v.mv_size != 8 || (int64_t)get_le64(v.mv_data) <= d[i].stamp) {
            /* A later stamp stays: its touch is still on its way. */
            if ((rc = mdb_del(txn, m->dirtimes, &k, NULL)))
                rc = meta_db_err(rc, "delete dirtime", d[i].dir);
        }
    }
    return meta_wr_end(txn, rc);
}

/* A record as a meta_dirtime (meta_table_list's fn). */
static int dirtime_item(void *arg, const MDB_val *k, const MDB_val *v, void *item)
{
    struct meta_store *m = arg;
    if (k->mv_size != 8 || v->mv_size != 8) {
        log_warn("meta: %s: a dirtimes record of %zu/%zu bytes skipped", m->path, k->mv_size,
                 v->mv_size);
        return 0;
    }
    *(struct meta_dirtime *)item = (struct meta_dirtime){ .dir = get_be64(k->mv_data),
                                                         .stamp = (int64_t)get_le64(v->mv_data) };
    return 1;
}

int meta_dirtimes_list(struct meta_store *m, struct meta_dirtime **out, size_t *n)
{
    void *list;
    int rc = meta_table_list(m, m->dirtimes, "scan dirtimes", sizeof **out, dirtime_item, m,
                             &list, n);
    *out = list;
    return rc;
}
