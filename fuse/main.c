/* main.c - benchfs-fuse: starting it (daemonizing) and the FUSE session; what
 * the command line means is cmdline.c's.
 *
 *   benchfs-fuse MOUNTPOINT --registry-dir DIR [--timeout S] [--rpc-timeout S]
 *                [--log-file FILE] [-f] [-d] [-s] [-o opt,...] [--help] [--version]
 *
 * Logging: every line names the mount point; a daemon (no -f) logs to syslog
 * and, with --log-file, to that file (its stderr is /dev/null once mounted).
 *
 * Order matters: UCX must not be initialised before a fork (its worker threads
 * and shared-memory segments do not survive one), so without -f the process
 * forks FIRST and the child connects to the servers, mounts, and only then
 * tells the waiting parent (through a pipe) that the mount is up. The parent
 * exits 0 once the mount is visible, or 1 (2 for bad usage) when the child
 * failed, after the child has printed why; no mount is left behind either way.
 */
#include "cmdline.h"
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/version.h"
#include "dirstash.h"
#include "lockops.h"
#include "loop.h"
#include "openfiles.h"
#include "pagecache.h"

/* Files whose cached pages can be kept across opens (32 bytes each). */
#define PAGECACHE_SLOTS 65536

/* Tells the waiting parent how the mount went: one byte, the exit status it
 * should report. No-op in the foreground. */
static void report_status(int *status_fd, unsigned char status)
{
    if (*status_fd < 0)
        return;
    ssize_t n;
    do
        n = write(*status_fd, &status, 1);
    while (n < 0 && errno == EINTR);
    close(*status_fd);
    *status_fd = -1;
}

/* The daemon's stdio must not hold the caller's terminal or pipes open. */
static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
}

static void explain_open_failure(const struct cli *cli, int rc)
{
    /* The library has logged the precise cause (RegistryError: ...) above. */
    if (rc == -ETIMEDOUT || rc == -ENOENT)
        fprintf(stderr,
                PROG ": no BenchFS server registered in %s (waited %g s); start "
                "benchfs-server --registry-dir %s first, or wait longer with --timeout\n",
                cli->registry_dir, cli->registry_timeout_s, cli->registry_dir);
    else
        fprintf(stderr, PROG ": cannot connect to the BenchFS servers registered in %s: %s\n",
                cli->registry_dir, strerror(-rc));
}

/* libfuse's own messages (a failed mount, a broken /dev/fuse) join ours, so a
 * daemon's reach syslog and the log file. Its lines end in '\n'; ours add one. */
static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    enum log_level l = level <= FUSE_LOG_ERR ? LOG_ERROR : level <= FUSE_LOG_NOTICE ? LOG_WARN
                     : level == FUSE_LOG_INFO ? LOG_INFO : LOG_DEBUG;
    if ((int)l <= bfs_log_level)
        log_msg(l, "libfuse: %s", msg);
}

/* fuse/loop.h's loop: a request stream stays on one warm thread, and another
 * reads while a handler waits on the servers longer than this. */
#define HANDOFF_S 50e-6

static int serve_mt(struct bfs_fuse *fs, struct fuse_session *se, unsigned max_threads)
{
    if (max_threads < 1 || max_threads > 1000)
        max_threads = 10;   /* libfuse's default, should it give none */
    struct bfs_loop *loop = bfs_loop_new(se, max_threads);
    if (!loop)
        return -ENOMEM;
    log_info("serving requests with up to %u threads", max_threads);
    bfs_client_set_wait_hook(fs->client, bfs_loop_blocked, loop, HANDOFF_S);
    fs->loop = loop;
    bfs_loop_set_stop_hook(loop, lockops_stop, fs);
    int rc = bfs_loop_run(loop);
    fs->loop = NULL;
    /* op_destroy still makes calls, after the loop is gone. */
    bfs_client_set_wait_hook(fs->client, NULL, NULL, 0);
    bfs_loop_free(loop);
    return rc;
}

/* -o allow_other among libfuse's options: other users may use the mount
 * (and so map its node table, kcache.h). */
