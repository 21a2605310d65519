"""Text -> flat token ids + CSR offsets, with model2vec 0.10's exact semantics (public API).

``TextTokenizer(tokenizer).encode(texts, max_length=512)`` returns ``(ids int32[T], offsets
int64[n + 1])`` where bag i holds the ids model2vec's ``StaticModel.tokenize`` gives text i:

1. each text is cut to ``max_length * median_token_length`` characters (``median_token_length`` =
   ``int(median of len(token) over the vocabulary)``), when ``max_length`` is not None;
2. ``tokenizer.encode_batch_fast(texts, add_special_tokens=False)`` with truncation to
   ``max_length`` tokens (none when None) and no padding;
3. the UNK id (WordPiece/BPE/WordLevel ``unk_token``, Unigram ``unk_id``) is dropped.

A fast path (duck-typed, optional) may replace step 2-3: any object with
``encode_flat(texts, *, max_tokens, drop_id, num_threads) -> (ids int32, offsets int64)`` giving
ids identical to ``encode_batch(texts, add_special_tokens=False)`` truncated to ``max_tokens``, then
with ``drop_id`` removed. By default (``fast="auto"``) it is
``fastembed_core.wordpiece.FastWordPiece`` whenever the tokenizer is BERT-style WordPiece and
``fastembed_core.unigram.FastUnigram`` when it is a supported Unigram (SentencePiece) pipeline (the
C tokenizers under the compiled backend, ``tokenizers`` under numpy); ``fast=None``, setting
``.fast = None`` or ``FASTEMBED_CORE_FAST_TOKENIZER=0`` turns it off. ``.path`` tells which path
runs and ``.fast_reason`` why no fast path was taken (the unsupported component).
Without it, parallelism of step 2 is that of ``tokenizers`` itself (``TOKENIZERS_PARALLELISM``).
"""

from __future__ import annotations

import json
import os
from itertools import chain
from typing import Any, Sequence

import numpy as np

__all__ = ["TextTokenizer"]

NO_LIMIT = 2**31 - 1  # max_tokens handed to a fast path when max_length is None


def unk_token_id(tokenizer: Any) -> int | None:
    """The id model2vec drops: the model's ``unk_token`` id (WordPiece/BPE/WordLevel) or ``unk_id`` (Unigram)."""
    model = tokenizer.model
    if hasattr(model, "unk_token"):
        token = model.unk_token
        return None if token is None else tokenizer.token_to_id(token)
    return json.loads(tokenizer.to_str())["model"].get("unk_id")


FAST_ENV = "FASTEMBED_CORE_FAST_TOKENIZER"


def fast_tokenizer_enabled() -> bool:
    """False when ``FASTEMBED_CORE_FAST_TOKENIZER`` is 0/false/no/off (the default is on)."""
    return os.environ.get(FAST_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def auto_fast(tokenizer: Any) -> Any:
    """The fast path for ``tokenizer`` (a FastWordPiece or FastUnigram), or None when unsupported or
    turned off."""
    if not fast_tokenizer_enabled():
        return None
    from .unigram import FastUnigram
    from .wordpiece import FastWordPiece

    return FastWordPiece.from_tokenizer(tokenizer) or FastUnigram.from_tokenizer(tokenizer)


def no_fast_reason(tokenizer: Any) -> str:
    """Why auto_fast found no fast path for ``tokenizer`` (the unsupported component)."""
    if not fast_tokenizer_enabled():
        return f"turned off by {FAST_ENV}"
    model = json.loads(tokenizer.to_str()).get("model") or {}
    if model.get("type") == "Unigram":
        from .unigram import unsupported_reason

        return unsupported_reason(tokenizer) or "unsupported"
    if model.get("type") == "WordPiece":
        from .wordpiece import added_tokens

        d = json.loads(tokenizer.to_str())
        pre, norm = d.get("pre_tokenizer"), d.get("normalizer")
        if not isinstance(pre, dict) or pre.get("type") != "BertPreTokenizer":
            return f"WordPiece with pre-tokenizer {_component(pre)} (the fast path takes BertPreTokenizer)"
        if norm is not None and not (isinstance(norm, dict) and norm.get("type") == "BertNormalizer"):
            return f"WordPiece with normalizer {_component(norm)} (the fast path takes BertNormalizer or none)"
        added = added_tokens(d, tokenizer)
        if isinstance(added, str):
            return f"WordPiece with {added}"
        return "WordPiece with an unsupported option (unk_token, ids or prefix)"
    return f"model {model.get('type')} has no fast path"


def _component(c: Any) -> str:
    """A normalizer / pre-tokenizer named by type, a Sequence with its members: "Sequence[NFD, StripAccents]"."""
    if not isinstance(c, dict):
        return repr(c)
    subs = c.get("normalizers", c.get("pretokenizers"))
    if c.get("type") == "Sequence" and isinstance(subs, list):
        return f"Sequence[{', '.join(_component(x) for x in subs)}]"
    return str(c.get("type"))


def tokenizer_meta(tokenizer: Any) -> dict:
    """vocab_size (added tokens included, as model2vec counts), median_token_length, unk_id."""
    vocab = tokenizer.get_vocab()
    return dict(vocab_size=len(vocab), median_token_length=int(np.median([len(t) for t in vocab])) if vocab else 0,
                unk_id=unk_token_id(tokenizer))


def check_texts(texts: Sequence[Any]) -> None:
    """TypeError naming the first non-string item."""
    if not all(isinstance(t, str) for t in texts):
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"sentences must be strings; item {i} is {type(t).__name__}: {t!r:.60}")


