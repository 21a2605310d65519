"""BinaryIndex: search, rescoring, Matryoshka coarse-to-fine, save/load, bad input; on both backends."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastembed_core as fe


def data(n=600, dim=100, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)).astype(np.float32), rng.standard_normal((9, dim)).astype(np.float32)


def unit(x):
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-32)


def exact_cosine_topk(q, d, k):
    s = unit(q) @ unit(d).T
    ids = np.lexsort((np.broadcast_to(np.arange(d.shape[0]), s.shape), -s), axis=-1)[:, :k]
    return np.take_along_axis(s, ids, axis=1), ids


@pytest.mark.parametrize("keep", ["float32", "int8"])
def test_rescore_with_all_candidates_is_exact_cosine(backend, keep):
    d, q = data()
    index = fe.BinaryIndex(100, keep=keep)
    index.add(d[:250])
    index.add(d[250:])
    assert len(index) == 600
    scores, ids = index.search(q, 10, rescore_multiplier=60)  # 600 candidates: everything
    es, ei = exact_cosine_topk(q, d, 10)
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and ids.shape == (9, 10)
    if keep == "float32":
        np.testing.assert_array_equal(ids, ei)
        np.testing.assert_allclose(scores, es, rtol=0, atol=1e-5)
    else:
        np.testing.assert_allclose(scores, es, rtol=0, atol=0.02)
        assert (ids[:, 0] == ei[:, 0]).mean() > 0.8
    assert (np.diff(scores, axis=1) <= 0).all()


def test_rescore_reorders_the_binary_candidates(backend):
    d, q = data()
    index = fe.BinaryIndex(100)
    index.add(d)
    _, cand = fe.hamming_topk(fe.pack_bits(q), fe.pack_bits(d), 40)
    scores, ids = index.search(q, 10, rescore_multiplier=4, refine=1)
    for r in range(len(q)):
        s = unit(q[r : r + 1]) @ unit(d[cand[r]]).T
        order = np.lexsort((cand[r], -s[0]))[:10]
        np.testing.assert_array_equal(ids[r], cand[r][order])


def pm1_cosines(q, d, threshold=0.0):
    """cos(q, 2b - 1) for every query/row pair, from the bits as floats (the oracle of code_cosines)."""
    pm = 2.0 * (d > threshold).astype(np.float64) - 1.0
    return (unit(q.astype(np.float64)) @ pm.T) / np.sqrt(d.shape[1])


def test_code_cosines_oracle_and_bad_input():
    d, q = data(dim=100)
    codes = fe.pack_bits(d)
    got = fe.code_cosines(q, np.broadcast_to(codes, (len(q),) + codes.shape))
    np.testing.assert_allclose(got, pm1_cosines(q, d), rtol=0, atol=1e-5)
    assert got.dtype == np.float32
    # a code scores the same bits whatever else is scored with it (shards and batches merge exactly)
    np.testing.assert_array_equal(fe.code_cosines(q[3:5], np.ascontiguousarray(codes[None, 7:19].repeat(2, 0))),
                                  got[3:5, 7:19])
    np.testing.assert_array_equal(fe.code_cosines(np.zeros((1, 100)), codes[None, :5]), np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="codes must be uint8"):
        fe.code_cosines(q, codes[None])  # one row of candidates for 9 queries
    with pytest.raises(ValueError, match=r"codes must be uint8 \[9, c, 13\]"):
        fe.code_cosines(q, np.zeros((9, 4, 12), np.uint8))
    with pytest.raises(TypeError, match="queries must be float"):
        fe.code_cosines(np.zeros((9, 100), np.int64), np.zeros((9, 4, 13), np.uint8))


@pytest.mark.parametrize("threshold", [0.0, "median"])
def test_refine_ranks_hamming_candidates_by_code_cosine_then_rescores(backend, threshold):
    d, q = data(dim=64)
    index = fe.BinaryIndex(64, threshold=threshold)
    index.add(d)
    t = index.threshold
    _, cand = fe.hamming_topk(fe.pack_bits(q, threshold=t), fe.pack_bits(d, threshold=t), 10 * 4 * 4)
    cc = pm1_cosines(q, d, t)
    scores, ids = index.search(q, 10)  # the default: rescore x4 after refine x4
    for r in range(len(q)):
        c = cand[r]
        kept = c[np.lexsort((c, -cc[r, c].astype(np.float32)))[:40]]
        s = (unit(q[r : r + 1]) @ unit(d[kept]).T)[0]
        np.testing.assert_array_equal(ids[r], kept[np.lexsort((kept, -s))[:10]])
    # the refining stage changed the candidates: refine=1 gives other results on this data
    assert not np.array_equal(ids, index.search(q, 10, refine=1)[1])
    # without rescoring: the best k by the asymmetric score, which is the returned score
    scores, ids = index.search(q, 10, rescore=False, refine=4)
    for r in range(len(q)):
        c = cand[r][:40]
        order = np.lexsort((c, -cc[r, c].astype(np.float32)))[:10]
        np.testing.assert_array_equal(ids[r], c[order])
        np.testing.assert_allclose(scores[r], cc[r, c[order]], rtol=0, atol=1e-5)
    # every row a candidate: the exact asymmetric top-k
    _, ids = index.search(q, 5, rescore=False, refine=120)
    ei = np.lexsort((np.broadcast_to(np.arange(len(d)), cc.shape), -cc.astype(np.float32)), axis=-1)[:, :5]
    np.testing.assert_array_equal(ids, ei)


def test_refine_with_dims_scores_the_full_codes(backend):
    d, q = data(dim=128)
    index = fe.BinaryIndex(128, keep=None)
    index.add(d)
    _, cand = fe.hamming_topk(fe.pack_bits(q[:, :64]), fe.pack_bits(d[:, :64]), 20)
    scores, ids = index.search(q, 5, dims=64, refine=4)
    cc = pm1_cosines(q, d)
    for r in range(len(q)):
        c = cand[r]
        np.testing.assert_array_equal(ids[r], c[np.lexsort((c, -cc[r, c].astype(np.float32)))[:5]])


def test_binary_only_search_equals_hamming_topk(backend):
    d, q = data()
    for index in (fe.BinaryIndex(100, keep=None), fe.BinaryIndex(100)):
        index.add(d)
        scores, ids = index.search(q, 7, rescore=False)
        ed, ei = fe.hamming_topk(fe.pack_bits(q), fe.pack_bits(d), 7)
        np.testing.assert_array_equal(ids, ei)
        np.testing.assert_array_equal(scores, -ed.astype(np.float32))
    # codes in, codes only, both sign formats; no rescoring possible -> default is binary search
    index = fe.BinaryIndex(100, keep=None)
    index.add(fe.pack_bits(d[:300]))
    index.add((fe.pack_bits(d[300:]) ^ 0x80).view(np.int8))
    _, ids = index.search(fe.pack_bits(q), 7)
    np.testing.assert_array_equal(ids, ei)
    s1, i1 = index.search(q[0], 7)
    assert s1.shape == i1.shape == (7,)
    np.testing.assert_array_equal(i1, ei[0])


def test_matryoshka_dims(backend):
    d, q = data(dim=256)
    index = fe.BinaryIndex(256)
    index.add(d)
    for dims in (8, 64, 128, 256):
        _, ids = index.search(q, 5, rescore=False, dims=dims)
        _, ei = fe.hamming_topk(fe.pack_bits(q[:, :dims]), fe.pack_bits(d[:, :dims]), 5)
        np.testing.assert_array_equal(ids, ei)
        _, ids = index.search(q, 5, dims=dims, rescore_multiplier=200)  # rescoring with full vectors
        np.testing.assert_array_equal(ids, exact_cosine_topk(q, d, 5)[1])


def test_median_threshold_is_fitted_and_used(backend):
    d, q = data()
    d = d + 3.0  # every value positive: threshold 0 gives all-ones codes
    index = fe.BinaryIndex(100, threshold="median", keep=None)
    index.add(d)
    np.testing.assert_allclose(index.threshold, np.median(d, axis=0), rtol=1e-6)
    _, ids = index.search(q + 3.0, 5)
    _, ei = fe.hamming_topk(fe.pack_bits(q + 3.0, threshold=index.threshold), fe.pack_bits(d, threshold=index.threshold), 5)
    np.testing.assert_array_equal(ids, ei)


def test_thread_counts_identical(backend, monkeypatch):
    from fastembed_core import binary

    monkeypatch.setattr(binary, "_MIN_DB_CHUNK", 64)
    d, q = data(n=1000)
    index = fe.BinaryIndex(100)
    index.add(d)
    ref = index.search(q, 10, num_threads=1)
    for t in (2, 3, 4):
        got = index.search(q, 10, num_threads=t)
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_array_equal(got[0], ref[0])


@pytest.mark.parametrize("keep", ["float32", "int8", None])
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_roundtrip(backend, tmp_path, keep, mmap):
    d, q = data(n=300, dim=77)
    index = fe.BinaryIndex(77, keep=keep, threshold="median")
    index.add(d)
    path = tmp_path / "a.fecb"
    index.save(path)
    assert os.listdir(tmp_path) == ["a.fecb"]  # no temporary file left behind
    loaded = fe.BinaryIndex.load(path, mmap=mmap)
    assert len(loaded) == 300 and loaded.keep == keep and loaded.dim == 77
    assert loaded.nbytes == index.nbytes
    np.testing.assert_array_equal(loaded.threshold, index.threshold)
    a, b = index.search(q, 8), loaded.search(q, 8)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    loaded.add(d[:5])  # a mapped index can still grow (in memory)
    assert len(loaded) == 305
    index.save(path)  # overwrite in place
    assert len(fe.BinaryIndex.load(path)) == 300


def test_empty_index_save_load(tmp_path):
    index = fe.BinaryIndex(16, keep="int8")
    index.save(tmp_path / "e")
    loaded = fe.BinaryIndex.load(tmp_path / "e")
    assert len(loaded) == 0
    with pytest.raises(ValueError, match="empty"):
        loaded.search(np.ones(16, np.float32), 1)


def test_load_rejects_corrupt_files(tmp_path):
    d, _ = data(n=50, dim=24)
    index = fe.BinaryIndex(24)
    index.add(d)
    good = tmp_path / "good"
    index.save(good)
    raw = good.read_bytes()
    cases = {
        "magic": b"XXXXXXXX" + raw[8:],
        "truncated": raw[:-10],
        "extra": raw + b"\0" * 64,
        "header": raw[:16] + b"}" + raw[17:],
        "dtype": raw.replace(b'"<f4", "shape": [50, 24]', b'"<f8", "shape": [50, 24]'),
        "shape": raw.replace(b'"shape": [50, 3]', b'"shape": [51, 3]'),
        "empty": b"",
    }
    for name, blob in cases.items():
        assert blob != raw, name
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(ValueError):
            fe.BinaryIndex.load(p)


def test_bad_input(backend):
    d, q = data(n=20, dim=16)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        fe.BinaryIndex(0)
    with pytest.raises(ValueError, match="keep must be"):
        fe.BinaryIndex(16, keep="float16")
    with pytest.raises(ValueError, match="threshold"):
        fe.BinaryIndex(16, threshold=np.zeros(3))
    with pytest.raises(ValueError, match="threshold"):
        fe.BinaryIndex(16, threshold="mode")
    index = fe.BinaryIndex(16)
    with pytest.raises(ValueError, match="index is empty"):
        index.search(q, 1)
    with pytest.raises(ValueError, match="must have 16 dimensions"):
        index.add(np.zeros((3, 15), np.float32))
    with pytest.raises(ValueError, match="add float embeddings, not codes"):
        index.add(np.zeros((3, 2), np.uint8))
    with pytest.raises(TypeError, match="embeddings_or_codes must be float"):
        index.add(np.zeros((3, 16), np.int64))
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.full((3, 16), np.nan, np.float32))
    index.add(d)
    with pytest.raises(ValueError, match="k=21 is larger than the index"):
        index.search(q, 21)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(q, 0)
    with pytest.raises(ValueError, match="queries must have 16 dimensions"):
        index.search(np.zeros((2, 17), np.float32), 1)
    with pytest.raises(TypeError, match="queries must be float"):
        index.search(np.zeros((2, 16), np.int32), 1)
    with pytest.raises(ValueError, match="rescore=True needs float queries"):
        index.search(np.zeros((2, 2), np.uint8), 1, rescore=True)
    with pytest.raises(ValueError, match="dims must be a multiple of 8"):
        index.search(q, 1, dims=12)
    with pytest.raises(ValueError, match="dims must be a multiple of 8"):
        index.search(q, 1, dims=24)
    with pytest.raises(ValueError, match="rescore_multiplier must be a positive integer"):
        index.search(q, 1, rescore_multiplier=0)
    with pytest.raises(ValueError, match="refine must be None or a positive integer"):
        index.search(q, 1, refine=0)
    with pytest.raises(TypeError, match="refine must be None or an integer"):
        index.search(q, 1, refine=2.5)
    with pytest.raises(ValueError, match="refine > 1 needs float queries"):
        index.search(np.zeros((2, 2), np.uint8), 1, refine=2)
    with pytest.raises(ValueError, match="queries contain NaN or infinity"):
        index.search(np.full((2, 16), np.nan, np.float32), 1)
    with pytest.raises(ValueError, match="queries contain NaN or infinity"):
        index.search(np.full(16, np.inf, np.float32), 1, rescore=False)
    with pytest.raises(ValueError, match="num_threads"):
        index.search(q, 1, num_threads=0)
    codes_only = fe.BinaryIndex(16, keep=None)
    codes_only.add(d)
    with pytest.raises(ValueError, match="rescore=True needs an index that keeps vectors"):
        codes_only.search(q, 1, rescore=True)
    with pytest.raises(ValueError, match="query codes must have 2 bytes"):
        codes_only.search(np.zeros((2, 1), np.uint8), 1)
    with pytest.raises(ValueError, match="must have 2 bytes"):
        codes_only.add(np.zeros((2, 3), np.uint8))


def test_dev_data_rescoring_recovers_float_quality(dev_rows):
    """On real text (no model needed): binary + rescoring keeps the exact cosine top-1 most of the time."""
    import random
    import zlib

    rows = list(dev_rows)
    random.Random(0).shuffle(rows)
    rows = rows[:1000]
    dim = 256

    proj = np.random.default_rng(0).standard_normal((4096, dim)).astype(np.float32)

    def embed(texts):  # hashed bag of words, randomly projected to dense vectors (SimHash-like codes)
        bags = np.zeros((len(texts), 4096), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                bags[i, zlib.crc32(w.encode()) % 4096] += 1.0
        return bags @ proj

    q, d = embed([r["query"] for r in rows]), embed([r["doc"] for r in rows])
    index = fe.BinaryIndex(dim)
    index.add(d)
    _, ids = index.search(q, 10, rescore_multiplier=10)
    _, exact = exact_cosine_topk(q, d, 10)
    assert np.mean(ids[:, 0] == exact[:, 0]) > 0.9  # measured 0.969


def test_save_before_fitting_the_threshold_is_an_error(tmp_path):
    index = fe.BinaryIndex(16, threshold="median")
    with pytest.raises(ValueError, match="fitted on the first add"):
        index.save(tmp_path / "x")
    assert not list(tmp_path.iterdir())
