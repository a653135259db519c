/* proto.c - encoding and checked decoding of BenchFS messages (see proto.h). */
#include "proto.h"

#include <errno.h>
#include <string.h>

#include "byteorder.h"
#include "xattr.h"

/* ---- headers ---- */

void proto_req_hdr_encode(const struct bfs_req_hdr *h, uint8_t out[BFS_REQ_HDR_LEN])
{
    put_le32(out, h->magic);
    put_le16(out + 4, h->version);
    put_le16(out + 6, h->op);
    put_le64(out + 8, h->id);
    put_le32(out + 16, h->flags);
    put_le32(out + 20, h->args_len);
    put_le32(out + 24, h->data_len);
    put_le32(out + 28, h->client);
    memcpy(out + 32, h->key, BFS_KEY_LEN);
}

int proto_req_hdr_decode(const void *buf, size_t len, struct bfs_req_hdr *h)
{
    const uint8_t *p = buf;
    memset(h, 0, sizeof *h);
    if (len < 16)
        return -EPROTO;
    h->magic = get_le32(p);
    h->version = get_le16(p + 4);
    h->op = get_le16(p + 6);
    h->id = get_le64(p + 8);
    if (h->magic != BFS_PROTO_MAGIC)
        return -EPROTO;
    if (h->version != BFS_PROTO_VERSION)
        return -EPROTONOSUPPORT;
    if (len != BFS_REQ_HDR_LEN)
        return -EPROTO;
    h->flags = get_le32(p + 16);
    h->args_len = get_le32(p + 20);
    h->data_len = get_le32(p + 24);
    h->client = get_le32(p + 28);
    memcpy(h->key, p + 32, BFS_KEY_LEN);
    if (h->args_len > BFS_MAX_ARGS_LEN || h->data_len > BFS_MAX_DATA_LEN)
        return -EBADMSG;
    return 0;
}

void proto_rep_hdr_encode(const struct bfs_rep_hdr *h, uint8_t out[BFS_REP_HDR_LEN])
{
    put_le32(out, h->magic);
    put_le32(out + 4, (uint32_t)h->status);
    put_le64(out + 8, h->id);
    put_le32(out + 16, h->args_len);
    put_le32(out + 20, h->data_len);
}

int proto_rep_hdr_decode(const void *buf, size_t len, struct bfs_rep_hdr *h)
{
    const uint8_t *p = buf;
    memset(h, 0, sizeof *h);
    if (len != BFS_REP_HDR_LEN)
        return -EPROTO;
    h->magic = get_le32(p);
    h->status = (int32_t)get_le32(p + 4);
    h->id = get_le64(p + 8);
    h->args_len = get_le32(p + 16);
    h->data_len = get_le32(p + 20);
    if (h->magic != BFS_PROTO_MAGIC)
        return -EPROTO;
    if (h->args_len > BFS_MAX_ARGS_LEN || h->data_len > BFS_MAX_DATA_LEN)
        return -EBADMSG;
    /* A status is 0 or a negative errno; anything else is not from a BenchFS server. */
    if (h->status > 0 || h->status < -4095)
        return -EBADMSG;
    return 0;
}

/* ---- per-op fields ---- */

enum field {
    F_END, F_INO, F_PARENT, F_NEWPARENT, F_IDX, F_OFF, F_SIZE, F_COOKIE,
    F_MODE, F_UID, F_GID, F_MASK, F_FLAGS, F_LEN, F_DELTA, F_CLIENT,
    F_NAME, F_NEWNAME, F_TARGET, F_ATTR, F_STATFS, F_PRE_CTIME, F_INTENT, F_STEP, F_RDEV,
    F_PATTR, F_STAMP,
};

#define ATTR_WIRE_LEN (8 + 4 * 4 + 8 + 3 * 8 + 8 + 8 + 4)
#define STATFS_WIRE_LEN (7 * 8)
#define MAX_FIELDS 9

struct op_layout {
    const char *name;
    uint8_t req[MAX_FIELDS];
    uint8_t rep[MAX_FIELDS];
};

