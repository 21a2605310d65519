"""Old name of :mod:`fastembed_core.gather`, kept so ``import fastembed_core.pooling`` keeps working.

The name is bound to the very same module object, so every attribute (private ones too) and every
monkeypatch is shared.
"""

import sys

from . import gather

sys.modules[__name__] = gather
