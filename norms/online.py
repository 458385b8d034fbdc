"""Online Normalization (Chiley et al., NeurIPS 2019).

Batch-size independent normalization: every sample is normalized with running per-channel statistics that
are updated *after* the sample is seen (streaming forward), and the backward pass removes the gradient
components along the normalized output and along the constant direction with two running control variables
``u`` and ``v`` (a control process, deliberately *not* the autograd derivative of the forward).

The paper's reference code walks the batch one sample at a time. All four recurrences are linear in their
state (``m`` and ``var`` decay by ``alpha_fwd``, ``u`` by ``alpha_bkw``, ``v`` by a per-sample factor
``1 - (1 - alpha_bkw) * mean(y_n^2)``), so here the whole batch is solved at once with a triangular
decay-matrix product per block of samples (:func:`linear_scan`) and two fused elementwise passes.

The maths lives in :func:`online_norm`; :class:`OnlineNorm` is a thin module that owns the state buffers,
the affine step and the error-compensation step (layer scaling or activation clamping).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["OnlineNorm", "online_norm", "linear_scan", "ECM_MODES"]

ECM_MODES = ("ac", "ls", None)

# Samples solved per decay-matrix block: memory is O(block^2 * C) for the per-sample-decay recurrence, and
# products of at most `block` decay factors stay far from fp32 under/overflow.
_SCAN_BLOCK = 64


def linear_scan(decay: Tensor | float, inputs: Tensor, init: Tensor, block: int = _SCAN_BLOCK) -> tuple[Tensor, Tensor]:
    """Solve ``h[n+1] = decay[n] * h[n] + inputs[n]`` for ``n = 0..N-1`` without a per-sample loop.

    Within a block of ``k`` samples the solution is ``h[n+1] = sum_{j<=n} P[j, n] * inputs[j] + P0[n] * h_start``
    with ``P[j, n] = prod_{j<i<=n} decay[i]``; ``P`` is built by a cumulative product over a triangular
    matrix (exact for zero and negative decays, no division by running products). Blocks are chained by
    their carry, so only ``ceil(N / block)`` Python iterations run.

    Args:
        decay: a Python float (same decay everywhere) or a tensor ``(N, C)``.
        inputs: ``(N, C)``.
        init: ``(C,)`` state before the first sample.

    Returns:
        ``(before, final)``: ``before`` is ``(N, C)`` with the state *before* each sample (``before[0] == init``),
        ``final`` is ``(C,)``, the state after the last sample.
    """
    n_total = inputs.shape[0]
    if n_total == 0:
        return inputs.new_empty(inputs.shape), init.clone()
    dev, dt = inputs.device, inputs.dtype
    constant = not isinstance(decay, Tensor)
    befores = []
    h = init.to(dt)
    for start in range(0, n_total, block):
        x = inputs[start : start + block]
        k = x.shape[0]
        idx = torch.arange(k, device=dev)
        # lower[n, j] is True for j <= n: input j has reached the state after step n.
        lower = idx[:, None] >= idx[None, :]
        if constant:
            expo = (idx[:, None] - idx[None, :]).clamp_min(0).to(dt)
            a = torch.tensor(float(decay), dtype=dt, device=dev)
            weights = torch.where(lower, a**expo, torch.zeros((), dtype=dt, device=dev))  # (k, k)
            after = weights @ x  # (k, C)
            after = after + (a ** (idx.to(dt) + 1))[:, None] * h
        else:
            d = decay[start : start + block].to(dt)  # (k, C)
            # t[j, n] = d[n] where n > j else 1, so cumprod over n gives prod_{j<i<=n} d[i] for n >= j.
            t = torch.where((idx[None, :] > idx[:, None])[..., None], d[None, :, :], torch.ones((), dtype=dt, device=dev))
            prods = torch.cumprod(t, dim=1)  # (j, n, C)
            prods = prods * lower.T[..., None]  # zero where j > n
            after = torch.einsum("jnc,jc->nc", prods, x)
            after = after + torch.cumprod(d, dim=0) * h
        befores.append(torch.cat([h[None], after[:-1]], dim=0))
        h = after[-1]
    return torch.cat(befores, dim=0), h


def _stat_dtype(dtype: torch.dtype) -> torch.dtype:
    # Statistics in fp32 for half/bf16 inputs, fp64 when the input is fp64 (gradcheck, references).
    return torch.float64 if dtype == torch.float64 else torch.float32


class _OnlineNormFn(torch.autograd.Function):
    """Streaming forward + control-process backward on ``(N, C, L)``; updates the state tensors in place."""

    @staticmethod
    def forward(ctx, x, m, var, u, v, alpha_fwd: float, alpha_bkw: float, eps: float):  # type: ignore[override]
        sd = _stat_dtype(x.dtype)
        xs = x if x.dtype == sd else x.to(sd)
        sigma2, mu = torch.var_mean(xs, dim=2, correction=0)  # (N, C) each
        a = alpha_fwd
        m_before, m_final = linear_scan(a, (1.0 - a) * mu, m.to(sd))
        diff = mu - m_before
        var_in = (1.0 - a) * sigma2 + a * (1.0 - a) * diff.square()
        var_before, var_final = linear_scan(a, var_in, var.to(sd))
        inv_std = torch.rsqrt(var_before + eps)  # (N, C)
        # y = (x - m) / std as one fused multiply-add over the big tensor.
        y = torch.addcmul((-m_before * inv_std)[..., None], xs, inv_std[..., None]).to(x.dtype)
        m.copy_(m_final)
        var.copy_(var_final)
        # Moments of y follow from the statistics, so the backward needs no extra pass over y for them.
        mean_y = diff * inv_std
        mean_y2 = (sigma2 + diff.square()) * inv_std.square()
        ctx.save_for_backward(y, inv_std, mean_y, mean_y2)
        ctx.state = (u, v)
        ctx.alpha_bkw = alpha_bkw
        return y

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        y, inv_std, mean_y, mean_y2 = ctx.saved_tensors
        u, v = ctx.state
        b = 1.0 - ctx.alpha_bkw
        sd = inv_std.dtype
        g = grad_y if grad_y.dtype == sd else grad_y.to(sd)
        ys = y if y.dtype == sd else y.to(sd)
        length = g.shape[2]
        gy = torch.linalg.vecdot(g, ys, dim=2) / length  # mean_hw(g * y), (N, C)
        gm = g.mean(dim=2)  # (N, C)
        # v[n+1] = (1 - b * mean(y_n^2)) * v[n] + mean(g_n * y_n)
        v_before, v_final = linear_scan(1.0 - b * mean_y2, gy, v.to(sd))
        # mean over hw of g~_n / std_n, the input of the u recurrence: u[n+1] = alpha_bkw * u[n] + t[n]
        t = (gm - b * v_before * mean_y) * inv_std
        u_before, u_final = linear_scan(ctx.alpha_bkw, t, u.to(sd))
        v.copy_(v_final)
        u.copy_(u_final)
        # gx = (g - b v y) / std - b u, one fused pass: g * A + y * B + C
        coef_y = (-b * v_before * inv_std)[..., None]
        grad_x = torch.addcmul((-b * u_before)[..., None], g, inv_std[..., None])
        grad_x = grad_x.addcmul_(ys, coef_y).to(grad_y.dtype)
        return grad_x, None, None, None, None, None, None, None


def online_norm(
    x: Tensor,
    m: Tensor,
    var: Tensor,
    u: Tensor,
    v: Tensor,
    *,
    alpha_fwd: float = 0.999,
    alpha_bkw: float = 0.99,
    eps: float = 1e-5,
    training: bool = True,
) -> Tensor:
    """Online-normalize ``x`` (no affine, no error compensation).

    In training mode the samples are processed as a stream in batch order: sample ``n`` is normalized with the
    statistics ``m, var`` accumulated from all earlier samples, then the statistics are updated. ``m`` and ``var``
    are updated in place during the forward, ``u`` and ``v`` during the backward (which implements the paper's
    control process, not the autograd derivative of the forward). In eval mode ``y = (x - m) / sqrt(var + eps)``
    with frozen statistics and an ordinary autograd gradient.

    Args:
        x: input ``(N, C)`` or ``(N, C, *spatial)``; fp32, fp64, fp16 or bf16 (statistics kept in fp32 or fp64).
        m, var, u, v: per-channel state ``(C,)``.

    Returns:
        ``y`` with the shape and dtype of ``x``.
    """
    n, c = x.shape[0], x.shape[1]
    flat = x.reshape(n, c, -1)
    if not training:
        sd = _stat_dtype(x.dtype)
        inv_std = torch.rsqrt(var.to(sd) + eps)[:, None]
        y = (flat.to(sd) - m.to(sd)[:, None]) * inv_std
        return y.to(x.dtype).reshape(x.shape)
    y = _OnlineNormFn.apply(flat, m, var, u, v, float(alpha_fwd), float(alpha_bkw), float(eps))
    return y.reshape(x.shape)


def _check_alpha(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(f"OnlineNorm: {name} must be in [0, 1] (a decay factor), got {value}")
    return value


class OnlineNorm(nn.Module):
    """Online Normalization layer: streaming per-channel normalization + affine + error compensation (ECM).

    Args:
        num_features: channels ``C``.
        alpha_fwd: decay of the forward statistics ``m``, ``var``.
        alpha_bkw: decay of the backward control variables ``u``, ``v``.
        eps: added to ``var`` before the square root.
        affine: learn a per-channel scale ``weight`` (init 1) and shift ``bias`` (init 0).
        ecm: error-compensation step after the affine: ``"ac"`` clamps to ``[-clamp_val, clamp_val]`` (zero
            gradient where clamped; per element, cheap), ``"ls"`` divides each sample by
            ``sqrt(mean_{C,H,W}(y^2) + ls_eps)`` (layer scaling, the paper's choice), ``None`` disables it.
        clamp_val: clamp bound for ``ecm="ac"``.
        ls_eps: epsilon of the layer scaling.

    State (buffers, saved in the ``state_dict``): ``m`` (init 0), ``var`` (init 1), ``u`` (init 0), ``v`` (init 0),
    each ``(C,)`` in fp32. Eval mode uses ``m`` and ``var`` frozen.

    Shape:
        input ``(B, C)`` or ``(B, C, *spatial)``, e.g. ``(B, C, H, W)``; output the same shape and dtype.

    Example:
        >>> norm = OnlineNorm(8)
        >>> norm(torch.randn(4, 8, 16, 16)).shape
        torch.Size([4, 8, 16, 16])
    """

    def __init__(
        self,
        num_features: int,
        alpha_fwd: float = 0.999,
        alpha_bkw: float = 0.99,
        eps: float = 1e-5,
        affine: bool = True,
        ecm: str | None = "ac",
        clamp_val: float = 5.0,
        ls_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features < 1:
            raise ValueError(f"OnlineNorm: num_features must be a positive int, got {num_features!r}")
        if ecm not in ECM_MODES:
            raise ValueError(f"OnlineNorm: ecm must be one of 'ac' (activation clamping), 'ls' (layer scaling) or None, got {ecm!r}")
        if eps <= 0 or ls_eps <= 0:
            raise ValueError(f"OnlineNorm: eps and ls_eps must be > 0, got eps={eps}, ls_eps={ls_eps}")
        if ecm == "ac" and clamp_val <= 0:
            raise ValueError(f"OnlineNorm: clamp_val must be > 0, got {clamp_val}")
        self.num_features = num_features
        self.alpha_fwd = _check_alpha("alpha_fwd", alpha_fwd)
        self.alpha_bkw = _check_alpha("alpha_bkw", alpha_bkw)
        self.eps = float(eps)
        self.affine = affine
        self.ecm = ecm
        self.clamp_val = float(clamp_val)
        self.ls_eps = float(ls_eps)
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("m", torch.zeros(num_features))
        self.register_buffer("var", torch.ones(num_features))
        self.register_buffer("u", torch.zeros(num_features))
        self.register_buffer("v", torch.zeros(num_features))

    def reset_state(self) -> None:
        """Reset the statistics and control variables to their initial values."""
        self.m.zero_()
        self.var.fill_(1.0)
        self.u.zero_()
        self.v.zero_()

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, alpha_fwd={self.alpha_fwd}, alpha_bkw={self.alpha_bkw}, eps={self.eps}, "
            f"affine={self.affine}, ecm={self.ecm!r}"
        )

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` ``(B, C, *spatial)``; see the class docstring."""
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"OnlineNorm expected input (B, {self.num_features}, ...) , got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"OnlineNorm expects a floating-point input, got {x.dtype}")
        y = online_norm(
            x, self.m, self.var, self.u, self.v,
            alpha_fwd=self.alpha_fwd, alpha_bkw=self.alpha_bkw, eps=self.eps, training=self.training,
        )
        if self.affine:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            y = torch.addcmul(self.bias.to(y.dtype).view(shape), y, self.weight.to(y.dtype).view(shape))
        if self.ecm == "ac":
            # torch.clamp's gradient is zero outside the bounds, exactly the "clamped positions get no gradient" rule.
            y = y.clamp(-self.clamp_val, self.clamp_val)
        elif self.ecm == "ls":
            dims = tuple(range(1, y.dim()))
            # mean of squares in fp32 (or fp64) even for half inputs: C*H*W terms overflow fp16 quickly
            scale = torch.rsqrt(y.to(_stat_dtype(y.dtype)).square().mean(dim=dims, keepdim=True) + self.ls_eps)
            y = y * scale.to(y.dtype)
        return y
