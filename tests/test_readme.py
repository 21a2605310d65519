"""The README's Python tour runs as written (from the repository root)."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_block_runs(tmp_path, monkeypatch):
    readme = ROOT / "README.md"
    if not (ROOT / "examples" / "sentences.txt").exists():
        pytest.skip("not a source checkout")
    block = re.search(r"## Using it\n\n```python\n(.*?)```", readme.read_text(), re.S).group(1)
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    try:
        exec(compile(block, str(readme), "exec"), ns)
    finally:
        if os.path.exists(ROOT / "docs.idx"):
            os.remove(ROOT / "docs.idx")
    assert ns["vectors"].shape == (8, 256) and ns["codes"].shape == (8, 32) and ns["small"].shape == (8, 128)
    assert ns["lazy"].shape == (8, 256)
    assert ns["ids"][0, 0] == 0  # "how do I shrink a file" -> the gzip line
