"""Proxy Normalization: closed-form Gaussian moments as the oracle, gradcheck, batch independence."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from norms.proxy import ProxyNorm, proxy_moments, proxy_param_groups, proxy_quantiles

SQRT2PI = math.sqrt(2 * math.pi)


def _phi(t):  # standard normal pdf
    return torch.exp(-0.5 * t**2) / SQRT2PI


def _cdf(t):
    return 0.5 * (1 + torch.erf(t / math.sqrt(2)))


def relu_gaussian_moments(a: torch.Tensor, b: torch.Tensor):
    """Mean and variance of relu(a*G + b), G ~ N(0, 1), by the closed-form Gaussian integrals."""
    s = a.abs()
    r = b / s
    mean = b * _cdf(r) + s * _phi(r)
    second = (b**2 + s**2) * _cdf(r) + b * s * _phi(r)
    return mean, second - mean**2


def test_quantiles_are_a_standard_normal_sample():
    q = proxy_quantiles(200, torch.float64)
    assert q.shape == (200,)
    assert abs(q.mean().item()) < 1e-12  # symmetric
    assert q.var(correction=0).item() == pytest.approx(1.0, abs=2e-2)
    assert torch.all(q[1:] > q[:-1])


def test_relu_proxy_moments_at_init_match_gaussian_integrals():
    pn = ProxyNorm(4, activation="relu", n_proxy=20_000).double()
    mean, var = proxy_moments(pn.weight, pn.bias, pn.proxy_weight, pn.proxy_bias, pn.quantiles, F.relu)
    torch.testing.assert_close(mean, torch.full((4,), 1 / SQRT2PI, dtype=torch.float64), atol=1e-4, rtol=0)
    e2 = var + mean**2
    torch.testing.assert_close(e2, torch.full((4,), 0.5, dtype=torch.float64), atol=1e-4, rtol=0)


@pytest.mark.parametrize("groups", [1, 2])
def test_full_module_matches_closed_form_relu(groups):
    c = 4
    gen = torch.Generator().manual_seed(0)
    pn = ProxyNorm(c, groups=groups, activation="relu", n_proxy=2000).double()
    with torch.no_grad():
        pn.weight.copy_(torch.tensor([0.5, 1.0, 1.7, -0.8]))
        pn.bias.copy_(torch.tensor([0.3, -0.2, 0.0, 0.5]))
        pn.proxy_weight.copy_(torch.tensor([0.1, -0.3, 0.0, 0.4]))
        pn.proxy_bias.copy_(torch.tensor([-0.2, 0.4, 0.1, 0.0]))
    x = torch.randn(3, c, 5, 6, generator=gen, dtype=torch.float64) * 2 + 1
    out = pn(x)
    # independent closed form: GN by hand, then relu(gamma*y + beta) normalized by the Gaussian moments
    xg = x.reshape(3, groups, -1)
    std = torch.sqrt(xg.var(-1, correction=0, keepdim=True) + pn.eps)
    y = ((xg - xg.mean(-1, keepdim=True)) / std).reshape(x.shape)
    g, b = pn.weight.detach(), pn.bias.detach()
    pg, pb = pn.proxy_weight.detach(), pn.proxy_bias.detach()
    mean, var = relu_gaussian_moments(g * (1 + pg), g * pb + b)
    v = lambda t: t.view(1, -1, 1, 1)  # noqa: E731
    expect = (torch.relu(v(g) * y + v(b)) - v(mean)) / torch.sqrt(v(var) + pn.proxy_eps)
    torch.testing.assert_close(out, expect, atol=2e-3, rtol=2e-3)


def _gaussian_moments_by_integration(act, gamma, beta, pgamma, pbeta):
    """E and Var of act(gamma * ((1 + pgamma) z + pbeta) + beta) for z ~ N(0, 1), by the trapezoid rule on a fine
    grid: independent of the module's quantile proxy."""
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    density = torch.exp(-(z**2) / 2) / SQRT2PI
    vals = act(gamma[:, None] * ((1 + pgamma[:, None]) * z + pbeta[:, None]) + beta[:, None])
    mean = torch.trapezoid(vals * density, z, dim=-1)
    var = torch.trapezoid((vals - mean[:, None]) ** 2 * density, z, dim=-1)
    return mean, var


