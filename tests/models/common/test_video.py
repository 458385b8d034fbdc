"""Streaming video I/O: round trips, frame timing (variable rate too), audio copy/re-encode, clear errors, no partial
files."""

from fractions import Fraction

import numpy as np
import pytest

from models.common.video import VideoError, VideoReader, VideoWriter, output_size, probe

av = pytest.importorskip("av")


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    return [np.roll(base, 2 * i, axis=1) for i in range(n)]


def _write(path, frames, times, audio: str | None = None, fmt: str | None = None) -> None:
    """A clip with libx264 video and optionally an audio stream of codec ``audio`` (1 kHz tone)."""
    c = av.open(str(path), "w", format=fmt)
    v = c.add_stream("libx264", rate=24)
    v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
    v.time_base = Fraction(1, 1000)
    a = c.add_stream(audio, rate=16000) if audio else None
    for f, t in zip(frames, times):
        vf = av.VideoFrame.from_ndarray(f, format="rgb24")
        vf.pts, vf.time_base = round(t * 1000), Fraction(1, 1000)
        for p in v.encode(vf):
            c.mux(p)
    if a is not None:
        fmt_a = a.codec_context.format.name
        n = 16000 * 1
        tone = (0.2 * np.sin(2 * np.pi * 1000 * np.arange(n) / 16000)).astype(np.float32)
        samples = (tone * 32767).astype(np.int16) if fmt_a.startswith("s16") else tone
        layout = a.codec_context.layout.name
        frame_size = a.codec_context.frame_size or 1024
        for i in range(0, n, frame_size):
            chunk = samples[i : i + frame_size]
            arr = (
                chunk[None]
                if fmt_a.endswith("p")
                else np.repeat(chunk[None], a.codec_context.channels, 0).T.reshape(1, -1)
            )
            if fmt_a.endswith("p") and a.codec_context.channels > 1:
                arr = np.repeat(chunk[None], a.codec_context.channels, 0)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt_a, layout=layout)
            af.sample_rate, af.pts = 16000, i
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    for p in v.encode():
        c.mux(p)
    c.close()


def test_round_trip_keeps_frames_size_and_variable_timing(tmp_path):
    frames = _frames(6)
    times = [0.0, 0.04, 0.1, 0.25, 0.3, 0.5]  # uneven: a variable-frame-rate clip
    out = tmp_path / "out.mp4"
    with VideoWriter(out, (64, 48), Fraction(12)) as w:
        for f, t in zip(frames, times):
            w.write(f, t)
    info = probe(out)
    assert (info.width, info.height, info.codec, info.has_audio) == (64, 48, "h264", False)
    with VideoReader(out) as r:
        got = list(r.frames())
    assert [g.index for g in got] == list(range(6))
    assert [round(g.time, 3) for g in got] == times
    for g, f in zip(got, frames):
        mse = np.mean((g.rgb.astype(float) - f) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 30  # CRF 18 H.264 of flat 8x8 blocks


def test_reader_resizes(tmp_path):
    src = tmp_path / "a.mp4"
    _write(src, _frames(3), [0, 1 / 24, 2 / 24])
    with VideoReader(src, size=(32, 24)) as r:
        assert [f.rgb.shape for f in r.frames()] == [(24, 32, 3)] * 3


@pytest.mark.parametrize("codec,container,copied", [("aac", "mp4", True), ("pcm_s16le", "mov", False)])
def test_audio_is_copied_or_reencoded(tmp_path, codec, container, copied):
    src = tmp_path / f"a.{container}"
    _write(src, _frames(24), [i / 24 for i in range(24)], audio=codec)
    assert probe(src).has_audio
    out = tmp_path / "out.mp4"
    with VideoReader(src) as r, VideoWriter(out, r.size, r.info.fps, r.audio) as w:
        n_audio = 0
        for item in r.items():
            if hasattr(item, "rgb"):
                w.write(item.rgb, item.time)
            else:
                w.write_audio(item)
                n_audio += 1
    assert n_audio > 0
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        decoded = sum(f.samples for f in c.decode(audio=0))
    assert decoded >= 16000 * 0.9  # about the second of tone survived (copied: exactly; re-encoded: AAC padding)
    if copied:
        with av.open(str(src)) as c:
            assert sum(f.samples for f in c.decode(audio=0)) == decoded


def test_errors_are_specific(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video at all\n" * 50)
    with pytest.raises(VideoError, match="not a readable video"):
        probe(bad)
    audio_only = tmp_path / "a.m4a"
    c = av.open(str(audio_only), "w", format="mp4")
    a = c.add_stream("aac", rate=16000)
    af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    af.sample_rate, af.pts = 16000, 0
    for p in list(a.encode(af)) + list(a.encode()):
        c.mux(p)
    c.close()
    with pytest.raises(VideoError, match=r"no video stream \(audio only\)"):
        probe(audio_only)
    truncated = tmp_path / "cut.mp4"
    _write(tmp_path / "whole.mp4", _frames(10), [i / 24 for i in range(10)])
    truncated.write_bytes((tmp_path / "whole.mp4").read_bytes()[:300])
    with pytest.raises(VideoError):
        with VideoReader(truncated) as r:
            list(r.frames())


def test_zero_frames(tmp_path):
    empty = tmp_path / "empty.avi"  # a header with a 64x48 stream and no frames
    c = av.open(str(empty), "w", format="avi")
    s = c.add_stream("mpeg4", rate=24)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    c.start_encoding()
    c.close()
    assert probe(empty).frames == 0
    with pytest.raises(VideoError, match="no decodable video frames"):
        with VideoReader(empty) as r:
            list(r.frames())


def test_an_error_leaves_no_file(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(out, (64, 48), Fraction(24)) as w:
            w.write(_frames(1)[0], 0.0)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_output_size_rounds_to_multiples_of_8():
    assert output_size(1920, 1080, 854) == (856, 480)
    assert output_size(3840, 2160, None) == (3840, 2160)
    assert output_size(101, 37, None) == (104, 40)
    assert output_size(10, 4000, 256)[0] == 8  # never zero
