"""SPADE generator, style encoder, one-hot and spectral-norm baking."""

import pytest
import torch

from models.spade.generator import (
    CropSPADEGenerator,
    GenConfig,
    SPADEGenerator,
    bake_spectral_norm,
    build_generator,
    one_hot,
    position_channels,
)

TINY = dict(ngf=4, spade_hidden=8, z_dim=8)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_output_shape_and_range_at_several_sizes(size):
    cfg = GenConfig(arch="grid", size=size, **TINY)
    G = SPADEGenerator(cfg)
    assert len(G.ups) == cfg.num_up == {32: 2, 64: 3, 128: 4}[size]
    seg = one_hot(torch.randint(0, cfg.label_nc, (2, 40, 24)), cfg.label_nc)  # any mask size works
    out = G(seg)
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1 and torch.isfinite(out).all()


def test_z_changes_the_output_and_encoder_gives_codes():
    cfg = GenConfig(arch="grid", size=32, **TINY)
    G = SPADEGenerator(cfg).eval()
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 32, 32)), cfg.label_nc)
    a, b = G(seg, torch.randn(1, 8)), G(seg, torch.randn(1, 8))
    assert (a - b).abs().mean() > 1e-4
    mu, logvar = G.encode(torch.rand(3, 3, 50, 40) * 2 - 1)
    assert mu.shape == logvar.shape == (3, 8)


def test_without_vae_output_is_deterministic_and_encode_refuses():
    cfg = GenConfig(arch="grid", size=32, use_vae=False, **TINY)
    G = SPADEGenerator(cfg).eval()
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 32, 32)), cfg.label_nc)
    assert torch.equal(G(seg), G(seg))
    with pytest.raises(ValueError, match="no style encoder"):
        G.encode(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("norm", ["batch", "group", "online", "proxy", "none"])
def test_norm_is_injected_by_name(norm):
    cfg = GenConfig(arch="grid", size=32, norm=norm, **TINY)
    G = SPADEGenerator(cfg)
    seg = one_hot(torch.randint(0, cfg.label_nc, (2, 32, 32)), cfg.label_nc)
    out = G(seg)
    out.mean().backward()
    assert torch.isfinite(out).all()
    inner = G.head.norm_0.norm
    assert type(inner).__name__.lower().startswith(norm[:4]) or norm == "none"


def test_bad_config_and_inputs_raise_clearly():
    with pytest.raises(ValueError, match="power of two"):
        GenConfig(arch="grid", size=48).validate()
    with pytest.raises(ValueError, match="valid names"):
        SPADEGenerator(GenConfig(arch="grid", norm="bogus", size=32, **TINY))
    G = SPADEGenerator(GenConfig(arch="grid", size=32, **TINY))
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
    cfg = GenConfig(arch="grid", size=64, ngf=8)
    again = GenConfig.from_dict(cfg.to_dict() | {"training": {"steps": 3}})
    assert again == cfg


def test_bake_spectral_norm_matches_converged_power_iteration():
    cfg = GenConfig(arch="grid", size=32, **TINY)
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
    cfg = GenConfig(arch="grid", size=32, **TINY)
    G = SPADEGenerator(cfg)
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 16, 40)), cfg.label_nc)
    assert G(seg, out_size=(16, 32)).shape == (1, 3, 16, 32)
    with pytest.raises(ValueError, match="multiples of 4"):
        G(seg, out_size=(10, 32))
    G2 = SPADEGenerator(GenConfig(arch="grid", size=32, use_vae=False, **TINY))
    assert G2(seg, out_size=(32, 8)).shape == (1, 3, 32, 8)


# ------------------------------------------------------------------------------------------------
# the crop architecture (the default)
# ------------------------------------------------------------------------------------------------

CROP = dict(ngf=4, spade_hidden=8, z_dim=8, z_ch=4)


