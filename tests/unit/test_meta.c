/* test_meta.c - unit tests of the metadata store (server/meta*.c) on real LMDB stores in temp dirs. */
#include "../test.h"
#include "meta_fixture.h"
#include "../../server/meta.h"
#include "../../server/meta_int.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NODE(n, c) (((uint64_t)(n) << BFS_INO_NODE_SHIFT) | (c))

/* Creates name in parent; returns the new ino, 0 on failure. */
static uint64_t mk(struct meta_store *m, uint64_t parent, const char *name, uint32_t mode,
                   int64_t now)
{
    struct bfs_attr a;
    const char *tgt = S_ISLNK(mode) ? "target" : NULL;
    int rc = meta_create(m, parent, name, strlen(name), mode, 1000, 100, tgt, tgt ? 6 : 0, now, &a);
    return rc == 0 ? a.ino : 0;
}

static int lookup(struct meta_store *m, uint64_t parent, const char *name, uint64_t *ino)
{
    uint32_t type;
    uint64_t dummy;
    return meta_lookup(m, parent, name, strlen(name), ino ? ino : &dummy, &type);
}

static uint32_t nlink_of(struct meta_store *m, uint64_t ino)
{
    struct bfs_attr a;
    return meta_getattr(m, ino, &a) == 0 ? a.nlink : 0xdead;
}

/* Puts (put = 1) raw bytes into a DB of the (closed) store at tdir, as corruption
 * would, or gets them (put = 0: at most *vlen bytes into val, *vlen = the size). */
static int raw_op(const char *db, const void *key, size_t klen, void *val, size_t *vlen, int put)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char p[128];
    MDB_val k = { klen, (void *)key }, v = { *vlen, val };
    snprintf(p, sizeof p, "%s/meta.lmdb", tdir);
    int rc = mdb_env_create(&env);
    if (rc)
        return rc;
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_mapsize(env, 64ULL << 30);
    if (!(rc = mdb_env_open(env, p, MDB_NOSUBDIR, 0600)) &&
        !(rc = mdb_txn_begin(env, NULL, 0, &txn))) {
        if (!(rc = mdb_dbi_open(txn, db, 0, &dbi)) &&
            !(rc = put ? mdb_put(txn, dbi, &k, &v, 0) : mdb_get(txn, dbi, &k, &v))) {
            if (!put) {
                memcpy(val, v.mv_data, v.mv_size < *vlen ? v.mv_size : *vlen);
                *vlen = v.mv_size;
            }
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
    }
    mdb_env_close(env);
    return rc;
}

static int raw_put(const char *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    return raw_op(db, key, klen, (void *)val, &vlen, 1);
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* ---- open / persistence ---- */

static void test_root_and_open(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    REQUIRE(m);
    CHECK_EQ(meta_getattr(m, BFS_ROOT_INO, &a), 0);
    CHECK_EQ(a.ino, 1);
    CHECK_EQ(a.mode, S_IFDIR | 0755);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(a.uid, 0);
    CHECK_EQ(a.gid, 0);
    CHECK(a.mtime_ns > 0 && a.ctime_ns == a.mtime_ns);
    CHECK_EQ(meta_inode_count(m), 1);
    CHECK(meta_fd(m) >= 0);
    CHECK_EQ(meta_sync(m), 0);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 5);
    CHECK_EQ(f, 2);   /* counter 1 is the root's */
    teardown(m);

    m = setup(3);
    REQUIRE(m);
    CHECK_EQ(meta_getattr(m, BFS_ROOT_INO, &a), -ENOENT);
    CHECK_EQ(meta_inode_count(m), 0);
    f = mk(m, 1, "f", S_IFREG | 0644, 5);   /* parent remote: not checked here */
    CHECK_EQ(f, NODE(3, 1));
    CHECK_EQ(bfs_ino_node(f), 3);
    teardown(m);

    m = NULL;
    CHECK(meta_open("/nonexistent/dir/x", 0, CHUNK, &m) < 0);
    CHECK(m == NULL);
    meta_close(NULL);
}

static void test_persistence(void)
{
    struct meta_store *m = setup(0), *m2 = NULL;
    struct bfs_attr a;
    uint64_t ino;
    REQUIRE(m);
    uint64_t d = mk(m, 1, "dir", S_IFDIR | 0700, 10);
    uint64_t f = mk(m, d, "file", S_IFREG | 0600, 11);
    REQUIRE(d && f);
    meta_close(m);

    CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), 0);
    REQUIRE(m);
    CHECK_EQ(lookup(m, 1, "dir", &ino), 0);
    CHECK_EQ(ino, d);
    CHECK_EQ(lookup(m, d, "file", &ino), 0);
    CHECK_EQ(ino, f);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.mode, S_IFREG | 0600);
    CHECK_EQ(nlink_of(m, 1), 3);
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 12);
    CHECK(g > f);   /* the counter survived */
    meta_close(m);

    CHECK_EQ(meta_open(tdir, 1, CHUNK, &m2), -EINVAL);
    CHECK(m2 == NULL);
    CHECK_EQ(meta_open(tdir, 0, CHUNK * 2, &m2), -EINVAL);
    CHECK(m2 == NULL);
    CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), 0);
    teardown(m);
}

/* ---- create / lookup / getattr ---- */

static void test_create(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, p;
    uint64_t ino;
    uint32_t type;
    REQUIRE(m);

    CHECK_EQ(meta_create(m, 1, "file", 4, S_IFREG | 0640, 7, 8, NULL, 0, 100, &a), 0);
    CHECK_EQ(a.mode, S_IFREG | 0640);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(a.uid, 7);
    CHECK_EQ(a.gid, 8);
    CHECK_EQ(a.size, 0);
    CHECK_EQ(a.atime_ns, 100);
    CHECK_EQ(a.mtime_ns, 100);
    CHECK_EQ(a.ctime_ns, 100);
    uint64_t f = a.ino;
    CHECK_EQ(meta_lookup(m, 1, "file", 4, &ino, &type), 0);
    CHECK_EQ(ino, f);
    CHECK_EQ(type, S_IFREG);
    CHECK_EQ(meta_getattr(m, f, &p), 0);
    CHECK(a.ino == p.ino && a.mode == p.mode && a.nlink == p.nlink && a.uid == p.uid &&
          a.gid == p.gid && a.size == p.size && a.atime_ns == p.atime_ns &&
          a.mtime_ns == p.mtime_ns && a.ctime_ns == p.ctime_ns && a.rdev == p.rdev &&
          a.blocks == p.blocks && a.flags == p.flags);
    CHECK_EQ(meta_getattr(m, 1, &p), 0);
    CHECK_EQ(p.mtime_ns, 100);
    CHECK_EQ(p.ctime_ns, 100);
    CHECK_EQ(p.nlink, 2);

    CHECK_EQ(meta_create(m, 1, "dir", 3, S_IFDIR | 0755, 7, 8, NULL, 0, 200, &a), 0);
    uint64_t d = a.ino;
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(a.mode, S_IFDIR | 0755);
    CHECK_EQ(meta_lookup(m, 1, "dir", 3, &ino, &type), 0);
    CHECK_EQ(type, S_IFDIR);
    CHECK_EQ(meta_getattr(m, 1, &p), 0);
    CHECK_EQ(p.nlink, 3);
    CHECK_EQ(p.mtime_ns, 200);

    CHECK_EQ(meta_create(m, d, "ln", 2, S_IFLNK | 0777, 7, 8, "../file", 7, 300, &a), 0);
    CHECK_EQ(a.mode, S_IFLNK | 0777);
    CHECK_EQ(a.size, 7);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(meta_lookup(m, d, "ln", 2, &ino, &type), 0);
    CHECK_EQ(type, S_IFLNK);
    CHECK_EQ(ino, a.ino);
    CHECK_EQ(meta_getattr(m, d, &p), 0);
    CHECK_EQ(p.mtime_ns, 300);
    CHECK_EQ(p.nlink, 2);

    CHECK_EQ(meta_lookup(m, 1, "nope", 4, &ino, &type), -ENOENT);
    CHECK_EQ(meta_lookup(m, d, "file", 4, &ino, &type), -ENOENT);
    CHECK_EQ(meta_getattr(m, 12345, &p), -ENOENT);
    CHECK_EQ(meta_inode_count(m), 4);

    /* EEXIST whatever the type, and nothing changes */
    CHECK_EQ(meta_create(m, 1, "file", 4, S_IFREG | 0644, 0, 0, NULL, 0, 400, &a), -EEXIST);
    CHECK_EQ(meta_create(m, 1, "file", 4, S_IFDIR | 0755, 0, 0, NULL, 0, 400, &a), -EEXIST);
    CHECK_EQ(meta_create(m, 1, "dir", 3, S_IFLNK | 0777, 0, 0, "x", 1, 400, &a), -EEXIST);
    CHECK_EQ(meta_inode_count(m), 4);
    CHECK_EQ(nlink_of(m, 1), 3);
    CHECK_EQ(meta_getattr(m, 1, &p), 0);
    CHECK_EQ(p.mtime_ns, 200);
    teardown(m);
}

static void test_bad_names(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    char big[BFS_SYMLINK_MAX + 2];
    uint64_t ino;
    uint32_t type;
    REQUIRE(m);
    memset(big, 'x', sizeof big);

    CHECK_EQ(meta_create(m, 1, "", 0, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), -EINVAL);
    CHECK_EQ(meta_create(m, 1, ".", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), -EINVAL);
    CHECK_EQ(meta_create(m, 1, "..", 2, S_IFDIR | 0755, 0, 0, NULL, 0, 1, &a), -EINVAL);
    CHECK_EQ(meta_create(m, 1, "a/b", 3, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), -EINVAL);
    CHECK_EQ(meta_create(m, 1, "a\0b", 3, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), -EINVAL);
    CHECK_EQ(meta_create(m, 1, big, BFS_NAME_MAX + 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a),
             -ENAMETOOLONG);
    CHECK_EQ(meta_create(m, 1, big, BFS_NAME_MAX, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), 0);
    CHECK_EQ(meta_lookup(m, 1, big, BFS_NAME_MAX, &ino, &type), 0);
    CHECK_EQ(ino, a.ino);
    CHECK_EQ(meta_create(m, 1, "...", 3, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), 0);
    CHECK_EQ(meta_create(m, 1, ".x", 2, S_IFREG | 0644, 0, 0, NULL, 0, 1, &a), 0);
    /* every type mknod(2) makes, and no other */
    CHECK_EQ(meta_create(m, 1, "fifo", 4, S_IFIFO | 0644, 0, 0, NULL, 0, 1, &a), 0);
    CHECK_EQ(meta_create(m, 1, "none", 4, 0644, 0, 0, NULL, 0, 1, &a), -EINVAL);
    /* symlink targets */
    CHECK_EQ(meta_create(m, 1, "l0", 2, S_IFLNK | 0777, 0, 0, "", 0, 1, &a), -ENOENT);
    CHECK_EQ(meta_create(m, 1, "l1", 2, S_IFLNK | 0777, 0, 0, big, BFS_SYMLINK_MAX + 1, 1, &a),
             -ENAMETOOLONG);
    CHECK_EQ(meta_create(m, 1, "l2", 2, S_IFLNK | 0777, 0, 0, big, BFS_SYMLINK_MAX, 1, &a), 0);
    CHECK_EQ(a.size, BFS_SYMLINK_MAX);
    /* lookups validate too */
    CHECK_EQ(meta_lookup(m, 1, "..", 2, &ino, &type), -EINVAL);
    CHECK_EQ(meta_lookup(m, 1, big, BFS_NAME_MAX + 1, &ino, &type), -ENAMETOOLONG);
    CHECK_EQ(meta_inode_count(m), 6);
    teardown(m);
}

static void test_parent_checks(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    uint64_t ino;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    REQUIRE(f);
    CHECK_EQ(meta_create(m, f, "x", 1, S_IFREG | 0644, 0, 0, NULL, 0, 2, &a), -ENOTDIR);
    CHECK_EQ(meta_create(m, 999, "x", 1, S_IFREG | 0644, 0, 0, NULL, 0, 2, &a), -ENOENT);
    /* a remote parent is its owner's business */
    uint64_t rp = NODE(5, 77);
    CHECK_EQ(meta_create(m, rp, "x", 1, S_IFDIR | 0755, 0, 0, NULL, 0, 2, &a), 0);
    CHECK_EQ(lookup(m, rp, "x", &ino), 0);
    CHECK_EQ(ino, a.ino);
    CHECK_EQ(bfs_ino_node(ino), 0);
    teardown(m);
}

static void test_readlink(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    char buf[BFS_SYMLINK_MAX];
    size_t len = 99;
    REQUIRE(m);
    CHECK_EQ(meta_create(m, 1, "l", 1, S_IFLNK | 0777, 0, 0, "/a/b/c", 6, 1, &a), 0);
    CHECK_EQ(meta_readlink(m, a.ino, buf, sizeof buf, &len), 0);
    CHECK_EQ(len, 6);
    CHECK(memcmp(buf, "/a/b/c", 6) == 0);
    CHECK_EQ(meta_readlink(m, a.ino, buf, 3, &len), 0);
    CHECK_EQ(len, 3);
    CHECK(memcmp(buf, "/a/", 3) == 0);
    CHECK_EQ(meta_readlink(m, 1, buf, sizeof buf, &len), -EINVAL);
    CHECK_EQ(meta_readlink(m, 4242, buf, sizeof buf, &len), -ENOENT);
    /* attributes change, the target stays */
    struct bfs_attr in = { .uid = 9 };
    CHECK_EQ(meta_setattr(m, a.ino, BFS_SET_UID, &in, 5, &a, NULL), 0);
    CHECK_EQ(meta_readlink(m, a.ino, buf, sizeof buf, &len), 0);
    CHECK_EQ(len, 6);
    CHECK(memcmp(buf, "/a/b/c", 6) == 0);
    teardown(m);
}

/* ---- setattr ---- */

