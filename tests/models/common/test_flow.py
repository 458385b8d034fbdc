"""Optical flow helpers and the warping-error metric: closed forms, known motion, a metric that can fail."""

import numpy as np
import pytest

from models.common.flow import FlowEstimator, consistency_mask, flow_pair, warp, warping_error


def _texture(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """Smooth random texture (DIS needs structure at several scales)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 6, w // 6, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _pan(frames: int = 6, step: int = 2, noise: float = 2.0, seed: int = 1) -> list[np.ndarray]:
    """A camera panning right by ``step`` px per frame over a large texture, with sensor noise."""
    big = _texture(120, 160 + step * frames)
    rng = np.random.default_rng(seed)
    out = []
    for t in range(frames):
        f = big[:, step * t : step * t + 160].astype(np.float64) + rng.normal(0, noise, (120, 160, 3))
        out.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    return out


def test_warp_integer_flow_is_a_shift():
    img = _texture()
    flow = np.zeros(img.shape[:2] + (2,), np.float32)
    flow[..., 0] = 3  # out[p] = img[p + (3, 0)]
    out = warp(img, flow)
    assert np.array_equal(out[:, :-3], img[:, 3:])
    assert np.array_equal(out[:, -3:], np.repeat(img[:, -1:], 3, axis=1))  # border replicated


def test_dis_recovers_a_known_shift():
    frames = _pan(frames=2, step=3, noise=0)
    backward = FlowEstimator("medium")(frames[1], frames[0])
    inner = backward[10:-10, 10:-20]
    assert abs(float(np.median(inner[..., 0])) - 3.0) < 0.3  # frame 1's pixel p is at p + 3 in frame 0
    assert abs(float(np.median(inner[..., 1]))) < 0.3


def test_consistency_mask_flags_pixels_from_outside():
    h, w = 40, 50
    backward = np.zeros((h, w, 2), np.float32)
    backward[..., 0] = -4  # came from 4 px to the left: the first 4 columns came from outside the frame
    forward = -backward
    mask = consistency_mask(backward, forward)
    assert not mask[:, :4].any() and mask[:, 4:].all()
    bad_forward = np.zeros_like(forward)  # no round trip: not trusted anywhere the motion is > ~sqrt(beta)
    assert not consistency_mask(backward, bad_forward).any()


def test_warping_error_floor_for_a_stable_method_and_high_for_flicker():
    frames = _pan()
    est = FlowEstimator("medium")
    pairs = [flow_pair(est, frames[t], frames[t - 1]) for t in range(1, len(frames))]

    def clip_error(outs):
        return np.mean([warping_error(outs[t], outs[t - 1], *pairs[t - 1]) for t in range(1, len(outs))])

    floor = clip_error(frames)
    stable = clip_error([255 - f for f in frames])  # a per-pixel function of the input moves with it
    rng = np.random.default_rng(3)
    flicker = clip_error([np.clip(f.astype(int) + rng.integers(-20, 21), 0, 255).astype(np.uint8) for f in frames])
    assert floor < 3.0
    assert stable == pytest.approx(floor, rel=0.05)
    assert flicker > 3 * floor


def test_warping_error_nan_without_trusted_pixels():
    f = _texture()
    assert np.isnan(warping_error(f, f, np.zeros(f.shape[:2] + (2,), np.float32), np.zeros(f.shape[:2], bool)))


def test_unknown_preset():
    with pytest.raises(ValueError, match="ultrafast, fast, medium"):
        FlowEstimator("slow")
