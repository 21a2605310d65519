/* Ternary kernels; see ternary.h for the packed format and fastembed_core/_ref/ternary.py for the
 * specification.
 *
 * Every variant computes the same int32 accumulators acc = sum_k q[k] * w[k]. The SIMD variants
 * multiply the unsigned codes c = w + 1 in {0,1,2} with the signed activations q in [-128,127] and
 * subtract the activation row sum afterwards: sum q*c - sum q = sum q*w. Integer sums are exact in
 * any order, so the accumulators are bit-identical across variants.
 *  - AVX2: vpmaddubsw gives int16 pair sums |c0*q0 + c1*q1| <= 2*2*128 = 512; at most 32 of them are
 *    added in int16 (|sum| <= 16384, no wrap) before vpmaddwd widens them to int32 (the GEMV's
 *    4x-scaled odd positions: see GEMV_RUN).
 *  - AVX-512 VNNI: vpdpbusd accumulates 4 products straight into int32; AVX-VNNI (its VEX form on ymm,
 *    CPUs without AVX-512) does the same in the GEMM, detected at run time (variant avx_vnni).
 *  - NEON: SDOT (where the CPU has dotprod, detected at run time) or vmull_s8 + vpadal into int32.
 * GEMV (few rows) decodes the 2-bit codes on the fly; GEMM decodes panels of 16 weight rows once per
 * call into a k-interleaved u8 layout (up to 1 MB of them at a time) and runs every group of mr
 * activation rows against all of them, writing output rows in order.
 */
#include "ternary.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd.h"

#if defined(FE_EMULATE_SIMD) && !defined(_MM_FROUND_NO_EXC)
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC /* SIMDe 0.7 has no native alias for it */
#endif

#define BLOCK FE_TERNARY_BLOCK
#define NR 16  /* weight rows per decoded panel */

/* ---- quantisation ------------------------------------------------------------------------------ */

/* s = 127 / max|x| in float32, clamped to FLT_MAX (tiny rows), 1 for an all-zero row. */
static inline float row_scale(float mx) {
    if (!(mx > 0.0f)) return 1.0f;
    float si = 127.0f / mx;
    return si > FLT_MAX ? FLT_MAX : si;
}

static int quantize_scalar(const float *x, size_t ldx, size_t m, size_t k, int8_t *q, size_t ldq, size_t kp,
                           float *s, int32_t *qsum) {
    for (size_t i = 0; i < m; i++) {
        const float *xi = x + i * ldx;
        int8_t *qi = q + i * ldq;
        float mx = 0.0f;
        int bad = 0;
        for (size_t j = 0; j < k; j++) {
            float a = fabsf(xi[j]);
            bad |= !(a <= FLT_MAX); /* inf or NaN */
            mx = a > mx ? a : mx;
        }
        if (bad) return -1;
        float si = row_scale(mx);
        int32_t sum = 0;
        for (size_t j = 0; j < k; j++) {
            float r = rintf(xi[j] * si); /* float32 product, then round half to even */
            r = r > 127.0f ? 127.0f : (r < -128.0f ? -128.0f : r);
            qi[j] = (int8_t)r;
            sum += qi[j];
        }
        memset(qi + k, 0, kp - k);
        s[i] = si;
        qsum[i] = sum;
    }
    return 0;
}

/* ---- shared helpers --------------------------------------------------------------------------- */

static inline void store_one(int32_t a, size_t i, size_t j, const float *qscale, const float *wscale,
                             float *out, int32_t *acc, size_t ldo) {
    if (out)
        out[i * ldo + j] = (float)a * wscale[j] / qscale[i];
    else
        acc[i * ldo + j] = a;
}

typedef int (*matmul_fn)(const int8_t *, size_t, const int32_t *, const float *, size_t, const uint8_t *,
                         size_t, const float *, size_t, float *, int32_t *, size_t, const uint8_t *);

/* ---- scalar ----------------------------------------------------------------------------------- */

static void decode_block_i8(const uint8_t *blk, int8_t *t) {
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < 32; i++) t[32 * p + i] = (int8_t)(((blk[i] >> (2 * p)) & 3) - 1);
}

static int matmul_scalar(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                         const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                         int32_t *acc, size_t ldo, const uint8_t *il) {
    (void)qsum, (void)il;
    const size_t rb = kp / 4, nb = kp / BLOCK;
    int8_t t[BLOCK];
    for (size_t i0 = 0; i0 < m; i0 += 8) {
        size_t mi = m - i0 < 8 ? m - i0 : 8;
        for (size_t j = 0; j < n; j++) {
            int32_t a[8] = {0};
            for (size_t b = 0; b < nb; b++) {
                decode_block_i8(packed + j * rb + 32 * b, t);
                for (size_t r = 0; r < mi; r++) {
                    const int8_t *qr = q + (i0 + r) * ldq + BLOCK * b;
                    int32_t s = 0;
                    for (int x = 0; x < BLOCK; x++) s += (int32_t)qr[x] * t[x];
                    a[r] += s;
                }
            }
            for (size_t r = 0; r < mi; r++) store_one(a[r], i0 + r, j, qscale, wscale, out, acc, ldo);
        }
    }
    return 0;
}

#ifdef FE_HAVE_X86_SIMD
/* ---- AVX2 ------------------------------------------------------------------------------------- */

