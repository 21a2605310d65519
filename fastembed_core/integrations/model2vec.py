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

import operator
from typing import Any

import numpy as np

from .._ref.gather import normalize_rows
from ..model import StaticModel
from .._validate import check_bags
from ..gather import run
from ..ternary import TernaryMatrix
from ..tokenize import NO_LIMIT, TextTokenizer, check_texts

__all__ = ["accelerate", "restore", "is_accelerated", "from_model2vec", "to_model2vec"]

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
    return _from_model2vec(model, model.max_length)


def _from_model2vec(model: Any, max_length: Any, tokenizer: Any = None) -> StaticModel:
    return StaticModel(
        model.embedding, model.tokenizer if tokenizer is None else tokenizer, weights=model.weights,
        mapping=model.token_mapping, normalize=bool(model.normalize), max_length=max_length,
        config=dict(model.config),
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


_DEFAULT: Any = object()
_INT8_EXACT_TOKENS = 132_000  # 127 * this < 2**24: int8 sums stay exact in float32 below it


def _is_unset(value: Any) -> bool:
    unset_type = getattr(getattr(_model2vec(), "types", None), "_UnsetType", None)
    return unset_type is not None and isinstance(value, unset_type)


def _unset_default() -> Any:
    try:
        from model2vec.types import _UNSET
    except ImportError:  # model2vec < 0.10 has no sentinel
        return None
    return _UNSET


def _plan(model: Any) -> tuple[str, bool, bool]:
    """("kernel", round_f16, round_product_f16) when the C/numpy gather kernel reproduces model2vec's
    arithmetic for this model, else ("numpy", False, False): model2vec's own numpy expressions on our
    token ids.

    model2vec forms ``embeddings[mapping[ids]] * weights[ids][:, None]`` in numpy's result dtype P,
    takes ``.mean(axis=0)`` (float32 sum and divide for float16 P, float64 for integer P), stores it
    in the table's dtype (float32 for int8) and normalises in float32. The kernel computes in float32
    with the product rounded before each add, which is that arithmetic exactly when P is float32, or
    when the table is float16 (the mean rounded to float16: ``round_f16``), or P is float16 (a float16
    or int8 table times float16 weights: each product rounded to float16, ``round_product_f16``, and
    the mean too), or the table is int8 with no weights (integer sums are exact in float32).
    Otherwise (float64 tables or weights, other dtypes) and for dim 1 (numpy's mean over a single
    column is pairwise, not sequential) the numpy path runs.
    """
    table, weights = model.embedding, model.weights
    if not isinstance(table, np.ndarray) or table.ndim != 2 or table.shape[1] < 2:
        return "numpy", False, False
    e = table.dtype
    if e not in (np.float32, np.float16, np.int8):
        return "numpy", False, False
    f16_product = False
    if weights is not None:
        w = np.asarray(weights).dtype
        f16_product = np.result_type(e, w) == np.float16  # numpy multiplies in float16: round_product_f16
        if w not in (np.float32, np.float16) or (np.result_type(e, w) != np.float32 and not f16_product):
            return "numpy", False, False
    mapping = model.token_mapping
    if mapping is not None and np.asarray(mapping).dtype.kind not in "iu":
        return "numpy", False, False
    return "kernel", e == np.float16 or f16_product, f16_product


class _Cache:
    """What an accelerated model keeps between calls: never pickled (rebuilt on first use)."""

    def __init__(self, model: Any) -> None:
        self.key = _key(model)
        self.plan = _plan(model)
        self.tokenizer = TextTokenizer(model.tokenizer)
        # max_length is passed per call (model2vec's rules, see _max_length), not stored
        self.core = _from_model2vec(model, None, self.tokenizer) if self.plan[0] == "kernel" else None


def _key(model: Any) -> tuple:
    return (id(model.embedding), id(model.weights), id(model.token_mapping), id(model.tokenizer),
            model.embedding.dtype if isinstance(model.embedding, np.ndarray) else None)


def _core(model: Any) -> StaticModel:
    """The fastembed_core model equivalent to ``model`` (kept by its accelerated ``encode``)."""
    enc = model.__dict__.get("encode")
    core = enc._cache_for().core if isinstance(enc, _Encode) else None
    return core if core is not None else from_model2vec(model)


def _max_length(model: Any, value: Any) -> int | None:
    """model2vec's max_length rules: its sentinel means the model's; None no limit; any int-like
    >= 0 (TypeError for a float, OverflowError for a negative value, as model2vec raises them)."""
    if _is_unset(value):
        value = model.max_length
    if value is None:
        return None
    value = operator.index(value)
    if value < 0:
        raise OverflowError("can't convert negative int to unsigned")
    return min(value, NO_LIMIT)


def _numpy_pool(model: Any, ids: np.ndarray, offsets: np.ndarray, normalize: bool) -> np.ndarray:
    """model2vec 0.10's ``_encode_batch`` on flat ids: the same numpy expressions, so the same bits."""
    table, weights, mapping = model.embedding, model.weights, model.token_mapping
    dtype = np.dtype(np.float32) if table.dtype == np.int8 else table.dtype
    lengths = np.diff(offsets)
    out = np.zeros((len(lengths), table.shape[1]), dtype=dtype)
    bags = [ids[offsets[i] : offsets[i + 1]].astype(np.int64) for i in range(len(lengths))]
    if mapping is None and weights is None:
        for length in np.unique(lengths[lengths > 0]):
            rows = np.flatnonzero(lengths == length)
            out[rows] = table[np.array([bags[i] for i in rows], dtype=np.int64)].mean(axis=1)
    else:
        for i, bag in enumerate(bags):
            if len(bag):
                emb = table[bag if mapping is None else mapping[bag]]
                if weights is not None:
                    emb = emb * weights[bag][:, None]
                out[i] = emb.mean(axis=0)
    if normalize:
        return normalize_rows(out).astype(out.dtype)
    return out


class _Encode:
    """``encode`` of an accelerated ``model2vec.StaticModel``: model2vec 0.10's arguments, its exact
    output bits (see ``accelerate``). Picklable: the model, num_threads and exact are its state; the
    tokenizer fast path and prepared arrays are rebuilt on the first call after unpickling."""

    def __init__(self, model: Any, num_threads: int | None, exact: bool) -> None:
        self._model = model
        self.num_threads = num_threads
        self.exact = exact
        self._cache: _Cache | None = None

    def __getstate__(self) -> dict:
        return {"_model": self._model, "num_threads": self.num_threads, "exact": self.exact}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cache = None

    def _cache_for(self) -> _Cache:
        cache = self._cache
        if cache is None or cache.key != _key(self._model):
            cache = self._cache = _Cache(self._model)
        return cache

    def __call__(self, sentences: Any, *, show_progress_bar: bool = False, max_length: Any = _unset_default(),
                 normalize: bool | None = None, batch_size: int = 1024, use_multiprocessing: bool = True,
                 multiprocessing_threshold: int = 10_000, num_threads: Any = _DEFAULT, **kwargs: Any) -> np.ndarray:
        model = self._model
        threads = self.num_threads if num_threads is _DEFAULT else num_threads
        max_length = _max_length(model, max_length)
        normalize = bool(model.normalize if normalize is None else normalize)
        batch_size = operator.index(batch_size)
        if batch_size == 0:
            raise ValueError("range() arg 3 must not be zero")
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        check_texts(texts)
        if not texts or batch_size < 0:
            raise ValueError("need at least one array to concatenate")  # model2vec's np.concatenate([])
        cache = self._cache_for()
        kind, round_f16, round_product = cache.plan
        if not self.exact and kind != "kernel":
            if cache.core is None:
                cache.core = _from_model2vec(model, None, cache.tokenizer)
            kind, round_f16, round_product = "kernel", False, False
        out_dtype = np.dtype(np.float32) if model.embedding.dtype == np.int8 else model.embedding.dtype
        out = np.zeros((len(texts), model.embedding.shape[1]), dtype=np.float32 if kind == "kernel" else out_dtype)
        starts = range(0, len(texts), batch_size)
        if show_progress_bar:
            from tqdm import tqdm

            starts = tqdm(starts, total=len(starts))
        for s in starts:
            batch = texts[s : s + batch_size]
            if max_length == 0:  # every text is cut to "": zero vectors
                continue
            ids, offsets = cache.tokenizer.encode(batch, max_length=max_length, num_threads=threads)
            if kind == "kernel" and not (model.embedding.dtype == np.int8 and model.weights is None
                                         and len(ids) and np.diff(offsets).max() >= _INT8_EXACT_TOKENS):
                core = cache.core
                ids, offsets = check_bags(ids, offsets, core.vocab_size)
                run(core._kernel_table, ids, offsets, core.mapping, core.weights, normalize, threads,
                    out[s : s + len(batch)], round_f16=round_f16, round_product_f16=round_product)
            else:
                out[s : s + len(batch)] = _numpy_pool(model, ids, offsets, normalize)
        if out.dtype != out_dtype:
            out = out.astype(out_dtype)
        return out[0] if single else out



def accelerate(model: Any, *, num_threads: int | None = 1, exact: bool = True) -> Any:
    """Make ``model.encode`` (a ``model2vec.StaticModel``) run on fastembed_core; returns ``model``.

    num_threads: default threads per ``encode`` call (1 like model2vec without multiprocessing;
    None = all cores); a call may pass ``num_threads=`` to override it.
    exact: True (default) gives model2vec 0.10's output bits for every table and weights dtype (float64
    tables or weights and dim-1 tables then pool with model2vec's numpy
    expressions, only the tokenizer is accelerated); False pools every dtype in the float32 kernel
    (faster for those cases, float64 tables converted to float32 once; results within float32
    rounding of model2vec's).
    """
    _check(model)
    from .. import _parallel

    _parallel.resolve_threads(num_threads)
    enc = _Encode(model, num_threads, bool(exact))
    enc._cache_for()  # build now: errors surface here, not at the first encode
    model.__dict__["encode"] = enc
    return model


def is_accelerated(model: Any) -> bool:
    """Whether ``accelerate`` patched this model's ``encode``."""
    return isinstance(getattr(model, "__dict__", {}).get("encode"), _Encode)


def restore(model: Any) -> Any:
    """Undo ``accelerate``: ``model.encode`` is model2vec's own again; returns ``model``."""
    if is_accelerated(model):
        del model.__dict__["encode"]
    return model
