# gather bindings (included by _kernels.pyx).
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t
from libc.string cimport memset

import numpy as _np


cdef extern from "gather.h" nogil:
    ctypedef struct fe_gather_args:
        const void *table
        int64_t row_stride
        int32_t dtype
        int64_t dim
        const int32_t *ids
        const int64_t *offsets
        const int32_t *mapping
        const float *weights
        const float *scales
        int normalize
        float *out
        int64_t out_stride
    int FE_TABLE_F32, FE_TABLE_F16, FE_TABLE_I8, FE_TABLE_T2
    int FE_NORMALIZE, FE_ROUND_F16, FE_ROUND_PRODUCT_F16
    void fe_gather_mean(const fe_gather_args *a, int64_t start, int64_t stop)


def gather_mean(table, const int32_t[::1] ids, const int64_t[::1] offsets, mapping, weights, scales,
                bint normalize, float[:, ::1] out, Py_ssize_t start, Py_ssize_t stop, bint round_f16=False,
                bint round_product_f16=False):
    """See fastembed_core._ref.gather.gather_mean: the public wrapper validated every index; only
    shapes are checked here (a uint8 table is ternary-packed, of dim = out.shape[1] columns)."""
    cdef fe_gather_args a
    cdef const float[:, :] t32
    cdef const uint16_t[:, :] t16
    cdef const int8_t[:, :] t8
    cdef const uint8_t[:, :] t2
    cdef const int32_t[::1] mp
    cdef const float[::1] w
    cdef const float[::1] sc
    memset(&a, 0, sizeof(a))
    if table.dtype == _np.float32:
        t32 = table
        a.table = &t32[0, 0]
        a.row_stride = t32.strides[0]
        a.dtype = FE_TABLE_F32
    elif table.dtype == _np.float16:
        t16 = table.view(_np.uint16)
        a.table = &t16[0, 0]
        a.row_stride = t16.strides[0]
        a.dtype = FE_TABLE_F16
    elif table.dtype == _np.int8:
        t8 = table
        a.table = &t8[0, 0]
        a.row_stride = t8.strides[0]
        a.dtype = FE_TABLE_I8
    elif table.dtype == _np.uint8:
        t2 = table
        a.table = &t2[0, 0]
        a.row_stride = t2.strides[0]
        a.dtype = FE_TABLE_T2
    else:
        raise TypeError(f"table dtype must be float32, float16, int8 or uint8 (ternary), not {table.dtype}")
    a.dim = out.shape[1]
    if (a.dtype == FE_TABLE_T2 and (out.shape[1] > table.shape[1] * 4 or scales is None)) or (
            a.dtype != FE_TABLE_T2 and out.shape[1] != table.shape[1]):
        raise ValueError("out columns do not match the table")
    a.ids = &ids[0]
    a.offsets = &offsets[0]
    if mapping is not None:
        mp = mapping
        a.mapping = &mp[0]
    if weights is not None:
        w = weights
        a.weights = &w[0]
    if scales is not None:
        sc = scales
        a.scales = &sc[0]
    if round_product_f16 and a.dtype != FE_TABLE_F16 and a.dtype != FE_TABLE_I8:
        raise ValueError("round_product_f16 applies to float16 and int8 tables only")
    a.normalize = ((FE_NORMALIZE if normalize else 0) | (FE_ROUND_F16 if round_f16 else 0)
                   | (FE_ROUND_PRODUCT_F16 if round_product_f16 else 0))
    a.out = &out[0, 0]
    a.out_stride = out.shape[1]
    if start < 0 or stop > out.shape[0] or offsets.shape[0] < stop + 1:
        raise ValueError("bag range out of bounds")
    with nogil:
        fe_gather_mean(&a, start, stop)
