"""Temporal stabilization for video AdaIN: streaming content statistics and flow-guided blending.

Frame-by-frame AdaIN flickers for two reasons, and each has its own remedy here:

1. **The statistics move.** AdaIN normalizes every frame with that frame's channel means and variances, so a small
   change anywhere (a hand entering, noise, compression) shifts the normalized features everywhere.
   :class:`StatsTracker` instead follows the relu4_1 moments over frames with exponential forgetting
   (:class:`norms.stats.RunningMoments`: ``ema(old, new, decay)``, exact weighted moments), and starts afresh at a
   scene cut, detected as a jump between the frame's statistics and the tracked ones.
2. **The texture is re-invented.** The decoder paints strokes from the local features, which change with noise and
   sub-pixel motion. :class:`FlowBlender` warps the previous *stylized* frame along the optical flow of the *input*
   frames (DIS, :mod:`models.common.flow`) and blends it into the pixels the forward-backward check trusts; occluded
   and newly visible pixels take the new frame as it is. Averaging two frames' strokes softens them (and the
   recursive bilinear warp blurs a little more each frame), so by default the blend keeps its detail: a bicubic
   warp, and the blend's high-pass (image minus a Gaussian blur) rescaled per colour channel to the energy the new
   frame's own high-pass has (:func:`restore_detail`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from models.common.flow import FlowEstimator, flow_pair, opencv, warp
from norms.stats import Moments, RunningMoments, finalize


def stats_distance(a: Moments, b: Moments, eps: float = 1e-5) -> float:
    """How far apart two sets of per-channel moments are: the relative change of the vector of channel means plus
    that of the vector of channel standard deviations (``(C,)`` or ``(1, C)`` each). Between a frame and the tracked
    statistics of its shot: 0.04-0.16 on the generated clips (pans, zooms, a brightness ramp, a moving object); across
    a cut: 0.97-2.2 (docs/video.md)."""
    ma, sa = finalize(a, eps)
    mb, sb = finalize(b, eps)
    dm = float((ma - mb).norm() / mb.norm().clamp_min(eps))
    ds = float((sa - sb).norm() / sb.norm().clamp_min(eps))
    return dm + ds


class StatsTracker:
    """Per-channel content statistics of a stream of frames, with scene-cut resets.

    Args:
        num_features: channels C of the features tracked.
        decay: the past's weight per frame in [0, 1): 0 is frame-by-frame AdaIN; 0.9 averages about 10 frames.
        cut_threshold: a frame whose statistics are farther than this (:func:`stats_distance`) from the tracked ones
            starts a new scene (``inf``: never).
    """

    def __init__(self, num_features: int, decay: float = 0.9, cut_threshold: float = 0.4) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"statistics decay must be in [0, 1), got {decay}")
        if not cut_threshold > 0:
            raise ValueError(f"cut threshold must be > 0, got {cut_threshold}")
        self.running = RunningMoments(num_features, decay)
        self.cut_threshold = float(cut_threshold)
        self.last_distance = 0.0
        self.cuts = 0

    def reset(self) -> None:
        self.running.reset_state()

    def update(self, frame: Moments) -> tuple[Moments, bool]:
        """Fold in one frame's moments ``(C,)``; returns the statistics to normalize it with ``(1, C)`` and whether
        the frame starts a new scene (the first frame does)."""
        cut = not self.running.started
        if not cut:
            self.last_distance = stats_distance(frame, self.running.value)
            if self.last_distance > self.cut_threshold:
                self.running.reset_state()
                self.cuts += 1
                cut = True
        state = self.running.update(frame)
        return Moments(*(t[None] for t in state)), cut


def restore_detail(
    mixed: np.ndarray, reference: np.ndarray, where: np.ndarray, sigma: float = 2.0, max_gain: float = 2.0
) -> np.ndarray:
    """Give ``mixed``'s fine detail the strength of ``reference``'s: split both into a Gaussian blur (``sigma`` px)
    and the high-pass rest, and scale ``mixed``'s high-pass per channel by ``std(reference hp) / std(mixed hp)``
    over the pixels ``where`` (``(H, W)`` bool), clipped to ``[1, max_gain]`` (never softer than the blend, never a
    wild boost on a flat picture). ``mixed``/``reference`` ``(H, W, 3)`` float32 in 0-255; returns float32.

    Why: averaging two frames' differently placed strokes lowers their contrast by up to ``sqrt(s^2 + (1-s)^2)``
    (0.72 for the weight 0.6), which raises the style loss; measured on three 256 px clips this halves the style
    ratio's increase for about 15 % more warping error (docs/video.md)."""
    cv2 = opencv()
    blur_m = cv2.GaussianBlur(mixed, (0, 0), sigma)
    if where.sum() < 64:  # too few trusted pixels for a stable estimate
        return mixed
    high_m = mixed - blur_m
    high_r = reference - cv2.GaussianBlur(reference, (0, 0), sigma)
    gain = high_r[where].std(axis=0) / np.maximum(high_m[where].std(axis=0), 1e-3)
    return blur_m + np.clip(gain, 1.0, max_gain).astype(np.float32) * high_m


class FlowBlender:
    """Blend the previous stylized frame, warped by the input frames' optical flow, into the new one.

    ``out = where(trusted, strength * warp(prev_out) + (1 - strength) * new, new)``, applied recursively (the
    previous output is itself blended), so a static region settles and a moving one carries its strokes along.
    With ``detail`` (the default) the warp is bicubic and the blend's high-pass is brought back to the new frame's
    strength (:func:`restore_detail`).

    Args:
        strength: weight of the warped previous frame in [0, 1).
        preset: DIS preset (``fast``: about 5 ms per flow at 480p here).
        detail: keep the strokes' contrast (see above); ``False`` is the plain average.
    """

    def __init__(self, strength: float = 0.6, preset: str = "fast", detail: bool = True) -> None:
        if not 0.0 <= strength < 1.0 or math.isnan(strength):
            raise ValueError(f"flow blend strength must be in [0, 1), got {strength}")
        self.strength = float(strength)
        self.detail = bool(detail)
        self.flow = FlowEstimator(preset)
        self._prev_in: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self.trusted_share = 0.0

    def reset(self) -> None:
        self._prev_in = self._prev_out = None

    def __call__(self, frame_in: np.ndarray, frame_out: np.ndarray) -> np.ndarray:
        """``frame_in`` the input frame, ``frame_out`` its stylization, both ``(H, W, 3)`` uint8; returns the
        blended output ``(H, W, 3)`` uint8 (the first frame after a reset as it is)."""
        out = frame_out
        if self._prev_in is not None and self._prev_in.shape == frame_in.shape and self.strength > 0:
            backward, trusted = flow_pair(self.flow, frame_in, self._prev_in)
            self.trusted_share = float(trusted.mean())
            carried = warp(self._prev_out, backward, cubic=self.detail).astype(np.float32)
            new = frame_out.astype(np.float32)
            mixed = self.strength * carried + (1.0 - self.strength) * new
            if self.detail:
                mixed = restore_detail(mixed, new, trusted)
            mixed = np.clip(np.rint(mixed), 0, 255)
            out = np.where(trusted[..., None], mixed, frame_out).astype(np.uint8)
        self._prev_in, self._prev_out = frame_in, out
        return out


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().div_(255)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8."""
    return x.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
