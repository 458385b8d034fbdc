"""Online Normalization: parity with a float64 per-sample reference written from the paper's equations."""

from __future__ import annotations

import pytest
import torch

from norms._kernels import linear_scan, row_moments, row_sums
from norms.online import OnlineNorm, online_norm


class LoopReference:
    """The paper's algorithm (Chiley et al. 2019, Algorithm 1), one sample at a time, in float64.

    Independent of norms.online."""

    def __init__(self, c: int, alpha_fwd: float, alpha_bkw: float, eps: float) -> None:
        self.af, self.ab, self.eps = alpha_fwd, alpha_bkw, eps
        self.m = torch.zeros(c, dtype=torch.float64)
        self.var = torch.ones(c, dtype=torch.float64)
        self.u = torch.zeros(c, dtype=torch.float64)
        self.v = torch.zeros(c, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double().reshape(x.shape[0], x.shape[1], -1)
        ys, self.saved_var = [], []
        for xn in x:  # (C, L)
            mu = xn.mean(dim=1)
            s2 = ((xn - mu[:, None]) ** 2).mean(dim=1)
            ys.append((xn - self.m[:, None]) / torch.sqrt(self.var[:, None] + self.eps))
            self.saved_var.append(self.var.clone())
            new_var = self.af * self.var + (1 - self.af) * s2 + self.af * (1 - self.af) * (mu - self.m) ** 2
            self.m = self.m + (1 - self.af) * (mu - self.m)
            self.var = new_var
        self.y = torch.stack(ys)
        return self.y

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        g = g.double().reshape(self.y.shape)
        out = []
        for gn, yn, var in zip(g, self.y, self.saved_var):
            gt = gn - (1 - self.ab) * self.v[:, None] * yn
            self.v = self.v + (gt * yn).mean(dim=1)
            gt = gt / torch.sqrt(var[:, None] + self.eps)
            gx = gt - (1 - self.ab) * self.u[:, None]
            self.u = self.u + gx.mean(dim=1)
            out.append(gx)
        return torch.stack(out)


def _ecm_ref(y: torch.Tensor, weight, bias, ecm, clamp_val, ls_eps):
    shape = (1, -1) + (1,) * (y.dim() - 2)
    z = y * weight.view(shape) + bias.view(shape)
    if ecm == "ac":
        z = z.clamp(-clamp_val, clamp_val)
    elif ecm == "ls":
        z = z / torch.sqrt(z.pow(2).mean(dim=tuple(range(1, z.dim())), keepdim=True) + ls_eps)
    return z


def _batches(shape, n_batches=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n_batches):
        # different means/scales per batch and channel so the running statistics actually move
        scale = 0.5 + 2 * torch.rand(1, shape[1], *([1] * (len(shape) - 2)), generator=gen)
        shift = 3 * torch.randn(1, shape[1], *([1] * (len(shape) - 2)), generator=gen) + i
        out.append(torch.randn(*shape, generator=gen) * scale + shift)
    return out


@pytest.mark.parametrize("ecm", ["ac", "ls", None])
@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (5, 4)])
def test_forward_backward_match_reference_over_batches(ecm, shape):
    c = shape[1]
    clamp_val, ls_eps = 1.5, 1e-5
    # alpha_fwd lower than the default so the statistics change visibly over a few small batches
    norm = OnlineNorm(c, alpha_fwd=0.9, alpha_bkw=0.8, ecm=ecm, clamp_val=clamp_val, ls_eps=ls_eps)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 1.5, c))
        norm.bias.copy_(torch.linspace(-0.3, 0.3, c))
    ref = LoopReference(c, 0.9, 0.8, norm.eps)
    w64, b64 = norm.weight.detach().double(), norm.bias.detach().double()
    clamped_somewhere = False
    for step, x in enumerate(_batches(shape, seed=len(shape))):
        x = x.requires_grad_(True)
        out = norm(x)
        y_ref = ref.forward(x.detach()).reshape(shape).requires_grad_(True)
        w_ref, b_ref = w64.clone().requires_grad_(True), b64.clone().requires_grad_(True)
        out_ref = _ecm_ref(y_ref, w_ref, b_ref, ecm, clamp_val, ls_eps)
        torch.testing.assert_close(out.double(), out_ref.detach(), rtol=1e-5, atol=1e-5, msg=f"forward, batch {step}")
        upstream = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(step))
        out.backward(upstream.float())
        out_ref.backward(upstream)
        gx_ref = ref.backward(y_ref.grad).reshape(shape)
        torch.testing.assert_close(x.grad.double(), gx_ref, rtol=1e-4, atol=1e-5, msg=f"grad x, batch {step}")
        torch.testing.assert_close(norm.weight.grad.double(), w_ref.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(norm.bias.grad.double(), b_ref.grad, rtol=1e-4, atol=1e-5)
        norm.weight.grad = norm.bias.grad = None
        for name in ("m", "var", "u", "v"):
            torch.testing.assert_close(
                getattr(norm, name).double(),
                getattr(ref, name),
                rtol=1e-5,
                atol=1e-6,
                msg=f"state {name}, batch {step}",
            )
        clamped_somewhere |= bool((out_ref.detach().abs() >= clamp_val).any())
    assert torch.count_nonzero(norm.v) > 0 and torch.count_nonzero(norm.u) > 0
    if ecm == "ac":
        assert clamped_somewhere, "test inputs should exercise the clamp"


@pytest.mark.parametrize("n", [150, 1100])  # 1100 > 1024: the module's recursive-doubling scan path
def test_long_batch_matches_the_loop_forward_backward_and_all_four_buffers(n):
    shape = (n, 2, 3, 3)
    norm = OnlineNorm(2, affine=False, ecm=None).double()
    ref = LoopReference(2, norm.alpha_fwd, norm.alpha_bkw, norm.eps)
    g = torch.Generator().manual_seed(n)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 1).requires_grad_(True)
    y = norm(x)
    torch.testing.assert_close(y, ref.forward(x.detach()).reshape(shape), rtol=1e-9, atol=1e-9)
    grad = torch.randn(shape, generator=g, dtype=torch.float64)
    y.backward(grad)
    torch.testing.assert_close(x.grad, ref.backward(grad).reshape(shape), rtol=1e-8, atol=1e-9)
    for name in ("m", "var", "u", "v"):
        torch.testing.assert_close(
            getattr(norm, name).double(), getattr(ref, name), rtol=1e-8, atol=1e-10, msg=f"buffer {name}"
        )
    assert torch.count_nonzero(norm.u) > 0 and torch.count_nonzero(norm.v) > 0


