/* handlers_ns.c - the namespace on this server: create, link, unlink and rename
 * of entries, and where an operation between servers is done on this side: a
 * rename, mkdir, link or unlink whose entries or inodes are on several servers
 * becomes an intent (meta.h) that this node's coordinator (coord.c) runs step by
 * step; the steps (INSTALL, DROP, FENCE, ...) are handled here too. Entries of a
 * running intent are locked, and requests that would add to a fenced directory
 * wait, both in memory (see below). */
#include "handlers_int.h"
#include "coord.h"
#include "dirtimes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/placement.h"

#define STAMP_AHEAD_MAX_NS (60 * 1000000000LL)   /* a touch's stamp past our clock: refused */

/* ---- multi-server operations (coord.h) ----
 *
 * The entry of an intent this node coordinates is locked while its steps run:
 * a request for that entry waits in the lock's queue (like a migration's) and
 * runs once the intent is over; a step of another intent that would change it
 * gets -EBUSY (the other operation is rolled back and tried again, so two
 * operations never wait for each other). A request that would add an entry to a
 * fenced directory (META_FENCED) waits until a FENCE step lifts the fence or
 * makes it a tombstone. Both are rare and short: lists do. */

struct entry_lock {
    uint64_t intent, parent;
    uint32_t len;
    char name[BFS_NAME_MAX];
    struct srv_req *wait_head, *wait_tail;
    struct entry_lock *next;
};

struct fence_wait {
    uint64_t dir;
    struct srv_req *wait_head, *wait_tail;
    struct fence_wait *next;
};

static struct entry_lock *lock_of(const struct server *s, uint64_t parent, const char *name,
                                  uint32_t len)
{
    struct entry_lock *l = s->locks;
    while (l && !(l->parent == parent && l->len == len && memcmp(l->name, name, len) == 0))
        l = l->next;
    return l;
}

/* A rename's new entry is looked at first, then the entry every such request names. */
int handlers_entry_wait(struct server *s, struct srv_req *r, int both)
{
    if (!s->locks)
        return 0;
    struct entry_lock *l = both ? lock_of(s, r->a.newparent, r->a.newname, r->a.newname_len) : NULL;
    if (!l)
        l = lock_of(s, r->a.parent, r->a.name, r->a.name_len);
    if (!l)
        return 0;
    log_debug("request %llu: %s '%.*s' waits for intent %llx", (unsigned long long)r->id,
              proto_op_name(r->op), (int)r->a.name_len, r->a.name, (unsigned long long)l->intent);
    req_append(&l->wait_head, &l->wait_tail, r);
    return 1;
}

static int lock_entry(struct server *s, const struct meta_intent *in)
{
    struct entry_lock *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->intent = in->id;
    l->parent = in->parent;
    l->len = in->name_len;
    memcpy(l->name, in->name, in->name_len);
    l->next = s->locks;
    s->locks = l;
    return 0;
}

static void unlock_entry(struct server *s, uint64_t intent)
{
    struct entry_lock **pp = &s->locks;
    while (*pp && (*pp)->intent != intent)
        pp = &(*pp)->next;
    struct entry_lock *l = *pp;
    if (!l)
        return;
    *pp = l->next;
    handlers_run_queue(s, l->wait_head);
    free(l);
}

/* r waits until dir's fence goes; 1 (answered later) or -ENOMEM. */
static int fence_defer(struct server *s, struct srv_req *r, uint64_t dir)
{
    struct fence_wait *f = s->fence_waits;
    while (f && f->dir != dir)
        f = f->next;
    if (!f) {
        if (!(f = calloc(1, sizeof *f)))
            return -ENOMEM;
        f->dir = dir;
        f->next = s->fence_waits;
        s->fence_waits = f;
    }
    log_debug("request %llu: %s waits for the fence on directory %llx", (unsigned long long)r->id,
              proto_op_name(r->op), (unsigned long long)dir);
    req_append(&f->wait_head, &f->wait_tail, r);
    return 1;
}

static void fence_wake(struct server *s, uint64_t dir)
{
    struct fence_wait **pp = &s->fence_waits;
    while (*pp && (*pp)->dir != dir)
        pp = &(*pp)->next;
    struct fence_wait *f = *pp;
    if (!f)
        return;
    *pp = f->next;
    handlers_run_queue(s, f->wait_head);
    free(f);
}

