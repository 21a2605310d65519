"""Assemble a corpus of >= 1M real sentences offline, for the IVF benchmark (benchmarks/ivf_bench.py).

Sources, in this order (all local; nothing is downloaded):
  1. every query and every sentence of every doc of ../shared/data/*.jsonl.gz (Debian package
     descriptions, 19 languages);
  2. documentation shipped by Debian packages under /usr/share/doc (HTML, plain text, gzip'd text:
     e.g. ``apt-get install python3-doc debian-reference-en debian-handbook``) and the manual pages
     under /usr/share/man (``apt-get install manpages manpages-dev``), with markup stripped;
  3. if still short of --target, docstrings and comments of the Python files of the running
     interpreter's site-packages and standard library (real English prose written by people).
Text is split on sentence boundaries (. ! ? and their CJK forms, blank lines), whitespace collapsed;
sentences of fewer than 3 words (or 6 CJK characters) or more than 400 characters are dropped, and
exact duplicates are kept once. Files are read in sorted order, so the output is reproducible on one
machine. Output: one sentence per line, gzip'd UTF-8.

    nice -n 10 python benchmarks/ivf_corpus.py --out /tmp/h15/corpus.txt.gz --target 1100000
"""

from __future__ import annotations

import argparse
import glob
import gzip
import html
import io
import json
import os
import re
import sys
import sysconfig
import tokenize
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9\u00C0-\u024F\u0400-\u04FF])|(?<=[。！？])|\n\s*\n")
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.DOTALL | re.IGNORECASE)
_ROFF_ESC = re.compile(r"\\f[BIRPC1-4]|\\f\(..|\\f\[[^]]*\]|\\\(..|\\\[[^]]*\]|\\[&|^e%-]|\\s[-+]?\d|\\\*.")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def sentences(text: str):
    for part in _SPLIT.split(text):
        s = " ".join(part.split())
        if not s or len(s) > 400:
            continue
        if len(s.split()) >= 3 or len(_CJK.findall(s)) >= 6:
            yield s


def from_jsonl():
    for path in sorted(glob.glob(str(DATA / "*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                yield from sentences(row.get("query", ""))
                yield from sentences(row.get("doc", ""))


def _read(path: str) -> str:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read(4 << 20)
    except (OSError, EOFError):
        return ""
    if b"\0" in raw[:4096]:
        return ""  # binary
    return raw.decode("utf-8", "replace")


def _roff(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            words = line.split(None, 1)
            if len(words) == 2 and words[0] in (".SH", ".SS", ".B", ".I", ".BR", ".IR", ".RB", ".IP", ".TP"):
                out.append(words[1].replace('"', ""))
            elif words and words[0] in (".PP", ".P", ".LP", ".SH", ".SS"):
                out.append("")
            continue
        out.append(_ROFF_ESC.sub("", line))
    return "\n".join(out)


def from_debian_docs():
    paths = sorted(glob.glob("/usr/share/doc/**/*", recursive=True))
    for path in paths:
        low = path.lower()
        if os.path.isdir(path) or low.endswith((".png", ".jpg", ".gif", ".svg", ".css", ".js", ".pdf", ".inv", ".zip")):
            continue
        text = _read(path)
        if low.endswith((".html", ".htm", ".html.gz")):
            text = html.unescape(_TAGS.sub(" ", text))
        yield from sentences(text)
    for path in sorted(glob.glob("/usr/share/man/**/*.gz", recursive=True)):
        yield from sentences(_roff(_read(path)))


def from_python_sources():
    roots = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]})
    for root in roots:
        for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
            try:
                with open(path, "rb") as fh:
                    toks = list(tokenize.tokenize(io.BytesIO(fh.read()).readline))
            except (OSError, SyntaxError, tokenize.TokenError, UnicodeDecodeError, ValueError):
                continue
            comment: list[str] = []
            for tok in toks:
                if tok.type == tokenize.COMMENT:
                    comment.append(tok.string.lstrip("#").strip())
                    continue
                if comment:
                    yield from sentences(" ".join(comment))
                    comment = []
                if tok.type == tokenize.STRING and tok.string.lstrip("rbuRBU").startswith(('"""', "'''")):
                    yield from sentences(tok.string.strip("rbuRBU").strip("\"'"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--target", type=int, default=1_100_000, help="stop after this many distinct sentences")
    args = ap.parse_args(argv)
    seen: set[str] = set()
    counts = {}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=3) as out:
        for name, source in (("jsonl", from_jsonl), ("debian-docs", from_debian_docs), ("python", from_python_sources)):
            before = len(seen)
            for s in source():
                if len(seen) >= args.target:
                    break
                if s not in seen:
                    seen.add(s)
                    out.write(s + "\n")
            counts[name] = len(seen) - before
            print(f"{name}: {counts[name]} sentences", file=sys.stderr, flush=True)
    os.replace(tmp, args.out)
    print(json.dumps({"total": len(seen), **counts}))
    return 0 if len(seen) >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
