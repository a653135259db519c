/* meta.c - the metadata store's environment (see meta.h): the LMDB environment
 * and its transactions, the info table, and opening (with format upgrades) and
 * closing the store.
 *
 * The store's parts, one job a file, sharing meta_int.h:
 *   meta.c          this: environment, transactions, info, open/close
 *   meta_grow.c     the map growing ahead of need (its space allocated on a thread)
 *   meta_records.c  inode records (and written extents), directory entries, parents
 *   meta_ns.c       the single-server namespace operations (lookup .. rename)
 *   meta_attr.c     attribute changes: setattr, atime, writes' sizes, fallocate
 *   meta_inline.c   inline small-file data
 *   meta_scan.c     raw reads of the tables (OP_SCAN, benchfs-fsck)
 *   meta_compact.c  giving a shrunken store's free pages back (a compact copy)
 *   meta_intents.c  multi-server operations: intents, step marks, fences
 *   meta_dirtimes.c the parents' times owed to other servers
 *   meta_steps.c    the participants' steps of multi-server operations
 *   xattr_store.c   extended attributes
 *
 * On-disk layout (one LMDB environment, <dir>/meta.lmdb, eleven named DBs):
 *
 *   info      "format" (META_FORMAT), "node_id", "chunk_size", "next_ino",
 *             "next_intent" -> u64 LE
 *   inodes    ino (u64 BE) -> inode record (meta_records.c)
 *   dentries  parent (u64 BE) | name hash (u64 BE) | name bytes -> child ino (u64 LE) | type (u32 LE)
 *   orphans   ino (u64 BE) -> empty: records kept with nlink 0, for meta_purge_orphans
 *   inline    ino (u64 BE) -> u8 state | data: the chunk-0 mode of a regular file
 *             (meta_inline.c)
 *   parents   dir ino (u64 BE) -> parent ino (u64 LE): a directory's "..", kept by the
 *             directory inode's owner (loop checks of directory moves, fsck)
 *   xattrs    ino (u64 BE) | name -> value: extended attributes (xattr_store.c)
 *   dirtimes  dir ino (u64 BE) -> stamp (i64 LE): a directory on another server
 *             owed its new times (meta_dirtimes.c; a server that does not know
 *             the table only leaves its records unsent)
 * Multi-server operations (see meta.h, "multi-server operations"; meta_intents.c):
 *   intents   intent id (u64 BE) -> intent record: on the coordinator
 *   applied   intent id (u64 BE) | step (u8) -> step result: on a participant,
 *             written in the step's own transaction, so a replayed step is
 *             answered from here instead of being done twice
 *   fences    dir ino (u64 BE) -> u8 state (META_FENCE_*) | u32 LE coordinator node
 *             | u64 LE intent id: a directory no entry may be added to here
 *
 * Keys are big-endian so LMDB's memcmp order groups a directory's entries and sorts
 * them by hash: readdir is a range scan and an entry's hash is its cookie.
 */
#include "meta.h"
#include "meta_int.h"
#include "../common/byteorder.h"
#include "../common/clock.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define META_FORMAT     META_STORE_FORMAT   /* 4: extended attributes; 3: special files,
                                               written extents; 2: inline data; 1..3 are
                                               read and upgraded */
#define META_MAP_MIN    (16ULL << 20)   /* first size of the map and of the file */
#define META_DBS        11              /* named databases (open_dbs) */

/* ---- LMDB plumbing ---- */

/* Maps an LMDB or system error to a negative errno and logs it. MDB_NOTFOUND is
 * an answer, not a failure, so it is not logged. */
int meta_db_err(int rc, const char *what, uint64_t ino)
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

int meta_rd_begin(struct meta_store *m, MDB_txn **txn)
{
    int rc = m->rtxn ? mdb_txn_renew(m->rtxn)
                     : mdb_txn_begin(m->env, NULL, MDB_RDONLY, &m->rtxn);
    if (rc)
        return meta_db_err(rc, "begin read txn", 0);
    *txn = m->rtxn;
    return 0;
}

void meta_rd_end(struct meta_store *m)
{
    mdb_txn_reset(m->rtxn);
}

int meta_wr_begin(struct meta_store *m, MDB_txn **txn)
{
    int rc = meta_grow_room(m);
    if (rc)
        return rc;
    rc = mdb_txn_begin(m->env, NULL, 0, txn);
    return rc ? meta_db_err(rc, "begin txn", 0) : 0;
}

/* The one exit of every write: commit on success, abort on error. */
int meta_wr_end(MDB_txn *txn, int rc)
{
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    return rc ? meta_db_err(rc, "commit", 0) : 0;
}

/* ---- info ---- */

