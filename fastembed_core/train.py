"""Train static embedding models further than :mod:`fastembed_core.distill`: fit on a corpus, fine-tune on pairs.

Needs the ``[distill]`` extra (torch, transformers, sentence-transformers), imported lazily.

- :func:`fit` (Tokenlearn-style): embed real sentences with the teacher (batched, cached on disk so an
  interrupted run resumes), then fit the static table and the per-token weights so that the weighted
  mean of a sentence's rows matches the teacher's embedding of it, with a Matryoshka loss (summed over
  nested prefixes of the dimensions, e.g. 32/64/128/256), starting from the Model2Vec distillation.
  Optionally ternarize each row at the end (and refit the per-token weights to the ternary rows).
- :func:`finetune`: contrastive training on (query, positive[, negative]) pairs through
  sentence-transformers' own ``StaticEmbedding``, ``MultipleNegativesRankingLoss`` (in-batch
  negatives) and ``MatryoshkaLoss``.
- :func:`equalize_dims`: per-dimension partial whitening of a finished table (each dim scaled by a power
  of its spread over the model's embeddings of real sentences), applied before ternarizing.
- :func:`matryoshka_rotation`: an orthogonal rotation of a finished table, learned on pairs with the
  contrastive loss of the truncated prefixes only; full-width cosines are unchanged (up to float rounding).

Both return a ``fastembed_core.StaticModel`` (``save_pretrained`` writes model2vec format) and are
deterministic for a given ``seed`` and thread count.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._extras import require
from ._io import atomic_write

__all__ = ["TrainError", "equalize_dims", "finetune", "fit", "fit_arrays", "matryoshka_rotation", "teacher_embeddings"]

class TrainError(ValueError):
    """An argument of :func:`fit` / :func:`finetune` cannot be used."""


def _torch():
    return require("distill", "fastembed_core.train", "torch", "sentence_transformers")[0]


def _check_sentence_transformer(teacher: str | os.PathLike) -> Path:
    path = Path(teacher)
    if not path.is_dir():
        raise TrainError(f"teacher: {str(path)!r} is not a directory")
    if not (path / "modules.json").is_file():
        raise TrainError(f"teacher: {str(path)!r} is not a sentence-transformers directory (no modules.json)")
    return path


def _check_dims(dims: Sequence[int], width: int, weights: Sequence[float] | None) -> tuple[list[int], list[float]]:
    d = list(dims)
    if not d or any(not isinstance(x, (int, np.integer)) or isinstance(x, bool) or x < 1 for x in d):
        raise TrainError(f"dims must be positive ints, got {dims!r}")
    if d != sorted(set(d)) or d[-1] != width:
        raise TrainError(f"dims must increase and end at the table width {width} (nested prefixes of it), got {dims!r}")
    w = [1.0] * len(d) if weights is None else [float(x) for x in weights]
    if len(w) != len(d) or any(not math.isfinite(x) or x < 0 for x in w) or sum(w) == 0:
        raise TrainError(f"matryoshka_weights must be {len(d)} non-negative floats (one per dim), got {weights!r}")
    return [int(x) for x in d], w


def _check_sentences(sentences: Iterable[str], what: str = "sentences") -> list[str]:
    if isinstance(sentences, str):
        raise TrainError(f"{what} must be an iterable of strings, not one string")
    out = list(sentences)
    if not out:
        raise TrainError(f"{what} is empty")
    bad = next((i for i, s in enumerate(out) if not isinstance(s, str)), None)
    if bad is not None:
        raise TrainError(f"{what}[{bad}] is a {type(out[bad]).__name__}, not a str")
    return out


# --------------------------------------------------------------------------------------------------
# teacher targets, cached


def teacher_embeddings(
    teacher: str | os.PathLike, sentences: Sequence[str], *, cache_dir: str | os.PathLike | None = None,
    batch_size: int = 64, chunk_size: int = 2048, max_seq_length: int | None = 128,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """The teacher's sentence embeddings (its own sentence-transformers pipeline): float32 [n, H].

    With ``cache_dir`` the embeddings are stored there in chunks of ``chunk_size`` sentences
    (``<sha256>.npy``, each written atomically), each keyed by the teacher, ``max_seq_length`` and the
    chunk's sentences; a later call (after an interruption, or on a corpus that starts with the same
    chunks) only embeds the missing chunks. ``max_seq_length`` caps the teacher's token window (None keeps the teacher's).
    """
    path = _check_sentence_transformer(teacher)
    sentences = _check_sentences(sentences)
    _torch()
    from sentence_transformers import SentenceTransformer
    from tqdm.auto import tqdm

    n_chunks = (len(sentences) + chunk_size - 1) // chunk_size
    prefix = f"{path.resolve()}\0{max_seq_length}\0".encode()
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    st = None
    parts = []
    with tqdm(total=len(sentences), desc="Teacher embeddings", unit=" sent", disable=not show_progress_bar) as bar:
        for c in range(n_chunks):
            part = sentences[c * chunk_size : (c + 1) * chunk_size]
            f = None
            if cache_dir is not None:
                h = hashlib.sha256(prefix)
                for s in part:
                    h.update(s.encode("utf-8", "surrogatepass") + b"\0")
                f = Path(cache_dir) / f"{h.hexdigest()[:24]}.npy"
            if f is not None and f.exists():
                arr = np.load(f)
                if arr.shape[0] == len(part):
                    parts.append(arr)
                    bar.update(len(part))
                    continue
            if st is None:
                st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
                if max_seq_length is not None:
                    st.max_seq_length = min(int(max_seq_length), st.max_seq_length or max_seq_length)
            arr = st.encode(part, batch_size=batch_size, convert_to_numpy=True,
                            show_progress_bar=False).astype(np.float32)
            if f is not None:
                with atomic_write(f) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, arr)
            parts.append(arr)
            bar.update(len(part))
    return np.concatenate(parts)


# --------------------------------------------------------------------------------------------------
# fit


def _bags(tokenizer_json: dict, sentences: Sequence[str]) -> list[np.ndarray]:
    """Student token ids of each sentence (no special tokens, UNK dropped, as model2vec encodes)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json.dumps(tokenizer_json))
    unk = tokenizer_json["model"].get("unk_token")
    unk_id = tok.token_to_id(unk) if unk else None
    out = []
    for enc in tok.encode_batch_fast(list(sentences), add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        out.append(ids[ids != unk_id] if unk_id is not None else ids)
    return out


class _BagModel:
    """Weighted mean of table rows over a bag: ``sum_i w[t_i] E[t_i] / len(bag)``, sparse gradients."""

    def __init__(self, table: np.ndarray, weights: np.ndarray):
        torch = _torch()
        self.emb = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(table.copy()), freeze=False,
                                                         mode="sum", sparse=True)
        self.w = torch.nn.Embedding.from_pretrained(torch.from_numpy(weights.astype(np.float32)[:, None].copy()),
                                                    freeze=False, sparse=True)

    def __call__(self, ids, offsets, lengths):
        return self.emb(ids, offsets, per_sample_weights=self.w(ids)[:, 0]) / lengths[:, None]