/* The one definition of what every op carries. */
static const struct op_layout layouts[OP_MAX] = {
    [OP_LOOKUP]      = { "LOOKUP",   { F_PARENT, F_NAME, F_LEN, F_UID, F_MASK },
                                     { F_INO, F_MODE, F_FLAGS, F_ATTR } },
    [OP_GETATTR]     = { "GETATTR",  { F_INO }, { F_ATTR } },
    [OP_SETATTR]     = { "SETATTR",  { F_INO, F_MASK, F_ATTR, F_OFF }, { F_ATTR, F_SIZE } },
    [OP_CREATE]      = { "CREATE",   { F_PARENT, F_NAME, F_MODE, F_UID, F_GID, F_TARGET, F_RDEV,
                                       F_MASK, F_FLAGS }, { F_ATTR, F_PATTR, F_FLAGS, F_STAMP } },
    [OP_READLINK]    = { "READLINK", { F_INO }, { F_TARGET } },
    [OP_LINK]        = { "LINK",     { F_INO, F_MODE, F_PARENT, F_NAME, F_FLAGS },
                                     { F_ATTR, F_FLAGS, F_PATTR, F_STAMP } },
    [OP_UNLINK]      = { "UNLINK",   { F_PARENT, F_NAME, F_FLAGS },
                                     { F_INO, F_FLAGS, F_SIZE, F_PATTR, F_STAMP } },
    [OP_NLINK]       = { "NLINK",    { F_INO, F_DELTA, F_FLAGS, F_STAMP }, { F_INO, F_FLAGS, F_SIZE, F_PATTR } },
    [OP_PURGE]       = { "PURGE",    { F_INO }, { F_INO, F_FLAGS, F_SIZE } },
    [OP_RENAME]      = { "RENAME",   { F_PARENT, F_NAME, F_NEWPARENT, F_NEWNAME, F_FLAGS },
                                     { F_INO, F_FLAGS, F_SIZE, F_STAMP } },
    [OP_READDIR]     = { "READDIR",  { F_INO, F_COOKIE, F_LEN }, { F_LEN, F_FLAGS } },
    [OP_STATFS]      = { "STATFS",   { F_END }, { F_STATFS } },
    [OP_READ]        = { "READ",     { F_INO, F_IDX, F_OFF, F_LEN, F_MASK }, { F_FLAGS, F_SIZE } },
    [OP_WRITE]       = { "WRITE",    { F_INO, F_IDX, F_OFF }, { F_LEN, F_FLAGS, F_ATTR, F_PRE_CTIME } },
    [OP_FSYNC]       = { "FSYNC",    { F_INO, F_FLAGS }, { F_END } },
    [OP_TRUNCATE]    = { "TRUNCATE", { F_INO, F_SIZE, F_OFF }, { F_END } },
    [OP_REMOVE]      = { "REMOVE",   { F_INO, F_SIZE }, { F_END } },
    [OP_HAS_ENTRIES] = { "HAS_ENTRIES", { F_INO }, { F_FLAGS } },
    [OP_COUNTERS]    = { "COUNTERS", { F_END }, { F_LEN } },
    [OP_HELLO]       = { "HELLO",    { F_COOKIE }, { F_CLIENT } },
    [OP_BYE]         = { "BYE",      { F_END }, { F_END } },
    [OP_NOP]         = { "NOP",      { F_END }, { F_END } },
    /* Steps of multi-server operations, sent by a coordinator (server/coord.c). */
    [OP_FENCE]       = { "FENCE",    { F_INO, F_INTENT, F_FLAGS }, { F_END } },
    [OP_INSTALL]     = { "INSTALL",  { F_PARENT, F_NAME, F_INO, F_MODE, F_SIZE, F_INTENT, F_STEP },
                                     { F_INO, F_MODE } },
    [OP_DROP_ENTRY]  = { "DROP_ENTRY", { F_PARENT, F_NAME, F_INO }, { F_END } },
    [OP_DIR_ADJUST]  = { "DIR_ADJUST", { F_INO, F_DELTA, F_INTENT, F_STEP }, { F_END } },
    [OP_DROP]        = { "DROP",     { F_INO, F_FLAGS, F_INTENT, F_STEP }, { F_INO, F_FLAGS, F_SIZE } },
    [OP_MOVED]       = { "MOVED",    { F_INO, F_NEWPARENT, F_INTENT, F_STEP }, { F_END } },
    [OP_PARENT]      = { "PARENT",   { F_INO }, { F_PARENT } },
    [OP_STEP]        = { "STEP",     { F_INTENT, F_STEP, F_FLAGS }, { F_INO, F_MODE, F_FLAGS, F_SIZE } },
    [OP_NOTE]        = { "NOTE",     { F_INTENT, F_INO }, { F_END } },
    [OP_GAIN]        = { "GAIN",     { F_INO, F_INTENT, F_STEP }, { F_END } },
    [OP_MOVE_LOCK]   = { "MOVE_LOCK", { F_INTENT, F_FLAGS }, { F_END } },
    [OP_FORGET]      = { "FORGET",   { F_INTENT }, { F_END } },
    [OP_SCAN]        = { "SCAN",     { F_IDX, F_LEN, F_TARGET }, { F_LEN, F_FLAGS, F_TARGET } },
    [OP_STATUS]      = { "STATUS",   { F_END }, { F_LEN } },
    [OP_APPEND]      = { "APPEND",   { F_INO, F_LEN, F_FLAGS },
                                     { F_OFF, F_LEN, F_FLAGS, F_ATTR, F_PRE_CTIME } },
    [OP_FALLOCATE]   = { "FALLOCATE", { F_INO, F_IDX, F_OFF, F_SIZE, F_MODE, F_FLAGS }, { F_ATTR } },
    [OP_SEEK]        = { "SEEK",     { F_INO, F_OFF, F_SIZE, F_FLAGS }, { F_FLAGS, F_OFF } },
    [OP_COPY]        = { "COPY",     { F_INO, F_IDX, F_OFF, F_PARENT, F_COOKIE, F_SIZE, F_LEN },
                                     { F_LEN, F_FLAGS } },
    [OP_GETXATTR]    = { "GETXATTR", { F_INO, F_NAME, F_LEN }, { F_LEN } },
    [OP_SETXATTR]    = { "SETXATTR", { F_INO, F_NAME, F_FLAGS }, { F_ATTR } },
    [OP_LISTXATTR]   = { "LISTXATTR", { F_INO, F_LEN }, { F_LEN } },
    [OP_REMOVEXATTR] = { "REMOVEXATTR", { F_INO, F_NAME }, { F_ATTR } },
    [OP_LOCK]        = { "LOCK",     { F_INO, F_COOKIE, F_OFF, F_SIZE, F_MODE, F_FLAGS, F_UID, F_INTENT },
                                     { F_MODE, F_OFF, F_SIZE, F_UID, F_ATTR } },
    [OP_LOCK_CANCEL] = { "LOCK_CANCEL", { F_INO, F_INTENT }, { F_END } },
};

