"""StaticModel: static text embeddings with model2vec 0.10's exact vectors (public API).

``StaticModel.from_pretrained(path)`` loads a local model2vec directory (``model.safetensors`` with
``embeddings`` [V|K, dim] float32/float16/int8/float64, optional ``weights`` [V] and ``mapping`` [V];
``tokenizer.json``; ``config.json``) or a sentence-transformers StaticEmbedding layout
(``embedding.weight``, possibly under ``0_StaticEmbedding/``). Only safetensors are read (nothing is
unpickled); the table is memory-mapped when its dtype is used as is (float32/float16/int8).

``encode`` = tokenize (``TextTokenizer``) -> ``gather_mean`` over ``table[mapping[ids]] *
weights[ids]`` -> optional normalisation, identical to ``model2vec.StaticModel.encode``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from . import _parallel
from .pooling import _run, check_bags, check_table
from .ternary import TernaryMatrix, ternarize
from .tokenize import TextTokenizer

__all__ = ["StaticModel"]

DEFAULT_MAX_LENGTH = 512
PRECISIONS = ("float32", "int8", "ubinary", "binary")
_UNSET: Any = object()

# safetensors dtype names -> little-endian numpy dtypes
_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I8": "i1", "U8": "u1",
    "I16": "<i2", "I32": "<i4", "I64": "<i8", "U16": "<u2", "U32": "<u4", "U64": "<u8",
}
_NP_TO_ST = {np.dtype(v).newbyteorder("="): k for k, v in _ST_DTYPES.items()}


# ------------------------------------------------------------------ safetensors, read and written by hand


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a read-only numpy memmap of its byte range.

    Checks the header (size, JSON, dtypes, shapes, offsets inside the file); ValueError naming the
    file and the tensor otherwise.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        n = int.from_bytes(head, "little")
        if n <= 0 or 8 + n > size:
            raise ValueError(f"{path}: corrupted safetensors header (header size {n}, file size {size})")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: corrupted safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: corrupted safetensors header (not a JSON object)")
    start = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_ST_DTYPES[info["dtype"]])
            shape = tuple(int(d) for d in info["shape"])
            lo, hi = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name!r} has an unsupported dtype or a malformed entry: {info!r}") from None
        count = math.prod(shape)
        if min(shape, default=0) < 0 or not 0 <= lo <= hi or start + hi > size or hi - lo != count * dtype.itemsize:
            raise ValueError(f"{path}: tensor {name!r} ({info['dtype']} {list(shape)}) does not fit its byte range {lo}:{hi}")
        if count == 0:
            out[name] = np.zeros(shape, dtype=dtype)
        else:
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=start + lo, shape=shape)
    return out


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write C-contiguous little-endian tensors in the safetensors format."""
    header: dict[str, Any] = {}
    pos = 0
    arrays = []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": _NP_TO_ST[a.dtype.newbyteorder("=")], "shape": list(a.shape), "data_offsets": [pos, pos + a.nbytes]}
        pos += a.nbytes
        arrays.append(a)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        for a in arrays:
            fh.write(a.tobytes())


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None


