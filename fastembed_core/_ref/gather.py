"""numpy reference for the gather kernels (the readable specification of csrc/gather.c).

``gather_mean(table, ids, offsets, mapping, weights, scales, normalize, out, start, stop, round_f16=False,
round_product_f16=False)``
pools bags ``start <= b < stop`` into ``out[b]``:

- ``table``: [rows, dim] float32, float16 or int8; the elements of a row are contiguous
  (``table.strides[1] == table.itemsize``); any positive row stride. Or uint8 [rows, kp // 4]: a
  ternary table packed as in ``fastembed_core.ternary`` (weights -1, 0, 1), of ``dim = out.shape[1]``
  columns, whose row scales come in ``scales``.
- ``ids``: int32 [T], C-contiguous; bag b is ``ids[offsets[b]:offsets[b + 1]]``.
- ``offsets``: int64 [n + 1], C-contiguous, non-decreasing, ``offsets[-1] <= T``.
- ``mapping``: int32 [V] or None: token id -> table row (model2vec's vocabulary quantization).
- ``weights``: float32 [V] or None: per-token multiplier (indexed by the id, not the row).
- ``scales``: float32 [rows] or None: per-row multiplier (int8 tables; required for ternary ones).
- ``out``: float32 [n, dim], C-contiguous; rows ``start:stop`` are overwritten.

For token t: ``row = mapping[t] if mapping else t`` and ``factor = weights[t] * scales[row]``
(missing terms are 1, the product is formed in float32). The bag sum of ``table[row] * factor`` is
accumulated in float32, token by token in bag order (numpy's own order for ``x.mean(axis=0)`` when
dim > 1), the product rounded before the add (no FMA, in C too), and divided by the bag length in
float32 (what numpy's ``mean`` does for float32 data); an empty bag gives zeros. With ``round_f16``
each mean is rounded to float16 (model2vec's mean of a float16 table is float16), still stored as
float32. With ``round_product_f16`` (float16 and int8 tables) each product ``table[row] * factor`` is
rounded to float16 before it is added: model2vec's float16 or int8 table times float16 weights, which
numpy multiplies in float16 (the float32 product of two float16 values is exact, so rounding it is numpy's
float16 product). With ``normalize`` each row is then divided by ``np.linalg.norm(row) + float32(1e-32)``:
numpy sums the float32 squares pairwise (blocks of up to 128, 8 accumulators), and csrc/gather.c
reproduces that order, so every step is bit-identical between backends and to model2vec 0.10.
Inputs are trusted: the public wrapper ``fastembed_core.gather.gather_mean`` validates every
index before calling this.
"""

from __future__ import annotations

import numpy as np

from .ternary import _unpack_codes

__all__ = ["gather_mean"]


def gather_mean(table, ids, offsets, mapping, weights, scales, normalize, out, start, stop, round_f16=False,
                round_product_f16=False) -> None:
    if round_product_f16 and table.dtype not in (np.float16, np.int8):
        raise ValueError("round_product_f16 applies to float16 and int8 tables only")
    out[start:stop] = 0.0
    if stop <= start:
        return
    offs = np.asarray(offsets[start : stop + 1], dtype=np.int64)
    sel = ids[offs[0] : offs[-1]]
    lengths = np.diff(offs)
    nonempty = np.flatnonzero(lengths)
    if len(nonempty) == 0:
        return
    rows = mapping[sel] if mapping is not None else sel
    factor = np.ones(len(sel), dtype=np.float32)
    if weights is not None:
        factor = factor * weights[sel]
    if scales is not None:
        factor = factor * scales[rows]
    dim = out.shape[1]
    if table.dtype == np.uint8:  # ternary codes w + 1 -> w, exact in float32
        gathered = _unpack_codes(table[rows])[:, :dim].astype(np.float32) - np.float32(1)
    else:
        gathered = table[rows].astype(np.float32)
    vals = gathered * factor[:, None]
    if round_product_f16:
        vals = vals.astype(np.float16).astype(np.float32)
    lengths = lengths[nonempty]
    starts = (offs[:-1] - offs[0])[nonempty]
    # Sequential float32 sum, vectorised across bags: step k adds token k of every bag longer than k.
    order = np.argsort(-lengths, kind="stable")
    desc = lengths[order]
    sums = np.zeros((len(order), vals.shape[1]), dtype=np.float32)
    for k in range(int(desc[0])):
        live = int(np.searchsorted(-desc, -k, side="left"))  # bags with length > k form a prefix
        sums[:live] += vals[starts[order[:live]] + k]
    means = np.empty_like(sums)
    means[order] = sums / desc.astype(np.float32)[:, None]
    if round_f16:
        means = means.astype(np.float16).astype(np.float32)
    if normalize:
        means = normalize_rows(means)
    out[start + nonempty] = means


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """float32 [n, dim] rows divided by ``norm + float32(1e-32)``, model2vec 0.10's expression (the
    norm is numpy's: float32 squares summed pairwise along the contiguous row)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + np.float32(1e-32))
