/* test_rpc.c - every RPC of the client library against a real server.
 *
 *   test_rpc REGISTRY              run all tests (server chunk size must be 64 KiB)
 *   test_rpc REGISTRY durable-write   write and fsync files, print nothing else
 *   test_rpc REGISTRY durable-check   verify them (after kill -9 and restart)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/proto.h"
#include "../test.h"
#include "../testutil.h"

static struct bfs_client *c;
static uint64_t dir;           /* a fresh directory per test */
static int dir_seq;

static uint64_t mkdir_fresh(void)
{
    char name[64];
    struct bfs_attr a;
    snprintf(name, sizeof name, "t%d.%d", (int)getpid(), dir_seq++);
    if (bfs_create(c, BFS_ROOT_INO, name, S_IFDIR | 0755, 0, 0, &a) < 0)
        return 0;
    return a.ino;
}

static uint64_t mkfile(uint64_t parent, const char *name)
{
    struct bfs_attr a;
    return bfs_create(c, parent, name, S_IFREG | 0644, 0, 0, &a) == 0 ? a.ino : 0;
}

static void test_create_lookup_getattr(void)
{
    struct bfs_attr a, b;
    REQUIRE(bfs_create(c, dir, "f", S_IFREG | 0640, 12, 34, &a) == 0);
    CHECK(S_ISREG(a.mode) && (a.mode & 07777) == 0640);
    CHECK_EQ(a.uid, 12);
    CHECK_EQ(a.gid, 34);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(a.size, 0);
    CHECK(a.mtime_ns > 0 && a.ctime_ns > 0);
    CHECK_EQ(bfs_lookup(c, dir, "f", &b), 0);
    CHECK_EQ(b.ino, a.ino);
    CHECK_EQ(bfs_getattr(c, a.ino, &b), 0);
    CHECK_EQ(b.mode, a.mode);
    CHECK_EQ(bfs_create(c, dir, "f", S_IFREG | 0644, 0, 0, &b), -EEXIST);
    CHECK_EQ(bfs_lookup(c, dir, "nope", &b), -ENOENT);
    CHECK_EQ(bfs_getattr(c, a.ino + 100000, &b), -ENOENT);
    CHECK_EQ(bfs_create(c, a.ino, "x", S_IFREG | 0644, 0, 0, &b), -ENOTDIR);
    CHECK_EQ(bfs_create(c, dir, "a/b", S_IFREG | 0644, 0, 0, &b), -EINVAL);
    CHECK_EQ(bfs_create(c, dir, "..", S_IFREG | 0644, 0, 0, &b), -EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_EQ(bfs_create(c, dir, longname, S_IFREG | 0644, 0, 0, &b), -ENAMETOOLONG);
    longname[255] = 0;
    CHECK_EQ(bfs_create(c, dir, longname, S_IFREG | 0644, 0, 0, &b), 0);
}

static void test_mkdir_rmdir(void)
{
    struct bfs_attr d, p, a;
    REQUIRE(bfs_create(c, dir, "d", S_IFDIR | 0755, 0, 0, &d) == 0);
    CHECK(S_ISDIR(d.mode));
    CHECK_EQ(d.nlink, 2);
    CHECK_EQ(bfs_getattr(c, dir, &p), 0);
    CHECK_EQ(p.nlink, 3);
    REQUIRE(mkfile(d.ino, "child"));
    CHECK_EQ(bfs_rmdir(c, dir, "d"), -ENOTEMPTY);
    CHECK_EQ(bfs_unlink(c, dir, "d", 0, NULL), -EISDIR);
    CHECK_EQ(bfs_rmdir(c, d.ino, "child"), -ENOTDIR);
    CHECK_EQ(bfs_unlink(c, d.ino, "child", 0, NULL), 0);
    CHECK_EQ(bfs_rmdir(c, dir, "d"), 0);
    CHECK_EQ(bfs_lookup(c, dir, "d", &a), -ENOENT);
    CHECK_EQ(bfs_getattr(c, dir, &p), 0);
    CHECK_EQ(p.nlink, 2);
    CHECK_EQ(bfs_rmdir(c, dir, "d"), -ENOENT);
}

static void test_symlink_readlink(void)
{
    struct bfs_attr a;
    char buf[64];
    REQUIRE(bfs_symlink(c, dir, "l", "target/path", 0, 0, &a, NULL) == 0);
    CHECK(S_ISLNK(a.mode));
    CHECK_EQ(a.size, 11);
    CHECK_EQ(bfs_readlink(c, a.ino, buf, sizeof buf), 11);
    CHECK(memcmp(buf, "target/path", 11) == 0);
    uint64_t f = mkfile(dir, "notlink");
    CHECK_EQ(bfs_readlink(c, f, buf, sizeof buf), -EINVAL);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ(bfs_symlink(c, dir, "big", big, 0, 0, &a, NULL), -ENAMETOOLONG);
    big[4095] = 0;
    CHECK_EQ(bfs_symlink(c, dir, "big", big, 0, 0, &a, NULL), 0);
    char back[4096];
    CHECK_EQ(bfs_readlink(c, a.ino, back, sizeof back), 4095);
    CHECK(memcmp(back, big, 4095) == 0);
}

static void test_link_unlink(void)
{
    struct bfs_attr a;
    uint8_t data[100], back[100];
    uint64_t f = mkfile(dir, "orig");
    REQUIRE(f);
    tu_fill(data, sizeof data, 1);
    CHECK_EQ(bfs_write(c, f, data, sizeof data, 0), 100);
    CHECK_EQ(bfs_link(c, f, dir, "alias", &a, NULL), 0);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(bfs_link(c, f, dir, "alias", &a, NULL), -EEXIST);
    CHECK_EQ(bfs_link(c, dir, dir, "dirlink", &a, NULL), -EPERM);
    CHECK_EQ(bfs_unlink(c, dir, "orig", 0, NULL), 0);
    CHECK_EQ(bfs_lookup(c, dir, "alias", &a), 0);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(bfs_read(c, f, back, sizeof back, 0), 100);
    CHECK(memcmp(data, back, 100) == 0);
    CHECK_EQ(bfs_unlink(c, dir, "alias", 0, NULL), 0);
    CHECK_EQ(bfs_getattr(c, f, &a), -ENOENT);
    CHECK_EQ(bfs_unlink(c, dir, "alias", 0, NULL), -ENOENT);
}

static void test_unlink_keep_purge(void)
{
    struct bfs_attr a;
    uint8_t data[10] = "0123456789", back[10];
    uint64_t f = mkfile(dir, "open");
    REQUIRE(f);
    CHECK_EQ(bfs_write(c, f, data, 10, 0), 10);
    CHECK_EQ(bfs_unlink(c, dir, "open", BFS_UNLINK_KEEP, NULL), 0);
    CHECK_EQ(bfs_lookup(c, dir, "open", &a), -ENOENT);
    CHECK_EQ(bfs_getattr(c, f, &a), 0);       /* still there for its open handles */
    CHECK_EQ(a.nlink, 0);
    CHECK_EQ(bfs_read(c, f, back, 10, 0), 10);
    CHECK(memcmp(back, data, 10) == 0);
    CHECK_EQ(bfs_write(c, f, data, 10, 10), 10);
    CHECK_EQ(bfs_purge(c, f), 0);
    CHECK_EQ(bfs_getattr(c, f, &a), -ENOENT);
}

static void test_rename(void)
{
    struct bfs_attr a, b;
    uint64_t f = mkfile(dir, "a");
    uint64_t g = mkfile(dir, "b");
    REQUIRE(f && g);
    CHECK_EQ(bfs_rename(c, dir, "a", dir, "c", 0, 0), 0);
    CHECK_EQ(bfs_lookup(c, dir, "a", &a), -ENOENT);
    CHECK_EQ(bfs_lookup(c, dir, "c", &a), 0);
    CHECK_EQ(a.ino, f);
    CHECK_EQ(bfs_rename(c, dir, "c", dir, "b", BFS_RENAME_NOREPLACE, 0), -EEXIST);
    CHECK_EQ(bfs_rename(c, dir, "c", dir, "b", 0, 0), 0);   /* replaces b */
    CHECK_EQ(bfs_lookup(c, dir, "b", &a), 0);
    CHECK_EQ(a.ino, f);
    CHECK_EQ(bfs_getattr(c, g, &b), -ENOENT);               /* b's old inode is gone */
    CHECK_EQ(bfs_rename(c, dir, "nope", dir, "x", 0, 0), -ENOENT);
    /* directories: into another directory, over an empty one, not over a non-empty one */
    struct bfs_attr d1, d2, d3;
    REQUIRE(bfs_create(c, dir, "d1", S_IFDIR | 0755, 0, 0, &d1) == 0);
    REQUIRE(bfs_create(c, dir, "d2", S_IFDIR | 0755, 0, 0, &d2) == 0);
    REQUIRE(bfs_create(c, dir, "d3", S_IFDIR | 0755, 0, 0, &d3) == 0);
    REQUIRE(mkfile(d3.ino, "x"));
    CHECK_EQ(bfs_rename(c, dir, "d1", dir, "d3", 0, 0), -ENOTEMPTY);
    CHECK_EQ(bfs_rename(c, dir, "d1", dir, "b", 0, 0), -ENOTDIR);
    CHECK_EQ(bfs_rename(c, dir, "b", dir, "d2", 0, 0), -EISDIR);
    CHECK_EQ(bfs_rename(c, dir, "d1", dir, "d2", 0, 0), 0);
    CHECK_EQ(bfs_rename(c, dir, "d2", d3.ino, "moved", 0, 0), 0);
    CHECK_EQ(bfs_lookup(c, d3.ino, "moved", &a), 0);
    CHECK_EQ(a.ino, d1.ino);
    CHECK_EQ(bfs_getattr(c, d3.ino, &a), 0);
    CHECK_EQ(a.nlink, 3);
}

static void test_setattr(void)
{
    struct bfs_attr in = { 0 }, out;
    uint64_t f = mkfile(dir, "s");
    REQUIRE(f);
    in.mode = 0600;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_MODE, &in, &out), 0);
    CHECK_EQ(out.mode, S_IFREG | 0600);
    in.uid = 1000;
    in.gid = 2000;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_UID | BFS_SET_GID, &in, &out), 0);
    CHECK_EQ(out.uid, 1000);
    CHECK_EQ(out.gid, 2000);
    in.atime_ns = 1000000000LL * 1234567;
    in.mtime_ns = 1000000000LL * 7654321 + 5;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_ATIME | BFS_SET_MTIME, &in, &out), 0);
    CHECK_EQ(out.atime_ns, in.atime_ns);
    CHECK_EQ(out.mtime_ns, in.mtime_ns);
    /* truncate up reads zeros; truncate down then up again must not resurrect bytes */
    uint8_t data[1000], back[3000];
    tu_fill(data, sizeof data, 7);
    CHECK_EQ(bfs_write(c, f, data, sizeof data, 0), 1000);
    in.size = 3000;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(out.size, 3000);
    CHECK_EQ(bfs_read(c, f, back, sizeof back, 0), 3000);
    CHECK(memcmp(back, data, 1000) == 0);
    int zeros = 1;
    for (int i = 1000; i < 3000; i++)
        zeros &= back[i] == 0;
    CHECK(zeros);
    in.size = 10;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    in.size = 1000;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(bfs_read(c, f, back, 1000, 0), 1000);
    CHECK(memcmp(back, data, 10) == 0);
    zeros = 1;
    for (int i = 10; i < 1000; i++)
        zeros &= back[i] == 0;
    CHECK(zeros);
    in.size = 5;
    CHECK_EQ(bfs_setattr(c, dir, BFS_SET_SIZE, &in, &out), -EISDIR);
}

