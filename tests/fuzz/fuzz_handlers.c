/* fuzz_handlers.c - libFuzzer target for the server's request handlers
 * (server/handlers.c, handlers_data.c, handlers_ns.c) over a real metadata store (LMDB) and chunk store
 * (io_uring) in a temporary data directory, without UCX.
 *
 * Input: a sequence of records, each a request as the wire carries it:
 *     ctl (1 byte) || header (BFS_REQ_HDR_LEN) || args (hdr.args_len) || bulk (hdr.data_len)
 * The header's own lengths delimit a record, as the AM header and data lengths
 * do on the wire; a header that does not decode, or a short input, ends the
 * sequence. Each record is decoded with proto_req_hdr_decode/proto_args_decode
 * as transport.c does and goes, as transport_run sends it, to handle_request in
 * a struct srv_req (HELLO and BYE, the transport's own, are answered here). The
 * header's version field is taken as the current one, so the corpus outlives
 * version bumps (fuzz_proto covers the check). ctl bits, harness only:
 *   CTL_BATCH    do not wait for this request's completion before the next,
 *                so several are in flight (migration waiters, shared fds);
 *   CTL_RESTART  then the server restarts: nothing in flight, both stores
 *                close and open again, orphans are purged;
 *   CTL_INO, CTL_DIR, CTL_NAME  ino, parent and newparent, name and newname
 *                become one of the ~40 objects seeded at startup (indexed by
 *                the value sent), so requests hit existing objects often.
 *                Every value substituted is one a client could send.
 *
 * Each input starts from a copy of the seeded store and an empty chunk
 * directory, so it runs the same whatever ran before. The seeded store is
 * made at startup by requests through the handlers themselves.
 *
 * Invariants (abort): no sanitizer report; every request is answered exactly
 * once by the time the chunk store is idle; a status is 0 or a known negative
 * errno; a reply decodes on the client side; READ returns at most the length
 * asked (exactly, clamped to the size, from the owner), READDIR at most the
 * entries asked, in cookie order, never an empty page before the last; other
 * ops return no bulk; at a restart the metadata store opens again, purges its
 * orphans and has a root. FUZZ_HANDLERS_STRICT=1 adds: no chunk file of a
 * local inode past its size or outliving it (see chunk_has_owner).
 *
 * The harness is one client (connection id FZ_CLIENT, every request's); it
 * goes at the end of each input (handlers_conn_gone, as transport.c tells it),
 * which ends the lock waits still queued, and the lock table goes with it.
 * OP_LOCK replies: a type, a conflict's range within [0, BFS_LOCK_EOF], the
 * granted file's attributes.
 *
 * Not checked here, as transport.c is not linked (it needs UCX): the client id
 * (request_cb), the key and the HELLO size (its static check_request): requests
 * breaking them reach the handlers here, a superset of what the server lets
 * through. Bulk an op does not take is refused here as there (proto_req_data_max).
 *
 * Build: make fuzz. Run: build/fuzz/fuzz_handlers tests/fuzz/corpus-handlers;
 * BENCHFS_LOG=trace shows each request and reply. The seed corpus names seeded inodes by
 * number: after changing the seeded store, regenerate it with
 *     FUZZ_HANDLERS_GEN=tests/fuzz/corpus-handlers build/fuzz/fuzz_handlers */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/xattr.h"
#include "../../server/coord.h"
#include "../../server/dirtimes.h"
#include "../../server/gone.h"
#include "../../server/server_int.h"

#define FZ_NODE       0
#define FZ_CHUNK      (64u << 10)   /* above the 16 KiB inline limit: migrations happen */
#define FZ_MAX_CHUNKS 64            /* reply checks do size arithmetic below this chunk */
#define FZ_MAX_REQS   64            /* requests per input */
#define FZ_DRAIN_MS   10000         /* a request not answered by then is stuck */
#define FZ_SCAN_EVERY 4096          /* inputs between checks that no chunk file is left */
#define FZ_CLIENT     1             /* the connection id of every request */

enum { CTL_BATCH = 1, CTL_INO = 2, CTL_DIR = 4, CTL_NAME = 8, CTL_RESTART = 16 };
enum { RQ_FREE, RQ_PENDING, RQ_ANSWERED };

/* A request as the handlers see it, plus its place in this input. */
struct fz_req {
    struct srv_req r;   /* first: srv_reply gets &r */
    unsigned seq;
};

/* ---- the seeded store ---- */

enum {
    O_ROOT, O_D0, O_D1, O_D2, O_EMPTY, O_F0, O_F1, O_F2, O_F3, O_F4, O_F5, O_F6,
    O_G0, O_G1, O_G2, O_L0, O_L1, O_L2, O_ORPHAN, O_N00, O_N01, O_N19, O_P0, O_C0, NOBJ
};
#define N_CHILDREN 20   /* files in d1, so READDIR pages */
#define REMOTE_INO(n) ((uint64_t)1 << BFS_INO_NODE_SHIFT | (n))

struct seed_def {
    const char *name;
    int parent;         /* an O_ index */
    uint32_t mode;
    const char *target; /* symlinks; NULL: the 4095-byte one */
};

static const struct seed_def seed_defs[NOBJ] = {
    [O_D0] = { "d0", O_ROOT, S_IFDIR | 0755, NULL },
    [O_D1] = { "d1", O_ROOT, S_IFDIR | 0700, NULL },
    [O_D2] = { "d2", O_D0, S_IFDIR | 0755, NULL },
    [O_EMPTY] = { "empty", O_ROOT, S_IFDIR | 0755, NULL },
    [O_F0] = { "f0", O_ROOT, S_IFREG | 0644, NULL },
    [O_F1] = { "f1", O_ROOT, S_IFREG | 0644, NULL },
    [O_F2] = { "f2", O_ROOT, S_IFREG | 0600, NULL },
    [O_F3] = { "f3", O_ROOT, S_IFREG | 0644, NULL },
    [O_F4] = { "f4", O_ROOT, S_IFREG | 0644, NULL },
    [O_F5] = { "f5", O_ROOT, S_IFREG, NULL },
    [O_F6] = { "f6", O_ROOT, S_IFREG | 04755, NULL },
    [O_G0] = { "g0", O_D0, S_IFREG | 0644, NULL },
    [O_G1] = { "g1", O_D0, S_IFREG | 0644, NULL },
    [O_G2] = { "g2", O_D2, S_IFREG | 0644, NULL },
    [O_L0] = { "l0", O_ROOT, S_IFLNK, "f1" },
    [O_L1] = { "l1", O_ROOT, S_IFLNK, NULL },
    [O_L2] = { "l2", O_D0, S_IFLNK, "../f0" },
    [O_ORPHAN] = { "o0", O_ROOT, S_IFREG | 0644, NULL },
    [O_N00] = { "n00", O_D1, S_IFREG | 0644, NULL },
    [O_N01] = { "n01", O_D1, S_IFREG | 0644, NULL },
    [O_N19] = { "n19", O_D1, S_IFREG | 0644, NULL },
    [O_P0] = { "p0", O_ROOT, S_IFIFO | 0644, NULL },
    [O_C0] = { "c0", O_D0, S_IFCHR | 0600, NULL },    /* rdev 0x103 */
};

struct name { const char *s; uint32_t len; };
#define NAME(lit) { lit, sizeof lit - 1 }
static char long_name[BFS_NAME_MAX];   /* 255 'a' */
static char long_target[BFS_SYMLINK_MAX];

/* CTL_NAME picks from these: the seeded names and the ones meta must refuse. */
static const struct name names[] = {
    NAME("f0"), NAME("f1"), NAME("f2"), NAME("f3"), NAME("f4"), NAME("f5"), NAME("f6"),
    NAME("d0"), NAME("d1"), NAME("d2"), NAME("empty"), NAME("g0"), NAME("g1"), NAME("g2"),
    NAME("l0"), NAME("l1"), NAME("l2"), NAME("h0"), NAME("r0"), NAME("o0"), NAME("n00"),
    NAME("n07"), NAME("n19"), NAME("new"), NAME("new2"), NAME(""), NAME("."), NAME(".."),
    NAME("a/b"), NAME("x\0y"), { long_name, sizeof long_name }, NAME("p0"), NAME("c0"),
};
#define NNAMES (sizeof names / sizeof names[0])

