"""models.study: a two-cell grid runs in seconds, resuming skips finished cells, the table and plot are written."""

import csv

from app import cli
from models.study import run as study
from models.study.classify import CellSpec, SmallResNet, run_cell


def test_every_study_norm_builds_the_net_and_a_cell_learns():
    import torch

    from models.study.classify import NORM_VARIANTS

    for name, (norm, kw) in NORM_VARIANTS.items():
        assert SmallResNet(norm, 8, **kw)(torch.randn(2, 1, 16, 16)).shape == (2, 10), name
    result = run_cell(CellSpec("group", 16, 0, samples=3200), width=8)
    assert result.steps == 200 and result.accuracy > 0.5 and not result.diverged  # 10 classes: chance is 0.1
    assert result.saved_mb > 0


def test_two_cell_grid_resumes_without_rerunning(tmp_path, monkeypatch):
    cells = [CellSpec("batch", 8, 0, samples=160), CellSpec("layer", 8, 0, samples=160)]
    rows = study.run_grid(cells[:1], tmp_path, progress=False)
    assert len(rows) == 1
    calls = []
    real = study._run_one
    monkeypatch.setattr(study, "_run_one", lambda cell: calls.append(cell.key()) or real(cell))
    rows = study.run_grid(cells, tmp_path, progress=False)
    assert calls == [cells[1].key()] and len(rows) == 2  # the finished cell was not run again
    with (tmp_path / "results.csv").open() as f:
        assert [r["norm"] for r in csv.DictReader(f)] == ["batch", "layer"]
    table, stats = study.summarize(rows)
    assert "| batch |" in table and ("layer", 8) in stats
    assert study.plot(stats, tmp_path / "p.png").stat().st_size > 1000
    calls.clear()
    longer = CellSpec("batch", 8, 0, samples=320)  # the same cell trained on more samples is another cell
    study.run_grid([longer], tmp_path, progress=False)
    assert calls == [longer.key()]


def test_cli_study_rejects_an_unknown_norm(capsys):
    assert cli.main(["study", "--norms", "bogus"]) == 2
    assert "unknown study norm(s) bogus" in capsys.readouterr().err
