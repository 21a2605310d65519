"""Type stubs for the compiled module; see _kernels_py.py for the contracts."""

def cpu_features() -> dict[str, bool]: ...
def kernel_variants() -> dict[str, dict]: ...
def select_variant(kernel: str, variant: str) -> None: ...

# ternary (contracts: fastembed_core/_ref/ternary.py)
import numpy as np

def ternary_quantize(x: np.ndarray, q: np.ndarray, s: np.ndarray, qsum: np.ndarray) -> bool: ...
def ternary_matmul_q(
    q: np.ndarray, qsum: np.ndarray, qscale: np.ndarray, packed: np.ndarray, wscale: np.ndarray, out: np.ndarray
) -> None: ...
def ternary_matmul_acc(q: np.ndarray, qsum: np.ndarray, packed: np.ndarray, acc: np.ndarray) -> None: ...
def ternary_gather_mean(
    packed: np.ndarray,
    scales: np.ndarray,
    dim: int,
    ids: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None,
    mapping: np.ndarray | None,
    normalize: bool,
    out: np.ndarray,
) -> None: ...
