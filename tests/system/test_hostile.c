/* test_hostile.c - requests no honest client sends, straight through the RPC
 * layer (below the client library's own checks): each must get an error reply,
 * and the server must go on serving.   test_hostile REGISTRY */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../common/byteorder.h"
#include "../../common/registry.h"
#include "../../common/rpc.h"
#include "../test.h"

static struct rpc_client *rc;
static uint8_t key[BFS_KEY_LEN];
static const char *registry;

/* (Re)connects to node 0 as the registry names it. */
static int connect_server(void)
{
    struct registry_entry *e;
    uint32_t n;
    int rc_ = registry_wait(registry, 10, &e, &n);
    if (rc_ < 0)
        return rc_;
    rc_ = rpc_client_connect(rc, 0, e[0].addr, e[0].addr_len);
    registry_entries_free(e, n);
    return rc_;
}

/* Sends one request and returns the server's status. */
static int call(uint32_t op, const struct bfs_msg *args, const void *data, size_t len)
{
    static struct rpc_call c;   /* large: keep it off the stack */
    static uint8_t rbuf[1 << 20];
    memset(&c, 0, sizeof c);
    c.node = 0;
    c.op = op;
    c.args = *args;
    c.data = data;
    c.data_len = len;
    c.rbuf = rbuf;
    c.rbuf_len = sizeof rbuf;
    int rc_ = rpc_run(rc, &c, 1);
    return rc_ < 0 ? rc_ : c.status;
}

static int getattr_of(uint64_t ino, struct bfs_attr *a)
{
    static struct rpc_call c;
    memset(&c, 0, sizeof c);
    c.op = OP_GETATTR;
    c.args.ino = ino;
    int rc_ = rpc_run(rc, &c, 1);
    if (rc_ == 0 && c.status == 0)
        *a = c.reply.attr;
    return rc_ < 0 ? rc_ : c.status;
}

static struct bfs_msg named(uint64_t parent, const char *name, uint32_t len)
{
    return (struct bfs_msg){ .parent = parent, .name = name, .name_len = len, .mode = 0100644 };
}

static void test_bad_names(void)
{
    struct bfs_msg m;
    const char *bad[] = { "a/b", ".", "..", "/" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = named(BFS_ROOT_INO, bad[i], (uint32_t)strlen(bad[i]));
        CHECK_EQ(call(OP_CREATE, &m, NULL, 0), -EINVAL);
        CHECK_EQ(call(OP_LOOKUP, &m, NULL, 0), -EINVAL);
    }
    m = named(BFS_ROOT_INO, "", 0);
    CHECK_EQ(call(OP_CREATE, &m, NULL, 0), -EINVAL);
    m = named(BFS_ROOT_INO, "nul\0byte", 8);
    CHECK_EQ(call(OP_CREATE, &m, NULL, 0), -EINVAL);
    m = named(BFS_ROOT_INO, "x", 1);
    m.mode = 0170644;   /* S_IFMT all set: no file type */
    CHECK_EQ(call(OP_CREATE, &m, NULL, 0), -EINVAL);
    m.mode = 0644;      /* no type at all */
    CHECK_EQ(call(OP_CREATE, &m, NULL, 0), -EINVAL);
}

