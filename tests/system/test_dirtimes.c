/* test_dirtimes.c - a parent's times when its entries live on other servers
 * (server/dirtimes.h, common/client_times.c), over RPC on a cluster:
 *   - the client that made a change reads the parent's new times at once
 *     (create, link, rename, unlink, symlink, mknod);
 *   - another client reads them within about the servers' window;
 *   - a utimensat of the parent after a create keeps its time (the create's
 *     late touch is a no-op at the owner);
 *   - a burst of creates in one directory sends its owner far fewer NLINKs
 *     than creates, and BENCHFS_PARENT_TIMES=client still sends one each.
 *     test_dirtimes REGISTRY   (2 or more servers running)
 * The records of touches not sent yet (tests/system/ns_replay.sh):
 *     test_dirtimes REGISTRY held       servers with BENCHFS_FAULT=dirtimes-hold:
 *         makes directory "held" with files whose entries live elsewhere; checks
 *         no other client sees its times move; prints its ctime before them
 *     test_dirtimes REGISTRY replayed CTIME   after a kill -9 and a restart of
 *         the servers without the fault: another client sees them move
 * A server gone delays only its own touches (3 servers, PID: node 2's):
 *     test_dirtimes REGISTRY gone PID */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/client.h"
#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/placement.h"
#include "../../common/proto.h"
#include "../test.h"

#define SEE_S 2.0           /* another client sees the times within this (window: 10 ms) */
#define BURST 1000          /* creates of the burst */
#define REPLAY_S 20.0       /* a restarted server's records are sent within this */
#define HELD_WAIT_NS (200 * 1000000LL)   /* 20 windows: a touch held is not sent by then */

static struct bfs_client *c1, *c2;   /* the one that changes, the one that looks */
static uint32_t nodes;
static const char *registry;
static unsigned serial;

static struct bfs_client *open_client(void)
{
    struct bfs_client_opts o = { .registry_dir = registry, .registry_timeout_s = 10,
                                 .rpc_timeout_s = 10 };
    struct bfs_client *c = NULL;
    return bfs_client_open(&o, &c) == 0 ? c : NULL;
}

/* A new directory in the root (name: at least 64 bytes, or NULL), and its owner. */
static uint64_t new_dir(uint32_t *owner, char *name_out)
{
    char name[64];
    struct bfs_attr a;
    snprintf(name, sizeof name, "dt%u.%ld", serial++, (long)bfs_mono_ns());
    if (name_out)
        memcpy(name_out, name, sizeof name);
    if (bfs_create(c1, BFS_ROOT_INO, name, S_IFDIR | 0755, 0, 0, &a) < 0)
        return 0;
    *owner = place_inode(a.ino, nodes);
    return a.ino;
}

#define ANY UINT32_MAX

/* A new name in dir (prefix and a number) whose entry lives on node, or with
 * node ANY on any node but avoid. */
static void pick(uint64_t dir, const char *prefix, uint32_t node, uint32_t avoid, char *out,
                 size_t size)
{
    uint32_t at;
    do {
        snprintf(out, size, "%s%u", prefix, serial++);
        at = place_dentry(dir, out, strlen(out), nodes);
    } while (node == ANY ? at == avoid : at != node);
}

/* A name in dir whose entry lives on another server than dir's inode. */
static void remote_name(uint64_t dir, uint32_t owner, const char *prefix, char *out, size_t size)
{
    pick(dir, prefix, ANY, owner, out, size);
}

static int64_t ctime_of(struct bfs_client *c, uint64_t ino)
{
    struct bfs_attr a;
    return bfs_getattr(c, ino, &a) == 0 ? a.ctime_ns : -1;
}

/* Both of dir's times, as c reads them now, are past before's. */
static int moved(struct bfs_client *c, uint64_t dir, const struct bfs_attr *before)
{
    struct bfs_attr a;
    return bfs_getattr(c, dir, &a) == 0 && a.mtime_ns > before->mtime_ns &&
           a.ctime_ns > before->ctime_ns;
}

/* Polls until c2 reads dir's ctime at or past want (SEE_S at most): 1 if so. */
static int c2_sees(uint64_t dir, int64_t want)
{
    double until = bfs_mono_s() + SEE_S;
    int64_t t;
    while ((t = ctime_of(c2, dir)) < want && bfs_mono_s() < until)
        ;
    return t >= want;
}

static uint64_t nlinks_at(uint32_t node)
{
    uint64_t counts[OP_MAX] = { 0 };
    return bfs_server_counters(c2, node, counts, OP_MAX) > OP_NLINK ? counts[OP_NLINK] : 0;
}

