/* test_fsck.c - benchfs-fsck's checker on synthetic tables: a clean namespace,
 * then each invariant broken once. */
#include "../test.h"
#include "../../fsck/check.h"
#include "../../common/byteorder.h"
#include "../../common/placement.h"
#include "../../server/meta.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#define NODES 3
#define CS 65536u

static uint64_t ino_of(uint32_t node, uint64_t n) { return (uint64_t)node << BFS_INO_NODE_SHIFT | n; }

static void inode(struct fsck_db *db, uint64_t ino, uint32_t mode, uint32_t nlink, uint64_t size)
{
    struct fsck_inode r = { bfs_ino_node(ino), ino, mode, nlink, size };
    CHECK(fsck_add_inode(db, &r) == 0);
}

/* An entry on the node placement says; returns that node. */
static uint32_t dent(struct fsck_db *db, uint64_t parent, const char *name, uint64_t ino, uint32_t type)
{
    struct fsck_dent r = { .parent = parent, .ino = ino, .type = type, .len = (uint32_t)strlen(name) };
    memcpy(r.name, name, r.len + 1);
    r.node = place_dentry(parent, name, r.len, NODES);
    CHECK(fsck_add_dent(db, &r) == 0);
    return r.node;
}

static void chunk(struct fsck_db *db, uint64_t ino, uint64_t idx)
{
    struct fsck_chunk r = { place_chunk(ino, idx, NODES), ino, idx };
    CHECK(fsck_add_chunk(db, &r) == 0);
}

/* inodes used below */
#define D   ino_of(1, 1)    /* /d */
#define F   ino_of(2, 1)    /* /d/f and /g: 3 chunks, chunk mode */
#define S   ino_of(0, 2)    /* /d/s symlink */
#define O   ino_of(1, 2)    /* unlinked while open */
#define E   ino_of(2, 2)    /* /d/e: small inline file */

/* / (d, g), /d (f, s, e); an orphan; fences / parents / applied of a finished
 * operation absent, one held fence with its intent when with_intent. */
static void clean(struct fsck_db *db)
{
    fsck_db_init(db, NODES, CS);
    inode(db, BFS_ROOT_INO, S_IFDIR | 0755, 3, 0);
    inode(db, D, S_IFDIR | 0755, 2, 0);
    inode(db, F, S_IFREG | 0644, 2, 3 * CS - 10);
    inode(db, S, S_IFLNK | 0777, 1, 5);
    inode(db, O, S_IFREG | 0644, 0, 10);
    inode(db, E, S_IFREG | 0644, 1, 100);
    dent(db, BFS_ROOT_INO, "d", D, S_IFDIR);
    dent(db, BFS_ROOT_INO, "g", F, S_IFREG);
    dent(db, D, "f", F, S_IFREG);
    dent(db, D, "s", S, S_IFLNK);
    dent(db, D, "e", E, S_IFREG);
    CHECK(fsck_add_orphan(db, &(struct fsck_orphan){ bfs_ino_node(O), O }) == 0);
    CHECK(fsck_add_inline(db, &(struct fsck_inline){ bfs_ino_node(F), F, 1 }) == 0);
    CHECK(fsck_add_inline(db, &(struct fsck_inline){ bfs_ino_node(E), E, 0 }) == 0);
    CHECK(fsck_add_inline(db, &(struct fsck_inline){ bfs_ino_node(O), O, 1 }) == 0);
    for (uint64_t i = 0; i < 3; i++)
        chunk(db, F, i);
    chunk(db, O, 0);
    CHECK(fsck_add_parent(db, &(struct fsck_parent){ bfs_ino_node(D), D, BFS_ROOT_INO }) == 0);
}

static size_t count_kind(const struct fsck_report *r, const char *kind, enum fsck_fix fix)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_p; i++)
        if (strcmp(r->p[i].kind, kind) == 0 && r->p[i].fix == fix)
            n++;
    return n;
}

static void dump(const struct fsck_report *r)
{
    for (size_t i = 0; i < r->n_p; i++)
        fprintf(stderr, "    %s: %s: %s\n", r->p[i].severity ? "note" : "problem", r->p[i].kind,
                r->p[i].detail);
}

