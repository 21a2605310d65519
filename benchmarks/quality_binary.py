"""Retrieval quality of binary codes on the Debian descriptions dev data (docs/retrieval-protocol.md).

    python benchmarks/quality_binary.py [--model /work/cache/m2v-minilm-256] [--data PATH]

Protocol: read all rows, random.Random(0).shuffle(rows), keep the first 4,000; embed the 4,000
queries and docs (model2vec's StaticModel); the rank of a query's own doc is the number of docs
scoring strictly higher (cosine for floats, minus the Hamming distance for codes); nDCG@10 = mean of
1 / log2(rank + 2) over queries with rank < 10. For the index searches (rescoring, Matryoshka) the
rank is the own doc's position in the k=10 result list (10 if absent).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

import numpy as np

import fastembed_core as fe

ROOT = Path(__file__).resolve().parents[2]


def load_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    return rows[:4000]


def ranks_from_scores(scores: np.ndarray) -> np.ndarray:
    """scores [nq, nd] with query i's own doc at column i -> number of docs scoring strictly higher."""
    own = scores[np.arange(len(scores)), np.arange(len(scores))]
    return (scores > own[:, None]).sum(axis=1)


def ranks_from_ids(ids: np.ndarray) -> np.ndarray:
    """top-10 ids [nq, 10] -> own doc's position, or 10 when absent."""
    hit = ids == np.arange(len(ids))[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), 10)


def ndcg10(ranks: np.ndarray) -> float:
    return float(np.mean(np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)))


def recall(ranks: np.ndarray, at: int) -> float:
    return float(np.mean(ranks < at))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/work/cache/m2v-minilm-256")
    ap.add_argument("--data", default=str(ROOT / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"))
    args = ap.parse_args()
    from model2vec import StaticModel

    rows = load_rows(Path(args.data))
    model = StaticModel.from_pretrained(args.model)
    q = np.asarray(model.encode([r["query"] for r in rows]), dtype=np.float32)
    d = np.asarray(model.encode([r["doc"] for r in rows]), dtype=np.float32)
    dim = q.shape[1]
    qn = q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-32)
    dn = d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-32)
    median = np.median(d, axis=0).astype(np.float32)  # fitted on the corpus (docs) only

    results: list[tuple[str, np.ndarray]] = []
    results.append(("float32 cosine", ranks_from_scores(qn @ dn.T)))

    for label, thr in (("binary (threshold 0)", 0.0), ("binary, median-centred", median)):
        qc, dc = fe.pack_bits(q, threshold=thr), fe.pack_bits(d, threshold=thr)
        results.append((label, ranks_from_scores(-fe.hamming_distance(qc, dc).astype(np.int64))))
        # asymmetric: float query (centred the same way) against the +-1 signs of the doc code
        signs = fe.unpack_bits(dc, dim).astype(np.float32) * 2 - 1
        results.append((label + ", asymmetric float query", ranks_from_scores((q - thr) @ signs.T)))

    for keep in ("float32", "int8"):
        for centre, thr in (("thr 0", 0.0), ("median", median)):
            index = fe.BinaryIndex(dim, keep=keep, threshold=thr)
            index.add(d)
            for m in (4, 10, 25):
                _, ids = index.search(q, 10, rescore=True, rescore_multiplier=m)
                results.append((f"binary + rescore {keep}, {centre}, m={m}", ranks_from_ids(ids)))
            for dims in (128, 64):
                _, ids = index.search(q, 10, rescore=True, rescore_multiplier=10, dims=dims)
                results.append((f"Matryoshka {dims} bits + rescore {keep}, {centre}, m=10", ranks_from_ids(ids)))

    base = ndcg10(results[0][1])
    print(f"model {args.model}, {len(rows)} queries / docs, dim {dim}\n")
    print(f"{'method':58s} {'nDCG@10':>8s} {'% float':>8s} {'R@1':>6s} {'R@10':>6s}")
    for label, ranks in results:
        n = ndcg10(ranks)
        print(f"{label:58s} {n:8.4f} {100 * n / base:7.1f}% {recall(ranks, 1):6.3f} {recall(ranks, 10):6.3f}")


if __name__ == "__main__":
    main()
