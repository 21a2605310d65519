"""numpy reference for the hamming kernels: the specification the compiled ones must match exactly.

Codes are uint8 rows of ``width`` bytes, the bits of a vector packed MSB-first as ``np.packbits``
does. Row strides may exceed the width (a view of the first bytes of longer codes); within a row the
bytes are contiguous. The public wrappers in ``fastembed_core.binary`` validate everything first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hamming_distance", "hamming_topk", "hamming_merge"]

_INT32_MAX = np.iinfo(np.int32).max
_BLOCK_BYTES = 1 << 25  # bound on the temporary XOR array of one block


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    """Bit count of each row of a [..., width] uint8 array, as int32."""
    if x.shape[-1] % 8 == 0:
        x = np.ascontiguousarray(x).view(np.uint64)  # eight bytes per popcount: same bits, fewer ops
    return np.bitwise_count(x).sum(axis=-1, dtype=np.int32)


def hamming_distance(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j] = popcount(a[i] XOR b[j])``.

    a: uint8[na, width]; b: uint8[nb, width]; out: int32[na, nb], written in place.
    """
    na, width = a.shape
    nb = b.shape[0]
    if na == 0 or nb == 0:
        return
    rows = max(1, _BLOCK_BYTES // max(1, nb * width))
    for i in range(0, na, rows):
        out[i : i + rows] = _popcount_rows(a[i : i + rows, None, :] ^ b[None, :, :])


def hamming_topk(
    queries: np.ndarray,
    database: np.ndarray,
    k: int,
    index_base: int,
    out_distances: np.ndarray,
    out_indices: np.ndarray,
) -> None:
    """Exact k nearest database rows of each query by Hamming distance.

    queries: uint8[nq, width]; database: uint8[n, width]; k >= 1; out_distances: int32[nq, k];
    out_indices: int64[nq, k], both written in place. Row i receives the min(k, n) pairs
    (distance, index_base + row) that are smallest in the order (distance, row): ascending distance,
    ties broken by the smaller row. Slots past n hold (2**31 - 1, -1).
    """
    nq, n = queries.shape[0], database.shape[0]
    out_distances[:] = _INT32_MAX
    out_indices[:] = -1
    kk = min(k, n)
    if nq == 0 or kk == 0:
        return
    rows = max(1, (1 << 24) // n)  # int32 distances of at most 64 MiB at a time
    for q0 in range(0, nq, rows):
        block = queries[q0 : q0 + rows]
        dist = np.empty((block.shape[0], n), dtype=np.int32)
        hamming_distance(block, database, dist)
        for r, row in enumerate(dist):
            if kk < n:
                kth = np.partition(row, kk - 1)[kk - 1]
                cand = np.flatnonzero(row <= kth)  # ascending rows, possibly more than kk on ties
            else:
                cand = np.arange(n)
            best = cand[np.argsort(row[cand], kind="stable")[:kk]]
            out_distances[q0 + r, :kk] = row[best]
            out_indices[q0 + r, :kk] = best + index_base


def hamming_merge(d: np.ndarray, ix: np.ndarray, parts: int, out_d: np.ndarray, out_i: np.ndarray) -> None:
    """Merge per-part top-k runs into the top-k of their union, by (distance, index).

    d: int32[nq, parts * kp], ix: int64[nq, parts * kp]: ``parts`` runs of kp pairs per query, each
    sorted ascending; out_d: int32[nq, k], out_i: int64[nq, k] (k <= parts * kp), written in place.
    Index -1 (an unused slot, distance INT32_MAX) sorts after every real index.
    """
    if not 1 <= parts <= 64 or d.shape[1] % parts:
        raise ValueError("parts must be in [1, 64] and divide the row length")
    k = out_d.shape[1]
    order = np.lexsort((ix.view(np.uint64), d), axis=-1)[:, :k]
    out_d[:] = np.take_along_axis(d, order, axis=1)
    out_i[:] = np.take_along_axis(ix, order, axis=1)
