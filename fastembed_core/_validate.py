"""Argument coercion and checks for every public function: one rule per kind of argument.

Integers go through ``operator.index`` (so ``np.int64(5)`` is accepted wherever ``5`` is, and
``5.0`` or ``True`` nowhere): a wrong type is an :class:`ArgumentTypeError` (a TypeError that is
also a ValueError, as numpy's AxisError is both ValueError and IndexError, so code written against
either older behaviour keeps working), a value out of range a ValueError; both name the argument. Arrays are converted to the exact dtype and memory layout the kernels read
(C-contiguous rows, aligned), and checked once here: the kernels trust what they get.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _parallel

TABLE_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8))


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (caught by ``except TypeError`` and ``except ValueError``)."""


def positive_int(v: Any, name: str, *, upper: int | None = None, optional: bool = False) -> Any:
    """A positive integer (``<= upper`` if given); None passes through when ``optional``."""
    if v is None and optional:
        return None
    what = "None or " if optional else ""
    if isinstance(v, (bool, np.bool_)) or not hasattr(v, "__index__"):
        raise ArgumentTypeError(f"{name} must be {what}an integer{f' in [1, {upper}]' if upper else ''}, not {v!r}")
    v = operator.index(v)
    if upper is not None and not 1 <= v <= upper:
        raise ValueError(f"{name} must be an integer in [1, {upper}], not {v!r}")
    if v < 1:
        raise ValueError(f"{name} must be {what}a positive integer, not {v!r}")
    return v


def threads(num_threads: Any) -> int:
    """``num_threads``: None -> every core (``_parallel.default_threads``), else a positive integer."""
    if num_threads is None:
        return _parallel.default_threads()
    return positive_int(num_threads, "num_threads", optional=True)


def boolean(v: Any, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, not {type(v).__name__}")
    return bool(v)


def int_vector(x: Any, name: str) -> np.ndarray:
    """A 1-D integer array (an empty list, which numpy makes float64, is taken as int64)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        if a.size == 0 and a.dtype.kind == "f":
            return a.astype(np.int64)
        raise TypeError(f"{name} must hold integers, not {a.dtype}")
    return a


def index_vector(x: Any, name: str, n: int, what: str) -> np.ndarray:
    """A 1-D integer array with values in [0, n), as int32 C-contiguous (the kernels' index type)."""
    a = int_vector(x, name)
    if len(a):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise ValueError(f"{name} must be >= 0, found {lo}")
        if hi >= n:
            raise ValueError(f"{name} out of range: found {hi}, {what} has {n} entries")
    return np.require(a, np.int32, ["C", "A"])


def float_array(x: Any, name: str, ndim: int | tuple[int, ...] = 1, *, length: int | None = None,
                length_of: str = "", finite: bool = True) -> np.ndarray:
    """A real array as float32, C-contiguous and aligned (C loads whole floats); finite unless told.

    ``length``: the required length of a 1-D array (``length_of`` says where it comes from).
    """
    if not (hasattr(x, "__array__") or isinstance(x, (list, tuple, np.generic))):
        raise TypeError(f"{name} must be an array, not {type(x).__name__}")
    a = np.asarray(x)
    if a.dtype == np.bool_ or a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must have a real floating dtype (float32 preferred), not {a.dtype}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in dims:
        raise ValueError(f"{name} must be {' or '.join(f'{d}-D' for d in dims)}, got shape {a.shape}")
    if length is not None and len(a) != length:
        raise ValueError(f"{name} has length {len(a)}, expected {length} ({length_of})")
    if a.dtype != np.float32 or not (a.flags.c_contiguous and a.flags.aligned):
        a = np.require(a, np.float32, ["C", "A"])
    # min and max propagate NaN and expose inf, without a boolean temporary
    if finite and a.size and not (np.isfinite(a.min()) and np.isfinite(a.max())):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def check_bags(ids: Any, offsets: Any, n_ids: int, what: str = "the vocabulary") -> tuple[np.ndarray, np.ndarray]:
    """CSR bags: (int32 C-contiguous ids in [0, n_ids), int64 C-contiguous offsets [n + 1]).

    ``offsets`` must be non-negative, non-decreasing and end at most at ``len(ids)``.
    """
    ids = int_vector(ids, "ids")
    offsets = int_vector(offsets, "offsets")
    if len(offsets) < 1:
        raise ValueError("offsets must have length n + 1 >= 1 (CSR bag boundaries)")
    offsets = np.require(offsets, np.int64, ["C", "A"])
    if offsets[0] < 0:
        raise ValueError(f"offsets must be >= 0, got offsets[0] = {offsets[0]}")
    if len(offsets) > 1:
        steps = np.diff(offsets)
        if (steps < 0).any():
            i = int(np.argmax(steps < 0))
            raise ValueError(f"offsets must be non-decreasing: offsets[{i}] = {offsets[i]} > "
                             f"offsets[{i + 1}] = {offsets[i + 1]}")
    if offsets[-1] > len(ids):
        raise ValueError(f"offsets run past the end of ids: offsets[-1] = {offsets[-1]} > len(ids) = {len(ids)}")
    return index_vector(ids, "ids", n_ids, what), offsets


def csr_from_lengths(lengths: Any) -> np.ndarray:
    """int64 offsets [n + 1] of bags with these lengths (``offsets[0] = 0``)."""
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out
