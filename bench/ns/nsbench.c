/* nsbench.c - what namespace operations cost over RPC, on one server or several:
 * microseconds and requests (all servers' counters) per operation.
 *
 *   bench-ns REGISTRY [N]
 *
 * Names are chosen with the placement functions, so that "same server" and
 * "across servers" mean what they say: a file renamed between two entries on
 * one server, or on two; a directory moved between parents; rmdir and mkdir.
 * Extended attributes: what a getattr, a setxattr and a getxattr cost at the
 * inode's owner, and a create in a directory with a default ACL (inherited on
 * the server that holds the parent, or by the client with one GETXATTR first).
 * An uncontended lock and unlock pair (fcntl and flock), interleaved with a
 * GETATTR of the same file as the one-request baseline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/acl.h"
#include "../../common/client.h"
#include "../../common/clock.h"
#include "../../common/placement.h"
#include "../../common/xattr.h"

static struct bfs_client *cl;
static uint32_t nodes;

static uint64_t requests(void)
{
    uint64_t sum = 0, c[OP_MAX];
    for (uint32_t n = 0; n < nodes; n++) {
        int got = bfs_server_counters(cl, n, c, OP_MAX);
        for (int i = 0; i < got; i++)
            if (i != OP_COUNTERS)
                sum += c[i];
    }
    return sum;
}

/* A name "prefix<k>" in parent whose entry lives on node (UINT32_MAX: any but avoid). */
static void pick(uint64_t parent, const char *prefix, uint32_t node, uint32_t avoid, char *out)
{
    static unsigned k;
    for (;;) {
        sprintf(out, "%s%u", prefix, k++);
        uint32_t n = place_dentry(parent, out, strlen(out), nodes);
        if (node == UINT32_MAX ? n != avoid : n == node)
            return;
    }
}

static void report(const char *what, int n, double us, uint64_t reqs)
{
    printf("%-34s %8.1f us/op %6.1f requests/op\n", what, us / n, (double)reqs / n);
}