static void test_setattr(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, in = { 0 };
    struct bfs_attr old;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 10);
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 10);
    uint64_t l = mk(m, 1, "l", S_IFLNK | 0777, 10);
    REQUIRE(f && d && l);

    in.mode = S_IFDIR | 04711;   /* the type bits must be ignored */
    CHECK_EQ(meta_setattr(m, f, BFS_SET_MODE, &in, 20, &a, NULL), 0);
    CHECK_EQ(a.mode, S_IFREG | 04711);
    CHECK_EQ(a.ctime_ns, 20);
    CHECK_EQ(a.mtime_ns, 10);
    in.uid = 5;
    in.gid = 6;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_UID, &in, 21, &a, NULL), 0);
    CHECK_EQ(a.uid, 5);
    CHECK_EQ(a.gid, 100);
    CHECK_EQ(meta_setattr(m, f, BFS_SET_GID, &in, 22, &a, NULL), 0);
    CHECK_EQ(a.gid, 6);
    CHECK_EQ(a.ctime_ns, 22);
    in.atime_ns = 1111;
    in.mtime_ns = 2222;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_ATIME | BFS_SET_MTIME, &in, 23, &a, NULL), 0);
    CHECK_EQ(a.atime_ns, 1111);
    CHECK_EQ(a.mtime_ns, 2222);
    CHECK_EQ(a.ctime_ns, 23);
    CHECK_EQ(meta_setattr(m, f, BFS_SET_ATIME_NOW | BFS_SET_MTIME_NOW, &in, 24, &a, NULL), 0);
    CHECK_EQ(a.atime_ns, 24);
    CHECK_EQ(a.mtime_ns, 24);
    in.ctime_ns = 3333;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_CTIME, &in, 25, &a, NULL), 0);
    CHECK_EQ(a.ctime_ns, 3333);

    /* size: set, shrink, grow-only */
    in.size = 5000;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 30, &a, &old), 0);
    CHECK_EQ(old.size, 0);
    CHECK_EQ(a.size, 5000);
    CHECK_EQ(a.mtime_ns, 30);
    CHECK_EQ(a.ctime_ns, 30);
    in.size = 100;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 31, &a, &old), 0);
    CHECK_EQ(old.size, 5000);
    CHECK_EQ(a.size, 100);
    in.size = 50;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE_GROW, &in, 32, &a, &old), 0);
    CHECK_EQ(old.size, 100);
    CHECK_EQ(old.ctime_ns, 31);   /* the attributes before the change */
    CHECK_EQ(a.size, 100);
    CHECK_EQ(a.mtime_ns, 32);   /* a write happened */
    CHECK_EQ(a.ctime_ns, 32);
    in.size = 1ULL << 40;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE_GROW, &in, 33, &a, &old), 0);
    CHECK_EQ(old.size, 100);
    CHECK_EQ(a.size, 1ULL << 40);
    CHECK_EQ(meta_getattr(m, f, &a), 0);   /* persisted, every field */
    CHECK_EQ(a.size, 1ULL << 40);
    CHECK_EQ(a.mode, S_IFREG | 04711);
    CHECK_EQ(a.uid, 5);
    CHECK_EQ(a.gid, 6);
    CHECK_EQ(a.atime_ns, 24);
    CHECK_EQ(a.mtime_ns, 33);
    CHECK_EQ(a.ctime_ns, 33);

    /* negative times survive the encoding */
    in.atime_ns = -5;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_ATIME, &in, 34, &a, NULL), 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.atime_ns, -5);

    CHECK_EQ(meta_setattr(m, d, BFS_SET_SIZE, &in, 40, &a, NULL), -EISDIR);
    CHECK_EQ(meta_setattr(m, d, BFS_SET_SIZE_GROW, &in, 40, &a, NULL), -EISDIR);
    CHECK_EQ(meta_setattr(m, l, BFS_SET_SIZE, &in, 40, &a, NULL), -EINVAL);
    CHECK_EQ(meta_setattr(m, 777, BFS_SET_MODE, &in, 40, &a, NULL), -ENOENT);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.ctime_ns, 10);   /* failed calls changed nothing */
    in.mode = 0700;
    CHECK_EQ(meta_setattr(m, d, BFS_SET_MODE, &in, 41, &a, NULL), 0);
    CHECK_EQ(a.mode, S_IFDIR | 0700);
    CHECK_EQ(meta_setattr(m, d, 0, &in, 42, &a, NULL), 0);
    CHECK_EQ(a.ctime_ns, 41);   /* no change, no ctime */
    teardown(m);
}

/* ---- link / unlink / rmdir ---- */

static void test_link(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    int remote = -1;
    uint64_t ino;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 10);
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 10);
    REQUIRE(f && d);
    CHECK_EQ(meta_link(m, f, S_IFREG, d, "g", 1, 20, &a, &remote), 0);
    CHECK_EQ(remote, 0);
    CHECK_EQ(a.ino, f);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(a.ctime_ns, 20);
    CHECK_EQ(nlink_of(m, f), 2);
    CHECK_EQ(lookup(m, d, "g", &ino), 0);
    CHECK_EQ(ino, f);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.mtime_ns, 20);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(meta_link(m, f, S_IFREG, 1, "d", 1, 21, &a, &remote), -EEXIST);
    CHECK_EQ(meta_link(m, d, S_IFDIR, 1, "d2", 2, 21, &a, &remote), -EPERM);
    CHECK_EQ(meta_link(m, d, S_IFREG, 1, "d2", 2, 21, &a, &remote), -EPERM);   /* record wins */
    CHECK_EQ(meta_link(m, f, S_IFREG, 1, "..", 2, 21, &a, &remote), -EINVAL);
    CHECK_EQ(meta_link(m, 555, S_IFREG, 1, "x", 1, 21, &a, &remote), -ENOENT);
    CHECK_EQ(meta_link(m, f, S_IFREG, f, "x", 1, 21, &a, &remote), -ENOTDIR);
    CHECK_EQ(nlink_of(m, f), 2);
    CHECK_EQ(lookup(m, 1, "d2", NULL), -ENOENT);
    teardown(m);
}

static void test_unlink(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    struct bfs_attr a, in = { .size = 12345 };
    int remote;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 10);
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 10);
    REQUIRE(f && d);
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 11, NULL, NULL), 0);
    CHECK_EQ(meta_link(m, f, S_IFREG, 1, "f2", 2, 12, &a, &remote), 0);

    CHECK_EQ(meta_unlink(m, 1, "nope", 4, 0, 0, 20, &drop), -ENOENT);
    CHECK_EQ(meta_unlink(m, 1, "d", 1, 0, 0, 20, &drop), -EISDIR);
    CHECK_EQ(meta_unlink(m, 1, "/", 1, 0, 0, 20, &drop), -EINVAL);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 0, 0, 20, &drop), 0);
    CHECK_EQ(drop.ino, f);
    CHECK_EQ(drop.remote, 0);
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(a.ctime_ns, 20);
    CHECK_EQ(meta_getattr(m, 1, &a), 0);
    CHECK_EQ(a.mtime_ns, 20);
    CHECK_EQ(a.ctime_ns, 20);
    CHECK_EQ(lookup(m, 1, "f", NULL), -ENOENT);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 0, 0, 21, &drop), -ENOENT);
    CHECK_EQ(meta_unlink(m, 1, "f2", 2, 0, 0, 22, &drop), 0);
    CHECK_EQ(drop.ino, f);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(drop.size, 12345);
    CHECK_EQ(meta_getattr(m, f, &a), -ENOENT);
    CHECK_EQ(meta_inode_count(m), 2);
    teardown(m);
}

static void test_rmdir(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    struct bfs_attr a;
    REQUIRE(m);
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 10);
    uint64_t sub = mk(m, d, "sub", S_IFDIR | 0755, 11);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 12);
    REQUIRE(d && sub && f);
    CHECK_EQ(nlink_of(m, 1), 3);
    CHECK_EQ(nlink_of(m, d), 3);
    CHECK_EQ(meta_unlink(m, 1, "d", 1, 1, 0, 20, &drop), -ENOTEMPTY);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 1, 0, 20, &drop), -ENOTDIR);
    CHECK_EQ(meta_unlink(m, 1, "x", 1, 1, 0, 20, &drop), -ENOENT);
    CHECK_EQ(meta_unlink(m, d, "sub", 3, 1, 0, 21, &drop), 0);
    CHECK_EQ(drop.ino, sub);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(a.mtime_ns, 21);
    CHECK_EQ(meta_unlink(m, 1, "d", 1, 1, 0, 22, &drop), 0);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(nlink_of(m, 1), 2);
    CHECK_EQ(meta_getattr(m, d, &a), -ENOENT);
    CHECK_EQ(meta_has_entries(m, 1), 1);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 0, 0, 23, &drop), 0);
    CHECK_EQ(meta_has_entries(m, 1), 0);
    CHECK_EQ(meta_inode_count(m), 1);
    teardown(m);
}

static void test_has_entries(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    REQUIRE(m);
    uint64_t d1 = mk(m, 1, "d1", S_IFDIR | 0755, 1);
    uint64_t d2 = mk(m, 1, "d2", S_IFDIR | 0755, 1);
    uint64_t d3 = mk(m, 1, "d3", S_IFDIR | 0755, 1);
    REQUIRE(d1 && d2 && d3);
    CHECK_EQ(meta_has_entries(m, d2), 0);
    /* neighbours on both sides in key order must not count */
    CHECK(mk(m, d1, "x", S_IFREG | 0644, 1));
    CHECK(mk(m, d3, "y", S_IFREG | 0644, 1));
    CHECK_EQ(meta_has_entries(m, d2), 0);
    CHECK_EQ(meta_has_entries(m, d1), 1);
    CHECK_EQ(meta_has_entries(m, d3), 1);
    CHECK_EQ(meta_has_entries(m, 0xffffffffffffULL), 0);
    CHECK_EQ(meta_unlink(m, d3, "y", 1, 0, 0, 2, &drop), 0);
    CHECK_EQ(meta_has_entries(m, d3), 0);
    teardown(m);
}

/* ---- orphans ---- */

static int purged_n;
static uint64_t purged_size;

static void on_purge(void *arg, uint64_t ino, uint64_t size)
{
    (void)ino;
    (*(int *)arg)++;
    purged_n++;
    purged_size += size;
}

static void test_orphans(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    struct bfs_attr a, in = { .size = 10 };
    uint64_t ino[3];
    char name[16];
    int calls = 0;
    REQUIRE(m);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "o%d", i);
        ino[i] = mk(m, 1, name, S_IFREG | 0644, 1);
        REQUIRE(ino[i]);
        CHECK_EQ(meta_setattr(m, ino[i], BFS_SET_SIZE, &in, 2, NULL, NULL), 0);
        CHECK_EQ(meta_unlink(m, 1, name, 2, 0, 1, 3, &drop), 0);
        CHECK_EQ(drop.freed, 0);
        CHECK_EQ(drop.ino, ino[i]);
    }
    CHECK_EQ(meta_getattr(m, ino[0], &a), 0);
    CHECK_EQ(a.nlink, 0);
    CHECK_EQ(a.size, 10);
    CHECK_EQ(meta_link(m, ino[0], S_IFREG, 1, "back", 4, 4, &a, &(int){ 0 }), -ENOENT);

    /* meta_purge frees an orphan and only an orphan */
    CHECK_EQ(meta_purge(m, ino[0], &drop), 0);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(drop.size, 10);
    CHECK_EQ(meta_getattr(m, ino[0], &a), -ENOENT);
    CHECK_EQ(meta_purge(m, ino[0], &drop), -ENOENT);
    CHECK_EQ(meta_purge(m, 1, &drop), 0);
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(nlink_of(m, 1), 2);

    /* the rest survive a restart and are purged at startup */
    uint64_t keep = mk(m, 1, "keep", S_IFREG | 0644, 5);
    CHECK(keep);
    meta_close(m);
    CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), 0);
    REQUIRE(m);
    purged_n = 0;
    purged_size = 0;
    CHECK_EQ(meta_purge_orphans(m, on_purge, &calls), 2);
    CHECK_EQ(calls, 2);
    CHECK_EQ(purged_size, 20);
    CHECK_EQ(meta_getattr(m, ino[1], &a), -ENOENT);
    CHECK_EQ(meta_getattr(m, ino[2], &a), -ENOENT);
    CHECK_EQ(meta_getattr(m, keep, &a), 0);
    CHECK_EQ(meta_purge_orphans(m, on_purge, &calls), 0);
    CHECK_EQ(calls, 2);

    /* an orphaned directory */
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 6);
    CHECK_EQ(meta_unlink(m, 1, "d", 1, 1, 1, 7, &drop), 0);
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(nlink_of(m, d), 0);
    CHECK_EQ(nlink_of(m, 1), 2);
    CHECK_EQ(meta_create(m, d, "x", 1, S_IFREG | 0644, 0, 0, NULL, 0, 8, &a), -ENOENT);
    CHECK_EQ(meta_purge_orphans(m, NULL, NULL), 1);
    CHECK_EQ(meta_getattr(m, d, &a), -ENOENT);
    CHECK_EQ(meta_inode_count(m), 2);
    teardown(m);
}

/* ---- remote inodes, meta_nlink ---- */

/* A subdirectory counted from another server: nlink follows, never below 2,
 * and the directory is never freed by it. */
static void test_touch_dir(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    REQUIRE(m);
    uint64_t d = mk(m, BFS_ROOT_INO, "d", S_IFDIR | 0755, 1);
    uint64_t f = mk(m, BFS_ROOT_INO, "f", S_IFREG | 0644, 1);
    REQUIRE(d && f);
    CHECK_EQ(meta_touch_dir(m, d, +1, 50), 0);
    CHECK_EQ(meta_touch_dir(m, d, +1, 51), 0);
    CHECK_EQ(nlink_of(m, d), 4);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.mtime_ns, 51);
    CHECK_EQ(a.ctime_ns, 51);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(meta_touch_dir(m, d, -1, 52), 0);
    CHECK_EQ(nlink_of(m, d), 2);   /* never below 2: "." and its entry */
    CHECK_EQ(meta_touch_dir(m, f, +1, 53), -ENOTDIR);
    CHECK_EQ(nlink_of(m, f), 1);
    CHECK_EQ(meta_touch_dir(m, d, 2, 53), -EINVAL);
    CHECK_EQ(meta_touch_dir(m, NODE(2, 9), 1, 53), -EINVAL);   /* not ours */
    CHECK_EQ(meta_touch_dir(m, d + 1000, 1, 53), -ENOENT);
    teardown(m);
}

/* The times an entry's server sends later (server/dirtimes.h): set only when
 * later than the directory's ctime, so one overtaken by a later change, a
 * setattr say, changes nothing; nlink never. */
static void test_stamp_dir(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, in = { .mtime_ns = 30 }, out;
    REQUIRE(m);
    uint64_t d = mk(m, BFS_ROOT_INO, "d", S_IFDIR | 0755, 1);
    uint64_t f = mk(m, BFS_ROOT_INO, "f", S_IFREG | 0644, 1);
    REQUIRE(d && f);
    CHECK_EQ(meta_touch_dir(m, d, 0, 100), 0);
    CHECK_EQ(meta_stamp_dir(m, d, 200), 0);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.mtime_ns, 200);
    CHECK_EQ(a.ctime_ns, 200);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(meta_stamp_dir(m, d, 150), 0);   /* older: a no-op */
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.mtime_ns, 200);
    /* An explicit mtime after the change (its ctime is the setattr's now). */
    CHECK_EQ(meta_setattr(m, d, BFS_SET_MTIME, &in, 300, &out, NULL), 0);
    CHECK_EQ(meta_stamp_dir(m, d, 250), 0);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.mtime_ns, 30);
    CHECK_EQ(a.ctime_ns, 300);
    CHECK_EQ(meta_stamp_dir(m, d, 400), 0);   /* a later change moves both */
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.mtime_ns, 400);
    CHECK_EQ(a.ctime_ns, 400);
    CHECK_EQ(meta_stamp_dir(m, f, 500), -ENOTDIR);
    CHECK_EQ(meta_stamp_dir(m, NODE(2, 9), 500), -EINVAL);
    CHECK_EQ(meta_stamp_dir(m, d + 1000, 500), -ENOENT);
    teardown(m);
}

