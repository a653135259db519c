/* meta_compact.c - giving the free pages of a store that has shrunk back (meta.h).
 *
 * LMDB 0.9 never shortens its file: the pages a store no longer needs go on its
 * free list, and a long free list is paid for at every commit (its records are
 * read, merged and written back: measured here, a store of 2,471 pages of which
 * 2,456 were free, after a few thousand 4 KiB files came and went, made a
 * preloaded unlink loop ~35 % slower than the same store compacted). So when
 * most of a store is free, a compact copy of it is written (mdb_env_copyfd2,
 * MDB_CP_COMPACT) and made durable, and swapped in (the environment closed, the
 * copy renamed over the store, opened again). A small store is copied in the
 * loop (milliseconds); a bigger one on a thread of its own, under a read
 * transaction beside the loop's writes, and swapped in only if no write
 * committed since the copy began, else dropped.
 *
 * The map must not move under the copy's reader (mdb_env_set_mapsize: no
 * transaction open in the process), so the map's growth waits for the copy
 * (meta_grow.c), and drops it when the map is nearly full.
 *
 * A kill -9 at any point leaves either the old store or the whole new one at
 * meta.lmdb (rename is atomic; the copy is fdatasync'd first, the directory
 * after); a copy left behind is removed by the next open (meta_open). */
#include "meta.h"
#include "meta_int.h"
#include "crashpoint.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* When a compaction pays: at least this many free pages (4 MiB of 4 KiB pages),
 * more free pages than live ones, and a store small enough to copy in seconds
 * (256 MiB; measured here: 16 MiB took 73 ms to copy and 79 ms to fdatasync,
 * 64 MiB 254 + 213 ms). */
#define COMPACT_MIN_FREE  1024
#define COMPACT_MAX_LIVE  65536
/* A store this small (1 MiB) is copied in the loop (META_COMPACT_NOW): a few
 * milliseconds, and no write can overtake the copy. */
#define COMPACT_NOW_LIVE  256

struct meta_copy {
    pthread_t tid;
    atomic_bool done;
    MDB_env *env;
    int fd;                 /* the copy's file, written by the thread */
    int err;                /* the thread's result once done: 0 or -errno */
    uint64_t txnid;         /* the store's last commit when the copy began */
    size_t live, free_pages;    /* when it began, for the log */
};

int meta_pages(struct meta_store *m, size_t *live, size_t *free_pages)
{
    const MDB_dbi dbis[] = { 0 /* the free list's own pages */, 1 /* the main DB */, m->info,
                             m->inodes, m->dentries, m->orphans, m->inl, m->intents,
                             m->applied, m->fences, m->parents, m->xattrs };
    MDB_envinfo info;
    MDB_txn *txn;
    MDB_stat st;
    size_t used = 2;   /* LMDB's two meta pages */
    int rc = mdb_env_info(m->env, &info);
    if (rc)
        return meta_db_err(rc, "env info", 0);
    if ((rc = meta_rd_begin(m, &txn)))
        return rc;
    for (size_t i = 0; i < sizeof dbis / sizeof dbis[0] && rc == 0; i++)
        if ((rc = mdb_stat(txn, dbis[i], &st)) == 0)
            used += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    meta_rd_end(m);
    if (rc)
        return meta_db_err(rc, "stat", 0);
    size_t total = info.me_last_pgno + 1;
    *live = used < total ? used : total;
    *free_pages = total - *live;
    return 0;
}

int meta_compact_due(struct meta_store *m)
{
    size_t live, free_pages;
    if (m->copy || meta_pages(m, &live, &free_pages) < 0)
        return 0;
    if (free_pages < COMPACT_MIN_FREE || free_pages <= live || live > COMPACT_MAX_LIVE)
        return 0;
    return live <= COMPACT_NOW_LIVE ? META_COMPACT_NOW : META_COMPACT_ASIDE;
}

int meta_readers_check(struct meta_store *m)
{
    int dead = 0, rc = mdb_reader_check(m->env, &dead);
    if (rc)
        return meta_db_err(rc, "reader check", 0);
    if (dead)
        log_warn("meta: %s: cleared %d reader slot(s) of processes that died reading this "
                 "store (they kept its freed pages from reuse)", m->path, dead);
    return dead;
}

int meta_compact_running(const struct meta_store *m)
{
    return m->copy != NULL;
}

/* The copy's path: the store's, ".compact" added. */
static void copy_path(const struct meta_store *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s.compact", m->path);
}

static void *copy_thread(void *arg)
{
    struct meta_copy *c = arg;
    int rc = mdb_env_copyfd2(c->env, c->fd, MDB_CP_COMPACT);
    if (rc)
        rc = rc > 0 ? -rc : -EIO;   /* an errno, or one of LMDB's own (logged by the loop) */
    else if (fdatasync(c->fd) < 0)
        rc = -errno;
    c->err = rc;
    atomic_store_explicit(&c->done, true, memory_order_release);
    return NULL;
}

