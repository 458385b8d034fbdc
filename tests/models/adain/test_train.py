"""`train.py adain` end to end on tiny generated data: runs, exports, the export reproduces outputs, resumes."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from models.adain.infer import Stylizer
from models.common.checkpoint import load_checkpoint, read_metadata


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
    return ["adain", "--content-dir", str(dirs[0]), "--style-dir", str(dirs[1]), "--size", "32",
            "--batch-size", "1", "--max-steps", str(steps), "--sample-every", "2", "--ckpt-every", "2",
            "--num-workers", "0", "--run-dir", str(run), "--export", str(export), "--no-progress", "--quiet",
            "--lr", "1e-3", "--log-every", "1", *extra]


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
    out, export = trained
    ckpt = torch.load(out / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    state, config = load_checkpoint(export, "adain")
    for key, value in state.items():  # fp16 export of the trained weights
        torch.testing.assert_close(value, ckpt["state_dict"][f"net.{key}"].float(), rtol=1e-3, atol=1e-3)
    a = Stylizer.from_checkpoint(export, device="cpu", bf16=False, channels_last=False)
    b = Stylizer.from_checkpoint(export, device="cpu", bf16=False, channels_last=False)
    content = Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    style = Image.fromarray(np.random.default_rng(2).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(a.stylize(content, [style], size=None)),
                          np.asarray(b.stylize(content, [style], size=None)))
    assert a.norm == "instance" and config["decoder_norm"] == "none"


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
    _, export = trained
    out = tmp_path / "ft.safetensors"
    assert train.main(_argv(image_dirs, tmp_path / "ft", out, 1, "--init", str(export), "--lr", "1e-9")) == 0
    before, _ = load_checkpoint(export, "adain")
    after, _ = load_checkpoint(out, "adain")
    # One step at a negligible learning rate: the fine-tune starts from the export, not from a fresh decoder.
    assert all(torch.allclose(before[k], after[k], atol=2e-3) for k in before)
    assert "fine-tuned from" in out.with_suffix(".md").read_text()
    bad = _argv(image_dirs, tmp_path / "bad", tmp_path / "bad.safetensors", 1, "--init", str(export),
                "--decoder-norm", "instance")
    assert train.main(bad) == 2
    assert "decoder_norm" in capsys.readouterr().err


def test_max_minutes_stops_early_and_still_exports(image_dirs, tmp_path):
    export = tmp_path / "adain_instance.safetensors"
    argv = _argv(image_dirs, tmp_path / "run", export, 100_000, "--max-minutes", "0.001", "--threads", "1")
    torch.set_num_threads(2)  # --threads must override it (the fixture restores the original afterwards)
    assert train.main(argv) == 0
    steps = int(read_metadata(export)["normlab_steps"])
    assert 1 <= steps < 100  # the wall-time budget (0.06 s), not --max-steps, ended the run
    assert torch.get_num_threads() == 1
