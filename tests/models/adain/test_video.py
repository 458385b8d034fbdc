"""Video stylization: frame-by-frame parity with the image path, stabilization that measurably reduces flicker,
end-to-end clips (timing, audio, cuts), limits and interruption."""

from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from models.adain.clips import clip_frames, write_clip
from models.adain.infer import Stylizer
from models.adain.tiled import TileConfig
from models.adain.video import VideoConfig, VideoStylizer, stylize_video
from models.adain.video_eval import clip_warping_error
from models.common.assets import assets_dir
from models.common.imageio import load_image
from models.common.video import VideoError, VideoReader, probe

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer.from_checkpoint(
        assets_dir() / "adain_instance.safetensors",
        device="cpu",
        bf16=False,
        channels_last=False,
        tiles=TileConfig(tile=1 << 20),
    )


@pytest.fixture(scope="module")
def style() -> Image.Image:
    return load_image(assets_dir() / "examples" / "starry_night.jpg")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [
        np.asarray(load_image(assets_dir() / "examples" / n), dtype=np.float32) for n in ("astronaut.jpg", "coffee.jpg")
    ]


def test_frame_by_frame_equals_the_image_path(stylizer, style, photos):
    frame = clip_frames(photos, "pan", (96, 64), frames=1)[0]
    vs = VideoStylizer(stylizer, [style], config=VideoConfig.frame_by_frame(size=None))
    got = vs.frame(frame).astype(int)
    want = np.asarray(stylizer.stylize(Image.fromarray(frame), [style], size=None, stroke=1.0)).astype(int)
    assert np.abs(got - want).max() <= 1


def test_stabilization_reduces_warping_error(stylizer, style, photos):
    frames = clip_frames(photos, "pan", (128, 96), frames=10)
    results = {}
    for name, cfg in {"fbf": VideoConfig.frame_by_frame(size=None), "both": VideoConfig(size=None)}.items():
        vs = VideoStylizer(stylizer, [style], config=cfg)
        results[name] = clip_warping_error(frames, [vs.frame(f) for f in frames])
    floor = clip_warping_error(frames, frames)
    assert results["both"] < 0.7 * results["fbf"]
    assert results["fbf"] > 2 * floor  # the metric sees frame-by-frame flicker


def test_a_cut_resets_the_stream(stylizer, style, photos):
    frames = clip_frames(photos, "cut", (96, 64), frames=8)
    vs = VideoStylizer(stylizer, [style], config=VideoConfig(size=None))
    cuts = []
    for f in frames:
        vs.frame(f)
        cuts.append(vs.last_cut)
    assert cuts == [True, False, False, False, True, False, False, False]


def test_a_cut_starts_afresh_without_the_previous_scene(stylizer, style, photos):
    frames = clip_frames(photos, "cut", (96, 64), frames=6)
    vs = VideoStylizer(stylizer, [style], config=VideoConfig(size=None, flow_strength=0.9))
    outs = [vs.frame(f) for f in frames]
    fresh = VideoStylizer(stylizer, [style], config=VideoConfig.frame_by_frame(size=None)).frame(frames[3])
    assert np.abs(outs[3].astype(int) - fresh.astype(int)).max() <= 1  # no statistics, no pixels carried over


def test_a_new_frame_size_restarts(stylizer, style, photos):
    vs = VideoStylizer(stylizer, [style], config=VideoConfig(size=None))
    vs.frame(clip_frames(photos, "still", (96, 64), frames=1)[0])
    out = vs.frame(clip_frames(photos, "still", (64, 48), frames=1)[0])
    assert out.shape == (48, 64, 3) and vs.last_cut


def test_frame_checks(stylizer, style):
    vs = VideoStylizer(stylizer, [style])
    with pytest.raises(ValueError, match="multiples of 8"):
        vs.frame(np.zeros((50, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        vs.frame(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="video size"):
        VideoConfig(size=4000)
    with pytest.raises(ValueError, match="flow strength"):
        VideoConfig(flow_strength=1.0)


@pytest.mark.parametrize("preserve", ["covariance", "luminance"])
def test_colour_preservation_runs_per_scene(stylizer, style, photos, preserve):
    frames = clip_frames(photos, "pan", (96, 64), frames=3)
    vs = VideoStylizer(stylizer, [style], config=VideoConfig(size=None, preserve_color=preserve))
    outs = [vs.frame(f) for f in frames]
    # colours follow the content: the output's mean colour is the photo's, not the style's blue-yellow
    assert np.abs(outs[-1].reshape(-1, 3).mean(0) - frames[-1].reshape(-1, 3).mean(0)).max() < 25


def test_stylize_video_end_to_end(tmp_path, stylizer, style, photos):
    src = tmp_path / "in.mp4"
    write_clip(src, clip_frames(photos, "pan", (102, 58), frames=6), fps=12)
    out = tmp_path / "out.mp4"
    seen = []
    summary = stylize_video(
        stylizer, src, [style], out, config=VideoConfig(size=None), progress=lambda n, total, s: seen.append((n, total))
    )
    assert summary["frames"] == 6 and summary["size"] == (104, 56)
    assert seen[-1] == (6, 6)
    info = probe(out)
    assert (info.width, info.height, info.fps) == (104, 56, Fraction(12))
    with VideoReader(out) as r:
        assert [round(f.time, 3) for f in r.frames()] == [round(i / 12, 3) for i in range(6)]


def test_interruption_and_limits_leave_no_file(tmp_path, stylizer, style, photos):
    src = tmp_path / "in.mp4"
    write_clip(src, clip_frames(photos, "pan", (64, 48), frames=5), fps=12)
    out = tmp_path / "out.mp4"

    def stop(n, total, s):
        if n == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_video(stylizer, src, [style], out, config=VideoConfig(size=None), progress=stop)
    with pytest.raises(VideoError, match="limit is 3"):
        stylize_video(stylizer, src, [style], out, config=VideoConfig(size=None), max_frames=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
