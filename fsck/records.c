/* records.c - fsck_db: raw store records decoded per server/meta*.c's layout (see
 * check.h). Every length is checked before a byte is read: the records come
 * from a store that may be damaged, or over the network. */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/byteorder.h"
#include "../server/meta.h"

/* the store's format constants (server/meta_records.c, meta_int.h, meta_inline.c) */
#define DENT_VAL      12
#define DKEY_HDR      16
#define INLINE_DATA   1
#define INLINE_CHUNKS 2
#define INLINE_LIMIT  (16u << 10)
#define XATTR_VALUE_MAX 65536   /* common/xattr.h */

const char *const fsck_table_name[FSCK_T_MAX] = {
    "info", "inodes", "dentries", "orphans", "inline",
    "fences", "intents", "applied", "parents", "chunks", "xattrs",
};

void fsck_db_init(struct fsck_db *db, uint32_t nodes, uint32_t chunk_size)
{
    memset(db, 0, sizeof *db);
    db->nodes = nodes;
    db->chunk_size = chunk_size;
}

void fsck_db_free(struct fsck_db *db)
{
    free(db->inodes);
    free(db->dents);
    free(db->orphans);
    free(db->inl);
    free(db->chunks);
    free(db->fences);
    free(db->intents);
    free(db->applied);
    free(db->parents);
    free(db->xattrs);
    free(db->bad);
    memset(db, 0, sizeof *db);
}

/* Appends one element of size sz to *arr (n, cap), doubling as needed. */
static int push(void **arr, size_t *n, size_t *cap, const void *elem, size_t sz)
{
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        void *p = realloc(*arr, ncap * sz);
        if (!p)
            return -ENOMEM;
        *arr = p;
        *cap = ncap;
    }
    memcpy((char *)*arr + *n * sz, elem, sz);
    ++*n;
    return 0;
}

#define PUSH(db, f, r) push((void **)&(db)->f, &(db)->n_##f, &(db)->cap_##f, (r), sizeof *(r))

int fsck_add_inode(struct fsck_db *db, const struct fsck_inode *r) { return PUSH(db, inodes, r); }
int fsck_add_dent(struct fsck_db *db, const struct fsck_dent *r) { return PUSH(db, dents, r); }
int fsck_add_orphan(struct fsck_db *db, const struct fsck_orphan *r) { return PUSH(db, orphans, r); }
int fsck_add_inline(struct fsck_db *db, const struct fsck_inline *r) { return PUSH(db, inl, r); }
int fsck_add_xattr(struct fsck_db *db, const struct fsck_xattr *r) { return PUSH(db, xattrs, r); }
int fsck_add_chunk(struct fsck_db *db, const struct fsck_chunk *r) { return PUSH(db, chunks, r); }
int fsck_add_fence(struct fsck_db *db, const struct fsck_fence *r) { return PUSH(db, fences, r); }
int fsck_add_intent(struct fsck_db *db, const struct fsck_intent *r) { return PUSH(db, intents, r); }
int fsck_add_applied(struct fsck_db *db, const struct fsck_applied *r) { return PUSH(db, applied, r); }
int fsck_add_parent(struct fsck_db *db, const struct fsck_parent *r) { return PUSH(db, parents, r); }

/* A record that does not decode: reported with its table and key's first bytes. */
static int corrupt(struct fsck_db *db, uint32_t node, int table, const uint8_t *k, size_t klen,
                   size_t vlen, const char *why)
{
    struct fsck_problem p = { .severity = FSCK_PROBLEM, .kind = "corrupt-record", .node = node };
    char hex[2 * 24 + 1] = "";
    for (size_t i = 0; i < klen && i < 24; i++)
        snprintf(hex + 2 * i, 3, "%02x", k[i]);
    if (klen >= 8 && table != FSCK_T_INFO && table != FSCK_T_APPLIED)
        p.ino = get_be64(k);
    snprintf(p.detail, sizeof p.detail, "node %" PRIu32 ": table %s: key %s%s (%zu bytes), "
             "value %zu bytes: %s", node, fsck_table_name[table], hex, klen > 24 ? "..." : "",
             klen, vlen, why);
    return PUSH(db, bad, &p);
}