size_t proto_req_data_max(uint32_t op)
{
    switch (op) {
    case OP_WRITE:
    case OP_APPEND: return BFS_MAX_DATA_LEN;
    case OP_HELLO: return 65536;   /* a UCX worker address */
    case OP_SETXATTR: return BFS_XATTR_SIZE_MAX;
    case OP_CREATE: return BFS_XATTR_INHERIT_MAX;
    default: return 0;
    }
}

const char *proto_op_name(uint32_t op)
{
    return (op > 0 && op < OP_MAX) ? layouts[op].name : "UNKNOWN";
}

/* The ops that change nothing at the server: one may be sent again (READ's
 * atime mask too: a repeat sets the same "now"). */
static const uint8_t safe_ops[OP_MAX] = {
    [OP_LOOKUP] = 1, [OP_GETATTR] = 1, [OP_READLINK] = 1, [OP_READDIR] = 1, [OP_STATFS] = 1,
    [OP_READ] = 1, [OP_HAS_ENTRIES] = 1, [OP_COUNTERS] = 1, [OP_NOP] = 1, [OP_PARENT] = 1,
    [OP_SCAN] = 1, [OP_STATUS] = 1, [OP_SEEK] = 1, [OP_GETXATTR] = 1, [OP_LISTXATTR] = 1,
};

