"""The README's "Serving and frameworks" snippets run as written, with ``model`` and ``texts`` from the tour.

The Spark snippet runs in tests/test_integrations_spark.py (it needs that module's SparkSession).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
GZIP_LINE = "gzip reduces the size of files using Lempel-Ziv coding"


def readme_snippet(heading: str) -> str:
    """The first python block under ``### heading`` of the README's "Serving and frameworks" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"\n## Serving and frameworks\n(.*?)\n## ", text, re.DOTALL).group(1)
    return re.search(rf"\n### {re.escape(heading)}\n.*?```python\n(.*?)```", section, re.DOTALL).group(1)


def tour_namespace() -> dict:
    from fastembed_core import StaticModel

    texts = (ROOT / "examples" / "sentences.txt").read_text().splitlines()
    return {"model": StaticModel.default(), "texts": texts}


@pytest.fixture
def ns():
    if not (ROOT / "examples" / "sentences.txt").exists():
        pytest.skip("not a source checkout")
    return tour_namespace()


@pytest.mark.filterwarnings("ignore:legacy embedding function config:DeprecationWarning")  # Chroma, StaticModel object
@pytest.mark.parametrize("heading,library,result", [
    ("LangChain", "langchain_core", "langchain_hit"),
    ("LlamaIndex", "llama_index.core", "llamaindex_hit"),
    ("Haystack", "haystack", "haystack_hit"),
    ("Chroma", "chromadb", "chroma_hit"),
])
def test_framework_snippets(ns, heading, library, result):
    pytest.importorskip(library)
    exec(compile(readme_snippet(heading), f"README.md ({heading})", "exec"), ns)
    assert ns[result] == GZIP_LINE  # "how do I shrink a file" -> the gzip line, as in the tour


def test_server_snippet(ns):
    pytest.importorskip("openai")
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import _serve

    from fastembed_core.models import default_model_path

    srv = _serve.Server(default_model_path(), "--api-key", "my-key", "--threads", "1")
    try:
        code = readme_snippet("HTTP server").replace("http://127.0.0.1:8000", srv.url)
        exec(compile(code, "README.md (HTTP server)", "exec"), ns)
    finally:
        assert srv.stop() == 0
    np.testing.assert_array_equal(np.array(ns["server_vectors"], np.float32), ns["model"].encode(ns["texts"], dims=128))