/* Sums of the 8 int32 lanes of a0..a3 -> [sum a0, sum a1, sum a2, sum a3]. */
static inline FE_TARGET_AVX2 __m128i hsum4_epi32(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* GEMV: one shift per 32-byte block. With v4 = v >> 4 (16-bit lanes), the codes of positions 0 and
 * 2 are v & 3 and v4 & 3, and v & 0x0c, v4 & 0x0c are 4 * the codes of positions 1 and 3. The even
 * positions are summed in int16 in `e` (<= 2 * 512 per block), the odd (4x scaled) ones in `o`:
 * per block the two vpmaddubsw pair sums lie in [-4096, 4064], so GEMV_RUN = 8 blocks stay within
 * [-32768, 32512] (no wrap). Widened to int32, every lane of `o` is a multiple of 4 and an
 * arithmetic shift by 2 divides it exactly: res = sum(e) + sum(o) / 4 = sum q*c. */
#define GEMV_RUN 8

#if (defined(__GNUC__) || defined(__clang__)) && !defined(FE_EMULATE_SIMD)
/* s += p as one in-place vpaddw/vpaddd: with the plain intrinsic GCC 12 routes every sum through a fresh
 * register and a vmovdqa back, and spills accumulators to the stack (see kernel_4x16_avx2). */
#define FE_ADD16(s, p)                                          \
    do {                                                        \
        __m256i p_ = (p);                                       \
        __asm__("vpaddw %1, %0, %0" : "+x"(s) : "x"(p_));       \
    } while (0)
#else
#define FE_ADD16(s, p) ((s) = _mm256_add_epi16((s), (p)))
#endif

#if (defined(__GNUC__) || defined(__clang__)) && !defined(FE_EMULATE_SIMD)
/* s += vpmaddubsw(c, *xp) with the activations as a memory operand: GCC otherwise keeps the 4
 * activation vectors of a block in registers and spills the accumulators instead. */
#define FE_MADD_ACC(s, c, xp)                                                                   \
    do {                                                                                        \
        __m256i t_;                                                                             \
        __asm__("vpmaddubsw %3, %2, %0\n\tvpaddw %0, %1, %1"                                    \
                : "=&x"(t_), "+x"(s) : "x"(c), "m"(*(const __m256i *)(xp)));                    \
    } while (0)
#else
#define FE_MADD_ACC(s, c, xp) ((s) = _mm256_add_epi16((s), _mm256_maddubs_epi16((c), _mm256_loadu_si256(xp))))
#endif

/* One weight row's block b: e (even code positions) and o (odd, 4x scaled) as described above. */
#define FE_GEMV_ROW(e, o, row)                                                                  \
    do {                                                                                        \
        __m256i v_ = _mm256_loadu_si256((const __m256i *)((row) + 32 * b));                     \
        __m256i v4_ = _mm256_srli_epi16(v_, 4);                                                 \
        FE_MADD_ACC(e, _mm256_and_si256(v_, m3), x);                                            \
        FE_MADD_ACC(o, _mm256_and_si256(v_, mc), x + 1);                                        \
        FE_MADD_ACC(e, _mm256_and_si256(v4_, m3), x + 2);                                       \
        FE_MADD_ACC(o, _mm256_and_si256(v4_, mc), x + 3);                                       \
    } while (0)

static inline FE_TARGET_AVX2 __m256i gemv_widen(__m256i e, __m256i o, __m256i ones) {
    return _mm256_add_epi32(_mm256_madd_epi16(e, ones), _mm256_srai_epi32(_mm256_madd_epi16(o, ones), 2));
}

/* Weight rows w, w + rb, w + 2 rb, w + 3 rb against one activation row: the 8 int16 accumulators,
 * the 2 masks and the decoded codes stay in the 16 ymm registers (the activations are memory
 * operands, from L1; the int32 totals are touched once per run). One prefetch per 64-byte line of each
 * row: pf, rows j + 8.. (or w itself near the end) at the same offset; when the weights are out of L2
 * (a large float matmul in between) the row streams stall the ALU-bound loop. */
static FE_TARGET_AVX2 void gemv_rows4_avx2(const int8_t *qi, const uint8_t *w, size_t rb, size_t nb, int32_t *res,
                                           const uint8_t *pf) {
    const __m256i m3 = _mm256_set1_epi8(3), mc = _mm256_set1_epi8(0x0c), ones = _mm256_set1_epi16(1);
    __m256i t0 = _mm256_setzero_si256(), t1 = t0, t2 = t0, t3 = t0;
    for (size_t b0 = 0; b0 < nb; b0 += GEMV_RUN) {
        size_t b1 = b0 + GEMV_RUN < nb ? b0 + GEMV_RUN : nb;
        __m256i e0 = _mm256_setzero_si256(), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
        for (size_t b = b0; b < b1; b++) {
            const __m256i *x = (const __m256i *)(qi + BLOCK * b);
            if (!(b & 1))
                for (size_t r = 0; r < 4; r++) _mm_prefetch((const char *)(pf + r * rb + 32 * b), _MM_HINT_T0);
            FE_GEMV_ROW(e0, o0, w);
            FE_GEMV_ROW(e1, o1, w + rb);
            FE_GEMV_ROW(e2, o2, w + 2 * rb);
            FE_GEMV_ROW(e3, o3, w + 3 * rb);
        }
        t0 = _mm256_add_epi32(t0, gemv_widen(e0, o0, ones));
        t1 = _mm256_add_epi32(t1, gemv_widen(e1, o1, ones));
        t2 = _mm256_add_epi32(t2, gemv_widen(e2, o2, ones));
        t3 = _mm256_add_epi32(t3, gemv_widen(e3, o3, ones));
    }
    _mm_storeu_si128((__m128i *)res, hsum4_epi32(t0, t1, t2, t3));
}

static FE_TARGET_AVX2 int32_t gemv_row1_avx2(const int8_t *qi, const uint8_t *w, size_t nb) {
    const __m256i m3 = _mm256_set1_epi8(3), mc = _mm256_set1_epi8(0x0c), ones = _mm256_set1_epi16(1);
    __m256i t = _mm256_setzero_si256();
    for (size_t b0 = 0; b0 < nb; b0 += GEMV_RUN) {
        size_t b1 = b0 + GEMV_RUN < nb ? b0 + GEMV_RUN : nb;
        __m256i e = _mm256_setzero_si256(), o = e;
        for (size_t b = b0; b < b1; b++) {
            const __m256i *x = (const __m256i *)(qi + BLOCK * b);
            FE_GEMV_ROW(e, o, w);
        }
        t = _mm256_add_epi32(t, gemv_widen(e, o, ones));
    }
    return fe_reduce_add_epi32_256(t);
}
#undef FE_GEMV_ROW
#undef FE_MADD_ACC

/* One activation row against weight rows [0, n): res[j] = sum q*c (before the qsum correction). */
static FE_TARGET_AVX2 void gemv_row_avx2(const int8_t *qi, const uint8_t *packed, size_t kp, size_t n,
                                         int32_t *res) {
    const size_t rb = kp / 4, nb = kp / BLOCK;
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const uint8_t *w = packed + j * rb;
        gemv_rows4_avx2(qi, w, rb, nb, res + j, j + 12 <= n ? w + 8 * rb : w);
    }
    for (; j < n; j++) res[j] = gemv_row1_avx2(qi, packed + j * rb, nb);
}

/* Decodes weight rows [j0, j0 + ncols) into panel (u8 codes): panel[g * 64 + c * 4 + e] is the code
 * of weight 4g + e of row j0 + c; columns ncols..15 get code 0 (their results are discarded). */
static FE_TARGET_AVX2 void decode_panel_avx2(const uint8_t *packed, size_t kp, size_t j0, size_t ncols,
                                             uint8_t *panel) {
    const size_t rb = kp / 4, nb = kp / BLOCK;
    const __m256i m3 = _mm256_set1_epi8(3);
    uint8_t tmp[32];
    for (size_t c = 0; c < NR; c++) {
        if (c >= ncols) {
            for (size_t g = 0; g < kp / 4; g++) memset(panel + g * 64 + c * 4, 0, 4);
            continue;
        }
        const uint8_t *row = packed + (j0 + c) * rb;
        for (size_t b = 0; b < nb; b++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * b));
            for (int p = 0; p < 4; p++) {
                __m256i cp = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * p)), m3);
                _mm256_storeu_si256((__m256i *)tmp, cp);
                uint8_t *dst = panel + ((BLOCK * b + 32 * p) / 4) * 64 + c * 4;
                for (int t = 0; t < 8; t++) memcpy(dst + t * 64, tmp + 4 * t, 4);
            }
        }
    }
}

static inline int32_t load_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 4 activation rows x 16 panel columns: res[r * 16 + c] = sum q*c. kp is a multiple of 128, so the
 * groups come in whole runs of 32 (<= 32 int16 pair sums of <= 512 per lane: no wrap). The 8 int16
 * accumulators, 2 weight vectors and one broadcast at a time stay in ymm registers through the inner
 * loop (FE_ADD16); the int32 sums are touched once per run. */
/* FE_ADD16 (above, with the GEMV): with the plain intrinsic this kernel took 34 instead of 24
 * instructions per group, one accumulator spilled (a store-to-load chain through memory). */
