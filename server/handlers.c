/* handlers.c - what each RPC does on this server: metadata in LMDB (synchronous,
 * one transaction each), file data through the io_uring chunk store
 * (asynchronous: the reply goes out from the completion).
 *
 * Chunk 0 of a small file is inline in LMDB (meta_inline_*): its reads and writes
 * are synchronous and never touch the chunk store. A write that does not fit
 * migrates the file to chunk mode first (see migrate). */
#include "server_int.h"
#include "coord.h"
#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "../common/endian.h"
#include "../common/clock.h"
#include "gone.h"
#include "../common/log.h"
#include "../common/placement.h"
#include "../common/xattr.h"
#include "xattr_store.h"

static int local(const struct server *s, uint64_t ino)
{
    return bfs_ino_node(ino) == s->node_id;
}

static int remove_chunks_later(struct server *s, uint64_t ino, uint64_t size);

/* Reports what happened to an inode that lost an entry; frees its chunks here
 * when it is gone (the client asks the other nodes for theirs). */
static void report_drop(struct server *s, struct srv_req *r, const struct meta_drop *d)
{
    int freed = d->freed;
    if (freed) {
        int rc = chunkstore_remove(s->cs, d->ino, d->size);
        if (rc < 0)
            log_warn("ino %llx: removing its chunks failed: %s", (unsigned long long)d->ino, strerror(-rc));
        /* In a cluster the chunks past the first may be anywhere: ours to remove. */
        if (s->coord && d->size > s->chunk_size && remove_chunks_later(s, d->ino, d->size) == 0)
            freed = 0;
    }
    r->r.ino = d->ino;
    r->r.flags = (d->remote ? BFS_DROP_REMOTE : 0) | (freed ? BFS_DROP_FREED : 0);
    r->r.size = d->size;
}

static int do_lookup(struct server *s, struct srv_req *r)
{
    uint32_t type;
    int rc = meta_lookup(s->meta, r->a.parent, r->a.name, r->a.name_len, &r->r.ino, &type);
    if (rc < 0)
        return rc;
    r->r.mode = type;
    if (local(s, r->r.ino)) {
        rc = meta_getattr(s->meta, r->r.ino, &r->r.attr);
        r->r.flags = rc == 0;
    }
    return rc;
}

/* A SIZE_GROW alone is a client's report of a write to other nodes: the bytes
 * [off, size) count as stored (st_blocks). */
static int do_setattr(struct server *s, struct srv_req *r)
{
    if (r->a.mask & BFS_SET_ATIME_READ) {
        int touched;
        int rc = meta_read_atime(s->meta, r->a.ino, !!(r->a.mask & BFS_SET_ATIME_RELATIME),
                                 bfs_wall_ns(), &r->r.attr, &touched);
        r->r.size = (uint64_t)touched;
        return rc;
    }
    struct bfs_attr old = { 0 };
    int rc = r->a.mask == BFS_SET_SIZE_GROW
        ? meta_wrote(s->meta, r->a.ino, r->a.off, r->a.attr.size, bfs_wall_ns(), &r->r.attr, &old)
        : meta_setattr(s->meta, r->a.ino, r->a.mask, &r->a.attr, bfs_wall_ns(), &r->r.attr, &old);
    if (rc == 0 && (r->a.mask & BFS_SET_SIZE) && r->r.attr.size < old.size)
        rc = chunkstore_truncate(s->cs, r->a.ino, old.size, r->r.attr.size);
    r->r.size = old.size;
    return rc;
}

static int do_readdir(struct server *s, struct srv_req *r)
{
    size_t max = r->a.len < BFS_READDIR_MAX ? r->a.len : BFS_READDIR_MAX, n = 0, total = 0;
    int eof = 0;
    if (max == 0)
        return -EINVAL;
    struct bfs_dirent *d = malloc(max * sizeof *d);
    if (!d)
        return -ENOMEM;
    int rc = meta_readdir(s->meta, r->a.ino, r->a.cookie, d, max, &n, &eof);
    for (size_t i = 0; rc == 0 && i < n; i++)
        total += proto_dirent_size(&d[i]);
    if (rc == 0 && total && !(r->rdata = malloc(total)))
        rc = -ENOMEM;
    for (size_t i = 0, off = 0; rc == 0 && i < n; i++)
        off += proto_dirent_encode(&d[i], (uint8_t *)r->rdata + off);
    r->rdata_len = rc == 0 ? total : 0;
    r->r.len = (uint32_t)n;
    r->r.flags = (uint32_t)eof;
    free(d);
    return rc;
}

