"""IVFBinaryIndex: an inverted-file (IVF) index over packed binary codes, for collections past a few million.

How it works:
  train   a coarse quantizer of ``nlist`` binary centroids is fitted on (a sample of) the codes by
          k-majority, Lloyd's k-means in Hamming space: assign every code to its nearest centroid by
          Hamming distance (the SIMD ``hamming_topk``), then set each centroid bit to the majority bit
          of its members. Assignment at training, at ``add`` and the probe at search all use the same
          Hamming metric on the same binarised centroids, so a vector is always stored in the list a
          query close to it probes first. Deterministic: a seeded numpy Generator picks the sample
          and the initial centroids; ties go to the smaller centroid.
  add     each vector goes to the inverted list of its nearest centroid (``replicas=2``: to its two
          nearest, ties to the smaller list, so that a query near a list boundary finds it from either
          side; a search dedups the copies). Lists are contiguous runs of rows, kept in (list, external
          id) order, with codes, int64 external ids and the optional float32/int8 rescoring vectors
          stored in the same order (one row per copy).
  search  the ``nprobe`` nearest centroids of each query (``ivf_probe``: a Hamming scan of the
          centroids, then a histogram of the distances), then an exact top-k over the rows of those
          lists with the same SIMD distance kernels, ties by smaller external id (``ivf_topk`` for
          one query, fused with the probe in one call as ``ivf_search``, lists scanned nearest first;
          ``ivf_topk_grouped`` for a batch, list-major so that a list is read from memory
          once for all the queries that probe it), then, as in ``BinaryIndex``, the asymmetric
          refining (``refine``) and the cosine rescoring of the best ``k * rescore_multiplier``
          candidates. ``nprobe = nlist`` is an exact
          search. Results do not depend on the thread count or on the order rows were added.

Why a separate class rather than a mode of ``BinaryIndex``: the state differs (centroids, list
offsets, external ids), rows move when lists are filled, and ``remove`` and ``add`` with ids only make
sense with external ids; ``BinaryIndex`` stays the simple exact scan with row numbers as ids.

File format (``save`` / ``load``): a safetensors file (readable by the ``safetensors`` package, no
pickle): an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
byte range, and ``__metadata__`` (format, version, dim, nlist, keep, n, nprobe and the quantizer
digest, all strings); then the tensors, 64-byte aligned start, in this order: ``ids`` int64[n],
``offsets`` int64[nlist + 1] (list l is rows ``offsets[l]:offsets[l + 1]``), ``threshold``
float32[dim], ``scales`` float32[n] and ``vectors`` float32[n, dim] or int8[n, dim] (per ``keep``),
``centroids`` uint8[nlist, width], ``codes`` uint8[n, width]. ``load`` checks every name, dtype,
shape and byte range against the metadata and the file size, that the offsets are monotonic, the ids
unique, and that the centroids and threshold hash to the recorded digest; ``verify=True`` also checks
the SHA-256 of every tensor, recorded at save. ``mmap=True`` maps the large tensors read-only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from typing import NamedTuple

import numpy as np

from . import _backend, _parallel, _validate
from . import hamming as _hamming
from ._io import advise_random, atomic_write, read_safetensors, write_safetensors
from .binary import _as_codes, _positive_int, _topk, code_cosines, pack_bits
from .index import _cosine_scores, _kept_vectors, _query_codes, _refine_choice, _rescore_choice

__all__ = ["IVFBinaryIndex"]

_FORMAT = "fastembed_core.IVFBinaryIndex"
_VERSION = "1"
_KEEP = ("float32", "int8", None)
_INT32_MAX = np.iinfo(np.int32).max


class IVFBinaryIndex:
    """Binary codes of ``dim``-dimensional vectors in ``nlist`` inverted lists, searched approximately.

    nlist: number of lists; ``None`` picks ``round(4 * sqrt(n))`` for the n training vectors.
    keep: rescoring vectors kept beside the codes, as in ``BinaryIndex``: ``"float32"``, ``"int8"``
        or ``None``.
    threshold: the binarisation threshold, a scalar or [dim] array; or ``"mean"`` / ``"median"`` of
        the training vectors per dimension (helps PCA'd static embeddings, whose dimensions are not
        centred).
    nprobe: the default number of lists a search scans (``search(nprobe=)`` overrides it).
    seed: seeds the training sample and the initial centroids.
    niter: k-majority iterations (stops earlier when no assignment changes).
    max_points_per_list: the training sample holds at most ``nlist * max_points_per_list`` vectors.
    replicas: the number of lists each vector is stored in (its nearest ones; 1 or 2). 2 costs a second
        row per vector (codes, id and rescoring vector: 2x the bytes) and buys recall at equal rows
        scanned: on 1.1M real sentences, id-exact recall@10 0.945 at 6.3% of the rows vs 0.925 at 6.1%.
    """

    def __init__(self, dim: int, *, nlist: int | None = None, keep: str | None = "float32", threshold=0.0,
                 nprobe: int = 8, seed: int = 0, niter: int = 10, max_points_per_list: int = 64,
                 replicas: int = 1):
        self.dim = _positive_int(dim, "dim")
        self.width = (self.dim + 7) // 8
        if keep not in _KEEP:
            raise ValueError(f"keep must be 'float32', 'int8' or None, not {keep!r}")
        self.keep = keep
        self._nlist = None if nlist is None else _positive_int(nlist, "nlist")
        self.nprobe = _positive_int(nprobe, "nprobe")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
        self.seed = int(seed)
        self.niter = _positive_int(niter, "niter")
        self.max_points_per_list = _positive_int(max_points_per_list, "max_points_per_list")
        self.replicas = _positive_int(replicas, "replicas")
        if self.replicas > 2:
            raise ValueError(f"replicas must be 1 or 2, not {replicas}")
        if isinstance(threshold, str):
            if threshold not in ("mean", "median"):
                raise ValueError(f"threshold must be a number, a [{dim}] array, 'mean' or 'median', not {threshold!r}")
            self._fit: str | None = threshold
            self.threshold = np.zeros(self.dim, np.float32)
        else:
            t = np.asarray(threshold, dtype=np.float32)
            t = np.full(self.dim, t, np.float32) if t.ndim == 0 else t
            if t.shape != (self.dim,):
                raise ValueError(f"threshold must be a scalar or have shape ({dim},), got shape {t.shape}")
            self._fit, self.threshold = None, t
        self.centroids: np.ndarray | None = None
        self._lock = threading.RLock()
        self._pending: list[tuple] = []
        self._reset_lists()

    def _reset_lists(self) -> None:
        nl = 0 if self.centroids is None else self.centroids.shape[0]
        self._codes = np.empty((0, self.width), np.uint8)
        self._ids = np.empty(0, np.int64)
        self._offsets = np.zeros(nl + 1, np.int64)
        self._vectors = None if self.keep is None else np.empty((0, self.dim), np.dtype(self.keep))
        self._scales = np.empty(0, np.float32) if self.keep == "int8" else None

    # ------------------------------------------------------------------ properties

    @property
    def is_trained(self) -> bool:
        return self.centroids is not None

    @property
    def nlist(self) -> int | None:
        return None if self.centroids is None else self.centroids.shape[0]

    def __len__(self) -> int:
        with self._lock:
            return (self._ids.shape[0] + sum(p[1].shape[0] for p in self._pending)) // self.replicas

    def list_sizes(self) -> np.ndarray:
        """int64[nlist]: the number of rows (vectors, or copies of vectors) in each inverted list."""
        self._require_trained()
        return np.diff(self._consolidate()[2])

    @property
    def ids(self) -> np.ndarray:
        """int64[n * replicas]: the external id of every row, in (list, id) order."""
        return self._consolidate()[1]

    @property
    def nbytes(self) -> int:
        """Bytes held by codes, ids, list offsets, rescoring vectors, scales, centroids and threshold."""
        arrays = self._consolidate()
        extra = [self.threshold] + ([] if self.centroids is None else [self.centroids])
        return sum(a.nbytes for a in list(arrays) + extra if a is not None)

    @property
    def quantizer_digest(self) -> str:
        """SHA-256 (hex) of dim, keep, threshold and centroids: indexes that share it can be merged exactly."""
        self._require_trained()
        h = hashlib.sha256(json.dumps([self.dim, self.keep]).encode())
        h.update(np.ascontiguousarray(self.threshold, "<f4").tobytes())
        h.update(np.ascontiguousarray(self.centroids).tobytes())
        return h.hexdigest()

    def _require_trained(self) -> None:
        if self.centroids is None:
            raise ValueError("the index is not trained: call train() first")

    # ------------------------------------------------------------------ training

    def train(self, embeddings_or_codes, *, num_threads: int | None = None) -> None:
        """Fit the coarse quantizer on float embeddings [n, dim] (or codes [n, width] when ``keep is None``).

        Only the quantizer is fitted: call ``add`` to store vectors. Training again replaces the
        quantizer and needs an empty index. ValueError if there are fewer distinct codes than nlist.
        """
        threads = _validate.threads(num_threads)
        if len(self):
            raise ValueError("train() needs an empty index (the stored vectors belong to the current lists)")
        x, is_codes = self._rows(embeddings_or_codes, "embeddings_or_codes", codes_ok=True)
        n = x.shape[0]
        if n == 0:
            raise ValueError("embeddings_or_codes is empty: train() needs vectors")
        nlist = self._nlist or max(1, min(n, round(4 * math.sqrt(n))))
        if self.replicas > nlist:
            raise ValueError(f"replicas={self.replicas} is larger than nlist={nlist}")
        rng = np.random.default_rng(self.seed)
        limit = nlist * self.max_points_per_list
        sample = x if n <= limit else x[np.sort(rng.choice(n, limit, replace=False))]
        if not is_codes and self._fit is not None:
            stat = np.median if self._fit == "median" else np.mean
            self.threshold = stat(sample, axis=0).astype(np.float32)
        codes = sample if is_codes else pack_bits(sample, threshold=self.threshold)
        centroids = _k_majority(codes, self.dim, nlist, self.niter, rng, threads)
        with self._lock:
            self._fit = None
            self.centroids = centroids
            self._reset_lists()

    # ------------------------------------------------------------------ adding and removing

    def add(self, embeddings_or_codes, ids=None, *, num_threads: int | None = None) -> np.ndarray:
        """Store float embeddings [n, dim] (or codes [n, width] when ``keep is None``) under int64 ``ids``.

        ids: [n] unique integers not already in the index; ``None`` gives ``max(ids) + 1 ...``.
        Returns the ids (int64[n]). ValueError on duplicates, shape or dtype errors; nothing is stored then.
        """
        self._require_trained()
        threads = _validate.threads(num_threads)
        x, is_codes = self._rows(embeddings_or_codes, "embeddings_or_codes", codes_ok=self.keep is None)
        n = x.shape[0]
        codes = _as_codes(x, "embeddings_or_codes").copy() if is_codes else pack_bits(x, threshold=self.threshold)
        vectors, scales = (None, None) if is_codes else _kept_vectors(x, self.keep)
        with self._lock:
            existing = np.concatenate([np.asarray(self._ids)] + [p[2] for p in self._pending])
            if ids is None:
                start = int(existing.max()) + 1 if existing.size else 0
                new_ids = np.arange(start, start + n, dtype=np.int64)
            else:
                new_ids = _id_array(ids, "ids")
                if new_ids.shape[0] != n:
                    raise ValueError(f"ids has {new_ids.shape[0]} entries for {n} vectors")
                if np.unique(new_ids).size != n:
                    raise ValueError("ids contains duplicates")
                clash = new_ids[np.isin(new_ids, existing)]
                if clash.size:
                    raise ValueError(f"ids already in the index: {clash[:5].tolist()}")
            if n:
                lists = _topk(codes, self.centroids, self.replicas, threads)[1].ravel()
                if self.replicas > 1:  # one row per copy, copy j of vector i at row i * replicas + j
                    codes, new_rows = (np.repeat(a, self.replicas, axis=0) for a in (codes, new_ids))
                    vectors = None if vectors is None else np.repeat(vectors, self.replicas, axis=0)
                    scales = None if scales is None else np.repeat(scales, self.replicas)
                else:
                    new_rows = new_ids
                self._pending.append((lists, codes, new_rows, vectors, scales))
        return new_ids

    def remove(self, ids) -> None:
        """Delete the vectors with these external ids. ValueError (nothing removed) if one is not stored."""
        self._require_trained()
        drop = _id_array(ids, "ids")
        with self._lock:
            codes, stored, offsets, vectors, scales = self._consolidate()
            if np.unique(drop).size != drop.size:
                raise ValueError("ids contains duplicates")
            unknown = drop[~np.isin(drop, stored)]
            if unknown.size:
                raise ValueError(f"ids not in the index: {unknown[:5].tolist()}")
            keep = ~np.isin(stored, drop)
            lists = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))[keep]
            self._set_lists(lists, codes[keep], stored[keep],
                            None if vectors is None else vectors[keep], None if scales is None else scales[keep])

    def _rows(self, x, name: str, *, codes_ok: bool) -> tuple[np.ndarray, bool]:
        """2-D float32 rows [n, dim] (checked finite) or uint8/int8 codes [n, width]; (array, is_codes)."""
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {x.shape}")
        if x.dtype in (np.uint8, np.int8):
            if not codes_ok:
                raise ValueError(f"this index keeps {self.keep} rescoring vectors: {name} must be float embeddings, "
                                 "not codes (or create it with keep=None)")
            if x.shape[1] != self.width:
                raise ValueError(f"codes in {name} must have {self.width} bytes, got {x.shape[1]}")
            return _as_codes(x, name), True
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must be float embeddings [n, {self.dim}] or codes, got {x.dtype}")
        if x.shape[1] != self.dim:
            raise ValueError(f"{name} must have {self.dim} dimensions, got {x.shape[1]}")
        x = np.asarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return x, False

    def _set_lists(self, lists, codes, ids, vectors, scales) -> None:
        """Store rows (list numbers [n], codes, ids, vectors, scales) in (list, id) order."""
        order = np.lexsort((ids, lists))
        self._codes = codes[order]
        self._ids = ids[order]
        self._offsets = np.zeros(self.centroids.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(lists, minlength=self.centroids.shape[0]), out=self._offsets[1:])
        self._vectors = None if vectors is None else vectors[order]
        self._scales = None if scales is None else scales[order]

    def _consolidate(self):
        """(codes, ids, offsets, vectors, scales) with every pending add merged into the lists."""
        with self._lock:
            if self._pending:
                offsets = self._offsets
                parts = [(np.repeat(np.arange(offsets.size - 1), np.diff(offsets)), self._codes, self._ids,
                          self._vectors, self._scales)] + self._pending
                cat = [np.concatenate([p[j] for p in parts]) for j in range(3)]
                cat.append(None if self.keep is None else np.concatenate([p[3] for p in parts]))
                cat.append(None if self.keep != "int8" else np.concatenate([p[4] for p in parts]))
                self._pending = []
                self._set_lists(*cat)
            return self._codes, self._ids, self._offsets, self._vectors, self._scales

    # ------------------------------------------------------------------ search

    def search(self, queries, k: int, *, nprobe: int | None = None, rescore: bool | None = None,
               rescore_multiplier: int = 4, refine: int | None = None,
               num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best stored vectors for each query: ``(scores float32[nq, k], ids int64[nq, k])``.

        queries: float [nq, dim] or codes [nq, width]; 1-D means one query and 1-D results.
        nprobe: lists scanned per query, 1 <= nprobe <= nlist (default ``self.nprobe``, clipped to nlist).
        rescore / rescore_multiplier / refine: as in ``BinaryIndex.search``. Scores are higher-is-better
        (cosine when rescored, else the asymmetric score when refined, else minus the Hamming distance),
        rows ordered by descending score, ties by the smaller id. When the probed lists hold fewer than k vectors the last slots are (-inf, -1).
        Needs 1 <= k <= len(self).
        """
        single, cand = self.search_candidates(queries, k, nprobe=nprobe, rescore=rescore,
                                              rescore_multiplier=rescore_multiplier, refine=refine,
                                              num_threads=num_threads)
        scores, ids = finish_candidates(cand, k)
        return (scores[0], ids[0]) if single else (scores, ids)

    def search_candidates(self, queries, k: int, *, nprobe: int | None = None, rescore: bool | None = None,
                          rescore_multiplier: int = 4, refine: int | None = None, num_threads: int | None = None,
                          total: int | None = None):
        """The Hamming candidates a search ranks: ``(single, Candidates(distances int32[nq, c], ids
        int64[nq, c], cosines float32[nq, c] or None, asymmetric scores float32[nq, c] or None, keep))``:
        c = min(total, keep * refine), keep = k (or min(total, k * rescore_multiplier) when rescoring),
        ascending by (distance, id), missing slots (2**31 - 1, -1) with scores -inf. ``total`` is the size of the
        collection this index is a part of (default: this index). The candidates of indexes sharing
        a quantizer merge exactly: ``finish_candidates(merge_candidates(parts, c), k)`` equals a
        search of one index holding them all (``ShardedIndex`` does this).
        """
        self._require_trained()
        threads = _validate.threads(num_threads)
        k = _positive_int(k, "k")
        nlist = self.centroids.shape[0]
        nprobe = min(self.nprobe, nlist) if nprobe is None else _positive_int(nprobe, "nprobe")
        if nprobe > nlist:
            raise ValueError(f"nprobe={nprobe} is larger than nlist={nlist}")
        m = _positive_int(rescore_multiplier, "rescore_multiplier")
        single, qcodes, qf = _query_codes(queries, self.dim, self.width, self.threshold)
        rescore = _rescore_choice(rescore, self.keep, qf)
        refine = _refine_choice(refine, rescore, qf)
        codes, ids, offsets, vectors, scales = self._consolidate()
        n = len(self) if total is None else total
        if n == 0:
            raise ValueError("the index is empty")
        if k > n:
            raise ValueError(f"k={k} is larger than the index ({n} vectors)")
        keep = min(n, k * m) if rescore else k
        kc = min(n, keep * refine)
        kr = kc * self.replicas  # a batch: the best kc distinct ids are among the best kc * replicas rows
        nq = qcodes.shape[0]
        if ids.shape[0] == 0:  # an empty part of a larger collection
            empty = np.full((nq, kc), -1, np.int64)
            none = np.full((nq, kc), -np.inf, np.float32)
            return single, Candidates(np.full((nq, kc), _INT32_MAX, np.int32), empty, none if rescore else None,
                                      none if refine > 1 else None, keep)
        if nq == 1:  # one call: probe, list scan and top-k of distinct ids (a query costs tens of microseconds)
            dist = np.empty((1, kc), np.int32)
            rows = np.empty((1, kc), np.int64)
            _backend.kernels.ivf_search(qcodes, self.centroids, nprobe, offsets, codes, ids, kc, dist, rows,
                                        self.replicas > 1)
        else:
            dist = np.empty((nq, kr), np.int32)
            rows = np.empty((nq, kr), np.int64)
            # a thread per >= 6 MB of centroids and list codes to scan (a quarter of
            # hamming._MIN_THREAD_WORK). 1M codes, nlist 4096, every batch split over 2 threads
            # (bench_split.py; benchmarks/README.md, "When a kernel is split over threads"): 4-16 queries
            # at nprobe 32 and 4 at nprobe 128 ran at 0.34-0.89x one thread, 16 at nprobe 128 at
            # 1.19-1.31x, 64 at 1.39-1.53x. With this minimum, up to 32 queries at nprobe 32 (8 at
            # nprobe 128) run inline.
            per_query = (codes.shape[0] * nprobe // nlist + nlist) * self.width
            threads = max(1, min(threads, nq * per_query // max(1, _hamming._MIN_THREAD_WORK // 4)))
            if threads == 1:  # inline, no thread hand-off
                probe = np.empty((nq, nprobe), np.int64)
                _backend.kernels.ivf_probe(qcodes, self.centroids, nprobe, probe)
                _scan_lists(qcodes, codes, ids, offsets, probe, kr, dist, rows)
            else:
                probe = _nearest_lists(qcodes, self.centroids, nprobe, threads)
                _parallel.run(lambda s, e: _scan_lists(qcodes[s:e], codes, ids, offsets, probe[s:e], kr, dist[s:e],
                                                       rows[s:e]), nq, threads)
            if self.replicas > 1:
                dist, rows = _distinct_rows(dist, rows, ids, kc)
        # missing slots (-1) come last: the last column tells whether there are any (cheap for one query)
        any_missing = bool(rows[0, -1] < 0) if nq == 1 else bool((rows[:, -1] < 0).any())
        missing = rows < 0 if any_missing else None
        safe = np.where(missing, 0, rows) if any_missing else rows
        out_ids = np.asarray(ids)[safe]
        if any_missing:
            out_ids[missing] = -1
        cos = asym = None
        if rescore:
            cos = _cosine_scores(qf, safe, vectors, scales).astype(np.float32, copy=False)
            if any_missing:
                cos[missing] = -np.inf
        if refine > 1:
            asym = code_cosines(qf, codes[safe.ravel()].reshape(safe.shape + (self.width,)))
            if any_missing:
                asym[missing] = -np.inf
        return single, Candidates(dist, out_ids, cos, asym, keep)

    # ------------------------------------------------------------------ persistence

    def save(self, path) -> None:
        """Write the index to ``path`` atomically (temporary file in the same directory, fsync, os.replace)."""
        self._require_trained()
        codes, ids, offsets, vectors, scales = self._consolidate()
        tensors = {"ids": ids, "offsets": offsets, "threshold": self.threshold}
        if scales is not None:
            tensors["scales"] = scales
        if vectors is not None:
            tensors["vectors"] = vectors
        tensors["centroids"], tensors["codes"] = self.centroids, codes
        meta = {"format": _FORMAT, "version": _VERSION, "dim": str(self.dim), "nlist": str(self.centroids.shape[0]),
                "keep": str(self.keep), "n": str(ids.shape[0]), "nprobe": str(self.nprobe), "seed": str(self.seed),
                "replicas": str(self.replicas),
                "quantizer": self.quantizer_digest,
                "sha256": json.dumps({k: _sha256(v) for k, v in tensors.items()})}
        _write_safetensors(path, tensors, meta)

    @classmethod
    def load(cls, path, *, mmap: bool = True, verify: bool = False) -> IVFBinaryIndex:
        """Read an index written by ``save``. ``mmap=True`` maps codes, ids and vectors read-only.
        ``verify=True`` also checks every tensor's SHA-256 (reads the whole file).

        ValueError naming the file if it is not such an index, is truncated, or fails a check.
        """
        path = os.fspath(path)
        tensors, meta = read_safetensors(path, metadata=True)
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: not an {_FORMAT} file")
        if meta.get("version") != _VERSION:
            raise ValueError(f"{path}: unsupported version {meta.get('version')!r}")
        try:
            dim, nlist, n, nprobe, seed = (int(meta[k]) for k in ("dim", "nlist", "n", "nprobe", "seed"))
            replicas = int(meta.get("replicas", "1"))  # files written before replicas existed hold 1
            keep = None if meta["keep"] == "None" else meta["keep"]
            sums = json.loads(meta["sha256"])
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"{path}: bad metadata") from None
        if (dim < 1 or nlist < 1 or n < 0 or nprobe < 1 or seed < 0 or keep not in _KEEP or not isinstance(sums, dict)
                or replicas not in (1, 2) or replicas > nlist or n % replicas):
            raise ValueError(f"{path}: bad metadata")
        width = (dim + 7) // 8
        expected = {"ids": ("<i8", [n]), "offsets": ("<i8", [nlist + 1]), "threshold": ("<f4", [dim])}
        if keep == "int8":
            expected["scales"] = ("<f4", [n])
        if keep is not None:
            expected["vectors"] = ("<f4" if keep == "float32" else "|i1", [n, dim])
        expected["centroids"] = ("|u1", [nlist, width])
        expected["codes"] = ("|u1", [n, width])
        arrays = _check_tensors(path, tensors, expected, mmap, small=("offsets", "threshold", "centroids"))
        if verify:
            for name, a in arrays.items():
                if sums.get(name) != _sha256(a):
                    raise ValueError(f"{path}: tensor {name!r} fails its SHA-256 check (the file is corrupted)")
        off = arrays["offsets"]
        if off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
            raise ValueError(f"{path}: list offsets are not monotonic from 0 to n={n}")
        _, counts = np.unique(np.asarray(arrays["ids"]), return_counts=True)
        if np.any(counts != replicas):
            raise ValueError(f"{path}: ids are not unique" if replicas == 1 else
                             f"{path}: an id is not stored exactly replicas={replicas} times")
        index = cls(dim, nlist=nlist, keep=keep, threshold=arrays["threshold"], nprobe=nprobe, seed=seed,
                    replicas=replicas)
        index.centroids = arrays["centroids"]
        if index.quantizer_digest != meta.get("quantizer"):
            raise ValueError(f"{path}: centroids/threshold do not match the recorded quantizer digest (corrupted)")
        index._codes, index._ids, index._offsets = arrays["codes"], arrays["ids"], off
        index._vectors, index._scales = arrays.get("vectors", index._vectors), arrays.get("scales", index._scales)
        return index

    def empty_like(self, *, keep="same", replicas: int | None = None) -> IVFBinaryIndex:
        """A new, empty index with the same quantizer and options (e.g. a new shard); ``keep`` and
        ``replicas`` may differ."""
        self._require_trained()
        other = IVFBinaryIndex(self.dim, nlist=self.centroids.shape[0], keep=self.keep if keep == "same" else keep, threshold=self.threshold.copy(),
                               nprobe=self.nprobe, seed=self.seed, niter=self.niter,
                               max_points_per_list=self.max_points_per_list,
                               replicas=self.replicas if replicas is None else replicas)
        if other.replicas > self.centroids.shape[0]:
            raise ValueError(f"replicas={other.replicas} is larger than nlist={self.centroids.shape[0]}")
        other.centroids = np.array(self.centroids)
        other._reset_lists()
        return other

    def __repr__(self) -> str:
        return (f"IVFBinaryIndex(dim={self.dim}, nlist={self.nlist}, keep={self.keep!r}, n={len(self)}"
                + (f", replicas={self.replicas})" if self.replicas > 1 else ")"))


# ---------------------------------------------------------------------- candidates and merging


class Candidates(NamedTuple):
    """What ``search_candidates`` returns per query row (see there); ``keep``: how many of them the
    refining stage keeps (all when ``asym`` is None)."""

    dist: np.ndarray
    ids: np.ndarray
    cos: np.ndarray | None
    asym: np.ndarray | None
    keep: int


def merge_candidates(parts, c: int) -> Candidates:
    """The best c of several ``search_candidates`` results (same queries, same arguments) by (distance, id)."""
    dist = np.concatenate([p.dist for p in parts], axis=1)
    ids = np.concatenate([p.ids for p in parts], axis=1)
    for name in ("cos", "asym"):
        has = [getattr(p, name) is not None for p in parts]
        if any(has) and not all(has):
            raise ValueError("cannot merge candidates searched with different rescore or refine arguments")
    if len({p.keep for p in parts}) != 1:
        raise ValueError("cannot merge candidates searched with different k or rescore_multiplier")
    key_ids = np.where(ids >= 0, ids, np.iinfo(np.int64).max)
    order = np.lexsort((key_ids, dist), axis=-1)[:, :c]

    def take(name):
        if getattr(parts[0], name) is None:
            return None
        return np.take_along_axis(np.concatenate([getattr(p, name) for p in parts], axis=1), order, axis=1)

    return Candidates(np.take_along_axis(dist, order, axis=1), np.take_along_axis(ids, order, axis=1),
                      take("cos"), take("asym"), parts[0].keep)


def _best_by(score, ids, k):
    key_ids = np.where(ids >= 0, ids, np.iinfo(np.int64).max)
    return np.lexsort((key_ids, -score), axis=-1)[:, :k]


def finish_candidates(cand: Candidates, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates -> the best k ``(scores float32, ids int64)``: the best ``keep`` by (-asymmetric score,
    id) when refined; then by (-cosine, id) when rescored, else by (-asymmetric score, id) when refined,
    else by (distance, id) with score = -distance; missing slots (-inf, -1)."""
    dist, ids, cos, asym, keep = cand
    if asym is not None:
        order = _best_by(asym, ids, keep)
        ids, asym = np.take_along_axis(ids, order, axis=1), np.take_along_axis(asym, order, axis=1)
        if cos is None:
            return asym[:, :k], ids[:, :k]
        cos = np.take_along_axis(cos, order, axis=1)
    if cos is None:
        dist, ids = dist[:, :k], ids[:, :k]
        scores = np.negative(dist, dtype=np.float32)
        if (ids[0, -1] < 0) if ids.shape[0] == 1 else (ids[:, -1] < 0).any():  # missing slots come last
            scores[ids < 0] = -np.inf
        return scores, ids
    order = _best_by(cos, ids, k)
    return np.take_along_axis(cos, order, axis=1), np.take_along_axis(ids, order, axis=1)


# ---------------------------------------------------------------------- training


def _k_majority(codes: np.ndarray, dim: int, nlist: int, niter: int, rng, threads: int) -> np.ndarray:
    """nlist binary centroids uint8[nlist, width] of codes uint8[n, width] by Lloyd iterations in Hamming space."""
    distinct = np.unique(codes, axis=0)
    if distinct.shape[0] < nlist:
        raise ValueError(f"nlist={nlist} is larger than the number of distinct training codes ({distinct.shape[0]})")
    centroids = distinct[np.sort(rng.choice(distinct.shape[0], nlist, replace=False))]
    bits = np.unpackbits(codes, axis=1, count=dim)
    assign = None
    for _ in range(niter):
        new = _topk(codes, centroids, 1, threads)[1][:, 0]
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        order = np.argsort(assign, kind="stable")
        sizes = np.bincount(assign, minlength=nlist)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nonempty = np.flatnonzero(sizes)
        ones = np.add.reduceat(bits[order], starts[nonempty], axis=0, dtype=np.int32)
        centroids = centroids.copy()
        centroids[nonempty] = np.packbits(2 * ones > sizes[nonempty, None], axis=1)
        # An empty list takes a random member of the largest list as its centroid (deterministic via rng).
        for c in np.flatnonzero(sizes == 0):
            big = int(np.argmax(sizes))
            members = order[starts[big] : starts[big] + sizes[big]]
            centroids[c] = codes[members[rng.integers(members.size)]]
            sizes[big] -= 1
    return np.ascontiguousarray(centroids)


def _scan_lists(qcodes, codes, ids, offsets, probe, kc, dist, rows) -> None:
    """Top-kc rows of each query among its probed lists into dist/rows (the ``ivf_topk`` contract).

    One query scans its lists; a batch is scanned list-major (``ivf_topk_grouped``): each probed list
    is read once for all the queries that probe it, as the exact scan reuses a block across queries."""
    kernels = _backend.kernels
    nq, nprobe = probe.shape
    if nq == 1:
        kernels.ivf_topk(qcodes, codes, ids, offsets[probe], offsets[probe + 1], kc, dist, rows)
        return
    flat = probe.ravel()
    order = np.argsort(flat, kind="stable")
    lists, counts = np.unique(flat[order], return_counts=True)
    group_offsets = np.zeros(lists.size + 1, np.int64)
    np.cumsum(counts, out=group_offsets[1:])
    kernels.ivf_topk_grouped(qcodes, codes, ids, offsets[lists], offsets[lists + 1], group_offsets,
                             (order // nprobe).astype(np.int64), kc, dist, rows)


def _distinct_rows(dist, rows, ids, kc):
    """The first kc (distance, row) pairs of each query's ascending (distance, id) candidates, copies of
    an id dropped (copies hold the same code, so they sit next to each other); missing slots stay last."""
    rid = np.where(rows >= 0, np.asarray(ids)[np.maximum(rows, 0)], -1)
    copy = np.zeros(rid.shape, bool)
    copy[:, 1:] = (rid[:, 1:] == rid[:, :-1]) & (rid[:, 1:] >= 0)
    if not copy.any():
        return dist[:, :kc], rows[:, :kc]
    order = np.argsort(copy, axis=1, kind="stable")[:, :kc]
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(rows, order, axis=1)


def _nearest_lists(qcodes: np.ndarray, centroids: np.ndarray, nprobe: int, threads: int) -> np.ndarray:
    """int64[nq, nprobe]: each query's nprobe nearest centroids by (Hamming distance, list number), in
    ascending list number (``ivf_probe``; the scan's order does not change its result)."""
    out = np.empty((qcodes.shape[0], nprobe), np.int64)
    kernels = _backend.kernels
    _parallel.run(lambda s, e: kernels.ivf_probe(qcodes[s:e], centroids, nprobe, out[s:e]), qcodes.shape[0], threads)
    return out


def _id_array(ids, name: str) -> np.ndarray:
    a = np.asarray(ids)
    if a.ndim == 0:
        a = a[None]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must be integers, not {a.dtype}")
    if a.size and a.dtype == np.uint64 and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must fit int64")
    return a.astype(np.int64)


# ---------------------------------------------------------------------- safetensors files


def _sha256(a: np.ndarray) -> str:
    h = hashlib.sha256()
    flat = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    for s in range(0, flat.size, 1 << 26):
        h.update(flat[s : s + (1 << 26)])
    return h.hexdigest()


def _write_safetensors(path, tensors: dict, meta: dict) -> None:
    """Write tensors (little-endian, C order) and string metadata as a safetensors file, atomically."""
    with atomic_write(path) as tmp:
        write_safetensors(tmp, tensors, meta)


def _check_tensors(path: str, tensors: dict, expected: dict, mmap: bool, small=()) -> dict:
    """Check the tensors ``read_safetensors`` mapped against ``expected`` {name: (dtype str, shape)}: the
    names, dtypes and shapes, stored in that order, back to back, up to the end of the file. Returns them
    memory-mapped (read-only, random access advised) or, when small or not ``mmap``, read into memory."""
    if sorted(tensors) != sorted(expected):
        raise ValueError(f"{path}: tensors must be {list(expected)}, file has {list(tensors)}")
    arrays, end = {}, None
    for name, (dtype, shape) in expected.items():
        a = tensors[name]
        if a.dtype != np.dtype(dtype) or list(a.shape) != shape:
            raise ValueError(f"{path}: tensor {name!r} must be {np.dtype(dtype).name} {shape}, "
                             f"file has {a.dtype.name} {list(a.shape)}")
        if a.nbytes:
            if end is not None and a.offset != end:
                raise ValueError(f"{path}: tensor {name!r} is not stored right after the one before it")
            end = a.offset + a.nbytes
        if mmap and a.nbytes and name not in small:
            advise_random(a)  # a search reads a few lists and rescoring rows at random places
            arrays[name] = a
        else:
            arrays[name] = np.array(a)
    size = os.path.getsize(path)
    if end != size:
        raise ValueError(f"{path}: file size {size} does not match the header (expected {end})")
    return arrays
