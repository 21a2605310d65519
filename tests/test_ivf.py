"""IVFBinaryIndex: exactness at nprobe = nlist, determinism, add/remove, files, bad input; both backends."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

from fastembed_core import BinaryIndex, _backend, hamming, hamming_topk, pack_bits
from fastembed_core.ivf import IVFBinaryIndex

from conftest import _backends, compiled_variants

DIM = 64


def clustered(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """Points around 40 centres, with every 10th row a duplicate of another (Hamming ties on purpose)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(40, size=n)] + 0.6 * rng.normal(size=(n, dim))
    x[::10] = x[rng.integers(n, size=len(x[::10]))]
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    x = clustered(3000)
    q = clustered(25, seed=1)
    return x, q


def build(x, ids=None, **kw):
    kw.setdefault("nlist", 24)
    ix = IVFBinaryIndex(DIM, **kw)
    ix.train(x)
    ix.add(x, ids=ids)
    return ix


def test_kernel_compiled_matches_numpy():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=(700, 5), dtype=np.uint8)  # few distinct values: many ties
    ids = rng.permutation(10_000)[:700].astype(np.int64)
    q = rng.integers(0, 4, size=(9, 5), dtype=np.uint8)
    bounds = np.sort(rng.integers(0, 701, size=(9, 6)), axis=1)
    starts, ends = np.ascontiguousarray(bounds[:, 0::2]), np.ascontiguousarray(bounds[:, 1::2])
    outs = []
    for name in ("compiled", "numpy"):
        mod = _backend.load(name)
        for k in (1, 7, 300):
            d = np.empty((9, k), np.int32)
            r = np.empty((9, k), np.int64)
            mod.ivf_topk(q, codes, ids, starts, ends, k, d, r)
            outs.append((name, k, d, r))
        with pytest.raises(ValueError):
            mod.ivf_topk(q, codes, ids, starts, ends + 1000, 1, np.empty((9, 1), np.int32), np.empty((9, 1), np.int64))
    # the list-major form: group g = (range g, the queries whose ranges include it)
    pairs = sorted((p, i) for i in range(9) for p in range(3))
    flat_st = np.array([starts[i, p] for p, i in pairs], np.int64)
    flat_en = np.array([ends[i, p] for p, i in pairs], np.int64)
    group_offsets = np.arange(len(pairs) + 1, dtype=np.int64)
    group_queries = np.array([i for _, i in pairs], np.int64)
    for name in ("compiled", "numpy"):
        mod = _backend.load(name)
        for k in (1, 7, 300):
            d = np.empty((9, k), np.int32)
            r = np.empty((9, k), np.int64)
            mod.ivf_topk_grouped(q, codes, ids, flat_st, flat_en, group_offsets, group_queries, k, d, r)
            ref = next(o for o in outs if o[0] == name and o[1] == k)
            np.testing.assert_array_equal(d, ref[2])
            np.testing.assert_array_equal(r, ref[3])
        with pytest.raises(ValueError):
            mod.ivf_topk_grouped(q, codes, ids, flat_st, flat_en, group_offsets, group_queries + 9, 1,
                                 np.empty((9, 1), np.int32), np.empty((9, 1), np.int64))
    for (_, k, d, r), (_, k2, d2, r2) in zip(outs[:3], outs[3:]):
        np.testing.assert_array_equal(d, d2)
        np.testing.assert_array_equal(r, r2)
    # the contract itself: (distance, id) ascending over the union of each query's ranges
    _, k, d, r = outs[1]
    for i in range(9):
        rows = np.concatenate([np.arange(s, e) for s, e in zip(starts[i], ends[i])])
        dist = np.unpackbits(q[i] ^ codes[rows], axis=1).sum(1)
        best = rows[np.lexsort((ids[rows], dist))[:k]]
        np.testing.assert_array_equal(r[i, : best.size], best)
        assert (r[i, best.size :] == -1).all()


