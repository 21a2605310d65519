"""Added tokens on the fast path (csrc/added.c, shared by WordPiece and Unigram): ids identical to
tokenizers' AddedVocabulary on both backends -- non-normalized tokens matched on the original text,
normalized ones (model2vec's multi-word vocabulary entries) on each normalized piece,
leftmost-longest, single_word / lstrip / rstrip -- and the fast path taken for such texts.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _models import tiny_tokenizer
from conftest import scaled
from fastembed_core import _backend
from fastembed_core.wordpiece import FastWordPiece

pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Tokenizer  # noqa: E402

# (content, options): multi-word normalized entries as model2vec adds them, overlapping ones, ones
# whose normalized form differs from the content (BERT lowercasing / accents, NFKC in Precompiled),
# raw specials, and the single_word / lstrip / rstrip variants.
ADDED = [
    ("new york", {}), ("new york city", {}), ("york city hall", {}), ("machine learning", {}),
    ("Café Noir", {}), ("naïve approach", {}), ("ﬁle system", {}), ("ing x", {}), ("ＡＢＣ def", {}),
    ("the end", dict(single_word=True)), ("é", dict(single_word=True)),
    ("[ENT]", dict(normalized=False, lstrip=True, rstrip=True)), ("<x>", dict(normalized=False)),
    ("<x><y>", dict(normalized=False)), ("Quick", dict(normalized=False, single_word=True)),
    ("@@", dict(normalized=False, rstrip=True)), ("@@@", dict(normalized=False, lstrip=True)),
    ("日本 語", {}), ("Straße", dict(normalized=False)),
]
SPECIAL = ["[CLS]", "[SEP]", "<s>"]

EDGE = [
    "", " ", "new york", "New York City is big", "i love new york city hall", "new york city hall",
    "newyork new  york", "machine learning, Machine Learning and MACHINE LEARNING", "café noir CAFÉ NOIR",
    "Cafe\u0301 Noir", "a naïve approach", "the ﬁle system and file system", "testing x", "thinking xylophone",
    "ＡＢＣ def abc def", "the end", "theend the end.", "xthe end", "the end_", "the endé", "é", "aé", "é1", "é é",
    "[ENT]", "a [ENT] b", "a  [ENT]  b", "[ENT][ENT]", "a\t[ENT]\u3000b", "<x><y><x>", "<x> <y>", "<x><x><y>",
    "Quick quick Quick_ _Quick Quick. (Quick)", "Quickly Quick1", "@@@@ @@ @@@ a@@b", "a @@@ b", "x @@   @@@ y",
    "日本 語 日本語", "Straße strasse STRASSE", "[CLS] new york [SEP]", "<s>new york</s>", "[CLS][SEP]",
    "new york" * 50, "  new york  ", "\u00a0new york\u00a0", "new\nyork", "new york's", "NEW YORK!",
]


def reference(tok, texts):
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def fast_lists(fast, texts, **kw):
    ids, offsets = fast.encode_flat(texts, **kw)
    return [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))]


def with_added(tok: Tokenizer) -> Tokenizer:
    tok = Tokenizer.from_str(tok.to_str())
    tok.add_tokens([AddedToken(c, **o) for c, o in ADDED])
    tok.add_special_tokens([AddedToken(c, special=True) for c in SPECIAL])
    return tok


@functools.lru_cache(maxsize=None)
def tokenizers_under_test():
    out = {"wordpiece": with_added(tiny_tokenizer(300))}
    try:
        import _unigram_models as U

        for style in ("xlmr", "spm"):
            out[f"unigram-{style}"] = with_added(U.spm_tokenizer(style))
    except ImportError:  # sentencepiece / transformers missing: WordPiece only
        pass
    return out


def fast_of(tok):
    if tok.model.__class__.__name__ == "WordPiece":
        return FastWordPiece.from_tokenizer(tok)
    from fastembed_core.unigram import FastUnigram

    return FastUnigram.from_tokenizer(tok)


@pytest.fixture(scope="module", params=["wordpiece", "unigram-xlmr", "unigram-spm"])
def tok(request):
    got = tokenizers_under_test().get(request.param)
    if got is None:
        pytest.skip("sentencepiece / transformers not installed")
    return got


def test_edge_cases_match_tokenizers(tok, backend):
    fast = fast_of(tok)
    assert fast is not None
    assert fast_lists(fast, EDGE) == reference(tok, EDGE)
    for mt, drop in ((3, None), (1, 0), (0, None), (5, 4)):
        want = [[i for i in ids[:mt] if i != drop] for ids in reference(tok, EDGE)]
        assert fast_lists(fast, EDGE, max_tokens=mt, drop_id=drop) == want


def test_fast_path_is_taken(tok):
    with _backend.using("compiled"):
        fast = fast_of(tok)
        texts = [t for t in EDGE if "\u0301" not in t]  # a mark: a multi-code-point grapheme cluster (Unigram)
        if json.loads(tok.to_str())["pre_tokenizer"].get("pretokenizers", [{}])[0].get("prepend_scheme") == "first":
            # Metaspace "first" after a normalized match in a text whose first character the
            # normalizers rewrite (offsets not tracked in C): tokenizers decides
            texts = [t for t in texts if t[:1] not in ("Ａ", "\u00a0")]
        assert fast_lists(fast, texts) == reference(tok, texts)
        assert fast.last_fallback_count == 0


def test_the_added_ids_appear(tok):
    """The cases exercise the matcher: ids of added tokens occur in the output."""
    added_ids = {tok.token_to_id(c) for c, _ in ADDED}
    with _backend.using("compiled"):
        got = fast_lists(fast_of(tok), EDGE)
    seen = {i for ids in got for i in ids if i in added_ids}
    assert len(seen) >= 12


PIECES = [c for c, _ in ADDED] + SPECIAL + ["new", "york", "city", " ", "  ", "\t", "_", "é", "e\u0301", "x", ".",
                                          "Machine", "LEARNING", "ABC", "ＤＥＦ", "日本", "語", "ß", "SS", "\u3000"]


@settings(max_examples=scaled(150), deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=12).map("".join),
                min_size=1, max_size=8))
def test_hypothesis_sprinkled_text(texts):
    for tok in tokenizers_under_test().values():
        fast = fast_of(tok)
        for name in ("numpy", "compiled"):
            with _backend.using(name):
                assert fast_lists(fast, texts) == reference(tok, texts), name


def test_duplicate_or_empty_normalized_contents_are_unsupported():
    from fastembed_core.wordpiece import added_tokens

    d = json.loads(tiny_tokenizer(300).to_str())
    flags = dict(single_word=False, lstrip=False, rstrip=False, normalized=True, special=False)
    d["added_tokens"] = d["added_tokens"] + [dict(id=900, content="Ab", **flags), dict(id=901, content="ab", **flags)]
    assert added_tokens(d) == "two added tokens with the same content"  # both match "ab"
    d["added_tokens"][-1]["content"] = "\u0301"  # BERT strips it: normalized form empty
    assert added_tokens(d) == "a normalized added token whose normalized form is empty"
    d["added_tokens"][-1] = dict(d["added_tokens"][-1], id=-1, content="x")
    assert added_tokens(d) == "an added token id out of range"
    d["added_tokens"][-1] = dict(d["added_tokens"][-1], id=901, content="ab", normalized=False)
    assert isinstance(added_tokens(d), list)  # a raw "ab" and a normalized "Ab": two sets, both fine


def test_fuzz_entry_point_survives_random_bytes():
    compiled = pytest.importorskip("fastembed_core._kernels")
    rng = np.random.default_rng(0)
    for _ in range(3000):
        n = int(rng.integers(0, 80))
        data = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        if n > 2 and rng.random() < 0.5:  # a plausible config: 2 tokens "ab" / "b c"
            data = bytes([2, int(rng.integers(0, 16)), 2]) + b"ab" + bytes([int(rng.integers(0, 16)), 3]) + b"b c" + data
        assert compiled.added_fuzz_one(data) == 0


# ------------------------------------------------------------------ end to end: a model2vec-made vocabulary

MULTIWORD = ["new york", "Machine Learning", "free software", "operating system", "command line tool",
             "Café Noir", "unicode text", "日本 語", "static libraries", "python bindings"]


def model2vec_tokenizer(base: Tokenizer) -> Tokenizer:
    """base with a custom vocabulary added by model2vec's own distillation code
    (model2vec.tokenizer.clean_and_create_vocabulary): single words become vocabulary entries,
    multi-word ones normalized, stripped, non-special, normalized=True added tokens."""
    pytest.importorskip("model2vec.distill")
    from model2vec.tokenizer.tokenizer import clean_and_create_vocabulary
    from skeletoken import TokenizerModel
    from transformers import PreTrainedTokenizerFast

    model = TokenizerModel.from_transformers_tokenizer(PreTrainedTokenizerFast(tokenizer_object=base))
    model = clean_and_create_vocabulary(model.prune_added_tokens(), MULTIWORD + ["zebra", "quokka"], None)
    return model.to_tokenizer()


@pytest.mark.parametrize("which", ["wordpiece", "unigram-xlmr"])
def test_model2vec_multiword_vocabulary_end_to_end(tmp_path, which, backend, monkeypatch):
    from _models import write_model

    from fastembed_core import StaticModel

    m2v = pytest.importorskip("model2vec")
    monkeypatch.setenv("FASTEMBED_CORE_CACHE_DIR", str(tmp_path / "cache"))
    if which == "wordpiece":
        base = tiny_tokenizer(300)
    else:
        pytest.importorskip("sentencepiece")
        import _unigram_models as U

        base = U.spm_tokenizer("xlmr")
    tok = model2vec_tokenizer(base)
    added = json.loads(tok.to_str())["added_tokens"]
    multi = [t for t in added if " " in t["content"]]
    assert len(multi) >= 8 and all(t["normalized"] and not t["special"] for t in multi)
    v = tok.get_vocab_size(with_added_tokens=True)
    rng = np.random.default_rng(0)
    path = write_model(tmp_path / "m", tok, rng.standard_normal((v, 16)).astype(np.float32))
    texts = EDGE + [f"I use {w} daily; {w.upper()}!" for w in MULTIWORD] + ["a new  york  free software"]
    ours = StaticModel.from_pretrained(path)
    theirs = m2v.StaticModel.from_pretrained(path)
    np.testing.assert_allclose(ours.encode(texts), theirs.encode(texts, use_multiprocessing=False), atol=1e-6)
    if _backend.BACKEND == "compiled":
        assert ours.tokenizer_path == ("fastembed_core.wordpiece" if which == "wordpiece" else "fastembed_core.unigram")
        assert ours.tokenizer.fast_reason is None
        texts = [t for t in texts if "\u0301" not in t and "é" not in t]  # grapheme clusters (Unigram)
        ours.encode(texts)
        assert ours.tokenizer.fast.last_fallback_count == 0
        ids = [i for t in texts for i in tok.encode(t, add_special_tokens=False).ids]
        assert {t["id"] for t in multi} & set(ids)  # the multi-word entries were matched
