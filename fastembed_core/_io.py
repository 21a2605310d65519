"""File I/O shared by every module: atomic writes, safetensors (memory-mapped), JSON lines.

``atomic_write(path)`` yields a temporary path in the same directory; when the block succeeds the
data is fsync'ed and renamed over ``path``, so a reader sees the old file or the new one, never a
half-written one, and an interrupted write leaves the old one in place. The result gets the
permissions of any normal file (``0o666`` for files, ``0o777`` for directories, minus the umask).
``directory=True`` makes the temporary a directory (a model directory, written file by file).

safetensors: ``read_safetensors`` memory-maps every tensor read-only after checking the header
(dtypes, shapes, byte ranges inside the file); ``write_safetensors`` writes the same format
(C-order little-endian tensors, optional string metadata). Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import mmap
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

__all__ = ["advise_random", "atomic_write", "cache_dir", "drop_page_cache", "reading_whole", "resident_fraction", "read_safetensors", "write_safetensors", "read_json", "open_text", "read_jsonl"]


CACHE_ENV = "FASTEMBED_CORE_CACHE_DIR"


def cache_dir() -> Path:
    """Where fastembed_core keeps derived files (vocabulary caches, finite-table verdicts):
    $FASTEMBED_CORE_CACHE_DIR, else $XDG_CACHE_HOME/fastembed_core (default ~/.cache/fastembed_core)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fastembed_core"


def _mmap_of(a: Any) -> Any:
    """The mmap.mmap under a memory-mapped array or a view of one, else None."""
    while a is not None and not isinstance(a, mmap.mmap):
        a = getattr(a, "_mmap", None) or getattr(a, "base", None)
    return a


def _madvise(a: Any, advice: str) -> None:
    mm = _mmap_of(a)
    if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, advice):
        try:
            mm.madvise(getattr(mmap, advice))
        except OSError:  # advice only
            pass


def advise_random(a: np.ndarray) -> None:
    """Tell the kernel a memory-mapped array (or a view of one) is read at random places
    (MADV_RANDOM): a page fault then reads only its page from disk, without read-ahead, so the page
    cache and this process hold the pages actually touched. Advice only: ignored where unsupported."""
    _madvise(a, "MADV_RANDOM")


def unmap_pages(a: np.ndarray) -> None:
    """Drop this process's page-table entries of a read-only memory-mapped array (MADV_DONTNEED):
    its pages stay in the page cache and fault back in on the next read. Only on a read-only mapping
    (on a copy-on-write one it would discard writes); advice only."""
    mm = _mmap_of(a)
    if mm is None:
        return
    with memoryview(mm) as view:
        readonly = view.readonly
    if readonly:
        _madvise(a, "MADV_DONTNEED")


@contextlib.contextmanager
def reading_whole(a: Any) -> Iterator[None]:
    """Around one pass over the whole of a memory-mapped array advised random (quantizing, saving):
    read-ahead on for the pass (MADV_SEQUENTIAL), random again after. Without it a cold page cache
    is read one 4 KB fault at a time (a 256 MB table: 5-9 s instead of ~2 s on a loaded VM)."""
    _madvise(a, "MADV_SEQUENTIAL")
    try:
        yield
    finally:
        _madvise(a, "MADV_RANDOM")


KEEP_CACHE_ENV = "FASTEMBED_CORE_KEEP_PAGE_CACHE"


