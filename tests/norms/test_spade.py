"""SPADE: the conditional norm works with every registry norm and follows its formula."""

import pytest
import torch
import torch.nn.functional as F

import norms


@pytest.mark.parametrize("name", norms.list_norms())
def test_spade_with_every_inner_norm(name):
    kw = {"groups": 4} if name == "group" else {}
    layer = norms.SPADE(16, label_nc=5, param_free_norm=name, hidden=8, **kw)
    x = torch.randn(4, 16, 8, 8, requires_grad=True)
    seg = F.one_hot(torch.randint(0, 5, (4, 4, 4)), 5).permute(0, 3, 1, 2).float()
    out = layer(x, seg)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for p in layer.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    # the inner norm is parameter-free: every parameter belongs to the label-map convs
    assert all(n.split(".")[0] in ("shared", "gamma", "beta") for n, _ in layer.named_parameters())


def test_spade_formula_with_instance_norm():
    layer = norms.SPADE(3, label_nc=2, hidden=4)
    x = torch.randn(2, 3, 6, 6)
    seg = torch.zeros(2, 2, 3, 3)
    seg[:, 0, :, :2] = 1  # two classes side by side: nearest and bilinear resizing give different maps
    seg[:, 1, :, 2:] = 1
    up = F.interpolate(seg, size=(6, 6), mode="nearest")
    assert not torch.allclose(up, F.interpolate(seg, size=(6, 6), mode="bilinear", align_corners=False))
    h = layer.shared(up)
    want = F.instance_norm(x) * (1 + layer.gamma(h)) + layer.beta(h)
    torch.testing.assert_close(layer(x, seg), want)


def test_spade_rejects_wrong_label_channels():
    with pytest.raises(ValueError, match="expects segmap"):
        norms.SPADE(3, label_nc=4)(torch.randn(1, 3, 4, 4), torch.randn(1, 2, 4, 4))
