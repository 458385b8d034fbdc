"""AdaIN: the output carries the style's channel statistics; masks restrict them."""

import pytest
import torch

import norms


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
