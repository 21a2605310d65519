"""Deterministic benchmark gate: instruction counts of fixed small workloads under valgrind's callgrind.

    python benchmarks/gate.py                 check: fail (exit 1) when a workload's count rose > 3%
    python benchmarks/gate.py --update        rewrite benchmarks/baselines/callgrind-<variant>.json
    python benchmarks/gate.py --force-variant scalar   every kernel on its scalar variant, compared with
                                              the natural variant's baseline (the gate must fail: the
                                              test of the gate, tests/test_gate.py)
    python benchmarks/gate.py --only gather_f32,encode   a subset

Seconds are noise on a shared machine; executed instructions are not. Each workload runs once to warm up
(lazy tables, handles), then once more under measurement. What is counted: every instruction executed
inside the compiled extension's entry points (the Cython wrappers ``fastembed_core._kernels.*``: argument
conversion + the C kernels they call), on one thread. Python-level overhead around them is not gated
(its counts move with the interpreter and numpy versions).

The ``<variant>`` of the baseline file is the set of kernel variants the dispatcher picks under valgrind
(valgrind's virtual CPU has AVX2 but no AVX-512, so on x86-64 it is ``avx2``). A baseline is only ever
rewritten by ``--update``, so a reviewer sees every change of it in the diff. After a kernel change
that is meant to change the counts: ``python benchmarks/gate.py --update`` and commit the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINES = HERE / "baselines"
THRESHOLD_PCT = 3.0
# callgrind collects only inside these functions: the Python entry points of the extension.
TOGGLE = "__pyx_pw_14fastembed_core_8_kernels_*"
MARKER = "getppid"  # the child calls os.getppid() between workloads: callgrind dumps its counts there
SAMPLE = ROOT / "tests" / "data" / "debian-descriptions-sample.jsonl.gz"


# ---------------------------------------------------------------- workloads (run inside valgrind)

def _workload(name: str):
    """The zero-argument callable of workload ``name``, its inputs built here (outside the measured region)."""
    import gzip

    import numpy as np

    import fastembed_core as fe

    rng = np.random.default_rng(14)
    one = dict(num_threads=1)
    if name.startswith("gather_"):
        table = rng.standard_normal((20000, 256)).astype(np.float32)
        lengths = rng.integers(0, 40, 1000)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = rng.integers(0, len(table), int(offsets[-1])).astype(np.int32)
        if name == "gather_f16":
            table16 = table.astype(np.float16)
            return lambda: fe.gather_mean(table16, ids, offsets, **one)
        if name == "gather_i8":
            table8, scales = np.clip(table * 40, -127, 127).astype(np.int8), np.full(len(table), 1 / 40, np.float32)
            return lambda: fe.gather_mean(table8, ids, offsets, scales=scales, **one)
        return lambda: fe.gather_mean(table, ids, offsets, normalize=True, **one)
    if name.startswith("hamming_topk_"):
        nq, n = (1, 50000) if name == "hamming_topk_1q" else (100, 5000)
        db = rng.integers(0, 256, (n, 32), dtype=np.uint8)  # 256-bit codes
        queries = rng.integers(0, 256, (nq, 32), dtype=np.uint8)
        return lambda: fe.hamming_topk(queries, db, 10, **one)
    if name.startswith("ternary_"):
        m, k, n = (1, 1024, 1024) if name == "ternary_gemv" else (64, 384, 1536)
        w = fe.ternarize(rng.standard_normal((n, k)).astype(np.float32))
        x = rng.standard_normal((m, k)).astype(np.float32)
        return lambda: fe.ternary_matmul(x, w, **one)
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        rows = [json.loads(next(fh)) for _ in range(300)]
    texts = [r["doc"] for r in rows] + [r["query"] for r in rows]
    model = fe.StaticModel.default()
    if name == "tokenize":
        return lambda: model.tokenizer.encode(texts, **one)  # the WordPiece fast path
    assert name == "encode", name
    return lambda: model.encode(texts, **one)


def child(names: list[str], force: str | None, out: Path) -> None:
    from fastembed_core import _backend

    kernels = _backend.load("compiled").kernel_variants()
    active = {k: v["active"] for k, v in kernels.items()}
    if force:
        for k, v in kernels.items():
            if v["variants"].get(force):
                _backend.load("compiled").select_variant(k, force)
    work = {name: _workload(name) for name in names}
    for name in names:
        work[name]()  # warm-up (lazy tables and handles), not counted
    for name in names:
        os.getppid()  # callgrind dumps here (--dump-before): what follows up to the next one is `name`
        work[name]()
    os.getppid()
    out.write_text(json.dumps({"variant": "+".join(sorted(set(active.values()))), "active": active,
                               "forced": force, "names": names}))


# ---------------------------------------------------------------- the gate (runs valgrind)

def _dump_counts(prefix: Path) -> list[int]:
    """Instruction totals of callgrind's dumps ``prefix.1, prefix.2, ...`` in order."""
    counts = []
    for path in sorted(prefix.parent.glob(prefix.name + ".*"), key=lambda p: int(p.suffix[1:])):
        for line in path.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                counts.append(int(line.split()[1]))
                break
        else:
            counts.append(0)
    return counts