int proto_op_safe(uint32_t op)
{
    return op > 0 && op < OP_MAX && safe_ops[op];
}

static const uint8_t *fields_of(uint32_t op, int reply)
{
    if (op == 0 || op >= OP_MAX)
        return NULL;
    return reply ? layouts[op].rep : layouts[op].req;
}

/* Strings travel as a 16-bit length and the bytes; these give each string field's slot. */
static const char **str_ptr(struct bfs_msg *m, int f, uint32_t **len)
{
    switch (f) {
    case F_NAME:    *len = &m->name_len;    return &m->name;
    case F_NEWNAME: *len = &m->newname_len; return &m->newname;
    default:        *len = &m->target_len;  return &m->target;
    }
}

static uint64_t *u64_ptr(struct bfs_msg *m, int f)
{
    switch (f) {
    case F_INO: return &m->ino;
    case F_PARENT: return &m->parent;
    case F_NEWPARENT: return &m->newparent;
    case F_IDX: return &m->idx;
    case F_OFF: return &m->off;
    case F_SIZE: return &m->size;
    case F_COOKIE: return &m->cookie;
    case F_PRE_CTIME: return &m->pre_ctime;
    case F_INTENT: return &m->intent;
    case F_RDEV: return &m->rdev;
    case F_STAMP: return &m->stamp;
    default: return NULL;
    }
}

static uint32_t *u32_ptr(struct bfs_msg *m, int f)
{
    switch (f) {
    case F_MODE: return &m->mode;
    case F_UID: return &m->uid;
    case F_GID: return &m->gid;
    case F_MASK: return &m->mask;
    case F_FLAGS: return &m->flags;
    case F_LEN: return &m->len;
    case F_DELTA: return (uint32_t *)&m->delta;
    case F_CLIENT: return &m->client;
    case F_STEP: return &m->step;
    default: return NULL;
    }
}

static size_t field_size(int f, const struct bfs_msg *m)
{
    uint32_t *len;
    if (u64_ptr((struct bfs_msg *)m, f))
        return 8;
    if (u32_ptr((struct bfs_msg *)m, f))
        return 4;
    switch (f) {
    case F_ATTR:
    case F_PATTR: return ATTR_WIRE_LEN;
    case F_STATFS: return STATFS_WIRE_LEN;
    default:
        str_ptr((struct bfs_msg *)m, f, &len);
        return 2 + *len;
    }
}

size_t proto_args_size(uint32_t op, int reply, const struct bfs_msg *m)
{
    const uint8_t *f = fields_of(op, reply);
    size_t n = 0;
    for (int i = 0; f && i < MAX_FIELDS && f[i] != F_END; i++)
        n += field_size(f[i], m);
    return n;
}

static size_t encode_attr(const struct bfs_attr *a, uint8_t *p)
{
    put_le64(p, a->ino);
    put_le32(p + 8, a->mode);
    put_le32(p + 12, a->nlink);
    put_le32(p + 16, a->uid);
    put_le32(p + 20, a->gid);
    put_le64(p + 24, a->size);
    put_le64(p + 32, (uint64_t)a->atime_ns);
    put_le64(p + 40, (uint64_t)a->mtime_ns);
    put_le64(p + 48, (uint64_t)a->ctime_ns);
    put_le64(p + 56, a->rdev);
    put_le64(p + 64, a->blocks);
    put_le32(p + 72, a->flags);
    return ATTR_WIRE_LEN;
}

