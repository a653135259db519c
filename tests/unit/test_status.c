/* test_status.c - OP_STATUS's bulk: round trip and the decoder's length checks. */
#include <errno.h>
#include <string.h>

#include "../../common/byteorder.h"
#include "../../common/proto.h"
#include "../test.h"

static struct bfs_status sample(void)
{
    struct bfs_status st;
    memset(&st, 0, sizeof st);   /* padding too: the test compares whole structs */
    st.node_id = 2, st.nodes = 3, st.pid = 4242, st.chunk_size = 1 << 22;
    st.uptime_ms = 123456, st.inodes = 10001, st.chunk_files = 77, st.chunk_bytes = 5ull << 30;
    st.meta_bytes = 1 << 24, st.free_bytes = 9ull << 40, st.total_bytes = 10ull << 40;
    st.ncounters = OP_MAX;
    strcpy(st.host, "node-a.example");
    for (int i = 0; i < OP_MAX; i++)
        st.counters[i] = 1000u + (unsigned)i;
    return st;
}

static void test_roundtrip(void)
{
    struct bfs_status st = sample(), back;
    uint8_t buf[2048];
    REQUIRE(proto_status_size() <= sizeof buf);
    size_t n = proto_status_encode(&st, buf);
    CHECK_EQ(n, proto_status_size());
    CHECK_EQ(proto_status_decode(buf, n, &back), 0);
    CHECK(memcmp(&st, &back, sizeof st) == 0);
    CHECK(strcmp(proto_op_name(OP_STATUS), "STATUS") == 0);
}

static void test_bad_lengths(void)
{
    struct bfs_status st = sample(), back;
    uint8_t buf[2048];
    size_t n = proto_status_encode(&st, buf);
    CHECK_EQ(proto_status_decode(buf, n - 1, &back), -EBADMSG);
    CHECK_EQ(proto_status_decode(buf, n + 8, &back), -EBADMSG);
    CHECK_EQ(proto_status_decode(buf, 10, &back), -EBADMSG);
    /* A counter count that does not match the bytes, or absurdly large. */
    put_le32(buf + BFS_STATUS_FIXED_LEN - 4, OP_MAX + 1);
    CHECK_EQ(proto_status_decode(buf, n, &back), -EBADMSG);
    put_le32(buf + BFS_STATUS_FIXED_LEN - 4, 0xffffffffu);
    CHECK_EQ(proto_status_decode(buf, n, &back), -EBADMSG);
    /* A node id not below the cluster size. */
    n = proto_status_encode(&st, buf);
    put_le32(buf, 3);
    CHECK_EQ(proto_status_decode(buf, n, &back), -EBADMSG);
}

static void test_newer_and_older_peers(void)
{
    struct bfs_status st = sample(), back;
    uint8_t buf[4096];
    size_t n = proto_status_encode(&st, buf);
    /* A peer that knows more ops: the extra counters are dropped. */
    put_le32(buf + BFS_STATUS_FIXED_LEN - 4, OP_MAX + 4);
    memset(buf + n, 0x11, 32);
    CHECK_EQ(proto_status_decode(buf, n + 32, &back), 0);
    CHECK_EQ(back.ncounters, OP_MAX);
    CHECK_EQ(back.counters[OP_MAX - 1], st.counters[OP_MAX - 1]);
    /* One that knows fewer. */
    put_le32(buf + BFS_STATUS_FIXED_LEN - 4, 3);
    CHECK_EQ(proto_status_decode(buf, BFS_STATUS_FIXED_LEN + 24, &back), 0);
    CHECK_EQ(back.ncounters, 3);
    /* A host name without NUL is cut, never read past. */
    n = proto_status_encode(&st, buf);
    memset(buf + 72, 'h', BFS_STATUS_HOST_LEN);
    CHECK_EQ(proto_status_decode(buf, n, &back), 0);
    CHECK_EQ(strlen(back.host), BFS_STATUS_HOST_LEN - 1);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_bad_lengths);
    RUN(test_newer_and_older_peers);
    return test_summary();
}
