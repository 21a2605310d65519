# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled kernels: Cython bindings to the C in csrc/.

This module only converts arguments and releases the GIL. Index values (ids, offsets, mapping) and
argument types are validated once, in the public modules (``fastembed_core._validate``); the
bindings keep only cheap shape asserts (array widths, output shapes, bag ranges), so they trust
index values: call them through the public API. Each kernel family's bindings live in
``_kernels_<family>.pxi``; the numpy module ``_kernels_py`` has the same function names and contracts.
"""
from libc.stdint cimport uint32_t


cdef extern from "cpu.h" nogil:
    ctypedef void (*fe_fn)()
    ctypedef struct fe_variant:
        const char *name
        uint32_t requires
        fe_fn fn
    ctypedef struct fe_kernel:
        const char *name
        const fe_variant *variants
        int n_variants
        int active
    void fe_cpu_init()
    uint32_t fe_cpu_features()
    int fe_scan_prefetch()
    const char *fe_cpu_feature_name(int bit)
    int fe_kernel_count()
    fe_kernel *fe_kernel_at(int i)
    int fe_kernel_select(int i, int j)


cdef extern from *:
    """
    #if defined(FE_EMULATE_SIMD)
    #define FE_EMULATED_SIMD_FLAG 1
    #else
    #define FE_EMULATED_SIMD_FLAG 0
    #endif
    #if defined(_OPENMP)
    #define FE_OPENMP_FLAG 1
    #else
    #define FE_OPENMP_FLAG 0
    #endif
    """
    int FE_EMULATED_SIMD_FLAG
    int FE_OPENMP_FLAG


fe_cpu_init()

#: True in the test-only SIMDe emulation build (FASTEMBED_CORE_EMULATE_SIMD=1): every x86 variant
#: runs through portable C and cpu_features() reports every feature as present.
EMULATED_SIMD = bool(FE_EMULATED_SIMD_FLAG)

#: True when the extension was compiled with OpenMP (_OPENMP defined); the kernels thread with
#: Python's thread pool over GIL-free calls either way (see _parallel.py).
OPENMP = bool(FE_OPENMP_FLAG)


def cpu_features():
    """dict feature name -> bool, as detected (CPUID + OS register support)."""
    cdef uint32_t f = fe_cpu_features()
    cdef int bit = 0
    out = {}
    while fe_cpu_feature_name(bit) != NULL:
        out[fe_cpu_feature_name(bit).decode()] = bool(f & (1u << bit))
        bit += 1
    return out


def scan_prefetch():
    """Whether the Hamming scans prefetch ahead in software (False on AMD CPUs with AVX-512, csrc/cpu.h)."""
    return bool(fe_scan_prefetch())


def kernel_variants():
    """dict kernel -> {"active": name, "variants": {name: supported_by_this_cpu}} (best first)."""
    cdef uint32_t f = fe_cpu_features()
    cdef fe_kernel *k
    out = {}
    for i in range(fe_kernel_count()):
        k = fe_kernel_at(i)
        variants = {}
        for j in range(k.n_variants):
            variants[k.variants[j].name.decode()] = (f & k.variants[j].requires) == k.variants[j].requires
        out[k.name.decode()] = {"active": k.variants[k.active].name.decode(), "variants": variants}
    return out


def select_variant(str kernel, str variant):
    """Make ``kernel`` dispatch to ``variant``. ValueError if unknown or unsupported by this CPU."""
    cdef fe_kernel *k
    for i in range(fe_kernel_count()):
        k = fe_kernel_at(i)
        if k.name.decode() != kernel:
            continue
        for j in range(k.n_variants):
            if k.variants[j].name.decode() == variant:
                if fe_kernel_select(i, j) == -2:
                    raise ValueError(f"variant {variant!r} of kernel {kernel!r} needs CPU features this CPU lacks")
                return
        raise ValueError(f"kernel {kernel!r} has no variant {variant!r}")
    raise ValueError(f"no kernel named {kernel!r}")


include "_kernels_gather.pxi"
include "_kernels_hamming.pxi"
include "_kernels_ivf.pxi"
include "_kernels_ternary.pxi"
include "_kernels_wordpiece.pxi"
include "_kernels_unigram.pxi"
