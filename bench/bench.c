/* bench.c - benchfs-bench: the seed's small-file benchmark (metadata create,
 * small write, small read; then metadata stat of the created files), run on a
 * directory (--dir), over RPC through libbenchfs (--mode client), or the
 * storage server itself (--mode server).
 *
 * The printed lines are the seed's (shared/seed/benchfs-2node-benchmark.md),
 * which users and scripts read; p50/p99 and Threads are additions. The timing
 * loop is written once against the operations table of ops.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "../common/client.h"
#include "../lib/lib_int.h"
#include "../common/clock.h"
#include "../common/proto.h"
#include "../common/log.h"
#include "../common/stats.h"
#include "../common/version.h"
#include "../server/server.h"


#define PROG "benchfs-bench"

/* Limits on the flags, so that a typo cannot ask for terabytes of memory. */
#define MAX_SIZES      16
#define MAX_FILE_SIZE  (64ul << 20)
#define MAX_THREADS    1024ul
#define MAX_COUNT      100000000ul      /* iterations or warmup per thread */
#define MAX_TIMEOUT_S  1e6
#define MAX_COUNTERS   256              /* server counters asked for per node */
#define READ_BUDGET    (256ul << 20)    /* bytes of read slots, all threads together */

enum bench_mode { MODE_NONE, MODE_DIR, MODE_CLIENT };

struct config {
    enum bench_mode mode;
    const char *dir;
    const char *registry_dir;
    const char *json_path;
    double timeout_s;
    unsigned long iterations, warmup, threads;
    size_t sizes[MAX_SIZES];
    unsigned nsizes;
    bool keep;
    bool show_counters;
    const char *phase_hook;   /* --phase-hook: a shell command run around each phase */
    const char *sync_dir;     /* --sync-dir: processes that start each timed loop together */
    unsigned long sync_count;
};

/* PH_STAT (stat of the files PH_CREATE made) runs after the seed's phases. */
enum phase_kind { PH_CREATE, PH_WRITE, PH_READ, PH_STAT };

/* One benchmark's outcome, as printed. */
struct result {
    enum phase_kind kind;
    size_t size;                /* 0 for create */
    struct lat_summary sum;
    uint64_t wall_ns;           /* "Total": common start to the last thread's end */
    uint64_t start_ns;          /* that start, CLOCK_MONOTONIC (the same in every process) */
};

struct run;

/* One thread's state; lives for the whole run so cleanup knows what it made. */
struct worker {
    struct run *run;
    unsigned k;
    char dirname[24];           /* "t<k>" */
    bench_handle dir;
    bool dir_made;
    /* How many files of each set may exist (names .0 .. .n-1): set 0 holds the
     * create benchmark's files, set 1+i the files of size sizes[i]. */
    size_t made[1 + MAX_SIZES];
    bench_handle *files[MAX_SIZES];   /* per size: handles from ops->prepare */
    char *buf;                  /* the file to write, or the read slots */
    size_t bufsize;
    struct lat_stats lat;
    uint64_t t_start, t_end;
    /* The first error, reported by the main thread. */
    bool failed;
    const char *err_op;
    char err_name[48];
    char err_text[160];
    pthread_t tid;
};

struct run {
    const struct config *cfg;
    struct bench_target target;
    char run_name[40];          /* "benchfs-bench.<pid>" */
    char *label;                /* the run directory as shown in messages */
    bench_handle run_dir;
    bool run_dir_made;
    struct worker *w;
    /* Threads start only once all of them exist (gate), then set up and warm
     * up, then start the timed loop together (barrier). */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate;                   /* 0 closed, 1 go, -1 give up */
    pthread_barrier_t barrier, sync_barrier;
    atomic_bool abort;          /* a thread failed: the others stop early */
    /* The phase being run. */
    enum phase_kind kind;
    unsigned si;
    const unsigned char *pattern;     /* file contents before the stamp, per size */
    size_t read_slots;          /* files a thread reads before verifying them */
};

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f,
"Usage:\n"
"  " PROG " --dir DIR [options]\n"
"  " PROG " --mode client --registry-dir R [--timeout S] [--show-server-counters] [options]\n"
"  " PROG " --mode server --registry-dir R --data-dir D [server options]\n"
"\n"
"Runs BenchFS's small-file benchmark on a directory (a BenchFS mount, or any\n"
"local directory to compare against) or straight over RPC with the client\n"
"library; or, with --mode server, runs a storage server (the same program as\n"
"benchfs-server: see benchfs-server --help for its options).\n"
"\n"
"Modes:\n"
"  --dir DIR               benchmark files in DIR (same as --mode dir)\n"
"  --mode client           benchmark over RPC; needs --registry-dir\n"
"  --mode server           run a storage server with the other flags\n"
"  --registry-dir R        the directory where the servers register\n"
"  --timeout S             seconds to wait for the servers to register (default 30)\n"
"  --show-server-counters  after the results, print each server's request count\n"
"  --phase-hook CMD        run the shell command 'CMD PHASE begin|end' before and\n"
"                          after each phase (PHASE: create, write<size>,\n"
"                          read<size>); in client mode with each server's request\n"
"                          count appended (e.g. to take CPU time per request)\n"
"  --sync-dir D --sync-count N\n"
"                          N processes (this one among them) start each timed\n"
"                          loop together: each waits, after its setup and warmup,\n"
"                          until N have put a file for the phase in D (at most\n"
"                          60 s); so that the sum of their rates is a rate of\n"
"                          them all (JSON start_ns: the common clock)\n"
"\n"
"Options:\n"
"  --iterations N   timed operations per benchmark and thread (default 100)\n"
"  --warmup N       untimed operations first, on other files (default 10)\n"
"  --sizes A,B,...  file sizes in bytes for the write and read benchmarks, at\n"
"                   most %d of them, each at most %lu (default 1024,4096,16384)\n"
"  --threads N      threads running each benchmark together (default 1)\n"
"  --json FILE      also write the results to FILE as JSON (times in ns;\n"
"                   total_ns is Total)\n"
"  --keep           leave the benchmark's files in place\n"
"  -h, --help       show this help\n"
"  -V, --version    show the version\n"
"\n"
"What is timed (one sample per operation, CLOCK_MONOTONIC):\n"
"  Metadata Create   creating a new empty file, mode 0644: on a directory\n"
"                    open(O_CREAT|O_EXCL|O_WRONLY) + close; over RPC the same\n"
"                    through libbenchfs (benchfs_open + benchfs_close: one RPC).\n"
"  Small Write (N)   writing N bytes to a file of its own: on a directory\n"
"                    open(O_CREAT|O_WRONLY|O_TRUNC) + write + close; over RPC one\n"
"                    benchfs_pwrite at offset 0 into a file created and opened\n"
"                    (untimed) before.\n"
"  Small Read (N)    reading back the files Small Write wrote: on a directory\n"
"                    open + read + close; over RPC one benchfs_pread at offset 0.\n"
"                    The bytes are checked against what was written (outside\n"
"                    Total, unless the reads pass 256 MiB); a short read or a\n"
"                    mismatch stops the benchmark with an error.\n"
"  Metadata Stat     stat of the files Metadata Create made, after the phases\n"
"                    above: on a directory fstatat(2); over RPC benchfs_stat\n"
"                    (names and attributes may come from its cache, attr_timeout).\n"
"Warmup operations do the same on separate files. Each thread works in its own\n"
"directory benchfs-bench.<pid>/t<k> in DIR (over RPC: in the root), and all of\n"
"it is removed afterwards unless --keep. In the results, Iterations counts all\n"
"threads; Total is the wall time from the threads' common start to the last\n"
"thread's end; Throughput is operations / Total; Average, Min, Max, p50 and p99\n"
"are per operation (percentiles by nearest rank).\n"
"\n"
"Exit status: 0 done, 1 an operation or the connection failed, 2 bad usage.\n",
            MAX_SIZES, MAX_FILE_SIZE);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
    exit(2);
}

