/* load_lmdb.c - benchfs-fsck offline: stopped servers' stores read and repaired
 * directly (see load.h; the layout is server/meta*.c's, the chunk naming
 * server/chunkstore.c's). */
#include "load.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/byteorder.h"
#include "../common/clock.h"
#include "../common/placement.h"
#include "../server/chunkstore.h"
#include "../server/meta.h"

#define MAXDBS      32      /* room for tables of newer formats than ours */
#define META_FORMAT META_STORE_FORMAT   /* older stores are upgraded by a server start */
#define REC_HDR     49
#define DENT_VAL    12

struct store {
    char dir[PATH_MAX];
    MDB_env *env;
    int lock_fd;
    uint32_t node;
    uint32_t chunk_size;
};

struct fsck_stores {
    size_t n;
    int rw;
    struct store *s;        /* indexed by node id once open */
};

static int lmdb_err(const char *dir, const char *what, int rc)
{
    fprintf(stderr, "benchfs-fsck: %s: %s: %s\n", dir, what, mdb_strerror(rc));
    return rc > 0 && rc < MDB_KEYEXIST ? -rc : -EIO;
}

/* The server's lock (server.c, lock_data_dir): held exclusively while it runs.
 * A repair takes it too and keeps it; a check only looks. */
static int lock_dir(struct store *st, int rw)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/benchfs.lock", st->dir);
    int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;   /* no server ever ran here: nothing to exclude */
        fprintf(stderr, "benchfs-fsck: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    if (flock(fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        int e = errno;
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 1] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e != EWOULDBLOCK) {
            fprintf(stderr, "benchfs-fsck: %s: lock: %s\n", path, strerror(e));
            return -e;
        }
        if (rw) {
            fprintf(stderr, "benchfs-fsck: %s is in use by a running benchfs-server (pid %s): "
                    "stop it before --repair\n", st->dir, pid);
            return -EBUSY;
        }
        fprintf(stderr, "benchfs-fsck: warning: %s is in use by a running benchfs-server "
                "(pid %s): check it with --registry-dir instead; reading it anyway\n", st->dir, pid);
        return 0;
    }
    if (rw)
        st->lock_fd = fd;
    else
        close(fd);
    return 0;
}

static int info_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v)
{
    MDB_val k = { strlen(key), (void *)key }, d;
    int rc = mdb_get(txn, dbi, &k, &d);
    if (rc)
        return rc;
    if (d.mv_size != 8)
        return MDB_CORRUPTED;
    *v = get_le64(d.mv_data);
    return 0;
}

static int open_store(struct store *st, int rw)
{
    char path[PATH_MAX + 16];
    MDB_txn *txn;
    MDB_dbi info;
    uint64_t fmt = 0, node = 0, chunk = 0;
    int rc;
    if ((rc = lock_dir(st, rw)))
        return rc;
    snprintf(path, sizeof path, "%s/meta.lmdb", st->dir);
    struct stat sb;
    if (stat(path, &sb) < 0) {
        fprintf(stderr, "benchfs-fsck: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    if ((rc = mdb_env_create(&st->env)))
        return lmdb_err(st->dir, "create env", rc);
    /* Map the whole file (the server's map is its size), and room to grow for a repair. */
    size_t map = (size_t)sb.st_size + (rw ? 64u << 20 : 0);
    if ((rc = mdb_env_set_maxdbs(st->env, MAXDBS)) || (rc = mdb_env_set_mapsize(st->env, map)) ||
        (rc = mdb_env_open(st->env, path, MDB_NOSUBDIR | MDB_NOTLS | (rw ? 0 : MDB_RDONLY), 0600)))
        return lmdb_err(path, "open", rc);
    if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)))
        return lmdb_err(path, "begin", rc);
    rc = mdb_dbi_open(txn, "info", 0, &info);
    if (!rc && !(rc = info_u64(txn, info, "format", &fmt)) && !(rc = info_u64(txn, info, "node_id", &node)))
        rc = info_u64(txn, info, "chunk_size", &chunk);
    mdb_txn_abort(txn);
    if (rc)
        return lmdb_err(path, "info table (not a BenchFS store?)", rc);
    if (fmt != META_FORMAT) {
        fprintf(stderr, "benchfs-fsck: %s: store format %" PRIu64 ", this fsck reads %d (a server "
                "start upgrades format 1)\n", path, fmt, META_FORMAT);
        return -EINVAL;
    }
    if (node >= BFS_MAX_NODES || chunk == 0 || chunk > UINT32_MAX) {
        fprintf(stderr, "benchfs-fsck: %s: bad node id %" PRIu64 " or chunk size %" PRIu64 "\n",
                path, node, chunk);
        return -EINVAL;
    }
    st->node = (uint32_t)node;
    st->chunk_size = (uint32_t)chunk;
    return 0;
}

