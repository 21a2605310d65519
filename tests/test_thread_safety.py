"""Thread safety: many Python threads calling the public API at once get the serial results.

Each test builds a list of jobs (different operations and arguments), computes every job serially,
then runs the jobs from 8 threads released together by a barrier, several rounds, mixed, with
inner ``num_threads`` > 1 so the shared worker pool is contended too.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import fastembed_core as fe

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _models  # noqa: E402

THREADS = 8
ROUNDS = 3


def run_concurrently(jobs: list[Callable[[], Any]], threads: int = THREADS, rounds: int = ROUNDS) -> list[list[Any]]:
    """Run every job from ``threads`` threads at once (job i on thread i % threads), ``rounds`` times."""
    results: list[list[Any]] = [[] for _ in jobs]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for _ in range(rounds):
                for i in range(t, len(jobs), threads):
                    results[i].append(jobs[i]())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return results


def assert_same(got: Any, want: Any) -> None:
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)
    else:
        np.testing.assert_array_equal(got, want)


def check(jobs: list[Callable[[], Any]]) -> None:
    serial = [job() for job in jobs]
    for i, outs in enumerate(run_concurrently(jobs)):
        assert len(outs) == ROUNDS
        for out in outs:
            assert_same(out, serial[i])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = _models.make_tiny_model(tmp_path_factory.mktemp("m") / "m", dim=32, weights=True, mapping=True)
    return fe.StaticModel.from_pretrained(path)


def test_kernels_from_many_threads(backend, monkeypatch):
    from fastembed_core import hamming

    monkeypatch.setattr(hamming, "_MIN_THREAD_WORK", 1 << 20)  # so that one query over `db` is split
    rng = np.random.default_rng(0)
    table = rng.standard_normal((500, 48)).astype(np.float32)
    db = rng.integers(0, 256, (40_000, 32), dtype=np.uint8)  # big enough to split one query over threads
    jobs: list[Callable[[], Any]] = []
    for j in range(THREADS * 2):
        lengths = rng.integers(0, 40, 300 + j)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        ids = rng.integers(0, 500, offsets[-1])
        q = rng.integers(0, 256, (1 + j % 3, 32), dtype=np.uint8)
        x = rng.standard_normal((5 + j, 100))
        jobs += [
            lambda ids=ids, offsets=offsets: fe.gather_mean(table, ids, offsets, num_threads=2),
            lambda ids=ids, offsets=offsets: fe.gather_mean(table.astype(np.float16), ids, offsets,
                                                            normalize=True, num_threads=3),
            lambda q=q: fe.hamming_topk(q, db, 10, num_threads=2),
            lambda q=q: fe.hamming_distance(q, db[:2000], num_threads=2),
            lambda x=x: fe.unpack_bits(fe.pack_bits(x), 100),
        ]
    check(jobs)


def test_encode_from_many_threads(backend, model):
    texts = [" ".join(_models.SENTENCES[i % len(_models.SENTENCES)] for i in range(j, j + 5)) for j in range(40)]
    jobs: list[Callable[[], Any]] = []
    for j in range(THREADS * 2):
        chunk = texts[j : j + 10 + j]
        jobs += [
            lambda chunk=chunk: model.encode(chunk, num_threads=2),
            lambda chunk=chunk, j=j: model.encode(chunk, max_length=3 + j, batch_size=3),  # per-length tokenizers
            lambda chunk=chunk: model.encode(iter(chunk), precision="ubinary", dims=16),
            lambda chunk=chunk: model.tokenize(chunk),
        ]
    check(jobs)


@pytest.mark.parametrize("keep", ["float32", "int8", None])
def test_binary_index_search_from_many_threads(backend, keep):
    rng = np.random.default_rng(1)
    index = fe.BinaryIndex(64, keep=keep)
    index.add(rng.standard_normal((3000, 64)).astype(np.float32))
    jobs: list[Callable[[], Any]] = []
    for j in range(THREADS * 2):
        q = rng.standard_normal((1 + j, 64)).astype(np.float32)
        jobs.append(lambda q=q: index.search(q, 7, num_threads=2))
        jobs.append(lambda q=q: index.search(q, 3, dims=32, rescore=False))
    check(jobs)


def test_binary_index_concurrent_adds_lose_nothing(backend):
    rng = np.random.default_rng(2)
    parts = [rng.standard_normal((50, 24)).astype(np.float32) for _ in range(THREADS * 4)]
    index = fe.BinaryIndex(24, keep="int8", threshold="median")
    # adds race with searches and len(); every added row must end up in the index exactly once
    index.add(parts[0])
    jobs = [lambda p=p: index.add(p) for p in parts[1:]] + [lambda: index.search(parts[0][:2], 1)] * 8
    run_concurrently(jobs, rounds=1)
    assert len(index) == 50 * len(parts)
    everything = np.concatenate(parts)
    _, ids = index.search(everything, 1, rescore_multiplier=len(index))
    # each vector finds its own row (rows are in the order the adds won the lock): a bijection
    assert sorted(ids[:, 0].tolist()) == list(range(len(everything)))


def test_wordpiece_fast_path_from_many_threads(backend):
    from fastembed_core.wordpiece import FastWordPiece

    fast = FastWordPiece.from_tokenizer(_models.tiny_tokenizer())
    texts = [s * (1 + i % 4) for i, s in enumerate(_models.SENTENCES * 30)] + ["[CLS] x", "Ünïcödé 日本 🙂"]
    jobs: list[Callable[[], Any]] = []
    for j in range(THREADS * 2):
        chunk = texts[j * 7 :] + texts[: j * 7]
        jobs.append(lambda chunk=chunk, j=j: fast.encode_flat(chunk, max_tokens=None if j % 2 else 5 + j,
                                                              drop_id=1 if j % 3 else None, num_threads=1 + j % 3))
    check(jobs)


def test_ternary_from_many_threads(backend):
    rng = np.random.default_rng(3)
    w = fe.ternarize(rng.standard_normal((300, 200)).astype(np.float32))
    lin = fe.TernaryLinear(w, rng.standard_normal(300).astype(np.float32))
    jobs: list[Callable[[], Any]] = []
    for j in range(THREADS * 2):
        x = rng.standard_normal((1 + 40 * (j % 3), 200)).astype(np.float32)
        lengths = rng.integers(0, 12, 50)
        offsets = np.r_[0, np.cumsum(lengths)]
        ids = rng.integers(0, 300, offsets[-1])
        jobs += [
            lambda x=x: fe.ternary_matmul(x, w, num_threads=2),
            lambda x=x: lin(x),
            lambda ids=ids, offsets=offsets: fe.ternary_gather_mean(w, ids, offsets, normalize=True, num_threads=2),
        ]
    check(jobs)
