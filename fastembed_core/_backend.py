"""Chooses the compiled or the numpy kernels, once, at import.

``FASTEMBED_CORE_BACKEND=numpy`` forces the numpy fallback; ``=compiled`` turns a missing
extension into an ImportError; unset (or ``auto``) uses the extension when it imports. Public
modules call ``_backend.kernels.<name>`` so that tests can switch backends with ``using()``.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType
from typing import TYPE_CHECKING, Iterator

_ENV = "FASTEMBED_CORE_BACKEND"
_choice = os.environ.get(_ENV, "auto").strip().lower() or "auto"
if _choice not in ("auto", "compiled", "numpy"):
    raise ImportError(f"{_ENV} must be 'compiled', 'numpy' or 'auto', not {_choice!r}")



def _warn_source_checkout(exc: ImportError) -> None:
    """Warn (once: at import) when the package comes from a source checkout with no built extension.

    Typically ``python`` started in the repository root after ``pip install .``: the source tree shadows
    the installed package and everything silently runs on the numpy fallback, ~25x slower.
    """
    import warnings
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if (root / "setup.py").is_file() and (root / "csrc").is_dir():
        warnings.warn(
            f"fastembed_core is imported from the source checkout {root} and its compiled extension is not "
            f"built there ({exc}), so it runs on the numpy fallback (much slower). Build it in place with "
            "`pip install -e .` (or `python setup.py build_ext --inplace`), or start Python outside the "
            "checkout to use the installed package. FASTEMBED_CORE_BACKEND=numpy silences this.",
            RuntimeWarning,
            stacklevel=3,
        )


if TYPE_CHECKING or _choice == "numpy":
    from . import _kernels_py as kernels

    BACKEND = "numpy"
else:
    try:
        from . import _kernels as kernels  # type: ignore[no-redef]

        BACKEND = "compiled"
    except ImportError as exc:
        if _choice == "compiled":
            raise ImportError(
                f"{_ENV}=compiled but the compiled extension fastembed_core._kernels did not import: {exc}"
            ) from exc
        from . import _kernels_py as kernels  # type: ignore[no-redef]

        BACKEND = "numpy"
        _warn_source_checkout(exc)


def load(name: str) -> ModuleType:
    """The kernel module of backend ``name`` ("compiled" or "numpy"), imported directly."""
    if name == "compiled":
        from . import _kernels

        return _kernels
    if name == "numpy":
        from . import _kernels_py

        return _kernels_py
    raise ValueError(f"backend must be 'compiled' or 'numpy', not {name!r}")


@contextlib.contextmanager
def using(name: str) -> Iterator[ModuleType]:
    """Temporarily route every public function through backend ``name`` (for tests and benchmarks)."""
    global kernels, BACKEND
    saved = kernels, BACKEND
    kernels, BACKEND = load(name), name
    try:
        yield kernels
    finally:
        kernels, BACKEND = saved


@contextlib.contextmanager
def variant(kernel: str, name: str) -> Iterator[None]:
    """Temporarily make compiled ``kernel`` dispatch to variant ``name`` (ValueError if unsupported)."""
    mod = load("compiled")
    previous = mod.kernel_variants()[kernel]["active"]
    mod.select_variant(kernel, name)
    try:
        yield
    finally:
        mod.select_variant(kernel, previous)
