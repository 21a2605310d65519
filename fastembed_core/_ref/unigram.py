"""Reference of the unigram kernels: the ``tokenizers`` package itself.

As for WordPiece (see _ref/wordpiece.py) there is no numpy Unigram: under the numpy backend (and as
the oracle in tests) these functions run the tokenizer the spec was read from through ``tokenizers``.
The compiled versions (csrc/unigram.c) must give the same ids for every text they do not flag as
fallback. The pipeline reproduced (``encode(text, add_special_tokens=False)``):

1. Added tokens: the non-normalized ones are split out of the raw text (leftmost, longest match;
   ``single_word`` drops a match touching a word character, ``lstrip`` / ``rstrip`` take the
   whitespace beside it; a match consumes its span even when dropped); each remaining segment
   goes through 2-4 on its own (Metaspace ``first`` prepends only to a segment at offset 0); in
   each normalized segment the normalized added tokens are split out the same way (csrc/added.c,
   shared with WordPiece; ``single_word`` tests regex ``\\w`` as tokenizers' regex crate defines
   it). The compiled path sends a text to tokenizers when ``single_word`` meets a code point
   unassigned in Python's Unicode, or with Metaspace ``first`` when a normalized match follows a
   rewritten first character (its original offset is not tracked).
2. The normalizers in order: Precompiled (SentencePiece's charsmap: per grapheme cluster shorter
   than 6 bytes the replacement of the shortest charsmap key that is a prefix of the cluster, else
   per code point), Replace (a literal, or the regexes ``" {2,}"``, ``"\\A +| +\\z"``, ``"\\A<lit>"``),
   Strip, Prepend, Lowercase (Rust ``char::to_lowercase`` per character), NFD / NFKD / NFC / NFKC
   (the unicode-normalization crate; csrc/unicode.c from tables checked against tokenizers by
   scripts/gen_unicode_tables.py, code points where the crate's older Unicode differs from Python's
   go to tokenizers).
3. The pre-tokenizers in order: Metaspace (" " -> replacement, the replacement prepended unless the
   text starts with it (``first``: only at the start of the text; ``never``), then, with ``split``,
   a new word at each replacement), WhitespaceSplit, Whitespace (``\\w+|[^\\w\\s]+``).
4. Unigram per word: Viterbi over every piece matching at each code point, the best total score
   winning (ties: the shorter piece, the earlier start); a code point with no one-code-point piece
   gets ``min_score - 10`` as ``unk_id``; consecutive unknowns are fused into one token, which
   becomes its piece id if it is one, else its bytes' ``<0xXX>`` pieces under ``byte_fallback``
   (when all exist), else ``unk_id``.
5. Keep the first ``max_tokens`` ids (if >= 0), then remove ``drop_id`` (if >= 0).

Spec dict (built by ``fastembed_core.unigram``): normalizers / pre_tokenizers (lists of op dicts:
kind, a, b, flag1, flag2), added_tokens (dicts: content, id, normalized, single_word, lstrip,
rstrip), tokenizer_json (the tokenizer, truncation and
padding removed; only for this module and for fallback).
"""

from __future__ import annotations

from .wordpiece import WordPieceHandle as UnigramHandle
from .wordpiece import wordpiece_encode as unigram_encode

__all__ = ["unigram_new", "unigram_encode", "unigram_normalize"]


def unigram_new(spec: dict, blob=None) -> UnigramHandle:
    """A handle for ``unigram_encode`` (``blob``, the compiled vocabulary, is not needed here)."""
    return UnigramHandle(spec)


def unigram_normalize(handle: UnigramHandle, text: str) -> str:
    """The normalized text as tokenizers gives it."""
    norm = handle.tokenizer.normalizer
    return norm.normalize_str(text) if norm is not None else text