/* A whole decimal number in [min, max]: strtoul alone would accept "", " 5",
 * "-1" (as a huge value) and "5x". */
static unsigned long parse_count(const char *flag, const char *s, unsigned long min,
                                 unsigned long max)
{
    if (!isdigit((unsigned char)s[0]))
        usage_error("invalid value '%s' for %s: not a whole number", s, flag);
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0')
        usage_error("invalid value '%s' for %s: not a whole number", s, flag);
    if (errno == ERANGE || v > max)
        usage_error("invalid value '%s' for %s: at most %lu", s, flag, max);
    if (v < min)
        usage_error("invalid value '%s' for %s: at least %lu", s, flag, min);
    return v;
}

static double parse_seconds(const char *flag, const char *s)
{
    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        usage_error("invalid value '%s' for %s: not a number of seconds", s, flag);
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        usage_error("invalid value '%s' for %s: not a number of seconds", s, flag);
    if (v <= 0 || v > MAX_TIMEOUT_S)
        usage_error("invalid value '%s' for %s: must be more than 0 and at most %.0f", s, flag,
                    MAX_TIMEOUT_S);
    return v;
}

static void parse_sizes(const char *s, struct config *cfg)
{
    char *copy = strdup(s);
    if (!copy) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    cfg->nsizes = 0;
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p == '\0')
            usage_error("invalid value '%s' for --sizes: empty size in the list", s);
        if (cfg->nsizes == MAX_SIZES)
            usage_error("invalid value '%s' for --sizes: at most %d sizes", s, MAX_SIZES);
        size_t v = parse_count("--sizes", p, 1, MAX_FILE_SIZE);
        for (unsigned i = 0; i < cfg->nsizes; i++)
            if (cfg->sizes[i] == v)   /* the sizes name the files: no two alike */
                usage_error("invalid value '%s' for --sizes: %zu appears twice", s, v);
        cfg->sizes[cfg->nsizes++] = v;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
}

/* Finds a "--mode server" (or "--mode=server") before any "--": the server's
 * flags are the server's business, so they are handed over unparsed. Returns
 * the index of the pair and its width (1 or 2), or -1. */
static int find_server_mode(int argc, char **argv, int *width)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return -1;
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            if (strcmp(argv[i + 1], "server") != 0)
                return -1;
            *width = 2;
            return i;
        }
        if (strncmp(argv[i], "--mode=", 7) == 0) {
            if (strcmp(argv[i] + 7, "server") != 0)
                return -1;
            *width = 1;
            return i;
        }
    }
    return -1;
}