/* The records of touches owed to other servers (server/dirtimes.h): one a
 * directory; a settle forgets a record whose stamp is at most the one taken, not
 * a later one; they outlive a reopen. */
static void test_dirtime_records(void)
{
    struct meta_store *m = setup(0);
    REQUIRE(m);
    struct meta_dirtime *d = NULL;
    size_t n = 9;
    CHECK_EQ(meta_dirtimes_list(m, &d, &n), 0);
    CHECK_EQ(n, 0);
    free(d);
    CHECK_EQ(meta_dirtime_put(m, NODE(1, 5), 100), 0);
    CHECK_EQ(meta_dirtime_put(m, NODE(2, 7), 200), 0);
    CHECK_EQ(meta_dirtime_put(m, NODE(1, 5), 150), 0);   /* the same directory again */
    meta_close(m);
    CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), 0);
    REQUIRE(m);
    CHECK_EQ(meta_dirtimes_list(m, &d, &n), 0);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK(d[i].dir == NODE(1, 5) ? d[i].stamp == 150 : d[i].dir == NODE(2, 7) && d[i].stamp == 200);
    free(d);
    struct meta_dirtime taken[] = { { NODE(1, 5), 120 },    /* older than the record: it stays */
                                    { NODE(2, 7), 200 },    /* the record's own: it goes */
                                    { NODE(3, 1), 500 } };  /* none: nothing to do */
    CHECK_EQ(meta_dirtimes_settle(m, taken, 3), 0);
    CHECK_EQ(meta_dirtimes_list(m, &d, &n), 0);
    CHECK(n == 1 && d[0].dir == NODE(1, 5) && d[0].stamp == 150);
    free(d);
    taken[0].stamp = 151;
    CHECK_EQ(meta_dirtimes_settle(m, taken, 1), 0);
    CHECK_EQ(meta_dirtimes_list(m, &d, &n), 0);
    CHECK_EQ(n, 0);
    free(d);
    teardown(m);
}

static void test_remote(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    struct bfs_attr a;
    int remote = 0;
    uint64_t ino;
    uint32_t type;
    REQUIRE(m);
    uint64_t r = NODE(2, 9);
    CHECK_EQ(meta_link(m, r, S_IFREG, 1, "r", 1, 10, &a, &remote), 0);
    CHECK_EQ(remote, 1);
    CHECK_EQ(meta_lookup(m, 1, "r", 1, &ino, &type), 0);
    CHECK_EQ(ino, r);
    CHECK_EQ(type, S_IFREG);
    CHECK_EQ(meta_link(m, NODE(2, 10), S_IFDIR, 1, "rd", 2, 10, &a, &remote), -EPERM);
    CHECK_EQ(meta_link(m, NODE(2, 10), S_IFLNK, 1, "rl", 2, 10, &a, &remote), 0);
    CHECK_EQ(meta_link(m, r, S_IFREG, 1, "r", 1, 10, &a, &remote), -EEXIST);
    CHECK_EQ(meta_inode_count(m), 1);
    CHECK_EQ(meta_getattr(m, 1, &a), 0);
    CHECK_EQ(a.mtime_ns, 10);

    CHECK_EQ(meta_unlink(m, 1, "r", 1, 0, 0, 20, &drop), 0);
    CHECK_EQ(drop.ino, r);
    CHECK_EQ(drop.remote, 1);
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(lookup(m, 1, "r", NULL), -ENOENT);

    /* the owner's half */
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 30);
    REQUIRE(f);
    CHECK_EQ(meta_nlink(m, f, 1, 0, 31, &drop), 0);
    CHECK_EQ(nlink_of(m, f), 2);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.ctime_ns, 31);
    CHECK_EQ(meta_nlink(m, f, -1, 0, 32, &drop), 0);
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(nlink_of(m, f), 1);
    CHECK_EQ(meta_nlink(m, f, 2, 0, 33, &drop), -EINVAL);
    CHECK_EQ(meta_nlink(m, r, 1, 0, 33, &drop), -EINVAL);
    CHECK_EQ(meta_nlink(m, 4444, 1, 0, 33, &drop), -ENOENT);
    CHECK_EQ(meta_nlink(m, 4444, -1, 0, 33, &drop), -ENOENT);
    CHECK_EQ(meta_nlink(m, f, -1, 1, 34, &drop), 0);   /* kept: still open */
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(nlink_of(m, f), 0);
    CHECK_EQ(meta_nlink(m, f, 1, 0, 35, &drop), -ENOENT);
    CHECK_EQ(meta_purge(m, f, &drop), 0);
    CHECK_EQ(drop.freed, 1);
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 36);
    CHECK_EQ(meta_nlink(m, g, -1, 0, 37, &drop), 0);
    CHECK_EQ(drop.ino, g);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(meta_getattr(m, g, &a), -ENOENT);
    teardown(m);
}

/* ---- rename ---- */

static void test_rename(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop rep;
    struct bfs_attr a;
    uint64_t ino;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 10);
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 10);
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 10);
    uint64_t e = mk(m, 1, "e", S_IFDIR | 0755, 10);
    uint64_t full = mk(m, 1, "full", S_IFDIR | 0755, 10);
    REQUIRE(f && g && d && e && full && mk(m, full, "x", S_IFREG | 0644, 10));
    CHECK_EQ(nlink_of(m, 1), 5);

    /* simple */
    CHECK_EQ(meta_rename(m, 1, "f", 1, 1, "f1", 2, 0, 0, 20, &rep), 0);
    CHECK_EQ(rep.ino, 0);
    CHECK_EQ(lookup(m, 1, "f", NULL), -ENOENT);
    CHECK_EQ(lookup(m, 1, "f1", &ino), 0);
    CHECK_EQ(ino, f);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.ctime_ns, 20);
    CHECK_EQ(meta_getattr(m, 1, &a), 0);
    CHECK_EQ(a.mtime_ns, 20);
    CHECK_EQ(meta_rename(m, 1, "nope", 4, 1, "x", 1, 0, 0, 20, &rep), -ENOENT);
    CHECK_EQ(meta_rename(m, 1, "f1", 2, 1, "a/b", 3, 0, 0, 20, &rep), -EINVAL);
    CHECK_EQ(meta_rename(m, 1, "f1", 2, 1, "x", 1, 8, 0, 20, &rep), -EINVAL);

    /* onto itself, and onto another name of the same inode */
    CHECK_EQ(meta_rename(m, 1, "f1", 2, 1, "f1", 2, 0, 0, 21, &rep), 0);
    CHECK_EQ(lookup(m, 1, "f1", NULL), 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.ctime_ns, 20);
    CHECK_EQ(meta_link(m, f, S_IFREG, 1, "hl", 2, 22, &a, &(int){ 0 }), 0);
    CHECK_EQ(meta_rename(m, 1, "f1", 2, 1, "hl", 2, 0, 0, 23, &rep), 0);
    CHECK_EQ(rep.ino, 0);
    CHECK_EQ(lookup(m, 1, "f1", NULL), 0);
    CHECK_EQ(lookup(m, 1, "hl", NULL), 0);
    CHECK_EQ(nlink_of(m, f), 2);

    /* NOREPLACE */
    CHECK_EQ(meta_rename(m, 1, "f1", 2, 1, "g", 1, META_RENAME_NOREPLACE, 0, 24, &rep), -EEXIST);
    CHECK_EQ(meta_rename(m, 1, "f1", 2, 1, "new", 3, META_RENAME_NOREPLACE, 0, 24, &rep), 0);
    CHECK_EQ(meta_rename(m, 1, "new", 3, 1, "f1", 2, META_RENAME_NOREPLACE, 0, 24, &rep), 0);

    /* over an existing file: g loses its only link */
    CHECK_EQ(meta_rename(m, 1, "hl", 2, 1, "g", 1, 0, 0, 25, &rep), 0);
    CHECK_EQ(rep.ino, g);
    CHECK_EQ(rep.freed, 1);
    CHECK_EQ(rep.remote, 0);
    CHECK_EQ(meta_getattr(m, g, &a), -ENOENT);
    CHECK_EQ(lookup(m, 1, "g", &ino), 0);
    CHECK_EQ(ino, f);
    CHECK_EQ(nlink_of(m, f), 2);

    /* type rules */
    CHECK_EQ(meta_rename(m, 1, "g", 1, 1, "d", 1, 0, 0, 26, &rep), -EISDIR);
    CHECK_EQ(meta_rename(m, 1, "d", 1, 1, "g", 1, 0, 0, 26, &rep), -ENOTDIR);
    CHECK_EQ(meta_rename(m, 1, "d", 1, 1, "full", 4, 0, 0, 26, &rep), -ENOTEMPTY);
    CHECK_EQ(meta_rename(m, 1, "d", 1, d, "self", 4, 0, 0, 26, &rep), -EINVAL);
    CHECK_EQ(meta_rename(m, 1, "d", 1, g, "x", 1, 0, 0, 26, &rep), -ENOENT);   /* g is gone */
    CHECK_EQ(meta_rename(m, 1, "d", 1, f, "x", 1, 0, 0, 26, &rep), -ENOTDIR);
    CHECK_EQ(nlink_of(m, 1), 5);
    CHECK_EQ(lookup(m, 1, "d", NULL), 0);

    /* dir over empty dir, same parent: parent loses the replaced one's link */
    CHECK_EQ(meta_rename(m, 1, "d", 1, 1, "e", 1, 0, 0, 27, &rep), 0);
    CHECK_EQ(rep.ino, e);
    CHECK_EQ(rep.freed, 1);
    CHECK_EQ(meta_getattr(m, e, &a), -ENOENT);
    CHECK_EQ(lookup(m, 1, "e", &ino), 0);
    CHECK_EQ(ino, d);
    CHECK_EQ(nlink_of(m, 1), 4);
    CHECK_EQ(nlink_of(m, d), 2);

    /* across parents: the ".." link moves */
    CHECK_EQ(meta_rename(m, 1, "e", 1, full, "moved", 5, 0, 0, 28, &rep), 0);
    CHECK_EQ(nlink_of(m, 1), 3);
    CHECK_EQ(nlink_of(m, full), 3);
    CHECK_EQ(meta_getattr(m, full, &a), 0);
    CHECK_EQ(a.mtime_ns, 28);
    CHECK_EQ(lookup(m, full, "moved", &ino), 0);
    CHECK_EQ(ino, d);
    CHECK_EQ(meta_rename(m, full, "x", 1, d, "x", 1, 0, 0, 29, &rep), 0);   /* a file moves: no nlink */
    CHECK_EQ(nlink_of(m, full), 3);
    CHECK_EQ(nlink_of(m, d), 2);
    CHECK_EQ(meta_has_entries(m, d), 1);

    /* below itself, deeper than its own entries: t1/t2/t3, then t1 into t3 (two
     * clients' moves at once would otherwise close a cycle; no kernel sees both) */
    uint64_t t1 = mk(m, 1, "t1", S_IFDIR | 0755, 29), t2 = mk(m, t1, "t2", S_IFDIR | 0755, 29);
    uint64_t t3 = mk(m, t2, "t3", S_IFDIR | 0755, 29);
    REQUIRE(t1 && t2 && t3);
    CHECK_EQ(meta_rename(m, 1, "t1", 2, t3, "loop", 4, 0, 0, 29, &rep), -EINVAL);
    CHECK_EQ(meta_rename(m, 1, "t1", 2, t2, "loop", 4, 0, 0, 29, &rep), -EINVAL);
    CHECK_EQ(meta_rename(m, t1, "t2", 2, t3, "loop", 4, 0, 0, 29, &rep), -EINVAL);
    CHECK_EQ(lookup(m, 1, "t1", NULL), 0);
    CHECK_EQ(meta_rename(m, t2, "t3", 2, 1, "t3", 2, 0, 0, 29, &rep), 0);   /* upwards is fine */
    CHECK_EQ(meta_rename(m, 1, "t1", 2, t3, "t1", 2, 0, 0, 29, &rep), 0);   /* and then down */
    CHECK_EQ(meta_rename(m, t3, "t1", 2, 1, "t1", 2, 0, 0, 29, &rep), 0);
    CHECK_EQ(meta_rename(m, 1, "t3", 2, t2, "t3", 2, 0, 0, 29, &rep), 0);
    CHECK_EQ(meta_unlink(m, t2, "t3", 2, 1, 0, 29, &rep), 0);
    CHECK_EQ(meta_unlink(m, t1, "t2", 2, 1, 0, 29, &rep), 0);
    CHECK_EQ(meta_unlink(m, 1, "t1", 2, 1, 0, 29, &rep), 0);

    /* dir over empty dir across parents */
    uint64_t t = mk(m, 1, "t", S_IFDIR | 0755, 30);
    REQUIRE(t);
    CHECK_EQ(nlink_of(m, 1), 4);
    CHECK_EQ(meta_rename(m, full, "moved", 5, 1, "t", 1, 0, 0, 31, &rep), 0);
    CHECK_EQ(rep.ino, t);
    CHECK_EQ(nlink_of(m, 1), 4);   /* +1 moved in, -1 replaced */
    CHECK_EQ(nlink_of(m, full), 2);

    /* replaced inode kept as orphan, and a remote one reported */
    uint64_t k = mk(m, 1, "k", S_IFREG | 0644, 32);
    CHECK(k);
    CHECK_EQ(meta_rename(m, 1, "g", 1, 1, "k", 1, 0, 1, 33, &rep), 0);
    CHECK_EQ(rep.ino, k);
    CHECK_EQ(rep.freed, 0);
    CHECK_EQ(nlink_of(m, k), 0);
    CHECK_EQ(meta_link(m, NODE(7, 1), S_IFREG, 1, "rem", 3, 34, &a, &(int){ 0 }), 0);
    CHECK_EQ(meta_rename(m, 1, "k", 1, 1, "rem", 3, 0, 0, 35, &rep), 0);
    CHECK_EQ(rep.ino, NODE(7, 1));
    CHECK_EQ(rep.remote, 1);
    CHECK_EQ(rep.freed, 0);
    teardown(m);
}

/* ---- readdir ---- */

#define NDIR 2000
#define NEXTRA 600

