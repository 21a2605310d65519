"""Packed binary codes and exact Hamming search (public API of the hamming kernel family).

A vector of ``dim`` floats becomes ``ceil(dim / 8)`` bytes: bit ``i`` is ``x[i] > threshold``, stored
MSB-first in byte ``i // 8`` with zero padding, exactly as ``np.packbits(x > 0, axis=-1)`` and
sentence-transformers' ``quantize_embeddings(x, precision="ubinary")``. These uint8 codes are the rows
faiss ``IndexBinaryFlat`` stores, and distances match it.

sentence-transformers' signed ``"binary"`` precision is the same bytes minus 128 as int8, i.e. each
byte XOR 0x80; every function here accepts int8 codes in that format wherever it accepts uint8 codes.
Since XOR with the same mask on both sides leaves Hamming distances unchanged, int8 queries against an
int8 database are searched without conversion.

Inputs that are not row-contiguous are copied; wrong dtypes, shapes or arguments raise ValueError or
TypeError naming the argument.
"""

from __future__ import annotations

import numpy as np

from . import _backend, _parallel, _validate
from ._validate import positive_int as _positive_int

__all__ = ["pack_bits", "unpack_bits", "code_cosines", "hamming_distance", "hamming_topk"]

_MIN_DB_CHUNK = 16384  # database rows per thread below which queries are split instead
# Work per thread, in bytes of width * rows * (queries + 1), below which a split costs more than it saves:
# handing a range to a pool thread takes ~0.1 ms (~0.2 ms when that core sat idle), and a 1-query scan
# streams from DRAM, whose bandwidth a second core hardly raises on the machines measured. On a 2-vCPU
# Zen 4 with 256-bit codes (benchmarks/bench_split.py; benchmarks/README.md, "When a kernel is split
# over threads"; two runs, warm and cold), every call split ran 1 query over 32k-262k codes at
# 0.27-0.83x one thread and 4 queries over 32k codes at 0.46-0.60x; at 16 MB, 1 query over 524k codes
# (then the first split) ran 0.81-0.93x in a scratch run. At 24 MB one query is split from 786k codes
# of 32 bytes.
_MIN_THREAD_WORK = 24 << 20
# The same for the database split on the compiled kernels' C worker pool (csrc/pool.h: no Python in the
# hand-off, workers spinning for 1 ms after a job). Every call split on the 2-vCPU Zen 4, 1 query over
# 256-bit codes, the calls alternating with one-thread ones: 32k codes 1.17x one thread, 65k 1.29x,
# 131k 1.46x, 262k 1.65x (scratch run, round 14); 16k (0.5 MB per thread) is not split.
_MIN_POOL_THREAD_WORK = 1 << 20
_MAX_WIDTH = 1 << 27  # bytes per code: 8 * width must fit an int32 distance


def pack_bits(x, *, threshold=0.0) -> np.ndarray:
    """Binarise and pack real vectors: ``uint8[n, ceil(dim / 8)]`` (or ``[ceil(dim / 8)]`` for 1-D x).

    x: real array [n, dim] or [dim]. threshold: a scalar, or one value per dimension (shape [dim]),
    e.g. the per-dimension median of a corpus to centre the bits, converted to x's float dtype.
    Bit = ``x > threshold`` (NaN -> 0).
    """
    x = np.asarray(x)
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"x must be a real (integer or floating) array, not {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D [dim] or 2-D [n, dim], got shape {x.shape}")
    dim = x.shape[-1]
    if dim == 0:
        raise ValueError("x must have at least one dimension (got dim 0)")
    t = np.asarray(threshold)
    if t.dtype == np.bool_ or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise TypeError(f"threshold must be a real scalar or array, not {t.dtype}")
    if t.ndim not in (0, 1) or (t.ndim == 1 and t.shape[0] != dim):
        raise ValueError(f"threshold must be a scalar or have shape ({dim},), got shape {t.shape}")
    if np.issubdtype(x.dtype, np.floating):
        t = t.astype(x.dtype)  # compare in x's precision, as ``x > 0.3`` with a Python float does
    return np.packbits(x > t, axis=-1)


def unpack_bits(codes, dim: int) -> np.ndarray:
    """Inverse of ``pack_bits`` on {0, 1}: uint8 codes [n, width] (or int8 "binary") -> uint8 bits [n, dim]."""
    c = _as_codes(codes, "codes")
    dim = _positive_int(dim, "dim")
    width = c.shape[-1]
    if not 8 * (width - 1) < dim <= 8 * width:
        raise ValueError(f"dim={dim} does not match codes of {width} bytes (needs {8 * width - 7}..{8 * width})")
    return np.unpackbits(c, axis=-1, count=dim)