#define FE_ROW4(R)                                                              \
    x_ = _mm256_set1_epi32(load_i32(q + (R) * ldq + 4 * g));                    \
    FE_ADD16(s##R##0, _mm256_maddubs_epi16(w0, x_));                            \
    FE_ADD16(s##R##1, _mm256_maddubs_epi16(w1, x_));
#define FE_FLUSH4(R)                                                                                    \
    t##R##0 = _mm256_add_epi32(t##R##0, _mm256_madd_epi16(s##R##0, ones));                            \
    t##R##1 = _mm256_add_epi32(t##R##1, _mm256_madd_epi16(s##R##1, ones));
static FE_TARGET_AVX2 void kernel_4x16_avx2(const int8_t *q, size_t ldq, const uint8_t *panel, size_t kp,
                                            int32_t *res) {
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t G = kp / 4;
    __m256i t00 = _mm256_setzero_si256(), t01 = t00, t10 = t00, t11 = t00, t20 = t00, t21 = t00, t30 = t00, t31 = t00;
    for (size_t g0 = 0; g0 < G; g0 += 32) {
        __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;
        __m256i s30 = s00, s31 = s00, x_;
        for (size_t g = g0; g < g0 + 32; g++) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + g * 64));
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + g * 64 + 32));
            FE_ROW4(0) FE_ROW4(1) FE_ROW4(2) FE_ROW4(3)
        }
        FE_FLUSH4(0) FE_FLUSH4(1) FE_FLUSH4(2) FE_FLUSH4(3)
    }
#define FE_STORE4(R)                                              \
    _mm256_storeu_si256((__m256i *)(res + 16 * (R)), t##R##0);    \
    _mm256_storeu_si256((__m256i *)(res + 16 * (R) + 8), t##R##1);
    FE_STORE4(0) FE_STORE4(1) FE_STORE4(2) FE_STORE4(3)
}
#undef FE_ROW4
#undef FE_ADD16
#undef FE_FLUSH4
#undef FE_STORE4

typedef void (*gemv_row_fn)(const int8_t *, const uint8_t *, size_t, size_t, int32_t *);
/* kernel(q, ldq, panels, kp, res): mr activation rows against `width` columns held in consecutive
 * decoded panels (NR columns, NR * kp bytes each); res[r * width + c] = sum q*c. */
typedef void (*kernel_fn)(const int8_t *, size_t, const uint8_t *, size_t, int32_t *);
/* gemv_il(q_row, il, kp, n, res): the GEMV over the row-interleaved layout (fe_ternary_gemv_layout). */
typedef void (*gemv_il_fn)(const int8_t *, const uint8_t *, size_t, size_t, int32_t *);
#define IL_GEMV_ROWS 32

#define PANEL_GROUP_BYTES (1u << 20) /* decoded panels kept (in L2) across all row blocks */

/* out (or acc) for rows [i, i + mr) and columns [j0, j0 + nc) from res (mr rows of `width`, before
 * the qsum correction). Whole vectors of 8 columns: the same float32 cvt, mul, div as store_one. */
static FE_TARGET_AVX2 void store_tile_avx2(const int32_t *res, size_t width, size_t mr, size_t i, size_t j0,
                                           size_t nc, const int32_t *qsum, const float *qscale,
                                           const float *wscale, float *out, int32_t *acc, size_t ldo) {
    for (size_t r = 0; r < mr; r++) {
        const int32_t *rr = res + r * width;
        const __m256i qs = _mm256_set1_epi32(qsum[i + r]);
        size_t c = 0;
        if (out) {
            const __m256 s = _mm256_set1_ps(qscale[i + r]);
            float *o = out + (i + r) * ldo + j0;
            for (; c + 8 <= nc; c += 8) {
                __m256 a = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(rr + c)), qs));
                _mm256_storeu_ps(o + c, _mm256_div_ps(_mm256_mul_ps(a, _mm256_loadu_ps(wscale + j0 + c)), s));
            }
        } else {
            int32_t *o = acc + (i + r) * ldo + j0;
            for (; c + 8 <= nc; c += 8)
                _mm256_storeu_si256((__m256i *)(o + c),
                                    _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(rr + c)), qs));
        }
        for (; c < nc; c++) store_one(rr[c] - qsum[i + r], i + r, j0 + c, qscale, wscale, out, acc, ldo);
    }
}

/* The GEMM / GEMV driver shared by the SIMD variants. Weight rows are decoded once per call, a
 * group of panels (<= PANEL_GROUP_BYTES, in L2) at a time; each full group of mr activation rows
 * then goes through `kernel` against every panel of the group, left to right (two panels at once
 * when `wide` is given and two remain, else `narrow`), so the output rows are written in order.
 * (The order before, column tiles of 256 rows at a large stride, made the AVX2 4x16 kernel 2x
 * slower at 4096 x 384 x 1536 and cost VNNI ~10%.) The remaining m % mr rows go through the GEMV
 * routine (all rows, below IL_GEMV_ROWS, when the variant has a GEMV for the layout il). */
/* Rows of x still to quantise into q (fe_ternary_linear): the driver quantises each block of rows
 * just before its first use, so the float rows stream in while the previous block computes and the
 * int8 rows are still in L1 when the kernel reads them. */
typedef struct {
    const float *x;
    size_t ldx, k;
    int8_t *q;
    float *s;
    int32_t *qsum;
} lazy_rows;

/* fe_ternary_quantize of rows [i, i + mr) of lz; nonzero when they hold an inf or NaN. */
static int quantize_rows(const lazy_rows *lz, size_t i, size_t mr, size_t ldq, size_t kp) {
    return fe_ternary_quantize(lz->x + i * lz->ldx, lz->ldx, mr, lz->k, lz->q + i * ldq, ldq, kp, lz->s + i,
                               lz->qsum + i);
}

/* Returns 0, -1 when a buffer cannot be allocated, 1 when a row of lz holds an inf or NaN. */
static int matmul_driver(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                         const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                         int32_t *acc, size_t ldo, size_t mr, kernel_fn narrow, kernel_fn wide,
                         gemv_row_fn gemv, gemv_il_fn gemv_il, const uint8_t *il, const lazy_rows *lz) {
    if (!gemv_il) il = NULL;
    /* With the GEMV layout, fewer than IL_GEMV_ROWS rows all go through the GEMV: decoding the
     * panels costs more than it saves there (Zen 4, one thread, benchmarks/c/ternary_gemv.c: 8 rows
     * at 2048 x 2048 take 0.48 ms through the GEMM, 0.17 ms as GEMV rows; 16 rows at 1536 x 384, 123
     * against 103 us; 32 rows at 2048 x 2048, even). */
    size_t mfull = il && m < IL_GEMV_ROWS ? 0 : m - m % mr;
    if (mfull) {
        const size_t npan = (n + NR - 1) / NR;
        size_t group = PANEL_GROUP_BYTES / (NR * kp);
        group = group < 2 ? 2 : group;
        group = group > npan ? npan : group;
        uint8_t *panels = (uint8_t *)malloc(group * NR * kp);
        if (!panels) return -1;
        int32_t res[16 * 2 * NR];
        for (size_t p0 = 0; p0 < npan; p0 += group) {
            size_t p1 = p0 + group < npan ? p0 + group : npan;
            for (size_t p = p0; p < p1; p++)
                decode_panel_avx2(packed, kp, p * NR, n - p * NR < NR ? n - p * NR : NR, panels + (p - p0) * NR * kp);
            for (size_t i = 0; i < mfull; i += mr) {
                if (lz && p0 == 0 && quantize_rows(lz, i, mr, ldq, kp)) {
                    free(panels);
                    return 1;
                }
                for (size_t p = p0; p < p1;) {
                    size_t two = wide && p + 1 < p1, j0 = p * NR, width = two ? 2 * NR : NR;
                    size_t nc = n - j0 < width ? n - j0 : width;
                    (two ? wide : narrow)(q + i * ldq, ldq, panels + (p - p0) * NR * kp, kp, res);
                    store_tile_avx2(res, width, mr, i, j0, nc, qsum, qscale, wscale, out, acc, ldo);
                    p += two ? 2 : 1;
                }
            }
        }
        free(panels);
    }
    if (mfull < m) {
        if (lz && quantize_rows(lz, mfull, m - mfull, ldq, kp)) return 1;
        int32_t *res = (int32_t *)malloc((n ? n : 1) * sizeof(int32_t));
        if (!res) return -1;
        for (size_t i = mfull; i < m; i++) {
            if (il)
                gemv_il(q + i * ldq, il, kp, n, res);
            else
                gemv(q + i * ldq, packed, kp, n, res);
            store_tile_avx2(res, n, 1, i, 0, n, qsum, qscale, wscale, out, acc, ldo);
        }
        free(res);
    }
    return 0;
}

