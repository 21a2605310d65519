"""Importing from a source checkout whose extension is not built warns once, saying what to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checkout_without_extension(tmp_path: Path, *, checkout: bool) -> Path:
    shutil.copytree(ROOT / "fastembed_core", tmp_path / "fastembed_core",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "_kernels.c", "__pycache__", "models"))
    shutil.copytree(ROOT / "fastembed_core" / "models", tmp_path / "fastembed_core" / "models")
    if checkout:
        (tmp_path / "setup.py").write_text("")
        (tmp_path / "csrc").mkdir()
    return tmp_path


def _import(cwd: Path, backend: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FASTEMBED_CORE_BACKEND")}
    if backend:
        env["FASTEMBED_CORE_BACKEND"] = backend
    # An editable install (pip install -e) maps fastembed_core._kernels to its own tree whatever the package's
    # __path__: drop its finder so that the copy in `cwd` is what gets imported, as in a plain checkout.
    # (setuptools installs the finder class itself, not an instance: look at its own __module__.)
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path\n"
            "    if '__editable__' not in str(getattr(f, '__module__', '')) + type(f).__module__]\n"
            "import fastembed_core as f, fastembed_core.pooling; print(f.BACKEND, f.__file__)")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def test_source_checkout_without_extension_warns_once(tmp_path):
    proc = _import(_checkout_without_extension(tmp_path, checkout=True))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("numpy " + str(tmp_path))
    assert proc.stderr.count("RuntimeWarning") == 1
    assert "pip install -e ." in proc.stderr and "build_ext --inplace" in proc.stderr


def test_no_warning_when_not_a_checkout_or_numpy_is_asked_for(tmp_path):
    plain = _import(_checkout_without_extension(tmp_path / "a", checkout=False))
    assert plain.returncode == 0 and plain.stdout.startswith("numpy") and "Warning" not in plain.stderr
    forced = _import(_checkout_without_extension(tmp_path / "b", checkout=True), backend="numpy")
    assert forced.returncode == 0 and forced.stdout.startswith("numpy") and "Warning" not in forced.stderr
