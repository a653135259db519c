/* main.c - benchfs-fsck: the command line and what it prints (check.h does the
 * checking, load.h the reading and repairing). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "load.h"
#include "../common/log.h"
#include "../common/placement.h"

enum { EXIT_CLEAN = 0, EXIT_PROBLEMS = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: benchfs-fsck [--repair] --data-dir DIR [--data-dir DIR ...]\n"
        "       benchfs-fsck --registry-dir DIR [--timeout SECONDS]\n"
        "Checks every invariant of a BenchFS namespace and names each violation.\n"
        "\n"
        "  --data-dir DIR      a stopped server's data directory (read-only); give the\n"
        "                      directory of every node of the cluster, in any order\n"
        "  --repair            with --data-dir only: fix what can be fixed safely and say\n"
        "                      what was done; the servers must be stopped (refused if a\n"
        "                      server holds a directory's lock)\n"
        "  --registry-dir DIR  check a running cluster through its servers (OP_SCAN):\n"
        "                      checks only, no --repair; a change made while scanning may\n"
        "                      look like a problem, so each is re-checked once\n"
        "  --timeout SECONDS   wait for the servers and each RPC (default 30)\n"
        "  -q, --quiet         print problems and the summary only, not notes\n"
        "  -h, --help          this text\n"
        "\n"
        "Exit status: 0 clean, 1 problems found (also when --repair fixed them),\n"
        "2 usage or I/O error.\n");
}

static void print(const struct fsck_report *r, const struct fsck_report *confirm, int quiet)
{
    for (size_t i = 0; i < r->n_p; i++) {
        const struct fsck_problem *p = &r->p[i];
        if (p->severity == FSCK_NOTE && quiet)
            continue;
        if (confirm && !fsck_report_has(confirm, p))
            continue;
        printf("%s: %s: %s\n", p->severity == FSCK_NOTE ? "note" : "problem", p->kind, p->detail);
    }
}

static void summary(const struct fsck_db *db, size_t problems, const char *when)
{
    printf("benchfs-fsck: %s%zu inodes, %zu entries, %zu chunks checked on %" PRIu32 " nodes: ",
           when, db->n_inodes, db->n_dents, db->n_chunks, db->nodes);
    if (problems)
        printf("%zu problem%s\n", problems, problems == 1 ? "" : "s");
    else
        printf("clean\n");
}

/* A node's data dir left out must not pass for a smaller cluster. Inode numbers
 * name their node: one past the dirs given gives it away; and the entries were
 * placed for the real cluster size, so if more of them sit where placement for
 * a larger cluster puts them, that is the size (a true misplacement is rare). */
static int all_nodes_given(const struct fsck_db *db)
{
    uint32_t max = 0, best = db->nodes;
    for (size_t i = 0; i < db->n_dents; i++) {
        uint32_t a = bfs_ino_node(db->dents[i].ino), b = bfs_ino_node(db->dents[i].parent);
        max = a > max ? a : max;
        max = b > max ? b : max;
    }
    for (size_t i = 0; i < db->n_chunks; i++)
        if (bfs_ino_node(db->chunks[i].ino) > max)
            max = bfs_ino_node(db->chunks[i].ino);
    if (max >= db->nodes) {
        fprintf(stderr, "benchfs-fsck: the stores name inodes of node %" PRIu32 ", but %" PRIu32
                " data dirs were given: give the data dir of every node of the cluster\n", max,
                db->nodes);
        return 0;
    }
    size_t placed[9] = { 0 };
    for (uint32_t k = 0; k < 9 && db->nodes + k <= BFS_MAX_NODES; k++) {
        for (size_t i = 0; i < db->n_dents; i++) {
            const struct fsck_dent *e = &db->dents[i];
            placed[k] += place_dentry(e->parent, e->name, e->len, db->nodes + k) == e->node;
        }
        if (placed[k] > placed[best - db->nodes])
            best = db->nodes + k;
    }
    if (best == db->nodes)
        return 1;
    fprintf(stderr, "benchfs-fsck: %zu of %zu entries are where placement over %" PRIu32 " nodes "
            "puts them, %zu for the %" PRIu32 " data dirs given: give the data dir of every node "
            "of the cluster\n", placed[best - db->nodes], db->n_dents, best, placed[0], db->nodes);
    return 0;
}

/* Loads every store into db and checks it into r: 0, or -errno (said; db freed). */
static int load_check(struct fsck_stores *s, size_t n, struct fsck_db *db, struct fsck_report *r)
{
    int rc;
    fsck_db_init(db, (uint32_t)n, fsck_lmdb_chunk_size(s));
    if ((rc = fsck_lmdb_load(s, db)) < 0 || (rc = fsck_check(db, r)) < 0) {
        fprintf(stderr, "benchfs-fsck: %s\n", strerror(-rc));
        fsck_db_free(db);
        return rc;
    }
    return 0;
}

