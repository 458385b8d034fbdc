"""Normalization synchronized across processes: Online Norm over every rank's samples, and its conversion helper.

Under data-parallel training each process sees its own slice of the global batch. :class:`SyncOnlineNorm` makes
Online Normalization behave as one process would on the concatenated batch: Online Norm treats a batch as an
ordered stream of samples, so each step all-gathers the per-sample, per-channel statistics (mean and variance in
the forward; five per-sample sums in the backward's control process) in rank order and runs the same scan on every
rank. The cost is a few floats per sample and channel, whatever the spatial size. Every rank ends the step with the
same ``m, var, u, v``, so DDP's ``broadcast_buffers`` (rank 0's buffers copied over the others' before each
forward) changes nothing; with plain :class:`norms.online.OnlineNorm` it throws away every other rank's samples.

Example (one process: the same as OnlineNorm):
    >>> import torch
    >>> norm = SyncOnlineNorm(4)
    >>> norm(torch.randn(2, 4, 3, 3)).shape
    torch.Size([2, 4, 3, 3])
"""

from __future__ import annotations

from torch import nn

from norms.online import OnlineNorm

__all__ = ["SyncOnlineNorm", "convert_sync_online_norm"]


class SyncOnlineNorm(OnlineNorm):
    """:class:`OnlineNorm` whose streaming statistics and control process run over every rank's samples.

    Args: those of :class:`OnlineNorm`, plus ``process_group`` (default: the whole world). Without an initialized
    process group (one process, eval) it is exactly ``OnlineNorm``.
    """

    def __init__(self, num_features: int, *, process_group=None, **kw) -> None:
        super().__init__(num_features, **kw)
        self.process_group = process_group

    def _sync_group(self):
        return self.process_group if self.process_group is not None else True


def convert_sync_online_norm(module: nn.Module, process_group=None) -> nn.Module:
    """Replace every :class:`OnlineNorm` in ``module`` by a :class:`SyncOnlineNorm` with the same settings, weights and
    state (like ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``); returns the converted module."""
    if isinstance(module, OnlineNorm) and not isinstance(module, SyncOnlineNorm):
        new = SyncOnlineNorm(
            module.num_features,
            process_group=process_group,
            alpha_fwd=module.alpha_fwd,
            alpha_bkw=module.alpha_bkw,
            eps=module.eps,
            affine=module.affine,
            ecm=module.ecm,
            clamp_val=module.clamp_val,
            ls_eps=module.ls_eps,
        )
        new.to(device=module.m.device, dtype=module.weight.dtype if module.affine else module.m.dtype)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        converted = convert_sync_online_norm(child, process_group)
        if converted is not child:
            setattr(module, name, converted)
    return module
