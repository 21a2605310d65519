"""Sharded search on a local Ray instance: one actor per shard, merge identical to one index."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from test_shards import make

from fastembed_core.integrations.ray_search import RayShardedIndex
from fastembed_core.shards import ShardedIndex

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]  # Ray start-up: ~40 s here


@pytest.fixture(scope="module")
def ray_instance():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


def test_ray_fan_out_equals_single_index(ray_instance, tmp_path):
    from test_ivf import clustered

    x, q = clustered(2400, seed=7), clustered(20, seed=8)
    ids = np.random.default_rng(1).permutation(100_000)[: len(x)].astype(np.int64)
    _, whole = make(tmp_path, x, ids, parts=4, keep="int8")
    index = RayShardedIndex(tmp_path / "idx")
    try:
        assert len(index.actors) == 4 and len(index) == len(x)
        for kw in ({"nprobe": 2}, {"nprobe": 16}, {"nprobe": 4, "rescore": False}):
            got = index.search(q, 10, **kw)
            want = whole.search(q, 10, **kw)
            np.testing.assert_array_equal(got[1], want[1])
            np.testing.assert_array_equal(got[0], want[0])
        _, i = index.search(q[3], 5)
        np.testing.assert_array_equal(i, whole.search(q[3], 5)[1])
    finally:
        index.shutdown()
    # a corrupted shard is reported when the actors start, naming the file
    first = ShardedIndex.open(tmp_path / "idx").shard_path(0)
    with open(first, "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(Exception, match=os.path.basename(first)):
        RayShardedIndex(tmp_path / "idx")