static int offline(char **dirs, size_t n, int repair, int quiet)
{
    struct fsck_stores *s;
    struct fsck_db db;
    struct fsck_report r;
    int rc = fsck_lmdb_open(dirs, n, repair, &s);
    if (rc < 0)
        return EXIT_USAGE;
    if (load_check(s, n, &db, &r) < 0) {
        fsck_lmdb_close(s);
        return EXIT_USAGE;
    }
    if (!all_nodes_given(&db)) {
        fsck_report_free(&r);
        fsck_db_free(&db);
        fsck_lmdb_close(s);
        return EXIT_USAGE;
    }
    print(&r, NULL, quiet);
    summary(&db, r.problems, "");
    int status = r.problems ? EXIT_PROBLEMS : EXIT_CLEAN;
    for (size_t i = 0; i < r.n_p; i++)
        if (r.p[i].severity == FSCK_PROBLEM && !strcmp(r.p[i].kind, "pending-intent")) {
            printf("note: pending intents are replayed when their servers start: start the "
                   "cluster, stop it, and check again\n");
            break;
        }
    if (repair && r.n_p) {
        size_t done = 0;
        rc = fsck_lmdb_repair(s, &db, &r, stdout, &done);
        printf("benchfs-fsck: %zu repair action%s\n", done, done == 1 ? "" : "s");
        fsck_report_free(&r);
        fsck_db_free(&db);
        if (rc < 0) {
            fsck_lmdb_close(s);
            return EXIT_USAGE;
        }
        /* What is left: a check of the repaired stores. */
        if (load_check(s, n, &db, &r) < 0) {
            fsck_lmdb_close(s);
            return EXIT_USAGE;
        }
        if (r.problems) {
            printf("benchfs-fsck: not repaired:\n");
            print(&r, NULL, 1);
        }
        summary(&db, r.problems, "after repair: ");
    }
    fsck_report_free(&r);
    fsck_db_free(&db);
    fsck_lmdb_close(s);
    return status;
}

static int online(const char *registry, double timeout, int quiet)
{
    struct fsck_conn *c;
    struct fsck_db db, again;
    struct fsck_report r, r2;
    int rc = fsck_rpc_open(registry, timeout, &c);
    if (rc < 0) {
        fprintf(stderr, "benchfs-fsck: cannot reach the cluster in %s: %s\n", registry,
                strerror(-rc));
        return EXIT_USAGE;
    }
    fsck_db_init(&db, fsck_rpc_nodes(c), fsck_rpc_chunk_size(c));
    if ((rc = fsck_rpc_load(c, &db)) < 0 || (rc = fsck_check(&db, &r)) < 0) {
        fprintf(stderr, "benchfs-fsck: %s\n", strerror(-rc));
        fsck_db_free(&db);
        fsck_rpc_close(c);
        return EXIT_USAGE;
    }
    size_t problems = r.problems, gone = 0;
    int rechecked = 0;
    if (problems || r.notes) {
        /* The tables were read page by page while the cluster ran: what a change in
         * between made look wrong is gone at a second look. */
        fsck_db_init(&again, db.nodes, db.chunk_size);
        if ((rc = fsck_rpc_load(c, &again)) < 0 || (rc = fsck_check(&again, &r2)) < 0) {
            fprintf(stderr, "benchfs-fsck: re-check: %s\n", strerror(-rc));
            fsck_db_free(&again);
            fsck_report_free(&r);
            fsck_db_free(&db);
            fsck_rpc_close(c);
            return EXIT_USAGE;
        }
        rechecked = 1;
        for (size_t i = 0; i < r.n_p; i++)
            if (r.p[i].severity == FSCK_PROBLEM && !fsck_report_has(&r2, &r.p[i]))
                gone++;
        problems -= gone;
    }
    print(&r, rechecked ? &r2 : NULL, quiet);
    if (!quiet && gone)
        printf("note: %zu problem%s seen at the first look %s gone at the re-check (changes "
               "while scanning)\n", gone, gone == 1 ? "" : "s", gone == 1 ? "was" : "were");
    if (problems)
        printf("note: the cluster was running: a change made while scanning may cause a false "
               "report (each problem was seen twice)\n");
    summary(&db, problems, "");
    if (rechecked) {
        fsck_report_free(&r2);
        fsck_db_free(&again);
    }
    fsck_report_free(&r);
    fsck_db_free(&db);
    fsck_rpc_close(c);
    return problems ? EXIT_PROBLEMS : EXIT_CLEAN;
}

int main(int argc, char **argv)
{
    enum { O_DATA = 256, O_REG, O_REPAIR, O_TIMEOUT };
    static const struct option opts[] = {
        { "data-dir", required_argument, NULL, O_DATA },
        { "registry-dir", required_argument, NULL, O_REG },
        { "repair", no_argument, NULL, O_REPAIR },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    const char *registry = NULL;
    size_t n = 0;
    int repair = 0, quiet = 0, c;
    double timeout = 30;
    if (!dirs)
        return EXIT_USAGE;
    log_init("benchfs-fsck");
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_DATA: dirs[n++] = optarg; break;
        case O_REG: registry = optarg; break;
        case O_REPAIR: repair = 1; break;
        case O_TIMEOUT:
            timeout = strtod(optarg, &end);
            if (*end || !(timeout > 0 && timeout <= 3600)) {
                fprintf(stderr, "benchfs-fsck: --timeout: want seconds in (0, 3600], got '%s'\n",
                        optarg);
                free(dirs);
                return EXIT_USAGE;
            }
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); free(dirs); return EXIT_CLEAN;
        default: usage(stderr); free(dirs); return EXIT_USAGE;
        }
    }
    int status;
    if (optind < argc || (!n == !registry)) {
        fprintf(stderr, "benchfs-fsck: give either --data-dir (every node's) or --registry-dir\n");
        usage(stderr);
        status = EXIT_USAGE;
    } else if (registry && repair) {
        fprintf(stderr, "benchfs-fsck: --repair works on stopped servers only: stop the cluster "
                "and run with --data-dir for every node\n");
        status = EXIT_USAGE;
    } else if (n > BFS_MAX_NODES) {
        fprintf(stderr, "benchfs-fsck: at most %d data dirs\n", BFS_MAX_NODES);
        status = EXIT_USAGE;
    } else {
        status = registry ? online(registry, timeout, quiet) : offline(dirs, n, repair, quiet);
    }
    free(dirs);
    return status;
}
