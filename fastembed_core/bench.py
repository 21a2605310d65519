"""The peer benchmark harness behind ``fastembed-core bench`` (also ``python -m fastembed_core.bench``).

It ships inside the package, so the command works from an installed wheel; the pytest-benchmark
suites and the regression gate live in the repository's ``benchmarks/`` (see its README). Each
operation is timed against the installed peers (model2vec, faiss, numpy, torch) in one run, as
medians of ``repeats`` runs after a warm-up: ratios, not absolute times, are what carry over
between machines.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["peer_rows", "synthetic_texts", "format_rows"]

Row = tuple[str, str, float, float]  # (operation, implementation, median seconds, peer time / ours)


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def synthetic_texts(n: int) -> list[str]:
    """``n`` sentences from a fixed word list (seeded): real tokenization work, no data files."""
    rng = np.random.default_rng(0)
    words = ("the of and to in is for on with as by an be this that from at or are it which file "
             "library package data tool support version system server client python module").split()
    return [" ".join(rng.choice(words, size=int(rng.integers(5, 60)))) for _ in range(n)]


def peer_rows(model: Any, texts: Sequence[str], *, codes: int = 200_000, repeats: int = 5,
              threads: int | None = None, progress: Callable[[str], None] | None = None) -> list[Row]:
    """Time encode, Hamming top-10 and gather_mean against their peers; one row per implementation.

    ``model``: a StaticModel; ``texts``: what encode embeds; ``codes``: database size of the
    Hamming search; ``progress(message)`` is called before each timing.
    """
    from . import _parallel
    from .gather import gather_mean
    from .hamming import hamming_topk

    threads = threads or _parallel.default_threads()
    texts = list(texts)
    rows: list[Row] = []
    cache: dict[str, Any] = {}

    def group(op: str, impls: list[tuple[str, Callable[[], Any]]]) -> None:
        times = []
        for name, fn in impls:
            if progress is not None:
                progress(f"{op}: {name}")
            try:
                times.append((name, median_time(fn, repeats)))
            except ImportError as exc:
                times.append((f"{name} (not installed: {exc.name})", float("nan")))
        ours = times[0][1]
        rows.extend((op, name, t, t / ours) for name, t in times)

    def m2v_encode() -> None:
        from .integrations.model2vec import to_model2vec

        if "m2v" not in cache:
            cache["m2v"] = to_model2vec(model)  # the same model, exported exactly (packed tables too)
        cache["m2v"].encode(texts, use_multiprocessing=False)

    group(f"encode {len(texts)} texts", [
        ("fastembed_core 1 thread", lambda: model.encode(texts, num_threads=1)),
        (f"fastembed_core {threads} threads", lambda: model.encode(texts, num_threads=threads)),
        ("model2vec encode", m2v_encode),
    ])

    rng = np.random.default_rng(0)
    db = rng.integers(0, 256, size=(codes, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(100, 32), dtype=np.uint8)

    def faiss_search() -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        if "faiss" not in cache:
            cache["faiss"] = faiss.IndexBinaryFlat(256)
            cache["faiss"].add(db)
        cache["faiss"].search(queries, 10)

    popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)

    def numpy_search() -> None:
        for q in queries:
            np.argpartition(popcount[np.bitwise_xor(db, q)].sum(1), 10)[:10]

    group(f"hamming top-10, 100 queries x {codes} x 256 bits", [
        ("fastembed_core hamming_topk 1 thread", lambda: hamming_topk(queries, db, 10, num_threads=1)),
        ("faiss IndexBinaryFlat 1 thread", faiss_search),
        ("numpy xor + popcount table", numpy_search),
    ])

    table = rng.standard_normal((30000, 256)).astype(np.float32)
    lengths = rng.integers(1, 200, size=4000)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(0, 30000, size=int(offsets[-1])).astype(np.int32)

    def torch_gather() -> None:
        import torch

        if "bag" not in cache:
            cache["bag"] = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(table), mode="mean")
            torch.set_num_threads(1)
        with torch.inference_mode():
            cache["bag"](torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(offsets[:-1]))

    group(f"gather_mean 4000 bags, {len(ids)} ids, 256 dims", [
        ("fastembed_core gather_mean 1 thread", lambda: gather_mean(table, ids, offsets, num_threads=1)),
        ("numpy take + reduceat", lambda: np.add.reduceat(table[ids], offsets[:-1], axis=0) / lengths[:, None]),
        ("torch EmbeddingBag(mean) 1 thread", torch_gather),
    ])
    return rows


def format_rows(rows: list[Row]) -> str:
    """The rows as a table grouped by operation: milliseconds and ratio to fastembed_core."""
    width = max(len(r[1]) for r in rows)
    lines: list[str] = []
    last = None
    for op, name, t, ratio in rows:
        if op != last:
            lines += ["", op]
            last = op
        shown = "      -" if t != t else f"{t * 1e3:9.2f} ms   x{ratio:6.2f}"
        lines.append(f"  {name:<{width}}  {shown}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
