/* meta_fixture.h - a metadata store in a fresh temp dir, for the unit tests of
 * server/meta*.c and server/xattr_store.c. One store at a time per program. */
#ifndef BENCHFS_META_FIXTURE_H
#define BENCHFS_META_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../server/meta.h"

#define CHUNK (4u << 20)

static char tdir[64];   /* the current store's directory */

/* Opens a store for node in a new /tmp/test_meta.XXXXXX; NULL on failure. */
static struct meta_store *setup(uint32_t node)
{
    struct meta_store *m = NULL;
    strcpy(tdir, "/tmp/test_meta.XXXXXX");
    if (!mkdtemp(tdir))
        return NULL;
    if (meta_open(tdir, node, CHUNK, &m) != 0)
        return NULL;
    return m;
}

/* Closes m and removes its directory. */
static void teardown(struct meta_store *m)
{
    char p[128];
    meta_close(m);
    snprintf(p, sizeof p, "%s/meta.lmdb", tdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/meta.lmdb-lock", tdir);
    unlink(p);
    rmdir(tdir);
}

#endif
