/* Every SIMD variant of the C kernels against the scalar variant, on random inputs, in plain C (no
 * Python): built natively or with a cross-compiler and run under qemu-user by
 * scripts/neon_qemu_check.sh, so the real NEON code runs on an x86 machine. Exit status 1 on any
 * mismatch. Integer results and the ternary/gather float results must be bit-identical, as the
 * Python tests require. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gather.h"
#include "hamming.h"
#include "ternary.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static int kernel_index(const char *name) {
    for (int i = 0; i < fe_kernel_count(); i++)
        if (strcmp(fe_kernel_at(i)->name, name) == 0) return i;
    return -1;
}

typedef void (*run_fn)(void *out, size_t case_no);

static int failures = 0;

/* Max relative difference of two float32 arrays (NaN-free). */
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        double s = a[i] < 0 ? -(double)a[i] : (double)a[i];
        double r = d / (s > 1e-30 ? s : 1e-30);
        worst = r > worst ? r : worst;
    }
    return worst;
}

/* Runs `run` under every supported variant of `kernel` and compares its output with the scalar one:
 * bytes equal when tol == 0, else float32 outputs within relative tol (the L2 normalisation of the
 * float gather sums squares in a variant-specific order). */
static void check_tol(const char *kernel, run_fn run, size_t out_bytes, size_t case_no, const char *what,
                      double tol) {
    int ki = kernel_index(kernel);
    if (ki < 0) {
        printf("  %s: no such kernel\n", kernel);
        failures++;
        return;
    }
    fe_kernel *k = fe_kernel_at(ki);
    int saved = k->active;
    unsigned char *want = calloc(1, out_bytes + 1), *got = calloc(1, out_bytes + 1);
    fe_kernel_select(ki, k->n_variants - 1); /* scalar */
    memset(want, 0xa5, out_bytes);           /* the same fill as `got`: padding compares equal */
    run(want, case_no);
    for (int j = 0; j < k->n_variants - 1; j++) {
        int rc = fe_kernel_select(ki, j);
        if (rc == -2) continue; /* the CPU lacks it */
        memset(got, 0xa5, out_bytes);
        run(got, case_no);
        int same = tol == 0 ? memcmp(want, got, out_bytes) == 0
                            : max_rel_diff((const float *)want, (const float *)got, out_bytes / 4) <= tol;
        printf("  %-20s %-18s %-28s %s\n", kernel, k->variants[j].name, what, same ? "ok" : "MISMATCH");
        failures += !same;
    }
    k->active = saved;
    free(want);
    free(got);
}

static void check(const char *kernel, run_fn run, size_t out_bytes, size_t case_no, const char *what) {
    check_tol(kernel, run, out_bytes, case_no, what, 0.0);
}

/* ---- hamming */
static const size_t H_WIDTHS[] = {1, 7, 8, 16, 17, 31, 32, 33, 64, 65, 100};
enum { HQ = 5, HN = 1000, HK = 17, HI_OFF = (HQ * HK * 4 + 7) / 8 * 8 }; /* int64 indices after the distances */
static uint8_t hq[HQ * 128], hdb[HN * 128];

static void run_distance(void *out, size_t c) {
    size_t w = H_WIDTHS[c];
    fe_hamming_distance(hq, HQ, w, hdb, HN, w, w, (int32_t *)out, HN);
}
static void run_topk(void *out, size_t c) {
    size_t w = H_WIDTHS[c];
    fe_hamming_topk(hq, HQ, w, hdb, HN, w, w, HK, 0, (int32_t *)out, (int64_t *)((char *)out + HI_OFF));
}

/* ---- ternary */
static const size_t T_SHAPES[][3] = {{1, 1, 1}, {1, 2048, 33}, {7, 129, 17}, {65, 384, 70}, {9, 4096, 5}};
static int8_t tq[65 * 4096];
static int32_t tqs[65];
static float tsc[65], tws[128];
static uint8_t tw[128 * 1024];

static void run_matmul(void *out, size_t c) {
    size_t m = T_SHAPES[c][0], n = T_SHAPES[c][2], kp = (T_SHAPES[c][1] + 127) / 128 * 128;
    fe_ternary_matmul(tq, kp, tqs, NULL, m, tw, kp, NULL, n, NULL, (int32_t *)out, n, NULL);
}
static void run_matmul_f32(void *out, size_t c) {
    size_t m = T_SHAPES[c][0], n = T_SHAPES[c][2], kp = (T_SHAPES[c][1] + 127) / 128 * 128;
    fe_ternary_matmul(tq, kp, tqs, tsc, m, tw, kp, tws, n, (float *)out, NULL, n, NULL);
}

