"""numpy reference for the ternary kernels: the specification of csrc/ternary.c.

Packed format (see fastembed_core/ternary.py): a row of k ternary weights is padded with zeros to
``kp = ceil(k / 128) * 128`` and stored in ``kp // 4`` uint8 bytes, in blocks of 32 bytes; bits
``2p, 2p+1`` of byte ``i`` of block ``b`` hold ``code = w + 1`` of weight ``128*b + 32*p + i``.

The kernels take already validated, C-contiguous arrays and write into preallocated outputs; the
public wrappers in ``fastembed_core.ternary`` validate and split the work across threads.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ternary_quantize",
    "ternary_matmul_q",
    "ternary_matmul_acc",
    "ternary_linear",
    "ternary_gemv_layout",
    "ternary_gemv_layout_used",
]

BLOCK = 128
_SHIFTS = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
_FLT_MAX = np.float32(np.finfo(np.float32).max)


def _unpack_codes(packed: np.ndarray) -> np.ndarray:
    """uint8 [n, kp // 4] packed rows -> uint8 [n, kp] codes in {0, 1, 2, (3 = invalid)}."""
    n, rb = packed.shape
    blocks = packed.reshape(n, rb // 32, 1, 32)
    return ((blocks >> _SHIFTS) & 3).reshape(n, rb * 4)


def _pack_codes(codes: np.ndarray) -> np.ndarray:
    """uint8 [n, kp] codes (kp a multiple of 128) -> uint8 [n, kp // 4] packed rows."""
    n, kp = codes.shape
    c = codes.reshape(n, kp // BLOCK, 4, 32).astype(np.uint8)
    return (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).reshape(n, kp // 4)


def ternary_quantize(x: np.ndarray, q: np.ndarray, s: np.ndarray, qsum: np.ndarray) -> bool:
    """Quantise each row of x to int8 (the activation side of ternary_matmul).

    x: float32 [m, k]; q: int8 [m, kp] out (kp >= k, columns k.. set to 0); s: float32 [m] out;
    qsum: int32 [m] out. Per row, in float32: ``s = 127 / max|x_row|`` (clamped to FLT_MAX when the
    division overflows; 1 for an all-zero row), ``q = clip(rint(x * s), -128, 127)`` with rint
    rounding half to even, and ``qsum = sum(q)``. Returns False (outputs unspecified) if x holds an
    inf or NaN, else True.
    """
    m, k = x.shape
    if x.size and not np.isfinite(x).all():
        return False
    mx = np.abs(x).max(axis=1) if k else np.zeros(m, np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        si = np.float32(127) / mx
    si = np.where(mx > 0, np.minimum(si, _FLT_MAX), np.float32(1)).astype(np.float32)
    v = x * si[:, None]
    q[:, :k] = np.clip(np.rint(v), -128, 127).astype(np.int8)
    q[:, k:] = 0
    s[:] = si
    qsum[:] = q.sum(axis=1, dtype=np.int64)
    return True


def ternary_gemv_layout(packed: np.ndarray) -> np.ndarray:
    """The GEMV layout of packed rows: a second, row-interleaved uint8 copy (1-D).

    Groups of 16 rows (rows past n hold weight 0), each of ``kp // 16`` steps of 64 bytes; in step
    s of group g, bytes 4r..4r+3 are row 16g + r and bits 2p..2p+1 of byte 4r + j hold the code of
    weight 16s + 4p + j. The matmul kernels whose GEMV is faster on it read their GEMV rows from it
    (``il``); the results are the same with or without it.
    """
    n, rb = packed.shape
    kp, ng = rb * 4, (n + 15) // 16
    codes = np.ones((ng * 16, kp), np.uint8)
    codes[:n] = _unpack_codes(packed)
    c = codes.reshape(ng, 16, kp // 16, 4, 4)  # group, row, step, position p, byte j
    b = c[:, :, :, 0] | (c[:, :, :, 1] << 2) | (c[:, :, :, 2] << 4) | (c[:, :, :, 3] << 6)  # g, r, s, j
    return np.ascontiguousarray(b.transpose(0, 2, 1, 3)).reshape(-1)


def ternary_gemv_layout_used() -> bool:
    """Whether the matmul kernels read the GEMV layout (the numpy ones never do)."""
    return False


def ternary_matmul_acc(
    q: np.ndarray, qsum: np.ndarray, packed: np.ndarray, acc: np.ndarray, il: np.ndarray | None = None
) -> None:
    """acc[i, j] = sum_k q[i, k] * w[j, k], exactly, in int32.

    q: int8 [m, kp]; qsum: int32 [m], the row sums of q (the SIMD variants multiply the codes
    w + 1 and subtract it); packed: uint8 [n, kp // 4]; acc: int32 [m, n] out; il: None or the
    ternary_gemv_layout of packed (same results; only kernels that have a GEMV for it read it).
    """
    t = _unpack_codes(packed).astype(np.float64) - 1.0
    # Integer products and sums below 2**53 are exact in float64, in any order.
    acc[:] = (q.astype(np.float64) @ t.T).astype(np.int32)


def ternary_matmul_q(
    q: np.ndarray,
    qsum: np.ndarray,
    qscale: np.ndarray,
    packed: np.ndarray,
    wscale: np.ndarray,
    out: np.ndarray,
    il: np.ndarray | None = None,
) -> None:
    """out[i, j] = float32(acc[i, j]) * wscale[j] / qscale[i] (float32, left to right).

    acc as in ternary_matmul_acc; qscale: float32 [m] (the s of ternary_quantize); wscale: float32 [n];
    il as in ternary_matmul_acc.
    """
    acc = np.empty((q.shape[0], packed.shape[0]), np.int32)
    ternary_matmul_acc(q, qsum, packed, acc)
    out[:] = acc.astype(np.float32) * wscale[None, :] / qscale[:, None]



def ternary_linear(
    x: np.ndarray, packed: np.ndarray, wscale: np.ndarray, out: np.ndarray, il: np.ndarray | None = None
) -> bool:
    """ternary_quantize then ternary_matmul_q: out[m, n] for x float32 [m, k] against packed [n, kp // 4]
    (il as in ternary_matmul_acc).

    Returns False (out unspecified) if x holds an inf or NaN, else True.
    """
    m, kp = x.shape[0], packed.shape[1] * 4
    q, s, qsum = np.empty((m, kp), np.int8), np.empty(m, np.float32), np.empty(m, np.int32)
    if not ternary_quantize(x, q, s, qsum):
        return False
    ternary_matmul_q(q, qsum, s, packed, wscale, out)
    return True
