/* launch.h - what a parallel launcher (srun, mpirun, any PMI) tells a server
 * about its place in the job, and the expansion of --data-dir templates.
 * Pure functions: no I/O, no globals; the environment is passed in as a
 * lookup function so tests can give any. Any thread may call them.
 */
#ifndef BENCHFS_LAUNCH_H
#define BENCHFS_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

/* Looks a variable up (getenv-like: NULL when unset). */
typedef const char *(*launch_getenv_fn)(void *arg, const char *name);

struct launch_place {
    uint32_t rank, size;
    const char *source;   /* static text naming the variables used, e.g. "SLURM_PROCID/SLURM_NTASKS" */
};

/* Finds rank and size in the environment, in this order (the first launcher
 * whose rank variable is set wins; mpirun inside a Slurm job inherits the job's
 * SLURM_* variables, so the MPI ones come first):
 *   OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE        (Open MPI's mpirun)
 *   PMIX_RANK / PMIX_SIZE, else the size of another launcher below
 *   PMI_RANK / PMI_SIZE                                (MPICH/Hydra, srun --mpi=pmi2)
 *   SLURM_PROCID / SLURM_STEP_NUM_TASKS, else SLURM_NTASKS (srun)
 * Returns 1 with *out filled, 0 when no launcher variable is set, or -EINVAL
 * (with a message in err) for a rank without a size, a value that is not a
 * number, a size above max_size or a rank not below the size. */
int launch_place_from_env(launch_getenv_fn get, void *arg, uint32_t max_size,
                          struct launch_place *out, char *err, size_t err_len);

/* Expands a --data-dir template: %r the node id, %h the host name, %% a '%'.
 * Returns 0, -EINVAL for another '%' sequence (message in err), -ENAMETOOLONG
 * when the result does not fit out_len. */
int launch_expand_dir(const char *tmpl, uint32_t rank, const char *host, char *out, size_t out_len,
                      char *err, size_t err_len);

#endif
