"""Video stabilization pieces: tracked statistics against a float64 closed form, scene-cut resets, flow blending."""

import math

import numpy as np
import pytest
import torch

from models.adain.temporal import FlowBlender, StatsTracker, stats_distance, to_tensor, to_uint8
from norms.stats import moments

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference(frames: list[torch.Tensor], decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exponentially weighted per-channel mean and variance over every value of the frames seen, frame ``t - k``
    weighted by ``decay**k``, written from the definition in float64."""
    c = frames[0].shape[1]
    mean, var = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64)
    for ch in range(c):
        total = wsum = 0.0
        vals = []
        for k, f in enumerate(reversed(frames)):
            w = decay**k
            x = f[:, ch].double().flatten()
            vals.append((w, x))
            total += w * float(x.sum())
            wsum += w * x.numel()
        mu = total / wsum
        mean[ch] = mu
        var[ch] = sum(w * float(((x - mu) ** 2).sum()) for w, x in vals) / wsum
    return mean, var


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9])
def test_tracked_statistics_match_the_weighted_closed_form(decay):
    torch.manual_seed(0)
    tracker = StatsTracker(4, decay=decay, cut_threshold=math.inf)
    frames = [torch.randn(1, 4, 5, 6) * (1 + 0.1 * t) + 0.2 * t for t in range(7)]
    for t, f in enumerate(frames):
        stats, cut = tracker.update(moments(f, dims=[0, 2, 3]))
        assert cut == (t == 0)
        mean, var = _reference(frames[: t + 1], decay)
        assert stats.shape == (1, 4)
        torch.testing.assert_close(stats.mean[0], mean, rtol=1e-6, atol=1e-8)
        torch.testing.assert_close(stats.var[0], var, rtol=1e-6, atol=1e-8)


def test_scene_cut_resets_to_the_new_scene_only():
    torch.manual_seed(1)
    scene_a = [torch.randn(1, 8, 32, 32) + 1.0 for _ in range(5)]
    scene_b = [torch.randn(1, 8, 32, 32) * 3.0 - 2.0 for _ in range(3)]
    tracker = StatsTracker(8, decay=0.9, cut_threshold=0.4)
    cuts = []
    for f in scene_a + scene_b:
        stats, cut = tracker.update(moments(f, dims=[0, 2, 3]))
        cuts.append(cut)
    assert cuts == [True, False, False, False, False, True, False, False]
    assert tracker.cuts == 1
    mean, var = _reference(scene_b, 0.9)  # scene A is forgotten entirely
    torch.testing.assert_close(stats.mean[0], mean, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(stats.var[0], var, rtol=1e-6, atol=1e-8)


def test_gradual_change_is_not_a_cut():
    tracker = StatsTracker(8, decay=0.9, cut_threshold=0.4)
    torch.manual_seed(2)
    base = torch.rand(1, 8, 6, 6)
    for t in range(40):  # a brightness ramp: +60 % over 40 frames
        tracker.update(moments(base * (1 + 0.015 * t), dims=[0, 2, 3]))
    assert tracker.cuts == 0
    assert 0 < tracker.last_distance < 0.4


def test_stats_distance_is_zero_for_equal_and_scale_free():
    m = moments(torch.rand(1, 3, 4, 4) + 0.5, dims=[0, 2, 3])
    assert stats_distance(m, m) == 0.0
    m2 = moments(2 * (torch.rand(1, 3, 4, 4) + 0.5), dims=[0, 2, 3])
    assert stats_distance(m2, m) > 0.5


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay"):
        StatsTracker(4, decay=1.0)
    with pytest.raises(ValueError, match="cut threshold"):
        StatsTracker(4, cut_threshold=0)
    with pytest.raises(ValueError, match="strength"):
        FlowBlender(1.0)


def _pan(frames: int, step: int = 2, seed: int = 0) -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.resize(
        rng.integers(0, 256, (20, 40, 3), dtype=np.uint8), (96 + step * frames, 64), interpolation=cv2.INTER_CUBIC
    )
    return [big[:, step * t : step * t + 96].copy() for t in range(frames)]


def test_flow_blend_first_frame_passes_and_blend_follows_the_formula():
    frames = _pan(2)
    blender = FlowBlender(0.5, detail=False)
    out0 = 255 - frames[0]
    assert np.array_equal(blender(frames[0], out0), out0)
    new = np.full_like(frames[1], 100)
    out1 = blender(frames[1], new)
    # trusted pixels: half the warped previous output, half the new frame; the rest the new frame
    from models.common.flow import flow_pair, FlowEstimator, warp

    backward, trusted = flow_pair(FlowEstimator("fast"), frames[1], frames[0])
    expect = np.where(trusted[..., None], np.rint(0.5 * warp(out0, backward).astype(np.float32) + 50), new)
    assert 0.5 < trusted.mean() < 1.0
    assert np.abs(out1.astype(int) - expect.astype(int)).max() <= 1
    blender.reset()
    assert np.array_equal(blender(frames[1], new), new)


def test_flow_blend_reduces_flicker():
    from models.common.flow import FlowEstimator, flow_pair, warping_error

    frames = _pan(8)
    rng = np.random.default_rng(5)
    flicker = [np.clip((255 - f).astype(int) + rng.integers(-25, 26, f.shape), 0, 255).astype(np.uint8) for f in frames]
    blender = FlowBlender(0.6)
    blended = [blender(f, o) for f, o in zip(frames, flicker)]
    est = FlowEstimator("medium")
    pairs = [flow_pair(est, frames[t], frames[t - 1]) for t in range(1, 8)]
    err = lambda outs: np.mean([warping_error(outs[t], outs[t - 1], *pairs[t - 1]) for t in range(1, 8)])  # noqa
    assert err(blended) < 0.6 * err(flicker)


def _high_std(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    f = img.astype(np.float32)
    return (f - cv2.GaussianBlur(f, (0, 0), 2.0))[mask].std(axis=0)


def test_restore_detail_matches_the_references_high_pass_energy_and_never_softens():
    import cv2

    from models.adain.temporal import restore_detail

    rng = np.random.default_rng(3)
    ref = cv2.resize(rng.uniform(0, 255, (24, 24, 3)).astype(np.float32), (64, 64), interpolation=cv2.INTER_CUBIC)
    everywhere = np.ones((64, 64), bool)
    blur = cv2.GaussianBlur(ref, (0, 0), 2.0)
    soft = blur + np.array([0.5, 0.7, 0.9], np.float32) * (ref - blur)  # each channel's detail weakened differently
    out = restore_detail(soft, ref, everywhere)
    # the blend's own blur stays, its high-pass now has the reference's energy per channel
    base = cv2.GaussianBlur(soft, (0, 0), 2.0)
    np.testing.assert_allclose((out - base).std(axis=(0, 1)), _high_std(ref, everywhere), rtol=1e-3)
    gain = ((out - base) / (soft - base)).reshape(-1, 3)  # one factor per channel, each above 1
    assert gain.std(axis=0).max() < 1e-2 and (gain.mean(axis=0) > 1.05).all()
    sharp = blur + 1.5 * (ref - blur)
    np.testing.assert_allclose(restore_detail(sharp, ref, everywhere), sharp, atol=1e-3)  # gain floor 1
    np.testing.assert_allclose(restore_detail(soft, ref * 0 + 5, everywhere), soft, atol=1e-3)  # flat reference
    capped = restore_detail(soft, ref * 10, everywhere)  # 20x, 14x, 11x wanted: 2x at most
    np.testing.assert_allclose((capped - base).std(axis=(0, 1)), 2 * (soft - base).std(axis=(0, 1)), rtol=1e-3)
    # the statistics come only from `where`: a reference flat there leaves the blend as it is
    where = np.zeros((64, 64), bool)
    where[:, :32] = True
    ref_half = ref.copy()
    ref_half[:, :32] = 5
    np.testing.assert_allclose(restore_detail(soft, ref_half, where), soft, atol=1e-3)
    assert np.array_equal(restore_detail(soft, ref, np.zeros((64, 64), bool)), soft)  # too few pixels to judge


def test_flow_blend_keeps_the_strokes_contrast_and_still_removes_flicker():
    """The plain average softens the moving texture; the detail-keeping blend gives it back and still halves the
    flicker."""
    from models.common.flow import FlowEstimator, flow_pair, warping_error

    frames = _pan(8)
    rng = np.random.default_rng(5)
    flicker = [np.clip((255 - f).astype(int) + rng.integers(-25, 26, f.shape), 0, 255).astype(np.uint8) for f in frames]
    plain, kept = FlowBlender(0.6, detail=False), FlowBlender(0.6)
    out_plain = [plain(f, o) for f, o in zip(frames, flicker)]
    out_kept = [kept(f, o) for f, o in zip(frames, flicker)]
    inner = np.zeros(frames[0].shape[:2], bool)
    inner[8:-8, 8:-8] = True
    ratio = lambda outs: np.mean([_high_std(outs[t], inner) / _high_std(flicker[t], inner) for t in range(1, 8)])  # noqa
    # here the texture moves with the content and only the noise differs, so the plain average loses ~6 %
    assert ratio(out_plain) < 0.95 < 0.98 < ratio(out_kept) < 1.05
    est = FlowEstimator("medium")
    pairs = [flow_pair(est, frames[t], frames[t - 1]) for t in range(1, 8)]
    err = lambda outs: np.mean([warping_error(outs[t], outs[t - 1], *pairs[t - 1]) for t in range(1, 8)])  # noqa
    assert err(out_kept) < 0.75 * err(flicker)


def test_tensor_round_trip():
    img = np.random.default_rng(0).integers(0, 256, (8, 16, 3), dtype=np.uint8)
    assert to_tensor(img).shape == (3, 8, 16)
    assert np.array_equal(to_uint8(to_tensor(img)), img)
