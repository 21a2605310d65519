"""The README's Python tour runs as written, from any directory."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_block_runs(tmp_path, monkeypatch):
    """... from any directory: here an empty temporary one."""
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("not a source checkout")
    block = re.search(r"## Using it\n\n```python\n(.*?)```", readme.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block, str(readme), "exec"), ns)
    assert os.path.exists(tmp_path / "docs.idx")
    assert ns["vectors"].shape == (8, 256) and ns["codes"].shape == (8, 32) and ns["small"].shape == (8, 128)
    assert ns["lazy"].shape == (8, 256)
    assert ns["ids"][0, 0] == 0  # "how do I shrink a file" -> the gzip line
