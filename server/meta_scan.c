/* meta_scan.c - raw pages of the store's tables (meta_scan, meta.h): what
 * OP_SCAN sends benchfs-fsck and other tools, read-only, in key order.
 */
#include "meta.h"
#include "meta_int.h"
#include "../common/byteorder.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>

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
    if ((rc = meta_rd_begin(m, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) {
        meta_rd_end(m);
        return meta_db_err(rc, "open cursor", 0);
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
        rc = meta_db_err(rc, "scan", 0);
    mdb_cursor_close(cur);
    meta_rd_end(m);
    return rc;
}
