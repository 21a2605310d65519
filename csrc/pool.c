/* See pool.h. The job is published as one 64-bit word: generation (32 bits), next part (16 bits),
 * number of parts (16 bits). A thread takes a part with a compare-and-swap on that word, so a worker
 * that wakes late, after its job has finished and the next one is being set up, finds either an
 * exhausted word of its old generation or the new job complete with its fields; it never runs a part
 * with another job's function. The caller waits for `done` to reach the number of parts. */
#include "pool.h"

#if defined(_WIN32)

void fe_pool_run(fe_part_fn fn, void *ctx, size_t nparts) {
    for (size_t p = 0; p < nparts; p++) fn(ctx, p);
}
int fe_pool_available(void) { return 0; }
size_t fe_pool_workers(void) { return 0; }

#else

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* guards nworkers, sleeping, the condvar */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static size_t nworkers, sleeping;
static _Atomic uint64_t word;      /* gen << 32 | next << 16 | nparts */
static _Atomic size_t done;        /* parts of the current job that have returned */
static _Atomic int busy;           /* a job is using the workers */
static fe_part_fn job_fn;
static void *job_ctx;
static uint32_t gen;               /* written by the caller holding `busy` */
static int atfork_set;
static double spin_us = FE_POOL_SPIN_US;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Takes and runs parts of the job of generation g while there are any; returns how many it ran. */
static size_t work(uint32_t g) {
    size_t ran = 0;
    for (;;) {
        uint64_t w = atomic_load_explicit(&word, memory_order_acquire);
        if ((uint32_t)(w >> 32) != g || ((w >> 16) & 0xffff) >= (w & 0xffff)) return ran;
        if (!atomic_compare_exchange_weak_explicit(&word, &w, w + (1u << 16), memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* the job is live until our part is counted in `done`: its fields are stable */
        job_fn(job_ctx, (w >> 16) & 0xffff);
        atomic_fetch_add_explicit(&done, 1, memory_order_release);
        ran++;
    }
}

static void *worker(void *arg) {
    /* arg: the generation before the job that started this worker, which it then joins */
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the interpreter's threads, never here */
    for (;;) {
        uint32_t g;
        double t0 = 0;
        for (unsigned spins = 0;; spins++) {
            g = (uint32_t)(atomic_load_explicit(&word, memory_order_acquire) >> 32);
            if (g != seen) break;
            if ((spins & 255) == 0) {
                double t = now_us();
                if (spins == 0) t0 = t;
                else if (t - t0 > spin_us) break;
            }
            cpu_relax();
        }
        if (g == seen) {
            pthread_mutex_lock(&mu);
            sleeping++;
            while ((g = (uint32_t)(atomic_load_explicit(&word, memory_order_acquire) >> 32)) == seen)
                pthread_cond_wait(&cv, &mu);
            sleeping--;
            pthread_mutex_unlock(&mu);
        }
        seen = g;
        work(g);
    }
    return NULL;
}

static void after_fork_child(void) {
    /* the workers do not exist in the child; a fork during a job leaves `busy` set in the child */
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    mu = m;
    cv = c;
    nworkers = sleeping = 0;
    atomic_store(&busy, 0);
}

/* Starts workers until there are `want` (fewer if the system refuses threads). Called by the job's
 * caller (holding `busy`) before it publishes generation gen + 1. */
static void grow(size_t want) {
    pthread_mutex_lock(&mu);
    if (!atfork_set) {
        pthread_atfork(NULL, NULL, after_fork_child);
        const char *env = getenv("FASTEMBED_CORE_SPIN_US");
        if (env && *env) {
            char *end;
            double v = strtod(env, &end);
            if (*end == 0 && v >= 0 && v <= 1e7) spin_us = v; /* otherwise the default stays */
        }
        atfork_set = 1;
    }
    while (nworkers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker, (void *)(uintptr_t)gen);
        pthread_attr_destroy(&attr);
        if (rc) break;
        nworkers++;
    }
    pthread_mutex_unlock(&mu);
}

void fe_pool_run(fe_part_fn fn, void *ctx, size_t nparts) {
    int expected = 0;
    if (nparts <= 1 || nparts > FE_POOL_MAX_PARTS ||
        !atomic_compare_exchange_strong(&busy, &expected, 1)) {
        for (size_t p = 0; p < nparts; p++) fn(ctx, p);
        return;
    }
    if (nworkers < nparts - 1) grow(nparts - 1);
    job_fn = fn;
    job_ctx = ctx;
    atomic_store_explicit(&done, 0, memory_order_relaxed);
    gen++;
    atomic_store_explicit(&word, (uint64_t)gen << 32 | (uint64_t)nparts, memory_order_release);
    pthread_mutex_lock(&mu);
    if (sleeping) pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    work(gen);
    /* the other parts are running: spin, then yield (a worker descheduled on a loaded machine needs
     * the core this thread would burn) */
    for (unsigned spins = 0; atomic_load_explicit(&done, memory_order_acquire) < nparts; spins++) {
        if (spins < 4096) cpu_relax();
        else sched_yield();
    }
    atomic_store_explicit(&busy, 0, memory_order_release);
}

int fe_pool_available(void) { return 1; }

size_t fe_pool_workers(void) {
    pthread_mutex_lock(&mu);
    size_t n = nworkers;
    pthread_mutex_unlock(&mu);
    return n;
}
#endif
