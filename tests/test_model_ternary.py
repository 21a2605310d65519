"""StaticModel with a ternary (2-bit) table: quantize("ternary"), save/load, dims, bad files."""

import json

import numpy as np
import pytest
from _models import SENTENCES, make_tiny_model
from safetensors.numpy import load_file, save_file

from fastembed_core import StaticModel, TernaryMatrix, ternarize, ternary_gather_mean


@pytest.fixture(params=[dict(), dict(weights=True, mapping=True, dim=37)], ids=["plain", "weights+mapping"])
def model(request, tmp_path):
    return StaticModel.from_pretrained(make_tiny_model(tmp_path / "m", **request.param))


def test_quantize_ternary_equals_the_kernel_on_the_ternarized_table(backend, model):
    tm = model.quantize("ternary")
    assert isinstance(tm.table, TernaryMatrix) and tm.table.shape == model.table.shape
    ids, offsets = model.tokenize(SENTENCES)
    expected = ternary_gather_mean(ternarize(np.asarray(model.table, np.float32)), ids, offsets,
                                   weights=model.weights, mapping=model.mapping, normalize=model.normalize)
    np.testing.assert_array_equal(tm.encode(SENTENCES), expected)
    # Ternary keeps the meaning: every sentence is closest to its own float embedding.
    sim = tm.encode(SENTENCES) @ model.encode(SENTENCES).T
    assert (sim.argmax(axis=1) == np.arange(len(SENTENCES))).all()


def test_ternary_options_are_passed_to_ternarize(model):
    t = model.quantize("ternary", scale="tensor")
    assert t.table.scales.ndim == 0
    with pytest.raises(TypeError, match="takes no options"):
        model.quantize("int8", scale="tensor")
    with pytest.raises(ValueError, match="'ternary'"):
        model.quantize("int4")


def test_save_and_load_keep_two_bits_and_the_vectors(backend, model, tmp_path):
    tm = model.quantize("ternary")
    tm.save_pretrained(tmp_path / "t")
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    assert cfg["embedding_dtype"] == "ternary" and cfg["ternary_shape"] == list(model.table.shape)
    tensors = load_file(str(tmp_path / "t" / "model.safetensors"))
    assert "embeddings" not in tensors and tensors["ternary_packed"].dtype == np.uint8
    back = StaticModel.from_pretrained(tmp_path / "t")
    assert isinstance(back.table, TernaryMatrix)
    np.testing.assert_array_equal(back.encode(SENTENCES), tm.encode(SENTENCES))
    np.testing.assert_array_equal(back.table.packed, tm.table.packed)


def test_from_pretrained_quantize_to_ternary(model, tmp_path):
    model.save_pretrained(tmp_path / "f")
    a = StaticModel.from_pretrained(tmp_path / "f", quantize_to="ternary")
    np.testing.assert_array_equal(a.encode(SENTENCES), model.quantize("ternary").encode(SENTENCES))
    with pytest.raises(ValueError, match="dims"):
        StaticModel.from_pretrained(tmp_path / "f", quantize_to="ternary", dims=8)


def test_dims_on_a_ternary_model_truncates_then_renormalises(backend, model):
    tm = model.quantize("ternary")
    full = tm.encode(SENTENCES, normalize=False)[:, :8]
    want = full / (np.linalg.norm(full, axis=1, keepdims=True) + np.float32(1e-32))
    np.testing.assert_allclose(tm.encode(SENTENCES, dims=8, normalize=True), want, rtol=1e-6, atol=1e-7)


def _corrupt(path, **changes):
    f = path / "model.safetensors"
    tensors = load_file(str(f))
    tensors.update(changes)
    save_file(tensors, str(f))


def test_corrupted_ternary_models_are_rejected(model, tmp_path):
    model.quantize("ternary").save_pretrained(tmp_path / "t")
    packed = load_file(str(tmp_path / "t" / "model.safetensors"))["ternary_packed"]
    bad = packed.copy()
    bad[0, 0] = 0xFF  # code 3 is not a ternary value
    _corrupt(tmp_path / "t", ternary_packed=bad)
    with pytest.raises(ValueError, match="model.safetensors"):
        StaticModel.from_pretrained(tmp_path / "t")
    _corrupt(tmp_path / "t", ternary_packed=packed[:-1].copy())
    with pytest.raises(ValueError, match="packed must have shape"):
        StaticModel.from_pretrained(tmp_path / "t")
    _corrupt(tmp_path / "t", ternary_packed=packed, ternary_scales=np.ones(3, np.float64))
    with pytest.raises(ValueError, match="float32"):
        StaticModel.from_pretrained(tmp_path / "t")
    _corrupt(tmp_path / "t", ternary_scales=np.ones(packed.shape[0], np.float32))
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    del cfg["ternary_shape"]
    (tmp_path / "t" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="ternary_shape"):
        StaticModel.from_pretrained(tmp_path / "t")
