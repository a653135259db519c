/* fsx.c - a file system exerciser in the manner of the classic Apple/Linux fsx.
 *
 *   fsx [-N ops] [-S seed] [-l maxlen] [-o maxop] [-t secs] [-L label] [-v] [-P] FILE
 *
 * -P: plain I/O only (mmap, copy_file_range and fallocate ops become reads and
 * writes): under libbenchfs-preload.so those would move the file to the mount.
 *
 * One file, a seeded PRNG and an in-memory model of the bytes the file must
 * hold. Each random operation -- write (also past EOF, leaving a hole), read
 * (also across and past EOF), truncate and ftruncate up and down, fsync and
 * fdatasync, close + reopen (close-to-open caching), mmap read, mmap write
 * (MAP_SHARED + msync), copy_file_range, fallocate (allocate, punch a hole,
 * zero a range, with and without KEEP_SIZE) and recreate (unlink while open,
 * then a new file with the first few KiB of the old one) -- is applied to
 * the file and to the model; every read is compared with the model and
 * st_size is checked after every operation. On the first difference fsx prints the last
 * operations, the first bad byte (expected and got) and exits 1.
 *
 * Sizes take K/M/G suffixes. Defaults: 10000 ops, seed from the clock,
 * maxlen 1M, maxop 128K. Offsets are biased toward multiples of 16 KiB so
 * that BenchFS's inline-data threshold (16 KiB) and chunk boundaries (any
 * power-of-two chunk size from 4 KiB up) are hit often, not by luck.
 *
 * -t stops early after that many seconds (on a loaded machine), with the
 * same final check; N in the PASS line is then the ops done, and -N N
 * replays them.
 *
 * Output: "PASS: fsx LABEL N ops seed S" or "FAIL: fsx LABEL seed S: ..."
 * (the lines tests/run.sh counts); LABEL defaults to FILE. The same seed
 * and flags replay the same operations, so every failure is reproducible.
 * Exit 0 pass, 1 fail, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Offsets near multiples of this are picked often (see above). */
#define BOUNDARY 16384u
/* How many of the last operations a failure report shows. */
#define LOG_KEEP 20

enum op_kind {
    OP_READ, OP_WRITE, OP_MAPREAD, OP_MAPWRITE, OP_TRUNCATE, OP_FTRUNCATE,
    OP_FSYNC, OP_REOPEN, OP_COPY, OP_RECREATE, OP_FALLOC, OP_NKINDS
};
static const char *const op_names[OP_NKINDS] = {
    "read", "write", "mapread", "mapwrite", "truncate", "ftruncate",
    "fsync", "reopen", "copy", "recreate", "fallocate",
};
/* Relative frequencies: data ops dominate; size changes, reopens and
 * recreates are frequent enough to happen hundreds of times in 10000 ops. */
static const unsigned op_weight[OP_NKINDS] = { 20, 20, 8, 8, 5, 5, 3, 6, 5, 2, 5 };

struct logent {
    unsigned long n;
    enum op_kind kind;
    uint64_t off, len;      /* write/read range; truncate: off = new size */
    uint64_t src;           /* copy: source offset; recreate: bytes kept */
    uint64_t before, after; /* file size before and after */
    const char *note;
};

/* Settings. */
static const char *path;
static const char *label;
static uint64_t maxlen = 1u << 20, maxop = 128u << 10;
static unsigned long nops = 10000;
static uint64_t seed;
static bool verbose;
static double time_limit; /* -t: 0 = none */

/* State. */
static int fd = -1;
static unsigned char *good;     /* the model: maxlen bytes, zero past file_size */
static unsigned char *temp;     /* what the file returned */
static size_t temp_size;
static uint64_t file_size;
static uint64_t rng;
static unsigned long opnum;
static unsigned long ops_done;
static bool in_final_check;
static size_t pagesize;
static bool map_read_ok = true, map_write_ok = true, copy_ok = true, falloc_ok = true;
static unsigned long counts[OP_NKINDS];
static unsigned long fallbacks;
static struct logent oplog[LOG_KEEP];
static unsigned long nlogged;
static struct logent *cur;

