"""The C benchmark loops of benchmarks/c/ still build against csrc/ (nothing else compiles them), and
ternary_gemv.c's two layouts agree under the variant this CPU dispatches to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import fastembed_core as fe

ROOT = Path(__file__).resolve().parent.parent
CSRC = ["csrc/ternary.c", "csrc/cpu.c", "csrc/gather.c", "csrc/hamming.c", "csrc/pool.c"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def build(tmp_path: Path, name: str, sources: list[str] = CSRC, libs: str = "-lm -pthread") -> Path:
    exe = tmp_path / name
    cmd = ["gcc", "-O2", "-Wall", "-Werror", "-Icsrc", "-o", str(exe), f"benchmarks/c/{name}.c", *sources, *libs.split()]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return exe


def test_hamming_scan_builds(tmp_path):
    assert build(tmp_path, "hamming_scan").exists()


def test_ternary_gemv_runs_and_layouts_agree(tmp_path):
    exe = build(tmp_path, "ternary_gemv")
    variant = fe.capabilities().get("kernels", {}).get("ternary_matmul", {}).get("active", "scalar")
    for m, n, k in ((1, 40, 300), (9, 33, 256)):
        r = subprocess.run([str(exe), variant, str(m), str(n), str(k)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr  # 1: the two layouts gave different outputs
        assert "with the GEMV layout" in r.stdout
    bad = subprocess.run([str(exe), "no_such_variant"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown" in bad.stderr


def test_core_ceiling_builds_and_rejects_bad_arguments(tmp_path):
    exe = build(tmp_path, "core_ceiling", sources=[], libs="-lpthread")
    for args, message in ((["1"], "threads must be"), (["2", "no_such_loop"], "unknown loop")):
        r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr, r.stderr
