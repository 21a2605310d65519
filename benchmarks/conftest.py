"""Shared pytest-benchmark setup for every kernel suite.

Run:      pytest benchmarks --benchmark-only
Gates: benchmarks/README.md (instruction counts: benchmarks/gate.py; wall clock: base vs head in one job).
Benchmarks are grouped by problem (``group=``) so pytest-benchmark prints peers side by side.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import pytest

from fastembed_core import _backend

_FULL = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
_SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "debian-descriptions-sample.jsonl.gz"
DATA = Path(os.environ.get("FASTEMBED_CORE_DEV_DATA", _FULL if _FULL.exists() else _SAMPLE))


def backends() -> list[str]:
    try:
        _backend.load("compiled")
        return ["compiled", "numpy"]
    except ImportError:
        return ["numpy"]


@pytest.fixture(params=backends())
def backend(request):
    with _backend.using(request.param):
        yield request.param


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    """The dev data shuffled as in docs/retrieval-protocol.md (Random(0)); skips when absent."""
    if not DATA.exists():
        pytest.skip(f"dev data not found at {DATA}")
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    return rows


@pytest.fixture(scope="session")
def dev_docs(dev_rows) -> list[str]:
    return [r["doc"] for r in dev_rows]


@pytest.fixture(scope="session")
def dev_queries(dev_rows) -> list[str]:
    return [r["query"] for r in dev_rows]
