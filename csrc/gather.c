/* gather-mean pooling: scalar, AVX2 (+F16C), AVX-512 and NEON variants. Contract in gather.h. */
#include "gather.h"

#include <math.h>
#include <string.h>

#include "simd.h"

typedef void (*gather_fn)(const fe_gather_args *a, int64_t start, int64_t stop);

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN included). */
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: renormalise */
        exp = 113;
        while (!(man & 0x400u)) { man <<= 1; exp--; }
        bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Row pointer and multiplier of token t. */
static inline const char *token_row(const fe_gather_args *a, int64_t t, float *factor) {
    int32_t id = a->ids[t];
    int32_t r = a->mapping ? a->mapping[id] : id;
    float f = a->weights ? a->weights[id] : 1.0f;
    if (a->scales) f *= a->scales[r];
    *factor = f;
    return (const char *)a->table + (int64_t)r * a->row_stride;
}

/* Ternary weight j of a packed row (see gather.h), as -1, 0 or 1. */
static inline float t2_weight(const char *row, int64_t j) {
    const uint8_t byte = ((const uint8_t *)row)[(j >> 7) * 32 + (j & 31)];
    return (float)((int)((byte >> (2 * ((j >> 5) & 3))) & 3) - 1);
}

/* An opaque copy: the compiler may not contract `x * x + s` into an FMA (numpy rounds the square). */
static inline float fe_opaque_f32(float v) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __asm__("" : "+x"(v));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(v));
#endif
    return v;
}

static inline float load1(int32_t dtype, const char *row, int64_t j) {
    switch (dtype) {
    case FE_TABLE_F32: return ((const float *)row)[j];
    case FE_TABLE_F16: return f16_to_f32(((const uint16_t *)row)[j]);
    case FE_TABLE_T2: return t2_weight(row, j);
    default: return (float)((const int8_t *)row)[j];
    }
}

/* ---------------------------------------------------------------- scalar */

/* ---------------------------------------------------------------- finalize (numpy's exact order)
 *
 * Every variant finalizes a bag the same way, in the order numpy (and so model2vec 0.10) does:
 * mean = sum / n in float32; with FE_ROUND_F16 the mean is rounded to float16 (model2vec's mean of a
 * float16 table is float16); with FE_NORMALIZE it is divided by sqrtf(sum of squares) + 1e-32, the
 * squares rounded to float32 and added in numpy's pairwise order (FLOAT_pairwise_sum: blocks of at
 * most 128 elements, 8 interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then
 * the rest in sequence; longer rows split in two at a multiple of 8), which is the order of
 * np.linalg.norm(x, axis=1). The results are bit-identical to numpy's, in every variant. */

static inline float fe_square(float x) { return fe_opaque_f32(x * x); }

/* x rounded to the nearest float16 (ties to even), as a float: numpy's astype(float16). */
static inline float f16_round(float x) {
    uint32_t u, sign;
    memcpy(&u, &x, sizeof u);
    sign = u & 0x80000000u;
    u ^= sign;
    uint16_t h;
    if (u >= 0x47800000u) { /* |x| >= 65536 (or inf, NaN): inf, or a quiet NaN */
        h = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < 0x38800000u) { /* below 2^-14: float16 subnormal or zero, rounded by one float add */
        const uint32_t magic_u = 0x3f000000u; /* 0.5f: its ulp is the float16 subnormal step 2^-24 */
        float m, f;
        memcpy(&m, &magic_u, sizeof m);
        memcpy(&f, &u, sizeof f);
        f += m;
        memcpy(&u, &f, sizeof u);
        h = (uint16_t)(u - magic_u);
    } else { /* normal: round the mantissa to 10 bits, ties to even; a carry may reach inf */
        u += 0xc8000fffu + ((u >> 13) & 1u); /* rebias the exponent (-112 << 23) and round */
        h = (uint16_t)(u >> 13);
    }
    return f16_to_f32((uint16_t)(h | (sign >> 16)));
}

/* numpy's pairwise block: 8 <= n <= 128 squares of a. */
static float sumsq_block_scalar(const float *a, int64_t n) {
    float r[8];
    for (int j = 0; j < 8; j++) r[j] = fe_square(a[j]);
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
        for (int j = 0; j < 8; j++) r[j] += fe_square(a[i + j]);
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += fe_square(a[i]);
    return res;
}