static void close_store(struct store *st)
{
    if (st->env)
        mdb_env_close(st->env);
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    st->env = NULL;
    st->lock_fd = -1;
}

void fsck_lmdb_close(struct fsck_stores *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        close_store(&s->s[i]);
    free(s->s);
    free(s);
}

int fsck_lmdb_open(char *const *dirs, size_t n, int rw, struct fsck_stores **out)
{
    int rc = 0;
    *out = NULL;
    if (n == 0 || n > BFS_MAX_NODES)
        return -EINVAL;
    struct fsck_stores *s = calloc(1, sizeof *s);
    struct store *tmp = calloc(n, sizeof *tmp);
    if (!s || !tmp) {
        free(s);
        free(tmp);
        return -ENOMEM;
    }
    s->n = n;
    s->rw = rw;
    s->s = tmp;
    for (size_t i = 0; i < n; i++)
        tmp[i].lock_fd = -1;
    for (size_t i = 0; i < n && !rc; i++) {
        if (snprintf(tmp[i].dir, sizeof tmp[i].dir, "%s", dirs[i]) >= (int)sizeof tmp[i].dir)
            rc = -ENAMETOOLONG;
        else
            rc = open_store(&tmp[i], rw);
    }
    /* Order by node id: every id 0..n-1 exactly once, one chunk size. */
    struct store *byid = rc ? NULL : calloc(n, sizeof *byid);
    if (!rc && !byid)
        rc = -ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        if (tmp[i].node >= n || byid[tmp[i].node].env) {
            fprintf(stderr, "benchfs-fsck: %s: store of node %" PRIu32 ", but %zu data dirs "
                    "name nodes 0..%zu once each (give every node's, and only once)\n",
                    tmp[i].dir, tmp[i].node, n, n - 1);
            rc = -EINVAL;
        } else if (tmp[i].chunk_size != tmp[0].chunk_size) {
            fprintf(stderr, "benchfs-fsck: %s: chunk size %" PRIu32 ", %s has %" PRIu32 "\n",
                    tmp[i].dir, tmp[i].chunk_size, tmp[0].dir, tmp[0].chunk_size);
            rc = -EINVAL;
        } else {
            byid[tmp[i].node] = tmp[i];
        }
    }
    if (rc) {
        free(byid);
        fsck_lmdb_close(s);
        return rc;
    }
    free(tmp);
    s->s = byid;
    *out = s;
    return 0;
}

uint32_t fsck_lmdb_chunk_size(const struct fsck_stores *s)
{
    return s->s[0].chunk_size;
}

/* ---- load ---- */

static int load_table(struct store *st, MDB_txn *txn, int table, struct fsck_db *db)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_dbi_open(txn, fsck_table_name[table], 0, &dbi);
    if (rc == MDB_NOTFOUND)
        return 0;   /* a table of a newer format this store does not have: empty */
    if (rc)
        return lmdb_err(st->dir, fsck_table_name[table], rc);
    db->has_table[st->node][table] = 1;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        return lmdb_err(st->dir, fsck_table_name[table], rc);
    int err = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !err;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        err = fsck_db_add(db, st->node, table, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
    mdb_cursor_close(cur);
    if (err)
        return err;
    return rc == MDB_NOTFOUND ? 0 : lmdb_err(st->dir, fsck_table_name[table], rc);
}

static int stray(struct fsck_db *db, uint32_t node, const char *kind, const char *path,
                 const char *why)
{
    char d[400];
    snprintf(d, sizeof d, "node %" PRIu32 ": %.300s: %.60s", node, path, why);
    return fsck_db_add_bad(db, node, kind, d);
}

