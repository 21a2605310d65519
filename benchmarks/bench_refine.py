"""What the asymmetric refining stage of ``BinaryIndex.search`` costs and gives.

    python benchmarks/bench_refine.py [--rounds 9]          # latency, 1M random 256-dim vectors, 1 thread
    python benchmarks/bench_refine.py --corpus corpus.txt.gz  # nDCG@10 of the dev pairs among the corpus

Latency: ``search(q, 10)`` with the default rescore x4, refine 1 (Hamming top 40 -> cosine), 2 and 4
(Hamming top 160 -> the best 40 by cos(q, 2b - 1) -> cosine), one query and 100 queries, rounds
interleaved, medians. Quality (``--corpus``, e.g. ``benchmarks/ivf_corpus.py``'s output): the bundled
default model embeds the 4,000 dev docs (docs/retrieval-protocol.md) and every corpus sentence that is
not one of them; the 4,000 dev queries search that index, nDCG@10 of each setting against the exact float
ranking over the same vectors.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

import fastembed_core as fe
from fastembed_core import evaluate as ev

SETTINGS = [{"rescore": False, "refine": 1}, {"rescore": False, "refine": 4}, {"refine": 1}, {"refine": 2},
            {"refine": 4}]


def latency(rounds: int) -> None:
    rng = np.random.default_rng(0)
    ix = fe.BinaryIndex(256)
    ix.add(rng.standard_normal((1_000_000, 256), dtype=np.float32))
    q = rng.standard_normal((100, 256), dtype=np.float32)
    print(f"fastembed_core {fe.__version__}, hamming_topk variant "
          f"{fe.capabilities()['kernels'].get('hamming_topk', {}).get('active')}; 1M x 256 dims, 1 thread, "
          f"medians of {rounds} interleaved rounds\n\n| queries | refine | ms per call |\n|---|---|---|")
    for nq in (1, 100):
        times: dict = {r: [] for r in (1, 2, 4)}
        for r in times:
            ix.search(q[:nq], 10, refine=r, num_threads=1)
        for _ in range(rounds):
            for r in times:
                t0 = time.perf_counter()
                ix.search(q[:nq], 10, refine=r, num_threads=1)
                times[r].append(time.perf_counter() - t0)
        for r, ts in times.items():
            print(f"| {nq} | {r} | {np.median(ts) * 1e3:.2f} |")


def quality(corpus_path: str, data: str) -> None:
    from fastembed_core.model import StaticModel
    from fastembed_core.models import default_model_path

    queries, docs = ev.load_pairs(data)
    model = StaticModel.from_pretrained(default_model_path())
    with gzip.open(corpus_path, "rt", encoding="utf-8") as fh:
        seen = set(docs)
        corpus = [line.rstrip("\n") for line in fh if line.rstrip("\n") not in seen]
    d = np.vstack([model.encode(docs), model.encode(corpus)])
    q = model.encode(queries)
    index = fe.BinaryIndex(d.shape[1])
    index.add(d)
    unit = index._consolidate()[1]  # the kept unit vectors (zero rows stay zero)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    own = np.einsum("qd,qd->q", qn, unit[: len(q)])
    rank = np.zeros(len(q), np.int64)
    for s in range(0, len(unit), 100_000):
        rank += (qn @ unit[s : s + 100_000].T > own[:, None]).sum(axis=1)
    exact = ev.metrics_from_ranks(rank)["ndcg@10"]
    print(f"{len(queries)} dev queries; index: {len(docs)} dev docs + {len(corpus)} corpus sentences\n\n"
          f"| search | nDCG@10 |\n|---|---|\n| exact float cosine over every vector | {exact:.4f} |")
    for kw in SETTINGS:
        _, ids = index.search(q, 10, **kw)
        pos = np.where(ids == np.arange(len(q))[:, None], np.arange(10)[None, :], 10).min(axis=1)
        print(f"| `search(q, 10, {', '.join(f'{k}={v}' for k, v in kw.items())})` | "
              f"{ev.metrics_from_ranks(pos)['ndcg@10']:.4f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--corpus", help="gzip'd text, one sentence per line: measure quality instead of latency")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "debian-descriptions-dev.jsonl.gz"))
    args = ap.parse_args()
    if args.corpus:
        quality(args.corpus, args.data)
    else:
        latency(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
