# IVF list-scan binding (included by _kernels.pyx). Contract: fastembed_core/_ref/ivf.py.
from libc.stdint cimport int32_t, int64_t, uint8_t
import numpy as _np


cdef extern from "ivf.h" nogil:
    void fe_ivf_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes, size_t code_stride,
                     size_t width, const int64_t *ids, const int64_t *starts, const int64_t *ends, size_t nranges,
                     size_t k, int32_t *out_d, int64_t *out_r, int64_t *work)


def ivf_topk(const uint8_t[:, :] queries, const uint8_t[:, :] codes, const int64_t[::1] ids,
             const int64_t[:, ::1] starts, const int64_t[:, ::1] ends, Py_ssize_t k,
             int32_t[:, ::1] out_distances, int64_t[:, ::1] out_rows):
    cdef Py_ssize_t nq = queries.shape[0], n = codes.shape[0], width = queries.shape[1]
    cdef Py_ssize_t nr = starts.shape[1], i, p
    if codes.shape[1] != width:
        raise ValueError("queries and codes have different code widths")
    if ids.shape[0] != n:
        raise ValueError("ids must have one entry per row of codes")
    if starts.shape[0] != nq or ends.shape[0] != nq or ends.shape[1] != nr:
        raise ValueError("starts and ends must have shape (len(queries), nranges)")
    if k < 1:
        raise ValueError("k must be positive")
    if (out_distances.shape[0] != nq or out_distances.shape[1] != k or out_rows.shape[0] != nq
            or out_rows.shape[1] != k):
        raise ValueError("out_distances and out_rows must have shape (len(queries), k)")
    for i in range(nq):
        for p in range(nr):
            if not 0 <= starts[i, p] <= ends[i, p] <= n:
                raise ValueError(f"range ({starts[i, p]}, {ends[i, p]}) is not within the {n} rows of codes")
    cdef size_t sq = _row_stride(nq, queries.strides[0], queries.strides[1], width, 1, "queries")
    cdef size_t sc = _row_stride(n, codes.strides[0], codes.strides[1], width, 1, "codes")
    if nq == 0:
        return
    if nr == 0:
        out_distances[:, :] = 2147483647
        out_rows[:, :] = -1
        return
    if width == 0:
        raise ValueError("codes must have at least one byte")
    cdef int64_t[::1] work = _np.empty(k, _np.int64)
    cdef const uint8_t *cp = &codes[0, 0] if n else NULL
    cdef const int64_t *ip = &ids[0] if n else NULL
    with nogil:
        fe_ivf_topk(&queries[0, 0], nq, sq, cp, sc, width, ip, &starts[0, 0], &ends[0, 0], nr, k,
                    &out_distances[0, 0], &out_rows[0, 0], &work[0])