/* Begins an intent of kind for r's entry (mode: META_BEGIN_*) and locks the
 * entry; *in gets it. 0, META_FENCED or -errno. */
static int begin_intent(struct server *s, struct srv_req *r, uint32_t kind, int mode,
                        struct meta_intent *in)
{
    const struct bfs_msg *a = &r->a;
    /* BFS_F_PATTR and BFS_F_TIMES shape a reply (a coordinated one has no pattr,
     * and the coordinator sets the parents' times), not the operation. */
    uint32_t reply_only = BFS_F_PATTR | BFS_F_TIMES;
    *in = (struct meta_intent){ .kind = kind, .flags = a->flags & ~reply_only,
                                .parent = a->parent,
                                .newparent = a->newparent, .name_len = a->name_len,
                                .newname_len = a->newname_len, .ino = a->ino,
                                .type = a->mode & S_IFMT };
    memcpy(in->name, a->name, a->name_len);
    if (a->newname_len)
        memcpy(in->newname, a->newname, a->newname_len);
    int rc = meta_intent_begin(s->meta, in, mode);
    if (rc)
        return rc;
    if ((rc = lock_entry(s, in)) < 0)
        meta_intent_end(s->meta, in->id);
    return rc;
}

/* The local half of an intent failed before the coordinator saw it: forget it. */
static void abandon_intent(struct server *s, const struct meta_intent *in)
{
    int rc = meta_intent_end(s->meta, in->id);
    if (rc < 0)
        log_warn("intent %llx: cannot end it: %s (the next start rolls it back)",
                 (unsigned long long)in->id, strerror(-rc));
    unlock_entry(s, in->id);
}

/* Begins an intent and hands it to the coordinator: 1 (r is answered when it is
 * done), or -errno. */
static int start_intent(struct server *s, struct srv_req *r, uint32_t kind, int mode)
{
    struct meta_intent in;
    int rc = begin_intent(s, r, kind, mode, &in);
    if (rc == META_FENCED)
        return fence_defer(s, r, r->a.parent);
    if (rc < 0)
        return rc;
    coord_submit(s->coord, &in, r, 0);
    return 1;
}

/* An inode freed here whose chunks spread to other nodes: they go in the
 * background (nobody waits), as an intent so a crash does not leave them. */
static int remove_chunks_later(struct server *s, uint64_t ino, uint64_t size)
{
    struct meta_intent in = { .kind = COORD_CHUNKS, .ino = ino, .size = size };
    int rc = meta_intent_begin(s->meta, &in, META_BEGIN_NOENTRY);
    if (rc < 0) {
        log_warn("ino %llx: cannot note its chunks on other nodes for removal: %s",
                 (unsigned long long)ino, strerror(-rc));
        return rc;
    }
    coord_submit(s->coord, &in, NULL, 0);
    return 0;
}

void handlers_intent_finished(struct server *s, const struct meta_intent *in, struct srv_req *r,
                              int status)
{
    if (status != -ESHUTDOWN) {
        int rc = meta_intent_done(s->meta, in);
        if (rc < 0)
            log_error("intent %llx: cannot mark it done: %s", (unsigned long long)in->id,
                      strerror(-rc));
    }
    if (r) {
        /* Nothing is left for the client to do (a CREATE keeps its attributes). */
        if (r->op != OP_CREATE) {
            uint64_t ino = r->op == OP_UNLINK ? r->r.ino : 0;   /* which inode lost the name */
            memset(&r->r, 0, sizeof r->r);
            r->r.flags = BFS_DROP_COORD;
            r->r.ino = ino;
        }
        srv_reply(r, status == -ESHUTDOWN ? -ETIMEDOUT : status == -ECANCELED ? -EBUSY : status);
    }
    unlock_entry(s, in->id);
}

int handlers_replay(struct server *s)
{
    struct meta_intent *list;
    size_t n;
    int rc = meta_intent_list(s->meta, &list, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (list[i].state == META_INTENT_ACTIVE && list[i].kind != COORD_CHUNKS &&
            (rc = lock_entry(s, &list[i])) < 0)
            break;
        coord_submit(s->coord, &list[i], NULL, 1);
    }
    free(list);
    if (rc == 0 && n)
        log_info("replaying %zu multi-server operations left by the last run", n);
    return rc < 0 ? rc : (int)n;
}

/* ---- the namespace ops ---- */

