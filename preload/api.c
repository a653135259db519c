/* api.c - libbenchfs, loaded on the first BenchFS call (dlopen), not linked.
 * A program that never touches BenchFS pays nothing for UCX; and UCX, which
 * reads its settings when it is loaded, gets UCX_MEM_EVENTS=no first: its
 * memory hooks would otherwise point every object's mmap at their own,
 * skipping ours (which must convert a preload fd before the kernel maps it).
 * The library is libbenchfs.so.1 next to this one (BENCHFS_LIBRARY names
 * another); dlopen's own file calls run with the wrappers passing through. */
#include "preload.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pl_api pl_api;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int load_state;   /* 0 not tried, 1 loaded, -1 failed */

static int library_path(char *out, size_t size)
{
    const char *env = getenv("BENCHFS_LIBRARY");
    if (env && *env)
        return snprintf(out, size, "%s", env) < (int)size ? 0 : -1;
    Dl_info info;
    if (!dladdr((void *)library_path, &info) || !info.dli_fname)
        return -1;
    const char *slash = strrchr(info.dli_fname, '/');
    int dir = slash ? (int)(slash - info.dli_fname) : 0;
    int n = slash ? snprintf(out, size, "%.*s/libbenchfs.so.1", dir, info.dli_fname)
                  : snprintf(out, size, "libbenchfs.so.1");
    return n < (int)size ? 0 : -1;
}

int pl_api_loaded(void)
{
    return __atomic_load_n(&load_state, __ATOMIC_ACQUIRE) > 0;
}

int pl_api_load(void)
{
    int st = __atomic_load_n(&load_state, __ATOMIC_ACQUIRE);
    if (st)
        return st > 0 ? 0 : -1;
    pthread_mutex_lock(&load_lock);
    if (!load_state) {
        char path[4096];
        void *h = NULL;
        pl_in_lib++;
        setenv("UCX_MEM_EVENTS", "no", 0);
        if (library_path(path, sizeof path) == 0)
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        int ok = h != NULL;
#define LOAD(name)                                                              \
        if (ok && !(pl_api.name = (__typeof__(pl_api.name))dlsym(h, "benchfs_" #name))) \
            ok = 0;
        PL_API_FUNCS(LOAD)
#undef LOAD
        pl_in_lib--;
        if (!ok)
            pl_warn("cannot load %s: %s; the mount does everything", path, dlerror());
        __atomic_store_n(&load_state, ok ? 1 : -1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&load_lock);
    return load_state > 0 ? 0 : -1;
}
