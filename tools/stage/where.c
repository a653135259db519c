/* where.c - see where.h */
#include "where.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