/* Reports what happened to an inode that lost an entry or a link (d, when rc is
 * 0); frees its chunks here when it is gone (the client asks the other nodes for
 * theirs). Returns rc. */
static int report_drop(struct server *s, struct srv_req *r, int rc, const struct meta_drop *d)
{
    if (rc != 0)
        return rc;
    int freed = d->freed;
    if (freed) {
        /* In the background: the metadata says the file is gone already. */
        int rm = chunkstore_remove_later(s->cs, d->ino, d->size);
        if (rm < 0)
            log_warn("ino %llx: removing its chunks failed: %s", (unsigned long long)d->ino, strerror(-rm));
        server_crash_point("chunks-queued");
        /* In a cluster the chunks past the first may be anywhere: ours to remove. */
        if (s->coord && d->size > s->chunk_size && remove_chunks_later(s, d->ino, d->size) == 0)
            freed = 0;
    }
    r->r.ino = d->ino;
    r->r.flags = (d->remote ? BFS_DROP_REMOTE : 0) | (freed ? BFS_DROP_FREED : 0);
    r->r.size = d->size;
    return 0;
}

static int do_rename(struct server *s, struct srv_req *r, struct meta_drop *drop)
{
    const struct bfs_msg *a = &r->a;
    unsigned flags = (a->flags & BFS_F_NOREPLACE) ? META_RENAME_NOREPLACE : 0;
    if (s->nodes > 1) {
        if (place_dentry(a->newparent, a->newname, a->newname_len, s->nodes) != s->node_id)
            return start_intent(s, r, COORD_RENAME, META_BEGIN_ENTRY);
        flags |= META_RENAME_CLUSTER;
    }
    int rc = meta_rename(s->meta, a->parent, a->name, a->name_len, a->newparent, a->newname,
                         a->newname_len, flags, !!(a->flags & BFS_F_KEEP), bfs_wall_ns(), drop);
    if (rc == META_COORD)
        return start_intent(s, r, COORD_RENAME, META_BEGIN_ENTRY);
    if (rc == META_FENCED)
        return fence_defer(s, r, a->newparent);
    return rc;
}

int handle_install(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_step replaced;
    struct entry_lock *l = lock_of(s, a->parent, a->name, a->name_len);
    if (l && l->intent != a->intent)
        return -EBUSY;
    int rc = meta_install(s->meta, a->parent, a->name, a->name_len, a->ino, a->mode, a->size,
                          a->intent, a->step, &replaced);
    if (rc == META_FENCED)
        return fence_defer(s, r, a->parent);
    if (rc == 0) {
        r->r.ino = replaced.ino;
        r->r.mode = replaced.type;
    }
    return rc;
}

int handle_fence(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    if (a->flags == BFS_FENCE_SET)
        return meta_fence(s->meta, a->ino, a->intent);
    if (a->flags != BFS_FENCE_LIFT && a->flags != BFS_FENCE_DEAD)
        return -EINVAL;
    int rc = meta_unfence(s->meta, a->ino, a->intent, a->flags == BFS_FENCE_DEAD);
    if (rc == 0)
        fence_wake(s, a->ino);
    return rc;
}

/* The cluster's directory-move lock, on node 0: a directory moved between parents
 * holds it from its loop check until its new parent is recorded, so that two such
 * moves at once (a into b/ and b into a/) cannot make a cycle (Lustre's "big
 * filesystem lock" for cross-MDT renames). In memory: a restart of node 0, or the
 * death of the holder's connection, frees it. */
int handle_move_lock(struct server *s, struct srv_req *r)
{
    uint64_t intent = r->a.intent;
    if (s->node_id != 0 || intent == 0 || !r->conn)
        return -EINVAL;
    if (!(r->a.flags & 1)) {
        if (s->move_lock == intent)
            s->move_lock = 0;
        return 0;
    }
    if (s->move_lock && s->move_lock != intent)
        return -EBUSY;
    s->move_lock = intent;
    s->move_lock_conn = r->conn->id;
    return 0;
}

void handlers_conn_gone(struct server *s, uint32_t id)
{
    lockreq_conn_gone(s, id);
    if (s->move_lock && s->move_lock_conn == id) {
        log_info("the directory-move lock of intent %llx goes with its connection",
                 (unsigned long long)s->move_lock);
        s->move_lock = 0;
    }
}

