"""AdaIN: the output carries the style's channel statistics; masks restrict them."""

import importlib

import pytest
import torch

import norms
from norms.instance import InstanceNorm
from norms.stats import moments


def _stats(x):
    return x.mean(dim=(2, 3)), x.var(dim=(2, 3), unbiased=False).sqrt()


def test_adain_output_has_style_statistics():
    content = torch.randn(2, 16, 12, 10) * 3 + 5
    style = torch.randn(2, 16, 7, 9) * torch.rand(1, 16, 1, 1) * 4 - 2
    out = norms.adain(content, style, eps=0.0)
    for got, want in zip(_stats(out), _stats(style)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_adain_matches_float64_formula():
    c, s = torch.randn(1, 3, 5, 5, dtype=torch.float64), torch.randn(1, 3, 4, 4, dtype=torch.float64)
    mc, vc = c.mean((2, 3), keepdim=True), c.var((2, 3), unbiased=False, keepdim=True)
    ms, vs = s.mean((2, 3), keepdim=True), s.var((2, 3), unbiased=False, keepdim=True)
    want = (vs + 1e-5).sqrt() * (c - mc) / (vc + 1e-5).sqrt() + ms
    torch.testing.assert_close(norms.adain(c, s), want)


def test_adain_module_instance_equals_function():
    layer = norms.AdaIN(8)
    c, s = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(layer(c, s), norms.adain(c, s))
    assert not list(layer.parameters())


@pytest.mark.parametrize("name", ["layer", "group", "batch", "online", "proxy", "none"])
def test_adain_module_accepts_any_registry_norm(name):
    kw = {"groups": 4} if name == "group" else {}
    layer = norms.AdaIN(8, norm=name, **kw)
    out = layer(torch.randn(3, 8, 6, 6), torch.randn(3, 8, 5, 5))
    assert out.shape == (3, 8, 6, 6) and torch.isfinite(out).all()


def test_masked_statistics_transfer_per_region():
    content = torch.randn(1, 4, 8, 8)
    style_a, style_b = torch.randn(1, 4, 8, 8) * 3 + 4, torch.randn(1, 4, 8, 8) * 0.5 - 4
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :4] = 1
    out = mask * norms.adain(content, style_a, 0.0, content_mask=mask) + (1 - mask) * norms.adain(
        content, style_b, 0.0, content_mask=1 - mask
    )
    left, right = out[..., :4], out[..., 4:]
    for got, want in zip(_stats(left), _stats(style_a)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    for got, want in zip(_stats(right), _stats(style_b)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_mask_errors_are_clear():
    with pytest.raises(ValueError, match="selects no pixels"):
        norms.mean_std(torch.randn(1, 2, 4, 4), mask=torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="requires the 'instance'"):
        norms.AdaIN(2, norm="layer")(
            torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4), content_mask=torch.ones(1, 1, 4, 4)
        )
    with pytest.raises(ValueError, match="must share"):
        norms.adain(torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4))


def test_adain_gradcheck():
    c = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(norms.adain, (c, s))


# ---------------------------------------------------------------------------------------- precomputed statistics
def _tile_moments(x, cut_rows=(3, 9), cut_cols=(5,)):
    from norms import stats

    r, c = [0, *cut_rows, x.shape[-2]], [0, *cut_cols, x.shape[-1]]
    total = stats.empty(x.shape[:2])
    for i in range(len(r) - 1):
        for j in range(len(c) - 1):
            total = stats.merge(total, stats.moments(x[..., r[i] : r[i + 1], c[j] : c[j + 1]]))
    return total


def test_adain_with_the_whole_tensors_statistics_equals_adain_on_the_whole_tensor():
    from norms import stats

    c, s = torch.randn(2, 6, 12, 11) * 2 + 1, torch.randn(2, 6, 9, 7) * 5 - 3
    want = norms.adain(c, s)
    torch.testing.assert_close(norms.adain(c, s, content_stats=stats.moments(c)), want)
    merged = _tile_moments(c)
    torch.testing.assert_close(norms.adain(c, None, content_stats=merged, style_stats=_tile_moments(s)), want)
    # a tile normalized with the whole tensor's statistics is the matching piece of the whole result
    torch.testing.assert_close(norms.adain(c[..., 3:9, :5], s, content_stats=merged), want[..., 3:9, :5])