/* Odd offsets and lengths across 64 KiB chunk boundaries, byte for byte. */
static void test_data_across_chunks(void)
{
    const size_t total = 5 * 65536 + 777;
    uint8_t *model = calloc(1, total), *back = malloc(total + 100);
    uint64_t f = mkfile(dir, "data");
    REQUIRE(f && model && back);
    struct { size_t off, len; } w[] = {
        { 65530, 20 }, { 1, 65535 }, { 131071, 2 }, { 200000, 70000 }, { 3, 1 },
        { 65536 * 4 - 7, 65536 + 784 }, { 100, 200000 },
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        uint8_t *buf = malloc(w[i].len);
        tu_fill(buf, w[i].len, i * 31 + 5);
        CHECK_EQ(bfs_write(c, f, buf, w[i].len, w[i].off), (long long)w[i].len);
        memcpy(model + w[i].off, buf, w[i].len);
        free(buf);
    }
    struct bfs_attr a;
    CHECK_EQ(bfs_getattr(c, f, &a), 0);
    CHECK_EQ(a.size, total);
    CHECK_EQ(bfs_read(c, f, back, total + 100, 0), (long long)total);   /* short at EOF */
    CHECK(memcmp(back, model, total) == 0);
    CHECK_EQ(bfs_read(c, f, back, 1000, 65536 - 3), 1000);
    CHECK(memcmp(back, model + 65536 - 3, 1000) == 0);
    CHECK_EQ(bfs_read(c, f, back, 10, total), 0);
    CHECK_EQ(bfs_read(c, f, back, 10, total + 5000000), 0);
    free(model);
    free(back);
}

