"""Unigram (SentencePiece) fast path: ids identical to tokenizers, on both backends.

The tokenizers are trained offline inside the tests (tests/_unigram_models.py): sentencepiece models
converted the XLM-R way (real Precompiled charsmap, Metaspace split) and by transformers'
SpmConverter (byte_fallback, regex Replaces, Metaspace first / no split), and one trained with
tokenizers' own UnigramTrainer.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sentencepiece")
pytest.importorskip("transformers")  # SpmConverter, for the "spm" style
import _unigram_models as U  # noqa: E402
from conftest import DATA, scaled  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from fastembed_core import TextTokenizer, _backend  # noqa: E402
from fastembed_core.unigram import FastUnigram, unsupported_reason  # noqa: E402

STYLES = ["xlmr", "spm", "hf"]
EDGE = ["", " ", "  x", "x  ", "\x1f0", "x y", "xx", "\x1f x", "Hello  world ", "\u2581a", " \u2581", "\u2581\u2581", "a\tb\nc", "a\r\nb", "a\rb", "¸", " ¸x", "\u3000x",
        "ｅ\u0301 e\u0301 ＡＢＣ", "日本語のテキスト", "한국어 텍스트", "Привет, мир!", "zzz\x00\x01qq", "🙂🙂 ok",
        "<s> hi </s>", "<unk>x<unk>", "\u200b\u200bx", "\ufeffabc", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "a" * 3000, "ab " * 2000,
        "\u00a0\u3000x\u2028y", "ﬁ ﬂ Ⅻ ㈱ ½", "\U0010ffff\U000e0001x"]


@pytest.fixture(scope="module", params=STYLES)
def unigram_tok(request):
    return styled(request.param)[0]


def reference(tok, texts):
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def reference_fast(tok, texts):
    return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]


def fast_lists(fast, texts, **kw):
    ids, offsets = fast.encode_flat(texts, **kw)
    assert ids.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    return [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))]


@functools.lru_cache(maxsize=None)
def _i18n_sample(n):
    rows = U.i18n_rows()
    rows = rows[::max(1, len(rows) // n)][:n]
    return tuple(r["query"] for r in rows) + tuple(r["doc"] for r in rows)


def i18n_texts(n):
    """n queries and n docs spread over the 18 languages of the i18n dev file."""
    return list(_i18n_sample(n))


@functools.lru_cache(maxsize=None)
def styled(style):
    tok = U.trained_unigram() if style == "hf" else U.spm_tokenizer(style)
    return tok, FastUnigram.from_tokenizer(tok)


def test_taken_and_path(unigram_tok, backend):
    assert unsupported_reason(unigram_tok) is None
    t = TextTokenizer(unigram_tok)
    assert isinstance(t.fast, FastUnigram) and t.fast_reason is None
    assert t.path == ("fastembed_core.unigram" if _backend.BACKEND == "compiled" else "tokenizers")


def test_ids_match_tokenizers(unigram_tok, backend):
    fast = FastUnigram.from_tokenizer(unigram_tok)
    texts = EDGE + i18n_texts(300)
    assert fast_lists(fast, texts) == reference(unigram_tok, texts)
    if _backend.BACKEND == "compiled":  # almost every text runs in C (edge cases may fall back)
        assert fast.last_fallback_count <= len(EDGE)


@pytest.mark.parametrize("max_tokens,drop_id", [(None, None), (3, None), (5, 3), (0, None), (1, 0)])
def test_truncate_then_drop(unigram_tok, backend, max_tokens, drop_id):
    fast = FastUnigram.from_tokenizer(unigram_tok)
    texts = EDGE + i18n_texts(50)
    want = [[i for i in ids[:max_tokens] if i != drop_id] for ids in reference(unigram_tok, texts)]
    got = fast_lists(fast, texts, max_tokens=max_tokens, drop_id=drop_id, num_threads=2)
    assert got == want


def test_text_tokenizer_matches_model2vec_semantics(unigram_tok, backend):
    texts = EDGE + i18n_texts(40)
    for ml in (512, 4, None):
        a = TextTokenizer(unigram_tok).encode(texts, max_length=ml)
        b = TextTokenizer(unigram_tok, fast=None).encode(texts, max_length=ml)
        assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()


_ALPHABET = st.sampled_from(list("ab ▁xyz\t\n\r  ") + ["\u0301", "é", "ｅ", "\u3000", "日", "本", "한", "\u200d",
                                                         "🙂", "\x00", "<s>", "<unk>", "Ⅻ", "ﬁ", "\ufeff", "ß"])
_TEXT = st.one_of(st.text(max_size=40), st.lists(_ALPHABET, max_size=30).map("".join))


@settings(max_examples=scaled(100), deadline=None)
@given(texts=st.lists(_TEXT, max_size=6))
def test_hypothesis_unicode(texts):
    for style in STYLES:
        tok, fast = styled(style)
        texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        assert fast_lists(fast, texts) == reference(tok, texts), style


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES)
def test_dev_files_every_query_and_doc(style):
    tok = U.trained_unigram() if style == "hf" else U.spm_tokenizer(style)
    fast = FastUnigram.from_tokenizer(tok)
    texts = []
    for path in (DATA, U.I18N):
        if not path.exists():
            pytest.skip(f"dev data not found at {path}")
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                texts += [row["query"], row["doc"]]
    with _backend.using("compiled"):
        got = fast_lists(fast, texts)
    # encode_batch_fast (no offsets) is ~1.7x cheaper for the 207k texts; it gives encode_batch's ids,
    # checked here on a slice of the same texts
    assert reference(tok, texts[::50]) == reference_fast(tok, texts[::50])
    assert got == reference_fast(tok, texts)
    assert fast.last_fallback_count < len(texts) // 100


def _with(tok, **changes):
    d = json.loads(tok.to_str())
    for key, value in changes.items():
        d[key] = value
    return Tokenizer.from_str(json.dumps(d))


def test_unsupported_components_are_named():
    tok = U.spm_tokenizer("xlmr")
    nfkc = _with(tok, normalizer={"type": "Nmt"})
    assert "Nmt" in unsupported_reason(nfkc)
    t = TextTokenizer(nfkc)
    assert t.fast is None and t.path == "tokenizers" and "Nmt" in t.fast_reason
    bert = _with(tok, pre_tokenizer={"type": "BertPreTokenizer"})
    assert "BertPreTokenizer" in TextTokenizer(bert).fast_reason
    regex = _with(tok, normalizer={"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "0"})
    assert "Replace" in unsupported_reason(regex)
    texts = EDGE + ["a 123 b"]
    for t in (nfkc, bert, regex):  # still the exact ids, through tokenizers
        ids, offsets = TextTokenizer(t).encode(texts, max_length=None)
        ref = TextTokenizer(t, fast=None).encode(texts, max_length=None)
        assert ids.tolist() == ref[0].tolist()


def test_strip_accents_reason_names_the_component(tmp_path):
    """A StripAccents inside a Sequence (loaded from a file: the vocabulary cache is skipped) and Nmt
    are named by the reason; the ids are still those of tokenizers."""
    tok = U.spm_tokenizer("xlmr")
    strip = _with(tok, normalizer={"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "StripAccents"}]})
    assert unsupported_reason(strip) == "normalizer StripAccents"
    path = tmp_path / "tokenizer.json"
    strip.save(str(path))
    t = TextTokenizer.from_file(path)
    assert t.fast is None and t.path == "tokenizers" and t.fast_reason == "normalizer StripAccents"
    texts = ["Crème brûlée à Zürich", "naïve café"]
    assert t.encode(texts, max_length=None)[0].tolist() == TextTokenizer(strip, fast=None).encode(texts, max_length=None)[0].tolist()
    assert unsupported_reason(_with(tok, normalizer={"type": "Nmt"})) == "normalizer Nmt"


def test_supported_variants_match():
    """Strip / Prepend / literal Replace / WhitespaceSplit / Metaspace never + no split / no unk_id."""
    tok = U.spm_tokenizer("xlmr")
    d = json.loads(tok.to_str())
    charsmap = d["normalizer"]["normalizers"][0]
    variants = [
        dict(normalizer={"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": True}, charsmap,
            {"type": "Replace", "pattern": {"String": "ab"}, "content": "X"},
            {"type": "Prepend", "prepend": "▁"}]}),
        dict(pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": False}]}),
        dict(pre_tokenizer={"type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": True}),
        dict(normalizer=None, pre_tokenizer=None),
        dict(normalizer={"type": "Sequence", "normalizers": [
            charsmap, {"type": "Strip", "strip_left": True, "strip_right": False},
            {"type": "Replace", "pattern": {"String": "x"}, "content": ""}]},
             pre_tokenizer={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}),
    ]
    texts = EDGE + i18n_texts(100)
    for changes in variants:
        t = _with(tok, **changes)
        fast = FastUnigram.from_tokenizer(t)
        assert fast is not None, changes
        with _backend.using("compiled"):
            assert fast_lists(fast, texts) == reference(t, texts), changes


def test_duplicate_pieces_and_byte_fallback_edge_cases():
    d = json.loads(U.spm_tokenizer("spm").to_str())
    vocab = d["model"]["vocab"]
    vocab += [["▁the", -1.0], ["zq", -0.5], ["zq", -20.0]]  # duplicates: the last one counts in tokenizers
    d["model"]["vocab"] = [v for v in vocab if v[0] != "<0x7A>"]  # "z" has no byte piece: unk instead
    tok = Tokenizer.from_str(json.dumps(d))
    texts = EDGE + ["the zq zzq ☃☃ ☃z", "zq" * 50] + i18n_texts(30)
    with _backend.using("compiled"):
        assert fast_lists(FastUnigram.from_tokenizer(tok), texts) == reference(tok, texts)


def test_random_vocabularies_through_the_trie():
    """Random vocabularies (pieces extending other pieces, lead bytes of every length, 4-byte code
    points, duplicates) through the double-array trie: ids equal tokenizers' on texts of their pieces."""
    from tokenizers import models

    rng = np.random.default_rng(5)
    alphabet = [chr(c) for c in [*range(0x21, 0x7F), *range(0xA1, 0x250), *range(0x4E00, 0x4E80), 0x1F600, 0x10348]]
    pieces: list[str] = []
    while len(pieces) < 3000:
        stem = pieces[int(rng.integers(len(pieces)))] if pieces and rng.random() < 0.6 else ""
        piece = stem + "".join(alphabet[i] for i in rng.integers(0, len(alphabet), int(rng.integers(1, 5))))
        if piece not in pieces:
            pieces.append(piece)
    vocab = [("<unk>", 0.0)] + [(p, -float(rng.uniform(1, 20))) for p in pieces] + [(pieces[7], -0.5)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    texts = ["".join(pieces[i] for i in rng.integers(0, len(pieces), int(rng.integers(1, 12)))) for _ in range(300)]
    texts += ["".join(alphabet[i] for i in rng.integers(0, len(alphabet), 40)) for _ in range(50)]  # unknowns too
    with _backend.using("compiled"):
        assert fast_lists(FastUnigram.from_tokenizer(tok), texts) == reference(tok, texts)


def _charsmap_variants(data: bytes):
    yield data[: len(data) // 2]  # truncated normalized strings
    yield data[:4] + data[8:]  # trie size no longer matches
    rng = np.random.default_rng(0)
    for _ in range(6):
        b = bytearray(data)
        for pos in rng.integers(4, min(len(b), 4096), 8):
            b[pos] = int(rng.integers(0, 256))
        yield bytes(b)


def test_corrupted_charsmaps_never_crash():
    tok = U.spm_tokenizer("xlmr")
    d = json.loads(tok.to_str())
    data = base64.b64decode(d["normalizer"]["normalizers"][0]["precompiled_charsmap"])
    texts = EDGE[:20] + i18n_texts(20)
    for bad in _charsmap_variants(data):
        d["normalizer"]["normalizers"][0]["precompiled_charsmap"] = base64.b64encode(bad).decode()
        try:
            t = Tokenizer.from_str(json.dumps(d))
        except BaseException:  # tokenizers refuses it (or panics: pyo3's PanicException): nothing to match
            continue
        try:
            fast = FastUnigram.from_tokenizer(t)
        except ValueError as exc:
            assert "charsmap" in str(exc)
            continue
        try:
            want = reference(t, texts)
        except BaseException:  # tokenizers panics on out-of-range entries: the C path must raise too
            with pytest.raises(BaseException):
                fast_lists(fast, texts)
            continue
        assert fast_lists(fast, texts) == want


def test_bad_input(backend):
    fast = FastUnigram.from_tokenizer(U.spm_tokenizer("xlmr"))
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        fast.encode_flat(["ok", 3])
    with pytest.raises(ValueError, match="lone surrogate"):
        fast.encode_flat(["ok", "a\ud800b"])
    with pytest.raises(TypeError):
        fast.encode_flat("abc")
    big = "Debian 日本語 " * 100_000  # ~1.4 MB
    assert fast_lists(fast, [big]) == reference(U.spm_tokenizer("xlmr"), [big])


def test_corrupted_blob_is_rejected():
    k = _backend.load("compiled")
    fast = FastUnigram.from_tokenizer(U.spm_tokenizer("hf"))
    blob = bytes(fast.blob)
    assert k.unigram_check(blob) == 0
    rng = np.random.default_rng(1)
    for bad in [blob[:100], blob[:-8], b"\0" * len(blob), blob[:16] + b"\xff" * 64 + blob[80:]]:
        assert k.unigram_check(bad) != 0
        with pytest.raises(ValueError, match="corrupted|empty"):
            k.unigram_new(fast.spec, bad)
    for _ in range(50):  # random flips: either rejected or safe to use
        b = bytearray(blob)
        for pos in rng.integers(0, len(b), 4):
            b[pos] = int(rng.integers(0, 256))
        try:
            h = k.unigram_new(fast.spec, bytes(b))
        except ValueError:
            continue
        k.unigram_encode(h, tuple(EDGE), 0, len(EDGE), -1, -1)


def test_fuzz_entry_point_survives_random_bytes():
    k = _backend.load("compiled")
    rng = np.random.default_rng(2)
    data = base64.b64decode(json.loads(U.spm_tokenizer("xlmr").to_str())["normalizer"]["normalizers"][0][
        "precompiled_charsmap"])
    for _ in range(200):
        n = int(rng.integers(0, 300))
        cm = data[: int(rng.integers(0, len(data)))] if rng.random() < 0.5 else rng.bytes(int(rng.integers(0, 64)))
        payload = len(cm).to_bytes(2, "little")[:2] + cm + rng.bytes(n) if len(cm) < 65536 else rng.bytes(n)
        assert k.unigram_fuzz_one(payload) == 0


def test_static_model_matches_model2vec(tmp_path, unigram_tok, cache_env):
    m2v = pytest.importorskip("model2vec")
    from _models import write_model

    from fastembed_core import StaticModel

    rng = np.random.default_rng(0)
    v = unigram_tok.get_vocab_size()
    path = write_model(tmp_path / "m", unigram_tok, rng.standard_normal((v, 16)).astype(np.float32),
                       weights=rng.uniform(0.5, 1.5, v).astype(np.float32))
    texts = EDGE + i18n_texts(60)
    ours = StaticModel.from_pretrained(path)
    assert ours.tokenizer_path == "fastembed_core.unigram"
    theirs = m2v.StaticModel.from_pretrained(path)
    np.testing.assert_allclose(ours.encode(texts), theirs.encode(texts, use_multiprocessing=False), atol=1e-6)


# ------------------------------------------------------------------ the memory-mapped vocabulary cache


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTEMBED_CORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_vocabulary_cache_is_built_once_then_mapped(tmp_path, cache_env):
    tok = U.spm_tokenizer("xlmr")
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    texts = EDGE + i18n_texts(100)
    want = TextTokenizer(tok, fast=None).encode(texts)
    first = TextTokenizer.from_file(path)
    files = list(cache_env.iterdir())
    assert len(files) == 1 and files[0].suffix == ".vocab"
    mtime = files[0].stat().st_mtime_ns
    second = TextTokenizer.from_file(path)
    assert second._tokenizer is None and second.path == "fastembed_core.unigram"
    for t in (first, second):
        got = t.encode(texts)
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert second._tokenizer is None  # fallback texts were tokenized without loading it here
    assert (second.vocab_size, second.median_token_length, second.unk_id) == (
        first.vocab_size, first.median_token_length, first.unk_id)
    assert second.tokenizer.to_str() == Tokenizer.from_file(str(path)).to_str()  # loaded on demand
    assert files[0].stat().st_mtime_ns == mtime
    d = json.loads(path.read_text())  # a changed file gets a new cache (keyed by its hash)
    d["model"]["vocab"][10][1] = -0.01
    path.write_text(json.dumps(d))
    third = TextTokenizer.from_file(path)
    assert len(list(cache_env.iterdir())) == 2
    assert third.encode(texts)[0].tolist() == TextTokenizer(Tokenizer.from_file(str(path)), fast=None).encode(
        texts)[0].tolist()


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip_header", "empty"])
def test_corrupted_vocabulary_cache_is_a_clear_error(tmp_path, cache_env, damage):
    path = tmp_path / "tokenizer.json"
    U.trained_unigram().save(str(path))
    TextTokenizer.from_file(path)
    (cache,) = cache_env.iterdir()
    data = bytearray(cache.read_bytes())
    if damage == "garbage":
        data = bytearray(b"x" * len(data))
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip_header":
        n = int.from_bytes(data[8:16], "little")
        at = 16 + n + (-(16 + n) % 8) + 8  # inside the blob's header
        data[at:at + 8] = b"\xff" * 8
    else:
        data = bytearray()
    cache.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="vocabulary cache .* is corrupted"):
        TextTokenizer.from_file(path)


def test_unigram_pickles(tmp_path, cache_env):
    import pickle

    tok = U.spm_tokenizer("spm")
    fast = FastUnigram.from_tokenizer(tok)
    texts = EDGE + i18n_texts(20)
    again = pickle.loads(pickle.dumps(fast))
    assert fast_lists(again, texts) == fast_lists(fast, texts)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    TextTokenizer.from_file(path)
    mapped = TextTokenizer.from_file(path).fast
    assert fast_lists(pickle.loads(pickle.dumps(mapped)), texts) == fast_lists(fast, texts)


# ------------------------------------------------------------------ added tokens on the fast path


def test_added_tokens_split_like_tokenizers():
    from tokenizers import AddedToken

    tok = Tokenizer.from_str(U.spm_tokenizer("xlmr").to_str())
    raw = dict(normalized=False)  # add_tokens defaults to normalized=True (those texts go to tokenizers)
    tok.add_tokens([AddedToken("debian", single_word=True, **raw), AddedToken("[X]", lstrip=True, rstrip=True, **raw),
                    AddedToken("paket", lstrip=True, **raw), AddedToken("[X]y", **raw),
                    AddedToken("Ⅻ", normalized=True)])
    tok.add_special_tokens([AddedToken("<sep>", rstrip=True)])
    texts = EDGE + ["debian tools", "xdebian debian_x debian1 (debian)", "a [X] b[X]c  [X]  d", "[X]y[X]", "<s>",
                    "  <sep>  start", "<s>x</s>", "paket paket  paket", "<mask><mask>", "Ⅻ ok", "日本 debian"]
    texts += [t + " <s> " + u for t, u in zip(i18n_texts(30), reversed(i18n_texts(30)))]
    fast = FastUnigram.from_tokenizer(tok)
    with _backend.using("compiled"):
        assert fast_lists(fast, texts) == reference(tok, texts)
        plain = styled("xlmr")[1]  # texts with grapheme-joining code points fall back in any case
        plain.encode_flat(texts[len(EDGE):])
        fast.encode_flat(texts[len(EDGE):])  # the added tokens (normalized "Ⅻ" included) add none
        assert fast.last_fallback_count == plain.last_fallback_count


@pytest.mark.parametrize("scheme", ["first", "always", "never"])
def test_added_tokens_with_each_prepend_scheme(scheme):
    d = json.loads(U.spm_tokenizer("xlmr").to_str())
    d["pre_tokenizer"]["prepend_scheme"] = scheme
    tok = Tokenizer.from_str(json.dumps(d))
    texts = ["<s>hello", "<s> hello", "a<s>b", " <s>", "<s>", "x </s>  y<mask>z"] + i18n_texts(10)
    with _backend.using("compiled"):
        fast = FastUnigram.from_tokenizer(tok)
        assert fast_lists(fast, texts) == reference(tok, texts)
        assert fast.last_fallback_count == 0
