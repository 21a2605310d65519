"""fit (corpus fitting with a Matryoshka loss) and finetune (contrastive, through sentence-transformers)
on a tiny random BERT teacher and a synthetic topic task: seconds, no network."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from test_distill import WORDS, make_teacher

from fastembed_core import evaluate as ev
from fastembed_core import train

CONTENT = [w for w in WORDS if w.isalpha()]


def _sentences(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(CONTENT) for _ in range(rng.randint(3, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    torch.set_num_threads(1)
    return make_teacher(tmp_path_factory.mktemp("teacher") / "tiny-st", hidden=32)


@pytest.fixture(scope="module")
def corpus():
    return _sentences(600, 0)


@pytest.fixture(scope="module")
def dev():
    return _sentences(200, 1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("targets")


def _fit(teacher, corpus, cache, **kw):
    kw.setdefault("dims", (8, 16, 32))
    return train.fit_arrays(teacher, corpus, cache_dir=cache, show_progress_bar=False, **kw)


def _fidelity(r, teacher, dev, dims=None):
    """nDCG@10 of finding each dev sentence's teacher vector from its student vector (same PCA basis)."""
    model = train._to_model(r["table"], r["weights"], r["tokenizer_json"], r["config"])
    t = train.teacher_embeddings(teacher, dev, show_progress_bar=False)
    t = (t - r["pca_mean"]) @ r["pca_components"]
    ranks = ev.retrieval_ranks(model.encode(dev), t, dims=dims)
    return ev.metrics_from_ranks(ranks)["ndcg@10"]


def test_fit_lowers_loss_and_raises_dev_ndcg(teacher, corpus, dev, cache):
    start = _fit(teacher, corpus, cache, epochs=0)
    fitted = _fit(teacher, corpus, cache, epochs=4, lr=0.02, batch_size=64)
    h = fitted["history"]
    assert h[0] == pytest.approx(start["history"][0]) and h[-1] < 0.7 * h[0]
    assert _fidelity(fitted, teacher, dev) > _fidelity(start, teacher, dev) + 0.05
    model = train.fit(teacher, corpus, dims=(8, 16, 32), epochs=2, lr=0.02, batch_size=64, cache_dir=cache,
                      show_progress_bar=False)
    assert model.dim == 32 and model.normalize and model.config["fit_loss"][-1] < model.config["fit_loss"][0]


def test_matryoshka_weighting_helps_truncated_dims(teacher, corpus, dev, cache):
    kw = {"epochs": 4, "lr": 0.02, "batch_size": 64}
    mrl = _fit(teacher, corpus, cache, dims=(4, 8, 32), **kw)
    flat = _fit(teacher, corpus, cache, dims=(32,), **kw)
    assert _fidelity(mrl, teacher, dev, dims=4) > _fidelity(flat, teacher, dev, dims=4) + 0.02


def test_fit_is_deterministic_per_seed(teacher, corpus, cache):
    a = _fit(teacher, corpus, cache, epochs=1, seed=3)
    b = _fit(teacher, corpus, cache, epochs=1, seed=3)
    c = _fit(teacher, corpus, cache, epochs=1, seed=4)
    np.testing.assert_array_equal(a["table"], b["table"])
    np.testing.assert_array_equal(a["weights"], b["weights"])
    assert not np.array_equal(a["table"], c["table"])


def test_fit_ternary_table_and_cache_resume(teacher, corpus, tmp_path):
    r = train.fit_arrays(teacher, corpus, dims=(16, 32), epochs=1, ternary=True, ternary_epochs=1,
                         cache_dir=tmp_path, show_progress_bar=False)
    assert r["table"].dtype == np.int8 and set(np.unique(r["table"])) <= {-1, 0, 1}
    chunks = sorted(tmp_path.glob("*.npy"))
    assert chunks
    again = train.teacher_embeddings(teacher, corpus, cache_dir=tmp_path, show_progress_bar=False)
    stamp = [f.stat().st_mtime_ns for f in chunks]
    fresh = train.teacher_embeddings(teacher, corpus, show_progress_bar=False)
    np.testing.assert_allclose(again, fresh, atol=1e-5)
    assert [f.stat().st_mtime_ns for f in sorted(tmp_path.glob("*.npy"))] == stamp  # read, not rewritten