static int run_server_mode(int argc, char **argv, int at, int width)
{
    char **sargv = calloc((size_t)argc + 1, sizeof *sargv);
    if (!sargv) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    int n = 0;
    for (int i = 0; i < argc; i++)
        if (i < at || i >= at + width)
            sargv[n++] = argv[i];
    sargv[n] = NULL;
    int rc = server_main(n, sargv);
    free(sargv);
    return rc;
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
    enum { O_MODE = 256, O_DIR, O_REGISTRY, O_TIMEOUT, O_ITER, O_WARMUP, O_SIZES, O_THREADS,
           O_JSON, O_KEEP, O_COUNTERS, O_HOOK, O_SYNC_DIR, O_SYNC_COUNT };
    static const struct option opts[] = {
        { "mode", required_argument, NULL, O_MODE },
        { "dir", required_argument, NULL, O_DIR },
        { "registry-dir", required_argument, NULL, O_REGISTRY },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "iterations", required_argument, NULL, O_ITER },
        { "warmup", required_argument, NULL, O_WARMUP },
        { "sizes", required_argument, NULL, O_SIZES },
        { "threads", required_argument, NULL, O_THREADS },
        { "json", required_argument, NULL, O_JSON },
        { "keep", no_argument, NULL, O_KEEP },
        { "show-server-counters", no_argument, NULL, O_COUNTERS },
        { "phase-hook", required_argument, NULL, O_HOOK },
        { "sync-dir", required_argument, NULL, O_SYNC_DIR },
        { "sync-count", required_argument, NULL, O_SYNC_COUNT },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    bool mode_dir = false, timeout_set = false;
    int c;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case O_MODE:
            if (strcmp(optarg, "client") == 0)
                cfg->mode = MODE_CLIENT;
            else if (strcmp(optarg, "dir") == 0)
                mode_dir = true;
            else if (strcmp(optarg, "server") == 0)   /* only after another --mode */
                usage_error("--mode server cannot be combined with another --mode");
            else   /* a lone "server" was taken care of before getopt */
                usage_error("invalid value '%s' for --mode: use server, client or dir", optarg);
            break;
        case O_DIR: cfg->dir = optarg; break;
        case O_REGISTRY: cfg->registry_dir = optarg; break;
        case O_TIMEOUT: cfg->timeout_s = parse_seconds("--timeout", optarg); timeout_set = true; break;
        case O_ITER: cfg->iterations = parse_count("--iterations", optarg, 1, MAX_COUNT); break;
        case O_WARMUP: cfg->warmup = parse_count("--warmup", optarg, 0, MAX_COUNT); break;
        case O_SIZES: parse_sizes(optarg, cfg); break;
        case O_THREADS: cfg->threads = parse_count("--threads", optarg, 1, MAX_THREADS); break;
        case O_JSON: cfg->json_path = optarg; break;
        case O_KEEP: cfg->keep = true; break;
        case O_COUNTERS: cfg->show_counters = true; break;
        case O_HOOK: cfg->phase_hook = optarg; break;
        case O_SYNC_DIR: cfg->sync_dir = optarg; break;
        case O_SYNC_COUNT: cfg->sync_count = parse_count("--sync-count", optarg, 1, 1024); break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf(PROG " " BENCHFS_VERSION "\n"); exit(0);
        default:   /* getopt has said what was wrong */
            fprintf(stderr, "Try '" PROG " --help' for more information.\n");
            exit(2);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (!cfg->sync_dir != !cfg->sync_count)
        usage_error("--sync-dir and --sync-count go together");

    if (cfg->mode == MODE_CLIENT) {
        if (mode_dir)
            usage_error("--mode given twice (client and dir)");
        if (cfg->dir)
            usage_error("--dir is for directory mode; --mode client runs over RPC");
        if (!cfg->registry_dir)
            usage_error("--mode client needs --registry-dir R (the directory the servers register in)");
    } else if (cfg->dir || mode_dir) {
        if (!cfg->dir)
            usage_error("--mode dir needs --dir DIR");
        cfg->mode = MODE_DIR;
        if (cfg->registry_dir)
            usage_error("--registry-dir is for --mode client or server, not with --dir");
        if (timeout_set)
            usage_error("--timeout is for --mode client, not with --dir");
        if (cfg->show_counters)
            usage_error("--show-server-counters is for --mode client, not with --dir");
    } else {
        usage_error("nothing to do: give --dir DIR, --mode client --registry-dir R, or "
                    "--mode server --registry-dir R --data-dir D");
    }
}

/* The benchmark writes into DIR: say now, not after connecting or warming up,
 * if it cannot. */
static void check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        fprintf(stderr, PROG ": --dir %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": --dir %s: not a directory\n", dir);
        exit(2);
    }
    if (access(dir, W_OK | X_OK) < 0) {
        fprintf(stderr, PROG ": --dir %s: cannot create files there: %s\n", dir, strerror(errno));
        exit(2);
    }
}

/* ---- file contents ---- */

/* The bytes a file of size n holds: a pseudo-random pattern seeded by the size
 * (computed once per size, outside the timing), with the first 16 bytes replaced
 * by a stamp naming the size, thread and file, so that reading another file's
 * data is caught too. Stamping costs a few stores per operation. */
static void fill_pattern(unsigned char *p, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    for (size_t i = 0; i < n; i += 8) {
        x ^= x >> 12;   /* xorshift64* */
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dull;
        size_t c = n - i < 8 ? n - i : 8;
        memcpy(p + i, &v, c);
    }
}

#define STAMP_LEN 16

static size_t make_stamp(unsigned char st[STAMP_LEN], size_t size, unsigned k, size_t j)
{
    uint64_t a = (uint64_t)j, b = ((uint64_t)k << 32) | (uint32_t)size;
    memcpy(st, &a, 8);
    memcpy(st + 8, &b, 8);
    return size < STAMP_LEN ? size : STAMP_LEN;
}

/* ---- errors ---- */

static void worker_fail(struct worker *w, const char *op, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void worker_fail(struct worker *w, const char *op, const char *name, const char *fmt, ...)
{
    if (!w->failed) {
        w->failed = true;
        w->err_op = op;
        snprintf(w->err_name, sizeof w->err_name, "%s", name);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err_text, sizeof w->err_text, fmt, ap);
        va_end(ap);
    }
    atomic_store(&w->run->abort, true);
}

static void print_worker_error(const struct run *r, const struct worker *w)
{
    fprintf(stderr, "Error: %s %s/%s/%s: %s\n", w->err_op, r->label, w->dirname, w->err_name,
            w->err_text);
}

/* ---- the timing loop ---- */

static void file_name(char *buf, size_t n, const struct run *r, enum phase_kind kind, unsigned si,
                      size_t j)
{
    if (kind == PH_CREATE || kind == PH_STAT)
        snprintf(buf, n, "create.%zu", j);
    else
        snprintf(buf, n, "s%zu.%zu", r->cfg->sizes[si], j);
}

/* Checks that the read slots 0..n-1 hold files first_j.. as written. Returns
 * false after recording a mismatch. */