/* The same with the GEMV layout (the variants that have a kernel for it take their GEMV rows from it). */
static uint8_t til[128 * 1024];
static void run_matmul_il(void *out, size_t c) {
    size_t m = T_SHAPES[c][0], n = T_SHAPES[c][2], kp = (T_SHAPES[c][1] + 127) / 128 * 128;
    fe_ternary_gemv_layout(tw, kp, n, til);
    fe_ternary_matmul(tq, kp, tqs, NULL, m, tw, kp, NULL, n, NULL, (int32_t *)out, n, til);
}

/* ---- gather (float tables and the 2-bit ternary table) */
enum { GV = 300, GDIM = 77, GBAGS = 40 };
static float gtab_f32[GV * GDIM], gweights[GV], gscales[GV];
static uint16_t gtab_f16[GV * GDIM];
static int8_t gtab_i8[GV * GDIM];
static int32_t gids[GBAGS * 30];
static int64_t goff[GBAGS + 1];
static uint8_t gtern[GV * 32];

static void run_gather(void *out, size_t c) {
    static const void *tables[3] = {gtab_f32, gtab_f16, gtab_i8};
    static const int64_t sizes[3] = {4, 2, 1};
    int dtype = (int)(c % 3), opts = (int)(c / 3);
    fe_gather_args a = {tables[dtype], GDIM * sizes[dtype], dtype, GDIM, gids, goff, NULL,
                        (opts & 1) ? gweights : NULL, dtype == FE_TABLE_I8 ? gscales : NULL, opts >> 1,
                        (float *)out, GDIM};
    fe_gather_mean(&a, 0, GBAGS);
}
static void run_gather_f16r(void *out, size_t c) { /* float16 table, weights, each product rounded to float16 */
    fe_gather_args a = {gtab_f16, GDIM * 2, FE_TABLE_F16, GDIM, gids, goff, NULL, gweights, NULL,
                        FE_ROUND_F16 | FE_ROUND_PRODUCT_F16 | (c ? FE_NORMALIZE : 0), (float *)out, GDIM};
    fe_gather_mean(&a, 0, GBAGS);
}
static void run_ternary_gather(void *out, size_t c) { /* the FE_TABLE_T2 dtype of gather_mean */
    fe_gather_args a = {gtern, 32, FE_TABLE_T2, GDIM, gids, goff, NULL, (c & 1) ? gweights : NULL, gscales,
                        (int)(c >> 1), (float *)out, GDIM};
    fe_gather_mean(&a, 0, GBAGS);
}

