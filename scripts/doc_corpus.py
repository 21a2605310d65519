#!/usr/bin/env python
"""Extract English sentences from the documentation Debian ships, as a training corpus for ``fit``.

Sources (each optional; the ones present on the machine are used, in this order):

- ``python``: the Python documentation sources, ``/usr/share/doc/python3*/html/_sources/**/*.rst.txt``
  (Debian package ``python3-doc``);
- ``debref``: the Debian Reference, ``/usr/share/debian-reference/debian-reference.en.txt.gz``
  (``debian-reference-en``);
- ``man``: the English manual pages, ``/usr/share/man/man[1-8]/*.gz`` (whatever is installed; the
  ``NAME`` section is skipped: its one-line summaries are close to Debian package summaries, the
  evaluation domain).

Not used: Debian package descriptions (the evaluation domain, in every language).

Text is split into sentences (4 to 64 words, mostly letters), deduplicated, shuffled with
``random.Random(seed)`` and cut to ``--max``. Output: one sentence per line (UTF-8).

    python scripts/doc_corpus.py -o corpus.txt [--max 200000] [--sources python,debref,man]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import os
import random
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_TROFF_ESC = [(re.compile(r"\\f(\(..|\[[^]]*\]|.)"), ""), (re.compile(r"\\\(aq"), "'"),
              (re.compile(r"\\\((em|en)"), "-"), (re.compile(r"\\\((lq|rq|dq)"), '"'),
              (re.compile(r"\\\(..|\\\[[^]]*\]"), ""), (re.compile(r"\\\*(\(..|\[[^]]*\]|.)"), ""),
              (re.compile(r"\\[-e]"), "-"), (re.compile(r"\\[&|^%c/,]"), ""), (re.compile(r"\\s[-+]?\d"), ""),
              (re.compile(r"\\(.)"), r"\1")]
_RST_ROLE = re.compile(r":[\w:.-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_RST_LIT = re.compile(r"``([^`]*)``|`([^`<]*?)(?:\s*<[^>]*>)?`_*")


def sentences_of(paragraph: str) -> Iterator[str]:
    """Sentences of one paragraph of prose (whitespace collapsed) that look like English text."""
    text = " ".join(paragraph.split())
    for s in _SPLIT.split(text):
        words = s.split()
        if not 4 <= len(words) <= 64:
            continue
        letters = sum(c.isalpha() for c in s)
        if letters < 0.7 * len(s.replace(" ", "")) or not s[0].isalpha():
            continue
        yield s


def _paragraphs(lines: Iterable[str]) -> Iterator[str]:
    buf: list[str] = []
    for line in lines:
        if line is None or not line.strip():
            if buf:
                yield " ".join(buf)
            buf = []
        else:
            buf.append(line.strip())
    if buf:
        yield " ".join(buf)


def rst_lines(text: str) -> Iterator[str | None]:
    """Prose lines of a reStructuredText source (directives, literal blocks and tables dropped)."""
    in_literal = False
    for raw in text.splitlines():
        line = raw.rstrip()
        indent = len(line) - len(line.lstrip())
        if in_literal:
            if line and indent == 0:
                in_literal = False
            else:
                continue
        stripped = line.strip()
        if stripped.startswith(".."):
            yield None
            in_literal = stripped.endswith("::")
            continue
        if re.fullmatch(r"[=\-~^*+#`'\"|]{3,}", stripped) or stripped.startswith(("+", "|", ">>>", "...")):
            yield None
            continue
        if stripped.endswith("::"):
            # (a bare "::" line yields ":", which then drops the first sentence of the next paragraph:
            # kept as it is so that the corpus, and the cached teacher targets keyed by it, stay the same)
            in_literal = True
            stripped = stripped[:-1]
        stripped = _RST_ROLE.sub(r"\1", stripped)
        stripped = _RST_LIT.sub(lambda m: m.group(1) or m.group(2) or "", stripped)
        yield stripped or None


def troff_lines(text: str) -> Iterator[str | None]:
    """Prose lines of a man page (macros dropped except the text of font macros; NAME skipped)."""
    section = ""
    for line in text.splitlines():
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            macro = parts[0] if parts else ""
            if macro in ("SH", "SS"):
                section = (parts[1] if len(parts) > 1 else "").strip('"').upper()
                yield None
            elif macro in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM") and len(parts) > 1:
                if section != "NAME":
                    yield _untroff(parts[1].replace('"', ""))
            elif macro in ("PP", "P", "LP", "TP", "IP", "HP", "br", "sp", "nf", "fi", "EX", "EE", "TH"):
                yield None
            continue
        if section not in ("NAME", "SYNOPSIS"):
            yield _untroff(line)


def _untroff(s: str) -> str:
    for pat, rep in _TROFF_ESC:
        s = pat.sub(rep, s)
    return s


def man_files(before: float | None = None) -> list[str]:
    """The English manual pages, sorted; with ``before`` (a POSIX time) only those whose inode (the link
    itself for a symbolic link, as update-alternatives makes) changed before it, i.e. that were installed
    before it (dpkg sets ctime at unpacking). This rebuilds the corpus of an earlier build on a machine
    where packages were installed since (the teacher cache is keyed by the corpus)."""
    files = sorted(glob.glob("/usr/share/man/man[1-8]/*.gz"))
    return files if before is None else [f for f in files if os.lstat(f).st_ctime < before]


def iter_source(name: str, *, man_before: float | None = None) -> Iterator[str]:
    """Sentences of one source (see the module docstring), in a fixed file order."""
    for p in iter_paragraphs(name, man_before=man_before):
        yield from sentences_of(p)


def iter_paragraphs(name: str, *, man_before: float | None = None) -> Iterator[str]:
    """Prose paragraphs of one source (see the module docstring), in a fixed file order
    (``man_before``: see :func:`man_files`)."""
    if name == "python":
        for f in sorted(glob.glob("/usr/share/doc/python3*/html/_sources/**/*.rst.txt", recursive=True)):
            yield from _paragraphs(rst_lines(Path(f).read_text(encoding="utf-8", errors="replace")))
    elif name == "debref":
        f = Path("/usr/share/debian-reference/debian-reference.en.txt.gz")
        if f.exists():
            with gzip.open(f, "rt", encoding="utf-8", errors="replace") as fh:
                yield from _paragraphs(fh)
    elif name == "man":
        for f in man_files(man_before):
            try:
                with gzip.open(f, "rt", encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except (OSError, EOFError):
                continue
            if text.startswith(".so "):
                continue  # a link to another page
            yield from _paragraphs(troff_lines(text))
    else:
        raise ValueError(f"unknown source {name!r} (python, debref, man)")


def man_pairs(limit: int | None = None, seed: int = 0, *, man_before: float | None = None) -> list[tuple[str, str]]:
    """(summary, description) pairs of the English manual pages (:func:`man_files`): the ``NAME`` line's
    text after ``\\-`` and the first paragraphs (up to 120 words) of ``DESCRIPTION``; deduplicated,
    shuffled with ``random.Random(seed)``, the first ``limit``."""
    out: dict[str, str] = {}
    for f in man_files(man_before):
        try:
            with gzip.open(f, "rt", encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except (OSError, EOFError):
            continue
        m = re.search(r"^\.SH\s+\"?NAME\"?\s*\n(.*?)^\.SH", text, re.MULTILINE | re.DOTALL)
        d = re.search(r"^\.SH\s+\"?DESCRIPTION\"?\s*\n(.*?)(?=^\.SH|\Z)", text, re.MULTILINE | re.DOTALL)
        if not m or not d:
            continue
        name = " ".join(_untroff(x) for x in m.group(1).splitlines() if not x.startswith((".", "'")))
        summary = " ".join(name.split(" - ", 1)[1].split()) if " - " in name else ""
        words: list[str] = []
        for p in _paragraphs(troff_lines(".SH DESCRIPTION\n" + d.group(1))):
            words += p.split()
            if len(words) >= 40:
                break
        doc = " ".join(words[:120])
        if len(summary.split()) >= 2 and len(words) >= 8 and summary not in out:
            out[summary] = doc
    pairs = sorted(out.items())
    random.Random(seed).shuffle(pairs)
    return pairs[:limit] if limit else pairs


def _rst_heading(line: str, under: str) -> str | None:
    u = under.strip()
    if len(u) >= 3 and len(set(u)) == 1 and u[0] in "=-~^*+#" and line.strip() and len(u) >= len(line.strip()) - 1:
        t = _RST_LIT.sub(lambda m: m.group(1) or m.group(2) or "", _RST_ROLE.sub(r"\1", line.strip()))
        return " ".join((t.split(" --- ", 1)[1] if " --- " in t else t).split())
    return None


def rst_heading_pairs(text: str) -> Iterator[tuple[str, str]]:
    """(section heading, its first prose paragraphs up to 120 words) of one reStructuredText source, for
    headings of 2 to 16 words whose section has at least 8 words of prose (a module page's title is
    the text after ``---``)."""
    lines = text.splitlines()
    heads = [(i, h) for i in range(len(lines) - 1) if (h := _rst_heading(lines[i], lines[i + 1]))]
    for k, (i, head) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
        words: list[str] = []
        for p in _paragraphs(rst_lines("\n".join(lines[i + 2 : end]))):
            if any(True for _ in sentences_of(p)):
                words += p.split()
            if len(words) >= 40:
                break
        if 2 <= len(head.split()) <= 16 and len(words) >= 8:
            yield head, " ".join(words[:120])


def heading_pairs(limit: int | None = None, seed: int = 0) -> list[tuple[str, str]]:
    """:func:`rst_heading_pairs` of the Python documentation sources (``python3-doc``), deduplicated by
    heading, shuffled with ``random.Random(seed)``, the first ``limit``."""
    out: dict[str, str] = {}
    for f in sorted(glob.glob("/usr/share/doc/python3*/html/_sources/**/*.rst.txt", recursive=True)):
        for head, body in rst_heading_pairs(Path(f).read_text(encoding="utf-8", errors="replace")):
            out.setdefault(head, body)
    pairs = sorted(out.items())
    random.Random(seed).shuffle(pairs)
    return pairs[:limit] if limit else pairs


def first_sentence_pair(paragraph: str) -> tuple[str, str] | None:
    """(first sentence, rest up to 120 words) of a prose paragraph, or None: the first sentence must
    pass :func:`sentences_of` and the rest have at least 12 words, mostly letters."""
    parts = _SPLIT.split(" ".join(paragraph.split()), maxsplit=1)
    if len(parts) < 2 or not any(True for _ in sentences_of(parts[0])):
        return None
    rest = parts[1].split()
    if len(rest) < 12 or sum(c.isalpha() for c in parts[1]) < 0.7 * len(parts[1].replace(" ", "")):
        return None
    return parts[0], " ".join(rest[:120])


def paragraph_pairs(sources: Iterable[str] = ("python", "debref", "man"), *, limit: int | None = None,
                    seed: int = 0) -> list[tuple[str, str]]:
    """:func:`first_sentence_pair` of every prose paragraph of ``sources``, deduplicated by first
    sentence, shuffled with ``random.Random(seed)``, the first ``limit``."""
    out: dict[str, str] = {}
    for name in sources:
        for p in iter_paragraphs(name):
            if (pair := first_sentence_pair(p)) is not None:
                out.setdefault(*pair)
    pairs = sorted(out.items())
    random.Random(seed).shuffle(pairs)
    return pairs[:limit] if limit else pairs


def build_corpus(sources: Iterable[str], *, limit: int | None = None, seed: int = 0,
                 man_before: float | None = None) -> list[str]:
    """Deduplicated sentences of ``sources``, shuffled with ``random.Random(seed)``, first ``limit``
    (``man_before``: see :func:`man_files`)."""
    seen: dict[str, None] = {}
    for name in sources:
        for s in iter_source(name, man_before=man_before):
            seen.setdefault(s, None)
    out = list(seen)
    random.Random(seed).shuffle(out)
    return out[:limit] if limit else out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--max", type=int, default=200000)
    ap.add_argument("--sources", default="python,debref,man")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    corpus = build_corpus(args.sources.split(","), limit=args.max, seed=args.seed)
    Path(args.output).write_text("".join(s + "\n" for s in corpus), encoding="utf-8")
    print(f"{len(corpus)} sentences -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
