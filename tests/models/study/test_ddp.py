"""models.study.ddp: 2 gloo processes train the study's net; the synced norms reproduce one process on the
concatenated batch, the unsynced ones do not; communication is counted where it happens; the CLI writes the table."""

from __future__ import annotations

import pytest

from app import cli
from models.study import ddp

TINY = {"seed": 0, "samples": 24, "width": 4}


@pytest.fixture(scope="module")
def results() -> dict[str, ddp.DDPResult]:
    cells = {
        "syncbatch": ddp.DDPCell("syncbatch", 2, **TINY),
        "batch": ddp.DDPCell("batch", 2, **TINY),
        "batch-1x4": ddp.DDPCell("batch", 4, processes=1, **TINY),
        "synconline": ddp.DDPCell("synconline", 2, **TINY),
        "online": ddp.DDPCell("online", 2, **TINY),
        "online-1x4": ddp.DDPCell("online", 4, processes=1, **TINY),
    }
    return {name: ddp.run_ddp_cell(cell) for name, cell in cells.items()}


@pytest.mark.slow
def test_synced_norms_train_like_one_process_on_the_whole_batch(results):
    # The global batch's loss over the last steps: equal (fp32) when the statistics are the global batch's.
    assert results["syncbatch"].train_loss == pytest.approx(results["batch-1x4"].train_loss, rel=1e-5)
    assert results["synconline"].train_loss == pytest.approx(results["online-1x4"].train_loss, rel=1e-5)
    # ... and different when each process normalizes its own 2 samples.
    assert abs(results["batch"].train_loss - results["batch-1x4"].train_loss) > 1e-4
    assert abs(results["online"].train_loss - results["online-1x4"].train_loss) > 1e-4
    for r in results.values():
        assert r.steps == 6 and r.global_batch == 4 and 0.0 <= r.accuracy <= 1.0 and not r.diverged


@pytest.mark.slow
def test_communication_is_counted_where_it_happens(results):
    # 7 norm layers: syncbatch gathers moments forward (and scatters gradients back); online gathers sizes and
    # statistics forward and backward. The unsynced norms make no collective of their own.
    assert results["syncbatch"].norm_sync_calls >= 14 and results["syncbatch"].norm_sync_ms > 0
    assert results["synconline"].norm_sync_calls >= 28 and results["synconline"].norm_sync_ms > 0
    assert results["batch"].norm_sync_calls == 0 and results["online"].norm_sync_calls == 0
    assert all(r.grad_allreduce_ms > 0 for r in results.values())  # DDP's gradient all-reduce, timed by its hook


def test_grid_declares_the_references_and_the_table_reads_rows():
    cells = ddp.ddp_grid(seeds=1, samples=48)
    assert len(cells) == 5 * 3 + 2 * 3
    refs = [c for c in cells if c.processes == 1]
    assert {(c.norm, c.batch_size) for c in refs} == {(n, 2 * b) for n in ("online", "batch") for b in (1, 2, 8)}
    assert all(ddp.DDPCell.from_row({k: str(v) for k, v in vars(c).items()}) == c for c in cells)
    row = dict(
        norm="syncbatch",
        processes=2,
        batch_size=1,
        global_batch=2,
        seed=0,
        samples=48,
        width=16,
        steps=24,
        accuracy=0.5,
        train_loss=1.0,
        ms_per_step=10.0,
        grad_allreduce_ms=1.0,
        norm_sync_ms=2.0,
        norm_sync_calls=14,
        diverged=False,
    )
    ref = {**row, "norm": "batch", "processes": 1, "batch_size": 2, "accuracy": 0.75, "ms_per_step": 4.0}
    table = ddp.summarize_ddp([row, ref])
    assert "| syncbatch | 2 x b | 50.0 | 10.0 (3.0 comm., 2.0 norm) |" in table
    assert "| batch | 1 x 2b | 75.0 | 4.0 |" in table


def test_unknown_norm_is_refused_with_the_choices(capsys):
    with pytest.raises(ValueError, match="choose from online, synconline, batch, syncbatch, group"):
        ddp.run_ddp_cell(ddp.DDPCell("layer", 2, 0))
    assert cli.main(["study", "--ddp", "--norms", "layer"]) == 2
    assert "unknown DDP study norm(s) layer" in capsys.readouterr().err
    assert cli.main(["study", "--ddp", "--processes", "1"]) == 2