static int load_bucket(struct store *st, const char *bucket, struct fsck_db *db)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/chunks/%s", st->dir, bucket);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "benchfs-fsck: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    unsigned b = (unsigned)strtoul(bucket, NULL, 16);
    struct dirent *e;
    int rc = 0;
    while (!rc && (errno = 0, e = readdir(d)) != NULL) {
        uint64_t ino, idx;
        char fp[PATH_MAX + 64];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(fp, sizeof fp, "%s/%s", path, e->d_name) >= (int)sizeof fp)
            fp[sizeof fp - 1] = '\0';    /* only named in a message */
        if (chunkstore_name_parse(e->d_name, &ino, &idx) < 0)
            rc = stray(db, st->node, "stray-file", fp, "not a chunk file's name");
        else if ((unsigned)chunkstore_bucket(ino) != b)
            rc = stray(db, st->node, "chunk-in-wrong-bucket", fp,
                       "the server looks for this chunk in another directory");
        else {
            uint8_t k[16];
            put_be64(k, ino);
            put_be64(k + 8, idx);
            rc = fsck_db_add(db, st->node, FSCK_T_CHUNKS, k, sizeof k, NULL, 0);
        }
    }
    if (!rc && errno) {
        rc = -errno;
        fprintf(stderr, "benchfs-fsck: %s: %s\n", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

static int load_chunks(struct store *st, struct fsck_db *db)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/chunks", st->dir);
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "benchfs-fsck: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    db->has_table[st->node][FSCK_T_CHUNKS] = 1;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (strlen(n) == 2 && strspn(n, "0123456789abcdef") == 2)
            rc = load_bucket(st, n, db);
        else {
            char fp[PATH_MAX + 64];
            if (snprintf(fp, sizeof fp, "%s/%s", path, n) >= (int)sizeof fp)
                fp[sizeof fp - 1] = '\0';
            rc = stray(db, st->node, "stray-file", fp, "not a chunk bucket directory");
        }
    }
    closedir(d);
    return rc;
}