/* Checks db and expects exactly `problems` problems, one of them kind with fix. */
static void expect(struct fsck_db *db, size_t problems, const char *kind, enum fsck_fix fix)
{
    struct fsck_report r;
    CHECK(fsck_check(db, &r) == 0);
    CHECK_EQ(r.problems, problems);
    if (kind)
        CHECK_EQ(count_kind(&r, kind, fix), 1);
    if (r.problems != problems || (kind && count_kind(&r, kind, fix) != 1))
        dump(&r);
    fsck_report_free(&r);
    fsck_db_free(db);
}

static struct fsck_inode *get_inode(struct fsck_db *db, uint64_t ino)
{
    for (size_t i = 0; i < db->n_inodes; i++)
        if (db->inodes[i].ino == ino)
            return &db->inodes[i];
    return NULL;
}

static void test_clean(void)
{
    struct fsck_db db;
    clean(&db);
    struct fsck_report r;
    CHECK(fsck_check(&db, &r) == 0);
    CHECK_EQ(r.problems, 0);
    CHECK_EQ(r.notes, 0);
    if (r.n_p)
        dump(&r);
    fsck_report_free(&r);
    fsck_db_free(&db);
}

static void test_misplaced_entry(void)
{
    struct fsck_db db;
    clean(&db);
    struct fsck_dent *e = &db.dents[db.n_dents - 1];
    e->node = (e->node + 1) % NODES;
    expect(&db, 1, "misplaced-entry", FIX_NONE);
}

static void test_dangling_entry(void)
{
    struct fsck_db db;
    clean(&db);
    dent(&db, D, "ghost", ino_of(1, 99), S_IFREG);
    expect(&db, 1, "dangling-entry", FIX_DEL_DENT);
}

static void test_type_mismatch(void)
{
    struct fsck_db db;
    clean(&db);
    db.dents[db.n_dents - 1].type = S_IFDIR;  /* /d/e is a file */
    expect(&db, 1, "entry-type-mismatch", FIX_SET_DENT_TYPE);
}

static void test_entry_without_parent(void)
{
    struct fsck_db db;
    clean(&db);
    /* an entry under a missing directory: its file then has no valid name */
    inode(&db, ino_of(0, 7), S_IFREG | 0644, 1, 0);
    dent(&db, ino_of(2, 50), "x", ino_of(0, 7), S_IFREG);
    expect(&db, 2, "entry-without-parent", FIX_DEL_DENT);
    clean(&db);
    get_inode(&db, D)->nlink = 0;   /* a removed directory with entries */
    struct fsck_report r;
    CHECK(fsck_check(&db, &r) == 0);
    CHECK_EQ(count_kind(&r, "entry-without-parent", FIX_DEL_DENT), 3);
    fsck_report_free(&r);
    fsck_db_free(&db);
}

static void test_wrong_nlink(void)
{
    struct fsck_db db;
    clean(&db);
    get_inode(&db, F)->nlink = 3;
    expect(&db, 1, "wrong-nlink", FIX_SET_NLINK);
    clean(&db);
    get_inode(&db, D)->nlink = 5;
    expect(&db, 1, "wrong-nlink", FIX_SET_NLINK);
    clean(&db);
    get_inode(&db, BFS_ROOT_INO)->nlink = 2;
    expect(&db, 1, "wrong-nlink", FIX_SET_NLINK);
}

static void test_unnamed(void)
{
    struct fsck_db db;
    clean(&db);
    inode(&db, ino_of(1, 40), S_IFREG | 0644, 1, 0);
    inode(&db, ino_of(2, 41), S_IFDIR | 0755, 2, 0);
    struct fsck_report r;
    CHECK(fsck_check(&db, &r) == 0);
    CHECK_EQ(r.problems, 2);
    CHECK_EQ(count_kind(&r, "unnamed-inode", FIX_LOSTFOUND), 2);
    CHECK_EQ(r.lostfound, 0);
    fsck_report_free(&r);
    fsck_db_free(&db);
}