typedef float (*sumsq_block_fn)(const float *a, int64_t n);

/* Sum of squares of a[0:n) in numpy's pairwise order; `block` sums one block (8 <= n <= 128). */
static float sumsq_pairwise(const float *a, int64_t n, sumsq_block_fn block) {
    if (n < 8) {
        float res = 0.0f;
        for (int64_t i = 0; i < n; i++) res += fe_square(a[i]);
        return res;
    }
    if (n <= 128) return block(a, n);
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return sumsq_pairwise(a, n2, block) + sumsq_pairwise(a + n2, n - n2, block);
}

/* Scales o[0:dim) by 1 / (norm + 1e-32), the norm summed by `block`. (float)1e-32 is numpy's
 * float32(1e-32): the double constant rounded, as `norm + 1e-32` on a float32 array does. */
static inline void normalize_row(float *o, int64_t dim, sumsq_block_fn block) {
    const float norm = sqrtf(sumsq_pairwise(o, dim, block)) + (float)1e-32;
    for (int64_t j = 0; j < dim; j++) o[j] = o[j] / norm;
}

/* flags: FE_NORMALIZE | FE_ROUND_F16 (see gather.h). */
static void finalize_scalar(float *o, int64_t dim, int64_t n, int flags) {
    if (n == 0) {
        memset(o, 0, (size_t)dim * sizeof(float));
        return;
    }
    const float fn = (float)n;
    for (int64_t j = 0; j < dim; j++) o[j] = o[j] / fn;
    if (flags & FE_ROUND_F16)
        for (int64_t j = 0; j < dim; j++) o[j] = f16_round(o[j]);
    if (flags & FE_NORMALIZE) normalize_row(o, dim, sumsq_block_scalar);
}

/* A float16 or int8 bag with FE_ROUND_PRODUCT_F16 in plain C: each product rounded to float16, then
 * added in float32 (the scalar and NEON variants). */
static void bag_scalar_r(const fe_gather_args *a, int64_t t0, int64_t t1, float *o) {
    memset(o, 0, (size_t)a->dim * sizeof(float));
    for (int64_t t = t0; t < t1; t++) {
        float f;
        const char *row = token_row(a, t, &f);
        for (int64_t j = 0; j < a->dim; j++) o[j] += f16_round(load1(a->dtype, row, j) * f);
    }
}

static void gather_scalar(const fe_gather_args *a, int64_t start, int64_t stop) {
    const int64_t dim = a->dim;
    for (int64_t b = start; b < stop; b++) {
        float *o = a->out + b * a->out_stride;
        const int64_t t0 = a->offsets[b], t1 = a->offsets[b + 1];
        if (a->normalize & FE_ROUND_PRODUCT_F16) {
            bag_scalar_r(a, t0, t1, o);
            finalize_scalar(o, dim, t1 - t0, a->normalize);
            continue;
        }
        memset(o, 0, (size_t)dim * sizeof(float));
        for (int64_t t = t0; t < t1; t++) {
            float f;
            const char *row = token_row(a, t, &f);
            switch (a->dtype) {
            case FE_TABLE_F32:
                for (int64_t j = 0; j < dim; j++) o[j] += ((const float *)row)[j] * f;
                break;
            case FE_TABLE_F16:
                for (int64_t j = 0; j < dim; j++) o[j] += f16_to_f32(((const uint16_t *)row)[j]) * f;
                break;
            case FE_TABLE_T2:
                for (int64_t j = 0; j < dim; j++) o[j] += t2_weight(row, j) * f;
                break;
            default:
                for (int64_t j = 0; j < dim; j++) o[j] += (float)((const int8_t *)row)[j] * f;
            }
        }
        finalize_scalar(o, dim, t1 - t0, a->normalize);
    }
}

#ifdef FE_HAVE_NEON
/* A ternary bag in plain C, for the NEON variant (same additions as gather_scalar). */
static void bag_scalar_t2(const fe_gather_args *a, int64_t t0, int64_t t1, float *o) {
    memset(o, 0, (size_t)a->dim * sizeof(float));
    for (int64_t t = t0; t < t1; t++) {
        float f;
        const char *row = token_row(a, t, &f);
        for (int64_t j = 0; j < a->dim; j++) o[j] += t2_weight(row, j) * f;
    }
}
#endif

