/* test_fuse.c - the BenchFS FUSE mount through ordinary system calls.
 *
 *   test_fuse MOUNTDIR [REGISTRY|-] [TEST...]
 *   test_fuse --inode REGISTRY INO     exit 0 if the servers still have inode
 *                                      INO, 1 if not (for fuse.sh), 2 on error
 *
 * MOUNTDIR is a benchfs-fuse mount of a server started with --chunk-size 64K
 * (the chunk-boundary tests assume it). With REGISTRY, the test also connects
 * to the servers with the client library to see what the mount cannot show:
 * that the bytes really reached the server, and that a file unlinked while
 * open is freed on the server after its last close. TEST names (without the
 * "test_" prefix) run only those tests.
 *
 * Every test works in a fresh directory MOUNTDIR/tfuse.PID/NAME; one line
 * "PASS: test_x" or "FAIL: test_x" each (tests/test.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/proto.h"
#include "../test.h"
#include "../testutil.h"

#define CHUNK 65536

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static char top[1024];           /* MOUNTDIR/tfuse.PID */
static char dir[PATH_MAX];       /* the current test's directory */
static struct bfs_client *cl;    /* with REGISTRY: a direct line to the servers */

/* -------------------------------------------------------------- helpers */

/* P("fmt", ...): a path under the current test's directory. Eight rotating
 * buffers, so several may appear in one call. */
static const char *P(const char *fmt, ...)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ & 7];
    int n = snprintf(b, PATH_MAX, "%s/", dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, (size_t)(PATH_MAX - n), fmt, ap);
    va_end(ap);
    return b;
}

/* A call that must succeed (result >= 0). */
#define CHECK_OK(call) do { errno = 0; long _r = (long)(call); if (_r < 0) { \
    fprintf(stderr, "  %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, strerror(errno)); \
    test_failed_checks++; } } while (0)
/* A call that must fail with errno e. */
#define CHECK_ERR(call, e) do { errno = 0; long _r = (long)(call); int _e = errno; \
    if (_r != -1 || _e != (e)) { \
        fprintf(stderr, "  %s:%d: %s: wanted -1 errno %s, got %ld errno %s\n", __FILE__, \
                __LINE__, #call, strerrorname_np(e), _r, _e ? strerrorname_np(_e) : "0"); \
        test_failed_checks++; } } while (0)

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The checks on the servers' side need REGISTRY: without it they fail, loudly. */
static int need_registry(const char *what)
{
    if (!cl)
        fprintf(stderr, "  %s: cannot check without REGISTRY (test_fuse MOUNTDIR REGISTRY)\n", what);
    return cl != NULL;
}

/* The server's copy of ino's bytes [off, off+len) equals want. */
static int server_has(uint64_t ino, const uint8_t *want, size_t len, uint64_t off)
{
    if (!need_registry("server_has"))
        return 0;
    uint8_t *back = malloc(len ? len : 1);
    if (!back)
        return 0;
    ssize_t n = bfs_read(cl, ino, back, len, off);
    int ok = n == (ssize_t)len && memcmp(back, want, len) == 0;
    if (!ok)
        fprintf(stderr, "  server copy of ino %" PRIu64 " differs (read %zd of %zu)\n", ino, n, len);
    free(back);
    return ok;
}

/* Waits (up to 5 s: the kernel sends RELEASE after close returns) until the
 * server no longer knows ino. */
static int server_freed(uint64_t ino)
{
    if (!need_registry("server_freed"))
        return 0;
    struct bfs_attr a;
    int rc = 0;
    for (int i = 0; i < 500; i++) {
        rc = bfs_getattr(cl, ino, &a);
        if (rc == -ENOENT)
            return 1;
        usleep(10000);
    }
    fprintf(stderr, "  ino %" PRIu64 " still on the server (getattr: %d, nlink %u)\n", ino, rc,
            rc == 0 ? a.nlink : 0);
    return 0;
}

/* The server still has ino, with nlink n. */
static int server_nlink(uint64_t ino, uint32_t n)
{
    if (!need_registry("server_nlink"))
        return 0;
    struct bfs_attr a;
    return bfs_getattr(cl, ino, &a) == 0 && a.nlink == n;
}

/* Waits (up to 5 s) until the mount has no request in flight, as the kernel's
 * fusectl file system counts them (/sys/fs/fuse/connections/N/waiting, N the
 * mount's device minor): e.g. the RELEASE the kernel sends after close(2)
 * returned has been answered. fuse.sh mounts fusectl. */
static int fuse_quiet(void)
{
    struct stat st;
    char path[64], buf[32];
    if (stat(top, &st) != 0)
        return 0;
    snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/waiting", minor(st.st_dev));
    for (int i = 0; i < 500; i++) {
        int fd = open(path, O_RDONLY);   /* not seekable: read(2), not pread */
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0)
            close(fd);
        if (n <= 0) {
            fprintf(stderr, "  cannot read %s (is fusectl mounted?)\n", path);
            return 0;
        }
        buf[n] = 0;
        if (atoi(buf) == 0)
            return 1;
        usleep(10000);
    }
    fprintf(stderr, "  %s: %s requests still in flight after 5 s\n", path, buf);
    return 0;
}

/* --------------------------------------------------------------- tests */

