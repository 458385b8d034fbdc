"""Video style transfer: a :class:`~models.adain.infer.Stylizer` run over a stream of frames, stabilized.

``VideoStylizer.frame(rgb)`` stylizes one frame with the stream's state (tracked statistics, previous output);
``stylize_video(src, styles, dst)`` streams a clip through it (decode -> stylize -> encode, audio copied).
The stabilization (``models/adain/temporal.py``) and its measured effect are described in docs/video.md.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from models.adain.infer import (
    PRESERVE_COLOR_MODES,
    Stylizer,
    _luminance_style,
    _recombine_luminance,
    match_color_covariance,
    pixel_stats,
    stylize_features,
    style_side,
)
from models.adain.temporal import FlowBlender, StatsTracker, to_tensor, to_uint8
from models.common.imageio import pil_to_tensor, resize_long_side
from models.common.video import VideoError, VideoReader, VideoWriter, output_size, probe
from norms.stats import moments

#: most frames a clip may have (10 minutes at 60 frames/s); the CLI's --max-frames raises it
MAX_FRAMES = 36_000
#: largest output long side: beyond 1920 px a frame takes over 10 s on a 2-core CPU
MAX_VIDEO_SIDE = 1920


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    """How a clip is stylized.

    Attributes:
        size: output long side in px (None: the clip's own, at most MAX_VIDEO_SIDE); sides rounded to multiples of 8.
        alpha: content-style trade-off in [0, 1].
        preserve_color: None, "covariance" or "luminance" (the style is recoloured once per scene).
        stroke: stroke size (see :func:`~models.adain.infer.style_side`).
        stats_decay: weight of the past in the tracked content statistics (0, the default: each frame's own
            statistics; on the generated clip set tracking them changed the warping error by +1 %, docs/video.md).
        cut_threshold: statistics jump that starts a new scene (resets the statistics and the flow blend).
        flow: blend the previous output along the optical flow into trusted pixels.
        flow_strength: weight of the warped previous output in [0, 1).
        flow_detail: keep the strokes' contrast in the blend (:func:`models.adain.temporal.restore_detail`).
    """

    size: int | None = 640
    alpha: float = 1.0
    preserve_color: str | None = None
    stroke: float = 1.0
    stats_decay: float = 0.0
    cut_threshold: float = 0.4
    flow: bool = True
    flow_strength: float = 0.6
    flow_detail: bool = True

    def __post_init__(self) -> None:
        if self.size is not None and not 16 <= self.size <= MAX_VIDEO_SIDE:
            raise ValueError(f"video size must be 16 to {MAX_VIDEO_SIDE} px (long side), got {self.size}")
        if not 0.0 <= self.alpha <= 1.0 or math.isnan(self.alpha):
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.preserve_color not in PRESERVE_COLOR_MODES:
            raise ValueError(
                f"preserve_color must be one of None, 'covariance', 'luminance'; got {self.preserve_color!r}"
            )
        style_side(512, self.stroke)
        if not 0.0 <= self.stats_decay < 1.0:
            raise ValueError(f"statistics decay must be in [0, 1), got {self.stats_decay}")
        if not 0.0 <= self.flow_strength < 1.0:
            raise ValueError(f"flow strength must be in [0, 1), got {self.flow_strength}")

    @classmethod
    def frame_by_frame(cls, **kw) -> "VideoConfig":
        """Plain per-frame AdaIN (the baseline the stabilization is measured against)."""
        return cls(stats_decay=0.0, cut_threshold=math.inf, flow=False, **kw)


Progress = Callable[[int, int, float], None]  # (frames done, frames expected or 0, seconds so far)


class VideoStylizer:
    """Stylize a stream of frames of one size with fixed styles; keeps the stream's state between calls.

    Args:
        stylizer: a loaded model.
        styles: style images (PIL), blended with ``weights`` (default equal).
        config: :class:`VideoConfig`.
    """

    def __init__(
        self,
        stylizer: Stylizer,
        styles: Sequence[Image.Image],
        weights: Sequence[float] | None = None,
        config: VideoConfig | None = None,
    ) -> None:
        self.st = stylizer
        self.cfg = config or VideoConfig()
        self.styles = Stylizer._validate(
            Image.new("RGB", (8, 8)),
            styles,
            weights,
            self.cfg.alpha,
            self.cfg.preserve_color,
            None,
            None,
            self.cfg.stroke,
        )
        if weights is not None:
            total = float(sum(weights))
            weights = [float(w) / total for w in weights]
        self.weights = weights
        c = stylizer.net.adain.num_features
        self.tracker = StatsTracker(c, self.cfg.stats_decay, self.cfg.cut_threshold)
        self.blender = FlowBlender(self.cfg.flow_strength, detail=self.cfg.flow_detail) if self.cfg.flow else None
        self._style_stats = None
        self._frame_size: tuple[int, int] | None = None
        self.frames = 0
        self.last_cut = False  # whether the last frame started a scene

    def reset(self) -> None:
        """Forget the stream (a new clip)."""
        self.tracker.reset()
        if self.blender is not None:
            self.blender.reset()
        self._style_stats = None
        self._frame_size = None

    def _styles_for(self, x: torch.Tensor) -> list:
        """The styles' relu4_1 moments for frames like ``x`` ``(3, H, W)``: recoloured to this frame when colours are
        preserved (done once per scene, so the colours do not flicker)."""
        side = style_side(max(x.shape[1:]), self.cfg.stroke)
        s_list = [pil_to_tensor(resize_long_side(s.convert("RGB"), side)) for s in self.styles]
        if self.cfg.preserve_color == "covariance":
            pix = pixel_stats(x)
            s_list = [match_color_covariance(s, pix) for s in s_list]
        elif self.cfg.preserve_color == "luminance":
            pix = pixel_stats(x)
            s_list = [_luminance_style(s, *pix.luminance) for s in s_list]
        return [self.st.style_moments(s) for s in s_list]

    def encode(self, rgb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(features (1, C, H/8, W/8), frame (3, H, W) in [0, 1], its YCbCr or None)`` of a frame."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"a frame must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if rgb.shape[0] % 8 or rgb.shape[1] % 8:
            raise ValueError(f"frame sides must be multiples of 8, got {rgb.shape[1]}x{rgb.shape[0]}")
        x = to_tensor(rgb)
        net_in, ycc = x, None
        if self.cfg.preserve_color == "luminance":
            from kornia.color import rgb_to_ycbcr

            ycc = rgb_to_ycbcr(x[None])[0]
            net_in = ycc[0:1].expand(3, -1, -1).contiguous()
        return self.st.encode_content(net_in), x, ycc

    def render(self, feat: torch.Tensor, stats, ycc: torch.Tensor | None = None) -> np.ndarray:
        """Decode ``feat`` normalized with the content statistics ``stats`` ``(1, C)`` -> ``(H, W, 3)`` uint8."""
        with self.st._autocast():
            t = stylize_features(
                self.st.net, feat.float(), self._style_stats, self.weights, self.cfg.alpha, None, stats
            )
            if self.st.channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            out = self.st.net.decode(t)
        out = out.float()[0].clamp(0, 1).cpu()
        if ycc is not None:
            out = _recombine_luminance(out, ycc)
        return to_uint8(out)

    def track(self, feat: torch.Tensor, x: torch.Tensor):
        """Fold the frame's moments into the tracked statistics; at a scene cut (and the first frame) reset the flow
        blend and (re)compute the styles' statistics. Returns the statistics to normalize with ``(1, C)``."""
        stats, cut = self.tracker.update(moments(feat, dims=[0, 2, 3]))
        self.last_cut = cut
        if cut or self._style_stats is None:
            self._style_stats = self._styles_for(x)
            if self.blender is not None:
                self.blender.reset()
        return stats

    @torch.inference_mode()
    def frame(self, rgb: np.ndarray) -> np.ndarray:
        """Stylize one frame ``(H, W, 3)`` uint8 (H, W multiples of 8) -> ``(H, W, 3)`` uint8."""
        if self._frame_size not in (None, rgb.shape[:2]):
            self.reset()  # a new stream of another size (e.g. the webcam's resolution changed)
        feat, x, ycc = self.encode(rgb)
        self._frame_size = rgb.shape[:2]
        result = self.render(feat, self.track(feat, x), ycc)
        if self.blender is not None:
            result = self.blender(rgb, result)
        self.frames += 1
        return result


def stylize_video(
    stylizer: Stylizer,
    src: str | os.PathLike,
    styles: Sequence[Image.Image],
    dst: str | os.PathLike,
    weights: Sequence[float] | None = None,
    config: VideoConfig | None = None,
    progress: Progress | None = None,
    max_frames: int = MAX_FRAMES,
) -> dict:
    """Stylize the clip ``src`` into the MP4 ``dst`` (H.264, the input's timing, audio copied). Returns a summary:
    ``{"frames", "seconds", "fps", "size", "cuts"}``. :class:`VideoError` for unreadable or too long clips; the
    output appears only when complete."""
    cfg = config or VideoConfig()
    info = probe(src)
    if info.frames > max_frames:
        raise VideoError(
            f"'{Path(src).name}' has about {info.frames} frames; the limit is {max_frames} (--max-frames raises it)"
        )
    long_side = cfg.size if cfg.size is not None else min(info.long_side, MAX_VIDEO_SIDE)
    size = output_size(info.width, info.height, long_side)
    vs = VideoStylizer(stylizer, styles, weights, cfg)
    t0 = time.perf_counter()
    n = 0
    with VideoReader(src, size) as reader, VideoWriter(dst, size, info.fps, reader.audio) as writer:
        for item in reader.items():
            if not hasattr(item, "rgb"):
                writer.write_audio(item)
                continue
            n += 1
            if n > max_frames:
                raise VideoError(f"'{Path(src).name}' has more than {max_frames} frames (--max-frames raises it)")
            writer.write(vs.frame(item.rgb), item.time)
            if progress is not None:
                progress(n, info.frames, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    return {
        "frames": n,
        "seconds": seconds,
        "fps": n / seconds if seconds else 0.0,
        "size": size,
        "cuts": vs.tracker.cuts,
    }
