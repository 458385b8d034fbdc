"""Units of app.preprocess: validation messages, editor values -> masks / label ids, uploads -> images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.config import AppConfig
from app.preprocess import (
    STROKE_RANGE,
    InputError,
    check_alpha,
    check_output_pixels,
    check_seed,
    check_size,
    check_stroke,
    labels_from_editor,
    labels_from_rgba,
    load_label_file,
    load_user_image,
    painted_mask,
    resize_mask,
    style_weights,
)
from models.landscape.classes import CLASSES, mask_to_ids

CFG = AppConfig(max_input_pixels=4_000_000, max_size=1024)


def _editor(background=None, layers=(), composite=None) -> dict:
    return {"background": background, "layers": list(layers), "composite": composite}


# --- scalar inputs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [(0, 0.0), (1, 1.0), ("0.25", 0.25), (0.5, 0.5)])
def test_check_alpha_accepts_the_unit_interval(value, expected):
    assert check_alpha(value) == expected


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), "strong", None])
def test_check_alpha_rejects_with_a_specific_message(value):
    with pytest.raises(InputError, match=r"alpha .*between 0 and 1"):
        check_alpha(value)


def test_check_size_is_guarded_by_the_configured_maximum():
    assert check_size(512.0, CFG) == 512
    with pytest.raises(InputError, match="from 16 to 1024"):
        check_size(4096, CFG)
    with pytest.raises(InputError, match="whole number"):
        check_size("big", CFG)


@pytest.mark.parametrize("value", [0, 0.0, "0", "original", "original size"])
def test_check_size_takes_the_original_size_for_style_transfer_only(value):
    assert check_size(value, CFG, allow_original=True) is None  # Stylizer.stylize(size=None): the content's size
    with pytest.raises(InputError, match=r"from 16 to 1024, got"):  # SPADE keeps numeric sizes
        check_size(value, CFG)


def test_check_size_for_style_transfer_still_refuses_other_sizes():
    assert check_size(512, CFG, allow_original=True) == 512
    for bad in (8, 4096, "big", False):
        with pytest.raises(
            InputError,
            match=r"size must be .* from 16 to 1024, got .* \(or 0 for the content's "
            r"original size\)",
        ):
            check_size(bad, CFG, allow_original=True)


@pytest.mark.parametrize("value, expected", [(0.25, 0.25), (1, 1.0), ("2", 2.0), (4.0, 4.0)])
def test_check_stroke_accepts_the_stroke_range(value, expected):
    assert check_stroke(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (5, "stroke size must be between 0.25 and 4, got 5."),
        (0.1, "stroke size must be between 0.25 and 4, got 0.1."),
        (float("nan"), "stroke size must be between 0.25 and 4, got nan."),
        ("big", "stroke size must be a number between 0.25 and 4, got 'big'."),
        (None, "stroke size must be a number between 0.25 and 4, got None."),
    ],
)
def test_check_stroke_names_the_input_and_the_range(value, message):
    with pytest.raises(InputError) as info:
        check_stroke(value)
    assert str(info.value) == message


def test_stroke_range_is_the_stylizers():
    from models.adain.infer import STROKE_RANGE as MODEL_RANGE

    assert STROKE_RANGE == MODEL_RANGE


def test_outputs_over_the_pixel_limit_are_refused_with_the_flag():
    check_output_pixels((2000, 1000), None, CFG)  # 2 MP at the original size: fine
    check_output_pixels((100, 100), 2000, CFG)  # 4.0 MP: at the limit
    with pytest.raises(InputError) as info:
        check_output_pixels((100, 100), 2048, CFG)
    assert str(info.value) == (
        "The output would be 2048x2048 (4.2 MP), over this server's limit of 4 MP: choose a "
        "smaller output size, or start the server with --max-input-megapixels to raise it "
        "(up to 100)."
    )
    top = AppConfig(max_input_pixels=100_000_000)  # already at the most the flag allows: no flag advice
    with pytest.raises(
        InputError,
        match=r"limit of 100 MP: choose a smaller output size \(100 MP is this "
        r"server's top\)\.$",
    ):
        check_output_pixels((10_001, 10_000), None, top)


def test_check_seed():
    assert check_seed("7") == 7
    with pytest.raises(InputError, match="seed must be a whole number from 0 to 2147483647"):
        check_seed(-1)
    with pytest.raises(InputError, match="got 1.5"):
        check_seed(1.5)  # no silent rounding


def test_style_weights_skip_empty_slots_and_normalise():
    used, weights = style_weights(["a", None, "c", None], [3, 1, 1, 1])
    assert used == [0, 2]
    assert weights == pytest.approx([0.75, 0.25])


def test_style_weights_errors():
    with pytest.raises(InputError, match="add a style image"):
        style_weights([None, None], [1, 1])
    with pytest.raises(InputError, match="All style weights are zero"):
        style_weights(["a", "b"], [0, 0])
    with pytest.raises(InputError, match="Weight of style 2"):
        style_weights(["a", "b"], [1, -1])


# --- ImageEditor values --------------------------------------------------------------------------------
def test_painted_mask_of_untouched_editor_is_none():
    assert painted_mask(None) is None
    assert painted_mask(_editor()) is None
    blank = np.zeros((8, 8, 4), np.uint8)
    assert painted_mask(_editor(layers=[blank])) is None


def test_painted_mask_ignores_faint_antialiased_edges_and_unions_layers():
    a = np.zeros((8, 8, 4), np.uint8)
    a[2:4, 2:4, 3] = 255
    a[4, 2:4, 3] = 60  # anti-aliased fringe: below the threshold
    b = np.zeros((8, 8, 4), np.uint8)
    b[6, 6, 3] = 200
    mask = painted_mask(_editor(layers=[a, b]), alpha_threshold=128)
    assert mask.sum() == 5 and mask[2, 2] and mask[6, 6] and not mask[4, 2]


def test_resize_mask_is_nearest():
    m = np.zeros((4, 4), bool)
    m[:2] = True
    big = resize_mask(m, (8, 8))
    assert big.shape == (8, 8) and big[:4].all() and not big[4:].any()


def test_labels_from_empty_editor_say_the_canvas_is_empty():
    with pytest.raises(InputError, match="canvas is empty"):
        labels_from_editor(_editor(), CFG)
    transparent = np.zeros((32, 32, 4), np.uint8)
    with pytest.raises(InputError, match="canvas is empty"):
        labels_from_editor(_editor(composite=transparent), CFG, fill_class=0)


def test_labels_from_editor_snap_antialiased_strokes_and_fill_the_rest():
    sky, grass = CLASSES[0], next(c for c in CLASSES if c.name == "grass")
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[16:, :, :3], rgba[16:, :, 3] = grass.color, 255
    rgba[:8, :, :3], rgba[:8, :, 3] = sky.color, 255
    # anti-aliased edge: grass blended half-way into sky (an off-palette colour, far from every class)
    rgba[8, :, :3], rgba[8, :, 3] = (np.array(grass.color) + np.array(sky.color)) // 2, 255
    ids = labels_from_editor(_editor(composite=rgba), CFG, fill_class=CLASSES[1].id)
    assert ids.shape == (32, 32) and ids.dtype == np.int64
    assert (ids[16:] == grass.id).all() and (ids[:8] == sky.id).all()
    assert (ids[9:16] == CLASSES[1].id).all()  # unpainted -> the fill class
    assert set(np.unique(ids[8]).tolist()) <= {sky.id, grass.id}  # the fringe snaps to a neighbour


def test_labels_from_rgba_rejects_a_tiny_map():
    with pytest.raises(InputError, match=r"too small \(each side must be >= 16 px\)"):
        labels_from_rgba(np.full((8, 40, 4), 255, np.uint8), CFG)


# --- uploads -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, size",
    [
        ("animated.gif", (64, 48)),
        ("cmyk.jpg", (96, 64)),
        ("sixteen.png", (96, 64)),
        ("transparent.png", (96, 64)),
        ("gray.png", (96, 64)),
        ("content.png", (96, 64)),
    ],
)
def test_awkward_formats_load_as_rgb(files, name, size):
    img = load_user_image(files[name], "content", CFG)
    assert img.mode == "RGB" and img.size == size


def test_animated_gif_uses_the_first_frame_and_rgba_composites_on_white(files):
    assert load_user_image(files["animated.gif"], "content", CFG).getpixel((5, 5)) == (255, 0, 0)
    assert load_user_image(files["transparent.png"], "content", CFG).getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    "name, message",
    [
        ("corrupt.png", r"Style image: 'corrupt.png': (corrupt|not a readable)"),
        ("not_an_image.png", r"Style image: 'not_an_image.png': not a readable image"),
        ("empty.png", r"Style image: .*empty"),
        ("tiny.png", r"Style image: .*12x40 is too small"),
        ("huge.png", r"Style image: .*2100x2000 is too large"),
    ],
)
def test_bad_uploads_name_the_input_and_the_problem(files, name, message):
    with pytest.raises(InputError, match=message) as info:
        load_user_image(files[name], "style", CFG)
    assert str(files[name].parent) not in str(info.value)  # no server temp paths in user messages


def test_a_too_large_upload_names_the_limit_and_the_server_flag(files):
    with pytest.raises(InputError) as info:
        load_user_image(files["huge.png"], "content", CFG)
    assert str(info.value) == (
        "Content image: 'huge.png': 2100x2000 is too large (4.2 MP; the limit is 4.0 MP) — "
        "downscale it first, or start the server with --max-input-megapixels to raise it "
        "(up to 100)"
    )


def test_missing_upload():
    with pytest.raises(InputError, match="Please add a content image"):
        load_user_image(None, "content", CFG)


def test_load_label_file_keeps_alpha_and_reads_integer_maps(files, tmp_path):
    rgba = load_label_file(files["empty_mask.png"], CFG)
    assert rgba.shape == (64, 64, 4) and rgba[..., 3].max() == 0
    ids = np.zeros((20, 20), np.uint8)
    ids[10:] = 7
    Image.fromarray(ids, mode="L").save(tmp_path / "ids.png")
    colours = load_label_file(tmp_path / "ids.png", CFG)
    assert tuple(colours[15, 0, :3]) == CLASSES[7].color and tuple(colours[0, 0, :3]) == CLASSES[0].color


@pytest.mark.parametrize(
    "name, message",
    [
        ("corrupt.png", "Mask image: corrupt or truncated image"),
        ("empty.png", "Mask file is empty"),
        ("tiny.png", r"too small \(each side must be >= 16 px\)"),
        ("huge.png", r"the limit is 4.0 MP\) — downscale it first, or start the server with --max-input-megapixels"),
    ],
)
def test_load_label_file_errors(files, name, message):
    with pytest.raises(InputError, match=message):
        load_label_file(files[name], CFG)


def test_empty_and_off_palette_masks_are_refused(files):
    with pytest.raises(InputError, match="nothing is painted"):
        labels_from_rgba(load_label_file(files["empty_mask.png"], CFG), CFG)
    with pytest.raises(InputError, match="canvas is empty"):  # the paint canvas refuses even with a fill class
        labels_from_editor({"composite": load_label_file(files["empty_mask.png"], CFG)}, CFG, fill_class=0)
    with pytest.raises(InputError, match="matches no class colour"):
        labels_from_rgba(load_label_file(files["offpalette_mask.png"], CFG), CFG)


def test_images_over_the_image_upload_limit_are_refused_though_the_server_takes_larger_videos(tmp_path, files):
    """The server's upload limit is the video limit (200 MB); images keep theirs (here 0 MB: any file is over)."""
    import dataclasses

    tight = dataclasses.replace(CFG, max_upload_mb=0)
    with pytest.raises(
        InputError,
        match=r"^Style image: 'style.jpg' is 0.\d+ MB, over this server's limit of 0 MB "
        r"for images: downscale or compress it first, or start the server with "
        r"--max-input-megapixels to raise it",
    ):
        load_user_image(str(files["style.jpg"]), "style", tight)
    assert load_user_image(str(files["style.jpg"]), "style", CFG).size == (80, 80)  # within 50 MB: fine