static FE_TARGET_AVX2 int matmul_avx2(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale,
                                      size_t m, const uint8_t *packed, size_t kp, const float *wscale, size_t n,
                                      float *out, int32_t *acc, size_t ldo, const uint8_t *il) {
    (void)il;
    return matmul_driver(q, ldq, qsum, qscale, m, packed, kp, wscale, n, out, acc, ldo, 4, kernel_4x16_avx2, NULL,
                         gemv_row_avx2, NULL, NULL, NULL);
}

/* Same as quantize_scalar: max is exact in any order, and vroundps with round-to-nearest-even is
 * rintf; no add follows the product, so nothing can be contracted into an FMA. */
static FE_TARGET_AVX2 int quantize_avx2(const float *x, size_t ldx, size_t m, size_t k, int8_t *q, size_t ldq,
                                        size_t kp, float *s, int32_t *qsum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t i = 0; i < m; i++) {
        const float *xi = x + i * ldx;
        int8_t *qi = q + i * ldq;
        __m256 vmx = _mm256_setzero_ps(), vbad = _mm256_setzero_ps();
        const __m256 fmax = _mm256_set1_ps(FLT_MAX);
        size_t j = 0;
        /* four independent max chains (vmaxps latency 4): max is exact in any order; NaN/inf are
         * caught by the compare before the max, so max's NaN rule never matters */
        __m256 m1 = vmx, m2 = vmx, m3 = vmx, b1 = vbad;
        for (; j + 32 <= k; j += 32) {
            __m256 a0 = _mm256_and_ps(absmask, _mm256_loadu_ps(xi + j));
            __m256 a1 = _mm256_and_ps(absmask, _mm256_loadu_ps(xi + j + 8));
            __m256 a2 = _mm256_and_ps(absmask, _mm256_loadu_ps(xi + j + 16));
            __m256 a3 = _mm256_and_ps(absmask, _mm256_loadu_ps(xi + j + 24));
            vbad = _mm256_or_ps(vbad, _mm256_or_ps(_mm256_cmp_ps(a0, fmax, _CMP_NLE_UQ), _mm256_cmp_ps(a1, fmax, _CMP_NLE_UQ)));
            b1 = _mm256_or_ps(b1, _mm256_or_ps(_mm256_cmp_ps(a2, fmax, _CMP_NLE_UQ), _mm256_cmp_ps(a3, fmax, _CMP_NLE_UQ)));
            vmx = _mm256_max_ps(vmx, a0);
            m1 = _mm256_max_ps(m1, a1);
            m2 = _mm256_max_ps(m2, a2);
            m3 = _mm256_max_ps(m3, a3);
        }
        vmx = _mm256_max_ps(_mm256_max_ps(vmx, m1), _mm256_max_ps(m2, m3));
        vbad = _mm256_or_ps(vbad, b1);
        for (; j + 8 <= k; j += 8) {
            __m256 a = _mm256_and_ps(absmask, _mm256_loadu_ps(xi + j));
            vbad = _mm256_or_ps(vbad, _mm256_cmp_ps(a, fmax, _CMP_NLE_UQ)); /* inf or NaN */
            vmx = _mm256_max_ps(vmx, a);
        }
        int bad = _mm256_movemask_ps(vbad) != 0;
        float lanes[8];
        _mm256_storeu_ps(lanes, vmx);
        float mx = 0.0f;
        for (int t = 0; t < 8; t++) mx = lanes[t] > mx ? lanes[t] : mx;
        for (; j < k; j++) {
            float a = fabsf(xi[j]);
            bad |= !(a <= FLT_MAX);
            mx = a > mx ? a : mx;
        }
        if (bad) return -1;
        float si = row_scale(mx);
        const __m256 vs = _mm256_set1_ps(si);
        __m256i vsum = _mm256_setzero_si256();
        j = 0;
        for (; j + 32 <= k; j += 32) {
            __m256i v[4];
            for (int t = 0; t < 4; t++) {
                __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xi + j + 8 * t), vs),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                v[t] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
                vsum = _mm256_add_epi32(vsum, v[t]);
            }
            __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
            _mm256_storeu_si256((__m256i *)(qi + j), _mm256_permutevar8x32_epi32(p8, order));
        }
        int32_t sum = fe_reduce_add_epi32_256(vsum);
        for (; j < k; j++) {
            float r = rintf(xi[j] * si);
            r = r > 127.0f ? 127.0f : (r < -128.0f ? -128.0f : r);
            qi[j] = (int8_t)r;
            sum += qi[j];
        }
        memset(qi + k, 0, kp - k);
        s[i] = si;
        qsum[i] = sum;
    }
    return 0;
}

/* ---- AVX-512 VNNI ----------------------------------------------------------------------------- */

static FE_TARGET_AVX512_VNNI void gemv_row_vnni256(const int8_t *qi, const uint8_t *packed, size_t kp, size_t n,
                                                int32_t *res) {
    const size_t rb = kp / 4, nb = kp / BLOCK;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (size_t j = 0; j < n; j++) {
        const uint8_t *w = packed + j * rb;
        __m256i a = _mm256_setzero_si256();
        for (size_t b = 0; b < nb; b++) {
            const int8_t *x = qi + BLOCK * b;
            __m256i v = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(v, m3), _mm256_loadu_si256((const __m256i *)x));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(_mm256_srli_epi16(v, 2), m3),
                                    _mm256_loadu_si256((const __m256i *)(x + 32)));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(_mm256_srli_epi16(v, 4), m3),
                                    _mm256_loadu_si256((const __m256i *)(x + 64)));
            a = _mm256_dpbusd_epi32(a, _mm256_and_si256(_mm256_srli_epi16(v, 6), m3),
                                    _mm256_loadu_si256((const __m256i *)(x + 96)));
        }
        res[j] = fe_reduce_add_epi32_256(a);
    }
}

/* 512-bit GEMV: one zmm holds two 32-byte blocks (256 weights). The codes are not shifted down:
 * v & (3 << 2p) is 4^p * code, so vpdpbusd against the activations of position p accumulates
 * 4^p * sum(code * q) in acc_p, whose every lane stays a multiple of 4^p; an arithmetic shift
 * right by 2p then divides it exactly. That saves three shifts per 256 weights. The activations
 * are first rearranged so that the 64 bytes paired with position p of blocks (b, b+1) are
 * contiguous (zeros after an odd last block). */
#define PAIR_BYTES 256 /* rearranged activation bytes per pair of blocks */
#define GEMV_CHUNK 1024 /* block pairs per chunk: |lane of acc_3| <= 64 * 4 * 256 * 1024 < 2^31 */

