"""Fuzz the Unigram fast path differentially against tokenizers, and its C parsers directly.

Tokenizers: the three offline-trained Unigram tokenizers of tests/_unigram_models.py (XLM-R style
with a real Precompiled charsmap, SpmConverter byte_fallback style, tokenizers' UnigramTrainer).
Input: byte 0 picks the mode. Modes 0-2: that tokenizer; byte 1 max_tokens (0: None); the rest,
split at 0xFF bytes, are the texts (UTF-8, U+FFFD for invalid sequences); FastUnigram.encode_flat
must give exactly tokenizers' ids. Mode 3: the rest patches the XLM-R charsmap (pairs of
position, byte); when tokenizers accepts the result, the fast path gives its ids or, where
tokenizers fails (it panics on out-of-range entries), fails too. Every input also goes raw to the
C entry point ``fe_ug_fuzz_one`` (blob build + open + encode over arbitrary bytes), which must
never crash (ASan/UBSan builds catch out-of-bounds reads).
"""

import base64
import json

import numpy as np

from _common import instrumented_import, main

fe = instrumented_import()
import _unigram_models as U  # noqa: E402
from fastembed_core import _backend  # noqa: E402
from fastembed_core.unigram import FastUnigram  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

TOKENIZERS = [U.spm_tokenizer("xlmr"), U.spm_tokenizer("spm"), U.trained_unigram()]
FAST = [FastUnigram.from_tokenizer(t) for t in TOKENIZERS]
XLMR = json.loads(TOKENIZERS[0].to_str())
CHARSMAP = base64.b64decode(XLMR["normalizer"]["normalizers"][0]["precompiled_charsmap"])
PROBE = ["Hello  world", "ｅ\u0301 Ⅻ ﬁ", "日本語 한국어", "\u200b\x00x", "a\r\nb", " ▁ x "]
COMPILED = _backend.load("compiled")


def lists(fast, texts, **kw):
    ids, offsets = fast.encode_flat(texts, num_threads=1, **kw)
    assert ids.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    return [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))]


def differential(mode: int, data: bytes) -> None:
    tok, fast = TOKENIZERS[mode], FAST[mode]
    max_tokens = None if data[0] == 0 else data[0] % 40
    texts = [t.decode("utf-8", errors="replace") for t in data[1:].split(b"\xff")]
    want = [e.ids[:max_tokens] for e in tok.encode_batch(texts, add_special_tokens=False)]
    got = lists(fast, texts, max_tokens=max_tokens)
    for t, g, w in zip(texts, got, want):
        assert g == w, f"ids differ for {t!r}: fast {g} vs tokenizers {w}"


def charsmap(data: bytes) -> None:
    cm = bytearray(CHARSMAP)
    for k in range(0, len(data) - 2, 3):
        cm[int.from_bytes(data[k:k + 2], "little") % len(cm)] = data[k + 2]
    d = json.loads(json.dumps(XLMR))
    d["normalizer"]["normalizers"][0]["precompiled_charsmap"] = base64.b64encode(bytes(cm)).decode()
    try:
        tok = Tokenizer.from_str(json.dumps(d))
    except BaseException:  # tokenizers refuses it (a PanicException is a BaseException)
        return
    try:
        fast = FastUnigram.from_tokenizer(tok)
    except ValueError:
        return
    try:
        want = [e.ids for e in tok.encode_batch(PROBE, add_special_tokens=False)]
    except BaseException:
        try:
            lists(fast, PROBE)
        except BaseException:
            return
        raise AssertionError("tokenizers failed on a text the fast path tokenized")
    assert lists(fast, PROBE) == want


def one_input(data: bytes) -> None:
    COMPILED.unigram_fuzz_one(data)
    if len(data) < 2:
        return
    mode = data[0] % 4
    if mode == 3:
        charsmap(data[1:])
    else:
        differential(mode, data[1:])


if __name__ == "__main__":
    main(one_input)
