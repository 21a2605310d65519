"""Old name of :mod:`fastembed_core.hamming`, kept so ``import fastembed_core.binary`` keeps working.

The name is bound to the very same module object, so every attribute (private ones too) and every
monkeypatch is shared.
"""

import sys

from . import hamming

sys.modules[__name__] = hamming
