"""Batch normalization (and its synchronized variant), as honest wrappers over ``torch.nn``."""

from __future__ import annotations

import torch
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


class SyncBatchNorm(BatchNorm):
    """Batch norm whose training statistics are those of the whole distributed batch, on any backend.

    Each process reduces its slice to per-channel ``(count, mean, M2)`` (:mod:`norms.stats`), the pieces are
    all-gathered (differentiably: each rank's input gradient includes the other ranks' dependence on its
    statistics) and merged exactly (Chan et al.), so 2 processes x batch b compute what 1 process x batch 2b does,
    with gloo on CPU as with NCCL. Without an initialized process group (one process, eval) it is :class:`BatchNorm`,
    decided at call time (models are built before Lightning starts DDP). torch's ``nn.SyncBatchNorm`` refuses CPU
    modules, which is why this is not a subclass of it.

    Args: those of :class:`BatchNorm`, plus ``process_group`` (default: the whole world).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
    ) -> None:
        super().__init__(
            num_features, eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats
        )
        self.process_group = process_group

    def _synced(self) -> bool:
        import torch.distributed as dist

        return (
            self.training
            and dist.is_available()
            and dist.is_initialized()
            and dist.get_world_size(self.process_group) > 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not self._synced():
            return super().forward(x)
        from norms import stats

        dims = [0, *range(2, x.dim())]
        total = stats.all_reduce(stats.moments(x, dims), self.process_group)  # fields (C,), float64
        mean, var = total.mean, total.m2 / total.count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * total.count / (total.count - 1).clamp(min=1)
                self.running_mean.mul_(1 - f).add_(mean.to(self.running_mean.dtype), alpha=f)
                self.running_var.mul_(1 - f).add_(unbiased.to(self.running_var.dtype), alpha=f)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        inv = torch.rsqrt(var + self.eps)
        scale = inv if self.weight is None else self.weight.to(inv.dtype) * inv
        shift = -mean * scale if self.bias is None else self.bias.to(inv.dtype) - mean * scale
        return (x * scale.to(x.dtype).view(shape) + shift.to(x.dtype).view(shape)).to(x.dtype)