def measure(names: list[str], force: str | None = None) -> dict:
    """Run the workloads ``names`` once under callgrind: {"variant", "active", "counts": {name: Ir}}."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("gate.py needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        prefix, info = Path(tmp) / "cg.out", Path(tmp) / "info.json"
        cmd = [valgrind, "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={TOGGLE}",
               f"--dump-before={MARKER}", f"--callgrind-out-file={prefix}", "--dump-line=no",
               sys.executable, __file__, "--child", ",".join(names), "--info", str(info)]
        if force:
            cmd += ["--force-variant", force]
        env = dict(os.environ, PYTHONHASHSEED="0", FASTEMBED_CORE_BACKEND="compiled",
                   OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the workloads failed under valgrind (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        result = json.loads(info.read_text())
        counts = _dump_counts(prefix)
    # dump 1 ends at the first marker (setup and warm-ups), dump i + 1 is workload i.
    if len(counts) < len(names) + 1:
        raise SystemExit(f"expected {len(names) + 1} callgrind dumps, found {len(counts)}")
    result["counts"] = dict(zip(names, counts[1:len(names) + 1]))
    empty = [name for name, n in result["counts"].items() if n == 0]
    if empty:
        raise SystemExit(f"no instructions counted for {empty}: callgrind needs the extension's symbols; a stripped "
                         "build (a wheel) has none. Build in place: python setup.py build_ext --inplace")
    return result


def baseline_path(variant: str) -> Path:
    return BASELINES / f"callgrind-{variant}.json"


def compare(base: dict, now: dict, threshold_pct: float = THRESHOLD_PCT) -> tuple[list[str], list[str]]:
    """(failures, notes) of counts ``now`` against ``base`` ({name: instructions} each)."""
    failures, notes = [], []
    for name, n in now.items():
        b = base.get(name)
        if b is None:
            failures.append(f"{name}: no baseline (run python benchmarks/gate.py --update)")
            continue
        change = 100.0 * (n - b) / b if b else (0.0 if n == 0 else float("inf"))
        line = f"{name}: {b:,} -> {n:,} instructions ({change:+.2f}%)"
        if change > threshold_pct:
            failures.append(line + f" > +{threshold_pct:g}%")
        elif change < -threshold_pct:
            notes.append(line + " (faster: --update to lock it in)")
        else:
            notes.append(line)
    return failures, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--update", action="store_true", help="rewrite the baseline of this variant")
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--force-variant", help="run every kernel that has it on this variant (e.g. scalar)")
    ap.add_argument("--threshold", type=float, default=THRESHOLD_PCT, help="allowed rise, percent")
    ap.add_argument("--list", action="store_true", help="print the workload names")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--info", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child.split(","), args.force_variant, Path(args.info))
        return 0
    names = list(_WORKLOADS)
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - set(_WORKLOADS))
        if unknown:
            ap.error(f"--only: unknown workloads {unknown}; known: {', '.join(_WORKLOADS)}")
    if args.update and args.force_variant:
        ap.error("--update with --force-variant would store a deliberately slower baseline")
    result = measure(names, args.force_variant)
    path = baseline_path(result["variant"])
    print(f"variant {result['variant']}" + (f", forced {args.force_variant}" if args.force_variant else ""))
    if args.update:
        old = json.loads(path.read_text())["counts"] if path.exists() else {}
        counts = {**old, **result["counts"]} if args.only else result["counts"]
        BASELINES.mkdir(exist_ok=True)
        path.write_text(json.dumps({
            "what": "instructions inside fastembed_core._kernels entry points per workload "
                    "(benchmarks/gate.py, valgrind callgrind, 1 thread)",
            "variant": result["variant"], "active": result["active"],
            "python": platform.python_version(), "machine": platform.machine(),
            "counts": dict(sorted(counts.items())),
        }, indent=1) + "\n")
        for name, n in result["counts"].items():
            print(f"{name}: {n:,}")
        print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if not path.exists():
        print(f"no baseline {path.relative_to(ROOT)} for this variant: python benchmarks/gate.py --update")
        return 1
    failures, notes = compare(json.loads(path.read_text())["counts"], result["counts"], args.threshold)
    for line in notes:
        print("  ok  " + line)
    for line in failures:
        print("FAIL  " + line)
    print(f"gate: {len(failures)} of {len(names)} workloads above +{args.threshold:g}%"
          f" (baseline {path.relative_to(ROOT)})")
    return 1 if failures else 0


_WORKLOADS = ("gather_f32", "gather_f16", "gather_i8", "hamming_topk_1q", "hamming_topk_100q",
              "ternary_gemv", "ternary_gemm", "tokenize", "encode")

if __name__ == "__main__":
    sys.exit(main())