#define QUIET_NS (50 * 1000000LL)   /* 5 windows without an NLINK: none is on its way */

/* Waits (SEE_S at most) until node has counted no NLINK for QUIET_NS (the
 * touches of earlier tests are in), so that the next one counted is ours.
 * Its count then. */
static uint64_t quiet_nlinks(uint32_t node)
{
    double until = bfs_mono_s() + SEE_S;
    uint64_t n = nlinks_at(node);
    int64_t since = bfs_mono_ns();
    while (bfs_mono_ns() - since < QUIET_NS && bfs_mono_s() < until) {
        struct timespec nap = { 0, 5 * 1000000L };
        nanosleep(&nap, NULL);
        uint64_t m = nlinks_at(node);
        if (m != n) {
            n = m;
            since = bfs_mono_ns();
        }
    }
    return n;
}

/* A directory in the root whose inode lives on node (its entry's server). */
static uint64_t dir_on(uint32_t node)
{
    char name[64];
    struct bfs_attr a;
    pick(BFS_ROOT_INO, "on", node, 0, name, sizeof name);
    return bfs_create(c1, BFS_ROOT_INO, name, S_IFDIR | 0755, 0, 0, &a) == 0 ? a.ino : 0;
}

/* A file made in dir, its entry on node: 0 or the error. */
static int make_on(uint64_t dir, uint32_t node)
{
    char f[64];
    struct bfs_attr a;
    pick(dir, "g", node, 0, f, sizeof f);
    return bfs_create(c1, dir, f, S_IFREG | 0644, 0, 0, &a);
}

/* The servers take the parents' times on themselves only once each is connected
 * to the whole cluster (the client's own NLINK before that): a create whose
 * entry is on node n and whose parent's owner counts no NLINK by the time the
 * create returns was taken on by n. Waits (CONNECT_S at most) until every node
 * does so for a parent on every other node, so that the tests after it test the
 * servers' path and not the client's. 1 if they do. */
#define CONNECT_S 20.0
static int servers_take_times(void)
{
    double until = bfs_mono_s() + CONNECT_S;
    for (uint32_t owner = 0; owner < nodes; owner++) {
        uint64_t dir = dir_on(owner);
        if (!dir)
            return 0;
        for (uint32_t n = 0; n < nodes; n++) {
            if (n == owner)
                continue;
            for (;;) {
                uint64_t before = nlinks_at(owner);
                if (make_on(dir, n) < 0)
                    return 0;
                if (nlinks_at(owner) == before)
                    break;
                if (bfs_mono_s() > until)
                    return 0;
            }
        }
    }
    return 1;
}

static void test_servers_take_times_on(void)
{
    CHECK(servers_take_times());
}

/* Each kind of change, its entry on another server than the parent: the
 * changing client sees the parent's times move at once; the other one soon. */
static void test_own_view_at_once(void)
{
    uint32_t owner;
    char dname[64];
    uint64_t d = new_dir(&owner, dname);
    REQUIRE(d != 0);
    char f[64], l[64], r[64], s[64], n[64];
    struct bfs_attr a, before;
    remote_name(d, owner, "f", f, sizeof f);
    remote_name(d, owner, "l", l, sizeof l);
    remote_name(d, owner, "s", s, sizeof s);
    remote_name(d, owner, "n", n, sizeof n);
    uint32_t fnode = place_dentry(d, f, strlen(f), nodes);
    pick(d, "r", fnode, 0, r, sizeof r);   /* a rename its entry's server does alone */

    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    CHECK_EQ(bfs_create(c1, d, f, S_IFREG | 0644, 0, 0, &a), 0);
    CHECK(moved(c1, d, &before));
    CHECK(c2_sees(d, ctime_of(c1, d)));

    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    struct bfs_attr la;
    CHECK_EQ(bfs_link(c1, a.ino, d, l, &la, NULL), 0);
    CHECK(moved(c1, d, &before));

    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    CHECK_EQ(bfs_rename(c1, d, f, d, r, 0, 0), 0);
    CHECK(moved(c1, d, &before));

    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    CHECK_EQ(bfs_symlink(c1, d, s, "target", 0, 0, &la, NULL), 0);
    CHECK(moved(c1, d, &before));

    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    CHECK_EQ(bfs_mknod(c1, d, n, S_IFIFO | 0644, 0, 0, 0, &la), 0);
    CHECK(moved(c1, d, &before));

    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    CHECK_EQ(bfs_unlink(c1, d, r, 0, NULL), 0);
    CHECK(moved(c1, d, &before));
    /* A lookup of the directory by its name shows them too. */
    REQUIRE(bfs_getattr(c1, d, &before) == 0);
    CHECK_EQ(bfs_unlink(c1, d, l, 0, NULL), 0);
    struct bfs_attr seen;
    REQUIRE(bfs_lookup(c1, BFS_ROOT_INO, dname, &seen) == 0);
    CHECK_EQ(seen.ino, d);
    CHECK(seen.mtime_ns > before.mtime_ns && seen.ctime_ns > before.ctime_ns);
    CHECK(c2_sees(d, seen.ctime_ns));
    CHECK_EQ(bfs_unlink(c1, d, s, 0, NULL), 0);
    CHECK_EQ(bfs_unlink(c1, d, n, 0, NULL), 0);
}