def test_v_recurrence_uses_per_sample_decay():
    # Hand-computed two-sample case on one channel with L = 1, so every mean is the value itself.
    # alpha_fwd = 0 keeps m, var trivially known: sample 0 sees (m, var) = (0, 1); sample 1 sees (x0, 0).
    x = torch.tensor([[2.0], [3.0]], dtype=torch.float64, requires_grad=True)
    m, var = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    u, v = torch.zeros(1, dtype=torch.float64), torch.full((1,), 0.5, dtype=torch.float64)
    ab, eps = 0.9, 1e-5
    y = online_norm(x, m, var, u, v, alpha_fwd=0.0, alpha_bkw=ab, eps=eps)
    y0, y1 = 2.0 / (1 + eps) ** 0.5, (3.0 - 2.0) / eps**0.5
    torch.testing.assert_close(y.detach().flatten(), torch.tensor([y0, y1], dtype=torch.float64))
    g = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    y.backward(g)
    b = 1 - ab
    v1 = 0.5 * (1 - b * y0**2) + 1.0 * y0  # decay 1 - (1 - alpha_b) * mean(y0^2), input mean(g0 * y0)
    v2 = v1 * (1 - b * y1**2) + (-2.0) * y1
    assert v.item() == pytest.approx(v2, rel=1e-10)