/* SIGBUS on a mapped page (e.g. the kernel's idea of the size is wrong) is
 * reported as a failure with the op log instead of killing the process. */
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

/* splitmix64: tiny, good enough, and identical everywhere for a seed. */
static uint64_t rnd64(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. The modulo bias is negligible for 64 bits. */
static uint64_t rnd(uint64_t n)
{
    return rnd64() % n;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void print_log(void)
{
    unsigned long first = nlogged > LOG_KEEP ? nlogged - LOG_KEEP : 0;
    printf("  last %lu operations (offsets and lengths in hex):\n", nlogged - first);
    for (unsigned long i = first; i < nlogged; i++) {
        const struct logent *e = &oplog[i % LOG_KEEP];
        printf("  %6lu %-9s", e->n, op_names[e->kind]);
        switch (e->kind) {
        case OP_TRUNCATE:
        case OP_FTRUNCATE:
            printf(" to 0x%-8" PRIx64 "                    ", e->off);
            break;
        case OP_RECREATE:
            printf(" keeps 0x%-6" PRIx64 "                   ", e->src);
            break;
        case OP_FSYNC:
        case OP_REOPEN:
            printf("                                  ");
            break;
        default:
            printf(" 0x%-8" PRIx64 " len 0x%-6" PRIx64 " end 0x%-8" PRIx64,
                   e->off, e->len, e->off + e->len);
        }
        printf(" size 0x%" PRIx64 " -> 0x%" PRIx64, e->before, e->after);
        if (e->kind == OP_COPY)
            printf(" from 0x%" PRIx64, e->src);
        if (e->kind == OP_FALLOC)
            printf(" mode 0x%" PRIx64, e->src);
        if (e->note)
            printf(" (%s)", e->note);
        printf("\n");
    }
}

/* Reports a failure of the current op and exits 1. */
_Noreturn __attribute__((format(printf, 1, 2)))
static void failf(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_log();
    /* the ops are the same whatever -N is, so -N up to the failing op replays it */
    printf("  reproduce: fsx -N %lu -S %" PRIu64 " -l %" PRIu64 " -o %" PRIu64 " FILE\n",
           in_final_check ? ops_done : opnum, seed, maxlen, maxop);
    printf("FAIL: fsx %s seed %" PRIu64 ": op %lu %s: %s\n", label, seed, opnum,
           cur ? op_names[cur->kind] : "setup", msg);
    fflush(stdout);
    exit(1);
}

/* Records an op before it runs, so that a failing op is in the log. */
static void log_op(enum op_kind kind, uint64_t off, uint64_t len, uint64_t src)
{
    cur = &oplog[nlogged++ % LOG_KEEP];
    *cur = (struct logent){ .n = opnum, .kind = kind, .off = off, .len = len,
                            .src = src, .before = file_size, .after = file_size };
    counts[kind]++;
}

/* Fills the model's [off, off+len) with op-tagged bytes: even offsets get
 * the op number (mod 255, never 0, so a hole reads differently), odd offsets
 * random bytes. A stale byte found later then names the op that wrote it. */
static void fill_model(uint64_t off, uint64_t len)
{
    unsigned char tag = (unsigned char)(opnum % 255 + 1);
    for (uint64_t i = 0; i < len; i++) {
        uint64_t o = off + i;
        good[o] = (o & 1) ? (unsigned char)rnd64() : tag;
    }
}

/* The ops in the log that wrote byte value v at offset o (for the report). */
static void guess_writer(uint64_t o, unsigned char v)
{
    if (v == 0) {
        printf("  got a zero byte: a hole, a lost write or a stale truncate\n");
        return;
    }
    if (o & 1)
        return;
    printf("  the bad byte 0x%02x at an even offset was written by an op numbered %u mod 255",
           v, v - 1u);
    unsigned long first = nlogged > LOG_KEEP ? nlogged - LOG_KEEP : 0;
    for (unsigned long i = first; i < nlogged; i++) {
        const struct logent *e = &oplog[i % LOG_KEEP];
        if (e->n % 255 == v - 1u && (e->kind == OP_WRITE || e->kind == OP_MAPWRITE))
            printf("; in the log: op %lu (%s 0x%" PRIx64 "+0x%" PRIx64 ")", e->n,
                   op_names[e->kind], e->off, e->len);
    }
    printf("\n");
}

/* Compares len bytes read at file offset off with the model. */
static void check_buf(uint64_t off, const unsigned char *buf, size_t len, const char *what)
{
    if (memcmp(good + off, buf, len) == 0)
        return;
    size_t i = 0;
    while (good[off + i] == buf[i])
        i++;
    size_t nbad = 0, last = i;
    for (size_t j = i; j < len; j++)
        if (good[off + j] != buf[j]) {
            nbad++;
            last = j;
        }
    uint64_t bad = off + i;
    printf("  %s of 0x%" PRIx64 "+0x%zx: first bad byte at file offset 0x%" PRIx64
           " (%" PRIu64 "), expected 0x%02x, got 0x%02x; %zu bad bytes, the last at 0x%" PRIx64
           "\n",
           what, off, len, bad, bad, good[bad], buf[i], nbad, off + last);
    guess_writer(bad, buf[i]);
    /* 32 bytes from the 16-byte line holding the first bad byte */
    size_t from = i & ~(size_t)15;
    size_t to = min64(from + 32, len);
    printf("  offset      expected / got\n");
    for (size_t l = from; l < to; l += 16) {
        printf("  0x%08" PRIx64 " ", off + l);
        for (size_t k = l; k < l + 16 && k < to; k++)
            printf(" %02x", good[off + k]);
        printf("\n             ");
        for (size_t k = l; k < l + 16 && k < to; k++)
            printf(" %02x", buf[k]);
        printf("\n");
    }
    failf("%s: data mismatch at offset 0x%" PRIx64 " (expected 0x%02x, got 0x%02x)",
          what, bad, good[bad], buf[i]);
}

/* pread until len bytes or EOF; returns the count. */
static size_t read_full(uint64_t off, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            failf("pread at 0x%" PRIx64 " len 0x%zx: %s", off + done, len - done, strerror(errno));
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return done;
}

/* pwrite all of len bytes (a short count is retried, 0 is a failure). */
static void write_full(uint64_t off, const unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            failf("pwrite at 0x%" PRIx64 " len 0x%zx: %s", off + done, len - done, strerror(errno));
        }
        if (r == 0)
            failf("pwrite at 0x%" PRIx64 " len 0x%zx wrote nothing", off + done, len - done);
        done += (size_t)r;
    }
}

