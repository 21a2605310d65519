"""Bad-input battery: every public function and class of fastembed_core, on both backends.

``CASES`` is one table of (API, input tried, call, exception type, message fragment). Each row is a
test on both backends; ``scripts/bad_input_table.py`` renders the same table as docs/bad_input.md.
``test_every_public_name_is_covered`` fails when a name in ``fastembed_core.__all__`` has no row.
"""

from __future__ import annotations

import functools
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest

import fastembed_core as fe

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _models  # noqa: E402


class Case(NamedTuple):
    api: str  # the public name (or Class.method) under test
    tried: str  # the bad input, in words
    call: Callable[["Ctx"], Any]
    exc: type
    fragment: str  # a substring of the message (case-sensitive)


class Ctx:
    """Shared, lazily built objects for the cases (a tiny model directory, an index, ...)."""

    @functools.cached_property
    def tmp(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="fe-bad-input-"))

    @functools.cached_property
    def model_dir(self) -> Path:
        return _models.make_tiny_model(self.tmp / "model")

    @functools.cached_property
    def model(self) -> fe.StaticModel:
        return fe.StaticModel.from_pretrained(self.model_dir)

    @functools.cached_property
    def tokenizer(self):
        return _models.tiny_tokenizer()

    @functools.cached_property
    def text_tokenizer(self) -> fe.TextTokenizer:
        return fe.TextTokenizer(self.tokenizer)

    @functools.cached_property
    def fast(self):
        from fastembed_core.wordpiece import FastWordPiece

        return FastWordPiece.from_tokenizer(self.tokenizer)

    @functools.cached_property
    def ternary(self):
        return fe.ternarize(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32))

    @functools.cached_property
    def index(self) -> fe.BinaryIndex:
        ix = fe.BinaryIndex(16)
        ix.add(np.random.default_rng(0).standard_normal((20, 16)).astype(np.float32))
        return ix

    def file(self, name: str, data: bytes) -> Path:
        p = self.tmp / name
        p.write_bytes(data)
        return p

    def model_dir_with(self, name: str, **replace: bytes) -> Path:
        """A copy of the tiny model directory with some files replaced by ``replace[filename]`` bytes."""
        import shutil

        d = self.tmp / name
        if not d.exists():
            shutil.copytree(self.model_dir, d)
            for fname, data in replace.items():
                (d / fname.replace("__", ".")).write_bytes(data)
        return d


F32 = np.float32
U8 = np.uint8
codes = np.zeros((3, 2), U8)
table = np.ones((10, 4), F32)
OK_IDS = np.array([0, 1, 2], np.int32)
OK_OFF = np.array([0, 3], np.int64)


def _fwp():
    from fastembed_core.wordpiece import FastWordPiece

    return FastWordPiece


def _safetensors(**tensors: np.ndarray) -> bytes:
    from safetensors.numpy import save

    return save(tensors)


def _model_tensor_file(extra: dict[str, np.ndarray] | None = None, **over) -> bytes:
    """model.safetensors bytes for the tiny tokenizer's vocabulary with tensors overridden."""
    v = _models.tiny_tokenizer().get_vocab_size()
    tensors = {"embeddings": np.ones((v, 8), F32)}
    tensors.update(extra or {})
    tensors.update(over)
    return _safetensors(**tensors)


