/* mountinfo.c - see mountinfo.h */
#include "mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Copies one space-separated field of a mountinfo line, undoing \ooo escapes.
 * Returns the position after it, or NULL when the field does not fit. */
static const char *field(const char *p, char *out, size_t size)
{
    size_t n = 0;
    while (*p == ' ')
        p++;
    while (*p && *p != ' ' && *p != '\n') {
        char c = *p++;
        if (c == '\\' && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' &&
            p[2] <= '7') {
            c = (char)((p[0] - '0') << 6 | (p[1] - '0') << 3 | (p[2] - '0'));
            p += 3;
        }
        if (n + 1 >= size)
            return NULL;
        out[n++] = c;
    }
    out[n] = '\0';
    return p;
}

/* Whether mnt holds path: equal, or path continues below it. */
static size_t holds(const char *mnt, const char *path)
{
    size_t n = strlen(mnt);
    if (strcmp(mnt, "/") == 0)
        return 1;
    if (strncmp(mnt, path, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return 0;
    return n;
}

int where_parse(const char *mountinfo, const char *abs_path, struct where *w)
{
    static const char prefix[] = "benchfs:";
    size_t best = 0;
    int rc = -ENOENT;
    char mnt[4096], fstype[256], source[4096], skip[4096];
    for (const char *line = mountinfo; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *p = line;
        /* id parent major:minor root mountpoint ... - fstype source superopts */
        for (int i = 0; i < 4 && p; i++)
            p = field(p, skip, sizeof skip);
        if (!p || !(p = field(p, mnt, sizeof mnt)))
            continue;
        const char *dash = strstr(p, " - ");
        const char *eol = strchr(p, '\n');
        if (!dash || (eol && dash > eol))
            continue;
        p = field(dash + 3, fstype, sizeof fstype);
        if (!p || !(p = field(p, source, sizeof source)) || strcmp(fstype, "fuse.benchfs") != 0)
            continue;
        size_t n = holds(mnt, abs_path);
        if (n == 0 || n < best)
            continue;
        best = n;
        if (strncmp(source, prefix, sizeof prefix - 1) != 0 || !source[sizeof prefix - 1]) {
            rc = -EINVAL;
            continue;
        }
        const char *rest = strcmp(mnt, "/") == 0 ? abs_path : abs_path + n;
        if (snprintf(w->mnt, sizeof w->mnt, "%s", mnt) >= (int)sizeof w->mnt ||
            snprintf(w->registry, sizeof w->registry, "%s", source + sizeof prefix - 1) >=
                (int)sizeof w->registry ||
            snprintf(w->inner, sizeof w->inner, "%s", *rest ? rest : "/") >= (int)sizeof w->inner)
            return -ENAMETOOLONG;
        rc = 0;
    }
    return rc;
}

int where_list(const char *mountinfo, struct where *out, int max)
{
    static const char prefix[] = "benchfs:";
    int n = 0;
    char skip[4096], fstype[256], source[4096];
    for (const char *line = mountinfo; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *p = line;
        for (int i = 0; i < 4 && p; i++)
            p = field(p, skip, sizeof skip);
        if (n >= max)
            break;
        if (!p || !(p = field(p, out[n].mnt, sizeof out[n].mnt)))
            continue;
        const char *dash = strstr(p, " - ");
        const char *eol = strchr(p, '\n');
        if (!dash || (eol && dash > eol))
            continue;
        p = field(dash + 3, fstype, sizeof fstype);
        if (!p || !(p = field(p, source, sizeof source)) || strcmp(fstype, "fuse.benchfs") != 0 ||
            strncmp(source, prefix, sizeof prefix - 1) != 0 || !source[sizeof prefix - 1])
            continue;
        if (snprintf(out[n].registry, sizeof out[n].registry, "%s", source + sizeof prefix - 1) >=
            (int)sizeof out[n].registry)
            continue;
        strcpy(out[n].inner, "/");
        n++;
    }
    return n;
}
