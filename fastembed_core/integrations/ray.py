"""Ray Data: embed a dataset too large for one machine with ``map_batches``.

    import ray
    from fastembed_core.integrations.ray import embed_dataset

    ds = ray.data.read_parquet("s3://bucket/texts/")           # any Dataset with a text column
    ds = embed_dataset(ds, "/models/my-static-model", concurrency=8)
    ds.write_parquet("s3://bucket/embeddings/")

``Embedder`` is the ``map_batches``-ready callable class behind it: Ray creates one per worker (actor),
which loads the model once in ``__init__``; each call takes a numpy batch ``{text_column: array of
str, ...}`` and returns it with ``output_column`` added: float32 ``[n, dim]`` embeddings, or packed
codes (``precision="ubinary"`` uint8 / ``"binary"`` int8 ``[n, ceil(dim / 8)]``), or int8 with fixed
``ranges``. Other columns pass through, so an id column keeps rows matched (Ray may reorder rows).

The model is a local model directory (it must exist at the same path on every node, e.g. a shared
file system or a path baked into the image) or a ``fastembed_core.StaticModel`` with a dense table (its arrays,
tokenizer and options are then shipped to the workers and the model rebuilt there once per actor).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._validate import positive_int
from ..model import PRECISIONS, StaticModel

__all__ = ["Embedder", "embed_dataset"]


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ImportError("fastembed_core.integrations.ray needs Ray Data: pip install 'fastembed-core[ray]'") from None
    return ray


def _check_options(model: Any, precision: str, ranges: Any) -> None:
    if not isinstance(model, (str, os.PathLike, StaticModel)) and not (isinstance(model, tuple) and model[:1] == (_PORTABLE,)):
        raise TypeError(f"model must be a model directory path or a fastembed_core.StaticModel, not {type(model).__name__}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "int8" and ranges is None:
        raise ValueError("precision='int8' needs ranges= ([2, dim] min/max per dimension): batches are "
                         "quantized independently, so the ranges must be fixed in advance")


_PORTABLE = "fastembed_core.StaticModel/v1"


def _portable(model: Any) -> Any:
    """A picklable stand-in for a StaticModel (its tokenizer fast path holds a C handle): the arrays,
    the tokenizer JSON and the options, rebuilt by ``Embedder`` in each worker."""
    if not isinstance(model, StaticModel):
        return model
    if not isinstance(model.table, np.ndarray):
        raise TypeError(f"a StaticModel with a {type(model.table).__name__} table cannot be shipped to Ray workers: "
                        "save_pretrained() it to a shared directory and pass the path")
    return (_PORTABLE, np.asarray(model.table), model.tokenizer.tokenizer.to_str(), model.weights, model.mapping,
            model.normalize, model.max_length, dict(model.config))


def _load(model: Any) -> StaticModel:
    if isinstance(model, StaticModel):
        return model
    if isinstance(model, tuple) and model and model[0] == _PORTABLE:
        from tokenizers import Tokenizer

        _, table, tok, weights, mapping, normalize, max_length, config = model
        return StaticModel(table, Tokenizer.from_str(tok), weights=weights, mapping=mapping, normalize=normalize,
                           max_length=max_length, config=config)
    return StaticModel.from_pretrained(model)


class Embedder:
    """Callable for ``Dataset.map_batches(Embedder, fn_constructor_kwargs={...}, batch_format="numpy")``.

    Args:
        model: model directory path or a ``StaticModel`` (loaded / unpickled once per worker).
        text_column: input column of str; output_column: column added to each batch.
        precision: "float32" (float32 [n, dim]), "ubinary" / "binary" (packed codes), "int8"
            (needs ``ranges``). normalize, dims, max_length: as in ``StaticModel.encode`` (None: the
            model's defaults). num_threads: pooling threads inside one worker (default 1: let Ray
            parallelise over workers).
    """

    def __init__(self, model: Any, *, text_column: str = "text", output_column: str = "embedding",
                 precision: str = "float32", normalize: bool | None = None, dims: int | None = None,
                 max_length: Any = None, ranges: Any = None, num_threads: int | None = 1) -> None:
        _check_options(model, precision, ranges)
        self.model = _load(model)
        self.text_column, self.output_column = text_column, output_column
        self.kwargs: dict[str, Any] = dict(precision=precision, normalize=normalize, dims=dims,
                                           ranges=ranges, num_threads=num_threads)
        if max_length is not None:
            self.kwargs["max_length"] = max_length

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.text_column not in batch:
            raise KeyError(f"text column {self.text_column!r} not in the batch (columns: {sorted(batch)})")
        texts = [str(t) for t in np.asarray(batch[self.text_column]).tolist()]
        out = dict(batch)
        out[self.output_column] = self.model.encode(texts, batch_size=max(1, len(texts)), **self.kwargs)
        return out


def embed_dataset(ds: Any, model: Any, *, text_column: str = "text", output_column: str = "embedding",
                  precision: str = "float32", batch_size: int = 4096, concurrency: Any = None,
                  num_threads: int = 1, normalize: bool | None = None, dims: int | None = None,
                  max_length: Any = None, ranges: Any = None, **map_batches_kwargs: Any) -> Any:
    """A new Dataset: ``ds`` with ``output_column`` holding the embeddings of ``text_column``.

    batch_size: rows per call. concurrency: number of workers (int) or (min, max) for an autoscaling
    pool (a ``ray.data.ActorPoolStrategy``); None lets Ray decide. Each worker reserves ``num_threads``
    CPUs and pools with that many threads: leave CPUs free for the read and write tasks of the
    pipeline (workers holding every CPU of a cluster starve them). Extra keyword arguments go to ``Dataset.map_batches`` (e.g. ``memory=``).
    """
    ray = _ray()
    _check_options(model, precision, ranges)
    batch_size = positive_int(batch_size, "batch_size")
    num_threads = positive_int(num_threads, "num_threads")
    model = os.fspath(model) if isinstance(model, os.PathLike) else _portable(model)
    kwargs = dict(text_column=text_column, output_column=output_column, precision=precision, normalize=normalize,
                  dims=dims, max_length=max_length, ranges=ranges, num_threads=num_threads)
    if concurrency is not None and "compute" not in map_batches_kwargs:
        if isinstance(concurrency, tuple):
            pool = ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
        else:
            pool = ray.data.ActorPoolStrategy(size=concurrency)
        map_batches_kwargs["compute"] = pool
    return ds.map_batches(Embedder, fn_constructor_kwargs={"model": model, **kwargs}, batch_size=batch_size,
                          batch_format="numpy", num_cpus=num_threads, **map_batches_kwargs)