static bool verify_reads(struct worker *w, size_t first_j, size_t n)
{
    const struct run *r = w->run;
    size_t size = r->cfg->sizes[r->si];
    for (size_t s = 0; s < n; s++) {
        const unsigned char *b = (const unsigned char *)w->buf + s * size;
        unsigned char st[STAMP_LEN];
        size_t stlen = make_stamp(st, size, w->k, first_j + s);
        if (memcmp(b, st, stlen) == 0 && memcmp(b + stlen, r->pattern + stlen, size - stlen) == 0)
            continue;
        for (size_t i = 0; i < size; i++) {   /* only to say where */
            unsigned char want = i < stlen ? st[i] : r->pattern[i];
            if (b[i] != want) {
                char name[48];
                file_name(name, sizeof name, r, r->kind, r->si, first_j + s);
                worker_fail(w, "read", name,
                            "data mismatch at byte %zu of %zu (wrote 0x%02x, read 0x%02x)", i,
                            size, want, b[i]);
                return false;
            }
        }
    }
    return true;
}

/* Runs operation j of the current phase on w's files (a read lands in read
 * slot `slot` of w->buf, checked later by verify_reads) and records its latency
 * if timed. Returns false after recording an error. */
static bool do_op(struct worker *w, size_t j, size_t slot, bool timed)
{
    struct run *r = w->run;
    const struct bench_ops *ops = r->target.ops;
    void *ctx = r->target.ctx;
    size_t size = r->kind == PH_CREATE || r->kind == PH_STAT ? 0 : r->cfg->sizes[r->si];
    char name[48];
    file_name(name, sizeof name, r, r->kind, r->si, j);
    uint64_t t0, t1;

    switch (r->kind) {
    case PH_CREATE: {
        w->made[0] = j + 1;   /* counted before the call: a failed create may still leave a file */
        t0 = (uint64_t)bfs_mono_ns();
        int rc = ops->create(ctx, w->dir, name);
        t1 = (uint64_t)bfs_mono_ns();
        if (rc < 0) {
            worker_fail(w, "create", name, "%s", strerror(-rc));
            return false;
        }
        break;
    }
    case PH_WRITE: {
        unsigned char st[STAMP_LEN];
        memcpy(w->buf, st, make_stamp(st, size, w->k, j));   /* the rest holds the pattern */
        if (w->made[1 + r->si] < j + 1)
            w->made[1 + r->si] = j + 1;
        t0 = (uint64_t)bfs_mono_ns();
        int rc = ops->write(ctx, w->dir, name, w->files[r->si][j], w->buf, size);
        t1 = (uint64_t)bfs_mono_ns();
        if (rc < 0) {
            worker_fail(w, "write", name, "%s", strerror(-rc));
            return false;
        }
        break;
    }
    case PH_STAT: {
        t0 = (uint64_t)bfs_mono_ns();
        int rc = ops->stat(ctx, w->dir, name);
        t1 = (uint64_t)bfs_mono_ns();
        if (rc < 0) {
            worker_fail(w, "stat", name, "%s", strerror(-rc));
            return false;
        }
        break;
    }
    case PH_READ: {
        t0 = (uint64_t)bfs_mono_ns();
        ssize_t got = ops->read(ctx, w->dir, name, w->files[r->si][j], w->buf + slot * size, size);
        t1 = (uint64_t)bfs_mono_ns();
        if (got < 0) {
            worker_fail(w, "read", name, "%s", strerror((int)-got));
            return false;
        }
        if ((size_t)got != size) {
            worker_fail(w, "read", name, "short read: %zd of %zu bytes", got, size);
            return false;
        }
        break;
    }
    default:
        return false;
    }
    if (timed && lat_add(&w->lat, t1 - t0) < 0) {
        worker_fail(w, "record", name, "out of memory");
        return false;
    }
    return true;
}

/* Makes w->buf hold at least n bytes, touched, so that no page fault lands in
 * a timed operation. */
static bool worker_buffer(struct worker *w, size_t n)
{
    if (n > w->bufsize) {
        free(w->buf);
        w->buf = malloc(n);
        w->bufsize = w->buf ? n : 0;
        if (!w->buf) {
            worker_fail(w, "allocate", "-", "out of memory (%zu bytes)", n);
            return false;
        }
    }
    memset(w->buf, 0, n);
    return true;
}

/* Before the barrier: what the phase needs untimed (files to write into, the
 * buffers), then the warmup. */
static bool worker_setup(struct worker *w)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    size_t total = cfg->warmup + cfg->iterations;
    if (r->kind == PH_WRITE) {
        size_t size = cfg->sizes[r->si];
        if (!worker_buffer(w, size))
            return false;
        memcpy(w->buf, r->pattern, size);
        w->files[r->si] = calloc(total, sizeof *w->files[r->si]);
        if (!w->files[r->si]) {
            worker_fail(w, "prepare", "-", "out of memory");
            return false;
        }
        for (size_t j = 0; j < total; j++) {
            char name[48];
            file_name(name, sizeof name, r, r->kind, r->si, j);
            w->made[1 + r->si] = j + 1;
            int rc = r->target.ops->prepare(r->target.ctx, w->dir, name, &w->files[r->si][j]);
            if (rc < 0) {
                worker_fail(w, "create", name, "%s", strerror(-rc));
                return false;
            }
        }
    } else if (r->kind == PH_READ) {
        if (!worker_buffer(w, r->read_slots * cfg->sizes[r->si]))
            return false;
    }
    for (size_t j = 0; j < cfg->warmup; j++) {
        if (atomic_load(&r->abort) || !do_op(w, j, 0, false))
            return false;
        if (r->kind == PH_READ && !verify_reads(w, j, 1))
            return false;
    }
    return true;
}

static const char *phase_json_name(enum phase_kind k);

/* --sync-dir: this process's file for the phase, then a wait (bounded) until
 * sync_count processes have theirs. Called by one thread of the process. */
