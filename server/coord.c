/* coord.c - the coordinator thread: runs the steps of multi-server namespace
 * operations (see coord.h for the lifecycle of an intent).
 *
 * Each kind is one pair of functions in `kinds`: run (the first time, and at a
 * replay) and the steps after the commit point. Steps are RPCs through a client
 * of the cluster that this thread opens like any client, to every node including
 * its own. A step that cannot reach its node is retried until it answers; an
 * operation that meets another one (an entry or fence it holds: -EBUSY) is rolled
 * back and the client tries again.
 *
 *   rename (op,on) -> (np,nn), coordinated by the node of (op,on), target node T:
 *     a directory moved between parents must not go under itself (walk np's parents);
 *     look up the target; a directory target is fenced on every node (empty, and
 *     stays so); INSTALL at T makes (np,nn) name the inode in one transaction —
 *     the commit point: the new name never is missing, and a failure before it
 *     leaves the old state; then the old entry goes, the replaced inode loses its
 *     link (a replaced directory's fences become tombstones), the inode gets its
 *     ctime (and a directory its new parent), and both parents their times and
 *     counts. A replay claims T's INSTALL mark: absent, the rename is rolled back.
 *   rmdir (p,n) of directory d: fence d on every node (each checks it has no entry
 *     of d), then the entry goes — the commit point — then d's inode, p's count and
 *     times, and the fences become tombstones. A replay runs it again: a fence held
 *     by the same intent is taken again, and a missing entry means committed.
 */
#include "coord.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/client.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/placement.h"
#include "server_int.h"

#define STEP_TIMEOUT_S 2.0      /* one attempt of a step; then it is sent again (to a
                                   restarted server, if the registry names a new one) */
#define RETRY_MAX_S    1.0      /* longest pause between attempts */
#define STALE_TRIES    8        /* target changed under a rename: look again this often */

/* Steps of one intent: numbers of their marks. */
enum { S_INSTALL = 1, S_DROP = 2, S_MOVED = 3, S_ADJ_OLD = 4, S_ADJ_NEW = 5, S_GAIN = 6 };

enum { JOB_RUN, JOB_FORGET };

struct job {
    struct meta_intent in;
    struct srv_req *r;          /* who gets the answer (NULL: nobody waits) */
    int replay;                 /* found in the store at start */
    int phase;                  /* JOB_RUN, then JOB_FORGET */
    int status;
    struct job *next;
};

struct coord {
    struct server *s;
    uint32_t nodes, self, chunk_size;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* CLOCK_MONOTONIC: new work or stop */
    struct job *todo_head, *todo_tail;
    struct job *done_head, *done_tail;
    int stop;
    int efd;                    /* done jobs wait: readable */
    atomic_uint ndone;          /* jobs pushed to done (read without a system call) */
    atomic_int exited;          /* the thread has closed its client and ends */
    struct bfs_client *client;  /* the thread's own */
    int shut;                   /* thread: a step of this job gave up for the stop */
};

/* ---- queues ---- */

static void push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static struct job *pop(struct job **head, struct job **tail)
{
    struct job *j = *head;
    if (j && !(*head = j->next))
        *tail = NULL;
    return j;
}

static int stopping(struct coord *c)
{
    pthread_mutex_lock(&c->lock);
    int stop = c->stop;
    pthread_mutex_unlock(&c->lock);
    return stop;
}

/* Waits up to s seconds, or less if the server stops. */
static void pause_s(struct coord *c, double s)
{
    struct timespec ts = bfs_mono_after(s);
    pthread_mutex_lock(&c->lock);
    while (!c->stop && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&c->lock);
}

/* ---- calls ---- */

/* Runs calls until each has an answer from its node: a node that cannot be reached
 * is asked again. 0, or -ESHUTDOWN when the server stops first. */
