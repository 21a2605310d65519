"""Tokenizer fast path: Unigram (SentencePiece) tokenizers in C, ids identical to ``tokenizers``.

``FastUnigram.from_tokenizer(tok)`` reads a ``tokenizers.Tokenizer`` whose model is Unigram and
whose normalizers / pre-tokenizers are among those csrc/unigram.c reproduces (Precompiled charsmap,
Replace of a literal or of ``" {2,}"`` / ``"\\A +| +\\z"`` / ``"\\A<literal>"``, Strip, Prepend,
Lowercase, NFD / NFKD / NFC / NFKC; Metaspace, WhitespaceSplit, Whitespace; added tokens; see
_ref/unigram.py) and returns an object with the same ``encode_flat`` as ``FastWordPiece``. Any text
the C path cannot reproduce exactly (a code point that may join a multi-code-point grapheme cluster
under Precompiled, one unassigned in this Python's Unicode under Lowercase / NF* / Whitespace, ...) goes to
``tokenizers`` and is spliced back in order, so the ids never differ. ``unsupported_reason(tok)``
says why a tokenizer is not taken. Under the numpy backend everything goes through ``tokenizers``.

The vocabulary structure (a double-array trie of the pieces, scores, the charsmap) is one flat
blob (``vocab_blob``) that ``cached()`` writes once per tokenizer file and memory-maps read-only.
"""

from __future__ import annotations

import base64
import json
import mmap
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import _backend
from ._io import CACHE_ENV, atomic_write, cache_dir  # noqa: F401  (CACHE_ENV: re-exported)
from .wordpiece import FastWordPiece, added_tokens

__all__ = ["FastUnigram", "unsupported_reason", "cached", "cache_dir"]

_LITERAL = re.compile(r"[^\\.^$|?*+()\[\]{}]+")
# Code points that join a neighbour in an extended grapheme cluster beyond the marks / unassigned
# (UAX #29: ZWNJ/ZWJ, Hangul jamo, regional indicators, emoji modifiers, halfwidth voiced marks, tags
# and variation selectors, SpacingMark letters, Prepend).
_JOINERS = [(0x200C, 0x200D), (0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF), (0x1F1E6, 0x1F1FF),
            (0x1F3FB, 0x1F3FF), (0xFF9E, 0xFF9F), (0xE0000, 0xE0FFF), (0x0E33, 0x0E33), (0x0EB3, 0x0EB3),
            (0x0600, 0x0605), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2),
            (0x0D4E, 0x0D4E), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x111C2, 0x111C3), (0x1193F, 0x1193F),
            (0x11941, 0x11941), (0x11A3A, 0x11A3A), (0x11A84, 0x11A89), (0x11D46, 0x11D46), (0x11F02, 0x11F02)]


@lru_cache(maxsize=1)
def risky_ranges() -> np.ndarray:
    """uint32[k, 2] inclusive ranges of code points that may form a multi-code-point grapheme
    cluster with a neighbour (marks Mn/Mc/Me, unassigned in this Python's Unicode, _JOINERS):
    texts holding one go to tokenizers, whose Precompiled normalizer works per grapheme cluster."""
    flags = np.zeros(sys.maxunicode + 1, dtype=bool)
    for c in range(0x80, sys.maxunicode + 1):
        if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me", "Cn"):
            flags[c] = True
    for a, z in _JOINERS:
        flags[a:z + 1] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return edges.reshape(-1, 2).astype(np.uint32) - np.array([0, 1], dtype=np.uint32)


def _replace_op(n: dict) -> dict | str:
    pattern, content = n.get("pattern") or {}, n.get("content")
    if not isinstance(content, str):
        return "Replace without a string content"
    if isinstance(pattern.get("String"), str) and pattern["String"]:
        return dict(kind="replace", a=pattern["String"], b=content)
    regex = pattern.get("Regex")
    if regex == " {2,}":
        return dict(kind="multispace", b=content)
    if regex == r"\A +| +\z":
        return dict(kind="edgespace", b=content)
    if isinstance(regex, str) and regex.startswith(r"\A") and _LITERAL.fullmatch(regex[2:]):
        return dict(kind="start", a=regex[2:], b=content)
    return f"Replace with pattern {pattern!r}"


