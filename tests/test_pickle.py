"""Models pickle: fastembed_core.StaticModel (the C tokenizer handle is rebuilt from the tokenizer JSON,
never serialised), accelerated model2vec models; pickle, copy.deepcopy, a multiprocessing pool, joblib.
(Accelerated sentence-transformers models: tests/test_integrations_sentence_transformers.py.)"""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import numpy as np
import pytest

import _models
from fastembed_core import StaticModel
from fastembed_core.tokenize import TextTokenizer

TEXTS = _models.SENTENCES + ["", "zzzz unknownword", "fox " * 40]


def _encode(model):  # module level: the pool and joblib send it to the workers
    return model.encode(TEXTS)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _models.make_tiny_model(tmp_path_factory.mktemp("pk") / "m", weights=True, mapping=True)


def _clones(model):
    yield pickle.loads(pickle.dumps(model))
    yield copy.deepcopy(model)


def test_text_tokenizer_pickles_without_its_handle(model_dir, backend):
    tok = StaticModel.from_pretrained(model_dir).tokenizer
    want = tok.encode(TEXTS)
    assert tok.fast is not None and tok.fast._handles  # the kernel handle exists now (it cannot be pickled)
    for clone in _clones(tok):
        assert clone.path == tok.path and clone.fast is not tok.fast
        for a, b in zip(clone.encode(TEXTS), want):
            np.testing.assert_array_equal(a, b)
    off = TextTokenizer(tok.tokenizer, fast=None)
    assert pickle.loads(pickle.dumps(off)).fast is None


def test_static_model_pickles(model_dir, backend):
    model = StaticModel.from_pretrained(model_dir)
    want = _encode(model)
    for clone in _clones(model):
        assert clone.tokenizer_path == model.tokenizer_path
        np.testing.assert_array_equal(_encode(clone), want)


def test_static_model_in_a_pool_and_joblib(model_dir):
    joblib = pytest.importorskip("joblib")
    model = StaticModel.from_pretrained(model_dir)
    want = _encode(model)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for got in pool.map(_encode, [model, model]):
            np.testing.assert_array_equal(got, want)
    for got in joblib.Parallel(n_jobs=2)(joblib.delayed(_encode)(model) for _ in range(2)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_accelerated_model2vec_pickles(tmp_path, backend, dtype):
    m2v = pytest.importorskip("model2vec")
    joblib = pytest.importorskip("joblib")
    from fastembed_core.integrations.model2vec import accelerate, is_accelerated

    model = accelerate(m2v.StaticModel.from_pretrained(_models.make_tiny_model(tmp_path / "m", dtype=dtype,
                                                                               weights=True)))
    want = _encode(model)
    for clone in _clones(model):
        assert is_accelerated(clone) and clone.encode._model is clone
        got = _encode(clone)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    for got in joblib.Parallel(n_jobs=2)(joblib.delayed(_encode)(model) for _ in range(2)):
        assert got.tobytes() == want.tobytes()


def test_unigram_model_pickles(tmp_path, backend):
    """A Unigram tokenizer read through its memory-mapped vocabulary cache pickles as JSON too."""
    from tokenizers import Tokenizer
    from tokenizers.models import Unigram
    from tokenizers.pre_tokenizers import Metaspace

    pieces = [("<unk>", 0.0)] + [(p, -float(i)) for i, p in enumerate(["▁a", "▁b", "a", "b", "▁", "ab", "▁ab"], 1)]
    tok = Tokenizer(Unigram(pieces, unk_id=0))
    tok.pre_tokenizer = Metaspace()
    tok.save(str(tmp_path / "tokenizer.json"))
    text_tok = TextTokenizer.from_file(tmp_path / "tokenizer.json")
    texts = ["a b ab", "ba zz", ""]
    want = text_tok.encode(texts)
    for clone in _clones(text_tok):
        assert clone.path == text_tok.path
        for a, b in zip(clone.encode(texts), want):
            np.testing.assert_array_equal(a, b)
