/* The machine's own ceiling for the thread scaling of a compute-bound kernel: a loop that touches no
 * memory (12 independent chains of one SIMD instruction, so it is bound by the core's throughput, not
 * by latency) is timed on 1 thread, then the same work on each of T threads at once. On separate,
 * idle physical cores each thread keeps its one-thread speed (ratio 1.00 and scaling T); hardware
 * threads of one core, a shared power or clock budget, or a hypervisor that time-slices the vCPUs
 * lower both. A compute-bound kernel should not be expected to scale better than this loop. Medians of 7 rounds.
 *
 *   gcc -O2 -Icsrc -o /tmp/core_ceiling benchmarks/c/core_ceiling.c -lpthread
 *   /tmp/core_ceiling [threads (2)] [loop (vpdpbusd | vpaddd)]
 *
 * vpdpbusd is the AVX-512 VNNI multiply-add of the ternary GEMM (needs avx512vnni); vpaddd (AVX2) is
 * the kind of integer add the Hamming and gather kernels issue. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h" /* now, cmp */

enum { CHAINS = 12, ROUNDS = 7, MAX_THREADS = 64 };
static const long ITERS = 200000000L;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static long loop_vnni(void) {
    __m512i a[CHAINS], b = _mm512_set1_epi8(3), c = _mm512_set1_epi8(5);
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_epi32(i);
    for (long it = 0; it < ITERS; it++) {
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_dpbusd_epi32(a[i], b, c);
        __asm__ volatile("" : "+v"(b)); /* keeps the loop from being folded */
    }
    long s = 0;
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_epi32(a[i]);
    return s;
}

__attribute__((target("avx2"))) static long loop_add(void) {
    __m256i a[CHAINS], b = _mm256_set1_epi32(3);
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_epi32(i);
    for (long it = 0; it < ITERS; it++) {
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_add_epi32(a[i], b);
        __asm__ volatile("" : "+x"(b));
    }
    long s = 0;
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) s += _mm256_extract_epi32(a[i], 0);
    return s;
}

static long (*loop)(void);
static volatile long sink;

static void *worker(void *arg) {
    (void)arg;
    sink += loop();
    return NULL;
}

/* Wall time of the loop run once on each of t threads at the same time. */
static double run(int t) {
    pthread_t th[MAX_THREADS];
    double t0 = now();
    for (int i = 1; i < t; i++)
        if (pthread_create(&th[i], NULL, worker, NULL)) {
            fprintf(stderr, "pthread_create failed\n");
            exit(3);
        }
    worker(NULL);
    for (int i = 1; i < t; i++) pthread_join(th[i], NULL);
    return now() - t0;
}

int main(int argc, char **argv) {
    int t = argc > 1 ? atoi(argv[1]) : 2;
    const char *name = argc > 2 ? argv[2] : "vpdpbusd";
    if (t < 2 || t > MAX_THREADS) return fprintf(stderr, "threads must be 2..%d\n", MAX_THREADS), 2;
    __builtin_cpu_init();
    if (!strcmp(name, "vpdpbusd") && __builtin_cpu_supports("avx512vnni"))
        loop = loop_vnni;
    else if (!strcmp(name, "vpaddd") && __builtin_cpu_supports("avx2"))
        loop = loop_add;
    else
        return fprintf(stderr, "unknown loop %s, or this CPU lacks it\n", name), 2;
    double one[ROUNDS], many[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) { /* alternated, so clock drift hits both alike */
        one[r] = run(1);
        many[r] = run(t);
    }
    qsort(one, ROUNDS, sizeof(double), cmp);
    qsort(many, ROUNDS, sizeof(double), cmp);
    double r1 = one[ROUNDS / 2], rt = many[ROUNDS / 2];
    printf("%s: 1 thread %.3f s; the same work on each of %d threads at once %.3f s (medians of %d)\n", name, r1, t,
           rt, ROUNDS);
    printf("per-thread speed with %d threads busy: %.2f of one thread alone -> scaling ceiling %.2fx\n", t, r1 / rt,
           t * r1 / rt);
    return 0;
}
