/* hash.h - FNV-1a, the one byte hash BenchFS builds its hashes on (entry keys
 * in server/meta.c, placement in common/placement.c). Both are part of the
 * stored and wire format: what this returns must never change. */
#ifndef BENCHFS_HASH_H
#define BENCHFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of len bytes, its offset basis XORed with seed (0: plain FNV-1a). */
static inline uint64_t bfs_fnv1a(const void *buf, size_t len, uint64_t seed)
{
    const unsigned char *p = buf;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif
