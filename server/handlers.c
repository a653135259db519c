/* handlers.c - what each RPC does on this server: metadata in LMDB (synchronous,
 * one transaction each), file data through the io_uring chunk store
 * (asynchronous: the reply goes out from the completion).
 *
 * Chunk 0 of a small file is inline in LMDB (meta_inline_*): its reads and writes
 * are synchronous and never touch the chunk store. A write that does not fit
 * migrates the file to chunk mode first (see migrate). */
#include "server_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "../common/endian.h"
#include "../common/log.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int local(const struct server *s, uint64_t ino)
{
    return bfs_ino_node(ino) == s->node_id;
}

/* Reports what happened to an inode that lost an entry; frees its chunks here
 * when it is gone (the client asks the other nodes for theirs). */
static void report_drop(struct server *s, struct srv_req *r, const struct meta_drop *d)
{
    if (d->freed) {
        int rc = chunkstore_remove(s->cs, d->ino, d->size);
        if (rc < 0)
            log_warn("ino %llx: removing its chunks failed: %s", (unsigned long long)d->ino, strerror(-rc));
    }
    r->r.ino = d->ino;
    r->r.flags = (d->remote ? BFS_DROP_REMOTE : 0) | (d->freed ? BFS_DROP_FREED : 0);
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
    struct bfs_attr old = { 0 };
    int rc = r->a.mask == BFS_SET_SIZE_GROW
        ? meta_wrote(s->meta, r->a.ino, r->a.off, r->a.attr.size, now_ns(), &r->r.attr, &old)
        : meta_setattr(s->meta, r->a.ino, r->a.mask, &r->a.attr, now_ns(), &r->r.attr, &old);
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
        int rc = meta_wrote(s->meta, r->a.ino, pos, pos + r->data_len, now_ns(), &r->r.attr, &before);
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
        return 1;
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
        log_warn("WRITE ino %llx: moving its inline data to a chunk file failed: %s",
                 (unsigned long long)mg->ino, strerror(-rc));
    else
        rc = write_chunk(s, mg->r);
    if (rc < 0)
        srv_reply(mg->r, rc);
    for (struct srv_req *w = mg->wait_head, *next; w; w = next) {
        next = w->next;
        w->next = NULL;
        run_request(s, w);
    }
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

static int do_write(struct server *s, struct srv_req *r)
{
    struct bfs_attr a, before;
    int rc = check_io(s, 1, r->a.idx, r->a.off, r->data_len);
    if (rc == 0)
        rc = owner_attr(s, r->a.ino, &a);
    if (rc < 0)
        return rc;
    if (r->data_len == 0)
        return 0;
    if (rc == 0 && r->a.idx == 0) {   /* the owner: chunk 0 may be inline */
        rc = meta_inline_write(s->meta, r->a.ino, r->a.off, r->data, r->data_len, now_ns(),
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
    int rc, remote = 0;

    switch (r->op) {
    case OP_LOOKUP:
        return do_lookup(s, r);
    case OP_GETATTR:
        return meta_getattr(s->meta, a->ino, &r->r.attr);
    case OP_SETATTR:
        return do_setattr(s, r);
    case OP_CREATE:
        return meta_mknod(s->meta, a->parent, a->name, a->name_len, a->mode, a->rdev, a->uid,
                          a->gid, a->target, a->target_len, now_ns(), &r->r.attr);
    case OP_READLINK:
        if ((rc = meta_readlink(s->meta, a->ino, target, sizeof target, &tlen)) < 0)
            return rc;
        /* Reply from here: srv_reply copies target before this frame ends. */
        r->r.target = target;
        r->r.target_len = (uint32_t)tlen;
        srv_reply(r, 0);
        return 1;
    case OP_LINK:
        rc = meta_link(s->meta, a->ino, a->mode, a->parent, a->name, a->name_len, now_ns(),
                       &r->r.attr, &remote);
        r->r.flags = (uint32_t)remote;
        return rc;
    case OP_UNLINK:
        rc = meta_unlink(s->meta, a->parent, a->name, a->name_len, !!(a->flags & BFS_F_RMDIR),
                         !!(a->flags & BFS_F_KEEP), now_ns(), &drop);
        break;
    case OP_NLINK:
        if (a->delta != 1 && a->delta != -1)
            return -EINVAL;
        if (a->flags & BFS_F_SUBDIR)
            return meta_touch_dir(s->meta, a->ino, a->delta, now_ns());
        rc = meta_nlink(s->meta, a->ino, a->delta, !!(a->flags & BFS_F_KEEP), now_ns(), &drop);
        break;
    case OP_PURGE:
        rc = meta_purge(s->meta, a->ino, &drop);
        break;
    case OP_RENAME:
        rc = meta_rename(s->meta, a->parent, a->name, a->name_len, a->newparent, a->newname,
                         a->newname_len, (a->flags & BFS_F_NOREPLACE) ? META_RENAME_NOREPLACE : 0,
                         !!(a->flags & BFS_F_KEEP), now_ns(), &drop);
        break;
    case OP_READDIR:
        return do_readdir(s, r);
    case OP_STATFS:
        return do_statfs(s, r);
    case OP_READ:
        return do_read(s, r);
    case OP_WRITE:
        return do_write(s, r);
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
