"""Write the small seed corpora of the fuzz harnesses into fuzz/corpus/<target>/ (deterministic).

    python fuzz/make_seeds.py
"""

from __future__ import annotations

import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

import _models  # noqa: E402

import fastembed_core as fe  # noqa: E402

CORPUS = HERE / "corpus"


def frame(*blobs: bytes) -> bytes:
    return b"FZ1" + b"".join(struct.pack("<I", len(b)) + b for b in blobs)


def model_dir_seeds(out: Path, tmp: Path) -> None:
    tok = _models.tiny_tokenizer(vocab_size=120)
    v = tok.get_vocab_size()
    rng = np.random.default_rng(0)
    variants = {
        "f32": dict(embeddings=rng.standard_normal((v, 4)).astype(np.float32)),
        "f16-weights": dict(embeddings=rng.standard_normal((v, 3)).astype(np.float16),
                            weights=rng.uniform(0.5, 2, v).astype(np.float32)),
        "i8-vq": dict(embeddings=rng.integers(-127, 128, (7, 5)).astype(np.int8),
                      weights=rng.uniform(0.5, 2, v).astype(np.float32),
                      mapping=rng.integers(0, 7, v).astype(np.int64)),
    }
    for name, tensors in variants.items():
        d = _models.write_model(tmp / name, tok, tensors.pop("embeddings"), **tensors,
                                config={"normalize": name != "f32", "max_length": 8})
        blobs = [(d / f).read_bytes() for f in ("model.safetensors", "tokenizer.json", "config.json")]
        (out / f"{name}.bin").write_bytes(frame(*blobs))


def index_seeds(out: Path) -> None:
    rng = np.random.default_rng(1)
    for keep in ("float32", "int8", None):
        ix = fe.BinaryIndex(12, keep=keep)
        ix.add(rng.standard_normal((4, 12)).astype(np.float32))
        ix.save(out / f"keep-{keep}.idx")
    fe.BinaryIndex(9, keep=None).save(out / "empty.idx")


def tokenizer_seeds(out: Path) -> None:
    texts = [
        b"\x00\x05\x01" + "The quick brown fox.\xffunaffable UNKNOWNWORD".encode(),
        b"\x01\x00\x00" + "Café naïve résumé — 日本語 🙂 Ελληνικά\xffطيران".encode().replace(b"\xff", b""),
        b"\x02\x03\x07" + "[CLS] hello [SEP]\t\n  x\u200by\u0301\u00ad".encode(),
        b"\x03\x00\x02" + "A\xffB\xff\xffdebian-package_name v1.2.3 (GNU/Linux)".encode(),
    ]
    for i, t in enumerate(texts):
        (out / f"seed{i}.bin").write_bytes(t)


def ternary_seeds(out: Path) -> bool:
    TernaryMatrix = getattr(fe, "TernaryMatrix", None)
    if TernaryMatrix is None:
        return False
    rng = np.random.default_rng(2)
    for n, k, scale in ((3, 5, "row"), (2, 130, "tensor"), (0, 4, "row")):
        w = rng.standard_normal((n, k)).astype(np.float32)
        fe.ternarize(w, scale=scale).save(out / f"t{n}x{k}-{scale}.safetensors")
    return True


def main() -> None:
    makers = {
        "model_dir": lambda out, tmp: model_dir_seeds(out, tmp),
        "index": lambda out, tmp: index_seeds(out),
        "tokenizer": lambda out, tmp: tokenizer_seeds(out),
        "ternary": lambda out, tmp: ternary_seeds(out),
    }
    for target, make in makers.items():
        out = CORPUS / target
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as tmp:
            if make(out, Path(tmp)) is False:
                out.rmdir()
                print(f"{target}: skipped (not in this build)")
                continue
        files = sorted(out.iterdir())
        print(f"{target}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
