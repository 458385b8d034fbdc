"""Training: one G/D step, a tiny end-to-end run through train.py, resume, and export -> load."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

import train
from models.common.assets import checkpoint_for
from models.common.checkpoint import load_checkpoint, save_checkpoint
from models.spade.data import procedural_batch
from models.spade.discriminator import DiscConfig
from models.spade.generator import GenConfig, bake_spectral_norm, one_hot
from models.spade.infer import Synthesizer
from models.spade.train import SPADEModule, TrainConfig, card_details, export_generator, init_generator

TINY_G = dict(arch="grid", size=32, ngf=4, spade_hidden=8, z_dim=8)


def _module(**train_kw) -> SPADEModule:
    return SPADEModule(
        GenConfig(**TINY_G).to_dict(), asdict(DiscConfig(ndf=4, n_layers=2)), asdict(TrainConfig(**train_kw))
    )


def test_one_generator_and_one_discriminator_step_stay_finite():
    m = _module(lambda_vgg=1.0, lambda_ms=1.0)
    real, ids = procedural_batch(torch.arange(2), 32)
    seg = one_hot(ids, m.gcfg.label_nc)
    opt_g = torch.optim.Adam(m.G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(m.D.parameters(), lr=4e-4, betas=(0.0, 0.9))
    before = m.G.conv_img.weight.detach().clone()
    loss, parts, fake = m.generator_losses(real, seg)
    assert set(parts) == {"kld", "g_gan", "g_feat", "g_vgg", "g_ms"}
    assert fake.shape == (6, 3, 32, 32)  # encoded-code fakes, then two random-code sets for mode seeking
    loss.backward()
    opt_g.step()
    d_before = next(m.D.parameters()).detach().clone()
    d = m.discriminator_loss(real, seg, fake)
    opt_d.zero_grad()
    d.backward()
    opt_d.step()
    assert torch.isfinite(loss) and torch.isfinite(d)
    assert not torch.equal(before, m.G.conv_img.weight) and not torch.equal(d_before, next(m.D.parameters()))
    m.update_ema()
    assert all(torch.isfinite(p).all() for p in m.G_ema.parameters())


def test_without_mode_seeking_the_generator_draws_one_fake_per_layout():
    m = _module(lambda_vgg=0.0, lambda_ms=0.0)
    real, ids = procedural_batch(torch.arange(2), 32)
    _, parts, fake = m.generator_losses(real, m_seg := one_hot(ids, m.gcfg.label_nc))
    assert "g_ms" not in parts and fake.shape == (2, 3, 32, 32)
    assert torch.isfinite(m.discriminator_loss(real, m_seg, fake))
    assert "g_look" not in parts and "g_period" not in parts  # off by default


def test_the_look_loss_joins_the_generator_loss_with_its_weight():
    from models.spade.losses import class_colour_loss

    real, ids = procedural_batch(torch.arange(2), 32)
    seg = one_hot(ids, 10)
    torch.manual_seed(0)
    m = _module(lambda_vgg=0.0, lambda_look=2.5)
    torch.manual_seed(1)  # the encoder's sampling noise: the same in both calls
    total, parts, fake = m.generator_losses(real, seg)
    with torch.no_grad():
        assert float(parts["g_look"]) == pytest.approx(2.5 * float(class_colour_loss(fake, real, seg)), rel=1e-5)
        assert float(total) == pytest.approx(sum(float(v) for v in parts.values()), rel=1e-5)
    assert "look (class colour statistics) x2.5" in card_details(m)[0][1]


@pytest.mark.parametrize(
    "fn, option, part, card",
    [
        ("period_loss", "lambda_period", "g_period", "periodicity x3"),
        ("detail_loss", "lambda_detail", "g_detail", "detail x3"),
    ],
)
def test_a_texture_loss_joins_the_generator_loss_with_its_weight(monkeypatch, fn, option, part, card):
    import models.spade.train as train_mod

    real, ids = procedural_batch(torch.arange(2), 32)
    seg = one_hot(ids, 10)
    seen = []

    def fake_loss(fake, real_, seg_):  # an untrained 32 px generator's losses say little: check the wiring
        seen.append((fake, real_, seg_))
        return fake.mean() * 0 + 0.7

    monkeypatch.setattr(train_mod, fn, fake_loss)
    m = _module(lambda_vgg=0.0, **{option: 3.0})
    total, parts, fake = m.generator_losses(real, seg)
    assert float(parts[part]) == pytest.approx(2.1)
    assert float(total) == pytest.approx(sum(float(v) for v in parts.values()), rel=1e-5)
    ((f, r, s_),) = seen
    assert f is fake and r is real and s_ is seg
    assert card in card_details(m)[0][1]


def test_export_load_round_trip(tmp_path):
    m = _module(lambda_vgg=0.0)
    path = export_generator(m, tmp_path / "spade_instance.safetensors", {"steps": 0})
    syn = Synthesizer.from_checkpoint(path)
    assert syn.norm == "instance" and syn.config.size == 32 and not syn.config.spectral
    ref = bake_spectral_norm(m.G_ema).eval()
    ids = np.random.default_rng(0).integers(0, 10, (32, 32))
    seg = one_hot(torch.from_numpy(ids)[None], 10)
    z = torch.randn(1, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = ((ref(seg, z)[0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    got = np.asarray(syn.synthesize(ids, seed=4)).astype(np.float32)
    assert np.abs(got - expected).max() < 4  # fp16 weights, 8-bit output


def test_tiny_training_run_and_resume(tmp_path, capsys):
    run, weights = tmp_path / "run", tmp_path / "out" / "spade_instance.safetensors"
    common = [
        "--arch",
        "grid",
        "--size",
        "64",
        "--ngf",
        "8",
        "--ndf",
        "8",
        "--spade-hidden",
        "8",
        "--z-dim",
        "8",
        "--d-layers",
        "2",
        "--batch-size",
        "2",
        "--lambda-vgg",
        "1",
        "--run-dir",
        str(run),
        "--quiet",
        "--no-progress",
        "--num-workers",
        "0",
        "--sample-every",
        "2",
        "--ckpt-every",
        "2",
        "--log-every",
        "1",
        "--export",
        str(weights),
    ]
    assert train.main(["spade", *common, "--max-steps", "2"]) == 0
    assert "trained 2 steps" in capsys.readouterr().err
    assert weights.is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    card = weights.with_suffix(".md").read_text()
    assert "SPADE generator - norm `instance`" in card and "2 steps" in card and "g_vgg" in card
    assert (run / "samples" / "step_0000002.png").is_file() and (run / "samples" / "latest.png").is_file()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert not any(k.startswith("vgg_loss.") for k in ckpt["state_dict"])  # the frozen VGG is not saved
    syn = Synthesizer.from_checkpoint(weights)
    assert syn.synthesize(np.zeros((20, 30), np.int64), seed=1).size == (30, 20)
    # resuming restores G, D, EMA and optimizers; the (frozen) VGG is not needed to prove that
    assert train.main(["spade", *common, "--max-steps", "3", "--resume", "last", "--lambda-vgg", "0"]) == 0
    assert "trained 3 steps" in capsys.readouterr().err
    # a resume, not a restart: exactly one more iteration ran on the restored optimizers (Adam's step counts
    # continue from 2; a restart would be at 1), and the first part's iterations are not re-run
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    steps = [st["step"] for opt in ckpt["optimizer_states"] for st in opt["state"].values()]
    assert steps and all(int(s) == 3 for s in steps)
    assert ckpt["global_step"] == 6  # G and D steps: 2 per iteration
    part2 = (run / "logs" / "part2" / "metrics.csv").read_text().splitlines()
    step_col = part2[0].split(",").index("step")
    assert len({row.split(",")[step_col] for row in part2[1:]}) == 1  # a restart would log iterations 0, 1, 2

    # fine-tuning with a D-only warm-up covering the whole run keeps the --init generator exactly; the init file
    # is made to differ from a fresh generator first, so ignoring --init would fail the check
    state, cfg = load_checkpoint(weights, "spade")
    g = torch.Generator().manual_seed(0)
    moved = {}
    for k, v in state.items():
        w = v + 0.05 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
        top = torch.linalg.svdvals(v.flatten(1))[0] if v.dim() >= 2 else None
        if top is not None and abs(float(top) - 1) < 1e-2:  # baked spectral norm: keep the top singular value 1
            w = w / torch.linalg.svdvals(w.flatten(1))[0]
        moved[k] = w
    init_file = save_checkpoint(tmp_path / "moved.safetensors", moved, cfg, "spade")
    tuned = tmp_path / "tuned.safetensors"
    assert (
        train.main(
            [
                "spade",
                *common[:-2],
                "--export",
                str(tuned),
                "--run-dir",
                str(tmp_path / "ft"),
                "--max-steps",
                "2",
                "--init",
                str(init_file),
                "--d-warmup",
                "2",
                "--lambda-vgg",
                "0",
            ]
        )
        == 0
    )
    assert "D-only warm-up" in tuned.with_suffix(".md").read_text()
    assert "discriminator: 2 scales x 2 layers, ndf 8, norm `instance`" in tuned.with_suffix(".md").read_text()
    before, after = load_checkpoint(init_file, "spade")[0], load_checkpoint(tuned, "spade")[0]
    assert all(torch.allclose(before[k], after[k], atol=1e-3) for k in before)
    assert max(float((before[k] - state[k]).abs().max()) for k in before if before[k].is_floating_point()) > 0.05


def _tiny_argv(tmp_path, *extra):
    """A one-step run of the default (crop) generator on a tiny render pool in ``tmp_path``."""
    return [
        "spade",
        "--full-sizes",
        "32",
        "--crop",
        "32",
        "--pool-size",
        "2",
        "--pool-dir",
        str(tmp_path / "pool"),
        "--ngf",
        "4",
        "--ndf",
        "4",
        "--spade-hidden",
        "8",
        "--z-dim",
        "8",
        "--z-ch",
        "4",
        "--d-layers",
        "2",
        "--batch-size",
        "1",
        "--lambda-vgg",
        "0",
        "--max-steps",
        "1",
        "--quiet",
        "--no-progress",
        "--num-workers",
        "0",
        "--sample-every",
        "0",
        "--run-dir",
        str(tmp_path / "run"),
        *extra,
    ]


def _digests(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_default_export_goes_to_your_models_folder_never_over_bundled_files(tmp_path, monkeypatch, capsys):
    from models.common.assets import REPO_ASSETS

    bundled = _digests(REPO_ASSETS)
    mine = tmp_path / "mine"
    monkeypatch.setenv("NORMLAB_MODELS", str(mine))
    assert train.main(_tiny_argv(tmp_path, "--norm", "batch")) == 0  # batch: the shipped default's normalizer
    assert (mine / "spade_batch.safetensors").is_file() and (mine / "spade_batch.md").is_file()
    assert _digests(REPO_ASSETS) == bundled  # every shipped file byte-identical
    # the CLI and the app find it as my-batch; the bundled batch keeps its name and stays the default
    assert checkpoint_for("spade", "my-batch") == mine / "spade_batch.safetensors"
    assert checkpoint_for("spade", "batch") == REPO_ASSETS / "spade_batch.safetensors"
    assert Synthesizer.from_checkpoint(checkpoint_for("spade", "my-batch")).norm == "batch"
    # a second run would replace it: refused before any training, with what to do
    capsys.readouterr()
    assert train.main(_tiny_argv(tmp_path, "--norm", "batch", "--run-dir", str(tmp_path / "run2"))) == 2
    err = capsys.readouterr().err
    assert "would replace" in err and "--force" in err and not (tmp_path / "run2").exists()
    # writing into the bundled folder is refused too, even to a new name
    capsys.readouterr()
    argv = _tiny_argv(tmp_path, "--norm", "batch", "--export", str(REPO_ASSETS / "spade_new.safetensors"))
    assert train.main(argv) == 2 and "bundled" in capsys.readouterr().err
    assert not (REPO_ASSETS / "spade_new.safetensors").exists() and _digests(REPO_ASSETS) == bundled
    # --force replaces (atomically: no temporary file is left beside it)
    assert train.main(_tiny_argv(tmp_path, "--norm", "batch", "--force", "--run-dir", str(tmp_path / "run3"))) == 0
    assert sorted(p.name for p in mine.iterdir()) == ["spade_batch.md", "spade_batch.safetensors"]


def test_export_none_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path / "mine"))
    assert train.main(_tiny_argv(tmp_path, "--export", "none")) == 0
    assert not (tmp_path / "mine").exists() and (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_d_norm_decouples_the_discriminator_normalizer(tmp_path):
    weights = tmp_path / "spade_layer.safetensors"
    argv = [
        "spade",
        "--norm",
        "layer",
        "--d-norm",
        "group",
        "--arch",
        "grid",
        "--size",
        "32",
        "--ngf",
        "4",
        "--ndf",
        "8",
        "--spade-hidden",
        "8",
        "--z-dim",
        "8",
        "--d-layers",
        "2",
        "--batch-size",
        "2",
        "--lambda-vgg",
        "0",
        "--max-steps",
        "1",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        "--no-progress",
        "--num-workers",
        "0",
        "--sample-every",
        "0",
        "--export",
        str(weights),
    ]
    assert train.main(argv) == 0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["gen"]["norm"] == "layer" and ckpt["hyper_parameters"]["disc"]["norm"] == "group"
    assert Synthesizer.from_checkpoint(weights).norm == "layer"
    assert "norm `group`, spectral norm" in weights.with_suffix(".md").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--norm", "bogus"], "unknown normalizer 'bogus'"),
        (["--d-norm", "bogus"], "unknown normalizer 'bogus'"),
        (["--arch", "grid", "--size", "48"], "power of two"),
        (["--arch", "bogus"], "unknown architecture 'bogus'"),
        (["--crop", "24"], "--crop must be a multiple of 16"),
        (["--crop", "512"], "larger than the smallest --full-sizes picture (256 px)"),
        (["--full-sizes", "200"], "multiples of 16"),
        (["--size", "64"], "did you mean --full-sizes 64?"),
        (["--resume", "nope.ckpt"], "does not exist"),
        (["--batch-size", "0"], "must be positive"),
        (["--prior-pictures", "1"], "0 (no prior) or at least 2"),
        (["--data", "no/such/dir"], "needs an 'images/' folder"),
    ],
)
def test_bad_arguments_exit_cleanly(argv, message, capsys, tmp_path):
    assert train.main(["spade", "--run-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_init_from_export_reproduces_the_exported_generator(tmp_path):
    src = _module(lambda_vgg=0.0)
    with torch.no_grad():  # move away from the init so a silent no-op load would be caught
        for p in src.G_ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = export_generator(src, tmp_path / "spade_instance.safetensors", {"steps": 0})
    dst = _module(lambda_vgg=0.0)
    assert init_generator(dst, path) is None
    ids = torch.from_numpy(np.random.default_rng(1).integers(0, 10, (2, 32, 32)))
    seg, z = one_hot(ids, 10), torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    ref = Synthesizer.from_checkpoint(path).generator
    with torch.no_grad():
        expected = ref(seg, z)
        for g in (dst.G.eval(), dst.G_ema):  # spectral norm on, u/v exact: same function as the baked export
            assert (g(seg, z) - expected).abs().max() < 2e-3


def test_init_refuses_a_different_architecture(tmp_path):
    path = export_generator(_module(lambda_vgg=0.0), tmp_path / "spade_instance.safetensors", {"steps": 0})
    other = SPADEModule(
        GenConfig(**(TINY_G | {"ngf": 8})).to_dict(),
        asdict(DiscConfig(ndf=4, n_layers=2)),
        asdict(TrainConfig(lambda_vgg=0.0)),
    )
    err = init_generator(other, path)
    assert err is not None and "ngf=4" in err and "8" in err
    assert "does not exist" in init_generator(other, tmp_path / "missing.safetensors")


def test_a_run_prints_no_known_harmless_warning(tmp_path):
    """Without --quiet: Lightning's LeafSpec deprecation, the eval-mode note about the frozen networks and the
    log-folder notes are filtered at the source; the run still reports its folder and export."""
    import subprocess
    import sys
    from pathlib import Path

    argv = _tiny_argv(tmp_path, "--export", str(tmp_path / "w.safetensors"), "--lambda-vgg", "1")
    argv.remove("--quiet")
    root = Path(train.__file__).resolve().parent
    out = subprocess.run(
        [sys.executable, str(root / "train.py"), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for noise in ("LeafSpec", "in eval mode", "exists and is not empty", "does not have many workers"):
        assert noise not in out.stderr, noise
    assert "`weights_only` was not set" not in out.stderr + out.stdout  # the stop checkpoint's note
    assert "run folder:" in out.stderr and "exported" in out.stderr


# ------------------------------------------------------------------------------------------------
# the crop generator (the default)
# ------------------------------------------------------------------------------------------------

TINY_CROP = dict(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, native=[32, 64], size=32)


def test_crop_step_shows_d_the_window_position_and_encodes_the_whole_picture():
    from models.spade.crops import random_crops

    m = SPADEModule(
        GenConfig(**TINY_CROP).to_dict(),
        asdict(DiscConfig(ndf=4, n_layers=2)),
        asdict(TrainConfig(lambda_vgg=1.0, crop=32)),
    )
    assert m.D.scales[0].blocks[0][0].in_channels == 10 + 3 + 3  # labels + (y, x, scale) + image
    pictures, ids = procedural_batch(torch.arange(2), 64)
    real, lab, box, thumb = random_crops(pictures, ids, 32, thumb=64)
    seen = []
    encode = m.G.encode
    m.G.encode = lambda img: seen.append(tuple(img.shape)) or encode(img)
    seg = one_hot(lab, 10)
    loss, parts, fake = m.generator_losses(real, seg, box, thumb)
    assert seen == [(2, 3, 64, 64)]  # the style code comes from the whole picture, not the window
    assert fake.shape == (2, 3, 32, 32) and set(parts) == {"kld", "g_gan", "g_feat", "g_vgg"}
    loss.backward()
    d = m.discriminator_loss(real, seg, fake, box)
    d.backward()
    assert torch.isfinite(loss) and torch.isfinite(d)
    assert m.G.fc.weight.grad.abs().sum() > 0 and next(m.D.parameters()).grad is not None


@pytest.mark.parametrize("norm", ["instance", "batch", "group", "online", "proxy"])
def test_every_normalizer_trains_the_crop_generator(tmp_path, norm):
    weights = tmp_path / f"spade_{norm}.safetensors"
    argv = _tiny_argv(tmp_path, "--norm", norm, "--batch-size", "2", "--export", str(weights))
    assert train.main(argv) == 0
    syn = Synthesizer.from_checkpoint(weights)
    assert syn.config.arch == "crop" and syn.norm == norm and syn.config.native == [32]
    img = np.asarray(syn.synthesize(np.zeros((24, 40), np.int64), seed=1))
    assert img.shape == (24, 40, 3) and np.isfinite(img).all()


def test_a_crop_run_over_two_picture_sides_renders_both_natively(tmp_path):
    weights = tmp_path / "spade_instance.safetensors"
    argv = _tiny_argv(tmp_path, "--full-sizes", "64", "32", "--max-steps", "2", "--export", str(weights))
    assert train.main(argv) == 0
    syn = Synthesizer.from_checkpoint(weights)
    assert syn.config.native == [32, 64] and syn.config.size == 32
    assert syn.native_size((64, 64)) == (64, 64) and syn.native_size((20, 20)) == (32, 32)
    card = weights.with_suffix(".md").read_text()
    assert "crop generator" in card and "native 32-64 px" in card and "32 px windows" in card
    assert "rendered once into" in card  # the CPU data path: the render pool
    assert (tmp_path / "pool").is_dir() and len(list((tmp_path / "pool").glob("pool_*"))) == 2
    assert "2/2 per side" in card  # both sides at or below 512 px: --pool-size pictures each
    # --init continues a crop generator (the campaign's parts) and refuses a grid one
    assert (
        train.main(
            _tiny_argv(
                tmp_path,
                "--init",
                str(weights),
                "--d-warmup",
                "0",
                "--run-dir",
                str(tmp_path / "run2"),
                "--export",
                str(tmp_path / "next.safetensors"),
            )
        )
        == 0
    )
    grid = export_generator(_module(lambda_vgg=0.0), tmp_path / "grid.safetensors", {"steps": 0})
    crop_module = SPADEModule(
        GenConfig(**TINY_CROP).to_dict(), asdict(DiscConfig(ndf=4, n_layers=2)), asdict(TrainConfig(lambda_vgg=0.0))
    )
    assert "arch='grid'" in init_generator(crop_module, grid)


def test_the_gpu_data_path_renders_whole_pictures_and_cuts_windows_after_transfer():
    """On a GPU the loader yields (seeds, side) and the data module renders and crops on the device; the same code
    runs here on CPU tensors (a labelled folder's (images, ids) batches take the cropping half of it)."""
    from models.spade.crops import CropSeeds
    from models.spade.train import SPADEDataModule

    cfg = TrainConfig(batch_size=2, crop=32, full_sizes=[64, 96])
    data = SPADEDataModule(cfg, 64, start=0, workers=0, on_gpu=True, crop=32, thumb=16)
    loader = data.train_dataloader()
    assert isinstance(loader.dataset, CropSeeds)
    seeds, side = next(iter(loader))
    real, ids, box, thumb = data.on_after_batch_transfer((seeds, side), 0)
    assert real.shape == (2, 3, 32, 32) and ids.shape == (2, 32, 32) and thumb.shape == (2, 3, 16, 16)
    assert box[:, 2].tolist() == [float(side)] * 2 and (box[:, :2] <= float(side) - 32).all()
    pictures, labels = procedural_batch(seeds, int(side))
    t, l = int(box[0, 0]), int(box[0, 1])
    window = labels[0, t : t + 32, l : l + 32]
    assert torch.equal(ids[0], window) or torch.equal(ids[0], labels[0].flip(-1)[t : t + 32, l : l + 32])
    folder_batch = data.on_after_batch_transfer(procedural_batch(torch.arange(2), 64), 0)
    assert len(folder_batch) == 4 and folder_batch[0].shape == (2, 3, 32, 32)


def test_init_warms_d_up_for_200_by_default_and_a_resume_keeps_the_runs_warm_up(tmp_path, capsys):
    """--init without --d-warmup: 200 D-only iterations; resuming counts the run's iterations with the warm-up it
    had (was: 0 on resume, so 4 warm-up iterations read as 2), and checkpoints fall every --ckpt-every iterations."""
    src = tmp_path / "src.safetensors"
    assert train.main(_tiny_argv(tmp_path, "--max-steps", "1", "--export", str(src))) == 0
    run = tmp_path / "ft"
    argv = _tiny_argv(tmp_path, "--init", str(src), "--run-dir", str(run), "--export", str(tmp_path / "ft.st"))
    assert train.main([*argv, "--max-steps", "1"]) == 0
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["train"]["d_warmup"] == 200  # the --init default
    warm = _tiny_argv(
        tmp_path,
        "--init",
        str(src),
        "--run-dir",
        str(tmp_path / "w"),
        "--export",
        str(tmp_path / "w.st"),
        "--d-warmup",
        "4",
        "--ckpt-every",
        "3",
    )
    assert train.main([*warm, "--max-steps", "6"]) == 0  # 4 D-only iterations, then 2 full ones
    ckpt = torch.load(tmp_path / "w" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4 + 2 * 2
    periodic = sorted(p.name for p in (tmp_path / "w" / "checkpoints").glob("epoch=*.ckpt"))
    assert periodic == ["epoch=0-step=4.ckpt"] or periodic == ["epoch=0-step=6.ckpt"]  # at iteration 3
    capsys.readouterr()
    i = warm.index("--d-warmup")
    resumed = warm[:i] + warm[i + 2 :] + ["--max-steps", "8", "--resume", "last"]  # no --d-warmup given
    assert train.main(resumed) == 0
    assert "trained 8 steps" in capsys.readouterr().err
    ckpt = torch.load(tmp_path / "w" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4 + 2 * 4


def test_freeze_noise_keeps_the_noise_weights_where_they_started(tmp_path):
    run = tmp_path / "fz"
    argv = _tiny_argv(
        tmp_path,
        "--noise-init",
        "0.05",
        "--freeze-noise",
        "--max-steps",
        "3",
        "--run-dir",
        str(run),
        "--export",
        str(tmp_path / "fz.st"),
    )
    assert train.main(argv) == 0
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    noise = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("G.") and ".noise_" in k}
    assert noise and all(torch.allclose(v, torch.full_like(v, 0.05)) for v in noise.values())
    free = tmp_path / "free"  # the same run without the flag: the noise weights move
    i = argv.index("--freeze-noise")
    argv = argv[:i] + argv[i + 1 :] + ["--run-dir", str(free), "--export", str(tmp_path / "free.st")]
    assert train.main(argv) == 0
    ckpt = torch.load(free / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    moved = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("G.") and ".noise_" in k}
    assert any(not torch.allclose(v, torch.full_like(v, 0.05)) for v in moved.values())


def test_lr_noise_gives_the_noise_weights_their_own_learning_rate(tmp_path):
    def noise_weights(run):
        ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
        return {k: v for k, v in ckpt["state_dict"].items() if k.startswith("G.") and ".noise_" in k}

    moved = {}
    for lr in (None, "0.01"):
        run = tmp_path / f"lr{lr}"
        extra = ["--lr-noise", lr] if lr else []
        argv = _tiny_argv(tmp_path, "--noise-init", "0.05", "--max-steps", "3", "--run-dir", str(run), *extra)
        assert train.main([*argv, "--export", str(tmp_path / f"{lr}.st")]) == 0
        moved[lr] = max((v - 0.05).abs().max().item() for v in noise_weights(run).values())
        card = (tmp_path / f"{lr}.md").read_text()
        assert ("noise weights 0.01" in card) == (lr is not None)
    # Adam moves each weight by about its learning rate per step: 3 steps at 0.01 against the tiny run's lr-g
    assert moved["0.01"] > 0.02 > 10 * moved[None]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--freeze-noise"], "--freeze-noise keeps them fixed"),
        (["--no-noise"], "--no-noise leaves the generator without them"),
        (["--lr-noise", "0"], "--lr-noise must be positive"),
    ],
)
def test_lr_noise_refuses_what_it_cannot_do(tmp_path, extra, message, capsys):
    argv = [*_tiny_argv(tmp_path, "--max-steps", "1"), *extra]
    if "--lr-noise" not in extra:
        argv += ["--lr-noise", "0.01"]
    assert train.main(argv) != 0
    assert message in capsys.readouterr().err


