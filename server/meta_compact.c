/* meta_compact.c - giving the free pages of a store that has shrunk back (meta.h).
 *
 * LMDB 0.9 never shortens its file: the pages a store no longer needs go on its
 * free list, and a long free list is paid for at every commit (its records are
 * read, merged and written back: measured here, a store of 2,471 pages of which
 * 2,456 were free, after a few thousand 4 KiB files came and went, made a
 * preloaded unlink loop ~35 % slower than the same store compacted). So when
 * most of a small store is free, the server writes a compact copy of it
 * (mdb_env_copyfd2, MDB_CP_COMPACT) while nothing is in flight, makes the copy
 * durable, renames it over the store and opens it again.
 *
 * A kill -9 at any point leaves either the old store or the whole new one at
 * meta.lmdb (rename is atomic; the copy is fdatasync'd first, the directory
 * after); a copy left behind is removed by the next open (meta_open). */
#include "meta.h"
#include "meta_int.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* When a compaction pays: at least this many free pages (4 MiB of 4 KiB pages),
 * more free pages than live ones, and a live store small enough that the copy
 * and its fdatasync stall the loop briefly (4 MiB; measured here: 16 MiB took
 * 73 + 79 ms, 64 MiB 254 + 213 ms). */
#define COMPACT_MIN_FREE  1024
#define COMPACT_MAX_LIVE  1024

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
    if (meta_pages(m, &live, &free_pages) < 0)
        return 0;
    return free_pages >= COMPACT_MIN_FREE && free_pages > live && live <= COMPACT_MAX_LIVE;
}

/* Writes the compact copy of m to tmp and makes it durable. */
static int write_copy(struct meta_store *m, const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = mdb_env_copyfd2(m->env, fd, MDB_CP_COMPACT);
    if (rc)
        rc = rc > 0 ? -rc : meta_db_err(rc, "compact copy", 0);   /* LMDB: errno or its own */
    else if (fdatasync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
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

int meta_compact(struct meta_store *m)
{
    char tmp[sizeof m->path + 16];
    size_t live = 0, free_pages = 0;
    meta_pages(m, &live, &free_pages);   /* for the log line only */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.compact", m->path) >= sizeof tmp)
        return -ENAMETOOLONG;
    int rc = write_copy(m, tmp), rc2;
    if (rc) {
        log_warn("meta: %s: cannot write a compact copy to %s: %s", m->path, tmp, strerror(-rc));
        unlink(tmp);
        return rc;
    }
    /* The copy is whole and durable: from here on it is the store. */
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
