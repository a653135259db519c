/* test_proto.c - the wire encoding: round trips of every op, and rejection of
 * truncated, oversized, foreign and malformed input. */
#include <errno.h>
#include <stdlib.h>

#include "../../common/proto.h"
#include "../test.h"

static struct bfs_msg sample(void)
{
    struct bfs_msg m = {
        .ino = 0x0001000000000042ULL, .parent = 7, .newparent = 9, .idx = 3, .off = 123456789,
        .size = 1ULL << 40, .cookie = 0x00ffffffffffff12ULL, .mode = 0100644, .uid = 1000,
        .gid = 100, .mask = 0x3f, .flags = 5, .len = 4096, .delta = -1, .client = 0x10002,
        .attr = { .ino = 77, .mode = 040755, .nlink = 3, .uid = 1, .gid = 2, .size = 99,
                  .atime_ns = -5, .mtime_ns = 1700000000123456789LL, .ctime_ns = 42,
                  .rdev = 0x0000010300000007ULL, .blocks = 0x123456789aULL },
        .rdev = 0xfedcba9876543210ULL,
        .st = { 4096, 1000, 500, 400, 10000, 9000, 255 },
        .name = "hello", .name_len = 5, .newname = "world!", .newname_len = 6,
        .target = "/a/b/c", .target_len = 6,
    };
    return m;
}

static void test_header_roundtrip(void)
{
    struct bfs_req_hdr h = { .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION,
                             .op = OP_WRITE, .id = 0x1122334455667788ULL, .args_len = 40,
                             .data_len = 4096, .client = 0x20003 }, d;
    for (int i = 0; i < BFS_KEY_LEN; i++)
        h.key[i] = (uint8_t)(i * 7);
    uint8_t buf[BFS_REQ_HDR_LEN];
    proto_req_hdr_encode(&h, buf);
    CHECK_EQ(proto_req_hdr_decode(buf, sizeof buf, &d), 0);
    CHECK(memcmp(&h, &d, sizeof h) == 0);
    CHECK_EQ(buf[0], 0x42);   /* little-endian on the wire: "BFS1" */

    struct bfs_rep_hdr r = { .magic = BFS_PROTO_MAGIC, .status = -ENOENT, .id = 9,
                             .args_len = 3, .data_len = 5 }, rd;
    uint8_t rb[BFS_REP_HDR_LEN];
    proto_rep_hdr_encode(&r, rb);
    CHECK_EQ(proto_rep_hdr_decode(rb, sizeof rb, &rd), 0);
    CHECK_EQ(rd.status, -ENOENT);
    CHECK_EQ(rd.id, 9);
}

static void test_header_rejects(void)
{
    struct bfs_req_hdr h = { .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION, .op = OP_GETATTR,
                             .id = 5 }, d;
    uint8_t buf[BFS_REQ_HDR_LEN];
    proto_req_hdr_encode(&h, buf);
    CHECK_EQ(proto_req_hdr_decode(buf, 10, &d), -EPROTO);               /* truncated */
    CHECK_EQ(proto_req_hdr_decode(buf, BFS_REQ_HDR_LEN - 1, &d), -EPROTO);
    CHECK_EQ(d.id, 5);                                                  /* id still known */
    buf[0] ^= 0xff;
    CHECK_EQ(proto_req_hdr_decode(buf, sizeof buf, &d), -EPROTO);        /* wrong magic */
    buf[0] ^= 0xff;
    h.version = 99;
    proto_req_hdr_encode(&h, buf);
    CHECK_EQ(proto_req_hdr_decode(buf, sizeof buf, &d), -EPROTONOSUPPORT);
    h.version = BFS_PROTO_VERSION;
    h.args_len = BFS_MAX_ARGS_LEN + 1;                                  /* oversized */
    proto_req_hdr_encode(&h, buf);
    CHECK_EQ(proto_req_hdr_decode(buf, sizeof buf, &d), -EBADMSG);
    h.args_len = 0;
    h.data_len = BFS_MAX_DATA_LEN + 1;
    proto_req_hdr_encode(&h, buf);
    CHECK_EQ(proto_req_hdr_decode(buf, sizeof buf, &d), -EBADMSG);

    struct bfs_rep_hdr r = { .magic = BFS_PROTO_MAGIC, .status = 5 }, rd;
    uint8_t rb[BFS_REP_HDR_LEN];
    proto_rep_hdr_encode(&r, rb);
    CHECK_EQ(proto_rep_hdr_decode(rb, sizeof rb, &rd), -EBADMSG);        /* status > 0 */
    CHECK_EQ(proto_rep_hdr_decode(rb, sizeof rb - 1, &rd), -EPROTO);
}

