/* test_dataops.c - O_APPEND across clients, fallocate, SEEK_DATA/SEEK_HOLE and
 * copy_file_range through real mounts (and the client library), for dataops.sh.
 *
 *   test_dataops append MNT1 MNT2    4 writers, 2 on each mount, append 10,000
 *                                    records each to one file: every record
 *                                    present exactly once and intact
 *   test_dataops fs MNT REGISTRY     O_APPEND offsets of one writer, bfs_append,
 *                                    fallocate modes, SEEK_DATA/SEEK_HOLE,
 *                                    copy_file_range correctness, a server's
 *                                    copy beside a migration of its destination
 *   test_dataops local MNT REGISTRY  copies that the servers do alone: their
 *                                    READ/WRITE counters do not move (run it while
 *                                    nothing else uses the cluster)
 *
 * The servers run with --chunk-size 64K (CHUNK). One "PASS: name" / "FAIL: name"
 * line per test (tests/test.h); every test works in MNT/tdata.PID.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/placement.h"
#include "../../common/rpc.h"
#include "../../common/proto.h"
#include "../test.h"

#define CHUNK 65536
#define WRITERS 4
#define RECORDS 10000

static char top[PATH_MAX];
static struct bfs_client *cl;

#define CHECK_OK(call) do { errno = 0; long _r = (long)(call); if (_r < 0) { \
    fprintf(stderr, "  %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, strerror(errno)); \
    test_failed_checks++; } } while (0)
#define CHECK_ERR(call, e) do { errno = 0; long _r = (long)(call); int _e = errno; \
    if (_r != -1 || _e != (e)) { \
        fprintf(stderr, "  %s:%d: %s: wanted -1 errno %s, got %ld errno %s\n", __FILE__, \
                __LINE__, #call, strerror(e), _r, strerror(_e)); test_failed_checks++; } } while (0)

static const char *P(const char *fmt, ...)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ & 3];
    int n = snprintf(b, PATH_MAX, "%s/", top);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, (size_t)(PATH_MAX - n), fmt, ap);
    va_end(ap);
    return b;
}

/* Byte i of the test pattern of file seed. */
static unsigned char pat(unsigned seed, uint64_t i)
{
    return (unsigned char)('A' + (i * 7 + seed * 13 + i / 251) % 53);
}

static void fill(unsigned char *b, unsigned seed, uint64_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pat(seed, from + i);
}

static int pwrite_all(int fd, const void *b, size_t n, off_t off)
{
    return pwrite(fd, b, n, off) == (ssize_t)n ? 0 : -1;
}

/* Reads all of path into a malloc'd buffer (*len bytes). */
static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    unsigned char *b = NULL;
    *len = 0;
    if (fd < 0 || fstat(fd, &st) < 0 || !(b = malloc((size_t)st.st_size + 1)))
        goto out;
    while (*len < (size_t)st.st_size) {
        ssize_t n = read(fd, b + *len, (size_t)st.st_size - *len);
        if (n <= 0)
            break;
        *len += (size_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
    return b;
}

static int is_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static long long blocks_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long long)st.st_blocks : -1;
}

static long long size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
}

/* ------------------------------------------------------------ O_APPEND */

/* Record: "R<w>:<seq 6>:<len 3>:" + len payload bytes + '\n'; lengths vary so
 * that records straddle chunk boundaries anywhere. */
#define HDR 15
static size_t record(char *b, int w, int seq)
{
    int len = 10 + (seq * 7 + w * 3) % 50;
    snprintf(b, HDR + 1, "R%d:%06d:%03d:", w, seq, len);
    memset(b + HDR, 'a' + (w * 31 + seq) % 26, (size_t)len);
    b[HDR + len] = '\n';
    return HDR + (size_t)len + 1;
}

static int writer(const char *path, int w)
{
    char b[128];
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    for (int i = 0; i < RECORDS; i++) {
        size_t n = record(b, w, i);
        if (write(fd, b, n) != (ssize_t)n) {
            fprintf(stderr, "writer %d record %d: %s\n", w, i, strerror(errno));
            return 1;
        }
    }
    return close(fd) < 0;
}