/* Reads [off, off+len) and checks count and bytes against the model. */
static void read_check(uint64_t off, uint64_t len, const char *what)
{
    uint64_t want = off < file_size ? min64(len, file_size - off) : 0;
    size_t got = read_full(off, temp, (size_t)len);
    if (got != want)
        failf("%s of 0x%" PRIx64 "+0x%" PRIx64 " returned 0x%zx bytes, expected 0x%" PRIx64
              " (file size 0x%" PRIx64 ")", what, off, len, got, want, file_size);
    check_buf(off, temp, got, what);
}

/* An offset in [0, limit), limit > 0: a quarter of them within 32 bytes of
 * a multiple of 16 KiB (inline threshold, chunk boundaries). */
static uint64_t pick_offset(uint64_t limit)
{
    if (rnd(4) == 0) {
        uint64_t b = rnd(limit / BOUNDARY + 1) * BOUNDARY;
        uint64_t d = rnd(65);
        uint64_t o = d < 32 ? (b > 32 - d ? b - (32 - d) : 0) : b + (d - 32);
        return o < limit ? o : limit - 1;
    }
    return rnd(limit);
}

/* A length in [1, max], max > 0: some tiny, some page multiples, most uniform. */
static uint64_t pick_len(uint64_t max)
{
    switch (rnd(8)) {
    case 0:
        return 1 + rnd(min64(16, max));
    case 1:
        if (max >= 4096)
            return 4096 * (1 + rnd(max / 4096));
        /* fall through */
    default:
        return 1 + rnd(max);
    }
}

