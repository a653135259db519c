/* load_rpc.c - benchfs-fsck online: every table of every server read with
 * OP_SCAN (see load.h and proto.h). The pages come from the network: each
 * record's lengths are checked against the page before use. */
#include "load.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/byteorder.h"
#include "../common/proto.h"
#include "../common/registry.h"
#include "../common/rpc.h"

#define PAGE      (1u << 20)    /* bulk bytes per OP_SCAN reply (BFS_MAX_DATA_LEN) */
#define CURSOR_MAX 512          /* longer than any key */

_Static_assert((int)FSCK_T_CHUNKS == (int)BFS_SCAN_CHUNKS && (int)FSCK_T_PARENTS == (int)BFS_SCAN_PARENTS &&
               (int)FSCK_T_XATTRS == (int)BFS_SCAN_XATTRS &&
               (int)FSCK_T_MAX == (int)BFS_SCAN_MAX, "fsck tables are OP_SCAN's");

struct fsck_conn {
    struct rpc_client *rpc;
    uint32_t nodes, chunk_size;
    uint8_t *page;
};

uint32_t fsck_rpc_nodes(const struct fsck_conn *c) { return c->nodes; }
uint32_t fsck_rpc_chunk_size(const struct fsck_conn *c) { return c->chunk_size; }

int fsck_rpc_open(const char *registry, double timeout_s, struct fsck_conn **out)
{
    struct registry_entry *e = NULL;
    uint8_t key[BFS_KEY_LEN];
    uint32_t n = 0;
    int rc;
    *out = NULL;
    struct fsck_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->page = malloc(PAGE))) {
        free(c);
        return -ENOMEM;
    }
    if ((rc = registry_wait(registry, timeout_s, &e, &n)) < 0 ||
        (rc = registry_key_load(registry, key)) < 0)
        goto fail;
    c->nodes = n;
    c->chunk_size = e[0].chunk_size;
    if ((rc = rpc_client_create(n, key, timeout_s, &c->rpc)) < 0)
        goto fail;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (e[i].chunk_size != c->chunk_size) {
            fprintf(stderr, "benchfs-fsck: node %" PRIu32 " has chunk size %" PRIu32 ", node 0 %"
                    PRIu32 "\n", i, e[i].chunk_size, c->chunk_size);
            rc = -EINVAL;
        } else if ((rc = rpc_client_connect(c->rpc, i, e[i].addr, e[i].addr_len)) < 0) {
            fprintf(stderr, "benchfs-fsck: node %" PRIu32 " (%s): cannot connect: %s\n", i,
                    registry, strerror(-rc));
        }
    }
    if (rc < 0)
        goto fail;
    registry_entries_free(e, n);
    *out = c;
    return 0;
fail:
    if (e)
        registry_entries_free(e, n);
    fsck_rpc_close(c);
    return rc;
}

void fsck_rpc_close(struct fsck_conn *c)
{
    if (!c)
        return;
    if (c->rpc)
        rpc_client_destroy(c->rpc);
    free(c->page);
    free(c);
}

/* Decodes one page of count records into db. */
static int take_page(struct fsck_db *db, uint32_t node, int table, const uint8_t *p, size_t len,
                     uint32_t count)
{
    size_t pos = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (len - pos < 6)
            return -EBADMSG;
        size_t kl = get_le16(p + pos), vl = get_le32(p + pos + 2);
        if (kl == 0 || kl > CURSOR_MAX || vl > len - pos - 6 || kl > len - pos - 6 - vl)
            return -EBADMSG;
        int rc = fsck_db_add(db, node, table, p + pos + 6, kl, p + pos + 6 + kl, vl);
        if (rc < 0)
            return rc;
        pos += 6 + kl + vl;
    }
    return pos == len ? 0 : -EBADMSG;
}

static int scan_table(struct fsck_conn *c, uint32_t node, int table, struct fsck_db *db)
{
    char cursor[CURSOR_MAX];
    uint32_t clen = 0;
    struct rpc_call *call = malloc(sizeof *call);
    if (!call)
        return -ENOMEM;
    int rc;
    for (;;) {
        memset(call, 0, sizeof *call);
        call->node = node;
        call->op = OP_SCAN;
        call->args.idx = (uint64_t)table;
        call->args.len = PAGE;
        call->args.target = cursor;
        call->args.target_len = clen;
        call->rbuf = c->page;
        call->rbuf_len = PAGE;
        rc = rpc_run(c->rpc, call, 1);
        if (rc == 0)
            rc = call->status;
        if (rc < 0) {
            fprintf(stderr, "benchfs-fsck: node %" PRIu32 ": scan of %s: %s%s\n", node,
                    fsck_table_name[table], strerror(-rc),
                    rc == -ENOSYS ? " (a server without OP_SCAN)" : "");
            break;
        }
        const struct bfs_msg *m = &call->reply;
        if ((rc = take_page(db, node, table, c->page, call->rdata_len, m->len)) < 0) {
            fprintf(stderr, "benchfs-fsck: node %" PRIu32 ": scan of %s: malformed page\n", node,
                    fsck_table_name[table]);
            break;
        }
        if (m->flags & 1)
            break;
        /* not the end: the page must have moved the cursor */
        if (m->len == 0 || m->target_len == 0 || m->target_len > CURSOR_MAX) {
            fprintf(stderr, "benchfs-fsck: node %" PRIu32 ": scan of %s: no progress\n", node,
                    fsck_table_name[table]);
            rc = -EPROTO;
            break;
        }
        memcpy(cursor, m->target, m->target_len);
        clen = m->target_len;
    }
    free(call);
    return rc;
}

int fsck_rpc_load(struct fsck_conn *c, struct fsck_db *db)
{
    db->online = 1;
    for (uint32_t n = 0; n < c->nodes; n++)
        for (int t = 0; t < FSCK_T_MAX; t++) {
            int rc = scan_table(c, n, t, db);
            if (rc < 0)
                return rc;
        }
    return 0;
}
