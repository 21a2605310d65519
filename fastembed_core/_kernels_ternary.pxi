# ternary bindings (included by _kernels.pyx). Contracts: fastembed_core/_ref/ternary.py.
# Every .pxi shares the _kernels module namespace: prefix private helpers with the family name.
from libc.stdint cimport int8_t, uint8_t, int32_t, int64_t

import numpy as _np


cdef extern from "ternary.h" nogil:
    int fe_ternary_quantize(const float *x, size_t ldx, size_t m, size_t k, int8_t *q, size_t ldq,
                            size_t kp, float *s, int32_t *qsum)
    int fe_ternary_matmul(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                          const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                          int32_t *acc, size_t ldo, const uint8_t *il)
    int fe_ternary_linear(const float *x, size_t ldx, size_t m, size_t k, const uint8_t *packed, size_t kp,
                          const float *wscale, size_t n, float *out, size_t ldo, const uint8_t *il)
    int fe_ternary_gemv_layout_used()
    size_t fe_ternary_gemv_layout_bytes(size_t n, size_t kp)
    void fe_ternary_gemv_layout(const uint8_t *packed, size_t kp, size_t n, uint8_t *il)


def ternary_gemv_layout_used():
    return fe_ternary_gemv_layout_used() != 0


def ternary_gemv_layout(const uint8_t[:, ::1] packed):
    cdef size_t n = packed.shape[0], kp = packed.shape[1] * 4
    il_arr = _np.empty(fe_ternary_gemv_layout_bytes(n, kp), _np.uint8)
    cdef uint8_t[::1] il = il_arr
    if n and kp:
        with nogil:
            fe_ternary_gemv_layout(&packed[0, 0], kp, n, &il[0])
    return il_arr


cdef const uint8_t *_ternary_il(const uint8_t[::1] il, size_t n, size_t kp) except? NULL:
    # the GEMV layout of n rows of kp weights, or NULL
    if il is None:
        return NULL
    if <size_t>il.shape[0] != fe_ternary_gemv_layout_bytes(n, kp):
        raise ValueError(f"il must be the GEMV layout of {n} rows x {kp} weights "
                         f"({fe_ternary_gemv_layout_bytes(n, kp)} bytes), got {il.shape[0]}")
    return &il[0] if il.shape[0] else NULL


def ternary_quantize(const float[:, ::1] x, int8_t[:, ::1] q, float[::1] s, int32_t[::1] qsum):
    cdef size_t m = x.shape[0], k = x.shape[1], kp = q.shape[1]
    cdef int rc
    if m == 0:
        return True
    with nogil:
        rc = fe_ternary_quantize(&x[0, 0] if k else NULL, k, m, k, &q[0, 0], kp, kp, &s[0], &qsum[0])
    return rc == 0


cdef size_t _ternary_row_stride(object a, size_t itemsize) except? 0:
    if a.shape[1] > 1 and a.strides[1] != itemsize:
        raise ValueError("out rows must be contiguous")
    return a.strides[0] // itemsize


def ternary_matmul_q(const int8_t[:, ::1] q, const int32_t[::1] qsum, const float[::1] qscale,
                     const uint8_t[:, ::1] packed, const float[::1] wscale, float[:, :] out,
                     const uint8_t[::1] il=None):
    cdef size_t m = q.shape[0], n = packed.shape[0], kp = q.shape[1]
    if m == 0 or n == 0:
        return
    cdef size_t ldo = _ternary_row_stride(out, 4)
    cdef const uint8_t *ilp = _ternary_il(il, n, kp)
    cdef int rc
    with nogil:
        rc = fe_ternary_matmul(&q[0, 0], kp, &qsum[0], &qscale[0], m, &packed[0, 0], kp, &wscale[0], n,
                               &out[0, 0], NULL, ldo, ilp)
    if rc:
        raise MemoryError("ternary_matmul: cannot allocate a work buffer")


def ternary_matmul_acc(const int8_t[:, ::1] q, const int32_t[::1] qsum, const uint8_t[:, ::1] packed,
                       int32_t[:, :] acc, const uint8_t[::1] il=None):
    cdef size_t m = q.shape[0], n = packed.shape[0], kp = q.shape[1]
    if m == 0 or n == 0:
        return
    cdef size_t ldo = _ternary_row_stride(acc, 4)
    cdef const uint8_t *ilp = _ternary_il(il, n, kp)
    cdef int rc
    with nogil:
        rc = fe_ternary_matmul(&q[0, 0], kp, &qsum[0], NULL, m, &packed[0, 0], kp, NULL, n, NULL,
                               &acc[0, 0], ldo, ilp)
    if rc:
        raise MemoryError("ternary_matmul: cannot allocate a work buffer")


def ternary_linear(const float[:, ::1] x, const uint8_t[:, ::1] packed, const float[::1] wscale, float[:, :] out,
                   const uint8_t[::1] il=None):
    cdef size_t m = x.shape[0], k = x.shape[1], n = packed.shape[0], kp = packed.shape[1] * 4
    if m == 0 or n == 0:
        return True
    cdef size_t ldo = _ternary_row_stride(out, 4)
    cdef const uint8_t *ilp = _ternary_il(il, n, kp)
    cdef int rc
    with nogil:
        rc = fe_ternary_linear(&x[0, 0] if k else NULL, k, m, k, &packed[0, 0], kp, &wscale[0], n, &out[0, 0], ldo,
                               ilp)
    if rc == -2:
        raise MemoryError("ternary_matmul: cannot allocate a work buffer")
    return rc == 0
