"""Fuzz BinaryIndex.load (both mmap modes) and a search on whatever loads.

Input: the bytes of an index file. Handled: ValueError/OSError from load. A loaded index must be
self-consistent: len, dim, keep as its header says, and search results in range, finite, sorted.
"""

import os
import tempfile

import numpy as np

from _common import HANDLED, instrumented_import, main

fe = instrumented_import()
TMP = tempfile.mkdtemp(prefix="fuzz-index-")
PATH = os.path.join(TMP, "x.idx")


def one_input(data: bytes) -> None:
    with open(PATH, "wb") as fh:
        fh.write(data)
    for mmap in (True, False):
        try:
            index = fe.BinaryIndex.load(PATH, mmap=mmap)
        except HANDLED:
            continue
        n = len(index)
        assert index.width == (index.dim + 7) // 8
        if n == 0:
            continue
        rng = np.random.default_rng(len(data))
        q = rng.standard_normal((2, index.dim)).astype(np.float32)
        k = min(3, n)
        try:
            scores, ids = index.search(q, k)
        except HANDLED:
            continue  # e.g. stored vectors that are not finite give no usable cosine
        assert ids.shape == (2, k) and ((ids >= 0) & (ids < n)).all(), ids
        codes_scores, codes_ids = index.search(q, k, rescore=False)
        assert (np.diff(codes_scores, axis=1) <= 0).all()
        assert ((codes_ids >= 0) & (codes_ids < n)).all()
        del index


if __name__ == "__main__":
    main(one_input)
