/* test_hostile.c - requests no honest client sends, straight through the RPC
 * layer (below the client library's own checks): each must get an error reply,
 * and the server must go on serving.   test_hostile REGISTRY */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/registry.h"
#include "../../common/rpc.h"
#include "../test.h"

static struct rpc_client *rc;

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
    m.mode = 0020644;   /* a character device: not a type BenchFS stores */
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

static void test_still_serving(void)
{
    struct bfs_msg m = { .ino = BFS_ROOT_INO };
    CHECK_EQ(call(OP_GETATTR, &m, NULL, 0), 0);
}

int main(int argc, char **argv)
{
    struct registry_entry *e;
    uint32_t n;
    uint8_t key[BFS_KEY_LEN];
    if (argc != 2 || registry_wait(argv[1], 10, &e, &n) < 0 || registry_key_load(argv[1], key) < 0 ||
        rpc_client_create(n, key, 10, &rc) < 0 || rpc_client_connect(rc, 0, e[0].addr, e[0].addr_len) < 0) {
        fprintf(stderr, "usage: %s REGISTRY (with a server running)\n", argv[0]);
        return 1;
    }
    registry_entries_free(e, n);
    RUN(test_bad_names);
    RUN(test_bad_io);
    RUN(test_bad_ops);
    RUN(test_still_serving);
    rpc_client_destroy(rc);
    return test_summary();
}