/* Accumulates the last dim % 8 (or % 16) columns, from column d, in scalar code. */
static inline void tail_scalar(const fe_gather_args *a, int64_t t0, int64_t t1, int64_t d, float *o) {
    float acc[16] = {0};
    const int64_t rem = a->dim - d;
    for (int64_t t = t0; t < t1; t++) {
        float f;
        const char *row = token_row(a, t, &f);
        if (a->normalize & FE_ROUND_PRODUCT_F16)
            for (int64_t j = 0; j < rem; j++) acc[j] += f16_round(load1(a->dtype, row, d + j) * f);
        else
            for (int64_t j = 0; j < rem; j++) acc[j] += fe_opaque_f32(load1(a->dtype, row, d + j) * f);
    }
    for (int64_t j = 0; j < rem; j++) o[d + j] = acc[j];
}

#ifdef FE_HAVE_X86_SIMD
/* The product is rounded before the add (no FMA), exactly as numpy's `(rows * w).mean(axis=0)` does,
 * so float32 results match model2vec to the bit. The empty asm keeps the compiler from contracting
 * mul + add into an FMA (SIMDe's portable emulation targets baseline x86-64, which has no FMA). */
#if defined(FE_EMULATE_SIMD) || !(defined(__GNUC__) || defined(__clang__))
#define FE_OPAQUE256(v) (v)
#define FE_OPAQUE512(v) (v)
#else
static inline FE_TARGET_AVX2 __m256 fe_opaque256(__m256 v) { __asm__("" : "+x"(v)); return v; }
static inline FE_TARGET_AVX512 __m512 fe_opaque512(__m512 v) { __asm__("" : "+v"(v)); return v; }
#define FE_OPAQUE256(v) fe_opaque256(v)
#define FE_OPAQUE512(v) fe_opaque512(v)
#endif
#define MULADD256(x, f, acc) _mm256_add_ps((acc), FE_OPAQUE256(_mm256_mul_ps((x), (f))))
#define MULADD512(x, f, acc) _mm512_add_ps((acc), FE_OPAQUE512(_mm512_mul_ps((x), (f))))
/* FE_ROUND_PRODUCT_F16: the product rounded to float16 (F16C rounds to nearest even, as numpy). */
#define MULADD256_F16R(x, f, acc) \
    _mm256_add_ps((acc), _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps((x), (f)), _MM_FROUND_TO_NEAREST_INT)))

/* ---------------------------------------------------------------- AVX2 */

#define LOAD8_F32(p) _mm256_loadu_ps((const float *)(p))
#define LOAD8_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD8_I8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))

/* Sums the bag into o[0:dim): 64 columns at a time in 8 registers, then 8 at a time. */
#define DEFINE_BAG_AVX2(NAME, LOAD, ESIZE, MADD)                                                  \
    static FE_TARGET_AVX2 void NAME(const fe_gather_args *a, int64_t t0, int64_t t1, float *o) { \
        const int64_t dim = a->dim;                                                               \
        int64_t d = 0;                                                                            \
        for (; d + 64 <= dim; d += 64) {                                                          \
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,        \
                   s6 = s0, s7 = s0;                                                              \
            for (int64_t t = t0; t < t1; t++) {                                                   \
                float f;                                                                          \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                                \
                const __m256 vf = _mm256_set1_ps(f);                                              \
                s0 = MADD(LOAD(r + 0 * (ESIZE)), vf, s0);                              \
                s1 = MADD(LOAD(r + 8 * (ESIZE)), vf, s1);                              \
                s2 = MADD(LOAD(r + 16 * (ESIZE)), vf, s2);                             \
                s3 = MADD(LOAD(r + 24 * (ESIZE)), vf, s3);                             \
                s4 = MADD(LOAD(r + 32 * (ESIZE)), vf, s4);                             \
                s5 = MADD(LOAD(r + 40 * (ESIZE)), vf, s5);                             \
                s6 = MADD(LOAD(r + 48 * (ESIZE)), vf, s6);                             \
                s7 = MADD(LOAD(r + 56 * (ESIZE)), vf, s7);                             \
            }                                                                                     \
            _mm256_storeu_ps(o + d + 0, s0);                                                      \
            _mm256_storeu_ps(o + d + 8, s1);                                                      \
            _mm256_storeu_ps(o + d + 16, s2);                                                     \
            _mm256_storeu_ps(o + d + 24, s3);                                                     \
            _mm256_storeu_ps(o + d + 32, s4);                                                     \
            _mm256_storeu_ps(o + d + 40, s5);                                                     \
            _mm256_storeu_ps(o + d + 48, s6);                                                     \
            _mm256_storeu_ps(o + d + 56, s7);                                                     \
        }                                                                                         \
        for (; d + 8 <= dim; d += 8) {                                                            \
            __m256 s = _mm256_setzero_ps();                                                       \
            for (int64_t t = t0; t < t1; t++) {                                                   \
                float f;                                                                          \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                                \
                s = MADD(LOAD(r), _mm256_set1_ps(f), s);                               \
            }                                                                                     \
            _mm256_storeu_ps(o + d, s);                                                           \
        }                                                                                         \
        if (d < dim) tail_scalar(a, t0, t1, d, o);                                                \
    }

