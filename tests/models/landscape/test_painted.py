"""Hand-painted-style layouts (models/landscape/painted.py) and the renderer texturing any label map."""

import numpy as np
import pytest
import torch

from models.landscape.classes import NUM_CLASSES, class_id
from models.landscape.painted import painted_batch, painted_layout
from models.landscape.render import layout_geometry, render_layout


def test_layouts_are_deterministic_varied_and_valid():
    a, b = painted_layout(11, 96), painted_layout(11, 96)
    assert np.array_equal(a, b) and a.shape == (96, 96) and a.dtype == np.int64
    maps = [painted_layout(s, 96) for s in range(40)]
    assert all(m.min() >= 0 and m.max() < NUM_CLASSES for m in maps)
    assert len({m.tobytes() for m in maps}) == 40
    counts = [len(np.unique(m)) for m in maps]
    assert min(counts) >= 2 and np.mean(counts) >= 3  # marks over a background, not one flat class
    seen = set(np.concatenate([np.unique(m) for m in maps]).tolist())
    assert seen == set(range(NUM_CLASSES))  # every class gets painted somewhere
    # some layouts are painted coarsely (blocky: few distinct row patterns)
    coarse = [m for m in maps if len({r.tobytes() for r in m}) <= 48]
    assert 0 < len(coarse) < 40
    with pytest.raises(ValueError, match="size"):
        painted_layout(0, 8)


def test_geometry_from_a_label_map():
    S = 64
    ids = torch.full((1, 1, S, S), class_id("grass"))
    ids[:, :, :24] = class_id("sky")
    ids[:, :, 10:30, 20:40] = class_id("mountain")  # a mountain floating in the sky, crossing the horizon
    g = layout_geometry(ids)
    assert abs(float(g["horizon"]) - 24 / 63) < 0.03
    alt = g["alt"][0, 0, 10:30, 30]
    assert alt[0] == pytest.approx(1.0) and float(alt[-1]) < 0.1 and bool((alt[1:] <= alt[:-1]).all())
    assert float(g["alt"][0, 0, 40, 5]) == 0.0 and float(g["depth"][0, 0, -1, 0]) == pytest.approx(1.0)
    assert float(g["depth"][0, 0, 5, 0]) == 0.0


def test_render_layout_textures_any_map_one_look_per_seed():
    ids = painted_batch([3, 4], 64)
    img = render_layout(ids, [7, 7])
    assert img.shape == (2, 3, 64, 64) and float(img.min()) >= 0 and float(img.max()) <= 1
    again = render_layout(ids[:1], [7])
    assert torch.allclose(again[0], img[0])
    other = render_layout(ids[:1], [8])
    assert float((other - again).abs().mean()) > 0.01  # another seed: another look of the same layout
    # each class keeps its colour family: water darker/bluer than sand, snow brighter than dirt
    flat = torch.full((1, 64, 64), class_id("sand"))
    flat[:, 32:] = class_id("water")
    pic = render_layout(flat, [5])[0]
    sand, water = pic[:, :32].mean((1, 2)), pic[:, 40:].mean((1, 2))
    assert float(sand.mean()) > float(water.mean()) and float(water[2] - water[0]) > 0
    with pytest.raises(ValueError, match="seeds"):
        render_layout(ids, [1, 2, 3])
    with pytest.raises(ValueError, match="square"):
        render_layout(torch.zeros(1, 32, 48, dtype=torch.long), [1])
