/* test_locks.c - fcntl and OFD lock semantics across two mounts of one cluster.
 *
 *   test_locks MOUNT_A MOUNT_B
 *
 * Every lock owner is a process (POSIX locks) or an open file (OFD locks); a
 * second mount is a second client, so a process on B competes with one on A as
 * processes on two machines would. Each wait has a deadline (alarm in the
 * children, bounded polls in the parent); a child that should block is seen
 * blocked in its system call (/proc/PID/syscall) before the test goes on. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"

#define EOFF 0   /* l_len 0: to the end of file */

static const char *A, *B;
static char pa[4096], pb[4096];   /* the test file through A and through B */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pause_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    return fcntl(fd, cmd, &fl) < 0 ? -errno : 0;
}

/* F_GETLK (or F_OFD_GETLK) of [start, start+len) for type: what is in the way. */
static struct flock probe(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    if (fcntl(fd, cmd, &fl) < 0)
        fl.l_type = -1;
    return fl;
}

static int open_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        fprintf(stderr, "  open %s: %s\n", path, strerror(errno));
    return fd;
}

/* ---- children: each a lock owner of its own, run with a deadline ---- */

static void on_usr1(int sig) { (void)sig; }

/* Forks; the child runs fn(arg) under a 20 s alarm and exits with its result
 * (0..255); the parent gets the pid. */
static pid_t spawn(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa = { .sa_handler = on_usr1 };   /* no SA_RESTART: EINTR */
        sigaction(SIGUSR1, &sa, NULL);
        alarm(20);
        _exit(fn(arg));
    }
    return pid;
}

/* The child's exit status, or -1 if it did not end within s seconds (then killed). */
static int reap(pid_t pid, double s)
{
    double end = now_s() + s;
    int st;
    while (now_s() < end) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        pause_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* 1 once pid sits in system call nr (fcntl, flock), within 10 s. */
static int blocked_in(pid_t pid, long nr)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    for (double end = now_s() + 10; now_s() < end; pause_ms(5)) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 0;
        int got = fgets(buf, sizeof buf, f) != NULL;
        fclose(f);
        if (got && strtol(buf, NULL, 10) == nr)
            return 1;
    }
    return 0;
}

/* A child's parameters: which file, what lock, how. */
struct job {
    const char *path;
    int cmd;            /* F_SETLK, F_SETLKW, F_OFD_SETLKW ... */
    short type;
    off_t start, len;
    int hold_fd;        /* a pipe the child reads before it lets go (-1: exit at once) */
    int tell_fd;        /* a pipe the child writes one byte to once it has the lock */
};

/* Takes the lock, says so, holds it until told, exits 0; the errno if refused. */
static int job_run(void *arg)
{
    struct job *j = arg;
    int fd = open_file(j->path);
    if (fd < 0)
        return 100;
    int rc = lk(fd, j->cmd, j->type, j->start, j->len);
    if (rc < 0)
        return -rc;
    if (j->tell_fd >= 0 && write(j->tell_fd, "x", 1) != 1)
        return 101;
    char c;
    if (j->hold_fd >= 0 && read(j->hold_fd, &c, 1) < 0)
        return 102;
    return 0;
}

/* Waits up to ms for a byte on fd: 1 got one, 0 not. */
static int got_byte(int fd, int ms)
{
    for (double end = now_s() + ms / 1e3; now_s() < end; pause_ms(5)) {
        char c;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        ssize_t n = read(fd, &c, 1);
        fcntl(fd, F_SETFL, fl);
        if (n == 1)
            return 1;
    }
    return 0;
}

/* ---- tests ---- */

static void test_conflicts_across_mounts(void)
{
    int fa = open_file(pa);
    REQUIRE(fa >= 0);
    CHECK_EQ(lk(fa, F_SETLK, F_WRLCK, 0, 100), 0);
    struct job j = { pb, F_SETLK, F_WRLCK, 50, 10, -1, -1 };
    CHECK_EQ(reap(spawn(job_run, &j), 15), EAGAIN);        /* B's process: in the way */
    j = (struct job){ pb, F_SETLK, F_RDLCK, 100, 100, -1, -1 };
    CHECK_EQ(reap(spawn(job_run, &j), 15), 0);             /* past the range: fine */
    int fb = open_file(pb);
    REQUIRE(fb >= 0);
    /* Its own lock is in no process's way through A; through B this process is
     * another client's, as if on another machine: two mounts never share an owner. */
    struct flock fl = probe(fa, F_GETLK, F_WRLCK, 0, EOFF);
    CHECK_EQ(fl.l_type, F_UNLCK);
    fl = probe(fb, F_GETLK, F_WRLCK, 0, EOFF);
    CHECK_EQ(fl.l_type, F_WRLCK);
    close(fb);
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
    close(fa);
}