def _normalizer_ops(norm: Any, charsmaps: list) -> list | str:
    if norm is None:
        return []
    kind = norm.get("type") if isinstance(norm, dict) else None
    if kind == "Sequence":
        ops: list = []
        for sub in norm.get("normalizers") or []:
            got = _normalizer_ops(sub, charsmaps)
            if isinstance(got, str):
                return got
            ops += got
        return ops
    if kind == "Precompiled":
        raw = norm.get("precompiled_charsmap")
        try:
            data = base64.b64decode(raw or "", validate=True)
        except (ValueError, TypeError):
            return "Precompiled with a precompiled_charsmap that is not base64"
        if not data:
            return []  # tokenizers: an empty charsmap changes nothing
        charsmaps.append(data)
        return [dict(kind="precompiled")] if len(charsmaps) == 1 else "more than one Precompiled normalizer"
    if kind == "Replace":
        op = _replace_op(norm)
        return op if isinstance(op, str) else [op]
    if kind == "Strip":
        return [dict(kind="strip", flag1=int(bool(norm.get("strip_left"))), flag2=int(bool(norm.get("strip_right"))))]
    if kind in ("Lowercase", "NFD", "NFKD", "NFC", "NFKC"):
        return [dict(kind=kind.lower())]
    if kind == "Prepend" and isinstance(norm.get("prepend"), str):
        return [dict(kind="prepend", a=norm["prepend"])] if norm["prepend"] else []
    return f"normalizer {kind}"


def _pre_ops(pre: Any) -> list | str:
    if pre is None:
        return []
    kind = pre.get("type") if isinstance(pre, dict) else None
    if kind == "Sequence":
        ops: list = []
        for sub in pre.get("pretokenizers") or []:
            got = _pre_ops(sub)
            if isinstance(got, str):
                return got
            ops += got
        return ops
    if kind == "WhitespaceSplit":
        return [dict(kind="whitespace_split")]
    if kind == "Whitespace":
        return [dict(kind="whitespace")]
    if kind == "Metaspace":
        rep, scheme = pre.get("replacement"), pre.get("prepend_scheme", "always")
        if not isinstance(rep, str) or len(rep) != 1 or scheme not in ("always", "first", "never"):
            return f"Metaspace with replacement {rep!r} / prepend_scheme {scheme!r}"
        return [dict(kind="metaspace", a=rep, flag1=("always", "first", "never").index(scheme),
                     flag2=int(bool(pre.get("split", True))))]
    return f"pre-tokenizer {kind}"


def parse(d: dict, tok: Any = None) -> tuple[dict, dict] | str:
    """(spec, build arguments) of a tokenizer JSON dict (``tok``: the same as a tokenizers.Tokenizer,
    whose normalizer gives the normalized form of ``normalized`` added tokens), or the reason it is
    unsupported."""
    model = d.get("model") or {}
    if model.get("type") != "Unigram":
        return f"model {model.get('type')} is not Unigram"
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(v, (list, tuple)) and len(v) == 2 for v in vocab):
        return "Unigram vocab is not a list of [piece, score]"
    unk_id = model.get("unk_id")
    if unk_id is not None and not (isinstance(unk_id, int) and 0 <= unk_id < len(vocab)):
        return f"unk_id {unk_id!r} out of range"
    charsmaps: list = []
    norm = _normalizer_ops(d.get("normalizer"), charsmaps)
    if isinstance(norm, str):
        return norm
    pre = _pre_ops(d.get("pre_tokenizer"))
    if isinstance(pre, str):
        return pre
    if any(op["kind"] == "metaspace" and op["flag1"] == 1 for op in pre[1:]):
        return "Metaspace(prepend_scheme='first') after another pre-tokenizer"
    added = added_tokens(d, tok)
    if isinstance(added, str):
        return added
    pieces = [p for p, _ in vocab]
    scores = [s for _, s in vocab]
    if not all(isinstance(p, str) and p for p in pieces):
        return "an empty or non-string piece"
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
        return "a non-numeric score"
    spec = dict(normalizers=norm, pre_tokenizers=pre, added_tokens=added,
                tokenizer_json=json.dumps(dict(d, truncation=None, padding=None)))
    build = dict(pieces=pieces, scores=scores, unk_id=-1 if unk_id is None else unk_id,
                 byte_fallback=bool(model.get("byte_fallback", False)), charsmap=charsmaps[0] if charsmaps else b"")
    return spec, build


def unsupported_reason(tok: Any) -> str | None:
    """Why ``tok`` (a tokenizers.Tokenizer) cannot run on the Unigram fast path, or None."""
    got = parse(json.loads(tok.to_str()), tok)
    return got if isinstance(got, str) else None


def vocab_blob(build: dict) -> bytes:
    """The compiled vocabulary blob of parse()'s build arguments (needs the compiled backend)."""
    return _backend.load("compiled").unigram_build(
        build["pieces"], build["scores"], build["unk_id"], build["byte_fallback"], build["charsmap"], risky_ranges())


