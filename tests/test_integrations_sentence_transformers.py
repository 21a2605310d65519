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


@pytest.mark.parametrize("normalize", [True, False])
def test_accelerate_matches(tiny_dirs, backend, normalize):
    src, root = tiny_dirs
    model = _st_model(src, root / f"st-{normalize}", normalize)
    want = model.encode(TEXTS)
    want_1 = model.encode(TEXTS[1])
    want_t = model.encode(TEXTS, truncate_dim=8, normalize_embeddings=True, batch_size=3)
    want_tensor = model.encode(TEXTS, convert_to_tensor=True)
    want_q = {p: model.encode(TEXTS, precision=p) for p in ("int8", "uint8", "binary", "ubinary")}
    want_prompt = model.encode(TEXTS, prompt="query: ")
    assert accelerate(model) is model and is_accelerated(model)
    np.testing.assert_allclose(model.encode(TEXTS), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.encode(TEXTS[1]), want_1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.encode(TEXTS, truncate_dim=8, normalize_embeddings=True, batch_size=3), want_t,
                               rtol=0, atol=1e-6)
    got_tensor = model.encode(TEXTS, convert_to_tensor=True)
    assert type(got_tensor) is type(want_tensor)
    np.testing.assert_allclose(got_tensor.numpy(), want_tensor.numpy(), rtol=0, atol=1e-6)
    for p, w in want_q.items():
        got = model.encode(TEXTS, precision=p)
        assert got.dtype == w.dtype
        if p.endswith("binary"):
            np.testing.assert_array_equal(got, w)
        else:  # a value right at a bucket edge may move by one bucket
            assert np.abs(got.astype(int) - w.astype(int)).max() <= 1
    np.testing.assert_array_equal(model.encode(TEXTS, prompt="query: "), want_prompt)  # falls back
    restore(model)
    assert not is_accelerated(model)
    np.testing.assert_array_equal(model.encode(TEXTS), want)


def test_teacher_and_static_model_loading(teacher_model_dir, tmp_path, backend, dev_rows):
    model = _st_model(teacher_model_dir, tmp_path / "st")
    texts = [r["query"] for r in dev_rows[:300]] + [r["doc"] for r in dev_rows[:300]]
    want = model.encode(texts)
    np.testing.assert_allclose(accelerate(model, num_threads=2).encode(texts), want, rtol=0, atol=1e-6)
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