DEFINE_BAG_AVX2(bag_avx2_f32, LOAD8_F32, 4, MULADD256)
DEFINE_BAG_AVX2(bag_avx2_f16, LOAD8_F16, 2, MULADD256)
DEFINE_BAG_AVX2(bag_avx2_f16r, LOAD8_F16, 2, MULADD256_F16R) /* FE_ROUND_PRODUCT_F16 (AVX-512 too) */
DEFINE_BAG_AVX2(bag_avx2_i8, LOAD8_I8, 1, MULADD256)
DEFINE_BAG_AVX2(bag_avx2_i8r, LOAD8_I8, 1, MULADD256_F16R)

/* 8 ternary weights d..d+7 (d % 8 == 0: consecutive bytes, one shift) as floats -1, 0, 1. */
static inline FE_TARGET_AVX2 __m256 load8_t2(const char *row, int64_t d) {
    const __m128i bytes = _mm_loadl_epi64((const __m128i *)(row + (d >> 7) * 32 + (d & 31)));
    const __m256i codes = _mm256_srl_epi32(_mm256_cvtepu8_epi32(bytes), _mm_cvtsi32_si128((int)(2 * ((d >> 5) & 3))));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(codes, _mm256_set1_epi32(3)), _mm256_set1_epi32(1)));
}

/* The ternary bag: 64 columns (8 accumulators, two shifts of one 32-byte group) per pass over the
 * tokens, then 32, then 8; exact products. */
static FE_TARGET_AVX2 void bag_avx2_t2(const fe_gather_args *a, int64_t t0, int64_t t1, float *o) {
    const int64_t dim = a->dim;
    int64_t d = 0;
    for (; d + 64 <= dim; d += 64) {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        for (int64_t t = t0; t < t1; t++) {
            float f;
            const char *r = token_row(a, t, &f);
            const __m256 vf = _mm256_set1_ps(f);
            s0 = MULADD256(load8_t2(r, d), vf, s0);
            s1 = MULADD256(load8_t2(r, d + 8), vf, s1);
            s2 = MULADD256(load8_t2(r, d + 16), vf, s2);
            s3 = MULADD256(load8_t2(r, d + 24), vf, s3);
            s4 = MULADD256(load8_t2(r, d + 32), vf, s4);
            s5 = MULADD256(load8_t2(r, d + 40), vf, s5);
            s6 = MULADD256(load8_t2(r, d + 48), vf, s6);
            s7 = MULADD256(load8_t2(r, d + 56), vf, s7);
        }
        _mm256_storeu_ps(o + d, s0);
        _mm256_storeu_ps(o + d + 8, s1);
        _mm256_storeu_ps(o + d + 16, s2);
        _mm256_storeu_ps(o + d + 24, s3);
        _mm256_storeu_ps(o + d + 32, s4);
        _mm256_storeu_ps(o + d + 40, s5);
        _mm256_storeu_ps(o + d + 48, s6);
        _mm256_storeu_ps(o + d + 56, s7);
    }
    for (; d + 32 <= dim; d += 32) {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t t = t0; t < t1; t++) {
            float f;
            const char *r = token_row(a, t, &f);
            const __m256 vf = _mm256_set1_ps(f);
            s0 = MULADD256(load8_t2(r, d), vf, s0);
            s1 = MULADD256(load8_t2(r, d + 8), vf, s1);
            s2 = MULADD256(load8_t2(r, d + 16), vf, s2);
            s3 = MULADD256(load8_t2(r, d + 24), vf, s3);
        }
        _mm256_storeu_ps(o + d, s0);
        _mm256_storeu_ps(o + d + 8, s1);
        _mm256_storeu_ps(o + d + 16, s2);
        _mm256_storeu_ps(o + d + 24, s3);
    }
    for (; d + 8 <= dim; d += 8) {
        __m256 s = _mm256_setzero_ps();
        for (int64_t t = t0; t < t1; t++) {
            float f;
            const char *r = token_row(a, t, &f);
            s = MULADD256(load8_t2(r, d), _mm256_set1_ps(f), s);
        }
        _mm256_storeu_ps(o + d, s);
    }
    if (d < dim) tail_scalar(a, t0, t1, d, o);
}

