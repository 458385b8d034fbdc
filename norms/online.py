"""Online Normalization (Chiley et al., NeurIPS 2019).

Batch-size independent normalization: every sample is normalized with running per-channel statistics that
are updated *after* the sample is seen (streaming forward), and the backward pass removes the gradient
components along the normalized output and along the constant direction with two running control variables
``u`` and ``v`` (a control process, deliberately *not* the autograd derivative of the forward).

The paper's reference code walks the batch one sample at a time. All four recurrences are linear in their
state (``m`` and ``var`` decay by ``alpha_fwd``, ``u`` by ``alpha_bkw``, ``v`` by a per-sample factor
``1 - (1 - alpha_bkw) * mean(y_n^2)``), so here the whole batch is solved at once on the ``(N, C)`` statistics
(a decay-matrix product or a parallel prefix scan, :func:`linear_scan`), followed by a few fused elementwise
passes over the big tensor; forward+backward costs about 1-2x ``BatchNorm2d`` on CPU (``python -m norms.bench``).

The maths lives in :func:`online_norm`; :class:`OnlineNorm` is a thin module that owns the state buffers,
the affine step and the error-compensation step (layer scaling or activation clamping).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from norms._kernels import linear_scan, row_moments, row_sums, stat_dtype

# scans re-exported
__all__ = ["OnlineNorm", "online_norm", "linear_scan", "row_moments", "row_sums", "stream_gather", "ECM_MODES"]

ECM_MODES = ("ac", "ls", None)
_STATE = ("m", "var", "u", "v")  # names of the per-channel state buffers


def stream_gather(t: Tensor, group) -> tuple[Tensor, int]:
    """Per-sample statistics ``t (K, N, C)`` of this rank -> ``(every rank's in rank order (K, N_all, C), offset of
    this rank's samples)``. ``group`` None, no initialized process group or one process: ``(t, 0)``; ``True``: the
    default group. Ranks may hold different N: sizes are exchanged first and the pieces padded to the largest.
    """
    if group is None:
        return t, 0
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return t, 0
    pg = None if group is True else group
    world = dist.get_world_size(pg)
    if world == 1:
        return t, 0
    size = torch.tensor([t.shape[1]], device=t.device)
    sizes = [torch.empty_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=pg)
    counts = [int(k) for k in sizes]
    pad = max(counts) - t.shape[1]
    padded = torch.cat([t, t.new_zeros(t.shape[0], pad, t.shape[2])], 1) if pad else t
    pieces = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(pieces, padded.contiguous(), group=pg)
    full = torch.cat([piece[:, :k] for piece, k in zip(pieces, counts)], 1)
    return full, sum(counts[: dist.get_rank(pg)])


class _OnlineNormFn(torch.autograd.Function):
    """Training mode, fused: streaming normalize + affine + ECM on ``(N, C, L)``; updates the state in place.

    Everything the backward needs reduces to two per-(sample, channel) sums of the incoming gradient,
    ``sum_l g * x`` and ``sum_l g``: ``y = (x - m_n) / std_n`` is affine in ``x`` per (n, c), and so are the
    affine step and the layer-scaling step (whose per-sample ``mean_{C,L}(z^2)`` follows from the forward
    statistics). So neither ``y`` nor the output is stored, and both passes touch the big tensor a few times,
    like batch norm. Only ``x`` and ``(N, C)`` statistics are saved. (The sums use uncentred ``x``; in fp32 this
    costs about ``|mean| / std`` ulps, negligible for activations.)
    """

    @staticmethod
    def forward(ctx, x, weight, bias, m, var, u, v, cfg: dict):  # type: ignore[override]
        sd = stat_dtype(x.dtype)
        xs = x if x.dtype == sd else x.to(sd)
        n, c, length = xs.shape
        mu, sigma2, out = row_moments(xs)  # (N, C) each; `out` is scratch that receives the output
        a_f = cfg["alpha_fwd"]
        # synced: the scan runs over every rank's samples in rank order (all ranks compute the same stream)
        (mu_all, sigma2_all), lo = stream_gather(torch.stack([mu, sigma2]), cfg.get("group"))
        m_all, m_final = linear_scan(a_f, (1.0 - a_f) * mu_all, m.to(sd))
        diff_all = mu_all - m_all
        var_all, var_final = linear_scan(
            a_f, (1.0 - a_f) * sigma2_all + a_f * (1.0 - a_f) * diff_all.square(), var.to(sd)
        )
        m_b, var_b = m_all[lo : lo + n], var_all[lo : lo + n]
        inv = torch.rsqrt(var_b + cfg["eps"])  # (N, C): 1 / std before each sample
        gamma = weight.to(sd) if weight is not None else torch.ones(c, dtype=sd, device=x.device)
        beta = bias.to(sd) if bias is not None else torch.zeros(c, dtype=sd, device=x.device)
        scale = gamma * inv  # z = scale * x + shift = gamma * y + beta
        shift = beta - m_b * scale
        s_inv = None
        if cfg["ecm"] == "ls":
            # mean over (C, L) of z^2 from the statistics: E[(a x + b)^2] = a^2 (sigma2 + mu^2) + 2 a b mu + b^2
            ez2 = (scale.square() * (sigma2 + mu.square()) + 2 * scale * shift * mu + shift.square()).mean(dim=1)
            s_inv = torch.rsqrt(ez2 + cfg["ls_eps"])[:, None]  # (N, 1)
            torch.addcmul((shift * s_inv)[..., None], xs, (scale * s_inv)[..., None], out=out)
        else:
            torch.addcmul(shift[..., None], xs, scale[..., None], out=out)
            if cfg["ecm"] == "ac":
                out.clamp_(-cfg["clamp_val"], cfg["clamp_val"])
        m.copy_(m_final)
        var.copy_(var_final)
        ctx.save_for_backward(x, gamma, inv, m_b, mu, sigma2, scale, shift, s_inv)
        ctx.state = (u, v)
        ctx.cfg = cfg
        return out.to(x.dtype)

    @staticmethod
    @once_differentiable  # the control process is not itself differentiated (no double backward)
    def backward(ctx, grad_out):  # type: ignore[override]
        x, gamma, inv, m_b, mu, sigma2, scale, shift, s_inv = ctx.saved_tensors
        u, v = ctx.state
        cfg = ctx.cfg
        b = 1.0 - cfg["alpha_bkw"]
        sd = inv.dtype
        n, c, length = x.shape
        xs = x if x.dtype == sd else x.to(sd)
        g = grad_out if grad_out.dtype == sd else grad_out.to(sd)
        # Big buffers are reused in place (out=) where possible: on CPU a fresh multi-MB tensor costs more in page
        # faults than the arithmetic of a pass over it.
        buf = g if g is not grad_out else None  # a converted copy of the gradient is ours to overwrite
        if cfg["ecm"] == "ac":
            # zero gradient where clamped; the pre-clamp value is recomputed (not saved) so that in-place ops
            # on the output downstream cannot invalidate the backward
            pre = torch.addcmul(shift[..., None], xs, scale[..., None])
            g = buf = torch.ops.aten.hardtanh_backward.grad_input(
                g, pre, -cfg["clamp_val"], cfg["clamp_val"], grad_input=pre
            )
        t1, t0 = row_sums(g, xs)  # sum_l g * x and sum_l g, (N, C) each
        sum_x, sum_x2 = length * mu, length * (sigma2 + mu.square())
        # dL/dz = p * g + q * x + r per (n, c); identity unless layer scaling
        p, q, r = 1.0, 0.0, 0.0
        if s_inv is not None:
            # out = z * s with s = rsqrt(mean_{C,L} z^2 + eps): dL/dz = s * (g - out * k), k = mean_{C,L}(g * out)
            a_o, b_o = scale * s_inv, shift * s_inv
            k = (a_o * t1 + b_o * t0).sum(dim=1, keepdim=True) / (c * length)  # (N, 1)
            p, q, r = s_inv, -s_inv * k * a_o, -s_inv * k * b_o
            t1, t0 = p * t1 + q * sum_x2 + r * sum_x, p * t0 + q * sum_x + r * length
        # now t1 = sum_l dL/dz * x and t0 = sum_l dL/dz; y = inv * (x - m_b), dL/dy = gamma * dL/dz
        zy = inv * (t1 - m_b * t0)  # sum_l dL/dz * y
        grad_weight = zy.sum(dim=0) if ctx.needs_input_grad[1] else None
        grad_bias = t0.sum(dim=0) if ctx.needs_input_grad[2] else None
        mean_gy_y = gamma * zy / length
        mean_gy = gamma * t0 / length
        mean_y = (mu - m_b) * inv
        mean_y2 = (sigma2 + (mu - m_b).square()) * inv.square()
        # control process (Chiley et al. 2019, backward pass of Algorithm 1), over every rank's samples when synced:
        # v[n+1] = (1 - b mean(y^2)) v[n] + mean(gy y)
        stacked, lo = stream_gather(torch.stack([mean_y2, mean_gy_y, mean_gy, mean_y, inv]), cfg.get("group"))
        y2_all, gyy_all, gy_all, y_all, inv_all = stacked
        v_all, v_final = linear_scan(1.0 - b * y2_all, gyy_all, v.to(sd))
        # u[n+1] = alpha_bkw u[n] + mean(g~ / std)
        u_all, u_final = linear_scan(cfg["alpha_bkw"], (gy_all - b * v_all * y_all) * inv_all, u.to(sd))
        v_b, u_b = v_all[lo : lo + n], u_all[lo : lo + n]
        v.copy_(v_final)
        u.copy_(u_final)
        grad_x = None
        if ctx.needs_input_grad[0]:
            # gx = (gy - b v y) * inv - b u, with gy = gamma (p g + q x + r) and y = inv (x - m_b)
            gi = gamma * inv
            coef_g = gi * p
            coef_x = gi * q - b * v_b * inv.square()
            const = gi * r + b * v_b * inv.square() * m_b - b * u_b
            if buf is None:
                buf = torch.empty_like(g)
            grad_x = torch.addcmul(const[..., None], g, coef_g[..., None], out=buf)
            grad_x = grad_x.addcmul_(xs, coef_x[..., None]).to(x.dtype)
        # (grad_weight/grad_bias stay in the statistics dtype: autograd casts them to the parameters' dtype)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None


def online_norm(
    x: Tensor,
    m: Tensor,
    var: Tensor,
    u: Tensor,
    v: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    *,
    alpha_fwd: float = 0.999,
    alpha_bkw: float = 0.99,
    eps: float = 1e-5,
    ecm: str | None = None,
    clamp_val: float = 5.0,
    ls_eps: float = 1e-5,
    training: bool = True,
    process_group=None,
) -> Tensor:
    """Online Normalization of ``x``, then the optional affine ``weight * y + bias``, then the ECM step.

    In training mode the samples are processed as a stream in batch order: sample ``n`` is normalized with the
    statistics ``m, var`` accumulated from all earlier samples, then the statistics are updated. ``m`` and ``var``
    are updated in place during the forward, ``u`` and ``v`` during the backward, which implements the paper's
    control process (not the autograd derivative of the forward). In eval mode ``y = (x - m) / sqrt(var + eps)``
    with frozen statistics and ordinary autograd gradients.

    Args:
        x: input ``(N, C)`` or ``(N, C, *spatial)``; fp32, fp64, fp16 or bf16 (statistics kept in fp32, or fp64
            for fp64 inputs).
        m, var, u, v: per-channel state ``(C,)``.
        weight, bias: per-channel affine ``(C,)`` or None.
        ecm: ``"ac"`` (clamp to ``±clamp_val``), ``"ls"`` (per-sample layer scaling over ``C, *spatial``) or None.
        process_group: synchronize across processes (training only): the streaming statistics and the control
            process run over every rank's samples in rank order, as one process would on the concatenated batch
            (``True``: the default group; None: this process alone).

    Returns:
        a tensor with the shape and dtype of ``x``.
    """
    n, c = x.shape[0], x.shape[1]
    flat = x.reshape(n, c, -1)
    if training:
        cfg = {
            "alpha_fwd": float(alpha_fwd),
            "alpha_bkw": float(alpha_bkw),
            "eps": float(eps),
            "ecm": ecm,
            "clamp_val": float(clamp_val),
            "ls_eps": float(ls_eps),
            "group": process_group,
        }
        out = _OnlineNormFn.apply(flat, weight, bias, m, var, u, v, cfg)
        return out.reshape(x.shape)
    sd = stat_dtype(x.dtype)
    inv = torch.rsqrt(var.to(sd) + eps)
    scale = inv if weight is None else weight.to(sd) * inv
    shift = -m.to(sd) * scale if bias is None else bias.to(sd) - m.to(sd) * scale
    z = torch.addcmul(shift[:, None], flat.to(sd), scale[:, None])
    if ecm == "ac":
        z = z.clamp(-clamp_val, clamp_val)
    elif ecm == "ls":
        z = z * torch.rsqrt(z.square().mean(dim=(1, 2), keepdim=True) + ls_eps)
    return z.to(x.dtype).reshape(x.shape)


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
    each ``(C,)`` in fp32 (kept in fp32 by ``module.to(torch.bfloat16)``; ``.double()`` makes them fp64). Eval mode
    uses ``m`` and ``var`` frozen.

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
            raise ValueError(
                f"OnlineNorm: ecm must be 'ac' (activation clamping), 'ls' (layer scaling) or None, got {ecm!r}"
            )
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

    def _apply(self, fn, recurse=True):  # type: ignore[override]
        # module.to(bfloat16/half) converts the parameters but keeps the running state in fp32: updates of size
        # (1 - alpha) * delta with alpha = 0.999 would mostly round away in a 16-bit state
        state = {k: self._buffers[k] for k in _STATE}
        super()._apply(fn, recurse)
        for k in _STATE:
            buf = self._buffers[k]
            if buf is not None and buf.dtype in (torch.float16, torch.bfloat16):
                self._buffers[k] = state[k].to(device=buf.device, dtype=torch.float32)
        return self

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
            raise ValueError(f"OnlineNorm expected input (B, {self.num_features}, ...) , got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"OnlineNorm expects a floating-point input, got {x.dtype}")
        return online_norm(
            x,
            self.m,
            self.var,
            self.u,
            self.v,
            self.weight,
            self.bias,
            alpha_fwd=self.alpha_fwd,
            alpha_bkw=self.alpha_bkw,
            eps=self.eps,
            ecm=self.ecm,
            clamp_val=self.clamp_val,
            ls_eps=self.ls_eps,
            training=self.training,
            process_group=self._sync_group(),
        )

    def _sync_group(self):
        """None: this process's samples alone (:class:`norms.sync.SyncOnlineNorm` returns its group)."""
        return None