static struct {
    char dir[PATH_MAX], meta_path[PATH_MAX + 16];
    void *tmpl;                     /* meta.lmdb as seeded */
    size_t tmpl_len;
    uint64_t obj[NOBJ];
    uint64_t inos[NOBJ + 5];        /* CTL_INO */
    uint64_t dirs[9];               /* CTL_DIR */
    unsigned ninos, ndirs;
    uint64_t next_ino;              /* what the first CREATE of an input gets */
    struct server s;
    struct srv_conn conn;           /* the one client */
    unsigned nreqs, inputs;
    uint8_t state[FZ_MAX_REQS];
    uint16_t ops[FZ_MAX_REQS];
    uint64_t written[FZ_MAX_REQS];  /* inos WRITE may have made chunk files for */
    unsigned nwritten;
    int last_status;                /* of the last reply, and the ino in its attr */
    uint64_t last_ino;
    uint8_t sink;
    int strict;                     /* FUZZ_HANDLERS_STRICT */
} G;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\nfuzz_handlers: INVARIANT VIOLATED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

static void must(int rc, const char *what)
{
    if (rc < 0)
        fail("setup: %s: %s", what, strerror(-rc));
}

/* ---- what the handlers need from transport.c and server.c ---- */

void server_crash_point(const char *where)
{
    (void)where;   /* (server.c's, for crash tests; never set here) */
}

int server_fault(const char *what)
{
    (void)what;    /* (server.c's, for the clients' checks; never set here) */
    return 0;
}

/* The coordinator (coord.c, which needs UCX) works only in a cluster; the
 * harness is one node, where no request reaches it. */
void coord_submit(struct coord *c, const struct meta_intent *in, struct srv_req *r, int replay)
{
    (void)c;
    (void)r;
    (void)replay;
    fail("coord_submit on one node (intent %llx)", (unsigned long long)in->id);
}

/* Likewise the touches of parents on other nodes (dirtimes.c): a single node's
 * parents are all its own. */
int dirtimes_note(struct dirtimes *dt, uint64_t dir, int64_t stamp)
{
    (void)dt;
    (void)stamp;
    fail("dirtimes_note on one node (directory %llx)", (unsigned long long)dir);
    return -EINVAL;
}

/* Gives back the request's buffers and the request, as transport's req_release. */
static void req_free(struct fz_req *q)
{
    struct srv_req *r = &q->r;
    handlers_buf_put(&G.s, r->data, r->data_buf);
    handlers_buf_put(&G.s, r->rdata, r->rdata_buf);
    free(q);
}

/* Runs r as transport_run does: counted; the connection requests answered as
 * the transport would without UCX (a HELLO with no worker address cannot be
 * connected back to), the rest by the handlers. */
static void run(struct srv_req *r)
{
    if (r->op > 0 && r->op < OP_MAX)
        G.s.counters[r->op]++;
    if (r->op == OP_HELLO) {
        r->r.client = FZ_CLIENT;
        srv_reply(r, r->data_len ? 0 : -ECONNREFUSED);
    } else if (r->op == OP_BYE) {
        srv_reply(r, 0);
    } else {
        handle_request(&G.s, r);
    }
}

static void check_readdir(const struct srv_req *r)
{
    size_t max = r->a.len < BFS_READDIR_MAX ? r->a.len : BFS_READDIR_MAX, pos = 0, n = 0;
    struct bfs_dirent d;
    uint64_t last = 0;
    if (r->r.len > max)
        fail("READDIR: %u entries, %zu asked", r->r.len, max);
    int rc = 0;
    while (r->rdata_len && (rc = proto_dirent_decode(r->rdata, r->rdata_len, &pos, &d)) == 1) {
        /* Cookies are name hashes in key order: 3 <= cookie < 2^56, ascending. */
        if (d.cookie < 3 || d.cookie >= 1ULL << 56 || d.cookie < last)
            fail("READDIR: entry '%s' has cookie %#llx after %#llx", d.name,
                 (unsigned long long)d.cookie, (unsigned long long)last);
        last = d.cookie;
        n++;
    }
    if (rc < 0 || n != r->r.len)
        fail("READDIR: bulk holds %zu entries (decode %d), reply says %u", n, rc, r->r.len);
    if (!r->r.flags && n == 0)
        fail("READDIR: an empty page that is not the last (the client would loop)");
}

/* Attributes a reply carries: a type BenchFS stores, rdev only for a device,
 * blocks only for a regular file and never past its size. */
static void check_attr(const char *op, const struct bfs_attr *at)
{
    uint32_t type = at->mode & S_IFMT;
    if (!bfs_valid_type(type) || (at->rdev && !S_ISCHR(at->mode) && !S_ISBLK(at->mode)) ||
        (at->blocks && (!S_ISREG(at->mode) || at->blocks > at->size / 512 + 1)))
        fail("%s: attr of %#llx: mode %o rdev %#llx size %llu blocks %llu", op,
             (unsigned long long)at->ino, at->mode, (unsigned long long)at->rdev,
             (unsigned long long)at->size, (unsigned long long)at->blocks);
}