def _check_finite(table: np.ndarray, name: str) -> None:
    if table.dtype.kind != "f":
        return
    step = max(1, (1 << 22) // max(1, table.shape[1]))
    for i in range(0, table.shape[0], step):
        if not np.isfinite(table[i : i + step]).all():
            raise ValueError(f"tensor {name!r} contains NaN or inf (rows {i}..{i + step})")


def _find_layout(root: Path) -> tuple[Path, Path, dict, bool | None]:
    """(tensor file, tokenizer file, config, normalize from modules.json or None)."""
    if not root.exists():
        raise FileNotFoundError(f"model directory {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"model path {root} is not a directory")
    modules = _read_json(root / "modules.json", "modules.json") if (root / "modules.json").exists() else []
    sub = "."
    normalize_module = None
    if isinstance(modules, list):
        types = [str(m.get("type", "")) for m in modules if isinstance(m, dict)]
        normalize_module = any(t.endswith("Normalize") for t in types)
        for m in modules:
            if isinstance(m, dict) and str(m.get("type", "")).endswith("StaticEmbedding"):
                sub = str(m.get("path", "."))
    candidates = [root / sub, root, root / "0_StaticEmbedding"]
    for d in candidates:
        if (d / "model.safetensors").exists() and (d / "tokenizer.json").exists():
            break
    else:
        missing = [f for f in ("model.safetensors", "tokenizer.json") if not (root / f).exists()]
        raise FileNotFoundError(f"{root} is not a model2vec or StaticEmbedding directory: missing {', '.join(missing)}"
                                " (looked in . and 0_StaticEmbedding/)")
    config: dict = {}
    for name in ("config.json", "config_sentence_transformers.json"):
        if (root / name).exists():
            config = _read_json(root / name, name)
            if not isinstance(config, dict):
                raise ValueError(f"{root / name} must hold a JSON object")
            break
    return d / "model.safetensors", d / "tokenizer.json", config, normalize_module


_TERNARY_PACKED, _TERNARY_SCALES = "ternary_packed", "ternary_scales"

# ------------------------------------------------------------------ the model


class StaticModel:
    """A static embedding model: a table (dense array or a table object), a tokenizer, options.

    Args:
        table: [K, dim] float32/float16/int8 (float64 converted) array, or a table object with
            ``shape`` and ``_fastembed_gather_mean`` (see ``fastembed_core.pooling``).
        tokenizer: a ``tokenizers.Tokenizer`` or a ``TextTokenizer``.
        weights: optional [V] per-token weights; mapping: optional [V] token id -> table row.
        normalize: default for ``encode``; max_length: default token limit (None: no limit).
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
    ) -> None:
        self.tokenizer = tokenizer if isinstance(tokenizer, TextTokenizer) else TextTokenizer(tokenizer)
        custom = hasattr(table, "_fastembed_gather_mean") and not isinstance(table, np.ndarray)
        self.table = table if custom else check_table(table)
        rows = self.table.shape[0]
        v = self.tokenizer.vocab_size
        if mapping is None:
            if rows != v:
                raise ValueError(f"the table has {rows} rows but the tokenizer has {v} tokens (and there is no mapping)")
            self.mapping = None
        else:
            m = np.asarray(mapping)
            if m.ndim != 1 or m.dtype.kind not in "iu":
                raise ValueError(f"mapping must be a 1-D integer array, got {m.dtype} {m.shape}")
            if len(m) != v:
                raise ValueError(f"mapping has length {len(m)} but the tokenizer has {v} tokens")
            if len(m) and (m.min() < 0 or m.max() >= rows):
                raise ValueError(f"mapping values must lie in [0, {rows}) (table rows)")
            self.mapping = np.require(m, np.int32, ["C", "A"])
        if weights is None:
            self.weights = None
        else:
            w = np.asarray(weights)
            if w.ndim != 1 or w.dtype.kind != "f":
                raise ValueError(f"weights must be a 1-D float array, got {w.dtype} {w.shape}")
            if len(w) != v:
                raise ValueError(f"weights has length {len(w)} but the tokenizer has {v} tokens")
            w = np.require(w, np.float32, ["C", "A"])  # a memory-mapped tensor may sit at an odd offset
            if not np.isfinite(w).all():
                raise ValueError("weights contains NaN or inf")
            self.weights = w
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be a bool, not {type(normalize).__name__}")
        self.normalize = bool(normalize)
        self.max_length = self._check_max_length(max_length)
        self.config = dict(config or {})

    # -------------------------------------------------------------- loading and saving

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, *, normalize: bool | None = None, dims: int | None = None,
        quantize_to: str | None = None, max_length: Any = _UNSET, fast_tokenizer: bool = True,
    ) -> "StaticModel":
        """Load a local model2vec / StaticEmbedding directory (see the module docstring).

        ``quantize_to`` ("float16", "int8") and ``dims`` do what model2vec's ``from_pretrained``
        does with them (model2vec's int8 uses one global scale that it then discards).
        ``fast_tokenizer=False`` always tokenizes with ``tokenizers`` (the default uses the C
        WordPiece when the tokenizer is BERT-style; ``model.tokenizer_path`` says which runs).
        """
        root = Path(path)
        tensor_file, tokenizer_file, config, normalize_module = _find_layout(root)
        tensors = read_safetensors(tensor_file)
        if _TERNARY_PACKED in tensors:
            return cls._from_ternary(root, tensor_file, tokenizer_file, tensors, config, normalize=normalize,
                                     dims=dims, max_length=max_length, fast_tokenizer=fast_tokenizer)
        name = "embeddings" if "embeddings" in tensors else "embedding.weight" if "embedding.weight" in tensors else None
        if name is None:
            raise ValueError(f"{tensor_file}: no 'embeddings' or 'embedding.weight' tensor (found {sorted(tensors)})")
        table = tensors[name]
        if table.ndim != 2:
            raise ValueError(f"{tensor_file}: tensor {name!r} must be 2-D [vocab, dim], got shape {list(table.shape)}")
        if table.dtype not in (np.float32, np.float16, np.int8, np.float64):
            raise ValueError(f"{tensor_file}: tensor {name!r} has dtype {table.dtype}; expected float32, float16, int8 or float64")
        _check_finite(table, name)
        weights, mapping = tensors.get("weights"), tensors.get("mapping")
        for tname, t in (("weights", weights), ("mapping", mapping)):
            if t is not None and t.ndim != 1:
                raise ValueError(f"{tensor_file}: tensor {tname!r} must be 1-D, got shape {list(t.shape)}")
        if weights is not None and weights.dtype.kind != "f":
            raise ValueError(f"{tensor_file}: tensor 'weights' must be float, not {weights.dtype}")
        if mapping is not None and mapping.dtype.kind not in "iu":
            raise ValueError(f"{tensor_file}: tensor 'mapping' must be integer, not {mapping.dtype}")
        if quantize_to == "ternary":
            table = ternarize(np.asarray(table, dtype=np.float32))
        elif quantize_to is not None:
            table = _model2vec_quantize(table, quantize_to)
        if dims is not None:
            if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= table.shape[1]:
                raise ValueError(f"dims must be an integer in [1, {table.shape[1]}], not {dims!r}")
            if isinstance(table, TernaryMatrix):
                raise ValueError("dims cannot be combined with quantize_to='ternary'; pass dims to encode()")
            table = table[:, :dims]
        return cls._assemble(root, table, tokenizer_file, weights, mapping, config, normalize, normalize_module,
                             max_length, fast_tokenizer)

    @classmethod
    def _assemble(cls, root, table, tokenizer_file, weights, mapping, config, normalize, normalize_module,
                  max_length, fast_tokenizer) -> "StaticModel":
        if normalize is None:
            normalize = config.get("normalize", normalize_module or False)
        if max_length is _UNSET:
            max_length = config.get("max_length", DEFAULT_MAX_LENGTH)
        tokenizer = TextTokenizer.from_file(tokenizer_file, fast="auto" if fast_tokenizer else None)
        try:
            return cls(table, tokenizer, weights=weights, mapping=mapping, normalize=bool(normalize),
                       max_length=max_length, config=config)
        except ValueError as exc:
            raise ValueError(f"{root}: {exc}") from None

    @classmethod
    def default(cls, **kwargs: Any) -> "StaticModel":
        """The small model bundled with the package (``fastembed_core.models.default_model_path()``),
        distilled from all-MiniLM-L6-v2; ``kwargs`` go to :meth:`from_pretrained`."""
        from .models import default_model_path

        return cls.from_pretrained(default_model_path(), **kwargs)

    @classmethod
    def _from_ternary(cls, root, tensor_file, tokenizer_file, tensors, config, *, normalize, dims, max_length,
                      fast_tokenizer) -> "StaticModel":
        """A directory written by save_pretrained from a ternary model (see there)."""
        shape = config.get("ternary_shape")
        if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(d, int) for d in shape)):
            raise ValueError(f"{root}/config.json: a ternary model needs 'ternary_shape': [rows, dim], got {shape!r}")
        scales = tensors.get(_TERNARY_SCALES)
        if scales is None or scales.dtype != np.float32:
            raise ValueError(f"{tensor_file}: a ternary model needs a float32 {_TERNARY_SCALES!r} tensor")
        if dims is not None:
            raise ValueError("dims cannot be applied to a ternary table at load time; pass dims to encode()")
        try:
            table = TernaryMatrix(tensors[_TERNARY_PACKED], scales, (shape[0], shape[1]))  # verifies every code
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{tensor_file}: {exc}") from None
        return cls._assemble(root, table, tokenizer_file, tensors.get("weights"), tensors.get("mapping"), config,
                             normalize, None, max_length, fast_tokenizer)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write a model2vec directory (model.safetensors, tokenizer.json, config.json, modules.json).

        A ternary model (``quantize("ternary")``) keeps its 2-bit rows: the file then holds
        ``ternary_packed`` (uint8, layout in ``fastembed_core.ternary``) and ``ternary_scales``
        (float32 per row) instead of ``embeddings``, and config.json says ``"embedding_dtype":
        "ternary"``. fastembed_core loads it back; model2vec cannot (``quantize("int8")`` can).

        Everything is written to a temporary sibling directory first, then renamed into place (files
        of an existing directory are replaced one by one with ``os.replace``).
        """
        ternary = isinstance(self.table, TernaryMatrix)
        if not ternary and not isinstance(self.table, np.ndarray):
            raise TypeError(f"cannot save a {type(self.table).__name__} table in model2vec format")
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{path} exists and is not a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp", dir=path.parent))
        try:
            if ternary:
                tensors = {_TERNARY_PACKED: self.table.packed, _TERNARY_SCALES: self.table.row_scales}
            else:
                tensors = {"embeddings": self.table}
            if self.weights is not None:
                tensors["weights"] = self.weights
            if self.mapping is not None:
                tensors["mapping"] = self.mapping.astype(np.int64)
            write_safetensors(tmp / "model.safetensors", tensors)
            self.tokenizer.tokenizer.save(str(tmp / "tokenizer.json"), pretty=False)
            cfg = dict(self.config)
            cfg.update(normalize=self.normalize, max_length=self.max_length, hidden_dim=self.dim,
                       embedding_dtype="ternary" if ternary else self.table.dtype.name)
            if ternary:
                cfg["ternary_shape"] = list(self.table.shape)
            else:
                cfg.pop("ternary_shape", None)
            cfg.setdefault("model_type", "model2vec")
            if self.mapping is not None:
                cfg["vocabulary_quantization"] = int(self.table.shape[0])
            else:
                cfg.pop("vocabulary_quantization", None)
            (tmp / "config.json").write_text(json.dumps(cfg, indent=4))
            modules = [{"idx": 0, "name": "0", "path": ".", "type": "sentence_transformers.models.StaticEmbedding"}]
            if self.normalize:
                modules.append({"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.models.Normalize"})
            (tmp / "modules.json").write_text(json.dumps(modules, indent=4))
            if not path.exists():
                try:
                    os.rename(tmp, path)
                    return
                except OSError:
                    path.mkdir(exist_ok=True)
            for f in tmp.iterdir():
                os.replace(f, path / f.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

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
        """A new model with a smaller table: "float16" (cast), "int8" (per-row symmetric scales) or
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
        if to == "float16":
            return self._replace(np.asarray(self.table, dtype=np.float16), self.weights)
        if to == "int8":
            x = np.asarray(self.table, dtype=np.float32)
            scale = np.abs(x).max(axis=1) / np.float32(127) if x.size else np.ones(len(x), np.float32)
            scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
            q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
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
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"max_length must be None or a positive integer, not {max_length!r}")
        return max_length

    def tokenize(self, sentences: Sequence[str], *, max_length: Any = _UNSET,
                 num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids int32[T], offsets int64[n + 1]): model2vec 0.10's tokenization, flat (see tokenize.py)."""
        if max_length is _UNSET:
            max_length = self.max_length
        if isinstance(sentences, str):
            sentences = [sentences]
        return self.tokenizer.encode(sentences, max_length=max_length, num_threads=num_threads)

    def _pool(self, ids: np.ndarray, offsets: np.ndarray, normalize: bool, dims: int | None,
              num_threads: int | None, out: np.ndarray) -> None:
        ids, offsets = check_bags(ids, offsets, self.vocab_size)
        table = self.table
        if isinstance(table, np.ndarray):
            if dims is not None:
                table = table[:, :dims]
            _run(table, ids, offsets, self.mapping, self.weights, None, normalize, num_threads, out)
            return
        full = table._fastembed_gather_mean(ids, offsets, mapping=self.mapping, weights=self.weights,
                                            normalize=normalize and dims is None, num_threads=num_threads)
        if dims is not None:
            full = full[:, :dims]
            if normalize:
                full = full / (np.linalg.norm(full, axis=1, keepdims=True) + np.float32(1e-32))
        out[:] = full

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
        if normalize is None:
            normalize = self.normalize
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be a bool, not {type(normalize).__name__}")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= self.dim):
            raise ValueError(f"dims must be an integer in [1, {self.dim}], not {dims!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
        max_length = self.max_length if max_length is _UNSET else self._check_max_length(max_length)
        _parallel.resolve_threads(num_threads)
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

        def embed(batch: Sequence[str], out: np.ndarray | None = None) -> np.ndarray:
            ids, offsets = self.tokenizer.encode(batch, max_length=max_length, num_threads=num_threads)
            if out is None:
                out = np.empty((len(batch), d), dtype=np.float32)
            self._pool(ids, offsets, bool(normalize), dims, num_threads, out)
            return out

        bar = None
        if show_progress_bar:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="sentence", desc="encode")
        try:
            if total is not None and (precision == "float32" or (precision == "int8" and ranges is None)):
                result = np.empty((total, d), dtype=np.float32)
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
                                 else _quantize(x, precision, ranges))
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
            res = _quantize(res, precision, ranges)
        return res[0] if single else res


def _quantize(x: np.ndarray, precision: str, ranges: np.ndarray | None) -> np.ndarray:
    """sentence-transformers' quantize_embeddings formats (int8 ranges from x when None)."""
    if precision == "ubinary":
        return np.packbits(x > 0, axis=-1)
    if precision == "binary":
        return (np.packbits(x > 0, axis=-1) ^ np.uint8(0x80)).view(np.int8)
    if ranges is None:
        if len(x) < 2:
            raise ValueError("int8 precision needs ranges= (or at least two sentences to compute them from)")
        ranges = np.vstack((x.min(axis=0), x.max(axis=0)))
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    q = np.clip(np.floor((x - starts) / steps), 0, 255)
    return (q - 128).astype(np.int8)


def _model2vec_quantize(table: np.ndarray, to: str) -> np.ndarray:
    """model2vec 0.10's quantize_embeddings: a cast, or int8 with one global scale (then discarded)."""
    target = {"float16": np.float16, "float32": np.float32, "float64": np.float64, "int8": np.int8}.get(str(to))
    if target is None:
        raise ValueError(f"quantize_to must be 'float16', 'float32', 'float64' or 'int8', not {to!r}")
    if table.dtype == target:
        return table
    if target is not np.int8:
        return np.asarray(table).astype(target)
    scale = np.max(np.abs(table)) / 127.0
    buf = np.asarray(table).astype(np.float16, copy=True)
    np.divide(buf, scale, out=buf)
    np.rint(buf, out=buf)
    np.clip(buf, -127, 127, out=buf)
    return buf.astype(np.int8)
