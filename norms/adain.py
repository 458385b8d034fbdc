"""Adaptive instance normalization (Huang & Belongie 2017).

``AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)`` with statistics per sample and channel over the
spatial dims. Masks restrict the statistics to a region (spatial control: one style per region). Either side's
statistics may be given precomputed as :class:`norms.stats.Moments` (merged over the tiles of an image too large for
one pass, tracked over video frames, all-reduced over processes) instead of being taken from the tensor in hand.
"""

from __future__ import annotations

import torch
from torch import nn

from norms.group import GroupNorm, LayerNorm
from norms.instance import InstanceNorm
from norms.registry import NormSpec, get_norm
from norms.stats import Moments, finalize, group_moments, moments

__all__ = ["mean_std", "adain", "AdaIN", "stat_groups"]


def mean_std(x: torch.Tensor, eps: float = 1e-5, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel spatial mean and std (biased variance, as in the paper and InstanceNorm).

    ``finalize(moments(x, mask=mask))`` in ``x``'s dtype, shaped for broadcasting.

    Args:
        x: ``(B, C, H, W)``.
        mask: optional ``(B or 1, 1, H, W)`` weights in [0, 1]; statistics over the pixels it selects.
    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)``; ``std = sqrt(var + eps)``.
    """
    if x.dim() < 3:
        raise ValueError(f"mean_std expects (B, C, H, W), got shape {tuple(x.shape)}")
    if mask is not None and (mask.shape[-2:] != x.shape[-2:] or mask.shape[1] != 1):
        raise ValueError(f"mask must be (B, 1, {x.shape[-2]}, {x.shape[-1]}), got {tuple(mask.shape)}")
    return _broadcast(finalize(moments(x, mask=mask), eps), x)


def _broadcast(stats: tuple[torch.Tensor, torch.Tensor], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, C)`` float64 statistics -> ``(B, C, 1, ...)`` in ``like``'s dtype and device."""
    extra = (1,) * (like.dim() - 2)
    return tuple(t.reshape(*t.shape, *extra).to(like.device, like.dtype) for t in stats)  # type: ignore[return-value]


def _style_stats(
    style: torch.Tensor | None, style_stats: Moments | None, eps: float, mask: torch.Tensor | None
) -> Moments | tuple[torch.Tensor, torch.Tensor]:
    if style_stats is not None:
        return finalize(style_stats, eps)
    if style is None:
        raise ValueError("give the style features or their precomputed style_stats")
    return finalize(moments(style, mask=mask), eps)


def adain(
    content: torch.Tensor,
    style: torch.Tensor | None,
    eps: float = 1e-5,
    content_mask: torch.Tensor | None = None,
    style_mask: torch.Tensor | None = None,
    content_stats: Moments | None = None,
    style_stats: Moments | None = None,
) -> torch.Tensor:
    """Re-normalize ``content`` to the channel statistics of ``style``.

    Args:
        content: ``(B, C, H, W)`` features.
        style: ``(B, C, H', W')`` features (any spatial size), or None when ``style_stats`` is given.
        content_mask / style_mask: optional ``(B, 1, H, W)`` / ``(B, 1, H', W')`` regions for the statistics.
        content_stats / style_stats: precomputed ``(B, C)`` :class:`Moments` used instead of the tensors' own (e.g. the
            whole image's, merged over tiles); ``content_stats`` replaces ``content_mask``.
    Returns:
        ``(B, C, H, W)``. With ``content_mask`` only the masked region is meaningful; blend regions yourself.
    """
    if style is not None and content.shape[:2] != style.shape[:2]:
        raise ValueError(f"content {tuple(content.shape)} and style {tuple(style.shape)} must share (B, C)")
    if content_stats is None:
        content_stats = moments(content, mask=content_mask)
    _check_stats("content_stats", content_stats, content)
    if style_stats is not None:
        _check_stats("style_stats", style_stats, content)
    c_mean, c_std = _broadcast(finalize(content_stats, eps), content)
    s_mean, s_std = _broadcast(_style_stats(style, style_stats, eps, style_mask), content)
    return (content - c_mean) / c_std * s_std + s_mean


