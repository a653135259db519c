/* main.c - benchfs-stage: copies a tree into BenchFS ("in") or out of it
 * ("out") through the client library, with parallel workers.
 *
 *   benchfs-stage in  LOCAL_DIR  BENCHFS_DIR [options]
 *   benchfs-stage out BENCHFS_DIR LOCAL_DIR  [options]
 *
 * The contents of SRC go into DST (as rsync -a SRC/ DST/), DST and its
 * missing parents are made. The BenchFS side is a path under a benchfs-fuse
 * mount (its registry is found from the mount), or with --registry-dir R a
 * path inside BenchFS itself ("/input"), needing no mount.
 * Phases: walk the source; make the directories; files, symlinks and special
 * files by --jobs workers (files over STAGE_SEGMENT bytes in segments, several
 * workers each); the other names of hard links; --verify; the directories'
 * modes and times last (deepest first: filling one changes its mtime).
 */
#include "stage.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/log.h"
#include "../../common/version.h"
#include "where.h"

struct opts {
    int in;
    const char *src, *dst, *registry, *manifest;
    unsigned jobs;
    int verify, progress;   /* progress: -1 auto (a terminal) */
    double timeout;
};

static int progress_shown;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " in  LOCAL_DIR   BENCHFS_DIR [options]\n"
        "       " PROG " out BENCHFS_DIR LOCAL_DIR   [options]\n"
        "\n"
        "Copies the contents of the first directory into the second (made if missing), through\n"
        "the BenchFS client library with parallel workers, keeping modes, owners (as root), times,\n"
        "symlinks, hard links, special files and holes. Files already identical (same type,\n"
        "size and mtime) are skipped, so a rerun after a failure resumes. Files in the\n"
        "destination that the source lacks are left alone.\n"
        "\n"
        "BENCHFS_DIR is a path under a benchfs-fuse mount, or with --registry-dir a path\n"
        "inside BenchFS (e.g. /input; no mount needed).\n"
        "\n"
        "  --registry-dir DIR   the servers' registry (BENCHFS_DIR is then inside BenchFS)\n"
        "  -j, --jobs N         parallel workers (default 16)\n"
        "  --verify             compare checksums of source and copy after copying; a skipped\n"
        "                       file that differs is copied again\n"
        "  --manifest FILE      copy only these paths (relative to the source, one a line;\n"
        "                       a directory with all below it)\n"
        "  --progress, --no-progress\n"
        "                       a progress bar on stderr (default: when stderr is a terminal)\n"
        "  --timeout S          wait up to S seconds for the servers (default 30)\n"
        "\n"
        "Prints one summary line; every error names its file and the others go on.\n"
        "Exit status: 0 all copied, 1 something failed, 2 bad usage or no cluster.\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
    enum { O_REG = 256, O_VERIFY, O_MANIFEST, O_PROGRESS, O_NOPROGRESS, O_TIMEOUT, O_HELP, O_VER };
    static const struct option lo[] = {
        { "registry-dir", required_argument, 0, O_REG },
        { "jobs", required_argument, 0, 'j' },
        { "verify", no_argument, 0, O_VERIFY },
        { "manifest", required_argument, 0, O_MANIFEST },
        { "progress", no_argument, 0, O_PROGRESS },
        { "no-progress", no_argument, 0, O_NOPROGRESS },
        { "timeout", required_argument, 0, O_TIMEOUT },
        { "help", no_argument, 0, O_HELP },
        { "version", no_argument, 0, O_VER },
        { 0, 0, 0, 0 },
    };
    *o = (struct opts){ .jobs = 16, .progress = -1, .timeout = 30 };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "j:", lo, NULL)) != -1) {
        switch (c) {
        case O_REG: o->registry = optarg; break;
        case 'j': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > 1024) {
                fprintf(stderr, PROG ": --jobs wants 1..1024, not '%s'\n", optarg);
                return 2;
            }
            o->jobs = (unsigned)v;
            break;
        }
        case O_VERIFY: o->verify = 1; break;
        case O_MANIFEST: o->manifest = optarg; break;
        case O_PROGRESS: o->progress = 1; break;
        case O_NOPROGRESS: o->progress = 0; break;
        case O_TIMEOUT:
            o->timeout = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(o->timeout) || o->timeout <= 0) {
                fprintf(stderr, PROG ": --timeout wants seconds > 0, not '%s'\n", optarg);
                return 2;
            }
            break;
        case O_HELP: usage(stdout); return 1;
        case O_VER: printf(PROG " %s\n", BENCHFS_VERSION); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 3 || (strcmp(argv[optind], "in") != 0 && strcmp(argv[optind], "out") != 0)) {
        usage(stderr);
        return 2;
    }
    o->in = strcmp(argv[optind], "in") == 0;
    o->src = argv[optind + 1];
    o->dst = argv[optind + 2];
    if (!*o->src || !*o->dst) {
        fprintf(stderr, PROG ": empty path\n");
        return 2;
    }
    return 0;
}