int meta_info_get(struct meta_store *m, MDB_txn *txn, const char *key, uint64_t *val)
{
    MDB_val k = { strlen(key), (void *)key }, v;
    int rc = mdb_get(txn, m->info, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? -ENOENT : meta_db_err(rc, key, 0);
    if (v.mv_size != 8) {
        log_error("meta: %s: info '%s' has %zu bytes, want 8", m->path, key, v.mv_size);
        return -EIO;
    }
    *val = get_le64(v.mv_data);
    return 0;
}

int meta_info_put(struct meta_store *m, MDB_txn *txn, const char *key, uint64_t val)
{
    unsigned char b[8];
    MDB_val k = { strlen(key), (void *)key }, v = { 8, b };
    put_le64(b, val);
    int rc = mdb_put(txn, m->info, &k, &v, 0);
    return rc ? meta_db_err(rc, key, 0) : 0;
}

/* Takes the next inode number; the counter is saved in the caller's transaction. */
int meta_alloc_ino(struct meta_store *m, MDB_txn *txn, uint64_t *ino)
{
    uint64_t next;
    int rc = meta_info_get(m, txn, "next_ino", &next);
    if (rc)
        return rc == -ENOENT ? -EIO : rc;
    if (next == 0 || next >= COUNTER_LIMIT) {
        log_error("meta: %s: inode numbers exhausted (next %" PRIu64 ")", m->path, next);
        return -ENOSPC;
    }
    *ino = (uint64_t)m->node_id << BFS_INO_NODE_SHIFT | next;
    return meta_info_put(m, txn, "next_ino", next + 1);
}

MDB_dbi meta_xattr_dbi(const struct meta_store *m) { return m->xattrs; }

int meta_table_list(struct meta_store *m, MDB_dbi dbi, const char *what, size_t elem,
                    int (*fn)(void *arg, const MDB_val *k, const MDB_val *v, void *item),
                    void *arg, void **out, size_t *n)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char *list = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    int rc = meta_rd_begin(m, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) {
        rc = meta_db_err(rc, what, 0);
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *nl = realloc(list, ncap * elem);
            if (!nl) {
                rc = -ENOMEM;
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        int keep = fn(arg, &k, &v, list + cnt * elem);
        if (keep < 0) {
            rc = keep;
            goto out;
        }
        cnt += keep > 0;
    }
    rc = rc == MDB_NOTFOUND ? 0 : meta_db_err(rc, what, 0);
out:
    if (cur)
        mdb_cursor_close(cur);
    meta_rd_end(m);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *n = cnt;
    return 0;
}

/* ---- open / close ---- */

static int open_dbs(struct meta_store *m, MDB_txn *txn)
{
    const struct { const char *name; MDB_dbi *dbi; } dbs[] = {
        { "info", &m->info }, { "inodes", &m->inodes },
        { "dentries", &m->dentries }, { "orphans", &m->orphans }, { "inline", &m->inl },
        { "intents", &m->intents }, { "applied", &m->applied }, { "fences", &m->fences },
        { "parents", &m->parents }, { "xattrs", &m->xattrs }, { "dirtimes", &m->dirtimes },
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc)
            return meta_db_err(rc, dbs[i].name, 0);
    }
    return 0;
}

/* Checks an existing store against this server, or stamps a new one. */
static int init_info(struct meta_store *m, MDB_txn *txn, uint32_t chunk_size, int *fresh)
{
    uint64_t fmt, node, chunk;
    int rc = meta_info_get(m, txn, "format", &fmt);
    if (rc == -ENOENT) {
        *fresh = 1;
        if ((rc = meta_info_put(m, txn, "format", META_FORMAT)) ||
            (rc = meta_info_put(m, txn, "node_id", m->node_id)) ||
            (rc = meta_info_put(m, txn, "chunk_size", chunk_size)))
            return rc;
        /* Counter 1 on node 0 is the root, ino 1. */
        return meta_info_put(m, txn, "next_ino", m->node_id == 0 ? 2 : 1);
    }
    if (rc)
        return rc;
    *fresh = 0;
    if (fmt > META_FORMAT || fmt == 0) {
        log_error("meta: %s: format version %" PRIu64 ", this server reads %d", m->path, fmt,
                  META_FORMAT);
        return -EINVAL;
    }
    if ((rc = meta_info_get(m, txn, "node_id", &node)) || (rc = meta_info_get(m, txn, "chunk_size", &chunk)))
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
        if ((rc = meta_inline_upgrade(m, txn)))
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
        return meta_info_put(m, txn, "format", META_FORMAT);
    return 0;
}

static int init_root(struct meta_store *m, MDB_txn *txn, int fresh)
{
    struct bfs_attr root;
    int rc = meta_inode_get(m, txn, BFS_ROOT_INO, &root);
    if (rc != -ENOENT)
        return rc;
    if (!fresh)
        log_warn("meta: %s: root directory missing, recreating it", m->path);
    int64_t now = bfs_wall_ns();
    root = (struct bfs_attr){ .ino = BFS_ROOT_INO, .mode = S_IFDIR | 0755, .nlink = 2,
                              .atime_ns = now, .mtime_ns = now, .ctime_ns = now };
    return meta_inode_put(m, txn, &root, NULL, 0, NULL);
}