int meta_compact_begin(struct meta_store *m)
{
    char tmp[sizeof m->path + 16];
    struct statvfs vfs;
    MDB_envinfo info;
    size_t live, free_pages;
    int rc;
    if (m->copy)
        return -EBUSY;
    if ((rc = meta_pages(m, &live, &free_pages)) || (rc = mdb_env_info(m->env, &info)))
        return rc > 0 ? meta_db_err(rc, "env info", 0) : rc;
    /* The copy must not take the room the store's own writes need. */
    if (statvfs(m->path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * live * m->psize)
        return -ENOSPC;
    struct meta_copy *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = (struct meta_copy){ .env = m->env, .txnid = info.me_last_txnid, .live = live,
                             .free_pages = free_pages };
    copy_path(m, tmp, sizeof tmp);
    if ((c->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        log_warn("meta: %s: cannot create a compact copy at %s: %s", m->path, tmp, strerror(-rc));
        free(c);
        return rc;
    }
    if ((rc = pthread_create(&c->tid, NULL, copy_thread, c))) {
        log_warn("meta: %s: no thread to compact the store on: %s", m->path, strerror(rc));
        close(c->fd);
        unlink(tmp);
        free(c);
        return -rc;
    }
    m->copy = c;
    return 0;
}

/* Waits for the copy's thread and forgets it: its result (0 or -errno). */
static int copy_join(struct meta_store *m)
{
    struct meta_copy *c = m->copy;
    pthread_join(c->tid, NULL);
    int rc = c->err;
    if (close(c->fd) < 0 && rc == 0)
        rc = -errno;
    free(c);
    m->copy = NULL;
    return rc;
}

void meta_compact_drop(struct meta_store *m)
{
    char tmp[sizeof m->path + 16];
    if (m->copy)
        copy_join(m);
    copy_path(m, tmp, sizeof tmp);
    unlink(tmp);   /* also a copy a kill -9 left (meta_open) */
}

/* fsync of the directory that holds path: the rename is durable. */
static int sync_dir(const char *path)
{
    char dir[sizeof ((struct meta_store *)0)->path];
    snprintf(dir, sizeof dir, "%s", path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* The copy at tmp is whole and durable: it becomes the store. */
static int swap_in(struct meta_store *m, const char *tmp, size_t live, size_t free_pages)
{
    int rc = 0, rc2;
    server_crash_point("compact-copied");
    meta_grow_stop(m);
    if (m->rtxn) {
        mdb_txn_abort(m->rtxn);
        m->rtxn = NULL;
    }
    mdb_env_close(m->env);
    m->env = NULL;
    int renamed = rename(tmp, m->path) == 0;
    if (!renamed) {
        rc = -errno;
        log_warn("meta: %s: cannot rename the compact copy over it: %s", m->path, strerror(-rc));
        unlink(tmp);
    } else if ((rc2 = sync_dir(m->path)) < 0) {   /* the store is the copy either way */
        log_warn("meta: %s: fsync of its directory after compacting: %s", m->path, strerror(-rc2));
    }
    if (renamed)
        server_crash_point("compact-renamed");
    if ((rc2 = meta_env_open(m))) {   /* the copy, or the old store if the rename failed */
        log_error("meta: %s: cannot open the store again after compacting it: %s", m->path,
                  strerror(-rc2));
        return -ENOTRECOVERABLE;
    }
    if (renamed)
        log_info("meta: %s: compacted: %zu live pages kept, %zu free pages given back", m->path,
                 live, free_pages);
    return rc;
}

int meta_compact_finish(struct meta_store *m, int wait)
{
    char tmp[sizeof m->path + 16];
    MDB_envinfo info;
    struct meta_copy *c = m->copy;
    if (!c)
        return -ENOENT;
    if (!wait && !atomic_load_explicit(&c->done, memory_order_acquire))
        return 0;
    uint64_t txnid = c->txnid;
    size_t live = c->live, free_pages = c->free_pages;
    int rc = copy_join(m);
    copy_path(m, tmp, sizeof tmp);
    if (rc) {
        log_warn("meta: %s: cannot write a compact copy to %s: %s", m->path, tmp, strerror(-rc));
        unlink(tmp);
        return rc;
    }
    if ((rc = mdb_env_info(m->env, &info)) || info.me_last_txnid != txnid) {
        unlink(tmp);   /* writes came after the copy's snapshot: it is not the store */
        if (rc)
            return meta_db_err(rc, "env info", 0);
        log_info("meta: %s: compact copy dropped: %" PRIu64 " commits came after it began",
                 m->path, (uint64_t)(info.me_last_txnid - txnid));
        return -EAGAIN;
    }
    rc = swap_in(m, tmp, live, free_pages);
    return rc ? rc : 1;
}

int meta_compact(struct meta_store *m)
{
    int rc = meta_compact_begin(m);
    if (rc == 0)
        rc = meta_compact_finish(m, 1);
    return rc == 1 ? 0 : rc;
}