static void decode_attr(const uint8_t *p, struct bfs_attr *a)
{
    a->ino = get_le64(p);
    a->mode = get_le32(p + 8);
    a->nlink = get_le32(p + 12);
    a->uid = get_le32(p + 16);
    a->gid = get_le32(p + 20);
    a->size = get_le64(p + 24);
    a->atime_ns = (int64_t)get_le64(p + 32);
    a->mtime_ns = (int64_t)get_le64(p + 40);
    a->ctime_ns = (int64_t)get_le64(p + 48);
    a->rdev = get_le64(p + 56);
    a->blocks = get_le64(p + 64);
    a->flags = get_le32(p + 72);
}

size_t proto_args_encode(uint32_t op, int reply, const struct bfs_msg *m, uint8_t *out)
{
    const uint8_t *f = fields_of(op, reply);
    struct bfs_msg *mm = (struct bfs_msg *)m;   /* the slot helpers are shared with decode */
    uint8_t *p = out;
    for (int i = 0; f && i < MAX_FIELDS && f[i] != F_END; i++) {
        uint64_t *v64 = u64_ptr(mm, f[i]);
        uint32_t *v32 = u32_ptr(mm, f[i]);
        uint32_t *len;
        if (v64) {
            put_le64(p, *v64);
            p += 8;
        } else if (v32) {
            put_le32(p, *v32);
            p += 4;
        } else if (f[i] == F_ATTR || f[i] == F_PATTR) {
            p += encode_attr(f[i] == F_ATTR ? &m->attr : &m->pattr, p);
        } else if (f[i] == F_STATFS) {
            const uint64_t *s = &m->st.bsize;
            for (int k = 0; k < 7; k++, p += 8)
                put_le64(p, s[k]);
        } else {
            const char *s = *str_ptr(mm, f[i], &len);
            put_le16(p, (uint16_t)*len);
            if (*len)
                memcpy(p + 2, s, *len);
            p += 2 + *len;
        }
    }
    return (size_t)(p - out);
}

int proto_args_decode(uint32_t op, int reply, const void *buf, size_t len, struct bfs_msg *m)
{
    const uint8_t *f = fields_of(op, reply);
    const uint8_t *p = buf;
    size_t pos = 0;
    memset(m, 0, sizeof *m);
    if (!f)
        return -ENOSYS;
    for (int i = 0; i < MAX_FIELDS && f[i] != F_END; i++) {
        uint64_t *v64 = u64_ptr(m, f[i]);
        uint32_t *v32 = u32_ptr(m, f[i]);
        uint32_t *slen;
        size_t need = v64 ? 8 : v32 ? 4 : f[i] == F_ATTR || f[i] == F_PATTR ? ATTR_WIRE_LEN
                    : f[i] == F_STATFS ? STATFS_WIRE_LEN : 2;
        if (len - pos < need)
            return -EBADMSG;
        if (v64) {
            *v64 = get_le64(p + pos);
        } else if (v32) {
            *v32 = get_le32(p + pos);
        } else if (f[i] == F_ATTR || f[i] == F_PATTR) {
            decode_attr(p + pos, f[i] == F_ATTR ? &m->attr : &m->pattr);
        } else if (f[i] == F_STATFS) {
            uint64_t *s = &m->st.bsize;
            for (int k = 0; k < 7; k++)
                s[k] = get_le64(p + pos + 8 * (size_t)k);
        } else {
            const char **s = str_ptr(m, f[i], &slen);
            uint32_t n = get_le16(p + pos);
            uint32_t max = f[i] == F_TARGET ? BFS_SYMLINK_MAX : BFS_NAME_MAX;
            pos += 2;
            if (n > max || len - pos < n)
                return -EBADMSG;
            *s = (const char *)p + pos;
            *slen = n;
            need = n;
        }
        pos += need;
    }
    return pos == len ? 0 : -EBADMSG;
}

/* ---- readdir entries ---- */

#define DIRENT_FIXED (8 + 8 + 4 + 2)

size_t proto_dirent_size(const struct bfs_dirent *d)
{
    return DIRENT_FIXED + strnlen(d->name, BFS_NAME_MAX);
}

