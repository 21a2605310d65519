"""Retrieval quality of an embedding model on query/doc pairs (the protocol: docs/retrieval-protocol.md).

Protocol: read all rows of a JSONL file (``.gz`` allowed), ``random.Random(seed).shuffle(rows)`` with
``seed=0``, keep the first ``limit`` (4000); embed the queries and the docs; score every query against
every doc (cosine, or negative Hamming distance for binary codes). The rank of a query's own doc is the
number of docs scoring strictly higher. Metrics (means over queries):

- ``ndcg@10``: ``1 / log2(rank + 2)`` if ``rank < 10`` else 0 (one relevant doc per query);
- ``mrr@10``: ``1 / (rank + 1)`` if ``rank < 10`` else 0;
- ``recall@1`` / ``recall@10``: ``rank < 1`` / ``rank < 10``.

Precisions (:func:`evaluate`), each measuring what the package ships: ``float32``; ``int8`` (the
codes ``StaticModel.encode(precision="int8")`` returns, ``fastembed_core.quantization``, with the
per-dimension ranges of the docs, scored by cosine of the codes); ``ubinary``/``binary`` (packed
sign bits, ``pack_bits``, scored by minus the Hamming distance of ``hamming_distance``); ``binary``
with ``rescore=m`` (``BinaryIndex.search``: the Hamming top ``10*m`` candidates re-ranked by float
cosine; docs outside the candidates rank below all of them), and with ``refine=r`` too (the Hamming top
``10*m*r``, the best ``10*m`` of them by the asymmetric score ``code_cosines``, then the cosine; without
``rescore`` the best 10 by the asymmetric score); ``ternary`` (the model's table
ternarized per row, needs a model with ``quantize``). ``dims`` truncates vectors to their first
``dims`` components (Matryoshka) and renormalises, before any quantisation.
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable, Sequence

import numpy as np

from . import _validate
from ._io import read_jsonl

__all__ = ["load_pairs", "ranks_from_scores", "metrics_from_ranks", "retrieval_ranks", "evaluate",
           "PRECISIONS"]

PRECISIONS = ("float32", "int8", "ternary", "ubinary", "binary")


def load_pairs(
    path: str | os.PathLike, *, limit: int | None = 4000, seed: int = 0, query_field: str = "query",
    doc_field: str = "doc",
) -> tuple[list[str], list[str]]:
    """Queries and their docs from a JSONL file (gzip if the name ends in .gz), per the protocol.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the line for malformed
    JSON, a missing field or a non-string field, and for an empty file.
    """
    rows = list(read_jsonl(path, (query_field, doc_field)))
    if not rows:
        raise ValueError(f"{path}: no rows")
    random.Random(seed).shuffle(rows)
    if limit is not None:
        rows = rows[:limit]
    return [q for q, _ in rows], [d for _, d in rows]


def ranks_from_scores(scores: np.ndarray) -> np.ndarray:
    """Rank of each query's own doc (the diagonal): docs scoring strictly higher. int64 [n]."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be square [n, n], got shape {scores.shape}")
    own = np.diagonal(scores)[:, None]
    return (scores > own).sum(axis=1).astype(np.int64)


def metrics_from_ranks(ranks: np.ndarray, k: int = 10) -> dict[str, float]:
    """nDCG@k, MRR@k, recall@1 and recall@k from ranks (0 = best)."""
    r = np.asarray(ranks, dtype=np.float64)
    hit = r < k
    return {
        f"ndcg@{k}": float(np.mean(np.where(hit, 1.0 / np.log2(r + 2.0), 0.0))),
        f"mrr@{k}": float(np.mean(np.where(hit, 1.0 / (r + 1.0), 0.0))),
        "recall@1": float(np.mean(r < 1)),
        f"recall@{k}": float(np.mean(hit)),
    }


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-32)


