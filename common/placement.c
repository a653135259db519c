/* placement.c - see placement.h */
#include "placement.h"

#include "hash.h"

uint64_t place_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t place_hash(const void *buf, size_t len, uint64_t seed)
{
    return place_mix64(bfs_fnv1a(buf, len, seed));
}

uint32_t place_dentry(uint64_t parent, const char *name, size_t len, uint32_t nodes)
{
    if (nodes <= 1)
        return 0;
    return (uint32_t)(place_hash(name, len, parent) % nodes);
}

uint32_t place_inode(uint64_t ino, uint32_t nodes)
{
    uint32_t node = bfs_ino_node(ino);
    return node < nodes ? node : UINT32_MAX;
}

uint32_t place_chunk(uint64_t ino, uint64_t idx, uint32_t nodes)
{
    if (idx == 0 || nodes <= 1)
        return place_inode(ino, nodes);
    uint64_t key[2] = { ino, idx };
    return (uint32_t)(place_hash(key, sizeof key, 0x6368756e6bULL) % nodes);
}
