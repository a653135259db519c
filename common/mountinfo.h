/* mountinfo.h - the pure parser of the kernel's mount table: which BenchFS
 * mount a path is under, and so which registry and which path inside BenchFS
 * it names. A mount made by benchfs-fuse has type fuse.benchfs and source
 * "benchfs:REGISTRY" (benchfs-fuse sets fsname). Used by benchfs-stage
 * (tools/stage/where.c) and the preload library (preload/mounts.c). */
#ifndef BENCHFS_MOUNTINFO_H
#define BENCHFS_MOUNTINFO_H

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

/* Pure: every fuse.benchfs mount with a "benchfs:DIR" source in mountinfo
 * text, in the table's order (a later one may be mounted over an earlier one),
 * at most max into out (inner "/"). Returns how many. */
int where_list(const char *mountinfo, struct where *out, int max);

#endif
