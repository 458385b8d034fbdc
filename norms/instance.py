"""Instance normalization: per sample and channel over the spatial dims."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.instancenorm import _InstanceNorm


class InstanceNorm(_InstanceNorm):
    """Instance norm for ``(B, C, *spatial)`` with at least one spatial dim; batch-independent.

    Same kernel as :class:`torch.nn.InstanceNorm2d`, but affine by default like every other registry norm
    (pass ``affine=False`` for the parameter-free form that AdaIN and SPADE use).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = False,
    ) -> None:
        super().__init__(
            num_features, eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats
        )

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 3:
            raise ValueError(
                f"InstanceNorm needs at least one spatial dim, (B, C, H, ...); got shape {tuple(input.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if x.shape[1] != self.num_features:
            raise ValueError(f"InstanceNorm({self.num_features}) got {x.shape[1]} channels, shape {tuple(x.shape)}")
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_input_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
