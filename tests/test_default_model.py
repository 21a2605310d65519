"""The bundled default model: loads offline from the package, 2-bit table, sensible neighbours."""

import numpy as np

from fastembed_core import StaticModel, TernaryMatrix
from fastembed_core.models import default_model_path


def test_default_model_loads_from_the_package_as_a_ternary_table(backend):
    m = StaticModel.default()
    assert default_model_path().is_dir()
    assert isinstance(m.table, TernaryMatrix) and m.dim == 256
    assert m.table.nbytes < 2.5e6  # 2 bits per weight: 29525 x 256 -> ~1.9 MB
    v = m.encode(["gzip compression utility", ""])
    np.testing.assert_allclose(np.linalg.norm(v[0]), 1.0, rtol=1e-5)
    assert not v[1].any()  # an empty text is a zero vector, never NaN


def test_default_model_ranks_related_texts_first(backend):
    m = StaticModel.default()
    queries = ["tool to compress files", "web browser", "python library for numerical arrays"]
    docs = [
        "numpy is the fundamental package for array computing with Python",
        "gzip reduces the size of files using Lempel-Ziv coding",
        "Firefox is a free and open source web browser from Mozilla",
    ]
    sim = m.encode(queries) @ m.encode(docs).T
    assert sim.argmax(axis=1).tolist() == [1, 2, 0]