static void test_sparse(void)
{
    uint8_t b = 0xab, back[200000];
    uint64_t f = mkfile(dir, "sparse");
    REQUIRE(f);
    CHECK_EQ(bfs_write(c, f, &b, 1, 199999), 1);
    CHECK_EQ(bfs_read(c, f, back, sizeof back, 0), 200000);
    int zeros = 1;
    for (int i = 0; i < 199999; i++)
        zeros &= back[i] == 0;
    CHECK(zeros);
    CHECK_EQ(back[199999], 0xab);
}

/* A byte at 1 PiB: the file's size names 2^34 chunks of 64 KiB, of which two
 * exist. Shrinking and removing it must not try every one (that took hours and
 * stalled the server); the call returns well within the RPC timeout. */
static void test_huge_sparse_remove(void)
{
    uint8_t b = 0xcd, back = 0;
    const uint64_t far = 1ull << 50;
    uint64_t f = mkfile(dir, "huge");
    REQUIRE(f);
    CHECK_EQ(bfs_write(c, f, &b, 1, 0), 1);
    CHECK_EQ(bfs_write(c, f, &b, 1, far), 1);
    CHECK_EQ(bfs_read(c, f, &back, 1, far), 1);
    CHECK_EQ(back, 0xcd);
    struct bfs_attr in = { .size = 10 }, out;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(bfs_write(c, f, &b, 1, far), 1);
    CHECK_EQ(bfs_unlink(c, dir, "huge", 0, NULL), 0);
    /* offsets past what off_t can hold are refused, not wrapped */
    uint64_t g = mkfile(dir, "too-far");
    REQUIRE(g);
    CHECK_EQ(bfs_write(c, g, &b, 1, (uint64_t)INT64_MAX - 1), -EFBIG);
}

static void test_write_errors(void)
{
    uint8_t b[16] = { 0 };
    CHECK_EQ(bfs_write(c, dir, b, sizeof b, 0), -EISDIR);
    CHECK_EQ(bfs_read(c, dir, b, sizeof b, 0), -EISDIR);
    CHECK_EQ(bfs_write(c, dir + 999999, b, sizeof b, 0), -ENOENT);
    CHECK(bfs_fsync(c, dir, 0) == 0);
}

static int count_entry(void *arg, const struct bfs_dirent *d)
{
    unsigned char *seen = arg;
    int k;
    if (sscanf(d->name, "e%d", &k) == 1 && k >= 0 && k < 1500)
        seen[k]++;
    return 0;
}

struct page { uint64_t last; int n, limit; unsigned char *seen; };
static int page_entry(void *arg, const struct bfs_dirent *d)
{
    struct page *p = arg;
    count_entry(p->seen, d);
    p->last = d->cookie;
    CHECK(d->cookie > 2);
    return ++p->n >= p->limit;
}

