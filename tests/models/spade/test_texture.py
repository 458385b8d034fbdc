"""Texture periodicity and seed-spread statistics (models/spade/texture.py) against closed forms."""

import math

import pytest
import torch

from models.spade.texture import class_colour_stats, mean_pairwise_difference, periodicity, spread_distance


def test_periodicity_finds_a_repeating_texture_and_not_white_noise():
    g = torch.Generator().manual_seed(0)
    ids = torch.zeros(2, 96, 96, dtype=torch.long)
    noise = torch.rand(2, 3, 96, 96, generator=g)
    tile = torch.rand(1, 3, 16, 16, generator=g)
    knitted = tile.repeat(2, 1, 6, 6)  # period 16 px: the generator's start-grid cell
    p_noise, n = periodicity(noise, ids)
    p_knit, _ = periodicity(knitted, ids)
    assert n == 8  # four 48 px windows per picture
    assert p_noise < 0.2 and p_knit > 0.9
    # mixed-class windows are skipped
    half = ids.clone()
    half[:, :, 40:] = 1
    assert periodicity(noise, half)[1] == 2 * 2
    assert math.isnan(periodicity(noise, torch.arange(96).repeat(2, 96, 1) % 2)[0])


def test_periodicity_matches_a_direct_autocorrelation():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 1, 48, 48, generator=g, dtype=torch.float64).expand(1, 3, 48, 48)
    ids = torch.zeros(1, 48, 48, dtype=torch.long)
    score, _ = periodicity(x, ids, lags=(5, 5))
    from models.spade.texture import gaussian_blur

    r = (x[:, :1] - gaussian_blur(x[:, :1], 3.0))[0, 0]
    r = r - r.mean()
    best = -1.0
    for dy in range(-5, 6):
        for dx in range(-5, 6):
            if math.hypot(dy, dx) < 5 or math.hypot(dy, dx) > 5:
                continue
            a = r[max(0, dy) : 48 + min(0, dy), max(0, dx) : 48 + min(0, dx)]
            b = r[max(0, -dy) : 48 + min(0, -dy), max(0, -dx) : 48 + min(0, -dx)]
            best = max(best, float((a * b).mean() / (r * r).mean()))
    assert score == pytest.approx(best, abs=1e-9)


def test_colour_stats_spread_distance_and_pairwise_difference():
    ids = torch.zeros(2, 4, 4, dtype=torch.long)
    ids[:, 2:] = 2
    img = torch.zeros(2, 3, 4, 4)
    img[0, :, :2] = 0.5
    img[1, :, 2:] = torch.tensor([0.0, 1.0]).repeat(2).view(1, 1, 4).expand(3, 2, 4)
    f = class_colour_stats(img, ids, 3)
    assert f.shape == (2, 18)
    assert f[0, :3].tolist() == [0.5] * 3 and f[0, 6:12].abs().sum() == 0  # class 1 absent: zeros
    assert f[1, 12:15].tolist() == [0.5] * 3 and f[1, 15:18].tolist() == [0.5] * 3
    a = torch.randn(200, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert spread_distance(a, a) == pytest.approx(0, abs=1e-4)
    # b = 2a + m: covariance 4C, so the closed form is |mean a - mean b|^2 + tr(C + 4C - 2 * 2C) = ... + tr(C)
    b = a * 2 + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    ca, dm = torch.cov(a.T), a.mean(0) - b.mean(0)
    expect = float(dm @ dm) + float(torch.trace(ca))
    assert spread_distance(a, b, eps=0) == pytest.approx(expect, rel=1e-6)
    imgs = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2), torch.full((3, 2, 2), 0.5)])
    assert mean_pairwise_difference(imgs) == pytest.approx(255 * (1 + 0.5 + 0.5) / 3)
    with pytest.raises(ValueError):
        mean_pairwise_difference(imgs[:1])
