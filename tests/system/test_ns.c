/* test_ns.c - the namespace on several servers, through real mounts.
 *
 *   test_ns MOUNT MOUNT2 REGISTRY [TEST...]
 *
 * MOUNT and MOUNT2 are two benchfs-fuse mounts of one cluster (MOUNT2 with all
 * cache timeouts 0, so what it shows comes from the servers); REGISTRY lets the
 * test ask the servers directly what a mount cannot show. Names are chosen with
 * the placement functions (common/placement.h) so that every case that crosses
 * servers — an entry on another server than its parent's inode, a rename
 * between entries on two servers, a directory whose entries live elsewhere — is
 * hit on every run, not by chance. Each test works in MOUNT/tns.PID/NAME.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/byteorder.h"
#include "../../common/placement.h"
#include "../test.h"
#include "../testutil.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static char top[PATH_MAX], top2[PATH_MAX];   /* MOUNT/tns.PID, the same in MOUNT2 */
static char dir[PATH_MAX + 64], dir2[PATH_MAX + 64];   /* the current test's directory */
static struct bfs_client *cl;
static uint32_t nodes;

/* P(): a path in the test's directory on MOUNT; Q(): the same on MOUNT2. */
static const char *vpath(const char *base, const char *fmt, va_list ap)
{
    static char bufs[16][PATH_MAX + 128];
    static int next;
    char *b = bufs[next++ & 15];
    int n = snprintf(b, sizeof bufs[0], "%s/", base);
    vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
    return b;
}

static const char *P(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *p = vpath(dir, fmt, ap);
    va_end(ap);
    return p;
}

static const char *Q(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *p = vpath(dir2, fmt, ap);
    va_end(ap);
    return p;
}

static void enter(const char *name)
{
    snprintf(dir, sizeof dir, "%s/%s", top, name);
    snprintf(dir2, sizeof dir2, "%s/%s", top2, name);
    if (mkdir(dir, 0755) != 0)
        fprintf(stderr, "  mkdir %s: %s\n", dir, strerror(errno));
}

static uint64_t ino_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Writes into out a name "prefix<k>" whose entry in dirpath lives on node
 * (UINT32_MAX: any node but avoid). Returns 0, or -1 if none of 10,000 does. */
static int pick(const char *dirpath, const char *prefix, uint32_t node, uint32_t avoid,
                char *out, size_t size)
{
    static unsigned serial;
    uint64_t parent = ino_of(dirpath);
    for (int k = 0; k < 10000; k++) {
        snprintf(out, size, "%s%u", prefix, serial++);
        uint32_t n = place_dentry(parent, out, strlen(out), nodes);
        if (node == UINT32_MAX ? n != avoid : n == node)
            return 0;
    }
    return -1;
}

static nlink_t nlink_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_nlink : 0;
}

/* ------------------------------------------------------------------ tests */

/* The data loss of the issue: an empty directory renamed over one whose only
 * entry lives on another server than the target's entry. POSIX: ENOTEMPTY. */
static void test_rename_over_nonempty_dir(void)
{
    enter("overfull");
    char e[64], f[64], c[64];
    for (uint32_t i = 0; i < 3 * nodes * nodes; i++) {
        uint32_t a = i % nodes, b = (i / nodes) % nodes;
        REQUIRE(pick(dir, "e", a, 0, e, sizeof e) == 0 && pick(dir, "f", b, 0, f, sizeof f) == 0);
        CHECK(mkdir(P("%s", e), 0755) == 0 && mkdir(P("%s", f), 0755) == 0);
        REQUIRE(pick(P("%s", f), "c", UINT32_MAX, b, c, sizeof c) == 0);
        CHECK(tu_write_text(P("%s/%s", f, c), "x") == 0);
        errno = 0;
        CHECK(rename(P("%s", e), P("%s", f)) == -1 && errno == ENOTEMPTY);
        CHECK(tu_file_has(P("%s/%s", f, c), "x"));
        CHECK(ino_of(P("%s", e)) != 0);
        errno = 0;
        CHECK(rmdir(P("%s", f)) == -1 && errno == ENOTEMPTY);
        CHECK(tu_file_has(P("%s/%s", f, c), "x"));
        /* Emptied, the target can be replaced. */
        CHECK(unlink(P("%s/%s", f, c)) == 0);
        CHECK(rename(P("%s", e), P("%s", f)) == 0);
        CHECK(ino_of(P("%s", e)) == 0 && nlink_of(P("%s", f)) == 2);
    }
    CHECK_EQ(nlink_of(dir), 2 + 3 * nodes * nodes);
}

