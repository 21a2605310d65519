"""What every framework adapter shares: the lazy import of its library and the model + options."""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

from .._validate import positive_int
from ..model import StaticModel


def require(module: str, extra: str, adapter: str) -> Any:
    """``import module``, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"fastembed_core.integrations.{adapter} needs {module.split('.')[0]}: "
                          f"pip install 'fastembed-core[{extra}]' ({exc})") from None


class Encoder:
    """A StaticModel (or a model directory, loaded here) with fixed encode options.

    ``encoder(texts)`` is ``model.encode(list(texts), dims=dims, normalize=normalize, num_threads=num_threads)``:
    float32 ``[len(texts), dims or model.dim]``. ``path`` is the model directory when one was given.
    """

    def __init__(self, model: Any, *, dims: int | None = None, num_threads: int | None = None,
                 normalize: bool | None = None) -> None:
        if isinstance(model, StaticModel):
            self.model, self.path = model, None
        elif isinstance(model, (str, os.PathLike)):
            self.path = os.fspath(model)
            self.model = StaticModel.from_pretrained(self.path)
        else:
            raise TypeError(f"model must be a model directory path or a fastembed_core.StaticModel, "
                            f"not {type(model).__name__}")
        dims = positive_int(dims, "dims", upper=self.model.dim, optional=True)
        self.dims, self.num_threads, self.normalize = dims, num_threads, normalize
        self.encode([])  # checks num_threads and normalize now, not at the first call

    @property
    def dim(self) -> int:
        return self.dims or self.model.dim

    def encode(self, texts: Any) -> np.ndarray:
        texts = list(texts)
        return self.model.encode(texts, dims=self.dims, normalize=self.normalize, num_threads=self.num_threads,
                                 batch_size=max(1, min(len(texts), 4096)))

    def options(self) -> dict:
        """The JSON-serialisable constructor arguments (needs a model directory)."""
        if self.path is None:
            raise TypeError("an adapter built from a StaticModel object cannot be serialised: pass the model directory")
        return {"model": self.path, "dims": self.dims, "num_threads": self.num_threads, "normalize": self.normalize}
