"""Gather-mean pooling over CSR bags of token ids (public API of the gather kernel family).

``gather_mean(table, ids, offsets, ...)`` returns ``float32[n, dim]`` where row i is the mean of
``table[mapping[t]] * weights[t] * scales[mapping[t]]`` over the ids t of bag i
(``ids[offsets[i]:offsets[i + 1]]``); model2vec's ``embeddings[mapping[ids]] * weights[ids]``
followed by a mean. Every argument is checked here (``fastembed_core._validate``), before any
kernel runs; the kernels (``csrc/gather.c``, ``_ref/gather.py``) trust their inputs.

Table dtypes: float32, float16, int8 (with optional per-row ``scales``) and a ternary table
(:class:`fastembed_core.TernaryMatrix`: 2-bit rows times a float32 scale per row), all through
the same kernel entry, the same accumulation rule and the same thread split.

NaN policy: ``weights`` and ``scales`` must be finite (ValueError otherwise). The table is not
scanned per call (that would cost as much as the pooling): a NaN or inf in a table row propagates
into exactly the bags that use that row. ``StaticModel.from_pretrained`` checks its table once.
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref
from typing import Any, NamedTuple

import numpy as np

from . import _backend, _io, _parallel, _validate

__all__ = ["gather_mean"]

_MIN_TOKENS_PER_THREAD = 4096
_ROWS_PER_COPY = 4096  # RowCache copies new rows in runs of this many, unmapping the table after each


class Table(NamedTuple):
    """A validated table as the kernels take it.

    ``data``: float32/float16/int8 [rows, dim] with contiguous rows, or, for a ternary table, its
    packed uint8 [rows, kp // 4] codes; ``scales``: float32 [rows] or None (a ternary table's row
    scales); ``rows`` and ``dim`` its logical shape.
    """

    data: np.ndarray
    scales: np.ndarray | None
    rows: int
    dim: int

    def columns(self, dims: int | None) -> "Table":
        """The first ``dims`` columns (all when None)."""
        if dims is None or dims == self.dim:
            return self
        data = self.data if self.data.dtype == np.uint8 else self.data[:, :dims]
        return Table(data, self.scales, self.rows, dims)


def check_table(table: Any) -> np.ndarray | Any:
    """``table`` as a 2-D float32/float16/int8 array with contiguous rows (float64 is converted),
    or a :class:`TernaryMatrix` as is."""
    from .ternary import TernaryMatrix

    if isinstance(table, TernaryMatrix):
        return table
    t = np.asarray(table)
    if t.ndim != 2:
        raise ValueError(f"table must be 2-D [rows, dim], got shape {t.shape}")
    if t.dtype == np.float64:
        t = t.astype(np.float32)
    if t.dtype not in _validate.TABLE_DTYPES:
        raise TypeError(f"table dtype must be float32, float16, int8 (or float64), or a TernaryMatrix, not {t.dtype}")
    if t.shape[1] > 1 and t.strides[1] != t.itemsize:  # any row stride is fine, columns must be packed
        t = np.ascontiguousarray(t)
    if not t.flags.aligned:  # e.g. a tensor memory-mapped at an odd file offset
        t = t.copy()
    return t


def kernel_table(table: Any, scales: Any = None) -> Table:
    """A :class:`Table` from a table accepted by :func:`check_table` and optional per-row scales."""
    from .ternary import TernaryMatrix

    t = check_table(table)
    if isinstance(t, TernaryMatrix):
        if scales is not None:
            raise ValueError("scales apply to float and int8 tables; a TernaryMatrix has its own")
        return Table(t.packed, t.row_scales, *t.shape)
    rows = t.shape[0]
    if scales is not None:
        scales = _validate.float_array(scales, "scales", length=rows, length_of="table rows")
    return Table(t, scales, rows, t.shape[1])


class RowCache:
    """The rows of a table that encode has gathered so far, copied into this process's own memory
    (``StaticModel(..., table_memory="rows")``).

    A memory-mapped table costs a lone process every 4 KB page it gathers a row from (a 1 KB row
    brings its whole page: 55.9 MB of pages for 15.2 MB of rows in ``benchmarks/bench_unigram.py
    memory``). Here each new row is copied once into ``rows`` (an anonymous mapping as large as the
    table: only the pages written so far exist), the table's pages are unmapped again right after
    (``MADV_DONTNEED``: they stay in the page cache, not in this process), and ``mapping_for`` gives
    the token id -> row of ``rows`` map the kernel gathers through. The vectors are the same bits:
    the same rows, the same arithmetic. The price: rows are private, so N processes hold N copies of
    the rows each gathers (a mapped table shares its pages), plus 4 bytes per token for the map.
    Thread-safe: rows are only appended (under a lock), and a token's slot never changes once set.
    """

    def __init__(self, table: np.ndarray, mapping: np.ndarray | None, n_tokens: int) -> None:
        rows, dim = table.shape
        self._src, self._mapping = table, mapping
        # private anonymous memory: its pages appear as rows are written; a forked child gets a copy
        self._mem = mmap.mmap(-1, max(1, rows * dim * table.itemsize), flags=mmap.MAP_PRIVATE)
        self.rows = np.frombuffer(self._mem, dtype=table.dtype, count=rows * dim).reshape(rows, dim)
        self.table = Table(self.rows, None, rows, dim)
        self._slot = np.full(n_tokens, -1, dtype=np.int32)  # token id -> row of self.rows, -1: not yet
        self._row_slot = self._slot if mapping is None else np.full(rows, -1, dtype=np.int32)
        self._held = 0
        self._lock = threading.Lock()
        _ROW_CACHES.add(self)

    def __len__(self) -> int:
        """Rows copied so far."""
        return self._held

    def mapping_for(self, ids: np.ndarray) -> np.ndarray:
        """int32 [n_tokens] token id -> row of ``self.rows``, valid for every id in ``ids`` (validated
        ids), after copying the rows not held yet."""
        slot = self._slot
        if ids.size and slot[ids].min() < 0:
            with self._lock:
                tokens = np.unique(ids[slot[ids] < 0])  # again under the lock: another thread may have copied some
                rows = tokens if self._mapping is None else self._mapping[tokens]
                new = np.unique(rows[self._row_slot[rows] < 0])
                for a in range(0, new.size, _ROWS_PER_COPY):
                    part, n = new[a : a + _ROWS_PER_COPY], self._held
                    np.take(self._src, part, axis=0, out=self.rows[n : n + part.size])
                    self._row_slot[part] = np.arange(n, n + part.size, dtype=np.int32)  # after the copy
                    self._held = n + part.size
                    _io.unmap_pages(self._src)
                if self._mapping is not None:
                    slot[tokens] = self._row_slot[rows]
        return slot


_ROW_CACHES: "weakref.WeakSet[RowCache]" = weakref.WeakSet()


def _new_locks_after_fork() -> None:  # a lock held by another thread at fork time stays held in the child
    for cache in list(_ROW_CACHES):
        cache._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


def check_mapping(mapping: Any, rows: int) -> np.ndarray | None:
    """int32 C-contiguous token id -> table row, values in [0, rows); None stays None."""
    if mapping is None:
        return None
    m = _validate.int_vector(mapping, "mapping")
    if len(m):
        lo, hi = int(m.min()), int(m.max())
        if lo < 0 or hi >= rows:
            raise ValueError(f"mapping values must lie in [0, {rows}) (table rows), found {lo if lo < 0 else hi}")
    return np.require(m, np.int32, ["C", "A"])


def check_weights(weights: Any, n_ids: int, what: str) -> np.ndarray | None:
    """float32 [n_ids] finite per-token weights; None stays None."""
    if weights is None:
        return None
    return _validate.float_array(weights, "weights", length=n_ids, length_of=what)


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
        table: [rows, dim] float32, float16 or int8 (float64 is converted to float32), or a
            :class:`fastembed_core.TernaryMatrix` [rows, dim].
        ids: [T] integer token ids; with ``mapping`` they index ``mapping`` and ``weights``,
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
    normalize = _validate.boolean(normalize, "normalize")
    threads = _validate.threads(num_threads)
    t = kernel_table(table, scales)
    mapping = check_mapping(mapping, t.rows)
    n_ids, what = (len(mapping), "len(mapping)") if mapping is not None else (t.rows, "table rows")
    weights = check_weights(weights, n_ids, what)
    ids, offsets = _validate.check_bags(ids, offsets, n_ids, what)
    out = np.empty((len(offsets) - 1, t.dim), dtype=np.float32)
    run(t, ids, offsets, mapping, weights, normalize, threads, out)
    return out


def _token_splits(offsets: np.ndarray, parts: int) -> list[int]:
    """Bag indices cutting range(n) into ``parts`` ranges of about equal token counts."""
    n = len(offsets) - 1
    first, total = int(offsets[0]), int(offsets[-1] - offsets[0])
    targets = first + (total * np.arange(1, parts, dtype=np.int64)) // parts
    cuts = np.searchsorted(offsets, targets, side="left").clip(0, n)
    return [0, *sorted(int(c) for c in cuts), n]


def run(table: Table, ids: np.ndarray, offsets: np.ndarray, mapping: np.ndarray | None,
        weights: np.ndarray | None, normalize: bool, threads: int | None, out: np.ndarray,
        round_f16: bool = False, round_product_f16: bool = False) -> None:
    """Pool validated inputs into ``out`` (float32 [n, table.dim], C-contiguous), split by tokens over
    ``threads`` threads. The one entry every caller (gather_mean, StaticModel, the model2vec drop-in)
    goes through. ``round_f16``: round each mean to float16 before normalising (model2vec's float16
    tables); ``round_product_f16``: round each product to float16 before it is added (model2vec's
    float16 or int8 table times float16 weights)."""
    n = len(offsets) - 1
    if n == 0 or table.dim == 0:
        out[:] = 0.0
        return
    kernels = _backend.kernels
    threads = _validate.threads(threads)  # None: every core
    tokens = int(offsets[-1] - offsets[0])
    parts = min(threads, n, max(1, tokens // _MIN_TOKENS_PER_THREAD))
    cuts = _token_splits(offsets, parts) if parts > 1 else [0, n]

    def work(a: int, b: int) -> None:
        for p in range(a, b):
            kernels.gather_mean(table.data, ids, offsets, mapping, weights, table.scales, normalize, out,
                                cuts[p], cuts[p + 1], round_f16=round_f16, round_product_f16=round_product_f16)

    _parallel.run(work, len(cuts) - 1, len(cuts) - 1)
