/* test_where.c - benchfs-stage's finding of the BenchFS mount (and so the
 * registry) that holds a path, from mountinfo text; canonical paths. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/stage/where.h"
#include "../test.h"

static const char info[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 0:40 / /mnt/b rw,nosuid,nodev,relatime shared:20 - fuse.benchfs benchfs:/shared/reg rw,user_id=0\n"
    "41 40 0:41 / /mnt/b/inner rw,relatime shared:21 - fuse.benchfs benchfs:/other/reg rw\n"
    "42 22 0:42 / /mnt/with\\040space rw - fuse.benchfs benchfs:/reg\\040x rw\n"
    "43 22 0:43 / /mnt/sshfs rw - fuse.sshfs host:/x rw\n"
    "44 22 0:44 / /mnt/renamed rw - fuse.benchfs custom rw\n"
    "45 22 0:45 / /mnt/bb rw - fuse.benchfs benchfs:/bb rw\n";

static void test_deepest_mount_wins(void)
{
    struct where w;
    CHECK_EQ(where_parse(info, "/mnt/b/x/y", &w), 0);
    CHECK(strcmp(w.mnt, "/mnt/b") == 0);
    CHECK(strcmp(w.registry, "/shared/reg") == 0);
    CHECK(strcmp(w.inner, "/x/y") == 0);
    CHECK_EQ(where_parse(info, "/mnt/b/inner/z", &w), 0);
    CHECK(strcmp(w.registry, "/other/reg") == 0);
    CHECK(strcmp(w.inner, "/z") == 0);
    CHECK_EQ(where_parse(info, "/mnt/b", &w), 0);
    CHECK(strcmp(w.inner, "/") == 0);
}

static void test_prefix_is_not_a_parent(void)
{
    struct where w;
    /* /mnt/bb is its own mount, not /mnt/b's "b" directory. */
    CHECK_EQ(where_parse(info, "/mnt/bb/f", &w), 0);
    CHECK(strcmp(w.registry, "/bb") == 0);
    CHECK_EQ(where_parse(info, "/mnt/bx", &w), -ENOENT);
}

static void test_escapes_and_others(void)
{
    struct where w;
    CHECK_EQ(where_parse(info, "/mnt/with space/d", &w), 0);
    CHECK(strcmp(w.registry, "/reg x") == 0);
    CHECK(strcmp(w.inner, "/d") == 0);
    CHECK_EQ(where_parse(info, "/mnt/sshfs/a", &w), -ENOENT);     /* not ours */
    CHECK_EQ(where_parse(info, "/home/u", &w), -ENOENT);
    CHECK_EQ(where_parse(info, "/mnt/renamed/a", &w), -EINVAL);   /* -o fsname=custom */
    CHECK_EQ(where_parse("garbage\n\n- -\n", "/x", &w), -ENOENT);
    CHECK_EQ(where_parse("", "/x", &w), -ENOENT);
}

static void test_canonical(void)
{
    char out[4096], dir[] = "/tmp/benchfs-where.XXXXXX";
    REQUIRE(mkdtemp(dir));
    char sub[4200];
    snprintf(sub, sizeof sub, "%s//./", dir);
    CHECK_EQ(where_canonical(sub, out, sizeof out), 0);
    CHECK(strcmp(out, dir) == 0);
    snprintf(sub, sizeof sub, "%s/not/yet//there/", dir);
    CHECK_EQ(where_canonical(sub, out, sizeof out), 0);
    char want[4200];
    snprintf(want, sizeof want, "%s/not/yet/there", dir);
    CHECK(strcmp(out, want) == 0);
    snprintf(sub, sizeof sub, "%s/missing/../x", dir);
    CHECK_EQ(where_canonical(sub, out, sizeof out), -EINVAL);
    CHECK_EQ(where_canonical("/", out, sizeof out), 0);
    CHECK(strcmp(out, "/") == 0);
    CHECK_EQ(where_canonical("/no-such-dir-here/a", out, sizeof out), 0);
    CHECK(strcmp(out, "/no-such-dir-here/a") == 0);
    CHECK_EQ(where_canonical(sub, out, 8), -ENAMETOOLONG);
    rmdir(dir);
}

int main(void)
{
    RUN(test_deepest_mount_wins);
    RUN(test_prefix_is_not_a_parent);
    RUN(test_escapes_and_others);
    RUN(test_canonical);
    return test_summary();
}
