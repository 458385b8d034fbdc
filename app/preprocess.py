"""Turn what the browser or an API client sends into validated model inputs.

Every function here raises :class:`InputError` with a one-line message meant for the user; the UI turns it
into a ``gr.Error`` toast. Nothing here imports Gradio or torch, so it is cheap to test.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.config import (
    INPUT_LIMIT_FLAG,
    MAX_INPUT_MEGAPIXELS,
    MB,
    ORIGINAL_SIZE,
    VIDEO_FRAMES_FLAG,
    VIDEO_MB_FLAG,
    VIDEO_SECONDS_FLAG,
    VIDEO_SIDE_FLAG,
    AppConfig,
)
from app.limits import output_size, parse_seed, parse_size
from models.common.formats import too_large, too_small
from models.landscape.classes import (
    LABEL_MODES,
    ids_from_label_image,
    ids_to_color,
    mask_to_ids,
)

ImageSource = str | Path | bytes | Image.Image | np.ndarray
# models.adain.infer.STROKE_RANGE, repeated so that validating imports no torch (tests/app/test_preprocess.py checks)
STROKE_RANGE = (0.25, 4.0)


class InputError(ValueError):
    """A problem with one user input; the message is shown to the user verbatim."""


def raise_limit_advice(config: AppConfig) -> str | None:
    """How the server's operator raises the pixel limit, or None when it is already the most the flag allows."""
    if config.max_input_pixels >= MAX_INPUT_MEGAPIXELS * 1_000_000:
        return None
    return f"start the server with {INPUT_LIMIT_FLAG} to raise it (up to {MAX_INPUT_MEGAPIXELS})"


def _over_the_limit(first: str, config: AppConfig) -> str:
    """``first`` (what the user can do), then what the operator can do: "downscale it first, or start the ..."."""
    advice = raise_limit_advice(config)
    return f"{first}, or {advice}" if advice else f"{first} ({config.max_input_megapixels:g} MP is this server's top)"


def load_user_image(src: ImageSource | None, what: str, config: AppConfig) -> Image.Image:
    """Load an upload as RGB, naming the input (``what``) in any error.

    Delegates decoding to ``models.common.imageio.load_image`` (EXIF orientation, first GIF frame, CMYK, 16-bit,
    RGBA composited on white, grayscale). Images over ``config.max_input_pixels`` are refused, not
    downscaled: decoding them at all is the memory risk. Accepted images are downscaled later to the
    output size the user picked.
    """
    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.common.imageio import ImageLoadError, load_image

    if src is None or (isinstance(src, str) and not src.strip()):
        raise InputError(f"Please add a {what} image.")
    _check_image_file_size(src, what, config)
    try:
        return load_image(
            src, max_pixels=config.max_input_pixels, min_side=config.min_side, limit_flag=INPUT_LIMIT_FLAG
        )
    except ImageLoadError as exc:
        message = str(exc)
        if isinstance(src, (str, Path)):  # show the file name, not the server's temp path
            message = message.replace(f"'{src}'", f"'{Path(src).name}'")
        # the loader's "raise the limit with FLAG" is command-line advice; a server is started with the flag
        message = message.replace(
            f"raise the limit with {INPUT_LIMIT_FLAG}", _over_the_limit("downscale it first", config)
        )
        raise InputError(f"{what.capitalize()} image: {message}") from None


def _mb(nbytes: int) -> str:
    """A file size in MB for a message: one decimal, or two significant digits for a small (test-sized) file."""
    mb = nbytes / MB
    return f"{mb:.1f}" if mb >= 0.1 else f"{mb:.2g}"


def _check_image_file_size(src: ImageSource, what: str, config: AppConfig) -> None:
    """The image upload limit: the server takes files up to the (larger) video limit, so images are held to theirs
    here."""
    if not isinstance(src, (str, Path)):
        return
    try:
        size = Path(src).stat().st_size
    except OSError:
        return  # the loader names the missing file
    if size > config.max_upload_mb * MB:
        advice = _over_the_limit("downscale or compress it first", config)
        raise InputError(
            f"{what.capitalize()} image: '{Path(src).name}' is {_mb(size)} MB, over this server's "
            f"limit of {config.max_upload_mb} MB for images: {advice}."
        )