@pytest.mark.parametrize("name,kw", [("instance", {}), ("group", {"groups": 3}), ("layer", {})])
def test_adain_module_tile_with_merged_statistics_equals_the_whole(name, kw):
    layer = norms.AdaIN(6, norm=name, **kw).eval()
    c, s = torch.randn(1, 6, 12, 11) * 2 + 1, torch.randn(1, 6, 9, 7) * 5 - 3
    want = layer(c, s)
    merged = _tile_moments(c)
    torch.testing.assert_close(
        layer(c[..., 3:9, 5:], s, content_stats=merged), want[..., 3:9, 5:], rtol=1e-5, atol=1e-5
    )


def test_adain_module_without_per_sample_statistics_applies_its_norm_as_is():
    layer = norms.AdaIN(4, norm="batch").eval()
    c, s = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 5, 5)
    stats = _tile_moments(c * 10)  # deliberately wrong: eval batch norm must not use them
    torch.testing.assert_close(layer(c, s, content_stats=stats), layer(c, s))


def test_precomputed_statistics_errors_are_clear():
    from norms import stats

    c = torch.randn(1, 4, 6, 6)
    with pytest.raises(ValueError, match="do not fit"):
        norms.adain(c, c, content_stats=stats.moments(torch.randn(1, 3, 2, 2)))
    with pytest.raises(TypeError, match="Moments"):
        norms.adain(c, c, content_stats=(c.mean(), c.std()))
    with pytest.raises(ValueError, match="style_stats"):
        norms.adain(c, None)
    with pytest.raises(ValueError, match="requires the 'instance'"):
        norms.AdaIN(4, norm="group", groups=2)(c, c, content_mask=torch.ones(1, 1, 6, 6))


# --- closed forms and exact messages (the survivors of `make mutate` on norms/adain.py) -------------------------
A = importlib.import_module("norms.adain")  # the module (``norms.adain`` is the function)


