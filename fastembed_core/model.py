"""StaticModel: static text embeddings with model2vec 0.10's exact vectors (public API).

``StaticModel.from_pretrained(path)`` loads a local model2vec or sentence-transformers
StaticEmbedding directory and ``save_pretrained`` writes one; both live in
:mod:`fastembed_core.model_io` (layouts, files, checks). This module holds the model itself:

``encode`` = tokenize (``TextTokenizer``) -> ``gather_mean`` over ``table[mapping[ids]] *
weights[ids]`` -> optional normalisation, identical to ``model2vec.StaticModel.encode``; then the
optional output formats of :mod:`fastembed_core.quantization`.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from . import _parallel, _validate, model_io
from ._io import read_safetensors, reading_whole, write_safetensors  # noqa: F401  (old home of the I/O; kept importable)
from .gather import RowCache, check_mapping, check_table, check_weights, kernel_table, run
from .model_io import DEFAULT_MAX_LENGTH, UNSET as _UNSET
from .quantization import EMBEDDING_PRECISIONS as PRECISIONS
from .quantization import quantize_embeddings, symmetric_int8
from .ternary import ternarize
from .tokenize import TextTokenizer, check_texts

__all__ = ["StaticModel"]

TABLE_MEMORY = ("mapped", "rows")
_MIN_CHUNK_TEXTS = 256  # texts per thread task in encode: enough work to dwarf its Python part


def _chunk_texts(total: int, batch_size: int, threads: int) -> int:
    """Texts per task when encode splits a sequence across threads (0: one thread, or too few texts).

    At most batch_size; about 8 tasks per thread so that uneven texts balance out."""
    if threads <= 1 or total < 2 * _MIN_CHUNK_TEXTS:
        return 0
    return min(batch_size, max(_MIN_CHUNK_TEXTS, -(-total // (8 * threads))))


class StaticModel:
    """A static embedding model: a table (dense array or a table object), a tokenizer, options.

    Args:
        table: [K, dim] float32/float16/int8 (float64 converted) array, or a
            :class:`fastembed_core.TernaryMatrix` (any table ``fastembed_core.gather_mean`` takes).
        tokenizer: a ``tokenizers.Tokenizer`` or a ``TextTokenizer``.
        weights: optional [V] per-token weights; mapping: optional [V] token id -> table row.
        normalize: default for ``encode``; max_length: default token limit (None: no limit).
        table_memory: "mapped" (default): encode gathers from the table where it lies; a memory-mapped
            table's pages are shared by every process that maps the file. "rows": encode copies each
            row it gathers once into this process's memory and keeps none of the table's pages
            mapped (:class:`fastembed_core.gather.RowCache`): a lone process then holds only the rows
            it has used (the vectors are the same). For one process per machine; several processes
            each hold their own rows. Float32/float16/int8 tables.
    """

    def __init__(
        self,
        table: Any,
        tokenizer: Any,
        *,
        weights: Any = None,
        mapping: Any = None,
        normalize: bool = False,
        max_length: int | None = DEFAULT_MAX_LENGTH,
        config: dict | None = None,
        table_memory: str = "mapped",
    ) -> None:
        self.tokenizer = tokenizer if isinstance(tokenizer, TextTokenizer) else TextTokenizer(tokenizer)
        self.table = check_table(table)
        self._kernel_table = kernel_table(self.table)  # validated once, reused by every batch
        rows = self._kernel_table.rows
        v = self.tokenizer.vocab_size
        if mapping is None and rows != v:
            raise ValueError(f"the table has {rows} rows but the tokenizer has {v} tokens (and there is no mapping)")
        self.mapping = check_mapping(mapping, rows)
        if self.mapping is not None and len(self.mapping) != v:
            raise ValueError(f"mapping has length {len(self.mapping)} but the tokenizer has {v} tokens")
        self.weights = check_weights(weights, v, "the tokenizer's vocabulary")
        self.normalize = _validate.boolean(normalize, "normalize")
        self.max_length = self._check_max_length(max_length)
        self.config = dict(config or {})
        if table_memory not in TABLE_MEMORY:
            raise ValueError(f"table_memory must be one of {TABLE_MEMORY}, not {table_memory!r}")
        if table_memory == "rows" and not isinstance(self.table, np.ndarray):
            raise ValueError(f"table_memory='rows' applies to float32/float16/int8 tables, not a {type(self.table).__name__}")
        self.table_memory = table_memory
        self._rows = self._row_cache()

    def _row_cache(self) -> RowCache | None:
        return RowCache(self.table, self.mapping, self.vocab_size) if self.table_memory == "rows" else None

    def __getstate__(self) -> dict:  # the row cache is rebuilt empty (an anonymous mapping cannot pickle)
        return {k: v for k, v in self.__dict__.items() if k != "_rows"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.table_memory = state.get("table_memory", "mapped")  # pickles of older versions
        self._rows = self._row_cache()

    # -------------------------------------------------------------- loading and saving

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, *, normalize: bool | None = None, dims: int | None = None,
        quantize_to: str | None = None, max_length: Any = _UNSET, fast_tokenizer: bool = True,
        table_memory: str = "mapped",
    ) -> "StaticModel":
        """Load a local model2vec / StaticEmbedding directory (see :mod:`fastembed_core.model_io`).

        ``quantize_to`` ("float16", "int8") and ``dims`` do what model2vec's ``from_pretrained``
        does with them (model2vec's int8 uses one global scale that it then discards).
        ``fast_tokenizer=False`` always tokenizes with ``tokenizers`` (the default uses the C
        WordPiece when the tokenizer is BERT-style; ``model.tokenizer_path`` says which runs).
        ``table_memory``: "mapped" or "rows", see :class:`StaticModel`.
        """
        return model_io.load_pretrained(cls, path, normalize=normalize, dims=dims, quantize_to=quantize_to,
                                        max_length=max_length, fast_tokenizer=fast_tokenizer,
                                        table_memory=table_memory)

    @classmethod
    def default(cls, **kwargs: Any) -> "StaticModel":
        """The small model bundled with the package (``fastembed_core.models.default_model_path()``),
        distilled from all-MiniLM-L6-v2; ``kwargs`` go to :meth:`from_pretrained`."""
        from .models import default_model_path

        return cls.from_pretrained(default_model_path(), **kwargs)

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write a model2vec directory (model.safetensors, tokenizer.json, config.json, modules.json),
        atomically; see :func:`fastembed_core.model_io.save_pretrained`. A ternary model keeps its
        2-bit rows (fastembed_core loads it back; model2vec cannot, ``quantize("int8")`` can)."""
        return model_io.save_pretrained(self, path)

    # -------------------------------------------------------------- properties

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def tokenizer_path(self) -> str:
        """Which tokenizer ``tokenize``/``encode`` run: "fastembed_core.wordpiece",
        "fastembed_core.unigram" or "tokenizers" (``model.tokenizer.fast_reason`` says why no fast
        path was taken; turn the fast path off with ``model.tokenizer.fast = None``)."""
        return self.tokenizer.path

    def __repr__(self) -> str:
        kind = self.table.dtype.name if isinstance(self.table, np.ndarray) else type(self.table).__name__
        return (
            f"StaticModel(vocab_size={self.vocab_size}, dim={self.dim}, table={kind}[{self.table.shape[0]}], "
            f"weights={self.weights is not None}, mapping={self.mapping is not None}, "
            f"normalize={self.normalize}, max_length={self.max_length}, tokenizer={self.tokenizer_path!r})"
        )

    # -------------------------------------------------------------- quantization

    def quantize(self, to: str, **ternary_options: Any) -> "StaticModel":
        """A new model with a smaller table: "float16" (cast), "int8" (per-row symmetric scales,
        ``fastembed_core.quantization.symmetric_int8``) or
        "ternary" (2-bit rows, ``fastembed_core.ternarize(table, **ternary_options)``, per row by default).

        For int8 each table row r gets ``s_r = max|row| / 127`` and ``q = rint(row / s_r)``; the
        scales are folded into the per-token ``weights`` (``weights[t] * s[mapping[t]]``), which is
        exactly model2vec's ``embeddings[mapping[ids]] * weights[ids]``, so the saved model loads in
        model2vec with the same vectors.
        """
        if not isinstance(self.table, np.ndarray):
            raise TypeError(f"cannot quantize a {type(self.table).__name__} table")
        if ternary_options and to != "ternary":
            raise TypeError(f"quantize({to!r}) takes no options; got {sorted(ternary_options)}")
        with reading_whole(self.table):  # a memory-mapped table is read whole once
            return self._quantized(to, ternary_options)

    def _quantized(self, to: str, ternary_options: dict) -> "StaticModel":
        if to == "float16":
            return self._replace(np.asarray(self.table, dtype=np.float16), self.weights)
        if to == "int8":
            q, scale = symmetric_int8(self.table)
            rows = self.mapping if self.mapping is not None else np.arange(len(q))
            w = scale[rows] if self.weights is None else self.weights * scale[rows]
            return self._replace(q, w.astype(np.float32))
        if to == "ternary":
            # Per-row ternary (least-squares scale per row): 2 bits per weight. The weights and
            # mapping stay as they are, so the model means the same thing with a coarser table.
            return self._replace(ternarize(np.asarray(self.table, dtype=np.float32), **ternary_options), self.weights)
        raise ValueError(f"quantize: to must be 'float16', 'int8' or 'ternary', not {to!r}")

    def _replace(self, table: Any, weights: Any) -> "StaticModel":
        return type(self)(table, self.tokenizer, weights=weights, mapping=self.mapping, normalize=self.normalize,
                          max_length=self.max_length, config=self.config)

    # -------------------------------------------------------------- encoding

    @staticmethod
    def _check_max_length(max_length: Any) -> int | None:
        return _validate.positive_int(max_length, "max_length", optional=True)

    def tokenize(self, sentences: Sequence[str], *, max_length: Any = _UNSET,
                 num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids int32[T], offsets int64[n + 1]): model2vec 0.10's tokenization, flat (see tokenize.py)."""
        if max_length is _UNSET:
            max_length = self.max_length
        if isinstance(sentences, str):
            sentences = [sentences]
        return self.tokenizer.encode(sentences, max_length=max_length, num_threads=num_threads)

    def _pool(self, ids: np.ndarray, offsets: np.ndarray, normalize: bool, dims: int | None,
              num_threads: int, out: np.ndarray) -> None:
        ids, offsets = _validate.check_bags(ids, offsets, self.vocab_size)
        table, mapping = ((self._rows.table, self._rows.mapping_for(ids)) if self._rows is not None
                          else (self._kernel_table, self.mapping))
        run(table.columns(dims), ids, offsets, mapping, self.weights, normalize, num_threads, out)

    def encode(
        self,
        sentences: str | Iterable[str],
        *,
        normalize: bool | None = None,
        dims: int | None = None,
        precision: str = "float32",
        batch_size: int = 1024,
        max_length: Any = _UNSET,
        num_threads: int | None = None,
        show_progress_bar: bool = False,
        ranges: np.ndarray | None = None,
    ) -> np.ndarray:
        """Embed sentences: a str gives a 1-D vector, anything else a 2-D array (one row per sentence).

        Always float32. For float32 and int8 tables the vectors are model2vec 0.10's bit for bit (same
        arithmetic order, see fastembed_core._ref.gather); for a float16 table the mean is not rounded
        to float16 as model2vec does (within one float16 ulp of model2vec, more exact), float64 tables
        are pooled in float32. Unlike model2vec, ``encode([])`` returns an empty [0, dim] array (model2vec
        raises); ``integrations.model2vec.accelerate`` follows model2vec in all of these.

        Args:
            sentences: a str, a sequence of str, or any iterable of str (consumed batch by batch,
                so a generator is never materialised as a whole).
            normalize: L2-normalise (default: the model's setting, from config).
            dims: keep the first ``dims`` dimensions (Matryoshka); when normalising, the truncated
                vectors are renormalised.
            precision: "float32", "int8", "ubinary" or "binary", the formats of
                ``sentence_transformers.quantization.quantize_embeddings``. int8 uses per-dimension
                ``ranges`` [2, dims] (min, max), computed from these embeddings when None.
            batch_size: sentences tokenized at a time.
            max_length: tokens per sentence (default: the model's, usually 512; None: no limit).
            num_threads: threads for pooling (and the tokenizer fast path); None = all cores.
            show_progress_bar: tqdm progress bar over batches.
        """
        normalize = self.normalize if normalize is None else _validate.boolean(normalize, "normalize")
        dims = _validate.positive_int(dims, "dims", upper=self.dim, optional=True)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        batch_size = _validate.positive_int(batch_size, "batch_size")
        max_length = self.max_length if max_length is _UNSET else self._check_max_length(max_length)
        threads = _validate.threads(num_threads)
        d = dims or self.dim
        if ranges is not None:
            ranges = np.asarray(ranges, dtype=np.float32)
            if precision != "int8" or ranges.shape != (2, d):
                raise ValueError(f"ranges must be a [2, {d}] array (int8 precision only), got shape {ranges.shape}")

        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        elif isinstance(sentences, (bytes, bytearray)) or not isinstance(sentences, Iterable):
            raise TypeError(f"sentences must be a str or an iterable of str, not {type(sentences).__name__}")
        total = len(sentences) if isinstance(sentences, Sequence) else None

        def batches() -> Iterator[list]:
            if isinstance(sentences, Sequence):
                for i in range(0, len(sentences), batch_size):
                    yield sentences[i : i + batch_size]
            else:
                it = iter(sentences)
                while chunk := list(itertools.islice(it, batch_size)):
                    yield chunk

        def embed(batch: Sequence[str], out: np.ndarray | None = None, nt: int = threads) -> np.ndarray:
            ids, offsets = self.tokenizer.encode(batch, max_length=max_length, num_threads=nt)
            if out is None:
                out = np.empty((len(batch), d), dtype=np.float32)
            self._pool(ids, offsets, normalize, dims, nt, out)
            return out

        bar = None
        if show_progress_bar:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="sentence", desc="encode")
        try:
            if total is not None and (precision == "float32" or (precision == "int8" and ranges is None)):
                result = np.empty((total, d), dtype=np.float32)
                chunk = _chunk_texts(total, batch_size, threads)
                if chunk:
                    # Whole chunks per thread, each tokenized and pooled on one thread: one dispatch
                    # per call, and the Python part of one chunk overlaps the kernels of another.
                    check_texts(sentences)
                    done = threading.Lock()

                    def task(c: int) -> None:
                        batch = sentences[c * chunk : (c + 1) * chunk]
                        embed(batch, result[c * chunk : c * chunk + len(batch)], 1)
                        if bar is not None:
                            with done:
                                bar.update(len(batch))

                    _parallel.run_tasks(task, -(-total // chunk), threads)
                else:
                    for i, batch in enumerate(batches()):
                        embed(batch, result[i * batch_size : i * batch_size + len(batch)])
                        if bar is not None:
                            bar.update(len(batch))
                parts = [result]
            else:
                parts = []
                for batch in batches():
                    x = embed(batch)
                    # codes (or int8 with fixed ranges) are packed per batch: bounded float memory
                    parts.append(x if precision == "float32" or (precision == "int8" and ranges is None)
                                 else quantize_embeddings(x, precision, ranges))
                    if bar is not None:
                        bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        if len(parts) == 1:
            res = parts[0]
        elif parts:
            res = np.concatenate(parts, axis=0)
        else:
            res = np.empty((0, d), dtype=np.float32)
        if precision != "float32" and (res.dtype == np.float32):
            res = quantize_embeddings(res, precision, ranges)
        return res[0] if single else res