static int run_calls(struct coord *c, struct rpc_call *calls, size_t n)
{
    double wait = 0.001;
    for (int attempt = 0;; attempt++) {
        int rc = bfs_call_run(c->client, calls, n), lost = 0;
        for (size_t i = 0; i < n; i++)
            lost |= calls[i].status == -ENOTCONN || calls[i].status == -ETIMEDOUT;
        if (rc == 0 && !lost)
            return 0;
        if (stopping(c)) {
            c->shut = 1;
            return -ESHUTDOWN;
        }
        if (attempt == 0 || attempt % 20 == 0)
            log_warn("coordinator: a step's node does not answer (%s), trying again",
                     strerror(-(rc ? rc : -ENOTCONN)));
        pause_s(c, wait);
        wait = wait * 2 > RETRY_MAX_S ? RETRY_MAX_S : wait * 2;
    }
}

/* One call; its status, or -ESHUTDOWN. */
static int call1(struct coord *c, struct rpc_call *call)
{
    int rc = run_calls(c, call, 1);
    return rc < 0 ? rc : call->status;
}

static void prep_step(struct rpc_call *call, uint32_t node, uint32_t op, const struct meta_intent *in,
                      uint32_t step)
{
    bfs_call_prep(call, node, op);
    call->args.intent = in->id;
    call->args.step = step;
}

/* op on every node with ino, intent and flags (fences, forgetting). The first
 * error of a node, or 0. */
static int on_all(struct coord *c, uint32_t op, uint64_t ino, const struct meta_intent *in,
                  uint32_t flags)
{
    struct rpc_call *calls = calloc(c->nodes, sizeof *calls);
    if (!calls)
        return -ENOMEM;
    for (uint32_t node = 0; node < c->nodes; node++) {
        prep_step(&calls[node], node, op, in, 0);
        calls[node].args.ino = ino;
        calls[node].args.flags = flags;
    }
    int rc = run_calls(c, calls, c->nodes);
    for (uint32_t node = 0; rc == 0 && node < c->nodes; node++)
        rc = calls[node].status;
    free(calls);
    return rc;
}

static void lift_all(struct coord *c, const struct meta_intent *in, uint64_t dir)
{
    int rc = on_all(c, OP_FENCE, dir, in, BFS_FENCE_LIFT);
    if (rc < 0)
        log_warn("coordinator: intent %llx: lifting the fences of %llx: %s",
                 (unsigned long long)in->id, (unsigned long long)dir, strerror(-rc));
}

/* Fences dir on every node for in; on failure lifts what was taken. */
static int fence_all(struct coord *c, const struct meta_intent *in, uint64_t dir)
{
    int rc = on_all(c, OP_FENCE, dir, in, BFS_FENCE_SET);
    if (rc < 0 && rc != -ESHUTDOWN)
        lift_all(c, in, dir);
    return rc;
}

/* Logs a failed step after the commit point: it cannot be undone, and what it
 * leaves (a count off by one) is what benchfs-fsck repairs. */
static void step_failed(const struct meta_intent *in, const char *what, int rc)
{
    if (rc < 0 && rc != -ESHUTDOWN)
        log_error("coordinator: intent %llx: %s: %s", (unsigned long long)in->id, what,
                  strerror(-rc));
}

/* dir's times, and nlink += delta, at its owner. */
static int adjust_dir(struct coord *c, const struct meta_intent *in, uint64_t dir, int delta,
                      uint32_t step)
{
    struct rpc_call call;
    prep_step(&call, place_inode(dir, c->nodes), OP_DIR_ADJUST, in, step);
    call.args.ino = dir;
    call.args.delta = delta;
    int rc = call1(c, &call);
    step_failed(in, "parent directory", rc);
    return rc;
}

/* ino lost a name (a directory: all of them), at its owner (which removes its
 * chunks when it is gone: COORD_CHUNKS there). */
static int drop_inode(struct coord *c, const struct meta_intent *in, uint64_t ino, int whole_dir)
{
    struct rpc_call call;
    prep_step(&call, place_inode(ino, c->nodes), OP_DROP, in, S_DROP);
    call.args.ino = ino;
    call.args.flags = (whole_dir ? BFS_F_RMDIR : 0) | (in->flags & BFS_F_KEEP);
    int rc = call1(c, &call);
    step_failed(in, "dropping a link of the inode", rc);
    return rc;
}

