/* status.c - benchfs-status: every server of a cluster, from its registry file
 * and its own answer to OP_STATUS.
 *
 *   benchfs-status --registry-dir R [--json | --list] [--timeout S]
 *
 * The registry names the cluster size (each address file carries it) and each
 * server's host and pid. A node is
 *   up       its file is there and it answered STATUS (key-checked like every request),
 *   stale    its file was left by a process that is gone (same host, pid not running),
 *   down     no file, or a file whose server did not answer within --timeout.
 * Exit status: 0 all up, 1 any node not up, 2 usage or no cluster in R.
 * Unlike the client library (which waits for every node), this talks to each
 * reachable server on its own, so a dead node does not hide the others.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/registry.h"
#include "../common/rpc.h"
#include "../common/version.h"

#define PROG "benchfs-status"

enum state { ST_DOWN, ST_STALE, ST_UP };
static const char *const state_names[] = { "down", "stale", "up" };

struct node {
    enum state state;
    int have_entry;
    struct registry_entry e;
    struct bfs_status st;
    char why[PATH_MAX + 200];
};

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " --registry-dir DIR [--json | --list] [--timeout S]\n"
               "\n"
               "Shows every BenchFS server registered in DIR: state (up/down/stale), host, pid,\n"
               "uptime, inodes, chunk files, bytes stored, free space of its data dir and requests\n"
               "handled by type. Exit status 0 when every server is up, 1 when one is not, 2 for\n"
               "bad usage or no cluster in DIR.\n"
               "  --json        one JSON object instead of the table\n"
               "  --list        one line per server: NODE STATE HOST PID (for scripts)\n"
               "  --timeout S   how long a server may take to answer (default 5)\n");
}

/* The cluster size: any readable address file says it (server.addr: 1). */
static int cluster_size(const char *dir, uint32_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        int rc = -errno;
        fprintf(stderr, PROG ": cannot read registry directory %s: %s\n", dir, strerror(errno));
        return rc;
    }
    int rc = -ENOENT;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".addr") != 0)
            continue;
        char path[PATH_MAX];
        struct registry_entry e;
        int stale;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (registry_read_any(path, &e, &stale) == 0) {
            *n = e.cluster_size;
            registry_entry_clear(&e);
            rc = 0;
            if (!stale)
                break;   /* a live server's word is the best */
        }
    }
    closedir(d);
    if (rc < 0)
        fprintf(stderr, PROG ": no BenchFS server registered in %s (no readable *.addr file)\n", dir);
    return rc;
}

static void read_node(const char *dir, uint32_t k, uint32_t n, struct node *nd)
{
    char path[PATH_MAX];
    int stale = 0;
    registry_path(dir, k, n, path, sizeof path);
    int rc = registry_read_any(path, &nd->e, &stale);
    if (rc < 0) {
        snprintf(nd->why, sizeof nd->why, "%s: %s", path,
                 rc == -ENOENT ? "no registry file (stopped, or not started)" : strerror(-rc));
        return;
    }
    nd->have_entry = 1;
    if (nd->e.cluster_size != n || nd->e.node_id != k) {
        snprintf(nd->why, sizeof nd->why, "%s: says node %u of %u, not %u of %u", path,
                 nd->e.node_id, nd->e.cluster_size, k, n);
        return;
    }
    if (stale) {
        nd->state = ST_STALE;
        snprintf(nd->why, sizeof nd->why, "%s: left by pid %u, which is not running", path, nd->e.pid);
    }
}

