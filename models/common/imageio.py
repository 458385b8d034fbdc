"""Reading and writing images robustly: one loader for the CLI, the app and the datasets.

Whatever comes in (path, bytes, PIL image, numpy array; JPEG/PNG/WebP/BMP/GIF/TIFF; grayscale, palette, RGBA,
CMYK, 16-bit; EXIF-rotated; animated) leaves as an upright 8-bit RGB ``PIL.Image`` — or as an
:class:`ImageLoadError` whose one-line message says what was wrong.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from models.common.formats import too_large, too_small

ImageSource = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]

DEFAULT_MAX_PIXELS = 40_000_000  # ~6300x6300: larger inputs are refused before decoding (decompression bombs)
DEFAULT_MIN_SIDE = 16


class ImageLoadError(ValueError):
    """An input image that cannot be used; the message is meant for the user as is."""


def _describe(src: ImageSource) -> str:
    if isinstance(src, (str, os.PathLike)):
        return f"'{os.fspath(src)}'"
    return {bytes: "uploaded data", np.ndarray: "array"}.get(type(src), "image")


def _too_large(name: str, w: int, h: int, max_pixels: int, limit_flag: str | None) -> ImageLoadError:
    advice = f"raise the limit with {limit_flag}" if limit_flag else "downscale it first"
    return ImageLoadError(f"{name}: {too_large(w, h, max_pixels)} — {advice}")


def open_image(src: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, limit_flag: str | None = None) -> Image.Image:
    """Decode ``src`` as it is (any mode, alpha kept, no EXIF rotation); :class:`ImageLoadError` if unusable.

    For inputs whose raw pixels matter, such as colour-coded masks; most callers want :func:`load_image`.
    ``limit_flag`` names the option that raises ``max_pixels`` in the too-large message.
    """
    name = _describe(src)
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, np.ndarray):
        return _from_array(src)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.exists():
            raise ImageLoadError(f"{name}: no such file")
        if path.is_dir():
            raise ImageLoadError(f"{name}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: file is empty")
        fp: io.IOBase | Path = path
    elif isinstance(src, (bytes, bytearray)):
        if not src:
            raise ImageLoadError("uploaded data is empty")
        fp = io.BytesIO(src)
    else:
        raise ImageLoadError(f"cannot read an image from a {type(src).__name__}")
    try:
        with warnings.catch_warnings():
            # PIL warns (and above 2x the limit errors) on huge images; we apply our own limit instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                img = Image.open(fp)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
        w, h = img.size
        if w * h > max_pixels:
            raise _too_large(name, w, h, max_pixels, limit_flag)
        img.seek(0)  # animated GIF/WebP/APNG: the first frame
        img.load()
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{name}: corrupt or truncated image ({exc})") from None
    return img


def _from_array(arr: np.ndarray) -> Image.Image:
    """HxW, HxWx1, HxWx3 or HxWx4 array of uint8/uint16/float in [0, 1] -> PIL image."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageLoadError(f"array of shape {arr.shape} is not an image (expected HxW, HxWx3 or HxWx4)")
    if arr.dtype == np.uint16:
        arr = (arr / 257.0).round().astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageLoadError("array contains NaN or infinite values")
        arr = (np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode -> 8-bit RGB; transparency is composited on white (what a viewer shows)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray((arr / peak * 255.0).round().clip(0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
        img = Image.fromarray(((arr - lo) / max(hi - lo, 1e-12) * 255).round().astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info or img.mode in ("LA", "PA", "La"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX ...


def load_image(
    src: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    limit_flag: str | None = None,
) -> Image.Image:
    """Load ``src`` as an upright 8-bit RGB image.

    Raises:
        ImageLoadError: missing/empty/corrupt file, unknown format, an image smaller than ``min_side`` on a side,
            or one with more than ``max_pixels`` pixels (refused, not downscaled: say so to the user).
    """
    img = open_image(src, max_pixels, limit_flag)
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block should not make an otherwise good image unusable
        pass
    w, h = img.size
    if w * h > max_pixels:
        raise _too_large(_describe(src), w, h, max_pixels, limit_flag)
    if (small := too_small(w, h, min_side)) is not None:
        raise ImageLoadError(f"{_describe(src)}: {small}")
    return _to_rgb(img)


def pil_to_uint8(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> ``(3, H, W)`` uint8 (a quarter of the memory of float, for preloaded datasets)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> ``(3, H, W)`` float32 in [0, 1]."""
    return pil_to_uint8(img).float().div_(255.0)


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` or ``(1, 3, H, W)`` float in [0, 1] (clamped) -> RGB PIL image."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"tensor_to_pil takes one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"tensor_to_pil expects (3, H, W), got {tuple(t.shape)}")
    arr = t.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def resize_long_side(img: Image.Image, size: int | None) -> Image.Image:
    """Resize so the longer side is ``size`` (keeping the aspect ratio); ``None`` keeps the image as is."""
    if size is None:
        return img
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    w, h = img.size
    scale = size / max(w, h)
    if scale == 1:
        return img
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(new, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)


def save_png(img: Image.Image | torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a PIL image or a ``(3, H, W)`` [0, 1] tensor as PNG (lossless), creating parent folders."""
    path = Path(path)
    if isinstance(img, torch.Tensor):
        img = tensor_to_pil(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
    return path
