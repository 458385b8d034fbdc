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
    out = mask * norms.adain(content, style_a, 0.0, content_mask=mask) \
        + (1 - mask) * norms.adain(content, style_b, 0.0, content_mask=1 - mask)
    left, right = out[..., :4], out[..., 4:]
    for got, want in zip(_stats(left), _stats(style_a)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    for got, want in zip(_stats(right), _stats(style_b)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_mask_errors_are_clear():
    with pytest.raises(ValueError, match="selects no pixels"):
        norms.mean_std(torch.randn(1, 2, 4, 4), mask=torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="requires the 'instance'"):
        norms.AdaIN(2, norm="layer")(torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4),
                                     content_mask=torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="must share"):
        norms.adain(torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4))


def test_adain_gradcheck():
    c = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(norms.adain, (c, s))
