"""Results never depend on the thread count: encode end to end, and the 1-query database split."""

from __future__ import annotations

import numpy as np
import pytest

import fastembed_core as fe
from fastembed_core import binary

TEXTS = [f"package {i}: a tool for {'fast ' * (i % 7)}text number {i * 7919 % 1000} über café ☃" for i in range(700)]


@pytest.fixture(scope="module")
def default_model():
    from fastembed_core.models import default_model_path

    try:
        return fe.StaticModel.from_pretrained(default_model_path())
    except FileNotFoundError as e:
        pytest.skip(str(e))


def test_encode_identical_across_thread_counts(backend, default_model):
    one = default_model.encode(TEXTS, num_threads=1)
    for t in (2, 3, 8):
        np.testing.assert_array_equal(default_model.encode(TEXTS, num_threads=t), one)
    one = default_model.encode(TEXTS, num_threads=1, precision="ubinary")
    np.testing.assert_array_equal(default_model.encode(TEXTS, num_threads=2, precision="ubinary"), one)


def test_encode_chunks_identical_and_report_the_global_item(backend, default_model):
    # encode splits a long sequence into per-thread chunks (at most batch_size texts each)
    texts = TEXTS * 2
    one = default_model.encode(texts, num_threads=1, batch_size=300)
    for t, bs in ((2, 300), (3, 7), (2, 5000)):
        np.testing.assert_array_equal(default_model.encode(texts, num_threads=t, batch_size=bs), one)
    with pytest.raises(TypeError, match="item 1001 is NoneType"):
        default_model.encode(texts[:1001] + [None], num_threads=2)


def test_run_tasks_runs_each_once_and_raises_the_first_failure():
    from fastembed_core import _parallel

    seen = []
    _parallel.run_tasks(seen.append, 50, 3)
    assert sorted(seen) == list(range(50))

    def fail(i):
        if i in (3, 7):
            raise KeyError(i)

    for threads in (1, 2, 4):  # tasks start in order and a started task finishes: 3 always fails
        with pytest.raises(KeyError) as e:
            _parallel.run_tasks(fail, 10, threads)
        assert e.value.args[0] == 3


@pytest.mark.parametrize("width", [16, 32, 64])
def test_one_query_split_exact_with_ties_at_every_thread_count(backend, monkeypatch, width):
    # many equal distances straddling the range boundaries: the merged top-k must be the exact
    # (distance, smaller index) order of a single scan
    monkeypatch.setattr(binary, "_MIN_DB_CHUNK", 64)
    monkeypatch.setattr(binary, "_MIN_THREAD_WORK", 1)
    rng = np.random.default_rng(width)
    db = np.zeros((1000, width), np.uint8)
    db[:, 0] = rng.integers(0, 4, 1000, dtype=np.uint8)
    q = db[17].copy()
    ref = fe.hamming_topk(q, db, 300, num_threads=1)
    bits = np.unpackbits(db ^ q, axis=1).sum(axis=1)
    order = np.argsort(bits, kind="stable")[:300]
    np.testing.assert_array_equal(ref[1], order)
    for t in (2, 3, 5, 16):
        d, i = fe.hamming_topk(q, db, 300, num_threads=t)
        np.testing.assert_array_equal(d, ref[0])
        np.testing.assert_array_equal(i, ref[1])
