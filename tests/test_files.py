"""Saved files: writes are atomic, and loads of truncated or corrupted files raise a clear error.

For each format (StaticModel directory, BinaryIndex file) a good file is truncated at many offsets
and has bytes flipped at many offsets; every load must either raise ValueError/OSError (never crash,
never another exception type) or, when the damage hit bytes that carry no meaning (padding, a
vector's value), return an object that still works and whose structure matches the original.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import fastembed_core as fe

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _models  # noqa: E402

HANDLED = (ValueError, OSError)
TEXTS = ["the quick brown fox", "debian package", ""]


def offsets_to_try(size: int, n: int = 48) -> list[int]:
    """Every offset of the first 64 bytes (headers), then ``n`` offsets spread over the rest."""
    rng = np.random.default_rng(size)
    spread = rng.integers(0, size, n) if size else []
    return sorted(set(range(min(size, 64))) | {int(x) for x in spread} | {max(0, size - 1)})


# ------------------------------------------------------------------ BinaryIndex


@pytest.fixture(scope="module", params=["float32", "int8", None])
def saved_index(request, tmp_path_factory):
    rng = np.random.default_rng(0)
    index = fe.BinaryIndex(20, keep=request.param, threshold="median")
    index.add(rng.standard_normal((30, 20)).astype(np.float32))
    path = tmp_path_factory.mktemp("index") / "good.idx"
    index.save(path)
    return index, path


def _check_index_like(loaded: fe.BinaryIndex, original: fe.BinaryIndex) -> None:
    assert (loaded.dim, loaded.keep, len(loaded)) == (original.dim, original.keep, len(original))
    q = np.random.default_rng(1).standard_normal((2, original.dim)).astype(np.float32)
    scores, ids = loaded.search(q, 5)
    assert ids.shape == (2, 5) and ((0 <= ids) & (ids < len(original))).all()


@pytest.mark.parametrize("mmap", [True, False])
def test_index_truncated_at_every_offset_is_rejected(saved_index, tmp_path, mmap):
    original, path = saved_index
    raw = path.read_bytes()
    for cut in offsets_to_try(len(raw)):
        p = tmp_path / f"cut{cut}.idx"
        p.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            fe.BinaryIndex.load(p, mmap=mmap)


@pytest.mark.parametrize("mmap", [True, False])
def test_index_corrupted_bytes_raise_or_load_consistently(saved_index, tmp_path, mmap):
    original, path = saved_index
    raw = path.read_bytes()
    for off in offsets_to_try(len(raw)):
        for flip in (0x01, 0xFF):
            blob = bytearray(raw)
            blob[off] ^= flip
            p = tmp_path / f"flip{off}_{flip}.idx"
            p.write_bytes(bytes(blob))
            try:
                loaded = fe.BinaryIndex.load(p, mmap=mmap)
            except ValueError:
                continue
            _check_index_like(loaded, original)  # a flip in data, padding or JSON whitespace
            del loaded


def test_index_save_is_atomic_and_leaves_no_temp_file(saved_index, tmp_path, monkeypatch):
    original, _ = saved_index
    target = tmp_path / "x.idx"
    original.save(target)
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="simulated"):
        original.save(target)
    monkeypatch.undo()
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.idx"]  # the temporary file is gone


def test_index_save_interrupted_mid_write_keeps_old_file(saved_index, tmp_path, monkeypatch):
    original, _ = saved_index
    target = tmp_path / "x.idx"
    original.save(target)
    before = target.read_bytes()
    real_fsync = os.fsync

    def crash(fd):
        raise KeyboardInterrupt  # interrupted after writing, before the rename

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        original.save(target)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.idx"]


# ------------------------------------------------------------------ StaticModel


@pytest.fixture(scope="module", params=["float32", "int8-vq"])
def saved_model(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    vq = request.param == "int8-vq"
    src = _models.make_tiny_model(root / "src", dim=10, dtype="int8" if vq else "float32", weights=vq, mapping=vq)
    model = fe.StaticModel.from_pretrained(src)
    model.save_pretrained(root / "saved")
    return model, root / "saved"


def _copy_with(src: Path, dst: Path, name: str, data: bytes) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(data if f.name == name else f.read_bytes())
    return dst


def _check_model_like(loaded: fe.StaticModel, original: fe.StaticModel) -> None:
    assert loaded.table.shape == original.table.shape and loaded.table.dtype == original.table.dtype
    x = loaded.encode(TEXTS)
    assert x.shape == (len(TEXTS), original.dim) and x.dtype == np.float32


def test_model_safetensors_truncated_at_every_offset_is_rejected(saved_model, tmp_path):
    original, path = saved_model
    raw = (path / "model.safetensors").read_bytes()
    for cut in offsets_to_try(len(raw)):
        d = _copy_with(path, tmp_path / f"cut{cut}", "model.safetensors", raw[:cut])
        with pytest.raises(ValueError):
            fe.StaticModel.from_pretrained(d)


def test_model_safetensors_corrupted_bytes_raise_or_load_consistently(saved_model, tmp_path):
    original, path = saved_model
    raw = (path / "model.safetensors").read_bytes()
    for off in offsets_to_try(len(raw)):
        for flip in (0x01, 0xFF):
            blob = bytearray(raw)
            blob[off] ^= flip
            d = _copy_with(path, tmp_path / f"flip{off}_{flip}", "model.safetensors", bytes(blob))
            try:
                loaded = fe.StaticModel.from_pretrained(d)
            except HANDLED:
                continue
            _check_model_like(loaded, original)


@pytest.mark.parametrize("name", ["tokenizer.json", "config.json", "modules.json"])
def test_model_json_files_truncated_or_corrupted(saved_model, tmp_path, name):
    original, path = saved_model
    raw = (path / name).read_bytes()
    for i, cut in enumerate(offsets_to_try(len(raw), n=16)):
        variants = [raw[:cut]]
        blob = bytearray(raw)
        blob[cut] ^= 0xFF
        variants.append(bytes(blob))
        for j, data in enumerate(variants):
            d = _copy_with(path, tmp_path / f"{name}{i}_{j}", name, data)
            try:
                loaded = fe.StaticModel.from_pretrained(d)
            except HANDLED:
                continue
            _check_model_like(loaded, original)


def test_model_save_failure_leaves_no_temp_dir_and_old_files(saved_model, tmp_path, monkeypatch):
    original, _ = saved_model
    target = tmp_path / "m"
    original.save_pretrained(target)
    before = {f.name: f.read_bytes() for f in target.iterdir()}
    import json

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(json, "dumps", fail)  # fails while writing config.json into the temp dir
    with pytest.raises(OSError, match="simulated"):
        original.save_pretrained(target)
    monkeypatch.undo()
    assert {f.name: f.read_bytes() for f in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_model_tensor_shapes_are_verified(saved_model, tmp_path):
    """A header that lies about a shape (same byte count) loads only if every consumer agrees."""
    original, path = saved_model
    raw = (path / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = raw[8 : 8 + n]
    rows, dim = original.table.shape
    lie = header.replace(f"[{rows},{dim}]".encode(), f"[{dim},{rows}]".encode())
    assert lie != header
    d = _copy_with(path, tmp_path / "lie", "model.safetensors", raw[:8] + lie + raw[8 + n :])
    with pytest.raises(ValueError, match="rows"):
        fe.StaticModel.from_pretrained(d)


@pytest.mark.parametrize("target", ["model_dir", "index", "tokenizer", "ternary", "unigram"])
def test_fuzz_seed_corpus_replays_clean(target):
    """The fuzz harnesses' seeds (fuzz/corpus/<target>/) run through their checks without a finding."""
    import subprocess

    fuzz = Path(__file__).resolve().parents[1] / "fuzz"
    if not (fuzz / "corpus" / target).is_dir():
        pytest.skip(f"no fuzz corpus for {target} (fuzz/ absent or target not in this build)")
    r = subprocess.run([sys.executable, str(fuzz / f"fuzz_{target}.py"), "--replay", str(fuzz / "corpus" / target)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "no finding" in r.stdout


# ------------------------------------------------------------------ TernaryMatrix


@pytest.fixture(scope="module", params=["row", "tensor"])
def saved_ternary(request, tmp_path_factory):
    w = fe.ternarize(np.random.default_rng(3).standard_normal((5, 140)).astype(np.float32), scale=request.param)
    path = tmp_path_factory.mktemp("ternary") / "w.safetensors"
    w.save(path)
    return w, path


def _check_ternary_like(loaded, original) -> None:
    # A flipped digit of k in the metadata can only pass when the packed rows (padded to 128 weights)
    # have the same size and the columns gained are padding (zero weights, verified by load): the
    # same linear map on a wider input, not garbage. Anything else must have been rejected.
    n, k = original.shape
    assert loaded.shape[0] == n and loaded.packed.shape == original.packed.shape
    if loaded.shape[1] != k:
        assert loaded.shape[1] > k and not loaded.values[:, k:].any(), loaded
    x = np.random.default_rng(0).standard_normal((3, loaded.shape[1])).astype(np.float32)
    y = fe.ternary_matmul(x, loaded)
    assert y.shape == (3, n) and np.isfinite(y).all()


def test_ternary_truncated_at_every_offset_is_rejected(saved_ternary, tmp_path):
    original, path = saved_ternary
    raw = path.read_bytes()
    for cut in offsets_to_try(len(raw)):
        p = tmp_path / f"cut{cut}.st"
        p.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            fe.TernaryMatrix.load(p)


def test_ternary_corrupted_bytes_raise_or_load_consistently(saved_ternary, tmp_path):
    original, path = saved_ternary
    raw = path.read_bytes()
    for off in offsets_to_try(len(raw)):
        for flip in (0x01, 0xFF):
            blob = bytearray(raw)
            blob[off] ^= flip
            p = tmp_path / f"flip{off}_{flip}.st"
            p.write_bytes(bytes(blob))
            try:
                loaded = fe.TernaryMatrix.load(p)
            except ValueError:
                continue
            _check_ternary_like(loaded, original)


def test_ternary_save_failure_keeps_old_file(saved_ternary, tmp_path, monkeypatch):
    original, _ = saved_ternary
    target = tmp_path / "w.st"
    original.save(target)
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="simulated"):
        original.save(target)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.st"]
