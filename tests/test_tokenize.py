"""TextTokenizer: the same ids as model2vec 0.10's StaticModel.tokenize, flat."""

from __future__ import annotations

import numpy as np
import pytest
from _models import SENTENCES, tiny_tokenizer

from fastembed_core import TextTokenizer

m2v = pytest.importorskip("model2vec")

EDGE = ["", " ", "zzzzqqq ⚙⚙⚙", "\x00\t\n", "a" * 5000, "the " * 900, "Café " * 300, "日本語のテキスト"]


def model2vec_ids(tok, texts, max_length):
    """model2vec 0.10's tokenization through its own StaticModel."""
    vocab = tok.get_vocab_size()
    model = m2v.StaticModel(np.zeros((vocab, 2), np.float32), tok, max_length=max_length)
    if max_length is not None:
        texts = [t[: max_length * model.median_token_length] for t in texts]
    model._set_max_length_in_tokenizer(max_length)
    return model.tokenize(texts)


def flat_to_lists(ids, offsets):
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


@pytest.mark.parametrize("max_length", [512, 8, 1, None])
def test_tiny_matches_model2vec(max_length):
    tok = tiny_tokenizer()
    texts = SENTENCES + EDGE
    ids, offsets = TextTokenizer(tok).encode(texts, max_length=max_length)
    assert ids.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    assert flat_to_lists(ids, offsets) == model2vec_ids(tok, texts, max_length)


def test_unk_dropped_and_original_untouched():
    tok = tiny_tokenizer()
    before = tok.to_str()
    t = TextTokenizer(tok)
    unk = tok.token_to_id("[UNK]")
    assert t.unk_id == unk
    ids, offsets = t.encode(["⚙⚙⚙", "the fox ⚙"])
    assert unk not in ids.tolist() and offsets[1] == 0
    assert tok.to_str() == before


def test_dev_data_matches_model2vec(teacher_model_dir, dev_rows):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(teacher_model_dir / "tokenizer.json"))
    texts = [r["query"] for r in dev_rows[:3000]] + [r["doc"] for r in dev_rows[:3000]]
    ids, offsets = TextTokenizer(tok).encode(texts, max_length=512)
    assert flat_to_lists(ids, offsets) == model2vec_ids(tok, texts, 512)


class FakeFast:
    """Duck-typed fast path: records its arguments and defers to tokenizers."""

    def __init__(self, tok):
        self.tok, self.calls = tok, []

    def encode_flat(self, texts, *, max_tokens, drop_id, num_threads=None):
        self.calls.append((max_tokens, drop_id, num_threads))
        encs = self.tok.encode_batch(texts, add_special_tokens=False)
        lists = [[i for i in e.ids[:max_tokens] if i != drop_id] for e in encs]
        return np.array([i for x in lists for i in x], np.int32), np.r_[0, np.cumsum([len(x) for x in lists])]


def test_fast_path_hook():
    tok = tiny_tokenizer()
    fast = FakeFast(tok)
    t = TextTokenizer(tok, fast=fast)
    texts = SENTENCES + EDGE
    for ml in (512, 3, None):
        ids, offsets = t.encode(texts, max_length=ml, num_threads=2)
        assert flat_to_lists(ids, offsets) == model2vec_ids(tok, texts, ml)
    assert fast.calls[0] == (512, t.unk_id, 2) and fast.calls[-1][0] == 2**31 - 1
    with pytest.raises(TypeError, match="encode_flat"):
        TextTokenizer(tok, fast=object())


def test_bad_input():
    t = TextTokenizer(tiny_tokenizer())
    with pytest.raises(TypeError, match="item 1 is int"):
        t.encode(["ok", 3])
    with pytest.raises(TypeError, match="item 0 is bytes"):
        t.encode([b"x"])
    with pytest.raises(TypeError, match="not a single str"):
        t.encode("abc")
    with pytest.raises(ValueError, match="max_length"):
        t.encode(["a"], max_length=0)
    with pytest.raises(TypeError, match="tokenizers.Tokenizer"):
        TextTokenizer("not a tokenizer")
    ids, offsets = t.encode([])
    assert len(ids) == 0 and offsets.tolist() == [0]


def test_bad_tokenizer_file(tmp_path):
    p = tmp_path / "tokenizer.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read tokenizer file"):
        TextTokenizer.from_file(p)


def test_wordpiece_unk_token_missing_from_vocab_is_rejected_at_load():
    # Found by fuzz/fuzz_model_dir.py: tokenizers accepts such a file and then raises a bare
    # Exception on the first unknown word.
    import json

    from tokenizers import Tokenizer

    from _models import tiny_tokenizer
    from fastembed_core import TextTokenizer

    spec = json.loads(tiny_tokenizer().to_str())
    spec["model"]["unk_token"] = "[NOT-IN-VOCAB]"
    with pytest.raises(ValueError, match="unk_token"):
        TextTokenizer(Tokenizer.from_str(json.dumps(spec)))
