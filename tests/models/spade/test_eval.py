"""Evaluation maths: confusion/mIoU and the Fréchet distance against independent references."""

import json
import re

import numpy as np
import pytest
import torch

from models.spade.eval import SegNet, confusion, frechet_distance, scores


def test_confusion_and_scores_by_hand():
    target = torch.tensor([0, 0, 1, 1, 2, 255])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    conf = confusion(pred, target, 3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    miou, acc = scores(conf)
    # IoU: class 0 = 1 / (2 + 2 - 1) = 1/3, class 1 = 2 / (3 + 2 - 2) = 2/3, class 2 = 0
    assert miou == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert acc == pytest.approx(3 / 5)


def test_frechet_distance_matches_scipy_reference():
    import scipy.linalg as linalg  # a dev dependency: a missing scipy fails here, loudly

    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 6))
    b = rng.normal(size=(150, 6)) @ rng.normal(size=(6, 6)) * 0.5 + 1.0
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(ref, rel=1e-6)
    assert abs(frechet_distance(torch.from_numpy(a), torch.from_numpy(a))) < 1e-8


def test_segnet_shapes():
    net = SegNet(5, width=4)
    assert net(torch.zeros(2, 3, 40, 24)).shape == (2, 5, 40, 24)


def test_eval_main_prints_table_and_updates_card(tmp_path, capsys):
    from models.common.checkpoint import save_checkpoint
    from models.spade.eval import main
    from models.spade.generator import GenConfig, SPADEGenerator, baked_state_dict

    cfg = GenConfig(arch="grid", size=32, ngf=4, spade_hidden=8, z_dim=8)
    ckpt = save_checkpoint(
        tmp_path / "spade_instance.safetensors",
        baked_state_dict(SPADEGenerator(cfg)),
        cfg.to_dict() | {"spectral": False},
        kind="spade",
    )
    ckpt.with_suffix(".md").write_text("# card\n\n## Samples\n\nx\n\n## Config\n\n{}\n")
    assert (
        main(
            [
                "--checkpoint",
                str(ckpt),
                "-n",
                "4",
                "--segnet-steps",
                "2",
                "--cache-dir",
                str(tmp_path),
                "--update-card",
                "--sizes",
                "32",
                "64",
                "--layouts",
                "procedural",
                "--seeds",
                "4",
                "--spread-layouts",
                "1",
                "--json",
                str(tmp_path / "eval.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = re.findall(
        r"^\| procedural \| (\d+) px \| ([0-9.]+) \| ([0-9.]+) \(([0-9.]+)x\) \|.*\| ([0-9.]+)x \| [^|]+ \| "
        r"([0-9.]+) \(([0-9.]+)\) \|.*$",
        out,
        re.M,
    )
    assert [r[0] for r in rows] == ["32", "64"]  # one row per output size
    for _, real, synth, ratio, detail, seed_diff, real_diff in rows:
        assert float(ratio) == pytest.approx(float(synth) / float(real), abs=0.01)
        assert float(detail) >= 0 and float(seed_diff) > 0 and float(real_diff) > 5  # random init: codes matter a bit
    assert "VGG-FD" in out and "grid generator" in out
    saved = json.loads((tmp_path / "eval.json").read_text())["results"]
    assert set(saved) == {"procedural_32", "procedural_64"} and set(saved["procedural_64"]) >= {
        "miou",
        "real_miou",
        "vgg_fd",
        "detail",
        "seed_diff",
    }
    card = ckpt.with_suffix(".md").read_text()
    assert card.index("## Evaluation") < card.index("## Samples") and "| 64 px |" in card
    assert (tmp_path / "segnet_32_2.pt").is_file() and (tmp_path / "segnet_64_2.pt").is_file()  # cached
    # a second evaluation replaces the section: one Evaluation, the other sections kept once
    assert (
        main(
            [
                "--checkpoint",
                str(ckpt),
                "-n",
                "4",
                "--segnet-steps",
                "2",
                "--cache-dir",
                str(tmp_path),
                "--update-card",
                "--sizes",
                "32",
            ]
        )
        == 0
    )
    card = ckpt.with_suffix(".md").read_text()
    assert card.count("## Evaluation") == 1 and card.count("## Samples") == 1 and card.count("## Config") == 1
    capsys.readouterr()
    assert main(["--checkpoint", str(tmp_path / "nope.safetensors")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_measure_scores_a_perfect_copy_as_real_and_an_upscale_as_blurry(tmp_path):
    """measure() on a fake synthesizer that returns the real render (at the asked size, or rendered at 64 px
    and scaled up): detail ~1 vs well below 0.5, mIoU equal to the real one, seeds that change nothing."""
    from types import SimpleNamespace

    from PIL import Image

    from models.landscape.render import generate_sample
    from models.spade.eval import EVAL_SEED, SegNet, measure

    class Copy:
        config = SimpleNamespace(size=128, use_vae=True)
        num_classes = 10

        def __init__(self, blur: bool) -> None:
            self.blur = blur

        def synthesize(self, ids, seed=0, size=None):
            layout = EVAL_SEED + seed % 10**6  # measure() passes layout i with seeds i and 10**6 + i
            img, _ = generate_sample(layout, 64 if self.blur else size)
            return Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC)

    net = SegNet(10, width=4).eval()
    # the seed spread on one layout and 4 seeds (the default 16 seeds on 8 layouts renders 256 pictures: ~30 s)
    sharp = measure(Copy(False), net, 4, size=128, net_size=64, n_seeds=4, spread_layouts=1)
    assert sharp["detail"] == pytest.approx(1.0, abs=1e-2)  # (8-bit rounding)
    assert sharp["miou"] == pytest.approx(sharp["real_miou"], abs=0.02) and sharp["seed_diff"] == 0
    assert sharp["vgg_fd"] < sharp["vgg_fd_floor"]  # the same images vs disjoint ones
    assert sharp["spread_real_diff"] > 5 and np.isfinite(sharp["spread_fd"]) and sharp["spread_fd_floor"] >= 0
    blurry = measure(Copy(True), net, 4, size=256, net_size=64, spread_layouts=0)  # 64 px scaled 4x up
    assert "spread_fd" not in blurry
    assert blurry["detail"] < 0.5 and blurry["real_diff"] > 5


def test_seed_spread_puts_a_generator_that_draws_the_renderers_looks_at_the_floor():
    """seed_spread on fakes: one that returns a render of the layout with a look per seed scores the floor's
    distance (both are 16 looks against the same 64 reference renders); one that ignores the seed scores far
    above it, with no pairwise difference."""
    from types import SimpleNamespace

    from PIL import Image

    from models.landscape.render import render_layout
    from models.spade.eval import EVAL_SEED, _renders, seed_spread

    class Looks:
        config = SimpleNamespace(size=64, use_vae=True)
        num_classes = 10

        def __init__(self, vary: bool) -> None:
            self.vary = vary

        def synthesize(self, ids, seed=0, size=None):
            pic = render_layout(torch.from_numpy(ids)[None], [seed * self.vary + 123])[0]
            return Image.fromarray((pic * 255).round().byte().permute(1, 2, 0).numpy())

    _, ids = _renders(torch.arange(2) + EVAL_SEED, 64)
    good, same = seed_spread(Looks(True), ids, 64), seed_spread(Looks(False), ids, 64)
    assert good["spread_real_diff"] == same["spread_real_diff"] > 5
    assert good["spread_fd_floor"] == same["spread_fd_floor"] > 0
    # 16 other looks: the floor's distance up to sampling noise (two random sets of 16 looks)
    assert good["spread_fd"] < 3 * good["spread_fd_floor"] and good["spread_diff"] > 5
    assert same["spread_fd"] > 3 * good["spread_fd"] and same["spread_diff"] == 0
