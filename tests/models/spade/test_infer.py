"""Synthesizer: sizes, seeds, style images, masks from files, errors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.common.checkpoint import CheckpointError, save_checkpoint
from models.landscape.classes import class_id, ids_to_color
from models.spade.generator import GenConfig, SPADEGenerator, baked_state_dict
from models.spade.infer import Synthesizer, load_mask
from tests.models.spade.conftest import crop_checkpoint


def tiny_checkpoint(path, **kw):
    """A randomly initialised tiny generator saved like an exported one (what the app/CLI load)."""
    cfg = GenConfig(arch="grid", size=32, ngf=4, spade_hidden=8, z_dim=8, **kw)
    G = SPADEGenerator(cfg)
    return save_checkpoint(path, baked_state_dict(G), cfg.to_dict() | {"spectral": False}, kind="spade")


@pytest.fixture
def syn(tmp_path):
    return Synthesizer.from_checkpoint(tiny_checkpoint(tmp_path / "g.safetensors"))


def _ids(h=24, w=40):
    ids = np.full((h, w), class_id("sky"), np.int64)
    ids[h // 2 :] = class_id("grass")
    return ids


def test_output_has_mask_size_unless_size_given(syn):
    assert syn.synthesize(_ids()).size == (40, 24)
    assert syn.synthesize(_ids(), size=80).size == (80, 48)


def test_seeds_differ_and_repeat(syn):
    a, b, a2 = (np.asarray(syn.synthesize(_ids(), seed=s), dtype=np.float32) for s in (0, 1, 0))
    assert np.array_equal(a, a2)
    assert np.abs(a - b).mean() > 0.1
    assert syn.synthesize(_ids(), seed=-3).size == syn.synthesize(_ids(), seed=2**80).size == (40, 24)


def test_style_image_is_deterministic(syn):
    style = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    a = np.asarray(syn.synthesize(_ids(), seed=0, style=style))
    b = np.asarray(syn.synthesize(_ids(), seed=9, style=style))
    assert np.array_equal(a, b)  # the style code replaces the random one


def test_bad_inputs_raise_value_errors(syn, tmp_path):
    with pytest.raises(ValueError, match="integer"):
        syn.synthesize(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="0..9"):
        syn.synthesize(np.full((4, 4), 42))
    with pytest.raises(ValueError, match="size"):
        syn.synthesize(_ids(), size=5)
    no_vae = Synthesizer.from_checkpoint(tiny_checkpoint(tmp_path / "n.safetensors", use_vae=False))
    with pytest.raises(ValueError, match="no style encoder"):
        no_vae.synthesize(_ids(), style=Image.new("RGB", (32, 32)))


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        Synthesizer.from_checkpoint(tmp_path / "missing.safetensors")
    bogus = tmp_path / "adain.safetensors"
    save_checkpoint(bogus, {"w": torch.zeros(1)}, {}, kind="adain")
    with pytest.raises(CheckpointError, match="expected 'spade'"):
        Synthesizer.from_checkpoint(bogus)


def test_load_mask_from_png_bytes_keeps_transparency():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:8, :, :3] = ids_to_color(np.full((8, 16), class_id("sky")))
    rgba[:8, :, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    ids = load_mask(buf.getvalue(), background=class_id("sand"))
    assert (ids[:8] == class_id("sky")).all() and (ids[8:] == class_id("sand")).all()


def test_wide_masks_keep_their_aspect_in_the_generator(syn):
    assert syn.native_size((24, 40)) == (20, 32) and syn.native_size((40, 10)) == (32, 8)
    assert syn.synthesize(np.zeros((10, 80), np.int64)).size == (80, 10)


def test_bf16_and_channels_last_stay_close_to_fp32(tmp_path):
    path = tiny_checkpoint(tmp_path / "g.safetensors")
    ref = np.asarray(Synthesizer.from_checkpoint(path, bf16=False, channels_last=False).synthesize(_ids(), seed=3))
    cl = np.asarray(Synthesizer.from_checkpoint(path, bf16=False, channels_last=True).synthesize(_ids(), seed=3))
    fast = np.asarray(Synthesizer.from_checkpoint(path, bf16=True, channels_last=True).synthesize(_ids(), seed=3))
    assert np.abs(cl.astype(int) - ref).max() <= 1  # memory layout only: same maths up to rounding
    diff = np.abs(fast.astype(int) - ref)
    assert diff.mean() < 3 and ref.std() > 5  # bf16 keeps ~3 significant digits; the image is not flat


def test_a_crop_generator_renders_natively_inside_and_above_its_range(tmp_path):
    syn = Synthesizer.from_checkpoint(crop_checkpoint(tmp_path / "c.safetensors"))
    assert syn.config.arch == "crop"
    seen = []
    forward = syn.generator.forward
    syn.generator.forward = lambda seg, z=None, **kw: seen.append(tuple(seg.shape[2:])) or forward(seg, z, **kw)
    assert syn.synthesize(_ids(), size=64).size == (64, 38)  # the output's own size, rounded to 16: 64 x 32
    assert syn.synthesize(_ids(), size=48).size == (48, 29)
    assert syn.synthesize(_ids(), size=128).size == (128, 77)  # above the native range: natively, in windows
    assert seen == [(32, 64), (32, 48), (80, 128)]
    syn.window = 2 * syn.margin + 16  # small windows: several, each with its margins
    seen.clear()
    assert syn.synthesize(_ids(), size=128).size == (128, 77)
    assert len(seen) > 1 and all(max(s) <= syn.window for s in seen)
    a, b = (np.asarray(syn.synthesize(_ids(), seed=s, size=64), dtype=np.float32) for s in (0, 1))
    assert np.abs(a - b).mean() > 0.05  # the seed reaches the picture
    style = Image.fromarray(np.full((50, 70, 3), (200, 80, 20), np.uint8))
    assert syn.synthesize(_ids(), style=style, size=64).size == (64, 38)