/* 200 directory renames between entries on different servers: no EXDEV, and the
 * subtree comes along. */
static void test_dir_renames_between_servers(void)
{
    enter("dirmoves");
    char a[64], b[64];
    int fails = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t na = (uint32_t)i % nodes;
        if (pick(dir, "r", na, 0, a, sizeof a) || pick(dir, "s", UINT32_MAX, na, b, sizeof b))
            break;
        if (mkdir(P("%s", a), 0755) || tu_write_text(P("%s/inside", a), a) ||
            mkdir(P("%s/sub", a), 0700)) {
            fails++;
            continue;
        }
        if (rename(P("%s", a), P("%s", b)) != 0) {
            if (fails++ < 3)
                fprintf(stderr, "  rename %s -> %s: %s\n", a, b, strerror(errno));
            continue;
        }
        fails += !tu_file_has(P("%s/inside", b), a) || nlink_of(P("%s", b)) != 3 ||
                 ino_of(P("%s", a)) != 0;
    }
    CHECK_EQ(fails, 0);
    CHECK_EQ(nlink_of(dir), 2 + 200);
}

/* A directory moved between parents whose inodes live on different servers:
 * both parents' link counts, "..", and no move under itself. */
static void test_dir_move_between_parents(void)
{
    enter("parents");
    char p1[64], p2[64], d[64];
    REQUIRE(pick(dir, "p", 0, 0, p1, sizeof p1) == 0 && pick(dir, "q", nodes - 1, 0, p2, sizeof p2) == 0);
    CHECK(mkdir(P("%s", p1), 0755) == 0 && mkdir(P("%s", p2), 0755) == 0);
    for (int i = 0; i < 12; i++) {
        REQUIRE(pick(P("%s", p1), "d", (uint32_t)i % nodes, 0, d, sizeof d) == 0);
        CHECK(mkdir(P("%s/%s", p1, d), 0755) == 0);
        CHECK(mkdir(P("%s/%s/deeper", p1, d), 0755) == 0);
        CHECK(rename(P("%s/%s", p1, d), P("%s/%s", p2, d)) == 0);
        CHECK_EQ(ino_of(Q("%s/%s/..", p2, d)), ino_of(P("%s", p2)));
        CHECK_EQ(ino_of(Q("%s/%s/deeper/..", p2, d)), ino_of(P("%s/%s", p2, d)));
        /* Not under itself: the kernel checks what it knows, the servers the rest. */
        errno = 0;
        CHECK(rename(P("%s/%s", p2, d), P("%s/%s/deeper/x", p2, d)) == -1 && errno == EINVAL);
    }
    CHECK_EQ(nlink_of(Q("%s", p1)), 2);
    CHECK_EQ(nlink_of(Q("%s", p2)), 2 + 12);
    CHECK_EQ(nlink_of(Q(".")), 4);
}

