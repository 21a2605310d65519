"""The ``fastembed-core`` command: encode, index, search, distill, eval, bench, info.

Exit codes: 0 success, 2 usage error (argparse), 1 runtime error (one line on stderr, no traceback),
130 interrupted. Outputs are never overwritten without ``--force`` and are written to a temporary
file beside the target, then renamed, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

PROG = "fastembed-core"


class CLIError(Exception):
    """A runtime error shown to the user as one line (exit code 1)."""


# ------------------------------------------------------------------------------------------- inputs


def _is_jsonl(path: str, fmt: str, field: str | None) -> bool:
    if fmt != "auto":
        return fmt == "jsonl"
    return field is not None or path.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson"))


def read_texts(path: str, *, field: str | None = None, fmt: str = "auto") -> list[str]:
    """Texts from a file (one per line, or JSONL with ``field``), ``-`` for stdin. Raises CLIError."""
    jsonl = _is_jsonl(path, fmt, field)
    try:
        if path == "-":
            fh = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8") if hasattr(sys.stdin, "buffer") else sys.stdin
            lines = fh.read().splitlines()
        else:
            p = Path(path)
            if not p.exists():
                raise CLIError(f"{path}: no such file")
            if p.is_dir():
                raise CLIError(f"{path}: is a directory, expected a text or JSONL file")
            opener = gzip.open if p.suffix == ".gz" else open
            with opener(p, "rt", encoding="utf-8") as fh:
                lines = fh.read().splitlines()
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    if not jsonl:
        texts = lines
    else:
        field = field or "text"
        texts = []
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CLIError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise CLIError(f"{path}:{lineno}: no string field {field!r} (use --field)")
            texts.append(row[field])
    if not texts:
        raise CLIError(f"{path}: no input texts")
    return texts


def _check_output(path: str, force: bool) -> Path:
    p = Path(path)
    if p.exists() and not force:
        raise CLIError(f"{path}: exists (use --force to overwrite)")
    if not p.parent.exists():
        raise CLIError(f"{path}: directory {str(p.parent)!r} does not exist")
    return p


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array)

    _atomic_write(path, write)


# ------------------------------------------------------------------------------------------- model


def load_model(path: str | None):
    """A ``fastembed_core.StaticModel`` from ``path`` (the bundled default when None)."""
    from .model import StaticModel

    target = Path(path) if path else _default_dir()
    if not target.exists():
        raise CLIError(f"--model {target}: no such directory")
    try:
        return StaticModel.from_pretrained(target)
    except (OSError, ValueError, KeyError) as exc:
        raise CLIError(f"--model {target}: cannot load a static model ({exc})") from None


# ------------------------------------------------------------------------------------------- commands


def cmd_encode(args: argparse.Namespace) -> int:
    out = _check_output(args.output, args.force)
    texts = read_texts(args.input, field=args.field, fmt=args.format)
    model = load_model(args.model)
    vecs = model.encode(texts, precision=args.precision, dims=args.dims, num_threads=args.threads,
                        batch_size=args.batch_size, show_progress_bar=not args.quiet)
    _save_npy(out, np.asarray(vecs))
    if not args.quiet:
        print(f"wrote {out}: {vecs.dtype}{list(vecs.shape)} ({len(texts)} texts, precision {args.precision})",
              file=sys.stderr)
    return 0


def _binary_index():
    try:
        from .index import BinaryIndex
    except ImportError:  # pragma: no cover
        raise CLIError("BinaryIndex is not available in this build") from None
    return BinaryIndex


def cmd_index(args: argparse.Namespace) -> int:
    out = _check_output(args.output, args.force)
    texts = read_texts(args.input, field=args.field, fmt=args.format)
    model = load_model(args.model)
    vecs = model.encode(texts, dims=args.dims, num_threads=args.threads, show_progress_bar=not args.quiet)
    BinaryIndex = _binary_index()
    index = BinaryIndex(vecs.shape[1], keep=None if args.keep == "none" else args.keep)
    index.add(vecs)
    meta = {"format": "fastembed-core-index/1", "model": str(Path(args.model).resolve()) if args.model else None,
            "dims": vecs.shape[1], "count": len(texts), "source": args.input}

    def write(tmp: Path) -> None:
        os.unlink(tmp)
        tmp.mkdir()
        index.save(tmp / "index.bin")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        with open(tmp / "texts.jsonl", "w", encoding="utf-8") as fh:
            for t in texts:
                fh.write(json.dumps(t, ensure_ascii=False) + "\n")

    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    _atomic_write(out, write)
    if not args.quiet:
        print(f"wrote {out}: {len(texts)} entries, {vecs.shape[1]}-bit codes", file=sys.stderr)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    root = Path(args.index)
    if not (root / "meta.json").exists():
        raise CLIError(f"{args.index}: not an index directory (made by '{PROG} index')")
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        with open(root / "texts.jsonl", encoding="utf-8") as fh:
            texts = [json.loads(line) for line in fh]
    except (OSError, ValueError) as exc:
        raise CLIError(f"{args.index}: damaged index ({exc})") from None
    queries = list(args.query)
    if args.queries:
        queries += read_texts(args.queries, field=args.field, fmt=args.format)
    if not queries:
        raise CLIError("no queries: pass QUERY arguments or --queries FILE")
    model = load_model(args.model or meta.get("model"))
    index = _binary_index().load(root / "index.bin")
    k = min(args.k, len(texts))
    qv = model.encode(queries, dims=meta["dims"], num_threads=args.threads)
    rescore = False if args.binary_only else None  # None: rescore when the index keeps vectors
    scores, ids = index.search(qv, k, rescore=rescore, rescore_multiplier=args.rescore, num_threads=args.threads)
    results = [
        [{"rank": r, "id": int(i), "score": float(s), "text": texts[int(i)]} for r, (s, i) in enumerate(zip(srow, irow))]
        for srow, irow in zip(scores, ids)
    ]
    if args.json:
        for q, res in zip(queries, results):
            print(json.dumps({"query": q, "results": res}, ensure_ascii=False))
    else:
        for q, res in zip(queries, results):
            print(f"query: {q}")
            for hit in res:
                text = hit["text"].replace("\n", " ")
                print(f"  {hit['rank'] + 1:>3}. [{hit['id']}] {hit['score']:.4g}  {text[:100]}")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    out = _check_output(args.output, args.force)
    from . import distill as d

    vocab = read_texts(args.vocabulary) if args.vocabulary else None
    corpus = read_texts(args.fit_corpus, field=args.field) if args.fit_corpus else None
    t0 = time.perf_counter()
    try:
        table, tok, config = d.distill_arrays(
            args.teacher, pca_dims=None if args.pca_dims == 0 else args.pca_dims, sif_coefficient=args.sif,
            vocabulary=vocab, fit_corpus=corpus, show_progress_bar=not args.quiet)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    emb, weights = d.encode_table(table, args.dtype)
    d.save_model_dir(out, emb, tok, config, weights=weights, force=args.force)
    if not args.quiet:
        print(f"wrote {out}: {emb.dtype}{list(emb.shape)} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from . import evaluate as ev

    data = args.data or _default_data()
    if data is None:
        raise CLIError("no DATA given and the Debian dev data was not found (pass a JSONL path)")
    if not Path(data).exists():
        raise CLIError(f"{data}: no such file")
    try:
        queries, docs = ev.load_pairs(data, limit=args.limit or None, seed=args.seed,
                                      query_field=args.query_field, doc_field=args.doc_field)
    except (ValueError, OSError, EOFError) as exc:
        raise CLIError(str(exc)) from None
    model = load_model(args.model)
    precisions = [p for arg in args.precision for p in arg.split(",") if p] or ["float32"]
    dims_list = [None] if not args.dims else [int(x) for arg in args.dims for x in arg.split(",") if x]
    rows = []
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for precision in precisions:
        if precision not in ev.PRECISIONS:
            raise CLIError(f"--precision {precision!r}: expected one of {', '.join(ev.PRECISIONS)}")
        key = "ternary" if precision == "ternary" else "float"
        if key not in cache:
            m = model.quantize("ternary") if key == "ternary" else model
            cache[key] = (m.encode(queries, show_progress_bar=not args.quiet),
                          m.encode(docs, show_progress_bar=not args.quiet))
        qv, dv = cache[key]
        for dims in dims_list:
            for rescore in ([None, args.rescore] if args.rescore and precision in ("binary", "ubinary") else [None]):
                try:
                    ranks = ev.retrieval_ranks(qv, dv, precision=precision, dims=dims, rescore=rescore)
                except ValueError as exc:
                    raise CLIError(str(exc)) from None
                label = precision + (f" dims={dims}" if dims else "") + (f" rescore x{rescore}" if rescore else "")
                rows.append((label, ev.metrics_from_ranks(ranks)))
    if args.json:
        print(json.dumps({label: m for label, m in rows}, indent=2))
    else:
        print(f"{len(queries)} queries vs {len(docs)} docs from {data}")
        print(ev.format_table(rows))
    return 0


def _default_data() -> str | None:
    env = os.environ.get("FASTEMBED_CORE_DEV_DATA")
    if env:
        return env
    here = Path.cwd()
    for base in (here, *here.parents):
        cand = base / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
        if cand.exists():
            return str(cand)
    return None


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _bench_texts(data: str | None, n: int) -> list[str]:
    if data and Path(data).exists():
        from .evaluate import load_pairs

        queries, docs = load_pairs(data, limit=None)
        texts = [t for pair in zip(queries, docs) for t in pair]
    else:  # synthetic sentences from a fixed word list: still real tokenization work
        rng = np.random.default_rng(0)
        words = ("the of and to in is for on with as by an be this that from at or are it which file "
                 "library package data tool support version system server client python module").split()
        texts = [" ".join(rng.choice(words, size=int(rng.integers(5, 60)))) for _ in range(n)]
    return (texts * (n // max(len(texts), 1) + 1))[:n]


def bench_rows(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    """(operation, implementation, median seconds, ratio = peer time / ours) rows, measured in one run."""
    from . import _parallel

    rows: list[tuple[str, str, float, float]] = []
    reps = args.repeats
    threads = args.threads or _parallel.default_threads()

    def group(op: str, impls: list[tuple[str, Callable[[], Any]]]) -> None:
        times = []
        for name, fn in impls:
            try:
                times.append((name, _median_time(fn, reps)))
            except ImportError as exc:
                times.append((f"{name} (not installed: {exc.name})", float("nan")))
            except (AttributeError, NotImplementedError):
                times.append((f"{name} (not in this build)", float("nan")))
        ours = times[0][1]
        for name, t in times:
            rows.append((op, name, t, t / ours))

    model = load_model(args.model)
    texts = _bench_texts(args.data or _default_data(), args.texts)
    impls: list[tuple[str, Callable[[], Any]]] = [
        ("fastembed_core 1 thread", lambda: model.encode(texts, num_threads=1)),
        (f"fastembed_core {threads} threads", lambda: model.encode(texts, num_threads=threads)),
    ]

    def m2v_encode():
        from .integrations.model2vec import to_model2vec

        m2v = getattr(bench_rows, "_m2v", None) or to_model2vec(model)  # same model; packed tables exported exactly
        bench_rows._m2v = m2v
        m2v.encode(texts, use_multiprocessing=False)

    impls.append(("model2vec encode", m2v_encode))
    group(f"encode {len(texts)} texts", impls)

    from . import binary

    rng = np.random.default_rng(0)
    db = rng.integers(0, 256, size=(args.codes, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(100, 32), dtype=np.uint8)
    impls = [
        ("fastembed_core hamming_topk 1 thread", lambda: binary.hamming_topk(queries, db, 10, num_threads=1)),
    ]

    def faiss_search():
        import faiss

        faiss.omp_set_num_threads(1)
        index = getattr(bench_rows, "_faiss", None)
        if index is None:
            index = faiss.IndexBinaryFlat(256)
            index.add(db)
            bench_rows._faiss = index
        index.search(queries, 10)

    popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)

    def numpy_search():
        for q in queries[:10]:
            np.argpartition(popcount[np.bitwise_xor(db, q)].sum(1), 10)[:10]

    impls += [("faiss IndexBinaryFlat 1 thread", faiss_search)]
    impls += [("numpy xor + popcount table", lambda: [numpy_search() for _ in range(10)])]
    group(f"hamming top-10, 100 queries x {args.codes} x 256 bits", impls)

    from . import pooling

    table = rng.standard_normal((30000, 256)).astype(np.float32)
    lengths = rng.integers(1, 200, size=4000)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(0, 30000, size=int(offsets[-1])).astype(np.int32)

    def numpy_gather():
        sums = np.add.reduceat(table[ids], offsets[:-1], axis=0)
        return sums / lengths[:, None]

    def torch_gather():
        import torch

        bag = getattr(bench_rows, "_bag", None)
        if bag is None:
            bag = bench_rows._bag = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(table), mode="mean")
            torch.set_num_threads(1)
        with torch.inference_mode():
            bag(torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(offsets[:-1]))

    group(f"gather_mean 4000 bags, {len(ids)} ids, 256 dims", [
        ("fastembed_core gather_mean 1 thread", lambda: pooling.gather_mean(table, ids, offsets, num_threads=1)),
        ("numpy take + reduceat", numpy_gather),
        ("torch EmbeddingBag(mean) 1 thread", torch_gather),
    ])
    return rows


def _default_dir() -> Path:
    from .models import default_model_path

    return default_model_path()


def cmd_bench(args: argparse.Namespace) -> int:
    from . import BACKEND

    rows = bench_rows(args)
    print(f"backend {BACKEND}; medians of {args.repeats} runs; ratio = time / fastembed_core's time "
          "(higher = fastembed_core faster)")
    width = max(len(r[1]) for r in rows)
    last = None
    for op, name, t, ratio in rows:
        if op != last:
            print(f"\n{op}")
            last = op
        shown = "      -" if t != t else f"{t * 1e3:9.2f} ms   x{ratio:6.2f}"
        print(f"  {name:<{width}}  {shown}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from . import __version__, capabilities
    from .models import DEFAULT_MODEL_DIR

    info: dict[str, Any] = {"version": __version__, **capabilities()}
    path = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    info["model"] = {"path": str(path)}
    if path.exists():
        try:
            model = load_model(str(path))
            info["model"].update(repr=repr(model), dim=model.dim, vocab_size=model.vocab_size)
        except CLIError as exc:
            info["model"]["error"] = str(exc)
    else:
        info["model"]["error"] = "missing"
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key in ("version", "backend", "machine", "threads", "threading"):
            print(f"{key:>10}: {info[key]}")
        feats = [k for k, v in (info.get("cpu_features") or {}).items() if v]
        print(f"{'cpu':>10}: {' '.join(feats) or '-'}")
        for name, k in sorted((info.get("kernels") or {}).items()):
            print(f"{'kernel':>10}: {name} -> {k.get('active')}")
        m = info["model"]
        print(f"{'model':>10}: {m['path']}")
        print(f"{'':>10}  {m.get('repr', m.get('error'))}")
    return 0


# ------------------------------------------------------------------------------------------- parser


EPILOG = f"""\
examples:
  {PROG} encode sentences.txt -o vectors.npy                    one text per line, default model
  {PROG} encode rows.jsonl --field text -o codes.npy --precision ubinary
  cat notes.txt | {PROG} encode - -o vectors.npy --dims 128
  {PROG} index docs.txt -o docs.idx                             binary codes + vectors for rescoring
  {PROG} search docs.idx "how do I compress a file" -k 5 --rescore 4
  {PROG} distill /path/to/sentence-transformer -o my-model --pca-dims 256
  {PROG} eval debian-descriptions-dev.jsonl.gz --precision float32,int8,binary --rescore 4
  {PROG} bench                                                  ratios against installed peers
  {PROG} info