/* What a successful reply must look like, beyond decoding. */
static void check_success(const struct srv_req *r)
{
    const struct bfs_msg *a = &r->a, *m = &r->r;
    if (r->op == OP_GETATTR || r->op == OP_CREATE || r->op == OP_SETATTR ||
        (r->op == OP_LOOKUP && (m->flags & 1)) || ((r->op == OP_WRITE) && (m->flags & 1)) ||
        (r->op == OP_LINK && !(m->flags & 1)))
        check_attr(proto_op_name(r->op), &m->attr);
    switch (r->op) {
    case OP_LOOKUP:
        /* A small file along (flag 2): all of it, only when asked, never more than asked. */
        if ((m->flags & 2) && (!(m->flags & 1) || !S_ISREG(m->attr.mode) || !a->len ||
                               r->rdata_len != m->attr.size || r->rdata_len > a->len))
            fail("LOOKUP: %zu bytes along (flags %#x) of a %llu-byte file, %u asked", r->rdata_len,
                 m->flags, (unsigned long long)m->attr.size, a->len);
        if (!(m->flags & 2) && r->rdata_len)
            fail("LOOKUP: %zu bytes along without flag 2", r->rdata_len);
        for (size_t i = 0; i < r->rdata_len; i++)
            G.sink += ((const uint8_t *)r->rdata)[i];
        return;
    case OP_READ: {
        if (r->rdata_len > a->len)
            fail("READ: %zu bytes returned, %u asked", r->rdata_len, a->len);
        for (size_t i = 0; i < r->rdata_len; i++)   /* every byte must be readable */
            G.sink += ((const uint8_t *)r->rdata)[i];
        /* The owner clamps to the file size; another node returns all asked. */
        uint64_t pos = a->idx * FZ_CHUNK + a->off, want = a->len;
        if ((m->flags & 1) && a->idx <= FZ_MAX_CHUNKS)
            want = pos >= m->size ? 0 : m->size - pos < a->len ? m->size - pos : a->len;
        if (!(m->flags & 1) || a->idx <= FZ_MAX_CHUNKS) {
            if (r->rdata_len != want)
                fail("READ: %zu bytes at %llu of a %llu-byte file, want %llu", r->rdata_len,
                     (unsigned long long)pos, (unsigned long long)m->size,
                     (unsigned long long)want);
        }
        return;
    }
    case OP_READDIR:
        check_readdir(r);
        return;
    case OP_LOCK:
        if (m->mode > BFS_LOCK_WR || ((a->flags & BFS_LOCK_TEST) && m->mode != BFS_LOCK_UN &&
                                      (m->off > m->size || m->size > BFS_LOCK_EOF)))
            fail("LOCK: reply type %u range [%llu, %llu]", m->mode, (unsigned long long)m->off,
                 (unsigned long long)m->size);
        if (a->mode != BFS_LOCK_UN && !(a->flags & BFS_LOCK_TEST) && m->attr.ino &&
            m->attr.ino != a->ino)
            fail("LOCK of %#llx: attr of %#llx", (unsigned long long)a->ino,
                 (unsigned long long)m->attr.ino);
        if (m->attr.ino)
            check_attr("LOCK", &m->attr);
        break;
    case OP_COUNTERS:
        if (r->rdata_len != OP_MAX * 8 || m->len != OP_MAX)
            fail("COUNTERS: %zu bytes", r->rdata_len);
        return;
    case OP_STATUS: {
        struct bfs_status st;
        if (m->len != r->rdata_len || proto_status_decode(r->rdata, r->rdata_len, &st) < 0 ||
            st.node_id != FZ_NODE || st.ncounters != OP_MAX)
            fail("STATUS: %zu bytes do not decode as this server's status", r->rdata_len);
        return;
    }
    case OP_WRITE:
        if (m->len != r->data_len)
            fail("WRITE: reply says %u bytes, %zu sent", m->len, r->data_len);
        /* The owner's reply carries the file's attributes after the write. */
        if ((m->flags & 1) && (m->attr.ino != a->ino || !S_ISREG(m->attr.mode) ||
                               (a->idx <= FZ_MAX_CHUNKS &&
                                m->attr.size < a->idx * FZ_CHUNK + a->off + r->data_len)))
            fail("WRITE of %zu bytes at chunk %llu offset %llu of %#llx: reply attr ino %#llx "
                 "mode %o size %llu", r->data_len, (unsigned long long)a->idx,
                 (unsigned long long)a->off, (unsigned long long)a->ino,
                 (unsigned long long)m->attr.ino, m->attr.mode, (unsigned long long)m->attr.size);
        break;
    case OP_APPEND:   /* the owner reserved [off, off+len): the size covers it */
        if (m->len != a->len || (m->flags & 1 && r->data_len != a->len) ||
            m->attr.ino != a->ino || m->attr.size < m->off + a->len)
            fail("APPEND of %u bytes to %#llx: at %llu, len %u flags %u, size %llu", a->len,
                 (unsigned long long)a->ino, (unsigned long long)m->off, m->len, m->flags,
                 (unsigned long long)m->attr.size);
        check_attr("APPEND", &m->attr);
        break;
    case OP_FALLOCATE:
        if (a->flags & BFS_FALLOC_META)
            check_attr("FALLOCATE", &m->attr);
        break;
    case OP_SEEK:   /* found: at or after off, before the size the client gave */
        if ((m->flags & 1) && (m->off < a->off || m->off >= a->size))
            fail("SEEK from %llu in %llu bytes: %llu", (unsigned long long)a->off,
                 (unsigned long long)a->size, (unsigned long long)m->off);
        break;
    case OP_COPY:
        if (m->len != a->len)
            fail("COPY: reply says %u bytes, %u asked", m->len, a->len);
        break;
    case OP_GETATTR:
        if (m->attr.ino != a->ino)
            fail("GETATTR of %#llx: attr of %#llx", (unsigned long long)a->ino,
                 (unsigned long long)m->attr.ino);
        break;
    case OP_GETXATTR:
    case OP_LISTXATTR: {
        /* The size always; the bytes only when asked for, and then exactly those. */
        size_t max = r->op == OP_GETXATTR ? BFS_XATTR_SIZE_MAX : BFS_XATTR_LIST_MAX;
        if (m->len > max || r->rdata_len != (a->len ? m->len : 0))
            fail("%s: size %u, %zu bytes for a %u-byte buffer", proto_op_name(r->op), m->len,
                 r->rdata_len, a->len);
        const char *p = r->rdata;
        if (r->op == OP_LISTXATTR && r->rdata_len && p[r->rdata_len - 1] != '\0')
            fail("LISTXATTR: the list does not end with a NUL");
        for (size_t i = 0; i < r->rdata_len; i++)
            G.sink += (uint8_t)p[i];
        return;
    }
    case OP_SETXATTR:
    case OP_REMOVEXATTR:
        check_attr(proto_op_name(r->op), &m->attr);
        if (m->attr.ino != a->ino)
            fail("%s of %#llx: attr of %#llx", proto_op_name(r->op), (unsigned long long)a->ino,
                 (unsigned long long)m->attr.ino);
        break;
    case OP_CREATE:
        if (bfs_ino_node(m->attr.ino) != FZ_NODE || (m->attr.mode & S_IFMT) != (a->mode & S_IFMT) ||
            ((S_ISCHR(a->mode) || S_ISBLK(a->mode)) && m->attr.rdev != a->rdev))
            fail("CREATE: got ino %#llx mode %o rdev %#llx", (unsigned long long)m->attr.ino,
                 m->attr.mode, (unsigned long long)m->attr.rdev);
        break;
    default:
        break;
    }
    if (r->rdata_len)
        fail("%s: %zu bytes of reply data", proto_op_name(r->op), r->rdata_len);
}

void srv_reply(struct srv_req *r, int status)
{
    struct fz_req *q = (struct fz_req *)r;
    if (q->seq >= G.nreqs || G.state[q->seq] != RQ_PENDING)
        fail("request %u (%s): answered twice", q->seq, proto_op_name(r->op));
    G.state[q->seq] = RQ_ANSWERED;
    if (status > 0 || (status < 0 && !strerrorname_np(-status)))
        fail("%s: reply status %d is not 0 or a negative errno", proto_op_name(r->op), status);
    /* Encode as transport.c does, and decode as the client would. */
    size_t alen = status == 0 ? proto_args_size(r->op, 1, &r->r) : 0;
    if (alen > BFS_MAX_ARGS_LEN) {
        status = -EOVERFLOW;
        alen = 0;
    }
    if (status == 0 && r->rdata_len > BFS_MAX_DATA_LEN)
        fail("%s: %zu bytes of reply data", proto_op_name(r->op), r->rdata_len);
    struct bfs_rep_hdr h = { .magic = BFS_PROTO_MAGIC, .status = status, .id = r->id,
                             .args_len = (uint32_t)alen,
                             .data_len = status == 0 ? (uint32_t)r->rdata_len : 0 };
    struct bfs_msg back;
    proto_rep_hdr_encode(&h, r->rhdr);
    if (alen && proto_args_encode(r->op, 1, &r->r, r->rhdr + BFS_REP_HDR_LEN) != alen)
        fail("%s: reply args encode to another length", proto_op_name(r->op));
    if (proto_rep_hdr_decode(r->rhdr, BFS_REP_HDR_LEN, &h) != 0 ||
        (status == 0 && proto_args_decode(r->op, 1, r->rhdr + BFS_REP_HDR_LEN, alen, &back) != 0))
        fail("%s: the client cannot decode the reply (status %d)", proto_op_name(r->op), status);
    if (status == 0)
        check_success(r);
    log_trace("request %llu (%s): reply status %d, %zu bytes", (unsigned long long)r->id,
              proto_op_name(r->op), status, status == 0 ? r->rdata_len : 0);
    G.last_status = status;
    G.last_ino = r->r.attr.ino;
    req_free(q);   /* now, so that a handler touching r later is a use after free */
}

/* Polls the chunk store until it is idle, as the server's loop would. */
static void drain(void)
{
    struct chunkstore *cs = G.s.cs;
    int waited = 0;
    while (chunkstore_inflight(cs)) {
        int rc = chunkstore_flush(cs);
        if (rc < 0)
            fail("chunkstore_flush: %s", strerror(-rc));
        if (chunkstore_poll(cs) > 0 || chunkstore_arm(cs))
            continue;
        struct pollfd p = { .fd = chunkstore_eventfd(cs), .events = POLLIN };
        if (poll(&p, 1, 1) == 0 && ++waited >= FZ_DRAIN_MS)
            fail("%u chunk store ops still in flight after %d ms", chunkstore_inflight(cs),
                 FZ_DRAIN_MS);
    }
    if (G.s.migrations)
        fail("the chunk store is idle but a migration is not over");
}

/* ---- the stores' life ---- */

static const struct chunkstore_opts cs_opts = {
    .chunk_size = FZ_CHUNK, .queue_size = 16, .buffer_size = FZ_CHUNK, .buffer_count = 2,
    .submit_depth = 4, .fd_cache = 4,   /* small: buffers run out, chunk fds get evicted */
};

/* A fresh struct server around the open chunk store. */
static void server_reset(void)
{
    struct chunkstore *cs = G.s.cs;
    static struct gone *gone;   /* lives as long as the process, as the server's does */
    if (!gone && !(gone = gone_new()))
        fail("out of memory");
    memset(&G.s, 0, sizeof G.s);
    G.s.gone = gone;
    G.s.node_id = FZ_NODE;
    G.s.nodes = 1;
    G.s.chunk_size = FZ_CHUNK;
    G.s.data_dir = G.dir;
    G.s.cs = cs;
    G.conn = (struct srv_conn){ .srv = &G.s, .id = FZ_CLIENT };
}

static void open_meta(int again)
{
    int rc = meta_open(G.dir, FZ_NODE, FZ_CHUNK, &G.s.meta);
    if (rc < 0)
        fail("the metadata store does not open%s: %s", again ? " again" : "", strerror(-rc));
}

static void close_meta(void)
{
    int rc = meta_sync(G.s.meta);
    if (rc < 0)
        fail("meta_sync: %s", strerror(-rc));
    meta_close(G.s.meta);
    G.s.meta = NULL;
}