int fsck_db_add_bad(struct fsck_db *db, uint32_t node, const char *kind, const char *detail)
{
    struct fsck_problem p = { .severity = FSCK_PROBLEM, .kind = kind, .node = node };
    snprintf(p.detail, sizeof p.detail, "%s", detail);
    return PUSH(db, bad, &p);
}

static int add_info(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                    const uint8_t *v, size_t vlen)
{
    if (klen == 8 && memcmp(k, "next_ino", 8) == 0) {
        if (vlen != 8)
            return corrupt(db, node, FSCK_T_INFO, k, klen, vlen, "next_ino is not 8 bytes");
        db->next_ino[node] = get_le64(v);
    }
    return 0;   /* node_id, chunk_size, format: the loader checks those */
}

static int add_inode(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                     const uint8_t *v, size_t vlen)
{
    if (klen != 8)
        return corrupt(db, node, FSCK_T_INODES, k, klen, vlen, "key is not 8 bytes");
    /* The store's own decoder: one definition of the record. */
    struct bfs_attr a;
    if (meta_decode_inode(get_be64(k), v, vlen, &a) < 0)
        return corrupt(db, node, FSCK_T_INODES, k, klen, vlen, "bad inode record");
    struct fsck_inode r = { .node = node, .ino = a.ino, .mode = a.mode, .nlink = a.nlink,
                            .size = a.size };
    if (r.ino == 0)
        return corrupt(db, node, FSCK_T_INODES, k, klen, vlen, "inode number 0");
    return fsck_add_inode(db, &r);
}

static int add_dent(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                    const uint8_t *v, size_t vlen)
{
    unsigned char want[DKEY_HDR + BFS_NAME_MAX];
    struct fsck_dent r = { .node = node };
    if (klen <= DKEY_HDR || klen > DKEY_HDR + BFS_NAME_MAX)
        return corrupt(db, node, FSCK_T_DENTRIES, k, klen, vlen, "bad key length");
    r.parent = get_be64(k);
    r.len = (uint32_t)(klen - DKEY_HDR);
    memcpy(r.name, k + DKEY_HDR, r.len);
    r.name[r.len] = '\0';
    if (memchr(r.name, '/', r.len) || memchr(r.name, '\0', r.len) ||
        (r.len == 1 && r.name[0] == '.') || (r.len == 2 && r.name[0] == '.' && r.name[1] == '.'))
        return corrupt(db, node, FSCK_T_DENTRIES, k, klen, vlen, "bad name");
    if (meta_dentry_key(r.parent, r.name, r.len, want) != klen || memcmp(want, k, klen) != 0)
        return corrupt(db, node, FSCK_T_DENTRIES, k, klen, vlen, "name hash does not match");
    if (vlen != DENT_VAL)
        return corrupt(db, node, FSCK_T_DENTRIES, k, klen, vlen, "value is not 12 bytes");
    r.ino = get_le64(v);
    r.type = get_le32(v + 8);
    if (r.ino == 0 || !bfs_valid_type(r.type))
        return corrupt(db, node, FSCK_T_DENTRIES, k, klen, vlen, "bad inode number or type");
    return fsck_add_dent(db, &r);
}

static int add_orphan(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                      size_t vlen)
{
    if (klen != 8)
        return corrupt(db, node, FSCK_T_ORPHANS, k, klen, vlen, "key is not 8 bytes");
    return fsck_add_orphan(db, &(struct fsck_orphan){ node, get_be64(k) });
}

static int add_inline(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                      const uint8_t *v, size_t vlen)
{
    if (klen != 8)
        return corrupt(db, node, FSCK_T_INLINE, k, klen, vlen, "key is not 8 bytes");
    if (vlen == 1 && v[0] == INLINE_CHUNKS)
        return fsck_add_inline(db, &(struct fsck_inline){ node, get_be64(k), 1 });
    if (vlen == 0 || v[0] != INLINE_DATA || vlen - 1 > INLINE_LIMIT)
        return corrupt(db, node, FSCK_T_INLINE, k, klen, vlen, "bad inline record");
    return fsck_add_inline(db, &(struct fsck_inline){ node, get_be64(k), 0 });
}

