"""Exponential moving average of a network's weights (Polyak averaging), shared by the trainers.

Small batches on a CPU make the last iterate noisy; the average of the recent iterates is what gets exported.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ema_update"]


@torch.no_grad()
def ema_update(average: nn.Module, current: nn.Module, decay: float) -> None:
    """``average <- decay * average + (1 - decay) * current`` for the parameters; buffers are copied.

    Both modules must have the same structure (``average`` is typically a ``copy.deepcopy`` of ``current``).
    Buffers (BatchNorm's running statistics) are already running averages of their own, so they are taken as they are.
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
    for avg, cur in zip(average.parameters(), current.parameters(), strict=True):
        avg.lerp_(cur.detach().to(avg.dtype), 1.0 - decay)
    for avg, cur in zip(average.buffers(), current.buffers(), strict=True):
        avg.copy_(cur)