/* What a process on B sees with F_GETLK: its lock (type, start, len) through a pipe. */
static struct flock seen_from_b(short type, off_t start, off_t len)
{
    int p[2];
    struct flock out = { .l_type = -1 };
    if (pipe(p) < 0)
        return out;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        int fd = open_file(pb);
        struct flock fl = fd >= 0 ? probe(fd, F_GETLK, type, start, len) : out;
        _exit(write(p[1], &fl, sizeof fl) == sizeof fl ? 0 : 1);
    }
    close(p[1]);
    if (read(p[0], &out, sizeof out) != sizeof out)
        out.l_type = -1;
    close(p[0]);
    reap(pid, 15);
    return out;
}

static void test_split_merge_getlk(void)
{
    int fa = open_file(pa);
    REQUIRE(fa >= 0);
    CHECK_EQ(lk(fa, F_SETLK, F_WRLCK, 0, EOFF), 0);
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 100, 100), 0);       /* a hole: [0,99] and [200, EOF) */
    struct flock s = seen_from_b(F_WRLCK, 0, EOFF);
    CHECK_EQ(s.l_type, F_WRLCK);
    CHECK_EQ(s.l_start, 0);
    CHECK_EQ(s.l_len, 100);
    CHECK_EQ(s.l_pid, getpid());
    s = seen_from_b(F_WRLCK, 100, 100);
    CHECK_EQ(s.l_type, F_UNLCK);                            /* the hole is free */
    s = seen_from_b(F_RDLCK, 150, 100);
    CHECK_EQ(s.l_type, F_WRLCK);
    CHECK_EQ(s.l_start, 200);
    CHECK_EQ(s.l_len, 0);                                   /* to the end */
    /* A read lock over the hole: WR [0,49] RD [50,249] WR [250,EOF). */
    CHECK_EQ(lk(fa, F_SETLK, F_RDLCK, 50, 200), 0);
    s = seen_from_b(F_RDLCK, 0, EOFF);
    CHECK_EQ(s.l_type, F_WRLCK);
    CHECK_EQ(s.l_start, 0);
    CHECK_EQ(s.l_len, 50);
    s = seen_from_b(F_RDLCK, 50, 200);
    CHECK_EQ(s.l_type, F_UNLCK);                            /* readers share */
    s = seen_from_b(F_WRLCK, 60, 10);
    CHECK_EQ(s.l_type, F_RDLCK);
    CHECK_EQ(s.l_start, 50);
    CHECK_EQ(s.l_len, 200);
    /* Write-locking the middle again merges everything into one lock. */
    CHECK_EQ(lk(fa, F_SETLK, F_WRLCK, 50, 200), 0);
    s = seen_from_b(F_RDLCK, 1000, 1);
    CHECK_EQ(s.l_type, F_WRLCK);
    CHECK_EQ(s.l_start, 0);
    CHECK_EQ(s.l_len, 0);
    /* Adjacent read locks merge; unlocking the front leaves the back. */
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
    CHECK_EQ(lk(fa, F_SETLK, F_RDLCK, 10, 10), 0);
    CHECK_EQ(lk(fa, F_SETLK, F_RDLCK, 20, 10), 0);
    s = seen_from_b(F_WRLCK, 0, EOFF);
    CHECK_EQ(s.l_type, F_RDLCK);
    CHECK_EQ(s.l_start, 10);
    CHECK_EQ(s.l_len, 20);
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, 15), 0);
    s = seen_from_b(F_WRLCK, 0, EOFF);
    CHECK_EQ(s.l_start, 15);
    CHECK_EQ(s.l_len, 15);
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
    s = seen_from_b(F_WRLCK, 0, EOFF);
    CHECK_EQ(s.l_type, F_UNLCK);
    close(fa);
}

static void test_setlkw_waits_for_release(void)
{
    int fa = open_file(pa), hold[2], tell[2];
    REQUIRE(fa >= 0 && pipe(hold) == 0 && pipe(tell) == 0);
    CHECK_EQ(lk(fa, F_SETLK, F_WRLCK, 0, 10), 0);
    struct job j = { pb, F_SETLKW, F_WRLCK, 5, 1, -1, tell[1] };
    pid_t pid = spawn(job_run, &j);
    CHECK(blocked_in(pid, SYS_fcntl));
    CHECK(!got_byte(tell[0], 300));                         /* it waits ... */
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, 10), 0);
    CHECK(got_byte(tell[0], 10000));                        /* ... until the release */
    CHECK_EQ(reap(pid, 15), 0);
    close(fa);
    close(hold[0]);
    close(hold[1]);
    close(tell[0]);
    close(tell[1]);
}