int fsck_lmdb_load(struct fsck_stores *s, struct fsck_db *db)
{
    for (size_t i = 0; i < s->n; i++) {
        struct store *st = &s->s[i];
        MDB_txn *txn;
        int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
        if (rc)
            return lmdb_err(st->dir, "begin", rc);
        for (int t = 0; t < FSCK_T_MAX && !rc; t++)
            rc = t == FSCK_T_CHUNKS ? 0 : load_table(st, txn, t, db);
        mdb_txn_abort(txn);
        if (!rc)
            rc = load_chunks(st, db);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- repair ---- */

struct wtx {
    MDB_txn *txn;
    MDB_dbi dbi[FSCK_T_MAX];      /* the chunk "table" has none */
    uint8_t has[FSCK_T_MAX];
};

struct repair {
    struct fsck_stores *s;
    const struct fsck_db *db;
    struct wtx *w;          /* per node */
    FILE *out;
    size_t done;
};

static int begin_node(struct repair *R, uint32_t node)
{
    struct store *st = &R->s->s[node];
    struct wtx *w = &R->w[node];
    int rc = mdb_txn_begin(st->env, NULL, 0, &w->txn);
    if (rc)
        return lmdb_err(st->dir, "begin write", rc);
    for (int t = 0; t < FSCK_T_MAX; t++) {
        if (t == FSCK_T_CHUNKS)
            continue;
        /* open only what exists: a repair does not add tables of other formats */
        rc = mdb_dbi_open(w->txn, fsck_table_name[t], 0, &w->dbi[t]);
        if (rc == 0)
            w->has[t] = 1;
        else if (rc != MDB_NOTFOUND)
            return lmdb_err(st->dir, fsck_table_name[t], rc);
    }
    return 0;
}

static int del(struct repair *R, uint32_t node, int table, const void *key, size_t klen)
{
    struct wtx *w = &R->w[node];
    if (!w->has[table])
        return 0;
    MDB_val k = { klen, (void *)key };
    int rc = mdb_del(w->txn, w->dbi[table], &k, NULL);
    return rc && rc != MDB_NOTFOUND ? lmdb_err(R->s->s[node].dir, "delete", rc) : 0;
}

static int put(struct repair *R, uint32_t node, int table, const void *key, size_t klen,
               const void *val, size_t vlen, unsigned flags)
{
    struct wtx *w = &R->w[node];
    if (!w->has[table]) {
        fprintf(stderr, "benchfs-fsck: %s: no %s table\n", R->s->s[node].dir, fsck_table_name[table]);
        return -ENOENT;
    }
    MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
    int rc = mdb_put(w->txn, w->dbi[table], &k, &v, flags);
    return rc ? lmdb_err(R->s->s[node].dir, "put", rc) : 0;
}

/* Sets (delta 0) or changes the nlink of inode ino on node, in place in its record. */
static int nlink(struct repair *R, uint32_t node, uint64_t ino, int delta, uint32_t value,
                 uint32_t *now)
{
    struct wtx *w = &R->w[node];
    uint8_t kb[8], buf[REC_HDR + BFS_SYMLINK_MAX];
    put_be64(kb, ino);
    MDB_val k = { 8, kb }, v;
    int rc = mdb_get(w->txn, w->dbi[FSCK_T_INODES], &k, &v);
    if (rc || v.mv_size < REC_HDR || v.mv_size > sizeof buf) {
        fprintf(stderr, "benchfs-fsck: node %" PRIu32 ": ino 0x%" PRIx64 ": inode record %s\n",
                node, ino, rc ? mdb_strerror(rc) : "malformed");
        return -EIO;
    }
    memcpy(buf, v.mv_data, v.mv_size);   /* copied: the put may move the page */
    uint32_t n = delta ? get_le32(buf + 5) + (uint32_t)delta : value;
    put_le32(buf + 5, n);
    if (now)
        *now = n;
    return put(R, node, FSCK_T_INODES, kb, 8, buf, v.mv_size, 0);
}

static int put_dent(struct repair *R, uint64_t parent, const char *name, size_t len,
                    uint64_t ino, uint32_t type, uint32_t *node)
{
    unsigned char kb[16 + BFS_NAME_MAX];
    uint8_t vb[DENT_VAL];
    size_t kl = meta_dentry_key(parent, name, len, kb);
    put_le64(vb, ino);
    put_le32(vb + 8, type);
    *node = place_dentry(parent, name, len, R->db->nodes);
    return put(R, *node, FSCK_T_DENTRIES, kb, kl, vb, sizeof vb, MDB_NOOVERWRITE);
}

static void said(struct repair *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void said(struct repair *R, const char *fmt, ...)
{
    va_list ap;
    fputs("repaired: ", R->out);
    va_start(ap, fmt);
    vfprintf(R->out, fmt, ap);
    va_end(ap);
    fputc('\n', R->out);
    R->done++;
}

static int fix_one(struct repair *R, const struct fsck_problem *p)
{
    uint8_t k[16 + BFS_NAME_MAX], v[16];
    size_t kl;
    int rc = 0;
    switch (p->fix) {
    case FIX_DEL_DENT:
        kl = meta_dentry_key(p->parent, p->name, p->len, k);
        if (!(rc = del(R, p->node, FSCK_T_DENTRIES, k, kl)))
            said(R, "node %" PRIu32 ": removed entry (parent 0x%" PRIx64 ", name \"%.*s\") -> "
                 "ino 0x%" PRIx64 " (%s)", p->node, p->parent, (int)p->len, p->name, p->ino, p->kind);
        return rc;
    case FIX_SET_DENT_TYPE:
        kl = meta_dentry_key(p->parent, p->name, p->len, k);
        put_le64(v, p->ino);
        put_le32(v + 8, (uint32_t)p->value);
        if (!(rc = put(R, p->node, FSCK_T_DENTRIES, k, kl, v, DENT_VAL, 0)))
            said(R, "node %" PRIu32 ": entry (parent 0x%" PRIx64 ", name \"%.*s\"): type set "
                 "to the inode's", p->node, p->parent, (int)p->len, p->name);
        return rc;
    case FIX_SET_NLINK:
        if (!(rc = nlink(R, p->node, p->ino, 0, (uint32_t)p->value, NULL)))
            said(R, "node %" PRIu32 ": ino 0x%" PRIx64 ": nlink set to %" PRIu64, p->node,
                 p->ino, p->value);
        return rc;
    case FIX_ADD_ORPHAN:
    case FIX_DEL_ORPHAN:
        put_be64(k, p->ino);
        rc = p->fix == FIX_ADD_ORPHAN ? put(R, p->node, FSCK_T_ORPHANS, k, 8, k, 0, 0)
                                      : del(R, p->node, FSCK_T_ORPHANS, k, 8);
        if (!rc)
            said(R, "node %" PRIu32 ": ino 0x%" PRIx64 ": %s orphans%s", p->node, p->ino,
                 p->fix == FIX_ADD_ORPHAN ? "added to" : "removed from",
                 p->fix == FIX_ADD_ORPHAN ? " (the server purges it at start)" : "");
        return rc;
    case FIX_DEL_INLINE:
        put_be64(k, p->ino);
        if (!(rc = del(R, p->node, FSCK_T_INLINE, k, 8)))
            said(R, "node %" PRIu32 ": ino 0x%" PRIx64 ": inline record removed", p->node, p->ino);
        return rc;
    case FIX_DEL_FENCE:
        put_be64(k, p->ino);
        if (!(rc = del(R, p->node, FSCK_T_FENCES, k, 8)))
            said(R, "node %" PRIu32 ": stale fence on directory 0x%" PRIx64 " removed", p->node,
                 p->ino);
        return rc;
    case FIX_DEL_APPLIED:
        put_be64(k, p->value);
        k[8] = (uint8_t)p->idx;
        if (!(rc = del(R, p->node, FSCK_T_APPLIED, k, 9)))
            said(R, "node %" PRIu32 ": stale applied mark (node %" PRIu32 ", intent %" PRIu64
                 ", step %" PRIu64 ") removed", p->node, p->coord, p->value, p->idx);
        return rc;
    case FIX_SET_PARENT:
    case FIX_DEL_PARENT:
        put_be64(k, p->ino);
        put_le64(v, p->value);
        rc = p->fix == FIX_SET_PARENT ? put(R, p->node, FSCK_T_PARENTS, k, 8, v, 8, 0)
                                      : del(R, p->node, FSCK_T_PARENTS, k, 8);
        if (!rc)
            said(R, "node %" PRIu32 ": parents record of 0x%" PRIx64 " %s", p->node, p->ino,
                 p->fix == FIX_SET_PARENT ? "set to its entry's parent" : "removed");
        return rc;
    case FIX_DEL_XATTR:
        put_be64(k, p->ino);
        memcpy(k + 8, p->name, p->len);
        if (!(rc = del(R, p->node, FSCK_T_XATTRS, k, 8 + p->len)))
            said(R, "node %" PRIu32 ": ino 0x%" PRIx64 ": extended attribute removed", p->node,
                 p->ino);
        return rc;
    default:
        return 0;   /* chunks and lost+found come after */
    }
}

/* Creates /lost+found: a directory inode on node 0 (next_ino of its info table). */
static int make_lostfound(struct repair *R, uint64_t *lf)
{
    struct wtx *w = &R->w[0];
    uint8_t b[8], rec[REC_HDR] = { 1 };
    MDB_val k = { 8, "next_ino" }, v;
    int rc = mdb_get(w->txn, w->dbi[FSCK_T_INFO], &k, &v);
    if (rc || v.mv_size != 8)
        return lmdb_err(R->s->s[0].dir, "info next_ino", rc ? rc : MDB_CORRUPTED);
    uint64_t next = get_le64(v.mv_data);
    if (next == 0 || next >= 1ULL << BFS_INO_NODE_SHIFT)
        return -ENOSPC;
    put_le64(b, next + 1);
    if ((rc = put(R, 0, FSCK_T_INFO, "next_ino", 8, b, 8, 0)))
        return rc;
    *lf = next;     /* node 0: the counter is the inode number */
    int64_t t = bfs_wall_ns();
    put_le32(rec + 1, S_IFDIR | 0700);
    put_le32(rec + 5, 2);
    for (int i = 0; i < 3; i++)
        put_le64(rec + 25 + 8 * i, (uint64_t)t);
    put_be64(b, *lf);
    uint32_t node, n;
    if ((rc = put(R, 0, FSCK_T_INODES, b, 8, rec, sizeof rec, MDB_NOOVERWRITE)) ||
        (rc = put_dent(R, BFS_ROOT_INO, "lost+found", 10, *lf, S_IFDIR, &node)) ||
        (rc = nlink(R, 0, BFS_ROOT_INO, 1, 0, &n)))
        return rc;
    if (R->w[0].has[FSCK_T_PARENTS]) {
        put_le64(rec, BFS_ROOT_INO);
        if ((rc = put(R, 0, FSCK_T_PARENTS, b, 8, rec, 8, 0)))
            return rc;
    }
    said(R, "node 0: created /lost+found, ino 0x%" PRIx64 " (entry on node %" PRIu32 "; root "
         "nlink now %" PRIu32 ")", *lf, node, n);
    return 0;
}

static int lost_found(struct repair *R, const struct fsck_report *r)
{
    uint64_t lf = r->lostfound;
    int rc = 0;
    for (size_t i = 0; i < r->n_p && !rc; i++) {
        const struct fsck_problem *p = &r->p[i];
        if (p->fix != FIX_LOSTFOUND)
            continue;
        if (r->lostfound_blocked && !lf) {
            fprintf(R->out, "cannot repair: ino 0x%" PRIx64 ": /lost+found exists and is not a "
                    "directory\n", p->ino);
            continue;
        }
        if (!lf && (rc = make_lostfound(R, &lf)))
            break;
        char name[32];
        size_t len = fsck_lost_name(p->ino, name, sizeof name);
        uint32_t node, n = 0, owner = bfs_ino_node(p->ino);
        if ((rc = put_dent(R, lf, name, len, p->ino, p->type, &node)))
            break;
        if (p->type == S_IFDIR) {
            uint8_t k[8], v[8];
            rc = nlink(R, bfs_ino_node(lf), lf, 1, 0, NULL);
            if (!rc && R->w[owner].has[FSCK_T_PARENTS]) {
                put_be64(k, p->ino);
                put_le64(v, lf);
                rc = put(R, owner, FSCK_T_PARENTS, k, 8, v, 8, 0);
            }
        } else {
            rc = nlink(R, owner, p->ino, 0, 1, &n);
        }
        if (!rc)
            said(R, "node %" PRIu32 ": ino 0x%" PRIx64 " linked as /lost+found/%s (entry on node "
                 "%" PRIu32 ")", owner, p->ino, name, node);
    }
    return rc;
}

static void del_chunks(struct repair *R, const struct fsck_report *r)
{
    for (size_t i = 0; i < r->n_p; i++) {
        const struct fsck_problem *p = &r->p[i];
        if (p->fix != FIX_DEL_CHUNK)
            continue;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/chunks/%02x/%016" PRIx64 ".%" PRIu64,
                 R->s->s[p->node].dir, chunkstore_bucket(p->ino), p->ino, p->idx);
        if (unlink(path) == 0 || errno == ENOENT)
            said(R, "node %" PRIu32 ": deleted chunk file %s (%s)", p->node, path, p->kind);
        else
            fprintf(R->out, "cannot repair: %s: %s\n", path, strerror(errno));
    }
}

int fsck_lmdb_repair(struct fsck_stores *s, const struct fsck_db *db,
                     const struct fsck_report *r, FILE *out, size_t *done)
{
    struct repair R = { .s = s, .db = db, .out = out };
    int rc = 0;
    *done = 0;
    if (!s->rw)
        return -EROFS;
    for (size_t i = 0; i < r->n_p; i++)
        if (!strcmp(r->p[i].kind, "root-missing")) {
            /* every top-level entry would look orphaned: let the server recreate it first */
            fprintf(out, "cannot repair: the root directory is missing; a start of node 0's "
                    "server recreates it, stop the servers and run fsck again\n");
            return 0;
        }
    if (!(R.w = calloc(s->n, sizeof *R.w)))
        return -ENOMEM;
    for (uint32_t i = 0; i < s->n && !rc; i++)
        rc = begin_node(&R, i);
    for (size_t i = 0; i < r->n_p && !rc; i++)
        rc = fix_one(&R, &r->p[i]);
    if (!rc)
        rc = lost_found(&R, r);
    /* All nodes' transactions commit, or (on any failure before) none does. */
    int planned = rc;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!R.w[i].txn)
            continue;
        if (rc) {
            mdb_txn_abort(R.w[i].txn);
            continue;
        }
        int c = mdb_txn_commit(R.w[i].txn);
        if (c)
            rc = lmdb_err(s->s[i].dir, "commit", c);
        else if ((c = mdb_env_sync(s->s[i].env, 1)))
            rc = lmdb_err(s->s[i].dir, "sync", c);
    }
    if (!rc)
        del_chunks(&R, r);
    else
        fprintf(out, "benchfs-fsck: repair failed: %s (%s)\n", strerror(-rc),
                planned ? "nothing was changed" : "a commit failed: the nodes before it were "
                "repaired, the others not");
    free(R.w);
    *done = R.done;
    return rc;
}
