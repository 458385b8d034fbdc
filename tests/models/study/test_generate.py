"""models.study.generate: a two-cell generative grid trains, scores and resumes (tiny sizes, seconds)."""

from __future__ import annotations

import csv

import pytest

from models.study import generate
from models.study.generate import GenCell, gen_grid, run_gen_grid, summarize_gen, train_command


def test_the_declared_grid_covers_the_issue_norms_at_batch_1_and_8():
    cells = gen_grid(3.0)
    assert {c.norm for c in cells} >= {"instance", "batch", "group", "online", "proxy"}
    assert {c.batch_size for c in cells} == {1, 8} and {c.minutes for c in cells} == {3.0}  # equal time
    cmd = train_command(cells[0], generate.ROOT / "runs")
    assert cmd[cmd.index("--d-norm") + 1] == "instance"  # only the generator's norm changes
    assert cmd[cmd.index("--max-minutes") + 1] == "3" and cmd[cmd.index("--threads") + 1] == "1"


@pytest.mark.slow
def test_two_cells_train_score_and_resume(tmp_path, monkeypatch):
    cells = [GenCell("instance", 1, 1.0, ngf=4, max_steps=2), GenCell("batch", 2, 1.0, ngf=4, max_steps=2)]
    rows = run_gen_grid(cells, tmp_path, jobs=2, progress=False, eval_num=4, segnet_steps=2)
    assert sorted((r["norm"], int(r["batch_size"])) for r in rows) == [("batch", 2), ("instance", 1)]
    for r in rows:
        assert int(r["steps"]) == 2 and 0.0 <= float(r["miou"]) <= 1.0 and float(r["vgg_fd"]) >= 0.0
        assert (tmp_path / f"spade_{r['norm']}_b{r['batch_size']}.safetensors").is_file()
    table = summarize_gen(rows)
    assert "| instance |" in table and "b1 mIoU" in table and "Real renders: mIoU" in table

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(generate, "run_gen_cell", must_not_run)
    again = run_gen_grid(cells, tmp_path, jobs=1, progress=False)
    assert len(again) == 2
    with (tmp_path / "generative.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2  # nothing appended twice


def test_cli_generative_refuses_an_unknown_norm_before_training(capsys, tmp_path):
    from app.cli import main

    assert main(["study", "--generative", "--norms", "layer", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown generative-check norm(s) layer" in err and "instance, batch, group, online, proxy" in err
    assert not (tmp_path / "generative.csv").exists()
