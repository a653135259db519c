/* ops.h - the operations benchfs-bench times, behind one table, so that the
 * timing loop (bench.c) is written once and runs unchanged over the client
 * library (ops_client.c) or on a directory (ops_dir.c).
 *
 * Every function returns 0 (or a byte count) or a negative errno, and is safe to
 * call from several threads at once on different handles.
 */
#ifndef BENCHFS_BENCH_OPS_H
#define BENCHFS_BENCH_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../lib/benchfs.h"

/* A directory or file as the back end names it: over RPC a directory's path
 * and an open file's benchfs_file_t, on a directory an open directory
 * descriptor. Files named by a directory handle and a name are looked up by
 * name in dir mode, by handle over RPC. */
typedef uint64_t bench_handle;

struct bench_ops {
    /* Creates directory name (0755) in parent and returns a handle to it. */
    int (*mkdir)(void *ctx, bench_handle parent, const char *name, bench_handle *out);
    /* Gives back a handle from mkdir or the target's root (removes nothing). */
    void (*put_dir)(void *ctx, bench_handle dir);
    int (*rmdir)(void *ctx, bench_handle parent, const char *name);

    /* Timed "Metadata Create": a new empty regular file, mode 0644; -EEXIST if taken. */
    int (*create)(void *ctx, bench_handle dir, const char *name);
    /* Untimed, before the timed write loop: whatever the write needs up front.
     * Over RPC this creates the (empty) file and returns its inode; on a
     * directory it does nothing (the write itself creates the file). */
    int (*prepare)(void *ctx, bench_handle dir, const char *name, bench_handle *file);
    /* Timed "Small Write": n bytes at offset 0 of the file; 0 when all were written. */
    int (*write)(void *ctx, bench_handle dir, const char *name, bench_handle file,
                 const void *buf, size_t n);
    /* Timed "Small Read": up to n bytes at offset 0; returns the count (short at EOF). */
    ssize_t (*read)(void *ctx, bench_handle dir, const char *name, bench_handle file, void *buf,
                    size_t n);
    int (*unlink)(void *ctx, bench_handle dir, const char *name);
    /* Timed "Metadata Stat": the attributes of an existing file (following links). */
    int (*stat)(void *ctx, bench_handle dir, const char *name);
    /* Gives back the context and the root handle (see bench_target_close). */
    void (*close)(void *ctx, bench_handle root);
};

/* Where a run happens: the operations, their context and the directory in
 * which the run directory is made. */
struct bench_target {
    const struct bench_ops *ops;
    void *ctx;
    bench_handle root;
};

/* Benchmarks the directory path (a BenchFS mount or any local directory).
 * Returns 0 or a negative errno (path cannot be opened as a directory). */
int bench_target_dir(const char *path, struct bench_target *t);
/* Benchmarks over RPC through libbenchfs (an open benchfs_t), from the file
 * system's root. Returns 0 or -ENOMEM. */
int bench_target_client(benchfs_t *fs, struct bench_target *t);
/* Gives back what bench_target_* took (not the client itself). */
static inline void bench_target_close(struct bench_target *t)
{
    if (t->ops)
        t->ops->close(t->ctx, t->root);
    t->ops = NULL;
}

#endif
