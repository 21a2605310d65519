"""ShardedIndex: exact merge (equal to one index over the union), lazy mmap shards, manifest checks."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest
from test_ivf import DIM, clustered

from fastembed_core import hamming, pack_bits
from fastembed_core.ivf import IVFBinaryIndex
from fastembed_core.shards import MANIFEST, ShardedIndex


@pytest.fixture(scope="module")
def data():
    x = clustered(2400, seed=7)
    q = clustered(20, seed=8)
    ids = np.random.default_rng(1).permutation(100_000)[: len(x)].astype(np.int64)
    return x, q, ids


def make(tmp_path, x, ids, parts=3, keep="float32"):
    base = IVFBinaryIndex(DIM, nlist=16, keep=keep, nprobe=4)
    base.train(x)
    sharded = ShardedIndex.create(tmp_path / "idx", base)
    bounds = [0, 500, 1700, len(x)] if parts == 3 else np.linspace(0, len(x), parts + 1).astype(int).tolist()
    for s, e in itertools.pairwise(bounds):
        sharded.add_shard(x[s:e], ids[s:e])
    whole = base.empty_like()
    whole.add(x, ids)
    return sharded, whole


@pytest.mark.parametrize("keep", ["float32", "int8"])
def test_shard_merge_equals_single_index(backend, monkeypatch, data, tmp_path, keep):
    monkeypatch.setattr(hamming, "_MIN_THREAD_WORK", 1)  # the batch search splits at any size
    x, q, ids = data
    _, whole = make(tmp_path, x, ids, keep=keep)
    reopened = ShardedIndex.open(tmp_path / "idx")
    assert reopened.num_shards == 3 and len(reopened) == len(x)
    for kw in ({"nprobe": 1}, {"nprobe": 4}, {"nprobe": 16}, {"nprobe": 4, "rescore": False}, {},
               {"nprobe": 4, "refine": 1}, {"nprobe": 4, "refine": 3, "rescore": False}):
        for threads in (1, 2):
            got = reopened.search(q, 10, num_threads=threads, **kw)
            want = whole.search(q, 10, **kw)
            np.testing.assert_array_equal(got[1], want[1])
            np.testing.assert_array_equal(got[0], want[0])
    _, i = reopened.search(q[0], 3)
    assert i.shape == (3,)


def test_shards_are_lazy_and_mapped(data, tmp_path):
    x, q, ids = data
    make(tmp_path, x, ids)
    opened = ShardedIndex.open(tmp_path / "idx")
    assert opened._shards == {}
    opened.search(q, 5)
    assert all(isinstance(opened.shard(i)._codes, np.memmap) for i in range(3))


def test_adding_a_shard_leaves_the_others_untouched(data, tmp_path):
    x, _, ids = data
    sharded, _ = make(tmp_path, x[:1700], ids[:1700], parts=2)
    before = {p: (tmp_path / "idx" / p).read_bytes() for p in os.listdir(tmp_path / "idx") if p.startswith("shard-")}
    sharded.add_shard(x[1700:], ids[1700:])
    for p, blob in before.items():
        assert (tmp_path / "idx" / p).read_bytes() == blob
    assert ShardedIndex.open(tmp_path / "idx").num_shards == 3
    with pytest.raises(ValueError, match="ids already in shard"):
        sharded.add_shard(x[:3], ids[5:8])
    assert ShardedIndex.open(tmp_path / "idx").num_shards == 3
    assert not [p for p in os.listdir(tmp_path / "idx") if p.endswith(".tmp")]


def test_bad_shard_sets(data, tmp_path):
    x, q, ids = data
    sharded, _ = make(tmp_path, x, ids)
    d = tmp_path / "idx"
    with pytest.raises(FileExistsError):
        ShardedIndex.create(d, sharded.quantizer())
    first = sharded.manifest["shards"][0]["file"]
    blob = (d / first).read_bytes()
    (d / first).write_bytes(blob[:-10])
    with pytest.raises(ValueError, match=first + ".*size"):
        ShardedIndex.open(d)
    (d / first).unlink()
    with pytest.raises(FileNotFoundError, match=first + ".*missing"):
        ShardedIndex.open(d)
    # a same-sized shard from another index (other quantizer) is caught when the shard is opened
    other = IVFBinaryIndex(DIM, nlist=16, keep="float32", seed=99)
    other.train(x)
    other.add(x[:500], ids[:500])
    other.save(d / first)
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["shards"][0]["bytes"] = os.path.getsize(d / first)
    (d / MANIFEST).write_text(json.dumps(manifest))
    opened = ShardedIndex.open(d)
    with pytest.raises(ValueError, match="quantizer differs"):
        opened.search(q, 5)
    (d / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match=MANIFEST):
        ShardedIndex.open(d)
    with pytest.raises(FileNotFoundError, match=MANIFEST):
        ShardedIndex.open(tmp_path / "nowhere")
    empty = ShardedIndex.create(tmp_path / "empty", other)
    with pytest.raises(ValueError, match="no shards"):
        empty.search(q, 5)


def test_shards_may_keep_other_vectors_than_the_quantizer(data, tmp_path):
    x, q, ids = data
    base = IVFBinaryIndex(DIM, nlist=16, keep=None)
    base.train(pack_bits(x))
    sharded = ShardedIndex.create(tmp_path / "idx", base, keep="int8")
    sharded.add_shard(x[:1000], ids[:1000])
    sharded.add_shard(x[1000:], ids[1000:])
    whole = base.empty_like(keep="int8")
    whole.add(x, ids)
    for r1, r2 in zip(ShardedIndex.open(tmp_path / "idx").search(q, 10, nprobe=3), whole.search(q, 10, nprobe=3)):
        np.testing.assert_array_equal(r1, r2)