static void purge_cb(void *arg, uint64_t ino, uint64_t size)
{
    (void)arg;
    int rc = chunkstore_remove(G.s.cs, ino, size);
    if (rc < 0)
        fail("purging orphan %#llx: %s", (unsigned long long)ino, strerror(-rc));
}

/* CTL_RESTART: the server stops (nothing in flight) and starts again on the
 * same data directory, as server.c does it. */
static void restart(void)
{
    struct bfs_attr a;
    int rc;
    drain();
    lockreq_fini(&G.s);   /* in memory only: a restart loses every lock (waits end) */
    chunkstore_close(G.s.cs);
    close_meta();
    open_meta(1);
    must(chunkstore_open(G.dir, &cs_opts, &G.s.cs), "chunkstore_open");
    if ((rc = meta_purge_orphans(G.s.meta, purge_cb, NULL)) < 0)
        fail("meta_purge_orphans after a restart: %s", strerror(-rc));
    if ((rc = meta_getattr(G.s.meta, BFS_ROOT_INO, &a)) < 0 || !S_ISDIR(a.mode))
        fail("no root directory after a restart: %d", rc);
}

/* The chunk store stays open from input to input (opening it costs more than
 * most inputs): this takes it back to an empty chunk directory with nothing to
 * sync. Only WRITE makes chunk files, so the inos written are all there is to
 * remove; an fsync of each clears its bucket's "names changed" mark. */
static void reset_chunks(void)
{
    chunkstore_removals_wait(G.s.cs);   /* what REMOVE and UNLINK queued */
    for (unsigned i = 0; i < G.nwritten; i++) {
        int rc = chunkstore_remove(G.s.cs, G.written[i], UINT64_MAX);
        if (rc == 0)
            rc = chunkstore_fsync(G.s.cs, G.written[i], 0, -1, NULL, NULL);
        if (rc < 0)
            fail("removing the chunks of %#llx: %s", (unsigned long long)G.written[i],
                 strerror(-rc));
    }
    G.nwritten = 0;
    drain();
}