/* Every op, both directions: encode, decode, re-encode to the same bytes. */
static void test_args_roundtrip_all_ops(void)
{
    struct bfs_msg m = sample(), d;
    uint8_t buf[BFS_MAX_ARGS_LEN], again[BFS_MAX_ARGS_LEN];
    for (uint32_t op = 1; op < OP_MAX; op++) {
        for (int reply = 0; reply < 2; reply++) {
            size_t n = proto_args_size(op, reply, &m);
            REQUIRE(n <= sizeof buf);
            CHECK_EQ(proto_args_encode(op, reply, &m, buf), n);
            CHECK_EQ(proto_args_decode(op, reply, buf, n, &d), 0);
            CHECK_EQ(proto_args_encode(op, reply, &d, again), n);
            CHECK(memcmp(buf, again, n) == 0);
            /* every byte missing, or one too many, is refused */
            for (size_t cut = 0; cut < n; cut++)
                if (proto_args_decode(op, reply, buf, cut, &d) != -EBADMSG) {
                    fprintf(stderr, "  op %s reply %d: %zu of %zu bytes accepted\n",
                            proto_op_name(op), reply, cut, n);
                    CHECK(0);
                    break;
                }
            buf[n] = 0;
            CHECK_EQ(proto_args_decode(op, reply, buf, n + 1, &d), -EBADMSG);
        }
    }
    /* field values survive */
    size_t n = proto_args_encode(OP_RENAME, 0, &m, buf);
    CHECK_EQ(proto_args_decode(OP_RENAME, 0, buf, n, &d), 0);
    CHECK_EQ(d.parent, 7);
    CHECK_EQ(d.newparent, 9);
    CHECK(d.name_len == 5 && memcmp(d.name, "hello", 5) == 0);
    CHECK(d.newname_len == 6 && memcmp(d.newname, "world!", 6) == 0);
    n = proto_args_encode(OP_SETATTR, 0, &m, buf);
    CHECK_EQ(proto_args_decode(OP_SETATTR, 0, buf, n, &d), 0);
    CHECK_EQ(d.attr.mtime_ns, 1700000000123456789LL);
    CHECK_EQ(d.attr.atime_ns, -5);
    CHECK_EQ(d.attr.rdev, 0x0000010300000007ULL);
    CHECK_EQ(d.attr.blocks, 0x123456789aULL);
    CHECK_EQ(d.off, 123456789);   /* SIZE_GROW: where the write began */
    n = proto_args_encode(OP_CREATE, 0, &m, buf);
    CHECK_EQ(proto_args_decode(OP_CREATE, 0, buf, n, &d), 0);
    CHECK(d.rdev == 0xfedcba9876543210ULL);
    CHECK_EQ(d.mode, 0100644);
    n = proto_args_encode(OP_NLINK, 0, &m, buf);
    CHECK_EQ(proto_args_decode(OP_NLINK, 0, buf, n, &d), 0);
    CHECK_EQ(d.delta, -1);
}

static void test_args_rejects(void)
{
    struct bfs_msg m = sample(), d;
    uint8_t buf[BFS_MAX_ARGS_LEN + 16] = { 0 };
    CHECK_EQ(proto_args_decode(0, 0, buf, 0, &d), -ENOSYS);
    CHECK_EQ(proto_args_decode(OP_MAX, 0, buf, 0, &d), -ENOSYS);
    /* a name longer than NAME_MAX, as a hostile client might send */
    char longname[300];
    memset(longname, 'x', sizeof longname);
    m.name = longname;
    m.name_len = 256;
    size_t n = proto_args_encode(OP_LOOKUP, 0, &m, buf);
    CHECK_EQ(proto_args_decode(OP_LOOKUP, 0, buf, n, &d), -EBADMSG);
    m.name_len = 255;
    n = proto_args_encode(OP_LOOKUP, 0, &m, buf);
    CHECK_EQ(proto_args_decode(OP_LOOKUP, 0, buf, n, &d), 0);
    /* a string length pointing past the end */
    m.name_len = 5;
    n = proto_args_encode(OP_LOOKUP, 0, &m, buf);
    buf[8] = 200;
    buf[9] = 0;
    CHECK_EQ(proto_args_decode(OP_LOOKUP, 0, buf, n, &d), -EBADMSG);
}

static void test_dirents(void)
{
    struct bfs_dirent in[3] = {
        { .ino = 5, .cookie = 300, .type = 0100000, .name = "a" },
        { .ino = 6, .cookie = 301, .type = 040000, .name = "dir" },
        { .ino = 7, .cookie = 302, .type = 0120000 },
    };
    memset(in[2].name, 'z', BFS_NAME_MAX);
    in[2].name[BFS_NAME_MAX] = 0;
    uint8_t buf[1024];
    size_t len = 0;
    for (int i = 0; i < 3; i++)
        len += proto_dirent_encode(&in[i], buf + len);
    size_t pos = 0;
    struct bfs_dirent d;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(proto_dirent_decode(buf, len, &pos, &d), 1);
        CHECK_EQ(d.ino, in[i].ino);
        CHECK_EQ(d.cookie, in[i].cookie);
        CHECK(strcmp(d.name, in[i].name) == 0);
    }
    CHECK_EQ(proto_dirent_decode(buf, len, &pos, &d), 0);
    pos = 0;
    CHECK_EQ(proto_dirent_decode(buf, len - 1 - BFS_NAME_MAX - 22 + 5, &pos, &d), 1);
    CHECK_EQ(proto_dirent_decode(buf, 10, &(size_t){ 0 }, &d), -EBADMSG);   /* truncated */
    buf[20] = 0;
    buf[21] = 0;
    CHECK_EQ(proto_dirent_decode(buf, len, &(size_t){ 0 }, &d), -EBADMSG);  /* empty name */

    /* every type BenchFS stores goes through, and no other */
    static const uint32_t types[] = { 0100000, 040000, 0120000, 010000, 0140000, 020000, 060000 };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct bfs_dirent e = { .ino = 9, .cookie = 303, .type = types[i], .name = "s" };
        len = proto_dirent_encode(&e, buf);
        pos = 0;
        CHECK_EQ(proto_dirent_decode(buf, len, &pos, &d), 1);
        CHECK_EQ(d.type, types[i]);
    }
    static const uint32_t bad[] = { 0, 0170000, 0100644, 1 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct bfs_dirent e = { .ino = 9, .cookie = 303, .type = bad[i], .name = "s" };
        len = proto_dirent_encode(&e, buf);
        CHECK_EQ(proto_dirent_decode(buf, len, &(size_t){ 0 }, &d), -EBADMSG);
    }
}

int main(void)
{
    RUN(test_header_roundtrip);
    RUN(test_header_rejects);
    RUN(test_args_roundtrip_all_ops);
    RUN(test_args_rejects);
    RUN(test_dirents);
    return test_summary();
}