static void test_bad_io(void)
{
    struct bfs_msg m = named(BFS_ROOT_INO, "hostile-io", 10);
    uint8_t b[16] = { 0 };
    REQUIRE(call(OP_CREATE, &m, NULL, 0) == 0 || call(OP_CREATE, &m, NULL, 0) == -EEXIST);
    struct bfs_msg look = named(BFS_ROOT_INO, "hostile-io", 10);
    static struct rpc_call c;
    memset(&c, 0, sizeof c);
    c.op = OP_LOOKUP;
    c.args = look;
    REQUIRE(rpc_run(rc, &c, 1) == 0 && c.status == 0);
    uint64_t ino = c.reply.ino;
    struct bfs_msg io = { .ino = ino, .idx = 0, .off = UINT64_MAX - 3, .len = 16 };
    CHECK_EQ(call(OP_READ, &io, NULL, 0), -EINVAL);             /* offset overflow */
    CHECK_EQ(call(OP_WRITE, &io, b, sizeof b), -EINVAL);
    io.off = (4u << 20) - 4;                                     /* past the chunk */
    CHECK_EQ(call(OP_WRITE, &io, b, sizeof b), -EINVAL);
    io.off = 0;
    io.len = BFS_MAX_IO + 1;                                     /* too long */
    CHECK_EQ(call(OP_READ, &io, NULL, 0), -EINVAL);
    io.ino = 0x00000000deadbeefULL;                              /* no such inode */
    io.len = 16;
    CHECK_EQ(call(OP_WRITE, &io, b, sizeof b), -ENOENT);
    io.ino = BFS_ROOT_INO;                                       /* a directory */
    CHECK_EQ(call(OP_WRITE, &io, b, sizeof b), -EISDIR);

    /* offsets and sizes past INT64_MAX (a negative off_t) are refused */
    io.ino = ino;
    io.idx = UINT64_MAX / 2;                                     /* chunk past off_t */
    io.off = 0;
    CHECK_EQ(call(OP_READ, &io, NULL, 0), -EINVAL);
    CHECK_EQ(call(OP_WRITE, &io, b, sizeof b), -EFBIG);
    struct bfs_msg sa = { .ino = ino, .mask = BFS_SET_SIZE, .attr.size = (uint64_t)INT64_MAX + 1 };
    CHECK_EQ(call(OP_SETATTR, &sa, NULL, 0), -EINVAL);
    sa.attr.size = UINT64_MAX;
    CHECK_EQ(call(OP_SETATTR, &sa, NULL, 0), -EINVAL);
    sa.mask = BFS_SET_SIZE_GROW;
    CHECK_EQ(call(OP_SETATTR, &sa, NULL, 0), -EFBIG);
    sa.attr.size = 10;
    sa.off = 20;                                                 /* a write ending before it began */
    CHECK_EQ(call(OP_SETATTR, &sa, NULL, 0), -EINVAL);
    struct bfs_msg tr = { .ino = ino, .size = 0, .off = UINT64_MAX };
    CHECK_EQ(call(OP_TRUNCATE, &tr, NULL, 0), -EINVAL);
    tr.size = UINT64_MAX;
    CHECK_EQ(call(OP_REMOVE, &tr, NULL, 0), -EINVAL);
    struct bfs_attr a = { .size = 1 };
    CHECK(getattr_of(ino, &a) == 0 && a.size == 0);   /* nothing changed */

    /* a FIFO has no data: its I/O never reaches the chunk store */
    struct bfs_msg f = named(BFS_ROOT_INO, "hostile-fifo", 12);
    f.mode = S_IFIFO | 0644;
    int r = call(OP_CREATE, &f, NULL, 0);
    REQUIRE(r == 0 || r == -EEXIST);
    memset(&c, 0, sizeof c);
    c.op = OP_LOOKUP;
    c.args = named(BFS_ROOT_INO, "hostile-fifo", 12);
    REQUIRE(rpc_run(rc, &c, 1) == 0 && c.status == 0);
    struct bfs_msg fio = { .ino = c.reply.ino, .len = 16 };
    CHECK_EQ(call(OP_READ, &fio, NULL, 0), -EINVAL);
    CHECK_EQ(call(OP_WRITE, &fio, b, sizeof b), -EINVAL);
    struct bfs_msg fsz = { .ino = fio.ino, .mask = BFS_SET_SIZE, .attr.size = 5 };
    CHECK_EQ(call(OP_SETATTR, &fsz, NULL, 0), -EINVAL);
    fsz.mask = BFS_SET_SIZE_GROW;
    CHECK_EQ(call(OP_SETATTR, &fsz, NULL, 0), -EINVAL);
}

static void test_bad_ops(void)
{
    struct bfs_msg m = { .ino = BFS_ROOT_INO };
    CHECK_EQ(call(OP_MAX + 7, &m, NULL, 0), -ENOSYS);            /* unknown opcode */
    CHECK_EQ(call(0, &m, NULL, 0), -ENOSYS);
    uint8_t b[8] = { 0 };
    CHECK_EQ(call(OP_GETATTR, &m, b, sizeof b), -EBADMSG);       /* bulk where none belongs */
    m.len = 0;
    CHECK_EQ(call(OP_READDIR, &m, NULL, 0), -EINVAL);            /* page of 0 entries */
    m.delta = 5;
    CHECK_EQ(call(OP_NLINK, &m, NULL, 0), -EINVAL);
    m.ino = 0xffff000000000001ULL;                               /* another node's inode */
    CHECK(call(OP_GETATTR, &m, NULL, 0) < 0);
    m.ino = BFS_ROOT_INO;
    m.mask = BFS_SET_SIZE;
    CHECK_EQ(call(OP_SETATTR, &m, NULL, 0), -EISDIR);
}

/* Sends raw header bytes (id and client id filled in by rpc) and returns the
 * server's status, or -ETIMEDOUT when it answers nothing within timeout_s. */
static int call_raw(uint32_t op, uint8_t *hdr, size_t len, double timeout_s)
{
    static struct rpc_call c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.raw = hdr;
    c.raw_len = len;
    int rc_ = rpc_run_timeout(rc, &c, 1, timeout_s);
    return rc_ < 0 ? rc_ : c.status;
}

