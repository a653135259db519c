/* ops_client.c - the benchmark's operations as client-library calls: each
 * timed operation is exactly one RPC-level call (bfs_create, bfs_write,
 * bfs_read), so the numbers show the cost of the RPC path without FUSE.
 *
 * Handles are inode numbers. Files and directories are made with the
 * caller's uid and gid, as a mount would.
 */
#include "ops.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/client.h"
#include "../common/types.h"

struct client_ctx {
    struct bfs_client *c;
    uint32_t uid, gid;
};

static int cl_mkdir(void *ctx, bench_handle parent, const char *name, bench_handle *out)
{
    struct client_ctx *x = ctx;
    struct bfs_attr a;
    int rc = bfs_create(x->c, parent, name, S_IFDIR | 0755, x->uid, x->gid, &a);
    if (rc < 0)
        return rc;
    *out = a.ino;
    return 0;
}

static void cl_put_dir(void *ctx, bench_handle dir)
{
    (void)ctx, (void)dir;   /* an inode number holds nothing */
}

static int cl_rmdir(void *ctx, bench_handle parent, const char *name)
{
    struct client_ctx *x = ctx;
    return bfs_rmdir(x->c, parent, name);
}

static int cl_create(void *ctx, bench_handle dir, const char *name)
{
    struct client_ctx *x = ctx;
    struct bfs_attr a;
    return bfs_create(x->c, dir, name, S_IFREG | 0644, x->uid, x->gid, &a);
}

static int cl_prepare(void *ctx, bench_handle dir, const char *name, bench_handle *file)
{
    struct client_ctx *x = ctx;
    struct bfs_attr a;
    int rc = bfs_create(x->c, dir, name, S_IFREG | 0644, x->uid, x->gid, &a);
    if (rc < 0)
        return rc;
    *file = a.ino;
    return 0;
}

static int cl_write(void *ctx, bench_handle dir, const char *name, bench_handle file,
                    const void *buf, size_t n)
{
    struct client_ctx *x = ctx;
    (void)dir, (void)name;
    ssize_t w = bfs_write(x->c, file, buf, n, 0);
    if (w < 0)
        return (int)w;
    return (size_t)w == n ? 0 : -EIO;   /* the library promises all or an error */
}

static ssize_t cl_read(void *ctx, bench_handle dir, const char *name, bench_handle file,
                       void *buf, size_t n)
{
    struct client_ctx *x = ctx;
    (void)dir, (void)name;
    return bfs_read(x->c, file, buf, n, 0);
}

static int cl_unlink(void *ctx, bench_handle dir, const char *name)
{
    struct client_ctx *x = ctx;
    return bfs_unlink(x->c, dir, name, 0);
}

static void cl_close(void *ctx, bench_handle root)
{
    (void)root;
    free(ctx);
}

static const struct bench_ops client_ops = {
    .mkdir = cl_mkdir,
    .put_dir = cl_put_dir,
    .rmdir = cl_rmdir,
    .create = cl_create,
    .prepare = cl_prepare,
    .write = cl_write,
    .read = cl_read,
    .unlink = cl_unlink,
    .close = cl_close,
};

int bench_target_client(struct bfs_client *c, struct bench_target *t)
{
    struct client_ctx *x = malloc(sizeof *x);
    if (!x)
        return -ENOMEM;
    x->c = c;
    x->uid = (uint32_t)getuid();
    x->gid = (uint32_t)getgid();
    t->ops = &client_ops;
    t->ctx = x;
    t->root = BFS_ROOT_INO;
    return 0;
}
