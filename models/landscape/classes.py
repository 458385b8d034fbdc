"""Landscape classes and their colours, and colour-coded masks <-> integer label maps (numpy only, no torch).

The classes are the label set of the bundled SPADE generator. Each has a fixed colour: users paint
masks with these colours (web app brush palette, ``normlab synthesize MASK.png``) and
:func:`mask_to_ids` turns such a painting back into an integer label map.

Example:
    >>> import numpy as np
    >>> from models.landscape.classes import CLASSES, class_id, ids_to_color, mask_to_ids
    >>> ids = np.array([[class_id("sky"), class_id("water")]])
    >>> bool((mask_to_ids(ids_to_color(ids)) == ids).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLASSES",
    "IGNORE_INDEX",
    "LandscapeClass",
    "NUM_CLASSES",
    "PALETTE",
    "class_id",
    "class_records",
    "ids_from_label_image",
    "ids_to_color",
    "mask_to_ids",
]


@dataclass(frozen=True)
class LandscapeClass:
    """One semantic class: its integer id, a lower-case name and the RGB colour used in masks."""

    id: int
    name: str
    color: tuple[int, int, int]


# Colours are far apart in RGB (min pairwise distance > 80) so anti-aliased paint still snaps
# unambiguously; ids are positions, so never reorder (checkpoints depend on them).
CLASSES: list[LandscapeClass] = [
    LandscapeClass(0, "sky", (90, 150, 235)),
    LandscapeClass(1, "cloud", (200, 200, 200)),
    LandscapeClass(2, "mountain", (130, 80, 170)),
    LandscapeClass(3, "rock", (100, 100, 100)),
    LandscapeClass(4, "snow", (255, 255, 255)),
    LandscapeClass(5, "water", (20, 50, 170)),
    LandscapeClass(6, "sand", (240, 215, 120)),
    LandscapeClass(7, "grass", (110, 210, 60)),
    LandscapeClass(8, "tree", (20, 110, 40)),
    LandscapeClass(9, "dirt", (150, 90, 40)),
]
NUM_CLASSES = len(CLASSES)
PALETTE = np.array([c.color for c in CLASSES], dtype=np.uint8)  # (K, 3)
# A painted mask is mostly exact class colours (anti-aliased edges are a thin minority); a photo is not.
MIN_MATCHED_SHARE = 0.5
CLOSE_TOLERANCE = 24.0  # RGB distance of a "close" match for that count
IGNORE_INDEX = 255  # "don't care" label in integer label maps (real datasets)

# A pixel within this RGB distance of a class colour "matches" it; farther pixels are unknown
# colours (anti-aliased edges, off-palette paint) and are resolved from their surroundings.
MATCH_TOLERANCE = 48.0
# Unknown-colour pixels take the class of a matching pixel at most this far away (anti-aliased
# edges are 1-2 px wide); beyond that they snap to the nearest class colour.
EDGE_RADIUS = 2.5


LABEL_MODES = ("L", "I", "I;16", "I;16B", "I;16L")  # single-channel PIL modes a class-id PNG can have


def ids_from_label_image(arr: np.ndarray) -> np.ndarray | None:
    """A single-channel image ``(H, W)`` whose every value is a class id -> int64 ids; None if it is a grey
    drawing instead (some value >= the number of classes). The one rule both front ends apply.

    >>> ids_from_label_image(np.array([[0, 5]], np.uint8)).tolist(), ids_from_label_image(np.array([[0, 200]]))
    ([[0, 5]], None)
    """
    ids = np.asarray(arr).astype(np.int64)
    return ids if ids.ndim == 2 and ids.size and 0 <= ids.min() and ids.max() < NUM_CLASSES else None


def class_records() -> list[dict]:
    """The classes as the API and ``normlab classes --json`` give them (one format for both front ends):
    ``[{"id": 0, "name": "sky", "color": "#5a96eb", "rgb": [90, 150, 235]}, ...]``.

    >>> class_records()[0]
    {'id': 0, 'name': 'sky', 'color': '#5a96eb', 'rgb': [90, 150, 235]}
    """
    return [
        {"id": int(c.id), "name": c.name, "color": "#%02x%02x%02x" % tuple(c.color), "rgb": list(c.color)}
        for c in CLASSES
    ]


def class_id(name: str) -> int:
    """Id of the class called ``name`` (case-insensitive); ValueError listing valid names otherwise."""
    for c in CLASSES:
        if c.name == name.lower():
            return c.id
    raise ValueError(f"unknown class {name!r}; valid classes: {', '.join(c.name for c in CLASSES)}")


def ids_to_color(ids: np.ndarray) -> np.ndarray:
    """Colour-code an integer label map.

    Shape: ``(H, W)`` int -> ``(H, W, 3)`` uint8. :data:`IGNORE_INDEX` pixels become black.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"expected an (H, W) integer label map, got shape {ids.shape} dtype {ids.dtype}")
    bad = (ids < 0) | ((ids >= NUM_CLASSES) & (ids != IGNORE_INDEX))
    if bad.any():
        raise ValueError(
            f"label map has ids outside 0..{NUM_CLASSES - 1} (and {IGNORE_INDEX} = ignore): "
            f"{sorted(set(np.unique(ids[bad]).tolist()))[:5]}"
        )
    out = np.zeros(ids.shape + (3,), dtype=np.uint8)
    valid = ids != IGNORE_INDEX
    out[valid] = PALETTE[ids[valid]]
    return out