def _check_stats(name: str, stats: Moments, x: torch.Tensor) -> None:
    if not isinstance(stats, Moments):
        raise TypeError(f"{name} must be norms.stats.Moments, got {type(stats).__name__}")
    if tuple(stats.shape) != tuple(x.shape[:2]) and tuple(stats.shape) != (1, x.shape[1]):
        raise ValueError(
            f"{name} of shape {tuple(stats.shape)} do not fit features {tuple(x.shape)}: "
            f"expected (B, C) = {tuple(x.shape[:2])}"
        )


def stat_groups(norm: nn.Module) -> int | None:
    """How a parameter-free normalize step pools channels for its per-sample statistics: ``C`` for instance norm,
    ``G`` for group norm, 1 for layer norm; None for one whose output does not depend on the sample's statistics
    (batch / online norm in eval mode, none), which can be applied to any piece of a tensor as it is."""
    if isinstance(norm, InstanceNorm):
        return None if (norm.track_running_stats and not norm.training) else norm.num_features
    if isinstance(norm, GroupNorm):
        return norm.num_groups
    if isinstance(norm, LayerNorm):
        return 1
    if norm.training:
        raise ValueError(
            f"{type(norm).__name__} in training mode normalizes with batch statistics: "
            "precomputed statistics apply only in eval mode"
        )
    return None


class AdaIN(nn.Module):
    """AdaIN whose normalize step is any registry norm (parameter-free), default ``instance`` (the paper).

    ``forward(content (B, C, H, W), style (B, C, H', W') or None, content_mask=None, style_mask=None,
    content_stats=None, style_stats=None) -> (B, C, H, W)``: ``norm(content) * sigma(style) + mu(style)``.
    A ``content_mask`` restricts the normalization statistics and therefore needs the instance normalize step.
    ``content_stats`` (per-channel :class:`Moments`, ``(B, C)``) replace the content's own statistics for the
    instance, group and layer steps (merged into the norm's groups here); a step without per-sample statistics (batch
    or online norm in eval mode, none) ignores them, since its output is the same for any piece of the tensor.
    """

    def __init__(self, num_features: int, norm: NormSpec = "instance", eps: float = 1e-5, **norm_kw) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.norm = get_norm(norm)(num_features, affine=False, **norm_kw)

    def forward(
        self,
        content: torch.Tensor,
        style: torch.Tensor | None = None,
        content_mask: torch.Tensor | None = None,
        style_mask: torch.Tensor | None = None,
        content_stats: Moments | None = None,
        style_stats: Moments | None = None,
    ) -> torch.Tensor:
        if style is not None and content.shape[:2] != style.shape[:2]:
            raise ValueError(f"content {tuple(content.shape)} and style {tuple(style.shape)} must share (B, C)")
        if content_mask is not None and content_stats is None:
            content_stats = moments(content, mask=content_mask)
        if content_stats is not None:
            normalized = self.normalize_with(content, content_stats, masked=content_mask is not None)
        else:
            normalized = self.norm(content)
        if style_stats is not None:
            _check_stats("style_stats", style_stats, content)
        s_mean, s_std = _broadcast(_style_stats(style, style_stats, self.eps, style_mask), content)
        return normalized * s_std + s_mean

    def normalize_with(self, content: torch.Tensor, stats: Moments, masked: bool = False) -> torch.Tensor:
        """The normalize step with per-channel ``stats`` ``(B, C)`` in place of ``content``'s own."""
        _check_stats("content_stats", stats, content)
        groups = stat_groups(self.norm)
        if masked and groups != self.num_features:
            raise ValueError(
                "content_mask (per-region statistics) requires the 'instance' normalize step, "
                f"got {type(self.norm).__name__}"
            )
        if groups is None:
            return self.norm(content)
        eps = getattr(self.norm, "eps", self.eps)
        mean, std = finalize(group_moments(stats, groups) if groups != self.num_features else stats, eps)
        per_channel = self.num_features // groups
        mean, std = (t.repeat_interleave(per_channel, dim=-1) for t in (mean, std))
        mean, std = _broadcast((mean, std), content)
        return (content - mean) / std
