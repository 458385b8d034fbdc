"""Activations by name, shared by ``norm_act`` and the models.

Proxy Normalization needs the activation as a plain function (to push its proxy distribution through it), so
both the functional form and a module are exposed.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Activation = Callable[[torch.Tensor], torch.Tensor]

# leaky_relu uses slope 0.2, the value SPADE and most GAN code use.
_FUNCTIONS: dict[str, Activation] = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "silu": F.silu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}
_ALIASES = {"none": "identity", "linear": "identity", "lrelu": "leaky_relu", "swish": "silu"}


def list_activations() -> list[str]:
    """Names accepted by :func:`activation_fn` and :func:`build_activation`."""
    return sorted(_FUNCTIONS)


def _canonical(name: str | None) -> str:
    key = "identity" if name is None else str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in _FUNCTIONS:
        raise ValueError(f"unknown activation {name!r}; valid activations: {', '.join(list_activations())}")
    return key


def activation_fn(name: str | None) -> Activation:
    """The activation ``name`` as a function of a tensor (``None`` means identity)."""
    return _FUNCTIONS[_canonical(name)]


class Act(nn.Module):
    """An activation chosen by name, as a module; shape-preserving."""

    def __init__(self, name: str | None = "relu") -> None:
        super().__init__()
        self.name = _canonical(name)
        self._fn = _FUNCTIONS[self.name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)

    def extra_repr(self) -> str:
        return self.name


def build_activation(name: str | None) -> nn.Module:
    """A module for the activation ``name``; ``nn.Identity`` for identity/None."""
    key = _canonical(name)
    return nn.Identity() if key == "identity" else Act(key)