class _RunningLoss:
    """One optimiser step per batch, and the epoch's mean loss (per example) on the progress bar."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def step(self, opt, loss, n: int, bar) -> None:
        opt.zero_grad()
        loss.backward()
        opt.step()
        self.total += float(loss.detach()) * n
        self.count += n
        bar.update(1)
        bar.set_postfix(loss=f"{self.value:.4f}", refresh=False)

    @property
    def value(self) -> float:
        return self.total / self.count


def _matryoshka_loss(pred, target, dims: list[int], weights: list[float]):
    """``sum_d w_d * mean(1 - cos(pred[:, :d], target[:, :d]))`` over the nested prefixes ``dims``."""
    torch = _torch()
    total = 0.0
    for d, w in zip(dims, weights):
        if w:
            total = total + w * (1 - torch.nn.functional.cosine_similarity(pred[:, :d], target[:, :d], dim=1)).mean()
    return total


def _run_epochs(model: _BagModel, params: list, bags: list, targets, *, epochs: int, lr: float,
                batch_size: int, gen, dims, mweights, desc: str, show_progress_bar: bool) -> list[float]:
    """SparseAdam over ``params`` for ``epochs``; returns the mean loss of each epoch."""
    torch = _torch()
    from tqdm.auto import tqdm

    opt = torch.optim.SparseAdam(params, lr=lr) if params else None
    history = []
    steps = epochs * ((len(bags) + batch_size - 1) // batch_size)
    with tqdm(total=steps, desc=desc, disable=not show_progress_bar) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(bags), generator=gen).tolist()
            mean = _RunningLoss()
            for s in range(0, len(bags), batch_size):
                ids, offsets, lengths, sel = _batch(bags, perm[s : s + batch_size])
                loss = _matryoshka_loss(model(ids, offsets, lengths), targets[sel], dims, mweights)
                mean.step(opt, loss, len(sel), bar)
            history.append(mean.value)
    return history


def _batch(bags: list, sel: list[int]):
    torch = _torch()
    chunk = [bags[i] for i in sel]
    lengths = torch.tensor([len(c) for c in chunk], dtype=torch.float32)
    offsets = torch.zeros(len(chunk), dtype=torch.long)
    offsets[1:] = torch.cumsum(lengths[:-1].long(), 0)
    return torch.cat(chunk), offsets, lengths, torch.tensor(sel)


def _eval_loss(model: _BagModel, bags, targets, dims, mweights, batch_size: int = 1024) -> float:
    torch = _torch()
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(bags), batch_size):
            ids, offsets, lengths, sel = _batch(bags, list(range(s, min(s + batch_size, len(bags)))))
            total += float(_matryoshka_loss(model(ids, offsets, lengths), targets[sel], dims, mweights)) * len(sel)
    return total / len(bags)


def ternary_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ternarization of float32 [V, d]: ``(int8 values in {-1, 0, 1} [V, d], float32 scales [V])``.

    Threshold ``mean|row|`` (``t = clip(rint(w / mean|w|), -1, 1)``), scale = mean |w| over the kept entries.
    """
    a = np.abs(table).mean(axis=1, keepdims=True)
    t = np.clip(np.rint(table / np.where(a > 0, a, 1.0)), -1, 1)
    kept = np.maximum((t != 0).sum(axis=1), 1)
    scale = (np.abs(table) * (t != 0)).sum(axis=1) / kept
    return t.astype(np.int8), scale.astype(np.float32)


