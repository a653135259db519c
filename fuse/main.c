/* main.c - benchfs-fuse: command line, daemonizing, and the FUSE session.
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
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/version.h"
#include "lockops.h"
#include "loop.h"
#include "openfiles.h"
#include "pagecache.h"

#define PROG "benchfs-fuse"
/* Files whose cached pages can be kept across opens (32 bytes each). */
#define PAGECACHE_SLOTS 65536

enum { EXIT_USAGE = 2 };
enum { KEY_RO, KEY_RW };   /* mount options we note and pass on */

/* Our own flags, taken out of argv before libfuse sees it. */
struct cli {
    const char *registry_dir;
    const char *log_file;
    char *owned[2];           /* -o registry= and -o log_file= values */
    double registry_timeout_s;
    double rpc_timeout_s;
    int help;
    int version;
};

static const struct fuse_opt bfs_opt_spec[] = {
    { "entry_timeout=%lf", offsetof(struct bfs_fuse_opts, entry_timeout), 0 },
    { "attr_timeout=%lf", offsetof(struct bfs_fuse_opts, attr_timeout), 0 },
    { "negative_timeout=%lf", offsetof(struct bfs_fuse_opts, negative_timeout), 0 },
    { "direct_io", offsetof(struct bfs_fuse_opts, direct_io), 1 },
    { "writeback_cache", offsetof(struct bfs_fuse_opts, writeback_cache), 1 },
    { "no_writeback_cache", offsetof(struct bfs_fuse_opts, writeback_cache), 0 },
    /* Taken here and given back to libfuse unless turned off (see main). */
    { "default_permissions", offsetof(struct bfs_fuse_opts, no_default_permissions), 0 },
    { "no_default_permissions", offsetof(struct bfs_fuse_opts, no_default_permissions), 1 },
    { "noxattr", offsetof(struct bfs_fuse_opts, noxattr), 1 },
    /* Ours, not the kernel's: FUSE inodes are S_NOATIME, the daemon keeps atime. */
    { "relatime", offsetof(struct bfs_fuse_opts, atime), BFS_ATIME_RELATIME },
    { "noatime", offsetof(struct bfs_fuse_opts, atime), BFS_ATIME_NEVER },
    { "strictatime", offsetof(struct bfs_fuse_opts, atime), BFS_ATIME_STRICT },
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("rw", KEY_RW),
    FUSE_OPT_END
};

static void usage_short(FILE *out)
{
    fprintf(out,
            "usage: " PROG " MOUNTPOINT --registry-dir DIR [--timeout S] [--rpc-timeout S]\n"
            "       [--log-file FILE] [-f] [-d] [-s] [-o opt,...]\n"
            "       " PROG " REGISTRY_DIR MOUNTPOINT [-o registry options,...]   (mount(8)'s form)\n"
            "       " PROG " --help | --version\n");
}

static void usage_long(void)
{
    usage_short(stdout);
    printf("\nMounts the BenchFS file system whose servers registered in DIR.\n\n"
           "BenchFS options:\n"
           "    --registry-dir DIR     registry directory shared with the servers (required)\n"
           "    --timeout S            wait up to S seconds for the servers to register (default 30)\n"
           "    --rpc-timeout S        fail an RPC after S seconds without answer (default 30)\n"
           "    --log-file FILE        also append log lines to FILE (a daemon logs to syslog too)\n"
           "    -o registry=DIR, -o timeout=S, -o rpc_timeout=S, -o log_file=FILE\n"
           "                           the same as options (for mount -t fuse.benchfs and fstab,\n"
           "                           where the registry may also be the source: see README)\n"
           "    -o entry_timeout=S     kernel caches names for S seconds (default 1.0)\n"
           "    -o attr_timeout=S      kernel caches attributes for S seconds (default 1.0)\n"
           "    -o negative_timeout=S  kernel caches missing names for S seconds (default 1.0, 0: off)\n"
           "    -o direct_io           bypass the kernel page cache for file data\n"
           "    -o writeback_cache     let the kernel gather writes (single-client use)\n"
           "    -o no_default_permissions\n"
           "                           do not let the kernel check permissions (default_permissions\n"
           "                           is on by default): then nothing checks them, and with\n"
           "                           allow_other any local user may change or remove any file\n"
           "    -o noxattr             no extended attributes or ACLs on this mount: the kernel then\n"
           "                           asks nothing before each write (one FUSE round trip less)\n"
           "    -o relatime            a read updates atime if it is not newer than mtime/ctime\n"
           "                           or is 24 h old (default); -o noatime: never;\n"
           "                           -o strictatime: at every open for reading\n"
           "    -o max_threads=N       threads serving requests (default 10): one serves a stream of\n"
           "                           calls, others join while calls wait on the servers\n"
           "                           (-o clone_fd: libfuse's own loop instead)\n"
           "    -o max_write=N, max_readahead=N, max_background=N, ...\n"
           "                           FUSE connection tunables (see mount.fuse3(8))\n"
           "Data is cached with close-to-open consistency: a file written and closed on one\n"
           "client is seen whole by an open on another. Logging: BENCHFS_LOG=error|warn|info|debug.\n\n");
    fuse_cmdline_help();
    fuse_lowlevel_help();
}

