/* SIMD intrinsics for the kernel files: include this, never <immintrin.h> directly.
 *
 * Normal builds get the compiler's intrinsics (x86) or NEON (aarch64). An emulation build
 * (FASTEMBED_CORE_EMULATE_SIMD=1, defines FE_EMULATE_SIMD) maps every x86 intrinsic to SIMDe's
 * portable C and reports AVX2 and AVX-512 as present, so that every variant runs, and is checked
 * against the numpy reference, on any CPU (slowly); it also maps the NEON intrinsics (FE_HAVE_NEON), so
 * the aarch64 variants are checked on x86 too. SIMDe 0.7 has no _mm512_reduce_*: use the
 * fe_reduce_* helpers below.
 */
#ifndef FE_SIMD_H
#define FE_SIMD_H
#include "cpu.h"

#if defined(FE_EMULATE_SIMD)
#define SIMDE_ENABLE_NATIVE_ALIASES
#define SIMDE_NO_NATIVE
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <simde/x86/fma.h>
#include <simde/arm/neon.h>
#define FE_HAVE_X86_SIMD 1
#define FE_HAVE_NEON 1
#elif FE_X86
#include <immintrin.h>
#define FE_HAVE_X86_SIMD 1
#elif FE_ARM64
#include <arm_neon.h>
#define FE_HAVE_NEON 1
#endif

#ifdef FE_HAVE_X86_SIMD
/* AVX-VNNI (VEX vpdpbusd) variants need GCC 11 / clang 12 (Apple clang 13) intrinsics; SIMDe 0.7 has
 * only the EVEX form, which computes the same. */
#if defined(FE_EMULATE_SIMD)
#define FE_HAVE_AVX_VNNI 1
#define _mm256_dpbusd_avx_epi32(src, a, b) _mm256_dpbusd_epi32(src, a, b)
#elif (defined(__clang__) && __clang_major__ >= 13) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define FE_HAVE_AVX_VNNI 1
#endif
static inline FE_TARGET_AVX2 int32_t fe_reduce_add_epi32_256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
static inline FE_TARGET_AVX2 int64_t fe_reduce_add_epi64_256(__m256i v) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si64(s);
}
static inline FE_TARGET_AVX2 float fe_reduce_add_ps_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline FE_TARGET_AVX512 int32_t fe_reduce_add_epi32_512(__m512i v) {
    return fe_reduce_add_epi32_256(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}
static inline FE_TARGET_AVX512 int64_t fe_reduce_add_epi64_512(__m512i v) {
    return fe_reduce_add_epi64_256(_mm256_add_epi64(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}
/* Intrinsics SIMDe 0.7 lacks, lane by lane in emulation builds. */
#if defined(FE_EMULATE_SIMD)
static inline __m512i fe_srai_epi32_512(__m512i v, int n) { /* callers shift exact multiples of 2^n */
    int32_t l[16];
    _mm512_storeu_si512((void *)l, v);
    for (int i = 0; i < 16; i++) l[i] = l[i] / (1 << n);
    return _mm512_loadu_si512((const void *)l);
}
static inline uint32_t fe_cmplt_epu16_mask_512(__m512i a, __m512i b) {
    uint16_t x[32], y[32];
    uint32_t m = 0;
    _mm512_storeu_si512((void *)x, a);
    _mm512_storeu_si512((void *)y, b);
    for (int i = 0; i < 32; i++) m |= (uint32_t)(x[i] < y[i]) << i;
    return m;
}
#else
#define fe_srai_epi32_512(v, n) _mm512_srai_epi32((v), (n))
#define fe_cmplt_epu16_mask_512(a, b) ((uint32_t)_mm512_cmplt_epu16_mask((a), (b)))
#endif
#endif
#endif
