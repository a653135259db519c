/* test_nodetab.c - the node table (common/nodetab.h) and libbenchfs's cache
 * over it (lib/cache.c): the header a reader checks, counters and marks, and
 * which cached entries a change on the node makes unusable (and which not). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/nodetab.h"
#include "../../lib/lib_int.h"
#include "../test.h"

static void *fresh(double timeout, struct nodetab *t)
{
    void *p = aligned_alloc(64, nodetab_bytes());
    if (!p)
        return NULL;
    nodetab_format(p, timeout);
    if (nodetab_attach(p, nodetab_bytes(), t) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void test_header_is_checked(void)
{
    struct nodetab t;
    void *p = fresh(1.5, &t);
    REQUIRE(p);
    CHECK(t.attr_timeout_s > 1.49 && t.attr_timeout_s < 1.51);
    CHECK_EQ(nodetab_attach(p, nodetab_bytes() - 64, &t), -EINVAL);   /* the file's size disagrees */
    struct nodetab_header *h = p;
    h->version++;
    CHECK_EQ(nodetab_attach(p, nodetab_bytes(), &t), -EPROTO);
    h->version--;
    h->counts_off += 64;   /* the counters would run past the end */
    CHECK_EQ(nodetab_attach(p, nodetab_bytes(), &t), -EINVAL);
    h->counts_off -= 64;
    h->magic ^= 1;
    CHECK_EQ(nodetab_attach(p, nodetab_bytes(), &t), -EPROTO);
    CHECK(t.base == NULL);
    h->magic ^= 1;
    CHECK_EQ(nodetab_attach(p, nodetab_bytes(), &t), 0);
    /* An older daemon's file (a bare bitmap, 128 KiB): not a table. */
    void *old = calloc(1, 128 * 1024);
    REQUIRE(old);
    CHECK_EQ(nodetab_attach(old, 128 * 1024, &t), -EPROTO);
    free(old);
    free(p);
}

static void test_counters_and_marks(void)
{
    struct nodetab t;
    void *p = fresh(1, &t);
    REQUIRE(p);
    uint64_t k = nodetab_entry_key(7, "a");
    CHECK(k != nodetab_entry_key(7, "b") && k != nodetab_entry_key(8, "a"));
    CHECK(nodetab_dir_key(7) != nodetab_ino_key(7));
    uint64_t g = nodetab_gen(&t), c = nodetab_count(&t, k);
    nodetab_bump(&t, k);
    CHECK_EQ(nodetab_count(&t, k), c + 1);
    CHECK(nodetab_gen(&t) > g);
    /* An own bump is own only if nothing came between. */
    CHECK_EQ(nodetab_bump_own(&t, k, c + 1), 1);
    CHECK_EQ(nodetab_count(&t, k), c + 2);
    CHECK_EQ(nodetab_bump_own(&t, k, c + 1), 0);   /* someone else's came first */
    CHECK_EQ(nodetab_count(&t, k), c + 3);         /* still counted */
    CHECK(!nodetab_marked(&t, 42));
    nodetab_mark(&t, 42);
    CHECK(nodetab_marked(&t, 42));
    free(p);
}

static struct bfs_attr attr_of(uint64_t ino, uint32_t mode)
{
    struct bfs_attr a;
    memset(&a, 0, sizeof a);
    a.ino = ino;
    a.mode = mode;
    return a;
}

