"""Spark: the predict_batch_udf adapter in local mode equals StaticModel.encode on the same rows.

One local SparkSession for the module (the JVM start is most of the time: keep these tests few).
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pyarrow")
pytest.importorskip("pandas")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (Debian: default-jre-headless)", allow_module_level=True)

import _models

from fastembed_core import StaticModel
from fastembed_core.integrations.spark import embed_udf

TEXTS = [s + f" row {i}" for i in range(30) for s in _models.SENTENCES[i % 8 : i % 8 + 1]] + ["", "???"]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (and its packages)
    session = (SparkSession.builder.master("local[2]").appName("fastembed-core-test")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _models.make_tiny_model(tmp_path_factory.mktemp("spark") / "m", weights=True)


@pytest.mark.slow  # a JVM and Python workers: ~20 s alone, more on a busy machine
def test_udf_equals_encode(spark, model_dir):
    model = StaticModel.from_pretrained(model_dir)
    df = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)] + [(len(TEXTS), None)], "id long, text string")
    out = df.select("id", embed_udf(str(model_dir), batch_size=7)("text").alias("e"),
                    embed_udf(model, dims=8, normalize=False)("text").alias("small")).collect()
    rows = sorted(out, key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(len(TEXTS) + 1))
    got = np.array([r["e"] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(got, model.encode(TEXTS + [""]))
    small = np.array([r["small"] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(small, model.encode(TEXTS + [""], dims=8, normalize=False))
    assert not got[-1].any()  # the null row is the empty text: zeros


def test_udf_checks_options_on_the_driver(model_dir):
    with pytest.raises(ValueError, match="dims"):
        embed_udf(str(model_dir), dims=0)
    with pytest.raises(ValueError, match="batch_size"):
        embed_udf(str(model_dir), batch_size=0)
    with pytest.raises(TypeError, match="model"):
        embed_udf(42)
    with pytest.raises(TypeError, match="pass the directory"):
        embed_udf(StaticModel.default())  # a ternary table: not shipped inside the UDF


@pytest.mark.slow
def test_readme_spark_snippet(spark):
    from test_readme_integrations import readme_snippet, tour_namespace

    ns = tour_namespace()
    exec(compile(readme_snippet("Spark"), "README.md (Spark)", "exec"), ns)
    np.testing.assert_array_equal(np.array(ns["spark_vectors"], np.float32), ns["model"].encode(ns["texts"], dims=128))
