"""Tokenizer fast path: BERT-style WordPiece tokenizers in C, ids identical to ``tokenizers``.

``FastWordPiece.from_tokenizer(tok)`` reads a ``tokenizers.Tokenizer`` and, when its pipeline is
BertNormalizer (or none) + BertPreTokenizer + WordPiece, returns an object whose ``encode_flat``
gives the ids of ``tok.encode_batch(texts, add_special_tokens=False)`` as flat int32 ids + int64
CSR offsets (the form ``gather_mean`` takes), several times faster, with the GIL released and on
several threads. Added tokens (special ones such as "[CLS]" and model2vec's multi-word vocabulary
entries) are split out in C as tokenizers does (csrc/added.c). Any text the C path cannot
reproduce exactly (a code point whose NFD reordering could matter, ...) is tokenized by ``tokenizers``
instead and spliced back in order, so the ids never differ. Under the numpy backend everything
goes through ``tokenizers``.

The tokenizer's own truncation and padding settings are ignored: ``max_tokens`` truncates.
"""

from __future__ import annotations

import json
import threading
import unicodedata
import warnings
from typing import Sequence

import numpy as np

from . import _backend, _parallel

__all__ = ["FastWordPiece"]

_INT32_MAX = 2**31 - 1
_verified: dict[tuple, bool] = {}
_verified_lock = threading.Lock()


def added_tokens(d: dict, tok=None) -> list[dict] | str:
    """The added tokens of a tokenizer JSON dict as csrc/added.h matches them (dicts: content, id,
    normalized, single_word, lstrip, rstrip), or why they cannot be. tokenizers matches a
    ``normalized`` token by its content passed through the tokenizer's normalizer (``tok``, a
    tokenizers.Tokenizer of ``d``, gives it; built from ``d`` when None)."""
    added = [dict(content=t.get("content"), id=t.get("id"),
                  **{k: bool(t.get(k, False)) for k in ("normalized", "single_word", "lstrip", "rstrip")})
             for t in d.get("added_tokens") or []]
    if not all(isinstance(t["content"], str) and t["content"] for t in added):
        return "an empty added token"
    if not all(isinstance(t["id"], int) and not isinstance(t["id"], bool) and 0 <= t["id"] <= _INT32_MAX
               for t in added):
        return "an added token id out of range"
    for t in added:
        if t["normalized"] and d.get("normalizer") is not None:
            if tok is None:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(json.dumps(d))
            t["content"] = tok.normalizer.normalize_str(t["content"])
            if not t["content"]:
                return "a normalized added token whose normalized form is empty"
    for normalized in (False, True):
        contents = [t["content"] for t in added if t["normalized"] == normalized]
        if len(set(contents)) != len(contents):
            return "two added tokens with the same content"
    return added


def _spec_from_json(d: dict, tok=None) -> dict | None:
    """The spec the kernels take (see _ref/wordpiece.py), or None for an unsupported pipeline."""
    model, norm, pre = d.get("model") or {}, d.get("normalizer"), d.get("pre_tokenizer")
    if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        return None
    if not isinstance(pre, dict) or pre.get("type") != "BertPreTokenizer":
        return None
    if norm is None:
        flags = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    elif isinstance(norm, dict) and norm.get("type") == "BertNormalizer":
        lowercase = bool(norm.get("lowercase", True))
        strip = norm.get("strip_accents")
        flags = dict(clean_text=bool(norm.get("clean_text", True)),
                     handle_chinese_chars=bool(norm.get("handle_chinese_chars", True)),
                     strip_accents=lowercase if strip is None else bool(strip), lowercase=lowercase)
    else:
        return None
    vocab = model["vocab"]
    unk = model.get("unk_token")
    if unk not in vocab:
        return None
    if not all(isinstance(v, int) and 0 <= v <= _INT32_MAX for v in vocab.values()):
        return None
    max_chars = model.get("max_input_chars_per_word", 100)
    prefix = model.get("continuing_subword_prefix", "##")
    if not isinstance(max_chars, int) or max_chars < 0 or not isinstance(prefix, str):
        return None
    added = added_tokens(d, tok)
    if isinstance(added, str):
        return None
    d = dict(d, truncation=None, padding=None)
    return dict(vocab=vocab, unk_token=unk, unk_id=vocab[unk], continuing_subword_prefix=prefix,
                max_input_chars_per_word=max_chars, added_tokens=added, tokenizer_json=json.dumps(d),
                strict_unassigned=False, **flags)


