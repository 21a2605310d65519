"""hamming_topk over 1,000,000 x 256-bit codes, k=10: ours vs faiss IndexBinaryFlat vs the numpy fallback.

pytest-benchmark (groups print peers side by side):
    python -m pytest benchmarks/bench_hamming.py --benchmark-only
Side-by-side ratios measured in one run (medians of interleaved rounds), with the bytes scanned per
second next to the memory bandwidth measured in the same run:
    python benchmarks/bench_hamming.py [--rounds 7] [--variant avx2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# faiss's OpenMP threads otherwise spin for a while after each call, stealing a core from whatever is
# timed next (our kernels, or faiss itself at another thread count). Must be set before faiss loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

import fastembed_core as fe
from fastembed_core import _backend

N, WIDTH, K = 1_000_000, 32, 10


def make_data(nq: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (nq, WIDTH), dtype=np.uint8), rng.integers(0, 256, (N, WIDTH), dtype=np.uint8)


def faiss_index(db):
    faiss = pytest.importorskip("faiss") if __name__ != "__main__" else __import__("faiss")
    index = faiss.IndexBinaryFlat(8 * WIDTH)
    index.add(db)
    return faiss, index


# ---------------------------------------------------------------------------- pytest-benchmark

@pytest.fixture(scope="module")
def codes():
    return make_data()


@pytest.mark.parametrize("nq", [1, 100])
@pytest.mark.parametrize("threads", [1, 2])
def test_ours(benchmark, backend, codes, nq, threads):
    q, db = codes
    if backend == "numpy" and (nq > 1 or threads > 1):
        pytest.skip("the numpy fallback is timed on one query, one thread")
    benchmark.group = f"hamming_topk {nq} x 1M x 256 bits, k=10"
    benchmark.name = f"fastembed_core {backend} threads={threads}"
    benchmark.pedantic(fe.hamming_topk, args=(q[:nq], db, K), kwargs={"num_threads": threads}, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("nq", [1, 100])
@pytest.mark.parametrize("threads", [1, 2])
def test_faiss(benchmark, codes, nq, threads):
    q, db = codes
    faiss, index = faiss_index(db)
    faiss.omp_set_num_threads(threads)
    benchmark.group = f"hamming_topk {nq} x 1M x 256 bits, k=10"
    benchmark.name = f"faiss IndexBinaryFlat threads={threads}"
    benchmark.pedantic(index.search, args=(q[:nq], K), rounds=5, warmup_rounds=1)


def test_distance_matrix(benchmark, backend, codes):
    q, db = codes
    benchmark.group = "hamming_distance 100 x 100k x 256 bits"
    benchmark.name = f"fastembed_core {backend} threads=1"
    benchmark.pedantic(fe.hamming_distance, args=(q, db[:100_000]), kwargs={"num_threads": 1}, rounds=3, warmup_rounds=1)


def test_pack_bits(benchmark):
    x = np.random.default_rng(0).standard_normal((100_000, 256)).astype(np.float32)
    benchmark.group = "pack_bits 100k x 256 float32"
    benchmark(fe.pack_bits, x)


# ---------------------------------------------------------------------------- side-by-side script

def copy_bandwidth(rounds: int) -> float:
    """Bytes read + written per second by np.copyto of 256 MiB."""
    a = np.ones(1 << 25, np.float64)
    b = np.empty_like(a)
    np.copyto(b, a)
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        np.copyto(b, a)
        ts.append(time.perf_counter() - t0)
    return 2 * a.nbytes / statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--variant", default=None, help="force this hamming_topk variant (e.g. avx2)")
    args = ap.parse_args()
    if args.variant:
        _backend.load("compiled").select_variant("hamming_topk", args.variant)
    q, db = make_data()
    faiss, index = faiss_index(db)
    compiled = _backend.load("compiled")
    print(f"fastembed_core {fe.__version__}, hamming_topk variant: "
          f"{compiled.kernel_variants()['hamming_topk']['active']} (software prefetch "
          f"{'on' if compiled.scan_prefetch() else 'off'}), faiss {faiss.__version__}")

    def ours(nq, t, backend="compiled"):
        def run():
            with _backend.using(backend):
                fe.hamming_topk(q[:nq], db, K, num_threads=t)
        return run

    def theirs(nq, t):
        def run():
            faiss.omp_set_num_threads(t)
            index.search(q[:nq], K)
        return run

    cases = {}
    for nq in (1, 100):
        for t in (1, 2):
            cases[(nq, t, "ours")] = ours(nq, t)
            cases[(nq, t, "faiss")] = theirs(nq, t)
    cases[(1, 1, "numpy")] = ours(1, 1, "numpy")
    times: dict = {key: [] for key in cases}
    for fn in cases.values():
        fn()  # warm up
    for r in range(args.rounds):  # interleaved, so machine noise hits every case alike
        for key, fn in cases.items():
            if key[2] == "numpy" and r >= 3:
                continue
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    med = {key: statistics.median(v) for key, v in times.items()}
    bw = copy_bandwidth(args.rounds)
    print(f"memory bandwidth (np.copyto 256 MiB, read + write): {bw / 1e9:.1f} GB/s\n")
    print(f"{'queries':>7s} {'threads':>7s} {'ours ms':>9s} {'faiss ms':>9s} {'ours/faiss':>10s} {'GB/s compared':>14s}")
    for nq in (1, 100):
        for t in (1, 2):
            a, b = med[(nq, t, "ours")], med[(nq, t, "faiss")]
            # code bytes XOR-ed and counted per second; a batch reads each database block from memory once
            print(f"{nq:7d} {t:7d} {a * 1e3:9.2f} {b * 1e3:9.2f} {b / a:9.2f}x {nq * db.nbytes / a / 1e9:14.1f}")
    a1 = med[(1, 1, "ours")]
    print(f"\n1 query, 1 thread: numpy fallback {med[(1, 1, 'numpy')] * 1e3:.1f} ms = "
          f"{med[(1, 1, 'numpy')] / a1:.1f}x ours; ours 2 threads vs 1: {a1 / med[(1, 2, 'ours')]:.2f}x")
    print(f"1 query: {db.nbytes / a1 / 1e9:.1f} GB/s scanned at 1 thread, "
          f"{db.nbytes / med[(1, 2, 'ours')] / 1e9:.1f} GB/s at 2, vs copy bandwidth {bw / 1e9:.1f} GB/s")
    print(f"rounds: {args.rounds} (numpy: 3), medians; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")


if __name__ == "__main__":
    main()
