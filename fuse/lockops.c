/* lockops.c - see lockops.h. */
#include "lockops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "../common/log.h"
#include "lockowners.h"
#include "loop.h"
#include "pagecache.h"

/* A wait in progress: the interrupt callback and lockops_stop find it here. */
struct wait {
    struct bfs_fuse *fs;
    struct bfs_lock_wait w;
    struct wait *prev, *next;
};

struct lockstate {
    struct lockowners *owners;
    pthread_mutex_t lock;       /* guards waits and stopping */
    struct wait *waits;
    int stopping;
};

struct lockstate *lockstate_new(void)
{
    struct lockstate *ls = calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    if (!(ls->owners = lockowners_new())) {
        free(ls);
        return NULL;
    }
    pthread_mutex_init(&ls->lock, NULL);
    return ls;
}

void lockstate_free(struct lockstate *ls)
{
    if (!ls)
        return;
    lockowners_free(ls->owners);
    pthread_mutex_destroy(&ls->lock);
    free(ls);
}

static struct bfs_fuse *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }

/* FUSE's struct flock (whence SEEK_SET, l_len 0: to the end) as a lock of owner. */
static int from_flock(uint64_t ino, uint64_t owner, const struct flock *fl, struct bfs_lock *l)
{
    *l = (struct bfs_lock){ .ino = ino, .owner = owner, .pid = (uint32_t)fl->l_pid };
    switch (fl->l_type) {
    case F_RDLCK: l->type = BFS_LOCK_RD; break;
    case F_WRLCK: l->type = BFS_LOCK_WR; break;
    case F_UNLCK: l->type = BFS_LOCK_UN; break;
    default: return -EINVAL;
    }
    if (fl->l_start < 0 || fl->l_len < 0)
        return -EINVAL;
    l->start = (uint64_t)fl->l_start;
    if (fl->l_len == 0 || (uint64_t)fl->l_len - 1 >= BFS_LOCK_EOF - l->start)
        l->end = BFS_LOCK_EOF;
    else
        l->end = l->start + (uint64_t)fl->l_len - 1;
    return 0;
}

/* The kernel's FUSE_INTERRUPT for a waiting request: cancel the wait at the
 * server, which then answers it with -EINTR (runs in the thread that read the
 * interrupt, with libfuse's lock of req held: the waiter unregisters first). */
static void on_interrupt(fuse_req_t req, void *data)
{
    (void)req;
    struct wait *wt = data;
    int rc = bfs_lock_cancel(wt->fs->client, &wt->w);
    if (rc < 0)
        log_warn("ino %" PRIu64 ": cancelling a lock wait: %s", wt->w.ino, strerror(-rc));
}

/* Calls for l, waiting for it when wait is set (a: the file at the grant). */
static int lock_call(fuse_req_t req, const struct bfs_lock *l, int wait, struct bfs_attr *a)
{
    struct bfs_fuse *fs = fs_of(req);
    struct lockstate *ls = fs->locks;
    /* A wait tries first: an uncontended lock (the common case) then costs one
     * request and no parked thread; only a conflict waits. */
    int rc = bfs_lock_attr(fs->client, l, NULL, a);
    if (!wait || l->type == BFS_LOCK_UN || rc != -EAGAIN)
        return rc;
    /* With -s the one thread would wait, and nothing could release the lock or
     * even deliver the interrupt of a signal: refuse instead of hanging. */
    if (fs->single_thread) {
        log_warn("ino %" PRIu64 ": a lock wait needs more than one thread (-s): ENOLCK", l->ino);
        return -ENOLCK;
    }
    struct wait wt = { .fs = fs };
    bfs_lock_wait_init(&wt.w, l->ino);
    pthread_mutex_lock(&ls->lock);
    int stopping = ls->stopping;
    if (!stopping) {
        wt.next = ls->waits;
        if (ls->waits)
            ls->waits->prev = &wt;
        ls->waits = &wt;
    }
    pthread_mutex_unlock(&ls->lock);
    if (stopping)
        return -EINTR;
    /* Called at once if the interrupt came already. */
    fuse_req_interrupt_func(req, on_interrupt, &wt);
    bfs_loop_park(fs->loop);
    rc = bfs_lock_attr(fs->client, l, &wt.w, a);
    bfs_loop_unpark(fs->loop);
    /* Unregistering waits for an on_interrupt still running with &wt. */
    fuse_req_interrupt_func(req, NULL, NULL);
    pthread_mutex_lock(&ls->lock);
    if (wt.prev)
        wt.prev->next = wt.next;
    else
        ls->waits = wt.next;
    if (wt.next)
        wt.next->prev = wt.prev;
    pthread_mutex_unlock(&ls->lock);
    return rc;
}

/* A lock was granted: what its last holder on another client wrote must show
 * through this mount's caches now (NFS revalidates at lock time too). a: the
 * file at the grant. Cached pages and attributes stay when the file is still
 * the version they hold (pagecache.h); else both go. */
