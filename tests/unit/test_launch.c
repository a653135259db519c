/* test_launch.c - node id and cluster size from launchers' environments, --data-dir templates. */
#include <errno.h>
#include <string.h>

#include "../../server/launch.h"
#include "../test.h"

/* An environment as "NAME=value" strings, NULL-terminated. */
static const char *lookup(void *arg, const char *name)
{
    size_t n = strlen(name);
    for (const char **e = arg; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int place(const char **env, struct launch_place *p, char *err)
{
    memset(p, 0, sizeof *p);
    return launch_place_from_env(lookup, env, 4096, p, err, 256);
}

static void test_none(void)
{
    const char *env[] = { "HOME=/root", "SLURM_NTASKS=4", NULL };
    struct launch_place p;
    char err[256];
    CHECK_EQ(place(env, &p, err), 0);
}

static void test_slurm(void)
{
    const char *env[] = { "SLURM_PROCID=2", "SLURM_NTASKS=8", "SLURM_STEP_NUM_TASKS=3", NULL };
    struct launch_place p;
    char err[256];
    CHECK_EQ(place(env, &p, err), 1);
    CHECK_EQ(p.rank, 2);
    CHECK_EQ(p.size, 3);   /* the step's task count, not the job's */
    const char *env2[] = { "SLURM_PROCID=0", "SLURM_NTASKS=1", NULL };
    CHECK_EQ(place(env2, &p, err), 1);
    CHECK_EQ(p.rank, 0);
    CHECK_EQ(p.size, 1);
}

static void test_ompi_wins_over_slurm(void)
{
    /* mpirun inside a Slurm job: every rank inherits SLURM_PROCID=0. */
    const char *env[] = { "SLURM_PROCID=0", "SLURM_NTASKS=1", "OMPI_COMM_WORLD_RANK=5",
                          "OMPI_COMM_WORLD_SIZE=6", NULL };
    struct launch_place p;
    char err[256];
    CHECK_EQ(place(env, &p, err), 1);
    CHECK_EQ(p.rank, 5);
    CHECK_EQ(p.size, 6);
    CHECK(strstr(p.source, "OMPI") != NULL);
}

static void test_pmi_and_pmix(void)
{
    const char *pmi[] = { "PMI_RANK=1", "PMI_SIZE=2", NULL };
    const char *pmix[] = { "PMIX_RANK=3", "SLURM_NTASKS=4", NULL };
    const char *pmix_alone[] = { "PMIX_RANK=3", NULL };
    struct launch_place p;
    char err[256];
    CHECK_EQ(place(pmi, &p, err), 1);
    CHECK_EQ(p.rank, 1);
    CHECK_EQ(p.size, 2);
    CHECK_EQ(place(pmix, &p, err), 1);
    CHECK_EQ(p.rank, 3);
    CHECK_EQ(p.size, 4);
    CHECK_EQ(place(pmix_alone, &p, err), -EINVAL);
    CHECK(strstr(err, "PMIX_RANK") != NULL);
}

static void test_bad_values(void)
{
    const char *bad[][3] = {
        { "SLURM_PROCID=x", "SLURM_NTASKS=2", NULL },
        { "SLURM_PROCID=2", "SLURM_NTASKS=2", NULL },   /* rank not below size */
        { "SLURM_PROCID=0", "SLURM_NTASKS=0", NULL },
        { "SLURM_PROCID=-1", "SLURM_NTASKS=2", NULL },
        { "SLURM_PROCID=1", "SLURM_NTASKS=99999", NULL },   /* above the maximum */
        { "SLURM_PROCID=1", "SLURM_NTASKS=2x", NULL },
        { "PMI_RANK=0", NULL, NULL },                    /* no size */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct launch_place p;
        char err[256] = "";
        CHECK_EQ(place(bad[i], &p, err), -EINVAL);
        CHECK(err[0] != '\0');
    }
}

static void test_expand(void)
{
    char out[64], err[256];
    CHECK_EQ(launch_expand_dir("/scratch/benchfs-%r", 7, "n01", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "/scratch/benchfs-7") == 0);
    CHECK_EQ(launch_expand_dir("/s/%h/%r/100%%", 12, "node-a", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "/s/node-a/12/100%") == 0);
    CHECK_EQ(launch_expand_dir("/plain", 0, "h", out, sizeof out, err, sizeof err), 0);
    CHECK(strcmp(out, "/plain") == 0);
    CHECK_EQ(launch_expand_dir("/x/%q", 0, "h", out, sizeof out, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "%q") != NULL);
    CHECK_EQ(launch_expand_dir("/x/%", 0, "h", out, sizeof out, err, sizeof err), -EINVAL);
    char small[8];
    CHECK_EQ(launch_expand_dir("/abc/%h", 0, "longhost", small, sizeof small, err, sizeof err),
             -ENAMETOOLONG);
    CHECK_EQ(launch_expand_dir("/abcdef", 0, "h", small, sizeof small, err, sizeof err), 0);
    CHECK_EQ(launch_expand_dir("/abcdefg", 0, "h", small, sizeof small, err, sizeof err), -ENAMETOOLONG);
}

int main(void)
{
    RUN(test_none);
    RUN(test_slurm);
    RUN(test_ompi_wins_over_slurm);
    RUN(test_pmi_and_pmix);
    RUN(test_bad_values);
    RUN(test_expand);
    return test_summary();
}
