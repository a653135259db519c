/* durable_load.c - a write load whose fsync-acknowledged state can be checked
 * after the server is killed (tests/stress/kill_restart.sh).
 *
 *   durable_load REGISTRY LOG write   rewrite files with new versions, fsync each,
 *                                     append "file version" to LOG once acknowledged;
 *                                     stops at the first error (the server was killed)
 *   durable_load REGISTRY LOG check   every file holds its last acknowledged version;
 *                                     the next version's write may have been in flight
 *                                     when the server died, and a write spanning
 *                                     chunks is not atomic across a crash, so each
 *                                     4 KiB block may hold either version
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/client.h"

#define FILES 32
#define SIZE 20000   /* crosses a 16 KiB chunk boundary when the server uses --chunk-size 16K */

static void fill(uint8_t *buf, int file, long version)
{
    for (int i = 0; i < SIZE; i++)
        buf[i] = (uint8_t)((i * 31 + file * 7 + version * 13) ^ (version >> 3));
}

static int do_write(struct bfs_client *c, const char *logpath)
{
    struct bfs_attr d, a;
    long version[FILES] = { 0 };
    uint8_t buf[SIZE];
    char name[32];
    FILE *log = fopen(logpath, "a+");
    if (!log)
        return 1;
    /* continue from the versions acknowledged so far */
    int f;
    long v;
    rewind(log);
    while (fscanf(log, "%d %ld", &f, &v) == 2)
        if (f >= 0 && f < FILES && v > version[f])
            version[f] = v;
    int rc = bfs_lookup(c, BFS_ROOT_INO, "durable", &d);
    if (rc == -ENOENT)
        rc = bfs_create(c, BFS_ROOT_INO, "durable", S_IFDIR | 0755, 0, 0, &d);
    for (long n = 0; rc == 0 || rc == -EEXIST; n++) {
        f = (int)(n % FILES);
        snprintf(name, sizeof name, "f%d", f);
        rc = bfs_lookup(c, d.ino, name, &a);
        if (rc == -ENOENT)
            rc = bfs_create(c, d.ino, name, S_IFREG | 0644, 0, 0, &a);
        if (rc < 0)
            break;
        fill(buf, f, version[f] + 1);
        if ((rc = (int)bfs_write(c, a.ino, buf, SIZE, 0)) != SIZE || (rc = bfs_fsync(c, a.ino, 0)) < 0)
            break;
        version[f]++;
        fprintf(log, "%d %ld\n", f, version[f]);
        fflush(log);
        fsync(fileno(log));
    }
    fclose(log);
    return 0;   /* stopping at an error is the point: the server was killed */
}

static int do_check(struct bfs_client *c, const char *logpath)
{
    long version[FILES] = { 0 }, verified = 0;
    int f, bad = 0;
    long v;
    FILE *log = fopen(logpath, "r");
    if (!log)
        return 1;
    while (fscanf(log, "%d %ld", &f, &v) == 2)
        if (f >= 0 && f < FILES && v > version[f])
            version[f] = v;
    fclose(log);
    struct bfs_attr d, a;
    uint8_t want[SIZE], next[SIZE], got[SIZE];
    char name[32];
    if (bfs_lookup(c, BFS_ROOT_INO, "durable", &d) < 0) {
        for (f = 0; f < FILES; f++)
            if (version[f])
                bad = 1;
        fprintf(stderr, "durable: directory missing\n");
        return bad;
    }
    for (f = 0; f < FILES; f++) {
        if (!version[f])
            continue;
        snprintf(name, sizeof name, "f%d", f);
        fill(want, f, version[f]);
        fill(next, f, version[f] + 1);
        ssize_t n = -1;
        int ok = bfs_lookup(c, d.ino, name, &a) == 0 && a.size == SIZE &&
                 (n = bfs_read(c, a.ino, got, SIZE, 0)) == SIZE;
        for (int off = 0; ok && off < SIZE; off += 4096) {
            int len = SIZE - off < 4096 ? SIZE - off : 4096;
            ok = memcmp(got + off, want + off, (size_t)len) == 0 ||
                 memcmp(got + off, next + off, (size_t)len) == 0;
        }
        if (!ok) {
            fprintf(stderr, "durable: %s version %ld lost or damaged (read %zd)\n", name,
                    version[f], n);
            bad = 1;
        } else {
            verified += SIZE;
        }
    }
    printf("verified %ld bytes of fsynced data\n", verified);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s REGISTRY LOG write|check\n", argv[0]);
        return 2;
    }
    struct bfs_client *c;
    struct bfs_client_opts o = { .registry_dir = argv[1], .registry_timeout_s = 20, .rpc_timeout_s = 3 };
    int rc = bfs_client_open(&o, &c);
    if (rc < 0) {
        fprintf(stderr, "durable_load: cannot connect: %s\n", strerror(-rc));
        return 1;
    }
    rc = strcmp(argv[3], "write") == 0 ? do_write(c, argv[2]) : do_check(c, argv[2]);
    bfs_client_close(c);
    return rc;
}
