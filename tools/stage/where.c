/* where.c - see where.h */
#include "where.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int where_canonical(const char *path, char *out, size_t size)
{
    char abs[PATH_MAX], real[PATH_MAX], cwd[PATH_MAX];
    int n;
    if (path[0] == '/') {
        n = snprintf(abs, sizeof abs, "%s", path);
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return -errno;
        n = snprintf(abs, sizeof abs, "%s/%s", cwd, path);
    }
    if (n < 0 || n >= (int)sizeof abs)
        return -ENAMETOOLONG;
    /* The deepest prefix that exists (at worst "/"). */
    size_t cut = (size_t)n;
    for (;;) {
        char save = abs[cut];
        abs[cut] = '\0';
        char *ok = realpath(cut ? abs : "/", real);
        int e = errno;
        abs[cut] = save;
        if (ok)
            break;
        if (e != ENOENT && e != ENOTDIR)
            return -e;
        char *slash = memrchr(abs, '/', cut);
        cut = slash ? (size_t)(slash - abs) : 0;
    }
    size_t len = strlen(real);
    if (len + 1 > size)
        return -ENAMETOOLONG;
    memcpy(out, real, len + 1);
    /* Append what does not exist yet, component by component. */
    for (const char *rest = abs + cut; *rest;) {
        while (*rest == '/')
            rest++;
        size_t c = strcspn(rest, "/");
        if (c == 0)
            break;
        if ((c == 1 && rest[0] == '.') || (c == 2 && rest[0] == '.' && rest[1] == '.'))
            return -EINVAL;
        if (len + 1 + c + 1 > size)
            return -ENAMETOOLONG;
        if (len > 1)
            out[len++] = '/';
        memcpy(out + len, rest, c);
        len += c;
        out[len] = '\0';
        rest += c;
    }
    return 0;
}

int where_find(const char *path, struct where *w)
{
    char abs_path[PATH_MAX];
    int rc = where_canonical(path, abs_path, sizeof abs_path);
    if (rc < 0)
        return rc;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    while (text) {
        size_t got = fread(text + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1)
            break;
        char *p = realloc(text, cap * 2);
        if (!p) {
            free(text);
            text = NULL;
            break;
        }
        text = p;
        cap *= 2;
    }
    fclose(f);
    if (!text)
        return -ENOMEM;
    text[n] = '\0';
    rc = where_parse(text, abs_path, w);
    free(text);
    return rc;
}
