/* test_libbenchfs.c - libbenchfs (lib/benchfs.h) against real servers: every
 * call of the API, its errors, permissions as an unprivileged user (a forked
 * child with setfsuid/setfsgid), POSIX ACLs, many threads on one benchfs_t,
 * a small file read with its open's lookup (two clients sharing a node table).
 * Usage: test_libbenchfs REGISTRY_DIR (run as root by tests/system/libbenchfs.sh).
 * Prints PASS:/FAIL: lines; exits 0 when all passed. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/byteorder.h"
#include "../../common/client.h"
#include "../../common/nodetab.h"
#include "../../common/proto.h"
#include "../../common/xattr.h"
#include "../../lib/benchfs.h"

#define NOBODY 65534

static int failures;
static const char *reg;
static benchfs_t *fs;

static void check(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(const char *name, int ok, const char *fmt, ...)
{
    if (ok) {
        printf("PASS: %s\n", name);
    } else {
        va_list ap;
        va_start(ap, fmt);
        printf("FAIL: %s: ", name);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        failures++;
    }
    fflush(stdout);
}

/* rc must be want. */
#define EXPECT(name, rc, want) do { long r_ = (long)(rc); long w_ = (long)(want); \
    check(name, r_ == w_, "got %ld (%s), want %ld (%s)", r_, r_ < 0 ? strerror((int)-r_) : "", \
          w_, w_ < 0 ? strerror((int)-w_) : ""); } while (0)

static int put_file(const char *path, const char *data, mode_t mode)
{
    benchfs_file_t *f;
    int rc = benchfs_open(fs, path, O_CREAT | O_WRONLY | O_TRUNC, mode, &f);
    if (rc < 0)
        return rc;
    ssize_t n = benchfs_pwrite(f, data, strlen(data), 0);
    rc = benchfs_close(f);
    return n < 0 ? (int)n : (size_t)n != strlen(data) ? -EIO : rc;
}