/* A new size for truncate: often small (around the 16 KiB inline threshold,
 * so files migrate to chunks again and again), often near a boundary. */
static uint64_t pick_size(void)
{
    switch (rnd(3)) {
    case 0:
        return rnd(min64(2 * BOUNDARY, maxlen) + 1);
    case 1:
        return pick_offset(maxlen) + 1;
    default:
        return rnd(maxlen + 1);
    }
}

static void model_resize(uint64_t size)
{
    if (size < file_size)
        memset(good + size, 0, file_size - size);
    file_size = size;
}

static void check_size(void)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        failf("fstat: %s", strerror(errno));
    if ((uint64_t)st.st_size != file_size)
        failf("st_size is 0x%" PRIx64 " (%" PRIu64 "), expected 0x%" PRIx64 " (%" PRIu64 ")",
              (uint64_t)st.st_size, (uint64_t)st.st_size, file_size, file_size);
}

static void on_sigbus(int sig)
{
    (void)sig;
    if (bus_armed)
        siglongjmp(bus_jmp, 1);
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
}

/* memcpy that turns a SIGBUS into -1 (only dst/src/n are used after the
 * jump, and they are not modified, so no clobbering concerns). */
static int guarded_copy(void *dst, const void *src, size_t n)
{
    if (sigsetjmp(bus_jmp, 1)) {
        bus_armed = 0;
        return -1;
    }
    bus_armed = 1;
    memcpy(dst, src, n);
    bus_armed = 0;
    return 0;
}

static void do_write(void)
{
    uint64_t off;
    switch (rnd(8)) {
    case 0: /* append */
        off = file_size < maxlen ? file_size : pick_offset(maxlen);
        break;
    case 1: /* past EOF: leaves a hole */
        off = file_size < maxlen ? file_size + rnd(maxlen - file_size) : pick_offset(maxlen);
        break;
    default:
        off = pick_offset(maxlen);
    }
    uint64_t len = pick_len(min64(maxop, maxlen - off));
    log_op(OP_WRITE, off, len, 0);
    fill_model(off, len);
    write_full(off, good + off, (size_t)len);
    if (off + len > file_size)
        file_size = off + len;
}

static void do_read(enum op_kind kind)
{
    uint64_t off, len;
    unsigned r = (unsigned)rnd(8);
    if (file_size == 0 || r == 0) { /* at or past EOF: must return 0 */
        off = file_size + rnd(maxop);
        len = pick_len(maxop);
    } else if (r < 3) { /* crosses EOF: must return the bytes up to it */
        uint64_t back = 1 + rnd(min64(file_size, maxop));
        off = file_size - back;
        len = back + 1 + rnd(maxop);
    } else {
        off = pick_offset(file_size);
        len = pick_len(min64(maxop, file_size - off));
    }
    log_op(OP_READ, off, len, 0);
    if (kind != OP_READ)
        cur->note = "plain read instead";
    read_check(off, len, "read");
}

/* The page-aligned mapping covering [off, off+len). */
static unsigned char *map_range(uint64_t off, uint64_t len, int prot, uint64_t *pg, size_t *maplen)
{
    *pg = off & ~(uint64_t)(pagesize - 1);
    *maplen = (size_t)(off + len - *pg);
    void *m = mmap(NULL, *maplen, prot, MAP_SHARED, fd, (off_t)*pg);
    if (m == MAP_FAILED)
        failf("mmap(%s) of 0x%" PRIx64 "+0x%zx: %s", (prot & PROT_WRITE) ? "rw" : "r",
              *pg, *maplen, strerror(errno));
    return m;
}

