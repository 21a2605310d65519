"""fastembed_core: the compiled core of static text embeddings.

Gather-mean pooling, ternary matmul and packed Hamming search as C kernels with runtime SIMD
dispatch, the same functions in numpy as fallback and oracle, and a thin API on top.
"""

from . import binary, index, model, pooling, ternary, tokenize
from . import distill, evaluate  # distill: torch imported lazily; fastembed_core.distill(...) is callable
from ._backend import BACKEND
from ._info import capabilities
from ._version import __version__
from .binary import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .model import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .ternary import *  # noqa: F401,F403
from .tokenize import *  # noqa: F401,F403

__all__ = [
    "BACKEND",
    "__version__",
    "capabilities",
    "distill",
    "evaluate",
    *binary.__all__,
    *index.__all__,
    *model.__all__,
    *pooling.__all__,
    *ternary.__all__,
    *tokenize.__all__,
]
