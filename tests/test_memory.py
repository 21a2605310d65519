"""Bounded memory: streaming encode grows with the result, not the input; repeated calls don't leak.

Memory, never time, is asserted, with generous bounds in MB (RSS is noisy: allocator arenas,
tokenizer caches). Peak RSS of streaming encode is measured in fresh processes
(benchmarks/memory.py has the full-scale version: 10k vs 1M texts, and a 10M-code index).
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import fastembed_core as fe

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _models  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)"),
    # ASan keeps freed memory in quarantine and shadows every byte: RSS says nothing there
    pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="RSS is meaningless under AddressSanitizer"),
]
ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def growth_mb(fn, calls: int, warmup: int = 30) -> float:
    """RSS growth over ``calls`` calls of fn after ``warmup`` calls (which fill caches and pools);
    the smaller of two consecutive rounds.

    Leaks are a compiled-code concern: the numpy backend runs a thirtieth of the calls (it is slow).
    """
    if fe._backend.BACKEND != "compiled":
        calls, warmup = calls // 30, warmup // 10
    for _ in range(warmup):
        fn()
    growths = []
    for _ in range(2):  # a leak grows every round; allocator arenas filling up once do not
        gc.collect()
        before = rss_mb()
        for _ in range(calls):
            fn()
        gc.collect()
        growths.append(rss_mb() - before)
    return min(growths)


def test_streaming_encode_peak_is_bounded_by_the_batch():
    script = ROOT / "benchmarks" / "memory.py"
    if not script.exists():
        pytest.skip("benchmarks/memory.py not present (installed-package run)")
    sys.path.insert(0, str(script.parent))
    import memory

    small = memory.encode_peak(5_000, precision="ubinary", batch_size=512)
    large = memory.encode_peak(100_000, precision="ubinary", batch_size=512)  # 20x the input
    grow_small = small["peak_after_mb"] - small["peak_before_mb"]
    grow_large = large["peak_after_mb"] - large["peak_before_mb"]
    # the large result is < 1 MB of codes; all that may grow is result-sized buffers and caches
    assert grow_large < grow_small + 3 * large["result_mb"] + 40, (small, large)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return fe.StaticModel.from_pretrained(_models.make_tiny_model(tmp_path_factory.mktemp("m") / "m", dim=32))


LEAK_MB = 16  # far above noise, far below what 300 calls of a leaking kernel would add


def test_repeated_kernel_calls_do_not_grow_rss(backend):
    rng = np.random.default_rng(0)
    table = rng.standard_normal((1000, 64)).astype(np.float32)
    offsets = np.arange(0, 20001, 20)
    ids = rng.integers(0, 1000, 20000)
    db = rng.integers(0, 256, (50_000, 32), dtype=np.uint8)
    q = db[:4]
    x = rng.standard_normal((200, 256)).astype(np.float32)
    w = fe.ternarize(rng.standard_normal((100, 256)).astype(np.float32))
    calls = {
        "gather_mean": lambda: fe.gather_mean(table, ids, offsets, num_threads=2),
        "gather_mean f16": lambda: fe.gather_mean(table.astype(np.float16), ids, offsets, normalize=True),
        "hamming_topk": lambda: fe.hamming_topk(q, db, 10, num_threads=2),
        "hamming_distance": lambda: fe.hamming_distance(q, db),
        "pack_bits": lambda: fe.unpack_bits(fe.pack_bits(x), 256),
        "ternary_matmul": lambda: fe.ternary_matmul(x, w, num_threads=2),
        "ternary_gather_mean": lambda: fe.ternary_gather_mean(w, ids % 100, offsets, num_threads=2),
    }
    for name, fn in calls.items():
        assert growth_mb(fn, 300) < LEAK_MB, name


def test_repeated_encode_search_load_do_not_grow_rss(backend, model, tmp_path):
    rng = np.random.default_rng(1)
    texts = [" ".join(_models.SENTENCES[(i + j) % 8] for j in range(3)) for i in range(200)]
    index = fe.BinaryIndex(32, keep="int8")
    index.add(model.encode(texts))
    index.save(tmp_path / "i.idx")
    q = rng.standard_normal((5, 32)).astype(np.float32)
    w = fe.ternarize(rng.standard_normal((50, 40)).astype(np.float32))
    calls = {
        "encode": lambda: model.encode(texts),
        "encode ubinary stream": lambda: model.encode(iter(texts), precision="ubinary", batch_size=64),
        "tokenize": lambda: model.tokenize(texts),
        "search": lambda: index.search(q, 5),
        "load mmap + search": lambda: fe.BinaryIndex.load(tmp_path / "i.idx").search(q, 5),
        "load read": lambda: fe.BinaryIndex.load(tmp_path / "i.idx", mmap=False),
        "ternary save + load": lambda: (w.save(tmp_path / "t.st"), fe.TernaryMatrix.load(tmp_path / "t.st")),
    }
    for name, fn in calls.items():
        assert growth_mb(fn, 300) < LEAK_MB, name


def test_repeated_bad_input_does_not_leak(backend):
    """Error paths free what they allocated (exceptions raised from validation and from C)."""
    table = np.ones((10, 64), np.float32)
    big_ids = np.zeros(100_000, np.int64)

    def bad():
        for call in (
            lambda: fe.gather_mean(table, big_ids, [0, 100_001]),
            lambda: fe.gather_mean(table, np.append(big_ids, 10), [0, 100_001]),
            lambda: fe.hamming_topk(np.zeros((2, 4), np.uint8), np.zeros((3, 4), np.uint8), 4),
        ):
            try:
                call()
            except ValueError:
                pass

    assert growth_mb(bad, 300) < LEAK_MB