static bool sync_processes(struct worker *w)
{
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    char tag[48], path[PATH_MAX];
    snprintf(tag, sizeof tag, "%s%zu.", phase_json_name(r->kind), r->kind == PH_CREATE ||
             r->kind == PH_STAT ? (size_t)0 : cfg->sizes[r->si]);
    if (snprintf(path, sizeof path, "%s/%s%ld", cfg->sync_dir, tag, (long)getpid()) >=
        (int)sizeof path) {
        worker_fail(w, "sync", cfg->sync_dir, "path too long");
        return false;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        worker_fail(w, "sync", path, "%s", strerror(errno));
        return false;
    }
    close(fd);
    double give_up = bfs_mono_s() + 60;
    for (;;) {
        DIR *d = opendir(cfg->sync_dir);
        if (!d) {
            worker_fail(w, "sync", cfg->sync_dir, "%s", strerror(errno));
            return false;
        }
        unsigned long n = 0;
        for (struct dirent *e; (e = readdir(d));)
            n += strncmp(e->d_name, tag, strlen(tag)) == 0;
        closedir(d);
        if (n >= cfg->sync_count)
            return true;
        if (bfs_mono_s() > give_up) {
            worker_fail(w, "sync", cfg->sync_dir, "%lu of %lu processes came within 60 s", n,
                        cfg->sync_count);
            return false;
        }
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    pthread_mutex_lock(&r->gate_mu);
    while (r->gate == 0)
        pthread_cond_wait(&r->gate_cv, &r->gate_mu);
    int gate = r->gate;
    pthread_mutex_unlock(&r->gate_mu);
    if (gate < 0)   /* not all threads could be started: the barrier would never fill */
        return NULL;
    bool ok = worker_setup(w);
    /* Every thread reaches the barrier, even after an error, or the others would wait forever. */
    pthread_barrier_wait(&r->barrier);
    if (cfg->sync_dir) {
        /* One thread meets the other processes; all wait for it. (A failed
         * thread still comes, or the others would wait forever.) */
        if (w->k == 0 && (!ok || atomic_load(&r->abort) || !sync_processes(w)))
            atomic_store(&r->abort, true);
        pthread_barrier_wait(&r->sync_barrier);
    }
    if (!ok || atomic_load(&r->abort))
        return NULL;
    /* Reads fill the read slots; a full set is verified before going on, the
     * last set after the clock stopped, so that with the usual sizes checking
     * the data does not count in Total. */
    size_t batch_first = cfg->warmup, batched = 0;
    w->t_start = (uint64_t)bfs_mono_ns();
    for (size_t j = cfg->warmup; j < cfg->warmup + cfg->iterations; j++) {
        if (atomic_load(&r->abort) || !do_op(w, j, batched, true))
            break;
        if (r->kind == PH_READ && ++batched == r->read_slots) {
            if (!verify_reads(w, batch_first, batched))
                break;
            batch_first = j + 1;
            batched = 0;
        }
    }
    w->t_end = (uint64_t)bfs_mono_ns();
    if (r->kind == PH_READ && !w->failed && batched)
        verify_reads(w, batch_first, batched);
    return NULL;
}

/* Runs one benchmark on all threads and summarizes it. Returns 0, or -1 after
 * printing what failed. */
static int run_phase(struct run *r, enum phase_kind kind, unsigned si, struct result *res)
{
    const struct config *cfg = r->cfg;
    unsigned nthreads = (unsigned)cfg->threads;
    unsigned char *pattern = NULL;
    int ret = -1;

    r->kind = kind;
    r->si = si;
    if (kind != PH_CREATE && kind != PH_STAT) {
        pattern = malloc(cfg->sizes[si]);
        if (!pattern) {
            fprintf(stderr, "Error: out of memory\n");
            return -1;
        }
        fill_pattern(pattern, cfg->sizes[si]);
    }
    r->pattern = pattern;
    /* As many read slots as the budget allows (at least one, at most all reads). */
    r->read_slots = 1;
    if (kind == PH_READ) {
        size_t per_thread = READ_BUDGET / nthreads / cfg->sizes[si];
        r->read_slots = per_thread < 1 ? 1 : per_thread > cfg->iterations ? cfg->iterations
                                                                          : per_thread;
    }
    for (unsigned k = 0; k < nthreads; k++) {
        if (lat_init(&r->w[k].lat, cfg->iterations) < 0) {
            fprintf(stderr, "Error: out of memory\n");
            goto out_lat;
        }
    }
    int prc = pthread_barrier_init(&r->barrier, NULL, nthreads);
    if (!prc && (prc = pthread_barrier_init(&r->sync_barrier, NULL, nthreads)))
        pthread_barrier_destroy(&r->barrier);
    if (prc) {
        fprintf(stderr, "Error: pthread_barrier_init: %s\n", strerror(prc));
        goto out_lat;
    }
    r->gate = 0;
    unsigned started = 0;
    for (; started < nthreads; started++) {
        prc = pthread_create(&r->w[started].tid, NULL, worker_main, &r->w[started]);
        if (prc)
            break;
    }
    pthread_mutex_lock(&r->gate_mu);
    r->gate = started == nthreads ? 1 : -1;
    pthread_cond_broadcast(&r->gate_cv);
    pthread_mutex_unlock(&r->gate_mu);
    for (unsigned k = 0; k < started; k++)
        pthread_join(r->w[k].tid, NULL);
    pthread_barrier_destroy(&r->barrier);
    pthread_barrier_destroy(&r->sync_barrier);
    if (started < nthreads) {
        fprintf(stderr, "Error: cannot start thread %u of %u: %s\n", started + 1, nthreads,
                strerror(prc));
        goto out_lat;
    }

    for (unsigned k = 0; k < nthreads; k++) {
        if (r->w[k].failed) {
            print_worker_error(r, &r->w[k]);
            goto out_lat;
        }
    }
    struct lat_stats all;
    if (lat_init(&all, (size_t)cfg->iterations * nthreads) < 0) {
        fprintf(stderr, "Error: out of memory\n");
        goto out_lat;
    }
    uint64_t start = UINT64_MAX, end = 0;
    for (unsigned k = 0; k < nthreads; k++) {
        lat_merge(&all, &r->w[k].lat);   /* cannot fail: room was reserved */
        if (r->w[k].t_start < start)
            start = r->w[k].t_start;
        if (r->w[k].t_end > end)
            end = r->w[k].t_end;
    }
    res->kind = kind;
    res->size = kind == PH_CREATE || kind == PH_STAT ? 0 : cfg->sizes[si];
    res->wall_ns = end > start ? end - start : 0;
    res->start_ns = start;
    if (lat_summarize(&all, &res->sum) < 0) {
        fprintf(stderr, "Error: out of memory\n");
        lat_free(&all);
        goto out_lat;
    }
    lat_free(&all);
    ret = 0;
out_lat:
    for (unsigned k = 0; k < nthreads; k++)
        lat_free(&r->w[k].lat);
    free(pattern);
    r->pattern = NULL;
    return ret;
}

/* ---- setup and cleanup of the files ---- */

static int make_dirs(struct run *r)
{
    const struct bench_ops *ops = r->target.ops;
    int rc = ops->mkdir(r->target.ctx, r->target.root, r->run_name, &r->run_dir);
    if (rc < 0) {
        fprintf(stderr, "Error: mkdir %s: %s\n", r->label, strerror(-rc));
        return -1;
    }
    r->run_dir_made = true;
    for (unsigned k = 0; k < r->cfg->threads; k++) {
        struct worker *w = &r->w[k];
        rc = ops->mkdir(r->target.ctx, r->run_dir, w->dirname, &w->dir);
        if (rc < 0) {
            fprintf(stderr, "Error: mkdir %s/%s: %s\n", r->label, w->dirname, strerror(-rc));
            return -1;
        }
        w->dir_made = true;
    }
    return 0;
}

/* Removes what the run made: files, then the thread directories, then the run
 * directory. Stops at the first failure (after a server failure every further
 * call would wait for its timeout). With keep, only gives back the handles.
 * Returns 0 or -1 after printing. */
static int cleanup(struct run *r, bool keep)
{
    const struct bench_ops *ops = r->target.ops;
    void *ctx = r->target.ctx;
    int ret = 0;
    for (unsigned k = 0; k < r->cfg->threads; k++) {
        struct worker *w = &r->w[k];
        if (!w->dir_made)
            continue;
        for (unsigned set = 0; !keep && ret == 0 && set <= r->cfg->nsizes; set++) {
            for (size_t j = 0; j < w->made[set]; j++) {
                char name[48];
                file_name(name, sizeof name, r, set ? PH_WRITE : PH_CREATE, set ? set - 1 : 0, j);
                int rc = ops->unlink(ctx, w->dir, name);
                if (rc < 0 && rc != -ENOENT) {   /* ENOENT: a create that failed */
                    fprintf(stderr, "Error: unlink %s/%s/%s: %s\n", r->label, w->dirname, name,
                            strerror(-rc));
                    ret = -1;
                    break;
                }
            }
        }
        ops->put_dir(ctx, w->dir);
        w->dir_made = false;
        if (!keep && ret == 0) {
            int rc = ops->rmdir(ctx, r->run_dir, w->dirname);
            if (rc < 0) {
                fprintf(stderr, "Error: rmdir %s/%s: %s\n", r->label, w->dirname, strerror(-rc));
                ret = -1;
            }
        }
    }
    if (r->run_dir_made) {
        ops->put_dir(ctx, r->run_dir);
        r->run_dir_made = false;
        if (!keep && ret == 0) {
            int rc = ops->rmdir(ctx, r->target.root, r->run_name);
            if (rc < 0) {
                fprintf(stderr, "Error: rmdir %s: %s\n", r->label, strerror(-rc));
                ret = -1;
            }
        }
    }
    if (ret < 0)
        fprintf(stderr, "Error: benchmark files left in %s\n", r->label);
    else if (keep)
        fprintf(stderr, "Benchmark files kept in %s\n", r->label);
    return ret;
}

/* ---- output ---- */

static const char *phase_title(enum phase_kind k)
{
    return k == PH_CREATE ? "Metadata Create" : k == PH_WRITE ? "Small Write"
           : k == PH_READ ? "Small Read" : "Metadata Stat";
}

static const char *phase_json_name(enum phase_kind k)
{
    return k == PH_CREATE ? "metadata_create" : k == PH_WRITE ? "small_write"
           : k == PH_READ ? "small_read" : "metadata_stat";
}

static double ops_per_sec(const struct result *res)
{
    return res->wall_ns ? (double)res->sum.count * 1e9 / (double)res->wall_ns : 0.0;
}

static void print_config(const struct config *cfg)
{
    printf("Configuration:\n");
    printf("  Iterations: %lu\n", cfg->iterations);
    printf("  Warmup:     %lu\n", cfg->warmup);
    printf("  File sizes: [");
    for (unsigned i = 0; i < cfg->nsizes; i++)
        printf("%s%zu", i ? ", " : "", cfg->sizes[i]);
    printf("] bytes\n");
    printf("  Threads:    %lu\n", cfg->threads);
    printf("\n");
}

static void print_result(const struct result *res)
{
    char d[FMT_DURATION_MAX];
    printf("\n");
    if (res->kind == PH_CREATE)
        printf("  %s (file creation)\n", phase_title(res->kind));
    else if (res->kind == PH_STAT)
        printf("  %s (file stat)\n", phase_title(res->kind));
    else
        printf("  %s (%zu bytes)\n", phase_title(res->kind), res->size);
    printf("    Iterations: %llu\n", (unsigned long long)res->sum.count);
    fmt_duration(res->wall_ns, d, sizeof d);
    printf("    Total:      %s\n", d);
    fmt_duration(res->sum.avg, d, sizeof d);
    printf("    Average:    %s\n", d);
    fmt_duration(res->sum.min, d, sizeof d);
    printf("    Min:        %s\n", d);
    fmt_duration(res->sum.max, d, sizeof d);
    printf("    Max:        %s\n", d);
    fmt_duration(res->sum.p50, d, sizeof d);
    printf("    p50:        %s\n", d);
    fmt_duration(res->sum.p99, d, sizeof d);
    printf("    p99:        %s\n", d);
    printf("    Throughput: %.2f ops/sec\n", ops_per_sec(res));
}

/* A JSON string: quotes, backslashes and control characters escaped; other
 * bytes as they are. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Returns 0 or -1 after printing. Closes f. */
static int write_json(FILE *f, const char *path, const struct config *cfg,
                      const struct result *res, size_t nres)
{
    fprintf(f, "{\"mode\":");
    json_str(f, cfg->mode == MODE_DIR ? "dir" : "client");
    if (cfg->mode == MODE_DIR) {
        fprintf(f, ",\"dir\":");
        json_str(f, cfg->dir);
    } else {
        fprintf(f, ",\"registry_dir\":");
        json_str(f, cfg->registry_dir);
    }
    fprintf(f, ",\"iterations\":%lu,\"warmup\":%lu,\"threads\":%lu,\"sizes\":[", cfg->iterations,
            cfg->warmup, cfg->threads);
    for (unsigned i = 0; i < cfg->nsizes; i++)
        fprintf(f, "%s%zu", i ? "," : "", cfg->sizes[i]);
    fprintf(f, "],\n \"results\":[");
    for (size_t i = 0; i < nres; i++) {
        const struct result *x = &res[i];
        fprintf(f,
                "%s\n  {\"name\":\"%s\",\"size\":%zu,\"iterations\":%llu,\"total_ns\":%llu,"
                "\"avg_ns\":%llu,\"min_ns\":%llu,\"max_ns\":%llu,\"p50_ns\":%llu,"
                "\"p99_ns\":%llu,\"ops_per_sec\":%.2f,\"start_ns\":%llu}",
                i ? "," : "", phase_json_name(x->kind), x->size,
                (unsigned long long)x->sum.count, (unsigned long long)x->wall_ns,
                (unsigned long long)x->sum.avg, (unsigned long long)x->sum.min,
                (unsigned long long)x->sum.max, (unsigned long long)x->sum.p50,
                (unsigned long long)x->sum.p99, ops_per_sec(x), (unsigned long long)x->start_ns);
    }
    fprintf(f, "\n]}\n");
    bool bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "Error: writing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int print_server_counters(struct bfs_client *c)
{
    uint32_t nodes = bfs_client_nodes(c);
    uint64_t counts[MAX_COUNTERS];
    printf("\n");
    for (uint32_t node = 0; node < nodes; node++) {
        int n = bfs_server_counters(c, node, counts, MAX_COUNTERS);
        if (n < 0) {
            fprintf(stderr, "Error: request counters of server node %u: %s\n", node,
                    strerror(-n));
            return -1;
        }
        unsigned long long sum = 0;
        for (int i = 0; i < n && i < MAX_COUNTERS; i++)
            sum += counts[i];
        printf("Server node %u requests: %llu (", node, sum);
        const char *sep = "";
        for (int i = 1; i < n && i < MAX_COUNTERS; i++) {
            if (counts[i]) {
                printf("%s%s %llu", sep, proto_op_name((uint32_t)i), (unsigned long long)counts[i]);
                sep = ", ";
            }
        }
        printf(")\n");
    }
    return 0;
}

/* ---- the run ---- */

/* --phase-hook: "CMD PHASE begin|end [requests of node 0, 1, ...]". */
static int run_hook(const struct config *cfg, struct bfs_client *c, enum phase_kind kind,
                    unsigned si, const char *what)
{
    char cmd[8192];
    char phase[32];
    if (kind == PH_CREATE)
        snprintf(phase, sizeof phase, "create");
    else
        snprintf(phase, sizeof phase, "%s%zu", kind == PH_WRITE ? "write" : "read", cfg->sizes[si]);
    int len = snprintf(cmd, sizeof cmd, "%s %s %s", cfg->phase_hook, phase, what);
    for (uint32_t node = 0; c && node < bfs_client_nodes(c) && len < (int)sizeof cmd; node++) {
        uint64_t counts[MAX_COUNTERS];
        int n = bfs_server_counters(c, node, counts, MAX_COUNTERS);
        if (n < 0) {
            fprintf(stderr, "Error: request counters of server node %u: %s\n", node, strerror(-n));
            return -1;
        }
        unsigned long long sum = 0;
        for (int i = 0; i < n && i < MAX_COUNTERS; i++)
            sum += counts[i];
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %llu", sum);
    }
    if (len >= (int)sizeof cmd) {
        fprintf(stderr, "Error: --phase-hook command too long\n");
        return -1;
    }
    fflush(stdout);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "Error: --phase-hook '%s' failed (status %d)\n", cmd, rc);
        return -1;
    }
    return 0;
}

