/* handlers.c - what each RPC does on this server: the table of handlers (one
 * entry per opcode, below), the dispatcher that runs a request through it, and
 * the small metadata ops (synchronous LMDB transactions, one each). File data is
 * handlers_data.c's, the namespace and multi-server operations handlers_ns.c's,
 * connection requests (HELLO, BYE) the transport's (transport.c). */
#include "handlers_int.h"
#include "status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "../common/clock.h"
#include "../common/byteorder.h"
#include "../common/log.h"
#include "../common/xattr.h"
#include "xattr_store.h"

/* ---- metadata ---- */

/* Would every open for reading by uid/gid pass the client's permission check
 * (lib/perm.c), whatever uid's other groups are? Root; the owner by its read
 * bit (an ACL does not apply to the owner); anyone else only when the group
 * and the other read bits agree and no ACL has a say. */
static int may_read_any(const struct bfs_attr *a, uint32_t uid)
{
    if (uid == 0)
        return 1;
    if (uid == a->uid)
        return (a->mode & S_IRUSR) != 0;
    return !(a->flags & BFS_ATTR_ACL) && (a->mode & S_IRGRP) && (a->mode & S_IROTH);
}

/* A LOOKUP for an open that reads (len > 0): a small inline file's bytes go
 * along with the answer, and the read's access time is recorded now, when the
 * server reads them (bfs_lookup_data, common/client.h). Anything that does not
 * fit leaves the answer as a plain lookup's. */
static void lookup_data(struct server *s, struct srv_req *r)
{
    struct bfs_attr *a = &r->r.attr;
    if (!r->a.len || !S_ISREG(a->mode) || a->size > r->a.len || a->size > meta_inline_max(s->meta) ||
        !may_read_any(a, r->a.uid))
        return;
    if (a->size > 0) {
        size_t got;
        if (!(r->rdata = handlers_buf_get(s, a->size, &r->rdata_buf)))
            return;
        /* 0: inline, [0, size) filled; > 0: in a chunk file, not for here. */
        if (meta_inline_read(s->meta, a->ino, 0, r->rdata, a->size, &got) != 0 || got != a->size)
            return;   /* rdata is released with r; rdata_len 0 sends nothing */
    }
    r->rdata_len = a->size;
    r->r.flags |= 2;
    int touched = 0;
    if ((r->a.mask & BFS_SET_ATIME_READ) &&
        meta_read_atime(s->meta, a->ino, !!(r->a.mask & BFS_SET_ATIME_RELATIME), bfs_wall_ns(), a,
                        &touched) == 0 && touched)
        r->r.flags |= 4;
}

static int handle_lookup(struct server *s, struct srv_req *r)
{
    uint32_t type;
    int rc = meta_lookup(s->meta, r->a.parent, r->a.name, r->a.name_len, &r->r.ino, &type);
    if (rc < 0)
        return rc;
    r->r.mode = type;
    if (ino_local(s, r->r.ino)) {
        rc = meta_getattr(s->meta, r->r.ino, &r->r.attr);
        r->r.flags = rc == 0;
        if (rc == 0)
            lookup_data(s, r);
    }
    return rc;
}

static int handle_getattr(struct server *s, struct srv_req *r)
{
    return meta_getattr(s->meta, r->a.ino, &r->r.attr);
}

/* A SIZE_GROW alone is a client's report of a write to other nodes: the bytes
 * [off, size) count as stored (st_blocks). */
static int handle_setattr(struct server *s, struct srv_req *r)
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
    if (rc == 0 && (r->a.mask & BFS_SET_SIZE) && r->r.attr.size < old.size) {
        rc = chunkstore_truncate(s->cs, r->a.ino, old.size, r->r.attr.size);
        server_crash_point("cut-queued");
    }
    r->r.size = old.size;
    return rc;
}

static int handle_readlink(struct server *s, struct srv_req *r)
{
    char target[BFS_SYMLINK_MAX + 1];
    size_t tlen;
    int rc = meta_readlink(s->meta, r->a.ino, target, sizeof target, &tlen);
    if (rc < 0)
        return rc;
    /* Reply from here: srv_reply copies target before this frame ends. */
    r->r.target = target;
    r->r.target_len = (uint32_t)tlen;
    srv_reply(r, 0);
    return 1;
}

static int handle_readdir(struct server *s, struct srv_req *r)
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

static int handle_statfs(struct server *s, struct srv_req *r)
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

static int handle_has_entries(struct server *s, struct srv_req *r)
{
    int rc = meta_has_entries(s->meta, r->a.ino);
    r->r.flags = rc > 0;
    return rc < 0 ? rc : 0;
}