/* The mark of (in, step) at node, claimed (see meta_step_claim): 1 if the step was
 * done, 0 if it was not (and now never will be), or -errno. */
static int claim(struct coord *c, const struct meta_intent *in, uint32_t node, uint32_t step,
                 struct bfs_msg *mark)
{
    struct rpc_call call;
    prep_step(&call, node, OP_STEP, in, step);
    call.args.flags = 1;
    int rc = call1(c, &call);
    if (rc < 0)
        return rc;
    *mark = call.reply;
    return !(call.reply.flags & META_STEP_ABORTED);
}

/* What entry (in->parent, in->name) here names: 0 and *ino, -ENOENT, or -errno. */
static int lookup_own(struct coord *c, const struct meta_intent *in, uint64_t *ino, uint32_t *type)
{
    struct rpc_call call;
    bfs_call_prep(&call, c->self, OP_LOOKUP);
    call.args.parent = in->parent;
    call.args.name = in->name;
    call.args.name_len = in->name_len;
    int rc = call1(c, &call);
    if (rc == 0) {
        *ino = call.reply.ino;
        *type = call.reply.mode & S_IFMT;
    }
    return rc;
}

static int drop_entry(struct coord *c, const struct meta_intent *in)
{
    struct rpc_call call;
    bfs_call_prep(&call, c->self, OP_DROP_ENTRY);
    call.args.parent = in->parent;
    call.args.name = in->name;
    call.args.name_len = in->name_len;
    call.args.ino = in->ino;
    int rc = call1(c, &call);
    step_failed(in, "removing the old entry", rc);
    return rc;
}

/* ---- the steps after a commit point, sent together ----
 *
 * Once an operation is committed its remaining steps depend on nothing but the
 * intent, so they go out as one batch (one round trip, not one per step); each
 * is idempotent or marked, so a replay may send them all again. */

struct batch {
    struct rpc_call *calls;
    const char **what;
    size_t n, cap;
};

static int batch_open(struct batch *b, size_t cap)
{
    b->calls = calloc(cap, sizeof *b->calls);
    b->what = calloc(cap, sizeof *b->what);
    b->n = 0;
    b->cap = cap;
    return b->calls && b->what ? 0 : -ENOMEM;
}

static struct rpc_call *batch_add(struct batch *b, uint32_t node, uint32_t op,
                                  const struct meta_intent *in, uint32_t step, const char *what)
{
    struct rpc_call *call = &b->calls[b->n];
    b->what[b->n++] = what;
    prep_step(call, node, op, in, step);
    return call;
}

static void batch_adjust(struct batch *b, struct coord *c, const struct meta_intent *in,
                         uint64_t dir, int delta, uint32_t step)
{
    batch_add(b, place_inode(dir, c->nodes), OP_DIR_ADJUST, in, step, "parent directory")
        ->args.ino = dir;
    b->calls[b->n - 1].args.delta = delta;
}

static void batch_drop(struct batch *b, struct coord *c, const struct meta_intent *in,
                       uint64_t ino, int whole_dir)
{
    struct rpc_call *call = batch_add(b, place_inode(ino, c->nodes), OP_DROP, in, S_DROP,
                                      "dropping a link of the inode");
    call->args.ino = ino;
    call->args.flags = (whole_dir ? BFS_F_RMDIR : 0) | (in->flags & BFS_F_KEEP);
}

/* A removed directory's fences become tombstones on every node. */
static void batch_tombstones(struct batch *b, struct coord *c, const struct meta_intent *in,
                             uint64_t dir)
{
    for (uint32_t node = 0; node < c->nodes; node++) {
        struct rpc_call *call = batch_add(b, node, OP_FENCE, in, 0, "tombstones of a directory");
        call->args.ino = dir;
        call->args.flags = BFS_FENCE_DEAD;
    }
}