def _seg(h: int, w: int, b: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return one_hot(torch.randint(0, 10, (b, h, w), generator=g), 10)


@pytest.mark.parametrize("h, w", [(32, 32), (48, 80), (64, 16)])
def test_crop_generator_renders_any_multiple_of_16_at_the_label_maps_size(h, w):
    G = build_generator(GenConfig(**CROP))
    assert isinstance(G, CropSPADEGenerator) and G.cond_nc == 10 + 3 + 4
    out = G(_seg(h, w, b=2))
    assert out.shape == (2, 3, h, w) and out.abs().max() <= 1 and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="multiples of 16"):
        G(_seg(40, 32))
    with pytest.raises(ValueError, match="renders at the label map's size"):
        G(_seg(32, 32), out_size=(64, 64))


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_a_crops_position_channels_are_that_region_of_the_whole_pictures(stride):
    """What lets a generator trained on windows render the whole picture: a window's (y, x, scale) channels,
    computed from its box, equal the same cells of the whole picture's channels."""
    H, W, top, left, h, w = 64, 96, 16, 32, 32, 48
    whole = position_channels(None, 1, H // stride, W // stride, stride)
    box = torch.tensor([[top, left, H, W]], dtype=torch.float32)
    crop = position_channels(box, 1, h // stride, w // stride, stride)
    expected = whole[..., top // stride : (top + h) // stride, left // stride : (left + w) // stride]
    assert torch.allclose(crop, expected, atol=1e-6)
    assert float(whole[0, 2].unique()) == pytest.approx(torch.log2(torch.tensor(96 / 256)).item())
    assert whole[0, 0, 0, 0] > -1 and whole[0, 0, -1, 0] < 1  # cell centres, inside the picture


def test_crop_generator_uses_the_box_and_the_style_code():
    G = build_generator(GenConfig(**CROP)).eval()
    seg, z = _seg(32, 32), torch.randn(1, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = G(seg, z)
        assert torch.equal(G(seg, z), ref)  # deterministic for one code
        assert (G(seg, torch.randn(1, 8)) - ref).abs().mean() > 1e-4  # z reaches the picture
        # the same labels placed elsewhere in a larger picture render differently: position matters
        moved = G(seg, z, box=torch.tensor([[64.0, 0.0, 256.0, 256.0]]))
        assert (moved - ref).abs().mean() > 1e-4
        mu, logvar = G.encode(torch.rand(2, 3, 100, 70) * 2 - 1)  # any picture size: resized to enc_size
    assert mu.shape == logvar.shape == (2, 8)


def test_crop_generator_without_vae_is_deterministic():
    G = build_generator(GenConfig(use_vae=False, **CROP)).eval()
    assert G.z_proj is None and G.cond_nc == 13
    seg = _seg(32, 48)
    assert torch.equal(G(seg), G(seg))
    with pytest.raises(ValueError, match="no style encoder"):
        G.encode(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("norm", ["instance", "batch", "group", "online", "proxy", "none"])
def test_crop_generator_norm_is_injected_by_name_and_trains(norm):
    G = build_generator(GenConfig(norm=norm, **CROP))
    out = G(_seg(32, 32, b=2), box=torch.tensor([[0.0, 32.0, 64.0, 64.0]] * 2))
    out.mean().backward()
    assert torch.isfinite(out).all()
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in G.parameters()
        if p.requires_grad and not getattr(p, "_is_proxy", False) and p.grad is not None
    )
    assert G.fc.weight.grad.abs().sum() > 0
    inner = G.head.norm_0.norm
    assert type(inner).__name__.lower().startswith(norm[:4]) or norm == "none"


def test_crop_bake_spectral_norm_keeps_the_function():
    G = build_generator(GenConfig(**CROP))
    seg, z = _seg(32, 32), torch.randn(1, 8)
    with torch.no_grad():
        for _ in range(100):  # deeper than the grid test's net: more power iterations until u, v converge
            G(seg, z)
        G.eval()
        ref = G(seg, z)
        plain = bake_spectral_norm(G)
        assert isinstance(plain, CropSPADEGenerator) and not plain.cfg.spectral
        assert torch.allclose(plain(seg, z), ref, atol=2e-3)


def test_arch_is_recorded_and_old_files_are_grid():
    cfg = GenConfig(native=[256, 512], **CROP)
    assert GenConfig.from_dict(cfg.to_dict()) == cfg and cfg.native_range == (256, 512)
    old = GenConfig(arch="grid", size=64, **TINY).to_dict()
    del old["arch"]  # a checkpoint written before the crop generator existed
    assert GenConfig.from_dict(old).arch == "grid" and isinstance(
        build_generator(GenConfig.from_dict(old)), SPADEGenerator
    )
    with pytest.raises(ValueError, match="unknown architecture"):
        GenConfig(arch="tiles").validate()
    with pytest.raises(ValueError, match="multiples of 16"):
        GenConfig(native=[200], **CROP).validate()
    with pytest.raises(ValueError, match="grid"):
        SPADEGenerator(GenConfig(**CROP))


def _noisy(G, scale: float = 0.5):
    """Give every noise input a non-zero weight (they start at 0, which hides the noise)."""
    with torch.no_grad():
        for name, p in G.named_parameters():
            if ".noise_" in name:
                p.fill_(scale)
    return G


def test_noise_inputs_start_silent_and_seeded_noise_is_reproducible():
    G = build_generator(GenConfig(**CROP)).eval()
    seg, z = _seg(32, 48), torch.randn(1, 8)
    with torch.no_grad():
        assert torch.equal(G(seg, z), G(seg, z))  # zero weights: a fine-tuned old generator starts unchanged
        _noisy(G)
        a, b = G(seg, z), G(seg, z)
        assert (a - b).abs().mean() > 1e-3  # fresh noise each call
        n1 = G.make_noise(1, 32, 48, torch.Generator().manual_seed(3))
        n2 = G.make_noise(1, 32, 48, torch.Generator().manual_seed(3))
        assert torch.equal(G(seg, z, noise=n1), G(seg, z, noise=n2))
        assert [tuple(n.shape[2:]) for n in n1] == [(2, 3), (2, 3), (4, 6), (8, 12), (16, 24), (32, 48)]
    with pytest.raises(ValueError, match="one per block"):
        G(seg, z, noise=n1[:-1])


def test_noise_weights_learn_from_zero_and_old_files_have_no_noise():
    G = build_generator(GenConfig(**CROP))
    G(_seg(32, 32), torch.randn(1, 8)).square().mean().backward()
    grads = [p.grad for n, p in G.named_parameters() if ".noise_" in n]
    assert grads and all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    old = GenConfig(**CROP).to_dict()
    del old["noise"]  # a checkpoint written before noise inputs existed
    cfg = GenConfig.from_dict(old)
    assert not cfg.noise and not any(".noise_" in n for n, _ in build_generator(cfg).named_parameters())
    assert build_generator(cfg).make_noise(1, 32, 32) is None


@pytest.mark.parametrize("stride", [16, 8, 4, 2, 1])
def test_a_windows_conditioning_is_that_window_of_the_whole_pictures(stride):
    """Labels, position and z channels of a window at each block stride = the same cells of the whole picture."""
    G = build_generator(GenConfig(**CROP)).eval()
    ids = torch.randint(0, 10, (1, 64, 96))
    seg = one_hot(ids, 10)
    z_map = G.z_proj(torch.randn(1, 8))
    whole = G.condition(seg, z_map, None, stride)
    top, left = 16, 32  # a window on the 16 px grid
    win = G.condition(
        seg[:, :, top : top + 32, left : left + 48],
        z_map,
        torch.tensor([[float(top), float(left), 64.0, 96.0]]),
        stride,
    )
    assert win.shape[2:] == (32 // stride, 48 // stride)
    assert torch.allclose(
        win, whole[:, :, top // stride : (top + 32) // stride, left // stride : (left + 48) // stride], atol=1e-6
    )


def test_every_block_sees_z_and_a_map_of_its_own_size():
    G = build_generator(GenConfig(**CROP)).eval()
    seen = []
    for name, module in G.named_modules():
        if type(module).__name__ == "SPADE":
            module.register_forward_hook(lambda m, inp, out, name=name: seen.append((name, inp[0].shape, inp[1])))
    with torch.no_grad():
        G(_seg(32, 48), torch.randn(1, 8) * 3)
    assert seen
    k = G.cfg.label_nc + 3
    for name, x_shape, cond in seen:
        assert cond.shape[2:] == x_shape[2:], name  # the conditioning at the block's own resolution
        assert cond[:, k:].abs().sum() > 0, name  # the z channels are there, not zeros