/* Over RPC, where no kernel checks it first: a directory moved below itself. */
static void test_no_move_under_itself_rpc(void)
{
    enter("loop");
    CHECK(mkdir(P("a"), 0755) == 0 && mkdir(P("a/b"), 0755) == 0 && mkdir(P("a/b/c"), 0755) == 0);
    uint64_t parent = ino_of(dir), c = ino_of(P("a/b/c"));
    CHECK_EQ(bfs_rename(cl, parent, "a", c, "a", 0, 0), -EINVAL);
    CHECK_EQ(bfs_rename(cl, parent, "a", ino_of(P("a")), "self", 0, 0), -EINVAL);
    CHECK(ino_of(Q("a/b/c")) == c);
}

/* Two directories moved into each other at once, from two threads over RPC
 * (two clients' worth: no kernel serializes them): one move wins, the other is
 * refused (EINVAL: it would go under itself), and no cycle is made. */
struct mover {
    uint64_t from, into;
    const char *name;
    pthread_barrier_t *go;
    int rc;
};

static void *move_one(void *arg)
{
    struct mover *m = arg;
    pthread_barrier_wait(m->go);
    m->rc = bfs_rename(cl, m->from, m->name, m->into, m->name, 0, 0);
    return NULL;
}

static void test_opposite_dir_moves(void)
{
    enter("opposite");
    uint64_t d = ino_of(dir);
    int wins = 0, refused = 0, other = 0;
    for (int round = 0; round < 30; round++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "a%d", round);
        snprintf(b, sizeof b, "b%d", round);
        REQUIRE(mkdir(P("%s", a), 0755) == 0 && mkdir(P("%s", b), 0755) == 0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        struct mover m1 = { d, ino_of(P("%s", b)), a, &go, 0 };
        struct mover m2 = { d, ino_of(P("%s", a)), b, &go, 0 };
        pthread_t t1, t2;
        REQUIRE(pthread_create(&t1, NULL, move_one, &m1) == 0);
        REQUIRE(pthread_create(&t2, NULL, move_one, &m2) == 0);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&go);
        wins += (m1.rc == 0) + (m2.rc == 0);
        refused += (m1.rc == -EINVAL) + (m2.rc == -EINVAL);
        other += (m1.rc != 0 && m1.rc != -EINVAL) + (m2.rc != 0 && m2.rc != -EINVAL);
        /* Whichever won, both are below the test's directory, one inside the other. */
        CHECK(ino_of(Q("%s/%s", b, a)) != 0 || ino_of(Q("%s/%s", a, b)) != 0);
    }
    CHECK_EQ(wins, 30);
    CHECK_EQ(refused, 30);
    CHECK_EQ(other, 0);
    CHECK_EQ(nlink_of(Q(".")), 2 + 30);
}

/* File renames between servers replace their target atomically: a reader on
 * another mount never finds the target missing. */
struct reader {
    const char *path;
    volatile int stop;
    long stats, missing;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    while (!r->stop) {
        struct stat st;
        if (stat(r->path, &st) != 0 && errno == ENOENT)
            r->missing++;
        r->stats++;
    }
    return NULL;
}

static void test_rename_replaces_atomically(void)
{
    enter("atomic");
    char target[64], tmp[64];
    REQUIRE(pick(dir, "target", 0, 0, target, sizeof target) == 0);
    CHECK(tu_write_text(P("%s", target), "v0") == 0);
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s", Q("%s", target));
    struct reader r = { .path = path };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, read_loop, &r) == 0);
    int fails = 0;
    char text[32];
    for (int i = 1; i <= 300; i++) {
        snprintf(text, sizeof text, "v%d", i);
        if (pick(dir, "tmp", UINT32_MAX, 0, tmp, sizeof tmp) || tu_write_text(P("%s", tmp), text) ||
            rename(P("%s", tmp), P("%s", target)) != 0)
            fails++;
    }
    r.stop = 1;
    pthread_join(t, NULL);
    CHECK_EQ(fails, 0);
    CHECK(tu_file_has(Q("%s", target), "v300"));
    CHECK_EQ(r.missing, 0);
    CHECK(r.stats > 0);
    CHECK_EQ(nlink_of(Q("%s", target)), 1);
    DIR *d = opendir(Q("."));
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        entries += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK_EQ(entries, 1);   /* every replaced file is gone */
}

