/* CPUID / XGETBV feature detection (x86), compile-time NEON (aarch64), and the dispatch table. */
#include "cpu.h"

static int scan_prefetch = 1; /* fe_scan_prefetch(); detect() may clear it */

#if defined(FE_EMULATE_SIMD)
/* Emulation build (tests only): SIMDe runs every x86 and NEON variant in portable C. */
static uint32_t detect(void) { return 0xffffffffu; }
#elif FE_X86
#if defined(_MSC_VER)
#include <intrin.h>
static void fe_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}
static uint64_t fe_xgetbv(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void fe_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static uint64_t fe_xgetbv(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static uint32_t detect(void) {
    unsigned r[4];
    uint32_t f = 0;
    fe_cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    int amd = r[1] == 0x68747541u && r[3] == 0x69746e65u && r[2] == 0x444d4163u; /* "AuthenticAMD" */
    fe_cpuid(1, 0, r);
    unsigned ecx1 = r[2];
    if (ecx1 & (1u << 23)) f |= FE_CPU_POPCNT;
    int osxsave = (ecx1 >> 27) & 1, avx = (ecx1 >> 28) & 1;
    uint64_t xcr0 = osxsave ? fe_xgetbv() : 0;
    int ymm_ok = avx && (xcr0 & 0x6) == 0x6;             /* XMM and YMM state */
    int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;        /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok || max_leaf < 7) return f;
    if (ecx1 & (1u << 12)) f |= FE_CPU_FMA;
    if (ecx1 & (1u << 29)) f |= FE_CPU_F16C;
    fe_cpuid(7, 0, r);
    unsigned ebx7 = r[1], ecx7 = r[2], max_sub7 = r[0];
    if (ebx7 & (1u << 3)) f |= FE_CPU_BMI1;
    if (ebx7 & (1u << 5)) f |= FE_CPU_AVX2;
    if (ebx7 & (1u << 8)) f |= FE_CPU_BMI2;
    if (max_sub7 >= 1) {
        fe_cpuid(7, 1, r);
        if (r[0] & (1u << 4)) f |= FE_CPU_AVXVNNI; /* YMM state only: checked above */
    }
    if (!zmm_ok) return f;
    if (ebx7 & (1u << 16)) f |= FE_CPU_AVX512F;
    if (amd && (f & FE_CPU_AVX512F)) scan_prefetch = 0; /* Zen 4 and later (cpu.h) */
    if (ebx7 & (1u << 17)) f |= FE_CPU_AVX512DQ;
    if (ebx7 & (1u << 30)) f |= FE_CPU_AVX512BW;
    if (ebx7 & (1u << 31)) f |= FE_CPU_AVX512VL;
    if (ecx7 & (1u << 1)) f |= FE_CPU_AVX512VBMI;
    if (ecx7 & (1u << 11)) f |= FE_CPU_AVX512VNNI;
    if (ecx7 & (1u << 12)) f |= FE_CPU_AVX512BITALG;
    if (ecx7 & (1u << 14)) f |= FE_CPU_AVX512VPOPCNTDQ;
    return f;
}
#elif FE_ARM64
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
static int has_dotprod(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int has_dotprod(void) {
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v;
}
#else
static int has_dotprod(void) { return 0; } /* unknown OS: the plain NEON variants */
#endif
static uint32_t detect(void) { /* NEON is baseline on aarch64 */
    return FE_CPU_NEON | FE_CPU_POPCNT | (has_dotprod() ? FE_CPU_NEON_DOTPROD : 0u);
}
#else
static uint32_t detect(void) { return 0; }
#endif

static const char *const feature_names[] = {
    "popcnt", "avx2", "f16c", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni",
    "avx512vpopcntdq", "avx512vbmi", "neon", "avx512bitalg", "avx512dq", "neon_dotprod", "bmi1", "bmi2",
    "avxvnni",
};

/* Each family file defines a NULL-terminated array of its kernels. */
extern fe_kernel *const fe_gather_kernels[];
extern fe_kernel *const fe_hamming_kernels[];
extern fe_kernel *const fe_ternary_kernels[];
static fe_kernel *const *const families[] = {
    fe_gather_kernels, fe_hamming_kernels, fe_ternary_kernels, /* the tokenizers have no SIMD variants */
};
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

static uint32_t features;
static int initialised; /* the first call happens under the GIL, at module import */

uint32_t fe_cpu_features(void) { return features; }

int fe_scan_prefetch(void) { return scan_prefetch; }

const char *fe_cpu_feature_name(int bit) {
    if (bit < 0 || bit >= (int)(sizeof(feature_names) / sizeof(feature_names[0]))) return NULL;
    return feature_names[bit];
}

int fe_kernel_count(void) {
    int n = 0;
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (fe_kernel *const *k = families[f]; *k; k++) n++;
    return n;
}

fe_kernel *fe_kernel_at(int i) {
    if (i < 0) return NULL;
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (fe_kernel *const *k = families[f]; *k; k++)
            if (i-- == 0) return *k;
    return NULL;
}

int fe_kernel_select(int i, int j) {
    fe_kernel *k = fe_kernel_at(i);
    if (!k || j < 0 || j >= k->n_variants) return -1;
    uint32_t need = k->variants[j].requires;
    if ((features & need) != need) return -2;
    k->active = j;
    return 0;
}

void fe_cpu_init(void) {
    if (initialised) return;
    features = detect();
    int n = fe_kernel_count();
    for (int i = 0; i < n; i++) {
        fe_kernel *k = fe_kernel_at(i);
        k->active = k->n_variants - 1;
        for (int j = 0; j < k->n_variants; j++) {
            uint32_t need = k->variants[j].requires;
            if ((features & need) == need) { k->active = j; break; }
        }
    }
    initialised = 1;
}
