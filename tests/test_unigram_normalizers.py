"""Unigram fast path with the Unicode normalizers and the Whitespace pre-tokenizer (csrc/unicode.c):
Lowercase, NFD / NFKD / NFC / NFKC, alone and in Sequences (the ALBERT / XLNet converters' NFKD +
Lowercase, tokenizers' own SentencePiece-style NFKC), Whitespace (regex \\w+|[^\\w\\s]+): ids identical
to tokenizers, normalized text identical to tokenizers' normalizer, the fast path taken.
"""

from __future__ import annotations

import functools
import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sentencepiece")
pytest.importorskip("transformers")
import _unigram_models as U  # noqa: E402
from conftest import scaled  # noqa: E402
from test_unigram import EDGE, fast_lists, i18n_texts, reference  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from fastembed_core import _backend  # noqa: E402
from fastembed_core.unigram import FastUnigram, unsupported_reason  # noqa: E402

METASPACE = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
MULTI = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
VARIANTS = {
    "lowercase": ({"type": "Lowercase"}, METASPACE),
    "nfd": ({"type": "NFD"}, METASPACE),
    "nfkd+lowercase": ({"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"String": "``"}, "content": '"'}, {"type": "NFKD"}, {"type": "Lowercase"},
        MULTI]}, METASPACE),
    "nfc": ({"type": "NFC"}, METASPACE),
    "nfkc": ({"type": "Sequence", "normalizers": [{"type": "NFKC"}, MULTI]}, METASPACE),
    "whitespace": ({"type": "NFKC"}, {"type": "Whitespace"}),
    "whitespace+metaspace": ({"type": "Lowercase"}, {"type": "Sequence", "pretokenizers": [
        {"type": "Whitespace"}, METASPACE]}),
}
MORE = ["ÅÄÖ åäö Ǆ ǅ ǆ İstanbul ΣΑΣ ẞ ﬃ", "e\u0301\u0327 e\u0327\u0301 a\u0328\u0301\u0316", "한국어 ᄀ\u1161\u11a8 가\u11a8",
        "Ⅻ ① ㍿ ｶﾞ ﾊﾟ ＡＢＣ", "under_score x_1 a1b2 — «quoted» (paren) 3.14", "ǰ̣ ΐ ᾷ ᾳ\u0313", "\u0958 \u09cb \u0b48 \u0f73",
        "\U0001d15e \U0001d160 \U00011938", "㋿ ꟲ \U00010781", "Ωmega \u2126 K \u212a Å"]


@functools.lru_cache(maxsize=None)
def variant(name):
    norm, pre = VARIANTS[name]
    d = json.loads(U.spm_tokenizer("xlmr").to_str())
    d["normalizer"], d["pre_tokenizer"] = norm, pre
    tok = Tokenizer.from_str(json.dumps(d))
    return tok, FastUnigram.from_tokenizer(tok)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pair(request):
    return variant(request.param)


def test_taken(pair):
    tok, fast = pair
    assert unsupported_reason(tok) is None and fast is not None


def test_ids_match_tokenizers(pair, backend):
    tok, fast = pair
    texts = EDGE + MORE + i18n_texts(150)
    assert fast_lists(fast, texts) == reference(tok, texts)


def test_normalized_text_matches_and_few_fall_back(pair):
    tok, fast = pair
    texts = MORE + i18n_texts(150)
    with _backend.using("compiled") as k:
        handle = fast._handle()
        for t in texts:
            got = k.unigram_normalize(handle, t)
            if got is not None:
                assert got == tok.normalizer.normalize_str(t), t
        fast.encode_flat(texts)
        assert fast.last_fallback_count <= 3  # the few texts with code points the crate and Python disagree on


_ALPHABET = st.sampled_from(list("aAbB ._-1\t") + ["\u0301", "\u0327", "\u0316", "é", "É", "ｅ", "Ⅻ", "ﬁ", "İ", "Σ", "ß",
                                                  "한", "\u1100", "\u1161", "\u11a8", "\u3000", "日", "\u0f73", "Ǆ"])


@settings(max_examples=scaled(120), deadline=None)
@given(texts=st.lists(st.one_of(st.text(max_size=20), st.lists(_ALPHABET, max_size=24).map("".join)), max_size=6))
def test_hypothesis_unicode(texts):
    texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    for name in VARIANTS:
        tok, fast = variant(name)
        with _backend.using("compiled"):
            assert fast_lists(fast, texts) == reference(tok, texts), name


def test_normal_forms_per_code_point_agree_with_unicodedata():
    """On every assigned BMP code point the C normal forms equal Python's (and so tokenizers', which
    scripts/gen_unicode_tables.py checked), except where they send the text to tokenizers."""
    cps = [chr(c) for c in range(0x80, 0x10000) if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn"]
    for form in ("NFD", "NFKD", "NFC", "NFKC"):
        d = json.loads(U.spm_tokenizer("xlmr").to_str())
        d["normalizer"] = {"type": form}
        fast = FastUnigram.from_tokenizer(Tokenizer.from_str(json.dumps(d)))
        with _backend.using("compiled") as k:
            h = fast._handle()
            bad = [c for c in cps if (got := k.unigram_normalize(h, "a" + c + "\u0301")) is not None
                   and got != unicodedata.normalize(form, "a" + c + "\u0301")]
        assert bad == [], (form, bad[:10])