static void do_mapread(void)
{
    if (!map_read_ok || file_size == 0) {
        fallbacks++;
        do_read(OP_MAPREAD);
        return;
    }
    uint64_t off = pick_offset(file_size);
    uint64_t len = pick_len(min64(maxop, file_size - off));
    if (rnd(4) == 0) /* up to EOF, to look at the rest of the last page */
        len = file_size - off;
    log_op(OP_MAPREAD, off, len, 0);
    uint64_t pg;
    size_t maplen;
    unsigned char *m = map_range(off, len, PROT_READ, &pg, &maplen);
    if (guarded_copy(temp, m + (off - pg), (size_t)len) < 0)
        failf("SIGBUS reading the mapping of 0x%" PRIx64 "+0x%" PRIx64, off, len);
    check_buf(off, temp, (size_t)len, "mapread");
    /* Past EOF, the rest of the last page must read as zeros (POSIX): a
     * server that returns stale bytes past the size would show up here. */
    if (off + len == file_size && file_size % pagesize) {
        size_t tail = pagesize - file_size % pagesize;
        if (guarded_copy(temp, m + maplen, tail) < 0)
            failf("SIGBUS reading the last page past EOF 0x%" PRIx64, file_size);
        for (size_t i = 0; i < tail; i++)
            if (temp[i] != 0)
                failf("mapread: byte 0x%02x at 0x%" PRIx64 ", past EOF 0x%" PRIx64
                      " in the last page (must be 0)", temp[i], file_size + i, file_size);
    }
    if (munmap(m, maplen) < 0)
        failf("munmap: %s", strerror(errno));
}

static void do_mapwrite(void)
{
    if (!map_write_ok) {
        fallbacks++;
        do_write();
        cur->note = "plain write instead";
        return;
    }
    uint64_t off = pick_offset(maxlen);
    uint64_t len = pick_len(min64(maxop, maxlen - off));
    log_op(OP_MAPWRITE, off, len, 0);
    /* A mapping cannot extend a file: grow it first, as classic fsx does. */
    if (off + len > file_size) {
        if (ftruncate(fd, (off_t)(off + len)) < 0)
            failf("ftruncate to 0x%" PRIx64 " before mapwrite: %s", off + len, strerror(errno));
        file_size = off + len;
    }
    uint64_t pg;
    size_t maplen;
    unsigned char *m = map_range(off, len, PROT_READ | PROT_WRITE, &pg, &maplen);
    fill_model(off, len);
    if (guarded_copy(m + (off - pg), good + off, (size_t)len) < 0)
        failf("SIGBUS writing the mapping of 0x%" PRIx64 "+0x%" PRIx64, off, len);
    if (msync(m, maplen, MS_SYNC) < 0)
        failf("msync of 0x%" PRIx64 "+0x%zx: %s", pg, maplen, strerror(errno));
    if (munmap(m, maplen) < 0)
        failf("munmap: %s", strerror(errno));
}

static void do_truncate(enum op_kind kind)
{
    uint64_t size = pick_size();
    log_op(kind, size, 0, 0);
    int rc = kind == OP_TRUNCATE ? truncate(path, (off_t)size) : ftruncate(fd, (off_t)size);
    if (rc < 0)
        failf("%s to 0x%" PRIx64 ": %s", op_names[kind], size, strerror(errno));
    model_resize(size);
}

static void verify_all(const char *what);

/* fsync or fdatasync, then a check of the whole file: the pages just
 * written back must still hold what was written. */
static void do_fsync(void)
{
    bool data = rnd(2);
    log_op(OP_FSYNC, 0, 0, 0);
    cur->note = data ? "fdatasync" : "fsync";
    if ((data ? fdatasync(fd) : fsync(fd)) < 0)
        failf("%s: %s", cur->note, strerror(errno));
    verify_all(data ? "read of the whole file after fdatasync"
                    : "read of the whole file after fsync");
}

static void open_file(int flags)
{
    fd = open(path, flags, 0644);
    if (fd < 0)
        failf("open %s: %s", path, strerror(errno));
}

