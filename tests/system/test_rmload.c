/* test_rmload.c - a file's removal holds up no other file's I/O (issue 12).
 *   test_rmload REGISTRY DATA_DIR     (one server on DATA_DIR, small chunks: rmload.sh)
 *
 * test_reads_during_removals: one client removes files of 1,000 chunks each
 * while another reads 4 KiB from a small file; the reads' p99 during the
 * removals (until the last chunk file is gone from DATA_DIR) must stay within
 * 2x of the p99 of the same reads on the idle server, measured right before,
 * or within SLACK_US of it: on an idle 2-core machine that p99 is 4-6 us, and
 * the removal thread's unlinkat, kernel work a waking reader or loop waits out
 * even at SCHED_IDLE, adds 20-50 us (measured); a removal on the loop, as
 * before, holds reads up for milliseconds (150-3,800x).
 * The share of reads over 1 ms must stay within 2x of the idle one or 1 %
 * (a noisy idle run raises the p99 limit, not this one). The same for
 * test_reads_during_truncates (chunks cut off big files: the cut thread) and
 * test_reads_during_status (OP_STATUS counts every chunk file: its helper
 * thread). Before those threads: 330-5000x the idle p99, every read over 1 ms.
 * Up to 3 attempts (the machine is shared); both numbers are printed. With
 * RMLOAD_NO_TIMING set (sanitizer builds) one attempt is measured and shown,
 * and only its errors count.
 * test_sparse_unlink: the unlink of a huge sparse file answers at once and its
 * chunk files are all gone soon after (polled with a deadline).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../common/client.h"
#include "../../common/rpc.h"
#include "../../server/chunkstore.h"
#include "../test.h"

#define NBIG 4
#define BIG_CHUNKS 1000
#define IDLE_S 0.5      /* idle reads for this long */

static struct bfs_client *writer, *reader;
static const char *data_dir;
static uint32_t chunk_size;
static uint64_t small_ino;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Chunk files of ino in the server's data dir (-1 if its bucket cannot be read). */
static long chunk_files(uint64_t ino)
{
    char path[4096], prefix[24];
    snprintf(path, sizeof path, "%s/chunks/%02x", data_dir, chunkstore_bucket(ino));
    int plen = snprintf(prefix, sizeof prefix, "%016llx.", (unsigned long long)ino);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, (size_t)plen) == 0;
    closedir(d);
    return n;
}

/* Polls until none of inos[0..n) has a chunk file; 0, or -1 at the deadline. */
static int wait_chunks_gone(const uint64_t *inos, int n, double limit_s)
{
    double end = now() + limit_s;
    for (;;) {
        long left = 0;
        for (int i = 0; i < n; i++) {
            long c = chunk_files(inos[i]);
            left += c < 0 ? 1 : c;
        }
        if (left == 0)
            return 0;
        if (now() > end) {
            fprintf(stderr, "  %ld chunk files still there after %.0f s\n", left, limit_s);
            return -1;
        }
        nap_ms(20);
    }
}

/* A file with one byte in each of chunks first, first + step, ... (count of them). */
static int make_chunky(const char *name, uint64_t count, uint64_t step, uint64_t *ino)
{
    struct bfs_attr a;
    int rc = bfs_create(writer, BFS_ROOT_INO, name, S_IFREG | 0644, 0, 0, &a);
    if (rc < 0)
        return rc;
    *ino = a.ino;
    for (uint64_t i = 0; i < count; i++) {
        ssize_t w = bfs_write(writer, a.ino, "x", 1, i * step * chunk_size);
        if (w != 1)
            return w < 0 ? (int)w : -EIO;
    }
    return 0;
}

/* ---- the reader ---- */

struct reads {
    double *lat, *at;        /* latency and start of each read (at: may be NULL) */
    size_t n, cap;
    double until;            /* stop at this time (0: when told) */
    atomic_int stop;
    int err;
};

