/* launch.c - node id and cluster size from a launcher's environment, --data-dir templates (see launch.h). */
#include "launch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal number without sign, spaces or suffix. */
static int parse_u32(const char *s, uint32_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

struct launcher {
    const char *rank_var;
    const char *size_vars[5];   /* the first one set gives the size */
    const char *source;
};

static const struct launcher launchers[] = {
    { "OMPI_COMM_WORLD_RANK", { "OMPI_COMM_WORLD_SIZE" }, "OMPI_COMM_WORLD_RANK/SIZE" },
    { "PMIX_RANK", { "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS" },
      "PMIX_RANK" },
    { "PMI_RANK", { "PMI_SIZE" }, "PMI_RANK/PMI_SIZE" },
    { "SLURM_PROCID", { "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS" }, "SLURM_PROCID/SLURM_NTASKS" },
};

int launch_place_from_env(launch_getenv_fn get, void *arg, uint32_t max_size,
                          struct launch_place *out, char *err, size_t err_len)
{
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0]; i++) {
        const struct launcher *l = &launchers[i];
        const char *rank_s = get(arg, l->rank_var), *size_s = NULL, *size_var = NULL;
        if (!rank_s)
            continue;
        for (size_t j = 0; j < 5 && l->size_vars[j] && !size_s; j++)
            if ((size_s = get(arg, l->size_vars[j])))
                size_var = l->size_vars[j];
        uint32_t rank, size;
        if (parse_u32(rank_s, &rank) < 0) {
            snprintf(err, err_len, "%s=%s is not a node id", l->rank_var, rank_s);
            return -EINVAL;
        }
        if (!size_s) {
            snprintf(err, err_len, "%s is set but not the job size (%s); give --nodes", l->rank_var,
                     l->size_vars[0]);
            return -EINVAL;
        }
        if (parse_u32(size_s, &size) < 0 || size == 0 || size > max_size) {
            snprintf(err, err_len, "%s=%s is not a cluster size (1..%u)", size_var, size_s, max_size);
            return -EINVAL;
        }
        if (rank >= size) {
            snprintf(err, err_len, "%s=%u is not below %s=%u", l->rank_var, rank, size_var, size);
            return -EINVAL;
        }
        *out = (struct launch_place){ .rank = rank, .size = size, .source = l->source };
        return 1;
    }
    return 0;
}

int launch_expand_dir(const char *tmpl, uint32_t rank, const char *host, char *out, size_t out_len,
                      char *err, size_t err_len)
{
    size_t n = 0;
    char num[16];
    for (const char *p = tmpl; *p; p++) {
        const char *piece = p;
        size_t len = 1;
        if (*p == '%') {
            switch (p[1]) {
            case 'r': len = (size_t)snprintf(num, sizeof num, "%u", rank); piece = num; break;
            case 'h': piece = host; len = strlen(host); break;
            case '%': break;
            default:
                snprintf(err, err_len, "--data-dir %s: unknown %%%s (use %%r, %%h or %%%%)", tmpl,
                         p[1] ? (char[]){ p[1], 0 } : "at the end");
                return -EINVAL;
            }
            p++;
        }
        if (n + len >= out_len) {
            snprintf(err, err_len, "--data-dir %s: the expanded path is too long", tmpl);
            return -ENAMETOOLONG;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}
