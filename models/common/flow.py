"""Optical flow on input frames: DIS flow (OpenCV), forward-backward occlusion masks and backward warping.

Used twice for video: to carry the previous stylized frame forward (stabilization) and to measure temporal
consistency (the warping error of Lai et al., ECCV 2018). No learned flow weights are available offline, so the
flow is OpenCV's DIS (Kroeger et al., ECCV 2016), which runs at hundreds of frames/s at 480p on one core.

Conventions: frames are ``(H, W, 3)`` uint8 RGB or ``(H, W)`` uint8 grey; a flow is ``(H, W, 2)`` float32 holding,
for every pixel ``p`` of the *target* frame, the displacement ``(dx, dy)`` to where it is in the *source* frame, so
``warp(source, flow)[p] = source[p + flow[p]]``.
"""

from __future__ import annotations

import numpy as np

PRESETS = ("ultrafast", "fast", "medium")


def opencv():
    """OpenCV, imported on first use: only video stabilization needs it."""
    import cv2

    return cv2


def grey(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` uint8 luma (a grey frame is returned as is)."""
    if frame.ndim == 2:
        return frame
    return opencv().cvtColor(np.ascontiguousarray(frame), opencv().COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow between two frames. ``preset``: ``ultrafast``, ``fast`` (stabilization) or ``medium``
    (measurement: a different, finer setting than the method being measured uses)."""

    def __init__(self, preset: str = "fast") -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown flow preset {preset!r}; choose from {', '.join(PRESETS)}")
        cv2 = opencv()
        code = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[preset]
        self._dis = cv2.DISOpticalFlow_create(code)

    def __call__(self, target: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` from ``target`` to ``source`` (see the module docstring)."""
        return self._dis.calc(grey(target), grey(source), None)


def warp(image: np.ndarray, flow: np.ndarray, cubic: bool = False) -> np.ndarray:
    """Backward warp: ``out[p] = image[p + flow[p]]`` (bilinear, or bicubic with ``cubic``; outside the frame ->
    nearest border pixel). ``image`` ``(H, W, C)`` or ``(H, W)``, any dtype OpenCV remaps (uint8, float32)."""
    cv2 = opencv()
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        image,
        gx + flow[..., 0],
        gy + flow[..., 1],
        interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def consistency_mask(
    backward: np.ndarray,
    forward: np.ndarray,
    alpha: float = 0.01,
    beta: float = 0.5,
) -> np.ndarray:
    """Non-occluded pixels of the target frame, by the forward-backward check of Sundaram et al. (ECCV 2010), as
    used by Ruder et al. and Lai et al.: a pixel is trusted when following ``backward`` (target -> source) and then
    ``forward`` (source -> target) returns to it:
    ``|b + f(p + b)|² <= alpha (|b|² + |f(p + b)|²) + beta``. Pixels carried outside the frame are not trusted.

    Returns ``(H, W)`` bool.
    """
    h, w = backward.shape[:2]
    f_at = warp(forward, backward)
    round_trip = backward + f_at
    ok = (round_trip**2).sum(-1) <= alpha * ((backward**2).sum(-1) + (f_at**2).sum(-1)) + beta
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x, y = gx + backward[..., 0], gy + backward[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return ok & inside


def flow_pair(estimator: FlowEstimator, current: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(flow current -> previous, trusted mask (H, W))`` from the two input frames."""
    g_cur, g_prev = grey(current), grey(previous)
    backward = estimator(g_cur, g_prev)
    forward = estimator(g_prev, g_cur)
    return backward, consistency_mask(backward, forward)


def warping_error(out_cur: np.ndarray, out_prev: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
    """Lai et al.'s warping error of one frame pair, in /255: mean |O_t - W(O_{t-1})| over the trusted pixels and
    the channels. ``out_*`` ``(H, W, 3)`` uint8; ``flow``/``mask`` from :func:`flow_pair` on the *input* frames."""
    if not mask.any():
        return float("nan")
    diff = np.abs(out_cur.astype(np.float32) - warp(out_prev, flow).astype(np.float32))
    return float(diff[mask].mean())