static void test_readdir(void)
{
    char name[32];
    static unsigned char seen[1500];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof name, "e%d", i);
        if (!mkfile(dir, name)) {
            CHECK(!"create");
            return;
        }
    }
    memset(seen, 0, sizeof seen);
    CHECK_EQ(bfs_readdir(c, dir, 0, count_entry, seen), 0);
    int once = 1;
    for (int i = 0; i < 1500; i++)
        once &= seen[i] == 1;
    CHECK(once);
    /* in pages of 7, resuming from the cookie each time */
    memset(seen, 0, sizeof seen);
    struct page p = { .seen = seen, .limit = 7 };
    for (int guard = 0; guard < 1000; guard++) {
        p.n = 0;
        CHECK_EQ(bfs_readdir(c, dir, p.last, page_entry, &p), 0);
        if (p.n < p.limit)
            break;
    }
    once = 1;
    for (int i = 0; i < 1500; i++)
        once &= seen[i] == 1;
    CHECK(once);
    uint64_t empty = mkdir_fresh();
    memset(seen, 0, sizeof seen);
    p = (struct page){ .seen = seen, .limit = 1 };
    CHECK_EQ(bfs_readdir(c, empty, 0, page_entry, &p), 0);
    CHECK_EQ(p.n, 0);
}

struct find { const char *name; uint32_t type; uint64_t ino; int n; };
static int find_entry(void *arg, const struct bfs_dirent *d)
{
    struct find *f = arg;
    if (strcmp(d->name, f->name) == 0) {
        f->type = d->type;
        f->ino = d->ino;
        f->n++;
    }
    return 0;
}

/* The type and inode readdir lists name under; 0 if it is not listed once. */
static uint32_t listed_type(uint64_t parent, const char *name, uint64_t *ino)
{
    struct find f = { .name = name };
    if (bfs_readdir(c, parent, 0, find_entry, &f) != 0 || f.n != 1)
        return 0;
    *ino = f.ino;
    return f.type;
}

/* FIFOs, sockets and devices: made with bfs_mknod, they keep type, mode and
 * rdev through getattr, lookup, readdir, link, rename and unlink; they have no
 * data to read, write or cut. */
static void test_special_files(void)
{
    const struct { const char *name; uint32_t mode; uint64_t rdev, want; } sp[] = {
        { "fifo", S_IFIFO | 0640, 77, 0 },            /* rdev means nothing for a FIFO */
        { "sock", S_IFSOCK | 0755, 0, 0 },
        { "null", S_IFCHR | 0666, makedev(1, 3), makedev(1, 3) },
        { "disk", S_IFBLK | 0660, makedev(8, 1), makedev(8, 1) },
        { "big", S_IFCHR | 0600, makedev(0x12345, 0x6789a), makedev(0x12345, 0x6789a) },
        { "reg", S_IFREG | 0600, 5, 0 },
    };
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        struct bfs_attr a, b;
        uint64_t ino = 0;
        char name2[32], name3[32];
        if (bfs_mknod(c, dir, sp[i].name, sp[i].mode, sp[i].rdev, 12, 34, &a) != 0) {
            fprintf(stderr, "  mknod %s failed\n", sp[i].name);
            CHECK(0);
            continue;
        }
        CHECK_EQ(a.mode, sp[i].mode);
        CHECK(a.rdev == sp[i].want);
        CHECK_EQ(a.nlink, 1);
        CHECK_EQ(a.uid, 12);
        CHECK_EQ(a.size, 0);
        CHECK_EQ(a.blocks, 0);
        CHECK_EQ(bfs_getattr(c, a.ino, &b), 0);
        CHECK_EQ(b.mode, sp[i].mode);
        CHECK(b.rdev == sp[i].want);
        CHECK_EQ(bfs_lookup(c, dir, sp[i].name, &b), 0);
        CHECK(b.ino == a.ino && b.mode == sp[i].mode && b.rdev == sp[i].want);
        CHECK_EQ(listed_type(dir, sp[i].name, &ino), sp[i].mode & S_IFMT);
        CHECK(ino == a.ino);
        CHECK_EQ(bfs_mknod(c, dir, sp[i].name, sp[i].mode, 0, 0, 0, &b), -EEXIST);
        /* a hard link, a rename, and both names removed */
        snprintf(name2, sizeof name2, "%s.link", sp[i].name);
        snprintf(name3, sizeof name3, "%s.moved", sp[i].name);
        CHECK_EQ(bfs_link(c, a.ino, dir, name2, &b, NULL), 0);
        CHECK_EQ(b.nlink, 2);
        CHECK(b.rdev == sp[i].want);
        CHECK_EQ(bfs_rename(c, dir, sp[i].name, dir, name3, 0, 0), 0);
        CHECK_EQ(bfs_lookup(c, dir, sp[i].name, &b), -ENOENT);
        CHECK_EQ(bfs_lookup(c, dir, name3, &b), 0);
        CHECK(b.ino == a.ino && b.mode == sp[i].mode && b.rdev == sp[i].want && b.nlink == 2);
        CHECK_EQ(listed_type(dir, name3, &ino), sp[i].mode & S_IFMT);
        CHECK_EQ(listed_type(dir, name2, &ino), sp[i].mode & S_IFMT);
        /* chmod keeps the type and rdev */
        struct bfs_attr in = { .mode = 0601 };
        CHECK_EQ(bfs_setattr(c, a.ino, BFS_SET_MODE, &in, &b), 0);
        CHECK(b.mode == ((sp[i].mode & S_IFMT) | 0601) && b.rdev == sp[i].want);
        CHECK_EQ(bfs_unlink(c, dir, name3, 0, NULL), 0);
        CHECK_EQ(bfs_getattr(c, a.ino, &b), 0);
        CHECK_EQ(b.nlink, 1);
        CHECK_EQ(bfs_unlink(c, dir, name2, 0, NULL), 0);
        CHECK_EQ(bfs_getattr(c, a.ino, &b), -ENOENT);
    }

    /* no data: READ, WRITE and a size change are -EINVAL, as for a symlink */
    struct bfs_attr f, out, in = { .size = 10 };
    uint8_t buf[16] = { 0 };
    REQUIRE(bfs_mknod(c, dir, "p", S_IFIFO | 0644, 0, 0, 0, &f) == 0);
    CHECK_EQ(bfs_read(c, f.ino, buf, sizeof buf, 0), -EINVAL);
    CHECK_EQ(bfs_write(c, f.ino, buf, sizeof buf, 0), -EINVAL);
    CHECK_EQ(bfs_setattr(c, f.ino, BFS_SET_SIZE, &in, &out), -EINVAL);
    CHECK_EQ(bfs_getattr(c, f.ino, &out), 0);
    CHECK_EQ(out.size, 0);

    /* bfs_mknod makes no directories or symlinks; bfs_create no special files */
    CHECK_EQ(bfs_mknod(c, dir, "d", S_IFDIR | 0755, 0, 0, 0, &out), -EINVAL);
    CHECK_EQ(bfs_mknod(c, dir, "l", S_IFLNK | 0777, 0, 0, 0, &out), -EINVAL);
    CHECK_EQ(bfs_mknod(c, dir, "x", 0644, 0, 0, 0, &out), -EINVAL);
    CHECK_EQ(bfs_create(c, dir, "q", S_IFIFO | 0644, 0, 0, &out), -EINVAL);
    /* a special file in a directory keeps rmdir from removing it */
    uint64_t sub = mkdir_fresh();
    REQUIRE(sub);
    CHECK_EQ(bfs_mknod(c, sub, "s", S_IFSOCK | 0644, 0, 0, 0, &out), 0);
    CHECK_EQ(bfs_rename(c, sub, "s", dir, "s2", 0, 0), 0);
    CHECK_EQ(bfs_lookup(c, dir, "s2", &out), 0);
    CHECK(S_ISSOCK(out.mode));
}