static void test_readdir_paging(void)
{
    struct meta_store *m = setup(0);
    struct bfs_dirent page[7];
    struct meta_drop drop;
    static int seen[NDIR + NEXTRA], always[NDIR + NEXTRA];
    char name[16];
    size_t n;
    int eof = 0, pages = 0, added = 0;
    uint64_t cookie = 0;
    REQUIRE(m);
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 1);
    REQUIRE(d);
    CHECK_EQ(meta_readdir(m, d, 0, page, 7, &n, &eof), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(eof, 1);
    for (int i = 0; i < NDIR; i++) {
        snprintf(name, sizeof name, "f%d", i);
        REQUIRE(mk(m, d, name, (i % 3 ? S_IFREG : S_IFDIR) | 0644, 2));
        always[i] = 1;
    }
    (void)mk(m, 1, "other", S_IFREG | 0644, 2);   /* a neighbour dir's entries stay out */

    /* plain listing first: every entry exactly once, cookies rising */
    memset(seen, 0, sizeof seen);
    for (eof = 0; !eof; pages++) {
        REQUIRE(meta_readdir(m, d, cookie, page, 7, &n, &eof) == 0);
        REQUIRE(n > 0 || eof);
        CHECK(n == 7 || eof);
        for (size_t j = 0; j < n; j++) {
            int idx;
            CHECK(page[j].cookie > cookie);
            CHECK(page[j].cookie > 2 && page[j].cookie < (1ULL << 56));
            cookie = page[j].cookie;
            REQUIRE(sscanf(page[j].name, "f%d", &idx) == 1 && idx >= 0 && idx < NDIR);
            seen[idx]++;
            CHECK_EQ(page[j].type, idx % 3 ? S_IFREG : S_IFDIR);
            uint64_t ino;
            CHECK_EQ(lookup(m, d, page[j].name, &ino), 0);
            CHECK_EQ(page[j].ino, ino);
        }
    }
    CHECK_EQ(pages, (NDIR + 6) / 7);
    for (int i = 0; i < NDIR; i++)
        CHECK_EQ(seen[i], 1);

    /* again, while entries come and go between pages */
    memset(seen, 0, sizeof seen);
    cookie = 0;
    for (eof = 0, pages = 0; !eof; pages++) {
        REQUIRE(meta_readdir(m, d, cookie, page, 7, &n, &eof) == 0);
        for (size_t j = 0; j < n; j++) {
            int idx;
            REQUIRE(sscanf(page[j].name, "f%d", &idx) == 1 && idx >= 0 && idx < NDIR + NEXTRA);
            seen[idx]++;
            cookie = page[j].cookie;
        }
        if (n == 0)
            continue;
        /* delete the entry the cookie points at, and one elsewhere; add one */
        int victims[2];
        sscanf(page[n - 1].name, "f%d", &victims[0]);
        victims[1] = (pages * 37) % NDIR;
        for (int v = 0; v < 2; v++) {
            snprintf(name, sizeof name, "f%d", victims[v]);
            if (meta_unlink(m, d, name, strlen(name), victims[v] % 3 == 0, 0, 3, &drop) == 0)
                always[victims[v]] = 0;
        }
        if (added < NEXTRA) {
            snprintf(name, sizeof name, "f%d", NDIR + added++);
            CHECK(mk(m, d, name, S_IFREG | 0644, 3));
        }
    }
    for (int i = 0; i < NDIR + NEXTRA; i++) {
        if (always[i] && i < NDIR)
            CHECK_EQ(seen[i], 1);
        else
            CHECK(seen[i] <= 1);
    }

    CHECK_EQ(meta_readdir(m, d, 0, page, 0, &n, &eof), -EINVAL);
    CHECK_EQ(meta_readdir(m, d, (1ULL << 56) - 1, page, 7, &n, &eof), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(eof, 1);
    teardown(m);
}

/* Entries whose names hash alike (forced through raw keys) never split across pages. */
static void test_readdir_collision(void)
{
    struct meta_store *m = setup(0);
    struct bfs_dirent page[4];
    size_t n;
    int eof;
    const uint64_t dir = 0x1234, h = 0xabcdef;
    REQUIRE(m);
    meta_close(m);
    /* hashes h-1 (one), h (three names), h+1 (one) */
    const struct { uint64_t hash; const char *name; } ents[] = {
        { h - 1, "before" }, { h, "a" }, { h, "b" }, { h, "c" }, { h + 1, "after" },
    };
    for (size_t i = 0; i < 5; i++) {
        unsigned char k[64], v[12] = { 0 };
        be64(k, dir);
        be64(k + 8, ents[i].hash);
        memcpy(k + 16, ents[i].name, strlen(ents[i].name));
        v[0] = (unsigned char)(i + 10);   /* ino, LE */
        v[8] = 0x00;
        v[9] = 0x80;                      /* S_IFREG = 0100000, LE */
        REQUIRE(raw_put("dentries", k, 16 + strlen(ents[i].name), v, sizeof v) == 0);
    }
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);

    /* page of 2: "before" + "a" would split the group: stop after "before" */
    CHECK_EQ(meta_readdir(m, dir, 0, page, 2, &n, &eof), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(eof, 0);
    CHECK(strcmp(page[0].name, "before") == 0);
    CHECK_EQ(page[0].cookie, h - 1);
    CHECK_EQ(page[0].ino, 10);
    CHECK_EQ(page[0].type, S_IFREG);
    /* the group needs 3 slots; 2 cannot hold it */
    CHECK_EQ(meta_readdir(m, dir, h - 1, page, 2, &n, &eof), -EOVERFLOW);
    CHECK_EQ(meta_readdir(m, dir, h - 1, page, 3, &n, &eof), 0);
    CHECK_EQ(n, 3);
    CHECK_EQ(eof, 0);
    CHECK(strcmp(page[0].name, "a") == 0 && strcmp(page[2].name, "c") == 0);
    CHECK_EQ(meta_readdir(m, dir, h, page, 3, &n, &eof), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(eof, 1);
    CHECK(strcmp(page[0].name, "after") == 0);
    /* a page ending exactly at the group's end is fine */
    CHECK_EQ(meta_readdir(m, dir, 0, page, 4, &n, &eof), 0);
    CHECK_EQ(n, 4);
    CHECK_EQ(eof, 0);
    CHECK_EQ(page[3].cookie, h);
    teardown(m);
}

/* ---- inline data ---- */

#define IMAX (16u << 10)

/* Reads [off, off+len) of chunk 0 inline into buf; returns meta_inline_read's
 * answer, *got its count of stored bytes. */
static int iread(struct meta_store *m, uint64_t ino, uint64_t off, void *buf, size_t len,
                 size_t *got)
{
    size_t dummy;
    return meta_inline_read(m, ino, off, buf, len, got ? got : &dummy);
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void test_inline_write_read(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    unsigned char buf[IMAX + 64];
    size_t got;
    REQUIRE(m);
    CHECK_EQ(meta_inline_max(m), IMAX);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    REQUIRE(f);
    /* a new file is inline and empty */
    memset(buf, 0xee, sizeof buf);
    CHECK_EQ(iread(m, f, 0, buf, 10, &got), 0);
    CHECK_EQ(got, 0);
    CHECK(all_zero(buf, 10));
    CHECK_EQ(buf[10], 0xee);

    CHECK_EQ(meta_inline_write(m, f, 0, "hello", 5, 10, &a, NULL), 0);
    CHECK_EQ(a.size, 5);
    CHECK_EQ(a.mtime_ns, 10);
    CHECK_EQ(a.ctime_ns, 10);
    struct bfs_attr before;
    CHECK_EQ(meta_inline_write(m, f, 3, "XYZW", 4, 11, &a, &before), 0);   /* splice, extends */
    CHECK_EQ(a.size, 7);
    CHECK_EQ(before.size, 5);      /* the attributes before the write */
    CHECK_EQ(before.ctime_ns, 10);
    CHECK_EQ(meta_inline_write(m, f, 1, "e", 1, 12, &a, NULL), 0);      /* inside: size stays */
    CHECK_EQ(a.size, 7);
    CHECK_EQ(a.mtime_ns, 12);
    CHECK_EQ(meta_inline_write(m, f, 100, "Q", 1, 13, &a, NULL), 0);    /* gap reads as zeros */
    CHECK_EQ(a.size, 101);
    memset(buf, 0xee, sizeof buf);
    CHECK_EQ(iread(m, f, 0, buf, 101, &got), 0);
    CHECK_EQ(got, 101);
    CHECK(memcmp(buf, "helXYZW", 7) == 0);
    CHECK(all_zero(buf + 7, 93));
    CHECK_EQ(buf[100], 'Q');
    CHECK_EQ(iread(m, f, 99, buf, 5, &got), 0);                   /* across the end */
    CHECK_EQ(got, 2);
    CHECK(buf[0] == 0 && buf[1] == 'Q' && all_zero(buf + 2, 3));
    CHECK_EQ(iread(m, f, 5000, buf, 10, &got), 0);                /* past it */
    CHECK_EQ(got, 0);
    CHECK(all_zero(buf, 10));
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.size, 101);
    CHECK_EQ(a.mtime_ns, 13);

    /* up to the limit exactly, at an odd offset */
    for (size_t i = 0; i < IMAX; i++)
        buf[i] = (unsigned char)(i * 7 + 1);
    CHECK_EQ(meta_inline_write(m, f, 3, buf, IMAX - 3, 14, &a, NULL), 0);
    CHECK_EQ(a.size, IMAX);
    unsigned char back[IMAX];
    CHECK_EQ(iread(m, f, 0, back, IMAX, &got), 0);
    CHECK_EQ(got, IMAX);
    CHECK(memcmp(back, "hel", 3) == 0);
    CHECK(memcmp(back + 3, buf, IMAX - 3) == 0);
    /* a size raised by other chunks is kept */
    struct bfs_attr in = { .size = 1000000 };
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE_GROW, &in, 15, &a, NULL), 0);
    CHECK_EQ(meta_inline_write(m, f, 0, "H", 1, 16, &a, NULL), 0);
    CHECK_EQ(a.size, 1000000);

    /* only regular files that exist */
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 1);
    uint64_t l = mk(m, 1, "l", S_IFLNK | 0777, 1);
    CHECK_EQ(meta_inline_write(m, d, 0, "x", 1, 17, &a, NULL), -EISDIR);
    CHECK_EQ(meta_inline_write(m, l, 0, "x", 1, 17, &a, NULL), -EINVAL);
    CHECK_EQ(meta_inline_write(m, f + 1000, 0, "x", 1, 17, &a, NULL), -ENOENT);
    CHECK_EQ(iread(m, d, 0, buf, 1, NULL), -EISDIR);
    CHECK_EQ(iread(m, l, 0, buf, 1, NULL), -EINVAL);
    CHECK_EQ(iread(m, f + 1000, 0, buf, 1, NULL), -ENOENT);
    teardown(m);
}

static void test_inline_truncate(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, in = { 0 };
    unsigned char data[1000], buf[2000];
    size_t got;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    REQUIRE(f);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i + 1);
    CHECK_EQ(meta_inline_write(m, f, 0, data, sizeof data, 2, &a, NULL), 0);
    in.size = 10;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 3, &a, NULL), 0);
    CHECK_EQ(iread(m, f, 0, buf, 10, &got), 0);
    CHECK_EQ(got, 10);
    CHECK(memcmp(buf, data, 10) == 0);
    /* growing again must not bring the cut bytes back */
    in.size = 2000;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 4, &a, NULL), 0);
    CHECK_EQ(iread(m, f, 0, buf, 2000, &got), 0);
    CHECK_EQ(got, 10);
    CHECK(memcmp(buf, data, 10) == 0);
    CHECK(all_zero(buf + 10, 1990));
    CHECK_EQ(meta_inline_write(m, f, 20, "ab", 2, 5, &a, NULL), 0);
    CHECK_EQ(a.size, 2000);
    CHECK_EQ(iread(m, f, 0, buf, 30, &got), 0);
    CHECK_EQ(got, 22);
    CHECK(memcmp(buf, data, 10) == 0 && all_zero(buf + 10, 10) && memcmp(buf + 20, "ab", 2) == 0);
    in.size = 0;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 6, &a, NULL), 0);
    CHECK_EQ(iread(m, f, 0, buf, 30, &got), 0);
    CHECK_EQ(got, 0);
    teardown(m);
}

static void test_inline_chunk_mode(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    unsigned char buf[64];
    size_t got;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 1);
    uint64_t h = mk(m, 1, "h", S_IFREG | 0644, 1);
    REQUIRE(f && g && h);
    CHECK_EQ(meta_inline_write(m, f, 0, "abc", 3, 2, &a, NULL), 0);
    /* does not fit: the caller must migrate, and nothing changed */
    CHECK_EQ(meta_inline_write(m, f, IMAX - 2, "xyz", 3, 3, &a, NULL), META_MIGRATE);
    CHECK_EQ(meta_inline_write(m, f, IMAX + 5, "x", 1, 3, &a, NULL), META_MIGRATE);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.size, 3);
    CHECK_EQ(a.mtime_ns, 2);
    CHECK_EQ(iread(m, f, 0, buf, 3, &got), 0);
    CHECK(memcmp(buf, "abc", 3) == 0);
    /* the migration's end: chunk mode for good */
    CHECK_EQ(meta_inline_end(m, f), 0);
    CHECK_EQ(iread(m, f, 0, buf, 3, &got), META_CHUNKS);
    CHECK_EQ(meta_inline_write(m, f, 0, "x", 1, 4, &a, NULL), META_CHUNKS);
    CHECK_EQ(meta_inline_end(m, f), 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.size, 3);   /* chunk-mode writes leave the size to meta_setattr */
    struct bfs_attr in = { .size = 1 };
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 5, &a, NULL), 0);   /* no inline to cut */
    CHECK_EQ(iread(m, f, 0, buf, 1, &got), META_CHUNKS);
    /* an empty inline file whose first write does not fit goes straight to chunk mode */
    CHECK_EQ(meta_inline_write(m, g, IMAX, "x", 1, 6, &a, NULL), META_CHUNKS);
    CHECK_EQ(meta_inline_write(m, g, 0, "x", 1, 7, &a, NULL), META_CHUNKS);
    /* so does one truncated to nothing */
    CHECK_EQ(meta_inline_write(m, h, 0, "abc", 3, 8, &a, NULL), 0);
    in.size = 0;
    CHECK_EQ(meta_setattr(m, h, BFS_SET_SIZE, &in, 9, &a, NULL), 0);
    CHECK_EQ(meta_inline_write(m, h, 100, buf, sizeof buf, 10, &a, NULL), 0);   /* fits */
    CHECK_EQ(a.size, 164);
    CHECK_EQ(meta_inline_end(m, f + 1000), -ENOENT);
    /* the state survives a restart */
    meta_close(m);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(iread(m, f, 0, buf, 1, &got), META_CHUNKS);
    CHECK_EQ(iread(m, g, 0, buf, 1, &got), META_CHUNKS);
    CHECK_EQ(iread(m, h, 100, buf, 1, &got), 0);
    CHECK_EQ(got, 1);
    teardown(m);
}

/* A chunk smaller than INLINE_MAX: all of chunk 0 can be inline. */
static void test_inline_small_chunk(void)
{
    struct meta_store *m = NULL;
    struct bfs_attr a;
    unsigned char buf[4096];
    strcpy(tdir, "/tmp/test_meta.XXXXXX");
    REQUIRE(mkdtemp(tdir));
    REQUIRE(meta_open(tdir, 0, 4096, &m) == 0);
    CHECK_EQ(meta_inline_max(m), 4096);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    memset(buf, 'z', sizeof buf);
    CHECK_EQ(meta_inline_write(m, f, 0, buf, sizeof buf, 2, &a, NULL), 0);
    CHECK_EQ(meta_inline_write(m, f, 4000, buf, 97, 2, &a, NULL), META_MIGRATE);
    teardown(m);
}

