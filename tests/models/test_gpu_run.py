"""models.gpu_run: the prepared GPU run, its time plan, its bundle, and the same path on the CPU (--dry-run)."""

import json

import numpy as np
import pytest
from PIL import Image

from models.gpu_run import build_bundle, main, plan


def test_plan_fits_the_budget_and_every_trainer_stops_in_its_share(tmp_path):
    steps = plan(tmp_path / "out", tmp_path / "bundle", minutes=9, dry_run=False)
    assert [s.name for s in steps][:3] == ["cuda-tests", "adain", "spade"]
    assert sum(s.share for s in steps) <= 1.0 + 1e-9
    for step in steps[1:3]:
        minutes = float(step.cmd[step.cmd.index("--max-minutes") + 1])
        assert 0 < minutes <= 9 * step.share
        assert "--export" in step.cmd and "bf16-mixed" in step.cmd
    adain = steps[1].cmd
    assert adain[adain.index("--size") + 1] == "256" and int(adain[adain.index("--batch-size") + 1]) >= 16


def test_bundle_resizes_images_to_webp(tmp_path):
    for role in ("content", "style"):
        (tmp_path / "data" / role / "train").mkdir(parents=True)
        arr = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / "data" / role / "train" / "a.jpg")
    info = build_bundle(tmp_path / "data", tmp_path / "bundle", wheels=False)
    assert info["content"] == info["style"] == 1
    img = Image.open(tmp_path / "bundle" / "content" / "a.webp")
    assert img.format == "WEBP" and min(img.size) == 256
    assert main(["bundle", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "b2"), "--no-wheels"]) == 2


@pytest.mark.slow
def test_dry_run_takes_the_whole_path_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    code = main(["run", "--dry-run", "--minutes", "3", "--out", str(out), "--bundle", str(tmp_path / "none")])
    summary = json.loads((out / "summary.json").read_text())
    statuses = {s["name"]: s["result"].get("status") for s in summary["steps"]}
    assert code == 0, statuses
    assert summary["finished"] and set(statuses.values()) == {"ok"}
    assert (out / "adain_instance.safetensors").is_file() and (out / "spade_batch.safetensors").is_file()
    assert (out / "adain_instance.md").is_file() and "adain" in (out / "SUMMARY.md").read_text()


def test_a_failing_step_is_reported_as_failed(tmp_path, monkeypatch):
    import sys

    import models.gpu_run as gpu_run

    def tiny_plan(out, bundle, minutes, dry_run):
        ok = gpu_run.Step("fine", [sys.executable, "-c", "pass"], 0.5)
        bad = gpu_run.Step("broken", [sys.executable, "-c", "import sys; sys.exit(3)"], 0.5)
        return [ok, bad]

    monkeypatch.setattr(gpu_run, "plan", tiny_plan)
    out = tmp_path / "out"
    assert gpu_run.run(out, tmp_path / "none", minutes=1, dry_run=True) == 1
    statuses = {s["name"]: s["result"]["status"] for s in json.loads((out / "summary.json").read_text())["steps"]}
    assert statuses == {"fine": "ok", "broken": "exit 3"}
    assert "| broken | exit 3 |" in (out / "SUMMARY.md").read_text()