static size_t good_header(uint32_t op, uint8_t *out)
{
    struct bfs_msg m = { .ino = BFS_ROOT_INO };
    struct bfs_req_hdr h = { .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION, .op = (uint16_t)op,
                             .args_len = (uint32_t)proto_args_size(op, 0, &m) };
    memcpy(h.key, key, BFS_KEY_LEN);
    proto_req_hdr_encode(&h, out);
    proto_args_encode(op, 0, &m, out + BFS_REQ_HDR_LEN);
    return BFS_REQ_HDR_LEN + h.args_len;
}

/* Headers broken below the protocol's encoder, end to end over UCX. */
static void test_bad_headers(void)
{
    static uint8_t h[BFS_REQ_HDR_LEN + BFS_MAX_ARGS_LEN + 64];
    size_t len = good_header(OP_GETATTR, h);
    CHECK_EQ(call_raw(OP_GETATTR, h, len, 5), 0);                /* the baseline is fine */

    /* A HELLO of another program or version is refused on its reply endpoint. */
    len = good_header(OP_HELLO, h);
    put_le32(h, 0x12345678);
    CHECK_EQ(call_raw(OP_HELLO, h, len, 5), -EPROTO);            /* wrong magic */
    len = good_header(OP_HELLO, h);
    put_le16(h + 4, BFS_PROTO_VERSION + 1);
    CHECK_EQ(call_raw(OP_HELLO, h, len, 5), -EPROTONOSUPPORT);   /* wrong version */

    /* A known client's broken requests get error replies. */
    len = good_header(OP_GETATTR, h);
    put_le32(h + 20, (uint32_t)(len - BFS_REQ_HDR_LEN + 1));     /* args_len says more */
    CHECK_EQ(call_raw(OP_GETATTR, h, len, 5), -EBADMSG);
    len = good_header(OP_GETATTR, h);
    put_le32(h + 24, 100);                                       /* data_len without data */
    CHECK_EQ(call_raw(OP_GETATTR, h, len, 5), -EBADMSG);
    len = good_header(OP_GETATTR, h);
    put_le32(h + 20, BFS_MAX_ARGS_LEN + 1);                      /* args_len over the limit */
    CHECK_EQ(call_raw(OP_GETATTR, h, len, 5), -EBADMSG);
    len = good_header(OP_GETATTR, h);
    CHECK_EQ(call_raw(OP_GETATTR, h, len - 1, 5), -EBADMSG);     /* args cut short */
    len = good_header(OP_GETATTR, h);
    memset(h + len, 0, sizeof h - len);
    put_le32(h + 20, BFS_MAX_ARGS_LEN + 8);                      /* oversized header */
    int st = call_raw(OP_GETATTR, h, BFS_REQ_HDR_LEN + BFS_MAX_ARGS_LEN + 8, 5);
    CHECK(st == -EBADMSG || st == -EINVAL || st == -EMSGSIZE);  /* the server, or UCX's own limit */

    /* Not able to name its client: nobody can be answered, so the server drops
     * it. The client gives the silent server up after the timeout: reconnect. */
    len = good_header(OP_GETATTR, h);
    CHECK_EQ(call_raw(OP_GETATTR, h, 20, 0.5), -ETIMEDOUT);      /* truncated */
    REQUIRE(connect_server() == 0);
    CHECK_EQ(call_raw(OP_GETATTR, h, 8, 0.5), -ETIMEDOUT);       /* shorter than any header */
    REQUIRE(connect_server() == 0);
    put_le32(h, 0x12345678);                                     /* wrong magic, not a HELLO */
    CHECK_EQ(call_raw(OP_GETATTR, h, len, 0.5), -ETIMEDOUT);
    REQUIRE(connect_server() == 0);
}

static void test_still_serving(void)
{
    struct bfs_msg m = { .ino = BFS_ROOT_INO };
    CHECK_EQ(call(OP_GETATTR, &m, NULL, 0), 0);
}

int main(int argc, char **argv)
{
    struct registry_entry *e;
    uint32_t n;
    registry = argc == 2 ? argv[1] : NULL;
    if (!registry || registry_wait(registry, 10, &e, &n) < 0) {
        fprintf(stderr, "usage: %s REGISTRY (with a server running)\n", argv[0]);
        return 1;
    }
    registry_entries_free(e, n);
    if (registry_key_load(registry, key) < 0 || rpc_client_create(n, key, 10, &rc) < 0 ||
        connect_server() < 0) {
        fprintf(stderr, "%s: cannot connect to the server of %s\n", argv[0], registry);
        return 1;
    }
    RUN(test_bad_names);
    RUN(test_bad_io);
    RUN(test_bad_ops);
    RUN(test_bad_headers);
    RUN(test_still_serving);
    rpc_client_destroy(rc);
    return test_summary();
}