static const char *mnt1, *mnt2;

static void test_append_many_writers(void)
{
    char path[2][PATH_MAX + 64];
    snprintf(path[0], sizeof path[0], "%s/log", top);
    snprintf(path[1], sizeof path[1], "%.2048s/tdata.%d/log", mnt2, (int)getpid());
    int fd = open(path[0], O_CREAT | O_EXCL | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        if ((pids[w] = fork()) == 0)
            _exit(writer(path[w % 2], w));
        REQUIRE(pids[w] > 0);
    }
    for (int w = 0; w < WRITERS; w++) {
        int st;
        CHECK(waitpid(pids[w], &st, 0) == pids[w] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    size_t len, want = 0;
    char b[128];
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < RECORDS; i++)
            want += record(b, w, i);
    unsigned char *data = slurp(path[1], &len);   /* read through the other mount */
    REQUIRE(data);
    CHECK_EQ(len, want);
    static unsigned char seen[WRITERS][RECORDS];
    memset(seen, 0, sizeof seen);
    size_t pos = 0, bad = 0, dup = 0, count = 0;
    while (pos + HDR <= len && bad < 5) {
        int w, seq, rl;
        char h[HDR + 1];
        memcpy(h, data + pos, HDR);
        h[HDR] = 0;
        if (sscanf(h, "R%d:%6d:%3d:", &w, &seq, &rl) != 3 || w < 0 || w >= WRITERS || seq < 0 ||
            seq >= RECORDS || pos + HDR + (size_t)rl + 1 > len) {
            fprintf(stderr, "  bad record header at %zu: %.15s\n", pos, h);
            bad++;
            break;
        }
        size_t n = record(b, w, seq);
        if (n != HDR + (size_t)rl + 1 || memcmp(b, data + pos, n) != 0) {
            fprintf(stderr, "  record %d/%d at %zu is damaged\n", w, seq, pos);
            bad++;
        }
        dup += seen[w][seq]++ != 0;
        count++;
        pos += n;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(dup, 0);
    CHECK_EQ(pos, len);
    CHECK_EQ(count, WRITERS * RECORDS);
    free(data);
}

static void test_append_offsets(void)
{
    unsigned char b[300];
    int fd = open(P("one"), O_CREAT | O_EXCL | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    fill(b, 1, 0, 100);
    CHECK_OK(pwrite_all(fd, b, 100, 0));
    close(fd);
    fd = open(P("one"), O_RDWR | O_APPEND);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, "0123456789", 10), 10);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 110);   /* the position follows the append */
    /* pwrite on an O_APPEND fd appends (Linux) and leaves the position alone. */
    CHECK_EQ(pwrite(fd, "xyz", 3, 0), 3);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 110);
    CHECK_EQ(size_of(fd), 113);
    /* A seek does not move where the next write goes. */
    CHECK_EQ(lseek(fd, 5, SEEK_SET), 5);
    CHECK_EQ(write(fd, "!", 1), 1);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 114);
    close(fd);
    size_t len;
    unsigned char *d = slurp(P("one"), &len);
    REQUIRE(d);
    CHECK_EQ(len, 114);
    CHECK(memcmp(d, b, 100) == 0 && memcmp(d + 100, "0123456789xyz!", 14) == 0);
    free(d);
    /* O_APPEND on a file another handle writes normally: both land. */
    fd = open(P("two"), O_CREAT | O_EXCL | O_WRONLY | O_APPEND, 0644);
    int fd2 = open(P("two"), O_WRONLY);
    REQUIRE(fd >= 0 && fd2 >= 0);
    CHECK_EQ(write(fd, "aaaa", 4), 4);
    CHECK_EQ(pwrite(fd2, "BB", 2, 1), 2);
    CHECK_EQ(write(fd, "cc", 2), 2);
    close(fd);
    close(fd2);
    d = slurp(P("two"), &len);
    CHECK(d && len == 6 && memcmp(d, "aBBacc", 6) == 0);
    free(d);
}

