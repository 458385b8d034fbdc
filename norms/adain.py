"""Adaptive instance normalization (Huang & Belongie 2017).

``AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)`` with statistics per sample and channel over the
spatial dims. Masks restrict the statistics to a region (spatial control: one style per region).
"""
from __future__ import annotations

import torch
from torch import nn

from norms.instance import InstanceNorm
from norms.registry import NormSpec, get_norm


def mean_std(x: torch.Tensor, eps: float = 1e-5, mask: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel spatial mean and std (biased variance, as in the paper and InstanceNorm).

    Args:
        x: ``(B, C, H, W)``.
        mask: optional ``(B or 1, 1, H, W)`` weights in [0, 1]; statistics over the pixels it selects.
    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)``; ``std = sqrt(var + eps)``.
    """
    if x.dim() < 3:
        raise ValueError(f"mean_std expects (B, C, H, W), got shape {tuple(x.shape)}")
    dims = tuple(range(2, x.dim()))
    if mask is None:
        var, mean = torch.var_mean(x, dim=dims, keepdim=True, unbiased=False)
    else:
        mask = mask.to(x.dtype)
        if mask.shape[-2:] != x.shape[-2:] or mask.shape[1] != 1:
            raise ValueError(f"mask must be (B, 1, {x.shape[-2]}, {x.shape[-1]}), got {tuple(mask.shape)}")
        area = mask.sum(dim=dims, keepdim=True)
        if bool((area <= 0).any()):
            raise ValueError("mask selects no pixels: each region needs at least one pixel")
        mean = (x * mask).sum(dim=dims, keepdim=True) / area
        var = (((x - mean) ** 2) * mask).sum(dim=dims, keepdim=True) / area
    return mean, torch.sqrt(var + eps)


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5,
          content_mask: torch.Tensor | None = None, style_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Re-normalize ``content`` to the channel statistics of ``style``.

    Args:
        content: ``(B, C, H, W)`` features.
        style: ``(B, C, H', W')`` features (any spatial size).
        content_mask / style_mask: optional ``(B, 1, H, W)`` / ``(B, 1, H', W')`` regions for the statistics.
    Returns:
        ``(B, C, H, W)``. With ``content_mask`` only the masked region is meaningful; blend regions yourself.
    """
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(f"content {tuple(content.shape)} and style {tuple(style.shape)} must share (B, C)")
    c_mean, c_std = mean_std(content, eps, content_mask)
    s_mean, s_std = mean_std(style, eps, style_mask)
    return (content - c_mean) / c_std * s_std + s_mean


class AdaIN(nn.Module):
    """AdaIN whose normalize step is any registry norm (parameter-free), default ``instance`` (the paper).

    ``forward(content (B, C, H, W), style (B, C, H', W'), content_mask=None, style_mask=None) -> (B, C, H, W)``:
    ``norm(content) * sigma(style) + mu(style)``. A ``content_mask`` restricts the normalization statistics and
    therefore needs the instance normalize step; a ``style_mask`` works with any norm.
    """

    def __init__(self, num_features: int, norm: NormSpec = "instance", eps: float = 1e-5, **norm_kw) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.norm = get_norm(norm)(num_features, affine=False, **norm_kw)

    def forward(self, content: torch.Tensor, style: torch.Tensor, content_mask: torch.Tensor | None = None,
                style_mask: torch.Tensor | None = None) -> torch.Tensor:
        if content.shape[:2] != style.shape[:2]:
            raise ValueError(f"content {tuple(content.shape)} and style {tuple(style.shape)} must share (B, C)")
        if content_mask is not None:
            if not isinstance(self.norm, InstanceNorm):
                raise ValueError("content_mask (per-region statistics) requires the 'instance' normalize step, "
                                 f"got {type(self.norm).__name__}")
            c_mean, c_std = mean_std(content, self.eps, content_mask)
            normalized = (content - c_mean) / c_std
        else:
            normalized = self.norm(content)
        s_mean, s_std = mean_std(style, self.eps, style_mask)
        return normalized * s_std + s_mean
