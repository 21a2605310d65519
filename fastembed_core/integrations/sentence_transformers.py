"""sentence-transformers: StaticEmbedding models encode through fastembed_core's gather-mean kernel.

    from sentence_transformers import SentenceTransformer
    from fastembed_core.integrations.sentence_transformers import accelerate

    model = accelerate(SentenceTransformer("path/to/static-model"))
    emb = model.encode(texts, precision="ubinary")    # same output as before, faster

``accelerate(model)`` replaces ``encode`` on that instance (``restore(model)`` undoes it). It applies to
a ``SentenceTransformer`` whose modules are a ``StaticEmbedding`` optionally followed by ``Normalize``,
and keeps sentence-transformers' semantics exactly: its tokenizer as configured (special tokens off,
UNK tokens kept, the tokenizer's own truncation if any, no character cut — unlike model2vec), the
mean of ``embedding.weight`` rows, ``Normalize``, then ``truncate_dim``, ``normalize_embeddings``,
and ``precision`` through sentence-transformers' own ``quantize_embeddings``; ``convert_to_tensor``
and single-string inputs as in ``SentenceTransformer.encode``. Calls it does not cover (prompts,
``output_value`` other than "sentence_embedding", ``convert_to_numpy=False`` lists, multi-process
pools, device lists, extra model kwargs) go to the original ``encode``. Vectors equal the original's
within 1e-6 (the normalisation epsilon differs: ``norm + 1e-32`` here, ``max(norm, 1e-12)`` there).

Quantized formats: sentence-transformers' ``quantize_embeddings`` "ubinary" (uint8) and "binary"
(int8) codes are byte-for-byte ``fastembed_core.pack_bits`` codes (binary = ubinary XOR 0x80), and
its "int8" equals ``StaticModel.encode(precision="int8")``; ``hamming_topk``, ``hamming_distance`` and
``BinaryIndex`` take both code formats, and the faiss index ``semantic_search_faiss`` builds can be
read with ``fastembed_core.integrations.faiss.from_faiss``.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from ..pooling import gather_mean

__all__ = ["accelerate", "restore", "is_accelerated", "static_parts"]

_ATTR = "_fastembed_core"


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
    st = _st()
    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, StaticEmbedding

    if not isinstance(model, st.SentenceTransformer):
        raise TypeError(f"model must be a sentence_transformers.SentenceTransformer, not {type(model).__name__}")
    modules = list(model)
    if not modules or not isinstance(modules[0], StaticEmbedding) or len(modules) > 2 or (
        len(modules) == 2 and not isinstance(modules[1], Normalize)
    ):
        names = [type(m).__name__ for m in modules]
        raise TypeError(f"model must be StaticEmbedding [+ Normalize], got modules {names}")
    return modules[0], len(modules) == 2


def _fast_path(module: Any) -> tuple[Any, int | None]:
    """(fastembed_core's tokenizer fast path for the module's tokenizer or None, its token limit).

    Cached on the module per tokenizer object. The fast path is used only when the package has one
    (``fastembed_core.tokenize.auto_fast``) and the tokenizer truncates on the right, if at all.
    """
    tok = module.tokenizer
    cached = module.__dict__.get(_ATTR + "_fast")
    if cached is None or cached[0] is not tok:
        trunc = tok.truncation
        limit = None if trunc is None else int(trunc["max_length"])
        fast = None
        try:
            from ..tokenize import auto_fast
        except ImportError:
            auto_fast = None
        if auto_fast is not None and (trunc is None or trunc.get("direction", "right") == "right"):
            fast = auto_fast(tok)
        cached = (tok, fast, limit)
        module.__dict__[_ATTR + "_fast"] = cached
    return cached[1], cached[2]


def _embed(module: Any, normalize: bool, texts: list[str], num_threads: int | None) -> np.ndarray:
    """float32 [n, dim]: mean of embedding.weight rows over the tokens of each text (ST's tokenization:
    no special tokens, UNK kept, the tokenizer's own truncation)."""
    table = module.embedding.weight.detach()
    if table.device.type != "cpu":
        table = table.cpu()
    table = table.numpy()
    fast, limit = _fast_path(module)
    if fast is not None:
        ids, offsets = fast.encode_flat(texts, max_tokens=limit, drop_id=None, num_threads=num_threads)
    else:
        encodings = module.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        offsets = np.zeros(len(encodings) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int32, count=int(offsets[-1]))
    return gather_mean(table, ids, offsets, normalize=normalize, num_threads=num_threads)


def accelerate(model: Any, *, num_threads: int | None = 1) -> Any:
    """Make ``model.encode`` (a StaticEmbedding SentenceTransformer) run on fastembed_core; returns ``model``.

    num_threads: pooling threads per call (1 by default; None = all cores).
    """
    static_parts(model)
    from .. import _parallel

    _parallel.resolve_threads(num_threads)
    original = type(model).encode

    def encode(self: Any, inputs: Any, prompt_name: str | None = None, prompt: str | None = None,
               batch_size: int = 32, show_progress_bar: bool | None = None,
               output_value: str | None = "sentence_embedding", precision: str = "float32",
               convert_to_numpy: bool = True, convert_to_tensor: bool = False, device: Any = None,
               normalize_embeddings: bool = False, truncate_dim: int | None = None, pool: Any = None,
               chunk_size: int | None = None, **kwargs: Any) -> Any:
        call = dict(prompt_name=prompt_name, prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress_bar,
                    output_value=output_value, precision=precision, convert_to_numpy=convert_to_numpy,
                    convert_to_tensor=convert_to_tensor, device=device, normalize_embeddings=normalize_embeddings,
                    truncate_dim=truncate_dim, pool=pool, chunk_size=chunk_size, **kwargs)
        single = isinstance(inputs, str)
        texts = [inputs] if single else inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs)
        try:
            module, norm = static_parts(self)
        except TypeError:
            module = None
        resolve = getattr(self, "_resolve_prompt", None)
        resolved_prompt = resolve(prompt, prompt_name) if resolve is not None else prompt
        if (module is None or resolved_prompt or output_value != "sentence_embedding" or pool is not None
                or isinstance(device, list) or kwargs or not (convert_to_numpy or convert_to_tensor)
                or not all(isinstance(t, str) for t in texts)):
            return original(self, inputs, **call)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        x = np.empty((len(texts), module.embedding_dim), np.float32)
        for s in range(0, len(texts), max(batch_size, 4096)):
            x[s : s + max(batch_size, 4096)] = _embed(module, norm, texts[s : s + max(batch_size, 4096)], num_threads)
        if truncate_dim is not None:
            x = np.ascontiguousarray(x[:, :truncate_dim])
        if normalize_embeddings:
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))
        if len(x) and precision and precision != "float32":
            from sentence_transformers.util.quantization import quantize_embeddings

            x = quantize_embeddings(x, precision=precision)
        if convert_to_tensor:
            import torch

            x = torch.from_numpy(x) if len(x) else torch.tensor([])
        elif not len(x):
            x = np.array([])
        return x[0] if single else x

    model.encode = types.MethodType(encode, model)
    model.__dict__[_ATTR] = True
    return model


def is_accelerated(model: Any) -> bool:
    """Whether ``accelerate`` patched this model's ``encode``."""
    return bool(getattr(model, "__dict__", {}).get(_ATTR))


def restore(model: Any) -> Any:
    """Undo ``accelerate``: ``model.encode`` is sentence-transformers' own again; returns ``model``."""
    model.__dict__.pop("encode", None)
    model.__dict__.pop(_ATTR, None)
    return model