/* Sends the batch, logs what failed (step_failed), frees it. */
static void batch_run(struct coord *c, const struct meta_intent *in, struct batch *b)
{
    if (b->n && run_calls(c, b->calls, b->n) == 0)
        for (size_t i = 0; i < b->n; i++)
            step_failed(in, b->what[i], b->calls[i].status);
    free(b->calls);
    free(b->what);
}

/* ---- rename ---- */

/* 0 if directory ino may go into newparent; -EINVAL if newparent is ino or below it. */
static int check_loop(struct coord *c, const struct meta_intent *in)
{
    uint64_t x = in->newparent;
    for (int depth = 0; x != BFS_ROOT_INO; depth++) {
        struct rpc_call call;
        if (x == in->ino)
            return -EINVAL;
        if (depth == META_DEPTH_MAX)
            return -ELOOP;
        bfs_call_prep(&call, place_inode(x, c->nodes), OP_PARENT);
        call.args.ino = x;
        int rc = call1(c, &call);
        if (rc == -ENOENT)
            return 0;   /* no parent known (a store from before parents were kept) */
        if (rc < 0)
            return rc;
        x = call.reply.parent;
    }
    return 0;
}

static int rename_finish(struct coord *c, const struct meta_intent *in, uint64_t tino, uint32_t ttype)
{
    int moved = in->type == S_IFDIR && in->parent != in->newparent;
    int gone = tino && ttype == S_IFDIR;
    struct batch b;
    if (batch_open(&b, 5 + c->nodes) < 0) {
        free(b.calls);
        free(b.what);
        return -ENOMEM;   /* the intent stays ACTIVE: the next start finishes it */
    }
    struct rpc_call *call = batch_add(&b, c->self, OP_DROP_ENTRY, in, 0, "removing the old entry");
    call->args.parent = in->parent;
    call->args.name = in->name;
    call->args.name_len = in->name_len;
    call->args.ino = in->ino;
    if (tino)
        batch_drop(&b, c, in, tino, gone);
    if (gone)
        batch_tombstones(&b, c, in, tino);
    call = batch_add(&b, place_inode(in->ino, c->nodes), OP_MOVED, in, S_MOVED, "the renamed inode");
    call->args.ino = in->ino;
    call->args.newparent = in->newparent;
    if (in->parent == in->newparent) {
        batch_adjust(&b, c, in, in->parent, -gone, S_ADJ_OLD);
    } else {
        batch_adjust(&b, c, in, in->parent, -moved, S_ADJ_OLD);
        batch_adjust(&b, c, in, in->newparent, moved - gone, S_ADJ_NEW);
    }
    batch_run(c, in, &b);
    return 0;
}

static int note_fenced(struct coord *c, const struct meta_intent *in, uint64_t dir)
{
    struct rpc_call call;
    bfs_call_prep(&call, c->self, OP_NOTE);
    call.args.intent = in->id;
    call.args.ino = dir;
    return call1(c, &call);
}

/* One try up to the commit point: 0 and the replaced inode, or -errno (-ESTALE:
 * the target changed meanwhile, look again). */