/* Sizes are off_t: one above INT64_MAX is refused, and nothing changes. */
static void test_sizes_checked(void)
{
    struct bfs_attr in = { 0 }, out;
    uint64_t f = mkfile(dir, "f");
    REQUIRE(f);
    CHECK_EQ(bfs_write(c, f, "abc", 3, 0), 3);
    in.size = (uint64_t)INT64_MAX + 1;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), -EINVAL);
    in.size = UINT64_MAX;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), -EINVAL);
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE_GROW, &in, &out), -EFBIG);
    CHECK_EQ(bfs_getattr(c, f, &out), 0);
    CHECK_EQ(out.size, 3);
    uint8_t b = 1;
    CHECK_EQ(bfs_write(c, f, &b, 1, (uint64_t)INT64_MAX), -EFBIG);
    CHECK_EQ(bfs_read(c, f, &b, 1, (uint64_t)INT64_MAX + 1), -EINVAL);
    CHECK_EQ(bfs_getattr(c, f, &out), 0);
    CHECK_EQ(out.size, 3);
}

static uint64_t blocks_of(uint64_t ino)
{
    struct bfs_attr a;
    return bfs_getattr(c, ino, &a) == 0 ? a.blocks : UINT64_MAX;
}

/* st_blocks counts the bytes writes stored: exact for a file written from 0
 * without holes, few for a sparse one, never more than was written. */