int main(void) {
    fe_cpu_init();
    printf("features:");
    for (int b = 0; fe_cpu_feature_name(b); b++)
        if (fe_cpu_features() & (1u << b)) printf(" %s", fe_cpu_feature_name(b));
    printf("\n");
    for (size_t i = 0; i < sizeof hq; i++) hq[i] = (uint8_t)rnd();
    for (size_t i = 0; i < sizeof hdb; i++) hdb[i] = (uint8_t)(i % 3 ? rnd() : rnd() & 3); /* some ties */
    for (size_t c = 0; c < sizeof H_WIDTHS / sizeof H_WIDTHS[0]; c++) {
        char what[32];
        snprintf(what, sizeof what, "width %zu", H_WIDTHS[c]);
        check("hamming_distance", run_distance, HQ * HN * 4, c, what);
        check("hamming_topk", run_topk, HI_OFF + HQ * HK * 8, c, what);
        /* the database split on the C worker pool (csrc/pool.c) equals the one scan */
        static int32_t d0[HQ * HK], d1[HQ * HK];
        static int64_t i0[HQ * HK], i1[HQ * HK];
        size_t w = H_WIDTHS[c];
        fe_hamming_topk(hq, HQ, w, hdb, HN, w, w, HK, 0, d0, i0);
        static const size_t PARTS[] = {2, 3, 7, 64};
        for (size_t p = 0; p < sizeof PARTS / sizeof *PARTS; p++) {
            if (fe_hamming_topk_split(hq, HQ, w, hdb, HN, w, w, HK, PARTS[p], d1, i1) ||
                memcmp(d0, d1, sizeof d0) || memcmp(i0, i1, sizeof i0)) {
                printf("FAIL hamming_topk_split %zu parts, %s\n", PARTS[p], what);
                failures++;
            }
        }
    }
    for (size_t i = 0; i < sizeof tw; i++) { /* codes 0..2 only (3 is invalid) */
        uint8_t b = 0;
        for (int p = 0; p < 4; p++) b |= (uint8_t)((rnd() % 3) << (2 * p));
        tw[i] = b;
    }
    for (size_t c = 0; c < sizeof T_SHAPES / sizeof T_SHAPES[0]; c++) {
        size_t m = T_SHAPES[c][0], k = T_SHAPES[c][1], kp = (k + 127) / 128 * 128;
        for (size_t i = 0; i < m; i++) {
            int32_t s = 0;
            for (size_t j = 0; j < kp; j++) {
                int8_t v = j < k ? (int8_t)(c == 4 ? (i & 1 ? 127 : -128) : (int)(rnd() % 256) - 128) : 0;
                tq[i * kp + j] = v;
                s += v;
            }
            tqs[i] = s;
            tsc[i] = 1.0f + (float)(rnd() % 1000) / 7.0f;
        }
        for (size_t j = 0; j < 128; j++) tws[j] = (float)(rnd() % 1000) / 333.0f;
        char what[40];
        snprintf(what, sizeof what, "%zux%zux%zu", m, k, T_SHAPES[c][2]);
        check("ternary_matmul", run_matmul, m * T_SHAPES[c][2] * 4, c, what);
        check("ternary_matmul", run_matmul_f32, m * T_SHAPES[c][2] * 4, c, "float32 out");
        check("ternary_matmul", run_matmul_il, m * T_SHAPES[c][2] * 4, c, "gemv layout");
    }
    for (size_t i = 0; i < GV * GDIM; i++) {
        gtab_f32[i] = (float)((int)(rnd() % 20001) - 10000) / 997.0f;
        gtab_i8[i] = (int8_t)(rnd() & 0xff);
        gtab_f16[i] = (uint16_t)(rnd() & 0x7bff); /* finite halves, subnormals included */
    }
    for (size_t i = 0; i < GV; i++) {
        gweights[i] = (float)(rnd() % 1000) / 250.0f;
        gscales[i] = (float)(rnd() % 1000 + 1) / 500.0f;
    }
    for (size_t i = 0; i < sizeof gtern; i++) {
        uint8_t b = 0;
        for (int p = 0; p < 4; p++) b |= (uint8_t)((rnd() % 3) << (2 * p));
        gtern[i] = b;
    }
    goff[0] = 0;
    for (size_t b = 0; b < GBAGS; b++) goff[b + 1] = goff[b] + (int64_t)(b % 7 == 3 ? 0 : rnd() % 30);
    for (int64_t t = 0; t < goff[GBAGS]; t++) gids[t] = (int32_t)(rnd() % GV);
    static const char *dnames[3] = {"f32", "f16", "i8"};
    for (size_t c = 0; c < 12; c++) {
        char what[40];
        snprintf(what, sizeof what, "%s weights=%d normalize=%d", dnames[c % 3], (int)(c / 3) & 1, (int)(c / 6));
        check_tol("gather_mean", run_gather, GBAGS * GDIM * 4, c, what, c >= 6 ? 1e-6 : 0.0);
    }
    for (size_t c = 0; c < 2; c++)
        check_tol("gather_mean", run_gather_f16r, GBAGS * GDIM * 4, c,
                  c ? "f16 x f16 weights, products rounded, normalize=1" : "f16 x f16 weights, products rounded",
                  c ? 1e-6 : 0.0);
    for (size_t c = 0; c < 4; c++) {
        char what[40];
        snprintf(what, sizeof what, "2-bit weights=%d normalize=%d", (int)(c & 1), (int)(c >> 1));
        check_tol("gather_mean", run_ternary_gather, GBAGS * GDIM * 4, c, what, c >= 2 ? 1e-6 : 0.0);
    }
    printf("%s: %d mismatch(es)\n", failures ? "FAILED" : "all variants equal scalar", failures);
    return failures ? 1 : 0;
}