def _nearest_fill(
    values: np.ndarray, known: np.ndarray, max_dist: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Copy each unknown pixel's value from the nearest known pixel.

    Returns the filled map and a mask of the pixels that were filled (those within ``max_dist`` if
    given). Uses SciPy's exact Euclidean distance transform when installed, else a pure-NumPy
    chessboard-distance propagation (same result up to ties; slower on huge unpainted areas).
    """
    try:
        from scipy.ndimage import distance_transform_edt
    except ImportError:  # SciPy is optional
        return _grow_fill(values, known, max_dist)
    dist, (iy, ix) = distance_transform_edt(~known, return_distances=True, return_indices=True)
    ok = ~known if max_dist is None else (~known) & (dist <= max_dist)
    out = values.copy()
    out[ok] = values[iy, ix][ok]
    return out, ok


def _grow_fill(values: np.ndarray, known: np.ndarray, max_dist: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Multi-source region growing: each round, unknown pixels take a known 8-neighbour's value."""
    out, have = values.copy(), known.copy()
    rounds = int(max_dist) if max_dist is not None else max(values.shape)
    H, W = values.shape
    for _ in range(rounds):
        if have.all():
            break
        new_vals, new_have = out.copy(), have.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            src = (slice(max(0, -dy), H - max(0, dy)), slice(max(0, -dx), W - max(0, dx)))
            dst = (slice(max(0, dy), H - max(0, -dy)), slice(max(0, dx), W - max(0, -dx)))
            take = have[src] & ~new_have[dst]
            new_vals[dst][take] = out[src][take]
            new_have[dst] |= take
        out, have = new_vals, new_have
    return out, have & ~known


def mask_to_ids(rgb: np.ndarray, alpha_threshold: int = 128, background: int | None = None) -> np.ndarray:
    """Turn a colour-coded (possibly anti-aliased) mask into class ids.

    Rules:
      * a pixel whose colour is within :data:`MATCH_TOLERANCE` of a class colour gets that class;
      * other painted pixels (anti-aliased edges, blends of two brushes) take the class of the
        nearest matching pixel if one is within :data:`EDGE_RADIUS` px, else the nearest class
        colour — so a whole region painted in an off-palette colour still snaps sensibly;
      * fewer than :data:`MIN_MATCHED_SHARE` of the painted pixels matching a class colour means a photo (or a
        drawing in other colours) was sent as a mask: refused, saying how many matched;
      * with an alpha channel, pixels with ``alpha < alpha_threshold`` are unpainted: they get
        ``background`` when given, else the class of the nearest painted pixel.

    Args:
        rgb: ``(H, W, 3)`` or ``(H, W, 4)`` uint8 image.
        alpha_threshold: minimum alpha (0-255) for a pixel to count as painted.
        background: class id for unpainted pixels, or None to fill them from painted neighbours.

    Returns:
        ``(H, W)`` int64 class ids in ``0..NUM_CLASSES-1``.

    Raises:
        ValueError: bad shape/dtype, nothing painted (with ``background=None``), or no pixel
            matching any class colour.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"mask must be an (H, W, 3) or (H, W, 4) image, got shape {rgb.shape}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("mask is empty (zero width or height)")
    if rgb.dtype != np.uint8:
        if np.issubdtype(rgb.dtype, np.floating) and rgb.size and rgb.max() <= 1.0:
            rgb = np.round(rgb * 255.0)
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    if background is not None and not 0 <= int(background) < NUM_CLASSES:
        raise ValueError(f"background must be a class id in 0..{NUM_CLASSES - 1}, got {background}")

    painted = rgb[..., 3] >= alpha_threshold if rgb.shape[2] == 4 else np.ones(rgb.shape[:2], bool)
    if not painted.any():
        if background is None:
            raise ValueError("mask is empty: nothing is painted (every pixel is transparent)")
        return np.full(rgb.shape[:2], int(background), dtype=np.int64)

    colors = rgb[..., :3].astype(np.float32)
    # (H, W, K) squared distances; K is small so this is cheap even for large masks.
    d2 = ((colors[:, :, None, :] - PALETTE[None, None].astype(np.float32)) ** 2).sum(-1)
    ids = d2.argmin(-1).astype(np.int64)
    matched = painted & (d2.min(-1) <= MATCH_TOLERANCE**2)
    if not matched.any():
        names = ", ".join(f"{c.name} {c.color}" for c in CLASSES)
        raise ValueError("mask matches no class colour; paint with the class colours (see `normlab classes`): " + names)
    # photo check with a tighter tolerance: masks (even blurred and JPEG-saved) keep > 90 % of their pixels
    # within it, photos and renders < 40 % (measured on lomiri photos and procedural renders)
    n_painted = int(painted.sum())
    n_matched = int((painted & (d2.min(-1) <= CLOSE_TOLERANCE**2)).sum())
    if n_matched < MIN_MATCHED_SHARE * n_painted:
        raise ValueError(
            f"this looks like a photo or drawing, not a mask: only {n_matched:,} of {n_painted:,} painted pixels "
            f"({100 * n_matched / n_painted:.1f} %) have a class colour (a mask needs at least "
            f"{100 * MIN_MATCHED_SHARE:.0f} %); paint with the class colours (see `normlab classes`)"
        )
    unknown = painted & ~matched
    if unknown.any():
        ids_fixed, ok = _nearest_fill(ids, matched, max_dist=EDGE_RADIUS)
        ids = np.where(unknown & ok, ids_fixed, ids)
    if (~painted).any():
        if background is not None:
            ids[~painted] = int(background)
        else:
            ids, _ = _nearest_fill(ids, painted)
    return ids
