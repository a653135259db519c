/* acl.c - POSIX ACL rules on the xattr form of an ACL (see acl.h); the same
 * rules as Linux's fs/posix_acl.c. */
#include "acl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "byteorder.h"

#define ACL_VERSION   2
#define ACL_HDR       4
#define ACL_ENTRY     8
enum { TAG_USER_OBJ = 0x01, TAG_USER = 0x02, TAG_GROUP_OBJ = 0x04, TAG_GROUP = 0x08,
       TAG_MASK = 0x10, TAG_OTHER = 0x20 };

static uint16_t tag_of(const uint8_t *e) { return get_le16(e); }
static uint16_t perm_of(const uint8_t *e) { return get_le16(e + 2); }
static void set_perm(uint8_t *e, unsigned perm) { put_le16(e + 2, (uint16_t)(perm & 7)); }

int bfs_acl_valid(const void *v, size_t len)
{
    const uint8_t *p = v;
    if (len < ACL_HDR + 3 * ACL_ENTRY || (len - ACL_HDR) % ACL_ENTRY ||
        get_le32(p) != ACL_VERSION)
        return -EINVAL;
    unsigned seen = 0, named = 0, last_tag = 0;
    uint32_t last_id = 0;
    for (size_t off = ACL_HDR; off < len; off += ACL_ENTRY) {
        const uint8_t *e = p + off;
        unsigned tag = tag_of(e);
        uint32_t id = get_le32(e + 4);
        if (perm_of(e) & ~7u || tag < last_tag)
            return -EINVAL;
        switch (tag) {
        case TAG_USER_OBJ:
        case TAG_GROUP_OBJ:
        case TAG_MASK:
        case TAG_OTHER:
            if (seen & tag)
                return -EINVAL;   /* one of each */
            break;
        case TAG_USER:
        case TAG_GROUP:
            if (tag == last_tag && id <= last_id)
                return -EINVAL;   /* sorted by id, no duplicates */
            named = 1;
            break;
        default:
            return -EINVAL;
        }
        seen |= tag;
        last_tag = tag;
        last_id = id;
    }
    unsigned need = TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER | (named ? TAG_MASK : 0);
    return (seen & need) == need ? 0 : -EINVAL;
}

int bfs_acl_to_mode(const void *v, size_t len, uint32_t *mode)
{
    const uint8_t *p = v;
    if (bfs_acl_valid(v, len))
        return -EINVAL;
    uint32_t m = 0;
    int more = 0;
    for (size_t off = ACL_HDR; off < len; off += ACL_ENTRY) {
        const uint8_t *e = p + off;
        unsigned perm = perm_of(e);
        switch (tag_of(e)) {
        case TAG_USER_OBJ: m |= perm << 6; break;
        case TAG_GROUP_OBJ: m |= perm << 3; break;
        case TAG_OTHER: m |= perm; break;
        case TAG_MASK: m = (m & ~(uint32_t)S_IRWXG) | perm << 3; more = 1; break;   /* after GROUP_OBJ */
        default: more = 1; break;
        }
    }
    *mode = (*mode & ~(uint32_t)0777) | m;
    return more;
}

int bfs_acl_chmod(void *v, size_t len, uint32_t mode)
{
    uint8_t *p = v, *group = NULL, *mask = NULL;
    if (bfs_acl_valid(v, len))
        return -EINVAL;
    for (size_t off = ACL_HDR; off < len; off += ACL_ENTRY) {
        uint8_t *e = p + off;
        switch (tag_of(e)) {
        case TAG_USER_OBJ: set_perm(e, mode >> 6); break;
        case TAG_GROUP_OBJ: group = e; break;
        case TAG_MASK: mask = e; break;
        case TAG_OTHER: set_perm(e, mode); break;
        default: break;
        }
    }
    set_perm(mask ? mask : group, mode >> 3);
    return 0;
}

int bfs_acl_inherit(const void *def, size_t len, uint32_t *mode, void *out)
{
    uint8_t *p = out, *group = NULL, *mask = NULL;
    uint32_t m = *mode;
    int more = 0;
    if (bfs_acl_valid(def, len))
        return -EINVAL;
    memcpy(out, def, len);
    for (size_t off = ACL_HDR; off < len; off += ACL_ENTRY) {
        uint8_t *e = p + off;
        unsigned perm = perm_of(e);
        switch (tag_of(e)) {
        case TAG_USER_OBJ:
            perm &= m >> 6;
            set_perm(e, perm);
            m &= (perm << 6) | ~(uint32_t)S_IRWXU;
            break;
        case TAG_GROUP_OBJ: group = e; break;
        case TAG_MASK: mask = e; more = 1; break;
        case TAG_OTHER:
            perm &= m;
            set_perm(e, perm);
            m &= perm | ~(uint32_t)S_IRWXO;
            break;
        default: more = 1; break;
        }
    }
    uint8_t *g = mask ? mask : group;   /* the mask stands for the group class */
    unsigned gperm = perm_of(g) & (m >> 3);
    set_perm(g, gperm);
    m &= (gperm << 3) | ~(uint32_t)S_IRWXG;
    *mode = m;
    return more;
}
