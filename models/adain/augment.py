"""On-the-fly style augmentation: colour and texture statistics that no single training image has.

The decoder must reproduce *arbitrary* feature statistics, but a few hundred style images cover colour space
unevenly (texture packages are brown and grey, paintings ochre and blue). Each training step recolours its style
batch at random — hue rotation, saturation, contrast, occasional grayscale and channel permutation — so the style
statistics the decoder is asked to hit spread over the whole hue/saturation plane (see ``docs/adain.md``). Scale and
crop jitter happens in the data loader (``models.adain.data``) and small seamless textures are tiled by the data
builder.

>>> aug = StyleAugment(strength=1.0)
>>> aug(torch.rand(4, 3, 32, 32)).shape
torch.Size([4, 3, 32, 32])
"""

from __future__ import annotations

import sys
from pathlib import Path

import kornia.augmentation as K
import numpy as np
import torch
from kornia.color import rgb_to_hsv
from PIL import Image
from torch import nn

from models.adain.data import find_images
from models.common.cli import ArgumentParser, user_error
from models.common.imageio import load_image, pil_to_tensor

__all__ = ["StyleAugment", "coverage_figure", "hue_saturation_histogram", "histogram_image", "main"]


class StyleAugment(nn.Module):
    """Random recolouring of a style batch ``(B, 3, H, W)`` in [0, 1] -> same shape, per sample.

    ``strength`` scales every range (0 = identity, 1 = full hue rotation, saturation x0.3-1.7, contrast x0.6-1.4,
    grayscale 10 %, channel permutation 20 %).
    """

    def __init__(self, strength: float = 1.0) -> None:
        super().__init__()
        self.strength = float(strength)
        s = self.strength
        self.ops = nn.Sequential(
            K.ColorJiggle(contrast=0.4 * s, saturation=0.7 * s, hue=0.5 * min(s, 1.0), p=0.8 * min(s, 1.0)),
            K.RandomChannelShuffle(p=0.2 * min(s, 1.0)),
            K.RandomGrayscale(p=0.1 * min(s, 1.0)),
        )

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.strength <= 0:
            return x
        return self.ops(x.float()).clamp(0, 1).to(x.dtype)


def hue_saturation_histogram(images: torch.Tensor, bins: int = 24) -> np.ndarray:
    """2-D histogram of the per-image *mean colour* over (hue, saturation): ``(bins, bins)`` counts.

    ``images``: ``(N, 3, H, W)`` in [0, 1]. The mean colour is what AdaIN's relu1_1 statistics mostly encode.
    """
    mean_rgb = images.float().mean(dim=(2, 3))[:, :, None, None]  # (N, 3, 1, 1)
    hsv = rgb_to_hsv(mean_rgb)[:, :, 0, 0]  # hue in [0, 2pi], saturation in [0, 1]
    hue = (hsv[:, 0] / (2 * np.pi)).clamp(0, 1 - 1e-6).numpy()
    sat = hsv[:, 1].clamp(0, 1 - 1e-6).numpy()
    hist, _, _ = np.histogram2d(sat, hue, bins=bins, range=((0, 1), (0, 1)))
    return hist


def histogram_image(hist: np.ndarray, cell: int = 12) -> Image.Image:
    """Render a (saturation x hue) histogram: each cell shows its hue/saturation colour, dark where empty.

    Rows go from grey (saturation 0, top) to vivid (bottom); columns sweep the hue circle.
    """
    bins_s, bins_h = hist.shape
    h = (np.arange(bins_h) + 0.5) / bins_h
    s = (np.arange(bins_s) + 0.5) / bins_s
    hsv = np.stack(np.broadcast_arrays(h[None, :], s[:, None], np.ones((bins_s, bins_h))), -1)
    rgb = np.asarray(Image.fromarray((hsv * 255).astype(np.uint8), "HSV").convert("RGB"), dtype=np.float64)
    level = np.log1p(hist) / max(np.log1p(hist).max(), 1e-9)  # occupied cells bright, empty ones near black
    img = (rgb * (0.08 + 0.92 * level[..., None])).astype(np.uint8)
    return Image.fromarray(img).resize((bins_h * cell, bins_s * cell), Image.Resampling.NEAREST)


def coverage_figure(style_dirs: list[Path], out: Path, size: int = 64, repeats: int = 4, seed: int = 0) -> dict:
    """Side by side: hue/saturation histograms of style-image mean colours without and with augmentation.

    Every style image is resized to ``size`` and recoloured ``repeats`` times. Returns the occupied-cell counts.
    """
    torch.manual_seed(seed)
    tensors = []
    for path in find_images(style_dirs):
        try:
            tensors.append(pil_to_tensor(load_image(path, min_side=1).resize((size, size))))
        except (OSError, ValueError):
            continue
    if not tensors:
        raise ValueError(f"no readable style images in {', '.join(map(str, style_dirs))}")
    images = torch.stack(tensors)
    aug = StyleAugment(1.0)
    augmented = torch.cat([aug(images) for _ in range(repeats)])
    before, after = hue_saturation_histogram(images), hue_saturation_histogram(augmented)
    left, right = histogram_image(before), histogram_image(after)
    sheet = Image.new("RGB", (left.width * 2 + 16, left.height), (255, 255, 255))
    sheet.paste(left, (0, 0))
    sheet.paste(right, (left.width + 16, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return {
        "images": len(tensors),
        "cells": before.size,
        "occupied_before": int((before > 0).sum()),
        "occupied_after": int((after > 0).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(
        prog="python -m models.adain.augment",
        description="Draw the colour coverage of a style set before/after augmentation.",
    )
    p.add_argument("--style-dir", type=Path, nargs="+", required=True, help="style image folder(s)")
    p.add_argument("--out", type=Path, default=Path("docs/adain_style_coverage.png"), help="PNG to write")
    args = p.parse_args(argv)
    try:
        stats = coverage_figure(args.style_dir, args.out)
    except ValueError as err:
        return user_error(str(err))
    print(
        f"wrote {args.out}: {stats['images']} style images; mean colours occupy {stats['occupied_before']} of "
        f"{stats['cells']} hue/saturation cells, {stats['occupied_after']} after augmentation"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