@pytest.mark.parametrize("kwargs, match", [
    ({"sentences": []}, "sentences is empty"),
    ({"sentences": "one string"}, "not one string"),
    ({"sentences": ["ok", 3]}, r"sentences\[1\]"),
    ({"dims": (0, 32)}, "positive ints"),
    ({"dims": (8, 8, 32)}, "must increase"),
    ({"dims": (16, 8, 32)}, "must increase"),
    ({"dims": (8, 64)}, "exceeds the teacher's width"),
    ({"dims": (8, 32), "matryoshka_weights": [1.0]}, "matryoshka_weights"),
    ({"epochs": -1}, "epochs"),
])
def test_fit_bad_input(teacher, corpus, kwargs, match):
    kwargs = {"sentences": corpus, **kwargs}
    with pytest.raises(train.TrainError, match=match):
        train.fit(teacher, kwargs.pop("sentences"), show_progress_bar=False, **kwargs)


def test_fit_teacher_not_a_sentence_transformer(tmp_path, corpus):
    with pytest.raises(train.TrainError, match="not a directory"):
        train.fit(tmp_path / "missing", corpus)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(train.TrainError, match="not a sentence-transformers directory"):
        train.fit(tmp_path, corpus)


# ---------------------------------------------------------------------------------------------- finetune


