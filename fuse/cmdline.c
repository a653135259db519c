/* cmdline.c - benchfs-fuse's command line (see cmdline.h): our flags and
 * mount(8)'s -o forms of them taken out of argv, the -o options of
 * struct bfs_fuse_opts, and the usage text. */
#include "cmdline.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { KEY_RO, KEY_RW };   /* mount options we note and pass on */

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

void cli_usage_short(FILE *out)
{
    fprintf(out,
            "usage: " PROG " MOUNTPOINT --registry-dir DIR [--timeout S] [--rpc-timeout S]\n"
            "       [--log-file FILE] [-f] [-d] [-s] [-o opt,...]\n"
            "       " PROG " REGISTRY_DIR MOUNTPOINT [-o registry options,...]   (mount(8)'s form)\n"
            "       " PROG " --help | --version\n");
}

void cli_usage_long(void)
{
    cli_usage_short(stdout);
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

int cli_prescan(int argc, char **argv, struct cli *cli, struct fuse_args *rest)
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

int cli_parse_opts(struct fuse_args *args, struct bfs_fuse_opts *o)
{
    return fuse_opt_parse(args, o, bfs_opt_spec, opt_proc) != 0 || check_timeouts(o) < 0 ? -1 : 0;
}
