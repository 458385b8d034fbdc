"""app.web.handlers: error mapping to gr.Error, the public API signatures, UI-only glue (presets, masks)."""

from __future__ import annotations

import inspect

import gradio as gr
import numpy as np
import pytest

from app.config import AppConfig
from app.web import handlers as handlers_module
from app.web.handlers import Handlers, user_errors
from app.preprocess import InputError, labels_from_editor
from app.services import Engine


@pytest.fixture
def handlers(fake_assets, fake_loaders) -> Handlers:
    config = AppConfig(assets_dir=fake_assets, canvas_size=64, default_size=128)
    return Handlers(Engine(config, fake_loaders), config)


def test_input_errors_become_gr_errors_with_the_same_text():
    @user_errors
    def bad():
        raise InputError("Style image: 'x.png': not a readable image")

    with pytest.raises(gr.Error) as info:
        bad()
    assert info.value.message == "Style image: 'x.png': not a readable image"


def test_unexpected_errors_are_reported_not_crashing():
    @user_errors
    def buggy():
        raise KeyError("boom")

    with pytest.raises(gr.Error, match=r"Internal error \(KeyError: 'boom'\)\. The server is still running\."):
        buggy()


def test_api_signatures_are_the_documented_ones():
    stylize = inspect.signature(Handlers.api_stylize).parameters
    assert list(stylize)[1:4] == ["content", "style", "alpha"] and stylize["alpha"].default == 1.0
    assert list(stylize)[-1] == "stroke" and stylize["stroke"].default == 1.0  # new parameters go last
    synth = inspect.signature(Handlers.api_synthesize).parameters
    assert list(synth)[1:3] == ["mask", "seed"] and synth["seed"].default == 0


def test_ui_stylize_with_mask_but_no_second_style_explains(handlers, files):
    painted = np.zeros((32, 32, 4), np.uint8)
    painted[:16, :, 3] = 255
    editor = {"background": None, "layers": [painted], "composite": painted}
    args = [files["content.png"], files["style.jpg"], 1.0] + [None, 0.5] * 3 + [1.0, "none", editor, None, 128, 1.0, ""]
    with pytest.raises(gr.Error, match="add the style for the unpainted area"):
        handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    args[-4] = files["style.jpg"]  # the second style: now the masked call goes through
    image, caption = handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    assert max(image.size) == 128 and "AdaIN · instance norm" in caption


def test_ui_blend_of_styles_passes_normalised_weights(handlers, files):
    args = [
        files["content.png"],
        files["style.jpg"],
        1.0,
        files["style.jpg"],
        0.5,
        None,
        0.5,
        None,
        0.5,
        0.5,
        "covariance",
        None,
        None,
        128,
        1.0,
        "batch",
    ]
    _, caption = handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    call = handlers.engine.caches["adain"].get("batch")[1].calls[-1]
    assert call["weights"] == pytest.approx([2 / 3, 1 / 3]) and call["preserve_color"] == "covariance"
    assert "batch norm" in caption


def _ui_args(files, size=128, stroke=1.0, norm="instance") -> list:
    """stylize_ui's positional inputs, in the order of ui.py's wiring: one style, no mask."""
    return (
        [files["content.png"], files["style.jpg"], 1.0]
        + [None, 0.5] * 3
        + [1.0, "none", None, None, size, stroke, norm]
    )


def test_ui_stylize_reports_progress_per_tile_and_passes_stroke_and_the_original_size(handlers, files):
    ticks = []
    image, caption = handlers.stylize_ui(
        *_ui_args(files, size=0, stroke=2.0), progress=lambda f, desc=None: ticks.append((f, desc))
    )
    call = handlers.engine.caches["adain"].get("instance")[1].calls[-1]
    assert call["size"] is None and call["stroke"] == 2.0
    assert image.size == (96, 64) and "96×64 px" in caption  # the content's own size
    assert ticks[-2:] == [(0.5, "statistics: tile 1 of 2"), (1.0, "decode: tile 2 of 2")]


