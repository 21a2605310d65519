/* fe_ternary_linear straight from C, one variant forced: m activation rows against an n x k ternary
 * matrix, with the GEMV layout (fe_ternary_gemv_layout) and without it, in interleaved rounds (the
 * clock of a shared VM moves between seconds; both sides see the same phases). Median and minimum
 * of 41 rounds of 20 calls (m = 1) or 1 call; the weights stay in cache (the "warm" case).
 *
 *   gcc -O3 -Icsrc -o /tmp/ternary_gemv benchmarks/c/ternary_gemv.c csrc/ternary.c csrc/cpu.c \
 *       csrc/gather.c csrc/hamming.c csrc/pool.c -pthread -lm
 *   /tmp/ternary_gemv [variant (avx512_vnni)] [m (1)] [n (2048)] [k (2048)]
 *
 * Random codes and activations (xorshift, fixed seed); the two outputs are compared bit for bit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cpu.h"
#include "ternary.h"

int main(int argc, char **argv) {
    const char *want = argc > 1 ? argv[1] : "avx512_vnni";
    size_t m = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
    size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 2048;
    size_t k = argc > 4 ? strtoul(argv[4], NULL, 10) : 2048;
    size_t kp = (k + FE_TERNARY_BLOCK - 1) / FE_TERNARY_BLOCK * FE_TERNARY_BLOCK;
    if (force_variant("ternary_matmul", want)) return 2;
    uint8_t *w = malloc(n * kp / 4), *il = malloc(fe_ternary_gemv_layout_bytes(n, kp));
    float *ws = malloc(n * 4), *x = malloc(m * k * 4), *y0 = malloc(m * n * 4), *y1 = malloc(m * n * 4);
    if (!w || !il || !ws || !x || !y0 || !y1) return 2;
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n * kp / 4; i++) {
        uint8_t b = 0;
        for (int p = 0; p < 4; p++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            b |= (uint8_t)((s % 3) << (2 * p));
        }
        w[i] = b;
    }
    for (size_t i = 0; i < n; i++) ws[i] = 1.0f;
    for (size_t i = 0; i < m * k; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((int64_t)(s % 2001) - 1000) / 100.f;
    }
    fe_ternary_gemv_layout(w, kp, n, il);
    fe_ternary_linear(x, k, m, k, w, kp, ws, n, y0, n, NULL);
    fe_ternary_linear(x, k, m, k, w, kp, ws, n, y1, n, il);
    if (memcmp(y0, y1, m * n * 4)) {
        printf("MISMATCH between the two layouts\n");
        return 1;
    }
    enum { R = 41 };
    double t[2][R];
    const int reps = m == 1 ? 20 : 1;
    for (int r = 0; r < R; r++)
        for (int side = 0; side < 2; side++) {
            double t0 = now();
            for (int q = 0; q < reps; q++) fe_ternary_linear(x, k, m, k, w, kp, ws, n, y0, n, side ? il : NULL);
            t[side][r] = (now() - t0) / reps;
        }
    printf("ternary_matmul %s, %zu x %zu @ %zu x %zu (layout used by this variant: %s)\n", want, m, k, n, k,
           fe_ternary_gemv_layout_used() ? "yes" : "no");
    for (int side = 0; side < 2; side++) {
        qsort(t[side], R, sizeof(double), cmp);
        printf("  %-22s median %9.2f us  min %9.2f us  %6.1f GOPS (median)\n",
               side ? "with the GEMV layout" : "packed rows only", t[side][R / 2] * 1e6, t[side][0] * 1e6,
               2.0 * m * n * k / t[side][R / 2] / 1e9);
    }
    return 0;
}
