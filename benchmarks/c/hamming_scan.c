/* fe_hamming_topk straight from C, one variant forced, the codes evicted from the caches before each
 * call (a 256 MB buffer is touched between rounds): the numbers behind the README's round-6 rows on
 * software prefetch and the AVX-512 batch path. Median and minimum of 41 calls.
 *
 *   gcc -O3 -Icsrc -o /tmp/hamming_scan benchmarks/c/hamming_scan.c csrc/hamming.c csrc/cpu.c \
 *       csrc/gather.c csrc/ternary.c csrc/pool.c -pthread -lm
 *   /tmp/hamming_scan [variant (avx512_vpopcntdq)] [codes (1000000)] [queries (1)]
 *
 * 32-byte codes, k = 10, random bits (xorshift, fixed seed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cpu.h"
#include "hamming.h"

int main(int argc, char **argv) {
    const char *want = argc > 1 ? argv[1] : "avx512_vpopcntdq";
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
    enum { K = 10, ROUNDS = 41 };
    if (n == 0 || nq == 0 || nq > 10000) return fprintf(stderr, "codes and queries must be > 0\n"), 2;
    if (force_variant("hamming_topk", want)) return 2;
    uint8_t *db = malloc(n * 32), *q = malloc(nq * 32);
    int32_t *od = malloc(nq * K * sizeof(int32_t));
    int64_t *oi = malloc(nq * K * sizeof(int64_t));
    const size_t EV = (size_t)256 << 20;
    uint8_t *ev = malloc(EV);
    if (!db || !q || !od || !oi || !ev) return fprintf(stderr, "out of memory\n"), 2;
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n * 32 + nq * 32; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        if (i < n * 32) db[i] = (uint8_t)s;
        else q[i - n * 32] = (uint8_t)s;
    }
    memset(ev, 1, EV);
    double ts[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < EV; i += 64) ev[i]++;
        double t0 = now();
        fe_hamming_topk(q, nq, 32, db, n, 32, 32, K, 0, od, oi);
        ts[r] = now() - t0;
    }
    qsort(ts, ROUNDS, sizeof ts[0], cmp);
    printf("%s, software prefetch %s: %zu codes x %zu queries: median %.3f ms, min %.3f ms (%.1f GB/s of codes"
           " compared); first distance %d\n", want, fe_scan_prefetch() ? "on" : "off", n, nq, ts[ROUNDS / 2] * 1e3,
           ts[0] * 1e3, n * 32 / ts[ROUNDS / 2] / 1e9 * nq, od[0]);
    return 0;
}
