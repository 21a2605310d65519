"""Quantization in one place: every int8 / binary encoding the package writes or reads.

Two int8 schemes, each written once:

- :func:`symmetric_int8` (per-row symmetric): row r becomes ``q = clip(rint(row / s_r), -127, 127)``
  with ``s_r = max|row| / 127`` (1 for an all-zero row), float32 arithmetic. Used for stored
  tables (``StaticModel.quantize("int8")``, ``distill(dtype="int8")``, the scales folded into
  model2vec's ``weights``) and for the rescoring vectors of ``BinaryIndex(keep="int8")``.
- :func:`quantize_embeddings` with ``"int8"``: sentence-transformers' calibrated format, per
  dimension, ``floor((x - min) / ((max - min) / 255)) - 128`` over ``ranges = [min, max]``. This is
  what ``StaticModel.encode(precision="int8")`` returns and what ``evaluate(precision="int8")``
  measures (sentence-transformers' ``quantize_embeddings`` gives the same bytes).

``"ubinary"`` / ``"binary"`` are packed sign bits (``fastembed_core.hamming.pack_bits``), the
latter XOR 0x80 as int8. :func:`model2vec_quantize` reproduces model2vec 0.10's load-time
``quantize_to`` (one global scale, then discarded), for parity with ``from_pretrained``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["symmetric_int8", "quantize_embeddings", "model2vec_quantize", "EMBEDDING_PRECISIONS"]

#: The ``precision=`` values of ``StaticModel.encode`` (sentence-transformers' names).
EMBEDDING_PRECISIONS = ("float32", "int8", "ubinary", "binary")


def symmetric_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float [n, dim] -> (int8 [n, dim], float32 scales [n]) with ``x ~= q * scales[:, None]``."""
    x = np.asarray(x, dtype=np.float32)
    amax = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0], np.float32)
    scale = amax / np.float32(127)
    scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def quantize_embeddings(x: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """float32 embeddings [n, dim] in sentence-transformers' ``precision`` format.

    ``"int8"`` uses ``ranges`` [2, dim] (per-dimension min and max), computed from ``x`` when None
    (which needs at least two rows); ``"ubinary"`` -> uint8 [n, ceil(dim / 8)]; ``"binary"`` -> int8.
    """
    from .hamming import pack_bits

    if precision == "float32":
        return x
    if precision == "ubinary":
        return pack_bits(x)
    if precision == "binary":
        return (pack_bits(x) ^ np.uint8(0x80)).view(np.int8)
    if precision != "int8":
        raise ValueError(f"precision must be one of {EMBEDDING_PRECISIONS}, not {precision!r}")
    if ranges is None:
        if len(x) < 2:
            raise ValueError("int8 precision needs ranges= (or at least two sentences to compute them from)")
        ranges = np.vstack((x.min(axis=0), x.max(axis=0)))
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    q = np.clip(np.floor((x - starts) / steps), 0, 255)
    return (q - 128).astype(np.int8)


def model2vec_quantize(table: np.ndarray, to: str) -> np.ndarray:
    """model2vec 0.10's quantize_embeddings: a cast, or int8 with one global scale (then discarded)."""
    target = {"float16": np.float16, "float32": np.float32, "float64": np.float64, "int8": np.int8}.get(str(to))
    if target is None:
        raise ValueError(f"quantize_to must be 'float16', 'float32', 'float64' or 'int8', not {to!r}")
    if table.dtype == target:
        return table
    if target is not np.int8:
        return np.asarray(table).astype(target)
    scale = np.max(np.abs(table)) / 127.0
    buf = np.asarray(table).astype(np.float16, copy=True)
    np.divide(buf, scale, out=buf)
    np.rint(buf, out=buf)
    np.clip(buf, -127, 127, out=buf)
    return buf.astype(np.int8)