/* Connects to every node with a live file and asks them all at once. */
static void ask(const uint8_t key[BFS_KEY_LEN], uint32_t n, struct node *nodes, double timeout)
{
    struct rpc_client *rpc = NULL;
    if (rpc_client_create(n, key, timeout, &rpc) < 0) {
        for (uint32_t k = 0; k < n; k++)
            snprintf(nodes[k].why, sizeof nodes[k].why, "cannot create a UCX client");
        return;
    }
    struct rpc_call *calls = calloc(n, sizeof *calls);
    uint8_t *bufs = malloc((size_t)n * proto_status_size());
    uint32_t *which = calloc(n, sizeof *which);
    size_t ncalls = 0;
    for (uint32_t k = 0; calls && bufs && which && k < n; k++) {
        struct node *nd = &nodes[k];
        if (!nd->have_entry || nd->state == ST_STALE || nd->why[0])
            continue;
        int rc = rpc_client_connect(rpc, k, nd->e.addr, nd->e.addr_len);
        if (rc < 0) {
            snprintf(nd->why, sizeof nd->why, "registered (pid %u on %s) but does not answer: %s",
                     nd->e.pid, nd->e.host, strerror(-rc));
            continue;
        }
        struct rpc_call *c = &calls[ncalls];
        c->node = k;
        c->op = OP_STATUS;
        c->rbuf = bufs + ncalls * proto_status_size();
        c->rbuf_len = proto_status_size();
        which[ncalls++] = k;
    }
    if (ncalls)
        rpc_run(rpc, calls, ncalls);
    for (size_t i = 0; i < ncalls; i++) {
        struct node *nd = &nodes[which[i]];
        struct rpc_call *c = &calls[i];
        int rc = c->status;
        if (rc == 0)
            rc = proto_status_decode(c->rbuf, c->rdata_len, &nd->st);
        if (rc == 0 && nd->st.node_id != which[i])
            rc = -EBADMSG;
        if (rc == 0)
            nd->state = ST_UP;
        else
            snprintf(nd->why, sizeof nd->why, "STATUS failed: %s", strerror(-rc));
    }
    free(calls);
    free(bufs);
    free(which);
    rpc_client_destroy(rpc);
}

static const char *human(uint64_t v, char *buf, size_t size)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 5) {
        d /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", d, unit[u]);
    return buf;
}

static const char *uptime(uint64_t ms, char *buf, size_t size)
{
    uint64_t s = ms / 1000;
    if (s < 3600)
        snprintf(buf, size, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
    else if (s < 86400)
        snprintf(buf, size, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s / 60 % 60));
    else
        snprintf(buf, size, "%ud%02uh", (unsigned)(s / 86400), (unsigned)(s / 3600 % 24));
    return buf;
}

static void print_table(const char *dir, uint32_t n, const struct node *nodes, uint32_t up)
{
    char b1[32], b2[32], b3[32], b4[32];
    printf("BenchFS cluster in %s: %u server%s, %u up\n", dir, n, n == 1 ? "" : "s", up);
    printf("%-4s %-5s %-20s %-8s %-8s %10s %10s %11s %11s %11s\n", "NODE", "STATE", "HOST", "PID",
           "UPTIME", "INODES", "CHUNKS", "STORED", "METADATA", "FREE");
    for (uint32_t k = 0; k < n; k++) {
        const struct node *nd = &nodes[k];
        if (nd->state != ST_UP) {
            printf("%-4u %-5s %-20s %-8s  %s\n", k, state_names[nd->state],
                   nd->have_entry ? nd->e.host : "-", "-", nd->why);
            continue;
        }
        const struct bfs_status *s = &nd->st;
        printf("%-4u %-5s %-20.20s %-8u %-8s %10llu %10llu %11s %11s %11s\n", k, "up", s->host, s->pid,
               uptime(s->uptime_ms, b1, sizeof b1), (unsigned long long)s->inodes,
               (unsigned long long)s->chunk_files, human(s->chunk_bytes, b2, sizeof b2),
               human(s->meta_bytes, b3, sizeof b3), human(s->free_bytes, b4, sizeof b4));
        printf("     requests:");
        int any = 0;
        for (uint32_t op = 1; op < s->ncounters; op++)
            if (s->counters[op]) {
                printf(" %s %llu", proto_op_name(op), (unsigned long long)s->counters[op]);
                any = 1;
            }
        printf("%s\n", any ? "" : " none");
    }
}