static const char *side_of(struct job *j, int dst_side)
{
    return dst_side ? j->dst.display : j->src.display;
}

static void say(struct job *j, const char *rel, int dst_side, const char *what, int err)
{
    pthread_mutex_lock(&j->err_lock);
    if (progress_shown)
        fputs("\r\033[K", stderr);
    fprintf(stderr, PROG ": %s%s%s: %s%s%s\n", side_of(j, dst_side), *rel ? "/" : "", rel, what,
            err ? ": " : "", err ? strerror(-err) : "");
    pthread_mutex_unlock(&j->err_lock);
}

void stage_warn(struct job *j, const char *rel, int dst_side, const char *what, int err)
{
    say(j, rel, dst_side, what, err);
}

void stage_report(struct job *j, const char *rel, int dst_side, const char *what, int err)
{
    say(j, rel, dst_side, what, err);
    j->failed++;
}

void stage_error(struct job *j, size_t i, int dst_side, const char *what, int err)
{
    stage_report(j, j->e[i].rel, dst_side, what, err);
    j->e[i].state = E_FAILED;
}

/* ---- the BenchFS side's root ---- */

/* Walks inner ("/a/b") from the root; with make, missing directories are made. */
static int bfs_resolve(struct side *s, const char *inner, int make, uint64_t *ino)
{
    uint64_t cur = BFS_ROOT_INO;
    char comp[BFS_NAME_MAX + 1];
    for (const char *p = inner; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n > BFS_NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
            return -EINVAL;
        struct bfs_attr a;
        int rc = bfs_lookup(s->c, cur, comp, &a);
        if (rc == -ENOENT && make) {
            rc = bfs_create(s->c, cur, comp, S_IFDIR | 0755, s->uid, s->gid, &a);
            if (rc == -EEXIST)
                rc = bfs_lookup(s->c, cur, comp, &a);
        }
        if (rc < 0)
            return rc;
        if (!S_ISDIR(a.mode))
            return -ENOTDIR;
        cur = a.ino;
    }
    *ino = cur;
    return 0;
}

/* mkdir -p for the local destination. */
static int local_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void strip_slashes(char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
}

/* Opens the client and finds the BenchFS side's root (made when it is the destination). */
static int open_bfs_side(const struct opts *o, struct side *s, const char *path, int make, uint64_t *ino)
{
    struct where w;
    const char *registry = o->registry, *inner = path;
    if (!registry) {
        /* A destination under a mount is made through the mount: looking for it
         * left a negative entry in the kernel's cache that a directory made
         * behind its back would hide (negative_timeout). */
        int rc = make ? local_mkdirs(path) : 0;
        if (rc < 0) {
            fprintf(stderr, PROG ": %s: cannot make the directory: %s\n", path, strerror(-rc));
            return -1;
        }
        rc = where_find(path, &w);
        if (rc < 0) {
            fprintf(stderr, PROG ": %s: %s\n", path,
                    rc == -ENOENT ? "not under a BenchFS mount (or give --registry-dir DIR and a path "
                                    "inside BenchFS)"
                    : rc == -EINVAL ? "the BenchFS mount holding it was not named benchfs:REGISTRY "
                                      "(mounted with -o fsname?); give --registry-dir DIR"
                                    : strerror(-rc));
            return -1;
        }
        registry = w.registry;
        inner = w.inner;
        snprintf(s->display, sizeof s->display, "%s", path);
    } else {
        snprintf(s->display, sizeof s->display, "benchfs:%s%s", path[0] == '/' ? "" : "/", path);
    }
    strip_slashes(s->display);
    s->bfs = 1;
    struct bfs_client_opts co = { .registry_dir = registry, .registry_timeout_s = o->timeout };
    int rc = bfs_client_open(&co, &s->c);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot reach the BenchFS servers registered in %s: %s\n", registry,
                strerror(-rc));
        return -1;
    }
    if ((rc = bfs_resolve(s, inner, make, ino)) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", s->display, strerror(-rc));
        return -1;
    }
    return 0;
}