/* The raw inline record of ino in the closed store: its size, or -1 if none. */
static long inline_rec(uint64_t ino, unsigned char *state)
{
    unsigned char k[8], v[1 + IMAX];
    size_t n = sizeof v;
    be64(k, ino);
    if (raw_op("inline", k, 8, v, &n, 0) != 0)
        return -1;
    *state = n ? v[0] : 0;
    return (long)n;
}

/* Every way an inode goes takes its inline data with it; a link that stays keeps it. */
static void test_inline_delete(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    struct bfs_attr a;
    unsigned char buf[8], st;
    size_t got;
    int remote = 0;
    REQUIRE(m);
    uint64_t u = mk(m, 1, "u", S_IFREG | 0644, 1);
    uint64_t r = mk(m, 1, "r", S_IFREG | 0644, 1);
    uint64_t v = mk(m, 1, "v", S_IFREG | 0644, 1);
    uint64_t o = mk(m, 1, "o", S_IFREG | 0644, 1);
    uint64_t p = mk(m, 1, "p", S_IFREG | 0644, 1);
    uint64_t c = mk(m, 1, "c", S_IFREG | 0644, 1);
    REQUIRE(u && r && v && o && p && c);
    uint64_t all[] = { u, r, v, o, p };
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ(meta_inline_write(m, all[i], 0, "data", 4, 2, &a, NULL), 0);
    CHECK_EQ(meta_inline_end(m, c), 0);   /* chunk mode: its record goes too */

    /* hard link: unlinking one name keeps the data, the last one frees it */
    CHECK_EQ(meta_link(m, u, S_IFREG, 1, "u2", 2, 3, &a, &remote), 0);
    CHECK_EQ(meta_unlink(m, 1, "u", 1, 0, 0, 4, &drop), 0);
    CHECK_EQ(drop.freed, 0);
    CHECK_EQ(iread(m, u, 0, buf, 4, &got), 0);
    CHECK(memcmp(buf, "data", 4) == 0);
    CHECK_EQ(meta_unlink(m, 1, "u2", 2, 0, 0, 5, &drop), 0);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(iread(m, u, 0, buf, 4, &got), -ENOENT);
    /* rename over it */
    CHECK_EQ(meta_rename(m, 1, "v", 1, 1, "r", 1, 0, 0, 6, &drop), 0);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(drop.ino, r);
    /* orphan: kept while open, gone on purge */
    CHECK_EQ(meta_unlink(m, 1, "o", 1, 0, 1, 7, &drop), 0);
    CHECK_EQ(iread(m, o, 0, buf, 4, &got), 0);
    CHECK(memcmp(buf, "data", 4) == 0);
    CHECK_EQ(meta_purge(m, o, &drop), 0);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(meta_unlink(m, 1, "c", 1, 0, 0, 8, &drop), 0);
    /* an orphan purged at startup */
    CHECK_EQ(meta_unlink(m, 1, "p", 1, 0, 1, 9, &drop), 0);
    meta_close(m);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_purge_orphans(m, NULL, NULL), 1);
    meta_close(m);

    uint64_t gone[] = { u, r, o, p, c };
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ(inline_rec(gone[i], &st), -1);
    CHECK_EQ(inline_rec(v, &st), 5);   /* the survivor keeps "data" */
    CHECK_EQ(st, 1);
    teardown(NULL);
}

static void test_inline_persistence(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    unsigned char data[5000], back[5000];
    size_t got;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    REQUIRE(f);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 13 + 5);
    CHECK_EQ(meta_inline_write(m, f, 7, data, sizeof data, 2, &a, NULL), 0);
    meta_close(m);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.size, 5007);
    CHECK_EQ(iread(m, f, 7, back, sizeof back, &got), 0);
    CHECK_EQ(got, 5000);
    CHECK(memcmp(back, data, sizeof data) == 0);
    teardown(m);
}

static void test_inline_corrupt(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, in = { .size = 1 };
    unsigned char k[8], buf[8];
    static unsigned char big[1 + IMAX + 1];
    size_t got;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);   /* bad state byte */
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 1);   /* empty record */
    uint64_t h = mk(m, 1, "h", S_IFREG | 0644, 1);   /* longer than the limit */
    uint64_t j = mk(m, 1, "j", S_IFREG | 0644, 1);   /* chunk mode with bytes */
    REQUIRE(f && g && h && j);
    meta_close(m);
    be64(k, f);
    REQUIRE(raw_put("inline", k, 8, "\x07" "abc", 4) == 0);
    be64(k, g);
    REQUIRE(raw_put("inline", k, 8, "", 0) == 0);
    big[0] = 1;
    be64(k, h);
    REQUIRE(raw_put("inline", k, 8, big, sizeof big) == 0);
    be64(k, j);
    REQUIRE(raw_put("inline", k, 8, "\x02x", 2) == 0);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    uint64_t all[] = { f, g, h, j };
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(iread(m, all[i], 0, buf, 4, &got), -EIO);
        CHECK_EQ(meta_inline_write(m, all[i], 0, "x", 1, 2, &a, NULL), -EIO);
        CHECK_EQ(meta_setattr(m, all[i], BFS_SET_SIZE, &in, 2, &a, NULL), -EIO);
        CHECK_EQ(meta_inline_end(m, all[i]), -EIO);
    }
    teardown(m);
}

/* A store from before inline data (format 1): its files are marked chunk mode (not
 * its directories), new ones are inline, and the store is stamped format 3 so that
 * older servers refuse it. */
static void test_inline_old_store(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    unsigned char v1[8] = { 1 }, v4[8] = { META_STORE_FORMAT + 1 }, fmt[8], st;
    size_t n = sizeof fmt;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);   /* no inline record, as in format 1 */
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755, 1);
    REQUIRE(f && d);
    meta_close(m);
    REQUIRE(raw_put("info", "format", 6, v1, 8) == 0);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_inline_write(m, f, 0, "x", 1, 2, &a, NULL), META_CHUNKS);
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 1);
    CHECK_EQ(meta_inline_write(m, g, 0, "x", 1, 2, &a, NULL), 0);
    meta_close(m);
    CHECK_EQ(raw_op("info", "format", 6, fmt, &n, 0), 0);
    CHECK_EQ(n, 8);
    CHECK_EQ(fmt[0], META_STORE_FORMAT);
    CHECK_EQ(inline_rec(f, &st), 1);
    CHECK_EQ(st, 2);
    CHECK_EQ(inline_rec(d, &st), -1);
    CHECK_EQ(inline_rec(1, &st), -1);
    REQUIRE(raw_put("info", "format", 6, v4, 8) == 0);   /* from the future */
    m = NULL;
    CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), -EINVAL);
    CHECK(m == NULL);
    teardown(NULL);
}

/* ---- special files and written extents ---- */

/* The raw inode record of ino in the closed store: its size, or -1 if none. */
static long inode_rec(uint64_t ino, unsigned char *rec, size_t cap)
{
    unsigned char k[8];
    size_t n = cap;
    be64(k, ino);
    return raw_op("inodes", k, 8, rec, &n, 0) == 0 ? (long)n : -1;
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* Every type mknod makes: a record of each survives a reopen with its type,
 * mode and rdev, and is listed, linked, renamed and removed like a file; it
 * has no data. Records: no tail but a device's 8-byte rdev. */
static void test_special_files(void)
{
    const struct { const char *name; uint32_t mode; uint64_t rdev, want; long reclen; } sp[] = {
        { "fifo", S_IFIFO | 0640, 9, 0, 49 },
        { "sock", S_IFSOCK | 0755, 0, 0, 49 },
        { "chr", S_IFCHR | 0666, 0x103, 0x103, 57 },
        { "blk", S_IFBLK | 0660, 0xfedcba9876543210ULL, 0xfedcba9876543210ULL, 57 },
        { "reg", S_IFREG | 0600, 7, 0, 49 },
    };
    enum { N = sizeof sp / sizeof sp[0] };
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    uint64_t ino[N];
    REQUIRE(m);
    for (size_t i = 0; i < N; i++) {
        CHECK_EQ(meta_mknod(m, 1, sp[i].name, strlen(sp[i].name), sp[i].mode, sp[i].rdev, 3, 4,
                            NULL, 0, 10, &a), 0);
        ino[i] = a.ino;
        CHECK(a.mode == sp[i].mode && a.rdev == sp[i].want && a.nlink == 1 && a.size == 0);
    }
    CHECK_EQ(meta_mknod(m, 1, "dir", 3, S_IFDIR | 0755, 5, 0, 0, NULL, 0, 10, &a), 0);
    CHECK(a.rdev == 0 && a.nlink == 2);
    CHECK_EQ(meta_mknod(m, 1, "bad", 3, 0170000 | 0644, 0, 0, 0, NULL, 0, 10, &a), -EINVAL);
    meta_close(m);
    for (size_t i = 0; i < N; i++) {
        unsigned char rec[128];
        CHECK_EQ(inode_rec(ino[i], rec, sizeof rec), sp[i].reclen);
    }
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    struct bfs_dirent page[16];
    size_t n;
    int eof;
    CHECK_EQ(meta_readdir(m, 1, 0, page, 16, &n, &eof), 0);
    CHECK_EQ(n, N + 1);
    for (size_t i = 0; i < N; i++) {
        uint64_t got;
        uint32_t type;
        CHECK_EQ(meta_getattr(m, ino[i], &a), 0);
        CHECK(a.mode == sp[i].mode && a.rdev == sp[i].want && a.uid == 3 && a.gid == 4);
        CHECK_EQ(meta_lookup(m, 1, sp[i].name, strlen(sp[i].name), &got, &type), 0);
        CHECK(got == ino[i] && type == (sp[i].mode & S_IFMT));
        int listed = 0;
        for (size_t j = 0; j < n; j++)
            listed += page[j].ino == ino[i] && page[j].type == (sp[i].mode & S_IFMT);
        CHECK_EQ(listed, 1);
        /* no data to cut, grow, write or read */
        struct bfs_attr in = { .size = 5, .mode = 0604 };
        char buf[4];
        size_t len;
        if (!S_ISREG(sp[i].mode)) {
            CHECK_EQ(meta_setattr(m, ino[i], BFS_SET_SIZE, &in, 11, &a, NULL), -EINVAL);
            CHECK_EQ(meta_wrote(m, ino[i], 0, 5, 11, &a, NULL), -EINVAL);
            CHECK_EQ(meta_inline_write(m, ino[i], 0, "abc", 3, 11, &a, NULL), -EINVAL);
            CHECK_EQ(meta_inline_read(m, ino[i], 0, buf, 3, &len), -EINVAL);
            CHECK_EQ(meta_readlink(m, ino[i], buf, sizeof buf, &len), -EINVAL);
        }
        /* attribute changes, links and renames keep the type and rdev */
        CHECK_EQ(meta_setattr(m, ino[i], BFS_SET_MODE, &in, 12, &a, NULL), 0);
        CHECK(a.mode == ((sp[i].mode & S_IFMT) | 0604) && a.rdev == sp[i].want);
        int remote = -1;
        char name2[16];
        snprintf(name2, sizeof name2, "%s2", sp[i].name);
        CHECK_EQ(meta_link(m, ino[i], sp[i].mode & S_IFMT, 1, name2, strlen(name2), 13, &a,
                           &remote), 0);
        CHECK(a.nlink == 2 && a.rdev == sp[i].want && remote == 0);
        struct meta_drop drop;
        CHECK_EQ(meta_rename(m, 1, sp[i].name, strlen(sp[i].name), 1, "moved", 5, 0, 0, 14,
                             &drop), 0);
        CHECK_EQ(meta_lookup(m, 1, "moved", 5, &got, &type), 0);
        CHECK(got == ino[i] && type == (sp[i].mode & S_IFMT));
        CHECK_EQ(meta_getattr(m, ino[i], &a), 0);
        CHECK(a.ctime_ns == 14 && a.rdev == sp[i].want && a.nlink == 2);
        CHECK_EQ(meta_unlink(m, 1, "moved", 5, 0, 0, 15, &drop), 0);
        CHECK(drop.ino == ino[i] && !drop.freed);
        CHECK_EQ(meta_unlink(m, 1, name2, strlen(name2), 0, 0, 15, &drop), 0);
        CHECK(drop.ino == ino[i] && drop.freed && drop.size == 0);
        CHECK_EQ(meta_getattr(m, ino[i], &a), -ENOENT);
    }
    teardown(m);
}

/* st_blocks from the written extents: exact for a dense file (whose record
 * keeps no list), few for a sparse one, cut by a truncate, never past EXT_MAX
 * runs; meta_wrote and inline writes count, a truncate up does not. */
static void test_extents(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, in = { 0 };
    unsigned char rec[256];
    REQUIRE(m);
    uint64_t d = mk(m, 1, "dense", S_IFREG | 0644, 1);
    uint64_t s = mk(m, 1, "sparse", S_IFREG | 0644, 1);
    uint64_t t = mk(m, 1, "trunc", S_IFREG | 0644, 1);
    uint64_t r = mk(m, 1, "runs", S_IFREG | 0644, 1);
    REQUIRE(d && s && t && r);
    /* dense: inline, then chunks out of order */
    CHECK_EQ(meta_inline_write(m, d, 0, "hello", 5, 2, &a, NULL), 0);
    CHECK_EQ(a.blocks, 1);
    CHECK_EQ(meta_wrote(m, d, 200000, 300000, 3, &a, NULL), 0);
    CHECK_EQ(a.size, 300000);
    CHECK_EQ(a.blocks, (5 + 100000 + 511) / 512);
    CHECK_EQ(meta_wrote(m, d, 5, 200000, 4, &a, NULL), 0);
    CHECK_EQ(a.blocks, (300000 + 511) / 512);
    CHECK_EQ(meta_wrote(m, d, 1000, 2000, 4, &a, NULL), 0);   /* an overwrite */
    CHECK_EQ(a.blocks, (300000 + 511) / 512);
    CHECK_EQ(meta_wrote(m, d, 10, 5, 4, &a, NULL), -EINVAL);
    /* sparse: one byte far out */
    CHECK_EQ(meta_wrote(m, s, 1ull << 30, (1ull << 30) + 1, 5, &a, NULL), 0);
    CHECK(a.size == (1ull << 30) + 1 && a.blocks == 1);
    /* truncate: up is a hole, down cuts */
    in.size = 1ull << 40;
    CHECK_EQ(meta_setattr(m, t, BFS_SET_SIZE, &in, 6, &a, NULL), 0);
    CHECK_EQ(a.blocks, 0);
    CHECK_EQ(meta_wrote(m, t, 0, 10000, 7, &a, NULL), 0);
    CHECK_EQ(meta_wrote(m, t, 20000, 30000, 7, &a, NULL), 0);
    CHECK_EQ(a.blocks, (20000 + 511) / 512);
    in.size = 25000;
    CHECK_EQ(meta_setattr(m, t, BFS_SET_SIZE, &in, 8, &a, NULL), 0);
    CHECK_EQ(a.blocks, (15000 + 511) / 512);
    in.size = 5000;
    CHECK_EQ(meta_setattr(m, t, BFS_SET_SIZE, &in, 8, &a, NULL), 0);
    CHECK_EQ(a.blocks, (5000 + 511) / 512);   /* dense again */
    /* more runs than the record keeps: the smallest are forgotten */
    for (uint64_t i = 0; i < 10; i++)
        CHECK_EQ(meta_wrote(m, r, i << 20, (i << 20) + 512 * (i + 1), 9, &a, NULL), 0);
    CHECK_EQ(a.blocks, 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10);
    CHECK_EQ(meta_wrote(m, r, 0, 9 << 20, 10, &a, NULL), 0);   /* all merge into one */
    CHECK_EQ(a.blocks, ((9 << 20) + 512 * 10) / 512);
    /* sizes past off_t */
    in.size = (uint64_t)INT64_MAX + 1;
    CHECK_EQ(meta_setattr(m, t, BFS_SET_SIZE, &in, 11, &a, NULL), -EINVAL);
    CHECK_EQ(meta_setattr(m, t, BFS_SET_SIZE_GROW, &in, 11, &a, NULL), -EFBIG);
    CHECK_EQ(meta_wrote(m, t, 0, UINT64_MAX, 11, &a, NULL), -EFBIG);
    CHECK_EQ(meta_getattr(m, t, &a), 0);
    CHECK_EQ(a.size, 5000);
    meta_close(m);
    /* records: a dense file keeps no list, the others u32 n and n extents */
    CHECK_EQ(inode_rec(d, rec, sizeof rec), 49);
    CHECK_EQ(inode_rec(t, rec, sizeof rec), 49);
    CHECK_EQ(inode_rec(s, rec, sizeof rec), 49 + 4 + 16);
    CHECK_EQ(inode_rec(r, rec, sizeof rec), 49);   /* the merge reached the end */
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_getattr(m, s, &a), 0);
    CHECK_EQ(a.blocks, 1);
    CHECK_EQ(meta_getattr(m, d, &a), 0);
    CHECK_EQ(a.blocks, (300000 + 511) / 512);
    teardown(m);
}