static void print_list(uint32_t n, const struct node *nodes)
{
    for (uint32_t k = 0; k < n; k++) {
        const struct node *nd = &nodes[k];
        const char *host = nd->state == ST_UP ? nd->st.host : nd->have_entry ? nd->e.host : "-";
        uint32_t pid = nd->state == ST_UP ? nd->st.pid : nd->have_entry ? nd->e.pid : 0;
        printf("%u %s %s %u\n", k, state_names[nd->state], *host ? host : "-", pid);
    }
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const char *dir, uint32_t n, const struct node *nodes, uint32_t up)
{
    printf("{\"registry\": ");
    json_str(dir);
    printf(", \"nodes\": %u, \"up\": %u, \"servers\": [", n, up);
    for (uint32_t k = 0; k < n; k++) {
        const struct node *nd = &nodes[k];
        printf("%s\n  {\"node\": %u, \"state\": \"%s\"", k ? "," : "", k, state_names[nd->state]);
        if (nd->state != ST_UP) {
            if (nd->have_entry) {
                printf(", \"host\": ");
                json_str(nd->e.host);
                printf(", \"pid\": %u", nd->e.pid);
            }
            printf(", \"error\": ");
            json_str(nd->why);
            printf("}");
            continue;
        }
        const struct bfs_status *s = &nd->st;
        printf(", \"host\": ");
        json_str(s->host);
        printf(", \"pid\": %u, \"uptime_s\": %.3f, \"chunk_size\": %u, \"inodes\": %llu, "
               "\"chunk_files\": %llu, \"chunk_bytes\": %llu, \"meta_bytes\": %llu, "
               "\"free_bytes\": %llu, \"total_bytes\": %llu, \"requests\": {",
               s->pid, (double)s->uptime_ms / 1000, s->chunk_size, (unsigned long long)s->inodes,
               (unsigned long long)s->chunk_files, (unsigned long long)s->chunk_bytes,
               (unsigned long long)s->meta_bytes, (unsigned long long)s->free_bytes,
               (unsigned long long)s->total_bytes);
        for (uint32_t op = 1; op < s->ncounters; op++)
            printf("%s\"%s\": %llu", op > 1 ? ", " : "", proto_op_name(op),
                   (unsigned long long)s->counters[op]);
        printf("}}");
    }
    printf("\n]}\n");
}

int main(int argc, char **argv)
{
    enum { O_REG = 256, O_JSON, O_LIST, O_TIMEOUT, O_HELP, O_VER };
    static const struct option opts[] = {
        { "registry-dir", required_argument, 0, O_REG },
        { "json", no_argument, 0, O_JSON },
        { "list", no_argument, 0, O_LIST },
        { "timeout", required_argument, 0, O_TIMEOUT },
        { "help", no_argument, 0, O_HELP },
        { "version", no_argument, 0, O_VER },
        { 0, 0, 0, 0 },
    };
    const char *dir = NULL;
    int json = 0, c;
    double timeout = 5;
    log_init(PROG);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_REG: dir = optarg; break;
        case O_JSON: json = 1; break;
        case O_LIST: json = 2; break;
        case O_TIMEOUT:
            timeout = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(timeout) || timeout <= 0) {
                fprintf(stderr, PROG ": --timeout wants seconds > 0, not '%s'\n", optarg);
                return 2;
            }
            break;
        case O_HELP: usage(stdout); return 0;
        case O_VER: printf(PROG " %s\n", BENCHFS_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!dir || optind < argc) {
        usage(stderr);
        return 2;
    }
    uint32_t n;
    uint8_t key[BFS_KEY_LEN];
    if (cluster_size(dir, &n) < 0 || registry_key_load(dir, key) < 0)
        return 2;
    struct node *nodes = calloc(n, sizeof *nodes);
    if (!nodes) {
        fprintf(stderr, PROG ": out of memory\n");
        return 2;
    }
    for (uint32_t k = 0; k < n; k++)
        read_node(dir, k, n, &nodes[k]);
    /* A server that does not answer must not make the tool wait for ever. */
    ask(key, n, nodes, timeout);
    uint32_t up = 0;
    for (uint32_t k = 0; k < n; k++)
        up += nodes[k].state == ST_UP;
    if (json == 2)
        print_list(n, nodes);
    else if (json)
        print_json(dir, n, nodes, up);
    else
        print_table(dir, n, nodes, up);
    for (uint32_t k = 0; k < n; k++)
        registry_entry_clear(&nodes[k].e);
    free(nodes);
    return up == n ? 0 : 1;
}
