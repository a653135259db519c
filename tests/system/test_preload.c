/* test_preload.c - run under LD_PRELOAD=libbenchfs-preload.so with a BenchFS
 * mount point: ordinary system calls whose results are checked, and, for each
 * file opened through the preload path, that its fd really is the reserved
 * /dev/null (so the open did not go through FUSE).
 *   test_preload MNT          every test below
 *   test_preload late MNT     waits for a line on stdin (the test mounts MNT
 *                             meanwhile), then opens a file on it */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;
static char mnt[2048];

#define CHECK(name, cond)                                                        \
    do {                                                                         \
        if (cond)                                                                \
            printf("PASS: %s\n", name);                                          \
        else {                                                                   \
            printf("FAIL: %s (%s:%d, errno %s)\n", name, __FILE__, __LINE__,     \
                   strerror(errno));                                             \
            failures++;                                                          \
        }                                                                        \
        fflush(stdout);                                                          \
    } while (0)

static char *at(const char *rel)
{
    static __thread char buf[8][4096];
    static __thread int i;
    char *b = buf[i++ % 8];
    snprintf(b, 4096, "%s/%s", mnt, rel);
    return b;
}

/* Whether fd is a preload fd: the kernel sees /dev/null behind it. */
static int is_preload(int fd)
{
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strcmp(target, "/dev/null") == 0;
}

static int file_is(const char *path, const char *want)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "%s: \"%s\", want \"%s\"\n", path, buf, want);
    return strcmp(buf, want) == 0;
}

