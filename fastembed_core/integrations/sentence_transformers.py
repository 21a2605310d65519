"""sentence-transformers: StaticEmbedding models tokenize through fastembed_core's fast path.

    from sentence_transformers import SentenceTransformer
    from fastembed_core.integrations.sentence_transformers import accelerate

    model = accelerate(SentenceTransformer("path/to/static-model"))
    emb = model.encode(texts, precision="ubinary")    # same output as before, faster

``accelerate(model)`` applies to a ``SentenceTransformer`` whose first module is a ``StaticEmbedding``
(typically followed by ``Normalize``; any modules may follow). It replaces only that module's ``preprocess`` (the tokenizer
call, most of the time of a static model) with fastembed_core's tokenizer fast path, which gives the
same ``input_ids``/``offsets`` as ``tokenizer.encode_batch(texts, add_special_tokens=False)`` with
the tokenizer's own truncation (UNK kept; no character cut, unlike model2vec). Everything else is
sentence-transformers' code on those features: ``encode``, ``encode_query``/``encode_document``,
prompts, ``truncate_dim``, ``normalize_embeddings``, ``precision`` via ``quantize_embeddings``,
float16/bfloat16 models (returned in their dtype; an empty text of a float16 model normalises to
NaN as in sentence-transformers), multi-process pools. So every output is bit-identical to the
unaccelerated model's. Tokenizers without a fast path (or truncating on the left) keep their own
``preprocess``. ``restore(model)`` undoes it. Accelerated models pickle, deep-copy and ``torch.save``
(the fast path is rebuilt after loading).

Quantized formats: sentence-transformers' ``quantize_embeddings`` "ubinary" (uint8) and "binary"
(int8) codes are byte-for-byte ``fastembed_core.pack_bits`` codes (binary = ubinary XOR 0x80), and
its "int8" equals ``StaticModel.encode(precision="int8")``; ``hamming_topk``, ``hamming_distance`` and
``BinaryIndex`` take both code formats, and the faiss index ``semantic_search_faiss`` builds can be
read with ``fastembed_core.integrations.faiss.from_faiss``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["accelerate", "restore", "is_accelerated", "static_parts"]


def _st() -> Any:
    try:
        import sentence_transformers
    except ImportError:
        raise ImportError(
            "fastembed_core.integrations.sentence_transformers needs sentence-transformers: "
            "pip install 'fastembed-core[sentence-transformers]'"
        ) from None
    return sentence_transformers


def static_parts(model: Any) -> tuple[Any, bool]:
    """(the StaticEmbedding module, whether a Normalize module follows it) of a SentenceTransformer.

    TypeError when the model is not a StaticEmbedding [+ Normalize] pipeline.
    """
    try:
        from sentence_transformers.sentence_transformer.modules import Normalize
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize

    first = _static_module(model)
    modules = list(model)
    if len(modules) > 2 or (len(modules) == 2 and not isinstance(modules[1], Normalize)):
        raise TypeError(f"model must be StaticEmbedding [+ Normalize], got modules {[type(m).__name__ for m in modules]}")
    return first, len(modules) == 2


def _static_module(model: Any) -> Any:
    """The first module of ``model`` when it is a StaticEmbedding (what accelerate patches); any
    modules may follow it (Normalize, Dense, ...), they run unchanged. TypeError otherwise."""
    st = _st()
    try:
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import StaticEmbedding

    if not isinstance(model, st.SentenceTransformer):
        raise TypeError(f"model must be a sentence_transformers.SentenceTransformer, not {type(model).__name__}")
    modules = list(model)
    if not modules or not isinstance(modules[0], StaticEmbedding):
        raise TypeError(f"model must start with a StaticEmbedding module, got modules {[type(m).__name__ for m in modules]}")
    return modules[0]


def _fast_path(tok: Any) -> tuple[Any, int | None]:
    """(fastembed_core's tokenizer fast path for ``tok`` or None, its token limit).

    The fast path is used only when the package has one (``fastembed_core.tokenize.auto_fast``) and
    the tokenizer truncates on the right, if at all; its ids equal ``encode_batch(...,
    add_special_tokens=False)`` with the tokenizer's own truncation (UNK ids kept, as in ST).
    """
    trunc = tok.truncation
    limit = None if trunc is None else int(trunc["max_length"])
    fast = None
    if trunc is None or trunc.get("direction", "right") == "right":
        from ..tokenize import auto_fast

        fast = auto_fast(tok)
    return fast, limit


class _Preprocess:
    """``StaticEmbedding.preprocess`` with the tokenization on fastembed_core's fast path: the same
    features (``input_ids`` int64, ``offsets`` int64 bag starts), so everything after it, and so the
    output, is sentence-transformers' own. Picklable (torch.save, deepcopy, multi-process pools): its
    state is the module and num_threads; the fast path is rebuilt on first use."""

    def __init__(self, module: Any, num_threads: int | None) -> None:
        self._module = module
        self.num_threads = num_threads
        self._cache: tuple | None = None

    def __getstate__(self) -> dict:
        return {"_module": self._module, "num_threads": self.num_threads}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cache = None

    def fast(self) -> tuple[Any, int | None]:
        tok = self._module.tokenizer
        trunc = tok.truncation
        cache = self._cache
        if cache is None or cache[0] is not tok or cache[1] != trunc:
            cache = self._cache = (tok, trunc, *_fast_path(tok))
        return cache[2], cache[3]

    def __call__(self, inputs: Any, prompt: str | None = None, **kwargs: Any) -> dict:
        module = self._module
        original = type(module).preprocess
        texts = list(inputs)
        fast, limit = self.fast()
        if fast is None or not texts or not all(isinstance(t, str) for t in texts):
            return original(module, inputs, prompt=prompt, **kwargs)
        if prompt:
            texts = module._prepend_prompt(texts, prompt)
        import torch

        ids, offsets = fast.encode_flat(texts, max_tokens=limit, drop_id=None, num_threads=self.num_threads)
        return {"input_ids": torch.from_numpy(np.asarray(ids, dtype=np.int64)),
                "offsets": torch.from_numpy(np.array(offsets[:-1], dtype=np.int64))}


def accelerate(model: Any, *, num_threads: int | None = 1) -> Any:
    """Make a StaticEmbedding SentenceTransformer tokenize on fastembed_core; returns ``model``.

    Only the StaticEmbedding module's ``preprocess`` is replaced (see ``_Preprocess``): ``encode``,
    ``encode_query``, ``encode_document``, prompts, ``truncate_dim``, ``precision``, dtypes (float16
    models return float16), pools and devices all stay sentence-transformers' own, on the same ids,
    so outputs are bit-identical. num_threads: tokenizer threads per batch (1 by default; None = all
    cores).
    """
    module = _static_module(model)
    from .. import _parallel

    _parallel.resolve_threads(num_threads)
    pre = _Preprocess(module, num_threads)
    pre.fast()  # build now: errors surface here
    module.__dict__["preprocess"] = pre
    return model


def is_accelerated(model: Any) -> bool:
    """Whether ``accelerate`` patched this model's StaticEmbedding module."""
    try:
        module = _static_module(model)
    except TypeError:
        return False
    return isinstance(module.__dict__.get("preprocess"), _Preprocess)


def restore(model: Any) -> Any:
    """Undo ``accelerate``: the StaticEmbedding module tokenizes with its own tokenizer again."""
    if is_accelerated(model):
        del _static_module(model).__dict__["preprocess"]
    return model
