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
from models.spade.looks import look_code, look_thumbnail, renderer_knows
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
        return torch.zeros(1, 8)

    monkeypatch.setattr("models.spade.infer.look_code", spy)
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
    assert looks.main([str(out), "--seed-looks", "prior"]) == 0  # in place, and back
    assert load_checkpoint(out, "spade")[1]["seed_looks"] == "prior"


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
