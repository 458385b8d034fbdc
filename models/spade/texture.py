"""Texture statistics of synthesized pictures: periodicity ("knitted" texture) and seed diversity.

**Periodicity.** A generator whose texture is a function of the label map alone repeats it with the period of
its upsampling grid. In every ``patch x patch`` window that lies inside one class we take the high-pass residual
(grey image minus a Gaussian blur of sigma 3 px), its normalised autocorrelation (1 at lag 0, each lag divided by
the number of overlapping pixels), and the highest value at lags of 5-20 px; the score is the mean over windows.
Real renders' grain decorrelates within a few pixels (low score); a repeating texture peaks again at its period.

**Diversity.** For one layout rendered with many seeds: the mean pairwise |difference| (/255), and a Fréchet
distance between the spread of generated pictures and the spread of renders of the same layout, each picture
described by the mean and standard deviation of RGB inside each class region it shows.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

__all__ = [
    "class_colour_stats",
    "fine_residual",
    "gaussian_blur",
    "mean_pairwise_difference",
    "periodicity",
    "spread_distance",
]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, 1, H, W)``, reflect-padded."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def fine_residual(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """The part of pictures ``(B, C, H, W)`` above 1/``factor`` of their resolution: each minus its ``factor``-x
    area-downsampled, bilinearly upsampled copy (same shape; differentiable). A blurry upscale has almost none;
    the evaluation's *detail* (``models.spade.eval.detail_energy``) and the training's detail loss both read it."""
    h, w = x.shape[-2:]
    low = F.interpolate(
        F.interpolate(x, size=(max(1, h // factor), max(1, w // factor)), mode="area"),
        size=(h, w),
        mode="bilinear",
        align_corners=False,
    )
    return x - low


def _autocorrelation(patches: torch.Tensor) -> torch.Tensor:
    """Normalised, non-circular autocorrelation of ``(N, P, P)`` zero-mean patches: ``(N, 2P-1, 2P-1)``, 1 at the
    centre."""
    N, P, _ = patches.shape
    size = 2 * P
    f = torch.fft.rfft2(patches, s=(size, size))
    ac = torch.fft.irfft2(f * f.conj(), s=(size, size))
    ac = torch.fft.fftshift(ac, dim=(-2, -1))[:, 1:, 1:]  # lags -(P-1)..(P-1)
    ones = torch.fft.rfft2(torch.ones(1, P, P, dtype=patches.dtype), s=(size, size))
    overlap = torch.fft.fftshift(torch.fft.irfft2(ones * ones.conj(), s=(size, size)), dim=(-2, -1))[:, 1:, 1:]
    ac = ac / overlap.round().clamp(min=1)
    return ac / ac[:, P - 1 : P, P - 1 : P].clamp(min=1e-12)


def periodicity(
    images: torch.Tensor, ids: torch.Tensor, patch: int = 48, lags: tuple[int, int] = (5, 20), sigma: float = 3.0
) -> tuple[float, int]:
    """Texture periodicity of ``images (B, 3, H, W)`` in [0, 1] (or [-1, 1]: only the residual matters) with their
    label maps ``ids (B, H, W)``: ``(mean peak autocorrelation at lags in [lags], number of windows)``.

    Windows are the non-overlapping ``patch`` grid cells whose labels are all one class; ``(nan, 0)`` if none.
    """
    if images.dim() != 4 or ids.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(
            f"periodicity needs images (B, 3, H, W) and ids (B, H, W), got {tuple(images.shape)} and {tuple(ids.shape)}"
        )
    grey = images.double().mean(1, keepdim=True)
    resid = (grey - gaussian_blur(grey, sigma))[:, 0]
    B, H, W = resid.shape
    picks = []
    for b in range(B):
        for top in range(0, H - patch + 1, patch):
            for left in range(0, W - patch + 1, patch):
                lab = ids[b, top : top + patch, left : left + patch]
                if bool((lab == lab[0, 0]).all()):
                    picks.append(resid[b, top : top + patch, left : left + patch])
    if not picks:
        return float("nan"), 0
    p = torch.stack(picks)
    p = p - p.mean(dim=(1, 2), keepdim=True)
    ac = _autocorrelation(p)
    d = torch.arange(-(patch - 1), patch, dtype=torch.float64)
    dist = torch.sqrt(d[:, None] ** 2 + d[None, :] ** 2)
    ring = (dist >= lags[0]) & (dist <= lags[1])
    peaks = ac[:, ring].amax(dim=1)
    return float(peaks.mean()), len(picks)


def class_colour_stats(images: torch.Tensor, ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per picture and class: mean and std of RGB inside the class region -> ``(B, num_classes * 6)``.

    A class absent from the layout contributes zeros (the same for every picture of that layout).
    """
    B = images.shape[0]
    out = torch.zeros(B, num_classes, 6, dtype=torch.float64)
    x = images.double()
    for k in range(num_classes):
        m = (ids == k).double().unsqueeze(1)  # (B, 1, H, W)
        n = m.sum(dim=(2, 3))  # (B, 1)
        ok = n[:, 0] > 0
        if not ok.any():
            continue
        mean = (x * m).sum(dim=(2, 3)) / n.clamp(min=1)
        var = ((x - mean[:, :, None, None]) ** 2 * m).sum(dim=(2, 3)) / n.clamp(min=1)
        out[ok, k, :3] = mean[ok]
        out[ok, k, 3:] = var[ok].sqrt()
    return out.flatten(1)


def spread_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a (N, D)`` and ``b (M, D)`` (float64).

    Uses the symmetric form ``tr(A + B - 2 (A^1/2 B A^1/2)^1/2)``, stable for the rank-deficient covariances of
    few samples; ``eps`` on the diagonal keeps square roots real.
    """
    a, b = a.double(), b.double()
    mu = a.mean(0) - b.mean(0)
    ca = torch.cov(a.T).reshape(a.shape[1], a.shape[1]) + eps * torch.eye(a.shape[1], dtype=torch.float64)
    cb = torch.cov(b.T).reshape(b.shape[1], b.shape[1]) + eps * torch.eye(b.shape[1], dtype=torch.float64)

    def sqrtm(m: torch.Tensor) -> torch.Tensor:
        w, v = torch.linalg.eigh((m + m.T) / 2)
        return (v * w.clamp(min=0).sqrt()) @ v.T

    ra = sqrtm(ca)
    cross = sqrtm(ra @ cb @ ra)
    return float(mu @ mu + torch.trace(ca + cb - 2 * cross))


def mean_pairwise_difference(images: torch.Tensor) -> float:
    """Mean over all pairs of ``images (N, 3, H, W)`` in [0, 1] of the mean |difference|, in 8-bit levels."""
    n = images.shape[0]
    if n < 2:
        raise ValueError("mean_pairwise_difference needs at least two images")
    diffs = [float((images[i] - images[j]).abs().mean()) for i, j in itertools.combinations(range(n), 2)]
    return 255.0 * sum(diffs) / len(diffs)
