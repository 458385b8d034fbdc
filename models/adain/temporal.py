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
   and newly visible pixels take the new frame as it is.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from models.common.flow import FlowEstimator, flow_pair, warp
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


class FlowBlender:
    """Blend the previous stylized frame, warped by the input frames' optical flow, into the new one.

    ``out = where(trusted, strength * warp(prev_out) + (1 - strength) * new, new)``, applied recursively (the
    previous output is itself blended), so a static region settles and a moving one carries its strokes along.

    Args:
        strength: weight of the warped previous frame in [0, 1).
        preset: DIS preset (``fast``: about 5 ms per flow at 480p here).
    """

    def __init__(self, strength: float = 0.6, preset: str = "fast") -> None:
        if not 0.0 <= strength < 1.0 or math.isnan(strength):
            raise ValueError(f"flow blend strength must be in [0, 1), got {strength}")
        self.strength = float(strength)
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
            carried = warp(self._prev_out, backward).astype(np.float32)
            mixed = self.strength * carried + (1.0 - self.strength) * frame_out.astype(np.float32)
            out = np.where(trusted[..., None], np.rint(mixed), frame_out).astype(np.uint8)
        self._prev_in, self._prev_out = frame_in, out
        return out


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().div_(255)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8."""
    return x.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