static int rename_commit(struct coord *c, const struct meta_intent *in, uint64_t *tino,
                         uint32_t *ttype)
{
    uint32_t target = place_dentry(in->newparent, in->newname, in->newname_len, c->nodes);
    struct rpc_call call;
    bfs_call_prep(&call, target, OP_LOOKUP);
    call.args.parent = in->newparent;
    call.args.name = in->newname;
    call.args.name_len = in->newname_len;
    int rc = call1(c, &call);
    *tino = 0;
    *ttype = 0;
    if (rc == 0) {
        *tino = call.reply.ino;
        *ttype = call.reply.mode & S_IFMT;
        if (in->flags & BFS_F_NOREPLACE)
            return -EEXIST;
        if (*tino == in->ino)
            return 1;   /* two names of one inode: rename(2) does nothing */
        if (in->type == S_IFDIR && *ttype != S_IFDIR)
            return -ENOTDIR;
        if (in->type != S_IFDIR && *ttype == S_IFDIR)
            return -EISDIR;
    } else if (rc != -ENOENT) {
        return rc;
    }
    int fenced = *ttype == S_IFDIR;
    if (fenced && ((rc = note_fenced(c, in, *tino)) < 0 || (rc = fence_all(c, in, *tino)) < 0))
        return rc == -ENOENT ? -ESTALE : rc;   /* removed since the lookup */
    if (fenced)
        server_crash_point("rename-fenced");
    prep_step(&call, target, OP_INSTALL, in, S_INSTALL);
    call.args.parent = in->newparent;
    call.args.name = in->newname;
    call.args.name_len = in->newname_len;
    call.args.ino = in->ino;
    call.args.mode = in->type;
    call.args.size = *tino;
    rc = call1(c, &call);
    if (rc < 0 && fenced && rc != -ESHUTDOWN)
        lift_all(c, in, *tino);
    if (rc == 0)
        server_crash_point("rename-installed");
    return rc;
}

/* Takes (take 1) or gives back the cluster's directory-move lock at node 0
 * (handlers_ns.c, handle_move_lock). wait: until it is free (a replay must finish);
 * otherwise -EBUSY when another move holds it (the client tries again). */
static int move_lock(struct coord *c, const struct meta_intent *in, int take, int wait)
{
    double pause = 0.001;
    for (;;) {
        struct rpc_call call;
        bfs_call_prep(&call, 0, OP_MOVE_LOCK);
        call.args.intent = in->id;
        call.args.flags = (uint32_t)take;
        int rc = call1(c, &call);
        if (rc != -EBUSY || !wait)
            return rc;
        pause_s(c, pause);
        pause = pause * 2 > RETRY_MAX_S ? RETRY_MAX_S : pause * 2;
    }
}

/* The steps up to and after the commit point, for a rename that began here. */
static int rename_new(struct coord *c, const struct meta_intent *in)
{
    uint64_t tino;
    uint32_t ttype;
    int rc = 0;
    if (in->type == S_IFDIR && in->parent != in->newparent && (rc = check_loop(c, in)) < 0)
        return rc;
    for (int tries = 0;; tries++) {
        rc = rename_commit(c, in, &tino, &ttype);
        if (rc != -ESTALE)
            break;
        if (tries == STALE_TRIES)
            return -EBUSY;
    }
    if (rc == 1)
        return 0;   /* two names of one inode */
    return rc < 0 ? rc : rename_finish(c, in, tino, ttype);
}

/* A replay: committed if, and only if, the target's INSTALL was done. */
static int rename_replay(struct coord *c, const struct meta_intent *in)
{
    struct bfs_msg mark;
    int rc = claim(c, in, place_dentry(in->newparent, in->newname, in->newname_len, c->nodes),
                   S_INSTALL, &mark);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (in->fenced)
            lift_all(c, in, in->fenced);
        log_info("coordinator: intent %llx: unfinished rename rolled back",
                 (unsigned long long)in->id);
        return -ECANCELED;
    }
    log_info("coordinator: intent %llx: committed rename finished", (unsigned long long)in->id);
    return rename_finish(c, in, mark.ino, mark.mode);
}

static int rename_run(struct coord *c, struct job *j)
{
    const struct meta_intent *in = &j->in;
    /* A directory that changes parents holds the move lock from its loop check
     * until its new parent is recorded (rename_finish's MOVED). */
    int moves = in->type == S_IFDIR && in->parent != in->newparent;
    int rc = moves ? move_lock(c, in, 1, j->replay) : 0;
    if (rc < 0)
        return rc;
    rc = j->replay ? rename_replay(c, in) : rename_new(c, in);
    if (moves) {
        int rl = move_lock(c, in, 0, 0);
        if (rl < 0)
            log_warn("coordinator: intent %llx: giving back the move lock: %s",
                     (unsigned long long)in->id, strerror(-rl));
    }
    return rc;
}

