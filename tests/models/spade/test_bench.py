"""models.spade.bench: the table runs and carries the rows issue 14 asks for (a script, not a timing test)."""

import re

from models.spade.bench import main


def test_bench_prints_latency_training_and_data_rows(capsys):
    assert main(["--quick", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| benchmark | result | note |" in out
    assert re.search(r"synthesize 256², crop architecture .* \| \d+ ms \| ≤ 0.5 s [✓✗] \|", out)
    assert re.search(
        r"training iteration .*crop trainer, 128² windows.* \| [0-9.]+ it/s \| [0-9.]+ s/it, \d+ kpx/s", out
    )
    assert re.search(r"crop batches .* \| \d+ batches/s \|", out)
    assert "procedural landscapes 64²" in out