/* run_phase between the hook's begin and end. */
static int hooked_phase(struct run *r, enum phase_kind kind, unsigned si, struct result *res,
                        struct bfs_client *c)
{
    const struct config *cfg = r->cfg;
    if (cfg->phase_hook && run_hook(cfg, c, kind, si, "begin") < 0)
        return -1;
    int rc = run_phase(r, kind, si, res);
    if (rc == 0 && cfg->phase_hook && run_hook(cfg, c, kind, si, "end") < 0)
        return -1;
    return rc;
}

/* Runs all benchmarks on the target and prints the report. Returns the exit status. */
static int run_benchmarks(const struct config *cfg, struct bench_target *target,
                          const char *where, FILE *json, struct bfs_client *client)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.target = *target;
    atomic_init(&r.abort, false);
    pthread_mutex_init(&r.gate_mu, NULL);
    pthread_cond_init(&r.gate_cv, NULL);
    snprintf(r.run_name, sizeof r.run_name, "benchfs-bench.%d", (int)getpid());
    if (asprintf(&r.label, "%s/%s", where, r.run_name) < 0)
        r.label = NULL;

    size_t nres = 2 + 2 * (size_t)cfg->nsizes;
    struct result *res = calloc(nres, sizeof *res);
    r.w = calloc(cfg->threads, sizeof *r.w);
    int status = 1;
    if (!r.label || !res || !r.w) {
        fprintf(stderr, "Error: out of memory\n");
        goto out;
    }
    for (unsigned k = 0; k < cfg->threads; k++) {
        struct worker *w = &r.w[k];
        w->run = &r;
        w->k = k;
        snprintf(w->dirname, sizeof w->dirname, "t%u", k);
    }

    print_config(cfg);
    if (make_dirs(&r) < 0)
        goto out_cleanup;

    /* The seed's order: create, then every write size, then every read size
     * (reads read back what the writes of that size wrote). */
    size_t ri = 0;
    printf("Running metadata create benchmark...\n");
    fflush(stdout);
    if (hooked_phase(&r, PH_CREATE, 0, &res[ri++], client) < 0)
        goto out_cleanup;
    for (unsigned i = 0; i < cfg->nsizes; i++) {
        printf("Running small write benchmark (%zu bytes)...\n", cfg->sizes[i]);
        fflush(stdout);
        if (hooked_phase(&r, PH_WRITE, i, &res[ri++], client) < 0)
            goto out_cleanup;
    }
    for (unsigned i = 0; i < cfg->nsizes; i++) {
        printf("Running small read benchmark (%zu bytes)...\n", cfg->sizes[i]);
        fflush(stdout);
        if (hooked_phase(&r, PH_READ, i, &res[ri++], client) < 0)
            goto out_cleanup;
    }
    /* After the seed's phases, so that their numbers stay as they were. */
    printf("Running metadata stat benchmark...\n");
    fflush(stdout);
    if (run_phase(&r, PH_STAT, 0, &res[ri++]) < 0)
        goto out_cleanup;

    printf("\n=== Benchmark Results ===\n");
    for (size_t i = 0; i < nres; i++)
        print_result(&res[i]);
    fflush(stdout);
    status = 0;
    if (json) {
        FILE *f = json;
        json = NULL;
        if (write_json(f, cfg->json_path, cfg, res, nres) < 0)
            status = 1;
    }
    if (client && cfg->show_counters && print_server_counters(client) < 0)
        status = 1;
    fflush(stdout);