def check_alpha(alpha: Any) -> float:
    """Style strength α must be a number in [0, 1]."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha (style strength) must be a number between 0 and 1, got {alpha!r}.") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"alpha (style strength) must be between 0 and 1, got {value:g}.")
    return value


def check_size(size: Any, config: AppConfig, allow_original: bool = False) -> int | None:
    """Output long side in pixels, guarded by ``config.max_size``.

    With ``allow_original`` (the style-transfer endpoints) ``ORIGINAL_SIZE`` (0, the UI's "original size") means the
    content's own size and gives None, as ``Stylizer.stylize(size=None)`` wants; SPADE keeps numeric sizes only.
    """
    if allow_original and _means_original(size):
        return None
    try:
        return parse_size(size, config.min_size, config.max_size)
    except ValueError as err:
        extra = f" (or {ORIGINAL_SIZE} for the content's original size)" if allow_original else ""
        raise InputError(f"{err}{extra}") from None


def _means_original(size: Any) -> bool:
    if isinstance(size, str) and size.strip().lower() in ("original", "original size"):
        return True
    if isinstance(size, bool):
        return False
    try:
        return float(size) == ORIGINAL_SIZE
    except (TypeError, ValueError):
        return False


def check_output_pixels(content_size: tuple[int, int], size: int | None, config: AppConfig) -> None:
    """Refuse an output over the server's pixel limit (the uploads' limit, ``config.max_input_pixels``): a large
    output size on a square image can be far more pixels than any upload may have."""
    w, h = output_size(*content_size, size)
    if w * h > config.max_input_pixels:
        advice = _over_the_limit("choose a smaller output size", config)
        raise InputError(
            f"The output would be {w}x{h} ({w * h / 1e6:.1f} MP), over this server's limit of "
            f"{config.max_input_megapixels:g} MP: {advice}."
        )


def check_stroke(stroke: Any) -> float:
    """Stroke size (the scale of the style's patterns) must be a number in ``STROKE_RANGE``."""
    lo, hi = STROKE_RANGE
    try:
        value = float(stroke)
    except (TypeError, ValueError):
        raise InputError(f"stroke size must be a number between {lo:g} and {hi:g}, got {stroke!r}.") from None
    if math.isnan(value) or not lo <= value <= hi:
        raise InputError(f"stroke size must be between {lo:g} and {hi:g}, got {value:g}.")
    return value


def check_seed(seed: Any) -> int:
    try:
        return parse_seed(seed)
    except ValueError as err:
        raise InputError(str(err)) from None


def style_weights(styles: Sequence[Any], weights: Sequence[Any]) -> tuple[list[int], list[float]]:
    """Pick the provided style slots and normalise their interpolation weights to sum to 1.

    Returns the indices of the slots holding an image and their weights. Raises if no style is given,
    a weight is negative, or all weights of the given styles are zero.
    """
    used = [i for i, s in enumerate(styles) if s is not None]
    if not used:
        raise InputError("Please add a style image.")
    raw: list[float] = []
    for i in used:
        w = weights[i] if i < len(weights) and weights[i] is not None else 1.0
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise InputError(f"Weight of style {i + 1} must be a number, got {w!r}.") from None
        if math.isnan(w) or w < 0:
            raise InputError(f"Weight of style {i + 1} must be zero or positive, got {w:g}.")
        raw.append(w)
    total = sum(raw)
    if total <= 0:
        raise InputError("All style weights are zero: give at least one style a positive weight.")
    return used, [w / total for w in raw]


# --- ImageEditor values ---------------------------------------------------------------------------------
# Gradio 6 hands an ImageEditor callback {"background", "layers", "composite"}, each RGBA uint8 (H, W, 4) or
# None; an untouched editor gives {"background": None, "layers": [], "composite": None}.


def _as_rgba(array: Any) -> np.ndarray | None:
    if array is None:
        return None
    a = np.asarray(array)
    if a.ndim == 2:
        a = np.stack([a, a, a, np.full_like(a, 255)], axis=-1)
    elif a.ndim == 3 and a.shape[-1] == 3:
        a = np.concatenate([a, np.full(a.shape[:2] + (1,), 255, dtype=a.dtype)], axis=-1)
    if a.ndim != 3 or a.shape[-1] != 4:
        raise InputError(f"Canvas data has an unexpected shape {a.shape}; expected (H, W, 4).")
    return a.astype(np.uint8, copy=False)


def painted_mask(editor: dict | None, alpha_threshold: int = 128) -> np.ndarray | None:
    """Where the user painted strokes (the layers, not the background) as a bool ``(H, W)`` array.

    Returns None when nothing was painted. Strokes are anti-aliased, so faint edge pixels
    (alpha < ``alpha_threshold``) count as unpainted.
    """
    if not editor:
        return None
    mask = None
    for layer in editor.get("layers") or []:
        rgba = _as_rgba(layer)
        if rgba is None:
            continue
        hit = rgba[..., 3] >= alpha_threshold
        mask = hit if mask is None else (mask | hit if mask.shape == hit.shape else mask)
    if mask is None or not mask.any():
        return None
    return mask


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-resize a bool ``(H, W)`` mask to PIL ``size`` = (W, H)."""
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize(tuple(size), Image.Resampling.NEAREST)
    return np.asarray(img) >= 128


def editor_rgba(editor: dict | None) -> np.ndarray | None:
    """The editor's composite (background + strokes) as RGBA uint8, or None for an untouched editor."""
    if not editor:
        return None
    return _as_rgba(editor.get("composite"))


def labels_from_rgba(rgba: np.ndarray, config: AppConfig, fill_class: int | None = None) -> np.ndarray:
    """Colour-coded RGBA label drawing -> ``(H, W)`` int64 class ids via ``models.landscape.classes.mask_to_ids``.

    Anti-aliased colours are snapped to the nearest class colour; pixels with alpha below the threshold are
    unpainted and get ``fill_class`` (or raise when it is None and nothing at all was painted).
    """
    if (small := too_small(rgba.shape[1], rgba.shape[0], config.min_side)) is not None:
        raise InputError(f"Label map: {small}.")
    try:  # a fully transparent map is refused by mask_to_ids unless fill_class is given (then: all fill_class)
        return mask_to_ids(rgba, alpha_threshold=config.alpha_threshold, background=fill_class)
    except ValueError as exc:
        raise InputError(f"Label map: {exc}") from None


def labels_from_editor(editor: dict | None, config: AppConfig, fill_class: int | None = None) -> np.ndarray:
    """The paint canvas's labels; an untouched or fully transparent canvas is refused even with a fill class
    (the fill dropdown always has a value, and an all-sky picture is not what an empty canvas asks for)."""
    rgba = editor_rgba(editor)
    if rgba is None or not (rgba[..., 3] >= config.alpha_threshold).any():
        raise InputError("The canvas is empty: paint some regions with the class brushes or load a preset layout.")
    return labels_from_rgba(rgba, config, fill_class)


def load_label_file(src: str | Path | bytes | None, config: AppConfig, subject: str = "Mask") -> np.ndarray:
    """Read a colour-coded label image (as written by ``normlab synthesize``'s docs) into RGBA uint8.

    Alpha is kept (transparent = unpainted); an animated file uses its first frame. A single-channel
    image whose values are all valid class ids is accepted too and returned as colours. ``subject`` starts the
    error messages ("Mask" for the API, "Label map 'name'" for a file dropped on the canvas).
    """

    if src is None or (isinstance(src, str) and not src.strip()):
        raise InputError("Please provide a mask: a colour-coded label image (see the class colours).")
    try:
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
    except OSError as exc:
        raise InputError(f"{subject} file could not be read: {exc.strerror or exc}.") from None
    if not data:
        raise InputError(f"{subject} file is empty (0 bytes).")
    try:
        img = Image.open(io.BytesIO(data))
        img.seek(0)
        w, h = img.size
        if (large := too_large(w, h, config.max_input_pixels)) is not None:
            raise InputError(f"{subject}: {large} — {_over_the_limit('downscale it first', config)}.")
        img = ImageOps.exif_transpose(img)
        img.load()
    except InputError:
        raise
    except UnidentifiedImageError:  # the same words as every other image input (models.common.imageio)
        raise InputError(f"{subject} image: not a readable image (unknown or corrupt format).") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{subject} image: corrupt or truncated image ({exc}).") from None
    if (small := too_small(*img.size, config.min_side)) is not None:
        raise InputError(f"{subject}: {small}.")
    if img.mode in LABEL_MODES:
        ids = ids_from_label_image(np.asarray(img))
        if ids is not None:  # an integer label map rather than a grey drawing
            rgb = ids_to_color(ids)
            return np.concatenate([rgb, np.full(ids.shape + (1,), 255, np.uint8)], axis=-1)
        img = img.convert("L") if img.mode != "L" else img
    return np.asarray(img.convert("RGBA"))


# --- video ------------------------------------------------------------------------------------------------
STABILIZE_MODES = ("flow", "stats", "both", "none")  # as `normlab stylize-video --stabilize`
# flow blending: 0.46x the frame-by-frame flicker (style +8 %) over the 11 eval clips; tracked statistics: 1.00x
# (docs/video.md)
DEFAULT_STABILIZE = "flow"


def _refuse_video(name: str, what: str, limit: str, first: str, flag: str) -> InputError:
    """The one wording of a clip over a server limit: what it is, the limit, what the user and the operator can do."""
    return InputError(
        f"Video '{name}' {what}, over this server's limit of {limit}: {first}, or start the server "
        f"with {flag} to raise it."
    )


def _video_problem(exc: Exception, path: Path) -> str:
    """The reader's message with the file's name for the server's temp path; FFmpeg's "invalid data" reason only
    repeats the path, so it is said in words."""
    return str(exc).replace(f"('{path}')", "(corrupt, or not a video file)").replace(str(path), path.name)


def load_user_video(src: str | Path | None, config: AppConfig) -> Any:
    """Probe an uploaded clip and hold it to the server's video limits; returns its ``VideoInfo``.

    Refused before any frame is decoded: a file over ``max_video_mb``, a corrupt or audio-only file, a side under
    ``min_side``, a long side over ``max_video_side``, a duration over ``max_video_seconds``, more frames than
    ``max_video_frames`` (as far as the header tells; the stylizer stops at the frame limit too).
    """
    from models.common.video import VideoError, probe

    if src is None or (isinstance(src, str) and not src.strip()):
        raise InputError("Please add a video clip.")
    path = Path(src)
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError(f"Video '{path.name}' could not be read (no such file).") from None
    if size == 0:
        raise InputError(f"Video '{path.name}' is empty (0 bytes).")
    if size > config.max_video_mb * MB:
        raise _refuse_video(
            path.name, f"is {_mb(size)} MB", f"{config.max_video_mb:g} MB", "trim or compress it first", VIDEO_MB_FLAG
        )
    try:
        info = probe(path)
    except VideoError as exc:  # corrupt, audio only, not a video at all
        raise InputError(f"Video: {_video_problem(exc, path)}.") from None
    if (small := too_small(info.width, info.height, config.min_side)) is not None:
        raise InputError(f"Video '{path.name}': {small}.")
    if info.long_side > config.max_video_side:
        raise _refuse_video(
            path.name,
            f"is {info.width}x{info.height}",
            f"{config.max_video_side} px on the long side",
            "downscale it first",
            VIDEO_SIDE_FLAG,
        )
    seconds = info.duration or (info.frames / float(info.fps) if info.frames and info.fps else 0.0)
    if seconds > config.max_video_seconds:
        raise _refuse_video(
            path.name,
            f"is {seconds:.1f} s long",
            f"{config.max_video_seconds:g} s",
            "trim it first",
            VIDEO_SECONDS_FLAG,
        )
    if info.frames > config.max_video_frames:
        raise _refuse_video(
            path.name,
            f"has {info.frames} frames",
            f"{config.max_video_frames} frames",
            "trim it or lower its frame rate first",
            VIDEO_FRAMES_FLAG,
        )
    return info


def check_video_size(size: Any, config: AppConfig) -> int:
    """A video's output long side: a whole number of pixels up to ``config.video_size_limit``."""
    try:
        return parse_size(size, config.min_size, config.video_size_limit)
    except ValueError as err:
        raise InputError(f"video {err}") from None


def check_stabilize(value: Any) -> str:
    """Flicker reduction: one of ``STABILIZE_MODES`` ('' or None: ``DEFAULT_STABILIZE``)."""
    if value in (None, ""):
        return DEFAULT_STABILIZE
    if value not in STABILIZE_MODES:
        modes = ", ".join(repr(m) for m in STABILIZE_MODES)
        raise InputError(f"stabilize must be one of {modes}, got {value!r}.")
    return value


def webcam_frame(frame: Any, side: int, min_side: int) -> np.ndarray:
    """A webcam frame as RGB uint8 ``(H, W, 3)`` whose sides are multiples of 8 (what the video stylizer takes), with
    the long side at most ``side``: larger frames are downscaled, smaller ones only rounded."""
    from models.common.video import output_size as frame_size

    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4) or a.size == 0:
        raise InputError(f"The webcam frame has an unexpected shape {a.shape}; expected (H, W, 3).")
    h, w = a.shape[:2]
    if (small := too_small(w, h, min_side)) is not None:
        raise InputError(f"Webcam frame: {small}.")
    size = frame_size(w, h, min(side, max(w, h)))
    if min(size) < min_side:  # a sliver: its short side vanishes when scaled
        raise InputError(
            f"Webcam frame: {w}x{h} is too narrow (scaled to {size[0]}x{size[1]}, a side is under {min_side} px)."
        )
    img = Image.fromarray(a[..., :3].astype(np.uint8, copy=False))
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    return np.array(img)  # a writable copy: the stylizer hands it to torch as it is