@pytest.mark.parametrize("n", [1, 70, 1100])  # 1100: constant decay beyond the matrix-product size
def test_linear_scan_matches_loop_including_negative_and_zero_decay(n):
    gen = torch.Generator().manual_seed(3)
    d = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    d[n // 2, 0] = 0.0
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    h0 = torch.randn(3, generator=gen, dtype=torch.float64)
    for decay in (d, 0.999, 0.0):
        before, final = linear_scan(decay, x, h0)
        h, expect = h0.clone(), []
        for i in range(n):
            expect.append(h.clone())
            h = (decay[i] if isinstance(decay, torch.Tensor) else decay) * h + x[i]
        torch.testing.assert_close(before, torch.stack(expect))
        torch.testing.assert_close(final, h)


@pytest.mark.parametrize("ecm", ["ac", "ls"])
def test_one_batch_equals_the_same_samples_streamed_one_by_one(ecm):
    # the defining property of the streaming algorithm: batch boundaries do not matter
    x = torch.randn(6, 3, 4, 4) * 2 + 1
    g = torch.randn_like(x)
    whole = OnlineNorm(3, alpha_fwd=0.8, alpha_bkw=0.7, ecm=ecm, clamp_val=1.0)
    xb = x.clone().requires_grad_(True)
    out = whole(xb)
    out.backward(g)
    single = OnlineNorm(3, alpha_fwd=0.8, alpha_bkw=0.7, ecm=ecm, clamp_val=1.0)
    for i in range(6):
        xi = x[i : i + 1].clone().requires_grad_(True)
        oi = single(xi)
        oi.backward(g[i : i + 1])
        torch.testing.assert_close(oi, out[i : i + 1].detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(xi.grad, xb.grad[i : i + 1], rtol=1e-4, atol=1e-6)
    for k in ("m", "var", "u", "v"):
        torch.testing.assert_close(getattr(single, k), getattr(whole, k), rtol=1e-5, atol=1e-6)


def test_row_helpers_match_plain_reductions():
    x = torch.randn(3, 4, 50, dtype=torch.float64) * 3 + 7
    g = torch.randn_like(x)
    mean, var, _ = row_moments(x)
    torch.testing.assert_close(mean, x.mean(2))
    torch.testing.assert_close(var, x.var(2, correction=0))
    gx, gs = row_sums(g, x)
    torch.testing.assert_close(gx, (g * x).sum(2))
    torch.testing.assert_close(gs, g.sum(2))
    mean1, var1, _ = row_moments(x[..., :1])  # one element per row: variance exactly 0, not NaN
    torch.testing.assert_close(var1, torch.zeros_like(var1))


def test_eval_uses_frozen_statistics():
    norm = OnlineNorm(3, ecm=None, alpha_fwd=0.5)
    norm.train()
    norm(torch.randn(4, 3, 5, 5) * 3 + 2)
    state = {k: v.clone() for k, v in norm.state_dict().items()}
    norm.eval()
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    y = norm(x)
    expect = (x - norm.m.view(1, -1, 1, 1)) / torch.sqrt(norm.var.view(1, -1, 1, 1) + norm.eps)
    torch.testing.assert_close(y, expect)
    y.sum().backward()
    for k, v in norm.state_dict().items():
        torch.testing.assert_close(v, state[k], msg=f"{k} changed in eval mode")
    # eval gradient is the ordinary derivative: d/dx sum(y) = 1 / sqrt(var + eps) per channel
    torch.testing.assert_close(x.grad, (1 / torch.sqrt(norm.var + norm.eps)).view(1, -1, 1, 1).expand_as(x))


def test_clamped_positions_get_zero_gradient():
    norm = OnlineNorm(2, ecm="ac", clamp_val=1.0)
    x = torch.randn(3, 2, 4, 4) * 3
    x.requires_grad_(True)
    y = norm(x)
    assert y.abs().max() <= 1.0
    clamped = y.detach().abs() >= 1.0
    assert clamped.any() and (~clamped).any()
    y.backward(torch.ones_like(y))
    # compare with the gradient the norm gets for an upstream gradient that is zero where clamped
    ref = OnlineNorm(2, ecm=None)
    x2 = x.detach().clone().requires_grad_(True)
    ref(x2).backward((~clamped).float())
    torch.testing.assert_close(x.grad, x2.grad)


def test_state_dict_round_trip():
    a = OnlineNorm(4, ecm="ls")
    for _ in range(2):
        x = torch.randn(3, 4, 6, 6, requires_grad=True)
        a(x).sum().backward()
    sd = a.state_dict()
    assert {"m", "var", "u", "v", "weight", "bias"} <= set(sd)
    b = OnlineNorm(4, ecm="ls")
    b.load_state_dict(sd)
    x = torch.randn(3, 4, 6, 6)
    torch.testing.assert_close(a(x), b(x))  # training mode: same state -> same output and same new state
    for k in ("m", "var", "u", "v"):
        torch.testing.assert_close(getattr(a, k), getattr(b, k))
    assert not torch.equal(b.u, torch.zeros(4))


def test_bf16_close_to_fp32():
    x = torch.randn(8, 4, 8, 8) * 2 + 1
    g = torch.randn_like(x)
    results = {}
    for dtype in (torch.float32, torch.bfloat16):
        norm = OnlineNorm(4, ecm="ls")
        xi = x.to(dtype).detach().clone().requires_grad_(True)
        y = norm(xi)
        assert y.dtype == dtype
        y.backward(g.to(dtype))
        assert xi.grad.dtype == dtype
        assert norm.m.dtype == torch.float32  # statistics stay fp32
        results[dtype] = (y.float(), xi.grad.float(), norm.m.clone(), norm.v.clone())
    for a, b in zip(results[torch.float32], results[torch.bfloat16]):
        torch.testing.assert_close(b, a, rtol=5e-2, atol=5e-2)
    # a whole-module cast keeps the state in fp32, where alpha = 0.999 updates do not round away
    norm = OnlineNorm(4).to(torch.bfloat16)
    assert norm.weight.dtype == torch.bfloat16 and norm.m.dtype == torch.float32 and norm.var.dtype == torch.float32
    norm(torch.randn(2, 4, 3, 3, dtype=torch.bfloat16) + 3)
    assert norm.m.dtype == torch.float32 and 0 < norm.m.mean().item() < 0.01
    assert OnlineNorm(4).double().m.dtype == torch.float64


def test_gradcheck_eval_mode_and_affine_in_train_mode():
    for ecm in ("ac", "ls", None):
        norm = OnlineNorm(3, ecm=ecm, clamp_val=100.0).double()
        norm.train()
        norm(torch.randn(4, 3, 3, 3, dtype=torch.float64))  # move the statistics off their init
        norm.eval()
        x = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: norm(t), (x,))
    # Training mode: the input gradient is the control process by design (not the Jacobian), but the
    # affine parameters get true gradients; reset the state on every call so the function is fixed.
    norm = OnlineNorm(3, ecm="ls").double().train()
    x = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def f(weight, bias):
        norm.reset_state()
        return torch.func.functional_call(norm, {"weight": weight, "bias": bias}, (x,))

    assert torch.autograd.gradcheck(f, (w, b))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="ecm"):
        OnlineNorm(4, ecm="bogus")
    with pytest.raises(ValueError, match="alpha_fwd"):
        OnlineNorm(4, alpha_fwd=1.5)
    with pytest.raises(ValueError, match="num_features"):
        OnlineNorm(0)
    with pytest.raises(ValueError, match=r"\(B, 4"):
        OnlineNorm(4)(torch.randn(2, 3, 5, 5))


