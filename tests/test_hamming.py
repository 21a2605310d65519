"""pack_bits / unpack_bits / hamming_distance / hamming_topk: compiled == numpy == a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastembed_core as fe
from fastembed_core import _backend, binary

from conftest import _backends, compiled_variants, scaled

needs_compiled = pytest.mark.skipif("compiled" not in _backends(), reason="numpy-only run")

SIZES = [0, 1, 7, 63, 64, 65, 1000]
WIDTHS = [1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 96, 100, 129, 1000]


def codes(rng, n, width, bits_set=None):
    """Random codes; with bits_set, only the first few bits vary (many ties)."""
    if bits_set is None:
        return rng.integers(0, 256, (n, width), dtype=np.uint8)
    c = np.zeros((n, width), np.uint8)
    c[:, 0] = rng.integers(0, 1 << bits_set, n, dtype=np.uint8)
    return c


def oracle_distance(a, b):
    bits_a = np.unpackbits(a, axis=1).astype(np.int32)
    bits_b = np.unpackbits(b, axis=1).astype(np.int32)
    return (bits_a[:, None, :] != bits_b[None, :, :]).sum(axis=2)


def oracle_topk(q, db, k):
    d = oracle_distance(q, db)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]  # stable: ties keep the smaller index first
    return np.take_along_axis(d, idx, axis=1), idx


def variants(kernel):
    return [None] + compiled_variants(kernel)


def forced(kernel, name):
    """Context forcing compiled variant ``name`` (None: the default)."""
    import contextlib

    if name is None:
        return contextlib.nullcontext()
    return _backend.variant(kernel, name)


# ---------------------------------------------------------------------------- pack / unpack


@pytest.mark.parametrize("dim", [1, 7, 8, 9, 63, 64, 65, 256, 1000])
def test_pack_bits_matches_numpy_and_sentence_transformers(dim):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((13, dim)).astype(np.float32)
    x[0, : min(dim, 3)] = 0.0  # exactly zero -> bit 0
    got = fe.pack_bits(x)
    assert got.dtype == np.uint8 and got.shape == (13, (dim + 7) // 8)
    np.testing.assert_array_equal(got, np.packbits(x > 0, axis=1))
    st_quant = pytest.importorskip("sentence_transformers.util.quantization")
    np.testing.assert_array_equal(got, st_quant.quantize_embeddings(x, precision="ubinary"))
    signed = st_quant.quantize_embeddings(x, precision="binary")
    assert signed.dtype == np.int8
    np.testing.assert_array_equal(signed.view(np.uint8), got ^ 0x80)
    np.testing.assert_array_equal(fe.unpack_bits(signed, dim), fe.unpack_bits(got, dim))


def test_pack_bits_threshold_and_1d():
    x = np.array([[0.1, 0.5, -1.0, 2.0, 0.3, 0.3, 0.0, 9.0, 1.0]], np.float32)
    thr = np.array([0.0, 1.0, -2.0, 2.0, 0.2, 0.4, -0.1, 8.0, 0.0], np.float32)
    np.testing.assert_array_equal(fe.pack_bits(x, threshold=thr), np.packbits(x > thr, axis=1))
    np.testing.assert_array_equal(fe.pack_bits(x, threshold=0.3), np.packbits(x > 0.3, axis=1))
    np.testing.assert_array_equal(fe.pack_bits(x[0]), np.packbits(x[0] > 0))
    assert fe.pack_bits(np.zeros((0, 9), np.float32)).shape == (0, 2)


@pytest.mark.parametrize("dim", [1, 5, 8, 13, 64, 257])
def test_unpack_inverts_pack(dim):
    rng = np.random.default_rng(dim)
    bits = rng.integers(0, 2, (11, dim), dtype=np.uint8)
    c = fe.pack_bits(bits.astype(np.float32))
    np.testing.assert_array_equal(fe.unpack_bits(c, dim), bits)
    np.testing.assert_array_equal(fe.pack_bits(fe.unpack_bits(c, dim).astype(np.int8)), c)


def test_truncation_commutes_with_binarisation():
    x = np.random.default_rng(1).standard_normal((20, 256)).astype(np.float32)
    for d in (8, 64, 128):
        np.testing.assert_array_equal(fe.pack_bits(x)[:, : d // 8], fe.pack_bits(x[:, :d]))


def test_pack_unpack_bad_input():
    with pytest.raises(TypeError, match="x must be a real"):
        fe.pack_bits(np.array([["a"]]))
    with pytest.raises(TypeError, match="x must be a real"):
        fe.pack_bits(np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="x must be 1-D"):
        fe.pack_bits(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="dimension"):
        fe.pack_bits(np.ones((2, 0)))
    with pytest.raises(ValueError, match="threshold"):
        fe.pack_bits(np.ones((2, 3)), threshold=np.zeros(4))
    with pytest.raises(ValueError, match="dim=30 does not match"):
        fe.unpack_bits(np.zeros((2, 3), np.uint8), 30)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        fe.unpack_bits(np.zeros((2, 3), np.uint8), 0)
    with pytest.raises(TypeError, match="codes must be packed codes"):
        fe.unpack_bits(np.zeros((2, 3), np.float32), 20)


# ---------------------------------------------------------------------------- hamming_distance


@pytest.mark.parametrize("width", WIDTHS)
def test_distance_every_width_and_variant(backend, width):
    rng = np.random.default_rng(width)
    a, b = codes(rng, 9, width), codes(rng, 70, width)
    expected = oracle_distance(a, b)
    for v in variants("hamming_distance") if backend.__name__.endswith("_kernels") else [None]:
        with forced("hamming_distance", v):
            got = fe.hamming_distance(a, b)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected, err_msg=f"variant {v}")


@pytest.mark.parametrize("na", SIZES)
@pytest.mark.parametrize("nb", SIZES)
def test_distance_awkward_sizes(backend, monkeypatch, na, nb):
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 1)  # split these small matrices over the threads
    rng = np.random.default_rng(na * 1000 + nb)
    a, b = codes(rng, na, 32), codes(rng, nb, 32)
    got = fe.hamming_distance(a, b, num_threads=3)
    assert got.shape == (na, nb)
    np.testing.assert_array_equal(got, oracle_distance(a, b))


def test_distance_non_contiguous_and_int8(backend):
    rng = np.random.default_rng(5)
    big_a, big_b = codes(rng, 40, 66), codes(rng, 300, 66)
    a, b = big_a[::3, 1:33], np.asfortranarray(big_b[::-2, ::2][:, :32])
    expected = oracle_distance(np.ascontiguousarray(a), np.ascontiguousarray(b))
    np.testing.assert_array_equal(fe.hamming_distance(a, b), expected)
    sa, sb = (a ^ 0x80).view(np.int8), (b ^ 0x80).view(np.int8)
    np.testing.assert_array_equal(fe.hamming_distance(sa, sb), expected)
    np.testing.assert_array_equal(fe.hamming_distance(sa, b), expected)
    np.testing.assert_array_equal(fe.hamming_distance(a, sb), expected)


def test_distance_thread_counts(backend, monkeypatch):
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 1)
    rng = np.random.default_rng(7)
    a, b = codes(rng, 3, 32), codes(rng, 5000, 32)
    ref = fe.hamming_distance(a, b, num_threads=1)
    for t in (2, 3, 4):
        np.testing.assert_array_equal(fe.hamming_distance(a, b, num_threads=t), ref)
        np.testing.assert_array_equal(fe.hamming_distance(b[:9], a, num_threads=t), ref[:, :9].T)


# ---------------------------------------------------------------------------- hamming_topk


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("ties", [None, 3])
def test_topk_every_width_and_variant(backend, width, ties):
    rng = np.random.default_rng(width)
    q, db = codes(rng, 5, width, ties), codes(rng, 700, width, ties)
    for k in (1, 10, 700):
        ed, ei = oracle_topk(q, db, k)
        for v in variants("hamming_topk") if backend.__name__.endswith("_kernels") else [None]:
            with forced("hamming_topk", v):
                d, i = fe.hamming_topk(q, db, k, num_threads=1)
            assert d.dtype == np.int32 and i.dtype == np.int64 and d.shape == i.shape == (5, k)
            np.testing.assert_array_equal(d, ed, err_msg=f"variant {v} k {k}")
            np.testing.assert_array_equal(i, ei, err_msg=f"variant {v} k {k}")


@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 1000])
@pytest.mark.parametrize("nq", [0, 1, 7, 65])
def test_topk_awkward_sizes(backend, n, nq):
    rng = np.random.default_rng(n + 7 * nq)
    q, db = codes(rng, nq, 32, 4), codes(rng, n, 32, 4)
    for k in sorted({1, min(5, n), n}):
        d, i = fe.hamming_topk(q, db, k)
        ed, ei = oracle_topk(q, db, k)
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(i, ei)


@pytest.mark.parametrize("ties", [None, 2])
def test_topk_identical_across_thread_counts_and_db_splits(backend, monkeypatch, ties):
    # Small database chunks and no minimum work so that 2..4 threads split the database (or the queries).
    monkeypatch.setattr(binary, "_MIN_DB_CHUNK", 100)
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 1)
    rng = np.random.default_rng(11)
    q, db = codes(rng, 6, 64, ties), codes(rng, 2501, 64, ties)
    for k in (1, 17, 300):
        ed, ei = oracle_topk(q, db, k)
        for t in (1, 2, 3, 4):
            for qq in (q, q[0]):  # many queries, and one query (database split)
                d, i = fe.hamming_topk(qq, db, k, num_threads=t)
                np.testing.assert_array_equal(d, ed if qq.ndim == 2 else ed[0])
                np.testing.assert_array_equal(i, ei if qq.ndim == 2 else ei[0])


def test_topk_small_work_runs_on_the_calling_thread(backend, monkeypatch, recorded_splits):
    # A split smaller than _MIN_THREAD_WORK costs more than it saves: one range, whatever num_threads says.
    # (The compiled database split on the C pool has its own, lower minimum: set to the same here, and
    # tested on its own in test_pool_split_minimum.)
    monkeypatch.setattr(binary, "_MIN_POOL_THREAD_WORK", binary._MIN_THREAD_WORK)
    splits = recorded_splits
    rng = np.random.default_rng(5)
    q, db = codes(rng, 4, 32), codes(rng, 40_000, 32)
    ed, ei = oracle_topk(q, db, 5)
    for qq in (q, q[0]):
        d, i = fe.hamming_topk(qq, db, 5, num_threads=2)
        np.testing.assert_array_equal(i, ei if qq.ndim == 2 else ei[0])
    assert splits and all(len(s) == 1 for s in splits), splits
    splits.clear()
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 1 << 20)  # 1 query over 40k codes is now worth a split
    monkeypatch.setattr(binary, "_MIN_POOL_THREAD_WORK", 1 << 20)
    d, i = fe.hamming_topk(q[0], db, 5, num_threads=2)
    np.testing.assert_array_equal(d, ed[0])
    np.testing.assert_array_equal(i, ei[0])
    assert [len(s) for s in splits][:1] == [2], splits
    splits.clear()
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 24 << 20)
    want = oracle_distance(q, db[:20_000])
    np.testing.assert_array_equal(fe.hamming_distance(q, db[:20_000], num_threads=2), want)
    assert splits and all(len(s) == 1 for s in splits), splits
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 1 << 10)
    np.testing.assert_array_equal(fe.hamming_distance(q, db[:20_000], num_threads=2), want)
    assert any(len(s) == 2 for s in splits), splits


def test_pool_split_minimum(backend, recorded_splits):
    """On the C pool (compiled backend) a 1-query scan splits from 2 * 16384 codes; the numpy backend
    keeps the 24 MB minimum of its Python thread pool."""
    rng = np.random.default_rng(6)
    q, db = codes(rng, 1, 32), codes(rng, 40_000, 32)
    _, ei = oracle_topk(q, db, 5)
    for n in (30_000, 40_000):
        recorded_splits.clear()
        np.testing.assert_array_equal(fe.hamming_topk(q, db[:n], 5, num_threads=2)[1], oracle_topk(q, db[:n], 5)[1])
        split = any(len(s) == 2 for s in recorded_splits)
        assert split == (binary._pooled(_backend.kernels) and n == 40_000), (n, recorded_splits)
    np.testing.assert_array_equal(fe.hamming_topk(q, db, 5, num_threads=2)[1], ei)


def test_topk_strided_rows_and_int8(backend):
    rng = np.random.default_rng(3)
    full_q, full_db = codes(rng, 4, 64), codes(rng, 500, 64)
    q, db = full_q[:, :16], full_db[:, :16]  # Matryoshka view: rows 64 bytes apart
    ed, ei = oracle_topk(np.ascontiguousarray(q), np.ascontiguousarray(db), 9)
    for args in ((q, db), (np.asfortranarray(q), db[::1]), ((q ^ 0x80).view(np.int8), (db ^ 0x80).view(np.int8)),
                 ((q ^ 0x80).view(np.int8), db)):
        d, i = fe.hamming_topk(*args, 9)
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(i, ei)


@pytest.mark.parametrize("ties", [None, 5])
@pytest.mark.parametrize("nq", [3, 20])
def test_topk_256bit_blocks_tails_and_strides_every_variant(backend, ties, nq):
    # 32-byte codes have their own AVX-512 paths (16 codes per step, blocks of 4096 codes; from 12
    # queries on, blocks of 512 codes transposed to word-major groups first): a database over one
    # block (and 8 batch blocks) with a ragged tail, contiguous and as a Matryoshka view of 64-byte codes.
    rng = np.random.default_rng(5 + nq)
    full_q, full_db = codes(rng, nq, 64, ties), codes(rng, 4096 + 16 * 3 + 5, 64, ties)
    if ties:
        full_db[:, 31] = rng.integers(0, 4, full_db.shape[0], dtype=np.uint8)  # ties in the last word too
    for q, db in ((full_q[:, :32], full_db[:, :32]), (np.ascontiguousarray(full_q[:, :32]),
                                                       np.ascontiguousarray(full_db[:, :32]))):
        for k in (1, 16, 33):
            ed, ei = oracle_topk(np.ascontiguousarray(q), np.ascontiguousarray(db), k)
            for v in variants("hamming_topk") if backend.__name__.endswith("_kernels") else [None]:
                with forced("hamming_topk", v):
                    d, i = fe.hamming_topk(q, db, k, num_threads=1)
                np.testing.assert_array_equal(d, ed, err_msg=f"variant {v} k {k}")
                np.testing.assert_array_equal(i, ei, err_msg=f"variant {v} k {k}")


@pytest.mark.parametrize("name", _backends())
def test_merge_of_sorted_runs(name):
    # runs as the database split produces them: each sorted by (distance, index), ties across runs,
    # unused slots (INT32_MAX, -1) at the end of short runs; the merge equals a sort of the union
    mod = _backend.load(name)
    rng = np.random.default_rng(8)
    for parts, kp, k in ((2, 10, 10), (3, 7, 5), (1, 4, 4), (4, 6, 24)):
        d = rng.integers(0, 6, (5, parts, kp)).astype(np.int32)
        ix = rng.permutation(5 * parts * kp).reshape(5, parts, kp).astype(np.int64)
        d[:, -1, kp - 2 :] = np.iinfo(np.int32).max
        ix[:, -1, kp - 2 :] = -1
        order = np.lexsort((ix, d), axis=-1)
        d, ix = np.take_along_axis(d, order, -1).reshape(5, -1), np.take_along_axis(ix, order, -1).reshape(5, -1)
        key = d.astype(np.int64) * 10**6 + np.where(ix < 0, 10**6 - 1, ix)
        want = np.sort(key, axis=1)[:, :k]
        od, oi = np.empty((5, k), np.int32), np.empty((5, k), np.int64)
        mod.hamming_merge(d, ix, parts, od, oi)
        np.testing.assert_array_equal(od.astype(np.int64) * 10**6 + np.where(oi < 0, 10**6 - 1, oi), want)
    with pytest.raises(ValueError, match="parts"):
        mod.hamming_merge(d, ix, 5, od, oi)


@pytest.mark.parametrize("name", _backends())
def test_kernel_level_contract_sentinels(name):
    """Kernel contract: k > n fills (INT32_MAX, -1); index_base offsets the ids."""
    rng = np.random.default_rng(2)
    q, db = codes(rng, 3, 5), codes(rng, 4, 5)
    mod = _backend.load(name)
    d, i = np.empty((3, 6), np.int32), np.empty((3, 6), np.int64)
    mod.hamming_topk(q, db, 6, 100, d, i)
    assert (d[:, 4:] == np.iinfo(np.int32).max).all() and (i[:, 4:] == -1).all()
    ed, ei = oracle_topk(q, db, 4)
    np.testing.assert_array_equal(d[:, :4], ed)
    np.testing.assert_array_equal(i[:, :4], ei + 100)


@settings(max_examples=scaled(60), deadline=None)
@given(
    width=st.integers(1, 80),
    n=st.integers(1, 300),
    nq=st.integers(1, 6),
    bits=st.sampled_from([None, 1, 3, 8]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_topk_property(width, n, nq, bits, seed, data):
    rng = np.random.default_rng(seed)
    q, db = codes(rng, nq, width, bits), codes(rng, n, width, bits)
    k = data.draw(st.integers(1, n))
    threads = data.draw(st.integers(1, 4))
    ed, ei = oracle_topk(q, db, k)
    for name in _backends():
        with _backend.using(name):
            d, i = fe.hamming_topk(q, db, k, num_threads=threads)
            np.testing.assert_array_equal(d, ed)
            np.testing.assert_array_equal(i, ei)
            np.testing.assert_array_equal(fe.hamming_distance(q, db), oracle_distance(q, db))


# ---------------------------------------------------------------------------- faiss


@pytest.mark.parametrize("width", [8, 32, 64, 100])
def test_matches_faiss_index_binary_flat(backend, width):
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(width)
    q, db = codes(rng, 20, width), codes(rng, 3000, width)
    index = faiss.IndexBinaryFlat(8 * width)
    index.add(db)
    fd, fi = index.search(q, 10)
    d, i = fe.hamming_topk(q, db, 10)
    np.testing.assert_array_equal(d, fd)  # same sorted distances
    full = fe.hamming_distance(q, db)
    np.testing.assert_array_equal(np.take_along_axis(full, fi, axis=1), fd)
    for r in range(len(q)):  # the same sets up to ties at the k-th distance
        below = d[r] < d[r, -1]
        assert set(i[r][below]) == set(fi[r][fd[r] < fd[r, -1]])


# ---------------------------------------------------------------------------- bad input


def test_bad_input(backend):
    db = np.zeros((10, 4), np.uint8)
    q = np.zeros((2, 4), np.uint8)
    with pytest.raises(ValueError, match="different code widths"):
        fe.hamming_topk(np.zeros((2, 5), np.uint8), db, 1)
    with pytest.raises(ValueError, match="different code widths"):
        fe.hamming_distance(q, np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        fe.hamming_topk(q, db, 0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        fe.hamming_topk(q, db, -3)
    with pytest.raises(ValueError, match="k=11 is larger than the database"):
        fe.hamming_topk(q, db, 11)
    with pytest.raises(TypeError, match="k must be an integer"):
        fe.hamming_topk(q, db, 2.5)
    with pytest.raises(TypeError, match="k must be an integer"):
        fe.hamming_topk(q, db, True)
    with pytest.raises(ValueError, match="database is empty"):
        fe.hamming_topk(q, np.zeros((0, 4), np.uint8), 1)
    with pytest.raises(TypeError, match="database must be packed codes"):
        fe.hamming_topk(q, db.astype(np.float32), 1)
    with pytest.raises(TypeError, match="queries must be packed codes"):
        fe.hamming_topk(q.astype(np.int32), db, 1)
    with pytest.raises(TypeError, match="a must be packed codes"):
        fe.hamming_distance(q.astype(bool), db)
    with pytest.raises(ValueError, match="queries must be 1-D"):
        fe.hamming_topk(np.zeros((1, 2, 4), np.uint8), db, 1)
    with pytest.raises(ValueError, match="at least one byte"):
        fe.hamming_topk(np.zeros((2, 0), np.uint8), np.zeros((3, 0), np.uint8), 1)
    with pytest.raises(ValueError, match="num_threads"):
        fe.hamming_topk(q, db, 1, num_threads=0)
    with pytest.raises(ValueError, match="num_threads"):
        fe.hamming_distance(q, db, num_threads=-1)


@needs_compiled
def test_compiled_kernel_rejects_bad_buffers():
    mod = _backend.load("compiled")
    q, db = np.zeros((2, 4), np.uint8), np.zeros((5, 4), np.uint8)
    d, i = np.empty((2, 3), np.int32), np.empty((2, 3), np.int64)
    with pytest.raises(ValueError, match="different code widths"):
        mod.hamming_topk(q, np.zeros((5, 3), np.uint8), 3, 0, d, i)
    with pytest.raises(ValueError, match="out_distances"):
        mod.hamming_topk(q, db, 2, 0, d, i)
    with pytest.raises(ValueError, match="rows must be contiguous"):
        mod.hamming_topk(np.zeros((2, 8), np.uint8)[:, ::2], db, 3, 0, d, i)
    with pytest.raises(ValueError, match="shapes"):
        mod.hamming_distance(q, db, np.empty((2, 4), np.int32))


def test_concurrent_calls_match_serial(backend):
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(21)
    db = codes(rng, 3000, 32, 5)
    queries = [codes(rng, 3, 32, 5) for _ in range(8)]
    serial = [fe.hamming_topk(q, db, 20, num_threads=2) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: fe.hamming_topk(q, db, 20, num_threads=2), queries))
    for (d, i), (ed, ei) in zip(results, serial):
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(i, ei)
