"""Mergeable per-channel moments: one statistics core for tiles (space), frames (time) and processes (replicas).

A :class:`Moments` value holds, for every (sample, channel), the count ``n``, the mean ``mu`` and the sum of squared
deviations ``M2 = sum (x - mu)^2`` (so the biased variance is ``M2 / n``). Pieces of one tensor, computed separately,
combine exactly with the parallel update of Chan, Golub & LeVeque (1979)::

    n = n_a + n_b,   d = mu_b - mu_a,   mu = mu_a + d * n_b / n,   M2 = M2_a + M2_b + d^2 * n_a * n_b / n

and many pieces at once (a dim of the fields) with its closed form ``mu = sum n_i mu_i / n``,
``M2 = sum M2_i + sum n_i (mu_i - mu)^2`` (:func:`reduce`). Scaling the counts and ``M2`` of a value by ``w``
(:func:`scale`) weights it without moving its mean, which gives exponential forgetting for streams:
``ema(old, new, decay) = merge(scale(old, decay), new)`` weights the frame ``k`` steps back by ``decay**k``
(the exact, bias-free exponentially weighted mean and variance); with counts kept at 1 it is Online
Normalization's forward update of ``(m, var)``. :func:`all_reduce` merges the values of every process.

Every piece is reduced in the input's statistics dtype (fp32 for bf16/half/fp32, fp64 for fp64: one pass of
``torch.var_mean``, exact for that piece), and the fields are kept and merged in float64, so millions of positions in
thousands of pieces add up without drift.

The maths is in functions; :class:`RunningMoments` is a thin module that owns a stream's state.

>>> import torch
>>> x = torch.randn(2, 3, 10, 7)
>>> whole = moments(x)
>>> parts = merge(moments(x[..., :4, :]), moments(x[..., 4:, :]))  # two uneven tiles
>>> torch.allclose(parts.mean, whole.mean) and torch.allclose(parts.m2, whole.m2)
True
>>> mean, std = finalize(parts, eps=0.0)
>>> mean.shape, torch.allclose(std, x.var(dim=(2, 3), unbiased=False).sqrt().double())
(torch.Size([2, 3]), True)
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from norms._kernels import stat_dtype

__all__ = [
    "Moments",
    "empty",
    "moments",
    "merge",
    "reduce",
    "scale",
    "ema",
    "finalize",
    "group_moments",
    "all_reduce",
    "RunningMoments",
]

ACC = torch.float64  # the dtype fields are kept and merged in


class Moments(NamedTuple):
    """Counts, means and sums of squared deviations, all float64 and of one shape (e.g. ``(B, C)``).

    ``count`` may be fractional (masks with soft weights, exponential forgetting) and zero (a piece that saw nothing:
    it merges as a no-op).
    """

    count: Tensor
    mean: Tensor
    m2: Tensor

    @property
    def var(self) -> Tensor:
        """Biased variance ``M2 / n`` (0 where ``n == 0``)."""
        return torch.where(self.count > 0, self.m2 / self.count.clamp_min(1e-300), torch.zeros_like(self.m2))

    @property
    def shape(self) -> torch.Size:
        return self.mean.shape

    def to(self, device: torch.device | str) -> "Moments":
        return Moments(*(t.to(device) for t in self))

    def select(self, index) -> "Moments":
        """The same index applied to every field (e.g. ``m.select((slice(None), 0))``)."""
        return Moments(self.count[index], self.mean[index], self.m2[index])


def empty(shape: Sequence[int], device: torch.device | str | None = None) -> Moments:
    """Moments of nothing (count 0): the identity of :func:`merge`."""
    z = torch.zeros(tuple(shape), dtype=ACC, device=device)
    return Moments(z, z.clone(), z.clone())


def moments(x: Tensor, dims: Sequence[int] | None = None, mask: Tensor | None = None) -> Moments:
    """Moments of ``x`` over ``dims`` (default: every dim after the second, the spatial ones).

    Args:
        x: ``(B, C, *spatial)``, any float dtype (reduced in fp32, or fp64 for fp64 input; differentiable).
        dims: dims to reduce; the others remain in the fields' shape (default ``(B, C)``).
        mask: optional weights in [0, 1] broadcastable to ``x`` (e.g. ``(B, 1, H, W)``): statistics over the positions
            it selects; a region with no position in this piece gets count 0.

    Returns:
        :class:`Moments` whose fields have ``x.shape`` without ``dims`` (``(B, C)`` by default).
    """
    if x.dim() < 2:
        raise ValueError(f"moments expects (B, C, ...), got shape {tuple(x.shape)}")
    dims = tuple(range(2, x.dim())) if dims is None else tuple(d % x.dim() for d in dims)
    xs = x if x.dtype == stat_dtype(x.dtype) else x.to(stat_dtype(x.dtype))
    if mask is None:
        n = 1
        for d in dims:
            n *= x.shape[d]
        if n == 0:  # an empty piece (e.g. a tile past the edge): the identity of merge
            return empty([s for d, s in enumerate(x.shape) if d not in dims], device=x.device)
        var, mean = torch.var_mean(xs, dim=dims, unbiased=False)
        count = torch.full_like(mean, float(n), dtype=ACC)
        return Moments(count, mean.to(ACC), var.to(ACC) * n)
    w = mask.to(xs.dtype).expand_as(xs)
    count = w.sum(dim=dims)
    safe = count.clamp_min(torch.finfo(xs.dtype).tiny)
    mean = (xs * w).sum(dim=dims) / safe
    centred = xs - _unsqueeze(mean, dims, xs.dim())
    m2 = (centred.square() * w).sum(dim=dims)
    return Moments(count.to(ACC), mean.to(ACC), m2.to(ACC))


def _unsqueeze(t: Tensor, dims: tuple[int, ...], ndim: int) -> Tensor:
    for d in sorted(dims):
        t = t.unsqueeze(d)
    return t


def merge(a: Moments, b: Moments) -> Moments:
    """The moments of the union of two disjoint pieces (Chan et al.'s parallel update); counts of 0 are no-ops."""
    n = a.count + b.count
    safe = torch.where(n > 0, n, torch.ones_like(n))
    delta = b.mean - a.mean
    mean = torch.where(n > 0, a.mean + delta * (b.count / safe), torch.zeros_like(n))
    m2 = a.m2 + b.m2 + delta.square() * (a.count * b.count / safe)
    return Moments(n, mean, m2)


def reduce(m: Moments, dim: int | Sequence[int], keepdim: bool = False) -> Moments:
    """Merge all pieces along ``dim`` at once: ``mu = sum n_i mu_i / n``, ``M2 = sum M2_i + sum n_i (mu_i - mu)^2``."""
    n = m.count.sum(dim=dim, keepdim=True)
    safe = torch.where(n > 0, n, torch.ones_like(n))
    mean = (m.count * m.mean).sum(dim=dim, keepdim=True) / safe
    m2 = m.m2.sum(dim=dim, keepdim=True) + (m.count * (m.mean - mean).square()).sum(dim=dim, keepdim=True)
    out = Moments(n, mean, m2)
    return out if keepdim else Moments(*(t.squeeze(dim) for t in out))


def scale(m: Moments, weight: float | Tensor) -> Moments:
    """Weight a value by ``weight`` (counts and ``M2`` scaled, mean unchanged)."""
    return Moments(m.count * weight, m.mean, m.m2 * weight)


def ema(old: Moments, new: Moments, decay: float) -> Moments:
    """Exponential forgetting: ``merge(scale(old, decay), new)``; ``decay`` in [0, 1) is the past's weight per step."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    return merge(scale(old, decay), new)


def group_moments(m: Moments, groups: int) -> Moments:
    """Per-channel ``(..., C)`` moments -> per-group ``(..., G)`` (the statistics of group norm; ``groups=1``: layer
    norm over all channels). ``C`` must be divisible by ``groups``."""
    c = m.shape[-1]
    if groups < 1 or c % groups:
        raise ValueError(f"group_moments: {c} channels cannot form {groups} groups")
    split = Moments(*(t.reshape(*t.shape[:-1], groups, c // groups) for t in m))
    return reduce(split, dim=-1)


def finalize(m: Moments, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """``(mean, std)`` with ``std = sqrt(M2 / n + eps)`` (biased variance, as instance norm), float64, ``m``'s shape.

    Raises ``ValueError`` when some entry has count 0 (e.g. a mask region that selected no position anywhere).
    """
    if bool((m.count <= 0).any()):
        raise ValueError("mask selects no pixels: each region needs at least one pixel")
    return m.mean, torch.sqrt(m.m2 / m.count + eps)


def all_reduce(m: Moments, group=None) -> Moments:
    """Merge the moments of every process of ``group`` (every process gets the same result).

    A no-op without an initialized process group (one process), like ``SyncBatchNorm``'s fallback. Exact: each
    process's ``(n, mu, M2)`` is gathered (differentiably) and merged with :func:`reduce`, never summed as raw powers.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return m
    from torch.distributed.nn.functional import all_gather

    packed = torch.stack([m.count, m.mean, m.m2])
    gathered = torch.stack(all_gather(packed, group=group) if packed.requires_grad else _gather(packed, group))
    return reduce(Moments(gathered[:, 0], gathered[:, 1], gathered[:, 2]), dim=0)


def _gather(t: Tensor, group) -> list[Tensor]:
    import torch.distributed as dist

    out = [torch.empty_like(t) for _ in range(dist.get_world_size(group))]
    dist.all_gather(out, t.contiguous(), group=group)
    return out


class RunningMoments(nn.Module):
    """A stream's per-channel moments with exponential forgetting (frames of a video, steps of training).

    ``update(x)`` folds in the moments of ``x`` ``(B, C, *spatial)`` (over every dim but C) or a :class:`Moments` of
    shape ``(C,)``: ``state = ema(state, new, decay)``. The first update after :meth:`reset_state` starts the
    stream (no bias toward the initial state: counts start at 0). Buffers are float64 and travel with the module's
    state dict.

    Args:
        num_features: C.
        decay: the past's weight per update in [0, 1) (0: only the latest update counts).
    """

    def __init__(self, num_features: int, decay: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.num_features, self.decay = num_features, float(decay)
        for name in Moments._fields:
            self.register_buffer(name, torch.zeros(num_features, dtype=ACC))

    @property
    def value(self) -> Moments:
        return Moments(self.count, self.mean, self.m2)

    @property
    def started(self) -> bool:
        return bool((self.count > 0).all())

    def reset_state(self) -> None:
        """Forget the stream (e.g. at a scene cut)."""
        for name in Moments._fields:
            getattr(self, name).zero_()

    @torch.no_grad()
    def update(self, x: Tensor | Moments) -> Moments:
        new = x if isinstance(x, Moments) else moments(x, dims=[d for d in range(x.dim()) if d != 1])
        if new.shape != (self.num_features,):
            raise ValueError(f"RunningMoments({self.num_features}) got moments of shape {tuple(new.shape)}")
        state = ema(self.value, new.to(self.mean.device), self.decay)
        for name, t in zip(Moments._fields, state):
            getattr(self, name).copy_(t)
        return state

    def mean_std(self, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` of the stream so far, float64 ``(C,)``."""
        return finalize(self.value, eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, decay={self.decay}"