@pytest.mark.parametrize("activation, fn", [("relu", torch.relu), ("gelu", F.gelu), ("identity", lambda t: t)])
def test_module_matches_an_independent_integral_of_the_proxy(activation, fn):
    pn = ProxyNorm(8, groups=2, activation=activation, n_proxy=20_000).double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in pn.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(3, 8, 4, 4, generator=g, dtype=torch.float64)
    y = F.group_norm(x, 2, eps=pn.eps)
    gm, bt = pn.weight.detach(), pn.bias.detach()
    mean, var = _gaussian_moments_by_integration(fn, gm, bt, pn.proxy_weight.detach(), pn.proxy_bias.detach())
    v = lambda t: t.view(1, -1, 1, 1)  # noqa: E731
    expect = (fn(v(gm) * y + v(bt)) - v(mean)) / torch.sqrt(v(var) + pn.proxy_eps)
    torch.testing.assert_close(pn(x), expect, atol=1e-3, rtol=1e-3)


def test_identity_activation_is_nearly_a_plain_layer_norm_at_init():
    pn = ProxyNorm(6)  # activation="identity"
    x = torch.randn(2, 6, 4, 4) * 3 + 2
    ln = F.layer_norm(x, x.shape[1:])
    q_var = proxy_quantiles(200).var(correction=0)
    torch.testing.assert_close(pn(x), ln / torch.sqrt(q_var + pn.proxy_eps), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("activation", ["silu", "gelu", "tanh", "leaky_relu"])
def test_gradcheck_float64(activation):
    pn = ProxyNorm(4, groups=2, activation=activation, n_proxy=16).double()
    with torch.no_grad():
        for p in pn.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    params = {k: p.detach().clone().requires_grad_(True) for k, p in pn.named_parameters()}
    names = list(params)

    def f(x, *ps):
        return torch.func.functional_call(pn, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params.values()), fast_mode=True)


def test_batch_independence():
    pn = ProxyNorm(8, groups=4, activation="relu")
    x = torch.randn(5, 8, 6, 6)
    full = pn(x)
    for i in range(5):
        torch.testing.assert_close(full[i : i + 1], pn(x[i : i + 1]))
    x2 = x.clone()
    x2[1:] = 100 * torch.randn_like(x2[1:])
    torch.testing.assert_close(pn(x2)[0], full[0])


def test_output_is_roughly_normalized_after_relu():
    # the point of PN: post-activation channels near zero mean / unit variance without a batch
    pn = ProxyNorm(16, activation="relu")
    out = pn(torch.randn(64, 16, 8, 8))
    assert abs(out.mean().item()) < 0.05
    assert out.var().item() == pytest.approx(1 / (1 + 0.03 / 0.34), abs=0.05)


def test_affine_false_is_parameter_free_group_norm():
    pn = ProxyNorm(8, groups=2, affine=False)
    assert list(pn.parameters()) == []
    x = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(pn(x), F.group_norm(x, 2, eps=pn.eps))
    pn_relu = ProxyNorm(8, activation="relu", affine=False)
    torch.testing.assert_close(pn_relu(x), torch.relu(F.layer_norm(x, x.shape[1:], eps=pn.eps)))


def test_bf16_runs_and_is_close_to_fp32():
    pn = ProxyNorm(8, groups=2, activation="gelu")
    x = torch.randn(2, 8, 8, 8)
    ref = pn(x)
    out = pn(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=5e-2, rtol=5e-2)


def test_inputs_without_spatial_dims_and_3d():
    pn = ProxyNorm(6, groups=3, activation="silu")
    assert pn(torch.randn(4, 6)).shape == (4, 6)
    assert pn(torch.randn(2, 6, 3, 4, 5)).shape == (2, 6, 3, 4, 5)


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown activation 'sigmoidx'.*relu"):
        ProxyNorm(8, activation="sigmoidx")
    with pytest.raises(ValueError, match="divisible by groups"):
        ProxyNorm(10, groups=4)
    with pytest.raises(ValueError, match=r"\(B, 8"):
        ProxyNorm(8)(torch.randn(2, 4, 3, 3))