/* fallocate's bookkeeping: allocated and zeroed ranges count, punched ones stop
 * counting (a split extent too), KEEP_SIZE keeps the size, inline bytes in a
 * punched or zeroed range read as zeros; errors as fallocate(2). */
static void test_fallocate(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    char buf[100];
    size_t got;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1), d = mk(m, 1, "d", S_IFDIR | 0755, 1);
    REQUIRE(f && d);
    CHECK_EQ(meta_inline_write(m, f, 0, "0123456789", 10, 2, &a, NULL), 0);
    CHECK_EQ(meta_fallocate(m, f, 0, 8192, 0, 3, &a), 0);
    CHECK(a.size == 8192 && a.blocks == 16 && a.mtime_ns == 3);
    CHECK_EQ(meta_fallocate(m, f, 8192, 4096, FALLOC_FL_KEEP_SIZE, 4, &a), 0);
    CHECK(a.size == 8192 && a.blocks == 16 && a.mtime_ns == 3);   /* nothing past the end */
    CHECK_EQ(meta_fallocate(m, f, 2, 4, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5, &a), 0);
    CHECK_EQ(meta_fallocate(m, f, 1024, 4096, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5, &a), 0);
    CHECK(a.size == 8192 && a.blocks == (8192 - 4 - 4096 + 511) / 512 && a.mtime_ns == 5);
    CHECK_EQ(meta_inline_read(m, f, 0, buf, 10, &got), 0);
    CHECK(memcmp(buf, "01\0\0\0\0" "6789", 10) == 0);
    CHECK_EQ(meta_fallocate(m, f, 6, 2, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 6, &a), 0);
    CHECK_EQ(meta_inline_read(m, f, 0, buf, 10, &got), 0);
    CHECK(memcmp(buf, "01\0\0\0\0\0\0" "89", 10) == 0);
    CHECK_EQ(meta_fallocate(m, f, 8000, 1000, FALLOC_FL_ZERO_RANGE, 7, &a), 0);
    CHECK(a.size == 9000 && a.blocks == (9000 - 4 - 4096 + 2 + 511) / 512);
    CHECK_EQ(meta_fallocate(m, f, 0, 9000, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8, &a), 0);
    CHECK(a.size == 9000 && a.blocks == 0);
    CHECK_EQ(meta_fallocate(m, f, 0, 0, 0, 9, &a), -EINVAL);
    CHECK_EQ(meta_fallocate(m, f, INT64_MAX - 5, 10, 0, 9, &a), -EFBIG);
    CHECK_EQ(meta_fallocate(m, d, 0, 10, 0, 9, &a), -EISDIR);
    CHECK_EQ(meta_fallocate(m, 0x777, 0, 10, 0, 9, &a), -ENOENT);
    teardown(m);
}

/* A store of format 2 (no special files, no extents): it opens, is stamped
 * format 3, and its files count all of [0, size) as stored, as before. */
static void test_format2_store(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    unsigned char v2[8] = { 2 }, fmt[8];
    size_t n = sizeof fmt;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    REQUIRE(f);
    meta_close(m);
    unsigned char rec[49] = { 1 }, k[8];   /* version 1, S_IFREG | 0644, size 1 MiB */
    rec[1] = 0xa4;
    rec[2] = 0x81;
    rec[5] = 1;
    le64(rec + 17, 1 << 20);
    be64(k, f);
    REQUIRE(raw_put("inodes", k, 8, rec, sizeof rec) == 0);
    REQUIRE(raw_put("info", "format", 6, v2, 8) == 0);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK(a.size == 1 << 20 && a.blocks == 2048 && a.mode == (S_IFREG | 0644));
    CHECK_EQ(meta_wrote(m, f, 4 << 20, (4 << 20) + 512, 2, &a, NULL), 0);
    CHECK_EQ(a.blocks, 2049);
    meta_close(m);
    CHECK_EQ(raw_op("info", "format", 6, fmt, &n, 0), 0);
    CHECK_EQ(fmt[0], META_STORE_FORMAT);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    teardown(m);
}

/* Tails that do not fit their type are corruption (-EIO), as are unknown types. */
static void test_corrupt_tails(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    REQUIRE(m);
    enum { CASES = 10 };
    uint64_t ino[CASES];
    for (int i = 0; i < CASES; i++) {
        char name[8];
        snprintf(name, sizeof name, "c%d", i);
        ino[i] = mk(m, 1, name, S_IFREG | 0644, 1);
        REQUIRE(ino[i]);
    }
    meta_close(m);
    /* type (the high byte of mode's low u16), tail length, tail bytes */
    struct { unsigned char type; size_t tlen; unsigned char tail[40]; } c[CASES] = {
        { 0x20, 0, { 0 } },                                 /* char device, no rdev */
        { 0x60, 4, { 0 } },                                 /* block device, short rdev */
        { 0x60, 9, { 0 } },                                 /* block device, long rdev */
        { 0x10, 8, { 0 } },                                 /* FIFO with a tail */
        { 0xc0, 1, { 0 } },                                 /* socket with a tail */
        { 0xf0, 0, { 0 } },                                 /* no such type */
        { 0x80, 3, { 0 } },                                 /* regular: too short for a count */
        { 0x80, 4, { 9 } },                          /* regular: 9 extents, none there */
        { 0x80, 20, { 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5 } },   /* start == end */
        { 0x80, 36, { 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,
                      8, 0, 0, 0, 0, 0, 0, 0, 12 } },               /* overlapping */
    };
    for (int i = 0; i < CASES; i++) {
        unsigned char rec[49 + 40] = { 1 }, k[8];
        rec[1] = 0xa4;
        rec[2] = c[i].type;
        rec[5] = 1;
        le64(rec + 17, 100);
        memcpy(rec + 49, c[i].tail, c[i].tlen);
        be64(k, ino[i]);
        REQUIRE(raw_put("inodes", k, 8, rec, 49 + c[i].tlen) == 0);
    }
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    for (int i = 0; i < CASES; i++) {
        if (meta_getattr(m, ino[i], &a) != -EIO) {
            fprintf(stderr, "  case %d read as a good record\n", i);
            CHECK(0);
        }
    }
    teardown(m);
}

/* ---- corruption ---- */

static void test_corrupt(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    struct meta_drop drop;
    struct bfs_dirent page[8];
    size_t n;
    int eof;
    unsigned char k[8];
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 1);
    uint64_t l = mk(m, 1, "l", S_IFLNK | 0777, 1);
    uint64_t g = mk(m, 1, "g", S_IFREG | 0644, 1);
    uint64_t h = mk(m, 1, "h", S_IFREG | 0644, 1);
    REQUIRE(f && l && g && h);
    meta_close(m);

    be64(k, f);
    REQUIRE(raw_put("inodes", k, 8, "garbage", 7) == 0);             /* too short */
    unsigned char rec[49 + 3] = { 0 };
    rec[0] = 99;                                                       /* bad version */
    be64(k, g);
    REQUIRE(raw_put("inodes", k, 8, rec, 49) == 0);
    rec[0] = 1;
    rec[2] = 0xa0;                                                     /* S_IFLNK, no target */
    be64(k, l);
    REQUIRE(raw_put("inodes", k, 8, rec, 49) == 0);
    rec[2] = 0x80;                                                     /* S_IFREG with a tail */
    be64(k, h);
    REQUIRE(raw_put("inodes", k, 8, rec, sizeof rec) == 0);
    unsigned char dk[17] = { 0 }, dv[3] = { 1, 2, 3 };                /* dentry with bad value */
    be64(dk, 1);
    be64(dk + 8, 77);
    dk[16] = 'z';
    REQUIRE(raw_put("dentries", dk, sizeof dk, dv, sizeof dv) == 0);

    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_getattr(m, f, &a), -EIO);
    CHECK_EQ(meta_getattr(m, g, &a), -EIO);
    CHECK_EQ(meta_getattr(m, l, &a), -EIO);
    CHECK_EQ(meta_getattr(m, h, &a), -EIO);
    char buf[16];
    size_t len;
    CHECK_EQ(meta_readlink(m, l, buf, sizeof buf, &len), -EIO);
    struct bfs_attr in = { .size = 1 };
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 2, &a, NULL), -EIO);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 0, 0, 2, &drop), -EIO);
    CHECK_EQ(lookup(m, 1, "f", NULL), 0);   /* the failed unlink left the entry */
    CHECK_EQ(meta_purge(m, g, &drop), -EIO);
    CHECK_EQ(meta_readdir(m, 1, 0, page, 8, &n, &eof), -EIO);
    CHECK_EQ(n, 0);
    teardown(m);
}

/* A corrupt info record makes open fail cleanly. */
static void test_corrupt_info(void)
{
    struct meta_store *m = setup(0);
    REQUIRE(m);
    meta_close(m);
    REQUIRE(raw_put("info", "node_id", 7, "x", 1) == 0);
    m = NULL;
    CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), -EIO);
    CHECK(m == NULL);
    teardown(NULL);
}

/* Fills files with the most inline data a file holds; returns how many were
 * filled before the first error (*rc), or n. */
static int fill_inline(struct meta_store *m, int n, int *rc)
{
    static unsigned char data[IMAX];
    struct bfs_attr a;
    char name[32];
    *rc = 0;
    for (int i = 0; i < n; i++) {
        memset(data, i & 0xff, sizeof data);
        snprintf(name, sizeof name, "f%d", i);
        if ((*rc = meta_create(m, 1, name, strlen(name), S_IFREG | 0644, 0, 0, NULL, 0, 1, &a)) ||
            (*rc = meta_inline_write(m, a.ino, 0, data, sizeof data, 2, &a, NULL)))
            return i;
    }
    return n;
}

/* Checks that the first n files hold what fill_inline wrote. */
static int check_inline(struct meta_store *m, int n)
{
    static unsigned char back[IMAX];
    char name[32];
    for (int i = 0; i < n; i++) {
        uint64_t ino;
        size_t got;
        snprintf(name, sizeof name, "f%d", i);
        if (lookup(m, 1, name, &ino) || iread(m, ino, 0, back, sizeof back, &got) ||
            got != sizeof back || back[0] != (i & 0xff) || back[got - 1] != (i & 0xff))
            return 0;
    }
    return 1;
}

/* 3,000 files of 4 KiB, all but every 300th (kept[]) removed: most of the store
 * is free. Checks that it is not due before the removals. */
static void shrink_store_by(struct meta_store *m, uint64_t *kept, int every)
{
    struct meta_drop drop;
    struct bfs_attr a;
    unsigned char data[4096];
    char name[32];
    uint64_t ino;
    CHECK_EQ(meta_compact_due(m), 0);   /* a new store */
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "f%d", i);
        REQUIRE((ino = mk(m, 1, name, S_IFREG | 0644, 1)) != 0);
        memset(data, i & 0xff, sizeof data);
        REQUIRE(meta_inline_write(m, ino, 0, data, sizeof data, 2, &a, NULL) == 0);
        if (i % every == 0)
            kept[i / every] = ino;
    }
    CHECK_EQ(meta_compact_due(m), 0);   /* full, not free */
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "f%d", i);
        if (i % every)
            CHECK_EQ(meta_unlink(m, 1, name, strlen(name), 0, 0, 3, &drop), 0);
    }
}

static void shrink_store(struct meta_store *m, uint64_t kept[10])
{
    shrink_store_by(m, kept, 300);
}

/* A store most of which is free is compacted: smaller, the same records, still
 * usable, and a copy that cannot be written leaves it as it was. */
