"""The generated clip set: motion as specified (measured back with optical flow), noise, cuts; the eval's table."""

import numpy as np
import pytest

from models.adain.clips import CLIP_SET, MOTIONS, NOISE, clip_frames, render, write_clip
from models.adain.video_eval import METHODS, summarize
from models.common.flow import FlowEstimator
from models.common.video import probe


def _photo(h=600, w=900, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.resize(
        rng.integers(0, 256, (h // 20, w // 20, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )


def test_pan_moves_by_the_specified_speed():
    frames = clip_frames([_photo()], "pan", (192, 128), frames=24)
    # centre moves 0.3 photo widths over 23 steps; one frame pixel is zoom * photo width / frame width photo pixels
    expected = 0.3 / 23 * 192 / 0.6
    flow = FlowEstimator("medium")(frames[12], frames[11])
    assert float(np.median(flow[20:-20, 20:-20, 0])) == pytest.approx(expected, abs=0.25)
    assert abs(float(np.median(flow[20:-20, 20:-20, 1]))) < 0.25


def test_noise_and_still_camera():
    a, b = clip_frames([_photo()], "still", (96, 64), frames=2)
    diff = a.astype(float) - b.astype(float)
    assert diff.std() == pytest.approx(NOISE * np.sqrt(2), rel=0.2)  # two independent draws of sigma NOISE


def test_cut_switches_photo_halfway():
    photos = [_photo(seed=1), _photo(seed=2) * 0.3]
    frames = clip_frames(photos, "cut", (96, 64), frames=8)
    means = [f.mean() for f in frames]
    assert min(means[:4]) > 2 * max(means[4:])


def test_brightness_ramp_and_render_shape():
    f0 = render(_photo(), MOTIONS["brightness"], 0.0, (64, 48))
    f1 = render(_photo(), MOTIONS["brightness"], 1.0, (64, 48))
    assert f0.shape == (48, 64, 3) and f1.mean() / f0.mean() == pytest.approx(1.25 / 0.6, rel=0.1)


def test_clip_set_meets_the_spec():
    sizes = {size for _, _, size, _ in CLIP_SET}
    kinds = {kind for _, kind, _, _ in CLIP_SET}
    assert len(CLIP_SET) >= 8 and {(856, 480), (1280, 720)} <= sizes
    assert {"pan", "zoom", "rotate", "object", "brightness", "cut"} <= kinds


def test_written_clip(tmp_path):
    frames = clip_frames([_photo(), _photo(seed=3)], "object", (96, 64), frames=5)
    write_clip(tmp_path / "c.mp4", frames, fps=24)
    info = probe(tmp_path / "c.mp4")
    assert (info.width, info.height, info.frames) == (96, 64, 5)
    from models.common.video import VideoReader

    with VideoReader(tmp_path / "c.mp4") as r:
        back = [f.rgb.astype(float).mean(2) for f in r.frames()]
    # luma only: yuv420p halves the chroma resolution, and this random texture is all colour detail
    mse = np.mean([(b - f.mean(2)) ** 2 for b, f in zip(back, frames)])
    assert 10 * np.log10(255**2 / mse) > 28


def test_summary_table():
    r = {"clip": "x", "size": [8, 8], "frames": 3, "cuts": 0, "input": {"warp": 1.0}}
    for i, m in enumerate(METHODS):
        r[m] = {"warp": 4.0 / (i + 1), "ratio": 0.2, "ms": 100.0 + i}
    text = summarize([r])
    assert "| (a) + (b) | 1.00 | 0.25x |" in text