/* Reads the whole file (one byte more than its size, to see that it ends
 * where it should) and compares it with the model. */
static void verify_all(const char *what)
{
    read_check(0, file_size + 1, what);
}

/* Close and reopen: on BenchFS, open drops cached pages and refreshes the
 * attributes, so the check after it reads what the server has. */
static void do_reopen(void)
{
    log_op(OP_REOPEN, 0, 0, 0);
    if (close(fd) < 0)
        failf("close: %s", strerror(errno));
    fd = -1;
    open_file(O_RDWR);
    struct stat st;
    if (stat(path, &st) < 0)
        failf("stat %s: %s", path, strerror(errno));
    if ((uint64_t)st.st_size != file_size)
        failf("stat after reopen: st_size 0x%" PRIx64 ", expected 0x%" PRIx64,
              (uint64_t)st.st_size, file_size);
    verify_all("read of the whole file after reopen");
}

/* BenchFS keeps a small file's bytes inline in its metadata and moves them
 * to a chunk file when the file grows past 16 KiB -- once per inode: a file
 * stays in chunk mode when it shrinks again. So, to cross the threshold more
 * than once per run, the file is replaced now and then by a new inode that
 * holds the first few KiB (at most 32 KiB) of the old one. The old one is
 * unlinked while still open and closed after, the path of orphaned files. */
static void do_recreate(void)
{
    uint64_t keep = min64(file_size, rnd(2 * BOUNDARY + 1));
    log_op(OP_RECREATE, 0, 0, keep);
    if (unlink(path) < 0)
        failf("unlink %s: %s", path, strerror(errno));
    check_size(); /* the open file is still there, whole */
    if (close(fd) < 0)
        failf("close after unlink: %s", strerror(errno));
    fd = -1;
    open_file(O_RDWR | O_CREAT | O_EXCL);
    model_resize(keep);
    /* in pieces of at most 4 KiB, so they build up inline */
    for (uint64_t off = 0; off < keep; off += 4096)
        write_full(off, good + off, (size_t)min64(4096, keep - off));
}

static void do_copy(void)
{
    if (!copy_ok || file_size == 0) {
        fallbacks++;
        do_read(OP_COPY);
        return;
    }
    uint64_t src = rnd(file_size);
    uint64_t len = pick_len(min64(maxop, file_size - src));
    uint64_t dst = 0;
    bool found = false;
    /* copy_file_range refuses overlapping ranges of one file (EINVAL). */
    for (int tries = 0; tries < 8 && !found; tries++) {
        dst = rnd(4) == 0 ? file_size + rnd(maxlen - file_size + 1) : pick_offset(maxlen);
        if (dst >= maxlen)
            dst = maxlen - 1;
        len = min64(len, maxlen - dst);
        found = dst + len <= src || src + len <= dst;
    }
    log_op(OP_COPY, dst, len, src);
    if (!found) {
        cur->note = "no free destination, skipped";
        return;
    }
    off64_t in = (off64_t)src, out = (off64_t)dst;
    uint64_t done = 0;
    while (done < len) {
        ssize_t r = copy_file_range(fd, &in, fd, &out, (size_t)(len - done), 0);
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (done == 0 && (e == EOPNOTSUPP || e == ENOSYS || e == EXDEV)) {
                printf("fsx: copy_file_range not supported here (%s): copy ops become reads\n",
                       strerror(e));
                copy_ok = false;
                cur->note = "unsupported";
                return;
            }
            failf("copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 " len 0x%" PRIx64 ": %s",
                  src + done, dst + done, len - done, strerror(e));
        }
        if (r == 0)
            failf("copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 " returned 0 with 0x%" PRIx64
                  " of 0x%" PRIx64 " bytes left (source ends at 0x%" PRIx64 ")",
                  src + done, dst + done, len - done, len, file_size);
        done += (uint64_t)r;
    }
    memcpy(good + dst, good + src, (size_t)len);
    if (dst + len > file_size)
        file_size = dst + len;
}