def test_webcam_frames_become_rgb_in_multiples_of_8_up_to_the_side():
    from app.preprocess import webcam_frame

    rgba = np.zeros((480, 640, 4), np.uint8)
    assert webcam_frame(rgba, 256, 16).shape == (192, 256, 3)
    assert webcam_frame(np.zeros((47, 61), np.uint8), 256, 16).shape == (48, 64, 3)  # gray, small: only rounded
    assert webcam_frame(np.zeros((48, 64, 3), np.uint8), 256, 16).flags.writeable  # torch takes it as it is
    with pytest.raises(InputError, match=r"unexpected shape \(4, 4, 2\)"):
        webcam_frame(np.zeros((4, 4, 2), np.uint8), 256, 16)


def test_a_photo_sent_as_a_mask_is_refused_saying_how_many_pixels_matched(tmp_path):
    from models.landscape.render import generate_sample

    photo, _ = generate_sample(3, 96)  # a rendered landscape: looks like a scene, not like a class-colour mask
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    rgba = load_label_file(str(path), AppConfig())
    with pytest.raises(ValueError, match=r"not a mask: only [\d,]+ of 9,216 painted pixels \([\d.]+ %\)"):
        mask_to_ids(rgba)


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` but holds no pixel data: enough to test a size limit cheaply."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def test_sizes_are_accepted_up_to_the_limit_and_refused_one_above():
    from app.limits import MAX_SIDE, parse_size

    assert parse_size(MAX_SIDE) == MAX_SIDE == 16384
    with pytest.raises(ValueError, match="from 16 to 16384"):
        parse_size(MAX_SIDE + 1)
    config = AppConfig()
    assert check_size(config.max_size, config) == config.max_size
    with pytest.raises(InputError, match=f"to {config.max_size}"):
        check_size(config.max_size + 1, config)


def test_the_input_pixel_limit_is_40_mp_accepted_at_it_and_refused_one_above():
    from app.config import DEFAULT_INPUT_MEGAPIXELS

    config = AppConfig()
    assert config.max_input_pixels == DEFAULT_INPUT_MEGAPIXELS * 1_000_000 == 40_000_000
    at, above = _header_only_png(8000, 5000), _header_only_png(8000, 5001)  # 40,000,000 and 40,008,000 px
    for load in (lambda data: load_user_image(data, "content", config), lambda data: load_label_file(data, config)):
        with pytest.raises(InputError) as info:
            load(at)  # passes the size check; then fails only because the pixel data is missing
        assert "MP" not in str(info.value) and "truncated" in str(info.value), str(info.value)
        with pytest.raises(InputError, match=r"8000x5001.*limit is 40(\.0)? MP"):
            load(above)
