/* test_xattr.c - extended attributes on a BenchFS mount through the system calls
 * (exact errnos), and on the servers through the client library.
 *
 *   test_xattr MOUNTDIR REGISTRY
 *
 * Run as root (trusted.* needs CAP_SYS_ADMIN). Every test works in a fresh
 * directory MOUNTDIR/txattr.PID/NAME; one line "PASS: test_x" or "FAIL: test_x"
 * each (tests/test.h). With REGISTRY the test also scans the servers' xattrs
 * tables (OP_SCAN) to see that a removed file's attributes are gone there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/byteorder.h"
#include "../../common/xattr.h"
#include "../test.h"

static const char *mnt;
static struct bfs_client *cl;
static char dir[4096];

/* A fresh directory for one test; path p of name inside it. */
static void fresh(const char *name)
{
    snprintf(dir, sizeof dir, "%s/txattr.%d/%s", mnt, (int)getpid(), name);
    mkdir(dir, 0755);
}

/* Good until the fourth call after (so two may be passed to one call). */
static const char *at(const char *name)
{
    static char p[4][8192];
    static int next;
    char *r = p[next++ % 4];
    snprintf(r, sizeof p[0], "%s/%s", dir, name);
    return r;
}

static int mkfile(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    return close(fd);
}

/* errno of a call that must fail, 0 if it succeeded. */
#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

static void test_roundtrip(void)
{
    fresh("roundtrip");
    const char *f = at("f");
    REQUIRE(mkfile(f) == 0);
    char bin[256], got[BFS_XATTR_SIZE_MAX + 16];
    for (int i = 0; i < 256; i++)
        bin[i] = (char)i;   /* NULs and every byte */
    CHECK_EQ(setxattr(f, "user.bin", bin, sizeof bin, 0), 0);
    CHECK_EQ(getxattr(f, "user.bin", got, sizeof got), (long)sizeof bin);
    CHECK(memcmp(got, bin, sizeof bin) == 0);
    CHECK_EQ(setxattr(f, "user.empty", "", 0, 0), 0);
    CHECK_EQ(getxattr(f, "user.empty", got, sizeof got), 0);
    char *big = malloc(BFS_XATTR_SIZE_MAX);
    REQUIRE(big);
    for (int i = 0; i < BFS_XATTR_SIZE_MAX; i++)
        big[i] = (char)(i * 7 + 3);
    CHECK_EQ(setxattr(f, "user.big", big, BFS_XATTR_SIZE_MAX, 0), 0);
    CHECK_EQ(getxattr(f, "user.big", NULL, 0), BFS_XATTR_SIZE_MAX);
    CHECK_EQ(getxattr(f, "user.big", got, sizeof got), BFS_XATTR_SIZE_MAX);
    CHECK(memcmp(got, big, BFS_XATTR_SIZE_MAX) == 0);
    /* replace with a shorter value */
    CHECK_EQ(setxattr(f, "user.big", "x", 1, XATTR_REPLACE), 0);
    CHECK_EQ(getxattr(f, "user.big", got, sizeof got), 1);
    CHECK_EQ(setxattr(f, "security.label", "s0", 2, 0), 0);
    CHECK_EQ(setxattr(f, "trusted.t", "root", 4, 0), 0);
    CHECK_EQ(getxattr(f, "trusted.t", got, sizeof got), 4);
    /* a directory takes user.* too */
    CHECK_EQ(setxattr(dir, "user.d", "1", 1, 0), 0);
    CHECK_EQ(getxattr(dir, "user.d", got, sizeof got), 1);
    free(big);
}

