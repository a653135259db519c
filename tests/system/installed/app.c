/* app.c - a program built against the INSTALLED libbenchfs, as a user builds
 * one: cc app.c $(pkg-config --cflags --libs benchfs) (tests/system/libbenchfs.sh).
 * It also defines functions with the names of the library's internals: the
 * library exports only benchfs_*, so neither side sees the other's.
 * Usage: app REGISTRY_DIR. Prints PASS:/FAIL: lines. */
#include <benchfs.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Same names as functions inside libbenchfs.so (common/log.c, common/client_ns.c). */
int bfs_lookup(void) { return 42; }
void log_init(const char *progname) { (void)progname; }

static int fails;
static void check(const char *name, int ok)
{
    printf("%s: installed app: %s\n", ok ? "PASS" : "FAIL", name);
    fails += !ok;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    benchfs_t *fs;
    char dir[64], path[96], buf[32];
    check("benchfs_connect", benchfs_connect(argv[1], NULL, &fs) == 0);
    if (fails)
        return 1;
    check("benchfs_version", strstr(benchfs_version(), "benchfs") != NULL);
    snprintf(dir, sizeof dir, "/installed-%d", (int)getpid());
    snprintf(path, sizeof path, "%s/hello", dir);
    check("mkdir", benchfs_mkdir(fs, dir, 0755) == 0);
    benchfs_file_t *f;
    check("open O_CREAT", benchfs_open(fs, path, O_CREAT | O_RDWR, 0644, &f) == 0);
    check("pwrite", benchfs_pwrite(f, "installed", 9, 0) == 9);
    check("pread", benchfs_pread(f, buf, sizeof buf, 0) == 9 && memcmp(buf, "installed", 9) == 0);
    check("close", benchfs_close(f) == 0);
    struct stat st;
    check("stat", benchfs_stat(fs, path, &st) == 0 && st.st_size == 9);
    benchfs_dir_t *d;
    struct dirent ent;
    int n = 0;
    check("opendir", benchfs_opendir(fs, dir, &d) == 0);
    while (benchfs_readdir(d, &ent) == 1)
        n += strcmp(ent.d_name, "hello") == 0;
    benchfs_closedir(d);
    check("readdir finds the file", n == 1);
    check("unlink", benchfs_unlink(fs, path) == 0);
    check("rmdir", benchfs_rmdir(fs, dir) == 0);
    check("the program's own bfs_lookup is its own", bfs_lookup() == 42);
    benchfs_disconnect(fs);
    return fails ? 1 : 0;
}
