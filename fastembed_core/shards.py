"""ShardedIndex: an IVF binary index split into memory-mapped shard files, searched with an exact merge.

A sharded index is a directory:
  manifest.json      format, version, dim, keep, nlist, the quantizer digest, and for each shard its
                     file name, vector count and byte size
  quantizer.ivf      the trained, empty ``IVFBinaryIndex`` every shard was made from
  shard-00000.ivf    one ``IVFBinaryIndex`` file per shard (see ``fastembed_core.ivf``)
  ...
Every shard shares the quantizer (centroids and threshold), so a query probes the same lists in each
shard, and merging the shards' candidates by (distance, id) and rescoring them gives exactly the
result of one index over the union (ties included): ``search`` here, or one shard per Ray actor with
``fastembed_core.integrations.ray_search``.

Shards are opened lazily, on first use, and memory-mapped: only the probed lists' pages are read, so
an index larger than RAM can be searched. ``add_shard`` writes a new shard file (never touching the
others) and then the manifest, each atomically: a crash in between leaves an unlisted file, never a
broken index. ``open`` verifies the manifest and that every listed file is there with its recorded
size; each shard, when opened, must carry the manifest's quantizer digest and vector count. One
writer at a time (no locking between processes).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _parallel
from .binary import _positive_int
from .ivf import IVFBinaryIndex, atomic_write, finish_candidates, merge_candidates

__all__ = ["ShardedIndex"]

_FORMAT = "fastembed_core.ShardedIndex"
_VERSION = 1
MANIFEST = "manifest.json"
QUANTIZER = "quantizer.ivf"


class ShardedIndex:
    """Open with ``ShardedIndex.create(directory, trained_index)`` or ``ShardedIndex.open(directory)``."""

    def __init__(self, directory, manifest: dict):
        self.directory = os.fspath(directory)
        self.manifest = manifest
        self._shards: dict[int, IVFBinaryIndex] = {}
        self._quantizer: IVFBinaryIndex | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ creating and opening

    @classmethod
    def create(cls, directory, quantizer: IVFBinaryIndex, *, keep="same") -> ShardedIndex:
        """A new, empty sharded index in ``directory`` (created if needed; must hold no manifest yet),
        whose shards all use the quantizer of the trained ``quantizer`` index (its vectors are not
        copied) and keep ``keep`` rescoring vectors (default: as ``quantizer`` does)."""
        if not isinstance(quantizer, IVFBinaryIndex):
            raise TypeError(f"quantizer must be a trained IVFBinaryIndex, not {type(quantizer).__name__}")
        empty = quantizer.empty_like(keep=keep)
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        if os.path.exists(os.path.join(directory, MANIFEST)):
            raise FileExistsError(f"{directory} already holds a sharded index ({MANIFEST})")
        empty.save(os.path.join(directory, QUANTIZER))
        manifest = {"format": _FORMAT, "version": _VERSION, "dim": empty.dim, "keep": empty.keep,
                    "nlist": empty.nlist, "quantizer": empty.quantizer_digest, "shards": []}
        self = cls(directory, manifest)
        self._quantizer = empty
        self._write_manifest()
        return self

    @classmethod
    def open(cls, directory) -> ShardedIndex:
        """Open an existing sharded index; ValueError / FileNotFoundError naming the bad or missing file."""
        directory = os.fspath(directory)
        path = os.path.join(directory, MANIFEST)
        try:
            with open(path, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no sharded index manifest") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: unreadable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a {_FORMAT} manifest")
        if manifest.get("version") != _VERSION:
            raise ValueError(f"{path}: unsupported version {manifest.get('version')!r}")
        shards = manifest.get("shards")
        if not isinstance(shards, list) or not isinstance(manifest.get("quantizer"), str):
            raise ValueError(f"{path}: bad manifest (shards, quantizer)")  # noqa: TRY004 (a bad file, not a bad argument)
        for entry in shards:
            if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("n"), int)
                    and isinstance(entry.get("bytes"), int) and os.path.basename(entry["file"]) == entry["file"]):
                raise ValueError(f"{path}: bad shard entry {entry!r}")
            shard_path = os.path.join(directory, entry["file"])
            if not os.path.exists(shard_path):
                raise FileNotFoundError(f"{shard_path}: shard listed in {MANIFEST} is missing")
            if os.path.getsize(shard_path) != entry["bytes"]:
                raise ValueError(f"{shard_path}: size {os.path.getsize(shard_path)} differs from the "
                                 f"manifest's {entry['bytes']} (truncated or replaced)")
        return cls(directory, manifest)

    # ------------------------------------------------------------------ shards

    @property
    def num_shards(self) -> int:
        return len(self.manifest["shards"])

    def __len__(self) -> int:
        return sum(e["n"] for e in self.manifest["shards"])

    def shard_path(self, i: int) -> str:
        return os.path.join(self.directory, self.manifest["shards"][i]["file"])

    def quantizer(self) -> IVFBinaryIndex:
        """The empty trained index the shards are made from (checked against the manifest's digest)."""
        with self._lock:
            if self._quantizer is None:
                self._quantizer = self._load(os.path.join(self.directory, QUANTIZER), 0)
            return self._quantizer

    def shard(self, i: int) -> IVFBinaryIndex:
        """Shard i, memory-mapped on first use and checked against the manifest."""
        with self._lock:
            if i not in self._shards:
                self._shards[i] = self._load(self.shard_path(i), self.manifest["shards"][i]["n"])
            return self._shards[i]

    def _load(self, path: str, n: int) -> IVFBinaryIndex:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: shard listed in {MANIFEST} is missing")
        index = IVFBinaryIndex.load(path, mmap=True)
        if index.quantizer_digest != self.manifest["quantizer"]:
            raise ValueError(f"{path}: its quantizer differs from the manifest's (a shard of another index?)")
        if len(index) != n:
            raise ValueError(f"{path}: holds {len(index)} vectors, the manifest says {n}")
        return index

    def add_shard(self, embeddings_or_codes, ids) -> str:
        """Write the vectors (with their int64 ``ids``, unique across all shards) as a new shard file
        and list it in the manifest; the existing shards are read (their ids) but never rewritten.
        Returns the new file's name."""
        part = self.quantizer().empty_like()
        new_ids = part.add(embeddings_or_codes, ids)
        for i in range(self.num_shards):
            clash = new_ids[np.isin(new_ids, self.shard(i).ids)]
            if clash.size:
                raise ValueError(f"ids already in shard {self.manifest['shards'][i]['file']}: {clash[:5].tolist()}")
        name = f"shard-{self.num_shards:05d}-{uuid.uuid4().hex[:8]}.ivf"
        path = os.path.join(self.directory, name)
        part.save(path)
        entry = {"file": name, "n": len(part), "bytes": os.path.getsize(path)}
        self.manifest["shards"].append(entry)
        try:
            self._write_manifest()
        except BaseException:
            self.manifest["shards"].pop()
            os.unlink(path)
            raise
        return name

    def _write_manifest(self) -> None:
        with atomic_write(os.path.join(self.directory, MANIFEST)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.manifest, fh, indent=1)

    # ------------------------------------------------------------------ search

    def search(self, queries, k: int, *, nprobe: int | None = None, rescore: bool | None = None,
               rescore_multiplier: int = 4, refine: int | None = None,
               num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Search every shard and merge: the same ``(scores, ids)`` as ``IVFBinaryIndex.search`` on one
        index holding every shard's vectors (see there for the arguments)."""
        k = _positive_int(k, "k")
        threads = _parallel.resolve_threads(num_threads)
        total = len(self)
        if self.num_shards == 0:
            raise ValueError("the index has no shards")
        kw = {"nprobe": nprobe, "rescore": rescore, "rescore_multiplier": rescore_multiplier, "refine": refine,
              "total": total}

        fan_out = threads > 1 and self.num_shards > 1
        per_shard = 1 if fan_out else threads

        def one(i):
            return self.shard(i).search_candidates(queries, k, num_threads=per_shard, **kw)

        if fan_out:
            with ThreadPoolExecutor(min(threads, self.num_shards)) as pool:
                results = list(pool.map(one, range(self.num_shards)))
        else:
            results = [one(i) for i in range(self.num_shards)]
        single = results[0][0]
        scores, ids = merge_and_finish([r[1] for r in results], k)
        return (scores[0], ids[0]) if single else (scores, ids)

    def __repr__(self) -> str:
        return f"ShardedIndex({self.directory!r}, shards={self.num_shards}, n={len(self)})"


def merge_and_finish(parts, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-shard ``search_candidates`` results (same queries, same k) -> the final ``(scores, ids)``."""
    c = parts[0].dist.shape[1]
    return finish_candidates(merge_candidates(parts, c), k)