/* Opens the LMDB environment at m->path and its tables, checks or stamps the
 * info table. On failure nothing stays open (m->env is NULL). */
int meta_env_open(struct meta_store *m)
{
    MDB_txn *txn;
    int rc, fresh = 0;
    if ((rc = mdb_env_create(&m->env))) {
        m->env = NULL;
        return meta_db_err(rc, "create env", 0);
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
        rc = meta_db_err(rc, m->path, 0);
        goto fail;
    }
    MDB_envinfo info;
    MDB_stat st;
    if ((rc = mdb_env_info(m->env, &info)) || (rc = mdb_env_stat(m->env, &st))) {
        rc = meta_db_err(rc, m->path, 0);
        goto fail;
    }
    m->psize = st.ms_psize;
    if ((rc = meta_allocate_map(m, 0, info.me_mapsize)))
        goto fail;
    if (mdb_env_get_maxkeysize(m->env) < DKEY_MAX) {
        log_error("meta: %s: LMDB key limit %d < %d", m->path, mdb_env_get_maxkeysize(m->env),
                  DKEY_MAX);
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = meta_wr_begin(m, &txn)))
        goto fail;
    if (!(rc = open_dbs(m, txn)) && !(rc = init_info(m, txn, m->chunk_size, &fresh)) &&
        m->node_id == 0)
        rc = init_root(m, txn, fresh);
    MDB_stat fst;
    if (rc == 0 && (rc = mdb_stat(txn, m->fences, &fst)))
        rc = meta_db_err(rc, "fences", 0);
    m->fences_seen = m->fences_seen || (rc == 0 && fst.ms_entries > 0);
    if ((rc = meta_wr_end(txn, rc)) == 0)
        return 0;
fail:
    mdb_env_close(m->env);
    m->env = NULL;
    return rc;
}

int meta_open(const char *dir, uint32_t node_id, uint32_t chunk_size, struct meta_store **out)
{
    struct meta_store *m;
    int rc;

    *out = NULL;
    if (node_id >= 1u << (64 - BFS_INO_NODE_SHIFT) || chunk_size == 0) {
        log_error("meta: %s: bad node id %" PRIu32 " or chunk size %" PRIu32, dir, node_id,
                  chunk_size);
        return -EINVAL;
    }
    if (!(m = calloc(1, sizeof *m)))
        return -ENOMEM;
    m->node_id = node_id;
    m->chunk_size = chunk_size;
    m->inline_max = chunk_size < INLINE_MAX ? chunk_size : INLINE_MAX;
    if (!(m->scratch = malloc(1 + m->inline_max))) {
        free(m);
        return -ENOMEM;
    }
    if ((size_t)snprintf(m->path, sizeof m->path, "%s/meta.lmdb", dir) >= sizeof m->path) {
        log_error("meta: %s: path too long", dir);
        rc = -ENAMETOOLONG;
        goto fail;
    }
    meta_compact_drop(m);   /* a compaction's copy left by a kill -9: not the store */
    if ((rc = meta_env_open(m))) {
        log_error("meta: %s: cannot open metadata store: %s", m->path, strerror(-rc));
        goto fail;
    }
    *out = m;
    return 0;
fail:
    free(m->scratch);
    free(m);
    return rc;
}

void meta_close(struct meta_store *m)
{
    if (!m)
        return;
    meta_compact_drop(m);
    if (m->env)
        meta_atime_flush(m);   /* logs a failure */
    free(m->atimes);
    meta_grow_stop(m);
    if (m->rtxn)
        mdb_txn_abort(m->rtxn);
    if (m->env) {   /* NULL after a compaction that could not reopen it (meta_compact) */
        int rc = mdb_env_sync(m->env, 1);
        if (rc)
            log_error("meta: %s: sync: %s", m->path, mdb_strerror(rc));
        mdb_env_close(m->env);
    }
    free(m->scratch);
    free(m);
}

int meta_fd(struct meta_store *m)
{
    return m->fd;
}

int meta_sync(struct meta_store *m)
{
    int rc = meta_atime_flush(m);
    if (rc)
        return rc;
    rc = mdb_env_sync(m->env, 1);
    return rc ? meta_db_err(rc, "sync", 0) : 0;
}

uint64_t meta_inode_count(struct meta_store *m)
{
    MDB_txn *txn;
    MDB_stat st;
    if (meta_rd_begin(m, &txn))
        return 0;
    int rc = mdb_stat(txn, m->inodes, &st);
    meta_rd_end(m);
    return rc ? 0 : st.ms_entries;
}