out_cleanup:
    fflush(stdout);
    if (cleanup(&r, cfg->keep) < 0)
        status = 1;
out:
    if (json)
        fclose(json);
    if (r.w) {
        for (unsigned k = 0; k < cfg->threads; k++) {
            free(r.w[k].buf);
            for (unsigned i = 0; i < MAX_SIZES; i++)
                free(r.w[k].files[i]);
        }
    }
    free(r.w);
    free(res);
    free(r.label);
    pthread_cond_destroy(&r.gate_cv);
    pthread_mutex_destroy(&r.gate_mu);
    return status;
}

static int main_dir(const struct config *cfg, FILE *json)
{
    printf("Starting BenchFS benchmark on %s...\n\n", cfg->dir);
    printf("=== BenchFS Small-File Benchmark (Directory Mode: %s) ===\n\n", cfg->dir);
    fflush(stdout);

    struct bench_target t;
    int rc = bench_target_dir(cfg->dir, &t);
    if (rc < 0) {
        fprintf(stderr, "Error: open %s: %s\n", cfg->dir, strerror(-rc));
        if (json)
            fclose(json);
        return 1;
    }
    /* Messages name files under the directory as given, without a doubled '/'. */
    char *where = strdup(cfg->dir);
    if (!where) {
        fprintf(stderr, "Error: out of memory\n");
        bench_target_close(&t);
        if (json)
            fclose(json);
        return 1;
    }
    size_t len = strlen(where);
    while (len > 1 && where[len - 1] == '/')
        where[--len] = '\0';
    if (strcmp(where, "/") == 0)
        where[0] = '\0';
    int status = run_benchmarks(cfg, &t, where, json, NULL);
    free(where);
    bench_target_close(&t);
    return status;
}