/* bfs_append: threads of one client get disjoint offsets, and large appends
 * (several chunks, more than one RPC) are whole at theirs. */
struct app_arg { uint64_t ino; int t; uint64_t offs[500]; int err; };

static void *app_thread(void *p)
{
    struct app_arg *a = p;
    unsigned char b[100];
    for (int i = 0; i < 500; i++) {
        memset(b, 'a' + a->t, sizeof b);
        memcpy(b, &i, sizeof i);
        if (bfs_append(cl, a->ino, b, sizeof b, &a->offs[i], NULL) != (ssize_t)sizeof b)
            a->err++;
    }
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void test_append_library(void)
{
    struct bfs_attr dir, f;
    REQUIRE(cl);
    char name[64];
    snprintf(name, sizeof name, "tdata.%d", (int)getpid());
    REQUIRE(bfs_lookup(cl, BFS_ROOT_INO, name, &dir) == 0);
    REQUIRE(bfs_create(cl, dir.ino, "lib", S_IFREG | 0644, 0, 0, &f) == 0);
    static struct app_arg args[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (struct app_arg){ .ino = f.ino, .t = t };
        REQUIRE(pthread_create(&th[t], NULL, app_thread, &args[t]) == 0);
    }
    static uint64_t all[2000];
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ(args[t].err, 0);
        memcpy(all + t * 500, args[t].offs, sizeof args[t].offs);
    }
    qsort(all, 2000, sizeof all[0], cmp_u64);
    for (int i = 0; i < 2000; i++)
        if (all[i] != (uint64_t)i * 100) {
            CHECK_EQ(all[i], (uint64_t)i * 100);
            break;
        }
    unsigned char b[100];
    for (int t = 0; t < 4; t++) {
        CHECK_EQ(bfs_read(cl, f.ino, b, 100, args[t].offs[77]), 100);
        int seq;
        memcpy(&seq, b, sizeof seq);
        CHECK(seq == 77 && b[99] == 'a' + t);
    }
    /* Large: 3 chunks and a bit, and past one RPC. */
    size_t big = 3 * CHUNK + 999, bigger = BFS_MAX_IO + 4 * CHUNK + 5;
    unsigned char *d = malloc(bigger), *r = malloc(bigger);
    REQUIRE(d && r);
    uint64_t o1, o2;
    fill(d, 3, 0, bigger);
    CHECK_EQ(bfs_append(cl, f.ino, d, big, &o1, NULL), (long long)big);
    CHECK_EQ(o1, 200000);
    CHECK_EQ(bfs_append(cl, f.ino, d, bigger, &o2, NULL), (long long)bigger);
    CHECK_EQ(o2, 200000 + big);
    CHECK_EQ(bfs_read(cl, f.ino, r, big, o1), (long long)big);
    CHECK(memcmp(r, d, big) == 0);
    CHECK_EQ(bfs_read(cl, f.ino, r, bigger, o2), (long long)bigger);
    CHECK(memcmp(r, d, bigger) == 0);
    CHECK_EQ(bfs_getattr(cl, f.ino, &f), 0);
    CHECK_EQ(f.size, 200000 + big + bigger);
    CHECK_EQ(f.blocks, (f.size + 511) / 512);
    free(d);
    free(r);
}

/* ----------------------------------------------------------- fallocate */

#ifndef FALLOC_FL_COLLAPSE_RANGE
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#endif

