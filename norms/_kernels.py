"""Numerical kernels shared by Online Normalization and Proxy Normalization (torch only).

- :func:`linear_scan`: the batch-wide solution of a linear recurrence ``h[n+1] = d[n] * h[n] + x[n]`` (Online Norm's
  four state updates) without a per-sample Python loop;
- :func:`row_moments`, :func:`row_sums`: fused per-row statistics over the last dim of an ``(N, C, L)`` tensor,
  through the group-norm kernels (faster on CPU than ``var_mean`` / ``(g * x).sum``);
- :func:`stat_dtype`: the dtype statistics are kept in.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

__all__ = ["linear_scan", "row_moments", "row_sums", "stat_dtype"]

# Up to this many samples, constant-decay recurrences use one (N, N) decay-matrix product (few ops, cached
# matrix); beyond it, and for per-sample decays, a recursive-doubling scan (O(N log N) work, O(N) memory).
_MATRIX_SCAN_MAX = 1024


@functools.lru_cache(maxsize=32)
def _decay_matrix(n: int, decay: float, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``W[k, j] = decay**(k - j)`` for ``j <= k`` (else 0), shape ``(n, n)``, and ``decay**(k + 1)`` ``(n,)``."""
    k = torch.arange(n, device=device, dtype=torch.float64)
    expo = k[:, None] - k[None, :]
    a = torch.tensor(decay, dtype=torch.float64, device=device)
    w = torch.where(expo >= 0, a ** expo.clamp_min(0), torch.zeros((), dtype=torch.float64, device=device))
    return w.to(dtype), (a ** (k + 1)).to(dtype)


def linear_scan(decay: Tensor | float, inputs: Tensor, init: Tensor) -> tuple[Tensor, Tensor]:
    """Solve ``h[n+1] = decay[n] * h[n] + inputs[n]`` for ``n = 0..N-1`` without a per-sample loop.

    A constant decay (Python float) with ``N <= 1024`` is one product with the triangular matrix
    ``decay**(k - j)`` (powers are at most 1, no overflow). Otherwise a parallel prefix scan by recursive
    doubling: after the step with offset ``s`` every position holds the composed map ``h -> D * h + X`` of its last
    ``2s`` steps, combining an earlier window 0 with a later window 1 as ``(D1 * D0, D1 * X0 + X1)``;
    ``ceil(log2 N)`` Python iterations of ``(N, C)`` elementwise ops, only products of decays (no divisions), so
    zero and negative decays are exact.

    Args:
        decay: a Python float (same decay everywhere) or a tensor ``(N, C)``.
        inputs: ``(N, C)``.
        init: ``(C,)`` state before the first sample.

    Returns:
        ``(before, final)``: ``before`` is ``(N, C)`` with the state *before* each sample (``before[0] == init``),
        ``final`` is ``(C,)``, the state after the last sample.
    """
    n = inputs.shape[0]
    init = init.to(inputs.dtype)
    if n == 0:
        return inputs.new_empty(inputs.shape), init.clone()
    if not isinstance(decay, Tensor) and n <= _MATRIX_SCAN_MAX:
        w, powers = _decay_matrix(n, float(decay), inputs.dtype, inputs.device)
        after = torch.addmm(powers[:, None] * init[None], w, inputs)  # state after each sample
        return torch.cat([init[None], after[:-1]]), after[-1].clone()
    d = decay.to(inputs.dtype) if isinstance(decay, Tensor) else torch.full_like(inputs, float(decay))
    # fold the initial state into the first step, then scan from a zero state
    x = torch.cat([torch.addcmul(inputs[:1], d[:1], init[None]), inputs[1:]])
    offset = 1
    while offset < n:
        x = torch.cat([x[:offset], torch.addcmul(x[offset:], d[offset:], x[:-offset])])
        if offset * 2 < n:  # the composed decays are only needed for a further round
            d = torch.cat([d[:offset], d[offset:] * d[:-offset]])
        offset *= 2
    return torch.cat([init[None], x[:-1]]), x[-1].clone()


def row_moments(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean and biased variance over the last dim of ``x`` ``(N, C, L)``, plus a scratch buffer.

    Uses the group-norm kernel with one group per (n, c) row: several times faster than ``torch.var_mean``
    over the last dim on CPU, and as accurate. With ``eps=0`` it returns ``rstd = 1 / sqrt(var)``, so
    ``var = rstd**-2`` (``rstd = inf`` for a constant row gives ``var = 0``). The kernel also writes a
    normalized copy of ``x``; it is returned as scratch (shape and dtype of ``x``) for the caller to overwrite,
    because on CPU a fresh multi-MB buffer costs more in page faults than a pass of arithmetic over it.

    Returns:
        ``(mean (N, C), var (N, C), scratch (N, C, L))``.
    """
    n, c, length = x.shape
    rows = n * c
    scratch, mean, rstd = torch.ops.aten.native_group_norm(
        x.reshape(1, rows, length), None, None, 1, rows, length, rows, 0.0
    )
    return mean.view(n, c), rstd.view(n, c).reciprocal().square(), scratch.view(n, c, length)


def row_sums(g: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(sum_l g * x, sum_l g)`` over the last dim of ``g``, ``x`` ``(N, C, L)`` -> two ``(N, C)`` tensors.

    One pass and no ``g * x`` temporary: the group-norm backward with one group per row, mean 0 and rstd 1,
    returns exactly these sums as its weight and bias gradients.
    """
    n, c, length = x.shape
    rows = n * c
    zeros = x.new_zeros(1, rows)
    _, gxs, gs = torch.ops.aten.native_group_norm_backward(
        g.reshape(1, rows, length),
        x.reshape(1, rows, length),
        zeros,
        zeros + 1,
        None,
        1,
        rows,
        length,
        rows,
        [False, True, True],
    )
    return gxs.view(n, c), gs.view(n, c)


def stat_dtype(dtype: torch.dtype) -> torch.dtype:
    # Statistics in fp32 for half/bf16 inputs, fp64 when the input is fp64 (gradcheck, references).
    return torch.float64 if dtype == torch.float64 else torch.float32