class TextTokenizer:
    """Wraps a ``tokenizers.Tokenizer`` (copied; the original is never modified).

    Attributes: ``tokenizer`` (the copy), ``unk_id``, ``median_token_length``, ``vocab_size``
    (with added tokens, as model2vec counts it), ``fast`` (the optional fast path, settable;
    ``fast="auto"`` picks FastWordPiece when the tokenizer is supported), ``path`` (which runs).
    """

    def __init__(self, tokenizer: Any, *, fast: Any = "auto") -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, not {type(tokenizer).__name__}")
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self._by_length: dict[int | None, Any] = {}  # one truncating copy per max_length: thread-safe
        meta = tokenizer_meta(self.tokenizer)
        self.vocab_size, self.median_token_length, self.unk_id = (
            meta["vocab_size"], meta["median_token_length"], meta["unk_id"])
        model = json.loads(self.tokenizer.to_str()).get("model") or {}
        if model.get("type") == "WordPiece" and model.get("unk_token") not in self.tokenizer.get_vocab():
            # tokenizers would accept this and fail on the first unknown word with a bare Exception.
            raise ValueError(f"tokenizer: the WordPiece unk_token {model.get('unk_token')!r} is not in the vocabulary")
        self.fast_reason: str | None = None  # why no fast path runs (None when one does)
        auto = isinstance(fast, str) and fast == "auto"
        if auto:
            fast = auto_fast(self.tokenizer)
            if fast is None:
                self.fast_reason = no_fast_reason(self.tokenizer)
        elif fast is None:
            self.fast_reason = "fast=None"
        if fast is not None and not callable(getattr(fast, "encode_flat", None)):
            raise TypeError("fast must have an encode_flat(texts, *, max_tokens, drop_id, num_threads) method")
        self.fast = fast
        self._auto_fast = fast if auto else None

    def __reduce__(self) -> tuple:
        """Pickled as the tokenizer JSON and the fast-path setting, never a C handle: on unpickling
        the fast path is rebuilt from the tokenizer ("auto"), or the pickled custom ``fast`` is kept."""
        if self.fast is None:
            fast: Any = None
        elif self.fast is getattr(self, "_auto_fast", None):
            fast = "auto"
        else:
            fast = self.fast
        return (_restore_text_tokenizer, (type(self), self.tokenizer.to_str(), fast))

    @property
    def tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer`` (no padding, no truncation); loaded from the file on first
        use when this TextTokenizer came from a vocabulary cache (see ``from_file``)."""
        tok = self._tokenizer
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self._tokenizer_file))
            tok.no_padding()
            tok.no_truncation()
            self._tokenizer = tok
        return tok

    @tokenizer.setter
    def tokenizer(self, tok: Any) -> None:
        tok.no_padding()
        tok.no_truncation()
        self._tokenizer = tok

    @classmethod
    def from_file(cls, path: Any, *, fast: Any = "auto") -> "TextTokenizer":
        """A TextTokenizer of a tokenizer.json. With ``fast="auto"`` a supported Unigram tokenizer is
        read through its memory-mapped vocabulary cache (``fastembed_core.unigram.cached``): the
        ``tokenizers.Tokenizer`` is then loaded (and ``tokenizers`` imported) only when a text needs
        the fallback."""
        if isinstance(fast, str) and fast == "auto" and fast_tokenizer_enabled():
            from .unigram import cached

            try:
                got = cached(path, tokenizer_meta)
            except OSError as exc:
                raise ValueError(f"cannot read tokenizer file {path}: {exc}") from None
            if got is not None:
                self = cls.__new__(cls)
                self._tokenizer, self._tokenizer_file, self._by_length = None, path, {}
                fast_path, meta = got
                self.vocab_size, self.median_token_length, self.unk_id = (
                    meta["vocab_size"], meta["median_token_length"], meta["unk_id"])
                self.fast, self.fast_reason = fast_path, None
                self._auto_fast = fast_path
                return self

        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ValueError(f"cannot read tokenizer file {path}: {exc}") from None
        return cls(tok, fast=fast)

    @property
    def path(self) -> str:
        """Which tokenizer runs: "fastembed_core.wordpiece" / "fastembed_core.unigram" (the C
        tokenizers), "tokenizers", or the class name of a custom fast path."""
        if self.fast is None:
            return "tokenizers"
        from . import _backend
        from .unigram import FastUnigram
        from .wordpiece import FastWordPiece

        if isinstance(self.fast, FastWordPiece):
            name = "unigram" if isinstance(self.fast, FastUnigram) else "wordpiece"
            return f"fastembed_core.{name}" if _backend.BACKEND == "compiled" else "tokenizers"
        return type(self.fast).__name__

    def _truncating(self, max_length: int | None) -> Any:
        tok = self._by_length.get(max_length)
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self.tokenizer.to_str())
            if max_length is not None:
                tok.enable_truncation(max_length)
            tok = self._by_length.setdefault(max_length, tok)
        return tok

    def encode(
        self, texts: Sequence[str], *, max_length: int | None = 512, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids (int32) and CSR offsets (int64, length len(texts) + 1) of ``texts``.

        ``max_length``: tokens per text (None: no limit). ``num_threads`` is passed to the fast path.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a single str")
        from ._validate import positive_int

        max_length = positive_int(max_length, "max_length", optional=True)
        texts = list(texts)
        check_texts(texts)
        if max_length is not None:
            cut = max_length * self.median_token_length
            texts = [t[:cut] for t in texts]
        if self.fast is not None:
            ids, offsets = self.fast.encode_flat(
                texts, max_tokens=NO_LIMIT if max_length is None else max_length, drop_id=self.unk_id,
                num_threads=num_threads,
            )
            return np.ascontiguousarray(ids, dtype=np.int32), np.ascontiguousarray(offsets, dtype=np.int64)
        try:
            encodings = self._truncating(max_length).encode_batch_fast(texts, add_special_tokens=False)
        except Exception as exc:  # tokenizers reports model errors as a bare Exception
            raise ValueError(f"the tokenizer failed on this input: {exc}") from exc
        lists = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter(chain.from_iterable(lists), dtype=np.int32, count=int(offsets[-1]))
        if self.unk_id is not None and len(ids):
            keep = ids != self.unk_id
            if not keep.all():
                bag = np.repeat(np.arange(len(lists)), lengths)
                np.cumsum(np.bincount(bag[keep], minlength=len(lists)), out=offsets[1:])
                ids = ids[keep]
        return ids, offsets

    def __repr__(self) -> str:
        return (
            f"TextTokenizer(vocab_size={self.vocab_size}, unk_id={self.unk_id}, "
            f"path={self.path!r})"
        )


def _restore_text_tokenizer(cls: type, tokenizer_json: str, fast: Any) -> TextTokenizer:
    from tokenizers import Tokenizer

    return cls(Tokenizer.from_str(tokenizer_json), fast=fast)