def retrieval_ranks(
    queries: np.ndarray, docs: np.ndarray, *, precision: str = "float32", dims: int | None = None,
    rescore: int | None = None, refine: int | None = None, k: int = 10,
) -> np.ndarray:
    """Ranks of each query's own doc given query vectors [n, d] and doc vectors [n, d] (row i pairs i).

    ``refine`` (binary precisions): the asymmetric refining stage of ``BinaryIndex.search``; ``None`` or
    1 is the protocol's plain Hamming candidates.
    """
    q = np.asarray(queries, dtype=np.float32)
    d = np.asarray(docs, dtype=np.float32)
    if q.ndim != 2 or q.shape != d.shape:
        raise ValueError(f"queries and docs must have the same 2-D shape, got {q.shape} and {d.shape}")
    if dims is not None:
        if not 1 <= dims <= q.shape[1]:
            raise ValueError(f"dims must be in [1, {q.shape[1]}], got {dims}")
        q, d = q[:, :dims], d[:, :dims]
    q, d = _normalize(q), _normalize(d)
    if precision in ("float32", "ternary"):
        return ranks_from_scores(q @ d.T)
    if precision == "int8":
        from .quantization import quantize_embeddings

        ranges = np.vstack((d.min(axis=0), d.max(axis=0)))
        qi, di = (quantize_embeddings(x, "int8", ranges).astype(np.float32) for x in (q, d))
        return ranks_from_scores(_normalize(qi) @ _normalize(di).T)
    if precision in ("binary", "ubinary"):
        from .hamming import hamming_distance, pack_bits
        from .index import BinaryIndex

        refine = _validate.positive_int(refine, "refine", optional=True) or 1
        if not rescore and refine == 1:
            return ranks_from_scores(-hamming_distance(pack_bits(q), pack_bits(d)).astype(np.int64))
        n_cand = min(len(d), k * (_validate.positive_int(rescore, "rescore") if rescore else 1))
        index = BinaryIndex(d.shape[1], keep="float32" if rescore else None)
        index.add(d)
        # every candidate scored: the Hamming top n_cand * refine (ties by smaller index), the best
        # n_cand of them by the asymmetric score when refining, then (rescore) the cosine
        scores, ids = index.search(q, n_cand, rescore=bool(rescore), rescore_multiplier=1, refine=refine)
        own_pos = ids == np.arange(len(q))[:, None]
        in_cand = own_pos.any(axis=1)
        own_score = np.where(in_cand, np.where(own_pos, scores, 0).sum(axis=1), np.inf)
        higher = (scores > own_score[:, None]).sum(axis=1)
        return np.where(in_cand, higher, n_cand).astype(np.int64)
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def as_ternary(model: Any) -> Any:
    """``model`` itself when its table is already ternary, else ``model.quantize("ternary")``."""
    from .ternary import TernaryMatrix

    if isinstance(getattr(model, "table", None), TernaryMatrix):
        return model
    if not hasattr(model, "quantize"):
        raise ValueError("precision='ternary' needs a model with quantize('ternary') (a StaticModel)")
    return model.quantize("ternary")


def _encoder(model: Any, precision: str) -> Callable[[Sequence[str]], np.ndarray]:
    if precision == "ternary":
        model = as_ternary(model)
    if hasattr(model, "encode"):
        return lambda texts: np.asarray(model.encode(list(texts)))
    if callable(model):
        return lambda texts: np.asarray(model(list(texts)))
    raise TypeError("model must be a StaticModel-like object with encode() or a callable texts -> vectors")


def evaluate(
    model: Any, data: str | os.PathLike | tuple[Sequence[str], Sequence[str]], *, precision: str = "float32",
    dims: int | None = None, rescore: int | None = None, refine: int | None = None, limit: int | None = 4000,
    seed: int = 0, query_field: str = "query", doc_field: str = "doc",
) -> dict[str, float]:
    """Retrieval metrics of ``model`` on ``data`` (a JSONL path or ``(queries, docs)``).

    ``model``: an object with ``encode(list[str]) -> float [n, d]`` or a callable doing the same.
    Returns ``{"ndcg@10", "mrr@10", "recall@1", "recall@10", "n"}``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if rescore is not None and precision not in ("binary", "ubinary"):
        raise ValueError("rescore applies to precision='binary' or 'ubinary' only")
    if refine is not None and precision not in ("binary", "ubinary"):
        raise ValueError("refine applies to precision='binary' or 'ubinary' only")
    rescore = _validate.positive_int(rescore, "rescore", optional=True)
    refine = _validate.positive_int(refine, "refine", optional=True)
    if isinstance(data, (str, os.PathLike)):
        queries, docs = load_pairs(data, limit=limit, seed=seed, query_field=query_field, doc_field=doc_field)
    else:
        queries, docs = list(data[0]), list(data[1])
        if len(queries) != len(docs) or not queries:
            raise ValueError("data must hold the same non-zero number of queries and docs")
    encode = _encoder(model, precision)
    ranks = retrieval_ranks(encode(queries), encode(docs), precision=precision, dims=dims, rescore=rescore,
                            refine=refine)
    out = metrics_from_ranks(ranks)
    out["n"] = len(queries)
    return out


def format_table(rows: list[tuple[str, dict[str, float]]]) -> str:
    """A plain-text table: one line per (label, metrics)."""
    cols = ["ndcg@10", "mrr@10", "recall@1", "recall@10"]
    width = max([len("variant")] + [len(label) for label, _ in rows])
    lines = [f"{'variant':<{width}}  " + "  ".join(f"{c:>9}" for c in cols)]
    for label, m in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{m[c]:>9.4f}" for c in cols))
    return "\n".join(lines)


