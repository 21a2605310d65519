"""sentence-transformers: accelerated StaticEmbedding encode == theirs; quantized formats interchangeable."""

from __future__ import annotations

import numpy as np
import pytest

st = pytest.importorskip("sentence_transformers")
pytest.importorskip("model2vec")

import _models  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
try:
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, StaticEmbedding
except ImportError:  # sentence-transformers < 6
    from sentence_transformers.models import Dense, Normalize, StaticEmbedding
from sentence_transformers.util.quantization import quantize_embeddings, semantic_search_faiss  # noqa: E402

from fastembed_core import BinaryIndex, StaticModel, hamming_distance, hamming_topk, pack_bits  # noqa: E402
from fastembed_core.integrations.sentence_transformers import accelerate, is_accelerated, restore  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TEXTS = _models.SENTENCES + ["", "zzzz qqqq unknownword", "fox " * 3, "word " * 600]


def _st_model(src, dst, normalize=True):
    modules = [StaticEmbedding.from_model2vec(str(src))] + ([Normalize()] if normalize else [])
    SentenceTransformer(modules=modules, device="cpu").save(str(dst))
    return SentenceTransformer(str(dst), device="cpu")


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("st")
    src = _models.make_tiny_model(root / "m2v", weights=True, mapping=True)
    return src, root


def _same(got, want):
    """Bit-identical (NaN included): same type, dtype, shape and bytes."""
    assert type(got) is type(want)
    if not isinstance(got, np.ndarray):
        got, want = got.numpy(), want.numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def _calls(model):
    """The calls whose outputs accelerate must leave unchanged (prompts, queries, documents, dtypes)."""
    model.prompts = {"query": "query: ", "document": "passage: "}
    out = {
        "plain": model.encode(TEXTS), "single": model.encode(TEXTS[1]),
        "trunc": model.encode(TEXTS, truncate_dim=8, normalize_embeddings=True, batch_size=3),
        "tensor": model.encode(TEXTS, convert_to_tensor=True), "prompt": model.encode(TEXTS, prompt="query: "),
        "query": model.encode_query(TEXTS), "document": model.encode_document(TEXTS),
        "named": model.encode(TEXTS, prompt_name="document"), "empty": model.encode([]),
    }
    for p in ("int8", "uint8", "binary", "ubinary"):
        out[p] = model.encode(TEXTS, precision=p)
    return out


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("normalize", [True, False])
def test_accelerate_is_bit_identical(tiny_dirs, backend, normalize, dtype):
    import torch

    src, root = tiny_dirs
    model = _st_model(src, root / f"st-{normalize}", normalize).to(getattr(torch, dtype))
    want = _calls(model)
    assert want["plain"].dtype == np.dtype(dtype)
    if dtype == "float16" and normalize:  # sentence-transformers' own behaviour, kept: 0 / max(0, 1e-12 -> 0)
        assert np.isnan(want["plain"][TEXTS.index("")]).all()
    assert accelerate(model) is model and is_accelerated(model)
    calls = {"n": 0}
    pre = model[0].preprocess
    model[0].__dict__["preprocess"] = lambda *a, **k: (calls.__setitem__("n", calls["n"] + 1), pre(*a, **k))[1]
    got = _calls(model)
    model[0].__dict__["preprocess"] = pre
    assert calls["n"] > 0
    for k in want:
        _same(got[k], want[k])
    restore(model)
    assert not is_accelerated(model)
    _same(model.encode(TEXTS), want["plain"])