/* fallocate in one of the modes BenchFS does: the model zeroes punched and
 * zeroed ranges (within the size) and grows without KEEP_SIZE. */
static void do_falloc(void)
{
    static const int modes[] = {
        0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
    };
    if (!falloc_ok) {
        fallbacks++;
        do_read(OP_FALLOC);
        return;
    }
    int mode = modes[rnd(sizeof modes / sizeof modes[0])];
    uint64_t off = rnd(3) == 0 && file_size ? rnd(file_size) : pick_offset(maxlen);
    if (off >= maxlen)
        off = maxlen - 1;
    uint64_t len = pick_len(min64(maxop, maxlen - off));
    if (len == 0)
        len = 1;
    log_op(OP_FALLOC, off, len, (uint64_t)mode);
    if (fallocate(fd, mode, (off_t)off, (off_t)len) < 0) {
        int e = errno;
        if (e == EOPNOTSUPP || e == ENOSYS) {
            printf("fsx: fallocate mode 0x%x not supported here (%s): fallocate ops become reads\n",
                   mode, strerror(e));
            falloc_ok = false;
            cur->note = "unsupported";
            return;
        }
        failf("fallocate mode 0x%x 0x%" PRIx64 " len 0x%" PRIx64 ": %s", mode, off, len,
              strerror(e));
    }
    uint64_t end = off + len;
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
        if (off < file_size)
            memset(good + off, 0, (size_t)(min64(end, file_size) - off));
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > file_size)
        file_size = end;   /* the model is zero past the old size already */
}

/* Does MAP_SHARED work on this file at all? (Not with -o direct_io on many
 * kernels.) An op the mount cannot do is skipped, loudly, not failed. */
static void probe_mmap(void)
{
    if (ftruncate(fd, (off_t)pagesize) < 0)
        failf("ftruncate for the mmap probe: %s", strerror(errno));
    void *m = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        printf("fsx: shared writable mmap not supported here (%s): mapwrite ops become writes\n",
               strerror(errno));
        map_write_ok = false;
        m = mmap(NULL, pagesize, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            printf("fsx: shared read-only mmap not supported here (%s): mapread ops become reads\n",
                   strerror(errno));
            map_read_ok = false;
        }
    }
    if (m != MAP_FAILED && munmap(m, pagesize) < 0)
        failf("munmap after the mmap probe: %s", strerror(errno));
    if (ftruncate(fd, 0) < 0)
        failf("ftruncate after the mmap probe: %s", strerror(errno));
}

static enum op_kind pick_kind(void)
{
    unsigned total = 0;
    for (int k = 0; k < OP_NKINDS; k++)
        total += op_weight[k];
    unsigned r = (unsigned)rnd(total);
    for (int k = 0; k < OP_NKINDS; k++) {
        if (r < op_weight[k])
            return (enum op_kind)k;
        r -= op_weight[k];
    }
    return OP_READ;
}

static void run_op(enum op_kind kind)
{
    switch (kind) {
    case OP_READ: do_read(OP_READ); break;
    case OP_WRITE: do_write(); break;
    case OP_MAPREAD: do_mapread(); break;
    case OP_MAPWRITE: do_mapwrite(); break;
    case OP_TRUNCATE:
    case OP_FTRUNCATE: do_truncate(kind); break;
    case OP_FSYNC: do_fsync(); break;
    case OP_REOPEN: do_reopen(); break;
    case OP_COPY: do_copy(); break;
    case OP_RECREATE: do_recreate(); break;
    case OP_FALLOC: do_falloc(); break;
    case OP_NKINDS: break;
    }
}

