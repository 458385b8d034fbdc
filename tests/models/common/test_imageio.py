"""The one image loader: every awkward format becomes upright 8-bit RGB or a specific ImageLoadError."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.common.imageio import ImageLoadError, load_image, pil_to_tensor, resize_long_side, save_png, tensor_to_pil


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgba_is_composited_on_white():
    arr = np.zeros((20, 20, 4), np.uint8)
    arr[..., 0] = 255
    arr[:, :10, 3] = 255  # left half opaque red, right half transparent
    img = load_image(_bytes(Image.fromarray(arr, "RGBA"), "PNG"))
    out = np.asarray(img)
    assert img.mode == "RGB"
    assert tuple(out[5, 2]) == (255, 0, 0) and tuple(out[5, 15]) == (255, 255, 255)


def test_grayscale_cmyk_and_16bit():
    gray = load_image(_bytes(Image.new("L", (20, 20), 100), "PNG"))
    assert gray.mode == "RGB" and tuple(np.asarray(gray)[0, 0]) == (100, 100, 100)
    cmyk = load_image(_bytes(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG"))
    r, g, b = np.asarray(cmyk)[10, 10]
    assert r > 200 and g < 60 and b < 60  # cyan-free, full magenta+yellow = red
    deep = np.full((20, 20), 65535 // 2, np.uint16)
    img16 = load_image(_bytes(Image.fromarray(deep), "PNG"))
    assert abs(int(np.asarray(img16)[0, 0, 0]) - 128) <= 1


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    r, g, b = np.asarray(load_image(buf.getvalue()))[0, 0]
    assert r > 200 and b < 50


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    assert load_image(_bytes(img, "JPEG", exif=exif)).size == (20, 40)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"definitely not an image", "not a readable image"),
    ],
)
def test_bad_bytes_give_specific_errors(data, match):
    with pytest.raises(ImageLoadError, match=match):
        load_image(data)


def test_truncated_file_and_missing_path(tmp_path):
    good = _bytes(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    bad = tmp_path / "cut.png"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageLoadError, match="corrupt or truncated"):
        load_image(bad)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_size_limits():
    with pytest.raises(ImageLoadError, match="too small"):
        load_image(Image.new("RGB", (10, 40)))
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(_bytes(Image.new("RGB", (300, 300)), "PNG"), max_pixels=50_000)


def test_arrays_and_tensor_round_trip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    img = load_image(arr)
    t = pil_to_tensor(img)
    assert t.shape == (3, 17, 23) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_pil(t)), arr)
    path = save_png(t, tmp_path / "sub" / "x.png")
    assert np.array_equal(np.asarray(Image.open(path)), arr)
    assert load_image(np.ones((20, 20), np.float32)).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(np.zeros((20, 20, 7), np.uint8))


def test_resize_long_side_keeps_aspect():
    assert resize_long_side(Image.new("RGB", (400, 200)), 100).size == (100, 50)
    assert resize_long_side(Image.new("RGB", (30, 60)), 120).size == (60, 120)
    with pytest.raises(ValueError):
        resize_long_side(Image.new("RGB", (30, 60)), 0)