/* Writes the seeded meta.lmdb over whatever the last input left. */
static void restore_meta(void)
{
    int fd = open(G.meta_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fail("setup: open %s: %s", G.meta_path, strerror(errno));
    if (write(fd, G.tmpl, G.tmpl_len) != (ssize_t)G.tmpl_len)
        fail("setup: write %s: %s", G.meta_path, strerror(errno));
    if (close(fd) < 0)
        fail("setup: close %s: %s", G.meta_path, strerror(errno));
}

/* Calls fn for each file in the chunk directory (DATA/chunks/XX/<ino>.<idx>). */
static void scan_chunks(void (*fn)(const char *bucket, const char *name))
{
    char path[PATH_MAX + 16];
    for (int b = 0; b < 256; b++) {
        snprintf(path, sizeof path, "%s/chunks/%02x", G.dir, b);
        DIR *d = opendir(path);
        if (!d)
            fail("opendir %s: %s", path, strerror(errno));
        for (struct dirent *e; (e = readdir(d));)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                fn(path, e->d_name);
        if (closedir(d) < 0)
            fail("closedir %s: %s", path, strerror(errno));
    }
}

/* The cleanup after each input missed no file (else inputs would see each
 * other's data). */
static void no_chunk_left(const char *bucket, const char *name)
{
    fail("chunk file %s/%s left behind by an input", bucket, name);
}

/* FUZZ_HANDLERS_STRICT=1: a chunk file of a local inode lies within the inode's
 * size; one past it, or outliving the inode, is disk space nobody frees (and
 * stale data a later extension would show). Off by default because a WRITE
 * still in flight when its file is unlinked leaves such a file today. */
static void chunk_has_owner(const char *bucket, const char *name)
{
    unsigned long long ino, idx;
    struct bfs_attr a;
    int end = 0;
    if (sscanf(name, "%16llx.%llu%n", &ino, &idx, &end) != 2 || name[end] ||
        bfs_ino_node(ino) != FZ_NODE)
        return;
    int rc = meta_getattr(G.s.meta, ino, &a);
    if (rc == -ENOENT)
        fail("chunk file %s/%s outlives its inode", bucket, name);
    if (rc == 0 && idx * FZ_CHUNK >= a.size)
        fail("chunk file %s/%s lies past the file's size %llu", bucket, name,
             (unsigned long long)a.size);
}

/* ---- running an input ---- */

static void substitute(uint8_t ctl, struct bfs_msg *a)
{
    if (ctl & CTL_INO)
        a->ino = G.inos[a->ino % G.ninos];
    if (ctl & CTL_DIR) {
        a->parent = G.dirs[a->parent % G.ndirs];
        a->newparent = G.dirs[a->newparent % G.ndirs];
    }
    if (ctl & CTL_NAME) {
        const struct name *n = &names[(a->name_len ? (uint8_t)a->name[0] : 0) % NNAMES];
        const struct name *nn = &names[(a->newname_len ? (uint8_t)a->newname[0] : 0) % NNAMES];
        a->name = n->s;
        a->name_len = n->len;
        a->newname = nn->s;
        a->newname_len = nn->len;
    }
}

static void note_written(uint64_t ino)
{
    for (unsigned i = 0; i < G.nwritten; i++)
        if (G.written[i] == ino)
            return;
    G.written[G.nwritten++] = ino;
}

/* Hands one request to the handlers as transport.c does once it has its bulk. */
static void deliver(uint8_t ctl, const struct bfs_req_hdr *h, const uint8_t *args,
                    const uint8_t *bulk)
{
    struct fz_req *q = calloc(1, sizeof *q);
    if (!q)
        fail("out of memory");
    struct srv_req *r = &q->r;
    r->srv = &G.s;
    r->id = h->id;
    r->op = h->op;
    r->data_buf = r->rdata_buf = -1;
    r->conn = &G.conn;
    q->seq = G.nreqs++;
    G.state[q->seq] = RQ_PENDING;
    G.ops[q->seq] = h->op;
    memcpy(r->args, args, h->args_len);
    int rc = proto_args_decode(h->op, 0, r->args, h->args_len, &r->a);
    if (rc == 0 && h->data_len > proto_req_data_max(h->op))
        rc = -EBADMSG;   /* bulk the op does not take: transport refuses it */
    if (rc < 0) {   /* transport answers it without a handler */
        srv_reply(r, rc);
        return;
    }
    substitute(ctl, &r->a);
    if (h->data_len) {   /* a registered buffer when one is free, as transport */
        r->data_len = h->data_len;
        if (!(r->data = handlers_buf_get(&G.s, h->data_len, &r->data_buf)))
            fail("out of memory");
        memcpy(r->data, bulk, h->data_len);
    }
    if (r->op == OP_WRITE || r->op == OP_APPEND || r->op == OP_FALLOCATE || r->op == OP_COPY)
        note_written(r->a.ino);
    run(r);
}

/* One record; returns its length, or 0 when the rest cannot be framed. */
static size_t run_record(const uint8_t *p, size_t n)
{
    uint8_t hdr[BFS_REQ_HDR_LEN];
    struct bfs_req_hdr h;
    if (n < 1 + BFS_REQ_HDR_LEN || G.nreqs == FZ_MAX_REQS)
        return 0;
    memcpy(hdr, p + 1, BFS_REQ_HDR_LEN);
    hdr[4] = BFS_PROTO_VERSION & 0xff;   /* (little-endian u16 at offset 4) */
    hdr[5] = BFS_PROTO_VERSION >> 8;
    if (proto_req_hdr_decode(hdr, BFS_REQ_HDR_LEN, &h) < 0)
        return 0;
    uint8_t ctl = p[0];
    const uint8_t *args = p + 1 + BFS_REQ_HDR_LEN;
    size_t len = 1 + BFS_REQ_HDR_LEN + (size_t)h.args_len + h.data_len;
    if (n < len)
        return 0;
    deliver(ctl, &h, args, args + h.args_len);
    if (ctl & CTL_RESTART)
        restart();
    else if (!(ctl & CTL_BATCH))
        drain();
    return len;
}

/* Every request of the input was answered; nothing is left in flight. */
static void end_input(void)
{
    drain();
    /* The client goes: its lock waits end, its locks (and the table) go. */
    handlers_conn_gone(&G.s, G.conn.id);
    lockreq_fini(&G.s);
    for (unsigned i = 0; i < G.nreqs; i++)
        if (G.state[i] == RQ_PENDING)
            fail("request %u (%s) of this input was never answered", i, proto_op_name(G.ops[i]));
    G.nreqs = 0;
}

/* ---- building requests (the seeded store and the seed corpus) ---- */

struct gen {
    uint8_t buf[24u << 10];
    size_t n;
    uint64_t id;
};

/* One record: ctl, header, alen bytes of args, blen bytes of bulk. */
static void put_raw(struct gen *g, uint8_t ctl, uint32_t op, const void *args, size_t alen,
                    const void *bulk, uint32_t blen)
{
    struct bfs_req_hdr h = { .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION,
                             .op = (uint16_t)op, .id = ++g->id, .args_len = (uint32_t)alen,
                             .data_len = blen, .client = 1 };
    if (g->n + 1 + BFS_REQ_HDR_LEN + alen + blen > sizeof g->buf)
        fail("gen: seed too large");
    g->buf[g->n++] = ctl;
    proto_req_hdr_encode(&h, g->buf + g->n);
    g->n += BFS_REQ_HDR_LEN;
    if (alen)
        memcpy(g->buf + g->n, args, alen);
    g->n += alen;
    if (blen)
        memcpy(g->buf + g->n, bulk, blen);
    g->n += blen;
}

static void put(struct gen *g, uint8_t ctl, uint32_t op, struct bfs_msg m, const void *bulk,
                uint32_t blen)
{
    uint8_t args[BFS_MAX_ARGS_LEN];
    size_t alen = proto_args_size(op, 0, &m);
    if (alen > sizeof args || proto_args_encode(op, 0, &m, args) != alen)
        fail("gen: %s args", proto_op_name(op));
    put_raw(g, ctl, op, args, alen, bulk, blen);
}

/* Requests with the bytes the handlers see; q() for those without bulk. */
#define q(g, ctl, op, ...) put(g, ctl, op, (struct bfs_msg){ __VA_ARGS__ }, NULL, 0)
#define NM(s) .name = s, .name_len = sizeof s - 1
#define NN(s) .newname = s, .newname_len = sizeof s - 1
#define TG(s) .target = s, .target_len = sizeof s - 1
#define O(i) G.obj[O_##i]

/* Runs one request through the handlers at startup; it must succeed.
 * Returns the ino of the reply's attributes (CREATE). */
static uint64_t seed(uint32_t op, struct bfs_msg m, const void *bulk, uint32_t blen)
{
    struct gen g = { .n = 0 };
    put(&g, 0, op, m, bulk, blen);
    if (run_record(g.buf, g.n) != g.n)
        fail("setup: %s does not frame", proto_op_name(op));
    end_input();
    if (G.last_status < 0)
        fail("setup: %s %.*s: %s", proto_op_name(op), (int)m.name_len, m.name ? m.name : "",
             strerror(-G.last_status));
    return G.last_ino;
}
#define S(op, ...) seed(op, (struct bfs_msg){ __VA_ARGS__ }, NULL, 0)

static void seed_objects(void)
{
    static char blob[16u << 10];   /* the inline limit (meta_inline_max) */
    static const char hello[] = "hello, inline\n";
    memset(blob, 'z', sizeof blob);
    G.obj[O_ROOT] = BFS_ROOT_INO;
    for (int i = 1; i < NOBJ; i++) {
        const struct seed_def *d = &seed_defs[i];
        const char *t = S_ISLNK(d->mode) ? (d->target ? d->target : long_target) : NULL;
        uint32_t tlen = !t ? 0 : d->target ? (uint32_t)strlen(t) : sizeof long_target;
        if (i == O_N01) {   /* the rest of d1's children, between n00 and n19 */
            for (int k = 1; k < N_CHILDREN - 1; k++) {
                char nm[8];
                snprintf(nm, sizeof nm, "n%02d", k);
                uint64_t ino = S(OP_CREATE, .parent = G.obj[O_D1], .name = nm, .name_len = 3,
                                 .mode = S_IFREG | 0644);
                if (k == 1)
                    G.obj[O_N01] = ino;
            }
            continue;
        }
        G.obj[i] = S(OP_CREATE, .parent = G.obj[d->parent], .name = d->name,
                     .name_len = (uint32_t)strlen(d->name), .mode = d->mode,
                     .uid = i == O_F6 ? 1000 : 0, .gid = i == O_F6 ? 1000 : 0,
                     .target = t, .target_len = tlen, .rdev = i == O_C0 ? 0x103 : 0);
    }
    /* f1: a few inline bytes and a second name; f2: all of the inline room;
     * f3: chunk mode, 3 chunks and a bit; f4: inline bytes, size past them. */
    seed(OP_WRITE, (struct bfs_msg){ .ino = G.obj[O_F1] }, hello, sizeof hello - 1);
    S(OP_LINK, .ino = G.obj[O_F1], .mode = S_IFREG, .parent = BFS_ROOT_INO, .name = "h0",
      .name_len = 2);
    seed(OP_WRITE, (struct bfs_msg){ .ino = G.obj[O_F2] }, blob, sizeof blob);
    seed(OP_WRITE, (struct bfs_msg){ .ino = G.obj[O_F3], .off = sizeof blob }, "x", 1);
    S(OP_SETATTR, .ino = G.obj[O_F3], .mask = BFS_SET_SIZE, .attr.size = 3ull * FZ_CHUNK + 5);
    seed(OP_WRITE, (struct bfs_msg){ .ino = G.obj[O_F4], .off = 100 }, "0123456789", 10);
    S(OP_SETATTR, .ino = G.obj[O_F4], .mask = BFS_SET_SIZE_GROW, .attr.size = 2ull * FZ_CHUNK);
    /* An entry for an inode on node 1, and an unlinked file still open somewhere. */
    S(OP_LINK, .ino = REMOTE_INO(5), .mode = S_IFREG, .parent = BFS_ROOT_INO, .name = "r0",
      .name_len = 2);
    S(OP_UNLINK, .parent = BFS_ROOT_INO, .name = "o0", .name_len = 2, .flags = BFS_F_KEEP);
    /* A probe: inputs' first CREATE gets the number after it. */
    G.next_ino = S(OP_CREATE, .parent = BFS_ROOT_INO, .name = "x", .name_len = 1,
                   .mode = S_IFREG) + 1;

    for (int i = 0; i < NOBJ; i++)
        G.inos[G.ninos++] = G.obj[i];
    G.inos[G.ninos++] = REMOTE_INO(5);
    G.inos[G.ninos++] = REMOTE_INO(6);
    G.inos[G.ninos++] = 0x7fff;   /* local, never allocated */
    G.inos[G.ninos++] = 0;
    G.inos[G.ninos++] = UINT64_MAX;
    const int dirs[] = { O_ROOT, O_D0, O_D1, O_D2, O_EMPTY, O_F1, O_ORPHAN };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        G.dirs[G.ndirs++] = G.obj[dirs[i]];
    G.dirs[G.ndirs++] = REMOTE_INO(6);
    G.dirs[G.ndirs++] = 0x7fff;
}

/* Seeds a new store and keeps its meta.lmdb as every input's starting point. */
static void make_template(void)
{
    struct stat st;
    server_reset();
    open_meta(0);
    seed_objects();
    close_meta();
    reset_chunks();   /* f3's chunk 0: its bytes past the inline limit are not kept */
    int fd = open(G.meta_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !(G.tmpl = malloc((size_t)st.st_size)) ||
        read(fd, G.tmpl, (size_t)st.st_size) != st.st_size)
        fail("setup: reading the seeded %s: %s", G.meta_path, strerror(errno));
    G.tmpl_len = (size_t)st.st_size;
    if (close(fd) < 0)
        fail("setup: close %s: %s", G.meta_path, strerror(errno));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    server_reset();
    restore_meta();
    open_meta(0);
    for (size_t pos = 0, n; pos < size && (n = run_record(data + pos, size - pos)) > 0; pos += n)
        ;
    end_input();
    if (G.strict)
        scan_chunks(chunk_has_owner);
    close_meta();
    reset_chunks();
    if (++G.inputs % FZ_SCAN_EVERY == 0)
        scan_chunks(no_chunk_left);
    return 0;
}

/* ---- the seed corpus (FUZZ_HANDLERS_GEN=DIR) ---- */

static void gen_write(const char *dir, const char *name, const struct gen *g)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(g->buf, 1, g->n, f) != g->n || fclose(f) != 0)
        fail("gen: writing %s: %s", path, strerror(errno));
}