size_t proto_dirent_encode(const struct bfs_dirent *d, uint8_t *out)
{
    size_t n = strnlen(d->name, BFS_NAME_MAX);
    put_le64(out, d->ino);
    put_le64(out + 8, d->cookie);
    put_le32(out + 16, d->type);
    put_le16(out + 20, (uint16_t)n);
    memcpy(out + DIRENT_FIXED, d->name, n);
    return DIRENT_FIXED + n;
}

int proto_dirent_decode(const void *buf, size_t len, size_t *pos, struct bfs_dirent *d)
{
    const uint8_t *p = (const uint8_t *)buf + *pos;
    size_t left = len - *pos;
    if (left == 0)
        return 0;
    if (left < DIRENT_FIXED)
        return -EBADMSG;
    size_t n = get_le16(p + 20);
    if (n == 0 || n > BFS_NAME_MAX || left - DIRENT_FIXED < n || memchr(p + DIRENT_FIXED, 0, n) ||
        !bfs_valid_type(get_le32(p + 16)))
        return -EBADMSG;
    d->ino = get_le64(p);
    d->cookie = get_le64(p + 8);
    d->type = get_le32(p + 16);
    memcpy(d->name, p + DIRENT_FIXED, n);
    d->name[n] = '\0';
    *pos += DIRENT_FIXED + n;
    return 1;
}

/* ---- OP_STATUS bulk ---- */

size_t proto_status_size(void)
{
    return BFS_STATUS_FIXED_LEN + 8 * OP_MAX;
}

size_t proto_status_encode(const struct bfs_status *st, uint8_t *out)
{
    const uint64_t v64[7] = { st->uptime_ms, st->inodes, st->chunk_files, st->chunk_bytes,
                              st->meta_bytes, st->free_bytes, st->total_bytes };
    put_le32(out, st->node_id);
    put_le32(out + 4, st->nodes);
    put_le32(out + 8, st->pid);
    put_le32(out + 12, st->chunk_size);
    for (int i = 0; i < 7; i++)
        put_le64(out + 16 + 8 * i, v64[i]);
    memset(out + 72, 0, BFS_STATUS_HOST_LEN);
    memcpy(out + 72, st->host, strnlen(st->host, BFS_STATUS_HOST_LEN - 1));
    put_le32(out + 72 + BFS_STATUS_HOST_LEN, OP_MAX);
    for (int i = 0; i < OP_MAX; i++)
        put_le64(out + BFS_STATUS_FIXED_LEN + 8 * i, st->counters[i]);
    return proto_status_size();
}

int proto_status_decode(const void *buf, size_t len, struct bfs_status *st)
{
    const uint8_t *p = buf;
    memset(st, 0, sizeof *st);
    if (len < BFS_STATUS_FIXED_LEN)
        return -EBADMSG;
    uint32_t n = get_le32(p + 72 + BFS_STATUS_HOST_LEN);
    if (n > BFS_STATUS_MAX_COUNTERS || len != BFS_STATUS_FIXED_LEN + 8 * (size_t)n)
        return -EBADMSG;
    st->node_id = get_le32(p);
    st->nodes = get_le32(p + 4);
    st->pid = get_le32(p + 8);
    st->chunk_size = get_le32(p + 12);
    if (st->node_id >= st->nodes)
        return -EBADMSG;
    uint64_t *v64[7] = { &st->uptime_ms, &st->inodes, &st->chunk_files, &st->chunk_bytes,
                         &st->meta_bytes, &st->free_bytes, &st->total_bytes };
    for (int i = 0; i < 7; i++)
        *v64[i] = get_le64(p + 16 + 8 * i);
    memcpy(st->host, p + 72, BFS_STATUS_HOST_LEN - 1);
    st->host[BFS_STATUS_HOST_LEN - 1] = '\0';
    st->ncounters = n < OP_MAX ? n : OP_MAX;
    for (uint32_t i = 0; i < st->ncounters; i++)
        st->counters[i] = get_le64(p + BFS_STATUS_FIXED_LEN + 8 * i);
    return 0;
}
