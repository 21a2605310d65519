"""Type stubs for the compiled module; see _kernels_py.py for the contracts.

Checked against the built extension by `python -m mypy.stubtest fastembed_core._kernels` (.ci/run).
"""
import numpy as np
from typing_extensions import disjoint_base

EMULATED_SIMD: bool
OPENMP: bool

def cpu_features() -> dict[str, bool]: ...
def scan_prefetch() -> bool: ...
def kernel_variants() -> dict[str, dict]: ...
def select_variant(kernel: str, variant: str) -> None: ...

def gather_mean(
    table: "np.ndarray",
    ids: "np.ndarray",
    offsets: "np.ndarray",
    mapping: "np.ndarray | None",
    weights: "np.ndarray | None",
    scales: "np.ndarray | None",
    normalize: bool,
    out: "np.ndarray",
    start: int,
    stop: int,
    round_f16: bool = False,
    round_product_f16: bool = False,
) -> None: ...

# hamming (contracts: fastembed_core/_ref/hamming.py)
def hamming_merge(
    d: "np.ndarray", ix: "np.ndarray", parts: int, out_d: "np.ndarray", out_i: "np.ndarray"
) -> None: ...
def hamming_distance(a: "np.ndarray", b: "np.ndarray", out: "np.ndarray") -> None: ...
def hamming_topk(
    queries: "np.ndarray",
    database: "np.ndarray",
    k: int,
    index_base: int,
    out_distances: "np.ndarray",
    out_indices: "np.ndarray",
) -> None: ...

def hamming_topk_split(
    queries: "np.ndarray",
    database: "np.ndarray",
    k: int,
    parts: int,
    out_distances: "np.ndarray",
    out_indices: "np.ndarray",
) -> None: ...
def pool_info() -> dict: ...

# ivf (contract: fastembed_core/_ref/ivf.py)
def ivf_topk(
    queries: "np.ndarray",
    codes: "np.ndarray",
    ids: "np.ndarray",
    starts: "np.ndarray",
    ends: "np.ndarray",
    k: int,
    out_distances: "np.ndarray",
    out_rows: "np.ndarray",
) -> None: ...
def ivf_probe(queries: "np.ndarray", centroids: "np.ndarray", nprobe: int, out: "np.ndarray") -> None: ...
def ivf_search(
    queries: "np.ndarray",
    centroids: "np.ndarray",
    nprobe: int,
    offsets: "np.ndarray",
    codes: "np.ndarray",
    ids: "np.ndarray",
    k: int,
    out_distances: "np.ndarray",
    out_rows: "np.ndarray",
    distinct: bool = False,
) -> None: ...
def ivf_topk_grouped(
    queries: "np.ndarray",
    codes: "np.ndarray",
    ids: "np.ndarray",
    starts: "np.ndarray",
    ends: "np.ndarray",
    group_offsets: "np.ndarray",
    group_queries: "np.ndarray",
    k: int,
    out_distances: "np.ndarray",
    out_rows: "np.ndarray",
) -> None: ...

# wordpiece (contracts in _ref/wordpiece.py)
@disjoint_base  # a Cython cdef class
class WordPieceHandle:
    spec: dict

def wordpiece_tables_version() -> str | None: ...
def wordpiece_new(spec: dict) -> WordPieceHandle: ...
def wordpiece_encode(handle: WordPieceHandle, texts: tuple, start: int, stop: int, max_tokens: int,
                     drop_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def wordpiece_split(handle: WordPieceHandle, text: str) -> tuple[str, list[str]] | None: ...

# ternary (contracts: fastembed_core/_ref/ternary.py)

def ternary_quantize(x: np.ndarray, q: np.ndarray, s: np.ndarray, qsum: np.ndarray) -> bool: ...
def ternary_matmul_q(
    q: np.ndarray,
    qsum: np.ndarray,
    qscale: np.ndarray,
    packed: np.ndarray,
    wscale: np.ndarray,
    out: np.ndarray,
    il: np.ndarray | None = ...,
) -> None: ...
def ternary_linear(
    x: np.ndarray, packed: np.ndarray, wscale: np.ndarray, out: np.ndarray, il: np.ndarray | None = ...
) -> bool: ...
def ternary_matmul_acc(
    q: np.ndarray, qsum: np.ndarray, packed: np.ndarray, acc: np.ndarray, il: np.ndarray | None = ...
) -> None: ...
def ternary_gemv_layout(packed: np.ndarray) -> np.ndarray: ...
def ternary_gemv_layout_used() -> bool: ...
# unigram (contracts in _ref/unigram.py)
@disjoint_base  # a Cython cdef class
class UnigramHandle:
    blob: object
    spec: dict

def unigram_build(pieces: list, scores: list, unk_id: int, byte_fallback: bool, charsmap: bytes,
                  risky: object) -> bytes: ...
def unigram_check(blob: object) -> int: ...
def unigram_new(spec: dict, blob: object) -> UnigramHandle: ...
def unigram_encode(handle: UnigramHandle, texts: tuple, start: int, stop: int, max_tokens: int,
                   drop_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def unigram_normalize(handle: UnigramHandle, text: str) -> str | None: ...
def unigram_fuzz_one(data: bytes) -> int: ...
def added_fuzz_one(data: bytes) -> int: ...