/* rmdir racing creates in that directory from another mount that holds it open:
 * either the rmdir fails (and every create is there) or it succeeds (and no
 * create did, and the servers hold no entry of the removed directory). */
struct creator {
    int dirfd;
    long delay_ns;
    int made, refused;
};

static void *create_loop(void *arg)
{
    struct creator *c = arg;
    struct timespec ts = { 0, c->delay_ns };
    nanosleep(&ts, NULL);
    char name[32];
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof name, "f%d", i);
        int fd = openat(c->dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            close(fd);
            c->made++;
        } else {
            c->refused++;
        }
    }
    return NULL;
}

static int count_one(void *arg, const struct bfs_dirent *d)
{
    (void)d;
    ++*(int *)arg;
    return 0;
}

/* Entries of directory ino on every server. */
static int count_entries(uint64_t ino)
{
    int n = 0;
    int rc = bfs_readdir(cl, ino, 0, count_one, &n);
    return rc < 0 ? rc : n;
}

static void test_rmdir_races_creates(void)
{
    enter("rmrace");
    int removed_rounds = 0, kept_rounds = 0;
    for (int round = 0; round < 16; round++) {
        char d[32];
        snprintf(d, sizeof d, "d%d", round);
        REQUIRE(mkdir(P("%s", d), 0755) == 0);
        uint64_t ino = ino_of(P("%s", d));
        /* Later rounds start the creates later, so that both outcomes occur. */
        struct creator c = { .dirfd = open(Q("%s", d), O_RDONLY | O_DIRECTORY),
                             .delay_ns = (long)(round % 8) * 100000L };
        REQUIRE(c.dirfd >= 0);
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, create_loop, &c) == 0);
        int removed = 0;
        for (int i = 0; i < 50 && !removed; i++)
            removed = rmdir(P("%s", d)) == 0;
        pthread_join(t, NULL);
        close(c.dirfd);
        if (removed) {
            removed_rounds++;
            CHECK_EQ(c.made, 0);
            CHECK_EQ(count_entries(ino), 0);
        } else {
            kept_rounds++;
            CHECK_EQ(c.made, 60);
            CHECK_EQ(count_entries(ino), 60);
        }
    }
    fprintf(stderr, "  rmdir won %d rounds, the creates %d\n", removed_rounds, kept_rounds);
}

/* No entry ever lands under a removed directory, on any server: through a
 * directory handle kept open, and straight over RPC with its inode number. */
