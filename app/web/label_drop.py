"""A label file dropped on (or chosen for) the paint canvas goes through the server, like every other image input.

Gradio's ImageEditor decodes an upload in the page and draws it, but with a starting value (our transparent
canvas) it never sends the drawn file back: the server keeps seeing the blank canvas ("The canvas is empty"), and a
file the browser cannot decode is dropped without a word. So a small page script (:func:`guard_js`, loaded through
``launch(head=...)``) takes drops and file choices on ``#label-editor`` before the editor sees them and hands the
file to a hidden upload input (``#label-file-input``). Its ``upload`` event reads the file on the server with the
API's own loader (:func:`app.preprocess.load_label_file`: undecodable, too small and too large files refused in
the words every input uses) and answers with the new canvas value, the label map fitted into the canvas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.config import AppConfig
from app.preprocess import load_label_file

__all__ = ["EDITOR_ID", "FILE_INPUT_ID", "guard_js", "label_file_canvas"]

EDITOR_ID = "label-editor"
FILE_INPUT_ID = "label-file-input"  # the hidden upload input the page script hands files to

_GUARD = """<script>
(() => {
  const BOX = '#%(editor)s', SINK = '#%(sink)s button.upload-container';
  const hand_on = (file) => {  // dropped on the hidden upload input: Gradio uploads it and fires its upload event
    const target = document.querySelector(SINK);
    if (!target || !file) return;
    const dt = new DataTransfer();  // a real drop's DataTransfer is unreadable once its event is over: a new one
    dt.items.add(file);
    for (const type of ['dragenter', 'dragover', 'drop'])
      target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
  };
  const mine = (ev) => ev.target instanceof Element && ev.target.closest(BOX);
  document.addEventListener('drop', (ev) => {
    const files = ev.dataTransfer ? ev.dataTransfer.files : [];
    if (!mine(ev) || files.length === 0) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    hand_on(files[0]);
  }, true);
  document.addEventListener('change', (ev) => {
    const input = ev.target;
    if (!mine(ev) || !(input instanceof HTMLInputElement) || input.type !== 'file' || !input.files.length) return;
    ev.stopImmediatePropagation();
    const file = input.files[0];
    input.value = '';  // the same file chosen again is a change again
    hand_on(file);
  }, true);
})();
</script>"""


def guard_js() -> str:
    """The page script for ``launch(head=...)``."""
    return _GUARD % {"editor": EDITOR_ID, "sink": FILE_INPUT_ID}


def label_file_canvas(path: str | Path, config: AppConfig) -> dict:
    """A label file -> the canvas value ``{"background", "layers", "composite"}``: the map scaled to fit the square
    canvas (nearest neighbour: class colours stay exact), centred, the margins transparent (unpainted).

    Raises :class:`app.preprocess.InputError` naming the file for an unusable one.
    """
    name = Path(str(path)).name
    rgba = load_label_file(path, config, subject=f"Label map '{name}'")
    side = config.canvas_size
    h, w = rgba.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    fitted = np.asarray(Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.NEAREST))
    canvas = np.zeros((side, side, 4), np.uint8)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = fitted
    return {"background": canvas, "layers": [], "composite": canvas}
