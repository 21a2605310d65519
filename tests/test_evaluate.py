"""Retrieval metrics (docs/retrieval-protocol.md) on synthetic data whose answers are computed by hand."""

from __future__ import annotations

import gzip
import json
import math
import random

import numpy as np
import pytest

from fastembed_core import evaluate as ev


def test_ranks_count_strictly_higher_scores():
    scores = np.array([
        [0.9, 0.1, 0.2],   # own doc best -> 0
        [0.5, 0.5, 0.7],   # tie with doc 0 does not count, doc 2 higher -> 1
        [0.8, 0.9, 0.1],   # two higher -> 2
    ])
    assert ev.ranks_from_scores(scores).tolist() == [0, 1, 2]


def test_ranks_reject_non_square():
    with pytest.raises(ValueError, match="square"):
        ev.ranks_from_scores(np.zeros((2, 3)))


def test_metrics_known_values():
    ranks = np.array([0, 1, 9, 10])
    m = ev.metrics_from_ranks(ranks)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(11) + 0) / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 0) / 4)
    assert m["recall@1"] == 0.25
    assert m["recall@10"] == 0.75


def _brute_ranks(q, d):
    """Independent oracle: loops, cosine, count strictly greater."""
    out = []
    for i in range(len(q)):
        sims = [float(np.dot(q[i], d[j]) / (np.linalg.norm(q[i]) * np.linalg.norm(d[j]))) for j in range(len(d))]
        out.append(sum(s > sims[i] + 1e-9 for s in sims))
    return out


def test_float_ranks_match_bruteforce():
    rng = np.random.default_rng(1)
    d = rng.standard_normal((50, 16)).astype(np.float32)
    q = d + rng.standard_normal((50, 16)).astype(np.float32) * 1.5
    assert ev.retrieval_ranks(q, d).tolist() == _brute_ranks(q, d)


def test_identical_vectors_give_perfect_scores():
    x = np.eye(5, dtype=np.float32)
    m = ev.metrics_from_ranks(ev.retrieval_ranks(x, x))
    assert m == {"ndcg@10": 1.0, "mrr@10": 1.0, "recall@1": 1.0, "recall@10": 1.0}


def test_binary_ranks_use_hamming():
    # 8-dim sign codes: query i matches doc i in all bits except i bits
    d = np.where(np.random.default_rng(0).random((6, 8)) > 0.5, 1.0, -1.0).astype(np.float32)
    q = d.copy()
    q[1, :3] *= -1  # doc 1 is at distance 3 from query 1
    ham = np.array([[np.sum((qi > 0) != (dj > 0)) for dj in d] for qi in q])
    expected = [(ham[i] < ham[i, i]).sum() for i in range(len(q))]
    assert ev.retrieval_ranks(q, d, precision="binary").tolist() == expected
    assert ev.retrieval_ranks(q, d, precision="ubinary").tolist() == expected


def test_rescore_with_every_candidate_equals_float():
    rng = np.random.default_rng(2)
    d = rng.standard_normal((40, 32)).astype(np.float32)
    q = d + rng.standard_normal((40, 32)).astype(np.float32)
    full = ev.retrieval_ranks(q, d, precision="binary", rescore=4)  # 10*4 = 40 candidates = all docs
    assert full.tolist() == ev.retrieval_ranks(q, d).tolist()


def test_rescore_outside_candidates_ranks_last():
    rng = np.random.default_rng(3)
    d = rng.standard_normal((100, 16)).astype(np.float32)
    q = -d  # own doc is the worst by Hamming: never a candidate
    ranks = ev.retrieval_ranks(q, d, precision="binary", rescore=1)
    assert (ranks == 10).all()


def _refined_ranks(q, d, n_cand, refine, rescore):
    """Oracle of the refining stage: Hamming top n_cand * refine (ties by index), the best n_cand by
    cos(q, 2b - 1), then (rescore) by cosine; the own doc's rank among them, n_cand if absent."""
    qb, db = q > 0, d > 0
    pm = np.where(db, 1.0, -1.0)
    out = []
    for i in range(len(q)):
        ham = (qb[i] != db).sum(axis=1)
        cand = np.lexsort((np.arange(len(d)), ham))[: n_cand * refine]
        asym = (pm[cand] @ q[i]).astype(np.float64)
        cand = cand[np.lexsort((cand, -asym))[:n_cand]]
        if rescore:
            s = (d[cand] @ q[i]) / np.linalg.norm(d[cand], axis=1)
        else:
            s = pm[cand] @ q[i]
        own = np.flatnonzero(cand == i)
        out.append(int((s > s[own[0]] + 1e-6).sum()) if len(own) else n_cand)
    return out