@pytest.mark.skipif("compiled" not in _backends(), reason="numpy-only run")
@pytest.mark.parametrize("width", [32, 8, 40])
@pytest.mark.parametrize("variant", compiled_variants("hamming_topk") or [None])
def test_list_scan_every_simd_variant(variant, width):
    """The list scan filters rows with the fused SIMD step of the active hamming_topk variant (32-byte
    codes) or distances + a scalar test (other widths): every variant equals the numpy contract, with
    many ties, lists whose lengths are not multiples of the SIMD step, and empty lists."""
    rng = np.random.default_rng(5)
    n = 1500
    codes = np.zeros((n, width), np.uint8)
    codes[:, :3] = rng.integers(0, 256, (n, 3), dtype=np.uint8) & 0x13  # few distinct distances: ties
    codes[:, 3:] = rng.integers(0, 256, (n, width - 3), dtype=np.uint8) * (rng.random((n, 1)) < 0.05)
    ids = rng.permutation(50_000)[:n].astype(np.int64)
    q = codes[rng.integers(n, size=6)] ^ (rng.random((6, width)) < 0.02).astype(np.uint8)
    bounds = np.sort(rng.integers(0, n + 1, size=(6, 8)), axis=1)
    bounds[:, 2] = bounds[:, 1]  # an empty range
    starts, ends = np.ascontiguousarray(bounds[:, 0::2]), np.ascontiguousarray(bounds[:, 1::2])
    compiled, ref = _backend.load("compiled"), _backend.load("numpy")
    for k in (1, 10, 40):
        want = (np.empty((6, k), np.int32), np.empty((6, k), np.int64))
        ref.ivf_topk(q, codes, ids, starts, ends, k, *want)
        got = (np.empty((6, k), np.int32), np.empty((6, k), np.int64))
        with _backend.variant("hamming_topk", variant) if variant else contextlib.nullcontext():
            compiled.ivf_topk(q, codes, ids, starts, ends, k, *got)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("keep", ["float32", "int8", None])
def test_nprobe_nlist_is_exact_search(backend, data, keep):
    x, q = data
    perm = np.random.default_rng(5).permutation(len(x))
    ix = IVFBinaryIndex(DIM, nlist=24, keep=keep)
    ix.train(x)
    ix.add(x[perm] if keep else pack_bits(x[perm]), ids=perm)  # added shuffled, id = original row
    d, i = hamming_topk(pack_bits(q), pack_bits(x), 10)
    s, j = ix.search(q if keep else pack_bits(q), 10, nprobe=24, rescore=False)
    np.testing.assert_array_equal(j, i)  # ties by the smaller id, as the exact scan's smaller row
    np.testing.assert_array_equal(s, -d.astype(np.float32))
    if keep:
        ref = BinaryIndex(DIM, keep=keep)
        ref.add(x)
        for kw in ({}, {"refine": 1}, {"refine": 3, "rescore": False}):  # default: refine x4, rescore x4
            s_ref, i_ref = ref.search(q, 10, **kw)
            s_ivf, i_ivf = ix.search(q, 10, nprobe=24, **kw)
            np.testing.assert_array_equal(i_ivf, i_ref)
            np.testing.assert_allclose(s_ivf, s_ref, rtol=0, atol=1e-6)
        assert not np.array_equal(ix.search(q, 10, nprobe=24)[1], ix.search(q, 10, nprobe=24, refine=1)[1])


def test_approximate_search_finds_most_neighbours(backend, data):
    x, q = data
    ix = build(x)
    exact = ix.search(q, 10, nprobe=24, rescore=False)[1]
    recall = [np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ix.search(q, 10, nprobe=p, rescore=False)[1], exact)])
              for p in (1, 4, 24)]
    assert recall[0] <= recall[1] <= recall[2] == 1.0
    assert recall[1] > 0.5


