"""Shared plumbing for the atheris harnesses in fuzz/.

A harness defines ``one_input(data: bytes)``; any exception not in its ``HANDLED`` tuple, an
assertion failure (a wrong result) or a crash of the process is a finding. ``main`` hands the
harness to atheris (libFuzzer flags such as ``-atheris_runs=N`` / ``-max_total_time=S`` pass
through) or, with ``--replay DIR_OR_FILE``, runs it once over saved inputs without atheris (what
the seed corpus check in the test suite uses).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # last: an installed fastembed_core (e.g. a wheel under test) wins
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Only these are "handled": the documented error types of the public API.
HANDLED = (ValueError, TypeError, OSError)


def instrumented_import():
    """Import fastembed_core with atheris coverage instrumentation of its Python code (if available)."""
    try:
        import atheris
    except ImportError:
        import fastembed_core

        return fastembed_core
    with atheris.instrument_imports(include=["fastembed_core"]):
        import fastembed_core
    return fastembed_core


def replay(one_input: Callable[[bytes], None], target: Path) -> int:
    files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
    for p in files:
        one_input(p.read_bytes())
    print(f"replayed {len(files)} inputs from {target}: no finding")
    return len(files)


def main(one_input: Callable[[bytes], None]) -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--replay":
        replay(one_input, Path(sys.argv[2]))
        return
    import atheris

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
