"""Label maps like people paint them: brush strokes, blobs, classes in odd places, coarse or fine, hard or ragged.

The procedural scenes (:mod:`models.landscape.render`) are tidy: ridges filled down to a horizon, lakes, tree
clusters. What a user paints on the web app's canvas is not: two thick mountain strokes across the sky, a blob of
grass, a lake in a corner. :func:`painted_layout` draws such maps (deterministic per seed) and
:func:`models.landscape.render.render_layout` textures them, so the generator can be trained and judged on them.

A layout is built like a painting: a background (a sky/ground split with a wavy or straight horizon, or one
class), then 2-12 marks, each a brush stroke (a smooth random path of some width) or a blob (a noisy ellipse),
each of a class that usually fits where it lands (clouds high, water low) but sometimes does not. Marks are
drawn at a coarse resolution (blocky, like a fat brush on a small canvas) or at the full one; their edges are
hard, or ragged like an anti-aliased painting snapped to class colours.

Example:
    >>> from models.landscape.painted import painted_layout
    >>> ids = painted_layout(seed=4, size=64)
    >>> ids.shape, ids.dtype.name, int(ids.max()) < 10
    ((64, 64), 'int64', True)
"""

from __future__ import annotations

import numpy as np

from models.landscape.classes import CLASSES, NUM_CLASSES

__all__ = ["PAINTED_EVAL_SEED", "painted_batch", "painted_layout"]

_ID = {c.name: c.id for c in CLASSES}
# Held-out painted layouts are drawn from these seeds on; training seeds stay below.
PAINTED_EVAL_SEED = 900_000_000

# Where a class usually lands (y in [0, 1], top = 0): the range a mark's centre is drawn from when it "fits".
_PLACE = {
    "sky": (0.0, 0.5),
    "cloud": (0.0, 0.4),
    "mountain": (0.15, 0.6),
    "rock": (0.4, 1.0),
    "snow": (0.1, 0.5),
    "water": (0.5, 1.0),
    "sand": (0.55, 1.0),
    "grass": (0.5, 1.0),
    "tree": (0.35, 1.0),
    "dirt": (0.6, 1.0),
}
# How often each class is painted as a mark (mountains, trees, water and grass most: what the palette invites).
_MARK_WEIGHT = {
    "sky": 0.5,
    "cloud": 1.2,
    "mountain": 2.0,
    "rock": 0.8,
    "snow": 0.6,
    "water": 1.5,
    "sand": 0.7,
    "grass": 1.5,
    "tree": 1.5,
    "dirt": 0.7,
}
_GROUND = ("grass", "grass", "grass", "sand", "dirt", "water", "rock")


def _smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """``(n,)`` smooth 1-D noise with ``cells`` random knots, ~unit amplitude."""
    knots = rng.standard_normal(cells + 1)
    return np.interp(np.linspace(0, cells, n), np.arange(cells + 1), knots)


def _stroke(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float) -> np.ndarray:
    """Distance field (< 0 inside) of a brush stroke through ``(cy, cx)``: a smooth path, width varying along it."""
    n = 24
    length = rng.uniform(0.2, 1.4)
    angle = rng.uniform(-0.5, 0.5) if rng.random() < 0.7 else rng.uniform(0, np.pi)  # mostly across the picture
    t = np.linspace(-0.5, 0.5, n) * length
    bend = _smooth_noise(rng, n, 3) * rng.uniform(0.0, 0.12)
    py = cy + t * np.sin(angle) + bend * np.cos(angle)
    px = cx + t * np.cos(angle) - bend * np.sin(angle)
    width = rng.uniform(0.015, 0.12) * (1 + 0.35 * _smooth_noise(rng, n, 2))  # half-width along the path
    pts = np.stack([py, px], 1)
    d = np.full(yy.shape, np.inf)
    for i in range(n - 1):  # distance to each segment, minus the local half-width
        a, b = pts[i], pts[i + 1]
        ab = b - a
        tt = np.clip(((yy - a[0]) * ab[0] + (xx - a[1]) * ab[1]) / max(float(ab @ ab), 1e-9), 0, 1)
        dist = np.hypot(yy - (a[0] + tt * ab[0]), xx - (a[1] + tt * ab[1]))
        d = np.minimum(d, dist - (width[i] + tt * (width[i + 1] - width[i])))
    return d