int handle_step(struct server *s, struct srv_req *r)
{
    struct meta_step st;
    int rc = (r->a.flags & 1) ? meta_step_claim(s->meta, r->a.intent, r->a.step, &st)
                              : meta_step_get(s->meta, r->a.intent, r->a.step, &st);
    if (rc == 0) {
        r->r.ino = st.ino;
        r->r.mode = st.type;
        r->r.flags = st.flags;
        r->r.size = st.size;
    }
    return rc;
}

/* After a change of parent's entries made here. A parent held here had its
 * times set in the change's transaction: if r asked (BFS_F_PATTR), its
 * attributes as it left them, for the client's caches (the kernel asks for them
 * next; a failed read is no error: ino 0 says "not given"). A parent that lives
 * elsewhere gets them from the client's NLINK (whose reply tells them), or, if r
 * asked (BFS_F_TIMES), from us later (dirtimes.h): the reply says when. */
static void parent_after(struct server *s, struct srv_req *r, uint64_t parent)
{
    if (ino_local(s, parent)) {
        if ((r->a.flags & BFS_F_PATTR) && meta_getattr(s->meta, parent, &r->r.pattr) < 0)
            memset(&r->r.pattr, 0, sizeof r->r.pattr);
    } else if ((r->a.flags & BFS_F_TIMES) && s->dirtimes) {
        int64_t now = bfs_wall_ns();
        int rc = dirtimes_note(s->dirtimes, parent, now);
        if (rc == -EAGAIN)
            return;   /* not connected to the cluster yet: the client's own NLINK */
        static int warned;   /* a full disk would say it at every directory's first touch */
        if (rc < 0 && !warned++)   /* queued all the same: only a crash before it is sent loses it */
            log_warn("directory ino %llx: cannot write down the touch it is owed: %s (said once)",
                     (unsigned long long)parent, strerror(-rc));
        r->r.flags |= BFS_TIMES_LATER;
        r->r.stamp = (uint64_t)now;
    }
}

int handle_create(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_intent in;
    /* A directory counts in its parent's nlink, there. */
    int remote_parent = s->nodes > 1 && S_ISDIR(a->mode) && !ino_local(s, a->parent);
    int rc = remote_parent ? begin_intent(s, r, COORD_MKDIR, META_BEGIN_NEW, &in) : 0;
    /* The umask and inherited attributes: xattr_store.h, xattr_inherit. */
    struct meta_inherit ih = { a->mask, r->data, r->data_len };
    if (rc == 0) {
        rc = meta_mknod_inherit(s->meta, a->parent, a->name, a->name_len, a->mode, a->rdev, a->uid,
                                a->gid, a->target, a->target_len, &ih, bfs_wall_ns(), &r->r.attr);
        if (remote_parent && rc == 0) {
            server_crash_point("mkdir-made");
            coord_submit(s->coord, &in, r, 0);
            return 1;
        }
        if (remote_parent)
            abandon_intent(s, &in);
    }
    if (rc == 0)
        parent_after(s, r, a->parent);
    return rc == META_FENCED ? fence_defer(s, r, a->parent) : rc;
}

/* A cluster's unlink of a name whose inode lives on another node: the name goes
 * here, the link there, through the coordinator. */
static int unlink_remote(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_intent in;
    struct meta_drop drop;
    int rc = begin_intent(s, r, COORD_UNLINK, META_BEGIN_ENTRY, &in);
    if (rc)
        return rc;
    rc = meta_unlink(s->meta, a->parent, a->name, a->name_len, 0, 0, bfs_wall_ns(), &drop);
    if (rc < 0) {
        abandon_intent(s, &in);
        return rc;
    }
    server_crash_point("unlink-removed");
    r->r.ino = drop.ino;   /* for the client's caches, kept in the coordinator's reply */
    coord_submit(s->coord, &in, r, 0);
    return 1;
}

static int do_unlink(struct server *s, struct srv_req *r, struct meta_drop *drop)
{
    const struct bfs_msg *a = &r->a;
    int is_dir = !!(a->flags & BFS_F_RMDIR);
    if (s->nodes > 1) {
        uint64_t ino;
        uint32_t type;
        if (is_dir)
            return start_intent(s, r, COORD_RMDIR, META_BEGIN_DIR);   /* entries on every node */
        int rc = meta_lookup(s->meta, a->parent, a->name, a->name_len, &ino, &type);
        if (rc < 0)
            return rc;
        if (!ino_local(s, ino) && type != S_IFDIR)
            return unlink_remote(s, r);
    }
    return meta_unlink(s->meta, a->parent, a->name, a->name_len, is_dir, !!(a->flags & BFS_F_KEEP),
                       bfs_wall_ns(), drop);
}

