# ternary bindings (included by _kernels.pyx). Contracts: fastembed_core/_ref/ternary.py.
# Every .pxi shares the _kernels module namespace: prefix private helpers with the family name.
from libc.stdint cimport int8_t, uint8_t, int32_t, int64_t


cdef extern from "ternary.h" nogil:
    int fe_ternary_quantize(const float *x, size_t ldx, size_t m, size_t k, int8_t *q, size_t ldq,
                            size_t kp, float *s, int32_t *qsum)
    int fe_ternary_matmul(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                          const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                          int32_t *acc, size_t ldo)
    int fe_ternary_linear(const float *x, size_t ldx, size_t m, size_t k, const uint8_t *packed, size_t kp,
                          const float *wscale, size_t n, float *out, size_t ldo)


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
                     const uint8_t[:, ::1] packed, const float[::1] wscale, float[:, :] out):
    cdef size_t m = q.shape[0], n = packed.shape[0], kp = q.shape[1]
    if m == 0 or n == 0:
        return
    cdef size_t ldo = _ternary_row_stride(out, 4)
    cdef int rc
    with nogil:
        rc = fe_ternary_matmul(&q[0, 0], kp, &qsum[0], &qscale[0], m, &packed[0, 0], kp, &wscale[0], n,
                               &out[0, 0], NULL, ldo)
    if rc:
        raise MemoryError("ternary_matmul: cannot allocate a work buffer")


def ternary_matmul_acc(const int8_t[:, ::1] q, const int32_t[::1] qsum, const uint8_t[:, ::1] packed,
                       int32_t[:, :] acc):
    cdef size_t m = q.shape[0], n = packed.shape[0], kp = q.shape[1]
    if m == 0 or n == 0:
        return
    cdef size_t ldo = _ternary_row_stride(acc, 4)
    cdef int rc
    with nogil:
        rc = fe_ternary_matmul(&q[0, 0], kp, &qsum[0], NULL, m, &packed[0, 0], kp, NULL, n, NULL,
                               &acc[0, 0], ldo)
    if rc:
        raise MemoryError("ternary_matmul: cannot allocate a work buffer")


def ternary_linear(const float[:, ::1] x, const uint8_t[:, ::1] packed, const float[::1] wscale, float[:, :] out):
    cdef size_t m = x.shape[0], k = x.shape[1], n = packed.shape[0], kp = packed.shape[1] * 4
    if m == 0 or n == 0:
        return True
    cdef size_t ldo = _ternary_row_stride(out, 4)
    cdef int rc
    with nogil:
        rc = fe_ternary_linear(&x[0, 0] if k else NULL, k, m, k, &packed[0, 0], kp, &wscale[0], n, &out[0, 0], ldo)
    if rc == -2:
        raise MemoryError("ternary_matmul: cannot allocate a work buffer")
    return rc == 0