def _blob(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float) -> np.ndarray:
    """Distance-like field (< 0 inside) of a noisy ellipse around ``(cy, cx)``."""
    ry, rx = rng.uniform(0.04, 0.25), rng.uniform(0.05, 0.35)
    ang = np.arctan2(yy - cy, xx - cx)
    wobble = sum(rng.uniform(0, 0.15) * np.cos(k * ang + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    r = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    return (r - 1 - wobble) * min(ry, rx)


def _resize(field: np.ndarray, res: int) -> np.ndarray:
    """Bilinear resize of a square ``(n, n)`` field sampled at cell centres to ``(res, res)``."""
    n = field.shape[0]
    if n == res:
        return field
    src = np.arange(n)
    pos = (np.arange(res) + 0.5) * n / res - 0.5
    rows = np.stack([np.interp(pos, src, field[:, j]) for j in range(n)], 1)  # (res, n)
    return np.stack([np.interp(pos, src, rows[i]) for i in range(res)], 0)


def painted_layout(seed: int, size: int = 256) -> np.ndarray:
    """One hand-painted-looking label map ``(size, size)`` int64, deterministic for ``seed``."""
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    rng = np.random.default_rng(int(seed) & 0xFFFF_FFFF_FFFF)
    coarse = rng.random() < 0.25
    res = int(rng.choice([24, 32, 48])) if coarse else size  # a fat brush on a small canvas, then enlarged
    yy, xx = np.meshgrid((np.arange(res) + 0.5) / res, (np.arange(res) + 0.5) / res, indexing="ij")
    ids = np.empty((res, res), dtype=np.int64)

    # background: sky over ground (wavy or straight horizon), or one class everywhere
    kind = rng.random()
    if kind < 0.75:
        horizon = rng.uniform(0.3, 0.75)
        wave = _smooth_noise(rng, res, 4) * rng.uniform(0.0, 0.08) if rng.random() < 0.6 else np.zeros(res)
        ground = _ID[_GROUND[rng.integers(len(_GROUND))]]
        ids[:] = np.where(yy >= horizon + wave[None, :], ground, _ID["sky"])
    else:
        ids[:] = _ID[("sky", "grass", "water", "mountain")[rng.integers(4)]]

    # marks' distance fields are smooth: compute them on a grid of at most 128 px and interpolate (a 512 px layout
    # would otherwise cost seconds)
    fres = min(res, 128)
    fy, fx = np.meshgrid((np.arange(fres) + 0.5) / fres, (np.arange(fres) + 0.5) / fres, indexing="ij")
    names = list(_MARK_WEIGHT)
    p = np.array([_MARK_WEIGHT[n] for n in names])
    ragged = rng.random() < 0.5
    for _ in range(int(rng.integers(2, 13))):
        name = names[rng.choice(len(names), p=p / p.sum())]
        lo, hi = _PLACE[name] if rng.random() < 0.8 else (0.0, 1.0)  # one mark in five anywhere
        cy, cx = rng.uniform(lo, hi), rng.uniform(-0.1, 1.1)
        d = _stroke(rng, fy, fx, cy, cx) if rng.random() < 0.6 else _blob(rng, fy, fx, cy, cx)
        d = _resize(d, res)
        if ragged:  # an anti-aliased edge snapped to class colours: a pixel or two of jitter along it
            d = d + rng.normal(0, 1.0 / res, d.shape)
        ids[d < 0] = _ID[name]
    if coarse:
        idx = (np.arange(size) * res) // size
        ids = ids[idx][:, idx]
    return np.clip(ids, 0, NUM_CLASSES - 1)


def painted_batch(seeds, size: int = 256):
    """Label maps for ``seeds``: ``torch.int64 (B, size, size)`` (torch imported here: the module is numpy-only)."""
    import torch

    return torch.from_numpy(np.stack([painted_layout(int(s), size) for s in seeds]))