static int do_statfs(struct server *s, struct srv_req *r)
{
    struct statvfs v;
    if (statvfs(s->data_dir, &v) < 0)
        return -errno;
    r->r.st = (struct bfs_statfs){
        .bsize = v.f_frsize, .blocks = v.f_blocks, .bfree = v.f_bfree, .bavail = v.f_bavail,
        .files = v.f_files, .ffree = v.f_ffree, .namemax = BFS_NAME_MAX,
    };
    return 0;
}

static int do_counters(struct server *s, struct srv_req *r)
{
    uint8_t *p = malloc(OP_MAX * 8);
    if (!p)
        return -ENOMEM;
    for (int i = 0; i < OP_MAX; i++)
        put_le64(p + 8 * i, s->counters[i]);
    r->rdata = p;
    r->rdata_len = OP_MAX * 8;
    r->r.len = OP_MAX;
    return 0;
}

/* A page of one table's raw records (benchfs-fsck): read-only, so a scan may run
 * while the cluster works (the checker re-checks what looks wrong). The chunk
 * "table" lists the chunk directories, blocking: a check tool's cost. */
_Static_assert((int)META_T_PARENTS == (int)BFS_SCAN_PARENTS && (int)META_T_MAX == (int)BFS_SCAN_CHUNKS &&
               (int)META_T_XATTRS == (int)BFS_SCAN_XATTRS,
               "meta_scan's tables are OP_SCAN's");

static int do_scan(struct server *s, struct srv_req *r)
{
    size_t max = r->a.len < BFS_MAX_DATA_LEN ? r->a.len : BFS_MAX_DATA_LEN, used = 0, n = 0;
    int eof = 1, rc;
    if (r->a.idx >= BFS_SCAN_MAX || max == 0)
        return -EINVAL;
    if (!(r->rdata = malloc(max)))
        return -ENOMEM;
    if (r->a.idx == BFS_SCAN_CHUNKS) {
        if (r->a.target_len != 0 && r->a.target_len != 16)
            return -EINVAL;
        const uint8_t *k = (const uint8_t *)r->a.target;
        rc = chunkstore_scan(s->cs, r->a.target_len == 0, k ? get_be64(k) : 0,
                             k ? get_be64(k + 8) : 0, r->rdata, max, &used, &n, &eof);
    } else {
        rc = meta_scan(s->meta, (int)r->a.idx, r->a.target, r->a.target_len, r->rdata, max,
                       &used, &n, &eof);
    }
    if (rc < 0)
        return rc;
    /* The cursor is the last key: find it in the bulk (records: u16 klen | u32 vlen | k | v). */
    size_t pos = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        last = pos;
        pos += 6 + get_le16((uint8_t *)r->rdata + pos) + get_le32((uint8_t *)r->rdata + pos + 2);
    }
    r->r.target = n ? (const char *)r->rdata + last + 6 : NULL;
    r->r.target_len = n ? get_le16((uint8_t *)r->rdata + last) : 0;
    r->rdata_len = used;
    r->r.len = (uint32_t)n;
    r->r.flags = (uint32_t)eof;
    return 0;
}

/* ---- data path ---- */

/* A piece of one chunk, within the largest file offset (off_t): past it a
 * write is -EFBIG and a read -EINVAL (a negative offset), as pwrite/pread say. */
static int check_io(const struct server *s, int write, uint64_t idx, uint64_t off, size_t len)
{
    if (len > BFS_MAX_IO || off > s->chunk_size || len > s->chunk_size - off)
        return -EINVAL;
    if (idx >= (uint64_t)INT64_MAX / s->chunk_size)
        return write ? -EFBIG : -EINVAL;
    return 0;
}

/* Only the owner knows a file's size and type; other nodes trust the client.
 * Only a regular file has data: a directory is -EISDIR, anything else (symlink,
 * FIFO, socket, device) -EINVAL, so their I/O never reaches the chunk store. */
static int owner_attr(struct server *s, uint64_t ino, struct bfs_attr *a)
{
    if (!local(s, ino))
        return 1;
    int rc = meta_getattr(s->meta, ino, a);
    if (rc == 0 && S_ISDIR(a->mode))
        return -EISDIR;
    if (rc == 0 && !S_ISREG(a->mode))
        return -EINVAL;
    return rc;
}

