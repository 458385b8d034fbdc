"""python -m models.bench spade --highres: the seam score averaged over layouts, the table (tiny generator)."""

import json
import re
import subprocess
from types import SimpleNamespace

from models.spade import bench_highres
from models.spade.infer import Synthesizer
from tests.models.spade.conftest import crop_checkpoint


def test_child_scores_every_layout_and_reports_their_mean(tmp_path, capsys, monkeypatch):
    path = crop_checkpoint(tmp_path / "g.safetensors")
    load = Synthesizer.from_checkpoint

    def small_windows(*args, **kwargs):  # the tiny generator's own window (768 px) would be one window at 256
        syn = load(*args, **kwargs)
        syn.window, syn.margin = 96, 16
        return syn

    monkeypatch.setattr(Synthesizer, "from_checkpoint", small_windows)
    assert bench_highres.main(["--child", "256", "--checkpoint", str(path), "--layouts", "2", "--threads", "1"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["windowed"] and row["windows"] == 16 and row["layouts"] == 2 and len(row["seams"]) == 2
    assert row["seam"] == sum(row["seams"]) / 2 and row["seams"][0] != row["seams"][1]  # two pictures, two scores
    assert row["seconds"] > 0 and row["peak_mib"] > 0 and row["seam_no_margin"] > 0
    assert bench_highres.main(["--child", "64", "--checkpoint", str(path), "--layouts", "1"]) == 0
    one_pass = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not one_pass["windowed"] and one_pass["seams"] == [] and one_pass["windows"] == 1


def test_the_table_has_a_row_per_size_each_from_a_fresh_process(monkeypatch, capsys):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        size = int(cmd[cmd.index("--child") + 1])
        row = {"size": size, "seconds": 1.5, "peak_mib": 1536.0, "windows": 4 if size > 512 else 1, "layouts": 3}
        row |= {"windowed": size > 512, "seams": [0.9, 1.0, 1.1] if size > 512 else []}
        row |= {"seam": 1.0 if size > 512 else float("nan"), "seam_no_margin": 2.5 if size > 512 else float("nan")}
        return SimpleNamespace(returncode=0, stdout="rendering...\n" + json.dumps(row), stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert bench_highres.main(["--sizes", "512", "1024", "--layouts", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert [c[c.index("--child") + 1] for c in calls] == ["512", "1024"]
    assert all(c[c.index("--layouts") + 1] == "3" and c[c.index("--seed") + 1] == "5" for c in calls)
    assert "seam score, mean of 3 layouts [range] (no margins)" in out
    assert "| 512 px | one pass (native size) | 1 | 1.5 | 1.50 GiB | — |" in out
    assert "| 1024 px | windows | 4 | 1.5 | 1.50 GiB | 1.000 [0.90-1.10] (2.500) |" in out


def test_a_failing_size_stops_the_table_with_its_exit_code(monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: SimpleNamespace(returncode=3, stdout="", stderr="boom"))
    assert bench_highres.main(["--sizes", "1024"]) == 3
    assert "boom" in capsys.readouterr().err


def test_no_layouts_is_refused(capsys):
    assert bench_highres.main(["--layouts", "0"]) == 2
    assert "--layouts must be at least 1" in capsys.readouterr().err
    assert not re.search(r"\| \d+ px \|", capsys.readouterr().out)
