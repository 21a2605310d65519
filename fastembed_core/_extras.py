"""The check for an optional extra: import its modules or raise an ImportError naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(extra: str, user: str, *modules: str) -> list[ModuleType]:
    """Import ``modules`` (in order) for ``user`` (e.g. ``"fastembed_core.train"``); if one is missing,
    ``ImportError: <user> needs the [<extra>] extra: pip install 'fastembed-core[<extra>]' (missing: <name>)``."""
    out = []
    for name in modules:
        try:
            out.append(importlib.import_module(name))
        except ImportError as exc:
            raise ImportError(f"{user} needs the [{extra}] extra: pip install 'fastembed-core[{extra}]' "
                              f"(missing: {exc.name or name})") from exc
    return out
