"""Content/style folders: recursive discovery, corrupt files skipped and counted, EXIF, augmentation shapes."""

import numpy as np
import pytest
import torch
from PIL import Image

from models.adain.data import ContentStyleDataset, ImageFolder, find_images


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    img = lambda w, h: Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))  # noqa: E731
    img(40, 30).save(tmp_path / "one.jpg")
    img(30, 50).save(tmp_path / "a" / "two.PNG")
    img(64, 64).save(tmp_path / "a" / "b" / "three.webp")
    img(33, 33).save(tmp_path / "a" / "four.bmp")
    img(40, 40).convert("RGBA").save(tmp_path / "a" / "alpha.png")
    img(40, 40).save(tmp_path / ".hidden" / "skip.png")
    img(8, 8).save(tmp_path / "tiny.png")  # too small to crop from
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_find_images_recursive_and_filtered(folder):
    names = {p.name for p in find_images(folder)}
    assert names == {"one.jpg", "two.PNG", "three.webp", "four.bmp", "alpha.png", "tiny.png", "broken.png"}


@pytest.mark.parametrize("preload", [True, False])
def test_corrupt_and_tiny_files_are_skipped_and_counted(folder, preload):
    ds = ImageFolder(folder, size=16, load_size=24, preload=preload)
    assert len(ds) == 5 and ds.skipped == 2
    assert "skipped 2" in ds.summary.line()
    x = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    raw = ImageFolder(tmp_path, size=16, load_size=16).raw(0)  # short side shrunk to 16
    assert tuple(raw.shape[1:]) == (32, 16)  # displayed upright: portrait
    top, bottom = raw[:, :14].float().mean(), raw[:, 18:].float().mean()
    assert top > 200 and bottom < 50  # the left (white) half is on top after a 90° clockwise turn


def test_empty_folder_and_missing_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="no readable images"):
        ImageFolder(tmp_path, size=16)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "missing", size=16)


def test_pairs_are_deterministic_and_augmented(folder):
    content = ImageFolder(folder, size=16, load_size=32)
    style = ImageFolder(folder / "a", size=16, load_size=32)
    ds = ContentStyleDataset(content, style, length=10, seed=1)
    c1, s1 = ds[3]
    c2, s2 = ds[3]
    assert torch.equal(c1, c2) and torch.equal(s1, s2)
    assert len(ds) == 10 and c1.shape == s1.shape == (3, 16, 16)
    crops = {tuple(ds[i][0].flatten()[:8].tolist()) for i in range(10)}
    assert len(crops) > 3  # different images / crops / flips per index