static FE_TARGET_AVX2 float sumsq_block_avx2(const float *a, int64_t n) {
    __m256 x = _mm256_loadu_ps(a);
    __m256 r = FE_OPAQUE256(_mm256_mul_ps(x, x)); /* lane j is numpy's accumulator r[j] */
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
        x = _mm256_loadu_ps(a + i);
        r = _mm256_add_ps(r, FE_OPAQUE256(_mm256_mul_ps(x, x)));
    }
    float v[8];
    _mm256_storeu_ps(v, r);
    float res = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    for (; i < n; i++) res += fe_square(a[i]);
    return res;
}

/* o[0:dim) rounded to float16 values (F16C's conversion rounds to nearest even, as numpy's). */
static FE_TARGET_AVX2 void round_f16_avx2(float *o, int64_t dim) {
    int64_t j = 0;
    for (; j + 8 <= dim; j += 8)
        _mm256_storeu_ps(o + j, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(o + j), _MM_FROUND_TO_NEAREST_INT)));
    for (; j < dim; j++) o[j] = f16_round(o[j]);
}

static FE_TARGET_AVX2 void finalize_avx2(float *o, int64_t dim, int64_t n, int flags) {
    if (n == 0) {
        memset(o, 0, (size_t)dim * sizeof(float));
        return;
    }
    const float fn = (float)n;
    const __m256 vn = _mm256_set1_ps(fn);
    int64_t j = 0;
    for (; j + 8 <= dim; j += 8) {
        _mm256_storeu_ps(o + j, _mm256_div_ps(_mm256_loadu_ps(o + j), vn));
    }
    for (; j < dim; j++) o[j] = o[j] / fn;
    if (flags & FE_ROUND_F16) round_f16_avx2(o, dim);
    if (!(flags & FE_NORMALIZE)) return;
    const float norm = sqrtf(sumsq_pairwise(o, dim, sumsq_block_avx2)) + (float)1e-32;
    const __m256 vnorm = _mm256_set1_ps(norm);
    for (j = 0; j + 8 <= dim; j += 8) _mm256_storeu_ps(o + j, _mm256_div_ps(_mm256_loadu_ps(o + j), vnorm));
    for (; j < dim; j++) o[j] = o[j] / norm;
}

static FE_TARGET_AVX2 void gather_avx2(const fe_gather_args *a, int64_t start, int64_t stop) {
    for (int64_t b = start; b < stop; b++) {
        float *o = a->out + b * a->out_stride;
        const int64_t t0 = a->offsets[b], t1 = a->offsets[b + 1];
        switch (a->dtype) {
        case FE_TABLE_F32: bag_avx2_f32(a, t0, t1, o); break;
        case FE_TABLE_F16: if (a->normalize & FE_ROUND_PRODUCT_F16) bag_avx2_f16r(a, t0, t1, o); else bag_avx2_f16(a, t0, t1, o); break;
        case FE_TABLE_T2: bag_avx2_t2(a, t0, t1, o); break;
        default: if (a->normalize & FE_ROUND_PRODUCT_F16) bag_avx2_i8r(a, t0, t1, o); else bag_avx2_i8(a, t0, t1, o);
        }
        finalize_avx2(o, a->dim, t1 - t0, a->normalize);
    }
}

