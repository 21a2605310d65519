#!/usr/bin/env python
"""The round-3 sweep of the default model's recipe (README, "Round 3 sweep"): steps added to a start model.

    python benchmarks/quality_finetune_sweep.py --model DIR [--only NAME,...]

Each variant takes the start model's table (dense: ternary rows x scales x per-token weights), applies
one step (a PCA rotation, or ``train.finetune`` on pairs of ``scripts/doc_corpus.py``), ternarizes per
row again (as the default model is stored) and scores nDCG@10 with the retrieval protocol on the Debian
dev pairs (float32, binary + rescore x4, 128 and 64 dims). The dev pairs only choose the recipe; nothing
is trained on them. The README's round-3 rows start from the round-2 default model:
``git show 3fc2334:fastembed_core/models/default/<file>`` for its five files. The round-4 rows
(``equalize-*``, ``mrl-rotation``, ``mrl-rotation+equalize``) start from the fine-tuned float table before
equalization and ternarization (``scripts/build_default_model.py --format float32 --equalize-power 0``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fastembed_core import evaluate as ev  # noqa: E402
from fastembed_core import train  # noqa: E402
from fastembed_core.model import StaticModel  # noqa: E402

DATA = os.environ.get("FASTEMBED_CORE_DEV_DATA", str(ROOT.parent / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"))
DIMS = [32, 64, 128, 256]


def dense(model: StaticModel) -> StaticModel:
    t = model.table.to_dense() if not isinstance(model.table, np.ndarray) else np.asarray(model.table, np.float32)
    if model.mapping is not None:
        t = t[model.mapping]
    if model.weights is not None:
        t = t * model.weights[:, None]
    return train._to_model(t.astype(np.float32), None, model.tokenizer.tokenizer.to_str(), dict(model.config))


def ternary(model: StaticModel) -> StaticModel:
    values, scales = train.ternary_rows(np.asarray(model.table))
    return train._to_model(values, scales, model.tokenizer.tokenizer.to_str(), dict(model.config))


def rotate(model: StaticModel, sentences: list[str]) -> StaticModel:
    """The table in the principal axes (centred) of the model's own embeddings of ``sentences``."""
    e = model.encode(sentences).astype(np.float64)
    e -= e.mean(axis=0)
    _, vecs = np.linalg.eigh(e.T @ e)
    table = np.asarray(model.table, np.float32) @ vecs[:, ::-1]
    return train._to_model(table.astype(np.float32), None, model.tokenizer.tokenizer.to_str(), dict(model.config))


def main() -> int:
    import doc_corpus
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="start model directory")
    ap.add_argument("--only", default=None, help="comma list of variant names (default: all)")
    ap.add_argument("--float", action="store_true", help="also score each variant before the ternarization")
    ap.add_argument("--man-before", default=None, help="as build_default_model.py --man-before (ISO UTC time)")
    args = ap.parse_args()
    man_before = None
    if args.man_before:
        from datetime import datetime, timezone

        man_before = datetime.fromisoformat(args.man_before).replace(tzinfo=timezone.utc).timestamp()
    torch.set_num_threads(1)
    queries, docs = ev.load_pairs(DATA)
    start = dense(StaticModel.from_pretrained(args.model))
    man, head = doc_corpus.man_pairs(man_before=man_before), doc_corpus.heading_pairs()
    sample = doc_corpus.build_corpus(["python", "debref"], limit=8000, seed=1)  # as the build's equalize step

    def ft(pairs, **kw):
        return lambda: train.finetune(start, pairs, dims=DIMS, lr=kw.pop("lr", 0.005), show_progress_bar=False, **kw)

    variants = {
        "none": lambda: start,
        "rotate": lambda: rotate(start, doc_corpus.build_corpus(["python", "debref"], limit=20000, seed=1)),
        "man": ft(man),
        "man-4421": ft(man, matryoshka_weights=[4, 4, 2, 1]),
        "man+head": ft(man + head),
        "man+head-lr0.01": ft(man + head, lr=0.01),
        "man+head-2ep": ft(man + head, epochs=2),
        "man+head-3ep": ft(man + head, epochs=3),
        "man+head+para": lambda: train.finetune(start, man + head + doc_corpus.paragraph_pairs(limit=30000),
                                                dims=DIMS, lr=0.005, show_progress_bar=False),
        **{f"equalize-{p}": (lambda p=p: train.equalize_dims(start, sample, power=p)) for p in (0.5, 0.75, 1.0, 1.5)},
        "mrl-rotation": lambda: train.matryoshka_rotation(start, man + head, show_progress_bar=False),
        "mrl-rotation+equalize": lambda: train.equalize_dims(
            train.matryoshka_rotation(start, man + head, show_progress_bar=False), sample, power=1.0),
    }
    names = args.only.split(",") if args.only else list(variants)

    def score(m):
        qv, dv = m.encode(queries), m.encode(docs)
        return [ev.metrics_from_ranks(ev.retrieval_ranks(qv, dv, **kw))["ndcg@10"]
                for kw in ({}, {"precision": "binary", "rescore": 4}, {"dims": 128}, {"dims": 64})]

    print("| variant | float32 | binary + rescore x4 | 128 dims | 64 dims |\n|---|---|---|---|---|")
    for name in names:
        m = variants[name]()
        if args.float:
            m = dense(m)
            r = score(m)
            print(f"| {name} (float) | " + " | ".join(f"{x:.4f}" for x in r) + " |", flush=True)
        m = ternary(m)
        r = score(m)
        print(f"| {name} | " + " | ".join(f"{x:.4f}" for x in r) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
