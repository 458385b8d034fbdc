"""`normlab stylize-video`: a short clip end to end (audio kept), a folder, and one-line errors for bad input."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from models.adain.net import AdaINNet
from models.common.checkpoint import save_checkpoint
from models.common.video import VideoWriter, probe

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_video")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(d / "s.png")
    base = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    # a clip with an AAC audio track
    c = av.open(str(d / "clip.mp4"), "w")
    v = c.add_stream("libx264", rate=10)
    v.width, v.height, v.pix_fmt = 72, 48, "yuv420p"
    a = c.add_stream("aac", rate=16000)
    for i in range(5):
        for p in v.encode(av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")):
            c.mux(p)
    for i in range(0, 8000, 1024):
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, i
        for p in a.encode(af):
            c.mux(p)
    for p in list(v.encode()) + list(a.encode()):
        c.mux(p)
    c.close()
    (d / "folder").mkdir()
    with VideoWriter(d / "folder" / "a.mp4", (48, 32), Fraction(8)) as w:
        for i in range(3):
            w.write(base[:32, :48], i / 8)
    (d / "folder" / "notes.txt").write_text("not a clip")
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    (d / "unknown-codec.mp4").write_bytes((d / "clip.mp4").read_bytes().replace(b"avc1", b"zzz1"))
    torch.manual_seed(0)
    net = AdaINNet()
    save_checkpoint(d / "adain_instance.safetensors", net.trainable_state_dict(), net.config.to_dict(), "adain")
    return d


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    return code, capsys.readouterr().err


def test_clip_end_to_end_keeps_audio_and_rate(files, capsys):
    out = files / "out.mp4"
    code, err = _run(
        capsys,
        "stylize-video",
        files / "clip.mp4",
        files / "s.png",
        "-o",
        out,
        "--size",
        "0",
        "--checkpoint",
        files / "adain_instance.safetensors",
    )
    assert code == 0, err
    assert "5 frames, 72x48" in err
    info = probe(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (72, 48, Fraction(10), True)


@pytest.mark.parametrize("mode", ["none", "stats", "flow"])
def test_stabilize_modes(files, capsys, mode):
    out = files / f"out_{mode}.mp4"
    code, err = _run(
        capsys,
        "stylize-video",
        files / "clip.mp4",
        files / "s.png",
        "-o",
        out,
        "--size",
        "48",
        "--stabilize",
        mode,
        "--checkpoint",
        files / "adain_instance.safetensors",
    )
    assert code == 0, err
    assert (probe(out).width, probe(out).height) == (48, 32)


@pytest.mark.parametrize(
    "extra, strength, detail, decay, flow",
    [
        ((), 0.6, True, 0.0, True),
        (("--flow-strength", "0.3", "--plain-blend"), 0.3, False, 0.0, True),
        (("--stabilize", "both", "--stats-decay", "0.5"), 0.6, True, 0.5, True),
        (("--stabilize", "stats", "--stats-decay", "0.7"), 0.6, True, 0.7, False),
        (("--stabilize", "none", "--stats-decay", "0.7"), 0.6, True, 0.0, False),
    ],
)
def test_blend_options_reach_the_stylizer(files, capsys, monkeypatch, extra, strength, detail, decay, flow):
    import models.adain.video as video  # the CLI imports it when it runs (its --help imports no torch)

    seen = {}

    def fake(stylizer, source, styles, target, weights, config, *a, **kw):
        seen["config"] = config
        raise ValueError("stop here")

    monkeypatch.setattr(video, "stylize_video", fake)
    argv = ["stylize-video", files / "clip.mp4", files / "s.png", "-o", files / "x.mp4"]
    code, _ = _run(capsys, *argv, *extra, "--checkpoint", files / "adain_instance.safetensors")
    config = seen["config"]
    assert code != 0 and (config.flow_strength, config.flow_detail) == (strength, detail)
    assert (config.stats_decay, config.flow) == (decay, flow)
    assert math.isinf(config.cut_threshold) == ("none" in extra)  # scene cuts restart the blend unless frame by frame


def test_folder(files, capsys, tmp_path):
    code, err = _run(
        capsys,
        "stylize-video",
        files / "folder",
        files / "s.png",
        "-o",
        tmp_path / "styled",
        "--checkpoint",
        files / "adain_instance.safetensors",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "styled").iterdir()) == ["a.mp4"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["corrupt.mp4", "s.png", "-o", "x.mp4"], "not a readable video"),
        (["unknown-codec.mp4", "s.png", "-o", "x.mp4"], "'unknown-codec.mp4': unsupported video codec"),
        (["missing.mp4", "s.png", "-o", "x.mp4"], "video 'missing.mp4': no such file"),
        (["clip.mp4", "s.png", "-o", "x.gif"], "must end in .mp4"),
        (["clip.mp4", "s.png", "-o", "x.mp4", "--size", "4000"], "--size must be 16 to 1920"),
        (["clip.mp4", "s.png", "-o", "x.mp4", "--stats-decay", "1"], "--stats-decay must be in [0, 1)"),
        (["clip.mp4", "s.png", "-o", "x.mp4", "--max-frames", "2"], "the limit is 2"),
        (["clip.mp4", "s.png", "-o", "x.mp4", "--norm", "nope"], "nope"),
    ],
)
def test_errors_are_one_line(files, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)
    if "--norm" not in argv:
        argv = argv + ["--checkpoint", "adain_instance.safetensors"]
    code, err = _run(capsys, "stylize-video", *argv)
    assert code == 2
    assert message in err and err.startswith("error:") and "Traceback" not in err
    assert not (files / "x.mp4").exists()


def test_clips_run_with_the_heap_kept_and_restored_after(files, capsys, monkeypatch):
    """The frames are stylized inside models.common.memory.kept_heap (mmap off, so a frame reuses the previous
    frame's memory), and glibc's defaults come back when the command returns."""
    import contextlib

    import models.adain.video as video
    from models.common import memory

    events = []

    @contextlib.contextmanager
    def recording():
        events.append("enter")
        yield True
        events.append("exit")

    def fake(stylizer, source, styles, target, *a, **kw):
        events.append("stylize")
        raise video.VideoError("stop here")

    monkeypatch.setattr(memory, "kept_heap", recording)
    monkeypatch.setattr(video, "stylize_video", fake)
    argv = ["stylize-video", files / "clip.mp4", files / "s.png", "-o", files / "y.mp4"]
    code, err = _run(capsys, *argv, "--checkpoint", files / "adain_instance.safetensors")
    assert code == 2 and "stop here" in err  # one clip: its error is the command's error
    assert events == ["enter", "stylize", "exit"]
