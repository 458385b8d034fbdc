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
    "class_detail_energy",
    "detail_loss",
    "feature_matching_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "kl_loss",
    "mode_seeking_loss",
    "period_loss",
    "residual_correlation",
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


def class_colour_stats_torch(x: torch.Tensor, seg: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, ...]:
    """Per picture and class, the mean and std of RGB inside the class region: ``x (B, 3, H, W)``, one-hot
    ``seg (B, K, H, W)`` -> ``(mean (B, K, 3), std (B, K, 3), pixels (B, K))`` (differentiable; fp32). The
    training twin of :func:`models.spade.texture.class_colour_stats`, which loops over classes in float64 so the
    evaluation's 512 px batches fit in memory; this one is one vectorized pass for 192 px training windows."""
    m = seg.float()[:, :, None]  # (B, K, 1, H, W)
    n = m.sum((-2, -1))  # (B, K, 1)
    x = x.float()[:, None]  # (B, 1, 3, H, W)
    mean = (x * m).sum((-2, -1)) / n.clamp(min=1)
    var = ((x - mean[..., None, None]) ** 2 * m).sum((-2, -1)) / n.clamp(min=1)
    return mean, (var + eps).sqrt(), n[..., 0]


def class_colour_loss(fake: torch.Tensor, real: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """The *look* loss: L1 between the per-class colour statistics (mean and std of RGB in each class region) of
    ``fake`` and ``real`` ``(B, 3, H, W)``, averaged over the classes present (``seg (B, K, h, w)`` one-hot,
    nearest-resized to the pictures).

    The VGG and feature-matching losses compare features, which care little about a region's overall tone; this
    term asks the generator to reproduce the paired picture's look (a sunset sky, pale grass) from its style
    code, which is what lets a seed's code change the scene as much as the renders' looks do (issue 37).
    """
    if seg.shape[-2:] != fake.shape[-2:]:
        seg = F.interpolate(seg.float(), size=fake.shape[-2:], mode="nearest")
    fm, fs, n = class_colour_stats_torch(fake, seg)
    rm, rs, _ = class_colour_stats_torch(real, seg)
    present = (n > 0).float()  # (B, K)
    per_class = ((fm - rm).abs() + (fs - rs).abs()).mean(-1)  # (B, K)
    return (per_class * present).sum() / present.sum().clamp(min=1)


PERIOD_LAGS = tuple(range(5, 21))  # the lags models.spade.texture.periodicity searches for a repeat


def interior_mask(seg: torch.Tensor, border: int) -> torch.Tensor:
    """Pixels whose ``(2 border + 1)``-square neighbourhood (clipped to the picture) is one class:
    one-hot ``seg (B, K, H, W)`` -> ``(B, H, W)`` bool. A high-pass residual is large at class edges; only the
    inside of a region says whether its texture repeats."""
    eroded = -F.max_pool2d(-seg.float(), 2 * border + 1, stride=1, padding=border)
    return eroded.amax(1) > 0.5


def residual_correlation(x: torch.Tensor, seg: torch.Tensor, lags=PERIOD_LAGS, sigma: float = 3.0, border: int = 6):
    """Per picture, the correlation of the high-pass residual (grey minus a Gaussian blur of ``sigma``) with itself
    shifted by each lag, horizontally and vertically, over pixel pairs inside one class region:
    ``x (B, 3, H, W)``, one-hot ``seg (B, K, H, W)`` -> ``(B, 2, len(lags))`` (differentiable, fp32 or fp64).

    A texture that repeats every 16 px correlates strongly at a lag of 16; a render's grain does not (0.06).
    """
    from models.spade.texture import gaussian_blur

    grey = x.to(torch.promote_types(x.dtype, torch.float32)).mean(1, keepdim=True)
    r = (grey - gaussian_blur(grey, sigma))[:, 0]  # (B, H, W)
    ids = seg.argmax(1)
    inside = interior_mask(seg, border)
    out = []
    for dim in (2, 1):  # horizontal shifts (along W), then vertical (along H)
        row = []
        for lag in lags:
            a, b = r.narrow(dim, 0, r.shape[dim] - lag), r.narrow(dim, lag, r.shape[dim] - lag)
            m = (
                inside.narrow(dim, 0, r.shape[dim] - lag)
                & inside.narrow(dim, lag, r.shape[dim] - lag)
                & (ids.narrow(dim, 0, r.shape[dim] - lag) == ids.narrow(dim, lag, r.shape[dim] - lag))
            ).float()
            num = (m * a * b).sum((1, 2))
            den = ((m * a * a).sum((1, 2)) * (m * b * b).sum((1, 2))).clamp(min=1e-12).sqrt()
            row.append(num / den)
        out.append(torch.stack(row, -1))
    return torch.stack(out, 1)


def period_loss(fake: torch.Tensor, real: torch.Tensor, seg: torch.Tensor, lags=PERIOD_LAGS) -> torch.Tensor:
    """The *periodicity* loss: how much more the fake's texture correlates with itself at lags of 5-20 px than
    its paired real picture's does (:func:`residual_correlation`; only the excess counts), at the lag where it is
    largest (a repeat has one period: a mean over 32 lags would dilute it 30x), averaged over pictures and both
    directions. ``fake``, ``real`` ``(B, 3, H, W)``; one-hot ``seg (B, K, h, w)``, nearest-resized.

    Why: noise inputs remove the cause of the generator's 16 px repeat (a uniform region gave every start-grid cell
    the same inputs), but frozen noise weights let the other weights learn to drown the noise out again and the
    repeat came back within 20 minutes of fine-tuning (docs/spade.md, issue 37 part 4). This term makes hiding the
    noise cost something.
    """
    if seg.shape[-2:] != fake.shape[-2:]:
        seg = F.interpolate(seg.float(), size=fake.shape[-2:], mode="nearest")
    with torch.no_grad():
        target = residual_correlation(real, seg, lags)
    return F.relu(residual_correlation(fake, seg, lags) - target).amax(-1).mean()


def class_detail_energy(
    x: torch.Tensor, seg: torch.Tensor, border: int = 4, factor: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per picture and class, the mean square of the fine residual (:func:`models.spade.texture.fine_residual`, all
    three channels) over the class region's inside (pixels ``border`` or more from another class):
    ``x (B, 3, H, W)``, one-hot ``seg (B, K, H, W)`` -> ``(energy (B, K), pixels (B, K))`` (differentiable)."""
    from models.spade.texture import fine_residual

    r2 = fine_residual(x.to(torch.promote_types(x.dtype, torch.float32)), factor).pow(2).mean(1)  # (B, H, W)
    m = seg.to(r2.dtype) * interior_mask(seg, border)[:, None].to(r2.dtype)  # (B, K, H, W)
    n = m.sum((-2, -1))
    return (m * r2[:, None]).sum((-2, -1)) / n.clamp(min=1), n


def detail_loss(fake: torch.Tensor, real: torch.Tensor, seg: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The *detail* loss: ``|log|`` of the ratio of the fake's fine-residual energy to its paired real picture's, in
    each class region (:func:`class_detail_energy`), averaged over the regions with an inside. ``fake``, ``real``
    ``(B, 3, H, W)``; one-hot ``seg (B, K, h, w)``, nearest-resized. Twice the real's grain costs ``log 4``, and
    so does a quarter of it.

    Why: the periodicity loss removed the generator's 16 px repeat, but its candidates kept only 0.78x of the
    renders' fine detail on procedural layouts (the default 0.91x) and lost realism there (issue 37 part 8). A log
    ratio asks for the real's grain in each region, neither smoothed away nor replaced by loud noise.
    """
    if seg.shape[-2:] != fake.shape[-2:]:
        seg = F.interpolate(seg.float(), size=fake.shape[-2:], mode="nearest")
    ef, n = class_detail_energy(fake, seg)
    with torch.no_grad():
        er, _ = class_detail_energy(real, seg)
    present = (n > 0).to(ef.dtype)
    per_class = ((ef + eps).log() - (er + eps).log()).abs()
    return (per_class * present).sum() / present.sum().clamp(min=1)


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
