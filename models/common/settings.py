"""Results that remember how they were made: settings in a PNG's text chunks, and re-running from them.

Every PNG that ``normlab stylize`` / ``normlab synthesize`` and the web app write carries a ``normlab`` text chunk:
JSON with the command (``stylize`` or ``synthesize``), the command line that reproduces it (``argv``, input paths
as given), and the settings spelled out (style, alpha, normalizer, checkpoint, seed, size, ...). Image viewers show
it (``exiftool``, ``identify -verbose``); ``normlab stylize --from-png R.png -o again.png`` re-runs it, with any
flag given on the command line overriding the stored one.

Example:
    >>> info = png_info({"command": "synthesize", "argv": ["synthesize", "mask.png", "--seed", "3"], "seed": 3})
    >>> import io; from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=info)
    >>> read_png_settings(io.BytesIO(buf.getvalue()))["seed"]
    3
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from PIL import Image, PngImagePlugin

__all__ = ["SETTINGS_KEY", "attach", "png_info", "read_png_settings", "rerun_argv"]

SETTINGS_KEY = "normlab"


def png_info(settings: dict[str, Any]) -> PngImagePlugin.PngInfo:
    """A ``PngInfo`` holding ``settings`` as JSON under :data:`SETTINGS_KEY` (pass as ``save(..., pnginfo=)``)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(SETTINGS_KEY, json.dumps(settings, sort_keys=True, default=str))
    return info


def attach(img: Image.Image, settings: dict[str, Any]) -> Image.Image:
    """Put ``settings`` into ``img.info`` so that Gradio's PNG encoding (which copies text info) keeps them."""
    img.info[SETTINGS_KEY] = json.dumps(settings, sort_keys=True, default=str)
    return img


def read_png_settings(src: str | os.PathLike | IO[bytes]) -> dict[str, Any]:
    """The settings a normlab PNG carries; ValueError (one line) when the file has none or is not a PNG."""
    name = str(src) if isinstance(src, (str, os.PathLike)) else "the image"
    try:
        with Image.open(src) as img:
            img.load()
            text = img.info.get(SETTINGS_KEY) or getattr(img, "text", {}).get(SETTINGS_KEY)
    except FileNotFoundError:
        raise ValueError(f"{name} does not exist") from None
    except OSError as exc:
        raise ValueError(f"{name} is not a readable image ({exc})") from None
    if not text:
        raise ValueError(f"{name} has no normlab settings (only PNGs written by normlab carry them)")
    try:
        settings = json.loads(text)
    except ValueError:
        raise ValueError(f"{name}: its normlab settings are not valid JSON") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("argv"), list):
        raise ValueError(f"{name}: its normlab settings have no command line to re-run")
    return settings


def rerun_argv(command: str, png: str | os.PathLike, extra: list[str]) -> list[str]:
    """The argv to re-run ``png``'s settings as ``command`` with ``extra`` (the user's flags, e.g. ``-o``) last,
    so they override the stored ones (argparse keeps the last value); the stored ``-o`` is dropped."""
    settings = read_png_settings(png)
    if settings.get("command") != command:
        raise ValueError(f"{png} was made by `normlab {settings.get('command')}`, not `normlab {command}`")
    stored = [str(a) for a in settings["argv"]]
    if stored and stored[0] == command:
        stored = stored[1:]
    out, skip = [], False
    for arg in stored:
        if skip:
            skip = False
            continue
        if arg in ("-o", "--output"):
            skip = True
            continue
        if arg.startswith("--output="):
            continue
        out.append(arg)
    from models.common.formats import IMAGE_EXTENSIONS

    files = {*IMAGE_EXTENSIONS, ".safetensors", ".mp4", ".webm", ".mov", ".gif"}
    missing = [p for p in out if not p.startswith("-") and Path(p).suffix.lower() in files and not Path(p).exists()]
    if missing:
        raise ValueError(
            f"{png} names input files that are not here: {', '.join(missing)} (run from the folder it "
            "was made in, or give them again)"
        )
    return [command, *out, *extra]