/* ---- workers ---- */

struct task {
    size_t i;
    unsigned seg;   /* UINT32_MAX: the whole entry */
};

struct pool {
    struct job *j;
    struct task *t;
    size_t n;
    _Atomic size_t next;
    int verify;
};

static void *work(void *arg)
{
    struct pool *p = arg;
    struct worker w = { .j = p->j, .buf = malloc(STAGE_BUF) };
    if (!w.buf) {
        stage_report(p->j, "", 0, "worker: out of memory", -ENOMEM);
        return NULL;
    }
    for (size_t k; (k = p->next++) < p->n;) {
        const struct task *t = &p->t[k];
        if (p->verify)
            copy_verify(&w, t->i);
        else if (t->seg == UINT32_MAX)
            copy_entry(&w, t->i);
        else
            copy_segment(&w, t->i, t->seg);
    }
    free(w.buf);
    return NULL;
}

static void run_pool(struct job *j, struct task *t, size_t n, int verify)
{
    struct pool p = { .j = j, .t = t, .n = n, .verify = verify };
    unsigned k = j->jobs < n ? j->jobs : (unsigned)n;
    pthread_t *th = calloc(k ? k : 1, sizeof *th);
    unsigned started = 0;
    for (; th && started < k; started++)
        if (pthread_create(&th[started], NULL, work, &p) != 0)
            break;
    if (started == 0)
        work(&p);   /* no thread could start: do it here */
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
}

