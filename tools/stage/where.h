/* where.h - which BenchFS mount a path is under, and so which registry and
 * which path inside BenchFS it names. A mount made by benchfs-fuse has type
 * fuse.benchfs and source "benchfs:REGISTRY" (benchfs-fuse sets fsname). */
#ifndef BENCHFS_STAGE_WHERE_H
#define BENCHFS_STAGE_WHERE_H

#include <stddef.h>

struct where {
    char mnt[4096];       /* mount point */
    char registry[4096];  /* registry directory of its servers */
    char inner[4096];     /* path inside BenchFS, "/" for the root */
};

/* Pure: finds the deepest fuse.benchfs mount in mountinfo text (the format of
 * /proc/self/mountinfo, octal escapes included) that holds abs_path (absolute,
 * canonical). 0, -ENOENT when none does, -EINVAL when the mount's source is not
 * "benchfs:DIR" (mounted with another fsname), -ENAMETOOLONG. */
int where_parse(const char *mountinfo, const char *abs_path, struct where *w);

/* Canonical absolute form of path, which need not exist yet: the deepest
 * existing ancestor through realpath, the rest appended (-EINVAL for "." or
 * ".." in that rest). */
int where_canonical(const char *path, char *out, size_t size);

/* where_canonical + where_parse on /proc/self/mountinfo. */
int where_find(const char *path, struct where *w);

#endif
