"""SPADE's losses: hinge GAN, discriminator feature matching, VGG perceptual loss and the VAE's KL term.

Discriminator outputs are lists (one per scale) of feature lists whose last item is the patch logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.common.vgg import VGG19Features

__all__ = [
    "VGGLoss",
    "feature_matching_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "kl_loss",
    "mode_seeking_loss",
    "CAFFE_TO_TORCHVISION",
]

# Our VGG (models/common/vgg.py) works on the raw Caffe scale (inputs 0..255 minus the mean), the SPADE
# reference on torchvision's (inputs divided by std ~0.226); ReLU nets are ~homogeneous, so dividing
# feature distances by 255 * 0.226 puts them on the scale the paper's weight (x10) was tuned for.
CAFFE_TO_TORCHVISION = 1.0 / (255.0 * 0.226)


def hinge_d_loss(real_outs: list[list[torch.Tensor]], fake_outs: list[list[torch.Tensor]]) -> torch.Tensor:
    """``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``, averaged over scales."""
    loss = sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real_outs, fake_outs))
    return loss / len(real_outs)


def hinge_g_loss(fake_outs: list[list[torch.Tensor]]) -> torch.Tensor:
    """``-mean(D(fake))``, averaged over scales."""
    return -sum(f[-1].mean() for f in fake_outs) / len(fake_outs)


def feature_matching_loss(real_outs: list[list[torch.Tensor]], fake_outs: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between D's intermediate features of real and fake: summed over layers, averaged over scales."""
    loss = 0.0
    for r, f in zip(real_outs, fake_outs):
        for rf, ff in zip(r[:-1], f[:-1]):
            loss = loss + F.l1_loss(ff, rf.detach())
    return loss / len(real_outs)


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over z, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()


def mode_seeking_loss(
    fake1: torch.Tensor, fake2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Mode-seeking loss (Mao et al., CVPR 2019): ``1 / (mean|fake1 - fake2| / mean|z1 - z2| + eps)``.

    Two images ``(B, 3, H, W)`` of the same layouts from codes ``(B, Z)``; small when the images differ as
    much as their codes do, large when the generator ignores the code (mode collapse).
    """
    ratio = (fake1.float() - fake2.float()).abs().mean() / (z1.float() - z2.float()).abs().mean()
    return 1.0 / (ratio + eps)


class VGGLoss(nn.Module):
    """Perceptual loss: weighted L1 between VGG-19 relu{1..5}_1 features (weights 1/32, 1/16, 1/8, 1/4, 1).

    Shape: ``forward(fake (B, 3, H, W), real (B, 3, H, W))`` both in [-1, 1] -> scalar.
    """

    LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, vgg: nn.Module | None = None) -> None:
        super().__init__()
        if vgg is None:
            vgg = VGG19Features(self.LAYERS)
        self.vgg = vgg

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        both = self.vgg(torch.cat([fake, real], 0).float().add(1).mul(0.5))
        loss = 0.0
        for name, w in zip(self.LAYERS, self.WEIGHTS):
            f, r = both[name].chunk(2)
            loss = loss + w * F.l1_loss(f, r.detach())
        return loss * CAFFE_TO_TORCHVISION