def test_param_groups_decay_only_proxy_parameters():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), ProxyNorm(8, activation="relu"), ProxyNorm(8, groups=2))
    groups = proxy_param_groups(model, 0.5)
    assert [g["weight_decay"] for g in groups] == [0.5, 0.0]
    proxy_ids = {id(p) for m in model[1:] for p in (m.proxy_weight, m.proxy_bias)}
    assert {id(p) for p in groups[0]["params"]} == proxy_ids
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    opt = torch.optim.AdamW(groups, lr=0.1)
    (0 * model(torch.randn(1, 3, 5, 5)).sum()).backward()
    opt.step()
    # decoupled decay: p <- p * (1 - lr * wd) for the proxy parameters, untouched elsewhere
    for m in model[1:]:
        torch.testing.assert_close(m.proxy_weight.detach(), torch.full((8,), 0.95))
        torch.testing.assert_close(m.weight.detach(), torch.ones(8))
    assert proxy_param_groups(torch.nn.Linear(2, 2), 0.1)[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_pn_act_function_equals_the_module(act):
    """The functional PN-Act on the group-normalized input is what ProxyNorm computes, bias included."""
    import torch.nn.functional as F

    from norms.activations import activation_fn
    from norms.proxy import ProxyNorm, pn_act

    torch.manual_seed(1)
    layer = ProxyNorm(8, groups=2, activation=act).double()
    with torch.no_grad():
        for p in (layer.weight, layer.bias, layer.proxy_weight, layer.proxy_bias):
            p.copy_(torch.randn(8, dtype=torch.float64) * 0.5)
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    y = F.group_norm(x, 2, eps=layer.eps)
    want = pn_act(
        y,
        layer.weight,
        layer.bias,
        layer.proxy_weight,
        layer.proxy_bias,
        layer.quantiles.double(),
        activation_fn(act),
        layer.proxy_eps,
    )
    assert torch.allclose(layer(x), want, atol=1e-10)
    shifted = pn_act(
        y,
        layer.weight,
        layer.bias + 1.0,
        layer.proxy_weight,
        layer.proxy_bias,
        layer.quantiles.double(),
        activation_fn(act),
        layer.proxy_eps,
    )
    assert not torch.allclose(shifted, want, atol=1e-3)  # the bias matters


# --- mutation survivors (tools/mutate.py): dtypes, defaults, every validation boundary, the optimizer groups ---


def test_quantiles_dtype_follows_the_argument():
    assert proxy_quantiles(5).dtype == torch.float32
    assert proxy_quantiles(5, torch.float64).dtype == torch.float64


def test_proxy_moments_compute_in_the_weights_precision_whatever_the_other_dtypes():
    """fp32 weights -> fp32 moments even when bias, proxy parameters or quantiles come in fp64 (no promotion)."""
    from norms.activations import activation_fn

    c = 3
    args64 = [torch.randn(c, dtype=torch.float64) * 0.3 for _ in range(3)] + [proxy_quantiles(16, torch.float64)]
    w32 = torch.randn(c) * 0.5 + 1
    for k in range(4):  # one of bias, proxy_weight, proxy_bias, quantiles in fp64, the rest fp32
        args = [a.float() for a in args64]
        args[k] = args64[k]
        mean, var = proxy_moments(w32, *args, activation_fn("relu"))
        assert (mean.dtype, var.dtype) == (torch.float32, torch.float32), k
    mean, var = proxy_moments(w32.double(), *args64, activation_fn("relu"))
    assert mean.dtype == torch.float64


def test_pn_act_keeps_the_input_dtype_and_its_proxy_eps():
    from norms.activations import activation_fn
    from norms.proxy import pn_act, proxy_standardize

    torch.manual_seed(0)
    params = [torch.randn(4) * 0.3 + (1.0 if k == 0 else 0.0) for k in range(4)]
    q, act = proxy_quantiles(64), activation_fn("relu")
    y = torch.randn(2, 4, 3, 3)
    assert pn_act(y.bfloat16(), *params, q, act).dtype == torch.bfloat16
    # the defaults are the paper's 0.03, and an explicit proxy_eps is used
    torch.testing.assert_close(pn_act(y, *params, q, act), pn_act(y, *params, q, act, 0.03))
    mean, var = proxy_moments(params[0], params[1], params[2], params[3], q, act)
    z = act(y * params[0].view(1, -1, 1, 1) + params[1].view(1, -1, 1, 1))
    want = (z - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + 0.7)
    torch.testing.assert_close(pn_act(y, *params, q, act, 0.7), want)
    torch.testing.assert_close(proxy_standardize(z, mean, var), proxy_standardize(z, mean, var, 0.03))
    torch.testing.assert_close(proxy_standardize(z, mean, var, 0.7), want)


@pytest.mark.parametrize("affine", [True, False])
def test_module_uses_its_eps_and_proxy_eps(affine):
    from norms.activations import activation_fn
    from norms.proxy import pn_act

    torch.manual_seed(2)
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64) * 0.05  # tiny variance: eps 0.1 changes the result a lot
    layer = ProxyNorm(4, groups=2, activation="tanh", eps=0.1, proxy_eps=0.7, affine=affine).double()
    y = F.group_norm(x, 2, eps=0.1)
    if affine:
        want = pn_act(
            y, layer.weight, layer.bias, layer.proxy_weight, layer.proxy_bias, layer.quantiles.double(), torch.tanh, 0.7
        )
    else:
        want = activation_fn("tanh")(y)
    torch.testing.assert_close(layer(x), want)


