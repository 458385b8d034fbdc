"""AdaIN network: decoder shapes, config round trip, losses against direct formulas, training decreases the loss."""

import pytest
import torch

from models.adain.net import STYLE_LAYERS, AdaINConfig, AdaINDecoder, AdaINNet, content_loss, style_loss


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net() -> AdaINNet:
    torch.manual_seed(0)
    return AdaINNet()


@pytest.mark.parametrize("norm", ["none", "batch", "group", "layer"])
def test_decoder_shapes(norm):
    dec = AdaINDecoder(norm=norm)
    out = dec(torch.randn(2, 512, 4, 5))
    assert out.shape == (2, 3, 32, 40)
    pads = [m.padding_mode for m in dec.modules() if isinstance(m, torch.nn.Conv2d)]
    ups = [m for m in dec.modules() if isinstance(m, torch.nn.Upsample)]
    assert set(pads) == {"reflect"} and len(ups) == 3 and all(u.mode == "nearest" for u in ups)


def test_decoder_rejects_wrong_channels():
    with pytest.raises(ValueError, match="512"):
        AdaINDecoder()(torch.randn(1, 256, 4, 4))


def test_config_round_trip_ignores_unknown_keys():
    cfg = AdaINConfig(norm="layer", decoder_norm="group", style_weight=3.0)
    d = cfg.to_dict()
    assert AdaINConfig.from_dict({**d, "future_field": 1}) == cfg
    assert AdaINConfig.from_dict({"norm": "batch"}).decoder_norm == "none"


def test_norm_is_chosen_by_registry_name():
    from norms import BatchNorm, InstanceNorm

    assert isinstance(AdaINNet(AdaINConfig(norm="instance")).adain.norm, InstanceNorm)
    assert isinstance(AdaINNet(AdaINConfig(norm="batch")).adain.norm, BatchNorm)
    with pytest.raises(ValueError, match="valid names"):
        AdaINNet(AdaINConfig(norm="nope"))


def test_style_loss_matches_direct_formula():
    torch.manual_seed(1)
    a = {k: torch.randn(2, 4, 6, 5) * 3 + 1 for k in STYLE_LAYERS}
    b = {k: torch.randn(2, 4, 7, 3) for k in STYLE_LAYERS}
    scales = {k: float(i + 1) for i, k in enumerate(STYLE_LAYERS)}
    want = 0.0
    for k in STYLE_LAYERS:
        ma, sa = a[k].mean((2, 3)), (a[k].var((2, 3), unbiased=False) + 1e-5).sqrt()
        mb, sb = b[k].mean((2, 3)), (b[k].var((2, 3), unbiased=False) + 1e-5).sqrt()
        want += (((ma - mb) / scales[k]) ** 2).mean() + (((sa - sb) / scales[k]) ** 2).mean()
    torch.testing.assert_close(style_loss(a, b, scales), want)
    assert style_loss(a, a, scales) < 1e-10
    x, y = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(content_loss(x, y, 2.0), ((x - y) / 2).pow(2).mean())


def test_trainable_state_excludes_encoder_and_checks_keys(net):
    state = net.trainable_state_dict()
    assert state and not any(k.startswith("encoder.") for k in state)
    assert any(k.startswith("decoder.") for k in state)
    other = AdaINNet(AdaINConfig(decoder_norm="batch"))
    with pytest.raises(ValueError, match="does not match"):
        other.load_trainable_state_dict(state)


def test_forward_shape_and_range(net):
    out = net(torch.rand(1, 3, 32, 24), torch.rand(1, 3, 40, 40))
    assert out.shape == (1, 3, 32, 24) and out.min() >= 0 and out.max() <= 1


def test_loss_decreases_over_20_cpu_steps():
    torch.manual_seed(0)
    model = AdaINNet()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    content = torch.stack([xx, yy, (xx * yy)], 0)[None]  # smooth gradients
    style = torch.rand(1, 3, 32, 32) * torch.tensor([1.0, 0.3, 0.2]).view(1, 3, 1, 1)  # reddish noise
    # The paper's lr: 1e-3 spikes early (one step jumped 199 -> 311) and left the 20-step ratio at 0.87.
    opt = torch.optim.Adam(model.decoder.parameters(), lr=1e-4)
    losses = []
    for _ in range(20):
        out = model.losses(content, style)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < 0.85 * sum(losses[:3]) / 3, losses  # measured 0.64-0.70 over seeds 0-3


def test_identity_term_reconstructs_the_content_and_trains_the_decoder():
    from models.adain.net import AdaINConfig, AdaINNet

    torch.manual_seed(0)
    net = AdaINNet(AdaINConfig(identity_weight=0.0))
    c, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    plain = net.losses(c, s)
    assert float(plain["identity"]) == 0.0
    net.config.identity_weight = 2.0
    out = net.losses(c, s)
    assert float(out["identity"]) > 0
    # the total adds the weighted identity term to the plain content/style loss of the same pair
    torch.testing.assert_close(out["loss"], plain["loss"] + 2.0 * out["identity"], rtol=1e-4, atol=1e-4)
    out["loss"].backward()
    assert all(p.grad is not None for p in net.decoder.parameters())