static void test_create_read_write(void)
{
    const char *f = P("f");
    int fd = open(f, O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, "hello, world\n", 13), 13);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_size, 13);
    CHECK_EQ(st.st_nlink, 1);
    CHECK_EQ(st.st_uid, getuid());
    CHECK_EQ(st.st_gid, getgid());
    CHECK(st.st_blksize > 0);
    char buf[64] = { 0 };
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(read(fd, buf, sizeof buf), 13);
    CHECK(memcmp(buf, "hello, world\n", 13) == 0);
    CHECK_EQ(read(fd, buf, sizeof buf), 0);   /* at EOF */
    CHECK_EQ(pwrite(fd, "W", 1, 7), 1);
    CHECK_OK(close(fd));
    CHECK(tu_file_has(f, "hello, World\n"));
    /* O_TRUNC on open empties it; mode & ~umask applies to new files */
    fd = open(f, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(size_of(f), 0);
    mode_t old = umask(027);
    fd = open(P("masked"), O_CREAT | O_WRONLY, 0666);
    umask(old);
    CHECK(fd >= 0);
    close(fd);
    CHECK(stat(P("masked"), &st) == 0 && (st.st_mode & 07777) == 0640);
    /* empty file, read from it, mknod of a regular file */
    CHECK_OK(mknod(P("node"), S_IFREG | 0600, 0));
    CHECK_EQ(size_of(P("node")), 0);
    CHECK_EQ(tu_read_file(P("node"), buf, sizeof buf), 0);
    CHECK_OK(mknod(P("fifo"), S_IFIFO | 0600, 0));   /* special files: test_special_files */
    CHECK(stat(P("fifo"), &st) == 0 && S_ISFIFO(st.st_mode));
    /* a name of 255 bytes is fine, 256 is too long */
    char name[300];
    memset(name, 'n', sizeof name);
    name[255] = 0;
    fd = open(P("%s", name), O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    name[255] = 'n';
    name[256] = 0;
    CHECK_ERR(open(P("%s", name), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
    CHECK_ERR(mkdir(P("%s", name), 0755), ENAMETOOLONG);
    /* any byte but '/' and NUL makes a name */
    const char *odd[] = { "with space", "new\nline", "tab\there", "-dash", "\xc3\xa9t\xc3\xa9",
                          "\xff\xfe raw bytes", "back\\slash", "...", " ", "*?[]" };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        CHECK_OK(tu_write_file(P("%s", odd[i]), odd[i], strlen(odd[i])));
        CHECK(tu_file_has(P("%s", odd[i]), odd[i]));
    }
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
            found += strcmp(e->d_name, odd[i]) == 0;
    if (d)
        closedir(d);
    CHECK_EQ(found, sizeof odd / sizeof odd[0]);
}

/* Writes at odd offsets and of odd sizes, across 64 KiB chunk boundaries,
 * then reads back (after reopening, so from the servers, not the page cache)
 * in pieces of other odd sizes. */
static void test_odd_offsets_chunks(void)
{
    const size_t len = 5 * CHUNK + 4321;
    uint8_t *want = calloc(1, len), *got = malloc(len);
    REQUIRE(want && got);
    int fd = open(P("f"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    /* pieces chosen to start and end on both sides of boundaries */
    const struct { off_t off; size_t n; } w[] = {
        { 0, 1 }, { 1, 4094 }, { 4095, 2 }, { CHUNK - 3, 7 }, { 4097, CHUNK - 4100 },
        { CHUNK + 4, CHUNK * 2 + 99 }, { 3 * CHUNK + 103, 1 }, { 3 * CHUNK + 104, CHUNK + 4321 + 4000 },
        { 2 * CHUNK - 1, 2 }, { 4 * CHUNK + 4321 + 4000 + 104 - 1, 0 },
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        if ((size_t)w[i].off + w[i].n > len)
            continue;
        tu_fill(want + w[i].off, w[i].n, i * 1000 + 7);
        CHECK_EQ(tu_pwrite_all(fd, want + w[i].off, w[i].n, w[i].off), (ssize_t)w[i].n);
    }
    /* the tail: one write spanning two boundaries, ending at len */
    size_t tail = 3 * CHUNK + 104 + CHUNK + 4321 + 4000;
    tu_fill(want + tail, len - tail, 99);
    CHECK_EQ(tu_pwrite_all(fd, want + tail, len - tail, (off_t)tail), (ssize_t)(len - tail));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, len);
    uint64_t ino = st.st_ino;
    CHECK_OK(close(fd));

    fd = open(P("f"), O_RDONLY);
    REQUIRE(fd >= 0);
    const size_t piece[] = { 1, 3, 4095, 4097, CHUNK - 1, CHUNK + 1, 7777 };
    for (size_t p = 0; p < sizeof piece / sizeof piece[0]; p++) {
        memset(got, 0xEE, len);
        size_t off = 0;
        int ok = 1;
        for (; off < len && ok; off += piece[p]) {
            size_t n = piece[p] < len - off ? piece[p] : len - off;
            ok = pread(fd, got + off, n, (off_t)off) == (ssize_t)n;
        }
        CHECK(ok);
        if (memcmp(got, want, len) != 0) {
            size_t i = 0;
            while (got[i] == want[i])
                i++;
            fprintf(stderr, "  piece %zu: first difference at byte %zu\n", piece[p], i);
            CHECK(0);
        }
    }
    /* reads crossing the end of the file are short; past it, empty */
    CHECK_EQ(pread(fd, got, 100, (off_t)len - 10), 10);
    CHECK_EQ(pread(fd, got, 100, (off_t)len), 0);
    CHECK_EQ(pread(fd, got, 100, (off_t)len + CHUNK), 0);
    /* one big read of everything */
    memset(got, 0, len);
    CHECK_EQ(pread(fd, got, len, 0), len);
    CHECK(memcmp(got, want, len) == 0);
    close(fd);
    CHECK(server_has(ino, want, len, 0));

    /* one write of 3 MiB at an odd offset (the kernel splits it into 1 MiB
     * requests, each spanning many chunks) */
    const size_t big = 3 * 1024 * 1024 + 13;
    uint8_t *b = malloc(big), *bb = malloc(big);
    REQUIRE(b && bb);
    tu_fill(b, big, 4242);
    fd = open(P("big"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(pwrite(fd, b, big, CHUNK - 7), big);
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, big + CHUNK - 7);
    close(fd);
    fd = open(P("big"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(tu_pread_all(fd, bb, big, CHUNK - 7), big);
    CHECK(memcmp(b, bb, big) == 0);
    CHECK_EQ(tu_pread_all(fd, bb, CHUNK - 7, 0), CHUNK - 7);
    CHECK(tu_all_zero(bb, CHUNK - 7));
    close(fd);
    CHECK(server_has(st.st_ino, b, big, CHUNK - 7));
    free(b);
    free(bb);
    free(want);
    free(got);
}

/* Holes read as zeros, within a chunk and over whole missing chunks; st_size
 * counts up to the last byte written, also past 4 GiB. */
static void test_sparse(void)
{
    int fd = open(P("s"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
    CHECK_EQ(pwrite(fd, "xyz", 3, 1000), 3);             /* hole inside chunk 0 */
    const off_t far = 5 * CHUNK + 100;                  /* chunks 1..4 never written */
    CHECK_EQ(pwrite(fd, "Z", 1, far), 1);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, far + 1);
    close(fd);

    size_t len = (size_t)far + 1;
    uint8_t *buf = malloc(len + 10);
    REQUIRE(buf);
    CHECK_EQ(tu_read_file(P("s"), buf, len + 10), len);
    CHECK(memcmp(buf, "abc", 3) == 0);
    CHECK(tu_all_zero(buf + 3, 997));
    CHECK(memcmp(buf + 1000, "xyz", 3) == 0);
    CHECK(tu_all_zero(buf + 1003, (size_t)far - 1003));
    CHECK_EQ(buf[far], 'Z');
    free(buf);

    /* lseek past the end and write: the gap is a hole too */
    fd = open(P("s2"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(lseek(fd, 3 * CHUNK - 1, SEEK_SET), 3 * CHUNK - 1);
    CHECK_EQ(write(fd, "ab", 2), 2);
    CHECK_EQ(size_of(P("s2")), 3 * CHUNK + 1);
    uint8_t chunk[CHUNK];
    memset(chunk, 1, sizeof chunk);
    CHECK_EQ(pread(fd, chunk, CHUNK, CHUNK), CHUNK);
    CHECK(tu_all_zero(chunk, CHUNK));
    close(fd);

    /* a byte past 4 GiB: 64-bit offsets all the way to the server */
    fd = open(P("huge"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    const off_t g = (off_t)5 << 30;
    CHECK_EQ(pwrite(fd, "4G", 2, g + 3), 2);
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, g + 5);
    close(fd);
    fd = open(P("huge"), O_RDONLY);
    REQUIRE(fd >= 0);
    char b4[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    CHECK_EQ(pread(fd, b4, 8, g), 5);
    CHECK(memcmp(b4, "\0\0\0" "4G", 5) == 0);
    CHECK_EQ(pread(fd, b4, 8, (off_t)1 << 32), 8);
    CHECK(tu_all_zero((uint8_t *)b4, 8));
    close(fd);
}

/* Truncate down (mid-chunk) and up again: the old bytes must not come back. */
static void test_truncate(void)
{
    const size_t len = 200000;   /* chunks 0..3 */
    uint8_t *want = malloc(len), *got = malloc(400000);
    REQUIRE(want && got);
    tu_fill(want, len, 5);
    REQUIRE(tu_write_file(P("t"), want, len) == 0);

    int fd = open(P("t"), O_RDWR);
    REQUIRE(fd >= 0);
    CHECK_OK(ftruncate(fd, 70000));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 70000);
    CHECK_OK(ftruncate(fd, 300000));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 300000);
    close(fd);
    CHECK_EQ(tu_read_file(P("t"), got, 400000), 300000);
    CHECK(memcmp(got, want, 70000) == 0);
    CHECK(tu_all_zero(got + 70000, 300000 - 70000));

    /* by path */
    CHECK_OK(truncate(P("t"), 10));
    CHECK_EQ(size_of(P("t")), 10);
    CHECK_OK(truncate(P("t"), 2 * CHUNK + 5));
    CHECK_EQ(size_of(P("t")), 2 * CHUNK + 5);
    CHECK_EQ(tu_read_file(P("t"), got, 400000), 2 * CHUNK + 5);
    CHECK(memcmp(got, want, 10) == 0);
    CHECK(tu_all_zero(got + 10, 2 * CHUNK + 5 - 10));
    CHECK_OK(truncate(P("t"), 0));
    CHECK_EQ(size_of(P("t")), 0);
    CHECK_EQ(tu_read_file(P("t"), got, 400000), 0);
    /* writing after a truncate to exactly a chunk boundary */
    CHECK_OK(truncate(P("t"), CHUNK));
    fd = open(P("t"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "end", 3), 3);
    close(fd);
    CHECK_EQ(tu_read_file(P("t"), got, 400000), CHUNK + 3);
    CHECK(tu_all_zero(got, CHUNK) && memcmp(got + CHUNK, "end", 3) == 0);

    /* errors */
    CHECK_ERR(truncate(P("t"), -1), EINVAL);
    fd = open(P("t"), O_RDONLY);
    CHECK(fd >= 0);
    CHECK_ERR(ftruncate(fd, 0), EINVAL);   /* not open for writing */
    close(fd);
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_ERR(truncate(P("d"), 0), EISDIR);
    CHECK_ERR(truncate(P("missing"), 0), ENOENT);
    free(want);
    free(got);
}

static void test_append(void)
{
    REQUIRE(tu_write_file(P("a"), "0123456789", 10) == 0);
    int fd = open(P("a"), O_WRONLY | O_APPEND);
    REQUIRE(fd >= 0);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(write(fd, "abc", 3), 3);                   /* at the end, not at 0 */
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 13);
    int fd2 = open(P("a"), O_WRONLY | O_APPEND);
    CHECK(fd2 >= 0);
    CHECK_EQ(write(fd2, "XY", 2), 2);                   /* after the other fd's bytes */
    CHECK_EQ(write(fd, "def", 3), 3);                   /* and after those */
    close(fd2);
    close(fd);
    CHECK(tu_file_has(P("a"), "0123456789abcXYdef"));
    /* O_APPEND | O_CREAT on a new file, across a chunk boundary */
    uint8_t buf[CHUNK + 100], back[CHUNK + 200];
    tu_fill(buf, sizeof buf, 3);
    fd = open(P("b"), O_WRONLY | O_APPEND | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, buf, CHUNK - 1), CHUNK - 1);
    CHECK_EQ(write(fd, buf + CHUNK - 1, 101), 101);
    close(fd);
    CHECK_EQ(tu_read_file(P("b"), back, sizeof back), sizeof buf);
    CHECK(memcmp(buf, back, sizeof buf) == 0);
}

static void test_excl_eexist(void)
{
    REQUIRE(tu_write_file(P("f"), "x", 1) == 0);
    CHECK_ERR(open(P("f"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    CHECK(tu_file_has(P("f"), "x"));                         /* untouched */
    int fd = open(P("g"), O_CREAT | O_EXCL | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    fd = open(P("f"), O_CREAT | O_WRONLY, 0644);         /* no O_EXCL: opens it */
    CHECK(fd >= 0);
    close(fd);
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_ERR(mkdir(P("d"), 0755), EEXIST);
    CHECK_ERR(mkdir(P("f"), 0755), EEXIST);
    CHECK_ERR(open(P("d"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    CHECK_ERR(symlink("x", P("f")), EEXIST);
    CHECK_ERR(link(P("g"), P("f")), EEXIST);
    CHECK_ERR(mknod(P("f"), S_IFREG | 0644, 0), EEXIST);
    /* O_EXCL does not follow a symlink, even a dangling one */
    CHECK_OK(symlink("nowhere", P("dangling")));
    CHECK_ERR(open(P("dangling"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    CHECK(!exists(P("nowhere")));
}

static void test_enoent(void)
{
    struct stat st;
    char buf[16];
    CHECK_ERR(open(P("missing"), O_RDONLY), ENOENT);
    CHECK_ERR(open(P("missing"), O_WRONLY), ENOENT);
    CHECK_ERR(stat(P("missing"), &st), ENOENT);
    CHECK_ERR(lstat(P("missing"), &st), ENOENT);
    CHECK_ERR(unlink(P("missing")), ENOENT);
    CHECK_ERR(rmdir(P("missing")), ENOENT);
    CHECK_ERR(rename(P("missing"), P("other")), ENOENT);
    CHECK_ERR(link(P("missing"), P("other")), ENOENT);
    CHECK_ERR(chmod(P("missing"), 0644), ENOENT);
    CHECK_ERR(truncate(P("missing"), 0), ENOENT);
    CHECK_ERR(readlink(P("missing"), buf, sizeof buf), ENOENT);
    CHECK_ERR(opendir(P("missing")) ? 0 : -1, ENOENT);
    CHECK_ERR(open(P("nodir/f"), O_CREAT | O_WRONLY, 0644), ENOENT);
    CHECK_ERR(mkdir(P("nodir/d"), 0755), ENOENT);
    CHECK_ERR(access(P("missing"), F_OK), ENOENT);
    /* a name that existed and was removed is gone at once (no stale cache) */
    REQUIRE(tu_write_file(P("f"), "x", 1) == 0);
    CHECK_OK(stat(P("f"), &st));
    CHECK_OK(unlink(P("f")));
    CHECK_ERR(stat(P("f"), &st), ENOENT);
    CHECK_ERR(open(P("f"), O_RDONLY), ENOENT);
    /* and a name that was missing appears at once when created here */
    CHECK_ERR(stat(P("late"), &st), ENOENT);
    REQUIRE(tu_write_file(P("late"), "y", 1) == 0);
    CHECK_OK(stat(P("late"), &st));
}

static void test_enotdir(void)
{
    struct stat st;
    REQUIRE(tu_write_file(P("file"), "x", 1) == 0);
    CHECK_ERR(open(P("file/x"), O_RDONLY), ENOTDIR);
    CHECK_ERR(open(P("file/x"), O_CREAT | O_WRONLY, 0644), ENOTDIR);
    CHECK_ERR(mkdir(P("file/x"), 0755), ENOTDIR);
    CHECK_ERR(stat(P("file/"), &st), ENOTDIR);
    CHECK_ERR(rmdir(P("file")), ENOTDIR);
    CHECK_ERR(opendir(P("file")) ? 0 : -1, ENOTDIR);
    CHECK_ERR(open(P("file"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_ERR(rename(P("d"), P("file")), ENOTDIR);
    CHECK(exists(P("d")) && exists(P("file")));
}

static void test_eisdir(void)
{
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_ERR(open(P("d"), O_WRONLY), EISDIR);
    CHECK_ERR(open(P("d"), O_RDWR), EISDIR);
    CHECK_ERR(open(P("d"), O_WRONLY | O_CREAT, 0644), EISDIR);
    CHECK_ERR(unlink(P("d")), EISDIR);
    REQUIRE(tu_write_file(P("f"), "x", 1) == 0);
    CHECK_ERR(rename(P("f"), P("d")), EISDIR);
    int fd = open(P("d"), O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    char c;
    CHECK_ERR(read(fd, &c, 1), EISDIR);
    close(fd);
    struct stat st;
    CHECK(stat(P("d"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(tu_file_has(P("f"), "x"));
}

static void test_mkdir_rmdir(void)
{
    struct stat st, pst0, pst;
    CHECK_OK(stat(dir, &pst0));
    CHECK_EQ(pst0.st_nlink, 2);
    CHECK_OK(mkdir(P("d"), 0750));
    CHECK(stat(P("d"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, 0750);
    CHECK_EQ(st.st_nlink, 2);
    CHECK_OK(stat(dir, &pst));
    CHECK_EQ(pst.st_nlink, 3);                           /* the new ".." */
    CHECK_OK(mkdir(P("d/sub"), 0755));
    CHECK_OK(stat(P("d/sub/.."), &pst));
    CHECK_EQ(pst.st_ino, st.st_ino);
    REQUIRE(tu_write_file(P("d/sub/f"), "x", 1) == 0);
    CHECK_ERR(rmdir(P("d")), ENOTEMPTY);
    CHECK_ERR(rmdir(P("d/sub")), ENOTEMPTY);
    CHECK_ERR(rmdir(P("d/sub/f")), ENOTDIR);
    CHECK_ERR(rmdir(P("d/.")), EINVAL);
    CHECK_OK(unlink(P("d/sub/f")));
    CHECK_OK(rmdir(P("d/sub")));
    CHECK_OK(rmdir(P("d")));
    CHECK_ERR(stat(P("d"), &st), ENOENT);
    CHECK_OK(stat(dir, &pst));
    CHECK_EQ(pst.st_nlink, 2);
    /* a directory can be made again under the same name, and is empty */
    CHECK_OK(mkdir(P("d"), 0755));
    DIR *dd = opendir(P("d"));
    CHECK(dd != NULL);
    int n = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (dd)
        closedir(dd);
    CHECK_EQ(n, 0);
    /* deep nesting */
    char path[PATH_MAX] = "";
    int len = snprintf(path, sizeof path, "%s", P("deep"));
    int ok = 1;
    for (int i = 0; i < 30 && ok; i++) {
        ok = mkdir(path, 0755) == 0;
        len += snprintf(path + len, sizeof path - (size_t)len, "/d%d", i);
    }
    CHECK(ok);
    len += snprintf(path + len, sizeof path - (size_t)len, ".f");
    CHECK_OK(tu_write_file(path, "deep", 4));
    CHECK(tu_file_has(path, "deep"));
}

static void test_rename_file(void)
{
    struct stat sa, sb;
    REQUIRE(tu_write_file(P("a"), "content of a", 12) == 0);
    REQUIRE(tu_write_file(P("b"), "content of b, longer", 20) == 0);
    CHECK_OK(stat(P("a"), &sa));
    CHECK_OK(rename(P("a"), P("b")));                     /* over an existing file */
    CHECK(!exists(P("a")));
    CHECK(tu_file_has(P("b"), "content of a"));
    CHECK_OK(stat(P("b"), &sb));
    CHECK_EQ(sb.st_ino, sa.st_ino);
    CHECK_EQ(sb.st_size, 12);
    CHECK_EQ(sb.st_nlink, 1);
    CHECK_OK(rename(P("b"), P("b")));                     /* onto itself: no-op */
    CHECK(tu_file_has(P("b"), "content of a"));
    /* into another directory and back */
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_OK(rename(P("b"), P("d/c")));
    CHECK(!exists(P("b")));
    CHECK(tu_file_has(P("d/c"), "content of a"));
    CHECK_OK(rename(P("d/c"), P("e")));
    CHECK(tu_file_has(P("e"), "content of a"));
    /* two hard links of one inode: rename one over the other is a no-op */
    CHECK_OK(link(P("e"), P("e2")));
    CHECK_OK(rename(P("e"), P("e2")));
    CHECK(exists(P("e")) && exists(P("e2")));
    /* a file renamed while open keeps working through its descriptor */
    int fd = open(P("e"), O_RDWR);
    CHECK(fd >= 0);
    CHECK_OK(rename(P("e"), P("moved")));
    CHECK_EQ(pwrite(fd, "C", 1, 0), 1);
    close(fd);
    CHECK(tu_file_has(P("moved"), "Content of a"));
    CHECK(tu_file_has(P("e2"), "Content of a"));
}

static void test_rename_dir(void)
{
    struct stat st, d2;
    CHECK_OK(mkdir(P("p1"), 0755));
    CHECK_OK(mkdir(P("p2"), 0755));
    CHECK_OK(mkdir(P("p1/d"), 0755));
    CHECK_OK(mkdir(P("p1/d/sub"), 0755));
    REQUIRE(tu_write_file(P("p1/d/f"), "top", 3) == 0);
    REQUIRE(tu_write_file(P("p1/d/sub/g"), "deeper", 6) == 0);
    struct stat before;
    CHECK_OK(stat(P("p1/d"), &before));
    CHECK_OK(rename(P("p1/d"), P("p2/moved")));           /* non-empty, across parents */
    CHECK(!exists(P("p1/d")));
    CHECK(tu_file_has(P("p2/moved/f"), "top"));
    CHECK(tu_file_has(P("p2/moved/sub/g"), "deeper"));
    CHECK_OK(stat(P("p2/moved"), &d2));
    CHECK_EQ(d2.st_ino, before.st_ino);
    CHECK_OK(stat(P("p2/moved/sub/.."), &st));
    CHECK_EQ(st.st_ino, d2.st_ino);
    CHECK_OK(stat(P("p1"), &st));
    CHECK_EQ(st.st_nlink, 2);
    CHECK_OK(stat(P("p2"), &st));
    CHECK_EQ(st.st_nlink, 3);
    /* within the same parent */
    CHECK_OK(rename(P("p2/moved"), P("p2/renamed")));
    CHECK(tu_file_has(P("p2/renamed/sub/g"), "deeper"));
    /* over an empty directory: allowed; over a non-empty one: ENOTEMPTY */
    CHECK_OK(mkdir(P("empty"), 0755));
    CHECK_OK(rename(P("p2/renamed"), P("empty")));
    CHECK(tu_file_has(P("empty/f"), "top"));
    CHECK_OK(mkdir(P("other"), 0755));
    CHECK_ERR(rename(P("other"), P("empty")), ENOTEMPTY);
    CHECK(tu_file_has(P("empty/f"), "top"));
    /* into itself: EINVAL */
    CHECK_ERR(rename(P("empty"), P("empty/sub/x")), EINVAL);
    /* a file moved out of a directory, and the directory removed */
    CHECK_OK(rename(P("empty/sub/g"), P("g")));
    CHECK_OK(rmdir(P("empty/sub")));
    CHECK(tu_file_has(P("g"), "deeper"));
}

static void test_rename_noreplace(void)
{
    REQUIRE(tu_write_file(P("a"), "A", 1) == 0);
    REQUIRE(tu_write_file(P("b"), "B", 1) == 0);
    CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("a"), AT_FDCWD, P("b"), RENAME_NOREPLACE), EEXIST);
    CHECK(tu_file_has(P("a"), "A") && tu_file_has(P("b"), "B"));
    CHECK_OK(syscall(SYS_renameat2, AT_FDCWD, P("a"), AT_FDCWD, P("c"), RENAME_NOREPLACE));
    CHECK(!exists(P("a")) && tu_file_has(P("c"), "A"));
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("c"), AT_FDCWD, P("d"), RENAME_NOREPLACE), EEXIST);
    /* RENAME_EXCHANGE has no BenchFS counterpart: refused, nothing changes */
    CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("b"), AT_FDCWD, P("c"), RENAME_EXCHANGE), EINVAL);
    CHECK(tu_file_has(P("b"), "B") && tu_file_has(P("c"), "A"));
}

static void test_hardlink(void)
{
    struct stat sa, sb;
    REQUIRE(tu_write_file(P("a"), "first", 5) == 0);
    CHECK_OK(link(P("a"), P("b")));
    CHECK_OK(stat(P("a"), &sa));
    CHECK_OK(stat(P("b"), &sb));
    CHECK_EQ(sa.st_ino, sb.st_ino);
    CHECK_EQ(sa.st_nlink, 2);
    CHECK_EQ(sb.st_nlink, 2);
    /* written through one name, read through the other */
    int fd = open(P("a"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, " second", 7), 7);
    close(fd);
    CHECK(tu_file_has(P("b"), "first second"));
    CHECK_OK(truncate(P("b"), 5));
    CHECK(tu_file_has(P("a"), "first"));
    /* in another directory */
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_OK(link(P("b"), P("d/c")));
    CHECK_OK(stat(P("a"), &sa));
    CHECK_EQ(sa.st_nlink, 3);
    /* removing names: the data stays while one remains */
    CHECK_OK(unlink(P("a")));
    CHECK_OK(unlink(P("b")));
    CHECK_OK(stat(P("d/c"), &sb));
    CHECK_EQ(sb.st_nlink, 1);
    CHECK(tu_file_has(P("d/c"), "first"));
    CHECK(server_nlink(sb.st_ino, 1));
    CHECK_OK(unlink(P("d/c")));
    CHECK(server_freed(sb.st_ino));
    /* no hard links to directories */
    CHECK_ERR(link(P("d"), P("dlink")), EPERM);
    CHECK_ERR(link(P("missing"), P("x")), ENOENT);
}

static void test_symlink(void)
{
    struct stat st, lst, tst;
    char buf[PATH_MAX];
    REQUIRE(tu_write_file(P("target"), "through the link", 16) == 0);
    CHECK_OK(symlink("target", P("l")));
    CHECK_EQ(readlink(P("l"), buf, sizeof buf), 6);
    CHECK(memcmp(buf, "target", 6) == 0);
    CHECK_OK(lstat(P("l"), &lst));
    CHECK(S_ISLNK(lst.st_mode));
    CHECK_EQ(lst.st_size, 6);
    CHECK_OK(stat(P("l"), &st));
    CHECK_OK(stat(P("target"), &tst));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_ino, tst.st_ino);
    CHECK_EQ(st.st_size, 16);
    CHECK(lst.st_ino != tst.st_ino);
    CHECK(tu_file_has(P("l"), "through the link"));
    /* write through the link */
    int fd = open(P("l"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "!", 1), 1);
    close(fd);
    CHECK(tu_file_has(P("target"), "through the link!"));
    CHECK_ERR(open(P("l"), O_RDONLY | O_NOFOLLOW), ELOOP);
    /* to a directory, relative with "..", absolute */
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_OK(tu_write_file(P("d/inside"), "in", 2));
    CHECK_OK(symlink("d", P("ld")));
    CHECK(tu_file_has(P("ld/inside"), "in"));
    CHECK_OK(symlink("../target", P("d/up")));
    CHECK(tu_file_has(P("d/up"), "through the link!"));
    CHECK_OK(symlink(P("target"), P("abs")));
    CHECK(tu_file_has(P("abs"), "through the link!"));
    /* dangling, loops, long targets, readlink on a non-link */
    CHECK_OK(symlink("nowhere", P("dangling")));
    CHECK_ERR(stat(P("dangling"), &st), ENOENT);
    CHECK_OK(lstat(P("dangling"), &st));
    CHECK_OK(symlink("loop2", P("loop1")));
    CHECK_OK(symlink("loop1", P("loop2")));
    CHECK_ERR(stat(P("loop1"), &st), ELOOP);
    char *big = malloc(PATH_MAX);
    REQUIRE(big);
    memset(big, 'x', PATH_MAX - 1);
    big[4095] = 0;
    CHECK_OK(symlink(big, P("big")));
    CHECK_EQ(readlink(P("big"), buf, sizeof buf), 4095);
    CHECK(memcmp(buf, big, 4095) == 0);
    free(big);
    CHECK_ERR(readlink(P("target"), buf, sizeof buf), EINVAL);
    /* a symlink can be renamed and removed without touching its target */
    CHECK_OK(rename(P("l"), P("l2")));
    CHECK(tu_file_has(P("l2"), "through the link!"));
    CHECK_OK(unlink(P("l2")));
    CHECK(tu_file_has(P("target"), "through the link!"));
}

static int ts_eq(struct timespec a, time_t s, long ns)
{
    return a.tv_sec == s && a.tv_nsec == ns;
}

static int ts_later(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* GETATTRs the servers have answered so far, all of them together. */
static uint64_t getattrs_served(void)
{
    uint64_t sum = 0, counts[OP_MAX];
    for (uint32_t n = 0; n < bfs_client_nodes(cl); n++)
        if (bfs_server_counters(cl, n, counts, OP_MAX) > OP_GETATTR)
            sum += counts[OP_GETATTR];
    return sum;
}

/* After an entry is made or removed the kernel asks for the parent's
 * attributes again; the daemon answers from what the changing server replied
 * (fuse/dirstash.c), and what it answers is the parent as the change left it. */
static void test_parent_attrs_after_changes(void)
{
    struct stat st, before;
    const int n = 200;
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_OK(stat(P("d"), &before));
    uint64_t served = cl ? getattrs_served() : 0;
    for (int i = 0; i < n; i++) {
        int fd = open(P("d/f%d", i), O_CREAT | O_EXCL | O_WRONLY, 0644);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    for (int i = 0; i < n; i++)
        CHECK_OK(unlink(P("d/f%d", i)));
    /* Two creates and unlinks per GETATTR would still be half of them. */
    if (cl)
        CHECK(getattrs_served() - served < (uint64_t)n / 4);
    /* Each answer is the parent after the change: times, nlink, mode. */
    for (int i = 0; i < 5; i++) {
        CHECK_OK(stat(P("d"), &before));
        CHECK_OK(tu_write_text(P("d/g%d", i), "x"));
        CHECK_OK(stat(P("d"), &st));
        CHECK(ts_later(st.st_mtim, before.st_mtim) && ts_later(st.st_ctim, before.st_ctim));
        CHECK_OK(mkdir(P("d/sub%d", i), 0755));
        CHECK_OK(stat(P("d"), &st));
        CHECK_EQ(st.st_nlink, 3);
        CHECK_OK(rmdir(P("d/sub%d", i)));
        CHECK_OK(stat(P("d"), &st));
        CHECK_EQ(st.st_nlink, 2);
        CHECK_OK(symlink("g", P("d/l%d", i)));
        CHECK_OK(link(P("d/g%d", i), P("d/h%d", i)));
        CHECK_OK(stat(P("d"), &before));
        CHECK_OK(rename(P("d/h%d", i), P("d/r%d", i)));
        CHECK_OK(stat(P("d"), &st));
        CHECK(ts_later(st.st_mtim, before.st_mtim));
        /* A change that brings no attributes comes after one that did. */
        CHECK_OK(unlink(P("d/r%d", i)));
        CHECK_OK(chmod(P("d"), 0700));
        CHECK_OK(stat(P("d"), &st));
        CHECK_EQ(st.st_mode & 07777, 0700);
        CHECK_OK(chmod(P("d"), 0755));
        CHECK_OK(unlink(P("d/l%d", i)));
        struct timespec ts[2] = { { 1000000000, 5 }, { 1100000000, 7 } };
        CHECK_OK(utimensat(AT_FDCWD, P("d"), ts, 0));
        CHECK_OK(stat(P("d"), &st));
        CHECK(ts_eq(st.st_mtim, 1100000000, 7));
        CHECK_OK(unlink(P("d/g%d", i)));
        CHECK_OK(stat(P("d"), &st));
        CHECK(st.st_mtim.tv_sec > 1100000000);
    }
    /* What was kept of a directory does not outlive it: an fd still open on
     * it, whose fstat the kernel sends after the rmdir, finds it gone. */
    CHECK_OK(mkdir(P("gone"), 0755));
    int dfd = open(P("gone"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK_OK(tu_write_text(P("gone/x"), "x"));
    CHECK_OK(unlink(P("gone/x")));
    CHECK_OK(rmdir(P("gone")));
    if (dfd >= 0) {
        CHECK(fstat(dfd, &st) != 0 || st.st_nlink == 0);
        close(dfd);
    }
}

static void test_chmod_chown_utimens(void)
{
    struct stat st, st2;
    REQUIRE(tu_write_file(P("f"), "x", 1) == 0);
    CHECK_OK(stat(P("f"), &st));
    CHECK_OK(chmod(P("f"), 0600));
    CHECK_OK(stat(P("f"), &st2));
    CHECK_EQ(st2.st_mode, S_IFREG | 0600);
    CHECK(st2.st_ctim.tv_sec > st.st_ctim.tv_sec ||
          (st2.st_ctim.tv_sec == st.st_ctim.tv_sec && st2.st_ctim.tv_nsec >= st.st_ctim.tv_nsec));
    CHECK_OK(chmod(P("f"), 04751));
    CHECK_OK(stat(P("f"), &st));
    CHECK_EQ(st.st_mode & 07777, 04751);
    CHECK_OK(chown(P("f"), 1234, 5678));
    CHECK_OK(stat(P("f"), &st));
    CHECK_EQ(st.st_uid, 1234);
    CHECK_EQ(st.st_gid, 5678);
    CHECK_OK(chown(P("f"), (uid_t)-1, 42));                /* gid only */
    CHECK_OK(stat(P("f"), &st));
    CHECK_EQ(st.st_uid, 1234);
    CHECK_EQ(st.st_gid, 42);
    /* through a descriptor */
    int fd = open(P("f"), O_RDWR);
    CHECK(fd >= 0);
    CHECK_OK(fchmod(fd, 0644));
    CHECK_OK(fchown(fd, 0, 0));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_mode, S_IFREG | 0644);
    CHECK_EQ(st.st_uid, 0);
    /* explicit times, to the nanosecond; UTIME_OMIT; UTIME_NOW */
    struct timespec ts[2] = { { 1000000000, 123456789 }, { 1200000000, 987654321 } };
    CHECK_OK(utimensat(AT_FDCWD, P("f"), ts, 0));
    CHECK_OK(stat(P("f"), &st));
    CHECK(ts_eq(st.st_atim, 1000000000, 123456789));
    CHECK(ts_eq(st.st_mtim, 1200000000, 987654321));
    struct timespec omit_now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
    time_t now = time(NULL);
    CHECK_OK(utimensat(AT_FDCWD, P("f"), omit_now, 0));
    CHECK_OK(stat(P("f"), &st));
    CHECK(ts_eq(st.st_atim, 1000000000, 123456789));
    CHECK(st.st_mtim.tv_sec >= now - 5 && st.st_mtim.tv_sec <= now + 5);
    struct timespec old[2] = { { 5, 0 }, { 7, 1 } };
    CHECK_OK(futimens(fd, old));
    CHECK_OK(fstat(fd, &st));
    CHECK(ts_eq(st.st_atim, 5, 0) && ts_eq(st.st_mtim, 7, 1));
    /* a write moves mtime to now */
    CHECK_EQ(pwrite(fd, "y", 1, 0), 1);
    CHECK_OK(fstat(fd, &st));
    CHECK(st.st_mtim.tv_sec >= now - 5);
    close(fd);
    /* directories and symlinks (lchown changes the link itself) */
    CHECK_OK(mkdir(P("d"), 0755));
    CHECK_OK(chmod(P("d"), 0700));
    CHECK_OK(stat(P("d"), &st));
    CHECK_EQ(st.st_mode, S_IFDIR | 0700);
    CHECK_OK(symlink("f", P("l")));
    CHECK_OK(lchown(P("l"), 77, 88));
    CHECK_OK(lstat(P("l"), &st));
    CHECK_EQ(st.st_uid, 77);
    CHECK_OK(stat(P("f"), &st2));
    CHECK_EQ(st2.st_uid, 0);
    CHECK_OK(utimensat(AT_FDCWD, P("l"), ts, AT_SYMLINK_NOFOLLOW));
    CHECK_OK(lstat(P("l"), &st));
    CHECK(ts_eq(st.st_mtim, 1200000000, 987654321));
    CHECK_ERR(chmod(P("missing"), 0600), ENOENT);
}

static void test_statfs(void)
{
    struct statvfs v;
    CHECK_OK(statvfs(top, &v));
    CHECK(v.f_bsize > 0);
    CHECK(v.f_blocks > 0);
    CHECK(v.f_bfree <= v.f_blocks);
    CHECK(v.f_bavail <= v.f_blocks);
    CHECK_EQ(v.f_namemax, 255);
    REQUIRE(tu_write_file(P("f"), "x", 1) == 0);
    int fd = open(P("f"), O_RDONLY);
    CHECK(fd >= 0);
    struct statvfs v2;
    CHECK_OK(fstatvfs(fd, &v2));
    CHECK_EQ(v2.f_namemax, 255);
    close(fd);
}

static void test_fsync(void)
{
    uint8_t buf[3 * CHUNK];
    tu_fill(buf, sizeof buf, 11);
    int fd = open(P("f"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, buf, sizeof buf), sizeof buf);
    CHECK_OK(fsync(fd));
    CHECK_EQ(pwrite(fd, "abc", 3, CHUNK - 1), 3);
    CHECK_OK(fdatasync(fd));
    CHECK_OK(syncfs(fd));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    close(fd);
    memcpy(buf + CHUNK - 1, "abc", 3);
    CHECK(server_has(st.st_ino, buf, sizeof buf, 0));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK_OK(fsync(dfd));
    CHECK_OK(fdatasync(dfd));
    close(dfd);
    fd = open(P("f"), O_RDONLY);                            /* fsync on a read-only fd */
    CHECK(fd >= 0);
    CHECK_OK(fsync(fd));
    close(fd);
}

/* POSIX: a file whose last name is removed lives on while it is open. */
static void test_unlink_while_open(void)
{
    uint8_t buf[2 * CHUNK + 10], back[2 * CHUNK + 10];
    tu_fill(buf, sizeof buf, 21);
    REQUIRE(tu_write_file(P("f"), buf, 1000) == 0);
    int fd = open(P("f"), O_RDWR);
    int fd2 = open(P("f"), O_RDONLY);
    REQUIRE(fd >= 0 && fd2 >= 0);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    uint64_t ino = st.st_ino;
    CHECK_OK(unlink(P("f")));
    CHECK(!exists(P("f")));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_nlink, 0);
    CHECK(server_nlink(ino, 0));
    /* still readable and writable, also across chunks */
    CHECK_EQ(pread(fd, back, 1000, 0), 1000);
    CHECK(memcmp(back, buf, 1000) == 0);
    CHECK_EQ(tu_pwrite_all(fd, buf + 1000, sizeof buf - 1000, 1000), sizeof buf - 1000);
    CHECK_OK(fsync(fd));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, sizeof buf);
    /* a new file under the old name is a different file */
    REQUIRE(tu_write_file(P("f"), "new", 3) == 0);
    CHECK(tu_file_has(P("f"), "new"));
    CHECK_OK(close(fd));
    /* the other descriptor still reads everything */
    memset(back, 0, sizeof back);
    CHECK_EQ(tu_pread_all(fd2, back, sizeof back, 0), sizeof back);
    CHECK(memcmp(back, buf, sizeof buf) == 0);
    CHECK(server_nlink(ino, 0));
    CHECK_OK(close(fd2));
    CHECK(server_freed(ino));                              /* gone after the last close */
    CHECK(tu_file_has(P("f"), "new"));

    /* the same when a rename replaces the open file */
    REQUIRE(tu_write_file(P("victim"), "old data", 8) == 0);
    REQUIRE(tu_write_file(P("src"), "replacement", 11) == 0);
    fd = open(P("victim"), O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK_OK(fstat(fd, &st));
    ino = st.st_ino;
    CHECK_OK(rename(P("src"), P("victim")));
    char small[32] = { 0 };
    CHECK_EQ(pread(fd, small, sizeof small, 0), 8);
    CHECK(memcmp(small, "old data", 8) == 0);
    CHECK(tu_file_has(P("victim"), "replacement"));
    CHECK_OK(close(fd));
    CHECK(server_freed(ino));

    /* one name of two removed while open: the inode stays after the close */
    REQUIRE(tu_write_file(P("h1"), "shared", 6) == 0);
    CHECK_OK(link(P("h1"), P("h2")));
    fd = open(P("h1"), O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK_OK(fstat(fd, &st));
    CHECK_OK(unlink(P("h1")));
    CHECK_OK(close(fd));
    CHECK(fuse_quiet());   /* the (asynchronous) RELEASE was handled */
    CHECK(tu_file_has(P("h2"), "shared"));
    CHECK(server_nlink(st.st_ino, 1));
}

/* An open and an unlink of the same file at once, as two threads race them:
 * either the open fails (the file was gone first) or it opens the whole file,
 * whose data stays readable from the server after the unlink (the mount keeps
 * it, BFS_UNLINK_KEEP). Never an open file whose data the server freed. */
struct race {
    pthread_barrier_t go;
    char path[PATH_MAX];
    const uint8_t *data;
    size_t len;
    int rounds, opened, lost;
};

static void *race_opener(void *arg)
{
    struct race *r = arg;
    static uint8_t back[3 * CHUNK];
    for (int i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(&r->go);
        int fd = open(r->path, O_RDONLY);
        if (fd >= 0) {
            r->opened++;
            /* Past the kernel's page cache: the bytes come from the server. */
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            ssize_t n = tu_pread_all(fd, back, r->len, 0);
            if (n != (ssize_t)r->len || memcmp(back, r->data, r->len) != 0)
                r->lost++;
            close(fd);
        }
        pthread_barrier_wait(&r->go);
    }
    return NULL;
}

static void test_unlink_open_race(void)
{
    static uint8_t buf[2 * CHUNK + 100];
    tu_fill(buf, sizeof buf, 33);
    struct race r = { .data = buf, .len = sizeof buf, .rounds = 1000 };
    snprintf(r.path, sizeof r.path, "%s", P("racy"));
    REQUIRE(pthread_barrier_init(&r.go, NULL, 2) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, race_opener, &r) == 0);
    int unlinked = 0;
    for (int i = 0; i < r.rounds; i++) {
        int ok = tu_write_file(r.path, buf, sizeof buf) == 0;
        pthread_barrier_wait(&r.go);
        unlinked += ok && unlink(r.path) == 0;
        pthread_barrier_wait(&r.go);
    }
    pthread_join(th, NULL);
    pthread_barrier_destroy(&r.go);
    CHECK_EQ(unlinked, r.rounds);
    if (r.lost)
        fprintf(stderr, "  %d of %d opens raced by an unlink lost the file's data\n", r.lost, r.opened);
    CHECK_EQ(r.lost, 0);
    CHECK(r.opened > 0);   /* the race was run, not always lost by the open */
}

/* Names e00000..e(n-1) in P(sub), made with mknod (one create each). */
static int make_entries(const char *sub, int n)
{
    char path[PATH_MAX];
    for (int i = 0; i < n; i++) {
        if (snprintf(path, sizeof path, "%s/%s/e%05d", dir, sub, i) >= (int)sizeof path)
            return -1;
        if (mknod(path, S_IFREG | 0644, 0) != 0) {
            fprintf(stderr, "  mknod %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Reads the directory; counts each eNNNNN name in seen[]. Returns the number
 * of entries other than "." and ".." or -1; checks "." and ".." come once. */
static int count_entries(const char *path, unsigned char *seen, int n)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int total = 0, dots = 0, bad = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
            dots++;
            continue;
        }
        total++;
        int i;
        char extra;
        if (sscanf(e->d_name, "e%d%c", &i, &extra) != 1 || i < 0 || i >= n) {
            if (bad++ < 5)
                fprintf(stderr, "  unexpected entry %s\n", e->d_name);
            continue;
        }
        if (seen[i] < 255)
            seen[i]++;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN && bad++ < 5)
            fprintf(stderr, "  %s: d_type %d\n", e->d_name, e->d_type);
    }
    int err = errno;
    closedir(d);
    if (err) {
        fprintf(stderr, "  readdir %s: %s\n", path, strerror(err));
        return -1;
    }
    if (dots != 2) {
        fprintf(stderr, "  %d dot entries\n", dots);
        return -1;
    }
    return bad ? -1 : total;
}

static int each_once(const unsigned char *seen, int n)
{
    int missing = 0, dup = 0;
    for (int i = 0; i < n; i++) {
        if (seen[i] == 0 && missing++ < 5)
            fprintf(stderr, "  e%05d missing\n", i);
        if (seen[i] > 1 && dup++ < 5)
            fprintf(stderr, "  e%05d seen %d times\n", i, seen[i]);
    }
    return missing == 0 && dup == 0;
}

static void test_readdir_20000(void)
{
    const int n = 20000;
    CHECK_OK(mkdir(P("big"), 0755));
    REQUIRE(make_entries("big", n) == 0);
    unsigned char *seen = calloc((size_t)n, 1);
    REQUIRE(seen);
    CHECK_EQ(count_entries(P("big"), seen, n), n);
    CHECK(each_once(seen, n));
    /* again (the kernel now has the entries cached; the listing is the same) */
    memset(seen, 0, (size_t)n);
    CHECK_EQ(count_entries(P("big"), seen, n), n);
    CHECK(each_once(seen, n));
    free(seen);
}

/* telldir/seekdir: positions taken on the way resume at the same entry. */
static void test_seekdir(void)
{
    const int n = 600;   /* several FUSE readdir requests' worth */
    CHECK_OK(mkdir(P("s"), 0755));
    REQUIRE(make_entries("s", n) == 0);
    DIR *d = opendir(P("s"));
    REQUIRE(d);
    long *pos = calloc((size_t)n + 2, sizeof *pos);
    char (*names)[16] = calloc((size_t)n + 2, sizeof *names);
    REQUIRE(pos && names);
    int k = 0;
    struct dirent *e;
    for (;;) {
        long p = telldir(d);
        if (!(e = readdir(d)))
            break;
        if (k < n + 2) {
            pos[k] = p;
            snprintf(names[k], sizeof names[k], "%.15s", e->d_name);
        }
        k++;
    }
    CHECK_EQ(k, n + 2);
    if (k > n + 2)
        k = n + 2;
    /* seek to a sample of positions, in no particular order */
    const int at[] = { 0, 1, 2, 3, 137, k - 1, 250, 2, 511, 300, 599, k / 2 };
    for (size_t j = 0; j < sizeof at / sizeof at[0]; j++) {
        int i = at[j];
        if (i < 0 || i >= k)
            continue;
        seekdir(d, pos[i]);
        e = readdir(d);
        if (!e || strcmp(e->d_name, names[i]) != 0) {
            fprintf(stderr, "  seekdir to #%d: got %s, wanted %s\n", i, e ? e->d_name : "(end)",
                    names[i]);
            CHECK(0);
        }
    }
    /* resume from the middle: exactly the rest, in the same order */
    int from = k / 3, i = from, same = 1;
    seekdir(d, pos[from]);
    while ((e = readdir(d))) {
        if (i >= k || strcmp(e->d_name, names[i]) != 0)
            same = 0;
        i++;
    }
    CHECK(same);
    CHECK_EQ(i, k);
    /* rewinddir starts over */
    rewinddir(d);
    i = 0;
    while (readdir(d))
        i++;
    CHECK_EQ(i, k);
    closedir(d);
    free(pos);
    free(names);
}

/* rm -r's pattern: unlink each entry as it is read; every entry comes once
 * and the directory ends up empty. */
static void test_readdir_while_unlinking(void)
{
    const int n = 1000;
    CHECK_OK(mkdir(P("u"), 0755));
    REQUIRE(make_entries("u", n) == 0);
    unsigned char *seen = calloc((size_t)n, 1);
    REQUIRE(seen);
    DIR *d = opendir(P("u"));
    REQUIRE(d);
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(d))) {
        int i;
        if (sscanf(e->d_name, "e%d", &i) != 1 || i < 0 || i >= n)
            continue;
        seen[i]++;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    CHECK_EQ(removed, n);
    CHECK(each_once(seen, n));
    CHECK_OK(rmdir(P("u")));
    free(seen);
}

static void test_access(void)
{
    REQUIRE(tu_write_file(P("f"), "x", 1) == 0);
    CHECK_OK(chmod(P("f"), 0644));
    CHECK_OK(access(P("f"), F_OK));
    CHECK_OK(access(P("f"), R_OK | W_OK));
    if (geteuid() == 0)
        CHECK_ERR(access(P("f"), X_OK), EACCES);           /* root, but no x bit at all */
    CHECK_OK(chmod(P("f"), 0755));
    CHECK_OK(access(P("f"), R_OK | W_OK | X_OK));
    CHECK_OK(chmod(P("f"), 0));
    if (geteuid() == 0)
        CHECK_OK(access(P("f"), R_OK | W_OK));             /* root reads and writes anyway */
    CHECK_OK(mkdir(P("d"), 0700));
    CHECK_OK(access(P("d"), R_OK | W_OK | X_OK));
    CHECK_ERR(access(P("missing"), F_OK), ENOENT);
    CHECK_ERR(access(P("f/x"), F_OK), ENOTDIR);
    CHECK_OK(faccessat(AT_FDCWD, P("f"), F_OK, AT_EACCESS));
}

/* mmap: shared writable mappings reach the file; mappings see written data. */
static void test_mmap(void)
{
    const size_t len = 2 * CHUNK + 100;
    uint8_t *want = malloc(len), *back = malloc(len);
    REQUIRE(want && back);
    tu_fill(want, len, 31);
    REQUIRE(tu_write_file(P("m"), want, len) == 0);
    int fd = open(P("m"), O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        CHECK(memcmp(m, want, len) == 0);
        memcpy(m + CHUNK - 2, "MMAP", 4);
        memcpy(want + CHUNK - 2, "MMAP", 4);
        CHECK_OK(msync(m, len, MS_SYNC));
        CHECK_OK(munmap(m, len));
    }
    close(fd);
    CHECK_EQ(tu_read_file(P("m"), back, len), len);
    CHECK(memcmp(back, want, len) == 0);
    struct stat st;
    CHECK_OK(stat(P("m"), &st));
    CHECK(server_has(st.st_ino, want, len, 0));
    free(want);
    free(back);
}

/* Several threads write disjoint parts of one file at once (the FUSE client
 * serves requests on several threads), then all is read back. */
struct tw { int fd; int idx; int ok; };
enum { TW_THREADS = 4, TW_PART = 3 * CHUNK + 333 };

static void *thread_writer(void *arg)
{
    struct tw *t = arg;
    uint8_t *buf = malloc(TW_PART);
    if (!buf)
        return NULL;
    tu_fill(buf, TW_PART, (uint64_t)t->idx * 77);
    t->ok = 1;
    /* in odd-sized pieces, so requests from all threads interleave */
    for (size_t off = 0; off < TW_PART; off += 5000) {
        size_t n = TW_PART - off < 5000 ? TW_PART - off : 5000;
        if (tu_pwrite_all(t->fd, buf + off, n, (off_t)t->idx * TW_PART + (off_t)off) != (ssize_t)n)
            t->ok = 0;
    }
    free(buf);
    return NULL;
}

static void test_concurrent_writers(void)
{
    int fd = open(P("c"), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    pthread_t th[TW_THREADS];
    struct tw t[TW_THREADS];
    for (int i = 0; i < TW_THREADS; i++) {
        t[i] = (struct tw){ .fd = fd, .idx = i };
        CHECK_EQ(pthread_create(&th[i], NULL, thread_writer, &t[i]), 0);
    }
    for (int i = 0; i < TW_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(t[i].ok);
    }
    close(fd);
    size_t len = (size_t)TW_THREADS * TW_PART;
    uint8_t *back = malloc(len), *want = malloc(TW_PART);
    REQUIRE(back && want);
    CHECK_EQ(tu_read_file(P("c"), back, len), len);
    for (int i = 0; i < TW_THREADS; i++) {
        tu_fill(want, TW_PART, (uint64_t)i * 77);
        CHECK(memcmp(back + (size_t)i * TW_PART, want, TW_PART) == 0);
    }
    free(back);
    free(want);
}

/* d_type of name in the current test's directory; DT_UNKNOWN if not listed once. */
static int dtype_of(const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int type = DT_UNKNOWN, n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, name) == 0) {
            type = e->d_type;
            n++;
        }
    if (d)
        closedir(d);
    return n == 1 ? type : DT_UNKNOWN;
}

/* Reaps child pid: 1 if it exited 0. */
static int child_ok(pid_t pid)
{
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "  child: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return 0;
    }
    return 1;
}

/* FIFOs, sockets, character and block devices: mknod makes them, stat shows
 * type, mode and rdev, readdir their d_type; they are linked, renamed and
 * removed like files. */
static void test_special_files(void)
{
    const struct { const char *name; mode_t mode; dev_t rdev; int dtype; } sp[] = {
        { "fifo", S_IFIFO | 0640, 0, DT_FIFO },
        { "sock", S_IFSOCK | 0644, 0, DT_SOCK },
        { "null", S_IFCHR | 0666, makedev(1, 3), DT_CHR },
        { "disk", S_IFBLK | 0660, makedev(8, 1), DT_BLK },
        { "wide", S_IFCHR | 0600, makedev(300, 70000), DT_CHR },
    };
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        const char *n = sp[i].name;
        char moved[64];
        struct stat st, st2;
        if (mknod(P("%s", n), sp[i].mode, sp[i].rdev) != 0) {
            fprintf(stderr, "  mknod %s: %s\n", n, strerror(errno));
            test_failed_checks++;
            continue;
        }
        CHECK_OK(lstat(P("%s", n), &st));
        CHECK_EQ(st.st_mode, sp[i].mode & ~(mode_t)022);
        CHECK_EQ(st.st_rdev, sp[i].rdev);
        CHECK_EQ(st.st_size, 0);
        CHECK_EQ(st.st_blocks, 0);
        CHECK_EQ(st.st_nlink, 1);
        CHECK_EQ(st.st_uid, getuid());
        CHECK_EQ(dtype_of(n), sp[i].dtype);
        CHECK_ERR(mknod(P("%s", n), sp[i].mode, sp[i].rdev), EEXIST);
        /* a hard link: one inode, two names */
        CHECK_OK(link(P("%s", n), P("%s.link", n)));
        CHECK_OK(lstat(P("%s.link", n), &st2));
        CHECK(st2.st_ino == st.st_ino && st2.st_nlink == 2 && st2.st_rdev == sp[i].rdev);
        /* renamed, and then over a regular file */
        CHECK_OK(rename(P("%s", n), P("%s.moved", n)));
        CHECK(!exists(P("%s", n)));
        CHECK_OK(lstat(P("%s.moved", n), &st2));
        CHECK(st2.st_ino == st.st_ino && st2.st_mode == st.st_mode && st2.st_rdev == sp[i].rdev);
        snprintf(moved, sizeof moved, "%s.moved", n);
        CHECK_EQ(dtype_of(moved), sp[i].dtype);
        CHECK_OK(tu_write_file(P("%s.reg", n), "x", 1));
        CHECK_OK(rename(P("%s.moved", n), P("%s.reg", n)));
        CHECK_OK(lstat(P("%s.reg", n), &st2));
        CHECK(st2.st_ino == st.st_ino && (st2.st_mode & S_IFMT) == (sp[i].mode & S_IFMT));
        /* chmod keeps type and rdev */
        CHECK_OK(chmod(P("%s.reg", n), 0604));
        CHECK_OK(lstat(P("%s.link", n), &st2));
        CHECK(st2.st_mode == ((sp[i].mode & S_IFMT) | 0604) && st2.st_rdev == sp[i].rdev);
        CHECK_OK(unlink(P("%s.reg", n)));
        CHECK_OK(unlink(P("%s.link", n)));
        CHECK(!exists(P("%s.link", n)));
        CHECK(server_freed(st.st_ino));
    }
    /* a FIFO has no size to change; a socket in a directory keeps rmdir off */
    CHECK_OK(mkfifo(P("p"), 0644));
    CHECK_ERR(truncate(P("p"), 10), EINVAL);
    struct stat st;
    CHECK(lstat(P("p"), &st) == 0 && S_ISFIFO(st.st_mode) && st.st_size == 0);
    CHECK_OK(mkdir(P("sub"), 0755));
    CHECK_OK(mknod(P("sub/s"), S_IFSOCK | 0600, 0));
    CHECK_ERR(rmdir(P("sub")), ENOTEMPTY);
    CHECK_OK(rename(P("sub/s"), P("s")));
    CHECK_OK(rmdir(P("sub")));
    CHECK_EQ(dtype_of("s"), DT_SOCK);
    CHECK_EQ(dtype_of("p"), DT_FIFO);
}

/* A FIFO on the mount is a pipe: what one process writes, another reads,
 * through the kernel (BenchFS only keeps the node). Bounded by alarm(). */
static void test_fifo_pipe(void)
{
    static char buf[200000], back[sizeof buf + 1];
    tu_fill((uint8_t *)buf, sizeof buf, 9);   /* more than a pipe holds: the writer blocks */
    REQUIRE(mkfifo(P("pipe"), 0600) == 0);
    const char *path = P("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        int fd = open(path, O_WRONLY);
        if (fd < 0)
            _exit(2);
        for (size_t off = 0; off < sizeof buf;) {
            ssize_t n = write(fd, buf + off, sizeof buf - off < 7000 ? sizeof buf - off : 7000);
            if (n <= 0)
                _exit(3);
            off += (size_t)n;
        }
        _exit(close(fd) == 0 ? 0 : 4);
    }
    REQUIRE(pid > 0);
    alarm(30);
    int fd = open(path, O_RDONLY);
    size_t got = 0;
    ssize_t n = 0;
    while (fd >= 0 && got < sizeof back && (n = read(fd, back + got, sizeof back - got)) > 0)
        got += (size_t)n;
    alarm(0);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    CHECK(child_ok(pid));
    CHECK_EQ(got, sizeof buf);   /* and then EOF: the writer closed */
    CHECK(memcmp(buf, back, sizeof buf) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_size == 0);
    CHECK_OK(unlink(path));
}

/* bind() of an AF_UNIX socket makes a socket node on the mount (FUSE mknod);
 * connect() to that path reaches the listener. Bounded by alarm(). */
static void test_unix_socket(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const char *path = P("sk");
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "  %s: too long for sun_path, not tested\n", path);
        return;
    }
    strcpy(sa.sun_path, path);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(ls >= 0);
    CHECK_OK(bind(ls, (struct sockaddr *)&sa, sizeof sa));
    CHECK_OK(listen(ls, 1));
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK_EQ(dtype_of("sk"), DT_SOCK);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        char reply[8] = { 0 };
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
            _exit(2);
        if (write(s, "ping", 4) != 4 || read(s, reply, 4) != 4 || memcmp(reply, "pong", 4))
            _exit(3);
        _exit(0);
    }
    REQUIRE(pid > 0);
    alarm(30);
    int cs = accept(ls, NULL, NULL);
    char msg[8] = { 0 };
    CHECK(cs >= 0);
    CHECK(cs >= 0 && read(cs, msg, 4) == 4 && memcmp(msg, "ping", 4) == 0);
    CHECK(cs >= 0 && write(cs, "pong", 4) == 4);
    CHECK(child_ok(pid));
    alarm(0);
    if (cs >= 0)
        close(cs);
    close(ls);
    int again = socket(AF_UNIX, SOCK_STREAM, 0);   /* the name is taken while it exists */
    CHECK_ERR(bind(again, (struct sockaddr *)&sa, sizeof sa), EADDRINUSE);
    close(again);
    CHECK_OK(unlink(path));
    CHECK(!exists(path));
}

/* Whether path's st_blocks is within [lo, hi]. The kernel's attributes may be
 * up to attr_timeout (1 s by default) old: under -o writeback_cache a write
 * does not refresh them (nor do the servers see it before write-back), so a
 * value out of range is asked again once they expire. */
static int blocks_within(const char *path, blkcnt_t lo, blkcnt_t hi)
{
    struct stat st;
    for (int i = 0; i < 3; i++) {
        if (stat(path, &st) != 0)
            return 0;
        if (st.st_blocks >= lo && st.st_blocks <= hi)
            return 1;
        usleep(600000);
    }
    fprintf(stderr, "  %s: st_blocks %lld, want %lld..%lld\n", path, (long long)st.st_blocks,
            (long long)lo, (long long)hi);
    return 0;
}

/* st_blocks counts what writes stored: all of a file written from 0, little
 * of a sparse one, nothing of one only truncated up. du relies on it. */
static void test_blocks(void)
{
    static uint8_t buf[200000];
    const blkcnt_t dense = (blkcnt_t)(sizeof buf + 511) / 512;
    tu_fill(buf, sizeof buf, 4);
    REQUIRE(tu_write_file(P("dense"), buf, sizeof buf) == 0);
    CHECK(blocks_within(P("dense"), dense, dense));
    REQUIRE(tu_write_file(P("small"), "hi", 2) == 0);
    CHECK(blocks_within(P("small"), 1, 1));
    int fd = open(P("sparse"), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    CHECK_EQ(pwrite(fd, "x", 1, (off_t)1 << 30), 1);
    CHECK_OK(fsync(fd));   /* written back, under -o writeback_cache too */
    CHECK_EQ(size_of(P("sparse")), ((off_t)1 << 30) + 1);
    CHECK(blocks_within(P("sparse"), 1, 8));
    CHECK_OK(ftruncate(fd, (off_t)1 << 40));
    CHECK(blocks_within(P("sparse"), 1, 8));
    close(fd);
    CHECK_OK(truncate(P("dense"), 1000));
    CHECK(blocks_within(P("dense"), 2, 2));
    fd = open(P("hole"), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    CHECK_OK(ftruncate(fd, 5 * CHUNK));
    close(fd);
    CHECK(blocks_within(P("hole"), 0, 0));
}

/* ---------------------------------------------------------------- main */

static char **only;   /* the TEST arguments, NULL-terminated; NULL: all */

static int selected(const char *name)
{
    if (!only || !*only)
        return 1;
    for (char **o = only; *o; o++)
        if (!strcmp(*o, name))
            return 1;
    return 0;
}

#define T(fn) do { \
        if (!selected(#fn + 5)) break; \
        snprintf(dir, sizeof dir, "%s/%s", top, #fn + 5); \
        if (mkdir(dir, 0755) != 0) { \
            fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno)); \
            printf("FAIL: %s\n", #fn); test_failed++; \
        } else RUN(fn); \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MOUNTDIR [REGISTRY|-] [TEST...]\n"
                        "       %s --inode REGISTRY INO\n", argv[0], argv[0]);
        return 2;
    }
    if (!strcmp(argv[1], "--inode")) {
        if (argc != 4)
            return 2;
        struct bfs_client_opts o = { .registry_dir = argv[2], .registry_timeout_s = 10,
                                     .rpc_timeout_s = 10 };
        if (bfs_client_open(&o, &cl) < 0)
            return 2;
        struct bfs_attr a;
        int rc = bfs_getattr(cl, strtoull(argv[3], NULL, 0), &a);
        if (rc == 0)
            printf("inode %s: nlink %u\n", argv[3], a.nlink);
        bfs_client_close(cl);
        return rc == 0 ? 0 : rc == -ENOENT ? 1 : 2;
    }
    if (argc >= 4)
        only = argv + 3;
    if (argc >= 3 && strcmp(argv[2], "-") != 0) {
        struct bfs_client_opts o = { .registry_dir = argv[2], .registry_timeout_s = 10,
                                     .rpc_timeout_s = 10 };
        int rc = bfs_client_open(&o, &cl);
        if (rc < 0) {
            fprintf(stderr, "cannot connect to the servers of %s: %s\n", argv[2], strerror(-rc));
            return 1;
        }
        if (bfs_client_chunk_size(cl) != CHUNK) {
            fprintf(stderr, "the server must run with --chunk-size 64K\n");
            return 1;
        }
    }
    snprintf(top, sizeof top, "%s/tfuse.%d", argv[1], (int)getpid());
    if (mkdir(top, 0755) != 0) {
        fprintf(stderr, "mkdir %s: %s\n", top, strerror(errno));
        return 1;
    }
    umask(022);
    T(test_create_read_write);
    T(test_odd_offsets_chunks);
    T(test_sparse);
    T(test_truncate);
    T(test_append);
    T(test_excl_eexist);
    T(test_enoent);
    T(test_enotdir);
    T(test_eisdir);
    T(test_mkdir_rmdir);
    T(test_rename_file);
    T(test_rename_dir);
    T(test_rename_noreplace);
    T(test_hardlink);
    T(test_symlink);
    T(test_chmod_chown_utimens);
    T(test_parent_attrs_after_changes);
    T(test_statfs);
    T(test_fsync);
    T(test_unlink_while_open);
    T(test_unlink_open_race);
    T(test_readdir_20000);
    T(test_seekdir);
    T(test_readdir_while_unlinking);
    T(test_access);
    T(test_mmap);
    T(test_concurrent_writers);
    T(test_special_files);
    T(test_fifo_pipe);
    T(test_unix_socket);
    T(test_blocks);
    bfs_client_close(cl);
    return test_summary();
}
