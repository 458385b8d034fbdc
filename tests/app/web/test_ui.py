"""app.web.ui: the layout offers what the issue asks for (built without launching)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from app.config import DEFAULT_ASSETS_DIR, AppConfig
from app.web.ui import _examples, launch_kwargs


def _by_id(demo: gr.Blocks) -> dict[str, gr.components.Component]:
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def test_class_picker_names_every_class_and_sets_a_single_fixed_brush(demo, engine, app_config):
    from app.web.handlers import Handlers
    from app.web.ui import CSS
    from models.landscape.classes import CLASSES

    ids = _by_id(demo)
    picker, editor = ids["class-picker"], ids["label-editor"]
    assert [c[0] for c in picker.choices] == [c.name for c in CLASSES]  # the names are the options
    first = "#%02x%02x%02x" % CLASSES[0].color
    assert editor.brush.colors == [first] and editor.brush.color_mode == "fixed"  # one colour: no palette popup
    for c in CLASSES:  # each option shows its colour as a swatch
        assert f'input[value="{c.name}"])::before {{background:#%02x%02x%02x}}' % c.color in CSS
    brush = Handlers(engine, app_config).brush("snow").brush
    assert brush.colors == ["#%02x%02x%02x" % CLASSES[[c.name for c in CLASSES].index("snow")].color]
    with pytest.raises(Exception, match="Unknown class 'lava'"):
        Handlers(engine, app_config).brush("lava")


def test_paint_tab_has_fill_live_preview_reload_and_style_galleries(demo, app_config):
    from app.web.ui import _style_examples

    ids = _by_id(demo)
    for key in ("fill-btn", "live-preview", "adain-norm-reload", "spade-norm-reload"):
        assert key in ids, key
    assert ids["live-preview"].value is True
    styles = _style_examples(app_config)
    assert len(styles) >= 3 and len({p for p, _ in styles}) == len(styles)
    for key in ("style-gallery", "spade-style-gallery"):
        assert [v["image"]["orig_name"] for v in ids[key].value] == [Path(p).name for p, _ in styles]
    from app.web.ui import DEBOUNCE_JS, SUPERSEDE_PREVIEW_JS

    deps = [d for d in demo.config["dependencies"] if d.get("js") and "__normlabPreview" in d["js"]]
    debounced = [d for d in deps if d["js"] == DEBOUNCE_JS]
    assert len(debounced) == 1 and debounced[0]["trigger_mode"] == "always_last"  # one debounced preview event
    # the Synthesize click supersedes a preview still in its debounce (its picture would land over the click's)
    (click,) = [d for d in deps if d["js"] == SUPERSEDE_PREVIEW_JS]
    assert [tuple(t) for t in click["targets"]] == [(ids["synthesize-btn"]._id, "click")]


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
    sizes = [
        c[1]
        for b in demo.blocks.values()
        if isinstance(b, gr.Dropdown) and "Output size" in str(b.label)
        for c in b.choices
    ]
    assert sizes and max(sizes) <= app_config.max_size


def test_style_transfer_offers_the_original_size_and_a_stroke_size_slider(demo, app_config):
    ids = _by_id(demo)
    size = ids["stylize-size"]
    assert size.choices[-1] == ("original size", 0)  # 0 travels to the handler: size=None, the content's size
    assert [c[1] for c in size.choices[:-1]] == app_config.size_choices and size.value == app_config.default_size
    stroke = ids["stroke-size"]
    assert (stroke.minimum, stroke.maximum, stroke.step, stroke.value, stroke.label) == (
        0.25,
        4,
        0.25,
        1.0,
        "Stroke size",
    )
    assert stroke.info.startswith(
        "scale of the style's brush strokes and patterns; 1 = style encoded at the output "
        "size up to 1024 px, larger = bigger strokes"
    )
    # both buttons get the stroke, right after the size (the handlers' signatures)
    for name in ("stylize_ui", "compare_stylize_ui"):
        fn = next(f for f in demo.fns.values() if f.api_name == name)
        inputs = [b._id for b in fn.inputs]
        assert inputs.index(stroke._id) == inputs.index(size._id) + 1, name


def test_the_paint_tab_offers_numeric_sizes_up_to_the_synthesizers_limit():
    from app.web.ui import build_demo

    demo = build_demo(AppConfig(canvas_size=64, default_size=128))  # the default max_size: 8192
    sizes = {
        b.elem_id: [c[1] for c in b.choices]
        for b in demo.blocks.values()
        if isinstance(b, gr.Dropdown) and "Output size" in str(b.label)
    }
    assert sizes["stylize-size"][-2:] == [8192, 0]
    (spade,) = [v for k, v in sizes.items() if k not in ("stylize-size", "video-size", "batch-size")]
    assert sizes["batch-size"][-1] == 8192
    assert spade[-1] == 4096 and 0 not in spade


def test_example_pairs_exist_and_every_asset_file_is_licensed():
    pairs = _examples(AppConfig())
    assert len(pairs) >= 3
    licences = (DEFAULT_ASSETS_DIR / "README.md").read_text()
    for path in sorted((DEFAULT_ASSETS_DIR / "examples").glob("*.jpg")):
        assert f"`examples/{path.name}`" in licences, f"{path.name} has no licence entry in assets/README.md"
        assert path.stat().st_size <= 300_000


def test_launch_settings_stay_offline_and_bounded(app_config):
    kw = launch_kwargs(app_config)
    # the server takes files up to the video limit (200 MB); images are held to their 50 MB by the handlers
    assert kw["ssr_mode"] is False and kw["max_file_size"] == "200mb" and app_config.max_upload_mb == 50
    assert not any(isinstance(f, gr.themes.GoogleFont) for f in kw["theme"]._font)  # no web-font download


def test_canvas_decoding_errors_become_specific_messages(demo):
    from gradio.data_classes import FileData

    editor = _by_id(demo)["label-editor"]
    bogus = editor.data_model(background=FileData(path="/nonexistent/upload.png"), layers=[], composite=None)
    with pytest.raises(gr.Error, match=r"Label map image: not a readable image"):
        editor.preprocess(bogus)


def test_uploads_and_results_are_deleted_after_the_configured_retention():
    from app.web.ui import build_demo

    assert AppConfig().delete_cache == (1800, 3600)  # default: 60 minutes, swept every 30
    assert AppConfig(cache_minutes=0).delete_cache == (5, 10)
    config = AppConfig(cache_minutes=2, canvas_size=64, default_size=128)
    assert build_demo(config).delete_cache == (60, 120)


def test_video_tab_offers_sizes_up_to_its_limit_stabilization_and_a_streaming_webcam(demo, app_config):
    from app.web.handlers import STABILIZE_CHOICES
    from app.preprocess import STABILIZE_MODES

    ids = _by_id(demo)
    size = ids["video-size"]  # the test config's max_size (512) caps the video sizes too
    assert [c[1] for c in size.choices] == [256, 360, 480, 512] and size.value == 512
    assert [c[1] for c in ids["video-stabilize"].choices] == list(STABILIZE_MODES) == [v for _, v in STABILIZE_CHOICES]
    assert ids["video-stabilize"].value == "flow"  # the CLI's default (docs/video.md: 0.41x the flicker)
    assert ".gif" in ids["video-input"].file_types and ".mp4" in ids["video-input"].file_types
    assert ids["video-output"].format == "mp4" and "download" in ids["video-output"].buttons
    cam = ids["webcam-input"]
    assert cam.sources == ["webcam"] and cam.streaming
    (stream,) = [d for d in demo.config["dependencies"] if [tuple(t) for t in d["targets"]] == [(cam._id, "stream")]]
    assert stream["stream_every"] <= 0.5 and stream["time_limit"] == app_config.webcam_seconds
    assert "video-style-gallery" in ids  # the bundled styles, as on the style-transfer tab


def test_video_sizes_follow_the_configured_limit():
    assert AppConfig(max_video_size=480).video_size_choices == [256, 360, 480]
    assert AppConfig(max_video_size=480).video_size == 480  # the default 640 is capped
    assert AppConfig(max_video_size=1000).video_size_choices[-2:] == [854, 1000]
    assert AppConfig(max_video_size=1920, default_video_size=500).video_size == 480
    assert AppConfig().video_size_choices == [256, 360, 480, 640, 854] and AppConfig().video_size == 640
    assert AppConfig(max_size=512, default_size=256).video_size_choices == [256, 360, 480, 512]  # never over max_size


def test_api_sample_uses_the_servers_own_address():
    from types import SimpleNamespace

    from app.web.ui import api_help

    text = api_help(SimpleNamespace(headers={"host": "10.0.0.5:8123"}))
    assert 'Client("http://10.0.0.5:8123/")' in text and "7860" not in text
    proxied = api_help(
        SimpleNamespace(headers={"host": "x", "x-forwarded-host": "paint.example.org", "x-forwarded-proto": "https"})
    )
    assert 'Client("https://paint.example.org/")' in proxied
    assert 'Client("http://127.0.0.1:7860/")' in api_help(None)  # before the page asks: the default


def test_at_least_twelve_bundled_styles_with_captions_are_offered():
    from app.web.ui import _style_examples

    styles = _style_examples(AppConfig())
    assert len(styles) >= 12 and len({p for p, _ in styles}) == len(styles)
    assert all(Path(p).is_file() for p, _ in styles)
    captions = dict(styles)
    assert captions[str(DEFAULT_ASSETS_DIR / "examples" / "durer_lion.jpg")] == "Dürer, Lion"


@pytest.mark.parametrize(
    "button, runs",
    [
        ("stylize-cancel", {"stylize_ui", "compare_stylize_ui"}),
        ("synthesize-cancel", {"synthesize_ui", "compare_synthesize_ui"}),
        ("video-cancel", {"stylize_video_ui"}),
    ],
)
def test_each_long_run_has_a_cancel_button_wired_to_it(demo, button, runs):
    ids = _by_id(demo)
    fns = demo.fns if isinstance(demo.fns, dict) else dict(enumerate(demo.fns))
    by_id = {i: f for i, f in fns.items()}
    cancelling = [f for f in by_id.values() if any(t[0] == ids[button]._id for t in f.targets)]
    cancelled = {by_id[i].name for f in cancelling for i in (f.cancels or [])}
    assert runs <= cancelled


def test_successful_results_go_to_the_session_history_newest_first():
    from app.web.results import HISTORY_LIMIT, add_to_history

    shown, hist = add_to_history("a", "first", [])
    shown, hist = add_to_history("b", "second", hist)
    assert shown == hist == [("b", "second"), ("a", "first")]
    assert add_to_history(None, "refused", hist)[1] == hist  # nothing made: nothing added
    for i in range(HISTORY_LIMIT + 5):
        _, hist = add_to_history(str(i), "", hist)
    assert len(hist) == HISTORY_LIMIT and hist[0][0] == str(HISTORY_LIMIT + 4)