def test_deterministic_over_seed_add_order_and_threads(backend, monkeypatch, data, tmp_path):
    monkeypatch.setattr(hamming, "_MIN_THREAD_WORK", 1)  # the batch search splits at any size
    x, q = data
    ids = np.arange(len(x)) * 3 + 7
    a = build(x, ids=ids, seed=4)
    b = IVFBinaryIndex(DIM, nlist=24, seed=4)
    b.train(x)
    perm = np.random.default_rng(9).permutation(len(x))
    for part in np.array_split(perm, 5):
        b.add(x[part], ids=ids[part])
    assert a.quantizer_digest == b.quantizer_digest
    np.testing.assert_array_equal(a.ids, b.ids)
    r1 = a.search(q, 10, nprobe=5, num_threads=1)
    r2 = b.search(q, 10, nprobe=5, num_threads=2)
    np.testing.assert_array_equal(r1[1], r2[1])
    np.testing.assert_array_equal(r1[0], r2[0])
    a.save(tmp_path / "a.ivf")
    b.save(tmp_path / "b.ivf")
    assert (tmp_path / "a.ivf").read_bytes() == (tmp_path / "b.ivf").read_bytes()
    c = build(x, ids=ids, seed=5)
    assert c.quantizer_digest != a.quantizer_digest


def test_single_query_and_default_ids(backend, data):
    x, q = data
    ix = build(x[:1000])
    assert set(ix.ids.tolist()) == set(range(1000))
    more = ix.add(x[1000:1010])
    np.testing.assert_array_equal(more, np.arange(1000, 1010))
    s, i = ix.search(q[0], 5, nprobe=3)
    assert s.shape == i.shape == (5,)
    np.testing.assert_array_equal(i, ix.search(q[:1], 5, nprobe=3)[1][0])


