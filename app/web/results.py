"""Results that say how they were made: a download name built from the inputs, and the settings inside the PNG.

Gradio names every image download ``image.png`` and encodes whatever PIL image a handler returns. Handlers mark
their result with :func:`remember` (a file stem and the settings); :func:`named_output` wraps an output component so
that the PNG it serves is saved under that stem — ``chelsea_starry-night_instance_a0.8.png`` — with the settings in
its ``normlab`` text chunk (``models/common/settings.py``; ``normlab stylize --from-png`` re-runs them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import processing_utils
from PIL import Image

from models.common.settings import SETTINGS_KEY

__all__ = [
    "HISTORY_LIMIT",
    "NAME_KEY",
    "add_to_history",
    "history_gallery",
    "input_stem",
    "named_output",
    "remember",
    "result_stem",
]

HISTORY_LIMIT = 24  # results kept per browser session (newest first); older ones drop off

NAME_KEY = "normlab_download_name"  # img.info key read by named_output; not written into the file


def input_stem(src: Any, fallback: str) -> str:
    """A short file-name part for an input: its uploaded file's name (Gradio keeps it), else ``fallback``."""
    if isinstance(src, (str, Path)) and str(src).strip():
        return _clean(Path(str(src)).stem) or fallback
    if isinstance(src, dict) and src.get("path"):
        return _clean(Path(str(src.get("orig_name") or src["path"])).stem) or fallback
    return fallback


def _clean(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower()[:limit]


def result_stem(*parts: Any) -> str:
    """``a_b_c`` from the non-empty parts, each reduced to letters, digits and dashes."""
    return "_".join(p for p in (_clean(str(x)) for x in parts if x not in (None, "")) if p) or "normlab"


def remember(img: Image.Image, stem: str, settings: dict[str, Any]) -> Image.Image:
    """Mark ``img`` with its download name and settings (kept in ``img.info``)."""
    img.info[SETTINGS_KEY] = json.dumps(settings, sort_keys=True, default=str)
    img.info[NAME_KEY] = stem
    return img


def named_output(component: gr.Image) -> gr.Image:
    """Serve a remembered result as ``<stem>.png`` with its settings chunk (other values as Gradio would)."""
    original = component.postprocess

    def postprocess(value: Any) -> Any:
        if isinstance(value, Image.Image) and value.info.get(NAME_KEY):
            stem = value.info.pop(NAME_KEY)
            path = processing_utils.save_pil_to_cache(value, cache_dir=component.GRADIO_CACHE, name=stem, format="png")
            return original(path)
        return original(value)

    component.postprocess = postprocess  # type: ignore[method-assign]
    return component


def add_to_history(image: Any, caption: str | None, history: list | None) -> tuple[list, list]:
    """Put a new result first in the session's history: ``(gallery value, new history)``; nothing to add (no image,
    e.g. a refused request) leaves it as it was."""
    history = list(history or [])
    if image is not None:
        history = [(image, caption or "")] + history[: HISTORY_LIMIT - 1]
    return history, history


def history_gallery(elem_id: str) -> gr.Gallery:
    """The "this session's results" gallery (newest first), downloadable one by one."""
    return gr.Gallery(
        label=f"This session's results (newest first, up to {HISTORY_LIMIT})",
        format="png",
        columns=6,
        height="auto",
        object_fit="contain",
        elem_id=elem_id,
        buttons=["download", "fullscreen"],
    )
