"""Windowed synthesis (models/spade/windows.py): windows == whole picture, smooth label enlargement, seam score."""

import numpy as np
import pytest
import torch

from models.spade.generator import GenConfig, build_generator, one_hot
from models.spade.windows import receptive_margin, seam_score, smooth_label_upscale, synthesize_windows, window_grid

CFG = dict(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, norm="batch", native=[32, 64], depth=2)  # 4 px grid


def _generator():
    G = build_generator(GenConfig(**CFG))
    with torch.no_grad():  # non-zero noise weights and running statistics, as a trained generator has
        for name, p in G.named_parameters():
            if ".noise_" in name:
                p.fill_(0.3)
        G.train()
        for _ in range(3):
            G(one_hot(torch.randint(0, 10, (2, 64, 64)), 10))
    return G.eval().double()


def test_grid_cores_cover_every_pixel_once():
    for length, core, margin in [(96, 32, 16), (160, 64, 32), (48, 48, 16), (208, 80, 48)]:
        seen = np.zeros(length, int)
        for s0, s1, k0, k1 in window_grid(length, core, margin, 16):
            assert 0 <= s0 < s1 <= length and s0 % 16 == 0 and s1 % 16 == 0
            seen[s0 + k0 : s0 + k1] += 1
        assert (seen == 1).all()
    with pytest.raises(ValueError, match="multiples"):
        window_grid(100, 32, 16, 16)


def test_windows_equal_the_whole_picture_with_margins_and_differ_without():
    G = _generator()
    ids = torch.randint(0, 10, (1, 6, 10))
    seg = one_hot(torch.nn.functional.interpolate(ids[None].double(), size=(96, 160), mode="nearest")[0].long(), 10)
    seg = seg.double()
    z = torch.randn(1, 8, dtype=torch.float64)
    noise = [n.double() for n in G.make_noise(1, 96, 160, torch.Generator().manual_seed(0))]
    margin = receptive_margin(G.cfg)
    assert margin == 32
    with torch.no_grad():
        whole = G(seg, z, noise=noise)
        tiled = synthesize_windows(G, seg, z, window=2 * margin + 16, margin=margin, noise=noise).double()
        short = synthesize_windows(G, seg, z, window=2 * margin, margin=margin - 8, noise=noise).double()
        bare = synthesize_windows(G, seg, z, window=48, margin=0, noise=noise).double()
    assert (tiled - whole).abs().max() < 1e-4  # float32 output buffer
    assert (bare - whole).abs().max() > 1e-2  # no margin: the window borders show
    assert (short - whole).abs().max() > 1e-6  # a margin below the receptive field is not exact
    calls = []
    with torch.no_grad():
        synthesize_windows(G, seg, z, window=80, margin=32, noise=noise, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] == len(calls) and len(calls) > 1


@pytest.mark.parametrize("depth", [2, 3])
def test_receptive_margin_covers_the_measured_receptive_field(depth):
    """Perturb one start-grid cell of the label map; no output pixel beyond the margin may change."""
    G = build_generator(GenConfig(**(CFG | {"depth": depth}))).eval().double()
    f, S = 2**depth, 32 * 2**depth
    seg = one_hot(torch.zeros(1, S, S, dtype=torch.long), 10).double()
    moved = seg.clone()
    c = S // 2
    moved[:, :, c : c + f, c : c + f] = 0
    moved[:, 3, c : c + f, c : c + f] = 1
    with torch.no_grad():
        z = torch.zeros(1, 8, dtype=torch.float64)
        d = (G(seg, z) - G(moved, z)).abs().amax(1)[0]
    rows = torch.nonzero(d.amax(1) > 0)[:, 0]
    reach = max(c - int(rows.min()), int(rows.max()) - (c + f - 1))
    assert 0 < reach <= receptive_margin(G.cfg) and reach > receptive_margin(G.cfg) - f


def test_smooth_upscale_keeps_regions_and_straightens_diagonals():
    ids = torch.zeros(16, 16, dtype=torch.long)
    for i in range(16):
        ids[i, : i + 1] = 3  # a staircase diagonal at 16 px
    ids[0, 15] = 255  # ignore label kept where it was
    big = smooth_label_upscale(ids, (128, 128), 10)
    near = torch.nn.functional.interpolate(ids[None, None].float(), size=(128, 128), mode="nearest")[0, 0].long()
    assert big.shape == (128, 128) and set(big.unique().tolist()) <= {0, 3, 255}
    assert (big == near).float().mean() > 0.95  # the same regions...
    # ...with a straight edge: the boundary column per row moves by ~1 px per row, not 8-px steps
    edge = (big[8:120] == 3).sum(1).double()
    steps = (edge[1:] - edge[:-1]).abs()
    near_steps = ((near[8:120] == 3).sum(1).double().diff()).abs()
    assert steps.max() <= 3 and near_steps.max() == 8
    assert int(big[0, 127]) == 255
    same = smooth_label_upscale(ids, (16, 16), 10)
    assert torch.equal(same, ids)


def test_seam_score_sees_a_seam_and_not_plain_texture():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 128, 128, generator=g)
    assert seam_score(img, [64], [64]) == pytest.approx(1.0, abs=0.1)
    seamed = img.clone()
    seamed[:, 64:] += 2.0
    assert seam_score(seamed, [64], []) > 3
