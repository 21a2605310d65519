"""Ray Data: embed_dataset / Embedder on a real local Ray instance give StaticModel.encode's rows."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import _models  # noqa: E402
from fastembed_core import StaticModel  # noqa: E402
from fastembed_core.integrations.ray import Embedder, embed_dataset  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TEXTS = [s + f" number {i}" for i in range(40) for s in _models.SENTENCES[i % 8 : i % 8 + 1]] + ["", "???"]


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _models.make_tiny_model(tmp_path_factory.mktemp("ray") / "m", weights=True)


def _rows(ds, column):
    rows = sorted(ds.take_all(), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    return np.stack([np.asarray(r[column]) for r in rows])


def test_embed_dataset(ray_instance, model_dir):
    model = StaticModel.from_pretrained(model_dir)
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(TEXTS)], override_num_blocks=4)
    got = _rows(embed_dataset(ds, model_dir, batch_size=7, concurrency=2), "embedding")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, model.encode(TEXTS, num_threads=1))
    # packed codes, a StaticModel object shipped to the workers, custom columns
    ds2 = ray.data.from_items([{"id": i, "body": t} for i, t in enumerate(TEXTS)], override_num_blocks=3)
    codes = _rows(embed_dataset(ds2, model, text_column="body", output_column="code", precision="ubinary",
                                batch_size=16, concurrency=1), "code")
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, model.encode(TEXTS, precision="ubinary"))


def test_embedder_local(model_dir):
    model = StaticModel.from_pretrained(model_dir)
    emb = Embedder(str(model_dir), precision="binary")
    batch = {"id": np.arange(3), "text": np.array(TEXTS[:3], dtype=object)}
    out = emb(batch)
    assert set(out) == {"id", "text", "embedding"}
    np.testing.assert_array_equal(out["embedding"], model.encode(TEXTS[:3], precision="binary"))
    ranges = np.array([[-1.0] * model.dim, [1.0] * model.dim], np.float32)
    out8 = Embedder(model, precision="int8", ranges=ranges)(batch)
    np.testing.assert_array_equal(out8["embedding"], model.encode(TEXTS[:3], precision="int8", ranges=ranges))
    with pytest.raises(KeyError, match="text"):
        Embedder(model, text_column="text")({"body": batch["text"]})


def test_bad_options(model_dir):
    with pytest.raises(ValueError, match="ranges"):
        Embedder(str(model_dir), precision="int8")
    with pytest.raises(ValueError, match="precision"):
        Embedder(str(model_dir), precision="float16")
    with pytest.raises(TypeError, match="model"):
        Embedder(123)
    with pytest.raises(ValueError, match="batch_size"):
        embed_dataset(None, str(model_dir), batch_size=0)
    with pytest.raises(ValueError, match="num_threads"):
        embed_dataset(None, str(model_dir), num_threads=0)