static void generate(const char *dir, uint64_t next)
{
    static const char text[] = "the quick brown fox jumps over the lazy dog\n";
    static uint8_t big[3000];
    struct gen *g = calloc(1, sizeof *g);
    if (!g)
        fail("out of memory");
    memset(big, 'b', sizeof big);
    uint32_t tl = sizeof text - 1;
#define SEED(name, body) do { memset(g, 0, sizeof *g); body; gen_write(dir, name, g); } while (0)

    SEED("lookup-getattr", {
        q(g, 0, OP_LOOKUP, .parent = BFS_ROOT_INO, NM("f1"));
        q(g, 0, OP_LOOKUP, .parent = O(D0), NM("l2"));
        q(g, 0, OP_LOOKUP, .parent = BFS_ROOT_INO, NM("r0"));
        /* An open's lookup for reading: the small file comes along (and its atime moves). */
        q(g, 0, OP_LOOKUP, .parent = BFS_ROOT_INO, NM("f1"), .len = 8192,
          .mask = BFS_SET_ATIME_READ | BFS_SET_ATIME_RELATIME);
        q(g, 0, OP_LOOKUP, .parent = BFS_ROOT_INO, NM("f1"), .len = 4, .uid = 1000);
        q(g, 0, OP_GETATTR, .ino = O(F1));
        q(g, 0, OP_GETATTR, .ino = REMOTE_INO(5));
        q(g, 0, OP_READLINK, .ino = O(L0));
        q(g, 0, OP_READLINK, .ino = O(L1));
        q(g, 0, OP_READLINK, .ino = O(F1));
        q(g, 0, OP_HAS_ENTRIES, .ino = O(D0));
        q(g, 0, OP_HAS_ENTRIES, .ino = O(EMPTY));
    });
    SEED("misc-ops", {
        q(g, 0, OP_STATFS, .ino = 0);
        q(g, 0, OP_COUNTERS, .ino = 0);
        q(g, 0, OP_STATUS, .ino = 0);
        q(g, 0, OP_NOP, .ino = 0);
        put(g, 0, OP_HELLO, (struct bfs_msg){ .ino = 0 }, text, 16);
        q(g, 0, OP_HELLO, .ino = 0);
        q(g, 0, OP_BYE, .ino = 0);
    });
    SEED("create-write-read", {
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("new"), .mode = S_IFREG | 0644);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = next }, text, tl);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = next, .off = 100 }, text, tl);
        q(g, 0, OP_READ, .ino = next, .len = 4096);
        q(g, 0, OP_GETATTR, .ino = next);
        q(g, 0, OP_FSYNC, .ino = next, .flags = 1);
    });
    SEED("migrate", {
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(F1), .off = 16380 }, text, tl);
        q(g, 0, OP_READ, .ino = O(F1), .len = 64);
        q(g, 0, OP_READ, .ino = O(F1), .off = 16380, .len = 100);
        q(g, CTL_RESTART, OP_FSYNC, .ino = O(F1));
        q(g, 0, OP_READ, .ino = O(F1), .off = 16370, .len = 100);
    });
    SEED("restart", {
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f2"), .flags = BFS_F_KEEP);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(F2), .idx = 1 }, text, tl);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(F4), .off = 50 }, text, tl);
        q(g, CTL_RESTART, OP_NOP, .ino = 0);
        q(g, 0, OP_GETATTR, .ino = O(F2));
        q(g, 0, OP_GETATTR, .ino = O(ORPHAN));
        q(g, 0, OP_READ, .ino = O(F4), .len = 200);
    });
    SEED("migrate-batch", {
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F2), .off = 16000 }, big, 1000);
        q(g, CTL_BATCH, OP_READ, .ino = O(F2), .off = 15990, .len = 100);
        q(g, CTL_BATCH, OP_SETATTR, .ino = O(F2), .mask = BFS_SET_SIZE, .attr.size = 16100);
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F2), .off = 3 }, text, tl);
        q(g, CTL_BATCH, OP_TRUNCATE, .ino = O(F2), .size = 10, .off = 16100);
        q(g, 0, OP_GETATTR, .ino = O(F2));
        q(g, 0, OP_READ, .ino = O(F2), .len = 32768);
    });
    SEED("chunks", {
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(F3), .idx = 1, .off = 10 }, big, 300);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(F3) }, text, tl);
        q(g, 0, OP_READ, .ino = O(F3), .idx = 1, .len = 400);
        q(g, 0, OP_READ, .ino = O(F3), .idx = 3, .len = 400);
        q(g, 0, OP_SETATTR, .ino = O(F3), .mask = BFS_SET_SIZE, .attr.size = FZ_CHUNK + 100);
        q(g, 0, OP_READ, .ino = O(F3), .idx = 1, .len = 400);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f3"));
        q(g, 0, OP_READ, .ino = O(F3), .len = 10);
    });
    SEED("chunks-batch", {
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F3), .idx = 2 }, big, 2000);
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F3), .idx = 2, .off = 1000 }, text, tl);
        q(g, CTL_BATCH, OP_READ, .ino = O(F3), .idx = 2, .len = 3000);
        q(g, CTL_BATCH, OP_FSYNC, .ino = O(F3));
        q(g, CTL_BATCH | CTL_RESTART, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f3"));
    });
    SEED("two-migrations", {
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F1), .off = 16380 }, text, tl);
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F2), .off = 16000 }, big, 800);
        q(g, CTL_BATCH, OP_READ, .ino = O(F1), .len = 20);
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F1), .idx = 1 }, text, tl);
        q(g, 0, OP_READ, .ino = O(F2), .off = 15990, .len = 100);
    });
    SEED("migrate-unlink", {
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F2), .off = 16000 }, big, 800);
        q(g, CTL_BATCH, OP_FSYNC, .ino = O(F2));
        q(g, CTL_BATCH, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f2"));
        q(g, CTL_BATCH, OP_READ, .ino = O(F2), .len = 20);
    });
    SEED("many-chunks", {   /* more chunk files than the fd cache holds */
        for (unsigned i = 0; i < 7; i++)
            put(g, i & 1 ? CTL_BATCH : 0, OP_WRITE,
                (struct bfs_msg){ .ino = i < 4 ? O(F3) : O(F4), .idx = 1 + i, .off = 10 * i },
                text, tl);
        q(g, CTL_BATCH, OP_FSYNC, .ino = O(F3));
        q(g, 0, OP_FSYNC, .ino = O(F4), .flags = 1);
        q(g, 0, OP_READ, .ino = O(F3), .idx = 2, .off = 10, .len = 50);
        q(g, 0, OP_SETATTR, .ino = O(F3), .mask = BFS_SET_SIZE, .attr.size = 2 * FZ_CHUNK + 7);
        q(g, 0, OP_FSYNC, .ino = O(F3));
    });
    SEED("dataops", {   /* append, fallocate, seek, copy (fileops.c) */
        put(g, 0, OP_APPEND, (struct bfs_msg){ .ino = O(F1), .len = tl }, text, tl);
        q(g, 0, OP_APPEND, .ino = O(F4), .len = 3 * FZ_CHUNK);
        put(g, CTL_BATCH, OP_APPEND, (struct bfs_msg){ .ino = O(F2), .len = 1000 }, big, 1000);
        put(g, CTL_BATCH, OP_APPEND, (struct bfs_msg){ .ino = O(F2), .len = 1000 }, big, 1000);
        q(g, 0, OP_FALLOCATE, .ino = O(F1), .size = 30000, .mode = 0);
        q(g, 0, OP_FALLOCATE, .ino = O(F1), .size = 30000, .flags = BFS_FALLOC_META);
        q(g, 0, OP_FALLOCATE, .ino = O(F3), .idx = 1, .off = 100, .size = 5000, .mode = 3);
        q(g, 0, OP_FALLOCATE, .ino = O(F3), .off = FZ_CHUNK + 100, .size = 5000, .mode = 3,
          .flags = BFS_FALLOC_META);
        q(g, 0, OP_FALLOCATE, .ino = O(F4), .idx = 1, .size = 100, .mode = 0x10);
        q(g, 0, OP_FALLOCATE, .ino = O(F4), .idx = 1, .size = 100, .mode = 0x8);
        q(g, 0, OP_SEEK, .ino = O(F3), .size = 3 * FZ_CHUNK + 5, .flags = 3);
        q(g, 0, OP_SEEK, .ino = O(F3), .off = 7, .size = 3 * FZ_CHUNK + 5, .flags = 4);
        q(g, 0, OP_SEEK, .ino = O(F1), .size = 100, .flags = 4);
        q(g, 0, OP_COPY, .ino = O(F4), .idx = 0, .off = 5, .parent = O(F1), .len = 20);
        q(g, 0, OP_COPY, .ino = O(F3), .idx = 2, .off = 5, .parent = O(F3), .cookie = 1,
          .size = 90, .len = 2000);
        q(g, 0, OP_READ, .ino = O(F4), .len = 100);
    });
    SEED("write-unlink-race", {
        put(g, CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = O(F0), .idx = 5 }, text, tl);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f0"));
    });
    SEED("dirs", {
        q(g, 0, OP_CREATE, .parent = O(D0), NM("sub"), .mode = S_IFDIR | 0755, .uid = 7);
        q(g, 0, OP_CREATE, .parent = next, NM("deep"), .mode = S_IFREG | 0600);
        q(g, 0, OP_READDIR, .ino = O(D0), .len = 2);
        q(g, 0, OP_READDIR, .ino = O(D1), .len = 256);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("d0"), .flags = BFS_F_RMDIR);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("empty"), .flags = BFS_F_RMDIR);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f0"), .flags = BFS_F_RMDIR);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("d1"));
        q(g, 0, OP_HAS_ENTRIES, .ino = next);
    });
    SEED("readdir-pages", {
        q(g, 0, OP_READDIR, .ino = O(D1), .len = 1);
        q(g, 0, OP_READDIR, .ino = O(D1), .len = 7, .cookie = 1ull << 40);
        q(g, 0, OP_READDIR, .ino = O(D1), .len = 7, .cookie = (1ull << 56) - 2);
        q(g, 0, OP_READDIR, .ino = BFS_ROOT_INO, .len = 3);
        q(g, 0, OP_READDIR, .ino = O(F1), .len = 3);
        q(g, 0, OP_READDIR, .ino = O(D1));
    });
    SEED("links", {
        q(g, 0, OP_LINK, .ino = O(F2), .mode = S_IFREG, .parent = O(D0), NM("hl"));
        q(g, 0, OP_LINK, .ino = O(D2), .mode = S_IFDIR, .parent = O(D0), NM("hd"));
        q(g, 0, OP_LINK, .ino = REMOTE_INO(9), .mode = S_IFREG, .parent = O(D0), NM("hr"));
        q(g, 0, OP_NLINK, .ino = O(F2), .delta = 1);
        q(g, 0, OP_NLINK, .ino = O(F2), .delta = -1);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("h0"));
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f1"), .flags = BFS_F_KEEP);
        q(g, 0, OP_PURGE, .ino = O(F1));
        q(g, 0, OP_PURGE, .ino = O(ORPHAN));
        q(g, 0, OP_GETATTR, .ino = O(ORPHAN));
    });
    SEED("rename", {
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("f0"), .newparent = O(D0), NN("moved"));
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("f4"), .newparent = BFS_ROOT_INO, NN("f5"));
        q(g, 0, OP_RENAME, .parent = O(D0), NM("d2"), .newparent = BFS_ROOT_INO, NN("d2"));
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("l0"), .newparent = O(D0), NN("l2"),
          .flags = BFS_F_NOREPLACE);
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("d1"), .newparent = O(D1), NN("x"));
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("empty"), .newparent = BFS_ROOT_INO,
          NN("d0"));
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("h0"), .newparent = BFS_ROOT_INO, NN("f1"));
    });
    SEED("setattr", {
        q(g, 0, OP_SETATTR, .ino = O(F6), .mask = BFS_SET_MODE | BFS_SET_UID | BFS_SET_GID |
          BFS_SET_ATIME | BFS_SET_MTIME | BFS_SET_CTIME, .attr = { .mode = 0600, .uid = 5,
          .gid = 6, .atime_ns = 1, .mtime_ns = -1, .ctime_ns = 3 });
        q(g, 0, OP_SETATTR, .ino = O(F4), .mask = BFS_SET_SIZE, .attr.size = 105);
        q(g, 0, OP_READ, .ino = O(F4), .off = 90, .len = 100);
        q(g, 0, OP_SETATTR, .ino = O(F4), .mask = BFS_SET_SIZE_GROW, .attr.size = 3 * FZ_CHUNK);
        q(g, 0, OP_SETATTR, .ino = O(D0), .mask = BFS_SET_SIZE);
        q(g, 0, OP_SETATTR, .ino = O(L0), .mask = BFS_SET_SIZE);
        q(g, 0, OP_SETATTR, .ino = O(L1), .mask = BFS_SET_ATIME_NOW | BFS_SET_MTIME_NOW);
    });
    SEED("remote", {
        q(g, 0, OP_READ, .ino = REMOTE_INO(5), .idx = 2, .len = 100);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = REMOTE_INO(5), .idx = 1, .off = 5 }, text, tl);
        q(g, 0, OP_READ, .ino = REMOTE_INO(5), .idx = 1, .len = 100);
        q(g, 0, OP_TRUNCATE, .ino = REMOTE_INO(5), .size = FZ_CHUNK + 10, .off = 3 * FZ_CHUNK);
        q(g, 0, OP_FSYNC, .ino = REMOTE_INO(5));
        q(g, 0, OP_REMOVE, .ino = REMOTE_INO(5), .size = 2 * FZ_CHUNK);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("r0"));
        q(g, 0, OP_NLINK, .ino = REMOTE_INO(5), .delta = -1);
    });
    SEED("symlinks", {
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("sl"), .mode = S_IFLNK, TG("d0/g0"));
        q(g, 0, OP_READLINK, .ino = next);
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("s2"), .mode = S_IFLNK);
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("s3"), .mode = S_IFLNK, TG("a\0b"));
        q(g, 0, OP_CREATE, .parent = O(L0), NM("s4"), .mode = S_IFREG);
        q(g, 0, OP_WRITE, .ino = O(L0));
    });
    SEED("special-files", {
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("new"), .mode = S_IFBLK | 0660, .rdev = 0x801);
        q(g, 0, OP_GETATTR, .ino = next);
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("new2"), .mode = S_IFSOCK | 0755);
        q(g, 0, OP_CREATE, .parent = O(D0), NM("new"), .mode = 0170644);
        q(g, 0, OP_READ, .ino = O(P0), .len = 10);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(P0) }, text, tl);
        q(g, 0, OP_SETATTR, .ino = O(P0), .mask = BFS_SET_SIZE, .attr.size = 10);
        q(g, 0, OP_SETATTR, .ino = O(C0), .mask = BFS_SET_MODE, .attr.mode = 0640);
        q(g, 0, OP_LINK, .ino = O(C0), .mode = S_IFCHR, .parent = BFS_ROOT_INO, NM("h0"));
        q(g, 0, OP_LINK, .ino = O(P0), .mode = S_IFIFO, .parent = O(D1), NM("p0"));
        q(g, 0, OP_RENAME, .parent = BFS_ROOT_INO, NM("p0"), .newparent = O(D0), NN("c0"));
        q(g, 0, OP_READDIR, .ino = O(D0), .len = 10);
        q(g, 0, OP_UNLINK, .parent = O(D1), NM("p0"));
    });
    SEED("sizes-past-off_t", {
        q(g, 0, OP_SETATTR, .ino = O(F3), .mask = BFS_SET_SIZE, .attr.size = 1ull << 63);
        q(g, 0, OP_SETATTR, .ino = O(F4), .mask = BFS_SET_SIZE_GROW, .attr.size = UINT64_MAX);
        q(g, 0, OP_SETATTR, .ino = O(F4), .mask = BFS_SET_SIZE_GROW, .attr.size = 100, .off = 200);
        q(g, 0, OP_SETATTR, .ino = O(F4), .mask = BFS_SET_SIZE_GROW, .attr.size = 5 * FZ_CHUNK,
          .off = 4 * FZ_CHUNK);
        q(g, 0, OP_READ, .ino = O(F3), .idx = UINT64_MAX / 2, .len = 1);
        put(g, 0, OP_WRITE, (struct bfs_msg){ .ino = O(F3), .idx = UINT64_MAX / 2 }, text, tl);
        q(g, 0, OP_TRUNCATE, .ino = REMOTE_INO(5), .size = 0, .off = UINT64_MAX);
        q(g, 0, OP_REMOVE, .ino = REMOTE_INO(5), .size = UINT64_MAX);
        q(g, 0, OP_GETATTR, .ino = O(F4));
    });
    SEED("bad-then-good", {
        put_raw(g, 0, OP_LOOKUP, "\1\0\0\0\0\0\0", 7, NULL, 0);   /* args that do not decode */
        put_raw(g, 0, OP_MAX + 3, NULL, 0, NULL, 0);
        q(g, 0, OP_GETATTR, .ino = O(F1));
        q(g, 0, OP_NLINK, .ino = O(F2), .delta = 2);
        q(g, 0, OP_READ, .ino = O(F1), .off = FZ_CHUNK, .len = 1);
        q(g, 0, OP_READ, .ino = O(F1), .len = BFS_MAX_IO + 1);
        q(g, 0, OP_READ, .ino = O(F2), .len = FZ_CHUNK);
        q(g, 0, OP_READ, .ino = O(D0), .len = 1);
    });
    SEED("root-nlink", {
        q(g, 0, OP_NLINK, .ino = BFS_ROOT_INO, .delta = -1);
        q(g, 0, OP_GETATTR, .ino = BFS_ROOT_INO);
        q(g, 0, OP_CREATE, .parent = BFS_ROOT_INO, NM("x"), .mode = S_IFREG);
        q(g, 0, OP_LOOKUP, .parent = BFS_ROOT_INO, NM("d0"));
    });
    SEED("locks", {   /* owners 1..3 of the one client; [off, size] inclusive */
        q(g, 0, OP_LOCK, .ino = O(F1), .cookie = 1, .off = 0, .size = BFS_LOCK_EOF,
          .mode = BFS_LOCK_WR);
        q(g, 0, OP_LOCK, .ino = O(F1), .cookie = 1, .off = 10, .size = 19, .mode = BFS_LOCK_UN);
        q(g, 0, OP_LOCK, .ino = O(F1), .cookie = 2, .off = 12, .size = 13, .mode = BFS_LOCK_RD,
          .flags = BFS_LOCK_TEST);
        q(g, 0, OP_LOCK, .ino = O(F1), .cookie = 2, .off = 5, .size = 15, .mode = BFS_LOCK_RD);
        q(g, CTL_BATCH, OP_LOCK, .ino = O(F1), .cookie = 2, .off = 5, .size = 15,
          .mode = BFS_LOCK_RD, .flags = BFS_LOCK_WAIT, .intent = 7);
        q(g, CTL_BATCH, OP_LOCK, .ino = O(F1), .cookie = 3, .off = 30, .size = 30,
          .mode = BFS_LOCK_WR, .flags = BFS_LOCK_WAIT, .intent = 8);
        q(g, 0, OP_LOCK_CANCEL, .ino = O(F1), .intent = 8);
        q(g, 0, OP_LOCK_CANCEL, .ino = O(F1), .intent = 9);
        q(g, 0, OP_LOCK, .ino = O(F1), .cookie = 3, .off = 0, .size = 0, .mode = BFS_LOCK_WR,
          .flags = BFS_LOCK_WAIT, .intent = 9);
        q(g, 0, OP_LOCK, .ino = O(F1), .cookie = 1, .off = 0, .size = BFS_LOCK_EOF,
          .mode = BFS_LOCK_UN);
        q(g, 0, OP_LOCK, .ino = O(D0), .cookie = 4, .off = 0, .size = BFS_LOCK_EOF,
          .mode = BFS_LOCK_WR, .flags = BFS_LOCK_FLOCK);
        q(g, CTL_BATCH, OP_LOCK, .ino = O(D0), .cookie = 5, .off = 0, .size = BFS_LOCK_EOF,
          .mode = BFS_LOCK_RD, .flags = BFS_LOCK_FLOCK | BFS_LOCK_WAIT, .intent = 10);
        q(g, CTL_RESTART, OP_LOCK, .ino = O(F2), .cookie = 6, .off = 1, .size = 0,
          .mode = BFS_LOCK_RD);
        q(g, 0, OP_LOCK, .ino = REMOTE_INO(5), .cookie = 6, .mode = BFS_LOCK_RD);
    });
    SEED("substitute", {
        q(g, CTL_INO, OP_GETATTR, .ino = 6);
        q(g, CTL_INO | CTL_DIR | CTL_NAME, OP_LINK, .ino = 7, .mode = S_IFREG, .parent = 2, NM("\x17"));
        q(g, CTL_DIR | CTL_NAME, OP_RENAME, .parent = 0, NM("\x01"), .newparent = 3, NN("\x18"));
        put(g, CTL_INO | CTL_BATCH, OP_WRITE, (struct bfs_msg){ .ino = 8, .off = 16383 }, text, tl);
        q(g, CTL_INO | CTL_BATCH, OP_READ, .ino = 8, .len = 20000);
        q(g, CTL_DIR | CTL_NAME, OP_UNLINK, .parent = 0, NM("\x08"));
        q(g, CTL_INO, OP_READDIR, .ino = 2, .len = 10);
    });
    /* an ACL (owner rwx, user 65534 r, group r, mask r, other -), as access and default ACL,
     * and a CREATE's list of inherited attributes */
    static const uint8_t acl[4 + 5 * 8] = {
        2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 2, 0, 4, 0, 0xfe, 0xff, 0, 0,
        4, 0, 4, 0, 255, 255, 255, 255, 0x10, 0, 4, 0, 255, 255, 255, 255,
        0x20, 0, 0, 0, 255, 255, 255, 255 };
    static uint8_t list[128];
    size_t ll = bfs_xattr_rec_put(list, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), acl, sizeof acl);
    ll += bfs_xattr_rec_put(list + ll, "user.i", 6, "v", 1);
    SEED("xattrs", {
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(F1), NM("user.a") }, text, tl);
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(F1), NM("user.a"), .flags = 1 }, text, 3);
        q(g, 0, OP_GETXATTR, .ino = O(F1), NM("user.a"), .len = 100);
        q(g, 0, OP_GETXATTR, .ino = O(F1), NM("user.a"), .len = 2);
        q(g, 0, OP_GETXATTR, .ino = O(F1), NM("user.a"));
        q(g, 0, OP_LISTXATTR, .ino = O(F1), .len = 4096);
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(F1), NM("system.posix_acl_access") },
            acl, sizeof acl);
        q(g, 0, OP_SETATTR, .ino = O(F1), .mask = BFS_SET_MODE, .attr.mode = 0751);
        q(g, 0, OP_GETXATTR, .ino = O(F1), NM("system.posix_acl_access"), .len = 100);
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(D0), NM("system.posix_acl_default") },
            acl, sizeof acl);
        q(g, 0, OP_CREATE, .parent = O(D0), NM("inh"), .mode = S_IFDIR | 0777, .mask = 022);
        q(g, 0, OP_LISTXATTR, .ino = next, .len = 4096);
        put(g, 0, OP_CREATE, (struct bfs_msg){ .parent = BFS_ROOT_INO, NM("cl"), .mode = S_IFREG | 0640 },
            list, (uint32_t)ll);
        q(g, 0, OP_REMOVEXATTR, .ino = O(F1), NM("user.a"));
        q(g, 0, OP_REMOVEXATTR, .ino = O(F1), NM("user.a"));
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(L0), NM("user.a") }, text, 1);
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(F2), NM("bad.a") }, text, 1);
        put(g, 0, OP_SETXATTR, (struct bfs_msg){ .ino = O(F2), NM("trusted.t") }, NULL, 0);
        q(g, 0, OP_UNLINK, .parent = BFS_ROOT_INO, NM("f1"));
        q(g, 0, OP_GETXATTR, .ino = O(F1), NM("system.posix_acl_access"), .len = 100);
    });
