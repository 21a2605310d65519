"""Gather-mean pooling over CSR bags of token ids (public API).

``gather_mean(table, ids, offsets, ...)`` returns ``float32[n, dim]`` where row i is the mean of
``table[mapping[t]] * weights[t] * scales[mapping[t]]`` over the ids t of bag i
(``ids[offsets[i]:offsets[i + 1]]``); model2vec's ``embeddings[mapping[ids]] * weights[ids]``
followed by a mean. Every argument is checked here, before any kernel runs.

NaN policy: ``weights`` and ``scales`` must be finite (ValueError otherwise). The table is not
scanned per call (that would cost as much as the pooling): a NaN or inf in a table row propagates
into exactly the bags that use that row. ``StaticModel.from_pretrained`` checks its table once.

Extension point: ``table`` may be any object with a ``shape`` (rows, dim) and a method
``_fastembed_gather_mean(ids, offsets, *, mapping, weights, normalize, num_threads)`` taking the
already validated int32 ``ids``, int64 ``offsets``, int32 ``mapping`` or None and float32
``weights`` or None, and returning ``float32[n, dim]`` (e.g. a ternary-packed table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _backend, _parallel

__all__ = ["gather_mean"]

_TABLE_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8))
_MIN_TOKENS_PER_THREAD = 4096


def _int_array(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        if a.size == 0 and a.dtype.kind == "f":  # np.asarray([]) is float64
            return a.astype(np.int64)
        raise TypeError(f"{name} must hold integers, not {a.dtype}")
    return a


def _float_vector(x: Any, name: str, length: int, length_of: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "fiu" or a.dtype.kind == "b":
        raise TypeError(f"{name} must hold floats, not {a.dtype}")
    if len(a) != length:
        raise ValueError(f"{name} has length {len(a)}, expected {length} ({length_of})")
    a = np.require(a, np.float32, ["C", "A"])  # aligned too: C reads whole floats
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def check_table(table: Any) -> np.ndarray:
    """``table`` as a 2-D float32/float16/int8 array whose rows are contiguous (float64 is converted)."""
    t = np.asarray(table)
    if t.ndim != 2:
        raise ValueError(f"table must be 2-D [rows, dim], got shape {t.shape}")
    if t.dtype == np.float64:
        t = t.astype(np.float32)
    if t.dtype not in _TABLE_DTYPES:
        raise TypeError(f"table dtype must be float32, float16, int8 (or float64), not {t.dtype}")
    if t.shape[1] > 1 and t.strides[1] != t.itemsize:  # any row stride is fine, columns must be packed
        t = np.ascontiguousarray(t)
    if not t.flags.aligned:  # e.g. a tensor memory-mapped at an odd file offset
        t = t.copy()
    return t


def check_bags(ids: Any, offsets: Any, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (int32 C-contiguous ids, int64 C-contiguous offsets); ids must lie in [0, n_ids)."""
    ids = _int_array(ids, "ids")
    offsets = _int_array(offsets, "offsets")
    if len(offsets) < 1:
        raise ValueError("offsets must have length n + 1 >= 1 (CSR bag boundaries)")
    offsets = np.require(offsets, np.int64, ["C", "A"])
    if offsets[0] < 0:
        raise ValueError(f"offsets must be >= 0, got offsets[0] = {offsets[0]}")
    if len(offsets) > 1:
        steps = np.diff(offsets)
        if (steps < 0).any():
            i = int(np.argmax(steps < 0))
            raise ValueError(f"offsets must be non-decreasing: offsets[{i}] = {offsets[i]} > offsets[{i + 1}] = {offsets[i + 1]}")
    if offsets[-1] > len(ids):
        raise ValueError(f"offsets run past the end of ids: offsets[-1] = {offsets[-1]} > len(ids) = {len(ids)}")
    if len(ids):
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0:
            raise ValueError(f"ids must be >= 0, found {lo}")
        if hi >= n_ids:
            raise ValueError(f"ids out of range: found {hi}, the vocabulary has {n_ids} entries")
    ids = np.require(ids, np.int32, ["C", "A"])
    return ids, offsets


