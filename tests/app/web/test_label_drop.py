"""app.web.label_drop: a dropped label file becomes the canvas value (fitted, centred, exact colours), or a
message naming the file; the page script hands drops on the canvas to the hidden upload input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.config import AppConfig
from app.preprocess import InputError
from app.web.label_drop import EDITOR_ID, FILE_INPUT_ID, guard_js, label_file_canvas
from models.landscape.classes import ids_to_color


def test_a_label_file_is_fitted_into_the_canvas_with_exact_colours(tmp_path):
    ids = np.zeros((40, 80), np.int64)
    ids[:, 40:] = 5
    path = tmp_path / "layout.png"
    Image.fromarray(np.ascontiguousarray(ids_to_color(ids)[..., :3]).astype(np.uint8)).save(path)
    value = label_file_canvas(path, AppConfig(canvas_size=160))
    canvas = value["composite"]
    assert canvas.shape == (160, 160, 4) and value["background"] is canvas and value["layers"] == []
    # 80x40 -> 160x80, centred: rows 40..119 painted, the margins transparent (the unpainted class)
    assert (canvas[:40, :, 3] == 0).all() and (canvas[120:, :, 3] == 0).all() and (canvas[40:120, :, 3] == 255).all()
    colours = {tuple(c) for c in canvas[40:120, :, :3].reshape(-1, 3)}
    assert colours == {tuple(ids_to_color(np.array([[k]]))[0, 0, :3]) for k in (0, 5)}  # nearest: no blends
    assert tuple(canvas[80, 10, :3]) != tuple(canvas[80, 150, :3])  # left class 0, right class 5


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.jpg", b"not a picture" * 10, "image: not a readable image"),
        ("tiny.png", None, "4x4 is too small"),
        ("huge.png", None, "is too large"),
    ],
)
def test_a_bad_label_file_is_refused_naming_it(tmp_path, name, data, words):
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    else:
        Image.new("RGB", (4, 4) if name == "tiny.png" else (1200, 1000), (30, 90, 200)).save(path)
    with pytest.raises(InputError, match=f"^Label map '{name}'.*{words}"):
        label_file_canvas(path, AppConfig(max_input_pixels=1_000_000))


def test_the_page_script_targets_the_canvas_and_the_hidden_input():
    js = guard_js()
    assert js.startswith("<script>") and js.rstrip().endswith("</script>")
    assert f"'#{EDITOR_ID}'" in js and f"'#{FILE_INPUT_ID} button.upload-container'" in js
