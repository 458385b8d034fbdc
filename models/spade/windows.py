"""Large pictures from the crop generator: overlapping windows, one style code, margins dropped — no seams.

The crop generator is fully convolutional and told where each window lies in the whole picture (its position
channels), so a picture of any size is the union of windows. Each window is rendered with a margin around its core
that covers the generator's receptive field, on the 2**depth px grid of its start block, with the whole picture's
noise maps sliced to it and one shared style code; only the core is kept. With a normalizer whose statistics do not
depend on the window (batch or online norm in eval mode: running statistics), windowed = whole-picture rendering up
to float rounding, so there is nothing to blend and nothing to see at the borders. Memory is that of one window.

Label maps drawn at a smaller size are enlarged *smoothly* (:func:`smooth_label_upscale`): the one-hot map is
resized bilinearly and blurred a little before the arg-max, so diagonal edges stay straight lines instead of the
staircase a nearest-neighbour enlargement gives.

Example:
    >>> import torch
    >>> from models.spade.generator import GenConfig, build_generator, one_hot
    >>> G = build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, norm="batch", native=[32, 64])).eval()
    >>> seg = one_hot(torch.zeros(1, 96, 160, dtype=torch.long), 10)
    >>> synthesize_windows(G, seg, torch.zeros(1, 8), window=64, margin=16).shape  # (margin too small to be exact)
    torch.Size([1, 3, 96, 160])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["receptive_margin", "seam_score", "smooth_label_upscale", "synthesize_windows", "window_grid"]


def receptive_margin(cfg) -> int:
    """Margin that covers the crop generator's receptive field: ``8 * 2**depth`` px (the 3x3 convs of the start
    block and each SPADE reach 8 start-grid cells in all; measured in the tests: 8 * 2**depth - 1)."""
    return 8 * cfg.multiple


def window_grid(length: int, core: int, margin: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """Windows along one axis: ``(start, stop, keep_from, keep_to)`` = the rendered span and, inside it, the core kept.

    Cores tile ``[0, length)`` exactly once; every bound is a multiple of ``multiple`` (the start block's grid).

    >>> window_grid(96, 32, 16, 16)
    [(0, 48, 0, 32), (16, 80, 16, 48), (48, 96, 16, 48)]
    """
    if length % multiple or core % multiple or margin % multiple:
        raise ValueError(f"length {length}, core {core} and margin {margin} must be multiples of {multiple}")
    out = []
    for c0 in range(0, length, core):
        c1 = min(length, c0 + core)
        s0, s1 = max(0, c0 - margin), min(length, c1 + margin)
        out.append((s0, s1, c0 - s0, c1 - s0))
    return out


def synthesize_windows(
    generator: torch.nn.Module,
    seg: torch.Tensor,
    z: torch.Tensor | None,
    window: int = 512,
    margin: int = 128,
    noise: list[torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Render ``seg (1, K, H, W)`` (one-hot, sides multiples of the generator's grid) window by window.

    Args:
        generator: a crop generator (``CropSPADEGenerator``) in eval mode.
        z: ``(1, z_dim)`` style code shared by every window (None: the generator has no encoder).
        window: side of the rendered windows including margins; margin: pixels on each side that are rendered
            but dropped (at least the receptive field for exact agreement with a whole-picture render).
        noise: the whole picture's noise maps (``generator.make_noise(1, H, W)``), sliced per window.
        progress: ``progress(done, total)`` after each window.

    Returns:
        ``(1, 3, H, W)`` in [-1, 1] (float32, on ``seg``'s device).
    """
    f = generator.cfg.multiple
    _, _, H, W = seg.shape
    core = window - 2 * margin
    if core < f:
        raise ValueError(f"window {window} leaves no core after margins of {margin}")
    core = core // f * f
    rows, cols = window_grid(H, min(core, H), margin, f), window_grid(W, min(core, W), margin, f)
    out = torch.empty(1, 3, H, W, device=seg.device)
    total, done = len(rows) * len(cols), 0
    for y0, y1, ky0, ky1 in rows:
        for x0, x1, kx0, kx1 in cols:
            box = torch.tensor([[float(y0), float(x0), float(H), float(W)]], device=seg.device)
            nz = None
            if noise is not None:  # each map at its block's resolution: slice the same region of it
                nz = []
                for n in noise:
                    r = n.shape[-1] / W  # cells per output pixel of this map
                    nz.append(n[..., round(y0 * r) : round(y1 * r), round(x0 * r) : round(x1 * r)].to(seg.device))
            img = generator(seg[:, :, y0:y1, x0:x1], z, box=box, noise=nz)
            out[:, :, y0 + ky0 : y0 + ky1, x0 + kx0 : x0 + kx1] = img[:, :, ky0:ky1, kx0:kx1].float()
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def smooth_label_upscale(ids: torch.Tensor, size: tuple[int, int], num_classes: int) -> torch.Tensor:
    """Enlarge a label map ``(H, W)`` to ``size`` with smooth edges: ``(h, w)`` int64.

    Bilinear resize of the one-hot map, a Gaussian blur of half the enlargement factor, arg-max. Shrinking (or
    keeping the size) uses nearest-neighbour sampling. Ignore labels (outside ``0..num_classes-1``) stay nearest.
    """
    H, W = ids.shape
    h, w = size
    nearest = F.interpolate(ids[None, None].float(), size=size, mode="nearest")[0, 0].long()
    factor = max(h / H, w / W)
    if factor <= 1:
        return nearest
    valid = (ids >= 0) & (ids < num_classes)
    onehot = F.one_hot(torch.where(valid, ids, 0).long(), num_classes).permute(2, 0, 1)[None].float()
    big = F.interpolate(onehot, size=size, mode="bilinear", align_corners=False)
    sigma = factor / 2
    r = max(1, math.ceil(2 * sigma))
    t = torch.arange(-r, r + 1, dtype=big.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(big.device)
    big = F.conv2d(
        F.pad(big, (r, r, 0, 0), mode="replicate"),
        k.view(1, 1, 1, -1).expand(num_classes, 1, 1, -1),
        groups=num_classes,
    )
    big = F.conv2d(
        F.pad(big, (0, 0, r, r), mode="replicate"),
        k.view(1, 1, -1, 1).expand(num_classes, 1, -1, 1),
        groups=num_classes,
    )
    smooth = big[0].argmax(0)
    bad = F.interpolate((~valid)[None, None].float(), size=size, mode="nearest")[0, 0] > 0
    return torch.where(bad, nearest, smooth)


def seam_score(img: torch.Tensor, cuts_y: list[int], cuts_x: list[int], beside: int = 8) -> float:
    """Mean |gradient| across the window borders ÷ the same on the lines ``beside`` px away (1 = no seam).

    ``img (3, H, W)``; ``cuts_*``: pixel rows/columns where one window's core ends and the next begins.
    """
    x = img.double().mean(0)
    gy = (x[1:] - x[:-1]).abs()  # gy[i] is the step between rows i and i+1
    gx = (x[:, 1:] - x[:, :-1]).abs()
    at, ref = [], []
    for c in cuts_y:
        if beside <= c - 1 and c - 1 + beside < gy.shape[0]:
            at.append(gy[c - 1].mean())
            ref.append((gy[c - 1 - beside].mean() + gy[c - 1 + beside].mean()) / 2)
    for c in cuts_x:
        if beside <= c - 1 and c - 1 + beside < gx.shape[1]:
            at.append(gx[:, c - 1].mean())
            ref.append((gx[:, c - 1 - beside].mean() + gx[:, c - 1 + beside].mean()) / 2)
    if not at:
        return float("nan")
    return float(torch.stack(at).mean() / torch.stack(ref).mean().clamp(min=1e-12))