CASES: list[Case] = [
    # ---------------------------------------------------------------- pack_bits / unpack_bits
    Case("pack_bits", "x of strings", lambda c: fe.pack_bits(np.array(["a", "b"])), TypeError, "x must be a real"),
    Case("pack_bits", "bool x", lambda c: fe.pack_bits(np.ones((2, 8), bool)), TypeError, "x must be a real"),
    Case("pack_bits", "3-D x", lambda c: fe.pack_bits(np.ones((2, 2, 8), F32)), ValueError, "x must be 1-D"),
    Case("pack_bits", "dim 0", lambda c: fe.pack_bits(np.ones((2, 0), F32)), ValueError, "at least one dimension"),
    Case("pack_bits", "threshold of wrong length", lambda c: fe.pack_bits(np.ones((2, 8), F32), threshold=np.zeros(3)),
         ValueError, "threshold must be a scalar or have shape (8,)"),
    Case("pack_bits", "threshold a string", lambda c: fe.pack_bits(np.ones((2, 8), F32), threshold="0"), TypeError,
         "threshold must be a real"),
    Case("unpack_bits", "float codes", lambda c: fe.unpack_bits(np.zeros((2, 2), F32), 16), TypeError,
         "codes must be packed codes of dtype uint8"),
    Case("unpack_bits", "dim too large for the width", lambda c: fe.unpack_bits(codes, 17), ValueError,
         "dim=17 does not match codes of 2 bytes"),
    Case("unpack_bits", "dim 0", lambda c: fe.unpack_bits(codes, 0), ValueError, "dim must be a positive integer"),
    Case("unpack_bits", "dim a float", lambda c: fe.unpack_bits(codes, 8.0), TypeError, "dim must be an integer"),
    Case("unpack_bits", "3-D codes", lambda c: fe.unpack_bits(np.zeros((1, 2, 2), U8), 16), ValueError,
         "codes must be 1-D [width] or 2-D"),
    # ---------------------------------------------------------------- hamming_distance / hamming_topk
    Case("code_cosines", "integer queries", lambda c: fe.code_cosines(np.zeros((2, 16), np.int64), np.zeros((2, 3, 2), U8)),
         TypeError, "queries must be float"),
    Case("code_cosines", "1-D queries", lambda c: fe.code_cosines(np.zeros(16, F32), np.zeros((1, 3, 2), U8)),
         ValueError, "queries must be 2-D"),
    Case("code_cosines", "NaN query", lambda c: fe.code_cosines(np.full((2, 16), np.nan, F32), np.zeros((2, 3, 2), U8)),
         ValueError, "NaN or infinity"),
    Case("code_cosines", "codes of the wrong width", lambda c: fe.code_cosines(np.zeros((2, 16), F32),
                                                                                np.zeros((2, 3, 3), U8)),
         ValueError, "codes must be uint8 [2, c, 2]"),
    Case("code_cosines", "2-D codes", lambda c: fe.code_cosines(np.zeros((2, 16), F32), np.zeros((2, 2), U8)),
         ValueError, "codes must be uint8"),
    Case("hamming_distance", "different code widths", lambda c: fe.hamming_distance(codes, np.zeros((3, 3), U8)),
         ValueError, "different code widths"),
    Case("hamming_distance", "int32 codes", lambda c: fe.hamming_distance(codes.astype(np.int32), codes), TypeError,
         "a must be packed codes"),
    Case("hamming_distance", "zero-byte codes", lambda c: fe.hamming_distance(np.zeros((3, 0), U8), np.zeros((3, 0), U8)),
         ValueError, "at least one byte"),
    Case("hamming_distance", "num_threads=0", lambda c: fe.hamming_distance(codes, codes, num_threads=0), ValueError,
         "num_threads"),
    Case("hamming_topk", "k larger than the database", lambda c: fe.hamming_topk(codes, codes, 4), ValueError,
         "k=4 is larger than the database"),
    Case("hamming_topk", "k = 0", lambda c: fe.hamming_topk(codes, codes, 0), ValueError, "k must be a positive integer"),
    Case("hamming_topk", "k a float", lambda c: fe.hamming_topk(codes, codes, 1.5), TypeError, "k must be an integer"),
    Case("hamming_topk", "k = True", lambda c: fe.hamming_topk(codes, codes, True), TypeError, "k must be an integer"),
    Case("hamming_topk", "empty database", lambda c: fe.hamming_topk(codes, np.zeros((0, 2), U8), 1), ValueError,
         "database is empty"),
    Case("hamming_topk", "float queries", lambda c: fe.hamming_topk(codes.astype(F32), codes, 1), TypeError,
         "queries must be packed codes"),
    Case("hamming_topk", "num_threads=-1", lambda c: fe.hamming_topk(codes, codes, 1, num_threads=-1), ValueError,
         "num_threads"),
    # ---------------------------------------------------------------- gather_mean
    Case("gather_mean", "1-D table", lambda c: fe.gather_mean(np.ones(4, F32), OK_IDS, OK_OFF), ValueError,
         "table must be 2-D"),
    Case("gather_mean", "int64 table", lambda c: fe.gather_mean(table.astype(np.int64), OK_IDS, OK_OFF), TypeError,
         "table dtype must be"),
    Case("gather_mean", "id out of range", lambda c: fe.gather_mean(table, [0, 10], [0, 2]), ValueError,
         "ids out of range: found 10"),
    Case("gather_mean", "negative id", lambda c: fe.gather_mean(table, [0, -1], [0, 2]), ValueError, "ids must be >= 0"),
    Case("gather_mean", "float ids", lambda c: fe.gather_mean(table, [0.5], [0, 1]), TypeError, "ids must hold integers"),
    Case("gather_mean", "2-D ids", lambda c: fe.gather_mean(table, [[0]], [0, 1]), ValueError, "ids must be 1-D"),
    Case("gather_mean", "decreasing offsets", lambda c: fe.gather_mean(table, OK_IDS, [0, 2, 1]), ValueError,
         "offsets must be non-decreasing"),
    Case("gather_mean", "offsets past the end of ids", lambda c: fe.gather_mean(table, OK_IDS, [0, 4]), ValueError,
         "offsets run past the end of ids"),
    Case("gather_mean", "negative first offset", lambda c: fe.gather_mean(table, OK_IDS, [-1, 3]), ValueError,
         "offsets must be >= 0"),
    Case("gather_mean", "empty offsets", lambda c: fe.gather_mean(table, OK_IDS, np.zeros(0, np.int64)), ValueError,
         "offsets must have length n + 1"),
    Case("gather_mean", "weights of wrong length", lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, weights=np.ones(3)),
         ValueError, "weights has length 3, expected 10"),
    Case("gather_mean", "NaN weight", lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, weights=np.full(10, np.nan)),
         ValueError, "weights contains non-finite values"),
    Case("gather_mean", "mapping out of range",
         lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, mapping=np.full(5, 10)), ValueError, "mapping values must lie in"),
    Case("gather_mean", "ids beyond the mapping", lambda c: fe.gather_mean(table, [0, 6], [0, 2], mapping=np.zeros(5, int)),
         ValueError, "ids out of range"),
    Case("gather_mean", "scales of wrong length", lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, scales=np.ones(2)),
         ValueError, "scales has length 2"),
    Case("gather_mean", "normalize=1", lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, normalize=1), TypeError,
         "normalize must be a bool"),
    Case("gather_mean", "num_threads=0", lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, num_threads=0), ValueError,
         "num_threads"),
    Case("gather_mean", "num_threads='2'", lambda c: fe.gather_mean(table, OK_IDS, OK_OFF, num_threads="2"), ValueError,
         "num_threads"),
    # ---------------------------------------------------------------- BinaryIndex
    Case("BinaryIndex", "dim 0", lambda c: fe.BinaryIndex(0), ValueError, "dim must be a positive integer"),
    Case("BinaryIndex", "keep='float16'", lambda c: fe.BinaryIndex(16, keep="float16"), ValueError, "keep must be"),
    Case("BinaryIndex", "threshold of wrong shape", lambda c: fe.BinaryIndex(16, threshold=np.zeros(3)), ValueError,
         "threshold must be a scalar or have shape (16,)"),
    Case("BinaryIndex", "threshold='mode'", lambda c: fe.BinaryIndex(16, threshold="mode"), ValueError,
         "threshold must be a number"),
    Case("BinaryIndex.add", "wrong dimension", lambda c: fe.BinaryIndex(16).add(np.zeros((2, 15), F32)), ValueError,
         "must have 16 dimensions"),
    Case("BinaryIndex.add", "int64 embeddings", lambda c: fe.BinaryIndex(16).add(np.zeros((2, 16), np.int64)),
         TypeError, "embeddings_or_codes must be float"),
    Case("BinaryIndex.add", "codes into a rescoring index", lambda c: fe.BinaryIndex(16).add(np.zeros((2, 2), U8)),
         ValueError, "add float embeddings, not codes"),
    Case("BinaryIndex.add", "NaN embeddings", lambda c: fe.BinaryIndex(16).add(np.full((2, 16), np.nan, F32)),
         ValueError, "NaN"),
    Case("BinaryIndex.add", "3-D input", lambda c: fe.BinaryIndex(16).add(np.zeros((1, 2, 16), F32)), ValueError,
         "must be 2-D"),
    Case("BinaryIndex.search", "NaN query", lambda c: c.index.search(np.full(16, np.nan, F32), 1), ValueError,
         "queries contain NaN or infinity"),
    Case("BinaryIndex.search", "refine 0", lambda c: c.index.search(np.zeros(16, F32), 1, refine=0), ValueError,
         "refine must be None or a positive integer"),
    Case("BinaryIndex.search", "empty index", lambda c: fe.BinaryIndex(16).search(np.zeros(16, F32), 1), ValueError,
         "index is empty"),
    Case("BinaryIndex.search", "k larger than the index", lambda c: c.index.search(np.zeros(16, F32), 21), ValueError,
         "k=21 is larger than the index"),
    Case("BinaryIndex.search", "k = 0", lambda c: c.index.search(np.zeros(16, F32), 0), ValueError, "k must be a positive integer"),
    Case("BinaryIndex.search", "queries of wrong dimension", lambda c: c.index.search(np.zeros((2, 17), F32), 1),
         ValueError, "queries must have 16 dimensions"),
    Case("BinaryIndex.search", "int32 queries", lambda c: c.index.search(np.zeros((2, 16), np.int32), 1), TypeError,
         "queries must be float"),
    Case("BinaryIndex.search", "rescore=True with code queries",
         lambda c: c.index.search(np.zeros((2, 2), U8), 1, rescore=True), ValueError, "rescore=True needs float queries"),
    Case("BinaryIndex.search", "dims not a multiple of 8", lambda c: c.index.search(np.zeros(16, F32), 1, dims=12),
         ValueError, "dims must be a multiple of 8"),
    Case("BinaryIndex.search", "rescore_multiplier=0",
         lambda c: c.index.search(np.zeros(16, F32), 1, rescore_multiplier=0), ValueError,
         "rescore_multiplier must be a positive integer"),
    Case("BinaryIndex.search", "num_threads=0", lambda c: c.index.search(np.zeros(16, F32), 1, num_threads=0),
         ValueError, "num_threads"),
    Case("BinaryIndex.save", "threshold='median' never fitted",
         lambda c: fe.BinaryIndex(16, threshold="median").save(c.tmp / "unfitted.idx"), ValueError,
         "add vectors before saving"),
    Case("BinaryIndex.save", "into a missing directory", lambda c: c.index.save(c.tmp / "no" / "such" / "dir.idx"),
         FileNotFoundError, "No such file"),
    Case("BinaryIndex.load", "missing file", lambda c: fe.BinaryIndex.load(c.tmp / "missing.idx"), FileNotFoundError,
         "missing.idx"),
    Case("BinaryIndex.load", "empty file", lambda c: fe.BinaryIndex.load(c.file("empty.idx", b"")), ValueError,
         "bad magic"),
    Case("BinaryIndex.load", "a JSON file", lambda c: fe.BinaryIndex.load(c.file("json.idx", b'{"a": 1}' * 4)),
         ValueError, "bad magic"),
    Case("BinaryIndex.load", "huge header length",
         lambda c: fe.BinaryIndex.load(c.file("hlen.idx", b"FECBIDX1" + b"\xff" * 8 + b"{}")), ValueError,
         "header length"),
    # ---------------------------------------------------------------- TextTokenizer
    Case("TextTokenizer", "a str instead of a Tokenizer", lambda c: fe.TextTokenizer("bert-base-uncased"), TypeError,
         "tokenizer must be a tokenizers.Tokenizer"),
    Case("TextTokenizer", "fast without encode_flat", lambda c: fe.TextTokenizer(c.tokenizer, fast=object()), TypeError,
         "fast must have an encode_flat"),
    Case("TextTokenizer.from_file", "a file of garbage",
         lambda c: fe.TextTokenizer.from_file(c.file("tok.json", b"\x00garbage")), ValueError,
         "cannot read tokenizer file"),
    Case("TextTokenizer.from_file", "missing file", lambda c: fe.TextTokenizer.from_file(c.tmp / "nope.json"),
         ValueError, "cannot read tokenizer file"),
    Case("TextTokenizer.encode", "a single str", lambda c: c.text_tokenizer.encode("hello"), TypeError,
         "not a single str"),
    Case("TextTokenizer.encode", "a None item", lambda c: c.text_tokenizer.encode(["a", None]), TypeError,
         "item 1 is NoneType"),
    Case("TextTokenizer.encode", "bytes items", lambda c: c.text_tokenizer.encode([b"abc"]), TypeError,
         "item 0 is bytes"),
    Case("TextTokenizer.encode", "max_length=0", lambda c: c.text_tokenizer.encode(["a"], max_length=0), ValueError,
         "max_length must be None or a positive integer"),
    # ---------------------------------------------------------------- FastWordPiece (fastembed_core.wordpiece)
    Case("FastWordPiece.from_tokenizer", "a str", lambda c: _fwp().from_tokenizer("bert"), TypeError,
         "tok must be a tokenizers.Tokenizer"),
    Case("FastWordPiece.encode_flat", "a single str", lambda c: c.fast.encode_flat("abc"), TypeError,
         "texts must be a list or tuple of str"),
    Case("FastWordPiece.encode_flat", "a None item", lambda c: c.fast.encode_flat(["a", None]), TypeError,
         "texts[1] must be str"),
    Case("FastWordPiece.encode_flat", "a lone surrogate", lambda c: c.fast.encode_flat(["ok", "a\ud800b"]), ValueError,
         "texts[1] cannot be encoded as UTF-8"),
    Case("FastWordPiece.encode_flat", "max_tokens=-1", lambda c: c.fast.encode_flat(["a"], max_tokens=-1), ValueError,
         "max_tokens must be None or an integer"),
    Case("FastWordPiece.encode_flat", "drop_id=2**31", lambda c: c.fast.encode_flat(["a"], drop_id=2**31), ValueError,
         "drop_id must be None or an integer"),
    Case("FastWordPiece.encode_flat", "num_threads=0", lambda c: c.fast.encode_flat(["a"], num_threads=0), ValueError,
         "num_threads"),
    # ---------------------------------------------------------------- StaticModel
    Case("StaticModel", "table rows != vocabulary", lambda c: fe.StaticModel(np.ones((3, 4), F32), c.tokenizer),
         ValueError, "the table has 3 rows but the tokenizer has"),
    Case("StaticModel", "a str tokenizer", lambda c: fe.StaticModel(np.ones((3, 4), F32), "tok"), TypeError,
         "tokenizer must be a tokenizers.Tokenizer"),
    Case("StaticModel", "mapping out of range",
         lambda c: fe.StaticModel(np.ones((3, 4), F32), c.tokenizer, mapping=np.full(c.tokenizer.get_vocab_size(), 3)),
         ValueError, "mapping values must lie in [0, 3)"),
    Case("StaticModel", "string weights (the rule of gather_mean: real numbers)",
         lambda c: fe.StaticModel(np.ones((3, 4), F32), c.tokenizer, mapping=np.zeros(c.tokenizer.get_vocab_size(), int),
                                  weights=np.full(c.tokenizer.get_vocab_size(), "a")), TypeError,
         "weights must have a real floating dtype"),
    Case("StaticModel", "max_length=0", lambda c: fe.StaticModel(c.model.table, c.tokenizer, max_length=0), ValueError,
         "max_length must be None or a positive integer"),
    Case("StaticModel.from_pretrained", "missing directory", lambda c: fe.StaticModel.from_pretrained(c.tmp / "nothing"),
         FileNotFoundError, "does not exist"),
    Case("StaticModel.from_pretrained", "a file, not a directory",
         lambda c: fe.StaticModel.from_pretrained(c.file("plain.txt", b"x")), NotADirectoryError, "is not a directory"),
    Case("StaticModel.from_pretrained", "directory without model.safetensors",
         lambda c: fe.StaticModel.from_pretrained(c.tmp), FileNotFoundError, "missing model.safetensors"),
    Case("StaticModel.from_pretrained", "model.safetensors truncated in its data",
         lambda c: fe.StaticModel.from_pretrained(
             c.model_dir_with("trunc", model__safetensors=(c.model_dir / "model.safetensors").read_bytes()[:-100])),
         ValueError, "does not fit its byte range"),
    Case("StaticModel.from_pretrained", "config.json not JSON",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with("badcfg", config__json=b"{not json")), ValueError,
         "cannot read config.json"),
    Case("StaticModel.from_pretrained", "config.json a JSON list",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with("listcfg", config__json=b"[1, 2]")), ValueError,
         "must hold a JSON object"),
    Case("StaticModel.from_pretrained", "tokenizer.json garbage",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with("badtok", tokenizer__json=b"\xff\xfe")), ValueError,
         "cannot read tokenizer file"),
    Case("StaticModel.from_pretrained", "no embeddings tensor",
         lambda c: fe.StaticModel.from_pretrained(
             c.model_dir_with("noemb", model__safetensors=_safetensors(other=np.ones(2, F32)))),
         ValueError, "no 'embeddings' or 'embedding.weight' tensor"),
    Case("StaticModel.from_pretrained", "1-D embeddings",
         lambda c: fe.StaticModel.from_pretrained(
             c.model_dir_with("emb1d", model__safetensors=_model_tensor_file(embeddings=np.ones(8, F32)))),
         ValueError, "must be 2-D"),
    Case("StaticModel.from_pretrained", "int32 embeddings",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with(
             "embi32", model__safetensors=_model_tensor_file(embeddings=np.ones((_models.tiny_tokenizer().get_vocab_size(), 8), np.int32)))),
         ValueError, "has dtype int32"),
    Case("StaticModel.from_pretrained", "NaN in embeddings",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with(
             "embnan", model__safetensors=_model_tensor_file(embeddings=np.full((_models.tiny_tokenizer().get_vocab_size(), 8), np.nan, F32)))),
         ValueError, "contains NaN or inf"),
    Case("StaticModel.from_pretrained", "embeddings rows != vocabulary",
         lambda c: fe.StaticModel.from_pretrained(
             c.model_dir_with("embrows", model__safetensors=_model_tensor_file(embeddings=np.ones((7, 8), F32)))),
         ValueError, "the table has 7 rows"),
    Case("StaticModel.from_pretrained", "integer weights tensor",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with(
             "wint", model__safetensors=_model_tensor_file(weights=np.ones(_models.tiny_tokenizer().get_vocab_size(), np.int32)))),
         ValueError, "tensor 'weights' must be float"),
    Case("StaticModel.from_pretrained", "float mapping tensor",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir_with(
             "mfloat", model__safetensors=_model_tensor_file(mapping=np.ones(_models.tiny_tokenizer().get_vocab_size(), F32)))),
         ValueError, "tensor 'mapping' must be integer"),
    Case("StaticModel.from_pretrained", "dims=0", lambda c: fe.StaticModel.from_pretrained(c.model_dir, dims=0),
         ValueError, "dims must be an integer in [1, 24]"),
    Case("StaticModel.from_pretrained", "quantize_to='int4'",
         lambda c: fe.StaticModel.from_pretrained(c.model_dir, quantize_to="int4"), ValueError, "quantize_to must be"),
    Case("StaticModel.encode", "bytes", lambda c: c.model.encode(b"text"), TypeError, "sentences must be a str or an iterable"),
    Case("StaticModel.encode", "an int", lambda c: c.model.encode(3), TypeError, "sentences must be a str or an iterable"),
    Case("StaticModel.encode", "a None item", lambda c: c.model.encode(["a", None]), TypeError, "item 1 is NoneType"),
    Case("StaticModel.encode", "precision='int4'", lambda c: c.model.encode(["a"], precision="int4"), ValueError,
         "precision must be one of"),
    Case("StaticModel.encode", "dims=25 (> dim)", lambda c: c.model.encode(["a"], dims=25), ValueError,
         "dims must be an integer in [1, 24]"),
    Case("StaticModel.encode", "batch_size=0", lambda c: c.model.encode(["a"], batch_size=0), ValueError,
         "batch_size must be a positive integer"),
    Case("StaticModel.encode", "max_length=-1", lambda c: c.model.encode(["a"], max_length=-1), ValueError,
         "max_length must be None or a positive integer"),
    Case("StaticModel.encode", "normalize='yes'", lambda c: c.model.encode(["a"], normalize="yes"), TypeError,
         "normalize must be a bool"),
    Case("StaticModel.encode", "num_threads=0", lambda c: c.model.encode(["a"], num_threads=0), ValueError, "num_threads"),
    Case("StaticModel.encode", "ranges with float32 precision", lambda c: c.model.encode(["a"], ranges=np.zeros((2, 24))),
         ValueError, "ranges must be a [2, 24] array"),
    Case("StaticModel.encode", "int8 precision, one sentence, no ranges", lambda c: c.model.encode(["a"], precision="int8"),
         ValueError, "int8 precision needs ranges="),
    Case("StaticModel.encode", "a lone surrogate", lambda c: c.model.encode(["ok", "\ud800"]), ValueError,
         "cannot be encoded as UTF-8"),
    Case("StaticModel.tokenize", "a None item", lambda c: c.model.tokenize(["a", None]), TypeError, "item 1 is NoneType"),
    Case("StaticModel.quantize", "to='int4'", lambda c: c.model.quantize("int4"), ValueError, "to must be"),
    Case("StaticModel.save_pretrained", "path is an existing file",
         lambda c: c.model.save_pretrained(c.file("afile", b"x")), NotADirectoryError, "is not a directory"),
    # ---------------------------------------------------------------- ternary
    Case("ternarize", "1-D w", lambda c: fe.ternarize(np.ones(3)), ValueError, "w must be 2-D"),
    Case("ternarize", "strings", lambda c: fe.ternarize(np.array([["a"]])), TypeError, "w must have a real floating dtype"),
    Case("ternarize", "NaN in w", lambda c: fe.ternarize(np.full((2, 2), np.nan)), ValueError, "w contains non-finite"),
    Case("ternarize", "scale='col'", lambda c: fe.ternarize(np.ones((2, 2)), scale="col"), ValueError,
         "scale must be 'row' or 'tensor'"),
    Case("ternarize", "threshold=-1", lambda c: fe.ternarize(np.ones((2, 2)), threshold=-1), ValueError,
         "threshold must be None or a finite number >= 0"),
    Case("ternarize", "fit='mse'", lambda c: fe.ternarize(np.ones((2, 2)), fit="mse"), ValueError, "fit must be"),
    Case("ternary_matmul", "x with the wrong number of columns",
         lambda c: fe.ternary_matmul(np.ones((2, 5), F32), c.ternary), ValueError, "x has 5 columns but w has k = 6"),
    Case("ternary_matmul", "a dense w", lambda c: fe.ternary_matmul(np.ones((2, 6), F32), np.ones((4, 6))), TypeError,
         "w must be a TernaryMatrix"),
    Case("ternary_matmul", "NaN in x", lambda c: fe.ternary_matmul(np.full((2, 6), np.nan, F32), c.ternary), ValueError,
         "x contains non-finite values"),
    Case("ternary_matmul", "inf in x", lambda c: fe.ternary_matmul(np.full((2, 6), np.inf, F32), c.ternary), ValueError,
         "x contains non-finite values"),
    Case("ternary_matmul", "3-D x", lambda c: fe.ternary_matmul(np.ones((1, 2, 6), F32), c.ternary), ValueError,
         "x must be 1-D or 2-D"),
    Case("ternary_matmul", "num_threads=0", lambda c: fe.ternary_matmul(np.ones((2, 6), F32), c.ternary, num_threads=0),
         ValueError, "num_threads"),
    Case("ternary_gather_mean", "id out of range", lambda c: fe.ternary_gather_mean(c.ternary, [0, 4], [0, 2]),
         ValueError, "ids out of range: found 4"),
    Case("ternary_gather_mean", "negative id", lambda c: fe.ternary_gather_mean(c.ternary, [0, -1], [0, 2]),
         ValueError, "ids must be >= 0"),
    Case("ternary_gather_mean", "float ids", lambda c: fe.ternary_gather_mean(c.ternary, [0.5], [0, 1]), TypeError,
         "ids must hold integers"),
    Case("ternary_gather_mean", "offsets past the end", lambda c: fe.ternary_gather_mean(c.ternary, [0, 1], [0, 3]),
         ValueError, "offsets run past the end of ids"),
    Case("ternary_gather_mean", "decreasing offsets", lambda c: fe.ternary_gather_mean(c.ternary, [0, 1], [0, 2, 1]),
         ValueError, "offsets must be non-decreasing"),
    Case("ternary_gather_mean", "empty offsets", lambda c: fe.ternary_gather_mean(c.ternary, [0, 1], []), ValueError,
         "offsets must have length n + 1"),
    Case("ternary_gather_mean", "weights of wrong length",
         lambda c: fe.ternary_gather_mean(c.ternary, [0, 1], [0, 2], weights=[1.0]), ValueError,
         "weights has length 1, expected 4"),
    Case("ternary_gather_mean", "mapping out of range",
         lambda c: fe.ternary_gather_mean(c.ternary, [0, 1], [0, 2], mapping=[0, 9]), ValueError, "mapping values must lie in [0, 4)"),
    Case("ternary_gather_mean", "normalize=1", lambda c: fe.ternary_gather_mean(c.ternary, [0], [0, 1], normalize=1),
         TypeError, "normalize must be a bool"),
    Case("ternary_gather_mean", "a dense table", lambda c: fe.ternary_gather_mean(np.ones((3, 3)), [0], [0, 1]),
         TypeError, "table must be a TernaryMatrix"),
    Case("TernaryMatrix", "int8 packed", lambda c: fe.TernaryMatrix(np.zeros((4, 32), np.int8), np.ones(4, F32), (4, 6)),
         TypeError, "packed must be uint8"),
    Case("TernaryMatrix", "packed of the wrong shape",
         lambda c: fe.TernaryMatrix(np.zeros((4, 31), U8), np.ones(4, F32), (4, 6)), ValueError,
         "packed must have shape (4, 32)"),
    Case("TernaryMatrix", "invalid 2-bit code 3",
         lambda c: fe.TernaryMatrix(np.full((4, 32), 255, U8), np.ones(4, F32), (4, 6)), ValueError,
         "invalid 2-bit code 3"),
    Case("TernaryMatrix", "scales of wrong length",
         lambda c: fe.TernaryMatrix(np.full((4, 32), 0x55, U8), np.ones(3, F32), (4, 6)), ValueError,
         "scales must be a scalar or have shape (4,)"),
    Case("TernaryMatrix", "shape a list", lambda c: fe.TernaryMatrix(np.full((4, 32), 0x55, U8), np.ones(4, F32), [4, 6]),
         ValueError, "shape must be a tuple (n, k) of ints"),
    Case("TernaryMatrix.from_values", "a value of 2", lambda c: fe.TernaryMatrix.from_values(np.full((2, 2), 2), np.ones(2)),
         ValueError, "values must be in {-1, 0, 1}"),
    Case("TernaryMatrix.save", "into a missing directory", lambda c: c.ternary.save(c.tmp / "no" / "dir" / "t.st"),
         FileNotFoundError, "No such file"),
    Case("TernaryMatrix.load", "missing file", lambda c: fe.TernaryMatrix.load(c.tmp / "missing.st"),
         FileNotFoundError, "No such file"),
    Case("TernaryMatrix.load", "a BinaryIndex file", lambda c: fe.TernaryMatrix.load(c.index.save(c.tmp / "ix.st") or c.tmp / "ix.st"),
         ValueError, "cannot read ternary matrix file"),
    Case("TernaryMatrix.load", "a model's safetensors",
         lambda c: fe.TernaryMatrix.load(c.model_dir / "model.safetensors"), ValueError,
         "is not a fastembed_core ternary matrix file"),
    Case("TernaryMatrix.__matmul__", "w @ x", lambda c: c.ternary @ np.ones(6), TypeError, "use ternary_matmul"),
    Case("TernaryLinear", "bias of wrong shape", lambda c: fe.TernaryLinear(c.ternary, np.ones(3)), ValueError,
         "bias must have shape (4,)"),
    Case("TernaryLinear", "a dense weight", lambda c: fe.TernaryLinear(np.ones((4, 6))), TypeError,
         "weight must be a TernaryMatrix"),
    Case("TernaryLinear.__call__", "x with the wrong number of columns",
         lambda c: fe.TernaryLinear(c.ternary)(np.ones((2, 5), F32)), ValueError, "x has 5 columns but w has k = 6"),
    Case("TernaryLinear.__call__", "a 0-D x", lambda c: fe.TernaryLinear(c.ternary)(np.float32(1)), ValueError,
         "x must have at least 1 dimension"),
    Case("TernaryLinear.from_dense", "1-D w", lambda c: fe.TernaryLinear.from_dense(np.ones(3)), ValueError,
         "w must be 2-D"),
    # ---------------------------------------------------------------- distill / evaluate
    Case("distill", "a missing teacher directory", lambda c: fe.distill(c.tmp / "no-teacher"), ValueError,
         "is not a directory"),
    Case("distill", "pca_dims=0", lambda c: fe.distill(c.tmp / "no-teacher", pca_dims=0), ValueError,
         "pca_dims must be a positive int"),
    Case("evaluate.evaluate", "precision='int4'", lambda c: fe.evaluate.evaluate(c.model, (["a"], ["b"]), precision="int4"), ValueError,
         "precision must be one of"),
    Case("evaluate.evaluate", "rescore with float32", lambda c: fe.evaluate.evaluate(c.model, (["a"], ["b"]), rescore=2), ValueError,
         "rescore applies to precision='binary'"),
    Case("evaluate.evaluate", "a missing JSONL file", lambda c: fe.evaluate.evaluate(c.model, c.tmp / "none.jsonl"), OSError, "none.jsonl"),
    # ---------------------------------------------------------------- capabilities
    Case("capabilities", "an argument", lambda c: fe.capabilities("all"), TypeError, "positional argument"),
]

