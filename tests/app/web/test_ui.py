"""app.web.ui: the layout offers what the issue asks for (built without launching)."""

from __future__ import annotations

import gradio as gr
import pytest

from app.config import DEFAULT_ASSETS_DIR, AppConfig
from app.web.ui import _examples, launch_kwargs


def _by_id(demo: gr.Blocks) -> dict[str, gr.components.Component]:
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def test_brush_palette_is_exactly_the_class_colours_with_a_named_legend(demo):
    from models.landscape.classes import CLASSES

    editor = _by_id(demo)["label-editor"]
    want = ["#%02x%02x%02x" % c.color for c in CLASSES]
    assert editor.brush.colors == want and editor.brush.color_mode == "fixed"
    legend = next(b for b in demo.blocks.values() if isinstance(b, gr.HTML) and "class-legend" in str(b.value))
    assert all(c.name in legend.value for c in CLASSES)


def test_outputs_are_png_with_download(demo):
    ids = _by_id(demo)
    for key in ("stylize-output", "synthesize-output"):
        assert ids[key].format == "png" and "download" in ids[key].buttons
    for key in ("stylize-compare", "synthesize-compare"):
        assert ids[key].format == "png"


def test_content_accepts_webcam_and_clipboard(demo):
    assert set(_by_id(demo)["content-input"].sources) == {"upload", "webcam", "clipboard"}


def test_normalizer_dropdowns_list_the_checkpoints(demo, engine):
    ids = _by_id(demo)
    assert [c[1] for c in ids["adain-norm"].choices] == engine.caches["adain"].norms()
    assert [c[1] for c in ids["spade-norm"].choices] == engine.caches["spade"].norms()
    assert ids["adain-norm"].value == engine.caches["adain"].default()


def test_output_size_is_guarded(demo, app_config):
    sizes = [c[1] for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and "Output size" in str(b.label)
             for c in b.choices]
    assert sizes and max(sizes) <= app_config.max_size


def test_example_pairs_exist_and_every_asset_file_is_licensed():
    pairs = _examples(AppConfig())
    assert len(pairs) >= 3
    licences = (DEFAULT_ASSETS_DIR / "README.md").read_text()
    for path in sorted((DEFAULT_ASSETS_DIR / "examples").glob("*.jpg")):
        assert f"`examples/{path.name}`" in licences, f"{path.name} has no licence entry in assets/README.md"
        assert path.stat().st_size <= 300_000


def test_launch_settings_stay_offline_and_bounded(app_config):
    kw = launch_kwargs(app_config)
    assert kw["ssr_mode"] is False and kw["max_file_size"] == "50mb"
    assert not any(isinstance(f, gr.themes.GoogleFont) for f in kw["theme"]._font)  # no web-font download


def test_canvas_decoding_errors_become_specific_messages(demo):
    from gradio.data_classes import FileData

    editor = _by_id(demo)["label-editor"]
    bogus = editor.data_model(background=FileData(path="/nonexistent/upload.png"), layers=[], composite=None)
    with pytest.raises(gr.Error, match=r"Label map: the uploaded file is not a readable image"):
        editor.preprocess(bogus)


def test_uploads_and_results_are_deleted_after_the_configured_retention():
    from app.web.ui import build_demo

    assert AppConfig().delete_cache == (1800, 3600)  # default: 60 minutes, swept every 30
    assert AppConfig(cache_minutes=0).delete_cache == (5, 10)
    config = AppConfig(cache_minutes=2, canvas_size=64, default_size=128)
    assert build_demo(config).delete_cache == (60, 120)
