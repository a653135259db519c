/* dirstash.h - a directory's attributes as this mount's own change left them,
 * for the GETATTR the kernel sends next.
 *
 * After every create, mknod, mkdir, symlink, link, unlink, rmdir and rename the
 * kernel drops what it cached of the parent's attributes (fuse_dir_changed),
 * and with default_permissions the next path walk through the parent asks for
 * them again: one GETATTR round trip to the parent's server per entry made or
 * removed (a create through the mount was LOOKUP, CREATE, GETATTR). The server
 * that changed the parent already knows its new attributes and says them in its
 * reply (proto.h, pattr); the daemon keeps them here and answers that GETATTR
 * itself, once.
 *
 * What a kept copy may miss is a change made after it by someone else: the
 * same the kernel's own attribute cache may miss, so a copy is kept for at most
 * the mount's attr_timeout (0: nothing is kept, as nothing is cached). A change
 * of the directory by this mount that brings no attributes (a coordinated
 * mkdir, setattr, an xattr) forgets it, and so does one that races another: a
 * change takes a ticket (dirstash_begin) before it is sent, and its attributes
 * are kept only if no such change of the directory began or ended meanwhile.
 * A rename or an rmdir forgets every directory (dirstash_forget_all): it may
 * move or remove one the daemon cannot name.
 *
 * A change whose parent lives on another server than its entry brings the
 * parent's new times only (client.h): they go on top of the copy the daemon has
 * of the directory, kept from an earlier change or seen in a GETATTR's answer
 * (dirstash_seen), if that copy is younger than attr_timeout. Its other
 * attributes are then as old as that copy, which is what the kernel would have
 * kept had the change not made it ask; the copy does not get younger by it, so
 * one GETATTR per attr_timeout still goes to the directory's server.
 *
 * A fixed number of slots indexed by inode (a collision forgets the other
 * directory: it costs one GETATTR). Thread-safe.
 */
#ifndef BENCHFS_FUSE_DIRSTASH_H
#define BENCHFS_FUSE_DIRSTASH_H

#include <stdbool.h>
#include <stdint.h>
#include "../common/types.h"

struct dirstash;

/* slots: a power of two (a copy lives only until the next GETATTR: a few
 * hundred are plenty); ttl_s: how long a copy may answer (<= 0: never kept).
 * NULL when out of memory or slots is not a power of two. */
struct dirstash *dirstash_new(unsigned slots, double ttl_s);
void dirstash_free(struct dirstash *ds);

/* Before a change of directory ino is sent: the ticket for dirstash_end. */
uint64_t dirstash_begin(struct dirstash *ds, uint64_t ino);
/* After it: keeps a (the directory's attributes the change left, a->ino == ino)
 * if the ticket is still current; forgets the directory otherwise, or when a is
 * NULL or a->ino is not ino (not known). An a with ino 0 and ctime_ns set gives
 * the change's times alone (client.h: the entry's server sets them later): they
 * are kept on top of the copy last kept or seen, if that is still valid and no
 * other change of the directory ran meanwhile, without making the copy younger. */
void dirstash_end(struct dirstash *ds, uint64_t ino, uint64_t ticket, const struct bfs_attr *a);
/* Before a GETATTR of ino is sent: what dirstash_seen checks its answer against. */
struct dirstash_look {
    uint64_t ino;       /* of the slot ino would use, then */
    uint32_t epoch, gen;
};
struct dirstash_look dirstash_look(struct dirstash *ds, uint64_t ino);
/* Directory a->ino as a server just told it (the GETATTR that took look): the
 * copy times-only changes build on, valid for the ttl from now. Not kept for a
 * GETATTR. Taken only if no change of the directory by this mount ran while it
 * was asked (its answer might predate that change). */
void dirstash_seen(struct dirstash *ds, struct dirstash_look look, const struct bfs_attr *a);
/* A change of ino whose result is not known here: whatever is kept goes. */
void dirstash_forget(struct dirstash *ds, uint64_t ino);
/* Every directory (a rename or rmdir may change an inode the daemon cannot name). */
void dirstash_forget_all(struct dirstash *ds);
/* true and *out once per kept copy that is still valid; it is gone then. */
bool dirstash_take(struct dirstash *ds, uint64_t ino, struct bfs_attr *out);

#endif
