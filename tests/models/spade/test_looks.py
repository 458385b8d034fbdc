"""Seeds tied to the renderer's looks (models/spade/looks.py): thumbnail, code, checkpoint flag, Synthesizer."""

import numpy as np
import pytest
import torch

from models.common.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from models.landscape.classes import CLASSES
from models.landscape.render import render_layout
from models.spade import looks
from models.spade.generator import GenConfig, baked_state_dict, build_generator
from models.spade.infer import Synthesizer
from models.spade.looks import class_means, look_code, look_render, look_thumbnail, match_look, renderer_knows
from models.spade.prior import sample_from_prior

CFG = dict(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, native=[32, 64], size=32, enc_size=32)


def _layout(h: int = 48, w: int = 40) -> torch.Tensor:
    ids = torch.zeros(h, w, dtype=torch.long)  # sky
    ids[h // 2 :] = 7  # grass
    ids[h // 3 : h // 2, : w // 2] = 2  # a mountain on the left
    return ids


def test_the_renderer_knows_the_landscape_classes_only():
    mine = [{"id": c.id, "name": c.name, "color": list(c.color)} for c in CLASSES]
    assert renderer_knows(mine)
    assert not renderer_knows(mine[:-1])
    assert not renderer_knows([mine[1], mine[0], *mine[2:]])  # same names, other ids
    assert not renderer_knows([{**mine[0], "name": "road"}, *mine[1:]])


def test_thumbnail_is_square_nearest_and_fills_dont_care_with_the_commonest_class():
    ids = torch.full((20, 10), 255)
    ids[:, :4] = 7  # grass on 40 % of the picture, water on 20 %, the rest "don't care"
    ids[:, 4:6] = 5
    t = look_thumbnail(ids, 16)
    assert t.shape == (1, 16, 16) and t.dtype == torch.long
    assert set(t.unique().tolist()) == {5, 7}
    assert (t == 7).float().mean() > 0.7  # grass fills the don't-care part
    assert torch.equal(look_thumbnail(torch.full((8, 8), 255), 16), torch.zeros(1, 16, 16, dtype=torch.long))
    assert torch.equal(look_thumbnail(torch.full((8, 8), 3), 16), torch.full((1, 16, 16), 3))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        look_thumbnail(torch.zeros(1, 8, 8, dtype=torch.long), 16)


def test_a_look_code_is_the_encoders_code_of_the_layout_rendered_with_the_seeds_look():
    G = build_generator(GenConfig(**CFG)).eval()
    ids = _layout()
    code = look_code(G, ids, torch.Generator().manual_seed(5))
    # independently: the render seed is the first draw of the seed's generator
    render_seed = int(torch.randint(0, 2**48, (1,), generator=torch.Generator().manual_seed(5)))
    picture = render_layout(look_thumbnail(ids, 32), [render_seed])
    with torch.no_grad():
        want, _ = G.encode(picture * 2 - 1)
    assert code.shape == (1, 8) and torch.allclose(code, want, atol=1e-6)
    # one seed: one code; another seed: another look, another code
    assert torch.equal(code, look_code(G, ids, torch.Generator().manual_seed(5)))
    assert not torch.allclose(code, look_code(G, ids, torch.Generator().manual_seed(6)), atol=1e-4)
    # the rng moves by exactly one draw, so what follows (the noise inputs) does not depend on the layout
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    look_code(G, ids, g1)
    look_code(G, torch.zeros(16, 16, dtype=torch.long), g2)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_config_checks_seed_looks():
    assert GenConfig.from_dict(GenConfig(**CFG).to_dict() | {"seed_looks": "renderer"}).seed_looks == "renderer"
    old = GenConfig(**CFG).to_dict()
    del old["seed_looks"]
    assert GenConfig.from_dict(old).seed_looks == "prior"  # files written before it
    with pytest.raises(ValueError, match="choose one of: prior, renderer"):
        GenConfig(**CFG, seed_looks="sunset").validate()
    with pytest.raises(ValueError, match="^seed_looks 'renderer' needs a style encoder"):
        GenConfig(**CFG, seed_looks="renderer", use_vae=False).validate()
    foreign = [{"id": 0, "name": "road", "color": [1, 2, 3]}, {"id": 1, "name": "car", "color": [4, 5, 6]}]
    with pytest.raises(ValueError, match="the landscape classes the renderer knows$"):
        GenConfig(**CFG, seed_looks="renderer", classes=foreign).validate()


def _synth(tmp_path, mode: str) -> Synthesizer:
    cfg = GenConfig(**CFG, seed_looks=mode)
    path = tmp_path / f"{mode}.safetensors"
    torch.manual_seed(0)
    save_checkpoint(path, baked_state_dict(build_generator(cfg)), cfg.to_dict() | {"spectral": False}, kind="spade")
    return Synthesizer.from_checkpoint(path, bf16=False)


def test_a_renderer_file_draws_each_seeds_code_from_a_render_of_the_users_layout(tmp_path, monkeypatch):
    syn = _synth(tmp_path, "renderer")
    ids = _layout()
    assert torch.allclose(
        syn.sample_code(torch.Generator().manual_seed(3), ids),
        look_code(syn.generator, ids, torch.Generator().manual_seed(3)),
        atol=1e-6,
    )
    seen = []

    def spy(generator, layout, rng):
        seen.append(tuple(layout.shape))
        return look_render(generator, layout, rng)

    monkeypatch.setattr("models.spade.infer.look_render", spy)
    syn.synthesize(ids.numpy(), seed=1, size=64)
    assert seen == [(48, 40)]  # the user's layout at its own size, once per picture
    from PIL import Image

    syn.synthesize(ids.numpy(), seed=1, style=Image.new("RGB", (32, 32), (200, 100, 50)))
    assert seen == [(48, 40)]  # a style image decides the look by itself


def test_a_prior_file_ignores_the_layout_as_before(tmp_path):
    syn = _synth(tmp_path, "prior")
    code = syn.sample_code(torch.Generator().manual_seed(3), _layout())
    assert torch.equal(code, sample_from_prior(None, 8, torch.Generator().manual_seed(3)))


def test_renderer_seeds_change_the_picture_and_repeat_exactly(tmp_path):
    syn = _synth(tmp_path, "renderer")
    ids = _layout(32, 32).numpy()
    a, b, c = (np.asarray(syn.synthesize(ids, seed=s)) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_command_sets_the_flag_and_keeps_weights_and_metadata(tmp_path, capsys):
    cfg = GenConfig(**CFG)
    src = tmp_path / "g.safetensors"
    state = baked_state_dict(build_generator(cfg))
    meta = {"normlab_steps": "7"}
    save_checkpoint(src, state, cfg.to_dict() | {"spectral": False}, kind="spade", extra_metadata=meta)
    out = tmp_path / "r.safetensors"
    assert looks.main([str(src), "-o", str(out)]) == 0
    assert "renderer" in capsys.readouterr().out
    before, c0 = load_checkpoint(src, "spade")
    after, c1 = load_checkpoint(out, "spade")
    assert c0.get("seed_looks", "prior") == "prior" and c1["seed_looks"] == "renderer"
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert read_metadata(out)["normlab_steps"] == "7"
    assert Synthesizer.from_checkpoint(out).config.seed_looks == "renderer"
    assert looks.main([str(out), "--look-match", "0.7"]) == 0
    assert load_checkpoint(out, "spade")[1]["look_match"] == 0.7
    assert "colours matched 0.7" in capsys.readouterr().out
    assert looks.main([str(out)]) == 0  # without --look-match: the file's match stays
    assert load_checkpoint(out, "spade")[1]["look_match"] == 0.7
    assert looks.main([str(out), "--seed-looks", "prior"]) == 0  # in place, and back: no match without renders
    assert load_checkpoint(out, "spade")[1]["seed_looks"] == "prior"
    assert load_checkpoint(out, "spade")[1]["look_match"] == 0.0


def test_the_command_refuses_what_a_file_cannot_do(tmp_path, capsys):
    cfg = GenConfig(**CFG, use_vae=False)
    src = tmp_path / "novae.safetensors"
    save_checkpoint(src, baked_state_dict(build_generator(cfg)), cfg.to_dict() | {"spectral": False}, kind="spade")
    assert looks.main([str(src)]) == 2
    assert "style encoder" in capsys.readouterr().err
    assert load_checkpoint(src, "spade")[1]["seed_looks"] == "prior"  # untouched
    foreign = tmp_path / "adain.safetensors"
    save_checkpoint(foreign, {"w": torch.zeros(2)}, {}, kind="adain")
    assert looks.main([str(foreign)]) == 2
    assert "expected 'spade'" in capsys.readouterr().err
    assert looks.main([str(src), "--seed-looks", "prior", "--look-match", "0.5"]) == 2
    assert "look_match needs seed_looks 'renderer'" in capsys.readouterr().err


def test_config_checks_look_match():
    ok = GenConfig(**CFG, seed_looks="renderer", look_match=0.5).validate()
    assert GenConfig.from_dict(ok.to_dict()).look_match == 0.5
    old = ok.to_dict()
    del old["look_match"]
    assert GenConfig.from_dict(old).look_match == 0.0  # files written before it: the generator's own colours
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"^look_match must be in \[0, 1\]"):
            GenConfig(**CFG, seed_looks="renderer", look_match=bad).validate()
    with pytest.raises(ValueError, match="^look_match needs seed_looks 'renderer'"):
        GenConfig(**CFG, look_match=0.5).validate()


def test_class_means_match_a_float64_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 9, 7, generator=g)
    ids = torch.randint(0, 3, (9, 7), generator=g)
    ids[0, :3] = 255  # don't care: no class
    means, present = class_means(x, ids, 4)
    assert present.tolist() == [True, True, True, False]
    for b in range(2):
        for k in range(3):
            sel = [(i, j) for i in range(9) for j in range(7) if int(ids[i, j]) == k]
            want = [sum(float(x[b, c, i, j]) for i, j in sel) / len(sel) for c in range(3)]
            assert means[b, k].tolist() == pytest.approx(want, abs=1e-6)
    assert torch.equal(means[:, 3], torch.zeros(2, 3))


def _two_class_scene(big: int, small: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sky (0) above grass (7): the label map at ``big`` and at ``small`` px (the same picture)."""
    a = torch.zeros(big, big, dtype=torch.long)
    a[big // 2 :] = 7
    b = torch.zeros(small, small, dtype=torch.long)
    b[small // 2 :] = 7
    return a, b


@pytest.mark.parametrize("radius", [0, 2])
def test_flat_regions_take_the_renders_colour_and_keep_their_texture(radius):
    ids, ref_ids = _two_class_scene(64, 16)
    K = len(CLASSES)
    grain = 0.05 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(32, 32)  # a 2 px checkerboard: fine texture
    out = torch.where(ids == 0, -0.2, 0.1).float()[None, None].expand(1, 3, 64, 64) + grain
    ref = torch.empty(1, 3, 16, 16)
    ref[:, :, :8] = torch.tensor([0.9, 0.5, 0.2])[:, None, None]  # a sunset sky in [0, 1]
    ref[:, :, 8:] = torch.tensor([0.3, 0.6, 0.1])[:, None, None]
    got = match_look(out, ids, ref, ref_ids, K, radius=radius)
    inner = slice(4, 28), slice(36, 60)  # rows away from the horizon, where the softening blur reaches
    want_sky = torch.tensor([0.9, 0.5, 0.2]) * 2 - 1
    want_grass = torch.tensor([0.3, 0.6, 0.1]) * 2 - 1
    for rows, colour in zip(inner, (want_sky, want_grass)):
        region = got[0, :, rows]
        assert torch.allclose(region - grain[rows], colour[:, None, None].expand_as(region), atol=1e-5)
    # the step at the horizon is softened: the rows next to it lie between the two regions' shifts
    shift = (got - out)[0, 0, 28:36, 10]
    assert shift[0] == pytest.approx(float(want_sky[0] + 0.2), abs=1e-5)
    assert shift[-1] == pytest.approx(float(want_grass[0] - 0.1), abs=1e-5)
    assert min(shift[3], shift[4]) > float(want_grass[0] - 0.1) + 0.05 and max(shift[3], shift[4]) < 0.95 * 0.8
    assert torch.equal(match_look(out, ids, ref, ref_ids, K, strength=0.0, radius=radius), out)
    half = match_look(out, ids, ref, ref_ids, K, strength=0.5, radius=radius)
    assert torch.allclose(half, (out + got) / 2, atol=1e-5)


def test_a_local_match_carries_the_renders_gradient_and_no_colour_across_classes():
    ids, ref_ids = _two_class_scene(64, 16)
    K = len(CLASSES)
    out = torch.zeros(1, 3, 64, 64)
    ref = torch.full((1, 3, 16, 16), 0.5)
    ref[:, :, :8] = torch.linspace(0.1, 0.9, 8)[:, None]  # the sky lightens towards the horizon
    ref[:, 0, 8:] = 1.0  # red grass: must not tint the sky
    local = match_look(out, ids, ref, ref_ids, K, radius=2)
    flat = match_look(out, ids, ref, ref_ids, K, radius=0)
    sky_rows = local[0, 2, 2:28, 32]
    assert (sky_rows[1:] >= sky_rows[:-1] - 1e-6).all() and sky_rows[-1] - sky_rows[0] > 0.5  # the gradient
    assert float(flat[0, 2, 2:28, 32].std()) < 1e-5  # one shift per class: no gradient
    # the sky's red channel follows the sky's render only (0.1..0.9), never the red grass
    assert torch.allclose(local[0, 0, :28], local[0, 2, :28], atol=1e-5)


def test_classes_the_thumbnail_lost_and_dont_care_pixels_keep_their_colour():
    ids, ref_ids = _two_class_scene(64, 16)
    ids[40:42, 10:50] = 5  # a thin stroke of water that the 16 px thumbnail does not hold
    ids[50:, 56:] = 255
    out = torch.full((1, 3, 64, 64), 0.3)
    ref = torch.full((1, 3, 16, 16), 0.9)
    got = match_look(out, ids, ref, ref_ids, len(CLASSES))
    assert torch.allclose(got[0, :, 52:, 60:], out[0, :, 52:, 60:])  # don't care, away from the edge
    assert torch.allclose(got[0, :, 8:30], torch.full((3, 22, 64), 0.8))  # sky moved onto 0.9 * 2 - 1
    water = got[0, :, 40:42, 20:40]
    assert float((water - 0.3).abs().max()) < 0.26  # only the softened edge of the grass around it reaches it
    assert float((got[0, :, 38, 20:40] - 0.8).abs().max()) < 0.26


def test_a_renderer_file_with_look_match_paints_each_region_in_the_colour_of_the_seeds_render(tmp_path):
    cfg = GenConfig(**CFG, seed_looks="renderer", look_match=1.0)
    path = tmp_path / "m.safetensors"
    torch.manual_seed(0)
    save_checkpoint(path, baked_state_dict(build_generator(cfg)), cfg.to_dict() | {"spectral": False}, kind="spade")
    syn = Synthesizer.from_checkpoint(path, bf16=False)
    ids = _layout(64, 64)
    picture, small = look_render(syn.generator, ids, torch.Generator().manual_seed(4))
    want, _ = class_means(picture, small, len(CLASSES))

    def got_means(s: Synthesizer) -> torch.Tensor:
        img = torch.from_numpy(np.array(s.synthesize(ids.numpy(), seed=4))).permute(2, 0, 1)[None] / 255.0
        return class_means(torch.nn.functional.interpolate(img, size=(32, 32), mode="area"), small, len(CLASSES))[0]

    present = [0, 2, 7]
    matched = got_means(syn)[0, present]
    assert torch.allclose(matched, want[0, present], atol=0.02)
    syn.config = GenConfig.from_dict(cfg.to_dict() | {"look_match": 0.0})
    assert (got_means(syn)[0, present] - want[0, present]).abs().max() > 0.1  # an untrained generator's own colours


def test_large_pictures_build_the_shift_smaller_and_get_the_same_colours(monkeypatch):
    ids, ref_ids = _two_class_scene(1024, 16)
    ids[700:760, 100:900] = 5  # a water stroke the thumbnail lost
    out = torch.zeros(1, 3, 1024, 1024)
    ref = torch.full((1, 3, 16, 16), 0.25)
    ref[:, :, :8] = torch.linspace(0.1, 0.9, 8)[:, None]  # a gradient, so the shift is not flat
    small = match_look(out, ids, ref, ref_ids, len(CLASSES))  # built at 512 px, enlarged
    monkeypatch.setattr(looks, "FIELD_SIDE", 4096)
    full = match_look(out, ids, ref, ref_ids, len(CLASSES))  # built at 1024 px
    away = torch.ones(1024, 1024, dtype=torch.bool)
    away[496:528] = False  # the horizon's softened step
    away[690:770, 90:910] = False  # and the stroke's
    assert torch.allclose(small[0, :, away], full[0, :, away], atol=0.02)
    assert float((small - full).abs().mean()) < 0.005
    assert float(small[0, :, 720:740, 300:700].abs().max()) < 1e-6  # the lost stroke keeps its colour
