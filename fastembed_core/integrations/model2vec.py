"""model2vec drop-in: encode an existing ``model2vec.StaticModel`` through fastembed_core's kernels.

    from model2vec import StaticModel
    from fastembed_core.integrations.model2vec import accelerate

    model = accelerate(StaticModel.from_pretrained("minishlab/potion-base-8M"))
    vectors = model.encode(["hello world"])   # same vectors, same dtype, much faster

``accelerate(model)`` replaces ``encode`` on that instance only (``restore(model)`` undoes it). The
replacement takes model2vec 0.10's arguments: ``show_progress_bar``, ``max_length`` (default: the
model's), ``normalize`` (default: the model's), ``batch_size``; ``use_multiprocessing`` and
``multiprocessing_threshold`` are accepted and ignored (the kernels use threads instead: pass
``num_threads=`` to ``accelerate`` or per call). The output dtype is model2vec's: the table's dtype,
float32 for int8 tables. Vectors equal model2vec's within 1e-6 for float32/int8 tables; for float16 tables
within one float16 ulp (model2vec rounds the unnormalised mean to float16 first); float64 tables are
pooled in float32 (relative error ~1e-6) and returned as float64.
The model's table, weights, mapping and tokenizer are read when ``encode`` is called, so replacing
them (or ``normalize`` / ``max_length``) after ``accelerate`` is honoured; ``encode_as_sequence`` and
everything else stay model2vec's.

``from_model2vec(model)`` / ``to_model2vec(model)`` convert between ``model2vec.StaticModel`` and
``fastembed_core.StaticModel`` in memory (arrays are shared, not copied, where the dtype allows).
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from ..model import StaticModel
from ..ternary import TernaryMatrix

__all__ = ["accelerate", "restore", "is_accelerated", "from_model2vec", "to_model2vec"]

_ATTR = "_fastembed_core"


def _model2vec() -> Any:
    try:
        import model2vec
    except ImportError:
        raise ImportError(
            "fastembed_core.integrations.model2vec needs model2vec: pip install 'fastembed-core[model2vec]'"
        ) from None
    return model2vec


def _check(model: Any) -> None:
    m2v = _model2vec()
    if not isinstance(model, m2v.StaticModel):
        raise TypeError(f"model must be a model2vec.StaticModel, not {type(model).__name__}")


def from_model2vec(model: Any) -> StaticModel:
    """A ``fastembed_core.StaticModel`` with the same table, weights, mapping, tokenizer and options."""
    _check(model)
    return StaticModel(
        model.embedding, model.tokenizer, weights=model.weights, mapping=model.token_mapping,
        normalize=bool(model.normalize), max_length=model.max_length, config=dict(model.config),
    )


def to_model2vec(model: StaticModel) -> Any:
    """A ``model2vec.StaticModel`` with the same table, weights, mapping, tokenizer and options.

    A dense table (float32/float16/int8) is passed as it is; a ternary table becomes its int8 values
    in {-1, 0, 1} with the row scales folded into the per-token weights, which model2vec multiplies
    back in. Either way model2vec then encodes as the fastembed_core model does.
    """
    m2v = _model2vec()
    if not isinstance(model, StaticModel):
        raise TypeError(f"model must be a fastembed_core.StaticModel, not {type(model).__name__}")
    table, weights = model.table, model.weights
    if isinstance(table, TernaryMatrix):
        rows = model.mapping if model.mapping is not None else np.arange(table.shape[0])
        scale = table.row_scales[rows]
        weights = scale if weights is None else (weights * scale).astype(np.float32)
        table = table.values
    elif not isinstance(table, np.ndarray):
        raise TypeError(f"model2vec needs a dense or ternary table, not {type(table).__name__}")
    mapping = None if model.mapping is None else model.mapping.astype(np.int64)
    config = {k: v for k, v in model.config.items() if k not in ("normalize", "max_length", "ternary_shape")}
    if isinstance(model.table, TernaryMatrix):
        config["embedding_dtype"] = "int8"
    return m2v.StaticModel(
        vectors=np.asarray(table), tokenizer=model.tokenizer.tokenizer, config=config,
        normalize=model.normalize, weights=weights, token_mapping=mapping, max_length=model.max_length,
    )


def _core(model: Any) -> StaticModel:
    """The cached fastembed_core model of ``model``, rebuilt when its arrays or tokenizer changed."""
    key = (id(model.embedding), id(model.weights), id(model.token_mapping), id(model.tokenizer))
    cached = model.__dict__.get(_ATTR)
    if cached is None or cached[0] != key:
        cached = (key, from_model2vec(model))
        model.__dict__[_ATTR] = cached
    return cached[1]


def accelerate(model: Any, *, num_threads: int | None = 1) -> Any:
    """Make ``model.encode`` (a ``model2vec.StaticModel``) run on fastembed_core; returns ``model``.

    num_threads: default threads per ``encode`` call (1 like model2vec without multiprocessing;
    None = all cores); a call may pass ``num_threads=`` to override it.
    """
    _check(model)
    from .. import _parallel

    _parallel.resolve_threads(num_threads)
    default_threads = num_threads
    _core(model)  # build now: errors surface here, not at the first encode

    def _encode(self: Any, sentences: Any, *, show_progress_bar: bool = False, normalize: bool | None = None,
                batch_size: int = 1024, use_multiprocessing: bool = True, multiprocessing_threshold: int = 10_000,
                num_threads: Any = default_threads, **kwargs: Any) -> np.ndarray:
        core = _core(self)
        max_length = kwargs.pop("max_length", self.max_length)
        out = core.encode(
            sentences, normalize=self.normalize if normalize is None else normalize, batch_size=batch_size,
            max_length=max_length, num_threads=num_threads, show_progress_bar=show_progress_bar,
        )
        dtype = np.float32 if self.embedding.dtype == np.int8 else self.embedding.dtype
        return out if out.dtype == dtype else out.astype(dtype)

    _encode.__doc__ = (
        "model2vec's encode(sentences, *, show_progress_bar, max_length, normalize, batch_size, ...) on "
        "fastembed_core kernels (use_multiprocessing/multiprocessing_threshold ignored; num_threads= optional)."
    )
    model.encode = types.MethodType(_encode, model)
    return model


def is_accelerated(model: Any) -> bool:
    """Whether ``accelerate`` patched this model's ``encode``."""
    return "encode" in getattr(model, "__dict__", {}) and _ATTR in model.__dict__


def restore(model: Any) -> Any:
    """Undo ``accelerate``: ``model.encode`` is model2vec's own again; returns ``model``."""
    model.__dict__.pop("encode", None)
    model.__dict__.pop(_ATTR, None)
    return model
