"""faiss interop: packed codes and Hamming distances interchangeable with ``faiss.IndexBinaryFlat``.

``pack_bits`` codes (uint8, MSB-first, zero padding) are exactly the rows ``IndexBinaryFlat`` stores,
and ``hamming_topk`` returns the same distances as ``index.search`` (faiss may order equal distances
differently; ours are ordered by index).

    index = to_faiss(codes)                 # IndexBinaryFlat(d = 8 * width) holding the codes
    bindex = from_faiss(index)              # BinaryIndex(keep=None) over the same codes
    codes = faiss_codes(index)              # uint8 [n, d // 8], a copy

sentence-transformers' int8 "binary" codes are converted to uint8 ("ubinary", byte XOR 0x80) on the
way in, so the faiss index always holds canonical ubinary codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..binary import _as_codes
from ..index import BinaryIndex

__all__ = ["to_faiss", "from_faiss", "faiss_codes", "as_ubinary"]


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ImportError("fastembed_core.integrations.faiss needs faiss: pip install 'fastembed-core[faiss]'") from None
    return faiss


def as_ubinary(codes: Any) -> np.ndarray:
    """uint8 [n, width] C-contiguous codes from uint8 (as is) or int8 "binary" codes (XOR 0x80); 1-D -> [1, width]."""
    c = np.asarray(codes)
    if c.dtype == np.int8:
        c = c.view(np.uint8) ^ np.uint8(0x80)
    return np.ascontiguousarray(_as_codes(c, "codes"))


def to_faiss(codes_or_index: Any) -> Any:
    """A new ``faiss.IndexBinaryFlat`` holding the codes of a ``BinaryIndex`` or of a codes array.

    The faiss dimension is ``8 * width`` bits (faiss needs a multiple of 8; padding bits are zero
    in every code and do not change distances).
    """
    faiss = _faiss()
    if isinstance(codes_or_index, BinaryIndex):
        codes = codes_or_index._consolidate()[0]
        width = codes_or_index.width
    else:
        codes = as_ubinary(codes_or_index)
        width = codes.shape[1]
    index = faiss.IndexBinaryFlat(8 * width)
    if len(codes):
        index.add(np.ascontiguousarray(codes, dtype=np.uint8))
    return index


def faiss_codes(index: Any) -> np.ndarray:
    """The codes stored in a faiss binary index as uint8 [ntotal, d // 8] (a copy).

    ``IndexBinaryFlat`` is read directly (``vector_to_array(index.xb)``); other binary indexes
    through ``reconstruct_n`` (which they must support).
    """
    faiss = _faiss()
    if not isinstance(index, faiss.IndexBinary):
        raise TypeError(f"index must be a faiss binary index (e.g. IndexBinaryFlat), not {type(index).__name__}")
    n, width = int(index.ntotal), int(index.d) // 8
    if n == 0:
        return np.empty((0, width), np.uint8)
    if isinstance(index, faiss.IndexBinaryFlat):
        flat = faiss.vector_to_array(index.xb)
    else:
        flat = index.reconstruct_n(0, n)
    return np.ascontiguousarray(np.asarray(flat, dtype=np.uint8).reshape(n, width))


def from_faiss(index: Any, *, dim: int | None = None) -> BinaryIndex:
    """A ``BinaryIndex(dim, keep=None)`` holding the codes of a faiss binary index (same row ids).

    dim: bits per vector (default ``index.d``); a smaller value must still need ``index.d // 8`` bytes.
    """
    codes = faiss_codes(index)
    out = BinaryIndex(int(index.d) if dim is None else dim, keep=None)
    if out.width != codes.shape[1]:
        raise ValueError(f"dim={dim} needs {out.width} bytes per code, but the faiss index stores {codes.shape[1]}")
    if len(codes):
        out.add(codes)
    return out