static void read_done(void *arg, ssize_t res)
{
    struct srv_req *r = arg;
    if (res < 0) {
        log_warn("READ ino %llx chunk %llu: %s", (unsigned long long)r->a.ino,
                 (unsigned long long)r->a.idx, strerror((int)-res));
        srv_reply(r, (int)res);
        return;
    }
    r->rdata_len = (size_t)res;
    if (r->rdata_len > 1 && server_fault("short-read"))
        r->rdata_len /= 2;
    srv_reply(r, 0);
}

static int do_read(struct server *s, struct srv_req *r)
{
    struct bfs_attr a;
    size_t len = r->a.len, got;
    int rc = check_io(s, 0, r->a.idx, r->a.off, len);
    if (rc == 0)
        rc = owner_attr(s, r->a.ino, &a);
    if (rc < 0)
        return rc;
    int owner = rc == 0;
    if (owner) {
        /* The owner clamps to the file size, so the client needs no extra GETATTR. */
        uint64_t pos = r->a.idx * s->chunk_size + r->a.off;
        len = pos >= a.size ? 0 : (a.size - pos < len ? (size_t)(a.size - pos) : len);
        r->r.flags = 1;
        r->r.size = a.size;
    }
    if (len == 0)
        return 0;
    r->rdata = chunkstore_buf_get(s->cs, len, &r->rdata_buf);
    if (!r->rdata && !(r->rdata = malloc(len)))
        return -ENOMEM;
    if (owner && r->a.idx == 0) {
        rc = meta_inline_read(s->meta, r->a.ino, r->a.off, r->rdata, len, &got);
        if (rc <= 0) {
            r->rdata_len = rc == 0 ? len : 0;
            return rc;
        }
    }
    rc = chunkstore_read(s->cs, r->a.ino, r->a.idx, r->a.off, r->rdata, r->rdata_buf, len, read_done, r);
    return rc < 0 ? rc : 1;
}

static void write_done(void *arg, ssize_t res)
{
    struct srv_req *r = arg;
    struct server *s = r->srv;
    if (res < 0) {
        log_warn("WRITE ino %llx chunk %llu: %s", (unsigned long long)r->a.ino,
                 (unsigned long long)r->a.idx, strerror((int)-res));
        srv_reply(r, (int)res);
        return;
    }
    if (local(s, r->a.ino)) {
        uint64_t pos = r->a.idx * s->chunk_size + r->a.off;
        struct bfs_attr before;
        int rc = meta_wrote(s->meta, r->a.ino, pos, pos + r->data_len, bfs_wall_ns(), &r->r.attr, &before);
        if (rc == -ENOENT) {
            /* The file was removed while this write was in flight, after its
             * chunks were: the chunk file the write created is nobody's. */
            int rm = chunkstore_remove_chunk(s->cs, r->a.ino, r->a.idx);
            if (rm < 0)
                log_warn("WRITE ino %llx chunk %llu: removing the chunk of a removed file: %s",
                         (unsigned long long)r->a.ino, (unsigned long long)r->a.idx, strerror(-rm));
        }
        if (rc < 0) {
            srv_reply(r, rc);
            return;
        }
        r->r.flags = 1;
        r->r.pre_ctime = (uint64_t)before.ctime_ns;
    }
    r->r.len = (uint32_t)r->data_len;
    srv_reply(r, 0);
}

static int write_chunk(struct server *s, struct srv_req *r)
{
    int rc = chunkstore_write(s->cs, r->a.ino, r->a.idx, r->a.off, r->data, r->data_buf,
                              r->data_len, write_done, r);
    return rc < 0 ? rc : 1;
}

/* ---- migration of inline data to chunk file 0 ----
 *
 * A write past the inline limit into a file with inline bytes: the bytes are
 * copied to chunk file 0 and synced while LMDB still holds them, then one
 * transaction switches the file to chunk mode, then the write goes on as in chunk
 * mode. A crash at any point leaves the data whole in one place or the other
 * (a chunk file left behind by an unfinished migration is not data, and the next
 * migration overwrites all of [0, meta_inline_max())).
 *
 * From the copy to the switch, the chunk 0 of the file must not change or be read
 * from the chunk store: requests that would touch it (see touches_chunk0) wait in
 * the migration's queue and run, in arrival order, once it is over. Migrations are
 * rare and short and the server is single-threaded: a list of them (in struct
 * server) does. */

