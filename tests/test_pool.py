"""The C worker pool (csrc/pool.h) through hamming_topk_split: equal to the unsplit scan for every
part count, under concurrent callers, after fork, with spinning off; bad arguments. Compiled only."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from fastembed_core import _backend
from fastembed_core._ref.hamming import hamming_topk as ref_topk

try:
    K = _backend.load("compiled")
except ImportError:  # pragma: no cover - numpy-only install
    K = None
pytestmark = pytest.mark.skipif(K is None, reason="needs the compiled extension")


def codes(rng, n, width):
    return rng.integers(0, 256, (n, width), dtype=np.uint8)


def split(q, db, k, parts):
    d, i = np.empty((len(q), k), np.int32), np.empty((len(q), k), np.int64)
    K.hamming_topk_split(q, db, k, parts, d, i)
    return d, i


def ref(q, db, k):
    d, i = np.empty((len(q), k), np.int32), np.empty((len(q), k), np.int64)
    ref_topk(q, db, k, 0, d, i)
    return d, i


@pytest.mark.parametrize("nq", [1, 3])
def test_every_part_count_equals_the_unsplit_scan(nq):
    rng = np.random.default_rng(0)
    q = codes(rng, nq, 16)
    db = codes(rng, 700, 16) & 0x0F  # few distinct distances: many ties, which must go to the smaller index
    for k in (1, 10, 40):
        want = ref(q, db, k)
        for parts in (1, 2, 3, 7, 17, 64):
            got = split(q, db, k, parts)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
    # more parts than rows, k larger than a part and than the database: padded (INT32_MAX, -1) slots
    got = split(q, db[:5], 8, 64)
    want = ref(q, db[:5], 8)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    # rows of a wider array (a Matryoshka prefix), read in place
    wide = codes(rng, 300, 64)
    np.testing.assert_array_equal(split(q, wide[:, :16], 5, 4)[1], ref(q, np.ascontiguousarray(wide[:, :16]), 5)[1])
    info = K.pool_info()
    assert info["available"] == (os.name != "nt") and info["max_parts"] == 64
    assert info["workers"] >= (63 if info["available"] else 0)


def test_concurrent_callers_get_their_own_results():
    rng = np.random.default_rng(1)
    dbs = [codes(rng, 5000, 32) for _ in range(8)]
    q = codes(rng, 2, 32)
    want = [ref(q, db, 10) for db in dbs]
    bad = []

    def caller(t):
        for r in range(30):
            d, i = split(q, dbs[t], 10, 2 + (t + r) % 5)
            if not (np.array_equal(d, want[t][0]) and np.array_equal(i, want[t][1])):
                bad.append((t, r))

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not bad


def _child(conn):
    rng = np.random.default_rng(2)
    q, db = codes(rng, 1, 32), codes(rng, 4000, 32)
    same = bool(np.array_equal(split(q, db, 7, 4)[1], ref(q, db, 7)[1]))
    conn.send((same, K.pool_info()["workers"]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_workers():
    rng = np.random.default_rng(2)
    q, db = codes(rng, 1, 32), codes(rng, 4000, 32)
    split(q, db, 7, 9)  # the parent has (at least) 8 workers, spinning
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(child,))
    p.start()
    p.join(60)
    assert not p.is_alive(), "the forked child hung"
    # the child forgets the parent's threads (they do not exist there) and starts the 3 it needs
    assert p.exitcode == 0 and parent.recv() == (True, 3)


def test_spinning_off_by_environment():
    code = ("import numpy as np; from fastembed_core import _backend; K = _backend.load('compiled'); "
            "from fastembed_core._ref.hamming import hamming_topk as r; g = np.random.default_rng(3); "
            "q = g.integers(0, 256, (1, 32), dtype=np.uint8); db = g.integers(0, 256, (3000, 32), dtype=np.uint8); "
            "d, i = np.empty((1, 5), np.int32), np.empty((1, 5), np.int64); e, j = d.copy(), i.copy(); "
            "[K.hamming_topk_split(q, db, 5, 2, d, i) for _ in range(50)]; r(q, db, 5, 0, e, j); "
            "assert (i == j).all() and (d == e).all(); print('ok')")
    for spin in ("0", "50", "junk"):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "FASTEMBED_CORE_SPIN_US": spin},
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_bad_arguments():
    q, db = np.zeros((1, 4), np.uint8), np.zeros((10, 4), np.uint8)
    d, i = np.empty((1, 3), np.int32), np.empty((1, 3), np.int64)
    for parts in (0, 65):
        with pytest.raises(ValueError, match=r"parts must be in \[1, 64\]"):
            K.hamming_topk_split(q, db, 3, parts, d, i)
    with pytest.raises(ValueError, match="different code widths"):
        K.hamming_topk_split(q, np.zeros((10, 5), np.uint8), 3, 2, d, i)
    with pytest.raises(ValueError, match="out_distances and out_indices must have shape"):
        K.hamming_topk_split(q, db, 4, 2, d, i)