static void test_cache_follows_the_counters(void)
{
    struct nodetab t;
    void *p = fresh(1, &t);
    REQUIRE(p);
    struct lib_cache k;
    REQUIRE(cache_init(&k, 60) == 0);   /* a long timeout: only the counters end entries */
    cache_share(&k, &t);
    uint64_t ino, dir = 10, file = 11;
    struct bfs_attr a, d = attr_of(dir, S_IFDIR | 0755), f = attr_of(file, S_IFREG | 0644);
    struct cache_stamp st;
    cache_put_entry(&k, dir, "f", file, cache_entry_stamp(&k, dir, "f"));
    cache_put_entry(&k, dir, "g", 12, cache_entry_stamp(&k, dir, "g"));
    cache_attr_stamp(&k, dir, &st);
    cache_put_attr(&k, &d, &st);
    cache_attr_stamp(&k, file, &st);
    cache_put_attr(&k, &f, &st);
    CHECK(cache_get_entry(&k, dir, "f", &ino) && ino == file);
    CHECK(cache_get_attr(&k, file, 1, &a) && a.mode == f.mode);

    /* Another process makes an entry in dir: that name and dir's times go;
     * dir's permission fields and its other names stay. */
    struct nodetab other = t;
    nodetab_bump(&other, nodetab_entry_key(dir, "h"));
    nodetab_bump(&other, nodetab_dir_key(dir));
    CHECK(cache_get_attr(&k, dir, 0, &a));
    CHECK(!cache_get_attr(&k, dir, 1, &a));
    CHECK(cache_get_entry(&k, dir, "f", &ino));
    /* ... renames f away: f's entry goes, g's stays. */
    nodetab_bump(&other, nodetab_entry_key(dir, "f"));
    CHECK(!cache_get_entry(&k, dir, "f", &ino));
    CHECK(cache_get_entry(&k, dir, "g", &ino) && ino == 12);
    /* ... chmods the file: its attributes go. */
    nodetab_bump(&other, nodetab_ino_key(file));
    CHECK(!cache_get_attr(&k, file, 0, &a));

    /* A stamp read before a change that lands before the answer is cached
     * makes the answer unusable (it may be older than the change). */
    cache_attr_stamp(&k, file, &st);
    nodetab_bump(&other, nodetab_ino_key(file));
    cache_put_attr(&k, &f, &st);
    CHECK(!cache_get_attr(&k, file, 0, &a));
    /* A lookup's answer (no stamp before) is cached only if the node was quiet. */
    uint64_t g = cache_gen(&k);
    cache_put_attr_since(&k, &f, g);
    CHECK(cache_get_attr(&k, file, 1, &a));
    g = cache_gen(&k);
    nodetab_bump(&other, nodetab_ino_key(99));   /* any change, anywhere */
    cache_drop_attr(&k, file);
    cache_put_attr_since(&k, &f, g);
    CHECK(!cache_get_attr(&k, file, 1, &a));

    /* This client's own create: its entry stays cached when no other change
     * of that name came between, and not when one did. */
    uint64_t s = cache_entry_stamp(&k, dir, "n");
    CHECK_EQ(cache_entry_changed_own(&k, dir, "n", &s), 1);
    cache_put_entry(&k, dir, "n", 20, s);
    CHECK(cache_get_entry(&k, dir, "n", &ino) && ino == 20);
    s = cache_entry_stamp(&k, dir, "o");
    nodetab_bump(&other, nodetab_entry_key(dir, "o"));
    CHECK_EQ(cache_entry_changed_own(&k, dir, "o", &s), 0);
    cache_put_entry(&k, dir, "o", 21, s);
    CHECK(!cache_get_entry(&k, dir, "o", &ino));
    cache_fini(&k);
    free(p);
}

static void test_cache_without_table(void)
{
    struct lib_cache k;
    REQUIRE(cache_init(&k, 60) == 0);
    uint64_t ino, s = cache_entry_stamp(&k, 1, "x");
    CHECK_EQ(s, 0);
    CHECK_EQ(cache_entry_changed_own(&k, 1, "x", &s), 1);
    cache_put_entry(&k, 1, "x", 5, s);
    CHECK(cache_get_entry(&k, 1, "x", &ino) && ino == 5);   /* the timeout alone decides */
    cache_fini(&k);
}

static int make_file(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    return fd < 0 ? -1 : close(fd);
}

/* A table whose daemon is gone (a reaped child's pid) goes; one whose daemon
 * lives (this process's parent), and a name that only looks like one, stay. */
static void test_sweep_removes_gone_daemons_tables(void)
{
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0)
        _exit(0);
    REQUIRE(waitpid(child, NULL, 0) == child);
    char gone[96], live[96], odd[96];
    snprintf(gone, sizeof gone, "/dev/shm/" NODETAB_PREFIX "%d.tEst01", (int)child);
    snprintf(live, sizeof live, "/dev/shm/" NODETAB_PREFIX "%d.tEst02", (int)getppid());
    snprintf(odd, sizeof odd, "/dev/shm/" NODETAB_PREFIX "%d.tEst03.kept", (int)child);
    REQUIRE(make_file(gone) == 0 && make_file(live) == 0 && make_file(odd) == 0);
    CHECK(nodetab_sweep() >= 1);
    CHECK(access(gone, F_OK) < 0 && errno == ENOENT);
    CHECK_EQ(access(live, F_OK), 0);
    CHECK_EQ(access(odd, F_OK), 0);
    unlink(gone);
    unlink(live);
    unlink(odd);
}

int main(void)
{
    RUN(test_header_is_checked);
    RUN(test_counters_and_marks);
    RUN(test_cache_follows_the_counters);
    RUN(test_cache_without_table);
    RUN(test_sweep_removes_gone_daemons_tables);
    return test_summary();
}
