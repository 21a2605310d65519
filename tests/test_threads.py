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


@pytest.mark.parametrize("width", [16, 32, 64])
def test_one_query_split_exact_with_ties_at_every_thread_count(backend, monkeypatch, width):
    # many equal distances straddling the range boundaries: the merged top-k must be the exact
    # (distance, smaller index) order of a single scan
    monkeypatch.setattr(binary, "_MIN_DB_CHUNK", 64)
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
