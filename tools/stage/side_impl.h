/* side_impl.h - the two implementations behind side.h: sl_* (local, side_local.c)
 * and sb_* (BenchFS, side_bfs.c); side.c picks one per call. Same contracts as side.h. */
#ifndef BENCHFS_STAGE_SIDE_IMPL_H
#define BENCHFS_STAGE_SIDE_IMPL_H

#include "side.h"

#define SIDE_DECL(p) \
    int p##_stat(struct side *s, const struct shandle *h, struct sattr *out); \
    int p##_lookup(struct side *s, const struct shandle *dir, const char *name, struct shandle *out, \
                   struct sattr *a); \
    int p##_list(struct side *s, const struct shandle *dir, side_list_fn fn, void *arg); \
    int p##_mkdir(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a, \
                  struct shandle *out); \
    int p##_create(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a, \
                   struct shandle *out, struct sfile *f); \
    int p##_symlink(struct side *s, const struct shandle *dir, const char *name, const char *target, \
                    const struct sattr *a, struct shandle *out); \
    int p##_mknod(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a, \
                  struct shandle *out); \
    int p##_readlink(struct side *s, const struct shandle *h, char *buf, size_t size); \
    int p##_link(struct side *s, const struct shandle *h, const struct shandle *dir, const char *name); \
    int p##_unlink(struct side *s, const struct shandle *dir, const char *name, int is_dir); \
    int p##_setattr(struct side *s, const struct shandle *h, struct sfile *f, const struct sattr *a, \
                    unsigned what, uint32_t type); \
    int p##_open(struct side *s, const struct shandle *h, int write, struct sfile *f); \
    void p##_close(struct side *s, struct sfile *f); \
    ssize_t p##_pread(struct side *s, struct sfile *f, void *buf, size_t len, uint64_t off); \
    ssize_t p##_pwrite(struct side *s, struct sfile *f, const void *buf, size_t len, uint64_t off); \
    int p##_next_data(struct side *s, struct sfile *f, uint64_t off, uint64_t size, uint64_t *start, \
                      uint64_t *end);

SIDE_DECL(sl)
SIDE_DECL(sb)

#endif
