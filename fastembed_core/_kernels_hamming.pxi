# hamming bindings (included by _kernels.pyx). Contracts: fastembed_core/_ref/hamming.py.
from libc.stdint cimport int32_t, int64_t, uint8_t


cdef extern from "hamming.h" nogil:
    void fe_hamming_distance(const uint8_t *a, size_t na, size_t a_stride, const uint8_t *b, size_t nb,
                             size_t b_stride, size_t width, int32_t *out, size_t out_stride)
    void fe_hamming_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n,
                         size_t db_stride, size_t width, size_t k, int64_t index_base, int32_t *out_d,
                         int64_t *out_i)
    void fe_hamming_merge(const int32_t *d, const int64_t *ix, size_t nq, size_t parts, size_t kp, size_t k,
                          int32_t *out_d, int64_t *out_i)
    int fe_hamming_topk_split(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n,
                              size_t db_stride, size_t width, size_t k, size_t parts, int32_t *out_d,
                              int64_t *out_i)


cdef extern from "pool.h" nogil:
    int FE_POOL_MAX_PARTS
    int fe_pool_available()
    size_t fe_pool_workers()


def pool_info():
    """The C worker pool (csrc/pool.h): {"available": bool, "workers": started so far, "max_parts": int}."""
    return {"available": bool(fe_pool_available()), "workers": fe_pool_workers(), "max_parts": FE_POOL_MAX_PARTS}


cdef size_t _row_stride(Py_ssize_t rows, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t cols,
                        Py_ssize_t itemsize, str name) except? 0:
    # Rows may be any distance apart (>= one row); within a row, items must be contiguous.
    if cols > 1 and col_stride != itemsize:
        raise ValueError(f"{name} rows must be contiguous")
    if rows <= 1:
        return <size_t>cols
    if row_stride < cols * itemsize:
        raise ValueError(f"{name} rows must not overlap")
    return <size_t>(row_stride // itemsize)


def hamming_distance(const uint8_t[:, :] a, const uint8_t[:, :] b, int32_t[:, :] out):
    cdef Py_ssize_t na = a.shape[0], nb = b.shape[0], width = a.shape[1]
    if b.shape[1] != width or out.shape[0] != na or out.shape[1] != nb:
        raise ValueError("shapes of a, b and out do not match")
    cdef size_t sa = _row_stride(na, a.strides[0], a.strides[1], width, 1, "a")
    cdef size_t sb = _row_stride(nb, b.strides[0], b.strides[1], width, 1, "b")
    cdef size_t so = _row_stride(na, out.strides[0], out.strides[1], nb, 4, "out")
    if na == 0 or nb == 0:
        return
    if width == 0:
        raise ValueError("codes must have at least one byte")
    with nogil:
        fe_hamming_distance(&a[0, 0], na, sa, &b[0, 0], nb, sb, width, &out[0, 0], so)


def hamming_topk(const uint8_t[:, :] queries, const uint8_t[:, :] database, Py_ssize_t k, int64_t index_base,
                 int32_t[:, ::1] out_distances, int64_t[:, ::1] out_indices):
    cdef Py_ssize_t nq = queries.shape[0], n = database.shape[0], width = queries.shape[1]
    if database.shape[1] != width:
        raise ValueError("queries and database have different code widths")
    if k < 1:
        raise ValueError("k must be positive")
    if (out_distances.shape[0] != nq or out_distances.shape[1] != k or out_indices.shape[0] != nq
            or out_indices.shape[1] != k):
        raise ValueError("out_distances and out_indices must have shape (len(queries), k)")
    cdef size_t sq = _row_stride(nq, queries.strides[0], queries.strides[1], width, 1, "queries")
    cdef size_t sd = _row_stride(n, database.strides[0], database.strides[1], width, 1, "database")
    if nq == 0:
        return
    if width == 0:
        raise ValueError("codes must have at least one byte")
    if n == 0:
        out_distances[:, :] = 2147483647
        out_indices[:, :] = -1
        return
    with nogil:
        fe_hamming_topk(&queries[0, 0], nq, sq, &database[0, 0], n, sd, width, k, index_base,
                        &out_distances[0, 0], &out_indices[0, 0])


def hamming_topk_split(const uint8_t[:, :] queries, const uint8_t[:, :] database, Py_ssize_t k, Py_ssize_t parts,
                       int32_t[:, ::1] out_distances, int64_t[:, ::1] out_indices):
    """hamming_topk (index_base 0) with the database split into `parts` ranges on the C worker pool."""
    cdef Py_ssize_t nq = queries.shape[0], n = database.shape[0], width = queries.shape[1]
    if database.shape[1] != width:
        raise ValueError("queries and database have different code widths")
    if k < 1:
        raise ValueError("k must be positive")
    if parts < 1 or parts > FE_POOL_MAX_PARTS:
        raise ValueError(f"parts must be in [1, {FE_POOL_MAX_PARTS}]")
    if (out_distances.shape[0] != nq or out_distances.shape[1] != k or out_indices.shape[0] != nq
            or out_indices.shape[1] != k):
        raise ValueError("out_distances and out_indices must have shape (len(queries), k)")
    cdef size_t sq = _row_stride(nq, queries.strides[0], queries.strides[1], width, 1, "queries")
    cdef size_t sd = _row_stride(n, database.strides[0], database.strides[1], width, 1, "database")
    if nq == 0:
        return
    if width == 0:
        raise ValueError("codes must have at least one byte")
    if n == 0:
        out_distances[:, :] = 2147483647
        out_indices[:, :] = -1
        return
    cdef int rc
    with nogil:
        rc = fe_hamming_topk_split(&queries[0, 0], nq, sq, &database[0, 0], n, sd, width, k, parts,
                                   &out_distances[0, 0], &out_indices[0, 0])
    if rc:
        raise MemoryError("hamming_topk_split: no memory for the per-part results")


def hamming_merge(const int32_t[:, ::1] d, const int64_t[:, ::1] ix, Py_ssize_t parts, int32_t[:, ::1] out_d,
                  int64_t[:, ::1] out_i):
    cdef Py_ssize_t nq = d.shape[0], k = out_d.shape[1]
    if parts < 1 or parts > 64 or d.shape[1] % parts:
        raise ValueError("parts must be in [1, 64] and divide the row length")
    cdef Py_ssize_t kp = d.shape[1] // parts
    if (ix.shape[0] != nq or ix.shape[1] != d.shape[1] or out_d.shape[0] != nq or out_i.shape[0] != nq
            or out_i.shape[1] != k or k > d.shape[1]):
        raise ValueError("hamming_merge: shapes do not match")
    if nq == 0 or k == 0:
        return
    with nogil:
        fe_hamming_merge(&d[0, 0], &ix[0, 0], nq, parts, kp, k, &out_d[0, 0], &out_i[0, 0])