def code_cosines(queries, codes) -> np.ndarray:
    """The asymmetric score of float queries against binary codes: ``cos(q, 2 * bits - 1)``.

    queries: float [nq, dim]; codes: uint8 [nq, c, ceil(dim / 8)] (``pack_bits`` codes, c per query).
    Returns float32 [nq, c]: the cosine of each query with the +-1 vector of each of its codes (the
    vector a code stands for, up to a scale per dimension; the query is not binarised, so it ranks
    codes at equal Hamming distance apart). 0 for a zero query.
    """
    q = np.asarray(queries)
    if not np.issubdtype(q.dtype, np.floating):
        raise TypeError(f"queries must be float [nq, dim], not {q.dtype}")
    if q.ndim != 2:
        raise ValueError(f"queries must be 2-D [nq, dim], got shape {q.shape}")
    q = q.astype(np.float32, copy=False)
    if not np.isfinite(q).all():
        raise ValueError("queries contain NaN or infinity")
    c = np.asarray(codes)
    nq, dim = q.shape
    if c.ndim != 3 or c.shape[0] != nq or c.shape[2] != (dim + 7) // 8 or c.dtype != np.uint8:
        raise ValueError(f"codes must be uint8 [{nq}, c, {(dim + 7) // 8}], got {c.dtype} {c.shape}")
    out = np.empty(c.shape[:2], np.float32)
    norm = np.linalg.norm(q, axis=1) * np.float32(np.sqrt(dim))
    inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0).astype(np.float32)
    step = max(1, (1 << 22) // max(1, c.shape[1] * dim))  # unpacked candidates: <= 16 MiB at a time
    for s in range(0, nq, step):
        bits = np.unpackbits(c[s : s + step], axis=-1, count=dim).astype(np.float32)
        # q . (2b - 1) = 2 q . b - sum(q); einsum sums each pair in one order whatever the shapes (a
        # batched matmul may not), so a candidate scores the same in every shard and every batch
        dots = np.einsum("qd,qcd->qc", q[s : s + step], bits)
        out[s : s + step] = (2.0 * dots - q[s : s + step].sum(axis=1, keepdims=True)) * inv[s : s + step, None]
    return out


def hamming_distance(a, b, *, num_threads: int | None = None) -> np.ndarray:
    """Bit counts ``popcount(a[i] XOR b[j])`` as ``int32[na, nb]``.

    a: codes [na, width]; b: codes [nb, width] (uint8 "ubinary" or int8 "binary"; 1-D means one row).
    """
    a, b = _pair(a, "a", b, "b")
    threads = _validate.threads(num_threads)
    na, nb = a.shape[0], b.shape[0]
    out = np.empty((na, nb), dtype=np.int32)
    kernels = _backend.kernels
    # bytes read and written per pair; split over 2 threads (bench_split.py), 1 x 20k codes of 32 bytes ran
    # at 0.20-0.48x one thread, 100 x 20k at 1.04-1.73x
    threads = max(1, min(threads, na * nb * (a.shape[1] + 4) // _MIN_THREAD_WORK))
    if na >= threads or nb < 2 * 256:
        _parallel.run(lambda s, e: kernels.hamming_distance(a[s:e], b, out[s:e]), na, threads)
    else:
        _parallel.run(lambda s, e: kernels.hamming_distance(a, b[s:e], out[:, s:e]), nb, threads, 256)
    return out


def hamming_topk(queries, database, k: int, *, num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest codes by Hamming distance: ``(distances int32[nq, k], indices int64[nq, k])``.

    queries: codes [nq, width] (1-D: one query, and the results are 1-D [k]); database: codes
    [n, width], uint8 or int8 as described in the module docstring. Each row is sorted by ascending
    distance, ties broken by the smaller database index, so results are identical on every backend,
    SIMD variant and thread count. Requires 1 <= k <= n (ValueError otherwise, as for an empty
    database). One query is split over threads by database ranges whose results are merged; work too
    small to repay handing it to a thread (see ``_MIN_THREAD_WORK``) runs on the calling thread.
    """
    single = np.ndim(queries) == 1
    q, db = _pair(queries, "queries", database, "database")
    k = _positive_int(k, "k")
    n = db.shape[0]
    if n == 0:
        raise ValueError("database is empty")
    if k > n:
        raise ValueError(f"k={k} is larger than the database ({n} codes)")
    d, i = _topk(q, db, k, _validate.threads(num_threads))
    return (d[0], i[0]) if single else (d, i)


def _topk(q: np.ndarray, db: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated uint8 codes -> exact top-k; see ``hamming_topk``."""
    nq, n = q.shape[0], db.shape[0]
    kernels = _backend.kernels
    width = max(1, db.shape[1])
    pool = _pooled(kernels)  # the compiled kernels split on their C worker pool (POSIX builds)
    db_chunk = max(_MIN_DB_CHUNK, -(-(_MIN_POOL_THREAD_WORK if pool else _MIN_THREAD_WORK) // (width * (nq + 1))))
    if threads > 1 and n >= 2 * db_chunk:
        ranges = _parallel.split(n, min(threads, 64) if pool else threads, db_chunk)
        if pool:
            d = np.empty((nq, k), np.int32)
            i = np.empty((nq, k), np.int64)
            kernels.hamming_topk_split(q, db, k, len(ranges), d, i)
            return d, i
        parts = [(np.empty((nq, k), np.int32), np.empty((nq, k), np.int64)) for _ in ranges]

        def scan(p: int, _stop: int) -> None:
            s, e = ranges[p]
            kernels.hamming_topk(q, db[s:e], k, s, *parts[p])

        _parallel.run(scan, len(ranges), len(ranges))
        return merge_topk([p[0] for p in parts], [p[1] for p in parts], k)
    d = np.empty((nq, k), np.int32)
    i = np.empty((nq, k), np.int64)
    q_chunk = max(1, -(-_MIN_THREAD_WORK // (width * n)) - 1)  # queries per thread
    _parallel.run(lambda s, e: kernels.hamming_topk(q[s:e], db, k, 0, d[s:e], i[s:e]), nq, threads, q_chunk)
    return d, i


def _pooled(kernels) -> bool:
    """Whether ``kernels`` split a top-k on the C worker pool (csrc/pool.h): compiled, with threads
    (Windows builds run the pool's parts inline, so they keep the Python thread pool)."""
    info = getattr(kernels, "pool_info", None)
    return info is not None and info()["available"]


def merge_topk(distances: list[np.ndarray], indices: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-range top-k results [nq, k] into the top-k by (distance, index) of their union."""
    d = np.concatenate(distances, axis=1)
    i = np.concatenate(indices, axis=1)
    if len({a.shape[1] for a in distances}) > 1 or len(distances) > 64:  # runs of unequal length
        order = np.lexsort((i.view(np.uint64), d), axis=-1)[:, :k]
        return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
    od, oi = np.empty((d.shape[0], k), np.int32), np.empty((d.shape[0], k), np.int64)
    _backend.kernels.hamming_merge(d, i, len(distances), od, oi)
    return od, oi


def _as_codes(codes, name: str, *, keep_int8: bool = False) -> np.ndarray:
    """uint8 (or, with keep_int8, raw int8) 2-D codes with contiguous rows; 1-D is one row."""
    c = np.asarray(codes)
    if c.dtype not in (np.uint8, np.int8):
        raise TypeError(f"{name} must be packed codes of dtype uint8 (ubinary) or int8 (binary), not {c.dtype}")
    if c.ndim == 1:
        c = c[None, :]
    if c.ndim != 2:
        raise ValueError(f"{name} must be 1-D [width] or 2-D [n, width] codes, got shape {c.shape}")
    if c.shape[1] == 0:
        raise ValueError(f"{name} must have at least one byte per code")
    if c.shape[1] > _MAX_WIDTH:
        raise ValueError(f"{name} has {c.shape[1]} bytes per code; at most {_MAX_WIDTH} are supported")
    if c.shape[1] > 1 and c.strides[1] != 1:
        c = np.ascontiguousarray(c)
    if c.dtype == np.int8 and not keep_int8:
        c = c.view(np.uint8) ^ np.uint8(0x80)
    return c


def _pair(a, a_name: str, b, b_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two code arrays as uint8 with equal widths (int8 pairs viewed as is: distances are unchanged)."""
    both_int8 = np.asarray(a).dtype == np.int8 and np.asarray(b).dtype == np.int8
    a = _as_codes(a, a_name, keep_int8=both_int8)
    b = _as_codes(b, b_name, keep_int8=both_int8)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{a_name} and {b_name} have different code widths ({a.shape[1]} and {b.shape[1]} bytes)"
        )
    if both_int8:
        a, b = a.view(np.uint8), b.view(np.uint8)
    return a, b
