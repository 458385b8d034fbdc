"""The Video tab's handlers: a clip stylized into a playable MP4, every limit and bad file refused with its own
message, and the webcam stream keeping its stabilized stylizer per session (the app's real models)."""

from __future__ import annotations

import dataclasses
import re
import threading

import gradio as gr
import numpy as np
import pytest

from app.web.handlers import Handlers
from models.common.video import VideoReader, output_size, probe
from tests.app.conftest import CLIP_FPS, CLIP_FRAMES, CLIP_SIZE

STYLE_SLOTS = [None, 0.5] * 3  # styles 2-4 and their weights, unused


@pytest.fixture
def make_handlers(app_config, engine, tmp_path):
    """Handlers over the session's engine with some settings changed (e.g. a tiny limit); results in tmp_path."""

    def make(**overrides) -> Handlers:
        return Handlers(engine, dataclasses.replace(app_config, **overrides), video_dir=tmp_path / "videos")

    return make


@pytest.fixture
def handlers(make_handlers) -> Handlers:
    return make_handlers()


def _run(h: Handlers, video, style, size=64, stabilize="flow", ticks: list | None = None, **kw):
    """stylize_video_ui with one style (the UI's positional order)."""
    record = (lambda f, desc=None, **_: ticks.append((f, desc))) if ticks is not None else (lambda *a, **k: None)
    args = dict(alpha=1.0, preserve_color="none", stroke=1.0, norm="") | kw
    return h.stylize_video_ui(
        str(video) if video else video,
        str(style),
        1.0,
        *STYLE_SLOTS,
        args["alpha"],
        args["preserve_color"],
        size,
        args["stroke"],
        stabilize,
        args["norm"],
        progress=record,
    )


def _refusal(call, *args, **kwargs) -> str:
    """The gr.Error message a call raises (what the page's toast shows)."""
    with pytest.raises(gr.Error) as info:
        call(*args, **kwargs)
    return info.value.message


def _frames(path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.rgb for f in r.frames()]


def _jobs_left(h: Handlers) -> list:
    return sorted(h.video_dir.glob("job-*")) if h.video_dir.exists() else []


def test_a_clip_becomes_a_playable_mp4_with_every_frame_and_a_progress_tick_per_frame(handlers, clips, files):
    ticks: list = []
    path, caption = _run(handlers, clips["clip.mp4"], files["style.jpg"], ticks=ticks)
    info = probe(path)
    assert path.endswith("clip-stylized.mp4") and (info.codec, info.width, info.height) == ("h264", *CLIP_SIZE)
    frames = _frames(path)
    assert len(frames) == CLIP_FRAMES and float(info.fps) == CLIP_FPS
    assert f"64×48 px · {CLIP_FRAMES} frames at {CLIP_FPS} fps" in caption and caption.startswith("AdaIN video · ")
    assert ticks[-CLIP_FRAMES:] == [(i / CLIP_FRAMES, f"frame {i} of {CLIP_FRAMES}") for i in range(1, 7)]
    # the result lives in a job folder of its own in the swept video folder
    assert [p.parent for p in _jobs_left(handlers)[0].iterdir()] == [_jobs_left(handlers)[0]]


@pytest.mark.parametrize("stabilize", ["stats", "both", "none"])
def test_every_stabilization_mode_runs(handlers, clips, files, stabilize):
    path, _ = _run(handlers, clips["clip.mp4"], files["style.jpg"], size=32, stabilize=stabilize)
    assert len(_frames(path)) == CLIP_FRAMES and probe(path).width == 32


def test_stabilization_modes_map_to_the_video_configs():
    from app.services import video_config

    flow, stats, both, none = (video_config(64, stabilize=m) for m in ("flow", "stats", "both", "none"))
    assert flow.flow and flow.stats_decay == 0.0 and flow.cut_threshold == 0.4  # cuts still restart the blend
    assert not stats.flow and stats.stats_decay == 0.9 and stats.cut_threshold == 0.4
    assert both.flow and both.stats_decay == 0.9
    assert not none.flow and none.stats_decay == 0.0 and none.cut_threshold == float("inf")
    assert video_config(64) == flow  # the default, as the CLI's


