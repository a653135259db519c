/* client_xattr.c - extended attributes in the client library (client.h): one
 * request to the inode's owner each. */
#include "client.h"
#include "client_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "byteorder.h"
#include "log.h"
#include "placement.h"
#include "registry.h"
#include "rpc.h"
#include "xattr.h"

static int prep_xattr(struct bfs_client *c, struct rpc_call *call, uint32_t op, uint64_t ino,
                      const char *name)
{
    bfs_call_prep(call, place_inode(ino, c->nodes), op);
    call->args.ino = ino;
    if (!name)
        return 0;
    size_t len = strnlen(name, BFS_XATTR_NAME_MAX + 1);
    if (len == 0 || len > BFS_XATTR_NAME_MAX)
        return -ERANGE;   /* as Linux says of a name it cannot take */
    call->args.name = name;
    call->args.name_len = (uint32_t)len;
    return 0;
}

ssize_t bfs_getxattr(struct bfs_client *c, uint64_t ino, const char *name, void *buf, size_t size)
{
    struct rpc_call call;
    int rc = prep_xattr(c, &call, OP_GETXATTR, ino, name);
    if (rc < 0)
        return rc;
    size = size < BFS_XATTR_SIZE_MAX ? size : BFS_XATTR_SIZE_MAX;
    call.args.len = (uint32_t)size;
    call.rbuf = buf;
    call.rbuf_len = size;
    if ((rc = client_run1(c, &call)) < 0)
        return rc;
    if (size && call.rdata_len != call.reply.len)
        return -EPROTO;   /* a value that did not come whole */
    return (ssize_t)call.reply.len;
}

int bfs_setxattr(struct bfs_client *c, uint64_t ino, const char *name, const void *val, size_t len,
                 int flags, struct bfs_attr *out)
{
    struct rpc_call call;
    int rc = prep_xattr(c, &call, OP_SETXATTR, ino, name);
    if (rc < 0)
        return rc;
    if (len > BFS_XATTR_SIZE_MAX)
        return -E2BIG;
    call.args.flags = (uint32_t)flags;
    call.data = len ? val : NULL;
    call.data_len = len;
    if ((rc = client_run1(c, &call)) == 0 && out)
        *out = call.reply.attr;
    return rc;
}

ssize_t bfs_listxattr(struct bfs_client *c, uint64_t ino, char *buf, size_t size)
{
    struct rpc_call call;
    prep_xattr(c, &call, OP_LISTXATTR, ino, NULL);
    size = size < BFS_XATTR_LIST_MAX ? size : BFS_XATTR_LIST_MAX;
    call.args.len = (uint32_t)size;
    call.rbuf = buf;
    call.rbuf_len = size;
    int rc = client_run1(c, &call);
    if (rc < 0)
        return rc;
    if (size && call.rdata_len != call.reply.len)
        return -EPROTO;
    return (ssize_t)call.reply.len;
}

int bfs_removexattr(struct bfs_client *c, uint64_t ino, const char *name, struct bfs_attr *out)
{
    struct rpc_call call;
    int rc = prep_xattr(c, &call, OP_REMOVEXATTR, ino, name);
    if (rc < 0)
        return rc;
    if ((rc = client_run1(c, &call)) == 0 && out)
        *out = call.reply.attr;
    return rc;
}
