"""numpy reference implementations: the readable specification of every compiled kernel.

Same function names and contracts as the compiled ``_kernels`` module, one submodule of
``fastembed_core._ref`` per kernel family. Used when no compiled extension is available and as
the oracle in tests.
"""

from ._ref.gather import *  # noqa: F401,F403
from ._ref.hamming import *  # noqa: F401,F403
from ._ref.ivf import *  # noqa: F401,F403
from ._ref.ternary import *  # noqa: F401,F403
from ._ref.unigram import *  # noqa: F401,F403
from ._ref.wordpiece import *  # noqa: F401,F403


def cpu_features() -> dict[str, bool]:
    """The numpy backend uses no CPU-specific code."""
    return {}


def kernel_variants() -> dict[str, dict]:
    return {}


def select_variant(kernel: str, variant: str) -> None:
    raise ValueError("the numpy backend has no kernel variants")
