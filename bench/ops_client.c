/* ops_client.c - the benchmark's operations through libbenchfs, the public
 * client API (lib/benchfs.h): what a program linking the library gets. Each
 * timed operation costs the RPCs of the inode-level call it stands for:
 * a create is benchfs_open(O_CREAT|O_EXCL) + benchfs_close (one CREATE; the
 * directories on the path come from the library's cache), a write one
 * benchfs_pwrite and a read one benchfs_pread on a handle opened untimed
 * (prepare), as a program keeps its files open.
 *
 * Directory handles are malloc'd paths; file handles benchfs_file_t. The
 * open files are kept in a list and closed before the first removal (the
 * cleanup: every phase is over by then).
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct client_ctx {
    benchfs_t *fs;
    pthread_mutex_t mu;
    benchfs_file_t **open;      /* what prepare opened */
    size_t nopen, cap;
};

static const char *path_of(bench_handle h) { return (const char *)(uintptr_t)h; }

/* dir's path + "/" + name into buf (PATH_MAX): 0 or -ENAMETOOLONG. */
static int join(char *buf, bench_handle dir, const char *name)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", path_of(dir), name);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int cl_mkdir(void *ctx, bench_handle parent, const char *name, bench_handle *out)
{
    struct client_ctx *x = ctx;
    char path[PATH_MAX];
    int rc = join(path, parent, name);
    if (rc == 0)
        rc = benchfs_mkdir(x->fs, path, 0755);
    if (rc < 0)
        return rc;
    char *h = strdup(path);
    if (!h) {
        benchfs_rmdir(x->fs, path);   /* do not leave it behind */
        return -ENOMEM;
    }
    *out = (bench_handle)(uintptr_t)h;
    return 0;
}

static void cl_put_dir(void *ctx, bench_handle dir)
{
    (void)ctx;
    free((void *)(uintptr_t)dir);
}

static int cl_rmdir(void *ctx, bench_handle parent, const char *name)
{
    struct client_ctx *x = ctx;
    char path[PATH_MAX];
    int rc = join(path, parent, name);
    return rc < 0 ? rc : benchfs_rmdir(x->fs, path);
}

static int cl_create(void *ctx, bench_handle dir, const char *name)
{
    struct client_ctx *x = ctx;
    char path[PATH_MAX];
    benchfs_file_t *f;
    int rc = join(path, dir, name);
    if (rc == 0)
        rc = benchfs_open(x->fs, path, O_CREAT | O_EXCL | O_WRONLY, 0644, &f);
    if (rc == 0)
        rc = benchfs_close(f);
    return rc;
}

static int cl_prepare(void *ctx, bench_handle dir, const char *name, bench_handle *file)
{
    struct client_ctx *x = ctx;
    char path[PATH_MAX];
    benchfs_file_t *f;
    int rc = join(path, dir, name);
    if (rc < 0)
        return rc;
    /* A slot of its own first (threads prepare at once), filled after the open. */
    pthread_mutex_lock(&x->mu);
    if (x->nopen == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        benchfs_file_t **p = realloc(x->open, cap * sizeof *p);
        if (p) {
            x->open = p;
            x->cap = cap;
        }
    }
    size_t slot = x->nopen;
    rc = slot < x->cap ? 0 : -ENOMEM;
    if (rc == 0)
        x->open[x->nopen++] = NULL;
    pthread_mutex_unlock(&x->mu);
    if (rc == 0)
        rc = benchfs_open(x->fs, path, O_CREAT | O_EXCL | O_RDWR, 0644, &f);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&x->mu);
    x->open[slot] = f;
    pthread_mutex_unlock(&x->mu);
    *file = (bench_handle)(uintptr_t)f;
    return 0;
}

static benchfs_file_t *file_of(bench_handle h) { return (benchfs_file_t *)(uintptr_t)h; }

static int cl_write(void *ctx, bench_handle dir, const char *name, bench_handle file,
                    const void *buf, size_t n)
{
    (void)ctx, (void)dir, (void)name;
    ssize_t w = benchfs_pwrite(file_of(file), buf, n, 0);
    if (w < 0)
        return (int)w;
    return (size_t)w == n ? 0 : -EIO;   /* the library promises all or an error */
}

static ssize_t cl_read(void *ctx, bench_handle dir, const char *name, bench_handle file,
                       void *buf, size_t n)
{
    (void)ctx, (void)dir, (void)name;
    return benchfs_pread(file_of(file), buf, n, 0);
}

static int cl_stat(void *ctx, bench_handle dir, const char *name)
{
    struct client_ctx *x = ctx;
    char path[PATH_MAX];
    struct stat st;
    int rc = join(path, dir, name);
    return rc < 0 ? rc : benchfs_stat(x->fs, path, &st);
}

/* Closes what prepare opened (the phases are over). */
static void close_files(struct client_ctx *x)
{
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->nopen; i++)
        benchfs_close(x->open[i]);   /* NULL (a failed open) is fine */
    x->nopen = 0;
    pthread_mutex_unlock(&x->mu);
}

static int cl_unlink(void *ctx, bench_handle dir, const char *name)
{
    struct client_ctx *x = ctx;
    char path[PATH_MAX];
    close_files(x);   /* an open file would stay (at nlink 0) until its close */
    int rc = join(path, dir, name);
    return rc < 0 ? rc : benchfs_unlink(x->fs, path);
}

static void cl_close(void *ctx, bench_handle root)
{
    struct client_ctx *x = ctx;
    close_files(x);
    free(x->open);
    pthread_mutex_destroy(&x->mu);
    free((void *)(uintptr_t)root);
    free(x);
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
    .stat = cl_stat,
    .close = cl_close,
};

int bench_target_client(benchfs_t *fs, struct bench_target *t)
{
    struct client_ctx *x = calloc(1, sizeof *x);
    char *root = strdup("");   /* children of the root are "/name" */
    if (!x || !root) {
        free(x);
        free(root);
        return -ENOMEM;
    }
    x->fs = fs;
    pthread_mutex_init(&x->mu, NULL);
    t->ops = &client_ops;
    t->ctx = x;
    t->root = (bench_handle)(uintptr_t)root;
    return 0;
}
