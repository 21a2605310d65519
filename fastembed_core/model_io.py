"""Model directories on disk: layout detection, loading and saving (for :class:`StaticModel`).

Read: a model2vec directory (``model.safetensors`` with ``embeddings`` [V|K, dim]
float32/float16/int8/float64, optional ``weights`` [V] and ``mapping`` [V]; ``tokenizer.json``;
``config.json``) or a sentence-transformers StaticEmbedding layout (``embedding.weight``, possibly
under ``0_StaticEmbedding/``, named by ``modules.json``). Only safetensors are read (nothing is
unpickled); tensors are memory-mapped (``fastembed_core._io.read_safetensors``) and the table is
used in place when its dtype is a kernel dtype.

Written (:func:`save_pretrained`, the one writer: ``StaticModel.save_pretrained`` and ``distill``):
``model.safetensors``, ``tokenizer.json``, ``config.json`` and ``modules.json``, as one atomic
directory (``fastembed_core._io.atomic_write``; into an existing directory, file by file). A ternary table is stored as ``ternary_packed``
(uint8, layout in ``fastembed_core.ternary``) and ``ternary_scales`` (float32 per row) with
``"embedding_dtype": "ternary"`` and ``"ternary_shape"`` in config.json; fastembed_core loads it,
model2vec does not (``fastembed_core.integrations.model2vec.to_model2vec`` exports it exactly).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._io import (advise_random, atomic_write, cache_dir, drop_page_cache, read_json, read_safetensors, reading_whole,
                  resident_fraction, write_safetensors)
from .quantization import model2vec_quantize
from .ternary import TernaryMatrix, ternarize
from .tokenize import TextTokenizer

if TYPE_CHECKING:
    from .model import StaticModel

__all__ = ["find_layout", "load_pretrained", "save_pretrained"]

DEFAULT_MAX_LENGTH = 512
UNSET: Any = object()
TERNARY_PACKED, TERNARY_SCALES = "ternary_packed", "ternary_scales"


# A file must be this old (ctime) before its finite verdict is kept: a later change then moves ctime
# even on filesystems with coarse timestamps ("racy git" rule).
_SETTLED_NS = 2_000_000_000


def check_finite(table: np.ndarray, name: str) -> None:
    """ValueError if a float table holds NaN or inf, checked in slices.

    A memory-mapped table is read through its file, not through the mapping, and each slice read is
    dropped from the page cache again (``_io.drop_page_cache``: pages some process maps stay): the check
    leaves none of the table's pages in this process or in the cache, so a process holding a large
    model keeps only the rows it gathers (see ``_map_lean``). A finite table is remembered by its
    file's identity (path, device, inode, size, mtime, ctime; a file under ``cache_dir()``), and
    later loads of the unchanged file skip the read.
    """
    if table.dtype.kind != "f":
        return
    verdict = _finite_verdict(table)
    if verdict is not None:
        try:
            if verdict[0].read_bytes() == verdict[1]:
                return
        except OSError:  # none yet (or unreadable): check
            pass
    step = max(1, (1 << 22) // max(1, table.shape[1]))
    for i, rows in _row_slices(table, step):
        if not np.isfinite(rows).all():
            raise ValueError(f"tensor {name!r} contains NaN or inf (rows {i}..{i + step})")
    if verdict is not None and verdict[2]:
        try:
            verdict[0].parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(verdict[0]) as tmp:
                tmp.write_bytes(verdict[1])
        except OSError:  # a read-only cache only costs the check next time
            pass


def _finite_verdict(table: np.ndarray) -> tuple[Path, bytes, bool] | None:
    """(verdict file, its expected content, whether the file is settled enough to keep one) of a
    whole mapped tensor, else None."""
    filename, offset = getattr(table, "filename", None), getattr(table, "offset", None)
    if filename is None or offset is None:
        return None
    import hashlib
    import time

    try:
        st = os.stat(filename)
    except OSError:
        return None
    key = (f"finite table v1 {os.path.realpath(filename)} dev={st.st_dev} ino={st.st_ino} size={st.st_size} "
           f"mtime={st.st_mtime_ns} ctime={st.st_ctime_ns} offset={offset} {table.dtype.str} {list(table.shape)}\n")
    raw = key.encode("utf-8", "surrogateescape")  # a path need not be valid UTF-8
    path = cache_dir() / f"finite-{hashlib.sha256(raw).hexdigest()[:40]}"
    return path, raw, time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS


def _row_slices(table: np.ndarray, step: int):
    """(first row, rows) slices of ``table``: read from its file when it is a whole mapped tensor."""
    filename, offset = getattr(table, "filename", None), getattr(table, "offset", None)
    if filename is None or offset is None or not table.flags.c_contiguous or table.base is None:
        for i in range(0, table.shape[0], step):
            yield i, table[i : i + step]
        return
    row_bytes = table.shape[1] * table.itemsize
    with open(filename, "rb", buffering=0) as fh:
        for i in range(0, table.shape[0], step):
            n = min(step, table.shape[0] - i)
            at = offset + i * row_bytes
            fh.seek(at)
            rows = np.frombuffer(fh.read(n * row_bytes), dtype=table.dtype)
            if rows.size != n * table.shape[1]:
                raise ValueError(f"{filename}: shorter than its header says")
            drop_page_cache(fh.fileno())  # the whole file: a partly covered (large) folio would stay
            yield i, rows


def find_layout(root: Path) -> tuple[Path, Path, dict, bool | None]:
    """(tensor file, tokenizer file, config, normalize from modules.json or None)."""
    if not root.exists():
        raise FileNotFoundError(f"model directory {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"model path {root} is not a directory")
    modules = read_json(root / "modules.json", "modules.json") if (root / "modules.json").exists() else []
    sub = "."
    normalize_module = None
    if isinstance(modules, list):
        types = [str(m.get("type", "")) for m in modules if isinstance(m, dict)]
        normalize_module = any(t.endswith("Normalize") for t in types)
        for m in modules:
            if isinstance(m, dict) and str(m.get("type", "")).endswith("StaticEmbedding"):
                sub = str(m.get("path", "."))
    for d in (root / sub, root, root / "0_StaticEmbedding"):
        if (d / "model.safetensors").exists() and (d / "tokenizer.json").exists():
            break
    else:
        missing = [f for f in ("model.safetensors", "tokenizer.json") if not (root / f).exists()]
        raise FileNotFoundError(f"{root} is not a model2vec or StaticEmbedding directory: missing {', '.join(missing)}"
                                " (looked in . and 0_StaticEmbedding/)")
    config: dict = {}
    for name in ("config.json", "config_sentence_transformers.json"):
        if (root / name).exists():
            config = read_json(root / name, name)
            if not isinstance(config, dict):
                raise ValueError(f"{root / name} must hold a JSON object")
            break
    return d / "model.safetensors", d / "tokenizer.json", config, normalize_module


def load_pretrained(cls: type, path: str | os.PathLike, *, normalize: bool | None = None, dims: Any = None,
                    quantize_to: str | None = None, max_length: Any = UNSET, fast_tokenizer: bool = True,
                    table_memory: str = "mapped") -> Any:
    """``cls`` (a StaticModel class) loaded from a local directory; see ``StaticModel.from_pretrained``."""
    from . import _validate

    root = Path(path)
    tensor_file, tokenizer_file, config, normalize_module = find_layout(root)
    tensors = read_safetensors(tensor_file)
    weights, mapping = tensors.get("weights"), tensors.get("mapping")
    if TERNARY_PACKED in tensors:
        table = _ternary_table(root, tensor_file, tensors, config)
        if dims is not None:
            raise ValueError("dims cannot be applied to a ternary table at load time; pass dims to encode()")
        normalize_module = None
    else:
        table = _dense_table(tensor_file, tensors)
        for tname, t in (("weights", weights), ("mapping", mapping)):
            if t is not None and t.ndim != 1:
                raise ValueError(f"{tensor_file}: tensor {tname!r} must be 1-D, got shape {list(t.shape)}")
        if weights is not None and weights.dtype.kind != "f":
            raise ValueError(f"{tensor_file}: tensor 'weights' must be float, not {weights.dtype}")
        if mapping is not None and mapping.dtype.kind not in "iu":
            raise ValueError(f"{tensor_file}: tensor 'mapping' must be integer, not {mapping.dtype}")
        if quantize_to is None and table.dtype != np.float64:
            _map_lean(table)  # used in place (a quantizer or the float64 conversion reads it all once)
        elif quantize_to == "ternary":
            table = ternarize(np.asarray(table, dtype=np.float32))
        elif quantize_to is not None:
            table = model2vec_quantize(table, quantize_to)
        if dims is not None:
            dims = _validate.positive_int(dims, "dims", upper=table.shape[1])
            if isinstance(table, TernaryMatrix):
                raise ValueError("dims cannot be combined with quantize_to='ternary'; pass dims to encode()")
            table = table[:, :dims]
    if normalize is None:
        normalize = config.get("normalize", normalize_module or False)
    if max_length is UNSET:
        max_length = config.get("max_length", DEFAULT_MAX_LENGTH)
    tokenizer = TextTokenizer.from_file(tokenizer_file, fast="auto" if fast_tokenizer else None)
    try:
        return cls(table, tokenizer, weights=weights, mapping=mapping, normalize=bool(normalize),
                   max_length=max_length, config=config, table_memory=table_memory)
    except ValueError as exc:
        raise ValueError(f"{root}: {exc}") from None


def _dense_table(tensor_file: Path, tensors: dict[str, np.ndarray]) -> np.ndarray:
    name = "embeddings" if "embeddings" in tensors else "embedding.weight" if "embedding.weight" in tensors else None
    if name is None:
        raise ValueError(f"{tensor_file}: no 'embeddings' or 'embedding.weight' tensor (found {sorted(tensors)})")
    table = tensors[name]
    if table.ndim != 2:
        raise ValueError(f"{tensor_file}: tensor {name!r} must be 2-D [vocab, dim], got shape {list(table.shape)}")
    if table.dtype not in (np.float32, np.float16, np.int8, np.float64):
        raise ValueError(f"{tensor_file}: tensor {name!r} has dtype {table.dtype}; expected float32, float16, int8 or float64")
    check_finite(table, name)
    return table


# A table file this much in the page cache was read whole (a download, a copy, another library's load):
# large folios, which a fault maps whole. A sparser cache holds the 4 KB pages earlier gathers read: kept.
_WHOLE_READ_RESIDENCY = 0.9


def _map_lean(table: np.ndarray) -> None:
    """Encode gathers scattered rows of a memory-mapped table: advise random access, and when the
    file sits (almost) whole in the page cache drop its unmapped cached pages, so a lone process maps
    (and the cache holds) only the 4 KB pages of the rows it gathers, not whole large folios
    (``_io.drop_page_cache``). A cache left sparse by earlier gathers is kept (warm repeat loads)."""
    filename = getattr(table, "filename", None)
    if filename is None:
        return
    advise_random(table)
    resident = resident_fraction(table)
    if resident is not None and resident < _WHOLE_READ_RESIDENCY:
        return
    try:
        fd = os.open(filename, os.O_RDONLY)
    except OSError:
        return
    try:
        drop_page_cache(fd)
    finally:
        os.close(fd)


def _ternary_table(root: Path, tensor_file: Path, tensors: dict[str, np.ndarray], config: dict) -> TernaryMatrix:
    """The table of a directory written by save_pretrained from a ternary model."""
    shape = config.get("ternary_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(d, int) for d in shape)):
        raise ValueError(f"{root}/config.json: a ternary model needs 'ternary_shape': [rows, dim], got {shape!r}")
    scales = tensors.get(TERNARY_SCALES)
    if scales is None or scales.dtype != np.float32:
        raise ValueError(f"{tensor_file}: a ternary model needs a float32 {TERNARY_SCALES!r} tensor")
    try:
        return TernaryMatrix(tensors[TERNARY_PACKED], scales, (shape[0], shape[1]))  # verifies every code
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{tensor_file}: {exc}") from None


def _write_tensors(path: Path, tensors: dict) -> None:
    with reading_whole(tensors.get("embeddings")):  # a memory-mapped table is read whole once
        write_safetensors(path, tensors)


def save_pretrained(model: "StaticModel", path: str | os.PathLike, *, force: bool = True) -> Path:
    """Write ``model`` as a model2vec directory at ``path``, atomically (see the module docstring).

    ``force=False``: FileExistsError if ``path`` exists. Returns the path.
    """
    table = model.table
    ternary = isinstance(table, TernaryMatrix)
    if not ternary and not isinstance(table, np.ndarray):
        raise TypeError(f"cannot save a {type(table).__name__} table in model2vec format")
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (pass force=True to replace it)")
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    if ternary:
        tensors = {TERNARY_PACKED: table.packed, TERNARY_SCALES: table.row_scales}
    else:
        tensors = {"embeddings": table}
    if model.weights is not None:
        tensors["weights"] = model.weights
    if model.mapping is not None:
        tensors["mapping"] = model.mapping.astype(np.int64)
    cfg = dict(model.config)
    cfg.update(normalize=model.normalize, max_length=model.max_length, hidden_dim=model.dim,
               embedding_dtype="ternary" if ternary else table.dtype.name)
    if ternary:
        cfg["ternary_shape"] = list(table.shape)
    else:
        cfg.pop("ternary_shape", None)
    cfg.setdefault("model_type", "model2vec")
    if model.mapping is not None:
        cfg["vocabulary_quantization"] = int(table.shape[0])
    else:
        cfg.pop("vocabulary_quantization", None)
    modules = [{"idx": 0, "name": "0", "path": ".", "type": "sentence_transformers.models.StaticEmbedding"}]
    if model.normalize:
        modules.append({"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.models.Normalize"})
    files = {
        "model.safetensors": lambda p: _write_tensors(p, tensors),
        "tokenizer.json": lambda p: model.tokenizer.tokenizer.save(str(p), pretty=False),
        "config.json": lambda p: p.write_text(json.dumps(cfg, indent=4), encoding="utf-8"),
        "modules.json": lambda p: p.write_text(json.dumps(modules, indent=4), encoding="utf-8"),
    }
    if path.is_dir():  # other files of an existing directory stay; each of ours is replaced atomically
        for name, write in files.items():
            with atomic_write(path / name) as tmp:
                write(tmp)
    else:
        with atomic_write(path, directory=True) as tmp:
            for name, write in files.items():
                write(tmp / name)
    return path
