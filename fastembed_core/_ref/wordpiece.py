"""Reference of the wordpiece kernels: the ``tokenizers`` package itself.

There is no sensible numpy WordPiece, so under the numpy backend (and as the oracle in tests) these
functions run the tokenizer the spec was read from, through ``tokenizers``. The compiled versions
(csrc/wordpiece.c) must give the same ids for every text they do not flag as fallback.

The pipeline, as tokenizers runs it (``encode(text, add_special_tokens=False)``):

1. Added tokens (e.g. "[CLS]", model2vec's multi-word entries) found in the raw text (or, for
   ``normalized`` ones, in each normalized remaining piece) become their own ids, as
   AddedVocabulary matches them (leftmost-longest, single_word / lstrip / rstrip); the compiled
   path does the same in csrc/added.c.
2. BertNormalizer, per character, in this order: clean_text (drop NUL, U+FFFD and "other"
   categories Cc/Cf/Cn/Co except \\t \\n \\r; whitespace -> " "), handle_chinese_chars (" c "
   around CJK ideographs), strip_accents (NFD, then drop non-spacing marks Mn; null means: follow
   ``lowercase``), lowercase (Rust ``char::to_lowercase`` per character: no final-sigma rule,
   "İ" -> "i̇").
3. BertPreTokenizer: split on whitespace (removed), each punctuation character (ASCII punctuation
   or Unicode P*) is a word of its own.
4. WordPiece per word: more than ``max_input_chars_per_word`` characters -> [unk]; otherwise
   greedy longest-match-first from the left, continuation pieces looked up with
   ``continuing_subword_prefix``; any position with no match makes the whole word [unk].
5. Keep the first ``max_tokens`` ids (if >= 0), then remove ``drop_id`` (if >= 0).

Spec dict (built by ``fastembed_core.wordpiece``): vocab (dict str -> int), unk_token, unk_id,
continuing_subword_prefix, max_input_chars_per_word, clean_text, handle_chinese_chars,
strip_accents (resolved bool), lowercase, added_tokens (dicts: content -- normalized for
``normalized`` ones --, id, normalized, single_word, lstrip, rstrip),
strict_unassigned, tokenizer_json (the tokenizer, truncation and padding removed).
"""

from __future__ import annotations

import numpy as np

__all__ = ["wordpiece_tables_version", "wordpiece_new", "wordpiece_encode", "wordpiece_split"]


class WordPieceHandle:
    """The tokenizers pipeline the spec describes."""

    def __init__(self, spec: dict):
        from tokenizers import Tokenizer

        self.spec = spec
        if "tokenizer_json" in spec:
            self.tokenizer = Tokenizer.from_str(spec["tokenizer_json"])
        else:  # a cached fast path keeps only the file name (loaded when a text needs it)
            self.tokenizer = Tokenizer.from_file(spec["tokenizer_file"])
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()


def wordpiece_tables_version() -> str | None:
    """The tokenizers version the compiled Unicode tables were measured on (None: no tables here)."""
    return None


def wordpiece_new(spec: dict) -> WordPieceHandle:
    """A handle for ``wordpiece_encode`` / ``wordpiece_split`` from a spec dict (see module doc)."""
    return WordPieceHandle(spec)


def wordpiece_encode(handle: WordPieceHandle, texts: tuple, start: int, stop: int, max_tokens: int,
                     drop_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenize ``texts[start:stop]`` (a tuple of str).

    Returns (ids int32[N], counts int64[stop-start], fallback uint8[stop-start]): the ids of the
    texts concatenated, each text's count, and 1 where a text was not tokenized (its count is 0)
    and the caller must use tokenizers instead. Here fallback is always 0.
    ``max_tokens`` < 0 keeps every id; ``drop_id`` < 0 drops none.
    TypeError names the index of a non-str item; ValueError one that is not encodable as UTF-8.
    """
    if start < 0 or stop > len(texts) or stop < start:
        raise ValueError("start/stop out of range")
    chunk = texts[start:stop]
    for i, t in enumerate(chunk):
        if not isinstance(t, str):
            raise TypeError(f"texts[{start + i}] must be str, not {type(t).__name__}")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"texts[{start + i}] cannot be encoded as UTF-8 ({exc.reason}: "
                             "a lone surrogate?); tokenizers rejects it too") from None
    encodings = handle.tokenizer.encode_batch_fast(list(chunk), add_special_tokens=False) if chunk else []
    parts, counts = [], np.zeros(len(chunk), dtype=np.int64)
    for i, enc in enumerate(encodings):
        ids = np.asarray(enc.ids, dtype=np.int32)
        if max_tokens >= 0:
            ids = ids[:max_tokens]
        if drop_id >= 0:
            ids = ids[ids != drop_id]
        parts.append(ids)
        counts[i] = len(ids)
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return flat.astype(np.int32, copy=False), counts, np.zeros(len(chunk), dtype=np.uint8)


def wordpiece_split(handle: WordPieceHandle, text: str) -> tuple[str, list[str]] | None:
    """(normalized text, pre-tokens) of one text, as BertNormalizer + BertPreTokenizer give them.

    The compiled version returns None for texts it sends to tokenizers; this one never does.
    """
    tok = handle.tokenizer
    norm = tok.normalizer.normalize_str(text) if tok.normalizer is not None else text
    return norm, [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(norm)]