def resident_fraction(a: Any) -> float | None:
    """The fraction of the pages of the file mapping under ``a`` that sit in the page cache (mincore),
    or None where that cannot be asked. (Linux reports only this process's mapped pages for a file
    it neither owns nor may write, which reads as "sparse".)"""
    mm = _mmap_of(a)
    if mm is None or len(mm) == 0:
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        view = np.frombuffer(mm, np.uint8)
        page = mmap.PAGESIZE
        vec = np.zeros((len(mm) + page - 1) // page, np.uint8)
        rc = libc.mincore(ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(len(mm)),
                          ctypes.c_void_p(vec.ctypes.data))
        del view
    except (OSError, AttributeError, ValueError, TypeError):
        return None
    return None if rc != 0 else float(np.count_nonzero(vec & 1)) / len(vec)


def drop_page_cache(fd: int) -> None:
    """Drop the pages of the open file ``fd`` that sit in the page cache but that no process maps
    (POSIX_FADV_DONTNEED over the whole file; mapped pages stay). A memory-mapped table advised
    random (``advise_random``) then brings back only the 4 KB pages it touches: a file read whole
    (a download, a copy, a full check) sits in the cache in large folios, up to 2 MB each, and on
    recent kernels a fault maps the whole folio. Off when $FASTEMBED_CORE_KEEP_PAGE_CACHE is 1/true
    (keep a pre-warmed cache: faster first calls, more memory); ignored where unsupported."""
    if os.environ.get(KEEP_CACHE_ENV, "0").strip().lower() in ("1", "true", "yes", "on"):
        return
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_tree(path: Path) -> None:
    paths = [path] if path.is_file() else sorted(path.rglob("*")) + [path]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:  # some filesystems cannot fsync a directory
            pass
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it, set umask permissions, rename it.

    An existing file is replaced with one atomic ``os.replace``. An existing directory (or a file
    replaced by a directory, or the reverse) is first renamed aside, then the new one is renamed in
    and the old one removed: the old data is deleted only once the new is complete. On any error
    the temporary is removed and ``path`` is untouched.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        mask = _umask()
        os.chmod(tmp, (0o777 if directory else 0o666) & ~mask)  # mkstemp/mkdtemp make 0600/0700
        if directory:
            for p in tmp.rglob("*"):
                os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)
        _fsync_tree(tmp)
        if path.is_dir() or (directory and path.exists()):
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old / "old")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


# ------------------------------------------------------------------ safetensors

# safetensors dtype names -> little-endian numpy dtypes
_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I8": "i1", "U8": "u1",
    "I16": "<i2", "I32": "<i4", "I64": "<i8", "U16": "<u2", "U32": "<u4", "U64": "<u8",
}
_NP_TO_ST = {np.dtype(v).newbyteorder("="): k for k, v in _ST_DTYPES.items()}


def read_safetensors(path: str | os.PathLike, *, metadata: bool = False) -> Any:
    """Every tensor of a safetensors file as a read-only numpy memmap of its byte range.

    Returns ``{name: array}``, or ``(tensors, metadata dict)`` with ``metadata=True``. Checks the
    header (size, JSON, dtypes, shapes, offsets inside the file); ValueError naming the file and
    the tensor otherwise.
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
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: corrupted safetensors header (__metadata__ is not an object)")
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
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=start + lo, shape=(count,)).reshape(shape)
    return (out, meta) if metadata else out


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:
    """Write tensors (any layout; stored C-order little-endian) in the safetensors format.

    The data starts 64-byte aligned (the header is padded with spaces) and large tensors are
    written in 64 MiB slices, never copied whole. Writes ``path`` directly: wrap it in
    :func:`atomic_write` for an atomic file.
    """
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    pos = 0
    arrays = []
    for name, a in tensors.items():
        a = np.asarray(a, order="C")  # (ascontiguousarray would make a 0-d tensor 1-D)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": _NP_TO_ST[a.dtype.newbyteorder("=")], "shape": list(a.shape),
                        "data_offsets": [pos, pos + a.nbytes]}
        pos += a.nbytes
        arrays.append(a)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(8 + len(raw)) % 64)
    with open(path, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        for a in arrays:
            flat = a.reshape(-1).view(np.uint8) if a.size else np.zeros(0, np.uint8)
            fh.writelines(flat[s : s + (1 << 26)] for s in range(0, flat.size, 1 << 26))


# ------------------------------------------------------------------ JSON, text, JSON lines


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parsed JSON of ``path``; ValueError naming ``what`` and the file otherwise."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open a UTF-8 text file for reading, gunzipping it when its name ends in ``.gz``."""
    p = Path(path)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8")
    return open(p, encoding="utf-8")


def read_jsonl(path: str | os.PathLike, fields: tuple[str, ...], *,
               lines: Iterator[str] | None = None) -> Iterator[tuple[str, ...]]:
    """The string ``fields`` of each JSON object of a JSON-lines file (``.gz`` allowed), in order.

    Blank lines are skipped. ValueError ``path:line: ...`` for malformed JSON, a line that is not
    an object, or a missing or non-string field. ``lines`` reads already opened text instead.
    """
    with contextlib.ExitStack() as stack:
        if lines is None:
            lines = stack.enter_context(open_text(path))
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            for field in fields:
                if not isinstance(row.get(field), str):
                    raise ValueError(f"{path}:{lineno}: field {field!r} missing or not a string")
            yield tuple(row[f] for f in fields)