class FastUnigram(FastWordPiece):
    """A Unigram tokenizer run by the C kernels; see the module docstring. Thread-safe.

    State is the spec plus the vocabulary blob (bytes or a read-only mmap); both rebuild the handle.
    """

    _kernel = "unigram"

    def __init__(self, spec: dict, blob: Any = None):
        super().__init__(spec)
        self.blob = blob

    @classmethod
    def from_tokenizer(cls, tok, **_: Any) -> "FastUnigram | None":
        """A FastUnigram for ``tok``, or None when its pipeline is unsupported (see unsupported_reason)."""
        to_str = getattr(tok, "to_str", None)
        if to_str is None:
            raise TypeError(f"tok must be a tokenizers.Tokenizer, not {type(tok).__name__}")
        got = parse(json.loads(to_str()), tok)
        if isinstance(got, str):
            return None
        spec, build = got
        try:
            _backend.load("compiled")
        except ImportError:
            return cls(spec)
        return cls(spec, vocab_blob(build))

    def _new_handle(self, backend: str):
        # The mapped vocabulary structure is the compiled handle's; the numpy one wraps tokenizers.
        return _backend.kernels.unigram_new(self.spec, self.blob if backend == "compiled" else None)

    def __reduce__(self):
        """Pickles as (spec, vocabulary bytes): the handles (and any mmap) are rebuilt on load."""
        return (_rebuild, (self.spec, None if self.blob is None else bytes(self.blob)))


def _rebuild(spec: dict, blob: bytes | None) -> FastUnigram:
    return FastUnigram(spec, blob)


# ------------------------------------------------------------------ the memory-mapped vocabulary cache

_CACHE_MAGIC = b"FEUGCACH"
_CACHE_FORMAT = 4


def _cache_path(data: bytes) -> Path:
    import hashlib

    key = hashlib.sha256(data).hexdigest()[:40]
    return cache_dir() / f"unigram-{key}-f{_CACHE_FORMAT}.vocab"


def _write_cache(path: Path, meta: dict, blob: bytes) -> None:
    """[magic][u64 meta length][meta JSON][pad to 8][blob], written to a temp file then renamed."""
    head = json.dumps(meta).encode()
    pre = _CACHE_MAGIC + len(head).to_bytes(8, "little") + head
    pre += b"\0" * (-len(pre) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        fh.write(pre)
        fh.write(blob)


def _open_cache(path: Path, tokenizer_file: str) -> tuple[FastUnigram, dict]:
    """(FastUnigram over the mmapped blob, meta) of a cache file; ValueError naming it when corrupted."""
    def bad(why: str) -> ValueError:
        return ValueError(f"vocabulary cache {path} is corrupted ({why}); delete it to rebuild it")

    with open(path, "rb") as fh:
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:
            raise bad("empty file") from None
    if len(mm) < 16 or mm[:8] != _CACHE_MAGIC:
        raise bad("not a fastembed_core vocabulary cache")
    n = int.from_bytes(mm[8:16], "little")
    if n > len(mm) - 16:
        raise bad("truncated header")
    try:
        meta = json.loads(mm[16:16 + n])
        spec = dict(normalizers=meta["normalizers"], pre_tokenizers=meta["pre_tokenizers"],
                    added_tokens=meta["added_tokens"], tokenizer_file=tokenizer_file)
    except (ValueError, KeyError, TypeError) as exc:
        raise bad(f"header: {exc}") from None
    start = 16 + n + (-(16 + n) % 8)
    blob = memoryview(mm)[start:]
    try:
        handle = _backend.load("compiled").unigram_new(spec, blob)
    except (ValueError, KeyError, TypeError) as exc:
        raise bad(str(exc)) from None
    fast = FastUnigram(spec, blob)
    fast._handles["compiled"] = handle
    return fast, meta


def cached(tokenizer_file: Any, meta_of: Any) -> tuple[FastUnigram, dict] | None:
    """The FastUnigram of a tokenizer.json through its vocabulary cache, with its meta dict.

    The cache (keyed by the file's SHA-256) is built on first use: the file is loaded once with
    ``tokenizers`` (so a file it rejects is never cached), ``meta_of(tok)`` gives the dict stored
    beside the blob (vocab_size, unk_id, ...), and the result is written atomically. Later loads
    memory-map it read-only and never load ``tokenizers.Tokenizer``. None when the tokenizer is not
    a supported Unigram or the compiled backend is missing (the caller loads it the normal way).
    """
    try:
        _backend.load("compiled")
    except ImportError:
        return None
    data = Path(tokenizer_file).read_bytes()
    if b'"Unigram"' not in data:
        return None
    path = _cache_path(data)
    if not path.exists():
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_str(data.decode("utf-8"))
        except Exception:  # noqa: BLE001  (the caller reports it when it loads the file itself)
            return None
        got = parse(json.loads(tok.to_str()), tok)
        if isinstance(got, str):
            return None
        spec, build = got
        meta = dict(meta_of(tok), normalizers=spec["normalizers"], pre_tokenizers=spec["pre_tokenizers"],
                    added_tokens=spec["added_tokens"])
        _write_cache(path, meta, vocab_blob(build))
    return _open_cache(path, str(tokenizer_file))