def test_every_constructor_limit_is_exact():
    ProxyNorm(1)  # the smallest layer
    ProxyNorm(4, n_proxy=2)
    ProxyNorm(4, proxy_eps=0.0)
    for bad, words in [
        (dict(num_features=0), "num_features must be a positive int, got 0"),
        (dict(num_features=True), "num_features must be a positive int, got True"),
        (dict(num_features=4, groups=0), r"divisible by groups \(0\)"),
        (dict(num_features=4, n_proxy=1), "n_proxy must be >= 2, got 1"),
        (dict(num_features=4, eps=0.0), "eps must be > 0 and proxy_eps >= 0, got eps=0.0, proxy_eps=0.03"),
        (dict(num_features=4, proxy_eps=-0.01), "got eps=1e-05, proxy_eps=-0.01"),
    ]:
        with pytest.raises(ValueError, match=words):
            ProxyNorm(**bad)
    import re

    from norms.activations import list_activations

    with pytest.raises(ValueError, match=re.escape(f"valid activations: {', '.join(list_activations())}")):
        ProxyNorm(4, activation="nope")


def test_activation_name_is_normalized_and_quantiles_stay_out_of_the_state_dict():
    assert ProxyNorm(4).activation == "identity"
    assert ProxyNorm(4, activation=None).activation == "identity"
    assert ProxyNorm(4, activation="ReLU").activation == "relu"
    assert "activation='relu'" in repr(ProxyNorm(4, activation="ReLU"))
    layer = ProxyNorm(4)
    assert "quantiles" not in layer.state_dict()
    assert set(layer.state_dict()) == {"weight", "bias", "proxy_weight", "proxy_bias"}


def test_param_groups_skip_frozen_proxy_parameters_and_list_shared_ones_once():
    a, b = ProxyNorm(4, activation="relu"), ProxyNorm(4, activation="relu")
    b.proxy_weight = a.proxy_weight  # two layers tied to one proxy parameter: listed once
    model = torch.nn.Sequential(a, b)
    groups = proxy_param_groups(model, 0.1)
    assert len(groups[0]["params"]) == 3  # a.proxy_weight (shared), a.proxy_bias, b.proxy_bias
    a.proxy_bias.requires_grad_(False)
    groups = proxy_param_groups(model, 0.1)
    listed = [id(p) for g in groups for p in g["params"]]
    assert id(a.proxy_bias) not in listed and id(a.proxy_weight) in listed