/* Opens path with flags on c and reads up to size-1 bytes at 0 into buf. */
static ssize_t read_on(benchfs_t *c, const char *path, int flags, char *buf, size_t size)
{
    benchfs_file_t *f;
    int rc = benchfs_open(c, path, flags, 0, &f);
    if (rc < 0)
        return rc;
    ssize_t n = benchfs_pread(f, buf, size - 1, 0);
    benchfs_close(f);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static ssize_t get_file(const char *path, char *buf, size_t size)
{
    return read_on(fs, path, O_RDONLY, buf, size);
}

static void test_files(void)
{
    benchfs_file_t *f;
    struct stat st;
    char buf[256];
    EXPECT("mkdir", benchfs_mkdir(fs, "/t", 0755), 0);
    EXPECT("mkdir existing: EEXIST", benchfs_mkdir(fs, "/t", 0755), -EEXIST);
    EXPECT("mkdir of the root: EEXIST", benchfs_mkdir(fs, "/", 0755), -EEXIST);
    EXPECT("mkdir below a missing dir: ENOENT", benchfs_mkdir(fs, "/nope/x", 0755), -ENOENT);
    EXPECT("stat dir", benchfs_stat(fs, "/t", &st), 0);
    check("stat dir: type and mode", S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755,
          "mode %o", st.st_mode);
    EXPECT("open O_CREAT", benchfs_open(fs, "/t/a", O_CREAT | O_RDWR, 0640, &f), 0);
    EXPECT("pwrite", benchfs_pwrite(f, "hello world", 11, 0), 11);
    EXPECT("pwrite at 100 (a hole)", benchfs_pwrite(f, "x", 1, 100), 1);
    EXPECT("pread", benchfs_pread(f, buf, 5, 6), 5);
    check("pread: data", memcmp(buf, "world", 5) == 0, "got %.5s", buf);
    EXPECT("pread short at EOF", benchfs_pread(f, buf, 50, 90), 11);
    check("pread: hole reads zeros", buf[0] == 0 && buf[10] == 'x', "bad hole");
    EXPECT("pread past EOF", benchfs_pread(f, buf, 10, 1000), 0);
    EXPECT("fstat", benchfs_fstat(f, &st), 0);
    check("fstat: size, mode, ino", st.st_size == 101 && (st.st_mode & 0777) == 0640 &&
          S_ISREG(st.st_mode) && st.st_ino == benchfs_file_ino(f), "size %lld mode %o",
          (long long)st.st_size, st.st_mode);
    check("file_flags", (benchfs_file_flags(f) & O_ACCMODE) == O_RDWR, "flags %x", benchfs_file_flags(f));
    EXPECT("fsync", benchfs_fsync(f, 0), 0);
    EXPECT("fdatasync", benchfs_fsync(f, 1), 0);
    EXPECT("pwrite negative offset: EINVAL", benchfs_pwrite(f, "x", 1, -1), -EINVAL);
    EXPECT("close", benchfs_close(f), 0);
    struct stat st2;
    EXPECT("stat file", benchfs_stat(fs, "/t/a", &st2), 0);
    check("stat: st_dev stable, same ino", st2.st_dev == st.st_dev && st2.st_ino == st.st_ino &&
          st2.st_size == 101, "dev %lx/%lx", (long)st2.st_dev, (long)st.st_dev);
    EXPECT("O_EXCL on existing: EEXIST", benchfs_open(fs, "/t/a", O_CREAT | O_EXCL | O_WRONLY, 0600, &f), -EEXIST);
    /* O_CREAT of names a client has not seen: it tries to make them first, and
     * opens what is there instead. */
    benchfs_t *fs2 = NULL;
    EXPECT("a second client", benchfs_connect(reg, NULL, &fs2), 0);
    if (fs2) {
        int opened = benchfs_open(fs2, "/t/a", O_CREAT | O_RDWR, 0600, &f);
        EXPECT("O_CREAT of an existing file, unseen", opened, 0);
        if (opened == 0) {
            EXPECT("... keeps its bytes", benchfs_pread(f, buf, 5, 0), 5);
            check("... and its mode", memcmp(buf, "hello", 5) == 0 && benchfs_fstat(f, &st2) == 0 &&
                  st2.st_size == 101 && (st2.st_mode & 0777) == 0640, "mode %o", st2.st_mode);
            benchfs_close(f);
        }
        EXPECT("O_CREAT of an existing directory, unseen: EISDIR",
               benchfs_open(fs2, "/t", O_CREAT | O_RDWR, 0600, &f), -EISDIR);
        benchfs_disconnect(fs2);
    }
    EXPECT("open missing: ENOENT", benchfs_open(fs, "/t/missing", O_RDONLY, 0, &f), -ENOENT);
    EXPECT("stat missing: ENOENT", benchfs_stat(fs, "/t/missing", &st), -ENOENT);
    EXPECT("file as a directory: ENOTDIR", benchfs_stat(fs, "/t/a/x", &st), -ENOTDIR);
    EXPECT("trailing slash on a file: ENOTDIR", benchfs_stat(fs, "/t/a/", &st), -ENOTDIR);
    EXPECT("O_DIRECTORY on a file: ENOTDIR", benchfs_open(fs, "/t/a", O_RDONLY | O_DIRECTORY, 0, &f), -ENOTDIR);
    EXPECT("open dir for writing: EISDIR", benchfs_open(fs, "/t", O_WRONLY, 0, &f), -EISDIR);
    EXPECT("O_ACCMODE 3: EINVAL", benchfs_open(fs, "/t/a", 3, 0, &f), -EINVAL);
    EXPECT("O_CREAT|O_DIRECTORY: EINVAL", benchfs_open(fs, "/t/cd", O_CREAT | O_DIRECTORY | O_RDONLY, 0700, &f),
           -EINVAL);
    EXPECT("O_TMPFILE: EOPNOTSUPP", benchfs_open(fs, "/t", O_TMPFILE | O_RDWR, 0600, &f), -EOPNOTSUPP);
    EXPECT("O_PATH: EOPNOTSUPP", benchfs_open(fs, "/t/a", O_PATH, 0, &f), -EOPNOTSUPP);
    /* Handles opened for one direction refuse the other. */
    EXPECT("open O_RDONLY", benchfs_open(fs, "/t/a", O_RDONLY, 0, &f), 0);
    EXPECT("pwrite on O_RDONLY: EBADF", benchfs_pwrite(f, "x", 1, 0), -EBADF);
    EXPECT("ftruncate on O_RDONLY: EINVAL", benchfs_ftruncate(f, 0), -EINVAL);
    benchfs_close(f);
    EXPECT("open O_WRONLY", benchfs_open(fs, "/t/a", O_WRONLY, 0, &f), 0);
    EXPECT("pread on O_WRONLY: EBADF", benchfs_pread(f, buf, 1, 0), -EBADF);
    EXPECT("ftruncate", benchfs_ftruncate(f, 5), 0);
    EXPECT("fstat after ftruncate", benchfs_fstat(f, &st), 0);
    check("ftruncate: size", st.st_size == 5, "size %lld", (long long)st.st_size);
    benchfs_close(f);
    /* O_TRUNC */
    EXPECT("put_file", put_file("/t/tr", "0123456789", 0644), 0);
    EXPECT("open O_TRUNC", benchfs_open(fs, "/t/tr", O_WRONLY | O_TRUNC, 0, &f), 0);
    EXPECT("fstat after O_TRUNC", benchfs_fstat(f, &st), 0);
    check("O_TRUNC: size 0", st.st_size == 0, "size %lld", (long long)st.st_size);
    benchfs_close(f);
    EXPECT("truncate by path", benchfs_truncate(fs, "/t/tr", 3000), 0);
    EXPECT("stat after truncate", benchfs_stat(fs, "/t/tr", &st), 0);
    check("truncate: size", st.st_size == 3000, "size %lld", (long long)st.st_size);
    EXPECT("truncate a dir: EISDIR", benchfs_truncate(fs, "/t", 0), -EISDIR);
    EXPECT("truncate negative: EINVAL", benchfs_truncate(fs, "/t/tr", -1), -EINVAL);
    /* O_SYNC writes */
    EXPECT("open O_SYNC", benchfs_open(fs, "/t/sync", O_CREAT | O_WRONLY | O_SYNC, 0600, &f), 0);
    EXPECT("O_SYNC pwrite", benchfs_pwrite(f, "durable", 7, 0), 7);
    benchfs_close(f);
    EXPECT("read back O_SYNC file", get_file("/t/sync", buf, sizeof buf), 7);
    /* Names */
    char longname[300];
    memset(longname, 'n', 256);
    longname[0] = '/';
    longname[257] = '\0';
    memset(longname + 1, 'n', 256);
    EXPECT("name of 256 bytes: ENAMETOOLONG", benchfs_stat(fs, longname, &st), -ENAMETOOLONG);
    EXPECT("create name of 256 bytes: ENAMETOOLONG", benchfs_open(fs, longname, O_CREAT | O_WRONLY, 0600, &f),
           -ENAMETOOLONG);
    longname[256] = '\0';   /* 255 bytes: fine */
    EXPECT("name of 255 bytes", benchfs_mkdir(fs, longname, 0700), 0);
    EXPECT("rmdir it", benchfs_rmdir(fs, longname), 0);
    char *huge = malloc(5000);
    for (int i = 0; i < 4999; i++)
        huge[i] = i % 2 ? 'a' : '/';
    huge[4999] = '\0';
    EXPECT("path of PATH_MAX: ENAMETOOLONG", benchfs_stat(fs, huge, &st), -ENAMETOOLONG);
    free(huge);
    EXPECT("empty path: ENOENT", benchfs_stat(fs, "", &st), -ENOENT);
    EXPECT("dots and slashes", benchfs_stat(fs, "//t/./../t//a", &st), 0);
    EXPECT("dot-dot of the root is the root", benchfs_stat(fs, "/../../t/a", &st), 0);
    EXPECT("stat /", benchfs_stat(fs, "/", &st), 0);
    check("root is inode 1", st.st_ino == 1 && S_ISDIR(st.st_mode), "ino %lu", (unsigned long)st.st_ino);
}

static void test_links(void)
{
    struct stat st, lst;
    char buf[64];
    benchfs_file_t *f;
    EXPECT("symlink", benchfs_symlink(fs, "a", "/t/la"), 0);
    EXPECT("symlink exists: EEXIST", benchfs_symlink(fs, "a", "/t/la"), -EEXIST);
    EXPECT("symlink empty target: ENOENT", benchfs_symlink(fs, "", "/t/le"), -ENOENT);
    EXPECT("stat through symlink", benchfs_stat(fs, "/t/la", &st), 0);
    EXPECT("lstat symlink", benchfs_lstat(fs, "/t/la", &lst), 0);
    check("stat follows, lstat does not", S_ISREG(st.st_mode) && S_ISLNK(lst.st_mode) && lst.st_size == 1,
          "modes %o %o", st.st_mode, lst.st_mode);
    EXPECT("readlink", benchfs_readlink(fs, "/t/la", buf, sizeof buf), 1);
    EXPECT("readlink short buffer", benchfs_readlink(fs, "/t/la", buf, 1), 1);
    EXPECT("readlink of a file: EINVAL", benchfs_readlink(fs, "/t/a", buf, sizeof buf), -EINVAL);
    EXPECT("symlink to a dir path", benchfs_symlink(fs, "../t/./", "/t/ld"), 0);
    EXPECT("walk through a dir symlink", benchfs_stat(fs, "/t/ld/ld/ld/a", &st), 0);
    EXPECT("symlink loop 1", benchfs_symlink(fs, "loop2", "/t/loop1"), 0);
    EXPECT("symlink loop 2", benchfs_symlink(fs, "loop1", "/t/loop2"), 0);
    EXPECT("loop: ELOOP", benchfs_stat(fs, "/t/loop1", &st), -ELOOP);
    EXPECT("O_NOFOLLOW on a symlink: ELOOP", benchfs_open(fs, "/t/la", O_RDONLY | O_NOFOLLOW, 0, &f), -ELOOP);
    EXPECT("absolute symlink", benchfs_symlink(fs, "/etc/passwd", "/t/abs"), 0);
    EXPECT("absolute symlink followed: EXDEV", benchfs_stat(fs, "/t/abs", &st), -EXDEV);
    EXPECT("absolute symlink open: EXDEV", benchfs_open(fs, "/t/abs", O_RDONLY, 0, &f), -EXDEV);
    EXPECT("absolute symlink lstat", benchfs_lstat(fs, "/t/abs", &st), 0);
    EXPECT("chmod of a symlink itself: EOPNOTSUPP", benchfs_chmod(fs, "/t/la", 0600, AT_SYMLINK_NOFOLLOW),
           -EOPNOTSUPP);
    EXPECT("dangling symlink", benchfs_symlink(fs, "nothere", "/t/dang"), 0);
    EXPECT("O_CREAT through a dangling symlink", benchfs_open(fs, "/t/dang", O_CREAT | O_WRONLY, 0600, &f), 0);
    benchfs_close(f);
    EXPECT("it made the target", benchfs_stat(fs, "/t/nothere", &st), 0);
    EXPECT("O_CREAT|O_EXCL on a symlink: EEXIST", benchfs_open(fs, "/t/la", O_CREAT | O_EXCL | O_WRONLY, 0600, &f),
           -EEXIST);
    /* 40 links are followed, the 41st is too many. */
    char name[32], target[32];
    EXPECT("chain base", put_file("/t/c0", "end", 0644), 0);
    for (int i = 1; i <= 41; i++) {
        snprintf(name, sizeof name, "/t/c%d", i);
        snprintf(target, sizeof target, "c%d", i - 1);
        if (benchfs_symlink(fs, target, name) < 0)
            break;
    }
    EXPECT("40 symlinks followed", benchfs_stat(fs, "/t/c40", &st), 0);
    EXPECT("41 symlinks: ELOOP", benchfs_stat(fs, "/t/c41", &st), -ELOOP);
    /* Hard links and counts */
    EXPECT("link", benchfs_link(fs, "/t/a", "/t/a2"), 0);
    EXPECT("stat after link", benchfs_stat(fs, "/t/a", &st), 0);
    check("nlink 2", st.st_nlink == 2, "nlink %lu", (unsigned long)st.st_nlink);
    EXPECT("link existing: EEXIST", benchfs_link(fs, "/t/a", "/t/a2"), -EEXIST);
    EXPECT("link a dir: EPERM", benchfs_link(fs, "/t", "/t/tl"), -EPERM);
    EXPECT("link missing: ENOENT", benchfs_link(fs, "/t/missing", "/t/m2"), -ENOENT);
    EXPECT("unlink a link", benchfs_unlink(fs, "/t/a2"), 0);
    EXPECT("stat after unlink of link", benchfs_stat(fs, "/t/a", &st), 0);
    check("nlink 1", st.st_nlink == 1, "nlink %lu", (unsigned long)st.st_nlink);
    EXPECT("unlink missing: ENOENT", benchfs_unlink(fs, "/t/a2"), -ENOENT);
    EXPECT("unlink a dir: EISDIR", benchfs_unlink(fs, "/t"), -EISDIR);
    EXPECT("rmdir a file: ENOTDIR", benchfs_rmdir(fs, "/t/a"), -ENOTDIR);
    EXPECT("rmdir non-empty: ENOTEMPTY", benchfs_rmdir(fs, "/t"), -ENOTEMPTY);
    EXPECT("rmdir /: EBUSY", benchfs_rmdir(fs, "/"), -EBUSY);
    EXPECT("rmdir x/.: EINVAL", benchfs_rmdir(fs, "/t/."), -EINVAL);
    EXPECT("unlink a symlink (not its target)", benchfs_unlink(fs, "/t/la"), 0);
    EXPECT("target still there", benchfs_stat(fs, "/t/a", &st), 0);
}

static void test_rename(void)
{
    struct stat st;
    char buf[64];
    EXPECT("rename setup 1", put_file("/t/r1", "one", 0644), 0);
    EXPECT("rename setup 2", put_file("/t/r2", "two", 0644), 0);
    EXPECT("rename NOREPLACE onto existing: EEXIST", benchfs_rename(fs, "/t/r1", "/t/r2", RENAME_NOREPLACE), -EEXIST);
    EXPECT("rename EXCHANGE: EOPNOTSUPP", benchfs_rename(fs, "/t/r1", "/t/r2", RENAME_EXCHANGE), -EOPNOTSUPP);
    EXPECT("rename flags 0x100: EINVAL", benchfs_rename(fs, "/t/r1", "/t/r2", 0x100), -EINVAL);
    EXPECT("rename replaces", benchfs_rename(fs, "/t/r1", "/t/r2", 0), 0);
    EXPECT("old name gone", benchfs_stat(fs, "/t/r1", &st), -ENOENT);
    EXPECT("new name has the data", get_file("/t/r2", buf, sizeof buf), 3);
    check("rename: data", strcmp(buf, "one") == 0, "got %s", buf);
    EXPECT("rename NOREPLACE to a new name", benchfs_rename(fs, "/t/r2", "/t/r3", RENAME_NOREPLACE), 0);
    EXPECT("mkdir for rename", benchfs_mkdir(fs, "/t/rd", 0755), 0);
    EXPECT("mkdir for rename 2", benchfs_mkdir(fs, "/t/rd/sub", 0755), 0);
    EXPECT("dir below itself: EINVAL", benchfs_rename(fs, "/t/rd", "/t/rd/sub/x", 0), -EINVAL);
    EXPECT("file over a dir: EISDIR", benchfs_rename(fs, "/t/r3", "/t/rd", 0), -EISDIR);
    EXPECT("dir over a file: ENOTDIR", benchfs_rename(fs, "/t/rd", "/t/r3", 0), -ENOTDIR);
    EXPECT("rename missing: ENOENT", benchfs_rename(fs, "/t/nothing", "/t/x", 0), -ENOENT);
    EXPECT("dir over a non-empty dir: ENOTEMPTY", benchfs_rename(fs, "/t/rd/sub", "/t", 0), -ENOTEMPTY);
    EXPECT("mkdir for rename 3", benchfs_mkdir(fs, "/t/rd2", 0755), 0);
    EXPECT("mkdir for rename 4", benchfs_mkdir(fs, "/t/rd2/x", 0755), 0);
    EXPECT("dir onto a non-empty dir: ENOTEMPTY", benchfs_rename(fs, "/t/rd", "/t/rd2", 0), -ENOTEMPTY);
    EXPECT("dir moves to another parent", benchfs_rename(fs, "/t/rd/sub", "/t/rd2/sub", 0), 0);
    EXPECT("moved dir found", benchfs_stat(fs, "/t/rd2/sub", &st), 0);
    EXPECT("moved dir's .. is its new parent", benchfs_stat(fs, "/t/rd2/sub/../x", &st), 0);
}

static int64_t ts_ns(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec; }

static void test_attrs(void)
{
    struct stat st, st2;
    benchfs_file_t *f;
    EXPECT("chmod", benchfs_chmod(fs, "/t/a", 04751, 0), 0);
    EXPECT("stat after chmod", benchfs_stat(fs, "/t/a", &st), 0);
    check("chmod: mode", (st.st_mode & 07777) == 04751, "mode %o", st.st_mode);
    EXPECT("chmod flags bad: EINVAL", benchfs_chmod(fs, "/t/a", 0644, 0x4000), -EINVAL);
    EXPECT("chown", benchfs_chown(fs, "/t/a", 1234, 5678, 0), 0);
    EXPECT("stat after chown", benchfs_stat(fs, "/t/a", &st), 0);
    check("chown: ids and setuid dropped", st.st_uid == 1234 && st.st_gid == 5678 && !(st.st_mode & S_ISUID),
          "uid %u gid %u mode %o", st.st_uid, st.st_gid, st.st_mode);
    EXPECT("chown -1 -1", benchfs_chown(fs, "/t/a", (uid_t)-1, (gid_t)-1, 0), 0);
    EXPECT("chown back", benchfs_chown(fs, "/t/a", 0, 0, 0), 0);
    struct timespec t[2] = { { 1000, 5 }, { 2000, 7 } };
    EXPECT("utimens", benchfs_utimens(fs, "/t/a", t, 0), 0);
    EXPECT("stat after utimens", benchfs_stat(fs, "/t/a", &st), 0);
    check("utimens: times", st.st_atim.tv_sec == 1000 && st.st_atim.tv_nsec == 5 &&
          st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 7, "atime %ld mtime %ld",
          (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    struct timespec omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
    EXPECT("utimens OMIT/NOW", benchfs_utimens(fs, "/t/a", omit, 0), 0);
    EXPECT("stat after utimens now", benchfs_stat(fs, "/t/a", &st), 0);
    check("utimens: atime kept, mtime now", st.st_atim.tv_sec == 1000 && st.st_mtim.tv_sec > 1000000000,
          "atime %ld mtime %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    struct timespec bad[2] = { { 0, 2000000000 }, { 0, 0 } };
    EXPECT("utimens bad nsec: EINVAL", benchfs_utimens(fs, "/t/a", bad, 0), -EINVAL);
    /* A write moves mtime; a create moves its parent's mtime (the cache is dropped). */
    EXPECT("utimens old", benchfs_utimens(fs, "/t/a", t, 0), 0);
    EXPECT("open for write", benchfs_open(fs, "/t/a", O_WRONLY, 0, &f), 0);
    EXPECT("futimens", benchfs_futimens(f, t), 0);
    EXPECT("pwrite moves mtime", benchfs_pwrite(f, "z", 1, 0), 1);
    EXPECT("fstat after write", benchfs_fstat(f, &st), 0);
    check("mtime after write", st.st_mtim.tv_sec > 2000, "mtime %ld", (long)st.st_mtim.tv_sec);
    EXPECT("fchmod", benchfs_fchmod(f, 0600), 0);
    EXPECT("fchown", benchfs_fchown(f, 42, (gid_t)-1), 0);
    EXPECT("fstat after fchmod/fchown", benchfs_fstat(f, &st), 0);
    check("fchmod/fchown", (st.st_mode & 07777) == 0600 && st.st_uid == 42, "mode %o uid %u",
          st.st_mode, st.st_uid);
    benchfs_close(f);
    EXPECT("stat parent", benchfs_stat(fs, "/t", &st), 0);
    struct timespec slp = { 0, 20 * 1000 * 1000 };
    nanosleep(&slp, NULL);
    EXPECT("create in parent", put_file("/t/newer", "n", 0644), 0);
    EXPECT("stat parent again", benchfs_stat(fs, "/t", &st2), 0);
    check("parent's mtime moved with the create", ts_ns(&st2.st_mtim) > ts_ns(&st.st_mtim),
          "%lld then %lld", (long long)ts_ns(&st.st_mtim), (long long)ts_ns(&st2.st_mtim));
    /* atime on open for reading (relatime): an atime older than mtime moves. */
    struct timespec old[2] = { { 1000, 0 }, { 0, UTIME_OMIT } };
    EXPECT("old atime", benchfs_utimens(fs, "/t/newer", old, 0), 0);
    char buf[8];
    EXPECT("read it", get_file("/t/newer", buf, sizeof buf), 1);
    EXPECT("stat after read", benchfs_stat(fs, "/t/newer", &st), 0);
    check("relatime: atime moved on open for reading", st.st_atim.tv_sec > 1000000000, "atime %ld",
          (long)st.st_atim.tv_sec);
    /* The first read records the access with its piece to the owner, or beside
     * pieces that are other servers' (chunks 1..3 of a sparse file: on three
     * servers some are not the owner's). An open alone does not (as Linux). */
    benchfs_file_t *sf;
    EXPECT("sparse file", benchfs_open(fs, "/t/sparse", O_CREAT | O_WRONLY, 0644, &sf), 0);
    for (int k = 1; k <= 3; k++)
        EXPECT("write a byte in chunk k", benchfs_pwrite(sf, "s", 1, (off_t)k << 22), 1);
    benchfs_close(sf);
    for (int k = 0; k <= 3; k++) {
        EXPECT("old atime again", benchfs_utimens(fs, "/t/sparse", old, 0), 0);
        EXPECT("open for reading", benchfs_open(fs, "/t/sparse", O_RDONLY, 0, &sf), 0);
        if (k == 0) {
            EXPECT("stat after open", benchfs_stat(fs, "/t/sparse", &st), 0);
            check("relatime: an open without a read keeps atime", st.st_atim.tv_sec == 1000, "atime %ld",
                  (long)st.st_atim.tv_sec);
        } else {
            EXPECT("read a byte of chunk k", benchfs_pread(sf, buf, 1, (off_t)k << 22), 1);
            EXPECT("stat after read", benchfs_stat(fs, "/t/sparse", &st), 0);
            check("relatime: the first read of chunk k moved atime", st.st_atim.tv_sec > 1000000000,
                  "chunk %d: atime %ld", k, (long)st.st_atim.tv_sec);
        }
        benchfs_close(sf);
    }
    EXPECT("unlink sparse", benchfs_unlink(fs, "/t/sparse"), 0);
    EXPECT("access F_OK", benchfs_access(fs, "/t/a", F_OK, 0), 0);
    EXPECT("access missing", benchfs_access(fs, "/t/zz", F_OK, 0), -ENOENT);
    EXPECT("access X_OK as root on a 0600 file: EACCES", benchfs_access(fs, "/t/a", X_OK, AT_EACCESS), -EACCES);
    EXPECT("access R_OK|W_OK as root", benchfs_access(fs, "/t/a", R_OK | W_OK, 0), 0);
    EXPECT("access bad mode: EINVAL", benchfs_access(fs, "/t/a", 0100, 0), -EINVAL);
    struct statvfs sv;
    EXPECT("statvfs", benchfs_statvfs(fs, "/t", &sv), 0);
    check("statvfs: namemax, blocks", sv.f_namemax == 255 && sv.f_blocks > 0, "namemax %lu", sv.f_namemax);
    EXPECT("statvfs missing: ENOENT", benchfs_statvfs(fs, "/t/zz", &sv), -ENOENT);
}

/* ---- unlink while open ---- */
static void test_unlink_open(void)
{
    benchfs_file_t *f, *g;
    char buf[16];
    struct stat st;
    EXPECT("open for unlink", benchfs_open(fs, "/t/u", O_CREAT | O_RDWR, 0600, &f), 0);
    EXPECT("write before unlink", benchfs_pwrite(f, "still here", 10, 0), 10);
    EXPECT("second handle", benchfs_open(fs, "/t/u", O_RDONLY, 0, &g), 0);
    EXPECT("unlink while open", benchfs_unlink(fs, "/t/u"), 0);
    EXPECT("name is gone", benchfs_stat(fs, "/t/u", &st), -ENOENT);
    EXPECT("read after unlink", benchfs_pread(f, buf, 10, 0), 10);
    check("data after unlink", memcmp(buf, "still here", 10) == 0, "got %.10s", buf);
    EXPECT("fstat after unlink", benchfs_fstat(f, &st), 0);
    check("nlink 0", st.st_nlink == 0, "nlink %lu", (unsigned long)st.st_nlink);
    EXPECT("close one", benchfs_close(f), 0);
    EXPECT("read on the other handle", benchfs_pread(g, buf, 5, 0), 5);
    EXPECT("last close", benchfs_close(g), 0);
    /* A rename over an open file keeps it too. */
    EXPECT("put victim", put_file("/t/victim", "old data", 0644), 0);
    EXPECT("put winner", put_file("/t/winner", "new", 0644), 0);
    EXPECT("open victim", benchfs_open(fs, "/t/victim", O_RDONLY, 0, &f), 0);
    EXPECT("rename over it", benchfs_rename(fs, "/t/winner", "/t/victim", 0), 0);
    EXPECT("old inode still readable", benchfs_pread(f, buf, 8, 0), 8);
    benchfs_close(f);
}

/* ---- O_APPEND from 4 threads ---- */
#define APPENDERS 4
#define APPENDS 100
#define REC 16
static void *appender(void *arg)
{
    long k = (long)arg;
    benchfs_file_t *f;
    if (benchfs_open(fs, "/t/app", O_WRONLY | O_APPEND, 0, &f) < 0)
        return (void *)1;
    long bad = 0;
    for (int i = 0; i < APPENDS; i++) {
        char rec[REC + 1];
        snprintf(rec, sizeof rec, "T%ld-%012d\n", k, i);
        if (benchfs_pwrite(f, rec, REC, 0) != REC)   /* off ignored: O_APPEND */
            bad++;
    }
    benchfs_close(f);
    return (void *)bad;
}

static void test_append(void)
{
    benchfs_file_t *f;
    EXPECT("create append file", benchfs_open(fs, "/t/app", O_CREAT | O_WRONLY, 0644, &f), 0);
    benchfs_close(f);
    pthread_t th[APPENDERS];
    for (long k = 0; k < APPENDERS; k++)
        pthread_create(&th[k], NULL, appender, (void *)k);
    long bad = 0;
    for (int k = 0; k < APPENDERS; k++) {
        void *r;
        pthread_join(th[k], &r);
        bad += (long)r;
    }
    check("appends all succeeded", bad == 0, "%ld failed", bad);
    struct stat st;
    EXPECT("stat append file", benchfs_stat(fs, "/t/app", &st), 0);
    check("append: size", st.st_size == APPENDERS * APPENDS * REC, "size %lld", (long long)st.st_size);
    char *buf = malloc(APPENDERS * APPENDS * REC);
    int seen[APPENDERS] = { 0 }, ok = 1;
    EXPECT("open append file to read", benchfs_open(fs, "/t/app", O_RDONLY, 0, &f), 0);
    EXPECT("read all", benchfs_pread(f, buf, APPENDERS * APPENDS * REC, 0), APPENDERS * APPENDS * REC);
    benchfs_close(f);
    for (int i = 0; i < APPENDERS * APPENDS && ok; i++) {
        const char *r = buf + i * REC;
        int k = r[1] - '0';
        if (r[0] != 'T' || k < 0 || k >= APPENDERS || r[REC - 1] != '\n' || atoi(r + 3) != seen[k])
            ok = 0;
        else
            seen[k]++;
    }
    check("append: records whole and in each thread's order", ok, "record mixed up");
    benchfs_file_t *a;
    off_t at = -1;
    EXPECT("benchfs_append on a plain handle", benchfs_open(fs, "/t/app", O_WRONLY, 0, &a), 0);
    EXPECT("benchfs_append", benchfs_append(a, "tail", 4, &at), 4);
    check("append offset", at == APPENDERS * APPENDS * REC, "at %lld", (long long)at);
    benchfs_close(a);
    free(buf);
}

/* ---- directories ---- */
#define NENT 2000
static void test_readdir(void)
{
    char path[64];
    int ok = 1;
    EXPECT("mkdir big", benchfs_mkdir(fs, "/big", 0755), 0);
    for (int i = 0; i < NENT && ok; i++) {
        benchfs_file_t *f;
        snprintf(path, sizeof path, "/big/e%05d", i);
        ok = benchfs_open(fs, path, O_CREAT | O_EXCL | O_WRONLY, 0644, &f) == 0;
        if (ok)
            benchfs_close(f);
    }
    check("2000 creates", ok, "create failed at %s", path);
    benchfs_dir_t *d;
    struct dirent ent;
    EXPECT("opendir", benchfs_opendir(fs, "/big", &d), 0);
    char *seen = calloc(NENT, 1);
    int n = 0, dups = 0, dots = 0, rc;
    long mark = -1;
    char mark_next[256] = "";
    while ((rc = benchfs_readdir(d, &ent)) == 1) {
        if (strcmp(ent.d_name, ".") == 0 || strcmp(ent.d_name, "..") == 0) {
            dots++;
            continue;
        }
        int i = atoi(ent.d_name + 1);
        if (ent.d_name[0] != 'e' || i < 0 || i >= NENT || seen[i]++)
            dups++;
        if (ent.d_type != DT_REG)
            dups++;
        if (++n == 1000)
            mark = benchfs_telldir(d);
        else if (n == 1001)
            snprintf(mark_next, sizeof mark_next, "%s", ent.d_name);
    }
    EXPECT("readdir ends with 0", rc, 0);
    check("readdir: 2000 entries, no duplicates, . and ..", n == NENT && dups == 0 && dots == 2,
          "n %d dups %d dots %d", n, dups, dots);
    benchfs_seekdir(d, mark);
    EXPECT("readdir after seekdir", benchfs_readdir(d, &ent), 1);
    check("seekdir to telldir's position", strcmp(ent.d_name, mark_next) == 0, "got %s want %s", ent.d_name,
          mark_next);
    int rest = 1;
    while (benchfs_readdir(d, &ent) == 1)
        rest++;
    check("the rest after seekdir", rest == NENT - 1000, "rest %d", rest);
    benchfs_rewinddir(d);
    EXPECT("readdir after rewind", benchfs_readdir(d, &ent), 1);
    check("rewind: . first", strcmp(ent.d_name, ".") == 0, "got %s", ent.d_name);
    EXPECT("closedir", benchfs_closedir(d), 0);
    free(seen);
    /* fdopendir on a directory handle; opendir of a file. */
    benchfs_file_t *f;
    EXPECT("open a dir", benchfs_open(fs, "/t", O_RDONLY | O_DIRECTORY, 0, &f), 0);
    EXPECT("fdopendir", benchfs_fdopendir(f, &d), 0);
    n = 0;
    while (benchfs_readdir(d, &ent) == 1)
        n++;
    check("fdopendir reads", n > 5, "n %d", n);
    EXPECT("closedir of fdopendir", benchfs_closedir(d), 0);
    struct stat st;
    EXPECT("handle still usable", benchfs_fstat(f, &st), 0);
    benchfs_close(f);
    EXPECT("opendir a file: ENOTDIR", benchfs_opendir(fs, "/t/a", &d), -ENOTDIR);
    EXPECT("opendir missing: ENOENT", benchfs_opendir(fs, "/nope", &d), -ENOENT);
    ok = 1;
    for (int i = 0; i < NENT && ok; i++) {
        snprintf(path, sizeof path, "/big/e%05d", i);
        ok = benchfs_unlink(fs, path) == 0;
    }
    check("2000 unlinks", ok, "unlink failed at %s", path);
    EXPECT("rmdir big", benchfs_rmdir(fs, "/big"), 0);
}

/* ---- threads ---- */
#define THREADS 8
#define PER_THREAD 150
static void *worker(void *arg)
{
    long k = (long)arg, bad = 0;
    char dir[32], path[64], buf[64];
    snprintf(dir, sizeof dir, "/mt/w%ld", k);
    if (benchfs_mkdir(fs, dir, 0755) < 0)
        return (void *)1000;
    for (int i = 0; i < PER_THREAD; i++) {
        benchfs_file_t *f;
        struct stat st;
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        int len = snprintf(buf, sizeof buf, "thread %ld file %d", k, i);
        if (benchfs_open(fs, path, O_CREAT | O_EXCL | O_RDWR, 0644, &f) < 0) {
            bad++;
            continue;
        }
        char back[64];
        if (benchfs_pwrite(f, buf, (size_t)len, 0) != len || benchfs_pread(f, back, sizeof back, 0) != len ||
            memcmp(back, buf, (size_t)len) != 0)
            bad++;
        benchfs_close(f);
        if (benchfs_stat(fs, path, &st) < 0 || st.st_size != len)
            bad++;
        if (i % 2 && benchfs_unlink(fs, path) < 0)
            bad++;
    }
    return (void *)bad;
}

static void test_threads(void)
{
    EXPECT("mkdir mt", benchfs_mkdir(fs, "/mt", 0755), 0);
    pthread_t th[THREADS];
    for (long k = 0; k < THREADS; k++)
        pthread_create(&th[k], NULL, worker, (void *)k);
    long bad = 0;
    for (int k = 0; k < THREADS; k++) {
        void *r;
        pthread_join(th[k], &r);
        bad += (long)r;
    }
    check("8 threads on one benchfs_t: create, write, read, stat, unlink", bad == 0, "%ld failures", bad);
}

/* ---- permissions as nobody (a forked child) ---- */

/* An access ACL: owner rw, user uid r, group none, mask r, other none. */
static size_t make_acl(uint8_t *v, uint32_t uid)
{
    static const uint16_t tags[] = { 1, 2, 4, 0x10, 0x20 };
    const uint16_t perms[] = { 6, 4, 0, 4, 0 };
    put_le32(v, 2);
    for (int i = 0; i < 5; i++) {
        uint8_t *e = v + 4 + 8 * i;
        put_le16(e, tags[i]);
        put_le16(e + 2, perms[i]);
        put_le32(e + 4, tags[i] == 2 ? uid : 0xffffffffu);
    }
    return 4 + 8 * 5;
}

static int child_checks(void)
{
    /* A fresh connection (objects do not survive fork), then this thread's
     * filesystem ids become nobody's. */
    benchfs_t *c;
    if (benchfs_connect(reg, NULL, &c) < 0)
        return 100;
    if (setgroups(0, NULL) < 0)
        return 101;
    setfsgid(NOBODY);
    setfsuid(NOBODY);
    int bad = 0;
    benchfs_file_t *f;
    struct stat st;
#define CHILD_EXPECT(name, rc, want) do { long r_ = (rc); if (r_ != (want)) { \
        printf("FAIL: as nobody: %s: got %ld want %d\n", name, r_, (want)); bad++; } \
        else printf("PASS: as nobody: %s\n", name); } while (0)
    /* First: nothing under /p is in this client's cache yet. */
    long made = benchfs_open(c, "/p/pub", O_CREAT | O_RDONLY, 0644, &f);
    CHILD_EXPECT("O_CREAT of an existing file in a 0755 root dir opens it", made, 0);
    if (made == 0)
        benchfs_close(f);
    CHILD_EXPECT("open a 0600 root file: EACCES", benchfs_open(c, "/p/secret", O_RDONLY, 0, &f), -EACCES);
    CHILD_EXPECT("mkdir in a 0755 root dir: EACCES", benchfs_mkdir(c, "/p/x", 0755), -EACCES);
    CHILD_EXPECT("create in a 0755 root dir: EACCES", benchfs_open(c, "/p/new", O_CREAT | O_WRONLY, 0644, &f), -EACCES);
    CHILD_EXPECT("unlink in a 0755 root dir: EACCES", benchfs_unlink(c, "/p/secret"), -EACCES);
    CHILD_EXPECT("search a 0700 dir: EACCES", benchfs_stat(c, "/p/closed/inside", &st), -EACCES);
    CHILD_EXPECT("access W_OK: EACCES", benchfs_access(c, "/p/pub", W_OK, AT_EACCESS), -EACCES);
    CHILD_EXPECT("access R_OK on 0644", benchfs_access(c, "/p/pub", R_OK, AT_EACCESS), 0);
    CHILD_EXPECT("chmod a root file: EPERM", benchfs_chmod(c, "/p/pub", 0777, 0), -EPERM);
    CHILD_EXPECT("chown a root file: EPERM", benchfs_chown(c, "/p/pub", NOBODY, (gid_t)-1, 0), -EPERM);
    CHILD_EXPECT("utimens explicit on a root file: EPERM",
                 benchfs_utimens(c, "/p/pub", (struct timespec[2]){ { 1, 0 }, { 1, 0 } }, 0), -EPERM);
    CHILD_EXPECT("utimens now without write: EACCES", benchfs_utimens(c, "/p/pub", NULL, 0), -EACCES);
    CHILD_EXPECT("truncate without write: EACCES", benchfs_truncate(c, "/p/pub", 0), -EACCES);
    CHILD_EXPECT("ACL grants read", benchfs_open(c, "/p/acl", O_RDONLY, 0, &f), 0);
    if (bad == 0)
        benchfs_close(f);
    CHILD_EXPECT("ACL denies write: EACCES", benchfs_open(c, "/p/acl", O_WRONLY, 0, &f), -EACCES);
    CHILD_EXPECT("create in a sticky 1777 dir", benchfs_mkdir(c, "/p/tmp/mine", 0755), 0);
    CHILD_EXPECT("unlink root's file in a sticky dir: EPERM", benchfs_unlink(c, "/p/tmp/roots"), -EPERM);
    CHILD_EXPECT("rename root's file in a sticky dir: EPERM",
                 benchfs_rename(c, "/p/tmp/roots", "/p/tmp/stolen", 0), -EPERM);
    CHILD_EXPECT("new dir is nobody's", benchfs_stat(c, "/p/tmp/mine", &st), 0);
    if (st.st_uid != NOBODY || st.st_gid != NOBODY) {
        printf("FAIL: as nobody: owner of a new dir: %u:%u\n", st.st_uid, st.st_gid);
        bad++;
    }
    CHILD_EXPECT("mkdir in a setgid dir", benchfs_mkdir(c, "/p/sg/d", 0755), 0);
    CHILD_EXPECT("create in a setgid dir", benchfs_open(c, "/p/sg/f", O_CREAT | O_WRONLY, 0644, &f), 0);
    if (bad == 0)
        benchfs_close(f);
    CHILD_EXPECT("stat it", benchfs_stat(c, "/p/sg/f", &st), 0);
    if (st.st_gid != 4321) {
        printf("FAIL: as nobody: a setgid dir's group: %u\n", st.st_gid);
        bad++;
    }
    CHILD_EXPECT("stat the new dir", benchfs_stat(c, "/p/sg/d", &st), 0);
    if (st.st_gid != 4321 || !(st.st_mode & S_ISGID)) {
        printf("FAIL: as nobody: a new dir in a setgid dir: gid %u mode %o\n", st.st_gid, st.st_mode);
        bad++;
    }
    CHILD_EXPECT("chmod g+s of own file outside its group", benchfs_chmod(c, "/p/nobodys", 02755, 0), 0);
    CHILD_EXPECT("stat after chmod", benchfs_stat(c, "/p/nobodys", &st), 0);
    if ((st.st_mode & 07777) != 0755) {
        printf("FAIL: as nobody: chmod g+s outside the group kept setgid: mode %o\n", st.st_mode);
        bad++;
    }
    CHILD_EXPECT("chmod u+s of own file", benchfs_chmod(c, "/p/nobodys", 04777, 0), 0);
    CHILD_EXPECT("open own file to write", benchfs_open(c, "/p/nobodys", O_WRONLY, 0, &f), 0);
    if (bad == 0) {
        CHILD_EXPECT("write it", benchfs_pwrite(f, "w", 1, 0), 1);
        benchfs_close(f);
    }
    CHILD_EXPECT("stat after write", benchfs_stat(c, "/p/nobodys", &st), 0);
    if (st.st_mode & S_ISUID) {
        printf("FAIL: as nobody: a write kept setuid: mode %o\n", st.st_mode);
        bad++;
    }
    CHILD_EXPECT("truncate own file", benchfs_truncate(c, "/p/nobodys", 0), 0);
    CHILD_EXPECT("chown own file to a foreign group: EPERM", benchfs_chown(c, "/p/tmp/mine", (uid_t)-1, 4321, 0),
                 -EPERM);
    fflush(stdout);
    benchfs_disconnect(c);
    return bad;
}

static void test_perms(void)
{
    benchfs_file_t *f;
    EXPECT("perm dir", benchfs_mkdir(fs, "/p", 0755), 0);
    EXPECT("secret", put_file("/p/secret", "s", 0600), 0);
    EXPECT("pub", put_file("/p/pub", "p", 0644), 0);
    EXPECT("acl file", put_file("/p/acl", "a", 0600), 0);
    EXPECT("closed dir", benchfs_mkdir(fs, "/p/closed", 0700), 0);
    EXPECT("sticky dir", benchfs_mkdir(fs, "/p/tmp", 01777), 0);
    EXPECT("root's file in it", put_file("/p/tmp/roots", "r", 0666), 0);
    EXPECT("nobody's file", put_file("/p/nobodys", "n", 0644), 0);
    EXPECT("given to nobody, group 4321", benchfs_chown(fs, "/p/nobodys", NOBODY, 4321, 0), 0);
    EXPECT("setgid dir", benchfs_mkdir(fs, "/p/sg", 02777), 0);
    EXPECT("setgid dir's group", benchfs_chown(fs, "/p/sg", (uid_t)-1, 4321, 0), 0);
    EXPECT("setgid dir's mode again", benchfs_chmod(fs, "/p/sg", 02777, 0), 0);
    /* The ACL through the inode-level client (the API has no xattr calls). */
    struct bfs_client *cl;
    struct bfs_client_opts o = { .registry_dir = reg };
    struct stat st;
    EXPECT("client for setxattr", bfs_client_open(&o, &cl), 0);
    EXPECT("stat acl file", benchfs_stat(fs, "/p/acl", &st), 0);
    uint8_t acl[64];
    size_t len = make_acl(acl, NOBODY);
    EXPECT("set access ACL", bfs_setxattr(cl, st.st_ino, BFS_ACL_ACCESS, acl, len, 0, NULL), 0);
    /* A FIFO (made through the inode-level client): stat works, open is the mount's. */
    struct bfs_attr fa;
    EXPECT("mknod a FIFO", bfs_mknod(cl, 1, "fifo", S_IFIFO | 0644, 0, 0, 0, &fa), 0);
    EXPECT("stat the FIFO", benchfs_stat(fs, "/fifo", &st), 0);
    check("FIFO type", S_ISFIFO(st.st_mode), "mode %o", st.st_mode);
    EXPECT("open a FIFO: EOPNOTSUPP", benchfs_open(fs, "/fifo", O_RDONLY, 0, &f), -EOPNOTSUPP);
    EXPECT("unlink the FIFO", benchfs_unlink(fs, "/fifo"), 0);
    /* A default ACL is inherited (whether or not the entry's server holds the
     * directory: 20 names spread over the servers). */
    /* Made and given its ACL by the other client before this one looks at it:
     * this client's cache may hold a directory's ACL flag for attr_timeout. */
    struct bfs_attr pa, da;
    EXPECT("stat /p", benchfs_stat(fs, "/p", &st), 0);
    EXPECT("mkdir for a default ACL", bfs_create(cl, st.st_ino, "def", S_IFDIR | 0777, 0, 0, &da), 0);
    EXPECT("set default ACL", bfs_setxattr(cl, da.ino, BFS_ACL_DEFAULT, acl, len, 0, &pa), 0);
    int inherited = 0, modes_ok = 0;
    for (int i = 0; i < 20; i++) {
        char path[64];
        snprintf(path, sizeof path, "/p/def/f%d", i);
        if (benchfs_open(fs, path, O_CREAT | O_WRONLY, 0666, &f) == 0)
            benchfs_close(f);
        if (benchfs_stat(fs, path, &st) == 0) {
            uint8_t got[256];
            inherited += bfs_getxattr(cl, st.st_ino, BFS_ACL_ACCESS, got, sizeof got) > 0;
            modes_ok += (st.st_mode & 0777) == 0640;   /* owner rw, mask r, other none */
        }
    }
    check("new files inherit the default ACL", inherited == 20 && modes_ok == 20, "%d inherited, %d modes",
          inherited, modes_ok);
    EXPECT("mkdir below a default ACL", benchfs_mkdir(fs, "/p/def/sub", 0777), 0);
    EXPECT("stat sub", benchfs_stat(fs, "/p/def/sub", &st), 0);
    uint8_t got[256];
    check("a new directory gets the default ACL too",
          bfs_getxattr(cl, st.st_ino, BFS_ACL_DEFAULT, got, sizeof got) == (ssize_t)len, "no default ACL");
    bfs_client_close(cl);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_checks());
    int status = 0;
    waitpid(pid, &status, 0);
    check("permission checks as nobody", WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child status %d", status);
    (void)f;
}

/* ---- a small file's bytes with its open (two clients of one node table) ---- */

/* Requests of op that every server served so far. */
static uint64_t served(struct bfs_client *cl, int op)
{
    uint64_t n = 0, c[OP_MAX];
    for (uint32_t k = 0; k < bfs_client_nodes(cl); k++)
        n += bfs_server_counters(cl, k, c, OP_MAX) == OP_MAX ? c[op] : 1000000;
    return n;
}

/* A client of this node: its own connection, the node's table. */
static benchfs_t *node_client(void *tab, size_t bytes)
{
    benchfs_t *c;
    if (benchfs_connect(reg, NULL, &c) < 0)
        return NULL;
    if (benchfs_node_table(c, tab, bytes) < 0) {
        benchfs_disconnect(c);
        return NULL;
    }
    return c;
}

/* path's atime (s) as its server has it (cl: no cache). */
static int64_t atime_of(struct bfs_client *cl, const char *path)
{
    struct stat st;
    struct bfs_attr at;
    if (benchfs_stat(fs, path, &st) < 0 || bfs_getattr(cl, st.st_ino, &at) < 0)
        return -1;
    return at.atime_ns / 1000000000;
}

/* As nobody, in a forked child (its own client on the same table): a file
 * it may not read gives EACCES (its atime stays: the parent checks); one readable by
 * "other" only, or through an ACL, reads right (the server sends no bytes
 * with those lookups: the groups or the ACL are the client's to judge). */
static int small_read_child(void *tab, size_t bytes)
{
    benchfs_t *c = node_client(tab, bytes);
    if (!c || setgroups(0, NULL) < 0)
        return 100;
    setfsgid(NOBODY);
    setfsuid(NOBODY);
    int bad = 0;
    char buf[64];
    long rc = read_on(c, "/sr/secret", O_RDONLY, buf, sizeof buf);
    if (rc != -EACCES) {
        printf("FAIL: as nobody: a 0600 root file: %ld\n", rc);
        bad++;
    }
    rc = read_on(c, "/sr/other", O_RDONLY, buf, sizeof buf);
    if (rc != 5 || strcmp(buf, "other") != 0) {
        printf("FAIL: as nobody: a 0604 file: %ld '%s'\n", rc, buf);
        bad++;
    }
    rc = read_on(c, "/p/acl", O_RDONLY, buf, sizeof buf);
    if (rc != 1 || strcmp(buf, "a") != 0) {
        printf("FAIL: as nobody: a file its ACL lets it read: %ld '%s'\n", rc, buf);
        bad++;
    }
    fflush(stdout);
    benchfs_disconnect(c);
    return bad;
}

static void test_small_read(void)
{
    size_t bytes = nodetab_bytes();
    void *tab = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct bfs_client_opts o = { .registry_dir = reg };
    struct bfs_client *cl = NULL;
    benchfs_t *a = NULL, *b = NULL;   /* two processes of one node */
    benchfs_file_t *f = NULL;
    char buf[20000], big[12000];
    if (tab == MAP_FAILED || (nodetab_format(tab, 1.0), !(a = node_client(tab, bytes))) ||
        !(b = node_client(tab, bytes)) || bfs_client_open(&o, &cl) < 0) {
        check("small reads: two clients on a node table", 0, "setup failed");
        goto out;
    }
    EXPECT("small reads: dir", benchfs_mkdir(fs, "/sr", 0755), 0);
    EXPECT("small reads: a file", put_file("/sr/f", "first", 0644), 0);
    uint64_t reads = served(cl, OP_READ), lookups = served(cl, OP_LOOKUP);
    EXPECT("open a small file", benchfs_open(a, "/sr/f", O_RDONLY, 0, &f), 0);
    if (!f)
        goto out;
    EXPECT("... its read", benchfs_pread(f, buf, sizeof buf, 0), 5);
    check("... brings its bytes", memcmp(buf, "first", 5) == 0, "%.5s", buf);
    check("... in the open's lookup: no READ", served(cl, OP_READ) == reads && served(cl, OP_LOOKUP) > lookups,
          "READ %llu -> %llu", (unsigned long long)reads, (unsigned long long)served(cl, OP_READ));
    EXPECT("... a read past its end", benchfs_pread(f, buf, sizeof buf, 5), 0);
    EXPECT("... a read inside", benchfs_pread(f, buf, 3, 1), 3);
    check("... from an offset", memcmp(buf, "irs", 3) == 0, "%.3s", buf);
    benchfs_file_t *w;
    EXPECT("another client of the node writes it", benchfs_open(b, "/sr/f", O_WRONLY, 0, &w), 0);
    if (w) {
        EXPECT("... longer", benchfs_pwrite(w, "second!", 7, 0), 7);
        benchfs_close(w);
    }
    EXPECT("the open reader sees the node's write", benchfs_pread(f, buf, sizeof buf, 0), 7);
    check("... its bytes", memcmp(buf, "second!", 7) == 0, "%.7s", buf);
    benchfs_close(f);
    f = NULL;
    /* relatime: the read after a change records its time (at the lookup). */
    struct timespec old[2] = { { 1000, 0 }, { 2000, 0 } };
    EXPECT("old times", benchfs_utimens(fs, "/sr/f", old, 0), 0);
    EXPECT("O_NOATIME read", read_on(a, "/sr/f", O_RDONLY | O_NOATIME, buf, sizeof buf), 7);
    EXPECT("... leaves atime", atime_of(cl, "/sr/f"), 1000);
    EXPECT("a read", read_on(a, "/sr/f", O_RDONLY, buf, sizeof buf), 7);
    check("... records atime", atime_of(cl, "/sr/f") > 2000, "atime %lld", (long long)atime_of(cl, "/sr/f"));
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    EXPECT("a file bigger than an open brings", put_file("/sr/big", big, 0644), 0);
    EXPECT("... reads whole", read_on(a, "/sr/big", O_RDONLY, buf, sizeof buf), (long)sizeof big - 1);
    check("... right", memcmp(buf, big, sizeof big - 1) == 0, "differs");
    EXPECT("an empty file", put_file("/sr/empty", "", 0644), 0);
    EXPECT("... reads 0", read_on(a, "/sr/empty", O_RDONLY, buf, sizeof buf), 0);
    EXPECT("root's secret", put_file("/sr/secret", "s", 0600), 0);
    EXPECT("... old times", benchfs_utimens(fs, "/sr/secret", old, 0), 0);
    EXPECT("other-readable", put_file("/sr/other", "other", 0604), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(small_read_child(tab, bytes));
    int status = 0;
    waitpid(pid, &status, 0);
    check("small reads as nobody", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    EXPECT("... the file it may not read keeps its atime", atime_of(cl, "/sr/secret"), 1000);
out:
    if (f)
        benchfs_close(f);
    benchfs_disconnect(a);
    benchfs_disconnect(b);
    if (cl)
        bfs_client_close(cl);
    if (tab != MAP_FAILED)
        munmap(tab, bytes);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s REGISTRY_DIR\n", argv[0]);
        return 2;
    }
    reg = argv[1];
    benchfs_t *bad;
    struct benchfs_opts quick = { .connect_timeout_s = 0.3 };
    int rc = benchfs_connect("/nonexistent/registry", &quick, &bad);
    check("connect to a missing registry fails", rc < 0, "rc %d", rc);
    EXPECT("connect", benchfs_connect(reg, NULL, &fs), 0);
    if (!fs)
        return 1;
    check("version", strncmp(benchfs_version(), "benchfs ", 8) == 0, "%s", benchfs_version());
    test_files();
    test_links();
    test_rename();
    test_attrs();
    test_unlink_open();
    test_append();
    test_readdir();
    test_threads();
    test_perms();
    test_small_read();
    benchfs_disconnect(fs);
    printf("%s: %d failures\n", argv[0], failures);
    return failures ? 1 : 0;
}
