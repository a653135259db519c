/* gone.c - see gone.h. Open addressing over a power-of-two table: a note goes
 * to the first free, expired or same-inode slot of its probe window, or else
 * replaces the oldest note there. */
#include "gone.h"

#include <stdlib.h>

enum { GONE_SLOTS = 1 << 14, GONE_PROBES = 8 };

struct slot {
    uint64_t ino;   /* 0: free (inode 0 does not exist) */
    double at;
};

struct gone {
    struct slot slots[GONE_SLOTS];
};

static size_t home(uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 40) & (GONE_SLOTS - 1);
}

struct gone *gone_new(void)
{
    return calloc(1, sizeof(struct gone));
}

void gone_free(struct gone *g)
{
    free(g);
}

void gone_note(struct gone *g, uint64_t ino, double now_s)
{
    if (ino == 0)
        return;
    struct slot *pick = NULL;
    for (size_t i = 0; i < GONE_PROBES; i++) {
        struct slot *s = &g->slots[(home(ino) + i) & (GONE_SLOTS - 1)];
        if (s->ino == ino || s->ino == 0 || now_s - s->at > GONE_KEEP_S) {
            pick = s;
            break;
        }
        if (!pick || s->at < pick->at)
            pick = s;
    }
    pick->ino = ino;
    pick->at = now_s;
}

bool gone_recent(const struct gone *g, uint64_t ino, double now_s)
{
    if (ino == 0)
        return false;
    for (size_t i = 0; i < GONE_PROBES; i++) {
        const struct slot *s = &g->slots[(home(ino) + i) & (GONE_SLOTS - 1)];
        if (s->ino == ino)
            return now_s - s->at <= GONE_KEEP_S;
    }
    return false;
}