int handle_link(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    int remote = 0;
    if (s->nodes > 1 && !ino_local(s, a->ino)) {
        if ((a->mode & S_IFMT) == S_IFDIR)
            return -EPERM;
        return start_intent(s, r, COORD_LINK, META_BEGIN_NEW);
    }
    int rc = meta_link(s->meta, a->ino, a->mode, a->parent, a->name, a->name_len, bfs_wall_ns(),
                       &r->r.attr, &remote);
    if (rc == META_FENCED)
        return fence_defer(s, r, a->parent);
    r->r.flags = (uint32_t)remote;
    if (rc == 0)
        parent_after(s, r, a->parent);
    return rc;
}

/* ---- ops that report a dropped inode, and the coordinator's one-call steps ---- */

int handle_unlink(struct server *s, struct srv_req *r)
{
    struct meta_drop drop = { 0 };
    int rc = report_drop(s, r, do_unlink(s, r, &drop), &drop);
    if (rc == 0)
        parent_after(s, r, r->a.parent);
    return rc;
}

int handle_rename(struct server *s, struct srv_req *r)
{
    struct meta_drop drop = { 0 };
    int rc = report_drop(s, r, do_rename(s, r, &drop), &drop);
    if (rc == 0) {
        r->r.flags |= (drop.dir_moved ? BFS_DIR_MOVED : 0) | (drop.dir_gone ? BFS_DIR_GONE : 0);
        parent_after(s, r, r->a.parent);
        if (r->a.newparent != r->a.parent)
            parent_after(s, r, r->a.newparent);
    }
    return rc;
}

int handle_nlink(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_drop drop = { 0 };
    if (a->flags & BFS_F_SUBDIR) {
        if (a->flags & BFS_F_STAMP) {
            /* A stamp far ahead of our clock would make every later one a no-op. */
            int64_t stamp = (int64_t)a->stamp;
            if (a->delta != 0 || stamp <= 0 || stamp > bfs_wall_ns() + STAMP_AHEAD_MAX_NS)
                return -EINVAL;
            int rc = meta_stamp_dir(s->meta, a->ino, stamp);
            if (rc == 0)
                parent_after(s, r, a->ino);
            return rc;
        }
        int rc = meta_touch_dir(s->meta, a->ino, a->delta, bfs_wall_ns());
        if (rc == 0)
            parent_after(s, r, a->ino);
        return rc;
    }
    if (a->delta != 1 && a->delta != -1)
        return -EINVAL;
    return report_drop(s, r, meta_nlink(s->meta, a->ino, a->delta, !!(a->flags & BFS_F_KEEP),
                                        bfs_wall_ns(), &drop), &drop);
}

int handle_purge(struct server *s, struct srv_req *r)
{
    struct meta_drop drop = { 0 };
    return report_drop(s, r, meta_purge(s->meta, r->a.ino, &drop), &drop);
}

int handle_drop_entry(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return meta_drop_entry(s->meta, a->parent, a->name, a->name_len, a->ino);
}

int handle_dir_adjust(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return meta_dir_adjust(s->meta, a->ino, a->delta, a->intent, a->step, bfs_wall_ns());
}

int handle_drop(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_drop drop = { 0 };
    int rc = meta_drop(s->meta, a->ino, !!(a->flags & BFS_F_RMDIR), !!(a->flags & BFS_F_KEEP),
                       a->intent, a->step, bfs_wall_ns(), &drop);
    return report_drop(s, r, rc, &drop);
}

int handle_moved(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return meta_moved(s->meta, a->ino, a->newparent, a->intent, a->step, bfs_wall_ns());
}

int handle_gain(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return meta_gain(s->meta, a->ino, a->intent, a->step, bfs_wall_ns());
}

int handle_forget(struct server *s, struct srv_req *r)
{
    return meta_forget(s->meta, r->a.intent);
}

int handle_note(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return bfs_ino_node(a->intent) == s->node_id ? meta_intent_note(s->meta, a->intent, a->ino)
                                                  : -EINVAL;
}