/* Two processes on two mounts each hold a byte and want the other's: the one
 * that closes the cycle gets EDEADLK (Linux's rule); the other then gets its lock. */
static int deadlock_child(void *arg)
{
    int *pipes = arg;   /* [0]: read "go", [1]: write "holding" */
    int fd = open_file(pb);
    if (fd < 0 || lk(fd, F_SETLK, F_WRLCK, 1, 1) < 0)
        return 100;
    char c;
    if (write(pipes[1], "x", 1) != 1 || read(pipes[0], &c, 1) != 1)
        return 101;
    int rc = lk(fd, F_SETLKW, F_WRLCK, 0, 1);
    return rc == 0 ? 0 : rc == -EDEADLK ? 1 : 102;   /* exit releases everything */
}

static void test_deadlock_between_mounts(void)
{
    int fa = open_file(pa), go[2], held[2];
    REQUIRE(fa >= 0 && pipe(go) == 0 && pipe(held) == 0);
    CHECK_EQ(lk(fa, F_SETLK, F_WRLCK, 0, 1), 0);
    int pipes[2] = { go[0], held[1] };
    pid_t pid = spawn(deadlock_child, pipes);
    CHECK(got_byte(held[0], 10000));
    CHECK(write(go[1], "x", 1) == 1);
    CHECK(blocked_in(pid, SYS_fcntl));
    int mine = lk(fa, F_SETLKW, F_WRLCK, 1, 1);
    if (mine == -EDEADLK) {
        /* We closed the cycle: let the child have byte 0. */
        CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
        CHECK_EQ(reap(pid, 15), 0);
    } else {
        /* The child's request reached the server after ours: it closed the cycle. */
        CHECK_EQ(mine, 0);
        CHECK_EQ(reap(pid, 15), 1);
    }
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
    close(fa);
    close(go[0]);
    close(go[1]);
    close(held[0]);
    close(held[1]);
}

static int interrupted_child(void *arg)
{
    (void)arg;
    int fd = open_file(pb);
    if (fd < 0)
        return 100;
    int rc = lk(fd, F_SETLKW, F_WRLCK, 0, 10);
    return rc == -EINTR ? 0 : rc == 0 ? 101 : 102;
}

static void test_signal_interrupts_setlkw(void)
{
    int fa = open_file(pa);
    REQUIRE(fa >= 0);
    CHECK_EQ(lk(fa, F_SETLK, F_RDLCK, 0, 10), 0);
    pid_t pid = spawn(interrupted_child, NULL);
    CHECK(blocked_in(pid, SYS_fcntl));
    double t0 = now_s();
    kill(pid, SIGUSR1);
    CHECK_EQ(reap(pid, 15), 0);                             /* EINTR */
    CHECK(now_s() - t0 < 5);
    /* No lock was left behind: a writer gets the range once we let go. */
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
    struct job j = { pb, F_SETLK, F_WRLCK, 0, 10, -1, -1 };
    CHECK_EQ(reap(spawn(job_run, &j), 15), 0);
    close(fa);
}

static void test_ofd_locks(void)
{
    int f1 = open_file(pa), f2 = open_file(pa);
    REQUIRE(f1 >= 0 && f2 >= 0);
    CHECK_EQ(lk(f1, F_OFD_SETLK, F_WRLCK, 0, 10), 0);
    /* Another open file of the same process is another owner. */
    CHECK_EQ(lk(f2, F_OFD_SETLK, F_WRLCK, 5, 1), -EAGAIN);
    struct flock fl = probe(f2, F_OFD_GETLK, F_RDLCK, 0, EOFF);
    CHECK_EQ(fl.l_type, F_WRLCK);
    CHECK_EQ(fl.l_start, 0);
    CHECK_EQ(fl.l_len, 10);
    /* ... and a POSIX lock of this process on another mount conflicts too. */
    struct job j = { pb, F_SETLK, F_RDLCK, 0, 1, -1, -1 };
    CHECK_EQ(reap(spawn(job_run, &j), 15), EAGAIN);
    /* Closing another fd of the file does not end an OFD lock (it would a POSIX one). */
    int f3 = open_file(pa);
    CHECK(f3 >= 0);
    close(f3);
    CHECK_EQ(reap(spawn(job_run, &j), 15), EAGAIN);
    /* The last close of its open file does: when the kernel's RELEASE of the
     * open file arrives, which FUSE sends after close(2) returned (in the
     * background), so another process may see the lock a moment longer. */
    close(f1);
    int got = -1;
    for (double end = now_s() + 10; got != 0 && now_s() < end; pause_ms(20))
        got = reap(spawn(job_run, &j), 15);
    CHECK_EQ(got, 0);
    CHECK_EQ(lk(f2, F_OFD_SETLKW, F_WRLCK, 0, 10), 0);
    close(f2);
}

