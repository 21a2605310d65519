"""pytest plugin: every ``model2vec.StaticModel`` is accelerated right after construction.

Used to run model2vec's own test suite (from its sdist) against ``fastembed_core``'s drop-in:

    python -m pytest -p model2vec_accelerate_plugin <model2vec sdist>/tests

(with this directory on ``PYTHONPATH``; ``scripts/run_model2vec_suite.sh`` does it all). The
plugin wraps ``model2vec.model.StaticModel.__init__`` so that every instance, however it was made
(``from_pretrained``, ``distill``, ``quantize_model``, the trainable heads' ``to_static_model``,
pipelines), encodes through ``fastembed_core.integrations.model2vec.accelerate``. At the end it
reports how many models were accelerated, so a run that silently accelerated nothing is visible;
``FASTEMBED_CORE_M2V_PLUGIN_MIN`` (default 1) makes the session fail below that count. Under
pytest-xdist (``-n 2``) each worker counts its own models and the controller adds up the counts of
the workers as they finish (``workeroutput``), so the total and the minimum cover the whole session.
"""

from __future__ import annotations

import functools
import os

import pytest

_count = {"accelerated": 0}


def pytest_configure(config: pytest.Config) -> None:
    from model2vec import model as m2v_model

    from fastembed_core.integrations.model2vec import accelerate

    cls = m2v_model.StaticModel
    if getattr(cls.__init__, "_fastembed_core_plugin", False):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        accelerate(self)
        _count["accelerated"] += 1

    __init__._fastembed_core_plugin = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # xdist controller: a worker finished
    _count["accelerated"] += getattr(node, "workeroutput", {}).get("fastembed_core_accelerated", 0)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    terminalreporter.write_line(f"fastembed_core plugin: {_count['accelerated']} model2vec.StaticModel instances accelerated")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller adds up and checks the counts
        workeroutput["fastembed_core_accelerated"] = _count["accelerated"]
        return
    minimum = int(os.environ.get("FASTEMBED_CORE_M2V_PLUGIN_MIN", "1"))
    if _count["accelerated"] < minimum and session.testscollected:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
