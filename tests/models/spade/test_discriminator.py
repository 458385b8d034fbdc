"""Multiscale PatchGAN discriminator."""

import pytest
import torch

from models.spade.discriminator import DiscConfig, MultiscaleDiscriminator


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("norm", ["instance", "batch", "proxy"])
def test_scales_features_and_gradients(size, norm):
    D = MultiscaleDiscriminator(DiscConfig(ndf=4, n_layers=3, num_d=2, norm=norm), label_nc=5)
    seg = torch.zeros(2, 5, size, size)
    seg[:, 1] = 1
    img = torch.rand(2, 3, size, size, requires_grad=True)
    outs = D(seg, img)
    assert len(outs) == 2 and len(outs[0]) == 4  # 3 conv layers + the logits
    assert outs[0][-1].shape[:2] == (2, 1) and outs[1][-1].shape[-1] < outs[0][-1].shape[-1]
    sum(o[-1].mean() for o in outs).backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()
    assert all(p.grad is not None for p in D.parameters() if p.requires_grad)


def test_discriminator_uses_spectral_norm_and_rejects_mismatched_inputs():
    D = MultiscaleDiscriminator(DiscConfig(ndf=4, n_layers=2), label_nc=3)
    assert any("parametrizations.weight.original" in k for k in D.state_dict())
    with pytest.raises(ValueError, match="one size"):
        D(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 16, 16))