def test_ui_and_api_refuse_a_bad_stroke_or_an_output_over_the_pixel_limit(handlers, files):
    with pytest.raises(gr.Error) as info:
        handlers.stylize_ui(*_ui_args(files, stroke=5), progress=lambda *a, **k: None)
    assert info.value.message == "stroke size must be between 0.25 and 4, got 5."
    with pytest.raises(gr.Error) as info:
        handlers.api_stylize(str(files["content.png"]), str(files["style.jpg"]), stroke=0)
    assert info.value.message == "stroke size must be between 0.25 and 4, got 0."
    # 96x64 at 8192 px is 8192x5461 = 44.7 MP: over the default 40 MP, though 8192 is offered
    with pytest.raises(
        gr.Error,
        match=r"The output would be 8192x5461 \(44.7 MP\), over this server's limit of "
        r"40 MP: choose a smaller output size, or start the server with "
        r"--max-input-megapixels",
    ):
        handlers.api_stylize(str(files["content.png"]), str(files["style.jpg"]), size=8192)
    with pytest.raises(gr.Error, match=r"from 16 to 8192, got 0"):  # SPADE keeps numeric sizes
        handlers.api_synthesize(str(files["mask.png"]), size=0)


def test_api_size_zero_keeps_the_content_size(handlers, files):
    image = handlers.api_stylize(str(files["content.png"]), str(files["style.jpg"]), size=0, stroke=0.5)
    call = handlers.engine.caches["adain"].get(None)[1].calls[-1]
    assert image.size == (96, 64) and call["size"] is None and call["stroke"] == 0.5


def test_preset_is_an_opaque_class_coloured_canvas(handlers):
    from models.landscape.classes import PALETTE

    value = handlers.preset(2)
    rgba = value["background"]
    assert rgba.shape == (64, 64, 4) and (rgba[..., 3] == 255).all()
    colours = {tuple(c) for c in rgba[..., :3].reshape(-1, 3)}
    assert colours <= {tuple(c) for c in PALETTE}


def test_mask_canvas_shows_the_content_or_stays_empty_for_bad_files(handlers, files):
    value = handlers.mask_canvas(str(files["content.png"]))
    assert value["background"].shape == (64, 96, 4) and value["layers"] == []
    assert handlers.mask_canvas(str(files["corrupt.png"])) is None


def _noop(*args, **kwargs) -> None:
    return None


def test_ui_synthesize_empty_canvas_and_then_stylize(handlers, files):
    blank = np.zeros((64, 64, 4), np.uint8)
    empty = {"background": blank, "layers": [blank], "composite": blank}
    with pytest.raises(gr.Error, match="The canvas is empty"):
        handlers.synthesize_ui(empty, "sky", 0, None, 128, "", None, "", 0.8, progress=_noop)
    painted = blank.copy()
    painted[40:, :] = (110, 210, 60, 255)  # grass
    editor = {"background": blank, "layers": [painted], "composite": painted}
    image, caption = handlers.synthesize_ui(
        editor, "sky", 5, None, 128, "group", files["style.jpg"], "batch", 0.8, progress=_noop
    )
    assert image.size == (128, 128)
    assert caption.startswith("SPADE · group norm · then AdaIN (batch norm, α=0.8)")
    with pytest.raises(gr.Error, match=r"alpha .* got 2"):
        handlers.synthesize_ui(editor, "sky", 5, None, 128, "", None, "", 2, progress=_noop)


def _grass_editor(side: int = 64) -> dict:
    blank = np.zeros((side, side, 4), np.uint8)
    painted = blank.copy()
    painted[40:, :] = (110, 210, 60, 255)  # grass below, unpainted above
    return {"background": blank, "layers": [painted], "composite": painted}


def test_fill_unpainted_paints_only_transparent_pixels(handlers):
    out = handlers.fill_unpainted(_grass_editor(), "snow")
    rgba = out["composite"]
    assert out["layers"] == [] and (out["background"] == rgba).all()
    assert (rgba[..., 3] == 255).all()  # nothing left unpainted
    assert (rgba[:40, :, :3] == (255, 255, 255)).all()  # snow where it was transparent
    assert (rgba[40:, :, :3] == (110, 210, 60)).all()  # the grass stroke is kept
    blank = handlers.fill_unpainted(None, "sky")["composite"]  # an untouched canvas fills whole
    assert blank.shape == (64, 64, 4) and (blank[..., 3] == 255).all()
    with pytest.raises(gr.Error, match="Unknown class 'lava'"):
        handlers.fill_unpainted(_grass_editor(), "lava")


