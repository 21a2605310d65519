"""faiss interop: same codes, same distances, neighbours equal up to ties; BinaryIndex <-> IndexBinaryFlat."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from fastembed_core import BinaryIndex, hamming_distance, hamming_topk, pack_bits  # noqa: E402
from fastembed_core.integrations.faiss import as_ubinary, faiss_codes, from_faiss, to_faiss  # noqa: E402


def _check_same_neighbours(q, db, d_ours, i_ours, d_faiss, i_faiss):
    np.testing.assert_array_equal(d_ours, d_faiss)
    full = hamming_distance(q, db)
    for r in range(len(q)):
        kth = d_ours[r, -1]
        # faiss's ids are real neighbours at the distances it reports
        np.testing.assert_array_equal(full[r, i_faiss[r]], d_faiss[r])
        # strictly closer rows are the same set; rows at the k-th distance may differ (ties)
        strict = set(np.flatnonzero(full[r] < kth))
        assert strict == {i for i in i_ours[r] if full[r, i] < kth} == {i for i in i_faiss[r] if full[r, i] < kth}
        assert len(set(i_faiss[r])) == len(i_faiss[r])


@pytest.mark.parametrize("dim,n,k", [(8, 1, 1), (64, 1000, 10), (256, 1000, 17), (96, 65, 65), (24, 300, 5)])
def test_topk_matches_faiss(backend, dim, n, k):
    rng = np.random.default_rng(dim + n)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    qx = rng.standard_normal((7, dim)).astype(np.float32)
    db, q = pack_bits(x), pack_bits(qx)
    index = to_faiss(db)
    assert index.d == 8 * db.shape[1] and index.ntotal == n
    d_faiss, i_faiss = index.search(q, k)
    d_ours, i_ours = hamming_topk(q, db, k)
    _check_same_neighbours(q, db, d_ours, i_ours, d_faiss, i_faiss)


def test_ties(backend):
    # many exact duplicates: every distance ties; distances must still agree exactly
    rng = np.random.default_rng(1)
    base = pack_bits(rng.standard_normal((5, 64)))
    db = np.repeat(base, 40, axis=0)
    q = pack_bits(rng.standard_normal((3, 64)))
    d_ours, i_ours = hamming_topk(q, db, 50)
    d_faiss, i_faiss = to_faiss(db).search(q, 50)
    _check_same_neighbours(q, db, d_ours, i_ours, d_faiss, i_faiss)
    # ours breaks ties by the smaller index
    for r in range(3):
        for d in np.unique(d_ours[r]):
            ids = i_ours[r][d_ours[r] == d]
            assert (np.diff(ids) > 0).all()


def test_codes_roundtrip_and_binary_index(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 100)).astype(np.float32)
    qx = rng.standard_normal((4, 100)).astype(np.float32)
    index = faiss.IndexBinaryFlat(104)
    index.add(pack_bits(x))
    codes = faiss_codes(index)
    np.testing.assert_array_equal(codes, pack_bits(x))
    np.testing.assert_array_equal(codes, index.reconstruct_n(0, index.ntotal))
    bindex = from_faiss(index, dim=100)
    assert len(bindex) == 500 and bindex.dim == 100 and bindex.keep is None
    scores, ids = bindex.search(pack_bits(qx), 10)
    d_faiss, i_faiss = index.search(pack_bits(qx), 10)
    np.testing.assert_array_equal(-scores, d_faiss)
    # and back: a float BinaryIndex exported to faiss searches the same codes
    fi = BinaryIndex(100, keep="float32")
    fi.add(x)
    back = to_faiss(fi)
    np.testing.assert_array_equal(faiss_codes(back), pack_bits(x))
    s2, _ = fi.search(pack_bits(qx), 10, rescore=False)
    np.testing.assert_array_equal(-s2, back.search(pack_bits(qx), 10)[0])


def test_non_flat_index_and_empty():
    rng = np.random.default_rng(3)
    codes = pack_bits(rng.standard_normal((50, 64)))
    idmap = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(64))
    idmap.add_with_ids(codes, np.arange(50, dtype=np.int64))
    np.testing.assert_array_equal(faiss_codes(idmap), codes)
    assert faiss_codes(faiss.IndexBinaryFlat(64)).shape == (0, 8)
    assert len(from_faiss(faiss.IndexBinaryFlat(64))) == 0
    assert to_faiss(np.empty((0, 8), np.uint8)).ntotal == 0


def test_int8_binary_codes(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 64)).astype(np.float32)
    u = pack_bits(x)
    s = (u ^ np.uint8(0x80)).view(np.int8)  # sentence-transformers "binary"
    np.testing.assert_array_equal(as_ubinary(s), u)
    np.testing.assert_array_equal(faiss_codes(to_faiss(s)), u)


def test_bad_input():
    with pytest.raises(TypeError, match="faiss binary index"):
        faiss_codes(faiss.IndexFlatL2(8))
    with pytest.raises(TypeError, match="codes"):
        to_faiss(np.zeros((3, 8), np.float32))
    with pytest.raises(ValueError, match="dim=200"):
        from_faiss(faiss.IndexBinaryFlat(64), dim=200)
