"""Batch normalization (and its synchronized variant), as honest wrappers over ``torch.nn``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class BatchNorm(_BatchNorm):
    """Batch norm over (B, *spatial) per channel; accepts ``(B, C)``, ``(B, C, L)``, ``(B, C, H, W)``, ...

    Identical maths to :class:`torch.nn.BatchNorm2d` (the same kernel); it only relaxes the input-rank check so
    one registry name serves every rank. Batch-dependent in training, running statistics in eval.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats
        )

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"BatchNorm expects (B, C, ...) input, got shape {tuple(input.shape)}")


class SyncBatchNorm(nn.SyncBatchNorm):
    """Batch norm whose statistics are all-reduced across processes under distributed training.

    torch's SyncBatchNorm already falls back to plain batch norm when no process group is initialised (single
    process, CPU, eval), which is exactly the "SyncBatchNorm under DDP, BatchNorm otherwise" behaviour we want,
    decided at call time rather than at construction (models are built before Lightning starts DDP).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats
        )