static void interleave_block_pairs(const int8_t *qi, size_t nb, int8_t *xp) {
    for (size_t b = 0; b < nb; b += 2)
        for (int p = 0; p < 4; p++) {
            int8_t *d = xp + (b / 2) * PAIR_BYTES + 64 * p;
            memcpy(d, qi + BLOCK * b + 32 * p, 32);
            if (b + 1 < nb)
                memcpy(d + 32, qi + BLOCK * (b + 1) + 32 * p, 32);
            else
                memset(d + 32, 0, 32);
        }
}

/* Weight bytes of blocks (2t, 2t + 1) of a row; the upper half is zero past the last block. */
static inline FE_TARGET_AVX512_VNNI __m512i load_pair(const uint8_t *row, size_t t, size_t nb) {
    if (2 * t + 1 < nb) return _mm512_loadu_si512((const void *)(row + 64 * t));
    return _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_loadu_si256((const __m256i *)(row + 64 * t)), 0);
}

static inline FE_TARGET_AVX512_VNNI __m512i combine_scaled(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    return _mm512_add_epi32(_mm512_add_epi32(a0, fe_srai_epi32_512(a1, 2)),
                            _mm512_add_epi32(fe_srai_epi32_512(a2, 4), fe_srai_epi32_512(a3, 6)));
}

#define VNNI_DOT4(A, V)                                                              \
    do {                                                                             \
        __m512i v_ = (V);                                                            \
        A##0 = _mm512_dpbusd_epi32(A##0, _mm512_and_si512(v_, k0), x0);              \
        A##1 = _mm512_dpbusd_epi32(A##1, _mm512_and_si512(v_, k1), x1);              \
        A##2 = _mm512_dpbusd_epi32(A##2, _mm512_and_si512(v_, k2), x2);              \
        A##3 = _mm512_dpbusd_epi32(A##3, _mm512_and_si512(v_, k3), x3);              \
    } while (0)

/* res[r] = sum(q * code) of weight rows w + r * rb (r < nr, nr = 4 or 1) against xp. */
static FE_TARGET_AVX512_VNNI void gemv_rows_vnni512(const int8_t *xp, const uint8_t *w, size_t rb, size_t nb,
                                                    size_t nr, int32_t *res, const uint8_t *pf) {
    const __m512i k0 = _mm512_set1_epi8(0x03), k1 = _mm512_set1_epi8(0x0c), k2 = _mm512_set1_epi8(0x30),
                  k3 = _mm512_set1_epi8((char)0xc0);
    const size_t npairs = (nb + 1) / 2;
    __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;
    for (size_t u0 = 0; u0 < npairs; u0 += GEMV_CHUNK) {
        size_t u1 = u0 + GEMV_CHUNK < npairs ? u0 + GEMV_CHUNK : npairs;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        __m512i e0 = a0, e1 = a0, e2 = a0, e3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        if (nr == 4) {
            for (size_t t = u0; t < u1; t++) {
                const int8_t *x = xp + t * PAIR_BYTES;
                /* pf: the rows 8 ahead (or w itself near the end), same offset, as in the AVX2 GEMV */
                for (size_t r = 0; r < 4; r++) _mm_prefetch((const char *)(pf + r * rb + 64 * t), _MM_HINT_T0);
                __m512i x0 = _mm512_loadu_si512((const void *)x), x1 = _mm512_loadu_si512((const void *)(x + 64));
                __m512i x2 = _mm512_loadu_si512((const void *)(x + 128)), x3 = _mm512_loadu_si512((const void *)(x + 192));
                VNNI_DOT4(a, load_pair(w, t, nb));
                VNNI_DOT4(b, load_pair(w + rb, t, nb));
                VNNI_DOT4(e, load_pair(w + 2 * rb, t, nb));
                VNNI_DOT4(d, load_pair(w + 3 * rb, t, nb));
            }
        } else {
            for (size_t t = u0; t < u1; t++) {
                const int8_t *x = xp + t * PAIR_BYTES;
                /* pf: the rows 8 ahead (or w itself near the end), same offset, as in the AVX2 GEMV */
                for (size_t r = 0; r < 4; r++) _mm_prefetch((const char *)(pf + r * rb + 64 * t), _MM_HINT_T0);
                __m512i x0 = _mm512_loadu_si512((const void *)x), x1 = _mm512_loadu_si512((const void *)(x + 64));
                __m512i x2 = _mm512_loadu_si512((const void *)(x + 128)), x3 = _mm512_loadu_si512((const void *)(x + 192));
                VNNI_DOT4(a, load_pair(w, t, nb));
            }
        }
        t0 = _mm512_add_epi32(t0, combine_scaled(a0, a1, a2, a3));
        t1 = _mm512_add_epi32(t1, combine_scaled(b0, b1, b2, b3));
        t2 = _mm512_add_epi32(t2, combine_scaled(e0, e1, e2, e3));
        t3 = _mm512_add_epi32(t3, combine_scaled(d0, d1, d2, d3));
    }
    res[0] = fe_reduce_add_epi32_512(t0);
    if (nr == 4) {
        res[1] = fe_reduce_add_epi32_512(t1);
        res[2] = fe_reduce_add_epi32_512(t2);
        res[3] = fe_reduce_add_epi32_512(t3);
    }
}

/* One activation row against weight rows [0, n) with the 512-bit routine above. */
static FE_TARGET_AVX512_VNNI void gemv_row_vnni(const int8_t *qi, const uint8_t *packed, size_t kp, size_t n,
                                                int32_t *res) {
    const size_t rb = kp / 4, nb = kp / BLOCK, bytes = (nb + 1) / 2 * PAIR_BYTES;
    int8_t stackbuf[8192 + PAIR_BYTES];
    int8_t *xp = bytes <= sizeof(stackbuf) ? stackbuf : (int8_t *)malloc(bytes);
    if (!xp) { /* no memory for the rearranged row: the 256-bit routine needs none */
        gemv_row_vnni256(qi, packed, kp, n, res);
        return;
    }
    interleave_block_pairs(qi, nb, xp);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const uint8_t *w = packed + j * rb;
        gemv_rows_vnni512(xp, w, rb, nb, 4, res + j, j + 12 <= n ? w + 8 * rb : w);
    }
    for (; j < n; j++) gemv_rows_vnni512(xp, packed + j * rb, rb, nb, 1, res + j, NULL);
    if (xp != stackbuf) free(xp);
}

/* ---- the GEMV over the row-interleaved layout (fe_ternary_gemv_layout) ----
 * One zmm holds 4 bytes of each of 16 weight rows (lane r = row r); byte j of step s carries the
 * codes of weights 16s + 4p + j at bits 2p, so the 4 activations paired with bit position p are the
 * consecutive bytes 16s + 4p .. 16s + 4p + 3 of the row: one broadcast dword, no rearrangement.
 * The lanes are the outputs: no horizontal sums. Codes are masked in place (4^p * code, as in
 * gemv_rows_vnni512) and the position accumulators are shifted back at the end of a chunk. Two
 * groups of 16 rows share the broadcasts (8 independent accumulators); an odd last group runs
 * against itself as the second (the duplicate result is dropped). ~1.0 cycle per vpdpbusd on Zen 4
 * against ~1.5 for gemv_rows_vnni512 at k = 2048, where 8 block pairs per row group leave its
 * horizontal sums in the critical path. */
#define IL_CHUNK 16384 /* steps per chunk: |lane of acc_3| <= 16384 * 4 * (64 * 2) * 128 = 2^30 */

