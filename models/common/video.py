"""Streaming video in and out with PyAV: frames are decoded and encoded one at a time, never all in memory.

Why PyAV: its wheels bundle FFmpeg (libx264 and AAC included), so `pip install` is enough on any machine, with no
system FFmpeg and no subprocess pipes to keep in sync; it exposes packets, so audio is copied without re-encoding,
and timestamps, so variable-frame-rate clips keep their timing.

Output is always MP4 (H.264, yuv420p, CRF 18) written to a temporary file beside the target and renamed into place
when complete: an error or Ctrl-C leaves no half-written file at the output path.
"""

from __future__ import annotations

import dataclasses
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from models.common.files import publish, temp_beside

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif")
#: audio codecs MP4 takes as they are; anything else is re-encoded to AAC
_COPY_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3"}


class VideoError(ValueError):
    """A clip that cannot be read or written; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a clip holds. ``fps`` is the average rate (frames may still be timed unevenly: timestamps are kept);
    ``frames`` is the container's count or an estimate from the duration (0 when neither is known)."""

    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    codec: str
    has_audio: bool

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)


def _open(path: str | os.PathLike):
    import av

    p = Path(path)
    if not p.is_file():
        raise VideoError(f"video '{p}': no such file")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as err:
        raise VideoError(f"'{p.name}' is not a readable video ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    text = str(err).split(":")[-1].strip() or type(err).__name__
    return text[:120]


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a clip's header; :class:`VideoError` for a missing, corrupt or audio-only file."""
    with _open(path) as c:
        if not c.streams.video:
            kind = "audio only" if c.streams.audio else "no streams"
            raise VideoError(f"'{Path(path).name}' has no video stream ({kind})")
        s = c.streams.video[0]
        ctx = s.codec_context
        if ctx is None:  # FFmpeg has no decoder for it: PyAV gives the stream no codec context at all
            raise VideoError(
                f"'{Path(path).name}': unsupported video codec (FFmpeg has no decoder for it); "
                "convert it to H.264 first"
            )
        if not ctx.width or not ctx.height:
            raise VideoError(
                f"'{Path(path).name}': the video stream has no frame size (unsupported codec {ctx.name!r}?)"
            )
        fps = s.average_rate or s.guessed_rate or Fraction(25)
        duration = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        frames = s.frames or (round(duration * float(fps)) if duration else 0)
        return VideoInfo(ctx.width, ctx.height, Fraction(fps), int(frames), duration, ctx.name, bool(c.streams.audio))


def output_size(width: int, height: int, long_side: int | None, multiple: int = 8) -> tuple[int, int]:
    """Frame size for a long side (None: the clip's), each side rounded to a multiple of ``multiple`` (H.264 wants
    even sides, the network multiples of 8); the aspect ratio moves by under one multiple.

    >>> output_size(1920, 1080, 854), output_size(853, 480, None), output_size(480, 854, 256)
    ((856, 480), (856, 480), (144, 256))
    """
    scale = 1.0 if long_side is None else long_side / max(width, height)
    return (
        max(multiple, multiple * round(width * scale / multiple)),
        max(multiple, multiple * round(height * scale / multiple)),
    )


@dataclasses.dataclass
class Frame:
    """One decoded frame: ``rgb`` ``(H, W, 3)`` uint8 at the requested size, its time in seconds and index."""

    rgb: np.ndarray
    time: float
    index: int


class VideoReader:
    """Iterate over a clip's frames (RGB uint8, resized by FFmpeg's scaler) and, for the writer, its audio packets.

    ``with VideoReader(path, size=(w, h)) as r: for item in r.items(): ...`` yields :class:`Frame` for video and
    PyAV packets for audio, in file order (so audio is remuxed as it streams).
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int] | None = None) -> None:
        self.info = probe(path)
        self.path = Path(path)
        self.size = size or (self.info.width, self.info.height)
        self._c = _open(path)
        self.video = self._c.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = self._c.streams.audio[0] if self._c.streams.audio else None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._c.close()

    def _convert(self, frame, index: int) -> Frame:
        w, h = self.size
        rgb = frame.to_ndarray(width=w, height=h, format="rgb24")
        t = float(frame.time) if frame.time is not None else index / float(self.info.fps)
        return Frame(rgb, t, index)

    def items(self) -> Iterator:
        import av

        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        index = 0
        try:
            for packet in self._c.demux(*streams):
                if packet.stream is self.video:
                    for frame in packet.decode():
                        yield self._convert(frame, index)
                        index += 1
                elif packet.dts is not None:
                    yield packet
        except av.error.FFmpegError as err:
            raise VideoError(f"'{self.path.name}': decoding stopped at frame {index} ({_reason(err)})") from None
        if index == 0:
            raise VideoError(f"'{self.path.name}' has no decodable video frames")

    def frames(self) -> Iterator[Frame]:
        """Video frames only."""
        for item in self.items():
            if isinstance(item, Frame):
                yield item


class VideoWriter:
    """H.264 MP4 writer that keeps frame times and copies (or, if MP4 cannot hold it, re-encodes to AAC) the audio.

    Use as a context manager: the file appears at ``path`` only when the block ends without an error.
    """

    TIME_BASE = Fraction(1, 90000)

    def __init__(
        self,
        path: str | os.PathLike,
        size: tuple[int, int],
        fps: Fraction,
        audio_template=None,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        import av

        self.path = Path(path)
        self._tmp = temp_beside(self.path, ".part.mp4")
        self._c = av.open(str(self._tmp), "w", format="mp4")
        self._v = self._c.add_stream("libx264", rate=Fraction(fps).limit_denominator(100000))
        self._v.width, self._v.height = size
        self._v.pix_fmt = "yuv420p"
        self._v.time_base = self.TIME_BASE
        self._v.codec_context.time_base = self.TIME_BASE  # else frame times are rounded to 1/fps
        # no B-frames: decode order = display order, so any (variable) frame timing gives monotonic dts
        self._v.options = {"crf": str(crf), "preset": preset, "bf": "0"}
        self._a = self._a_in = None
        self._resampler = None
        self._last_pts = -1
        if audio_template is not None:
            self._a_in = audio_template
            if audio_template.codec_context.name in _COPY_AUDIO:
                self._a = self._c.add_stream_from_template(audio_template)
            else:
                rate = audio_template.codec_context.sample_rate or 48000
                self._a = self._c.add_stream("aac", rate=rate)
                self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self._c.close()
            if exc_type is None:
                publish(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)

    def write(self, rgb: np.ndarray, time: float) -> None:
        """Encode one ``(H, W, 3)`` uint8 frame shown at ``time`` seconds."""
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = max(round(time / self.TIME_BASE), self._last_pts + 1)  # strictly increasing, even for bad stamps
        frame.pts, frame.time_base = pts, self.TIME_BASE
        self._last_pts = pts
        for p in self._v.encode(frame):
            self._c.mux(p)

    def write_audio(self, packet) -> None:
        """Copy (or re-encode) one audio packet from the reader."""
        if self._a is None:
            return
        if self._resampler is None:
            packet.stream = self._a
            self._c.mux(packet)
            return
        for frame in packet.decode():
            for rf in self._resampler.resample(frame):
                for p in self._a.encode(rf):
                    self._c.mux(p)

    def _flush(self) -> None:
        for p in self._v.encode():
            self._c.mux(p)
        if self._resampler is not None:
            for p in self._a.encode():
                self._c.mux(p)


def check_fps(info: VideoInfo) -> None:
    if not info.fps or not math.isfinite(float(info.fps)) or float(info.fps) <= 0:
        raise VideoError(f"the clip reports no usable frame rate ({info.fps})")
