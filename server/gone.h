/* gone.h - the inodes whose chunks this server removed lately.
 *
 * A server that does not own an inode learns of its end only through REMOVE.
 * A WRITE to one of its chunks that arrives after the REMOVE (sent before the
 * file was freed, delivered late) would make a chunk file nobody removes; the
 * server refuses such a write (-ENOENT) while the inode is remembered here.
 * Inode numbers are never reused, so a false "gone" cannot happen; what this
 * forgets (after GONE_KEEP_S, or under more removals than it holds at once)
 * only lets a very late write leave a chunk, which benchfs-fsck reports.
 *
 * A fixed table (no allocation after gone_new), event-loop thread only.
 */
#ifndef BENCHFS_GONE_H
#define BENCHFS_GONE_H

#include <stdbool.h>
#include <stdint.h>

/* Longer than any call can be in flight (the RPC timeout, 30 s by default). */
#define GONE_KEEP_S 120

struct gone;

/* NULL when out of memory. */
struct gone *gone_new(void);
void gone_free(struct gone *g);
/* Remembers that ino's chunks were removed at now_s (a monotonic clock). */
void gone_note(struct gone *g, uint64_t ino, double now_s);
/* True when ino was noted within GONE_KEEP_S of now_s. */
bool gone_recent(const struct gone *g, uint64_t ino, double now_s);

#endif
