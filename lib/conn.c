/* conn.c - a benchfs_t: connecting to a cluster, disconnecting, the
 * attributes every call reports (struct stat), and the version. */
#include "lib_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "../common/attrstat.h"
#include "../common/clock.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/version.h"

int64_t lib_now_ns(void) { return bfs_wall_ns(); }

struct bfs_client *lib_client(benchfs_t *fs) { return fs->c; }

/* The library logs through common/log.c: BENCHFS_LOG is read once, at the
 * first connect (a program that links the library has no main of ours); the
 * program name stays what it was (a BenchFS tool's own, else "benchfs"). */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void log_setup(void) { log_init(NULL); }

EXPORT int benchfs_connect(const char *registry_dir, const struct benchfs_opts *opts, benchfs_t **out)
{
    if (!registry_dir || !out)
        return -EINVAL;
    pthread_once(&log_once, log_setup);
    struct benchfs_opts o = opts ? *opts : (struct benchfs_opts){ 0 };
    benchfs_t *fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    struct bfs_client_opts co = { .registry_dir = registry_dir,
                                  .registry_timeout_s = o.connect_timeout_s,
                                  .rpc_timeout_s = o.rpc_timeout_s };
    int rc = bfs_client_open(&co, &fs->c);
    if (rc < 0) {
        log_error("benchfs_connect %s: %s", registry_dir, strerror(-rc));
        free(fs);
        return rc;
    }
    /* 0 means the default (1 s, the mount's attr_timeout); negative: no cache. */
    if ((rc = cache_init(&fs->cache, o.attr_timeout_s == 0 ? 1.0 : o.attr_timeout_s)) < 0) {
        log_error("benchfs_connect %s: %s", registry_dir, strerror(-rc));
        bfs_client_close(fs->c);
        free(fs);
        return rc;
    }
    open_table_init(&fs->open);
    fs->flags = o.flags;
    if (o.flags & BENCHFS_OPT_CACHE_IDS)
        cred_cache_ids();
    /* One stable st_dev per cluster: the same registry gives the same number
     * in every process (the preload library reports the mount's own instead). */
    uint64_t h = bfs_fnv1a(registry_dir, strlen(registry_dir), 0);
    fs->dev = makedev(0x100 | (unsigned)(h >> 56), (unsigned)(h & 0xfffff));
    uint32_t chunk = bfs_client_chunk_size(fs->c);
    fs->blksize = chunk == 0 ? 4096 : (chunk < BFS_MAX_IO ? chunk : BFS_MAX_IO);
    log_debug("benchfs_connect %s: %u servers", registry_dir, bfs_client_nodes(fs->c));
    *out = fs;
    return 0;
}

EXPORT void benchfs_disconnect(benchfs_t *fs)
{
    if (!fs)
        return;
    bfs_client_close(fs->c);
    cache_fini(&fs->cache);
    open_table_fini(&fs->open);
    free(fs);
}


void lib_attr_to_stat(const benchfs_t *fs, const struct bfs_attr *a, struct stat *st)
{
    bfs_attr_to_stat(a, fs->blksize, st);
    st->st_dev = fs->dev;
}

int lib_getattr(benchfs_t *fs, uint64_t ino, int how, struct bfs_attr *a)
{
    if (how != GET_FRESH && cache_get_attr(&fs->cache, ino, how == GET_ALL, a))
        return 0;
    struct cache_stamp st;
    cache_attr_stamp(&fs->cache, ino, &st);
    int rc = bfs_getattr(fs->c, ino, a);
    if (rc == 0)
        cache_put_attr(&fs->cache, a, &st);
    return rc;
}

void lib_changed(benchfs_t *fs, uint64_t ino)
{
    cache_drop_attr(&fs->cache, ino);
    cache_changed(&fs->cache, ino);
    if (fs->on_change)
        fs->on_change(fs->on_change_arg, ino, NULL);
}

void lib_changed_to(benchfs_t *fs, const struct bfs_attr *a, struct cache_stamp *st)
{
    cache_drop_attr(&fs->cache, a->ino);
    if (cache_changed_own(&fs->cache, a->ino, st))
        cache_put_attr(&fs->cache, a, st);
    if (fs->on_change)
        fs->on_change(fs->on_change_arg, a->ino, NULL);
}

void lib_entry_changed(benchfs_t *fs, uint64_t parent, const char *name)
{
    cache_entry_changed(&fs->cache, parent, name);
    if (fs->on_change)
        fs->on_change(fs->on_change_arg, parent, name);
}

EXPORT int benchfs_node_table(benchfs_t *fs, void *map, size_t size)
{
    struct nodetab t;
    int rc = nodetab_attach(map, size, &t);
    if (rc < 0) {
        log_debug("benchfs_node_table: %s", strerror(-rc));
        return rc;
    }
    cache_share(&fs->cache, &t);
    log_debug("benchfs_node_table: sharing change counters with this node's clients");
    return 0;
}

EXPORT void benchfs_on_change(benchfs_t *fs, benchfs_change_fn *fn, void *arg)
{
    fs->on_change = fn;
    fs->on_change_arg = arg;
}

EXPORT const char *benchfs_version(void)
{
    return "benchfs " BENCHFS_VERSION;
}
