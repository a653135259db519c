/* test_registry.c - registry files: encoding and header checks, atomic publish,
 * stale/foreign/other-version files, the cluster key, waiting with a timeout. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/registry.h"
#include "../test.h"
#include "../testutil.h"

static char dir[64];

static void fresh_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot clean %s\n", dir);
    snprintf(dir, sizeof dir, "/tmp/benchfs-regtest.XXXXXX");
    if (!mkdtemp(dir))
        abort();
}

static struct registry_entry entry(uint32_t node, uint32_t size)
{
    static uint8_t addr[] = "worker-address-bytes";
    return (struct registry_entry){ .node_id = node, .cluster_size = size, .chunk_size = 1 << 22,
                                    .addr = addr, .addr_len = sizeof addr };
}

static void test_encode_decode(void)
{
    struct registry_entry e = entry(3, 4), d;
    snprintf(e.host, sizeof e.host, "node3");
    e.pid = 1234;
    uint8_t buf[256];
    size_t n = registry_encode(&e, buf, sizeof buf);
    CHECK_EQ(n, REGISTRY_HEADER_LEN + e.addr_len);
    CHECK_EQ(registry_encode(&e, buf, n - 1), 0);            /* too small: nothing */
    REQUIRE(registry_decode(buf, n, &d) == 0);
    CHECK_EQ(d.node_id, 3);
    CHECK_EQ(d.cluster_size, 4);
    CHECK_EQ(d.chunk_size, 1 << 22);
    CHECK_EQ(d.pid, 1234);
    CHECK(strcmp(d.host, "node3") == 0);
    CHECK(d.addr_len == e.addr_len && memcmp(d.addr, e.addr, e.addr_len) == 0);
    registry_entry_clear(&d);
    /* truncated, extended, foreign, other version, inconsistent */
    CHECK_EQ(registry_decode(buf, n - 1, &d), -EBADMSG);
    CHECK_EQ(registry_decode(buf, 10, &d), -EBADMSG);
    uint8_t big[300];
    memcpy(big, buf, n);
    big[n] = 0;
    CHECK_EQ(registry_decode(big, n + 1, &d), -EBADMSG);
    buf[0] = 'X';
    CHECK_EQ(registry_decode(buf, n, &d), -EBADMSG);
    buf[0] = 'B';
    buf[8] = 2;
    CHECK_EQ(registry_decode(buf, n, &d), -EPROTONOSUPPORT);
    buf[8] = 1;
    buf[12] = 9;                                              /* node 9 of 4 */
    CHECK_EQ(registry_decode(buf, n, &d), -EBADMSG);
}

static void test_publish_read_unpublish(void)
{
    fresh_dir();
    char path[256];
    struct registry_entry e = entry(0, 1), d;
    CHECK_EQ(registry_publish(dir, &e), 0);
    registry_path(dir, 0, 1, path, sizeof path);
    CHECK(strstr(path, "/server.addr") != NULL);
    REQUIRE(registry_read(path, &d) == 0);
    CHECK_EQ(d.pid, (uint32_t)getpid());
    registry_entry_clear(&d);
    /* no temporary file is left behind: only server.addr */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ(registry_unpublish(dir, 0, 1), 0);
    CHECK(access(path, F_OK) != 0);
    registry_path(dir, 2, 3, path, sizeof path);
    CHECK(strstr(path, "/node-2.addr") != NULL);
}

static void test_stale_and_foreign(void)
{
    fresh_dir();
    char path[256];
    struct registry_entry e = entry(0, 1), d;
    registry_path(dir, 0, 1, path, sizeof path);
    /* a file from a process that is gone: publish from a child that exits */
    pid_t pid = fork();
    if (pid == 0)
        _exit(registry_publish(dir, &e) == 0 ? 0 : 1);
    int status;
    waitpid(pid, &status, 0);
    CHECK_EQ(registry_read(path, &d), -ESTALE);
    /* a file that is not ours is left alone */
    CHECK_EQ(registry_unpublish(dir, 0, 1), -ESTALE);
    static const char foreign[] = "hello, I am not a registry file, but long enough to look "
                                  "like one.........................................";
    REQUIRE(tu_write_file(path, foreign, sizeof foreign - 1) == 0);
    CHECK_EQ(registry_read(path, &d), -EBADMSG);
    REQUIRE(tu_write_file(path, "", 0) == 0);
    CHECK_EQ(registry_read(path, &d), -EBADMSG);
}

static void test_key(void)
{
    fresh_dir();
    uint8_t k1[BFS_KEY_LEN], k2[BFS_KEY_LEN], k3[BFS_KEY_LEN];
    CHECK_EQ(registry_key_load(dir, k1), -ENOENT);
    CHECK_EQ(registry_key_init(dir, k1), 0);
    CHECK_EQ(registry_key_init(dir, k2), 0);                  /* the second server reads it */
    CHECK(memcmp(k1, k2, BFS_KEY_LEN) == 0);
    CHECK_EQ(registry_key_load(dir, k3), 0);
    CHECK(memcmp(k1, k3, BFS_KEY_LEN) == 0);
    char path[256];
    snprintf(path, sizeof path, "%s/cluster.key", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    REQUIRE(tu_write_file(path, "not hex at all, definitely not 32\n", 34) == 0);
    CHECK_EQ(registry_key_load(dir, k3), -EBADMSG);
    REQUIRE(tu_write_file(path, "0123456789abcdef0123456789abcde\n", 32) == 0);   /* one digit short */
    CHECK_EQ(registry_key_load(dir, k3), -EBADMSG);
}

static void test_prepare_dir(void)
{
    fresh_dir();
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b/reg", dir);
    CHECK_EQ(registry_prepare_dir(sub), 0);
    struct stat st;
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700);
    char file[128];
    snprintf(file, sizeof file, "%s/file", dir);
    REQUIRE(tu_write_file(file, "x", 1) == 0);
    CHECK_EQ(registry_prepare_dir(file), -ENOTDIR);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *publish_later(void *arg)
{
    (void)arg;
    usleep(300000);
    struct registry_entry e1 = entry(1, 2);
    registry_publish(dir, &e1);
    return NULL;
}

static void test_wait(void)
{
    fresh_dir();
    struct registry_entry *all;
    uint32_t n;
    double t = now();
    CHECK_EQ(registry_wait(dir, 0.5, &all, &n), -ETIMEDOUT);      /* nobody: times out */
    double took = now() - t;
    CHECK(took >= 0.45 && took < 3);
    /* node 0 of 2 now, node 1 later: the wait returns both */
    struct registry_entry e0 = entry(0, 2);
    REQUIRE(registry_publish(dir, &e0) == 0);
    pthread_t th;
    pthread_create(&th, NULL, publish_later, NULL);
    REQUIRE(registry_wait(dir, 10, &all, &n) == 0);
    pthread_join(th, NULL);
    CHECK_EQ(n, 2);
    CHECK_EQ(all[0].node_id, 0);
    CHECK_EQ(all[1].node_id, 1);
    registry_entries_free(all, n);
    /* a node file that disagrees about the cluster is refused */
    struct registry_entry bad = entry(1, 2);
    bad.chunk_size = 12345;
    REQUIRE(registry_publish(dir, &bad) == 0);
    CHECK_EQ(registry_wait(dir, 1, &all, &n), -EBADMSG);
}

int main(void)
{
    RUN(test_encode_decode);
    RUN(test_publish_read_unpublish);
    RUN(test_stale_and_foreign);
    RUN(test_key);
    RUN(test_prepare_dir);
    RUN(test_wait);
    fresh_dir();
    rmdir(dir);
    return test_summary();
}