@pytest.mark.parametrize(
    "limit, message",
    [
        (
            {"max_video_seconds": 0.1},
            r"Video 'clip.mp4' is 0.2 s long, over this server's limit of 0.1 s: trim it "
            r"first, or start the server with --max-video-seconds to raise it\.",
        ),
        (
            {"max_video_side": 32},
            r"Video 'clip.mp4' is 64x48, over this server's limit of 32 px on the long side: "
            r"downscale it first, or start the server with --max-video-side to raise it\.",
        ),
        (
            {"max_video_mb": 0.001},
            r"Video 'clip.mp4' is 0.\d+ MB, over this server's limit of 0.001 MB: trim or "
            r"compress it first, or start the server with --max-video-mb to raise it\.",
        ),
        (
            {"max_video_frames": 4},
            r"Video 'clip.mp4' has 6 frames, over this server's limit of 4 frames: trim it or "
            r"lower its frame rate first, or start the server with --max-video-frames to raise it\.",
        ),
    ],
)
def test_each_limit_refuses_the_clip_naming_the_limit_and_its_flag(make_handlers, clips, files, limit, message):
    h = make_handlers(**limit)
    assert re.fullmatch(message, _refusal(_run, h, clips["clip.mp4"], files["style.jpg"]))
    assert _jobs_left(h) == []  # refused before a job started


def test_the_frame_limit_holds_while_decoding_when_the_header_does_not_say(make_handlers, clips, files, monkeypatch):
    import models.adain.video
    import models.common.video

    real = models.common.video.probe
    for module in (models.common.video, models.adain.video):  # the app's check and the stylizer's own
        monkeypatch.setattr(module, "probe", lambda p: dataclasses.replace(real(p), frames=0, duration=0.0))
    h = make_handlers(max_video_frames=4)
    assert _refusal(_run, h, clips["clip.mp4"], files["style.jpg"]) == (
        "Video: 'clip.mp4' has more than 4 frames (start the server with --max-video-frames to raise it)."
    )
    assert _jobs_left(h) == []  # the failed job's folder went with it, and nothing half-written remains


@pytest.mark.parametrize(
    "name, message",
    [
        ("text.mp4", r"Video: 'text.mp4' is not a readable video \(corrupt, or not a video file\)\."),
        ("corrupt.mp4", r"Video: 'corrupt.mp4' is not a readable video \(.+\)\."),
        ("tone.mp4", r"Video: 'tone.mp4' has no video stream \(audio only\)\."),
        (
            "unknown-codec.mp4",
            r"Video: 'unknown-codec.mp4': unsupported video codec \(FFmpeg has no decoder for it\); convert it to "
            r"H\.264 first\.",
        ),
        ("empty.avi", r"Video: 'empty.avi' has no decodable video frames\."),
        (None, r"Please add a video clip\."),
    ],
)
def test_bad_files_get_a_clear_message_not_a_traceback(handlers, clips, files, name, message):
    text = _refusal(_run, handlers, clips[name] if name else None, files["style.jpg"])
    assert re.fullmatch(message, text) and "Internal error" not in text
    assert _jobs_left(handlers) == []


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"size": 1000}, r"video size must be a whole number of pixels from 16 to 512, got 1000"),
        ({"stabilize": "wobbly"}, r"stabilize must be one of 'flow', 'stats', 'both', 'none', got 'wobbly'"),
        ({"alpha": 2}, r"alpha \(style strength\) must be between 0 and 1, got 2"),
        ({"norm": "fancy"}, r"No AdaIN checkpoint for normalizer 'fancy'; available: "),
    ],
)
def test_bad_settings_are_refused(handlers, clips, files, kw, message):
    assert re.search(message, _refusal(_run, handlers, clips["clip.mp4"], files["style.jpg"], **kw))


