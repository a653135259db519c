/* where.h - which BenchFS mount a path is under, and so which registry and
 * which path inside BenchFS it names. A mount made by benchfs-fuse has type
 * fuse.benchfs and source "benchfs:REGISTRY" (benchfs-fuse sets fsname). */
#ifndef BENCHFS_STAGE_WHERE_H
#define BENCHFS_STAGE_WHERE_H

#include <stddef.h>

#include "../../common/mountinfo.h"   /* struct where, where_parse */

/* Canonical absolute form of path, which need not exist yet: the deepest
 * existing ancestor through realpath, the rest appended (-EINVAL for "." or
 * ".." in that rest). */
int where_canonical(const char *path, char *out, size_t size);

/* where_canonical + where_parse on /proc/self/mountinfo. */
int where_find(const char *path, struct where *w);

#endif
