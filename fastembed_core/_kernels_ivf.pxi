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


cdef extern from "ivf.h" nogil:
    void fe_ivf_topk_grouped(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes,
                             size_t code_stride, size_t width, const int64_t *ids, const int64_t *starts,
                             const int64_t *ends, size_t ngroups, const int64_t *group_offsets,
                             const int64_t *group_queries, size_t k, int32_t *out_d, int64_t *out_r,
                             int64_t *work)


def ivf_topk_grouped(const uint8_t[:, :] queries, const uint8_t[:, :] codes, const int64_t[::1] ids,
                     const int64_t[::1] starts, const int64_t[::1] ends, const int64_t[::1] group_offsets,
                     const int64_t[::1] group_queries, Py_ssize_t k, int32_t[:, ::1] out_distances,
                     int64_t[:, ::1] out_rows):
    cdef Py_ssize_t nq = queries.shape[0], n = codes.shape[0], width = queries.shape[1]
    cdef Py_ssize_t ng = starts.shape[0], npairs = group_queries.shape[0], g, t
    if codes.shape[1] != width:
        raise ValueError("queries and codes have different code widths")
    if ids.shape[0] != n:
        raise ValueError("ids must have one entry per row of codes")
    if ends.shape[0] != ng or group_offsets.shape[0] != ng + 1:
        raise ValueError("starts, ends and group_offsets must have lengths ngroups, ngroups and ngroups + 1")
    if k < 1:
        raise ValueError("k must be positive")
    if (out_distances.shape[0] != nq or out_distances.shape[1] != k or out_rows.shape[0] != nq
            or out_rows.shape[1] != k):
        raise ValueError("out_distances and out_rows must have shape (len(queries), k)")
    if group_offsets[0] != 0 or group_offsets[ng] != npairs:
        raise ValueError("group_offsets must run from 0 to len(group_queries)")
    for g in range(ng):
        if not 0 <= starts[g] <= ends[g] <= n:
            raise ValueError(f"range ({starts[g]}, {ends[g]}) is not within the {n} rows of codes")
        if group_offsets[g] > group_offsets[g + 1]:
            raise ValueError("group_offsets must be non-decreasing")
    for t in range(npairs):
        if not 0 <= group_queries[t] < nq:
            raise ValueError(f"group_queries holds {group_queries[t]}, not a query number below {nq}")
    cdef size_t sq = _row_stride(nq, queries.strides[0], queries.strides[1], width, 1, "queries")
    cdef size_t sc = _row_stride(n, codes.strides[0], codes.strides[1], width, 1, "codes")
    if nq == 0:
        return
    if width == 0:
        raise ValueError("codes must have at least one byte")
    cdef int64_t[::1] work = _np.empty(nq * k, _np.int64)
    cdef const uint8_t *cp = &codes[0, 0] if n else NULL
    cdef const int64_t *ip = &ids[0] if n else NULL
    cdef const int64_t *sp = &starts[0] if ng else NULL
    cdef const int64_t *ep = &ends[0] if ng else NULL
    cdef const int64_t *gq = &group_queries[0] if npairs else NULL
    with nogil:
        fe_ivf_topk_grouped(&queries[0, 0], nq, sq, cp, sc, width, ip, sp, ep, ng, &group_offsets[0], gq, k,
                            &out_distances[0, 0], &out_rows[0, 0], &work[0])


cdef extern from "ivf.h" nogil:
    void fe_ivf_probe(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *centroids, size_t nlist,
                      size_t c_stride, size_t width, size_t nprobe, int64_t *out, int32_t *work)


