"""The shared rules of _validate and _io: numpy integers everywhere, umask file modes, atomic writes."""

from __future__ import annotations

import os
import stat

import _models
import numpy as np
import pytest

import fastembed_core as fe
from fastembed_core import _io, _validate, cli

INT_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.intp]


@pytest.fixture(scope="module")
def model():
    tok = _models.tiny_tokenizer()
    table = np.random.default_rng(0).standard_normal((tok.get_vocab_size(), 24)).astype(np.float32)
    return fe.StaticModel(table, tok, normalize=True)


@pytest.mark.parametrize("t", INT_TYPES, ids=lambda t: t.__name__)
def test_numpy_integers_are_accepted_everywhere(t, model):
    texts = ["the python library", "compress files", "a network server"]
    ref = model.encode(texts, dims=16, num_threads=2, batch_size=2, max_length=8)
    got = model.encode(texts, dims=t(16), num_threads=t(2), batch_size=t(2), max_length=t(8))
    np.testing.assert_array_equal(got, ref)
    codes = fe.pack_bits(ref)
    assert np.array_equal(fe.hamming_topk(codes, codes, t(2), num_threads=t(2))[1], fe.hamming_topk(codes, codes, 2)[1])
    assert fe.unpack_bits(codes, t(16)).shape == (3, 16)
    index = fe.BinaryIndex(t(16))
    index.add(ref)
    assert index.search(ref, t(2), rescore_multiplier=t(2), dims=t(8), num_threads=t(1))[1].shape == (3, 2)
    assert fe.gather_mean(model.table, [1, 2], [0, 2], num_threads=t(2)).shape == (1, 24)
    assert fe.ternary_matmul(np.ones((1, 24), np.float32), fe.ternarize(np.ones((4, 24))), num_threads=t(2)).shape == (1, 4)


@pytest.mark.parametrize("where, bad", [(w, b) for w in ("k", "dims", "batch_size", "dim")
                                        for b in (1.0, "2", True, np.bool_(True), None) if (w, b) != ("dims", None)])