static void test_errors(void)
{
    fresh("errors");
    const char *f = at("f");
    char got[64], name[300];
    REQUIRE(mkfile(f) == 0);
    CHECK_EQ(ERRNO_OF(getxattr(f, "user.none", got, sizeof got)), ENODATA);
    CHECK_EQ(ERRNO_OF(removexattr(f, "user.none")), ENODATA);
    CHECK_EQ(ERRNO_OF(setxattr(f, "user.r", "1", 1, XATTR_REPLACE)), ENODATA);
    CHECK_EQ(setxattr(f, "user.c", "1", 1, XATTR_CREATE), 0);
    CHECK_EQ(ERRNO_OF(setxattr(f, "user.c", "2", 1, XATTR_CREATE)), EEXIST);
    CHECK_EQ(getxattr(f, "user.c", got, sizeof got), 1);
    CHECK_EQ(got[0], '1');
    CHECK_EQ(setxattr(f, "user.c", "22", 2, XATTR_REPLACE), 0);
    CHECK_EQ(ERRNO_OF(getxattr(f, "user.c", got, 1)), ERANGE);   /* buffer too small */
    CHECK_EQ(getxattr(f, "user.c", NULL, 0), 2);
    CHECK_EQ(ERRNO_OF(setxattr(f, "foo.bar", "1", 1, 0)), EOPNOTSUPP);
    CHECK_EQ(ERRNO_OF(getxattr(f, "foo.bar", got, sizeof got)), EOPNOTSUPP);
    CHECK_EQ(ERRNO_OF(setxattr(f, "system.other", "1", 1, 0)), EOPNOTSUPP);
    /* names: 255 bytes are fine, 256 are ERANGE (as Linux) */
    memset(name, 'n', sizeof name);
    memcpy(name, "user.", 5);
    name[BFS_XATTR_NAME_MAX] = '\0';
    CHECK_EQ(setxattr(f, name, "v", 1, 0), 0);
    CHECK_EQ(getxattr(f, name, got, sizeof got), 1);
    name[BFS_XATTR_NAME_MAX] = 'n';
    name[BFS_XATTR_NAME_MAX + 1] = '\0';
    CHECK_EQ(ERRNO_OF(setxattr(f, name, "v", 1, 0)), ERANGE);
    /* values: 64 KiB + 1 is E2BIG */
    char *big = calloc(1, BFS_XATTR_SIZE_MAX + 1);
    REQUIRE(big);
    CHECK_EQ(ERRNO_OF(setxattr(f, "user.huge", big, BFS_XATTR_SIZE_MAX + 1, 0)), E2BIG);
    free(big);
    /* user.* only on regular files and directories */
    CHECK_EQ(symlink("f", at("l")), 0);
    CHECK_EQ(ERRNO_OF(lsetxattr(at("l"), "user.x", "1", 1, 0)), EPERM);
    CHECK_EQ(lsetxattr(at("l"), "trusted.x", "1", 1, 0), 0);
    CHECK_EQ(mkfifo(at("p"), 0644), 0);
    CHECK_EQ(ERRNO_OF(setxattr(at("p"), "user.x", "1", 1, 0)), EPERM);
    /* a default ACL only on a directory (the kernel says so first, as Linux) */
    static const unsigned char acl[4 + 3 * 8] = {
        2, 0, 0, 0,  0x01, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,  0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
        0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff };
    CHECK_EQ(ERRNO_OF(setxattr(f, "system.posix_acl_default", acl, sizeof acl, 0)), EACCES);
    CHECK_EQ(setxattr(dir, "system.posix_acl_default", acl, sizeof acl, 0), 0);
}

static void test_list(void)
{
    fresh("list");
    const char *f = at("f");
    char buf[4096];
    REQUIRE(mkfile(f) == 0);
    CHECK_EQ(listxattr(f, buf, sizeof buf), 0);
    CHECK_EQ(setxattr(f, "user.a", "1", 1, 0), 0);
    CHECK_EQ(setxattr(f, "user.bb", "2", 1, 0), 0);
    CHECK_EQ(setxattr(f, "trusted.c", "3", 1, 0), 0);
    ssize_t n = listxattr(f, NULL, 0);
    CHECK_EQ(n, 7 + 8 + 10);
    CHECK_EQ(ERRNO_OF(listxattr(f, buf, 5)), ERANGE);
    CHECK_EQ(listxattr(f, buf, sizeof buf), n);
    int a = 0, b = 0, c = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
        a += !strcmp(buf + i, "user.a");
        b += !strcmp(buf + i, "user.bb");
        c += !strcmp(buf + i, "trusted.c");
    }
    CHECK(a == 1 && b == 1 && c == 1);
    CHECK_EQ(removexattr(f, "user.a"), 0);
    CHECK_EQ(listxattr(f, NULL, 0), 8 + 10);
}

