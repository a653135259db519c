/* mixload.c - a mixed create/write/read/append/truncate/rename/unlink load on a
 * directory, every byte it reads checked (tests/stress/load.sh).
 *
 *   mixload run DIR THREADS SECONDS MANIFEST   each thread works in DIR/tN on up
 *       to FILES files; at the end it checks every file it left and the listing
 *       of its directory, and writes "path seed size" lines to MANIFEST
 *   mixload check MANIFEST                     checks the files a run left, e.g.
 *                                              through another mount
 *
 * A file's byte at offset p is a function of (seed, p) only, so appends and
 * truncates keep the model to two numbers per file; a rewrite picks a new seed.
 * Prints "PASS: ..." or "FAIL: ..." lines; exit 1 on any mismatch or error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILES 24
#define IO_MAX (1u << 20)

struct model {
    int exists;
    uint64_t seed, size;
};

struct worker {
    pthread_t tid;
    int id;
    char dir[4096];
    uint64_t rng;
    struct model f[FILES];
    uint8_t *buf, *want;
    uint64_t ops, bytes_written, bytes_checked;
    int failed;
};

static double deadline;
static atomic_int any_failed;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t rnd(struct worker *w, uint64_t n)
{
    w->rng = mix64(w->rng + 0x9e3779b97f4a7c15ULL);
    return n ? w->rng % n : 0;
}

/* The expected bytes [off, off+len) of a file with this seed. */
static void content(uint64_t seed, uint64_t off, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t p = off + i;
        out[i] = (uint8_t)(mix64(seed ^ (p >> 3)) >> ((p & 7) * 8));
    }
}

/* Mostly small files, some across the 16 KiB inline limit and chunk boundaries. */
static uint64_t pick_size(struct worker *w)
{
    uint64_t r = rnd(w, 100);
    if (r < 60) return rnd(w, 8192) + 1;
    if (r < 90) return rnd(w, 256 << 10) + 1;
    return rnd(w, 3u << 20) + 1;
}

#define BAD(w, ...) do { fprintf(stdout, "FAIL: " __VA_ARGS__); fputc('\n', stdout); \
    fflush(stdout); (w)->failed = 1; atomic_store(&any_failed, 1); } while (0)

static void path_of(const struct worker *w, int k, char *out, size_t n)
{
    snprintf(out, n, "%s/f%d", w->dir, k);
}

/* Writes bytes [off, off+len) of the seed's content with pwrite in random pieces. */
static int put(struct worker *w, int fd, const char *path, uint64_t seed, uint64_t off, uint64_t len)
{
    while (len > 0) {
        size_t n = (size_t)(rnd(w, 2) ? len : rnd(w, len) + 1);
        if (n > IO_MAX)
            n = IO_MAX;
        content(seed, off, w->buf, n);
        ssize_t got = pwrite(fd, w->buf, n, (off_t)off);
        if (got < 0) {
            BAD(w, "%s: pwrite %zu at %" PRIu64 ": %s", path, n, off, strerror(errno));
            return -1;
        }
        off += (uint64_t)got; len -= (uint64_t)got;
        w->bytes_written += (uint64_t)got;
    }
    return 0;
}