struct migration {
    struct server *s;
    struct srv_req *r;                      /* the write that did not fit */
    uint64_t ino;
    void *blob;                             /* [0, meta_inline_max()) of chunk 0 */
    struct srv_req *wait_head, *wait_tail;  /* requests deferred until the end */
    struct migration *next;
};

static void run_request(struct server *s, struct srv_req *r);

/* Runs the requests of queue head (a migration's, a lock's or a fence's waiters)
 * in order, as if they arrived now. */
static void run_queue(struct server *s, struct srv_req *head)
{
    for (struct srv_req *w = head, *next; w; w = next) {
        next = w->next;
        w->next = NULL;
        run_request(s, w);
    }
}

static struct migration *find_migration(const struct server *s, uint64_t ino)
{
    struct migration *mg = s->migrations;
    while (mg && mg->ino != ino)
        mg = mg->next;
    return mg;
}

/* Requests that read, write or cut chunk 0 of a->ino. */
static int touches_chunk0(const struct srv_req *r)
{
    switch (r->op) {
    case OP_READ:
    case OP_WRITE:
        return r->a.idx == 0;
    case OP_SETATTR:
        return !!(r->a.mask & BFS_SET_SIZE);
    case OP_TRUNCATE:
    case OP_REMOVE:
    case OP_APPEND:      /* fileops.c: the offset is chosen when it runs */
    case OP_FALLOCATE:   /* ... a FALLOCATE META changes the inline bytes */
    case OP_SEEK:        /* ... reads the inline state */
        return 1;
    case OP_COPY:
        return r->a.idx == 0;
    default:
        return 0;
    }
}

/* The last step, on success or failure: r is answered (or its own write goes
 * on), then the deferred requests run as if they arrived now. */
static void migration_end(struct migration *mg, int rc)
{
    struct server *s = mg->s;
    struct migration **pp = &s->migrations;
    while (*pp != mg)
        pp = &(*pp)->next;
    *pp = mg->next;
    if (rc < 0)
        log_warn("%s ino %llx: moving its inline data to a chunk file failed: %s",
                 proto_op_name(mg->r->op), (unsigned long long)mg->ino, strerror(-rc));
    else
        rc = mg->r->op == OP_FALLOCATE ? fileops_migrated(s, mg->r) : write_chunk(s, mg->r);
    if (rc < 0)
        srv_reply(mg->r, rc);
    run_queue(s, mg->wait_head);
    free(mg->blob);
    free(mg);
}

static void migration_synced(void *arg, ssize_t res)
{
    struct migration *mg = arg;
    migration_end(mg, res < 0 ? (int)res : meta_inline_end(mg->s->meta, mg->ino));
}

static void migration_copied(void *arg, ssize_t res)
{
    struct migration *mg = arg;
    /* Synced before the switch: once LMDB forgets the bytes (and a later fsync of
     * any file puts that on disk), the chunk file must already hold them. */
    int rc = res < 0 ? (int)res
                     : chunkstore_fsync(mg->s->cs, mg->ino, 1, -1, migration_synced, mg);
    if (rc < 0)
        migration_end(mg, rc);
}

/* Starts moving r's file to chunk mode; 1 (r is answered later) or -errno. */
static int migrate(struct server *s, struct srv_req *r)
{
    size_t max = meta_inline_max(s->meta), got;
    struct migration *mg = calloc(1, sizeof *mg);
    int rc = -ENOMEM;
    if (!mg || !(mg->blob = malloc(max)))
        goto out;
    mg->s = s;
    mg->r = r;
    mg->ino = r->a.ino;
    rc = meta_inline_read(s->meta, r->a.ino, 0, mg->blob, max, &got);
    if (rc == META_CHUNKS) {
        log_error("WRITE ino %llx: inline data vanished", (unsigned long long)r->a.ino);
        rc = -EIO;   /* a bug: nothing ran since meta_inline_write saw it */
    }
    /* All of [0, max), zeros too: stale bytes of an unfinished migration go. */
    if (rc == 0)
        rc = chunkstore_write(s->cs, r->a.ino, 0, 0, mg->blob, -1, max, migration_copied, mg);
    if (rc == 0) {
        mg->next = s->migrations;
        s->migrations = mg;
        rc = 1;
    }
out:
    if (rc < 0 && mg) {
        free(mg->blob);
        free(mg);
    }
    return rc;
}