static void test_blocks(void)
{
    static uint8_t buf[1 << 20];
    struct bfs_attr in = { 0 }, out;
    tu_fill(buf, sizeof buf, 3);

    uint64_t seq = mkfile(dir, "seq");   /* 4 KiB appends, inline then chunks */
    REQUIRE(seq);
    for (uint64_t off = 0; off < 200000; off += 4000)
        CHECK_EQ(bfs_write(c, seq, buf, 4000, off), 4000);
    CHECK_EQ(blocks_of(seq), (200000 + 511) / 512);

    uint64_t big = mkfile(dir, "big");   /* one call, 16 pieces in flight */
    REQUIRE(big);
    CHECK_EQ(bfs_write(c, big, buf, sizeof buf, 0), (long long)sizeof buf);
    CHECK_EQ(blocks_of(big), 2048);
    CHECK_EQ(bfs_write(c, big, buf, 1000, 5000), 1000);   /* overwrites count once */
    CHECK_EQ(blocks_of(big), 2048);
    in.size = 100000;                                      /* cut: the tail goes */
    CHECK_EQ(bfs_setattr(c, big, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(out.blocks, (100000 + 511) / 512);
    in.size = 10 << 20;                                    /* grown: a hole */
    CHECK_EQ(bfs_setattr(c, big, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(out.blocks, (100000 + 511) / 512);

    uint64_t sp = mkfile(dir, "sparse");   /* 1 byte at 1 GiB */
    REQUIRE(sp);
    CHECK_EQ(bfs_write(c, sp, "x", 1, 1ull << 30), 1);
    CHECK_EQ(bfs_getattr(c, sp, &out), 0);
    CHECK_EQ(out.size, (1ull << 30) + 1);
    CHECK_EQ(out.blocks, 1);

    uint64_t hole = mkfile(dir, "hole");   /* truncated up, never written */
    REQUIRE(hole);
    in.size = 1ull << 40;
    CHECK_EQ(bfs_setattr(c, hole, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(out.blocks, 0);

    uint64_t inl = mkfile(dir, "inline");   /* inline bytes, a gap before them */
    REQUIRE(inl);
    CHECK_EQ(bfs_write(c, inl, buf, 100, 0), 100);
    CHECK_EQ(blocks_of(inl), 1);
    CHECK_EQ(bfs_write(c, inl, buf, 1024, 8192), 1024);
    CHECK_EQ(blocks_of(inl), 3);   /* 1124 bytes */

    /* more runs than the record keeps: the smallest are forgotten, so it says less */
    uint64_t many = mkfile(dir, "many");
    REQUIRE(many);
    for (int i = 0; i < 12; i++)
        CHECK_EQ(bfs_write(c, many, buf, 512 * (size_t)(i + 1), (uint64_t)i << 20),
                 512 * (i + 1));
    uint64_t bl = blocks_of(many);
    CHECK(bl >= 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 && bl <= 78);
    CHECK_EQ(bfs_write(c, many, buf, sizeof buf, 0), (long long)sizeof buf);   /* [0, 1M] */
    CHECK(blocks_of(many) >= 2048 && blocks_of(many) <= 2048 + 78);

    uint64_t lnk = 0;
    CHECK_EQ(bfs_symlink(c, dir, "l", "target", 0, 0, &out, NULL), 0);
    lnk = out.ino;
    CHECK_EQ(blocks_of(lnk), 0);
    CHECK_EQ(blocks_of(dir), 0);
}

static void test_statfs_fsync(void)
{
    struct statvfs st;
    CHECK_EQ(bfs_statfs(c, &st), 0);
    CHECK(st.f_blocks > 0 && st.f_bsize > 0);
    CHECK_EQ(st.f_namemax, 255);
    uint64_t f = mkfile(dir, "sync");
    CHECK_EQ(bfs_write(c, f, "x", 1, 0), 1);
    CHECK_EQ(bfs_fsync(c, f, 0), 0);
    CHECK_EQ(bfs_fsync(c, f, 1), 0);
}

/* The requests of every server, summed (a cluster spreads them). */
static int all_counters(uint64_t *sum)
{
    uint64_t one[OP_MAX];
    memset(sum, 0, OP_MAX * sizeof *sum);
    for (uint32_t node = 0; node < bfs_client_nodes(c); node++) {
        if (bfs_server_counters(c, node, one, OP_MAX) != OP_MAX)
            return -1;
        for (int i = 0; i < OP_MAX; i++)
            sum[i] += one[i];
    }
    return 0;
}

static void test_counters(void)
{
    uint64_t before[OP_MAX], after[OP_MAX];
    struct bfs_attr a;
    REQUIRE(all_counters(before) == 0);
    uint64_t f = mkfile(dir, "counted");
    CHECK_EQ(bfs_write(c, f, "abc", 3, 0), 3);
    CHECK_EQ(bfs_getattr(c, f, &a), 0);
    REQUIRE(all_counters(after) == 0);
    CHECK_EQ(after[OP_CREATE] - before[OP_CREATE], 1);
    CHECK_EQ(after[OP_WRITE] - before[OP_WRITE], 1);
    CHECK_EQ(after[OP_GETATTR] - before[OP_GETATTR], 1);
}

/* ---- inline data: chunk 0 of a small file lives in the server's LMDB (the first
 * 16 KiB of the 64 KiB chunk), and moves to a chunk file when a write reaches
 * past that ---- */

#define INLINE_MAX 16384

/* Writes [off, off+len) with seed's pattern into f and the model. */
static void put(uint64_t f, uint8_t *model, size_t off, size_t len, uint64_t seed)
{
    uint8_t *buf = malloc(len);
    REQUIRE(buf);
    tu_fill(buf, len, seed);
    CHECK_EQ(bfs_write(c, f, buf, len, off), (long long)len);
    memcpy(model + off, buf, len);
    free(buf);
}

/* f holds model[0, size) byte for byte, and nothing past it. */
static void check_model(uint64_t f, const uint8_t *model, size_t size)
{
    struct bfs_attr a;
    uint8_t *back = malloc(size + 100);
    REQUIRE(back);
    CHECK_EQ(bfs_getattr(c, f, &a), 0);
    CHECK_EQ(a.size, size);
    CHECK_EQ(bfs_read(c, f, back, size + 100, 0), (long long)size);
    CHECK(memcmp(back, model, size) == 0);
    free(back);
}

static void test_inline_grow(void)
{
    const size_t total = 3 * 65536;
    uint8_t *model = calloc(1, total);
    uint64_t f = mkfile(dir, "grow"), g = mkfile(dir, "cross"), h = mkfile(dir, "big");
    REQUIRE(model && f && g && h);
    /* inline: odd offsets, a gap, a piece in chunk 1 besides */
    put(f, model, 0, 1000, 1);
    put(f, model, 7, 13, 2);
    put(f, model, 5000, 3001, 3);
    put(f, model, 70000, 100, 4);
    check_model(f, model, 70100);
    put(f, model, 16000, INLINE_MAX - 16000, 5);   /* up to the limit: still inline */
    check_model(f, model, 70100);
    /* past it: the inline bytes move to chunk file 0 first */
    put(f, model, 16380, 5000, 6);
    check_model(f, model, 70100);
    put(f, model, 1, 3, 7);                        /* chunk mode from now on */
    put(f, model, 65000, 1000, 8);
    check_model(f, model, 70100);
    uint8_t back[100];
    CHECK_EQ(bfs_read(c, f, back, 100, 4990), 100);
    CHECK(memcmp(back, model + 4990, 100) == 0);

    /* one write across the limit and the chunk boundary: two pieces at once */
    memset(model, 0, total);
    put(g, model, 100, 200, 9);
    put(g, model, 10000, 120000, 10);
    check_model(g, model, 130000);

    /* a first write past the limit: nothing to move, chunk mode at once */
    memset(model, 0, total);
    put(h, model, 20000, 10, 11);
    put(h, model, 0, 10, 12);
    check_model(h, model, 20010);
    free(model);
}

static void test_inline_truncate(void)
{
    uint8_t model[40000] = { 0 };
    struct bfs_attr in = { 0 }, out;
    uint64_t f = mkfile(dir, "t");
    REQUIRE(f);
    put(f, model, 0, 5000, 21);
    in.size = 100;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    CHECK_EQ(out.size, 100);
    memset(model + 100, 0, sizeof model - 100);
    check_model(f, model, 100);
    in.size = 3000;                                   /* the cut bytes stay cut */
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    check_model(f, model, 3000);
    put(f, model, 2000, 10, 22);
    check_model(f, model, 3000);
    put(f, model, 10000, 20000, 23);                  /* migrates */
    check_model(f, model, 30000);
    in.size = 50;                                     /* truncate in chunk mode */
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    memset(model + 50, 0, sizeof model - 50);
    in.size = 40000;
    CHECK_EQ(bfs_setattr(c, f, BFS_SET_SIZE, &in, &out), 0);
    check_model(f, model, 40000);
    put(f, model, 60, 10, 24);
    check_model(f, model, 40000);
}

static void test_inline_link_unlink(void)
{
    uint8_t data[3000], back[3000];
    struct bfs_attr a;
    uint64_t f = mkfile(dir, "orig");
    REQUIRE(f);
    tu_fill(data, sizeof data, 31);
    CHECK_EQ(bfs_write(c, f, data, sizeof data, 0), 3000);
    CHECK_EQ(bfs_link(c, f, dir, "alias", &a, NULL), 0);
    CHECK_EQ(bfs_unlink(c, dir, "orig", 0, NULL), 0);
    CHECK_EQ(bfs_lookup(c, dir, "alias", &a), 0);
    CHECK_EQ(a.size, 3000);
    CHECK_EQ(bfs_read(c, f, back, sizeof back, 0), 3000);
    CHECK(memcmp(back, data, sizeof data) == 0);
    CHECK_EQ(bfs_unlink(c, dir, "alias", 0, NULL), 0);
    CHECK_EQ(bfs_getattr(c, f, &a), -ENOENT);
    CHECK_EQ(bfs_read(c, f, back, sizeof back, 0), -ENOENT);
    /* the name again: a new, empty file, and none of the old bytes come back */
    uint64_t g = mkfile(dir, "orig");
    REQUIRE(g);
    CHECK(g != f);
    CHECK_EQ(bfs_read(c, g, back, sizeof back, 0), 0);
    CHECK_EQ(bfs_write(c, g, "x", 1, 2999), 1);
    CHECK_EQ(bfs_read(c, g, back, sizeof back, 0), 3000);
    int zeros = 1;
    for (int i = 0; i < 2999; i++)
        zeros &= back[i] == 0;
    CHECK(zeros);
    /* a replaced inline file goes with its data too */
    uint64_t h = mkfile(dir, "other");
    REQUIRE(h);
    CHECK_EQ(bfs_write(c, h, data, 100, 0), 100);
    CHECK_EQ(bfs_rename(c, dir, "orig", dir, "other", 0, 0), 0);
    CHECK_EQ(bfs_getattr(c, h, &a), -ENOENT);
    /* many small files created, written and unlinked */
    for (int i = 0; i < 300; i++) {
        uint64_t t = mkfile(dir, "churn");
        if (!t || bfs_write(c, t, data, 2000, 0) != 2000 || bfs_unlink(c, dir, "churn", 0, NULL) != 0) {
            CHECK(!"churn");
            break;
        }
    }
}

/* Writes and reads racing with a migration: the writer past the limit and small
 * writers into the inline range touch disjoint bytes, so whatever the order every
 * byte must end up written, and bytes written before the race must read back
 * throughout it. */
struct racer { uint64_t f; int id, errors; const uint8_t *base; };

static void *race_main(void *arg)
{
    struct racer *w = arg;
    uint8_t buf[20000];
    if (w->id == 0) {
        tu_fill(buf, sizeof buf, 100);
        w->errors += bfs_write(c, w->f, buf, sizeof buf, 16000) != (ssize_t)sizeof buf;
    } else if (w->id <= 4) {
        for (int i = 0; i < 10; i++) {
            size_t off = 1000 + (size_t)(w->id - 1) * 3000 + (size_t)i * 300;
            tu_fill(buf, 300, (uint64_t)(w->id * 100 + i));
            w->errors += bfs_write(c, w->f, buf, 300, off) != 300;
        }
    } else {
        for (int i = 0; i < 20; i++)
            w->errors += bfs_read(c, w->f, buf, 1000, 0) != 1000 || memcmp(buf, w->base, 1000) != 0;
    }
    return NULL;
}

static void test_inline_migration_race(void)
{
    uint8_t model[36000], back[36100];
    for (int round = 0; round < 20; round++) {
        char name[32];
        snprintf(name, sizeof name, "race%d", round);
        uint64_t f = mkfile(dir, name);
        REQUIRE(f);
        memset(model, 0, sizeof model);
        put(f, model, 0, 1000, 99);
        pthread_t t[6];
        struct racer w[6];
        for (int i = 0; i < 6; i++) {
            w[i] = (struct racer){ .f = f, .id = i, .base = model };
            pthread_create(&t[i], NULL, race_main, &w[i]);
        }
        for (int i = 0; i < 6; i++) {
            pthread_join(t[i], NULL);
            CHECK_EQ(w[i].errors, 0);
        }
        tu_fill(model + 16000, 20000, 100);
        for (int id = 1; id <= 4; id++)
            for (int i = 0; i < 10; i++)
                tu_fill(model + 1000 + (id - 1) * 3000 + i * 300, 300, (uint64_t)(id * 100 + i));
        CHECK_EQ(bfs_read(c, f, back, sizeof back, 0), 36000);
        CHECK(memcmp(back, model, sizeof model) == 0);
    }
}

struct worker { int id, errors; };
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[32];
    uint8_t buf[4096], back[4096];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "w%d-%d", w->id, i);
        uint64_t f = mkfile(dir, name);
        tu_fill(buf, sizeof buf, (uint64_t)(w->id * 1000 + i));
        if (!f || bfs_write(c, f, buf, sizeof buf, 0) != 4096 ||
            bfs_read(c, f, back, sizeof back, 0) != 4096 || memcmp(buf, back, 4096) != 0)
            w->errors++;
    }
    return NULL;
}

static void test_concurrent_threads(void)
{
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ .id = i };
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(w[i].errors, 0);
    }
}

/* ---- durability across kill -9 ---- */

static int durable(const char *mode)
{
    uint8_t buf[100000], back[100000];
    struct bfs_attr a;
    int write = strcmp(mode, "durable-write") == 0;
    if (write && bfs_create(c, BFS_ROOT_INO, "durable", S_IFDIR | 0755, 0, 0, &a) < 0)
        return 1;
    if (bfs_lookup(c, BFS_ROOT_INO, "durable", &a) < 0)
        return 1;
    uint64_t d = a.ino;
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        tu_fill(buf, sizeof buf, (uint64_t)i);
        if (write) {
            if (bfs_create(c, d, name, S_IFREG | 0644, 0, 0, &a) < 0 ||
                bfs_write(c, a.ino, buf, sizeof buf, (uint64_t)i * 1000) != sizeof buf ||
                bfs_fsync(c, a.ino, 0) < 0)
                return 1;
        } else if (bfs_lookup(c, d, name, &a) < 0 || a.size != (uint64_t)i * 1000 + sizeof buf ||
                   bfs_read(c, a.ino, back, sizeof back, (uint64_t)i * 1000) != sizeof back ||
                   memcmp(buf, back, sizeof buf) != 0) {
            fprintf(stderr, "durable file %s lost or damaged\n", name);
            return 1;
        }
    }
    /* small files, inline on the server; the last one migrated to a chunk file */
    for (int i = 0; i < 21; i++) {
        char name[32];
        size_t len = i < 20 ? 100 + (size_t)i * 37 : 30000;
        uint64_t off = i < 20 ? (uint64_t)i : 5000;
        snprintf(name, sizeof name, "s%d", i);
        tu_fill(buf, len, (uint64_t)i + 1000);
        if (write) {
            if (bfs_create(c, d, name, S_IFREG | 0644, 0, 0, &a) < 0 ||
                (i == 20 && bfs_write(c, a.ino, buf, 4000, 0) != 4000) ||
                bfs_write(c, a.ino, buf, len, off) != (ssize_t)len || bfs_fsync(c, a.ino, 0) < 0)
                return 1;
        } else if (bfs_lookup(c, d, name, &a) < 0 || a.size != off + len ||
                   bfs_read(c, a.ino, back, len, off) != (ssize_t)len ||
                   memcmp(buf, back, len) != 0 ||
                   (i == 20 && (bfs_read(c, a.ino, back, 4000, 0) != 4000 ||
                                memcmp(buf, back, 4000) != 0))) {
            fprintf(stderr, "durable file %s lost or damaged\n", name);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s REGISTRY [durable-write|durable-check]\n", argv[0]);
        return 2;
    }
    struct bfs_client_opts o = { .registry_dir = argv[1], .registry_timeout_s = 10, .rpc_timeout_s = 10 };
    int rc = bfs_client_open(&o, &c);
    if (rc < 0) {
        fprintf(stderr, "cannot connect: %s\n", strerror(-rc));
        return 1;
    }
    if (argc > 2) {
        rc = durable(argv[2]);
        bfs_client_close(c);
        return rc;
    }
    if (bfs_client_chunk_size(c) != 65536) {
        fprintf(stderr, "server must run with --chunk-size 64K\n");
        return 1;
    }
#define T(fn) do { dir = mkdir_fresh(); RUN(fn); } while (0)
    T(test_create_lookup_getattr);
    T(test_mkdir_rmdir);
    T(test_symlink_readlink);
    T(test_link_unlink);
    T(test_unlink_keep_purge);
    T(test_rename);
    T(test_setattr);
    T(test_data_across_chunks);
    T(test_sparse);
    T(test_huge_sparse_remove);
    T(test_write_errors);
    T(test_readdir);
    T(test_statfs_fsync);
    T(test_counters);
    T(test_concurrent_threads);
    T(test_inline_grow);
    T(test_inline_truncate);
    T(test_inline_link_unlink);
    T(test_inline_migration_race);
    T(test_special_files);
    T(test_sizes_checked);
    T(test_blocks);
    bfs_client_close(c);
    return test_summary();
}