def ivf_probe(const uint8_t[:, :] queries, const uint8_t[:, :] centroids, Py_ssize_t nprobe, int64_t[:, ::1] out):
    cdef Py_ssize_t nq = queries.shape[0], nlist = centroids.shape[0], width = queries.shape[1]
    if centroids.shape[1] != width:
        raise ValueError("queries and centroids have different code widths")
    if not 1 <= nprobe <= nlist:
        raise ValueError(f"nprobe must be between 1 and nlist={nlist}, got {nprobe}")
    if out.shape[0] != nq or out.shape[1] != nprobe:
        raise ValueError("out must have shape (len(queries), nprobe)")
    if width == 0:
        raise ValueError("codes must have at least one byte")
    cdef size_t sq = _row_stride(nq, queries.strides[0], queries.strides[1], width, 1, "queries")
    cdef size_t sc = _row_stride(nlist, centroids.strides[0], centroids.strides[1], width, 1, "centroids")
    if nq == 0:
        return
    cdef int32_t[::1] work = _np.empty(nlist + 8 * width + 1, _np.int32)
    with nogil:
        fe_ivf_probe(&queries[0, 0], nq, sq, &centroids[0, 0], nlist, sc, width, nprobe, &out[0, 0], &work[0])


cdef extern from "ivf.h" nogil:
    int fe_ivf_search(const uint8_t *q, const uint8_t *centroids, size_t nlist, size_t c_stride, size_t width,
                      size_t nprobe, const int64_t *offsets, const uint8_t *codes, size_t code_stride, size_t n,
                      const int64_t *ids, size_t k, int distinct, int32_t *out_d, int64_t *out_r, int32_t *work,
                      int64_t *work_k)


def ivf_search(const uint8_t[:, :] queries, const uint8_t[:, :] centroids, Py_ssize_t nprobe,
               const int64_t[::1] offsets, const uint8_t[:, :] codes, const int64_t[::1] ids, Py_ssize_t k,
               int32_t[:, ::1] out_distances, int64_t[:, ::1] out_rows, bint distinct=False):
    cdef Py_ssize_t nq = queries.shape[0], nlist = centroids.shape[0], n = codes.shape[0], width = queries.shape[1]
    cdef Py_ssize_t i
    cdef int rc = 0
    if centroids.shape[1] != width or codes.shape[1] != width:
        raise ValueError("queries, centroids and codes have different code widths")
    if not 1 <= nprobe <= nlist:
        raise ValueError(f"nprobe must be between 1 and nlist={nlist}, got {nprobe}")
    if offsets.shape[0] != nlist + 1:
        raise ValueError(f"offsets must have nlist + 1 = {nlist + 1} entries, got {offsets.shape[0]}")
    if ids.shape[0] != n:
        raise ValueError("ids must have one entry per row of codes")
    if k < 1:
        raise ValueError("k must be positive")
    if (out_distances.shape[0] != nq or out_distances.shape[1] != k or out_rows.shape[0] != nq
            or out_rows.shape[1] != k):
        raise ValueError("out_distances and out_rows must have shape (len(queries), k)")
    if width == 0:
        raise ValueError("codes must have at least one byte")
    cdef size_t sq = _row_stride(nq, queries.strides[0], queries.strides[1], width, 1, "queries")
    cdef size_t sl = _row_stride(nlist, centroids.strides[0], centroids.strides[1], width, 1, "centroids")
    cdef size_t sc = _row_stride(n, codes.strides[0], codes.strides[1], width, 1, "codes")
    if nq == 0:
        return
    cdef int32_t[::1] work = _np.empty(nlist + nprobe + 8 * width + 1, _np.int32)
    cdef int64_t[::1] work_k = _np.empty(k, _np.int64)
    cdef const uint8_t *cp = &codes[0, 0] if n else NULL
    cdef const int64_t *ip = &ids[0] if n else NULL
    with nogil:
        for i in range(nq):
            rc = fe_ivf_search(&queries[0, 0] + i * sq, &centroids[0, 0], nlist, sl, width, nprobe, &offsets[0],
                               cp, sc, n, ip, k, distinct, &out_distances[i, 0], &out_rows[i, 0], &work[0],
                               &work_k[0])
            if rc != 0:
                break
    if rc != 0:
        raise ValueError(f"offsets hold a list that is not an ascending range within the {n} rows of codes")