/* ---- rmdir ---- */

static int rmdir_run(struct coord *c, struct job *j)
{
    const struct meta_intent *in = &j->in;
    uint64_t ino = 0;
    uint32_t type;
    int rc = lookup_own(c, in, &ino, &type);
    int committed = rc == -ENOENT || (rc == 0 && ino != in->ino);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (!committed) {
        if ((rc = fence_all(c, in, in->ino)) < 0)
            return rc;
        server_crash_point("rmdir-fenced");
        if ((rc = drop_entry(c, in)) < 0) {
            if (rc != -ESHUTDOWN)
                lift_all(c, in, in->ino);
            return rc;
        }
        server_crash_point("rmdir-removed");
    }
    struct batch b;
    if (batch_open(&b, 2 + c->nodes) < 0) {
        free(b.calls);
        free(b.what);
        return -ENOMEM;
    }
    batch_drop(&b, c, in, in->ino, 1);
    batch_adjust(&b, c, in, in->parent, -1, S_ADJ_OLD);
    batch_tombstones(&b, c, in, in->ino);
    batch_run(c, in, &b);
    return 0;
}

/* The times of the intent's parent, where it lives, when the entry's own server
 * (this one) could not set them in its transaction. */
static void touch_parent(struct coord *c, const struct meta_intent *in)
{
    if (place_inode(in->parent, c->nodes) != c->self)
        adjust_dir(c, in, in->parent, 0, S_ADJ_OLD);
}

/* ---- unlink, link, mkdir: an entry here, an inode or parent elsewhere ----
 *
 * The event loop does the local half right after it began the intent (the entry
 * is locked meanwhile, so nothing else touches it): an unlink's entry is gone, a
 * mkdir's directory made. A replay tells from the entry whether that happened. */

static int unlink_run(struct coord *c, struct job *j)
{
    const struct meta_intent *in = &j->in;
    uint64_t ino;
    uint32_t type;
    if (j->replay) {
        int rc = lookup_own(c, in, &ino, &type);
        if (rc == 0 && ino == in->ino)
            return -ECANCELED;   /* the entry was not removed yet: nothing happened */
        if (rc < 0 && rc != -ENOENT)
            return rc;
    }
    drop_inode(c, in, in->ino, 0);
    touch_parent(c, in);
    return 0;
}

static int link_run(struct coord *c, struct job *j)
{
    const struct meta_intent *in = &j->in;
    uint32_t owner = place_inode(in->ino, c->nodes);
    struct rpc_call call;
    struct bfs_msg mark;
    int rc;
    if (j->replay) {
        /* Done if the entry was made; else undo a link counted without it. */
        if ((rc = claim(c, in, c->self, S_INSTALL, &mark)) != 0) {
            if (rc > 0)
                adjust_dir(c, in, in->parent, 0, S_ADJ_OLD);   /* INSTALL does not */
            return rc < 0 ? rc : 0;
        }
        if ((rc = claim(c, in, owner, S_GAIN, &mark)) <= 0)
            return rc < 0 ? rc : -ECANCELED;
        drop_inode(c, in, in->ino, 0);
        return -ECANCELED;
    }
    /* The count first: an inode never has more names than links. */
    prep_step(&call, owner, OP_GAIN, in, S_GAIN);
    call.args.ino = in->ino;
    if ((rc = call1(c, &call)) < 0)
        return rc;
    server_crash_point("link-counted");
    prep_step(&call, c->self, OP_INSTALL, in, S_INSTALL);
    call.args.parent = in->parent;
    call.args.name = in->name;
    call.args.name_len = in->name_len;
    call.args.ino = in->ino;
    call.args.mode = in->type;
    if ((rc = call1(c, &call)) < 0 && rc != -ESHUTDOWN) {
        drop_inode(c, in, in->ino, 0);
        return rc == -ESTALE ? -EEXIST : rc;
    }
    if (rc == 0)
        adjust_dir(c, in, in->parent, 0, S_ADJ_OLD);   /* INSTALL does not */
    return rc;
}