#undef SEED
    free(g);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void at_exit(void)
{
    chunkstore_close(G.s.cs);
    free(G.tmpl);
    if (nftw(G.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "fuzz_handlers: cannot remove %s: %s\n", G.dir, strerror(errno));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* Quiet unless asked: the handlers log every refused request. */
    bfs_log_level = LOG_ERROR - 1;
    if (getenv("BENCHFS_LOG"))
        log_init("fuzz_handlers");
    G.strict = getenv("FUZZ_HANDLERS_STRICT") != NULL;
    memset(long_name, 'a', sizeof long_name);
    memset(long_target, 't', sizeof long_target);
    /* tmpfs when there is one: every input syncs the store on close. */
    const char *base = getenv("FUZZ_HANDLERS_TMP");
    if (!base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if ((size_t)snprintf(G.dir, sizeof G.dir, "%s/fuzz_handlers.XXXXXX", base) >= sizeof G.dir ||
        !mkdtemp(G.dir))
        fail("setup: mkdtemp %s: %s", G.dir, strerror(errno));
    snprintf(G.meta_path, sizeof G.meta_path, "%s/meta.lmdb", G.dir);
    must(chunkstore_open(G.dir, &cs_opts, &G.s.cs), "chunkstore_open");
    if (atexit(at_exit) != 0)
        fail("setup: atexit");
    make_template();
    const char *gen = getenv("FUZZ_HANDLERS_GEN");
    if (gen) {
        generate(gen, G.next_ino);
        exit(0);
    }
    return 0;
}