def test_affine_false_has_no_parameters():
    norm = OnlineNorm(5, affine=False)
    assert list(norm.parameters()) == []
    assert norm(torch.randn(2, 5, 3, 3)).shape == (2, 5, 3, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = torch.randn(16, 8, 7, 7)
    g = torch.randn_like(x)
    outs = []
    for dev in ("cpu", "cuda"):
        norm = OnlineNorm(8, ecm="ls").to(dev)
        xi = x.to(dev).requires_grad_(True)
        y = norm(xi)
        y.backward(g.to(dev))
        outs.append((y.cpu(), xi.grad.cpu(), norm.v.cpu()))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_benchmark_loop_baseline_computes_the_same_thing():
    # norms.bench compares against this per-sample loop; the comparison is only fair if the maths agree
    from norms.bench import LoopOnlineNorm

    fast, loop = OnlineNorm(3, affine=False, ecm=None), LoopOnlineNorm(3)
    for seed in range(2):
        x = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 + 1
        g = torch.randn_like(x)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = fast(xa), loop(xb)
        ya.backward(g)
        yb.backward(g)
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    for k in ("m", "var", "u", "v"):
        torch.testing.assert_close(getattr(fast, k), getattr(loop, k), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ecm", ["ac", "ls"])
def test_eval_output_with_error_compensation_matches_the_closed_form(ecm):
    """Eval mode: y = (x - m) / sqrt(var + eps), affine, then clamp ("ac") or per-sample layer scaling over (C, L)."""
    from norms.online import OnlineNorm

    torch.manual_seed(3)
    layer = OnlineNorm(4, ecm=ecm, clamp_val=0.7, eps=1e-5, ls_eps=1e-5).double()
    with torch.no_grad():
        layer.m.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
        layer.var.copy_(torch.tensor([1.0, 4.0, 0.25, 9.0]))
        layer.weight.copy_(torch.tensor([1.5, 0.5, -2.0, 1.0]))
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    layer.eval()
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64) * 3
    m, var = layer.m.view(1, 4, 1, 1), layer.var.view(1, 4, 1, 1)
    z = (x - m) / torch.sqrt(var + 1e-5) * layer.weight.view(1, 4, 1, 1) + layer.bias.view(1, 4, 1, 1)
    if ecm == "ac":
        want = z.clamp(-0.7, 0.7)
        assert (want.abs() == 0.7).any()  # the clamp is active
    else:
        want = z / torch.sqrt(z.square().mean(dim=(1, 2, 3), keepdim=True) + 1e-5)
    assert torch.allclose(layer(x), want, atol=1e-12)
    before = layer.m.clone()
    layer(x)
    assert torch.equal(layer.m, before)  # eval never updates the statistics


# --- every constructor limit, the stored settings and the state (mutation survivors of tools/mutate.py) ---


def test_every_constructor_limit_is_exact():
    import math as _math

    OnlineNorm(1)  # the smallest layer
    for a in (0.0, 1.0):  # both ends of the decay range are allowed
        OnlineNorm(2, alpha_fwd=a, alpha_bkw=a)
    OnlineNorm(2, ecm="ls", clamp_val=0.0)  # clamp_val only matters for "ac"
    OnlineNorm(2, ecm=None, clamp_val=-1.0)
    for bad, words in [
        (dict(num_features=0), "num_features must be a positive int, got 0"),
        (dict(num_features=True), "num_features must be a positive int, got True"),
        (dict(num_features=2.0), "num_features must be a positive int, got 2.0"),
        (
            dict(num_features=2, ecm="AC"),
            "ecm must be 'ac' \\(activation clamping\\), 'ls' \\(layer scaling\\) or None",
        ),
        (dict(num_features=2, eps=0.0), "eps and ls_eps must be > 0, got eps=0.0, ls_eps=1e-05"),
        (dict(num_features=2, ls_eps=0.0), "got eps=1e-05, ls_eps=0.0"),
        (dict(num_features=2, clamp_val=0.0), "clamp_val must be > 0, got 0.0"),
        (dict(num_features=2, alpha_fwd=-0.01), r"alpha_fwd must be in \[0, 1\] \(a decay factor\), got -0.01"),
        (dict(num_features=2, alpha_bkw=1.01), r"alpha_bkw must be in \[0, 1\] \(a decay factor\), got 1.01"),
        (dict(num_features=2, alpha_bkw=_math.nan), "alpha_bkw must be in .*got nan"),
    ]:
        with pytest.raises(ValueError, match=words):
            OnlineNorm(**bad)
    with pytest.raises(TypeError, match="floating-point input, got torch.int64"):
        OnlineNorm(2)(torch.ones(1, 2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"expected input \(B, 2, ...\) , got shape \(2,\)"):
        OnlineNorm(2)(torch.ones(2))


def test_settings_are_stored_as_given_and_shown():
    n = OnlineNorm(3, alpha_fwd=0.5, alpha_bkw=0.25, eps=1e-3, ecm="ls", clamp_val=2.0, ls_eps=1e-4)
    assert (n.num_features, n.alpha_fwd, n.alpha_bkw, n.eps, n.ecm, n.clamp_val, n.ls_eps) == (
        3,
        0.5,
        0.25,
        1e-3,
        "ls",
        2.0,
        1e-4,
    )
    assert isinstance(n.alpha_fwd, float) and isinstance(OnlineNorm(2, alpha_fwd=1).alpha_fwd, float)
    assert repr(n) == "OnlineNorm(3, alpha_fwd=0.5, alpha_bkw=0.25, eps=0.001, affine=True, ecm='ls')"
    assert n.affine is True and OnlineNorm(2, affine=False).weight is None and OnlineNorm(2, affine=False).bias is None


def test_initial_and_reset_state():
    n = OnlineNorm(3)
    init = {"m": 0.0, "var": 1.0, "u": 0.0, "v": 0.0}
    for k, v in init.items():
        assert torch.equal(getattr(n, k), torch.full((3,), v)), k
    assert torch.equal(n.weight.detach(), torch.ones(3)) and torch.equal(n.bias.detach(), torch.zeros(3))
    x = torch.randn(4, 3, 5, 5, requires_grad=True) * 3 + 2
    n(x).pow(2).sum().backward()
    assert all(not torch.equal(getattr(n, k), torch.full((3,), v)) for k, v in init.items())
    n.reset_state()
    for k, v in init.items():
        assert torch.equal(getattr(n, k), torch.full((3,), v)), k


def test_the_module_passes_every_setting_to_the_function(monkeypatch):
    import norms.online as online

    seen = {}

    def spy(x, m, var, u, v, weight, bias, **kw):
        seen.update(kw, m=m, var=var, u=u, v=v, weight=weight, bias=bias)
        return x

    monkeypatch.setattr(online, "online_norm", spy)
    n = OnlineNorm(2, alpha_fwd=0.5, alpha_bkw=0.25, eps=1e-3, ecm="ls", clamp_val=2.0, ls_eps=1e-4).eval()
    n(torch.randn(1, 2, 3))
    assert seen["m"] is n.m and seen["var"] is n.var and seen["u"] is n.u and seen["v"] is n.v
    assert seen["weight"] is n.weight and seen["bias"] is n.bias
    assert {k: seen[k] for k in ("alpha_fwd", "alpha_bkw", "eps", "ecm", "clamp_val", "ls_eps", "training")} == {
        "alpha_fwd": 0.5,
        "alpha_bkw": 0.25,
        "eps": 1e-3,
        "ecm": "ls",
        "clamp_val": 2.0,
        "ls_eps": 1e-4,
        "training": False,
    }
    assert seen["process_group"] is None
    n.train()(torch.randn(1, 2, 3))
    assert seen["training"] is True


def test_half_precision_casts_keep_every_state_buffer_in_fp32():
    for dtype in (torch.float16, torch.bfloat16):
        n = OnlineNorm(3)
        n.var.fill_(2.5)
        n.to(dtype)
        for k in ("m", "var", "u", "v"):
            assert getattr(n, k).dtype == torch.float32, (dtype, k)
        assert torch.equal(n.var, torch.full((3,), 2.5)) and n.weight.dtype == dtype


# --- stream_gather with a fake process group (the synced scan's exchange; tests/norms/test_sync.py runs real ranks) ---


class FakeDist:
    """Stands in for ``torch.distributed``: ``world`` ranks, this one ``rank``; the others hold ``others[r]``."""

    def __init__(self, rank: int, others: dict[int, torch.Tensor], initialized: bool = True):
        self.rank, self.others, self.initialized = rank, others, initialized
        self.world = len(others) + 1
        self.calls: list[tuple[str, object]] = []

    def is_available(self):
        return True

    def is_initialized(self):
        return self.initialized

    def get_world_size(self, group=None):
        if not self.initialized:  # as torch.distributed: no default group to ask
            raise RuntimeError("Default process group has not been initialized")
        self.calls.append(("world", group))
        return self.world

    def get_rank(self, group=None):
        self.calls.append(("rank", group))
        return self.rank

    def all_gather(self, out, tensor, group=None):
        self.calls.append(("gather", group))
        if tensor.dim() == 1:
            self.mine = int(tensor[0])
        for r in range(self.world):
            if r == self.rank:
                out[r].copy_(tensor)
            elif tensor.dim() == 1:  # the size exchange
                out[r].fill_(self.others[r].shape[1])
            else:  # pieces go out padded to the largest rank's N, no more
                assert tensor.shape[1] == max(o.shape[1] for o in [tensor[:, : self.mine], *self.others.values()])
                out[r].zero_()
                out[r][:, : self.others[r].shape[1]] = self.others[r]
                out[r][:, self.others[r].shape[1] :] = float("nan")  # padding must be cut, not used


def _fake_dist(monkeypatch, fake):
    import torch.distributed as dist

    for name in ("is_available", "is_initialized", "get_world_size", "get_rank", "all_gather"):
        monkeypatch.setattr(dist, name, getattr(fake, name))


def test_stream_gather_alone_returns_the_input_untouched(monkeypatch):
    from norms.online import stream_gather

    t = torch.randn(2, 3, 4)
    assert stream_gather(t, None)[0] is t and stream_gather(t, None)[1] == 0
    _fake_dist(monkeypatch, FakeDist(0, {}, initialized=False))  # no process group initialized
    got, lo = stream_gather(t, True)
    assert got is t and lo == 0
    _fake_dist(monkeypatch, FakeDist(0, {}))  # one process
    got, lo = stream_gather(t, True)
    assert got is t and lo == 0


@pytest.mark.parametrize("group", [True, "pg"])
def test_stream_gather_concatenates_ranks_in_order_with_uneven_sizes(monkeypatch, group):
    from norms.online import stream_gather

    torch.manual_seed(0)
    r0, r2 = torch.randn(2, 4, 3), torch.randn(2, 1, 3)  # rank 0 holds 4 samples, rank 2 one
    mine = torch.randn(2, 2, 3)  # this rank (1) holds 2: padded to 4 for the exchange
    fake = FakeDist(1, {0: r0, 2: r2})
    _fake_dist(monkeypatch, fake)
    got, lo = stream_gather(mine, group)
    assert lo == 4  # this rank's samples start after rank 0's four
    assert torch.equal(got, torch.cat([r0, mine, r2], 1)) and got.shape == (2, 7, 3)
    want_group = None if group is True else group  # True means the default group
    assert {g for _, g in fake.calls} == {want_group}
    assert [k for k, _ in fake.calls] == ["world", "gather", "gather", "rank"]


def test_stream_gather_this_rank_largest_needs_no_padding(monkeypatch):
    from norms.online import stream_gather

    r1 = torch.randn(1, 1, 2)
    mine = torch.randn(1, 3, 2)
    _fake_dist(monkeypatch, FakeDist(0, {1: r1}))
    got, lo = stream_gather(mine, True)
    assert lo == 0 and torch.equal(got, torch.cat([mine, r1], 1))


# --- defaults, dtypes and the synced path of the function itself (mutation survivors of tools/mutate.py) ---


def test_defaults_are_the_papers_settings():
    import inspect

    from norms.online import online_norm as fn

    want = {"alpha_fwd": 0.999, "alpha_bkw": 0.99, "eps": 1e-5, "clamp_val": 5.0, "ls_eps": 1e-5}
    for f in (fn, OnlineNorm.__init__):
        params = inspect.signature(f).parameters
        assert {k: params[k].default for k in want} == want, f
    assert inspect.signature(fn).parameters["ecm"].default is None
    assert inspect.signature(OnlineNorm.__init__).parameters["ecm"].default == "ac"


@pytest.mark.parametrize("ecm", [None, "ls"])
def test_eval_without_affine_in_fp64_against_fp32_state_is_computed_in_fp64(ecm):
    """The function on its own: fp64 input, fp32 state, no affine -> everything in fp64 (closed form, atol 1e-12)."""
    torch.manual_seed(4)
    x = torch.randn(3, 4, 5, dtype=torch.float64) * 3 + 1
    m = torch.tensor([0.5, -1.0, 2.0, 0.1])
    var = torch.tensor([1.1, 4.0, 0.3, 9.0])
    u, v = torch.zeros(4), torch.zeros(4)
    got = online_norm(x, m, var, u, v, ecm=ecm, ls_eps=1e-3, training=False)
    z = (x - m.double()[:, None]) / torch.sqrt(var.double()[:, None] + 1e-5)
    if ecm == "ls":
        z = z / torch.sqrt(z.square().mean(dim=(1, 2), keepdim=True) + 1e-3)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, z, rtol=0, atol=1e-12)


def test_bf16_input_is_computed_in_fp32_and_returned_in_bf16():
    """bf16 in: the statistics and arithmetic run in fp32, so the output is the fp32 result rounded once."""
    torch.manual_seed(5)
    x = (torch.randn(6, 3, 7, 7) * 4 + 3).to(torch.bfloat16)
    for training in (True, False):
        state32 = [torch.zeros(3), torch.ones(3) * 2, torch.zeros(3), torch.zeros(3)]
        state16 = [t.clone() for t in state32]
        w, b = torch.tensor([1.3, -0.7, 2.1]), torch.tensor([0.2, 0.0, -0.4])
        want = online_norm(x.float(), *state32, w, b, ecm="ls", training=training)
        got = online_norm(x, *state16, w, b, ecm="ls", training=training)
        assert got.dtype == torch.bfloat16
        assert torch.equal(got, want.to(torch.bfloat16)), training
        for a, c in zip(state16, state32):
            assert a.dtype == torch.float32 and torch.equal(a, c)


def test_the_module_passes_its_sync_group(monkeypatch):
    import norms.online as online

    seen = {}
    monkeypatch.setattr(online, "online_norm", lambda x, *a, **kw: seen.update(kw) or x)

    class Synced(OnlineNorm):
        def _sync_group(self):
            return "the group"

    Synced(2)(torch.randn(1, 2, 3))
    assert seen["process_group"] == "the group"


def test_a_cast_from_fp64_to_half_precision_brings_the_state_to_fp32():
    n = OnlineNorm(2).double()
    n.var.fill_(1.25)
    n.to(torch.bfloat16)
    assert all(getattr(n, k).dtype == torch.float32 for k in ("m", "var", "u", "v"))
    assert torch.equal(n.var, torch.full((2,), 1.25))


@pytest.mark.parametrize("ecm", [None, "ls"])
def test_synced_rank_equals_its_part_of_one_process_on_the_whole_stream(monkeypatch, ecm):
    """Rank 1 of 2 (fake process group): its outputs, input gradients and final state equal those of one process
    that streams rank 0's samples and then rank 1's. Rank 0's exchanged statistics are recorded from a run of rank
    0 alone (it comes first in the stream, so it does not depend on rank 1)."""
    import norms.online as online

    torch.manual_seed(6)
    x0, x1 = torch.randn(3, 4, 5, dtype=torch.float64) * 2 + 1, torch.randn(2, 4, 5, dtype=torch.float64) * 3
    g0, g1 = torch.randn_like(x0), torch.randn_like(x1)
    w, b = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    kw = dict(alpha_fwd=0.6, alpha_bkw=0.7, ecm=ecm)

    def fresh():
        return [torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64) * 1.5] + [
            torch.zeros(4, dtype=torch.float64) for _ in range(2)
        ]

    # one process, the whole stream
    whole = torch.cat([x0, x1]).requires_grad_(True)
    state_whole = fresh()
    online_norm(whole, *state_whole, w, b, **kw).backward(torch.cat([g0, g1]))

    # rank 0 alone, recording what it would send
    sent: list[torch.Tensor] = []
    real_gather = online.stream_gather

    def record(t, group):
        sent.append(t.clone())
        return real_gather(t, None)

    monkeypatch.setattr(online, "stream_gather", record)
    state0 = fresh()
    online_norm(x0.clone().requires_grad_(True), *state0, w, b, **kw).backward(g0)
    monkeypatch.setattr(online, "stream_gather", real_gather)
    assert [t.shape[0] for t in sent] == [2, 5]  # (mu, sigma2) forward, five per-sample sums backward

    class Replay(FakeDist):  # rank 0's pieces in the order rank 1 asks for them
        def all_gather(self, out, tensor, group=None):
            self.others[0] = sent[0] if tensor.dim() == 1 else sent.pop(0)
            super().all_gather(out, tensor, group)

    _fake_dist(monkeypatch, Replay(1, {0: sent[0]}))
    x1r = x1.clone().requires_grad_(True)
    state1 = fresh()
    out1 = online_norm(x1r, *state1, w, b, process_group=True, **kw)
    out1.backward(g1)
    assert not sent  # both exchanges happened
    ref = online_norm(torch.cat([x0, x1]), *fresh(), w, b, **kw)  # forward only, for the outputs
    torch.testing.assert_close(out1, ref[3:], rtol=0, atol=1e-12)
    torch.testing.assert_close(x1r.grad, whole.grad[3:], rtol=0, atol=1e-12)
    for a, c in zip(state1, state_whole):
        torch.testing.assert_close(a, c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ecm", ["ac", "ls"])
def test_the_functions_defaults_act_as_the_papers_settings(ecm):
    """Left out, alpha_bkw/clamp_val/ls_eps behave as 0.99/5.0/1e-5 (inspect cannot see them under mutmut's wrapper)."""
    torch.manual_seed(6)
    x0 = torch.randn(4, 3, 6) * 3  # from the initial state (m 0, var 1) some outputs pass 5: the clamp acts
    g = torch.randn(4, 3, 6)
    runs = []
    for kw in ({}, {"alpha_bkw": 0.99, "clamp_val": 5.0, "ls_eps": 1e-5}):
        x = x0.clone().requires_grad_(True)
        state = [torch.zeros(3), torch.ones(3), torch.zeros(3), torch.zeros(3)]
        y = online_norm(x, *state, ecm=ecm, **kw)
        (y * g).sum().backward()
        runs.append((y.detach(), x.grad, *state))
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if ecm == "ac":
        assert runs[0][0].abs().max() == 5.0 and (runs[0][0].abs() == 5.0).sum() > 1
    assert runs[0][4].abs().sum() > 0  # the backward control state moved with alpha_bkw


def test_the_modules_clamp_default_is_5():
    m = OnlineNorm(2).eval()
    assert m.clamp_val == 5.0
    y = m(torch.tensor([[5.5, -5.8], [4.0, 7.0]]))
    torch.testing.assert_close(y, torch.tensor([[5.0, -5.0], [4.0, 5.0]]), rtol=0, atol=1e-4)
