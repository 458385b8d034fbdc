"""SPADE generator, style encoder, one-hot and spectral-norm baking."""

import pytest
import torch
from torch.nn.utils import parametrize

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
        # converge every layer's u, v (100 power iterations each) without 100 forward passes: this test runs for
        # most of the generator's mutants in `make mutate`
        for m in G.modules():
            if parametrize.is_parametrized(m, "weight"):
                sn, w = m.parametrizations.weight[0], m.parametrizations.weight.original
                sn._power_method(sn._reshape_weight_to_matrix(w), 100)
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


# --- every config limit and message at its boundary (mutation survivors of tools/mutate.py) ---


def test_config_limits_are_exact_with_their_messages():
    import argparse

    from models.spade.generator import ARCHS, arch_arg

    assert arch_arg("crop") == "crop" and arch_arg("grid") == "grid"
    with pytest.raises(argparse.ArgumentTypeError, match=r"^unknown architecture 'tiles'; choose one of: crop, grid$"):
        arch_arg("tiles")
    assert ARCHS == ("crop", "grid")
    GenConfig(arch="grid", size=32).validate()  # the smallest grid
    for bad, words in [
        (dict(arch="tiles"), r"^unknown architecture 'tiles'; choose one of: crop, grid$"),
        (dict(arch="grid", size=16), r"^size must be a power of two >= 32, got 16$"),
        (dict(arch="grid", size=96), r"^size must be a power of two >= 32, got 96$"),
        (dict(depth=0), r"^depth must be in 1..6, got 0$"),
        (dict(depth=7, size=128), r"^depth must be in 1..6, got 7$"),
        (dict(size=24), r"^picture sides must be multiples of 16 \(2\*\*depth\), got 24$"),
        (dict(size=8, depth=4), r"^picture sides must be multiples of 16 \(2\*\*depth\), got 8$"),
        (dict(native=[64, 72]), r"^picture sides must be multiples of 16 \(2\*\*depth\), got 72$"),
        (dict(z_ch=0), r"^z_ch must be positive$"),
        (dict(ngf=0), r"^ngf, z_dim and spade_hidden must be positive$"),
        (dict(z_dim=0), r"^ngf, z_dim and spade_hidden must be positive$"),
        (dict(spade_hidden=0), r"^ngf, z_dim and spade_hidden must be positive$"),
        (dict(classes=[]), r"^the generator needs at least one class$"),
    ]:
        with pytest.raises(ValueError, match=words):
            GenConfig(**bad).validate()
    # both ends of the allowed ranges
    for ok in (dict(depth=1, size=2), dict(depth=6, size=64), dict(z_ch=1, ngf=1, z_dim=1, spade_hidden=1)):
        assert GenConfig(**ok).validate() is not None
    assert GenConfig(arch="grid", size=64, z_ch=0, depth=0).validate().arch == "grid"  # crop limits: crop only


def test_config_properties():
    crop = GenConfig(depth=3, size=16, native=[32, 64, 16])
    assert (crop.num_up, crop.multiple, crop.native_range) == (3, 8, (16, 64))
    grid = GenConfig(arch="grid", size=128)
    assert (grid.num_up, grid.multiple, grid.native_range) == (4, 16, (128, 128))  # 8 x 8 -> 128 x 128
    assert GenConfig().label_nc == len(GenConfig().classes) > 1
    assert GenConfig().classes[0].keys() == {"id", "name", "color"}


def test_config_defaults_and_old_files():
    cfg = GenConfig()
    assert (cfg.arch, cfg.size, cfg.ngf, cfg.norm, cfg.spade_hidden, cfg.use_vae, cfg.z_dim) == (
        "crop",
        128,
        32,
        "instance",
        64,
        True,
        256,
    )
    assert (cfg.depth, cfg.z_ch, cfg.noise, cfg.enc_size, cfg.native, cfg.spectral) == (4, 16, True, 64, [], True)
    old = GenConfig.from_dict({"size": 64, "ngf": 8})  # written before `arch` and `noise` existed
    assert (old.arch, old.noise, old.size, old.ngf) == ("grid", False, 64, 8)
    new = GenConfig.from_dict(GenConfig(size=64).to_dict())
    assert (new.arch, new.noise) == ("crop", True)
    with pytest.raises(ValueError, match="power of two"):
        GenConfig.from_dict({"size": 48})  # from_dict validates


