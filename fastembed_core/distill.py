"""Make a static embedding model from a sentence transformer (the Model2Vec recipe), offline.

Needs the ``[distill]`` extra (torch, transformers, sentence-transformers); they are imported lazily so
``import fastembed_core`` never needs them.

The recipe, step by step (:func:`distill`):

1. Read the teacher's fast tokenizer (``tokenizer.json``). Drop vocabulary entries matching
   ``token_remove_pattern`` (BERT's ``[unusedN]``) and renumber the rest in their original order; add
   the words of ``vocabulary`` that the vocabulary lacks (one pre-token -> a WordPiece entry, several ->
   an added token).
2. Run every entry through the teacher as its own sequence, ``[CLS] token [SEP]`` (the teacher's
   own special tokens), and mean-pool the last hidden states over the whole sequence: float32 [V, H].
3. PCA: centre, rotate onto the eigenvectors of the covariance (float64 ``eigh``), keep ``pca_dims``.
4. Zipf/SIF weighting: entry at rank ``r`` (its id) gets ``c / (c + p(r))`` with
   ``p(r) = (1 / (r + 2)) / sum_j 1 / (j + 2)``; the weight is multiplied into the row.
5. Optionally (``fit_corpus``): fit the table so that the mean of its rows over a sentence's tokens
   matches the teacher's sentence embedding (projected onto the same PCA basis), by ridge-regularised
   gradient descent starting from the step-4 table. See :func:`fit_table`.
6. Return a ``StaticModel``; with ``output_dir`` it is also written by ``StaticModel.save_pretrained``
   (the one model writer: ``model.safetensors`` with ``embeddings`` [V, d] and optional ``weights``
   [V], ``tokenizer.json`` without post-processor, padding or truncation, ``config.json``,
   ``modules.json``).

float32, float16 and int8 outputs load in ``model2vec.StaticModel.from_pretrained`` too.
``fastembed_core.distill`` is this module's :func:`distill` function; the helpers are imported
from the module (``from fastembed_core.distill import pca_fit``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ._extras import require

__all__ = ["distill", "distill_arrays", "DistillError", "load_teacher", "pca_fit", "sif_weights"]


class DistillError(ValueError):
    """The teacher directory or an argument cannot be used for distillation."""


def _require_extra(*more: str):
    require("distill", "fastembed_core.distill", "torch", "transformers", *more)


# --------------------------------------------------------------------------------------------------
# teacher loading


def _transformer_dir(teacher: Path) -> Path:
    """The folder holding the teacher's transformer (config.json + tokenizer.json).

    A sentence-transformers directory names it in ``modules.json`` (``path`` of the Transformer
    module, "" for the root); a plain transformers directory is its own transformer folder.
    """
    if not teacher.is_dir():
        raise DistillError(f"teacher: {str(teacher)!r} is not a directory")
    sub = teacher
    modules = teacher / "modules.json"
    if modules.exists():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
            paths = [e.get("path", "") for e in entries if str(e.get("type", "")).endswith("Transformer")]
        except (ValueError, AttributeError) as exc:
            raise DistillError(f"teacher: cannot read {modules}: {exc}") from exc
        if not paths:
            raise DistillError(f"teacher: {modules} names no sentence_transformers Transformer module")
        sub = teacher / paths[0]
    missing = [name for name in ("config.json", "tokenizer.json") if not (sub / name).exists()]
    if missing:
        raise DistillError(
            f"teacher: {str(teacher)!r} is not a sentence-transformer / transformers directory "
            f"(missing {', '.join(missing)} in {sub}); a fast tokenizer (tokenizer.json) is required"
        )
    return sub


def load_teacher(teacher: str | os.PathLike, *, device: str = "cpu"):
    """Load ``(model, tokenizer_json_dict, transformer_dir)`` from a local directory, offline.

    ``model`` is a ``transformers`` model in eval mode; ``tokenizer_json_dict`` is the parsed
    ``tokenizer.json``. Raises :class:`DistillError` when the directory is not usable.
    """
    sub = _transformer_dir(Path(teacher))  # a bad directory is reported before a missing extra
    _require_extra()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel

    try:
        tok_json = json.loads((sub / "tokenizer.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DistillError(f"teacher: {sub / 'tokenizer.json'} is not valid JSON: {exc}") from exc
    try:
        model = AutoModel.from_pretrained(str(sub), local_files_only=True)
    except Exception as exc:  # transformers raises many types (OSError, ValueError, KeyError)
        raise DistillError(f"teacher: cannot load a transformers model from {sub}: {exc}") from exc
    return model.to(device).eval(), tok_json, sub


# --------------------------------------------------------------------------------------------------
# vocabulary


def _special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the teacher's post-processor puts before and after a single sequence."""
    probe = "hello"
    bare = tokenizer.encode(probe, add_special_tokens=False).ids
    full = tokenizer.encode(probe, add_special_tokens=True).ids
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    return [], []