static FE_TARGET_AVX512_VNNI void gemv_il_vnni(const int8_t *qi, const uint8_t *il, size_t kp, size_t n,
                                               int32_t *res) {
    const __m512i k0 = _mm512_set1_epi8(0x03), k1 = _mm512_set1_epi8(0x0c), k2 = _mm512_set1_epi8(0x30),
                  k3 = _mm512_set1_epi8((char)0xc0);
    const size_t S = kp / 16, gbytes = 4 * kp, ng = (n + 15) / 16;
    for (size_t g = 0; g < ng; g += 2) {
        const uint8_t *wa = il + g * gbytes, *wb = g + 1 < ng ? wa + gbytes : wa;
        __m512i ta = _mm512_setzero_si512(), tb = ta;
        for (size_t s0 = 0; s0 < S; s0 += IL_CHUNK) {
            const size_t s1 = s0 + IL_CHUNK < S ? s0 + IL_CHUNK : S;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (size_t s = s0; s < s1; s++) {
                const int8_t *x = qi + 16 * s;
                const __m512i v = _mm512_loadu_si512((const void *)(wa + 64 * s));
                const __m512i u = _mm512_loadu_si512((const void *)(wb + 64 * s));
                __m512i y = _mm512_set1_epi32(load_i32(x));
                a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(v, k0), y);
                b0 = _mm512_dpbusd_epi32(b0, _mm512_and_si512(u, k0), y);
                y = _mm512_set1_epi32(load_i32(x + 4));
                a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(v, k1), y);
                b1 = _mm512_dpbusd_epi32(b1, _mm512_and_si512(u, k1), y);
                y = _mm512_set1_epi32(load_i32(x + 8));
                a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(v, k2), y);
                b2 = _mm512_dpbusd_epi32(b2, _mm512_and_si512(u, k2), y);
                y = _mm512_set1_epi32(load_i32(x + 12));
                a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(v, k3), y);
                b3 = _mm512_dpbusd_epi32(b3, _mm512_and_si512(u, k3), y);
            }
            ta = _mm512_add_epi32(ta, combine_scaled(a0, a1, a2, a3));
            tb = _mm512_add_epi32(tb, combine_scaled(b0, b1, b2, b3));
        }
        for (size_t h = 0; h < 2 && g + h < ng; h++) {
            const size_t j = 16 * (g + h), left = n - j;
            if (left >= 16) {
                _mm512_storeu_si512((void *)(res + j), h ? tb : ta);
            } else { /* the rows past n are dropped */
                int32_t last[16];
                _mm512_storeu_si512((void *)last, h ? tb : ta);
                memcpy(res + j, last, left * sizeof(int32_t));
            }
        }
    }
}

/* 8 activation rows x 16 panel columns with vpdpbusd (one zmm = 16 columns x 4 codes). */
static FE_TARGET_AVX512_VNNI void kernel_8x16_vnni(const int8_t *q, size_t ldq, const uint8_t *panel, size_t kp,
                                                   int32_t *res) {
    const size_t G = kp / 4;
    __m512i r0 = _mm512_setzero_si512(), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0;
    for (size_t g = 0; g < G; g++) {
        __m512i w = _mm512_loadu_si512((const void *)(panel + g * 64));
        const int8_t *x = q + 4 * g;
        r0 = _mm512_dpbusd_epi32(r0, w, _mm512_set1_epi32(load_i32(x)));
        r1 = _mm512_dpbusd_epi32(r1, w, _mm512_set1_epi32(load_i32(x + ldq)));
        r2 = _mm512_dpbusd_epi32(r2, w, _mm512_set1_epi32(load_i32(x + 2 * ldq)));
        r3 = _mm512_dpbusd_epi32(r3, w, _mm512_set1_epi32(load_i32(x + 3 * ldq)));
        r4 = _mm512_dpbusd_epi32(r4, w, _mm512_set1_epi32(load_i32(x + 4 * ldq)));
        r5 = _mm512_dpbusd_epi32(r5, w, _mm512_set1_epi32(load_i32(x + 5 * ldq)));
        r6 = _mm512_dpbusd_epi32(r6, w, _mm512_set1_epi32(load_i32(x + 6 * ldq)));
        r7 = _mm512_dpbusd_epi32(r7, w, _mm512_set1_epi32(load_i32(x + 7 * ldq)));
    }
    _mm512_storeu_si512((void *)(res + 0), r0);
    _mm512_storeu_si512((void *)(res + 16), r1);
    _mm512_storeu_si512((void *)(res + 32), r2);
    _mm512_storeu_si512((void *)(res + 48), r3);
    _mm512_storeu_si512((void *)(res + 64), r4);
    _mm512_storeu_si512((void *)(res + 80), r5);
    _mm512_storeu_si512((void *)(res + 96), r6);
    _mm512_storeu_si512((void *)(res + 112), r7);
}

/* 8 activation rows x 32 columns (two consecutive panels): 16 independent accumulators hide the
 * vpdpbusd latency, and each broadcast activation word feeds two of them. */
static FE_TARGET_AVX512_VNNI void kernel_8x32_vnni(const int8_t *q, size_t ldq, const uint8_t *panel, size_t kp,
                                                   int32_t *res) {
    const size_t G = kp / 4;
    const uint8_t *panel1 = panel + NR * kp;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
    for (size_t g = 0; g < G; g++) {
        __m512i w0 = _mm512_loadu_si512((const void *)(panel + g * 64));
        __m512i w1 = _mm512_loadu_si512((const void *)(panel1 + g * 64));
        const int8_t *x = q + 4 * g;
        __m512i x_;
#define FE_ROW8x32(R)                                          \
        x_ = _mm512_set1_epi32(load_i32(x + (R) * ldq));       \
        a##R = _mm512_dpbusd_epi32(a##R, w0, x_);              \
        b##R = _mm512_dpbusd_epi32(b##R, w1, x_);
        FE_ROW8x32(0) FE_ROW8x32(1) FE_ROW8x32(2) FE_ROW8x32(3)
        FE_ROW8x32(4) FE_ROW8x32(5) FE_ROW8x32(6) FE_ROW8x32(7)
#undef FE_ROW8x32
    }
#define FE_STORE8x32(R)                                                \
    _mm512_storeu_si512((void *)(res + 32 * (R)), a##R);               \
    _mm512_storeu_si512((void *)(res + 32 * (R) + 16), b##R);
    FE_STORE8x32(0) FE_STORE8x32(1) FE_STORE8x32(2) FE_STORE8x32(3)
    FE_STORE8x32(4) FE_STORE8x32(5) FE_STORE8x32(6) FE_STORE8x32(7)
#undef FE_STORE8x32
}

static FE_TARGET_AVX512_VNNI int matmul_vnni(const int8_t *q, size_t ldq, const int32_t *qsum,
                                             const float *qscale, size_t m, const uint8_t *packed, size_t kp,
                                             const float *wscale, size_t n, float *out, int32_t *acc, size_t ldo, const uint8_t *il) {
    return matmul_driver(q, ldq, qsum, qscale, m, packed, kp, wscale, n, out, acc, ldo, 8, kernel_8x16_vnni, kernel_8x32_vnni,
                         gemv_row_vnni, gemv_il_vnni, il, NULL);
}

#ifdef FE_HAVE_AVX_VNNI
/* ---- AVX-VNNI (VEX vpdpbusd on ymm, CPUs without AVX-512) ------------------------------------- */

/* 6 activation rows x 16 panel columns, vpdpbusd straight into int32: 12 accumulators, 2 weight
 * vectors and one broadcast fill 15 of the 16 ymm registers. */
static FE_TARGET_AVX_VNNI void kernel_6x16_avxvnni(const int8_t *q, size_t ldq, const uint8_t *panel, size_t kp,
                                                   int32_t *res) {
    const size_t G = kp / 4;
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
    __m256i a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
    for (size_t g = 0; g < G; g++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + g * 64));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + g * 64 + 32));
        __m256i x_;
