"""numpy reference for the IVF list scan: the specification the compiled ``ivf_topk`` must match.

An IVF index stores its codes grouped by inverted list, each list a contiguous run of rows; a search
scans the rows of the lists it probes. ``ivf_topk`` is that scan: an exact top-k over a set of row
ranges, ordered by (distance, external id) so that the result does not depend on where rows sit.
"""

from __future__ import annotations

import numpy as np

from .hamming import hamming_distance

__all__ = ["ivf_topk"]

_INT32_MAX = np.iinfo(np.int32).max


def ivf_topk(
    queries: np.ndarray,
    codes: np.ndarray,
    ids: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    k: int,
    out_distances: np.ndarray,
    out_rows: np.ndarray,
) -> None:
    """Exact k nearest rows of each query among its ranges of rows.

    queries: uint8[nq, width]; codes: uint8[n, width]; ids: int64[n], the external id of each row
    (the tie-break key); starts, ends: int64[nq, nranges], query i scans the rows
    ``starts[i, p] <= r < ends[i, p]`` (ranges within [0, n], not overlapping); k >= 1;
    out_distances: int32[nq, k]; out_rows: int64[nq, k], both written in place. Row i receives the
    min(k, rows scanned) rows with the smallest (distance, ids[r]) pairs, ascending, as (distance, r);
    slots past that hold (2**31 - 1, -1).
    """
    nq, n = queries.shape[0], codes.shape[0]
    if np.any(starts < 0) or np.any(starts > ends) or np.any(ends > n):
        raise ValueError(f"a range is not within the {n} rows of codes")
    out_distances[:] = _INT32_MAX
    out_rows[:] = -1
    for i in range(nq):
        rows = np.concatenate([np.arange(s, e, dtype=np.int64) for s, e in zip(starts[i], ends[i])] or [np.empty(0, np.int64)])
        if rows.size == 0:
            continue
        dist = np.empty((1, rows.size), np.int32)
        hamming_distance(queries[i : i + 1], codes[rows], dist)
        best = np.lexsort((ids[rows], dist[0]))[:k]
        out_distances[i, : best.size] = dist[0, best]
        out_rows[i, : best.size] = rows[best]