/* Notes -o ro / rw (a read-only mount records no atime) and keeps every
 * option it is given for libfuse. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)arg;
    (void)outargs;
    struct bfs_fuse_opts *o = data;
    if (key == KEY_RO || key == KEY_RW)
        o->read_only = key == KEY_RO;
    return 1;
}

/* --timeout and --rpc-timeout: the library reads 0 as "use the default". */
static int parse_seconds(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0) {
        fprintf(stderr, PROG ": %s wants a number of seconds > 0, not '%s'\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Matches "--flag VALUE" and "--flag=VALUE"; *i is advanced past a separate
 * value. Returns 1 and sets *val on a match, 0 if arg is another flag, -1 when
 * the value is missing. */
static int take_flag(const char *flag, int argc, char **argv, int *i, const char **val)
{
    size_t n = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n", flag);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

/* Takes our flags out of argv (libfuse's option parser knows neither them nor
 * the "--flag VALUE" form) and leaves the rest, in order, in *rest.
 * Returns 0, or -1 after printing what is wrong. */
/* Our options given as -o NAME=VALUE (what mount(8), fstab and mount.fuse3
 * pass): registry=DIR, timeout=S, rpc_timeout=S, log_file=FILE are taken, the
 * rest of the list goes on to libfuse as one -o. 0 or -1 after a message. */
static int take_mount_opts(const char *list, struct cli *cli, struct fuse_args *rest)
{
    char *copy = strdup(list), *keep = NULL, *next = copy;
    int rc = copy ? 0 : -1;
    while (rc == 0 && next && *next) {
        /* One option: up to a ',' that is not escaped ("\,", as libfuse writes). */
        char *o = next, *p = next;
        while (*p && *p != ',')
            p += p[0] == '\\' && p[1] ? 2 : 1;
        next = *p ? p + 1 : NULL;
        *p = '\0';
        if (!*o)
            continue;
        char *val = strchr(o, '=');
        if (val && strncmp(o, "registry=", 9) == 0 && val[1]) {
            free(cli->owned[0]);
            cli->registry_dir = cli->owned[0] = strdup(val + 1);
        } else if (val && strncmp(o, "log_file=", 9) == 0 && val[1]) {
            free(cli->owned[1]);
            cli->log_file = cli->owned[1] = strdup(val + 1);
        } else if (val && strncmp(o, "timeout=", 8) == 0) {
            rc = parse_seconds("-o timeout", val + 1, &cli->registry_timeout_s);
        } else if (val && strncmp(o, "rpc_timeout=", 12) == 0) {
            rc = parse_seconds("-o rpc_timeout", val + 1, &cli->rpc_timeout_s);
        } else if (fuse_opt_add_opt(&keep, o) != 0) {   /* o keeps its escapes */
            rc = -1;
        }
    }
    if (rc == 0 && keep) {
        fuse_opt_add_arg(rest, "-o");
        fuse_opt_add_arg(rest, keep);
    }
    free(keep);
    free(copy);
    return rc;
}

static int prescan(int argc, char **argv, struct cli *cli, struct fuse_args *rest)
{
    const char *first_positional = NULL;
    int positional = 0;
    fuse_opt_add_arg(rest, argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val;
        int r;
        if (strcmp(a, "--") == 0) {
            for (; i < argc; i++)
                fuse_opt_add_arg(rest, argv[i]);
            break;
        }
        if ((strcmp(a, "-o") == 0 && i + 1 < argc) || (strncmp(a, "-o", 2) == 0 && a[2])) {
            /* The value of -o belongs to libfuse and to bfs_opt_spec, but for
             * our own options in mount(8)'s form (fstab has only -o). */
            const char *v = a[2] ? a + 2 : argv[++i];
            if (take_mount_opts(v, cli, rest) < 0)
                return -1;
            continue;
        }
        if (a[0] != '-' && positional++ == 0) {
            first_positional = a;   /* SOURCE or MOUNTPOINT: decided at the end */
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli->help = 1;
            continue;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            cli->version = 1;
            continue;
        }
        if ((r = take_flag("--registry-dir", argc, argv, &i, &val)) != 0) {
            if (r < 0)
                return -1;
            if (!*val) {
                fprintf(stderr, PROG ": --registry-dir must not be empty\n");
                return -1;
            }
            cli->registry_dir = val;
            continue;
        }
        if ((r = take_flag("--log-file", argc, argv, &i, &val)) != 0) {
            if (r < 0)
                return -1;
            cli->log_file = val;
            continue;
        }
        if ((r = take_flag("--timeout", argc, argv, &i, &val)) != 0) {
            if (r < 0 || parse_seconds("--timeout", val, &cli->registry_timeout_s) < 0)
                return -1;
            continue;
        }
        if ((r = take_flag("--rpc-timeout", argc, argv, &i, &val)) != 0) {
            if (r < 0 || parse_seconds("--rpc-timeout", val, &cli->rpc_timeout_s) < 0)
                return -1;
            continue;
        }
        fuse_opt_add_arg(rest, a);
    }
    /* "benchfs-fuse REGISTRY MOUNTPOINT" (how mount.fuse3 calls a file system:
     * source first) when no --registry-dir said otherwise. */
    if (first_positional && positional >= 2 && !cli->registry_dir)
        cli->registry_dir = first_positional;
    else if (first_positional)
        fuse_opt_insert_arg(rest, 1, first_positional);
    return 0;
}

static int check_timeouts(const struct bfs_fuse_opts *o)
{
    const struct { const char *name; double v; } t[] = {
        { "entry_timeout", o->entry_timeout },
        { "attr_timeout", o->attr_timeout },
        { "negative_timeout", o->negative_timeout },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!isfinite(t[i].v) || t[i].v < 0) {
            fprintf(stderr, PROG ": -o %s wants seconds >= 0\n", t[i].name);
            return -1;
        }
    }
    return 0;
}

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
    struct fuse_session *se = fuse_session_new(args, &ops, sizeof ops, fs);
    if (!se) {
        /* libfuse has said which option it did not understand. */
        report_status(&status_fd, EXIT_USAGE);
        return EXIT_USAGE;
    }
    fs->se = se;

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
    if (prescan(argc, argv, &cli, &args) < 0) {
        usage_short(stderr);
        fuse_opt_free_args(&args);
        free(cli.owned[0]);
        free(cli.owned[1]);
        return EXIT_USAGE;
    }
    if (cli.help) {
        usage_long();
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
        usage_short(stderr);
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
        usage_short(stderr);
        goto out;
    }
    if (!cli.registry_dir) {
        fprintf(stderr, PROG ": --registry-dir DIR is required (the directory the servers "
                        "registered in)\n");
        usage_short(stderr);
        goto out;
    }
    if (fuse_opt_parse(&args, &fs.opts, bfs_opt_spec, opt_proc) != 0 || check_timeouts(&fs.opts) < 0)
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
    fs.xattrs = xattrcache_new();
    fs.locks = lockstate_new();
    /* With writeback caching the kernel owns a file's times and its dirty
     * pages, and with direct_io there are no pages: only plain page caching
     * keeps pages across opens. */
    if (!fs.opts.writeback_cache && !fs.opts.direct_io)
        fs.pages = pagecache_new(PAGECACHE_SLOTS);
    if (!fs.open || !fs.dirs || !fs.xattrs || !fs.locks || (!fs.opts.writeback_cache && !fs.opts.direct_io && !fs.pages)) {
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
