"""Batched procedural landscape generator (torch; runs on CPU or GPU).

Every random number of a sample is drawn from its own ``torch.Generator(seed)`` on the CPU, in a
fixed order and with fixed shapes, so a sample depends only on its seed (not on the batch it is in,
nor the device, nor — up to resampling — the output size). The drawing is cheap; all per-pixel work
(fractal noise upsampling, layout, shading, reflections) is batched on ``device``.

Coordinates are normalised: ``x`` in [0, 1] left to right, ``y`` in [0, 1] top to bottom.

Example:
    >>> from models.landscape.classes import CLASSES
    >>> from models.landscape.render import generate_sample
    >>> image, ids = generate_sample(seed=3, size=64)
    >>> image.shape, ids.shape, bool(ids.max() < len(CLASSES))
    ((64, 64, 3), (64, 64), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.landscape.classes import CLASSES, ids_to_color

__all__ = ["contact_sheet", "generate_batch", "generate_sample", "layout_geometry", "render_layout"]

_ID = {c.name: c.id for c in CLASSES}
SKY, CLOUD, MOUNTAIN, ROCK, SNOW = _ID["sky"], _ID["cloud"], _ID["mountain"], _ID["rock"], _ID["snow"]
WATER, SAND, GRASS, TREE, DIRT = _ID["water"], _ID["sand"], _ID["grass"], _ID["tree"], _ID["dirt"]

# Fractal noise octaves: grid sizes 3, 5, 9, ... (2**k + 1); octaves finer than the output are skipped.
_OCT_2D = 7
_OCT_1D = 8
_N_FIELDS = 7  # independent 2-D fields, see _fields()
_N_TREES = 40
_N_ROCKS = 6


# ----------------------------------------------------------------------------------------------
# Random draws (per sample, CPU, fixed order)
# ----------------------------------------------------------------------------------------------


def _draw(seed: int) -> dict[str, torch.Tensor]:
    """All random numbers one landscape needs, keyed by purpose. Shapes never depend on the output size."""
    g = torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF)
    u = lambda *s: torch.rand(s, generator=g)  # noqa: E731
    n = lambda *s: torch.randn(s, generator=g)  # noqa: E731
    d: dict[str, torch.Tensor] = {"scalars": u(64)}
    d["grids2d"] = [n(_N_FIELDS, 2**k + 1, 2**k + 1) for k in range(1, _OCT_2D + 1)]
    d["grids1d"] = [n(4, 2**k + 1) for k in range(1, _OCT_1D + 1)]
    d["trees"] = u(_N_TREES, 6)
    d["rocks"] = u(_N_ROCKS, 4)
    return d


def _stack(draws: list[dict]) -> dict:
    out = {"scalars": torch.stack([d["scalars"] for d in draws])}
    out["grids2d"] = [torch.stack([d["grids2d"][k] for d in draws]) for k in range(_OCT_2D)]
    out["grids1d"] = [torch.stack([d["grids1d"][k] for d in draws]) for k in range(_OCT_1D)]
    out["trees"] = torch.stack([d["trees"] for d in draws])
    out["rocks"] = torch.stack([d["rocks"] for d in draws])
    return out


# ----------------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------------


def _fbm2d(grids: list[torch.Tensor], size: int, persistence: float = 0.55) -> torch.Tensor:
    """Fractal value noise: sum of bicubic-upsampled random grids.

    ``(B, F, g, g)`` list -> ``(B, F, S, S)`` with roughly unit standard deviation.
    """
    total = None
    amp, norm = 1.0, 0.0
    for grid in grids:
        if grid.shape[-1] > size:  # finer than a pixel: would only alias
            break
        up = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=True)
        total = up * amp if total is None else total + up * amp
        norm += amp**2
        amp *= persistence
    return total / math.sqrt(norm)


def _fbm1d(grids: list[torch.Tensor], size: int, persistence: float = 0.5) -> torch.Tensor:
    """1-D fractal noise. ``(B, F, g)`` list -> ``(B, F, S)``, ~unit std."""
    total = None
    amp, norm = 1.0, 0.0
    for grid in grids:
        if grid.shape[-1] > size:
            break
        up = F.interpolate(grid, size=size, mode="linear", align_corners=True)
        total = up * amp if total is None else total + up * amp
        norm += amp**2
        amp *= persistence
    return total / math.sqrt(norm)


def _smooth(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    t = ((x - lo) / (hi - lo)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def _col(rgb: Sequence[float], device) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32, device=device).view(1, 3, 1, 1)


# ----------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------


def generate_batch(
    seeds: Sequence[int] | torch.Tensor, size: int = 256, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate one landscape per seed.

    Args:
        seeds: B integer seeds.
        size: output side in pixels (>= 16).
        device: where the per-pixel work runs (default CPU).

    Returns:
        ``(images (B, 3, S, S) float in [0, 1], ids (B, S, S) int64)``, both on ``device``.
    """
    if isinstance(seeds, torch.Tensor):
        seeds = seeds.flatten().tolist()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("generate_batch needs at least one seed")
    if int(size) < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    size = int(size)
    device = torch.device(device or "cpu")
    r = _stack([_draw(s) for s in seeds])
    r = {k: ([t.to(device) for t in v] if isinstance(v, list) else v.to(device)) for k, v in r.items()}
    return _render(r, size, device)