static void test_compact(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    unsigned char data[4096], got[4096];
    char name[32], path[128];
    size_t live, free_pages, n;
    uint64_t kept[10], ino;
    REQUIRE(m);
    shrink_store(m, kept);
    REQUIRE(meta_pages(m, &live, &free_pages) == 0);
    CHECK(free_pages >= 1024 && free_pages > live);
    CHECK_EQ(meta_compact_due(m), META_COMPACT_NOW);   /* ~30 live pages */
    struct stat before, after;
    snprintf(path, sizeof path, "%s/meta.lmdb", tdir);
    REQUIRE(stat(path, &before) == 0);

    /* The copy cannot be written: the store is as it was, and open. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/meta.lmdb.compact", tdir);
    REQUIRE(mkdir(tmp, 0700) == 0);
    CHECK_EQ(meta_compact(m), -EISDIR);
    CHECK_EQ(meta_compact_running(m), 0);
    CHECK_EQ(meta_compact_due(m), 1);
    CHECK_EQ(lookup(m, 1, "f300", &ino), 0);
    CHECK_EQ(ino, kept[1]);
    rmdir(tmp);

    CHECK_EQ(meta_compact(m), 0);
    CHECK_EQ(meta_compact_due(m), 0);
    size_t live2, free2;
    REQUIRE(meta_pages(m, &live2, &free2) == 0);
    CHECK(live2 + free2 < 1024);
    CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);   /* the copy is the store now */
    REQUIRE(stat(path, &after) == 0);
    CHECK(after.st_ino != before.st_ino);
    /* The same records, readable and writable. */
    for (int k = 0; k < 10; k++) {
        snprintf(name, sizeof name, "f%d", k * 300);
        CHECK_EQ(lookup(m, 1, name, &ino), 0);
        CHECK_EQ(ino, kept[k]);
        memset(data, (k * 300) & 0xff, sizeof data);
        CHECK_EQ(iread(m, ino, 0, got, sizeof got, &n), 0);
        CHECK_EQ(n, sizeof got);
        CHECK(memcmp(got, data, sizeof got) == 0);
    }
    CHECK_EQ(lookup(m, 1, "f1", &ino), -ENOENT);
    REQUIRE((ino = mk(m, 1, "new", S_IFREG | 0644, 4)) != 0);
    CHECK_EQ(meta_inline_write(m, ino, 0, "after", 5, 5, &a, NULL), 0);
    CHECK(ino != kept[9]);   /* the inode counter came along */
    /* ... and after a reopen. */
    meta_close(m);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(lookup(m, 1, "new", &ino), 0);
    CHECK_EQ(iread(m, ino, 0, got, 5, &n), 0);
    CHECK(n == 5 && memcmp(got, "after", 5) == 0);
    CHECK_EQ(lookup(m, 1, "f2700", &ino), 0);
    CHECK_EQ(ino, kept[9]);
    /* A copy a kill -9 left behind is removed at the next open. */
    meta_close(m);
    int fd = open(tmp, O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, "junk", 4), 4);
    close(fd);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);
    CHECK_EQ(lookup(m, 1, "new", &ino), 0);
    teardown(m);
}

/* The copy is written beside the store's own writes: a write after it began
 * drops it (the store keeps the write), one with none swaps in; a copy under
 * way when the store closes is removed. */
static void test_compact_background(void)
{
    struct meta_store *m = setup(0);
    char tmp[160];
    size_t live, free_pages;
    uint64_t kept[10], ino;
    REQUIRE(m);
    shrink_store(m, kept);
    snprintf(tmp, sizeof tmp, "%s/meta.lmdb.compact", tdir);
    CHECK_EQ(meta_compact_finish(m, 0), -ENOENT);
    CHECK_EQ(meta_compact_begin(m), 0);
    CHECK_EQ(meta_compact_begin(m), -EBUSY);
    CHECK_EQ(meta_compact_running(m), 1);
    CHECK_EQ(meta_compact_due(m), 0);   /* one is under way */
    REQUIRE((ino = mk(m, 1, "late", S_IFREG | 0644, 5)) != 0);   /* overtakes the copy */
    CHECK_EQ(meta_compact_finish(m, 1), -EAGAIN);
    CHECK_EQ(meta_compact_running(m), 0);
    CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);
    CHECK_EQ(meta_compact_due(m), 1);   /* as it was */
    uint64_t got;
    CHECK_EQ(lookup(m, 1, "late", &got), 0);
    CHECK_EQ(got, ino);

    /* No write meanwhile: polled until written, then swapped in. */
    CHECK_EQ(meta_compact_begin(m), 0);
    int rc = 0;
    for (int i = 0; i < 5000 && (rc = meta_compact_finish(m, 0)) == 0; i++)
        usleep(1000);
    CHECK_EQ(rc, 1);
    CHECK_EQ(meta_compact_running(m), 0);
    REQUIRE(meta_pages(m, &live, &free_pages) == 0);
    CHECK(live + free_pages < 1024);
    CHECK_EQ(lookup(m, 1, "late", &got), 0);
    CHECK_EQ(got, ino);
    CHECK_EQ(lookup(m, 1, "f2400", &got), 0);
    CHECK_EQ(got, kept[8]);

    teardown(m);

    /* 300 files kept (over 256 live pages): due, to be copied aside; compacted. */
    uint64_t many[300];
    REQUIRE((m = setup(0)));
    shrink_store_by(m, many, 10);
    CHECK_EQ(meta_compact_due(m), META_COMPACT_ASIDE);
    CHECK_EQ(meta_compact(m), 0);
    CHECK_EQ(meta_compact_due(m), 0);
    CHECK_EQ(lookup(m, 1, "f2990", &got), 0);
    CHECK_EQ(got, many[299]);

    /* Closed with a copy under way: waited for and removed. */
    snprintf(tmp, sizeof tmp, "%s/meta.lmdb.compact", tdir);
    CHECK_EQ(meta_compact_begin(m), 0);
    meta_close(m);
    CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(lookup(m, 1, "f0", &got), 0);
    CHECK_EQ(got, many[0]);
    teardown(m);
}

/* The map must not move under a copy's reader: a growth the store needs drops
 * the copy under way, and every write goes in. */
static void test_compact_map_grows(void)
{
    struct meta_store *m = setup(0);
    struct meta_drop drop;
    char name[32], tmp[160];
    uint64_t kept[10];
    int rc;
    REQUIRE(m);
    shrink_store(m, kept);
    for (int k = 0; k < 10; k++) {
        snprintf(name, sizeof name, "f%d", k * 300);
        CHECK_EQ(meta_unlink(m, 1, name, strlen(name), 0, 0, 3, &drop), 0);
    }
    CHECK_EQ(meta_compact(m), 0);   /* the map is back at its first 16 MiB */
    snprintf(tmp, sizeof tmp, "%s/meta.lmdb.compact", tdir);
    CHECK_EQ(meta_compact_begin(m), 0);
    CHECK_EQ(fill_inline(m, 2400, &rc), 2400);   /* ~40 MiB: the map grows twice */
    CHECK_EQ(rc, 0);
    CHECK_EQ(meta_compact_running(m), 0);   /* dropped for the growth */
    CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);
    CHECK(check_inline(m, 2400));
    teardown(m);
}

/* A process that died reading the store leaves a reader slot behind (it would
 * keep the store's freed pages from reuse): meta_readers_check clears it. */
static void test_readers_check(void)
{
    struct meta_store *m = setup(0);
    char path[128];
    REQUIRE(m);
    CHECK_EQ(meta_readers_check(m), 0);
    snprintf(path, sizeof path, "%s/meta.lmdb", tdir);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {   /* its own environment (none may cross a fork), a read, no close */
        MDB_env *env;
        MDB_txn *txn;
        if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
            mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600) ||
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
            _exit(1);
        _exit(0);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(meta_readers_check(m), 1);
    CHECK_EQ(meta_readers_check(m), 0);
    teardown(m);
}

static void test_map_grows(void)
{
    struct meta_store *m = setup(0);
    struct stat st;
    char p[128];
    int rc;
    REQUIRE(m);
    snprintf(p, sizeof p, "%s/meta.lmdb", tdir);
    REQUIRE(stat(p, &st) == 0);
    CHECK_EQ(st.st_size, 16 << 20);                     /* the first map */
    CHECK((long long)st.st_blocks * 512 >= st.st_size);  /* allocated, not a hole */
    /* ~40 MiB of inline data: the map must grow twice on the way. */
    CHECK_EQ(fill_inline(m, 2400, &rc), 2400);
    CHECK_EQ(rc, 0);
    REQUIRE(stat(p, &st) == 0);
    CHECK(st.st_size >= 64 << 20);
    CHECK((long long)st.st_blocks * 512 >= st.st_size);
    meta_close(m);
    m = NULL;
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);   /* reopens at the grown size */
    REQUIRE(stat(p, &st) == 0);
    CHECK(st.st_size >= 64 << 20);
    CHECK(check_inline(m, 2400));
    struct bfs_attr a;
    uint64_t f = mk(m, 1, "after", S_IFREG | 0644, 2);   /* and writes go on */
    CHECK(f != 0);
    CHECK_EQ(meta_inline_write(m, f, 0, "abc", 3, 3, &a, NULL), 0);
    teardown(m);
}

/* A disk too small for the map to grow: writes fail with ENOSPC (never SIGBUS),
 * what was committed stays readable, and the store still works for reads and
 * deletes. The small disk is a tmpfs in a mount namespace of this process only,
 * so it goes away with the process however the test ends. */
static void test_map_full_disk(void)
{
    struct meta_store *m = NULL;
    int rc;
    REQUIRE(unshare(CLONE_NEWNS) == 0);
    REQUIRE(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    strcpy(tdir, "/tmp/test_meta.XXXXXX");
    REQUIRE(mkdtemp(tdir));
    REQUIRE(mount("tmpfs", tdir, "tmpfs", 0, "size=24m") == 0);
    if (meta_open(tdir, 0, CHUNK, &m) == 0) {
        int n = fill_inline(m, 4000, &rc);   /* 4000 x 16 KiB would be ~64 MiB */
        CHECK_EQ(rc, -ENOSPC);
        CHECK(n > 500 && n < 4000);
        CHECK(check_inline(m, n));
        struct meta_drop drop;
        CHECK_EQ(meta_unlink(m, 1, "f0", 2, 0, 0, 5, &drop), 0);
        meta_close(m);
        m = NULL;
        CHECK_EQ(meta_open(tdir, 0, CHUNK, &m), 0);
        if (m)
            CHECK(check_inline(m, 1) == 0 && lookup(m, 1, "f1", NULL) == 0);
        meta_close(m);
    } else {
        CHECK(!"meta_open on a 24 MiB tmpfs");
    }
    CHECK(umount(tdir) == 0);
    rmdir(tdir);
}

/* meta_scan pages through a table in key order, resuming after the cursor. */
static void test_scan(void)
{
    struct meta_store *m = setup(0);
    REQUIRE(m);
    char name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "f%d", i);
        CHECK(mk(m, BFS_ROOT_INO, name, S_IFREG | 0644, 1) != 0);
    }
    unsigned char buf[300], cursor[512];
    size_t used, n, clen = 0, total = 0, pages = 0;
    int eof = 0;
    while (!eof) {
        REQUIRE(meta_scan(m, META_T_DENTRIES, cursor, clen, buf, sizeof buf, &used, &n, &eof) == 0);
        REQUIRE(n > 0 || eof);
        size_t pos = 0, last = 0;
        for (size_t i = 0; i < n; i++) {
            last = pos;
            size_t kl = (size_t)(buf[pos] | buf[pos + 1] << 8);
            size_t vl = (size_t)(buf[pos + 2] | buf[pos + 3] << 8);
            CHECK_EQ(vl, 12);
            if (total + i > 0 && i == 0)    /* strictly after the cursor */
                CHECK(kl != clen || memcmp(buf + 6, cursor, kl) != 0);
            pos += 6 + kl + vl;
        }
        CHECK_EQ(pos, used);
        if (n) {
            clen = (size_t)(buf[last] | buf[last + 1] << 8);
            memcpy(cursor, buf + last + 6, clen);
        }
        total += n;
        pages++;
    }
    CHECK_EQ(total, 50);
    CHECK(pages > 1);
    /* inodes: root + 50; a page too small for one record; tables this store lacks */
    REQUIRE(meta_scan(m, META_T_INODES, NULL, 0, buf, sizeof buf, &used, &n, &eof) == 0);
    CHECK(n > 0 && !eof);
    CHECK_EQ(meta_scan(m, META_T_INODES, NULL, 0, buf, 10, &used, &n, &eof), -EMSGSIZE);
    CHECK_EQ(meta_scan(m, META_T_FENCES, NULL, 0, buf, sizeof buf, &used, &n, &eof), 0);
    CHECK(n == 0 && eof);
    CHECK_EQ(meta_scan(m, META_T_MAX, NULL, 0, buf, sizeof buf, &used, &n, &eof), -EINVAL);
    teardown(m);
}

/* A setgid parent held here gives its group to new inodes, and its setgid
 * bit to new directories; a parent elsewhere leaves uid/gid/mode as sent. */
static void test_setgid_parent(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a, in = { .mode = 02775, .gid = 50 };
    REQUIRE(m);
    uint64_t d = mk(m, 1, "sg", S_IFDIR | 0775, 10);
    REQUIRE(d);
    CHECK_EQ(meta_setattr(m, d, BFS_SET_MODE | BFS_SET_GID, &in, 11, &a, NULL), 0);
    CHECK_EQ(meta_create(m, d, "f", 1, S_IFREG | 0644, 1000, 100, NULL, 0, 12, &a), 0);
    CHECK_EQ(a.gid, 50);
    CHECK_EQ(a.uid, 1000);
    CHECK_EQ(a.mode, S_IFREG | 0644);   /* a file does not get the bit */
    CHECK_EQ(meta_create(m, d, "d", 1, S_IFDIR | 0755, 1000, 100, NULL, 0, 12, &a), 0);
    CHECK_EQ(a.gid, 50);
    CHECK_EQ(a.mode, S_IFDIR | 02755);
    CHECK_EQ(meta_create(m, d, "l", 1, S_IFLNK | 0777, 1000, 100, "t", 1, 12, &a), 0);
    CHECK_EQ(a.gid, 50);
    CHECK_EQ(a.mode, S_IFLNK | 0777);
    /* without the bit: the caller's group */
    CHECK_EQ(meta_create(m, 1, "g", 1, S_IFREG | 0644, 1000, 100, NULL, 0, 12, &a), 0);
    CHECK_EQ(a.gid, 100);
    /* parent on another node: as sent */
    CHECK_EQ(meta_create(m, NODE(3, 7), "r", 1, S_IFDIR | 0755, 1000, 100, NULL, 0, 12, &a), 0);
    CHECK_EQ(a.gid, 100);
    CHECK_EQ(a.mode, S_IFDIR | 0755);
    teardown(m);
}

/* The atime of a read: relatime only when due, strict always; ctime kept. */
static void test_read_atime(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    int touched = -1;
    const int64_t day = 24 * 3600 * 1000000000LL;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 100);   /* atime = mtime = ctime = 100 */
    REQUIRE(f);
    CHECK_EQ(meta_read_atime(m, f, 1, 200, &a, &touched), 0);   /* atime <= mtime: due */
    CHECK_EQ(touched, 1);
    CHECK_EQ(a.atime_ns, 200);
    CHECK_EQ(a.ctime_ns, 100);
    CHECK_EQ(a.mtime_ns, 100);
    CHECK_EQ(meta_read_atime(m, f, 1, 300, &a, &touched), 0);   /* newer than both: not */
    CHECK_EQ(touched, 0);
    CHECK_EQ(a.atime_ns, 200);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.atime_ns, 200);
    CHECK_EQ(meta_read_atime(m, f, 1, 200 + day, &a, &touched), 0);   /* a day old: due */
    CHECK_EQ(touched, 1);
    CHECK_EQ(a.atime_ns, 200 + day);
    CHECK_EQ(meta_read_atime(m, f, 0, 201 + day, &a, &touched), 0);   /* strict: always */
    CHECK_EQ(touched, 1);
    CHECK_EQ(a.atime_ns, 201 + day);
    CHECK_EQ(a.ctime_ns, 100);
    struct bfs_attr in = { .size = 5 };
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 300 + day, &a, NULL), 0);   /* a change */
    CHECK_EQ(meta_read_atime(m, f, 1, 400 + day, &a, &touched), 0);
    CHECK_EQ(touched, 1);
    CHECK_EQ(a.atime_ns, 400 + day);
    CHECK_EQ(meta_read_atime(m, NODE(0, 999), 1, 1, &a, &touched), -ENOENT);
    teardown(m);
}