def _token_splits(offsets: np.ndarray, parts: int) -> list[int]:
    """Bag indices cutting range(n) into ``parts`` ranges of about equal token counts."""
    n = len(offsets) - 1
    first, total = int(offsets[0]), int(offsets[-1] - offsets[0])
    targets = first + (total * np.arange(1, parts, dtype=np.int64)) // parts
    cuts = np.searchsorted(offsets, targets, side="left").clip(0, n)
    return [0, *sorted(int(c) for c in cuts), n]


def gather_mean(
    table: Any,
    ids: Any,
    offsets: Any,
    *,
    weights: Any = None,
    mapping: Any = None,
    scales: Any = None,
    normalize: bool = False,
    num_threads: int | None = None,
) -> np.ndarray:
    """Mean of (weighted) table rows over each CSR bag.

    Args:
        table: [rows, dim] float32, float16 or int8 (float64 is converted to float32), or a table
            object implementing ``_fastembed_gather_mean`` (see the module docstring).
        ids: [T] int32 or int64 token ids; with ``mapping`` they index ``mapping`` and ``weights``,
            otherwise table rows (and ``weights``).
        offsets: [n + 1] integers, non-decreasing, ``offsets[-1] <= T``; bag i is
            ``ids[offsets[i]:offsets[i + 1]]``.
        weights: optional [V] floats, one per token id, multiplied into each gathered row.
        mapping: optional [V] integers in [0, rows): token id -> table row.
        scales: optional [rows] floats, one per table row (e.g. int8 dequantisation scales).
        normalize: divide each result by its L2 norm + 1e-32.
        num_threads: None = all cores; results do not depend on it.

    Returns:
        float32 [n, dim]; an empty bag gives a zero row (never NaN).
    """
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be a bool, not {type(normalize).__name__}")
    threads = _parallel.resolve_threads(num_threads)
    custom = hasattr(table, "_fastembed_gather_mean") and not isinstance(table, np.ndarray)
    if custom:
        shape = tuple(table.shape)
        if len(shape) != 2:
            raise ValueError(f"table must be 2-D [rows, dim], got shape {shape}")
        rows, dim = shape
    else:
        table = check_table(table)
        rows, dim = table.shape
    if mapping is not None:
        mapping = _int_array(mapping, "mapping")
        if len(mapping):
            lo, hi = int(mapping.min()), int(mapping.max())
            if lo < 0 or hi >= rows:
                bad = lo if lo < 0 else hi
                raise ValueError(f"mapping values must lie in [0, {rows}) (table rows), found {bad}")
        mapping = np.require(mapping, np.int32, ["C", "A"])
        n_ids, what = len(mapping), "len(mapping)"
    else:
        n_ids, what = rows, "table rows"
    if weights is not None:
        weights = _float_vector(weights, "weights", n_ids, what)
    if scales is not None:
        if custom:
            raise ValueError("scales apply to array tables only")
        scales = _float_vector(scales, "scales", rows, "table rows")
    ids, offsets = check_bags(ids, offsets, n_ids)
    n = len(offsets) - 1

    if custom:
        return table._fastembed_gather_mean(
            ids, offsets, mapping=mapping, weights=weights, normalize=bool(normalize), num_threads=threads
        )
    out = np.empty((n, dim), dtype=np.float32)
    _run(table, ids, offsets, mapping, weights, scales, bool(normalize), threads, out)
    return out


def _run(table, ids, offsets, mapping, weights, scales, normalize: bool, num_threads, out: np.ndarray,
         round_f16: bool = False) -> None:
    """Pool validated inputs into ``out`` (float32 [n, dim], C-contiguous), split by tokens over threads.
    ``round_f16``: round each mean to float16 before normalising (model2vec's float16 tables)."""
    n = len(offsets) - 1
    if n == 0 or table.shape[1] == 0:
        out[:] = 0.0
        return
    kernels = _backend.kernels
    threads = _parallel.resolve_threads(num_threads)
    tokens = int(offsets[-1] - offsets[0])
    parts = min(threads, n, max(1, tokens // _MIN_TOKENS_PER_THREAD))
    cuts = _token_splits(offsets, parts) if parts > 1 else [0, n]

    def work(a: int, b: int) -> None:
        for p in range(a, b):
            kernels.gather_mean(table, ids, offsets, mapping, weights, scales, normalize, out, cuts[p], cuts[p + 1],
                                round_f16=round_f16)

    _parallel.run(work, len(cuts) - 1, len(cuts) - 1)