static long long ctime_of(const char *p)
{
    struct stat st;
    if (stat(p, &st) < 0)
        return -1;
    return (long long)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

static void test_ctime(void)
{
    fresh("ctime");
    const char *f = at("f");
    REQUIRE(mkfile(f) == 0);
    long long c0 = ctime_of(f);   /* nanoseconds: each change gets a later time */
    CHECK_EQ(setxattr(f, "user.a", "1", 1, 0), 0);
    long long c1 = ctime_of(f);
    CHECK(c1 > c0);
    CHECK_EQ(removexattr(f, "user.a"), 0);
    CHECK(ctime_of(f) > c1);
}

static void test_hard_links(void)
{
    fresh("links");
    char got[16];
    REQUIRE(mkfile(at("f")) == 0);
    CHECK_EQ(setxattr(at("f"), "user.shared", "yes", 3, 0), 0);
    for (int i = 0; i < 6; i++) {   /* names on several servers of a cluster */
        char n[16];
        snprintf(n, sizeof n, "link%d", i);
        CHECK_EQ(link(at("f"), at(n)), 0);
        CHECK_EQ(getxattr(at(n), "user.shared", got, sizeof got), 3);
    }
    CHECK_EQ(setxattr(at("link3"), "user.later", "1", 1, 0), 0);
    CHECK_EQ(getxattr(at("f"), "user.later", got, sizeof got), 1);
}

/* Whether any server's xattrs table holds a record of ino (OP_SCAN): 1, 0, -errno. */
static int server_has_xattrs(uint64_t ino)
{
    static uint8_t page[1 << 20];
    int found = 0;
    for (uint32_t node = 0; node < bfs_client_nodes(cl) && !found; node++) {
        char cursor[512];
        uint32_t clen = 0;
        for (;;) {
            struct rpc_call call;
            bfs_call_prep(&call, node, OP_SCAN);
            call.args.idx = BFS_SCAN_XATTRS;
            call.args.len = sizeof page;
            call.args.target = cursor;
            call.args.target_len = clen;
            call.rbuf = page;
            call.rbuf_len = sizeof page;
            int rc = bfs_call_run(cl, &call, 1);
            if (rc == 0)
                rc = call.status;
            if (rc < 0)
                return rc;
            size_t pos = 0, last = 0;
            for (uint32_t i = 0; i < call.reply.len; i++) {
                size_t kl = get_le16(page + pos), vl = get_le32(page + pos + 2);
                if (kl >= 8 && get_be64(page + pos + 6) == ino)
                    found = 1;
                last = pos;
                pos += 6 + kl + vl;
            }
            if ((call.reply.flags & 1) || call.reply.len == 0)
                break;
            clen = get_le16(page + last);
            memcpy(cursor, page + last + 6, clen);
        }
    }
    return found;
}

static void test_gone_with_inode(void)
{
    if (!cl)
        return;
    fresh("gone");
    struct stat st;
    REQUIRE(mkfile(at("f")) == 0);
    CHECK_EQ(setxattr(at("f"), "user.a", "1", 1, 0), 0);
    CHECK_EQ(setxattr(at("f"), "trusted.b", "2", 1, 0), 0);
    CHECK_EQ(link(at("f"), at("g")), 0);
    REQUIRE(stat(at("f"), &st) == 0);
    CHECK_EQ(server_has_xattrs(st.st_ino), 1);
    CHECK_EQ(unlink(at("f")), 0);
    CHECK_EQ(server_has_xattrs(st.st_ino), 1);   /* still named by g */
    CHECK_EQ(unlink(at("g")), 0);
    CHECK_EQ(server_has_xattrs(st.st_ino), 0);
    /* a directory's too (its default ACL included) */
    CHECK_EQ(mkdir(at("d"), 0755), 0);
    REQUIRE(stat(at("d"), &st) == 0);
    CHECK_EQ(setxattr(at("d"), "user.a", "1", 1, 0), 0);
    CHECK_EQ(server_has_xattrs(st.st_ino), 1);
    CHECK_EQ(rmdir(at("d")), 0);
    CHECK_EQ(server_has_xattrs(st.st_ino), 0);
    /* open while unlinked: kept until the last close */
    int fd = open(at("o"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(fstat(fd, &st) == 0);
    CHECK_EQ(fsetxattr(fd, "user.o", "1", 1, 0), 0);
    CHECK_EQ(unlink(at("o")), 0);
    CHECK_EQ(fgetxattr(fd, "user.o", NULL, 0), 1);
    CHECK_EQ(close(fd), 0);
    /* The kernel sends the RELEASE that purges it after close returns: wait (5 s at most). */
    int left = 1;
    for (int i = 0; i < 500 && (left = server_has_xattrs(st.st_ino)) == 1; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(left, 0);
}

/* The library's own checks (what the kernel would refuse before us). */
static void test_library(void)
{
    if (!cl)
        return;
    fresh("library");
    struct stat st;
    char name[300];
    REQUIRE(mkfile(at("f")) == 0);
    REQUIRE(stat(at("f"), &st) == 0);
    memset(name, 'x', sizeof name);
    memcpy(name, "user.", 5);
    name[256] = '\0';
    CHECK_EQ(bfs_setxattr(cl, st.st_ino, name, "v", 1, 0, NULL), -ERANGE);
    CHECK_EQ(bfs_setxattr(cl, st.st_ino, "user.", "v", 1, 0, NULL), -EINVAL);
    CHECK_EQ(bfs_setxattr(cl, st.st_ino, "user.a", "v", 1, BFS_XATTR_CREATE | BFS_XATTR_REPLACE,
                          NULL), -EINVAL);
    CHECK_EQ(bfs_setxattr(cl, st.st_ino, "system.posix_acl_access", "bad", 3, 0, NULL), -EINVAL);
    CHECK_EQ(bfs_getxattr(cl, st.st_ino, "user.a", NULL, 0), -ENODATA);
    CHECK_EQ(bfs_getxattr(cl, st.st_ino + 1000000, "user.a", NULL, 0), -ENOENT);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MOUNTDIR REGISTRY\n", argv[0]);
        return 2;
    }
    mnt = argv[1];
    struct bfs_client_opts o = { .registry_dir = argv[2], .registry_timeout_s = 10,
                                 .rpc_timeout_s = 10 };
    int rc = bfs_client_open(&o, &cl);
    if (rc < 0) {
        fprintf(stderr, "cannot connect to the servers of %s: %s\n", argv[2], strerror(-rc));
        return 1;
    }
    char top[4096];
    snprintf(top, sizeof top, "%s/txattr.%d", mnt, (int)getpid());
    if (mkdir(top, 0755) < 0) {
        perror(top);
        return 1;
    }
    RUN(test_roundtrip);
    RUN(test_errors);
    RUN(test_list);
    RUN(test_ctime);
    RUN(test_hard_links);
    RUN(test_gone_with_inode);
    RUN(test_library);
    bfs_client_close(cl);
    return test_summary();
}
