"""One contract for both front ends: `normlab synthesize` and the web API's /synthesize accept and refuse the same
seeds and sizes, at the exact boundaries, with the same words (app/limits.py)."""

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app import cli
from app.config import AppConfig
from app.limits import MAX_SIDE, MIN_SIDE, SEED_MAX
from app.services import Engine
from app.web.handlers import Handlers
from models.common.checkpoint import save_checkpoint
from models.landscape.classes import class_id, class_records
from models.spade.generator import GenConfig, SPADEGenerator, baked_state_dict

BAD_SEEDS = [-1, 1.5, SEED_MAX + 1, "abc"]
GOOD_SEEDS = [0, SEED_MAX, "7", 3.0]


@pytest.fixture
def cli_synthesize(tmp_path, mask, capsys):
    cfg = GenConfig(arch="grid", size=32, ngf=4, spade_hidden=8, z_dim=8)
    ckpt = save_checkpoint(
        tmp_path / "g.safetensors",
        baked_state_dict(SPADEGenerator(cfg)),
        cfg.to_dict() | {"spectral": False},
        kind="spade",
    )

    def run(seed=0, size=None, fill=None, mask_path=None) -> str | None:
        argv = [
            "synthesize",
            str(mask_path or mask),
            "-o",
            str(tmp_path / "o.png"),
            "--checkpoint",
            str(ckpt),
            "--seed",
            str(seed),
            *(["--size", str(size)] if size is not None else []),
            *(["--background", fill] if fill else []),
        ]
        code = cli.main(argv)
        err = capsys.readouterr().err
        return None if code == 0 else err

    return run


@pytest.fixture
def api_synthesize(fake_assets, fake_loaders, mask):
    config = AppConfig(assets_dir=fake_assets, canvas_size=64, default_size=128, max_size=MAX_SIDE)
    handlers = Handlers(Engine(config, fake_loaders), config)

    def run(seed=0, size=64, fill=None, mask_path=None) -> str | None:
        try:
            handlers.api_synthesize(str(mask_path or mask), seed=seed, size=size, fill=fill or "")
        except gr.Error as err:
            return err.message
        return None

    return run


@pytest.fixture(params=["cli", "api"])
def front_end(request):
    return request.getfixturevalue(f"{request.param}_synthesize")


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_bad_seeds_are_refused_with_the_same_words(front_end, seed):
    message = front_end(seed=seed)
    assert message and f"seed must be a whole number from 0 to {SEED_MAX}, got" in message


@pytest.mark.parametrize("seed", GOOD_SEEDS)
def test_seeds_at_the_boundaries_are_accepted(front_end, seed):
    assert front_end(seed=seed) is None


@pytest.mark.parametrize("size", [MIN_SIDE - 1, MAX_SIDE + 1, 100.5, "big"])
def test_bad_sizes_are_refused_with_the_same_words(front_end, size):
    message = front_end(size=size)
    assert message and f"size must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}, got" in message


@pytest.mark.parametrize("size", [MIN_SIDE, 48])
def test_sizes_at_the_lower_boundary_are_accepted(front_end, size):
    assert front_end(size=size) is None


def test_a_class_id_png_is_a_mask_for_both_front_ends(tmp_path, cli_synthesize, api_synthesize, mask):
    ids = np.array(Image.open(mask).convert("RGB"))[..., 0] * 0  # all class 0 ...
    ids[12:] = class_id("water")  # ... with water below
    Image.fromarray(ids.astype(np.uint8), "L").save(mask)  # overwrite the colour mask with a class-id PNG
    assert cli_synthesize() is None and api_synthesize() is None


def test_a_mask_below_the_minimum_side_is_refused_with_the_same_words(front_end, tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 40), tuple(class_records()[0]["rgb"])).save(tiny)
    message = front_end(mask_path=tiny)
    assert message and f"8x40 is too small (each side must be >= {MIN_SIDE} px)" in message


def test_a_fully_transparent_mask_is_all_fill_class_with_a_fill_and_refused_without(front_end, tmp_path):
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(clear)
    assert front_end(mask_path=clear, fill="water") is None
    message = front_end(mask_path=clear)
    assert message and "nothing is painted (every pixel is transparent)" in message