static void test_no_entry_under_removed_dir(void)
{
    enter("removed");
    CHECK(mkdir(P("d"), 0755) == 0 && tu_write_text(P("keep"), "k") == 0);
    uint64_t d = ino_of(P("d")), keep = ino_of(P("keep"));
    int fd = open(Q("d"), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    CHECK(rmdir(P("d")) == 0);
    char name[64];
    for (uint32_t node = 0; node < nodes; node++) {
        struct bfs_attr a;
        REQUIRE(pick(P("."), "n", node, 0, name, sizeof name) == 0);
        /* (the name's placement under d differs, but every node is covered by the loop) */
        for (int k = 0; k < 8; k++) {
            char n2[80];
            snprintf(n2, sizeof n2, "%s.%d", name, k);
            CHECK_EQ(bfs_create(cl, d, n2, S_IFREG | 0644, 0, 0, &a), -ENOENT);
            CHECK_EQ(bfs_create(cl, d, n2, S_IFDIR | 0755, 0, 0, &a), -ENOENT);
            CHECK_EQ(bfs_symlink(cl, d, n2, "t", 0, 0, &a, NULL), -ENOENT);
            CHECK_EQ(bfs_link(cl, keep, d, n2, &a, NULL), -ENOENT);
            CHECK_EQ(bfs_rename(cl, ino_of(dir), "keep", d, n2, 0, 0), -ENOENT);
        }
        /* The kernel asks for the directory's attributes first: a handle on a
         * removed directory is stale, as on NFS (ENOENT when the servers answer). */
        errno = 0;
        CHECK(openat(fd, name, O_WRONLY | O_CREAT, 0644) == -1 && (errno == ESTALE || errno == ENOENT));
        errno = 0;
        CHECK(mkdirat(fd, name, 0755) == -1 && (errno == ESTALE || errno == ENOENT));
    }
    close(fd);
    CHECK_EQ(count_entries(d), 0);
    CHECK(tu_file_has(P("keep"), "k") && nlink_of(Q("keep")) == 1);
}

/* The parent's mtime and ctime change with every entry made or removed in it,
 * wherever the entry lives (at once for the mount that made the change); the
 * inode's ctime with its links. */
struct times {
    struct timespec m, c;
};

static struct times times_of(const char *path)
{
    struct stat st;
    struct times t = { { 0, 0 }, { 0, 0 } };
    if (stat(path, &st) == 0) {
        t.m = st.st_mtim;
        t.c = st.st_ctim;
    }
    return t;
}

static int later(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* Both times of path are past before's now, or (settle) within SETTLE_S: the
 * times of a parent on another server than the entry reach the mount that made
 * the change at once, another mount within about 10 ms (server/dirtimes.h). */
#define SETTLE_S 2.0
static int changed(const char *path, struct times before, int settle)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct times t = times_of(path);
        if (later(t.m, before.m) && later(t.c, before.c))
            return 1;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!settle || (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 > SETTLE_S)
            return 0;
    }
}
/* path is on the second mount (which caches nothing); its twin on the first,
 * which made the change, must show it at once. */
#define CHANGED(path, before) do { CHECK(changed(P("."), (before), 0)); \
    CHECK(changed(path, (before), 1)); } while (0)

static void test_parent_times(void)
{
    enter("times");
    char n[64], other[64];
    for (uint32_t node = 0; node < nodes; node++) {
        struct times t;
        char d[PATH_MAX + 128];
        snprintf(d, sizeof d, "%s", Q("."));
        REQUIRE(pick(dir, "f", node, 0, n, sizeof n) == 0);
        t = times_of(d);
        CHECK(tu_write_text(P("%s", n), "x") == 0);
        CHANGED(d, t);
        t = times_of(d);
        CHECK(mkdir(P("%s.d", n), 0755) == 0);
        CHANGED(d, t);
        t = times_of(d);
        CHECK(symlink("target", P("%s.l", n)) == 0);
        CHANGED(d, t);
        REQUIRE(pick(dir, "h", UINT32_MAX, node, other, sizeof other) == 0);
        struct times ti = times_of(Q("%s", n));
        t = times_of(d);
        CHECK(link(P("%s", n), P("%s", other)) == 0);
        CHANGED(d, t);
        CHECK(later(times_of(Q("%s", n)).c, ti.c));
        CHECK_EQ(nlink_of(Q("%s", n)), 2);
        ti = times_of(Q("%s", n));
        t = times_of(d);
        CHECK(rename(P("%s", other), P("%s.r", other)) == 0);
        CHANGED(d, t);
        CHECK(later(times_of(Q("%s", n)).c, ti.c));
        ti = times_of(Q("%s", n));
        t = times_of(d);
        CHECK(unlink(P("%s.r", other)) == 0);
        CHANGED(d, t);
        CHECK(later(times_of(Q("%s", n)).c, ti.c));
        CHECK_EQ(nlink_of(Q("%s", n)), 1);
        t = times_of(d);
        CHECK(unlink(P("%s", n)) == 0 && unlink(P("%s.l", n)) == 0);
        CHANGED(d, t);
        t = times_of(d);
        CHECK(rmdir(P("%s.d", n)) == 0);
        CHANGED(d, t);
    }
    CHECK_EQ(nlink_of(Q(".")), 2);
}

