"""Spatially-adaptive denormalization (Park et al. 2019).

``SPADE(x, m) = norm(x) * (1 + gamma(m)) + beta(m)``: a parameter-free norm, then a per-pixel scale and shift
predicted from the label map ``m`` (nearest-resized to ``x``). Any registry norm can be the inner norm: with
``proxy`` that is its parameter-free LN/GN step (the proxy activation needs learned affine parameters, which
SPADE replaces by gamma/beta); with ``batch``/``online`` the statistics are batch/stream dependent as usual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from norms.registry import NormSpec, get_norm


def spatial_modulate(normalized: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``normalized * (1 + gamma) + beta``; all ``(B, C, H, W)``. ``1 + gamma`` keeps init close to identity."""
    return normalized * (1 + gamma) + beta


class SPADE(nn.Module):
    """Conditional norm on a label map.

    Args:
        num_features: channels C of ``x``.
        label_nc: channels of the label map (one-hot classes, plus any extra channels such as instance edges).
        param_free_norm: registry name / factory of the inner norm, built with ``affine=False``.
        hidden: channels of the shared conv that embeds the label map (128 in the paper).
        kernel_size: odd kernel size of the three convs.

    Shape:
        ``forward(x (B, C, H, W), segmap (B, label_nc, h, w)) -> (B, C, H, W)``.
    """

    def __init__(
        self,
        num_features: int,
        label_nc: int,
        param_free_norm: NormSpec = "instance",
        hidden: int = 128,
        kernel_size: int = 3,
        **norm_kw,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"SPADE kernel_size must be odd to keep the size, got {kernel_size}")
        pad = kernel_size // 2
        self.num_features, self.label_nc = num_features, label_nc
        self.norm = get_norm(param_free_norm)(num_features, affine=False, **norm_kw)
        self.shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size, padding=pad), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, num_features, kernel_size, padding=pad)
        self.beta = nn.Conv2d(hidden, num_features, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        if segmap.dim() != 4 or segmap.shape[1] != self.label_nc:
            raise ValueError(f"SPADE expects segmap (B, {self.label_nc}, h, w), got {tuple(segmap.shape)}")
        if segmap.shape[0] != x.shape[0]:
            raise ValueError(f"batch mismatch: x has {x.shape[0]} samples, segmap {segmap.shape[0]}")
        segmap = F.interpolate(segmap.to(x.dtype), size=x.shape[2:], mode="nearest")
        hidden = self.shared(segmap)
        return spatial_modulate(self.norm(x), self.gamma(hidden), self.beta(hidden))
