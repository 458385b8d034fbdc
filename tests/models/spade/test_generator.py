"""SPADE generator, style encoder, one-hot and spectral-norm baking."""
import pytest
import torch

from models.spade.generator import GenConfig, SPADEGenerator, bake_spectral_norm, one_hot

TINY = dict(ngf=4, spade_hidden=8, z_dim=8)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_output_shape_and_range_at_several_sizes(size):
    cfg = GenConfig(size=size, **TINY)
    G = SPADEGenerator(cfg)
    assert len(G.ups) == cfg.num_up == {32: 2, 64: 3, 128: 4}[size]
    seg = one_hot(torch.randint(0, cfg.label_nc, (2, 40, 24)), cfg.label_nc)  # any mask size works
    out = G(seg)
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1 and torch.isfinite(out).all()


def test_z_changes_the_output_and_encoder_gives_codes():
    cfg = GenConfig(size=32, **TINY)
    G = SPADEGenerator(cfg).eval()
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 32, 32)), cfg.label_nc)
    a, b = G(seg, torch.randn(1, 8)), G(seg, torch.randn(1, 8))
    assert (a - b).abs().mean() > 1e-4
    mu, logvar = G.encode(torch.rand(3, 3, 50, 40) * 2 - 1)
    assert mu.shape == logvar.shape == (3, 8)


def test_without_vae_output_is_deterministic_and_encode_refuses():
    cfg = GenConfig(size=32, use_vae=False, **TINY)
    G = SPADEGenerator(cfg).eval()
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 32, 32)), cfg.label_nc)
    assert torch.equal(G(seg), G(seg))
    with pytest.raises(ValueError, match="no style encoder"):
        G.encode(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("norm", ["batch", "group", "online", "proxy", "none"])
def test_norm_is_injected_by_name(norm):
    cfg = GenConfig(size=32, norm=norm, **TINY)
    G = SPADEGenerator(cfg)
    seg = one_hot(torch.randint(0, cfg.label_nc, (2, 32, 32)), cfg.label_nc)
    out = G(seg)
    out.mean().backward()
    assert torch.isfinite(out).all()
    inner = G.head.norm_0.norm
    assert type(inner).__name__.lower().startswith(norm[:4]) or norm == "none"


def test_bad_config_and_inputs_raise_clearly():
    with pytest.raises(ValueError, match="power of two"):
        GenConfig(size=48).validate()
    with pytest.raises(ValueError, match="valid names"):
        SPADEGenerator(GenConfig(norm="bogus", size=32, **TINY))
    G = SPADEGenerator(GenConfig(size=32, **TINY))
    with pytest.raises(ValueError, match="one-hot label map"):
        G(torch.zeros(1, 3, 32, 32))


def test_one_hot_ignore_and_range():
    ids = torch.tensor([[[0, 2], [255, 1]]])
    oh = one_hot(ids, 3)
    assert oh.shape == (1, 3, 2, 2)
    assert oh[0, :, 1, 0].sum() == 0  # ignore -> all-zero
    assert oh[0, 2, 0, 1] == 1 and oh.sum() == 3
    with pytest.raises(ValueError, match="0..2"):
        one_hot(torch.tensor([[[5]]]), 3)


def test_config_dict_round_trip_ignores_unknown_keys():
    cfg = GenConfig(size=64, ngf=8)
    again = GenConfig.from_dict(cfg.to_dict() | {"training": {"steps": 3}})
    assert again == cfg


def test_bake_spectral_norm_matches_converged_power_iteration():
    cfg = GenConfig(size=32, **TINY)
    G = SPADEGenerator(cfg)
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 32, 32)), cfg.label_nc)
    z = torch.randn(1, 8)
    with torch.no_grad():
        for _ in range(25):  # training-mode forwards run power iterations until u, v converge
            G(seg, z)
        G.eval()
        ref = G(seg, z)
        plain = bake_spectral_norm(G)
        out = plain(seg, z)
    assert not any("parametrizations" in k for k in plain.state_dict())
    assert not plain.cfg.spectral and G.cfg.spectral  # the original is left untouched
    assert torch.allclose(ref, out, atol=2e-3)
    assert torch.equal(G(seg, z), ref)


def test_other_aspect_ratios():
    cfg = GenConfig(size=32, **TINY)
    G = SPADEGenerator(cfg)
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 16, 40)), cfg.label_nc)
    assert G(seg, out_size=(16, 32)).shape == (1, 3, 16, 32)
    with pytest.raises(ValueError, match="multiples of 4"):
        G(seg, out_size=(10, 32))
    G2 = SPADEGenerator(GenConfig(size=32, use_vae=False, **TINY))
    assert G2(seg, out_size=(32, 8)).shape == (1, 3, 32, 8)