static int handle_parent(struct server *s, struct srv_req *r)
{
    return meta_get_parent(s->meta, r->a.ino, &r->r.parent);
}

static int handle_nop(struct server *s, struct srv_req *r)
{
    (void)s, (void)r;
    return 0;
}

static int handle_counters(struct server *s, struct srv_req *r)
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

static int handle_scan(struct server *s, struct srv_req *r)
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

/* ---- extended attributes (xattr_store.h), at the inode's owner ---- */

static int handle_getxattr(struct server *s, struct srv_req *r)
{
    size_t size = r->a.len < BFS_XATTR_SIZE_MAX ? r->a.len : BFS_XATTR_SIZE_MAX, vlen = 0;
    if (size && !(r->rdata = malloc(size)))
        return -ENOMEM;
    int rc = xattr_get(s->meta, r->a.ino, r->a.name, r->a.name_len, r->rdata, size, &vlen);
    r->r.len = (uint32_t)vlen;
    r->rdata_len = rc == 0 && size ? vlen : 0;
    return rc;
}

static int handle_listxattr(struct server *s, struct srv_req *r)
{
    size_t size = r->a.len < BFS_XATTR_LIST_MAX ? r->a.len : BFS_XATTR_LIST_MAX, len = 0;
    if (size && !(r->rdata = malloc(size)))
        return -ENOMEM;
    int rc = xattr_list(s->meta, r->a.ino, r->rdata, size, &len);
    r->r.len = (uint32_t)len;
    r->rdata_len = rc == 0 && size ? len : 0;
    return rc;
}

static int handle_setxattr(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return xattr_set(s->meta, a->ino, a->name, a->name_len, r->data, r->data_len, a->flags,
                     bfs_wall_ns(), &r->r.attr);
}

static int handle_removexattr(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    return xattr_remove(s->meta, a->ino, a->name, a->name_len, bfs_wall_ns(), &r->r.attr);
}

/* ---- the table ----
 *
 * One entry per opcode: the handler, and what the dispatcher does before it runs
 * (the needs, H_*). The wire format's own checks are done before any of this: the
 * transport decodes and checks every field and length, and refuses bulk an op
 * does not take (common/proto.c's table says which do: WRITE, APPEND, SETXATTR,
 * CREATE, HELLO). An opcode without an entry is -ENOSYS; HELLO and BYE never get
 * here (transport_run answers them).
 *
 * The reply convention, the same for every handler: it fills r->r (and r->rdata,
 * r->rdata_len: the reply bulk, freed with r) and returns
 *   0 or -errno  the dispatcher replies now with that status (r->r and the bulk
 *                go out on 0 only);
 *   1            r is answered already (READLINK) or will be, from a completion,
 *                a wait or the coordinator: r is no longer the dispatcher's.
 * Only entries marked H_LATER may return 1. */

enum {
    H_OWNER = 1 << 0,       /* a.ino must be this node's inode: -EINVAL otherwise */
    H_ENTRY = 1 << 1,       /* names an entry (parent, name): waits while an intent holds it */
    H_ENTRY2 = 1 << 2,      /* ... and (newparent, newname): a rename's two */
    H_CHUNK0 = 1 << 3,      /* reads or changes chunk 0 of a.ino: waits for its migration */
    H_CHUNK0_IDX = 1 << 4,  /* ... when a.idx is 0 */
    H_CHUNK0_SIZE = 1 << 5, /* ... when a.mask sets the size */
    H_LATER = 1 << 6,       /* may reply later (returns 1) */
};

struct handler {
    int (*run)(struct server *s, struct srv_req *r);
    unsigned needs;   /* H_* */
};