def test_live_preview_caps_the_size_pauses_on_input_problems_and_can_be_off(handlers):
    image, caption = handlers.preview_ui(_grass_editor(), "sky", 3, None, 512, "", True)
    assert image.size == (256, 256)  # PREVIEW_SIZE, not the 512 asked for
    assert caption.startswith("Live preview · SPADE") and caption.endswith("press Synthesize for 512 px")
    image, caption = handlers.preview_ui(_grass_editor(), "sky", 3, None, 128, "", True)
    assert image.size == (128, 128) and "press Synthesize" not in caption
    skipped, caption = handlers.preview_ui(None, "sky", 3, None, 128, "", True)
    assert isinstance(skipped, dict) and skipped.get("__type__") == "update"  # gr.skip(): the image stays
    assert caption.startswith("Live preview paused: The canvas is empty")
    off = handlers.preview_ui(_grass_editor(), "sky", 3, None, 128, "", False)
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in off)


def test_a_bad_upload_is_reported_when_dropped(handlers, files):
    check = handlers.check_upload("style")
    check(str(files["style.jpg"]))  # a good file: no error
    check(None)  # a cleared input: no error
    with pytest.raises(gr.Error, match=r"Style image: 'corrupt.png'"):
        check(str(files["corrupt.png"]))


def test_compare_lays_the_results_out_in_readable_columns(handlers):
    gallery, caption = handlers.compare_synthesize_ui(_grass_editor(), "sky", 0, None, 128, progress=_noop)
    assert len(gallery.value) == 3 and gallery.columns == 3  # three fake checkpoints, one column each
    assert caption.startswith("Compared 3 SPADE normalizers")


def test_results_carry_their_settings_and_download_under_a_name_from_the_inputs(handlers, files, tmp_path):
    import json

    from PIL import Image

    from app.web.results import NAME_KEY, named_output
    from models.common.settings import read_png_settings

    args = (
        [files["content.png"], files["style.jpg"], 1.0] + [None, 0.5] * 3 + [0.7, "none", None, None, 128, 1.0, "batch"]
    )
    image, _ = handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    assert image.info[NAME_KEY] == "content_style_batch_a0.7"
    settings = json.loads(image.info["normlab"])
    assert (settings["alpha"], settings["norm"], settings["styles"], settings["size"]) == (0.7, "batch", ["style"], 128)
    out = named_output(gr.Image(format="png", type="pil"))
    served = out.postprocess(image)
    path = served.path if hasattr(served, "path") else served["path"]
    assert path.endswith("content_style_batch_a0.7.png")  # the download's name
    assert read_png_settings(path)["norm"] == "batch"  # the settings inside the file
    assert NAME_KEY not in Image.open(path).info  # the name itself is not written into the file


def test_batch_stylizes_every_good_file_into_a_zip_of_named_pngs_and_reports_the_bad_ones(
    fake_assets, fake_loaders, files, tmp_path
):
    import zipfile

    from models.common.settings import read_png_settings

    config = AppConfig(assets_dir=fake_assets, canvas_size=64, default_size=128)
    handlers = Handlers(Engine(config, fake_loaders), config, video_dir=tmp_path / "videos")
    batch = [str(files["content.png"]), str(files["gray.png"]), str(files["not_an_image.png"])]
    shown, zip_path, caption = handlers.batch_ui(
        batch, files["style.jpg"], 0.6, 64, "instance", progress=lambda *a, **k: None
    )
    assert len(shown) == 2 and "Stylized 2 of 3" in caption and "not_an_image.png" in caption
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(archive.namelist())
        assert names == ["content_style_instance_a0.6.png", "gray_style_instance_a0.6.png"]
        archive.extract(names[0], tmp_path)
    assert read_png_settings(tmp_path / names[0])["alpha"] == 0.6
    with pytest.raises(gr.Error, match="Add one or more content images"):
        handlers.batch_ui([], files["style.jpg"], 0.6, 64, "instance", progress=lambda *a, **k: None)
    too_many = [str(files["content.png"])] * (config.max_batch_files + 1)
    with pytest.raises(gr.Error, match=f"at most {config.max_batch_files}"):
        handlers.batch_ui(too_many, files["style.jpg"], 0.6, 64, "instance", progress=lambda *a, **k: None)


