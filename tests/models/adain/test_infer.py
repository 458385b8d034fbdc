"""AdaIN inference: alpha, interpolation, spatial control, colour preservation, sizes, caching, argument errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from models.adain.infer import Stylizer, match_color_covariance, prepare_mask, stylize_features
from models.adain.net import AdaINNet


pytestmark = pytest.mark.usefixtures("one_thread")


def _lively_net() -> AdaINNet:
    """A random network whose output actually varies (default init decodes to a near-constant, clamped image)."""
    torch.manual_seed(0)
    net = AdaINNet()
    convs = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        torch.nn.init.zeros_(conv.bias)
    with torch.no_grad():
        convs[-1].weight.mul_(0.05)
        convs[-1].bias.fill_(0.5)
    return net


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer(_lively_net(), device="cpu", bf16=False, channels_last=False)


def _img(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def feats():
    torch.manual_seed(3)
    fc = torch.rand(1, 512, 4, 4) * 5
    fs = [torch.rand(1, 512, 3, 5) * 3 + 1, torch.rand(1, 512, 4, 4) * 2]
    return fc, fs


def test_alpha_blends_features_linearly(stylizer, feats):
    fc, fs = feats
    net = stylizer.net
    t1 = stylize_features(net, fc, fs[:1], alpha=1.0)
    torch.testing.assert_close(stylize_features(net, fc, fs[:1], alpha=0.0), fc)
    torch.testing.assert_close(stylize_features(net, fc, fs[:1], alpha=0.3), 0.3 * t1 + 0.7 * fc)
    # t1 carries the style's channel statistics.
    torch.testing.assert_close(t1.mean((2, 3)), fs[0].mean((2, 3)), rtol=1e-4, atol=1e-4)


def test_alpha_zero_is_reconstruction_and_one_differs(stylizer):
    content, style = _img(32, 24, 0), _img(40, 40, 1)
    out0 = np.asarray(stylizer.stylize(content, [style], alpha=0.0, size=None), dtype=np.float32)
    with torch.inference_mode():
        x = torch.from_numpy(np.asarray(content, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        recon = stylizer.net.decode(stylizer.net.encode(x)["relu4_1"]).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(out0 - recon).max() <= 1.0  # only 8-bit rounding
    out1 = np.asarray(stylizer.stylize(content, [style], alpha=1.0, size=None), dtype=np.float32)
    assert np.abs(out1 - out0).mean() > 0.5


def test_interpolation_weights(stylizer, feats):
    fc, fs = feats
    net = stylizer.net
    ta, tb = (stylize_features(net, fc, [s]) for s in fs)
    torch.testing.assert_close(stylize_features(net, fc, fs, weights=[0.25, 0.75]), 0.25 * ta + 0.75 * tb)
    torch.testing.assert_close(stylize_features(net, fc, fs, weights=[1.0, 0.0]), ta)
    # stylize() normalises weights: [2, 6] == [0.25, 0.75]; [1, 0] == the first style alone.
    c, s1, s2 = _img(24, 24, 0), _img(24, 24, 1), _img(24, 24, 2)
    a = np.asarray(stylizer.stylize(c, [s1, s2], weights=[2, 6], size=None))
    b = np.asarray(stylizer.stylize(c, [s1, s2], weights=[0.25, 0.75], size=None))
    assert np.array_equal(a, b)
    only = np.asarray(stylizer.stylize(c, [s1], size=None))
    assert (
        np.abs(
            np.asarray(stylizer.stylize(c, [s1, s2], weights=[1, 0], size=None), np.int16) - only.astype(np.int16)
        ).max()
        <= 1
    )


def test_mask_uses_region_statistics(stylizer, feats):
    fc, fs = feats
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1  # left half -> style 0, right half -> style 1
    t = stylize_features(stylizer.net, fc, fs, mask=mask)
    left, right = t[..., :2], t[..., 2:]
    torch.testing.assert_close(left.mean((2, 3)), fs[0].mean((2, 3)), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(right.mean((2, 3)), fs[1].mean((2, 3)), rtol=1e-4, atol=1e-4)
    # A mask covering everything is the first style alone; covering nothing, the second.
    torch.testing.assert_close(
        stylize_features(stylizer.net, fc, fs, mask=torch.ones(1, 1, 4, 4)), stylize_features(stylizer.net, fc, fs[:1])
    )
    torch.testing.assert_close(
        stylize_features(stylizer.net, fc, fs, mask=torch.zeros(1, 1, 4, 4)), stylize_features(stylizer.net, fc, fs[1:])
    )


def test_mask_end_to_end(stylizer):
    c, s1, s2 = _img(32, 32, 0), _img(32, 32, 1), _img(32, 32, 2)
    full = np.full((32, 32), 255, np.uint8)
    a = np.asarray(stylizer.stylize(c, [s1, s2], mask=full, size=None), np.int16)
    b = np.asarray(stylizer.stylize(c, [s1], size=None), np.int16)
    assert np.abs(a - b).max() <= 1
    half = Image.fromarray(np.tile(np.r_[np.full(16, 255), np.zeros(16)].astype(np.uint8), (32, 1)), "L")
    out = stylizer.stylize(c, [s1, s2], mask=half, size=None)
    assert out.size == (32, 32)


def test_prepare_mask_modes():
    rgba = Image.new("RGBA", (8, 8), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (0, 0, 4, 8))
    m = prepare_mask(rgba, (8, 8))
    assert m.shape == (1, 1, 8, 8) and m[..., :4].min() == 1 and m[..., 4:].max() == 0
    arr = np.zeros((4, 4), bool)
    arr[0] = True
    assert prepare_mask(arr.astype(np.float32), (4, 4))[0, 0, 0].min() == 1
    with pytest.raises(ValueError, match="mask"):
        prepare_mask("nope", (4, 4))  # type: ignore[arg-type]


def test_covariance_colour_matching_matches_content_statistics():
    torch.manual_seed(0)
    # Mid-range images with modest spread so that no clamping happens.
    mix = torch.tensor([[0.10, 0.02, 0.00], [0.03, 0.08, 0.01], [0.00, 0.02, 0.05]])
    style = (0.5 + torch.einsum("ij,jhw->ihw", mix, torch.randn(3, 20, 30))).clamp(0, 1)
    content = (0.4 + 0.05 * torch.randn(3, 25, 25) + torch.tensor([0.1, 0.0, -0.1]).view(3, 1, 1)).clamp(0, 1)
    out = match_color_covariance(style, content)
    assert out.shape == style.shape
    ref_c = np.cov(content.reshape(3, -1).double().numpy(), bias=True)  # divided by the pixel count
    got = np.cov(out.reshape(3, -1).double().numpy(), bias=True)
    np.testing.assert_allclose(got, ref_c, atol=2e-4)
    np.testing.assert_allclose(out.reshape(3, -1).mean(1).numpy(), content.reshape(3, -1).mean(1).numpy(), atol=1e-4)


def test_luminance_preservation_keeps_content_chroma(stylizer):
    from kornia.color import rgb_to_ycbcr

    c, s = _img(32, 32, 4), _img(32, 32, 5)
    out = stylizer.stylize(c, [s], preserve_color="luminance", size=None)
    to_t = lambda im: torch.from_numpy(np.asarray(im, np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    cc, oc = rgb_to_ycbcr(to_t(c))[0, 1:], rgb_to_ycbcr(to_t(out))[0, 1:]
    assert (cc - oc).abs().mean() < 0.02
    plain = stylizer.stylize(c, [s], size=None)
    assert (rgb_to_ycbcr(to_t(plain))[0, 1:] - cc).abs().mean() > (cc - oc).abs().mean()


def test_covariance_mode_runs_and_changes_output(stylizer):
    c, s = _img(32, 32, 6), _img(32, 32, 7)
    a = np.asarray(stylizer.stylize(c, [s], preserve_color="covariance", size=None), np.int16)
    b = np.asarray(stylizer.stylize(c, [s], size=None), np.int16)
    assert a.shape == b.shape and np.abs(a - b).mean() > 0.1


def test_size_keeps_aspect_ratio_and_odd_sizes(stylizer):
    c, s = _img(50, 30, 0), _img(20, 20, 1)
    assert stylizer.stylize(c, [s], size=40).size == (40, 24)
    assert stylizer.stylize(c, [s], size=None).size == (50, 30)  # not a multiple of 8: padded then cropped


def test_style_features_are_cached(stylizer, monkeypatch):
    stylizer.clear_cache()
    calls = []
    encode = stylizer.net.encoder.forward_to
    monkeypatch.setattr(stylizer.net.encoder, "forward_to", lambda x, layer: calls.append(x.shape) or encode(x, layer))
    c, s = _img(24, 24, 0), _img(24, 24, 1)
    stylizer.stylize(c, [s], size=None)
    stylizer.stylize(c, [s], size=None)
    assert len(calls) == 3  # content twice, style once
    assert len(stylizer._style_cache) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=1.5), r"alpha must be in \[0, 1\]"),
        (dict(alpha=-0.1), r"alpha must be in \[0, 1\]"),
        (dict(weights=[1.0, 2.0]), "one weight per style"),
        (dict(weights=[-1.0]), "non-negative"),
        (dict(weights=[0.0]), "all be zero"),
        (dict(mask=np.ones((8, 8))), "exactly 2 styles"),
        (dict(preserve_color="hue"), "preserve_color"),
        (dict(size=4), "size"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(stylizer, kwargs, match):
    with pytest.raises(ValueError, match=match):
        stylizer.stylize(_img(16, 16, 0), [_img(16, 16, 1)], **kwargs)


def test_no_styles_and_mask_with_weights(stylizer):
    with pytest.raises(ValueError, match="at least one style"):
        stylizer.stylize(_img(16, 16, 0), [])
    with pytest.raises(ValueError, match="cannot be combined"):
        stylizer.stylize(_img(16, 16, 0), [_img(16, 16, 1)] * 2, weights=[1, 1], mask=np.ones((8, 8)))


def test_properties(stylizer):
    assert stylizer.norm == "instance" and stylizer.config.decoder_norm == "none"