static void test_close_releases_posix_locks(void)
{
    int f1 = open_file(pa);
    REQUIRE(f1 >= 0);
    CHECK_EQ(lk(f1, F_SETLK, F_WRLCK, 0, 10), 0);
    struct job j = { pb, F_SETLK, F_WRLCK, 0, 10, -1, -1 };
    CHECK_EQ(reap(spawn(job_run, &j), 15), EAGAIN);
    /* Closing any fd of the file ends the process's locks, as POSIX says. */
    int f2 = open_file(pa);
    CHECK(f2 >= 0);
    close(f2);
    CHECK_EQ(reap(spawn(job_run, &j), 15), 0);
    close(f1);
}

static void test_killed_holder_frees_lock(void)
{
    int tell[2];
    REQUIRE(pipe(tell) == 0);
    struct job j = { pa, F_SETLK, F_WRLCK, 0, EOFF, -1, tell[1] };
    int hold[2];
    REQUIRE(pipe(hold) == 0);
    j.hold_fd = hold[0];
    pid_t pid = spawn(job_run, &j);
    CHECK(got_byte(tell[0], 10000));
    struct job b = { pb, F_SETLK, F_WRLCK, 0, 1, -1, -1 };
    CHECK_EQ(reap(spawn(job_run, &b), 15), EAGAIN);
    kill(pid, SIGKILL);
    CHECK_EQ(reap(pid, 15), 128 + SIGKILL);
    b.cmd = F_SETLKW;                                       /* (the child's alarm bounds it) */
    CHECK_EQ(reap(spawn(job_run, &b), 15), 0);
    close(tell[0]);
    close(tell[1]);
    close(hold[0]);
    close(hold[1]);
}

/* Many processes waiting for locks must not stop the mount serving others. */
static void test_many_waiters_do_not_freeze_the_mount(void)
{
    enum { N = 20 };
    int fa = open_file(pa);
    REQUIRE(fa >= 0);
    CHECK_EQ(lk(fa, F_SETLK, F_WRLCK, 0, EOFF), 0);
    pid_t pids[N];
    struct job j = { pb, F_SETLKW, F_WRLCK, 0, 1, -1, -1 };
    for (int i = 0; i < N; i++) {
        j.start = i;
        pids[i] = spawn(job_run, &j);
    }
    for (int i = 0; i < N; i++)
        CHECK(blocked_in(pids[i], SYS_fcntl));
    /* B still answers: a new file, a write, a read, a stat. */
    char path[4200], buf[16];
    snprintf(path, sizeof path, "%s/while-waiting", B);
    double t0 = now_s();
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello", 5) == 5);
    CHECK(pread(fd, buf, 5, 0) == 5);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
    close(fd);
    unlink(path);
    CHECK(now_s() - t0 < 5);
    CHECK_EQ(lk(fa, F_SETLK, F_UNLCK, 0, EOFF), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(reap(pids[i], 20), 0);
    close(fa);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MOUNT_A MOUNT_B\n", argv[0]);
        return 2;
    }
    A = argv[1];
    B = argv[2];
    snprintf(pa, sizeof pa, "%s/locks.file", A);
    snprintf(pb, sizeof pb, "%s/locks.file", B);
    int fd = open_file(pa);
    if (fd < 0)
        return 1;
    close(fd);
    RUN(test_conflicts_across_mounts);
    RUN(test_split_merge_getlk);
    RUN(test_setlkw_waits_for_release);
    RUN(test_deadlock_between_mounts);
    RUN(test_signal_interrupts_setlkw);
    RUN(test_ofd_locks);
    RUN(test_close_releases_posix_locks);
    RUN(test_killed_holder_frees_lock);
    RUN(test_many_waiters_do_not_freeze_the_mount);
    unlink(pa);
    return test_summary();
}