static int mkdir_run(struct coord *c, struct job *j)
{
    const struct meta_intent *in = &j->in;
    uint64_t ino;
    uint32_t type;
    if (j->replay) {
        int rc = lookup_own(c, in, &ino, &type);
        if (rc == -ENOENT || (rc == 0 && type != S_IFDIR))
            return -ECANCELED;   /* the directory was not made */
        if (rc < 0)
            return rc;
    }
    adjust_dir(c, in, in->parent, +1, S_ADJ_NEW);
    return 0;
}

static int chunks_run(struct coord *c, struct job *j)
{
    const struct meta_intent *in = &j->in;
    for (uint32_t node = 0; node < c->nodes; node++) {
        struct rpc_call call;
        if (node == c->self)
            continue;
        bfs_call_prep(&call, node, OP_REMOVE);
        call.args.ino = in->ino;
        call.args.size = in->size;
        step_failed(in, "removing chunks of a freed inode", call1(c, &call));
    }
    return 0;
}

/* ---- the thread ---- */

static const struct {
    const char *name;
    int (*run)(struct coord *c, struct job *j);
} kinds[] = {
    [COORD_RENAME] = { "rename", rename_run },
    [COORD_RMDIR] = { "rmdir", rmdir_run },
    [COORD_UNLINK] = { "unlink", unlink_run },
    [COORD_LINK] = { "link", link_run },
    [COORD_MKDIR] = { "mkdir", mkdir_run },
    [COORD_CHUNKS] = { "chunks", chunks_run },
};

static void run_job(struct coord *c, struct job *j)
{
    c->shut = 0;
    if (j->phase == JOB_FORGET) {
        j->status = on_all(c, OP_FORGET, 0, &j->in, 0);
        return;
    }
    uint32_t k = j->in.kind;
    if (k >= sizeof kinds / sizeof kinds[0] || !kinds[k].run) {
        log_error("coordinator: intent %llx of unknown kind %u dropped",
                  (unsigned long long)j->in.id, k);
        j->status = -EINVAL;
        return;
    }
    j->status = kinds[k].run(c, j);
    if (c->shut)
        j->status = -ESHUTDOWN;   /* some step was not done: the replay finishes it */
    log_debug("coordinator: intent %llx (%s '%.*s'): %s", (unsigned long long)j->in.id,
              kinds[k].name, (int)j->in.name_len, j->in.name,
              j->status < 0 ? strerror(-j->status) : "done");
}

/* Connects to the cluster (waiting for every node to register) until it works or
 * the server stops. */
static int connect_cluster(struct coord *c)
{
    struct bfs_client_opts o = { .registry_dir = c->s->registry_dir, .registry_timeout_s = 1,
                                 .rpc_timeout_s = STEP_TIMEOUT_S };
    while (!stopping(c)) {
        if (bfs_client_open(&o, &c->client) == 0)
            return 0;
        pause_s(c, 0.2);
    }
    return -ESHUTDOWN;
}

static void kick(struct coord *c)
{
    uint64_t one = 1;
    if (write(c->efd, &one, sizeof one) != sizeof one)
        log_warn("coordinator: eventfd: %s", strerror(errno));
}

/* Runs jobs until the server stops, and then those still queued while every node
 * answers (a clean stop leaves no intent behind); once a node does not, hands
 * back the rest unrun (their intents stay for the next start). Then says goodbye
 * to the nodes while their event loops still answer, and ends. */