#define FE_ROW6(R)                                                  \
        x_ = _mm256_set1_epi32(load_i32(q + (R) * ldq + 4 * g));    \
        a##R##0 = _mm256_dpbusd_avx_epi32(a##R##0, w0, x_);         \
        a##R##1 = _mm256_dpbusd_avx_epi32(a##R##1, w1, x_);
        FE_ROW6(0) FE_ROW6(1) FE_ROW6(2) FE_ROW6(3) FE_ROW6(4) FE_ROW6(5)
#undef FE_ROW6
    }
#define FE_STORE6(R)                                               \
    _mm256_storeu_si256((__m256i *)(res + 16 * (R)), a##R##0);     \
    _mm256_storeu_si256((__m256i *)(res + 16 * (R) + 8), a##R##1);
    FE_STORE6(0) FE_STORE6(1) FE_STORE6(2) FE_STORE6(3) FE_STORE6(4) FE_STORE6(5)
#undef FE_STORE6
}

/* The GEMV (and the m % 6 rest) goes through the AVX2 routine. */
static FE_TARGET_AVX_VNNI int matmul_avxvnni(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale,
                                             size_t m, const uint8_t *packed, size_t kp, const float *wscale,
                                             size_t n, float *out, int32_t *acc, size_t ldo, const uint8_t *il) {
    (void)il;
    return matmul_driver(q, ldq, qsum, qscale, m, packed, kp, wscale, n, out, acc, ldo, 6, kernel_6x16_avxvnni, NULL,
                         gemv_row_avx2, NULL, NULL, NULL);
}
#endif

/* fe_ternary_linear's multiply for the x86 variants: the driver quantises as it goes (lazy_rows).
 * Returns 1 (and multiplies nothing) when fn is not one of them, else as fe_ternary_linear. */
static int linear_x86(fe_fn fn, const lazy_rows *lz, size_t m, const uint8_t *packed, size_t kp, const float *wscale,
                      size_t n, float *out, size_t ldo, const uint8_t *il) {
    int rc;
    if (fn == (fe_fn)matmul_vnni)
        rc = matmul_driver(lz->q, kp, lz->qsum, lz->s, m, packed, kp, wscale, n, out, NULL, ldo, 8, kernel_8x16_vnni,
                           kernel_8x32_vnni, gemv_row_vnni, gemv_il_vnni, il, lz);
#ifdef FE_HAVE_AVX_VNNI
    else if (fn == (fe_fn)matmul_avxvnni)
        rc = matmul_driver(lz->q, kp, lz->qsum, lz->s, m, packed, kp, wscale, n, out, NULL, ldo, 6,
                           kernel_6x16_avxvnni, NULL, gemv_row_avx2, NULL, NULL, lz);
#endif
    else if (fn == (fe_fn)matmul_avx2)
        rc = matmul_driver(lz->q, kp, lz->qsum, lz->s, m, packed, kp, wscale, n, out, NULL, ldo, 4, kernel_4x16_avx2,
                           NULL, gemv_row_avx2, NULL, NULL, lz);
    else
        return 1;
    return rc == 1 ? -1 : (rc ? -2 : 0);
}
#endif /* FE_HAVE_X86_SIMD */

#ifdef FE_HAVE_NEON
/* ---- NEON (aarch64) ---------------------------------------------------------------------------- */

/* Codes of position p (weights 32p .. 32p + 31 of a block) as two int8x16 (values 0..2). */
#define FE_NEON_CODES(v, p) vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8((v), 2 * (p)), vdupq_n_u8(3)))

/* sum(q * code) for 4 (or 1) weight rows with SDOT (Armv8.2 dotprod: 4 products into each int32). */
static FE_TARGET_DOTPROD void gemv_rows_dotprod(const int8_t *qi, const uint8_t *w, size_t rb, size_t nb,
                                                size_t nr, int32_t *res) {
    int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (size_t b = 0; b < nb; b++) {
        const int8_t *x = qi + BLOCK * b;
        int8x16_t xs[8];
        for (int t = 0; t < 8; t++) xs[t] = vld1q_s8(x + 16 * t);
        for (size_t r = 0; r < nr; r++) {
            const uint8_t *blk = w + r * rb + 32 * b;
            uint8x16_t v0 = vld1q_u8(blk), v1 = vld1q_u8(blk + 16);
            int32x4_t s = a[r];
            s = vdotq_s32(s, FE_NEON_CODES(v0, 0), xs[0]);
            s = vdotq_s32(s, FE_NEON_CODES(v1, 0), xs[1]);
            s = vdotq_s32(s, FE_NEON_CODES(v0, 1), xs[2]);
            s = vdotq_s32(s, FE_NEON_CODES(v1, 1), xs[3]);
            s = vdotq_s32(s, FE_NEON_CODES(v0, 2), xs[4]);
            s = vdotq_s32(s, FE_NEON_CODES(v1, 2), xs[5]);
            s = vdotq_s32(s, FE_NEON_CODES(v0, 3), xs[6]);
            s = vdotq_s32(s, FE_NEON_CODES(v1, 3), xs[7]);
            a[r] = s;
        }
    }
    for (size_t r = 0; r < nr; r++) res[r] = vaddvq_s32(a[r]);
}

/* int16 products (|code * q| <= 256) pairwise-added into int32 lanes: exact, no dotprod needed. */
static inline int32x4_t mla_codes_neon(int32x4_t acc, int8x16_t c, int8x16_t x) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(c), vget_low_s8(x)));
    return vpadalq_s16(acc, vmull_high_s8(c, x));
}

static void gemv_rows_neon(const int8_t *qi, const uint8_t *w, size_t rb, size_t nb, size_t nr, int32_t *res) {
    int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (size_t b = 0; b < nb; b++) {
        const int8_t *x = qi + BLOCK * b;
        int8x16_t xs[8];
        for (int t = 0; t < 8; t++) xs[t] = vld1q_s8(x + 16 * t);
        for (size_t r = 0; r < nr; r++) {
            const uint8_t *blk = w + r * rb + 32 * b;
            uint8x16_t v0 = vld1q_u8(blk), v1 = vld1q_u8(blk + 16);
            int32x4_t s = a[r];
            s = mla_codes_neon(s, FE_NEON_CODES(v0, 0), xs[0]);
            s = mla_codes_neon(s, FE_NEON_CODES(v1, 0), xs[1]);
            s = mla_codes_neon(s, FE_NEON_CODES(v0, 1), xs[2]);
            s = mla_codes_neon(s, FE_NEON_CODES(v1, 1), xs[3]);
            s = mla_codes_neon(s, FE_NEON_CODES(v0, 2), xs[4]);
            s = mla_codes_neon(s, FE_NEON_CODES(v1, 2), xs[5]);
            s = mla_codes_neon(s, FE_NEON_CODES(v0, 3), xs[6]);
            s = mla_codes_neon(s, FE_NEON_CODES(v1, 3), xs[7]);
            a[r] = s;
        }
    }
    for (size_t r = 0; r < nr; r++) res[r] = vaddvq_s32(a[r]);
}