static int allows_others(const struct fuse_args *args)
{
    for (int i = 1; i < args->argc; i++) {
        const char *p = args->argv[i];
        while ((p = strstr(p, "allow_other")) != NULL) {
            int start = p == args->argv[i] || p[-1] == ',' ||
                        (p - args->argv[i] == 2 && strncmp(args->argv[i], "-o", 2) == 0);
            char end = p[strlen("allow_other")];
            if (start && (end == '\0' || end == ','))
                return 1;
            p++;
        }
    }
    return 0;
}

/* Connects, mounts and serves until unmounted or signalled. status_fd >= 0
 * in the daemon child: the mount outcome is reported there. Returns the exit status. */
static int serve(const struct cli *cli, struct fuse_args *args, struct fuse_cmdline_opts *fopts,
                 struct bfs_fuse *fs, int status_fd)
{
    int ret = 1, handlers = 0, rc;
    /* -o noxattr: without the xattr ops libfuse answers ENOSYS once and the kernel
     * asks no more (not even for security.capability before each write). */
    struct fuse_lowlevel_ops ops = bfs_fuse_ops;
    if (fs->opts.noxattr)
        ops.setxattr = NULL, ops.getxattr = NULL, ops.listxattr = NULL, ops.removexattr = NULL;
    int shared = allows_others(args);   /* before libfuse takes its options out of args */
    struct fuse_session *se = fuse_session_new(args, &ops, sizeof ops, fs);
    if (!se) {
        /* libfuse has said which option it did not understand. */
        report_status(&status_fd, EXIT_USAGE);
        return EXIT_USAGE;
    }
    fs->se = se;
    fs->kcache = kcache_new(fs->opts.attr_timeout, shared);

    struct bfs_client_opts copts = {
        .registry_dir = cli->registry_dir,
        .registry_timeout_s = cli->registry_timeout_s,
        .rpc_timeout_s = cli->rpc_timeout_s,
    };
    rc = bfs_client_open(&copts, &fs->client);
    if (rc < 0) {
        explain_open_failure(cli, rc);
        fs->client = NULL;
        goto out;
    }
    uint32_t chunk = bfs_client_chunk_size(fs->client);
    /* st_blksize: the I/O size that costs one RPC; stdio and cp size their
     * buffers by it. */
    fs->blksize = chunk == 0 ? 4096 : (chunk < BFS_MAX_IO ? chunk : BFS_MAX_IO);

    if (fuse_set_signal_handlers(se) != 0) {
        fprintf(stderr, PROG ": cannot install signal handlers\n");
        goto out;
    }
    handlers = 1;
    if (fuse_session_mount(se, fopts->mountpoint) != 0)
        goto out;   /* libfuse has printed why (not a directory, no permission, ...) */
    log_note("mounted BenchFS (%u server%s, registry %s) on %s", bfs_client_nodes(fs->client),
             bfs_client_nodes(fs->client) == 1 ? "" : "s", cli->registry_dir, fopts->mountpoint);
    if (status_fd >= 0) {
        report_status(&status_fd, 0);
        log_detach();
        detach_stdio();
    }

    if (fopts->singlethread) {
        fs->single_thread = 1;
        rc = fuse_session_loop(se);
    } else if (fopts->clone_fd) {
        /* A /dev/fuse fd per thread is what libfuse's own loop offers. */
        struct fuse_loop_config cfg = {
            .clone_fd = 1,
            /* libfuse leaves UINT_MAX for "not given". */
            .max_idle_threads = fopts->max_idle_threads == UINT_MAX ? 10 : fopts->max_idle_threads,
        };
        rc = fuse_session_loop_mt(se, &cfg);
    } else {
        rc = serve_mt(fs, se, fopts->max_threads);
    }
    /* 0: unmounted; > 0: the signal that stopped us; < 0: an error. */
    ret = rc < 0 ? 1 : 0;
    if (rc < 0)
        log_error("FUSE session ended with an error: %s", strerror(-rc));
    fuse_session_unmount(se);
    log_note("unmounted %s", fopts->mountpoint);

out:
    if (ret != 0)
        log_note("%s: mount failed or ended with an error (exit %d; the lines above say why)",
                 fopts->mountpoint, ret);
    if (handlers)
        fuse_remove_signal_handlers(se);
    /* Destroying the session runs op_destroy, which still needs the client. */
    fuse_session_destroy(se);
    fs->se = NULL;
    kcache_free(fs->kcache);
    fs->kcache = NULL;
    bfs_client_close(fs->client);
    fs->client = NULL;
    report_status(&status_fd, (unsigned char)ret);
    return ret;
}

