"""Evaluation maths: confusion/mIoU and the Fréchet distance against independent references."""
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
    ckpt = save_checkpoint(tmp_path / "spade_instance.safetensors", baked_state_dict(SPADEGenerator(cfg)),
                           cfg.to_dict() | {"spectral": False}, kind="spade")
    ckpt.with_suffix(".md").write_text("# card\n\n## Samples\n\nx\n\n## Config\n\n{}\n")
    assert main(["--checkpoint", str(ckpt), "-n", "4", "--segnet-steps", "2", "--cache-dir", str(tmp_path),
                 "--update-card", "--detail-sizes", "64", "--detail-num", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Fine detail .* 64 px [0-9.]+x", out)
    assert "| real (procedural) |" in out and "VGG-FD" in out and "(floor)" in out
    diversity = re.search(r"same layout differ by ([0-9.]+) of 255.*different layouts: ([0-9.]+)\)", out)
    assert diversity and float(diversity[1]) > 0 and float(diversity[2]) > 5  # random init: codes matter a bit
    card = ckpt.with_suffix(".md").read_text()
    assert card.index("## Evaluation") < card.index("## Samples") and "| synthesized" in card
    assert (tmp_path / "segnet_32_2.pt").is_file()  # cached for the next run
    # a second evaluation replaces the section: one Evaluation, the other sections kept once
    assert main(["--checkpoint", str(ckpt), "-n", "4", "--segnet-steps", "2", "--cache-dir", str(tmp_path),
                 "--update-card"]) == 0
    card = ckpt.with_suffix(".md").read_text()
    assert card.count("## Evaluation") == 1 and card.count("## Samples") == 1 and card.count("## Config") == 1
    assert main(["--checkpoint", str(tmp_path / "nope.safetensors")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_detail_ratio_is_one_for_the_real_renders_and_small_for_an_upscale():
    import numpy as np
    from PIL import Image

    from models.landscape.render import generate_sample
    from models.spade.eval import detail_ratios

    seeds = torch.arange(3) + 555

    class Copy:  # "synthesizes" the real render of the layout at the asked size
        def __init__(self, blur: bool) -> None:
            self.blur, self.i = blur, 0

        def synthesize(self, ids, seed=0, size=None):
            img, _ = generate_sample(int(seeds[seed]), 64 if self.blur else size)
            return Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC)

    assert abs(detail_ratios(Copy(False), seeds, (128,))[128] - 1.0) < 1e-2  # (8-bit rounding)
    assert detail_ratios(Copy(True), seeds, (256,))[256] < 0.5  # a 64 px image scaled up has little detail
    assert np.isfinite(detail_ratios(Copy(True), seeds, (128,))[128])