def test_non_integers_are_refused_everywhere_alike(bad, where, model):
    codes = np.zeros((2, 2), np.uint8)
    calls = {
        "k": lambda: fe.hamming_topk(codes, codes, bad),
        "dims": lambda: model.encode(["a"], dims=bad),  # (None is valid: all dims)
        "batch_size": lambda: model.encode(["a"], batch_size=bad),
        "dim": lambda: fe.BinaryIndex(bad),
    }
    with pytest.raises(TypeError, match=where) as info:
        calls[where]()
    assert isinstance(info.value, ValueError)  # ArgumentTypeError: both, so older callers keep working


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_everything_written_follows_the_umask(umask, model, tmp_path):
    want_file, want_dir = 0o666 & ~umask, 0o777 & ~umask
    model.save_pretrained(tmp_path / "model")
    assert _mode(tmp_path / "model") == want_dir
    assert {f.name: _mode(f) for f in (tmp_path / "model").iterdir()} == dict.fromkeys(
        ["config.json", "model.safetensors", "modules.json", "tokenizer.json"], want_file)
    fe.ternarize(np.ones((3, 5))).save(tmp_path / "t.st")
    index = fe.BinaryIndex(24)
    index.add(model.encode(["a b"]))
    index.save(tmp_path / "i.idx")
    src = tmp_path / "in.txt"
    src.write_text("the python library\n")
    os.chmod(src, 0o644)
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "v.npy"), "--model", str(tmp_path / "model"), "-q"]) == 0
    assert cli.main(["index", str(src), "-o", str(tmp_path / "c.idx"), "--model", str(tmp_path / "model"), "-q"]) == 0
    for name in ("t.st", "i.idx", "v.npy", "c.idx"):
        assert _mode(tmp_path / name) == want_file, name


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with _io.atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f"]
    with _io.atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_atomic_write_replaces_a_directory_only_when_the_new_one_is_complete(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with _io.atomic_write(target, directory=True) as tmp:
            (tmp / "a").write_text("half")
            raise RuntimeError("interrupted")
    assert (target / "a").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["d"]
    with _io.atomic_write(target, directory=True) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b"] and [p.name for p in tmp_path.iterdir()] == ["d"]
    with _io.atomic_write(target) as tmp:  # a file may replace a directory (an old CLI index) too
        tmp.write_text("file")
    assert target.read_text() == "file" and [p.name for p in tmp_path.iterdir()] == ["d"]


def test_safetensors_round_trip_and_metadata(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float32(2.5) * np.ones(()),
               "e": np.zeros((0, 4), np.int8), "u": np.arange(3, dtype=np.uint64)}
    _io.write_safetensors(tmp_path / "x.st", tensors, metadata={"k": "v"})
    back, meta = _io.read_safetensors(tmp_path / "x.st", metadata=True)
    assert meta == {"k": "v"} and set(back) == set(tensors)
    for name, a in tensors.items():
        assert back[name].shape == a.shape and back[name].dtype == a.dtype and np.array_equal(back[name], a)
    from safetensors.numpy import load_file  # the reference implementation reads our file

    assert np.array_equal(load_file(str(tmp_path / "x.st"))["a"], tensors["a"])


def test_one_jsonl_reader_for_the_cli_and_evaluate(tmp_path):
    from fastembed_core import evaluate

    bad = tmp_path / "p.jsonl"
    bad.write_text('{"query": "q", "doc": "d"}\n[1]\n')
    with pytest.raises(ValueError, match="p.jsonl:2: expected a JSON object") as e_eval:
        evaluate.load_pairs(bad)
    with pytest.raises(cli.CLIError) as e_cli:
        cli.read_texts(str(bad), field="query")
    assert str(e_eval.value) in str(e_cli.value)


def test_csr_from_lengths_matches_the_bag_rule():
    offsets = _validate.csr_from_lengths([2, 0, 3])
    assert offsets.tolist() == [0, 2, 2, 5] and offsets.dtype == np.int64
    ids, off = _validate.check_bags(np.arange(5), offsets, 5)
    assert ids.dtype == np.int32 and off is not None


def test_finite_check_of_a_mapped_table_reads_the_file(tmp_path):
    """check_finite reads a memory-mapped table through its file (no table page stays in the process):
    the slices it checks equal the mapping, and a NaN anywhere is still found."""
    from fastembed_core import _io
    from fastembed_core.model_io import _row_slices, check_finite

    table = np.random.default_rng(0).standard_normal((1000, 24)).astype(np.float32)
    path = tmp_path / "t.safetensors"
    _io.write_safetensors(path, {"a": np.zeros(3, np.float32), "embeddings": table})
    mapped = _io.read_safetensors(path)["embeddings"]
    seen = 0
    for i, rows in _row_slices(mapped, 64):
        np.testing.assert_array_equal(rows.reshape(-1, 24), table[i : i + 64])
        seen += len(rows) // 24
    assert seen == len(table)
    check_finite(mapped, "embeddings")
    table[999, 23] = np.inf
    _io.write_safetensors(path, {"a": np.zeros(3, np.float32), "embeddings": table})
    with pytest.raises(ValueError, match="NaN or inf"):
        check_finite(_io.read_safetensors(path)["embeddings"], "embeddings")


def test_finite_verdict_is_kept_per_file_identity(tmp_path, monkeypatch):
    """A table found finite is not read again while its file is unchanged; a changed file (here: a NaN
    written in place, same size, another mtime) is read again and rejected; a file changed moments ago
    gets no verdict (a coarse timestamp could hide the next change)."""
    from fastembed_core import _io, model_io

    monkeypatch.setenv("FASTEMBED_CORE_CACHE_DIR", str(tmp_path / "cache"))
    table = np.ones((300, 8), np.float32)
    path = tmp_path / "t.safetensors"
    _io.write_safetensors(path, {"embeddings": table})
    model_io.check_finite(_io.read_safetensors(path)["embeddings"], "embeddings")
    assert not (tmp_path / "cache").exists()  # just written: not settled, no verdict
    monkeypatch.setattr(model_io, "_SETTLED_NS", -1)
    reads = []
    real = model_io._row_slices
    monkeypatch.setattr(model_io, "_row_slices", lambda t, step: reads.append(1) or real(t, step))
    model_io.check_finite(_io.read_safetensors(path)["embeddings"], "embeddings")
    assert len(reads) == 1 and len(list((tmp_path / "cache").iterdir())) == 1
    model_io.check_finite(_io.read_safetensors(path)["embeddings"], "embeddings")
    assert len(reads) == 1  # the verdict stood in for the read
    mtime = path.stat().st_mtime_ns
    table[123, 4] = np.nan
    _io.write_safetensors(path, {"embeddings": table})
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    with pytest.raises(ValueError, match="NaN or inf"):
        model_io.check_finite(_io.read_safetensors(path)["embeddings"], "embeddings")
    assert len(reads) == 2


def test_a_table_used_in_place_drops_its_unmapped_page_cache(tmp_path, monkeypatch):
    """from_pretrained drops the table file's unmapped cached pages (so the pages a lone process maps
    are the 4 KB ones it gathers, not whole large folios) and advises random access, unless
    FASTEMBED_CORE_KEEP_PAGE_CACHE is set or the table is converted (quantize_to) rather than mapped.
    Encoding gives the same vectors either way."""
    from fastembed_core import model_io

    if not hasattr(os, "posix_fadvise") or not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs posix_fadvise and /proc")
    monkeypatch.setattr(model_io, "_SETTLED_NS", 10**30)  # no verdict: the check reads every time
    path = _models.make_tiny_model(tmp_path / "m")
    table_file = os.path.realpath(path / "model.safetensors")
    dropped = []
    real_fadvise = os.posix_fadvise

    def fadvise(fd, offset, length, advice):
        if advice == os.POSIX_FADV_DONTNEED and os.path.realpath(f"/proc/self/fd/{fd}") == table_file:
            dropped.append((offset, length))
        return real_fadvise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    want = fe.StaticModel.from_pretrained(path, fast_tokenizer=False).encode(["alpha beta", "gamma"])
    # the whole file: after the check's one slice, and once mapped (this tiny file is read whole by the load)
    assert dropped == [(0, 0), (0, 0)]
    monkeypatch.setenv("FASTEMBED_CORE_KEEP_PAGE_CACHE", "1")
    dropped.clear()
    got = fe.StaticModel.from_pretrained(path, fast_tokenizer=False).encode(["alpha beta", "gamma"])
    assert dropped == []
    np.testing.assert_array_equal(got, want)
    monkeypatch.delenv("FASTEMBED_CORE_KEEP_PAGE_CACHE")
    fe.StaticModel.from_pretrained(path, quantize_to="float16", fast_tokenizer=False)
    assert dropped == [(0, 0)]  # the check's slice only: the quantized copy is used, not the mapping


def test_a_mapped_table_cache_is_dropped_only_when_cached_whole(tmp_path, monkeypatch):
    """A table file cached (almost) whole (a download, a copy: large folios) is dropped when mapped; a
    cache left sparse by earlier gathers (4 KB pages) is kept, so repeat loads stay warm."""
    from fastembed_core import _io, model_io

    path = tmp_path / "t.bin"
    with open(path, "wb") as fh:  # 8 MB: 2,048 pages, on disk (dirty pages cannot be dropped)
        fh.write(np.arange(8 << 20, dtype=np.uint8).tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    probe = np.memmap(path, np.uint8, mode="r")
    if _io.resident_fraction(probe) is None or not hasattr(os, "posix_fadvise"):
        pytest.skip("needs mincore and posix_fadvise")
    calls = []
    monkeypatch.setattr(model_io, "drop_page_cache", lambda fd: calls.append(fd))
    with open(path, "rb") as fh:
        _io.drop_page_cache(fh.fileno())
    table = np.memmap(path, np.float32, mode="r").reshape(-1, 256)
    _io.advise_random(table)
    int(table[::512, 0].sum())  # a few scattered rows, no read-ahead: a sparse cache
    sparse = _io.resident_fraction(table)
    if sparse is None or sparse >= 0.5:
        pytest.skip(f"this file system kept {sparse} of the file cached after POSIX_FADV_DONTNEED")
    model_io._map_lean(table)
    assert calls == []
    path.read_bytes()  # read whole
    assert _io.resident_fraction(table) >= 0.9
    model_io._map_lean(table)
    assert len(calls) == 1


def _vm_flags(path) -> set:
    """The VmFlags of this process's mappings of ``path`` (/proc/self/smaps)."""
    return {flag for f in _models.smaps_fields(path) if f[0] == "VmFlags:" for flag in f[1:]}


def test_the_mapped_table_is_advised_random_and_sequential_for_a_whole_pass(tmp_path):
    """The mapped table is advised random (rr) after from_pretrained; quantize and save_pretrained
    read it whole with read-ahead on (sr) and leave it random again."""
    from fastembed_core import _io

    if not os.path.exists("/proc/self/smaps"):
        pytest.skip("needs /proc/self/smaps")
    path = _models.make_tiny_model(tmp_path / "m")
    table_file = os.path.realpath(path / "model.safetensors")
    model = fe.StaticModel.from_pretrained(path, fast_tokenizer=False)
    assert "rr" in _vm_flags(table_file)
    with _io.reading_whole(model.table):
        assert "sr" in _vm_flags(table_file) and "rr" not in _vm_flags(table_file)
    assert "rr" in _vm_flags(table_file)
    q = model.quantize("float16")
    model.save_pretrained(tmp_path / "copy")
    assert "rr" in _vm_flags(table_file)
    np.testing.assert_allclose(q.encode(["alpha beta"]), model.encode(["alpha beta"]), atol=2e-3)