exit codes: 0 ok, 1 runtime error (one line on stderr), 2 usage error.
--model defaults to the small model bundled with the package (distilled from all-MiniLM-L6-v2).
"""


def _common_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("--field", help="JSONL: the field holding the text (default 'text'); implies JSONL")
    p.add_argument("--format", choices=["auto", "lines", "jsonl"], default="auto",
                   help="input format (auto: .jsonl/.ndjson[.gz] is JSONL, anything else one text per line)")


def _common_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model directory (model2vec format); default: the bundled model")
    p.add_argument("--threads", type=_positive_int, default=None, help="threads (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Fast static text embeddings: encode, binary-index and search text, distill a static "
                    "model from a sentence transformer, measure retrieval quality and speed.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("encode", help="embed texts into a .npy file", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Embed texts (a file with one text per line, a JSONL file, or - for stdin) "
                                   "and write a .npy array: float32 vectors or packed codes.")
    p.add_argument("input", help="text file, JSONL file, or - for stdin")
    p.add_argument("-o", "--output", required=True, help="output .npy file")
    p.add_argument("--precision", choices=["float32", "int8", "ubinary", "binary"], default="float32",
                   help="float32 vectors, int8, or packed sign bits (ubinary uint8 / binary int8)")
    p.add_argument("--dims", type=_positive_int, help="keep the first DIMS dimensions (Matryoshka)")
    p.add_argument("--batch-size", type=_positive_int, default=1024)
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    _common_input(p)
    _common_model(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("index", help="build a binary index of texts on disk",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="Embed texts and store their binary codes (and float vectors for "
                                   "rescoring) with the texts in an index directory.")
    p.add_argument("input", help="text file, JSONL file, or - for stdin")
    p.add_argument("-o", "--output", required=True, help="index directory to create")
    p.add_argument("--dims", type=_positive_int, help="index the first DIMS dimensions (multiple of 8)")
    p.add_argument("--keep", choices=["float32", "int8", "none"], default="float32",
                   help="vectors kept for rescoring (default float32; none = codes only, smallest)")
    p.add_argument("--force", action="store_true", help="overwrite an existing index")
    _common_input(p)
    _common_model(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search an index made by 'index'",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="Nearest texts by Hamming distance, optionally rescored with float vectors.")
    p.add_argument("index", help="index directory")
    p.add_argument("query", nargs="*", help="query texts")
    p.add_argument("--queries", help="file of queries (one per line or JSONL)")
    p.add_argument("-k", type=_positive_int, default=10, help="results per query (default 10)")
    p.add_argument("--rescore", type=_positive_int, default=4,
                   help="rescore the top k*RESCORE codes with the kept vectors (default 4)")
    p.add_argument("--binary-only", action="store_true", help="rank by Hamming distance only")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    _common_input(p)
    _common_model(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("distill", help="make a static model from a sentence transformer (needs [distill])",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="The Model2Vec recipe, offline: every vocabulary token through the teacher, "
                                   "PCA, Zipf/SIF weighting; optionally fit on a corpus.")
    p.add_argument("teacher", help="local sentence-transformers directory")
    p.add_argument("-o", "--output", required=True, help="model directory to create")
    p.add_argument("--pca-dims", type=int, default=256, help="PCA dimensions (0: no PCA; default 256)")
    p.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient (default 1e-4)")
    p.add_argument("--dtype", choices=["float32", "float16", "int8"], default="float32")
    p.add_argument("--vocabulary", help="file of extra words to add, one per line")
    p.add_argument("--fit-corpus", help="texts to fit the table on the teacher's sentence embeddings")
    p.add_argument("--field", help="JSONL field of --fit-corpus")
    p.add_argument("--force", action="store_true", help="overwrite an existing output directory")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("eval", help="retrieval quality on query/doc pairs (nDCG@10, MRR@10, recall)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="DESIGN §9 protocol: shuffle rows with random.Random(SEED), keep LIMIT, "
                                   "rank every doc for every query; the own doc's rank gives the metrics.")
    p.add_argument("data", nargs="?", help="JSONL(.gz) of query/doc pairs (default: the Debian dev data)")
    p.add_argument("--precision", action="append", default=[],
                   help="float32, int8, ternary, binary, ubinary; comma-separated or repeated")
    p.add_argument("--dims", action="append", default=[], help="Matryoshka dims, comma-separated or repeated")
    p.add_argument("--rescore", type=_positive_int, help="also report binary rescored from the top 10*RESCORE")
    p.add_argument("--limit", type=int, default=4000, help="rows kept after shuffling (0: all; default 4000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--query-field", default="query")
    p.add_argument("--doc-field", default="doc")
    p.add_argument("--json", action="store_true")
    _common_model(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="speed ratios against installed peers (model2vec, faiss, numpy, torch)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="Times each operation and its peers in one run (medians of REPEATS) and "
                                   "prints ratios; absolute times depend on the machine, ratios less so.")
    p.add_argument("--data", help="JSONL of texts for encode (default: Debian dev data, else synthetic)")
    p.add_argument("--texts", type=_positive_int, default=5000, help="texts to encode (default 5000)")
    p.add_argument("--codes", type=_positive_int, default=200_000, help="database codes (default 200000)")
    p.add_argument("--repeats", type=_positive_int, default=5)
    _common_model(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="backend, CPU features, kernel variants, threads, model",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("--model", help="model directory (default: the bundled model)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    from . import serve  # the serve subcommand lives in serve.py (Starlette/uvicorn imported only when run)
    serve.add_parser(sub, _positive_int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 runtime error, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
    except FileExistsError as exc:
        print(f"{PROG}: error: {exc} (use --force)", file=sys.stderr)
    except (OSError, ValueError, TypeError, ImportError, NotImplementedError) as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
