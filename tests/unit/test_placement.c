/* test_placement.c - where entries, inodes and chunks live. */
#include "../../common/hash.h"
#include "../../common/placement.h"
#include "../test.h"

static void test_single_node(void)
{
    CHECK_EQ(place_dentry(1, "a", 1, 1), 0);
    CHECK_EQ(place_inode(5, 1), 0);
    CHECK_EQ(place_chunk(5, 17, 1), 0);
}

static void test_inode_owner_and_chunk0(void)
{
    uint64_t ino = ((uint64_t)3 << BFS_INO_NODE_SHIFT) | 99;
    CHECK_EQ(place_inode(ino, 4), 3);
    CHECK_EQ(place_chunk(ino, 0, 4), 3);              /* chunk 0 stays with the inode */
    CHECK_EQ(place_inode(ino, 3), UINT32_MAX);        /* names a node outside the cluster */
    CHECK_EQ(place_inode(BFS_ROOT_INO, 4), 0);
}

static void test_spread_and_determinism(void)
{
    enum { NODES = 4, N = 40000 };
    unsigned dent[NODES] = { 0 }, chunk[NODES] = { 0 };
    char name[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "file%d", i);
        uint32_t d = place_dentry(1, name, (size_t)len, NODES);
        REQUIRE(d < NODES);
        CHECK_EQ(d, place_dentry(1, name, (size_t)len, NODES));   /* same answer every time */
        dent[d]++;
        uint32_t c = place_chunk(12345, (uint64_t)i + 1, NODES);
        REQUIRE(c < NODES);
        chunk[c]++;
    }
    for (int k = 0; k < NODES; k++) {
        /* within 5% of an even share */
        CHECK(dent[k] > N / NODES * 95 / 100 && dent[k] < N / NODES * 105 / 100);
        CHECK(chunk[k] > N / NODES * 95 / 100 && chunk[k] < N / NODES * 105 / 100);
    }
    /* the same name in another directory may go elsewhere: the parent is part of the key */
    int differs = 0;
    for (uint64_t p = 1; p < 50; p++)
        differs |= place_dentry(p, "x", 1, NODES) != place_dentry(1, "x", 1, NODES);
    CHECK(differs);
}

/* FNV-1a is part of the stored and wire format: the published test vectors. */
static void test_fnv1a_vectors(void)
{
    CHECK(bfs_fnv1a("", 0, 0) == 0xcbf29ce484222325ULL);
    CHECK(bfs_fnv1a("a", 1, 0) == 0xaf63dc4c8601ec8cULL);
    CHECK(bfs_fnv1a("foobar", 6, 0) == 0x85944171f73967e8ULL);
    CHECK(bfs_fnv1a("a", 1, 7) != bfs_fnv1a("a", 1, 0));
}

int main(void)
{
    RUN(test_fnv1a_vectors);
    RUN(test_single_node);
    RUN(test_inode_owner_and_chunk0);
    RUN(test_spread_and_determinism);
    return test_summary();
}