# Names that are data, not callables: nothing to feed bad input to.
NOT_CALLABLE = {"BACKEND", "__version__"}


@pytest.fixture(scope="module")
def ctx():
    c = Ctx()
    yield c
    import shutil

    shutil.rmtree(c.tmp, ignore_errors=True)


def case_id(case: Case) -> str:
    return f"{case.api}:{re.sub(r'[^A-Za-z0-9]+', '_', case.tried).strip('_')}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_raises_clear_error(backend, ctx, case):
    with pytest.raises(case.exc) as info:
        case.call(ctx)
    assert case.fragment in str(info.value), f"message {str(info.value)!r} lacks {case.fragment!r}"


def test_case_ids_are_unique():
    ids = [case_id(c) for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_public_name_is_covered():
    covered = {c.api.split(".")[0] for c in CASES}
    missing = sorted(set(fe.__all__) - NOT_CALLABLE - covered)
    assert not missing, f"public names with no bad-input case: {missing}"
    methods = {
        "BinaryIndex": ["add", "search", "save", "load"],
        "StaticModel": ["from_pretrained", "encode", "tokenize", "quantize", "save_pretrained"],
        "TextTokenizer": ["encode", "from_file"],
        "FastWordPiece": ["from_tokenizer", "encode_flat"],
        "TernaryMatrix": ["from_values", "save", "load"],
        "TernaryLinear": ["from_dense", "__call__"],
    }
    apis = {c.api for c in CASES}
    for cls, names in methods.items():
        if cls in fe.__all__ or cls == "FastWordPiece":
            for name in names:
                assert f"{cls}.{name}" in apis, f"{cls}.{name} has no bad-input case"


def test_docs_table_is_current():
    """docs/bad_input.md is what scripts/bad_input_table.py renders from CASES now."""
    root = Path(__file__).resolve().parents[1]
    doc, script = root / "docs" / "bad_input.md", root / "scripts" / "bad_input_table.py"
    if not script.exists() or not doc.exists():
        pytest.skip("scripts/ or docs/ not present (installed-package run)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_input_table", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert doc.read_text() == mod.render(), "docs/bad_input.md is stale: run python scripts/bad_input_table.py"


CLI_CASES = [
    ([], "the following arguments are required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["search", "{tmp}/missing.idx", "q"], "no such index file"),
    (["encode", "x"], "the following arguments are required: -o/--output"),
]


@pytest.mark.parametrize("argv,fragment", CLI_CASES, ids=[" ".join(a) or "no-args" for a, _ in CLI_CASES])
def test_cli_bad_arguments_exit_cleanly(tmp_path, argv, fragment):
    """The fastembed-core command: a usage error (exit code != 0, message on stderr), never a traceback."""
    import subprocess

    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    r = subprocess.run([sys.executable, "-m", "fastembed_core.cli", *argv], capture_output=True, text=True)
    assert r.returncode != 0
    assert fragment in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
