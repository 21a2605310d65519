"""scripts/doc_corpus.py: sentence and pair extraction from documentation text (no system files needed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import doc_corpus  # noqa: E402

RST = """\
:mod:`os.path` --- Common pathname manipulations
================================================

.. module:: os.path

This module implements some useful functions on pathnames. To read or write
files see :func:`open`, and for accessing the filesystem see the :mod:`os` module.

Short
-----

Too few words here.

Reading and writing files
-------------------------

Example::

   code_that_is_not_prose()

The function :func:`open` returns a ``file object``, and is most commonly used with two arguments.
"""


def test_rst_heading_pairs():
    pairs = dict(doc_corpus.rst_heading_pairs(RST))
    assert set(pairs) == {"Common pathname manipulations", "Reading and writing files"}
    assert pairs["Common pathname manipulations"].startswith("This module implements some useful functions")
    assert "accessing the filesystem see the os module." in pairs["Common pathname manipulations"]
    assert pairs["Reading and writing files"] == ("Example: The function open returns a file object, and is "
                                                  "most commonly used with two arguments.")


def test_first_sentence_pair():
    p = ("The Secure Shell program provides secure encrypted communications. It replaces older\n"
         "programs which sent passwords in the clear over the network between the two hosts.")
    assert doc_corpus.first_sentence_pair(p) == (
        "The Secure Shell program provides secure encrypted communications.",
        "It replaces older programs which sent passwords in the clear over the network between the two hosts.")
    assert doc_corpus.first_sentence_pair("One sentence only, with no rest at all here.") is None
    assert doc_corpus.first_sentence_pair("Too short. But this rest is long enough to count as text.") is None
    assert doc_corpus.first_sentence_pair("A real first sentence here. | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 0 | 1 | 2") is None


def test_man_files_before_filters_by_install_time():
    files = doc_corpus.man_files()
    assert files == sorted(files)
    assert doc_corpus.man_files(before=0.0) == []  # nothing was installed before 1970
    assert doc_corpus.man_files(before=float("inf")) == files