/* ---------------------------------------------------------------- AVX-512 */

#define LOAD16_F32(p) _mm512_loadu_ps((const float *)(p))
#if defined(FE_EMULATE_SIMD) /* SIMDe 0.7.4 lacks the 512-bit conversions: build them from two halves */
#define LOAD16_F16(p) _mm512_insertf32x8(_mm512_castps256_ps512(LOAD8_F16(p)), LOAD8_F16((p) + 16), 1)
#define LOAD16_I8(p) _mm512_insertf32x8(_mm512_castps256_ps512(LOAD8_I8(p)), LOAD8_I8((p) + 8), 1)
#else
#define LOAD16_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LOAD16_I8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#endif

#define DEFINE_BAG_AVX512(NAME, LOAD, LOAD8, ESIZE)                                                 \
    static FE_TARGET_AVX512 void NAME(const fe_gather_args *a, int64_t t0, int64_t t1, float *o) { \
        const int64_t dim = a->dim;                                                                 \
        int64_t d = 0;                                                                              \
        for (; d + 128 <= dim; d += 128) {                                                          \
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,          \
                   s6 = s0, s7 = s0;                                                                \
            for (int64_t t = t0; t < t1; t++) {                                                     \
                float f;                                                                            \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                                  \
                const __m512 vf = _mm512_set1_ps(f);                                                \
                s0 = MULADD512(LOAD(r + 0 * (ESIZE)), vf, s0);                                \
                s1 = MULADD512(LOAD(r + 16 * (ESIZE)), vf, s1);                               \
                s2 = MULADD512(LOAD(r + 32 * (ESIZE)), vf, s2);                               \
                s3 = MULADD512(LOAD(r + 48 * (ESIZE)), vf, s3);                               \
                s4 = MULADD512(LOAD(r + 64 * (ESIZE)), vf, s4);                               \
                s5 = MULADD512(LOAD(r + 80 * (ESIZE)), vf, s5);                               \
                s6 = MULADD512(LOAD(r + 96 * (ESIZE)), vf, s6);                               \
                s7 = MULADD512(LOAD(r + 112 * (ESIZE)), vf, s7);                              \
            }                                                                                       \
            _mm512_storeu_ps(o + d + 0, s0);                                                        \
            _mm512_storeu_ps(o + d + 16, s1);                                                       \
            _mm512_storeu_ps(o + d + 32, s2);                                                       \
            _mm512_storeu_ps(o + d + 48, s3);                                                       \
            _mm512_storeu_ps(o + d + 64, s4);                                                       \
            _mm512_storeu_ps(o + d + 80, s5);                                                       \
            _mm512_storeu_ps(o + d + 96, s6);                                                       \
            _mm512_storeu_ps(o + d + 112, s7);                                                      \
        }                                                                                           \
        for (; d + 16 <= dim; d += 16) {                                                            \
            __m512 s = _mm512_setzero_ps();                                                         \
            for (int64_t t = t0; t < t1; t++) {                                                     \
                float f;                                                                            \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                                  \
                s = MULADD512(LOAD(r), _mm512_set1_ps(f), s);                                       \
            }                                                                                       \
            _mm512_storeu_ps(o + d, s);                                                             \
        }                                                                                           \
        for (; d + 8 <= dim; d += 8) {                                                              \
            __m256 s = _mm256_setzero_ps();                                                         \
            for (int64_t t = t0; t < t1; t++) {                                                     \
                float f;                                                                            \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                                  \
                s = MULADD256(LOAD8(r), _mm256_set1_ps(f), s);                                      \
            }                                                                                       \
            _mm256_storeu_ps(o + d, s);                                                             \
        }                                                                                           \
        if (d < dim) tail_scalar(a, t0, t1, d, o);                                                  \
    }

DEFINE_BAG_AVX512(bag_avx512_f32, LOAD16_F32, LOAD8_F32, 4)
DEFINE_BAG_AVX512(bag_avx512_f16, LOAD16_F16, LOAD8_F16, 2)
DEFINE_BAG_AVX512(bag_avx512_i8, LOAD16_I8, LOAD8_I8, 1)