static void test_directory_hard_link(void)
{
    struct fsck_db db;
    clean(&db);
    dent(&db, BFS_ROOT_INO, "d2", D, S_IFDIR);
    get_inode(&db, BFS_ROOT_INO)->nlink = 4;
    expect(&db, 1, "directory-hard-link", FIX_NONE);
}

static void test_orphans(void)
{
    struct fsck_db db;
    clean(&db);
    db.n_orphans = 0;
    expect(&db, 1, "unlisted-orphan", FIX_ADD_ORPHAN);
    clean(&db);
    CHECK(fsck_add_orphan(&db, &(struct fsck_orphan){ bfs_ino_node(E), E }) == 0);
    expect(&db, 1, "orphan-with-links", FIX_DEL_ORPHAN);
    clean(&db);
    CHECK(fsck_add_orphan(&db, &(struct fsck_orphan){ 1, ino_of(1, 77) }) == 0);
    expect(&db, 1, "orphan-without-inode", FIX_DEL_ORPHAN);
}

static void test_cycle(void)
{
    struct fsck_db db;
    clean(&db);
    uint64_t a = ino_of(0, 20), b = ino_of(1, 21), c = ino_of(2, 22);
    inode(&db, a, S_IFDIR | 0755, 3, 0);
    inode(&db, b, S_IFDIR | 0755, 4, 0);
    inode(&db, c, S_IFDIR | 0755, 2, 0);
    dent(&db, a, "b", b, S_IFDIR);
    dent(&db, b, "a", a, S_IFDIR);
    dent(&db, b, "c", c, S_IFDIR);
    struct fsck_report r;
    CHECK(fsck_check(&db, &r) == 0);
    CHECK_EQ(count_kind(&r, "directory-cycle", FIX_NONE), 1);
    CHECK_EQ(count_kind(&r, "unreachable-directory", FIX_NONE), 1);   /* c */
    CHECK_EQ(r.problems, 2);
    if (r.problems != 2)
        dump(&r);
    fsck_report_free(&r);
    fsck_db_free(&db);
}

static void test_chunks(void)
{
    struct fsck_db db;
    clean(&db);
    chunk(&db, ino_of(1, 555), 3);
    expect(&db, 1, "orphan-chunk", FIX_DEL_CHUNK);
    clean(&db);
    chunk(&db, F, 3);
    expect(&db, 1, "chunk-past-eof", FIX_DEL_CHUNK);
    clean(&db);
    chunk(&db, D, 1);
    expect(&db, 1, "chunk-of-non-file", FIX_DEL_CHUNK);
    clean(&db);
    db.chunks[1].node = (db.chunks[1].node + 1) % NODES;    /* F idx 1 */
    expect(&db, 1, "misplaced-chunk", FIX_NONE);
    /* chunk 0 of an inline file: a note, repairable, not a problem */
    clean(&db);
    chunk(&db, E, 0);
    struct fsck_report r;
    CHECK(fsck_check(&db, &r) == 0);
    CHECK_EQ(r.problems, 0);
    CHECK_EQ(r.notes, 1);
    CHECK_EQ(count_kind(&r, "leftover-chunk", FIX_DEL_CHUNK), 1);
    fsck_report_free(&r);
    fsck_db_free(&db);
}

static void test_inline(void)
{
    struct fsck_db db;
    clean(&db);
    CHECK(fsck_add_inline(&db, &(struct fsck_inline){ 2, ino_of(2, 88), 0 }) == 0);
    expect(&db, 1, "inline-without-inode", FIX_DEL_INLINE);
    clean(&db);
    CHECK(fsck_add_inline(&db, &(struct fsck_inline){ bfs_ino_node(D), D, 0 }) == 0);
    expect(&db, 1, "inline-of-non-file", FIX_DEL_INLINE);
}