def test_refine_follows_the_funnel_and_defaults_to_the_protocol():
    rng = np.random.default_rng(5)
    d = rng.standard_normal((300, 32)).astype(np.float32)
    q = d + rng.standard_normal((300, 32)).astype(np.float32) * 1.2
    plain = ev.retrieval_ranks(q, d, precision="binary", rescore=2)
    assert plain.tolist() == ev.retrieval_ranks(q, d, precision="binary", rescore=2, refine=1).tolist()
    refined = ev.retrieval_ranks(q, d, precision="binary", rescore=2, refine=4)
    assert refined.tolist() == _refined_ranks(q, d, 20, 4, rescore=True)
    assert refined.tolist() != plain.tolist()
    alone = ev.retrieval_ranks(q, d, precision="binary", refine=3)
    assert alone.tolist() == _refined_ranks(q, d, 10, 3, rescore=False)
    # on these vectors the float query against the codes finds the own doc more often than Hamming alone
    hamming = ev.metrics_from_ranks(ev.retrieval_ranks(q, d, precision="binary"))["ndcg@10"]
    assert ev.metrics_from_ranks(alone)["ndcg@10"] > hamming


def test_dims_truncate_then_renormalize():
    rng = np.random.default_rng(4)
    d = rng.standard_normal((30, 12)).astype(np.float32)
    q = d + rng.standard_normal((30, 12)).astype(np.float32)
    assert ev.retrieval_ranks(q, d, dims=4).tolist() == _brute_ranks(q[:, :4], d[:, :4])
    with pytest.raises(ValueError, match="dims"):
        ev.retrieval_ranks(q, d, dims=13)


def test_int8_is_close_to_float():
    rng = np.random.default_rng(5)
    d = rng.standard_normal((200, 64)).astype(np.float32)
    q = d + rng.standard_normal((200, 64)).astype(np.float32)
    f = ev.metrics_from_ranks(ev.retrieval_ranks(q, d))["ndcg@10"]
    i8 = ev.metrics_from_ranks(ev.retrieval_ranks(q, d, precision="int8"))["ndcg@10"]
    assert abs(f - i8) < 0.02


def test_unknown_precision():
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="precision"):
        ev.retrieval_ranks(x, x, precision="float8")


def _write_jsonl(path, rows, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def test_load_pairs_follows_protocol(tmp_path):
    rows = [{"query": f"q{i}", "doc": f"d{i}", "package": str(i)} for i in range(30)]
    path = tmp_path / "x.jsonl.gz"
    _write_jsonl(path, rows, gz=True)
    expected = list(rows)
    random.Random(0).shuffle(expected)
    queries, docs = ev.load_pairs(path, limit=7)
    assert queries == [r["query"] for r in expected[:7]]
    assert docs == [r["doc"] for r in expected[:7]]
    assert len(ev.load_pairs(path, limit=None)[0]) == 30


@pytest.mark.parametrize("content, match", [
    ('{"query": "a", "doc": "b"}\n{not json}\n', "x.jsonl:2: malformed JSON"),
    ('{"query": "a"}\n', "field 'doc'"),
    ('[1, 2]\n', "JSON object"),
    ("", "no rows"),
])
def test_load_pairs_errors(tmp_path, content, match):
    path = tmp_path / "x.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        ev.load_pairs(path)


def test_evaluate_with_callable_encoder(tmp_path):
    # one-hot encoder over a fixed vocabulary of pair ids: queries and docs of pair i collide exactly
    rows = [{"query": f"topic{i} question", "doc": f"topic{i} answer"} for i in range(20)]
    path = tmp_path / "pairs.jsonl"
    _write_jsonl(path, rows)

    def encoder(texts):
        out = np.zeros((len(texts), 20), dtype=np.float32)
        for row, t in enumerate(texts):
            out[row, int(t.split()[0][5:])] = 1.0
        return out

    m = ev.evaluate(encoder, path)
    assert m["ndcg@10"] == 1.0 and m["n"] == 20
    m = ev.evaluate(encoder, (["topic1 q", "topic2 q"], ["topic2 d", "topic1 d"]))
    assert m["recall@1"] == 0.0 and m["recall@10"] == 1.0
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))


def test_evaluate_argument_errors():
    enc = lambda texts: np.ones((len(texts), 2), dtype=np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="precision"):
        ev.evaluate(enc, (["a"], ["b"]), precision="fp4")
    with pytest.raises(ValueError, match="rescore"):
        ev.evaluate(enc, (["a"], ["b"]), rescore=2)
    with pytest.raises(ValueError, match="refine applies to precision='binary'"):
        ev.evaluate(enc, (["a"], ["b"]), refine=2)
    with pytest.raises(ValueError, match="refine must be None or a positive integer"):
        ev.evaluate(enc, (["a"], ["b"]), precision="binary", refine=0)
    with pytest.raises(ValueError, match="ternary"):
        ev.evaluate(enc, (["a"], ["b"]), precision="ternary")
    with pytest.raises(TypeError, match="encode"):
        ev.evaluate(object(), (["a"], ["b"]))


def test_dev_data_protocol_size(dev_rows):
    assert len(dev_rows) > 4000
    rows = list(dev_rows)
    random.Random(0).shuffle(rows)
    queries, _ = ev.load_pairs(__import__("conftest").DATA)
    assert queries == [r["query"] for r in rows[:4000]]
