"""Tiled AdaIN: the grid, the stores, receptive fields, tiled == untiled for every feature, clean interruption."""

import dataclasses
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models.adain.infer import Stylizer, prepare_mask, style_side
from models.adain.net import AdaINNet
from models.adain.tiled import CELL, ContentReader, FeatureStore, Grid, RawImageFile, TileConfig, feature_mask
from models.common.assets import assets_dir

pytestmark = pytest.mark.usefixtures("one_thread")

UNTILED = TileConfig(tile=1 << 20)  # one tile whatever the size
SMALL = TileConfig(tile=64)  # several tiles on the test images


def _photo(w: int, h: int, seed: int) -> Image.Image:
    """Smooth random colours plus fine noise: structure at every scale, so a seam or a wrong tile shows."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    return Image.fromarray(np.clip(base + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    path = assets_dir() / "adain_instance.safetensors"
    return Stylizer.from_checkpoint(path, device="cpu", bf16=False, channels_last=False)


def _run(st: Stylizer, tiles: TileConfig, *args, **kw) -> np.ndarray:
    st.tiles = tiles
    try:
        return np.asarray(st.stylize(*args, **kw), dtype=np.float64)
    finally:
        st.tiles = TileConfig()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# ------------------------------------------------------------------------------------------------ the grid
@pytest.mark.parametrize("h, w, tile", [(200, 168, 64), (17, 300, 64), (8, 8, 64), (1000, 1000, 1024)])
def test_cores_cover_every_cell_once_with_aligned_origins(h, w, tile):
    grid = Grid(h, w, tile, 32)
    hits = np.zeros(grid.cells, dtype=int)
    for r0, r1, c0, c1 in grid.cores():
        assert r1 - r0 <= tile // CELL and c1 - c0 <= tile // CELL
        hits[r0:r1, c0:c1] += 1
        e0, e1, f0, f1 = grid.expand((r0, r1, c0, c1))
        assert (e0, f0) == (max(0, r0 - 4), max(0, c0 - 4)) and e1 == min(grid.cells[0], r1 + 4)
    assert (hits == 1).all()
    assert grid.padded == (8 * -(-h // 8), 8 * -(-w // 8))


def test_tile_config_refuses_unaligned_sizes():
    with pytest.raises(ValueError, match="multiple of 8"):
        TileConfig(tile=100)
    with pytest.raises(ValueError, match="margin"):
        TileConfig(margin=12)
    with pytest.raises(ValueError, match="stats"):
        TileConfig(stats="median")


# ------------------------------------------------------------------------------------------------ receptive fields
def test_margin_covers_the_receptive_fields_of_encoder_and_decoder():
    """Perturb one input (float64) and find what it reaches: every change lies within the 32 px margin."""
    torch.manual_seed(0)
    net = AdaINNet().double().eval()
    m = SMALL.margin
    with torch.no_grad():
        x = torch.rand(1, 3, 160, 160, dtype=torch.float64)
        for p in (77, 80, 83):  # three alignments to the 8 px cells
            x2 = x.clone()
            x2[..., p, p] += 1.0
            diff = (net.encoder.forward_to(x2, "relu4_1") - net.encoder.forward_to(x, "relu4_1")).abs().sum(1)[0]
            cells = torch.nonzero(diff[:, 0:] > 0)[:, 0].unique()
            assert len(cells) > 0
            for k in cells.tolist():  # pixel p lies within the margin around cell k's 8 px
                assert 8 * k - m <= p < 8 * k + CELL + m, (p, k)
        t = torch.rand(1, 512, 20, 20, dtype=torch.float64) * 100
        t2 = t.clone()
        t2[..., 10, 10] += 50
        reached = torch.nonzero((net.decode(t2) - net.decode(t)).abs().sum(1)[0] > 0)[:, 0]
        assert reached.min() >= 80 - m and reached.max() < 88 + m


# ------------------------------------------------------------------------------------------------ tiled == untiled
@pytest.mark.parametrize("case", ["plain", "blend", "mask", "covariance", "luminance", "alpha"])
def test_tiled_equals_untiled(stylizer, case):
    content, s1, s2 = _photo(200, 168, 0), _photo(120, 90, 1), _photo(90, 130, 2)
    kw = dict(size=None)
    styles = [s1]
    if case == "blend":
        styles, kw["weights"] = [s1, s2], [0.3, 0.7]
    elif case == "mask":
        styles = [s1, s2]
        mask = np.zeros((168, 200), dtype=np.uint8)
        mask[40:150, 20:90] = 255
        kw["mask"] = Image.fromarray(mask)
    elif case in ("covariance", "luminance"):
        kw["preserve_color"] = case
    elif case == "alpha":
        kw["alpha"] = 0.6
    assert len(Grid(168, 200, SMALL.tile, SMALL.margin).cores()) == 12
    whole = _run(stylizer, UNTILED, content, styles, **kw)
    tiled = _run(stylizer, SMALL, content, styles, **kw)
    assert np.abs(tiled - whole).max() <= 1  # float rounding can flip a uint8 level, nothing more
    assert _psnr(tiled, whole) > 60


def test_tiled_equals_untiled_for_a_group_norm_decoder():
    st = Stylizer.from_checkpoint(
        assets_dir() / "adain_group.safetensors", device="cpu", bf16=False, channels_last=False
    )
    content, style = _photo(160, 136, 3), _photo(100, 100, 4)
    whole, tiled = _run(st, UNTILED, content, [style], size=None), _run(st, SMALL, content, [style], size=None)
    assert np.abs(tiled - whole).max() <= 1


def test_a_margin_below_the_receptive_field_shows(stylizer):
    """The equality above is not an accident of smooth inputs: without margins the tiles differ."""
    content, style = _photo(200, 168, 0), _photo(120, 90, 1)
    whole = _run(stylizer, UNTILED, content, [style], size=None)
    no_margin = _run(stylizer, TileConfig(tile=64, margin=0), content, [style], size=None)
    assert _psnr(no_margin, whole) < 40


def test_thumbnail_statistics_are_an_approximation(stylizer):
    """URST's thumbnail statistics: exact when the "thumbnail" is the image itself, off when it is smaller (the fine
    detail that VGG responds to is gone from a thumbnail, so its feature variance is too small)."""
    content, style = _photo(200, 168, 0), _photo(120, 90, 1)
    whole = _run(stylizer, UNTILED, content, [style], size=None)
    full = _run(stylizer, dataclasses.replace(SMALL, stats="thumbnail", thumbnail=200), content, [style], size=None)
    assert np.abs(full - whole).max() <= 1
    thumb = _run(stylizer, dataclasses.replace(SMALL, stats="thumbnail", thumbnail=128), content, [style], size=None)
    assert _psnr(thumb, whole) < 30


def test_progress_is_reported_per_tile_for_both_passes(stylizer):
    calls = []
    stylizer.tiles = SMALL
    try:
        stylizer.stylize(_photo(200, 168, 0), [_photo(60, 60, 1)], size=None, progress=lambda *a: calls.append(a))
    finally:
        stylizer.tiles = TileConfig()
    assert [c[0] for c in calls] == list(range(1, 25)) and {c[1] for c in calls} == {24}
    assert [c[2] for c in calls] == ["statistics"] * 12 + ["decode"] * 12


# ------------------------------------------------------------------------------------------------ stores and files
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_feature_store_on_disk_round_trips_and_is_removed(tmp_path, dtype):
    feat = torch.randn(1, 16, 9, 7).to(dtype)
    with (
        FeatureStore((9, 7), 16, dtype, disk=True, tmp_dir=str(tmp_path)) as disk,
        FeatureStore((9, 7), 16, dtype, disk=False) as ram,
    ):
        assert len(os.listdir(tmp_path)) == 1
        for store in (disk, ram):
            store.write(0, 0, feat[..., :4, :])
            store.write(4, 0, feat[..., 4:, :3])
            store.write(4, 3, feat[..., 4:, 3:])
        for store in (disk, ram):
            got = store.read(2, 8, 1, 6)
            assert got.dtype == dtype and got.is_contiguous(memory_format=torch.channels_last)
            assert torch.equal(got, feat[..., 2:8, 1:6])
    assert os.listdir(tmp_path) == []


def test_raw_image_file_regions_and_reader_padding(tmp_path):
    img = _photo(37, 29, 5)
    with RawImageFile.from_image(img, str(tmp_path), rows=8) as raw:
        assert np.array_equal(raw.read(3, 20, 5, 31), np.asarray(img)[3:20, 5:31])
        assert np.array_equal(np.asarray(raw.image()), np.asarray(img))
        # the padded region past the edge reflects exactly as padding the whole image does
        whole = F.pad(
            torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255, (0, 3, 0, 3), mode="reflect"
        )[0]
        for source in (img, raw):
            torch.testing.assert_close(ContentReader(source).pixels(16, 32, 24, 40), whole[:, 16:32, 24:40])
    assert os.listdir(tmp_path) == []


def test_feature_mask_equals_the_untiled_mask_path():
    mask = Image.fromarray((np.random.default_rng(0).random((50, 70)) * 255).astype(np.uint8)).resize((140, 100))
    want = F.interpolate(prepare_mask(mask, (144, 104)), size=(13, 18), mode="area").ge(0.5).float()
    assert torch.equal(feature_mask(mask, (104, 144), rows=16), want)


def test_stylize_file_writes_atomically_and_cleans_up_when_interrupted(stylizer, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    stylizer.tiles = dataclasses.replace(SMALL, store="disk", tmp_dir=str(tmp))
    content, style = _photo(200, 168, 0), _photo(60, 60, 1)
    seen = []

    def interrupt(done, total, stage):
        seen.append(sorted(os.listdir(tmp)))
        if stage == "decode":
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            stylizer.stylize_file(content, [style], tmp_path / "out.png", size=None, progress=interrupt)
        assert len(seen[0]) == 3  # output, content copy and feature store were on disk during the run
        assert os.listdir(tmp) == [] and sorted(os.listdir(tmp_path)) == ["tmp"]  # no partial out.png
        assert stylizer.stylize_file(content, [style], tmp_path / "out.png", size=None) == (200, 168)
        assert os.listdir(tmp) == [] and sorted(os.listdir(tmp_path)) == ["out.png", "tmp"]
        stylizer.tiles = UNTILED
        want = np.asarray(stylizer.stylize(content, [style], size=None), dtype=np.float64)
        assert np.abs(np.asarray(Image.open(tmp_path / "out.png"), dtype=np.float64) - want).max() <= 1
    finally:
        stylizer.tiles = TileConfig()


# ------------------------------------------------------------------------------------------------ stroke size
def test_stroke_size_sets_the_style_encoding_size_and_changes_the_result(stylizer):
    assert style_side(512) == 512 and style_side(3000) == 1024 and style_side(3000, 2) == 2048
    sizes = []
    encode = stylizer.style_moments
    stylizer.style_moments = lambda x: sizes.append(tuple(x.shape[1:])) or encode(x)
    try:
        content, style = _photo(96, 64, 0), _photo(200, 100, 1)
        a = np.asarray(stylizer.stylize(content, [style], size=None, stroke=1.0), dtype=float)
        b = np.asarray(stylizer.stylize(content, [style], size=None, stroke=2.0), dtype=float)
    finally:
        del stylizer.style_moments
    assert sizes == [(48, 96), (96, 192)]
    assert np.abs(a - b).mean() > 1
    with pytest.raises(ValueError, match="stroke size must be between 0.25 and 4"):
        stylizer.stylize(content, [style], stroke=5)
