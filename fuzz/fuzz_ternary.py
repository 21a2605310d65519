"""Fuzz TernaryMatrix.load, then use what loads on both backends.

Input: the bytes of a saved ternary matrix (safetensors with metadata). Handled: ValueError (load
wraps safetensors' own errors in it). A matrix that loads must have consistent packed/scales shapes,
decode to {-1, 0, 1}, and give bit-identical ternary_matmul and ternary_gather_mean results on the
compiled and numpy backends.
"""

import os
import tempfile

import numpy as np

from _common import instrumented_import, main

fe = instrumented_import()
from fastembed_core import _backend  # noqa: E402

HANDLED = (ValueError,)
TMP = tempfile.mkdtemp(prefix="fuzz-ternary-")
PATH = os.path.join(TMP, "w.safetensors")
try:
    _backend.load("compiled")
    BACKENDS = ("compiled", "numpy")
except ImportError:
    BACKENDS = ("numpy",)


def one_input(data: bytes) -> None:
    with open(PATH, "wb") as fh:
        fh.write(data)
    try:
        w = fe.TernaryMatrix.load(PATH)
    except HANDLED:
        return
    n, k = w.shape
    if n * k > 1 << 22:
        return  # huge but valid: don't spend the fuzzing budget multiplying it
    assert w.packed.shape == (n, -(-k // 128) * 128 // 4) and w.row_scales.shape == (n,)
    v = w.values
    assert v.shape == (n, k) and np.isin(v, (-1, 0, 1)).all()
    rng = np.random.default_rng(len(data))
    x = rng.standard_normal((3, k)).astype(np.float32)
    offsets = np.array([0, 2, 2, 5]) if n else np.array([0])
    ids = rng.integers(0, max(n, 1), offsets[-1])
    outs = []
    for name in BACKENDS:
        with _backend.using(name):
            y = fe.ternary_matmul(x, w)
            g = fe.ternary_gather_mean(w, ids, offsets) if n else None
        assert y.shape == (3, n) and y.dtype == np.float32
        outs.append((y, g))
    if len(outs) == 2:
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        if n:
            np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-6, atol=1e-6 * float(np.abs(w.row_scales).max(initial=1)))


if __name__ == "__main__":
    main(one_input)