static FE_TARGET_AVX512 void finalize_avx512(float *o, int64_t dim, int64_t n, int flags) {
    if (n == 0) {
        memset(o, 0, (size_t)dim * sizeof(float));
        return;
    }
    const float fn = (float)n;
    const __m512 vn = _mm512_set1_ps(fn);
    int64_t j = 0;
    for (; j + 16 <= dim; j += 16) {
        _mm512_storeu_ps(o + j, _mm512_div_ps(_mm512_loadu_ps(o + j), vn));
    }
    for (; j < dim; j++) o[j] = o[j] / fn;
    if (flags & FE_ROUND_F16) round_f16_avx2(o, dim);
    if (!(flags & FE_NORMALIZE)) return;
    /* numpy's accumulators are 8 wide: the AVX2 block is that order */
    const float norm = sqrtf(sumsq_pairwise(o, dim, sumsq_block_avx2)) + (float)1e-32;
    const __m512 vnorm = _mm512_set1_ps(norm);
    for (j = 0; j + 16 <= dim; j += 16) _mm512_storeu_ps(o + j, _mm512_div_ps(_mm512_loadu_ps(o + j), vnorm));
    for (; j < dim; j++) o[j] = o[j] / norm;
}

static FE_TARGET_AVX512 void gather_avx512(const fe_gather_args *a, int64_t start, int64_t stop) {
    for (int64_t b = start; b < stop; b++) {
        float *o = a->out + b * a->out_stride;
        const int64_t t0 = a->offsets[b], t1 = a->offsets[b + 1];
        switch (a->dtype) {
        case FE_TABLE_F32: bag_avx512_f32(a, t0, t1, o); break;
        case FE_TABLE_F16: if (a->normalize & FE_ROUND_PRODUCT_F16) bag_avx2_f16r(a, t0, t1, o); else bag_avx512_f16(a, t0, t1, o); break;
        case FE_TABLE_T2: bag_avx2_t2(a, t0, t1, o); break; /* 2-bit decode is not the bottleneck */
        default: if (a->normalize & FE_ROUND_PRODUCT_F16) bag_avx2_i8r(a, t0, t1, o); else bag_avx512_i8(a, t0, t1, o);
        }
        finalize_avx512(o, a->dim, t1 - t0, a->normalize);
    }
}
#endif /* FE_HAVE_X86_SIMD */

#ifdef FE_HAVE_NEON
/* ---------------------------------------------------------------- NEON (aarch64) */

/* Same arithmetic as gather_scalar (product rounded, then added: the empty asm keeps GCC from
 * contracting the pair into an FMLA), so the NEON variant is bit-identical to it; the mean and
 * the normalisation are finalize_scalar itself. */
#if FE_ARM64 && (defined(__GNUC__) || defined(__clang__)) && !defined(FE_EMULATE_SIMD)
static inline float32x4_t fe_opaque_f32x4(float32x4_t v) { __asm__("" : "+w"(v)); return v; }
#define FE_OPAQUE_NEON(v) fe_opaque_f32x4(v)
#else
#define FE_OPAQUE_NEON(v) (v)
#endif
#define MULADD_NEON(x, f, acc) vaddq_f32((acc), FE_OPAQUE_NEON(vmulq_f32((x), (f))))

