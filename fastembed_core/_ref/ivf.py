"""numpy reference for the IVF list scan: the specification the compiled ``ivf_topk`` must match.

An IVF index stores its codes grouped by inverted list, each list a contiguous run of rows; a search
scans the rows of the lists it probes. ``ivf_topk`` is that scan: an exact top-k over a set of row
ranges, ordered by (distance, external id) so that the result does not depend on where rows sit.
"""

from __future__ import annotations

import numpy as np

from .hamming import hamming_distance

__all__ = ["ivf_probe", "ivf_search", "ivf_topk", "ivf_topk_grouped"]

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


def ivf_topk_grouped(
    queries: np.ndarray,
    codes: np.ndarray,
    ids: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    group_offsets: np.ndarray,
    group_queries: np.ndarray,
    k: int,
    out_distances: np.ndarray,
    out_rows: np.ndarray,
) -> None:
    """``ivf_topk`` with the ranges given list-major: group g is the range ``starts[g]:ends[g]``, scanned
    for the queries ``group_queries[group_offsets[g]:group_offsets[g + 1]]``. starts, ends: int64[ngroups];
    group_offsets: int64[ngroups + 1] from 0 to len(group_queries), non-decreasing; group_queries: int64
    query numbers < nq. The result is ``ivf_topk`` over each query's ranges (the compiled kernel reads a
    list once for the whole group)."""
    nq = queries.shape[0]
    ng = starts.shape[0]
    if group_offsets.shape[0] != ng + 1 or group_offsets[0] != 0 or group_offsets[-1] != group_queries.shape[0]:
        raise ValueError("group_offsets must run from 0 to len(group_queries) over ngroups + 1 entries")
    if np.any(np.diff(group_offsets) < 0) or np.any((group_queries < 0) | (group_queries >= nq)):
        raise ValueError("group_offsets must be non-decreasing and group_queries hold query numbers")
    group_of_pair = np.repeat(np.arange(ng), np.diff(group_offsets))
    per_query = [group_of_pair[group_queries == i] for i in range(nq)]
    width = max([len(g) for g in per_query] + [1])
    st = np.zeros((nq, width), np.int64)
    en = np.zeros((nq, width), np.int64)
    for i, groups in enumerate(per_query):
        st[i, : len(groups)] = starts[groups]
        en[i, : len(groups)] = ends[groups]
    ivf_topk(queries, codes, ids, st, en, k, out_distances, out_rows)


def ivf_probe(queries: np.ndarray, centroids: np.ndarray, nprobe: int, out: np.ndarray) -> None:
    """Each query's nprobe nearest centroids by (Hamming distance, list number), in ascending list number.

    queries: uint8[nq, width]; centroids: uint8[nlist, width]; 1 <= nprobe <= nlist; out: int64[nq, nprobe],
    written in place. The set is that of ``hamming_topk(queries, centroids, nprobe)``; found from the
    histogram of the (small integer) distances: every list closer than the cut-off distance, then the
    lists at the cut-off in list order."""
    nq, nlist = queries.shape[0], centroids.shape[0]
    if not 1 <= nprobe <= nlist:
        raise ValueError(f"nprobe must be between 1 and nlist={nlist}, got {nprobe}")
    if nq == 0:
        return
    dist = np.empty((nq, nlist), np.int32)
    hamming_distance(queries, centroids, dist)
    bins = 8 * queries.shape[1] + 1
    hist = np.bincount((dist + (np.arange(nq, dtype=np.int64) * bins)[:, None]).ravel(), minlength=nq * bins)
    cum = np.cumsum(hist.reshape(nq, bins), axis=1)
    cut = np.argmax(cum >= nprobe, axis=1)
    below = np.where(cut > 0, cum[np.arange(nq), cut - 1], 0)
    at_cut = dist == cut[:, None]
    take = (dist < cut[:, None]) | (at_cut & (np.cumsum(at_cut, axis=1) <= (nprobe - below)[:, None]))
    out[:] = np.nonzero(take)[1].reshape(nq, nprobe)


def ivf_search(
    queries: np.ndarray,
    centroids: np.ndarray,
    nprobe: int,
    offsets: np.ndarray,
    codes: np.ndarray,
    ids: np.ndarray,
    k: int,
    out_distances: np.ndarray,
    out_rows: np.ndarray,
    distinct: bool = False,
) -> None:
    """A search in one call: ``ivf_probe`` of each query over the centroids, then ``ivf_topk`` over the
    probed lists, list l being the rows ``offsets[l]:offsets[l + 1]`` (offsets: int64[nlist + 1]).
    ``distinct``: rows with an equal (distance, id) pair count once (an id stored in several lists):
    the k best distinct pairs. ValueError if a probed list is not an ascending range within the rows
    of codes. (The compiled kernel scans the lists nearest first; the result is the same.)"""
    nq, nlist = queries.shape[0], centroids.shape[0]
    if offsets.shape[0] != nlist + 1:
        raise ValueError(f"offsets must have nlist + 1 = {nlist + 1} entries, got {offsets.shape[0]}")
    probe = np.empty((nq, nprobe), np.int64)
    ivf_probe(queries, centroids, nprobe, probe)
    if not distinct:
        ivf_topk(queries, codes, ids, offsets[probe], offsets[probe + 1], k, out_distances, out_rows)
        return
    wide_d = np.empty((nq, k * nprobe), np.int32)  # at most nprobe copies of an id among the probed lists
    wide_r = np.empty((nq, k * nprobe), np.int64)
    ivf_topk(queries, codes, ids, offsets[probe], offsets[probe + 1], k * nprobe, wide_d, wide_r)
    out_distances[:] = _INT32_MAX
    out_rows[:] = -1
    for i in range(nq):
        r = wide_r[i][wide_r[i] >= 0]
        keys = ids[r]
        first = np.ones(r.size, bool)
        first[1:] = (keys[1:] != keys[:-1]) | (wide_d[i, 1 : r.size] != wide_d[i, : r.size - 1])
        r, d = r[first][:k], wide_d[i, : first.size][first][:k]
        out_distances[i, : r.size] = d
        out_rows[i, : r.size] = r