def _render(r: dict, S: int, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    sc = r["scalars"]  # (B, 64) uniforms
    B = sc.shape[0]
    v = lambda i: sc[:, i].view(B, 1, 1, 1)  # noqa: E731  per-sample scalar as (B, 1, 1, 1)
    y = torch.linspace(0, 1, S, device=dev).view(1, 1, S, 1)
    x = torch.linspace(0, 1, S, device=dev).view(1, 1, 1, S)

    fields = _fbm2d(r["grids2d"], S)  # (B, 7, S, S)
    f_cloud, f_ground, f_rock, f_tex, f_mtn, f_lake, f_forest = fields.split(1, dim=1)
    lines = _fbm1d(r["grids1d"], S).view(B, 4, 1, S)  # 1-D profiles along x
    l_far, l_near, l_hill, l_shore = lines.split(1, dim=1)

    # ---- scene parameters -------------------------------------------------------------------
    horizon = 0.40 + 0.26 * v(0)
    water_kind = (sc[:, 1] * 3).floor().clamp(max=2).view(B, 1, 1, 1)  # 0 none, 1 lake, 2 sea
    has_mtn = (v(2) < 0.8).float()
    mtn_h = 0.10 + 0.28 * v(3)
    snow_line = 0.45 + 0.7 * v(4)  # > 1: no snow
    hill_h = 0.01 + 0.07 * v(5) * (water_kind != 2).float()
    tree_density = v(6)
    cloud_cover = v(7)
    dirt_amount = v(8)
    far_range = (v(9) < 0.6).float()

    label = torch.full((B, 1, S, S), SKY, dtype=torch.long, device=dev)

    # ---- mountains ----------------------------------------------------------------------------
    # Ridged profile: 1 - |noise| gives sharp peaks; far range is lower and hazier.
    prof_near = (0.35 + 0.65 * (1 - l_near.abs()).clamp(0, 1)) * (0.6 + 0.4 * torch.sigmoid(2 * l_far))
    ridge_near = horizon - mtn_h * prof_near
    ridge_far = horizon - (mtn_h * 1.25 + 0.03) * (0.45 + 0.55 * (1 - (0.7 * l_far + 0.3 * l_shore).abs()).clamp(0, 1))
    mtn_far = (y >= ridge_far) & (far_range * has_mtn > 0)
    mtn_near = (y >= ridge_near) & (has_mtn > 0)
    mtn = mtn_far | mtn_near
    label[mtn] = MOUNTAIN
    # altitude in [0, 1] relative to the local range's height; snow above the (noisy) snow line
    alt_near = ((horizon - y) / mtn_h).clamp(0, 1.3)
    alt_far = ((horizon - y) / (mtn_h * 1.25 + 0.03)).clamp(0, 1.3)
    alt = torch.where(mtn_near, alt_near, alt_far)
    snow = mtn & (alt + 0.12 * f_mtn > snow_line)
    rock_m = mtn & ~snow & (f_rock + 0.6 * (alt - 0.5) > 0.55)
    label[rock_m] = ROCK
    label[snow] = SNOW

    # ---- ground -------------------------------------------------------------------------------
    ground_top = horizon - hill_h * (0.5 + 0.5 * l_hill.clamp(-1, 1)).clamp(0, 1)
    ground = y >= ground_top
    depth = ((y - horizon) / (1 - horizon)).clamp(0, 1)  # 0 at the horizon, 1 at the bottom edge
    label[ground] = GRASS

    # forest band along hill tops (far trees) with a bumpy upper edge
    band_h = 0.015 + 0.05 * tree_density * (f_forest.clamp(-1, 1) * 0.5 + 0.5)
    forest = (
        (y >= ground_top - band_h) & (y < ground_top + 0.02 + 0.03 * tree_density) & (f_forest > 0.4 - tree_density)
    )
    forest &= water_kind.expand_as(forest) != 2

    # ---- water --------------------------------------------------------------------------------
    shore = horizon + 0.12 + 0.35 * v(10) + 0.05 * l_shore
    sea = (water_kind == 2) & (y >= horizon) & (y < shore)
    cx, cy = 0.2 + 0.6 * v(11), horizon + 0.04 + 0.12 * v(12)
    rx, ry = 0.18 + 0.3 * v(13), 0.06 + 0.12 * v(14)
    lake_d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + 0.35 * f_lake
    lake = (water_kind == 1) & (lake_d < 1.0) & (y >= horizon + 0.005)
    water = sea | lake
    beach_w = 0.03 + 0.12 * v(15)
    sand = (water_kind == 2) & (y >= shore) & (y < shore + beach_w * (1 + 0.3 * f_ground))
    sand |= (water_kind == 1) & (lake_d < 1.0 + 0.9 * v(16) * (v(17) < 0.6).float()) & ~lake & ground
    dirt = ground & ~sand & (f_ground + 0.35 * f_tex > 1.45 - 0.8 * dirt_amount)
    label[dirt] = DIRT
    label[sand] = SAND
    label[water] = WATER
    label[forest & ~water & ~sand] = TREE

    # ---- boulders -------------------------------------------------------------------------------
    rk = r["rocks"]  # (B, N, 4): x, y, size, keep
    for i in range(_N_ROCKS):
        bx, by = rk[:, i, 0].view(B, 1, 1, 1), (horizon + (0.25 + 0.75 * rk[:, i, 1].view(B, 1, 1, 1)) * (1 - horizon))
        bs = (0.01 + 0.05 * rk[:, i, 2].view(B, 1, 1, 1)) * (0.3 + ((by - horizon) / (1 - horizon)))
        keep = rk[:, i, 3].view(B, 1, 1, 1) < 0.35
        e = ((x - bx) / (1.4 * bs)) ** 2 + ((y - by) / bs) ** 2 + 0.25 * f_tex
        boulder = keep & (e < 1.0) & (y <= by + 0.3 * bs) & (label != WATER) & ground
        label[boulder] = ROCK

    # ---- trees (painter's order: far first) ------------------------------------------------------
    tr = r["trees"]  # (B, N, 6): cluster pick, x jitter, y, size, keep, shape
    centers = sc[:, 20:26].view(B, 3, 2)  # three cluster centres (x, y-depth)
    tree_id = torch.full((B, 1, S, S), -1.0, device=dev)
    order = tr[:, :, 2].argsort(dim=1)
    for j in range(_N_TREES):
        t = tr.gather(1, order[:, j : j + 1, None].expand(B, 1, 6))[:, 0]
        c = centers.gather(1, (t[:, 0] * 3).long().clamp(max=2).view(B, 1, 1).expand(B, 1, 2))[:, 0]
        tx = (c[:, 0] + 0.25 * (t[:, 1] - 0.5)).view(B, 1, 1, 1)
        ty_d = (0.1 + 0.5 * c[:, 1] + 0.4 * t[:, 2]).clamp(0, 1).view(B, 1, 1, 1)
        ty = horizon + ty_d * (1 - horizon)  # base of the trunk
        s = (0.03 + 0.04 * t[:, 3].view(B, 1, 1, 1)) * (0.25 + 1.3 * ty_d)
        keep = (t[:, 4].view(B, 1, 1, 1) < tree_density * 0.9) & (water_kind != 2)
        conifer = t[:, 5].view(B, 1, 1, 1) < 0.6
        # trees only stand on land: look up the label under the trunk
        iy = (ty * (S - 1)).round().long().clamp(0, S - 1).view(B, 1, 1, 1).expand(B, 1, 1, S)
        row = label.gather(2, iy)
        ix = (tx * (S - 1)).round().long().clamp(0, S - 1).view(B, 1, 1, 1)
        base_lbl = row.gather(3, ix)
        keep = keep & (base_lbl != WATER) & (base_lbl != SKY)
        h = 2.6 * s
        rel = (ty - y) / h  # 0 at the base, 1 at the tip
        cone = (rel >= 0) & (rel <= 1) & ((x - tx).abs() <= 0.45 * s * (1 - rel) * (1 + 0.15 * f_tex))
        crown = (((x - tx) / (0.55 * s)) ** 2 + ((y - (ty - 0.55 * h)) / (0.5 * h)) ** 2 + 0.3 * f_tex) < 1
        trunk = ((x - tx).abs() < 0.06 * s) & (y <= ty) & (y > ty - 0.3 * h)
        shape = torch.where(conifer, cone, crown | trunk)
        m = shape & keep
        label[m] = TREE
        tree_id = torch.where(m, float(j), tree_id)

    # ---- clouds (only in free sky; they sit behind mountains) -----------------------------------
    cf = f_cloud + 0.9 * (1 - y / horizon).clamp(0, 1) - 0.9
    cloud = (label == SKY) & (cf > 0.8 - 1.0 * cloud_cover)
    label[cloud] = CLOUD

    img = _paint(
        label,
        r,
        sc,
        v,
        x,
        y,
        S,
        dev,
        horizon,
        ground_top,
        depth,
        alt,
        mtn_near,
        mtn_far,
        fields,
        tree_id,
        cf,
        cloud_cover,
        shore,
        water_kind,
    )
    return img, label[:, 0]


def _paint(
    label,
    r,
    sc,
    v,
    x,
    y,
    S,
    dev,
    horizon,
    ground_top,
    depth,
    alt,
    mtn_near,
    mtn_far,
    fields,
    tree_id,
    cf,
    cloud_cover,
    shore,
    water_kind,
) -> torch.Tensor:
    """Colour every class with gradients, noise textures, shading, haze and reflections."""
    B = label.shape[0]
    f_cloud, f_ground, f_rock, f_tex, f_mtn, f_lake, f_forest = fields.split(1, dim=1)
    # high-frequency grain: derive from the texture field at a larger scale so it stays seed-stable
    grain = torch.sin(f_tex * 37.0 + f_rock * 23.0) * 0.5
    jit = lambda i, a: (sc[:, i : i + 3] - 0.5).view(B, 3, 1, 1) * a  # noqa: E731 colour jitter

    # ---- sky: time of day --------------------------------------------------------------------
    tod = v(30)  # < 0.18 sunset, > 0.9 overcast, else day
    sunset = (tod < 0.18).float()
    overcast = (tod > 0.9).float()
    zen = _lerp(_col((0.18, 0.38, 0.80), dev) + jit(31, 0.12), _col((0.22, 0.22, 0.45), dev), sunset)
    hor = _lerp(_col((0.72, 0.84, 0.96), dev) + jit(34, 0.08), _col((0.98, 0.62, 0.36), dev), sunset)
    zen = _lerp(zen, _col((0.55, 0.58, 0.62), dev), overcast)
    hor = _lerp(hor, _col((0.78, 0.80, 0.82), dev), overcast)
    ts = (y / horizon).clamp(0, 1) ** 1.6
    sky = _lerp(zen, hor, ts) + 0.015 * f_tex
    haze_col = hor

    # ---- clouds ------------------------------------------------------------------------------
    k = max(3, (S // 24) | 1)  # shade from a blurred field: puffy, not grainy
    cfs = F.avg_pool2d(cf, k, stride=1, padding=k // 2, count_include_pad=False)
    dy = torch.zeros_like(cfs)
    dy[:, :, 1:-1] = cfs[:, :, 2:] - cfs[:, :, :-2]
    lit = (0.6 + 20.0 * dy * S / 256 + 0.3 * (cfs - 0.5)).clamp(0, 1)  # lit from above, dense cores bright
    c_light = _lerp(_col((1.0, 1.0, 1.0), dev), _col((1.0, 0.85, 0.7), dev), sunset)
    c_dark = _lerp(_col((0.62, 0.66, 0.74), dev), _col((0.5, 0.42, 0.5), dev), sunset)
    cloud = _lerp(c_dark, c_light, lit) * (0.98 + 0.02 * grain)
    cloud = _lerp(cloud, hor, 0.25 * ts)

    # ---- mountains, rock, snow: shaded by the slope of a fractal height field ---------------
    hx = torch.zeros_like(f_mtn)
    hx[..., 1:-1] = f_mtn[..., 2:] - f_mtn[..., :-2]
    light_dir = torch.where(v(37) < 0.5, -1.0, 1.0)
    shade = (0.62 + light_dir * 18.0 * hx * S / 256 + 0.1 * f_rock).clamp(0.2, 1.15)
    m_base = _col((0.42, 0.40, 0.42), dev) + jit(38, 0.16)
    mountain = m_base * shade * (0.9 + 0.1 * grain)
    mountain = _lerp(mountain, _col((0.35, 0.5, 0.3), dev) * shade, 0.35 * (1 - alt.clamp(0, 1)) * v(41))
    rock = (_col((0.5, 0.48, 0.45), dev) + jit(42, 0.1)) * (0.55 + 0.45 * shade) * (0.85 + 0.15 * grain)
    snow = _lerp(_col((0.70, 0.76, 0.88), dev), _col((0.98, 0.98, 1.0), dev), shade.clamp(0, 1))
    # aerial perspective: far range and mountain feet fade into the horizon haze
    mist = 0.15 + 0.35 * mtn_far.float() * (~mtn_near).float() + 0.3 * _smooth(y - (horizon - 0.04), 0.0, 0.04)
    mist = mist.clamp(0, 0.85)
    mountain, rock, snow = (_lerp(c, haze_col, mist) for c in (mountain, rock, snow))

    # ---- ground --------------------------------------------------------------------------------
    g_base = _lerp(_col((0.30, 0.55, 0.18), dev), _col((0.55, 0.58, 0.25), dev), v(45)) + jit(46, 0.06)
    grass = g_base * (0.8 + 0.18 * f_ground + 0.12 * grain) * (1.0 - 0.2 * depth)
    sand = (_col((0.86, 0.78, 0.58), dev) + jit(49, 0.06)) * (0.92 + 0.06 * f_tex + 0.04 * grain)
    sand = sand * (1 - 0.25 * _smooth(shore - y, -0.01, 0.0) * (water_kind == 2).float() * (y > shore).float())
    dirt = (_col((0.45, 0.33, 0.21), dev) + jit(52, 0.06)) * (0.85 + 0.15 * f_tex + 0.1 * grain)
    # trees: each tree lit from one side; conifers darker
    t_base = _col((0.10, 0.28, 0.12), dev) + jit(55, 0.05)
    side = torch.sin(tree_id * 1.7) * 0.08
    tree = t_base * (0.75 + 0.25 * (f_forest.clamp(-1, 1)) * 0.5 + 0.25 * grain + side)
    tree = tree.clamp(min=0.02)

    near = 1 - depth  # haze strongest at the horizon
    hz = 0.35 * near**3
    grass, sand, dirt, tree = (_lerp(c, haze_col, hz) for c in (grass, sand, dirt, tree))

    by = {
        "sky": sky,
        "cloud": cloud,
        "mountain": mountain,
        "rock": rock,
        "snow": snow,
        "sand": sand,
        "grass": grass,
        "tree": tree,
        "dirt": dirt,
    }
    img = torch.zeros(B, 3, S, S, device=dev)
    for c in CLASSES:
        if c.name in by:
            img = torch.where(label == c.id, by[c.name], img)

    # ---- water: rippled mirror image of what is above the horizon + depth colour ----------------
    ripple = 0.012 * torch.sin(y * S * 0.9 + 4 * f_tex) * (0.3 + depth)
    src_y = (2 * horizon - y).clamp(0, 1)
    gx = (x * 2 - 1 + ripple).expand(B, 1, S, S)
    gy = (src_y * 2 - 1).expand(B, 1, S, S)
    refl = F.grid_sample(
        img, torch.cat([gx, gy], 1).permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=True
    )
    deep = _col((0.05, 0.18, 0.28), dev) + jit(58, 0.06)
    fres = (0.25 + 0.6 * depth).clamp(0, 0.9)
    water = _lerp(refl * 0.85, deep, fres) + 0.04 * (torch.sin(y * S * 1.7 + 6 * f_lake) > 0.9).float()
    img = torch.where(label == WATER, water, img)
    return img.clamp(0, 1)


def _runs_along_y(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of ``mask (B, 1, S, S)``: the rows where its vertical run of True starts and ends.

    Rows outside the mask get meaningless values; ``(top, bottom)`` as float row indices.
    """
    S = mask.shape[2]
    rows = torch.arange(S, device=mask.device, dtype=torch.float32).view(1, 1, S, 1).expand_as(mask)
    # top: one past the last False row at or above (cummax of False rows); bottom: the mirror image
    above = torch.where(mask, torch.full_like(rows, -1.0), rows).cummax(dim=2).values + 1
    below = torch.where(mask, torch.full_like(rows, float(S)), rows).flip(2).cummin(dim=2).values.flip(2) - 1
    return above, below


def layout_geometry(label: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scene geometry guessed from any label map ``(B, 1, S, S)``, for painting layouts no scene stands behind.

    The horizon is where rows stop being mostly sky or cloud (0.5 when nothing says otherwise); depth grows from
    it to the bottom edge; a mountain pixel's altitude is its height within its own vertical run of
    mountain/rock/snow, so painted ridges get snow caps and shading where a user would expect them.
    """
    B, _, S, _ = label.shape
    dev = label.device
    y = torch.linspace(0, 1, S, device=dev).view(1, 1, S, 1)
    skyish = ((label == SKY) | (label == CLOUD)).float().mean(dim=3, keepdim=True)  # (B, 1, S, 1) per row
    ground = (skyish < 0.5).float()[..., 0]  # (B, 1, S)
    # the split row that misclassifies the fewest rows (ground rows above it + sky rows below it): a stray
    # stroke moves it by little
    zero = torch.zeros_like(ground[..., :1])
    above = torch.cat([zero, ground.cumsum(2)], 2)  # ground rows above split h, h = 0..S
    sky_below = torch.cat([(1 - ground).flip(2).cumsum(2).flip(2), zero], 2)
    split = (above + sky_below).argmin(dim=2, keepdim=True).float()  # first best split
    horizon = (split / (S - 1)).view(B, 1, 1, 1).clamp(0.2, 0.8)
    depth = ((y - horizon) / (1 - horizon)).clamp(0, 1).expand(B, 1, S, S)
    mtn = (label == MOUNTAIN) | (label == ROCK) | (label == SNOW)
    top, bottom = _runs_along_y(mtn)
    rows = torch.arange(S, device=dev, dtype=torch.float32).view(1, 1, S, 1)
    alt = torch.where(mtn, 1 - (rows - top) / (bottom - top + 1).clamp(min=1), torch.zeros_like(top)).clamp(0, 1)
    return {"horizon": horizon, "depth": depth, "alt": alt, "mtn": mtn}


def render_layout(ids: torch.Tensor, seeds: Sequence[int] | torch.Tensor, device=None) -> torch.Tensor:
    """Texture any label map: one look (time of day, colours, noise) per seed, geometry from the layout.

    The painting code is the procedural scenes' own (:func:`_paint`); what a procedural scene knows (horizon,
    distance, altitude on a ridge) is guessed from the labels by :func:`layout_geometry`. One seed on two
    layouts gives the same light and palette; two seeds on one layout give two looks of the same scene.

    Args:
        ids: ``(B, S, S)`` (or ``(S, S)``) class ids, square, S >= 16.
        seeds: B integer seeds (or one, repeated).

    Returns:
        ``images (B, 3, S, S)`` float in [0, 1] on ``device`` (default: ``ids``'s device).
    """
    if ids.dim() == 2:
        ids = ids[None]
    if ids.dim() != 3 or ids.shape[1] != ids.shape[2] or ids.shape[1] < 16:
        raise ValueError(f"render_layout needs square (B, S, S) label maps with S >= 16, got {tuple(ids.shape)}")
    if isinstance(seeds, torch.Tensor):
        seeds = seeds.flatten().tolist()
    seeds = [int(s) for s in seeds]
    if len(seeds) == 1 and ids.shape[0] > 1:
        seeds = seeds * ids.shape[0]
    if len(seeds) != ids.shape[0]:
        raise ValueError(f"render_layout got {ids.shape[0]} label maps and {len(seeds)} seeds")
    dev = torch.device(device) if device is not None else ids.device
    S = ids.shape[1]
    r = _stack([_draw(s) for s in seeds])
    r = {k: ([t.to(dev) for t in v] if isinstance(v, list) else v.to(dev)) for k, v in r.items()}
    sc = r["scalars"]
    B = sc.shape[0]
    v = lambda i: sc[:, i].view(B, 1, 1, 1)  # noqa: E731
    y = torch.linspace(0, 1, S, device=dev).view(1, 1, S, 1)
    x = torch.linspace(0, 1, S, device=dev).view(1, 1, 1, S)
    label = ids.to(dev).long().view(B, 1, S, S)
    fields = _fbm2d(r["grids2d"], S)
    f_cloud = fields[:, 0:1]
    g = layout_geometry(label)
    horizon = g["horizon"]
    # clouds: shade from the painted region (dense inside, thin at its edge) plus the cloud noise
    k = max(3, (S // 16) | 1)
    cover = F.avg_pool2d((label == CLOUD).float(), k, stride=1, padding=k // 2, count_include_pad=False)
    cf = cover + 0.3 * f_cloud
    # each tree blob its own light: a coarse noise field stands in for the procedural tree index
    tree_id = (fields[:, 6:7] * 3).round()
    water_kind = torch.ones(B, 1, 1, 1, device=dev)  # lake: no sea-shore darkening of the sand
    mtn_far = torch.zeros_like(g["mtn"])
    img = _paint(
        label,
        r,
        sc,
        v,
        x,
        y,
        S,
        dev,
        horizon,
        horizon,
        g["depth"],
        g["alt"],
        g["mtn"],
        mtn_far,
        fields,
        tree_id,
        cf,
        v(7),
        horizon + 0.3,
        water_kind,
    )
    return img


def generate_sample(seed: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One procedural landscape: ``(image (H, W, 3) uint8, ids (H, W) int64)``, H = W = size.

    Deterministic for a seed (the same seed at another size gives the same scene, resampled).
    """
    img, ids = generate_batch([int(seed)], size)
    image = (img[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().byte()
    return image.numpy(), ids[0].numpy().astype(np.int64)


def contact_sheet(seeds, size: int = 128, columns: int = 6) -> np.ndarray:
    """Grid of landscapes with their colour-coded label maps underneath: ``(rows * 2S, columns * S, 3)`` uint8."""
    seeds = list(seeds)
    img, ids = generate_batch(seeds, size)
    img = (img.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().numpy()
    tiles = [np.concatenate([img[i], ids_to_color(ids[i].numpy())], 0) for i in range(len(seeds))]
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r : r + columns], 1) for r in range(0, len(tiles), columns)]
    return np.concatenate(rows, 0)
