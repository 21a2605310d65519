"""model2vec drop-in: accelerate(model) gives model2vec's own vectors; in-memory conversions."""

from __future__ import annotations

import numpy as np
import pytest

m2v = pytest.importorskip("model2vec")

import _models  # noqa: E402
from fastembed_core import StaticModel  # noqa: E402
from fastembed_core.integrations.model2vec import (  # noqa: E402
    accelerate, from_model2vec, is_accelerated, restore, to_model2vec)

TEXTS = _models.SENTENCES + ["", "   ", "zzzz qqqq unknownword", "a " * 700, "fox " * 3]


def _close(got, want, dtype=None):
    """Bit-identical: same dtype, shape and bytes (accelerate's guarantee for every table dtype)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), np.abs(got.astype(np.float64) - want.astype(np.float64)).max()


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "float64"])
@pytest.mark.parametrize("weights,mapping", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("normalize", [True, False])
def test_accelerate_matches_model2vec(tmp_path, backend, dtype, weights, mapping, normalize):
    path = _models.make_tiny_model(tmp_path / "m", dtype=dtype, weights=weights, mapping=mapping, normalize=normalize)
    model = m2v.StaticModel.from_pretrained(path)
    want = model.encode(TEXTS, use_multiprocessing=False)
    want1 = model.encode(TEXTS[0])
    want_short = model.encode(TEXTS, max_length=3, normalize=not normalize, batch_size=2)
    assert accelerate(model) is model and is_accelerated(model)
    _close(model.encode(TEXTS), want, dtype)
    _close(model.encode(TEXTS[0]), want1, dtype)
    _close(model.encode(TEXTS, max_length=3, normalize=not normalize, batch_size=2, use_multiprocessing=True,
                        show_progress_bar=False, num_threads=2), want_short, dtype)
    restore(model)
    assert not is_accelerated(model)
    np.testing.assert_array_equal(model.encode(TEXTS, use_multiprocessing=False), want)


def test_accelerate_teacher(teacher_model_dir, backend, dev_rows):
    model = m2v.StaticModel.from_pretrained(teacher_model_dir)
    texts = [r["doc"] for r in dev_rows[:500]] + [r["query"] for r in dev_rows[:500]]
    want = model.encode(texts, use_multiprocessing=False)
    accelerate(model, num_threads=None)
    got = model.encode(texts)
    assert got.dtype == np.float32
    _close(got, want)


def test_accelerate_follows_model_changes(tmp_path, backend):
    model = m2v.StaticModel.from_pretrained(_models.make_tiny_model(tmp_path / "m", weights=True))
    accelerate(model)
    model.normalize = False
    model.max_length = 4
    model.embedding = model.embedding * 2
    got = model.encode(TEXTS)
    restore(model)
    np.testing.assert_allclose(got, model.encode(TEXTS, use_multiprocessing=False), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kw", [{}, {"weights": True, "mapping": True, "dtype": "int8"}, {"dtype": "float16"}])
def test_conversions_roundtrip(tmp_path, backend, kw):
    path = _models.make_tiny_model(tmp_path / "m", **kw)
    ours = StaticModel.from_pretrained(path)
    theirs = m2v.StaticModel.from_pretrained(path)
    want = theirs.encode(TEXTS, use_multiprocessing=False).astype(np.float32)
    tol = 2e-3 if kw.get("dtype") == "float16" else 1e-6
    np.testing.assert_allclose(from_model2vec(theirs).encode(TEXTS), want, rtol=0, atol=tol)
    back = to_model2vec(ours)
    assert isinstance(back, m2v.StaticModel) and back.normalize == theirs.normalize
    assert back.max_length == theirs.max_length
    np.testing.assert_array_equal(back.encode(TEXTS, use_multiprocessing=False), theirs.encode(TEXTS, use_multiprocessing=False))
    np.testing.assert_array_equal(from_model2vec(back).encode(TEXTS), ours.encode(TEXTS))


def test_bad_input():
    with pytest.raises(TypeError, match="model2vec.StaticModel"):
        accelerate(object())
    with pytest.raises(TypeError, match="model2vec.StaticModel"):
        from_model2vec("path")
    with pytest.raises(TypeError, match="fastembed_core.StaticModel"):
        to_model2vec(object())


def test_bad_num_threads(tmp_path):
    model = m2v.StaticModel.from_pretrained(_models.make_tiny_model(tmp_path / "m"))
    with pytest.raises((ValueError, TypeError), match="num_threads"):
        accelerate(model, num_threads=0)


def test_to_model2vec_exports_a_ternary_model_exactly(backend):
    pytest.importorskip("model2vec")
    from fastembed_core import StaticModel
    from fastembed_core.integrations.model2vec import to_model2vec

    model = StaticModel.default()  # a packed ternary table
    texts = ["gzip compresses files", "a web browser", ""]
    exported = to_model2vec(model)
    np.testing.assert_allclose(exported.encode(texts), model.encode(texts), rtol=0, atol=1e-6)
