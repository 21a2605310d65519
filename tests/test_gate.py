"""The instruction-count gate (benchmarks/gate.py) passes on unchanged counts and fails on a rise."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GATE = Path(__file__).resolve().parents[1] / "benchmarks" / "gate.py"
if not GATE.exists():
    pytest.skip("benchmarks/ not present (installed-package run)", allow_module_level=True)
_spec = importlib.util.spec_from_file_location("gate", GATE)
gate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gate)


def test_compare_fails_only_above_the_threshold():
    base = {"a": 1000, "b": 1000, "c": 1000}
    failures, notes = gate.compare(base, {"a": 1030, "b": 1031, "c": 900}, 3.0)
    assert [f.split(":")[0] for f in failures] == ["b"]
    assert any(n.startswith("a:") for n in notes) and any("faster" in n for n in notes)


def test_compare_fails_on_a_workload_without_baseline():
    failures, _ = gate.compare({"a": 10}, {"a": 10, "new": 5})
    assert len(failures) == 1 and "new" in failures[0] and "--update" in failures[0]


def test_every_workload_has_a_committed_baseline():
    paths = sorted(gate.BASELINES.glob("callgrind-*.json"))
    assert paths, "no committed baseline"
    for p in paths:
        assert set(json.loads(p.read_text())["counts"]) == set(gate._WORKLOADS), p


def test_update_refuses_a_forced_variant():
    with pytest.raises(SystemExit):
        gate.main(["--update", "--force-variant", "scalar"])


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_gate_fails_on_the_scalar_kernel():
    """The deliberate regression: hamming_topk forced to its scalar variant executes several times the
    instructions of the baseline's SIMD variant, and the gate says so with a non-zero exit."""
    proc = subprocess.run([sys.executable, str(GATE), "--force-variant", "scalar", "--only", "hamming_topk_1q"],
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  hamming_topk_1q" in proc.stdout
