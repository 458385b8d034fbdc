"""`python -m models.adain.clips --out data/clips`: the generated clip set for measuring video stabilization.

Real photos moved with known motion — pans, zooms, rotations, a cut-out object crossing a background, a brightness
ramp, a still camera, a scene cut — at 480p and 720p, 48 frames at 24 frames/s each, with camera-like noise
(Gaussian, sigma 2 levels) and H.264 compression, so that frame-by-frame stylization flickers as it does on footage.

Photos: ``--photos`` (a folder), by default the Debian package ``lomiri-wallpapers-16.04`` (CC BY / CC BY-SA, large
photos; fetched with ``apt-get download`` into ``--debs``, never installed). No Debian or PyPI package we checked
ships real footage under a free licence (see docs/video.md), so all clips are generated.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from models.common.cli import HelpFormatter
from models.common.video import VideoWriter

FPS = 24
FRAMES = 48
NOISE = 2.0


@dataclasses.dataclass(frozen=True)
class Motion:
    """Camera pose at frame ``t`` (0..1 over the clip): centre ``(x, y)`` as fractions of the photo, ``zoom`` (frame
    width / photo width) and ``angle`` in degrees; ``gain`` multiplies the brightness."""

    centre: Callable[[float], tuple[float, float]]
    zoom: Callable[[float], float]
    angle: Callable[[float], float] = lambda t: 0.0
    gain: Callable[[float], float] = lambda t: 1.0


def _lerp(a: float, b: float) -> Callable[[float], float]:
    return lambda t: a + (b - a) * t


MOTIONS: dict[str, Motion] = {
    "pan": Motion(lambda t: (0.35 + 0.3 * t, 0.5), lambda t: 0.6),
    "zoom": Motion(lambda t: (0.5, 0.5), _lerp(0.7, 0.45)),
    "rotate": Motion(lambda t: (0.5, 0.5), lambda t: 0.5, _lerp(-6.0, 6.0)),
    "still": Motion(lambda t: (0.5, 0.5), lambda t: 0.6),
    "brightness": Motion(lambda t: (0.45 + 0.1 * t, 0.5), lambda t: 0.6, gain=_lerp(0.6, 1.25)),
    "pan-zoom": Motion(lambda t: (0.4 + 0.2 * t, 0.45 + 0.1 * t), _lerp(0.55, 0.7)),
}


def render(photo: np.ndarray, motion: Motion, t: float, size: tuple[int, int]) -> np.ndarray:
    """One frame ``(h, w, 3)`` float32 of ``photo`` ``(H, W, 3)`` seen with the camera ``motion`` at time ``t``."""
    import cv2

    w, h = size
    ph, pw = photo.shape[:2]
    cx, cy = motion.centre(t)
    scale = motion.zoom(t) * pw / w  # photo pixels per frame pixel
    a = math.radians(motion.angle(t))
    # frame pixel p -> photo point: centre + R(a) * scale * (p - frame centre)
    m = np.array([[scale * math.cos(a), -scale * math.sin(a), 0.0], [scale * math.sin(a), scale * math.cos(a), 0.0]])
    m[:, 2] = np.array([cx * pw, cy * ph]) - m[:, :2] @ np.array([w / 2, h / 2])
    out = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    return out * motion.gain(t)


def _object(photo: np.ndarray, frame: np.ndarray, t: float) -> np.ndarray:
    """Paste an elliptical cut-out of ``photo`` crossing ``frame`` left to right (soft edge)."""
    import cv2

    h, w = frame.shape[:2]
    ow, oh = w // 4, h // 3
    patch = cv2.resize(photo, (ow, oh), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:oh, 0:ow]
    alpha = np.clip(1.5 - 1.5 * (((xx - ow / 2) / (ow / 2)) ** 2 + ((yy - oh / 2) / (oh / 2)) ** 2), 0, 1)[..., None]
    x0 = -ow + (w + ow) * t
    y0 = h * 0.45 + h * 0.1 * math.sin(2 * math.pi * t)
    m = np.float32([[1, 0, x0], [0, 1, y0]])
    layer = cv2.warpAffine(patch, m, (w, h))
    mask = cv2.warpAffine(alpha.astype(np.float32), m, (w, h))[..., None]
    return frame * (1 - mask) + layer * mask


def clip_frames(
    photos: list[np.ndarray], kind: str, size: tuple[int, int], frames: int = FRAMES, seed: int = 0
) -> list[np.ndarray]:
    """The frames ``(h, w, 3)`` uint8 of one generated clip. ``kind``: a :data:`MOTIONS` name, ``object`` (a
    cut-out of the second photo crossing the first, still camera) or ``cut`` (a pan on the first photo, then a zoom on
    the second)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        if kind == "object":
            f = _object(photos[1 % len(photos)], render(photos[0], MOTIONS["still"], t, size), t)
        elif kind == "cut":
            first = i < frames // 2
            f = render(photos[0] if first else photos[1 % len(photos)], MOTIONS["pan" if first else "zoom"], t, size)
        else:
            f = render(photos[0], MOTIONS[kind], t, size)
        f = f + rng.normal(0.0, NOISE, f.shape)
        out.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    return out


