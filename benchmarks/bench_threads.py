"""Thread scaling: every threaded kernel and encode at 1, 2, ... threads, on one machine, in one run.

    python benchmarks/bench_threads.py [--rounds 7] [--threads 1,2] [--warm]

Prints, per case, the active kernel variant, the median time at each thread count and the speed-up
over one thread, then the same from per-thread CPU times (the CPU critical path: robust to other
jobs on the machine, an upper bound of the real scaling; see CpuPath). The cases are interleaved
round by round so machine noise hits them alike (and each case finds its data evicted by the
others: the 32 MB of codes of the top-k cases then come from DRAM); ``--warm`` runs each case's rounds
back to back instead (then the 8 MB top-k case reads its codes from the L3). The first case, a
256 MiB memory copy split the same way, is the machine's memory-bandwidth scaling: the ceiling of any
scan that streams from DRAM. Scaling is only meaningful on a quiet machine: a fixed single-threaded
loop is timed before and after, and the load average is read; the script says NOT QUIET (and still
prints its figures) when the loop slowed down by more than 10%, the load average exceeds half the
cores, or the control case (the same one-thread call timed in every column, interleaved with the others)
is more than 5% off 1.00x. Each case also shows the range of its per-round ratios. BLAS and OpenMP are pinned
to one thread so that only our own threads vary.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import fastembed_core as fe  # noqa: E402
from fastembed_core import _parallel  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data"


def spin_seconds() -> float:
    """Median time of a fixed single-threaded loop (pure Python and a small numpy kernel)."""
    a = np.arange(1 << 16, dtype=np.float64)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        s = 0
        for i in range(300_000):
            s += i & 7
        for _ in range(200):
            a.sum()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


class CpuPath:
    """Load-robust estimate of the scaling: per-thread CPU times of the work ranges.

    While active it wraps ``_parallel.run`` and ``_parallel.run_tasks`` and records, per dispatch,
    the CPU time (``time.thread_time``: user + system of that thread) each thread spent in its
    ranges. A call's critical path is its serial CPU time (the caller's CPU outside its own ranges)
    plus, per dispatch, the longest thread. On a loaded machine wall times mostly measure the
    scheduler, these do not; they ignore thread wake-up latency, time waiting for the GIL and the
    clock and memory-bandwidth effects of running both cores, so they bound the real scaling from
    above.
    """

    def __init__(self) -> None:
        self.dispatches: list[list[float]] = []  # per dispatch: CPU seconds per thread, caller first

    def __enter__(self) -> "CpuPath":
        self._run, self._tasks = _parallel.run, _parallel.run_tasks
        run, tasks = self._run, self._tasks

        def traced_run(fn, n, num_threads, min_chunk=1):
            cpu: dict = {}

            def timed(a, b):
                t0 = time.thread_time()
                try:
                    return fn(a, b)
                finally:
                    cpu[a] = time.thread_time() - t0

            out = run(timed, n, num_threads, min_chunk)
            self.dispatches.append([cpu[a] for a in sorted(cpu)])  # range 0 runs on the caller
            return out

        def traced_tasks(fn, ntasks, num_threads):
            cpu: dict = {}
            caller = threading.get_ident()

            def timed(i):
                t0 = time.thread_time()
                try:
                    fn(i)
                finally:
                    k = threading.get_ident()
                    cpu[k] = cpu.get(k, 0.0) + time.thread_time() - t0

            mark = len(self.dispatches)
            tasks(timed, ntasks, num_threads)
            del self.dispatches[mark:]  # the one-thread runs inside the tasks are part of them
            self.dispatches.append([cpu.pop(caller, 0.0), *cpu.values()])

        _parallel.run, _parallel.run_tasks = traced_run, traced_tasks
        return self

    def __exit__(self, *exc) -> None:
        _parallel.run, _parallel.run_tasks = self._run, self._tasks

    def critical_path(self, fn) -> float:
        self.dispatches.clear()
        t0 = time.thread_time()
        fn()
        caller = time.thread_time() - t0
        serial = caller - sum(d[0] for d in self.dispatches)
        return serial + sum(max(d) for d in self.dispatches)


def load_texts(n: int) -> list[str]:
    paths = [DATA] if DATA.exists() else sorted(SAMPLE.glob("*.jsonl.gz"))
    texts: list[str] = []
    for p in paths:
        with gzip.open(p, "rt", encoding="utf-8") as f:
            texts.extend(json.loads(line)["doc"] for line in f)
    if not texts:
        raise SystemExit("no text data: need ../shared/data or tests/data")
    return (texts * (n // len(texts) + 1))[:n]


CONTROL = "control: one thread in both columns (gather_mean, 5k bags)"


def cases() -> dict:
    """name -> (kernel whose variant is printed, fn(num_threads))."""
    r = np.random.default_rng(0)
    db = r.integers(0, 256, (1_000_000, 32), dtype=np.uint8)
    q = r.integers(0, 256, (100, 32), dtype=np.uint8)
    table = r.standard_normal((30_000, 256), dtype=np.float32)
    lens = r.integers(1, 80, size=20_000)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = r.integers(0, table.shape[0], size=int(off[-1])).astype(np.int32)
    x = r.standard_normal((4096, 384), dtype=np.float32)
    tm = fe.ternarize(r.standard_normal((1536, 384), dtype=np.float32))
    src = np.ones(32 << 20, np.float64)  # 256 MiB
    dst = np.empty_like(src)

    def copy(t: int) -> None:  # numpy releases the GIL in copyto: the machine's memory-bandwidth scaling
        _parallel.run(lambda a, b: np.copyto(dst[a:b], src[a:b]), len(src), t)

    out = {
        # The same one-thread call in both columns: its ratios are the noise of this run, nothing else.
        CONTROL: ("gather_mean", lambda t: fe.gather_mean(table, ids[:200_000], off[off <= 200_000], num_threads=1)),
        "memory copy 256 MiB (np.copyto in ranges: the bandwidth ceiling)": ("", copy),
        "top-k 1 query, 1M x 256-bit": ("hamming_topk", lambda t: fe.hamming_topk(q[0], db, 10, num_threads=t)),
        # The first 250k codes (8 MB) fit the L3 of the machines measured here (32 MB): with --warm this case
        # reads them from cache, where the 1M case streams from DRAM, i.e. how the scan itself scales.
        "top-k 1 query, 250k x 256-bit (8 MB)": (
            "hamming_topk", lambda t: fe.hamming_topk(q[0], db[:250_000], 10, num_threads=t)),
        "top-k 100 queries, 1M x 256-bit": ("hamming_topk", lambda t: fe.hamming_topk(q, db, 10, num_threads=t)),
        "gather_mean f32 20k bags x ~40, dim 256": (
            "gather_mean", lambda t: fe.gather_mean(table, ids, off, normalize=True, num_threads=t)),
        "ternary GEMM 4096x384 @ 384x1536": ("ternary_matmul", lambda t: fe.ternary_matmul(x, tm, num_threads=t)),
    }
    try:
        from fastembed_core.models import default_model_path

        model = fe.StaticModel.from_pretrained(default_model_path())
        texts = load_texts(20_000)
        out["encode default model, 20k Debian docs"] = ("gather_mean", lambda t: model.encode(texts, num_threads=t))
    except (FileNotFoundError, SystemExit) as e:
        print(f"encode skipped: {e}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1, 2, ... cores)")
    ap.add_argument("--warm", action="store_true",
                    help="run each case's rounds back to back (its data stays in cache, as in a service answering "
                         "one kind of call) instead of interleaving the cases (which evicts each other's data)")
    args = ap.parse_args()
    ncpu = _parallel.cpu_count()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, 2, ncpu} - {0})
    kernels = fe.capabilities().get("kernels", {})
    print(f"fastembed_core {fe.__version__}, backend {fe.BACKEND}, {ncpu} cores; threads {threads}; "
          f"medians of {args.rounds} rounds, " + ("each case's rounds back to back (--warm)" if args.warm
                                                   else "cases interleaved round by round"))
    spin0, load0 = spin_seconds(), os.getloadavg()[0]
    todo = cases()
    times: dict = {(name, t): [] for name in todo for t in threads}
    for name, (_, fn) in todo.items():
        for t in threads:
            fn(t)  # warm-up (thread pool, caches)
    # interleaved: round-major (every case once per round); --warm: case-major (threads still alternate)
    order = ([(name, fn) for name, (_, fn) in todo.items() for _ in range(args.rounds)] if args.warm
             else [(name, fn) for _ in range(args.rounds) for name, (_, fn) in todo.items()])
    # Interleaved, every call finds its data evicted (a 64 MB copy before it: the call before it may be the
    # same case at another thread count, which would leave the data in cache for one column only), and
    # the thread counts take turns going first.
    junk, sink = np.ones(8 << 20), np.empty(8 << 20)
    evict = (lambda: None) if args.warm else (lambda: np.copyto(sink, junk))
    for j, (name, fn) in enumerate(order):
        for t in threads if j % 2 == 0 else threads[::-1]:
            evict()
            t0 = time.perf_counter()
            fn(t)
            times[(name, t)].append(time.perf_counter() - t0)
    cpu_times: dict = {(name, t): [] for name in todo for t in threads}
    with CpuPath() as path:
        for j, (name, fn) in enumerate(order):
            for t in threads if j % 2 == 0 else threads[::-1]:
                evict()
                cpu_times[(name, t)].append(path.critical_path(lambda: fn(t)))
    spin1, load1 = spin_seconds(), os.getloadavg()[0]
    header = " | ".join(f"{t} thr ms" for t in threads)
    # Per round, the ratio of that round's 1-thread time to its N-thread time (the two ran back to back):
    # on a VM whose vCPUs the host sometimes places on one physical core, these split into two groups.
    print(f"\n| case | variant | {header} | " + " | ".join(f"{t} vs 1 | rounds (min-max)" for t in threads[1:]) + " |")
    print("|---" * (2 + len(threads) + 2 * (len(threads) - 1)) + "|")
    for name, (kernel, _) in todo.items():
        med = [statistics.median(times[(name, t)]) for t in threads]
        spans = []
        for t in threads[1:]:
            per = [a / b for a, b in zip(times[(name, threads[0])], times[(name, t)])]
            spans.append(f"{min(per):.2f}-{max(per):.2f}x")
        variant = kernels.get(kernel, {}).get("active", "numpy") if kernel else "numpy"
        print(f"| {name} | {variant} | " + " | ".join(f"{m * 1e3:.2f}" for m in med) + " | "
              + " | ".join(f"{med[0] / m:.2f}x | {sp}" for m, sp in zip(med[1:], spans)) + " |")
    print("\nCPU critical path (load-robust upper bound; see CpuPath): serial CPU + the longest thread per dispatch\n")
    print(f"| case | variant | {' | '.join(f'{t} thr CPU ms' for t in threads)} | "
          + " | ".join(f"{t} vs 1" for t in threads[1:]) + " |")
    print("|---" * (2 + 2 * len(threads) - 1) + "|")
    for name, (kernel, _) in todo.items():
        med = [statistics.median(cpu_times[(name, t)]) for t in threads]
        variant = kernels.get(kernel, {}).get("active", "numpy") if kernel else "numpy"
        print(f"| {name} | {variant} | " + " | ".join(f"{m * 1e3:.2f}" for m in med) + " | "
              + " | ".join(f"{med[0] / m:.2f}x" for m in med[1:]) + " |")
    drift = spin1 / spin0 - 1
    ctrl = [a / b for a, b in zip(times[(CONTROL, threads[0])], times[(CONTROL, threads[-1])])]
    ctrl_med = statistics.median(ctrl)
    quiet = abs(drift) <= 0.10 and max(load0, load1) <= ncpu / 2 and abs(ctrl_med - 1) <= 0.05
    print(f"\nquiet check: fixed loop {spin0 * 1e3:.1f} ms before, {spin1 * 1e3:.1f} ms after ({drift:+.0%}); "
          f"load average {load0:.2f} -> {load1:.2f} on {ncpu} cores; control {ctrl_med:.2f}x "
          f"(rounds {min(ctrl):.2f}-{max(ctrl):.2f}x, 1.00 on a steady machine): "
          + ("quiet" if quiet else "NOT QUIET - scaling figures are not reliable"))


if __name__ == "__main__":
    main()
