/* fork.c - fork, exec and spawn. A preload file lives in this process's
 * memory and connection, which a child does not get (UCX does not survive
 * fork) and an exec'd program does not have at all. So before fork every
 * preload fd is converted into a kernel fd through the mount (fdtable.c):
 * parent and child then share the kernel's open file description and its
 * offset, exactly as POSIX says. The child forgets the parent's connections
 * and connects anew on its next BenchFS call. Before exec, the fds without
 * FD_CLOEXEC are converted (the others close themselves). posix_spawn and
 * system() clone without fork handlers, so they are wrapped too; vfork is
 * fork here (its child would otherwise share our table's memory). */
#include "preload.h"

#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void prepare(void)
{
    if (!pl_off())
        pl_fd_convert_all(0, "fork");
}

static void child(void)
{
    pl_mounts_forget();
    pl_fd_orphan_all();
    pl_dirs_forked();
}

void pl_fork_register(void)
{
    if (pthread_atfork(prepare, NULL, child) != 0)
        pl_warn("pthread_atfork failed: fork will not convert preload fds");
}

static void before_exec(int all)
{
    if (!pl_off())
        pl_fd_convert_all(!all, "exec");
}

pid_t vfork(void)
{
    return fork();
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec(0);
    return REAL(execve)(path, argv, envp);
}
int execv(const char *path, char *const argv[])
{
    before_exec(0);
    return REAL(execv)(path, argv);
}
int execvp(const char *file, char *const argv[])
{
    before_exec(0);
    return REAL(execvp)(file, argv);
}
int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec(0);
    return REAL(execvpe)(file, argv, envp);
}
int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec(0);
    return REAL(fexecve)(fd, argv, envp);
}
int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    before_exec(0);
    return REAL(execveat)(dirfd, path, argv, envp, flags);
}

/* execl & co.: the arguments into an array (and envp for execle); malloc'd,
 * freed if the exec fails. NULL with errno ENOMEM. */
static char **collect(const char *arg0, va_list ap, char ***envp)
{
    size_t n = 1;
    va_list cp;
    va_copy(cp, ap);
    while (va_arg(cp, char *))
        n++;
    va_end(cp);
    char **argv = malloc((n + 1) * sizeof *argv);
    if (!argv) {
        errno = ENOMEM;
        return NULL;
    }
    argv[0] = (char *)arg0;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);   /* the last is the NULL */
    if (envp)
        *envp = va_arg(ap, char **);
    return argv;
}

int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    char **argv = collect(arg, ap, NULL);
    va_end(ap);
    int rc = argv ? execv(path, argv) : -1;
    free(argv);
    return rc;
}
int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    char **argv = collect(arg, ap, NULL);
    va_end(ap);
    int rc = argv ? execvp(file, argv) : -1;
    free(argv);
    return rc;
}
int execle(const char *path, const char *arg, ...)
{
    char **envp = NULL;
    va_list ap;
    va_start(ap, arg);
    char **argv = collect(arg, ap, &envp);
    va_end(ap);
    int rc = argv ? execve(path, argv, envp) : -1;
    free(argv);
    return rc;
}

/* File actions may dup any fd (CLOEXEC or not) into the child: convert all. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    before_exec(1);
    return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
}
int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    before_exec(1);
    return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
}
int system(const char *cmd)
{
    before_exec(0);
    return REAL(system)(cmd);
}
FILE *popen(const char *cmd, const char *type)
{
    before_exec(0);
    return REAL(popen)(cmd, type);
}
