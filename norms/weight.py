"""Weight standardization (Qiao et al. 2019): convolutions whose filters have zero mean and unit variance."""

from __future__ import annotations

import torch
from torch import nn


def standardize_weight(weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standardize each output filter over its fan-in.

    Args:
        weight: ``(O, I, kH, kW)`` (any rank >= 2; statistics over all dims but the first).
    Returns:
        ``(weight - mean) / sqrt(var + eps)`` per output channel, same shape.
    """
    dims = tuple(range(1, weight.dim()))
    var, mean = torch.var_mean(weight, dim=dims, keepdim=True, unbiased=False)
    return (weight - mean) * torch.rsqrt(var + eps)


class WSConv2d(nn.Conv2d):
    """Drop-in for :class:`torch.nn.Conv2d` that convolves with the standardized weight.

    Same constructor as ``nn.Conv2d`` plus ``ws_eps``. Pairs with batch-independent norms (group/layer) to
    recover batch-norm-like optimisation at tiny batch sizes. Input ``(B, I, H, W)`` -> ``(B, O, H', W')``.
    """

    def __init__(self, *args, ws_eps: float = 1e-5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ws_eps = ws_eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, standardize_weight(self.weight, self.ws_eps), self.bias)