/* RENAME_NOREPLACE, type mismatches and hard links across servers. */
static void test_rename_rules_across(void)
{
    enter("rules");
    char a[64], b[64], dd[64];
    REQUIRE(pick(dir, "a", 0, 0, a, sizeof a) == 0 && pick(dir, "b", nodes - 1, 0, b, sizeof b) == 0);
    REQUIRE(pick(dir, "dd", 1 % nodes, 0, dd, sizeof dd) == 0);
    CHECK(tu_write_text(P("%s", a), "A") == 0 && tu_write_text(P("%s", b), "B") == 0);
    CHECK(mkdir(P("%s", dd), 0755) == 0);
    errno = 0;
    CHECK(syscall(SYS_renameat2, AT_FDCWD, P("%s", a), AT_FDCWD, P("%s", b), RENAME_NOREPLACE) == -1 &&
          errno == EEXIST);
    CHECK(tu_file_has(P("%s", a), "A") && tu_file_has(P("%s", b), "B"));
    errno = 0;
    CHECK(rename(P("%s", a), P("%s", dd)) == -1 && errno == EISDIR);
    errno = 0;
    CHECK(rename(P("%s", dd), P("%s", a)) == -1 && errno == ENOTDIR);
    /* Two names of one file: renaming one onto the other changes nothing. */
    CHECK(link(P("%s", a), P("%s.2", b)) == 0);
    CHECK(rename(P("%s", a), P("%s.2", b)) == 0);
    CHECK(tu_file_has(P("%s", a), "A") && nlink_of(Q("%s", a)) == 2);
    /* The replaced file's inode goes when its last name does. */
    uint64_t old = ino_of(P("%s", b));
    CHECK(rename(P("%s", a), P("%s", b)) == 0);
    struct bfs_attr at;
    CHECK_EQ(bfs_getattr(cl, old, &at), -ENOENT);
    CHECK(tu_file_has(Q("%s", b), "A") && nlink_of(Q("%s", b)) == 2);
    CHECK(unlink(P("%s.2", b)) == 0 && nlink_of(Q("%s", b)) == 1);
}

/* Whether node holds chunk file (ino, idx), idx >= 1: its chunk table (OP_SCAN)
 * from just before that key. -1 when the scan fails. */
static int chunk_exists(uint32_t node, uint64_t ino, uint64_t idx)
{
    static uint8_t page[4096];
    uint8_t after[16];
    put_be64(after, ino);
    put_be64(after + 8, idx - 1);
    struct rpc_call call;
    bfs_call_prep(&call, node, OP_SCAN);
    call.args.idx = BFS_SCAN_CHUNKS;
    call.args.len = sizeof page;
    call.args.target = (const char *)after;
    call.args.target_len = sizeof after;
    call.rbuf = page;
    call.rbuf_len = sizeof page;
    if (bfs_call_run(cl, &call, 1) < 0 || call.status < 0)
        return -1;
    if (call.reply.len == 0 || call.rdata_len < 6 + 16 || get_le16(page) != 16)
        return 0;
    return get_be64(page + 6) == ino && get_be64(page + 14) == idx;
}

/* A chunk index of ino past chunk 0 that lives on another node than the inode. */
static uint64_t remote_chunk(uint64_t ino)
{
    for (uint64_t idx = 1; idx < 64; idx++)
        if (place_chunk(ino, idx, nodes) != place_inode(ino, nodes))
            return idx;
    return 0;
}

/* Writes to a chunk on a server that does not own the file, once the file is
 * gone, leave no chunk file there: one that arrives after the server removed
 * the file's chunks is refused, and one that raced the removal is undone by
 * the writer when the owner says the file is gone. */