/* Parent side of the daemon fork: wait for the child's mount outcome. */
static int wait_for_child(pid_t pid, int fd)
{
    unsigned char status;
    ssize_t n;
    do
        n = read(fd, &status, 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n == 1)
        return status;
    int wst = 0;
    if (waitpid(pid, &wst, 0) == pid && WIFSIGNALED(wst))
        fprintf(stderr, PROG ": the mount process was killed by signal %d before mounting\n",
                WTERMSIG(wst));
    else
        fprintf(stderr, PROG ": the mount process exited before mounting\n");
    return 1;
}

int main(int argc, char **argv)
{
    log_init(PROG);

    struct cli cli = { .registry_timeout_s = 30, .rpc_timeout_s = 30 };
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    if (cli_prescan(argc, argv, &cli, &args) < 0) {
        cli_usage_short(stderr);
        fuse_opt_free_args(&args);
        free(cli.owned[0]);
        free(cli.owned[1]);
        return EXIT_USAGE;
    }
    if (cli.help) {
        cli_usage_long();
        fuse_opt_free_args(&args);
        free(cli.owned[0]);
        free(cli.owned[1]);
        return 0;
    }
    if (cli.version) {
        printf(PROG " %s\nFUSE library version %s\n", BENCHFS_VERSION, fuse_pkgversion());
        fflush(stdout);   /* fuse_lowlevel_version runs fusermount3, which writes directly */
        fuse_lowlevel_version();
        fuse_opt_free_args(&args);
        free(cli.owned[0]);
        free(cli.owned[1]);
        return 0;
    }

    /* The daemon works from "/", and benchfs-stage finds the registry in the
     * mount's name: make a relative --registry-dir absolute. */
    char *abs_registry = NULL;
    if (cli.registry_dir && cli.registry_dir[0] != '/') {
        abs_registry = realpath(cli.registry_dir, NULL);
        if (!abs_registry) {
            char cwd[PATH_MAX];
            size_t n = strlen(cli.registry_dir) + PATH_MAX + 2;
            if (getcwd(cwd, sizeof cwd) && (abs_registry = malloc(n)))
                snprintf(abs_registry, n, "%s/%s", cwd, cli.registry_dir);
        }
        if (abs_registry)
            cli.registry_dir = abs_registry;
    }

    /* Name the mount after its cluster ("benchfs:DIR" in mount and df, type
     * fuse.benchfs); put first, so the user's own -o fsname=/subtype= win
     * (and before fuse_parse_cmdline, which else adds subtype=PROGNAME). */
    if (cli.registry_dir) {
        char *defaults = NULL;
        size_t fsname_len = strlen("fsname=benchfs:") + strlen(cli.registry_dir) + 1;
        char *fsname = malloc(fsname_len);
        if (fsname) {
            snprintf(fsname, fsname_len, "fsname=benchfs:%s", cli.registry_dir);
            if (fuse_opt_add_opt_escaped(&defaults, fsname) == 0 &&
                fuse_opt_add_opt(&defaults, "subtype=benchfs") == 0) {
                fuse_opt_insert_arg(&args, 1, defaults);
                fuse_opt_insert_arg(&args, 1, "-o");
            }
        }
        free(fsname);
        free(defaults);
    }

    struct fuse_cmdline_opts fopts;
    memset(&fopts, 0, sizeof fopts);
    if (fuse_parse_cmdline(&args, &fopts) != 0) {
        cli_usage_short(stderr);
        fuse_opt_free_args(&args);
        free(abs_registry);
        free(cli.owned[0]);
        free(cli.owned[1]);
        return EXIT_USAGE;
    }

    if (fopts.mountpoint)
        log_set_tag(fopts.mountpoint);
    if (cli.log_file) {
        int lrc = log_open_file(cli.log_file);
        if (lrc < 0) {
            fprintf(stderr, PROG ": cannot open log file %s: %s\n", cli.log_file, strerror(-lrc));
            free(fopts.mountpoint);
            fuse_opt_free_args(&args);
            free(abs_registry);
            free(cli.owned[0]);
            free(cli.owned[1]);
            return 1;
        }
    }

    struct bfs_fuse fs;
    memset(&fs, 0, sizeof fs);
    fs.opts.entry_timeout = 1.0;
    fs.opts.attr_timeout = 1.0;
    fs.opts.negative_timeout = 1.0;
    int ret = EXIT_USAGE;

    if (!fopts.mountpoint) {
        fprintf(stderr, PROG ": no mount point given\n");
        cli_usage_short(stderr);
        goto out;
    }
    if (!cli.registry_dir) {
        fprintf(stderr, PROG ": --registry-dir DIR is required (the directory the servers "
                        "registered in)\n");
        cli_usage_short(stderr);
        goto out;
    }
    if (cli_parse_opts(&args, &fs.opts) < 0)
        goto out;
    fs.conn_opts = fuse_parse_conn_info_opts(&args);
    if (!fs.conn_opts)
        goto out;
    /* The servers trust the ids the client sends, so permission checks are the
     * kernel's (default_permissions); turning them off is the user's explicit choice. */
    if (!fs.opts.no_default_permissions) {
        if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0) {
            fprintf(stderr, PROG ": out of memory\n");
            ret = 1;
            goto out;
        }
    } else {
        fprintf(stderr, PROG ": warning: -o no_default_permissions: file access is not "
                        "checked; with allow_other any local user may read, change or "
                        "remove any file on the mount\n");
    }
    /* -d shows libfuse's request trace; show ours too unless BENCHFS_LOG chose. */
    if (fopts.debug && !getenv("BENCHFS_LOG"))
        bfs_log_level = LOG_DEBUG;

    fs.open = openfiles_new();
    fs.dirs = dircache_new();
    fs.dstash = dirstash_new(1024, fs.opts.attr_timeout);
    fs.xattrs = xattrcache_new();
    fs.locks = lockstate_new();
    /* With writeback caching the kernel owns a file's times and its dirty
     * pages, and with direct_io there are no pages: only plain page caching
     * keeps pages across opens. */
    if (!fs.opts.writeback_cache && !fs.opts.direct_io)
        fs.pages = pagecache_new(PAGECACHE_SLOTS);
    if (!fs.open || !fs.dirs || !fs.dstash || !fs.xattrs || !fs.locks || (!fs.opts.writeback_cache && !fs.opts.direct_io && !fs.pages)) {
        fprintf(stderr, PROG ": out of memory\n");
        ret = 1;
        goto out;
    }

    if (fopts.foreground) {
        ret = serve(&cli, &args, &fopts, &fs, -1);
        goto out;
    }

    /* Daemon: fork before anything touches UCX or the registry. */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
        ret = 1;
        goto out;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        ret = 1;
        goto out;
    }
    if (pid > 0) {
        close(pfd[1]);
        ret = wait_for_child(pid, pfd[0]);
        goto out;
    }
    close(pfd[0]);
    log_use_syslog();
    fuse_set_log_func(fuse_log_to_ours);
    /* Leave the caller's session and working directory, so that neither a
     * terminal hangup nor an unmountable cwd reaches the daemon. */
    setsid();
    if (chdir("/") != 0)
        log_warn("chdir /: %s", strerror(errno));
    ret = serve(&cli, &args, &fopts, &fs, pfd[1]);

out:
    openfiles_free(fs.open);
    dircache_free(fs.dirs);
    dirstash_free(fs.dstash);
    xattrcache_free(fs.xattrs);
    lockstate_free(fs.locks);
    pagecache_free(fs.pages);
    free(fs.conn_opts);
    free(fopts.mountpoint);
    fuse_opt_free_args(&args);
    free(abs_registry);
    free(cli.owned[0]);
    free(cli.owned[1]);
    log_close();
    return ret;
}
