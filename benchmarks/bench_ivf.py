"""IVFBinaryIndex search vs the exact scan, on structured (clustered) 256-bit codes, 1 thread, k=10.

    python -m pytest benchmarks/bench_ivf.py --benchmark-only
The real-text benchmark (>= 1M sentences, recall, faiss IVF / HNSW side by side) is
benchmarks/ivf_bench.py; see benchmarks/README.md, "IVF".
"""

from __future__ import annotations

import numpy as np
import pytest

from fastembed_core import hamming_topk, pack_bits
from fastembed_core.ivf import IVFBinaryIndex

N, DIM, NLIST = 100_000, 256, 1264


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, DIM))
    x = centres[rng.integers(2000, size=N)] + 0.8 * rng.normal(size=(N, DIM))
    codes = pack_bits(x)
    queries = pack_bits(centres[:100] + 0.8 * rng.normal(size=(100, DIM)))
    ix = IVFBinaryIndex(DIM, nlist=NLIST, keep=None)
    ix.train(codes, num_threads=1)
    ix.add(codes, num_threads=1)
    return ix, codes, queries


@pytest.mark.benchmark(group="ivf-100k-1q")
def test_exact_one_query(benchmark, setup):
    _, codes, q = setup
    benchmark(hamming_topk, q[0], codes, 10, num_threads=1)


@pytest.mark.benchmark(group="ivf-100k-1q")
@pytest.mark.parametrize("nprobe", [8, 64])
def test_ivf_one_query(benchmark, setup, nprobe):
    ix, _, q = setup
    benchmark(ix.search, q[0], 10, nprobe=nprobe, num_threads=1)


@pytest.mark.benchmark(group="ivf-100k-100q")
@pytest.mark.parametrize("nprobe", [8, 64])
def test_ivf_100_queries(benchmark, setup, nprobe):
    ix, _, q = setup
    benchmark(ix.search, q, 10, nprobe=nprobe, num_threads=1)