/* A read's atime is kept in memory (meta_atime.c): every read shows it, a
 * rewrite of the record keeps it, an explicit time beats it, and it reaches the
 * store by a flush, a sync or the close, not by the read. "Lost" below drops
 * the table unwritten, as a kill -9 would. */
static void lose_atimes(struct meta_store *m)
{
    free(m->atimes);
    m->atimes = NULL;
}

static int64_t atime_of(struct meta_store *m, uint64_t ino)
{
    struct bfs_attr a = { .atime_ns = -1 };
    return meta_getattr(m, ino, &a) == 0 ? a.atime_ns : -1;
}

static void test_atime_batched(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    int touched = -1;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644, 100);
    REQUIRE(f);
    CHECK_EQ(meta_atime_deadline(m) == 0, 1);
    CHECK_EQ(meta_read_atime(m, f, 1, 200, &a, &touched), 0);
    CHECK_EQ(touched, 1);
    CHECK_EQ(atime_of(m, f), 200);                    /* shown at once */
    CHECK_EQ(meta_atime_deadline(m) > 0, 1);
    lose_atimes(m);
    CHECK_EQ(atime_of(m, f), 100);                    /* the read committed nothing */
    CHECK_EQ(meta_read_atime(m, f, 1, 300, &a, &touched), 0);
    struct bfs_attr in = { .size = 7 };
    CHECK_EQ(meta_setattr(m, f, BFS_SET_SIZE, &in, 400, &a, NULL), 0);
    CHECK_EQ(a.atime_ns, 300);
    lose_atimes(m);
    CHECK_EQ(atime_of(m, f), 300);                    /* the rewrite kept it */
    CHECK_EQ(meta_read_atime(m, f, 1, 500, &a, &touched), 0);   /* due: ctime 400 */
    in.atime_ns = 50;
    CHECK_EQ(meta_setattr(m, f, BFS_SET_ATIME, &in, 600, &a, NULL), 0);
    CHECK_EQ(atime_of(m, f), 50);                     /* utimens beats the read */
    CHECK_EQ(meta_atime_flush(m), 0);
    CHECK_EQ(atime_of(m, f), 50);
    CHECK_EQ(meta_read_atime(m, f, 1, 700, &a, &touched), 0);
    CHECK_EQ(meta_atime_flush(m), 0);
    CHECK_EQ(meta_atime_deadline(m) == 0, 1);
    lose_atimes(m);
    CHECK_EQ(atime_of(m, f), 700);                    /* written by the flush */
    /* A file removed after its read: the flush skips it and writes the rest. */
    uint64_t gone = mk(m, 1, "gone", S_IFREG | 0644, 100);
    struct meta_drop drop;
    CHECK_EQ(meta_read_atime(m, gone, 1, 750, &a, &touched), 0);
    CHECK_EQ(meta_read_atime(m, f, 0, 760, &a, &touched), 0);
    CHECK_EQ(meta_unlink(m, 1, "gone", 4, 0, 0, 770, &drop), 0);
    CHECK_EQ(meta_atime_flush(m), 0);
    lose_atimes(m);
    CHECK_EQ(atime_of(m, f), 760);
    CHECK_EQ(meta_read_atime(m, f, 0, 800, &a, &touched), 0);
    CHECK_EQ(meta_sync(m), 0);
    lose_atimes(m);
    CHECK_EQ(atime_of(m, f), 800);                    /* and by a sync */
    /* More inodes than the table holds: it writes itself when full. */
    enum { N = 3000 };
    static uint64_t inos[N];
    char name[32];
    int made = 1;
    for (int i = 0; i < N && made; i++) {
        snprintf(name, sizeof name, "g%d", i);
        made = (inos[i] = mk(m, 1, name, S_IFREG | 0644, 100)) != 0;
    }
    REQUIRE(made);
    for (int i = 0; i < N; i++)
        CHECK_EQ(meta_read_atime(m, inos[i], 1, 1000 + i, &a, &touched), 0);
    int shown = 0, kept = 0;
    for (int i = 0; i < N; i++)
        shown += atime_of(m, inos[i]) == 1000 + i;
    lose_atimes(m);
    for (int i = 0; i < N; i++)
        kept += atime_of(m, inos[i]) == 1000 + i;
    CHECK_EQ(shown, N);
    CHECK_EQ(kept >= N / 2 && kept < N, 1);           /* full tables were written */
    CHECK_EQ(meta_read_atime(m, f, 0, 900, &a, &touched), 0);
    meta_close(m);
    m = NULL;
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(atime_of(m, f), 900);                    /* and by the close */
    teardown(m);
}

/* ---- multi-server operations: intents, marks, fences, parents ---- */

static struct meta_intent intent_for(uint64_t parent, const char *name)
{
    struct meta_intent in = { .kind = 1, .parent = parent, .name_len = (uint32_t)strlen(name) };
    memcpy(in.name, name, in.name_len);
    return in;
}

static void test_intents(void)
{
    struct meta_store *m = setup(2);
    REQUIRE(m);
    struct bfs_attr d, f;
    struct meta_intent in = intent_for(BFS_ROOT_INO, "f"), *list;
    size_t n;
    CHECK_EQ(meta_intent_begin(m, &in, META_BEGIN_ENTRY), -ENOENT);
    CHECK_EQ(meta_create(m, BFS_ROOT_INO, "f", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &f), 0);
    CHECK_EQ(meta_create(m, BFS_ROOT_INO, "d", 1, S_IFDIR | 0755, 0, 0, NULL, 0, 1, &d), 0);
    CHECK_EQ(meta_intent_begin(m, &in, META_BEGIN_DIR), -ENOTDIR);
    CHECK_EQ(meta_intent_begin(m, &in, META_BEGIN_NEW), -EEXIST);
    REQUIRE(meta_intent_begin(m, &in, META_BEGIN_ENTRY) == 0);
    CHECK_EQ(bfs_ino_node(in.id), 2);   /* ids name their coordinator, as inode numbers */
    CHECK_EQ(in.ino, f.ino);
    CHECK_EQ(in.type, S_IFREG);
    struct meta_intent other = intent_for(BFS_ROOT_INO, "new");
    CHECK_EQ(meta_intent_begin(m, &other, META_BEGIN_NEW), 0);
    CHECK(other.id != in.id);
    CHECK_EQ(meta_intent_note(m, in.id, d.ino), 0);
    CHECK_EQ(meta_intent_done(m, &in), 0);
    REQUIRE(meta_intent_list(m, &list, &n) == 0);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++)
        if (list[i].id == in.id)
            CHECK(list[i].state == META_INTENT_DONE && list[i].fenced == d.ino &&
                  list[i].name_len == 1 && list[i].name[0] == 'f');
    free(list);
    CHECK_EQ(meta_intent_end(m, in.id), 0);
    CHECK_EQ(meta_intent_end(m, other.id), 0);
    REQUIRE(meta_intent_list(m, &list, &n) == 0);
    CHECK_EQ(n, 0);
    free(list);
    teardown(m);
}

static void test_marked_steps(void)
{
    struct meta_store *m = setup(0);
    REQUIRE(m);
    struct bfs_attr f, a;
    struct meta_step st;
    struct meta_drop drop;
    uint64_t intent = 7ULL << BFS_INO_NODE_SHIFT | 1;
    REQUIRE(meta_create(m, BFS_ROOT_INO, "f", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &f) == 0);
    /* a step sent twice is done once */
    CHECK_EQ(meta_gain(m, f.ino, intent, 6, 2), 0);
    CHECK_EQ(meta_gain(m, f.ino, intent, 6, 3), 0);
    CHECK_EQ(meta_getattr(m, f.ino, &a), 0);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(meta_drop(m, f.ino, 0, 0, intent, 2, 4, &drop), 0);
    CHECK_EQ(meta_drop(m, f.ino, 0, 0, intent, 2, 5, &drop), 0);
    CHECK_EQ(meta_getattr(m, f.ino, &a), 0);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(meta_step_get(m, intent, 6, &st), 0);
    /* forgotten, the same step would count again; a claimed one never runs */
    CHECK_EQ(meta_forget(m, intent), 0);
    CHECK_EQ(meta_step_get(m, intent, 6, &st), -ENOENT);
    CHECK_EQ(meta_step_claim(m, intent, 1, &st), 0);
    CHECK(st.flags & META_STEP_ABORTED);
    CHECK_EQ(meta_install(m, BFS_ROOT_INO, "g", 1, f.ino, S_IFREG, 0, intent, 1, &st), -ECANCELED);
    CHECK_EQ(meta_lookup(m, BFS_ROOT_INO, "g", 1, &a.ino, &a.mode), -ENOENT);
    /* install replaces what it expects, and only that */
    uint64_t i2 = intent + 1;
    CHECK_EQ(meta_install(m, BFS_ROOT_INO, "f", 1, 99, S_IFREG, 0, i2, 1, &st), -ESTALE);
    CHECK_EQ(meta_install(m, BFS_ROOT_INO, "g", 1, f.ino, S_IFREG, 0, i2, 1, &st), 0);
    CHECK_EQ(st.ino, 0);
    CHECK_EQ(meta_install(m, BFS_ROOT_INO, "g", 1, f.ino, S_IFREG, 0, i2, 1, &st), 0);   /* replayed */
    CHECK_EQ(meta_drop_entry(m, BFS_ROOT_INO, "f", 1, f.ino), 0);
    CHECK_EQ(meta_drop_entry(m, BFS_ROOT_INO, "f", 1, f.ino), 0);   /* replayed */
    uint32_t type;
    uint64_t ino;
    CHECK_EQ(meta_lookup(m, BFS_ROOT_INO, "g", 1, &ino, &type), 0);
    CHECK_EQ(ino, f.ino);
    CHECK_EQ(meta_lookup(m, BFS_ROOT_INO, "f", 1, &ino, &type), -ENOENT);
    teardown(m);
}

static void test_fences(void)
{
    struct meta_store *m = setup(0);
    REQUIRE(m);
    struct bfs_attr d, e, f;
    uint64_t i1 = 1ULL << BFS_INO_NODE_SHIFT | 1, i2 = i1 + 1, parent;
    REQUIRE(meta_create(m, BFS_ROOT_INO, "d", 1, S_IFDIR | 0755, 0, 0, NULL, 0, 1, &d) == 0);
    REQUIRE(meta_create(m, BFS_ROOT_INO, "e", 1, S_IFDIR | 0755, 0, 0, NULL, 0, 1, &e) == 0);
    CHECK_EQ(meta_get_parent(m, d.ino, &parent), 0);
    CHECK_EQ(parent, BFS_ROOT_INO);
    REQUIRE(meta_create(m, d.ino, "x", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &f) == 0);
    CHECK_EQ(meta_fence(m, d.ino, i1), -ENOTEMPTY);
    CHECK_EQ(meta_fence(m, e.ino, i1), 0);
    CHECK_EQ(meta_fence(m, e.ino, i1), 0);          /* taken again by the same intent */
    CHECK_EQ(meta_fence(m, e.ino, i2), -EBUSY);
    CHECK_EQ(meta_create(m, e.ino, "y", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &f), META_FENCED);
    CHECK_EQ(meta_unfence(m, e.ino, i2, 0), -EBUSY);
    CHECK_EQ(meta_unfence(m, e.ino, i1, 0), 0);
    CHECK_EQ(meta_create(m, e.ino, "y", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &f), 0);
    struct meta_drop drop;
    CHECK_EQ(meta_unlink(m, e.ino, "y", 1, 0, 0, 2, &drop), 0);
    /* a tombstone: no entry under it ever again, from any request */
    CHECK_EQ(meta_fence(m, e.ino, i2), 0);
    CHECK_EQ(meta_unfence(m, e.ino, i2, 1), 0);
    CHECK_EQ(meta_create(m, e.ino, "z", 1, S_IFREG | 0644, 0, 0, NULL, 0, 1, &f), -ENOENT);
    CHECK_EQ(meta_fence(m, e.ino, i1), -ENOENT);
    struct meta_step st;
    CHECK_EQ(meta_install(m, e.ino, "z", 1, d.ino, S_IFDIR, 0, i1, 1, &st), -ENOENT);
    /* a directory moved between parents here: its parent follows */
    CHECK_EQ(meta_rename(m, BFS_ROOT_INO, "d", 1, BFS_ROOT_INO, "d2", 2, 0, 0, 3, &drop), 0);
    REQUIRE(meta_create(m, BFS_ROOT_INO, "p", 1, S_IFDIR | 0755, 0, 0, NULL, 0, 1, &f) == 0);
    CHECK_EQ(meta_rename(m, BFS_ROOT_INO, "d2", 2, f.ino, "d", 1, 0, 0, 3, &drop), 0);
    CHECK_EQ(meta_get_parent(m, d.ino, &parent), 0);
    CHECK_EQ(parent, f.ino);
    /* ... unless the cluster's coordinator is needed for it */
    CHECK_EQ(meta_rename(m, f.ino, "d", 1, BFS_ROOT_INO, "d", 1, META_RENAME_CLUSTER, 0, 3, &drop),
             META_COORD);
    teardown(m);
}

int main(void)
{
    RUN(test_root_and_open);
    RUN(test_persistence);
    RUN(test_create);
    RUN(test_bad_names);
    RUN(test_parent_checks);
    RUN(test_readlink);
    RUN(test_setattr);
    RUN(test_fallocate);
    RUN(test_setgid_parent);
    RUN(test_read_atime);
    RUN(test_atime_batched);
    RUN(test_link);
    RUN(test_unlink);
    RUN(test_rmdir);
    RUN(test_has_entries);
    RUN(test_orphans);
    RUN(test_touch_dir);
    RUN(test_stamp_dir);
    RUN(test_dirtime_records);
    RUN(test_remote);
    RUN(test_rename);
    RUN(test_readdir_paging);
    RUN(test_readdir_collision);
    RUN(test_inline_write_read);
    RUN(test_inline_truncate);
    RUN(test_inline_chunk_mode);
    RUN(test_inline_small_chunk);
    RUN(test_inline_delete);
    RUN(test_inline_persistence);
    RUN(test_inline_corrupt);
    RUN(test_inline_old_store);
    RUN(test_special_files);
    RUN(test_extents);
    RUN(test_format2_store);
    RUN(test_corrupt_tails);
    RUN(test_corrupt);
    RUN(test_corrupt_info);
    RUN(test_map_grows);
    RUN(test_compact);
    RUN(test_compact_background);
    RUN(test_compact_map_grows);
    RUN(test_readers_check);
    RUN(test_scan);
    RUN(test_intents);
    RUN(test_marked_steps);
    RUN(test_fences);
    if (geteuid() == 0)
        RUN(test_map_full_disk);   /* last: it leaves this process in its own mount namespace */
    else
        printf("SKIP: test_map_full_disk (needs root to mount a small tmpfs)\n");
    return test_summary();
}
