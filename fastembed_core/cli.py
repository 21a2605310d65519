"""The ``fastembed-core`` command: encode, index, search, distill, eval, bench, info.

Exit codes: 0 success, 2 usage error (argparse), 1 runtime error (one line on stderr, no traceback),
130 interrupted. Outputs are never overwritten without ``--force`` and are written to a temporary
file beside the target, then renamed, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._io import atomic_write, open_text, read_jsonl

PROG = "fastembed-core"
INDEX_FORMAT = "fastembed-core-index/2"  # BinaryIndex.save file with texts + this metadata


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
            with open_text(p) as fh:
                lines = fh.read().splitlines()
        texts = [row[0] for row in read_jsonl(path, (field or "text",), lines=iter(lines))] if jsonl else lines
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    except ValueError as exc:  # read_jsonl: path:line: what is wrong
        raise CLIError(f"{exc}" + (" (use --field)" if "field" in str(exc) else "")) from None
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


# ------------------------------------------------------------------------------------------- model


def load_model(path: str | None):
    """A ``fastembed_core.StaticModel`` from ``path`` (the bundled default when None)."""
    from .model import StaticModel
    from .models import default_model_path

    target = Path(path) if path else default_model_path()
    if not target.exists():
        raise CLIError(f"--model {target}: no such directory")
    try:
        return StaticModel.from_pretrained(target)
    except (OSError, ValueError, KeyError) as exc:
        raise CLIError(f"--model {target}: cannot load a static model ({exc})") from None


def model_fingerprint(model) -> str:
    """A short hash of what makes the vectors: table bytes and shape, weights, mapping, vocabulary size."""
    h = hashlib.sha256()
    table = getattr(model.table, "packed", model.table)
    for part in (table, model.weights, model.mapping):
        if part is not None:
            h.update(repr((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).data)
    h.update(repr((tuple(model.table.shape), model.vocab_size, model.normalize)).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------- commands


def cmd_encode(args: argparse.Namespace) -> int:
    out = _check_output(args.output, args.force)
    texts = read_texts(args.input, field=args.field, fmt=args.format)
    model = load_model(args.model)
    vecs = model.encode(texts, precision=args.precision, dims=args.dims, num_threads=args.threads,
                        batch_size=args.batch_size, show_progress_bar=not args.quiet)
    with atomic_write(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(vecs))
    if not args.quiet:
        print(f"wrote {out}: {vecs.dtype}{list(vecs.shape)} ({len(texts)} texts, precision {args.precision})",
              file=sys.stderr)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from .index import BinaryIndex

    out = _check_output(args.output, args.force)
    texts = read_texts(args.input, field=args.field, fmt=args.format)
    model = load_model(args.model)
    if args.dims is not None and args.dims > model.dim:
        raise CLIError(f"--dims {args.dims}: the model has {model.dim} dimensions")
    vecs = model.encode(texts, dims=args.dims, num_threads=args.threads, show_progress_bar=not args.quiet)
    index = BinaryIndex(vecs.shape[1], keep=None if args.keep == "none" else args.keep)
    index.add(vecs)
    index.set_texts(texts)
    index.metadata = {"format": INDEX_FORMAT, "model": str(Path(args.model).resolve()) if args.model else None,
                      "model_fingerprint": model_fingerprint(model), "dims": int(vecs.shape[1]),
                      "source": args.input}
    index.save(out)  # atomic: an existing index is replaced only once the new file is complete
    if not args.quiet:
        print(f"wrote {out}: {len(texts)} entries, {vecs.shape[1]}-bit codes", file=sys.stderr)
    return 0


def load_index(path: str):
    """A BinaryIndex written by ``index`` (or by ``BinaryIndex.save`` with texts). Raises CLIError."""
    from .index import BinaryIndex

    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{path}: a directory, not an index file (made by '{PROG} index' or BinaryIndex.save; "
                       "an index directory of an older version must be rebuilt)")
    if not p.exists():
        raise CLIError(f"{path}: no such index file")
    try:
        index = BinaryIndex.load(p)
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: not a readable index ({exc})") from None
    if index.texts is None:
        raise CLIError(f"{path}: the index holds no texts to show (build it with '{PROG} index', or "
                       "BinaryIndex.set_texts before save)")
    return index


def cmd_search(args: argparse.Namespace) -> int:
    index = load_index(args.index)
    meta = index.metadata
    queries = list(args.query)
    if args.queries:
        queries += read_texts(args.queries, field=args.field, fmt=args.format)
    if not queries:
        raise CLIError("no queries: pass QUERY arguments or --queries FILE")
    built_with = meta.get("model")
    model = load_model(args.model or built_with)
    if meta.get("model_fingerprint") not in (None, model_fingerprint(model)):
        print(f"{PROG}: warning: the model ({args.model or built_with or 'the bundled default'}) differs from the "
              f"one this index was built with ({built_with or 'the bundled default'}); its vectors do not match "
              "the index's and results are meaningless", file=sys.stderr)
    dims = int(meta.get("dims", index.dim))
    if dims != index.dim or dims > model.dim:
        raise CLIError(f"{args.index}: index of {index.dim} dimensions, model of {model.dim}")
    k = min(args.k, len(index))
    qv = model.encode(queries, dims=dims, num_threads=args.threads)
    rescore = False if args.binary_only else None  # None: rescore when the index keeps vectors
    scores, ids = index.search(qv, k, rescore=rescore, rescore_multiplier=args.rescore, refine=args.refine,
                               num_threads=args.threads)
    texts = index.texts
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
    from .distill import distill

    vocab = read_texts(args.vocabulary) if args.vocabulary else None
    corpus = read_texts(args.fit_corpus, field=args.field) if args.fit_corpus else None
    t0 = time.perf_counter()
    try:
        model = distill(args.teacher, pca_dims=None if args.pca_dims == 0 else args.pca_dims, sif_coefficient=args.sif,
                        vocabulary=vocab, fit_corpus=corpus, dtype=args.dtype, output_dir=out, force=args.force,
                        show_progress_bar=not args.quiet)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    if not args.quiet:
        print(f"wrote {out}: {model!r} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from . import evaluate as ev

    data = args.data
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
            m = ev.as_ternary(model) if key == "ternary" else model
            cache[key] = (m.encode(queries, show_progress_bar=not args.quiet),
                          m.encode(docs, show_progress_bar=not args.quiet))
        qv, dv = cache[key]
        for dims in dims_list:
            binary = precision in ("binary", "ubinary")
            for rescore in ([None, args.rescore] if args.rescore and binary else [None]):
                for refine in ([None, args.refine] if args.refine and binary else [None]):
                    try:
                        ranks = ev.retrieval_ranks(qv, dv, precision=precision, dims=dims, rescore=rescore,
                                                   refine=refine)
                    except ValueError as exc:
                        raise CLIError(str(exc)) from None
                    label = (precision + (f" dims={dims}" if dims else "") + (f" refine x{refine}" if refine else "")
                             + (f" rescore x{rescore}" if rescore else ""))
                    rows.append((label, ev.metrics_from_ranks(ranks)))
    if args.json:
        print(json.dumps({label: m for label, m in rows}, indent=2))
    else:
        print(f"{len(queries)} queries vs {len(docs)} docs from {data}")
        print(ev.format_table(rows))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import BACKEND
    from .bench import format_rows, peer_rows, synthetic_texts

    if args.data is not None:
        if not Path(args.data).exists():
            raise CLIError(f"--data {args.data}: no such file")
        from .evaluate import load_pairs

        try:
            queries, docs = load_pairs(args.data, limit=None, query_field=args.query_field, doc_field=args.doc_field)
        except (OSError, EOFError, ValueError) as exc:
            raise CLIError(str(exc)) from None
        pool = [t for pair in zip(queries, docs) for t in pair]
        texts = (pool * (args.texts // len(pool) + 1))[: args.texts]
        source = f"real texts from {args.data} (queries and docs, shuffled per the protocol)"
    else:
        texts = synthetic_texts(args.texts)
        source = "synthetic texts (a fixed word list; pass --data FILE.jsonl for real text)"
    model = load_model(args.model)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"{PROG} bench: timing {message}", file=sys.stderr, flush=True)

    rows = peer_rows(model, texts, codes=args.codes, repeats=args.repeats, threads=args.threads, progress=progress)
    print(f"backend {BACKEND}; encode on {len(texts)} {source}")
    print(f"medians of {args.repeats} runs; ratio = time / fastembed_core's time (higher = fastembed_core faster)")
    print(format_rows(rows))
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
  {PROG} search docs.idx -k 5 "compress a file" "play music"         options before or after queries
  {PROG} distill /path/to/sentence-transformer -o my-model --pca-dims 256
  {PROG} eval debian-descriptions-dev.jsonl.gz --precision float32,int8,binary --rescore 4
  {PROG} bench --data pairs.jsonl.gz                             ratios against installed peers
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
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
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
                                   "rescoring) with the texts in one index file: the format of "
                                   "fastembed_core.BinaryIndex.save, loadable with BinaryIndex.load.")
    p.add_argument("input", help="text file, JSONL file, or - for stdin")
    p.add_argument("-o", "--output", required=True, help="index file to create")
    p.add_argument("--dims", type=_positive_int,
                   help="embed with the first DIMS dimensions (Matryoshka; any positive number up to the model's "
                        "dimension); codes take ceil(DIMS / 8) bytes")
    p.add_argument("--keep", choices=["float32", "int8", "none"], default="float32",
                   help="vectors kept for rescoring (default float32; none = codes only, smallest)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing index (the old one stays until the new one is complete)")
    _common_input(p)
    _common_model(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search an index made by 'index'",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                       description="Nearest texts by Hamming distance, optionally rescored with float vectors.")
    p.add_argument("index", help="index file made by 'index' (or BinaryIndex.save with texts)")
    p.add_argument("query", nargs="*", help="query texts")
    p.add_argument("--queries", help="file of queries (one per line or JSONL)")
    p.add_argument("-k", type=_positive_int, default=10, help="results per query (default 10)")
    p.add_argument("--rescore", type=_positive_int, default=4,
                   help="rescore the top k*RESCORE codes with the kept vectors (default 4)")
    p.add_argument("--refine", type=_positive_int,
                   help="re-rank REFINE times as many Hamming candidates by the float query against the codes "
                        "before rescoring (default 4 when rescoring, else 1)")
    p.add_argument("--binary-only", action="store_true", help="rank by Hamming distance only (no rescoring)")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    _common_input(p)
    _common_model(p)
    p.set_defaults(func=cmd_search, intermixed=True)

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
                       description="The retrieval protocol (docs/retrieval-protocol.md): shuffle rows with "
                                   "random.Random(SEED), keep LIMIT, rank every doc for every query; the own "
                                   "doc's rank gives the metrics.")
    p.add_argument("data", help="JSONL(.gz) of query/doc pairs (e.g. debian-descriptions-dev.jsonl.gz)")
    p.add_argument("--precision", action="append", default=[],
                   help="float32, int8, ternary, binary, ubinary; comma-separated or repeated")
    p.add_argument("--dims", action="append", default=[], help="Matryoshka dims, comma-separated or repeated")
    p.add_argument("--rescore", type=_positive_int, help="also report binary rescored from the top 10*RESCORE")
    p.add_argument("--refine", type=_positive_int,
                   help="also report binary with the asymmetric refining stage over REFINE times the candidates")
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
    p.add_argument("--data", help="JSONL(.gz) of query/doc pairs whose texts encode embeds (default: synthetic "
                                  "texts; the output says which)")
    p.add_argument("--query-field", default="query")
    p.add_argument("--doc-field", default="doc")
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


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; ``search`` takes its options anywhere among the query words (intermixed)."""
    args, rest = parser.parse_known_args(argv)
    if rest and getattr(args, "intermixed", False):
        sub = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
        argv = list(sys.argv[1:] if argv is None else argv)
        args = sub.parse_intermixed_args(argv[argv.index(args.command) + 1 :])
        args.command, args.func = "search", cmd_search
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 runtime error, 2 usage error, 130 interrupted).

    Only errors about the user's input and environment become a one-line message: CLIError,
    OSError (files), ValueError (bad data or arguments) and ImportError (a missing extra). Anything
    else is a bug and keeps its traceback.
    """
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `info --json | head`: the reader left; not an error
        _silence_stdout()
        return 0
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
    except FileExistsError as exc:
        print(f"{PROG}: error: {exc} (use --force)", file=sys.stderr)
    except (OSError, ValueError, ImportError) as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured): nothing to flush
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