static void revalidate(struct bfs_fuse *fs, uint64_t ino, const struct bfs_attr *a)
{
    if (!fs->se || (a->ino == ino && fs->pages && pagecache_open(fs->pages, a)))
        return;
    int rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
    if (rc < 0 && rc != -ENOENT)
        log_debug("inval_inode ino=%" PRIu64 ": %s", ino, strerror(-rc));
}

/* Takes (or drops) l, waiting for it when wait is set. */
static int take(fuse_req_t req, const struct bfs_lock *l, int wait)
{
    struct bfs_attr a;
    int rc = lock_call(req, l, wait, &a);
    if (rc == 0 && l->type != BFS_LOCK_UN)
        revalidate(fs_of(req), l->ino, &a);
    return rc;
}

static void reply_lock_err(fuse_req_t req, const char *what, uint64_t ino, int rc)
{
    /* A conflict, a deadlock or an interrupt is an answer, not a failure. */
    if (rc == -EAGAIN || rc == -EDEADLK || rc == -EINTR)
        log_debug("%s ino=%" PRIu64 ": %s", what, ino, strerror(-rc));
    else if (rc < 0)
        log_info("%s ino=%" PRIu64 ": %s", what, ino, strerror(-rc));
    fuse_reply_err(req, -rc);
}

void lockops_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
    struct bfs_lock l;
    int rc = from_flock(ino, fi->lock_owner, lock, &l);
    if (rc == 0 && l.type == BFS_LOCK_UN)
        rc = -EINVAL;
    if (rc == 0)
        rc = bfs_getlk(fs_of(req)->client, &l);
    if (rc < 0) {
        reply_lock_err(req, "getlk", ino, rc);
        return;
    }
    struct flock out = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
    if (l.type != BFS_LOCK_UN) {
        out.l_type = l.type == BFS_LOCK_WR ? F_WRLCK : F_RDLCK;
        out.l_start = (off_t)l.start;
        out.l_len = l.end == BFS_LOCK_EOF ? 0 : (off_t)(l.end - l.start + 1);
        out.l_pid = (pid_t)l.pid;
    }
    fuse_reply_lock(req, &out);
}

void lockops_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
                   int sleep)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_lock l;
    int rc = from_flock(ino, fi->lock_owner, lock, &l);
    if (rc == 0)
        rc = take(req, &l, sleep);
    /* Noted before the reply, so that a close right after it finds it. */
    if (rc == 0 && l.type != BFS_LOCK_UN &&
        lockowners_note(fs->locks->owners, ino, fi->lock_owner, fi->fh) < 0) {
        /* Unnoted, close would not release it: give it back. */
        int un = bfs_unlock_owner(fs->client, ino, fi->lock_owner, 0);
        rc = un < 0 ? un : -ENOLCK;
    }
    reply_lock_err(req, "setlk", ino, rc);
}

void lockops_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
    struct bfs_lock l = { .ino = ino, .owner = fi->lock_owner, .start = 0, .end = BFS_LOCK_EOF,
                          .flock = 1, .pid = (uint32_t)fuse_req_ctx(req)->pid };
    switch (op & ~LOCK_NB) {
    case LOCK_SH: l.type = BFS_LOCK_RD; break;
    case LOCK_EX: l.type = BFS_LOCK_WR; break;
    case LOCK_UN: l.type = BFS_LOCK_UN; break;
    default:
        fuse_reply_err(req, EINVAL);
        return;
    }
    /* (Released at RELEASE: the kernel then sets flock_release.) */
    reply_lock_err(req, "flock", ino, take(req, &l, !(op & LOCK_NB)));
}

bool lockops_want_flush(struct bfs_fuse *fs, uint64_t ino)
{
    return lockowners_used(fs->locks->owners, ino);
}

int lockops_flush(struct bfs_fuse *fs, uint64_t ino, const struct fuse_file_info *fi)
{
    if (!lockowners_flush(fs->locks->owners, ino, fi->lock_owner))
        return 0;
    return bfs_unlock_owner(fs->client, ino, fi->lock_owner, 0);
}

void lockops_release(struct bfs_fuse *fs, uint64_t ino, const struct fuse_file_info *fi)
{
    uint64_t *owners;
    int rc = 0;
    if (fi->flock_release)
        rc = bfs_unlock_owner(fs->client, ino, fi->lock_owner, 1);
    int n = lockowners_release(fs->locks->owners, ino, fi->fh, &owners);
    for (int i = 0; i < n && rc == 0; i++)
        rc = bfs_unlock_owner(fs->client, ino, owners[i], 0);
    free(owners);
    /* A lost server has dropped them already (with our connection). */
    if (rc < 0 || n < 0)
        log_warn("release ino=%" PRIu64 ": unlocking: %s", ino, strerror(rc < 0 ? -rc : -n));
}

void lockops_stop(void *arg)
{
    struct bfs_fuse *fs = arg;
    struct lockstate *ls = fs->locks;
    pthread_mutex_lock(&ls->lock);
    ls->stopping = 1;
    /* Cancelling takes an RPC each; the list cannot change under us meanwhile
     * (a wait ending needs ls->lock to leave it). */
    for (struct wait *w = ls->waits; w; w = w->next)
        bfs_lock_cancel(fs->client, &w->w);
    pthread_mutex_unlock(&ls->lock);
}
