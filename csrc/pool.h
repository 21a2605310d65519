/* A small pool of C worker threads for kernels that split one call into parts (no OpenMP runtime to
 * ship in wheels, no Python in the hand-off).
 *
 * fe_pool_run(fn, ctx, nparts) calls fn(ctx, p) once for every p < nparts, on the calling thread and
 * up to nparts - 1 workers, and returns when every part has returned. Which thread runs a part never
 * changes what it computes, so results do not depend on the thread count. Workers are started on
 * first use and spin for a while after each job (FE_POOL_SPIN_US microseconds, or the environment
 * variable FASTEMBED_CORE_SPIN_US read at the first job; 0 = sleep at once) before sleeping on a condition
 * variable, as OpenMP runtimes do (GNU's spins ~0.3 ms by default, Intel's 200 ms): a Python thread pool took 35-70 us to hand over a part on a 2-vCPU VM, mostly waking the
 * idle vCPU, and that is as long as a 1-query scan of 1M codes takes on half the cores.
 * One job at a time uses the workers: a call made while another is running (another Python thread)
 * runs all its parts inline. After fork() the child starts without workers. Where pthreads are not
 * available (Windows builds), every part runs inline and fe_pool_available() returns 0.
 */
#ifndef FE_POOL_H
#define FE_POOL_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FE_POOL_MAX_PARTS 64
#define FE_POOL_SPIN_US 1000

typedef void (*fe_part_fn)(void *ctx, size_t part);

/* Runs the parts; nparts in [1, FE_POOL_MAX_PARTS] (more are clamped to run inline past the cap). */
void fe_pool_run(fe_part_fn fn, void *ctx, size_t nparts);

/* 1 where the pool has threads (POSIX builds), 0 where fe_pool_run runs everything inline. */
int fe_pool_available(void);

/* Workers started so far (for tests). */
size_t fe_pool_workers(void);

#ifdef __cplusplus
}
#endif
#endif