typedef void (*rows_fn)(const int8_t *, const uint8_t *, size_t, size_t, size_t, int32_t *);

/* Row by row, four weight rows per pass (the activation block is loaded once for the four). */
static int matmul_rows_neon(rows_fn rows, const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale,
                            size_t m, const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                            int32_t *acc, size_t ldo) {
    const size_t rb = kp / 4, nb = kp / BLOCK;
    for (size_t i = 0; i < m; i++) {
        int32_t res[4];
        for (size_t j = 0; j < n; j += 4) {
            size_t nr = n - j < 4 ? n - j : 4;
            if (nr == 4) {
                rows(q + i * ldq, packed + j * rb, rb, nb, 4, res);
            } else {
                for (size_t r = 0; r < nr; r++) rows(q + i * ldq, packed + (j + r) * rb, rb, nb, 1, res + r);
            }
            for (size_t r = 0; r < nr; r++) store_one(res[r] - qsum[i], i, j + r, qscale, wscale, out, acc, ldo);
        }
    }
    return 0;
}

static FE_TARGET_DOTPROD int matmul_dotprod(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale,
                                            size_t m, const uint8_t *packed, size_t kp, const float *wscale,
                                            size_t n, float *out, int32_t *acc, size_t ldo, const uint8_t *il) {
    (void)il;
    return matmul_rows_neon(gemv_rows_dotprod, q, ldq, qsum, qscale, m, packed, kp, wscale, n, out, acc, ldo);
}

static int matmul_neon(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                       const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out, int32_t *acc,
                       size_t ldo, const uint8_t *il) {
    (void)il;
    return matmul_rows_neon(gemv_rows_neon, q, ldq, qsum, qscale, m, packed, kp, wscale, n, out, acc, ldo);
}

#endif /* FE_HAVE_NEON */

/* ---- dispatch --------------------------------------------------------------------------------- */

static const fe_variant matmul_variants[] = {
#ifdef FE_HAVE_X86_SIMD
    {"avx512_vnni", FE_NEED_AVX512 | FE_CPU_AVX512VNNI, (fe_fn)matmul_vnni},
#ifdef FE_HAVE_AVX_VNNI
    {"avx_vnni", FE_NEED_AVX2 | FE_CPU_AVXVNNI, (fe_fn)matmul_avxvnni},
#endif
    {"avx2", FE_NEED_AVX2, (fe_fn)matmul_avx2},
#endif
#ifdef FE_HAVE_NEON
    {"neon_dotprod", FE_CPU_NEON | FE_CPU_NEON_DOTPROD, (fe_fn)matmul_dotprod},
    {"neon", FE_CPU_NEON, (fe_fn)matmul_neon},
#endif
    {"scalar", 0, (fe_fn)matmul_scalar},
};
static fe_kernel matmul_kernel = {"ternary_matmul", matmul_variants,
                                  (int)(sizeof(matmul_variants) / sizeof(matmul_variants[0])), 0};

typedef int (*quantize_fn)(const float *, size_t, size_t, size_t, int8_t *, size_t, size_t, float *, int32_t *);
static const fe_variant quantize_variants[] = {
#ifdef FE_HAVE_X86_SIMD
    {"avx2", FE_NEED_AVX2, (fe_fn)quantize_avx2},
#endif
    {"scalar", 0, (fe_fn)quantize_scalar},
};
static fe_kernel quantize_kernel = {"ternary_quantize", quantize_variants,
                                    (int)(sizeof(quantize_variants) / sizeof(quantize_variants[0])), 0};

int fe_ternary_quantize(const float *x, size_t ldx, size_t m, size_t k, int8_t *q, size_t ldq, size_t kp,
                        float *s, int32_t *qsum) {
    return FE_ACTIVE(quantize_kernel, quantize_fn)(x, ldx, m, k, q, ldq, kp, s, qsum);
}

int fe_ternary_matmul(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                      const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                      int32_t *acc, size_t ldo, const uint8_t *il) {
    if (m == 0 || n == 0) return 0;
    return FE_ACTIVE(matmul_kernel, matmul_fn)(q, ldq, qsum, qscale, m, packed, kp, wscale, n, out, acc, ldo, il);
}

int fe_ternary_gemv_layout_used(void) {
#ifdef FE_HAVE_X86_SIMD
    return matmul_kernel.variants[matmul_kernel.active].fn == (fe_fn)matmul_vnni;
#else
    return 0;
#endif
}

size_t fe_ternary_gemv_layout_bytes(size_t n, size_t kp) { return (n + 15) / 16 * 16 * (kp / 4); }

void fe_ternary_gemv_layout(const uint8_t *packed, size_t kp, size_t n, uint8_t *il) {
    const size_t rb = kp / 4, S = kp / 16, ng = (n + 15) / 16;
    for (size_t g = 0; g < ng; g++)
        for (size_t st = 0; st < S; st++)
            for (size_t r = 0; r < 16; r++) {
                const size_t row = 16 * g + r;
                for (size_t j = 0; j < 4; j++) {
                    unsigned b = 0x55; /* rows past n: code 1 (weight 0) */
                    if (row < n) {
                        b = 0;
                        for (size_t p = 0; p < 4; p++) {
                            const size_t t = 16 * st + 4 * p + j; /* weight 128 blk + 32 pos + i */
                            const unsigned c = (packed[row * rb + 32 * (t / 128) + t % 32] >> (2 * ((t % 128) / 32))) & 3;
                            b |= c << (2 * p);
                        }
                    }
                    il[((g * S + st) * 16 + r) * 4 + j] = (uint8_t)b;
                }
            }
}

int fe_ternary_linear(const float *x, size_t ldx, size_t m, size_t k, const uint8_t *packed, size_t kp,
                      const float *wscale, size_t n, float *out, size_t ldo, const uint8_t *il) {
    if (m == 0 || n == 0) return 0;
    enum { STACK_ROWS = 4, STACK_BYTES = 4 * 4096 };
    int8_t qbuf[STACK_BYTES];
    float sbuf[STACK_ROWS];
    int32_t sumbuf[STACK_ROWS];
    int8_t *q = qbuf, *heap = NULL;
    float *s = sbuf;
    int32_t *qsum = sumbuf;
    if (m > STACK_ROWS || kp > STACK_BYTES / STACK_ROWS) {
        if (m > (SIZE_MAX / 2) / (kp + 8)) return -2;
        heap = (int8_t *)malloc(m * (kp + 8));
        if (!heap) return -2;
        q = heap;
        s = (float *)(heap + m * kp); /* kp is a multiple of 128: s and qsum stay aligned */
        qsum = (int32_t *)(heap + m * kp + 4 * m);
    }
    int rc;
#ifdef FE_HAVE_X86_SIMD
    const lazy_rows lz = {x, ldx, k, q, s, qsum};
    rc = linear_x86(matmul_kernel.variants[matmul_kernel.active].fn, &lz, m, packed, kp, wscale, n, out, ldo, il);
    if (rc != 1) {
        free(heap);
        return rc;
    }
#endif
    rc = fe_ternary_quantize(x, ldx, m, k, q, kp, kp, s, qsum) ? -1 : 0;
    if (!rc && fe_ternary_matmul(q, kp, qsum, s, m, packed, kp, wscale, n, out, NULL, ldo, il)) rc = -2;
    free(heap);
    return rc;
}

fe_kernel *const fe_ternary_kernels[] = {&quantize_kernel, &matmul_kernel, NULL};
