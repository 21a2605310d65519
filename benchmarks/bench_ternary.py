"""Ternary matmul and ternary gather-mean speed against numpy float32 and torch float32.

pytest-benchmark:  pytest benchmarks/bench_ternary.py --benchmark-only
Ratio table:       python benchmarks/bench_ternary.py [--rounds 30]

Everything runs on one thread: numpy's BLAS is pinned with threadpoolctl (and
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS = 1 are set before numpy is imported),
torch with torch.set_num_threads(1), the ternary kernels with num_threads=1.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import contextlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastembed_core as fe  # noqa: E402
from fastembed_core import _backend  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # the env vars above still pin OpenBLAS / OpenMP
    threadpool_limits = None

GEMV = (1, 2048, 2048)
GEMM = (4096, 384, 1536)
MINILM = [(4096, 384, 1536), (4096, 1536, 384), (4096, 384, 384), (1, 384, 1536)]
BITNET_I2S_MS = 0.058  # bitnet.cpp I2_S, 1x2048 @ 2048x2048, one EPYC 7V13 thread (published)


def problem(m, k, n, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((m, k), dtype=np.float32)
    w = r.standard_normal((n, k), dtype=np.float32)
    return x, w, fe.ternarize(w)


@pytest.fixture(autouse=True)
def one_blas_thread():
    if threadpool_limits is None:
        yield
    else:
        with threadpool_limits(limits=1):
            yield


@pytest.mark.parametrize("shape", [GEMV, GEMM], ids=["gemv-1x2048x2048", "gemm-4096x384x1536"])
def test_numpy_float32(benchmark, shape):
    x, w, _ = problem(*shape)
    benchmark.group = f"ternary-matmul-{'x'.join(map(str, shape))}"
    benchmark(lambda: x @ w.T)


@pytest.mark.parametrize("shape", [GEMV, GEMM], ids=["gemv-1x2048x2048", "gemm-4096x384x1536"])
def test_ternary_matmul(benchmark, backend, shape):
    if backend == "numpy" and shape == GEMM:
        pytest.skip("numpy reference is slow at GEMM size")
    x, _, tm = problem(*shape)
    benchmark.group = f"ternary-matmul-{'x'.join(map(str, shape))}"
    benchmark(lambda: fe.ternary_matmul(x, tm, num_threads=1))


@pytest.mark.parametrize("shape", MINILM, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["torch-linear", "ternary-module"])
def test_torch_linear(benchmark, shape, impl):
    torch = pytest.importorskip("torch")
    from fastembed_core.integrations.torch import TernaryLinearModule

    torch.set_num_threads(1)
    m, k, n = shape
    lin = torch.nn.Linear(k, n)
    mod = lin if impl == "torch-linear" else TernaryLinearModule.from_linear(lin, num_threads=1)
    x = torch.randn(m, k)
    benchmark.group = f"ternary-torch-{m}x{k}x{n}"
    with torch.no_grad(), _backend.using("compiled"):
        benchmark(lambda: mod(x))


def gather_problem(seed=0, vocab=29525, dim=256, bags=4000, mean_len=40):
    r = np.random.default_rng(seed)
    table = r.standard_normal((vocab, dim), dtype=np.float32)
    lens = r.integers(1, 2 * mean_len, size=bags)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = r.integers(0, vocab, size=off[-1]).astype(np.int64)
    return table, fe.ternarize(table), ids, off


def float_gather_numpy(table, ids, off):
    sums = np.add.reduceat(table[ids], off[:-1], axis=0)
    return sums / np.diff(off)[:, None].astype(np.float32)


@pytest.mark.parametrize("impl", ["float-numpy", "ternary"])
def test_gather(benchmark, backend, impl):
    if impl == "float-numpy" and backend == "numpy":
        pytest.skip("one float baseline is enough")
    table, tm, ids, off = gather_problem()
    benchmark.group = "ternary-gather-4000bags-dim256"
    if impl == "ternary":
        benchmark(lambda: tm.gather_mean(ids, off, normalize=True, num_threads=1))
    else:
        benchmark(lambda: float_gather_numpy(table, ids, off))


def _median_ms(fn, rounds: int) -> float:
    fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3)


def _interleaved_medians(fns: dict, rounds: int) -> dict:
    """Median ms of each callable, the rounds interleaved so machine noise hits them alike."""
    times: dict = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in times.items()}


def _warm_block_medians(fns: dict, rounds: int, block: int) -> dict:
    """Median ms per call of each callable, warm: blocks of ``block`` repeated calls, the blocks of
    the callables alternating round by round; the first call of each block (the one that finds the
    other callable's data in the caches) is not counted."""
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            fn()
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in times.items()}


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    limit = threadpool_limits(limits=1) if threadpool_limits else None
    R = args.rounds
    print(f"fastembed_core {fe.__version__}, backend {fe.BACKEND}; kernels: "
          f"{ {k: v['active'] for k, v in fe.capabilities().get('kernels', {}).items() if k.startswith('ternary')} }")
    print(f"one thread everywhere (threadpoolctl={'yes' if limit else 'no'}, OPENBLAS_NUM_THREADS=1); medians of {R} rounds\n")
    mod = _backend.load("compiled") if fe.BACKEND == "compiled" else None
    variants = [v for v, ok in mod.kernel_variants()["ternary_matmul"]["variants"].items() if ok and v != "scalar"] if mod else [None]
    print("GEMV 'warm': alternating blocks of 20 repeated calls, each side's data in cache (as in a loop "
          "of calls on one layer); 'cold': one call each, interleaved, so numpy's 16 MB matmul evicts the 1 MB "
          "of ternary weights from L2 before every ternary call, while numpy's own 16 MB never fit in L2.\n")
    print("| problem | variant | numpy float32 ms | ternary ms | speed-up |\n|---|---|---|---|---|")
    for shape, rounds in ((GEMV, R * 10), (GEMM, max(3, R // 5))):
        x, w, tm = problem(*shape)
        fns = {"numpy": lambda: x @ w.T, "ternary": lambda: fe.ternary_matmul(x, tm, num_threads=1)}
        for v in variants:  # the variant is selected outside the timed calls
            with _backend.variant("ternary_matmul", v) if v else contextlib.nullcontext():
                if shape == GEMV:
                    runs = [("warm", _warm_block_medians(fns, max(3, rounds // 20), 20)),
                            ("cold", _interleaved_medians(fns, rounds))]
                else:
                    runs = [("", _interleaved_medians(fns, rounds))]
            for how, med in runs:
                a, b = med["numpy"], med["ternary"]
                label = f"ternary_matmul {'x'.join(map(str, shape))}{' ' + how if how else ''}"
                print(f"| {label} | {v or fe.BACKEND} | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
                if shape == GEMV:
                    m, k, n = shape
                    gops = 2 * m * k * n / (b * 1e-3) / 1e9
                    print(f"|  ... GOPS (2*m*k*n / time); bitnet.cpp I2_S published {BITNET_I2S_MS:.3f} ms "
                          f"({2 * m * k * n / (BITNET_I2S_MS * 1e-3) / 1e9:.0f} GOPS, different CPU) | "
                          f"{v or fe.BACKEND} | | {gops:.0f} GOPS | |")
            if shape == GEMV and mod is not None:  # the C kernel alone, through the fused binding
                out = np.empty((1, shape[2]), np.float32)
                d = None
                with _backend.variant("ternary_matmul", v):
                    il = tm._gemv_layout()  # what ternary_matmul passes (None where unused)
                    c = _median_ms(lambda: mod.ternary_linear(x, tm.packed, tm.row_scales, out, il), rounds)
                    if mod.ternary_gemv_layout_used():
                        d = _median_ms(lambda: mod.ternary_linear(x, tm.packed, tm.row_scales, out), rounds)
                print(f"|  ... kernel binding alone (quantize + matmul, no Python checks), warm | {v} | | {c:.3f} | |")
                if d is not None:
                    print(f"|  ... the same without the GEMV layout (blocks of the packed rows) | {v} | | {d:.3f} | |")
        print(f"|  ... weight bytes | float32 {w.nbytes} | | ternary {tm.nbytes} | 1/{w.nbytes / tm.nbytes:.1f} |")
    try:
        import torch

        from fastembed_core.integrations.torch import TernaryLinearModule

        torch.set_num_threads(1)
        for m, k, n in MINILM:
            lin = torch.nn.Linear(k, n)
            mod = TernaryLinearModule.from_linear(lin, num_threads=1)
            x = torch.randn(m, k)
            rounds = R * 10 if m == 1 else max(3, R // 5)
            with torch.no_grad():
                a = _median_ms(lambda: lin(x), rounds)
                b = _median_ms(lambda: mod(x), rounds)
            print(f"| torch adapter {m}x{k}x{n} | torch float32 Linear | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
    except ImportError:
        print("| torch adapter | torch not installed | | | |")
    table, tm, ids, off = gather_problem()
    a = _median_ms(lambda: float_gather_numpy(table, ids, off), max(3, R // 5))
    b = _median_ms(lambda: tm.gather_mean(ids, off, normalize=True, num_threads=1), max(3, R // 5))
    print(f"| ternary gather-mean 4000 bags x ~40 ids, dim 256 | numpy float32 reduceat | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
    with _backend.using("numpy"):
        c = _median_ms(lambda: tm.gather_mean(ids, off, normalize=True, num_threads=1), 1)
    print(f"| ternary gather-mean, compiled vs numpy reference | numpy reference | {c:.1f} | {b:.3f} | {c / b:.0f}x |")


if __name__ == "__main__":
    main()
