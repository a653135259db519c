/* ids.c - the calls that change a process's or a thread's ids. libbenchfs
 * checks permissions against the calling thread's fsuid and fsgid; the
 * library connects with BENCHFS_OPT_CACHE_IDS (mounts.c), so each thread reads
 * them once instead of with two system calls per call, and these wrappers say
 * when they may have changed. A raw syscall(SYS_setuid, ...) is not seen: the
 * calls then go on with the old ids until one of these is called. */
#include "preload.h"

#include <sys/fsuid.h>
#include <unistd.h>

static void changed(void)
{
    if (pl_api_loaded())
        BFS(ids_changed)();
}

#define ID_WRAPPER(ret, name, params, args)                                     \
    ret name params                                                             \
    {                                                                           \
        ret rc = REAL(name) args;                                               \
        changed();                                                              \
        return rc;                                                              \
    }
ID_WRAPPER(int, setuid, (uid_t u), (u))
ID_WRAPPER(int, setgid, (gid_t g), (g))
ID_WRAPPER(int, seteuid, (uid_t u), (u))
ID_WRAPPER(int, setegid, (gid_t g), (g))
ID_WRAPPER(int, setreuid, (uid_t r, uid_t e), (r, e))
ID_WRAPPER(int, setregid, (gid_t r, gid_t e), (r, e))
ID_WRAPPER(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
ID_WRAPPER(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))

/* (uid_t)-1 asks and changes nothing: libbenchfs reads the ids that way. */
int setfsuid(uid_t u)
{
    int rc = REAL(setfsuid)(u);
    if (u != (uid_t)-1)
        changed();
    return rc;
}
int setfsgid(gid_t g)
{
    int rc = REAL(setfsgid)(g);
    if (g != (gid_t)-1)
        changed();
    return rc;
}