static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "bench-ns: %s: %s\n", what, strerror(-rc));
        exit(1);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-ns REGISTRY [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 200;
    struct bfs_client_opts o = { .registry_dir = argv[1], .registry_timeout_s = 20 };
    if (bfs_client_open(&o, &cl) < 0)
        return 1;
    nodes = bfs_client_nodes(cl);
    struct bfs_attr a, top, p1, p2;
    char name[64], root[32];
    snprintf(root, sizeof root, "nsbench.%d", (int)getpid());
    must(bfs_create(cl, BFS_ROOT_INO, root, S_IFDIR | 0755, 0, 0, &top), "mkdir");
    uint64_t d = top.ino;
    uint32_t here = place_inode(d, nodes);
    char (*src)[64] = calloc((size_t)n, 64), (*dst)[64] = calloc((size_t)n, 64);
    if (n <= 0 || !src || !dst) {
        fprintf(stderr, "bench-ns: %d operations: %s\n", n, n <= 0 ? "too few" : strerror(ENOMEM));
        return 1;
    }
    printf("%u server(s), %d operations each\n", nodes, n);
    uint64_t r0;

    /* creates: the entry on the parent's server, and (cluster) elsewhere, where the
     * parent's times cost the client one more request */
    r0 = requests();
    double t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++) {
        pick(d, "c", here, 0, src[i]);
        must(bfs_create(cl, d, src[i], S_IFREG | 0644, 0, 0, &a), "create");
    }
    report("create file, parent's server", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    if (nodes > 1) {
        r0 = requests();
        t0 = (bfs_mono_s() * 1e6);
        for (int i = 0; i < n; i++) {
            pick(d, "e", UINT32_MAX, here, src[i]);
            must(bfs_create(cl, d, src[i], S_IFREG | 0644, 0, 0, &a), "create");
        }
        report("create file, parent elsewhere", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    }

    /* files renamed within one server: both entries and the inode on one node */
    for (int i = 0; i < n; i++) {
        pick(d, "s", here, 0, src[i]);
        pick(d, "t", here, 0, dst[i]);
        must(bfs_create(cl, d, src[i], S_IFREG | 0644, 0, 0, &a), "create");
    }
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++)
        must(bfs_rename(cl, d, src[i], d, dst[i], 0, 0), "rename, same server");
    report("rename file, same server", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);

    if (nodes > 1) {
        /* files renamed from an entry here to one on another server */
        for (int i = 0; i < n; i++) {
            pick(d, "u", here, 0, src[i]);
            pick(d, "x", UINT32_MAX, here, dst[i]);
            must(bfs_create(cl, d, src[i], S_IFREG | 0644, 0, 0, &a), "create");
        }
        r0 = requests();
        t0 = (bfs_mono_s() * 1e6);
        for (int i = 0; i < n; i++)
            must(bfs_rename(cl, d, src[i], d, dst[i], 0, 0), "rename, across servers");
        report("rename file, across servers", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
        /* the same over the files just moved: each replaced one is dropped elsewhere */
        for (int i = 0; i < n; i++) {
            pick(d, "v", here, 0, src[i]);
            must(bfs_create(cl, d, src[i], S_IFREG | 0644, 0, 0, &a), "create");
        }
        r0 = requests();
        t0 = (bfs_mono_s() * 1e6);
        for (int i = 0; i < n; i++)
            must(bfs_rename(cl, d, src[i], d, dst[i], 0, 0), "rename over a file");
        report("rename over a file, across", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    }

    /* directories moved between two parents */
    pick(d, "p", 0, 0, name);
    must(bfs_create(cl, d, name, S_IFDIR | 0755, 0, 0, &p1), "mkdir");
    pick(d, "q", nodes - 1, 0, name);
    must(bfs_create(cl, d, name, S_IFDIR | 0755, 0, 0, &p2), "mkdir");
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++) {
        sprintf(src[i], "d%d", i);
        must(bfs_create(cl, p1.ino, src[i], S_IFDIR | 0755, 0, 0, &a), "mkdir");
    }
    report("mkdir", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++)
        must(bfs_rename(cl, p1.ino, src[i], p2.ino, src[i], 0, 0), "rename dir");
    report("rename dir between parents", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++)
        must(bfs_rmdir(cl, p2.ino, src[i]), "rmdir");
    report("rmdir (empty)", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);

    /* extended attributes of one file: getattr for comparison, then set and get */
    pick(d, "x", here, 0, name);
    must(bfs_create(cl, d, name, S_IFREG | 0644, 0, 0, &a), "create");
    uint64_t f = a.ino;
    char val[32] = "0123456789abcdef0123456789abcde";
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++)
        must(bfs_getattr(cl, f, &a), "getattr");
    report("getattr", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++) {
        val[0] = (char)('a' + i % 26);
        must(bfs_setxattr(cl, f, "user.bench", val, sizeof val, 0, NULL), "setxattr");
    }
    report("setxattr (32 bytes)", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++)
        must((int)bfs_getxattr(cl, f, "user.bench", val, sizeof val), "getxattr");
    report("getxattr (32 bytes)", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);

    /* creates in a directory with a default ACL (u:65534:rwx): inherited by the server
     * that holds the parent; for a parent elsewhere the client fetches it first, as
     * benchfs-fuse does */
    static const uint8_t acl[4 + 5 * 8] = {
        2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 2, 0, 7, 0, 0xfe, 0xff, 0, 0,
        4, 0, 5, 0, 255, 255, 255, 255, 0x10, 0, 7, 0, 255, 255, 255, 255,
        0x20, 0, 5, 0, 255, 255, 255, 255 };
    pick(d, "a", here, 0, name);
    must(bfs_create(cl, d, name, S_IFDIR | 0755, 0, 0, &p1), "mkdir");
    must(bfs_setxattr(cl, p1.ino, BFS_ACL_DEFAULT, acl, sizeof acl, 0, NULL), "default ACL");
    uint32_t phere = place_inode(p1.ino, nodes);
    struct bfs_inherit ih = { .umask = 022 };
    r0 = requests();
    t0 = (bfs_mono_s() * 1e6);
    for (int i = 0; i < n; i++) {
        pick(p1.ino, "i", phere, 0, src[i]);
        must(bfs_make(cl, p1.ino, src[i], S_IFREG | 0666, 0, 0, 0, &ih, &a, NULL), "create, default ACL");
    }
    report("create file, default ACL, parent's server", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    if (nodes > 1) {
        uint8_t def[sizeof acl], acc[sizeof acl], list[2 * sizeof acl + 64];
        r0 = requests();
        t0 = (bfs_mono_s() * 1e6);
        for (int i = 0; i < n; i++) {
            pick(p1.ino, "j", UINT32_MAX, phere, src[i]);
            must((int)bfs_getxattr(cl, p1.ino, BFS_ACL_DEFAULT, def, sizeof def), "get default ACL");
            uint32_t mode = S_IFREG | 0666;
            size_t ll = 0;
            if (must(bfs_acl_inherit(def, sizeof def, &mode, acc), "inherit") == 1)
                ll = bfs_xattr_rec_put(list, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), acc, sizeof acc);
            struct bfs_inherit cih = { .umask = 0, .xattrs = list, .xattrs_len = ll };
            must(bfs_make(cl, p1.ino, src[i], mode, 0, 0, 0, &cih, &a, NULL), "create, default ACL");
        }
        report("create file, default ACL, parent elsewhere", n, (bfs_mono_s() * 1e6) - t0, requests() - r0);
    }

    /* locks: an uncontended lock and unlock pair (two requests to the file's
     * owner), interleaved with a GETATTR of the same file, the one-request
     * baseline, so that both see the same moments of a noisy machine */
    pick(d, "l", here, 0, name);
    must(bfs_create(cl, d, name, S_IFREG | 0644, 0, 0, &a), "create");
    struct bfs_lock lk = { .ino = a.ino, .owner = 1, .start = 0, .end = BFS_LOCK_EOF,
                           .pid = (uint32_t)getpid() };
    for (int flock = 0; flock <= 1; flock++) {
        double g = 0, l = 0;
        lk.flock = flock;
        r0 = requests();
        for (int i = 0; i < n; i++) {
            double t1 = (bfs_mono_s() * 1e6);
            must(bfs_getattr(cl, a.ino, &p1), "getattr");
            double t2 = (bfs_mono_s() * 1e6);
            lk.type = BFS_LOCK_WR;
            must(bfs_lock(cl, &lk, NULL), "lock");
            lk.type = BFS_LOCK_UN;
            must(bfs_lock(cl, &lk, NULL), "unlock");
            g += t2 - t1;
            l += (bfs_mono_s() * 1e6) - t2;
        }
        /* (the loop's requests, less the GETATTRs: one request each) */
        uint64_t reqs = requests() - r0 - (uint64_t)n;
        report(flock ? "  getattr, between flocks" : "  getattr, between fcntl locks", n, g, (uint64_t)n);
        report(flock ? "flock + unlock, uncontended" : "fcntl lock + unlock, uncontended", n, l, reqs);
    }
    free(src);
    free(dst);
    bfs_client_close(cl);
    return 0;
}
