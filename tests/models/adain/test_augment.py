"""models.adain.augment: style recolouring spreads colour statistics; the histogram helpers."""

import numpy as np
import torch

from models.adain.augment import StyleAugment, histogram_image, hue_saturation_histogram


def _reddish(n=64, size=8):
    g = torch.Generator().manual_seed(0)
    base = torch.tensor([0.8, 0.3, 0.2])[None, :, None, None]
    return (base + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)


def test_strength_zero_is_the_identity():
    x = _reddish()
    assert torch.equal(StyleAugment(0.0)(x), x)


def test_augmentation_covers_more_of_the_hue_saturation_plane():
    torch.manual_seed(0)
    x = _reddish()
    before = (hue_saturation_histogram(x) > 0).sum()
    after = (hue_saturation_histogram(StyleAugment(1.0)(x)) > 0).sum()
    assert before <= 3 and after >= 4 * before
    out = StyleAugment(1.0)(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_histogram_counts_every_image_and_renders():
    hist = hue_saturation_histogram(torch.rand(10, 3, 4, 4), bins=6)
    assert hist.shape == (6, 6) and hist.sum() == 10
    img = histogram_image(hist, cell=5)
    assert img.size == (30, 30) and np.asarray(img).max() > 0