static const struct handler handlers[OP_MAX] = {
    /* metadata of one inode or directory (this file) */
    [OP_LOOKUP]      = { handle_lookup, 0 },
    [OP_GETATTR]     = { handle_getattr, 0 },
    [OP_SETATTR]     = { handle_setattr, H_CHUNK0_SIZE },
    [OP_READLINK]    = { handle_readlink, H_LATER },
    [OP_READDIR]     = { handle_readdir, 0 },
    [OP_HAS_ENTRIES] = { handle_has_entries, 0 },
    [OP_PARENT]      = { handle_parent, 0 },
    [OP_GETXATTR]    = { handle_getxattr, 0 },
    [OP_SETXATTR]    = { handle_setxattr, 0 },
    [OP_LISTXATTR]   = { handle_listxattr, 0 },
    [OP_REMOVEXATTR] = { handle_removexattr, 0 },
    /* the server itself (this file; status.c) */
    [OP_STATFS]      = { handle_statfs, 0 },
    [OP_COUNTERS]    = { handle_counters, 0 },
    [OP_NOP]         = { handle_nop, 0 },
    [OP_SCAN]        = { handle_scan, 0 },
    [OP_STATUS]      = { status_reply, 0 },
    /* file data (handlers_data.c; fileops.c) */
    [OP_READ]        = { handle_read, H_CHUNK0_IDX | H_LATER },
    [OP_WRITE]       = { handlers_write, H_CHUNK0_IDX | H_LATER },
    [OP_FSYNC]       = { handle_fsync, H_LATER },
    [OP_TRUNCATE]    = { handle_truncate, H_CHUNK0 },
    [OP_REMOVE]      = { handle_remove, H_CHUNK0 },
    [OP_APPEND]      = { fileops_append, H_OWNER | H_CHUNK0 | H_LATER },  /* the offset is chosen when it runs */
    [OP_FALLOCATE]   = { fileops_fallocate, H_CHUNK0 | H_LATER },         /* a META one changes inline bytes */
    [OP_SEEK]        = { fileops_seek, H_CHUNK0 | H_LATER },              /* reads the inline state */
    [OP_COPY]        = { fileops_copy, H_CHUNK0_IDX | H_LATER },
    /* the namespace (handlers_ns.c) */
    [OP_CREATE]      = { handle_create, H_ENTRY | H_LATER },
    [OP_LINK]        = { handle_link, H_ENTRY | H_LATER },
    [OP_UNLINK]      = { handle_unlink, H_ENTRY | H_LATER },
    [OP_RENAME]      = { handle_rename, H_ENTRY | H_ENTRY2 | H_LATER },
    [OP_NLINK]       = { handle_nlink, 0 },
    [OP_PURGE]       = { handle_purge, 0 },
    /* the coordinator's steps of multi-server operations (handlers_ns.c) */
    [OP_INSTALL]     = { handle_install, H_LATER },
    [OP_DROP_ENTRY]  = { handle_drop_entry, 0 },
    [OP_DIR_ADJUST]  = { handle_dir_adjust, 0 },
    [OP_DROP]        = { handle_drop, 0 },
    [OP_MOVED]       = { handle_moved, 0 },
    [OP_GAIN]        = { handle_gain, 0 },
    [OP_FENCE]       = { handle_fence, 0 },
    [OP_MOVE_LOCK]   = { handle_move_lock, 0 },
    [OP_STEP]        = { handle_step, 0 },
    [OP_FORGET]      = { handle_forget, 0 },
    [OP_NOTE]        = { handle_note, 0 },
    /* byte-range and flock locks (lockreq.c) */
    [OP_LOCK]        = { lockreq_lock, H_OWNER | H_LATER },
    [OP_LOCK_CANCEL] = { lockreq_cancel, 0 },
};

/* ---- the dispatcher ---- */

static int touches_chunk0(unsigned needs, const struct srv_req *r)
{
    return (needs & H_CHUNK0) || ((needs & H_CHUNK0_IDX) && r->a.idx == 0) ||
           ((needs & H_CHUNK0_SIZE) && (r->a.mask & BFS_SET_SIZE));
}

/* Runs r now, or queues it behind a migration of its file's chunk 0 or the
 * intent holding its entry. */
static void run_request(struct server *s, struct srv_req *r)
{
    const struct handler *h = r->op < OP_MAX && handlers[r->op].run ? &handlers[r->op] : NULL;
    if (!h) {
        srv_reply(r, -ENOSYS);
        return;
    }
    if ((h->needs & H_OWNER) && !ino_local(s, r->a.ino)) {
        srv_reply(r, -EINVAL);
        return;
    }
    if (touches_chunk0(h->needs, r) && handlers_migration_wait(s, r))
        return;
    if ((h->needs & H_ENTRY) && handlers_entry_wait(s, r, !!(h->needs & H_ENTRY2)))
        return;
    int rc = h->run(s, r);
    if (rc > 0 && !(h->needs & H_LATER))
        log_error("request %llu (%s): its handler answers later, its table entry says it does not",
                  (unsigned long long)r->id, proto_op_name(r->op));
    if (rc <= 0)
        srv_reply(r, rc);
}

void handlers_run_queue(struct server *s, struct srv_req *head)
{
    for (struct srv_req *w = head, *next; w; w = next) {
        next = w->next;
        w->next = NULL;
        run_request(s, w);
    }
}

void handle_request(struct server *s, struct srv_req *r)
{
    log_debug("request %llu: %s ino %llx parent %llx name '%.*s'", (unsigned long long)r->id,
              proto_op_name(r->op), (unsigned long long)r->a.ino, (unsigned long long)r->a.parent,
              (int)r->a.name_len, r->a.name ? r->a.name : "");
    run_request(s, r);
}
