"""Ternary weights: ternarize, 2-bit packing, ternary x int8 matmul, ternary layers and tables.

A :class:`TernaryMatrix` holds an ``[n, k]`` matrix (``nn.Linear`` convention: ``y = x @ W.T``)
as values ``T`` in {-1, 0, +1} and float32 scales (one per row, or one for the whole tensor), so
that ``W ~= scales[:, None] * T``.

Packed layout (2 bits per weight, ``code = T + 1``: 0 -> -1, 1 -> 0, 2 -> +1; code 3 is invalid)
    Each row is padded with zeros (code 1) to ``kp = ceil(k / 128) * 128`` weights and stored in
    ``kp // 4`` bytes: ``packed`` is uint8 ``[n, kp // 4]``, C-contiguous. A row is a sequence of
    32-byte blocks; block ``b`` covers weights ``128*b .. 128*b + 127``, and bits ``2p, 2p+1``
    (p = 0..3, least significant first) of its byte ``i`` hold the code of weight
    ``128*b + 32*p + i``. So ``(block >> 2p) & 3`` yields the codes of 32 consecutive weights,
    lined up with 32 consecutive int8 activations: the SIMD kernels decode with a shift and a mask.

Matmul (:func:`ternary_matmul`)
    Each row of x is quantised to int8 in float32 arithmetic: ``s = 127 / max|x_row|`` (clamped
    to FLT_MAX if that overflows; 1 for an all-zero row), ``q = clip(rint(x * s), -128, 127)`` with
    rint rounding half to even, as ``np.rint``. Then ``acc = q . T_row`` in int32 (never int16),
    and ``y = float32(acc) * scale / s`` (float32 ops, left to right). The int32 accumulators are
    bit-identical between the numpy reference, every compiled variant and every thread count.

Files (:meth:`TernaryMatrix.save` / :meth:`TernaryMatrix.load`): safetensors with tensors
``packed`` (uint8) and ``scales`` (float32, shape ``[n]`` or ``[]``) and metadata ``format``,
``version``, ``shape``; written atomically and fully verified on load (no pickle).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from . import _backend, _parallel, _validate
from ._io import atomic_write, read_safetensors, write_safetensors
from ._ref.ternary import BLOCK, _pack_codes, _unpack_codes

__all__ = ["TernaryMatrix", "TernaryLinear", "ternarize", "ternary_matmul", "ternary_gather_mean"]

_FORMAT = "fastembed_core.ternary"
_VERSION = "1"
# Multiply-adds per thread below which ternary_matmul uses fewer threads: handing work to a pool thread
# costs ~0.08-0.1 ms, longer than a 1x2048 @ 2048x2048 GEMV takes on one thread. On a 2-vCPU Zen 4,
# avx512_vnni (benchmarks/bench_split.py; benchmarks/README.md, "When a kernel is split over threads"),
# every product split ran (two runs, warm and cold) 1x384 @ 384x1536 at 0.13-0.25x one thread,
# 1x2048 @ 2048x2048 at 0.29-0.44x, 2x4096 @ 4096x4096 (34M) at 0.69-1.05x, 16x2048 @ 2048x2048
# (67M) at 0.97-1.37x, 256x384 @ 384x1536 (151M) at 1.22-1.56x.
_MIN_THREAD_MACS = 24 << 20


def _padded(k: int) -> int:
    return -(-k // BLOCK) * BLOCK if k else BLOCK


def _check_packed(packed: np.ndarray, k: int, name: str = "packed") -> None:
    """ValueError unless every code is 0..2 and the padding codes past k are 1."""
    if packed.size == 0:
        return
    invalid = (packed & 0x55) & ((packed >> 1) & 0x55)
    if invalid.any():
        raise ValueError(f"{name} contains the invalid 2-bit code 3 (valid codes: 0, 1, 2 = weight + 1)")
    if k % BLOCK:
        tail = _unpack_codes(packed[:, -(BLOCK // 4):])[:, k % BLOCK :]
        if (tail != 1).any():
            raise ValueError(f"{name}: padding codes past column {k} must be 1 (weight 0)")


class TernaryMatrix:
    """An [n, k] ternary matrix: 2-bit packed values times float32 per-row (or per-tensor) scales.

    Build one with :func:`ternarize`, :meth:`from_values` or :meth:`load`. ``values`` (int8 in
    {-1, 0, 1}), ``to_dense()`` (float32) and ``row_scales`` are decoded on demand; only ``packed``
    and ``scales`` are stored. Under the AVX-512 VNNI kernel the first product also builds a
    row-interleaved copy of ``packed`` for the GEMV rows (as many bytes again, kept with the matrix,
    never saved or pickled).
    """

    __slots__ = ("shape", "packed", "scales", "_row_scales", "_il")

    def __init__(self, packed: np.ndarray, scales: Any, shape: tuple[int, int]) -> None:
        if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(d, (int, np.integer)) for d in shape)):
            raise ValueError(f"shape must be a tuple (n, k) of ints, not {shape!r}")
        n, k = int(shape[0]), int(shape[1])
        if n < 0 or k < 0:
            raise ValueError(f"shape must be non-negative, not {shape!r}")
        packed = np.asarray(packed)
        if packed.dtype != np.uint8:
            raise TypeError(f"packed must be uint8, not {packed.dtype}")
        if packed.shape != (n, _padded(k) // 4):
            raise ValueError(
                f"packed must have shape {(n, _padded(k) // 4)} for a {n}x{k} matrix "
                f"(rows padded to a multiple of {BLOCK} weights, 4 per byte), got {packed.shape}"
            )
        _check_packed(packed, k)
        scales = np.asarray(scales)
        if scales.dtype.kind != "f":
            raise TypeError(f"scales must be floating, not {scales.dtype}")
        if scales.shape not in ((), (n,)):
            raise ValueError(f"scales must be a scalar or have shape ({n},), got {scales.shape}")
        scales = scales.astype(np.float32)
        if not np.isfinite(scales).all():
            raise ValueError("scales contains non-finite values")
        self.shape = (n, k)
        self.packed = np.array(packed, dtype=np.uint8, order="C", copy=True)
        self.scales = scales
        self._row_scales = np.ascontiguousarray(np.broadcast_to(scales, (n,)), dtype=np.float32)
        self.packed.flags.writeable = False  # validated once: keep it that way
        self._row_scales.flags.writeable = False
        self._il: np.ndarray | None = None

    def __getstate__(self) -> tuple:  # without the derived GEMV layout
        return (self.shape, self.packed, self.scales)

    def __setstate__(self, state: tuple) -> None:
        if len(state) == 2 and isinstance(state[1], dict):  # (None, slots): pickled by 0.1.0 before the layout
            state = (state[1]["shape"], state[1]["packed"], state[1]["scales"])
        TernaryMatrix.__init__(self, state[1], state[2], state[0])

    def _gemv_layout(self) -> np.ndarray | None:
        """The GEMV layout of ``packed`` for kernels that read it (ternary_gemv_layout), or None.

        Built once, on the first product under such a kernel (the C driver decides which rows use
        it): a second copy of the packed weights (``nbytes`` does not count it); derived, never
        saved or pickled.
        """
        il = self._il
        if il is None:
            kern = _backend.kernels
            if kern.ternary_gemv_layout_used():
                il = self._il = kern.ternary_gemv_layout(self.packed)
                il.flags.writeable = False
        return il

    @classmethod
    def from_values(cls, values: Any, scales: Any) -> "TernaryMatrix":
        """From int values in {-1, 0, 1} of shape [n, k] and a scalar or [n] float scales."""
        v = np.asarray(values)
        if v.ndim != 2:
            raise ValueError(f"values must be 2-D, got shape {v.shape}")
        if v.dtype.kind not in "iu" and not (v.dtype.kind == "f" and np.all(np.isin(v, (-1, 0, 1)))):
            raise TypeError(f"values must be integers in {{-1, 0, 1}}, not {v.dtype}")
        if v.size and (v.min() < -1 or v.max() > 1):
            raise ValueError("values must be in {-1, 0, 1}")
        n, k = v.shape
        codes = np.ones((n, _padded(k)), np.uint8)
        codes[:, :k] = (v + 1).astype(np.uint8)
        return cls(_pack_codes(codes), scales, (n, k))

    @property
    def values(self) -> np.ndarray:
        """int8 [n, k] in {-1, 0, 1}."""
        return (_unpack_codes(self.packed)[:, : self.shape[1]].astype(np.int8) - 1).astype(np.int8)

    @property
    def row_scales(self) -> np.ndarray:
        """float32 [n]: the scales broadcast to one per row (read-only)."""
        return self._row_scales

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes + self.scales.nbytes)

    def to_dense(self) -> np.ndarray:
        """float32 [n, k] = scales * values."""
        return self.values.astype(np.float32) * self.row_scales[:, None]

    def __repr__(self) -> str:
        kind = "tensor" if self.scales.ndim == 0 else "row"
        return f"TernaryMatrix(shape={self.shape}, scale={kind!r}, nbytes={self.nbytes})"

    def __matmul__(self, other: Any) -> np.ndarray:
        raise TypeError("use ternary_matmul(x, w) (computes x @ w.T) or TernaryLinear")

    def gather_mean(self, ids: Any, offsets: Any, **options: Any) -> np.ndarray:
        """float32 [len(offsets) - 1, k]: ``fastembed_core.gather_mean(self, ids, offsets, **options)``,
        the matrix taken as an embedding table of n rows."""
        from .gather import gather_mean

        return gather_mean(self, ids, offsets, **options)

    def save(self, path: str | os.PathLike) -> None:
        """Writes a safetensors file atomically (``fastembed_core._io.atomic_write``)."""
        meta = {"format": _FORMAT, "version": _VERSION, "shape": json.dumps(list(self.shape))}
        with atomic_write(path) as tmp:
            write_safetensors(tmp, {"packed": self.packed, "scales": self.scales}, metadata=meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TernaryMatrix":
        """Reads a file written by :meth:`save`; ValueError if anything does not check out."""
        try:
            tensors, meta = read_safetensors(path, metadata=True)
        except ValueError as exc:
            raise ValueError(f"cannot read ternary matrix file {path}: {exc}") from None
        if meta.get("format") != _FORMAT or set(tensors) != {"packed", "scales"}:
            raise ValueError(f"{path} is not a fastembed_core ternary matrix file")
        if meta.get("version") != _VERSION:
            raise ValueError(f"{path}: unsupported ternary file version {meta.get('version')!r}")
        try:
            shape = tuple(int(d) for d in json.loads(meta["shape"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: bad 'shape' metadata {meta.get('shape')!r}") from None
        packed, scales = np.asarray(tensors["packed"]), np.asarray(tensors["scales"])
        if scales.dtype != np.float32:
            raise ValueError(f"{path}: scales must be float32, not {scales.dtype}")
        return cls(packed, scales, shape)  # verifies shapes, dtypes and codes (and copies packed)


def ternarize(
    w: Any, *, scale: str = "row", threshold: float | None = None, fit: str | None = None
) -> TernaryMatrix:
    """Ternarize a float matrix w [n, k] (``y = x @ w.T``) into a :class:`TernaryMatrix`.

    ``scale="tensor"``: BitNet b1.58. ``a = mean|W|`` over the whole tensor,
    ``T = clip(rint(W / a), -1, 1)`` (so ``|W| > a / 2`` becomes +-1; exact halves round to 0),
    one scale for the tensor. ``scale="row"``: the same with ``a`` computed per output row.

    ``threshold=beta`` (a float) replaces the rounding by a hard threshold:
    ``T = sign(W) * (|W| > beta * a)`` with the same ``a`` (per row or per tensor). This is the
    absmean-threshold rule of Chen et al. 2024 ("Efficient Ternary Weight Embedding Model",
    arXiv:2411.15438), whose threshold is a multiple of mean|W| tuned as a hyperparameter; e.g.
    ``beta=2.0`` keeps only the weights above twice the mean magnitude (a sparse T), and
    ``beta=0.7`` is the classic TWN threshold. ``threshold=None`` is the BitNet rounding
    (equivalent to ``beta=0.5``).

    ``fit`` chooses the stored scale: ``"absmean"`` stores ``a`` (BitNet); ``"ls"`` stores the
    least-squares scale for the chosen T, ``mean(|W|)`` over the entries where ``T != 0`` (0 when
    T is all zero). Default: ``"ls"`` for ``scale="row"``, ``"absmean"`` for ``scale="tensor"``.
    Statistics are computed in float64; scales are stored as float32.
    """
    if scale not in ("row", "tensor"):
        raise ValueError(f"scale must be 'row' or 'tensor', not {scale!r}")
    if fit is None:
        fit = "ls" if scale == "row" else "absmean"
    if fit not in ("ls", "absmean"):
        raise ValueError(f"fit must be 'ls' or 'absmean', not {fit!r}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold) or threshold < 0:
            raise ValueError(f"threshold must be None or a finite number >= 0, not {threshold!r}")
    w64 = _validate.float_array(w, "w", 2).astype(np.float64)
    aw = np.abs(w64)
    axis = 1 if scale == "row" else None
    a = aw.mean(axis=axis, keepdims=True) if w64.size else np.zeros((w64.shape[0], 1) if axis else (1, 1))
    if threshold is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(np.rint(np.where(a > 0, w64 / np.where(a > 0, a, 1), 0)), -1, 1)
    else:
        t = np.sign(w64) * (aw > threshold * a)
    t = t.astype(np.int8)
    if fit == "absmean":
        s = a
    else:
        nz = t != 0
        cnt = nz.sum(axis=axis, keepdims=True)
        s = np.where(cnt > 0, (aw * nz).sum(axis=axis, keepdims=True) / np.maximum(cnt, 1), 0.0)
    s = s.reshape(-1) if scale == "row" else s.reshape(())
    return TernaryMatrix.from_values(t, s.astype(np.float32))


def _check_matrix(w: Any, name: str = "w") -> TernaryMatrix:
    if not isinstance(w, TernaryMatrix):
        raise TypeError(f"{name} must be a TernaryMatrix (see ternarize), not {type(w).__name__}")
    return w


def ternary_matmul(x: Any, w: TernaryMatrix, *, num_threads: int | None = None) -> np.ndarray:
    """float32 [m, n] ~= x @ w.to_dense().T for x float32 [m, k] (a 1-D x gives [n]).

    Activations are quantised per row to int8 and multiplied with the ternary weights in int32
    (see the module docstring for the exact arithmetic). Threads split the rows (each thread
    quantises and multiplies its own) unless there are few rows (GEMV), where the activations are
    quantised once and threads split the output columns; results do not depend on them. A product
    too small to repay handing work to a thread (``_MIN_THREAD_MACS`` multiply-adds each) uses fewer.
    """
    w = _check_matrix(w)
    nt = _validate.threads(num_threads)
    xa = _validate.float_array(x, "x", (1, 2), finite=False)  # the quantize kernel checks it
    vec = xa.ndim == 1
    if vec:
        xa = xa[None, :]
    n, k = w.shape
    if xa.shape[1] != k:
        raise ValueError(f"x has {xa.shape[1]} columns but w has k = {k} (w.shape = {w.shape}): shapes mismatch")
    m = xa.shape[0]
    out = np.empty((m, n), np.float32)
    nt = max(1, min(nt, m * n * k // _MIN_THREAD_MACS))
    if m and n:
        kern, packed, wscale = _backend.kernels, w.packed, w.row_scales
        if nt == 1 or m >= 8 * nt or n < 128:
            il = w._gemv_layout()
            ok = kern.ternary_linear(xa, packed, wscale, out, il) if nt == 1 else all(_parallel.run(
                lambda a, b: kern.ternary_linear(xa[a:b], packed, wscale, out[a:b], il), m, nt, min_chunk=8))
        else:
            kp = packed.shape[1] * 4
            q, s, qsum = np.empty((m, kp), np.int8), np.empty(m, np.float32), np.empty(m, np.int32)
            ok = kern.ternary_quantize(xa, q, s, qsum)
            if ok:
                il = w._gemv_layout()
                gb = 4 * kp  # bytes of a group of 16 rows of the layout

                def cols(a: int, b: int) -> None:  # groups of 16 output columns [a, b)
                    r0, r1 = 16 * a, min(16 * b, n)
                    kern.ternary_matmul_q(q, qsum, s, packed[r0:r1], wscale[r0:r1], out[:, r0:r1],
                                          None if il is None else il[gb * a : gb * b])

                _parallel.run(cols, (n + 15) // 16, nt, min_chunk=4)
        if not ok:
            raise ValueError("x contains non-finite values (NaN or inf)")
    return out[0] if vec else out


def ternary_gather_mean(table: TernaryMatrix, ids: Any, offsets: Any, **options: Any) -> np.ndarray:
    """``gather_mean`` over a ternary table (kept name): the same validation, kernel and options."""
    from .gather import gather_mean

    return gather_mean(_check_matrix(table, "table"), ids, offsets, **options)


class TernaryLinear:
    """A dense layer ``y = x @ W.T + b`` with W a :class:`TernaryMatrix` (inference only, numpy).

    x: float [..., in_features] -> float32 [..., out_features].
    """

    __slots__ = ("weight", "bias", "num_threads")

    def __init__(self, weight: TernaryMatrix, bias: Any = None, *, num_threads: int | None = None) -> None:
        self.weight = _check_matrix(weight, "weight")
        if bias is not None:
            bias = _validate.float_array(bias, "bias", 1)
            if bias.shape != (weight.shape[0],):
                raise ValueError(f"bias must have shape ({weight.shape[0]},), got {bias.shape}")
        self.bias = bias
        _validate.threads(num_threads)
        self.num_threads = num_threads

    @classmethod
    def from_dense(cls, w: Any, b: Any = None, *, num_threads: int | None = None, **ternarize_kwargs: Any) -> "TernaryLinear":
        """Ternarize a float weight [out, in] (keyword options as :func:`ternarize`); bias stays float32."""
        return cls(ternarize(w, **ternarize_kwargs), b, num_threads=num_threads)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def nbytes(self) -> int:
        return self.weight.nbytes + (self.bias.nbytes if self.bias is not None else 0)

    def __call__(self, x: Any, *, num_threads: int | None = None) -> np.ndarray:
        xa = np.asarray(x)
        if xa.ndim == 0:
            raise ValueError("x must have at least 1 dimension")
        lead = xa.shape[:-1]
        nt = self.num_threads if num_threads is None else num_threads
        y = ternary_matmul(xa.reshape(-1, xa.shape[-1]), self.weight, num_threads=nt)
        if self.bias is not None:
            y += self.bias
        return y.reshape(*lead, self.out_features)

    def __repr__(self) -> str:
        return f"TernaryLinear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None})"