static void test_fallocate_inline(void)
{
    unsigned char b[9000];
    int fd = open(P("small"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    memset(b, 'A', 1000);
    CHECK_OK(pwrite_all(fd, b, 1000, 0));
    CHECK_OK(fallocate(fd, 0, 0, 8192));
    CHECK_EQ(size_of(fd), 8192);
    CHECK_EQ(blocks_of(fd), 16);
    CHECK_EQ(pread(fd, b, 8192, 0), 8192);
    CHECK(b[0] == 'A' && b[999] == 'A' && is_zero(b + 1000, 7192));
    memset(b, 'Z', 8192);
    CHECK_OK(pwrite_all(fd, b, 8192, 0));
    CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1024, 4096));
    CHECK_EQ(size_of(fd), 8192);
    CHECK_EQ(blocks_of(fd), 8);   /* 4096 of 8192 bytes stored */
    CHECK_EQ(pread(fd, b, 8192, 0), 8192);
    CHECK(b[1023] == 'Z' && is_zero(b + 1024, 4096) && b[5120] == 'Z' && b[8191] == 'Z');
    /* Zeroing counts as stored; with KEEP_SIZE the size stays. */
    CHECK_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 6000, 1000));
    CHECK_EQ(pread(fd, b, 8192, 0), 8192);
    CHECK(b[5999] == 'Z' && is_zero(b + 6000, 1000) && b[7000] == 'Z');
    CHECK_EQ(size_of(fd), 8192);
    CHECK_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, 8000, 1000));
    CHECK_EQ(size_of(fd), 9000);
    CHECK_EQ(pread(fd, b, 9000, 0), 9000);
    CHECK(b[7999] == 'Z' && is_zero(b + 8000, 1000));
    CHECK_EQ(blocks_of(fd), (9000 - 4096 + 511) / 512);
    CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 9000, 1000));
    CHECK_EQ(size_of(fd), 9000);
    /* Linux's errors: other modes, a hole punched without KEEP_SIZE, bad ranges. */
    CHECK_ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), EOPNOTSUPP);
    CHECK_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP);
    CHECK_ERR(fallocate(fd, 0, 0, 0), EINVAL);
    CHECK_ERR(fallocate(fd, 0, -1, 10), EINVAL);
    CHECK_ERR(fallocate(fd, 0, INT64_MAX - 10, 100), EFBIG);
    CHECK_ERR(fallocate(fd, 0, 0, (off_t)1 << 50), ENOSPC);   /* a PiB */
    close(fd);
    fd = open(P("small"), O_RDONLY);
    CHECK_ERR(fallocate(fd, 0, 0, 10), EBADF);
    close(fd);
}

static void test_fallocate_chunks(void)
{
    size_t n = 3 * CHUNK;
    unsigned char *b = malloc(n + CHUNK), *r = malloc(n + CHUNK);
    REQUIRE(b && r);
    int fd = open(P("big"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    fill(b, 5, 0, n);
    CHECK_OK(pwrite_all(fd, b, n, 0));
    CHECK_EQ(blocks_of(fd), (long long)n / 512);
    /* Across two chunk boundaries: end of chunk 0, all of 1, start of 2. */
    off_t p0 = CHUNK - 1000, plen = CHUNK + 2000;
    CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, p0, plen));
    CHECK_EQ(size_of(fd), (long long)n);
    CHECK_EQ(blocks_of(fd), ((long long)n - plen + 511) / 512);
    CHECK_EQ(pread(fd, r, n, 0), (ssize_t)n);
    CHECK(memcmp(r, b, (size_t)p0) == 0 && is_zero(r + p0, (size_t)plen) &&
          memcmp(r + p0 + plen, b + p0 + plen, n - (size_t)(p0 + plen)) == 0);
    /* The hole shows in SEEK_HOLE/SEEK_DATA (at file-system block granularity). */
    off_t h = lseek(fd, 0, SEEK_HOLE), d = lseek(fd, CHUNK, SEEK_DATA);
    CHECK(h >= p0 && h <= CHUNK);
    CHECK(d >= 2 * CHUNK && d <= p0 + plen);
    /* Zero across a boundary, growing the file. */
    off_t z = 2 * CHUNK + 5000;
    CHECK_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, z, CHUNK));
    CHECK_EQ(size_of(fd), z + CHUNK);
    CHECK_EQ(pread(fd, r, n + 5000, 0), (ssize_t)n + 5000);
    CHECK(memcmp(r + p0 + plen, b + p0 + plen, (size_t)(z - p0 - plen)) == 0 && is_zero(r + z, CHUNK));
    close(fd);
    /* Allocation of a new file across chunks: size, blocks, zeros, and writes after. */
    fd = open(P("alloc"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_OK(posix_fallocate(fd, 0, 3 * CHUNK + 10));
    CHECK_EQ(size_of(fd), 3 * CHUNK + 10);
    CHECK_EQ(blocks_of(fd), (3 * CHUNK + 10 + 511) / 512);
    CHECK_EQ(pread(fd, r, n + 10, 0), (ssize_t)n + 10);
    CHECK(is_zero(r, n + 10));
    CHECK_OK(pwrite_all(fd, b, n, 5));
    CHECK_EQ(pread(fd, r, n + 10, 0), (ssize_t)n + 10);
    CHECK(is_zero(r, 5) && memcmp(r + 5, b, n) == 0 && is_zero(r + 5 + n, 5));
    /* KEEP_SIZE past the end: no size change. */
    CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 3 * CHUNK, 2 * CHUNK));
    CHECK_EQ(size_of(fd), 3 * CHUNK + 10);
    close(fd);
    free(b);
    free(r);
}

