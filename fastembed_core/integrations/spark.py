"""Spark: a ``pyspark.ml.functions.predict_batch_udf`` that embeds a string column (extra ``[spark]``).

    from pyspark.sql import SparkSession
    from fastembed_core.integrations.spark import embed_udf

    spark = SparkSession.builder.getOrCreate()
    df = spark.read.json("/shared/texts.jsonl")
    embed = embed_udf("/shared/static-model", dims=128)
    df.withColumn("embedding", embed("text")).write.parquet("/shared/out/")

Each Python worker loads the model once (``predict_batch_udf`` caches what ``make_predict_fn``
returns) and embeds Arrow batches of ``batch_size`` rows; every output row is an
``array<float>`` of ``dims or model.dim`` values, equal to ``StaticModel.encode`` of that row's text
(a null text embeds as the empty string: a zero vector).

The model is a directory that exists at the same path on every executor (a shared file system, or
shipped with ``spark.addFile`` / ``--archives``), or a ``StaticModel`` with a dense table, whose arrays
are then shipped inside the UDF.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._validate import positive_int
from ..model import StaticModel
from ._embedder import Encoder, require
from .ray import _load, _portable

__all__ = ["embed_udf"]


def embed_udf(model: Any, *, dims: int | None = None, num_threads: int | None = 1, normalize: bool | None = None,
              batch_size: int = 1024) -> Any:
    """A column function: ``df.select(embed_udf(model)("text"))`` gives ``array<float>`` embeddings.

    num_threads: pooling threads per Python worker (default 1: Spark runs one worker per core).
    batch_size: rows per ``encode`` call.
    """
    functions = require("pyspark.ml.functions", "spark", "spark")
    types = require("pyspark.sql.types", "spark", "spark")
    batch_size = positive_int(batch_size, "batch_size")
    options = dict(dims=dims, num_threads=num_threads, normalize=normalize)
    Encoder(model, **options)  # the model and options are checked on the driver, not in a failed task
    if isinstance(model, StaticModel) and not isinstance(model.table, np.ndarray):
        raise TypeError(f"a StaticModel with a {type(model.table).__name__} table cannot be shipped to Spark "
                        "executors: save_pretrained() it where they can read it and pass the directory")
    spec = os.fspath(model) if isinstance(model, (str, os.PathLike)) else _portable(model)

    def make_predict_fn():
        worker = Encoder(_load(spec), **options)

        def predict(texts: np.ndarray) -> np.ndarray:
            return worker.encode([t if isinstance(t, str) else "" for t in texts.tolist()])  # null: None or NaN

        return predict

    return functions.predict_batch_udf(make_predict_fn, return_type=types.ArrayType(types.FloatType()),
                                       batch_size=batch_size)
