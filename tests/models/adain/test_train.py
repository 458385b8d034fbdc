"""`train.py adain` end to end on tiny generated data: runs, exports, the export reproduces outputs, resumes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from models.adain.infer import Stylizer
from models.adain.net import AdaINConfig, AdaINNet
from models.adain.train import inverse_decay
from models.common.assets import checkpoint_for
from models.common.checkpoint import load_checkpoint, read_metadata, save_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("adain_data")
    rng = np.random.default_rng(0)
    for kind, n in (("content", 3), ("style", 2)):
        (root / kind / "sub").mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            Image.fromarray(arr).resize((48, 40), Image.Resampling.BICUBIC).save(root / kind / "sub" / f"{i}.png")
    (root / "content" / "broken.jpg").write_bytes(b"not a jpeg")
    return root / "content", root / "style"


def _argv(dirs, run: Path, export: Path, steps: int, *extra: str) -> list[str]:
    return [
        "adain",
        "--content-dir",
        str(dirs[0]),
        "--style-dir",
        str(dirs[1]),
        "--size",
        "32",
        "--batch-size",
        "1",
        "--max-steps",
        str(steps),
        "--sample-every",
        "2",
        "--ckpt-every",
        "2",
        "--num-workers",
        "0",
        "--run-dir",
        str(run),
        "--export",
        str(export),
        "--no-progress",
        "--quiet",
        "--lr",
        "1e-3",
        "--log-every",
        "1",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(image_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("adain_run")
    export = out / "adain_instance.safetensors"
    assert train.main(_argv(image_dirs, out / "run", export, 2)) == 0
    return out, export


def test_run_writes_logs_samples_checkpoints_export_and_card(trained):
    out, export = trained
    run = out / "run"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "samples" / "latest.png").is_file() and Image.open(run / "samples" / "latest.png").width > 96
    assert (run / "logs" / "metrics.csv").read_text().startswith(("content", "epoch", "loss", "lr", "step", "style"))
    meta = read_metadata(export)
    assert meta["normlab_kind"] == "adain" and meta["normlab_steps"] == "2"
    assert json.loads(meta["normlab_config"])["norm"] == "instance"
    assert export.stat().st_size < 16 * 2**20
    card = export.with_suffix(".md").read_text()
    for needle in ("2 steps", "hardware", "content", "style", "samples.png", "train.py adain"):
        assert needle in card
    # Lightning checkpoints leave the frozen VGG out.
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert not any(k.startswith("net.encoder.") for k in ckpt["state_dict"])


def test_export_then_load_reproduces_outputs(trained):
    """The exported file, loaded by the inference code, computes what the trained network (last.ckpt) computes."""
    out, export = trained
    ckpt = torch.load(out / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    state, config = load_checkpoint(export, "adain")
    for key, value in state.items():  # fp16 export of the trained weights
        torch.testing.assert_close(value, ckpt["state_dict"][f"net.{key}"].float(), rtol=1e-3, atol=1e-3)
    trained_net = AdaINNet(AdaINConfig.from_dict(config)).eval()
    trained_net.load_trainable_state_dict(
        {k[4:]: v.float() for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    )
    loaded = Stylizer.from_checkpoint(export, device="cpu", bf16=False, channels_last=False)
    fresh = AdaINNet(AdaINConfig.from_dict(config), encoder=trained_net.encoder).eval()
    t = 400 * torch.rand(1, 512, 3, 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, got, other = trained_net.decode(t), loaded.net.decode(t), fresh.decode(t)
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)  # fp16 weights
    assert (other - want).abs().max() > 10 * (got - want).abs().max()  # a different decoder would be caught
    assert loaded.norm == "instance" and config["decoder_norm"] == "none"


def _stats_state(ckpt: Path) -> dict:
    states = torch.load(ckpt, map_location="cpu", weights_only=False)["callbacks"]
    return next(v for k, v in states.items() if "TrainStats" in k)


def test_resume_continues_from_last_checkpoint(trained, image_dirs):
    out, _ = trained
    export = out / "resumed.safetensors"
    first = _stats_state(out / "run" / "checkpoints" / "last.ckpt")
    assert first["wall"] > 0 and "loss" in first["ema"]
    assert train.main(_argv(image_dirs, out / "run", export, 3, "--resume", "last")) == 0
    # the wall-time clock continues from the first part (the model card reports the whole run)
    assert _stats_state(out / "run" / "checkpoints" / "last.ckpt")["wall"] > first["wall"]
    assert read_metadata(export)["normlab_steps"] == "3"
    logs = out / "run" / "logs"  # the first part's metrics survive; the resumed part logs next to them
    assert "step" in (logs / "metrics.csv").read_text() and (logs / "part2" / "metrics.csv").is_file()
    # a resume, not a restart: the restored Adam state continues (3 steps in all; a restart would say 1) and
    # only the one missing step was logged by the second part
    ckpt = torch.load(out / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert {int(st["step"]) for st in ckpt["optimizer_states"][0]["state"].values()} == {3}
    part2 = (logs / "part2" / "metrics.csv").read_text().splitlines()
    step_col = part2[0].split(",").index("step")
    assert {row.split(",")[step_col] for row in part2[1:]} == {"2"}


def test_user_errors_exit_2(image_dirs, tmp_path, capsys):
    base = _argv(image_dirs, tmp_path / "r", tmp_path / "x.safetensors", 1)
    assert train.main([*base, "--norm", "bogus"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert train.main([*base, "--size", "30"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    bad_dir = ["adain", "--content-dir", str(tmp_path / "missing"), "--style-dir", str(image_dirs[1])]
    assert train.main(bad_dir) == 2
    assert "does not exist" in capsys.readouterr().err
    assert train.main([*base, "--resume", str(tmp_path / "nope.ckpt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_init_fine_tunes_from_an_export_and_refuses_a_mismatch(trained, image_dirs, tmp_path, capsys):
    _, trained_export = trained
    # An init file far from any fresh decoder, so that ignoring --init cannot pass the check below.
    state, config = load_checkpoint(trained_export, "adain")
    g = torch.Generator().manual_seed(0)
    moved = {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in state.items()}
    export = save_checkpoint(tmp_path / "moved.safetensors", moved, config, "adain")
    out = tmp_path / "ft.safetensors"
    assert train.main(_argv(image_dirs, tmp_path / "ft", out, 1, "--init", str(export), "--lr", "1e-12")) == 0
    before, _ = load_checkpoint(export, "adain")
    after, _ = load_checkpoint(out, "adain")
    # One step at a negligible learning rate: the fine-tune starts from the file (fp16 rounding only).
    assert all(torch.allclose(before[k], after[k], atol=1e-3) for k in before)
    assert max(float((before[k] - state[k]).abs().max()) for k in before) > 0.05
    assert "fine-tuned from" in out.with_suffix(".md").read_text()
    bad = _argv(
        image_dirs,
        tmp_path / "bad",
        tmp_path / "bad.safetensors",
        1,
        "--init",
        str(export),
        "--decoder-norm",
        "instance",
    )
    assert train.main(bad) == 2
    assert "decoder_norm" in capsys.readouterr().err


def test_max_minutes_stops_early_and_still_exports(image_dirs, tmp_path, capsys):
    export = tmp_path / "adain_instance.safetensors"
    argv = _argv(
        image_dirs,
        tmp_path / "run",
        export,
        100_000,
        "--max-minutes",
        "0.001",
        "--threads",
        "1",
        "--ckpt-every",
        "100000",
    )  # no periodic checkpoint: only the one at the stop
    torch.set_num_threads(2)  # --threads must override it (the fixture restores the original afterwards)
    assert train.main(argv) == 0
    steps = int(read_metadata(export)["normlab_steps"])
    assert steps < 100_000  # the wall-time budget (0.06 s), not --max-steps, ended the run
    assert export.with_suffix(".md").is_file()  # and the export still happened
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == steps  # a checkpoint at the stop: a resume redoes nothing
    assert torch.get_num_threads() == 1


def test_default_export_lands_where_the_cli_and_app_look(image_dirs, tmp_path, monkeypatch, capsys):
    import hashlib

    from models.common.assets import REPO_ASSETS

    def digests():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in REPO_ASSETS.iterdir() if p.is_file()}

    bundled = digests()
    assets = tmp_path / "mine"
    monkeypatch.setenv("NORMLAB_MODELS", str(assets))
    # the README's "another normalize step": group, as shipped; it must not touch assets/adain_group.*
    argv = [a for a in _argv(image_dirs, tmp_path / "run", tmp_path / "unused", 1, "--norm", "group")]
    i = argv.index("--export")
    del argv[i : i + 2]
    assert train.main(argv) == 0
    assert digests() == bundled
    assert (assets / "adain_group.safetensors").is_file() and (assets / "adain_group.md").is_file()
    assert checkpoint_for("adain", "my-group") == assets / "adain_group.safetensors"
    assert checkpoint_for("adain", "group") == REPO_ASSETS / "adain_group.safetensors"
    capsys.readouterr()
    assert train.main(argv) == 2 and "would replace" in capsys.readouterr().err  # refused before training
    argv = [a for a in _argv(image_dirs, tmp_path / "run2", tmp_path / "unused", 1, "--norm", "layer")]
    i = argv.index("--export")
    del argv[i : i + 2]
    assert train.main(argv) == 0
    assert checkpoint_for("adain", "my-layer") == assets / "adain_layer.safetensors"
    assert Stylizer.for_norm("my-layer", device="cpu").norm == "layer"
    # ... and the command line and the app's services find it by its normalizer, with no other flag
    from app import cli
    from app.config import AppConfig
    from app.services import ModelCache

    content = next(image_dirs[0].rglob("*.png"))
    style = next(image_dirs[1].rglob("*.png"))
    out = tmp_path / "styled.png"
    assert cli.main(["stylize", str(content), str(style), "-o", str(out), "--norm", "my-layer", "--size", "32"]) == 0
    assert Image.open(out).size[0] == 32 or Image.open(out).size[1] == 32
    norms = ModelCache("adain", AppConfig().assets_dir).norms()
    assert "my-layer" in norms and "instance" in norms  # yours listed beside the bundled ones


def test_export_none_writes_nothing(image_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path / "mine"))
    assert train.main(_argv(image_dirs, tmp_path / "run", Path("NONE"), 1)) == 0
    assert not (tmp_path / "mine").exists() and not Path("NONE").exists()
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_warmup_ramps_the_lr_then_follows_the_paper_schedule():
    assert inverse_decay(0, 0.0, warmup=4) == pytest.approx(0.25)
    assert inverse_decay(1, 0.0, warmup=4) == pytest.approx(0.5)
    assert inverse_decay(10, 0.1, warmup=4) == pytest.approx(1 / (1 + 0.1 * 10))
    assert inverse_decay(3, 0.1) == pytest.approx(1 / 1.3)  # no warm-up: the paper's factor alone


def test_ema_export_is_the_averaged_decoder(trained, image_dirs, tmp_path, capsys):
    _, trained_export = trained
    init, _ = load_checkpoint(trained_export, "adain")
    run, out = tmp_path / "ema", tmp_path / "ema.safetensors"
    assert train.main(_argv(image_dirs, run, out, 2, "--init", str(trained_export), "--ema", "0.9")) == 0
    ema, _ = load_checkpoint(out, "adain")
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    raw = {k: ckpt[f"net.{k}"] for k in ema}
    for k in ema:
        if k.startswith("decoder."):
            assert torch.allclose(ema[k].float(), ckpt[f"decoder_ema.{k[len('decoder.') :]}"].float(), atol=1e-3)

    def dist(a):
        return sum(float((a[k].float() - init[k].float()).pow(2).sum()) for k in init if k.startswith("decoder."))

    # Two steps at decay 0.9 move the average about a fifth as far from the start as the raw weights.
    assert 0 < dist(ema) < 0.5 * dist(raw)
    assert "EMA of the decoder (decay 0.9" in out.with_suffix(".md").read_text()
    assert train.main(_argv(image_dirs, tmp_path / "bad", tmp_path / "bad.safetensors", 1, "--ema", "1.5")) == 2
    assert "--ema must be in [0, 1)" in capsys.readouterr().err


def test_init_across_normalize_steps_keeps_the_decoder_and_starts_the_new_steps_state(
    trained, image_dirs, tmp_path, capsys
):
    _, trained_export = trained  # an instance-norm decoder; online norm has buffers (m, u, v, var) it lacks
    out = tmp_path / "online.safetensors"
    argv = _argv(
        image_dirs, tmp_path / "on", out, 1, "--init", str(trained_export), "--norm", "online", "--lr", "1e-12"
    )
    assert train.main(argv) == 0
    assert "starts from its initial state" in capsys.readouterr().err
    before, _ = load_checkpoint(trained_export, "adain")
    after, cfg = load_checkpoint(out, "adain")
    assert cfg["norm"] == "online" and any(k.startswith("adain.norm.") for k in after)
    assert all(torch.allclose(before[k], after[k], atol=1e-3) for k in before if k.startswith("decoder."))


def test_init_refuses_a_decoder_with_another_activation(trained, image_dirs, tmp_path, capsys):
    _, trained_export = trained
    state, config = load_checkpoint(trained_export, "adain")
    other = save_checkpoint(tmp_path / "act.safetensors", state, config | {"decoder_act": "leaky_relu"}, "adain")
    argv = _argv(image_dirs, tmp_path / "r", tmp_path / "o.safetensors", 1, "--init", str(other))
    assert train.main(argv) == 2
    assert "decoder_act='leaky_relu'" in capsys.readouterr().err
