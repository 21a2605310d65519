"""``table_memory="rows"``: encode copies the rows it gathers into private memory (gather.RowCache) and
keeps none of the table's pages mapped; the vectors stay the bits of the mapped table's.
(The private-memory figures of a 250k-piece model: ``benchmarks/bench_unigram.py memory``.)"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import _models
from fastembed_core import StaticModel, ternarize

TEXTS = _models.SENTENCES + ["", "zzzz unknownword", "fox " * 40]


@pytest.fixture(scope="module", params=[
    dict(), dict(weights=True, mapping=True), dict(dtype="float16", weights=True), dict(dtype="int8", mapping=True),
], ids=["f32", "f32-weights-mapping", "f16-weights", "int8-mapping"])
def model_dir(request, tmp_path_factory):
    return _models.make_tiny_model(tmp_path_factory.mktemp("rows") / "m", **request.param)


def test_rows_give_the_mapped_tables_vectors(model_dir, backend):
    mapped = StaticModel.from_pretrained(model_dir)
    rows = StaticModel.from_pretrained(model_dir, table_memory="rows")
    assert rows.table_memory == "rows" and len(rows._rows) == 0
    # the first call copies rows, later calls add the rows of new tokens only
    for texts in (TEXTS[:2], TEXTS, TEXTS[::-1], ["fox"]):
        for kw in (dict(), dict(dims=5), dict(normalize=False), dict(num_threads=2, batch_size=3)):
            assert rows.encode(texts, **kw).tobytes() == mapped.encode(texts, **kw).tobytes(), (texts, kw)
    # a table truncated at load (a strided view of the file) copies its first columns only
    cut = StaticModel.from_pretrained(model_dir, dims=7, table_memory="rows")
    assert cut._rows.rows.shape[1] == 7
    assert cut.encode(TEXTS).tobytes() == StaticModel.from_pretrained(model_dir, dims=7).encode(TEXTS).tobytes()


def test_rows_held_are_the_distinct_rows_gathered(model_dir, backend):
    model = StaticModel.from_pretrained(model_dir, table_memory="rows")
    seen: set[int] = set()
    for texts in (TEXTS[:3], TEXTS[:3], TEXTS):
        ids, _ = model.tokenize(texts)
        seen |= set((ids if model.mapping is None else model.mapping[ids]).tolist())
        model.encode(texts)
        assert len(model._rows) == len(seen)
    slot = model._rows.mapping_for(np.array([], dtype=np.int32))
    tokens = np.flatnonzero(slot >= 0)  # the tokens seen, each with the copy of its row
    assert set(tokens.tolist()) == set(np.concatenate([model.tokenize(TEXTS)[0]]).tolist())
    src = tokens if model.mapping is None else model.mapping[tokens]
    np.testing.assert_array_equal(model._rows.rows[slot[tokens]], model.table[src])


def test_threads_filling_the_cache_at_once_agree(model_dir, backend):
    mapped = StaticModel.from_pretrained(model_dir)
    model = StaticModel.from_pretrained(model_dir, table_memory="rows")
    parts = [TEXTS[i::4] for i in range(4)] * 2
    got: dict[int, bytes] = {}

    def work(i: int) -> None:
        got[i] = model.encode(parts[i], num_threads=1).tobytes()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[i] == mapped.encode(p, num_threads=1).tobytes() for i, p in enumerate(parts))


def _table_rss_kb(path: Path) -> int:
    """Rss of this process's mappings of ``path`` (from /proc/self/smaps)."""
    return sum(int(f[1]) for f in _models.smaps_fields(path) if f[0] == "Rss:")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc (Linux)")
def test_rows_keep_no_table_page_mapped(tmp_path, backend):
    # 4 KB rows: every gathered row is a page of the file while it is mapped
    out = {}
    for mode in ("mapped", "rows"):
        path = _models.make_tiny_model(tmp_path / mode, dim=1024)
        model = StaticModel.from_pretrained(path, table_memory=mode)
        model.encode(TEXTS)
        out[mode] = _table_rss_kb((path / "model.safetensors").resolve())
    assert out["mapped"] >= 4 * 20 and out["rows"] == 0, out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_rows(tmp_path, backend):
    """The cache is private memory: rows a child appends after fork never land in the parent's slots."""
    path = _models.make_tiny_model(tmp_path / "m", weights=True)
    mapped = StaticModel.from_pretrained(path)
    model = StaticModel.from_pretrained(path, table_memory="rows")
    model.encode(TEXTS[:1])
    go_r, go_w = os.pipe()
    with model._rows._lock:  # as if another thread were copying rows at fork time: the child gets a new lock
        pid = os.fork()
        if pid == 0:  # child: wait until the parent has appended its rows, then append others at the same slots
            ok = False
            try:
                signal.alarm(60)  # a deadlock on the inherited lock ends the child, not the test run
                os.read(go_r, 1)
                ok = model.encode(TEXTS[4:]).tobytes() == mapped.encode(TEXTS[4:]).tobytes()
            finally:
                os._exit(0 if ok else 3)
    model.encode(TEXTS[1:4])
    os.write(go_w, b"x")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert model.encode(TEXTS[1:4]).tobytes() == mapped.encode(TEXTS[1:4]).tobytes()


def test_rows_model_pickles(model_dir, backend):
    model = StaticModel.from_pretrained(model_dir, table_memory="rows")
    want = model.encode(TEXTS)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.table_memory == "rows" and len(clone._rows) == 0
    assert clone.encode(TEXTS).tobytes() == want.tobytes()


def test_bad_table_memory(model_dir):
    with pytest.raises(ValueError, match="table_memory must be one of"):
        StaticModel.from_pretrained(model_dir, table_memory="disk")
    model = StaticModel.from_pretrained(model_dir)
    with pytest.raises(ValueError, match="TernaryMatrix"):
        StaticModel(ternarize(np.asarray(model.table, dtype=np.float32)), model.tokenizer, mapping=model.mapping,
                    table_memory="rows")