def _build_vocabulary(
    tok_json: dict, vocabulary: Sequence[str] | None, token_remove_pattern: str | None
) -> tuple[dict, list[list[int]]]:
    """Return the student's tokenizer.json dict and, per student id, the teacher ids to embed."""
    from tokenizers import Tokenizer

    teacher_tok = Tokenizer.from_str(json.dumps(tok_json))
    teacher_tok.no_padding()
    teacher_tok.no_truncation()
    prefix, suffix = _special_affixes(teacher_tok)
    student = json.loads(json.dumps(tok_json))
    student["post_processor"] = None
    student["padding"] = None
    student["truncation"] = None
    model = student["model"]
    inputs: list[list[int]] = []
    if model.get("type") == "WordPiece":
        old_vocab: dict[str, int] = model["vocab"]
        regex = re.compile(token_remove_pattern) if token_remove_pattern else None
        # Special tokens other than padding and unknown ([CLS], [SEP], [MASK]) never come out of
        # encode(add_special_tokens=False) except by matching their literal text: drop them.
        keep_special = {model.get("unk_token"), (tok_json.get("padding") or {}).get("pad_token", "[PAD]")}
        dropped = {t["content"] for t in student.get("added_tokens", [])
                   if t.get("special") and t["content"] not in keep_special}
        student["added_tokens"] = [t for t in student.get("added_tokens", []) if t["content"] not in dropped]
        kept = [
            (tok, old) for tok, old in sorted(old_vocab.items(), key=lambda kv: kv[1])
            if tok not in dropped and (tok in keep_special or regex is None or not regex.match(tok))
        ]
        if not kept:
            raise DistillError("token_remove_pattern removes every token of the vocabulary")
        new_vocab = {tok: i for i, (tok, _) in enumerate(kept)}
        inputs = [[*prefix, old, *suffix] for _, old in kept]
        for added in student.get("added_tokens", []):
            if added["content"] in new_vocab:
                added["id"] = new_vocab[added["content"]]
        model["vocab"] = new_vocab
    else:
        # BPE / Unigram: merges and scores refer to the vocabulary, so nothing is removed or added.
        if vocabulary:
            raise DistillError("vocabulary= additions are supported for WordPiece tokenizers only")
        size = teacher_tok.get_vocab_size(with_added_tokens=True)
        return student, [[*prefix, i, *suffix] for i in range(size)]

    if vocabulary:
        norm = teacher_tok.normalizer
        pre = teacher_tok.pre_tokenizer
        added_tokens = student.setdefault("added_tokens", [])
        seen_added = {t["content"] for t in added_tokens}
        for word in vocabulary:
            text = norm.normalize_str(word) if norm is not None else word
            pieces = [p for p, _ in pre.pre_tokenize_str(text)] if pre is not None else [text]
            if not pieces:
                continue
            teacher_ids = teacher_tok.encode(word, add_special_tokens=True).ids
            if len(pieces) == 1:
                if pieces[0] in new_vocab:
                    continue
                new_vocab[pieces[0]] = len(inputs)
            else:
                content = text.strip()
                if content in seen_added or content in new_vocab:
                    continue
                seen_added.add(content)
                new_vocab[content] = len(inputs)
                added_tokens.append({
                    "id": len(inputs), "content": content, "single_word": False, "lstrip": False,
                    "rstrip": False, "normalized": True, "special": False,
                })
            inputs.append(teacher_ids)
    return student, inputs