static void test_basic(void)
{
    int fd = open(at("basic"), O_CREAT | O_TRUNC | O_RDWR, 0644);
    CHECK("open O_CREAT through the preload path (fd is the reserved /dev/null)", fd >= 0 && is_preload(fd));
    CHECK("write", write(fd, "hello world", 11) == 11);
    CHECK("lseek SEEK_CUR after write", lseek(fd, 0, SEEK_CUR) == 11);
    CHECK("lseek SEEK_END", lseek(fd, -5, SEEK_END) == 6);
    char buf[32] = { 0 };
    CHECK("read at the offset", read(fd, buf, sizeof buf) == 5 && memcmp(buf, "world", 5) == 0);
    CHECK("pwrite leaves the offset", pwrite(fd, "HELLO", 5, 0) == 5 && lseek(fd, 0, SEEK_CUR) == 11);
    struct iovec iov[2] = { { buf, 3 }, { buf + 3, 3 } };
    CHECK("preadv", preadv(fd, iov, 2, 0) == 6 && memcmp(buf, "HELLO ", 6) == 0);
    struct iovec wv[2] = { { "ab", 2 }, { "cd", 2 } };
    CHECK("writev", writev(fd, wv, 2) == 4);
    struct stat st;
    CHECK("fstat size", fstat(fd, &st) == 0 && st.st_size == 15 && S_ISREG(st.st_mode));
    CHECK("ftruncate", ftruncate(fd, 5) == 0 && fstat(fd, &st) == 0 && st.st_size == 5);
    CHECK("fsync", fsync(fd) == 0 && fdatasync(fd) == 0);
    CHECK("F_GETFL shows O_RDWR", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
    CHECK("FD_CLOEXEC lives on the kernel fd", fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK("a raw syscall write on the reserved fd fails (EBADF), nothing silently lost",
          syscall(SYS_write, fd, "x", 1) < 0 && errno == EBADF);
    CHECK("close", close(fd) == 0);
    CHECK("read back by path", file_is(at("basic"), "HELLO"));
    CHECK("stat by path", stat(at("basic"), &st) == 0 && st.st_size == 5);
    CHECK("open O_EXCL of an existing file: EEXIST", open(at("basic"), O_CREAT | O_EXCL | O_WRONLY, 0644) < 0 && errno == EEXIST);
    CHECK("open of a missing file: ENOENT", open(at("nope"), O_RDONLY) < 0 && errno == ENOENT);
    CHECK("read on O_WRONLY: EBADF", (fd = open(at("basic"), O_WRONLY)) >= 0 && read(fd, buf, 1) < 0 && errno == EBADF);
    close(fd);
}

static void test_umask_and_append(void)
{
    mode_t old = umask(027);
    int fd = open(at("masked"), O_CREAT | O_WRONLY, 0666);
    struct stat st;
    CHECK("umask applies to O_CREAT", fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640);
    close(fd);
    CHECK("umask applies to mkdir", mkdir(at("maskdir"), 0777) == 0 && stat(at("maskdir"), &st) == 0 &&
                                        (st.st_mode & 0777) == 0750);
    umask(old);
    fd = open(at("app"), O_CREAT | O_WRONLY | O_APPEND, 0644);
    int fd2 = open(at("app"), O_WRONLY | O_APPEND);
    CHECK("O_APPEND writes from two fds both land at the end",
          write(fd, "aa", 2) == 2 && write(fd2, "bb", 2) == 2 && write(fd, "cc", 2) == 2 && lseek(fd, 0, SEEK_CUR) == 6);
    close(fd2);
    CHECK("F_SETFL clears O_APPEND", fcntl(fd, F_SETFL, 0) == 0 && !(fcntl(fd, F_GETFL) & O_APPEND) &&
                                         pwrite(fd, "XX", 2, 0) == 2);
    close(fd);
    CHECK("appended content", file_is(at("app"), "XXbbcc"));
}

static void test_dup_fork(void)
{
    int fd = open(at("dup"), O_CREAT | O_TRUNC | O_RDWR, 0644);
    int d = dup(fd);
    int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
    CHECK("dup and F_DUPFD_CLOEXEC give preload fds", d >= 0 && is_preload(d) && d2 >= 50 && is_preload(d2) &&
                                                        fcntl(d2, F_GETFD) == FD_CLOEXEC);
    CHECK("dup'd fds share the offset", write(fd, "12", 2) == 2 && lseek(d, 0, SEEK_CUR) == 2 &&
                                            write(d2, "34", 2) == 2 && lseek(fd, 0, SEEK_CUR) == 4);
    CHECK("dup2 onto a number > 2", dup2(fd, 40) == 40 && is_preload(40) && lseek(40, 0, SEEK_CUR) == 4);
    close(d);
    close(d2);
    close(40);
    /* fork: parent and child write the same fd; the offset is shared as POSIX says. */
    pid_t pid = fork();
    if (pid == 0) {
        int ok = write(fd, "child", 5) == 5;
        int fd3 = open(at("forkchild"), O_CREAT | O_WRONLY, 0644);   /* the child connects anew */
        ok = ok && fd3 >= 0 && is_preload(fd3) && write(fd3, "c", 1) == 1 && close(fd3) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK("fork: the child writes the inherited fd and opens a new file over RPC", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK("fork: the parent's offset moved with the child's write", lseek(fd, 0, SEEK_CUR) == 9);
    CHECK("fork: the parent writes on after the child", write(fd, "P", 1) == 1);
    close(fd);
    CHECK("fork: file content", file_is(at("dup"), "1234childP") && file_is(at("forkchild"), "c"));
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void)   /* all threads of this process */
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A connected parent forks a child that works over RPC with a connection of
 * its own. UCX's fds of the child once went into the parent's UCX thread's
 * epoll set (fork shares it), and that thread spun for as long as the child
 * worked: half a core or more (common/ucx_fork.h). */
static void test_fork_quiet_parent(void)
{
    int fd = open(at("quiet.parent"), O_CREAT | O_TRUNC | O_WRONLY, 0644);   /* connected */
    CHECK("quiet parent: the parent is connected", fd >= 0 && is_preload(fd) && write(fd, "p", 1) == 1);
    if (fd >= 0)
        close(fd);
    double c0 = cpu_s(), t0 = mono_s();
    pid_t pid = fork();
    if (pid == 0) {
        static char block[4096];
        int cf = open(at("quiet.child"), O_CREAT | O_TRUNC | O_WRONLY, 0644);
        int ok = cf >= 0 && is_preload(cf);
        /* Writes for half a second (at most 100,000 of them). */
        double end = mono_s() + 0.5;
        for (int i = 0; ok && i < 100000 && mono_s() < end; i++)
            ok = pwrite(cf, block, sizeof block, (off_t)(i % 1024) * 4096) == (ssize_t)sizeof block;
        _exit(ok && close(cf) == 0 ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    double wall = mono_s() - t0, cpu = cpu_s() - c0;
    CHECK("quiet parent: the child wrote over its own connection", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("# quiet parent: the parent used %.3f s of CPU while its child worked %.3f s\n", cpu, wall);
    CHECK("quiet parent: the waiting parent used under 10 % of a core", cpu < 0.1 * wall);
    unlink(at("quiet.parent"));
    unlink(at("quiet.child"));
}

static void test_dirs_and_at(void)
{
    CHECK("mkdir", mkdir(at("d"), 0755) == 0);
    int dfd = open(at("d"), O_RDONLY | O_DIRECTORY);
    CHECK("a directory opens through the kernel (a real directory fd)", dfd >= 0 && !is_preload(dfd));
    int fd = openat(dfd, "x", O_CREAT | O_WRONLY, 0644);
    CHECK("openat with a dirfd in the mount goes over RPC", fd >= 0 && is_preload(fd) && write(fd, "at", 2) == 2);
    close(fd);
    struct stat st;
    CHECK("fstatat", fstatat(dfd, "x", &st, 0) == 0 && st.st_size == 2);
    CHECK("mkdirat", mkdirat(dfd, "sub", 0755) == 0 && stat(at("d/sub"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK("renameat", renameat(dfd, "x", dfd, "y") == 0 && faccessat(dfd, "y", R_OK, 0) == 0 &&
                          faccessat(dfd, "x", F_OK, 0) < 0 && errno == ENOENT);
    CHECK("symlinkat/readlinkat", symlinkat("y", dfd, "ln") == 0 &&
                                      readlinkat(dfd, "ln", (char[16]){ 0 }, 16) == 1);
    CHECK("stat through a relative symlink", stat(at("d/ln"), &st) == 0 && st.st_size == 2);
    CHECK("linkat", linkat(dfd, "y", dfd, "hard", 0) == 0 && stat(at("d/hard"), &st) == 0 && st.st_nlink == 2);
    DIR *dir = opendir(at("d"));
    int seen = 0, n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        n++;
        seen |= strcmp(e->d_name, "y") == 0 ? 1 : strcmp(e->d_name, "sub") == 0 ? 2 : strcmp(e->d_name, "..") == 0 ? 4 : 0;
    }
    CHECK("opendir/readdir lists the entries", dir && seen == 7 && n == 6);
    int dd = dir ? dirfd(dir) : -1;
    CHECK("dirfd of a preload stream is a real directory fd", dd >= 0 && fstatat(dd, "y", &st, 0) == 0);
    if (dir)
        rewinddir(dir);
    CHECK("rewinddir", dir && readdir(dir) != NULL);
    CHECK("closedir", dir && closedir(dir) == 0);
    CHECK("unlinkat", unlinkat(dfd, "hard", 0) == 0 && unlinkat(dfd, "ln", 0) == 0);
    CHECK("unlinkat AT_REMOVEDIR", unlinkat(dfd, "sub", AT_REMOVEDIR) == 0);
    CHECK("rmdir of a non-empty directory: ENOTEMPTY", rmdir(at("d")) < 0 && errno == ENOTEMPTY);
    /* relative paths after chdir into the mount */
    char old[4096];
    CHECK("chdir into the mount", getcwd(old, sizeof old) && chdir(at("d")) == 0);
    fd = open("rel", O_CREAT | O_WRONLY, 0644);
    CHECK("relative open after chdir goes over RPC", fd >= 0 && is_preload(fd) && write(fd, "r", 1) == 1);
    close(fd);
    CHECK("relative ../ path", file_is("../d/rel", "r") && access("./rel", R_OK) == 0);
    CHECK("fchdir and a relative path", fchdir(dfd) == 0 && unlink("rel") == 0 && unlink("y") == 0);
    CHECK("chdir back", chdir(old) == 0);
    close(dfd);
    CHECK("rmdir", rmdir(at("d")) == 0);
}

static void test_attrs(void)
{
    int fd = open(at("attr"), O_CREAT | O_WRONLY, 0600);
    close(fd);
    struct stat st;
    CHECK("chmod", chmod(at("attr"), 0640) == 0 && stat(at("attr"), &st) == 0 && (st.st_mode & 0777) == 0640);
    struct timespec t[2] = { { 1000, 0 }, { 2000, 0 } };
    CHECK("utimensat", utimensat(AT_FDCWD, at("attr"), t, 0) == 0 && stat(at("attr"), &st) == 0 && st.st_mtime == 2000);
    CHECK("truncate", truncate(at("attr"), 100) == 0 && stat(at("attr"), &st) == 0 && st.st_size == 100);
    CHECK("rename", rename(at("attr"), at("attr2")) == 0 && lstat(at("attr2"), &st) == 0);
    struct statx sx;
    CHECK("statx", statx(AT_FDCWD, at("attr2"), 0, STATX_BASIC_STATS, &sx) == 0 && sx.stx_size == 100);
    CHECK("unlink", unlink(at("attr2")) == 0 && stat(at("attr2"), &st) < 0 && errno == ENOENT);
}

static void test_stdio(void)
{
    FILE *f = fopen(at("stdio"), "w");
    CHECK("fopen \"w\": fileno is a preload fd", f && is_preload(fileno(f)));
    CHECK("fprintf/fclose", f && fprintf(f, "n=%d\n", 42) == 5 && fclose(f) == 0);
    f = fopen(at("stdio"), "a+");
    CHECK("fopen \"a+\" appends", f && fputs("more\n", f) >= 0 && fclose(f) == 0 && file_is(at("stdio"), "n=42\nmore\n"));
    f = fopen(at("stdio"), "r");
    char line[64];
    CHECK("fgets/fseek/ftell", f && fgets(line, sizeof line, f) && strcmp(line, "n=42\n") == 0 &&
                                   fseek(f, 2, SEEK_SET) == 0 && ftell(f) == 2 && fgetc(f) == '4');
    if (f)
        fclose(f);
    CHECK("fopen \"x\" of an existing file: EEXIST", !fopen(at("stdio"), "wx") && errno == EEXIST);
    int fd = open(at("stdio"), O_RDONLY);
    f = fdopen(fd, "r");
    CHECK("fdopen of a preload fd", f && fileno(f) == fd && fgetc(f) == 'n' && fclose(f) == 0);
}

/* What the library does not do is done by the kernel on the mount. */
static void test_converted(void)
{
    int fd = open(at("conv"), O_CREAT | O_TRUNC | O_RDWR, 0644);
    CHECK("conv: written over RPC", fd >= 0 && is_preload(fd) && write(fd, "mapped!", 7) == 7);
    char *p = mmap(NULL, 7, PROT_READ, MAP_SHARED, fd, 0);
    CHECK("mmap of a preload fd (converted to a kernel fd through the mount)", p != MAP_FAILED && memcmp(p, "mapped!", 7) == 0 && !is_preload(fd));
    if (p != MAP_FAILED)
        munmap(p, 7);
    CHECK("after conversion the offset is kept", lseek(fd, 0, SEEK_CUR) == 7 && write(fd, "+", 1) == 1);
    close(fd);
    CHECK("after conversion the content is right", file_is(at("conv"), "mapped!+"));
    fd = open(at("conv"), O_RDWR);
    CHECK("flock (converted)", fd >= 0 && flock(fd, LOCK_EX) == 0 && flock(fd, LOCK_UN) == 0 && !is_preload(fd));
    close(fd);
    fd = open(at("conv"), O_RDWR);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    CHECK("fcntl F_SETLK (converted)", fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 && !is_preload(fd));
    close(fd);
    if (mkfifo(at("fifo"), 0644) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int w = open(at("fifo"), O_WRONLY);
            _exit(w >= 0 && write(w, "f", 1) == 1 ? 0 : 1);
        }
        int r = open(at("fifo"), O_RDONLY);
        char c = 0;
        CHECK("a FIFO in the mount opens through the kernel", r >= 0 && !is_preload(r) && read(r, &c, 1) == 1 && c == 'f');
        close(r);
        waitpid(pid, NULL, 0);
        unlink(at("fifo"));
    } else {
        printf("SKIP: FIFO (mkfifo on the mount: %s)\n", strerror(errno));
    }
}

#define THREADS 8
#define PER_THREAD 40
static void *thread_files(void *arg)
{
    long t = (long)arg, bad = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        char name[64], want[64], got[64] = { 0 };
        snprintf(name, sizeof name, "thr/%ld.%d", t, i);
        snprintf(want, sizeof want, "thread %ld file %d", t, i);
        int fd = open(at(name), O_CREAT | O_EXCL | O_RDWR, 0644);
        if (fd < 0 || !is_preload(fd) || write(fd, want, strlen(want)) != (ssize_t)strlen(want) ||
            pread(fd, got, sizeof got - 1, 0) != (ssize_t)strlen(want) || strcmp(got, want) != 0)
            bad++;
        if (fd >= 0)
            close(fd);
        if (i % 2 && unlink(at(name)) != 0)
            bad++;
    }
    return (void *)bad;
}

static void test_threads(void)
{
    mkdir(at("thr"), 0755);
    pthread_t th[THREADS];
    long bad = 0;
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, thread_files, (void *)t);
    for (int t = 0; t < THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        bad += (long)r;
    }
    int n = 0;
    DIR *d = opendir(at("thr"));
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    CHECK("8 threads x 40 files at once", bad == 0 && n == 2 + THREADS * PER_THREAD / 2);
}

/* The /dev/null fd every reservation is a dup of: the only one this process
 * holds with FD_CLOEXEC besides those the caller names (-1: none). */
static int null_base(int skip)
{
    for (int fd = 3; fd < 1024; fd++)
        if (fd != skip && is_preload(fd) && (fcntl(fd, F_GETFD) & FD_CLOEXEC))
            return fd;
    return -1;
}

static void test_reserve_base(void)
{
    int fd = open(at("base"), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    int base = null_base(fd);
    CHECK("reserve: a preload fd is a dup of one kept /dev/null fd", fd >= 0 && is_preload(fd) && base >= 0);
    close(fd);
    /* A raw close the library cannot see: the next open opens another. */
    syscall(SYS_close, base);
    fd = open(at("base"), O_RDWR);
    CHECK("reserve: after a raw close of its /dev/null fd an open is still a preload fd",
          fd >= 0 && is_preload(fd) && write(fd, "b", 1) == 1);
    close(fd);
    /* The program puts its own file on that number: reservations must not dup it. */
    base = null_base(-1);
    int mine = open("/proc/self/stat", O_RDONLY);
    CHECK("reserve: dup2 of the program's file onto the kept fd", base >= 0 && mine >= 0 && dup2(mine, base) == base);
    fd = open(at("base"), O_RDWR);
    char link[64], target[64] = "";
    snprintf(link, sizeof link, "/proc/self/fd/%d", base);
    ssize_t n = readlink(link, target, sizeof target - 1);
    CHECK("reserve: a later open is /dev/null, not a dup of the program's file", fd >= 0 && is_preload(fd));
    CHECK("reserve: the program's fd is still its file", n > 0 && strncmp(target, "/proc/", 6) == 0);
    close(fd);
    close(base);
    close(mine);
    /* close_range of its number, then the program's file takes the number. */
    fd = open(at("base"), O_RDWR);
    base = null_base(fd);
    close(fd);
    mine = open("/proc/self/stat", O_RDONLY);
    int ranged = base >= 0 && close_range((unsigned)base, (unsigned)base, 0) == 0;
    int taken = ranged ? fcntl(mine, F_DUPFD, base) : -1;
    fd = open(at("base"), O_RDWR);
    char c = 0;
    CHECK("reserve: after close_range of the kept fd and its reuse, opens are still preload fds",
          taken == base && fd >= 0 && is_preload(fd) && pread(fd, &c, 1, 0) == 1 && c == 'b');
    close(fd);
    close(taken);
    close(mine);
    unlink(at("base"));
}

/* The library caches the thread's fsuid: set*id must reach it. */
static int create_now(const char *rel)
{
    int fd = open(at(rel), O_CREAT | O_EXCL | O_WRONLY, 0644);
    int e = errno;
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : e;
}

static pthread_barrier_t ids_barrier;
static int ids_before, ids_after;

/* Creates as root (its ids cached), waits while main calls seteuid, creates again. */
static void *ids_thread(void *arg)
{
    (void)arg;
    ids_before = create_now("rootonly/d");
    pthread_barrier_wait(&ids_barrier);
    pthread_barrier_wait(&ids_barrier);
    ids_after = create_now("rootonly/e");
    pthread_barrier_wait(&ids_barrier);
    return NULL;
}

static void test_ids_cached(void)
{
    if (geteuid() != 0) {
        printf("SKIP: ids: needs root\n");
        return;
    }
    int ok = mkdir(at("rootonly"), 0755) == 0;
    int fd = open(at("rootonly/a"), O_CREAT | O_WRONLY, 0644);   /* caches uid 0 */
    ok = ok && fd >= 0;
    close(fd);
    setfsuid(65534);
    fd = open(at("rootonly/b"), O_CREAT | O_WRONLY, 0644);
    int e = errno;
    setfsuid(0);
    CHECK("ids: after setfsuid(65534) a create in a root-only directory is refused",
          ok && fd < 0 && e == EACCES);
    fd = open(at("rootonly/c"), O_CREAT | O_WRONLY, 0644);
    CHECK("ids: after setfsuid(0) it is allowed again", fd >= 0);
    close(fd);
    /* seteuid is the whole process's: another thread that cached uid 0 must see it. */
    pthread_t t;
    int set = 0;
    ids_before = ids_after = -1;
    if (pthread_barrier_init(&ids_barrier, NULL, 2) == 0 && pthread_create(&t, NULL, ids_thread, NULL) == 0) {
        pthread_barrier_wait(&ids_barrier);
        set = seteuid(65534) == 0;
        pthread_barrier_wait(&ids_barrier);
        pthread_barrier_wait(&ids_barrier);
        if (set && seteuid(0) != 0)
            abort();   /* the rest of the tests would run as nobody */
        pthread_join(t, NULL);
        pthread_barrier_destroy(&ids_barrier);
    }
    CHECK("ids: seteuid in one thread reaches another thread's checks",
          set && ids_before == 0 && ids_after == EACCES);
    unlink(at("rootonly/a"));
    unlink(at("rootonly/c"));
    unlink(at("rootonly/d"));
    rmdir(at("rootonly"));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "late") == 0) {
        snprintf(mnt, sizeof mnt, "%s", argv[2]);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            return 2;
        int fd = open(at("late"), O_CREAT | O_WRONLY, 0644);
        CHECK("a program started before the mount finds it (fd over RPC)", fd >= 0 && is_preload(fd) && write(fd, "late", 4) == 4);
        close(fd);
        return failures ? 1 : 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: test_preload MNT | test_preload late MNT\n");
        return 2;
    }
    snprintf(mnt, sizeof mnt, "%s", argv[1]);
    test_basic();
    test_umask_and_append();
    test_dup_fork();
    test_fork_quiet_parent();
    test_dirs_and_at();
    test_attrs();
    test_stdio();
    test_converted();
    test_threads();
    test_reserve_base();
    test_ids_cached();
    return failures ? 1 : 0;
}