static void test_intent_tables(void)
{
    struct fsck_db db;
    /* held fence with its intent, a mark of it: offline the intent is pending */
    clean(&db);
    CHECK(fsck_add_intent(&db, &(struct fsck_intent){ 2, 9 }) == 0);
    CHECK(fsck_add_fence(&db, &(struct fsck_fence){ 1, D, 1, 2, 9 }) == 0);
    CHECK(fsck_add_applied(&db, &(struct fsck_applied){ 0, 2, 9, 1 }) == 0);
    expect(&db, 1, "pending-intent", FIX_NONE);
    clean(&db);
    db.online = 1;
    CHECK(fsck_add_intent(&db, &(struct fsck_intent){ 2, 9 }) == 0);
    struct fsck_report r;
    CHECK(fsck_check(&db, &r) == 0);
    CHECK_EQ(r.problems, 0);
    CHECK_EQ(r.notes, 1);
    fsck_report_free(&r);
    fsck_db_free(&db);
    clean(&db);
    CHECK(fsck_add_fence(&db, &(struct fsck_fence){ 1, D, 1, 2, 9 }) == 0);
    expect(&db, 1, "stale-fence", FIX_DEL_FENCE);
    clean(&db);
    CHECK(fsck_add_fence(&db, &(struct fsck_fence){ 1, D, 2, 0, 0 }) == 0);
    expect(&db, 1, "entries-under-removed-directory", FIX_NONE);
    clean(&db);
    CHECK(fsck_add_applied(&db, &(struct fsck_applied){ 0, 2, 9, 1 }) == 0);
    expect(&db, 1, "stale-applied-mark", FIX_DEL_APPLIED);
    clean(&db);
    db.parents[0].parent = ino_of(2, 5);
    expect(&db, 1, "wrong-parent-record", FIX_SET_PARENT);
}

static void test_root(void)
{
    struct fsck_db db;
    clean(&db);
    dent(&db, D, "up", BFS_ROOT_INO, S_IFDIR);
    expect(&db, 1, "entry-names-root", FIX_DEL_DENT);
}

/* Raw records decode per the store's layout (server/meta*.c); bad ones are corrupt-record problems. */
static void test_records(void)
{
    struct fsck_db db;
    fsck_db_init(&db, NODES, CS);
    uint8_t k[8 + 8 + 16], v[49] = { 1 };
    put_be64(k, BFS_ROOT_INO);
    put_le32(v + 1, S_IFDIR | 0755);
    put_le32(v + 5, 2);
    CHECK(fsck_db_add(&db, 0, FSCK_T_INODES, k, 8, v, sizeof v) == 0);
    CHECK_EQ(db.n_inodes, 1);
    CHECK_EQ(db.inodes[0].nlink, 2);
    CHECK(fsck_db_add(&db, 0, FSCK_T_INODES, k, 8, v, 10) == 0);   /* short */
    CHECK_EQ(db.n_bad, 1);
    size_t kl = meta_dentry_key(BFS_ROOT_INO, "abc", 3, k);
    uint8_t dv[12];
    put_le64(dv, ino_of(1, 3));
    put_le32(dv + 8, S_IFREG);
    CHECK(fsck_db_add(&db, 1, FSCK_T_DENTRIES, k, kl, dv, sizeof dv) == 0);
    CHECK_EQ(db.n_dents, 1);
    CHECK_EQ(db.dents[0].len, 3);
    k[9] ^= 1;  /* hash no longer matches the name */
    CHECK(fsck_db_add(&db, 1, FSCK_T_DENTRIES, k, kl, dv, sizeof dv) == 0);
    CHECK_EQ(db.n_bad, 2);
    CHECK(fsck_db_add(&db, NODES, FSCK_T_INODES, k, 8, v, sizeof v) == -EINVAL);
    fsck_db_free(&db);
}

int main(void)
{
    RUN(test_clean);
    RUN(test_misplaced_entry);
    RUN(test_dangling_entry);
    RUN(test_type_mismatch);
    RUN(test_entry_without_parent);
    RUN(test_wrong_nlink);
    RUN(test_unnamed);
    RUN(test_directory_hard_link);
    RUN(test_orphans);
    RUN(test_cycle);
    RUN(test_chunks);
    RUN(test_inline);
    RUN(test_intent_tables);
    RUN(test_root);
    RUN(test_records);
    return test_summary();
}
