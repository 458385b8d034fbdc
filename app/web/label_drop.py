"""The label canvas checks a dropped (or chosen) file in the browser before drawing it.

Gradio's ImageEditor decodes an upload in the page and sends the server only the canvas, rescaled to the fixed
canvas size: a file the browser cannot decode is dropped silently, and a 4x4 or a 60 MP label file is quietly
stretched or squeezed. So a small script in the page (:data:`GUARD_JS`, loaded through ``launch(head=...)``)
catches drops and file choices on ``#label-editor`` before the editor sees them, reads the image's size from
its header (the browser's own decoder; a bad file fails there), and

- hands a good file on to the editor (a new drop event with the same ``File``: a real drop's ``DataTransfer`` is
  unreadable once its event is over), or
- reports a bad one through a hidden textbox whose ``input`` event reaches :func:`report_message` on the server,
  which raises the ``gr.Error`` every other image input shows, in the same words.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.config import AppConfig
from app.preprocess import InputError, too_large_message
from models.common.formats import too_small

__all__ = ["REPORT_ID", "guard_js", "report_message"]

REPORT_ID = "label-drop-report"  # the hidden textbox the page writes its findings into
EDITOR_ID = "label-editor"

_GUARD = """<script>
(() => {
  const BOX = '#%(editor)s', SINK = '#%(report)s textarea', MIN = %(min_side)d, MAX = %(max_pixels)d;
  const report = (r) => {
    const t = document.querySelector(SINK);
    if (!t) return;
    t.value = JSON.stringify({...r, at: Date.now()});  // a new value each time: the same file twice reports twice
    t.dispatchEvent(new Event('input', {bubbles: true}));
  };
  const probe = (file) => new Promise((resolve) => {
    const url = URL.createObjectURL(file), img = new Image();
    const done = (r) => { URL.revokeObjectURL(url); resolve(r); };
    img.onload = () => done({name: file.name, ok: true, width: img.naturalWidth, height: img.naturalHeight});
    img.onerror = () => done({name: file.name, ok: false});
    img.src = url;  // the header gives the size; the pixels are not decoded until drawn
  });
  const usable = (r) => r.ok && Math.min(r.width, r.height) >= MIN && r.width * r.height <= MAX;
  const mine = (ev) => ev.target instanceof Element && ev.target.closest(BOX) && !ev.normlabChecked;
  document.addEventListener('drop', async (ev) => {
    const files = ev.dataTransfer ? [...ev.dataTransfer.files] : [];
    if (!mine(ev) || files.length === 0) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    const target = ev.target, r = await probe(files[0]);
    if (!usable(r)) return report(r);
    const dt = new DataTransfer();
    dt.items.add(files[0]);
    const again = new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt});
    again.normlabChecked = true;
    target.dispatchEvent(again);
  }, true);
  document.addEventListener('change', async (ev) => {
    const input = ev.target;
    if (!mine(ev) || !(input instanceof HTMLInputElement) || input.type !== 'file' || !input.files.length) return;
    ev.stopImmediatePropagation();
    const r = await probe(input.files[0]);
    if (!usable(r)) { input.value = ''; return report(r); }
    const again = new Event('change', {bubbles: true});
    again.normlabChecked = true;
    input.dispatchEvent(again);
  }, true);
})();
</script>"""


def guard_js(config: AppConfig) -> str:
    """The page script for ``launch(head=...)``, with this server's limits."""
    return _GUARD % {
        "editor": EDITOR_ID,
        "report": REPORT_ID,
        "min_side": config.min_side,
        "max_pixels": config.max_input_pixels,
    }


def report_message(raw: Any, config: AppConfig) -> str | None:
    """The message for the page's report ``{"name", "ok", "width", "height"}`` (JSON), or None when the file is fine.

    The server decides, with its own limits and words; the page's report is only read, never trusted beyond that.
    """
    try:
        r = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        r = None
    if not isinstance(r, dict):
        return None
    name = Path(str(r.get("name") or "file")).name[:120]
    if not r.get("ok"):
        return f"Label map: '{name}': not a readable image (unknown or corrupt format)."
    try:
        width, height = int(r["width"]), int(r["height"])
    except (KeyError, TypeError, ValueError):
        return None
    if (small := too_small(width, height, config.min_side)) is not None:
        return f"Label map: '{name}': {small}."
    if width * height > config.max_input_pixels:
        return f"Label map: {too_large_message(name, width, height, config)}."
    return None


def check_report(raw: Any, config: AppConfig) -> None:
    """The textbox's ``input`` callback: the message as :class:`InputError` (the handler makes it a gr.Error)."""
    message = report_message(raw, config)
    if message:
        raise InputError(message)