def _verify(compiled, handle, reference) -> bool:
    """Compiled normalization + pre-tokenization == tokenizers' on every assigned code point.

    Used when the installed tokenizers is not the version csrc/unicode_tables.h was measured on.
    Code points that make the compiled path fall back are skipped (tokenizers handles them).
    """
    cps = [chr(c) for c in range(0x110000)
           if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn"]

    def check(chunk: list[str]) -> bool:
        text = "".join(chunk)
        got = compiled.wordpiece_split(handle, text)
        if got is None:
            if len(chunk) == 1:
                return True
            half = len(chunk) // 2
            return check(chunk[:half]) and check(chunk[half:])
        return got == _backend.load("numpy").wordpiece_split(reference, text)

    return all(check(cps[i:i + 4096]) for i in range(0, len(cps), 4096))


class FastWordPiece:
    """A WordPiece tokenizer run by the C kernels; see the module docstring.

    Build with ``FastWordPiece.from_tokenizer(tok)``. Thread-safe: concurrent ``encode_flat`` calls
    give the same ids as serial ones.
    """

    _kernel = "wordpiece"  # the kernels' function prefix (FastUnigram: "unigram")

    def __init__(self, spec: dict):
        self.spec = spec
        self._handles: dict[str, object] = {}
        self._lock = threading.Lock()
        self.last_fallback_count = 0  # texts of the last encode_flat call that went to tokenizers

    def __getstate__(self) -> dict:
        """Pickled without its kernel handles (and lock): they are rebuilt on first use."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_handles", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._handles = {}
        self._lock = threading.Lock()

    @classmethod
    def from_tokenizer(cls, tok, *, _verify_tables: bool | None = None) -> "FastWordPiece | None":
        """A FastWordPiece for ``tok`` (a ``tokenizers.Tokenizer``), or None when its pipeline is
        not BertNormalizer/none + BertPreTokenizer + WordPiece (or is otherwise unsupported)."""
        to_str = getattr(tok, "to_str", None)
        if to_str is None:
            raise TypeError(f"tok must be a tokenizers.Tokenizer, not {type(tok).__name__}")
        spec = _spec_from_json(json.loads(to_str()), tok)
        if spec is None:
            return None
        try:
            compiled = _backend.load("compiled")
        except ImportError:
            return cls(spec)
        import tokenizers

        if _verify_tables is None:
            _verify_tables = tokenizers.__version__ != compiled.wordpiece_tables_version()
        if _verify_tables:
            spec["strict_unassigned"] = True
            flags = tuple(spec[k] for k in ("clean_text", "handle_chinese_chars", "strip_accents", "lowercase"))
            key = (tokenizers.__version__,) + flags
            with _verified_lock:
                if key not in _verified:
                    ok = _verify(compiled, compiled.wordpiece_new(spec), _backend.load("numpy").wordpiece_new(spec))
                    _verified[key] = ok
            if not _verified[key]:
                warnings.warn(f"tokenizers {tokenizers.__version__} normalizes some characters differently from "
                              f"the version fastembed_core's tables were made with "
                              f"({compiled.wordpiece_tables_version()}): WordPiece fast path disabled",
                              RuntimeWarning, stacklevel=2)
                return None
        return cls(spec)

    def _handle(self):
        name = _backend.BACKEND
        h = self._handles.get(name)
        if h is None:
            with self._lock:
                h = self._handles.get(name)
                if h is None:
                    h = self._handles[name] = self._new_handle(name)
        return h

    def _new_handle(self, backend: str):
        """A tokenizer handle of ``backend`` ("compiled" or "numpy") built from the spec."""
        return _backend.kernels.wordpiece_new(self.spec)

    def _reference(self):
        """The tokenizers pipeline (no truncation/padding), for fallback texts."""
        return self._handles.get("numpy") or self._handles.setdefault(
            "numpy", _backend.load("numpy").wordpiece_new(self.spec))

    def encode_flat(self, texts: Sequence[str], *, max_tokens: int | None = None, drop_id: int | None = None,
                    num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of ``texts`` as (ids int32[N], offsets int64[len(texts) + 1]).

        Text i's ids are ``ids[offsets[i]:offsets[i + 1]]``: those of
        ``tok.encode(texts[i], add_special_tokens=False)``, cut to the first ``max_tokens``, then
        without ``drop_id`` (model2vec's order: truncate, then drop UNK).
        TypeError names a non-str item; ValueError one that is not encodable as UTF-8 (a lone
        surrogate: tokenizers rejects those too).
        """
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
            raise TypeError(f"texts must be a list or tuple of str, not {type(texts).__name__}")
        mt = _check_opt_int("max_tokens", max_tokens, _INT32_MAX * 2**32)
        di = _check_opt_int("drop_id", drop_id, _INT32_MAX)
        t = tuple(texts)
        n = len(t)
        encode, h = getattr(_backend.kernels, self._kernel + "_encode"), self._handle()
        parts = _parallel.run(lambda a, b: encode(h, t, a, b, mt, di), n, num_threads,
                              min_chunk=64)
        ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
        counts = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        fallback = np.flatnonzero(np.concatenate([p[2] for p in parts])) if parts else np.zeros(0, np.intp)
        self.last_fallback_count = len(fallback)
        if len(fallback):
            ids, counts = self._splice(t, ids, counts, fallback, mt, di)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return ids.astype(np.int32, copy=False), offsets

    def _splice(self, t, ids, counts, fallback, mt, di):
        """Tokenize the fallback texts with tokenizers and put their ids in place, in order."""
        ref = self._reference()
        fb_ids, fb_counts, _ = _backend.load("numpy").wordpiece_encode(
            ref, tuple(t[i] for i in fallback), 0, len(fallback), mt, di)
        src = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=src[1:])
        counts = counts.copy()
        counts[fallback] = fb_counts
        out = np.empty(int(counts.sum()), dtype=np.int32)
        dst = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=dst[1:])
        fb_src = np.zeros(len(fallback) + 1, dtype=np.int64)
        np.cumsum(fb_counts, out=fb_src[1:])
        prev = 0  # first text of the current run of fast-path texts
        for k, i in enumerate(fallback):
            out[dst[prev]:dst[i]] = ids[src[prev]:src[i]]
            out[dst[i]:dst[i + 1]] = fb_ids[fb_src[k]:fb_src[k + 1]]
            prev = i + 1
        out[dst[prev]:] = ids[src[prev]:]
        return out, counts


def _check_opt_int(name: str, value, upper: int) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= upper:
        raise ValueError(f"{name} must be None or an integer in [0, {upper}], not {value!r}")
    return int(value)