def test_one_hot_checks_shape_and_every_id_exactly():
    with pytest.raises(ValueError, match=r"^expected label ids \(B, H, W\), got shape \(2, 2\)$"):
        one_hot(torch.zeros(2, 2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r"^label ids must be in 0..2 \(or 255 = ignore\)$"):
        one_hot(torch.tensor([[[3]]]), 3)
    with pytest.raises(ValueError, match=r"^label ids must be in 0..2 \(or 9 = ignore\)$"):
        one_hot(torch.tensor([[[-1]]]), 3, ignore_index=9)
    got = one_hot(torch.tensor([[[0, 2], [9, 1]]]), 3, ignore_index=9)
    assert got.dtype == torch.float32 and got.shape == (1, 3, 2, 2)
    assert got[0].tolist() == [[[1, 0], [0, 0]], [[0, 0], [0, 1]], [[0, 1], [0, 0]]]


def test_noise_maps_have_two_channels_at_every_blocks_resolution():
    cfg = GenConfig(size=32, depth=4, **TINY)
    g = CropSPADEGenerator(cfg)
    assert g.noise_shapes(64, 32) == [(2, 4, 2), (2, 4, 2), (2, 8, 4), (2, 16, 8), (2, 32, 16), (2, 64, 32)]
    maps = g.make_noise(3, 64, 32, generator=torch.Generator().manual_seed(0))
    assert [tuple(m.shape) for m in maps] == [(3, *s) for s in g.noise_shapes(64, 32)]
    again = g.make_noise(3, 64, 32, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(maps, again))
    assert CropSPADEGenerator(GenConfig(size=32, noise=False, **TINY)).make_noise(1, 32, 32) is None


def test_the_style_encoder_resizes_other_sizes_with_antialiasing():
    import torch.nn.functional as F

    from models.spade.generator import StyleEncoder

    torch.manual_seed(0)
    enc = StyleEncoder(16, 4, 8, norm="instance").eval()
    img = torch.rand(1, 3, 40, 56) * 2 - 1
    small = F.interpolate(img, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        got, want = enc(img), enc(small)
        torch.testing.assert_close(got[0], want[0])
        torch.testing.assert_close(got[1], want[1])
        plain = enc(F.interpolate(img, size=(16, 16), mode="bilinear", align_corners=True))
    assert not torch.allclose(got[0], plain[0])  # the antialiased resize is the one used
    g = CropSPADEGenerator(GenConfig(size=32, use_vae=False, **TINY))
    with pytest.raises(ValueError, match=r"^this generator has no style encoder \(trained with use_vae=False\)$"):
        g.encode(img)


# --- the grid generator's wiring, checked block by block (mutation survivors of tools/mutate.py) ---


def _is_spectral(conv) -> bool:
    return hasattr(conv, "weight_orig") or parametrize.is_parametrized(conv, "weight")


def test_every_block_of_the_grid_generator_gets_the_norm_and_spectral_norm():
    from norms.spade import SPADE

    G = SPADEGenerator(GenConfig(arch="grid", size=32, norm="batch", **TINY))
    blocks = {"head": G.head, "middle": G.middle, **{f"up{i}": b for i, b in enumerate(G.ups)}}
    for name, block in blocks.items():
        spades = [m for m in block.modules() if isinstance(m, SPADE)]
        assert spades and all(type(s.norm).__name__.startswith("Batch") for s in spades), name
        convs = [m for n, m in block.named_children() if n.startswith("conv_")]
        assert convs and all(_is_spectral(c) for c in convs), name
    enc_convs = [m for m in G.encoder.body if isinstance(m, torch.nn.Conv2d)]
    assert all(_is_spectral(c) for c in enc_convs)
    names = [type(m).__name__ for m in G.encoder.body.modules()]
    assert names.count("BatchNorm") == names.count("NormAct") >= 2 and not any("Instance" in n for n in names), names
    assert enc_convs[0].out_channels == 8  # the encoder is at least 8 wide (ngf 4 here)
    plain = SPADEGenerator(GenConfig(arch="grid", size=32, spectral=False, **TINY))
    assert not any(_is_spectral(m) for m in plain.modules() if isinstance(m, torch.nn.Conv2d))


def test_grid_channels_and_output_sizes():
    G = SPADEGenerator(GenConfig(arch="grid", size=256, ngf=2, spade_hidden=8, z_dim=8))
    assert G._channels() == [32, 32, 16, 8, 4, 2]  # ngf * min(16, size / resolution): capped at 16x
    G = SPADEGenerator(GenConfig(arch="grid", size=64, **TINY)).eval()  # three upsamplings: multiples of 8
    seg = one_hot(torch.randint(0, G.cfg.label_nc, (1, 32, 32)), G.cfg.label_nc)
    assert G(seg, out_size=(8, 16)).shape == (1, 3, 8, 16)  # the smallest: one start cell
    for bad in [(8, 12), (12, 8), (4, 8), (0, 8)]:
        with pytest.raises(
            ValueError, match=rf"^out_size must be positive multiples of 8, got \({bad[0]}, {bad[1]}\)$"
        ):
            G(seg, out_size=bad)


def test_grid_generator_runs_in_fp64_and_ends_with_a_0_2_leaky_relu():
    import torch.nn.functional as F

    G = SPADEGenerator(GenConfig(arch="grid", size=32, **TINY)).double().eval()
    seg = one_hot(torch.randint(0, G.cfg.label_nc, (1, 32, 32)), G.cfg.label_nc).double()
    seen = {}
    G.ups[-1].register_forward_hook(lambda m, a, out: seen.update(last=out))
    G.conv_img.register_forward_pre_hook(lambda m, a: seen.update(into=a[0]))
    with torch.no_grad():
        out = G(seg)  # z drawn in the label map's dtype
    assert out.dtype == torch.float64
    torch.testing.assert_close(seen["into"], F.leaky_relu(seen["last"], 0.2), rtol=0, atol=0)


def test_crop_generator_checks_its_inputs_and_hands_each_block_its_box_and_noise():
    cfg = GenConfig(size=32, depth=2, **TINY)
    g = CropSPADEGenerator(cfg).eval()
    with pytest.raises(
        ValueError, match=rf"^generator expects a one-hot label map \(B, {cfg.label_nc}, H, W\), got \(1, 3, 32, 32\)$"
    ):
        g(torch.zeros(1, 3, 32, 32))
    seg = one_hot(torch.randint(0, cfg.label_nc, (1, 32, 32)), cfg.label_nc)
    with pytest.raises(ValueError, match=r"^noise must hold 4 maps \(one per block\), got 3$"):
        g(seg, noise=g.make_noise(1, 32, 32)[:3])
    boxes = []
    real = g.condition
    g.condition = lambda seg_, z_map, box, f: boxes.append(box) or real(seg_, z_map, box, f)
    noise = g.make_noise(1, 32, 32, generator=torch.Generator().manual_seed(1))
    got = {}
    for name, block in [("head", g.head), ("middle", g.middle), *[(f"up{i}", b) for i, b in enumerate(g.ups)]]:
        block.register_forward_pre_hook(lambda m, a, name=name: got.update({name: a[2]}))
    box = torch.tensor([[0.25, 0.0, 0.5, 1.0]])
    z = torch.randn(1, cfg.z_dim)
    with torch.no_grad():
        out = g(seg, z=z, box=box, noise=noise)
        out64 = g(seg, z=z.double(), box=box, noise=noise)  # z in another dtype is cast to the weights'
    assert torch.equal(out, out64)
    assert len(boxes) == 2 * (1 + len(g.ups)) and all(b is box for b in boxes)  # head/middle share one
    assert [got[k] is n for k, n in zip(["head", "middle", "up0", "up1"], noise)] == [True] * 4


def test_grid_generator_stretches_the_codes_layout_bilinearly_for_another_aspect_ratio():
    import torch.nn.functional as F

    G = SPADEGenerator(GenConfig(arch="grid", size=32, **TINY)).double().eval()
    seg = one_hot(torch.randint(0, G.cfg.label_nc, (1, 32, 64)), G.cfg.label_nc).double()
    z = torch.randn(1, G.cfg.z_dim, dtype=torch.float64)
    seen = {}
    G.head.register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    with torch.no_grad():
        assert G(seg, z, out_size=(32, 64)).shape == (1, 3, 32, 64)
        want = F.interpolate(G.fc(z).view(1, -1, 8, 8), size=(8, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(seen["x"], want, rtol=0, atol=0)


def test_position_channels_against_the_closed_form():
    import math

    box = torch.tensor([[8.0, 4.0, 1024.0, 512.0], [0.0, 0.0, 64.0, 96.0]])
    h, w, stride = 3, 5, 4
    got = position_channels(box, 2, h, w, stride, dtype=torch.float64)
    assert got.dtype == torch.float64 and got.shape == (2, 3, h, w)
    for b, (top, left, height, width) in enumerate(box.tolist()):
        for i in range(h):
            for j in range(w):
                y = (top + (i + 0.5) * stride) / height * 2 - 1
                x = (left + (j + 0.5) * stride) / width * 2 - 1
                scale = math.log2(max(height, width) / 256)
                assert got[b, :, i, j].tolist() == pytest.approx([y, x, scale], abs=1e-6), (b, i, j)
    capped = position_channels(box, 2, h, w, stride, max_scale=0.5)
    assert capped[:, 2, 0, 0].tolist() == pytest.approx([0.5, math.log2(96 / 256)])  # 2.0 capped; -1.4 kept
    assert torch.equal(position_channels(None, 1, 2, 3), position_channels(None, 1, 2, 3, 1))  # stride 1 default


def test_the_crop_generators_scale_channel_stops_at_its_largest_native_size():
    g = CropSPADEGenerator(GenConfig(size=64, native=[64, 128], **TINY))
    assert g.max_scale == -1.0  # log2(128 / 256)
    seg = one_hot(torch.zeros(1, 512, 512, dtype=torch.long), g.cfg.label_nc)
    cond = g.condition(seg, None, None, 16)
    assert cond.shape == (1, g.cfg.label_nc + 3, 32, 32)
    assert torch.equal(cond[0, g.cfg.label_nc + 2], torch.full((32, 32), -1.0))  # 512 px: log2(2) = 1, capped
    free = CropSPADEGenerator(GenConfig(size=64, **TINY))
    assert free.max_scale is None and float(free.condition(seg, None, None, 16)[0, free.cfg.label_nc + 2, 0, 0]) == 1.0


def test_a_spade_res_block_against_its_equations():
    import torch.nn.functional as F

    from models.spade.generator import SPADEResBlock

    torch.manual_seed(0)
    blk = SPADEResBlock(4, 6, 3, "instance", 8, spectral=False, noise=True).double().eval()
    with torch.no_grad():
        blk.noise_0.copy_(torch.linspace(-1, 1, 4).view(1, 4, 1, 1))
        blk.noise_1.copy_(torch.linspace(0.5, 2, 6).view(1, 6, 1, 1))
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    seg = one_hot(torch.randint(0, 3, (2, 8, 8)), 3).double()
    noise = torch.randn(2, 2, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        got = blk(x, seg, noise)
        xs = blk.conv_s(blk.norm_s(x, seg))  # 4 -> 6 channels: the learned shortcut
        dx = blk.conv_0(F.leaky_relu(blk.norm_0(x, seg), 0.2)) + blk.noise_0 * noise[:, :1]
        dx = blk.conv_1(F.leaky_relu(blk.norm_1(dx, seg), 0.2)) + blk.noise_1 * noise[:, 1:2]
    torch.testing.assert_close(got, xs + dx, rtol=0, atol=1e-12)


def test_a_bf16_block_takes_fp32_noise():
    """Noise is drawn in fp32 on the CPU (the same picture on every device); a bf16 generator casts it."""
    from models.spade.generator import SPADEResBlock

    blk = SPADEResBlock(4, 4, 3, "instance", 8, spectral=False, noise=True).to(torch.bfloat16).eval()
    with torch.no_grad():
        blk.noise_0.fill_(1.0)
        blk.noise_1.fill_(1.0)
        out = blk(
            torch.randn(1, 4, 8, 8, dtype=torch.bfloat16),
            one_hot(torch.zeros(1, 8, 8).long(), 3).bfloat16(),
            torch.randn(1, 2, 8, 8),
        )
    assert out.dtype == torch.bfloat16


def test_every_block_of_the_crop_generator_gets_the_norm_spectral_norm_noise_and_hidden_width():
    from norms.spade import SPADE

    # batch (not SPADE's default instance norm), hidden 8 (not SPADE's default 128), noise on (not the block default)
    g = CropSPADEGenerator(GenConfig(size=32, depth=2, norm="batch", noise=True, **TINY))
    blocks = {"head": g.head, "middle": g.middle, **{f"up{i}": b for i, b in enumerate(g.ups)}}
    for name, block in blocks.items():
        spades = [m for m in block.modules() if isinstance(m, SPADE)]
        assert len(spades) == (3 if block.learned_shortcut else 2), name
        assert all(type(s.norm).__name__.startswith("Batch") for s in spades), name
        assert all(s.shared[0].out_channels == 8 for s in spades), name
        convs = [m for n, m in block.named_children() if n.startswith("conv_")]
        assert convs and all(_is_spectral(c) for c in convs), name
        assert block.noise_0 is not None and block.noise_1 is not None, name
    assert any(b.learned_shortcut for b in blocks.values())  # the shortcut's SPADE was checked too
    enc_convs = [m for m in g.encoder.body if isinstance(m, torch.nn.Conv2d)]
    assert enc_convs and all(_is_spectral(c) for c in enc_convs)
    names = [type(m).__name__ for m in g.encoder.body.modules()]
    assert names.count("BatchNorm") == names.count("NormAct") >= 2, names
    plain = CropSPADEGenerator(GenConfig(size=32, depth=2, spectral=False, noise=False, **TINY))
    assert not any(_is_spectral(m) for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    assert all(b.noise_0 is None and b.noise_1 is None for b in [plain.head, plain.middle, *plain.ups])
    with pytest.raises(ValueError, match=r"^CropSPADEGenerator is the 'crop' architecture, got arch='grid'$"):
        CropSPADEGenerator(GenConfig(arch="grid", size=32, **TINY))


def test_crop_channels_cap_at_16x_and_the_encoder_is_at_least_8_wide():
    g = CropSPADEGenerator(GenConfig(size=64, depth=5, ngf=2, spade_hidden=8, z_dim=8))
    widths = [g.head.conv_0.in_channels] + [b.conv_1.out_channels for b in g.ups]
    assert widths == [32, 32, 16, 8, 4, 2]  # ngf * min(16, 2**(depth - i)): 2**5 = 32 capped at 16
    assert g.conv_img.in_channels == 2
    for ngf, first in [(4, 8), (8, 8), (12, 12)]:
        enc = CropSPADEGenerator(GenConfig(size=32, depth=2, ngf=ngf, spade_hidden=8, z_dim=8)).encoder
        assert enc.body[0].out_channels == first, ngf


def test_the_style_encoder_layers_one_by_one():
    from models.spade.generator import StyleEncoder
    from norms.activations import Act

    enc = StyleEncoder(64, 4, 8, "instance")  # 64 -> 4 x 4 in four stride-2 steps; spectral norm by default
    convs = [m for m in enc.body if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32]  # ngf * min(2**i, 8)
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    assert all(_is_spectral(c) for c in convs)
    acts = list(enc.body)[1::2]
    assert type(acts[0]) is torch.nn.LeakyReLU and acts[0].negative_slope == 0.2  # no norm on the first layer
    for a in acts[1:]:
        assert type(a).__name__ == "NormAct" and "Instance" in type(a[0]).__name__
        assert isinstance(a[1], Act) and a[1].name == "leaky_relu"
    assert enc.fc_mu.in_features == 32 * 16
    wide = StyleEncoder(128, 4, 8, "instance", spectral=False)
    assert [m.out_channels for m in wide.body if isinstance(m, torch.nn.Conv2d)] == [4, 8, 16, 32, 32]  # 8x cap
    assert not any(_is_spectral(m) for m in wide.modules() if isinstance(m, torch.nn.Conv2d))


def test_a_spade_res_block_has_no_noise_inputs_unless_asked():
    from models.spade.generator import SPADEResBlock

    block = SPADEResBlock(4, 4, 3, "batch", 8, False)
    assert block.noise_0 is None and block.noise_1 is None


def test_the_crop_generator_ends_with_a_0_2_leaky_relu():
    import torch.nn.functional as F

    g = CropSPADEGenerator(GenConfig(size=32, depth=2, **TINY)).eval()
    seg = one_hot(torch.randint(0, g.cfg.label_nc, (1, 32, 32)), g.cfg.label_nc)
    seen = {}
    g.ups[-1].register_forward_hook(lambda m, a, out: seen.update(last=out))
    g.conv_img.register_forward_pre_hook(lambda m, a: seen.update(into=a[0]))
    with torch.no_grad():
        g(seg)
    assert (seen["last"] < 0).any()
    torch.testing.assert_close(seen["into"], F.leaky_relu(seen["last"], 0.2), rtol=0, atol=0)