#: the clip set: (name, kind, frame size, photo indices)
CLIP_SET: tuple[tuple[str, str, tuple[int, int], tuple[int, ...]], ...] = (
    ("pan_480p", "pan", (856, 480), (0,)),
    ("zoom_480p", "zoom", (856, 480), (1,)),
    ("rotate_480p", "rotate", (856, 480), (2,)),
    ("object_480p", "object", (856, 480), (3, 4)),
    ("brightness_480p", "brightness", (856, 480), (5,)),
    ("still_480p", "still", (856, 480), (6,)),
    ("cut_480p", "cut", (856, 480), (7, 0)),
    ("pan_720p", "pan", (1280, 720), (4,)),
    ("pan-zoom_720p", "pan-zoom", (1280, 720), (2,)),
    ("cut_720p", "cut", (1280, 720), (1, 5)),
)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = FPS) -> None:
    with VideoWriter(path, (frames[0].shape[1], frames[0].shape[0]), Fraction(fps), crf=20) as w:
        for i, f in enumerate(frames):
            w.write(f, i / fps)


def load_photos(folder: Path | None, debs: Path, n: int = 8) -> list[tuple[str, np.ndarray]]:
    """``n`` photos (name, ``(H, W, 3)`` float32) from ``folder`` or the lomiri wallpapers package."""
    if folder is None:
        from models.adain.collect import Fetcher

        tree = Fetcher(debs).tree("lomiri-wallpapers-16.04")
        if tree is None:
            raise SystemExit("error: could not fetch lomiri-wallpapers-16.04 (apt-get download); give --photos")
        files = tree.glob("usr/share/backgrounds/*.jpg")
    else:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files = [f for f in files if min(Image.open(f).size) >= 1000][:n]
    if len(files) < 2:
        raise SystemExit(f"error: need at least 2 photos of >= 1000 px, found {len(files)}")
    out = []
    for f in files:
        img = Image.open(f).convert("RGB")
        img.thumbnail((2600, 2600), Image.Resampling.LANCZOS)  # a 720p frame at zoom 0.45 still has detail
        out.append((f.name, np.asarray(img, dtype=np.float32)))
    return out


def build(out: Path, photos: list[np.ndarray], frames: int = FRAMES, log=print) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, kind, size, idx) in enumerate(CLIP_SET):
        path = out / f"{name}.mp4"
        if not path.exists():
            write_clip(path, clip_frames([photos[i % len(photos)] for i in idx], kind, size, frames, seed=k))
            log(f"  {path}")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m models.adain.clips", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("data/clips"))
    p.add_argument("--photos", type=Path, default=None, help="folder of photos (default: lomiri wallpapers)")
    p.add_argument("--debs", type=Path, default=Path("data/debs"), help="where downloaded .deb files are kept")
    p.add_argument("--frames", type=int, default=FRAMES)
    args = p.parse_args(argv)
    photos = [a for _, a in load_photos(args.photos, args.debs)]
    build(args.out, photos, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
