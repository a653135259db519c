/* handlers_data.c - file data on this server: where a chunk is read (READ) and
 * written (WRITE), synced (FSYNC), cut (TRUNCATE) and removed (REMOVE), through
 * the io_uring chunk store (asynchronous: the reply goes out from the completion);
 * and the request bulk buffers the transport and the handlers take from the store.
 *
 * Chunk 0 of a small file is inline in LMDB (meta_inline_*): its reads and writes
 * are synchronous and never touch the chunk store. A write that does not fit
 * migrates the file to chunk mode first (see migrate). */
#include "handlers_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "gone.h"

/* ---- request bulk buffers ---- */

void *handlers_buf_get(struct server *s, size_t len, int *buf)
{
    void *p = chunkstore_buf_get(s->cs, len, buf);
    return p ? p : malloc(len);
}

void handlers_buf_put(struct server *s, void *p, int buf)
{
    if (buf >= 0)
        chunkstore_buf_put(s->cs, buf);
    else
        free(p);
}

/* ---- READ and WRITE ---- */

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

/* Only a regular file has data: a directory is -EISDIR, anything else (symlink,
 * FIFO, socket, device) -EINVAL, so their I/O never reaches the chunk store. */
int handlers_file_attr(struct server *s, uint64_t ino, struct bfs_attr *a)
{
    int rc = meta_getattr(s->meta, ino, a);
    if (rc == 0 && S_ISDIR(a->mode))
        return -EISDIR;
    if (rc == 0 && !S_ISREG(a->mode))
        return -EINVAL;
    return rc;
}

/* Only the owner knows a file's size and type (0, or -errno); other nodes trust
 * the client (1). */
static int owner_attr(struct server *s, uint64_t ino, struct bfs_attr *a)
{
    return ino_local(s, ino) ? handlers_file_attr(s, ino, a) : 1;
}

/* The owner's attributes for a READ that records the access (the open's
 * relatime GETATTR, carried by the read): atime moves as meta_read_atime says;
 * reply flag 2 tells the client it did. */
static int owner_attr_access(struct server *s, struct srv_req *r, struct bfs_attr *a)
{
    if (!ino_local(s, r->a.ino))
        return 1;
    int touched = 0;
    int rc = meta_read_atime(s->meta, r->a.ino, !!(r->a.mask & BFS_SET_ATIME_RELATIME), bfs_wall_ns(),
                             a, &touched);
    if (rc == 0 && S_ISDIR(a->mode))
        return -EISDIR;
    if (rc == 0 && !S_ISREG(a->mode))
        return -EINVAL;
    if (touched)
        r->r.flags |= 2;
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

int handle_read(struct server *s, struct srv_req *r)
{
    struct bfs_attr a;
    size_t len = r->a.len, got;
    int rc = check_io(s, 0, r->a.idx, r->a.off, len);
    if (rc == 0)
        rc = (r->a.mask & BFS_SET_ATIME_READ) ? owner_attr_access(s, r, &a) : owner_attr(s, r->a.ino, &a);
    if (rc < 0)
        return rc;
    int owner = rc == 0;
    if (owner) {
        /* The owner clamps to the file size, so the client needs no extra GETATTR. */
        uint64_t pos = r->a.idx * s->chunk_size + r->a.off;
        len = pos >= a.size ? 0 : (a.size - pos < len ? (size_t)(a.size - pos) : len);
        r->r.flags |= 1;
        r->r.size = a.size;
    }
    if (len == 0)
        return 0;
    if (!(r->rdata = handlers_buf_get(s, len, &r->rdata_buf)))
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
    if (ino_local(s, r->a.ino)) {
        uint64_t pos = r->a.idx * s->chunk_size + r->a.off;
        struct bfs_attr before;
        int rc = meta_wrote(s->meta, r->a.ino, pos, pos + r->data_len, bfs_wall_ns(), &r->r.attr, &before);
        if (rc == -ENOENT) {
            /* The file was removed while this write was in flight, after its
             * chunks were: the chunk file the write created is nobody's. */
            int rm = chunkstore_remove_chunk_later(s->cs, r->a.ino, r->a.idx);
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
 * from the chunk store: requests that would touch it (the table's H_CHUNK0*
 * entries, handlers.c) wait in the migration's queue and run, in arrival order,
 * once it is over. Migrations are rare and short and the server is
 * single-threaded: a list of them (in struct server) does. */

struct migration {
    struct server *s;
    struct srv_req *r;                      /* the write that did not fit */
    uint64_t ino;
    void *blob;                             /* [0, meta_inline_max()) of chunk 0 */
    struct srv_req *wait_head, *wait_tail;  /* requests deferred until the end */
    struct migration *next;
};

static struct migration *find_migration(const struct server *s, uint64_t ino)
{
    struct migration *mg = s->migrations;
    while (mg && mg->ino != ino)
        mg = mg->next;
    return mg;
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
    handlers_run_queue(s, mg->wait_head);
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

int handlers_migration_wait(struct server *s, struct srv_req *r)
{
    struct migration *mg = find_migration(s, r->a.ino);
    if (!mg)
        return 0;
    log_debug("request %llu: %s ino %llx waits for its migration", (unsigned long long)r->id,
              proto_op_name(r->op), (unsigned long long)r->a.ino);
    req_append(&mg->wait_head, &mg->wait_tail, r);
    return 1;
}

/* ---- sync, truncate, remove ---- */

static void fsync_done(void *arg, ssize_t res)
{
    struct srv_req *r = arg;
    if (res < 0)
        log_error("FSYNC ino %llx: %s", (unsigned long long)r->a.ino, strerror((int)-res));
    srv_reply(r, res < 0 ? (int)res : 0);
}


int handle_fsync(struct server *s, struct srv_req *r)
{
    /* The access times reads recorded go with the sync (a failure is logged
     * and kept for later; the data's sync goes on). */
    meta_atime_flush(s->meta);
    int rc = chunkstore_fsync(s->cs, r->a.ino, r->a.flags & 1, meta_fd(s->meta), fsync_done, r);
    return rc < 0 ? rc : 1;
}

int handle_truncate(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    if (a->size > (uint64_t)INT64_MAX || a->off > (uint64_t)INT64_MAX)
        return -EINVAL;   /* sizes are off_t */
    return a->size < a->off ? chunkstore_truncate(s->cs, a->ino, a->off, a->size) : 0;
}

int handle_remove(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    if (a->size > (uint64_t)INT64_MAX)
        return -EINVAL;
    if (!ino_local(s, a->ino))   /* the owner knows the file is gone itself */
        gone_note(s->gone, a->ino, bfs_mono_s());
    /* Answered once queued: the gone set keeps late writes out meanwhile. */
    return chunkstore_remove_later(s->cs, a->ino, a->size);
}
