"""The "no normalization" choice, so that ``none`` is a registry name like any other."""

from __future__ import annotations

import torch
from torch import nn


class NoNorm(nn.Module):
    """Identity with the norm constructor signature; ``affine`` and other norm kwargs are accepted and ignored."""

    def __init__(self, num_features: int, affine: bool = True, **_: object) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return str(self.num_features)
