/* placement.h - which server holds what (DESIGN.md, "Namespace and metadata").
 *
 *   the entry (parent, name)  -> hash(parent, name) % nodes
 *   the inode record of ino   -> the node id in ino's high bits (it allocated ino)
 *   chunk (ino, 0)            -> the inode's node, so a small file is one server's business
 *   chunk (ino, idx > 0)      -> hash(ino, idx) % nodes
 * Pure functions; the same on every client and server.
 */
#ifndef BENCHFS_PLACEMENT_H
#define BENCHFS_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>
#include "types.h"

/* Mixes the bits of x (the splitmix64 finaliser): every output bit depends on
 * every input bit, so sequential numbers spread evenly. */
uint64_t place_mix64(uint64_t x);

/* 64-bit hash of bytes (FNV-1a folded through place_mix64 for good high bits). */
uint64_t place_hash(const void *buf, size_t len, uint64_t seed);

uint32_t place_dentry(uint64_t parent, const char *name, size_t len, uint32_t nodes);
/* The owner of ino; an ino naming a node outside the cluster maps to UINT32_MAX. */
uint32_t place_inode(uint64_t ino, uint32_t nodes);
uint32_t place_chunk(uint64_t ino, uint64_t idx, uint32_t nodes);

#endif
