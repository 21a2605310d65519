"""Unigram (SentencePiece) tokenizers built offline for the tests, cached under .cache/test-models/.

- ``spm_tokenizer(style, vocab_size)``: a ``sentencepiece`` Unigram model trained on the i18n dev text
  (18 languages) and converted to a ``tokenizers.Tokenizer`` the way the ecosystem does:
  ``"xlmr"``: transformers' XLMRobertaConverter layout (``<s> <pad> </s> <unk>`` first, ``<mask>`` last,
  Precompiled nmt_nfkc charsmap + Replace(" {2,}", " "), Metaspace(always, split=True));
  ``"spm"``: transformers' ``SpmConverter.build_tokenizer_from_spm_proto`` (trained with
  ``byte_fallback=True``: Precompiled + the regex Replaces + Metaspace(first, split=False)).
- ``trained_unigram()``: a Unigram trained with ``tokenizers``' own UnigramTrainer (Metaspace only).
Training takes a few seconds; the results are cached keyed by the library versions.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
from pathlib import Path

from _models import CACHE, SENTENCES

I18N = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-i18n-dev.jsonl.gz"
I18N = Path(os.environ.get("FASTEMBED_CORE_I18N_DATA", I18N))


def i18n_rows() -> list[dict]:
    """Rows of the i18n dev data ([] when the file is absent)."""
    if not I18N.exists():
        return []
    with gzip.open(I18N, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def training_text(n: int = 10000) -> list[str]:
    rows = i18n_rows()
    random.Random(0).shuffle(rows)
    text = [r["query"] for r in rows[:n]] + [r["doc"][:300] for r in rows[: n // 6]]
    return text or SENTENCES * 50


def _save_atomic(tok, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tok.save(str(tmp))
    os.replace(tmp, path)


def _spm_proto(vocab_size: int, byte_fallback: bool):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text()), model_writer=buf, vocab_size=vocab_size, model_type="unigram",
        character_coverage=0.9995, num_threads=1, byte_fallback=byte_fallback, minloglevel=2,
        hard_vocab_limit=False,
    )
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return proto


def _xlmr(proto):
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p.piece, p.score) for p in proto.pieces[3:]] + [("<mask>", 0.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
    return tok


def _spm(proto):
    from transformers.convert_slow_tokenizer import SpmConverter

    vocab = [(p.piece, p.score) for p in proto.pieces]
    return SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=False)


def spm_tokenizer(style: str = "xlmr", vocab_size: int = 4000):
    """A converted sentencepiece Unigram tokenizer (see module doc), trained once and cached."""
    import sentencepiece
    import tokenizers
    from tokenizers import Tokenizer

    path = CACHE / f"unigram-{style}-{vocab_size}-spm{sentencepiece.__version__}-tok{tokenizers.__version__}.json"
    if not path.exists():
        proto = _spm_proto(vocab_size, byte_fallback=style == "spm")
        _save_atomic(_xlmr(proto) if style == "xlmr" else _spm(proto), path)
    return Tokenizer.from_file(str(path))


def trained_unigram(vocab_size: int = 2000):
    """A Unigram trained by tokenizers' UnigramTrainer (no normalizer, Metaspace), cached."""
    import tokenizers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    path = CACHE / f"unigram-hf-{vocab_size}-tok{tokenizers.__version__}.json"
    if not path.exists():
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, unk_token="<unk>", special_tokens=["<unk>"],
                                          show_progress=False)
        tok.train_from_iterator(training_text(8000), trainer=trainer)
        _save_atomic(tok, path)
    return Tokenizer.from_file(str(path))


def large_unigram_file(n_pieces: int = 250_000) -> Path:
    """tokenizer.json of a valid ``n_pieces``-piece XLM-R-style Unigram (cached): the "xlmr" model's
    pieces plus words and word pieces of the i18n text with scores below the trained ones, so it
    tokenizes like a large multilingual vocabulary (for memory and speed benchmarks)."""
    import tokenizers

    path = CACHE / f"unigram-xlmr-large-{n_pieces}-tok{tokenizers.__version__}.json"
    if path.exists():
        return path
    d = json.loads(spm_tokenizer("xlmr").to_str())
    vocab = d["model"]["vocab"]
    seen = {p for p, _ in vocab}
    rng = random.Random(0)
    extra = []
    for text in training_text(60000):
        for w in text.split():
            for piece in ("▁" + w, w, w[: len(w) // 2 + 1], "▁" + w[: len(w) // 2 + 1]):
                if piece not in seen and len(extra) < n_pieces - len(vocab):
                    seen.add(piece)
                    extra.append([piece, -12.0 - 6.0 * rng.random()])
    d["model"]["vocab"] = vocab + extra
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(d, ensure_ascii=False))
    os.replace(tmp, path)
    return path