/* Reads the whole file and compares it with the model; 0 if it matches. */
static int verify_file(uint8_t *buf, uint8_t *want, const char *path, uint64_t seed, uint64_t size,
                       uint64_t *checked, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(why, whylen, "%s: open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        snprintf(why, whylen, "%s: fstat: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size != size) {
        snprintf(why, whylen, "%s: size %lld, expected %" PRIu64, path, (long long)st.st_size, size);
        goto out;
    }
    for (uint64_t off = 0;;) {
        ssize_t got = pread(fd, buf, IO_MAX, (off_t)off);
        if (got < 0) {
            snprintf(why, whylen, "%s: pread at %" PRIu64 ": %s", path, off, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        if (off + (uint64_t)got > size) {
            snprintf(why, whylen, "%s: read past the end (%" PRIu64 " > %" PRIu64 ")", path,
                     off + (uint64_t)got, size);
            goto out;
        }
        content(seed, off, want, (size_t)got);
        if (memcmp(buf, want, (size_t)got) != 0) {
            size_t i = 0;
            while (buf[i] == want[i])
                i++;
            snprintf(why, whylen, "%s: byte %" PRIu64 " is 0x%02x, expected 0x%02x", path,
                     off + i, buf[i], want[i]);
            goto out;
        }
        off += (uint64_t)got;
        *checked += (uint64_t)got;
        if (off == size)
            break;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static void op_rewrite(struct worker *w, int k, const char *path)
{
    uint64_t seed = mix64(w->rng ^ (uint64_t)k), size = pick_size(w);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        BAD(w, "%s: create: %s", path, strerror(errno));
        return;
    }
    /* Until the write completes the file is partly written: keep the model exact. */
    w->f[k] = (struct model){ 1, seed, 0 };
    if (put(w, fd, path, seed, 0, size) == 0)
        w->f[k].size = size;
    if (close(fd) < 0)
        BAD(w, "%s: close: %s", path, strerror(errno));
}

static void op_append(struct worker *w, int k, const char *path)
{
    uint64_t len = rnd(w, 64 << 10) + 1;
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        BAD(w, "%s: open for append: %s", path, strerror(errno));
        return;
    }
    if (put(w, fd, path, w->f[k].seed, w->f[k].size, len) == 0)
        w->f[k].size += len;
    if (close(fd) < 0)
        BAD(w, "%s: close: %s", path, strerror(errno));
}

static void op_truncate(struct worker *w, int k, const char *path)
{
    uint64_t size = rnd(w, w->f[k].size + 1);
    if (truncate(path, (off_t)size) < 0)
        BAD(w, "%s: truncate to %" PRIu64 ": %s", path, size, strerror(errno));
    else
        w->f[k].size = size;
}

static void op_read(struct worker *w, int k, const char *path)
{
    char why[512];
    if (!w->f[k].exists) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0 || errno != ENOENT) {
            BAD(w, "%s: open of a removed file: %s", path, fd >= 0 ? "succeeded" : strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        return;
    }
    if (verify_file(w->buf, w->want, path, w->f[k].seed, w->f[k].size, &w->bytes_checked,
                    why, sizeof why) < 0)
        BAD(w, "%s", why);
}

static void op_unlink(struct worker *w, int k, const char *path)
{
    int rc = unlink(path);
    if (w->f[k].exists ? rc < 0 : !(rc < 0 && errno == ENOENT))
        BAD(w, "%s: unlink: %s", path, rc < 0 ? strerror(errno) : "succeeded on a removed file");
    w->f[k].exists = 0;
}

static void op_rename(struct worker *w, int k, const char *path)
{
    int j = (int)rnd(w, FILES);
    char to[4200];
    path_of(w, j, to, sizeof to);
    if (rename(path, to) < 0) {
        BAD(w, "rename %s -> %s: %s", path, to, strerror(errno));
        return;
    }
    if (j != k) {
        w->f[j] = w->f[k];
        w->f[k].exists = 0;
    }
}

/* The directory lists exactly the files the model holds. */
static void check_listing(struct worker *w)
{
    int seen[FILES] = { 0 };
    DIR *d = opendir(w->dir);
    if (!d) {
        BAD(w, "%s: opendir: %s", w->dir, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int k;
        char extra;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (sscanf(e->d_name, "f%d%c", &k, &extra) != 1 || k < 0 || k >= FILES || !w->f[k].exists) {
            BAD(w, "%s: unexpected entry %s", w->dir, e->d_name);
            continue;
        }
        if (seen[k]++)
            BAD(w, "%s: entry %s listed twice", w->dir, e->d_name);
    }
    closedir(d);
    for (int k = 0; k < FILES; k++)
        if (w->f[k].exists && !seen[k])
            BAD(w, "%s: f%d missing from the listing", w->dir, k);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    char path[4200];
    if (mkdir(w->dir, 0755) < 0 && errno != EEXIST) {
        BAD(w, "%s: mkdir: %s", w->dir, strerror(errno));
        return NULL;
    }
    while (!w->failed && now() < deadline) {
        int k = (int)rnd(w, FILES);
        uint64_t r = rnd(w, 100);
        path_of(w, k, path, sizeof path);
        if (!w->f[k].exists || r < 20)
            op_rewrite(w, k, path);
        else if (r < 55)
            op_read(w, k, path);
        else if (r < 68)
            op_append(w, k, path);
        else if (r < 78)
            op_truncate(w, k, path);
        else if (r < 90)
            op_unlink(w, k, path);
        else
            op_rename(w, k, path);
        w->ops++;
    }
    for (int k = 0; k < FILES && !w->failed; k++) {
        path_of(w, k, path, sizeof path);
        op_read(w, k, path);
    }
    if (!w->failed)
        check_listing(w);
    return NULL;
}

static int run(const char *dir, int threads, double secs, const char *manifest)
{
    struct worker *ws = calloc((size_t)threads, sizeof *ws);
    if (!ws)
        return 1;
    deadline = now() + secs;
    int started = 0;
    for (int i = 0; i < threads; i++) {
        struct worker *w = &ws[i];
        w->id = i;
        w->rng = mix64((uint64_t)getpid() << 20 | (uint64_t)i);
        snprintf(w->dir, sizeof w->dir, "%s/t%d", dir, i);
        w->buf = malloc(IO_MAX);
        w->want = malloc(IO_MAX);
        if (!w->buf || !w->want || pthread_create(&w->tid, NULL, work, w) != 0) {
            BAD(w, "thread %d: cannot start", i);
            break;
        }
        started++;
    }
    uint64_t ops = 0, wr = 0, rd = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ws[i].tid, NULL);
        ops += ws[i].ops; wr += ws[i].bytes_written; rd += ws[i].bytes_checked;
    }
    FILE *m = fopen(manifest, "w");
    if (!m) {
        printf("FAIL: %s: %s\n", manifest, strerror(errno));
        any_failed = 1;
    }
    for (int i = 0; i < threads && m; i++)
        for (int k = 0; k < FILES; k++)
            if (ws[i].f[k].exists)
                fprintf(m, "%s/f%d %" PRIu64 " %" PRIu64 "\n", ws[i].dir, k, ws[i].f[k].seed, ws[i].f[k].size);
    if (m && fclose(m) != 0) {
        printf("FAIL: %s: write failed\n", manifest);
        any_failed = 1;
    }
    for (int i = 0; i < threads; i++) {
        free(ws[i].buf);
        free(ws[i].want);
    }
    free(ws);
    if (!any_failed)
        printf("PASS: %d threads x %.0f s mixed load on %s: %" PRIu64 " ops, %" PRIu64 " MiB written, %"
               PRIu64 " MiB read and verified\n", threads, secs, dir, ops, wr >> 20, rd >> 20);
    return any_failed ? 1 : 0;
}

static int check(const char *manifest)
{
    FILE *m = fopen(manifest, "r");
    if (!m) {
        printf("FAIL: %s: %s\n", manifest, strerror(errno));
        return 1;
    }
    uint8_t *buf = malloc(IO_MAX), *want = malloc(IO_MAX);
    char path[4200], why[512];
    uint64_t seed, size, checked = 0, files = 0, bad = 0;
    while (buf && want && fscanf(m, "%4199s %" SCNu64 " %" SCNu64, path, &seed, &size) == 3) {
        files++;
        if (verify_file(buf, want, path, seed, size, &checked, why, sizeof why) < 0) {
            printf("FAIL: %s\n", why);
            bad++;
        }
    }
    fclose(m);
    free(buf);
    free(want);
    if (bad == 0)
        printf("PASS: %" PRIu64 " files of %s verified (%" PRIu64 " bytes)\n", files, manifest, checked);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "run") == 0) {
        int threads = atoi(argv[3]);
        double secs = atof(argv[4]);
        if (threads < 1 || threads > 256 || secs <= 0) {
            fprintf(stderr, "mixload: bad thread count or duration\n");
            return 2;
        }
        return run(argv[2], threads, secs, argv[5]);
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return check(argv[2]);
    fprintf(stderr, "usage: mixload run DIR THREADS SECONDS MANIFEST | mixload check MANIFEST\n");
    return 2;
}
