"""accelerate() gives model2vec 0.10's exact bits on the Debian dev data, for every table dtype.

The model is the bundled default model's BERT tokenizer (30k WordPiece, the C fast path) with random
tables, so the arithmetic of every dtype / weights / mapping / normalize combination is exercised on
real text. The fast tests take the first rows of the dev data; the ``slow`` ones all 28,270 rows.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

m2v = pytest.importorskip("model2vec")

from tokenizers import Tokenizer  # noqa: E402

from conftest import _backends  # noqa: E402

from fastembed_core import _backend  # noqa: E402
from fastembed_core.integrations.model2vec import accelerate, from_model2vec  # noqa: E402
from fastembed_core.models import default_model_path  # noqa: E402

DIM = 40  # 5 AVX2 blocks: no tail; the tails are covered by test_gather and test_integrations_model2vec
TABLES = {  # name: (table dtype, weights dtype or None, vocabulary quantized)
    "float32": ("float32", None, False), "float32-weights": ("float32", "float32", False),
    "float16": ("float16", None, False), "float16-weights": ("float16", "float32", False),
    "int8": ("int8", None, False), "int8-weights": ("int8", "float32", False),
    "float64": ("float64", None, False), "float64-weights": ("float64", "float64", False),
    "vocab-quantized": ("float32", "float32", True), "vocab-quantized-float16": ("float16", "float16", True),
    "vocab-quantized-int8": ("int8", "float16", True),  # model2vec's quantize_model(.., quantize_to="int8")
}


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))  # model2vec copies it


def _model(name: str, normalize: bool, dim: int = DIM) -> "m2v.StaticModel":
    dtype, wdtype, quantized = TABLES[name]
    tok = _tokenizer()
    v = tok.get_vocab_size()
    rng = np.random.default_rng(len(name))
    rows = v // 8 if quantized else v
    table = rng.standard_normal((rows, dim)).astype(np.float32) * np.float32(0.3)
    table = np.clip(np.rint(table * 100), -127, 127).astype(np.int8) if dtype == "int8" else table.astype(dtype)
    weights = None if wdtype is None else rng.uniform(0.05, 3.0, v).astype(wdtype)
    mapping = rng.integers(0, rows, v) if quantized else None
    return m2v.StaticModel(table, tok, normalize=normalize, weights=weights, token_mapping=mapping)


def _texts(rows, n, queries=True):
    picked = rows if n is None else rows[:n]
    return ([r["doc"] for r in picked] + ([r["query"] for r in picked] if queries else [])
            + ["", " ", "[UNK] [CLS]", "ünïcödé 漢字"])


def _check(model, texts, **kw):
    want = model.encode(texts, use_multiprocessing=False, **kw)
    accelerate(model)
    _assert_same_bits(model.encode(texts, **kw), want)


def _assert_same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    bad = np.flatnonzero((got.view(np.uint8).reshape(len(got), -1) != want.view(np.uint8).reshape(len(want), -1)).any(1))
    assert len(bad) == 0, f"{len(bad)} rows differ, first {bad[:5]}: max |diff| {np.abs(got - want).max()}"


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", list(TABLES))
def test_bit_identical_dev_sample(backend, dev_rows, name, normalize):
    _check(_model(name, normalize), _texts(dev_rows, 120))


@pytest.mark.parametrize("name", ["float32", "float16-weights", "int8", "float64-weights", "vocab-quantized-float16"])
def test_bit_identical_dim_1(backend, dev_rows, name):  # numpy's mean over one column is pairwise
    _check(_model(name, True, dim=1), _texts(dev_rows, 40))
    _check(_model(name, False, dim=1), _texts(dev_rows, 40))


@pytest.mark.parametrize("max_length", [None, 0, 1, 7, True, np.int64(64), 10**12])
def test_bit_identical_every_max_length(backend, dev_rows, max_length):
    _check(_model("float32-weights", True), _texts(dev_rows, 40), max_length=max_length)


def test_static_model_matches_where_free(backend, dev_rows):
    """fastembed_core.StaticModel (float32 output) is bit-identical for float32 and int8 tables too."""
    texts = _texts(dev_rows, 150)
    for name in ("float32-weights", "int8", "int8-weights"):
        model = _model(name, True)
        want = model.encode(texts, use_multiprocessing=False)
        got = from_model2vec(model).encode(texts)
        assert isinstance(got, np.ndarray) and got.tobytes() == want.tobytes(), name


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TABLES))
def test_bit_identical_dev_full(dev_rows, name):
    """All 28,270 docs, dim 256 (pairwise norm blocks split), normalised: mean and norm bits both
    matter (the unnormalised means are checked by the fast tests). model2vec's vectors are computed
    once and compared with every backend (the `backend` fixture's list) in turn: the compiled one on
    every doc, the numpy one (the readable spec, as slow as model2vec itself) on every 8th doc."""
    model, texts = _model(name, True, dim=256), _texts(dev_rows, None, queries=False)
    want = model.encode(texts, use_multiprocessing=False)
    accelerate(model)
    for choice in _backends():
        step = 8 if choice == "numpy" else 1
        with _backend.using(choice):
            _assert_same_bits(model.encode(texts[::step]), want[::step])


def test_edge_cases_follow_model2vec(backend):
    model = _model("float32", False)
    fast = accelerate(_model("float32", False))
    for call in (lambda m: m.encode([]), lambda m: m.encode(["a"], batch_size=0), lambda m: m.encode(["a"], batch_size=-1),
                 lambda m: m.encode(["a"], max_length=-1), lambda m: m.encode(["a"], max_length=2.0),
                 lambda m: m.encode([1])):
        with pytest.raises(Exception) as theirs:
            call(model)
        with pytest.raises(type(theirs.value)):
            call(fast)
    for call in (lambda m: m.encode(""), lambda m: m.encode(["a b"], normalize=1), lambda m: m.encode(("x", "y")),
                 lambda m: m.encode(np.array(["x", "y"]))):
        a, b = call(model), call(fast)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_every_table_type_but_float64_pools_in_the_kernel():
    """Which path an accelerated model pools on (the numpy path is model2vec's own expressions: exact
    but slow). float16 or int8 tables with float16 weights (model2vec's vocabulary-quantized float16
    models) use the kernel with each product rounded to float16; their bits are checked above."""
    from fastembed_core.integrations.model2vec import _plan

    want = {name: ("numpy", False, False) if dtype == "float64" else
            ("kernel", "float16" in (dtype, wdtype), wdtype == "float16") for name, (dtype, wdtype, _) in TABLES.items()}
    assert {name: _plan(_model(name, True)) for name in TABLES} == want
    assert _plan(_model("float32", True, dim=1))[0] == "numpy"  # numpy's mean over one column is pairwise