static void *read_loop(void *arg)
{
    struct reads *r = arg;
    char buf[4096];
    while (r->n < r->cap && (r->until ? now() < r->until : !atomic_load(&r->stop))) {
        double t0 = now();
        ssize_t got = bfs_read(reader, small_ino, buf, sizeof buf, 0);
        double t1 = now();
        if (got != (ssize_t)sizeof buf) {
            r->err = got < 0 ? (int)-got : EIO;
            break;
        }
        if (r->at)
            r->at[r->n] = t0;
        r->lat[r->n++] = t1 - t0;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double p99(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

#define SLACK_US 100.0
#define SLOW_SHARE 0.01   /* of the reads during the load may take over 1 ms */

/* The slow work whose effect on the reads is timed. */
enum load { L_REMOVE, L_TRUNCATE, L_STATUS };
static const char *const load_name[] = { "removals", "truncates", "STATUS calls" };
#define NSTATUS 20   /* L_STATUS: calls, each over all chunk files of the big files */

/* Cuts file ino (of BIG_CHUNKS chunks) inside chunk 1: its chunks 2.. go and
 * chunk 1 is cut, as truncate(2) to a size that is not a chunk boundary. */
static int cut(uint64_t ino)
{
    struct bfs_attr in = { .size = chunk_size + 10 }, out;
    return bfs_setattr(writer, ino, BFS_SET_SIZE, &in, &out);
}

/* The server's OP_STATUS (what benchfs-status asks): it counts every chunk file. */
static int status_call(void)
{
    static uint8_t buf[4096];
    struct rpc_call c;
    bfs_call_prep(&c, 0, OP_STATUS);
    c.rbuf = buf;
    c.rbuf_len = sizeof buf;
    int rc = bfs_call_run(writer, &c, 1);
    return rc < 0 ? rc : c.status;
}

/* Polls until each of inos[0..n) has at most keep chunk files; 0 or -1. */
static int wait_chunks_left(const uint64_t *inos, int n, long keep, double limit_s)
{
    double end = now() + limit_s;
    for (;;) {
        long left = 0;
        for (int i = 0; i < n; i++) {
            long c = chunk_files(inos[i]);
            left += c < 0 ? 1 : c > keep ? c - keep : 0;
        }
        if (left == 0)
            return 0;
        if (now() > end) {
            fprintf(stderr, "  %ld chunk files too many after %.0f s\n", left, limit_s);
            return -1;
        }
        nap_ms(20);
    }
}

/* Runs load on the big files inos[0..NBIG) (names big-<seq>...): 0 once it is
 * over (its chunk files gone), -1 on an error. */
static int run_load(enum load load, const uint64_t *inos, int seq)
{
    char name[64];
    int bad = 0;
    for (int i = 0; i < (load == L_STATUS ? NSTATUS : NBIG); i++) {
        int rc;
        snprintf(name, sizeof name, "big-%d", seq + i);
        rc = load == L_REMOVE ? bfs_unlink(writer, BFS_ROOT_INO, name, 0, NULL)
           : load == L_TRUNCATE ? cut(inos[i]) : status_call();
        if (rc < 0) {
            fprintf(stderr, "  %s %d: %s\n", load_name[load], i, strerror(-rc));
            bad = 1;
        }
    }
    if (load == L_REMOVE && wait_chunks_gone(inos, NBIG, 60) < 0)
        bad = 1;
    if (load == L_TRUNCATE && wait_chunks_left(inos, NBIG, 2, 60) < 0)
        bad = 1;
    return bad ? -1 : 0;
}

/* One attempt: 1 if the p99 during the load is within 2x of the idle one
 * (or SLACK_US above it), 0 if not, -1 on an error. */
static int attempt(int k, enum load load)
{
    static int seq;
    uint64_t inos[NBIG];
    char name[64];
    for (int i = 0; i < NBIG; i++) {
        snprintf(name, sizeof name, "big-%d", seq++);
        int rc = make_chunky(name, BIG_CHUNKS, 1, &inos[i]);
        if (rc < 0) {
            fprintf(stderr, "  making %s: %s\n", name, strerror(-rc));
            return -1;
        }
    }
    seq -= NBIG;
    int first = seq;
    seq += NBIG;
    for (int i = 0; i < NBIG; i++)
        if (chunk_files(inos[i]) < BIG_CHUNKS - 1) {   /* chunk 0 may be inline */
            fprintf(stderr, "  big file %d has only %ld chunk files\n", i, chunk_files(inos[i]));
            return -1;
        }

    struct reads warm = { .cap = 1u << 20, .until = now() + 0.1 };
    struct reads idle = { .cap = 1u << 20 };
    struct reads busy = { .cap = 1u << 20 };
    warm.lat = malloc(warm.cap * sizeof(double));
    idle.lat = malloc(idle.cap * sizeof(double));
    busy.lat = malloc(busy.cap * sizeof(double));
    busy.at = malloc(busy.cap * sizeof(double));
    int res = -1;
    pthread_t t;
    if (!idle.lat || !busy.lat || !busy.at || !warm.lat)
        goto out;
    read_loop(&warm);   /* not counted: the writes' after-effects settle */
    idle.until = now() + IDLE_S;
    read_loop(&idle);
    if (idle.err) {
        fprintf(stderr, "  idle read: %s\n", strerror(idle.err));
        goto out;
    }
    if (pthread_create(&t, NULL, read_loop, &busy) != 0)
        goto out;
    while (busy.n < 10 && !busy.err)   /* the reader is going */
        nap_ms(1);
    double from = now();
    int bad = run_load(load, inos, first) < 0;
    double to = now();
    atomic_store(&busy.stop, 1);
    pthread_join(t, NULL);
    if (bad || busy.err) {
        if (busy.err)
            fprintf(stderr, "  read during %s: %s\n", load_name[load], strerror(busy.err));
        goto out;
    }
    /* Only the reads that started while the load went on: work that blocks
     * the server's loop gets few of them, each one slow. */
    size_t nb = 0, slow = 0;
    for (size_t i = 0; i < busy.n; i++)
        if (busy.at[i] >= from && busy.at[i] < to) {
            slow += busy.lat[i] > 1e-3;
            busy.lat[nb++] = busy.lat[i];
        }
    if (nb == 0) {
        fprintf(stderr, "  no read started during the %s (%.1f ms)\n", load_name[load],
                (to - from) * 1e3);
        goto out;
    }
    size_t islow = 0;
    for (size_t i = 0; i < idle.n; i++)
        islow += idle.lat[i] > 1e-3;
    double pi = p99(idle.lat, idle.n), pb = p99(busy.lat, nb);
    double limit = 2 * pi > pi + SLACK_US / 1e6 ? 2 * pi : pi + SLACK_US / 1e6;
    /* A noisy idle run raises the p99 limit; the share of reads over 1 ms does
     * not follow it: work on the loop makes most reads of its window slow. */
    double fi = (double)islow / (double)idle.n, fb = (double)slow / (double)nb;
    double flimit = 2 * fi > SLOW_SHARE ? 2 * fi : SLOW_SHARE;
    printf("attempt %d: read p99 idle %.1f us (%zu reads), during %s of %d x %d chunks %.1f us "
           "(%zu reads in %.0f ms, %.2f%% over 1 ms (idle %.2f%%, limit %.2f%%), max %.1f ms), "
           "ratio %.2f (limit: 2x or +%.0f us, %.1f us)\n", k, pi * 1e6, idle.n, load_name[load],
           NBIG, BIG_CHUNKS, pb * 1e6, nb, (to - from) * 1e3, 100 * fb, 100 * fi, 100 * flimit,
           busy.lat[nb - 1] * 1e3, pb / pi, SLACK_US, limit * 1e6);
    fflush(stdout);
    res = pb <= limit && fb <= flimit;
out:
    /* What the load left (truncated files, those STATUS counted) goes, untimed. */
    for (int i = 0; load != L_REMOVE && i < NBIG; i++) {
        snprintf(name, sizeof name, "big-%d", first + i);
        if (bfs_unlink(writer, BFS_ROOT_INO, name, 0, NULL) < 0)
            res = -1;
    }
    if (load != L_REMOVE && wait_chunks_gone(inos, NBIG, 60) < 0)
        res = -1;
    free(warm.lat);
    free(idle.lat);
    free(busy.lat);
    free(busy.at);
    return res;
}

/* Up to 3 attempts (the machine is shared): 1, 0 or -1 as attempt. */
static int attempts(enum load load)
{
    int r = 0;
    for (int k = 1; k <= 3 && r == 0; k++)
        r = attempt(k, load);
    return r;
}

static void test_reads_during_removals(void)
{
    CHECK_EQ(attempts(L_REMOVE), 1);
}

/* Truncates of big files (chunk files deleted, one cut) hold up no reads. */
static void test_reads_during_truncates(void)
{
    CHECK_EQ(attempts(L_TRUNCATE), 1);
}

/* OP_STATUS counts every chunk file (a stat each) without holding up reads. */
static void test_reads_during_status(void)
{
    CHECK_EQ(attempts(L_STATUS), 1);
}

static void test_sparse_unlink(void)
{
    uint64_t ino;
    /* 300 chunks 64 Gi chunks apart: a size no index-by-index removal could walk */
    REQUIRE(make_chunky("sparse", 300, 1ull << 24, &ino) == 0);
    CHECK(chunk_files(ino) >= 299);
    double t0 = now();
    CHECK_EQ(bfs_unlink(writer, BFS_ROOT_INO, "sparse", 0, NULL), 0);
    double took = now() - t0;
    printf("sparse unlink (%.0f TiB, 300 chunks) answered in %.1f ms\n",
           299.0 * (1ull << 24) * chunk_size / (1ull << 40), took * 1e3);
    CHECK(took < 5);   /* generous: it queues the removal only */
    CHECK_EQ(wait_chunks_gone(&ino, 1, 60), 0);
}

int main(int argc, char **argv)
{
    struct bfs_client_opts o = { .registry_dir = argc > 1 ? argv[1] : "", .registry_timeout_s = 10,
                                 .rpc_timeout_s = 30 };
    if (argc != 3 || bfs_client_open(&o, &writer) < 0 || bfs_client_open(&o, &reader) < 0) {
        fprintf(stderr, "usage: %s REGISTRY DATA_DIR (with one server running on DATA_DIR)\n",
                argv[0]);
        return 1;
    }
    data_dir = argv[2];
    chunk_size = bfs_client_chunk_size(writer);
    struct bfs_attr a;
    char block[4096];
    memset(block, 'r', sizeof block);
    if (bfs_create(writer, BFS_ROOT_INO, "small", S_IFREG | 0644, 0, 0, &a) < 0 ||
        bfs_write(writer, a.ino, block, sizeof block, 0) != (ssize_t)sizeof block) {
        fprintf(stderr, "cannot make the small file\n");
        return 1;
    }
    small_ino = a.ino;
    const char *nt = getenv("RMLOAD_NO_TIMING");
    if (nt && *nt) {   /* rmload.sh under sanitizers */
        for (int l = L_REMOVE; l <= L_STATUS; l++) {
            int r = attempt(1, (enum load)l);
            printf("SKIP: test_reads_during_%s (measured once, %s; latency under sanitizers "
                   "says nothing about the normal build)\n", l == L_REMOVE ? "removals"
                   : l == L_TRUNCATE ? "truncates" : "status",
                   r < 0 ? "with an error" : r ? "within 2x" : "over 2x");
            if (r < 0)
                test_failed++;
        }
    } else {
        RUN(test_reads_during_removals);
        RUN(test_reads_during_truncates);
        RUN(test_reads_during_status);
    }
    RUN(test_sparse_unlink);
    bfs_client_close(reader);
    bfs_client_close(writer);
    return test_summary();
}
