/* CPU feature detection and per-kernel variant dispatch.
 *
 * Every kernel family with SIMD variants (gather, hamming, ternary) registers its kernels in an array of
 * fe_kernel. Each kernel lists its variants best-first; fe_cpu_init() activates, for every kernel,
 * the first variant whose required features the CPU (and OS) supports. Tests may force any
 * supported variant with fe_kernel_select(). Plain C11, nothing of Python.
 */
#ifndef FE_CPU_H
#define FE_CPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bits. */
enum {
    FE_CPU_POPCNT = 1u << 0,
    FE_CPU_AVX2 = 1u << 1, /* with OS support for YMM state */
    FE_CPU_F16C = 1u << 2,
    FE_CPU_FMA = 1u << 3,
    FE_CPU_AVX512F = 1u << 4, /* with OS support for ZMM and opmask state */
    FE_CPU_AVX512BW = 1u << 5,
    FE_CPU_AVX512VL = 1u << 6,
    FE_CPU_AVX512VNNI = 1u << 7,
    FE_CPU_AVX512VPOPCNTDQ = 1u << 8,
    FE_CPU_AVX512VBMI = 1u << 9,
    FE_CPU_NEON = 1u << 10,
    FE_CPU_AVX512BITALG = 1u << 11,
    FE_CPU_AVX512DQ = 1u << 12,
    FE_CPU_NEON_DOTPROD = 1u << 13, /* aarch64 SDOT/UDOT (Armv8.2 dotprod), detected at run time */
    FE_CPU_BMI1 = 1u << 14,
    FE_CPU_BMI2 = 1u << 15,
    FE_CPU_AVXVNNI = 1u << 16, /* AVX-VNNI: VEX-encoded vpdpbusd on ymm, without AVX-512 (Alder Lake and later) */
};

/* Convenience sets used by variant tables. */
/* Everything FE_TARGET_AVX2 lets the compiler use: a CPU (or VM) that hides any of these bits while
 * showing AVX2 runs the scalar variants rather than fault on an instruction it lacks. */
#define FE_NEED_AVX2 (FE_CPU_AVX2 | FE_CPU_FMA | FE_CPU_F16C | FE_CPU_POPCNT | FE_CPU_BMI1 | FE_CPU_BMI2)
#define FE_NEED_AVX512 (FE_NEED_AVX2 | FE_CPU_AVX512F | FE_CPU_AVX512BW | FE_CPU_AVX512VL | FE_CPU_AVX512DQ)

/* Target attributes: GCC/Clang compile a function for an ISA without -m flags on the whole file.
 * MSVC accepts the intrinsics without any attribute. */
#if defined(FE_EMULATE_SIMD)
#define FE_TARGET(s) /* SIMDe's portable code needs no target */
#elif defined(__GNUC__) || defined(__clang__)
#define FE_TARGET(s) __attribute__((target(s)))
#else
#define FE_TARGET(s)
#endif
#define FE_TARGET_AVX2 FE_TARGET("avx2,fma,f16c,popcnt,bmi,bmi2")
#define FE_TARGET_AVX_VNNI FE_TARGET("avx2,fma,f16c,popcnt,bmi,bmi2,avxvnni")
#define FE_TARGET_AVX512 FE_TARGET("avx2,fma,f16c,popcnt,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq")
#define FE_TARGET_AVX512_VNNI FE_TARGET("avx2,fma,f16c,popcnt,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#define FE_TARGET_AVX512_VPOPCNTDQ FE_TARGET("avx2,fma,f16c,popcnt,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq")
/* NEON is baseline on aarch64 (no attribute); dotprod is an extension chosen at run time. */
#if defined(FE_EMULATE_SIMD) || !(defined(__GNUC__) || defined(__clang__))
#define FE_TARGET_DOTPROD
#elif defined(__clang__)
#define FE_TARGET_DOTPROD __attribute__((target("dotprod")))
#else
#define FE_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define FE_X86 1
#else
#define FE_X86 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define FE_ARM64 1
#else
#define FE_ARM64 0
#endif

/* A generic function pointer; each family casts to its own signature (legal between function
 * pointer types). */
typedef void (*fe_fn)(void);

typedef struct {
    const char *name;  /* "avx512_vnni", "avx2", "scalar", ... */
    uint32_t requires; /* FE_CPU_* bits that must all be present */
    fe_fn fn;
} fe_variant;

typedef struct {
    const char *name; /* "hamming_topk", ... */
    const fe_variant *variants; /* best first; the last one must require nothing */
    int n_variants;
    int active; /* index into variants */
} fe_kernel;

/* Detects features once (thread-safe to call repeatedly) and activates the best variants. */
void fe_cpu_init(void);
/* Software prefetch ahead of the sequential code scans of csrc/hamming.c: 1 (the default), 0 on AMD
 * CPUs with AVX-512 (Zen 4 and later), where the hardware prefetcher alone streams faster: one query
 * over 1M x 32-byte codes from DRAM, both variants, 1.40-1.45 ms without it vs 1.59-1.63 ms with it on
 * an EPYC Zen 4, while Zen 3 measured 1.3x faster with it. Fixed by fe_cpu_init() before any kernel
 * runs, hence `const`: the compiler hoists the call out of the scan loops. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((const))
#endif
int fe_scan_prefetch(void);
uint32_t fe_cpu_features(void);
const char *fe_cpu_feature_name(int bit); /* NULL past the last bit */

int fe_kernel_count(void);
fe_kernel *fe_kernel_at(int i);
/* Activates variant j of kernel i. Returns 0, or -1 if out of range, -2 if the CPU lacks it. */
int fe_kernel_select(int i, int j);

/* Lets a family call its active variant: FE_ACTIVE(kernel, fn_type)(args...). */
#define FE_ACTIVE(k, type) ((type)((k).variants[(k).active].fn))

#ifdef __cplusplus
}
#endif
#endif