/* A create, then at once an explicit mtime on the parent (what tar and rsync
 * do after filling a directory): the explicit time stays, for both clients,
 * after the create's touch has reached the owner. */
static void test_setattr_after_create_wins(void)
{
    uint32_t owner;
    uint64_t d = new_dir(&owner, NULL);
    REQUIRE(d != 0);
    char f[64];
    remote_name(d, owner, "f", f, sizeof f);
    uint64_t n0 = quiet_nlinks(owner);
    struct bfs_attr a, in = { .mtime_ns = 1000LL * 1000000000LL + 7 }, out;
    CHECK_EQ(bfs_create(c1, d, f, S_IFREG | 0644, 0, 0, &a), 0);
    CHECK_EQ(bfs_setattr(c1, d, BFS_SET_MTIME, &in, &out), 0);
    /* The create's touch arrives after the setattr: the owner counts it. */
    double until = bfs_mono_s() + SEE_S;
    while (nlinks_at(owner) < n0 + 1 && bfs_mono_s() < until)
        ;
    CHECK(nlinks_at(owner) >= n0 + 1);
    struct bfs_attr s1, s2;
    REQUIRE(bfs_getattr(c1, d, &s1) == 0 && bfs_getattr(c2, d, &s2) == 0);
    CHECK_EQ(s1.mtime_ns, in.mtime_ns);
    CHECK_EQ(s2.mtime_ns, in.mtime_ns);
    CHECK_EQ(bfs_unlink(c1, d, f, 0, NULL), 0);
}

/* BURST creates in one directory: its owner gets far fewer NLINKs than the
 * creates whose entries live elsewhere; the other client then sees the last
 * one's time. With BENCHFS_PARENT_TIMES=client, one NLINK per such create. */
static void test_burst_is_coalesced(void)
{
    uint32_t owner;
    uint64_t d = new_dir(&owner, NULL);
    REQUIRE(d != 0);
    uint64_t n0 = nlinks_at(owner);
    unsigned remote = 0;
    struct bfs_attr a;
    for (unsigned i = 0; i < BURST; i++) {
        char f[64];
        snprintf(f, sizeof f, "b%u", i);
        remote += place_dentry(d, f, strlen(f), nodes) != owner;
        if (bfs_create(c1, d, f, S_IFREG | 0644, 0, 0, &a) < 0) {
            CHECK(!"create of the burst");
            return;
        }
    }
    CHECK(c2_sees(d, ctime_of(c1, d)));
    uint64_t touches = nlinks_at(owner) - n0;
    printf("  %u creates with their entry elsewhere, %llu NLINKs at the directory's owner\n",
           remote, (unsigned long long)touches);
    CHECK(touches >= 1);
    CHECK(touches * 2 < remote);

    setenv("BENCHFS_PARENT_TIMES", "client", 1);
    struct bfs_client *c3 = open_client();
    unsetenv("BENCHFS_PARENT_TIMES");
    REQUIRE(c3 != NULL);
    n0 = nlinks_at(owner);
    remote = 0;
    for (unsigned i = 0; i < 50; i++) {
        char f[64];
        snprintf(f, sizeof f, "c%u", i);
        remote += place_dentry(d, f, strlen(f), nodes) != owner;
        CHECK_EQ(bfs_create(c3, d, f, S_IFREG | 0644, 0, 0, &a), 0);
    }
    CHECK_EQ(nlinks_at(owner) - n0, remote);
    bfs_client_close(c3);
}

static pid_t gone_pid;

