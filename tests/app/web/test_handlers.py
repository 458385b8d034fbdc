"""app.web.handlers: error mapping to gr.Error, the public API signatures, UI-only glue (presets, masks)."""

from __future__ import annotations

import inspect

import gradio as gr
import numpy as np
import pytest

from app.config import AppConfig
from app.web.handlers import Handlers, user_errors
from app.preprocess import InputError
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
    synth = inspect.signature(Handlers.api_synthesize).parameters
    assert list(synth)[1:3] == ["mask", "seed"] and synth["seed"].default == 0


def test_ui_stylize_with_mask_but_no_second_style_explains(handlers, files):
    painted = np.zeros((32, 32, 4), np.uint8)
    painted[:16, :, 3] = 255
    editor = {"background": None, "layers": [painted], "composite": painted}
    args = [files["content.png"], files["style.jpg"], 1.0] + [None, 0.5] * 3 + [1.0, "none", editor, None, 128, ""]
    with pytest.raises(gr.Error, match="add the style for the unpainted area"):
        handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    args[-3] = files["style.jpg"]  # the second style: now the masked call goes through
    image, caption = handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    assert max(image.size) == 128 and "AdaIN · instance norm" in caption


def test_ui_blend_of_styles_passes_normalised_weights(handlers, files):
    args = [files["content.png"], files["style.jpg"], 1.0, files["style.jpg"], 0.5, None, 0.5, None, 0.5,
            0.5, "covariance", None, None, 128, "batch"]
    _, caption = handlers.stylize_ui(*args, progress=lambda *a, **k: None)
    call = handlers.engine.caches["adain"].get("batch")[1].calls[-1]
    assert call["weights"] == pytest.approx([2 / 3, 1 / 3]) and call["preserve_color"] == "covariance"
    assert "batch norm" in caption


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
    image, caption = handlers.synthesize_ui(editor, "sky", 5, None, 128, "group", files["style.jpg"], "batch", 0.8,
                                            progress=_noop)
    assert image.size == (128, 128)
    assert caption.startswith("SPADE · group norm · then AdaIN (batch norm, α=0.8)")
    with pytest.raises(gr.Error, match=r"alpha .* got 2"):
        handlers.synthesize_ui(editor, "sky", 5, None, 128, "", None, "", 2, progress=_noop)
