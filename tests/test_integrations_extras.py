"""Every integration imports without its peer and, when used without it, names the extra to install."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest


def _hide(monkeypatch, *names):
    for name in list(sys.modules):
        if name.split(".")[0] in names:
            monkeypatch.delitem(sys.modules, name)
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


CASES = [
    ("model2vec", ("model2vec",), "model2vec", lambda m: m.accelerate(object())),
    ("model2vec", ("model2vec",), "model2vec", lambda m: m.from_model2vec(object())),
    ("sentence_transformers", ("sentence_transformers",), "sentence-transformers", lambda m: m.accelerate(object())),
    ("faiss", ("faiss",), "faiss", lambda m: m.to_faiss(np.zeros((1, 8), np.uint8))),
    ("faiss", ("faiss",), "faiss", lambda m: m.faiss_codes(object())),
    ("ray", ("ray",), "ray", lambda m: m.embed_dataset(None, "model")),
    ("torch", ("torch",), "torch", lambda m: m.require_torch()),
]


@pytest.mark.parametrize("name,peers,extra,use", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_missing_peer_names_the_extra(monkeypatch, name, peers, extra, use):
    try:
        mod = importlib.import_module(f"fastembed_core.integrations.{name}")
    except ImportError as exc:  # a module not on this branch yet (torch lands with the ternary work)
        if f"integrations.{name}" in str(exc) or "No module named 'fastembed_core.integrations" in str(exc):
            pytest.skip(str(exc))
        raise
    _hide(monkeypatch, *peers)
    with pytest.raises(ImportError, match=rf"pip install 'fastembed-core\[{extra}\]'"):
        use(mod)


def test_integrations_import_without_peers(monkeypatch):
    _hide(monkeypatch, "model2vec", "sentence_transformers", "faiss", "ray", "torch")
    for name in ("model2vec", "sentence_transformers", "faiss", "ray"):
        monkeypatch.delitem(sys.modules, f"fastembed_core.integrations.{name}", raising=False)
        importlib.import_module(f"fastembed_core.integrations.{name}")
