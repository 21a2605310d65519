"""Fuzz StaticModel.from_pretrained on a model directory, then encode on both backends.

Input framing (see make_seeds.py): ``b"FZ1"`` then three length-prefixed (uint32 little-endian)
blobs, model.safetensors, tokenizer.json, config.json; missing or short blobs are written as they
are. Handled: ValueError/TypeError/OSError from loading or encoding. A model that loads must encode
to float32 [n, dim], and the compiled and numpy backends must agree.
"""

import os
import shutil
import struct
import tempfile

import numpy as np

from _common import HANDLED, instrumented_import, main

fe = instrumented_import()
from fastembed_core import _backend  # noqa: E402

TMP = tempfile.mkdtemp(prefix="fuzz-model-")
NAMES = ("model.safetensors", "tokenizer.json", "config.json")
TEXTS = ["the quick brown fox", "Café 日本語 🙂", "", "debian package manager " * 3]
try:
    _backend.load("compiled")
    BACKENDS = ("compiled", "numpy")
except ImportError:
    BACKENDS = ("numpy",)


def unframe(data: bytes) -> list[bytes]:
    blobs, pos = [], 3
    if data[:3] != b"FZ1":
        return [data, b"", b""]
    for _ in NAMES:
        if pos + 4 > len(data):
            blobs.append(b"")
            continue
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        blobs.append(data[pos : pos + n])
        pos += n
    return blobs


def one_input(data: bytes) -> None:
    d = os.path.join(TMP, "m")
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    for name, blob in zip(NAMES, unframe(data)):
        if blob:
            with open(os.path.join(d, name), "wb") as fh:
                fh.write(blob)
    try:
        model = fe.StaticModel.from_pretrained(d)
    except HANDLED:
        return
    outs = []
    for name in BACKENDS:
        with _backend.using(name):
            try:
                x = model.encode(TEXTS, max_length=16)
            except HANDLED:
                return
        assert x.dtype == np.float32 and x.shape == (len(TEXTS), model.dim), (x.dtype, x.shape)
        outs.append(x)
    if len(outs) == 2 and np.isfinite(outs[1]).all() and np.abs(outs[1]).max(initial=0) < 1e30:
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(outs[1]).max(initial=0))))


if __name__ == "__main__":
    main(one_input)
