"""pytest plugin: every sentence-transformers model whose first module is a StaticEmbedding is
accelerated (``fastembed_core.integrations.sentence_transformers.accelerate``) right after
construction. ``scripts/run_st_suite.sh`` runs sentence-transformers' sdist tests with it."""

from __future__ import annotations

import functools

_count = {"accelerated": 0}


def pytest_configure(config) -> None:
    from sentence_transformers import SentenceTransformer

    from fastembed_core.integrations.sentence_transformers import accelerate

    if getattr(SentenceTransformer.__init__, "_fastembed_core_plugin", False):
        return
    original = SentenceTransformer.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        try:
            accelerate(self)
        except TypeError:  # not a StaticEmbedding model: left as it is
            return
        _count["accelerated"] += 1

    __init__._fastembed_core_plugin = True  # type: ignore[attr-defined]
    SentenceTransformer.__init__ = __init__


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    terminalreporter.write_line(f"fastembed_core plugin: {_count['accelerated']} StaticEmbedding models accelerated")
