"""Sharded search on Ray: one actor per shard of a ``ShardedIndex``, an exact merge on the caller.

    import ray
    from fastembed_core.integrations.ray_search import RayShardedIndex

    ray.init(address="auto")
    index = RayShardedIndex("/shared/index")          # a ShardedIndex directory every node can read
    scores, ids = index.search(query_vectors, k=10, nprobe=32)

Each ``ShardSearcher`` actor memory-maps its own shard file (the path must exist on the node the actor
runs on: a shared file system, or the same files copied to every node), so its memory is the page
cache of the lists it probes. A search sends the queries to every actor, each returns its Hamming
candidates (``IVFBinaryIndex.search_candidates``: distances, ids, the cosine and asymmetric scores),
and the caller merges them by (distance, id) and rescoring: the result is identical to one index
over the union, ties included. A cluster recipe is in docs/sharded_search.md.
"""

from __future__ import annotations

import os
from typing import Any

from ..ivf import IVFBinaryIndex
from ..shards import ShardedIndex, merge_and_finish

__all__ = ["RayShardedIndex", "ShardSearcher"]


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("fastembed_core.integrations.ray_search needs Ray: pip install 'fastembed-core[ray]'") from None
    return ray


class ShardSearcher:
    """One shard file, memory-mapped in the process that holds this object (a Ray actor's body).

    ``expected`` is the shard's (quantizer digest, vector count) from the manifest, checked on open."""

    def __init__(self, path: str, expected: tuple[str, int] | None = None):
        self.path = os.fspath(path)
        self.index = IVFBinaryIndex.load(self.path, mmap=True)
        if expected is not None and (self.index.quantizer_digest, len(self.index)) != tuple(expected):
            raise ValueError(f"{self.path}: quantizer or vector count differs from the manifest")

    def candidates(self, queries, k: int, kwargs: dict):
        return self.index.search_candidates(queries, k, **kwargs)

    def size(self) -> int:
        return len(self.index)


class RayShardedIndex:
    """A ``ShardedIndex`` directory searched by one Ray actor per shard.

    actor_options: passed to ``ray.remote(...).options`` for each actor (e.g. ``{"num_cpus": 1}`` or a
        node resource to pin shards to nodes). The manifest is verified here, before any actor starts.
    """

    def __init__(self, directory, *, actor_options: dict | None = None):
        ray = _ray()
        self.sharded = ShardedIndex.open(directory)
        if self.sharded.num_shards == 0:
            raise ValueError(f"{directory}: the index has no shards")
        digest = self.sharded.manifest["quantizer"]
        remote = ray.remote(ShardSearcher).options(**(actor_options or {"num_cpus": 0}))
        self.actors = [remote.remote(os.path.abspath(self.sharded.shard_path(i)), (digest, e["n"]))
                       for i, e in enumerate(self.sharded.manifest["shards"])]
        ray.get([a.size.remote() for a in self.actors])  # surface a bad shard now, not at the first search

    def __len__(self) -> int:
        return len(self.sharded)

    def search(self, queries, k: int, *, nprobe: int | None = None, rescore: bool | None = None,
               rescore_multiplier: int = 4, refine: int | None = None, num_threads: int | None = 1):
        """Same arguments and results as ``ShardedIndex.search``; num_threads is per actor."""
        ray = _ray()
        kwargs = {"nprobe": nprobe, "rescore": rescore, "rescore_multiplier": rescore_multiplier, "refine": refine,
                  "num_threads": num_threads, "total": len(self.sharded)}
        qref = ray.put(queries)
        results = ray.get([a.candidates.remote(qref, k, kwargs) for a in self.actors])
        scores, ids = merge_and_finish([r[1] for r in results], k)
        return (scores[0], ids[0]) if results[0][0] else (scores, ids)

    def shutdown(self) -> None:
        """Stop the actors."""
        ray = _ray()
        for a in self.actors:
            ray.kill(a)
        self.actors = []