/* ---- progress ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *human(double v, char *buf, size_t size)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

struct progress {
    struct job *j;
    double t0;
    _Atomic int stop;
};

static void *show_progress(void *arg)
{
    struct progress *p = arg;
    struct job *j = p->j;
    while (!p->stop) {
        struct timespec nap = { 0, 200 * 1000000 };
        nanosleep(&nap, NULL);
        double el = now_s() - p->t0, total = (double)j->bytes_total, done = (double)j->bytes_done;
        double frac = total > 0 ? done / total : j->files_total ? (double)j->files_done / (double)j->files_total : 1;
        if (frac > 1)
            frac = 1;
        char bar[31], b1[32], b2[32], b3[32];
        int fill = (int)(frac * 30);
        for (int k = 0; k < 30; k++)
            bar[k] = k < fill ? '#' : '.';
        bar[30] = '\0';
        pthread_mutex_lock(&j->err_lock);
        fprintf(stderr, "\r\033[K%3d%% [%s] %s / %s  %llu / %llu files  %s/s  %llu failed", (int)(frac * 100),
                bar, human(done, b1, sizeof b1), human(total, b2, sizeof b2),
                (unsigned long long)j->files_done, (unsigned long long)j->files_total,
                human(el > 0 ? (double)j->bytes_copied / el : 0, b3, sizeof b3),
                (unsigned long long)j->failed);
        progress_shown = 1;
        pthread_mutex_unlock(&j->err_lock);
    }
    return NULL;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    log_init(PROG);
    struct job j = { .in = o.in, .jobs = o.jobs, .verify = o.verify };
    pthread_mutex_init(&j.err_lock, NULL);
    struct side *local = o.in ? &j.src : &j.dst, *bfs = o.in ? &j.dst : &j.src;
    const char *lpath = o.in ? o.src : o.dst, *bpath = o.in ? o.dst : o.src;
    for (struct side *s = &j.src; s <= &j.dst; s++) {
        s->uid = (uint32_t)getuid();
        s->gid = (uint32_t)getgid();
        s->keep_owner = geteuid() == 0;
    }
    uint64_t bino = 0;
    int status = 2;
    if (open_bfs_side(&o, bfs, bpath, o.in, &bino) < 0)
        goto out;
    snprintf(local->display, sizeof local->display, "%s", lpath);
    strip_slashes(local->display);
    if (!o.in && (rc = local_mkdirs(local->display)) < 0) {
        fprintf(stderr, PROG ": %s: cannot make the directory: %s\n", local->display, strerror(-rc));
        goto out;
    }

    /* Entry 0: the source root, whose destination is the other root. */
    struct shandle root_src = { .ino = bino }, root_dst = { .ino = bino };
    if (o.in)
        root_src = (struct shandle){ .path = strdup(local->display) };
    else
        root_dst = (struct shandle){ .path = strdup(local->display) };
    struct sattr ra;
    if ((o.in ? !root_src.path : !root_dst.path)) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    if ((rc = side_stat(&j.src, &root_src, &ra)) < 0 || !S_ISDIR(ra.mode)) {
        fprintf(stderr, PROG ": %s: %s\n", j.src.display, rc < 0 ? strerror(-rc) : "not a directory");
        side_handle_free(&root_src);
        side_handle_free(&root_dst);
        goto out;
    }
    if (tree_add_root(&j, &root_src, &ra) < 0) {
        side_handle_free(&root_src);
        side_handle_free(&root_dst);
        goto out;
    }
    j.e[0].dst = root_dst;
    j.e[0].dst_ok = 1;

    double t0 = now_s();
    struct progress prog = { .j = &j, .t0 = t0 };
    pthread_t pth;
    int show = o.progress < 0 ? isatty(STDERR_FILENO) : o.progress;
    if (show && pthread_create(&pth, NULL, show_progress, &prog) != 0)
        show = 0;

    status = 1;
    if ((rc = tree_walk(&j, o.manifest)) < 0) {
        fprintf(stderr, PROG ": walking %s: %s\n", j.src.display, strerror(-rc));
        goto stop;
    }
    copy_dirs(&j);
    struct task *tasks = malloc((j.n + 1) * sizeof *tasks);
    size_t nt = 0;
    if (!tasks) {
        fprintf(stderr, PROG ": out of memory\n");
        goto stop;
    }
    /* Big files' segments first (the longest work), then everything else. */
    struct worker w0 = { .j = &j };
    for (size_t i = 1; i < j.n; i++) {
        const struct entry *e = &j.e[i];
        if (!S_ISREG(e->a.mode) || e->link_of >= 0 || e->a.size <= STAGE_SEGMENT)
            continue;
        unsigned segs = copy_prepare_big(&w0, i);
        struct task *more = segs ? realloc(tasks, (j.n + 1 + nt + segs) * sizeof *tasks) : tasks;
        if (!more) {
            stage_error(&j, i, 1, "out of memory", -ENOMEM);
            continue;
        }
        tasks = more;
        for (unsigned s = 0; s < segs; s++)
            tasks[nt++] = (struct task){ .i = i, .seg = s };
    }
    for (size_t i = 1; i < j.n; i++) {
        const struct entry *e = &j.e[i];
        if (!S_ISDIR(e->a.mode) && e->link_of < 0 && !(S_ISREG(e->a.mode) && e->a.size > STAGE_SEGMENT))
            tasks[nt++] = (struct task){ .i = i, .seg = UINT32_MAX };
    }
    run_pool(&j, tasks, nt, 0);
    copy_links(&j);
    if (o.verify) {
        size_t nv = 0;
        for (size_t i = 1; i < j.n; i++)
            if (S_ISREG(j.e[i].a.mode) && j.e[i].link_of < 0)
                tasks[nv++] = (struct task){ .i = i, .seg = UINT32_MAX };
        run_pool(&j, tasks, nv, 1);
    }
    free(tasks);
    copy_finish_dirs(&j);

stop:
    if (show) {
        prog.stop = 1;
        pthread_join(pth, NULL);
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
    double el = now_s() - t0;
    size_t dirs = 0;
    for (size_t i = 1; i < j.n; i++)
        dirs += S_ISDIR(j.e[i].a.mode);
    char b1[32], b2[32];
    printf(PROG " %s: %llu files: %llu copied, %llu skipped, %llu failed; %s copied in %.2f s (%s/s); "
           "%zu directories%s\n", o.in ? "in" : "out", (unsigned long long)j.files_total,
           (unsigned long long)j.copied, (unsigned long long)j.skipped, (unsigned long long)j.failed,
           human((double)j.bytes_copied, b1, sizeof b1), el,
           human(el > 0 ? (double)j.bytes_copied / el : 0, b2, sizeof b2), dirs,
           o.verify ? (j.repaired ? "; verified, repaired differing copies" : "; verified") : "");
    if (j.repaired)
        printf(PROG ": %llu file(s) differed from the source though size and time matched; copied again\n",
               (unsigned long long)j.repaired);
    status = j.failed ? 1 : 0;
out:
    for (size_t i = 0; i < j.n; i++) {
        free(j.e[i].rel);
        side_handle_free(&j.e[i].src);
        side_handle_free(&j.e[i].dst);
    }
    free(j.e);
    bfs_client_close(bfs->c);
    return status;
}