def test_a_preview_overtaken_by_a_synthesize_click_leaves_the_clicks_picture(handlers, monkeypatch):
    """Stroke, then Synthesize at once: the stroke's preview, still running when the click comes, must not land
    after the click's picture and replace it (seen in the browser as a 256 px preview over the result)."""
    from types import SimpleNamespace

    me, other = SimpleNamespace(session_hash="me"), SimpleNamespace(session_hash="other")
    real = handlers.engine.synthesize
    clicks: list = []

    def slow_preview(*args, **kwargs):  # the preview's synthesis; a click arrives while it runs
        while clicks:
            who = clicks.pop()
            handlers.synthesize_ui(_grass_editor(), "sky", 1, None, 128, "", None, "", 0.8, request=who, progress=_noop)
        return real(*args, **kwargs)

    monkeypatch.setattr(handlers.engine, "synthesize", slow_preview)
    clicks.append(other)  # another browser's click changes nothing here
    image, caption = handlers.preview_ui(_grass_editor(), "sky", 3, None, 128, "", True, request=me)
    assert image.size == (128, 128) and caption.startswith("Live preview")
    clicks.append(me)
    stale = handlers.preview_ui(_grass_editor(), "sky", 3, None, 128, "", True, request=me)
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in stale)  # gr.skip(): both stay
    image, caption = handlers.preview_ui(_grass_editor(), "sky", 3, None, 128, "", True, request=me)
    assert caption.startswith("Live preview")  # a preview begun after the click shows as usual
    image, caption = handlers.preview_ui(_grass_editor(), "sky", 3, None, 128, "", True)  # no session: as before
    assert caption.startswith("Live preview")


def test_a_preview_of_what_the_click_just_synthesized_changes_nothing(handlers):
    """A busy browser may report the stroke only after the Synthesize click: that preview asks for exactly what the
    click made and must not replace its picture with a smaller copy (the CI browser test's caption race)."""
    from types import SimpleNamespace

    me, other = SimpleNamespace(session_hash="me"), SimpleNamespace(session_hash="other")
    image, caption = handlers.synthesize_ui(
        _grass_editor(), "sky", 5, None, 128, "", None, "", 0.8, request=me, progress=_noop
    )
    late = handlers.preview_ui(_grass_editor(), "sky", 5, None, 128, "", True, request=me)
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in late)  # gr.skip(): both stay
    for changed in [
        dict(seed=6),
        dict(size=96),
        dict(fill="grass"),
    ]:
        kw = dict(editor=_grass_editor(), fill="sky", seed=5, style=None, size=128, norm="", live=True) | changed
        _, caption = handlers.preview_ui(**kw, request=me)
        assert caption.startswith("Live preview"), changed
    _, caption = handlers.preview_ui(_grass_editor(), "sky", 5, None, 128, "", True, request=other)
    assert caption.startswith("Live preview")  # another browser's click is not this one's picture


def test_a_click_that_began_before_the_preview_but_read_the_same_canvas_during_it_wins(handlers, monkeypatch):
    """The click's time mark came before the preview began (so `_synthesized_since` says no), and its fingerprint
    while the preview was synthesizing: the preview must still leave the click's picture alone."""
    from types import SimpleNamespace

    me = SimpleNamespace(session_hash="me")
    handlers._mark_synthesize(me)  # the click began...
    real = handlers.engine.synthesize

    def click_reads_the_canvas(*args, **kwargs):  # ...and read the same canvas while the preview ran
        labels = labels_from_editor(_grass_editor(), handlers.config, handlers._fill_id("sky"))
        handlers._mark_synthesize(me, handlers_module._synthesis_inputs(labels, 5, None, 128, None))
        return real(*args, **kwargs)

    monkeypatch.setattr(handlers.engine, "synthesize", click_reads_the_canvas)
    late = handlers.preview_ui(_grass_editor(), "sky", 5, None, 128, "", True, request=me)
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in late)


def test_only_the_newest_sessions_clicks_are_remembered(handlers, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(type(handlers), "SESSIONS_KEPT", 3)
    for k in range(5):
        handlers._mark_synthesize(SimpleNamespace(session_hash=f"s{k}"))
    handlers._mark_synthesize(SimpleNamespace(session_hash="s2"))  # clicked again: now the newest
    assert list(handlers._synth_clicked) == ["s3", "s4", "s2"]
    handlers._mark_synthesize(None)  # no request (a direct call): nothing to remember
    assert len(handlers._synth_clicked) == 3