def _topic_model_and_pairs(n_topics=24, words=6):
    """A random-table model over query words qTwI and doc words dTwI, and pairs (query words of topic T,
    doc words of topic T): learnable only by aligning each topic's query words with its doc words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    from fastembed_core.model import StaticModel

    vocab = ["[PAD]", "[UNK]"] + [f"{k}{t}w{i}" for k in "qd" for t in range(n_topics) for i in range(words)]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    rng = np.random.default_rng(0)
    model = StaticModel(rng.standard_normal((len(vocab), 32)).astype(np.float32), tok, normalize=True)
    r = random.Random(0)

    def pair(t):
        return (" ".join(f"q{t}w{i}" for i in r.sample(range(words), 3)),
                " ".join(f"d{t}w{i}" for i in r.sample(range(words), 3)))
    train_pairs = [pair(t) for _ in range(12) for t in range(n_topics)]
    held = [pair(t) for t in range(n_topics)]
    return model, train_pairs, held


def _pair_ndcg(model, pairs, dims=None):
    q = model.encode([p[0] for p in pairs])
    d = model.encode([p[1] for p in pairs])
    return ev.metrics_from_ranks(ev.retrieval_ranks(q, d, dims=dims))["ndcg@10"]


def test_finetune_improves_held_apart_pairs_and_saves_model2vec(tmp_path):
    model, pairs, held = _topic_model_and_pairs()
    tuned = train.finetune(model, pairs, dims=(8, 16, 32), epochs=3, batch_size=32, lr=0.1,
                           show_progress_bar=False)
    assert len(pairs) == 288
    assert _pair_ndcg(tuned, held) > _pair_ndcg(model, held) + 0.3
    assert _pair_ndcg(tuned, held, dims=8) > _pair_ndcg(model, held, dims=8) + 0.3
    assert tuned.config["finetune_loss"][-1] < tuned.config["finetune_loss"][0]
    tuned.save_pretrained(tmp_path / "m")
    m2v = pytest.importorskip("model2vec")
    ref = m2v.StaticModel.from_pretrained(str(tmp_path / "m"))
    texts = [p[0] for p in held[:5]]
    np.testing.assert_allclose(ref.encode(texts), tuned.encode(texts), atol=1e-6)


def test_finetune_deterministic_and_triplets():
    model, pairs, _ = _topic_model_and_pairs(n_topics=8)
    a = train.finetune(model, pairs[:64], batch_size=16, seed=1, show_progress_bar=False)
    b = train.finetune(model, pairs[:64], batch_size=16, seed=1, show_progress_bar=False)
    np.testing.assert_array_equal(a.table, b.table)
    trip = [(q, p, pairs[(i + 1) % 64][1]) for i, (q, p) in enumerate(pairs[:64])]
    c = train.finetune(model, trip, batch_size=16, seed=1, show_progress_bar=False)
    assert c.table.shape == model.table.shape and not np.array_equal(c.table, a.table)


@pytest.mark.parametrize("pairs, match", [
    ("query", "not a string"),
    ([("a", "b")], "at least 2"),
    ([("a", "b"), ("c",)], r"pairs\[1\]"),
    ([("a", "b"), ("c", 5)], r"pairs\[1\] must hold strings"),
    (["ab", "cd"], r"pairs\[0\]"),
    ([("a", "b"), ("c", "d", "e")], "mix of"),
])
def test_finetune_bad_pairs(pairs, match):
    model, _, _ = _topic_model_and_pairs(n_topics=2)
    with pytest.raises(train.TrainError, match=match):
        train.finetune(model, pairs, show_progress_bar=False)


def test_finetune_bad_dims_and_table():
    model, pairs, _ = _topic_model_and_pairs(n_topics=2)
    with pytest.raises(train.TrainError, match="end at the table width"):
        train.finetune(model, pairs, dims=(8, 24), show_progress_bar=False)
    with pytest.raises(train.TrainError, match="dense table"):
        train.finetune(model.quantize("ternary"), pairs, show_progress_bar=False)


# ------------------------------------------------------------------------------------ matryoshka_rotation


def _tail_signal_model(n_topics=24, words=6, dim=32, head=8):
    """Topic pairs whose signal lives only in the last dim - head dims (the first head dims are noise)."""
    from fastembed_core.model import StaticModel

    model, pairs, held = _topic_model_and_pairs(n_topics, words)
    rng = np.random.default_rng(1)
    topic = rng.standard_normal((n_topics, dim - head))
    table = np.zeros((model.table.shape[0], dim), np.float32)
    vocab = model.tokenizer.tokenizer.get_vocab()
    for w, i in vocab.items():
        if w[0] in "qd" and "w" in w:
            table[i, head:] = topic[int(w[1 : w.index("w")])] + 0.3 * rng.standard_normal(dim - head)
            table[i, :head] = rng.standard_normal(head)
    return StaticModel(table, model.tokenizer.tokenizer, normalize=True), pairs, held


def test_matryoshka_rotation_raises_truncated_dims_keeps_full_cosines():
    model, pairs, held = _tail_signal_model()
    rotated = train.matryoshka_rotation(model, pairs, dims=(8,), epochs=3, lr=0.05, batch_size=32,
                                        show_progress_bar=False)
    assert _pair_ndcg(rotated, held, dims=8) > _pair_ndcg(model, held, dims=8) + 0.3
    texts = [p[0] for p in held] + [p[1] for p in held]
    a, b = model.encode(texts), rotated.encode(texts)
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-4)  # a rotation: full-width cosines unchanged
    h = rotated.config["rotation_loss"]
    assert h[-1] < h[0] and rotated.config["rotation_dims"] == [8]
    again = train.matryoshka_rotation(model, pairs, dims=(8,), epochs=3, lr=0.05, batch_size=32,
                                      show_progress_bar=False)
    np.testing.assert_array_equal(again.table, rotated.table)  # same seed, same rotation


@pytest.mark.parametrize("kwargs, match", [
    ({"dims": (8, 32)}, "shorter than the width"),
    ({"dims": ()}, "shorter than the width"),
    ({"dims": (16, 8)}, "must increase"),
    ({"dims": (8, 16), "matryoshka_weights": [1.0]}, "matryoshka_weights"),
    ({"epochs": 0}, "epochs"),
    ({"lr": -1.0}, "lr"),
])
def test_matryoshka_rotation_bad_input(kwargs, match):
    model, pairs, _ = _tail_signal_model(n_topics=2)
    with pytest.raises(train.TrainError, match=match):
        train.matryoshka_rotation(model, pairs, show_progress_bar=False, **kwargs)
    with pytest.raises(train.TrainError, match="dense table"):
        train.matryoshka_rotation(model.quantize("ternary"), pairs, show_progress_bar=False)
    with pytest.raises(train.TrainError, match=r"pairs\[1\]"):
        train.matryoshka_rotation(model, [("a", "b"), ("c",)], show_progress_bar=False)


# ---------------------------------------------------------------------------------------- equalize_dims


def test_equalize_dims_flattens_the_spread_and_power_zero_is_identity():
    from fastembed_core.model import StaticModel

    model, pairs, _ = _topic_model_and_pairs()
    falling = np.linspace(1.0, 0.1, model.dim, dtype=np.float32)  # a PCA-like falling spread
    model = StaticModel(model.table * falling, model.tokenizer.tokenizer, normalize=True)
    texts = [t for p in pairs for t in p]

    def spread(m):
        s = np.asarray(m.encode(texts)).std(axis=0)
        return s.max() / s.min()

    eq = train.equalize_dims(model, texts, power=1.0)
    assert spread(eq) < 0.5 * spread(model) and eq.config["equalize_power"] == 1.0
    same = train.equalize_dims(model, texts, power=0)
    np.testing.assert_allclose(same.encode(texts[:20]), model.encode(texts[:20]), atol=1e-6)


@pytest.mark.parametrize("sentences, power, match", [
    ([], 1.0, "sentences is empty"),
    ("one string", 1.0, "not one string"),
    (["q0w1"], -1.0, "power"),
    (["q0w1"], float("nan"), "power"),
    (["q0w1", "q0w1"], 1.0, "do not vary"),
])
def test_equalize_dims_bad_input(sentences, power, match):
    model, _, _ = _topic_model_and_pairs(n_topics=2)
    with pytest.raises(train.TrainError, match=match):
        train.equalize_dims(model, sentences, power=power)