static void test_no_chunk_after_removal(void)
{
    enum { CHUNK = 64 << 10 };
    static uint8_t buf[16 * CHUNK];
    memset(buf, 'c', sizeof buf);
    enter("chunkleak");

    /* a write that comes after the REMOVE */
    int fd = open(P("a"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    uint64_t ino = ino_of(P("a")), idx = remote_chunk(ino);
    REQUIRE(idx > 0 && idx < 16);
    CHECK_EQ(write(fd, buf, (idx + 1) * CHUNK), (ssize_t)((idx + 1) * CHUNK));
    CHECK(close(fd) == 0);
    uint32_t node = place_chunk(ino, idx, nodes);
    CHECK_EQ(chunk_exists(node, ino, idx), 1);
    CHECK(unlink(P("a")) == 0);
    /* The owner removes the chunks elsewhere in the background. */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = chunk_exists(node, ino, idx) == 0;
        if (!gone)
            usleep(10000);
    }
    REQUIRE(gone);
    struct rpc_call call;
    bfs_call_prep(&call, node, OP_WRITE);
    call.args.ino = ino;
    call.args.idx = idx;
    call.data = buf;
    call.data_len = 10;
    REQUIRE(bfs_call_run(cl, &call, 1) == 0);
    CHECK_EQ(call.status, -ENOENT);
    CHECK_EQ(chunk_exists(node, ino, idx), 0);

    /* a write that raced the removal: the owner never knew of its chunk */
    REQUIRE(tu_write_text(P("b"), "") == 0);
    ino = ino_of(P("b"));
    idx = remote_chunk(ino);
    REQUIRE(idx > 0);
    node = place_chunk(ino, idx, nodes);
    CHECK(unlink(P("b")) == 0);
    CHECK_EQ(bfs_write(cl, ino, buf, 10, idx * CHUNK), -ENOENT);
    /* The chunk that write made goes in the background too. */
    gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = chunk_exists(node, ino, idx) == 0;
        if (!gone)
            usleep(10000);
    }
    CHECK(gone);
}

/* ------------------------------------------------------------------- main */

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
#define T(x) { #x, x }
    T(test_rename_over_nonempty_dir),
    T(test_dir_renames_between_servers),
    T(test_dir_move_between_parents),
    T(test_no_move_under_itself_rpc),
    T(test_opposite_dir_moves),
    T(test_rename_replaces_atomically),
    T(test_rmdir_races_creates),
    T(test_no_entry_under_removed_dir),
    T(test_parent_times),
    T(test_rename_rules_across),
    T(test_no_chunk_after_removal),
#undef T
};

static int wanted(const char *name, int argc, char **argv)
{
    if (argc <= 4)
        return 1;
    for (int i = 4; i < argc; i++)
        if (strcmp(name + 5, argv[i]) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MOUNT MOUNT2 REGISTRY [TEST...]\n", argv[0]);
        return 2;
    }
    struct bfs_client_opts o = { .registry_dir = argv[3], .registry_timeout_s = 10 };
    if (bfs_client_open(&o, &cl) < 0) {
        fprintf(stderr, "test_ns: cannot reach the servers in %s\n", argv[3]);
        return 2;
    }
    nodes = bfs_client_nodes(cl);
    snprintf(top, sizeof top, "%s/tns.%d", argv[1], (int)getpid());
    snprintf(top2, sizeof top2, "%s/tns.%d", argv[2], (int)getpid());
    if (mkdir(top, 0755) != 0) {
        fprintf(stderr, "test_ns: mkdir %s: %s\n", top, strerror(errno));
        return 2;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (!wanted(tests[i].name, argc, argv))
            continue;
        test_failed_checks = 0;
        tests[i].fn();
        if (test_failed_checks) {
            test_failed++;
            printf("FAIL: %s (%u servers)\n", tests[i].name, nodes);
        } else {
            test_passed++;
            printf("PASS: %s (%u servers)\n", tests[i].name, nodes);
        }
        fflush(stdout);
    }
    bfs_client_close(cl);
    return test_summary();
}
