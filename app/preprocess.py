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

from app.config import INPUT_LIMIT_FLAG, MAX_INPUT_MEGAPIXELS, ORIGINAL_SIZE, AppConfig
from app.limits import output_size, parse_seed, parse_size
from models.common.formats import too_small
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
    try:
        return load_image(src, max_pixels=config.max_input_pixels, min_side=config.min_side,
                          limit_flag=INPUT_LIMIT_FLAG)
    except ImageLoadError as exc:
        message = str(exc)
        if isinstance(src, (str, Path)):  # show the file name, not the server's temp path
            message = message.replace(f"'{src}'", f"'{Path(src).name}'")
        # the loader's "raise the limit with FLAG" is command-line advice; a server is started with the flag
        message = message.replace(f"raise the limit with {INPUT_LIMIT_FLAG}",
                                  _over_the_limit("downscale it first", config))
        raise InputError(f"{what.capitalize()} image: {message}") from None


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
        raise InputError(f"The output would be {w}x{h} ({w * h / 1e6:.1f} MP), over this server's limit of "
                         f"{config.max_input_megapixels:g} MP: {advice}.")


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


def load_label_file(src: str | Path | bytes | None, config: AppConfig) -> np.ndarray:
    """Read a colour-coded label image (as written by ``normlab synthesize``'s docs) into RGBA uint8.

    Alpha is kept (transparent = unpainted); an animated file uses its first frame. A single-channel
    image whose values are all valid class ids is accepted too and returned as colours.
    """

    if src is None or (isinstance(src, str) and not src.strip()):
        raise InputError("Please provide a mask: a colour-coded label image (see the class colours).")
    try:
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
    except OSError as exc:
        raise InputError(f"Mask file could not be read: {exc.strerror or exc}.") from None
    if not data:
        raise InputError("Mask file is empty (0 bytes).")
    try:
        img = Image.open(io.BytesIO(data))
        img.seek(0)
        w, h = img.size
        if w * h > config.max_input_pixels:
            raise InputError(f"Mask is {w}x{h} = {w * h / 1e6:.1f} MP; the limit is {config.max_input_megapixels:g} "
                             f"MP: {_over_the_limit('downscale it first', config)}.")
        img = ImageOps.exif_transpose(img)
        img.load()
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"Mask is not a readable image file ({type(exc).__name__}).") from None
    if (small := too_small(*img.size, config.min_side)) is not None:
        raise InputError(f"Mask: {small}.")
    if img.mode in LABEL_MODES:
        ids = ids_from_label_image(np.asarray(img))
        if ids is not None:  # an integer label map rather than a grey drawing
            rgb = ids_to_color(ids)
            return np.concatenate([rgb, np.full(ids.shape + (1,), 255, np.uint8)], axis=-1)
        img = img.convert("L") if img.mode != "L" else img
    return np.asarray(img.convert("RGBA"))