@pytest.mark.parametrize("keep", ["float32", "int8"])
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(backend, data, tmp_path, keep, mmap):
    x, q = data
    ix = build(x, ids=np.arange(len(x)) + 100, keep=keep, nprobe=6)
    path = tmp_path / "ix.ivf"
    ix.save(path)
    back = IVFBinaryIndex.load(path, mmap=mmap, verify=True)
    assert (back.dim, back.nlist, back.keep, back.nprobe, len(back)) == (DIM, 24, keep, 6, len(x))
    assert back.quantizer_digest == ix.quantizer_digest
    for r1, r2 in zip(ix.search(q, 10), back.search(q, 10)):
        np.testing.assert_array_equal(r1, r2)
    back.add(x[:3] + 1, ids=[1, 2, 3])  # a mapped index still takes adds and removes (in memory)
    back.remove([100, 1])
    assert len(back) == len(x) + 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_file_is_safetensors(data, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    x, _ = data
    ix = build(x[:500], keep="int8")
    ix.save(tmp_path / "ix.ivf")
    tensors = st.load_file(str(tmp_path / "ix.ivf"))
    np.testing.assert_array_equal(tensors["ids"], ix.ids)
    np.testing.assert_array_equal(tensors["centroids"], ix.centroids)


def test_remove(backend, data):
    x, q = data
    ix = build(x)
    gone = np.random.default_rng(2).choice(len(x), 1200, replace=False)
    exact_before = ix.search(q, 50, nprobe=24, rescore=False)[1]
    ix.remove(gone[:600])
    ix.remove(gone[600:].tolist())
    assert len(ix) == len(x) - 1200
    for nprobe in (1, 24):
        _, i = ix.search(q, 50, nprobe=nprobe)
        assert not np.isin(i, gone).any()
    rest = np.setdiff1d(np.arange(len(x)), gone)
    _, j = hamming_topk(pack_bits(q), pack_bits(x[rest]), 10)
    np.testing.assert_array_equal(ix.search(q, 10, nprobe=24, rescore=False)[1], rest[j])
    assert np.isin(exact_before, gone).any()  # the removed ids were real neighbours
    ix.add(x[gone[:5]], ids=gone[:5])  # removed ids may be added again
    assert len(ix) == len(x) - 1195


def test_fewer_candidates_than_k_are_padded(backend):
    x = clustered(200)
    ix = IVFBinaryIndex(DIM, nlist=20)
    ix.train(x)
    ix.add(x)
    sizes = ix.list_sizes()
    q = x[:1]
    s, i = ix.search(q, 200, nprobe=1, rescore=False)
    found = (i >= 0).sum()
    assert found < 200 and found in set(sizes.tolist())
    assert np.isneginf(s[0, found:]).all() and (i[0, found:] == -1).all()
    _, i2 = ix.search(q, 50, nprobe=1)
    assert (i2[0, :min(found, 50)] >= 0).all()


def test_bad_input(data, tmp_path):
    x, q = data
    ix = IVFBinaryIndex(DIM, nlist=24)
    for call in (lambda: ix.search(q, 5), lambda: ix.add(x), lambda: ix.save(tmp_path / "u.ivf")):
        with pytest.raises(ValueError, match="not trained"):
            call()
    with pytest.raises(ValueError, match="nlist=5000 is larger"):
        IVFBinaryIndex(DIM, nlist=5000).train(x)
    ix.train(x)
    with pytest.raises(ValueError, match="empty"):
        ix.search(q, 5)
    ix.add(x, ids=np.arange(len(x)))
    with pytest.raises(ValueError, match="nprobe=25 is larger than nlist=24"):
        ix.search(q, 5, nprobe=25)
    with pytest.raises(ValueError, match="nprobe must be a positive integer"):
        ix.search(q, 5, nprobe=0)
    with pytest.raises(ValueError, match="64 dimensions"):
        ix.search(q[:, :32], 5)
    with pytest.raises(ValueError, match="64 dimensions"):
        ix.add(x[:2, :10], ids=[10**6, 10**6 + 1])
    with pytest.raises(ValueError, match="duplicates"):
        ix.add(x[:2], ids=[10**6, 10**6])
    with pytest.raises(ValueError, match="already in the index"):
        ix.add(x[:2], ids=[10**6, 5])
    with pytest.raises(ValueError, match="entries for 2 vectors"):
        ix.add(x[:2], ids=[10**6])
    with pytest.raises(ValueError, match="not in the index: \\[-3\\]"):
        ix.remove([4, -3])
    with pytest.raises(ValueError, match="must be float embeddings"):
        ix.add(pack_bits(x[:2]), ids=[10**6, 10**6 + 1])
    with pytest.raises(ValueError, match="train\\(\\) needs an empty index"):
        ix.train(x)
    with pytest.raises(ValueError, match="larger than the index"):
        ix.search(q, len(x) + 1)
    assert len(ix) == len(x)  # every failed call left the index as it was


def test_corrupted_and_truncated_files(data, tmp_path):
    x, _ = data
    ix = build(x[:800])
    good = tmp_path / "good.ivf"
    ix.save(good)
    raw = good.read_bytes()
    hlen = int.from_bytes(raw[:8], "little")

    def variant(name, blob):
        p = tmp_path / name
        p.write_bytes(blob)
        return p

    cases = {
        "truncated": raw[:-7],
        "extended": raw + b"\0",
        "header": raw[:20] + b"\xff" + raw[21:],
        "hlen": (10**12).to_bytes(8, "little") + raw[8:],
        "empty": b"",
        "centroids": raw[: len(raw) - ix.centroids.nbytes - 800 * 8 + 3] + b"\x5a"
        + raw[len(raw) - ix.centroids.nbytes - 800 * 8 + 4 :],
    }
    for name, blob in cases.items():
        with pytest.raises(ValueError, match=name + ".ivf"):
            IVFBinaryIndex.load(variant(name + ".ivf", blob))
    flipped = bytearray(raw)
    flipped[-1] ^= 0xFF  # a code byte: structure intact, only the checksum can tell
    p = variant("codes.ivf", bytes(flipped))
    IVFBinaryIndex.load(p)
    with pytest.raises(ValueError, match="SHA-256"):
        IVFBinaryIndex.load(p, verify=True)
    assert hlen % 64 == 56  # tensors start 64-byte aligned


def test_failed_save_leaves_old_file(data, tmp_path, monkeypatch):
    x, _ = data
    ix = build(x[:500])
    path = tmp_path / "ix.ivf"
    ix.save(path)
    before = path.read_bytes()
    ix.add(x[500:600])

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ix.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ix.ivf"]


def test_nearest_lists_match_hamming_topk(backend):
    from fastembed_core.ivf import _nearest_lists

    rng = np.random.default_rng(4)
    cents = rng.integers(0, 256, size=(300, 4), dtype=np.uint8) & 0x0F  # many equal distances
    q = rng.integers(0, 256, size=(17, 4), dtype=np.uint8)
    for nprobe in (1, 5, 64, 299, 300):
        want = np.sort(hamming_topk(q, cents, nprobe)[1], axis=1)
        np.testing.assert_array_equal(_nearest_lists(q, cents, nprobe, 1), want)
        np.testing.assert_array_equal(_nearest_lists(q, cents, nprobe, 2), want)


@pytest.mark.parametrize("width", [32, 5])
def test_fused_search_is_probe_then_scan(backend, width):
    """``ivf_search`` (the one-call probe + list scan + top-k of a single query, lists scanned nearest
    first in the compiled kernel) equals ``ivf_probe`` then ``ivf_topk`` over the probed lists, with
    many tied centroid and row distances and empty lists; with ``distinct``, an id stored in two lists
    counts once; bad offsets are refused before any scan."""
    rng = np.random.default_rng(8)
    nlist, n = 40, 900
    cents = rng.integers(0, 256, size=(nlist, width), dtype=np.uint8) & 0x31
    sizes = rng.integers(0, 45, size=nlist)
    sizes[::7] = 0
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    codes = rng.integers(0, 256, size=(n, width), dtype=np.uint8) & 0x35
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    q = rng.integers(0, 256, size=(5, width), dtype=np.uint8) & 0x3F
    kern = _backend.kernels
    for nprobe, k in ((1, 1), (6, 10), (17, 60), (nlist, 300)):
        probe = np.empty((5, nprobe), np.int64)
        kern.ivf_probe(q, cents, nprobe, probe)
        want = (np.empty((5, k), np.int32), np.empty((5, k), np.int64))
        kern.ivf_topk(q, codes, ids, offsets[probe], offsets[probe + 1], k, *want)
        got = (np.empty((5, k), np.int32), np.empty((5, k), np.int64))
        kern.ivf_search(q, cents, nprobe, offsets, codes, ids, k, *got)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # distinct=True: ids stored twice (same code, two lists) count once, as in an index with replicas=2
    twice = np.concatenate([codes, codes])
    twice_ids = np.concatenate([ids, ids])
    lists = np.concatenate([np.repeat(np.arange(nlist), sizes), (np.repeat(np.arange(nlist), sizes) + 7) % nlist])
    order = np.lexsort((twice_ids, lists))
    off2 = np.concatenate([[0], np.cumsum(np.bincount(lists, minlength=nlist))]).astype(np.int64)
    twice, twice_ids = np.ascontiguousarray(twice[order]), twice_ids[order]
    for nprobe, k in ((3, 10), (nlist, 50)):
        got = (np.empty((5, k), np.int32), np.empty((5, k), np.int64))
        kern.ivf_search(q, cents, nprobe, off2, twice, twice_ids, k, *got, True)
        probe = np.empty((5, nprobe), np.int64)
        kern.ivf_probe(q, cents, nprobe, probe)
        for i in range(5):
            rows = np.concatenate([np.arange(off2[g], off2[g + 1]) for g in probe[i]])
            dist = np.unpackbits(q[i] ^ twice[rows], axis=1).sum(1)
            pairs = sorted(set(zip(dist.tolist(), twice_ids[rows].tolist())))[:k]
            assert list(zip(got[0][i, : len(pairs)].tolist(), twice_ids[got[1][i, : len(pairs)]].tolist())) == pairs
            assert (got[1][i, len(pairs) :] == -1).all()
    out = (np.empty((5, 3), np.int32), np.empty((5, 3), np.int64))
    bad = offsets.copy()
    bad[1:] += n  # every list past the end of the codes
    with pytest.raises(ValueError):
        kern.ivf_search(q, cents, nlist, bad, codes, ids, 3, *out)
    with pytest.raises(ValueError):
        kern.ivf_search(q, cents, nlist + 1, offsets, codes, ids, 3, *out)


@pytest.mark.parametrize("keep", ["int8", None])
def test_replicas_two_lists_per_vector(backend, monkeypatch, data, tmp_path, keep):
    """replicas=2 stores each vector in its two nearest lists: at nprobe = nlist a search is still the
    exact search (each id once, ties by the smaller id, one query or a batch, one or two threads); at
    small nprobe it finds at least what replicas=1 finds over the same lists; remove drops both copies;
    save/load round trips; a file whose ids are not stored exactly twice is refused."""
    monkeypatch.setattr(hamming, "_MIN_THREAD_WORK", 1)  # the batch search splits at any size
    x, q = data
    perm = np.random.default_rng(6).permutation(len(x))
    one = IVFBinaryIndex(DIM, nlist=24, keep=keep)
    two = IVFBinaryIndex(DIM, nlist=24, keep=keep, replicas=2)
    for ix in (one, two):
        ix.train(x)
        ix.add(x[perm] if keep else pack_bits(x[perm]), ids=perm)
    assert len(two) == len(x) and two.ids.size == 2 * len(x) and two.list_sizes().sum() == 2 * len(x)
    qq = q if keep else pack_bits(q)
    d, i = hamming_topk(pack_bits(q), pack_bits(x), 10)
    for threads in (1, 2):
        s, j = two.search(qq, 10, nprobe=24, rescore=False, num_threads=threads)
        np.testing.assert_array_equal(j, i)
        np.testing.assert_array_equal(s, -d.astype(np.float32))
    np.testing.assert_array_equal(two.search(qq[3], 10, nprobe=24, rescore=False)[1], i[3])
    if keep:
        np.testing.assert_array_equal(two.search(q, 10, nprobe=24)[1], one.search(q, 10, nprobe=24)[1])
    hits = [np.mean([len(set(a) & set(b)) for a, b in zip(ix.search(qq, 10, nprobe=2, rescore=False)[1], i)])
            for ix in (one, two)]
    assert hits[1] >= hits[0]
    for row in two.search(qq, 30, nprobe=3, rescore=False)[1]:
        assert np.unique(row[row >= 0]).size == np.count_nonzero(row >= 0)  # each id at most once
    two.remove(perm[:100])
    assert len(two) == len(x) - 100 and not np.isin(two.ids, perm[:100]).any()
    path = tmp_path / "two.ivf"
    two.save(path)
    back = IVFBinaryIndex.load(path, verify=True)
    assert back.replicas == 2 and len(back) == len(two)
    for r1, r2 in zip(two.search(qq, 10, nprobe=5), back.search(qq, 10, nprobe=5)):
        np.testing.assert_array_equal(r1, r2)
    assert back.quantizer_digest == one.quantizer_digest  # same seed, same quantizer
    one.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"replicas":"1"', b'"replicas":"2"', 1))
    with pytest.raises(ValueError, match="exactly replicas=2"):
        IVFBinaryIndex.load(path)
    with pytest.raises(ValueError, match="replicas"):
        IVFBinaryIndex(DIM, replicas=3)
    with pytest.raises(ValueError, match="replicas"):
        IVFBinaryIndex(DIM, nlist=1, replicas=2).train(x)
    assert one.empty_like(replicas=2).replicas == 2 and two.empty_like().replicas == 2


def test_small_batches_stay_on_the_calling_thread(backend, monkeypatch, recorded_splits, data):
    # A batch too small to repay a thread hand-off (hamming._MIN_THREAD_WORK) is searched inline.
    x, q = data
    ix = build(x)
    want = ix.search(q[:4], 10, nprobe=5, num_threads=1)
    recorded_splits.clear()
    got = ix.search(q[:4], 10, nprobe=5, num_threads=2)
    assert all(len(s) == 1 for s in recorded_splits), recorded_splits
    monkeypatch.setattr(hamming, "_MIN_THREAD_WORK", 1)
    split = ix.search(q[:4], 10, nprobe=5, num_threads=2)
    assert any(len(s) == 2 for s in recorded_splits), "with no minimum the batch is split over the threads"
    for r in (got, split):
        np.testing.assert_array_equal(r[0], want[0])
        np.testing.assert_array_equal(r[1], want[1])
