"""fastembed_core._extras.require: the one optional-extra check (train, distill)."""

import pytest

from fastembed_core import _extras


def test_require_returns_modules_in_order():
    import json
    import math

    assert _extras.require("distill", "x", "math", "json") == [math, json]


def test_require_names_the_extra_and_the_missing_module():
    with pytest.raises(ImportError, match=r"fastembed_core\.train needs the \[distill\] extra: "
                                          r"pip install 'fastembed-core\[distill\]' \(missing: no_such_mod_xyz\)"):
        _extras.require("distill", "fastembed_core.train", "math", "no_such_mod_xyz")
