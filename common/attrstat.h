/* attrstat.h - what the mount and libbenchfs both make of an inode's attributes:
 * its struct stat, and the setuid/setgid bits a write by a non-root caller
 * clears. Pure, inline, any thread. */
#ifndef BENCHFS_ATTRSTAT_H
#define BENCHFS_ATTRSTAT_H

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "types.h"

/* Nanoseconds since the epoch as a timespec; floor division, so times before
 * 1970 keep tv_nsec in [0, 1e9). */
static inline struct timespec bfs_ns_to_timespec(int64_t ns)
{
    int64_t sec = ns / 1000000000, rem = ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        sec--;
    }
    return (struct timespec){ .tv_sec = (time_t)sec, .tv_nsec = (long)rem };
}

/* st from a; st_dev is left 0 (the caller's). st_blocks is what the owner
 * counts as stored (server/meta.h): a sparse file shows its holes to du. */
static inline void bfs_attr_to_stat(const struct bfs_attr *a, blksize_t blksize, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = a->ino;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_size = (off_t)a->size;
    st->st_rdev = (dev_t)a->rdev;
    st->st_blksize = blksize;
    st->st_blocks = (blkcnt_t)a->blocks;
    st->st_atim = bfs_ns_to_timespec(a->atime_ns);
    st->st_mtim = bfs_ns_to_timespec(a->mtime_ns);
    st->st_ctim = bfs_ns_to_timespec(a->ctime_ns);
}

/* The bits a write (or truncate) by uid clears in a file of mode, as the
 * kernel's file_remove_privs: setuid, and setgid when group-executable; none
 * for root or a non-regular file. */
static inline uint32_t bfs_privs_to_kill(uint32_t uid, uint32_t mode)
{
    uint32_t kill = 0;
    if (uid == 0 || !S_ISREG(mode))
        return 0;
    if (mode & S_ISUID)
        kill |= S_ISUID;
    if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
        kill |= S_ISGID;
    return kill;
}

#endif
