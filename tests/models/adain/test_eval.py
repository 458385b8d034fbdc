"""AdaIN evaluation: the metrics against closed forms, the harness on an identity "network", the CLI end to end."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.adain.eval import colour_transfer, evaluate, main, structure_distance
from models.adain.infer import Stylizer
from models.adain.net import AdaINNet

pytestmark = pytest.mark.usefixtures("one_thread")


def test_structure_distance_closed_forms():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 64, 32, 32, generator=g)
    assert structure_distance(a, a).abs().max() < 1e-6
    # Per-channel gain and offset (what AdaIN changes) do not count as structure.
    affine = a * torch.rand(1, 64, 1, 1, generator=g).add(0.5) + torch.randn(1, 64, 1, 1, generator=g)
    assert structure_distance(affine, a).abs().max() < 1e-3
    # Independent unit-variance maps: E[(x - y)^2] = 2.
    b = torch.randn(2, 64, 32, 32, generator=g)
    assert torch.allclose(structure_distance(a, b), torch.full((2,), 2.0), atol=0.05)


def test_colour_transfer_matches_style_channel_statistics():
    g = torch.Generator().manual_seed(1)
    content = 0.5 + 0.05 * torch.randn(1, 3, 16, 16, generator=g)
    style = 0.45 + 0.08 * torch.randn(1, 3, 16, 16, generator=g)  # stays inside [0, 1]: no clamping
    out = colour_transfer(content, style)
    torch.testing.assert_close(out.mean((2, 3)), style.mean((2, 3)), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std((2, 3)), style.std((2, 3)), atol=1e-3, rtol=0)


def _img(seed: int, size=(40, 32)) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8)
    return Image.fromarray(arr).resize(size, Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def net() -> AdaINNet:
    torch.manual_seed(0)
    return AdaINNet()


def test_harness_scores_an_identity_network_as_the_unchanged_content(net):
    real = Stylizer(net, device="cpu", bf16=False, channels_last=False)

    class Identity:  # "stylizes" by returning the content: every network row must equal the unchanged row
        net, device = real.net, real.device

        @staticmethod
        def stylize(content, styles, size=None):
            return content

    contents, styles = [_img(1), _img(2), _img(3)], [_img(4), _img(5)]
    r = evaluate(Identity(), contents, styles, size=32)
    assert r.pairs == 6
    assert r["network"]["structure"] < 1e-6 and r["network, self-reconstruction"]["structure"] < 1e-6
    assert r["network"]["style"] == pytest.approx(r["content unchanged"]["style"], rel=1e-5)
    assert r["unrelated image"]["structure"] > 0.5
    assert r["colour transfer"]["style"] < r["content unchanged"]["style"]
    table = r.table()
    assert "| network, self-reconstruction | — | — |" in table
    assert any("FAIL" in v for v in r.verdict())  # no stylization at all: the style target fails


def test_cli_writes_table_card_and_json(net, tmp_path, capsys):
    from models.common.training import export_weights

    for kind, seeds in (("content", (1, 2)), ("style", (3,))):
        (tmp_path / "data" / kind).mkdir(parents=True)
        for s in seeds:
            _img(s).save(tmp_path / "data" / kind / f"{s}.png")
    ckpt = export_weights(
        net.trainable_state_dict(),
        net.config.to_dict(),
        "adain",
        "instance",
        path=tmp_path / "adain_instance.safetensors",
    )
    card = tmp_path / "card.md"
    card.write_text("# card\n\n## Notes\n\nx\n")
    argv = [
        "--checkpoint",
        str(ckpt),
        "--data",
        str(tmp_path / "data"),
        "--size",
        "32",
        "--device",
        "cpu",
        "--card",
        str(card),
        "--json",
        str(tmp_path / "e.json"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| network |" in out and "target <= 0.20" in out and "worst 10 %" in out
    assert "## Evaluation" in card.read_text() and "## Notes" in card.read_text()
    saved = json.loads((tmp_path / "e.json").read_text())
    metrics = saved["metrics"]
    assert len(saved["ratios"]) == saved["pairs"] > 0
    assert abs(saved["style_ratio"]["mean"] - sum(saved["ratios"]) / len(saved["ratios"])) < 1e-9
    assert main(argv) == 0  # a second run replaces the section instead of adding one
    assert card.read_text().count("## Evaluation") == 1 and card.read_text().count("## Notes") == 1
    assert set(metrics) == {
        "network",
        "content unchanged",
        "colour transfer",
        "unrelated image",
        "network, self-reconstruction",
    }
    assert main(["--data", str(tmp_path / "nowhere")]) == 2
    assert "normlab data starter" in capsys.readouterr().err
