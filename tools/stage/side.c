/* side.c - side.h's calls, each sent to the local or the BenchFS implementation. */
#include "side_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void side_handle_free(struct shandle *h)
{
    free(h->path);
    h->path = NULL;
}

int side_handle_copy(const struct shandle *from, struct shandle *to)
{
    to->ino = from->ino;
    to->path = NULL;
    if (from->path && !(to->path = strdup(from->path)))
        return -ENOMEM;
    return 0;
}

#define PICK(fn, ...) (s->bfs ? sb_##fn(s, __VA_ARGS__) : sl_##fn(s, __VA_ARGS__))

int side_stat(struct side *s, const struct shandle *h, struct sattr *out) { return PICK(stat, h, out); }
int side_lookup(struct side *s, const struct shandle *dir, const char *name, struct shandle *out,
                struct sattr *a) { return PICK(lookup, dir, name, out, a); }
int side_list(struct side *s, const struct shandle *dir, side_list_fn fn, void *arg)
{ return PICK(list, dir, fn, arg); }
int side_mkdir(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
               struct shandle *out) { return PICK(mkdir, dir, name, a, out); }
int side_create(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
                struct shandle *out, struct sfile *f) { return PICK(create, dir, name, a, out, f); }
int side_symlink(struct side *s, const struct shandle *dir, const char *name, const char *target,
                 const struct sattr *a, struct shandle *out) { return PICK(symlink, dir, name, target, a, out); }
int side_mknod(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
               struct shandle *out) { return PICK(mknod, dir, name, a, out); }
int side_readlink(struct side *s, const struct shandle *h, char *buf, size_t size)
{ return PICK(readlink, h, buf, size); }
int side_link(struct side *s, const struct shandle *h, const struct shandle *dir, const char *name)
{ return PICK(link, h, dir, name); }
int side_unlink(struct side *s, const struct shandle *dir, const char *name, int is_dir)
{ return PICK(unlink, dir, name, is_dir); }
int side_setattr(struct side *s, const struct shandle *h, struct sfile *f, const struct sattr *a,
                 unsigned what, uint32_t type) { return PICK(setattr, h, f, a, what, type); }
int side_open(struct side *s, const struct shandle *h, int write, struct sfile *f)
{ return PICK(open, h, write, f); }
void side_close(struct side *s, struct sfile *f) { s->bfs ? sb_close(s, f) : sl_close(s, f); }
ssize_t side_pread(struct side *s, struct sfile *f, void *buf, size_t len, uint64_t off)
{ return PICK(pread, f, buf, len, off); }
ssize_t side_pwrite(struct side *s, struct sfile *f, const void *buf, size_t len, uint64_t off)
{ return PICK(pwrite, f, buf, len, off); }
int side_next_data(struct side *s, struct sfile *f, uint64_t off, uint64_t size, uint64_t *start,
                   uint64_t *end) { return PICK(next_data, f, off, size, start, end); }