static int add_chunk(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                     size_t vlen)
{
    if (klen != 16)
        return corrupt(db, node, FSCK_T_CHUNKS, k, klen, vlen, "key is not 16 bytes");
    return fsck_add_chunk(db, &(struct fsck_chunk){ node, get_be64(k), get_be64(k + 8) });
}

static int add_fence(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                     const uint8_t *v, size_t vlen)
{
    if (klen != 8 || vlen != 13 || (v[0] != 1 && v[0] != 2))
        return corrupt(db, node, FSCK_T_FENCES, k, klen, vlen, "bad fence record");
    struct fsck_fence r = { .node = node, .dir = get_be64(k), .state = v[0],
                            .coord = get_le32(v + 1), .intent = get_le64(v + 5) };
    return fsck_add_fence(db, &r);
}

static int add_intent(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                      size_t vlen)
{
    if (klen != 8)
        return corrupt(db, node, FSCK_T_INTENTS, k, klen, vlen, "key is not 8 bytes");
    return fsck_add_intent(db, &(struct fsck_intent){ node, get_be64(k) });
}

static int add_applied(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                       size_t vlen)
{
    if (klen != 9)
        return corrupt(db, node, FSCK_T_APPLIED, k, klen, vlen, "key is not 9 bytes");
    /* An intent id names its coordinator in its top bits, as an inode number its owner. */
    struct fsck_applied r = { .node = node, .coord = bfs_ino_node(get_be64(k)),
                              .intent = get_be64(k), .step = k[8] };
    return fsck_add_applied(db, &r);
}

static int add_parent(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen,
                      const uint8_t *v, size_t vlen)
{
    if (klen != 8 || vlen != 8)
        return corrupt(db, node, FSCK_T_PARENTS, k, klen, vlen, "bad parents record");
    return fsck_add_parent(db, &(struct fsck_parent){ node, get_be64(k), get_le64(v) });
}

/* An extended attribute: ino | name (1..255 bytes), a value of at most 64 KiB. */
static int add_xattr(struct fsck_db *db, uint32_t node, const uint8_t *k, size_t klen, size_t vlen)
{
    if (klen <= 8 || klen > 8 + BFS_NAME_MAX || vlen > XATTR_VALUE_MAX)
        return corrupt(db, node, FSCK_T_XATTRS, k, klen, vlen, "bad xattr record");
    struct fsck_xattr r = { .node = node, .ino = get_be64(k), .len = (uint32_t)(klen - 8) };
    memcpy(r.name, k + 8, klen - 8);
    return fsck_add_xattr(db, &r);
}

int fsck_db_add(struct fsck_db *db, uint32_t node, int table, const void *key, size_t klen,
                const void *val, size_t vlen)
{
    const uint8_t *k = key, *v = val;
    if (node >= db->nodes || table < 0 || table >= FSCK_T_MAX)
        return -EINVAL;
    db->has_table[node][table] = 1;
    switch (table) {
    case FSCK_T_INFO: return add_info(db, node, k, klen, v, vlen);
    case FSCK_T_INODES: return add_inode(db, node, k, klen, v, vlen);
    case FSCK_T_DENTRIES: return add_dent(db, node, k, klen, v, vlen);
    case FSCK_T_ORPHANS: return add_orphan(db, node, k, klen, vlen);
    case FSCK_T_INLINE: return add_inline(db, node, k, klen, v, vlen);
    case FSCK_T_FENCES: return add_fence(db, node, k, klen, v, vlen);
    case FSCK_T_INTENTS: return add_intent(db, node, k, klen, vlen);
    case FSCK_T_APPLIED: return add_applied(db, node, k, klen, vlen);
    case FSCK_T_PARENTS: return add_parent(db, node, k, klen, v, vlen);
    case FSCK_T_XATTRS: return add_xattr(db, node, k, klen, vlen);
    default: return add_chunk(db, node, k, klen, vlen);
    }
}