def test_a_bad_style_is_named(handlers, clips, files):
    assert _refusal(_run, handlers, clips["clip.mp4"], files["corrupt.png"]).startswith("Style image: 'corrupt.png'")


# --- webcam --------------------------------------------------------------------------------------------------
def _cam(h: Handlers, frame: np.ndarray, session, style, alpha=1.0, stabilize="flow", style2=None):
    return h.webcam_ui(
        frame,
        session,
        None if style is None else str(style),
        1.0,
        None if style2 is None else str(style2),
        0.5,
        None,
        0.5,
        None,
        0.5,
        alpha,
        "none",
        1.0,
        stabilize,
        "",
    )


def _frame(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_webcam_frames_of_one_session_share_one_stabilized_stylizer(handlers, files):
    out1, session, caption = _cam(handlers, _frame(320, 240), None, files["style.jpg"])
    assert out1.shape == (192, 256, 3) and caption.startswith("Webcam · ") and "256×192 px · frame 1" in caption
    out2, same, caption = _cam(handlers, _frame(320, 240, 1), session, files["style.jpg"])
    assert same is session and session.stylizer.frames == 2 and "frame 2" in caption  # state carried over
    # the stream's state: the tracked statistics and the previous output the flow blend warps
    assert session.stylizer.tracker.running.started and session.stylizer.blender._prev_out is not None
    _, changed, _ = _cam(handlers, _frame(320, 240, 2), session, files["style.jpg"], alpha=0.5)
    assert changed is not session and changed.stylizer.frames == 1  # a new setting: a new stream
    _, restyled, _ = _cam(
        handlers, _frame(320, 240, 3), changed, files["style.jpg"], alpha=0.5, style2=files["content.png"]
    )
    assert restyled is not changed  # another style: a new stream too
    _, plain, _ = _cam(
        handlers,
        _frame(320, 240, 4),
        restyled,
        files["style.jpg"],
        alpha=0.5,
        style2=files["content.png"],
        stabilize="none",
    )
    assert plain is not restyled and not plain.stylizer.cfg.flow


@pytest.mark.parametrize("w, h", [(61, 47), (333, 201), (24, 200), (255, 257)])
def test_webcam_frames_of_odd_sizes_come_out_in_multiples_of_8_up_to_256(handlers, files, w, h):
    out, session, _ = _cam(handlers, _frame(w, h), None, files["style.jpg"])
    ow, oh = output_size(w, h, min(256, max(w, h)))
    assert out.shape == (oh, ow, 3) and max(out.shape[:2]) <= 256 and oh % 8 == 0 and ow % 8 == 0


def test_webcam_input_problems_pause_in_the_caption_not_a_toast(handlers, files):
    image, session, caption = _cam(handlers, _frame(64, 48), None, None)
    assert image == gr.skip() and session is None and caption == "Webcam paused: Please add a style image."
    image, session, caption = _cam(handlers, _frame(17, 500), None, files["style.jpg"])
    assert image == gr.skip() and caption == (
        "Webcam paused: Webcam frame: 17x500 is too narrow (scaled to 8x256, a side is under 16 px)."
    )


def test_webcam_skips_frames_while_a_clip_holds_the_model(handlers, files, monkeypatch):
    _, session, _ = _cam(handlers, _frame(64, 48), None, files["style.jpg"])
    lock = handlers.engine._lock_for(session.stylizer.st)
    held, release = threading.Event(), threading.Event()

    def clip_job() -> None:
        with lock:
            held.set()
            release.wait(10)

    worker = threading.Thread(target=clip_job)
    worker.start()
    try:
        held.wait(5)
        image, same, caption = _cam(handlers, _frame(64, 48), session, files["style.jpg"])
        assert image == gr.skip() and same is session and caption.startswith("Webcam waiting: this model is busy")
    finally:
        release.set()
        worker.join()
    image, _, _ = _cam(handlers, _frame(64, 48), session, files["style.jpg"])
    assert image.shape == (48, 64, 3)  # and back once the clip is done