/* Node 2 is killed; each round a file goes into a directory of node 2 and one
 * into a directory of node 0, both entries on node 1: node 1 finds node 2 gone
 * at most once (its touch there fails after its 0.5 s timeout, and the one of
 * node 0 sent beside it waits that long); from then on node 0's times arrive
 * as if nothing were wrong. */
static void test_gone_server_delays_only_its_own(void)
{
    REQUIRE(nodes == 3);
    uint64_t d0 = dir_on(0), d2 = dir_on(2);
    REQUIRE(d0 && d2);
    REQUIRE(kill(gone_pid, SIGKILL) == 0);
    double first = 0, worst = 0;
    for (int round = 0; round < 10; round++) {
        CHECK_EQ(make_on(d2, 1), 0);   /* its entry is made; its parent's touch waits */
        struct bfs_attr before;
        REQUIRE(bfs_getattr(c2, d0, &before) == 0);
        double t0 = bfs_mono_s();
        CHECK_EQ(make_on(d0, 1), 0);
        CHECK(c2_sees(d0, before.ctime_ns + 1));
        double took = bfs_mono_s() - t0;
        if (round == 0)
            first = took;
        else if (took > worst)
            worst = took;
    }
    printf("  node 0's times seen by another client after %.3f s in the first round, "
           "%.3f s at worst after it\n", first, worst);
    CHECK(worst < 0.3);
}

static int64_t held_before;   /* "held"'s ctime before the creates */

static void test_held_touches_unsent(void)
{
    struct bfs_attr d, a, before;
    REQUIRE(bfs_create(c1, BFS_ROOT_INO, "held", S_IFDIR | 0755, 0, 0, &d) == 0);
    uint32_t owner = place_inode(d.ino, nodes);
    REQUIRE(bfs_getattr(c2, d.ino, &before) == 0);
    held_before = before.ctime_ns;
    for (int i = 0; i < 20; i++) {
        char f[64];
        remote_name(d.ino, owner, "h", f, sizeof f);
        CHECK_EQ(bfs_create(c1, d.ino, f, S_IFREG | 0644, 0, 0, &a), 0);
    }
    CHECK(moved(c1, d.ino, &before));   /* the client that made them, from its own stamps */
    int64_t until = bfs_mono_ns() + HELD_WAIT_NS;
    while (bfs_mono_ns() < until && ctime_of(c2, d.ino) == held_before)
        ;
    CHECK_EQ(ctime_of(c2, d.ino), held_before);   /* held: nothing sent */
}

static void test_records_replayed(void)
{
    struct bfs_attr d;
    REQUIRE(bfs_lookup(c2, BFS_ROOT_INO, "held", &d) == 0);
    double until = bfs_mono_s() + REPLAY_S;
    while (ctime_of(c2, d.ino) <= held_before && bfs_mono_s() < until)
        ;
    CHECK(ctime_of(c2, d.ino) > held_before);
}

int main(int argc, char **argv)
{
    log_init("test_dirtimes");
    const char *mode = argc > 2 ? argv[2] : "";
    if (argc < 2 || (argc > 2 && strcmp(mode, "held") && strcmp(mode, "replayed") &&
                     strcmp(mode, "gone")) ||
        ((!strcmp(mode, "replayed") || !strcmp(mode, "gone")) && argc != 4)) {
        fprintf(stderr, "usage: %s REGISTRY [held | replayed CTIME | gone PID]\n", argv[0]);
        return 2;
    }
    registry = argv[1];
    if (!(c1 = open_client()) || !(c2 = open_client())) {
        fprintf(stderr, "test_dirtimes: cannot connect to the servers in %s\n", registry);
        return 2;
    }
    nodes = bfs_client_nodes(c1);
    if (!strcmp(mode, "held") && nodes > 1) {
        RUN(test_held_touches_unsent);
        printf("%lld\n", (long long)held_before);
    } else if (!strcmp(mode, "gone") && nodes > 1) {
        gone_pid = (pid_t)atoi(argv[3]);
        RUN(test_servers_take_times_on);
        RUN(test_gone_server_delays_only_its_own);
    } else if (!strcmp(mode, "replayed") && nodes > 1) {
        held_before = strtoll(argv[3], NULL, 10);
        RUN(test_records_replayed);
    } else if (nodes < 2) {
        printf("SKIP: test_dirtimes (one server: every parent is its entries' server)\n");
    } else {
        RUN(test_servers_take_times_on);
        RUN(test_own_view_at_once);
        RUN(test_setattr_after_create_wins);
        RUN(test_burst_is_coalesced);
    }
    bfs_client_close(c2);
    bfs_client_close(c1);
    return test_summary();
}
