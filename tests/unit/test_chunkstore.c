/* test_chunkstore.c - server/chunkstore.c on a temporary data directory.
 *
 * The tests drive the store the way the server's event loop does: queue ops,
 * chunkstore_flush, wait on the eventfd (bounded), chunkstore_poll. */
#include "../../common/byteorder.h"
#include "../../common/clock.h"
#include "../../common/placement.h"
#include "../../server/chunkstore_int.h"   /* white-box: the inline-write counters */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024u
#define MiB (1024u * 1024u)

static char g_dir[64];
static int g_calls;   /* callbacks run, all tests */

struct res {
    int n;
    ssize_t res;
};

static void on_done(void *arg, ssize_t res)
{
    struct res *r = arg;
    r->n++;
    r->res = res;
    g_calls++;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int dir_make(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_chunkstore.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static void dir_remove(void)
{
    nftw(g_dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* The owner's loop until `want` callbacks have run in total; bounded. */
static int loop_until(struct chunkstore *cs, int want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (g_calls < want) {
        if (chunkstore_flush(cs) < 0)
            return -1;
        if (chunkstore_arm(cs)) {
            chunkstore_poll(cs);
            continue;
        }
        struct pollfd pfd = { .fd = chunkstore_eventfd(cs), .events = POLLIN };
        int r = poll(&pfd, 1, 3000);
        if (r < 0 && errno != EINTR)
            return -1;
        if (chunkstore_poll(cs) > 0 && r == 0) {
            fprintf(stderr, "  completions were ready but the eventfd stayed quiet\n");
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (g_calls < want && t.tv_sec - t0.tv_sec > 10) {
            fprintf(stderr, "  timeout: %d of %d callbacks ran\n", g_calls, want);
            return -1;
        }
    }
    return 0;
}

static struct chunkstore *store_open(uint32_t chunk_size, uint32_t queue, uint32_t depth,
                                     uint32_t fd_cache)
{
    struct chunkstore_opts o = { .chunk_size = chunk_size, .queue_size = queue,
                                 .buffer_size = 64 * KiB, .buffer_count = 4,
                                 .submit_depth = depth, .fd_cache = fd_cache };
    struct chunkstore *cs = NULL;
    int r = chunkstore_open(g_dir, &o, &cs);
    CHECK_EQ(r, 0);
    return cs;
}

/* One op, waited for: its result, or -ETIME if the callback never ran. */
static ssize_t wait_one(struct chunkstore *cs, int r, struct res *res, int want)
{
    if (r < 0)
        return r;
    if (loop_until(cs, want) < 0 || res->n != 1)
        return -ETIME;
    return res->res;
}

static ssize_t do_write(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                        const void *buf, int bi, size_t len)
{
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    return wait_one(cs, chunkstore_write(cs, ino, idx, off, buf, bi, len, on_done, &res), &res, want);
}

static ssize_t do_read(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                       void *buf, int bi, size_t len)
{
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    return wait_one(cs, chunkstore_read(cs, ino, idx, off, buf, bi, len, on_done, &res), &res, want);
}

static ssize_t do_fsync(struct chunkstore *cs, uint64_t ino, int datasync, int extra_fd)
{
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    return wait_one(cs, chunkstore_fsync(cs, ino, datasync, extra_fd, on_done, &res), &res, want);
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static int all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Looks for chunk (ino, idx) in every bucket; returns how many copies exist and
 * the path and stat of the last one. */
static int chunk_find(uint64_t ino, uint64_t idx, char *path, size_t size, struct stat *st)
{
    int found = 0;
    char p[256];
    struct stat s;
    for (int b = 0; b < 256; b++) {
        snprintf(p, sizeof p, "%s/chunks/%02x/%016llx.%llu", g_dir, b,
                 (unsigned long long)ino, (unsigned long long)idx);
        if (stat(p, &s) == 0) {
            found++;
            if (path)
                snprintf(path, size, "%s", p);
            if (st)
                *st = s;
        }
    }
    return found;
}

static long chunk_size_on_disk(uint64_t ino, uint64_t idx)
{
    struct stat st;
    return chunk_find(ino, idx, NULL, 0, &st) == 1 ? (long)st.st_size : -1;
}

/* Open fds of this process that are chunk files (names with a '.' under chunks/). */
static int open_chunk_fds(void)
{
    int n = 0;
    char link[64], target[512];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len < 0)
            continue;
        target[len] = 0;
        const char *c = strstr(target, "/chunks/");
        if (c && strncmp(target, g_dir, strlen(g_dir)) == 0 && strchr(c, '.'))
            n++;
    }
    return n;
}

static long vm_pin_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmPin: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* ---- tests ---- */

static void test_write_read_roundtrip(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char *a = malloc(MiB), *b = malloc(MiB);
    REQUIRE(a && b);
    fill(a, MiB, 1);
    CHECK_EQ(do_write(cs, 1, 0, 0, a, -1, MiB), MiB);
    memset(b, 0xaa, MiB);
    CHECK_EQ(do_read(cs, 1, 0, 0, b, -1, MiB), MiB);
    CHECK(memcmp(a, b, MiB) == 0);

    /* A piece in the middle of another chunk. */
    CHECK_EQ(do_write(cs, 1, 3, 1000, a + 7, -1, 5000), 5000);
    CHECK_EQ(do_read(cs, 1, 3, 1000, b, -1, 5000), 5000);
    CHECK(memcmp(a + 7, b, 5000) == 0);
    CHECK_EQ(chunkstore_inflight(cs), 0);
    chunkstore_close(cs);
    free(a);
    free(b);
}

/* Large writes start their write-out at once (an io_uring sync_file_range that
 * holds the chunk's fd): with a one-file fd cache, each write evicts the chunk
 * before it while that write-out may still run. Data stays right, close waits. */
static void test_large_writes_start_writeout(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 1);
    REQUIRE(cs);
    unsigned char *a = malloc(MiB), *b = malloc(MiB);
    REQUIRE(a && b);
    for (uint64_t idx = 0; idx < 8; idx++) {
        fill(a, MiB, (int)idx + 1);
        CHECK_EQ(do_write(cs, 5, idx, 0, a, -1, MiB), MiB);
    }
    CHECK_EQ(do_write(cs, 5, 8, 0, a, -1, 256 * KiB - 1), 256 * KiB - 1);   /* below the bar */
    for (uint64_t idx = 0; idx < 8; idx++) {
        fill(a, MiB, (int)idx + 1);
        memset(b, 0, MiB);
        CHECK_EQ(do_read(cs, 5, idx, 0, b, -1, MiB), MiB);
        CHECK(memcmp(a, b, MiB) == 0);
    }
    CHECK_EQ(chunkstore_inflight(cs), 0);
    chunkstore_close(cs);   /* waits for the write-outs still queued */
    free(a);
    free(b);
}

static void test_partial_write_odd_offset(void)
{
    const size_t cz = 64 * KiB;
    struct chunkstore *cs = store_open((uint32_t)cz, 0, 0, 0);
    REQUIRE(cs);
    unsigned char *a = malloc(cz), *b = malloc(16), *got = malloc(cz);
    REQUIRE(a && b && got);
    fill(a, cz, 2);
    fill(b, 16, 3);
    CHECK_EQ(do_write(cs, 2, 0, 0, a, -1, cz), (long long)cz);
    CHECK_EQ(do_write(cs, 2, 0, 4093, b, -1, 10), 10);
    memcpy(a + 4093, b, 10);   /* what the chunk must now hold */
    CHECK_EQ(do_read(cs, 2, 0, 0, got, -1, cz), (long long)cz);
    CHECK(memcmp(a, got, cz) == 0);
    CHECK_EQ(chunk_size_on_disk(2, 0), (long long)cz);
    chunkstore_close(cs);
    free(a);
    free(b);
    free(got);
}

static void test_read_missing_chunk(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char buf[5000];
    memset(buf, 0xaa, sizeof buf);
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    CHECK_EQ(chunkstore_read(cs, 77, 0, 100, buf, -1, sizeof buf, on_done, &res), 0);
    CHECK_EQ(res.n, 0);   /* never from inside the queueing call */
    CHECK_EQ(chunkstore_inflight(cs), 1);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(res.n, 1);
    CHECK_EQ(res.res, (long long)sizeof buf);
    CHECK(all_zero(buf, sizeof buf));
    CHECK_EQ(chunk_find(77, 0, NULL, 0, NULL), 0);   /* a read creates nothing */
    chunkstore_close(cs);
}

static void test_read_past_end(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char data[100], buf[4096];
    fill(data, sizeof data, 4);
    CHECK_EQ(do_write(cs, 5, 1, 0, data, -1, sizeof data), 100);

    memset(buf, 0xaa, sizeof buf);
    CHECK_EQ(do_read(cs, 5, 1, 0, buf, -1, 4096), 4096);
    CHECK(memcmp(buf, data, 100) == 0);
    CHECK(all_zero(buf + 100, 4096 - 100));

    memset(buf, 0xaa, sizeof buf);
    CHECK_EQ(do_read(cs, 5, 1, 50, buf, -1, 200), 200);
    CHECK(memcmp(buf, data + 50, 50) == 0);
    CHECK(all_zero(buf + 50, 150));

    memset(buf, 0xaa, sizeof buf);
    CHECK_EQ(do_read(cs, 5, 1, 1000, buf, -1, 100), 100);
    CHECK(all_zero(buf, 100));
    chunkstore_close(cs);
}

static void test_hole_reads_zeros(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char d1[10], d2[10], buf[8010];
    fill(d1, 10, 5);
    fill(d2, 10, 6);
    CHECK_EQ(do_write(cs, 6, 0, 0, d1, -1, 10), 10);
    CHECK_EQ(do_write(cs, 6, 0, 8000, d2, -1, 10), 10);
    memset(buf, 0xaa, sizeof buf);
    CHECK_EQ(do_read(cs, 6, 0, 0, buf, -1, sizeof buf), (long long)sizeof buf);
    CHECK(memcmp(buf, d1, 10) == 0);
    CHECK(all_zero(buf + 10, 8000 - 10));
    CHECK(memcmp(buf + 8000, d2, 10) == 0);
    chunkstore_close(cs);
}

static void test_invalid_args(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char buf[8192] = { 0 };
    struct res res = { 0, 0 };
    int before = g_calls;
    CHECK_EQ(chunkstore_write(cs, 7, 0, 4000, buf, -1, 97, on_done, &res), -EINVAL);
    CHECK_EQ(chunkstore_read(cs, 7, 0, 0, buf, -1, 4097, on_done, &res), -EINVAL);
    CHECK_EQ(chunkstore_read(cs, 7, 0, 4097, buf, -1, 0, on_done, &res), -EINVAL);
    CHECK_EQ(chunkstore_write(cs, 7, 0, UINT64_MAX, buf, -1, 2, on_done, &res), -EINVAL);
    CHECK_EQ(chunkstore_write(cs, 7, 0, 0, buf, 5, 10, on_done, &res), -EINVAL);   /* no such buffer */
    CHECK_EQ(chunkstore_write(cs, 7, 0, 0, buf, 0, 10, on_done, &res), -EINVAL);   /* not handed out */
    int bi;
    unsigned char *rb = chunkstore_buf_get(cs, 4096, &bi);
    REQUIRE(rb);
    CHECK_EQ(chunkstore_write(cs, 7, 0, 0, buf, bi, 10, on_done, &res), -EINVAL);  /* not in it */
    CHECK_EQ(chunkstore_write(cs, 7, 0, 0, rb + 64 * KiB - 5, bi, 10, on_done, &res), -EINVAL);
    chunkstore_buf_put(cs, bi);
    CHECK_EQ(chunkstore_inflight(cs), 0);
    chunkstore_poll(cs);
    CHECK_EQ(res.n, 0);
    CHECK_EQ(g_calls, before);
    CHECK_EQ(chunk_find(7, 0, NULL, 0, NULL), 0);

    /* A write ending exactly at the chunk end is fine; so is an empty one there. */
    CHECK_EQ(do_write(cs, 7, 0, 4000, buf, -1, 96), 96);
    CHECK_EQ(do_write(cs, 7, 0, 4096, buf, -1, 0), 0);
    chunkstore_close(cs);

    struct chunkstore_opts bad[] = {
        { .chunk_size = 0 },
        { .chunk_size = 4096, .buffer_size = 1000 },
        { .chunk_size = 4096, .queue_size = 100 },
        { .chunk_size = 4096, .queue_size = 65536 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct chunkstore *x = (struct chunkstore *)&res;   /* must be reset */
        CHECK_EQ(chunkstore_open(g_dir, &bad[i], &x), -EINVAL);
        CHECK(x == NULL);
    }
    struct chunkstore_opts ok = { .chunk_size = 4096 };
    struct chunkstore *x = NULL;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such/dir", g_dir);
    CHECK_EQ(chunkstore_open(missing, &ok, &x), -ENOENT);
    CHECK(x == NULL);
}

static void test_many_inflight(void)
{
    enum { NOPS = 200, LEN = 4096, NCHUNKS = 20 };
    struct chunkstore *cs = store_open(64 * KiB, 8, 4, 0);
    REQUIRE(cs);
    unsigned char *data = malloc((size_t)NOPS * LEN), *got = malloc((size_t)NOPS * LEN);
    struct res *res = calloc(NOPS, sizeof *res);
    REQUIRE(data && got && res);
    int want = g_calls + NOPS;
    for (int i = 0; i < NOPS; i++) {
        fill(data + (size_t)i * LEN, LEN, 100 + (unsigned)i);
        int r = chunkstore_write(cs, 9, i % NCHUNKS, (uint64_t)(i / NCHUNKS) * LEN,
                                 data + (size_t)i * LEN, -1, LEN, on_done, &res[i]);
        CHECK_EQ(r, 0);
    }
    CHECK_EQ(chunkstore_inflight(cs), NOPS);
    CHECK_EQ(loop_until(cs, want), 0);
    for (int i = 0; i < NOPS; i++) {
        CHECK_EQ(res[i].n, 1);
        CHECK_EQ(res[i].res, LEN);
    }

    memset(res, 0, NOPS * sizeof *res);
    memset(got, 0xaa, (size_t)NOPS * LEN);
    want = g_calls + NOPS;
    for (int i = 0; i < NOPS; i++) {
        int r = chunkstore_read(cs, 9, i % NCHUNKS, (uint64_t)(i / NCHUNKS) * LEN,
                                got + (size_t)i * LEN, -1, LEN, on_done, &res[i]);
        CHECK_EQ(r, 0);
    }
    CHECK_EQ(loop_until(cs, want), 0);
    for (int i = 0; i < NOPS; i++) {
        CHECK_EQ(res[i].n, 1);
        CHECK_EQ(res[i].res, LEN);
    }
    CHECK(memcmp(data, got, (size_t)NOPS * LEN) == 0);
    CHECK_EQ(chunkstore_inflight(cs), 0);
    chunkstore_close(cs);
    free(data);
    free(got);
    free(res);
}

static void test_registered_buffers(void)
{
    const size_t cz = 64 * KiB;
    long pin0 = vm_pin_kb();
    struct chunkstore *cs = store_open((uint32_t)cz, 0, 0, 0);
    REQUIRE(cs);
    /* The kernel pinned the 4 x 64 KiB buffers: the fixed-buffer path is in use. */
    CHECK(vm_pin_kb() - pin0 >= 256);

    int idx[5];
    unsigned char *b[5];
    for (int i = 0; i < 4; i++) {
        b[i] = chunkstore_buf_get(cs, cz, &idx[i]);
        REQUIRE(b[i]);
        CHECK(idx[i] >= 0 && idx[i] < 4);
        CHECK(((uintptr_t)b[i] & 4095) == 0);
        for (int j = 0; j < i; j++)
            CHECK(idx[i] != idx[j] && b[i] != b[j]);
    }
    b[4] = chunkstore_buf_get(cs, 16, &idx[4]);
    CHECK(b[4] == NULL);   /* all handed out */
    CHECK_EQ(idx[4], -1);
    chunkstore_buf_put(cs, idx[3]);
    CHECK(chunkstore_buf_get(cs, cz + 1, &idx[4]) == NULL);   /* too large */
    CHECK_EQ(idx[4], -1);
    b[3] = chunkstore_buf_get(cs, cz, &idx[3]);
    REQUIRE(b[3]);

    /* Registered buffer out, registered buffer in, plain memory in. */
    fill(b[0], cz, 7);
    CHECK_EQ(do_write(cs, 11, 0, 0, b[0], idx[0], cz), (long long)cz);
    memset(b[1], 0xaa, cz);
    CHECK_EQ(do_read(cs, 11, 0, 0, b[1], idx[1], cz), (long long)cz);
    CHECK(memcmp(b[0], b[1], cz) == 0);
    unsigned char *plain = malloc(cz);
    REQUIRE(plain);
    CHECK_EQ(do_read(cs, 11, 0, 0, plain, -1, cz), (long long)cz);
    CHECK(memcmp(b[0], plain, cz) == 0);

    /* An address inside a registered buffer, and a read into one past the file end. */
    fill(b[2] + 100, 1000, 8);
    CHECK_EQ(do_write(cs, 11, 1, 5, b[2] + 100, idx[2], 1000), 1000);
    memset(b[3], 0xaa, cz);
    CHECK_EQ(do_read(cs, 11, 1, 0, b[3] + 10, idx[3], 2000), 2000);
    CHECK(all_zero(b[3] + 10, 5));
    CHECK(memcmp(b[3] + 15, b[2] + 100, 1000) == 0);
    CHECK(all_zero(b[3] + 1015, 995));

    for (int i = 0; i < 4; i++)
        chunkstore_buf_put(cs, idx[i]);
    chunkstore_close(cs);
    free(plain);
}

/* Drops CAP_IPC_LOCK so RLIMIT_MEMLOCK applies to this process (we may be root). */
static void drop_ipc_lock(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return;
    d[0].effective &= ~(1u << CAP_IPC_LOCK);
    d[0].permitted &= ~(1u << CAP_IPC_LOCK);
    d[0].inheritable &= ~(1u << CAP_IPC_LOCK);
    syscall(SYS_capset, &h, d);
}

/* In a child: the kernel refuses to register the buffers; the store warns and
 * goes on with them as plain memory (plain READ/WRITE). */
static void unregistered_child(void)
{
    alarm(30);
    drop_ipc_lock();
    /* Room for the rings (accounted too on newer kernels), not for 256 KiB of buffers. */
    struct rlimit rl = { 64 * KiB, 64 * KiB };
    CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &rl), 0);

    char logpath[128];
    snprintf(logpath, sizeof logpath, "%s/child.log", g_dir);
    int logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int saved = dup(2);
    REQUIRE(logfd >= 0 && saved >= 0);
    dup2(logfd, 2);
    long pin0 = vm_pin_kb();
    struct chunkstore_opts o = { .chunk_size = 64 * KiB, .queue_size = 8,
                                 .buffer_size = 64 * KiB, .buffer_count = 4 };
    struct chunkstore *cs = NULL;
    int r = chunkstore_open(g_dir, &o, &cs);
    long pin1 = vm_pin_kb();
    dup2(saved, 2);
    char log[4096] = { 0 };
    CHECK(pread(logfd, log, sizeof log - 1, 0) > 0);
    close(logfd);
    close(saved);
    fputs(log, stderr);
    CHECK_EQ(r, 0);
    REQUIRE(cs);
    CHECK(strstr(log, "WARN") && strstr(log, "cannot register"));
    CHECK_EQ(pin1, pin0);

    int i0, i1;
    unsigned char *b0 = chunkstore_buf_get(cs, 64 * KiB, &i0);
    unsigned char *b1 = chunkstore_buf_get(cs, 64 * KiB, &i1);
    REQUIRE(b0 && b1);
    CHECK(i0 >= 0 && i1 >= 0 && i0 != i1);
    fill(b0, 64 * KiB, 9);
    CHECK_EQ(do_write(cs, 12, 0, 0, b0, i0, 64 * KiB), 64 * KiB);
    memset(b1, 0xaa, 64 * KiB);
    CHECK_EQ(do_read(cs, 12, 0, 0, b1, i1, 64 * KiB), 64 * KiB);
    CHECK(memcmp(b0, b1, 64 * KiB) == 0);
    chunkstore_buf_put(cs, i0);
    chunkstore_buf_put(cs, i1);
    chunkstore_close(cs);
}

static void test_unregistered_buffers(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        unregistered_child();
        _exit(test_failed_checks ? 1 : 0);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_fd_cache_eviction(void)
{
    enum { NCHUNKS = 50 };
    const size_t cz = 16 * KiB;
    struct chunkstore *cs = store_open((uint32_t)cz, 0, 0, 4);
    REQUIRE(cs);
    unsigned char *data = malloc(NCHUNKS * cz), *got = malloc(NCHUNKS * cz);
    struct res *res = calloc(NCHUNKS, sizeof *res);
    REQUIRE(data && got && res);

    /* All in flight at once: every entry is referenced, the cache overflows for a while. */
    int want = g_calls + NCHUNKS;
    for (int i = 0; i < NCHUNKS; i++) {
        fill(data + i * cz, cz, 200 + (unsigned)i);
        CHECK_EQ(chunkstore_write(cs, 13, i, 0, data + i * cz, -1, cz, on_done, &res[i]), 0);
    }
    CHECK_EQ(loop_until(cs, want), 0);
    for (int i = 0; i < NCHUNKS; i++)
        CHECK_EQ(res[i].res, (long long)cz);
    CHECK(open_chunk_fds() <= 4);

    memset(got, 0xaa, NCHUNKS * cz);
    want = g_calls + NCHUNKS;
    for (int i = 0; i < NCHUNKS; i++)
        CHECK_EQ(chunkstore_read(cs, 13, i, 0, got + i * cz, -1, cz, on_done, &res[i]), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK(memcmp(data, got, NCHUNKS * cz) == 0);
    CHECK(open_chunk_fds() <= 4);

    /* One at a time, in a stride that mixes cache hits and misses. */
    for (int k = 0; k < 3 * NCHUNKS; k++) {
        int i = (k * 7) % NCHUNKS;
        unsigned char piece[100];
        fill(piece, sizeof piece, 300 + (unsigned)k);
        size_t off = (size_t)(k % 10) * 1000;
        CHECK_EQ(do_write(cs, 13, i, off, piece, -1, sizeof piece), 100);
        memcpy(data + i * cz + off, piece, sizeof piece);
        if (k % 3 == 0) {
            unsigned char back[100];
            CHECK_EQ(do_read(cs, 13, (i + 13) % NCHUNKS, off, back, -1, sizeof back), 100);
            CHECK(memcmp(back, data + ((i + 13) % NCHUNKS) * cz + off, 100) == 0);
        }
    }
    CHECK(open_chunk_fds() <= 4);
    CHECK_EQ(do_fsync(cs, 13, 1, -1), 0);
    chunkstore_close(cs);

    /* After close, a new store reads what the old one wrote. */
    cs = store_open((uint32_t)cz, 0, 0, 4);
    REQUIRE(cs);
    memset(got, 0xaa, NCHUNKS * cz);
    for (int i = 0; i < NCHUNKS; i++)
        CHECK_EQ(do_read(cs, 13, i, 0, got + i * cz, -1, cz), (long long)cz);
    CHECK(memcmp(data, got, NCHUNKS * cz) == 0);
    chunkstore_close(cs);
    free(data);
    free(got);
    free(res);
}

static void test_fsync(void)
{
    struct chunkstore *cs = store_open(64 * KiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char d[3000];
    fill(d, sizeof d, 10);
    CHECK_EQ(do_write(cs, 21, 0, 0, d, -1, sizeof d), (long long)sizeof d);
    CHECK_EQ(do_write(cs, 21, 1, 100, d, -1, sizeof d), (long long)sizeof d);
    CHECK_EQ(do_fsync(cs, 21, 1, -1), 0);

    CHECK_EQ(do_write(cs, 21, 0, 10, d, -1, 10), 10);
    char path[128];
    snprintf(path, sizeof path, "%s/meta.db", g_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, "meta", 4), 4);
    CHECK_EQ(do_fsync(cs, 21, 0, fd), 0);   /* full fsync, with the extra fd */

    /* Nothing to sync but the extra fd. */
    CHECK_EQ(do_fsync(cs, 21, 1, fd), 0);
    /* Nothing at all: completes from the next poll, not from the call. */
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    CHECK_EQ(chunkstore_fsync(cs, 21, 1, -1, on_done, &res), 0);
    CHECK_EQ(res.n, 0);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(res.n, 1);
    CHECK_EQ(res.res, 0);
    /* An inode never written, and a bad extra fd: its error comes back. */
    CHECK_EQ(do_fsync(cs, 999, 1, -1), 0);
    close(fd);
    CHECK_EQ(do_fsync(cs, 21, 1, fd), -EBADF);

    /* fsync while writes of the inode are still in flight: all complete. */
    struct res w[8];
    memset(w, 0, sizeof w);
    want = g_calls + 9;
    for (int i = 0; i < 8; i++)
        CHECK_EQ(chunkstore_write(cs, 21, 2 + i, 0, d, -1, sizeof d, on_done, &w[i]), 0);
    CHECK_EQ(chunkstore_fsync(cs, 21, 1, -1, on_done, &res), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(w[i].res, (long long)sizeof d);
    CHECK_EQ(res.res, 0);
    CHECK_EQ(do_fsync(cs, 21, 1, -1), 0);   /* picks up what completed after the last one */
    chunkstore_close(cs);
}

static void test_truncate_and_remove(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char *a = malloc(MiB), *got = malloc(MiB);
    REQUIRE(a && got);
    fill(a, MiB, 11);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(do_write(cs, 31, i, 0, a, -1, MiB), MiB);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(chunk_size_on_disk(31, i), MiB);

    CHECK_EQ(chunkstore_truncate(cs, 31, 10ull * MiB, 5ull * MiB + 3), 0);
    chunkstore_removals_wait(cs);   /* the cut thread is done */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(chunk_size_on_disk(31, i), MiB);
    CHECK_EQ(chunk_size_on_disk(31, 5), 3);
    for (int i = 6; i < 10; i++)
        CHECK_EQ(chunk_find(31, i, NULL, 0, NULL), 0);
    memset(got, 0xaa, MiB);
    CHECK_EQ(do_read(cs, 31, 5, 0, got, -1, MiB), MiB);
    CHECK(memcmp(got, a, 3) == 0);
    CHECK(all_zero(got + 3, MiB - 3));
    memset(got, 0xaa, MiB);
    CHECK_EQ(do_read(cs, 31, 7, 0, got, -1, MiB), MiB);
    CHECK(all_zero(got, MiB));
    CHECK_EQ(do_fsync(cs, 31, 1, -1), 0);

    /* On a chunk boundary: chunk 4 goes whole, chunk 3 is not touched. */
    CHECK_EQ(chunkstore_truncate(cs, 31, 5ull * MiB + 3, 4ull * MiB), 0);
    chunkstore_removals_wait(cs);   /* the cut thread is done */
    CHECK_EQ(chunk_size_on_disk(31, 3), MiB);
    CHECK_EQ(chunk_find(31, 4, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_find(31, 5, NULL, 0, NULL), 0);
    /* Growing changes nothing on disk. */
    CHECK_EQ(chunkstore_truncate(cs, 31, 4ull * MiB, 9ull * MiB), 0);
    chunkstore_removals_wait(cs);   /* the cut thread is done */
    CHECK_EQ(chunk_find(31, 4, NULL, 0, NULL), 0);

    CHECK_EQ(chunkstore_remove(cs, 31, 4ull * MiB), 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(chunk_find(31, i, NULL, 0, NULL), 0);
    CHECK_EQ(chunkstore_remove(cs, 12345, 100ull * MiB), 0);   /* nothing there */
    CHECK_EQ(chunkstore_remove(cs, 31, 0), 0);
    chunkstore_close(cs);
    free(a);
    free(got);
}

/* A sparse file's size can name far more chunks than exist (one byte at 4 TiB
 * with 4 KiB chunks: 2^30 indices): remove and truncate find the chunks that
 * do exist, and only those of this inode. */
static void test_remove_sparse(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char a[100];
    fill(a, sizeof a, 5);
    const uint64_t far = 1ull << 30;
    CHECK_EQ(do_write(cs, 0x5100, 2, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(do_write(cs, 0x5100, 1000, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(do_write(cs, 0x5100, far, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    for (uint64_t other = 0x5101; other < 0x5109; other++)   /* some share its bucket */
        CHECK_EQ(do_write(cs, other, far, 0, a, -1, sizeof a), (ssize_t)sizeof a);

    CHECK_EQ(chunkstore_truncate(cs, 0x5100, (far + 1) * 4096, 1000 * 4096 + 10), 0);
    chunkstore_removals_wait(cs);   /* the cut thread is done */
    CHECK_EQ(chunk_find(0x5100, far, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_size_on_disk(0x5100, 1000), 10);
    CHECK_EQ(chunk_size_on_disk(0x5100, 2), (long)sizeof a);

    CHECK_EQ(chunkstore_remove(cs, 0x5100, UINT64_MAX), 0);
    CHECK_EQ(chunk_find(0x5100, 2, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_find(0x5100, 1000, NULL, 0, NULL), 0);
    for (uint64_t other = 0x5101; other < 0x5109; other++)
        CHECK_EQ(chunk_size_on_disk(other, far), (long)sizeof a);
    for (uint64_t other = 0x5101; other < 0x5109; other++)
        CHECK_EQ(chunkstore_remove_chunk(cs, other, far), 0);
    CHECK_EQ(chunk_find(0x5101, far, NULL, 0, NULL), 0);
    chunkstore_close(cs);
}

/* The store's journals (DATA/chunk-removals, DATA/chunk-cuts): their size,
 * and records written into one as a crash would have left them. */
static long journal_bytes(const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static long journal_size(void) { return journal_bytes("chunk-removals"); }

static void journal_put(const char *name, const void *rec, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    int fd = open(p, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    CHECK_EQ(write(fd, rec, len), (ssize_t)len);
    close(fd);
}

/* chunkstore_remove_later: the removal thread deletes the chunks (by index and,
 * for a sparse size, by listing), leaves other inodes alone, and empties its
 * journal once done. */
static void test_remove_later(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char a[64];
    fill(a, sizeof a, 7);
    for (uint64_t i = 0; i < 300; i++)   /* more than the by-index limit: listed */
        CHECK_EQ(do_write(cs, 0x7100, i, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(do_write(cs, 0x7101, 3, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(do_write(cs, 0x7102, 1, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(chunkstore_remove_later(cs, 0x7100, UINT64_MAX), 0);
    CHECK_EQ(chunkstore_remove_later(cs, 0x7101, 4 * 4096), 0);   /* by index */
    CHECK_EQ(chunkstore_remove_later(cs, 0x7103, 0), 0);          /* nothing to do */
    chunkstore_removals_wait(cs);
    CHECK_EQ(chunkstore_removals(cs), 0);
    for (uint64_t i = 0; i < 300; i++)
        CHECK_EQ(chunk_find(0x7100, i, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_find(0x7101, 3, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_size_on_disk(0x7102, 1), (long)sizeof a);
    CHECK_EQ(journal_size(), 0);
    /* a removed chunk's cached fd is gone too: a read finds a hole */
    unsigned char got[64];
    CHECK_EQ(do_read(cs, 0x7100, 5, 0, got, -1, sizeof got), (ssize_t)sizeof got);
    CHECK(got[0] == 0 && got[63] == 0);
    chunkstore_close(cs);
}

/* A journal record left by a killed server (the on-disk format, chunkremove.c:
 * le32 "BFRM", le32 check, le64 ino, first, end) is redone at open; a torn
 * tail after it is cut off. */
static void test_remove_journal_replay(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char a[64];
    fill(a, sizeof a, 9);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ(do_write(cs, 0x7200, i, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(do_write(cs, 0x7201, 0, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    chunkstore_close(cs);

    uint8_t rec[32 + 10];
    uint64_t ino = 0x7200, first = 1, end = 4;
    memset(rec, 0xee, sizeof rec);
    put_le32(rec, 0x4d524642u);
    put_le32(rec + 4, (uint32_t)place_mix64(ino ^ place_mix64(first ^ place_mix64(end))));
    put_le64(rec + 8, ino);
    put_le64(rec + 16, first);
    put_le64(rec + 24, end);
    journal_put("chunk-removals", rec, sizeof rec);

    cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    chunkstore_removals_wait(cs);
    CHECK_EQ(chunk_size_on_disk(0x7200, 0), (long)sizeof a);
    for (uint64_t i = 1; i < 4; i++)
        CHECK_EQ(chunk_find(0x7200, i, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_size_on_disk(0x7200, 4), (long)sizeof a);
    CHECK_EQ(chunk_size_on_disk(0x7201, 0), (long)sizeof a);
    CHECK_EQ(journal_size(), 0);
    CHECK_EQ(chunkstore_remove(cs, 0x7200, 5 * 4096), 0);
    CHECK_EQ(chunkstore_remove(cs, 0x7201, 4096), 0);
    chunkstore_close(cs);
}

static ssize_t do_falloc(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                         size_t len, int mode)
{
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    return wait_one(cs, chunkstore_fallocate(cs, ino, idx, off, len, mode, on_done, &res), &res,
                    want);
}

/* fallocate through io_uring: a punch makes no file, an allocation does and
 * keeps the file's size with KEEP_SIZE; the holes show in chunkstore_seek;
 * chunkstore_chunks / first_chunk find files by index and by listing. */
static void test_fallocate_and_seek(void)
{
    struct chunkstore *cs = store_open(64 * KiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char a[8 * KiB], b[8 * KiB];
    uint64_t out = 0, idx = 0;
    fill(a, sizeof a, 7);
    CHECK_EQ(do_falloc(cs, 0x6100, 1, 0, 4 * KiB, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), 0);
    CHECK_EQ(chunk_find(0x6100, 1, NULL, 0, NULL), 0);
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 1, 100, SEEK_HOLE, &out), 0);
    CHECK_EQ(out, 100);
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 1, 100, SEEK_DATA, &out), -ENXIO);
    CHECK_EQ(do_falloc(cs, 0x6100, 1, 0, 32 * KiB, FALLOC_FL_KEEP_SIZE), 0);
    CHECK_EQ(chunk_size_on_disk(0x6100, 1), 0);
    CHECK_EQ(do_write(cs, 0x6100, 2, 0, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(do_write(cs, 0x6100, 2, 32 * KiB, a, -1, sizeof a), (ssize_t)sizeof a);
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 2, 0, SEEK_HOLE, &out), 0);
    CHECK_EQ(out, 8 * KiB);
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 2, 8 * KiB, SEEK_DATA, &out), 0);
    CHECK_EQ(out, 32 * KiB);
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 2, 40 * KiB, SEEK_DATA, &out), -ENXIO);
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 2, 64 * KiB, SEEK_DATA, &out), -EINVAL);
    CHECK_EQ(do_falloc(cs, 0x6100, 2, 0, 4 * KiB, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), 0);
    int zr = (int)do_falloc(cs, 0x6100, 2, 4 * KiB, 4 * KiB,
                            FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
    CHECK(zr == 0 || zr == -EOPNOTSUPP);
    CHECK_EQ(do_read(cs, 0x6100, 2, 0, b, -1, sizeof b), (ssize_t)sizeof b);
    CHECK(all_zero(b, zr == 0 ? 8 * KiB : 4 * KiB));
    CHECK_EQ(chunkstore_seek(cs, 0x6100, 2, 0, SEEK_DATA, &out), 0);
    CHECK(out >= 4 * KiB);
    CHECK_EQ(do_falloc(cs, 0x6100, 2, 60 * KiB, 8 * KiB, 0), -EINVAL);   /* past the chunk */
    CHECK_EQ(do_falloc(cs, 0x6100, 2, 0, 0, 0), -EINVAL);
    /* first_chunk: by index over a short range, by listing over a long one. */
    CHECK_EQ(chunkstore_first_chunk(cs, 0x6100, 0, 10, &idx), 0);
    CHECK_EQ(idx, 1);
    CHECK_EQ(chunkstore_first_chunk(cs, 0x6100, 3, 10, &idx), -ENOENT);
    CHECK_EQ(do_write(cs, 0x6100, 1ull << 30, 0, a, -1, 10), 10);
    CHECK_EQ(chunkstore_first_chunk(cs, 0x6100, 3, UINT64_MAX, &idx), 0);
    CHECK_EQ(idx, 1ull << 30);
    CHECK_EQ(chunkstore_first_chunk(cs, 0x6100, 2, UINT64_MAX, &idx), 0);
    CHECK_EQ(idx, 2);
    CHECK_EQ(chunkstore_first_chunk(cs, 0x6100, (1ull << 30) + 1, UINT64_MAX, &idx), -ENOENT);
    uint64_t some[3];
    size_t n = 9;
    CHECK_EQ(chunkstore_chunks(cs, 0x6100, 0, UINT64_MAX, some, 2, &n), 0);   /* the lowest two */
    CHECK(n == 2 && some[0] == 1 && some[1] == 2);
    CHECK_EQ(chunkstore_chunks(cs, 0x6100, 0, UINT64_MAX, some, 3, &n), 0);
    CHECK(n == 3 && some[2] == 1ull << 30);
    CHECK_EQ(chunkstore_chunks(cs, 0x6100, 2, 3, some, 3, &n), 0);
    CHECK(n == 1 && some[0] == 2);
    CHECK_EQ(chunkstore_remove(cs, 0x6100, UINT64_MAX), 0);
    chunkstore_close(cs);
}

/* A chunk removed while a write to it is in flight: its fd stays open until the
 * write completes, and a later write makes a new file instead of reusing it. */
static void test_remove_with_io_in_flight(void)
{
    struct chunkstore *cs = store_open(64 * KiB, 0, 0, 0);
    REQUIRE(cs);
    unsigned char d[1000], got[2000];
    fill(d, sizeof d, 12);
    CHECK_EQ(do_write(cs, 32, 0, 0, d, -1, sizeof d), 1000);
    CHECK_EQ(do_write(cs, 32, 2, 0, d, -1, sizeof d), 1000);

    struct res w = { 0, 0 };
    int want = g_calls + 1;
    CHECK_EQ(chunkstore_write(cs, 32, 2, 500, d, -1, sizeof d, on_done, &w), 0);
    CHECK_EQ(chunkstore_truncate(cs, 32, 3 * 64 * KiB, 64 * KiB), 0);
    chunkstore_removals_wait(cs);   /* the cut thread is done */
    CHECK_EQ(chunk_find(32, 2, NULL, 0, NULL), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(w.res, 1000);
    CHECK_EQ(chunk_find(32, 2, NULL, 0, NULL), 0);   /* it went to the unlinked file */

    CHECK_EQ(do_write(cs, 32, 2, 0, d, -1, 10), 10);
    CHECK_EQ(chunk_size_on_disk(32, 2), 10);
    memset(got, 0xaa, sizeof got);
    CHECK_EQ(do_read(cs, 32, 2, 0, got, -1, sizeof got), 2000);
    CHECK(memcmp(got, d, 10) == 0);
    CHECK(all_zero(got + 10, sizeof got - 10));

    /* Same with remove, and with a read in flight. */
    want = g_calls + 1;
    CHECK_EQ(chunkstore_read(cs, 32, 0, 0, got, -1, 1000, on_done, &w), 0);
    CHECK_EQ(chunkstore_remove(cs, 32, 3 * 64 * KiB), 0);
    CHECK_EQ(chunk_find(32, 0, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_find(32, 2, NULL, 0, NULL), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(w.res, 1000);
    CHECK(memcmp(got, d, 1000) == 0);
    memset(got, 0xaa, sizeof got);
    CHECK_EQ(do_read(cs, 32, 0, 0, got, -1, 1000), 1000);
    CHECK(all_zero(got, 1000));
    CHECK_EQ(do_fsync(cs, 32, 1, -1), 0);
    chunkstore_close(cs);
}

static void test_chunk_paths(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    char path[256], want_tail[64];
    struct stat st;
    for (int b = 0; b < 256; b++) {
        snprintf(path, sizeof path, "%s/chunks/%02x", g_dir, b);
        CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    }

    /* All chunks of an inode in one bucket dir, named <ino %016llx>.<idx>. */
    const uint64_t idxs[] = { 0, 7, 123456789, UINT64_MAX };
    char bucket[3] = "";
    for (size_t i = 0; i < sizeof idxs / sizeof idxs[0]; i++) {
        CHECK_EQ(do_write(cs, 0x1234, idxs[i], 0, "x", -1, 1), 1);
        CHECK_EQ(chunk_find(0x1234, idxs[i], path, sizeof path, &st), 1);
        snprintf(want_tail, sizeof want_tail, "/0000000000001234.%llu", (unsigned long long)idxs[i]);
        size_t pl = strlen(path), tl = strlen(want_tail), dl = strlen(g_dir);
        CHECK(pl > tl && strcmp(path + pl - tl, want_tail) == 0);
        CHECK(strncmp(path + dl, "/chunks/", 8) == 0);
        CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
        if (i == 0)
            memcpy(bucket, path + dl + 8, 2);
        CHECK(strncmp(path + dl + 8, bucket, 2) == 0);
    }
    CHECK_EQ(do_write(cs, UINT64_MAX, UINT64_MAX, 4095, "y", -1, 1), 1);
    CHECK_EQ(chunk_find(UINT64_MAX, UINT64_MAX, NULL, 0, NULL), 1);

    /* Sequential inode numbers spread over the buckets. */
    enum { N = 256 };
    struct res res[N];
    memset(res, 0, sizeof res);
    int want = g_calls + N;
    for (int i = 0; i < N; i++)
        CHECK_EQ(chunkstore_write(cs, 1000 + (uint64_t)i, 0, 0, "z", -1, 1, on_done, &res[i]), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    int used[256] = { 0 }, distinct = 0;
    for (int i = 0; i < N; i++) {
        REQUIRE(chunk_find(1000 + (uint64_t)i, 0, path, sizeof path, NULL) == 1);
        int b = (int)strtol(path + strlen(g_dir) + 8, NULL, 16);
        if (!used[b]++)
            distinct++;
    }
    CHECK(distinct >= 128);   /* ~162 expected for a uniform spread */
    chunkstore_close(cs);
}

static void test_close_with_io_in_flight(void)
{
    enum { NW = 50, LEN = 8192 };
    struct chunkstore *cs = store_open(64 * KiB, 8, 4, 8);
    REQUIRE(cs);
    unsigned char *data = malloc((size_t)NW * LEN), *got = malloc((size_t)NW * LEN);
    REQUIRE(data && got);
    struct res res[NW + 3];
    memset(res, 0, sizeof res);
    int start = g_calls;
    for (int i = 0; i < NW; i++) {
        fill(data + (size_t)i * LEN, LEN, 400 + (unsigned)i);
        CHECK_EQ(chunkstore_write(cs, 41, i % 10, (uint64_t)(i / 10) * LEN, data + (size_t)i * LEN,
                                  -1, LEN, on_done, &res[i]), 0);
    }
    unsigned char z[100];
    CHECK_EQ(chunkstore_read(cs, 42, 0, 0, z, -1, sizeof z, on_done, &res[NW]), 0);
    CHECK_EQ(chunkstore_fsync(cs, 43, 1, -1, on_done, &res[NW + 1]), 0);
    CHECK_EQ(chunkstore_fsync(cs, 41, 1, -1, on_done, &res[NW + 2]), 0);
    CHECK_EQ(chunkstore_inflight(cs), NW + 3);
    chunkstore_close(cs);   /* no poll, no flush */
    CHECK_EQ(g_calls - start, NW + 3);
    for (int i = 0; i < NW; i++)
        CHECK_EQ(res[i].res, LEN);
    CHECK_EQ(res[NW].res, (long long)sizeof z);
    CHECK_EQ(res[NW + 1].res, 0);
    CHECK_EQ(res[NW + 2].res, 0);

    cs = store_open(64 * KiB, 0, 0, 0);
    REQUIRE(cs);
    for (int i = 0; i < NW; i++)
        CHECK_EQ(do_read(cs, 41, i % 10, (uint64_t)(i / 10) * LEN, got + (size_t)i * LEN, -1, LEN), LEN);
    CHECK(memcmp(data, got, (size_t)NW * LEN) == 0);
    chunkstore_close(cs);
    free(data);
    free(got);
}

/* The path chunk (ino, idx) has (or had: a sibling of the same ino exists). */
static int chunk_path(uint64_t ino, uint64_t idx, uint64_t sibling, char *path, size_t size)
{
    if (chunk_find(ino, sibling, path, size, NULL) != 1)
        return -1;
    snprintf(strrchr(path, '.') + 1, size - (size_t)(strrchr(path, '.') + 1 - path), "%llu",
             (unsigned long long)idx);
    return 0;
}

/* Puts a directory at chunk (ino, idx)'s name: opening it to sync fails with
 * EISDIR, which shows whether the store still means to sync that chunk. */
static void chunk_to_dir(uint64_t ino, uint64_t idx, uint64_t sibling)
{
    char path[256];
    REQUIRE(chunk_path(ino, idx, sibling, path, sizeof path) == 0);
    unlink(path);
    CHECK_EQ(mkdir(path, 0700), 0);
}

static void chunk_dir_remove(uint64_t ino, uint64_t idx, uint64_t sibling)
{
    char path[256];
    REQUIRE(chunk_path(ino, idx, sibling, path, sizeof path) == 0);
    CHECK_EQ(rmdir(path), 0);
}

/* With a tiny fd cache almost every chunk is evicted unsynced; fsync of one ino
 * syncs its evicted chunks (opened again) and leaves the other ino's alone. */
static void test_fsync_evicted(void)
{
    enum { NCHUNKS = 50 };
    const size_t cz = 4 * KiB;
    struct chunkstore *cs = store_open((uint32_t)cz, 0, 0, 4);
    REQUIRE(cs);
    unsigned char *data = malloc(2 * NCHUNKS * cz), *got = malloc(2 * NCHUNKS * cz);
    REQUIRE(data && got);
    for (int i = 0; i < 2 * NCHUNKS; i++) {
        uint64_t ino = i < NCHUNKS ? 51 : 52;
        fill(data + i * cz, cz, 500 + (unsigned)i);
        CHECK_EQ(do_write(cs, ino, i % NCHUNKS, 0, data + i * cz, -1, cz), (long long)cz);
    }
    CHECK(open_chunk_fds() <= 4);
    CHECK_EQ(do_fsync(cs, 51, 1, -1), 0);
    CHECK(open_chunk_fds() <= 4);   /* the files opened for the syncs are closed again */
    memset(got, 0xaa, 2 * NCHUNKS * cz);
    for (int i = 0; i < 2 * NCHUNKS; i++)
        CHECK_EQ(do_read(cs, i < NCHUNKS ? 51 : 52, i % NCHUNKS, 0, got + i * cz, -1, cz),
                 (long long)cz);
    CHECK(memcmp(data, got, 2 * NCHUNKS * cz) == 0);
    CHECK_EQ(do_fsync(cs, 52, 0, -1), 0);
    CHECK_EQ(do_fsync(cs, 51, 1, -1), 0);   /* nothing left */

    /* More evicted chunks than one fsync opens at once (64): it works through
     * them as syncs complete, to the end (a directory put in place of one of
     * the last shows it was tried). */
    enum { MANY = 200 };
    for (int i = 0; i < MANY; i++)
        CHECK_EQ(do_write(cs, 53, i, 0, data, -1, 100), 100);
    chunk_to_dir(53, MANY - 5, 0);
    struct res res = { 0, 0 };
    int want = g_calls + 1;
    CHECK_EQ(chunkstore_fsync(cs, 53, 1, -1, on_done, &res), 0);
    int open_now = open_chunk_fds();
    CHECK(open_now > 4 && open_now <= 4 + 64);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(res.n, 1);
    CHECK_EQ(res.res, -EISDIR);
    CHECK(open_chunk_fds() <= 4);
    chunk_dir_remove(53, MANY - 5, 0);
    CHECK_EQ(do_fsync(cs, 53, 1, -1), 0);
    CHECK_EQ(chunkstore_inflight(cs), 0);
    chunkstore_close(cs);
    free(data);
    free(got);
}

/* An evicted chunk that cannot be synced fails the fsync of its ino, and every
 * later one until it can; chunks deleted by truncate or remove are forgotten. */
static void test_fsync_evicted_error(void)
{
    const size_t cz = 4 * KiB;
    struct chunkstore *cs = store_open((uint32_t)cz, 0, 0, 1);
    REQUIRE(cs);
    unsigned char d[100];
    fill(d, sizeof d, 13);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(do_write(cs, 61, i, 0, d, -1, sizeof d), 100);
        CHECK_EQ(do_write(cs, 62, i, 0, d, -1, sizeof d), 100);
        CHECK_EQ(do_write(cs, 64, i, 0, d, -1, sizeof d), 100);
    }
    CHECK_EQ(do_write(cs, 63, 0, 0, d, -1, sizeof d), 100);   /* evicts the last of 64 */
    CHECK(open_chunk_fds() <= 1);

    chunk_to_dir(61, 1, 0);
    CHECK_EQ(do_fsync(cs, 61, 1, -1), -EISDIR);
    CHECK_EQ(do_fsync(cs, 61, 1, -1), -EISDIR);   /* still owed: tried again */
    chunk_dir_remove(61, 1, 0);
    CHECK_EQ(do_fsync(cs, 61, 1, -1), 0);   /* gone: nothing to sync */
    chunk_to_dir(61, 1, 0);
    CHECK_EQ(do_fsync(cs, 61, 1, -1), 0);   /* and forgotten */
    chunk_dir_remove(61, 1, 0);

    /* Truncate: chunks 2 and 3 go, 0 and 1 are still owed. */
    CHECK_EQ(chunkstore_truncate(cs, 62, 4 * cz, 2 * cz), 0);
    chunkstore_removals_wait(cs);   /* the cut thread is done */
    chunk_to_dir(62, 0, 1);
    chunk_to_dir(62, 2, 1);
    chunk_to_dir(62, 3, 1);
    CHECK_EQ(do_fsync(cs, 62, 1, -1), -EISDIR);   /* chunk 0 */
    chunk_dir_remove(62, 0, 1);
    CHECK_EQ(do_fsync(cs, 62, 1, -1), 0);   /* not chunks 2 and 3 */
    chunk_dir_remove(62, 2, 1);
    chunk_dir_remove(62, 3, 1);

    /* A chunk opened again is synced through its new fd and no longer through
     * the set: that would now find the directory. */
    CHECK_EQ(do_write(cs, 65, 0, 0, d, -1, sizeof d), 100);
    CHECK_EQ(do_write(cs, 63, 0, 0, d, -1, sizeof d), 100);   /* evicts 65.0 */
    unsigned char back[100];
    CHECK_EQ(do_read(cs, 65, 0, 0, back, -1, sizeof back), 100);   /* cached again */
    chunk_to_dir(65, 0, 0);   /* the cached fd keeps the file it had */
    CHECK_EQ(do_fsync(cs, 65, 1, -1), 0);
    chunk_dir_remove(65, 0, 0);

    /* Remove: all of them go. */
    char path[256];
    REQUIRE(chunk_path(64, 0, 0, path, sizeof path) == 0);
    CHECK_EQ(chunkstore_remove(cs, 64, 4 * cz), 0);
    CHECK_EQ(mkdir(path, 0700), 0);
    CHECK_EQ(do_fsync(cs, 64, 1, -1), 0);
    CHECK_EQ(rmdir(path), 0);
    chunkstore_close(cs);
}

/* Past 65536 chunks evicted unsynced the store syncs the whole file system
 * instead and forgets them all: an evicted chunk it can no longer sync (a
 * directory in its place) no longer fails an fsync. To keep this quick each
 * chunk but the first is unlinked as soon as its write is done (the store
 * remembers it all the same, and the sync would skip it). */
static void unsynced_cap(void)
{
    enum { CAP = 65536, WINDOW = 64 };   /* CAP: UNSYNCED_MAX in chunkstore.c */
    const uint64_t n = CAP + 2;   /* fd_cache 1: all but the last are evicted */
    struct chunkstore *cs = store_open(4096, 0, 0, 1);
    REQUIRE(cs);
    CHECK_EQ(do_write(cs, 71, 0, 0, "c", -1, 1), 1);
    char path[256];
    REQUIRE(chunk_path(71, 0, 0, path, sizeof path) == 0);
    char *tail = strrchr(path, '.') + 1;
    size_t room = sizeof path - (size_t)(tail - path);

    struct res res = { 0, 0 };   /* shared: only the count matters */
    uint64_t queued = 1, unlinked = 1;
    int done0 = g_calls;
    while (unlinked < n) {
        for (; queued < n && queued - unlinked < WINDOW; queued++)
            REQUIRE(chunkstore_write(cs, 71, queued, 0, "c", -1, 1, on_done, &res) == 0);
        /* The whole window: its chunk files are opened (and complete) in any order. */
        REQUIRE(loop_until(cs, done0 + (int)(queued - 1)) == 0);
        for (; unlinked < queued; unlinked++) {
            snprintf(tail, room, "%llu", (unsigned long long)unlinked);
            CHECK_EQ(unlink(path), 0);
        }
    }
    CHECK_EQ(res.n, (long long)n - 1);
    CHECK_EQ(res.res, 1);
    chunk_to_dir(71, 0, 0);
    CHECK_EQ(do_fsync(cs, 71, 1, -1), 0);
    chunk_dir_remove(71, 0, 0);
    chunkstore_close(cs);
}

/* On tmpfs if there is one: 65k file creations take seconds on some disks. */
static void test_unsynced_cap(void)
{
    char saved[sizeof g_dir];
    memcpy(saved, g_dir, sizeof g_dir);
    snprintf(g_dir, sizeof g_dir, "/dev/shm/test_chunkstore.XXXXXX");
    bool shm = mkdtemp(g_dir) != NULL;
    if (!shm)
        memcpy(g_dir, saved, sizeof g_dir);
    unsynced_cap();
    if (shm)
        dir_remove();
    memcpy(g_dir, saved, sizeof g_dir);
}

/* chunkstore_scan lists every chunk file once, in (bucket, ino, idx) order,
 * resuming after the cursor; the name parser takes only chunk_name's names. */
static void test_scan(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    const uint64_t base = 0xabc0000000000ULL;
    char path[256];
    for (uint64_t i = 0; i < 20; i++)
        for (uint64_t idx = 0; idx < 3; idx++) {
            snprintf(path, sizeof path, "%s/chunks/%02x/%016llx.%llu", g_dir,
                     chunkstore_bucket(base + i), (unsigned long long)(base + i),
                     (unsigned long long)idx);
            int fd = open(path, O_CREAT | O_WRONLY, 0600);
            CHECK(fd >= 0);
            close(fd);
        }
    unsigned char buf[22 * 4];
    uint64_t ino = 0, idx = 0, seen = 0;
    int first = 1, eof = 0, prev_b = -1, pages = 0;
    uint64_t prev_ino = 0, prev_idx = 0;
    while (!eof && pages < 10000) {
        size_t used, n;
        REQUIRE(chunkstore_scan(cs, first, ino, idx, buf, sizeof buf, &used, &n, &eof) == 0);
        CHECK_EQ(used, 22 * n);
        for (size_t i = 0; i < n; i++) {
            const unsigned char *r = buf + 22 * i;
            uint64_t a = 0, b = 0;
            for (int k = 0; k < 8; k++) {
                a = a << 8 | r[6 + k];
                b = b << 8 | r[14 + k];
            }
            CHECK(r[0] == 16 && r[1] == 0);
            int bk = chunkstore_bucket(a);
            /* strictly increasing in (bucket, ino, idx) */
            CHECK(bk > prev_b || (bk == prev_b && (a > prev_ino || (a == prev_ino && b > prev_idx))));
            prev_b = bk, prev_ino = a, prev_idx = b;
            seen += a >= base && a < base + 20 && b < 3;
            ino = a, idx = b;
        }
        first = 0;
        pages++;
    }
    CHECK(eof);
    CHECK_EQ(seen, 60);
    uint64_t x, y;
    CHECK(chunkstore_name_parse("000abc0000000001.2", &x, &y) == 0 && x == base + 1 && y == 2);
    CHECK(chunkstore_name_parse("000abc0000000001.02", &x, &y) == -EINVAL);
    CHECK(chunkstore_name_parse("000abc0000000001.", &x, &y) == -EINVAL);
    CHECK(chunkstore_name_parse("000ABC0000000001.2", &x, &y) == -EINVAL);
    CHECK(chunkstore_name_parse("000abc000000001.2", &x, &y) == -EINVAL);
    CHECK(chunkstore_name_parse("000abc0000000001.2.tmp", &x, &y) == -EINVAL);
    CHECK(chunkstore_name_parse("000abc0000000001.99999999999999999999999", &x, &y) == -EINVAL);
    for (uint64_t i = 0; i < 20; i++)
        chunkstore_remove(cs, base + i, 3 * 4096);
    chunkstore_close(cs);
}

/* Ops queued on a chunk whose file is still being opened (nothing polled in
 * between) all wait on that one open: writes and a read of a new chunk, reads
 * only (no file made), a read then a write (the write's create wins), and a
 * removal and a seek while the open is in flight. */
static void test_ops_on_opening_chunk(void)
{
    struct chunkstore *cs = store_open(16 * KiB, 0, 0, 0);
    REQUIRE(cs);
    enum { NW = 3 };
    unsigned char wbuf[NW][4 * KiB], rbuf[16 * KiB];
    struct res wres[NW] = { 0 }, rres = { 0, 0 };
    int want = g_calls + NW + 1;
    for (int i = 0; i < NW; i++) {
        fill(wbuf[i], sizeof wbuf[i], 100 + (unsigned)i);
        CHECK_EQ(chunkstore_write(cs, 90, 0, (uint64_t)i * 4 * KiB, wbuf[i], -1, sizeof wbuf[i],
                                  on_done, &wres[i]), 0);
    }
    CHECK_EQ(chunkstore_read(cs, 90, 0, 0, rbuf, -1, sizeof rbuf, on_done, &rres), 0);
    REQUIRE(loop_until(cs, want) == 0);
    for (int i = 0; i < NW; i++)
        CHECK(wres[i].n == 1 && wres[i].res == (ssize_t)sizeof wbuf[i]);
    CHECK(rres.n == 1 && rres.res == (ssize_t)sizeof rbuf);
    /* The read raced the writes: each byte is 0 or the written one. */
    bool ok = true;
    for (size_t j = 0; j < NW * 4 * KiB; j++)
        ok &= rbuf[j] == 0 || rbuf[j] == wbuf[j / (4 * KiB)][j % (4 * KiB)];
    CHECK(ok && all_zero(rbuf + NW * 4 * KiB, sizeof rbuf - NW * 4 * KiB));
    CHECK_EQ(do_read(cs, 90, 0, 0, rbuf, -1, sizeof rbuf), (ssize_t)sizeof rbuf);
    for (int i = 0; i < NW; i++)
        CHECK(memcmp(rbuf + i * 4 * KiB, wbuf[i], sizeof wbuf[i]) == 0);
    CHECK_EQ(chunk_find(90, 0, NULL, 0, NULL), 1);

    /* Two reads of a missing chunk: zeros, and no file made. */
    struct res r1 = { 0, 0 }, r2 = { 0, 0 };
    unsigned char b1[100], b2[100];
    memset(b1, 0xaa, sizeof b1);
    memset(b2, 0xaa, sizeof b2);
    want = g_calls + 2;
    CHECK_EQ(chunkstore_read(cs, 91, 0, 0, b1, -1, sizeof b1, on_done, &r1), 0);
    CHECK_EQ(chunkstore_read(cs, 91, 0, 50, b2, -1, sizeof b2, on_done, &r2), 0);
    REQUIRE(loop_until(cs, want) == 0);
    CHECK(r1.res == (ssize_t)sizeof b1 && r2.res == (ssize_t)sizeof b2);
    CHECK(all_zero(b1, sizeof b1) && all_zero(b2, sizeof b2));
    CHECK_EQ(chunk_find(91, 0, NULL, 0, NULL), 0);

    /* A read starts a plain open; a write joining it makes the file. */
    r1 = (struct res){ 0, 0 };
    r2 = (struct res){ 0, 0 };
    want = g_calls + 2;
    CHECK_EQ(chunkstore_read(cs, 92, 0, 0, b1, -1, sizeof b1, on_done, &r1), 0);
    CHECK_EQ(chunkstore_write(cs, 92, 0, 0, "abc", -1, 3, on_done, &r2), 0);
    REQUIRE(loop_until(cs, want) == 0);
    CHECK(r1.res == (ssize_t)sizeof b1 && r2.res == 3);
    CHECK_EQ(chunk_size_on_disk(92, 0), 3);

    /* A removal while the create is in flight waits for it: no file is left. */
    r1 = (struct res){ 0, 0 };
    want = g_calls + 1;
    CHECK_EQ(chunkstore_write(cs, 93, 0, 0, "abc", -1, 3, on_done, &r1), 0);
    CHECK_EQ(chunkstore_remove_chunk(cs, 93, 0), 0);
    REQUIRE(loop_until(cs, want) == 0);
    CHECK_EQ(r1.res, 3);
    CHECK_EQ(chunk_find(93, 0, NULL, 0, NULL), 0);

    /* So does a seek: it sees the file (its write may not have run yet). */
    r1 = (struct res){ 0, 0 };
    want = g_calls + 1;
    uint64_t at = 99;
    CHECK_EQ(chunkstore_write(cs, 94, 0, 0, "abc", -1, 3, on_done, &r1), 0);
    CHECK_EQ(chunkstore_seek(cs, 94, 0, 0, SEEK_HOLE, &at), 0);
    CHECK(at == 0 || at == 3);
    REQUIRE(loop_until(cs, want) == 0);
    CHECK_EQ(r1.res, 3);
    CHECK_EQ(chunkstore_seek(cs, 94, 0, 0, SEEK_HOLE, &at), 0);
    CHECK_EQ(at, 3);
    chunkstore_close(cs);
}

/* An open that fails fails every op waiting on it, each with the error. */
static void test_opening_chunk_fails(void)
{
    const uint64_t ino = 95;
    char bucket[128], aside[140];
    snprintf(bucket, sizeof bucket, "%s/chunks/%02x", g_dir, chunkstore_bucket(ino));
    snprintf(aside, sizeof aside, "%s.aside", bucket);
    struct chunkstore *cs = store_open(16 * KiB, 0, 0, 0);
    REQUIRE(cs);
    /* The bucket directory becomes a plain file: opens there are ENOTDIR. */
    REQUIRE(rename(bucket, aside) == 0);
    int fd = open(bucket, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    struct res w[3] = { 0 }, r = { 0, 0 }, f = { 0, 0 };
    unsigned char buf[64];
    int want = g_calls + 5;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(chunkstore_write(cs, ino, 0, (uint64_t)i * 8, "abcdefgh", -1, 8, on_done, &w[i]), 0);
    CHECK_EQ(chunkstore_read(cs, ino, 0, 0, buf, -1, sizeof buf, on_done, &r), 0);
    CHECK_EQ(chunkstore_fallocate(cs, ino, 0, 0, 4096, 0, on_done, &f), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    for (int i = 0; i < 3; i++)
        CHECK(w[i].n == 1 && w[i].res == -ENOTDIR);
    CHECK(r.n == 1 && r.res == -ENOTDIR);
    CHECK(f.n == 1 && f.res == -ENOTDIR);
    CHECK_EQ(unlink(bucket), 0);
    CHECK_EQ(rename(aside, bucket), 0);
    /* The failed entry is gone: the next write opens again, and works. */
    CHECK_EQ(do_write(cs, ino, 0, 0, "xy", -1, 2), 2);
    CHECK_EQ(chunk_size_on_disk(ino, 0), 2);
    chunkstore_close(cs);
}

static long cuts_journal_size(void) { return journal_bytes("chunk-cuts"); }

/* chunkstore_offload's work: on the worker thread, the blocking calls only. */
struct seek_job { struct chunkstore *cs; uint64_t ino; int res; };

static void seek_work(void *arg)
{
    struct seek_job *j = arg;
    uint64_t out, found[8];
    size_t nf;
    /* After the cut of test_truncate_holds_ops no chunk from 2 on is left (the
     * writes let go with this job touch chunks 1 and 5 only). */
    j->res = chunkstore_chunks(j->cs, j->ino, 6, 300, found, 8, &nf) == 0 && nf == 0 &&
             chunkstore_seek(j->cs, j->ino, 7, 0, SEEK_DATA, &out) == -ENXIO &&
             chunkstore_seek(j->cs, j->ino, 299, 0, SEEK_HOLE, &out) == 0 && out == 0;
}

static void seek_done(void *arg)
{
    (void)arg;
    g_calls++;
}

/* A truncate answers before its chunks are gone (the cut thread deletes and
 * cuts them); ops on those chunks queued meanwhile wait for it: a write made
 * after the truncate survives it, a read sees zeros, an fsync comes after it,
 * and so does a job on the worker (seek and listings see what the cut left). */
static void test_truncate_holds_ops(void)
{
    const uint64_t ino = 0x8100, n = 300;
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char d[100], nw[50], got[200];
    fill(d, sizeof d, 21);
    fill(nw, sizeof nw, 22);
    for (uint64_t i = 0; i < n; i++)
        CHECK_EQ(do_write(cs, ino, i, 0, d, -1, sizeof d), (ssize_t)sizeof d);

    CHECK_EQ(chunkstore_truncate(cs, ino, n * 4096, 4096 + 10), 0);   /* chunk 1 cut to 10 */
    /* No poll yet: the cut is under way however fast the thread is. */
    struct res w5 = { 0, 0 }, w1 = { 0, 0 }, r7 = { 0, 0 }, f = { 0, 0 };
    struct seek_job sj = { cs, ino, 0 };
    int want = g_calls + 5;
    CHECK_EQ(chunkstore_offload(cs, ino, seek_work, seek_done, &sj), 0);
    memset(got, 0xaa, sizeof got);
    CHECK_EQ(chunkstore_write(cs, ino, 5, 0, nw, -1, sizeof nw, on_done, &w5), 0);
    CHECK_EQ(chunkstore_write(cs, ino, 1, 100, nw, -1, sizeof nw, on_done, &w1), 0);
    CHECK_EQ(chunkstore_read(cs, ino, 7, 0, got, -1, sizeof got, on_done, &r7), 0);
    CHECK_EQ(chunkstore_fsync(cs, ino, 1, -1, on_done, &f), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(w5.res, (ssize_t)sizeof nw);
    CHECK_EQ(w1.res, (ssize_t)sizeof nw);
    CHECK_EQ(r7.res, (ssize_t)sizeof got);
    CHECK_EQ(f.res, 0);
    CHECK(all_zero(got, sizeof got));
    CHECK_EQ(sj.res, 1);   /* the offloaded seek ran after the cut */
    chunkstore_removals_wait(cs);
    CHECK_EQ(chunk_size_on_disk(ino, 0), (long)sizeof d);
    CHECK_EQ(chunk_size_on_disk(ino, 1), 150);
    CHECK_EQ(chunk_size_on_disk(ino, 5), (long)sizeof nw);
    CHECK_EQ(chunk_find(ino, 2, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_find(ino, n - 1, NULL, 0, NULL), 0);
    CHECK_EQ(do_read(cs, ino, 1, 0, got, -1, 150), 150);
    CHECK(memcmp(got, d, 10) == 0);
    CHECK(all_zero(got + 10, 90));
    CHECK(memcmp(got + 100, nw, sizeof nw) == 0);
    CHECK_EQ(do_read(cs, ino, 5, 0, got, -1, sizeof nw), (ssize_t)sizeof nw);
    CHECK(memcmp(got, nw, sizeof nw) == 0);
    CHECK_EQ(cuts_journal_size(), 0);   /* every cut done: the journal is emptied */
    CHECK_EQ(chunkstore_remove(cs, ino, n * 4096), 0);
    chunkstore_close(cs);
}

/* A cut noted in the journal by a server killed before it was done is redone
 * at the next open (and ops wait for it meanwhile); one marked done is not. */
static void test_cut_journal_replay(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char d[100], got[100];
    fill(d, sizeof d, 23);
    for (uint64_t i = 0; i < 4; i++)
        CHECK_EQ(do_write(cs, 0x8200, i, 0, d, -1, sizeof d), (ssize_t)sizeof d);
    CHECK_EQ(do_write(cs, 0x8300, 0, 0, d, -1, sizeof d), (ssize_t)sizeof d);
    chunkstore_close(cs);
    /* What a killed server's journal holds (chunkremove.c: le32 "BFCT" or, done,
     * "BFDN", le32 check, le64 ino, first, end, cut): a cut of 0x8200 to
     * 4096 + 20, a done one of 0x8300, a torn record. */
    uint8_t rec[2 * 40 + 7];
    memset(rec, 0xee, sizeof rec);
    const uint64_t v[2][4] = { { 0x8200, 1, 4, 20 }, { 0x8300, 0, 4, 0 } };
    for (int k = 0; k < 2; k++) {
        uint8_t *r = rec + 40 * k;
        uint64_t e = v[k][3] ? v[k][2] ^ place_mix64(v[k][3]) : v[k][2];
        put_le32(r, k ? 0x4e444642u : 0x54434642u);
        put_le32(r + 4, (uint32_t)place_mix64(v[k][0] ^ place_mix64(v[k][1] ^ place_mix64(e))));
        for (int f = 0; f < 4; f++)
            put_le64(r + 8 + 8 * f, v[k][f]);
    }
    journal_put("chunk-cuts", rec, sizeof rec);

    cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    CHECK_EQ(do_read(cs, 0x8200, 2, 0, got, -1, sizeof got), (ssize_t)sizeof got);
    CHECK(all_zero(got, sizeof got));   /* waited for the redone cut */
    chunkstore_removals_wait(cs);
    CHECK_EQ(chunk_size_on_disk(0x8200, 1), 20);
    CHECK_EQ(chunk_find(0x8200, 2, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_find(0x8200, 3, NULL, 0, NULL), 0);
    CHECK_EQ(chunk_size_on_disk(0x8200, 0), (long)sizeof d);
    CHECK_EQ(chunk_size_on_disk(0x8300, 0), (long)sizeof d);   /* done: not redone */
    CHECK_EQ(cuts_journal_size(), 0);
    CHECK_EQ(chunkstore_remove(cs, 0x8200, 4 * 4096), 0);
    CHECK_EQ(chunkstore_remove(cs, 0x8300, 4096), 0);
    chunkstore_close(cs);
}

struct usage_res { int n; struct chunkstore_usage u; };

static void on_usage(void *arg, const struct chunkstore_usage *u)
{
    struct usage_res *r = arg;
    r->n++;
    r->u = *u;
    g_calls++;
}

/* chunkstore_usage counts on its thread and answers from poll; two callers
 * while one count runs share it. */
static void test_usage(void)
{
    struct chunkstore *cs = store_open(4096, 0, 0, 0);
    REQUIRE(cs);
    unsigned char d[100];
    fill(d, sizeof d, 24);
    struct usage_res a = { 0 }, b = { 0 }, base = { 0 };   /* earlier tests left chunks */
    int want = g_calls + 1;
    CHECK_EQ(chunkstore_usage(cs, on_usage, &base), 0);
    CHECK_EQ(loop_until(cs, want), 0);
    for (uint64_t i = 0; i < 3; i++)
        CHECK_EQ(do_write(cs, 0x8400, i, 0, d, -1, sizeof d), (ssize_t)sizeof d);
    want = g_calls + 2;
    CHECK_EQ(chunkstore_usage(cs, on_usage, &a), 0);
    CHECK_EQ(chunkstore_usage(cs, on_usage, &b), 0);
    CHECK_EQ(a.n + b.n, 0);   /* never from inside the call */
    CHECK_EQ(chunkstore_inflight(cs), 2u);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(a.n, 1);
    CHECK_EQ(b.n, 1);
    CHECK_EQ(a.u.err, 0);
    CHECK_EQ(a.u.chunk_files, base.u.chunk_files + 3);
    CHECK(a.u.chunk_bytes >= base.u.chunk_bytes + 3 * sizeof d);
    CHECK(a.u.top_files >= 2);   /* the journals */
    CHECK_EQ(b.u.chunk_files, base.u.chunk_files + 3);
    CHECK_EQ(chunkstore_inflight(cs), 0u);
    CHECK_EQ(chunkstore_remove(cs, 0x8400, 3 * 4096), 0);
    /* One left running at close: its callback runs there. */
    CHECK_EQ(chunkstore_usage(cs, on_usage, &a), 0);
    chunkstore_close(cs);
    CHECK_EQ(a.n, 2);
    CHECK_EQ(a.u.chunk_files, base.u.chunk_files);
}

/* Whether this directory's file system refuses RWF_NOWAIT buffered writes: what
 * the store probes, asked the same way independently. */
static bool fs_punts_writes(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/probe", g_dir);
    int fd = open(path, O_CREAT | O_RDWR, 0600);
    char c = 0;
    struct iovec iov = { &c, 1 };
    bool punts = fd >= 0 && pwritev2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
    if (fd >= 0)
        close(fd);
    unlink(path);
    return punts;
}

/* Inline writes (chunkstore.c): on a file system whose buffered writes io_uring
 * must hand to a worker, page-aligned writes up to 64 KiB are pwrites; others,
 * and all while paused after a slow one, go to the ring; the data is the same. */
static void test_inline_writes(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    CHECK_EQ(cs->inline_ok, fs_punts_writes());
    if (!cs->inline_ok)
        printf("# %s takes non-blocking buffered writes: io_uring does them in place itself\n",
               g_dir);
    bool on = cs->inline_ok;
    static unsigned char a[128 * KiB], b[128 * KiB];
    fill(a, sizeof a, 7);
    uint64_t n0 = cs->inline_writes;
    CHECK_EQ(do_write(cs, 9, 0, 4096, a + 4096, -1, 4096), 4096);
    CHECK_EQ(cs->inline_writes, n0 + on);
    CHECK_EQ(do_write(cs, 9, 0, 8192, a + 8192, -1, 64 * KiB), 64 * KiB);
    CHECK_EQ(cs->inline_writes, n0 + 2 * on);
    CHECK_EQ(do_write(cs, 9, 0, 100, a + 100, -1, 3000), 3000);   /* not whole pages */
    CHECK_EQ(do_write(cs, 9, 0, 256 * KiB, a, -1, 128 * KiB), 128 * KiB);   /* too large */
    CHECK_EQ(cs->inline_writes, n0 + 2 * on);
    cs->inline_pause_until = bfs_mono_ns() + 60 * 1000000000LL;   /* as after a slow one */
    CHECK_EQ(do_write(cs, 9, 0, 0, a, -1, 4096), 4096);
    CHECK_EQ(cs->inline_writes, n0 + 2 * on);
    cs->inline_pause_until = 0;
    CHECK_EQ(do_read(cs, 9, 0, 0, b, -1, 72 * KiB), 72 * KiB);
    CHECK(memcmp(a, b, 72 * KiB) == 0);
    CHECK_EQ(do_read(cs, 9, 0, 256 * KiB, b, -1, 128 * KiB), 128 * KiB);
    CHECK(memcmp(a, b, 128 * KiB) == 0);
    CHECK_EQ(chunkstore_inflight(cs), 0);
    chunkstore_close(cs);

    struct chunkstore_opts o = { .chunk_size = MiB, .no_inline_writes = true };
    cs = NULL;
    CHECK_EQ(chunkstore_open(g_dir, &o, &cs), 0);
    REQUIRE(cs);
    CHECK(!cs->inline_ok);
    CHECK_EQ(do_write(cs, 9, 1, 0, a, -1, 4096), 4096);
    CHECK_EQ(cs->inline_writes, 0);
    chunkstore_close(cs);
}

/* A small write queued while a write of the same chunk is in the ring goes
 * behind it, not past it in place: the later write's bytes win. */
static void test_inline_write_waits_for_ring(void)
{
    struct chunkstore *cs = store_open(MiB, 0, 0, 0);
    REQUIRE(cs);
    static unsigned char big[128 * KiB], small[4096], got[4096];
    fill(big, sizeof big, 1);
    fill(small, sizeof small, 2);
    CHECK_EQ(do_write(cs, 10, 0, 0, small, -1, 4096), 4096);   /* the chunk file is open */
    struct res r1 = { 0, 0 }, r2 = { 0, 0 };
    int want = g_calls + 2;
    uint64_t n0 = cs->inline_writes;
    CHECK_EQ(chunkstore_write(cs, 10, 0, 0, big, -1, sizeof big, on_done, &r1), 0);
    CHECK_EQ(chunkstore_write(cs, 10, 0, 0, small, -1, sizeof small, on_done, &r2), 0);
    CHECK_EQ(cs->inline_writes, n0);
    CHECK_EQ(loop_until(cs, want), 0);
    CHECK_EQ(r1.res, (ssize_t)sizeof big);
    CHECK_EQ(r2.res, (ssize_t)sizeof small);
    CHECK_EQ(do_read(cs, 10, 0, 0, got, -1, sizeof got), (ssize_t)sizeof got);
    CHECK(memcmp(got, small, sizeof got) == 0);
    /* The ring is empty again: the next small write is in place. */
    CHECK_EQ(do_write(cs, 10, 0, 8192, small, -1, 4096), 4096);
    CHECK_EQ(cs->inline_writes, n0 + cs->inline_ok);
    chunkstore_close(cs);
}

int main(void)
{
    if (dir_make() < 0) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_write_read_roundtrip);
    RUN(test_partial_write_odd_offset);
    RUN(test_read_missing_chunk);
    RUN(test_read_past_end);
    RUN(test_hole_reads_zeros);
    RUN(test_invalid_args);
    RUN(test_many_inflight);
    RUN(test_registered_buffers);
    RUN(test_unregistered_buffers);
    RUN(test_fd_cache_eviction);
    RUN(test_fsync);
    RUN(test_fsync_evicted);
    RUN(test_fsync_evicted_error);
    RUN(test_unsynced_cap);
    RUN(test_truncate_and_remove);
    RUN(test_remove_sparse);
    RUN(test_fallocate_and_seek);
    RUN(test_remove_with_io_in_flight);
    RUN(test_chunk_paths);
    RUN(test_close_with_io_in_flight);
    RUN(test_large_writes_start_writeout);
    RUN(test_scan);
    RUN(test_remove_later);
    RUN(test_remove_journal_replay);
    RUN(test_ops_on_opening_chunk);
    RUN(test_opening_chunk_fails);
    RUN(test_truncate_holds_ops);
    RUN(test_cut_journal_replay);
    RUN(test_usage);
    RUN(test_inline_writes);
    RUN(test_inline_write_waits_for_ring);
    dir_remove();
    return test_summary();
}
