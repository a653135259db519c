/* meta_grow.c - the metadata store's map grows ahead of need, its disk space
 * allocated on a helper thread so no request waits for it (issue 12: a
 * posix_fallocate of up to 1 GiB on the event loop held every request up).
 *
 * The store runs with MDB_WRITEMAP: a commit writes its pages straight into a
 * shared mapping of the file instead of one pwrite per page (on this VM a
 * system call costs ~1 us; a create went from ~19 to ~5 us). A store through
 * the map into a hole the file system cannot fill would be SIGBUS, not an
 * error, so every byte of the map is allocated on disk before LMDB may use it.
 *
 * The next growth (the map doubles, by at most META_GROW_MAX) starts on a
 * thread once less than half of it is free; the map takes the new size at the
 * first write transaction after the allocation is done (mdb_env_set_mapsize
 * needs no transaction open, which only the loop knows). Only when the map is
 * nearly full (an eighth of the growth left) does a transaction wait for the
 * thread. The thread shares one struct with the loop and touches only the
 * file's range past the map, which LMDB does not use yet. A compact copy being
 * written (meta_compact.c) holds a read transaction: the map's new size waits
 * for it, and drops it when the map is nearly full.
 */
#include "meta_int.h"
#include "../common/clock.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define META_GROW_MAX   (1ULL << 30)    /* the map doubles, by at most this much */

struct meta_grow {
    pthread_t tid;
    atomic_bool done;
    int fd;
    size_t from, to;
    int err;                /* posix_fallocate's, once done */
};

int meta_allocate_map(struct meta_store *m, size_t from, size_t to)
{
    int rc = posix_fallocate(m->fd, (off_t)from, (off_t)(to - from));
    if (rc) {
        log_error("meta: %s: cannot allocate %zu MiB: %s", m->path, to >> 20, strerror(rc));
        return -rc;
    }
    return 0;
}

static void *allocate(void *arg)
{
    struct meta_grow *g = arg;
    g->err = posix_fallocate(g->fd, (off_t)g->from, (off_t)(g->to - g->from));
    atomic_store_explicit(&g->done, true, memory_order_release);
    return NULL;
}

/* The map takes size to (allocated on disk). */
static int set_size(struct meta_store *m, size_t to)
{
    if (m->rtxn) {      /* mdb_env_set_mapsize: no transaction may be open, even a reset one */
        mdb_txn_abort(m->rtxn);
        m->rtxn = NULL;
    }
    int rc = mdb_env_set_mapsize(m->env, to);
    if (rc)
        return meta_db_err(rc, "grow map", 0);
    log_info("meta: %s: map grown to %zu MiB", m->path, to >> 20);
    return 0;
}

/* Joins the finished thread: the map grows, or the next try waits a second
 * (space may be freed meanwhile), so a full disk costs neither a fallocate nor
 * a log line per write. */
static int finish(struct meta_store *m)
{
    struct meta_grow *g = m->grow;
    pthread_join(g->tid, NULL);
    m->grow = NULL;
    size_t to = g->to;
    int err = g->err;
    free(g);
    if (err) {
        log_error("meta: %s: cannot allocate %zu MiB: %s", m->path, to >> 20, strerror(err));
        m->grow_retry = bfs_mono_s() + 1.0;
        return 0;
    }
    m->grow_retry = 0;
    return set_size(m, to);
}

int meta_grow_room(struct meta_store *m)
{
    MDB_envinfo info;
    int rc;
    if ((rc = mdb_env_info(m->env, &info)))
        return meta_db_err(rc, "map size", 0);
    size_t size = info.me_mapsize, used = (info.me_last_pgno + 1) * m->psize;
    size_t inc = size < META_GROW_MAX ? size : META_GROW_MAX, left = size - used;
    if (m->grow) {
        if (!atomic_load_explicit(&m->grow->done, memory_order_acquire)) {
            if (left >= inc / 8)
                return 0;
            log_warn("meta: %s: map nearly full (%zu MiB left): waiting for its growth",
                     m->path, left >> 20);
        } else if (m->copy && left >= inc / 8) {
            return 0;   /* the map may not move under the compact copy's reader */
        }
        meta_compact_drop(m);
        return finish(m);
    }
    if (left >= inc / 2)
        return 0;
    /* A disk too full to grow on is not an error yet: the transaction may
     * still fit, and if not LMDB's MDB_MAP_FULL becomes -ENOSPC. */
    if (m->grow_retry > 0 && bfs_mono_s() < m->grow_retry)
        return 0;
    struct meta_grow *g = calloc(1, sizeof *g);
    if (g) {
        *g = (struct meta_grow){ .fd = m->fd, .from = size, .to = size + inc };
        if ((rc = pthread_create(&g->tid, NULL, allocate, g)) == 0) {
            m->grow = g;
            return 0;
        }
        log_warn("meta: %s: no thread to grow the map on (%s): growing it here", m->path,
                 strerror(rc));
        free(g);
    }
    meta_compact_drop(m);
    if (meta_allocate_map(m, size, size + inc) < 0) {
        m->grow_retry = bfs_mono_s() + 1.0;
        return 0;
    }
    m->grow_retry = 0;
    return set_size(m, size + inc);
}

void meta_grow_stop(struct meta_store *m)
{
    if (!m->grow)
        return;
    pthread_join(m->grow->tid, NULL);   /* the file stays as it is: the map did not take it */
    free(m->grow);
    m->grow = NULL;
}