static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return false;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end)
        return false;
    *out = v;
    return true;
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) < 0)
        failf("clock_gettime: %s", strerror(errno));
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: fsx [-N ops] [-S seed] [-l maxlen] [-o maxop] [-t secs] [-L label]"
                    " [-v] [-P] FILE\n"
                    "  sizes take K/M/G suffixes; defaults: -N 10000 -l 1M -o 128K, seed from the clock\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct timespec t0;
    if (clock_gettime(CLOCK_MONOTONIC, &t0) < 0)
        return perror("clock_gettime"), 2;
    seed = (uint64_t)t0.tv_nsec ^ ((uint64_t)getpid() << 20);
    seed %= 1000000000; /* short enough to type */
    int c;
    uint64_t v;
    while ((c = getopt(argc, argv, "N:S:l:o:t:L:vP")) != -1) {
        switch (c) {
        case 'N':
            if (!parse_size(optarg, &v) || v == 0)
                usage();
            nops = (unsigned long)v;
            break;
        case 'S':
            if (!parse_size(optarg, &seed))
                usage();
            break;
        case 'l':
            if (!parse_size(optarg, &maxlen) || maxlen == 0 || maxlen > (1ull << 32))
                usage();
            break;
        case 'o':
            if (!parse_size(optarg, &maxop) || maxop == 0)
                usage();
            break;
        case 't':
            if (!parse_size(optarg, &v) || v == 0)
                usage();
            time_limit = (double)v;
            break;
        case 'L': label = optarg; break;
        case 'v': verbose = true; break;
        case 'P': map_read_ok = map_write_ok = copy_ok = falloc_ok = false; break;
        default: usage();
        }
    }
    if (optind != argc - 1)
        usage();
    path = argv[optind];
    if (!label)
        label = path;
    if (maxop > maxlen)
        maxop = maxlen;
    setvbuf(stdout, NULL, _IOLBF, 0);
    rng = seed;

    long ps = sysconf(_SC_PAGESIZE);
    pagesize = ps > 0 ? (size_t)ps : 4096;
    /* temp holds a whole-file read (maxlen + 1), a read across EOF
     * (2 * maxop) or the rest of a page past EOF. */
    temp_size = (size_t)(maxlen > 2 * maxop ? maxlen : 2 * maxop) + pagesize;
    good = calloc((size_t)maxlen + 1, 1);
    temp = malloc(temp_size);
    if (!good || !temp) {
        printf("FAIL: fsx %s seed %" PRIu64 ": out of memory\n", label, seed);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_sigbus };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) < 0)
        failf("sigaction: %s", strerror(errno));

    printf("fsx: %s: %lu ops, seed %" PRIu64 ", maxlen %" PRIu64 ", maxop %" PRIu64 "\n",
           path, nops, seed, maxlen, maxop);
    open_file(O_RDWR | O_CREAT | O_TRUNC);
    if (map_read_ok || map_write_ok)
        probe_mmap();

    for (opnum = 1; opnum <= nops; opnum++) {
        if (time_limit > 0 && elapsed(&t0) >= time_limit) {
            printf("fsx: %s: time limit of %.0f s reached after %lu of %lu ops\n", label,
                   time_limit, ops_done, nops);
            break;
        }
        run_op(pick_kind());
        ops_done++;
        cur->after = file_size;
        if (verbose)
            printf("  %6lu %-9s 0x%" PRIx64 " 0x%" PRIx64 " size 0x%" PRIx64 "%s%s\n", cur->n,
                   op_names[cur->kind], cur->off, cur->len, cur->after, cur->note ? " " : "",
                   cur->note ? cur->note : "");
        check_size();
    }

    /* The end: what a fresh open reads must be the model, byte for byte. */
    opnum = ops_done + 1;
    in_final_check = true;
    do_reopen();
    cur->after = file_size;
    if (close(fd) < 0)
        failf("close: %s", strerror(errno));

    double secs = elapsed(&t0);
    printf("fsx: %s: %.1f s, final size 0x%" PRIx64 ";", label, secs, file_size);
    for (int k = 0; k < OP_NKINDS; k++)
        printf(" %s %lu", op_names[k], counts[k]);
    printf("; %lu fallbacks\n", fallbacks);
    printf("PASS: fsx %s %lu ops seed %" PRIu64 "\n", label, ops_done, seed);
    free(good);
    free(temp);
    return 0;
}