def _ref_stats(x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 masked spatial mean and biased variance, ``(B, C, 1, 1)`` each, from the definition."""
    x = x.double()
    w = torch.ones_like(x[:, :1]) if mask is None else mask.double()
    n = w.sum((2, 3), keepdim=True)
    mean = (w * x).sum((2, 3), keepdim=True) / n
    return mean, (w * (x - mean) ** 2).sum((2, 3), keepdim=True) / n


def _feats(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    content = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) * 2 + 1
    style = torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64) * 0.5 - 2
    c_mask = (torch.rand(2, 1, 4, 5, generator=g) > 0.4).double()
    s_mask = (torch.rand(2, 1, 6, 7, generator=g) > 0.6).double()
    c_mask[..., 0, 0] = s_mask[..., 0, 0] = 1  # never empty
    return content, style, c_mask, s_mask


def test_mean_std_default_eps_is_1e_5():
    mean, std = A.mean_std(torch.full((1, 2, 3, 3), 4.0, dtype=torch.float64))
    assert mean.shape == std.shape == (1, 2, 1, 1) and torch.allclose(mean, torch.full_like(mean, 4.0))
    assert torch.allclose(std, torch.full_like(std, 1e-5**0.5), rtol=1e-12)  # sqrt(0 + eps)


@pytest.mark.parametrize(
    ("x_shape", "mask_shape", "message"),
    [
        ((2, 3), None, r"^mean_std expects \(B, C, H, W\), got shape \(2, 3\)$"),
        ((2, 3, 4, 5), (2, 1, 3, 5), r"^mask must be \(B, 1, 4, 5\), got \(2, 1, 3, 5\)$"),
        ((2, 3, 4, 5), (2, 2, 4, 5), r"^mask must be \(B, 1, 4, 5\), got \(2, 2, 4, 5\)$"),
    ],
)
def test_mean_std_refuses_bad_shapes_saying_which(x_shape, mask_shape, message):
    mask = None if mask_shape is None else torch.ones(mask_shape)
    with pytest.raises(ValueError, match=message):
        A.mean_std(torch.zeros(x_shape), mask=mask)


def test_functional_adain_matches_the_closed_form_with_masks_eps_and_precomputed_stats():
    content, style, c_mask, s_mask = _feats()
    eps = 0.1  # not the default: a path that drops eps falls back to 1e-5 and misses
    (mc, vc), (ms, vs) = _ref_stats(content, c_mask), _ref_stats(style, s_mask)
    want = (content - mc) / (vc + eps).sqrt() * (vs + eps).sqrt() + ms
    out = A.adain(content, style, eps=eps, content_mask=c_mask, style_mask=s_mask)
    assert torch.allclose(out, want, atol=1e-10)
    cs = moments(content, mask=c_mask)
    ss = moments(style, mask=s_mask)
    assert torch.allclose(A.adain(content, None, eps=eps, content_stats=cs, style_stats=ss), want, atol=1e-10)
    # (1, C) statistics apply to every sample of the batch (C = 3 differs from H = 4 and from B = 2)
    one = moments(style[:1])
    m1, v1 = _ref_stats(style[:1])
    want1 = (content - _ref_stats(content)[0]) / (_ref_stats(content)[1] + eps).sqrt() * (v1 + eps).sqrt() + m1
    assert torch.allclose(A.adain(content, None, eps=eps, style_stats=one), want1, atol=1e-10)


def test_module_masks_use_the_norms_eps_for_content_and_its_own_for_the_style():
    content, style, c_mask, s_mask = _feats(1)
    layer = A.AdaIN(3, eps=0.1)  # the instance step keeps its own eps (1e-5)
    (mc, vc), (ms, vs) = _ref_stats(content, c_mask), _ref_stats(style, s_mask)
    want = (content - mc) / (vc + 1e-5).sqrt() * (vs + 0.1).sqrt() + ms
    out = layer(content, style, content_mask=c_mask, style_mask=s_mask)
    assert torch.allclose(out, want, atol=1e-8)


def test_group_step_with_precomputed_stats_equals_torch_group_norm():
    content = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    layer = A.AdaIN(4, norm="group", groups=2)
    got = layer.normalize_with(content, moments(content))  # masked defaults to False
    want = torch.nn.functional.group_norm(content, 2, eps=layer.norm.eps)
    assert torch.allclose(got, want, atol=1e-10)


def test_stat_groups_of_instance_norm_follows_its_running_statistics():
    inorm = InstanceNorm(5, affine=False, track_running_stats=True)
    assert A.stat_groups(inorm.train()) == 5  # training: the sample's own statistics
    assert A.stat_groups(inorm.eval()) is None  # eval with running statistics: any piece alike
    assert A.stat_groups(InstanceNorm(5).eval()) == 5


def test_adain_errors_name_the_argument_and_the_shapes():
    content, style, c_mask, _ = _feats()
    with pytest.raises(ValueError, match=r"^give the style features or their precomputed style_stats$"):
        A.adain(content, None)
    with pytest.raises(TypeError, match=r"^content_stats must be norms.stats.Moments, got str$"):
        A.adain(content, style, content_stats="stats")
    bad = moments(torch.randn(2, 5, 3, 3))
    message = r"^style_stats of shape \(2, 5\) do not fit features \(2, 3, 4, 5\): expected \(B, C\) = \(2, 3\)$"
    with pytest.raises(ValueError, match=message):
        A.adain(content, None, style_stats=bad)
    with pytest.raises(ValueError, match=message):
        A.AdaIN(3)(content, None, style_stats=bad)
    with pytest.raises(ValueError, match=r"^content_stats of shape \(2, 5\) do not fit"):
        A.AdaIN(3).normalize_with(content, bad)
    shapes = r"^content \(2, 3, 4, 5\) and style \(1, 3, 6, 7\) must share \(B, C\)$"
    with pytest.raises(ValueError, match=shapes):
        A.adain(content, style[:1])
    with pytest.raises(ValueError, match=shapes):
        A.AdaIN(3)(content, style[:1])
    group = A.AdaIN(3, norm="group")
    with pytest.raises(ValueError, match=rf"normalize step, got {type(group.norm).__name__}$"):
        group(content, style, content_mask=c_mask)
    batch = A.AdaIN(3, norm="batch").train()
    training = rf"^{type(batch.norm).__name__} in training mode normalizes with batch statistics: precomputed"
    with pytest.raises(ValueError, match=training + " statistics apply only in eval mode$"):
        batch.normalize_with(content, moments(content))


def test_mean_std_takes_any_spatial_rank_and_its_eps():
    x = torch.randn(2, 3, 5, dtype=torch.float64)  # (B, C, L): one spatial dim is enough
    mean, std = A.mean_std(x, eps=0.1)
    assert mean.shape == std.shape == (2, 3, 1)
    assert torch.allclose(std[..., 0], (x.var(-1, unbiased=False) + 0.1).sqrt(), atol=1e-12)


def test_the_module_takes_precomputed_style_statistics_in_place_of_the_style():
    """AdaIN(C)(content, None, style_stats=moments(s)) is AdaIN(C)(content, s); given both, the statistics win."""
    torch.manual_seed(3)
    content, style, other = torch.randn(2, 3, 5, 6), torch.randn(2, 3, 4, 4) * 2 + 1, torch.randn(2, 3, 4, 4)
    layer = norms.AdaIN(3)
    want = layer(content, style)
    torch.testing.assert_close(layer(content, None, style_stats=moments(style)), want)
    torch.testing.assert_close(layer(content, other, style_stats=moments(style)), want)