int handlers_migrate(struct server *s, struct srv_req *r)
{
    return migrate(s, r);
}

int handlers_write(struct server *s, struct srv_req *r)
{
    struct bfs_attr a, before;
    int rc = check_io(s, 1, r->a.idx, r->a.off, r->data_len);
    if (rc == 0)
        rc = owner_attr(s, r->a.ino, &a);
    if (rc < 0)
        return rc;
    /* Not the owner: a write that arrives after the file's chunks here were
     * removed would make a chunk file nobody removes (gone.h). */
    if (rc == 1 && gone_recent(s->gone, r->a.ino, bfs_mono_s()))
        return -ENOENT;
    if (r->data_len == 0)
        return 0;
    if (rc == 0 && r->a.idx == 0) {   /* the owner: chunk 0 may be inline */
        rc = meta_inline_write(s->meta, r->a.ino, r->a.off, r->data, r->data_len, bfs_wall_ns(),
                               &r->r.attr, &before);
        if (rc == 0) {
            r->r.flags = 1;   /* the size is raised already */
            r->r.pre_ctime = (uint64_t)before.ctime_ns;
            r->r.len = (uint32_t)r->data_len;
            return 0;
        }
        if (rc == META_MIGRATE)
            return migrate(s, r);
        if (rc < 0)
            return rc;
    }
    return write_chunk(s, r);
}

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

/* The lock on an entry request r names (either of a rename's two), if any. */
static struct entry_lock *lock_for(const struct server *s, const struct srv_req *r)
{
    struct entry_lock *l = NULL;
    switch (r->op) {
    case OP_RENAME:
        l = lock_of(s, r->a.newparent, r->a.newname, r->a.newname_len);
        /* fall through */
    case OP_UNLINK:
    case OP_LINK:
    case OP_CREATE:
        return l ? l : lock_of(s, r->a.parent, r->a.name, r->a.name_len);
    default:
        return NULL;
    }
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
    run_queue(s, l->wait_head);
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
    run_queue(s, f->wait_head);
    free(f);
}

/* Begins an intent of kind for r's entry (mode: META_BEGIN_*) and locks the
 * entry; *in gets it. 0, META_FENCED or -errno. */