def _token_table(teacher, cache_dir, show_progress_bar: bool) -> tuple[dict, np.ndarray]:
    """The student tokenizer.json and every vocabulary entry through the teacher (float32 [V, H]),
    cached in ``cache_dir`` (keyed by the teacher and the entries) when given."""
    D = importlib.import_module(".distill", __package__)  # the module (fastembed_core.distill is the function)

    sub = D._transformer_dir(Path(teacher))
    try:
        tok_json = json.loads((sub / "tokenizer.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TrainError(f"teacher: {sub / 'tokenizer.json'} is not valid JSON: {exc}") from exc
    student_tok, inputs = D._build_vocabulary(tok_json, None, r"\[unused\d+\]")
    f = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{Path(teacher).resolve()}\0{json.dumps(inputs)}".encode()).hexdigest()[:24]
        f = Path(cache_dir) / f"vocab-{key}.npy"
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        if f.exists():
            return student_tok, np.load(f)
    model = D.load_teacher(teacher)[0]
    pad_id = (tok_json.get("padding") or {}).get("pad_id", 0)
    raw = D.embed_token_sequences(model, inputs, pad_id=pad_id, show_progress_bar=show_progress_bar)
    if f is not None:
        with atomic_write(f) as tmp, open(tmp, "wb") as fh:
            np.save(fh, raw)
    return student_tok, raw


def fit_arrays(
    teacher: str | os.PathLike, sentences: Iterable[str], *, dims: Sequence[int] = (32, 64, 128, 256),
    matryoshka_weights: Sequence[float] | None = None, epochs: int = 3, lr: float = 0.01,
    batch_size: int = 256, seed: int = 0, ternary: bool = False, ternary_epochs: int = 0,
    learn_weights: bool = True, sif_coefficient: float | None = 1e-4, cache_dir: str | os.PathLike | None = None,
    max_seq_length: int | None = 128, teacher_batch_size: int = 64, show_progress_bar: bool = True,
) -> dict[str, Any]:
    """The work of :func:`fit`, returning arrays: a dict with ``table`` (float32 [V, d], or int8 in
    {-1, 0, 1} with ``ternary``), ``weights`` (float32 [V]), ``tokenizer_json``, ``config`` and
    ``history`` (the fit loss before training, then the mean loss of each epoch, then of each ternary
    epoch), ``pca_mean`` float64 [H] and ``pca_components`` float64 [H, d] (the basis: a teacher vector
    ``t`` corresponds to ``(t - pca_mean) @ pca_components``)."""
    D = importlib.import_module(".distill", __package__)  # the module (fastembed_core.distill is the function)

    _check_sentence_transformer(teacher)
    sentences = _check_sentences(sentences)
    width = int(list(dims)[-1]) if len(list(dims)) else 0
    dims, mweights = _check_dims(dims, width, matryoshka_weights)
    for name, v in (("epochs", epochs), ("ternary_epochs", ternary_epochs), ("batch_size", batch_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name == "batch_size" else 0):
            raise TrainError(f"{name} must be a {'positive' if name == 'batch_size' else 'non-negative'} int, got {v!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise TrainError(f"lr must be a positive number, got {lr!r}")
    torch = _torch()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    # 1. the Model2Vec starting point, in the PCA basis of the teacher's sentence embeddings
    student_tok, raw = _token_table(teacher, cache_dir, show_progress_bar)
    if width > raw.shape[1]:
        raise TrainError(f"dims: the largest ({width}) exceeds the teacher's width {raw.shape[1]}")
    targets = teacher_embeddings(teacher, sentences, cache_dir=cache_dir, batch_size=teacher_batch_size,
                                 max_seq_length=max_seq_length, show_progress_bar=show_progress_bar)
    if len(targets) <= width:
        raise TrainError(f"sentences: need more than {width} sentences (the table width) to fit, got {len(targets)}")
    mean, comps = D.pca_fit(targets, width)
    table0 = ((raw - mean) @ comps).astype(np.float32)
    w0 = D.sif_weights(len(raw), sif_coefficient).astype(np.float32)
    tgt = torch.from_numpy(((targets - mean) @ comps).astype(np.float32))

    # 2. fit table + weights on the sentences that have at least one known token
    all_bags = _bags(student_tok, sentences)
    keep = [i for i, b in enumerate(all_bags) if len(b)]
    if not keep:
        raise TrainError("sentences: no sentence has a token in the teacher's vocabulary")
    bags = [torch.from_numpy(all_bags[i]) for i in keep]
    tgt = tgt[keep]
    bm = _BagModel(table0, w0)
    params = [bm.emb.weight] + ([bm.w.weight] if learn_weights else [])
    history = [_eval_loss(bm, bags, tgt, dims, mweights)]
    history += _run_epochs(bm, params, bags, tgt, epochs=epochs, lr=lr, batch_size=batch_size, gen=gen, dims=dims,
                           mweights=mweights, desc="Fitting table", show_progress_bar=show_progress_bar)
    table = bm.emb.weight.detach().numpy().copy()
    weights = bm.w.weight.detach().numpy()[:, 0].copy()

    # 3. optional per-row ternarization; the row scale goes into the weights, which are then refitted
    if ternary:
        table, scale = ternary_rows(table)
        bm = _BagModel(table.astype(np.float32), weights * scale)
        bm.emb.weight.requires_grad_(False)
        history += _run_epochs(bm, [bm.w.weight], bags, tgt, epochs=ternary_epochs, lr=lr, batch_size=batch_size,
                               gen=gen, dims=dims, mweights=mweights, desc="Fitting weights (ternary)",
                               show_progress_bar=show_progress_bar)
        weights = bm.w.weight.detach().numpy()[:, 0].copy()
    config = {
        "model_type": "model2vec", "architectures": ["StaticModel"], "tokenizer_name": Path(teacher).name,
        "apply_pca": width, "sif_coefficient": sif_coefficient, "hidden_dim": width, "normalize": True,
        "pooling": "mean", "distilled_by": "fastembed_core.train.fit", "fit_sentences": len(keep),
        "fit_epochs": epochs, "fit_dims": dims, "fit_matryoshka_weights": mweights, "fit_seed": seed,
        "fit_ternary": bool(ternary), "fit_loss": [round(h, 6) for h in history],
    }
    return {"table": table, "weights": weights.astype(np.float32), "tokenizer_json": student_tok,
            "config": config, "history": history, "pca_mean": mean, "pca_components": comps}


def _to_model(table: np.ndarray, weights: np.ndarray | None, tokenizer_json: dict | str, config: dict):
    from tokenizers import Tokenizer

    from .model import StaticModel

    text = tokenizer_json if isinstance(tokenizer_json, str) else json.dumps(tokenizer_json)
    return StaticModel(table, Tokenizer.from_str(text), weights=weights, normalize=True, config=config)


def fit(teacher: str | os.PathLike, sentences: Iterable[str], **options: Any):
    """Fit a static model to a teacher's embeddings of ``sentences`` (Tokenlearn-style); a ``StaticModel``.

    ``teacher``: a local sentence-transformers directory (offline). ``sentences``: real text, one
    string per sentence (more than ``dims[-1]`` of them). The steps:

    1. every vocabulary token through the teacher (the Model2Vec start, :mod:`fastembed_core.distill`);
    2. the teacher's embeddings of ``sentences`` (:func:`teacher_embeddings`, cached in ``cache_dir``);
       a PCA of them to ``dims[-1]`` dims gives the basis of table and targets;
    3. ``epochs`` of SparseAdam (``lr``, ``batch_size``) on the table and (``learn_weights``) the
       per-token weights, from the PCA-projected token table and SIF weights (``sif_coefficient``),
       minimising ``sum_d w_d * (1 - cos(prefix_d(student), prefix_d(teacher)))`` over ``dims``
       (default 32/64/128/256; ``matryoshka_weights`` default all 1; ``dims=(256,)`` is an
       unweighted fit);
    4. ``ternary=True``: per-row ternary table (int8 in {-1, 0, 1}, the row scale folded into the
       weights, model2vec-loadable; ``.quantize("ternary")`` packs it to 2 bits exactly), then
       ``ternary_epochs`` (default 0) refitting the weights alone (this lowers the fit loss but gave lower
       retrieval scores on the Debian dev pairs, so the default model does not use it).

    The result's ``config["fit_loss"]`` is the loss before training and after each epoch. Same
    ``seed`` (and thread count) -> same model. Options: see :func:`fit_arrays`.
    """
    r = fit_arrays(teacher, sentences, **options)
    return _to_model(r["table"], r["weights"], r["tokenizer_json"], r["config"])


# --------------------------------------------------------------------------------------------------
# finetune


def _check_pairs(pairs: Iterable[Sequence[str]]) -> tuple[list[tuple[str, ...]], int]:
    if isinstance(pairs, (str, bytes)):
        raise TrainError("pairs must be an iterable of (query, positive[, negative]) tuples, not a string")
    out = []
    for i, p in enumerate(pairs):
        if isinstance(p, (str, bytes)) or not isinstance(p, (tuple, list)) or len(p) not in (2, 3):
            raise TrainError(f"pairs[{i}] must be a (query, positive) or (query, positive, negative) "
                             f"tuple of strings, got {p!r:.80}")
        if not all(isinstance(s, str) for s in p):
            raise TrainError(f"pairs[{i}] must hold strings only, got {tuple(type(s).__name__ for s in p)}")
        out.append(tuple(p))
    if len(out) < 2:
        raise TrainError(f"pairs: need at least 2 pairs (in-batch negatives), got {len(out)}")
    if len({len(p) for p in out}) != 1:
        raise TrainError("pairs: mix of 2- and 3-tuples; give all (query, positive) or all with a negative")
    return out, len(out[0])


def _dense_table(model) -> np.ndarray:
    """float32 [V, d]: the table with the mapping and the per-token weights folded in."""
    if not isinstance(model.table, np.ndarray):
        raise TrainError(f"model: needs a dense table, not {type(model.table).__name__} "
                         "(train before quantize('ternary'))")
    table = np.asarray(model.table, dtype=np.float32)
    if model.mapping is not None:
        table = table[model.mapping]
    if model.weights is not None:
        table = table * model.weights[:, None]
    return table


def finetune(
    model, pairs: Iterable[Sequence[str]], *, dims: Sequence[int] | None = None,
    matryoshka_weights: Sequence[float] | None = None, epochs: int = 1, lr: float = 0.05, batch_size: int = 128,
    scale: float = 20.0, seed: int = 0, show_progress_bar: bool = True,
):
    """Contrastive fine-tuning of a static model on ``(query, positive[, negative])`` pairs.

    ``model``: a ``fastembed_core.StaticModel`` with a dense table (its per-token weights and mapping are
    folded into a float32 table first). Training runs through sentence-transformers' own modules:
    ``StaticEmbedding`` (mean of rows) -> ``MultipleNegativesRankingLoss`` (in-batch negatives, cosine
    times ``scale``) wrapped in ``MatryoshkaLoss`` over ``dims`` (default: 32, 64, 128, ... up to the
    model width; ``matryoshka_weights`` default all 1), ``epochs`` of Adam (``lr``) on batches of
    ``batch_size`` pairs shuffled with ``seed``. Returns a new normalising ``StaticModel`` with a float32
    table (``save_pretrained`` writes model2vec format; ``config["finetune_loss"]`` is the mean loss per epoch).
    """
    pairs, arity = _check_pairs(pairs)
    table = _dense_table(model)
    width = model.dim
    if dims is None:
        dims = [d for d in (32, 64, 128, 256, 512, 1024) if d < width] + [width]
    dims, mweights = _check_dims(dims, width, matryoshka_weights)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise TrainError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
        raise TrainError(f"batch_size must be an int >= 2 (in-batch negatives), got {batch_size!r}")
    torch = _torch()
    from sentence_transformers import SentenceTransformer
    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import losses
    from sentence_transformers.models import StaticEmbedding
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tokenizer = model.tokenizer.tokenizer
    static = StaticEmbedding(tokenizer, embedding_weights=table.copy())
    st = SentenceTransformer(modules=[static], device="cpu")
    loss_fn = losses.MatryoshkaLoss(st, losses.MultipleNegativesRankingLoss(st, scale=scale),
                                    matryoshka_dims=dims, matryoshka_weights=mweights)
    opt = torch.optim.Adam(st.parameters(), lr=lr)
    prep = getattr(st, "preprocess", None) or st.tokenize  # tokenize is deprecated in sentence-transformers 6
    history = []
    n_batches = (len(pairs) + batch_size - 1) // batch_size
    st.train()
    with tqdm(total=epochs * n_batches, desc="Fine-tuning", disable=not show_progress_bar) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(pairs), generator=gen).tolist()
            total = 0.0
            for b in range(n_batches):
                batch = [pairs[i] for i in perm[b * batch_size : (b + 1) * batch_size]]
                if len(batch) < 2:
                    continue
                features = [prep([p[j] for p in batch]) for j in range(arity)]
                loss = loss_fn(features, None)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
                bar.update(1)
                bar.set_postfix(loss=f"{total / (b + 1):.4f}", refresh=False)
            history.append(total / n_batches)
    new_table = static.embedding.weight.detach().numpy().astype(np.float32)
    config = dict(model.config)
    config.update(finetune_pairs=len(pairs), finetune_epochs=epochs, finetune_dims=dims,
                  finetune_matryoshka_weights=mweights, finetune_seed=seed,
                  finetune_loss=[round(h, 6) for h in history])
    config.pop("embedding_dtype", None)
    return _to_model(new_table, None, tokenizer.to_str(), config)


# --------------------------------------------------------------------------------------------------
# matryoshka_rotation


def matryoshka_rotation(
    model, pairs: Iterable[Sequence[str]], *, dims: Sequence[int] | None = None,
    matryoshka_weights: Sequence[float] | None = None, epochs: int = 5, lr: float = 1e-3, batch_size: int = 128,
    scale: float = 20.0, seed: int = 0, show_progress_bar: bool = True,
):
    """Rotate a finished static model so that its leading dimensions carry more of its retrieval signal.

    Learns an orthogonal ``R`` [d, d] (``torch.nn.utils.parametrizations.orthogonal``, from the
    identity; ``epochs`` of Adam at ``lr`` on batches of ``batch_size`` pairs shuffled with ``seed``) that
    minimises ``sum_p w_p * MNRL(prefix_p(q R), prefix_p(pos R))`` over the prefixes ``dims`` (default
    32, 64, 128, ... below the width, or half the width; ``matryoshka_weights`` default all 1): the in-batch-negatives
    contrastive loss (cosine times ``scale``, a given negative as one more candidate) of the truncated,
    renormalised embeddings of the ``(query, positive[, negative])`` pairs. The sentence embeddings are
    computed once (a static model's embedding is linear in its table, so rotating the embeddings is
    rotating the table): the training is cheap. The full-width cosines do not change (R is
    orthogonal), only how much of them the first dims hold. Returns a new normalising ``StaticModel``
    with the float32 table ``table @ R`` (mapping and per-token weights folded in first; ternarize after,
    not before). ``config["rotation_loss"]``: the loss before training and after each epoch.
    """
    pairs, arity = _check_pairs(pairs)
    table = _dense_table(model)
    width = model.dim
    if dims is None:
        dims = [d for d in (32, 64, 128, 256, 512, 1024) if d < width] or [max(1, width // 2)]
    d_list = list(dims)
    if not d_list or d_list[-1] >= width:
        raise TrainError(f"dims must be prefixes shorter than the width {width} (the full width does not "
                         f"change under a rotation), got {dims!r}")
    dims, mweights = _check_dims(d_list + [width], width, None if matryoshka_weights is None
                                 else list(matryoshka_weights) + [0.0])
    dims, mweights = dims[:-1], mweights[:-1]
    if len(mweights) != len(dims) or sum(mweights) == 0:
        raise TrainError(f"matryoshka_weights must be {len(dims)} non-negative floats, not all 0, got {matryoshka_weights!r}")
    for name, v, low in (("epochs", epochs, 1), ("batch_size", batch_size, 2)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise TrainError(f"{name} must be an int >= {low}, got {v!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise TrainError(f"lr must be a positive number, got {lr!r}")
    torch = _torch()
    from tqdm.auto import tqdm

    F = torch.nn.functional
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    start = _to_model(table, None, model.tokenizer.tokenizer.to_str(), {})
    emb = [torch.from_numpy(np.asarray(start.encode([p[j] for p in pairs]), dtype=np.float32)) for j in range(arity)]
    rot = torch.nn.Linear(width, width, bias=False)
    torch.nn.init.eye_(rot.weight)
    torch.nn.utils.parametrizations.orthogonal(rot)
    opt = torch.optim.Adam(rot.parameters(), lr=lr)

    def loss_of(idx):
        q, *cands = (rot(e[idx]) for e in emb)
        labels = torch.arange(len(idx))
        total = 0.0
        for d, w in zip(dims, mweights):
            if w:
                qd = F.normalize(q[:, :d], dim=1)
                cd = torch.cat([F.normalize(c[:, :d], dim=1) for c in cands])
                total = total + w * F.cross_entropy(scale * qd @ cd.T, labels)
        return total

    with torch.no_grad():
        everything = torch.arange(len(pairs))
        history = [float(sum(loss_of(everything[s : s + batch_size]) * len(everything[s : s + batch_size])
                             for s in range(0, len(pairs), batch_size)) / len(pairs))]
    n_batches = (len(pairs) + batch_size - 1) // batch_size
    with tqdm(total=epochs * n_batches, desc="Matryoshka rotation", disable=not show_progress_bar) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(pairs), generator=gen)
            mean = _RunningLoss()
            for b in range(n_batches):
                idx = perm[b * batch_size : (b + 1) * batch_size]
                if len(idx) < 2:
                    continue
                mean.step(opt, loss_of(idx), len(idx), bar)
            history.append(mean.value)
    with torch.no_grad():
        r = rot.weight.detach().numpy().astype(np.float64).T  # Linear computes x @ W.T
    config = dict(model.config)
    config.update(rotation_pairs=len(pairs), rotation_epochs=epochs, rotation_dims=dims,
                  rotation_matryoshka_weights=mweights, rotation_seed=seed,
                  rotation_loss=[round(h, 6) for h in history])
    config.pop("embedding_dtype", None)
    return _to_model((table.astype(np.float64) @ r).astype(np.float32), None, model.tokenizer.tokenizer.to_str(), config)


# --------------------------------------------------------------------------------------------------
# equalize_dims


def equalize_dims(model, sentences: Iterable[str], *, power: float = 1.0):
    """Per-dimension partial whitening: scale column ``j`` of the table by ``std_j ** -power`` (scales
    normalised to mean 1), ``std_j`` the standard deviation of dim ``j`` over the model's (normalised)
    embeddings of ``sentences``. ``power=0`` changes nothing, ``power=1`` gives every dim the same
    spread over those sentences; a fitted table in the teacher's PCA basis has a spread falling about 5x
    from the first dim to the last, and the per-row ternarization that follows (``train.ternary_rows``)
    then keeps more of the trailing dims. No training; deterministic. Returns a new normalising
    ``StaticModel`` with a float32 table (mapping and per-token weights folded in);
    ``config["equalize_power"]`` records ``power``.
    """
    sentences = _check_sentences(sentences)
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not math.isfinite(power) or power < 0:
        raise TrainError(f"power must be a finite number >= 0, got {power!r}")
    table = _dense_table(model)
    start = _to_model(table, None, model.tokenizer.tokenizer.to_str(), {})
    std = np.asarray(start.encode(sentences), dtype=np.float64).std(axis=0)
    if not np.all(std > 0):
        raise TrainError(f"sentences: dims {np.flatnonzero(std <= 0)[:8].tolist()} do not vary over them "
                         f"({len(sentences)} sentences); give more, or more varied, sentences")
    scale = std ** -float(power)
    scale /= scale.mean()
    config = dict(model.config)
    config.update(equalize_power=float(power), equalize_sentences=len(sentences))
    config.pop("embedding_dtype", None)
    return _to_model((table * scale[None, :]).astype(np.float32), None, model.tokenizer.tokenizer.to_str(), config)
