"""StaticModel: vectors identical to model2vec 0.10, loading/saving, precision, bad input."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache

import numpy as np
import pytest
from _models import SENTENCES, derive_model, make_tiny_model, tiny_tokenizer
from conftest import _backends, scaled

from fastembed_core import StaticModel, _backend

m2v = pytest.importorskip("model2vec")

EDGE = ["", "⚙⚙⚙", "the " * 700, "Café naïve " * 200, "x"]
TEXTS = SENTENCES + EDGE


def assert_parity(ours: np.ndarray, ref: np.ndarray, normalized: bool = True) -> None:
    """<= 1e-6 for float32 results. When model2vec returns float16 (float16 tables) it rounds the
    mean to float16, and when normalising rounds again after dividing by the norm of the rounded
    mean: our float32 result is within one float16 ulp of its un-normalised output and within two
    of its normalised output (measured worst case ~1.4)."""
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    if ref.dtype == np.float16:
        ulp = np.spacing(np.abs(ref)).astype(np.float32) * (2 if normalized else 1)
        diff = np.abs(ours - ref.astype(np.float32))
        assert (diff <= ulp).all(), f"max diff in ulps {np.max(diff / ulp)}"
    else:
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- tiny models (no teacher needed)

TINY = [
    dict(dtype="float32"),
    dict(dtype="float16"),
    dict(dtype="float64"),
    dict(dtype="int8"),
    dict(dtype="float32", weights=True),
    dict(dtype="float32", weights=True, mapping=True),
    dict(dtype="float16", weights=True, mapping=True),
    dict(dtype="int8", weights=True, mapping=True),
    dict(dtype="float32", mapping=True),
    dict(dtype="float32", normalize=False),
    dict(dtype="int8", normalize=False),
    dict(dtype="float32", weights=True, weights_dtype="float64"),
]


@pytest.mark.parametrize("spec", TINY, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_tiny_parity(backend, tmp_path, spec):
    path = make_tiny_model(tmp_path / "m", **spec)
    ref_model = m2v.StaticModel.from_pretrained(path)
    ours = StaticModel.from_pretrained(path)
    ref = ref_model.encode(TEXTS, use_multiprocessing=False)
    if spec["dtype"] == "float64" or spec.get("weights_dtype") == "float64":
        # model2vec then computes in float64, we accumulate in float32: on a bag of 512 copies of one
        # token the float32 sum drifts by a few 1e-6 (on real data ~1e-7).
        np.testing.assert_allclose(ours.encode(TEXTS), ref, rtol=0, atol=5e-6)
    else:
        assert_parity(ours.encode(TEXTS), ref)
    assert_parity(ours.encode(TEXTS, batch_size=3, num_threads=1), ours.encode(TEXTS))
    single = ours.encode("The quick brown fox")
    assert single.ndim == 1 and single.shape == (ours.dim,)
    for ml in (2, None):
        r = ref_model.encode(TEXTS, max_length=ml, use_multiprocessing=False)
        if spec["dtype"] != "float64" and spec.get("weights_dtype") != "float64":
            assert_parity(ours.encode(TEXTS, max_length=ml), r)
    if spec["dtype"] == "float64" or spec.get("weights_dtype") == "float64":
        return
    assert_parity(ours.encode(TEXTS, normalize=not ours.normalize),
                  ref_model.encode(TEXTS, normalize=not ours.normalize, use_multiprocessing=False),
                  normalized=not ours.normalize)
    assert_parity(ours.encode(TEXTS, normalize=False), ref_model.encode(TEXTS, normalize=False, use_multiprocessing=False),
                  normalized=False)


def test_tokenize_and_properties(tmp_path):
    path = make_tiny_model(tmp_path / "m", dim=10, mapping=True, weights=True)
    m = StaticModel.from_pretrained(path)
    ids, offsets = m.tokenize(["the fox", "⚙"])
    assert ids.dtype == np.int32 and offsets.tolist()[-1] == len(ids) and offsets[2] == offsets[1]
    assert m.dim == 10 and m.vocab_size == tiny_tokenizer().get_vocab_size()
    assert "StaticModel(" in repr(m) and "mapping=True" in repr(m)
    assert m.encode([]).shape == (0, 10)


def test_dims_and_streaming(backend, tmp_path):
    m = StaticModel.from_pretrained(make_tiny_model(tmp_path / "m", dim=24))
    full = m.encode(TEXTS)
    part = m.encode(TEXTS, dims=8)
    want = full[:, :8] / (np.linalg.norm(full[:, :8], axis=1, keepdims=True) + 1e-32)
    np.testing.assert_allclose(part, want, atol=1e-6)
    raw = m.encode(TEXTS, dims=8, normalize=False)
    np.testing.assert_allclose(raw, m.encode(TEXTS, normalize=False)[:, :8], atol=1e-7)
    gen = (t for t in TEXTS)
    np.testing.assert_array_equal(m.encode(gen, batch_size=4), full)
    np.testing.assert_array_equal(m.encode(iter(TEXTS), batch_size=4, precision="ubinary"),
                                  m.encode(TEXTS, precision="ubinary"))
    np.testing.assert_array_equal(m.encode(TEXTS, show_progress_bar=True, batch_size=2), full)


def test_precisions_match_sentence_transformers(tmp_path):
    st_quant = pytest.importorskip("sentence_transformers.quantization")
    m = StaticModel.from_pretrained(make_tiny_model(tmp_path / "m", dim=21))
    x = m.encode(TEXTS)
    for precision in ("int8", "ubinary", "binary"):
        got = m.encode(TEXTS, precision=precision)
        want = st_quant.quantize_embeddings(x, precision=precision)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    ranges = np.vstack([x.min(0) - 0.1, x.max(0) + 0.1]).astype(np.float32)
    np.testing.assert_array_equal(m.encode(TEXTS, precision="int8", ranges=ranges, batch_size=3),
                                  st_quant.quantize_embeddings(x, precision="int8", ranges=ranges))
    np.testing.assert_array_equal(m.encode(iter(TEXTS), precision="int8", batch_size=3),
                                  st_quant.quantize_embeddings(x, precision="int8"))


@pytest.mark.parametrize("to", ["float16", "int8"])
@pytest.mark.parametrize("vq", [False, True])
def test_quantize_and_save_roundtrip(backend, tmp_path, to, vq):
    m = StaticModel.from_pretrained(make_tiny_model(tmp_path / "m", dim=33, weights=vq, mapping=vq))
    q = m.quantize(to)
    assert q.table.dtype == np.dtype(to)
    x, y = m.encode(TEXTS), q.encode(TEXTS)
    cos = (x * y).sum(1)[np.linalg.norm(x, axis=1) > 0]
    assert cos.min() > 0.999
    q.save_pretrained(tmp_path / "q")
    back = StaticModel.from_pretrained(tmp_path / "q")
    np.testing.assert_array_equal(back.encode(TEXTS), y)
    assert_parity(y, m2v.StaticModel.from_pretrained(tmp_path / "q").encode(TEXTS, use_multiprocessing=False))
    q.save_pretrained(tmp_path / "q")  # overwriting an existing directory works
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".q.tmp")]
    with pytest.raises(ValueError, match="quantize"):
        m.quantize("int4")


@pytest.mark.parametrize("to", ["float16", "int8"])
def test_from_pretrained_quantize_to_matches_model2vec(tmp_path, to):
    path = make_tiny_model(tmp_path / "m", dim=16)
    ours = StaticModel.from_pretrained(path, quantize_to=to, dims=12)
    ref = m2v.StaticModel.from_pretrained(path, quantize_to=to, dimensionality=12)
    assert ours.table.dtype == ref.embedding.dtype
    assert_parity(ours.encode(TEXTS), ref.encode(TEXTS, use_multiprocessing=False))


def test_sentence_transformers_layouts(backend, tmp_path):
    src = make_tiny_model(tmp_path / "m", dim=12, normalize=True)
    ref = StaticModel.from_pretrained(src).encode(TEXTS)
    from safetensors.numpy import load_file, save_file

    emb = load_file(str(src / "model.safetensors"))["embeddings"]
    nested = tmp_path / "st"
    (nested / "0_StaticEmbedding").mkdir(parents=True)
    save_file({"embedding.weight": emb}, str(nested / "0_StaticEmbedding" / "model.safetensors"))
    shutil.copy(src / "tokenizer.json", nested / "0_StaticEmbedding" / "tokenizer.json")
    (nested / "config_sentence_transformers.json").write_text("{}")
    modules = [{"idx": 0, "name": "0", "path": "0_StaticEmbedding", "type": "sentence_transformers.models.StaticEmbedding"},
               {"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (nested / "modules.json").write_text(json.dumps(modules))
    m = StaticModel.from_pretrained(nested)
    assert m.normalize
    np.testing.assert_array_equal(m.encode(TEXTS), ref)
    assert_parity(m.encode(TEXTS), m2v.StaticModel.from_pretrained(nested, normalize=True).encode(TEXTS, use_multiprocessing=False))
    flat = tmp_path / "flat"
    flat.mkdir()
    save_file({"embedding.weight": emb}, str(flat / "model.safetensors"))
    shutil.copy(src / "tokenizer.json", flat / "tokenizer.json")
    np.testing.assert_array_equal(StaticModel.from_pretrained(flat, normalize=True).encode(TEXTS), ref)


def test_table_is_memory_mapped(tmp_path):
    m = StaticModel.from_pretrained(make_tiny_model(tmp_path / "m", dtype="float16"))
    assert isinstance(m.table, np.memmap) or isinstance(m.table.base, np.memmap)


# ---------------------------------------------------------------- bad input


def _corrupt(path, name):
    data = bytearray((path / name).read_bytes())
    return data


BAD_FILES = {
    "missing dir": (lambda p: shutil.rmtree(p), FileNotFoundError, "does not exist"),
    "missing tensors": (lambda p: (p / "model.safetensors").unlink(), FileNotFoundError, "missing model.safetensors"),
    "missing tokenizer": (lambda p: (p / "tokenizer.json").unlink(), FileNotFoundError, "missing tokenizer.json"),
    "truncated tensors": (lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:-10]),
                          ValueError, "does not fit its byte range"),
    "garbage tensors": (lambda p: (p / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{{{{garbage-json"),
                        ValueError, "corrupted safetensors header"),
    "tiny tensors": (lambda p: (p / "model.safetensors").write_bytes(b"abc"), ValueError, "shorter than 8 bytes"),
    "bad config": (lambda p: (p / "config.json").write_text("{oops"), ValueError, "cannot read config.json"),
    "bad tokenizer": (lambda p: (p / "tokenizer.json").write_text("{}"), ValueError, "cannot read tokenizer file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files(tmp_path, case):
    path = make_tiny_model(tmp_path / "m")
    damage, exc, msg = BAD_FILES[case]
    damage(path)
    with pytest.raises(exc, match=msg):
        StaticModel.from_pretrained(path)


def _model_with(tmp_path, tensors):
    tok = tiny_tokenizer()
    path = tmp_path / "x"
    path.mkdir()
    from safetensors.numpy import save_file

    save_file(tensors, str(path / "model.safetensors"))
    tok.save(str(path / "tokenizer.json"))
    (path / "config.json").write_text("{}")
    return path


def test_bad_tensors(tmp_path):
    v = tiny_tokenizer().get_vocab_size()
    cases = [
        ({"vectors": np.ones((v, 4), np.float32)}, "no 'embeddings' or 'embedding.weight'"),
        ({"embeddings": np.ones((v,), np.float32)}, "must be 2-D"),
        ({"embeddings": np.ones((v, 4), np.int32)}, "has dtype int32"),
        ({"embeddings": np.ones((v + 1, 4), np.float32)}, f"{v + 1} rows but the tokenizer has {v} tokens"),
        ({"embeddings": np.full((v, 4), np.nan, np.float32)}, "NaN or inf"),
        ({"embeddings": np.ones((v, 4), np.float32), "weights": np.ones(v - 1)}, "weights has length"),
        ({"embeddings": np.ones((v, 4), np.float32), "weights": np.ones((v, 2))}, "'weights' must be 1-D"),
        ({"embeddings": np.ones((3, 4), np.float32), "mapping": np.full(v, 3)}, r"mapping values must lie in \[0, 3\)"),
        ({"embeddings": np.ones((3, 4), np.float32), "mapping": np.zeros(v - 2, np.int64)}, "mapping has length"),
        ({"embeddings": np.ones((3, 4), np.float32), "mapping": np.zeros(v, np.float32)}, "'mapping' must be integer"),
    ]
    for i, (tensors, msg) in enumerate(cases):
        sub = tmp_path / str(i)
        sub.mkdir()
        with pytest.raises(ValueError, match=msg):
            StaticModel.from_pretrained(_model_with(sub, tensors))


def test_bad_encode_arguments(tmp_path):
    m = StaticModel.from_pretrained(make_tiny_model(tmp_path / "m", dim=8))
    with pytest.raises(TypeError, match="item 1 is NoneType"):
        m.encode(["ok", None])
    with pytest.raises(TypeError, match="iterable of str"):
        m.encode(42)
    with pytest.raises(ValueError, match="precision"):
        m.encode(["a"], precision="float16")
    with pytest.raises(ValueError, match="dims"):
        m.encode(["a"], dims=9)
    with pytest.raises(ValueError, match="batch_size"):
        m.encode(["a"], batch_size=0)
    with pytest.raises(ValueError, match="num_threads"):
        m.encode(["a"], num_threads=-1)
    with pytest.raises(ValueError, match="max_length"):
        m.encode(["a"], max_length=0)
    with pytest.raises(ValueError, match="ranges"):
        m.encode(["a", "b"], precision="int8", ranges=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="int8 precision needs ranges"):
        m.encode("a", precision="int8")


# ---------------------------------------------------------------- the distilled teacher on the dev data

VARIANTS = {
    "float32": {},
    "float16": dict(quantize_to="float16"),
    "int8": dict(quantize_to="int8"),
    "vq-float32": dict(vocabulary_quantization=2048),
    "vq-float16": dict(quantize_to="float16", vocabulary_quantization=2048),
    "vq-int8": dict(quantize_to="int8", vocabulary_quantization=2048),
}


@lru_cache(maxsize=None)
def _reference(path: str, which: str, texts: tuple) -> np.ndarray:
    return m2v.StaticModel.from_pretrained(path).encode(list(texts), use_multiprocessing=False)


@pytest.fixture(scope="module")
def dev_texts(dev_rows):
    return {"query": tuple(r["query"] for r in dev_rows), "doc": tuple(r["doc"] for r in dev_rows)}


def _teacher_parity(teacher_model_dir, texts, variant, field, step=1):
    """Every ``step``-th text of ``texts`` against model2vec's vectors of all of them (computed once)."""
    path = derive_model(teacher_model_dir, **VARIANTS[variant]) if VARIANTS[variant] else teacher_model_dir
    ref = _reference(str(path), field, texts)
    assert_parity(StaticModel.from_pretrained(path).encode(list(texts[::step])), ref[::step])


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("field", ["query", "doc"])
def test_teacher_parity_dev_sample(backend, teacher_model_dir, dev_texts, variant, field):
    _teacher_parity(teacher_model_dir, dev_texts[field][:scaled(1500)], variant, field)


@pytest.mark.slow  # every query and doc of the dev data
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("field", ["query", "doc"])
def test_teacher_parity_on_dev_data(teacher_model_dir, dev_texts, variant, field):
    """model2vec's vectors computed once, then every backend of the `backend` fixture's list in turn:
    the compiled one on every text, the numpy one (the readable spec, slow) on every 8th."""
    for choice in _backends():
        with _backend.using(choice):
            _teacher_parity(teacher_model_dir, dev_texts[field], variant, field, step=8 if choice == "numpy" else 1)