/* 16 columns at p as four float32x4. */
static inline void load16_neon_f32(const char *p, float32x4_t v[4]) {
    for (int i = 0; i < 4; i++) v[i] = vld1q_f32((const float *)p + 4 * i);
}
static inline void load16_neon_f16(const char *p, float32x4_t v[4]) {
    for (int i = 0; i < 4; i++) v[i] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p + 4 * i)));
}
static inline void load16_neon_i8(const char *p, float32x4_t v[4]) {
    int8x16_t b = vld1q_s8((const int8_t *)p);
    int16x8_t lo = vmovl_s8(vget_low_s8(b)), hi = vmovl_s8(vget_high_s8(b));
    v[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    v[1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    v[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    v[3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
}

/* Sums the bag into o[0:dim): 32 columns at a time in 8 registers, then 16, then scalar. */
#define DEFINE_BAG_NEON(NAME, LOAD16, ESIZE)                                                   \
    static void NAME(const fe_gather_args *a, int64_t t0, int64_t t1, float *o) {              \
        const int64_t dim = a->dim;                                                            \
        int64_t d = 0;                                                                         \
        for (; d + 32 <= dim; d += 32) {                                                       \
            float32x4_t s[8], x[8];                                                            \
            for (int i = 0; i < 8; i++) s[i] = vdupq_n_f32(0.0f);                              \
            for (int64_t t = t0; t < t1; t++) {                                                \
                float f;                                                                       \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                             \
                const float32x4_t vf = vdupq_n_f32(f);                                         \
                LOAD16(r, x);                                                                  \
                LOAD16(r + 16 * (ESIZE), x + 4);                                               \
                for (int i = 0; i < 8; i++) s[i] = MULADD_NEON(x[i], vf, s[i]);                \
            }                                                                                  \
            for (int i = 0; i < 8; i++) vst1q_f32(o + d + 4 * i, s[i]);                        \
        }                                                                                      \
        for (; d + 16 <= dim; d += 16) {                                                       \
            float32x4_t s[4], x[4];                                                            \
            for (int i = 0; i < 4; i++) s[i] = vdupq_n_f32(0.0f);                              \
            for (int64_t t = t0; t < t1; t++) {                                                \
                float f;                                                                       \
                const char *r = token_row(a, t, &f) + d * (ESIZE);                             \
                const float32x4_t vf = vdupq_n_f32(f);                                         \
                LOAD16(r, x);                                                                  \
                for (int i = 0; i < 4; i++) s[i] = MULADD_NEON(x[i], vf, s[i]);                \
            }                                                                                  \
            for (int i = 0; i < 4; i++) vst1q_f32(o + d + 4 * i, s[i]);                        \
        }                                                                                      \
        if (d < dim) tail_scalar(a, t0, t1, d, o);                                             \
    }

DEFINE_BAG_NEON(bag_neon_f32, load16_neon_f32, 4)
DEFINE_BAG_NEON(bag_neon_f16, load16_neon_f16, 2)
DEFINE_BAG_NEON(bag_neon_i8, load16_neon_i8, 1)

static void gather_neon(const fe_gather_args *a, int64_t start, int64_t stop) {
    for (int64_t b = start; b < stop; b++) {
        float *o = a->out + b * a->out_stride;
        const int64_t t0 = a->offsets[b], t1 = a->offsets[b + 1];
        switch (a->dtype) {
        case FE_TABLE_F32: bag_neon_f32(a, t0, t1, o); break;
        case FE_TABLE_F16: if (a->normalize & FE_ROUND_PRODUCT_F16) bag_scalar_r(a, t0, t1, o); else bag_neon_f16(a, t0, t1, o); break;
        case FE_TABLE_T2: bag_scalar_t2(a, t0, t1, o); break;
        default: if (a->normalize & FE_ROUND_PRODUCT_F16) bag_scalar_r(a, t0, t1, o); else bag_neon_i8(a, t0, t1, o);
        }
        finalize_scalar(o, a->dim, t1 - t0, a->normalize);
    }
}
#endif /* FE_HAVE_NEON */

static const fe_variant gather_mean_variants[] = {
#ifdef FE_HAVE_X86_SIMD
    {"avx512", FE_NEED_AVX512, (fe_fn)gather_avx512},
    {"avx2", FE_NEED_AVX2, (fe_fn)gather_avx2},
#endif
#ifdef FE_HAVE_NEON
    {"neon", FE_CPU_NEON, (fe_fn)gather_neon},
#endif
    {"scalar", 0, (fe_fn)gather_scalar},
};
static fe_kernel gather_mean_kernel = {
    "gather_mean", gather_mean_variants, sizeof(gather_mean_variants) / sizeof(gather_mean_variants[0]), 0};

void fe_gather_mean(const fe_gather_args *a, int64_t start, int64_t stop) {
    FE_ACTIVE(gather_mean_kernel, gather_fn)(a, start, stop);
}

fe_kernel *const fe_gather_kernels[] = {&gather_mean_kernel, NULL};
