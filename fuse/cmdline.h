/* cmdline.h - benchfs-fuse's command line: its own flags (also in mount(8)'s
 * -o form), the -o options of struct bfs_fuse_opts, and the usage text.
 * libfuse parses the rest (fuse_parse_cmdline, fuse_parse_conn_info_opts).
 * For main's thread, before the mount; messages go to stderr. */
#ifndef BENCHFS_FUSE_CMDLINE_H
#define BENCHFS_FUSE_CMDLINE_H

#include <stdio.h>

#include "ops.h"

#define PROG "benchfs-fuse"

enum { EXIT_USAGE = 2 };

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

/* The short usage to out; --help's text (with libfuse's options) to stdout. */
void cli_usage_short(FILE *out);
void cli_usage_long(void);

/* Takes our flags out of argv (libfuse's option parser knows neither them nor
 * the "--flag VALUE" form, nor our options inside -o) into *cli, and leaves
 * the rest, in order, in *rest. Returns 0, or -1 after printing what is wrong.
 * Either way cli->owned[] are the caller's to free. */
int cli_prescan(int argc, char **argv, struct cli *cli, struct fuse_args *rest);

/* Takes the options of struct bfs_fuse_opts out of args into *o (-o ro/rw are
 * noted and stay for libfuse, as does all it does not know) and checks the
 * timeouts. 0, or -1 after a message. */
int cli_parse_opts(struct fuse_args *args, struct bfs_fuse_opts *o);

#endif
