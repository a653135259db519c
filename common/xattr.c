/* xattr.c - extended attribute names and lists (see xattr.h). */
#include "xattr.h"

#include <errno.h>
#include <string.h>

#include "byteorder.h"

static int has_prefix(const char *name, size_t len, const char *prefix, size_t *plen)
{
    *plen = strlen(prefix);
    return len >= *plen && memcmp(name, prefix, *plen) == 0;
}

int bfs_xattr_ns(const char *name, size_t len)
{
    static const struct { const char *prefix; int ns; } spaces[] = {
        { "user.", BFS_XNS_USER }, { "trusted.", BFS_XNS_TRUSTED },
        { "security.", BFS_XNS_SECURITY },
    };
    size_t plen;
    if (len == 0 || len > BFS_XATTR_NAME_MAX)
        return -ERANGE;
    if (memchr(name, '\0', len))
        return -EINVAL;
    if (len == sizeof BFS_ACL_ACCESS - 1 && memcmp(name, BFS_ACL_ACCESS, len) == 0)
        return BFS_XNS_ACL_ACCESS;
    if (len == sizeof BFS_ACL_DEFAULT - 1 && memcmp(name, BFS_ACL_DEFAULT, len) == 0)
        return BFS_XNS_ACL_DEFAULT;
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
        if (has_prefix(name, len, spaces[i].prefix, &plen))
            return len == plen ? -EINVAL : spaces[i].ns;   /* "user." alone names nothing */
    return -EOPNOTSUPP;
}

size_t bfs_xattr_rec_put(uint8_t *out, const char *name, size_t nlen, const void *val, size_t vlen)
{
    put_le16(out, (uint16_t)nlen);
    put_le32(out + 2, (uint32_t)vlen);
    memcpy(out + BFS_XATTR_REC_HDR, name, nlen);
    if (vlen)
        memcpy(out + BFS_XATTR_REC_HDR + nlen, val, vlen);
    return BFS_XATTR_REC_HDR + nlen + vlen;
}

int bfs_xattr_rec_next(const void *buf, size_t len, size_t *pos, const char **name, size_t *nlen,
                       const void **val, size_t *vlen)
{
    const uint8_t *p = (const uint8_t *)buf + *pos;
    size_t left = len - *pos;
    if (left == 0)
        return 0;
    if (left < BFS_XATTR_REC_HDR)
        return -EBADMSG;
    size_t n = get_le16(p), v = get_le32(p + 2);
    if (n == 0 || n > BFS_XATTR_NAME_MAX || v > BFS_XATTR_SIZE_MAX ||
        left - BFS_XATTR_REC_HDR < n + v)
        return -EBADMSG;
    *name = (const char *)p + BFS_XATTR_REC_HDR;
    *nlen = n;
    *val = p + BFS_XATTR_REC_HDR + n;
    *vlen = v;
    *pos += BFS_XATTR_REC_HDR + n + v;
    return 1;
}