def test_prior_pictures_sets_how_many_pictures_the_exported_prior_is_fitted_on(tmp_path, monkeypatch):
    from models.spade import prior as prior_mod
    from models.spade.prior import PRIOR_KEYS

    asked = []
    real = prior_mod.prior_pictures

    def counting(count=256, size=128):
        asked.append((count, size))
        return real(count, size)

    monkeypatch.setattr(prior_mod, "prior_pictures", counting)
    for n, has_prior in ((0, False), (4, True)):
        out = tmp_path / f"p{n}.safetensors"
        argv = _tiny_argv(tmp_path / str(n), "--export", str(out), "--prior-pictures", str(n))
        assert train.main(argv) == 0
        state, _ = load_checkpoint(out, "spade")
        assert all(k in state for k in PRIOR_KEYS) == has_prior
    assert asked == [(4, 64)]  # 4 pictures at the encoder's 64 px thumbnail; none for 0


def test_a_pool_of_larger_pictures_holds_fewer_of_them(tmp_path, monkeypatch):
    """Sides above crops.POOL_PIXELS_SIDE get pool_count's smaller pools (here 32 px is the bound: 64 px pools hold
    a quarter of --pool-size pictures), for procedural and painted layouts alike, and the card says how many."""
    import models.spade.crops as crops

    monkeypatch.setattr(crops, "POOL_PIXELS_SIDE", 32)
    weights = tmp_path / "w.safetensors"
    argv = _tiny_argv(tmp_path, "--full-sizes", "32", "64", "--pool-size", "8", "--painted-share", "0.5")
    argv += ["--painted-pool-size", "4", "--max-steps", "1", "--export", str(weights)]
    assert train.main(argv) == 0
    pools = {p.name.rsplit("_", 1)[0]: p for p in (tmp_path / "pool").iterdir() if p.is_dir()}
    assert sorted(pools) == ["painted_pool_32_4", "painted_pool_64_1", "pool_32_8", "pool_64_2"]
    assert json.loads((pools["pool_64_2"] / "done.json").read_text())["count"] == 2
    card = weights.with_suffix(".md").read_text()
    assert "8/2 per side" in card and "4/1 painted-style" in card
