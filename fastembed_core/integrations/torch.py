"""torch adapter: run ``nn.Linear`` layers through the ternary kernels at inference.

Needs torch (``pip install 'fastembed-core[torch]'``), imported only when used.

- ``TernaryLinearModule``: a ``torch.nn.Module`` around a :class:`fastembed_core.TernaryLinear`;
  CPU float tensors in and out, through numpy views without copies where possible. Inference only
  (no gradients flow through it).
- ``ternarize_linear_layers(model, ...)``: replaces every ``nn.Linear`` of a model in place.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from .._extras import require
from ..ternary import TernaryLinear

__all__ = [  # noqa: F822 (TernaryLinearModule: module __getattr__, torch imported lazily)
    "TernaryLinearModule", "ternarize_linear_layers", "require_torch", "fake_ternarize_linear_layers",
    "unfake_linear_layers",
]


def require_torch() -> Any:
    return require("torch", "fastembed_core.integrations.torch", "torch")[0]


@functools.lru_cache(maxsize=None)
def _module_class() -> type:
    torch = require_torch()

    class TernaryLinearModule(torch.nn.Module):
        """Drop-in for a ``torch.nn.Linear`` at inference, computing with a ternary weight.

        ``forward(x)``: x [..., in_features] on the CPU (any float dtype; computed in float32) ->
        [..., out_features] in x's dtype. ``num_threads=None`` uses all cores (the kernels' own
        thread pool, not torch's).
        """

        def __init__(self, linear: TernaryLinear, *, num_threads: int | None = None) -> None:
            super().__init__()
            if not isinstance(linear, TernaryLinear):
                raise TypeError(f"linear must be a TernaryLinear, not {type(linear).__name__}")
            self.linear = linear
            self.num_threads = num_threads
            self.in_features = linear.in_features
            self.out_features = linear.out_features

        @classmethod
        def from_linear(cls, layer: Any, *, num_threads: int | None = None, **ternarize_kwargs: Any):
            """Ternarize an ``nn.Linear`` (keyword options as :func:`fastembed_core.ternarize`)."""
            if not isinstance(layer, torch.nn.Linear):
                raise TypeError(f"layer must be a torch.nn.Linear, not {type(layer).__name__}")
            w = layer.weight.detach().to("cpu", torch.float32).numpy()
            b = None if layer.bias is None else layer.bias.detach().to("cpu", torch.float32).numpy()
            return cls(TernaryLinear.from_dense(w, b, **ternarize_kwargs), num_threads=num_threads)

        def forward(self, x: Any) -> Any:
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"x must be a torch.Tensor, not {type(x).__name__}")
            if x.device.type != "cpu":
                raise ValueError(f"x must be on the CPU, not {x.device}")
            if not x.is_floating_point():
                raise TypeError(f"x must be a floating tensor, not {x.dtype}")
            if x.dim() == 0 or x.shape[-1] != self.in_features:
                raise ValueError(f"x must have shape [..., {self.in_features}], got {tuple(x.shape)}")
            xn = x.detach().to(torch.float32).contiguous().numpy()  # a view when already float32
            y = torch.from_numpy(self.linear(xn, num_threads=self.num_threads))
            return y if x.dtype == torch.float32 else y.to(x.dtype)

        def extra_repr(self) -> str:
            return (
                f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.linear.bias is not None}, weight_bytes={self.linear.weight.nbytes}"
            )

    return TernaryLinearModule


def __getattr__(name: str) -> Any:
    if name == "TernaryLinearModule":
        return _module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ternarize_linear_layers(
    model: Any,
    *,
    include: Callable[[str, Any], bool] | None = None,
    num_threads: int | None = None,
    **ternarize_kwargs: Any,
) -> int:
    """Replace the ``nn.Linear`` modules of ``model`` in place by ``TernaryLinearModule``.

    ``include(name, layer)`` (optional) chooses the layers to convert (``name`` as in
    ``model.named_modules()``); ternarize options (``scale``, ``threshold``, ``fit``) pass through.
    Returns the number of layers replaced. The model becomes inference-only for those layers.
    """
    torch = require_torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    cls = _module_class()
    targets = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear) and (include is None or include(name, mod))
    ]
    for name, mod in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, cls.from_linear(mod, num_threads=num_threads, **ternarize_kwargs))
    return len(targets)


@functools.lru_cache(maxsize=None)
def _fake_class() -> type:
    torch = require_torch()

    class FakeTernaryLinear(torch.nn.Module):
        """Training-time stand-in for an ``nn.Linear`` (quantization-aware training): the forward pass
        computes with the per-row ternary weight (threshold ``mean|row|``, scale = mean |w| of the kept
        entries: ``ternarize``'s default, ``scale="row"``) and int8 per-token activations (absmax),
        as the kernels do; gradients pass straight through to the float weight."""

        def __init__(self, linear: Any) -> None:
            super().__init__()
            self.weight, self.bias = linear.weight, linear.bias

        def forward(self, x: Any) -> Any:
            w = self.weight
            a = w.abs().mean(dim=1, keepdim=True).clamp_min(1e-12)
            t = torch.clamp(torch.round(w / a), -1, 1)
            nz = (t != 0).to(w.dtype)
            s = (w.abs() * nz).sum(1, keepdim=True) / nz.sum(1, keepdim=True).clamp_min(1)
            wq = w + (s * t - w).detach()
            xs = 127 / x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-30)
            xq = x + (torch.clamp(torch.round(x * xs), -128, 127) / xs - x).detach()
            return torch.nn.functional.linear(xq, wq, self.bias)

    return FakeTernaryLinear


def _swap(model: Any, match: Callable[[Any], bool], make: Callable[[Any], Any]) -> int:
    targets = [(name, mod) for name, mod in model.named_modules() if match(mod)]
    for name, mod in targets:
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, make(mod))
    return len(targets)


def fake_ternarize_linear_layers(model: Any) -> int:
    """Replace every ``nn.Linear`` of ``model`` in place by a trainable straight-through ternary
    stand-in sharing its parameters (for self-distillation); :func:`unfake_linear_layers` undoes it.
    Returns the number of layers replaced."""
    torch = require_torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    cls = _fake_class()
    return _swap(model, lambda m: isinstance(m, torch.nn.Linear), cls)


def unfake_linear_layers(model: Any) -> int:
    """Put plain ``nn.Linear`` modules (holding the trained float weights) back in place of the
    stand-ins of :func:`fake_ternarize_linear_layers`; returns how many."""
    torch = require_torch()
    cls = _fake_class()

    def make(m: Any) -> Any:
        lin = torch.nn.Linear(m.weight.shape[1], m.weight.shape[0], bias=m.bias is not None)
        lin.weight, lin.bias = m.weight, m.bias
        return lin

    return _swap(model, lambda m: isinstance(m, cls), make)