static int main_client(const struct config *cfg, FILE *json)
{
    printf("Starting BenchFS client...\n\n");
    printf("  Registry directory: %s\n\n", cfg->registry_dir);
    printf("Setting up client node...\n");
    printf("Waiting for server to register (timeout: %g seconds)...\n", cfg->timeout_s);
    fflush(stdout);

    /* The public API (lib/benchfs.h): the numbers are what a program linking
     * libbenchfs gets. */
    struct benchfs_opts o = { .connect_timeout_s = cfg->timeout_s, .rpc_timeout_s = 30 };
    benchfs_t *fs = NULL;
    int rc = benchfs_connect(cfg->registry_dir, &o, &fs);
    if (rc < 0) {
        fprintf(stderr, "Error: Failed to connect to server: RegistryError(%s)\n", strerror(-rc));
        if (json)
            fclose(json);
        return 1;
    }
    printf("Successfully connected to server\n\n");
    printf("=== BenchFS 2-Node Benchmark (Distributed Mode) ===\n\n");
    fflush(stdout);

    struct bench_target t;
    int status;
    if (bench_target_client(fs, &t) < 0) {
        fprintf(stderr, "Error: out of memory\n");
        if (json)
            fclose(json);
        status = 1;
    } else {
        /* Paths in messages are BenchFS paths, from its root. */
        status = run_benchmarks(cfg, &t, "", json, lib_client(fs));
        bench_target_close(&t);
    }
    benchfs_disconnect(fs);
    return status;
}

int main(int argc, char **argv)
{
    log_init(PROG);

    int width = 0;
    int at = find_server_mode(argc, argv, &width);
    if (at > 0)
        return run_server_mode(argc, argv, at, width);

    struct config cfg = {
        .mode = MODE_NONE,
        .timeout_s = 30,
        .iterations = 100,
        .warmup = 10,
        .threads = 1,
        .sizes = { 1024, 4096, 16384 },
        .nsizes = 3,
    };
    parse_args(argc, argv, &cfg);
    if (cfg.mode == MODE_DIR)
        check_dir(cfg.dir);

    /* Opened before the run so that a bad path fails now, not after it. */
    FILE *json = NULL;
    if (cfg.json_path) {
        json = fopen(cfg.json_path, "w");
        if (!json) {
            fprintf(stderr, PROG ": --json %s: %s\n", cfg.json_path, strerror(errno));
            return 2;
        }
    }
    return cfg.mode == MODE_DIR ? main_dir(&cfg, json) : main_client(&cfg, json);
}
