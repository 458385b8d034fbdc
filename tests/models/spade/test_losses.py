"""SPADE losses against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from models.spade.losses import (
    VGGLoss,
    class_colour_loss,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    kl_loss,
    mode_seeking_loss,
)


def _outs(*vals):
    return [[torch.full((1, 2, 1, 1), 0.0), torch.full((1, 1, 2, 2), v)] for v in vals]


def test_hinge_losses_match_hand_values():
    # real logits 0.5 and 2 -> relu(1 - r): 0.5, 0; fake -0.5 and 1 -> relu(1 + f): 0.5, 2; averaged over 2 scales
    assert torch.isclose(hinge_d_loss(_outs(0.5, 2.0), _outs(-0.5, 1.0)), torch.tensor((0.5 + 0.5 + 0 + 2) / 2))
    assert torch.isclose(hinge_g_loss(_outs(0.5, -1.5)), torch.tensor(0.5))


def test_feature_matching_ignores_logits_and_detaches_real():
    real = [[torch.ones(1, 2, 2, 2), torch.zeros(1, 1, 2, 2)]]
    fake = [[torch.full((1, 2, 2, 2), 3.0, requires_grad=True), torch.full((1, 1, 2, 2), 9.0)]]
    loss = feature_matching_loss(real, fake)
    assert torch.isclose(loss, torch.tensor(2.0))
    loss.backward()
    assert fake[0][0].grad is not None


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    assert kl_loss(torch.zeros(4, 8), torch.zeros(4, 8)).abs() < 1e-7
    mu = torch.ones(4, 8)
    assert torch.isclose(kl_loss(mu, torch.zeros(4, 8)), torch.tensor(0.5 * 8))


def test_mode_seeking_matches_closed_form_and_punishes_ignored_codes():
    z1, z2 = torch.zeros(2, 4), torch.full((2, 4), 2.0)  # mean |z1 - z2| = 2
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)  # mean |a - b| = 0.5
    assert torch.isclose(mode_seeking_loss(a, b, z1, z2), torch.tensor(1 / (0.25 + 1e-5)))
    b.requires_grad_(True)
    collapsed = mode_seeking_loss(a, a + 0.01 * b, z1, z2)  # images ignore the code: loss explodes
    assert collapsed > 50 * mode_seeking_loss(a, b, z1, z2)
    collapsed.backward()
    assert b.grad is not None and b.grad.abs().sum() > 0  # the gradient pushes the two images apart


def test_vgg_loss_zero_on_identical_and_grows_with_difference():
    loss = VGGLoss()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    near = (x + 0.05 * torch.randn_like(x)).clamp(-1, 1)
    far = torch.rand_like(x) * 2 - 1
    assert loss(x, x) < 1e-5
    assert 0 < loss(near, x) < loss(far, x)


def _look_loss_loop(fake, real, ids):
    """The look loss from its definition, a float64 loop over pictures and the classes each one has."""
    total, count = 0.0, 0
    for b in range(fake.shape[0]):
        for k in ids[b].unique().tolist():
            m = ids[b] == k
            f, r = fake[b][:, m].double(), real[b][:, m].double()
            sf = f.var(dim=1, unbiased=False).add(1e-6).sqrt()
            sr = r.var(dim=1, unbiased=False).add(1e-6).sqrt()
            total += float(((f.mean(1) - r.mean(1)).abs() + (sf - sr).abs()).mean())
            count += 1
    return total / count


def test_look_loss_matches_a_float64_loop_and_resizes_the_label_map():
    from models.spade.generator import one_hot

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 4, (3, 4, 4), generator=g).repeat_interleave(4, 1).repeat_interleave(4, 2)  # 16 px
    ids[0][ids[0] == 2] = 1  # picture 0 lacks class 2: it must not count there
    fake = torch.rand(3, 3, 16, 16, generator=g) * 2 - 1
    real = torch.rand(3, 3, 16, 16, generator=g) * 2 - 1
    seg = one_hot(ids, 6)  # classes 4 and 5 absent everywhere
    want = _look_loss_loop(fake, real, ids)
    assert abs(float(class_colour_loss(fake, real, seg)) - want) < 1e-5
    small = one_hot(ids[:, ::4, ::4], 6)  # a 4 px label map: nearest-resized to the pictures
    assert abs(float(class_colour_loss(fake, real, small)) - want) < 1e-5
    assert float(class_colour_loss(real, real, seg)) == 0.0
    # a tone shift of one class costs exactly that shift (means move, stds do not)
    shifted = real.clone()
    for b in range(3):
        shifted[b][:, ids[b] == 3] += 0.3
    n_classes = sum(len(ids[b].unique()) for b in range(3))
    has3 = sum(int((ids[b] == 3).any()) for b in range(3))
    assert abs(float(class_colour_loss(shifted, real, seg)) - 0.3 * has3 / n_classes) < 1e-5


def test_look_loss_gradients_match_finite_differences():
    from models.spade.generator import one_hot

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 3, (2, 5, 5), generator=g)
    seg = one_hot(ids, 3).double()
    fake = (torch.rand(2, 3, 5, 5, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    real = torch.rand(2, 3, 5, 5, generator=g, dtype=torch.float64) * 2 - 1

    def f(x):  # in float64 throughout: the function casts to fp32, so check the fp32 gradient against fd on fp64
        return class_colour_loss(x, real, seg)

    loss = f(fake)
    (grad,) = torch.autograd.grad(loss, fake)
    eps = 1e-3
    for idx in [(0, 0, 0, 0), (1, 2, 3, 4), (0, 1, 2, 2), (1, 0, 4, 1)]:
        plus, minus = fake.detach().clone(), fake.detach().clone()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (float(f(plus)) - float(f(minus))) / (2 * eps)
        assert abs(fd - float(grad[idx])) < 2e-3, (idx, fd, float(grad[idx]))


def _interior_loop(ids, border):
    B, H, W = ids.shape
    out = torch.zeros(B, H, W, dtype=torch.bool)
    for b in range(B):
        for y in range(H):
            for x in range(W):
                win = ids[b, max(0, y - border) : y + border + 1, max(0, x - border) : x + border + 1]
                out[b, y, x] = bool((win == win[0, 0]).all())
    return out


def _correlation_loop(r, ids, lags, border):
    """residual ``r (B, H, W)`` -> (B, 2, L) by explicit pixel pairs, float64 (the definition)."""
    inside = _interior_loop(ids, border)
    B, H, W = r.shape
    out = torch.zeros(B, 2, len(lags), dtype=torch.float64)
    for b in range(B):
        for d, (dy, dx) in enumerate(((0, 1), (1, 0))):
            for i, lag in enumerate(lags):
                num = saa = sbb = 0.0
                for y in range(H - dy * lag):
                    for x in range(W - dx * lag):
                        y2, x2 = y + dy * lag, x + dx * lag
                        if inside[b, y, x] and inside[b, y2, x2] and ids[b, y, x] == ids[b, y2, x2]:
                            a, c = float(r[b, y, x]), float(r[b, y2, x2])
                            num, saa, sbb = num + a * c, saa + a * a, sbb + c * c
                out[b, d, i] = num / max(saa * sbb, 1e-12) ** 0.5
    return out


def test_residual_correlation_matches_a_float64_loop_over_pixel_pairs():
    from models.spade.generator import one_hot
    from models.spade.losses import residual_correlation
    from models.spade.texture import gaussian_blur

    g = torch.Generator().manual_seed(3)
    ids = torch.zeros(2, 20, 22, dtype=torch.long)
    ids[0, :, 11:] = 1  # two regions side by side
    ids[1, 8:, :] = 2  # one above the other
    ids[1, 2:5, 3:6] = 1  # a small island: no interior with border 2
    x = torch.rand(2, 3, 20, 22, generator=g, dtype=torch.float64) * 2 - 1
    x[:, :, :, 8:] += 0.5 * x[:, :, :, :-8].clone()  # some correlation at lag 8
    lags = (2, 3, 8)
    got = residual_correlation(x, one_hot(ids, 3).double(), lags, border=2)
    grey = x.mean(1, keepdim=True)
    r = (grey - gaussian_blur(grey, 3.0))[:, 0]
    want = _correlation_loop(r, ids, lags, border=2)
    assert got.shape == (2, 2, 3)
    assert torch.allclose(got, want, atol=1e-9), (got, want)
    assert float(want[0, 0, 2]) > 0.2  # the planted lag-8 copy is seen horizontally


def test_period_loss_punishes_a_repeating_texture_and_not_grain():
    from models.spade.generator import one_hot
    from models.spade.losses import period_loss, residual_correlation

    g = torch.Generator().manual_seed(4)
    seg = one_hot(torch.zeros(2, 96, 96, dtype=torch.long), 2)
    grain = torch.rand(2, 3, 96, 96, generator=g) * 2 - 1
    tile = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    knitted = tile.repeat(1, 1, 6, 6)  # a 16 px period, like the generator's start grid
    c = residual_correlation(knitted, seg)
    assert float(c[:, :, 16 - 5].min()) > 0.9  # lag 16, both directions
    assert float(residual_correlation(grain, seg).abs().max()) < 0.15
    assert float(period_loss(knitted, grain, seg)) > 0.8
    assert float(period_loss(grain, grain.flip(-1), seg)) < 0.05
    assert float(period_loss(grain, grain, seg)) == 0.0
    assert float(period_loss(grain, knitted, seg, lags=(16,))) == 0.0  # repeating less than the real earns nothing
    # only the excess over the real picture counts: a real picture that repeats as much costs nothing
    assert float(period_loss(knitted, knitted.roll(3, -1), seg)) < 0.03  # (reflect padding differs at the edges)
    # a 16-px label map is nearest-resized to the pictures
    assert float(period_loss(knitted, grain, seg[:, :, ::6, ::6])) == float(period_loss(knitted, grain, seg))


def test_period_loss_ignores_repeats_across_class_edges():
    from models.spade.generator import one_hot
    from models.spade.losses import residual_correlation

    g = torch.Generator().manual_seed(5)
    ids = torch.zeros(1, 64, 64, dtype=torch.long)
    ids[:, :, 32:] = 1
    x = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    x[:, :, :, 32:48] = x[:, :, :, 16:32]  # class 1's left strip copies class 0's right strip: pairs at lag 16
    c = residual_correlation(x, one_hot(ids, 2), lags=(16,), border=0)
    one = residual_correlation(x, one_hot(torch.zeros_like(ids), 2), lags=(16,), border=0)
    assert float(one[0, 0, 0]) > 0.2  # as one class, the copy correlates
    assert abs(float(c[0, 0, 0])) < 0.1  # across the class edge it must not count


def test_residual_correlation_gradients():
    from models.spade.generator import one_hot
    from models.spade.losses import residual_correlation

    g = torch.Generator().manual_seed(6)
    ids = torch.zeros(1, 12, 12, dtype=torch.long)
    ids[:, 6:] = 1
    seg = one_hot(ids, 2).double()
    x = (torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: residual_correlation(v, seg, (2, 5), border=1), (x,))


def _detail_loop(x: torch.Tensor, ids: torch.Tensor, k: int, border: int) -> torch.Tensor:
    """Float64 loop: per picture and class, the mean over interior pixels of the squared fine residual."""
    from models.spade.texture import fine_residual

    r2 = fine_residual(x, 4).pow(2).mean(1)
    B, H, W = ids.shape
    out = torch.zeros(B, k, dtype=torch.float64)
    for b in range(B):
        for c in range(k):
            total, n = 0.0, 0
            for i in range(H):
                for j in range(W):
                    win = ids[b, max(0, i - border) : i + border + 1, max(0, j - border) : j + border + 1]
                    if bool((win == c).all()):
                        total, n = total + float(r2[b, i, j]), n + 1
            out[b, c] = total / n if n else 0.0
    return out


def test_class_detail_energy_matches_a_pixel_loop():
    from models.spade.generator import one_hot
    from models.spade.losses import class_detail_energy

    g = torch.Generator().manual_seed(7)
    ids = torch.zeros(2, 24, 20, dtype=torch.long)
    ids[:, 12:] = 1
    ids[1, 2:5, 3:6] = 2  # a small island: no inside with border 2
    x = torch.rand(2, 3, 24, 20, generator=g, dtype=torch.float64) * 2 - 1
    x[:, :, 12:] *= 0.3  # class 1 has a quieter grain
    got, n = class_detail_energy(x, one_hot(ids, 3).double(), border=2)
    want = _detail_loop(x, ids, 3, border=2)
    assert torch.allclose(got, want, atol=1e-12), (got, want)
    assert float(n[1, 2]) == 0 and float(n[0, 0]) > 0
    assert float(got[0, 1]) < 0.2 * float(got[0, 0])


def test_detail_loss_is_the_log_ratio_of_grain_in_each_region():

    from models.spade.generator import one_hot
    from models.spade.losses import detail_loss

    g = torch.Generator().manual_seed(8)
    ids = torch.zeros(2, 64, 64, dtype=torch.long)
    ids[:, 32:] = 1
    seg = one_hot(ids, 2)
    real = torch.rand(2, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1
    assert float(detail_loss(real, real, seg)) == 0.0
    # the residual is linear: twice the grain is 4x the energy, half of it a quarter (eps aside)
    assert float(detail_loss(2 * real, real, seg)) == pytest.approx(math.log(4), rel=1e-3)
    assert float(detail_loss(0.5 * real, real, seg)) == pytest.approx(math.log(4), rel=1e-3)
    # one region smoothed, the other kept: half of the classes cost log 4
    half = real.clone()
    half[:, :, 32:] *= 0.5
    assert float(detail_loss(half, real, seg)) == pytest.approx(math.log(4) / 2, rel=1e-3)
    # a blurred copy has lost its grain; a 16 px label map is nearest-resized to the pictures
    blurred = F.interpolate(F.interpolate(real, 16, mode="area"), 64, mode="bilinear", align_corners=False)
    assert float(detail_loss(blurred, real, seg)) > 2.0
    assert float(detail_loss(half, real, seg[:, :, ::4, ::4])) == float(detail_loss(half, real, seg))


def test_detail_loss_gradients():
    from models.spade.generator import one_hot
    from models.spade.losses import detail_loss

    g = torch.Generator().manual_seed(9)
    ids = torch.zeros(1, 16, 16, dtype=torch.long)
    ids[:, 8:] = 1
    seg = one_hot(ids, 2).double()
    real = torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1
    x = (torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: detail_loss(v, real, seg), (x,))