/* ---------------------------------------------------- SEEK_DATA / HOLE */

static void test_seek(void)
{
    unsigned char b[4096];
    memset(b, 'D', sizeof b);
    /* Absent chunks before the data, a short last chunk file. */
    int fd = open(P("sparse"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_OK(pwrite_all(fd, b, 100, 5 * CHUNK + 10));
    off_t d = lseek(fd, 0, SEEK_DATA);
    CHECK(d >= 5 * CHUNK && d <= 5 * CHUNK + 10);
    CHECK_EQ(lseek(fd, 0, SEEK_HOLE), 0);
    CHECK_EQ(lseek(fd, 5 * CHUNK + 10, SEEK_HOLE), 5 * CHUNK + 110);
    CHECK_EQ(lseek(fd, 5 * CHUNK + 50, SEEK_DATA), 5 * CHUNK + 50);
    CHECK_ERR(lseek(fd, 5 * CHUNK + 110, SEEK_DATA), ENXIO);
    CHECK_ERR(lseek(fd, 5 * CHUNK + 110, SEEK_HOLE), ENXIO);
    CHECK_ERR(lseek(fd, 6 * CHUNK, SEEK_DATA), ENXIO);
    close(fd);
    /* Holes within one chunk file. */
    fd = open(P("holes"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_OK(pwrite_all(fd, b, 4096, CHUNK));
    CHECK_OK(pwrite_all(fd, b, 4096, CHUNK + 32768));
    CHECK_EQ(lseek(fd, 0, SEEK_DATA), CHUNK);
    CHECK_EQ(lseek(fd, CHUNK, SEEK_HOLE), CHUNK + 4096);
    CHECK_EQ(lseek(fd, CHUNK + 4096, SEEK_DATA), CHUNK + 32768);
    CHECK_EQ(lseek(fd, CHUNK + 32768, SEEK_HOLE), CHUNK + 36864);
    CHECK_EQ(lseek(fd, 100, SEEK_HOLE), 100);
    close(fd);
    /* An inline small file is data up to its end; a dense one has no hole before it. */
    fd = open(P("inl"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_OK(pwrite_all(fd, b, 1000, 0));
    CHECK_EQ(lseek(fd, 0, SEEK_DATA), 0);
    CHECK_EQ(lseek(fd, 500, SEEK_DATA), 500);
    CHECK_EQ(lseek(fd, 0, SEEK_HOLE), 1000);
    for (int i = 0; i < 3 * CHUNK / 4096; i++)
        CHECK_OK(pwrite_all(fd, b, 4096, (off_t)i * 4096));
    CHECK_EQ(lseek(fd, 0, SEEK_HOLE), 3 * CHUNK);
    CHECK_EQ(lseek(fd, CHUNK + 5, SEEK_DATA), CHUNK + 5);
    close(fd);
    /* Very sparse: a byte at 1 TiB (2^24 chunk indices: the servers list, not probe). */
    fd = open(P("tera"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    CHECK_OK(pwrite_all(fd, "x", 1, (off_t)1 << 40));
    CHECK_EQ(lseek(fd, 0, SEEK_DATA), (off_t)1 << 40);
    CHECK_EQ(lseek(fd, 0, SEEK_HOLE), 0);
    CHECK_EQ(lseek(fd, ((off_t)1 << 40), SEEK_HOLE), ((off_t)1 << 40) + 1);
    CHECK(blocks_of(fd) <= 8);
    close(fd);
}

/* ----------------------------------------------------- copy_file_range */

static void check_file(const char *path, const unsigned char *want, size_t n)
{
    size_t len;
    unsigned char *d = slurp(path, &len);
    CHECK(d != NULL);
    CHECK_EQ(len, n);
    if (d && len == n && memcmp(d, want, n) != 0) {
        size_t i = 0;
        while (d[i] == want[i])
            i++;
        fprintf(stderr, "  %s differs at %zu\n", path, i);
        test_failed_checks++;
    }
    free(d);
}

static void test_copy_range(void)
{
    size_t n = 3 * CHUNK + 777;
    unsigned char *src = malloc(n), *want = calloc(1, 4 * CHUNK);
    REQUIRE(src && want);
    fill(src, 9, 0, n);
    int s = open(P("csrc"), O_CREAT | O_EXCL | O_RDWR, 0644);
    int d = open(P("cdst"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(s >= 0 && d >= 0);
    CHECK_OK(pwrite_all(s, src, n, 0));
    /* Whole file, offsets by the fds. */
    CHECK_EQ(copy_file_range(s, NULL, d, NULL, n, 0), (ssize_t)n);
    CHECK_EQ(lseek(d, 0, SEEK_CUR), (off_t)n);
    check_file(P("cdst"), src, n);
    /* Unaligned, across chunk boundaries of both, into the middle of dst. */
    loff_t so = 1000, dof = 5000;
    size_t len = 2 * CHUNK + 300;
    memcpy(want, src, n);
    memcpy(want + dof, src + so, len);
    CHECK_EQ(copy_file_range(s, &so, d, &dof, len, 0), (ssize_t)len);
    CHECK_EQ(so, 1000 + (loff_t)len);
    check_file(P("cdst"), want, n);
    /* Past the source's end: short, then nothing. */
    so = (loff_t)n - 10;
    dof = 4 * CHUNK - 10;
    memcpy(want + dof, src + n - 10, 10);
    CHECK_EQ(copy_file_range(s, &so, d, &dof, 100, 0), 10);
    so = (loff_t)n;
    CHECK_EQ(copy_file_range(s, &so, d, &dof, 100, 0), 0);
    check_file(P("cdst"), want, 4 * CHUNK);
    /* Within one file: apart is fine, overlapping is EINVAL (copy_file_range(2)). */
    so = 0;
    dof = 2 * CHUNK + 100;
    memcpy(src + dof, src, 1000);
    CHECK_EQ(copy_file_range(s, &so, s, &dof, 1000, 0), 1000);
    check_file(P("csrc"), src, n);
    so = 0;
    dof = 500;
    CHECK_ERR(copy_file_range(s, &so, s, &dof, 1000, 0), EINVAL);
    /* Inline small files both ways. */
    int t = open(P("ctiny"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(t >= 0);
    CHECK_OK(pwrite_all(t, "tiny file!", 10, 0));
    so = 0;
    dof = 3;
    CHECK_EQ(copy_file_range(s, &so, t, &dof, 20, 0), 20);   /* chunk -> inline */
    unsigned char tw[23];
    memcpy(tw, "tin", 3);
    memcpy(tw + 3, src, 20);
    check_file(P("ctiny"), tw, 23);
    so = 0;
    dof = 3 * CHUNK;
    CHECK_EQ(copy_file_range(t, &so, s, &dof, 100, 0), 23);   /* inline -> chunk */
    memcpy(src + 3 * CHUNK, tw, 23);
    check_file(P("csrc"), src, n);
    close(t);
    close(s);
    close(d);
    free(src);
    free(want);
}

/* A server-side copy into inline bytes while the same file's chunk 0 migrates
 * to a chunk file: one batch of a COPY (chunk K to [0, 4 KiB), read through the
 * chunk store) and a WRITE past the inline limit (the migration, which copies
 * the inline bytes as they were). The copied bytes must survive the
 * migration, whichever order the server ran them in. Raw calls, so that both
 * reach the server at once; rounds with a new file each, since each file
 * migrates once. */
#define INLINE_MAX 16384
#define MIGRATE_ROUNDS 20

static void test_copy_while_migrating(void)
{
    REQUIRE(cl);
    uint32_t nodes = bfs_client_nodes(cl);
    unsigned char old[8192], src[4096], tail[32], got[8192];
    memset(old, 0xdc, sizeof old);
    memset(tail, 0x5a, sizeof tail);
    int bad = 0;
    for (int round = 0; round < MIGRATE_ROUNDS; round++) {
        const char *path = P("mig%d", round);
        int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0644);
        REQUIRE(fd >= 0);
        struct stat st;
        REQUIRE(fstat(fd, &st) == 0);
        uint64_t ino = st.st_ino, k = 1;
        /* A chunk of the source on the server of chunk 0: the server copies alone. */
        while (place_chunk(ino, k, nodes) != place_chunk(ino, 0, nodes))
            k++;
        fill(src, 20 + (unsigned)round, 0, sizeof src);
        CHECK_OK(pwrite_all(fd, old, sizeof old, 0));                   /* inline */
        CHECK_OK(pwrite_all(fd, src, sizeof src, (off_t)(k * CHUNK)));  /* chunk k */
        CHECK_OK(fsync(fd));
        struct rpc_call calls[2];
        uint32_t node = place_chunk(ino, 0, nodes);
        bfs_call_prep(&calls[0], node, OP_COPY);
        calls[0].args.ino = ino;        /* destination: chunk 0 at 0 */
        calls[0].args.parent = ino;     /* source: chunk k at 0 */
        calls[0].args.cookie = k;
        calls[0].args.len = sizeof src;
        bfs_call_prep(&calls[1], node, OP_WRITE);
        calls[1].args.ino = ino;
        calls[1].args.off = INLINE_MAX - sizeof tail / 2;   /* past the limit: migrates */
        calls[1].data = tail;
        calls[1].data_len = sizeof tail;
        CHECK_EQ(bfs_call_run(cl, calls, 2), 0);
        CHECK_EQ(calls[0].status, 0);
        CHECK_EQ(calls[1].status, 0);
        close(fd);
        /* Read back by a new open: what the server has. */
        fd = open(path, O_RDONLY);
        REQUIRE(fd >= 0);
        CHECK_EQ(pread(fd, got, sizeof got, 0), (ssize_t)sizeof got);
        if (memcmp(got, src, sizeof src) != 0 || memcmp(got + sizeof src, old, sizeof old - sizeof src))
            bad++;
        CHECK_EQ(pread(fd, got, sizeof tail, INLINE_MAX - sizeof tail / 2), (ssize_t)sizeof tail);
        CHECK(memcmp(got, tail, sizeof tail) == 0);
        close(fd);
    }
    if (bad)
        fprintf(stderr, "  %d of %d copies lost to the migration that ran beside them\n", bad,
                MIGRATE_ROUNDS);
    CHECK_EQ(bad, 0);
}

/* Copies whose source and destination chunks share a server are done by it:
 * READ and WRITE counters of every server stay, COPY moves. Whole files on one
 * server (every chunk there, inline ones too); on any cluster, within one chunk. */
static int counters(uint64_t *sum)
{
    memset(sum, 0, OP_MAX * sizeof *sum);
    for (uint32_t node = 0; node < bfs_client_nodes(cl); node++) {
        uint64_t c[OP_MAX];
        if (bfs_server_counters(cl, node, c, OP_MAX) != OP_MAX)
            return -1;
        for (int i = 0; i < OP_MAX; i++)
            sum[i] += c[i];
    }
    return 0;
}

static void test_copy_on_servers(void)
{
    REQUIRE(cl);
    size_t n = 2 * CHUNK;
    unsigned char *b = malloc(n), *r = malloc(n);
    REQUIRE(b && r);
    fill(b, 11, 0, n);
    int s = open(P("lsrc"), O_CREAT | O_EXCL | O_RDWR, 0644);
    int d = open(P("ldst"), O_CREAT | O_EXCL | O_RDWR, 0644);
    int t = open(P("ltiny"), O_CREAT | O_EXCL | O_RDWR, 0644);
    REQUIRE(s >= 0 && d >= 0 && t >= 0);
    CHECK_OK(pwrite_all(s, b, n, 0));
    CHECK_OK(pwrite_all(t, b, 100, 0));
    uint64_t before[OP_MAX], after[OP_MAX];
    REQUIRE(counters(before) == 0);
    loff_t so = CHUNK, dof = CHUNK + 8192;
    CHECK_EQ(copy_file_range(s, &so, s, &dof, 4096, 0), 4096);   /* within chunk 1 */
    memcpy(b + CHUNK + 8192, b + CHUNK, 4096);
    if (bfs_client_nodes(cl) == 1) {
        CHECK_EQ(copy_file_range(s, NULL, d, NULL, n, 0), (ssize_t)n);
        so = 0;
        dof = 50;
        CHECK_EQ(copy_file_range(t, &so, t, &dof, 50, 0), 50);   /* inline, both */
    }
    REQUIRE(counters(after) == 0);
    CHECK(after[OP_COPY] > before[OP_COPY]);
    CHECK_EQ(after[OP_READ], before[OP_READ]);
    CHECK_EQ(after[OP_WRITE], before[OP_WRITE]);
    CHECK_EQ(pread(s, r, n, 0), (ssize_t)n);
    CHECK(memcmp(r, b, n) == 0);
    if (bfs_client_nodes(cl) == 1) {
        CHECK_EQ(pread(d, r, n, 0), (ssize_t)n);
        CHECK(memcmp(r, b, n) == 0);
        CHECK_EQ(pread(t, r, 200, 0), 100);
        CHECK(memcmp(r, b, 50) == 0 && memcmp(r + 50, b, 50) == 0);
    }
    close(s);
    close(d);
    close(t);
    free(b);
    free(r);
}

static int open_client(const char *reg)
{
    struct bfs_client_opts o = { .registry_dir = reg, .registry_timeout_s = 10, .rpc_timeout_s = 20 };
    int rc = bfs_client_open(&o, &cl);
    if (rc < 0)
        fprintf(stderr, "cannot connect to %s: %s\n", reg, strerror(-rc));
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_dataops append MNT1 MNT2 | fs MNT REGISTRY | local MNT REGISTRY\n");
        return 2;
    }
    snprintf(top, sizeof top, "%s/tdata.%d", argv[2], (int)getpid());
    if (mkdir(top, 0755) < 0) {
        perror(top);
        return 2;
    }
    if (strcmp(argv[1], "append") == 0) {
        mnt1 = argv[2];
        mnt2 = argv[3];
        RUN(test_append_many_writers);
    } else if (strcmp(argv[1], "fs") == 0) {
        if (open_client(argv[3]) < 0)
            return 2;
        RUN(test_append_offsets);
        RUN(test_append_library);
        RUN(test_fallocate_inline);
        RUN(test_fallocate_chunks);
        RUN(test_seek);
        RUN(test_copy_range);
        RUN(test_copy_while_migrating);
    } else if (strcmp(argv[1], "local") == 0) {
        if (open_client(argv[3]) < 0)
            return 2;
        RUN(test_copy_on_servers);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    bfs_client_close(cl);
    return test_summary();
}
