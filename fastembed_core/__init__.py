"""fastembed_core: the compiled core of static text embeddings.

Gather-mean pooling, ternary matmul and packed Hamming search as C kernels with runtime SIMD
dispatch, the same functions in numpy as fallback and oracle, and a thin API on top. Where each
thing lives: docs/layout.md.
"""

from . import evaluate, gather, hamming, index, model, quantization, ternary, tokenize  # noqa: F401
from . import binary, pooling  # noqa: F401  (old names of hamming and gather: the same module objects)
from ._backend import BACKEND
from ._info import capabilities
from ._version import __version__
from .distill import distill  # the function; torch is imported only when it runs
from .gather import *  # noqa: F401,F403
from .hamming import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .model import *  # noqa: F401,F403
from .ternary import *  # noqa: F401,F403
from .tokenize import *  # noqa: F401,F403

__all__ = [
    "BACKEND",
    "__version__",
    "capabilities",
    "distill",
    "evaluate",
    *gather.__all__,
    *hamming.__all__,
    *index.__all__,
    *model.__all__,
    *ternary.__all__,
    *tokenize.__all__,
]