static int begin_intent(struct server *s, struct srv_req *r, uint32_t kind, int mode,
                        struct meta_intent *in)
{
    const struct bfs_msg *a = &r->a;
    *in = (struct meta_intent){ .kind = kind, .flags = a->flags, .parent = a->parent,
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
            memset(&r->r, 0, sizeof r->r);
            r->r.flags = BFS_DROP_COORD;
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

static int do_install(struct server *s, struct srv_req *r)
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

static int do_fence(struct server *s, struct srv_req *r)
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
static int do_move_lock(struct server *s, struct srv_req *r)
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

static int do_step(struct server *s, struct srv_req *r)
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

static int do_create(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_intent in;
    /* A directory counts in its parent's nlink, there. */
    int remote_parent = s->nodes > 1 && S_ISDIR(a->mode) && !local(s, a->parent);
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
        if (!local(s, ino) && type != S_IFDIR)
            return unlink_remote(s, r);
    }
    return meta_unlink(s->meta, a->parent, a->name, a->name_len, is_dir, !!(a->flags & BFS_F_KEEP),
                       bfs_wall_ns(), drop);
}

static int do_link(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    int remote = 0;
    if (s->nodes > 1 && !local(s, a->ino)) {
        if ((a->mode & S_IFMT) == S_IFDIR)
            return -EPERM;
        return start_intent(s, r, COORD_LINK, META_BEGIN_NEW);
    }
    int rc = meta_link(s->meta, a->ino, a->mode, a->parent, a->name, a->name_len, bfs_wall_ns(),
                       &r->r.attr, &remote);
    if (rc == META_FENCED)
        return fence_defer(s, r, a->parent);
    r->r.flags = (uint32_t)remote;
    return rc;
}

/* ---- extended attributes (xattr_store.h), at the inode's owner ---- */

static int do_getxattr(struct server *s, struct srv_req *r)
{
    size_t size = r->a.len < BFS_XATTR_SIZE_MAX ? r->a.len : BFS_XATTR_SIZE_MAX, vlen = 0;
    if (size && !(r->rdata = malloc(size)))
        return -ENOMEM;
    int rc = xattr_get(s->meta, r->a.ino, r->a.name, r->a.name_len, r->rdata, size, &vlen);
    r->r.len = (uint32_t)vlen;
    r->rdata_len = rc == 0 && size ? vlen : 0;
    return rc;
}

static int do_listxattr(struct server *s, struct srv_req *r)
{
    size_t size = r->a.len < BFS_XATTR_LIST_MAX ? r->a.len : BFS_XATTR_LIST_MAX, len = 0;
    if (size && !(r->rdata = malloc(size)))
        return -ENOMEM;
    int rc = xattr_list(s->meta, r->a.ino, r->rdata, size, &len);
    r->r.len = (uint32_t)len;
    r->rdata_len = rc == 0 && size ? len : 0;
    return rc;
}

static void fsync_done(void *arg, ssize_t res)
{
    struct srv_req *r = arg;
    if (res < 0)
        log_error("FSYNC ino %llx: %s", (unsigned long long)r->a.ino, strerror((int)-res));
    srv_reply(r, res < 0 ? (int)res : 0);
}

/* Returns 0 or -errno to reply now, 1 when the reply comes from a completion. */
static int dispatch(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    struct meta_drop drop = { 0 };
    char target[BFS_SYMLINK_MAX + 1];
    size_t tlen;
    int rc;

    switch (r->op) {
    case OP_LOOKUP:
        return do_lookup(s, r);
    case OP_GETATTR:
        return meta_getattr(s->meta, a->ino, &r->r.attr);
    case OP_SETATTR:
        return do_setattr(s, r);
    case OP_CREATE:
        return do_create(s, r);
    case OP_READLINK:
        if ((rc = meta_readlink(s->meta, a->ino, target, sizeof target, &tlen)) < 0)
            return rc;
        /* Reply from here: srv_reply copies target before this frame ends. */
        r->r.target = target;
        r->r.target_len = (uint32_t)tlen;
        srv_reply(r, 0);
        return 1;
    case OP_LINK:
        return do_link(s, r);
    case OP_UNLINK:
        if ((rc = do_unlink(s, r, &drop)) > 0)
            return rc;
        break;
    case OP_NLINK:
        if (a->flags & BFS_F_SUBDIR)
            return meta_touch_dir(s->meta, a->ino, a->delta, bfs_wall_ns());
        if (a->delta != 1 && a->delta != -1)
            return -EINVAL;
        rc = meta_nlink(s->meta, a->ino, a->delta, !!(a->flags & BFS_F_KEEP), bfs_wall_ns(), &drop);
        break;
    case OP_PURGE:
        rc = meta_purge(s->meta, a->ino, &drop);
        break;
    case OP_RENAME:
        if ((rc = do_rename(s, r, &drop)) > 0)
            return rc;
        break;
    case OP_READDIR:
        return do_readdir(s, r);
    case OP_STATFS:
        return do_statfs(s, r);
    case OP_READ:
        return do_read(s, r);
    case OP_WRITE:
        return handlers_write(s, r);
    case OP_FSYNC:
        rc = chunkstore_fsync(s->cs, a->ino, a->flags & 1, meta_fd(s->meta), fsync_done, r);
        return rc < 0 ? rc : 1;
    case OP_TRUNCATE:
        if (a->size > (uint64_t)INT64_MAX || a->off > (uint64_t)INT64_MAX)
            return -EINVAL;   /* sizes are off_t */
        return a->size < a->off ? chunkstore_truncate(s->cs, a->ino, a->off, a->size) : 0;
    case OP_REMOVE:
        if (a->size > (uint64_t)INT64_MAX)
            return -EINVAL;
        if (!local(s, a->ino))   /* the owner knows the file is gone itself */
            gone_note(s->gone, a->ino, bfs_mono_s());
        return chunkstore_remove(s->cs, a->ino, a->size);
    case OP_HAS_ENTRIES:
        rc = meta_has_entries(s->meta, a->ino);
        r->r.flags = rc > 0;
        return rc < 0 ? rc : 0;
    case OP_COUNTERS:
        return do_counters(s, r);
    case OP_HELLO:
        return transport_hello(s, r);
    case OP_BYE:
        transport_bye(r);
        return 0;
    case OP_NOP:
        return 0;
    case OP_FENCE:
        return do_fence(s, r);
    case OP_INSTALL:
        return do_install(s, r);
    case OP_DROP_ENTRY:
        return meta_drop_entry(s->meta, a->parent, a->name, a->name_len, a->ino);
    case OP_DIR_ADJUST:
        return meta_dir_adjust(s->meta, a->ino, a->delta, a->intent, a->step, bfs_wall_ns());
    case OP_DROP:
        rc = meta_drop(s->meta, a->ino, !!(a->flags & BFS_F_RMDIR), !!(a->flags & BFS_F_KEEP),
                       a->intent, a->step, bfs_wall_ns(), &drop);
        break;
    case OP_MOVED:
        return meta_moved(s->meta, a->ino, a->newparent, a->intent, a->step, bfs_wall_ns());
    case OP_GAIN:
        return meta_gain(s->meta, a->ino, a->intent, a->step, bfs_wall_ns());
    case OP_MOVE_LOCK:
        return do_move_lock(s, r);
    case OP_PARENT:
        return meta_get_parent(s->meta, a->ino, &r->r.parent);
    case OP_STEP:
        return do_step(s, r);
    case OP_FORGET:
        return meta_forget(s->meta, a->intent);
    case OP_NOTE:
        return bfs_ino_node(a->intent) == s->node_id ? meta_intent_note(s->meta, a->intent, a->ino)
                                                      : -EINVAL;
    case OP_SCAN:
        return do_scan(s, r);
    case OP_STATUS:
        return status_reply(s, r);
    case OP_APPEND:
    case OP_FALLOCATE:
    case OP_SEEK:
    case OP_COPY:
        return fileops_dispatch(s, r);
    case OP_GETXATTR:
        return do_getxattr(s, r);
    case OP_SETXATTR:
        return xattr_set(s->meta, a->ino, a->name, a->name_len, r->data, r->data_len, a->flags,
                         bfs_wall_ns(), &r->r.attr);
    case OP_LISTXATTR:
        return do_listxattr(s, r);
    case OP_REMOVEXATTR:
        return xattr_remove(s->meta, a->ino, a->name, a->name_len, bfs_wall_ns(), &r->r.attr);
    case OP_LOCK:
        return lockreq_lock(s, r);
    case OP_LOCK_CANCEL:
        return lockreq_cancel(s, r);
    default:
        return -ENOSYS;
    }
    if (rc == 0)
        report_drop(s, r, &drop);
    if (rc == 0 && r->op == OP_RENAME)
        r->r.flags |= (drop.dir_moved ? BFS_DIR_MOVED : 0) | (drop.dir_gone ? BFS_DIR_GONE : 0);
    return rc;
}

/* Runs r now, or queues it behind a migration of its file's chunk 0. */
static void run_request(struct server *s, struct srv_req *r)
{
    struct migration *mg = touches_chunk0(r) ? find_migration(s, r->a.ino) : NULL;
    if (mg) {
        log_debug("request %llu: %s ino %llx waits for its migration", (unsigned long long)r->id,
                  proto_op_name(r->op), (unsigned long long)r->a.ino);
        req_append(&mg->wait_head, &mg->wait_tail, r);
        return;
    }
    struct entry_lock *l = s->locks ? lock_for(s, r) : NULL;
    if (l) {
        log_debug("request %llu: %s '%.*s' waits for intent %llx", (unsigned long long)r->id,
                  proto_op_name(r->op), (int)r->a.name_len, r->a.name,
                  (unsigned long long)l->intent);
        req_append(&l->wait_head, &l->wait_tail, r);
        return;
    }
    int rc = dispatch(s, r);
    if (rc <= 0)
        srv_reply(r, rc);   /* (rc > 0: the reply is sent, or comes from a completion) */
}

void handle_request(struct server *s, struct srv_req *r)
{
    if (r->op > 0 && r->op < OP_MAX)
        s->counters[r->op]++;
    log_debug("request %llu: %s ino %llx parent %llx name '%.*s'", (unsigned long long)r->id,
              proto_op_name(r->op), (unsigned long long)r->a.ino, (unsigned long long)r->a.parent,
              (int)r->a.name_len, r->a.name ? r->a.name : "");
    run_request(s, r);
}
