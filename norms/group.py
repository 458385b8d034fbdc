"""Group normalization and layer normalization over (C, H, W) (= group norm with one group)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def check_groups(num_features: int, groups: int, name: str = "group") -> None:
    """Raise a ``ValueError`` that suggests valid group counts when ``groups`` does not divide ``num_features``."""
    if groups < 1:
        raise ValueError(f"{name} norm: groups must be >= 1, got {groups}")
    if num_features % groups:
        valid = [g for g in (64, 32, 16, 8, 4, 2, 1) if num_features % g == 0]
        raise ValueError(
            f"{name} norm: num_features={num_features} is not divisible by groups={groups}; "
            f"pass groups=G with G dividing {num_features} (e.g. {', '.join(map(str, valid[:4]))})"
        )


DEFAULT_GROUPS = 32  # Wu & He (2018)


def default_groups(num_features: int) -> int:
    """``gcd(32, C)``: 32 groups as in Wu & He (2018) when ``C`` allows it, else the largest count dividing ``C``.

    >>> default_groups(64), default_groups(48), default_groups(3)
    (32, 16, 1)
    """
    return math.gcd(DEFAULT_GROUPS, num_features)


class GroupNorm(nn.GroupNorm):
    """Group norm: per sample, over (C/G, *spatial) within each of ``groups`` channel groups; batch-independent.

    Input ``(B, C, *)``; output same shape. ``groups=None`` (the default) is :func:`default_groups`: 32 as in
    Wu & He (2018) whenever ``C`` is a multiple of 32, so a model of any width can use ``"group"`` unchanged; an
    explicit ``groups`` must divide ``C``.
    """

    def __init__(self, num_features: int, groups: int | None = None, eps: float = 1e-5, affine: bool = True) -> None:
        if groups is None:
            groups = default_groups(num_features)
        check_groups(num_features, groups)
        super().__init__(groups, num_features, eps=eps, affine=affine)


class LayerNorm(nn.Module):
    """Layer norm over (C, *spatial) per sample, with a per-channel affine; batch-independent.

    ``nn.LayerNorm`` needs the spatial size at construction, which a conv net does not know; normalizing over
    (C, H, W) is group norm with one group, so that kernel is used. Input ``(B, C, *)``; output same shape.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_features, self.eps, self.affine = num_features, eps, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"LayerNorm({self.num_features}) got input of shape {tuple(x.shape)}")
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"