# --------------------------------------------------------------------------------------------------
# teacher forward pass


def embed_token_sequences(
    model, sequences: Sequence[Sequence[int]], *, pad_id: int = 0, batch_size: int = 256,
    pooling: str = "mean", show_progress_bar: bool = False,
) -> np.ndarray:
    """Mean (or first-token) pooled last hidden states of each id sequence: float32 [n, hidden]."""
    import torch
    from tqdm.auto import tqdm

    if pooling not in ("mean", "first"):
        raise DistillError(f"pooling must be 'mean' or 'first', got {pooling!r}")
    device = next(model.parameters()).device
    order = np.argsort([len(s) for s in sequences], kind="stable")
    out = np.zeros((len(sequences), model.config.hidden_size), dtype=np.float32)
    wants_types = "token_type_ids" in model.forward.__code__.co_varnames
    with torch.inference_mode(), tqdm(total=len(sequences), desc="Embedding vocabulary", unit=" tokens",
                                      disable=not show_progress_bar) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(sequences[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : len(sequences[i])] = torch.tensor(sequences[i], dtype=torch.long)
                mask[row, : len(sequences[i])] = 1
            kwargs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
            if wants_types:
                kwargs["token_type_ids"] = torch.zeros_like(kwargs["input_ids"])
            hidden = model(**kwargs).last_hidden_state.float()
            if pooling == "first":
                pooled = hidden[:, 0]
            else:
                m = kwargs["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
            out[idx] = pooled.cpu().numpy()
            bar.update(len(idx))
    return np.nan_to_num(out)


# --------------------------------------------------------------------------------------------------
# PCA and SIF


def pca_fit(x: np.ndarray, dims: int | None) -> tuple[np.ndarray, np.ndarray]:
    """PCA basis of ``x`` [n, h]: ``(mean float64 [h], components float64 [h, k])``.

    ``k = min(dims, h)`` (``dims=None`` keeps all ``h``); components are the covariance eigenvectors
    by decreasing eigenvalue, each signed so that its largest-magnitude projection is positive.
    Project with ``(x - mean) @ components``.
    """
    x64 = np.asarray(x, dtype=np.float64)
    mean = x64.mean(axis=0)
    centred = x64 - mean
    cov = centred.T @ centred / max(len(x64) - 1, 1)
    _, vecs = np.linalg.eigh(cov)
    k = x64.shape[1] if dims is None else min(int(dims), x64.shape[1])
    comps = vecs[:, ::-1][:, :k].copy()
    proj = centred @ comps
    if len(proj):
        signs = np.sign(proj[np.abs(proj).argmax(axis=0), np.arange(k)])
        comps *= np.where(signs == 0, 1.0, signs)
    return mean, comps


def sif_weights(n: int, coefficient: float | None) -> np.ndarray:
    """Zipf-estimated SIF weights for ranks 0..n-1: ``c / (c + p(r))``, float64 [n] (ones if c is None)."""
    if coefficient is None:
        return np.ones(n)
    inv = 1.0 / np.arange(2, n + 2, dtype=np.float64)
    return coefficient / (coefficient + inv / inv.sum())


# --------------------------------------------------------------------------------------------------
# fitting the table on teacher sentence embeddings


def fit_table(
    table: np.ndarray, bags: Sequence[np.ndarray], targets: np.ndarray, *, epochs: int = 5,
    lr: float = 0.01, l2: float = 0.0, batch_size: int = 256, seed: int = 0, loss: str = "cosine",
    show_progress_bar: bool = False,
) -> np.ndarray:
    """Fine-tune a static table so the mean of its rows over each bag approaches the target vector.

    ``table`` float32 [V, d] (the starting point); ``bags`` one int array of student ids per sentence;
    ``targets`` float32 [n, d]. Loss: ``1 - cos(mean(table[bag]), target)`` (or ``"mse"``) plus
    ``l2 * ||table - table0||^2`` per touched row, which keeps rows that the corpus barely covers close
    to the distilled ones. Adam on a sparse bag-of-tokens model (``torch.nn.EmbeddingBag``).
    Returns the fitted float32 [V, d] table.
    """
    _require_extra()
    import torch
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(seed)
    start = torch.from_numpy(np.ascontiguousarray(table, dtype=np.float32))
    # sparse gradients: each step touches only the rows of the batch's tokens
    emb = torch.nn.EmbeddingBag.from_pretrained(start.clone(), freeze=False, mode="mean", sparse=True)
    opt = torch.optim.SparseAdam(list(emb.parameters()), lr=lr)
    keep = [i for i, b in enumerate(bags) if len(b)]
    flat_bags = [torch.as_tensor(np.asarray(bags[i], dtype=np.int64)) for i in keep]
    tgt = torch.from_numpy(np.ascontiguousarray(targets[keep], dtype=np.float32))
    steps = epochs * ((len(keep) + batch_size - 1) // batch_size)
    with tqdm(total=steps, desc="Fitting table", disable=not show_progress_bar) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(keep), generator=gen)
            for s in range(0, len(keep), batch_size):
                sel = perm[s : s + batch_size]
                chunk = [flat_bags[i] for i in sel.tolist()]
                ids = torch.cat(chunk)
                offsets = torch.tensor([0] + [len(c) for c in chunk[:-1]]).cumsum(0)
                pred = emb(ids, offsets)
                if loss == "mse":
                    total = ((pred - tgt[sel]) ** 2).sum(1).mean()
                else:
                    total = (1 - torch.nn.functional.cosine_similarity(pred, tgt[sel], dim=1)).mean()
                if l2:
                    touched = torch.unique(ids)
                    rows = emb(touched, torch.arange(len(touched)))
                    total = total + l2 * ((rows - start[touched]) ** 2).sum()
                opt.zero_grad()
                total.backward()
                opt.step()
                bar.update(1)
    return emb.weight.detach().numpy().astype(np.float32)


def teacher_sentence_embeddings(teacher: str | os.PathLike, sentences: Sequence[str], *,
                                batch_size: int = 64, show_progress_bar: bool = False) -> np.ndarray:
    """The teacher's own sentence embeddings (sentence-transformers pipeline): float32 [n, H]."""
    _require_extra("sentence_transformers")
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(str(teacher), device="cpu", local_files_only=True)
    return st.encode(list(sentences), batch_size=batch_size, convert_to_numpy=True,
                     show_progress_bar=show_progress_bar).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# the public entry point


def _tokenize_bags(tokenizer_json: dict, sentences: Iterable[str], unk_id: int | None) -> list[np.ndarray]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json.dumps(tokenizer_json))
    out = []
    for enc in tok.encode_batch_fast(list(sentences), add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        out.append(ids[ids != unk_id] if unk_id is not None else ids)
    return out


def distill_arrays(
    teacher: str | os.PathLike, *, pca_dims: int | None = 256, sif_coefficient: float | None = 1e-4,
    vocabulary: Sequence[str] | None = None, token_remove_pattern: str | None = r"\[unused\d+\]",
    pooling: str = "mean", batch_size: int = 256, device: str = "cpu",
    fit_corpus: Sequence[str] | None = None, fit_options: dict[str, Any] | None = None,
    show_progress_bar: bool = False,
) -> tuple[np.ndarray, dict, dict]:
    """The recipe of :func:`distill` without saving: ``(embeddings float32 [V, d], tokenizer_json, config)``."""
    if sif_coefficient is not None and not 0 < sif_coefficient < 1:
        raise DistillError(f"sif_coefficient must be in (0, 1) or None, got {sif_coefficient!r}")
    if pca_dims is not None and (not isinstance(pca_dims, int) or pca_dims < 1):
        raise DistillError(f"pca_dims must be a positive int or None, got {pca_dims!r}")
    model, tok_json, sub = load_teacher(teacher, device=device)
    student_tok, inputs = _build_vocabulary(tok_json, vocabulary, token_remove_pattern)
    pad_id = (tok_json.get("padding") or {}).get("pad_id", 0)
    raw = embed_token_sequences(model, inputs, pad_id=pad_id, batch_size=batch_size, pooling=pooling,
                                show_progress_bar=show_progress_bar)
    mean, comps = pca_fit(raw, pca_dims)
    if pca_dims is not None and pca_dims >= len(raw):
        mean, comps = np.zeros(raw.shape[1]), np.eye(raw.shape[1])  # too few rows for a PCA
    weights = sif_weights(len(raw), sif_coefficient)
    table = (((raw - mean) @ comps) * weights[:, None]).astype(np.float32)

    if fit_corpus is not None:
        sentences = list(fit_corpus)
        targets = teacher_sentence_embeddings(teacher, sentences, show_progress_bar=show_progress_bar)
        targets = ((targets - mean) @ comps).astype(np.float32)  # the teacher's space, PCA basis
        unk = student_tok["model"].get("unk_token")
        unk_id = student_tok["model"]["vocab"].get(unk) if unk else None
        bags = _tokenize_bags(student_tok, sentences, unk_id)
        table = fit_table(table, bags, targets, show_progress_bar=show_progress_bar, **(fit_options or {}))

    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": Path(teacher).name,
        "apply_pca": pca_dims,
        "sif_coefficient": sif_coefficient,
        "hidden_dim": int(table.shape[1]),
        "seq_length": 1000000,
        "normalize": True,
        "pooling": pooling,
        "distilled_by": "fastembed_core",
        "fitted_on_corpus": fit_corpus is not None,
    }
    return table, student_tok, config


def distill(
    teacher: str | os.PathLike, *, pca_dims: int | None = 256, sif_coefficient: float | None = 1e-4,
    vocabulary: Sequence[str] | None = None, token_remove_pattern: str | None = r"\[unused\d+\]",
    pooling: str = "mean", dtype: str = "float32", output_dir: str | os.PathLike | None = None,
    force: bool = False, batch_size: int = 256, device: str = "cpu",
    fit_corpus: Sequence[str] | None = None, fit_options: dict[str, Any] | None = None,
    show_progress_bar: bool = False,
):
    """Distill a static model from a local sentence-transformer directory ``teacher`` (offline).

    Runs the Model2Vec recipe (see the module docstring) and returns a ``fastembed_core.StaticModel``.
    ``dtype`` ("float32" | "float16" | "int8") is the stored table type (int8: symmetric per-row
    scale kept in ``weights``, model2vec-compatible). With ``output_dir`` the model directory is also
    written there (atomically; an existing directory needs ``force=True``).
    ``fit_corpus``: sentences on which to fit the table to the teacher's sentence embeddings
    (``fit_options`` go to :func:`fit_table`).
    """
    if dtype not in ("float32", "float16", "int8"):
        raise DistillError(f"dtype must be 'float32', 'float16' or 'int8', got {dtype!r}")
    if output_dir is not None and Path(output_dir).exists() and not force:
        raise FileExistsError(f"{output_dir} exists (pass force=True to replace it)")
    table, tok, config = distill_arrays(
        teacher, pca_dims=pca_dims, sif_coefficient=sif_coefficient, vocabulary=vocabulary,
        token_remove_pattern=token_remove_pattern, pooling=pooling, batch_size=batch_size, device=device,
        fit_corpus=fit_corpus, fit_options=fit_options, show_progress_bar=show_progress_bar,
    )
    from tokenizers import Tokenizer

    from .model import StaticModel

    embeddings, weights = encode_table(table, dtype)
    model = StaticModel(embeddings, Tokenizer.from_str(json.dumps(tok, ensure_ascii=False)), weights=weights,
                        normalize=bool(config["normalize"]), config=config)
    if output_dir is not None:
        model.save_pretrained(output_dir)
    return model


def encode_table(table: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Store a float table as ``dtype``: ``(embeddings, weights or None)``.

    int8 is ``fastembed_core.quantization.symmetric_int8``; its per-row scales go to model2vec's
    ``weights`` (a per-token multiplier), so any model2vec-format reader decodes it exactly.
    """
    from .quantization import symmetric_int8

    if dtype == "float32":
        return np.ascontiguousarray(table, dtype=np.float32), None
    if dtype == "float16":
        return table.astype(np.float16), None
    if dtype == "int8":
        return symmetric_int8(table)
    raise DistillError(f"dtype must be 'float32', 'float16' or 'int8', got {dtype!r}")