static void *coord_main(void *arg)
{
    struct coord *c = arg;
    int gave_up = connect_cluster(c) < 0;
    if (!gave_up)
        log_info("coordinator: connected to the %u nodes of the cluster", c->nodes);
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->stop && !c->todo_head)
            pthread_cond_wait(&c->cond, &c->lock);
        struct job *j = pop(&c->todo_head, &c->todo_tail);
        pthread_mutex_unlock(&c->lock);
        if (!j)
            break;
        if (gave_up) {
            j->status = -ESHUTDOWN;
        } else {
            run_job(c, j);
            gave_up = j->status == -ESHUTDOWN;
        }
        pthread_mutex_lock(&c->lock);
        push(&c->done_head, &c->done_tail, j);
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add(&c->ndone, 1);
        kick(c);
    }
    bfs_client_close(c->client);
    c->client = NULL;
    atomic_store(&c->exited, 1);
    kick(c);
    return NULL;
}

/* ---- the event loop's side ---- */

int coord_start(struct server *s, struct coord **out)
{
    struct coord *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->s = s;
    c->nodes = s->nodes;
    c->self = s->node_id;
    c->chunk_size = s->chunk_size;
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&c->lock, NULL);
    bfs_cond_init_mono(&c->cond);
    int rc = c->efd < 0 ? -errno : -pthread_create(&c->thread, NULL, coord_main, c);
    if (rc < 0) {
        log_error("coordinator: cannot start: %s", strerror(-rc));
        coord_stop(c);
        return rc;
    }
    c->started = 1;
    *out = c;
    return 0;
}

void coord_shutdown(struct coord *c)
{
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int coord_idle(struct coord *c)
{
    return atomic_load(&c->exited) && atomic_load(&c->ndone) == 0;
}

int coord_ready(struct coord *c)
{
    return atomic_load(&c->ndone) != 0;
}

void coord_stop(struct coord *c)
{
    if (!c)
        return;
    coord_shutdown(c);
    if (c->started)
        pthread_join(c->thread, NULL);
    bfs_client_close(c->client);
    for (struct job *j; (j = pop(&c->todo_head, &c->todo_tail)) || (j = pop(&c->done_head, &c->done_tail));)
        free(j);
    if (c->efd >= 0)
        close(c->efd);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int coord_fd(const struct coord *c)
{
    return c->efd;
}

static void submit(struct coord *c, struct job *j)
{
    pthread_mutex_lock(&c->lock);
    push(&c->todo_head, &c->todo_tail, j);
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void coord_submit(struct coord *c, const struct meta_intent *in, struct srv_req *r, int replay)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        /* Not marked done (a local half may have happened already): the intent
         * stays ACTIVE and the next start replays it; the client learns the
         * outcome is not known yet, as after a stop (-ESHUTDOWN -> ETIMEDOUT). */
        log_error("coordinator: intent %llx: out of memory; it runs at the next start",
                  (unsigned long long)in->id);
        handlers_intent_finished(c->s, in, r, -ESHUTDOWN);
        return;
    }
    j->in = *in;
    j->r = r;
    j->replay = replay;
    j->phase = in->state == META_INTENT_DONE ? JOB_FORGET : JOB_RUN;
    submit(c, j);
}

void coord_poll(struct coord *c)
{
    uint64_t n;
    if (read(c->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn("coordinator: eventfd: %s", strerror(errno));
    for (;;) {
        pthread_mutex_lock(&c->lock);
        struct job *j = pop(&c->done_head, &c->done_tail);
        pthread_mutex_unlock(&c->lock);
        if (!j)
            return;
        atomic_fetch_sub(&c->ndone, 1);
        if (j->phase == JOB_RUN) {
            handlers_intent_finished(c->s, &j->in, j->r, j->status);
            j->r = NULL;
            if (j->status == -ESHUTDOWN) {
                free(j);   /* replayed at the next start */
                continue;
            }
            j->phase = JOB_FORGET;
            submit(c, j);
            continue;
        }
        if (j->status == 0) {
            int rc = meta_intent_end(c->s->meta, j->in.id);
            if (rc < 0)
                log_warn("coordinator: intent %llx: cannot end it: %s",
                         (unsigned long long)j->in.id, strerror(-rc));
        }
        free(j);
    }
}