def test_accelerated_model_pickles(tiny_dirs, tmp_path, backend):
    import copy
    import pickle

    import torch

    src, root = tiny_dirs
    model = accelerate(_st_model(src, root / "st-pickle"))
    want = model.encode(TEXTS)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert is_accelerated(clone) and clone[0].preprocess._module is clone[0]
        _same(clone.encode(TEXTS), want)
    torch.save(model, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    assert is_accelerated(loaded)
    _same(loaded.encode(TEXTS), want)


def test_teacher_and_static_model_loading(teacher_model_dir, tmp_path, backend, dev_rows):
    model = _st_model(teacher_model_dir, tmp_path / "st")
    texts = [r["query"] for r in dev_rows[:300]] + [r["doc"] for r in dev_rows[:300]]
    want = model.encode(texts)
    _same(accelerate(model, num_threads=2).encode(texts), want)
    # the saved ST directory loads in fastembed_core; it equals model2vec's vectors (model2vec
    # semantics: UNK dropped, texts cut), and ST's wherever no UNK token or truncation is involved
    ours = StaticModel.from_pretrained(tmp_path / "st")
    m2v = __import__("model2vec").StaticModel.from_pretrained(teacher_model_dir)
    np.testing.assert_allclose(ours.encode(texts), m2v.encode(texts, use_multiprocessing=False), rtol=0, atol=1e-6)
    plain = [t for t, ids in zip(texts, model[0].tokenizer.encode_batch(texts, add_special_tokens=False))
             if ours.tokenizer.unk_id not in ids.ids and len(ids.ids) <= 512]
    assert len(plain) > 100
    np.testing.assert_allclose(ours.encode(plain), want[[texts.index(t) for t in plain]], rtol=0, atol=1e-6)


def test_not_static_model():
    with pytest.raises(TypeError, match="SentenceTransformer"):
        accelerate(object())
    m = SentenceTransformer(modules=[Dense(4, 4)], device="cpu")
    with pytest.raises(TypeError, match="StaticEmbedding"):
        accelerate(m)


def test_quantized_formats_interchangeable(teacher_model_dir, backend, dev_rows):
    model = StaticModel.from_pretrained(teacher_model_dir)
    docs = model.encode([r["doc"] for r in dev_rows[:400]])
    queries = model.encode([r["query"] for r in dev_rows[:20]])
    ub, b = quantize_embeddings(docs, "ubinary"), quantize_embeddings(docs, "binary")
    qub, qb = quantize_embeddings(queries, "ubinary"), quantize_embeddings(queries, "binary")
    np.testing.assert_array_equal(ub, pack_bits(docs))
    np.testing.assert_array_equal(ub, model.encode([r["doc"] for r in dev_rows[:400]], precision="ubinary"))
    np.testing.assert_array_equal(b, model.encode([r["doc"] for r in dev_rows[:400]], precision="binary"))
    np.testing.assert_array_equal(quantize_embeddings(docs, "int8"), model.encode([r["doc"] for r in dev_rows[:400]],
                                                                                  precision="int8"))
    # their signed and unsigned codes give our Hamming distances and neighbours
    d = hamming_distance(qub, ub)
    np.testing.assert_array_equal(hamming_distance(qb, b), d)
    d1, i1 = hamming_topk(qub, ub, 10)
    d2, i2 = hamming_topk(qb, b, 10)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(i1, i2)
    for codes, qcodes in ((ub, qub), (b, qb)):
        index = BinaryIndex(model.dim, keep=None)
        index.add(codes)
        scores, ids = index.search(qcodes, 10)
        np.testing.assert_array_equal(-scores, d1)
        np.testing.assert_array_equal(ids, i1)
    # their faiss search reports the same Hamming distances (neighbours equal up to ties)
    results, _, faiss_index = semantic_search_faiss(qub, corpus_embeddings=ub, corpus_precision="ubinary", top_k=10,
                                                    rescore=False, output_index=True)
    for r, hits in enumerate(results):
        np.testing.assert_array_equal([h["score"] for h in hits], d1[r])
        np.testing.assert_array_equal(d[r, [h["corpus_id"] for h in hits]], d1[r])
    from fastembed_core.integrations import faiss as faiss_mod  # a broken module fails, never skips
    np.testing.assert_array_equal(faiss_mod.faiss_codes(faiss_index), ub)
